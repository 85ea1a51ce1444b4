//! Certificates as `bls_aggregate` and `messages` check them, in the same order so that a bad
//! certificate is refused with the same abort: the signer bitmap, the signers' weight against
//! the threshold, the BLS signature against the total key minus the non-signers' keys (real
//! BLS12-381 min-pk, through fastcrypto), then the message's header and body.

use fastcrypto::bls12381::min_pk::{BLS12381PublicKey, BLS12381Signature};
use fastcrypto::groups::bls12381::G1Element;
use fastcrypto::groups::GroupElement;
use fastcrypto::serde_helpers::ToFromByteArray;
use fastcrypto::traits::{ToFromBytes, VerifyingKey};
use serde::{Deserialize, Serialize};
use sui_sdk_types::Address;
use walrus_chain::messages::{Intent, APP_ID_STORAGE, HEADER_LEN, INTENT_VERSION};

use crate::error::{aborts, Abort};

const BLOB_CERT_MSG_TYPE: u8 = Intent::BlobCertification as u8;
const INVALID_BLOB_ID_MSG_TYPE: u8 = Intent::InvalidBlobId as u8;

/// A committee member as certificates see it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub node_id: Address,
    /// 48 bytes, compressed G1.
    #[serde(with = "crate::as_text::base64")]
    pub public_key: Vec<u8>,
    pub weight: u16,
}

/// `BlsCommittee`: members in node-ID order, for one epoch.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlsCommittee {
    pub epoch: u32,
    pub members: Vec<Member>,
}

/// How much weight a certificate needs.
#[derive(Clone, Copy, Debug)]
pub enum RequiredWeight {
    /// `3w >= 2n + 1`.
    Quorum,
    /// `3w >= n + 1`.
    OneCorrectNode,
}

/// What a blob certificate says, once checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertifiedBlob {
    pub blob_id: [u8; 32],
    /// `Some(object)` for a deletable blob.
    pub deletable_object: Option<Address>,
}

impl BlsCommittee {
    pub fn n_shards(&self) -> u16 {
        self.members.iter().map(|m| m.weight).sum()
    }

    /// `non_signers`: bit `b` of byte `k` is member `8k + b`; no longer than the committee, and
    /// no bits set past the last member.
    pub fn non_signers(&self, bitmap: &[u8]) -> Result<Vec<usize>, Abort> {
        let n = self.members.len();
        if bitmap.len() > n.div_ceil(8) {
            return Err(aborts::EInvalidBitmap);
        }
        let non_signers = (0..n).filter(|i| !(i / 8 < bitmap.len() && (bitmap[i / 8] >> (i % 8)) & 1 == 1)).collect();
        if !n.is_multiple_of(8) && bitmap.len() == n.div_ceil(8) && bitmap[bitmap.len() - 1] >> (n % 8) != 0 {
            return Err(aborts::EInvalidBitmap);
        }
        Ok(non_signers)
    }

    /// `verify_certificate_and_weight` followed by `new_certified_message`: returns the
    /// message's intent type and body.
    pub fn verify(
        &self,
        signature: &[u8],
        bitmap: &[u8],
        message: &[u8],
        required: RequiredWeight,
    ) -> Result<(u8, Vec<u8>), Abort> {
        let non_signers = self.non_signers(bitmap)?;
        let missing: u16 = non_signers.iter().map(|&i| self.members[i].weight).sum();
        let weight = u64::from(self.n_shards() - missing);
        let n = u64::from(self.n_shards());
        let enough = match required {
            RequiredWeight::Quorum => 3 * weight > 2 * n,
            RequiredWeight::OneCorrectNode => 3 * weight > n,
        };
        if !enough {
            return Err(aborts::ENotEnoughStake);
        }
        if !self.signature_verifies(&non_signers, signature, message) {
            return Err(aborts::ESigVerification);
        }
        parse_header(message, self.epoch)
    }

    fn signature_verifies(&self, non_signers: &[usize], signature: &[u8], message: &[u8]) -> bool {
        let point = |m: &Member| {
            <[u8; 48]>::try_from(m.public_key.as_slice()).ok().and_then(|bytes| G1Element::from_byte_array(&bytes).ok())
        };
        let Some(total) = self.members.iter().map(point).try_fold(G1Element::zero(), |acc, p| Some(acc + p?)) else {
            return false;
        };
        let Some(missing) =
            non_signers.iter().map(|&i| point(&self.members[i])).try_fold(G1Element::zero(), |acc, p| Some(acc + p?))
        else {
            return false;
        };
        let (Ok(key), Ok(signature)) = (
            BLS12381PublicKey::from_bytes(&(total - missing).to_byte_array()),
            BLS12381Signature::from_bytes(signature),
        ) else {
            return false;
        };
        key.verify(message, &signature).is_ok()
    }
}

/// `messages::new_certified_message`: the 7-byte header, for the committee's epoch.
fn parse_header(message: &[u8], committee_epoch: u32) -> Result<(u8, Vec<u8>), Abort> {
    if message.len() < HEADER_LEN {
        return Err(aborts::EMessageTooShort);
    }
    if message[1] != INTENT_VERSION {
        return Err(aborts::EIncorrectIntentVersion);
    }
    if message[2] != APP_ID_STORAGE {
        return Err(aborts::EIncorrectAppId);
    }
    if u32::from_le_bytes(message[3..7].try_into().expect("4 bytes")) != committee_epoch {
        return Err(aborts::EIncorrectEpoch);
    }
    Ok((message[0], message[HEADER_LEN..].to_vec()))
}

/// `messages::into_certified_blob_message`.
pub fn blob_certificate(intent: u8, body: &[u8]) -> Result<CertifiedBlob, Abort> {
    if intent != BLOB_CERT_MSG_TYPE {
        return Err(aborts::EInvalidMsgType);
    }
    if body.len() < 33 {
        return Err(aborts::EMessageTooShort);
    }
    let blob_id = body[..32].try_into().expect("32 bytes");
    let deletable_object = match body[32] {
        0 => None,
        1 if body.len() >= 65 => Some(Address::new(body[33..65].try_into().expect("32 bytes"))),
        1 => return Err(aborts::EMessageTooShort),
        _ => return Err(aborts::EInvalidPersistenceType),
    };
    Ok(CertifiedBlob { blob_id, deletable_object })
}

/// `messages::into_certified_invalid_blob_id`: the blob ID declared invalid.
pub fn invalid_blob_id_certificate(intent: u8, body: &[u8]) -> Result<[u8; 32], Abort> {
    if intent != INVALID_BLOB_ID_MSG_TYPE {
        return Err(aborts::EInvalidMsgType);
    }
    body.get(..32).map(|b| b.try_into().expect("32 bytes")).ok_or(aborts::EMessageTooShort)
}

/// `bls12381_min_pk_verify` of a proof of possession.
pub fn verify_signature(public_key: &[u8], signature: &[u8], message: &[u8]) -> bool {
    match (BLS12381PublicKey::from_bytes(public_key), BLS12381Signature::from_bytes(signature)) {
        (Ok(key), Ok(signature)) => key.verify(message, &signature).is_ok(),
        _ => false,
    }
}
