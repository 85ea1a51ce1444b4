//! Confirmations and the certificate built from them. A node's confirmation is the BCS of
//! Walrus's `ProtocolMessage` (intent `[1, 0, 3]`, epoch u32 LE, blob ID, persistence) signed
//! with its BLS12-381 min-pk key; once the signers hold `n - f` shards, their signatures are
//! aggregated into one that `certify_blob` checks against the aggregate of their keys.

use fastcrypto::bls12381::min_pk::{BLS12381AggregateSignature, BLS12381PublicKey, BLS12381Signature};
use fastcrypto::traits::{AggregateAuthenticator, ToFromBytes, VerifyingKey};
use walrus_encoder::BlobId;

use crate::chain::{Committee, ObjectId};

const INTENT_BLOB_CERTIFICATION: [u8; 3] = [1, 0, 3];
const HEADER_LEN: usize = 3 + 4 + 32;

/// How a certified blob persists: a deletable blob's confirmation names its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    Permanent,
    Deletable(ObjectId),
}

/// The bytes a node signs to confirm that it holds its part of `blob_id` in `epoch`.
pub fn confirmation_message(epoch: u32, blob_id: &BlobId, persistence: Persistence) -> Vec<u8> {
    let mut message = INTENT_BLOB_CERTIFICATION.to_vec();
    message.extend_from_slice(&epoch.to_le_bytes());
    message.extend_from_slice(&blob_id.0);
    match persistence {
        Persistence::Permanent => message.push(0),
        Persistence::Deletable(object) => {
            message.push(1);
            message.extend_from_slice(&object.0);
        }
    }
    message
}

/// Why a node's confirmation was not counted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfirmationError {
    #[error("the signed message is not a blob certification ({0} bytes starting {1})")]
    NotACertification(usize, String),
    #[error("the confirmation is for epoch {got}, the committee's epoch is {expected}")]
    WrongEpoch { got: u32, expected: u32 },
    #[error("the confirmation names another blob ID")]
    WrongBlobId,
    #[error("the confirmation names another persistence (permanent or object) than the blob's")]
    WrongPersistence,
    #[error("the node's registered key is not a valid BLS key")]
    BadKey,
    #[error("the signature is not 96 bytes of a BLS signature")]
    MalformedSignature,
    #[error("the signature does not verify against the node's registered key")]
    InvalidSignature,
}

/// Checks a confirmation from `public_key` against the message the client expects, field by
/// field so the reason is precise, then the signature.
pub fn verify_confirmation(
    expected: &[u8],
    public_key: &[u8],
    message: &[u8],
    signature: &[u8],
) -> Result<BLS12381Signature, ConfirmationError> {
    if message != expected {
        if message.len() < HEADER_LEN + 1 || message[..3] != INTENT_BLOB_CERTIFICATION {
            let start = hex::encode(&message[..message.len().min(8)]);
            return Err(ConfirmationError::NotACertification(message.len(), start));
        }
        let epoch = |m: &[u8]| u32::from_le_bytes(m[3..7].try_into().expect("4 bytes"));
        if epoch(message) != epoch(expected) {
            return Err(ConfirmationError::WrongEpoch { got: epoch(message), expected: epoch(expected) });
        }
        if message[7..HEADER_LEN] != expected[7..HEADER_LEN] {
            return Err(ConfirmationError::WrongBlobId);
        }
        return Err(ConfirmationError::WrongPersistence);
    }
    let key = BLS12381PublicKey::from_bytes(public_key).map_err(|_| ConfirmationError::BadKey)?;
    let signature = BLS12381Signature::from_bytes(signature).map_err(|_| ConfirmationError::MalformedSignature)?;
    key.verify(message, &signature).map_err(|_| ConfirmationError::InvalidSignature)?;
    Ok(signature)
}

/// Verified confirmations of one message, gathered until their weight is a quorum.
pub struct CertificateBuilder<'c> {
    committee: &'c Committee,
    message: Vec<u8>,
    signatures: Vec<(u16, BLS12381Signature)>,
    weight: usize,
}

