#[test_only]
module walrus::test_utils;

use sui::bls12381;
use sui::coin::{Self, Coin};
use wal::wal::WAL;
use walrus::bls_aggregate::{Self, BlsCommittee};
use walrus::epoch_parameters;
use walrus::system::{Self, System};

/// Small prices keep the arithmetic in tests readable.
public macro fun storage_price(): u64 { 2 }
public macro fun write_price(): u64 { 3 }
public macro fun capacity(): u64 { 1_000_000_000_000 }
public macro fun max_epochs_ahead(): u32 { 10 }
/// Any bytes verify under the test runner's BLS natives; the signature maths is proven in Rust.
public macro fun signature(): vector<u8> { vector::tabulate!(96, |i| i as u8) }

public fun frost(amount: u64, ctx: &mut TxContext): Coin<WAL> {
    coin::mint_for_testing(amount, ctx)
}

/// Node IDs 0x1, 0x2, ... in ascending order.
public fun node_id(index: u64): ID {
    object::id_from_address(sui::address::from_u256((index + 1) as u256))
}

/// A committee for `epoch` whose member `i` has `weights[i]` shards and node ID `node_id(i)`.
public fun committee(epoch: u32, weights: vector<u16>): BlsCommittee {
    let members = vector::tabulate!(weights.length(), |i| {
        let key = bls12381::g1_mul(&bls12381::scalar_from_u64(i + 1), &bls12381::g1_generator());
        bls_aggregate::new_bls_committee_member(bls12381::g1_to_uncompressed_g1(&key), weights[i], node_id(i))
    });
    bls_aggregate::new_bls_committee(epoch, members)
}

/// A system in epoch 1 whose committee has the given weights, with the test prices.
public fun system(weights: vector<u16>, ctx: &mut TxContext): System {
    let mut system = system::new_for_testing(max_epochs_ahead!(), ctx);
    advance(&mut system, weights);
    system
}

/// Moves `system` to the next epoch with a committee of the given weights, discarding rewards.
public fun advance(system: &mut System, weights: vector<u16>) {
    let params = epoch_parameters::new(capacity!(), storage_price!(), write_price!());
    let next = committee(system.epoch() + 1, weights);
    let rewards = system.advance_epoch(next, &params);
    rewards.destroy_for_testing();
}

/// The bitmap naming the given member indices as signers.
public fun bitmap(n_members: u64, signers: vector<u64>): vector<u8> {
    let mut bitmap = vector::tabulate!(n_members.divide_and_round_up(8), |_| 0u8);
    signers.do!(|i| {
        let byte = &mut bitmap[i / 8];
        *byte = *byte | (1 << ((i % 8) as u8));
    });
    bitmap
}
