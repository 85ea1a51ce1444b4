/// The shared `System` object: the entry point for buying storage and registering, certifying,
/// extending and deleting blobs. Its state sits in a dynamic field keyed by the package
/// version, as in Walrus, so an upgraded package can migrate it and lock out old code.
///
/// Functions that take a payment come in two forms: Walrus's signature (charging whatever the
/// current price says), and a `_bounded` form that aborts when the cost exceeds `max_cost`.
/// Prices only change when an epoch starts, so a quote holds for the rest of its epoch.
module walrus::system;

use sui::balance::Balance;
use sui::coin::Coin;
use sui::dynamic_field;
use wal::wal::WAL;
use walrus::blob::Blob;
use walrus::bls_aggregate::BlsCommittee;
use walrus::epoch_parameters::EpochParams;
use walrus::storage_accounting::FutureAccountingRingBuffer;
use walrus::storage_pool::StoragePool;
use walrus::storage_resource::Storage;
use walrus::system_state_inner::SystemStateInnerV1;

/// The version of the state this package reads and writes.
const VERSION: u64 = 1;
const NO_LIMIT: u64 = 0xffffffffffffffff;

#[error]
const EWrongVersion: vector<u8> = b"The system object is at another version than this package";

public struct System has key {
    id: UID,
    version: u64,
    package_id: ID,
    new_package_id: Option<ID>,
}

public(package) fun create_empty(max_epochs_ahead: u32, package_id: ID, ctx: &mut TxContext): System {
    let mut id = object::new(ctx);
    dynamic_field::add(&mut id, VERSION, walrus::system_state_inner::create_empty(max_epochs_ahead));
    System { id, version: VERSION, package_id, new_package_id: option::none() }
}

public(package) fun share(self: System) {
    transfer::share_object(self)
}

// === Storage ===

/// Buys `storage_amount` encoded bytes for the current epoch and `epochs_ahead - 1` more.
public fun reserve_space(
    self: &mut System,
    storage_amount: u64,
    epochs_ahead: u32,
    payment: &mut Coin<WAL>,
    ctx: &mut TxContext,
): Storage {
    self.inner_mut().reserve_space(storage_amount, epochs_ahead, payment, NO_LIMIT, ctx)
}

public fun reserve_space_bounded(
    self: &mut System,
    storage_amount: u64,
    epochs_ahead: u32,
    payment: &mut Coin<WAL>,
    max_cost: u64,
    ctx: &mut TxContext,
): Storage {
    self.inner_mut().reserve_space(storage_amount, epochs_ahead, payment, max_cost, ctx)
}

/// Buys `storage_amount` encoded bytes for `[start_epoch, end_epoch)`.
public fun reserve_space_for_epochs(
    self: &mut System,
    storage_amount: u64,
    start_epoch: u32,
    end_epoch: u32,
    payment: &mut Coin<WAL>,
    ctx: &mut TxContext,
): Storage {
    self.inner_mut().reserve_space_for_epochs(storage_amount, start_epoch, end_epoch, payment, NO_LIMIT, ctx)
}

public fun reserve_space_for_epochs_bounded(
    self: &mut System,
    storage_amount: u64,
    start_epoch: u32,
    end_epoch: u32,
    payment: &mut Coin<WAL>,
    max_cost: u64,
    ctx: &mut TxContext,
): Storage {
    self.inner_mut().reserve_space_for_epochs(storage_amount, start_epoch, end_epoch, payment, max_cost, ctx)
}

/// Destroys `storage` and frees its capacity in the epochs after the current one (Walrus
/// keeps destroyed storage reserved until it expires).
public fun release_storage(self: &mut System, storage: Storage) {
    self.inner_mut().release_storage(storage)
}

// === Blobs ===

/// Registers a blob on `storage`, charging the write fee.
public fun register_blob(
    self: &mut System,
    storage: Storage,
    blob_id: u256,
    root_hash: u256,
    size: u64,
    encoding_type: u8,
    deletable: bool,
    write_payment: &mut Coin<WAL>,
    ctx: &mut TxContext,
): Blob {
    self
        .inner_mut()
        .register_blob(storage, blob_id, root_hash, size, encoding_type, deletable, write_payment, NO_LIMIT, ctx)
}

