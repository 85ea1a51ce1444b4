//! Blob IDs: `H(encoding type || u64 length || root hash)`, shown as URL-safe base64.

use std::fmt;
use std::str::FromStr;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::hash::blake2b256;
use crate::merkle::Node;
use crate::metadata::EncodingType;

/// The 32 bytes that name a blob. On Sui it is a `u256` read little-endian from these bytes.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct BlobId(pub [u8; 32]);

impl BlobId {
    /// The ID that commits to a blob's metadata. The root enters as 32 raw bytes (no enum tag).
    pub fn from_root(encoding_type: EncodingType, unencoded_length: u64, root: &Node) -> Self {
        let mut input = [0u8; 41];
        input[0] = encoding_type as u8;
        input[1..9].copy_from_slice(&unencoded_length.to_le_bytes());
        input[9..].copy_from_slice(&root.bytes());
        BlobId(blake2b256(&input))
    }

    /// The decimal `u256` that Sui explorers show for this ID.
    pub fn to_u256_decimal(&self) -> String {
        // Divided by 10^19 at a time over 64-bit limbs: 19 digits a pass, where dividing the
        // bytes by 10 took a pass per digit (an indexer serving pages of blobs spent 15% of
        // its CPU here).
        const CHUNK: u128 = 10_000_000_000_000_000_000;
        let mut limbs = [0u64; 4]; // little-endian
        for (limb, bytes) in limbs.iter_mut().zip(self.0.chunks_exact(8)) {
            *limb = u64::from_le_bytes(bytes.try_into().expect("8 bytes"));
        }
        let mut chunks = Vec::with_capacity(5); // least significant first
        while limbs.iter().any(|&l| l != 0) {
            let mut rem = 0u128;
            for limb in limbs.iter_mut().rev() {
                let cur = (rem << 64) | u128::from(*limb);
                *limb = (cur / CHUNK) as u64;
                rem = cur % CHUNK;
            }
            chunks.push(rem as u64);
        }
        let Some((most, rest)) = chunks.split_last() else { return "0".to_owned() };
        let mut text = most.to_string();
        for chunk in rest.iter().rev() {
            text.push_str(&format!("{chunk:019}"));
        }
        text
    }

    fn from_u256_decimal(s: &str) -> Option<Self> {
        let mut bytes = [0u8; 32];
        for c in s.bytes() {
            let mut carry = u32::from(c.checked_sub(b'0').filter(|d| *d < 10)?);
            for b in bytes.iter_mut() {
                let cur = u32::from(*b) * 10 + carry;
                *b = cur as u8;
                carry = cur >> 8;
            }
            if carry != 0 {
                return None;
            }
        }
        Some(BlobId(bytes))
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&URL_SAFE_NO_PAD.encode(self.0))
    }
}

impl fmt::Debug for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobId({self})")
    }
}

/// Accepts the forms users meet: base64url (43 characters, as Walrus shows IDs), hex
/// (64 digits, optional `0x`, bytes in order) and the decimal `u256` of Sui explorers.
impl FromStr for BlobId {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let err = |reason| Error::InvalidBlobId { input: s.chars().take(100).collect(), reason };
        let t = s.trim();
        // Decided by length first: a base64 ID may well begin with "0x" or be all digits.
        if t.len() == 43 {
            if let Ok(bytes) = URL_SAFE_NO_PAD.decode(t) {
                return bytes.try_into().map(BlobId).map_err(|_| err("base64 must decode to exactly 32 bytes"));
            }
        }
        let hex_digits = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X"));
        if let Some(h) = hex_digits.or(Some(t).filter(|t| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit()))) {
            let mut bytes = [0u8; 32];
            return match hex::decode_to_slice(h, &mut bytes) {
                Ok(()) if h.len() == 64 => Ok(BlobId(bytes)),
                _ => Err(err("a hex blob ID must have exactly 64 hex digits")),
            };
        }
        if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
            return BlobId::from_u256_decimal(t).ok_or_else(|| err("the decimal number does not fit in 256 bits"));
        }
        Err(err("expected base64url (43 characters), 64 hex digits, or a decimal u256"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B64: &str = "RcU82Mwf-CFkv1LaI_2qcpANwpGUuG3TMwnVzZxD2kY";
    const HEX: &str = "45c53cd8cc1ff82164bf52da23fdaa72900dc29194b86dd33309d5cd9c43da46";

    #[test]
    fn parses_every_form() {
        let id: BlobId = B64.parse().unwrap();
        assert_eq!(hex::encode(id.0), HEX);
        assert_eq!(id.to_string(), B64);
        assert_eq!(HEX.parse::<BlobId>().unwrap(), id);
        assert_eq!(format!("0x{HEX}").parse::<BlobId>().unwrap(), id);
        let dec = id.to_u256_decimal();
        assert_eq!(dec.parse::<BlobId>().unwrap(), id);
        assert_eq!("0".parse::<BlobId>().unwrap(), BlobId([0; 32]));
        // Base64 IDs that look like hex or decimal are still base64 (a bug the oracle found).
        let looks_hex = "0xWlOYS71w5AEvrYW4vVcxl5y-gq3SmaT2nqu_Sf_-c";
        assert_eq!(looks_hex.parse::<BlobId>().unwrap().to_string(), looks_hex);
        let digits = "1234567890123456789012345678901234567890120";
        assert_eq!(digits.parse::<BlobId>().unwrap().to_string(), digits);
        // Not canonical base64 (the last character carries stray bits), so it is a number.
        let number = "1234567890123456789012345678901234567890123";
        assert_eq!(number.parse::<BlobId>().unwrap().to_u256_decimal(), number);
        let mut one = [0u8; 32];
        one[0] = 1;
        assert_eq!("1".parse::<BlobId>().unwrap(), BlobId(one));
        assert_eq!(BlobId(one).to_u256_decimal(), "1");
        let max = BlobId([0xff; 32]).to_u256_decimal();
        assert_eq!(max, "115792089237316195423570985008687907853269984665640564039457584007913129639935");
        assert_eq!(max.parse::<BlobId>().unwrap(), BlobId([0xff; 32]));
    }

    /// Mutation it catches: a chunk of 19 digits written without its leading zeros.
    #[test]
    fn decimal_digits_across_chunks_keep_their_zeros() {
        for number in [
            "0",
            "9999999999999999999",
            "10000000000000000000",
            "10000000000000000000000000000000000001",
            "100000000000000000000000000000000000000",
            "18446744073709551616",
        ] {
            assert_eq!(number.parse::<BlobId>().unwrap().to_u256_decimal(), number);
        }
    }

    #[test]
    fn refuses_malformed_ids() {
        for bad in [
            "",
            "abc",
            "0x1234",
            "115792089237316195423570985008687907853269984665640564039457584007913129639936",
            "RcU82Mwf-CFkv1LaI_2qcpANwpGUuG3TMwnVzZxD2k",  // 42 characters
            "RcU82Mwf+CFkv1LaI/2qcpANwpGUuG3TMwnVzZxD2kY", // standard alphabet
            &"g".repeat(64),
        ] {
            assert!(matches!(bad.parse::<BlobId>(), Err(Error::InvalidBlobId { .. })), "{bad:?}");
        }
    }
}
