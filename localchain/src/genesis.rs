//! The genesis file (`genesis.toml`): the deployment's parameters, the WAL minted, and the
//! storage nodes with their keys, proofs of possession and stake. It becomes the transactions
//! of checkpoint 0: publish and initialise, register every node, stake with every node, and
//! the first epoch change.

use serde::{Deserialize, Serialize};
use sui_sdk_types::Address;

use crate::error::ChainError;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Genesis {
    /// Defaults to an address derived from the genesis itself.
    #[serde(default)]
    pub package_id: Option<Address>,
    /// Who publishes and initialises the package.
    #[serde(default = "Genesis::default_deployer")]
    pub deployer: Address,
    pub n_shards: u16,
    pub epoch_duration_ms: u64,
    #[serde(default = "Genesis::default_max_epochs_ahead")]
    pub max_epochs_ahead: u32,
    #[serde(default = "Genesis::default_max_committee_size")]
    pub max_committee_size: u16,
    /// Milliseconds since the Unix epoch of checkpoint 0 (and of epoch 1's start); defaults to
    /// the time the chain is created.
    #[serde(default)]
    pub genesis_time_ms: Option<u64>,
    #[serde(default)]
    pub balances: Vec<Balance>,
    pub nodes: Vec<NodeGenesis>,
}

/// WAL (in FROST) minted to an address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Balance {
    pub address: Address,
    pub amount: u64,
}

/// One storage node: what `register_candidate` takes, who sends it, and the stake it gets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeGenesis {
    pub name: String,
    pub network_address: String,
    /// BLS12-381 min-pk, 48 bytes compressed, hex.
    #[serde(with = "crate::as_text::hex")]
    pub public_key: Vec<u8>,
    /// Compressed secp256r1, 33 bytes, hex.
    #[serde(with = "crate::as_text::hex")]
    pub network_public_key: Vec<u8>,
    /// The BLS signature over `walrus_chain::messages::proof_of_possession(0, sender, public_key)`, hex.
    #[serde(with = "crate::as_text::hex")]
    pub proof_of_possession: Vec<u8>,
    /// The operator's address: it registers the node and holds its cap.
    pub sender: Address,
    #[serde(default)]
    pub commission_rate: u16,
    /// FROST staked with the node at genesis (at least 1 WAL).
    pub stake: u64,
    pub storage_price: u64,
    pub write_price: u64,
    /// Encoded bytes the node offers to store.
    pub node_capacity: u64,
}

impl Genesis {
    fn default_deployer() -> Address {
        Address::ZERO
    }

    fn default_max_epochs_ahead() -> u32 {
        53
    }

    fn default_max_committee_size() -> u16 {
        100
    }

    pub fn from_toml(text: &str) -> Result<Self, ChainError> {
        toml::from_str(text).map_err(|e| ChainError::BadInput(format!("genesis file: {e}")))
    }

    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a genesis is plain data")
    }
}
