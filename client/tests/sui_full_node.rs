//! The client of a Sui full node's gRPC API against a fake full node that implements the real
//! `sui.rpc.v2` services (sui-rpc's generated tonic servers). The fake checks what it receives
//! as a full node would (the transaction decodes, is a stake with the sender's gas coins, and
//! the signature verifies with sui-crypto) and answers with effects and events; it aborts a
//! stake below 1 WAL as `staked_wal` does, fails calls while "restarting", and puts executed
//! transactions into a checkpoint only after a number of polls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sui_crypto::ed25519::Ed25519Verifier;
use sui_crypto::SuiVerifier as _;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_rpc::proto::sui::rpc::v2::ledger_service_server::{LedgerService, LedgerServiceServer};
use sui_rpc::proto::sui::rpc::v2::state_service_server::{StateService, StateServiceServer};
use sui_rpc::proto::sui::rpc::v2::transaction_execution_service_server::{
    TransactionExecutionService, TransactionExecutionServiceServer,
};
use sui_sdk_types::{
    Address, Argument, Command, Digest, Input, ObjectReference, Owner, Transaction, TransactionKind, UserSignature,
};
use tonic::{Request, Response, Status};
use walrus_client::sui::full_node::{Failure, FullNode, NodeError, Retry, SUI_COIN};
use walrus_client::sui::keys::SuiKey;
use walrus_client::sui::signer::SignedTransaction;
use walrus_client::sui::transactions::{self, Gas, SharedObject, Walrus};

const WAL_COIN: &str = "0xa1::wal::WAL";
const GAS_PRICE: u64 = 750;
/// `staked_wal::MIN_STAKE`: 1 WAL in FROST.
const MIN_STAKE: u64 = 1_000_000_000;

fn digest(seed: u8) -> Digest {
    Digest::new([seed; 32])
}

fn address(seed: u8) -> Address {
    Address::new([seed; 32])
}

#[derive(Clone, Default)]
struct Fake {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    walrus: Option<Walrus>,
    sender: Option<Address>,
    /// Every object the node knows, by ID.
    objects: HashMap<Address, proto::Object>,
    /// Calls still to fail with UNAVAILABLE, as a restarting node does.
    unavailable_for: u32,
    /// Executed transactions and how many more polls each waits before its checkpoint.
    executed: HashMap<Digest, u32>,
    polls: u32,
}

impl Fake {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    fn starting_up(&self) -> Result<(), Status> {
        let mut state = self.state();
        if state.unavailable_for > 0 {
            state.unavailable_for -= 1;
            return Err(Status::unavailable("starting up"));
        }
        Ok(())
    }

    /// Checks a transaction as the network would before running it: it decodes, is sent by
    /// the sender with its own SUI coins, and is a stake through `staking::stake_with_pool`
    /// on the deployment's `Staking` object. Returns the staked amount.
    fn check(&self, transaction: Option<&proto::Transaction>) -> Result<(Transaction, u64), Status> {
        let proto_tx = transaction.ok_or_else(|| Status::invalid_argument("no transaction"))?;
        let tx = Transaction::try_from(proto_tx).map_err(|e| Status::invalid_argument(format!("transaction: {e}")))?;
        let state = self.state();
        let walrus = state.walrus.unwrap();
        if Some(tx.sender) != state.sender {
            return Err(Status::invalid_argument("unknown sender"));
        }
        for coin in &tx.gas_payment.objects {
            let object =
                state.objects.get(coin.object_id()).ok_or_else(|| Status::invalid_argument("no such gas coin"))?;
            if object.object_type.as_deref() != Some(SUI_COIN) || object.version != Some(coin.version()) {
                return Err(Status::invalid_argument("stale or non-SUI gas coin"));
            }
        }
        if tx.gas_payment.price != GAS_PRICE {
            return Err(Status::invalid_argument("gas price is not the reference gas price"));
        }
        let TransactionKind::ProgrammableTransaction(ptb) = &tx.kind else {
            return Err(Status::invalid_argument("not a programmable transaction"));
        };
        let call = ptb.commands.iter().find_map(|c| match c {
            Command::MoveCall(call) => Some(call),
            _ => None,
        });
        let call = call.ok_or_else(|| Status::invalid_argument("no Move call"))?;
        if (call.package, call.module.as_str(), call.function.as_str())
            != (walrus.package, "staking", "stake_with_pool")
        {
            return Err(Status::invalid_argument("not a stake"));
        }
        let Argument::Input(staking) = call.arguments[0] else { return Err(Status::invalid_argument("staking")) };
        match &ptb.inputs[staking as usize] {
            Input::Shared(shared) if shared.object_id() == walrus.staking.id => {}
            _ => return Err(Status::invalid_argument("the first argument is not the Staking object")),
        }
        let amount = ptb.commands.iter().find_map(|c| match c {
            Command::SplitCoins(split) => Some(split.amounts[0]),
            _ => None,
        });
        let Some(Argument::Input(amount)) = amount else { return Err(Status::invalid_argument("no split")) };
        let Input::Pure(amount) = &ptb.inputs[amount as usize] else { return Err(Status::invalid_argument("amount")) };
        let amount = bcs::from_bytes(amount).map_err(|_| Status::invalid_argument("amount is not a u64"))?;
        Ok((tx.clone(), amount))
    }

