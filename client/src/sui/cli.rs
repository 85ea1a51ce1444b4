//! The `walrus` commands that send Sui transactions: staking (`stake`, `unstake`, `withdraw`,
//! `stakes`), node operation (`node …`) and deployment (`publish …`). Each reads the
//! deployment file and the wallet, and sends its transaction through [`submit`]: simulated,
//! its cost shown, confirmed, signed, executed and waited for until it is in a checkpoint.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context as _, Result};
use clap::{Args, Subcommand};
use serde::Deserialize;
use serde_json::{json, Value};
use sui_sdk_types::{Address, ObjectReference, Owner, Transaction};

use super::blobs;
use super::chain::{self, SuiChain};
use super::deployment::{self, Deployment};
use super::full_node::{FullNode, NodeError};
use super::keys::SuiKey;
use super::node_cap;
use super::package::PackageBuild;
use super::stake_value;
use super::submit::{self, Preview, SubmitOptions, Submitted};
use super::transactions::{
    self, BuildError, Gas, InitParams, NodeRegistration, NodeUpdate, SharedObject, Votes, Walrus,
};
use super::wallet;
use crate::chain::{ChainAccess as _, ObjectId};

/// FROST in one WAL.
const FROST_PER_WAL: u64 = 1_000_000_000;

/// Where the deployment is and who signs.
#[derive(Args, Debug, Clone)]
pub struct Network {
    /// The deployment file `walrus publish walrus` wrote.
    #[arg(long, env = "WALRUS_DEPLOYMENT")]
    pub deployment: Option<PathBuf>,
    /// The full node's gRPC URL (default: the deployment file's `full_node`).
    #[arg(long)]
    pub sui: Option<String>,
    #[command(flatten)]
    pub wallet: WalletArgs,
}

/// The key that signs.
#[derive(Args, Debug, Clone)]
pub struct WalletArgs {
    /// The Sui CLI keystore holding the key (default: ~/.sui/sui_config/sui.keystore).
    #[arg(long, env = "SUI_KEYSTORE")]
    pub keystore: Option<PathBuf>,
    /// The wallet's address: it signs and pays for transactions, and its blob objects are the
    /// ones looked up (default: the keystore's only key, else the Sui CLI's active address).
    #[arg(long)]
    pub address: Option<String>,
}

/// How a transaction is sent.
#[derive(Args, Debug, Clone, Copy)]
pub struct TxArgs {
    /// Simulate the transaction and show its cost, but do not send it.
    #[arg(long)]
    pub dry_run: bool,
    /// Send without asking for confirmation (needed when standard input is not a terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Seconds to wait for the transaction to be in a checkpoint.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub wait_secs: u64,
}

/// A builder of a transaction that needs only the deployment.
type WalrusTx = fn(&Gas, &Walrus) -> Result<Transaction, BuildError>;

/// Where a transaction goes, who signs it, and how it is sent.
#[derive(Args, Debug, Clone)]
pub struct SendArgs {
    #[command(flatten)]
    pub network: Network,
    #[command(flatten)]
    pub tx: TxArgs,
}

/// An operator's transaction: the `NodeCap` it acts with, and how it is sent.
#[derive(Args, Debug, Clone)]
pub struct OperatorArgs {
    /// The operator's `NodeCap` object (default: the wallet's only one).
    #[arg(long)]
    pub node_cap: Option<String>,
    #[command(flatten)]
    pub send: SendArgs,
}

