#[test_only]
module walrus::storage_pool_tests;

use std::unit_test::destroy;
use sui::event;
use walrus::blob;
use walrus::blob_test_utils::{blob_id, blob_root, blob_size, encoded, reserve, certification, all_signers};
use walrus::events::{StoragePoolCreated, PooledBlobRegistered, PooledBlobCertified, PooledBlobDeleted, StoragePoolExtended};
use walrus::storage_pool::{Self, StoragePool};
use walrus::system::System;
use walrus::system_state_inner;
use walrus::test_utils::{system, advance, frost, signature, max_epochs_ahead};

const WEIGHTS: vector<u16> = vector[2, 3, 5];
const MIB: u64 = 1_048_576;
const FUNDS: u64 = 1_000_000;

fun new_pool(system: &mut System, capacity: u64, epochs: u32, ctx: &mut TxContext): StoragePool {
    let mut coin = frost(FUNDS, ctx);
    let pool = system.create_storage_pool(capacity, epochs, &mut coin, ctx);
    destroy(coin);
    pool
}

fun register(system: &mut System, pool: &mut StoragePool, deletable: bool, ctx: &mut TxContext) {
    let mut coin = frost(FUNDS, ctx);
    system.register_pooled_blob(pool, blob_id(), blob_root!(), blob_size!(), 1, deletable, &mut coin, ctx);
    destroy(coin);
}

fun certify(system: &System, pool: &mut StoragePool) {
    let message = certification(system, blob_id(), pool.borrow_blob(blob_id()).is_deletable(), pool.blob_object_id(blob_id()));
    system.certify_pooled_blob(pool, blob_id(), signature!(), all_signers(system), message);
}

/// Encoded bytes reserved in the epoch `offset` epochs from now.
fun used_in(system: &System, offset: u32): u64 { system.future_accounting().ring_lookup(offset).used_capacity() }

// === Creation and capacity accounting ===

#[test]
fun a_pool_is_bought_like_reserve_space() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(FUNDS, ctx);
    let pool = system.create_storage_pool(3 * MIB, 4, &mut coin, ctx);
    assert!(coin.value() == FUNDS - system.storage_cost(3 * MIB, 4));
    assert!(pool.start_epoch() == 1 && pool.end_epoch() == 5);
    assert!(pool.reserved_encoded_capacity_bytes() == 3 * MIB && pool.available_encoded_bytes() == 3 * MIB);
    assert!(pool.used_encoded_bytes() == 0 && pool.blob_count() == 0);
    assert!(system.used_capacity_size() == 3 * MIB && used_in(&system, 3) == 3 * MIB && used_in(&system, 4) == 0);
    assert!(event::events_by_type<StoragePoolCreated>().length() == 1);
    destroy(coin);
    destroy(pool);
    destroy(system);
}

#[test]
fun a_pool_is_made_of_storage_that_has_started() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let storage = reserve(&mut system, MIB, 3, ctx);
    let pool = system.create_storage_pool_with_storage(storage, ctx);
    assert!(pool.reserved_encoded_capacity_bytes() == MIB && pool.end_epoch() == 4);
    assert!(pool.storage().size() == MIB);
    destroy(pool);
    destroy(system);
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidResourceSize)]
fun a_pool_of_empty_storage_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut storage = reserve(&mut system, MIB, 3, ctx);
    let rest = storage.split_by_size(0, ctx);
    destroy(rest);
    destroy(system.create_storage_pool_with_storage(storage, ctx));
    abort
}

#[test, expected_failure(abort_code = system_state_inner::EStorageNotActive)]
fun a_pool_of_future_storage_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(FUNDS, ctx);
    let storage = system.reserve_space_for_epochs(MIB, 2, 4, &mut coin, ctx);
    destroy(system.create_storage_pool_with_storage(storage, ctx));
    abort
}

#[test, expected_failure(abort_code = system_state_inner::ECostAboveLimit)]
fun create_storage_pool_bounded_refuses_a_cost_above_the_limit() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut coin = frost(FUNDS, ctx);
    let cost = system.storage_cost(MIB, 2);
    destroy(system.create_storage_pool_bounded(MIB, 2, &mut coin, cost, ctx));
    destroy(system.create_storage_pool_bounded(MIB, 2, &mut coin, cost - 1, ctx));
    abort
}

// === Blobs in a pool ===