public fun register_blob_bounded(
    self: &mut System,
    storage: Storage,
    blob_id: u256,
    root_hash: u256,
    size: u64,
    encoding_type: u8,
    deletable: bool,
    write_payment: &mut Coin<WAL>,
    max_cost: u64,
    ctx: &mut TxContext,
): Blob {
    self
        .inner_mut()
        .register_blob(storage, blob_id, root_hash, size, encoding_type, deletable, write_payment, max_cost, ctx)
}

/// Certifies `blob` with a quorum certificate of the current committee.
public fun certify_blob(
    self: &System,
    blob: &mut Blob,
    signature: vector<u8>,
    signers_bitmap: vector<u8>,
    message: vector<u8>,
) {
    self.inner().certify_blob(blob, signature, signers_bitmap, message)
}

/// Deletes a deletable blob and returns its storage for reuse.
public fun delete_blob(self: &System, blob: Blob): Storage {
    self.inner().delete_blob(blob)
}

/// Destroys a blob (typically an expired one) and frees the capacity it still holds.
public fun burn_blob(self: &mut System, blob: Blob) {
    self.inner_mut().burn_blob(blob)
}

/// Extends a certified blob with storage that starts where the blob's ends.
public fun extend_blob_with_resource(self: &System, blob: &mut Blob, extension: Storage) {
    self.inner().extend_blob_with_resource(blob, extension)
}

/// Extends a certified blob by `extended_epochs`, paying for its storage size.
public fun extend_blob(self: &mut System, blob: &mut Blob, extended_epochs: u32, payment: &mut Coin<WAL>) {
    self.inner_mut().extend_blob(blob, extended_epochs, payment, NO_LIMIT)
}

public fun extend_blob_bounded(
    self: &mut System,
    blob: &mut Blob,
    extended_epochs: u32,
    payment: &mut Coin<WAL>,
    max_cost: u64,
) {
    self.inner_mut().extend_blob(blob, extended_epochs, payment, max_cost)
}

/// Declares a blob ID invalid with a certificate from f + 1 shards; returns the blob ID.
public fun invalidate_blob_id(
    self: &System,
    signature: vector<u8>,
    signers_bitmap: vector<u8>,
    message: vector<u8>,
): u256 {
    self.inner().invalidate_blob_id(signature, signers_bitmap, message)
}

// === Storage pools (see `storage_pool`) ===

/// Buys `reserved_encoded_capacity_bytes` for the current epoch and `epochs_ahead - 1` more,
/// as a pool that many blobs can share.
public fun create_storage_pool(
    self: &mut System,
    reserved_encoded_capacity_bytes: u64,
    epochs_ahead: u32,
    payment: &mut Coin<WAL>,
    ctx: &mut TxContext,
): StoragePool {
    self.inner_mut().create_storage_pool(reserved_encoded_capacity_bytes, epochs_ahead, payment, NO_LIMIT, ctx)
}

public fun create_storage_pool_bounded(
    self: &mut System,
    reserved_encoded_capacity_bytes: u64,
    epochs_ahead: u32,
    payment: &mut Coin<WAL>,
    max_cost: u64,
    ctx: &mut TxContext,
): StoragePool {
    self.inner_mut().create_storage_pool(reserved_encoded_capacity_bytes, epochs_ahead, payment, max_cost, ctx)
}

/// Makes a pool of storage that has started and not expired.
public fun create_storage_pool_with_storage(self: &System, storage: Storage, ctx: &mut TxContext): StoragePool {
    self.inner().create_storage_pool_with_storage(storage, ctx)
}

/// Registers a blob in `storage_pool`, charging the write fee.
public fun register_pooled_blob(
    self: &mut System,
    storage_pool: &mut StoragePool,
    blob_id: u256,
    root_hash: u256,
    unencoded_size: u64,
    encoding_type: u8,
    deletable: bool,
    write_payment: &mut Coin<WAL>,
    ctx: &mut TxContext,
) {
    self
        .inner_mut()
        .register_pooled_blob(
            storage_pool,
            blob_id,
            root_hash,
            unencoded_size,
            encoding_type,
            deletable,
            write_payment,
            NO_LIMIT,
            ctx,
        )
}

