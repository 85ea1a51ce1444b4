/// Staking behind the `Staking` object's version: the pools, the active set, the committees of
/// the previous, current and next epochs, and the epoch-change state machine.
///
/// Epochs follow a schedule: epoch `e >= 1` is due at `first_epoch_start + (e - 1) *
/// epoch_duration`, and never less than `epoch_duration` after the previous change started, so
/// that after a stall epochs resume one per duration instead of in a burst without handover.
/// Half an epoch before the due time anyone may select the next committee (`voting_end`); from
/// the due time anyone may start the epoch change. The new committee then reports that it holds
/// its shards (`epoch_sync_done`). If a quorum has not reported by the next selection time
/// (at least half an epoch after the change started), selection goes ahead anyway and
/// `EpochChangeSyncTimedOut` records it: a missing quorum cannot stall the system, unlike in
/// Walrus, where epochs also drift by the sync time.
///
/// Committees are chosen from the active set: at most `max_committee_size` active nodes with
/// at least the minimum stake (1 WAL) for the next committee, kept up to date whenever a stake
/// changes. An
/// epoch change touches only the pools of the ending and the new committee; every other pool
/// catches up when it is next touched. So no step's work grows with the number of nodes that
/// ever registered.
module walrus::staking_inner;

use std::string::String;
use sui::balance::Balance;
use sui::clock::Clock;
use sui::coin::Coin;
use sui::object_table::{Self, ObjectTable};
use wal::wal::WAL;
use walrus::apportionment;
use walrus::bls_aggregate::{Self, BlsCommittee};
use walrus::committee::{Self, Committee};
use walrus::epoch_parameters::{Self, EpochParams};
use walrus::events;
use walrus::messages;
use walrus::staked_wal::{Self, StakedWal};
use walrus::staking_pool::{Self, StakingPool};
use walrus::storage_node::NodeCap;
use walrus::system::System;
use walrus::vote_aggregation;

/// Commission changes take effect two epochs later, so stakers can leave first.
const COMMISSION_DELAY: u32 = 2;
/// The erasure code needs `n = 3f + 1` shards with `f >= 1`.
const MIN_SHARDS: u16 = 4;

#[error]
const EWrongEpochState: vector<u8> = b"The epoch change is not at this step";
#[error]
const ETooEarly: vector<u8> = b"This step of the epoch change is not due yet";
#[error]
const EInvalidSyncEpoch: vector<u8> = b"The sync report is for another epoch";
#[error]
const EDuplicateSyncDone: vector<u8> = b"The node already reported for this epoch";
#[error]
const ENotInCommittee: vector<u8> = b"The node is not in the current committee";
#[error]
const EInvalidProofOfPossession: vector<u8> = b"The proof of possession does not verify for this key, sender and epoch";
#[error]
const ENoStake: vector<u8> = b"No node has stake: no committee can be selected";
#[error]
const EInvalidParameters: vector<u8> = b"Epoch duration and committee size must be positive";
#[error]
const ETooFewShards: vector<u8> = b"At least 4 shards are needed: with fewer, no blob can ever be encoded";
#[error]
const ETooSoonAfterLastChange: vector<u8> =
    b"At most one epoch change per epoch duration: the previous one started less than that ago";

public enum EpochState has copy, drop, store {
    /// The current committee is taking over its shards; `weight` shards have reported.
    EpochChangeSync { weight: u16 },
    /// The current committee holds its shards.
    EpochChangeDone,
    /// The next committee and its parameters are fixed.
    NextParamsSelected,
}

/// A node in the active set, with its stake for the next committee to be selected.
public struct ActiveSetEntry has copy, drop, store {
    node_id: ID,
    stake: u64,
}

public struct StakingInnerV1 has store {
    n_shards: u16,
    epoch_duration: u64,
    /// When epoch 1 is due to start (ms).
    first_epoch_start: u64,
    /// Also the size of the active set: every committee is drawn from it.
    max_committee_size: u16,
    epoch: u32,
    /// When the change into the current epoch started (ms); 0 in epoch 0.
    epoch_change_started: u64,
    pools: ObjectTable<ID, StakingPool>,
    /// The candidates for the next committee, unsorted, at most `max_committee_size`.
    active_set: vector<ActiveSetEntry>,
    committee: Committee,
    previous_committee: Committee,
    next_committee: Option<Committee>,
    next_epoch_params: Option<EpochParams>,
    epoch_state: EpochState,
}

