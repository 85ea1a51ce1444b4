/// Blob helpers shared by the system, shared-blob and storage-pool tests: one test blob, bought,
/// registered and certified the way a client does it.
#[test_only]
module walrus::blob_test_utils;

use std::unit_test::destroy;
use walrus::blob::{Self, Blob};
use walrus::encoding;
use walrus::messages;
use walrus::storage_resource::Storage;
use walrus::system::System;
use walrus::test_utils::{frost, bitmap, signature};

/// The blob tests register: its ID follows from this root hash and size.
public macro fun blob_root(): u256 { 0xC0FFEE }
public macro fun blob_size(): u64 { 1000 }

public fun blob_id(): u256 { blob::derive_blob_id(blob_root!(), 1, blob_size!()) }

/// The encoded size of the test blob in `system`'s committee.
public fun encoded(system: &System): u64 { encoding::encoded_blob_length(blob_size!(), 1, system.n_shards()) }

public fun reserve(system: &mut System, amount: u64, epochs: u32, ctx: &mut TxContext): Storage {
    let mut coin = frost(1_000_000, ctx);
    let storage = system.reserve_space(amount, epochs, &mut coin, ctx);
    destroy(coin);
    storage
}

public fun register_blob(system: &mut System, storage: Storage, deletable: bool, ctx: &mut TxContext): Blob {
    let mut coin = frost(1_000_000, ctx);
    let blob = system.register_blob(storage, blob_id(), blob_root!(), blob_size!(), 1, deletable, &mut coin, ctx);
    destroy(coin);
    blob
}

public fun new_blob(system: &mut System, deletable: bool, epochs: u32, ctx: &mut TxContext): Blob {
    let amount = encoded(system);
    let storage = reserve(system, amount, epochs, ctx);
    register_blob(system, storage, deletable, ctx)
}

/// A certification message of the current epoch for `blob_id` (deletable ones name their object).
public fun certification(system: &System, blob_id: u256, deletable: bool, object_id: ID): vector<u8> {
    let persistence = if (deletable) messages::deletable(object_id) else messages::permanent();
    messages::blob_certification_message(system.epoch(), blob_id, persistence)
}

/// A bitmap with every member of `system`'s committee signing.
public fun all_signers(system: &System): vector<u8> {
    let n = system.committee().n_members();
    bitmap(n, vector::tabulate!(n, |i| i))
}

public fun certify(system: &System, blob: &mut Blob) {
    let message = certification(system, blob.blob_id(), blob.is_deletable(), blob.object_id());
    system.certify_blob(blob, signature!(), all_signers(system), message);
}

public fun certified_blob(system: &mut System, epochs: u32, ctx: &mut TxContext): Blob {
    let mut blob = new_blob(system, false, epochs, ctx);
    certify(system, &mut blob);
    blob
}
