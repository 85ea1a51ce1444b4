//! The ingestion loop: fetch the checkpoints after the watermark (several at a time), verify
//! they continue the chain, fold them into a batch, commit the batch with the watermark,
//! repeat; at the tip, poll. Failures of the source (unreadable, undecodable or misplaced
//! checkpoints) and of Postgres are logged, counted, shown by `/v1/health` and retried with
//! backoff, so the indexer rides out restarts of either and resumes once a bad file is
//! replaced; nothing is ever skipped or written out of order.

use std::time::Duration;

use futures::StreamExt;
use sui_sdk_types::{Address, Digest, ValidatorCommittee};
use tokio::sync::{mpsc, watch};

use crate::process::Batch;
use crate::status::{IngestStatus, Stage};
use crate::store::{CommitError, Store, Watermark};
use crate::verify::{ChainError, ChainLink};
use walrus_chain::checkpoint::{Checkpoint, CheckpointSequence};
use walrus_chain::events::PackageOrigins;
use walrus_chain::source::{Source, SourceError};

#[derive(Clone, Debug)]
pub struct IngestConfig {
    pub package: Address,
    /// Where to start when the database is empty.
    pub first_checkpoint: u64,
    /// The digest `first_checkpoint` must have, which anchors the chain the indexer follows.
    pub first_checkpoint_digest: Option<Digest>,
    /// The validator committee that signs the next checkpoint, when the database stores none:
    /// from then on every checkpoint's certificate is checked.
    pub validator_committee: Option<ValidatorCommittee>,
    /// Stop after this checkpoint (for backfills and tests); follow the tip forever if `None`.
    pub last_checkpoint: Option<u64>,
    /// Checkpoints per transaction, at most.
    pub batch_checkpoints: u64,
    /// Checkpoints fetched at once.
    pub concurrency: usize,
    /// How long to wait at the tip before asking again.
    pub poll_interval: Duration,
    /// How long one commit (or read of the watermark) may take before it is abandoned and
    /// retried on a fresh connection: a stalled network path must not freeze ingestion.
    pub database_timeout: Duration,
    /// Where ingestion reports what it retries and waits for (shown by `/v1/health`).
    pub status: IngestStatus,
}

/// How ingestion ended without an error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every checkpoint up to `last_checkpoint` is committed.
    Finished,
    /// Shutdown was asked for first.
    Stopped,
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Commit(#[from] CommitError),
    #[error("the checkpoint reader failed: {0}")]
    Reader(String),
    #[error(transparent)]
    Committee(#[from] walrus_chain::validators::CertificateError),
}

/// Why checkpoints could not be taken: both are retried, neither is ever skipped.
#[derive(Debug, thiserror::Error)]
enum FetchError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{from:?}: {error}")]
    Chain { from: Source, error: ChainError },
}

const FIRST_BACKOFF: Duration = Duration::from_millis(100);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A missing checkpoint is logged once it has been awaited this long, then at this interval.
const WAIT_LOG_AFTER: Duration = Duration::from_secs(10);

/// Runs until `last_checkpoint` is committed or `shutdown` turns true. Fetching and folding
/// the next batch overlaps committing the current one; batches still commit strictly in order.
pub async fn run(
    store: Store,
    source: Source,
    config: IngestConfig,
    mut shutdown: watch::Receiver<bool>,
) -> Result<Outcome, IngestError> {
    let (status, timeout) = (config.status.clone(), config.database_timeout);
    let Some(origins) =
        retry(&status, timeout, &shutdown, "reading package origins", || store.origins(config.package)).await
    else {
        return Ok(Outcome::Stopped);
    };
    let Some(watermark) = retry(&status, timeout, &shutdown, "reading the watermark", || store.watermark()).await
    else {
        return Ok(Outcome::Stopped);
    };
    report_start(watermark.as_ref());
    let (mut link, stored_committee) = match watermark {
        Some(watermark) => (ChainLink::after(watermark.checkpoint, watermark.digest), watermark.validator_committee),
        None => (ChainLink::starting_at(config.first_checkpoint, config.first_checkpoint_digest), None),
    };
    let stored_epoch = stored_committee.as_ref().map(|c| c.epoch);
    match stored_committee.or_else(|| config.validator_committee.clone()) {
        Some(committee) => {
            let (epoch, members) = (committee.epoch, committee.members.len());
            tracing::info!(epoch, members, stored = stored_epoch.is_some(), "checking checkpoint certificates");
            link = link.certified_by(committee)?;
        }
        None => tracing::info!("checkpoint certificates are not checked (no --validator-committee)"),
    }
    tracing::info!(next = link.next(), package = %config.package, "ingesting");
    let (batches, mut ready) = mpsc::channel(2);
    let producer = produce(source, config, origins, link, stored_epoch, batches, shutdown.clone());
    let mut producer = tokio::spawn(producer);
    let result = loop {
        let batch = tokio::select! {
            batch = ready.recv() => batch,
            Ok(()) = shutdown.changed() => if *shutdown.borrow() { break Ok(Outcome::Stopped) } else { continue },
        };
        let Some(batch) = batch else {
            // The reader ends when done or stopped; anything else (a panic) is a failure, never
            // mistaken for completion.
            break (&mut producer).await.map_err(|error| IngestError::Reader(error.to_string()));
        };
        match commit(&store, &status, timeout, &batch, &shutdown).await {
            Ok(true) => record(&batch),
            Ok(false) => break Ok(Outcome::Stopped),
            Err(error) => break Err(error.into()),
        }
    };
    producer.abort();
    result
}

