#[test_only]
module walrus::system_tests;

use sui::event;
use std::unit_test::destroy;
use walrus::blob;
use walrus::encoding;
use walrus::epoch_parameters;
use walrus::events::{BlobRegistered, BlobCertified, BlobDeleted, StorageReserved, StorageReleased, EpochChangeStart};
use walrus::messages;
use walrus::system::{Self, System};
use walrus::system_state_inner;
use walrus::test_utils::{system, advance, committee, frost, bitmap, signature, storage_price, write_price};
use walrus::blob_test_utils::{
    blob_size, blob_root, encoded, reserve, register_blob as register, new_blob, certify, certified_blob,
};

const MIB: u64 = 1_048_576;
/// The committee of every test: 10 shards over three members.
const WEIGHTS: vector<u16> = vector[2, 3, 5];

// === Set-up and versioning ===

#[test]
fun initialize_shares_an_empty_system_in_epoch_zero() {
    let mut scenario = sui::test_scenario::begin(@0xA);
    walrus::init::init_for_testing(scenario.ctx());
    scenario.next_tx(@0xA);
    let cap = scenario.take_from_sender<walrus::init::InitCap>();
    let clock = sui::clock::create_for_testing(scenario.ctx());
    walrus::init::initialize_walrus(cap, 1000, 500, 1000, 53, 50, &clock, scenario.ctx());
    clock.destroy_for_testing();
    scenario.next_tx(@0xA);
    let system = scenario.take_shared<System>();
    let staking = scenario.take_shared<walrus::staking::Staking>();
    assert!(staking.epoch() == 0 && staking.n_shards() == 1000 && staking.epoch_start(1) == 500);
    assert!(staking.epoch_start(3) == 2500);
    sui::test_scenario::return_shared(staking);
    assert!(system.epoch() == 0 && system.n_shards() == 0 && system.version() == 1);
    assert!(system.total_capacity_size() == 0 && system.storage_price_per_unit_size() == 0);
    assert!(system.future_accounting().max_epochs_ahead() == 53);
    assert!(system.package_id() == object::id_from_address(@walrus));
    sui::test_scenario::return_shared(system);
    scenario.end();
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidMaxEpochsAhead)]
fun zero_max_epochs_ahead_is_refused() {
    destroy(system::new_for_testing(0, &mut tx_context::dummy()));
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidMaxEpochsAhead)]
fun more_than_1000_max_epochs_ahead_is_refused() {
    destroy(system::new_for_testing(1001, &mut tx_context::dummy()));
}

#[test, expected_failure(abort_code = system::EWrongVersion)]
fun old_package_is_locked_out_after_a_version_change() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    system.set_version_for_testing(2);
    system.epoch();
    system.destroy_for_testing();
}

// === Epochs ===

#[test]
fun advance_epoch_installs_committee_and_prices_and_returns_the_epochs_payments() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    assert!(system.epoch() == 1 && system.n_shards() == 10);
    assert!(system.storage_price_per_unit_size() == storage_price!());
    assert!(system.write_price_per_unit_size() == write_price!());
    // 3 MiB for epochs 1 and 2: 6 FROST into each epoch.
    let storage = reserve(&mut system, 3 * MIB, 2, ctx);
    let params = epoch_parameters::new(5 * MIB, 7, 11);
    let rewards = system.advance_epoch(committee(2, vector[4, 4]), &params);
    assert!(rewards.value() == 6);
    assert!(system.epoch() == 2 && system.n_shards() == 8);
    assert!(system.used_capacity_size() == 3 * MIB);
    assert!(system.total_capacity_size() == 5 * MIB);
    assert!(system.storage_price_per_unit_size() == 7 && system.write_price_per_unit_size() == 11);
    assert!(system.future_accounting().ring_lookup(0).epoch() == 2);
    assert!(system.future_accounting().ring_lookup(0).rewards() == 6);
    assert!(system.future_accounting().ring_lookup(9).epoch() == 11);
    assert!(event::events_by_type<EpochChangeStart>().length() == 2);
    assert!(event::events_by_type<walrus::events::PricesUpdated>().length() == 2);
    assert!(event::events_by_type<walrus::events::CapacityUpdated>().length() == 2);
    rewards.destroy_for_testing();
    destroy(storage);
    system.destroy_for_testing();
}

