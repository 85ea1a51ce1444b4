#[test_only]
/// The active set and the work of an epoch change (finding 2 of issue 9): registrations are
/// free, so nothing an epoch change does may grow with the number of nodes ever registered.
module walrus::staking_active_set_tests;

use std::unit_test::destroy;
use sui::clock::Clock;
use sui::event;
use walrus::events;
use walrus::staking::Staking;
use walrus::storage_node::NodeCap;
use walrus::system::System;
use walrus::test_utils::{frost, register, max_committee_size, staking_world, destroy_world, next_epoch};

const WAL: u64 = 1_000_000_000;
/// Junk registrations, half of them with the minimum stake.
const JUNK: u64 = 2000;

fun teardown(staking: Staking, system: System, clock: Clock, caps: vector<NodeCap>) {
    destroy(caps);
    destroy_world(staking, system, clock);
}

/// Nodes that `staking` advanced into its current epoch, among `caps`.
fun advanced(staking: &Staking, caps: &vector<NodeCap>): u64 {
    let epoch = staking.epoch();
    caps.count!(|cap| staking.pool(cap.cap_node_id()).latest_epoch() == epoch)
}

/// The bound stated in README: an epoch change advances only the pools of the ending and the
/// new committee, at most `2 * max_committee_size`, however many nodes registered.
#[test]
fun thousands_of_registrations_leave_the_epoch_change_bounded() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let real = vector::tabulate!(6, |i| register(&mut staking, i, 0, ctx));
    let real_stakes = vector::tabulate!(6, |i| staking.stake_with_pool(frost((100 + i) * WAL, ctx), real[i].cap_node_id(), ctx));
    // In transactions of 100 registrations: one transaction's events could not hold them all.
    let mut scenario = sui::test_scenario::begin(@0xA);
    let mut junk = vector[];
    let mut junk_stakes = vector[];
    (JUNK / 100).do!(|_| {
        100u64.do!(|i| {
            let cap = register(&mut staking, i % 10, 0, scenario.ctx());
            if (i % 2 == 0) junk_stakes.push_back(staking.stake_with_pool(frost(WAL, scenario.ctx()), cap.cap_node_id(), scenario.ctx()));
            junk.push_back(cap);
        });
        scenario.next_tx(@0xA);
    });
    scenario.end();
    assert!(staking.active_set().length() == max_committee_size!() as u64);

    next_epoch(&mut staking, &mut system, &mut clock);
    let first = staking.committee().node_ids();
    assert!(first.length() == 4 && real.count!(|cap| first.contains(&cap.cap_node_id())) == 4);
    assert!(advanced(&staking, &junk) == 0 && advanced(&staking, &real) == 4);

    // The two smallest real nodes grow past the others: the next change advances the ending
    // committee and the new one, six pools, and no junk.
    let mut extra = vector[];
    2u64.do!(|i| extra.push_back(staking.stake_with_pool(frost(50 * WAL, ctx), real[i].cap_node_id(), ctx)));
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(advanced(&staking, &junk) == 0);
    assert!(advanced(&staking, &real) == 6 && 6 <= 2 * (max_committee_size!() as u64));
    assert!(staking.committee().contains(&real[0].cap_node_id()) && staking.committee().contains(&real[1].cap_node_id()));
    assert!(event::events_by_type<events::RewardsDistributed>().length() <= 2 * (max_committee_size!() as u64));

    destroy(vector[real_stakes, junk_stakes, extra]);
    destroy(junk);
    teardown(staking, system, clock, real);
}

#[test]
fun a_full_active_set_admits_a_larger_stake_in_place_of_the_smallest() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, system, clock) = staking_world(ctx);
    let caps = vector::tabulate!(6, |i| register(&mut staking, i, 0, ctx));
    let mut stakes = vector::tabulate!(4, |i| staking.stake_with_pool(frost((10 + i) * WAL, ctx), caps[i].cap_node_id(), ctx));
    // Smaller than every member: stays out.
    stakes.push_back(staking.stake_with_pool(frost(5 * WAL, ctx), caps[4].cap_node_id(), ctx));
    assert!(!staking.active_set().contains(&caps[4].cap_node_id()));
    // Larger than the smallest member (10 WAL): takes its place.
    stakes.push_back(staking.stake_with_pool(frost(11 * WAL, ctx), caps[5].cap_node_id(), ctx));
    let set = staking.active_set();
    assert!(set.length() == 4 && set.contains(&caps[5].cap_node_id()) && !set.contains(&caps[0].cap_node_id()));
    destroy(stakes);
    teardown(staking, system, clock, caps);
}

