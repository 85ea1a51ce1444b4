//! The indexer as an explorer uses it, on a corpus of the size issue 13 names: the real
//! `walrus-indexer` binary ingests a folder of checkpoints (100k blobs, about 230k events) into
//! a fresh database and serves it, and an open-loop load generator (requests sent at a fixed
//! rate whatever the answers take, over as many connections as needed) drives its HTTP API.
//!
//! `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres cargo bench -p walrus-indexer --bench api`
//!
//! Phases: (1) ingestion alone; (2) a mixed workload (lookups, lists with filters and cursors,
//! events, 2% stats) at `BENCH_RATE` (2,000) requests/s; (3) `/v1/stats` alone; (4) blob
//! lookups at 1,000 requests/s, idle; (5) the same corpus ingested into a second fresh database
//! while the same binary serves 1,000 lookups/s of the blobs ingested so far. Each phase prints
//! p50/p99 per request kind, the rate achieved, the load average, and the CPU time (user+sys) of
//! the indexer, of the load generator (this process, on the same cores) and of every PostgreSQL
//! process (the server may be shared), per request or per thousand events: CPU time is far less
//! sensitive to a busy machine than wall-clock figures.
//!
//! `BENCH_BLOBS` (100000) and `BENCH_SECONDS` (10, per load phase) scale it down for a quick look;
//! `-- ingestion` runs phases 1 and 5 only (the ingestion alone and while serving).
//! `BENCH_INDEXER` names another build of the binary to measure with the same generator (for a
//! reference, such as main's build, in the same session).
//!
//! `-- kinds` adds, after the mixed workload, each of its kinds alone at 300 requests/s with its
//! CPU per request: where the mix's CPU goes. With `BENCH_KEEP` set it then stops and leaves
//! the database `bench_api` for a look at plans in psql.
//!
//! `cargo bench -p walrus-indexer --bench api -- explorer` measures issue 14's explorer instead:
//! the API calls each page of the explorer makes, with a million blobs in the tables
//! (`tests/million.sql`, which the home-page benchmark fills too), open loop at
//! `BENCH_EXPLORER_RATE` (100) calls/s for `BENCH_SECONDS`.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};
use sui_sdk_types::Address;
use walrus_chain::events::*;
use walrus_chain::testing::{checkpoint, ours, package, write_binpb_zst};

/// Blobs registered per checkpoint (one transaction each).
const PER_CHECKPOINT: u64 = 10;
const CHECKPOINTS_PER_EPOCH: u64 = 500;
/// A deletable blob chosen for deletion is deleted this many checkpoints after its registration.
const DELETE_AFTER: u64 = 50;
/// Requests per second of each kind alone (`-- kinds`).
const KIND_RATE: f64 = 300.0;
/// Rows per page of the list requests.
const PAGE: u32 = 20;

// === The corpus ===