#[test]
fun capacity_never_drops_below_what_is_already_reserved() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let storage = reserve(&mut system, 3 * MIB, 2, ctx);
    let rewards = system.advance_epoch(committee(2, WEIGHTS), &epoch_parameters::new(MIB, 1, 1));
    assert!(system.total_capacity_size() == 3 * MIB);
    rewards.destroy_for_testing();
    destroy(storage);
    system.destroy_for_testing();
}

#[test, expected_failure(abort_code = system_state_inner::EWrongCommitteeEpoch)]
fun committee_for_a_later_epoch_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let rewards = system.advance_epoch(committee(3, WEIGHTS), &epoch_parameters::new(MIB, 1, 1));
    rewards.destroy_for_testing();
    system.destroy_for_testing();
}

#[test, expected_failure(abort_code = walrus::storage_accounting::ETooFarInFuture)]
fun accounting_beyond_the_window_is_refused() {
    let ctx = &mut tx_context::dummy();
    let system = system(WEIGHTS, ctx);
    system.future_accounting().ring_lookup(10);
    system.destroy_for_testing();
}

// === Buying storage ===

#[test]
fun reserve_space_charges_every_epoch_and_records_its_capacity() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(100, ctx);
    // 2.5 MiB rounds up to 3 units at 2 FROST per epoch, for 4 epochs.
    let amount = 5 * MIB / 2;
    assert!(system.storage_cost(amount, 4) == 24);
    let storage = system.reserve_space(amount, 4, &mut coin, ctx);
    assert!(coin.value() == 76);
    assert!(storage.start_epoch() == 1 && storage.end_epoch() == 5 && storage.size() == amount);
    4u32.do!(|k| {
        let entry = system.future_accounting().ring_lookup(k);
        assert!(entry.epoch() == 1 + k && entry.used_capacity() == amount && entry.rewards() == 6);
    });
    assert!(system.future_accounting().ring_lookup(4).used_capacity() == 0);
    assert!(system.used_capacity_size() == amount);
    assert!(event::events_by_type<StorageReserved>().length() == 1);
    destroy(coin);
    destroy(storage);
    system.destroy_for_testing();
}

#[test]
fun bounded_reservation_at_exactly_its_cost_succeeds() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(100, ctx);
    let storage = system.reserve_space_bounded(MIB, 10, &mut coin, 20, ctx);
    assert!(coin.value() == 80 && storage.end_epoch() == 11);
    destroy(coin);
    destroy(storage);
    system.destroy_for_testing();
}

#[test, expected_failure(abort_code = system_state_inner::ECostAboveLimit)]
fun bounded_reservation_above_its_limit_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(100, ctx);
    destroy(system.reserve_space_bounded(MIB, 10, &mut coin, 19, ctx));
    abort
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidEpochsAhead)]
fun reserving_zero_epochs_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    destroy(reserve(&mut system, MIB, 0, ctx));
    abort
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidEpochsAhead)]
fun reserving_beyond_max_epochs_ahead_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    destroy(reserve(&mut system, MIB, 11, ctx));
    abort
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidResourceSize)]
fun reserving_zero_bytes_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    destroy(reserve(&mut system, 0, 1, ctx));
    abort
}

#[test, expected_failure(abort_code = system_state_inner::EInsufficientPayment)]
fun reserving_with_too_small_a_coin_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(19, ctx);
    destroy(system.reserve_space(MIB, 10, &mut coin, ctx));
    abort
}

#[test, expected_failure(abort_code = system_state_inner::EStorageExceeded)]
fun reserving_beyond_capacity_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(100_000_000, ctx);
    let first = system.reserve_space(walrus::test_utils::capacity!() - MIB, 3, &mut coin, ctx);
    // Epochs 1 to 3 have 1 MiB left, epoch 4 is empty: 2 MiB more fail in epoch 3.
    destroy(system.reserve_space_for_epochs(2 * MIB, 3, 5, &mut coin, ctx));
    destroy(first);
    abort
}

#[test, expected_failure(abort_code = system_state_inner::ECostOverflow)]
fun cost_beyond_u64_is_a_named_error() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let params = epoch_parameters::new(walrus::test_utils::capacity!(), std::u64::max_value!(), 0);
    system.advance_epoch(committee(2, WEIGHTS), &params).destroy_for_testing();
    destroy(reserve(&mut system, 2 * MIB, 1, ctx));
    abort
}

