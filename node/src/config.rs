//! `walrus-node run` settings: a TOML file, each setting overridable by a flag or its
//! environment variable (flags and variables win over the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use sui_sdk_types::Address;

use crate::chain::ObjectId;

/// The settings as a file or the command line may give them, every one optional.
#[derive(Debug, Default, Deserialize, clap::Args)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Directory of the node's database.
    #[arg(long, env = "WALRUS_NODE_STORAGE_DIR")]
    pub storage_dir: Option<PathBuf>,
    /// The protocol key file written by `walrus-node keygen`.
    #[arg(long, env = "WALRUS_NODE_PROTOCOL_KEY")]
    pub protocol_key: Option<PathBuf>,
    /// The operator's node object (its `StakingPool` ID), `0x` + 64 hex digits.
    #[arg(long, env = "WALRUS_NODE_NODE_ID")]
    pub node_id: Option<String>,
    /// The Walrus package whose events the node follows, `0x` + 64 hex digits.
    #[arg(long, env = "WALRUS_NODE_PACKAGE_ID")]
    pub package_id: Option<String>,
    /// Address the API listens on.
    #[arg(long, env = "WALRUS_NODE_LISTEN_ADDRESS")]
    pub listen_address: Option<SocketAddr>,
    /// The longest a confirmation request may wait for registration (`wait_millis` is capped).
    #[arg(long, env = "WALRUS_NODE_LONG_POLL_MAX_MILLIS")]
    pub long_poll_max_millis: Option<u64>,
    /// Where checkpoints come from: grpc+http(s)://HOST:PORT (a Sui full node), dir:PATH
    /// (`<sequence>.binpb.zst` or `<sequence>.chk` files, picked up as they appear) or
    /// https://HOST (a checkpoint store with the same file names).
    #[arg(long, env = "WALRUS_NODE_CHECKPOINTS")]
    pub checkpoints: Option<String>,
    /// The checkpoint to start following at when the store is new (later runs resume after
    /// the stored watermark). Default 0: the node needs the package's events from its start.
    #[arg(long, env = "WALRUS_NODE_FIRST_CHECKPOINT")]
    pub first_checkpoint: Option<u64>,
    /// How often to look again for a checkpoint the source does not have yet.
    #[arg(long, env = "WALRUS_NODE_CHECKPOINT_POLL_MILLIS")]
    pub checkpoint_poll_millis: Option<u64>,
    /// Report shards in place (`epoch_sync_done`) through a Sui full node: the deployment
    /// file `walrus publish walrus` wrote. Without it or --local-chain the node only logs that
    /// it would report.
    #[arg(long, env = "WALRUS_NODE_DEPLOYMENT", help_heading = "Reporting sync-done")]
    pub deployment: Option<PathBuf>,
    /// The full node's gRPC URL for reports (default: the deployment file's `full_node`).
    #[arg(long, env = "WALRUS_NODE_SUI", help_heading = "Reporting sync-done")]
    pub sui: Option<String>,
    /// The Sui CLI keystore holding the operator's key (default:
    /// ~/.sui/sui_config/sui.keystore).
    #[arg(long, env = "WALRUS_NODE_KEYSTORE", help_heading = "Reporting sync-done")]
    pub keystore: Option<PathBuf>,
    /// The operator's address, `0x` + 64 hex digits: with --deployment the key that signs
    /// (default: the keystore's only key, else the Sui CLI's active address); with
    /// --local-chain the sender (required).
    #[arg(long, env = "WALRUS_NODE_ADDRESS", help_heading = "Reporting sync-done")]
    pub address: Option<String>,
    /// The operator's `NodeCap` object (default: the wallet's cap of this node).
    #[arg(long, env = "WALRUS_NODE_NODE_CAP", help_heading = "Reporting sync-done")]
    pub node_cap: Option<String>,
    /// Report to the testbed's local chain at this URL (`http://HOST:PORT`) instead.
    #[arg(long, env = "WALRUS_NODE_LOCAL_CHAIN", help_heading = "Reporting sync-done")]
    pub local_chain: Option<String>,
}

