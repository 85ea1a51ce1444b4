/// The integrator modules of this package run against our `walrus`, as their authors' tests
/// would run them against Walrus's: shared blobs funded by tips, storage carved with size-0
/// previews, a gallery on a storage pool, and a blob card read through the accessors.
#[test_only]
module walrus_compat_tests::compat_tests;

use std::unit_test::destroy;
use sui::coin::{Self, Coin};
use sui::test_scenario;
use wal::wal::WAL;
use walrus::blob::{Self, Blob};
use walrus::encoding;
use walrus::messages;
use walrus::shared_blob::SharedBlob;
use walrus::system::{Self, System};
use walrus_compat_tests::blob_card;
use walrus_compat_tests::pooled_gallery;
use walrus_compat_tests::storage_shop;
use walrus_compat_tests::tip_jar;

const N_SHARDS: u16 = 10;
const CAPACITY: u64 = 1_000_000_000_000;
const STORAGE_PRICE: u64 = 2;
const WRITE_PRICE: u64 = 3;
const MAX_EPOCHS_AHEAD: u32 = 10;
const SIZE: u64 = 5_000;
const MIB: u64 = 1_048_576;

fun new_system(ctx: &mut TxContext): System {
    system::new_live_for_testing(N_SHARDS, CAPACITY, STORAGE_PRICE, WRITE_PRICE, MAX_EPOCHS_AHEAD, ctx)
}

fun next_epoch(system: &mut System) {
    system.advance_epoch_for_testing(N_SHARDS, CAPACITY, STORAGE_PRICE, WRITE_PRICE).destroy_for_testing();
}

fun wal(amount: u64, ctx: &mut TxContext): Coin<WAL> { coin::mint_for_testing(amount, ctx) }

fun encoded(size: u64): u64 { encoding::encoded_blob_length(size, 1, N_SHARDS) }

/// Any signature verifies under the test runner's BLS natives; the one member signs.
fun certify_message(system: &System, blob_id: u256, deletable: bool, object_id: ID): (vector<u8>, vector<u8>, vector<u8>) {
    let persistence = if (deletable) messages::deletable(object_id) else messages::permanent();
    let message = messages::blob_certification_message(system.epoch(), blob_id, persistence);
    (vector::tabulate!(96, |i| i as u8), vector[1], message)
}

fun certified_blob(system: &mut System, root_hash: u256, epochs: u32, ctx: &mut TxContext): Blob {
    let mut payment = wal(1_000_000, ctx);
    let storage = system.reserve_space(encoded(SIZE), epochs, &mut payment, ctx);
    let blob_id = blob::derive_blob_id(root_hash, 1, SIZE);
    let mut blob = system.register_blob(storage, blob_id, root_hash, SIZE, 1, false, &mut payment, ctx);
    let (signature, signers, message) = certify_message(system, blob_id, false, blob.object_id());
    system.certify_blob(&mut blob, signature, signers, message);
    destroy(payment);
    blob
}

// === Shared blobs kept alive by tips ===

#[test]
fun readers_tip_a_shared_blob_and_keep_it_alive() {
    let mut scenario = test_scenario::begin(@0xA);
    let mut system = new_system(scenario.ctx());
    let blob = certified_blob(&mut system, 0xF00D, 2, scenario.ctx());
    let end = blob.end_epoch();
    let first_tip = wal(400, scenario.ctx());
    tip_jar::publish(blob, option::some(first_tip), scenario.ctx());

    scenario.next_tx(@0xB);
    let mut jar = scenario.take_shared<SharedBlob>();
    tip_jar::tip(&mut jar, wal(600, scenario.ctx()));
    assert!(tip_jar::tips_left(&jar) == 1_000);
    let cost = system.storage_cost(jar.blob().storage().size(), 3);
    assert!(tip_jar::keep_alive(&mut jar, &mut system, 3, scenario.ctx()) == end + 3);
    assert!(tip_jar::tips_left(&jar) == 1_000 - cost);
    test_scenario::return_shared(jar);
    destroy(system);
    scenario.end();
}

#[test]
fun a_blob_published_without_a_tip_is_shared_empty() {
    let mut scenario = test_scenario::begin(@0xA);
    let mut system = new_system(scenario.ctx());
    let blob = certified_blob(&mut system, 0xF00D, 2, scenario.ctx());
    let object_id = blob.object_id();
    tip_jar::publish(blob, option::none(), scenario.ctx());

    scenario.next_tx(@0xB);
    let jar = scenario.take_shared<SharedBlob>();
    assert!(jar.blob().object_id() == object_id && tip_jar::tips_left(&jar) == 0);
    test_scenario::return_shared(jar);
    destroy(system);
    scenario.end();
}

#[test, expected_failure(abort_code = walrus::system_state_inner::EInsufficientPayment)]
fun keeping_alive_without_enough_tips_fails() {
    let mut scenario = test_scenario::begin(@0xA);
    let mut system = new_system(scenario.ctx());
    let blob = certified_blob(&mut system, 0xF00D, 2, scenario.ctx());
    tip_jar::publish(blob, option::none(), scenario.ctx());

    scenario.next_tx(@0xB);
    let mut jar = scenario.take_shared<SharedBlob>();
    tip_jar::keep_alive(&mut jar, &mut system, 1, scenario.ctx());
    abort
}

// === Storage carved with size-0 previews ===

