//! The user's Sui keys: the Sui CLI's keystore file (`sui.keystore`, a JSON array of Base64
//! `flag || private key` strings) and `suiprivkey1…` strings (Bech32, as `sui keytool export`
//! prints them). Ed25519 only; entries of other schemes are kept untouched when the keystore
//! is rewritten, so no key is ever lost. Nothing here prints or formats a secret: `Debug`
//! shows the address, errors never quote the key text, and only
//! [`SuiKey::export_suiprivkey`] gives the secret out, for a command that exports it.

use std::fmt;
use std::fs::{self, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use fastcrypto::encoding::Bech32;
use sui_crypto::ed25519::Ed25519PrivateKey;
use sui_sdk_types::{Address, Ed25519PublicKey};

/// Why a key or keystore cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{}: not a Sui keystore (a JSON array of Base64 keys): {reason}", path.display())]
    NotKeystore { path: PathBuf, reason: String },
    /// The text is not a key; `reason` never contains the text itself.
    #[error("not a Sui private key: {0}")]
    Malformed(String),
    #[error("the key is a {0} key; only Ed25519 keys are supported")]
    NotEd25519(String),
    #[error("no Ed25519 key for {address} in {}; it holds keys for: {}", path.display(), available.join(", "))]
    NotFound { address: Address, path: PathBuf, available: Vec<String> },
}

/// An Ed25519 Sui key. Sign with [`SuiKey::signer`] and `sui_crypto`'s `SuiSigner`.
#[derive(Clone, PartialEq, Eq)]
pub struct SuiKey(Ed25519PrivateKey);

impl fmt::Debug for SuiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("SuiKey").field(&self.address()).finish()
    }
}

/// The flag byte Sui puts before an Ed25519 key or public key.
const ED25519_FLAG: u8 = 0x00;
/// The human-readable part of Bech32 private keys.
const SUIPRIVKEY: &str = "suiprivkey";

impl SuiKey {
    /// A fresh key from the operating system's random source.
    pub fn generate() -> Self {
        Self(Ed25519PrivateKey::generate(rand::rngs::OsRng))
    }

    /// Parses a `suiprivkey1…` string (Bech32 of `flag || private key`).
    pub fn from_suiprivkey(text: &str) -> Result<Self, KeyError> {
        let payload = Bech32::decode(text.trim(), SUIPRIVKEY)
            .map_err(|_| KeyError::Malformed("not a suiprivkey1… string with a valid checksum".into()))?;
        let (flag, key) = payload.split_first().ok_or_else(|| KeyError::Malformed("empty".into()))?;
        Self::from_flagged(*flag, key)
    }

    /// Parses an entry of `sui.keystore` (Base64 of `flag || private key`).
    pub fn from_keystore_entry(text: &str) -> Result<Self, KeyError> {
        let bytes = STANDARD.decode(text.trim()).map_err(|_| KeyError::Malformed("not Base64".into()))?;
        let (flag, key) = bytes.split_first().ok_or_else(|| KeyError::Malformed("empty".into()))?;
        Self::from_flagged(*flag, key)
    }

    /// Parses either form: a `suiprivkey1…` string or a keystore entry.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        if text.trim().starts_with("suiprivkey") {
            Self::from_suiprivkey(text)
        } else {
            Self::from_keystore_entry(text)
        }
    }

    fn from_flagged(flag: u8, key: &[u8]) -> Result<Self, KeyError> {
        if flag != ED25519_FLAG {
            return Err(KeyError::NotEd25519(scheme_name(flag)));
        }
        let key: [u8; 32] = key
            .try_into()
            .map_err(|_| KeyError::Malformed(format!("an Ed25519 key has 32 bytes, this one {}", key.len())))?;
        Ok(Self(Ed25519PrivateKey::new(key)))
    }

    /// The account address: Blake2b-256 of the flag byte and the public key.
    pub fn address(&self) -> Address {
        self.public_key().derive_address()
    }

    pub fn public_key(&self) -> Ed25519PublicKey {
        self.0.public_key()
    }

    /// The key to sign with (`sui_crypto::SuiSigner::sign_transaction`).
    pub fn signer(&self) -> &Ed25519PrivateKey {
        &self.0
    }

    /// The secret as `suiprivkey1…`, for a command whose purpose is to export it.
    pub fn export_suiprivkey(&self) -> String {
        let payload = STANDARD.decode(self.keystore_entry()).expect("sui-crypto writes Base64");
        Bech32::encode(payload, SUIPRIVKEY).expect("a 33-byte payload always encodes")
    }

    /// The secret as a `sui.keystore` entry.
    fn keystore_entry(&self) -> String {
        self.0.to_base64()
    }
}