#[test]
fun reservation_for_later_epochs_charges_only_those() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(100, ctx);
    let storage = system.reserve_space_for_epochs(MIB, 3, 6, &mut coin, ctx);
    assert!(coin.value() == 94);
    assert!(storage.start_epoch() == 3 && storage.end_epoch() == 6);
    assert!(system.future_accounting().ring_lookup(1).used_capacity() == 0);
    assert!(system.future_accounting().ring_lookup(2).used_capacity() == MIB);
    assert!(system.used_capacity_size() == 0);
    // A start in the past is moved up to the current epoch.
    let now = system.reserve_space_for_epochs_bounded(MIB, 0, 2, &mut coin, 2, ctx);
    assert!(now.start_epoch() == 1 && coin.value() == 92);
    destroy(coin);
    destroy(storage);
    destroy(now);
    system.destroy_for_testing();
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidEpochsAhead)]
fun reservation_ending_before_it_starts_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(100, ctx);
    destroy(system.reserve_space_for_epochs(MIB, 4, 4, &mut coin, ctx));
    abort
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidEpochsAhead)]
fun reservation_ending_beyond_the_window_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(100, ctx);
    destroy(system.reserve_space_for_epochs(MIB, 5, 12, &mut coin, ctx));
    abort
}

#[test]
fun releasing_storage_before_it_starts_frees_all_its_capacity() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(100, ctx);
    let storage = system.reserve_space_for_epochs(MIB, 3, 6, &mut coin, ctx);
    system.release_storage(storage);
    5u32.do!(|k| assert!(system.future_accounting().ring_lookup(k).used_capacity() == 0));
    // The payment stays with the epochs it paid for.
    assert!(system.future_accounting().ring_lookup(2).rewards() == 2);
    assert!(event::events_by_type<StorageReleased>().length() == 1);
    destroy(coin);
    system.destroy_for_testing();
}

#[test]
fun releasing_started_storage_frees_only_future_epochs() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let storage = reserve(&mut system, MIB, 3, ctx);
    system.release_storage(storage);
    assert!(system.used_capacity_size() == MIB);
    assert!(system.future_accounting().ring_lookup(0).used_capacity() == MIB);
    assert!(system.future_accounting().ring_lookup(1).used_capacity() == 0);
    assert!(system.future_accounting().ring_lookup(2).used_capacity() == 0);
    system.destroy_for_testing();
}

// === Registering ===

#[test]
fun register_checks_the_blob_and_charges_the_write_fee_to_the_current_epoch() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let amount = encoded(&system);
    let storage = reserve(&mut system, amount, 3, ctx);
    let before = system.future_accounting().ring_lookup(0).rewards();
    let mut coin = frost(100, ctx);
    let blob_id = blob::derive_blob_id(blob_root!(), 1, blob_size!());
    let blob = system.register_blob_bounded(storage, blob_id, blob_root!(), blob_size!(), 1, true, &mut coin, 3, ctx);
    assert!(system.write_cost(amount) == 3 && coin.value() == 97);
    assert!(system.future_accounting().ring_lookup(0).rewards() == before + 3);
    assert!(blob.blob_id() == blob_id && blob.size() == blob_size!() && blob.encoding_type() == 1);
    assert!(blob.registered_epoch() == 1 && blob.end_epoch() == 4 && blob.is_deletable());
    assert!(blob.certified_epoch().is_none() && blob.storage().size() == amount);
    assert!(blob.encoded_size(10) == amount);
    assert!(event::events_by_type<BlobRegistered>().length() == 1);
    destroy(coin);
    destroy(blob);
    system.destroy_for_testing();
}

#[test]
fun the_same_blob_id_can_be_registered_twice() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let a = new_blob(&mut system, false, 2, ctx);
    let b = new_blob(&mut system, true, 2, ctx);
    assert!(a.blob_id() == b.blob_id() && a.object_id() != b.object_id());
    destroy(a);
    destroy(b);
    system.destroy_for_testing();
}

#[test, expected_failure(abort_code = system_state_inner::ECostAboveLimit)]
fun register_with_a_write_fee_above_the_limit_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let amount = encoded(&system);
    let storage = reserve(&mut system, amount, 3, ctx);
    let mut coin = frost(100, ctx);
    let blob_id = blob::derive_blob_id(blob_root!(), 1, blob_size!());
    destroy(system.register_blob_bounded(storage, blob_id, blob_root!(), blob_size!(), 1, true, &mut coin, 2, ctx));
    abort
}

