//! `walrus-testbed up --sui URL`: storage nodes (and the indexer) on a Sui network where
//! `walrus publish` ran, instead of the local chain. Nodes get fresh keys, are registered and
//! staked by the wallet with the `walrus` CLI (the send path of `walrus node register` and
//! `walrus stake`: simulated, shown, signed, executed, waited for), and follow the full node's
//! checkpoints. What was registered is recorded in `DIR/sui-nodes.json` as soon as it is, so
//! that `up` run again on the same folder resumes with the same nodes instead of registering
//! new ones.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use serde_json::{json, Value};
use walrus_client::sui::blobs::{self, StakingState};
use walrus_client::sui::deployment::Deployment;
use walrus_client::sui::full_node::FullNode;
use walrus_client::sui::wallet;

use crate::demo::walrus_cli;
use crate::genesis::{NODE_CAPACITY, STORAGE_PRICE, WRITE_PRICE};

/// The record of the nodes registered on Sui, in the testbed's folder.
pub const NODES_FILE: &str = "sui-nodes.json";

/// What `up --sui` is asked for.
#[derive(Clone, Debug)]
pub struct SuiOptions {
    /// The full node's gRPC URL, `http(s)://host:port`.
    pub url: String,
    /// The deployment file `walrus publish walrus` wrote.
    pub deployment: PathBuf,
    /// The keystore and address of the wallet that registers and stakes the nodes.
    pub keystore: Option<PathBuf>,
    pub address: Option<String>,
    /// WAL each new node is staked with, as `walrus stake --amount` takes it.
    pub stake: String,
    /// The checkpoint the nodes and the indexer start at (one before the publication saves
    /// following the network's whole history).
    pub first_checkpoint: u64,
    /// The host new nodes are registered at, listening on every interface; loopback if none.
    pub public_host: Option<String>,
}

/// The network as the testbed sees it before starting anything.
pub struct Network {
    pub deployment: Deployment,
    /// The wallet's address.
    pub wallet: String,
    pub staking: StakingState,
}

impl SuiOptions {
    /// The `grpc+…` checkpoint source the nodes and the indexer follow.
    pub fn source(&self) -> String {
        format!("grpc+{}", self.url)
    }

    /// Reads the deployment, chooses the wallet's key and reads the `Staking` object, so that
    /// a wrong file, key or URL is reported before anything is started or sent.
    pub async fn connect(&self) -> anyhow::Result<Network> {
        if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
            bail!("--sui {:?}: expected the full node's gRPC URL, http(s)://HOST:PORT", self.url);
        }
        let deployment = Deployment::read(&self.deployment)?;
        let address = self
            .address
            .as_deref()
            .map(|a| a.parse().map_err(|e| anyhow::anyhow!("--address {a:?}: {e}")))
            .transpose()?;
        let key = wallet::key(self.keystore.as_deref(), address)?;
        let node = FullNode::new(&self.url)?;
        let staking = blobs::staking_state(&node, &deployment).await.with_context(|| {
            format!("reading the Staking object of {} through {}", self.deployment.display(), self.url)
        })?;
        Ok(Network { deployment, wallet: key.address().to_string(), staking })
    }

    /// The arguments every `walrus` command of the testbed takes: deployment, full node, wallet.
    fn common_args(&self) -> Vec<String> {
        let mut args = vec!["--deployment".into(), path_arg(&self.deployment), "--sui".into(), self.url.clone()];
        if let Some(keystore) = &self.keystore {
            args.extend(["--keystore".into(), path_arg(keystore)]);
        }
        if let Some(address) = &self.address {
            args.extend(["--address".into(), address.clone()]);
        }
        args
    }

    /// What `walrus-node run` takes beyond the local setup: where to start following, and
    /// the deployment, full node and wallet to report `epoch_sync_done` with.
    pub fn node_args(&self) -> Vec<String> {
        let mut args = vec!["--first-checkpoint".to_owned(), self.first_checkpoint.to_string()];
        args.extend(self.common_args());
        args
    }

    /// Runs `walrus --json ARGS …` with the deployment and wallet; its JSON answer.
    async fn walrus(&self, walrus: &Path, args: &[&str]) -> anyhow::Result<Value> {
        let mut all: Vec<String> = std::iter::once("--json").chain(args.iter().copied()).map(str::to_owned).collect();
        all.extend(self.common_args());
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        let out = walrus_cli(walrus, &all).await?;
        serde_json::from_str(&out).with_context(|| format!("`walrus {}` did not print JSON: {out}", args.join(" ")))
    }
}

