//! The client of a Sui full node's gRPC API against the fake full node of `fake_sui`, which
//! implements the real `sui.rpc.v2` services: reads, simulation, execution with the signature
//! checked, a Move abort named by its constant, a restarting or dead node, and a transaction
//! that reaches a checkpoint late or never.

use std::time::Duration;

use sui_sdk_types::{Address, ObjectReference, Owner, Transaction};
use walrus_client::sui::full_node::{Failure, FullNode, NodeError, Retry, SUI_COIN};
use walrus_client::sui::keys::SuiKey;
use walrus_client::sui::signer::SignedTransaction;
use walrus_client::sui::submit::{submit, Preview, SubmitError, SubmitOptions, Submitted};
use walrus_client::sui::transactions::{self, Gas, SharedObject, Walrus};

mod fake_sui;

use fake_sui::{address, digest, object, owned_by, serve, Fake, GAS_PRICE, MIN_STAKE};

/// A fake node holding a deployment, a sender with three SUI coins and two WAL coins, a
/// storage node, and a coin of someone else's.
fn fake(key: &SuiKey) -> (Fake, Address) {
    let fake = Fake::new(key.address(), &[10, 5_000_000_000, 300]);
    fake.deploy(&[3 * MIN_STAKE, MIN_STAKE]);
    let (node, _) = fake.add_node(address(0x99));
    fake.state()
        .objects
        .insert(address(0xe1), object(address(0xe1), 1, 7, owned_by(address(0x99)), SUI_COIN, Some(1_000)));
    (fake, node)
}

fn wal_coin(fake: &Fake) -> String {
    fake.state().wal_coin.clone()
}

fn quick_retry(attempts: u32) -> Retry {
    Retry { attempts, first_delay: Duration::from_millis(10), max_delay: Duration::from_millis(40) }
}

/// Reads what a stake with the fake's node needs from the node and builds it with `budget`
/// (by default the gas coin's balance).
async fn stake(
    (fake, pool): &(Fake, Address),
    node: &FullNode,
    key: &SuiKey,
    amount: u64,
    budget: Option<u64>,
) -> (Transaction, Walrus) {
    let walrus = {
        let staking = node.object(address(0xb2)).await.unwrap();
        let Owner::Shared(initial_shared_version) = staking.owner else { panic!("Staking is shared") };
        Walrus {
            package: address(0xa1),
            system: SharedObject { id: address(0xb1), initial_shared_version: 3 },
            staking: SharedObject { id: *staking.reference.object_id(), initial_shared_version },
        }
    };
    let gas_coins = node.gas_coins(key.address()).await.unwrap();
    let wal = node.coins(key.address(), &wal_coin(fake)).await.unwrap();
    let gas = Gas {
        sender: key.address(),
        coins: vec![gas_coins[0].reference.clone()],
        price: node.reference_gas_price().await.unwrap(),
        budget: budget.unwrap_or(gas_coins[0].balance),
    };
    let wal: Vec<ObjectReference> = wal.iter().map(|c| c.reference.clone()).collect();
    (transactions::stake(&gas, &walrus, &wal, amount, *pool).unwrap(), walrus)
}

#[tokio::test]
async fn reads_objects_coins_and_gas_price() {
    let key = SuiKey::generate();
    let setup = fake(&key);
    let node = FullNode::new(&serve(setup.0.clone()).await).unwrap();
    assert_eq!(node.reference_gas_price().await.unwrap(), GAS_PRICE);

    let staking = node.object(address(0xb2)).await.unwrap();
    assert_eq!(staking.reference, ObjectReference::new(address(0xb2), 90, digest(1)));
    assert_eq!(staking.owner, Owner::Shared(4));
    let coin = node.object(address(0xc2)).await.unwrap();
    assert_eq!(coin.owner, Owner::Address(key.address()));
    assert!(matches!(node.object(address(0x55)).await, Err(NodeError::NotFound(_))));

    // Three SUI coins over two pages, largest first; not the other owner's.
    let gas = node.gas_coins(key.address()).await.unwrap();
    let balances: Vec<u64> = gas.iter().map(|c| c.balance).collect();
    assert_eq!(balances, [5_000_000_000, 300, 10]);
    assert_eq!(gas[0].reference, ObjectReference::new(address(0xc2), 6, digest(3)));
    let wal = node.coins(key.address(), &wal_coin(&setup.0)).await.unwrap();
    assert_eq!(wal.iter().map(|c| c.balance).sum::<u64>(), 4 * MIN_STAKE);
}

