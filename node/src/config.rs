//! `walrus-node run` settings: a TOML file, each setting overridable by a flag or its
//! environment variable (flags and variables win over the file).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

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
        Ok(Config {
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
}
