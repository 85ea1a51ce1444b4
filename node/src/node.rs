//! A storage node as a value: its store, key and identity, the HTTP API over them, and the
//! entry point through which chain updates arrive. Several nodes can run in one process.

use std::collections::{HashSet, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusRecorder};
use tokio::net::TcpListener;
use tokio::sync::{watch, Notify, Semaphore};
use walrus_chain::source::Source;
use walrus_encoder::{BlobId, BlobMetadataWithId, ShardIndex, VerifiedMetadata};

use crate::chain::{ChainUpdate, Committee, ObjectId};
use crate::follow::FollowConfig;
use crate::keys::ProtocolKey;
use crate::report::SyncReporter;
use crate::store::{BlobState, FollowedCheckpoint, Store, StoreError};

/// The database file inside the storage directory.
pub const DB_FILE: &str = "node.redb";
/// Verified metadata kept in memory, so the requests of a blob being uploaded, or the symbol
/// requests of many blobs being synced by other members, do not parse and hash its (up to
/// 66 kB of) metadata once each: up to about 17 MB at 1000 shards.
const RECENT_METADATA: usize = 256;

/// Everything the request handlers share.
pub(crate) struct NodeState {
    pub store: Store,
    pub key: ProtocolKey,
    pub node_id: ObjectId,
    pub started: Instant,
    /// The longest a confirmation request may wait for its blob's registration.
    pub long_poll_max: Duration,
    /// Bumped after every applied checkpoint, so long polls wake up.
    pub chain_changed: watch::Sender<u64>,
    /// This node's own metrics: a process may run several nodes.
    pub metrics: PrometheusRecorder,
    /// Bounds the blobs synced at once.
    pub sync_limit: Semaphore,
    /// Blobs whose sync is running, so that one is not synced twice at once.
    pub syncing: Mutex<HashSet<BlobId>>,
    /// Woken when a blob sync finishes, for the sync-done report.
    pub sync_finished: Notify,
    /// For fetching from other members during blob sync.
    pub http: reqwest::Client,
    /// The latest verified metadata read from the store, newest last.
    recent_metadata: Mutex<VecDeque<Arc<VerifiedMetadata>>>,
}

impl NodeState {
    /// Runs `f` against this node's metrics recorder.
    pub fn record(&self, f: impl FnOnce()) {
        metrics::with_local_recorder(&self.metrics, f)
    }

    /// The stored metadata of `blob_id`, verified (again: the store is not trusted blindly), or
    /// taken from the recently verified ones while the store still holds it.
    pub fn stored_metadata(&self, blob_id: &BlobId) -> Result<Option<Arc<VerifiedMetadata>>, StoreError> {
        let recent =
            |recent: &VecDeque<Arc<VerifiedMetadata>>| recent.iter().find(|m| m.blob_id() == *blob_id).cloned();
        if let Some(metadata) = recent(&self.recent_metadata.lock().expect("never poisoned")) {
            return Ok(self.store.has_metadata(blob_id)?.then_some(metadata));
        }
        let Some(bytes) = self.store.metadata(blob_id)? else { return Ok(None) };
        let corrupt = |e: walrus_encoder::Error| StoreError::Corrupt(format!("metadata of {blob_id}: {e}"));
        let metadata = Arc::new(BlobMetadataWithId::from_bcs(&bytes).and_then(|m| m.verify()).map_err(corrupt)?);
        let mut recent = self.recent_metadata.lock().expect("never poisoned");
        if recent.len() == RECENT_METADATA {
            recent.pop_front();
        }
        recent.push_back(metadata.clone());
        Ok(Some(metadata))
    }

    /// The shards this node holds in `committee`.
    pub fn own_shards(&self, committee: &Committee) -> Vec<ShardIndex> {
        committee.member(&self.node_id).map(|m| m.shards.iter().map(|&s| ShardIndex(s)).collect()).unwrap_or_default()
    }
}

/// A storage node. Cloning shares it.
#[derive(Clone)]
pub struct Node {
    pub(crate) state: Arc<NodeState>,
}

impl Node {
    /// Opens (or creates) the node's store in `storage_dir`.
    pub fn open(
        storage_dir: &Path,
        key: ProtocolKey,
        node_id: ObjectId,
        long_poll_max: Duration,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(storage_dir)
            .map_err(|e| StoreError::Corrupt(format!("cannot create {}: {e}", storage_dir.display())))?;
        let store = Store::open(&storage_dir.join(DB_FILE), node_id)?;
        let watermark = store.watermark().unwrap_or(0);
        let state = NodeState {
            store,
            key,
            node_id,
            started: Instant::now(),
            long_poll_max,
            chain_changed: watch::Sender::new(watermark),
            metrics: PrometheusBuilder::new().build_recorder(),
            sync_limit: Semaphore::new(crate::sync::MAX_CONCURRENT_SYNCS),
            syncing: Mutex::default(),
            sync_finished: Notify::new(),
            http: reqwest::Client::new(),
            recent_metadata: Mutex::default(),
        };
        Ok(Self { state: Arc::new(state) })
    }

