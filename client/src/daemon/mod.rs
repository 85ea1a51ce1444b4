//! `walrus daemon`: the HTTP face of the client, Walrus's publisher (`PUT /v1/blobs`) and
//! aggregator (`GET /v1/blobs/…`) in one server, with its routes, JSON and error shapes.
//!
//! Bodies are limited ([`DaemonConfig::max_body_size`], 413 beyond); each side runs a bounded
//! number of requests at once and turns the surplus away with a 429; every request has a time
//! limit; CORS is open to any origin, as Walrus's is; shutdown lets requests in flight finish.

mod aggregator;
mod error;
mod limits;
mod publisher;
mod range;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::response::IntoResponse;
use axum::routing::{get, put};
use axum::Router;
use tokio::net::TcpListener;
use tower_http::cors::{Any, CorsLayer};

pub use error::{DaemonError, Status};
pub use range::ByteRange;

use crate::client::Client;
use limits::Limits;

/// The daemon's limits.
#[derive(Clone, Copy, Debug)]
pub struct DaemonConfig {
    /// The largest blob a `PUT` may carry, in bytes (Walrus's default: 10 MiB).
    pub max_body_size: usize,
    /// Requests each side (publisher, aggregator) works on at once.
    pub max_concurrent_requests: usize,
    /// Requests each side lets wait beyond those; more get a 429.
    pub max_waiting_requests: usize,
    /// The longest a request may run before it gets a 504.
    pub request_timeout: Duration,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        Self {
            max_body_size: 10 << 20,
            max_concurrent_requests: 8,
            max_waiting_requests: 8,
            request_timeout: Duration::from_secs(300),
        }
    }
}

/// What the handlers share.
struct DaemonState {
    client: Client,
    config: DaemonConfig,
}

type Shared = Arc<DaemonState>;

/// The daemon's routes over `client`.
pub fn router(client: Client, config: DaemonConfig) -> Router {
    let shared = Arc::new(DaemonState { client, config });
    let limits = |c: &DaemonConfig| Limits::new(c.max_concurrent_requests, c.max_waiting_requests, c.request_timeout);
    let publisher = Router::new()
        .route("/v1/blobs", put(publisher::put_blob))
        .layer(DefaultBodyLimit::max(config.max_body_size))
        .layer(middleware::from_fn_with_state(limits(&config), limits::limit));
    let aggregator = Router::new()
        .route("/v1/blobs/{blob_id}", get(aggregator::by_blob_id).head(aggregator::by_blob_id))
        .route("/v1/blobs/by-object-id/{object_id}", get(aggregator::by_object_id).head(aggregator::by_object_id))
        .layer(middleware::from_fn_with_state(limits(&config), limits::limit));
    // Walrus's daemon lets any page use it: blobs are public and stores carry no credentials.
    // Pages may also read the headers a player or cache needs (ETag, Content-Range).
    let cors = CorsLayer::new()
        .allow_origin(Any)
        .allow_methods(Any)
        .allow_headers(Any)
        .expose_headers(Any)
        .max_age(Duration::from_secs(86400));
    Router::new()
        .merge(publisher)
        .merge(aggregator)
        .route("/status", get(|| async { "OK" }))
        .fallback(|| async {
            DaemonError::new(Status::NotFound, "NOT_FOUND", "no such route; see /v1/blobs").into_response()
        })
        .layer(cors)
        .with_state(shared)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router).with_graceful_shutdown(shutdown).await
}
