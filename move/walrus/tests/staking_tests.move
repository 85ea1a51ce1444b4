#[test_only]
module walrus::staking_tests;

use sui::clock::{Self, Clock};
use sui::event;
use std::unit_test::destroy;
use walrus::events;
use walrus::staked_wal;
use walrus::staking::Staking;
use walrus::staking_inner;
use walrus::staking_pool;
use walrus::storage_node::{Self, NodeCap};
use walrus::test_utils::{frost, register, n_shards, signature, bls_key, network_key, staking_world, destroy_world, next_epoch};

const WAL: u64 = 1_000_000_000;

/// Every node of the current committee reports its shards.
fun sync_all(staking: &mut Staking, caps: &mut vector<NodeCap>, clock: &Clock) {
    let epoch = staking.epoch();
    caps.length().do!(|i| {
        if (staking.committee().contains(&caps[i].cap_node_id())) staking.epoch_sync_done(&mut caps[i], epoch, clock);
    });
}

// === Registration and updates ===

#[test]
fun register_creates_a_pool_whose_id_is_the_node_id() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, system, clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 500, ctx);
    let pool = staking.pool(cap.cap_node_id());
    assert!(pool.node_id() == cap.cap_node_id() && pool.is_active());
    assert!(pool.commission_rate() == 500 && pool.storage_price_vote() == 2 && pool.write_price_vote() == 3);
    assert!(pool.node_info().name() == b"node".to_string());
    assert!(pool.node_info().network_public_key() == network_key());
    // Registration alone does not make a candidate: stake does.
    assert!(staking.active_set().is_empty());
    assert!(event::events_by_type<events::NodeRegistered>().length() == 1);
    destroy(cap);
    destroy_world(staking, system, clock);
}

#[test]
fun operator_updates_are_applied_and_announced() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, system, clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 500, ctx);
    staking.set_name(&cap, b"renamed".to_string());
    staking.set_network_address(&cap, b"10.0.0.1:9185".to_string());
    staking.set_network_public_key(&cap, vector::tabulate!(33, |_| 7));
    staking.set_public_key(&cap, bls_key(1), signature!(), ctx);
    staking.set_storage_price_vote(&cap, 11);
    staking.set_write_price_vote(&cap, 12);
    staking.set_node_capacity_vote(&cap, 13);
    staking.set_next_commission(&cap, 900);
    let pool = staking.pool(cap.cap_node_id());
    assert!(pool.node_info().name() == b"renamed".to_string());
    assert!(pool.node_info().network_address() == b"10.0.0.1:9185".to_string());
    assert!(pool.node_info().network_public_key() == vector::tabulate!(33, |_| 7));
    // The bytes as given, for the events committee followers read keys from.
    assert!(pool.node_info().public_key_bytes() == bls_key(1));
    assert!(pool.storage_price_vote() == 11 && pool.write_price_vote() == 12 && pool.node_capacity_vote() == 13);
    assert!(pool.commission_rate() == 500);
    assert!(event::events_by_type<events::NodeUpdated>().length() == 8);
    destroy(cap);
    destroy_world(staking, system, clock);
}

#[test, expected_failure(abort_code = staking_pool::EIncorrectCommissionRate)]
fun commission_above_100_percent_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    destroy(register(&mut staking, 0, 10_001, ctx));
    abort
}

#[test, expected_failure(abort_code = staking_pool::EIncorrectCommissionRate)]
fun next_commission_above_100_percent_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    staking.set_next_commission(&cap, 10_001);
    abort
}

#[test, expected_failure(abort_code = storage_node::EInvalidNameLength)]
fun empty_name_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    staking.set_name(&cap, b"".to_string());
    abort
}

#[test, expected_failure(abort_code = storage_node::EInvalidNameLength)]
fun name_over_100_bytes_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    staking.set_name(&cap, vector::tabulate!(101, |_| 97u8).to_string());
    abort
}

#[test, expected_failure(abort_code = storage_node::EInvalidNetworkAddressLength)]
fun network_address_over_259_bytes_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    staking.set_network_address(&cap, vector::tabulate!(260, |_| 97u8).to_string());
    abort
}

