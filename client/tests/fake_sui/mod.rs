//! A fake Sui full node that implements the real `sui.rpc.v2` services (sui-rpc's generated
//! tonic servers) over an in-memory object store, for the client's Sui tests.
//!
//! It checks what it receives as the network would: the transaction decodes, is sent by the
//! wallet with its own SUI coins at the reference gas price, names owned objects at their
//! current version and owner and shared objects at their initial shared version, and (on
//! execution) carries a valid Ed25519 signature by the sender. It then runs the programmable
//! transaction command by command as `move/walrus` would, as far as the commands' structure
//! goes: which Move call with how many arguments, the `Staking`/`System` object and the
//! sender's `NodeCap`/`StakedWal`/`InitCap` where each function takes them, coins split and
//! merged, results transferred to the sender. It answers with effects (status, gas, created
//! objects) and events, and applies them only on execution. Move aborts are reported as a full
//! node reports them: the module, function and clever abort code of the asserting line of
//! `move/walrus/sources`.

#![allow(dead_code)] // each test file uses part of this module

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sui_crypto::ed25519::Ed25519Verifier;
use sui_crypto::SuiVerifier as _;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_rpc::proto::sui::rpc::v2::ledger_service_server::{LedgerService, LedgerServiceServer};
use sui_rpc::proto::sui::rpc::v2::state_service_server::{StateService, StateServiceServer};
use sui_rpc::proto::sui::rpc::v2::transaction_execution_service_server::{
    TransactionExecutionService, TransactionExecutionServiceServer,
};
use sui_sdk_types::{Address, Argument, Command, Digest, Input, Transaction, TransactionKind, UserSignature};
use tonic::{Request, Response, Status};
use walrus_chain::events as ev;
use walrus_client::sui::deployment::Deployment;
use walrus_client::sui::full_node::SUI_COIN;
use walrus_client::sui::keys::{Keystore, SuiKey};
use walrus_client::sui::transactions::Walrus;

pub const GAS_PRICE: u64 = 750;
/// `staked_wal::MIN_STAKE`: 1 WAL in FROST.
pub const MIN_STAKE: u64 = 1_000_000_000;
/// The gas every transaction is simulated and charged at.
pub const COMPUTATION: u64 = 1_000_000;
pub const STORAGE: u64 = 2_000_000;
pub const REBATE: u64 = 500_000;
pub const CLOCK: Address = Address::from_static("0x6");

pub fn digest(seed: u8) -> Digest {
    Digest::new([seed; 32])
}

pub fn address(seed: u8) -> Address {
    Address::new([seed; 32])
}

#[derive(Clone, Default)]
pub struct Fake {
    state: Arc<Mutex<State>>,
    /// Held from a transaction's checks to its commit, so that of two sent at once on the same
    /// gas coin the second is refused as stale, as on Sui, instead of overwriting the first.
    executing: Arc<Mutex<()>>,
}

#[derive(Clone, Default)]
pub struct State {
    /// The deployment, once `initialize_walrus` ran (or a test set it up).
    pub walrus: Option<Walrus>,
    /// The published WAL package; publishing a package that depends on it publishes walrus.
    pub wal_package: Option<Address>,
    /// The type of WAL coins: `0x2::coin::Coin<…::wal::WAL>`.
    pub wal_coin: String,
    pub sender: Option<Address>,
    /// Every object the node knows, by ID.
    pub objects: HashMap<Address, proto::Object>,
    /// Calls still to fail with UNAVAILABLE, as a restarting node does.
    pub unavailable_for: u32,
    /// Executed transactions and how many more polls each waits before its checkpoint.
    pub executed: HashMap<Digest, u32>,
    /// Polls a new transaction waits before its checkpoint.
    pub checkpoint_delay: u32,
    pub polls: u32,
    /// The Staking object's current epoch.
    pub epoch: u32,
    /// Whether the clock has reached the next epoch-change step.
    pub change_due: bool,
    /// Whether `voting_end` selected the next committee and `initiate_epoch_change` is next.
    pub next_selected: bool,
    /// The Move calls executed (not simulated), as `module::function`.
    pub calls: Vec<String>,
    /// Transactions simulated.
    pub simulations: u32,
    /// The `System` object's state: its committee's epoch and members (uncompressed key,
    /// weight, node), prices and how far ahead storage can be bought.
    pub system: SystemFields,
    /// Shards of the `Staking` committee, by node.
    pub shards: Vec<(Address, Vec<u16>)>,
    /// Checkpoints and elections, for storage nodes that follow the fake (see [`Ledger`]).
    pub ledger: Ledger,
    next_id: u64,
}

#[derive(Clone, Default)]
pub struct SystemFields {
    pub epoch: u32,
    pub n_shards: u16,
    pub members: Vec<(Vec<u8>, u16, Address)>,
    pub storage_price: u64,
    pub write_price: u64,
    pub max_epochs_ahead: u32,
}

/// A committee member as [`Fake::set_committee`] takes it.
pub struct FakeMember {
    pub node: Address,
    /// The BLS public key, compressed (48 bytes).
    pub public_key: Vec<u8>,
    pub shards: Vec<u16>,
    pub network_address: String,
}

/// The storage price (FROST per MiB and epoch) and write price (per MiB) a deployment starts with.
pub const STORAGE_PRICE: u64 = 100;
pub const WRITE_PRICE: u64 = 1000;

impl State {
    /// A fresh object ID.
    fn new_id(&mut self) -> Address {
        self.next_id += 1;
        let mut id = [0xf0; 32];
        id[24..].copy_from_slice(&self.next_id.to_be_bytes());
        Address::new(id)
    }

    pub fn object_type(&self, id: &Address) -> Option<&str> {
        self.objects.get(id).and_then(|o| o.object_type.as_deref())
    }

    /// The objects the sender owns of type `walrus::module::name`.
    pub fn owned_of_type(&self, module: &str, name: &str) -> Vec<Address> {
        let wanted = self.walrus.map(|w| format!("{}::{module}::{name}", w.package));
        let mut ids: Vec<Address> = self
            .objects
            .iter()
            .filter(|(_, o)| o.object_type == wanted && owner_address(o) == self.sender)
            .map(|(id, _)| *id)
            .collect();
        ids.sort();
        ids
    }

    pub fn contents(&self, id: &Address) -> Vec<u8> {
        self.objects[id].contents.as_ref().and_then(|c| c.value.clone()).unwrap_or_default().to_vec()
    }

    pub fn balance(&self, id: &Address) -> u64 {
        self.objects[id].balance.unwrap_or(0)
    }
}

fn owner_address(object: &proto::Object) -> Option<Address> {
    object.owner.as_ref().and_then(|o| o.address.as_deref()).and_then(|a| a.parse().ok())
}

pub fn object(
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
    // A Move object's contents start with its UID; callers set the fields that matter.
    object.contents = Some(bcs_value(id.into_inner().to_vec()));
    object
}

pub fn owned_by(address: Address) -> proto::Owner {
    let mut owner = proto::Owner::default();
    owner.set_kind(proto::owner::OwnerKind::Address);
    owner.address = Some(address.to_string());
    owner
}

pub fn shared(initial_shared_version: u64) -> proto::Owner {
    let mut owner = proto::Owner::default();
    owner.set_kind(proto::owner::OwnerKind::Shared);
    owner.version = Some(initial_shared_version);
    owner
}

fn owned_by_object(parent: Address) -> proto::Owner {
    let mut owner = proto::Owner::default();
    owner.set_kind(proto::owner::OwnerKind::Object);
    owner.address = Some(parent.to_string());
    owner
}

fn immutable() -> proto::Owner {
    let mut owner = proto::Owner::default();
    owner.set_kind(proto::owner::OwnerKind::Immutable);
    owner
}

/// The line of `move/walrus/sources/MODULE.move` that holds `assertion`.
pub fn line_of(module: &str, assertion: &str) -> u32 {
    let path = format!("{}/../move/walrus/sources/{module}.move", env!("CARGO_MANIFEST_DIR"));
    let source = std::fs::read_to_string(&path).unwrap();
    let index = source.lines().position(|l| l.contains(assertion));
    index.unwrap_or_else(|| panic!("{path} lacks {assertion:?}")) as u32 + 1
}

/// A clever abort code for an assertion at `line`, as the Move compiler makes it.
fn clever_code(line: u32) -> u64 {
    1 << 63 | u64::from(line) << 32 | 5 << 16 | 2
}

/// Why a transaction fails while running.
enum Fail {
    Abort { module: &'static str, function: &'static str, line: u32 },
    Other(String),
}

/// A command's result while a transaction runs.
#[derive(Clone, Copy, Debug)]
enum Value {
    /// An object the transaction created and still has to hand to someone.
    Object(Address),
    /// A value that needs no transfer (nothing returned).
    Unit,
}

impl Fake {
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// A node with the clock, `sender` as the wallet, and its SUI coins of `balances`.
    pub fn new(sender: Address, balances: &[u64]) -> Self {
        let fake = Fake::default();
        let mut state = fake.state();
        state.sender = Some(sender);
        state.checkpoint_delay = 3;
        state.objects.insert(CLOCK, object(CLOCK, 1000, 9, shared(1), "0x2::clock::Clock", None));
        for (i, balance) in balances.iter().enumerate() {
            let id = address(0xc1 + i as u8);
            state.objects.insert(id, object(id, 5 + i as u64, 2 + i as u8, owned_by(sender), SUI_COIN, Some(*balance)));
        }
        drop(state);
        fake
    }

