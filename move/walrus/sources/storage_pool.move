/// `StoragePool`: one storage reservation shared by many blobs. The pool holds a `Storage`
/// for `[start_epoch, end_epoch)`; blobs registered in it (`PooledBlob`) take encoded bytes
/// out of that reservation and live as long as the pool does, and deleting one gives its bytes
/// back to the pool for the next blob. Layouts and public functions are Walrus's (the pool's
/// state behind a version key, blobs in an `ObjectTable` keyed by blob ID); the operations
/// that involve the system (buying, paying, certifying) are in `system`.
///
/// Unlike Walrus, a pooled blob keeps the encoded size it was charged at (in a dynamic field,
/// so the layout stays Walrus's), and deleting it frees exactly that, even if the number of
/// shards changed since.
module walrus::storage_pool;

use std::string::String;
use sui::dynamic_field;
use sui::object_table::{Self, ObjectTable};
use walrus::blob;
use walrus::events;
use walrus::messages::CertifiedBlobMessage;
use walrus::metadata::{Self, Metadata};
use walrus::storage_resource::Storage;

/// The version of the pool's state this package reads and writes.
const VERSION: u64 = 1;

#[error]
const EWrongVersion: vector<u8> = b"The pool is at another version than this package";
#[error]
const EInsufficientCapacity: vector<u8> = b"The pool does not have that many unused bytes";
#[error]
const EPoolNotEmpty: vector<u8> = b"The pool still holds blobs";
#[error]
const EBlobNotInPool: vector<u8> = b"The pool holds no blob with this ID";
#[error]
const EBlobAlreadyInPool: vector<u8> = b"The pool already holds a blob with this ID";
#[error]
const EInvalidBlobId: vector<u8> = b"The blob ID does not match the root hash, size and encoding";
#[error]
const EBlobNotDeletable: vector<u8> = b"The pooled blob is not deletable";
#[error]
const EPoolNotActive: vector<u8> = b"The pool's period does not cover the current epoch";
#[error]
const EPoolExpired: vector<u8> = b"The pool has expired";
#[error]
const EPoolNotExpired: vector<u8> = b"The pool has not expired yet";
#[error]
const EStorageNotStarted: vector<u8> = b"The storage must have started to be added to a pool";
#[error]
const EIncompatibleEndEpoch: vector<u8> = b"The storage must end when the pool ends";
#[error]
const EInvalidPercent: vector<u8> = b"The percentage must be at most 100";
#[error]
const EZeroExtractSize: vector<u8> = b"Nothing to take out of the pool: the size is zero";

public struct StoragePool has key, store {
    id: UID,
    version: u64,
}

public struct StoragePoolInnerV1 has store {
    /// The reservation backing the pool; its size is the pool's capacity.
    storage: Storage,
    /// Encoded bytes the pool's blobs take.
    used_encoded_bytes: u64,
    blob_count: u64,
    blobs: ObjectTable<u256, PooledBlob>,
}

/// A blob stored on a pool's reservation; it has no storage of its own and lives until the
/// pool's end epoch.
public struct PooledBlob has key, store {
    id: UID,
    registered_epoch: u32,
    blob_id: u256,
    unencoded_size: u64,
    encoding_type: u8,
    certified_epoch: Option<u32>,
    storage_pool_id: ID,
    deletable: bool,
}

/// Dynamic-field name, on a pooled blob, of the encoded size it was charged at.
public struct EncodedSizeKey() has copy, drop, store;

// === Pool reads ===

public fun object_id(self: &StoragePool): ID { self.id.to_inner() }

public fun start_epoch(self: &StoragePool): u32 { self.inner().storage.start_epoch() }

public fun end_epoch(self: &StoragePool): u32 { self.inner().storage.end_epoch() }

public fun reserved_encoded_capacity_bytes(self: &StoragePool): u64 { self.inner().storage.size() }

public fun used_encoded_bytes(self: &StoragePool): u64 { self.inner().used_encoded_bytes }

public fun available_encoded_bytes(self: &StoragePool): u64 {
    let inner = self.inner();
    inner.storage.size() - inner.used_encoded_bytes
}

public fun storage(self: &StoragePool): &Storage { &self.inner().storage }

public fun blob_count(self: &StoragePool): u64 { self.inner().blob_count }

public fun contains_blob(self: &StoragePool, blob_id: u256): bool { self.inner().blobs.contains(blob_id) }

/// The object ID of the pooled blob `blob_id`, which a deletable blob's certificate names.
public fun blob_object_id(self: &StoragePool, blob_id: u256): ID { self.borrow_blob(blob_id).id.to_inner() }

/// The pooled blob `blob_id` (an addition to Walrus, which keeps it package-internal).
public fun borrow_blob(self: &StoragePool, blob_id: u256): &PooledBlob {
    let blobs = &self.inner().blobs;
    assert!(blobs.contains(blob_id), EBlobNotInPool);
    blobs.borrow(blob_id)
}

// === Pooled blob reads ===

public fun blob_id(self: &PooledBlob): u256 { self.blob_id }

public fun registered_epoch(self: &PooledBlob): u32 { self.registered_epoch }

