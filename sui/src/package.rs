//! The publish payload of a Move package, as `node scripts/move.mjs build --out DIR` writes it
//! in the shape `sui move build --dump-bytecode-as-base64` prints
//! (`{"modules": [base64…], "dependencies": ["0x…", …], "digest": [32 numbers]}`), and Sui's
//! package digest, checked on load so that a payload edited or mixed up by hand is refused
//! before anything is signed.

use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use fastcrypto::hash::{Blake2b256, HashFunction};
use serde::Deserialize;
use sui_sdk_types::Address;

/// What a `Publish` (or `Upgrade`) command carries, and the digest that authorises an upgrade.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageBuild {
    /// The compiled modules, in dependency order.
    pub modules: Vec<Vec<u8>>,
    /// The IDs of every package the modules link against, transitively (`0x1`, `0x2`, …).
    pub dependencies: Vec<Address>,
    /// Sui's digest of `modules` and `dependencies` ([`package_digest`]).
    pub digest: [u8; 32],
}

/// Why a publish payload cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    // The I/O error is part of the message, not a `source`: a report would print it twice.
    #[error("cannot read {}: {error}", path.display())]
    Read { path: PathBuf, error: std::io::Error },
    #[error("not a package build (expected {{\"modules\", \"dependencies\", \"digest\"}}): {0}")]
    Format(String),
    #[error(
        "its digest {recorded} is not Sui's digest of its modules and dependencies ({computed}): the file was \
         changed after the build"
    )]
    Digest { recorded: String, computed: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Dump {
    modules: Vec<String>,
    dependencies: Vec<String>,
    digest: Vec<u8>,
}

impl PackageBuild {
    /// Reads a payload written by `move.mjs build --out` (or `sui move build
    /// --dump-bytecode-as-base64`), refusing it unless its digest is its contents' digest.
    pub fn read(path: &Path) -> Result<Self, PackageError> {
        let text = std::fs::read_to_string(path).map_err(|error| PackageError::Read { path: path.into(), error })?;
        Self::from_json(&text)
    }

    /// [`PackageBuild::read`] from the JSON text.
    pub fn from_json(text: &str) -> Result<Self, PackageError> {
        let dump: Dump = serde_json::from_str(text).map_err(|e| PackageError::Format(e.to_string()))?;
        if dump.modules.is_empty() {
            return Err(PackageError::Format("no modules".into()));
        }
        let modules = dump
            .modules
            .iter()
            .enumerate()
            .map(|(i, m)| {
                STANDARD.decode(m).map_err(|e| PackageError::Format(format!("module {i} is not base64: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let dependencies = dump
            .dependencies
            .iter()
            .map(|d| d.parse::<Address>().map_err(|e| PackageError::Format(format!("dependency {d:?}: {e}"))))
            .collect::<Result<Vec<_>, _>>()?;
        let digest: [u8; 32] = dump
            .digest
            .try_into()
            .map_err(|d: Vec<u8>| PackageError::Format(format!("the digest has {} bytes, not 32", d.len())))?;
        let computed = package_digest(&modules, &dependencies);
        if computed != digest {
            return Err(PackageError::Digest { recorded: hex::encode(digest), computed: hex::encode(computed) });
        }
        Ok(Self { modules, dependencies, digest })
    }
}

/// Sui's package digest, as its `MovePackage::compute_digest_for_modules_and_deps` computes it
/// for builds and upgrade tickets: the Blake2b-256 hash of each module and each 32-byte
/// dependency ID, these 32-byte pieces sorted bytewise and hashed together with Blake2b-256.
/// Sorting makes the order of modules and of dependencies irrelevant; hashing each module
/// first keeps module boundaries (concatenated raw modules could collide).
pub fn package_digest(modules: &[Vec<u8>], dependencies: &[Address]) -> [u8; 32] {
    let mut pieces: Vec<[u8; 32]> = modules.iter().map(|m| Blake2b256::digest(m).digest).collect();
    pieces.extend(dependencies.iter().map(|d| d.into_inner()));
    pieces.sort_unstable();
    let mut hasher = Blake2b256::default();
    for piece in &pieces {
        hasher.update(piece);
    }
    hasher.finalize().digest
}
