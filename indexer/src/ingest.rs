//! The ingestion loop: fetch the checkpoints after the watermark (several at a time), fold
//! them into a batch, commit the batch with the watermark, repeat; at the tip, poll. Failures
//! of the source or of Postgres are retried with backoff, so the indexer rides out restarts of
//! either; nothing is ever written out of order.

use std::time::Duration;

use futures::StreamExt;
use sui_sdk_types::Address;
use tokio::sync::{mpsc, watch};

use crate::process::Batch;
use crate::store::{CommitError, Store};
use walrus_chain::checkpoint::{Checkpoint, CheckpointSequence};
use walrus_chain::events::PackageOrigins;
use walrus_chain::source::Source;

#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub package: Address,
    /// Where to start when the database is empty.
    pub first_checkpoint: u64,
    /// Stop after this checkpoint (for backfills and tests); follow the tip forever if `None`.
    pub last_checkpoint: Option<u64>,
    /// Checkpoints per transaction, at most.
    pub batch_checkpoints: u64,
    /// Checkpoints fetched at once.
    pub concurrency: usize,
    /// How long to wait at the tip before asking again.
    pub poll_interval: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Commit(#[from] CommitError),
}

const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs until `last_checkpoint` is committed or `shutdown` turns true. Fetching and folding
/// the next batch overlaps committing the current one; batches still commit strictly in order.
pub async fn run(
    store: Store,
    source: Source,
    config: IngestConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), IngestError> {
    let origins = retry("reading package origins", || store.origins(config.package)).await;
    let next = retry("reading the watermark", || store.watermark())
        .await
        .map_or(config.first_checkpoint, |w| w.checkpoint + 1);
    tracing::info!(next, package = %config.package, "ingesting");
    let (batches, mut ready) = mpsc::channel(2);
    let producer = tokio::spawn(produce(source, config, origins, next, batches, shutdown.clone()));
    let result = loop {
        let batch = tokio::select! {
            batch = ready.recv() => batch,
            Ok(()) = shutdown.changed() => if *shutdown.borrow() { None } else { continue },
        };
        let Some(batch) = batch else { break Ok(()) };
        if let Err(error) = commit(&store, &batch).await {
            break Err(error.into());
        }
        record(&batch);
    };
    producer.abort();
    result
}

/// Fetches and folds batches from `next` on, until the last checkpoint or shutdown.
async fn produce(
    source: Source,
    config: IngestConfig,
    mut origins: PackageOrigins,
    mut next: u64,
    batches: mpsc::Sender<Batch>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        if *shutdown.borrow() || config.last_checkpoint.is_some_and(|last| next > last) {
            return;
        }
        let end = config.last_checkpoint.map_or(u64::MAX, |last| last + 1).min(next + config.batch_checkpoints);
        let checkpoints = fetch_range(&source, next, end, config.concurrency).await;
        if checkpoints.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(config.poll_interval) => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        let batch = fold(&checkpoints, &mut origins);
        next = batch.last_checkpoint.map_or(next, |(last, _)| last + 1);
        if batches.send(batch).await.is_err() {
            return;
        }
    }
}

/// The checkpoints `start..end` that the source has, in order, up to the first it lacks.
async fn fetch_range(source: &Source, start: u64, end: u64, concurrency: usize) -> Vec<Checkpoint> {
    futures::stream::iter(start..end)
        .map(|sequence| fetch_with_retry(source, sequence))
        .buffered(concurrency.max(1))
        .take_while(|checkpoint| std::future::ready(checkpoint.is_some()))
        .filter_map(std::future::ready)
        .collect()
        .await
}

async fn fetch_with_retry(source: &Source, sequence: u64) -> Option<Checkpoint> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match source.fetch(CheckpointSequence(sequence)).await {
            Ok(checkpoint) => return checkpoint,
            Err(error) => {
                metrics::counter!("indexer_source_errors_total").increment(1);
                tracing::warn!(sequence, %error, "fetching checkpoint failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn fold(checkpoints: &[Checkpoint], origins: &mut PackageOrigins) -> Batch {
    let mut batch = Batch::default();
    for checkpoint in checkpoints {
        batch.add(checkpoint, origins);
    }
    batch
}

/// Commits, retrying while Postgres is unreachable; a batch that does not follow the
/// watermark (another writer?) is an error, not something to retry.
async fn commit(store: &Store, batch: &Batch) -> Result<(), CommitError> {
    let mut backoff = Duration::from_millis(100);
    loop {
        match store.commit(batch).await {
            Ok(()) => return Ok(()),
            Err(CommitError::Database(error)) => {
                metrics::counter!("indexer_commit_errors_total").increment(1);
                tracing::warn!(%error, "committing failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(error) => return Err(error),
        }
    }
}

async fn retry<T, F, Fut>(what: &str, mut operation: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut backoff = Duration::from_millis(100);
    loop {
        match operation().await {
            Ok(value) => return value,
            Err(error) => {
                tracing::warn!(%error, "{what} failed; retrying in {backoff:?}");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn record(batch: &Batch) {
    metrics::counter!("indexer_checkpoints_ingested_total").increment(batch.checkpoints());
    metrics::counter!("indexer_events_ingested_total").increment(batch.events.len() as u64);
    metrics::counter!("indexer_events_undecoded_total").increment(batch.undecoded);
    if let Some((last, timestamp_ms)) = batch.last_checkpoint {
        metrics::gauge!("indexer_watermark_checkpoint").set(last as f64);
        metrics::gauge!("indexer_watermark_timestamp_ms").set(timestamp_ms as f64);
    }
}