    /// Writes the deployment file of [`Fake::deploy`]'s deployment at `path`, its full node `url`.
    pub fn write_deployment(&self, url: &str, path: &std::path::Path) {
        let state = self.state();
        let (wal_package, walrus) = (state.wal_package.unwrap(), state.walrus.unwrap());
        Deployment { full_node: url.to_owned(), wal_package, walrus }.write_new(path).unwrap();
    }

    /// Adds a deployment, as `walrus publish` makes it, with WAL coins of `wal` for the sender.
    pub fn deploy(&self, wal: &[u64]) -> Walrus {
        let mut state = self.state();
        let sender = state.sender.unwrap();
        let wal_package = address(0xa0);
        let walrus = Walrus {
            package: address(0xa1),
            system: walrus_client::sui::transactions::SharedObject { id: address(0xb1), initial_shared_version: 3 },
            staking: walrus_client::sui::transactions::SharedObject { id: address(0xb2), initial_shared_version: 4 },
        };
        state.wal_package = Some(wal_package);
        state.wal_coin = format!("0x2::coin::Coin<{wal_package}::wal::WAL>");
        state.walrus = Some(walrus);
        let system = object(walrus.system.id, 80, 1, shared(3), &format!("{}::system::System", walrus.package), None);
        let staking =
            object(walrus.staking.id, 90, 1, shared(4), &format!("{}::staking::Staking", walrus.package), None);
        state.objects.insert(walrus.system.id, system);
        state.objects.insert(walrus.staking.id, staking);
        set_system(&mut state, 0, 0);
        let coin_type = state.wal_coin.clone();
        for (i, balance) in wal.iter().enumerate() {
            let id = address(0xd1 + i as u8);
            state.objects.insert(id, object(id, 8 + i as u64, 5, owned_by(sender), &coin_type, Some(*balance)));
        }
        walrus
    }

    /// Adds a registered node's pool, with its `NodeCap` owned by `operator`; returns (node, cap).
    pub fn add_node(&self, operator: Address) -> (Address, Address) {
        let mut state = self.state();
        let walrus = state.walrus.unwrap();
        let (node, cap) = (state.new_id(), state.new_id());
        let pool = object(node, 20, 3, owned_by_object(walrus.staking.id), &pool_type(&walrus), None);
        state.objects.insert(node, pool);
        let epoch = state.epoch;
        set_pool(&mut state, node, epoch, &[]);
        let mut cap_object = object(cap, 21, 4, owned_by(operator), &cap_type(&walrus), None);
        cap_object.contents =
            Some(bcs_value([cap.into_inner().to_vec(), node.into_inner().to_vec(), vec![0; 4]].concat()));
        state.objects.insert(cap, cap_object);
        (node, cap)
    }

    /// Puts the system in `epoch` with a committee of `n_shards` shards.
    pub fn set_system(&self, epoch: u32, n_shards: u16) {
        set_system(&mut self.state(), epoch, n_shards);
    }

    /// Makes `members` (nodes added with [`Fake::add_node`]) the committee of `epoch` in the
    /// `System` and `Staking` objects and gives their pools their network addresses, with
    /// storage bought up to `max_epochs_ahead` ahead.
    pub fn set_committee(&self, epoch: u32, members: &[FakeMember], max_epochs_ahead: u32) {
        set_committee(&mut self.state(), epoch, members, max_epochs_ahead);
    }

    /// The wallet's `Blob` objects, decoded.
    pub fn blobs(&self) -> Vec<FakeBlob> {
        let state = self.state();
        let mut blobs: Vec<FakeBlob> = state
            .owned_of_type("blob", "Blob")
            .iter()
            .map(|id| bcs::from_bytes(&state.contents(id)).unwrap())
            .collect();
        blobs.sort_by_key(|b| b.id);
        blobs
    }

    /// Adds a `Blob` object of `owner` holding `blob_id`, stored for `[start, end)`.
    pub fn add_blob(&self, owner: Address, blob_id: [u8; 32], certified: Option<u32>, end: u32) -> Address {
        let mut state = self.state();
        let walrus = state.walrus.unwrap();
        let (id, storage) = (state.new_id(), state.new_id());
        let start = 1u32;
        let size = 1234u64;
        let contents =
            bcs::to_bytes(&(id, start, blob_id, size, 1u8, certified, (storage, start, end, 1u64 << 20), true));
        let mut blob = object(id, 40, 7, owned_by(owner), &format!("{}::blob::Blob", walrus.package), None);
        blob.contents = Some(bcs_value(contents.unwrap()));
        state.objects.insert(id, blob);
        id
    }