#[test, expected_failure(abort_code = storage_node::EInvalidNetworkPublicKey)]
fun network_key_of_wrong_length_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    staking.set_network_public_key(&cap, vector[1, 2, 3]);
    abort
}

#[test, expected_failure(abort_code = storage_node::EInvalidPublicKey)]
fun bls_key_of_wrong_length_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    staking.set_public_key(&cap, vector[1, 2, 3], signature!(), ctx);
    abort
}

#[test, expected_failure(abort_code = walrus::staking::EWrongVersion)]
fun old_package_is_locked_out_of_staking() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    staking.set_version_for_testing(2);
    staking.epoch();
    abort
}

#[test, expected_failure(abort_code = staking_inner::EInvalidParameters)]
fun zero_epoch_duration_is_refused() {
    let ctx = &mut tx_context::dummy();
    destroy(walrus::staking::new_for_testing(4, 0, 1000, 4, ctx));
}

/// Fewer than 4 shards would let every blob registration abort forever (the encoding needs
/// f >= 1), so deployment refuses them.
#[test, expected_failure(abort_code = staking_inner::ETooFewShards)]
fun deploying_with_three_shards_is_refused() {
    let mut scenario = sui::test_scenario::begin(@0xA);
    walrus::init::init_for_testing(scenario.ctx());
    scenario.next_tx(@0xA);
    let cap = scenario.take_from_sender<walrus::init::InitCap>();
    let clock = clock::create_for_testing(scenario.ctx());
    walrus::init::initialize_walrus(cap, 3, 500, 1000, 53, 50, &clock, scenario.ctx());
    abort
}

// === Staking ===

#[test]
fun stake_activates_next_epoch_or_the_one_after_once_the_committee_is_chosen() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let node = cap.cap_node_id();
    let early = staking.stake_with_pool(frost(5 * WAL, ctx), node, ctx);
    assert!(early.activation_epoch() == 1 && early.value() == 5 * WAL && early.node_id() == node);
    clock.set_for_testing(500);
    staking.voting_end(&clock);
    let late = staking.stake_with_pool(frost(2 * WAL, ctx), node, ctx);
    assert!(late.activation_epoch() == 2);
    assert!(event::events_by_type<events::StakeDeposited>().length() == 2);
    clock.set_for_testing(1000);
    staking.initiate_epoch_change(&mut system, &clock);
    assert!(staking.pool(node).wal_balance() == 5 * WAL);
    assert!(staking.pool(node).stake_at_epoch(2) == 7 * WAL);
    assert!(staking.pool(node).latest_epoch() == 1);
    assert!(staking.pool(node).value_at_epoch(&early, 1) == 5 * WAL);
    assert!(staking.pool(node).value_at_epoch(&late, 1) == 2 * WAL);
    destroy(early);
    destroy(late);
    destroy(cap);
    destroy_world(staking, system, clock);
}

#[test, expected_failure(abort_code = staked_wal::EStakeBelowThreshold)]
fun stake_below_one_wal_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    destroy(staking.stake_with_pool(frost(WAL - 1, ctx), cap.cap_node_id(), ctx));
    abort
}

#[test]
fun stake_that_never_became_active_is_returned_directly() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, system, clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let staked = staking.stake_with_pool(frost(3 * WAL, ctx), cap.cap_node_id(), ctx);
    let coin = staking.withdraw_stake(staked, ctx);
    assert!(coin.value() == 3 * WAL);
    assert!(staking.pool(cap.cap_node_id()).stake_at_epoch(1) == 0);
    assert!(event::events_by_type<events::StakeWithdrawn>().length() == 1);
    destroy(coin);
    destroy(cap);
    destroy_world(staking, system, clock);
}

#[test, expected_failure(abort_code = staking_pool::EWithdrawDirectly)]
fun requesting_withdrawal_of_inactive_stake_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let mut staked = staking.stake_with_pool(frost(3 * WAL, ctx), cap.cap_node_id(), ctx);
    staking.request_withdraw_stake(&mut staked, ctx);
    abort
}

