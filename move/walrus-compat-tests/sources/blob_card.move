/// Reads everything an explorer card shows about a blob and the system, through the
/// accessors Walrus's `blob`, `storage_resource` and `system` modules offer.
module walrus_compat_tests::blob_card;

use walrus::blob::Blob;
use walrus::system::System;

public struct Card has copy, drop {
    object_id: ID,
    blob_id: u256,
    size: u64,
    encoded_size: u64,
    encoding_type: u8,
    registered_epoch: u32,
    certified_epoch: Option<u32>,
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
    deletable: bool,
    epochs_left: u32,
}

public fun card(blob: &Blob, system: &System): Card {
    let storage = blob.storage();
    Card {
        object_id: blob.object_id(),
        blob_id: blob.blob_id(),
        size: blob.size(),
        encoded_size: blob.encoded_size(system.n_shards()),
        encoding_type: blob.encoding_type(),
        registered_epoch: blob.registered_epoch(),
        certified_epoch: *blob.certified_epoch(),
        start_epoch: storage.start_epoch(),
        end_epoch: blob.end_epoch(),
        storage_size: storage.size(),
        deletable: blob.is_deletable(),
        epochs_left: blob.end_epoch() - system.epoch(),
    }
}

public fun blob_id(card: &Card): u256 { card.blob_id }

public fun encoded_size(card: &Card): u64 { card.encoded_size }

public fun storage_size(card: &Card): u64 { card.storage_size }

public fun certified_epoch(card: &Card): Option<u32> { card.certified_epoch }

public fun epochs_left(card: &Card): u32 { card.epochs_left }

/// Encoded bytes already sold for the epoch `epochs_ahead` epochs from now.
public fun sold_in(system: &System, epochs_ahead: u32): u64 {
    system.future_accounting()[epochs_ahead].used_capacity()
}

/// Whether the system has room for `bytes` more encoded bytes in the current epoch.
public fun has_room(system: &System, bytes: u64): bool {
    system.used_capacity_size() + bytes <= system.total_capacity_size()
}