    /// The effects of running a stake of `amount`: an abort below the minimum, as
    /// `staked_wal::mint` does it (a clever abort code carrying the source line), else success
    /// with a `StakedWal` event.
    fn run(tx: &Transaction, amount: u64) -> proto::ExecutedTransaction {
        let mut status = proto::ExecutionStatus::default();
        let mut events = proto::TransactionEvents::default();
        if amount < MIN_STAKE {
            status.success = Some(false);
            let mut location = proto::MoveLocation::default();
            location.module = Some("staked_wal".into());
            location.function_name = Some("mint".into());
            let mut abort = proto::MoveAbort::default();
            abort.abort_code = Some(1 << 63 | u64::from(mint_abort_line()) << 32 | 5 << 16 | 2);
            abort.location = Some(location);
            let mut error = proto::ExecutionError::default();
            error.description = Some("MoveAbort".into());
            error.error_details = Some(proto::execution_error::ErrorDetails::Abort(abort));
            status.error = Some(error);
        } else {
            status.success = Some(true);
            let mut event = proto::Event::default();
            event.event_type = Some("0x1::events::StakedWal".into());
            let mut contents = proto::Bcs::default();
            contents.value = Some(bcs::to_bytes(&amount).unwrap().into());
            event.contents = Some(contents);
            events.events.push(event);
        }
        let mut gas = proto::GasCostSummary::default();
        gas.computation_cost = Some(1_000_000);
        gas.storage_cost = Some(2_000_000);
        gas.storage_rebate = Some(500_000);
        let mut effects = proto::TransactionEffects::default();
        effects.status = Some(status);
        effects.gas_used = Some(gas);
        let mut executed = proto::ExecutedTransaction::default();
        executed.digest = Some(tx.digest().to_string());
        executed.effects = Some(effects);
        executed.events = Some(events);
        executed
    }
}

/// The line of `staked_wal.move` whose `assert!` aborts a too small new stake.
fn mint_abort_line() -> u32 {
    let source = include_str!("../../move/walrus/sources/staked_wal.move");
    let index =
        source.lines().position(|l| l.contains("assert!(principal.value() >= MIN_STAKE, EStakeBelowThreshold)"));
    index.expect("staked_wal::mint asserts the minimum stake") as u32 + 1
}

#[tonic::async_trait]
impl LedgerService for Fake {
    async fn get_epoch(
        &self,
        request: Request<proto::GetEpochRequest>,
    ) -> Result<Response<proto::GetEpochResponse>, Status> {
        self.starting_up()?;
        let mask = request.into_inner().read_mask.unwrap_or_default();
        if !mask.paths.iter().any(|p| p == "reference_gas_price") {
            return Err(Status::invalid_argument("read mask lacks reference_gas_price"));
        }
        let mut epoch = proto::Epoch::default();
        epoch.epoch = Some(7);
        epoch.reference_gas_price = Some(GAS_PRICE);
        let mut response = proto::GetEpochResponse::default();
        response.epoch = Some(epoch);
        Ok(Response::new(response))
    }

    async fn get_object(
        &self,
        request: Request<proto::GetObjectRequest>,
    ) -> Result<Response<proto::GetObjectResponse>, Status> {
        self.starting_up()?;
        let id: Address =
            request.into_inner().object_id.unwrap_or_default().parse().map_err(|_| Status::invalid_argument("id"))?;
        let object = self.state().objects.get(&id).cloned().ok_or_else(|| Status::not_found(format!("object {id}")))?;
        Ok(Response::new(proto::GetObjectResponse::new(object)))
    }

    async fn get_transaction(
        &self,
        request: Request<proto::GetTransactionRequest>,
    ) -> Result<Response<proto::GetTransactionResponse>, Status> {
        self.starting_up()?;
        let digest: Digest =
            request.into_inner().digest.unwrap_or_default().parse().map_err(|_| Status::invalid_argument("digest"))?;
        let mut state = self.state();
        state.polls += 1;
        let left = state.executed.get_mut(&digest).ok_or_else(|| Status::not_found(format!("transaction {digest}")))?;
        let mut transaction = proto::ExecutedTransaction::default();
        transaction.digest = Some(digest.to_string());
        if *left == 0 {
            transaction.checkpoint = Some(42);
        } else {
            *left -= 1;
        }
        Ok(Response::new(proto::GetTransactionResponse::new(transaction)))
    }
}

