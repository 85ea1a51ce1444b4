//! How much work the daemon takes on: a few requests run at once, a few more wait, the rest are
//! turned away at once with a 429 (rather than piling up until everything times out), and a
//! request that runs too long gets a 504.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, HttpBody};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::Semaphore;

use super::error::{DaemonError, Status};

/// One side's (publisher or aggregator) admission control.
pub struct Limits {
    /// Permits for requests running or waiting to run.
    admitted: Arc<Semaphore>,
    /// Permits for requests running.
    running: Arc<Semaphore>,
    timeout: Duration,
}

impl Limits {
    pub fn new(max_concurrent: usize, max_waiting: usize, timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            admitted: Arc::new(Semaphore::new(max_concurrent + max_waiting)),
            running: Arc::new(Semaphore::new(max_concurrent)),
            timeout,
        })
    }
}

/// Middleware applying [`Limits`] to every request of the routes it wraps.
pub async fn limit(State(limits): State<Arc<Limits>>, request: Request, next: Next) -> Response {
    let Ok(admitted) = limits.admitted.clone().try_acquire_owned() else {
        return DaemonError::new(
            Status::ResourceExhausted,
            "TOO_MANY_REQUESTS",
            "the daemon is busy with as many requests as it takes; retry later",
        )
        .into_response();
    };
    let running = limits.running.clone().acquire_owned().await.expect("the semaphore is never closed");
    match tokio::time::timeout(limits.timeout, next.run(request)).await {
        // A streamed body (a blob read as it is sent) is still work: it keeps its permits
        // until it is over. The time limit covers the answer's start only, as a large blob
        // may take long to send to a slow caller.
        Ok(response) if response.body().size_hint().exact().is_none() => response.map(|body| {
            let permits = (admitted, running);
            Body::from_stream(body.into_data_stream().map(move |piece| {
                let _held = &permits;
                piece
            }))
        }),
        Ok(response) => response,
        Err(_) => DaemonError::new(
            Status::DeadlineExceeded,
            "REQUEST_TIMEOUT",
            format!("the request took longer than the daemon's limit of {} s", limits.timeout.as_secs_f64()),
        )
        .into_response(),
    }
}