public fun unencoded_size(self: &PooledBlob): u64 { self.unencoded_size }

public fun encoding_type(self: &PooledBlob): u8 { self.encoding_type }

public fun certified_epoch(self: &PooledBlob): &Option<u32> { &self.certified_epoch }

public fun storage_pool_id(self: &PooledBlob): ID { self.storage_pool_id }

public fun is_deletable(self: &PooledBlob): bool { self.deletable }

public fun is_certified(self: &PooledBlob): bool { self.certified_epoch.is_some() }

/// The encoded bytes the blob takes in its pool.
public fun encoded_size(self: &PooledBlob): u64 { *dynamic_field::borrow(&self.id, EncodedSizeKey()) }

// === Pooled blob attributes (Walrus's helpers, by blob ID) ===

public fun add_blob_metadata(self: &mut StoragePool, blob_id: u256, metadata: Metadata) {
    metadata::attach(&mut self.borrow_blob_mut(blob_id).id, blob_id, metadata)
}

public fun add_or_replace_blob_metadata(self: &mut StoragePool, blob_id: u256, metadata: Metadata): Option<Metadata> {
    metadata::attach_or_replace(&mut self.borrow_blob_mut(blob_id).id, blob_id, metadata)
}

public fun take_blob_metadata(self: &mut StoragePool, blob_id: u256): Metadata {
    metadata::detach(&mut self.borrow_blob_mut(blob_id).id, blob_id)
}

public fun insert_or_update_blob_metadata_pair(self: &mut StoragePool, blob_id: u256, key: String, value: String) {
    metadata::set_attribute(&mut self.borrow_blob_mut(blob_id).id, blob_id, key, value)
}

public fun remove_blob_metadata_pair(self: &mut StoragePool, blob_id: u256, key: &String): (String, String) {
    metadata::remove_attribute(&mut self.borrow_blob_mut(blob_id).id, blob_id, key)
}

public fun remove_blob_metadata_pair_if_exists(self: &mut StoragePool, blob_id: u256, key: &String): Option<String> {
    metadata::remove_attribute_if_exists(&mut self.borrow_blob_mut(blob_id).id, blob_id, key)
}

/// The value of attribute `key` of the pooled blob `blob_id`, if it has it.
public fun blob_metadata_value(self: &StoragePool, blob_id: u256, key: &String): Option<String> {
    metadata::attribute(&self.borrow_blob(blob_id).id, key)
}

/// Destroys an empty pool and returns its reservation (release it through
/// `system::release_storage` to give the capacity of future epochs back).
public fun destroy(self: StoragePool): Storage {
    let StoragePool { mut id, version } = self;
    assert!(version == VERSION, EWrongVersion);
    let StoragePoolInnerV1 { storage, blob_count, blobs, .. } = dynamic_field::remove(&mut id, VERSION);
    assert!(blob_count == 0, EPoolNotEmpty);
    blobs.destroy_empty();
    id.delete();
    storage
}

// === Life cycle (through `system`) ===

public(package) fun create(storage: Storage, ctx: &mut TxContext): StoragePool {
    let mut id = object::new(ctx);
    let inner = StoragePoolInnerV1 { storage, used_encoded_bytes: 0, blob_count: 0, blobs: object_table::new(ctx) };
    dynamic_field::add(&mut id, VERSION, inner);
    StoragePool { id, version: VERSION }
}

public(package) fun assert_active(self: &StoragePool, current_epoch: u32) {
    assert!(self.start_epoch() <= current_epoch && current_epoch < self.end_epoch(), EPoolNotActive);
}

public(package) fun assert_unexpired(self: &StoragePool, current_epoch: u32) {
    assert!(current_epoch < self.end_epoch(), EPoolExpired);
}

/// Registers a blob taking `encoded_size` bytes of the pool, after checking its ID.
public(package) fun register_blob(
    self: &mut StoragePool,
    blob_id: u256,
    root_hash: u256,
    unencoded_size: u64,
    encoding_type: u8,
    deletable: bool,
    encoded_size: u64,
    current_epoch: u32,
    ctx: &mut TxContext,
) {
    assert!(blob::derive_blob_id(root_hash, encoding_type, unencoded_size) == blob_id, EInvalidBlobId);
    let storage_pool_id = self.object_id();
    let inner = self.inner_mut();
    assert!(!inner.blobs.contains(blob_id), EBlobAlreadyInPool);
    assert!(encoded_size <= inner.storage.size() - inner.used_encoded_bytes, EInsufficientCapacity);
    let mut pooled = PooledBlob {
        id: object::new(ctx),
        registered_epoch: current_epoch,
        blob_id,
        unencoded_size,
        encoding_type,
        certified_epoch: option::none(),
        storage_pool_id,
        deletable,
    };
    dynamic_field::add(&mut pooled.id, EncodedSizeKey(), encoded_size);
    events::emit_pooled_blob_registered(
        current_epoch,
        blob_id,
        unencoded_size,
        encoding_type,
        deletable,
        pooled.id.to_inner(),
        storage_pool_id,
    );
    inner.used_encoded_bytes = inner.used_encoded_bytes + encoded_size;
    inner.blob_count = inner.blob_count + 1;
    inner.blobs.add(blob_id, pooled);
}