public(package) fun new(
    n_shards: u16,
    epoch_duration: u64,
    first_epoch_start: u64,
    max_committee_size: u16,
    ctx: &mut TxContext,
): StakingInnerV1 {
    assert!(n_shards >= MIN_SHARDS, ETooFewShards);
    assert!(epoch_duration > 0 && max_committee_size > 0, EInvalidParameters);
    StakingInnerV1 {
        n_shards,
        epoch_duration,
        first_epoch_start,
        max_committee_size,
        epoch: 0,
        epoch_change_started: 0,
        pools: object_table::new(ctx),
        active_set: vector[],
        committee: committee::empty(),
        previous_committee: committee::empty(),
        next_committee: option::none(),
        next_epoch_params: option::none(),
        epoch_state: EpochState::EpochChangeDone,
    }
}

// === Nodes ===

/// Registers a storage node; `proof_of_possession` is the node's BLS signature over
/// `messages::proof_of_possession_message(current epoch, sender, public_key)`.
public(package) fun register_candidate(
    self: &mut StakingInnerV1,
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
    self.check_proof_of_possession(&public_key, &proof_of_possession, ctx);
    let pool = staking_pool::new(
        name,
        network_address,
        public_key,
        network_public_key,
        commission_rate,
        storage_price,
        write_price,
        node_capacity,
        self.epoch,
        ctx,
    );
    let node_id = pool.node_id();
    events::emit_node_registered(
        self.epoch,
        node_id,
        name,
        network_address,
        public_key,
        network_public_key,
        commission_rate,
    );
    self.pools.add(node_id, pool);
    walrus::storage_node::new_cap(node_id, ctx)
}

public(package) fun set_name(self: &mut StakingInnerV1, cap: &NodeCap, name: String) {
    self.pool_mut(cap).node_info_mut().set_name(name);
    self.emit_node_updated(cap.cap_node_id());
}

public(package) fun set_network_address(self: &mut StakingInnerV1, cap: &NodeCap, network_address: String) {
    self.pool_mut(cap).node_info_mut().set_network_address(network_address);
    self.emit_node_updated(cap.cap_node_id());
}

public(package) fun set_network_public_key(self: &mut StakingInnerV1, cap: &NodeCap, network_public_key: vector<u8>) {
    self.pool_mut(cap).node_info_mut().set_network_public_key(network_public_key);
    self.emit_node_updated(cap.cap_node_id());
}

/// Rotates the node's BLS key. The current epoch's certificates keep using the key its
/// committee was formed with; the new key signs from the next committee on.
public(package) fun set_public_key(
    self: &mut StakingInnerV1,
    cap: &NodeCap,
    public_key: vector<u8>,
    proof_of_possession: vector<u8>,
    ctx: &TxContext,
) {
    self.check_proof_of_possession(&public_key, &proof_of_possession, ctx);
    self.pool_mut(cap).node_info_mut().set_public_key(public_key);
    self.emit_node_updated(cap.cap_node_id());
}

public(package) fun set_storage_price_vote(self: &mut StakingInnerV1, cap: &NodeCap, price: u64) {
    self.pool_mut(cap).set_storage_price_vote(price);
    self.emit_node_updated(cap.cap_node_id());
}

public(package) fun set_write_price_vote(self: &mut StakingInnerV1, cap: &NodeCap, price: u64) {
    self.pool_mut(cap).set_write_price_vote(price);
    self.emit_node_updated(cap.cap_node_id());
}

public(package) fun set_node_capacity_vote(self: &mut StakingInnerV1, cap: &NodeCap, capacity: u64) {
    self.pool_mut(cap).set_node_capacity_vote(capacity);
    self.emit_node_updated(cap.cap_node_id());
}

/// Sets the commission rate (basis points) that applies two epochs from now.
public(package) fun set_next_commission(self: &mut StakingInnerV1, cap: &NodeCap, rate: u16) {
    let epoch = self.epoch;
    let pool = self.pool_mut(cap);
    // Up to date first, so an idle pool never piles up pending epochs for its catch-up.
    pool.catch_up(epoch);
    pool.set_next_commission(rate, epoch + COMMISSION_DELAY);
    self.emit_node_updated(cap.cap_node_id());
}

public(package) fun collect_commission(self: &mut StakingInnerV1, cap: &NodeCap): Balance<WAL> {
    let commission = self.pool_mut(cap).collect_commission();
    events::emit_commission_collected(self.epoch, cap.cap_node_id(), commission.value());
    commission
}

