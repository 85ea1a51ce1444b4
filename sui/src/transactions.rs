//! The Sui transactions Walrus users and operators send, built offline from explicit inputs
//! (object references, gas coins, gas price and budget) with `sui-transaction-builder`. Nothing
//! here reads the chain: whoever calls these has looked the objects up (and will simulate the
//! result before signing it). The Move calls are those of `move/walrus`; each function names
//! the entry points it calls.
//!
//! Every pure argument is its own input, as the TypeScript SDK builds them, so the same inputs
//! give the same bytes in both (`client/tests/sui_transactions.rs` checks this).

use sui_sdk_types::{Address, Identifier, ObjectReference, Transaction};
use sui_transaction_builder::{Argument, Function, ObjectInput, TransactionBuilder};
use walrus_chain::events::{BlobId, U256};

use crate::package::PackageBuild;

/// Who sends and pays for a transaction, and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gas {
    pub sender: Address,
    /// The SUI coins that pay for gas, owned by the sender.
    pub coins: Vec<ObjectReference>,
    /// The reference gas price, in MIST per unit.
    pub price: u64,
    /// The most the transaction may spend, in MIST.
    pub budget: u64,
}

/// A shared object as a transaction names it: by ID and the version at which it became shared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SharedObject {
    pub id: Address,
    pub initial_shared_version: u64,
}

/// A deployment of `move/walrus`: its package and its two shared objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Walrus {
    pub package: Address,
    pub system: SharedObject,
    pub staking: SharedObject,
}

/// Sui's clock, shared since genesis.
const CLOCK: SharedObject = SharedObject { id: Address::from_static("0x6"), initial_shared_version: 1 };

/// The only encoding `move/walrus` accepts (`encoding::rs2()`).
const RS2: u8 = 1;

/// Why a transaction could not be built: an input is missing.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot build the transaction: {0}")]
    Builder(#[from] sui_transaction_builder::Error),
    #[error("cannot build the transaction: no WAL coin to pay with")]
    NoWalCoin,
    #[error("nothing to do: {0}")]
    Empty(&'static str),
}

/// The parameters `init::initialize_walrus` creates the `System` and `Staking` objects with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitParams {
    pub n_shards: u16,
    /// Milliseconds from now until epoch 1 starts.
    pub epoch_zero_duration_ms: u64,
    pub epoch_duration_ms: u64,
    pub max_epochs_ahead: u32,
    pub max_committee_size: u16,
}

/// A storage node's registration, as `staking::register_candidate` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRegistration {
    pub name: String,
    /// Host and port where the node serves clients.
    pub network_address: String,
    /// The 48-byte BLS public key.
    pub public_key: Vec<u8>,
    pub network_public_key: Vec<u8>,
    /// The BLS signature over `messages::proof_of_possession_message(epoch, sender, key)`.
    pub proof_of_possession: Vec<u8>,
    /// In basis points.
    pub commission_rate: u16,
    pub storage_price: u64,
    pub write_price: u64,
    pub node_capacity: u64,
}

/// A blob to register on freshly bought storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlobRegistration {
    pub blob_id: BlobId,
    pub root_hash: U256,
    /// The unencoded size in bytes.
    pub size: u64,
    /// The storage to buy, in encoded bytes (at least the blob's encoded size).
    pub storage_size: u64,
    /// The current epoch and this many minus one after it.
    pub epochs_ahead: u32,
    pub deletable: bool,
    /// The most the storage and the write fee may cost (in FROST): the transaction aborts
    /// rather than charge more than the user was shown.
    pub max_storage_cost: u64,
    pub max_write_cost: u64,
}

/// A committee's certificate for a blob, as `system::certify_blob` takes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Certificate {
    /// The aggregated BLS signature.
    pub signature: Vec<u8>,
    /// Bit `i` set when the committee's `i`-th member signed.
    pub signers_bitmap: Vec<u8>,
    /// The signed confirmation message.
    pub message: Vec<u8>,
}

