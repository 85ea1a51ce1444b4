/// One storage node's staking pool. Stakers' principal stays in their `StakedWal` objects;
/// the pool counts shares. At each epoch change the pool takes the rewards its node earned,
/// sets the operator's commission aside, adds the rest to the pool's WAL, and records the
/// exchange rate (WAL per share) for the new epoch, so that rewards compound for everyone
/// without touching any stake. A stake is converted to shares at the rate of its activation
/// epoch and back at the rate of its withdrawal epoch; the difference is its reward.
///
/// Only pools of a committee advance at every epoch change; any other pool catches up when it
/// is next touched (`catch_up`), recording a rate only for the epochs where its stake changed,
/// so an epoch change never has to touch every pool ever registered.
module walrus::staking_pool;

use std::string::String;
use sui::balance::{Self, Balance};
use sui::table::{Self, Table};
use sui::vec_map::{Self, VecMap};
use wal::wal::WAL;
use walrus::staked_wal::{Self, StakedWal};
use walrus::storage_node::{Self, NodeInfo};

const N_BASIS_POINTS: u16 = 10_000;

#[error]
const EIncorrectCommissionRate: vector<u8> = b"The commission rate must be at most 10000 basis points";
#[error]
const EPoolNotActive: vector<u8> = b"The node has deregistered: it takes no new stake";
#[error]
const EWithdrawDirectly: vector<u8> = b"The stake is not active yet: withdraw it directly";
#[error]
const ENotWithdrawing: vector<u8> = b"Request the withdrawal first";
#[error]
const EWithdrawEpochNotReached: vector<u8> = b"The withdrawal epoch has not been reached";
#[error]
const EWrongEpoch: vector<u8> = b"The pool can only advance to the epoch after its latest";
#[error]
const ECountedStakeLocked: vector<u8> =
    b"The stake is counted by the selected committee: request its withdrawal and wait for that committee's epoch to end";

public enum PoolState has copy, drop, store {
    Active,
    /// The node left in the given epoch; it will not be selected again.
    Deregistered { epoch: u32 },
}

/// The node's votes, aggregated over the committee into the system's prices and capacity.
public struct VotingParams has copy, drop, store {
    storage_price: u64,
    write_price: u64,
    node_capacity: u64,
}

/// WAL and shares of the pool when an epoch began; 1:1 while either is zero.
public struct ExchangeRate has copy, drop, store {
    wal: u128,
    shares: u128,
}

public struct StakingPool has key, store {
    /// Also the node's ID.
    id: UID,
    state: PoolState,
    node_info: NodeInfo,
    voting_params: VotingParams,
    /// Basis points of each reward that go to the operator.
    commission_rate: u16,
    /// Rates set for later epochs, applied when the pool reaches them.
    pending_commission_rate: VecMap<u32, u16>,
    /// Active principal plus compounded rewards: what all shares are worth.
    wal_balance: u64,
    num_shares: u64,
    /// WAL becoming active at an epoch.
    pending_stake: VecMap<u32, u64>,
    /// Shares leaving at an epoch.
    pending_withdraw_shares: VecMap<u32, u64>,
    /// Principal leaving at an epoch that became active only the epoch before (requested
    /// before it was active, so its shares were not known yet).
    pre_active_withdrawals: VecMap<u32, u64>,
    exchange_rates: Table<u32, ExchangeRate>,
    /// Rewards owed to stakers, paid out on withdrawal.
    rewards_pool: Balance<WAL>,
    commission: Balance<WAL>,
    latest_epoch: u32,
}

