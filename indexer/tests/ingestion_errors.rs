//! Bad checkpoints are errors, never silent: a misnumbered file, another chain's checkpoint, an
//! undecodable file and a gap each stop ingestion at that checkpoint (after committing the
//! good ones before it), are shown by `/v1/health` (503 with the reason once they last), and
//! ingestion resumes by itself once the file is right.

mod common;

use std::future::Future;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;
use sqlx::PgPool;
use sui_sdk_types::Digest;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use walrus_chain::checkpoint::MAX_CHECKPOINT_BYTES;
use walrus_chain::source::Source;
use walrus_indexer::api::{self, AppState};
use walrus_indexer::ingest::{self, IngestConfig, IngestError, Outcome};
use walrus_indexer::status::IngestStatus;
use walrus_indexer::store::Store;

/// Failures turn health to 503 after this long in these tests.
const UNHEALTHY_AFTER: Duration = Duration::from_millis(300);

struct Running {
    task: JoinHandle<Result<Outcome, IngestError>>,
    server: JoinHandle<()>,
    base: String,
    _stop: watch::Sender<bool>,
}

/// Both tasks hold the test's pool: left running, a connection of theirs outlived the test
/// now and then, and `#[sqlx::test]` could not drop the test's database.
impl Drop for Running {
    fn drop(&mut self) {
        self.task.abort();
        self.server.abort();
    }
}

/// Ingestion of checkpoints 0 to `last` of `dir` in the background, and the API beside it.
async fn start(pool: &PgPool, dir: &std::path::Path, last: u64, first_digest: Option<Digest>) -> Running {
    start_from(pool, Source::Dir(dir.into()), last, first_digest).await
}

async fn start_from(pool: &PgPool, source: Source, last: u64, first_digest: Option<Digest>) -> Running {
    let mut config = ingest_config(last, 10, 4);
    config.first_checkpoint_digest = first_digest;
    start_with(pool, source, config).await
}

async fn start_with(pool: &PgPool, source: Source, mut config: IngestConfig) -> Running {
    let status = IngestStatus::new(UNHEALTHY_AFTER);
    config.status = status.clone();
    let (stop, rx) = watch::channel(false);
    let task = tokio::spawn(ingest::run(Store::from_pool(pool.clone()), source, config, rx));
    let state = AppState { pool: pool.clone(), metrics: None, default_n_shards: 1000, ingestion: status, cache: None };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move { axum::serve(listener, api::router(state)).await.unwrap() });
    Running { task, server, base: format!("http://{address}"), _stop: stop }
}

/// Polls `check` until it returns something, at most 10 s.
async fn eventually<T, F: Future<Output = Option<T>>>(what: &str, mut check: impl FnMut() -> F) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn watermark(pool: &PgPool) -> Option<u64> {
    Store::from_pool(pool.clone()).watermark().await.unwrap().map(|w| w.checkpoint)
}

/// Waits until the checkpoints before a bad one are committed: the error can surface (a later
/// file is fetched ahead) before their commit does.
async fn committed_up_to(pool: &PgPool, checkpoint: u64) {
    eventually("the checkpoints before the bad one to be committed", || async {
        (watermark(pool).await == Some(checkpoint)).then_some(())
    })
    .await
}

/// Waits until health is a 503 and returns its message.
async fn unhealthy(base: &str) -> String {
    eventually("health to turn 503", || async {
        let (status, body) = get(base, "/v1/health").await;
        (status == 503).then(|| body["error"]["message"].as_str().unwrap().to_owned())
    })
    .await
}

/// Waits for the ingestion to finish after the file is repaired; health is 200 and clean again.
async fn finishes(mut running: Running, pool: &PgPool) {
    let outcome = tokio::time::timeout(Duration::from_secs(15), &mut running.task).await.expect("resumes").unwrap();
    assert_eq!(outcome.unwrap(), Outcome::Finished);
    assert_eq!(watermark(pool).await, Some(5));
    let (status, health) = get(&running.base, "/v1/health").await;
    assert_eq!((status, &health["ingestion"]["error"]), (200, &Value::Null), "{health}");
}