/// Publishes a package and gives its `UpgradeCap` to the sender.
pub fn publish(gas: &Gas, package: &PackageBuild) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let cap = tx.publish(package.modules.clone(), package.dependencies.clone());
    keep(&mut tx, gas, cap);
    Ok(tx.try_build()?)
}

/// `init::initialize_walrus`: consumes the `InitCap` that publishing `walrus` sent to the
/// publisher and creates the shared `System` and `Staking` objects.
pub fn initialize_walrus(
    gas: &Gas,
    package: Address,
    init_cap: &ObjectReference,
    params: &InitParams,
) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![
        owned(&mut tx, init_cap),
        tx.pure_unique(&params.n_shards),
        tx.pure_unique(&params.epoch_zero_duration_ms),
        tx.pure_unique(&params.epoch_duration_ms),
        tx.pure_unique(&params.max_epochs_ahead),
        tx.pure_unique(&params.max_committee_size),
        shared(&mut tx, CLOCK, false),
    ];
    tx.move_call(call(package, "init", "initialize_walrus"), args);
    Ok(tx.try_build()?)
}

/// `staking::register_candidate`, keeping the returned `NodeCap` with the sender (the
/// operator).
pub fn register_node(gas: &Gas, walrus: &Walrus, node: &NodeRegistration) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![
        shared(&mut tx, walrus.staking, true),
        tx.pure_unique(&node.name),
        tx.pure_unique(&node.network_address),
        tx.pure_unique(&node.public_key),
        tx.pure_unique(&node.network_public_key),
        tx.pure_unique(&node.proof_of_possession),
        tx.pure_unique(&node.commission_rate),
        tx.pure_unique(&node.storage_price),
        tx.pure_unique(&node.write_price),
        tx.pure_unique(&node.node_capacity),
    ];
    let cap = tx.move_call(call(walrus.package, "staking", "register_candidate"), args);
    keep(&mut tx, gas, cap);
    Ok(tx.try_build()?)
}

/// Stakes `amount` FROST of the sender's WAL with the node `node_id`
/// (`staking::stake_with_pool`): the coins are merged into the first, the amount split off,
/// and the `StakedWal` kept with the sender; the change stays in the first coin.
pub fn stake(
    gas: &Gas,
    walrus: &Walrus,
    wal: &[ObjectReference],
    amount: u64,
    node_id: Address,
) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let coin = wal_coin(&mut tx, wal)?;
    let amount = tx.pure_unique(&amount);
    let stake = tx.split_coins(coin, vec![amount]);
    let args = vec![shared(&mut tx, walrus.staking, true), stake[0], tx.pure_unique(&node_id)];
    let staked = tx.move_call(call(walrus.package, "staking", "stake_with_pool"), args);
    keep(&mut tx, gas, staked);
    Ok(tx.try_build()?)
}

/// Buys storage and registers a blob on it in one transaction
/// (`system::reserve_space_bounded`, then `system::register_blob_bounded`), paying both from
/// the sender's WAL (merged into the first coin) and keeping the `Blob` with the sender.
pub fn reserve_and_register(
    gas: &Gas,
    walrus: &Walrus,
    wal: &[ObjectReference],
    blob: &BlobRegistration,
) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let system = shared(&mut tx, walrus.system, true);
    let coin = wal_coin(&mut tx, wal)?;
    let args = vec![
        system,
        tx.pure_unique(&blob.storage_size),
        tx.pure_unique(&blob.epochs_ahead),
        coin,
        tx.pure_unique(&blob.max_storage_cost),
    ];
    let storage = tx.move_call(call(walrus.package, "system", "reserve_space_bounded"), args);
    register_blob(&mut tx, gas, walrus, system, storage, coin, blob);
    Ok(tx.try_build()?)
}

