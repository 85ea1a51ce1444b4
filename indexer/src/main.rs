//! `walrus-indexer`: ingests and serves at once. See `--help`.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use sui_sdk_types::{Digest, ValidatorCommittee};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{oneshot, watch};
use walrus_chain::checkpoint::parse_address;
use walrus_chain::source::Source;
use walrus_chain::validators::{committee_from_json, CertificateCheck};
use walrus_indexer::api::{self, AppState, Phase};
use walrus_indexer::ingest::{self, IngestConfig, Outcome};
use walrus_indexer::serve::{self, Limits};
use walrus_indexer::status::IngestStatus;
use walrus_indexer::store::{Database, PoolLimits, Store};

/// Follows Sui checkpoints, mirrors one Move package's Walrus events into PostgreSQL, and
/// serves blobs, events, epochs and storage nodes over HTTP (JSON; see /v1/openapi.json).
///
/// Every flag can also come from the environment variable named in brackets.
#[derive(Parser, Debug)]
#[command(version, about, long_about)]
struct Args {
    /// PostgreSQL URL, e.g. postgres://user@localhost/walrus. Migrations run at start.
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,

    /// Allow the URL to name a maintenance database (postgres, template0, template1), which
    /// is refused by default: the indexer's tables would land next to everything else.
    #[arg(long, env = "WALRUS_INDEXER_ALLOW_MAINTENANCE_DB")]
    allow_maintenance_db: bool,

    /// The package whose events to index: its original ID (0x…). Types added by later
    /// upgrades are followed automatically.
    #[arg(long, env = "WALRUS_PACKAGE", value_parser = parse_address)]
    package: sui_sdk_types::Address,

    /// Where checkpoints come from: grpc+http(s)://HOST:PORT (a Sui full node),
    /// dir:PATH (<sequence>.binpb.zst or <sequence>.chk files, picked up as they appear), or
    /// https://HOST (a checkpoint store with the same file names).
    #[arg(long, env = "WALRUS_INDEXER_SOURCE")]
    source: String,

    /// Address to serve the HTTP API on.
    #[arg(long, env = "WALRUS_INDEXER_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// First checkpoint to ingest when the database is empty (later runs resume from the
    /// watermark).
    #[arg(long, env = "WALRUS_INDEXER_FIRST_CHECKPOINT", default_value_t = 0)]
    first_checkpoint: u64,

    /// The digest (base58) the first checkpoint must have when the database is empty: the
    /// chain every later checkpoint must link to. Later runs link to the stored watermark.
    #[arg(long, env = "WALRUS_INDEXER_FIRST_CHECKPOINT_DIGEST", value_parser = parse_digest)]
    first_checkpoint_digest: Option<Digest>,

    /// A JSON file with the Sui validator committee of the first checkpoint's epoch, as a full
    /// node gives it (`grpcurl -d '{"epoch": N, "readMask": "committee"}' HOST:443
    /// sui.rpc.v2.LedgerService/GetEpoch | jq .epoch.committee`). Every checkpoint's certificate
    /// is then checked, and each epoch's last checkpoint hands over to the next committee. The
    /// database keeps the current committee, which later runs use instead of this file. The
    /// source must send certificates: .chk files, or a full node (.binpb.zst files may lack them).
    #[arg(long, env = "WALRUS_INDEXER_VALIDATOR_COMMITTEE", value_parser = read_committee)]
    validator_committee: Option<ValidatorCommittee>,

    /// Stop ingesting after this checkpoint (the API keeps serving); follow the tip if absent.
    #[arg(long, env = "WALRUS_INDEXER_LAST_CHECKPOINT")]
    last_checkpoint: Option<u64>,

    /// Checkpoints written per transaction, at most.
    #[arg(long, env = "WALRUS_INDEXER_BATCH", default_value_t = 500)]
    batch_checkpoints: u64,

    /// Checkpoints fetched concurrently.
    #[arg(long, env = "WALRUS_INDEXER_CONCURRENCY", default_value_t = 16)]
    concurrency: usize,

    /// How often to look for new checkpoints at the tip, in milliseconds.
    #[arg(long, env = "WALRUS_INDEXER_POLL_MS", default_value_t = 250)]
    poll_ms: u64,