    /// Makes node `node`'s pool have entered `latest_epoch` with the exchange rates `rates`
    /// (epoch, WAL, shares), as `staking_pool::enter` records them.
    pub fn set_pool(&self, node: Address, latest_epoch: u32, rates: &[(u32, u128, u128)]) {
        set_pool(&mut self.state(), node, latest_epoch, rates);
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
    /// the wallet at the reference gas price with SUI coins it owns at their current version,
    /// and its object inputs are current.
    fn check(&self, transaction: Option<&proto::Transaction>) -> Result<Transaction, Status> {
        let proto_tx = transaction.ok_or_else(|| Status::invalid_argument("no transaction"))?;
        let tx = Transaction::try_from(proto_tx).map_err(|e| Status::invalid_argument(format!("transaction: {e}")))?;
        let state = self.state();
        if Some(tx.sender) != state.sender {
            return Err(Status::invalid_argument("unknown sender"));
        }
        let mut gas_balance = 0u64;
        for coin in &tx.gas_payment.objects {
            let object =
                state.objects.get(coin.object_id()).ok_or_else(|| Status::invalid_argument("no such gas coin"))?;
            if object.object_type.as_deref() != Some(SUI_COIN) || object.version != Some(coin.version()) {
                return Err(Status::invalid_argument("stale or non-SUI gas coin"));
            }
            if owner_address(object) != Some(tx.sender) {
                return Err(Status::invalid_argument("a gas coin of someone else"));
            }
            gas_balance += object.balance.unwrap_or(0);
        }
        if tx.gas_payment.price != GAS_PRICE {
            return Err(Status::invalid_argument("gas price is not the reference gas price"));
        }
        if tx.gas_payment.budget > gas_balance {
            return Err(Status::invalid_argument("the gas budget exceeds the gas coins' balance"));
        }
        let TransactionKind::ProgrammableTransaction(ptb) = &tx.kind else {
            return Err(Status::invalid_argument("not a programmable transaction"));
        };
        for input in &ptb.inputs {
            match input {
                Input::ImmutableOrOwned(reference) => {
                    let object = state.objects.get(reference.object_id()).ok_or_else(|| {
                        Status::invalid_argument(format!("object {} does not exist", reference.object_id()))
                    })?;
                    if object.version != Some(reference.version())
                        || object.digest.as_deref() != Some(&reference.digest().to_string())
                    {
                        return Err(Status::invalid_argument(format!(
                            "object {} is not at that version",
                            reference.object_id()
                        )));
                    }
                    if owner_address(object) != Some(tx.sender) {
                        return Err(Status::invalid_argument(format!(
                            "object {} is not the sender's",
                            reference.object_id()
                        )));
                    }
                }
                Input::Shared(shared) => {
                    let object = state.objects.get(&shared.object_id());
                    let initial =
                        object.and_then(|o| o.owner.as_ref()).filter(|o| o.kind() == proto::owner::OwnerKind::Shared);
                    if initial.and_then(|o| o.version) != Some(shared.version()) {
                        return Err(Status::invalid_argument(format!(
                            "{} is not a shared object of that version",
                            shared.object_id()
                        )));
                    }
                }
                Input::Pure(_) => {}
                other => return Err(Status::invalid_argument(format!("unexpected input {other:?}"))),
            }
        }
        Ok(tx)
    }

    /// Runs `tx` on a copy of the state; returns the effects and the state after it.
    fn run(&self, tx: &Transaction) -> Result<(proto::ExecutedTransaction, State), Status> {
        let mut after = self.state().clone();
        let before = after.objects.clone();
        let mut events = Vec::new();
        let result = run_commands(&mut after, tx, &mut events);
        let mut status = proto::ExecutionStatus::default();
        let mut created = Vec::new();
        match result {
            Ok(()) => {
                status.success = Some(true);
                created = after
                    .objects
                    .iter()
                    .filter(|(id, _)| !before.contains_key(*id))
                    .map(|(id, o)| changed(id, o))
                    .collect();
            }
            Err(Fail::Abort { module, function, line }) => {
                status.success = Some(false);
                let mut location = proto::MoveLocation::default();
                location.module = Some(module.into());
                location.function_name = Some(function.into());
                let mut abort = proto::MoveAbort::default();
                abort.abort_code = Some(clever_code(line));
                abort.location = Some(location);
                let mut error = proto::ExecutionError::default();
                error.description = Some("MoveAbort".into());
                error.error_details = Some(proto::execution_error::ErrorDetails::Abort(abort));
                status.error = Some(error);
                events.clear();
            }
            Err(Fail::Other(description)) => {
                status.success = Some(false);
                let mut error = proto::ExecutionError::default();
                error.description = Some(description);
                status.error = Some(error);
                events.clear();
            }
        }
        let failed = status.success != Some(true);
        if failed {
            // Only the gas is charged.
            after = self.state().clone();
        }
        charge_gas(&mut after, tx);
        let mut gas = proto::GasCostSummary::default();
        gas.computation_cost = Some(COMPUTATION);
        gas.storage_cost = Some(STORAGE);
        gas.storage_rebate = Some(REBATE);
        let mut effects = proto::TransactionEffects::default();
        effects.status = Some(status);
        effects.gas_used = Some(gas);
        effects.changed_objects = created;
        let mut transaction_events = proto::TransactionEvents::default();
        // Also as BCS, which is what followers ask a full node for.
        let typed: Vec<sui_sdk_types::Event> =
            events.iter().map(|e| sui_sdk_types::Event::try_from(e).expect("the fake's events convert")).collect();
        transaction_events.bcs = Some(proto::Bcs::from(bcs::to_bytes(&typed).unwrap()));
        transaction_events.events = events;
        let mut executed = proto::ExecutedTransaction::default();
        executed.digest = Some(tx.digest().to_string());
        executed.effects = Some(effects);
        executed.events = Some(transaction_events);
        Ok((executed, after))
    }
}

fn pool_type(walrus: &Walrus) -> String {
    format!("{}::staking_pool::StakingPool", walrus.package)
}

fn cap_type(walrus: &Walrus) -> String {
    format!("{}::storage_node::NodeCap", walrus.package)
}

fn staked_type(walrus: &Walrus) -> String {
    format!("{}::staked_wal::StakedWal", walrus.package)
}

fn bcs_value(bytes: Vec<u8>) -> proto::Bcs {
    let mut bcs = proto::Bcs::default();
    bcs.value = Some(bytes.into());
    bcs
}

fn changed(id: &Address, object: &proto::Object) -> proto::ChangedObject {
    use proto::changed_object::{IdOperation, OutputObjectState};
    let mut c = proto::ChangedObject::default();
    c.object_id = Some(id.to_string());
    c.set_id_operation(IdOperation::Created);
    let package = object.object_type.as_deref() == Some("package");
    c.set_output_state(if package { OutputObjectState::PackageWrite } else { OutputObjectState::ObjectWrite });
    c.output_version = object.version;
    c.output_digest = object.digest.clone();
    c.output_owner = object.owner.clone();
    c.object_type = if package { None } else { object.object_type.clone() };
    c
}

/// Takes the net gas from the first gas coin and bumps the versions of the gas coins and of
/// the owned inputs still there, as every transaction does, failed or not.
fn charge_gas(state: &mut State, tx: &Transaction) {
    let version = lamport(tx);
    for (i, coin) in tx.gas_payment.objects.iter().enumerate() {
        let object = state.objects.get_mut(coin.object_id()).unwrap();
        if i == 0 {
            object.balance = Some(object.balance.unwrap_or(0).saturating_sub(COMPUTATION + STORAGE - REBATE));
        }
        touch(object, version);
    }
    let TransactionKind::ProgrammableTransaction(ptb) = &tx.kind else { unreachable!("checked") };
    for input in &ptb.inputs {
        if let Input::ImmutableOrOwned(r) = input {
            if let Some(object) = state.objects.get_mut(r.object_id()) {
                touch(object, version);
            }
        }
    }
}

/// The version every object a transaction writes gets: above all its inputs'.
fn lamport(tx: &Transaction) -> u64 {
    let TransactionKind::ProgrammableTransaction(ptb) = &tx.kind else { unreachable!("checked") };
    let owned = ptb.inputs.iter().filter_map(|i| match i {
        Input::ImmutableOrOwned(r) => Some(r.version()),
        _ => None,
    });
    let gas = tx.gas_payment.objects.iter().map(|c| c.version());
    owned.chain(gas).max().unwrap_or(0) + 1
}

fn touch(object: &mut proto::Object, version: u64) {
    object.version = Some(version);
    let id: Address = object.object_id.as_deref().unwrap().parse().unwrap();
    let mut bytes = id.into_inner();
    bytes[..8].copy_from_slice(&version.to_le_bytes());
    object.digest = Some(Digest::new(bytes).to_string());
}

fn event(event_type: String, contents: Vec<u8>) -> proto::Event {
    let mut event = proto::Event::default();
    event.event_type = Some(event_type);
    event.contents = Some(bcs_value(contents));
    event
}

fn fail(message: impl Into<String>) -> Fail {
    Fail::Other(message.into())
}

/// Runs the commands of `tx` on `state`, as the Move code of `move/walrus` would.
fn run_commands(state: &mut State, tx: &Transaction, events: &mut Vec<proto::Event>) -> Result<(), Fail> {
    let TransactionKind::ProgrammableTransaction(ptb) = &tx.kind else { unreachable!("checked") };
    let version = lamport(tx);
    let sender = tx.sender;
    let mut results: Vec<Value> = Vec::new();
    let mut handed_over: Vec<Address> = Vec::new();
    let input_object = |argument: &Argument| -> Option<Address> {
        match argument {
            Argument::Input(i) => match &ptb.inputs[*i as usize] {
                Input::ImmutableOrOwned(r) => Some(*r.object_id()),
                Input::Shared(s) => Some(s.object_id()),
                _ => None,
            },
            _ => None,
        }
    };
    let pure = |argument: &Argument| -> Result<&[u8], Fail> {
        match argument {
            Argument::Input(i) => match &ptb.inputs[*i as usize] {
                Input::Pure(bytes) => Ok(bytes),
                _ => Err(fail("CommandArgumentError: expected a pure value")),
            },
            _ => Err(fail("CommandArgumentError: expected a pure input")),
        }
    };
    let result_object = |results: &[Value], argument: &Argument| -> Option<Address> {
        match argument {
            Argument::Result(i) | Argument::NestedResult(i, 0) => match results.get(*i as usize) {
                Some(Value::Object(id)) => Some(*id),
                _ => None,
            },
            _ => None,
        }
    };
    for command in &ptb.commands {
        let value = match command {
            Command::Publish(publish) => {
                let package = state.new_id();
                let mut published = object(package, 1, 1, immutable(), "package", None);
                touch(&mut published, 1);
                state.objects.insert(package, published);
                let is_walrus = state.wal_package.is_some_and(|wal| publish.dependencies.contains(&wal));
                if is_walrus {
                    let cap = state.new_id();
                    let mut o = object(cap, version, 1, owned_by(sender), &format!("{package}::init::InitCap"), None);
                    touch(&mut o, version);
                    state.objects.insert(cap, o);
                } else {
                    state.wal_package = Some(package);
                    state.wal_coin = format!("0x2::coin::Coin<{package}::wal::WAL>");
                    let coin = state.new_id();
                    let supply = 5_000_000_000 * MIN_STAKE;
                    let mut o = object(coin, version, 1, owned_by(sender), &state.wal_coin.clone(), Some(supply));
                    touch(&mut o, version);
                    state.objects.insert(coin, o);
                }
                let cap = state.new_id();
                let mut o = object(cap, version, 1, owned_by(sender), "0x2::package::UpgradeCap", None);
                touch(&mut o, version);
                state.objects.insert(cap, o);
                Value::Object(cap)
            }
            Command::MergeCoins(merge) => {
                let into = input_object(&merge.coin).ok_or_else(|| fail("merge into a non-input"))?;
                for other in &merge.coins_to_merge {
                    let other = input_object(other).ok_or_else(|| fail("merge a non-input"))?;
                    if state.object_type(&other) != state.object_type(&into) {
                        return Err(fail("MergeCoins of different coin types"));
                    }
                    let balance = state.balance(&other);
                    state.objects.remove(&other);
                    let target = state.objects.get_mut(&into).unwrap();
                    target.balance = Some(target.balance.unwrap_or(0) + balance);
                }
                touch(state.objects.get_mut(&into).unwrap(), version);
                Value::Unit
            }
            Command::SplitCoins(split) => {
                let from = input_object(&split.coin).ok_or_else(|| fail("split a non-input"))?;
                if state.object_type(&from) != Some(state.wal_coin.as_str()) {
                    return Err(fail("the split coin is not WAL"));
                }
                let [amount] = split.amounts.as_slice() else { return Err(fail("one amount expected")) };
                let amount: u64 = bcs::from_bytes(pure(amount)?).map_err(|_| fail("amount is not a u64"))?;
                let balance = state.balance(&from);
                if balance < amount {
                    return Err(fail("InsufficientCoinBalance in command 1"));
                }
                let source = state.objects.get_mut(&from).unwrap();
                source.balance = Some(balance - amount);
                touch(source, version);
                let coin = state.new_id();
                let mut o = object(coin, version, 1, owned_by(sender), &state.wal_coin.clone(), Some(amount));
                touch(&mut o, version);
                state.objects.insert(coin, o);
                Value::Object(coin)
            }
            Command::TransferObjects(transfer) => {
                let to: Address = bcs::from_bytes(pure(&transfer.address)?).map_err(|_| fail("not an address"))?;
                if to != sender {
                    return Err(fail("a transfer to someone else than the sender"));
                }
                for object in &transfer.objects {
                    let id = result_object(&results, object).ok_or_else(|| fail("transfer of a non-object"))?;
                    handed_over.push(id);
                }
                Value::Unit
            }
            Command::MoveCall(call) => {
                let emitted = events.len();
                let value = move_call(state, sender, version, call, &ptb.inputs, &results, events)?;
                emitted_by(&mut events[emitted..], call, sender);
                state.calls.push(format!("{}::{}", call.module, call.function));
                value
            }
            other => return Err(fail(format!("unexpected command {other:?}"))),
        };
        results.push(value);
    }
    // Every object a command returned must be consumed or handed over (Move's
    // UnusedValueWithoutDrop).
    for value in &results {
        if let Value::Object(id) = value {
            if state.objects.contains_key(id) && !handed_over.contains(id) {
                return Err(fail("UnusedValueWithoutDrop"));
            }
        }
    }
    Ok(())
}

/// The arguments of one Move call, checked as the function's parameters take them.
struct Args<'a> {
    call: &'a sui_sdk_types::MoveCall,
    inputs: &'a [Input],
    results: &'a [Value],
}