#[test]
fun blobs_share_the_pool_and_deleting_one_frees_its_bytes() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let amount = 2 * encoded(&system);
    let mut pool = new_pool(&mut system, amount, 3, ctx);
    let mut coin = frost(FUNDS, ctx);
    system.register_pooled_blob(&mut pool, blob_id(), blob_root!(), blob_size!(), 1, true, &mut coin, ctx);
    assert!(coin.value() == FUNDS - system.write_cost(encoded(&system)));
    assert!(pool.used_encoded_bytes() == encoded(&system) && pool.blob_count() == 1 && pool.contains_blob(blob_id()));
    let pooled = pool.borrow_blob(blob_id());
    assert!(pooled.blob_id() == blob_id() && pooled.unencoded_size() == blob_size!() && pooled.encoding_type() == 1);
    assert!(pooled.registered_epoch() == 1 && pooled.storage_pool_id() == pool.object_id());
    assert!(pooled.is_deletable() && !pooled.is_certified() && pooled.encoded_size() == encoded(&system));
    assert!(event::events_by_type<PooledBlobRegistered>().length() == 1);

    certify(&system, &mut pool);
    assert!(pool.borrow_blob(blob_id()).certified_epoch() == &option::some(1));
    assert!(event::events_by_type<PooledBlobCertified>().length() == 1);

    system.delete_pooled_blob(&mut pool, blob_id());
    assert!(pool.used_encoded_bytes() == 0 && pool.blob_count() == 0 && !pool.contains_blob(blob_id()));
    assert!(event::events_by_type<PooledBlobDeleted>().length() == 1);
    // The same blob fits again, and the system's reservation never moved.
    register(&mut system, &mut pool, false, ctx);
    assert!(pool.blob_count() == 1 && system.used_capacity_size() == 2 * encoded(&system));
    destroy(coin);
    destroy(pool);
    destroy(system);
}

#[test]
fun deleting_frees_what_was_charged_even_after_the_shards_change() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let charged = encoded(&system);
    let mut pool = new_pool(&mut system, charged, 3, ctx);
    register(&mut system, &mut pool, true, ctx);
    advance(&mut system, vector[4, 4, 4, 4, 4]);
    assert!(encoded(&system) != charged);
    system.delete_pooled_blob(&mut pool, blob_id());
    assert!(pool.used_encoded_bytes() == 0 && pool.available_encoded_bytes() == charged);
    destroy(pool);
    destroy(system);
}

#[test, expected_failure(abort_code = storage_pool::EBlobNotDeletable)]
fun a_permanent_pooled_blob_cannot_be_deleted() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    register(&mut system, &mut pool, false, ctx);
    system.delete_pooled_blob(&mut pool, blob_id());
    abort
}

#[test, expected_failure(abort_code = storage_pool::EBlobAlreadyInPool)]
fun a_blob_id_is_registered_once_per_pool() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    register(&mut system, &mut pool, false, ctx);
    register(&mut system, &mut pool, true, ctx);
    abort
}

#[test, expected_failure(abort_code = storage_pool::EInsufficientCapacity)]
fun a_blob_larger_than_the_unused_bytes_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let amount = encoded(&system) - 1;
    let mut pool = new_pool(&mut system, amount, 3, ctx);
    register(&mut system, &mut pool, false, ctx);
    abort
}

#[test, expected_failure(abort_code = storage_pool::EInvalidBlobId)]
fun a_blob_id_that_does_not_match_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    let mut coin = frost(FUNDS, ctx);
    system.register_pooled_blob(&mut pool, blob_id() + 1, blob_root!(), blob_size!(), 1, false, &mut coin, ctx);
    abort
}

#[test, expected_failure(abort_code = system_state_inner::ECostAboveLimit)]
fun register_pooled_blob_bounded_refuses_a_fee_above_the_limit() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    let mut coin = frost(FUNDS, ctx);
    let fee = system.write_cost(encoded(&system));
    system.register_pooled_blob_bounded(&mut pool, blob_id(), blob_root!(), blob_size!(), 1, false, &mut coin, fee - 1, ctx);
    abort
}

#[test, expected_failure(abort_code = storage_pool::EPoolNotActive)]
fun an_expired_pool_takes_no_blobs() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 1, ctx);
    advance(&mut system, WEIGHTS);
    register(&mut system, &mut pool, false, ctx);
    abort
}

#[test, expected_failure(abort_code = storage_pool::EBlobNotInPool)]
fun certifying_an_unknown_blob_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    let message = certification(&system, blob_id(), false, object::id_from_address(@0x0));
    system.certify_pooled_blob(&mut pool, blob_id(), signature!(), all_signers(&system), message);
    abort
}

#[test, expected_failure(abort_code = blob::EAlreadyCertified)]
fun a_pooled_blob_is_certified_once() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    register(&mut system, &mut pool, false, ctx);
    certify(&system, &mut pool);
    certify(&system, &mut pool);
    abort
}

