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

/// The prices (FROST per MiB of encoded size) in force from `epoch` on.
public struct PricesUpdated has copy, drop {
    epoch: u32,
    storage_price: u64,
    write_price: u64,
}

/// A storage pool was created with `reserved_encoded_capacity_bytes` for `[start_epoch, end_epoch)`.
public struct StoragePoolCreated has copy, drop {
    epoch: u32,
    storage_pool_id: ID,
    reserved_encoded_capacity_bytes: u64,
    start_epoch: u32,
    end_epoch: u32,
}

/// A blob was registered in a storage pool; it lives until the pool's end epoch.
public struct PooledBlobRegistered has copy, drop {
    epoch: u32,
    blob_id: u256,
    unencoded_size: u64,
    encoding_type: u8,
    deletable: bool,
    object_id: ID,
    storage_pool_id: ID,
}

/// A pooled blob was certified in `epoch`.
public struct PooledBlobCertified has copy, drop {
    epoch: u32,
    blob_id: u256,
    deletable: bool,
    object_id: ID,
    storage_pool_id: ID,
}

/// A deletable pooled blob was deleted and its space given back to its pool.
public struct PooledBlobDeleted has copy, drop {
    epoch: u32,
    blob_id: u256,
    object_id: ID,
    was_certified: bool,
    storage_pool_id: ID,
}

/// A storage pool (and every blob in it) now lasts until `new_end_epoch`.
public struct StoragePoolExtended has copy, drop {
    epoch: u32,
    storage_pool_id: ID,
    new_end_epoch: u32,
}

// === Events Walrus lacks ===

/// The capacity of `epoch` and the encoded bytes already reserved in it, when it starts.
public struct CapacityUpdated has copy, drop {
    epoch: u32,
    total_capacity_size: u64,
    used_capacity_size: u64,
}

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

/// A storage node registered; its pool takes stake from now on.
public struct NodeRegistered has copy, drop {
    epoch: u32,
    node_id: ID,
    name: String,
    network_address: String,
    /// BLS12-381 min-pk, 48 bytes compressed: what the node signs confirmations with.
    public_key: vector<u8>,
    network_public_key: vector<u8>,
    commission_rate: u16,
}

/// A node's operator changed its name, address, keys, votes or next commission rate; the
/// event carries the node's settings as they are now.
public struct NodeUpdated has copy, drop {
    epoch: u32,
    node_id: ID,
    name: String,
    network_address: String,
    /// The key committees selected from now on use (48 bytes compressed).
    public_key: vector<u8>,
    network_public_key: vector<u8>,
    storage_price_vote: u64,
    write_price_vote: u64,
    node_capacity_vote: u64,
    commission_rate: u16,
}

/// A node left: it will not be selected for committees again; its stakers can withdraw.
public struct NodeDeregistered has copy, drop {
    epoch: u32,
    node_id: ID,
}

/// `amount` FROST were staked with `node_id`, counting from `activation_epoch`.
public struct StakeDeposited has copy, drop {
    epoch: u32,
    node_id: ID,
    staked_wal_id: ID,
    amount: u64,
    activation_epoch: u32,
}

/// A stake will stop earning and can be withdrawn from `withdraw_epoch` on.
public struct WithdrawalRequested has copy, drop {
    epoch: u32,
    node_id: ID,
    staked_wal_id: ID,
    amount: u64,
    withdraw_epoch: u32,
}

/// A stake of `principal` was paid out `amount`: its principal and the rewards it earned
/// (a few FROST less than the principal when rounding left its shares worth less).
public struct StakeWithdrawn has copy, drop {
    epoch: u32,
    node_id: ID,
    staked_wal_id: ID,
    principal: u64,
    amount: u64,
}

/// The operator of `node_id` collected `amount` FROST of commission.
public struct CommissionCollected has copy, drop {
    epoch: u32,
    node_id: ID,
    amount: u64,
}

/// The committee of `epoch` was chosen: node `node_ids[i]` holds `shards[i]`.
public struct CommitteeSelected has copy, drop {
    epoch: u32,
    node_ids: vector<ID>,
    shards: vector<vector<u16>>,
}

/// What a node earned for `epoch`: `commission` went to its operator, the rest to its pool,
/// whose exchange rate for the next epoch is `pool_wal` WAL for `pool_shares` shares.
public struct RewardsDistributed has copy, drop {
    epoch: u32,
    node_id: ID,
    reward: u64,
    commission: u64,
    pool_wal: u64,
    pool_shares: u64,
}

