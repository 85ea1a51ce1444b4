//! The system's state, the committee's shards and blob objects, read through a full node. A
//! full node indexes objects by owner, not by blob ID, so the blob objects found are those of
//! one owner. The `System` and `Staking` objects keep their state in a dynamic field keyed by
//! the package version (`system.move`'s and `staking.move`'s `VERSION`).

use serde::Deserialize;
use sui_sdk_types::{Address, ObjectReference, TypeTag};
use walrus_encoder::BlobId;

use super::deployment::Deployment;
use super::full_node::{FullNode, NodeError};
use crate::chain::{BlobObject, ObjectId};

/// The `System` and `Staking` state version this client reads (their modules' `VERSION`).
const STATE_VERSION: u64 = 1;

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
    committee: BlsCommittee,
    _total_capacity_size: u64,
    _used_capacity_size: u64,
    storage_price_per_unit_size: u64,
    write_price_per_unit_size: u64,
    /// `FutureAccountingRingBuffer`: current index, length (`max_epochs_ahead`), and (epoch,
    /// used capacity, rewards) per epoch ahead.
    future_accounting: (u32, u32, Vec<(u32, u64, u64)>),
}

/// `bls_aggregate::BlsCommittee` (`Element<…>` is one byte vector).
#[derive(Deserialize)]
struct BlsCommittee {
    members: Vec<BlsMember>,
    n_shards: u16,
    epoch: u32,
    _total_aggregated_key: Vec<u8>,
}

/// `bls_aggregate::BlsCommitteeMember`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct BlsMember {
    /// The BLS key as the committee was selected with it, uncompressed (96 bytes).
    pub public_key: Vec<u8>,
    pub weight: u16,
    pub node_id: [u8; 32],
}

/// The system's current epoch, committee keys, shard count (zero before the first
/// committee), prices and how far ahead storage can be bought.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemState {
    pub epoch: u32,
    pub n_shards: u16,
    /// In the order of signer bitmaps (ascending node ID).
    pub members: Vec<BlsMember>,
    pub storage_price: u64,
    pub write_price: u64,
    pub max_epochs_ahead: u32,
}

/// The value of the version-keyed dynamic field of `parent` that holds its state.
async fn state_field(node: &FullNode, parent: Address, what: &str) -> Result<Vec<u8>, ReadError> {
    let inner = node.dynamic_field(parent, &TypeTag::U64, &STATE_VERSION.to_le_bytes()).await?;
    inner
        .ok_or_else(|| ReadError::Decode(format!("the {what} object {parent} has no state of version {STATE_VERSION}")))
}

/// Reads the `System` object's state.
pub async fn system_state(node: &FullNode, deployment: &Deployment) -> Result<SystemState, ReadError> {
    let inner = state_field(node, deployment.walrus.system.id, "System").await?;
    let state: SystemStateInner =
        bcs::from_bytes(&inner).map_err(|e| ReadError::Decode(format!("the System state does not decode: {e}")))?;
    Ok(SystemState {
        epoch: state.committee.epoch,
        n_shards: state.committee.n_shards,
        members: state.committee.members,
        storage_price: state.storage_price_per_unit_size,
        write_price: state.write_price_per_unit_size,
        max_epochs_ahead: state.future_accounting.1,
    })
}

/// `committee::Committee`: node IDs and their shards, sorted by node ID.
type Shards = Vec<([u8; 32], Vec<u16>)>;

/// `staking_inner::StakingInnerV1`'s fields, in order.
#[derive(Deserialize)]
struct StakingInner {
    n_shards: u16,
    _epoch_duration: u64,
    _first_epoch_start: u64,
    _max_committee_size: u16,
    epoch: u32,
    _epoch_change_started: u64,
    /// `ObjectTable<ID, StakingPool>`: its UID and size.
    _pools: ([u8; 32], u64),
    _active_set: Vec<([u8; 32], u64)>,
    committee: Shards,
    _previous_committee: Shards,
    _next_committee: Option<Shards>,
    /// `EpochParams`: capacity, storage and write price.
    _next_epoch_params: Option<(u64, u64, u64)>,
    _epoch_state: EpochState,
}

