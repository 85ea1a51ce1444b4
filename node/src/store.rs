//! The node's durable state in one redb database: the chain view (committee, Blob objects,
//! invalid blob IDs) with the checkpoint watermark it reflects, and the verified metadata and
//! where the verified slivers lie (their bytes are in one file per blob, see
//! [`crate::sliver_files`]). Every write is one transaction committed with fsync before it returns, so a caller
//! that answers 201 after a write knows the data survives a crash, and chain updates are applied
//! exactly once with their watermark.
//!
//! What following needs beside the view is kept in the same transactions: the node registry
//! (keys and addresses, from which committees are built when selected), the selected committee
//! of the next epoch, storage pools' end epochs, package versions learned from upgrades, and the
//! digest of the last checkpoint.
//!
//! Sliver writes that arrive while another commit is in progress are committed together in the
//! next transaction (group commit): one fsync for many slivers, and each writer still returns
//! only after its data is durable.
//!
//! Data is kept only while a live object keeps its blob ID: writes check registration inside
//! the same transaction that stores, and updates that end the last live object (deletion,
//! expiry at an epoch change, invalidation) delete metadata and slivers in their transaction.

use std::collections::BTreeSet;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, RwLock};

use bytes::Bytes;
use redb::{Builder, Database, ReadableDatabase, ReadableTable, Table, TableDefinition, TableHandle};
use walrus_encoder::{Axis, BlobId, Primary, Secondary, SliverPairIndex};

use serde::{Deserialize, Serialize};

use crate::chain::{BlobObject, ChainUpdate, Committee, EventId, Member, ObjectId};
use crate::sliver_files::{BlobFile, Location, SliverFiles};

/// `"watermark"` → u64 LE, `"committee"` → BCS [`Committee`].
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
/// blob ID ‖ object ID → BCS [`BlobObject`].
const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
/// blob ID → BCS [`EventId`] of the invalidation.
const INVALID: TableDefinition<&[u8], &[u8]> = TableDefinition::new("invalid");
/// blob ID → BCS `BlobMetadataWithId`, verified before it was stored.
const METADATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("metadata");
/// blob ID ‖ axis (0 primary, 1 secondary) ‖ pair (u16 BE) → where the verified BCS sliver
/// lies in its blob's file (see [`crate::sliver_files`]); checking that a sliver is there reads
/// these few bytes.
const SLIVERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sliver_locations");
/// Where a store of the earlier format kept sliver bodies, and its key-only presence table:
/// moved into sliver files when such a store is opened.
const OLD_SLIVERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("slivers");
const OLD_HELD: TableDefinition<&[u8], ()> = TableDefinition::new("held");
/// node ID → BCS [`RegisteredNode`]: every registered node as last registered or updated.
const NODES: TableDefinition<&[u8], &[u8]> = TableDefinition::new("nodes");
/// storage pool ID → end epoch (u32 LE).
const POOLS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pools");
/// pool ID ‖ blob ID ‖ object ID → empty: the objects whose lifetime a pool sets.
const POOL_OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("pool_objects");
/// blob ID → why its blob sync is pending, resumed after a restart: empty for a certified blob,
/// or the epoch (u32 LE) at whose start the node gained shards the blob needs slivers of.
const SYNC_PENDING: TableDefinition<&[u8], &[u8]> = TableDefinition::new("sync_pending");
/// package address → empty: the versions of the followed package seen so far.
const ORIGINS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("origins");
/// redb's page cache: it holds only the chain view, metadata and sliver locations.
const CACHE_BYTES: usize = 64 << 20;

const WATERMARK: &str = "watermark";
const COMMITTEE: &str = "committee";
/// u64 LE: how many chain events (or updates given directly) were processed, for the health
/// report's event progress.
const UPDATES: &str = "updates";
/// u64 LE: events of the followed package that could not be used.
const UNDECODABLE: &str = "undecodable";
/// BCS [`Committee`] selected for the next epoch, until that epoch starts.
const NEXT_COMMITTEE: &str = "next_committee";
/// The digest of the checkpoint at the watermark, when it was followed.
const DIGEST: &str = "digest";
/// u32 LE: the latest epoch for which the node reported its shards in place
/// (`epoch_sync_done`), so that it reports each epoch once across restarts.
const SYNC_REPORTED: &str = "sync_done_reported";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Db(#[from] redb::Error),
    #[error("sliver files: {0}")]
    Files(#[from] std::io::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the blob ID is not registered")]
    NotRegistered,
    #[error("the blob ID is invalid")]
    Invalid,
    #[error("the blob's metadata is not stored")]
    MetadataMissing,
    #[error("checkpoint {checkpoint} does not follow the watermark {watermark}")]
    Gap { watermark: u64, checkpoint: u64 },
    #[error("checkpoint {checkpoint}'s previous digest is not the digest of the checkpoint before it: refused")]
    BrokenChain { checkpoint: u64 },
    #[error("the chain contradicts the node's view: {0}")]
    Chain(String),
    /// A storage error in a group commit, reported to every write in it.
    #[error("storage: {0}")]
    Group(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Db(e.into())
            }
        }
    )*};
}
from_redb!(redb::DatabaseError, redb::TransactionError, redb::TableError, redb::StorageError, redb::CommitError);

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Whether a write added data or found it already there (201 or 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    New,
    Already,
}

/// A checkpoint the node followed, reduced to what its store keeps.
#[derive(Debug, Clone, Copy)]
pub struct FollowedCheckpoint<'a> {
    pub sequence: u64,
    pub digest: [u8; 32],
    /// `None` only at genesis.
    pub previous_digest: Option<[u8; 32]>,
    pub updates: &'a [ChainUpdate],
    /// Versions of the followed package first published in it.
    pub new_origins: &'a [ObjectId],
    /// Its events of the followed package, usable or not.
    pub events: u64,
    /// Those that could not be used.
    pub undecodable: u64,
}

/// A node as its latest registration or update describes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RegisteredNode {
    public_key: Vec<u8>,
    network_address: String,
}

/// What the chain says about one blob ID.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BlobState {
    pub invalidated: Option<EventId>,
    /// Its live objects, in object-ID order.
    pub objects: Vec<BlobObject>,
}

