//! The node's view of the chain: the typed updates that change it and the committee it
//! serves in. The chain-following part maps Walrus events onto [`ChainUpdate`]s; everything
//! else reads the view only through the store, which applies updates atomically with the
//! checkpoint they came from.

use serde::{Deserialize, Serialize};
use walrus_encoder::BlobId;

pub use walrus_chain::ObjectId;

pub use walrus_chain::committee::{Committee, Member};

/// The Sui event a state came from, as `BlobStatus` reports it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventId {
    pub tx_digest: [u8; 32],
    pub event_seq: u64,
}

/// A change to the chain state a node follows. Object IDs are those of Sui `Blob` objects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainUpdate {
    BlobRegistered {
        blob_id: BlobId,
        object_id: ObjectId,
        end_epoch: u32,
        deletable: bool,
        event: EventId,
    },
    BlobCertified {
        blob_id: BlobId,
        object_id: ObjectId,
        end_epoch: u32,
        deletable: bool,
        event: EventId,
    },
    BlobDeleted {
        blob_id: BlobId,
        object_id: ObjectId,
    },
    /// The blob ID was proven inconsistently encoded: its data goes and is never taken again.
    BlobIdInvalidated {
        blob_id: BlobId,
        event: EventId,
    },
    /// A new epoch begins with this committee; objects ending at or before it expire.
    EpochStarted(Committee),
    /// A `Blob` object whose lifetime is that of a storage pool.
    PooledBlobRegistered {
        blob_id: BlobId,
        object_id: ObjectId,
        pool_id: ObjectId,
        deletable: bool,
        event: EventId,
    },
    PooledBlobCertified {
        blob_id: BlobId,
        object_id: ObjectId,
        pool_id: ObjectId,
        deletable: bool,
        event: EventId,
    },
    StoragePoolCreated {
        pool_id: ObjectId,
        end_epoch: u32,
    },
    /// The pool's blobs live until the new end epoch.
    StoragePoolExtended {
        pool_id: ObjectId,
        end_epoch: u32,
    },
    /// A node registered or updated: committees selected from now on use this key and address.
    NodeRegistered {
        node_id: ObjectId,
        public_key: Vec<u8>,
        network_address: String,
    },
    NodeDeregistered {
        node_id: ObjectId,
    },
    /// The committee of the next epoch, members with their shards, in bitmap order; each
    /// member's key and address are those its node has when the committee is selected.
    CommitteeSelected {
        epoch: u32,
        members: Vec<(ObjectId, Vec<u16>)>,
    },
    /// The epoch whose committee was selected last begins (as [`ChainUpdate::EpochStarted`]).
    EpochChangeStarted {
        epoch: u32,
    },
}

impl ChainUpdate {
    /// The blob a certification update is about: after it, the node syncs what it lacks.
    pub fn certified_blob(&self) -> Option<BlobId> {
        match self {
            Self::BlobCertified { blob_id, .. } | Self::PooledBlobCertified { blob_id, .. } => Some(*blob_id),
            _ => None,
        }
    }

    /// Whether a new epoch begins with this update.
    pub fn starts_epoch(&self) -> bool {
        matches!(self, Self::EpochStarted(_) | Self::EpochChangeStarted { .. })
    }
}

/// What the node knows of one `Blob` object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobObject {
    pub object_id: ObjectId,
    pub end_epoch: u32,
    pub deletable: bool,
    /// The epoch in which it was certified, if it was.
    pub certified_epoch: Option<u32>,
    /// The event of its latest change (registration or certification).
    pub event: EventId,
}

impl BlobObject {
    pub fn is_live(&self, epoch: u32) -> bool {
        self.end_epoch > epoch
    }
}
