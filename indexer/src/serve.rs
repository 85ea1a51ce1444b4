//! The HTTP server: the API's router on HTTP/1.1 with the limits a public endpoint needs, so
//! slow or idle clients cannot exhaust it: a deadline for a request's headers, at most so many
//! connections at once (more wait in the kernel's backlog), and a graceful shutdown that lets
//! requests in flight finish.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// A connection that has not sent a request's headers within this time is closed.
    pub header_read_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
    /// How long requests in flight may take to finish after shutdown is asked for.
    pub shutdown_grace: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            max_connections: 512,
            shutdown_grace: Duration::from_secs(10),
        }
    }
}

/// Serves `app` on `listener` until `shutdown` turns true, then waits for open connections to
/// finish their requests (at most `limits.shutdown_grace`).
pub async fn serve(listener: TcpListener, app: Router, limits: Limits, shutdown: watch::Receiver<bool>) {
    let max = limits.max_connections.max(1);
    let permits = Arc::new(Semaphore::new(max));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    let stopping = stopped(shutdown.clone());
    tokio::pin!(stopping);
    loop {
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => permit.expect("the semaphore is never closed"),
            () = &mut stopping => break,
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, typically: wait for some to be released.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
            () = &mut stopping => break,
        };
        let connection = http.serve_connection(TokioIo::new(stream), TowerToHyperService::new(app.clone()));
        let stop = stopped(shutdown.clone());
        tokio::spawn(async move {
            tokio::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%error, "connection ended with an error");
                    }
                }
                () = stop => {
                    connection.as_mut().graceful_shutdown();
                    let _ = connection.await;
                }
            }
            drop(permit);
        });
    }
    // Every permit back means every connection is closed.
    let all = permits.acquire_many(max as u32);
    if tokio::time::timeout(limits.shutdown_grace, all).await.is_err() {
        tracing::warn!("connections still open after {:?}; closing them", limits.shutdown_grace);
    }
}

/// Resolves once `shutdown` turns true; never if its sender is gone without saying so.
async fn stopped(mut shutdown: watch::Receiver<bool>) {
    if shutdown.wait_for(|stopping| *stopping).await.is_err() {
        std::future::pending::<()>().await;
    }
}
