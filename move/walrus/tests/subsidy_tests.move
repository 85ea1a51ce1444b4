#[test_only]
module walrus::subsidy_tests;

use std::unit_test::destroy;
use sui::balance;
use walrus::system::System;
use walrus::system_state_inner;
use walrus::test_utils::{system, frost, max_epochs_ahead};

const WEIGHTS: vector<u16> = vector[2, 3, 5];

fun rewards_in(system: &System, offset: u32): u64 { system.future_accounting().ring_lookup(offset).rewards() }

/// Ends the current epoch and returns what its committee is paid.
fun end_epoch(system: &mut System): u64 {
    let rewards = system.advance_epoch_for_testing(10, 1_000_000, 2, 3);
    let value = rewards.value();
    rewards.destroy_for_testing();
    value
}

#[test]
fun a_subsidy_is_spread_over_the_epochs_and_paid_out_with_them() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    system.add_subsidy(frost(1_003, ctx), 4);
    assert!(rewards_in(&system, 0) == 253 && rewards_in(&system, 1) == 250 && rewards_in(&system, 3) == 250);
    assert!(rewards_in(&system, 4) == 0);
    assert!(end_epoch(&mut system) == 253);
    assert!(end_epoch(&mut system) == 250 && end_epoch(&mut system) == 250 && end_epoch(&mut system) == 250);
    assert!(end_epoch(&mut system) == 0);
    destroy(system);
}

#[test]
fun per_epoch_subsidies_go_to_the_epoch_at_their_index() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let subsidies = vector[balance::create_for_testing(5), balance::create_for_testing(0), balance::create_for_testing(7)];
    system.add_per_epoch_subsidies(subsidies);
    assert!(rewards_in(&system, 0) == 5 && rewards_in(&system, 1) == 0 && rewards_in(&system, 2) == 7);
    assert!(end_epoch(&mut system) == 5 && end_epoch(&mut system) == 0 && end_epoch(&mut system) == 7);
    destroy(system);
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidSubsidyEpochs)]
fun a_subsidy_over_no_epochs_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    system.add_subsidy(frost(1, ctx), 0);
    abort
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidSubsidyEpochs)]
fun a_subsidy_beyond_the_accounting_window_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    system.add_subsidy(frost(1, ctx), max_epochs_ahead!() + 1);
    abort
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidSubsidyEpochs)]
fun per_epoch_subsidies_beyond_the_accounting_window_are_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let subsidies = vector::tabulate!((max_epochs_ahead!() as u64) + 1, |_| balance::create_for_testing(1));
    system.add_per_epoch_subsidies(subsidies);
    abort
}
