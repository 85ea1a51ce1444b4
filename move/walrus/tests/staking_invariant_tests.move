#[test_only]
/// Randomized runs over many epochs: nodes, stakers, storage buyers and operators act at
/// random (seeded), also between committee selection and the epoch change, and:
/// - while a selected committee waits for its epoch, the stake it counted stays: its pools'
///   books for that epoch do not move, and the principal counted is still held in stakes;
///
/// and after every epoch change the accounting must hold:
/// - no FROST is created or lost: every one minted is in a user's hands, a stake, a pool
///   (rewards or commission) or the system's accounting of future epochs;
/// - every pool's exchange rate (WAL per share) never decreases;
/// - the committee's shards are each held exactly once;
/// - a withdrawn stake is paid exactly what its shares are worth at its withdrawal epoch
///   (bought at its activation epoch's rate), and the pool always holds that much;
/// - once every staker of a pool has left, only dust shares remain, the pool holds every FROST
///   it still counts, and at most a FROST per withdrawal more: stakers got what the pool
///   earned, no more, no less.
module walrus::staking_invariant_tests;

use std::unit_test::destroy;
use sui::clock::{Self, Clock};
use walrus::staked_wal::StakedWal;
use walrus::staking::Staking;
use walrus::staking_pool::StakingPool;
use walrus::storage_node::NodeCap;
use walrus::system::{Self, System};
use walrus::test_utils::{frost, register, staking, epoch_duration, n_shards, destroy_world};

const WAL: u64 = 1_000_000_000;
const MIB: u64 = 1_048_576;
const NODES: u64 = 6;
/// One more node, whose stake never leaves, keeps committees possible while the others drain.
const SENTINEL: u64 = 6;

public struct Rng has drop { state: u64 }

fun next(rng: &mut Rng): u64 {
    let state = ((rng.state as u128) * 6364136223846793005 + 1442695040888963407) % (1u128 << 64);
    rng.state = state as u64;
    (state >> 24) as u64
}

fun below(rng: &mut Rng, n: u64): u64 { next(rng) % n }

public struct World {
    staking: Staking,
    system: System,
    clock: Clock,
    caps: vector<NodeCap>,
    /// Stakes that may be withdrawn any time; `anchors` keep every node staked until the end.
    stakes: vector<StakedWal>,
    anchors: vector<StakedWal>,
    minted: u64,
    /// FROST handed back to users (withdrawals, commission).
    returned: u64,
    /// Each pool's exchange rate at the previous epoch.
    last_rates: vector<Option<walrus::staking_pool::ExchangeRate>>,
}

fun mint(world: &mut World, amount: u64, ctx: &mut TxContext): sui::coin::Coin<wal::wal::WAL> {
    world.minted = world.minted + amount;
    frost(amount, ctx)
}

fun node(world: &World, i: u64): ID { world.caps[i].cap_node_id() }

fun pool(world: &World, i: u64): &StakingPool { world.staking.pool(world.node(i)) }

/// Shares of a principal at its activation rate, grown to the withdrawal rate (1:1 while a
/// rate is empty), computed here from the recorded rates independently of the pool's code.
fun expected_value(pool: &StakingPool, principal: u64, activation: u32, withdrawal: u32): u64 {
    let a = pool.exchange_rate(activation);
    let shares = if (a.rate_wal() == 0 || a.rate_shares() == 0) principal as u128
    else (principal as u128) * a.rate_shares() / a.rate_wal();
    let w = pool.exchange_rate(withdrawal);
    let value = if (w.rate_wal() == 0 || w.rate_shares() == 0) shares else shares * w.rate_wal() / w.rate_shares();
    value as u64
}

/// Whether the selected next committee counts `staked` (the rule, restated independently).
fun counted_by_next(world: &World, staked: &StakedWal): bool {
    let epoch = world.staking.epoch();
    world.staking.next_committee().is_some_and!(|next| next.contains(&staked.node_id())) &&
        staked.activation_epoch() <= epoch + 1 &&
        (staked.is_staked() || staked.withdraw_epoch() > epoch + 1)
}

/// Principal held in stakes that the selected next committee counts for `node`.
fun counted_principal(world: &World, node: ID): u64 {
    let mut total = 0;
    world.stakes.do_ref!(|s| if (s.node_id() == node && counted_by_next(world, s)) total = total + s.value());
    world.anchors.do_ref!(|s| if (s.node_id() == node && counted_by_next(world, s)) total = total + s.value());
    total
}