/// Where `epoch_sync_done` reports go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportConfig {
    /// Nowhere: logged only.
    Log,
    /// A Sui full node, signed with the operator's key.
    Sui {
        deployment: PathBuf,
        full_node: Option<String>,
        keystore: Option<PathBuf>,
        address: Option<Address>,
        node_cap: Option<Address>,
    },
    /// The testbed's local chain, sent as `operator`.
    LocalChain { url: String, operator: Address },
}

/// Complete settings, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub storage_dir: PathBuf,
    pub protocol_key: PathBuf,
    pub node_id: ObjectId,
    pub package_id: ObjectId,
    pub listen_address: SocketAddr,
    pub long_poll_max: Duration,
    pub checkpoints: String,
    pub first_checkpoint: u64,
    pub checkpoint_poll: Duration,
    pub report: ReportConfig,
}

/// Walrus's port for the node API.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:9185";
const DEFAULT_LONG_POLL_MAX_MILLIS: u64 = 10_000;
const DEFAULT_CHECKPOINT_POLL_MILLIS: u64 = 250;

impl Settings {
    /// Reads a TOML file of settings.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        toml::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }

    /// Takes each setting from `self` if given, else from `file`, then checks them all.
    pub fn over(self, file: Settings) -> anyhow::Result<Config> {
        let missing = |name: &str| {
            anyhow::anyhow!("the setting {name} is missing (flag --{}, or the config file)", name.replace('_', "-"))
        };
        let object = |value: Option<String>, name: &str| -> anyhow::Result<ObjectId> {
            value.ok_or_else(|| missing(name))?.parse().map_err(|e: String| anyhow::anyhow!("{name}: {e}"))
        };
        let report = report_config(
            self.deployment.or(file.deployment),
            self.sui.or(file.sui),
            self.keystore.or(file.keystore),
            self.address.or(file.address),
            self.node_cap.or(file.node_cap),
            self.local_chain.or(file.local_chain),
        )?;
        Ok(Config {
            report,
            storage_dir: self.storage_dir.or(file.storage_dir).ok_or_else(|| missing("storage_dir"))?,
            protocol_key: self.protocol_key.or(file.protocol_key).ok_or_else(|| missing("protocol_key"))?,
            node_id: object(self.node_id.or(file.node_id), "node_id")?,
            package_id: object(self.package_id.or(file.package_id), "package_id")?,
            listen_address: self
                .listen_address
                .or(file.listen_address)
                .unwrap_or_else(|| DEFAULT_LISTEN.parse().expect("valid default address")),
            long_poll_max: Duration::from_millis(
                self.long_poll_max_millis.or(file.long_poll_max_millis).unwrap_or(DEFAULT_LONG_POLL_MAX_MILLIS),
            ),
            checkpoints: self.checkpoints.or(file.checkpoints).ok_or_else(|| missing("checkpoints"))?,
            first_checkpoint: self.first_checkpoint.or(file.first_checkpoint).unwrap_or(0),
            checkpoint_poll: Duration::from_millis(
                self.checkpoint_poll_millis
                    .or(file.checkpoint_poll_millis)
                    .unwrap_or(DEFAULT_CHECKPOINT_POLL_MILLIS)
                    .max(1),
            ),
        })
    }
}