impl BlobState {
    /// Registered: not invalid and kept by at least one live object.
    pub fn is_registered(&self) -> bool {
        self.invalidated.is_none() && !self.objects.is_empty()
    }
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T> {
    bcs::from_bytes(bytes).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

fn encode<T: serde::Serialize>(value: &T) -> Vec<u8> {
    bcs::to_bytes(value).expect("stored types always serialize")
}

/// A u64 kept as 8 little-endian bytes; absent is 0.
fn read_u64(bytes: Option<&[u8]>) -> Result<u64> {
    bytes.map_or(Ok(0), |b| {
        b.try_into().map(u64::from_le_bytes).map_err(|_| StoreError::Corrupt("a counter is not 8 bytes".into()))
    })
}

fn object_key(blob_id: &BlobId, object_id: &ObjectId) -> [u8; 64] {
    let mut key = [0; 64];
    key[..32].copy_from_slice(&blob_id.0);
    key[32..].copy_from_slice(&object_id.0);
    key
}

fn sliver_key<A: Axis>(blob_id: &BlobId, pair: SliverPairIndex) -> [u8; 35] {
    let mut key = [0; 35];
    key[..32].copy_from_slice(&blob_id.0);
    key[32] = u8::from(!A::IS_PRIMARY);
    key[33..].copy_from_slice(&pair.0.to_be_bytes());
    key
}

fn pool_object_key(pool_id: &ObjectId, blob_id: &BlobId, object_id: &ObjectId) -> [u8; 96] {
    let mut key = [0; 96];
    key[..32].copy_from_slice(&pool_id.0);
    key[32..].copy_from_slice(&object_key(blob_id, object_id));
    key
}

/// The key range of everything stored under a blob ID (keys longer than 32 bytes).
fn blob_range(blob_id: &BlobId) -> IdRange {
    IdRange::new(&blob_id.0)
}

/// The keys that start with a 32-byte ID, in a table whose keys are all longer: from the ID
/// itself, which sorts before every one of them, to the next ID, which sorts after every one
/// of them (to the end after the last ID). An end of the ID and one byte 0xff would leave out
/// the keys whose next byte is 0xff, such as one blob object in 256.
struct IdRange {
    start: [u8; 32],
    end: Option<[u8; 32]>,
}

impl IdRange {
    fn new(id: &[u8; 32]) -> Self {
        // The next ID as a big-endian number: trailing 0xff bytes roll over to 0.
        let end = id.iter().rposition(|&byte| byte != 0xff).map(|i| {
            let mut next = *id;
            next[i] += 1;
            next[i + 1..].fill(0);
            next
        });
        Self { start: *id, end }
    }

    /// For `range::<&[u8]>`: the key type must be named, as bounds are ranges of two types.
    fn bounds(&self) -> (Bound<&[u8]>, Bound<&[u8]>) {
        let end = self.end.as_ref().map_or(Bound::Unbounded, |end| Bound::Excluded(end.as_slice()));
        (Bound::Included(self.start.as_slice()), end)
    }
}

/// A sliver written to its blob's file, waiting for the next group commit to make it durable
/// and record where it lies.
struct SliverWrite {
    id: u64,
    blob_id: BlobId,
    key: [u8; 35],
    file: Arc<BlobFile>,
    location: Location,
}

/// Sliver writes waiting for a commit, and the outcomes of committed ones.
#[derive(Default)]
struct Queue {
    next_id: u64,
    pending: Vec<SliverWrite>,
    /// Whether a writer is committing a batch now.
    committing: bool,
    outcomes: Vec<(u64, Result<Written>)>,
}

pub struct Store {
    db: Database,
    /// The node whose shards this store holds: an epoch start marks what it must sync.
    node_id: ObjectId,
    files: SliverFiles,
    queue: Mutex<Queue>,
    committed: Condvar,
    /// Held through every chain update until the files of blobs it dropped are gone, so that a
    /// blob registered again can only be written to after its old file is marked dead.
    applying: Mutex<()>,
    /// The stored committee, decoded once: every request checks it. Replaced after the commit
    /// of a chain update that starts an epoch (updates are serialized by `applying`).
    committee: RwLock<Arc<Committee>>,
    /// The last checkpoint applied, published once its files are removed and its committee
    /// cached: whoever sees it sees every effect of the checkpoints up to it.
    watermark: RwLock<Option<u64>>,
}

impl Store {
    /// Opens or creates the database file `path` of node `node_id`, with sliver files in the
    /// directory beside it named like it with the extension `slivers`. Files nothing points into
    /// (left by a crash between a deletion's commit and its unlink) are removed.
    pub fn open(path: &Path, node_id: ObjectId) -> Result<Self> {
        let db = Builder::new().set_cache_size(CACHE_BYTES).create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(STATE)?;
        txn.open_table(OBJECTS)?;
        txn.open_table(INVALID)?;
        txn.open_table(METADATA)?;
        txn.open_table(SLIVERS)?;
        txn.open_table(NODES)?;
        txn.open_table(POOLS)?;
        txn.open_table(POOL_OBJECTS)?;
        txn.open_table(ORIGINS)?;
        txn.open_table(SYNC_PENDING)?;
        txn.commit()?;
        let files = SliverFiles::open(path.with_extension("slivers"))?;
        let (committee, watermark) = {
            let txn = db.begin_read()?;
            let state = txn.open_table(STATE)?;
            let committee =
                state.get(COMMITTEE)?.map_or(Ok(Committee::default()), |v| decode(v.value(), "committee"))?;
            let watermark = state.get(WATERMARK)?.map(|v| read_u64(Some(v.value()))).transpose()?;
            (RwLock::new(Arc::new(committee)), RwLock::new(watermark))
        };
        let store = Self {
            db,
            node_id,
            files,
            queue: Mutex::default(),
            committed: Condvar::new(),
            applying: Mutex::default(),
            committee,
            watermark,
        };
        for blob_id in store.files.blob_ids()? {
            let txn = store.db.begin_read()?;
            if txn.open_table(SLIVERS)?.range::<&[u8]>(blob_range(&blob_id).bounds())?.next().is_none() {
                store.files.remove(&blob_id)?;
            }
        }
        store.move_old_slivers()?;
        Ok(store)
    }

    /// Moves the bodies a store of the earlier format kept in the database into sliver files,
    /// in one transaction committed after every file is synced: a crash before the commit
    /// leaves the old table whole and the new files unreferenced (swept at the next open).
    fn move_old_slivers(&self) -> Result<()> {
        let txn = self.db.begin_write()?;
        if !txn.list_tables()?.any(|table| table.name() == OLD_SLIVERS.name()) {
            return Ok(());
        }
        {
            let old = txn.open_table(OLD_SLIVERS)?;
            let mut locations = txn.open_table(SLIVERS)?;
            let mut current: Option<(BlobId, Arc<BlobFile>)> = None;
            for entry in old.iter()? {
                let (key, body) = entry?;
                let key = key.value();
                let id = key.get(..32).and_then(|id| id.try_into().ok());
                let blob_id = BlobId(id.ok_or_else(|| StoreError::Corrupt("an old sliver key is short".into()))?);
                if current.as_ref().is_none_or(|(id, _)| *id != blob_id) {
                    if let Some((_, file)) = current.take() {
                        file.sync()?;
                    }
                    current = Some((blob_id, self.files.file(&blob_id)?));
                }
                let (_, file) = current.as_ref().expect("set above");
                locations.insert(key, file.append(body.value())?.as_slice())?;
            }
            if let Some((_, file)) = current {
                file.sync()?;
            }
        }
        txn.delete_table(OLD_SLIVERS)?;
        txn.delete_table(OLD_HELD)?;
        txn.commit()?;
        Ok(())
    }

    /// The last checkpoint whose updates are applied.
    pub fn watermark(&self) -> Option<u64> {
        *self.watermark.read().expect("never poisoned")
    }

    /// How many chain events were processed (followed checkpoints count their events of the
    /// package, usable or not; updates given directly count one each), for event progress.
    pub fn updates_applied(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let value = txn.open_table(STATE)?.get(UPDATES)?;
        read_u64(value.as_ref().map(|v| v.value()))
    }

    /// Events of the followed package that could not be used, in all.
    pub fn undecodable_events(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let value = txn.open_table(STATE)?.get(UNDECODABLE)?;
        read_u64(value.as_ref().map(|v| v.value()))
    }

    /// The committee selected for the next epoch, until that epoch starts.
    pub fn next_committee(&self) -> Result<Option<Committee>> {
        let txn = self.db.begin_read()?;
        let value = txn.open_table(STATE)?.get(NEXT_COMMITTEE)?;
        value.map(|v| decode(v.value(), "next committee")).transpose()
    }

    /// The package versions learned from upgrades (the original package is not stored).
    pub fn origins(&self) -> Result<Vec<ObjectId>> {
        self.ids_in(ORIGINS, "an origin").map(|ids| ids.into_iter().map(ObjectId).collect())
    }

    /// Certified blobs whose sync has not finished.
    pub fn pending_syncs(&self) -> Result<Vec<BlobId>> {
        self.ids_in(SYNC_PENDING, "a blob ID").map(|ids| ids.into_iter().map(BlobId).collect())
    }

    /// The keys of a table keyed by 32-byte IDs.
    fn ids_in(&self, table: TableDefinition<&[u8], &[u8]>, what: &str) -> Result<Vec<[u8; 32]>> {
        let txn = self.db.begin_read()?;
        let mut ids = Vec::new();
        for entry in txn.open_table(table)?.iter()? {
            let id = entry?.0.value().try_into().map_err(|_| StoreError::Corrupt(format!("{what} is not 32 bytes")))?;
            ids.push(id);
        }
        Ok(ids)
    }

    /// Blobs pending because the node gained shards at an epoch start (see
    /// [`Store::pending_syncs`]); the node reports its shards in place once there are none.
    pub fn shard_syncs_pending(&self) -> Result<Vec<BlobId>> {
        let txn = self.db.begin_read()?;
        let mut ids = Vec::new();
        for entry in txn.open_table(SYNC_PENDING)?.iter()? {
            let (key, value) = entry?;
            if !value.value().is_empty() {
                let id = key.value().try_into().map_err(|_| StoreError::Corrupt("a blob ID is not 32 bytes".into()))?;
                ids.push(BlobId(id));
            }
        }
        Ok(ids)
    }

    /// Records that the node holds everything it should of `blob_id` (or that it is gone) for
    /// the committee of `epoch`, the one the sync worked for. Returns `false`, keeping the blob
    /// pending, if another epoch has begun since: its shards may differ. No commit when
    /// nothing changes.
    pub fn sync_done(&self, blob_id: &BlobId, epoch: u32) -> Result<bool> {
        let txn = self.db.begin_write()?;
        let done = {
            let current = Self::epoch_in(&txn)?;
            let mut pending = txn.open_table(SYNC_PENDING)?;
            if pending.get(blob_id.0.as_slice())?.is_none() {
                return Ok(true);
            }
            if current != epoch {
                return Ok(false);
            }
            pending.remove(blob_id.0.as_slice())?;
            true
        };
        txn.commit()?;
        Ok(done)
    }

    /// The epoch of the committee, as a write transaction sees it.
    fn epoch_in(txn: &redb::WriteTransaction) -> Result<u32> {
        match txn.open_table(STATE)?.get(COMMITTEE)? {
            Some(v) => Ok(decode::<Committee>(v.value(), "committee")?.epoch),
            None => Ok(0),
        }
    }

    /// The latest epoch the node reported its shards in place for.
    pub fn sync_reported(&self) -> Result<Option<u32>> {
        let txn = self.db.begin_read()?;
        let value = txn.open_table(STATE)?.get(SYNC_REPORTED)?;
        value
            .map(|v| {
                v.value()
                    .try_into()
                    .map(u32::from_le_bytes)
                    .map_err(|_| StoreError::Corrupt("the reported epoch is not 4 bytes".into()))
            })
            .transpose()
    }

    /// Records that the node reported its shards in place for `epoch` (never moving back).
    pub fn record_sync_reported(&self, epoch: u32) -> Result<()> {
        if self.sync_reported()?.is_some_and(|reported| reported >= epoch) {
            return Ok(());
        }
        let txn = self.db.begin_write()?;
        txn.open_table(STATE)?.insert(SYNC_REPORTED, epoch.to_le_bytes().as_slice())?;
        txn.commit()?;
        Ok(())
    }

    /// The end of a blob sync in one commit (one fsync per blob rather than one per step):
    /// the fetched metadata (verified, BCS `BlobMetadataWithId`) unless stored, the rebuilt
    /// (verified) slivers of both axes not yet held, and, if `done` is the epoch whose shards
    /// the sync covered and it is still the current one, the end of the pending mark. Fails,
    /// writing nothing, unless the blob is registered.
    pub fn finish_sync(
        &self,
        blob_id: &BlobId,
        metadata: Option<&[u8]>,
        primary: &[(SliverPairIndex, Bytes)],
        secondary: &[(SliverPairIndex, Bytes)],
        done: Option<u32>,
    ) -> Result<()> {
        let epoch = self.committee().epoch;
        // Checked again in the commit; checked first so that no file is made for nothing.
        self.check_writable(epoch, blob_id, metadata.is_none())?;
        let file = self.files.file(blob_id)?;
        let keys = primary
            .iter()
            .map(|(pair, bytes)| (sliver_key::<Primary>(blob_id, *pair), bytes))
            .chain(secondary.iter().map(|(pair, bytes)| (sliver_key::<Secondary>(blob_id, *pair), bytes)));
        let mut missing = Vec::with_capacity(primary.len() + secondary.len());
        {
            let txn = self.db.begin_read()?;
            let stored = txn.open_table(SLIVERS)?;
            for (key, bytes) in keys {
                if stored.get(key.as_slice())?.is_none() {
                    missing.push((key, &bytes[..]));
                }
            }
        }
        let locations = file.append_all(&missing.iter().map(|(_, bytes)| *bytes).collect::<Vec<_>>())?;
        let written: Vec<_> = missing.into_iter().map(|(key, _)| key).zip(locations).collect();
        file.sync()?;
        let txn = self.db.begin_write()?;
        {
            let current = Self::epoch_in(&txn)?;
            let objects = txn.open_table(OBJECTS)?;
            let invalid = txn.open_table(INVALID)?;
            Self::check_registered(&objects, &invalid, current, blob_id)?;
            if file.is_dead() {
                return Err(StoreError::NotRegistered);
            }
            let mut stored = txn.open_table(METADATA)?;
            if stored.get(blob_id.0.as_slice())?.is_none() {
                stored.insert(blob_id.0.as_slice(), metadata.ok_or(StoreError::MetadataMissing)?)?;
            }
            let mut slivers = txn.open_table(SLIVERS)?;
            for (key, location) in written {
                if slivers.get(key.as_slice())?.is_none() {
                    slivers.insert(key.as_slice(), location.as_slice())?;
                }
            }
            if done.is_some_and(|epoch| epoch == current) {
                txn.open_table(SYNC_PENDING)?.remove(blob_id.0.as_slice())?;
            }
        }
        txn.commit()?;
        Ok(())
    }

    /// The latest committee; an empty one at epoch 0 before the first epoch is seen.
    pub fn committee(&self) -> Arc<Committee> {
        self.committee.read().expect("never poisoned").clone()
    }

    /// Applies the updates of `checkpoint` and records it as the watermark, all in one
    /// transaction. A checkpoint at or below the watermark was applied before: it is skipped
    /// and `false` returned, which makes replay after a crash harmless. Updates given this way
    /// carry no digest: the digest chain starts afresh at the next followed checkpoint.
    pub fn apply(&self, checkpoint: u64, updates: &[ChainUpdate]) -> Result<bool> {
        let step = FollowedCheckpoint {
            sequence: checkpoint,
            digest: [0; 32],
            previous_digest: None,
            updates,
            new_origins: &[],
            events: updates.len() as u64,
            undecodable: 0,
        };
        self.apply_in(&[step], false).map(|applied| applied == 1)
    }

    /// Applies checkpoints the node followed, in order, as [`Store::apply`] does, in one
    /// transaction with what following needs kept beside them: their digests and the package
    /// versions they published. Refuses them all if one does not come right after the
    /// watermark, or its previous digest is not the stored digest of the checkpoint before it.
    /// Returns how many were applied (those at or below the watermark are skipped).
    pub fn apply_followed(&self, checkpoints: &[FollowedCheckpoint<'_>]) -> Result<usize> {
        self.apply_in(checkpoints, true)
    }

    fn apply_in(&self, checkpoints: &[FollowedCheckpoint<'_>], linked: bool) -> Result<usize> {
        let _applying = self.applying.lock().expect("never poisoned");
        let txn = self.db.begin_write()?;
        let mut applied = 0;
        let mut last = None;
        let (dropped, started);
        {
            let mut view = ChainTables::open(&txn, self.node_id)?;
            let mut origins = txn.open_table(ORIGINS)?;
            for step in checkpoints {
                let checkpoint = step.sequence;
                // Read inside the write transaction: writers are serialized, so no other apply
                // can move the watermark between this check and the commit.
                let watermark = view.state.get(WATERMARK)?.map(|v| read_u64(Some(v.value()))).transpose()?;
                if watermark.is_some_and(|w| w >= checkpoint) {
                    continue;
                }
                if linked {
                    if let Some(watermark) = watermark.filter(|&w| w + 1 != checkpoint) {
                        return Err(StoreError::Gap { watermark, checkpoint });
                    }
                    let stored = view.state.get(DIGEST)?.map(|v| <[u8; 32]>::try_from(v.value()));
                    match stored {
                        Some(Err(_)) => return Err(StoreError::Corrupt("the stored digest is not 32 bytes".into())),
                        Some(Ok(stored)) if step.previous_digest != Some(stored) => {
                            return Err(StoreError::BrokenChain { checkpoint });
                        }
                        _ => {}
                    }
                    view.state.insert(DIGEST, step.digest.as_slice())?;
                } else {
                    view.state.remove(DIGEST)?;
                }
                for origin in step.new_origins {
                    origins.insert(origin.0.as_slice(), [].as_slice())?;
                }
                // Blob IDs that may have lost their last live object.
                let mut touched = BTreeSet::new();
                for update in step.updates {
                    view.apply(update, &mut touched)?;
                }
                for blob_id in touched {
                    view.drop_unless_kept(&blob_id)?;
                }
                view.add(UPDATES, step.events)?;
                view.add(UNDECODABLE, step.undecodable)?;
                view.state.insert(WATERMARK, checkpoint.to_le_bytes().as_slice())?;
                applied += 1;
                last = Some(checkpoint);
            }
            dropped = view.dropped;
            started = view.started;
        }
        if applied > 0 {
            txn.commit()?;
            if let Some(committee) = started {
                *self.committee.write().expect("never poisoned") = Arc::new(committee);
            }
            // Published even if a removal fails: the commit stands, and the file is swept at the
            // next open because nothing points into it.
            let removed = dropped.iter().try_for_each(|blob_id| self.files.remove(blob_id));
            *self.watermark.write().expect("never poisoned") = last;
            removed?;
        }
        Ok(applied)
    }

    /// The chain's view of `blob_id`, with only the objects that are live in the current epoch.
    pub fn blob_state(&self, blob_id: &BlobId) -> Result<BlobState> {
        let epoch = self.committee().epoch;
        let txn = self.db.begin_read()?;
        let invalidated = match txn.open_table(INVALID)?.get(blob_id.0.as_slice())? {
            Some(v) => Some(decode(v.value(), "invalidation event")?),
            None => None,
        };
        let objects = txn.open_table(OBJECTS)?;
        let mut live = Vec::new();
        for entry in objects.range::<&[u8]>(blob_range(blob_id).bounds())? {
            let object: BlobObject = decode(entry?.1.value(), "blob object")?;
            if object.is_live(epoch) {
                live.push(object);
            }
        }
        Ok(BlobState { invalidated, objects: live })
    }

    /// Fails unless `blob_id` is registered, as seen inside a write transaction.
    fn check_registered(
        objects: &impl ReadableTable<&'static [u8], &'static [u8]>,
        invalid: &impl ReadableTable<&'static [u8], &'static [u8]>,
        epoch: u32,
        blob_id: &BlobId,
    ) -> Result<()> {
        if invalid.get(blob_id.0.as_slice())?.is_some() {
            return Err(StoreError::Invalid);
        }
        for entry in objects.range::<&[u8]>(blob_range(blob_id).bounds())? {
            if decode::<BlobObject>(entry?.1.value(), "blob object")?.is_live(epoch) {
                return Ok(());
            }
        }
        Err(StoreError::NotRegistered)
    }

    /// Stores verified metadata (BCS `BlobMetadataWithId`) if the blob ID is registered.
    pub fn put_metadata(&self, blob_id: &BlobId, bytes: &[u8]) -> Result<Written> {
        let epoch = self.committee().epoch;
        let txn = self.db.begin_write()?;
        let written = {
            let objects = txn.open_table(OBJECTS)?;
            let invalid = txn.open_table(INVALID)?;
            Self::check_registered(&objects, &invalid, epoch, blob_id)?;
            let mut metadata = txn.open_table(METADATA)?;
            if metadata.get(blob_id.0.as_slice())?.is_some() {
                Written::Already
            } else {
                metadata.insert(blob_id.0.as_slice(), bytes)?;
                Written::New
            }
        };
        if written == Written::New {
            txn.commit()?;
        }
        Ok(written)
    }

    /// The stored BCS `BlobMetadataWithId`.
    pub fn metadata(&self, blob_id: &BlobId) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let value = txn.open_table(METADATA)?.get(blob_id.0.as_slice())?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    /// Whether metadata of `blob_id` is stored, without parsing it.
    pub fn has_metadata(&self, blob_id: &BlobId) -> Result<bool> {
        let txn = self.db.begin_read()?;
        let value = txn.open_table(METADATA)?.get(blob_id.0.as_slice())?;
        Ok(value.is_some())
    }

    /// Stores a verified sliver (BCS) if the blob is registered and its metadata stored, and
    /// returns once it is durable.
    pub fn put_sliver<A: Axis>(&self, blob_id: &BlobId, pair: SliverPairIndex, bytes: Bytes) -> Result<Written> {
        self.put_slivers::<A>(blob_id, vec![(pair, bytes)]).pop().expect("one outcome per sliver")
    }

    /// Stores verified slivers of one axis as [`Store::put_sliver`] does, with one outcome each,
    /// in as few commits as concurrent writers allow: whoever finds no commit in progress
    /// commits everything queued so far, while the others wait for their outcomes.
    pub fn put_slivers<A: Axis>(
        &self,
        blob_id: &BlobId,
        slivers: Vec<(SliverPairIndex, Bytes)>,
    ) -> Vec<Result<Written>> {
        // The bytes go to the blob's file first, outside the queue's lock, so that writers
        // copy their bodies in parallel and while another batch commits.
        let written = self.check_writable(self.committee().epoch, blob_id, true).and_then(|()| {
            let file = self.files.file(blob_id)?;
            let locations = file.append_all(&slivers.iter().map(|(_, bytes)| &bytes[..]).collect::<Vec<_>>())?;
            Ok((file, locations))
        });
        let (file, locations) = match written {
            Ok(written) => written,
            Err(e) => {
                let message = e.to_string();
                let mut e = Some(e);
                return slivers
                    .iter()
                    .map(|_| Err(e.take().unwrap_or_else(|| StoreError::Group(message.clone()))))
                    .collect();
            }
        };
        let mut queue = self.queue.lock().expect("the write queue is never poisoned");
        let first = queue.next_id;
        let count = slivers.len() as u64;
        queue.next_id += count;
        for (((pair, _), location), id) in slivers.into_iter().zip(locations).zip(first..) {
            let key = sliver_key::<A>(blob_id, pair);
            queue.pending.push(SliverWrite { id, blob_id: *blob_id, key, file: file.clone(), location });
        }
        let mut outcomes: Vec<(u64, Result<Written>)> = Vec::with_capacity(count as usize);
        loop {
            let mine = |id: &u64| (first..first + count).contains(id);
            let (done, others) = std::mem::take(&mut queue.outcomes).into_iter().partition(|(id, _)| mine(id));
            queue.outcomes = others;
            outcomes.extend::<Vec<_>>(done);
            if outcomes.len() as u64 == count {
                outcomes.sort_by_key(|(id, _)| *id);
                return outcomes.into_iter().map(|(_, outcome)| outcome).collect();
            }
            if queue.committing {
                queue = self.committed.wait(queue).expect("the write queue is never poisoned");
                continue;
            }
            queue.committing = true;
            let batch = std::mem::take(&mut queue.pending);
            drop(queue);
            let ids: Vec<u64> = batch.iter().map(|w| w.id).collect();
            let committed = match self.commit_slivers(batch) {
                Ok(committed) => committed,
                Err(e) => ids.into_iter().map(|id| (id, Err(StoreError::Group(e.to_string())))).collect(),
            };
            queue = self.queue.lock().expect("the write queue is never poisoned");
            queue.outcomes.extend(committed);
            queue.committing = false;
            self.committed.notify_all();
        }
    }

    /// Records a batch of written slivers in one transaction, after syncing their files; each
    /// gets its own outcome, and only those found registered, with metadata, are recorded.
    fn commit_slivers(&self, batch: Vec<SliverWrite>) -> Result<Vec<(u64, Result<Written>)>> {
        let epoch = self.committee().epoch;
        let mut synced: Vec<&Arc<BlobFile>> = Vec::new();
        for write in &batch {
            if !synced.iter().any(|file| Arc::ptr_eq(file, &write.file)) {
                write.file.sync()?;
                synced.push(&write.file);
            }
        }
        let txn = self.db.begin_write()?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut any_new = false;
        {
            let objects = txn.open_table(OBJECTS)?;
            let invalid = txn.open_table(INVALID)?;
            let metadata = txn.open_table(METADATA)?;
            let mut slivers = txn.open_table(SLIVERS)?;
            for write in &batch {
                let outcome = match Self::check_registered(&objects, &invalid, epoch, &write.blob_id) {
                    Err(e) => Err(e),
                    // Written to a file deleted since: registered again, but not in that file.
                    Ok(()) if write.file.is_dead() => Err(StoreError::NotRegistered),
                    Ok(()) if metadata.get(write.blob_id.0.as_slice())?.is_none() => Err(StoreError::MetadataMissing),
                    Ok(()) if slivers.get(write.key.as_slice())?.is_some() => Ok(Written::Already),
                    Ok(()) => {
                        slivers.insert(write.key.as_slice(), write.location.as_slice())?;
                        any_new = true;
                        Ok(Written::New)
                    }
                };
                outcomes.push((write.id, outcome));
            }
        }
        if any_new {
            txn.commit()?;
        }
        Ok(outcomes)
    }

    /// Fails unless `blob_id` is registered and, if `needs_metadata`, its metadata stored, as
    /// a read transaction sees it: a check before writing bytes the commit would refuse.
    fn check_writable(&self, epoch: u32, blob_id: &BlobId, needs_metadata: bool) -> Result<()> {
        let txn = self.db.begin_read()?;
        Self::check_registered(&txn.open_table(OBJECTS)?, &txn.open_table(INVALID)?, epoch, blob_id)?;
        if needs_metadata && txn.open_table(METADATA)?.get(blob_id.0.as_slice())?.is_none() {
            return Err(StoreError::MetadataMissing);
        }
        Ok(())
    }

    fn has_key(&self, key: &[u8]) -> Result<bool> {
        let txn = self.db.begin_read()?;
        Ok(txn.open_table(SLIVERS)?.get(key)?.is_some())
    }

    /// The stored BCS of a sliver.
    pub fn sliver<A: Axis>(&self, blob_id: &BlobId, pair: SliverPairIndex) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let value = txn.open_table(SLIVERS)?.get(sliver_key::<A>(blob_id, pair).as_slice())?;
        Ok(value.map(|v| self.files.read(blob_id, v.value())).transpose()?)
    }

    /// The stored slivers of axis `A` of `pairs`, those held, read in one transaction.
    pub fn slivers<A: Axis>(&self, blob_id: &BlobId, pairs: &[SliverPairIndex]) -> Result<Vec<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(SLIVERS)?;
        let mut slivers = Vec::with_capacity(pairs.len());
        for &pair in pairs {
            if let Some(value) = table.get(sliver_key::<A>(blob_id, pair).as_slice())? {
                slivers.push(self.files.read(blob_id, value.value())?);
            }
        }
        Ok(slivers)
    }

    /// Which of `pairs` lack their sliver of axis `A`, checked in one read transaction.
    pub fn missing_slivers<A: Axis>(
        &self,
        blob_id: &BlobId,
        pairs: &[SliverPairIndex],
    ) -> Result<Vec<SliverPairIndex>> {
        let txn = self.db.begin_read()?;
        let held = txn.open_table(SLIVERS)?;
        let mut missing = Vec::new();
        for &pair in pairs {
            if held.get(sliver_key::<A>(blob_id, pair).as_slice())?.is_none() {
                missing.push(pair);
            }
        }
        Ok(missing)
    }

    pub fn has_sliver<A: Axis>(&self, blob_id: &BlobId, pair: SliverPairIndex) -> Result<bool> {
        self.has_key(&sliver_key::<A>(blob_id, pair))
    }

    /// The first of `pairs` of which a sliver is missing, checked in one read transaction.
    pub fn first_incomplete(&self, blob_id: &BlobId, pairs: &[SliverPairIndex]) -> Result<Option<SliverPairIndex>> {
        let txn = self.db.begin_read()?;
        let held = txn.open_table(SLIVERS)?;
        for &pair in pairs {
            if held.get(sliver_key::<Primary>(blob_id, pair).as_slice())?.is_none()
                || held.get(sliver_key::<Secondary>(blob_id, pair).as_slice())?.is_none()
            {
                return Ok(Some(pair));
            }
        }
        Ok(None)
    }
}

impl Store {
    /// Whether metadata or any sliver of `blob_id` is stored, or its sliver file is still there.
    pub fn holds_data(&self, blob_id: &BlobId) -> Result<bool> {
        let txn = self.db.begin_read()?;
        let has_metadata = txn.open_table(METADATA)?.get(blob_id.0.as_slice())?.is_some();
        let has_slivers = txn.open_table(SLIVERS)?.range::<&[u8]>(blob_range(blob_id).bounds())?.next().is_some();
        Ok(has_metadata || has_slivers || self.files.exists(blob_id))
    }
}

/// The tables a chain update changes, open in one write transaction.
struct ChainTables<'t> {
    state: Table<'t, &'static str, &'static [u8]>,
    objects: Table<'t, &'static [u8], &'static [u8]>,
    invalid: Table<'t, &'static [u8], &'static [u8]>,
    metadata: Table<'t, &'static [u8], &'static [u8]>,
    slivers: Table<'t, &'static [u8], &'static [u8]>,
    nodes: Table<'t, &'static [u8], &'static [u8]>,
    pools: Table<'t, &'static [u8], &'static [u8]>,
    pool_objects: Table<'t, &'static [u8], &'static [u8]>,
    sync_pending: Table<'t, &'static [u8], &'static [u8]>,
    node_id: ObjectId,
    /// Blob IDs whose data was dropped: their files go once the transaction is committed.
    dropped: Vec<BlobId>,
    /// The committee of the last epoch started, to cache once the transaction is committed.
    started: Option<Committee>,
}

impl<'t> ChainTables<'t> {
    fn open(txn: &'t redb::WriteTransaction, node_id: ObjectId) -> Result<Self> {
        Ok(Self {
            state: txn.open_table(STATE)?,
            objects: txn.open_table(OBJECTS)?,
            invalid: txn.open_table(INVALID)?,
            metadata: txn.open_table(METADATA)?,
            slivers: txn.open_table(SLIVERS)?,
            nodes: txn.open_table(NODES)?,
            pools: txn.open_table(POOLS)?,
            pool_objects: txn.open_table(POOL_OBJECTS)?,
            sync_pending: txn.open_table(SYNC_PENDING)?,
            node_id,
            dropped: Vec::new(),
            started: None,
        })
    }

