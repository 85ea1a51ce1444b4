//! The indexer rides out a PostgreSQL outage, and reports its progress to Prometheus.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use walrus_chain::source::Source;
use walrus_indexer::api::{self, AppState};
use walrus_indexer::ingest;
use walrus_indexer::store::{Database, PoolLimits, Store};

/// A TCP proxy to PostgreSQL that can be cut (while down it drops every connection) or
/// stalled like a half-dead network path (open connections go silent forever, and new ones
/// too until it heals).
struct Proxy {
    up: Arc<AtomicBool>,
    holding: Arc<AtomicBool>,
    generation: Arc<AtomicU64>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    held: Arc<Mutex<Vec<TcpStream>>>,
    port: u16,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let proxy = Self {
            up: Arc::new(AtomicBool::new(true)),
            holding: Arc::default(),
            generation: Arc::default(),
            links: Arc::default(),
            held: Arc::default(),
            port,
        };
        let (up, holding, generation, links, held) = (
            proxy.up.clone(),
            proxy.holding.clone(),
            proxy.generation.clone(),
            proxy.links.clone(),
            proxy.held.clone(),
        );
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                if !up.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused mid-handshake
                }
                if holding.load(Ordering::SeqCst) {
                    held.lock().unwrap().push(client); // accepted, never answered
                    continue;
                }
                let (target, generation) = (target.clone(), generation.clone());
                links.lock().unwrap().push(tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(target).await else { return };
                    let born = generation.load(Ordering::SeqCst);
                    let ((client_read, client_write), (server_read, server_write)) =
                        (client.into_split(), server.into_split());
                    tokio::join!(
                        forward(client_read, server_write, born, generation.clone()),
                        forward(server_read, client_write, born, generation),
                    );
                }));
            }
        });
        proxy
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for link in self.links.lock().unwrap().drain(..) {
            link.abort();
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }

    /// Every open connection goes silent for good; new ones hang until [`Self::heal`].
    fn stall(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        self.holding.store(true, Ordering::SeqCst);
    }

    fn heal(&self) {
        self.holding.store(false, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    /// Closes every link when a test ends: a stalled one would keep its PostgreSQL backend,
    /// and so the test's database, in use, and `#[sqlx::test]` could not drop it.
    fn drop(&mut self) {
        self.cut();
    }
}

/// Copies bytes one way until either side closes; once the proxy's generation has moved on,
/// holds what arrives without passing it on.
async fn forward(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, born: u64, generation: Arc<AtomicU64>) {
    let mut buffer = vec![0u8; 16 << 10];
    loop {
        let n = match from.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if generation.load(Ordering::SeqCst) != born {
            std::future::pending::<()>().await;
        }
        if to.write_all(&buffer[..n]).await.is_err() {
            return;
        }
    }
}

/// The database of `pool`, through a new proxy.
async fn proxied(pool: &PgPool) -> (Proxy, Database) {
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let url = url::Url::parse(&admin).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let proxy = Proxy::start(target).await;
    let mut through_proxy = url.clone();
    through_proxy.set_port(Some(proxy.port)).unwrap();
    through_proxy.set_path(pool.connect_options().get_database().unwrap());
    (proxy, Database::parse(through_proxy.as_str(), false).unwrap())
}

#[sqlx::test(migrations = "../migrations")]
async fn survives_postgres_going_away_and_coming_back(pool: PgPool) {
    let (proxy, database) = proxied(&pool).await;
    let store = Store::lazy(&database);

    // Checkpoints appear over time; the database goes away in the middle and comes back.
    let dir = tempfile::tempdir().unwrap();
    let history = history();
    write_binpb_zst(dir.path(), &history[0]);
    let config = ingest_config(5, 1, 2);
    let (_tx, rx) = watch::channel(false);
    let ingestion = tokio::spawn(ingest::run(store, Source::Dir(dir.path().into()), config, rx));
    for (i, checkpoint) in history.iter().enumerate().skip(1) {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if i == 3 {
            proxy.cut();
        }
        write_binpb_zst(dir.path(), checkpoint);
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let (watermark,): (i64,) = sqlx::query_as("SELECT checkpoint_hi FROM watermark").fetch_one(&pool).await.unwrap();
    assert!(watermark < 5, "nothing can be committed while the database is away");
    proxy.restore();
    tokio::time::timeout(Duration::from_secs(30), ingestion).await.expect("resumes by itself").unwrap().unwrap();
    let (events, watermark): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM events), (SELECT checkpoint_hi FROM watermark)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((events, watermark), (26, 5));
}

/// Shutdown is not held up by a database that is away: a read or a batch being retried is
/// dropped (nothing of it is written) and the next run starts with it.
#[sqlx::test(migrations = "../migrations")]
async fn shutdown_stops_retrying_a_commit(pool: PgPool) {
    let (proxy, database) = proxied(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    let history = history();
    for checkpoint in &history[..2] {
        write_binpb_zst(dir.path(), checkpoint);
    }
    let (stop, rx) = watch::channel(false);
    let ingestion =
        tokio::spawn(ingest::run(Store::lazy(&database), Source::Dir(dir.path().into()), ingest_config(5, 1, 2), rx));
    let watermark = || async {
        let row: Option<(i64,)> =
            sqlx::query_as("SELECT checkpoint_hi FROM watermark").fetch_optional(&pool).await.unwrap();
        row.map(|(w,)| w)
    };
    while watermark().await != Some(1) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The database goes away while the next checkpoints arrive: their commits are retried.
    proxy.cut();
    for checkpoint in &history[2..] {
        write_binpb_zst(dir.path(), checkpoint);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.send(true).unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), ingestion).await.expect("stops promptly").unwrap();
    assert_eq!(outcome.unwrap(), ingest::Outcome::Stopped);
    assert_eq!(watermark().await, Some(1));
}

/// Defect: when open connections stalled (a half-dead network path), ingestion froze for
/// minutes and never recovered, and health requests hung for 23 s.
#[sqlx::test(migrations = "../migrations")]
async fn a_stalled_database_freezes_neither_ingestion_nor_health(pool: PgPool) {
    let (proxy, database) = proxied(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    let history = history();
    for checkpoint in &history[..3] {
        write_binpb_zst(dir.path(), checkpoint);
    }
    let mut config = ingest_config(5, 1, 2);
    config.database_timeout = Duration::from_secs(1);
    let (_tx, rx) = watch::channel(false);
    let ingestion = tokio::spawn(ingest::run(Store::lazy(&database), Source::Dir(dir.path().into()), config, rx));
    let state = AppState {
        pool: database.pool(PoolLimits::API),
        metrics: None,
        default_n_shards: 1000,
        ingestion: Default::default(),
        cache: None,
    };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await.unwrap() });
    let health = || async {
        let started = Instant::now();
        let response = reqwest::get(format!("{base}/v1/health")).await.unwrap();
        let status = response.status().as_u16();
        let body: serde_json::Value = serde_json::from_str(&response.text().await.unwrap()).unwrap_or_default();
        (status, body, started.elapsed())
    };
    loop {
        let (status, body, _) = health().await;
        if status == 200 && body["watermark_checkpoint"] == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    proxy.stall();
    for checkpoint in &history[3..] {
        write_binpb_zst(dir.path(), checkpoint);
    }
    let (status, body, took) = health().await;
    assert_eq!(status, 503, "{body}");
    assert!(took < Duration::from_secs(1), "health took {took:?}");
    assert!(body["error"]["message"].as_str().unwrap().contains("did not answer"), "{body}");
    // Long enough for a commit to be abandoned at least once.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    proxy.heal();
    tokio::time::timeout(Duration::from_secs(20), ingestion).await.expect("resumes by itself").unwrap().unwrap();
    let (events, watermark): (i64, i64) =
        sqlx::query_as("SELECT (SELECT count(*) FROM events), (SELECT checkpoint_hi FROM watermark)")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((events, watermark), (26, 5));
    let started = Instant::now();
    loop {
        let (status, body, took) = health().await;
        assert!(took < Duration::from_secs(1), "health took {took:?}");
        if status == 200 {
            assert_eq!(body["watermark_checkpoint"], 5);
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "health recovers: {body}");
    }
}

/// Counts only this test's ingestion whatever the runner: the recorder is this thread's
/// (`#[sqlx::test]` runs on a current-thread runtime, so ingestion's tasks record into it), not
/// the process's global one, which other tests' ingestion (under plain `cargo test`, threads of
/// one process) would also feed.
#[sqlx::test(migrations = "../migrations")]
async fn metrics_report_progress(pool: PgPool) {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    let dir = tempfile::tempdir().unwrap();
    for checkpoint in history() {
        write_binpb_zst(dir.path(), &checkpoint);
    }
    let config = ingest_config(5, 2, 2);
    let (_tx, rx) = watch::channel(false);
    ingest::run(Store::from_pool(pool.clone()), Source::Dir(dir.path().into()), config, rx).await.unwrap();

    let state =
        AppState { pool, metrics: Some(handle), default_n_shards: 1000, ingestion: Default::default(), cache: None };
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await.unwrap() });
    let body = reqwest::get(format!("http://{address}/metrics")).await.unwrap().text().await.unwrap();
    for line in [
        "indexer_checkpoints_ingested_total 6",
        "indexer_events_ingested_total 26",
        "indexer_events_undecoded_total 2",
        "indexer_watermark_checkpoint 5",
    ] {
        assert!(body.lines().any(|l| l == line), "{line:?} missing from\n{body}");
    }
}

/// Defect: after a restart `/metrics` was empty until a batch committed.
#[sqlx::test(migrations = "../migrations")]
async fn metrics_are_complete_right_after_a_restart(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    for checkpoint in history() {
        write_binpb_zst(dir.path(), &checkpoint);
    }
    let (_tx, rx) = watch::channel(false);
    let run = || {
        ingest::run(Store::from_pool(pool.clone()), Source::Dir(dir.path().into()), ingest_config(5, 2, 2), rx.clone())
    };
    run().await.unwrap();

    // The restarted process: a fresh recorder, nothing left to ingest.
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let _local = metrics::set_default_local_recorder(&recorder);
    run().await.unwrap();
    let body = handle.render();
    for line in [
        "indexer_watermark_checkpoint 5",
        "indexer_watermark_timestamp_ms 5000",
        "indexer_checkpoints_ingested_total 0",
        "indexer_source_errors_total 0",
        "indexer_commit_errors_total 0",
    ] {
        assert!(body.lines().any(|l| l == line), "{line:?} missing from\n{body}");
    }
}
