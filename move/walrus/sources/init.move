/// Publication and set-up: publishing sends an `InitCap` to the publisher, who then creates the
/// shared `System` and `Staking` objects with the deployment's parameters, exactly once.
module walrus::init;

use std::type_name;
use sui::address;
use sui::clock::Clock;
use walrus::staking;
use walrus::system;

public struct InitCap has key, store {
    id: UID,
}

fun init(ctx: &mut TxContext) {
    transfer::transfer(InitCap { id: object::new(ctx) }, ctx.sender());
}

/// Creates and shares `System` and `Staking`, consuming the `InitCap` so it happens once.
/// Epoch 1 is due `epoch_zero_duration` ms from now, and every `epoch_duration` ms after.
public fun initialize_walrus(
    cap: InitCap,
    n_shards: u16,
    epoch_zero_duration: u64,
    epoch_duration: u64,
    max_epochs_ahead: u32,
    max_committee_size: u16,
    clock: &Clock,
    ctx: &mut TxContext,
) {
    let InitCap { id } = cap;
    id.delete();
    let package_id = package_id();
    system::create_empty(max_epochs_ahead, package_id, ctx).share();
    let first_epoch_start = clock.timestamp_ms() + epoch_zero_duration;
    staking::create(n_shards, epoch_duration, first_epoch_start, max_committee_size, package_id, ctx).share();
}

/// The ID of the package that first defined this module (its original ID).
fun package_id(): ID {
    let address = type_name::with_defining_ids<InitCap>().address_string();
    object::id_from_address(address::from_ascii_bytes(address.as_bytes()))
}

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) { init(ctx) }