impl Args<'_> {
    fn count(&self, n: usize) -> Result<(), Fail> {
        if self.call.arguments.len() != n {
            return Err(fail(format!(
                "{}::{} takes {n} arguments, given {}",
                self.call.module,
                self.call.function,
                self.call.arguments.len()
            )));
        }
        Ok(())
    }

    fn input(&self, i: usize) -> Result<&Input, Fail> {
        match self.call.arguments.get(i) {
            Some(Argument::Input(n)) => Ok(&self.inputs[*n as usize]),
            _ => Err(fail(format!("CommandArgumentError: argument {i} is not an input"))),
        }
    }

    /// Argument `i` is the shared object `id`, taken `&mut` when `mutable`.
    fn shared(&self, i: usize, id: Address, mutable: bool) -> Result<(), Fail> {
        match self.input(i)? {
            Input::Shared(s) if s.object_id() == id && s.mutability().is_mutable() == mutable => Ok(()),
            other => Err(fail(format!("argument {i} is not the shared object {id} (mutable: {mutable}): {other:?}"))),
        }
    }

    /// Argument `i` is an owned object of type `object_type`.
    fn owned(&self, state: &State, i: usize, object_type: &str) -> Result<Address, Fail> {
        match self.input(i)? {
            Input::ImmutableOrOwned(r) if state.object_type(r.object_id()) == Some(object_type) => Ok(*r.object_id()),
            other => Err(fail(format!("TypeMismatch: argument {i} is not a {object_type}: {other:?}"))),
        }
    }

    fn pure<T: serde::de::DeserializeOwned>(&self, i: usize) -> Result<T, Fail> {
        match self.input(i)? {
            Input::Pure(bytes) => bcs::from_bytes(bytes).map_err(|_| fail(format!("argument {i} does not decode"))),
            _ => Err(fail(format!("argument {i} is not a pure value"))),
        }
    }

    /// Argument `i` is an object an earlier command returned.
    fn result(&self, i: usize) -> Result<Address, Fail> {
        match self.call.arguments.get(i) {
            Some(Argument::Result(n)) | Some(Argument::NestedResult(n, 0)) => match self.results.get(*n as usize) {
                Some(Value::Object(id)) => Ok(*id),
                _ => Err(fail(format!("argument {i} is no object"))),
            },
            _ => Err(fail(format!("argument {i} is not a result"))),
        }
    }
}

fn new_object<'a>(
    state: &'a mut State,
    id: Address,
    version: u64,
    owner: proto::Owner,
    object_type: &str,
) -> &'a mut proto::Object {
    let mut o = object(id, version, 1, owner, object_type, None);
    touch(&mut o, version);
    state.objects.insert(id, o);
    state.objects.get_mut(&id).unwrap()
}

/// Makes `members` the committee of `epoch` (see [`Fake::set_committee`]).
fn set_committee(state: &mut State, epoch: u32, members: &[FakeMember], max_epochs_ahead: u32) {
    use fastcrypto::groups::bls12381::{G1Element, G1ElementUncompressed};
    use fastcrypto::serde_helpers::ToFromByteArray as _;
    let mut sorted: Vec<&FakeMember> = members.iter().collect();
    sorted.sort_by_key(|m| m.node);
    let uncompressed = |key: &[u8]| {
        let point = G1Element::from_byte_array(key.try_into().unwrap()).unwrap();
        G1ElementUncompressed::from(&point).into_byte_array().to_vec()
    };
    state.epoch = epoch;
    state.system = SystemFields {
        epoch,
        n_shards: members.iter().map(|m| m.shards.len() as u16).sum(),
        members: sorted.iter().map(|m| (uncompressed(&m.public_key), m.shards.len() as u16, m.node)).collect(),
        storage_price: STORAGE_PRICE,
        write_price: WRITE_PRICE,
        max_epochs_ahead,
    };
    state.shards = sorted.iter().map(|m| (m.node, m.shards.clone())).collect();
    write_system(state);
    write_staking(state);
    for m in members {
        write_pool(state, m.node, epoch, &[], &m.network_address);
    }
}

/// Replaces the `System` object's state (the dynamic field keyed by version 1): a committee
/// of one member holding `n_shards` shards in `epoch`, as `system_state_inner.move` declares it.
fn set_system(state: &mut State, epoch: u32, n_shards: u16) {
    let members: Vec<(Vec<u8>, u16, Address)> =
        if n_shards == 0 { Vec::new() } else { vec![(vec![0; 96], n_shards, address(0x77))] };
    state.system = SystemFields {
        epoch,
        n_shards,
        members,
        storage_price: STORAGE_PRICE,
        write_price: WRITE_PRICE,
        max_epochs_ahead: 2,
    };
    write_system(state);
}

/// Writes `state.system` as the `System` object's state, as `system_state_inner.move`
/// declares it.
fn write_system(state: &mut State) {
    let walrus = state.walrus.unwrap();
    let s = &state.system;
    let id = walrus.system.id.derive_dynamic_child_id(&sui_sdk_types::TypeTag::U64, &1u64.to_le_bytes());
    let committee = (&s.members, s.n_shards, s.epoch, vec![0u8; 96]);
    let ring: Vec<(u32, u64, u64)> = (0..s.max_epochs_ahead).map(|i| (s.epoch + i, 0, 0)).collect();
    let accounting = (0u32, s.max_epochs_ahead, ring);
    let inner = (committee, (1u64 << 40, 0u64, s.storage_price, s.write_price), accounting);
    let field_type =
        format!("0x2::dynamic_field::Field<u64, {}::system_state_inner::SystemStateInnerV1>", walrus.package);
    let mut field = object(id, 50, 8, owned_by_object(walrus.system.id), &field_type, None);
    field.contents = Some(bcs_value(bcs::to_bytes(&(id, 1u64, inner)).unwrap()));
    state.objects.insert(id, field);
}

/// Writes the `Staking` object's state (the dynamic field keyed by version 1) with the
/// committee of `state.shards`, as `staking_inner.move` declares it.
fn write_staking(state: &mut State) {
    let walrus = state.walrus.unwrap();
    let id = walrus.staking.id.derive_dynamic_child_id(&sui_sdk_types::TypeTag::U64, &1u64.to_le_bytes());
    let n_shards = state.system.n_shards;
    let no_committee: Vec<(Address, Vec<u16>)> = Vec::new();
    let inner = (
        (n_shards, 3_600_000u64, 0u64, 100u16, state.epoch, 0u64),
        ((address(0x55), state.shards.len() as u64), Vec::<(Address, u64)>::new()),
        (&state.shards, &no_committee, None::<Vec<(Address, Vec<u16>)>>, None::<(u64, u64, u64)>),
        // `EpochState::EpochChangeDone`.
        1u8,
    );
    let field_type = format!("0x2::dynamic_field::Field<u64, {}::staking_inner::StakingInnerV1>", walrus.package);
    let mut field = object(id, 51, 8, owned_by_object(walrus.staking.id), &field_type, None);
    field.contents = Some(bcs_value(bcs::to_bytes(&(id, 1u64, inner)).unwrap()));
    state.objects.insert(id, field);
}

/// Gives pool `node` a fresh `exchange_rates` table holding `rates` and the latest epoch
/// `latest_epoch`: the pool's contents as `staking_pool.move` declares them, and each rate a
/// `dynamic_field::Field<u32, ExchangeRate>` object at the ID Sui derives for its key.
fn set_pool(state: &mut State, node: Address, latest_epoch: u32, rates: &[(u32, u128, u128)]) {
    write_pool(state, node, latest_epoch, rates, "node.example.org:9185");
}