    fn epoch(&self) -> Result<u32> {
        match self.state.get(COMMITTEE)? {
            Some(v) => Ok(decode::<Committee>(v.value(), "committee")?.epoch),
            None => Ok(0),
        }
    }

    /// Adds `n` to the counter `name`.
    fn add(&mut self, name: &'static str, n: u64) -> Result<()> {
        let total = read_u64(self.state.get(name)?.as_ref().map(|v| v.value()))? + n;
        self.state.insert(name, total.to_le_bytes().as_slice())?;
        Ok(())
    }

    fn apply(&mut self, update: &ChainUpdate, touched: &mut BTreeSet<BlobId>) -> Result<()> {
        match update {
            ChainUpdate::BlobRegistered { blob_id, object_id, end_epoch, deletable, event } => {
                self.register(blob_id, object_id, *end_epoch, *deletable, event)?;
            }
            ChainUpdate::BlobCertified { blob_id, object_id, end_epoch, deletable, event } => {
                self.certify(blob_id, object_id, *end_epoch, *deletable, event)?;
            }
            ChainUpdate::PooledBlobRegistered { blob_id, object_id, pool_id, deletable, event } => {
                let end_epoch = self.pool_end(pool_id)?;
                self.register(blob_id, object_id, end_epoch, *deletable, event)?;
                self.pool_objects.insert(pool_object_key(pool_id, blob_id, object_id).as_slice(), [].as_slice())?;
            }
            ChainUpdate::PooledBlobCertified { blob_id, object_id, pool_id, deletable, event } => {
                let end_epoch = self.pool_end(pool_id)?;
                self.certify(blob_id, object_id, end_epoch, *deletable, event)?;
                self.pool_objects.insert(pool_object_key(pool_id, blob_id, object_id).as_slice(), [].as_slice())?;
            }
            ChainUpdate::BlobDeleted { blob_id, object_id } => {
                self.objects.remove(object_key(blob_id, object_id).as_slice())?;
                touched.insert(*blob_id);
            }
            ChainUpdate::BlobIdInvalidated { blob_id, event } => {
                self.invalid.insert(blob_id.0.as_slice(), encode(event).as_slice())?;
                touched.insert(*blob_id);
            }
            ChainUpdate::EpochStarted(committee) => self.start_epoch(committee, touched)?,
            ChainUpdate::NodeRegistered { node_id, public_key, network_address } => {
                let node = RegisteredNode { public_key: public_key.clone(), network_address: network_address.clone() };
                self.nodes.insert(node_id.0.as_slice(), encode(&node).as_slice())?;
            }
            ChainUpdate::NodeDeregistered { node_id } => {
                self.nodes.remove(node_id.0.as_slice())?;
            }
            ChainUpdate::CommitteeSelected { epoch, members } => {
                // Keys as registered now: a later key change counts from the next selection on.
                let mut committee = Committee { epoch: *epoch, members: Vec::with_capacity(members.len()) };
                for (node_id, shards) in members {
                    let node: RegisteredNode = match self.nodes.get(node_id.0.as_slice())? {
                        Some(v) => decode(v.value(), "registered node")?,
                        None => {
                            return Err(StoreError::Chain(format!(
                                "the committee of epoch {epoch} names node {node_id}, which is not registered"
                            )))
                        }
                    };
                    committee.members.push(Member {
                        node_id: *node_id,
                        public_key: node.public_key,
                        shards: shards.clone(),
                        network_address: node.network_address,
                    });
                }
                self.state.insert(NEXT_COMMITTEE, encode(&committee).as_slice())?;
            }
            ChainUpdate::EpochChangeStarted { epoch } => {
                let next: Option<Committee> =
                    self.state.remove(NEXT_COMMITTEE)?.map(|v| decode(v.value(), "next committee")).transpose()?;
                match next {
                    Some(committee) if committee.epoch == *epoch => self.start_epoch(&committee, touched)?,
                    other => {
                        return Err(StoreError::Chain(format!(
                            "epoch {epoch} starts, but the committee selected last is for {}",
                            other.map_or("no epoch (following began after the selection?)".into(), |c| {
                                format!("epoch {}", c.epoch)
                            })
                        )))
                    }
                }
            }
            ChainUpdate::StoragePoolCreated { pool_id, end_epoch } => {
                self.pools.insert(pool_id.0.as_slice(), end_epoch.to_le_bytes().as_slice())?;
            }
            ChainUpdate::StoragePoolExtended { pool_id, end_epoch } => {
                self.pool_end(pool_id)?;
                self.pools.insert(pool_id.0.as_slice(), end_epoch.to_le_bytes().as_slice())?;
                self.extend_pool(pool_id, *end_epoch)?;
            }
        }
        Ok(())
    }

