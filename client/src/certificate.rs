//! Confirmations and the certificate built from them. A node's confirmation is the BCS of
//! Walrus's `ProtocolMessage` (intent `[1, 0, 3]`, epoch u32 LE, blob ID, persistence) signed
//! with its BLS12-381 min-pk key; once the signers hold `n - f` shards, their signatures are
//! aggregated into one that `certify_blob` checks against the aggregate of their keys.

use fastcrypto::bls12381::min_pk::{BLS12381AggregateSignature, BLS12381PublicKey, BLS12381Signature};
use fastcrypto::traits::{AggregateAuthenticator, ToFromBytes, VerifyingKey};
pub use walrus_chain::messages::Persistence;
use walrus_chain::messages::{self, Intent, APP_ID_STORAGE, INTENT_VERSION};
use walrus_encoder::BlobId;

use crate::chain::Committee;

/// The certification header's intent type, version and app ID, for reading a confirmation.
const INTENT_BLOB_CERTIFICATION: [u8; 3] = [Intent::BlobCertification as u8, INTENT_VERSION, APP_ID_STORAGE];
/// The header, then the blob ID.
const BLOB_ID_END: usize = messages::HEADER_LEN + 32;

/// The bytes a node signs to confirm that it holds its part of `blob_id` in `epoch`.
pub fn confirmation_message(epoch: u32, blob_id: &BlobId, persistence: Persistence) -> Vec<u8> {
    messages::blob_certification(epoch, &blob_id.0, persistence)
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
        if message.len() < BLOB_ID_END + 1 || message[..3] != INTENT_BLOB_CERTIFICATION {
            let start = hex::encode(&message[..message.len().min(8)]);
            return Err(ConfirmationError::NotACertification(message.len(), start));
        }
        let epoch = |m: &[u8]| u32::from_le_bytes(m[3..7].try_into().expect("4 bytes"));
        if epoch(message) != epoch(expected) {
            return Err(ConfirmationError::WrongEpoch { got: epoch(message), expected: epoch(expected) });
        }
        if message[messages::HEADER_LEN..BLOB_ID_END] != expected[messages::HEADER_LEN..BLOB_ID_END] {
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

#[cfg(test)]
mod tests {
    //! The confirmation and certificate vector of Walrus's own tests, as checked against
    //! fastcrypto 0.1.11 and `@mysten/walrus-wasm` (recorded in the project's specification of
    //! storage nodes, section 4 and 5).

    use super::*;
    use crate::chain::{Member, ObjectId};

    const NODE0_PK: &str =
        "8a7524b153bb59b2d07bda3f28dea485ed4f7417f336edf3824a33b2460f4e400273897711306705093a753d16211754";
    const NODE1_PK: &str =
        "85a8b74d91124ffdd7851891a80b6a4a3c40b1acb6c256de535768a5d42b903aa62d4445cbd81fda8d427c7eca0d913a";
    const NODE2_PK: &str =
        "b76ce3f31a0b817bb893a608cd556fec824221c68672fe5717b5c406b150006cc742a9cadd586da3c8c14b606e3c5b64";
    const NODE0_SIG: &str = "826e67628f00e48c5036fec26613c029795695fbc743ff89cdab57bb538df8806eeeb5aef6ec1fc31f7cf4be8247e1e60fe3d1809cbbb22fcfacaefeb575bcce2881da44a2ad72601890ce638cde87609eb90ab66023eba365638d2e1209f88d";
    const NODE2_SIG: &str = "a3ede397491ba849a39d9072947b28782cc9964268caee4735f247a9a13bdef41d77e132b5ec4f073c53036f0e5eed540e0cfcdec8ff7b1f44f61c9dc9dac6d30814ad5c3b0718f93061af70d96ee03aba8886f6d3d4cf77ea5988ed8c089ce1";
    const AGGREGATE: &str = "846de8f67ac314f01d0f096bfbe31ac39c3d580b5121d183fe74a85f17a22b91fe69f8ee1c319107e5d6819839a329ca00eabdc833c0f820f09f5ad5e098f09d5ab11becc2b80ffbc7575cf0220a4c3424bfb3bc0d5eb2c85578d2c43e2adad5";

    fn unhex(s: &str) -> Vec<u8> {
        hex::decode(s).unwrap()
    }

    /// Permanent, epoch 21, blob ID [7; 32]: `01000315000000`, 32 times `07`, then `00`.
    fn vector_message() -> Vec<u8> {
        unhex(&format!("01000315000000{}00", "07".repeat(32)))
    }

    /// Nodes 0 and 2 hold two shards each, node 1 one: {0, 2} is a quorum (4 of 5).
    fn committee() -> Committee {
        let member = |pk: &str, shards: Vec<u16>, id: u8| Member {
            node_id: ObjectId([id; 32]),
            public_key: unhex(pk),
            shards,
            network_address: String::new(),
        };
        Committee {
            epoch: 21,
            members: vec![
                member(NODE0_PK, vec![0, 1], 0),
                member(NODE1_PK, vec![2], 1),
                member(NODE2_PK, vec![3, 4], 2),
            ],
        }
    }

    #[test]
    fn the_message_matches_the_vector() {
        assert_eq!(confirmation_message(21, &BlobId([7; 32]), Persistence::Permanent), vector_message());
        let deletable = confirmation_message(21, &BlobId([7; 32]), Persistence::Deletable(ObjectId([9; 32])));
        assert_eq!((deletable.len(), deletable[39], &deletable[40..]), (72, 1, &[9u8; 32][..]));
    }

    #[test]
    fn the_certificate_matches_the_vector() {
        let committee = committee();
        let message = vector_message();
        let mut builder = CertificateBuilder::new(&committee, message.clone());
        for (index, pk, sig) in [(2, NODE2_PK, NODE2_SIG), (0, NODE0_PK, NODE0_SIG)] {
            let signature = verify_confirmation(&message, &unhex(pk), &message, &unhex(sig)).unwrap();
            assert!(!builder.is_quorum());
            builder.add(index, signature);
        }
        assert_eq!(builder.weight(), 4);
        let certificate = builder.finish().unwrap();
        assert_eq!(certificate.signature.to_vec(), unhex(AGGREGATE));
        assert_eq!(certificate.signers_bitmap(), vec![0x05]);
        let bcs = certificate.to_bcs();
        assert_eq!(bcs.len(), 142);
        assert_eq!(bcs[..6], [0x02, 0x00, 0x00, 0x02, 0x00, 0x28]);
        assert_eq!(bcs[6..46], message[..]);
        certificate.verify(&committee).unwrap();
    }

    #[test]
    fn confirmations_are_refused_with_the_reason() {
        let message = vector_message();
        let check = |m: &[u8], pk: &str, sig: &str| verify_confirmation(&message, &unhex(pk), m, &unhex(sig));
        // Node 0's signature is not node 2's.
        assert_eq!(check(&message, NODE2_PK, NODE0_SIG), Err(ConfirmationError::InvalidSignature));
        assert_eq!(check(&message, NODE0_PK, &NODE0_SIG[2..]), Err(ConfirmationError::MalformedSignature));
        assert_eq!(check(&message, &NODE0_PK[2..], NODE0_SIG), Err(ConfirmationError::BadKey));
        let mut other = message.clone();
        other[3] = 22;
        assert_eq!(check(&other, NODE0_PK, NODE0_SIG), Err(ConfirmationError::WrongEpoch { got: 22, expected: 21 }));
        other = message.clone();
        other[10] ^= 1;
        assert_eq!(check(&other, NODE0_PK, NODE0_SIG), Err(ConfirmationError::WrongBlobId));
        other = message.clone();
        other[39] = 1;
        other.extend_from_slice(&[0; 32]);
        assert_eq!(check(&other, NODE0_PK, NODE0_SIG), Err(ConfirmationError::WrongPersistence));
        other = message.clone();
        other[0] = 2;
        assert!(matches!(check(&other, NODE0_PK, NODE0_SIG), Err(ConfirmationError::NotACertification(40, _))));
        assert!(matches!(check(&[1, 0], NODE0_PK, NODE0_SIG), Err(ConfirmationError::NotACertification(2, _))));
    }

    #[test]
    fn a_certificate_needs_a_quorum() {
        let committee = committee();
        let message = vector_message();
        let mut builder = CertificateBuilder::new(&committee, message.clone());
        let signature = verify_confirmation(&message, &unhex(NODE0_PK), &message, &unhex(NODE0_SIG)).unwrap();
        builder.add(0, signature.clone());
        builder.add(0, signature);
        assert_eq!(builder.weight(), 2, "a repeated confirmation counts once");
        assert!(builder.finish().is_none());
        assert_eq!(committee.quorum_weight(), 4);
    }
}
