/// The shared `Staking` object: storage nodes register and update themselves here, stakers
/// stake and withdraw, and anyone drives the epoch change when the clock says it is due. As
/// with `System`, the state sits in a dynamic field keyed by the package version.
module walrus::staking;

use std::string::String;
use sui::clock::Clock;
use sui::coin::Coin;
use sui::dynamic_field;
use wal::wal::WAL;
use walrus::committee::Committee;
use walrus::epoch_parameters::EpochParams;
use walrus::staked_wal::StakedWal;
use walrus::staking_inner::{Self, StakingInnerV1, EpochState};
use walrus::staking_pool::StakingPool;
use walrus::storage_node::NodeCap;
use walrus::system::System;

const VERSION: u64 = 1;

#[error]
const EWrongVersion: vector<u8> = b"The staking object is at another version than this package";

public struct Staking has key {
    id: UID,
    version: u64,
    package_id: ID,
    new_package_id: Option<ID>,
}

public(package) fun create(
    n_shards: u16,
    epoch_duration: u64,
    first_epoch_start: u64,
    max_committee_size: u16,
    package_id: ID,
    ctx: &mut TxContext,
): Staking {
    let mut id = object::new(ctx);
    let inner = staking_inner::new(n_shards, epoch_duration, first_epoch_start, max_committee_size, ctx);
    dynamic_field::add(&mut id, VERSION, inner);
    Staking { id, version: VERSION, package_id, new_package_id: option::none() }
}

public(package) fun share(self: Staking) { transfer::share_object(self) }

// === Nodes (the holder of a node's `NodeCap` is its operator) ===

/// Registers a storage node and returns its operator's cap. `public_key` is the 48-byte BLS
/// key and `proof_of_possession` its signature over
/// `messages::proof_of_possession_message(epoch, sender, public_key)`.
public fun register_candidate(
    self: &mut Staking,
    name: String,
    network_address: String,
    public_key: vector<u8>,
    network_public_key: vector<u8>,
    proof_of_possession: vector<u8>,
    commission_rate: u16,
    storage_price: u64,
    write_price: u64,
    node_capacity: u64,
    ctx: &mut TxContext,
): NodeCap {
    self
        .inner_mut()
        .register_candidate(
            name,
            network_address,
            public_key,
            network_public_key,
            proof_of_possession,
            commission_rate,
            storage_price,
            write_price,
            node_capacity,
            ctx,
        )
}

public fun set_name(self: &mut Staking, cap: &NodeCap, name: String) { self.inner_mut().set_name(cap, name) }

public fun set_network_address(self: &mut Staking, cap: &NodeCap, network_address: String) {
    self.inner_mut().set_network_address(cap, network_address)
}

public fun set_network_public_key(self: &mut Staking, cap: &NodeCap, network_public_key: vector<u8>) {
    self.inner_mut().set_network_public_key(cap, network_public_key)
}

/// Rotates the node's BLS key (with a proof of possession of the new one) from the next epoch.
public fun set_public_key(
    self: &mut Staking,
    cap: &NodeCap,
    public_key: vector<u8>,
    proof_of_possession: vector<u8>,
    ctx: &mut TxContext,
) {
    self.inner_mut().set_public_key(cap, public_key, proof_of_possession, ctx)
}

public fun set_storage_price_vote(self: &mut Staking, cap: &NodeCap, price: u64) {
    self.inner_mut().set_storage_price_vote(cap, price)
}

public fun set_write_price_vote(self: &mut Staking, cap: &NodeCap, price: u64) {
    self.inner_mut().set_write_price_vote(cap, price)
}

public fun set_node_capacity_vote(self: &mut Staking, cap: &NodeCap, capacity: u64) {
    self.inner_mut().set_node_capacity_vote(cap, capacity)
}

/// Sets the commission rate, in basis points, applied two epochs from now.
public fun set_next_commission(self: &mut Staking, cap: &NodeCap, rate: u16) {
    self.inner_mut().set_next_commission(cap, rate)
}

public fun collect_commission(self: &mut Staking, cap: &NodeCap, ctx: &mut TxContext): Coin<WAL> {
    self.inner_mut().collect_commission(cap).into_coin(ctx)
}

