#[test_only]
/// A blob's whole life across epochs and committees, with the money followed epoch by epoch.
module walrus::blob_lifecycle_tests;

use sui::test_scenario;
use std::unit_test::destroy;
use wal::wal::WAL;
use sui::coin::Coin;
use walrus::blob::{Self, Blob};
use walrus::encoding;
use walrus::epoch_parameters;
use walrus::messages;
use walrus::system::System;
use walrus::test_utils::{system, committee, frost, bitmap, signature};

const USER: address = @0xCAFE;
const MIB: u64 = 1_048_576;

#[test]
fun register_certify_extend_expire_and_burn() {
    let mut scenario = test_scenario::begin(USER);
    let mut system = system(vector[1, 2, 3, 4], scenario.ctx());
    // Prices: storage 2, write 3 per MiB. A 100 KB blob over 10 shards.
    let size = 100_000;
    let root = 0xABCDEF;
    let encoded = encoding::encoded_blob_length(size, 1, 10);
    let units = encoded.divide_and_round_up(MIB);

    let mut coin = frost(10_000, scenario.ctx());
    let storage = system.reserve_space(encoded, 2, &mut coin, scenario.ctx());
    let blob_id = blob::derive_blob_id(root, 1, size);
    let mut blob = system.register_blob(storage, blob_id, root, size, 1, false, &mut coin, scenario.ctx());
    assert!(coin.value() == 10_000 - units * 2 * 2 - units * 3);
    transfer::public_transfer(blob, USER);

    // The nodes holding 3 + 4 of 10 shards sign; the owner submits the certificate.
    scenario.next_tx(USER);
    blob = scenario.take_from_sender<Blob>();
    let message = messages::blob_certification_message(1, blob_id, messages::permanent());
    system.certify_blob(&mut blob, signature!(), bitmap(4, vector[2, 3]), message);
    assert!(blob.certified_epoch() == &option::some(1));

    // Epoch 1 ends: its storage payment and the write fee go to its committee.
    let rewards = system.advance_epoch(committee(2, vector[5, 5]), &epoch_parameters::new(1 << 40, 2, 3));
    assert!(rewards.value() == units * 2 + units * 3);
    rewards.destroy_for_testing();

    // Under the new committee the owner extends by two epochs and tags the blob.
    system.extend_blob(&mut blob, 2, &mut coin);
    assert!(blob.end_epoch() == 5);
    blob.insert_or_update_metadata_pair(b"name".to_string(), b"dataset.parquet".to_string());
    let rewards = system.advance_epoch(committee(3, vector[5, 5]), &epoch_parameters::new(1 << 40, 2, 3));
    assert!(rewards.value() == units * 2);
    rewards.destroy_for_testing();
    transfer::public_transfer(blob, USER);

    // Two more epochs: each pays its committee, then the blob expires and is burnt.
    scenario.next_tx(USER);
    blob = scenario.take_from_sender<Blob>();
    3u32.do!(|_| {
        let next = system.epoch() + 1;
        let rewards = system.advance_epoch(committee(next, vector[5, 5]), &epoch_parameters::new(1 << 40, 2, 3));
        assert!(rewards.value() == if (next <= 5) units * 2 else 0);
        rewards.destroy_for_testing();
    });
    assert!(system.epoch() == 6 && blob.end_epoch() == 5);
    assert!(system.used_capacity_size() == 0);
    blob.burn();

    let coin_left: Coin<WAL> = coin;
    assert!(coin_left.value() == 10_000 - units * (2 * 2 + 3 + 2 * 2));
    destroy(coin_left);
    system.destroy_for_testing();
    scenario.end();
}

#[test]
fun a_deletable_blob_gives_its_storage_to_the_next_one() {
    let mut scenario = test_scenario::begin(USER);
    let mut system: System = system(vector[3, 3, 4], scenario.ctx());
    let mut coin = frost(10_000, scenario.ctx());
    let encoded = encoding::encoded_blob_length(5000, 1, 10);
    let storage = system.reserve_space(encoded, 3, &mut coin, scenario.ctx());
    let first_id = blob::derive_blob_id(1, 1, 5000);
    let mut first = system.register_blob(storage, first_id, 1, 5000, 1, true, &mut coin, scenario.ctx());
    let message = messages::blob_certification_message(1, first_id, messages::deletable(first.object_id()));
    system.certify_blob(&mut first, signature!(), bitmap(3, vector[0, 1, 2]), message);

    let storage = system.delete_blob(first);
    let second_id = blob::derive_blob_id(2, 1, 4000);
    let second = system.register_blob(storage, second_id, 2, 4000, 1, true, &mut coin, scenario.ctx());
    assert!(second.end_epoch() == 4 && !second.is_certified());
    destroy(second);
    destroy(coin);
    system.destroy_for_testing();
    scenario.end();
}