/// Defect: the fold panicked ("checkpoints must be added in order"), the reader task died,
/// and the loop took that as completion, with health 200 and nothing more ever ingested.
#[sqlx::test(migrations = "../migrations")]
async fn a_misnumbered_file_is_an_error_until_it_is_replaced(pool: PgPool) {
    let history = history();
    let dir = folder_of(&history);
    let path = dir.path().join("3.binpb.zst");
    std::fs::copy(dir.path().join("4.binpb.zst"), &path).unwrap();
    let running = start(&pool, dir.path(), 5, None).await;

    // The good checkpoints before it, in the same batch, are committed.
    eventually("checkpoints 0 to 2", || async { (watermark(&pool).await == Some(2)).then_some(()) }).await;
    let message = unhealthy(&running.base).await;
    assert!(message.contains("checkpoint 3") && message.contains("it is checkpoint 4"), "{message}");
    assert!(!running.task.is_finished(), "a bad file is never completion");
    committed_up_to(&pool, 2).await;

    write_binpb_zst(dir.path(), &history[3]);
    finishes(running, &pool).await;
}

/// Defect: a checkpoint of another chain was indexed silently. The link is checked across a
/// restart too: the stored watermark's digest anchors it.
#[sqlx::test(migrations = "../migrations")]
async fn another_chains_checkpoint_is_refused_also_after_a_restart(pool: PgPool) {
    let history = history();
    let dir = folder_of(&history[..3]);
    ingest_folder(&pool, dir.path(), 2, 10).await;

    let mut foreign = history[3].clone();
    foreign.digest = Some(Digest::new([0xF0; 32]).to_string());
    foreign.summary.as_mut().unwrap().previous_digest = Some(Digest::new([0xF2; 32]).to_string());
    write_binpb_zst(dir.path(), &foreign);
    write_binpb_zst(dir.path(), &history[4]);
    write_binpb_zst(dir.path(), &history[5]);
    let running = start(&pool, dir.path(), 5, None).await;
    let message = unhealthy(&running.base).await;
    assert!(message.contains("checkpoint 3 does not follow"), "{message}");
    assert!(message.contains(&checkpoint_digest(2).to_string()), "names the digest expected: {message}");
    committed_up_to(&pool, 2).await;

    write_binpb_zst(dir.path(), &history[3]);
    finishes(running, &pool).await;
}

/// Defect: one undecodable file held back the good checkpoints before it in its batch.
#[sqlx::test(migrations = "../migrations")]
async fn an_undecodable_file_is_named_and_the_checkpoints_before_it_commit(pool: PgPool) {
    let history = history();
    let dir = folder_of(&history);
    std::fs::write(dir.path().join("3.binpb.zst"), b"not zstd").unwrap();
    let running = start(&pool, dir.path(), 5, None).await;
    eventually("checkpoints 0 to 2", || async { (watermark(&pool).await == Some(2)).then_some(()) }).await;
    let message = unhealthy(&running.base).await;
    assert!(message.contains("3.binpb.zst") && message.contains("zstd"), "{message}");

    write_binpb_zst(dir.path(), &history[3]);
    finishes(running, &pool).await;
}

/// Defect: a gap stopped ingestion without a word. It is not a failure (the file may come), but
/// health says which checkpoint is awaited and for how long.
#[sqlx::test(migrations = "../migrations")]
async fn a_gap_is_shown_as_the_checkpoint_awaited(pool: PgPool) {
    let history = history();
    let dir = folder_of(&[&history[..3], &history[4..]].concat());
    let running = start(&pool, dir.path(), 5, None).await;
    let health = eventually("waiting for checkpoint 3", || async {
        let (_, health) = get(&running.base, "/v1/health").await;
        (health["ingestion"]["waiting_for_checkpoint"] == 3 && health["watermark_checkpoint"] == 2).then_some(health)
    })
    .await;
    assert_eq!(health["ingestion"]["error"], Value::Null);
    tokio::time::sleep(UNHEALTHY_AFTER * 2).await;
    let (status, health) = get(&running.base, "/v1/health").await;
    assert_eq!(status, 200, "a gap is not a failure: {health}");
    assert!(health["ingestion"]["waiting_ms"].as_u64().unwrap() >= UNHEALTHY_AFTER.as_millis() as u64);

    write_binpb_zst(dir.path(), &history[3]);
    finishes(running, &pool).await;
}