/// Registers a blob on a `Storage` object the sender owns (`system::register_blob_bounded`):
/// only the write fee is paid, from the sender's WAL; the `Blob` stays with the sender.
pub fn register_on_storage(
    gas: &Gas,
    walrus: &Walrus,
    storage: &ObjectReference,
    wal: &[ObjectReference],
    blob: &BlobRegistration,
) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let system = shared(&mut tx, walrus.system, true);
    let storage = owned(&mut tx, storage);
    let coin = wal_coin(&mut tx, wal)?;
    register_blob(&mut tx, gas, walrus, system, storage, coin, blob);
    Ok(tx.try_build()?)
}

/// The `register_blob_bounded` call on `storage`, its `Blob` kept by the sender.
fn register_blob(
    tx: &mut TransactionBuilder,
    gas: &Gas,
    walrus: &Walrus,
    system: Argument,
    storage: Argument,
    coin: Argument,
    blob: &BlobRegistration,
) {
    let args = vec![
        system,
        storage,
        tx.pure_unique(&blob.blob_id),
        tx.pure_unique(&blob.root_hash),
        tx.pure_unique(&blob.size),
        tx.pure_unique(&RS2),
        tx.pure_unique(&blob.deletable),
        coin,
        tx.pure_unique(&blob.max_write_cost),
    ];
    let registered = tx.move_call(call(walrus.package, "system", "register_blob_bounded"), args);
    keep(tx, gas, registered);
}

/// `system::certify_blob` on the sender's `Blob` object.
pub fn certify_blob(
    gas: &Gas,
    walrus: &Walrus,
    blob: &ObjectReference,
    certificate: &Certificate,
) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![
        shared(&mut tx, walrus.system, false),
        owned(&mut tx, blob),
        tx.pure_unique(&certificate.signature),
        tx.pure_unique(&certificate.signers_bitmap),
        tx.pure_unique(&certificate.message),
    ];
    tx.move_call(call(walrus.package, "system", "certify_blob"), args);
    Ok(tx.try_build()?)
}

/// `system::delete_blob` on the sender's deletable `Blob`, keeping the `Storage` it frees with
/// the sender, who can register another blob on it.
pub fn delete_blob(gas: &Gas, walrus: &Walrus, blob: &ObjectReference) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![shared(&mut tx, walrus.system, false), owned(&mut tx, blob)];
    let storage = tx.move_call(call(walrus.package, "system", "delete_blob"), args);
    keep(&mut tx, gas, storage);
    Ok(tx.try_build()?)
}

/// `system::extend_blob_bounded`: adds `epochs` to the storage of the sender's certified
/// `Blob`, paid from the sender's WAL (merged into the first coin), aborting rather than
/// charging more than `max_cost` FROST.
pub fn extend_blob(
    gas: &Gas,
    walrus: &Walrus,
    blob: &ObjectReference,
    wal: &[ObjectReference],
    epochs: u32,
    max_cost: u64,
) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let system = shared(&mut tx, walrus.system, true);
    let blob = owned(&mut tx, blob);
    let coin = wal_coin(&mut tx, wal)?;
    let args = vec![system, blob, tx.pure_unique(&epochs), coin, tx.pure_unique(&max_cost)];
    tx.move_call(call(walrus.package, "system", "extend_blob_bounded"), args);
    Ok(tx.try_build()?)
}

/// `staking::request_withdraw_stake`: starts withdrawing a stake a committee counts.
pub fn request_withdraw_stake(gas: &Gas, walrus: &Walrus, staked: &ObjectReference) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![shared(&mut tx, walrus.staking, true), owned(&mut tx, staked)];
    tx.move_call(call(walrus.package, "staking", "request_withdraw_stake"), args);
    Ok(tx.try_build()?)
}

/// `staking::withdraw_stake`: pays a `StakedWal` out and keeps the WAL coin with the sender.
pub fn withdraw_stake(gas: &Gas, walrus: &Walrus, staked: &ObjectReference) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![shared(&mut tx, walrus.staking, true), owned(&mut tx, staked)];
    let coin = tx.move_call(call(walrus.package, "staking", "withdraw_stake"), args);
    keep(&mut tx, gas, coin);
    Ok(tx.try_build()?)
}

