/// The messages storage nodes sign, byte for byte as Walrus's nodes sign them: a 7-byte header
/// (intent type, intent version 0, app ID 3, epoch as u32 little-endian) followed by a body
/// without length prefix. Bytes after the body are ignored, leaving room for extensions.
module walrus::messages;

use sui::bcs;

const APP_ID: u8 = 3;
const INTENT_VERSION: u8 = 0;
const HEADER_LENGTH: u64 = 7;

const PROOF_OF_POSSESSION_MSG_TYPE: u8 = 0;
const BLOB_CERT_MSG_TYPE: u8 = 1;
const INVALID_BLOB_ID_MSG_TYPE: u8 = 2;

const PERMANENT: u8 = 0;
const DELETABLE: u8 = 1;

#[error]
const EMessageTooShort: vector<u8> = b"The message is shorter than its header and body";
#[error]
const EIncorrectAppId: vector<u8> = b"The message is not for Walrus (app ID must be 3)";
#[error]
const EIncorrectIntentVersion: vector<u8> = b"Unknown intent version (must be 0)";
#[error]
const EIncorrectEpoch: vector<u8> = b"The message was signed for another epoch";
#[error]
const EInvalidMsgType: vector<u8> = b"The message has the wrong intent type for this operation";
#[error]
const EInvalidPersistenceType: vector<u8> = b"Unknown blob persistence type (must be 0 or 1)";

/// A message carrying a certificate that has been verified against the committee.
public struct CertifiedMessage has drop {
    intent_type: u8,
    intent_version: u8,
    cert_epoch: u32,
    message: vector<u8>,
    stake_support: u16,
}

/// Whether a certified blob is permanent, or deletable by the owner of the given object.
public enum BlobPersistenceType has copy, drop {
    Permanent,
    Deletable { object_id: ID },
}

/// "The nodes hold the slivers of `blob_id`", for a blob with the given persistence.
public struct CertifiedBlobMessage has drop {
    epoch: u32,
    blob_id: u256,
    blob_persistence_type: BlobPersistenceType,
}

/// "`blob_id` is inconsistently encoded", from at least one honest node.
public struct CertifiedInvalidBlobId has drop {
    epoch: u32,
    blob_id: u256,
}

/// Checks the header of a message signed by the committee of `committee_epoch`.
public(package) fun new_certified_message(message: vector<u8>, committee_epoch: u32, stake_support: u16): CertifiedMessage {
    assert!(message.length() >= HEADER_LENGTH, EMessageTooShort);
    let mut reader = bcs::new(message);
    let intent_type = reader.peel_u8();
    let intent_version = reader.peel_u8();
    assert!(intent_version == INTENT_VERSION, EIncorrectIntentVersion);
    assert!(reader.peel_u8() == APP_ID, EIncorrectAppId);
    let cert_epoch = reader.peel_u32();
    assert!(cert_epoch == committee_epoch, EIncorrectEpoch);
    CertifiedMessage { intent_type, intent_version, cert_epoch, message: reader.into_remainder_bytes(), stake_support }
}

/// Reads a blob certificate: blob ID, persistence tag, and the object ID of a deletable blob.
public(package) fun into_certified_blob_message(self: CertifiedMessage): CertifiedBlobMessage {
    assert!(self.intent_type == BLOB_CERT_MSG_TYPE, EInvalidMsgType);
    let length = self.message.length();
    assert!(length >= 33, EMessageTooShort);
    let mut reader = bcs::new(self.message);
    let blob_id = reader.peel_u256();
    let blob_persistence_type = match (reader.peel_u8()) {
        PERMANENT => BlobPersistenceType::Permanent,
        DELETABLE => {
            assert!(length >= 65, EMessageTooShort);
            BlobPersistenceType::Deletable { object_id: reader.peel_address().to_id() }
        },
        _ => abort EInvalidPersistenceType,
    };
    CertifiedBlobMessage { epoch: self.cert_epoch, blob_id, blob_persistence_type }
}

/// Reads an invalid-blob-ID certificate.
public(package) fun into_certified_invalid_blob_id(self: CertifiedMessage): CertifiedInvalidBlobId {
    assert!(self.intent_type == INVALID_BLOB_ID_MSG_TYPE, EInvalidMsgType);
    assert!(self.message.length() >= 32, EMessageTooShort);
    CertifiedInvalidBlobId { epoch: self.cert_epoch, blob_id: bcs::new(self.message).peel_u256() }
}

/// The message a node signs to prove it holds the secret key of `public_key` (48 bytes).
public fun proof_of_possession_message(epoch: u32, sender: address, public_key: vector<u8>): vector<u8> {
    let mut message = header(PROOF_OF_POSSESSION_MSG_TYPE, epoch);
    message.append(sender.to_bytes());
    message.append(public_key);
    message
}

/// The bytes nodes sign to certify a blob (what clients collect signatures on).
public fun blob_certification_message(epoch: u32, blob_id: u256, persistence: BlobPersistenceType): vector<u8> {
    let mut message = header(BLOB_CERT_MSG_TYPE, epoch);
    message.append(bcs::to_bytes(&blob_id));
    match (persistence) {
        BlobPersistenceType::Permanent => message.push_back(PERMANENT),
        BlobPersistenceType::Deletable { object_id } => {
            message.push_back(DELETABLE);
            message.append(object_id.to_bytes());
        },
    };
    message
}

/// The bytes nodes sign to declare `blob_id` invalid.
public fun invalid_blob_id_message(epoch: u32, blob_id: u256): vector<u8> {
    let mut message = header(INVALID_BLOB_ID_MSG_TYPE, epoch);
    message.append(bcs::to_bytes(&blob_id));
    message
}

public fun permanent(): BlobPersistenceType { BlobPersistenceType::Permanent }

public fun deletable(object_id: ID): BlobPersistenceType { BlobPersistenceType::Deletable { object_id } }

/// The object a deletable blob's certificate names; none for a permanent blob.
public fun deletable_object_id(self: &BlobPersistenceType): Option<ID> {
    match (self) {
        BlobPersistenceType::Permanent => option::none(),
        BlobPersistenceType::Deletable { object_id } => option::some(*object_id),
    }
}

public fun intent_type(self: &CertifiedMessage): u8 { self.intent_type }

public fun intent_version(self: &CertifiedMessage): u8 { self.intent_version }

public fun cert_epoch(self: &CertifiedMessage): u32 { self.cert_epoch }

public fun stake_support(self: &CertifiedMessage): u16 { self.stake_support }

public fun message(self: &CertifiedMessage): &vector<u8> { &self.message }

public fun certified_blob_id(self: &CertifiedBlobMessage): u256 { self.blob_id }

public fun certified_epoch(self: &CertifiedBlobMessage): u32 { self.epoch }

public fun persistence_type(self: &CertifiedBlobMessage): BlobPersistenceType { self.blob_persistence_type }

public fun invalid_blob_id(self: &CertifiedInvalidBlobId): u256 { self.blob_id }

public fun invalid_epoch(self: &CertifiedInvalidBlobId): u32 { self.epoch }

fun header(intent_type: u8, epoch: u32): vector<u8> {
    let mut message = vector[intent_type, INTENT_VERSION, APP_ID];
    message.append(bcs::to_bytes(&epoch));
    message
}
