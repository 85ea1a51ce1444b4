//! Kill the indexer (SIGKILL) at random moments while it ingests, restart it each time, and
//! compare the final database with that of one uninterrupted run: they must be identical, so
//! no checkpoint was lost or applied twice.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use sqlx::{Connection, PgConnection, PgPool};
use walrus_chain::events::*;

const CHECKPOINTS: u64 = 3000;

fn object(n: u64) -> sui_sdk_types::Address {
    let mut bytes = [0x0Bu8; 32];
    bytes[24..].copy_from_slice(&n.to_be_bytes());
    sui_sdk_types::Address::new(bytes)
}

/// Each checkpoint registers a blob, certifies and tags the previous one, deletes an older one,
/// and every 50 checkpoints an epoch starts: derived state depends on every event.
fn history(dir: &std::path::Path) {
    for seq in 0..CHECKPOINTS {
        let mut events = vec![ours(&BlobRegistered {
            epoch: (seq / 50) as u32,
            blob_id: BlobId([(seq % 251) as u8; 32]),
            size: seq * 1000,
            encoding_type: 1,
            end_epoch: (seq / 50) as u32 + 3,
            deletable: seq % 3 == 0,
            object_id: object(seq),
        })];
        if seq > 0 {
            let prev = seq - 1;
            events.push(ours(&BlobCertified {
                epoch: (seq / 50) as u32,
                blob_id: BlobId([(prev % 251) as u8; 32]),
                end_epoch: (prev / 50) as u32 + 4,
                deletable: prev % 3 == 0,
                object_id: object(prev),
                is_extension: false,
            }));
            events.push(ours(&BlobAttributeSet {
                blob_id: BlobId([(prev % 251) as u8; 32]),
                object_id: object(prev),
                key: format!("k{}", seq % 4),
                value: format!("v{seq}"),
            }));
        }
        if seq >= 10 && (seq - 10) % 3 == 0 {
            events.push(ours(&BlobDeleted {
                epoch: (seq / 50) as u32,
                blob_id: BlobId([((seq - 10) % 251) as u8; 32]),
                end_epoch: 0,
                object_id: object(seq - 10),
                was_certified: true,
            }));
        }
        if seq % 50 == 0 {
            events.push(ours(&EpochChangeStart { epoch: (seq / 50) as u32 }));
        }
        write_binpb_zst(dir, &checkpoint(seq, vec![events]));
    }
}

struct Database {
    admin: String,
    name: String,
    url: String,
}

impl Database {
    async fn create(admin: &str, name: String) -> Self {
        let mut conn = PgConnection::connect(admin).await.expect("DATABASE_URL must point at a running PostgreSQL");
        sqlx::query(&format!("DROP DATABASE IF EXISTS {name}")).execute(&mut conn).await.unwrap();
        sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut conn).await.unwrap();
        let base = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        Self { admin: admin.to_owned(), url: format!("{base}/{name}"), name }
    }

    async fn drop(self) {
        let mut conn = PgConnection::connect(&self.admin).await.unwrap();
        sqlx::query(&format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name)).execute(&mut conn).await.unwrap();
    }
}

fn indexer(database_url: &str, dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_walrus-indexer"));
    command
        .args(["--database-url", database_url])
        .args(["--package", &package().to_string()])
        .args(["--source", &format!("dir:{}", dir.display())])
        .args(["--listen", "127.0.0.1:0"])
        .args(["--last-checkpoint", &(CHECKPOINTS - 1).to_string()])
        .args(["--batch-checkpoints", "5", "--concurrency", "3", "--exit-when-done"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

#[tokio::test]
async fn killed_at_random_points_it_resumes_without_gaps_or_duplicates() {
    let admin = std::env::var("DATABASE_URL").expect("set DATABASE_URL to a PostgreSQL server (see README)");
    let tag = format!(
        "{}_{}",
        std::process::id(),
        SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() % 1_000_000
    );
    let clean = Database::create(&admin, format!("crash_clean_{tag}")).await;
    let killed = Database::create(&admin, format!("crash_killed_{tag}")).await;
    let dir = tempfile::tempdir().unwrap();
    history(dir.path());

    let status = indexer(&clean.url, dir.path()).status().unwrap();
    assert!(status.success(), "the uninterrupted run failed: {status}");

    let mut seed = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_nanos() as u64 | 1;
    println!("seed {seed}");
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        assert!(Instant::now() < deadline, "the killed run never finished");
        let mut child = indexer(&killed.url, dir.path()).spawn().unwrap();
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = Duration::from_millis(10 + seed % 200);
        tokio::time::sleep(delay).await;
        match child.try_wait().unwrap() {
            Some(status) => {
                assert!(status.success(), "a restarted run failed: {status}");
                break;
            }
            None => {
                child.kill().unwrap(); // SIGKILL: no cleanup, no graceful shutdown.
                child.wait().unwrap();
                kills += 1;
            }
        }
    }
    println!("killed {kills} times");
    assert!(kills >= 3, "the run finished before it could be killed enough times; use more checkpoints");

    let clean_pool = PgPool::connect(&clean.url).await.unwrap();
    let killed_pool = PgPool::connect(&killed.url).await.unwrap();
    let expected = dump(&clean_pool).await;
    assert!(expected
        .iter()
        .any(|r| r.starts_with("watermark:") && r.contains(&format!("\"checkpoint_hi\":{}", CHECKPOINTS - 1))));
    assert_eq!(dump(&killed_pool).await, expected);
    clean_pool.close().await;
    killed_pool.close().await;
    clean.drop().await;
    killed.drop().await;
}