fn scheme_name(flag: u8) -> String {
    match flag {
        0x01 => "Secp256k1".into(),
        0x02 => "Secp256r1".into(),
        0x03 => "multisig".into(),
        0x05 => "zkLogin".into(),
        0x06 => "passkey".into(),
        other => format!("unknown (flag {other:#04x})"),
    }
}

/// The Sui CLI's keystore file: its entries kept verbatim, in order.
pub struct Keystore {
    path: PathBuf,
    entries: Vec<String>,
}

impl fmt::Debug for Keystore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keystore").field("path", &self.path).field("entries", &self.entries.len()).finish()
    }
}

impl Keystore {
    /// An empty keystore that [`Keystore::write`] will create at `path`.
    pub fn new(path: &Path) -> Self {
        Self { path: path.into(), entries: Vec::new() }
    }

    /// Reads a keystore. One that others can read is still read, with a warning: the Sui CLI
    /// itself often leaves its keystore at 0644, and refusing it would lock users out of their
    /// own keys. [`Keystore::write`] always makes the file private.
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io { path: path.into(), source };
        let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                "{} can be read by other users (mode {mode:o}); make it private with `chmod 600 {}`",
                path.display(),
                path.display()
            );
        }
        let text = fs::read_to_string(path).map_err(io)?;
        // serde_json's error names a position, never the text around it.
        let entries: Vec<String> = serde_json::from_str(&text)
            .map_err(|e| KeyError::NotKeystore { path: path.into(), reason: e.to_string() })?;
        Ok(Self { path: path.into(), entries })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The Ed25519 keys it holds (other entries are skipped).
    pub fn keys(&self) -> Vec<SuiKey> {
        self.entries.iter().filter_map(|e| SuiKey::from_keystore_entry(e).ok()).collect()
    }

    /// The key of `address`.
    pub fn find(&self, address: &Address) -> Result<SuiKey, KeyError> {
        let keys = self.keys();
        keys.iter().find(|k| k.address() == *address).cloned().ok_or_else(|| KeyError::NotFound {
            address: *address,
            path: self.path.clone(),
            available: keys.iter().map(|k| k.address().to_string()).collect(),
        })
    }

    /// Adds a key unless it is already there; says whether it was added.
    pub fn add(&mut self, key: &SuiKey) -> bool {
        if self.keys().contains(key) {
            return false;
        }
        self.entries.push(key.keystore_entry());
        true
    }

    /// Writes the keystore, readable by its owner only. The old file is replaced only once the
    /// new one is complete on disk, so a failure midway leaves the old one as it was.
    pub fn write(&self) -> Result<(), KeyError> {
        let dir = match self.path.parent() {
            Some(dir) if !dir.as_os_str().is_empty() => dir,
            _ => Path::new("."),
        };
        let Some(name) = self.path.file_name() else {
            let source = std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name");
            return Err(KeyError::Io { path: self.path.clone(), source });
        };
        let temp = dir.join(format!(".{}.{}.tmp", name.to_string_lossy(), std::process::id()));
        let text = serde_json::to_string_pretty(&self.entries).expect("strings serialise");
        let written = replace_privately(&temp, &self.path, dir, text.as_bytes());
        if written.is_err() {
            let _ = fs::remove_file(&temp);
        }
        written
    }
}

/// Writes `bytes` to a new owner-only `temp`, then renames it over `path` (in `dir`).
fn replace_privately(temp: &Path, path: &Path, dir: &Path, bytes: &[u8]) -> Result<(), KeyError> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| KeyError::Io { path, source }
    };
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(temp).map_err(io(temp))?;
    file.write_all(bytes).map_err(io(temp))?;
    file.sync_all().map_err(io(temp))?;
    fs::rename(temp, path).map_err(io(path))?;
    fs::File::open(dir).and_then(|d| d.sync_all()).map_err(io(dir))
}