#[test, expected_failure(abort_code = staking_pool::ENotWithdrawing)]
fun withdrawing_active_stake_without_request_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let staked = staking.stake_with_pool(frost(3 * WAL, ctx), cap.cap_node_id(), ctx);
    next_epoch(&mut staking, &mut system, &mut clock);
    destroy(staking.withdraw_stake(staked, ctx));
    abort
}

#[test, expected_failure(abort_code = staking_pool::EWithdrawEpochNotReached)]
fun withdrawing_before_the_withdraw_epoch_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let mut staked = staking.stake_with_pool(frost(3 * WAL, ctx), cap.cap_node_id(), ctx);
    next_epoch(&mut staking, &mut system, &mut clock);
    staking.request_withdraw_stake(&mut staked, ctx);
    assert!(staked.withdraw_epoch() == 2 && staked.is_withdrawing());
    destroy(staking.withdraw_stake(staked, ctx));
    abort
}

#[test, expected_failure(abort_code = staked_wal::ENotStaked)]
fun requesting_withdrawal_twice_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let mut staked = staking.stake_with_pool(frost(3 * WAL, ctx), cap.cap_node_id(), ctx);
    next_epoch(&mut staking, &mut system, &mut clock);
    staking.request_withdraw_stake(&mut staked, ctx);
    staking.request_withdraw_stake(&mut staked, ctx);
    abort
}

#[test]
fun split_and_join_stakes() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, system, clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let mut staked = staking.stake_with_pool(frost(5 * WAL, ctx), cap.cap_node_id(), ctx);
    let part = staked.split(2 * WAL, ctx);
    assert!(part.value() == 2 * WAL && staked.value() == 3 * WAL);
    assert!(part.activation_epoch() == staked.activation_epoch() && part.node_id() == staked.node_id());
    staked.join(part);
    assert!(staked.value() == 5 * WAL && staked_wal::min_stake() == WAL);
    destroy(staked);
    destroy(cap);
    destroy_world(staking, system, clock);
}

#[test, expected_failure(abort_code = staked_wal::EStakeBelowThreshold)]
fun split_leaving_less_than_one_wal_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let mut staked = staking.stake_with_pool(frost(2 * WAL, ctx), cap.cap_node_id(), ctx);
    destroy(staked.split(WAL + 1, ctx));
    abort
}

#[test, expected_failure(abort_code = staked_wal::EMetadataMismatch)]
fun joining_stakes_of_different_nodes_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let a = register(&mut staking, 0, 0, ctx);
    let b = register(&mut staking, 1, 0, ctx);
    let mut x = staking.stake_with_pool(frost(2 * WAL, ctx), a.cap_node_id(), ctx);
    x.join(staking.stake_with_pool(frost(2 * WAL, ctx), b.cap_node_id(), ctx));
    abort
}

#[test, expected_failure(abort_code = staked_wal::ENotStaked)]
fun splitting_a_withdrawing_stake_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    let mut staked = staking.stake_with_pool(frost(4 * WAL, ctx), cap.cap_node_id(), ctx);
    next_epoch(&mut staking, &mut system, &mut clock);
    staking.request_withdraw_stake(&mut staked, ctx);
    destroy(staked.split(2 * WAL, ctx));
    abort
}

// === Epoch change ===