/// As [`set_pool`], for a node serving clients at `network_address`.
fn write_pool(state: &mut State, node: Address, latest_epoch: u32, rates: &[(u32, u128, u128)], network_address: &str) {
    let walrus = state.walrus.unwrap();
    let table = state.new_id();
    let no_entries: Vec<(u32, u64)> = Vec::new();
    // A registered node's name and key; a node the test added directly has none of its own.
    let candidate = state.ledger.candidates.iter().find(|c| c.node == node);
    let name = candidate.map_or("node", |c| c.name.as_str());
    let public_key = candidate.map_or(vec![0u8; 48], |c| c.public_key.clone());
    let node_info = (name, node, network_address, Vec::<u8>::new(), public_key, vec![0u8; 33]);
    let contents = bcs::to_bytes(&(
        (node, 0u8, node_info, (100u64, 1000u64, 1u64 << 40), 500u16, Vec::<(u32, u16)>::new()),
        (0u64, 0u64, &no_entries, &no_entries, &no_entries),
        ((table, rates.len() as u64), 0u64, 0u64, latest_epoch),
    ))
    .unwrap();
    state.objects.get_mut(&node).unwrap().contents = Some(bcs_value(contents));
    let field_type = format!("0x2::dynamic_field::Field<u32, {}::staking_pool::ExchangeRate>", walrus.package);
    for &(epoch, wal, shares) in rates {
        let id = table.derive_dynamic_child_id(&sui_sdk_types::TypeTag::U32, &epoch.to_le_bytes());
        let mut field = object(id, 30, 6, owned_by_object(table), &field_type, None);
        field.contents = Some(bcs_value(bcs::to_bytes(&(id, epoch, wal, shares)).unwrap()));
        state.objects.insert(id, field);
    }
}

/// The BCS of a `StakedWal`, fields in `staked_wal.move`'s order.
pub fn staked_wal_bcs(
    id: Address,
    withdraw_epoch: Option<u32>,
    node: Address,
    principal: u64,
    activation: u32,
) -> Vec<u8> {
    let mut bytes = id.into_inner().to_vec();
    match withdraw_epoch {
        None => bytes.push(0),
        Some(epoch) => {
            bytes.push(1);
            bytes.extend(epoch.to_le_bytes());
        }
    }
    bytes.extend(node.into_inner());
    bytes.extend(principal.to_le_bytes());
    bytes.extend(activation.to_le_bytes());
    bytes
}

/// Runs one call of `move/walrus`, as far as its structure and the aborts tests rely on go.
fn move_call(
    state: &mut State,
    sender: Address,
    version: u64,
    call: &sui_sdk_types::MoveCall,
    inputs: &[Input],
    results: &[Value],
    events: &mut Vec<proto::Event>,
) -> Result<Value, Fail> {
    let a = Args { call, inputs, results };
    let function = (call.module.as_str(), call.function.as_str());
    if function == ("init", "initialize_walrus") {
        a.count(7)?;
        let package = call.package;
        let cap = a.owned(state, 0, &format!("{package}::init::InitCap"))?;
        let n_shards: u16 = a.pure(1)?;
        let _: (u64, u64, u32, u16) = (a.pure(2)?, a.pure(3)?, a.pure(4)?, a.pure(5)?);
        a.shared(6, CLOCK, false)?;
        if n_shards < 4 {
            let line = line_of("staking_inner", "assert!(n_shards >= MIN_SHARDS, ETooFewShards)");
            return Err(Fail::Abort { module: "staking_inner", function: "new", line });
        }
        state.objects.remove(&cap);
        let (system, staking) = (state.new_id(), state.new_id());
        new_object(state, system, version, shared(version), &format!("{package}::system::System"));
        new_object(state, staking, version, shared(version), &format!("{package}::staking::Staking"));
        state.walrus = Some(Walrus {
            package,
            system: walrus_client::sui::transactions::SharedObject { id: system, initial_shared_version: version },
            staking: walrus_client::sui::transactions::SharedObject { id: staking, initial_shared_version: version },
        });
        set_system(state, 0, 0);
        return Ok(Value::Unit);
    }
    let walrus = state.walrus.ok_or_else(|| fail("no walrus deployment"))?;
    if call.package == walrus.package && call.module.as_str() == "system" && call.type_arguments.is_empty() {
        return system_call(state, sender, version, &a, function.1, events);
    }
    if call.package != walrus.package || call.module.as_str() != "staking" || !call.type_arguments.is_empty() {
        return Err(fail(format!("unexpected call {}::{}::{}", call.package, call.module, call.function)));
    }
    let event_type = |name: &str| format!("{}::events::{name}", walrus.package);
    match function.1 {
        "voting_end" | "initiate_epoch_change" => {
            let voting = function.1 == "voting_end";
            a.count(if voting { 2 } else { 3 })?;
            a.shared(0, walrus.staking.id, true)?;
            if !voting {
                a.shared(1, walrus.system.id, true)?;
            }
            a.shared(if voting { 1 } else { 2 }, CLOCK, false)?;
            if state.next_selected == voting {
                let line = line_of(
                    "staking_inner",
                    "assert!(self.epoch_state == EpochState::NextParamsSelected, EWrongEpochState)",
                );
                return Err(Fail::Abort { module: "staking_inner", function: "initiate_epoch_change", line });
            }
            if !state.change_due {
                let line = line_of("staking_inner", "assert!(time >= self.epoch_start(self.epoch + 1), ETooEarly)");
                return Err(Fail::Abort { module: "staking_inner", function: "assert_due", line });
            }
            state.next_selected = voting;
            if voting {
                let next_epoch = state.epoch + 1;
                let (node_ids, shards): (Vec<Address>, Vec<Vec<u16>>) = select_committee(state)?.into_iter().unzip();
                let selected = ev::CommitteeSelected { epoch: next_epoch, node_ids, shards };
                events.push(event(event_type("CommitteeSelected"), bcs::to_bytes(&selected).unwrap()));
                let parameters = ev::EpochParametersSelected { next_epoch };
                events.push(event(event_type("EpochParametersSelected"), bcs::to_bytes(&parameters).unwrap()));
            } else {
                state.epoch += 1;
                start_selected_committee(state);
                events.push(event(event_type("EpochChangeStart"), bcs::to_bytes(&state.epoch).unwrap()));
            }
            Ok(Value::Unit)
        }
        "stake_with_pool" => {
            a.count(3)?;
            a.shared(0, walrus.staking.id, true)?;
            let coin = a.result(1)?;
            if state.object_type(&coin) != Some(state.wal_coin.as_str()) {
                return Err(fail("TypeMismatch: the stake is not a WAL coin"));
            }
            let node: Address = a.pure(2)?;
            if state.object_type(&node) != Some(pool_type(&walrus).as_str()) {
                return Err(fail("MoveAbort in 0x2::dynamic_field::borrow_child_object_mut: 1"));
            }
            let amount = state.balance(&coin);
            if amount < MIN_STAKE {
                let line = line_of("staked_wal", "assert!(principal.value() >= MIN_STAKE, EStakeBelowThreshold)");
                return Err(Fail::Abort { module: "staked_wal", function: "mint", line });
            }
            state.objects.remove(&coin);
            let staked = state.new_id();
            let contents = staked_wal_bcs(staked, None, node, amount, state.epoch + 1);
            new_object(state, staked, version, owned_by(sender), &staked_type(&walrus)).contents =
                Some(bcs_value(contents));
            let deposited = ev::StakeDeposited {
                epoch: state.epoch,
                node_id: node,
                staked_wal_id: staked,
                amount,
                activation_epoch: state.epoch + 1,
            };
            *state.ledger.stakes.entry(node).or_default() += amount;
            events.push(event(event_type("StakeDeposited"), bcs::to_bytes(&deposited).unwrap()));
            Ok(Value::Object(staked))
        }
        "request_withdraw_stake" | "withdraw_stake" => {
            a.count(2)?;
            a.shared(0, walrus.staking.id, true)?;
            let staked = a.owned(state, 1, &staked_type(&walrus))?;
            let contents = state.contents(&staked);
            let principal_at = if contents[32] == 0 { 65 } else { 69 };
            let principal = u64::from_le_bytes(contents[principal_at..principal_at + 8].try_into().unwrap());
            if function.1 == "withdraw_stake" {
                state.objects.remove(&staked);
                let coin = state.new_id();
                let wal_coin = state.wal_coin.clone();
                new_object(state, coin, version, owned_by(sender), &wal_coin).balance = Some(principal);
                return Ok(Value::Object(coin));
            }
            if contents[32] != 0 {
                let line = line_of("staked_wal", "assert!(self.is_staked(), ENotStaked)");
                return Err(Fail::Abort { module: "staked_wal", function: "set_withdrawing", line });
            }
            let node = Address::new(contents[33..65].try_into().unwrap());
            let activation = u32::from_le_bytes(contents[73..77].try_into().unwrap());
            let updated = staked_wal_bcs(staked, Some(state.epoch + 1), node, principal, activation);
            state.objects.get_mut(&staked).unwrap().contents = Some(bcs_value(updated));
            Ok(Value::Unit)
        }
        "register_candidate" => {
            a.count(10)?;
            a.shared(0, walrus.staking.id, true)?;
            let (name, network_address, public_key, network_public_key, _): (
                String,
                String,
                Vec<u8>,
                Vec<u8>,
                Vec<u8>,
            ) = (a.pure(1)?, a.pure(2)?, a.pure(3)?, a.pure(4)?, a.pure(5)?);
            let commission: u16 = a.pure(6)?;
            let _: (u64, u64, u64) = (a.pure(7)?, a.pure(8)?, a.pure(9)?);
            if public_key.len() != 48 {
                return Err(fail("MoveAbort in 0x2::bls12381: invalid public key"));
            }
            if commission > 10_000 {
                let line =
                    line_of("staking_pool", "assert!(commission_rate <= N_BASIS_POINTS, EIncorrectCommissionRate)");
                return Err(Fail::Abort { module: "staking_pool", function: "new", line });
            }
            let (node, cap) = (state.new_id(), state.new_id());
            new_object(state, node, version, owned_by_object(walrus.staking.id), &pool_type(&walrus));
            let epoch = state.epoch;
            let candidate = Candidate {
                node,
                name: name.clone(),
                public_key: public_key.clone(),
                network_address: network_address.clone(),
            };
            state.ledger.candidates.push(candidate);
            write_pool(state, node, epoch, &[], &network_address);
            let contents = [cap.into_inner().to_vec(), node.into_inner().to_vec(), vec![0; 4]].concat();
            new_object(state, cap, version, owned_by(sender), &cap_type(&walrus)).contents = Some(bcs_value(contents));
            let registered = ev::NodeRegistered {
                epoch,
                node_id: node,
                name,
                network_address: network_address.clone(),
                public_key: public_key.clone(),
                network_public_key,
                commission_rate: commission,
            };
            events.push(event(event_type("NodeRegistered"), bcs::to_bytes(&registered).unwrap()));
            Ok(Value::Object(cap))
        }
        operator => {
            let arity = match operator {
                "set_name"
                | "set_network_address"
                | "set_network_public_key"
                | "set_storage_price_vote"
                | "set_write_price_vote"
                | "set_node_capacity_vote"
                | "set_next_commission" => 3,
                "set_public_key" | "epoch_sync_done" => 4,
                "collect_commission" | "deregister" => 2,
                _ => return Err(fail(format!("unexpected call staking::{operator}"))),
            };
            a.count(arity)?;
            a.shared(0, walrus.staking.id, true)?;
            a.owned(state, 1, &cap_type(&walrus))?;
            match operator {
                "set_name" | "set_network_address" => {
                    let _: String = a.pure(2)?;
                }
                "set_network_public_key" => {
                    let _: Vec<u8> = a.pure(2)?;
                }
                "set_public_key" => {
                    let _: (Vec<u8>, Vec<u8>) = (a.pure(2)?, a.pure(3)?);
                }
                "set_storage_price_vote" | "set_write_price_vote" | "set_node_capacity_vote" => {
                    let _: u64 = a.pure(2)?;
                }
                "set_next_commission" if a.pure::<u16>(2)? > 10_000 => {
                    let line = line_of("staking_pool", "assert!(rate <= N_BASIS_POINTS, EIncorrectCommissionRate)");
                    return Err(Fail::Abort { module: "staking_pool", function: "set_next_commission", line });
                }
                "epoch_sync_done" => {
                    a.shared(3, CLOCK, false)?;
                    let epoch: u32 = a.pure(2)?;
                    if epoch != state.epoch {
                        let line = line_of("staking_inner", "assert!(epoch == self.epoch, EInvalidSyncEpoch)");
                        return Err(Fail::Abort { module: "staking_inner", function: "epoch_sync_done", line });
                    }
                    // The cap remembers the last epoch reported (its last 4 bytes): once per epoch.
                    let cap = a.owned(state, 1, &cap_type(&walrus))?;
                    let mut contents = state.contents(&cap);
                    let last = contents.len() - 4;
                    if u32::from_le_bytes(contents[last..].try_into().unwrap()) >= epoch {
                        let line =
                            line_of("staking_inner", "assert!(cap.last_epoch_sync_done() < epoch, EDuplicateSyncDone)");
                        return Err(Fail::Abort { module: "staking_inner", function: "epoch_sync_done", line });
                    }
                    contents[last..].copy_from_slice(&epoch.to_le_bytes());
                    state.objects.get_mut(&cap).unwrap().contents = Some(bcs_value(contents));
                }
                "collect_commission" => {
                    let coin = state.new_id();
                    let wal_coin = state.wal_coin.clone();
                    new_object(state, coin, version, owned_by(sender), &wal_coin).balance = Some(0);
                    return Ok(Value::Object(coin));
                }
                _ => {}
            }
            Ok(Value::Unit)
        }
    }
}

