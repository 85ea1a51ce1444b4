#[test_only]
/// Epoch changes follow the clock but cannot be compressed (finding 3 of issue 9): at most one
/// per epoch duration since the previous one started, and a selection only once the previous
/// change is done or has timed out. Nothing can stall them either.
module walrus::staking_epoch_pacing_tests;

use std::unit_test::destroy;
use sui::clock::{Self, Clock};
use sui::event;
use walrus::events;
use walrus::staking::Staking;
use walrus::staking_inner;
use walrus::system::{Self, System};
use walrus::test_utils::{frost, register, staking, staking_world, destroy_world};

const WAL: u64 = 1_000_000_000;
/// Long after epoch 1 was due (1000 ms): nobody drove the epoch change for a while.
const AFTER_STALL: u64 = 100_000;

/// One staked node, its stake and the clock at `AFTER_STALL`.
fun stalled(ctx: &mut TxContext): (Staking, System, Clock, vector<walrus::storage_node::NodeCap>) {
    let mut staking = staking(ctx);
    let cap = register(&mut staking, 0, 0, ctx);
    destroy(staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx));
    let mut clock = clock::create_for_testing(ctx);
    clock.set_for_testing(AFTER_STALL);
    (staking, system::new_for_testing(10, ctx), clock, vector[cap])
}

/// After a stall, the first change goes ahead at once; a second one in the same transaction
/// is refused at its selection.
#[test, expected_failure(abort_code = staking_inner::ETooSoonAfterLastChange)]
fun a_burst_of_epoch_changes_after_a_stall_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, clock, _caps) = stalled(ctx);
    staking.voting_end(&clock);
    staking.initiate_epoch_change(&mut system, &clock);
    assert!(staking.epoch() == 1 && staking.next_epoch_start() == AFTER_STALL + 1000);
    staking.voting_end(&clock);
    abort
}

/// Selection is possible half an epoch after a change started (the sync timeout), the change
/// itself only a whole epoch after.
#[test, expected_failure(abort_code = staking_inner::ETooSoonAfterLastChange)]
fun starting_an_epoch_less_than_a_duration_after_the_last_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock, _caps) = stalled(ctx);
    staking.voting_end(&clock);
    staking.initiate_epoch_change(&mut system, &clock);
    clock.set_for_testing(AFTER_STALL + 500);
    staking.voting_end(&clock);
    assert!(event::events_by_type<events::EpochChangeSyncTimedOut>().length() == 1);
    clock.set_for_testing(AFTER_STALL + 999);
    staking.initiate_epoch_change(&mut system, &clock);
    abort
}

/// The sync timeout is wall-clock time since the change started: half an epoch.
#[test, expected_failure(abort_code = staking_inner::ETooSoonAfterLastChange)]
fun selecting_before_the_sync_times_out_is_refused() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock, _caps) = stalled(ctx);
    staking.voting_end(&clock);
    staking.initiate_epoch_change(&mut system, &clock);
    assert!(staking_inner::synced_weight(&staking.epoch_state()) == option::some(0));
    clock.set_for_testing(AFTER_STALL + 499);
    staking.voting_end(&clock);
    abort
}

/// Without a single sync report, epochs still advance, one per duration after a stall.
#[test]
fun after_a_stall_epochs_resume_one_per_duration_and_never_stall() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock, caps) = stalled(ctx);
    10u64.do!(|k| {
        let start = staking.next_epoch_start();
        assert!(start == if (k == 0) 1000 else AFTER_STALL + 1000 * k);
        if (k > 0) clock.set_for_testing(start - 500);
        staking.voting_end(&clock);
        if (k > 0) clock.set_for_testing(start);
        staking.initiate_epoch_change(&mut system, &clock);
    });
    assert!(staking.epoch() == 10 && system.epoch() == 10);
    assert!(event::events_by_type<events::EpochChangeSyncTimedOut>().length() == 9);
    destroy(caps);
    destroy_world(staking, system, clock);
}

/// On schedule, pacing changes nothing: epoch e starts at its scheduled time.
#[test]
fun on_schedule_epochs_start_at_their_scheduled_time() {
    let ctx = &mut tx_context::dummy();
    let (mut staking, mut system, mut clock) = staking_world(ctx);
    let mut cap = register(&mut staking, 0, 0, ctx);
    destroy(staking.stake_with_pool(frost(WAL, ctx), cap.cap_node_id(), ctx));
    5u32.do!(|e| {
        let epoch = e + 1;
        assert!(staking.next_epoch_start() == staking.epoch_start(epoch));
        clock.set_for_testing(staking.epoch_start(epoch) - 500);
        staking.voting_end(&clock);
        clock.set_for_testing(staking.epoch_start(epoch));
        staking.initiate_epoch_change(&mut system, &clock);
        staking.epoch_sync_done(&mut cap, epoch, &clock);
        assert!(staking_inner::is_sync_done(&staking.epoch_state()));
    });
    assert!(staking.epoch_start(5) == 5000 && clock.timestamp_ms() == 5000);
    destroy(cap);
    destroy_world(staking, system, clock);
}