public fun register_pooled_blob_bounded(
    self: &mut System,
    storage_pool: &mut StoragePool,
    blob_id: u256,
    root_hash: u256,
    unencoded_size: u64,
    encoding_type: u8,
    deletable: bool,
    write_payment: &mut Coin<WAL>,
    max_cost: u64,
    ctx: &mut TxContext,
) {
    self
        .inner_mut()
        .register_pooled_blob(
            storage_pool,
            blob_id,
            root_hash,
            unencoded_size,
            encoding_type,
            deletable,
            write_payment,
            max_cost,
            ctx,
        )
}

/// Certifies the pooled blob `blob_id` with a quorum certificate of the current committee.
public fun certify_pooled_blob(
    self: &System,
    storage_pool: &mut StoragePool,
    blob_id: u256,
    signature: vector<u8>,
    signers_bitmap: vector<u8>,
    message: vector<u8>,
) {
    self.inner().certify_pooled_blob(storage_pool, blob_id, signature, signers_bitmap, message)
}

/// Deletes a deletable pooled blob; its bytes become free for other blobs of the pool.
public fun delete_pooled_blob(self: &System, storage_pool: &mut StoragePool, blob_id: u256) {
    storage_pool.delete_blob(blob_id, self.epoch())
}

/// Removes a blob, deletable or not, from an expired pool (so the pool can be destroyed).
public fun burn_expired_pooled_blob(self: &System, storage_pool: &mut StoragePool, blob_id: u256) {
    storage_pool.burn_expired_blob(blob_id, self.epoch())
}

/// Lengthens the pool by `extended_epochs`, paying for its whole capacity.
public fun extend_storage_pool(
    self: &mut System,
    storage_pool: &mut StoragePool,
    extended_epochs: u32,
    payment: &mut Coin<WAL>,
) {
    self.inner_mut().extend_storage_pool(storage_pool, extended_epochs, payment, NO_LIMIT)
}

public fun extend_storage_pool_bounded(
    self: &mut System,
    storage_pool: &mut StoragePool,
    extended_epochs: u32,
    payment: &mut Coin<WAL>,
    max_cost: u64,
) {
    self.inner_mut().extend_storage_pool(storage_pool, extended_epochs, payment, max_cost)
}

/// Adds capacity to the pool for the rest of its lifetime.
public fun increase_storage_pool_capacity(
    self: &mut System,
    storage_pool: &mut StoragePool,
    additional_encoded_capacity_bytes: u64,
    payment: &mut Coin<WAL>,
) {
    self.inner_mut().increase_storage_pool_capacity(storage_pool, additional_encoded_capacity_bytes, payment, NO_LIMIT)
}

public fun increase_storage_pool_capacity_bounded(
    self: &mut System,
    storage_pool: &mut StoragePool,
    additional_encoded_capacity_bytes: u64,
    payment: &mut Coin<WAL>,
    max_cost: u64,
) {
    self.inner_mut().increase_storage_pool_capacity(storage_pool, additional_encoded_capacity_bytes, payment, max_cost)
}

/// Adds a started `storage` that ends when the pool ends to the pool's capacity.
public fun increase_storage_pool_capacity_with_storage(self: &System, storage_pool: &mut StoragePool, storage: Storage) {
    let current = self.epoch();
    storage_pool.assert_unexpired(current);
    storage_pool.increase_capacity_with_storage(storage, current)
}

/// Takes `size` unused bytes out of an unexpired pool, as `Storage` over the pool's period.
public fun decrease_storage_pool_capacity_by_size(
    self: &System,
    storage_pool: &mut StoragePool,
    size: u64,
    ctx: &mut TxContext,
): Storage {
    storage_pool.assert_unexpired(self.epoch());
    storage_pool.decrease_capacity_by_size(size, ctx)
}

/// Takes `percent` of an unexpired pool's unused bytes out, as `Storage`.
public fun decrease_storage_pool_unused_capacity_by_percent(
    self: &System,
    storage_pool: &mut StoragePool,
    percent: u8,
    ctx: &mut TxContext,
): Storage {
    storage_pool.assert_unexpired(self.epoch());
    storage_pool.decrease_unused_capacity_by_percent(percent, ctx)
}

// === Subsidies (permissionless: paid out to the committees of the epochs they go to) ===

/// Spreads `subsidy` evenly over the current epoch and the `epochs_ahead - 1` after it.
public fun add_subsidy(system: &mut System, subsidy: Coin<WAL>, epochs_ahead: u32) {
    system.inner_mut().add_subsidy(subsidy, epochs_ahead)
}