public(package) fun new(
    name: String,
    network_address: String,
    public_key: vector<u8>,
    network_public_key: vector<u8>,
    commission_rate: u16,
    storage_price: u64,
    write_price: u64,
    node_capacity: u64,
    current_epoch: u32,
    ctx: &mut TxContext,
): StakingPool {
    assert!(commission_rate <= N_BASIS_POINTS, EIncorrectCommissionRate);
    let id = object::new(ctx);
    let node_info = storage_node::new(name, id.to_inner(), network_address, public_key, network_public_key);
    StakingPool {
        id,
        state: PoolState::Active,
        node_info,
        voting_params: VotingParams { storage_price, write_price, node_capacity },
        commission_rate,
        pending_commission_rate: vec_map::empty(),
        wal_balance: 0,
        num_shares: 0,
        pending_stake: vec_map::empty(),
        pending_withdraw_shares: vec_map::empty(),
        pre_active_withdrawals: vec_map::empty(),
        exchange_rates: table::new(ctx),
        rewards_pool: balance::zero(),
        commission: balance::zero(),
        latest_epoch: current_epoch,
    }
}

// === Staking ===

/// Stakes `principal`, counted from `activation_epoch`.
public(package) fun stake(
    self: &mut StakingPool,
    principal: Balance<WAL>,
    activation_epoch: u32,
    ctx: &mut TxContext,
): StakedWal {
    assert!(self.is_active(), EPoolNotActive);
    add_to(&mut self.pending_stake, activation_epoch, principal.value());
    staked_wal::mint(self.node_id(), principal, activation_epoch, ctx)
}

/// Marks a stake of this pool as leaving at `withdraw_epoch`; it earns until then. A stake that
/// is not active yet may only be requested if it activates at `current_epoch + 1` (a selected
/// committee counts it); it then leaves one epoch after it activates.
public(package) fun request_withdraw(self: &mut StakingPool, staked: &mut StakedWal, current_epoch: u32, withdraw_epoch: u32) {
    self.catch_up(current_epoch);
    let activation = staked.activation_epoch();
    if (activation <= current_epoch) {
        let shares = self.shares_of(staked);
        add_to(&mut self.pending_withdraw_shares, withdraw_epoch, shares);
        staked.set_withdrawing(withdraw_epoch);
    } else {
        assert!(activation == current_epoch + 1 && withdraw_epoch == activation + 1, EWithdrawDirectly);
        add_to(&mut self.pre_active_withdrawals, withdraw_epoch, staked.value());
        staked.set_withdrawing(withdraw_epoch);
    }
}

/// Pays out a stake: the principal alone if no selected committee counts it (`counted_until`
/// is the epoch of the latest selected committee that includes this node, if any), else what
/// its shares are worth at its withdrawal epoch. Returns the payout.
public(package) fun withdraw(
    self: &mut StakingPool,
    staked: StakedWal,
    current_epoch: u32,
    counted_until: Option<u32>,
): Balance<WAL> {
    self.catch_up(current_epoch);
    let activation = staked.activation_epoch();
    if (staked.is_staked() && activation > current_epoch) {
        // Stake a selected committee counts must stay until that committee has served.
        assert!(!counted_until.is_some_and!(|until| activation <= *until), ECountedStakeLocked);
        subtract_from(&mut self.pending_stake, activation, staked.value());
        return staked.into_balance()
    };
    assert!(staked.is_withdrawing(), ENotWithdrawing);
    let withdraw_epoch = staked.withdraw_epoch();
    assert!(withdraw_epoch <= current_epoch, EWithdrawEpochNotReached);
    let value = self.exchange_rate(withdraw_epoch).to_wal(self.shares_of(&staked));
    let principal = staked.value();
    let mut payout = staked.into_balance();
    if (value >= principal) {
        payout.join(self.rewards_pool.split(value - principal));
    } else {
        // Rounding made the shares worth a few FROST less than the principal; the pool's
        // balance still counts those FROST, so they stay with the pool rather than being
        // taken from other stakers' rewards.
        self.rewards_pool.join(payout.split(principal - value));
    };
    payout
}