#[test, expected_failure(abort_code = blob::EInvalidBlobObject)]
fun a_deletable_pooled_blob_needs_a_certificate_for_its_object() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    register(&mut system, &mut pool, true, ctx);
    let message = certification(&system, blob_id(), true, pool.object_id());
    system.certify_pooled_blob(&mut pool, blob_id(), signature!(), all_signers(&system), message);
    abort
}

#[test]
fun pooled_blobs_carry_attributes() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    register(&mut system, &mut pool, true, ctx);
    let key = b"content-type".to_string();
    pool.insert_or_update_blob_metadata_pair(blob_id(), key, b"text/plain".to_string());
    assert!(pool.blob_metadata_value(blob_id(), &key) == option::some(b"text/plain".to_string()));
    assert!(pool.remove_blob_metadata_pair_if_exists(blob_id(), &b"absent".to_string()).is_none());
    let (_, value) = pool.remove_blob_metadata_pair(blob_id(), &key);
    assert!(value == b"text/plain".to_string());
    assert!(pool.take_blob_metadata(blob_id()).length() == 0);
    let mut metadata = walrus::metadata::new();
    metadata.insert_or_update(key, b"image/png".to_string());
    pool.add_blob_metadata(blob_id(), metadata);
    assert!(pool.add_or_replace_blob_metadata(blob_id(), walrus::metadata::new()).is_some());
    assert!(pool.take_blob_metadata(blob_id()).length() == 0);
    // A blob deleted with metadata takes it along.
    pool.add_blob_metadata(blob_id(), walrus::metadata::new());
    system.delete_pooled_blob(&mut pool, blob_id());
    destroy(pool);
    destroy(system);
}

// === Expiry and destruction ===

#[test]
fun an_expired_pool_is_emptied_by_burning_then_destroyed() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 1, ctx);
    register(&mut system, &mut pool, false, ctx);
    advance(&mut system, WEIGHTS);
    system.burn_expired_pooled_blob(&mut pool, blob_id());
    assert!(pool.blob_count() == 0 && pool.used_encoded_bytes() == 0);
    let storage = pool.destroy();
    assert!(storage.size() == MIB && storage.end_epoch() == 2);
    destroy(storage);
    destroy(system);
}

#[test, expected_failure(abort_code = storage_pool::EPoolNotExpired)]
fun a_live_pool_burns_no_blobs() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 2, ctx);
    register(&mut system, &mut pool, false, ctx);
    system.burn_expired_pooled_blob(&mut pool, blob_id());
    abort
}

#[test, expected_failure(abort_code = storage_pool::EPoolExpired)]
fun an_expired_pool_deletes_no_blobs() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 1, ctx);
    register(&mut system, &mut pool, true, ctx);
    advance(&mut system, WEIGHTS);
    system.delete_pooled_blob(&mut pool, blob_id());
    abort
}

#[test, expected_failure(abort_code = storage_pool::EPoolNotEmpty)]
fun a_pool_with_blobs_cannot_be_destroyed() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 2, ctx);
    register(&mut system, &mut pool, false, ctx);
    destroy(pool.destroy());
    abort
}

#[test]
fun a_destroyed_pool_gives_its_future_capacity_back_when_released() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let pool = new_pool(&mut system, MIB, 3, ctx);
    system.release_storage(pool.destroy());
    assert!(used_in(&system, 0) == MIB && used_in(&system, 1) == 0 && used_in(&system, 2) == 0);
    destroy(system);
}

#[test, expected_failure(abort_code = storage_pool::EWrongVersion)]
fun a_pool_of_another_version_is_locked() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 2, ctx);
    pool.set_version_for_testing(2);
    pool.blob_count();
    abort
}

// === Extending and resizing ===

#[test]
fun extending_pays_for_the_whole_capacity_in_the_new_epochs() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, 2 * MIB, 2, ctx);
    let mut coin = frost(FUNDS, ctx);
    system.extend_storage_pool(&mut pool, 3, &mut coin);
    assert!(coin.value() == FUNDS - system.storage_cost(2 * MIB, 3));
    assert!(pool.end_epoch() == 6 && used_in(&system, 4) == 2 * MIB && used_in(&system, 5) == 0);
    assert!(event::events_by_type<StoragePoolExtended>().length() == 1);
    destroy(coin);
    destroy(pool);
    destroy(system);
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidEpochsAhead)]
fun extending_beyond_max_epochs_ahead_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 2, ctx);
    let mut coin = frost(FUNDS, ctx);
    system.extend_storage_pool(&mut pool, max_epochs_ahead!() - 1, &mut coin);
    abort
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidEpochsAhead)]
fun extending_by_zero_epochs_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 2, ctx);
    let mut coin = frost(FUNDS, ctx);
    system.extend_storage_pool(&mut pool, 0, &mut coin);
    abort
}