#[tonic::async_trait]
impl LedgerService for Fake {
    async fn get_checkpoint(
        &self,
        request: Request<proto::GetCheckpointRequest>,
    ) -> Result<Response<proto::GetCheckpointResponse>, Status> {
        self.checkpoint_of(request.into_inner()).map(Response::new)
    }

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
            .filter(|o| o.owner.as_ref().is_some_and(|w| w.kind() == proto::owner::OwnerKind::Address))
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
        let tx = self.check(request.transaction.as_ref())?;
        let (executed, _) = self.run(&tx)?;
        self.state().simulations += 1;
        let mut response = proto::SimulateTransactionResponse::default();
        response.transaction = Some(executed);
        Ok(Response::new(response))
    }

    async fn execute_transaction(
        &self,
        request: Request<proto::ExecuteTransactionRequest>,
    ) -> Result<Response<proto::ExecuteTransactionResponse>, Status> {
        self.starting_up()?;
        let request = request.into_inner();
        let _executing = self.executing.lock().unwrap();
        let tx = self.check(request.transaction.as_ref())?;
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
        let (executed, after) = self.run(&tx)?;
        let mut state = self.state();
        *state = after;
        record_checkpoint(&mut state, &executed);
        let delay = state.checkpoint_delay;
        state.executed.insert(tx.digest(), delay);
        let mut response = proto::ExecuteTransactionResponse::default();
        response.transaction = Some(executed);
        Ok(Response::new(response))
    }
}

/// A wallet for the fake: a new key, the only key of the keystore written at `path`.
pub fn wallet(path: &std::path::Path) -> SuiKey {
    let key = SuiKey::generate();
    let mut keystore = Keystore::new(path);
    keystore.add(&key);
    keystore.write().unwrap();
    key
}

/// Runs the `walrus` binary with `args` and none of the user's settings from the environment
/// (config, deployment, keystore), off the async runtime.
pub async fn run_walrus(binary: &'static str, args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        std::process::Command::new(binary)
            .args(&args)
            .env_remove("WALRUS_CONFIG")
            .env_remove("WALRUS_DEPLOYMENT")
            .env_remove("SUI_KEYSTORE")
            .output()
            .unwrap()
    })
    .await
    .unwrap()
}

/// Serves `fake` on a free loopback port; returns its URL.
pub async fn serve(fake: Fake) -> String {
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

/// A `blob::Blob`, fields in `blob.move`'s order (the storage as id, start, end, size).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FakeBlob {
    pub id: Address,
    pub registered_epoch: u32,
    pub blob_id: [u8; 32],
    pub size: u64,
    pub encoding_type: u8,
    pub certified_epoch: Option<u32>,
    pub storage: (Address, u32, u32, u64),
    pub deletable: bool,
}

/// `system_state_inner::cost`: per started MiB.
fn storage_cost(bytes: u64, price: u64, epochs: u32) -> u64 {
    bytes.div_ceil(1 << 20) * price * u64::from(epochs)
}

fn abort(module: &'static str, function: &'static str, assertion: &str) -> Fail {
    Fail::Abort { module, function, line: line_of(module, assertion) }
}

/// Takes `amount` from the WAL coin `coin` as `reserve_and_pay` and `take_payment` do.
fn pay(state: &mut State, coin: Address, amount: u64, max_cost: u64, write: bool) -> Result<(), Fail> {
    let (bound, covered) = if write {
        ("assert!(amount <= max_cost, ECostAboveLimit)", "assert!(payment.value() >= amount, EInsufficientPayment)")
    } else {
        ("assert!(total <= max_cost, ECostAboveLimit)", "assert!(payment.value() >= total, EInsufficientPayment)")
    };
    let function = if write { "take_payment" } else { "reserve_and_pay" };
    if amount > max_cost {
        return Err(abort("system_state_inner", function, bound));
    }
    let balance = state.balance(&coin);
    if balance < amount {
        return Err(abort("system_state_inner", function, covered));
    }
    state.objects.get_mut(&coin).unwrap().balance = Some(balance - amount);
    Ok(())
}

fn set_blob(state: &mut State, blob: &FakeBlob) {
    state.objects.get_mut(&blob.id).unwrap().contents = Some(bcs_value(bcs::to_bytes(blob).unwrap()));
}

