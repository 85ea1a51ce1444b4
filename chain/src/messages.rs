//! The messages storage nodes sign with their BLS12-381 keys, byte for byte as the contracts
//! read them (Walrus's `ProtocolMessage`): intent type, intent version 0, app ID 3, the epoch
//! as u32 little-endian, then the body, with no prefix and no hash. Nodes sign them, clients
//! check and aggregate them, the local chain verifies them: all build them here.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub const INTENT_VERSION: u8 = 0;
/// The app ID of Walrus storage messages.
pub const APP_ID_STORAGE: u8 = 3;
/// Intent type, version, app ID and epoch.
pub const HEADER_LEN: usize = 7;

/// What a signed message says, and so how the contract reads its body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Intent {
    ProofOfPossession = 0,
    BlobCertification = 1,
    InvalidBlobId = 2,
}

/// A Sui object ID (or address): 32 bytes, written `0x` + 64 hex digits. In JSON and TOML it
/// is that text; in BCS the 32 bytes, as Move's `ID`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectId(pub [u8; 32]);

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "0x")?;
        self.0.iter().try_for_each(|byte| write!(f, "{byte:02x}"))
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl FromStr for ObjectId {
    type Err = String;

    /// Exactly `0x` and 64 hex digits, the form Walrus shows and its routes take.
    fn from_str(s: &str) -> Result<Self, String> {
        let digits = s.strip_prefix("0x").ok_or_else(|| format!("object ID {s:?} does not start with 0x"))?;
        let invalid = || format!("object ID {s:?} is not 0x and 64 hex digits");
        if digits.len() != 64 || !digits.is_ascii() {
            return Err(invalid());
        }
        let mut bytes = [0u8; 32];
        for (byte, pair) in bytes.iter_mut().zip(digits.as_bytes().chunks(2)) {
            let pair = std::str::from_utf8(pair).map_err(|_| invalid())?;
            *byte = u8::from_str_radix(pair, 16).map_err(|_| invalid())?;
        }
        Ok(Self(bytes))
    }
}

impl Serialize for ObjectId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            s.collect_str(self)
        } else {
            self.0.serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ObjectId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            String::deserialize(d)?.parse().map_err(serde::de::Error::custom)
        } else {
            <[u8; 32]>::deserialize(d).map(Self)
        }
    }
}

impl From<sui_sdk_types::Address> for ObjectId {
    fn from(address: sui_sdk_types::Address) -> Self {
        Self(address.into_inner())
    }
}

/// How a certified blob persists: a deletable blob's confirmation names its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    Permanent,
    Deletable(ObjectId),
}

pub fn header(intent: Intent, epoch: u32) -> Vec<u8> {
    let mut message = vec![intent as u8, INTENT_VERSION, APP_ID_STORAGE];
    message.extend_from_slice(&epoch.to_le_bytes());
    message
}

/// A node's confirmation that it holds its part of the blob (`blob_id`: the u256's 32 bytes,
/// little-endian, as blob IDs travel everywhere).
pub fn blob_certification(epoch: u32, blob_id: &[u8; 32], persistence: Persistence) -> Vec<u8> {
    let mut message = header(Intent::BlobCertification, epoch);
    message.extend_from_slice(blob_id);
    match persistence {
        Persistence::Permanent => message.push(0),
        Persistence::Deletable(object) => {
            message.push(1);
            message.extend_from_slice(&object.0);
        }
    }
    message
}

/// A node's attestation that `blob_id` is inconsistently encoded.
pub fn invalid_blob_id(epoch: u32, blob_id: &[u8; 32]) -> Vec<u8> {
    let mut message = header(Intent::InvalidBlobId, epoch);
    message.extend_from_slice(blob_id);
    message
}

/// What a new protocol key signs to prove its owner holds the secret: `sender` is the Sui
/// address registering the node, `public_key` the key's 48 compressed bytes.
pub fn proof_of_possession(epoch: u32, sender: &[u8; 32], public_key: &[u8]) -> Vec<u8> {
    let mut message = header(Intent::ProofOfPossession, epoch);
    message.extend_from_slice(sender);
    message.extend_from_slice(public_key);
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_ids_are_0x_and_64_hex_digits_in_text_and_32_bytes_in_bcs() {
        let text = format!("0x{}", "0a".repeat(32));
        let id: ObjectId = text.parse().unwrap();
        assert_eq!((id, id.to_string()), (ObjectId([10; 32]), text.clone()));
        for bad in ["0a".repeat(32), format!("0x{}", "0a".repeat(31)), format!("0x{}zz", "0a".repeat(31)), "0x".into()]
        {
            assert!(bad.parse::<ObjectId>().is_err(), "{bad}");
        }
        assert_eq!(bcs::to_bytes(&id).unwrap(), [10; 32]);
        assert_eq!(bcs::from_bytes::<ObjectId>(&[10; 32]).unwrap(), id);
    }

    #[test]
    fn messages_have_the_contracts_header_and_body() {
        let deletable = blob_certification(0x0102_0304, &[7; 32], Persistence::Deletable(ObjectId([9; 32])));
        assert_eq!(deletable[..HEADER_LEN], [1, 0, 3, 4, 3, 2, 1]);
        assert_eq!(
            (deletable[HEADER_LEN..39].to_vec(), deletable[39], &deletable[40..]),
            (vec![7; 32], 1, &[9; 32][..])
        );
        assert_eq!(blob_certification(5, &[7; 32], Persistence::Permanent)[39..], [0]);
        assert_eq!(invalid_blob_id(5, &[7; 32])[..3], [2, 0, 3]);
        let pop = proof_of_possession(5, &[1; 32], &[2; 48]);
        assert_eq!((pop[0], pop.len()), (0, HEADER_LEN + 32 + 48));
    }
}