/// 32 well-mixed bytes for `n` (splitmix64), so IDs spread over the indexes as real ones do.
fn mixed(n: u64, salt: u64) -> [u8; 32] {
    let mut state = n.wrapping_mul(4).wrapping_add(salt);
    let mut bytes = [0u8; 32];
    for chunk in bytes.chunks_mut(8) {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        chunk.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    bytes
}

fn object(n: u64) -> Address {
    Address::new(mixed(n, 1))
}

fn blob(n: u64) -> BlobId {
    BlobId(mixed(n, 2))
}

fn epoch_of_checkpoint(c: u64) -> u32 {
    1 + (c / CHECKPOINTS_PER_EPOCH) as u32
}

/// Blob `n`'s end epoch: 1 to 30 epochs after its registration, so many expire during the run.
fn end_epoch(n: u64) -> u32 {
    epoch_of_checkpoint(n / PER_CHECKPOINT) + 1 + (n % 30) as u32
}

struct Corpus {
    dir: tempfile::TempDir,
    blobs: u64,
    checkpoints: u64,
    events: u64,
}

/// Checkpoints registering `blobs` blobs, 10 per checkpoint, an epoch every 500 checkpoints:
/// 95% certified, a quarter with an attribute, every tenth deleted 50 checkpoints later, one
/// in a thousand declared invalid.
fn corpus(blobs: u64) -> Corpus {
    let dir = tempfile::tempdir().unwrap();
    let checkpoints = blobs.div_ceil(PER_CHECKPOINT);
    let mut events = 0;
    for c in 0..checkpoints {
        let epoch = epoch_of_checkpoint(c);
        let mut transactions = Vec::new();
        if c % CHECKPOINTS_PER_EPOCH == 0 {
            transactions.push(vec![ours(&EpochChangeStart { epoch })]);
        }
        for n in (c * PER_CHECKPOINT..(c + 1) * PER_CHECKPOINT).filter(|n| *n < blobs) {
            let (blob_id, object_id, end_epoch, deletable) = (blob(n), object(n), end_epoch(n), n % 2 == 1);
            let size = 1_000 + (n * 7_919) % 5_000_000;
            let mut tx =
                vec![ours(&BlobRegistered { epoch, blob_id, size, encoding_type: 1, end_epoch, deletable, object_id })];
            if n % 20 != 0 {
                tx.push(ours(&BlobCertified { epoch, blob_id, end_epoch, deletable, object_id, is_extension: false }));
            }
            if n % 4 == 0 {
                let (key, value) = ("content-type".to_owned(), "text/plain".to_owned());
                tx.push(ours(&BlobAttributeSet { blob_id, object_id, key, value }));
            }
            if n % 1000 == 11 {
                tx.push(ours(&InvalidBlobID { epoch, blob_id }));
            }
            transactions.push(tx);
        }
        if let Some(registered) = c.checked_sub(DELETE_AFTER) {
            for n in (registered * PER_CHECKPOINT..(registered + 1) * PER_CHECKPOINT).filter(|n| n % 10 == 3) {
                transactions.push(vec![ours(&BlobDeleted {
                    epoch,
                    blob_id: blob(n),
                    end_epoch: end_epoch(n),
                    object_id: object(n),
                    was_certified: n % 20 != 0,
                })]);
            }
        }
        events += transactions.iter().map(Vec::len).sum::<usize>() as u64;
        write_binpb_zst(dir.path(), &checkpoint(c, transactions));
    }
    Corpus { dir, blobs, checkpoints, events }
}

// === CPU and load ===

/// CPU ticks (user+sys) since boot, from `/proc`.
#[derive(Clone, Copy, Default)]
struct Cpu {
    indexer: u64,
    generator: u64,
    postgres: u64,
    machine_busy: u64,
    machine_total: u64,
}

/// utime, stime, cutime, cstime of a process (ticks), and its command name.
fn proc_stat(pid: &str) -> Option<(String, [u64; 4])> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (name, rest) = text.split_once(" (")?.1.rsplit_once(") ")?;
    let fields: Vec<u64> = rest.split_whitespace().skip(11).take(4).filter_map(|f| f.parse().ok()).collect();
    Some((name.to_owned(), fields.try_into().ok()?))
}

impl Cpu {
    fn sample(indexer: Option<u32>) -> Self {
        let own = |pid: &str| proc_stat(pid).map_or(0, |(_, t)| t[0] + t[1]);
        // Backends that exited are in the postmaster's children's times.
        let postgres = std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|entry| proc_stat(entry.ok()?.file_name().to_str()?))
            .filter(|(name, _)| name == "postgres")
            .map(|(_, t)| t.iter().sum::<u64>())
            .sum();
        let machine: Vec<u64> = std::fs::read_to_string("/proc/stat")
            .unwrap_or_default()
            .lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .skip(1)
            .filter_map(|f| f.parse().ok())
            .collect();
        // user nice system idle iowait irq softirq steal
        let idle = machine.get(3).copied().unwrap_or(0) + machine.get(4).copied().unwrap_or(0);
        let total: u64 = machine.iter().take(8).sum();
        Self {
            indexer: indexer.map_or(0, |pid| own(&pid.to_string())),
            generator: own("self"),
            postgres,
            machine_busy: total - idle,
            machine_total: total,
        }
    }

    fn since(self, before: Self) -> CpuUse {
        let hz = ticks_per_second();
        let seconds = |ticks: u64| ticks as f64 / hz;
        CpuUse {
            indexer: seconds(self.indexer.saturating_sub(before.indexer)),
            generator: seconds(self.generator.saturating_sub(before.generator)),
            postgres: seconds(self.postgres.saturating_sub(before.postgres)),
            machine_busy: (self.machine_busy - before.machine_busy) as f64
                / (self.machine_total - before.machine_total).max(1) as f64,
        }
    }
}

