#[test_only]
module walrus::blob_metadata_tests;

use sui::event;
use std::unit_test::destroy;
use walrus::blob::{Self, Blob};
use walrus::events::{BlobAttributeSet, BlobAttributeRemoved};
use walrus::metadata;
use walrus::system::System;
use walrus::test_utils::{system, frost};

fun blob(system: &mut System, ctx: &mut TxContext): Blob {
    let mut coin = frost(1_000_000, ctx);
    let storage = system.reserve_space(1_048_576, 2, &mut coin, ctx);
    let blob_id = blob::derive_blob_id(7, 1, 10);
    let blob = system.register_blob(storage, blob_id, 7, 10, 1, false, &mut coin, ctx);
    destroy(coin);
    blob
}

fun s(bytes: vector<u8>): std::string::String { bytes.to_string() }

#[test]
fun metadata_values_can_be_set_read_and_removed() {
    let mut m = metadata::new();
    m.insert_or_update(s(b"a"), s(b"1"));
    m.insert_or_update(s(b"a"), s(b"2"));
    m.insert_or_update(s(b"b"), s(b"3"));
    assert!(m.length() == 2 && m.get(&s(b"a")) == option::some(s(b"2")));
    assert!(m.keys() == vector[s(b"a"), s(b"b")]);
    assert!(m.remove_if_exists(&s(b"zz")).is_none());
    assert!(m.remove_if_exists(&s(b"b")) == option::some(s(b"3")));
    let (key, value) = m.remove(&s(b"a"));
    assert!(key == s(b"a") && value == s(b"2") && m.length() == 0);
}

#[test]
fun attributes_on_a_blob() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(vector[4], ctx);
    let mut blob = blob(&mut system, ctx);
    assert!(blob.metadata_value(&s(b"type")).is_none());
    assert!(blob.remove_metadata_pair_if_exists(&s(b"type")).is_none());

    blob.insert_or_update_metadata_pair(s(b"type"), s(b"image/png"));
    blob.insert_or_update_metadata_pair(s(b"type"), s(b"image/jpeg"));
    assert!(blob.metadata_value(&s(b"type")) == option::some(s(b"image/jpeg")));
    assert!(event::events_by_type<BlobAttributeSet>().length() == 2);

    let (_, value) = blob.remove_metadata_pair(&s(b"type"));
    assert!(value == s(b"image/jpeg"));
    assert!(blob.remove_metadata_pair_if_exists(&s(b"type")).is_none());

    let mut m = metadata::new();
    m.insert_or_update(s(b"name"), s(b"cat.png"));
    let old = blob.add_or_replace_metadata(m);
    assert!(old.is_some_and!(|m| m.length() == 0));
    assert!(blob.metadata_value(&s(b"name")) == option::some(s(b"cat.png")));

    let taken = blob.take_metadata();
    assert!(taken.length() == 1 && blob.metadata_value(&s(b"name")).is_none());
    blob.add_metadata(taken);
    assert!(blob.add_or_replace_metadata(metadata::new()).is_some());
    assert!(blob.remove_metadata_pair_if_exists(&s(b"name")).is_none());
    assert!(event::events_by_type<BlobAttributeRemoved>().length() == 3);
    destroy(blob);
    system.destroy_for_testing();
}

#[test, expected_failure(abort_code = metadata::EDuplicateMetadata)]
fun adding_metadata_twice_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(vector[4], ctx);
    let mut blob = blob(&mut system, ctx);
    blob.add_metadata(metadata::new());
    blob.add_metadata(metadata::new());
    abort
}

#[test, expected_failure(abort_code = metadata::EMissingMetadata)]
fun taking_absent_metadata_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(vector[4], ctx);
    let mut blob = blob(&mut system, ctx);
    destroy(blob.take_metadata());
    abort
}

#[test, expected_failure(abort_code = metadata::EMissingMetadata)]
fun removing_a_pair_without_metadata_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(vector[4], ctx);
    let mut blob = blob(&mut system, ctx);
    blob.remove_metadata_pair(&s(b"type"));
    abort
}

#[test, expected_failure(abort_code = sui::vec_map::EKeyDoesNotExist)]
fun removing_an_absent_pair_is_refused() {
    let ctx = &mut tx_context::dummy();
    let mut system = system(vector[4], ctx);
    let mut blob = blob(&mut system, ctx);
    blob.insert_or_update_metadata_pair(s(b"a"), s(b"1"));
    blob.remove_metadata_pair(&s(b"type"));
    abort
}