/// Runs one call of `move/walrus`'s `system` module on blobs and storage, with the checks and
/// aborts of `system_state_inner.move` and `blob.move` that the client's tests rely on.
fn system_call(
    state: &mut State,
    sender: Address,
    version: u64,
    a: &Args,
    function: &str,
    events: &mut Vec<proto::Event>,
) -> Result<Value, Fail> {
    let walrus = state.walrus.unwrap();
    let event_type = |name: &str| format!("{}::events::{name}", walrus.package);
    let blob_type = format!("{}::blob::Blob", walrus.package);
    let wal_coin = state.wal_coin.clone();
    let epoch = state.system.epoch;
    match function {
        "reserve_space_bounded" => {
            a.count(5)?;
            a.shared(0, walrus.system.id, true)?;
            let (size, epochs): (u64, u32) = (a.pure(1)?, a.pure(2)?);
            let coin = a.owned(state, 3, &wal_coin)?;
            let max_cost: u64 = a.pure(4)?;
            if epochs == 0 {
                return Err(abort(
                    "system_state_inner",
                    "reserve_space",
                    "assert!(epochs_ahead > 0, EInvalidEpochsAhead)",
                ));
            }
            if size == 0 {
                let assertion = "assert!(storage_amount > 0, EInvalidResourceSize)";
                return Err(abort("system_state_inner", "reserve_space_for_epochs", assertion));
            }
            if epochs > state.system.max_epochs_ahead {
                let assertion = "end - current <= self.future_accounting.max_epochs_ahead(), EInvalidEpochsAhead)";
                return Err(abort("system_state_inner", "reserve_and_pay", assertion));
            }
            let cost = storage_cost(size, state.system.storage_price, epochs);
            pay(state, coin, cost, max_cost, false)?;
            let storage = state.new_id();
            let storage_type = format!("{}::storage_resource::Storage", walrus.package);
            new_object(state, storage, version, owned_by(sender), &storage_type).contents =
                Some(bcs_value(bcs::to_bytes(&(storage, epoch, epoch + epochs, size)).unwrap()));
            let reserved = (epoch, storage, epoch, epoch + epochs, size, cost);
            events.push(event(event_type("StorageReserved"), bcs::to_bytes(&reserved).unwrap()));
            Ok(Value::Object(storage))
        }
        "register_blob_bounded" => {
            a.count(9)?;
            a.shared(0, walrus.system.id, true)?;
            // Storage reserved by an earlier command, or one the sender owns.
            let storage_type = format!("{}::storage_resource::Storage", walrus.package);
            let storage = a.result(1).or_else(|_| a.owned(state, 1, &storage_type))?;
            let (start, end, storage_size): (u32, u32, u64) = bcs::from_bytes(&state.contents(&storage)[32..]).unwrap();
            let (blob_id, _root_hash): ([u8; 32], [u8; 32]) = (a.pure(2)?, a.pure(3)?);
            let (size, encoding_type, deletable): (u64, u8, bool) = (a.pure(4)?, a.pure(5)?, a.pure(6)?);
            let coin = a.owned(state, 7, &wal_coin)?;
            let max_cost: u64 = a.pure(8)?;
            if encoding_type != 1 {
                return Err(fail("MoveAbort in encoding: unsupported encoding type"));
            }
            if !(start <= epoch && epoch < end) {
                let assertion = "registered_epoch < storage.end_epoch(), EResourceBounds)";
                return Err(abort("blob", "new", assertion));
            }
            let encoded = walrus_encoder::EncodingParams::new(state.system.n_shards)
                .and_then(|p| p.for_blob(size))
                .map_err(|e| fail(format!("the blob does not encode: {e}")))?
                .encoded_length();
            if encoded > storage_size {
                let assertion =
                    "assert!(encoding::encoded_blob_length(size, encoding_type, n_shards) <= storage.size()";
                return Err(abort("blob", "new", assertion));
            }
            pay(state, coin, storage_cost(encoded, state.system.write_price, 1), max_cost, true)?;
            // The storage is wrapped in the blob: no longer an object of its own.
            state.objects.remove(&storage);
            let id = state.new_id();
            let blob = FakeBlob {
                id,
                registered_epoch: epoch,
                blob_id,
                size,
                encoding_type,
                certified_epoch: None,
                storage: (storage, start, end, storage_size),
                deletable,
            };
            new_object(state, id, version, owned_by(sender), &blob_type);
            set_blob(state, &blob);
            let registered = (epoch, blob_id, size, encoding_type, end, deletable, id);
            events.push(event(event_type("BlobRegistered"), bcs::to_bytes(&registered).unwrap()));
            Ok(Value::Object(id))
        }
        "certify_blob" => {
            a.count(5)?;
            a.shared(0, walrus.system.id, false)?;
            let id = a.owned(state, 1, &blob_type)?;
            let (signature, bitmap, message): (Vec<u8>, Vec<u8>, Vec<u8>) = (a.pure(2)?, a.pure(3)?, a.pure(4)?);
            let mut blob: FakeBlob = bcs::from_bytes(&state.contents(&id)).unwrap();
            check_certificate(state, &signature, &bitmap, &message)?;
            if message.get(7..39) != Some(&blob.blob_id[..]) {
                return Err(abort(
                    "blob",
                    "certify_with_certified_msg",
                    "assert!(message.certified_blob_id() == blob_id, EInvalidBlobId)",
                ));
            }
            if blob.certified_epoch.is_some() {
                return Err(abort(
                    "blob",
                    "certify_with_certified_msg",
                    "assert!(!already_certified, EAlreadyCertified)",
                ));
            }
            let deletable_for = match message.get(39) {
                Some(1) => message.get(40..72).map(|o| Address::new(o.try_into().unwrap())),
                _ => None,
            };
            if deletable_for.is_some() != blob.deletable {
                let assertion = "assert!(certified_object.is_some() == deletable, EInvalidBlobPersistenceType)";
                return Err(abort("blob", "certify_with_certified_msg", assertion));
            }
            if deletable_for.is_some_and(|o| o != id) {
                let assertion = "certified_object.do!(|id| assert!(id == object_id, EInvalidBlobObject))";
                return Err(abort("blob", "certify_with_certified_msg", assertion));
            }
            blob.certified_epoch = Some(epoch);
            set_blob(state, &blob);
            events.push(event(event_type("BlobCertified"), certified_event(epoch, &blob, false)));
            Ok(Value::Unit)
        }
        "delete_blob" => {
            a.count(2)?;
            a.shared(0, walrus.system.id, false)?;
            let id = a.owned(state, 1, &blob_type)?;
            let blob: FakeBlob = bcs::from_bytes(&state.contents(&id)).unwrap();
            if !blob.deletable {
                return Err(abort("blob", "delete", "assert!(self.deletable, EBlobNotDeletable)"));
            }
            state.objects.remove(&id);
            let (storage, start, end, size) = blob.storage;
            let storage_type = format!("{}::storage_resource::Storage", walrus.package);
            new_object(state, storage, version, owned_by(sender), &storage_type).contents =
                Some(bcs_value(bcs::to_bytes(&(storage, start, end, size)).unwrap()));
            let deleted = ev::BlobDeleted {
                epoch,
                blob_id: ev::BlobId(blob.blob_id),
                end_epoch: end,
                object_id: id,
                was_certified: blob.certified_epoch.is_some(),
            };
            events.push(event(event_type("BlobDeleted"), bcs::to_bytes(&deleted).unwrap()));
            Ok(Value::Object(storage))
        }
        "extend_blob_bounded" => {
            a.count(5)?;
            a.shared(0, walrus.system.id, true)?;
            let id = a.owned(state, 1, &blob_type)?;
            let epochs: u32 = a.pure(2)?;
            let coin = a.owned(state, 3, &wal_coin)?;
            let max_cost: u64 = a.pure(4)?;
            let mut blob: FakeBlob = bcs::from_bytes(&state.contents(&id)).unwrap();
            if blob.certified_epoch.is_none() {
                return Err(abort("blob", "check_extendable", "assert!(self.is_certified(), ENotCertified)"));
            }
            let end = blob.storage.2;
            if epochs == 0 || end + epochs - epoch > state.system.max_epochs_ahead {
                let assertion = "end - current <= self.future_accounting.max_epochs_ahead(), EInvalidEpochsAhead)";
                return Err(abort("system_state_inner", "reserve_and_pay", assertion));
            }
            pay(state, coin, storage_cost(blob.storage.3, state.system.storage_price, epochs), max_cost, false)?;
            blob.storage.2 = end + epochs;
            set_blob(state, &blob);
            events.push(event(event_type("BlobCertified"), certified_event(epoch, &blob, true)));
            Ok(Value::Unit)
        }
        other => Err(fail(format!("unexpected call system::{other}"))),
    }
}

/// Checks a certificate as `bls_aggregate::verify_quorum_in_epoch` does: the message is of the
/// current epoch, the signers hold a quorum of shards, and the aggregated signature verifies
/// against their keys.
fn check_certificate(state: &State, signature: &[u8], bitmap: &[u8], message: &[u8]) -> Result<(), Fail> {
    use fastcrypto::bls12381::min_pk::{BLS12381AggregateSignature, BLS12381PublicKey};
    use fastcrypto::groups::bls12381::{G1Element, G1ElementUncompressed};
    use fastcrypto::serde_helpers::ToFromByteArray as _;
    use fastcrypto::traits::{AggregateAuthenticator as _, ToFromBytes as _};
    let members = &state.system.members;
    let in_epoch = message.get(3..7).map(|e| u32::from_le_bytes(e.try_into().unwrap()));
    if in_epoch != Some(state.system.epoch) {
        return Err(fail("MoveAbort in bls_aggregate: the certificate is for another epoch"));
    }
    let signers: Vec<usize> =
        (0..members.len()).filter(|i| bitmap.get(i / 8).is_some_and(|b| (b >> (i % 8)) & 1 == 1)).collect();
    let weight: u64 = signers.iter().map(|&i| u64::from(members[i].1)).sum();
    if 3 * weight < 2 * u64::from(state.system.n_shards) + 1 {
        return Err(abort("bls_aggregate", "verify_certificate_and_weight", "ENotEnoughStake)"));
    }
    let keys: Vec<BLS12381PublicKey> = signers
        .iter()
        .map(|&i| {
            let point = G1Element::try_from(&G1ElementUncompressed::from_trusted_byte_array(
                members[i].0.as_slice().try_into().unwrap(),
            ))
            .unwrap();
            BLS12381PublicKey::from_bytes(&point.to_byte_array()).unwrap()
        })
        .collect();
    let signature = BLS12381AggregateSignature::from_bytes(signature)
        .map_err(|_| fail("MoveAbort in bls12381: the signature does not decode"))?;
    signature
        .verify(&keys, message)
        .map_err(|_| abort("bls_aggregate", "verify_certificate_and_weight", "ESigVerification,"))
}

