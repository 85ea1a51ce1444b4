//! Indexer throughput on this machine, against the raw insert limit measured in the same run.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p walrus-indexer --bench ingest`
//!
//! 1. Raw limit: batched UNNEST inserts into a bare events table with its indexes, and row-by-
//!    row inserts, for reference.
//! 2. Ingestion of a checkpoint folder full of our events into the full schema (events/s).
//! 3. Ingestion of a folder whose checkpoints hold few of our events (checkpoints/s).
//! 4. Blob lookups through the HTTP API at a fixed 1,000 requests/s (latency percentiles).
//!
//! Each part uses a fresh database, dropped afterwards.

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use common::*;
use sqlx::{Connection, PgConnection, PgPool};
use tokio::sync::watch;
use walrus_chain::events::*;
use walrus_chain::source::Source;
use walrus_indexer::api::{self, AppState};
use walrus_indexer::ingest;
use walrus_indexer::store::Store;

struct Database {
    admin: String,
    name: String,
    pool: PgPool,
}

impl Database {
    async fn create(admin: &str, name: &str) -> Self {
        let mut conn = PgConnection::connect(admin).await.expect("DATABASE_URL must point at PostgreSQL");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut conn).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        let pool = PgPool::connect(&format!("{base}/{name}")).await.unwrap();
        Self { admin: admin.to_owned(), name: name.to_owned(), pool }
    }

    async fn drop(self) {
        self.pool.close().await;
        let mut conn = PgConnection::connect(&self.admin).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn).await.unwrap();
    }
}

async fn raw_limit(admin: &str) -> (f64, f64) {
    let db = Database::create(admin, "bench_raw").await;
    sqlx::query(
        "CREATE TABLE ev (checkpoint int8, tx_index int4, event_index int4, tx_digest text, timestamp_ms int8,
             package bytea, type_name text, sender bytea, bcs bytea, blob_id bytea, data jsonb,
             PRIMARY KEY (checkpoint, tx_index, event_index))",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    sqlx::query("CREATE INDEX ON ev (type_name, checkpoint, tx_index, event_index)").execute(&db.pool).await.unwrap();
    sqlx::query("CREATE INDEX ON ev (blob_id, checkpoint, tx_index, event_index)").execute(&db.pool).await.unwrap();
    let rows = 200_000i64;
    let batch = 5_000i64;
    let started = Instant::now();
    for start in (0..rows).step_by(batch as usize) {
        let ids: Vec<i64> = (start..start + batch).collect();
        let blob: Vec<Vec<u8>> = ids.iter().map(blake).collect();
        sqlx::query(
            "INSERT INTO ev SELECT c, 0, 0, 'digest', c, $2, 'BlobRegistered', $2, $3, b, NULL
             FROM UNNEST($1::int8[], $4::bytea[]) AS u(c, b) ON CONFLICT DO NOTHING",
        )
        .bind(&ids)
        .bind(vec![0u8; 32])
        .bind(vec![7u8; 110])
        .bind(&blob)
        .execute(&db.pool)
        .await
        .unwrap();
    }
    let unnest = rows as f64 / started.elapsed().as_secs_f64();
    let single = 3_000i64;
    let started = Instant::now();
    for i in rows..rows + single {
        sqlx::query("INSERT INTO ev VALUES ($1, 0, 0, 'digest', $1, $2, 'BlobRegistered', $2, $3, $4, NULL)")
            .bind(i)
            .bind(vec![0u8; 32])
            .bind(vec![7u8; 110])
            .bind(blake(&i))
            .execute(&db.pool)
            .await
            .unwrap();
    }
    let row_by_row = single as f64 / started.elapsed().as_secs_f64();
    db.drop().await;
    (unnest, row_by_row)
}

/// 32 pseudo-random bytes, so index inserts land all over the tree as real blob IDs do.
fn blake(i: &i64) -> Vec<u8> {
    let mut x = (*i as u64).wrapping_mul(0x9E3779B97F4A7C15) | 1;
    (0..32)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

fn id(n: u64) -> sui_sdk_types::Address {
    let mut bytes = [0x0Cu8; 32];
    bytes[24..].copy_from_slice(&n.to_be_bytes());
    sui_sdk_types::Address::new(bytes)
}

fn blob(n: u64) -> BlobId {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&n.wrapping_mul(0x9E3779B97F4A7C15).to_le_bytes());
    BlobId(bytes)
}