#[test, expected_failure(abort_code = blob::EResourceBounds)]
fun register_on_storage_that_starts_later_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(100, ctx);
    let storage = system.reserve_space_for_epochs(MIB, 2, 4, &mut coin, ctx);
    destroy(register(&mut system, storage, false, ctx));
    abort
}

#[test, expected_failure(abort_code = blob::EResourceBounds)]
fun register_on_expired_storage_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let storage = reserve(&mut system, MIB, 1, ctx);
    advance(&mut system, WEIGHTS);
    destroy(register(&mut system, storage, false, ctx));
    abort
}

#[test, expected_failure(abort_code = blob::EResourceSize)]
fun register_on_too_little_storage_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let amount = encoded(&system) - 1;
    let storage = reserve(&mut system, amount, 1, ctx);
    destroy(register(&mut system, storage, false, ctx));
    abort
}

#[test, expected_failure(abort_code = blob::EInvalidBlobId)]
fun register_with_a_blob_id_not_derived_from_the_root_hash_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let storage = reserve(&mut system, MIB, 1, ctx);
    let mut coin = frost(100, ctx);
    let blob_id = blob::derive_blob_id(blob_root!(), 1, blob_size!() + 1);
    destroy(system.register_blob(storage, blob_id, blob_root!(), blob_size!(), 1, false, &mut coin, ctx));
    abort
}

#[test, expected_failure(abort_code = encoding::EInvalidEncodingType)]
fun register_with_another_encoding_type_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let storage = reserve(&mut system, MIB, 1, ctx);
    let mut coin = frost(100, ctx);
    let blob_id = blob::derive_blob_id(blob_root!(), 0, blob_size!());
    destroy(system.register_blob(storage, blob_id, blob_root!(), blob_size!(), 0, false, &mut coin, ctx));
    abort
}

#[test, expected_failure(abort_code = encoding::ETooFewShards)]
fun register_before_any_committee_exists_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system::new_for_testing(10, ctx);
    let storage = walrus::storage_resource::create_for_test(0, 1, MIB, ctx);
    destroy(register(&mut system, storage, false, ctx));
    abort
}

// === Certifying ===

#[test]
fun certify_permanent_blob() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let blob = certified_blob(&mut system, 2, ctx);
    assert!(blob.certified_epoch() == &option::some(1) && blob.is_certified());
    assert!(event::events_by_type<BlobCertified>().length() == 1);
    destroy(blob);
    system.destroy_for_testing();
}

#[test]
fun certify_deletable_blob_with_its_object_id() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, true, 2, ctx);
    certify(&system, &mut blob);
    assert!(blob.is_certified());
    destroy(blob);
    system.destroy_for_testing();
}

#[test, expected_failure(abort_code = blob::EInvalidBlobPersistenceType)]
fun permanent_certificate_for_a_deletable_blob_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, true, 2, ctx);
    let message = messages::blob_certification_message(1, blob.blob_id(), messages::permanent());
    system.certify_blob(&mut blob, signature!(), bitmap(3, vector[1, 2]), message);
    abort
}

#[test, expected_failure(abort_code = blob::EInvalidBlobPersistenceType)]
fun deletable_certificate_for_a_permanent_blob_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, false, 2, ctx);
    let message = messages::blob_certification_message(1, blob.blob_id(), messages::deletable(blob.object_id()));
    system.certify_blob(&mut blob, signature!(), bitmap(3, vector[1, 2]), message);
    abort
}

#[test, expected_failure(abort_code = blob::EInvalidBlobObject)]
fun certificate_for_another_deletable_object_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, true, 2, ctx);
    let other = object::id_from_address(@0xBAD);
    let message = messages::blob_certification_message(1, blob.blob_id(), messages::deletable(other));
    system.certify_blob(&mut blob, signature!(), bitmap(3, vector[1, 2]), message);
    abort
}

#[test, expected_failure(abort_code = blob::EInvalidBlobId)]
fun certificate_for_another_blob_id_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, false, 2, ctx);
    let message = messages::blob_certification_message(1, blob.blob_id() + 1, messages::permanent());
    system.certify_blob(&mut blob, signature!(), bitmap(3, vector[1, 2]), message);
    abort
}

#[test, expected_failure(abort_code = messages::EIncorrectEpoch)]
fun certificate_from_another_epoch_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, false, 3, ctx);
    let message = messages::blob_certification_message(1, blob.blob_id(), messages::permanent());
    advance(&mut system, WEIGHTS);
    system.certify_blob(&mut blob, signature!(), bitmap(3, vector[1, 2]), message);
    abort
}