fn ticks_per_second() -> f64 {
    // SAFETY: sysconf has no preconditions.
    (unsafe { libc::sysconf(libc::_SC_CLK_TCK) }).max(1) as f64
}

/// CPU seconds used during a phase, and the fraction of the machine's CPU time that was busy.
struct CpuUse {
    indexer: f64,
    generator: f64,
    postgres: f64,
    machine_busy: f64,
}

impl CpuUse {
    /// CPU per unit of work (`unit` names it), in microseconds or milliseconds.
    fn per(&self, units: u64, unit: &str, scale: f64, scale_name: &str) -> String {
        let per = |seconds: f64| seconds * scale / units.max(1) as f64;
        format!(
            "CPU per {unit}: indexer {:.1} {scale_name}, load generator {:.1} {scale_name}, PostgreSQL (all) {:.1} \
             {scale_name}; machine {:.0}% busy",
            per(self.indexer),
            per(self.generator),
            per(self.postgres),
            self.machine_busy * 100.0
        )
    }
}

/// The 1-minute load average.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap_or_default().split_whitespace().next().unwrap_or("?").to_owned()
}

/// The CPU time (seconds) of this process's children that were waited for.
fn children_cpu() -> f64 {
    // SAFETY: getrusage writes into the zeroed struct we own.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

// === The indexer ===

struct Indexer {
    child: Child,
    base: String,
}

impl Indexer {
    /// Starts the binary on `database`, ingesting `corpus` up to its last checkpoint, then
    /// serving on until stopped.
    fn start(admin: &str, database: &str, corpus: &Corpus) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let base_url = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
        let binary = std::env::var("BENCH_INDEXER").unwrap_or_else(|_| env!("CARGO_BIN_EXE_walrus-indexer").into());
        let child = Command::new(binary)
            .args(["--database-url", &format!("{base_url}/{database}")])
            .args(["--package", &package().to_string()])
            .args(["--source", &format!("dir:{}", corpus.dir.path().display())])
            .args(["--listen", &format!("127.0.0.1:{port}")])
            .args(["--last-checkpoint", &(corpus.checkpoints - 1).to_string()])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("starting walrus-indexer");
        Self { child, base: format!("http://127.0.0.1:{port}") }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits until `/v1/health` answers 200; returns its watermark.
    async fn ready(&self, client: &reqwest::Client) -> Option<u64> {
        loop {
            if let Ok(response) = client.get(format!("{}/v1/health", self.base)).send().await {
                if response.status().is_success() {
                    let health: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
                    return health["watermark_checkpoint"].as_u64();
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIGTERM, then waits for the graceful exit.
    fn stop(mut self) {
        // SAFETY: kill has no memory preconditions; the PID is our own child's, not yet waited for.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap();
    }
}

async fn create_database(admin: &str, name: &str) {
    let mut connection = PgConnection::connect(admin).await.expect("DATABASE_URL must point at PostgreSQL");
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut connection).await.unwrap();
    sqlx::query(&format!("CREATE DATABASE {name}")).execute(&mut connection).await.unwrap();
}

async fn drop_database(admin: &str, name: &str) {
    let mut connection = PgConnection::connect(admin).await.unwrap();
    sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).execute(&mut connection).await.unwrap();
}

// === The load generator ===

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Lookup,
    ByObject,
    Blobs,
    BlobsByStatus,
    BlobsFiltered,
    Events,
    EventsByType,
    EventsByBlob,
    Stats,
    // The explorer's other calls.
    RecentEpochs,
    Epoch,
    Nodes,
    Node,
    NodeHistory,
    NewestEvents,
    Search,
}

/// A deterministic pseudo-random number for request `i`.
fn draw(i: u64, salt: u64) -> u64 {
    u64::from_le_bytes(mixed(i, salt)[..8].try_into().unwrap())
}

/// Request `i` of the mixed workload over `corpus`: 30% lookups by blob ID, 15% by object,
/// 25% blob lists (plain, by status, by deletable and end epoch; most after a cursor), 28%
/// event lists (plain after a cursor, by type, by blob), 2% stats.
fn mixed_request(i: u64, corpus: &Corpus) -> (Kind, String) {
    let (r, n) = (draw(i, 7) % 100, draw(i, 8) % corpus.blobs);
    let cursor = if draw(i, 9).is_multiple_of(5) { String::new() } else { format!("&cursor={}", object(draw(i, 10))) };
    match r {
        0..30 => (Kind::Lookup, format!("/v1/blobs/{}", blob(n))),
        30..45 => (Kind::ByObject, format!("/v1/blobs/by-object/{}", object(n))),
        45..55 => (Kind::Blobs, format!("/v1/blobs?limit={PAGE}{cursor}")),
        55..65 => {
            let status = ["registered", "certified", "deleted", "invalid", "expired"][(n % 5) as usize];
            (Kind::BlobsByStatus, format!("/v1/blobs?status={status}&limit={PAGE}{cursor}"))
        }
        65..70 => {
            let before = 2 + n % 40;
            (Kind::BlobsFiltered, format!("/v1/blobs?deletable=true&end_epoch_before={before}&limit={PAGE}{cursor}"))
        }
        70..80 => (Kind::Events, format!("/v1/events?limit={PAGE}&cursor={}.0.0", draw(i, 11) % corpus.checkpoints)),
        80..88 => {
            let name = ["BlobRegistered", "BlobCertified", "BlobDeleted", "InvalidBlobID", "EpochChangeStart"]
                [(n % 5) as usize];
            let cursor = if draw(i, 9).is_multiple_of(5) {
                String::new()
            } else {
                format!("&cursor={}.0.0", draw(i, 11) % corpus.checkpoints)
            };
            (Kind::EventsByType, format!("/v1/events?type={name}&limit={PAGE}{cursor}"))
        }
        88..98 => (Kind::EventsByBlob, format!("/v1/events?blob_id={}", blob(n))),
        _ => (Kind::Stats, "/v1/stats".to_owned()),
    }
}

struct Sample {
    kind: Kind,
    latency: Duration,
    /// Why the request failed (a status or a transport error); `None` for a 2xx, or a 404 for a
    /// lookup during ingestion.
    error: Option<String>,
}

struct Load {
    samples: Vec<Sample>,
    elapsed: Duration,
    /// How far behind its schedule the generator fell at worst (its own lateness).
    worst_lag: Duration,
}

/// Connections the generator keeps open at most (requests beyond them wait for one, and that
/// wait counts in their latency): an overloaded server then shows as latency, not as
/// thousands of connections refused.
const CONNECTIONS: usize = 256;
/// How early tokio's timer is asked to wake the generator (see [`open_loop`]).
const TIMER_SLACK: Duration = Duration::from_millis(2);

/// Sends request `i` at `start + i / rate` until `duration` has passed or `until` resolves,
/// whatever the earlier ones are doing (open loop); latency counts from the time a request was
/// due, so waiting for a connection is included.
async fn open_loop(
    client: &reqwest::Client,
    base: &str,
    rate: f64,
    duration: Duration,
    until: impl Future<Output = ()>,
    request: impl Fn(u64) -> (Kind, String),
) -> Load {
    tokio::pin!(until);
    let start = Instant::now();
    let connections = Arc::new(tokio::sync::Semaphore::new(CONNECTIONS));
    let mut tasks = Vec::new();
    let mut worst_lag = Duration::ZERO;
    for i in 0u64.. {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due - start >= duration {
            break;
        }
        // Tokio's timers wake up to a millisecond late, which would count as latency of every
        // request: they take it to just before the request is due, and a thread sleep (to
        // within microseconds) the rest. This future runs on the main thread, not a worker.
        tokio::select! {
            () = tokio::time::sleep_until(due.checked_sub(TIMER_SLACK).unwrap_or(due).into()) => {}
            () = &mut until => break,
        }
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        worst_lag = worst_lag.max(Instant::now() - due);
        let (kind, path) = request(i);
        let (client, url, connections) = (client.clone(), format!("{base}{path}"), connections.clone());
        tasks.push(tokio::spawn(async move {
            let _connection = connections.acquire().await.unwrap();
            let error = match client.get(url).send().await {
                Ok(response) => {
                    let status = response.status();
                    match response.bytes().await {
                        Err(error) => Some(format!("reading the body: {error}")),
                        Ok(_) if status.is_success() || (status == 404 && kind == Kind::Lookup) => None,
                        Ok(_) => Some(format!("status {status}")),
                    }
                }
                Err(error) if error.is_connect() => Some("no connection (refused or failed)".to_owned()),
                Err(error) if error.is_timeout() => Some("no answer within the client's 10 s".to_owned()),
                Err(error) => Some(error.without_url().to_string()),
            };
            Sample { kind, latency: due.elapsed(), error }
        }));
    }
    let mut samples = Vec::with_capacity(tasks.len());
    for task in tasks {
        samples.push(task.await.unwrap());
    }
    Load { samples, elapsed: start.elapsed(), worst_lag }
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Percentile `p` (0..=1) of sorted latencies.
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 * p) as usize).min(sorted.len() - 1)]
}