/// `checkpoints` checkpoints of `per_checkpoint` of our events each (registrations and their
/// certifications), plus one foreign event per checkpoint.
fn folder(checkpoints: u64, per_checkpoint: u64) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for seq in 0..checkpoints {
        let mut events = Vec::new();
        for k in 0..per_checkpoint {
            let n = seq * per_checkpoint + k;
            events.push(if k % 2 == 0 {
                ours(&BlobRegistered {
                    epoch: 1,
                    blob_id: blob(n),
                    size: n,
                    encoding_type: 1,
                    end_epoch: 10,
                    deletable: n.is_multiple_of(2),
                    object_id: id(n),
                })
            } else {
                ours(&BlobCertified {
                    epoch: 1,
                    blob_id: blob(n - 1),
                    end_epoch: 10,
                    deletable: false,
                    object_id: id(n - 1),
                    is_extension: false,
                })
            });
        }
        events.push(event_of(address(0x77), "events", "BlobRegistered", &(seq, 1u8)));
        write_binpb_zst(dir.path(), &checkpoint(seq, vec![events]));
    }
    dir
}

async fn ingest_folder(admin: &str, dir: &std::path::Path, last: u64, batch: u64) -> (Duration, PgPool, Database) {
    let db = Database::create(admin, "bench_ingest").await;
    let store = Store::from_pool(db.pool.clone());
    store.migrate().await.unwrap();
    let config = ingest_config(last, batch, 16);
    let (_tx, rx) = watch::channel(false);
    let started = Instant::now();
    ingest::run(store, Source::Dir(dir.into()), config, rx).await.unwrap();
    (started.elapsed(), db.pool.clone(), db)
}

async fn lookups(pool: &PgPool, blobs: u64) -> Vec<Duration> {
    let state = AppState {
        pool: pool.clone(),
        metrics: None,
        default_n_shards: 1000,
        ingestion: Default::default(),
        cache: None,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await.unwrap() });
    let client = reqwest::Client::new();
    let rate = 1_000u64;
    let seconds = 5;
    let mut interval = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    let mut tasks = Vec::new();
    for i in 0..rate * seconds {
        interval.tick().await;
        let url = format!("{base}/v1/blobs/{}", blob(((i * 7919) % blobs) & !1));
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            let started = Instant::now();
            let response = client.get(url).send().await.unwrap();
            assert!(response.status().is_success());
            response.bytes().await.unwrap();
            started.elapsed()
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.push(task.await.unwrap());
    }
    latencies.sort();
    latencies
}

#[tokio::main]
async fn main() {
    let admin = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());

    let (unnest, row_by_row) = raw_limit(&admin).await;
    println!("raw insert limit: UNNEST {unnest:.0} rows/s, row by row {row_by_row:.0} rows/s");

    let (checkpoints, per) = (200, 1000);
    let dir = folder(checkpoints, per);
    let started = Instant::now();
    let mut origins = PackageOrigins::new(package());
    let mut batch = walrus_indexer::process::Batch::default();
    for seq in 0..checkpoints {
        let bytes = std::fs::read(dir.path().join(format!("{seq}.binpb.zst"))).unwrap();
        batch.add(&walrus_chain::checkpoint::Checkpoint::from_binpb_zst(&bytes).unwrap(), &mut origins);
    }
    println!(
        "read, decode and fold alone (one core): {:.0} events/s",
        (checkpoints * per) as f64 / started.elapsed().as_secs_f64()
    );
    drop(batch);
    let (elapsed, pool, db) = ingest_folder(&admin, dir.path(), checkpoints - 1, 20).await;
    let events = checkpoints * per;
    println!(
        "ingest, {per} of our events per checkpoint: {events} events in {:.2} s = {:.0} events/s ({:.2}x the raw UNNEST limit)",
        elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64(),
        events as f64 / elapsed.as_secs_f64() / unnest,
    );

    let latencies = lookups(&pool, events).await;
    let pct =
        |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "API blob lookups at 1000 requests/s for 5 s: p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        pct(0.5),
        pct(0.99),
        pct(1.0)
    );
    db.drop().await;

    let checkpoints = 20_000;
    let dir = folder(checkpoints, 1);
    let (elapsed, _pool, db) = ingest_folder(&admin, dir.path(), checkpoints - 1, 500).await;
    println!(
        "ingest, 1 of our events per checkpoint: {checkpoints} checkpoints in {:.2} s = {:.0} checkpoints/s",
        elapsed.as_secs_f64(),
        checkpoints as f64 / elapsed.as_secs_f64(),
    );
    db.drop().await;
}
