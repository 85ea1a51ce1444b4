//! The bytes a node signs: BCS of Walrus's `ProtocolMessage`, `[intent type, version 0, app 3]`
//! then the epoch (u32 LE) then the contents, with no prefix and no hash.

use walrus_encoder::BlobId;

use crate::chain::ObjectId;

const INTENT_VERSION: u8 = 0;
const APP_ID_STORAGE: u8 = 3;

/// What a signed message says, and so how the contract reads it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Intent {
    ProofOfPossession = 0,
    BlobCertification = 1,
    InvalidBlobId = 2,
}

fn header(intent: Intent, epoch: u32) -> Vec<u8> {
    let mut message = vec![intent as u8, INTENT_VERSION, APP_ID_STORAGE];
    message.extend_from_slice(&epoch.to_le_bytes());
    message
}

/// How a certified blob persists: a deletable blob's confirmation names its object.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Persistence {
    Permanent,
    Deletable(ObjectId),
}

/// The confirmation that this node stores its part of `blob_id`.
pub fn blob_certification(epoch: u32, blob_id: &BlobId, persistence: Persistence) -> Vec<u8> {
    let mut message = header(Intent::BlobCertification, epoch);
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

/// The attestation that `blob_id` is inconsistently encoded.
pub fn invalid_blob_id(epoch: u32, blob_id: &BlobId) -> Vec<u8> {
    let mut message = header(Intent::InvalidBlobId, epoch);
    message.extend_from_slice(&blob_id.0);
    message
}

/// What a new protocol key signs to prove its owner holds the secret: `sender` is the Sui
/// address registering the node, `public_key` the 48 bytes of the key.
pub fn proof_of_possession(epoch: u32, sender: &[u8; 32], public_key: &[u8; 48]) -> Vec<u8> {
    let mut message = header(Intent::ProofOfPossession, epoch);
    message.extend_from_slice(sender);
    message.extend_from_slice(public_key);
    message
}
