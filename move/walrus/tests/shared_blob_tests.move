#[test_only]
module walrus::shared_blob_tests;

use std::unit_test::destroy;
use sui::test_scenario;
use walrus::blob_test_utils::certified_blob;
use walrus::shared_blob::{Self, SharedBlob};
use walrus::system_state_inner;
use walrus::test_utils::{system, frost};

const WEIGHTS: vector<u16> = vector[2, 3, 5];

#[test]
fun anyone_funds_and_extends_a_shared_blob_from_its_funds() {
    let mut scenario = test_scenario::begin(@0xA);
    let mut system = system(WEIGHTS, scenario.ctx());
    let blob = certified_blob(&mut system, 3, scenario.ctx());
    let (blob_id, end) = (blob.blob_id(), blob.end_epoch());
    blob.share(scenario.ctx());

    scenario.next_tx(@0xB);
    let mut shared = scenario.take_shared<SharedBlob>();
    assert!(shared.blob().blob_id() == blob_id && shared.funds().value() == 0);
    shared.fund(frost(1_000, scenario.ctx()));
    shared.fund(frost(500, scenario.ctx()));
    assert!(shared.funds().value() == 1_500);

    let cost = system.storage_cost(shared.blob().storage().size(), 2);
    shared.extend(&mut system, 2, scenario.ctx());
    assert!(shared.blob().end_epoch() == end + 2);
    assert!(shared.funds().value() == 1_500 - cost);
    test_scenario::return_shared(shared);
    destroy(system);
    scenario.end();
}

#[test]
fun new_funded_shares_the_blob_with_its_funds() {
    let mut scenario = test_scenario::begin(@0xA);
    let mut system = system(WEIGHTS, scenario.ctx());
    let blob = certified_blob(&mut system, 3, scenario.ctx());
    let object_id = blob.object_id();
    shared_blob::new_funded(blob, frost(777, scenario.ctx()), scenario.ctx());

    scenario.next_tx(@0xB);
    let shared = scenario.take_shared<SharedBlob>();
    assert!(shared.blob().object_id() == object_id && shared.funds().value() == 777);
    test_scenario::return_shared(shared);
    destroy(system);
    scenario.end();
}

#[test, expected_failure(abort_code = system_state_inner::EInsufficientPayment)]
fun extending_beyond_the_funds_is_refused() {
    let mut scenario = test_scenario::begin(@0xA);
    let mut system = system(WEIGHTS, scenario.ctx());
    let blob = certified_blob(&mut system, 3, scenario.ctx());
    shared_blob::new_funded(blob, frost(1, scenario.ctx()), scenario.ctx());

    scenario.next_tx(@0xB);
    let mut shared = scenario.take_shared<SharedBlob>();
    shared.extend(&mut system, 2, scenario.ctx());
    abort
}
