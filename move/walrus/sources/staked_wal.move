/// `StakedWal`: WAL staked with one storage node's pool, owned by the staker. The principal
/// stays inside the object; rewards are paid from the pool on withdrawal. Fields follow
/// Walrus's `StakedWal`, in order.
module walrus::staked_wal;

use sui::balance::Balance;
use wal::wal::WAL;

/// Every staked object holds at least 1 WAL, so dust cannot clutter pools.
const MIN_STAKE: u64 = 1_000_000_000;

#[error]
const EStakeBelowThreshold: vector<u8> = b"A stake must hold at least 1 WAL";
#[error]
const EMetadataMismatch: vector<u8> = b"Only stakes with the same node, activation epoch and state can be joined";
#[error]
const ENotWithdrawing: vector<u8> = b"The stake is not being withdrawn: it has no withdrawal epoch";
#[error]
const ENotStaked: vector<u8> = b"A stake being withdrawn cannot be split or requested again";

public enum StakedWalState has copy, drop, store {
    Staked,
    Withdrawing { withdraw_epoch: u32 },
}

public struct StakedWal has key, store {
    id: UID,
    state: StakedWalState,
    node_id: ID,
    principal: Balance<WAL>,
    activation_epoch: u32,
}

public(package) fun mint(node_id: ID, principal: Balance<WAL>, activation_epoch: u32, ctx: &mut TxContext): StakedWal {
    assert!(principal.value() >= MIN_STAKE, EStakeBelowThreshold);
    StakedWal { id: object::new(ctx), state: StakedWalState::Staked, node_id, principal, activation_epoch }
}

/// The least a stake may hold, in FROST.
public fun min_stake(): u64 { MIN_STAKE }

public fun node_id(self: &StakedWal): ID { self.node_id }

public fun value(self: &StakedWal): u64 { self.principal.value() }

public fun activation_epoch(self: &StakedWal): u32 { self.activation_epoch }

public fun is_staked(self: &StakedWal): bool { self.state == StakedWalState::Staked }

public fun is_withdrawing(self: &StakedWal): bool { !self.is_staked() }

/// The epoch from which a withdrawing stake can be withdrawn; aborts while it is staked
/// (Walrus's signature).
public fun withdraw_epoch(self: &StakedWal): u32 {
    match (self.state) {
        StakedWalState::Staked => abort ENotWithdrawing,
        StakedWalState::Withdrawing { withdraw_epoch } => withdraw_epoch,
    }
}

/// Splits `amount` off into a new stake; both parts must keep at least 1 WAL.
public fun split(self: &mut StakedWal, amount: u64, ctx: &mut TxContext): StakedWal {
    assert!(self.is_staked(), ENotStaked);
    assert!(amount >= MIN_STAKE && self.principal.value() - amount >= MIN_STAKE, EStakeBelowThreshold);
    StakedWal {
        id: object::new(ctx),
        state: self.state,
        node_id: self.node_id,
        principal: self.principal.split(amount),
        activation_epoch: self.activation_epoch,
    }
}

/// Joins `other` into `self`: same node, same activation epoch, same state.
public fun join(self: &mut StakedWal, other: StakedWal) {
    assert!(
        self.node_id == other.node_id && self.activation_epoch == other.activation_epoch && self.state == other.state,
        EMetadataMismatch,
    );
    let StakedWal { id, principal, .. } = other;
    id.delete();
    self.principal.join(principal);
}

public(package) fun set_withdrawing(self: &mut StakedWal, withdraw_epoch: u32) {
    assert!(self.is_staked(), ENotStaked);
    self.state = StakedWalState::Withdrawing { withdraw_epoch };
}

/// Destroys the object, returning its principal.
public(package) fun into_balance(self: StakedWal): Balance<WAL> {
    let StakedWal { id, principal, .. } = self;
    id.delete();
    principal
}