#[test, expected_failure(abort_code = blob::EAlreadyCertified)]
fun certifying_twice_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = certified_blob(&mut system, 2, ctx);
    certify(&system, &mut blob);
    abort
}

#[test, expected_failure(abort_code = blob::EResourceBounds)]
fun certifying_after_the_storage_expired_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, false, 1, ctx);
    advance(&mut system, WEIGHTS);
    certify(&system, &mut blob);
    abort
}

#[test, expected_failure(abort_code = walrus::bls_aggregate::ENotEnoughStake)]
fun certificate_without_a_quorum_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, false, 2, ctx);
    let message = messages::blob_certification_message(1, blob.blob_id(), messages::permanent());
    system.certify_blob(&mut blob, signature!(), bitmap(3, vector[0, 1]), message);
    abort
}

#[test, expected_failure(abort_code = walrus::bls_aggregate::EInvalidBitmap)]
fun certificate_with_too_long_a_bitmap_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, false, 2, ctx);
    let message = messages::blob_certification_message(1, blob.blob_id(), messages::permanent());
    system.certify_blob(&mut blob, signature!(), vector[0x07, 0x00], message);
    abort
}

#[test, expected_failure(abort_code = walrus::bls_aggregate::EInvalidBitmap)]
fun certificate_naming_a_non_member_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, false, 2, ctx);
    let message = messages::blob_certification_message(1, blob.blob_id(), messages::permanent());
    system.certify_blob(&mut blob, signature!(), vector[0x0f], message);
    abort
}

// === Deleting, extending, burning ===

#[test]
fun delete_returns_the_storage() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, true, 3, ctx);
    certify(&system, &mut blob);
    blob.insert_or_update_metadata_pair(b"k".to_string(), b"v".to_string());
    let storage = system.delete_blob(blob);
    assert!(storage.end_epoch() == 4 && storage.size() == encoded(&system));
    assert!(event::events_by_type<BlobDeleted>().length() == 1);
    // The storage is reusable for a new blob.
    let again = register(&mut system, storage, true, ctx);
    destroy(again);
    system.destroy_for_testing();
}

#[test, expected_failure(abort_code = blob::EBlobNotDeletable)]
fun deleting_a_permanent_blob_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let blob = new_blob(&mut system, false, 3, ctx);
    destroy(system.delete_blob(blob));
    abort
}

#[test, expected_failure(abort_code = blob::EResourceBounds)]
fun deleting_an_expired_blob_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let blob = new_blob(&mut system, true, 1, ctx);
    advance(&mut system, WEIGHTS);
    destroy(system.delete_blob(blob));
    abort
}

#[test]
fun extend_with_a_resource_that_starts_at_the_end() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = certified_blob(&mut system, 2, ctx);
    let mut coin = frost(100, ctx);
    let extension = system.reserve_space_for_epochs(blob.storage().size(), 3, 7, &mut coin, ctx);
    system.extend_blob_with_resource(&mut blob, extension);
    assert!(blob.end_epoch() == 7 && blob.storage().start_epoch() == 1);
    assert!(event::events_by_type<BlobCertified>().length() == 2);
    destroy(coin);
    destroy(blob);
    system.destroy_for_testing();
}

#[test, expected_failure(abort_code = blob::ENotCertified)]
fun extending_an_uncertified_blob_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = new_blob(&mut system, false, 2, ctx);
    let mut coin = frost(100, ctx);
    system.extend_blob(&mut blob, 1, &mut coin);
    abort
}

#[test, expected_failure(abort_code = blob::EResourceBounds)]
fun extending_an_expired_blob_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = certified_blob(&mut system, 1, ctx);
    let mut coin = frost(100, ctx);
    let extension = system.reserve_space_for_epochs(blob.storage().size(), 2, 4, &mut coin, ctx);
    advance(&mut system, WEIGHTS);
    system.extend_blob_with_resource(&mut blob, extension);
    abort
}

#[test, expected_failure(abort_code = blob::EExtensionNotLater)]
fun extension_ending_no_later_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = certified_blob(&mut system, 3, ctx);
    let mut coin = frost(100, ctx);
    let extension = system.reserve_space_for_epochs(blob.storage().size(), 1, 2, &mut coin, ctx);
    system.extend_blob_with_resource(&mut blob, extension);
    abort
}

