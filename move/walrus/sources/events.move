/// Every event the package emits. The events Walrus also defines keep Walrus's names, field
/// order and types, because storage nodes and indexers decode them by position and the module
/// name is part of the event type; the others add what explorers need and Walrus leaves out.
module walrus::events;

use std::string::String;
use sui::event::emit;

// === Events with Walrus's layouts ===

/// A `Blob` object was created for `blob_id`, storing it until `end_epoch` (exclusive).
public struct BlobRegistered has copy, drop {
    epoch: u32,
    blob_id: u256,
    size: u64,
    encoding_type: u8,
    end_epoch: u32,
    deletable: bool,
    object_id: ID,
}

/// A blob was certified (`is_extension = false`) or had its lifetime extended. As in Walrus,
/// `epoch` is the epoch of the blob's first certification, even for extensions.
public struct BlobCertified has copy, drop {
    epoch: u32,
    blob_id: u256,
    end_epoch: u32,
    deletable: bool,
    object_id: ID,
    is_extension: bool,
}

/// A deletable blob was deleted by its owner, who got its storage back.
public struct BlobDeleted has copy, drop {
    epoch: u32,
    blob_id: u256,
    end_epoch: u32,
    object_id: ID,
    was_certified: bool,
}

/// At least one honest node certified that `blob_id` cannot be decoded consistently.
public struct InvalidBlobID has copy, drop {
    epoch: u32,
    blob_id: u256,
}

/// The system moved to `epoch`; the new committee starts receiving shards.
public struct EpochChangeStart has copy, drop {
    epoch: u32,
}

/// A quorum of the committee of `epoch` reported that it holds its shards.
public struct EpochChangeDone has copy, drop {
    epoch: u32,
}

/// A node of the committee of `epoch` reported that it holds `shards`.
public struct ShardsReceived has copy, drop {
    epoch: u32,
    shards: vector<u16>,
}

/// The committee and parameters of `next_epoch` are fixed.
public struct EpochParametersSelected has copy, drop {
    next_epoch: u32,
}

// === Events Walrus lacks ===

/// `storage_size` encoded bytes were bought for epochs `[start_epoch, end_epoch)`, for `cost`
/// FROST in total.
public struct StorageReserved has copy, drop {
    epoch: u32,
    storage_id: ID,
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
    cost: u64,
}

/// `new_storage_id` was split off `storage_id`; both shapes are given as they are now.
public struct StorageSplit has copy, drop {
    storage_id: ID,
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
    new_storage_id: ID,
    new_start_epoch: u32,
    new_end_epoch: u32,
    new_storage_size: u64,
}

/// `absorbed_id` was fused into `storage_id`, whose shape is now the one given.
public struct StorageFused has copy, drop {
    storage_id: ID,
    absorbed_id: ID,
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
}

/// A storage resource was destroyed, and its capacity in `[released_from_epoch, end_epoch)`
/// given back to the system (an empty range when it had no future epochs left).
public struct StorageReleased has copy, drop {
    epoch: u32,
    storage_id: ID,
    storage_size: u64,
    released_from_epoch: u32,
    end_epoch: u32,
}

/// A blob object was destroyed together with its storage.
public struct BlobBurned has copy, drop {
    blob_id: u256,
    object_id: ID,
    end_epoch: u32,
    was_certified: bool,
}

/// Attribute `key` of a blob was set to `value`.
public struct BlobAttributeSet has copy, drop {
    blob_id: u256,
    object_id: ID,
    key: String,
    value: String,
}

/// Attribute `key` was removed from a blob.
public struct BlobAttributeRemoved has copy, drop {
    blob_id: u256,
    object_id: ID,
    key: String,
}

// === Emitters ===

public(package) fun emit_blob_registered(
    epoch: u32,
    blob_id: u256,
    size: u64,
    encoding_type: u8,
    end_epoch: u32,
    deletable: bool,
    object_id: ID,
) {
    emit(BlobRegistered { epoch, blob_id, size, encoding_type, end_epoch, deletable, object_id })
}

public(package) fun emit_blob_certified(
    epoch: u32,
    blob_id: u256,
    end_epoch: u32,
    deletable: bool,
    object_id: ID,
    is_extension: bool,
) {
    emit(BlobCertified { epoch, blob_id, end_epoch, deletable, object_id, is_extension })
}

public(package) fun emit_blob_deleted(epoch: u32, blob_id: u256, end_epoch: u32, object_id: ID, was_certified: bool) {
    emit(BlobDeleted { epoch, blob_id, end_epoch, object_id, was_certified })
}

public(package) fun emit_invalid_blob_id(epoch: u32, blob_id: u256) {
    emit(InvalidBlobID { epoch, blob_id })
}

public(package) fun emit_epoch_change_start(epoch: u32) {
    emit(EpochChangeStart { epoch })
}

public(package) fun emit_epoch_change_done(epoch: u32) {
    emit(EpochChangeDone { epoch })
}

public(package) fun emit_shards_received(epoch: u32, shards: vector<u16>) {
    emit(ShardsReceived { epoch, shards })
}

public(package) fun emit_epoch_parameters_selected(next_epoch: u32) {
    emit(EpochParametersSelected { next_epoch })
}

public(package) fun emit_storage_reserved(
    epoch: u32,
    storage_id: ID,
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
    cost: u64,
) {
    emit(StorageReserved { epoch, storage_id, start_epoch, end_epoch, storage_size, cost })
}

public(package) fun emit_storage_split(
    storage_id: ID,
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
    new_storage_id: ID,
    new_start_epoch: u32,
    new_end_epoch: u32,
    new_storage_size: u64,
) {
    emit(StorageSplit {
        storage_id,
        start_epoch,
        end_epoch,
        storage_size,
        new_storage_id,
        new_start_epoch,
        new_end_epoch,
        new_storage_size,
    })
}

public(package) fun emit_storage_fused(
    storage_id: ID,
    absorbed_id: ID,
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
) {
    emit(StorageFused { storage_id, absorbed_id, start_epoch, end_epoch, storage_size })
}

public(package) fun emit_storage_released(
    epoch: u32,
    storage_id: ID,
    storage_size: u64,
    released_from_epoch: u32,
    end_epoch: u32,
) {
    emit(StorageReleased { epoch, storage_id, storage_size, released_from_epoch, end_epoch })
}

public(package) fun emit_blob_burned(blob_id: u256, object_id: ID, end_epoch: u32, was_certified: bool) {
    emit(BlobBurned { blob_id, object_id, end_epoch, was_certified })
}

public(package) fun emit_blob_attribute_set(blob_id: u256, object_id: ID, key: String, value: String) {
    emit(BlobAttributeSet { blob_id, object_id, key, value })
}

public(package) fun emit_blob_attribute_removed(blob_id: u256, object_id: ID, key: String) {
    emit(BlobAttributeRemoved { blob_id, object_id, key })
}