    pub fn public_key(&self) -> [u8; 48] {
        self.state.key.public_key()
    }

    /// Applies the chain updates of `checkpoint` atomically with it; see [`Store::apply`].
    /// Called inside a Tokio runtime, it also starts syncing each newly certified blob in
    /// the background (blob sync).
    pub fn apply(&self, checkpoint: u64, updates: &[ChainUpdate]) -> Result<bool, StoreError> {
        let applied = self.state.store.apply(checkpoint, updates)?;
        self.applied(applied, checkpoint, updates);
        Ok(applied)
    }

    /// Applies followed checkpoints in one transaction; see [`Store::apply_followed`].
    pub(crate) fn apply_followed(&self, checkpoints: &[FollowedCheckpoint<'_>]) -> Result<usize, StoreError> {
        let applied = self.state.store.apply_followed(checkpoints)?;
        for checkpoint in checkpoints {
            self.applied(applied > 0, checkpoint.sequence, checkpoint.updates);
        }
        Ok(applied)
    }

    /// Follows the chain from `source` in a background task (see [`crate::follow`]), from the
    /// checkpoint after the stored watermark. Dropping the handle leaves it running; abort it
    /// to stop.
    pub fn follow(&self, source: Source, config: FollowConfig) -> tokio::task::JoinHandle<()> {
        tokio::spawn(crate::follow::run(self.clone(), source, config))
    }

    /// Reports the node's shards in place (`epoch_sync_done`) to `to` in a background task,
    /// once per epoch (see [`crate::report`]). Abort the handle to stop.
    pub fn report_sync_done(&self, to: SyncReporter) -> tokio::task::JoinHandle<()> {
        tokio::spawn(crate::report::run(self.state.clone(), to))
    }

    /// Wakes long polls and starts blob sync for certified blobs after an applied checkpoint;
    /// after an epoch start, for every pending blob (the shards may have changed).
    fn applied(&self, applied: bool, checkpoint: u64, updates: &[ChainUpdate]) {
        if applied {
            self.state.chain_changed.send_replace(checkpoint);
            if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                let mut blobs: Vec<BlobId> = updates.iter().filter_map(ChainUpdate::certified_blob).collect();
                if updates.iter().any(ChainUpdate::starts_epoch) {
                    match self.state.store.pending_syncs() {
                        Ok(pending) => blobs.extend(pending),
                        Err(error) => tracing::error!(%error, "cannot read the blobs to sync for the new epoch"),
                    }
                }
                for blob_id in blobs {
                    runtime.spawn(crate::sync::sync_blob(self.state.clone(), blob_id));
                }
            }
        }
    }

    pub fn committee(&self) -> Arc<Committee> {
        self.state.store.committee()
    }

    /// The committee selected for the next epoch, until that epoch starts.
    pub fn next_committee(&self) -> Result<Option<Committee>, StoreError> {
        self.state.store.next_committee()
    }

    /// The last checkpoint applied.
    pub fn watermark(&self) -> Option<u64> {
        self.state.store.watermark()
    }

    /// What the node knows of `blob_id`'s objects (live ones) and invalidation.
    pub fn blob_state(&self, blob_id: &BlobId) -> Result<BlobState, StoreError> {
        self.state.store.blob_state(blob_id)
    }

    /// Events of the followed package that could not be used, in all.
    pub fn unusable_events(&self) -> Result<u64, StoreError> {
        self.state.store.undecodable_events()
    }

    /// Whether any data of `blob_id` is stored, for checking that deletion happened.
    pub fn holds_data(&self, blob_id: &BlobId) -> Result<bool, StoreError> {
        self.state.store.holds_data(blob_id)
    }

    /// Serves the API on `listener` until the future is dropped.
    pub async fn serve(self, listener: TcpListener) -> std::io::Result<()> {
        axum::serve(listener, crate::api::router(self.state)).await
    }

    /// Binds `addr` and serves the API in a background task; returns the bound address.
    pub async fn spawn(self, addr: SocketAddr) -> std::io::Result<(SocketAddr, tokio::task::JoinHandle<()>)> {
        let listener = TcpListener::bind(addr).await?;
        let local = listener.local_addr()?;
        let task = tokio::spawn(async move {
            if let Err(error) = self.serve(listener).await {
                tracing::error!(%error, "the API server stopped");
            }
        });
        Ok((local, task))
    }
}
