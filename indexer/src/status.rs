//! What ingestion is doing right now, shared with `/v1/health`: the failure it is retrying
//! and since when (so a stuck indexer turns unhealthy instead of looking idle), and the
//! checkpoint it is waiting for.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use utoipa::ToSchema;

/// How long a failure may last before `/v1/health` answers 503, unless configured.
pub const DEFAULT_UNHEALTHY_AFTER: Duration = Duration::from_secs(60);

/// The part of ingestion that fails: each recovers on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    /// Reading, decoding or verifying checkpoints.
    Source,
    /// Writing to PostgreSQL.
    Database,
}

#[derive(Debug, Default)]
struct State {
    failing: BTreeMap<Stage, (String, Instant)>,
    waiting: Option<(u64, Instant)>,
}

/// A handle on ingestion's state; clones share it.
#[derive(Clone, Debug)]
pub struct IngestStatus {
    state: Arc<Mutex<State>>,
    unhealthy_after: Duration,
}

impl Default for IngestStatus {
    fn default() -> Self {
        Self::new(DEFAULT_UNHEALTHY_AFTER)
    }
}

/// Ingestion's state as `/v1/health` shows it.
#[derive(Clone, Debug, PartialEq, Serialize, ToSchema)]
pub struct Report {
    /// The oldest failure being retried, with the file or server and the reason.
    pub error: Option<String>,
    /// How long that failure has lasted.
    pub failing_ms: Option<u64>,
    /// The next checkpoint, while the source does not have it yet.
    pub waiting_for_checkpoint: Option<u64>,
    pub waiting_ms: Option<u64>,
    /// False once a failure has lasted longer than the configured time.
    pub healthy: bool,
}

impl IngestStatus {
    pub fn new(unhealthy_after: Duration) -> Self {
        Self { state: Arc::default(), unhealthy_after }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic elsewhere while holding the lock leaves plain data behind: keep using it.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// `stage` failed with `reason`; a failure that goes on keeps its start.
    pub fn failing(&self, stage: Stage, reason: String) {
        let mut state = self.state();
        let since = state.failing.get(&stage).map_or_else(Instant::now, |(_, since)| *since);
        state.failing.insert(stage, (reason, since));
    }

    /// `stage` works again.
    pub fn recovered(&self, stage: Stage) {
        self.state().failing.remove(&stage);
    }

    /// The source does not have checkpoint `sequence` yet; returns how long it has been missing.
    pub fn waiting_for(&self, sequence: u64) -> Duration {
        let mut state = self.state();
        match state.waiting {
            Some((waiting, since)) if waiting == sequence => since.elapsed(),
            _ => {
                state.waiting = Some((sequence, Instant::now()));
                Duration::ZERO
            }
        }
    }

    /// Checkpoints arrived: nothing is awaited.
    pub fn not_waiting(&self) {
        self.state().waiting = None;
    }

    pub fn report(&self) -> Report {
        let state = self.state();
        let oldest = state.failing.values().min_by_key(|(_, since)| *since);
        let failing_for = oldest.map(|(_, since)| since.elapsed());
        Report {
            error: oldest.map(|(reason, _)| reason.clone()),
            failing_ms: failing_for.map(|d| d.as_millis() as u64),
            waiting_for_checkpoint: state.waiting.map(|(sequence, _)| sequence),
            waiting_ms: state.waiting.map(|(_, since)| since.elapsed().as_millis() as u64),
            healthy: failing_for.is_none_or(|d| d <= self.unhealthy_after),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_turns_unhealthy_only_once_it_lasts() {
        let status = IngestStatus::new(Duration::from_millis(30));
        status.failing(Stage::Source, "first".into());
        status.failing(Stage::Source, "second".into());
        let report = status.report();
        assert_eq!((report.error.as_deref(), report.healthy), (Some("second"), true));
        std::thread::sleep(Duration::from_millis(40));
        status.failing(Stage::Database, "database".into());
        let report = status.report();
        assert_eq!((report.error.as_deref(), report.healthy), (Some("second"), false), "the oldest failure counts");
        status.recovered(Stage::Source);
        assert_eq!((status.report().error.as_deref(), status.report().healthy), (Some("database"), true));
        status.recovered(Stage::Database);
        assert_eq!(status.report().error, None);
    }

    #[test]
    fn waiting_is_timed_per_checkpoint() {
        let status = IngestStatus::default();
        assert_eq!(status.waiting_for(7), Duration::ZERO);
        std::thread::sleep(Duration::from_millis(5));
        assert!(status.waiting_for(7) >= Duration::from_millis(5));
        assert_eq!(status.waiting_for(8), Duration::ZERO);
        assert_eq!(status.report().waiting_for_checkpoint, Some(8));
        status.not_waiting();
        assert_eq!(status.report().waiting_for_checkpoint, None);
    }
}
