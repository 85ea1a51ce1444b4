/// The system's state behind its version: the current committee (which also fixes the epoch),
/// capacity, prices, and the per-epoch accounting of reservations and payments. Storage is
/// bought here, blobs are registered and certified here.
module walrus::system_state_inner;

use sui::balance::Balance;
use sui::coin::Coin;
use wal::wal::WAL;
use walrus::blob::{Self, Blob};
use walrus::bls_aggregate::{Self, BlsCommittee};
use walrus::encoding;
use walrus::epoch_parameters::EpochParams;
use walrus::events;
use walrus::storage_accounting::{Self, FutureAccountingRingBuffer};
use walrus::storage_pool::{Self, StoragePool};
use walrus::storage_resource::{Self, Storage};

/// Prices are per MiB of encoded size.
const BYTES_PER_UNIT_SIZE: u64 = 1_048_576;
/// Upper bound on `max_epochs_ahead`, which sizes the accounting ring.
const MAX_MAX_EPOCHS_AHEAD: u32 = 1000;

#[error]
const EInvalidMaxEpochsAhead: vector<u8> = b"max_epochs_ahead must be between 1 and 1000";
#[error]
const EStorageExceeded: vector<u8> = b"Not enough capacity left in one of the epochs";
#[error]
const EInvalidEpochsAhead: vector<u8> = b"The period must be non-empty and end within max_epochs_ahead of the current epoch";
#[error]
const EInvalidResourceSize: vector<u8> = b"The storage size must be greater than zero";
#[error]
const ECostAboveLimit: vector<u8> = b"The cost at current prices exceeds the payment limit given";
#[error]
const EInsufficientPayment: vector<u8> = b"The coin does not cover the cost";
#[error]
const ECostOverflow: vector<u8> = b"The cost does not fit in a u64";
#[error]
const EStorageNotActive: vector<u8> = b"The storage must cover the current epoch";
#[error]
const EInvalidSubsidyEpochs: vector<u8> = b"Subsidies must cover 1 to max_epochs_ahead epochs";
#[error]
const EWrongCommitteeEpoch: vector<u8> = b"The new committee must be for the next epoch";

public struct SystemStateInnerV1 has store {
    /// The current committee; its epoch is the current epoch.
    committee: BlsCommittee,
    /// Encoded bytes the committee stores per epoch.
    total_capacity_size: u64,
    /// Encoded bytes reserved in the current epoch.
    used_capacity_size: u64,
    storage_price_per_unit_size: u64,
    write_price_per_unit_size: u64,
    future_accounting: FutureAccountingRingBuffer,
}

/// Epoch 0, no committee, no capacity and zero prices: nothing can be bought until the first
/// epoch change installs a committee and its parameters.
public(package) fun create_empty(max_epochs_ahead: u32): SystemStateInnerV1 {
    assert!(max_epochs_ahead > 0 && max_epochs_ahead <= MAX_MAX_EPOCHS_AHEAD, EInvalidMaxEpochsAhead);
    SystemStateInnerV1 {
        committee: bls_aggregate::new_bls_committee(0, vector[]),
        total_capacity_size: 0,
        used_capacity_size: 0,
        storage_price_per_unit_size: 0,
        write_price_per_unit_size: 0,
        future_accounting: storage_accounting::new(0, max_epochs_ahead),
    }
}

// === Accessors ===

public(package) fun epoch(self: &SystemStateInnerV1): u32 { self.committee.epoch() }

public(package) fun n_shards(self: &SystemStateInnerV1): u16 { self.committee.n_shards() }

public(package) fun committee(self: &SystemStateInnerV1): &BlsCommittee { &self.committee }

public(package) fun total_capacity_size(self: &SystemStateInnerV1): u64 { self.total_capacity_size }

public(package) fun used_capacity_size(self: &SystemStateInnerV1): u64 { self.used_capacity_size }

public(package) fun storage_price_per_unit_size(self: &SystemStateInnerV1): u64 { self.storage_price_per_unit_size }

public(package) fun write_price_per_unit_size(self: &SystemStateInnerV1): u64 { self.write_price_per_unit_size }

public(package) fun future_accounting(self: &SystemStateInnerV1): &FutureAccountingRingBuffer {
    &self.future_accounting
}

/// What `storage_size` encoded bytes cost per epoch at the current price.
public(package) fun storage_cost_per_epoch(self: &SystemStateInnerV1, storage_size: u64): u64 {
    cost(storage_size, self.storage_price_per_unit_size, 1)
}

/// The one-off write fee for a blob of `encoded_size` bytes at the current price.
public(package) fun write_cost(self: &SystemStateInnerV1, encoded_size: u64): u64 {
    cost(encoded_size, self.write_price_per_unit_size, 1)
}