/// Leaves the network: the node is never selected again; its stakers withdraw as usual.
public fun deregister(self: &mut Staking, cap: &NodeCap) { self.inner_mut().deregister(cap) }

/// Offers a node to the active set again, e.g. after a larger stake took its place and later
/// left; it gets in only on its stake. Permissionless (Walrus requires the node's cap), so
/// anyone can keep committee selection going when the set has emptied.
public fun try_join_active_set(self: &mut Staking, node_id: ID) { self.inner_mut().try_join_active_set(node_id) }

/// Reports that the node holds its shards for `epoch` (the current one). The clock is not
/// needed (the epoch change times out by the schedule); it keeps Walrus's signature.
public fun epoch_sync_done(self: &mut Staking, cap: &mut NodeCap, epoch: u32, _clock: &Clock) {
    self.inner_mut().epoch_sync_done(cap, epoch)
}

// === Stake ===

public fun stake_with_pool(self: &mut Staking, coin: Coin<WAL>, node_id: ID, ctx: &mut TxContext): StakedWal {
    self.inner_mut().stake_with_pool(coin, node_id, ctx)
}

/// Starts the withdrawal of a stake that a committee counts (the context keeps Walrus's
/// signature).
public fun request_withdraw_stake(self: &mut Staking, staked: &mut StakedWal, _ctx: &mut TxContext) {
    self.inner_mut().request_withdraw_stake(staked)
}

/// Pays out a stake: the principal if no selected committee counts it yet, else principal and
/// rewards once its withdrawal epoch has come.
public fun withdraw_stake(self: &mut Staking, staked: StakedWal, ctx: &mut TxContext): Coin<WAL> {
    self.inner_mut().withdraw_stake(staked).into_coin(ctx)
}

// === Epoch change (permissionless, gated by the clock) ===

/// Selects the next committee and its parameters; due half an epoch before the next epoch.
public fun voting_end(self: &mut Staking, clock: &Clock) { self.inner_mut().voting_end(clock) }

/// Starts the next epoch once it is due.
public fun initiate_epoch_change(self: &mut Staking, system: &mut System, clock: &Clock) {
    self.inner_mut().initiate_epoch_change(system, clock)
}

// === Reads ===

public fun version(self: &Staking): u64 { self.version }

public fun epoch(self: &Staking): u32 { self.inner().epoch() }

public fun n_shards(self: &Staking): u16 { self.inner().n_shards() }

public fun epoch_state(self: &Staking): EpochState { self.inner().epoch_state() }

public fun committee(self: &Staking): &Committee { self.inner().committee() }

public fun previous_committee(self: &Staking): &Committee { self.inner().previous_committee() }

public fun next_committee(self: &Staking): &Option<Committee> { self.inner().next_committee() }

public fun next_epoch_params(self: &Staking): &Option<EpochParams> { self.inner().next_epoch_params() }

public fun pool(self: &Staking, node_id: ID): &StakingPool { self.inner().pool(node_id) }

/// The candidates for the next committee, in no order.
public fun active_set(self: &Staking): vector<ID> { self.inner().active_set() }

/// When epoch `epoch` (>= 1) is due by the schedule.
public fun epoch_start(self: &Staking, epoch: u32): u64 { self.inner().epoch_start(epoch) }

/// The earliest time the next epoch may start (the schedule, paced after a stall).
public fun next_epoch_start(self: &Staking): u64 { self.inner().next_epoch_start() }

fun inner(self: &Staking): &StakingInnerV1 {
    assert!(self.version == VERSION, EWrongVersion);
    dynamic_field::borrow(&self.id, VERSION)
}

fun inner_mut(self: &mut Staking): &mut StakingInnerV1 {
    assert!(self.version == VERSION, EWrongVersion);
    dynamic_field::borrow_mut(&mut self.id, VERSION)
}

#[test_only]
public fun new_for_testing(
    n_shards: u16,
    epoch_duration: u64,
    first_epoch_start: u64,
    max_committee_size: u16,
    ctx: &mut TxContext,
): Staking {
    create(n_shards, epoch_duration, first_epoch_start, max_committee_size, object::id_from_address(@walrus), ctx)
}

#[test_only]
public fun set_version_for_testing(self: &mut Staking, version: u64) { self.version = version }

#[test_only]
public fun destroy_for_testing(self: Staking) { std::unit_test::destroy(self) }