    fn register(
        &mut self,
        blob_id: &BlobId,
        object_id: &ObjectId,
        end_epoch: u32,
        deletable: bool,
        event: &EventId,
    ) -> Result<()> {
        let object = BlobObject { object_id: *object_id, end_epoch, deletable, certified_epoch: None, event: *event };
        self.objects.insert(object_key(blob_id, object_id).as_slice(), encode(&object).as_slice())?;
        Ok(())
    }

    fn certify(
        &mut self,
        blob_id: &BlobId,
        object_id: &ObjectId,
        end_epoch: u32,
        deletable: bool,
        event: &EventId,
    ) -> Result<()> {
        let epoch = self.epoch()?;
        let key = object_key(blob_id, object_id);
        let certified_epoch = match self.objects.get(key.as_slice())? {
            Some(v) => decode::<BlobObject>(v.value(), "blob object")?.certified_epoch,
            None => None,
        };
        let object = BlobObject {
            object_id: *object_id,
            end_epoch,
            deletable,
            certified_epoch: certified_epoch.or(Some(epoch)),
            event: *event,
        };
        self.objects.insert(key.as_slice(), encode(&object).as_slice())?;
        // A blob pending for gained shards stays marked so: the report waits for it.
        if self.sync_pending.get(blob_id.0.as_slice())?.is_none() {
            self.sync_pending.insert(blob_id.0.as_slice(), [].as_slice())?;
        }
        Ok(())
    }

