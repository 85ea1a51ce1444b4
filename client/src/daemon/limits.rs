//! How much work the daemon takes on: a few requests run at once, a few more wait, the rest are
//! turned away at once with a 429 (rather than piling up until everything times out), and a
//! request that runs too long gets a 504.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tokio::sync::Semaphore;

use super::error::{DaemonError, Status};

/// One side's (publisher or aggregator) admission control.
pub struct Limits {
    /// Permits for requests running or waiting to run.
    admitted: Semaphore,
    /// Permits for requests running.
    running: Semaphore,
    timeout: Duration,
}

impl Limits {
    pub fn new(max_concurrent: usize, max_waiting: usize, timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            admitted: Semaphore::new(max_concurrent + max_waiting),
            running: Semaphore::new(max_concurrent),
            timeout,
        })
    }
}

/// Middleware applying [`Limits`] to every request of the routes it wraps.
pub async fn limit(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    let Ok(_admitted) = limits.admitted.try_acquire() else {
        return DaemonError::new(
            Status::ResourceExhausted,
            "TOO_MANY_REQUESTS",
            "the daemon is busy with as many requests as it takes; retry later",
        )
        .into_response();
    };
    let _running = limits.running.acquire().await.expect("the semaphore is never closed");
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => DaemonError::new(
            Status::DeadlineExceeded,
            "REQUEST_TIMEOUT",
            format!("the request took longer than the daemon's limit of {} s", limits.timeout.as_secs_f64()),
        )
        .into_response(),
    }
}