#[test]
fun a_shop_previews_with_an_empty_piece_and_carves_any_size() {
    let ctx = &mut tx_context::dummy();
    let mut system = new_system(ctx);
    let mut payment = wal(1_000_000, ctx);
    let mut stock = storage_shop::stock(&mut system, 3 * MIB, 4, &mut payment, ctx);
    let (start, end, size) = storage_shop::preview(&mut stock, ctx);
    assert!(start == 1 && end == 5 && size == 3 * MIB && stock.size() == 3 * MIB);

    let piece = storage_shop::carve(&mut stock, MIB, ctx);
    assert!(piece.size() == MIB && stock.size() == 2 * MIB);
    let empty = storage_shop::carve(&mut stock, 0, ctx);
    assert!(empty.size() == 0 && stock.size() == 2 * MIB);
    let all = storage_shop::carve(&mut stock, 2 * MIB, ctx);
    assert!(all.size() == 2 * MIB && stock.size() == 0);
    destroy(vector[piece, empty, all, stock]);
    destroy(payment);
    destroy(system);
}

// === A gallery on a storage pool ===

#[test]
fun a_gallery_stores_images_in_one_pool_and_reuses_freed_bytes() {
    let ctx = &mut tx_context::dummy();
    let mut system = new_system(ctx);
    let mut payment = wal(10_000_000, ctx);
    let mut gallery = pooled_gallery::open(&mut system, 2 * encoded(SIZE), 2, &mut payment, ctx);
    let (cat, dog) = (blob::derive_blob_id(1, 1, SIZE), blob::derive_blob_id(2, 1, SIZE));
    gallery.upload(&mut system, cat, 1, SIZE, true, b"cat".to_string(), &mut payment, ctx);
    gallery.upload(&mut system, dog, 2, SIZE, false, b"dog".to_string(), &mut payment, ctx);
    let (free, images, end) = gallery.status();
    assert!(free == 0 && images == 2 && end == 3);
    assert!(gallery.pool().blob_metadata_value(cat, &b"title".to_string()) == option::some(b"cat".to_string()));

    let (signature, signers, message) = certify_message(&system, cat, true, gallery.image_object_id(cat));
    gallery.certify(&system, cat, signature, signers, message);
    gallery.remove(&system, cat);
    assert!(!gallery.has_image(cat) && gallery.has_image(dog));
    // The freed bytes take the next image without buying anything.
    let bird = blob::derive_blob_id(3, 1, SIZE);
    gallery.upload(&mut system, bird, 3, SIZE, true, b"bird".to_string(), &mut payment, ctx);

    gallery.grow(&mut system, MIB, &mut payment);
    let extra = system.reserve_space(MIB, 2, &mut payment, ctx);
    gallery.grow_with(&system, extra);
    let (free, _, _) = gallery.status();
    assert!(free == 2 * MIB);
    let trimmed = gallery.trim(&system, 50, ctx);
    assert!(trimmed.size() == MIB);
    let exact = gallery.trim_bytes(&system, MIB, ctx);
    gallery.renew(&mut system, 1, &mut payment);
    let (free, images, end) = gallery.status();
    assert!(free == 0 && images == 2 && end == 4);

    next_epoch(&mut system);
    next_epoch(&mut system);
    next_epoch(&mut system);
    gallery.sweep(&system, dog);
    gallery.sweep(&system, bird);
    let storage = gallery.close();
    assert!(storage.end_epoch() == 4 && storage.size() == 2 * encoded(SIZE));
    destroy(vector[storage, trimmed, exact]);
    destroy(payment);
    destroy(system);
}

#[test]
fun a_gallery_opens_on_storage_bought_before() {
    let ctx = &mut tx_context::dummy();
    let mut system = new_system(ctx);
    let mut payment = wal(1_000_000, ctx);
    let storage = system.reserve_space(MIB, 3, &mut payment, ctx);
    let gallery = pooled_gallery::open_with(&system, storage, ctx);
    let (free, images, end) = gallery.status();
    assert!(free == MIB && images == 0 && end == 4);
    destroy(gallery.close());
    destroy(payment);
    destroy(system);
}

#[test, expected_failure(abort_code = walrus::storage_pool::EInsufficientCapacity)]
fun a_full_gallery_refuses_another_image() {
    let ctx = &mut tx_context::dummy();
    let mut system = new_system(ctx);
    let mut payment = wal(1_000_000, ctx);
    let mut gallery = pooled_gallery::open(&mut system, encoded(SIZE), 2, &mut payment, ctx);
    gallery.upload(&mut system, blob::derive_blob_id(1, 1, SIZE), 1, SIZE, true, b"a".to_string(), &mut payment, ctx);
    gallery.upload(&mut system, blob::derive_blob_id(2, 1, SIZE), 2, SIZE, true, b"b".to_string(), &mut payment, ctx);
    abort
}

// === Accessors ===

#[test]
fun a_blob_card_reads_the_blob_and_the_system() {
    let ctx = &mut tx_context::dummy();
    let mut system = new_system(ctx);
    let blob = certified_blob(&mut system, 0xBEEF, 3, ctx);
    let card = blob_card::card(&blob, &system);
    assert!(card.blob_id() == blob::derive_blob_id(0xBEEF, 1, SIZE));
    assert!(card.encoded_size() == encoded(SIZE) && card.storage_size() == encoded(SIZE));
    assert!(card.certified_epoch() == option::some(1) && card.epochs_left() == 3);
    assert!(blob_card::has_room(&system, CAPACITY - encoded(SIZE)));
    assert!(!blob_card::has_room(&system, CAPACITY - encoded(SIZE) + 1));
    assert!(blob_card::sold_in(&system, 2) == encoded(SIZE) && blob_card::sold_in(&system, 3) == 0);
    destroy(blob);
    destroy(system);
}