/// A change to a registered node's metadata (`staking::set_*`); what is `None` stays.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NodeUpdate {
    pub name: Option<String>,
    pub network_address: Option<String>,
    pub network_public_key: Option<Vec<u8>>,
    /// A new BLS key and its proof of possession, in force from the next epoch.
    pub public_key: Option<(Vec<u8>, Vec<u8>)>,
}

impl NodeUpdate {
    pub fn is_empty(&self) -> bool {
        self == &Self::default()
    }
}

/// A node's votes for the next epoch's parameters (`staking::set_*_vote`); what is `None`
/// stays as it was.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Votes {
    /// FROST per MiB of encoded size and epoch.
    pub storage_price: Option<u64>,
    /// FROST per MiB of encoded size, once per registration.
    pub write_price: Option<u64>,
    /// Encoded bytes the node offers to store.
    pub node_capacity: Option<u64>,
}

/// `staking::set_name`, `set_network_address`, `set_network_public_key` and `set_public_key`
/// for what `update` changes, in that order, in one transaction with the operator's `NodeCap`.
pub fn update_node(
    gas: &Gas,
    walrus: &Walrus,
    cap: &ObjectReference,
    update: &NodeUpdate,
) -> Result<Transaction, BuildError> {
    if update.is_empty() {
        return Err(BuildError::Empty("no node field to update"));
    }
    let mut tx = builder(gas);
    let staking = shared(&mut tx, walrus.staking, true);
    let cap = owned(&mut tx, cap);
    if let Some(name) = &update.name {
        let args = vec![staking, cap, tx.pure_unique(name)];
        tx.move_call(call(walrus.package, "staking", "set_name"), args);
    }
    if let Some(address) = &update.network_address {
        let args = vec![staking, cap, tx.pure_unique(address)];
        tx.move_call(call(walrus.package, "staking", "set_network_address"), args);
    }
    if let Some(key) = &update.network_public_key {
        let args = vec![staking, cap, tx.pure_unique(key)];
        tx.move_call(call(walrus.package, "staking", "set_network_public_key"), args);
    }
    if let Some((key, proof)) = &update.public_key {
        let args = vec![staking, cap, tx.pure_unique(key), tx.pure_unique(proof)];
        tx.move_call(call(walrus.package, "staking", "set_public_key"), args);
    }
    Ok(tx.try_build()?)
}

/// `staking::set_storage_price_vote`, `set_write_price_vote` and `set_node_capacity_vote` for
/// the votes given, in that order, in one transaction.
pub fn vote(gas: &Gas, walrus: &Walrus, cap: &ObjectReference, votes: &Votes) -> Result<Transaction, BuildError> {
    if votes == &Votes::default() {
        return Err(BuildError::Empty("no vote given"));
    }
    let mut tx = builder(gas);
    let staking = shared(&mut tx, walrus.staking, true);
    let cap = owned(&mut tx, cap);
    let calls = [
        ("set_storage_price_vote", votes.storage_price),
        ("set_write_price_vote", votes.write_price),
        ("set_node_capacity_vote", votes.node_capacity),
    ];
    for (function, value) in calls {
        if let Some(value) = value {
            let args = vec![staking, cap, tx.pure_unique(&value)];
            tx.move_call(call(walrus.package, "staking", function), args);
        }
    }
    Ok(tx.try_build()?)
}

/// `staking::set_next_commission`: the rate in basis points, applied two epochs from now.
pub fn set_commission(gas: &Gas, walrus: &Walrus, cap: &ObjectReference, rate: u16) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![shared(&mut tx, walrus.staking, true), owned(&mut tx, cap), tx.pure_unique(&rate)];
    tx.move_call(call(walrus.package, "staking", "set_next_commission"), args);
    Ok(tx.try_build()?)
}