/// Adds `subsidies[i]` to the rewards of epoch `system.epoch() + i`.
public fun add_per_epoch_subsidies(system: &mut System, subsidies: vector<Balance<WAL>>) {
    system.inner_mut().add_per_epoch_subsidies(subsidies)
}

// === Reads ===

public fun version(self: &System): u64 { self.version }

public fun package_id(self: &System): ID { self.package_id }

public fun epoch(self: &System): u32 { self.inner().epoch() }

public fun n_shards(self: &System): u16 { self.inner().n_shards() }

public fun committee(self: &System): &BlsCommittee { self.inner().committee() }

public fun total_capacity_size(self: &System): u64 { self.inner().total_capacity_size() }

public fun used_capacity_size(self: &System): u64 { self.inner().used_capacity_size() }

public fun storage_price_per_unit_size(self: &System): u64 { self.inner().storage_price_per_unit_size() }

public fun write_price_per_unit_size(self: &System): u64 { self.inner().write_price_per_unit_size() }

public fun future_accounting(self: &System): &FutureAccountingRingBuffer { self.inner().future_accounting() }

/// What buying `storage_size` encoded bytes for `epochs` epochs costs now, in FROST.
public fun storage_cost(self: &System, storage_size: u64, epochs: u32): u64 {
    self.inner().storage_cost_per_epoch(storage_size) * (epochs as u64)
}

/// The write fee for a blob of `encoded_size` bytes now, in FROST.
public fun write_cost(self: &System, encoded_size: u64): u64 { self.inner().write_cost(encoded_size) }

// === Epochs (driven by the committee's epoch change) ===

public(package) fun advance_epoch(self: &mut System, new_committee: BlsCommittee, params: &EpochParams): Balance<WAL> {
    self.inner_mut().advance_epoch(new_committee, params)
}

public(package) fun add_to_current_rewards(self: &mut System, rewards: Balance<WAL>) {
    self.inner_mut().add_to_current_rewards(rewards)
}

fun inner(self: &System): &SystemStateInnerV1 {
    assert!(self.version == VERSION, EWrongVersion);
    dynamic_field::borrow(&self.id, VERSION)
}

fun inner_mut(self: &mut System): &mut SystemStateInnerV1 {
    assert!(self.version == VERSION, EWrongVersion);
    dynamic_field::borrow_mut(&mut self.id, VERSION)
}

#[test_only]
public fun new_for_testing(max_epochs_ahead: u32, ctx: &mut TxContext): System {
    create_empty(max_epochs_ahead, object::id_from_address(@walrus), ctx)
}

/// A system in epoch 1 whose committee is one member with `n_shards` shards, with the given
/// capacity and prices: for the tests of packages built on this one, which cannot see this
/// package's test helpers.
#[test_only]
public fun new_live_for_testing(
    n_shards: u16,
    capacity: u64,
    storage_price: u64,
    write_price: u64,
    max_epochs_ahead: u32,
    ctx: &mut TxContext,
): System {
    let mut system = new_for_testing(max_epochs_ahead, ctx);
    system.advance_epoch_for_testing(n_shards, capacity, storage_price, write_price).destroy_for_testing();
    system
}

/// Starts the next epoch with a one-member committee of `n_shards` shards and the given
/// capacity and prices; returns what was paid for the epoch that ended (its rewards).
#[test_only]
public fun advance_epoch_for_testing(
    self: &mut System,
    n_shards: u16,
    capacity: u64,
    storage_price: u64,
    write_price: u64,
): Balance<WAL> {
    let key = sui::bls12381::g1_to_uncompressed_g1(&sui::bls12381::g1_generator());
    let member = walrus::bls_aggregate::new_bls_committee_member(key, n_shards, object::id_from_address(@0x1));
    let committee = walrus::bls_aggregate::new_bls_committee(self.epoch() + 1, vector[member]);
    let params = walrus::epoch_parameters::new(capacity, storage_price, write_price);
    self.advance_epoch(committee, &params)
}

#[test_only]
public fun set_version_for_testing(self: &mut System, version: u64) { self.version = version }

#[test_only]
public fun destroy_for_testing(self: System) {
    let System { mut id, .. } = self;
    let inner: SystemStateInnerV1 = dynamic_field::remove(&mut id, VERSION);
    std::unit_test::destroy(inner);
    id.delete();
}