/// Withdraws every stake that can be withdrawn now, checking what each is paid.
fun withdraw_due(world: &mut World, ctx: &mut TxContext) {
    let epoch = world.staking.epoch();
    let mut k = 0;
    while (k < world.stakes.length()) {
        let staked = &world.stakes[k];
        let early = staked.is_staked() && staked.activation_epoch() > epoch && !counted_by_next(world, staked);
        let due = staked.is_withdrawing() && staked.withdraw_epoch() <= epoch;
        if (!early && !due) {
            k = k + 1;
            continue
        };
        let staked = world.stakes.swap_remove(k);
        let (node, principal, activation) = (staked.node_id(), staked.value(), staked.activation_epoch());
        let withdrawal = if (early) 0 else staked.withdraw_epoch();
        // Withdrawing brings an idle pool up to date, so its rates are read afterwards (once
        // recorded, a rate never changes).
        let paid = world.staking.withdraw_stake(staked, ctx);
        let expected = if (early) principal
        else expected_value(world.staking.pool(node), principal, activation, withdrawal);
        assert!(paid.value() == expected);
        world.returned = world.returned + paid.value();
        destroy(paid);
    };
}

fun act(world: &mut World, rng: &mut Rng, ctx: &mut TxContext) {
    let epoch = world.staking.epoch();
    match (below(rng, 5)) {
        0 => {
            let i = below(rng, NODES);
            let coin = world.mint((1 + below(rng, 20)) * WAL + below(rng, WAL), ctx);
            let node = world.node(i);
            let staked = world.staking.stake_with_pool(coin, node, ctx);
            world.stakes.push_back(staked);
        },
        1 => if (!world.stakes.is_empty()) {
            let k = below(rng, world.stakes.length());
            // Active stake, or stake that the selected committee counts before it is active.
            let selected = world.staking.next_committee().is_some();
            let staked = &mut world.stakes[k];
            let activation = staked.activation_epoch();
            if (staked.is_staked() && (activation <= epoch || (selected && activation == epoch + 1)))
                world.staking.request_withdraw_stake(staked, ctx);
        },
        2 => withdraw_due(world, ctx),
        // Epoch 0 has no committee, hence no capacity to sell.
        3 => if (epoch > 0) {
            let amount = (1 + below(rng, 500)) * MIB;
            let epochs = 1 + (below(rng, 5) as u32);
            let cost = world.system.storage_cost(amount, epochs);
            let mut coin = world.mint(cost, ctx);
            let storage = world.system.reserve_space_bounded(amount, epochs, &mut coin, cost, ctx);
            coin.destroy_zero();
            storage.destroy();
        },
        _ => {
            let i = below(rng, NODES);
            let commission = world.staking.collect_commission(&world.caps[i], ctx);
            world.returned = world.returned + commission.value();
            destroy(commission);
        },
    }
}

/// Selects the next committee, lets everyone act at random until the epoch is due (checking
/// that the stake the committee counted stays put), and changes the epoch.
fun change_epoch(world: &mut World, rng: &mut Rng, ctx: &mut TxContext) {
    let start = world.staking.next_epoch_start();
    world.clock.set_for_testing(start - epoch_duration!() / 2);
    world.staking.voting_end(&world.clock);
    let next_epoch = world.staking.epoch() + 1;
    let members = world.staking.next_committee().borrow().node_ids();
    let books = members.map_ref!(|id| world.staking.pool(*id).stake_at_epoch(next_epoch));
    let held = members.map_ref!(|id| counted_principal(world, *id));
    assert!(books.all!(|stake| *stake >= walrus::staked_wal::min_stake()));
    below(rng, 6).do!(|_| act(world, rng, ctx));
    members.length().do!(|i| {
        assert!(world.staking.pool(members[i]).stake_at_epoch(next_epoch) == books[i]);
        assert!(counted_principal(world, members[i]) == held[i]);
    });
    world.clock.set_for_testing(start);
    world.staking.initiate_epoch_change(&mut world.system, &world.clock);
    // A random part of the committee reports (often no quorum: the next change still happens).
    let epoch = world.staking.epoch();
    NODES.do!(|i| {
        let node = world.node(i);
        if (world.staking.committee().contains(&node) && below(rng, 4) != 0) {
            world.staking.epoch_sync_done(&mut world.caps[i], epoch, &world.clock);
        }
    });
}