    /// HTTP connections served at once; more wait until one closes.
    #[arg(long, env = "WALRUS_INDEXER_MAX_CONNECTIONS", default_value_t = 512)]
    max_connections: usize,

    /// Seconds a client has to send a request's headers before its connection is closed.
    #[arg(long, env = "WALRUS_INDEXER_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    header_timeout_secs: u64,

    /// Shards assumed for encoded sizes when the indexed events do not name a committee.
    #[arg(long, env = "WALRUS_N_SHARDS", default_value_t = 1000)]
    n_shards: u16,

    /// Exit once ingestion has passed --last-checkpoint instead of serving on; exits non-zero
    /// if stopped or failed before that.
    #[arg(long, env = "WALRUS_INDEXER_EXIT_WHEN_DONE")]
    exit_when_done: bool,

    /// How long ingestion may keep failing (a bad checkpoint file, an unreachable source or
    /// database) before /v1/health answers 503 with the reason.
    #[arg(long, env = "WALRUS_INDEXER_UNHEALTHY_AFTER_SECS", default_value_t = 60)]
    unhealthy_after_secs: u64,
}

fn parse_digest(text: &str) -> Result<Digest, String> {
    text.parse::<Digest>().map_err(|e| format!("{text:?} is not a checkpoint digest (base58): {e}"))
}

/// A committee file, read and its keys checked before anything starts.
fn read_committee(path: &str) -> Result<ValidatorCommittee, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("reading {path}: {e}"))?;
    let committee = committee_from_json(&text).map_err(|e| format!("{path}: {e}"))?;
    CertificateCheck::new(committee.clone()).map_err(|e| format!("{path}: {e}"))?;
    Ok(committee)
}

/// SIGTERM and SIGINT (Ctrl-C), listened to from start to exit. Listeners made only when
/// waited for lost a signal sent in between (as ingestion reached --last-checkpoint, say):
/// tokio drops a signal nobody listens to, and the process then ignored it.
struct StopSignal {
    terminate: Signal,
    interrupt: Signal,
}

impl StopSignal {
    fn install() -> anyhow::Result<Self> {
        Ok(Self {
            terminate: signal(SignalKind::terminate()).context("installing the SIGTERM handler")?,
            interrupt: signal(SignalKind::interrupt()).context("installing the SIGINT handler")?,
        })
    }

    /// Resolves on the next signal, or at once for one received since the last call.
    async fn received(&mut self) {
        tokio::select! {
            _ = self.terminate.recv() => tracing::info!("SIGTERM: shutting down"),
            _ = self.interrupt.recv() => tracing::info!("SIGINT: shutting down"),
        }
    }
}

/// Threads reading and decoding checkpoints and folding batches: ingestion is bound by its
/// PostgreSQL backend, so more would only be more runnable threads for the kernel to share the
/// cores among, each holding a core for milliseconds while requests wait behind them (lookups'
/// p99 during ingestion halved with one; BENCHMARKS.md).
const INGESTION_BLOCKING_THREADS: usize = 1;

/// The niceness of that thread: a request's threads and backends take the core from it as soon
/// as they wake, and it runs in what they leave. Ingestion keeps its speed (its backend is the
/// bound) while serving, unless the cores are busy with something else.
const INGESTION_BLOCKING_NICE: libc::c_int = 10;