#[tokio::test]
async fn simulates_executes_and_waits_for_the_checkpoint() {
    let key = SuiKey::generate();
    let setup = fake(&key);
    let node = FullNode::new(&serve(setup.0.clone()).await).unwrap();

    // A first build with a provisional budget is simulated; the real budget comes from it.
    let (draft, _) = stake(&setup, &node, &key, 2 * MIN_STAKE, None).await;
    let simulated = node.simulate(&draft).await.unwrap();
    assert_eq!(simulated.gas.budget(), (1_000_000 + 2_000_000) * 6 / 5);
    assert_eq!(simulated.gas.net(), 2_500_000);
    let (tx, _) = stake(&setup, &node, &key, 2 * MIN_STAKE, Some(simulated.gas.budget())).await;

    let signed = SignedTransaction::sign(tx, &key).unwrap();
    let executed = node.execute(&signed).await.unwrap();
    assert_eq!(executed.digest, signed.digest());
    assert_eq!(executed.events.len(), 1);
    let deposited: walrus_chain::events::StakeDeposited = bcs::from_bytes(&executed.events[0].contents).unwrap();
    assert_eq!(deposited.amount, 2 * MIN_STAKE);
    assert!(executed.events[0].event_type.ends_with("::events::StakeDeposited"), "{:?}", executed.events[0]);

    // The node puts it in a checkpoint only at the fourth poll.
    let checkpoint =
        node.wait_for_checkpoint(signed.digest(), Duration::from_secs(10), Duration::from_millis(10)).await;
    assert_eq!(checkpoint.unwrap(), 42);
    assert_eq!(setup.0.state().polls, 4);
    // The stake is the wallet's now, and what it staked left its WAL.
    let staked = setup.0.state().owned_of_type("staked_wal", "StakedWal");
    assert_eq!(staked.len(), 1);
    let wal = node.coins(key.address(), &wal_coin(&setup.0)).await.unwrap();
    assert_eq!(wal.iter().map(|c| c.balance).sum::<u64>(), 2 * MIN_STAKE);
}

