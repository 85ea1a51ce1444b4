//! The node's durable state in one redb database: the chain view (committee, Blob objects,
//! invalid blob IDs) with the checkpoint watermark it reflects, and the verified metadata and
//! slivers. Every write is one transaction committed with fsync before it returns, so a caller
//! that answers 201 after a write knows the data survives a crash, and chain updates are applied
//! exactly once with their watermark.
//!
//! Sliver writes that arrive while another commit is in progress are committed together in the
//! next transaction (group commit): one fsync for many slivers, and each writer still returns
//! only after its data is durable.
//!
//! Data is kept only while a live object keeps its blob ID: writes check registration inside
//! the same transaction that stores, and updates that end the last live object (deletion,
//! expiry at an epoch change, invalidation) delete metadata and slivers in their transaction.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::{Condvar, Mutex};

use bytes::Bytes;
use redb::{Builder, Database, ReadableDatabase, ReadableTable, Table, TableDefinition};
use walrus_encoder::{Axis, BlobId, Primary, Secondary, SliverPairIndex};

use crate::chain::{BlobObject, ChainUpdate, Committee, EventId, ObjectId};

/// `"watermark"` → u64 LE, `"committee"` → BCS [`Committee`].
const STATE: TableDefinition<&str, &[u8]> = TableDefinition::new("state");
/// blob ID ‖ object ID → BCS [`BlobObject`].
const OBJECTS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("objects");
/// blob ID → BCS [`EventId`] of the invalidation.
const INVALID: TableDefinition<&[u8], &[u8]> = TableDefinition::new("invalid");
/// blob ID → BCS `BlobMetadataWithId`, verified before it was stored.
const METADATA: TableDefinition<&[u8], &[u8]> = TableDefinition::new("metadata");
/// blob ID ‖ axis (0 primary, 1 secondary) ‖ pair (u16 BE) → BCS sliver, verified.
const SLIVERS: TableDefinition<&[u8], &[u8]> = TableDefinition::new("slivers");
/// The keys of `SLIVERS`, written and removed with them: checking that a sliver is there then
/// reads a few bytes instead of the sliver's megabytes.
const HELD: TableDefinition<&[u8], ()> = TableDefinition::new("held");
/// redb's page cache: slivers are large and read once in a while, so the cache holds the small
/// tables' pages and the process stays small while slivers stream through.
const CACHE_BYTES: usize = 64 << 20;

