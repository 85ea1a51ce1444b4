/// `SharedBlob`: a blob made a shared object, with a WAL balance anyone can top up and anyone
/// can spend on extending the blob's lifetime. Nothing can take the blob or the funds out
/// again, so a shared blob lives as long as somebody pays for it. Walrus's functions and
/// layout, so packages written for Walrus's `shared_blob` compile unchanged.
module walrus::shared_blob;

use sui::balance::{Self, Balance};
use sui::coin::Coin;
use wal::wal::WAL;
use walrus::blob::Blob;
use walrus::system::System;

public struct SharedBlob has key, store {
    id: UID,
    blob: Blob,
    funds: Balance<WAL>,
}

/// Shares `blob` with no funds (also callable as `blob.share()`).
public fun new(blob: Blob, ctx: &mut TxContext) {
    transfer::share_object(SharedBlob { id: object::new(ctx), blob, funds: balance::zero() })
}

/// Shares `blob` with `funds` to pay for its extensions.
public fun new_funded(blob: Blob, funds: Coin<WAL>, ctx: &mut TxContext) {
    transfer::share_object(SharedBlob { id: object::new(ctx), blob, funds: funds.into_balance() })
}

/// Adds `added_funds` to what extensions are paid from.
public fun fund(self: &mut SharedBlob, added_funds: Coin<WAL>) {
    self.funds.join(added_funds.into_balance());
}

/// Extends the blob by `extended_epochs`, paying from the stored funds; aborts like
/// `system::extend_blob` (e.g. when the funds do not cover the cost).
public fun extend(self: &mut SharedBlob, system: &mut System, extended_epochs: u32, ctx: &mut TxContext) {
    let mut payment = self.funds.withdraw_all().into_coin(ctx);
    system.extend_blob(&mut self.blob, extended_epochs, &mut payment);
    self.funds.join(payment.into_balance());
}

public fun blob(self: &SharedBlob): &Blob { &self.blob }

public fun funds(self: &SharedBlob): &Balance<WAL> { &self.funds }
