//! Blob objects and the system's epoch read through a full node, for `walrus blob-status` on
//! Sui. A full node indexes objects by owner, not by blob ID, so the blob objects found are
//! those of one owner; the epoch and shard count come from the `System` object's state, a
//! dynamic field keyed by the package version (`system.move`'s `VERSION`).

use serde::Deserialize;
use sui_sdk_types::{Address, TypeTag};
use walrus_encoder::BlobId;

use super::deployment::Deployment;
use super::full_node::{FullNode, NodeError};
use crate::chain::{BlobObject, ObjectId};

/// The `System` state version this client reads (`system.move`'s `VERSION`).
const SYSTEM_VERSION: u64 = 1;

/// Why the chain's answer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Node(#[from] NodeError),
    #[error("{0}")]
    Decode(String),
}

/// `system_state_inner::SystemStateInnerV1`'s fields, in order.
#[derive(Deserialize)]
struct SystemStateInner {
    committee: Committee,
    /// Capacity, used capacity, storage and write price.
    _sizes_and_prices: (u64, u64, u64, u64),
    /// `FutureAccountingRingBuffer`: current index, length, and (epoch, used capacity,
    /// rewards) per epoch ahead.
    _future_accounting: (u32, u32, Vec<(u32, u64, u64)>),
}

/// `bls_aggregate::BlsCommittee` (`Element<…>` is one byte vector).
#[derive(Deserialize)]
struct Committee {
    _members: Vec<(Vec<u8>, u16, [u8; 32])>,
    n_shards: u16,
    epoch: u32,
    _total_aggregated_key: Vec<u8>,
}

/// The system's current epoch and its number of shards (zero before the first committee).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SystemState {
    pub epoch: u32,
    pub n_shards: u16,
}

/// Reads the current epoch and shard count from the `System` object's state.
pub async fn system_state(node: &FullNode, deployment: &Deployment) -> Result<SystemState, ReadError> {
    let system = deployment.walrus.system.id;
    let inner = node.dynamic_field(system, &TypeTag::U64, &SYSTEM_VERSION.to_le_bytes()).await?;
    let inner = inner.ok_or_else(|| {
        ReadError::Decode(format!("the System object {system} has no state of version {SYSTEM_VERSION}"))
    })?;
    let state: SystemStateInner =
        bcs::from_bytes(&inner).map_err(|e| ReadError::Decode(format!("the System state does not decode: {e}")))?;
    Ok(SystemState { epoch: state.committee.epoch, n_shards: state.committee.n_shards })
}

/// `blob::Blob`'s fields, in order.
#[derive(Deserialize)]
struct Blob {
    id: [u8; 32],
    registered_epoch: u32,
    blob_id: [u8; 32],
    size: u64,
    _encoding_type: u8,
    certified_epoch: Option<u32>,
    storage: Storage,
    deletable: bool,
}

/// `storage_resource::Storage`.
#[derive(Deserialize)]
struct Storage {
    id: [u8; 32],
    start_epoch: u32,
    end_epoch: u32,
    storage_size: u64,
}

/// The `Blob` objects of `owner` holding `blob_id`; `owned` says whether `owner` is the
/// caller's wallet.
pub async fn owned_blobs(
    node: &FullNode,
    deployment: &Deployment,
    owner: Address,
    blob_id: &BlobId,
    owned: bool,
) -> Result<Vec<BlobObject>, ReadError> {
    let objects = node.owned_objects(owner, &deployment.walrus_type("blob", "Blob")).await?;
    let mut blobs = Vec::new();
    for object in objects {
        let blob: Blob = bcs::from_bytes(&object.contents).map_err(|e| {
            ReadError::Decode(format!("Blob object {} does not decode: {e}", object.reference.object_id()))
        })?;
        if blob.blob_id != blob_id.0 {
            continue;
        }
        blobs.push(BlobObject {
            object_id: ObjectId(blob.id),
            blob_id: BlobId(blob.blob_id),
            registered_epoch: blob.registered_epoch,
            certified_epoch: blob.certified_epoch,
            size: blob.size,
            storage_id: ObjectId(blob.storage.id),
            start_epoch: blob.storage.start_epoch,
            end_epoch: blob.storage.end_epoch,
            storage_size: blob.storage.storage_size,
            deletable: blob.deletable,
            owned,
        });
    }
    blobs.sort_by_key(|b| (b.end_epoch, b.object_id.0));
    Ok(blobs)
}
