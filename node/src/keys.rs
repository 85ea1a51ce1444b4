//! The node's keys. The BLS12-381 (min-pk) protocol key signs confirmations and attestations
//! and is registered on chain with a proof of possession; the P-256 network key is the one
//! clients pin for TLS. Both are kept as base64 of their 32 secret bytes, in files only the
//! owner can read.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use fastcrypto::bls12381::min_pk::{BLS12381KeyPair, BLS12381PrivateKey};
use fastcrypto::secp256r1::{Secp256r1KeyPair, Secp256r1PrivateKey};
use fastcrypto::traits::{KeyPair, Signer, ToFromBytes};
use rand::rngs::StdRng;
use rand::SeedableRng;

use walrus_chain::messages;

/// File names inside a key directory.
pub const PROTOCOL_KEY_FILE: &str = "protocol.key";
pub const NETWORK_KEY_FILE: &str = "network.key";

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("{path}: not a key: {reason}")]
    Malformed { path: PathBuf, reason: String },
    #[error("{path}: readable by others (mode {mode:o}); run chmod 600 on it")]
    TooOpen { path: PathBuf, mode: u32 },
}

/// The BLS12-381 key that signs everything the node attests.
pub struct ProtocolKey(BLS12381KeyPair);

impl ProtocolKey {
    pub fn from_secret(secret: &[u8]) -> Result<Self, String> {
        BLS12381PrivateKey::from_bytes(secret).map(|sk| Self(sk.into())).map_err(|e| e.to_string())
    }

    pub fn public_key(&self) -> [u8; 48] {
        self.0.public().as_bytes().try_into().expect("min-pk public keys are 48 bytes")
    }

    /// A BLS signature (96 bytes) over `message` as it is, with the standard min-pk DST.
    pub fn sign(&self, message: &[u8]) -> [u8; 96] {
        self.0.sign(message).as_bytes().try_into().expect("min-pk signatures are 96 bytes")
    }

    /// The proof of possession `register_candidate` checks for a node registered by `sender`
    /// in `epoch`.
    pub fn proof_of_possession(&self, epoch: u32, sender: &[u8; 32]) -> [u8; 96] {
        self.sign(&messages::proof_of_possession(epoch, sender, &self.public_key()))
    }
}

/// The P-256 key of the node's TLS identity.
pub struct NetworkKey(Secp256r1KeyPair);

impl NetworkKey {
    /// The 33-byte compressed public key, as the contract stores it.
    pub fn public_key(&self) -> Vec<u8> {
        self.0.public().as_bytes().to_vec()
    }

    fn from_secret(secret: &[u8]) -> Result<Self, String> {
        Secp256r1PrivateKey::from_bytes(secret).map(|sk| Self(sk.into())).map_err(|e| e.to_string())
    }
}

/// Writes a fresh pair of keys into `dir`, never overwriting one that exists.
pub fn generate(dir: &Path) -> Result<(ProtocolKey, NetworkKey), KeyError> {
    fs::create_dir_all(dir).map_err(|source| KeyError::Io { path: dir.to_owned(), source })?;
    let mut rng = StdRng::from_entropy();
    let protocol_secret = BLS12381KeyPair::generate(&mut rng).private().as_bytes().to_vec();
    let network_secret = Secp256r1KeyPair::generate(&mut rng).private().as_bytes().to_vec();
    let generated = |reason| KeyError::Malformed { path: dir.to_owned(), reason };
    let protocol = ProtocolKey::from_secret(&protocol_secret).map_err(generated)?;
    let network = NetworkKey::from_secret(&network_secret).map_err(generated)?;
    write_secret(&dir.join(PROTOCOL_KEY_FILE), &protocol_secret)?;
    write_secret(&dir.join(NETWORK_KEY_FILE), &network_secret)?;
    Ok((protocol, network))
}

fn write_secret(path: &Path, secret: &[u8]) -> Result<(), KeyError> {
    let io = |source| KeyError::Io { path: path.to_owned(), source };
    let mut file = OpenOptions::new().write(true).create_new(true).mode(0o600).open(path).map_err(io)?;
    file.write_all(STANDARD.encode(secret).as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Reads a secret written by [`generate`], refusing files that others can read.
fn read_secret(path: &Path) -> Result<Vec<u8>, KeyError> {
    let io = |source| KeyError::Io { path: path.to_owned(), source };
    let mode = fs::metadata(path).map_err(io)?.permissions().mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(KeyError::TooOpen { path: path.to_owned(), mode });
    }
    let text = fs::read_to_string(path).map_err(io)?;
    STANDARD.decode(text.trim()).map_err(|e| KeyError::Malformed { path: path.to_owned(), reason: e.to_string() })
}

/// Loads the protocol key from a file written by [`generate`].
pub fn load_protocol_key(path: &Path) -> Result<ProtocolKey, KeyError> {
    ProtocolKey::from_secret(&read_secret(path)?)
        .map_err(|reason| KeyError::Malformed { path: path.to_owned(), reason })
}

/// Loads the network key from a file written by [`generate`].
pub fn load_network_key(path: &Path) -> Result<NetworkKey, KeyError> {
    NetworkKey::from_secret(&read_secret(path)?).map_err(|reason| KeyError::Malformed { path: path.to_owned(), reason })
}
