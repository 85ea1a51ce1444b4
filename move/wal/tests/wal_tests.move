#[test_only]
module wal::wal_tests;

use sui::coin::Coin;
use sui::coin_registry::{Self, Currency};
use sui::test_scenario;
use wal::wal::{Self, WAL};

const PUBLISHER: address = @0xA;

#[test]
fun publication_mints_the_whole_supply_to_the_publisher_and_fixes_metadata() {
    let mut scenario = test_scenario::begin(PUBLISHER);
    wal::init_for_testing(scenario.ctx());
    scenario.next_tx(PUBLISHER);

    let coin = scenario.take_from_sender<Coin<WAL>>();
    assert!(coin.value() == 5_000_000_000 * 1_000_000_000);
    assert!(wal::total_supply() == coin.value());
    assert!(wal::frost_per_wal() == 1_000_000_000);

    let currency = scenario.take_from_address<Currency<WAL>>(@0xc);
    assert!(currency.decimals() == 9);
    assert!(currency.symbol() == b"WAL".to_string());
    assert!(currency.name() == b"WAL Token".to_string());
    assert!(currency.is_supply_burn_only());
    assert!(currency.is_metadata_cap_deleted());
    assert!(currency.total_supply() == option::some(wal::total_supply()));

    test_scenario::return_to_address(@0xc, currency);
    scenario.return_to_sender(coin);
    scenario.end();
}

#[test]
fun burning_lowers_the_supply_for_good() {
    let mut scenario = test_scenario::begin(PUBLISHER);
    wal::init_for_testing(scenario.ctx());
    scenario.next_tx(PUBLISHER);

    let mut coin = scenario.take_from_sender<Coin<WAL>>();
    let mut currency = scenario.take_from_address<Currency<WAL>>(@0xc);
    let burnt = coin.split(1_000_000_000, scenario.ctx());
    coin_registry::burn(&mut currency, burnt);
    assert!(currency.total_supply() == option::some(wal::total_supply() - 1_000_000_000));
    assert!(coin.value() == wal::total_supply() - 1_000_000_000);

    test_scenario::return_to_address(@0xc, currency);
    scenario.return_to_sender(coin);
    scenario.end();
}