    /// The end epoch of a storage pool the chain created.
    fn pool_end(&self, pool_id: &ObjectId) -> Result<u32> {
        let value = self
            .pools
            .get(pool_id.0.as_slice())?
            .ok_or_else(|| StoreError::Chain(format!("storage pool {pool_id} was never created")))?;
        let bytes: [u8; 4] =
            value.value().try_into().map_err(|_| StoreError::Corrupt("a pool's end epoch is not 4 bytes".into()))?;
        Ok(u32::from_le_bytes(bytes))
    }

    /// Moves the end epoch of every live object in the pool; forgets objects that are gone.
    fn extend_pool(&mut self, pool_id: &ObjectId, end_epoch: u32) -> Result<()> {
        let mut members = Vec::new();
        for entry in self.pool_objects.range::<&[u8]>(IdRange::new(&pool_id.0).bounds())? {
            let key: [u8; 96] = entry?
                .0
                .value()
                .try_into()
                .map_err(|_| StoreError::Corrupt("a pool entry key is not 96 bytes".into()))?;
            members.push(key);
        }
        for key in members {
            let object_key = &key[32..];
            let object: Option<BlobObject> =
                self.objects.get(object_key)?.map(|v| decode(v.value(), "blob object")).transpose()?;
            match object {
                Some(object) => {
                    let object = BlobObject { end_epoch, ..object };
                    self.objects.insert(object_key, encode(&object).as_slice())?;
                }
                None => {
                    self.pool_objects.remove(key.as_slice())?;
                }
            }
        }
        Ok(())
    }