// === Storage ===

/// Buys `storage_amount` encoded bytes for `[current, current + epochs_ahead)`.
public(package) fun reserve_space(
    self: &mut SystemStateInnerV1,
    storage_amount: u64,
    epochs_ahead: u32,
    payment: &mut Coin<WAL>,
    max_cost: u64,
    ctx: &mut TxContext,
): Storage {
    assert!(epochs_ahead > 0, EInvalidEpochsAhead);
    let start = self.epoch();
    self.reserve_space_for_epochs(storage_amount, start, start + epochs_ahead, payment, max_cost, ctx)
}

/// Buys `storage_amount` encoded bytes for `[start_epoch, end_epoch)`; a start in the past is
/// moved up to the current epoch.
public(package) fun reserve_space_for_epochs(
    self: &mut SystemStateInnerV1,
    storage_amount: u64,
    start_epoch: u32,
    end_epoch: u32,
    payment: &mut Coin<WAL>,
    max_cost: u64,
    ctx: &mut TxContext,
): Storage {
    assert!(storage_amount > 0, EInvalidResourceSize);
    let start_epoch = start_epoch.max(self.epoch());
    let cost = self.reserve_and_pay(storage_amount, start_epoch, end_epoch, payment, max_cost);
    let storage = storage_resource::create(start_epoch, end_epoch, storage_amount, ctx);
    events::emit_storage_reserved(
        self.epoch(),
        object::id(&storage),
        start_epoch,
        end_epoch,
        storage_amount,
        cost,
    );
    storage
}

/// Destroys `storage` and gives its capacity in the epochs after the current one back, so
/// that others can buy it. What was paid stays with those epochs' rewards.
public(package) fun release_storage(self: &mut SystemStateInnerV1, storage: Storage) {
    let current = self.epoch();
    let from = storage.start_epoch().max(current + 1);
    let end = storage.end_epoch();
    let mut epoch = from;
    while (epoch < end) {
        self.future_accounting.ring_lookup_mut(epoch - current).decrease_used_capacity(storage.size());
        epoch = epoch + 1;
    };
    events::emit_storage_released(current, object::id(&storage), storage.size(), from, end.max(from));
    storage.destroy();
}

// === Blobs ===

public(package) fun register_blob(
    self: &mut SystemStateInnerV1,
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
    let blob = blob::new(storage, blob_id, root_hash, size, encoding_type, deletable, self.epoch(), self.n_shards(), ctx);
    let encoded_size = blob.encoded_size(self.n_shards());
    self.charge_write_fee(encoded_size, write_payment, max_cost);
    blob
}

public(package) fun certify_blob(
    self: &SystemStateInnerV1,
    blob: &mut Blob,
    signature: vector<u8>,
    signers_bitmap: vector<u8>,
    message: vector<u8>,
) {
    let certified = self.committee.verify_quorum_in_epoch(signature, signers_bitmap, message);
    blob.certify_with_certified_msg(self.epoch(), certified.into_certified_blob_message());
}

public(package) fun delete_blob(self: &SystemStateInnerV1, blob: Blob): Storage {
    blob.delete(self.epoch())
}

/// Destroys a blob and releases what is left of its storage (see `release_storage`).
public(package) fun burn_blob(self: &mut SystemStateInnerV1, blob: Blob) {
    self.release_storage(blob.burn_into_storage());
}

public(package) fun extend_blob_with_resource(self: &SystemStateInnerV1, blob: &mut Blob, extension: Storage) {
    blob.extend_with_resource(extension, self.epoch());
}

/// Pays for `extended_epochs` more epochs of the blob's storage (its full size).
public(package) fun extend_blob(
    self: &mut SystemStateInnerV1,
    blob: &mut Blob,
    extended_epochs: u32,
    payment: &mut Coin<WAL>,
    max_cost: u64,
) {
    blob.check_extendable(self.epoch());
    assert!(extended_epochs > 0, EInvalidEpochsAhead);
    let end = blob.end_epoch();
    self.reserve_and_pay(blob.storage().size(), end, end + extended_epochs, payment, max_cost);
    blob.extend_paid(extended_epochs, self.epoch());
}

/// Checks an f+1 certificate that `blob_id` is invalid and announces it.
public(package) fun invalidate_blob_id(
    self: &SystemStateInnerV1,
    signature: vector<u8>,
    signers_bitmap: vector<u8>,
    message: vector<u8>,
): u256 {
    let certified = self.committee.verify_one_correct_node_in_epoch(signature, signers_bitmap, message);
    let blob_id = certified.into_certified_invalid_blob_id().invalid_blob_id();
    events::emit_invalid_blob_id(self.epoch(), blob_id);
    blob_id
}