#[tonic::async_trait]
impl StateService for Fake {
    async fn list_owned_objects(
        &self,
        request: Request<proto::ListOwnedObjectsRequest>,
    ) -> Result<Response<proto::ListOwnedObjectsResponse>, Status> {
        self.starting_up()?;
        let request = request.into_inner();
        let owner = request.owner.unwrap_or_default();
        let state = self.state();
        let mut owned: Vec<_> = state
            .objects
            .values()
            .filter(|o| o.owner.as_ref().and_then(|w| w.address.as_deref()) == Some(owner.as_str()))
            .filter(|o| request.object_type.is_none() || o.object_type == request.object_type)
            .cloned()
            .collect();
        owned.sort_by(|a, b| a.object_id.cmp(&b.object_id));
        // Two per page, so that the client must follow page tokens.
        let start = request.page_token.map_or(0, |t| t[0] as usize);
        let mut response = proto::ListOwnedObjectsResponse::default();
        response.objects = owned.iter().skip(start).take(2).cloned().collect();
        if start + 2 < owned.len() {
            response.next_page_token = Some(vec![(start + 2) as u8].into());
        }
        Ok(Response::new(response))
    }
}

#[tonic::async_trait]
impl TransactionExecutionService for Fake {
    async fn simulate_transaction(
        &self,
        request: Request<proto::SimulateTransactionRequest>,
    ) -> Result<Response<proto::SimulateTransactionResponse>, Status> {
        self.starting_up()?;
        let request = request.into_inner();
        let (tx, amount) = self.check(request.transaction.as_ref())?;
        let mut response = proto::SimulateTransactionResponse::default();
        response.transaction = Some(Self::run(&tx, amount));
        Ok(Response::new(response))
    }

    async fn execute_transaction(
        &self,
        request: Request<proto::ExecuteTransactionRequest>,
    ) -> Result<Response<proto::ExecuteTransactionResponse>, Status> {
        self.starting_up()?;
        let request = request.into_inner();
        let (tx, amount) = self.check(request.transaction.as_ref())?;
        let [signature] = request.signatures.as_slice() else {
            return Err(Status::invalid_argument("expected one signature"));
        };
        let signature =
            UserSignature::try_from(signature).map_err(|e| Status::invalid_argument(format!("signature: {e}")))?;
        let UserSignature::Simple(sui_sdk_types::SimpleSignature::Ed25519 { public_key, .. }) = &signature else {
            return Err(Status::invalid_argument("not an Ed25519 signature"));
        };
        if public_key.derive_address() != tx.sender {
            return Err(Status::invalid_argument("not signed by the sender"));
        }
        Ed25519Verifier::new()
            .verify_transaction(&tx, &signature)
            .map_err(|e| Status::invalid_argument(format!("signature does not verify: {e}")))?;
        self.state().executed.insert(tx.digest(), 3);
        let mut response = proto::ExecuteTransactionResponse::default();
        response.transaction = Some(Self::run(&tx, amount));
        Ok(Response::new(response))
    }
}

fn object(
    id: Address,
    version: u64,
    seed: u8,
    owner: proto::Owner,
    object_type: &str,
    balance: Option<u64>,
) -> proto::Object {
    let mut object = proto::Object::default();
    object.object_id = Some(id.to_string());
    object.version = Some(version);
    object.digest = Some(digest(seed).to_string());
    object.owner = Some(owner);
    object.object_type = Some(object_type.into());
    object.balance = balance;
    object
}

fn owned_by(address: Address) -> proto::Owner {
    let mut owner = proto::Owner::default();
    owner.set_kind(proto::owner::OwnerKind::Address);
    owner.address = Some(address.to_string());
    owner
}

fn shared(initial_shared_version: u64) -> proto::Owner {
    let mut owner = proto::Owner::default();
    owner.set_kind(proto::owner::OwnerKind::Shared);
    owner.version = Some(initial_shared_version);
    owner
}