/// Takes the node out of all future committees. Its stakers withdraw as usual; its operator
/// keeps the cap to collect what commission is left.
public(package) fun deregister(self: &mut StakingInnerV1, cap: &NodeCap) {
    let epoch = self.epoch;
    self.pool_mut(cap).deregister(epoch);
    self.update_active_set(cap.cap_node_id());
    events::emit_node_deregistered(epoch, cap.cap_node_id());
}

/// Offers a node to the active set again, e.g. after a larger stake took its place and later
/// left. Anyone may call it: the node only gets in on its stake, like at any stake change.
public(package) fun try_join_active_set(self: &mut StakingInnerV1, node_id: ID) {
    self.update_active_set(node_id)
}

// === Stake ===

/// Stakes `coin` with `node_id`: active from the next epoch, or the one after if the next
/// committee is already selected (the stake could not count in it).
public(package) fun stake_with_pool(self: &mut StakingInnerV1, coin: Coin<WAL>, node_id: ID, ctx: &mut TxContext): StakedWal {
    let activation_epoch = self.next_counted_epoch();
    let epoch = self.epoch;
    let amount = coin.value();
    let pool = self.pools.borrow_mut(node_id);
    pool.catch_up(epoch);
    let staked = pool.stake(coin.into_balance(), activation_epoch, ctx);
    self.update_active_set(node_id);
    events::emit_stake_deposited(epoch, node_id, object::id(&staked), amount, activation_epoch);
    staked
}

/// Starts the withdrawal of a stake that a committee counts: it keeps earning until the last
/// committee it was counted in has served. (A stake no committee counts yet is withdrawn
/// directly instead.)
public(package) fun request_withdraw_stake(self: &mut StakingInnerV1, staked: &mut StakedWal) {
    let withdraw_epoch = self.next_counted_epoch();
    let epoch = self.epoch;
    self.pools.borrow_mut(staked.node_id()).request_withdraw(staked, epoch, withdraw_epoch);
    self.update_active_set(staked.node_id());
    events::emit_withdrawal_requested(epoch, staked.node_id(), object::id(staked), staked.value(), withdraw_epoch);
}

/// Pays out a stake whose withdrawal epoch has come, or one that no selected committee counts
/// yet. Stake that the selected next committee counts stays until that committee has served:
/// otherwise stake could buy shards and leave at once, with nothing at risk.
public(package) fun withdraw_stake(self: &mut StakingInnerV1, staked: StakedWal): Balance<WAL> {
    let (node_id, id, principal) = (staked.node_id(), object::id(&staked), staked.value());
    let epoch = self.epoch;
    let counted_until = if (self.next_committee.is_some_and!(|next| next.contains(&node_id))) option::some(epoch + 1)
    else option::none();
    let payout = self.pools.borrow_mut(node_id).withdraw(staked, epoch, counted_until);
    self.update_active_set(node_id);
    events::emit_stake_withdrawn(epoch, node_id, id, principal, payout.value());
    payout
}

// === Epoch change ===

/// Selects the next committee from the active set (shards by stake) and the next epoch's
/// capacity and prices from its votes.
public(package) fun voting_end(self: &mut StakingInnerV1, clock: &Clock) {
    let synced = match (self.epoch_state) {
        EpochState::EpochChangeDone => option::none(),
        EpochState::EpochChangeSync { weight } => option::some(weight),
        EpochState::NextParamsSelected => abort EWrongEpochState,
    };
    self.assert_due(clock.timestamp_ms() + self.epoch_duration / 2);
    synced.do!(|weight| events::emit_epoch_change_sync_timed_out(self.epoch, weight));

    let next_epoch = self.epoch + 1;
    assert!(!self.active_set.is_empty(), ENoStake);
    let node_ids = self.active_set.map_ref!(|e| e.node_id);
    let stakes = self.active_set.map_ref!(|e| e.stake);
    let counts = apportionment::apportion(&node_ids, &stakes, self.n_shards);
    let mut members = vector[];
    let mut member_counts = vector[];
    node_ids.zip_do!(counts, |id, count| if (count > 0) {
        members.push_back(id);
        member_counts.push_back(count);
    });
    let next = self.committee.transition(members, member_counts, self.n_shards);

    let ids = next.node_ids();
    let weights = ids.map_ref!(|id| next.shard_count(id));
    let n = self.n_shards as u64;
    let capacity_votes = ids.map_ref!(|id| {
        // A node's vote is for its own share; scaled up, it says what the whole committee holds.
        let vote = self.pools.borrow(*id).node_capacity_vote() as u128;
        (vote * (n as u128) / (next.shard_count(id) as u128)).min(std::u64::max_value!() as u128) as u64
    });
    let storage_votes = ids.map_ref!(|id| self.pools.borrow(*id).storage_price_vote());
    let write_votes = ids.map_ref!(|id| self.pools.borrow(*id).write_price_vote());
    self.next_epoch_params.fill(epoch_parameters::new(
        vote_aggregation::quorum_above(capacity_votes, weights),
        vote_aggregation::quorum_below(storage_votes, weights),
        vote_aggregation::quorum_below(write_votes, weights),
    ));
    events::emit_committee_selected(next_epoch, ids, ids.map_ref!(|id| *next.shards(id)));
    events::emit_epoch_parameters_selected(next_epoch);
    self.next_committee.fill(next);
    self.epoch_state = EpochState::NextParamsSelected;
}