#[test, expected_failure(abort_code = walrus::storage_resource::EIncompatibleAmount)]
fun extension_of_another_size_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = certified_blob(&mut system, 2, ctx);
    let mut coin = frost(100, ctx);
    let extension = system.reserve_space_for_epochs(blob.storage().size() + 1, 3, 5, &mut coin, ctx);
    system.extend_blob_with_resource(&mut blob, extension);
    abort
}

#[test]
fun extend_by_paying_charges_the_new_epochs_for_the_storage_size() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = certified_blob(&mut system, 2, ctx);
    let size = blob.storage().size();
    let units = size.divide_and_round_up(MIB);
    let mut coin = frost(1000, ctx);
    system.extend_blob_bounded(&mut blob, 3, &mut coin, units * 2 * 3);
    assert!(coin.value() == 1000 - units * 2 * 3);
    assert!(blob.end_epoch() == 6);
    assert!(system.future_accounting().ring_lookup(2).used_capacity() == size);
    assert!(system.future_accounting().ring_lookup(4).used_capacity() == size);
    assert!(system.future_accounting().ring_lookup(5).used_capacity() == 0);
    system.extend_blob(&mut blob, 1, &mut coin);
    assert!(blob.end_epoch() == 7);
    destroy(coin);
    destroy(blob);
    system.destroy_for_testing();
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidEpochsAhead)]
fun extending_by_zero_epochs_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = certified_blob(&mut system, 2, ctx);
    let mut coin = frost(1000, ctx);
    system.extend_blob(&mut blob, 0, &mut coin);
    abort
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidEpochsAhead)]
fun extending_beyond_the_window_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = certified_blob(&mut system, 2, ctx);
    let mut coin = frost(1000, ctx);
    system.extend_blob(&mut blob, 9, &mut coin);
    abort
}

#[test, expected_failure(abort_code = system_state_inner::ECostAboveLimit)]
fun extending_above_the_payment_limit_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = certified_blob(&mut system, 2, ctx);
    let mut coin = frost(1000, ctx);
    system.extend_blob_bounded(&mut blob, 3, &mut coin, 1);
    abort
}

#[test]
fun burning_through_the_system_frees_the_future_capacity() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let blob = certified_blob(&mut system, 3, ctx);
    system.burn_blob(blob);
    assert!(system.future_accounting().ring_lookup(0).used_capacity() == encoded(&system));
    assert!(system.future_accounting().ring_lookup(1).used_capacity() == 0);
    assert!(event::events_by_type<walrus::events::BlobBurned>().length() == 1);
    system.destroy_for_testing();
}

#[test]
fun burning_an_expired_blob_needs_no_system() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut blob = certified_blob(&mut system, 1, ctx);
    blob.insert_or_update_metadata_pair(b"k".to_string(), b"v".to_string());
    advance(&mut system, WEIGHTS);
    blob.burn();
    assert!(event::events_by_type<walrus::events::BlobBurned>().length() == 1);
    system.destroy_for_testing();
}

// === Invalid blob IDs ===

#[test]
fun invalidating_needs_one_correct_node() {
    let ctx = &mut tx_context::dummy();
    let system = system(WEIGHTS, ctx);
    let message = messages::invalid_blob_id_message(1, 42);
    assert!(system.invalidate_blob_id(signature!(), bitmap(3, vector[2]), message) == 42);
    assert!(event::events_by_type<walrus::events::InvalidBlobID>().length() == 1);
    system.destroy_for_testing();
}

#[test, expected_failure(abort_code = walrus::bls_aggregate::ENotEnoughStake)]
fun invalidating_with_too_little_weight_is_refused() {
    let ctx = &mut tx_context::dummy();
    let system = system(WEIGHTS, ctx);
    let message = messages::invalid_blob_id_message(1, 42);
    system.invalidate_blob_id(signature!(), bitmap(3, vector[1]), message);
    abort
}

#[test, expected_failure(abort_code = messages::EInvalidMsgType)]
fun invalidating_with_a_blob_certificate_is_refused() {
    let ctx = &mut tx_context::dummy();
    let system = system(WEIGHTS, ctx);
    let message = messages::blob_certification_message(1, 42, messages::permanent());
    system.invalidate_blob_id(signature!(), bitmap(3, vector[1, 2]), message);
    abort
}
