//! Everything the client needs from Sui, behind one trait, so that a Sui RPC implementation
//! and the local chain can both serve it. The client never reads chain objects itself: it asks
//! [`ChainAccess`] and trusts its answers as it would trust a full node.

use async_trait::async_trait;
use serde::Serialize;
use walrus_encoder::BlobId;

use crate::certificate::Certificate;

pub mod local;

pub use walrus_chain::ObjectId;

pub use walrus_chain::committee::{Committee, Member};

/// Storage prices in FROST (10⁻⁹ WAL) per [`Prices::UNIT_SIZE`] of encoded size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Prices {
    /// Per unit and epoch of storage.
    pub storage_per_unit_epoch: u64,
    /// Per unit, once, when a blob is registered.
    pub write_per_unit: u64,
}

impl Prices {
    /// The contract charges per started MiB of encoded size.
    pub const UNIT_SIZE: u64 = 1 << 20;

    /// What reserving `epochs` epochs for `encoded_length` bytes and registering them costs,
    /// as the contract computes it.
    pub fn cost(&self, encoded_length: u64, epochs: u32) -> u64 {
        let units = encoded_length.div_ceil(Self::UNIT_SIZE);
        units * (self.storage_per_unit_epoch * u64::from(epochs) + self.write_per_unit)
    }
}

/// A `Blob` object on chain and the storage resource it holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlobObject {
    pub object_id: ObjectId,
    pub blob_id: BlobId,
    pub registered_epoch: u32,
    /// The epoch it was certified in, once it is.
    pub certified_epoch: Option<u32>,
    /// Unencoded size in bytes.
    pub size: u64,
    /// The storage resource: its object, the epochs it covers (end exclusive) and its size.
    pub storage_id: ObjectId,
    pub start_epoch: u32,
    pub end_epoch: u32,
    pub storage_size: u64,
    pub deletable: bool,
    /// Whether the wallet behind the [`ChainAccess`] owns it: only then can the client
    /// certify, delete or extend it (or resume an interrupted store with it).
    pub owned: bool,
}

/// What `register` needs: the fields of the contract's `register_blob` call. Storage is
/// reserved for `epochs_ahead` epochs from the current one, sized for `encoded_size`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RegisterRequest {
    pub blob_id: BlobId,
    /// The Merkle root over the sliver pairs' hashes, from which the contract recomputes the
    /// blob ID.
    pub root_hash: [u8; 32],
    pub unencoded_size: u64,
    /// The encoded size storage is charged for (`BlobLayout::encoded_length`).
    pub encoded_size: u64,
    /// RS2 is 1.
    pub encoding_type: u8,
    pub epochs_ahead: u32,
    pub deletable: bool,
}

/// A registered blob and what reserving and registering cost (FROST).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Registered {
    pub blob: BlobObject,
    pub cost: u64,
    /// Whether the blob was registered on a `Storage` object the wallet already owned (then
    /// only the write fee was paid, and the blob ends when that storage ends).
    pub reused_storage: bool,
}

/// A refusal or failure of the chain, in the chain's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ChainError(pub String);

/// The client's view of Sui.
///
/// Implementations answer for one wallet (the sender of every transaction): `register`,
/// `certify`, `delete` and `extend` are transactions it signs and the objects are its own.
/// Errors say what the chain refused and why; the client shows them as they are.
///
/// - Reads (`current_epoch`, `committee`, `prices`, `blob_objects`) reflect the latest
///   finalized state; `committee` is the committee of the current epoch, members in the
///   system object's order (the order of signer indices and bitmaps).
/// - `register` is `reserve_space` then `register_blob` in one transaction; it returns the
///   new object and the total cost charged.
/// - `certify` is `certify_blob` with the certificate's signature, signer bitmap and message
///   bytes; the contract checks them, so an implementation must not accept a certificate the
///   Move code would refuse.
/// - `delete` applies to deletable blobs only; `extend` adds epochs to a certified blob's
///   storage and returns the updated object and the cost.
#[async_trait]
pub trait ChainAccess: Send + Sync {
    async fn current_epoch(&self) -> Result<u32, ChainError>;
    async fn committee(&self) -> Result<Committee, ChainError>;
    /// The number of shards of the system, fixed at genesis.
    async fn n_shards(&self) -> Result<u16, ChainError>;
    async fn prices(&self) -> Result<Prices, ChainError>;
    /// How many epochs ahead of the current one storage can be reserved (`--epochs max`).
    async fn max_epochs_ahead(&self) -> Result<u32, ChainError>;
    /// The live (not deleted, not expired) blob objects with this blob ID, of any owner.
    async fn blob_objects(&self, blob_id: &BlobId) -> Result<Vec<BlobObject>, ChainError>;
    /// The blob object with this ID, of any owner, if it is live (not deleted, not expired).
    async fn blob_object(&self, object_id: &ObjectId) -> Result<Option<BlobObject>, ChainError>;
    /// The wallet's blob objects that are not deleted, expired ones included.
    async fn owned_blobs(&self) -> Result<Vec<BlobObject>, ChainError>;
    async fn register(&self, request: &RegisterRequest) -> Result<Registered, ChainError>;
    async fn certify(&self, object_id: &ObjectId, certificate: &Certificate) -> Result<BlobObject, ChainError>;
    async fn delete(&self, object_id: &ObjectId) -> Result<(), ChainError>;
    /// Adds `epochs` to the storage of the blob; returns the object and the cost.
    async fn extend(&self, object_id: &ObjectId, epochs: u32) -> Result<Registered, ChainError>;
}

impl BlobObject {
    /// The JSON of Walrus's `BlobObject` (camelCase, as publishers and the CLI show it).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.object_id,
            "registeredEpoch": self.registered_epoch,
            "blobId": self.blob_id.to_string(),
            "size": self.size,
            "encodingType": "RS2",
            "certifiedEpoch": self.certified_epoch,
            "storage": {
                "id": self.storage_id,
                "startEpoch": self.start_epoch,
                "endEpoch": self.end_epoch,
                "storageSize": self.storage_size,
            },
            "deletable": self.deletable,
        })
    }
}