/// `staking::collect_commission`, keeping the WAL coin with the sender.
pub fn collect_commission(gas: &Gas, walrus: &Walrus, cap: &ObjectReference) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![shared(&mut tx, walrus.staking, true), owned(&mut tx, cap)];
    let coin = tx.move_call(call(walrus.package, "staking", "collect_commission"), args);
    keep(&mut tx, gas, coin);
    Ok(tx.try_build()?)
}

/// `staking::epoch_sync_done`: the node holds its shards for `epoch`, the current one.
pub fn sync_done(gas: &Gas, walrus: &Walrus, cap: &ObjectReference, epoch: u32) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![
        shared(&mut tx, walrus.staking, true),
        owned(&mut tx, cap),
        tx.pure_unique(&epoch),
        shared(&mut tx, CLOCK, false),
    ];
    tx.move_call(call(walrus.package, "staking", "epoch_sync_done"), args);
    Ok(tx.try_build()?)
}

/// `staking::deregister`: the node leaves all future committees.
pub fn deregister(gas: &Gas, walrus: &Walrus, cap: &ObjectReference) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![shared(&mut tx, walrus.staking, true), owned(&mut tx, cap)];
    tx.move_call(call(walrus.package, "staking", "deregister"), args);
    Ok(tx.try_build()?)
}

/// `staking::voting_end`: selects the next committee once the clock says it is due.
pub fn voting_end(gas: &Gas, walrus: &Walrus) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![shared(&mut tx, walrus.staking, true), shared(&mut tx, CLOCK, false)];
    tx.move_call(call(walrus.package, "staking", "voting_end"), args);
    Ok(tx.try_build()?)
}

/// `staking::initiate_epoch_change`: starts the next epoch once it is due.
pub fn initiate_epoch_change(gas: &Gas, walrus: &Walrus) -> Result<Transaction, BuildError> {
    let mut tx = builder(gas);
    let args = vec![
        shared(&mut tx, walrus.staking, true),
        shared(&mut tx, walrus.system, true),
        shared(&mut tx, CLOCK, false),
    ];
    tx.move_call(call(walrus.package, "staking", "initiate_epoch_change"), args);
    Ok(tx.try_build()?)
}

fn builder(gas: &Gas) -> TransactionBuilder {
    let mut tx = TransactionBuilder::new();
    tx.set_sender(gas.sender);
    tx.set_gas_price(gas.price);
    tx.set_gas_budget(gas.budget);
    tx.add_gas_objects(gas.coins.iter().map(|c| ObjectInput::owned(*c.object_id(), c.version(), *c.digest())));
    tx
}

fn owned(tx: &mut TransactionBuilder, object: &ObjectReference) -> Argument {
    tx.object(ObjectInput::owned(*object.object_id(), object.version(), *object.digest()))
}

fn shared(tx: &mut TransactionBuilder, object: SharedObject, mutable: bool) -> Argument {
    tx.object(ObjectInput::shared(object.id, object.initial_shared_version, mutable))
}

/// The first of `coins`, with the others merged into it.
fn wal_coin(tx: &mut TransactionBuilder, coins: &[ObjectReference]) -> Result<Argument, BuildError> {
    let (first, rest) = coins.split_first().ok_or(BuildError::NoWalCoin)?;
    let coin = owned(tx, first);
    if !rest.is_empty() {
        let others = rest.iter().map(|c| owned(tx, c)).collect();
        tx.merge_coins(coin, others);
    }
    Ok(coin)
}

/// Transfers `object` to the sender.
fn keep(tx: &mut TransactionBuilder, gas: &Gas, object: Argument) {
    let sender = tx.pure_unique(&gas.sender);
    tx.transfer_objects(vec![object], sender);
}

fn call(package: Address, module: &'static str, function: &'static str) -> Function {
    Function::new(package, Identifier::from_static(module), Identifier::from_static(function))
}