    /// The committee takes over: objects ending by the new epoch expire, and if the node
    /// gained shards, every live certified blob is marked pending for the gain (in this
    /// transaction, so a crash resumes the sync) until its slivers of them are rebuilt.
    fn start_epoch(&mut self, committee: &Committee, touched: &mut BTreeSet<BlobId>) -> Result<()> {
        let epoch = committee.epoch;
        let previous: Committee = match self.state.get(COMMITTEE)? {
            Some(v) => decode(v.value(), "committee")?,
            None => Committee::default(),
        };
        self.state.insert(COMMITTEE, encode(committee).as_slice())?;
        self.started = Some(committee.clone());
        let expired =
            self.objects.extract_if(|_, v| bcs::from_bytes::<BlobObject>(v).is_ok_and(|o| !o.is_live(epoch)))?;
        for entry in expired {
            let (key, _) = entry?;
            touched.insert(BlobId(key.value()[..32].try_into().expect("64-byte key")));
        }
        let shards = |c: &Committee| c.member(&self.node_id).map(|m| m.shards.clone()).unwrap_or_default();
        let held = shards(&previous);
        if shards(committee).iter().all(|s| held.contains(s)) {
            return Ok(());
        }
        let mut certified = BTreeSet::new();
        for entry in self.objects.iter()? {
            let (key, value) = entry?;
            if decode::<BlobObject>(value.value(), "blob object")?.certified_epoch.is_some() {
                certified.insert(BlobId(key.value()[..32].try_into().expect("64-byte key")));
            }
        }
        for blob_id in certified {
            if self.invalid.get(blob_id.0.as_slice())?.is_none() {
                self.sync_pending.insert(blob_id.0.as_slice(), epoch.to_le_bytes().as_slice())?;
            }
        }
        Ok(())
    }