/// Moves to the next epoch: hands the system the new committee and parameters, pays the
/// ended epoch's committee what was paid for that epoch (by shards; commission first, the
/// rest compounding in each pool), and advances the pools of both committees (no others).
public(package) fun initiate_epoch_change(self: &mut StakingInnerV1, system: &mut System, clock: &Clock) {
    assert!(self.epoch_state == EpochState::NextParamsSelected, EWrongEpochState);
    let now = clock.timestamp_ms();
    self.assert_due(now);
    let next = self.next_committee.extract();
    let params = self.next_epoch_params.extract();
    let mut rewards = system.advance_epoch(self.bls_committee(&next, self.epoch + 1), &params);

    let ended = self.epoch;
    let paid = self.committee;
    self.epoch = ended + 1;
    self.epoch_change_started = now;
    self.previous_committee = paid;
    self.committee = next;
    self.epoch_state = EpochState::EpochChangeSync { weight: 0 };

    let total = rewards.value() as u128;
    let n = self.n_shards as u128;
    let new_epoch = self.epoch;
    let mut advanced = paid.node_ids();
    self.committee.node_ids().do!(|id| if (!paid.contains(&id)) advanced.push_back(id));
    advanced.do!(|node_id| {
        let share = ((total * (paid.shard_count(&node_id) as u128)) / n) as u64;
        let pool = self.pools.borrow_mut(node_id);
        pool.catch_up(ended);
        let commission = pool.advance_epoch(new_epoch, rewards.split(share));
        if (share > 0) {
            events::emit_rewards_distributed(ended, node_id, share, commission, pool.wal_balance(), pool.num_shares());
        };
        // Rewards changed what the pool will stake.
        self.update_active_set(node_id);
    });
    // Rounding dust (and the payments of an epoch without committee) goes to the new epoch.
    system.add_to_current_rewards(rewards);
}

/// A member of the current committee reports that it holds its shards; at a quorum the
/// epoch change is complete.
public(package) fun epoch_sync_done(self: &mut StakingInnerV1, cap: &mut NodeCap, epoch: u32) {
    assert!(epoch == self.epoch, EInvalidSyncEpoch);
    assert!(cap.last_epoch_sync_done() < epoch, EDuplicateSyncDone);
    let node_id = cap.cap_node_id();
    assert!(self.committee.contains(&node_id), ENotInCommittee);
    cap.set_last_epoch_sync_done(epoch);
    events::emit_shards_received(epoch, *self.committee.shards(&node_id));
    match (&mut self.epoch_state) {
        EpochState::EpochChangeSync { weight } => {
            *weight = *weight + self.committee.shard_count(&node_id);
            if (3 * (*weight as u64) >= 2 * (self.n_shards as u64) + 1) {
                self.epoch_state = EpochState::EpochChangeDone;
                events::emit_epoch_change_done(epoch);
            }
        },
        _ => (),
    }
}

// === Reads ===

public(package) fun epoch(self: &StakingInnerV1): u32 { self.epoch }

public(package) fun n_shards(self: &StakingInnerV1): u16 { self.n_shards }

public(package) fun epoch_state(self: &StakingInnerV1): EpochState { self.epoch_state }

public(package) fun committee(self: &StakingInnerV1): &Committee { &self.committee }

public(package) fun previous_committee(self: &StakingInnerV1): &Committee { &self.previous_committee }

public(package) fun next_committee(self: &StakingInnerV1): &Option<Committee> { &self.next_committee }

public(package) fun next_epoch_params(self: &StakingInnerV1): &Option<EpochParams> { &self.next_epoch_params }

public(package) fun pool(self: &StakingInnerV1, node_id: ID): &StakingPool { self.pools.borrow(node_id) }