/// The committee of `epoch` did not report a quorum in time; the next epoch change went ahead
/// with `weight` shards synced.
public struct EpochChangeSyncTimedOut has copy, drop {
    epoch: u32,
    weight: u16,
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

public(package) fun emit_prices_updated(epoch: u32, storage_price: u64, write_price: u64) {
    emit(PricesUpdated { epoch, storage_price, write_price })
}

public(package) fun emit_storage_pool_created(
    epoch: u32,
    storage_pool_id: ID,
    reserved_encoded_capacity_bytes: u64,
    start_epoch: u32,
    end_epoch: u32,
) {
    emit(StoragePoolCreated { epoch, storage_pool_id, reserved_encoded_capacity_bytes, start_epoch, end_epoch })
}

public(package) fun emit_pooled_blob_registered(
    epoch: u32,
    blob_id: u256,
    unencoded_size: u64,
    encoding_type: u8,
    deletable: bool,
    object_id: ID,
    storage_pool_id: ID,
) {
    emit(PooledBlobRegistered { epoch, blob_id, unencoded_size, encoding_type, deletable, object_id, storage_pool_id })
}

public(package) fun emit_pooled_blob_certified(
    epoch: u32,
    blob_id: u256,
    deletable: bool,
    object_id: ID,
    storage_pool_id: ID,
) {
    emit(PooledBlobCertified { epoch, blob_id, deletable, object_id, storage_pool_id })
}

public(package) fun emit_pooled_blob_deleted(
    epoch: u32,
    blob_id: u256,
    object_id: ID,
    was_certified: bool,
    storage_pool_id: ID,
) {
    emit(PooledBlobDeleted { epoch, blob_id, object_id, was_certified, storage_pool_id })
}

public(package) fun emit_storage_pool_extended(epoch: u32, storage_pool_id: ID, new_end_epoch: u32) {
    emit(StoragePoolExtended { epoch, storage_pool_id, new_end_epoch })
}

public(package) fun emit_capacity_updated(epoch: u32, total_capacity_size: u64, used_capacity_size: u64) {
    emit(CapacityUpdated { epoch, total_capacity_size, used_capacity_size })
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

public(package) fun emit_node_registered(
    epoch: u32,
    node_id: ID,
    name: String,
    network_address: String,
    public_key: vector<u8>,
    network_public_key: vector<u8>,
    commission_rate: u16,
) {
    emit(NodeRegistered {
        epoch,
        node_id,
        name,
        network_address,
        public_key,
        network_public_key,
        commission_rate,
    })
}

public(package) fun emit_node_updated(
    epoch: u32,
    node_id: ID,
    name: String,
    network_address: String,
    public_key: vector<u8>,
    network_public_key: vector<u8>,
    storage_price_vote: u64,
    write_price_vote: u64,
    node_capacity_vote: u64,
    commission_rate: u16,
) {
    emit(NodeUpdated {
        epoch,
        node_id,
        name,
        network_address,
        public_key,
        network_public_key,
        storage_price_vote,
        write_price_vote,
        node_capacity_vote,
        commission_rate,
    })
}

public(package) fun emit_node_deregistered(epoch: u32, node_id: ID) {
    emit(NodeDeregistered { epoch, node_id })
}

public(package) fun emit_stake_deposited(epoch: u32, node_id: ID, staked_wal_id: ID, amount: u64, activation_epoch: u32) {
    emit(StakeDeposited { epoch, node_id, staked_wal_id, amount, activation_epoch })
}

public(package) fun emit_withdrawal_requested(epoch: u32, node_id: ID, staked_wal_id: ID, amount: u64, withdraw_epoch: u32) {
    emit(WithdrawalRequested { epoch, node_id, staked_wal_id, amount, withdraw_epoch })
}

public(package) fun emit_stake_withdrawn(epoch: u32, node_id: ID, staked_wal_id: ID, principal: u64, amount: u64) {
    emit(StakeWithdrawn { epoch, node_id, staked_wal_id, principal, amount })
}

public(package) fun emit_commission_collected(epoch: u32, node_id: ID, amount: u64) {
    emit(CommissionCollected { epoch, node_id, amount })
}

public(package) fun emit_committee_selected(epoch: u32, node_ids: vector<ID>, shards: vector<vector<u16>>) {
    emit(CommitteeSelected { epoch, node_ids, shards })
}

public(package) fun emit_rewards_distributed(
    epoch: u32,
    node_id: ID,
    reward: u64,
    commission: u64,
    pool_wal: u64,
    pool_shares: u64,
) {
    emit(RewardsDistributed { epoch, node_id, reward, commission, pool_wal, pool_shares })
}

public(package) fun emit_epoch_change_sync_timed_out(epoch: u32, weight: u16) {
    emit(EpochChangeSyncTimedOut { epoch, weight })
}