/// Runs ingestion on a thread and runtime of its own. Building a batch's rows and encoding them
/// for PostgreSQL take milliseconds of CPU between awaits; on the API's workers that held up
/// every request queued behind them (lookups waited tens of milliseconds after each commit),
/// while threads of their own are shared out by the kernel, which preempts.
fn spawn_ingestion(
    store: Store,
    source: Source,
    config: IngestConfig,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<oneshot::Receiver<Result<Outcome, ingest::IngestError>>> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(INGESTION_BLOCKING_THREADS)
        .on_thread_start(|| {
            // SAFETY: a plain system call; `0` is the calling thread on Linux.
            if unsafe { libc::setpriority(libc::PRIO_PROCESS, 0, INGESTION_BLOCKING_NICE) } != 0 {
                tracing::debug!("cannot lower the ingestion thread's priority: {}", std::io::Error::last_os_error());
            }
        })
        .enable_all()
        .build()
        .context("building the ingestion runtime")?;
    let (outcome_tx, outcome) = oneshot::channel();
    std::thread::Builder::new()
        .name("ingestion".into())
        .spawn(move || {
            // A panic drops the sender: the receiver reports the thread as gone.
            let _ = outcome_tx.send(runtime.block_on(ingest::run(store, source, config, shutdown)));
        })
        .context("starting the ingestion thread")?;
    Ok(outcome)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        // Colours only for a terminal: redirected logs stay plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .init();
    let args = Args::parse();
    let mut stop = StopSignal::install()?;
    let database = Database::parse(&args.database_url, args.allow_maintenance_db)?;
    let source = Source::parse(&args.source).map_err(anyhow::Error::msg)?;
    if let Source::Dir(path) = &source {
        anyhow::ensure!(PathBuf::from(path).is_dir(), "checkpoint folder {} does not exist", path.display());
    }
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;

    // Listen first: until the database is reached and migrated, every request gets a 503
    // naming the phase.
    let (phase_tx, phase) = watch::channel(Phase::Connecting);
    let store = Store::lazy(&database);
    let status = IngestStatus::new(Duration::from_secs(args.unhealthy_after_secs));
    let state = AppState {
        pool: database.pool(PoolLimits::API),
        metrics: Some(metrics),
        default_n_shards: args.n_shards,
        ingestion: status.clone(),
        // Ingestion writes through `store`: its commits are the only changes to the tables.
        cache: Some(api::Cache::new(store.commits())),
    };
    let app = api::until_ready(api::router(state), phase).layer(tower_http::trace::TraceLayer::new_for_http());
    let listener =
        tokio::net::TcpListener::bind(args.listen).await.with_context(|| format!("binding {}", args.listen))?;
    tracing::info!("serving on http://{}", listener.local_addr()?);
    let (shutdown_tx, shutdown) = watch::channel(false);
    let limits = Limits {
        header_read_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
        max_connections: args.max_connections.max(1),
        ..Limits::default()
    };
    let server = tokio::spawn(serve::serve(listener, app, limits, shutdown.clone()));

    let start = async {
        tracing::info!("connecting to PostgreSQL at {} (database `{}`)", database.server(), database.name());
        database.check_reachable().await?;
        phase_tx.send_replace(Phase::Migrating);
        store.migrate().await.context("running migrations")?;
        phase_tx.send_replace(Phase::Ready);
        anyhow::Ok(())
    };
    tokio::select! {
        started = start => started?,
        () = stop.received() => return stopped(shutdown_tx, server, args.exit_when_done, false).await,
    }

    let config = IngestConfig {
        package: args.package,
        first_checkpoint: args.first_checkpoint,
        first_checkpoint_digest: args.first_checkpoint_digest,
        validator_committee: args.validator_committee,
        last_checkpoint: args.last_checkpoint,
        batch_checkpoints: args.batch_checkpoints.max(1),
        concurrency: args.concurrency.max(1),
        poll_interval: Duration::from_millis(args.poll_ms.max(1)),
        database_timeout: PoolLimits::INGESTION.statement_timeout,
        status,
    };
    let mut ingestion = spawn_ingestion(store.clone(), source, config, shutdown.clone())?;

    let ended = tokio::select! {
        result = &mut ingestion => Some(result),
        () = stop.received() => None,
    };
    let finished = match ended {
        Some(result) => {
            let outcome = result.context("ingestion thread")?.context("ingestion")?;
            if !args.exit_when_done {
                tracing::info!("ingestion reached --last-checkpoint; serving only");
                stop.received().await;
            }
            outcome == Outcome::Finished
        }
        None => {
            // The batch being committed completes; nothing after it starts.
            let _ = shutdown_tx.send(true);
            ingestion.await.context("ingestion thread")?.context("ingestion")? == Outcome::Finished
        }
    };
    stopped(shutdown_tx, server, args.exit_when_done, finished).await
}

/// Stops serving (open requests get their grace period) and says whether the run did its job.
async fn stopped(
    shutdown: watch::Sender<bool>,
    server: tokio::task::JoinHandle<()>,
    exit_when_done: bool,
    finished: bool,
) -> anyhow::Result<()> {
    let _ = shutdown.send(true);
    server.await.context("server task")?;
    if exit_when_done && !finished {
        anyhow::bail!("stopped before --last-checkpoint was reached");
    }
    Ok(())
}