#[test]
fun leaving_nodes_free_their_place_and_others_can_be_offered_again() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, system, clock) = staking_world(ctx);
    let caps = vector::tabulate!(5, |i| register(&mut staking, i, 0, ctx));
    let mut stakes = vector::tabulate!(4, |i| staking.stake_with_pool(frost(10 * WAL, ctx), caps[i].cap_node_id(), ctx));
    stakes.push_back(staking.stake_with_pool(frost(5 * WAL, ctx), caps[4].cap_node_id(), ctx));
    assert!(!staking.active_set().contains(&caps[4].cap_node_id()));
    // A deregistered node leaves the set; the one left out gets in when offered again.
    staking.deregister(&caps[0]);
    assert!(staking.active_set().length() == 3 && !staking.active_set().contains(&caps[0].cap_node_id()));
    staking.try_join_active_set(caps[4].cap_node_id());
    assert!(staking.active_set().length() == 4 && staking.active_set().contains(&caps[4].cap_node_id()));
    // Stake that leaves before counting takes the node out below the minimum.
    let staked = stakes.pop_back();
    destroy(staking.withdraw_stake(staked, ctx));
    assert!(!staking.active_set().contains(&caps[4].cap_node_id()));
    // A deregistered node cannot be offered again.
    staking.try_join_active_set(caps[0].cap_node_id());
    assert!(!staking.active_set().contains(&caps[0].cap_node_id()));
    destroy(stakes);
    teardown(staking, system, clock, caps);
}

/// A pool outside every committee is not advanced; when touched it catches up, recording rates
/// only where its stake changed, and its stakers are paid exactly.
#[test]
fun an_idle_pool_catches_up_when_touched() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let caps = vector::tabulate!(5, |i| register(&mut staking, i, 0, ctx));
    let stakes = vector::tabulate!(4, |i| staking.stake_with_pool(frost(10 * WAL, ctx), caps[i].cap_node_id(), ctx));
    let idle = caps[4].cap_node_id();
    let mut small = staking.stake_with_pool(frost(2 * WAL, ctx), idle, ctx);
    5u64.do!(|_| next_epoch(&mut staking, &mut system, &mut clock));
    assert!(staking.pool(idle).latest_epoch() == 0 && staking.pool(idle).stake_at_epoch(6) == 2 * WAL);
    // Touching it brings it to the current epoch through the one epoch where stake joined.
    staking.request_withdraw_stake(&mut small, ctx);
    let pool = staking.pool(idle);
    assert!(pool.latest_epoch() == 5 && pool.wal_balance() == 2 * WAL && pool.num_shares() == 2 * WAL);
    assert!(small.withdraw_epoch() == 6);
    next_epoch(&mut staking, &mut system, &mut clock);
    let paid = staking.withdraw_stake(small, ctx);
    assert!(paid.value() == 2 * WAL && staking.pool(idle).wal_balance() == 0);
    destroy(vector[stakes]);
    destroy(paid);
    teardown(staking, system, clock, caps);
}

/// Every change an idle pool can be given brings it up to date first, so the epochs it must
/// catch up on stay within two of its last touch (what bounds an epoch change's work).
#[test]
fun setting_commission_brings_an_idle_pool_up_to_date() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let caps = vector::tabulate!(5, |i| register(&mut staking, i, 0, ctx));
    let stakes = vector::tabulate!(5, |i| staking.stake_with_pool(frost((10 - i) * WAL, ctx), caps[i].cap_node_id(), ctx));
    let idle = caps[4].cap_node_id();
    3u64.do!(|k| {
        next_epoch(&mut staking, &mut system, &mut clock);
        staking.set_next_commission(&caps[4], (k as u16) + 1);
        assert!(staking.pool(idle).latest_epoch() == staking.epoch());
    });
    // The rate set in epoch 1 for epoch 3 applied when the pool caught up to epoch 3.
    assert!(staking.pool(idle).commission_rate() == 1);
    destroy(stakes);
    teardown(staking, system, clock, caps);
}
