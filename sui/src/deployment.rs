//! The deployment file: where `move/wal` and `move/walrus` live on a Sui network and which full
//! node to ask. `walrus publish` writes it; every other Sui command reads it. TOML:
//!
//! ```toml
//! full_node = "https://fullnode.testnet.sui.io:443"
//! wal_package = "0x…"
//! walrus_package = "0x…"
//! wal_coin_type = "0x…::wal::WAL"
//!
//! [system]
//! id = "0x…"
//! initial_shared_version = 3
//!
//! [staking]
//! id = "0x…"
//! initial_shared_version = 3
//! ```

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sui_sdk_types::Address;

use crate::transactions::{SharedObject, Walrus};

/// Why a deployment file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum DeploymentError {
    // The I/O error is part of the message, not a `source`: a report would print it twice.
    #[error("cannot read the deployment file {}: {error} (`walrus publish` writes one)", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    #[error("{} is not a deployment file: {reason}", path.display())]
    Format { path: PathBuf, reason: String },
    #[error("{} already exists; a deployment file is never overwritten", path.display())]
    Exists { path: PathBuf },
    #[error("cannot write the deployment file {}: {error}", path.display())]
    Write { path: PathBuf, error: std::io::Error },
}

/// A deployment of the two packages and the shared objects `init::initialize_walrus` created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deployment {
    /// The gRPC URL of the full node the commands use (`--sui` overrides it).
    pub full_node: String,
    pub wal_package: Address,
    pub walrus: Walrus,
}

/// The file as written: addresses as `0x…` strings, so that errors can name the bad field.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    full_node: String,
    wal_package: String,
    walrus_package: String,
    wal_coin_type: String,
    system: SharedFile,
    staking: SharedFile,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SharedFile {
    id: String,
    initial_shared_version: u64,
}

impl Deployment {
    /// The WAL coin's Move type, `0x…::wal::WAL`.
    pub fn wal_type(&self) -> String {
        wal_type(self.wal_package)
    }

    /// The type of a WAL coin object, `0x2::coin::Coin<0x…::wal::WAL>`.
    pub fn wal_coin(&self) -> String {
        format!("0x2::coin::Coin<{}>", self.wal_type())
    }

    /// The Move type `walrus::module::name` of this deployment.
    pub fn walrus_type(&self, module: &str, name: &str) -> String {
        format!("{}::{module}::{name}", self.walrus.package)
    }

    pub fn read(path: &Path) -> Result<Self, DeploymentError> {
        let text = std::fs::read_to_string(path).map_err(|error| DeploymentError::Read { path: path.into(), error })?;
        Self::parse(&text).map_err(|reason| DeploymentError::Format { path: path.into(), reason })
    }

    fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let address = |field: &str, text: &str| {
            text.parse::<Address>().map_err(|_| format!("{field} = {text:?} is not a Sui object ID (0x + hex)"))
        };
        let shared = |field: &str, s: &SharedFile| -> Result<SharedObject, String> {
            Ok(SharedObject {
                id: address(&format!("{field}.id"), &s.id)?,
                initial_shared_version: s.initial_shared_version,
            })
        };
        let deployment = Self {
            full_node: file.full_node,
            wal_package: address("wal_package", &file.wal_package)?,
            walrus: Walrus {
                package: address("walrus_package", &file.walrus_package)?,
                system: shared("system", &file.system)?,
                staking: shared("staking", &file.staking)?,
            },
        };
        // The coin type is derived from the package; a file saying otherwise was mixed up.
        if deployment.wal_type() != normalize_type(&file.wal_coin_type) {
            return Err(format!(
                "wal_coin_type {:?} is not the WAL type of wal_package ({})",
                file.wal_coin_type,
                deployment.wal_type()
            ));
        }
        Ok(deployment)
    }

    /// Writes the file, refusing to replace one: it is the only record of a deployment.
    pub fn write_new(&self, path: &Path) -> Result<(), DeploymentError> {
        let shared =
            |s: &SharedObject| SharedFile { id: s.id.to_string(), initial_shared_version: s.initial_shared_version };
        let file = File {
            full_node: self.full_node.clone(),
            wal_package: self.wal_package.to_string(),
            walrus_package: self.walrus.package.to_string(),
            wal_coin_type: self.wal_type(),
            system: shared(&self.walrus.system),
            staking: shared(&self.walrus.staking),
        };
        let text = toml::to_string(&file).expect("the deployment serialises");
        let mut out = match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(out) => out,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(DeploymentError::Exists { path: path.into() })
            }
            Err(error) => return Err(DeploymentError::Write { path: path.into(), error }),
        };
        use std::io::Write as _;
        out.write_all(text.as_bytes())
            .and_then(|()| out.sync_all())
            .map_err(|error| DeploymentError::Write { path: path.into(), error })
    }
}

/// `0x…::wal::WAL` of the WAL package `package`.
pub fn wal_type(package: Address) -> String {
    format!("{package}::wal::WAL")
}

/// A type name with its address in full (`0xa1::wal::WAL` → `0x00…a1::wal::WAL`), so that
/// short and long spellings compare equal.
pub fn normalize_type(text: &str) -> String {
    match text.split_once("::") {
        Some((address, rest)) => match address.parse::<Address>() {
            Ok(address) => format!("{address}::{rest}"),
            Err(_) => text.to_owned(),
        },
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Deployment {
        Deployment {
            full_node: "http://127.0.0.1:9000".into(),
            wal_package: Address::from_static("0xa0"),
            walrus: Walrus {
                package: Address::new([0xa1; 32]),
                system: SharedObject { id: Address::new([0xb1; 32]), initial_shared_version: 3 },
                staking: SharedObject { id: Address::new([0xb2; 32]), initial_shared_version: 4 },
            },
        }
    }

    #[test]
    fn a_written_deployment_reads_back_and_is_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deployment.toml");
        sample().write_new(&path).unwrap();
        assert_eq!(Deployment::read(&path).unwrap(), sample());
        let again = sample().write_new(&path).unwrap_err();
        assert!(matches!(again, DeploymentError::Exists { .. }), "{again}");
    }

    #[test]
    fn bad_files_are_refused_with_the_field_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("deployment.toml");
        sample().write_new(&path).unwrap();
        let good = std::fs::read_to_string(&path).unwrap();

        let bad_id = good.replace(&Address::new([0xb2; 32]).to_string(), "0xnothex");
        assert!(Deployment::parse(&bad_id).unwrap_err().contains("staking.id = \"0xnothex\""));
        let wrong_coin = good.replace("::wal::WAL", "::wal::NOTWAL");
        assert!(Deployment::parse(&wrong_coin).unwrap_err().contains("is not the WAL type"));
        let short_coin = good.replace(&wal_type(Address::from_static("0xa0")), "0xa0::wal::WAL");
        assert_ne!(short_coin, good);
        assert_eq!(Deployment::parse(&short_coin).unwrap(), sample());
        assert!(Deployment::parse(&good.replace("full_node", "fullnode")).unwrap_err().contains("unknown field"));
        let missing = Deployment::read(&dir.path().join("none.toml")).unwrap_err();
        assert!(missing.to_string().contains("walrus publish"), "{missing}");
    }
}
