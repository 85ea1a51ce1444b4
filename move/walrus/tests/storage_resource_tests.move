#[test_only]
module walrus::storage_resource_tests;

use sui::event;
use std::unit_test::destroy;
use walrus::events::{StorageSplit, StorageFused};
use walrus::storage_resource::{Self, create_for_test};

#[test]
fun split_by_epoch_keeps_the_start_and_hands_out_the_rest() {
    let ctx = &mut tx_context::dummy();
    let mut storage = create_for_test(2, 10, 500, ctx);
    let later = storage.split_by_epoch(6, ctx);
    assert!(storage.start_epoch() == 2 && storage.end_epoch() == 6 && storage.size() == 500);
    assert!(later.start_epoch() == 6 && later.end_epoch() == 10 && later.size() == 500);
    assert!(event::events_by_type<StorageSplit>().length() == 1);
    destroy(storage);
    destroy(later);
}

#[test, expected_failure(abort_code = storage_resource::EInvalidEpoch)]
fun split_by_epoch_at_the_start_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut storage = create_for_test(2, 10, 500, ctx);
    destroy(storage.split_by_epoch(2, ctx));
    destroy(storage);
}

#[test, expected_failure(abort_code = storage_resource::EInvalidEpoch)]
fun split_by_epoch_at_the_end_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut storage = create_for_test(2, 10, 500, ctx);
    destroy(storage.split_by_epoch(10, ctx));
    destroy(storage);
}

#[test]
fun split_by_size_keeps_the_requested_size() {
    let ctx = &mut tx_context::dummy();
    let mut storage = create_for_test(2, 10, 500, ctx);
    let rest = storage.split_by_size(120, ctx);
    assert!(storage.size() == 120 && rest.size() == 380);
    assert!(rest.start_epoch() == 2 && rest.end_epoch() == 10);
    destroy(storage);
    destroy(rest);
}

#[test]
fun split_by_size_at_the_whole_size_leaves_an_empty_piece() {
    let ctx = &mut tx_context::dummy();
    let mut storage = create_for_test(2, 10, 500, ctx);
    let rest = storage.split_by_size(500, ctx);
    assert!(storage.size() == 500 && rest.size() == 0);
    assert!(rest.start_epoch() == 2 && rest.end_epoch() == 10);
    destroy(storage);
    destroy(rest);
}

#[test]
fun split_by_size_zero_hands_everything_out() {
    let ctx = &mut tx_context::dummy();
    let mut storage = create_for_test(2, 10, 500, ctx);
    let rest = storage.split_by_size(0, ctx);
    assert!(storage.size() == 0 && rest.size() == 500);
    // The empty piece fuses back without changing the total.
    storage.fuse_amount(rest);
    assert!(storage.size() == 500);
    destroy(storage);
}

#[test, expected_failure(abort_code = storage_resource::EInvalidSplitSize)]
fun split_by_size_beyond_the_size_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut storage = create_for_test(2, 10, 500, ctx);
    destroy(storage.split_by_size(501, ctx));
    destroy(storage);
}

#[test]
fun fuse_periods_in_either_order() {
    let ctx = &mut tx_context::dummy();
    let mut early = create_for_test(2, 5, 500, ctx);
    early.fuse_periods(create_for_test(5, 8, 500, ctx));
    assert!(early.start_epoch() == 2 && early.end_epoch() == 8);
    let mut late = create_for_test(8, 9, 500, ctx);
    late.fuse_periods(early);
    assert!(late.start_epoch() == 2 && late.end_epoch() == 9 && late.size() == 500);
    assert!(event::events_by_type<StorageFused>().length() == 2);
    late.destroy();
}

#[test, expected_failure(abort_code = storage_resource::EIncompatibleAmount)]
fun fuse_periods_of_different_sizes_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut storage = create_for_test(2, 5, 500, ctx);
    storage.fuse_periods(create_for_test(5, 8, 501, ctx));
    destroy(storage);
}

#[test, expected_failure(abort_code = storage_resource::EIncompatibleEpochs)]
fun fuse_periods_with_a_gap_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut storage = create_for_test(2, 5, 500, ctx);
    storage.fuse_periods(create_for_test(6, 8, 500, ctx));
    destroy(storage);
}

#[test]
fun fuse_amount_adds_sizes_and_fuse_dispatches() {
    let ctx = &mut tx_context::dummy();
    let mut storage = create_for_test(2, 5, 500, ctx);
    storage.fuse(create_for_test(2, 5, 100, ctx));
    assert!(storage.size() == 600 && storage.start_epoch() == 2 && storage.end_epoch() == 5);
    storage.fuse(create_for_test(5, 7, 600, ctx));
    assert!(storage.size() == 600 && storage.end_epoch() == 7);
    storage.destroy();
}

#[test, expected_failure(abort_code = storage_resource::EIncompatibleEpochs)]
fun fuse_amount_over_different_periods_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut storage = create_for_test(2, 5, 500, ctx);
    storage.fuse_amount(create_for_test(2, 6, 500, ctx));
    destroy(storage);
}