/// A fake node holding a deployment, a sender with three SUI coins and two WAL coins, and a
/// coin of someone else's.
fn fake(key: &SuiKey) -> Fake {
    let fake = Fake::default();
    let sender = key.address();
    let walrus = Walrus {
        package: address(0xa1),
        system: SharedObject { id: address(0xb1), initial_shared_version: 3 },
        staking: SharedObject { id: address(0xb2), initial_shared_version: 4 },
    };
    let mut state = fake.state();
    state.walrus = Some(walrus);
    state.sender = Some(sender);
    let objects = [
        object(walrus.staking.id, 90, 1, shared(4), "0xa1::staking::Staking", None),
        object(address(0xc1), 5, 2, owned_by(sender), SUI_COIN, Some(10)),
        object(address(0xc2), 6, 3, owned_by(sender), SUI_COIN, Some(5_000_000_000)),
        object(address(0xc3), 7, 4, owned_by(sender), SUI_COIN, Some(300)),
        object(address(0xd1), 8, 5, owned_by(sender), &format!("0x2::coin::Coin<{WAL_COIN}>"), Some(3 * MIN_STAKE)),
        object(address(0xd2), 9, 6, owned_by(sender), &format!("0x2::coin::Coin<{WAL_COIN}>"), Some(MIN_STAKE)),
        object(address(0xe1), 1, 7, owned_by(address(0x99)), SUI_COIN, Some(1_000)),
    ];
    for o in objects {
        state.objects.insert(o.object_id.as_deref().unwrap().parse().unwrap(), o);
    }
    drop(state);
    fake
}

/// Serves `fake` on a free loopback port.
async fn serve(fake: Fake) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(LedgerServiceServer::new(fake.clone()))
            .add_service(StateServiceServer::new(fake.clone()))
            .add_service(TransactionExecutionServiceServer::new(fake))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap()
    });
    format!("http://{address}")
}

fn quick_retry(attempts: u32) -> Retry {
    Retry { attempts, first_delay: Duration::from_millis(10), max_delay: Duration::from_millis(40) }
}

/// Reads what a stake needs from the node and builds it with `budget`.
async fn stake(node: &FullNode, key: &SuiKey, amount: u64, budget: u64) -> (Transaction, Walrus) {
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
    let wal = node.coins(key.address(), &format!("0x2::coin::Coin<{WAL_COIN}>")).await.unwrap();
    let gas = Gas {
        sender: key.address(),
        coins: vec![gas_coins[0].reference.clone()],
        price: node.reference_gas_price().await.unwrap(),
        budget,
    };
    let wal: Vec<ObjectReference> = wal.iter().map(|c| c.reference.clone()).collect();
    (transactions::stake(&gas, &walrus, &wal, amount, address(0x77)).unwrap(), walrus)
}

#[tokio::test]
async fn reads_objects_coins_and_gas_price() {
    let key = SuiKey::generate();
    let node = FullNode::new(&serve(fake(&key)).await).unwrap();
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
    let wal = node.coins(key.address(), &format!("0x2::coin::Coin<{WAL_COIN}>")).await.unwrap();
    assert_eq!(wal.iter().map(|c| c.balance).sum::<u64>(), 4 * MIN_STAKE);
}

#[tokio::test]
async fn simulates_executes_and_waits_for_the_checkpoint() {
    let key = SuiKey::generate();
    let fake = fake(&key);
    let node = FullNode::new(&serve(fake.clone()).await).unwrap();

    // A first build with a provisional budget is simulated; the real budget comes from it.
    let (draft, _) = stake(&node, &key, 2 * MIN_STAKE, 50_000_000_000).await;
    let simulated = node.simulate(&draft).await.unwrap();
    assert_eq!(simulated.gas.budget(), (1_000_000 + 2_000_000) * 6 / 5);
    assert_eq!(simulated.gas.net(), 2_500_000);
    let (tx, _) = stake(&node, &key, 2 * MIN_STAKE, simulated.gas.budget()).await;

    let signed = SignedTransaction::sign(tx, &key).unwrap();
    let executed = node.execute(&signed).await.unwrap();
    assert_eq!(executed.digest, signed.digest());
    assert_eq!(executed.events.len(), 1);
    assert_eq!(bcs::from_bytes::<u64>(&executed.events[0].contents).unwrap(), 2 * MIN_STAKE);

    // The node puts it in a checkpoint only at the fourth poll.
    let checkpoint =
        node.wait_for_checkpoint(signed.digest(), Duration::from_secs(10), Duration::from_millis(10)).await;
    assert_eq!(checkpoint.unwrap(), 42);
    assert_eq!(fake.state().polls, 4);
}

#[tokio::test]
async fn a_transaction_signed_by_another_key_is_refused() {
    let key = SuiKey::generate();
    let node = FullNode::new(&serve(fake(&key)).await).unwrap();
    let (tx, _) = stake(&node, &key, 2 * MIN_STAKE, 10_000_000).await;
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
    let node = FullNode::new(&serve(fake(&key)).await).unwrap();
    let (tx, _) = stake(&node, &key, MIN_STAKE - 1, 10_000_000).await;
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
    let fake = fake(&key);
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
    let node = FullNode::new(&serve(fake(&key)).await).unwrap();
    let error = node.wait_for_checkpoint(digest(9), Duration::from_millis(100), Duration::from_millis(20)).await;
    match error {
        Err(NodeError::NotCheckpointed { digest: d, .. }) => assert_eq!(d, digest(9)),
        other => panic!("expected a timeout, got {other:?}"),
    }
}
