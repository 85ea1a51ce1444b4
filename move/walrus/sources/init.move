/// Publication and set-up: publishing sends an `InitCap` to the publisher, who then creates the
/// shared system object with the deployment's parameters, exactly once.
module walrus::init;

use std::type_name;
use sui::address;
use walrus::system;

public struct InitCap has key, store {
    id: UID,
}

fun init(ctx: &mut TxContext) {
    transfer::transfer(InitCap { id: object::new(ctx) }, ctx.sender());
}

/// Creates and shares the `System`, consuming the `InitCap` so it happens once.
public fun initialize_walrus(cap: InitCap, max_epochs_ahead: u32, ctx: &mut TxContext) {
    let InitCap { id } = cap;
    id.delete();
    system::create_empty(max_epochs_ahead, package_id(), ctx).share();
}

/// The ID of the package that first defined this module (its original ID).
fun package_id(): ID {
    let address = type_name::with_defining_ids<InitCap>().address_string();
    object::id_from_address(address::from_ascii_bytes(address.as_bytes()))
}

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) { init(ctx) }