/// Moves the pool into `new_epoch` with the rewards its node earned in the epoch that ended.
/// Returns the commission taken from them.
public(package) fun advance_epoch(self: &mut StakingPool, new_epoch: u32, mut reward: Balance<WAL>): u64 {
    assert!(new_epoch == self.latest_epoch + 1, EWrongEpoch);
    // Nobody to compound for: all of it is the operator's.
    let commission = if (self.num_shares == 0) reward.value()
    else ((reward.value() as u128) * (self.commission_rate as u128) / (N_BASIS_POINTS as u128)) as u64;
    self.commission.join(reward.split(commission));
    self.wal_balance = self.wal_balance + reward.value();
    self.rewards_pool.join(reward);
    self.enter(new_epoch);
    commission
}

/// Brings a pool that was in no committee (so earned nothing) up to `epoch`, entering only the
/// epochs where something was due and `epoch` itself: the work is bounded by the pending
/// changes (all within two epochs of the pool's last touch), not by how long it sat idle.
public(package) fun catch_up(self: &mut StakingPool, epoch: u32) {
    while (self.latest_epoch < epoch) {
        let next = self.next_due_epoch().filter!(|e| *e < epoch).destroy_or!(epoch);
        self.enter(next);
    }
}

/// Records the rate the pool has when it enters `epoch` and applies what is due then.
fun enter(self: &mut StakingPool, epoch: u32) {
    if (self.pending_commission_rate.contains(&epoch)) {
        let (_, rate) = self.pending_commission_rate.remove(&epoch);
        self.commission_rate = rate;
    };
    let rate = ExchangeRate { wal: self.wal_balance as u128, shares: self.num_shares as u128 };
    self.exchange_rates.add(epoch, rate);
    let mut leaving = take(&mut self.pending_withdraw_shares, epoch);
    let pre_active = take(&mut self.pre_active_withdrawals, epoch);
    // Stake requested before it was active became active the epoch before.
    if (pre_active > 0) leaving = leaving + self.exchange_rate(epoch - 1).to_shares(pre_active);
    self.wal_balance = self.wal_balance - rate.to_wal(leaving);
    self.num_shares = self.num_shares - leaving;
    let joining = take(&mut self.pending_stake, epoch);
    self.wal_balance = self.wal_balance + joining;
    self.num_shares = self.num_shares + rate.to_shares(joining);
    self.latest_epoch = epoch;
}

/// The earliest epoch at which a stake or commission change is pending.
fun next_due_epoch(self: &StakingPool): Option<u32> {
    let mut keys = self.pending_stake.keys();
    keys.append(self.pending_withdraw_shares.keys());
    keys.append(self.pre_active_withdrawals.keys());
    keys.append(self.pending_commission_rate.keys());
    let mut earliest = option::none();
    keys.do!(|e| if (!earliest.is_some_and!(|min| *min <= e)) earliest = option::some(e));
    earliest
}

// === Operator ===

/// Sets the commission rate that applies from `epoch` on.
public(package) fun set_next_commission(self: &mut StakingPool, rate: u16, epoch: u32) {
    assert!(rate <= N_BASIS_POINTS, EIncorrectCommissionRate);
    if (self.pending_commission_rate.contains(&epoch)) {
        self.pending_commission_rate.remove(&epoch);
    };
    self.pending_commission_rate.insert(epoch, rate);
}

public(package) fun collect_commission(self: &mut StakingPool): Balance<WAL> {
    self.commission.withdraw_all()
}

public(package) fun set_storage_price_vote(self: &mut StakingPool, price: u64) {
    self.voting_params.storage_price = price;
}

public(package) fun set_write_price_vote(self: &mut StakingPool, price: u64) {
    self.voting_params.write_price = price;
}

public(package) fun set_node_capacity_vote(self: &mut StakingPool, capacity: u64) {
    self.voting_params.node_capacity = capacity;
}

public(package) fun node_info_mut(self: &mut StakingPool): &mut NodeInfo { &mut self.node_info }

public(package) fun deregister(self: &mut StakingPool, epoch: u32) {
    assert!(self.is_active(), EPoolNotActive);
    self.state = PoolState::Deregistered { epoch };
}

// === Reads ===

public fun node_id(self: &StakingPool): ID { self.id.to_inner() }

public fun node_info(self: &StakingPool): &NodeInfo { &self.node_info }

