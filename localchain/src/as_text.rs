//! Byte strings in JSON and TOML: base64 (HTTP bodies, recorded calls), base64url (blob IDs,
//! root hashes) and hex (the genesis file, as `walrus-node keygen` prints keys).

/// Standard base64.
pub mod base64 {
    use ::base64::engine::general_purpose::STANDARD;
    use ::base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        STANDARD.decode(text.trim()).map_err(|e| serde::de::Error::custom(format!("invalid base64: {e}")))
    }
}

/// 32 bytes (a root hash) as base64url without padding, as blob IDs are written.
pub mod url32 {
    use ::base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use ::base64::Engine;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&URL_SAFE_NO_PAD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(deserializer)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    pub fn parse(text: &str) -> Result<[u8; 32], String> {
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|e| format!("{text:?} is not base64url: {e}"))?;
        bytes.try_into().map_err(|b: Vec<u8>| format!("{text:?} is {} bytes, not 32", b.len()))
    }
}

/// A blob ID as base64url, both ways (walrus-chain's `BlobId` only writes it so).
pub mod blob_id {
    use serde::{Deserializer, Serializer};
    use walrus_chain::events::BlobId;

    pub fn serialize<S: Serializer>(id: &BlobId, serializer: S) -> Result<S::Ok, S::Error> {
        super::url32::serialize(&id.0, serializer)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<BlobId, D::Error> {
        super::url32::deserialize(deserializer).map(BlobId)
    }
}

/// Bytes as hex (an optional `0x` accepted), as `walrus-node keygen` prints keys and proofs.
pub mod hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&::hex::encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(deserializer)?;
        let digits = text.trim().trim_start_matches("0x");
        ::hex::decode(digits).map_err(|e| serde::de::Error::custom(format!("invalid hex {text:?}: {e}")))
    }
}
