//! The indexer rides out a PostgreSQL outage, and reports its progress to Prometheus.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use walrus_chain::source::Source;
use walrus_indexer::api::{self, AppState};
use walrus_indexer::ingest;
use walrus_indexer::store::{Database, Store};

/// A TCP proxy to PostgreSQL that can be cut: while down it drops every connection.
struct Proxy {
    up: Arc<AtomicBool>,
    links: Arc<Mutex<Vec<JoinHandle<()>>>>,
    port: u16,
}

impl Proxy {
    async fn start(target: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let links: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let (accept_up, accept_links) = (up.clone(), links.clone());
        tokio::spawn(async move {
            loop {
                let (mut client, _) = listener.accept().await.unwrap();
                if !accept_up.load(Ordering::SeqCst) {
                    continue; // dropped: the connection is refused mid-handshake
                }
                let target = target.clone();
                accept_links.lock().unwrap().push(tokio::spawn(async move {
                    if let Ok(mut server) = TcpStream::connect(target).await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                }));
            }
        });
        Self { up, links, port }
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
}

#[sqlx::test(migrations = "../migrations")]
async fn survives_postgres_going_away_and_coming_back(pool: PgPool) {
    let admin = std::env::var("DATABASE_URL").expect("DATABASE_URL");
    let url = url::Url::parse(&admin).unwrap();
    let target = format!("{}:{}", url.host_str().unwrap(), url.port().unwrap_or(5432));
    let database = pool.connect_options().get_database().unwrap().to_owned();
    let proxy = Proxy::start(target).await;
    let mut through_proxy = url.clone();
    through_proxy.set_port(Some(proxy.port)).unwrap();
    through_proxy.set_path(&database);
    let store = Store::lazy(&Database::parse(through_proxy.as_str(), false).unwrap());

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

    let state = AppState { pool, metrics: Some(handle), default_n_shards: 1000, ingestion: Default::default() };
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