// === Storage pools ===

/// Buys `capacity` encoded bytes for `epochs_ahead` epochs, as `reserve_space` does, as a pool.
public(package) fun create_storage_pool(
    self: &mut SystemStateInnerV1,
    capacity: u64,
    epochs_ahead: u32,
    payment: &mut Coin<WAL>,
    max_cost: u64,
    ctx: &mut TxContext,
): StoragePool {
    let storage = self.reserve_space(capacity, epochs_ahead, payment, max_cost, ctx);
    self.create_storage_pool_with_storage(storage, ctx)
}

/// Turns a non-empty `storage` that covers the current epoch into a pool.
public(package) fun create_storage_pool_with_storage(
    self: &SystemStateInnerV1,
    storage: Storage,
    ctx: &mut TxContext,
): StoragePool {
    assert!(storage.size() > 0, EInvalidResourceSize);
    let current = self.epoch();
    assert!(storage.start_epoch() <= current && current < storage.end_epoch(), EStorageNotActive);
    let pool = storage_pool::create(storage, ctx);
    events::emit_storage_pool_created(
        current,
        pool.object_id(),
        pool.reserved_encoded_capacity_bytes(),
        pool.start_epoch(),
        pool.end_epoch(),
    );
    pool
}

/// Registers a blob in an active pool, which must have room for its encoded size, and
/// charges the write fee.
public(package) fun register_pooled_blob(
    self: &mut SystemStateInnerV1,
    pool: &mut StoragePool,
    blob_id: u256,
    root_hash: u256,
    unencoded_size: u64,
    encoding_type: u8,
    deletable: bool,
    write_payment: &mut Coin<WAL>,
    max_cost: u64,
    ctx: &mut TxContext,
) {
    let current = self.epoch();
    pool.assert_active(current);
    let encoded_size = encoding::encoded_blob_length(unencoded_size, encoding_type, self.n_shards());
    pool.register_blob(blob_id, root_hash, unencoded_size, encoding_type, deletable, encoded_size, current, ctx);
    self.charge_write_fee(encoded_size, write_payment, max_cost);
}

public(package) fun certify_pooled_blob(
    self: &SystemStateInnerV1,
    pool: &mut StoragePool,
    blob_id: u256,
    signature: vector<u8>,
    signers_bitmap: vector<u8>,
    message: vector<u8>,
) {
    let certified = self.committee.verify_quorum_in_epoch(signature, signers_bitmap, message);
    pool.certify_blob(blob_id, &certified.into_certified_blob_message(), self.epoch());
}

/// Lengthens an unexpired pool by `extended_epochs`, paying for its whole capacity in each.
public(package) fun extend_storage_pool(
    self: &mut SystemStateInnerV1,
    pool: &mut StoragePool,
    extended_epochs: u32,
    payment: &mut Coin<WAL>,
    max_cost: u64,
) {
    pool.assert_unexpired(self.epoch());
    assert!(extended_epochs > 0, EInvalidEpochsAhead);
    let end = pool.end_epoch();
    self.reserve_and_pay(pool.reserved_encoded_capacity_bytes(), end, end + extended_epochs, payment, max_cost);
    pool.extend_end_epoch(extended_epochs);
    events::emit_storage_pool_extended(self.epoch(), pool.object_id(), pool.end_epoch());
}

/// Adds `extra_bytes` to an unexpired pool, paying for the current epoch and the rest of its
/// period (past epochs are neither charged nor reserved).
public(package) fun increase_storage_pool_capacity(
    self: &mut SystemStateInnerV1,
    pool: &mut StoragePool,
    extra_bytes: u64,
    payment: &mut Coin<WAL>,
    max_cost: u64,
) {
    let current = self.epoch();
    pool.assert_unexpired(current);
    assert!(extra_bytes > 0, EInvalidResourceSize);
    self.reserve_and_pay(extra_bytes, current, pool.end_epoch(), payment, max_cost);
    pool.increase_capacity(extra_bytes);
}

// === Subsidies ===

/// Spreads `subsidy` evenly over the rewards of the current epoch and the `epochs_ahead - 1`
/// after it; the remainder of the division goes to the current epoch.
public(package) fun add_subsidy(self: &mut SystemStateInnerV1, subsidy: Coin<WAL>, epochs_ahead: u32) {
    assert!(epochs_ahead > 0 && epochs_ahead <= self.future_accounting.max_epochs_ahead(), EInvalidSubsidyEpochs);
    let mut subsidy = subsidy.into_balance();
    let per_epoch = subsidy.value() / (epochs_ahead as u64);
    let mut offset = epochs_ahead - 1;
    while (offset > 0) {
        self.future_accounting.ring_lookup_mut(offset).rewards_balance().join(subsidy.split(per_epoch));
        offset = offset - 1;
    };
    self.add_to_current_rewards(subsidy);
}