#[test, expected_failure(abort_code = storage_pool::EPoolExpired)]
fun an_expired_pool_cannot_be_extended() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 1, ctx);
    advance(&mut system, WEIGHTS);
    let mut coin = frost(FUNDS, ctx);
    system.extend_storage_pool_bounded(&mut pool, 1, &mut coin, FUNDS);
    abort
}

#[test]
fun growing_pays_for_the_rest_of_the_pool_only() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    advance(&mut system, WEIGHTS);
    let mut coin = frost(FUNDS, ctx);
    system.increase_storage_pool_capacity(&mut pool, 2 * MIB, &mut coin);
    assert!(coin.value() == FUNDS - system.storage_cost(2 * MIB, 2));
    assert!(pool.reserved_encoded_capacity_bytes() == 3 * MIB);
    assert!(used_in(&system, 0) == 3 * MIB && used_in(&system, 1) == 3 * MIB && used_in(&system, 2) == 0);
    // Released later, the grown storage gives back exactly what was reserved.
    system.release_storage(pool.destroy());
    assert!(used_in(&system, 0) == 3 * MIB && used_in(&system, 1) == 0);
    destroy(coin);
    destroy(system);
}

#[test, expected_failure(abort_code = system_state_inner::EInvalidResourceSize)]
fun growing_by_zero_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    let mut coin = frost(FUNDS, ctx);
    system.increase_storage_pool_capacity_bounded(&mut pool, 0, &mut coin, FUNDS);
    abort
}

#[test]
fun growing_with_storage_that_ends_with_the_pool() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    let storage = reserve(&mut system, 2 * MIB, 3, ctx);
    system.increase_storage_pool_capacity_with_storage(&mut pool, storage);
    assert!(pool.reserved_encoded_capacity_bytes() == 3 * MIB && used_in(&system, 2) == 3 * MIB);
    destroy(pool);
    destroy(system);
}

#[test, expected_failure(abort_code = storage_pool::EStorageNotStarted)]
fun growing_with_storage_that_has_not_started_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    let mut coin = frost(FUNDS, ctx);
    let storage = system.reserve_space_for_epochs(MIB, 2, 4, &mut coin, ctx);
    system.increase_storage_pool_capacity_with_storage(&mut pool, storage);
    abort
}

#[test, expected_failure(abort_code = storage_pool::EIncompatibleEndEpoch)]
fun growing_with_storage_that_ends_elsewhere_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    let storage = reserve(&mut system, MIB, 2, ctx);
    system.increase_storage_pool_capacity_with_storage(&mut pool, storage);
    abort
}

#[test]
fun shrinking_hands_out_unused_bytes_as_storage() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, 4 * MIB, 3, ctx);
    register(&mut system, &mut pool, false, ctx);
    let unused = pool.available_encoded_bytes();
    let taken = system.decrease_storage_pool_capacity_by_size(&mut pool, MIB, ctx);
    assert!(taken.size() == MIB && taken.start_epoch() == 1 && taken.end_epoch() == 4);
    assert!(pool.reserved_encoded_capacity_bytes() == 3 * MIB && pool.available_encoded_bytes() == unused - MIB);
    let half = system.decrease_storage_pool_unused_capacity_by_percent(&mut pool, 50, ctx);
    assert!(half.size() == (unused - MIB) / 2);
    // What is handed out keeps its capacity until released, and then gives back exactly it.
    assert!(used_in(&system, 1) == 4 * MIB);
    system.release_storage(taken);
    assert!(used_in(&system, 1) == 3 * MIB && used_in(&system, 0) == 4 * MIB);
    destroy(half);
    destroy(pool);
    destroy(system);
}

#[test, expected_failure(abort_code = storage_pool::EInsufficientCapacity)]
fun shrinking_into_used_bytes_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    register(&mut system, &mut pool, false, ctx);
    destroy(system.decrease_storage_pool_capacity_by_size(&mut pool, MIB, ctx));
    abort
}

#[test, expected_failure(abort_code = storage_pool::EZeroExtractSize)]
fun shrinking_by_nothing_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    destroy(system.decrease_storage_pool_unused_capacity_by_percent(&mut pool, 0, ctx));
    abort
}

#[test, expected_failure(abort_code = storage_pool::EInvalidPercent)]
fun shrinking_by_more_than_all_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    destroy(system.decrease_storage_pool_unused_capacity_by_percent(&mut pool, 101, ctx));
    abort
}

#[test, expected_failure(abort_code = storage_pool::EZeroExtractSize)]
fun taking_zero_bytes_out_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(WEIGHTS, ctx);
    let mut pool = new_pool(&mut system, MIB, 3, ctx);
    destroy(system.decrease_storage_pool_capacity_by_size(&mut pool, 0, ctx));
    abort
}