#[test]
fun committee_takes_the_largest_stakes_and_shards_by_stake() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let mut caps = vector::tabulate!(5, |i| register(&mut staking, i, 0, ctx));
    // Stakes 1, 2, 3, 4, 10 WAL; the committee holds at most 4 nodes.
    let stakes = vector[1, 2, 3, 4, 10];
    let staked = vector::tabulate!(5, |i| staking.stake_with_pool(frost(stakes[i] * WAL, ctx), caps[i].cap_node_id(), ctx));
    next_epoch(&mut staking, &mut system, &mut clock);
    let committee = staking.committee();
    assert!(committee.size() == 4 && !committee.contains(&caps[0].cap_node_id()));
    // 100 shards by D'Hondt over 2, 3, 4, 10: lower quotas 10, 15, 21, 52, then 10/53 and 3/16
    // are the highest quotients.
    assert!(committee.shard_count(&caps[1].cap_node_id()) == 10);
    assert!(committee.shard_count(&caps[2].cap_node_id()) == 16);
    assert!(committee.shard_count(&caps[3].cap_node_id()) == 21);
    assert!(committee.shard_count(&caps[4].cap_node_id()) == 53);
    assert!(committee.n_shards() == n_shards!());
    assert!(system.epoch() == 1 && system.n_shards() == 100 && system.committee().n_members() == 4);
    assert!(staking.version() == 1 && staking.n_shards() == 100);
    assert!(staking.next_committee().is_none() && staking.next_epoch_params().is_none());
    assert!(staking_inner::synced_weight(&staking.epoch_state()) == option::some(0));
    assert!(event::events_by_type<events::CommitteeSelected>().length() == 1);
    assert!(event::events_by_type<events::EpochParametersSelected>().length() == 1);
    // Prices and capacity come from the votes (all equal here).
    assert!(system.storage_price_per_unit_size() == 2 && system.write_price_per_unit_size() == 3);
    sync_all(&mut staking, &mut caps, &clock);
    assert!(staking_inner::is_sync_done(&staking.epoch_state()));
    assert!(event::events_by_type<events::EpochChangeDone>().length() == 1);
    assert!(event::events_by_type<events::ShardsReceived>().length() == 4);
    destroy(staked);
    destroy(caps);
    destroy_world(staking, system, clock);
}

#[test]
fun selection_fixes_the_next_committee_and_parameters() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    staking.set_node_capacity_vote(&cap, 5_000);
    let staked = staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx);
    clock.set_for_testing(500);
    staking.voting_end(&clock);
    assert!(staking_inner::is_next_params_selected(&staking.epoch_state()));
    assert!(staking.next_committee().borrow().shard_count(&cap.cap_node_id()) == 100);
    let params = staking.next_epoch_params().borrow();
    assert!(params.capacity() == 5_000 && params.storage_price() == 2 && params.write_price() == 3);
    destroy(staked);
    destroy(cap);
    destroy_world(staking, system, clock);
}

#[test, expected_failure(abort_code = staking_pool::EWrongEpoch)]
fun a_pool_cannot_skip_an_epoch() {
    let ctx = &mut tx_context::dummy();
    let mut pool = staking_pool::new(
        b"n".to_string(),
        b"a".to_string(),
        bls_key(0),
        network_key(),
        0,
        1,
        1,
        1,
        0,
        ctx,
    );
    pool.advance_epoch(2, sui::balance::zero());
    abort
}

#[test, expected_failure(abort_code = staking_inner::ETooEarly)]
fun selecting_the_committee_too_early_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    destroy(staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx));
    clock.set_for_testing(499);
    staking.voting_end(&clock);
    abort
}

#[test, expected_failure(abort_code = staking_inner::EWrongEpochState)]
fun selecting_the_committee_twice_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    destroy(staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx));
    clock.set_for_testing(500);
    staking.voting_end(&clock);
    staking.voting_end(&clock);
    abort
}

#[test, expected_failure(abort_code = staking_inner::ENoStake)]
fun selecting_a_committee_without_stake_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, mut clock) = staking_world(ctx);
    destroy(register(&mut staking, 0, 0, ctx));
    clock.set_for_testing(500);
    staking.voting_end(&clock);
    abort
}

#[test, expected_failure(abort_code = staking_inner::EWrongEpochState)]
fun starting_the_epoch_before_selection_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    clock.set_for_testing(1000);
    staking.initiate_epoch_change(&mut system, &clock);
    abort
}

#[test, expected_failure(abort_code = staking_inner::ETooEarly)]
fun starting_the_epoch_too_early_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    destroy(staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx));
    clock.set_for_testing(500);
    staking.voting_end(&clock);
    clock.set_for_testing(999);
    staking.initiate_epoch_change(&mut system, &clock);
    abort
}