    /// Deletes everything stored under `blob_id` unless it is valid and a live object keeps it.
    fn drop_unless_kept(&mut self, blob_id: &BlobId) -> Result<()> {
        let range = blob_range(blob_id);
        let keeps = self.invalid.get(blob_id.0.as_slice())?.is_none()
            && self.objects.range::<&[u8]>(range.bounds())?.next().is_some();
        if !keeps {
            self.objects.retain_in::<&[u8], _>(range.bounds(), |_, _| false)?;
            self.metadata.remove(blob_id.0.as_slice())?;
            self.slivers.retain_in::<&[u8], _>(range.bounds(), |_, _| false)?;
            self.dropped.push(*blob_id);
            self.sync_pending.remove(blob_id.0.as_slice())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The node whose store the tests open.
    const OWN: ObjectId = ObjectId([0xEE; 32]);

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::TempDir::new().unwrap();
        let store = Store::open(&dir.path().join("db"), OWN).unwrap();
        (dir, store)
    }

    fn followed(sequence: u64, previous: Option<u8>, updates: &[ChainUpdate]) -> FollowedCheckpoint<'_> {
        FollowedCheckpoint {
            sequence,
            digest: [sequence as u8; 32],
            previous_digest: previous.map(|p| [p; 32]),
            updates,
            new_origins: &[],
            events: updates.len() as u64,
            undecodable: 0,
        }
    }

    /// A store of the earlier format (bodies in the database) keeps its slivers when opened.
    #[test]
    fn slivers_of_a_store_of_the_earlier_format_are_moved_into_files() {
        let dir = tempfile::TempDir::new().unwrap();
        let path = dir.path().join("db");
        drop(Store::open(&path, OWN).unwrap());
        let (a, b) = (BlobId([0xab; 32]), BlobId([0xff; 32]));
        let bodies = [
            (sliver_key::<Primary>(&a, SliverPairIndex(0)), vec![1u8; 300]),
            (sliver_key::<Secondary>(&a, SliverPairIndex(7)), vec![2u8; 5]),
            (sliver_key::<Primary>(&b, SliverPairIndex(999)), vec![3u8; 1000]),
        ];
        {
            let db = Database::open(&path).unwrap();
            let txn = db.begin_write().unwrap();
            {
                let mut old = txn.open_table(OLD_SLIVERS).unwrap();
                let mut held = txn.open_table(OLD_HELD).unwrap();
                for (key, body) in &bodies {
                    old.insert(key.as_slice(), body.as_slice()).unwrap();
                    held.insert(key.as_slice(), ()).unwrap();
                }
            }
            txn.commit().unwrap();
        }
        for _ in 0..2 {
            let store = Store::open(&path, OWN).unwrap();
            assert_eq!(store.sliver::<Primary>(&a, SliverPairIndex(0)).unwrap(), Some(vec![1; 300]));
            assert_eq!(store.sliver::<Secondary>(&a, SliverPairIndex(7)).unwrap(), Some(vec![2; 5]));
            assert_eq!(store.sliver::<Primary>(&b, SliverPairIndex(999)).unwrap(), Some(vec![3; 1000]));
            assert_eq!(store.sliver::<Secondary>(&b, SliverPairIndex(999)).unwrap(), None);
            let txn = store.db.begin_read().unwrap();
            assert!(!txn.list_tables().unwrap().any(|t| t.name() == OLD_SLIVERS.name() || t.name() == OLD_HELD.name()));
        }
    }

    #[test]
    fn followed_checkpoints_must_chain_without_gaps() {
        let (_dir, store) = store();
        assert_eq!(store.apply_followed(&[followed(4, Some(3), &[])]).unwrap(), 1);
        assert!(matches!(
            store.apply_followed(&[followed(6, Some(5), &[])]),
            Err(StoreError::Gap { watermark: 4, .. })
        ));
        assert!(matches!(
            store.apply_followed(&[followed(5, Some(4), &[]), followed(6, Some(9), &[])]),
            Err(StoreError::BrokenChain { checkpoint: 6 })
        ));
        assert_eq!(store.watermark(), Some(4), "a refused batch changes nothing");
        assert_eq!(store.apply_followed(&[followed(5, Some(4), &[]), followed(6, Some(5), &[])]).unwrap(), 2);
        assert_eq!(store.apply_followed(&[followed(6, Some(5), &[])]).unwrap(), 0, "replay is skipped");
        assert_eq!(store.watermark(), Some(6));
    }

    #[test]
    fn a_refused_checkpoint_changes_nothing() {
        let (_dir, store) = store();
        let node = ObjectId([1; 32]);
        let register =
            ChainUpdate::NodeRegistered { node_id: node, public_key: vec![1; 48], network_address: "a:1".into() };
        let unknown = ChainUpdate::CommitteeSelected { epoch: 1, members: vec![(ObjectId([2; 32]), vec![0])] };
        assert!(matches!(store.apply(1, &[register, unknown]), Err(StoreError::Chain(_))));
        assert_eq!(store.watermark(), None);
        let selected = ChainUpdate::CommitteeSelected { epoch: 1, members: vec![(node, vec![0])] };
        assert!(matches!(store.apply(1, &[selected]), Err(StoreError::Chain(_))), "the registration was rolled back");
        let start = ChainUpdate::EpochChangeStarted { epoch: 1 };
        assert!(matches!(store.apply(1, &[start]), Err(StoreError::Chain(_))), "no committee was selected");
        let extend = ChainUpdate::StoragePoolExtended { pool_id: node, end_epoch: 3 };
        assert!(matches!(store.apply(1, &[extend]), Err(StoreError::Chain(_))), "no such pool");
        assert_eq!(*store.committee(), Committee::default());
    }

    #[test]
    fn certified_blobs_stay_pending_until_synced_or_gone() {
        let (_dir, store) = store();
        let event = EventId { tx_digest: [0; 32], event_seq: 0 };
        let certify = |blob: u8| ChainUpdate::BlobCertified {
            blob_id: BlobId([blob; 32]),
            object_id: ObjectId([blob; 32]),
            end_epoch: 5,
            deletable: true,
            event,
        };
        store.apply(1, &[certify(1), certify(2)]).unwrap();
        assert_eq!(store.pending_syncs().unwrap(), [BlobId([1; 32]), BlobId([2; 32])]);
        assert!(store.sync_done(&BlobId([1; 32]), 0).unwrap());
        store.apply(2, &[ChainUpdate::BlobDeleted { blob_id: BlobId([2; 32]), object_id: ObjectId([2; 32]) }]).unwrap();
        assert_eq!(store.pending_syncs().unwrap(), []);
    }