/// The first checkpoint is checked against `--first-checkpoint-digest`.
#[sqlx::test(migrations = "../migrations")]
async fn the_first_checkpoint_must_have_the_configured_digest(pool: PgPool) {
    let dir = folder_of(&history());
    let running = start(&pool, dir.path(), 5, Some(Digest::new([9; 32]))).await;
    let message = unhealthy(&running.base).await;
    assert!(message.contains("--first-checkpoint-digest"), "{message}");
    assert_eq!(watermark(&pool).await, None);
    running.task.abort();

    let running = start(&pool, dir.path(), 5, Some(checkpoint_digest(0))).await;
    finishes(running, &pool).await;
}

/// Digests alone let a source fork the chain after any anchor: with a trusted committee, a
/// checkpoint that links correctly but is not signed by a quorum of its epoch's committee is
/// refused, also after a restart that is not told the committee (the database keeps the one
/// the chain handed over to).
#[sqlx::test(migrations = "../migrations")]
async fn a_checkpoint_not_certified_by_its_committee_is_refused_also_after_a_restart(pool: PgPool) {
    let (history, first, second) = certified_history();
    let dir = folder_of(&history);
    // Another checkpoint 4 (a later time, so another summary) on the genuine 3, signed by
    // validators outside the committee.
    let mut forged = history[4].clone();
    forged.summary.as_mut().unwrap().timestamp.as_mut().unwrap().nanos += 1_000_000;
    let previous = history[3].digest.as_ref().unwrap().parse().unwrap();
    TestValidators::new(1, 9, 4).certify(&mut forged, Some(previous), 4, None);
    write_binpb_zst(dir.path(), &forged);
    let mut config = ingest_config(5, 10, 4);
    config.validator_committee = Some(first.committee());
    let running = start_with(&pool, Source::Dir(dir.path().into()), config).await;
    let message = unhealthy(&running.base).await;
    assert!(message.contains("certificate of checkpoint 4") && message.contains("epoch 1"), "{message}");
    committed_up_to(&pool, 3).await;
    let stored = Store::from_pool(pool.clone()).watermark().await.unwrap().unwrap();
    assert_eq!(stored.validator_committee, Some(second.committee()), "the committee after the hand-over");
    running.task.abort();

    let running = start(&pool, dir.path(), 5, None).await;
    let message = unhealthy(&running.base).await;
    assert!(message.contains("certificate of checkpoint 4"), "{message}");
    write_binpb_zst(dir.path(), &history[4]);
    finishes(running, &pool).await;
}

/// One pairing check per run, not per checkpoint: checkpoint 5's certificate vouches for 4 and
/// 3 by their digests, so a junk signature on 3 (its summary unchanged) costs nothing.
#[sqlx::test(migrations = "../migrations")]
async fn a_later_certificate_vouches_for_the_checkpoints_it_links_to(pool: PgPool) {
    let (mut history, first, second) = certified_history();
    let mut other = history[3].clone();
    TestValidators::new(1, 9, 4).certify(&mut other, None, 4, None);
    history[3].signature = other.signature;
    let dir = folder_of(&history);
    let mut config = ingest_config(5, 10, 4);
    config.validator_committee = Some(first.committee());
    let running = start_with(&pool, Source::Dir(dir.path().into()), config).await;
    finishes(running, &pool).await;
    let stored = Store::from_pool(pool.clone()).watermark().await.unwrap().unwrap();
    assert_eq!(stored.validator_committee, Some(second.committee()));
}

/// Checking certificates needs them: a source that sends none is an error, not a skip.
#[sqlx::test(migrations = "../migrations")]
async fn a_trusted_committee_refuses_checkpoints_without_certificates(pool: PgPool) {
    let dir = folder_of(&history());
    let mut config = ingest_config(5, 10, 4);
    config.validator_committee = Some(TestValidators::new(0, 1, 4).committee());
    let running = start_with(&pool, Source::Dir(dir.path().into()), config).await;
    let message = unhealthy(&running.base).await;
    assert!(message.contains("checkpoint 0 comes without what checking its certificate needs"), "{message}");
    assert_eq!(watermark(&pool).await, None);
}