/// Prints p50/p99/max per kind and overall, the achieved rate and errors; returns the overall
/// p99 and the rate of answered requests.
fn report(name: &str, load: &Load) -> (f64, f64) {
    let mut by_kind: BTreeMap<Kind, Vec<Duration>> = BTreeMap::new();
    let mut all = Vec::new();
    let mut errors: BTreeMap<&str, usize> = BTreeMap::new();
    for sample in &load.samples {
        match &sample.error {
            None => {
                by_kind.entry(sample.kind).or_default().push(sample.latency);
                all.push(sample.latency);
            }
            Some(error) => *errors.entry(error.as_str()).or_default() += 1,
        }
    }
    let rate = all.len() as f64 / load.elapsed.as_secs_f64();
    println!(
        "{name}: {} requests in {:.1} s = {rate:.0}/s answered, {} errors, generator late by {:.1} ms at worst, \
         load average {}",
        load.samples.len(),
        load.elapsed.as_secs_f64(),
        errors.values().sum::<usize>(),
        ms(load.worst_lag),
        load_average()
    );
    for (error, count) in errors.iter().take(3) {
        println!("  error x{count}: {error:.200}");
    }
    for (kind, latencies) in
        by_kind.iter_mut().map(|(k, l)| (format!("{k:?}"), l)).chain([("all".to_owned(), &mut all)])
    {
        if latencies.is_empty() {
            continue;
        }
        latencies.sort();
        println!(
            "  {kind:<14} n={:<6} p50 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
            latencies.len(),
            ms(percentile(latencies, 0.5)),
            ms(percentile(latencies, 0.99)),
            ms(percentile(latencies, 1.0))
        );
    }
    (if all.is_empty() { f64::NAN } else { ms(percentile(&all, 0.99)) }, rate)
}

