//! The HTTP surface as browsers and hostile clients meet it: CORS, the JSON error envelope for
//! every error, parameters that would wrap, half-sent requests against the connection limit,
//! and shutdown.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use walrus_indexer::api::{self, AppState};
use walrus_indexer::serve::{serve as serve_limited, Limits};

/// Defect: 404, 405 and unparsable parameters were plain text, and CORS preflight got 405.
#[sqlx::test(migrations = "../migrations")]
async fn every_error_is_the_json_envelope_and_cors_is_open_for_reading(pool: PgPool) {
    let base = serve(&pool).await;
    let client = reqwest::Client::new();
    let envelope = |status: u16, body: &Value| {
        assert_eq!(body["error"]["code"], status, "{body}");
        assert!(body["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    };
    for (path, status) in [
        ("/v2/nothing", 404),
        ("/v1/blobs?limit=many", 400),
        ("/v1/blobs?deletable=maybe", 400),
        ("/v1/blobs?end_epoch_before=-1", 400),
        ("/v1/events?limit=1.5", 400),
    ] {
        let (got, body) = get(&base, path).await;
        assert_eq!(got, status, "{path}: {body}");
        envelope(status, &body);
    }
    let response = client.post(format!("{base}/v1/blobs")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    envelope(405, &serde_json::from_str(&response.text().await.unwrap()).unwrap());

    // A browser on another origin: the preflight is allowed, and so is the read.
    let preflight = client
        .request(reqwest::Method::OPTIONS, format!("{base}/v1/blobs"))
        .header("origin", "https://explorer.example")
        .header("access-control-request-method", "GET")
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    assert_eq!(preflight.headers()["access-control-allow-origin"], "*");
    assert!(preflight.headers()["access-control-allow-methods"].to_str().unwrap().contains("GET"));
    let read =
        client.get(format!("{base}/v1/stats")).header("origin", "https://explorer.example").send().await.unwrap();
    assert_eq!((read.status().as_u16(), &read.headers()["access-control-allow-origin"]), (200, &"*".parse().unwrap()));
}

/// Defect: `end_epoch_before` of 2^31 or more wrapped to a negative epoch and listed nothing.
#[sqlx::test(migrations = "../migrations")]
async fn epochs_beyond_the_stored_range_are_refused_not_wrapped(pool: PgPool) {
    let dir = folder_of(&history());
    ingest_folder(&pool, dir.path(), 5, 10).await;
    let base = serve(&pool).await;
    let (status, page) = get(&base, "/v1/blobs?end_epoch_before=2147483647").await;
    assert_eq!((status, page["blobs"].as_array().map(Vec::len)), (200, Some(3)));
    for path in
        ["/v1/blobs?end_epoch_before=2147483648", "/v1/blobs?end_epoch_before=4294967295", "/v1/epochs/2147483648"]
    {
        let (status, body) = get(&base, path).await;
        assert_eq!(status, 400, "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains("at most 2147483647"), "{body}");
    }
}

/// Defect: no header-read timeout and no connection limit: half-sent requests held
/// connections forever until the API stopped answering.
#[sqlx::test(migrations = "../migrations")]
async fn half_sent_requests_are_cut_off_and_do_not_starve_others(pool: PgPool) {
    let state = AppState { pool, metrics: None, default_n_shards: 1000, ingestion: Default::default(), cache: None };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let limits = Limits {
        header_read_timeout: Duration::from_millis(500),
        max_connections: 4,
        shutdown_grace: Duration::from_secs(5),
    };
    let (stop, shutdown) = watch::channel(false);
    let server = tokio::spawn(serve_limited(listener, api::router(state), limits, shutdown));

    // Every connection the server allows is taken by a request that never ends its headers.
    let mut slow = Vec::new();
    for _ in 0..limits.max_connections {
        let mut stream = TcpStream::connect(address).await.unwrap();
        stream.write_all(b"GET /v1/health HTTP/1.1\r\nHost: x\r\n").await.unwrap();
        slow.push(stream);
    }
    let started = Instant::now();
    let (status, _) = tokio::time::timeout(Duration::from_secs(5), get(&format!("http://{address}"), "/v1/stats"))
        .await
        .expect("a full request is served once the slow ones are cut off");
    assert_eq!(status, 200);
    assert!(started.elapsed() >= Duration::from_millis(400), "it had to wait: {:?}", started.elapsed());
    for mut stream in slow {
        let mut buffer = Vec::new();
        // Closed by the server (possibly after a 408): the read ends instead of hanging.
        tokio::time::timeout(Duration::from_secs(2), stream.read_to_end(&mut buffer))
            .await
            .expect("the half-sent connection was closed")
            .ok();
    }

    // Shutdown closes idle connections and returns.
    let mut open = TcpStream::connect(address).await.unwrap();
    stop.send(true).unwrap();
    tokio::time::timeout(Duration::from_secs(5), server).await.expect("the server stops").unwrap();
    let mut buffer = [0u8; 1];
    assert_eq!(open.read(&mut buffer).await.unwrap_or(0), 0, "no new request is served after shutdown");
}