fun check(world: &mut World) {
    // Conservation of FROST.
    let mut held = world.returned;
    world.stakes.do_ref!(|s| held = held + s.value());
    world.anchors.do_ref!(|s| held = held + s.value());
    (NODES + 1).do!(|i| held = held + world.pool(i).rewards_amount() + world.pool(i).commission_amount());
    let accounting = world.system.future_accounting();
    accounting.max_epochs_ahead().do!(|k| held = held + accounting.ring_lookup(k).rewards());
    assert!(held == world.minted);

    // Exchange rates never fall.
    // Pools outside the committees are not advanced; they catch up when touched.
    let epoch = world.staking.epoch();
    NODES.do!(|i| if (world.pool(i).latest_epoch() == epoch) {
        let rate = world.pool(i).exchange_rate(epoch);
        world.last_rates[i].do!(|last| {
            let (w0, s0) = (last.rate_wal(), last.rate_shares());
            let (w1, s1) = (rate.rate_wal(), rate.rate_shares());
            // An empty rate counts as 1:1; shares never outnumber WAL.
            assert!(s1 <= w1);
            if (s0 > 0 && s1 > 0) assert!(w1 * s0 >= w0 * s1);
        });
        *&mut world.last_rates[i] = option::some(rate);
    });

    // Every shard is held exactly once.
    let committee = world.staking.committee();
    let mut seen = vector::tabulate!(n_shards!() as u64, |_| false);
    committee.node_ids().do!(|id| committee.shards(&id).do_ref!(|s| {
        let s = *s;
        assert!(!seen[s as u64]);
        *&mut seen[s as u64] = true;
    }));
    assert!(seen.all!(|s| *s));
    assert!(world.system.committee().n_shards() == n_shards!());
}

/// Every staker but the sentinel's leaves; then each drained pool holds only dust.
fun drain(world: &mut World, rng: &mut Rng, ctx: &mut TxContext) {
    while (world.anchors.length() > 1) world.stakes.push_back(world.anchors.remove(0));
    let withdrawals = world.stakes.length();
    let epoch = world.staking.epoch();
    world.stakes.length().do!(|k| {
        let staked = &mut world.stakes[k];
        if (staked.is_staked() && staked.activation_epoch() <= epoch) world.staking.request_withdraw_stake(staked, ctx);
    });
    withdraw_due(world, ctx);
    // Larger stakes may have kept the sentinel out of the active set; now that they are
    // leaving it, it is offered again.
    let sentinel = world.node(SENTINEL);
    world.staking.try_join_active_set(sentinel);
    2u64.do!(|_| {
        change_epoch(world, rng, ctx);
        check(world);
        withdraw_due(world, ctx);
    });
    assert!(world.stakes.is_empty());
    NODES.do!(|i| {
        // Only dust shares are left, and whatever the pool still counts is in its rewards.
        let pool = world.pool(i);
        assert!(pool.num_shares() <= withdrawals);
        assert!(pool.rewards_amount() >= pool.wal_balance());
        assert!(pool.rewards_amount() - pool.wal_balance() <= withdrawals);
    });
}

fun run(seed: u64, epochs: u64) {
    let ctx = &mut tx_context::dummy();
    let mut rng = Rng { state: seed };
    let mut staking = staking(ctx);
    let caps = vector::tabulate!(NODES + 1, |i| register(&mut staking, i, (below(&mut rng, 3000) as u16), ctx));
    // Prices of 0.01 to 1 WAL per MiB: rewards rival the stakes, so rounding shows.
    caps.do_ref!(|cap| staking.set_storage_price_vote(cap, (1 + below(&mut rng, 100)) * WAL / 100));
    let mut world = World {
        staking,
        system: system::new_for_testing(10, ctx),
        clock: clock::create_for_testing(ctx),
        caps,
        stakes: vector[],
        anchors: vector[],
        minted: 0,
        returned: 0,
        last_rates: vector::tabulate!(NODES, |_| option::none()),
    };
    (NODES + 1).do!(|i| {
        let coin = world.mint((1 + below(&mut rng, 30)) * WAL, ctx);
        let node = world.node(i);
        let anchor = world.staking.stake_with_pool(coin, node, ctx);
        world.anchors.push_back(anchor);
    });
    epochs.do!(|_| {
        (1 + below(&mut rng, 8)).do!(|_| act(&mut world, &mut rng, ctx));
        change_epoch(&mut world, &mut rng, ctx);
        check(&mut world);
    });
    drain(&mut world, &mut rng, ctx);
    let World { staking, system, clock, caps, stakes, anchors, .. } = world;
    destroy(vector[stakes, anchors]);
    destroy(caps);
    destroy_world(staking, system, clock);
}

#[test]
fun accounting_holds_over_random_runs_seed_1() { run(1, 25) }

#[test]
fun accounting_holds_over_random_runs_seed_2() { run(2, 25) }

#[test]
fun accounting_holds_over_random_runs_seed_3() { run(3, 25) }

#[test]
fun accounting_holds_over_random_runs_seed_4() { run(0xdeadbeef, 25) }

/// As long as one test transaction's event buffer allows (the runner caps its memory).
#[test]
fun accounting_holds_over_a_long_run() { run(42, 45) }