impl<'c> CertificateBuilder<'c> {
    pub fn new(committee: &'c Committee, message: Vec<u8>) -> Self {
        Self { committee, message, signatures: Vec::new(), weight: 0 }
    }

    /// Counts member `index`'s verified signature once.
    pub fn add(&mut self, index: usize, signature: BLS12381Signature) {
        if self.has_signed(index) {
            return;
        }
        self.weight += self.committee.members[index].weight();
        self.signatures.push((index as u16, signature));
    }

    pub fn has_signed(&self, index: usize) -> bool {
        self.signatures.iter().any(|(i, _)| usize::from(*i) == index)
    }

    /// The shards whose nodes have confirmed.
    pub fn weight(&self) -> usize {
        self.weight
    }

    pub fn is_quorum(&self) -> bool {
        self.weight >= self.committee.quorum_weight()
    }

    /// The certificate, once the signers are a quorum.
    pub fn finish(mut self) -> Option<Certificate> {
        if !self.is_quorum() {
            return None;
        }
        self.signatures.sort_by_key(|(i, _)| *i);
        let signatures: Vec<_> = self.signatures.iter().map(|(_, s)| s.clone()).collect();
        let aggregate = BLS12381AggregateSignature::aggregate(&signatures).ok()?;
        Some(Certificate {
            signers: self.signatures.iter().map(|(i, _)| *i).collect(),
            message: self.message,
            signature: aggregate.as_bytes().try_into().expect("aggregate signatures are 96 bytes"),
            n_members: self.committee.members.len(),
        })
    }
}

/// An aggregated confirmation: what `certify_blob` takes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Certificate {
    /// Indices of the signers in the committee, ascending.
    pub signers: Vec<u16>,
    /// The message every signer signed.
    pub message: Vec<u8>,
    /// The aggregate BLS signature.
    pub signature: [u8; 96],
    /// The committee's size, which fixes the bitmap's length.
    pub n_members: usize,
}

impl Certificate {
    /// `ceil(members / 8)` bytes; signer `i` sets bit `i % 8` of byte `i / 8`.
    pub fn signers_bitmap(&self) -> Vec<u8> {
        let mut bitmap = vec![0u8; self.n_members.div_ceil(8)];
        for &i in &self.signers {
            bitmap[usize::from(i) / 8] |= 1 << (i % 8);
        }
        bitmap
    }

    /// Rust Walrus's BCS `ConfirmationCertificate`: signers as `Vec<u16>`, the message as
    /// bytes, the signature as 96 bytes without a length.
    pub fn to_bcs(&self) -> Vec<u8> {
        let mut bytes = bcs::to_bytes(&(&self.signers, &self.message)).expect("certificates always serialize");
        bytes.extend_from_slice(&self.signature);
        bytes
    }

    /// Checks the certificate as the contract would: members exist, weight is a quorum, the
    /// aggregate signature verifies against the signers' keys.
    pub fn verify(&self, committee: &Committee) -> Result<(), String> {
        let members = &committee.members;
        if self.n_members != members.len() {
            return Err(format!("built for {} members, the committee has {}", self.n_members, members.len()));
        }
        let mut keys = Vec::new();
        let mut weight = 0;
        for &i in &self.signers {
            let member = members.get(usize::from(i)).ok_or_else(|| format!("signer {i} is not a member"))?;
            weight += member.weight();
            keys.push(BLS12381PublicKey::from_bytes(&member.public_key).map_err(|e| format!("member {i}: {e}"))?);
        }
        if 3 * weight < 2 * usize::from(committee.n_shards()) + 1 {
            return Err(format!("signers hold {weight} of {} shards: not a quorum", committee.n_shards()));
        }
        let signature = BLS12381AggregateSignature::from_bytes(&self.signature).map_err(|e| e.to_string())?;
        signature.verify(&keys, &self.message).map_err(|_| "the aggregate signature does not verify".to_owned())
    }
}