/// The nodes of the active set (the candidates for the next committee), in no order.
public(package) fun active_set(self: &StakingInnerV1): vector<ID> { self.active_set.map_ref!(|e| e.node_id) }

/// When epoch `epoch` (>= 1) is due to start by the schedule.
public(package) fun epoch_start(self: &StakingInnerV1, epoch: u32): u64 {
    self.first_epoch_start + ((epoch - 1) as u64) * self.epoch_duration
}

/// The earliest time the next epoch may start: its scheduled time, but at least an epoch
/// duration after the current epoch's change started.
public(package) fun next_epoch_start(self: &StakingInnerV1): u64 {
    let scheduled = self.epoch_start(self.epoch + 1);
    if (self.epoch == 0) scheduled else scheduled.max(self.epoch_change_started + self.epoch_duration)
}

public fun is_sync_done(state: &EpochState): bool { state == &EpochState::EpochChangeDone }

public fun is_next_params_selected(state: &EpochState): bool { state == &EpochState::NextParamsSelected }

/// Shards that reported during the epoch change; none outside it.
public fun synced_weight(state: &EpochState): Option<u16> {
    match (state) {
        EpochState::EpochChangeSync { weight } => option::some(*weight),
        _ => option::none(),
    }
}

// === Internals ===

/// The first epoch whose committee is not selected yet: where new stake and withdrawals count.
fun next_counted_epoch(self: &StakingInnerV1): u32 {
    if (self.next_committee.is_some()) self.epoch + 2 else self.epoch + 1
}

/// Aborts unless the next epoch is due at `time`: by the schedule (`ETooEarly`), and at least
/// an epoch duration after the previous change started (`ETooSoonAfterLastChange`).
fun assert_due(self: &StakingInnerV1, time: u64) {
    assert!(time >= self.epoch_start(self.epoch + 1), ETooEarly);
    assert!(time >= self.next_epoch_start(), ETooSoonAfterLastChange);
}

/// Re-ranks `node_id` in the active set with its stake for the next committee to be selected:
/// it stays or enters while it is active with at least the minimum stake (1 WAL); a newcomer to
/// a full set replaces the smallest stake if it has more. Work: one pass over the set.
fun update_active_set(self: &mut StakingInnerV1, node_id: ID) {
    let pool = self.pools.borrow(node_id);
    let stake = if (pool.is_active()) pool.stake_at_epoch(self.next_counted_epoch()) else 0;
    let index = self.active_set.find_index!(|e| e.node_id == node_id);
    if (stake < staked_wal::min_stake()) {
        index.do!(|i| { self.active_set.swap_remove(i); });
        return
    };
    let entry = ActiveSetEntry { node_id, stake };
    if (index.is_some()) {
        *&mut self.active_set[index.destroy_some()] = entry;
    } else if (self.active_set.length() < (self.max_committee_size as u64)) {
        self.active_set.push_back(entry);
    } else {
        let mut smallest = 0;
        self.active_set.length().do!(|i| if (self.active_set[i].stake < self.active_set[smallest].stake) smallest = i);
        if (stake > self.active_set[smallest].stake) *&mut self.active_set[smallest] = entry;
    }
}

fun bls_committee(self: &StakingInnerV1, committee: &Committee, epoch: u32): BlsCommittee {
    let members = committee.node_ids().map!(|id| {
        let key = *self.pools.borrow(id).node_info().public_key();
        bls_aggregate::new_bls_committee_member(key, committee.shard_count(&id), id)
    });
    bls_aggregate::new_bls_committee(epoch, members)
}

fun check_proof_of_possession(self: &StakingInnerV1, public_key: &vector<u8>, pop: &vector<u8>, ctx: &TxContext) {
    let message = messages::proof_of_possession_message(self.epoch, ctx.sender(), *public_key);
    assert!(sui::bls12381::bls12381_min_pk_verify(pop, public_key, &message), EInvalidProofOfPossession);
}

fun pool_mut(self: &mut StakingInnerV1, cap: &NodeCap): &mut StakingPool {
    self.pools.borrow_mut(cap.cap_node_id())
}

fun emit_node_updated(self: &StakingInnerV1, node_id: ID) {
    let pool = self.pools.borrow(node_id);
    let info = pool.node_info();
    events::emit_node_updated(
        self.epoch,
        node_id,
        info.name(),
        info.network_address(),
        info.public_key_bytes(),
        info.network_public_key(),
        pool.storage_price_vote(),
        pool.write_price_vote(),
        pool.node_capacity_vote(),
        pool.commission_rate(),
    );
}