// === Checkpoints and elections: what storage nodes following the fake need ===

/// The fake's ledger as storage nodes follow it: every executed transaction lands in a
/// checkpoint of its own, served through `LedgerService::GetCheckpoint` with the events it
/// emitted (type tags with the package ID, BCS of `move/walrus`'s event structs), and, once
/// [`Fake::hold_elections`] is called, committees elected from registered, staked nodes.
#[derive(Clone, Default)]
pub struct Ledger {
    /// Checkpoint `i` at index `i`.
    pub checkpoints: Vec<proto::Checkpoint>,
    /// Registered nodes, in registration order.
    pub candidates: Vec<Candidate>,
    /// WAL staked with each node.
    pub stakes: HashMap<Address, u64>,
    /// With a shard count, `voting_end` elects the next committee from the staked candidates
    /// and `initiate_epoch_change` installs it; without, the committee stays as set.
    pub elections: Option<u16>,
    /// The committee `voting_end` elected, until `initiate_epoch_change`.
    elected: Option<Vec<(Address, Vec<u16>)>>,
}

/// A node as `register_candidate` registered it.
#[derive(Clone, Debug)]
pub struct Candidate {
    pub node: Address,
    pub name: String,
    /// The BLS public key, compressed (48 bytes).
    pub public_key: Vec<u8>,
    pub network_address: String,
}

impl Fake {
    /// From now on the epoch-change steps elect committees of `n_shards` shards, as
    /// `staking_inner::voting_end` does: the candidates with stake, shards apportioned by stake.
    pub fn hold_elections(&self, n_shards: u16) {
        let mut state = self.state();
        state.ledger.elections = Some(n_shards);
        state.system.n_shards = n_shards;
        state.system.members.clear();
        write_system(&mut state);
        write_staking(&mut state);
    }

    /// Lets the clock reach the next epoch-change step.
    pub fn make_change_due(&self) {
        self.state().change_due = true;
    }

    /// The number of the latest checkpoint, if any.
    pub fn latest_checkpoint(&self) -> Option<u64> {
        self.state().ledger.checkpoints.len().checked_sub(1).map(|n| n as u64)
    }

    /// Checkpoint `sequence`, or NOT_FOUND with the lowest available checkpoint (0) in the
    /// header a full node sets, as a node answers before the checkpoint is executed.
    fn checkpoint_of(&self, request: proto::GetCheckpointRequest) -> Result<proto::GetCheckpointResponse, Status> {
        let mask = request.read_mask.ok_or_else(|| Status::invalid_argument("no read mask"))?;
        for needed in
            ["sequence_number", "digest", "summary.timestamp", "transactions.digest", "transactions.events.bcs"]
        {
            if !mask.paths.iter().any(|p| p == needed) {
                return Err(Status::invalid_argument(format!("read mask lacks {needed}")));
            }
        }
        let Some(proto::get_checkpoint_request::CheckpointId::SequenceNumber(sequence)) = request.checkpoint_id else {
            return Err(Status::invalid_argument("expected a sequence number"));
        };
        let state = self.state();
        let checkpoint = state.ledger.checkpoints.get(sequence as usize).cloned().ok_or_else(|| {
            let mut status = Status::not_found(format!("checkpoint {sequence} not yet executed"));
            status.metadata_mut().insert("x-sui-lowest-available-checkpoint", "0".parse().unwrap());
            status
        })?;
        let mut response = proto::GetCheckpointResponse::default();
        response.checkpoint = Some(checkpoint);
        Ok(response)
    }
}

/// The digest of checkpoint `sequence`.
fn checkpoint_digest(sequence: u64) -> Digest {
    let mut bytes = [0xCC; 32];
    bytes[..8].copy_from_slice(&sequence.to_le_bytes());
    Digest::new(bytes)
}

/// Puts `executed` in the next checkpoint, one second after the previous one.
fn record_checkpoint(state: &mut State, executed: &proto::ExecutedTransaction) {
    let sequence = state.ledger.checkpoints.len() as u64;
    let mut summary = proto::CheckpointSummary::default();
    let mut timestamp = summary.timestamp.take().unwrap_or_default();
    timestamp.seconds = 1_700_000_000 + sequence as i64;
    summary.timestamp = Some(timestamp);
    summary.previous_digest = sequence.checked_sub(1).map(|previous| checkpoint_digest(previous).to_string());
    let mut transaction = proto::ExecutedTransaction::default();
    transaction.digest = executed.digest.clone();
    transaction.events = executed.events.clone();
    let mut checkpoint = proto::Checkpoint::default();
    checkpoint.sequence_number = Some(sequence);
    checkpoint.digest = Some(checkpoint_digest(sequence).to_string());
    checkpoint.summary = Some(summary);
    checkpoint.transactions = vec![transaction];
    state.ledger.checkpoints.push(checkpoint);
}

/// Completes events as a full node reports them: the package and module of the Move call
/// that emitted them and the transaction's sender.
fn emitted_by(events: &mut [proto::Event], call: &sui_sdk_types::MoveCall, sender: Address) {
    for event in events {
        event.package_id = Some(call.package.to_string());
        event.module = Some(call.module.to_string());
        event.sender = Some(sender.to_string());
    }
}

/// The BCS of `blob`'s `BlobCertified` event.
fn certified_event(epoch: u32, blob: &FakeBlob, is_extension: bool) -> Vec<u8> {
    let certified = ev::BlobCertified {
        epoch,
        blob_id: ev::BlobId(blob.blob_id),
        end_epoch: blob.storage.2,
        deletable: blob.deletable,
        object_id: blob.id,
        is_extension,
    };
    bcs::to_bytes(&certified).unwrap()
}

/// The next committee, members by node ID with their shards: elected from the staked
/// candidates (shards apportioned by stake as `apportionment::apportion` does, consecutive
/// indices) when elections are held, else the current one again.
fn select_committee(state: &mut State) -> Result<Vec<(Address, Vec<u16>)>, Fail> {
    let Some(n_shards) = state.ledger.elections else { return Ok(state.shards.clone()) };
    let mut staked: Vec<(Address, u64)> = state
        .ledger
        .candidates
        .iter()
        .filter_map(|c| state.ledger.stakes.get(&c.node).filter(|s| **s > 0).map(|s| (c.node, *s)))
        .collect();
    staked.sort();
    if staked.is_empty() {
        return Err(abort("staking_inner", "voting_end", "assert!(!self.active_set.is_empty(), ENoStake)"));
    }
    let total: u128 = staked.iter().map(|(_, s)| u128::from(*s)).sum();
    let mut counts: Vec<u16> =
        staked.iter().map(|(_, s)| (u128::from(*s) * u128::from(n_shards) / total.max(1)) as u16).collect();
    let mut left = n_shards - counts.iter().sum::<u16>();
    while left > 0 && !staked.is_empty() {
        // The highest stake per shard it would hold; ties to the larger stake, then lower ID.
        let best = (0..staked.len())
            .max_by(|&a, &b| {
                let qa = u128::from(staked[a].1) * (u128::from(counts[b]) + 1);
                let qb = u128::from(staked[b].1) * (u128::from(counts[a]) + 1);
                qa.cmp(&qb).then(staked[a].1.cmp(&staked[b].1)).then(staked[b].0.cmp(&staked[a].0))
            })
            .unwrap();
        counts[best] += 1;
        left -= 1;
    }
    let mut next = 0u16;
    let elected: Vec<(Address, Vec<u16>)> = staked
        .iter()
        .zip(&counts)
        .filter(|(_, count)| **count > 0)
        .map(|((node, _), count)| {
            let shards = (next..next + count).collect();
            next += count;
            (*node, shards)
        })
        .collect();
    state.ledger.elected = Some(elected.clone());
    Ok(elected)
}

/// Installs the elected committee (if elections are held) as the current epoch's, in the
/// `System` and `Staking` objects and the members' pools.
fn start_selected_committee(state: &mut State) {
    let Some(elected) = state.ledger.elected.take() else { return };
    let members: Vec<FakeMember> = elected
        .into_iter()
        .map(|(node, shards)| {
            let candidate = state.ledger.candidates.iter().rev().find(|c| c.node == node).expect("a candidate");
            FakeMember {
                node,
                public_key: candidate.public_key.clone(),
                shards,
                network_address: candidate.network_address.clone(),
            }
        })
        .collect();
    let (epoch, ahead) = (state.epoch, state.system.max_epochs_ahead);
    set_committee(state, epoch, &members, ahead);
}