#[derive(Deserialize)]
enum EpochState {
    EpochChangeSync { _weight: u16 },
    EpochChangeDone,
    NextParamsSelected,
}

/// The staking state a client needs: the shard count fixed at genesis, and which shards
/// each member of the current committee holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StakingState {
    pub n_shards: u16,
    pub epoch: u32,
    pub shards: Vec<(ObjectId, Vec<u16>)>,
}

/// Reads the `Staking` object's state.
pub async fn staking_state(node: &FullNode, deployment: &Deployment) -> Result<StakingState, ReadError> {
    let inner = state_field(node, deployment.walrus.staking.id, "Staking").await?;
    let state: StakingInner =
        bcs::from_bytes(&inner).map_err(|e| ReadError::Decode(format!("the Staking state does not decode: {e}")))?;
    let shards = state.committee.into_iter().map(|(id, shards)| (ObjectId(id), shards)).collect();
    Ok(StakingState { n_shards: state.n_shards, epoch: state.epoch, shards })
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

/// Decodes a `Blob` object's contents; `owned` says whether the caller's wallet owns it.
pub fn decode_blob(contents: &[u8], owned: bool) -> Result<BlobObject, String> {
    let blob: Blob = bcs::from_bytes(contents).map_err(|e| format!("the Blob object does not decode: {e}"))?;
    Ok(BlobObject {
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
    })
}

/// Every `Blob` object of `owner`, expired ones included, sorted by end epoch; `owned` says
/// whether `owner` is the caller's wallet.
pub async fn all_owned_blobs(
    node: &FullNode,
    deployment: &Deployment,
    owner: Address,
    owned: bool,
) -> Result<Vec<BlobObject>, ReadError> {
    let objects = node.owned_objects(owner, &deployment.walrus_type("blob", "Blob")).await?;
    let mut blobs = objects
        .iter()
        .map(|object| {
            decode_blob(&object.contents, owned)
                .map_err(|e| ReadError::Decode(format!("{}: {e}", object.reference.object_id())))
        })
        .collect::<Result<Vec<_>, _>>()?;
    blobs.sort_by_key(|b| (b.end_epoch, b.object_id.0));
    Ok(blobs)
}

/// A `Storage` object the wallet owns, not wrapped in a blob: what `delete` leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedStorage {
    pub reference: ObjectReference,
    pub start_epoch: u32,
    /// Exclusive.
    pub end_epoch: u32,
    pub storage_size: u64,
}

/// The `Storage` objects `owner` holds.
pub async fn owned_storage(
    node: &FullNode,
    deployment: &Deployment,
    owner: Address,
) -> Result<Vec<OwnedStorage>, ReadError> {
    let objects = node.owned_objects(owner, &deployment.walrus_type("storage_resource", "Storage")).await?;
    objects
        .into_iter()
        .map(|object| {
            let storage: Storage = bcs::from_bytes(&object.contents).map_err(|e| {
                ReadError::Decode(format!("{}: the Storage object does not decode: {e}", object.reference.object_id()))
            })?;
            Ok(OwnedStorage {
                reference: object.reference,
                start_epoch: storage.start_epoch,
                end_epoch: storage.end_epoch,
                storage_size: storage.storage_size,
            })
        })
        .collect()
}

/// The `Blob` objects of `owner` holding `blob_id`, expired ones included.
pub async fn owned_blobs(
    node: &FullNode,
    deployment: &Deployment,
    owner: Address,
    blob_id: &BlobId,
    owned: bool,
) -> Result<Vec<BlobObject>, ReadError> {
    let blobs = all_owned_blobs(node, deployment, owner, owned).await?;
    Ok(blobs.into_iter().filter(|b| b.blob_id == *blob_id).collect())
}