/// Runs the binary on a fresh database until its watermark is the corpus's last checkpoint,
/// while `serving` requests/s of lookups (of blobs at or below the watermark) go to it, then
/// stops it; returns the ingestion time (from the API being up to the last commit, seen within
/// [`WATERMARK_POLL`]), its CPU seconds and the load, if any. The load stops at the last commit,
/// while the indexer still serves: no request is sent to a process that has exited.
async fn ingest(
    admin: &str,
    database: &str,
    corpus: &Corpus,
    client: &reqwest::Client,
    serving: Option<f64>,
) -> (Duration, f64, Option<Load>) {
    create_database(admin, database).await;
    let cpu_before = children_cpu();
    let mut indexer = Indexer::start(admin, database, corpus);
    let base = indexer.base.clone();
    indexer.ready(client).await;
    let started = Instant::now();
    let watermark = Arc::new(AtomicU64::new(0));
    let (done_tx, done) = tokio::sync::watch::channel(false);
    // The watermark, for lookups of blobs already ingested; and the end.
    let poller = {
        let (client, base, watermark, last) = (client.clone(), base.clone(), watermark.clone(), corpus.checkpoints - 1);
        tokio::spawn(async move {
            loop {
                if let Ok(Some(status)) = indexer.child.try_wait() {
                    panic!("walrus-indexer exited before ingesting the corpus: {status}");
                }
                if let Ok(response) = client.get(format!("{base}/v1/health")).send().await {
                    if let Ok(health) = response.json_value().await {
                        if let Some(checkpoint) = health["watermark_checkpoint"].as_u64() {
                            watermark.store(checkpoint + 1, Ordering::Relaxed);
                            if checkpoint == last {
                                let _ = done_tx.send(true);
                                return (started.elapsed(), indexer);
                            }
                        }
                    }
                }
                tokio::time::sleep(WATERMARK_POLL).await;
            }
        })
    };
    let load = match serving {
        Some(rate) => {
            let mut done = done.clone();
            let until = async move {
                let _ = done.wait_for(|done| *done).await;
            };
            let blobs = corpus.blobs;
            Some(
                open_loop(client, &base, rate, Duration::from_secs(3600), until, |i| {
                    let ingested = (watermark.load(Ordering::Relaxed) * PER_CHECKPOINT).clamp(1, blobs);
                    (Kind::Lookup, format!("/v1/blobs/{}", blob(draw(i, 12) % ingested)))
                })
                .await,
            )
        }
        None => None,
    };
    let (elapsed, indexer) = poller.await.unwrap();
    drop(done);
    indexer.stop();
    (elapsed, children_cpu() - cpu_before, load)
}