/// Fetches, verifies and folds batches from the link on, until the last checkpoint or shutdown.
/// A batch after which the committee is not the stored one (of `stored_epoch`) carries it.
async fn produce(
    source: Source,
    config: IngestConfig,
    mut origins: PackageOrigins,
    mut link: ChainLink,
    mut stored_epoch: Option<u64>,
    batches: mpsc::Sender<Batch>,
    mut shutdown: watch::Receiver<bool>,
) -> Outcome {
    let status = &config.status;
    let mut backoff = FIRST_BACKOFF;
    let mut next_wait_log = WAIT_LOG_AFTER;
    loop {
        if *shutdown.borrow() {
            return Outcome::Stopped;
        }
        let next = link.next();
        if config.last_checkpoint.is_some_and(|last| next > last) {
            return Outcome::Finished;
        }
        let end = config.last_checkpoint.map_or(u64::MAX, |last| last + 1).min(next + config.batch_checkpoints);
        let (checkpoints, stop) = fetch_range(&source, &mut link, end, config.concurrency).await;
        let pause = match stop {
            Stop::End => None,
            Stop::Missing(missing) => {
                status.recovered(Stage::Source);
                let waited = status.waiting_for(missing);
                if waited >= next_wait_log {
                    tracing::info!("waiting for checkpoint {missing} for {} s", waited.as_secs());
                    next_wait_log = waited + WAIT_LOG_AFTER;
                }
                checkpoints.is_empty().then_some(config.poll_interval)
            }
            Stop::Failed(error) => {
                metrics::counter!("indexer_source_errors_total").increment(1);
                tracing::warn!(next = link.next(), "{error}; retrying in {backoff:?}");
                status.failing(Stage::Source, error.to_string());
                let pause = backoff;
                backoff = (backoff * 2).min(MAX_BACKOFF);
                Some(pause)
            }
        };
        if pause.is_none() {
            backoff = FIRST_BACKOFF;
            status.recovered(Stage::Source);
        }
        if !checkpoints.is_empty() {
            status.not_waiting();
            next_wait_log = WAIT_LOG_AFTER;
            // Good checkpoints before a failure are committed before it is retried. Folding a
            // batch takes milliseconds of CPU: off the runtime's workers, which serve the API.
            let folded = tokio::task::spawn_blocking(move || {
                let batch = fold(&checkpoints, &mut origins);
                (batch, origins)
            });
            let mut batch;
            // A panic (a bug) fails the reader as before, with its message.
            (batch, origins) = folded.await.unwrap_or_else(|error| std::panic::resume_unwind(error.into_panic()));
            if let Some(committee) = link.committee().filter(|c| Some(c.epoch) != stored_epoch) {
                stored_epoch = Some(committee.epoch);
                batch.validator_committee = Some(committee.clone());
            }
            if batches.send(batch).await.is_err() {
                return Outcome::Stopped;
            }
        }
        if let Some(pause) = pause {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
    }
}

/// Where a fetched range ended.
enum Stop {
    /// Every checkpoint of the range was taken.
    End,
    /// The source does not have this one (yet).
    Missing(u64),
    Failed(FetchError),
}

/// The checkpoints from the link's next up to `end` (exclusive) that the source has and that
/// continue the chain (their certificates settled), in order, and why the range ended.
async fn fetch_range(source: &Source, link: &mut ChainLink, end: u64, concurrency: usize) -> (Vec<Checkpoint>, Stop) {
    let (mut checkpoints, stop) = fetch_linked(source, link, end, concurrency).await;
    match link.settle(&mut checkpoints) {
        Ok(()) => (checkpoints, stop),
        // Earlier in the chain than whatever ended the range.
        Err(error) => (checkpoints, Stop::Failed(FetchError::Chain { from: source.clone(), error })),
    }
}

async fn fetch_linked(source: &Source, link: &mut ChainLink, end: u64, concurrency: usize) -> (Vec<Checkpoint>, Stop) {
    let mut fetched = futures::stream::iter(link.next()..end)
        .map(|sequence| async move { (sequence, source.fetch(CheckpointSequence(sequence)).await) })
        .buffered(concurrency.max(1));
    let mut checkpoints = Vec::new();
    while let Some((sequence, result)) = fetched.next().await {
        match result {
            Ok(Some(checkpoint)) => match link.accept(&checkpoint) {
                Ok(()) => checkpoints.push(checkpoint),
                Err(error) => return (checkpoints, Stop::Failed(FetchError::Chain { from: source.clone(), error })),
            },
            Ok(None) => return (checkpoints, Stop::Missing(sequence)),
            Err(error) => return (checkpoints, Stop::Failed(error.into())),
        }
    }
    (checkpoints, Stop::End)
}

fn fold(checkpoints: &[Checkpoint], origins: &mut PackageOrigins) -> Batch {
    let mut batch = Batch::default();
    for checkpoint in checkpoints {
        batch.add(checkpoint, origins);
    }
    batch
}

/// Commits, retrying while Postgres is unreachable or does not answer within `timeout`, until
/// shutdown (then `false`: the batch is not written, and the next run starts with it); a batch
/// that does not follow the watermark (another writer?) is an error, not something to retry.
async fn commit(
    store: &Store,
    status: &IngestStatus,
    timeout: Duration,
    batch: &Batch,
    shutdown: &watch::Receiver<bool>,
) -> Result<bool, CommitError> {
    let mut backoff = FIRST_BACKOFF;
    let mut shutdown = shutdown.clone();
    loop {
        let error = match tokio::time::timeout(timeout, store.commit(batch)).await {
            Ok(Ok(())) => {
                status.recovered(Stage::Database);
                return Ok(true);
            }
            Ok(Err(CommitError::Database(error))) => error.to_string(),
            Ok(Err(error)) => return Err(error),
            Err(_) => format!("no answer within {timeout:?}"),
        };
        metrics::counter!("indexer_commit_errors_total").increment(1);
        tracing::warn!(%error, "committing failed; retrying in {backoff:?}");
        status.failing(Stage::Database, format!("committing: {error}"));
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            Ok(_) = shutdown.wait_for(|stopping| *stopping) => return Ok(false),
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Runs a read until it succeeds, or until shutdown (`None`).
async fn retry<T, F, Fut>(
    status: &IngestStatus,
    timeout: Duration,
    shutdown: &watch::Receiver<bool>,
    what: &str,
    mut operation: F,
) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut backoff = FIRST_BACKOFF;
    let mut shutdown = shutdown.clone();
    loop {
        let error = match tokio::time::timeout(timeout, operation()).await {
            Ok(Ok(value)) => {
                status.recovered(Stage::Database);
                return Some(value);
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {timeout:?}"),
        };
        tracing::warn!(%error, "{what} failed; retrying in {backoff:?}");
        status.failing(Stage::Database, format!("{what}: {error}"));
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            Ok(_) = shutdown.wait_for(|stopping| *stopping) => return None,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}

/// Every series exists from the start, the watermark's at its stored value: after a restart
/// `/metrics` is complete before the first batch commits.
fn report_start(watermark: Option<&Watermark>) {
    for counter in [
        "indexer_checkpoints_ingested_total",
        "indexer_events_ingested_total",
        "indexer_events_undecoded_total",
        "indexer_source_errors_total",
        "indexer_commit_errors_total",
    ] {
        metrics::counter!(counter).increment(0);
    }
    if let Some(watermark) = watermark {
        metrics::gauge!("indexer_watermark_checkpoint").set(watermark.checkpoint as f64);
        metrics::gauge!("indexer_watermark_timestamp_ms").set(watermark.timestamp_ms as f64);
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