const WATERMARK: &str = "watermark";
const COMMITTEE: &str = "committee";
/// u64 LE: how many chain updates were applied, for the health report's event progress.
const UPDATES: &str = "updates";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("storage: {0}")]
    Db(#[from] redb::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("the blob ID is not registered")]
    NotRegistered,
    #[error("the blob ID is invalid")]
    Invalid,
    #[error("the blob's metadata is not stored")]
    MetadataMissing,
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

/// The key range of everything stored under a blob ID (keys longer than 32 bytes).
fn blob_range(blob_id: &BlobId) -> ([u8; 33], [u8; 33]) {
    let mut lo = [0; 33];
    lo[..32].copy_from_slice(&blob_id.0);
    let mut hi = lo;
    hi[32] = 0xff;
    (lo, hi)
}

/// A sliver waiting for the next group commit.
struct SliverWrite {
    id: u64,
    blob_id: BlobId,
    key: [u8; 35],
    bytes: Bytes,
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
    queue: Mutex<Queue>,
    committed: Condvar,
}

impl Store {
    /// Opens or creates the database file `path`.
    pub fn open(path: &Path) -> Result<Self> {
        let db = Builder::new().set_cache_size(CACHE_BYTES).create(path)?;
        let txn = db.begin_write()?;
        txn.open_table(STATE)?;
        txn.open_table(OBJECTS)?;
        txn.open_table(INVALID)?;
        txn.open_table(METADATA)?;
        txn.open_table(SLIVERS)?;
        txn.open_table(HELD)?;
        txn.commit()?;
        Ok(Self { db, queue: Mutex::default(), committed: Condvar::new() })
    }

    /// The last checkpoint whose updates are applied.
    pub fn watermark(&self) -> Result<Option<u64>> {
        let txn = self.db.begin_read()?;
        let state = txn.open_table(STATE)?;
        let value = state.get(WATERMARK)?;
        value.map(|v| read_u64(Some(v.value()))).transpose()
    }

    /// How many chain updates were applied in all.
    pub fn updates_applied(&self) -> Result<u64> {
        let txn = self.db.begin_read()?;
        let value = txn.open_table(STATE)?.get(UPDATES)?;
        read_u64(value.as_ref().map(|v| v.value()))
    }

    /// The latest committee; an empty one at epoch 0 before the first epoch is seen.
    pub fn committee(&self) -> Result<Committee> {
        let txn = self.db.begin_read()?;
        let state = txn.open_table(STATE)?;
        let value = state.get(COMMITTEE)?;
        value.map_or(Ok(Committee::default()), |v| decode(v.value(), "committee"))
    }

    /// Applies the updates of `checkpoint` and records it as the watermark, all in one
    /// transaction. A checkpoint at or below the watermark was applied before: it is skipped
    /// and `false` returned, which makes replay after a crash harmless.
    pub fn apply(&self, checkpoint: u64, updates: &[ChainUpdate]) -> Result<bool> {
        let txn = self.db.begin_write()?;
        {
            let mut state = txn.open_table(STATE)?;
            // Read inside the write transaction: writers are serialized, so no other apply can
            // move the watermark between this check and the commit.
            if state.get(WATERMARK)?.map(|v| read_u64(Some(v.value()))).transpose()?.is_some_and(|w| w >= checkpoint) {
                return Ok(false);
            }
            let mut objects = txn.open_table(OBJECTS)?;
            let mut invalid = txn.open_table(INVALID)?;
            let mut metadata = txn.open_table(METADATA)?;
            let mut slivers = txn.open_table(SLIVERS)?;
            let mut held = txn.open_table(HELD)?;
            let mut epoch = match state.get(COMMITTEE)? {
                Some(v) => decode::<Committee>(v.value(), "committee")?.epoch,
                None => 0,
            };
            // Blob IDs that may have lost their last live object.
            let mut touched = BTreeSet::new();
            for update in updates {
                match update {
                    ChainUpdate::BlobRegistered { blob_id, object_id, end_epoch, deletable, event } => {
                        let object = BlobObject {
                            object_id: *object_id,
                            end_epoch: *end_epoch,
                            deletable: *deletable,
                            certified_epoch: None,
                            event: *event,
                        };
                        objects.insert(object_key(blob_id, object_id).as_slice(), encode(&object).as_slice())?;
                    }
                    ChainUpdate::BlobCertified { blob_id, object_id, end_epoch, deletable, event } => {
                        let key = object_key(blob_id, object_id);
                        let certified_epoch = match objects.get(key.as_slice())? {
                            Some(v) => decode::<BlobObject>(v.value(), "blob object")?.certified_epoch,
                            None => None,
                        };
                        let object = BlobObject {
                            object_id: *object_id,
                            end_epoch: *end_epoch,
                            deletable: *deletable,
                            certified_epoch: certified_epoch.or(Some(epoch)),
                            event: *event,
                        };
                        objects.insert(key.as_slice(), encode(&object).as_slice())?;
                    }
                    ChainUpdate::BlobDeleted { blob_id, object_id } => {
                        objects.remove(object_key(blob_id, object_id).as_slice())?;
                        touched.insert(*blob_id);
                    }
                    ChainUpdate::BlobIdInvalidated { blob_id, event } => {
                        invalid.insert(blob_id.0.as_slice(), encode(event).as_slice())?;
                        touched.insert(*blob_id);
                    }
                    ChainUpdate::EpochStarted(committee) => {
                        epoch = committee.epoch;
                        state.insert(COMMITTEE, encode(committee).as_slice())?;
                        let expired = objects
                            .extract_if(|_, v| bcs::from_bytes::<BlobObject>(v).is_ok_and(|o| !o.is_live(epoch)))?;
                        for entry in expired {
                            let (key, _) = entry?;
                            touched.insert(BlobId(key.value()[..32].try_into().expect("64-byte key")));
                        }
                    }
                }
            }
            for blob_id in touched {
                let (lo, hi) = blob_range(&blob_id);
                let keeps = invalid.get(blob_id.0.as_slice())?.is_none()
                    && objects.range(lo.as_slice()..hi.as_slice())?.next().is_some();
                if !keeps {
                    objects.retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)?;
                    metadata.remove(blob_id.0.as_slice())?;
                    slivers.retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)?;
                    held.retain_in(lo.as_slice()..hi.as_slice(), |_, _| false)?;
                }
            }
            let applied = read_u64(state.get(UPDATES)?.as_ref().map(|v| v.value()))? + updates.len() as u64;
            state.insert(UPDATES, applied.to_le_bytes().as_slice())?;
            state.insert(WATERMARK, checkpoint.to_le_bytes().as_slice())?;
        }
        txn.commit()?;
        Ok(true)
    }

    /// The chain's view of `blob_id`, with only the objects that are live in the current epoch.
    pub fn blob_state(&self, blob_id: &BlobId) -> Result<BlobState> {
        let epoch = self.committee()?.epoch;
        let txn = self.db.begin_read()?;
        let invalidated = match txn.open_table(INVALID)?.get(blob_id.0.as_slice())? {
            Some(v) => Some(decode(v.value(), "invalidation event")?),
            None => None,
        };
        let objects = txn.open_table(OBJECTS)?;
        let (lo, hi) = blob_range(blob_id);
        let mut live = Vec::new();
        for entry in objects.range(lo.as_slice()..hi.as_slice())? {
            let object: BlobObject = decode(entry?.1.value(), "blob object")?;
            if object.is_live(epoch) {
                live.push(object);
            }
        }
        Ok(BlobState { invalidated, objects: live })
    }

    /// Fails unless `blob_id` is registered, as seen inside a write transaction.
    fn check_registered(
        objects: &Table<&[u8], &[u8]>,
        invalid: &Table<&[u8], &[u8]>,
        epoch: u32,
        blob_id: &BlobId,
    ) -> Result<()> {
        if invalid.get(blob_id.0.as_slice())?.is_some() {
            return Err(StoreError::Invalid);
        }
        let (lo, hi) = blob_range(blob_id);
        for entry in objects.range(lo.as_slice()..hi.as_slice())? {
            if decode::<BlobObject>(entry?.1.value(), "blob object")?.is_live(epoch) {
                return Ok(());
            }
        }
        Err(StoreError::NotRegistered)
    }

    /// Stores verified metadata (BCS `BlobMetadataWithId`) if the blob ID is registered.
    pub fn put_metadata(&self, blob_id: &BlobId, bytes: &[u8]) -> Result<Written> {
        let epoch = self.committee()?.epoch;
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
        let mut queue = self.queue.lock().expect("the write queue is never poisoned");
        let first = queue.next_id;
        let count = slivers.len() as u64;
        queue.next_id += count;
        for ((pair, bytes), id) in slivers.into_iter().zip(first..) {
            queue.pending.push(SliverWrite { id, blob_id: *blob_id, key: sliver_key::<A>(blob_id, pair), bytes });
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

    /// Writes a batch of slivers in one transaction; each gets its own outcome, and only
    /// those found registered, with metadata, are written.
    fn commit_slivers(&self, batch: Vec<SliverWrite>) -> Result<Vec<(u64, Result<Written>)>> {
        let epoch = self.committee()?.epoch;
        let txn = self.db.begin_write()?;
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut any_new = false;
        {
            let objects = txn.open_table(OBJECTS)?;
            let invalid = txn.open_table(INVALID)?;
            let metadata = txn.open_table(METADATA)?;
            let mut slivers = txn.open_table(SLIVERS)?;
            let mut held = txn.open_table(HELD)?;
            for write in batch {
                let outcome = match Self::check_registered(&objects, &invalid, epoch, &write.blob_id) {
                    Err(e) => Err(e),
                    Ok(()) if metadata.get(write.blob_id.0.as_slice())?.is_none() => Err(StoreError::MetadataMissing),
                    Ok(()) if held.get(write.key.as_slice())?.is_some() => Ok(Written::Already),
                    Ok(()) => {
                        slivers.insert(write.key.as_slice(), write.bytes.as_ref())?;
                        held.insert(write.key.as_slice(), ())?;
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

    /// The stored BCS of a sliver.
    pub fn sliver<A: Axis>(&self, blob_id: &BlobId, pair: SliverPairIndex) -> Result<Option<Vec<u8>>> {
        let txn = self.db.begin_read()?;
        let value = txn.open_table(SLIVERS)?.get(sliver_key::<A>(blob_id, pair).as_slice())?;
        Ok(value.map(|v| v.value().to_vec()))
    }

    pub fn has_sliver<A: Axis>(&self, blob_id: &BlobId, pair: SliverPairIndex) -> Result<bool> {
        let txn = self.db.begin_read()?;
        let value = txn.open_table(HELD)?.get(sliver_key::<A>(blob_id, pair).as_slice())?;
        Ok(value.is_some())
    }

    /// The first of `pairs` of which a sliver is missing, checked in one read transaction.
    pub fn first_incomplete(&self, blob_id: &BlobId, pairs: &[SliverPairIndex]) -> Result<Option<SliverPairIndex>> {
        let txn = self.db.begin_read()?;
        let held = txn.open_table(HELD)?;
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
    /// Whether metadata or any sliver of `blob_id` is stored.
    pub fn holds_data(&self, blob_id: &BlobId) -> Result<bool> {
        let txn = self.db.begin_read()?;
        let (lo, hi) = blob_range(blob_id);
        let has_metadata = txn.open_table(METADATA)?.get(blob_id.0.as_slice())?.is_some();
        Ok(has_metadata || txn.open_table(SLIVERS)?.range(lo.as_slice()..hi.as_slice())?.next().is_some())
    }
}