public fun is_active(self: &StakingPool): bool { self.state == PoolState::Active }

public fun commission_rate(self: &StakingPool): u16 { self.commission_rate }

public fun commission_amount(self: &StakingPool): u64 { self.commission.value() }

public fun rewards_amount(self: &StakingPool): u64 { self.rewards_pool.value() }

public fun wal_balance(self: &StakingPool): u64 { self.wal_balance }

public fun num_shares(self: &StakingPool): u64 { self.num_shares }

public fun latest_epoch(self: &StakingPool): u32 { self.latest_epoch }

public fun storage_price_vote(self: &StakingPool): u64 { self.voting_params.storage_price }

public fun write_price_vote(self: &StakingPool): u64 { self.voting_params.write_price }

public fun node_capacity_vote(self: &StakingPool): u64 { self.voting_params.node_capacity }

/// The exchange rate recorded when the pool entered `epoch`.
public fun exchange_rate(self: &StakingPool, epoch: u32): ExchangeRate { *self.exchange_rates.borrow(epoch) }

public fun rate_wal(self: &ExchangeRate): u128 { self.wal }

public fun rate_shares(self: &ExchangeRate): u128 { self.shares }

/// WAL the pool expects to have staked in `epoch`: active stake, plus stake activating by
/// then, minus withdrawals due by then (valued at today's rate; stake leaving right after it
/// activates at its principal).
public fun stake_at_epoch(self: &StakingPool, epoch: u32): u64 {
    let rate = ExchangeRate { wal: self.wal_balance as u128, shares: self.num_shares as u128 };
    let mut stake = self.wal_balance;
    self.pending_stake.length().do!(|i| {
        let (e, amount) = self.pending_stake.get_entry_by_idx(i);
        if (*e <= epoch) stake = stake + *amount;
    });
    self.pending_withdraw_shares.length().do!(|i| {
        let (e, shares) = self.pending_withdraw_shares.get_entry_by_idx(i);
        if (*e <= epoch) stake = stake - rate.to_wal(*shares).min(stake);
    });
    self.pre_active_withdrawals.length().do!(|i| {
        let (e, principal) = self.pre_active_withdrawals.get_entry_by_idx(i);
        if (*e <= epoch) stake = stake - (*principal).min(stake);
    });
    stake
}

/// What `staked` would be paid if withdrawn at the rate of `epoch`: its principal while it is
/// not active yet, else what its shares are worth.
public fun value_at_epoch(self: &StakingPool, staked: &StakedWal, epoch: u32): u64 {
    if (staked.activation_epoch() > epoch) return staked.value();
    self.exchange_rate(epoch).to_wal(self.shares_of(staked))
}

fun shares_of(self: &StakingPool, staked: &StakedWal): u64 {
    self.exchange_rate(staked.activation_epoch()).to_shares(staked.value())
}

fun to_shares(self: &ExchangeRate, wal: u64): u64 {
    if (self.wal == 0 || self.shares == 0) wal else ((wal as u128) * self.shares / self.wal) as u64
}

fun to_wal(self: &ExchangeRate, shares: u64): u64 {
    if (self.wal == 0 || self.shares == 0) shares else ((shares as u128) * self.wal / self.shares) as u64
}

fun add_to(map: &mut VecMap<u32, u64>, epoch: u32, amount: u64) {
    if (map.contains(&epoch)) {
        let value = map.get_mut(&epoch);
        *value = *value + amount;
    } else map.insert(epoch, amount);
}

/// Removes and returns the amount at `epoch` (zero if none).
fun take(map: &mut VecMap<u32, u64>, epoch: u32): u64 {
    if (!map.contains(&epoch)) return 0;
    let (_, amount) = map.remove(&epoch);
    amount
}

fun subtract_from(map: &mut VecMap<u32, u64>, epoch: u32, amount: u64) {
    let value = map.get_mut(&epoch);
    *value = *value - amount;
    if (*value == 0) {
        map.remove(&epoch);
    };
}
