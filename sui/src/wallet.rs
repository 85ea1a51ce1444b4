//! Which key signs: one from the Sui CLI's keystore, chosen by `--address`, else the keystore's
//! only key, else the Sui CLI's active address (`active_address` in the `client.yaml` next to
//! the keystore), as `sui client` itself would sign.

use std::path::{Path, PathBuf};

use sui_sdk_types::Address;

use crate::keys::{KeyError, Keystore, SuiKey};

/// Why no key was chosen.
#[derive(Debug, thiserror::Error)]
pub enum WalletError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("no home directory to find ~/.sui/sui_config/sui.keystore in: pass --keystore")]
    NoHome,
    #[error("{} holds no Ed25519 key (create one with `sui client new-address ed25519`)", path.display())]
    Empty { path: PathBuf },
    #[error("{} holds {} keys and names no active address: choose one with --address ({})", path.display(), addresses.len(), addresses.join(", "))]
    Ambiguous { path: PathBuf, addresses: Vec<String> },
}

/// The Sui CLI's keystore, `~/.sui/sui_config/sui.keystore`.
pub fn default_keystore() -> Result<PathBuf, WalletError> {
    let home = std::env::var_os("HOME").filter(|h| !h.is_empty()).ok_or(WalletError::NoHome)?;
    Ok(Path::new(&home).join(".sui/sui_config/sui.keystore"))
}

/// The key [`select`] chooses in the keystore at `path`, or in the Sui CLI's without one.
pub fn key(path: Option<&Path>, address: Option<Address>) -> Result<SuiKey, WalletError> {
    match path {
        Some(path) => select(path, address),
        None => select(&default_keystore()?, address),
    }
}

/// The key of `address` in the keystore at `path`, or, without an address, its only key or the
/// Sui CLI's active address.
pub fn select(path: &Path, address: Option<Address>) -> Result<SuiKey, WalletError> {
    let keystore = Keystore::read(path)?;
    if let Some(address) = address {
        return Ok(keystore.find(&address)?);
    }
    let keys = keystore.keys();
    match keys.as_slice() {
        [] => Err(WalletError::Empty { path: path.into() }),
        [key] => Ok(key.clone()),
        _ => match active_address(path) {
            Some(active) => Ok(keystore.find(&active)?),
            None => Err(WalletError::Ambiguous {
                path: path.into(),
                addresses: keys.iter().map(|k| k.address().to_string()).collect(),
            }),
        },
    }
}

/// `active_address` of the `client.yaml` beside the keystore, if it names one. The file is
/// flat YAML the Sui CLI writes; the one line is read without a YAML parser.
fn active_address(keystore: &Path) -> Option<Address> {
    let text = std::fs::read_to_string(keystore.with_file_name("client.yaml")).ok()?;
    let value = text.lines().find_map(|l| l.strip_prefix("active_address:"))?;
    value.trim().trim_matches(|c| c == '"' || c == '\'').parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keystore(dir: &Path, keys: &[&SuiKey]) -> PathBuf {
        let path = dir.join("sui.keystore");
        let mut store = Keystore::new(&path);
        for key in keys {
            store.add(key);
        }
        store.write().unwrap();
        path
    }

    #[test]
    fn the_only_key_the_named_one_or_the_active_one_is_chosen() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (SuiKey::generate(), SuiKey::generate());
        let one = keystore(dir.path(), &[&a]);
        assert_eq!(select(&one, None).unwrap(), a);
        let err = select(&one, Some(b.address())).unwrap_err();
        assert!(err.to_string().contains(&a.address().to_string()), "the error lists the keys there: {err}");

        let two = keystore(dir.path(), &[&a, &b]);
        let err = select(&two, None).unwrap_err();
        assert!(matches!(err, WalletError::Ambiguous { .. }), "{err}");
        assert!(err.to_string().contains("--address"), "{err}");
        assert_eq!(select(&two, Some(b.address())).unwrap(), b);
        let yaml = format!("keystore:\n  File: {}\nactive_address: \"{}\"\n", two.display(), b.address());
        std::fs::write(dir.path().join("client.yaml"), yaml).unwrap();
        assert_eq!(select(&two, None).unwrap(), b);
    }

    #[test]
    fn a_missing_or_empty_keystore_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let err = select(&dir.path().join("none.keystore"), None).unwrap_err();
        assert!(err.to_string().contains("none.keystore"), "{err}");
        let empty = keystore(dir.path(), &[]);
        assert!(matches!(select(&empty, None), Err(WalletError::Empty { .. })));
    }
}