#[test]
fun a_missing_sync_quorum_times_out_at_the_next_selection() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let mut caps = vector::tabulate!(3, |i| register(&mut staking, i, 0, ctx));
    let staked = vector::tabulate!(3, |i| staking.stake_with_pool(frost(WAL, ctx), caps[i].cap_node_id(), ctx));
    next_epoch(&mut staking, &mut system, &mut clock);
    // Only one of three equal nodes reports: no quorum.
    staking.epoch_sync_done(&mut caps[0], 1, &clock);
    assert!(staking_inner::synced_weight(&staking.epoch_state()) == option::some(34));
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(staking.epoch() == 2 && system.epoch() == 2);
    assert!(event::events_by_type<events::EpochChangeSyncTimedOut>().length() == 1);
    // Epochs stay on schedule whatever the sync took.
    assert!(clock.timestamp_ms() == staking.epoch_start(2) && staking.epoch_start(2) == 2000);
    destroy(staked);
    destroy(caps);
    destroy_world(staking, system, clock);
}

#[test, expected_failure(abort_code = staking_inner::EInvalidSyncEpoch)]
fun sync_report_for_another_epoch_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let mut cap = register(&mut staking, 0, 0, ctx);
    destroy(staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx));
    next_epoch(&mut staking, &mut system, &mut clock);
    staking.epoch_sync_done(&mut cap, 2, &clock);
    abort
}

#[test, expected_failure(abort_code = staking_inner::EDuplicateSyncDone)]
fun reporting_sync_twice_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let mut cap = register(&mut staking, 0, 0, ctx);
    destroy(staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx));
    next_epoch(&mut staking, &mut system, &mut clock);
    staking.epoch_sync_done(&mut cap, 1, &clock);
    staking.epoch_sync_done(&mut cap, 1, &clock);
    abort
}

#[test, expected_failure(abort_code = staking_inner::ENotInCommittee)]
fun sync_report_from_a_non_member_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let a = register(&mut staking, 0, 0, ctx);
    let mut b = register(&mut staking, 1, 0, ctx);
    destroy(staking.stake_with_pool(frost(WAL, ctx), a.cap_node_id(), ctx));
    next_epoch(&mut staking, &mut system, &mut clock);
    staking.epoch_sync_done(&mut b, 1, &clock);
    abort
}

#[test]
fun deregistered_node_leaves_the_committee_and_its_stakers_get_out() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let a = register(&mut staking, 0, 0, ctx);
    let b = register(&mut staking, 1, 0, ctx);
    let mut staked_a = staking.stake_with_pool(frost(5 * WAL, ctx), a.cap_node_id(), ctx);
    let staked_b = staking.stake_with_pool(frost(5 * WAL, ctx), b.cap_node_id(), ctx);
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(staking.committee().contains(&a.cap_node_id()));
    staking.deregister(&a);
    assert!(!staking.pool(a.cap_node_id()).is_active());
    assert!(event::events_by_type<events::NodeDeregistered>().length() == 1);
    staking.request_withdraw_stake(&mut staked_a, ctx);
    next_epoch(&mut staking, &mut system, &mut clock);
    assert!(!staking.committee().contains(&a.cap_node_id()) && staking.committee().size() == 1);
    assert!(staking.previous_committee().contains(&a.cap_node_id()));
    let coin = staking.withdraw_stake(staked_a, ctx);
    assert!(coin.value() == 5 * WAL);
    destroy(coin);
    destroy(staked_b);
    destroy(a);
    destroy(b);
    destroy_world(staking, system, clock);
}

#[test, expected_failure(abort_code = staking_pool::EPoolNotActive)]
fun staking_with_a_deregistered_node_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    staking.deregister(&cap);
    destroy(staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx));
    abort
}

#[test, expected_failure(abort_code = staking_pool::EPoolNotActive)]
fun deregistering_twice_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, _system, _clock) = staking_world(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    staking.deregister(&cap);
    staking.deregister(&cap);
    abort
}
