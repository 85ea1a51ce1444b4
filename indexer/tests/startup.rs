//! Start-up of the binary: it listens before touching the database, says within seconds which
//! server does not answer, and will not put its tables in PostgreSQL's maintenance database.

mod common;

use std::net::TcpListener;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use walrus_indexer::store::CONNECT_TIMEOUT;

/// The indexer on an empty checkpoint folder, serving on `listen`.
fn indexer(database_url: &str, listen: &str, dir: &std::path::Path) -> Child {
    indexer_with(database_url, listen, dir, &[])
}

fn indexer_with(database_url: &str, listen: &str, dir: &std::path::Path, more: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_walrus-indexer"))
        .args(more)
        .args(["--database-url", database_url])
        .args(["--package", &common::package().to_string()])
        .args(["--source", &format!("dir:{}", dir.display())])
        .args(["--listen", listen])
        .env_remove("WALRUS_INDEXER_ALLOW_MAINTENANCE_DB")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the indexer starts")
}

/// A port nothing listens on (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Waits for the process to exit, at most `limit`.
fn exit_within(mut child: Child, limit: Duration) -> (Output, Duration) {
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > limit {
            child.kill().unwrap();
            let output = child.wait_with_output().unwrap();
            panic!("still running after {limit:?}; stderr: {}", String::from_utf8_lossy(&output.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (child.wait_with_output().unwrap(), started.elapsed())
}

/// `GET http://{addr}{path}` as status and body, or None while nothing answers.
async fn get(addr: &str, path: &str) -> Option<(u16, serde_json::Value)> {
    let response = reqwest::get(format!("http://{addr}{path}")).await.ok()?;
    let status = response.status().as_u16();
    Some((status, serde_json::from_slice(&response.bytes().await.ok()?).ok()?))
}

/// The indexer on a database server that accepts connections and never answers (a firewalled
/// or hung server), once its API answers.
struct SilentStart {
    silent: TcpListener,
    db_port: u16,
    listen: String,
    child: Child,
    started: Instant,
    /// The API's first answer to `/v1/health`.
    health: (u16, serde_json::Value),
    _dir: tempfile::TempDir,
}

async fn start_on_a_silent_database() -> SilentStart {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let db_port = silent.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let child = indexer(&format!("postgres://walrus@127.0.0.1:{db_port}/walrus_startup"), &listen, dir.path());
    let started = Instant::now();
    let health = loop {
        if let Some(answer) = get(&listen, "/v1/health").await {
            break answer;
        }
        assert!(started.elapsed() < CONNECT_TIMEOUT, "nothing listened on {listen} while connecting");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    SilentStart { silent, db_port, listen, child, started, health, _dir: dir }
}

#[tokio::test]
async fn a_silent_database_is_named_within_the_timeout_while_health_says_connecting() {
    let SilentStart { silent, db_port, listen, child, started, health, _dir } = start_on_a_silent_database().await;
    // The API answers before the database does, with the phase.
    assert_eq!(health.0, 503, "{health:?}");
    assert_eq!(health.1["status"], "connecting", "{health:?}");
    assert_eq!(health.1["error"]["code"], 503, "the API's error envelope: {health:?}");
    assert_eq!(get(&listen, "/v1/blobs").await.map(|(status, _)| status), Some(503));

    let (output, _) = exit_within(child, CONNECT_TIMEOUT + Duration::from_secs(5));
    let elapsed = started.elapsed();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(elapsed >= CONNECT_TIMEOUT && elapsed < CONNECT_TIMEOUT + Duration::from_secs(3), "{elapsed:?}");
    assert!(stderr.contains(&format!("127.0.0.1:{db_port}")) && stderr.contains("walrus_startup"), "{stderr}");
    assert!(stderr.contains("did not answer within 5 s"), "{stderr}");
    drop(silent);
}

#[tokio::test]
async fn a_refused_connection_is_named_at_once() {
    let db_port = free_port();
    let dir = tempfile::tempdir().unwrap();
    let child = indexer(
        &format!("postgres://walrus@127.0.0.1:{db_port}/walrus_startup"),
        &format!("127.0.0.1:{}", free_port()),
        dir.path(),
    );
    let (output, elapsed) = exit_within(child, CONNECT_TIMEOUT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
    assert!(stderr.contains(&format!("cannot connect to PostgreSQL at 127.0.0.1:{db_port}")), "{stderr}");
}

#[tokio::test]
async fn the_maintenance_database_is_refused_before_anything_connects() {
    // The server the tests use, which would accept the connection.
    let admin = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/x".into());
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path("/postgres");
    let dir = tempfile::tempdir().unwrap();
    let child = indexer(url.as_str(), &format!("127.0.0.1:{}", free_port()), dir.path());
    let (output, _) = exit_within(child, CONNECT_TIMEOUT);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(stderr.contains("maintenance database") && stderr.contains("--allow-maintenance-db"), "{stderr}");
}

#[test]
fn a_bad_validator_committee_file_is_refused_before_anything_starts() {
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).display().to_string();
    let mut off_curve = common::TestValidators::new(0, 1, 4).committee();
    // 96 bytes, but not a point of the curve.
    off_curve.members[0].public_key = sui_sdk_types::Bls12381PublicKey::new([1; 96]);
    std::fs::write(path("off-curve.json"), common::committee_to_json(&off_curve)).unwrap();
    std::fs::write(path("not-json.json"), "epoch 3").unwrap();
    for (file, reason) in [
        ("missing.json", "No such file"),
        ("not-json.json", "not a ValidatorCommittee"),
        ("off-curve.json", "unusable"),
    ] {
        let child = indexer_with(
            "postgres://postgres@127.0.0.1:1/unused",
            &format!("127.0.0.1:{}", free_port()),
            dir.path(),
            &["--validator-committee", &path(file)],
        );
        let (output, _) = exit_within(child, Duration::from_secs(10));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{file}");
        assert!(stderr.contains(&path(file)) && stderr.contains(reason), "{file}: {stderr}");
    }
}

/// Defect: the signals were listened to only from the moment ingestion started, and again, by a
/// new listener, once it ended: SIGTERM before or in between killed the process, or was lost (a
/// bench's SIGTERM as ingestion reached --last-checkpoint left the indexer running). Listened to
/// from the start, SIGTERM while the database does not answer ends the process at once, cleanly.
#[tokio::test]
async fn sigterm_during_start_up_shuts_down_at_once() {
    let SilentStart { silent, child, _dir, .. } = start_on_a_silent_database().await;
    // SAFETY: kill has no memory preconditions; the PID is our own child's, not yet waited for.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let (output, elapsed) = exit_within(child, CONNECT_TIMEOUT);
    assert_eq!(output.status.code(), Some(0), "a clean exit, not death by the signal: {output:?}");
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    drop(silent);
}
