//! The testbed's deployment: fresh keys for every node and a wallet for the client, written
//! as the local chain's genesis file.

use std::path::Path;

use anyhow::Context;
use sui_sdk_types::Address;
use walrus_localchain::genesis::{Balance, Genesis, NodeGenesis};
use walrus_node::keys;

/// WAL the client's wallet starts with: a million WAL, in FROST.
const CLIENT_BALANCE: u64 = 1_000_000 * FROST_PER_WAL;
const FROST_PER_WAL: u64 = 1_000_000_000;
/// What every node votes for and stakes: equal, so that shards are spread evenly.
const NODE_STAKE: u64 = 1_000 * FROST_PER_WAL;
pub(crate) const STORAGE_PRICE: u64 = 100;
pub(crate) const WRITE_PRICE: u64 = 20;
pub(crate) const NODE_CAPACITY: u64 = 1 << 40;

/// One node as genesis registers it and as it will be run.
pub struct PlannedNode {
    pub name: String,
    pub port: u16,
    /// The interface it listens on: loopback unless others must reach it.
    pub listen_host: &'static str,
    pub dir: std::path::PathBuf,
}

impl PlannedNode {
    pub fn keys_dir(&self) -> std::path::PathBuf {
        self.dir.join("keys")
    }
}

/// Generates every node's keys (in `PlannedNode::keys_dir`, as `walrus-node keygen` does) and
/// returns the genesis registering them, with `client` funded.
pub fn generate(
    nodes: &[PlannedNode],
    n_shards: u16,
    epoch_duration_ms: u64,
    client: Address,
) -> anyhow::Result<Genesis> {
    let mut registrations = Vec::with_capacity(nodes.len());
    for node in nodes {
        let (protocol, network) =
            keys::generate(&node.keys_dir()).with_context(|| format!("generating the keys of {}", node.name))?;
        let operator = random_address();
        registrations.push(NodeGenesis {
            name: node.name.clone(),
            network_address: format!("127.0.0.1:{}", node.port),
            public_key: protocol.public_key().to_vec(),
            network_public_key: network.public_key(),
            proof_of_possession: protocol.proof_of_possession(0, &operator.into_inner()).to_vec(),
            sender: operator,
            commission_rate: 0,
            stake: NODE_STAKE,
            storage_price: STORAGE_PRICE,
            write_price: WRITE_PRICE,
            node_capacity: NODE_CAPACITY,
        });
    }
    Ok(Genesis {
        package_id: None,
        deployer: Address::ZERO,
        n_shards,
        epoch_duration_ms,
        max_epochs_ahead: 53,
        max_committee_size: nodes.len().try_into().context("too many nodes")?,
        genesis_time_ms: None,
        balances: vec![Balance { address: client, amount: CLIENT_BALANCE }],
        nodes: registrations,
    })
}

/// A fresh Sui address (the local chain checks no signatures, so no key is needed behind it).
pub fn random_address() -> Address {
    Address::new(rand::random())
}

pub fn write(genesis: &Genesis, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, genesis.to_toml()).with_context(|| format!("writing {}", path.display()))
}