/// Adds `subsidies[i]` to the rewards of the epoch `i` epochs after the current one.
public(package) fun add_per_epoch_subsidies(self: &mut SystemStateInnerV1, subsidies: vector<Balance<WAL>>) {
    assert!(subsidies.length() <= (self.future_accounting.max_epochs_ahead() as u64), EInvalidSubsidyEpochs);
    let mut offset = 0;
    subsidies.do!(|subsidy| {
        self.future_accounting.ring_lookup_mut(offset).rewards_balance().join(subsidy);
        offset = offset + 1;
    });
}

// === Epochs ===

/// Ends the current epoch: installs the next committee and its parameters, and returns what
/// was paid for the epoch that ended, for the committee's rewards.
public(package) fun advance_epoch(
    self: &mut SystemStateInnerV1,
    new_committee: BlsCommittee,
    params: &EpochParams,
): Balance<WAL> {
    assert!(new_committee.epoch() == self.epoch() + 1, EWrongCommitteeEpoch);
    let ended = self.future_accounting.ring_pop_expand();
    self.committee = new_committee;
    self.used_capacity_size = self.future_accounting.ring_lookup(0).used_capacity();
    self.total_capacity_size = params.capacity().max(self.used_capacity_size);
    self.storage_price_per_unit_size = params.storage_price();
    self.write_price_per_unit_size = params.write_price();
    events::emit_epoch_change_start(self.epoch());
    events::emit_prices_updated(self.epoch(), self.storage_price_per_unit_size, self.write_price_per_unit_size);
    events::emit_capacity_updated(self.epoch(), self.total_capacity_size, self.used_capacity_size);
    ended.into_rewards()
}

/// Adds `rewards` to what the current epoch's committee will be paid.
public(package) fun add_to_current_rewards(self: &mut SystemStateInnerV1, rewards: Balance<WAL>) {
    self.future_accounting.ring_lookup_mut(0).rewards_balance().join(rewards);
}

// === Internals ===

/// Reserves `amount` bytes in every epoch of `[start, end)` and credits each epoch with its
/// share of the payment; returns the total cost.
fun reserve_and_pay(
    self: &mut SystemStateInnerV1,
    amount: u64,
    start: u32,
    end: u32,
    payment: &mut Coin<WAL>,
    max_cost: u64,
): u64 {
    let current = self.epoch();
    assert!(end > start && end - current <= self.future_accounting.max_epochs_ahead(), EInvalidEpochsAhead);
    let per_epoch = self.storage_cost_per_epoch(amount);
    let total = cost(amount, self.storage_price_per_unit_size, (end - start) as u64);
    assert!(total <= max_cost, ECostAboveLimit);
    assert!(payment.value() >= total, EInsufficientPayment);
    let capacity = self.total_capacity_size;
    let mut epoch = start;
    while (epoch < end) {
        let entry = self.future_accounting.ring_lookup_mut(epoch - current);
        assert!(entry.increase_used_capacity(amount) <= capacity, EStorageExceeded);
        entry.rewards_balance().join(payment.balance_mut().split(per_epoch));
        epoch = epoch + 1;
    };
    self.used_capacity_size = self.future_accounting.ring_lookup(0).used_capacity();
    total
}

/// Takes the write fee for `encoded_size` bytes into the current epoch's rewards.
fun charge_write_fee(self: &mut SystemStateInnerV1, encoded_size: u64, payment: &mut Coin<WAL>, max_cost: u64) {
    let fee = take_payment(payment, self.write_cost(encoded_size), max_cost);
    self.add_to_current_rewards(fee);
}

fun take_payment(payment: &mut Coin<WAL>, amount: u64, max_cost: u64): Balance<WAL> {
    assert!(amount <= max_cost, ECostAboveLimit);
    assert!(payment.value() >= amount, EInsufficientPayment);
    payment.balance_mut().split(amount)
}

/// `ceil(bytes / 1 MiB) * price * epochs`, refusing overflow with a named error.
fun cost(bytes: u64, price: u64, epochs: u64): u64 {
    let units = bytes.divide_and_round_up(BYTES_PER_UNIT_SIZE) as u128;
    let total = units * (price as u128) * (epochs as u128);
    assert!(total <= (std::u64::max_value!() as u128), ECostOverflow);
    total as u64
}