    #[test]
    fn a_sync_ends_in_one_commit_only_for_a_registered_blob_with_metadata() {
        let (_dir, store) = store();
        let blob = BlobId([3; 32]);
        let sliver = |pair: u16| (SliverPairIndex(pair), Bytes::from(vec![pair as u8; 8]));
        let (primary, secondary) = ([sliver(1), sliver(2)], [sliver(1)]);
        let finish = |metadata: Option<&[u8]>, done| store.finish_sync(&blob, metadata, &primary, &secondary, done);
        assert!(matches!(finish(Some(b"meta"), Some(0)), Err(StoreError::NotRegistered)));
        let event = EventId { tx_digest: [0; 32], event_seq: 0 };
        let certify = ChainUpdate::BlobCertified {
            blob_id: blob,
            object_id: ObjectId([3; 32]),
            end_epoch: 5,
            deletable: true,
            event,
        };
        store.apply(1, &[certify]).unwrap();
        assert!(matches!(finish(None, Some(0)), Err(StoreError::MetadataMissing)));
        assert!(!store.has_sliver::<Primary>(&blob, SliverPairIndex(1)).unwrap(), "a refused sync stores nothing");

        finish(Some(b"meta"), None).unwrap();
        assert_eq!(store.metadata(&blob).unwrap().as_deref(), Some(&b"meta"[..]));
        assert_eq!(store.sliver::<Primary>(&blob, SliverPairIndex(2)).unwrap(), Some(vec![2; 8]));
        assert!(store.has_sliver::<Secondary>(&blob, SliverPairIndex(1)).unwrap());
        assert!(!store.has_sliver::<Secondary>(&blob, SliverPairIndex(2)).unwrap());
        assert_eq!(store.pending_syncs().unwrap(), [blob], "not done: still pending");

        // Stored metadata is kept, not replaced, and the pending mark ends with the commit.
        finish(None, Some(0)).unwrap();
        assert_eq!(store.metadata(&blob).unwrap().as_deref(), Some(&b"meta"[..]));
        assert_eq!(store.pending_syncs().unwrap(), []);
    }

    fn member(node_id: ObjectId, shards: Vec<u16>) -> Member {
        Member { node_id, public_key: vec![0; 48], shards, network_address: "127.0.0.1:1".into() }
    }

    /// Gaining shards at an epoch start marks every live, valid, certified blob pending for
    /// the gain, in the epoch's transaction; a sync that began in the epoch before does not
    /// end the mark; keeping or losing shards marks nothing.
    #[test]
    fn gained_shards_mark_live_certified_blobs_pending() {
        let (_dir, store) = store();
        let other = ObjectId([1; 32]);
        let event = EventId { tx_digest: [0; 32], event_seq: 0 };
        let epoch = |epoch: u32, own: Vec<u16>, theirs: Vec<u16>| {
            ChainUpdate::EpochStarted(Committee { epoch, members: vec![member(OWN, own), member(other, theirs)] })
        };
        let blob = |b: u8, end_epoch: u32, certified: bool| {
            let (blob_id, object_id) = (BlobId([b; 32]), ObjectId([b; 32]));
            if certified {
                ChainUpdate::BlobCertified { blob_id, object_id, end_epoch, deletable: true, event }
            } else {
                ChainUpdate::BlobRegistered { blob_id, object_id, end_epoch, deletable: true, event }
            }
        };
        store.apply(1, &[epoch(1, vec![0, 1], vec![2, 3])]).unwrap();
        assert_eq!(store.shard_syncs_pending().unwrap(), [], "no blobs yet");
        store
            .apply(
                2,
                &[
                    blob(1, 9, true),
                    blob(2, 2, true),
                    blob(3, 9, false),
                    blob(4, 9, true),
                    blob(5, 9, true),
                    ChainUpdate::BlobIdInvalidated { blob_id: BlobId([4; 32]), event },
                ],
            )
            .unwrap();
        for b in [1, 2, 5] {
            assert!(store.sync_done(&BlobId([b; 32]), 1).unwrap());
        }
        assert_eq!(store.pending_syncs().unwrap(), []);

        // Shards kept or lost: nothing to sync.
        store.apply(3, &[epoch(2, vec![0], vec![1, 2, 3])]).unwrap();
        assert_eq!(store.pending_syncs().unwrap(), []);
        // Gained: the live certified valid blobs (1 and 5; 2 expired, 3 uncertified, 4 invalid).
        store.apply(4, &[epoch(3, vec![0, 3], vec![1, 2])]).unwrap();
        assert_eq!(store.shard_syncs_pending().unwrap(), [BlobId([1; 32]), BlobId([5; 32])]);
        // Certified again (an extension), blob 1 stays pending for the gain.
        store.apply(5, &[blob(1, 12, true)]).unwrap();
        assert_eq!(store.shard_syncs_pending().unwrap(), [BlobId([1; 32]), BlobId([5; 32])]);
        assert!(!store.sync_done(&BlobId([1; 32]), 2).unwrap(), "synced for the epoch before: still pending");
        assert!(store.sync_done(&BlobId([1; 32]), 3).unwrap());
        store.apply(6, &[ChainUpdate::BlobDeleted { blob_id: BlobId([5; 32]), object_id: ObjectId([5; 32]) }]).unwrap();
        assert_eq!(store.shard_syncs_pending().unwrap(), [], "a deleted blob is not waited for");

        assert_eq!(store.sync_reported().unwrap(), None);
        store.record_sync_reported(3).unwrap();
        store.record_sync_reported(2).unwrap();
        assert_eq!(store.sync_reported().unwrap(), Some(3), "never moves back");
    }

    /// Object and blob IDs are random: one in 256 starts with 0xff, and one key in 256 of a
    /// blob's (or a pool's) range then has 0xff right after the prefix. Such keys belong to it
    /// like any other (a node once answered NOT_REGISTERED for such a registration forever).
    #[test]
    fn keys_with_0xff_after_the_prefix_are_in_their_range() {
        let (_dir, store) = store();
        let event = EventId { tx_digest: [0; 32], event_seq: 0 };
        let registered = |blob_id, object_id| ChainUpdate::BlobRegistered {
            blob_id: BlobId(blob_id),
            object_id: ObjectId(object_id),
            end_epoch: 5,
            deletable: true,
            event,
        };
        let mut high = [0x11; 32];
        high[0] = 0xff;
        let (blob, next_blob, last_blob) = ([7; 32], [8; 32], [0xff; 32]);
        store.apply(1, &[registered(blob, high)]).unwrap();
        assert!(store.blob_state(&BlobId(blob)).unwrap().is_registered());
        assert_eq!(store.put_metadata(&BlobId(blob), b"m").unwrap(), Written::New);
        // The range ends before the next blob ID, and the last blob ID has a range too.
        store.apply(2, &[registered(next_blob, [0; 32]), registered(last_blob, [0xff; 32])]).unwrap();
        assert_eq!(store.blob_state(&BlobId(blob)).unwrap().objects.len(), 1);
        assert_eq!(store.blob_state(&BlobId(last_blob)).unwrap().objects.len(), 1);
        // Another object of the blob goes: the 0xff one still keeps its data.
        store.apply(3, &[registered(blob, [1; 32])]).unwrap();
        store.apply(4, &[ChainUpdate::BlobDeleted { blob_id: BlobId(blob), object_id: ObjectId([1; 32]) }]).unwrap();
        assert!(store.holds_data(&BlobId(blob)).unwrap());
        assert!(store.blob_state(&BlobId(blob)).unwrap().is_registered());

        // A pooled blob whose blob ID starts with 0xff lives as long as its pool.
        let pool = ObjectId([3; 32]);
        let pooled = ChainUpdate::PooledBlobRegistered {
            blob_id: BlobId(high),
            object_id: ObjectId([4; 32]),
            pool_id: pool,
            deletable: false,
            event,
        };
        store.apply(5, &[ChainUpdate::StoragePoolCreated { pool_id: pool, end_epoch: 2 }, pooled]).unwrap();
        store.apply(6, &[ChainUpdate::StoragePoolExtended { pool_id: pool, end_epoch: 9 }]).unwrap();
        let objects = store.blob_state(&BlobId(high)).unwrap().objects;
        assert_eq!(objects.iter().map(|o| o.end_epoch).collect::<Vec<_>>(), [9]);
    }

    #[test]
    fn an_id_range_ends_at_the_next_id() {
        let mut id = [0x12; 32];
        id[30..].fill(0xff);
        let mut next = [0x12; 32];
        next[29] = 0x13;
        next[30..].fill(0);
        assert_eq!(IdRange::new(&id).end, Some(next));
        assert_eq!(IdRange::new(&[0xff; 32]).end, None);
    }
}