/// How often [`ingest`] reads the watermark.
const WATERMARK_POLL: Duration = Duration::from_millis(20);

/// `response.json()` without reqwest's json feature.
trait JsonValue {
    async fn json_value(self) -> Result<serde_json::Value, ()>;
}

impl JsonValue for reqwest::Response {
    async fn json_value(self) -> Result<serde_json::Value, ()> {
        serde_json::from_slice(&self.bytes().await.map_err(|_| ())?).map_err(|_| ())
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Call `i` of the explorer's pages over `samples` (blob and object IDs): each call a page
/// makes, in turn (home: stats, the last 10 epochs, nodes; blob: the blob, its timeline;
/// epoch: the epoch, nodes; node: the node, its history; live events; search).
fn explorer_request(i: u64, samples: &[(Vec<u8>, Vec<u8>)]) -> (Kind, String) {
    let (blob_id, object_id) = &samples[(draw(i, 13) % samples.len() as u64) as usize];
    let blob_id = BlobId(blob_id.as_slice().try_into().expect("32-byte blob ID"));
    let mut node = [0u8; 32];
    node[31] = 1 + (draw(i, 14) % 100) as u8;
    let node = Address::new(node);
    match i % 11 {
        0 => (Kind::Stats, "/v1/stats".into()),
        1 => (Kind::RecentEpochs, "/v1/epochs?limit=10".into()),
        2 | 6 => (Kind::Nodes, "/v1/nodes".into()),
        3 => (Kind::Lookup, format!("/v1/blobs/{blob_id}")),
        4 => (Kind::EventsByBlob, format!("/v1/events?blob_id={blob_id}&limit=200")),
        5 => (Kind::Epoch, format!("/v1/epochs/{}", 1 + draw(i, 15) % 100)),
        7 => (Kind::Node, format!("/v1/nodes/{node}")),
        8 => (Kind::NodeHistory, format!("/v1/nodes/{node}/history")),
        9 => (Kind::NewestEvents, "/v1/events?order=desc&limit=50".into()),
        _ => {
            let object_id = Address::new(object_id.as_slice().try_into().expect("32-byte object ID"));
            let q = if draw(i, 16).is_multiple_of(2) { blob_id.to_string() } else { object_id.to_string() };
            (Kind::Search, format!("/v1/search?q={q}"))
        }
    }
}

/// Issue 14's speed target: every page's API calls with a million blobs indexed, p99 < 20 ms.
/// The binary migrates a fresh database (it follows an empty folder, so it only serves), the
/// tables are filled with SQL, then the calls run open loop.
async fn explorer(admin: &str, client: &reqwest::Client, seconds: Duration) {
    const DATABASE: &str = "bench_explorer";
    let rate = env_number("BENCH_EXPLORER_RATE", 100) as f64;
    create_database(admin, DATABASE).await;
    let empty = Corpus { dir: tempfile::tempdir().unwrap(), blobs: 0, checkpoints: 1, events: 0 };
    let indexer = Indexer::start(admin, DATABASE, &empty);
    indexer.ready(client).await;
    let base_url = admin.rsplit_once('/').map_or(admin, |(base, _)| base);
    let mut connection = PgConnection::connect(&format!("{base_url}/{DATABASE}")).await.unwrap();
    let filled = Instant::now();
    sqlx::raw_sql(include_str!("../tests/million.sql")).execute(&mut connection).await.unwrap();
    let samples: Vec<(Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT blob_id, object_id FROM blobs TABLESAMPLE SYSTEM (1) LIMIT 2000")
            .fetch_all(&mut connection)
            .await
            .unwrap();
    println!("filled a million blobs in {:.1} s; {} sampled", filled.elapsed().as_secs_f64(), samples.len());
    drop(connection);

    let pid = Some(indexer.pid());
    let base = indexer.base.clone();
    let request = |i| explorer_request(i, &samples);
    open_loop(client, &base, rate, Duration::from_secs(2), std::future::pending(), request).await;
    println!("-- explorer calls at a million blobs");
    let before = Cpu::sample(pid);
    let load = open_loop(client, &base, rate, seconds, std::future::pending(), request).await;
    report(&format!("explorer calls at {rate:.0}/s"), &load);
    println!("  {}", Cpu::sample(pid).since(before).per(load.samples.len() as u64, "call", 1e6, "µs"));
    let mut by_kind: BTreeMap<Kind, Vec<Duration>> = BTreeMap::new();
    for sample in load.samples.iter().filter(|s| s.error.is_none()) {
        by_kind.entry(sample.kind).or_default().push(sample.latency);
    }
    let worst = by_kind
        .values_mut()
        .map(|latencies| {
            latencies.sort();
            ms(percentile(latencies, 0.99))
        })
        .fold(0.0, f64::max);
    let failed = load.samples.iter().any(|s| s.error.is_some());
    println!("  target: every call's p99 < 20 ms (worst {worst:.2} ms): {}", verdict(worst < 20.0 && !failed));
    indexer.stop();
    drop_database(admin, DATABASE).await;
}

#[tokio::main]
async fn main() {
    let admin = std::env::var("DATABASE_URL").unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let blobs = env_number("BENCH_BLOBS", 100_000);
    let seconds = Duration::from_secs(env_number("BENCH_SECONDS", 10));
    let rate = env_number("BENCH_RATE", 2_000) as f64;
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .pool_max_idle_per_host(CONNECTIONS)
        .build()
        .unwrap();

    println!("load average at start {}; {} cores", load_average(), std::thread::available_parallelism().unwrap());
    if std::env::args().any(|arg| arg == "explorer") {
        explorer(&admin, &client, seconds).await;
        println!("load average at end {}", load_average());
        return;
    }
    let started = Instant::now();
    let corpus = corpus(blobs);
    println!(
        "corpus: {} blobs, {} events in {} checkpoints, written in {:.1} s",
        corpus.blobs,
        corpus.events,
        corpus.checkpoints,
        started.elapsed().as_secs_f64()
    );

    // 1. Ingestion alone.
    let before = Cpu::sample(None);
    let (idle, idle_cpu, _) = ingest(&admin, "bench_api", &corpus, &client, None).await;
    let events_per_second = |elapsed: Duration| corpus.events as f64 / elapsed.as_secs_f64();
    let cpu = CpuUse { indexer: idle_cpu, ..Cpu::sample(None).since(before) };
    println!(
        "ingestion alone: {:.2} s = {:.0} events/s; {}",
        idle.as_secs_f64(),
        events_per_second(idle),
        cpu.per(corpus.events / 1000, "1k events", 1e3, "ms")
    );

    let ingestion_only = std::env::args().any(|arg| arg == "ingestion");
    if !ingestion_only && !serve_ingested(&admin, &client, &corpus, rate, seconds).await {
        return;
    }
    drop_database(&admin, "bench_api").await;

    // 5. Ingestion while serving.
    println!("-- ingestion while serving 1,000 lookups/s");
    let before = Cpu::sample(None);
    let (loaded, loaded_cpu, load) = ingest(&admin, "bench_api_loaded", &corpus, &client, Some(1_000.0)).await;
    let load = load.expect("a load ran");
    let (p99, _) = report("lookups at 1,000/s during ingestion", &load);
    // The indexer's CPU here covers its serving too.
    let cpu = CpuUse { indexer: loaded_cpu, ..Cpu::sample(None).since(before) };
    println!(
        "ingestion while serving: {:.2} s = {:.0} events/s ({:.0}% of its speed alone); {}",
        loaded.as_secs_f64(),
        events_per_second(loaded),
        100.0 * idle.as_secs_f64() / loaded.as_secs_f64(),
        cpu.per(corpus.events / 1000, "1k events", 1e3, "ms")
    );
    println!(
        "  targets: lookups p99 < 5 ms: {}; ingestion loses at most 20%: {}",
        verdict(p99 < 5.0),
        verdict(loaded.as_secs_f64() <= idle.as_secs_f64() / 0.8)
    );
    drop_database(&admin, "bench_api_loaded").await;
    println!("load average at end {}", load_average());
}

/// Phases 2–4: the ingested database served, under the mixed workload, stats alone and lookups.
/// False if the run is to stop there (`BENCH_KEEP`).
async fn serve_ingested(admin: &str, client: &reqwest::Client, corpus: &Corpus, rate: f64, seconds: Duration) -> bool {
    let never = std::future::pending::<()>;
    let indexer = Indexer::start(admin, "bench_api", corpus);
    assert_eq!(indexer.ready(client).await, Some(corpus.checkpoints - 1), "the corpus is ingested");
    let pid = Some(indexer.pid());
    let base = indexer.base.clone();
    // Warm the caches and the connection pools.
    open_loop(client, &base, rate, Duration::from_secs(2), never(), |i| mixed_request(i, corpus)).await;

    let phase = |name: &'static str| {
        println!("-- {name}");
        Cpu::sample(pid)
    };
    let before = phase("mixed workload");
    let load = open_loop(client, &base, rate, seconds, never(), |i| mixed_request(i, corpus)).await;
    let (p99, achieved) = report(&format!("mixed at {rate:.0}/s"), &load);
    println!("  {}", Cpu::sample(pid).since(before).per(load.samples.len() as u64, "request", 1e6, "µs"));
    println!("  target: 2,000/s with p99 < 20 ms: {}", verdict(achieved >= 0.99 * 2_000.0 && p99 < 20.0));

    if std::env::args().any(|arg| arg == "kinds") {
        // Each kind of the mixed workload alone: what it costs, to know where the CPU goes.
        let kinds: BTreeSet<Kind> = (0..10_000).map(|i| mixed_request(i, corpus).0).collect();
        for kind in kinds {
            let before = Cpu::sample(pid);
            let requests: Vec<String> = (0u64..)
                .map(|i| mixed_request(i, corpus))
                .filter_map(|(k, path)| (k == kind).then_some(path))
                .take(KIND_RATE as usize * seconds.as_secs() as usize)
                .collect();
            let load = open_loop(client, &base, KIND_RATE, seconds, never(), |i| {
                (kind, requests[i as usize % requests.len()].clone())
            })
            .await;
            report(&format!("{kind:?} alone at {KIND_RATE}/s"), &load);
            println!("  {}", Cpu::sample(pid).since(before).per(load.samples.len() as u64, "request", 1e6, "µs"));
        }
        if std::env::var_os("BENCH_KEEP").is_some() {
            indexer.stop();
            println!("database bench_api kept, for EXPLAIN in psql");
            return false;
        }
    }

    let before = phase("stats alone");
    let load = open_loop(client, &base, 200.0, seconds / 2, never(), |_| (Kind::Stats, "/v1/stats".into())).await;
    let (p99, _) = report("stats at 200/s", &load);
    println!("  {}", Cpu::sample(pid).since(before).per(load.samples.len() as u64, "request", 1e6, "µs"));
    println!("  target: p99 < 2 ms: {}", verdict(p99 < 2.0));

    let before = phase("lookups, idle");
    let load = open_loop(client, &base, 1_000.0, seconds / 2, never(), |i| {
        (Kind::Lookup, format!("/v1/blobs/{}", blob(draw(i, 12) % corpus.blobs)))
    })
    .await;
    report("lookups at 1,000/s, no ingestion", &load);
    println!("  {}", Cpu::sample(pid).since(before).per(load.samples.len() as u64, "request", 1e6, "µs"));
    indexer.stop();
    true
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT met"
    }
}