/// Defect: a 33 KB checkpoint file took the process to 1.05 GiB. It is refused at the limit.
#[sqlx::test(migrations = "../migrations")]
async fn a_zstd_bomb_is_refused_with_a_clear_error(pool: PgPool) {
    use std::io::Write;
    let history = history();
    let dir = folder_of(&history);
    let mut bomb = zstd::stream::write::Encoder::new(Vec::new(), 1).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..=(MAX_CHECKPOINT_BYTES >> 20) {
        bomb.write_all(&zeros).unwrap();
    }
    let bomb = bomb.finish().unwrap();
    assert!(bomb.len() < 64 << 10, "{} bytes", bomb.len());
    std::fs::write(dir.path().join("3.binpb.zst"), bomb).unwrap();
    let running = start(&pool, dir.path(), 5, None).await;
    let message = unhealthy(&running.base).await;
    assert!(message.contains("3.binpb.zst") && message.contains("larger than 268435456 bytes"), "{message}");
    committed_up_to(&pool, 2).await;

    write_binpb_zst(dir.path(), &history[3]);
    finishes(running, &pool).await;
}

/// A checkpoint store whose body would be too large is refused by its length, unread.
#[sqlx::test(migrations = "../migrations")]
async fn an_oversized_http_body_is_refused_before_it_is_read(pool: PgPool) {
    use axum::body::Body;
    use axum::response::{IntoResponse, Response};
    let dir = folder_of(&history());
    let root = dir.path().to_owned();
    let app = axum::Router::new().route(
        "/{file}",
        axum::routing::get(move |axum::extract::Path(file): axum::extract::Path<String>| {
            let root = root.clone();
            async move {
                if file == "3.binpb.zst" {
                    // Announces 300 MB and never sends them.
                    let never = futures::stream::pending::<Result<bytes::Bytes, std::io::Error>>();
                    return Response::builder()
                        .header("content-length", "300000000")
                        .body(Body::from_stream(never))
                        .unwrap();
                }
                match std::fs::read(root.join(&file)) {
                    Ok(bytes) => bytes.into_response(),
                    Err(_) => axum::http::StatusCode::NOT_FOUND.into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let running = start_from(&pool, Source::parse(&format!("http://{address}")).unwrap(), 5, None).await;
    let message = unhealthy(&running.base).await;
    assert!(message.contains("3.binpb.zst is 300000000 bytes"), "{message}");
    committed_up_to(&pool, 2).await;
}

/// Defects: with `--exit-when-done`, a run that had not reached `--last-checkpoint` could exit
/// 0; SIGTERM killed the process instead of shutting it down; logs kept ANSI colours when
/// redirected.
#[sqlx::test(migrations = "../migrations")]
async fn exit_when_done_fails_when_stopped_before_the_last_checkpoint(pool: PgPool) {
    let dir = folder_of(&history()[..3]);
    let mut url = url::Url::parse(&std::env::var("DATABASE_URL").expect("DATABASE_URL")).unwrap();
    url.set_path(pool.connect_options().get_database().unwrap());
    let listen = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_walrus-indexer"))
        .args(["--database-url", url.as_str(), "--package", &package().to_string()])
        .args(["--source", &format!("dir:{}", dir.path().display()), "--listen", &listen.to_string()])
        .args(["--last-checkpoint", "5", "--exit-when-done", "--poll-ms", "10"])
        .env("RUST_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    eventually("checkpoints 0 to 2", || async { (watermark(&pool).await == Some(2)).then_some(()) }).await;
    let killed = std::process::Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert_eq!(output.status.code(), Some(1), "exits with an error, not by the signal: {stderr}");
    assert!(stderr.contains("stopped before --last-checkpoint"), "{stderr}");
    assert!(stdout.contains("SIGTERM: shutting down"), "{stdout}");
    assert!(!stdout.contains('\u{1b}'), "no ANSI escapes in redirected logs: {stdout}");
}
