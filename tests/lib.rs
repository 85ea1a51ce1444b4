//! Cross-part conformance checks. This library is a small reference model, written from the
//! Walrus message formats (intent, epoch, then the message in BCS), of what the Move
//! contracts verify in a certificate: the exact signed bytes, the signer bitmap, the weight
//! thresholds, and the aggregate public key the signature is checked against. The tests sign
//! with real BLS12-381 (fastcrypto, min-pk), which the Move test runner cannot: its BLS
//! natives accept any signature.

use fastcrypto::bls12381::min_pk::BLS12381PublicKey;
use fastcrypto::groups::bls12381::G1Element;
use fastcrypto::groups::GroupElement;
use fastcrypto::serde_helpers::ToFromByteArray;
use fastcrypto::traits::ToFromBytes;

const APP_ID: u8 = 3;
const INTENT_VERSION: u8 = 0;

/// The intents of the messages the contracts check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Intent {
    ProofOfPossession = 0,
    BlobCertification = 1,
    InvalidBlobId = 2,
}

fn header(intent: Intent, epoch: u32) -> Vec<u8> {
    let mut message = vec![intent as u8, INTENT_VERSION, APP_ID];
    message.extend_from_slice(&epoch.to_le_bytes());
    message
}

/// Bytes nodes sign to certify a blob: `object_id` is `Some` for a deletable blob.
/// `blob_id` is the 32 bytes of the u256, little-endian, as blob IDs travel everywhere.
pub fn blob_certification_message(epoch: u32, blob_id: &[u8; 32], object_id: Option<&[u8; 32]>) -> Vec<u8> {
    let mut message = header(Intent::BlobCertification, epoch);
    message.extend_from_slice(blob_id);
    match object_id {
        None => message.push(0),
        Some(id) => {
            message.push(1);
            message.extend_from_slice(id);
        }
    }
    message
}

/// Bytes nodes sign to declare a blob ID inconsistently encoded.
pub fn invalid_blob_id_message(epoch: u32, blob_id: &[u8; 32]) -> Vec<u8> {
    let mut message = header(Intent::InvalidBlobId, epoch);
    message.extend_from_slice(blob_id);
    message
}

/// Bytes a node signs with its new key to prove it holds the secret key.
pub fn proof_of_possession_message(epoch: u32, sender: &[u8; 32], public_key: &BLS12381PublicKey) -> Vec<u8> {
    let mut message = header(Intent::ProofOfPossession, epoch);
    message.extend_from_slice(sender);
    message.extend_from_slice(public_key.as_bytes());
    message
}

/// Why a signer bitmap is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum BitmapError {
    /// More bytes than the committee needs.
    TooLong,
    /// A bit set past the last member.
    NamesNonMember,
}

/// The bitmap naming `signers` (member indices, in committee order): bit `b` of byte `k` is
/// member `8k + b`, always `ceil(n_members / 8)` bytes, as clients build it.
pub fn signers_bitmap(n_members: usize, signers: &[usize]) -> Vec<u8> {
    let mut bitmap = vec![0u8; n_members.div_ceil(8)];
    for &i in signers {
        assert!(i < n_members, "signer {i} is not a member");
        bitmap[i / 8] |= 1 << (i % 8);
    }
    bitmap
}

/// Members that did not sign, as the contract reads the bitmap: shorter bitmaps leave the
/// missing members out, longer ones and bits past the last member are refused.
pub fn non_signers(n_members: usize, bitmap: &[u8]) -> Result<Vec<usize>, BitmapError> {
    if bitmap.len() > n_members.div_ceil(8) {
        return Err(BitmapError::TooLong);
    }
    if (n_members..bitmap.len() * 8).any(|i| bitmap[i / 8] >> (i % 8) & 1 == 1) {
        return Err(BitmapError::NamesNonMember);
    }
    Ok((0..n_members).filter(|&i| bitmap.get(i / 8).is_none_or(|byte| byte >> (i % 8) & 1 == 0)).collect())
}

/// A committee member as the contract stores it.
#[derive(Clone, Debug)]
pub struct Member {
    pub node_id: [u8; 32],
    pub weight: u16,
    pub public_key: BLS12381PublicKey,
}

/// The committee as certificates see it, members in ascending node-ID order.
pub struct Committee {
    pub epoch: u32,
    pub members: Vec<Member>,
}

impl Committee {
    pub fn n_shards(&self) -> u64 {
        self.members.iter().map(|m| u64::from(m.weight)).sum()
    }

    pub fn weight_of(&self, members: &[usize]) -> u64 {
        members.iter().map(|&i| u64::from(self.members[i].weight)).sum()
    }

    /// `3w >= 2n + 1`: more than two thirds of the shards.
    pub fn is_quorum(&self, weight: u64) -> bool {
        3 * weight > 2 * self.n_shards()
    }

    /// `3w >= n + 1`: at least one honest signer if at most f shards are faulty.
    pub fn includes_one_correct_node(&self, weight: u64) -> bool {
        3 * weight > self.n_shards()
    }

    /// The key the contract verifies against: the sum of every member's key minus the keys of
    /// the non-signers (cheaper on chain than adding up the signers).
    pub fn aggregate_key(&self, non_signers: &[usize]) -> BLS12381PublicKey {
        let point = |m: &Member| {
            G1Element::from_byte_array(m.public_key.as_bytes().try_into().expect("48-byte key")).expect("valid key")
        };
        let total = self.members.iter().map(point).fold(G1Element::zero(), |a, b| a + b);
        let missing = non_signers.iter().map(|&i| point(&self.members[i])).fold(G1Element::zero(), |a, b| a + b);
        BLS12381PublicKey::from_bytes(&(total - missing).to_byte_array()).expect("valid aggregate key")
    }
}