/// Marks the pooled blob `blob_id` certified by a certificate verified for `current_epoch`.
public(package) fun certify_blob(self: &mut StoragePool, blob_id: u256, message: &CertifiedBlobMessage, current_epoch: u32) {
    let end_epoch = self.end_epoch();
    let pooled = self.borrow_blob_mut(blob_id);
    let object_id = pooled.id.to_inner();
    blob::check_certificate(message, blob_id, pooled.deletable, object_id, pooled.is_certified(), current_epoch, end_epoch);
    pooled.certified_epoch.fill(current_epoch);
    events::emit_pooled_blob_certified(current_epoch, blob_id, pooled.deletable, object_id, pooled.storage_pool_id);
}

/// Deletes a deletable pooled blob of an unexpired pool, giving its bytes back to the pool.
public(package) fun delete_blob(self: &mut StoragePool, blob_id: u256, current_epoch: u32) {
    self.assert_unexpired(current_epoch);
    assert!(self.borrow_blob(blob_id).deletable, EBlobNotDeletable);
    let pooled = self.remove_blob(blob_id);
    events::emit_pooled_blob_deleted(
        current_epoch,
        blob_id,
        pooled.id.to_inner(),
        pooled.is_certified(),
        pooled.storage_pool_id,
    );
    pooled.destroy_blob();
}

/// Removes any blob of an expired pool, deletable or not; no event, as in Walrus (nodes
/// drop an expired pool's blobs on their own).
public(package) fun burn_expired_blob(self: &mut StoragePool, blob_id: u256, current_epoch: u32) {
    assert!(self.end_epoch() <= current_epoch, EPoolNotExpired);
    self.remove_blob(blob_id).destroy_blob();
}

public(package) fun extend_end_epoch(self: &mut StoragePool, extended_epochs: u32) {
    self.inner_mut().storage.extend_end_epoch(extended_epochs);
}

public(package) fun increase_capacity(self: &mut StoragePool, extra_bytes: u64) {
    self.inner_mut().storage.increase_size(extra_bytes);
}

/// Adds `storage`'s bytes to the pool. It must have started (so the system counted it in
/// every epoch the pool has left) and end when the pool ends.
public(package) fun increase_capacity_with_storage(self: &mut StoragePool, storage: Storage, current_epoch: u32) {
    assert!(storage.start_epoch() <= current_epoch, EStorageNotStarted);
    assert!(storage.end_epoch() == self.end_epoch(), EIncompatibleEndEpoch);
    self.increase_capacity(storage.size());
    storage.destroy();
}

/// Takes `size` unused bytes out of the pool as a `Storage` over the pool's period.
public(package) fun decrease_capacity_by_size(self: &mut StoragePool, size: u64, ctx: &mut TxContext): Storage {
    assert!(size > 0, EZeroExtractSize);
    assert!(size <= self.available_encoded_bytes(), EInsufficientCapacity);
    let storage = &mut self.inner_mut().storage;
    let keep = storage.size() - size;
    storage.split_by_size(keep, ctx)
}

/// Takes `percent` of the unused bytes (rounded down) out of the pool.
public(package) fun decrease_unused_capacity_by_percent(self: &mut StoragePool, percent: u8, ctx: &mut TxContext): Storage {
    assert!(percent <= 100, EInvalidPercent);
    let size = (self.available_encoded_bytes() as u128) * (percent as u128) / 100;
    self.decrease_capacity_by_size(size as u64, ctx)
}

// === Internals ===

fun borrow_blob_mut(self: &mut StoragePool, blob_id: u256): &mut PooledBlob {
    let blobs = &mut self.inner_mut().blobs;
    assert!(blobs.contains(blob_id), EBlobNotInPool);
    blobs.borrow_mut(blob_id)
}

/// Takes the blob out of the table and gives the bytes it was charged at back to the pool.
fun remove_blob(self: &mut StoragePool, blob_id: u256): PooledBlob {
    assert!(self.contains_blob(blob_id), EBlobNotInPool);
    let inner = self.inner_mut();
    let pooled = inner.blobs.remove(blob_id);
    inner.used_encoded_bytes = inner.used_encoded_bytes - pooled.encoded_size();
    inner.blob_count = inner.blob_count - 1;
    pooled
}

fun destroy_blob(mut self: PooledBlob) {
    metadata::drop_attached(&mut self.id);
    let _: u64 = dynamic_field::remove(&mut self.id, EncodedSizeKey());
    let PooledBlob { id, .. } = self;
    id.delete();
}

fun inner(self: &StoragePool): &StoragePoolInnerV1 {
    assert!(self.version == VERSION, EWrongVersion);
    dynamic_field::borrow(&self.id, VERSION)
}

fun inner_mut(self: &mut StoragePool): &mut StoragePoolInnerV1 {
    assert!(self.version == VERSION, EWrongVersion);
    dynamic_field::borrow_mut(&mut self.id, VERSION)
}

#[test_only]
public fun set_version_for_testing(self: &mut StoragePool, version: u64) { self.version = version }