#[derive(Subcommand, Debug)]
pub enum SuiCommand {
    /// Stake WAL with a storage node (`staking::stake_with_pool`).
    Stake {
        /// The node's ID (its staking pool).
        #[arg(long)]
        node: String,
        /// How much WAL to stake, e.g. `10` or `2.5` (at least 1 WAL).
        #[arg(long, value_parser = parse_wal)]
        amount: u64,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Start withdrawing a stake that a committee counts (`staking::request_withdraw_stake`);
    /// `walrus withdraw` pays it out once its withdrawal epoch has come.
    Unstake {
        /// The `StakedWal` object.
        #[arg(long)]
        staked: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Pay a stake out to the wallet (`staking::withdraw_stake`): at once if no committee
    /// counts it yet, else after `walrus unstake` and its withdrawal epoch.
    Withdraw {
        /// The `StakedWal` object.
        #[arg(long)]
        staked: String,
        #[command(flatten)]
        send: SendArgs,
    },
    /// The wallet's stakes (`StakedWal` objects): node, principal, state and current value
    /// from the pool's exchange rates.
    Stakes {
        #[command(flatten)]
        network: Network,
    },
    /// Operate a storage node: register it and manage it with its `NodeCap`.
    Node {
        #[command(subcommand)]
        command: NodeCommand,
    },
    /// Publish the Move packages from `node scripts/move.mjs build --out DIR` payloads.
    #[command(subcommand)]
    Publish(PublishCommand),
    /// Drive the epoch change when the clock says a step is due (anyone may).
    #[command(subcommand)]
    EpochChange(EpochChangeCommand),
}

#[derive(Subcommand, Debug)]
pub enum EpochChangeCommand {
    /// Select the next committee and its parameters (`staking::voting_end`), due half an
    /// epoch before the next epoch.
    VotingEnd {
        #[command(flatten)]
        send: SendArgs,
    },
    /// Start the next epoch (`staking::initiate_epoch_change`) once it is due.
    Initiate {
        #[command(flatten)]
        send: SendArgs,
    },
}

#[derive(Subcommand, Debug)]
pub enum NodeCommand {
    /// Register a storage node (`staking::register_candidate`); the wallet gets its `NodeCap`.
    /// The keys and proof of possession are those `walrus-node keygen --sender ADDRESS
    /// --epoch EPOCH` prints, for this wallet's address and the current epoch.
    Register {
        #[arg(long)]
        name: String,
        /// Where the node serves clients: `host:port`.
        #[arg(long)]
        network_address: String,
        /// The BLS public key (48 bytes, hex).
        #[arg(long, value_parser = hex_bytes::<48>)]
        public_key: Hex,
        /// The TLS public key (33 bytes, compressed P-256, hex).
        #[arg(long, value_parser = hex_bytes::<33>)]
        network_public_key: Hex,
        /// The BLS proof of possession (96 bytes, hex).
        #[arg(long, value_parser = hex_bytes::<96>)]
        proof_of_possession: Hex,
        /// The commission on stakers' rewards, in basis points (100 = 1%).
        #[arg(long, value_parser = clap::value_parser!(u16).range(0..=10_000))]
        commission_rate: u16,
        /// The storage price vote, in FROST per MiB of encoded size and epoch.
        #[arg(long)]
        storage_price: u64,
        /// The write price vote, in FROST per MiB of encoded size.
        #[arg(long)]
        write_price: u64,
        /// The capacity vote: encoded bytes the node offers (`500GiB`, `2TiB` or bytes).
        #[arg(long, value_parser = parse_size)]
        capacity: u64,
        #[command(flatten)]
        send: SendArgs,
    },
    /// Change the node's name, address or keys (`staking::set_*`).
    Update {
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        network_address: Option<String>,
        /// A new TLS public key (33 bytes, hex).
        #[arg(long, value_parser = hex_bytes::<33>)]
        network_public_key: Option<Hex>,
        /// A new BLS public key (48 bytes, hex), in force from the next epoch.
        #[arg(long, value_parser = hex_bytes::<48>, requires = "proof_of_possession")]
        public_key: Option<Hex>,
        /// The new BLS key's proof of possession (96 bytes, hex).
        #[arg(long, value_parser = hex_bytes::<96>, requires = "public_key")]
        proof_of_possession: Option<Hex>,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Set the commission rate, applied two epochs from now (`staking::set_next_commission`).
    SetCommission {
        /// In basis points (100 = 1%).
        #[arg(long, value_parser = clap::value_parser!(u16).range(0..=10_000))]
        rate: u16,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Vote on the next epoch's prices and the node's capacity (`staking::set_*_vote`).
    Vote {
        /// FROST per MiB of encoded size and epoch.
        #[arg(long)]
        storage_price: Option<u64>,
        /// FROST per MiB of encoded size.
        #[arg(long)]
        write_price: Option<u64>,
        /// Encoded bytes the node offers (`500GiB`, `2TiB` or bytes).
        #[arg(long, value_parser = parse_size)]
        capacity: Option<u64>,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Collect the commission the node earned into the wallet (`staking::collect_commission`).
    CollectCommission {
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Report that the node holds its shards for the current epoch (`staking::epoch_sync_done`).
    SyncDone {
        /// The current epoch.
        #[arg(long)]
        epoch: u32,
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// Leave all future committees (`staking::deregister`); stakers withdraw as usual.
    Deregister {
        #[command(flatten)]
        operator: OperatorArgs,
    },
    /// The wallet's `NodeCap`s and their nodes: name, address, BLS key, last sync-done epoch.
    List {
        #[command(flatten)]
        network: Network,
    },
}

#[derive(Subcommand, Debug)]
pub enum PublishCommand {
    /// Publish `move/wal`: the wallet receives all WAL and the package's `UpgradeCap`.
    Wal {
        /// `DIR/wal.json` from `node scripts/move.mjs build --out DIR move/wal`.
        payload: PathBuf,
        /// The full node's gRPC URL.
        #[arg(long)]
        sui: String,
        #[command(flatten)]
        wallet: WalletArgs,
        #[command(flatten)]
        tx: TxArgs,
    },
    /// Publish `move/walrus` against a published WAL package, create the `System` and `Staking`
    /// objects (`init::initialize_walrus`) and write the deployment file.
    Walrus {
        /// `DIR/walrus.json` from `node scripts/move.mjs build --out DIR --published wal=ID
        /// move/walrus`.
        #[arg(required_unless_present = "initialize")]
        payload: Option<PathBuf>,
        /// The WAL package's ID (`walrus publish wal` prints it).
        #[arg(long)]
        wal_package: String,
        /// Only initialize this already published walrus package (after an interrupted run),
        /// with the `InitCap` the wallet holds.
        #[arg(long, conflicts_with = "payload")]
        initialize: Option<String>,
        /// The deployment file to write; it must not exist yet.
        #[arg(long)]
        deployment: PathBuf,
        /// The full node's gRPC URL, also written to the deployment file.
        #[arg(long)]
        sui: String,
        /// The number of shards (at least 4), fixed for good.
        #[arg(long)]
        n_shards: u16,
        /// How long an epoch lasts (`30m`, `2h`, `14d`, …).
        #[arg(long, value_parser = parse_duration)]
        epoch_duration: Duration,
        /// How long from now until epoch 1 starts (default: one epoch duration).
        #[arg(long, value_parser = parse_duration)]
        epoch_zero_duration: Option<Duration>,
        /// How many epochs ahead storage can be bought.
        #[arg(long, default_value_t = 53)]
        max_epochs_ahead: u32,
        /// The most nodes a committee may have.
        #[arg(long, default_value_t = 100)]
        max_committee_size: u16,
        #[command(flatten)]
        wallet: WalletArgs,
        #[command(flatten)]
        tx: TxArgs,
    },
}

/// Runs a command; results go to standard output (as JSON with `json`), questions and
/// progress to standard error.
pub async fn run(command: SuiCommand, json: bool) -> Result<()> {
    match command {
        SuiCommand::Stake { node, amount, send } => {
            let s = Session::open(&send.network)?;
            let node = parse_id("--node", &node)?;
            s.check_node(node).await?;
            let wal = s.wal_coins(amount).await?;
            let walrus = s.deployment.walrus;
            let action = format!("Stake {} WAL with node {node}", wal_text(amount));
            let sent = s.send(action, &send.tx, |g| transactions::stake(g, &walrus, &wal, amount, node)).await?;
            let staked = sent.created("staked_wal", "StakedWal");
            report(json, &sent, json!({ "stakedWal": staked }), &staked.map(|id| format!("StakedWal: {id}")))?;
        }
        SuiCommand::Unstake { staked, send } => {
            let s = Session::open(&send.network)?;
            let staked = s.owned(&parse_id("--staked", &staked)?, "staked_wal", "StakedWal").await?;
            let walrus = s.deployment.walrus;
            let action = format!("Request the withdrawal of stake {}", staked.object_id());
            let sent = s.send(action, &send.tx, |g| transactions::request_withdraw_stake(g, &walrus, &staked)).await?;
            report(json, &sent, json!({}), &None)?;
        }
        SuiCommand::Withdraw { staked, send } => {
            let s = Session::open(&send.network)?;
            let staked = s.owned(&parse_id("--staked", &staked)?, "staked_wal", "StakedWal").await?;
            let walrus = s.deployment.walrus;
            let action = format!("Withdraw stake {} to the wallet", staked.object_id());
            let sent = s.send(action, &send.tx, |g| transactions::withdraw_stake(g, &walrus, &staked)).await?;
            report(json, &sent, json!({}), &None)?;
        }
        SuiCommand::Stakes { network } => stakes(&Session::open(&network)?, json).await?,
        SuiCommand::Node { command } => node(command, json).await?,
        SuiCommand::Publish(command) => publish(command, json).await?,
        SuiCommand::EpochChange(command) => {
            let (send, action, build): (_, _, WalrusTx) = match command {
                EpochChangeCommand::VotingEnd { send } => {
                    (send, "End the voting: select the next committee", transactions::voting_end)
                }
                EpochChangeCommand::Initiate { send } => {
                    (send, "Start the next epoch", transactions::initiate_epoch_change)
                }
            };
            let s = Session::open(&send.network)?;
            let walrus = s.deployment.walrus;
            let sent = s.send(action.to_owned(), &send.tx, |g| build(g, &walrus)).await?;
            report(json, &sent, json!({}), &None)?;
        }
    }
    Ok(())
}

async fn node(command: NodeCommand, json: bool) -> Result<()> {
    match command {
        NodeCommand::Register {
            name,
            network_address,
            public_key,
            network_public_key,
            proof_of_possession,
            commission_rate,
            storage_price,
            write_price,
            capacity,
            send,
        } => {
            let s = Session::open(&send.network)?;
            let registration = NodeRegistration {
                name,
                network_address,
                public_key: public_key.0,
                network_public_key: network_public_key.0,
                proof_of_possession: proof_of_possession.0,
                commission_rate,
                storage_price,
                write_price,
                node_capacity: capacity,
            };
            let walrus = s.deployment.walrus;
            let action = format!(
                "Register node {:?} at {} (commission {} bp, votes: storage {storage_price}, write {write_price} FROST/MiB, \
                 capacity {capacity} bytes)",
                registration.name, registration.network_address, commission_rate
            );
            let sent = s.send(action, &send.tx, |g| transactions::register_node(g, &walrus, &registration)).await?;
            let cap = sent.created("storage_node", "NodeCap");
            let node = sent.created("staking_pool", "StakingPool");
            let text =
                cap.map(|cap| format!("NodeCap: {cap}\nnode ID: {}", node.map_or("?".into(), |n| n.to_string())));
            report(json, &sent, json!({ "nodeCap": cap, "nodeId": node }), &text)?;
        }
        NodeCommand::Update {
            name,
            network_address,
            network_public_key,
            public_key,
            proof_of_possession,
            operator,
        } => {
            let update = NodeUpdate {
                name,
                network_address,
                network_public_key: network_public_key.map(|k| k.0),
                public_key: public_key.zip(proof_of_possession).map(|(k, p)| (k.0, p.0)),
            };
            if update.is_empty() {
                bail!("nothing to update: give --name, --network-address, --network-public-key or --public-key");
            }
            with_cap(&operator, json, "Update the node", |g, w, c| transactions::update_node(g, w, c, &update)).await?;
        }
        NodeCommand::SetCommission { rate, operator } => {
            let action = format!("Set the commission to {rate} basis points from two epochs on");
            with_cap(&operator, json, &action, |g, w, c| transactions::set_commission(g, w, c, rate)).await?;
        }
        NodeCommand::Vote { storage_price, write_price, capacity, operator } => {
            let votes = Votes { storage_price, write_price, node_capacity: capacity };
            if votes == Votes::default() {
                bail!("nothing to vote on: give --storage-price, --write-price or --capacity");
            }
            let named = [("storage price", storage_price), ("write price", write_price), ("capacity", capacity)];
            let parts: Vec<String> = named.iter().filter_map(|(what, v)| v.map(|v| format!("{what} {v}"))).collect();
            let action = format!("Vote {}", parts.join(", "));
            with_cap(&operator, json, &action, |g, w, c| transactions::vote(g, w, c, &votes)).await?;
        }
        NodeCommand::CollectCommission { operator } => {
            with_cap(&operator, json, "Collect the node's commission", transactions::collect_commission).await?;
        }
        NodeCommand::SyncDone { epoch, operator } => {
            let action = format!("Report the node's shards in place for epoch {epoch}");
            with_cap(&operator, json, &action, |g, w, c| transactions::sync_done(g, w, c, epoch)).await?;
        }
        NodeCommand::Deregister { operator } => {
            with_cap(&operator, json, "Deregister the node for good", transactions::deregister).await?;
        }
        NodeCommand::List { network } => list_nodes(&Session::open(&network)?, json).await?,
    }
    Ok(())
}

async fn list_nodes(s: &Session, json: bool) -> Result<()> {
    let caps = node_cap::owned(&s.node, &s.deployment, s.key.address()).await?;
    let mut nodes = Vec::with_capacity(caps.len());
    for cap in caps {
        let pool = s.node.contents(cap.node_id).await.with_context(|| format!("the pool of node {}", cap.node_id))?;
        let info = stake_value::pool_node(&pool.contents).map_err(|e| anyhow!("node {}: {e}", cap.node_id))?;
        nodes.push((cap, info));
    }
    if json {
        let nodes: Vec<Value> = nodes
            .iter()
            .map(|(cap, info)| {
                json!({
                    "nodeCap": cap.reference.object_id().to_string(),
                    "nodeId": cap.node_id.to_string(),
                    "name": info.name,
                    "networkAddress": info.network_address,
                    "publicKey": format!("0x{}", hex::encode(&info.public_key)),
                    "lastEpochSyncDone": cap.last_epoch_sync_done,
                })
            })
            .collect();
        println!("{}", json!({ "nodes": nodes }));
        return Ok(());
    }
    if nodes.is_empty() {
        println!("{} holds no NodeCap", s.key.address());
    }
    for (cap, info) in &nodes {
        println!(
            "{} {:?} at {}, key 0x{}, NodeCap {}, last sync-done epoch {}",
            cap.node_id,
            info.name,
            info.network_address,
            hex::encode(&info.public_key),
            cap.reference.object_id(),
            cap.last_epoch_sync_done
        );
    }
    Ok(())
}

/// Sends an operator's transaction, built with the wallet's `NodeCap`.
async fn with_cap(
    operator: &OperatorArgs,
    json: bool,
    action: &str,
    build: impl Fn(&Gas, &Walrus, &ObjectReference) -> Result<Transaction, BuildError>,
) -> Result<()> {
    let s = Session::open(&operator.send.network)?;
    let (cap, node_id) = s.node_cap(operator.node_cap.as_deref()).await?;
    let walrus = s.deployment.walrus;
    let sent = s.send(format!("{action} (node {node_id})"), &operator.send.tx, |g| build(g, &walrus, &cap)).await?;
    report(json, &sent, json!({ "nodeId": node_id }), &None)
}

/// `StakedWal`'s fields, in the order `move/walrus/sources/staked_wal.move` declares them.
#[derive(Deserialize)]
struct StakedWal {
    id: [u8; 32],
    state: StakedWalState,
    node_id: [u8; 32],
    principal: u64,
    activation_epoch: u32,
}

#[derive(Deserialize)]
enum StakedWalState {
    Staked,
    Withdrawing { withdraw_epoch: u32 },
}

async fn stakes(s: &Session, json: bool) -> Result<()> {
    let objects = s.node.owned_objects(s.key.address(), &s.deployment.walrus_type("staked_wal", "StakedWal")).await?;
    let mut stakes = objects
        .iter()
        .map(|o| bcs::from_bytes::<StakedWal>(&o.contents).context("a StakedWal object does not decode"))
        .collect::<Result<Vec<_>>>()?;
    stakes.sort_by_key(|s| (s.node_id, s.activation_epoch));
    let valued: Vec<(Address, stake_value::Stake)> = stakes
        .iter()
        .map(|st| {
            let withdraw_epoch = match st.state {
                StakedWalState::Staked => None,
                StakedWalState::Withdrawing { withdraw_epoch } => Some(withdraw_epoch),
            };
            let stake =
                stake_value::Stake { principal: st.principal, activation_epoch: st.activation_epoch, withdraw_epoch };
            (Address::new(st.node_id), stake)
        })
        .collect();
    let values = stake_value::values(&s.node, &valued).await;
    if json {
        let rows: Vec<Value> = stakes
            .iter()
            .zip(&valued)
            .zip(&values)
            .map(|((st, (_, stake)), value)| {
                let mut row = json!({
                    "id": Address::new(st.id), "nodeId": Address::new(st.node_id), "principal": st.principal,
                    "activationEpoch": st.activation_epoch,
                    "state": if stake.withdraw_epoch.is_some() { "withdrawing" } else { "staked" },
                    "withdrawEpoch": stake.withdraw_epoch,
                });
                let (value, epoch, unknown) = match value {
                    stake_value::Value::Valued { value, epoch } => (Some(*value), Some(*epoch), None),
                    stake_value::Value::NotActive { value } => (Some(*value), None, None),
                    stake_value::Value::Unknown(reason) => (None, None, Some(reason)),
                };
                row["value"] = json!(value);
                row["valueEpoch"] = json!(epoch);
                row["valueUnknown"] = json!(unknown);
                row
            })
            .collect();
        println!("{}", json!({ "owner": s.key.address(), "stakes": rows }));
        return Ok(());
    }
    println!("stakes of {} (value: what the pool's exchange rates make of the principal):", s.key.address());
    if stakes.is_empty() {
        println!("  none");
    }
    for ((st, (node_id, stake)), value) in stakes.iter().zip(&valued).zip(&values) {
        let state = match stake.withdraw_epoch {
            None => format!("staked from epoch {}", st.activation_epoch),
            Some(epoch) => format!("withdrawable from epoch {epoch}"),
        };
        let value = match value {
            stake_value::Value::Valued { value, epoch } => {
                format!("worth {} WAL at epoch {epoch}'s rate", wal_text(*value))
            }
            stake_value::Value::NotActive { value } => format!("worth {} WAL (not active yet)", wal_text(*value)),
            stake_value::Value::Unknown(reason) => format!("value unknown: {reason}"),
        };
        println!("  {}: {} WAL with node {node_id}, {state}; {value}", Address::new(st.id), wal_text(st.principal));
    }
    let total: u128 = stakes.iter().map(|s| u128::from(s.principal)).sum();
    let known: u128 = values
        .iter()
        .filter_map(|v| match v {
            stake_value::Value::Valued { value, .. } | stake_value::Value::NotActive { value } => {
                Some(u128::from(*value))
            }
            stake_value::Value::Unknown(_) => None,
        })
        .sum();
    let wal = |n: u128| wal_text(u64::try_from(n).unwrap_or(u64::MAX));
    let unknown = values.iter().filter(|v| matches!(v, stake_value::Value::Unknown(_))).count();
    let unknown = if unknown > 0 { format!(" ({unknown} stake(s) of unknown value left out)") } else { String::new() };
    println!("  total principal: {} WAL, value {} WAL{unknown}", wal(total), wal(known));
    Ok(())
}

async fn publish(command: PublishCommand, json: bool) -> Result<()> {
    match command {
        PublishCommand::Wal { payload, sui, wallet, tx } => {
            let package = read_payload(&payload)?;
            let (node, key) = connect(&sui, &wallet)?;
            let action =
                format!("Publish the WAL package from {} ({} modules)", payload.display(), package.modules.len());
            let sent = send(&node, &key, action, &tx, |g| transactions::publish(g, &package)).await?;
            let id =
                sent.outcome().map(|o| o.published_package().ok_or_else(|| anyhow!("the effects name no package")));
            let id = id.transpose()?;
            let text = id.map(|id| {
                format!(
                    "WAL package: {id}\nnext: node scripts/move.mjs build --out DIR --published wal={id} move/walrus\n      \
                     walrus publish walrus DIR/walrus.json --wal-package {id} --sui {sui} --deployment FILE …"
                )
            });
            report(json, &sent, json!({ "walPackage": id }), &text)?;
        }
        PublishCommand::Walrus {
            payload,
            wal_package,
            initialize,
            deployment,
            sui,
            n_shards,
            epoch_duration,
            epoch_zero_duration,
            max_epochs_ahead,
            max_committee_size,
            wallet,
            tx,
        } => {
            let wal_package = parse_id("--wal-package", &wal_package)?;
            if deployment.exists() {
                bail!("{} already exists; a deployment file is never overwritten", deployment.display());
            }
            let millis = |d: Duration| u64::try_from(d.as_millis()).map_err(|_| anyhow!("duration {d:?} is too long"));
            let params = InitParams {
                n_shards,
                epoch_zero_duration_ms: millis(epoch_zero_duration.unwrap_or(epoch_duration))?,
                epoch_duration_ms: millis(epoch_duration)?,
                max_epochs_ahead,
                max_committee_size,
            };
            let (node, key) = connect(&sui, &wallet)?;
            let package = match (&payload, initialize) {
                (_, Some(id)) => parse_id("--initialize", &id)?,
                (Some(payload), None) => {
                    let build = read_payload(payload)?;
                    if !build.dependencies.contains(&wal_package) {
                        bail!(
                            "{} was not built against the WAL package {wal_package}; rebuild it with `node \
                             scripts/move.mjs build --out DIR --published wal={wal_package} move/walrus`",
                            payload.display()
                        );
                    }
                    let action = format!("Publish the walrus package from {}", payload.display());
                    let sent = send(&node, &key, action, &tx, |g| transactions::publish(g, &build)).await?;
                    let Submitted::Executed { outcome, .. } = &sent else {
                        return report(json, &sent, json!({}), &None);
                    };
                    let id = outcome.published_package().ok_or_else(|| anyhow!("the effects name no package"))?;
                    eprintln!("walrus package: {id}");
                    id
                }
                (None, None) => unreachable!("clap requires the payload or --initialize"),
            };
            let caps = node.owned_objects(key.address(), &format!("{package}::init::InitCap")).await?;
            let Some(cap) = caps.first() else {
                bail!("{} holds no InitCap of package {package}: was it initialized already?", key.address());
            };
            let cap = cap.reference.clone();
            let action = format!(
                "Create the System and Staking objects of {package}: {n_shards} shards, epochs of {epoch_duration:?}, \
                 storage up to {max_epochs_ahead} epochs ahead, committees of at most {max_committee_size}"
            );
            let sent = send(&node, &key, action, &tx, |g| transactions::initialize_walrus(g, package, &cap, &params))
                .await
                .with_context(|| {
                    format!("package {package} is published but not initialized; retry with --initialize {package}")
                })?;
            let Submitted::Executed { outcome, .. } = &sent else { return report(json, &sent, json!({}), &None) };
            let shared = |module, name| -> Result<SharedObject> {
                let created = outcome
                    .created_of_type(module, name)
                    .ok_or_else(|| anyhow!("the effects lack the {name} object"))?;
                let Owner::Shared(initial_shared_version) = created.owner else {
                    bail!("the {name} object is not shared")
                };
                Ok(SharedObject { id: *created.reference.object_id(), initial_shared_version })
            };
            let written = Deployment {
                full_node: sui,
                wal_package,
                walrus: Walrus { package, system: shared("system", "System")?, staking: shared("staking", "Staking")? },
            };
            written.write_new(&deployment)?;
            let text = format!("wrote {} (walrus package {package})", deployment.display());
            report(json, &sent, json!({ "deployment": deployment, "walrusPackage": package }), &Some(text))?;
        }
    }
    Ok(())
}

/// Where `walrus blob-status` reads on Sui, and whose blob objects it lists.
#[derive(Args, Debug, Clone)]
pub struct BlobStatusArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    /// Whose blob objects to list: a full node finds objects by owner, not by blob ID
    /// (default: the wallet's address).
    #[arg(long, requires = "deployment")]
    pub owner: Option<String>,
    #[command(flatten)]
    pub wallet: WalletArgs,
}

/// Reads blob objects and the system's state through a full node.
pub struct BlobReader {
    deployment: Deployment,
    node: FullNode,
    owner: Address,
    /// Whether `owner` is the wallet's address.
    own: bool,
}

impl BlobReader {
    /// The reader of `args`, or `None` when no deployment is given.
    pub fn open(args: &BlobStatusArgs) -> Result<Option<Self>> {
        let Some(path) = &args.read.deployment else { return Ok(None) };
        let deployment = Deployment::read(path)?;
        let node = FullNode::new(args.read.sui.as_deref().unwrap_or(&deployment.full_node))?;
        let (owner, own) = match &args.owner {
            Some(owner) => (parse_id("--owner", owner)?, false),
            None => {
                let address = args.wallet.address.as_deref().map(|a| parse_id("--address", a)).transpose()?;
                let key = wallet::key(args.wallet.keystore.as_deref(), address);
                (key.context("no --owner given, and no wallet")?.address(), true)
            }
        };
        Ok(Some(Self { deployment, node, owner, own }))
    }

    pub fn owner(&self) -> Address {
        self.owner
    }

    pub async fn system_state(&self) -> Result<blobs::SystemState> {
        Ok(blobs::system_state(&self.node, &self.deployment).await?)
    }

    /// The owner's blob objects holding `blob_id`, expired ones included.
    pub async fn blobs(&self, blob_id: &walrus_encoder::BlobId) -> Result<Vec<crate::chain::BlobObject>> {
        Ok(blobs::owned_blobs(&self.node, &self.deployment, self.owner, blob_id, self.own).await?)
    }
}

/// A deployment, the full node and the key that signs.
struct Session {
    deployment: Deployment,
    node: FullNode,
    key: SuiKey,
}

impl Session {
    fn open(network: &Network) -> Result<Self> {
        let Some(path) = &network.deployment else {
            bail!("no deployment file: pass --deployment FILE (written by `walrus publish walrus`) or set WALRUS_DEPLOYMENT");
        };
        let deployment = Deployment::read(path)?;
        let url = network.sui.clone().unwrap_or_else(|| deployment.full_node.clone());
        let (node, key) = connect(&url, &network.wallet)?;
        Ok(Self { deployment, node, key })
    }

    async fn send(
        &self,
        action: String,
        tx: &TxArgs,
        build: impl Fn(&Gas) -> Result<Transaction, BuildError>,
    ) -> Result<Submitted> {
        send(&self.node, &self.key, action, tx, build).await
    }

    /// Fails unless `node` is a storage node (a staking pool) of this deployment.
    async fn check_node(&self, node: Address) -> Result<()> {
        let pool = self.deployment.walrus_type("staking_pool", "StakingPool");
        match self.node.object(node).await {
            Ok(object) if object.object_type.as_deref().is_some_and(|t| same_type(t, &pool)) => Ok(()),
            Ok(_) => bail!("{node} is not a storage node of this deployment (not its StakingPool)"),
            Err(NodeError::NotFound(_)) => bail!("no storage node {node}: the full node knows no such object"),
            Err(e) => Err(e.into()),
        }
    }

    /// WAL coins of the wallet enough for `amount`, largest first.
    async fn wal_coins(&self, amount: u64) -> Result<Vec<ObjectReference>> {
        Ok(chain::wal_coins(&self.node, &self.deployment, self.key.address(), amount, "asked for").await??)
    }

    /// The wallet's object `id` of type `walrus::module::name`.
    async fn owned(&self, id: &Address, module: &str, name: &str) -> Result<ObjectReference> {
        let object_type = self.deployment.walrus_type(module, name);
        let objects = self.node.owned_objects(self.key.address(), &object_type).await?;
        match objects.into_iter().find(|o| o.reference.object_id() == id) {
            Some(object) => Ok(object.reference),
            None => bail!("{} owns no {name} {id} of this deployment", self.key.address()),
        }
    }

    /// The wallet's `NodeCap` (the one named, or its only one) and the node it is for.
    async fn node_cap(&self, wanted: Option<&str>) -> Result<(ObjectReference, Address)> {
        let wanted = wanted.map(|id| parse_id("--node-cap", id)).transpose()?;
        let caps = node_cap::owned(&self.node, &self.deployment, self.key.address()).await?;
        let mut caps: Vec<_> =
            caps.into_iter().filter(|c| wanted.is_none_or(|w| *c.reference.object_id() == w)).collect();
        let owner = self.key.address();
        let cap = match (caps.len(), wanted) {
            (1, _) => caps.remove(0),
            (0, Some(id)) => bail!("{owner} owns no NodeCap {id} of this deployment"),
            (0, None) => bail!("{owner} owns no NodeCap of this deployment: register a node first, or sign with the operator's --address"),
            _ => bail!(
                "{owner} owns {} NodeCaps: choose one with --node-cap ({})",
                caps.len(),
                caps.iter().map(|c| c.reference.object_id().to_string()).collect::<Vec<_>>().join(", ")
            ),
        };
        Ok((cap.reference, cap.node_id))
    }
}

fn connect(url: &str, wallet: &WalletArgs) -> Result<(FullNode, SuiKey)> {
    Ok((FullNode::new(url)?, select_key(wallet)?))
}

/// The key `wallet` names.
fn select_key(wallet: &WalletArgs) -> Result<SuiKey> {
    let address = wallet.address.as_deref().map(|a| parse_id("--address", a)).transpose()?;
    Ok(wallet::key(wallet.keystore.as_deref(), address)?)
}

/// Runs a blob command on Sui rather than on the chain of `--config` (`read`, `info`): the
/// deployment and the full node; reading needs no key.
#[derive(Args, Debug, Clone)]
pub struct ReadArgs {
    /// Run on Sui, through a full node: the deployment file `walrus publish walrus` wrote
    /// (without it, the chain of --config).
    #[arg(long, env = "WALRUS_DEPLOYMENT")]
    pub deployment: Option<PathBuf>,
    /// The full node's gRPC URL (default: the deployment file's `full_node`).
    #[arg(long, requires = "deployment")]
    pub sui: Option<String>,
}

impl ReadArgs {
    /// The chain to read, or `None` without a deployment file.
    pub fn open(&self) -> Result<Option<SuiChain>> {
        open_chain(self, None, false, 60)
    }
}

/// Runs one of the wallet's blob commands on Sui (`store`, `delete`, `extend`,
/// `list-blobs`): the deployment, the full node, the wallet and how transactions are sent.
#[derive(Args, Debug, Clone)]
pub struct BlobArgs {
    #[command(flatten)]
    pub read: ReadArgs,
    #[command(flatten)]
    pub wallet: WalletArgs,
    /// On Sui, send without asking for confirmation (needed when standard input is not a
    /// terminal).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// On Sui, seconds to wait for each transaction to be in a checkpoint.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    pub wait_secs: u64,
}

impl BlobArgs {
    /// The chain as the wallet uses it, or `None` without a deployment file. When the command
    /// `sends` transactions, it is refused at once if it could not ask for confirmation.
    pub fn open(&self, sends: bool) -> Result<Option<SuiChain>> {
        if self.read.deployment.is_some() && sends {
            refuse_unconfirmable(self.yes)?;
        }
        open_chain(&self.read, Some(&self.wallet), self.yes, self.wait_secs)
    }
}

fn refuse_unconfirmable(yes: bool) -> Result<()> {
    if !yes && !std::io::stdin().is_terminal() {
        bail!("refusing to send a transaction without confirmation: standard input is not a terminal; pass --yes");
    }
    Ok(())
}

/// The chain of `read`'s deployment with `wallet`'s key; each transaction's preview is shown
/// on standard error and, where it spends WAL or removes a blob, asked about unless `yes`.
fn open_chain(read: &ReadArgs, wallet: Option<&WalletArgs>, yes: bool, wait_secs: u64) -> Result<Option<SuiChain>> {
    let Some(path) = &read.deployment else { return Ok(None) };
    let deployment = Deployment::read(path)?;
    let node = FullNode::new(read.sui.as_deref().unwrap_or(&deployment.full_node))?;
    let key = wallet.map(select_key).transpose()?;
    let options = SubmitOptions { checkpoint_timeout: Duration::from_secs(wait_secs), ..SubmitOptions::default() };
    let confirm: chain::Confirm = Arc::new(move |preview: &Preview, needs_yes: bool| {
        eprintln!("{preview}");
        !needs_yes || yes || ask("Sign and send it? [y/N] ")
    });
    Ok(Some(SuiChain::new(deployment, node, key, options, confirm)))
}

/// `walrus delete` on Sui: deletes each of the wallet's blob objects `objects` (keeping their
/// storage), or with `dry_run` only simulates it.
pub async fn delete(chain: &SuiChain, objects: &[ObjectId], dry_run: bool, json: bool) -> Result<()> {
    let mut sent = Vec::new();
    for id in objects {
        let done = chain.send_delete(id, dry_run).await.with_context(|| format!("cannot delete {id}"))?;
        if !json {
            report(false, &done, json!({}), &Some(format!("deleted {id}")))?;
        }
        sent.push(report_json(&done, json!({ "objectId": id })));
    }
    if json {
        let deleted: &[ObjectId] = if dry_run { &[] } else { objects };
        println!("{}", json!({ "deleted": deleted, "transactions": sent }));
    }
    Ok(())
}

/// `walrus extend` on Sui: adds `epochs` to the storage of the wallet's blob object `id`, or
/// with `dry_run` only simulates it.
pub async fn extend(chain: &SuiChain, id: &ObjectId, epochs: u32, dry_run: bool, json: bool) -> Result<()> {
    let (sent, cost) = chain.send_extend(id, epochs, dry_run).await?;
    let blob = match &sent {
        Submitted::Simulated(_) => None,
        Submitted::Executed { .. } => chain.blob_object(id).await?,
    };
    let text = blob.map(|b| {
        format!("extended {id} (blob {}) to epoch {}, cost at most {} WAL", b.blob_id, b.end_epoch, wal_text(cost))
    });
    report(json, &sent, json!({ "blobObject": blob.map(|b| b.to_json()), "cost": cost }), &text)
}

async fn send(
    node: &FullNode,
    key: &SuiKey,
    action: String,
    tx: &TxArgs,
    build: impl Fn(&Gas) -> Result<Transaction, BuildError>,
) -> Result<Submitted> {
    if !tx.dry_run {
        refuse_unconfirmable(tx.yes)?;
    }
    let options = SubmitOptions {
        dry_run: tx.dry_run,
        checkpoint_timeout: Duration::from_secs(tx.wait_secs),
        ..SubmitOptions::default()
    };
    let yes = tx.yes;
    let mut confirm = move |preview: &Preview| {
        eprintln!("{preview}");
        yes || ask("Sign and send it? [y/N] ")
    };
    Ok(submit::submit(node, key, action, build, &options, &mut confirm).await?)
}

/// Asks on the terminal; anything but `y` or `yes` is a no.
fn ask(question: &str) -> bool {
    eprint!("{question}");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).is_ok() && matches!(answer.trim(), "y" | "Y" | "yes")
}

/// Prints how a transaction ended, with `extra` (JSON) or `text`.
fn report(json: bool, sent: &Submitted, extra: Value, text: &Option<String>) -> Result<()> {
    if json {
        println!("{}", report_json(sent, extra));
        return Ok(());
    }
    match sent {
        Submitted::Simulated(preview) => println!("dry run: nothing sent.\n{preview}"),
        Submitted::Executed { outcome, checkpoint, .. } => {
            println!(
                "done: transaction {} in checkpoint {checkpoint}, gas {} SUI",
                outcome.digest,
                submit::sui(outcome.gas.net())
            );
            if let Some(text) = text {
                println!("{text}");
            }
        }
    }
    Ok(())
}

/// How a transaction ended, as JSON, with the fields of `extra` added.
fn report_json(sent: &Submitted, extra: Value) -> Value {
    let (preview, executed) = match sent {
        Submitted::Simulated(preview) => (preview, None),
        Submitted::Executed { preview, outcome, checkpoint } => (preview, Some((outcome, checkpoint))),
    };
    let g = &preview.gas;
    let mut value = json!({
        "action": preview.action,
        "dryRun": executed.is_none(),
        "gas": {"computation": g.computation, "storage": g.storage, "rebate": g.rebate, "net": g.net().to_string()},
        "budget": preview.budget,
    });
    if let Some((outcome, checkpoint)) = executed {
        value["digest"] = json!(outcome.digest.to_string());
        value["checkpoint"] = json!(checkpoint);
        let o = &outcome.gas;
        value["gasCharged"] = json!(o.net().to_string());
    }
    if let (Value::Object(value), Value::Object(extra)) = (&mut value, extra) {
        value.extend(extra);
    }
    value
}

/// Whether two Move type names are the same, however their addresses are spelled.
fn same_type(a: &str, b: &str) -> bool {
    deployment::normalize_type(a) == deployment::normalize_type(b)
}

fn read_payload(path: &Path) -> Result<PackageBuild> {
    PackageBuild::read(path).with_context(|| format!("{} is not a usable publish payload", path.display()))
}

fn parse_id(flag: &str, text: &str) -> Result<Address> {
    text.parse().map_err(|_| anyhow!("{flag} {text:?} is not a Sui address or object ID (0x followed by hex digits)"))
}

/// `12`, `2.5` or `0.000000001` WAL, in FROST.
pub fn parse_wal(text: &str) -> Result<u64, String> {
    let bad = || format!("{text:?} is not an amount of WAL (e.g. 10 or 2.5, at most 9 decimals)");
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if (whole.is_empty() && fraction.is_empty()) || fraction.len() > 9 {
        return Err(bad());
    }
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if !digits(whole) || !digits(fraction) {
        return Err(bad());
    }
    let whole: u64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| bad())? };
    let fraction: u64 = if fraction.is_empty() { 0 } else { format!("{fraction:0<9}").parse().map_err(|_| bad())? };
    whole
        .checked_mul(FROST_PER_WAL)
        .and_then(|w| w.checked_add(fraction))
        .ok_or_else(|| format!("{text} WAL is too much"))
}

/// FROST as WAL, without trailing zeros.
pub fn wal_text(frost: u64) -> String {
    let (whole, fraction) = (frost / FROST_PER_WAL, frost % FROST_PER_WAL);
    if fraction == 0 {
        return whole.to_string();
    }
    format!("{whole}.{}", format!("{fraction:09}").trim_end_matches('0'))
}

/// `n` bytes given as `n` or with a binary unit (`KiB` … `TiB`).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let units = [("TiB", 1u64 << 40), ("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10), ("B", 1)];
    let (number, unit) =
        units.iter().find_map(|(suffix, unit)| text.strip_suffix(suffix).map(|n| (n, *unit))).unwrap_or((text, 1));
    let n: u64 = number.trim().parse().map_err(|_| format!("{text:?} is not a size (bytes, or e.g. 500GiB)"))?;
    n.checked_mul(unit).ok_or_else(|| format!("{text} is too large"))
}

/// `500ms`, `30s`, `10m`, `2h` or `14d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let units = [("ms", 1u64), ("s", 1000), ("m", 60_000), ("h", 3_600_000), ("d", 86_400_000)];
    let bad = || format!("{text:?} is not a duration (e.g. 30m, 2h, 14d)");
    let (number, unit) =
        units.iter().find_map(|(suffix, ms)| text.strip_suffix(suffix).map(|n| (n, *ms))).ok_or_else(bad)?;
    let n: u64 = number.parse().map_err(|_| bad())?;
    let ms = n.checked_mul(unit).filter(|ms| *ms > 0).ok_or_else(bad)?;
    Ok(Duration::from_millis(ms))
}

/// Bytes given in hex (a newtype, as clap takes a bare `Vec` for a repeated argument).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hex(pub Vec<u8>);

/// Exactly `N` bytes of hex, with or without `0x`.
fn hex_bytes<const N: usize>(text: &str) -> Result<Hex, String> {
    let bytes = hex::decode(text.strip_prefix("0x").unwrap_or(text)).map_err(|e| format!("not hex: {e}"))?;
    if bytes.len() != N {
        return Err(format!("expected {N} bytes, got {}", bytes.len()));
    }
    Ok(Hex(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_sizes_and_durations_parse_exactly() {
        assert_eq!(parse_wal("2.5"), Ok(2_500_000_000));
        assert_eq!(parse_wal("10"), Ok(10 * FROST_PER_WAL));
        assert_eq!(parse_wal(".000000001"), Ok(1));
        for bad in ["", ".", "1.0000000001", "-1", "1e9", "1,5", "99999999999"] {
            assert!(parse_wal(bad).is_err(), "{bad:?} parsed");
        }
        assert_eq!(wal_text(2_500_000_000), "2.5");
        assert_eq!(wal_text(7), "0.000000007");
        assert_eq!(parse_size("2TiB"), Ok(2 << 40));
        assert_eq!(parse_size("1024"), Ok(1024));
        assert!(parse_size("lots").is_err() && parse_size("20000000TiB").is_err());
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert!(parse_duration("0s").is_err() && parse_duration("2").is_err() && parse_duration("xh").is_err());
        assert_eq!(hex_bytes::<2>("0xabcd"), Ok(Hex(vec![0xab, 0xcd])));
        assert!(hex_bytes::<2>("abcdef").unwrap_err().contains("expected 2 bytes"));
    }
}