/// Checks the reporting settings: one chain at most, and nothing that only one of them takes
/// given to the other.
fn report_config(
    deployment: Option<PathBuf>,
    sui: Option<String>,
    keystore: Option<PathBuf>,
    address: Option<String>,
    node_cap: Option<String>,
    local_chain: Option<String>,
) -> anyhow::Result<ReportConfig> {
    let parse = |name: &str, value: Option<String>| -> anyhow::Result<Option<Address>> {
        value
            .map(|v| v.parse::<ObjectId>().map(|id| Address::new(id.0)).map_err(|e| anyhow::anyhow!("{name}: {e}")))
            .transpose()
    };
    let operator = parse("address", address)?;
    let node_cap = parse("node_cap", node_cap)?;
    match (deployment, local_chain) {
        (Some(_), Some(_)) => anyhow::bail!("deployment and local_chain are two places to report to: give one"),
        (Some(deployment), None) => {
            Ok(ReportConfig::Sui { deployment, full_node: sui, keystore, address: operator, node_cap })
        }
        (None, local_chain) => {
            let sui_only = [("sui", sui.is_some()), ("keystore", keystore.is_some()), ("node_cap", node_cap.is_some())];
            if let Some((name, _)) = sui_only.iter().find(|(_, given)| *given) {
                anyhow::bail!("{name} is for reporting through a Sui full node: it needs deployment");
            }
            match (local_chain, operator) {
                (Some(url), Some(operator)) => Ok(ReportConfig::LocalChain { url, operator }),
                (Some(_), None) => anyhow::bail!("local_chain needs address, the operator who sends the report"),
                (None, Some(_)) => {
                    anyhow::bail!("address names the operator who reports: it needs deployment or local_chain")
                }
                (None, None) => Ok(ReportConfig::Log),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0x0000000000000000000000000000000000000000000000000000000000000001";

    #[test]
    fn flags_win_over_the_file_and_defaults_fill_in() {
        let file: Settings = toml::from_str(&format!(
            "storage_dir = \"/a\"\nprotocol_key = \"/k\"\nnode_id = \"{ID}\"\npackage_id = \"{ID}\"\nlisten_address = \"127.0.0.1:1\"\ncheckpoints = \"dir:/c\""
        ))
        .unwrap();
        let flags = Settings { storage_dir: Some("/b".into()), ..Settings::default() };
        let config = flags.over(file).unwrap();
        assert_eq!(config.storage_dir, PathBuf::from("/b"));
        assert_eq!(config.listen_address, "127.0.0.1:1".parse().unwrap());
        assert_eq!(config.long_poll_max, Duration::from_millis(DEFAULT_LONG_POLL_MAX_MILLIS));
        assert_eq!((config.checkpoints.as_str(), config.first_checkpoint), ("dir:/c", 0));
    }

    #[test]
    fn missing_and_malformed_settings_are_named() {
        let err = Settings::default().over(Settings::default()).unwrap_err().to_string();
        assert!(err.contains("storage_dir"), "{err}");
        let bad = Settings {
            storage_dir: Some("/a".into()),
            protocol_key: Some("/k".into()),
            node_id: Some("0x12".into()),
            package_id: Some(ID.into()),
            ..Settings::default()
        };
        let err = bad.over(Settings::default()).unwrap_err().to_string();
        assert!(err.contains("node_id"), "{err}");
        assert!(toml::from_str::<Settings>("unknown = 1").is_err());
    }

    #[test]
    fn reporting_goes_to_one_chain_or_is_only_logged() {
        let base = || Settings {
            storage_dir: Some("/a".into()),
            protocol_key: Some("/k".into()),
            node_id: Some(ID.into()),
            package_id: Some(ID.into()),
            checkpoints: Some("dir:/c".into()),
            ..Settings::default()
        };
        assert_eq!(base().over(Settings::default()).unwrap().report, ReportConfig::Log);
        let file: Settings = toml::from_str(&format!("deployment = \"/d.toml\"\naddress = \"{ID}\"")).unwrap();
        let sui = base().over(file).unwrap().report;
        let operator = Address::new(ID.parse::<ObjectId>().unwrap().0);
        assert_eq!(
            sui,
            ReportConfig::Sui {
                deployment: "/d.toml".into(),
                full_node: None,
                keystore: None,
                address: Some(operator),
                node_cap: None
            }
        );
        let local = Settings { local_chain: Some("http://127.0.0.1:1".into()), address: Some(ID.into()), ..base() };
        assert_eq!(
            local.over(Settings::default()).unwrap().report,
            ReportConfig::LocalChain { url: "http://127.0.0.1:1".into(), operator }
        );
        let refused = [
            (Settings { local_chain: Some("http://x".into()), ..base() }, "needs address"),
            (Settings { local_chain: Some("http://x".into()), deployment: Some("/d".into()), ..base() }, "give one"),
            (Settings { keystore: Some("/k".into()), ..base() }, "keystore"),
            (Settings { address: Some(ID.into()), ..base() }, "needs deployment or local_chain"),
            (Settings { deployment: Some("/d".into()), node_cap: Some("0x1".into()), ..base() }, "node_cap"),
        ];
        for (settings, expected) in refused {
            let err = settings.over(Settings::default()).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
        }
    }
}
