#[test_only]
/// When stake may leave: never while a selected committee counts it (finding 1 of issue 9:
/// stake, select, withdraw in one transaction used to leave the shards without any stake).
module walrus::staking_withdrawal_tests;

use std::unit_test::destroy;
use walrus::staked_wal;
use walrus::staking_pool;
use walrus::test_utils::{frost, register, staking_world, destroy_world, select_committee, start_epoch};

const WAL: u64 = 1_000_000_000;

/// The attack: stake, select the committee (permissionless), withdraw in the same transaction.
#[test, expected_failure(abort_code = staking_pool::ECountedStakeLocked)]
fun stake_counted_by_the_selected_committee_cannot_be_withdrawn_at_once() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let staked = staking.stake_with_pool(frost(1_000_000 * WAL, ctx), cap.cap_node_id(), ctx);
    select_committee(&mut staking, &mut clock);
    assert!(staking.next_committee().borrow().shard_count(&cap.cap_node_id()) == 100);
    destroy(staking.withdraw_stake(staked, ctx));
    abort
}

/// The same one epoch later: stake made after a selection is counted by the next one.
#[test, expected_failure(abort_code = staking_pool::ECountedStakeLocked)]
fun stake_counted_by_the_committee_after_next_is_locked_once_that_is_selected() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let anchor = staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx);
    select_committee(&mut staking, &mut clock);
    let late = staking.stake_with_pool(frost(5 * WAL, ctx), cap.cap_node_id(), ctx);
    assert!(late.activation_epoch() == 2);
    start_epoch(&mut staking, &mut system, &mut clock);
    select_committee(&mut staking, &mut clock);
    destroy(anchor);
    destroy(staking.withdraw_stake(late, ctx));
    abort
}

#[test]
fun counted_stake_requested_before_activation_leaves_after_its_committee_served() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let node = cap.cap_node_id();
    let anchor = staking.stake_with_pool(frost(WAL, ctx), node, ctx);
    let mut staked = staking.stake_with_pool(frost(4 * WAL, ctx), node, ctx);
    select_committee(&mut staking, &mut clock);
    staking.request_withdraw_stake(&mut staked, ctx);
    assert!(staked.withdraw_epoch() == 2);
    // Still counted for epoch 1, no longer for epoch 2.
    assert!(staking.pool(node).stake_at_epoch(1) == 5 * WAL);
    assert!(staking.pool(node).stake_at_epoch(2) == WAL);
    start_epoch(&mut staking, &mut system, &mut clock);
    assert!(staking.pool(node).wal_balance() == 5 * WAL);
    select_committee(&mut staking, &mut clock);
    start_epoch(&mut staking, &mut system, &mut clock);
    assert!(staking.pool(node).wal_balance() == WAL && staking.pool(node).num_shares() == WAL);
    let paid = staking.withdraw_stake(staked, ctx);
    assert!(paid.value() == 4 * WAL);
    destroy(vector[anchor]);
    destroy(paid);
    destroy(cap);
    destroy_world(staking, system, clock);
}

#[test, expected_failure(abort_code = staking_pool::EWithdrawEpochNotReached)]
fun counted_stake_requested_before_activation_cannot_leave_during_its_epoch() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let mut staked = staking.stake_with_pool(frost(4 * WAL, ctx), cap.cap_node_id(), ctx);
    select_committee(&mut staking, &mut clock);
    staking.request_withdraw_stake(&mut staked, ctx);
    start_epoch(&mut staking, &mut system, &mut clock);
    destroy(staking.withdraw_stake(staked, ctx));
    abort
}

#[test]
fun stake_that_no_selected_committee_counts_leaves_directly() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, system, mut clock) = staking_world(ctx);
    // Committees hold at most 4 nodes: the fifth, smallest, is not selected.
    let caps = vector::tabulate!(5, |i| register(&mut staking, i, 0, ctx));
    let anchors = vector::tabulate!(4, |i| staking.stake_with_pool(frost(10 * WAL, ctx), caps[i].cap_node_id(), ctx));
    let outsider = staking.stake_with_pool(frost(WAL, ctx), caps[4].cap_node_id(), ctx);
    select_committee(&mut staking, &mut clock);
    assert!(!staking.next_committee().borrow().contains(&caps[4].cap_node_id()));
    let paid = staking.withdraw_stake(outsider, ctx);
    assert!(paid.value() == WAL);
    // Stake made after the selection counts only for the one after: it may leave too.
    let late = staking.stake_with_pool(frost(2 * WAL, ctx), caps[0].cap_node_id(), ctx);
    assert!(late.activation_epoch() == 2);
    let paid_late = staking.withdraw_stake(late, ctx);
    assert!(paid_late.value() == 2 * WAL);
    assert!(staking.pool(caps[0].cap_node_id()).stake_at_epoch(2) == 10 * WAL);
    destroy(vector[paid, paid_late]);
    destroy(anchors);
    destroy(caps);
    destroy_world(staking, system, clock);
}

/// Stake made after the selection counts for no selected committee: it is withdrawn
/// directly, not requested.
#[test, expected_failure(abort_code = staking_pool::EWithdrawDirectly)]
fun requesting_withdrawal_of_stake_no_committee_counts_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let anchor = staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx);
    select_committee(&mut staking, &mut clock);
    let mut late = staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx);
    staking.request_withdraw_stake(&mut late, ctx);
    destroy(anchor);
    abort
}

#[test, expected_failure(abort_code = staked_wal::ENotWithdrawing)]
fun a_staked_stake_has_no_withdraw_epoch() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let staked = staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx);
    staked.withdraw_epoch();
    abort
}
