/// A blob kept alive by its readers: publish a certified blob as a shared blob with a first
/// tip, let anyone tip, and let anyone spend the tips on more epochs.
module walrus_compat_tests::tip_jar;

use sui::coin::Coin;
use wal::wal::WAL;
use walrus::blob::Blob;
use walrus::shared_blob::{Self, SharedBlob};
use walrus::system::System;

/// Shares `blob`, funded with `first_tip` when there is one.
public fun publish(blob: Blob, first_tip: Option<Coin<WAL>>, ctx: &mut TxContext) {
    if (first_tip.is_some()) {
        shared_blob::new_funded(blob, first_tip.destroy_some(), ctx)
    } else {
        first_tip.destroy_none();
        blob.share(ctx)
    }
}

public fun tip(jar: &mut SharedBlob, tip: Coin<WAL>) {
    jar.fund(tip)
}

/// Extends the blob by `epochs` from the tips; returns the new end epoch.
public fun keep_alive(jar: &mut SharedBlob, system: &mut System, epochs: u32, ctx: &mut TxContext): u32 {
    jar.extend(system, epochs, ctx);
    jar.blob().end_epoch()
}

/// The tips left, in FROST.
public fun tips_left(jar: &SharedBlob): u64 {
    jar.funds().value()
}