/// A node of the testbed on Sui, as `sui-nodes.json` records it.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct SuiNode {
    pub name: String,
    /// The host it is registered at (files of earlier versions: loopback).
    #[serde(default = "loopback")]
    pub host: String,
    pub port: u16,
    /// Its staking pool's ID, once registered.
    pub node_id: String,
    /// Whether the testbed's stake was added.
    pub staked: bool,
}

fn loopback() -> String {
    crate::testbed::LOOPBACK.to_owned()
}

/// The nodes recorded in `dir`, if an earlier `up --sui` registered some there.
pub fn recorded_nodes(dir: &Path) -> anyhow::Result<Option<Vec<SuiNode>>> {
    let path = dir.join(NODES_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(serde_json::from_str(&text).with_context(|| format!("{} is damaged", path.display()))?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn record(dir: &Path, nodes: &[SuiNode]) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(nodes)?;
    crate::testbed::write_atomically(&dir.join(NODES_FILE), text.as_bytes())
}

/// Registers the node whose keys are in `keys` (proof of possession for the network's epoch
/// and the wallet), recording it in `dir` at once.
pub async fn register(
    options: &SuiOptions,
    network: &Network,
    walrus: &Path,
    keys: &Path,
    node: &SuiNode,
) -> anyhow::Result<String> {
    use walrus_node::keys::{self as node_keys, NETWORK_KEY_FILE, PROTOCOL_KEY_FILE};
    // Keys of an attempt that ended before the registration was recorded are used again.
    let (protocol, net_key) = if keys.join(PROTOCOL_KEY_FILE).exists() {
        (
            node_keys::load_protocol_key(&keys.join(PROTOCOL_KEY_FILE))?,
            node_keys::load_network_key(&keys.join(NETWORK_KEY_FILE))?,
        )
    } else {
        node_keys::generate(keys).with_context(|| format!("keys of {}", node.name))?
    };
    let wallet: sui_sdk_types::Address = network.wallet.parse().context("the wallet's address")?;
    let pop = protocol.proof_of_possession(network.staking.epoch, &wallet.into_inner());
    let hex = |bytes: &[u8]| format!("0x{}", hex::encode(bytes));
    let address = format!("{}:{}", node.host, node.port);
    let answer = options
        .walrus(
            walrus,
            &[
                "node",
                "register",
                "--name",
                &node.name,
                "--network-address",
                &address,
                "--public-key",
                &hex(&protocol.public_key()),
                "--network-public-key",
                &hex(&net_key.public_key()),
                "--proof-of-possession",
                &hex(&pop),
                "--commission-rate",
                "0",
                "--storage-price",
                &STORAGE_PRICE.to_string(),
                "--write-price",
                &WRITE_PRICE.to_string(),
                "--capacity",
                &NODE_CAPACITY.to_string(),
                "--yes",
            ],
        )
        .await?;
    answer["nodeId"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("`walrus node register` named no node ID: {answer}"))
}

/// Registers and stakes every node not done yet, recording each step in `dir`.
pub async fn register_and_stake(
    options: &SuiOptions,
    network: &Network,
    walrus: &Path,
    dir: &Path,
    nodes: &mut [SuiNode],
    keys_dir: impl Fn(&str) -> PathBuf,
) -> anyhow::Result<()> {
    // The plan first: a testbed stopped during its first registration resumes from it.
    record(dir, nodes)?;
    for i in 0..nodes.len() {
        // An earlier attempt may have sent a step and stopped before recording it: the chain
        // is asked first, so that a node is never registered or staked twice.
        let mut resumed = !nodes[i].node_id.is_empty();
        if nodes[i].node_id.is_empty() {
            let keys = keys_dir(&nodes[i].name);
            let id = match registered_before(options, walrus, &keys).await? {
                Some(id) => {
                    resumed = true;
                    id
                }
                None => register(options, network, walrus, &keys, &nodes[i]).await?,
            };
            nodes[i].node_id = id;
            record(dir, nodes)?;
        }
        if !nodes[i].staked {
            let node_id = nodes[i].node_id.clone();
            if !(resumed && staked_before(options, walrus, &node_id).await?) {
                options.walrus(walrus, &["stake", "--node", &node_id, "--amount", &options.stake, "--yes"]).await?;
            }
            nodes[i].staked = true;
            record(dir, nodes)?;
        }
    }
    Ok(())
}

/// The node an earlier attempt registered with the protocol key in `keys`, if that attempt
/// got as far as generating it: one of the wallet's `NodeCap`s with that key.
async fn registered_before(options: &SuiOptions, walrus: &Path, keys: &Path) -> anyhow::Result<Option<String>> {
    let path = keys.join(walrus_node::keys::PROTOCOL_KEY_FILE);
    if !path.exists() {
        return Ok(None);
    }
    let key = format!("0x{}", hex::encode(walrus_node::keys::load_protocol_key(&path)?.public_key()));
    let listed = options.walrus(walrus, &["node", "list"]).await?;
    let nodes = listed["nodes"].as_array().into_iter().flatten();
    Ok(nodes.filter(|n| n["publicKey"] == key.as_str()).find_map(|n| n["nodeId"].as_str()).map(str::to_owned))
}

/// Whether the wallet holds a stake with `node_id` (the testbed's, as the node is its own).
async fn staked_before(options: &SuiOptions, walrus: &Path, node_id: &str) -> anyhow::Result<bool> {
    let stakes = options.walrus(walrus, &["stakes"]).await?;
    Ok(stakes["stakes"].as_array().into_iter().flatten().any(|s| s["nodeId"] == node_id))
}

/// What the user does next, and where everything is.
pub fn announce(description: &Value, options: &SuiOptions, dir: &Path) {
    let nodes = description["nodes"].as_array().cloned().unwrap_or_default();
    println!(
        "walrus-testbed: ready on Sui: {} nodes registered and staked, following {}",
        nodes.len(),
        options.source()
    );
    for node in &nodes {
        println!(
            "  {:<9} {} (node ID {})",
            node["name"].as_str().unwrap_or("?"),
            node["url"].as_str().unwrap_or("?"),
            node["node_id"].as_str().unwrap_or("?")
        );
    }
    match description["indexer_url"].as_str() {
        Some(url) => println!("  indexer   {url}"),
        None => println!("  indexer   not running (needs PostgreSQL at DATABASE_URL)"),
    }
    println!("  testbed   {}", dir.join("testbed.json").display());
    println!("  logs      {}", dir.join("logs").display());
    let deployment = path_arg(&options.deployment);
    println!("Next: the nodes join the committee selected at the next epoch change. When the clock allows:");
    println!("  walrus epoch-change voting-end --deployment {deployment} --yes");
    println!("  walrus epoch-change initiate --deployment {deployment} --yes");
    println!("then store: walrus store FILE --epochs 1 --deployment {deployment}");
    println!("Ctrl-C stops the nodes (they stay registered; `up --sui` on this folder resumes them).");
}

/// The Sui part of `testbed.json`.
pub fn describe(options: &SuiOptions, network: &Network) -> Value {
    json!({
        "full_node": options.url,
        "checkpoints": options.source(),
        "deployment": options.deployment,
        "package_id": network.deployment.walrus.package.to_string(),
        "wallet": network.wallet,
        "epoch": network.staking.epoch,
    })
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}