#[tokio::test]
async fn a_transaction_signed_by_another_key_is_refused() {
    let key = SuiKey::generate();
    let setup = fake(&key);
    let node = FullNode::new(&serve(setup.0.clone()).await).unwrap();
    let (tx, _) = stake(&setup, &node, &key, 2 * MIN_STAKE, Some(10_000_000)).await;
    let mut signed = SignedTransaction::sign(tx.clone(), &key).unwrap();
    // The sender's signature, but of another transaction.
    let mut other = tx;
    other.gas_payment.budget += 1;
    signed.signature = SignedTransaction::sign(other, &key).unwrap().signature;
    match node.execute(&signed).await {
        Err(NodeError::Refused(status)) => assert!(status.message().contains("does not verify"), "{status:?}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn a_simulated_abort_is_named_by_its_move_constant() {
    let key = SuiKey::generate();
    let setup = fake(&key);
    let node = FullNode::new(&serve(setup.0.clone()).await).unwrap();
    let (tx, _) = stake(&setup, &node, &key, MIN_STAKE - 1, Some(10_000_000)).await;
    let Err(NodeError::Failed(failure)) = node.simulate(&tx).await else { panic!("a stake below 1 WAL must abort") };
    let Failure::Abort { module, function, error, .. } = &failure else { panic!("expected an abort: {failure}") };
    assert_eq!((module.as_str(), function.as_deref()), ("staked_wal", Some("mint")));
    let error = error.expect("the abort is named");
    assert_eq!(error.name, "EStakeBelowThreshold");
    assert_eq!(
        failure.to_string(),
        "staked_wal::mint aborted with EStakeBelowThreshold: A stake must hold at least 1 WAL"
    );
}

#[tokio::test]
async fn a_restarting_node_is_retried_and_a_dead_one_reported() {
    let key = SuiKey::generate();
    let (fake, _) = fake(&key);
    fake.state().unavailable_for = 2;
    let node = FullNode::new(&serve(fake.clone()).await).unwrap().with_retry(quick_retry(3));
    assert_eq!(node.reference_gas_price().await.unwrap(), GAS_PRICE);

    // More failures than attempts: reported, not retried forever.
    fake.state().unavailable_for = 5;
    match node.reference_gas_price().await {
        Err(NodeError::Unavailable { attempts: 3, .. }) => {}
        other => panic!("expected unavailable after 3 attempts, got {other:?}"),
    }

    // Nothing listening at all.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let dead = FullNode::new(&url).unwrap().with_retry(quick_retry(2));
    let error = dead.gas_coins(key.address()).await.unwrap_err();
    assert!(matches!(error, NodeError::Unavailable { attempts: 2, .. }), "{error:?}");
    assert!(error.to_string().contains(&url), "{error}");
}

#[tokio::test]
async fn a_transaction_never_checkpointed_times_out() {
    let key = SuiKey::generate();
    let node = FullNode::new(&serve(fake(&key).0).await).unwrap();
    let error = node.wait_for_checkpoint(digest(9), Duration::from_millis(100), Duration::from_millis(20)).await;
    match error {
        Err(NodeError::NotCheckpointed { digest: d, .. }) => assert_eq!(d, digest(9)),
        other => panic!("expected a timeout, got {other:?}"),
    }
}

#[tokio::test]
async fn submit_shows_the_simulated_cost_and_signs_only_when_confirmed() {
    let key = SuiKey::generate();
    let (fake, pool) = fake(&key);
    let node = FullNode::new(&serve(fake.clone()).await).unwrap();
    let walrus = fake.state().walrus.unwrap();
    let wal: Vec<ObjectReference> =
        node.coins(key.address(), &wal_coin(&fake)).await.unwrap().into_iter().map(|c| c.reference).collect();
    let build = |g: &Gas| transactions::stake(g, &walrus, &wal, MIN_STAKE, pool);
    let options = SubmitOptions { poll_interval: Duration::from_millis(10), ..SubmitOptions::default() };

    let mut shown = Vec::new();
    let declined = submit(&node, &key, "stake".into(), build, &options, &mut |p: &Preview| {
        shown.push(p.clone());
        false
    })
    .await;
    assert!(matches!(declined, Err(SubmitError::Declined)), "{declined:?}");
    assert_eq!(fake.state().executed.len(), 0, "nothing is sent when the user declines");
    let [preview] = shown.as_slice() else { panic!("the preview is shown once") };
    assert_eq!((preview.gas.net(), preview.budget, preview.gas_price), (2_500_000, 3_600_000, GAS_PRICE));

    let sent = submit(&node, &key, "stake".into(), build, &options, &mut |_: &Preview| true).await.unwrap();
    let Submitted::Executed { outcome, checkpoint, .. } = sent else { panic!("executed") };
    assert_eq!(checkpoint, 42);
    let staked = outcome.created_of_type("staked_wal", "StakedWal").expect("the StakedWal is among the effects");
    assert_eq!(fake.state().owned_of_type("staked_wal", "StakedWal"), [*staked.reference.object_id()]);
    assert_eq!(fake.state().executed.keys().collect::<Vec<_>>(), [&outcome.digest]);
}
