#[test_only]
module walrus::test_utils;

use sui::bls12381;
use sui::clock::{Self, Clock};
use sui::coin::{Self, Coin};
use wal::wal::WAL;
use walrus::bls_aggregate::{Self, BlsCommittee};
use walrus::epoch_parameters;
use walrus::staking::{Self, Staking};
use walrus::storage_node::NodeCap;
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

/// Real BLS public keys (secret keys 1 to 10, as in tests/vectors/bls-certificates.json).
public fun bls_key(index: u64): vector<u8> {
    let keys = vector[
        x"97f1d3a73197d7942695638c4fa9ac0fc3688c4f9774b905a14e3a3f171bac586c55e83ff97a1aeffb3af00adb22c6bb",
        x"a572cbea904d67468808c8eb50a9450c9721db309128012543902d0ac358a62ae28f75bb8f1c7c42c39a8c5529bf0f4e",
        x"89ece308f9d1f0131765212deca99697b112d61f9be9a5f1f3780a51335b3ff981747a0b2ca2179b96d2c0c9024e5224",
        x"ac9b60d5afcbd5663a8a44b7c5a02f19e9a77ab0a35bd65809bb5c67ec582c897feb04decc694b13e08587f3ff9b5b60",
        x"b0e7791fb972fe014159aa33a98622da3cdc98ff707965e536d8636b5fcc5ac7a91a8c46e59a00dca575af0f18fb13dc",
        x"a6e82f6da4520f85c5d27d8f329eccfa05944fd1096b20734c894966d12a9e2a9a9744529d7212d33883113a0cadb909",
        x"b928f3beb93519eecf0145da903b40a4c97dca00b21f12ac0df3be9116ef2ef27b2ae6bcd4c5bc2d54ef5a70627efcb7",
        x"a85ae765588126f5e860d019c0e26235f567a9c0c0b2d8ff30f3e8d436b1082596e5e7462d20f5be3764fd473e57f9cf",
        x"99cdf3807146e68e041314ca93e1fee0991224ec2a74beb2866816fd0826ce7b6263ee31e953a86d1b72cc2215a57793",
        x"af81da25ecf1c84b577fefbedd61077a81dc43b00304015b2b596ab67f00e41c86bb00ebd0f90d4b125eb0539891aeed",
    ];
    keys[index]
}

public fun network_key(): vector<u8> { vector::tabulate!(33, |i| i as u8) }

/// Epochs of 1000 ms, epoch 1 due at 1000 ms; 100 shards; committees of at most 4 nodes.
public macro fun epoch_duration(): u64 { 1000 }
public macro fun n_shards(): u16 { 100 }
public macro fun max_committee_size(): u16 { 4 }

public fun staking(ctx: &mut TxContext): Staking {
    staking::new_for_testing(n_shards!(), epoch_duration!(), epoch_duration!(), max_committee_size!(), ctx)
}

/// Registers node number `index` (votes: storage price 2, write price 3, capacity 1 TB).
public fun register(staking: &mut Staking, index: u64, commission_rate: u16, ctx: &mut TxContext): NodeCap {
    staking.register_candidate(
        b"node".to_string(),
        b"node.example.com:9185".to_string(),
        bls_key(index),
        network_key(),
        signature!(),
        commission_rate,
        storage_price!(),
        write_price!(),
        capacity!(),
        ctx,
    )
}

/// A staking object, a system and a clock at 0, as most staking tests start.
public fun staking_world(ctx: &mut TxContext): (Staking, System, Clock) {
    (staking(ctx), system::new_for_testing(max_epochs_ahead!(), ctx), clock::create_for_testing(ctx))
}

public fun destroy_world(staking: Staking, system: System, clock: Clock) {
    staking.destroy_for_testing();
    system.destroy_for_testing();
    clock.destroy_for_testing();
}

/// Sets the clock to the next epoch's selection time (half an epoch before it is due) and
/// selects its committee.
public fun select_committee(staking: &mut Staking, clock: &mut Clock) {
    clock.set_for_testing(staking.next_epoch_start() - epoch_duration!() / 2);
    staking.voting_end(clock);
}

/// Starts the selected epoch at its due time.
public fun start_epoch(staking: &mut Staking, system: &mut System, clock: &mut Clock) {
    clock.set_for_testing(staking.next_epoch_start());
    staking.initiate_epoch_change(system, clock);
}

/// Selects the next committee and starts its epoch, each at its due time.
public fun next_epoch(staking: &mut Staking, system: &mut System, clock: &mut Clock) {
    select_committee(staking, clock);
    start_epoch(staking, system, clock);
}
