/// The WAL coin, which pays for storage and is staked by storage nodes.
///
/// All 5 billion WAL (9 decimals, so 5 * 10^18 FROST) are minted to the publisher when the
/// package is published. The treasury cap is then handed to the coin registry as a burn-only
/// supply, so the framework itself guarantees that no WAL can ever be minted again, while
/// anyone may burn WAL through the shared `Currency<WAL>` (`sui::coin_registry::burn`).
module wal::wal;

use sui::coin_registry;

/// 1 WAL = 10^9 FROST, the unit every amount on chain is counted in.
const DECIMALS: u8 = 9;
const FROST_PER_WAL: u64 = 1_000_000_000;
const TOTAL_SUPPLY_WAL: u64 = 5_000_000_000;

/// The one-time witness, and the coin's type.
public struct WAL has drop {}

fun init(otw: WAL, ctx: &mut TxContext) {
    let (mut currency, mut treasury) = coin_registry::new_currency_with_otw(
        otw,
        DECIMALS,
        b"WAL".to_string(),
        b"WAL Token".to_string(),
        b"The native token of the Walrus storage protocol".to_string(),
        b"https://www.walrus.xyz/wal-icon.svg".to_string(),
        ctx,
    );
    let supply = treasury.mint(total_supply(), ctx);
    transfer::public_transfer(supply, ctx.sender());
    currency.make_supply_burn_only(treasury);
    // Metadata is final: nobody keeps the right to rename the coin.
    currency.finalize_and_delete_metadata_cap(ctx);
}

/// The total supply in FROST, all of it minted at publication.
public fun total_supply(): u64 { TOTAL_SUPPLY_WAL * FROST_PER_WAL }

/// FROST in one WAL.
public fun frost_per_wal(): u64 { FROST_PER_WAL }

#[test_only]
public fun init_for_testing(ctx: &mut TxContext) { init(WAL {}, ctx) }
