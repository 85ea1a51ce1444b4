#[test_only]
/// Rewards from storage payments to pools and operators, followed FROST by FROST.
module walrus::staking_rewards_tests;

use std::unit_test::destroy;
use sui::event;
use walrus::events;
use walrus::test_utils::{frost, register, staking_world, destroy_world, next_epoch};

const WAL: u64 = 1_000_000_000;
const MIB: u64 = 1_048_576;

#[test]
fun payments_reach_pools_by_shards_with_commission_first() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let a = register(&mut staking, 0, 1000, ctx);
    let b = register(&mut staking, 1, 0, ctx);
    let mut staked_a = staking.stake_with_pool(frost(10 * WAL, ctx), a.cap_node_id(), ctx);
    let staked_b = staking.stake_with_pool(frost(10 * WAL, ctx), b.cap_node_id(), ctx);
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(staking.committee().shard_count(&a.cap_node_id()) == 50);

    // 1000 MiB for one epoch at 2 FROST per MiB: 2000 FROST for epoch 1.
    let mut coin = frost(10_000, ctx);
    let storage = system.reserve_space(1000 * MIB, 1, &mut coin, ctx);
    assert!(coin.value() == 8_000);
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(event::events_by_type<events::RewardsDistributed>().length() == 2);

    // A: 1000 FROST, 10% commission; B: 1000 FROST, none.
    let pool_a = staking.pool(a.cap_node_id());
    assert!(pool_a.commission_amount() == 100 && pool_a.rewards_amount() == 900);
    assert!(pool_a.wal_balance() == 10 * WAL + 900 && pool_a.num_shares() == 10 * WAL);
    let rate = pool_a.exchange_rate(2);
    assert!(rate.rate_wal() == ((10 * WAL + 900) as u128) && rate.rate_shares() == ((10 * WAL) as u128));
    assert!(staking.pool(b.cap_node_id()).wal_balance() == 10 * WAL + 1000);

    // A's staker leaves: the stake counts until epoch 3, then pays principal and rewards.
    staking.request_withdraw_stake(&mut staked_a, ctx);
    assert!(staked_a.withdraw_epoch() == 3);
    next_epoch(&mut staking, &mut system, &mut clock);
    let paid = staking.withdraw_stake(staked_a, ctx);
    assert!(paid.value() == 10 * WAL + 900);
    assert!(staking.pool(a.cap_node_id()).rewards_amount() == 0);
    assert!(staking.pool(a.cap_node_id()).wal_balance() == 0);

    let commission = staking.collect_commission(&a, ctx);
    assert!(commission.value() == 100);
    assert!(staking.pool(a.cap_node_id()).commission_amount() == 0);
    assert!(event::events_by_type<events::CommissionCollected>().length() == 1);

    destroy(vector[paid, commission, coin]);
    destroy(storage);
    destroy(staked_b);
    destroy(vector[a, b]);
    destroy_world(staking, system, clock);
}

#[test]
fun commission_changes_two_epochs_later_and_leavers_stop_earning() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let a = register(&mut staking, 0, 0, ctx);
    let b = register(&mut staking, 1, 0, ctx);
    let mut staked = staking.stake_with_pool(frost(10 * WAL, ctx), a.cap_node_id(), ctx);
    let kept = staking.stake_with_pool(frost(10 * WAL, ctx), b.cap_node_id(), ctx);
    next_epoch(&mut staking, &mut system, &mut clock);
    staking.set_next_commission(&a, 5000);
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(staking.pool(a.cap_node_id()).commission_rate() == 0);
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(staking.pool(a.cap_node_id()).commission_rate() == 5000);

    // A's only staker leaves at epoch 4: A is not selected for it and earns nothing in it.
    staking.request_withdraw_stake(&mut staked, ctx);
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(!staking.committee().contains(&a.cap_node_id()));
    let paid = staking.withdraw_stake(staked, ctx);
    assert!(paid.value() == 10 * WAL);
    let mut coin = frost(1_000, ctx);
    let storage = system.reserve_space(100 * MIB, 1, &mut coin, ctx);
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(staking.pool(a.cap_node_id()).commission_amount() == 0);
    assert!(staking.pool(b.cap_node_id()).rewards_amount() == 200);
    destroy(vector[paid, coin]);
    destroy(storage);
    destroy(kept);
    destroy(vector[a, b]);
    destroy_world(staking, system, clock);
}

#[test]
fun nothing_is_burnt_and_rounding_dust_goes_to_the_next_epoch() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let caps = vector::tabulate!(3, |i| register(&mut staking, i, 0, ctx));
    caps.do_ref!(|cap| staking.set_storage_price_vote(cap, 7));
    let staked = caps.map_ref!(|cap| staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx));
    next_epoch(&mut staking, &mut system, &mut clock);
    // Shards 34, 33, 33 of 100; 143 MiB at 7 FROST: 1001 FROST for epoch 1.
    assert!(system.storage_price_per_unit_size() == 7);
    let mut coin = frost(1001, ctx);
    let storage = system.reserve_space(143 * MIB, 1, &mut coin, ctx);
    coin.destroy_zero();
    next_epoch(&mut staking, &mut system, &mut clock);
    let rewards = caps.map_ref!(|cap| staking.pool(cap.cap_node_id()).rewards_amount());
    assert!(rewards == vector[340, 330, 330]);
    assert!(system.future_accounting().ring_lookup(0).rewards() == 1);
    destroy(storage);
    destroy(staked);
    destroy(caps);
    destroy_world(staking, system, clock);
}

/// An epoch's payments go to the committee that served it, by its shards, even when the next
/// committee differs: A leaves and C joins at the change, so A and B are paid and C is not.
#[test]
fun rewards_go_to_the_committee_that_served_not_the_next_one() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let caps = vector::tabulate!(3, |i| register(&mut staking, i, 0, ctx));
    let (a, b, c) = (caps[0].cap_node_id(), caps[1].cap_node_id(), caps[2].cap_node_id());
    let mut stakes = vector[
        staking.stake_with_pool(frost(3 * WAL, ctx), a, ctx),
        staking.stake_with_pool(frost(WAL, ctx), b, ctx),
    ];
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(staking.committee().shard_count(&a) == 75 && staking.committee().shard_count(&b) == 25);

    // 1000 MiB for epoch 1 at 2 FROST per MiB.
    let mut coin = frost(2000, ctx);
    let storage = system.reserve_space(1000 * MIB, 1, &mut coin, ctx);
    coin.destroy_zero();
    // Before the selection of epoch 2's committee, A leaves and C stakes far more than B.
    staking.deregister(&caps[0]);
    stakes.push_back(staking.stake_with_pool(frost(9 * WAL, ctx), c, ctx));
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(!staking.committee().contains(&a) && staking.committee().shard_count(&c) == 90);

    assert!(staking.pool(a).rewards_amount() == 1500 && staking.pool(a).wal_balance() == 3 * WAL + 1500);
    assert!(staking.pool(b).rewards_amount() == 500);
    assert!(staking.pool(c).rewards_amount() == 0 && staking.pool(c).commission_amount() == 0);
    assert!(staking.pool(c).wal_balance() == 9 * WAL);
    let paid = event::events_by_type<events::RewardsDistributed>();
    assert!(paid.length() == 2);

    destroy(storage);
    destroy(stakes);
    destroy(caps);
    destroy_world(staking, system, clock);
}
