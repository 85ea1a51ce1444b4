//! `walrus`: store files on Walrus and read them back.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, bail, Context, Result};
use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::json;
use walrus_client::chain::local::LocalChain;
use walrus_client::config::FileConfig;
use walrus_client::daemon::{self, DaemonConfig};
use walrus_client::sui::chain::SuiChain;
use walrus_client::sui::cli::{BlobArgs, BlobReader, ReadArgs};
use walrus_client::{
    BlobObject, ChainAccess, Client, Estimate, ObjectId, RegisterRequest, Registered, StoreEvent, StoreOptions,
    StoreOutcome,
};
use walrus_encoder::BlobId;

#[derive(Parser)]
#[command(name = "walrus", version, about = "Store blobs on Walrus storage nodes and read them back")]
struct Cli {
    /// The client configuration (TOML): the chain to use and request tuning.
    #[arg(long, global = true, env = "WALRUS_CONFIG")]
    config: Option<PathBuf>,
    /// Print results as JSON on stdout.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Encode, register, upload and certify files. On Sui (with a deployment file) only the
    /// wallet's own blob objects are seen (a full node cannot find objects by blob ID): another
    /// owner's certified blob is registered anew.
    Store {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Epochs ahead of the current one to store for, or `max` (as far as the chain allows).
        #[arg(long, value_parser = Epochs::parse)]
        epochs: Epochs,
        /// Store as a permanent blob (blobs are deletable by default).
        #[arg(long)]
        permanent: bool,
        /// Store even if the blob is already certified for long enough.
        #[arg(long)]
        force: bool,
        /// Show the blob ID, encoded size and cost without storing (on Sui, also simulate the
        /// registration and show its gas).
        #[arg(long)]
        dry_run: bool,
        #[command(flatten)]
        sui: BlobArgs,
    },
    /// Read a blob and check it against its ID.
    Read {
        blob_id: String,
        /// Where to write the blob (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
        #[command(flatten)]
        sui: ReadArgs,
    },
    /// The blob's objects on chain: certified or not, until which epoch. On Sui (with a
    /// deployment file), one owner's objects.
    BlobStatus {
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        blob_id: Option<String>,
        /// Compute the blob ID of this file first.
        #[arg(long)]
        file: Option<PathBuf>,
        #[command(flatten)]
        sui: walrus_client::sui::cli::BlobStatusArgs,
    },
    /// The current epoch, committee and prices.
    Info {
        #[command(flatten)]
        sui: ReadArgs,
    },
    /// The blob ID a file would have.
    BlobId {
        file: PathBuf,
        /// The system's number of shards (default: asked of the chain).
        #[arg(long)]
        n_shards: Option<u16>,
        #[command(flatten)]
        sui: ReadArgs,
    },
    /// Convert a blob ID (decimal as Sui explorers show it, hex or base64) to base64.
    ConvertBlobId { blob_id: String },
    /// Serve the publisher (PUT /v1/blobs) and aggregator (GET /v1/blobs/ID) HTTP API until
    /// Ctrl-C or SIGTERM.
    Daemon {
        /// The address to listen on.
        #[arg(long, visible_alias = "bind-address", default_value = "127.0.0.1:31415")]
        listen: std::net::SocketAddr,
        /// The largest blob a PUT may carry, in KiB (as Walrus's flag); larger ones get a 413.
        #[arg(long = "max-body-size", default_value_t = 10 * 1024)]
        max_body_size_kib: usize,
        /// Requests the publisher, and separately the aggregator, work on at once.
        #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
        max_concurrent_requests: u32,
        /// Requests each side lets wait beyond those; more are refused with a 429.
        #[arg(long = "max-buffer-size", default_value_t = 8)]
        max_waiting_requests: u32,
        /// Seconds a request may take before it gets a 504.
        #[arg(long, default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
        request_timeout_secs: u64,
    },
    /// Delete the wallet's deletable blob objects: every one of a blob ID, or one object. On
    /// Sui the freed storage stays with the wallet.
    Delete {
        #[arg(long, conflicts_with = "object_id", required_unless_present = "object_id")]
        blob_id: Option<String>,
        #[arg(long)]
        object_id: Option<String>,
        /// On Sui, simulate and show the cost without sending.
        #[arg(long, requires = "deployment")]
        dry_run: bool,
        #[command(flatten)]
        sui: BlobArgs,
    },
    /// Add epochs to the storage of one of the wallet's certified blob objects.
    Extend {
        #[arg(long)]
        blob_obj_id: String,
        #[arg(long)]
        epochs_extended: u32,
        /// On Sui, simulate and show the cost without sending.
        #[arg(long, requires = "deployment")]
        dry_run: bool,
        #[command(flatten)]
        sui: BlobArgs,
    },
    /// The wallet's blob objects.
    ListBlobs {
        /// Also those whose storage has ended.
        #[arg(long)]
        include_expired: bool,
        #[command(flatten)]
        sui: BlobArgs,
    },
    #[command(flatten)]
    Sui(Box<walrus_client::sui::cli::SuiCommand>),
}

/// `--epochs N` or `--epochs max`.
#[derive(Clone, Copy, Debug)]
enum Epochs {
    Count(u32),
    Max,
}

impl Epochs {
    fn parse(text: &str) -> Result<Self, String> {
        if text == "max" {
            return Ok(Self::Max);
        }
        text.parse().map(Self::Count).map_err(|_| format!("{text:?} is neither a number of epochs nor `max`"))
    }

    async fn resolve(self, chain: &dyn ChainAccess) -> Result<u32> {
        match self {
            Self::Count(epochs) => Ok(epochs),
            Self::Max => Ok(chain.max_epochs_ahead().await?),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    // Warnings (a keystore others can read, a node being retried) go to stderr; `RUST_LOG`
    // shows more.
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("Error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<()> {
    let config = match &cli.config {
        Some(path) => FileConfig::load(path).map_err(|e| anyhow!(e))?,
        None => FileConfig::default(),
    };
    let json = cli.json;
    match cli.command {
        Command::ConvertBlobId { blob_id } => {
            let id = parse_blob_id(&blob_id)?;
            print(json, json!({ "blobId": id.to_string() }), &id.to_string());
        }
        Command::BlobId { file, n_shards, sui } => {
            let n_shards = match n_shards {
                Some(n) => n,
                None => chain(sui.open()?, &config)?.n_shards().await?,
            };
            let id = blob_id_of(&file, n_shards).await?;
            print(json, json!({ "blobId": id.to_string(), "file": file }), &id.to_string());
        }
        Command::Info { sui } => info(&*chain(sui.open()?, &config)?, json).await?,
        Command::BlobStatus { blob_id, file, sui } => {
            if let Some(reader) = BlobReader::open(&sui)? {
                return sui_blob_status(&reader, blob_id, file, json).await;
            }
            let chain = connect(&config)?;
            let id = match (blob_id, file) {
                (Some(id), _) => parse_blob_id(&id)?,
                (None, Some(file)) => blob_id_of(&file, chain.n_shards().await?).await?,
                (None, None) => unreachable!("clap requires one of them"),
            };
            blob_status(&*chain, &id, json).await?;
        }
        Command::Read { blob_id, out, sui } => {
            let id = parse_blob_id(&blob_id)?;
            let client = Client::new(chain(sui.open()?, &config)?, config.client_config().map_err(|e| anyhow!(e))?);
            read(&client, &id, out.as_deref(), json).await?;
        }
        Command::Daemon {
            listen,
            max_body_size_kib,
            max_concurrent_requests,
            max_waiting_requests,
            request_timeout_secs,
        } => {
            let client = Client::new(connect(&config)?, config.client_config().map_err(|e| anyhow!(e))?);
            let daemon = DaemonConfig {
                max_body_size: max_body_size_kib
                    .checked_mul(1024)
                    .ok_or_else(|| anyhow!("--max-body-size {max_body_size_kib} KiB is too large"))?,
                max_concurrent_requests: max_concurrent_requests as usize,
                max_waiting_requests: max_waiting_requests as usize,
                request_timeout: std::time::Duration::from_secs(request_timeout_secs),
            };
            let listener =
                tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
            eprintln!("walrus daemon: publisher and aggregator at http://{}", listener.local_addr()?);
            daemon::serve(listener, daemon::router(client, daemon), stop_signal()).await?;
            eprintln!("walrus daemon: stopped");
        }
        Command::Store { files, epochs, permanent, force, dry_run, sui } => {
            let sui = sui.open(!dry_run)?.map(Arc::new);
            let chain: Arc<dyn ChainAccess> = match &sui {
                Some(sui) => sui.clone(),
                None => connect(&config)?,
            };
            let client = Client::new(chain, config.client_config().map_err(|e| anyhow!(e))?);
            let epochs = epochs.resolve(client.chain()).await?;
            let options = StoreOptions { epochs, deletable: !permanent, force, progress: None };
            store(&client, sui.as_deref(), &files, options, dry_run, json).await?;
        }
        Command::Delete { blob_id, object_id, dry_run, sui } => {
            let target = match (blob_id, object_id) {
                (_, Some(id)) => Target::Object(parse_object_id(&id)?),
                (Some(id), None) => Target::Blob(parse_blob_id(&id)?),
                (None, None) => unreachable!("clap requires one of them"),
            };
            match sui.open(!dry_run)? {
                Some(sui) => {
                    let objects = deletable(&sui, target).await?;
                    walrus_client::sui::cli::delete(&sui, &objects, dry_run, json).await?;
                }
                None => delete(&*connect(&config)?, target, json).await?,
            }
        }
        Command::Extend { blob_obj_id, epochs_extended, dry_run, sui } => {
            let id = parse_object_id(&blob_obj_id)?;
            if let Some(sui) = sui.open(!dry_run)? {
                return walrus_client::sui::cli::extend(&sui, &id, epochs_extended, dry_run, json).await;
            }
            let Registered { blob, cost, .. } = connect(&config)?.extend(&id, epochs_extended).await?;
            let text = format!(
                "extended {} (blob {}) to epoch {}, cost {cost} FROST",
                blob.object_id, blob.blob_id, blob.end_epoch
            );
            print(json, json!({"blobObject": blob.to_json(), "cost": cost}), &text);
        }
        Command::ListBlobs { include_expired, sui } => {
            list_blobs(&*chain(sui.open(false)?, &config)?, include_expired, json).await?
        }
        Command::Sui(command) => walrus_client::sui::cli::run(*command, json).await?,
    }
    Ok(())
}

/// Completes on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
    let term = async {
        match term.as_mut() {
            Some(term) => term.recv().await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
    eprintln!("walrus daemon: stopping; requests in flight may finish");
}

/// The chain named in the configuration.
fn connect(config: &FileConfig) -> Result<Arc<dyn ChainAccess>> {
    match &config.chain {
        None => bail!(
            "no chain is configured: pass --config FILE (or set WALRUS_CONFIG) naming a client.toml with a [chain] table"
        ),
        Some(chain) if chain.kind == "local" => {
            let local = LocalChain::from_settings(&chain.settings).map_err(|e| anyhow!(e))?;
            Ok(Arc::new(local))
        }
        Some(chain) => bail!("[chain] kind {:?} is not known: this build supports \"local\" (the local chain)", chain.kind),
    }
}

/// The Sui chain when a deployment file is given, else the chain of the configuration.
fn chain(sui: Option<SuiChain>, config: &FileConfig) -> Result<Arc<dyn ChainAccess>> {
    match sui {
        Some(sui) => Ok(Arc::new(sui)),
        None => connect(config),
    }
}

fn parse_object_id(text: &str) -> Result<ObjectId> {
    text.parse::<ObjectId>().map_err(|e| anyhow!(e))
}

fn parse_blob_id(text: &str) -> Result<BlobId> {
    text.parse::<BlobId>().map_err(|e| anyhow!(e))
}

fn print(json: bool, value: serde_json::Value, text: &str) {
    if json {
        println!("{value}");
    } else {
        println!("{text}");
    }
}

async fn read_file(path: &Path) -> Result<Vec<u8>> {
    tokio::fs::read(path).await.with_context(|| format!("cannot read {}", path.display()))
}

async fn blob_id_of(path: &Path, n_shards: u16) -> Result<BlobId> {
    let bytes = read_file(path).await?;
    let metadata = tokio::task::spawn_blocking(move || walrus_encoder::compute_metadata(n_shards, &bytes)).await??;
    Ok(metadata.blob_id())
}

async fn info(chain: &dyn ChainAccess, json: bool) -> Result<()> {
    let committee = chain.committee().await?;
    let prices = chain.prices().await?;
    if json {
        println!(
            "{}",
            json!({"epoch": committee.epoch, "nShards": committee.n_shards(), "committee": committee, "prices": prices})
        );
        return Ok(());
    }
    println!("epoch: {}", committee.epoch);
    println!("shards: {}", committee.n_shards());
    println!(
        "prices (FROST per MiB of encoded size): storage {} per epoch, write {}",
        prices.storage_per_unit_epoch, prices.write_per_unit
    );
    println!("committee ({} nodes):", committee.members.len());
    for member in &committee.members {
        println!("  {} at {}: {} shards", member.node_id, member.network_address, member.weight());
    }
    Ok(())
}

async fn blob_status(chain: &dyn ChainAccess, blob_id: &BlobId, json: bool) -> Result<()> {
    let objects = chain.blob_objects(blob_id).await?;
    let epoch = chain.current_epoch().await?;
    print_blob_status(blob_id, epoch, &objects, json, json!({}), "no live blob object");
    Ok(())
}

/// `blob-status` through a Sui full node: one owner's objects of the blob, expired ones left
/// out as the local chain leaves them out.
async fn sui_blob_status(
    reader: &BlobReader,
    blob_id: Option<String>,
    file: Option<PathBuf>,
    json: bool,
) -> Result<()> {
    // A bad blob ID is refused before the node is asked anything.
    let given = blob_id.map(|id| parse_blob_id(&id)).transpose()?;
    let state = reader.system_state().await?;
    let id = match (given, file) {
        (Some(id), _) => id,
        (None, Some(_)) if state.n_shards == 0 => {
            bail!("the system has no committee yet (epoch 0), so no shard count to compute a blob ID with; pass --blob-id")
        }
        (None, Some(file)) => blob_id_of(&file, state.n_shards).await?,
        (None, None) => unreachable!("clap requires one of them"),
    };
    let objects: Vec<BlobObject> = reader.blobs(&id).await?.into_iter().filter(|b| b.end_epoch > state.epoch).collect();
    let owner = reader.owner();
    let none = format!("no live blob object of {owner} (a full node finds objects by owner: pass --owner for others)");
    print_blob_status(&id, state.epoch, &objects, json, json!({ "owner": owner.to_string() }), &none);
    Ok(())
}

/// Prints a blob's live objects; `extra` is added to the JSON, `none` says why none is shown.
fn print_blob_status(
    blob_id: &BlobId,
    epoch: u32,
    objects: &[BlobObject],
    json: bool,
    extra: serde_json::Value,
    none: &str,
) {
    if json {
        let objects: Vec<_> = objects.iter().map(|o| o.to_json()).collect();
        let mut value = json!({"blobId": blob_id.to_string(), "currentEpoch": epoch, "objects": objects});
        if let (Some(value), serde_json::Value::Object(extra)) = (value.as_object_mut(), extra) {
            value.extend(extra);
        }
        println!("{value}");
        return;
    }
    println!("current epoch: {epoch}");
    if objects.is_empty() {
        println!("blob {blob_id}: nonexistent ({none})");
    }
    for o in objects {
        let kind = if o.deletable { "deletable" } else { "permanent" };
        let state = match o.certified_epoch {
            Some(epoch) => format!("certified in epoch {epoch}"),
            None => "registered, not certified".to_owned(),
        };
        println!("blob {blob_id}: {kind}, {state}, object {}, until epoch {}", o.object_id, o.end_epoch);
    }
}

/// Writes the blob as it arrives: to standard output, or to a file beside `out` renamed into
/// place once the whole blob is there and synced, so a failure never leaves a partial file at
/// `out`. The blob is never held in memory whole besides its slivers.
async fn read(client: &Client, blob_id: &BlobId, out: Option<&Path>, json: bool) -> Result<()> {
    let part = out.map(part_path).transpose()?;
    let mut file = match (&part, out) {
        (Some(part), Some(out)) => {
            Some(std::fs::File::create(part).with_context(|| format!("cannot write {}", out.display()))?)
        }
        _ => None,
    };
    let (tx, mut rx) = tokio::sync::mpsc::channel::<bytes::Bytes>(walrus_client::STREAM_DEPTH);
    let mut size = 0u64;
    let mut write_error = None;
    let write = async {
        while let Some(piece) = rx.recv().await {
            let written = match &mut file {
                Some(file) => file.write_all(&piece),
                None => std::io::stdout().write_all(&piece),
            };
            if let Err(e) = written {
                // Dropping the receiver stops the read.
                write_error = Some(e);
                break;
            }
            size += piece.len() as u64;
        }
    };
    let (faults, ()) = tokio::join!(client.read_to(blob_id, tx), write);
    let finished = || -> Result<Vec<walrus_client::NodeFault>> {
        let faults = faults?;
        let target = out.map_or_else(|| "standard output".to_owned(), |p| p.display().to_string());
        if let Some(e) = write_error {
            bail!("cannot write {target}: {e}");
        }
        if let (Some(file), Some(part), Some(out)) = (&file, &part, out) {
            file.sync_all()
                .and_then(|()| std::fs::rename(part, out))
                .with_context(|| format!("cannot write {target}"))?;
        }
        Ok(faults)
    };
    let faults = finished().inspect_err(|_| {
        if let Some(part) = &part {
            let _ = std::fs::remove_file(part);
        }
    })?;
    for fault in &faults {
        eprintln!("warning: {fault}");
    }
    if let Some(path) = out {
        print(
            json,
            json!({"blobId": blob_id.to_string(), "out": path, "size": size}),
            &format!("read blob {blob_id} ({size} bytes) into {}", path.display()),
        );
    }
    Ok(())
}

/// The file a read writes before renaming it to `path`.
fn part_path(path: &Path) -> Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| anyhow!("{} is not a file path", path.display()))?;
    Ok(path.with_file_name(format!(".{}.part", name.to_string_lossy())))
}

/// Stores each file; one failure does not stop the others, but makes the exit code non-zero.
/// On Sui (`sui`), a dry run also simulates each registration.
async fn store(
    client: &Client,
    sui: Option<&SuiChain>,
    files: &[PathBuf],
    options: StoreOptions,
    dry_run: bool,
    json: bool,
) -> Result<()> {
    let mut results = Vec::new();
    let mut failed = 0;
    for path in files {
        let result = if dry_run {
            dry_run_one(client, sui, path, &options, json).await
        } else {
            store_one(client, path, &options, json).await
        };
        match result {
            Ok(value) => results.push(value),
            Err(e) => {
                failed += 1;
                eprintln!("Error: {}: {e:#}", path.display());
                results.push(json!({"path": path, "error": format!("{e:#}")}));
            }
        }
    }
    if json {
        println!("{}", serde_json::Value::Array(results));
    }
    if failed > 0 {
        bail!("{failed} of {} file(s) not stored", files.len());
    }
    Ok(())
}

async fn dry_run_one(
    client: &Client,
    sui: Option<&SuiChain>,
    path: &Path,
    options: &StoreOptions,
    json: bool,
) -> Result<serde_json::Value> {
    let estimate = client.estimate(read_file(path).await?, options.epochs).await?;
    let Estimate { blob_id, unencoded_size, encoded_size, mut cost, root_hash } = estimate;
    let mut value = json!({
        "path": path,
        "blobId": blob_id.to_string(),
        "unencodedSize": unencoded_size,
        "encodedSize": encoded_size,
    });
    let mut simulated = None;
    if let Some(sui) = sui {
        let request = RegisterRequest {
            blob_id,
            root_hash,
            unencoded_size,
            encoded_size,
            encoding_type: walrus_encoder::EncodingType::RS2 as u8,
            epochs_ahead: options.epochs,
            deletable: options.deletable,
        };
        // On Sui the cost is the registration's own cap: the write fee alone when it reuses
        // storage the wallet owns.
        let registration = sui.simulate_register(&request).await?;
        cost = registration.max_cost;
        value["reuseStorage"] = json!(registration.reused_storage);
        value["registration"] = json!({
            "action": registration.preview.action,
            "gasNet": registration.preview.gas.net().to_string(),
            "budget": registration.preview.budget,
        });
        simulated = Some(registration);
    }
    value["cost"] = json!(cost);
    if !json {
        let reuse = match &simulated {
            Some(registration) if registration.reused_storage => " (on storage the wallet owns: write fee only)",
            _ => "",
        };
        println!(
            "{}: blob ID {blob_id}, {unencoded_size} bytes, encoded {encoded_size} bytes, would cost {cost} FROST{reuse}",
            path.display()
        );
        if let Some(registration) = &simulated {
            println!("  simulated: {}", registration.preview);
        }
    }
    Ok(value)
}

async fn store_one(client: &Client, path: &Path, options: &StoreOptions, json: bool) -> Result<serde_json::Value> {
    let mut options = options.clone();
    let bar = std::io::stderr().is_terminal().then(|| progress_bar(path));
    if let Some(bar) = bar.clone() {
        options.progress = Some(Arc::new(move |event| match event {
            StoreEvent::Encoded { total_bytes } => bar.set_length(total_bytes),
            StoreEvent::Sent { bytes } => bar.inc(bytes),
            StoreEvent::Confirmed { weight, needed } => bar.set_message(format!("confirmed {weight}/{needed} shards")),
        }));
    }
    let outcome = client.store_file(path, options).await;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let outcome = outcome?;
    if let StoreOutcome::NewlyCreated { faults, .. } = &outcome {
        for fault in faults {
            eprintln!("warning: {fault}");
        }
    }
    let blob = outcome.blob();
    if !json {
        let what = match &outcome {
            StoreOutcome::AlreadyCertified { .. } => "already certified".to_owned(),
            StoreOutcome::NewlyCreated { cost, .. } => format!("stored, cost {cost} FROST"),
        };
        println!(
            "{}: {what}\n  blob ID: {}\n  object ID: {}\n  end epoch: {}",
            path.display(),
            blob.blob_id,
            blob.object_id,
            blob.end_epoch
        );
    }
    Ok(json!({"path": path, "blobStoreResult": outcome.to_json()}))
}

fn progress_bar(path: &Path) -> ProgressBar {
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {bytes}/{total_bytes} {msg}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(path.display().to_string());
    bar
}

/// What `delete` removes.
enum Target {
    /// Every deletable object of the wallet with this blob ID.
    Blob(BlobId),
    Object(ObjectId),
}

/// The objects `delete` removes: the one named, or the wallet's deletable ones of the blob.
async fn deletable(chain: &dyn ChainAccess, target: Target) -> Result<Vec<ObjectId>> {
    match target {
        Target::Object(id) => Ok(vec![id]),
        Target::Blob(blob_id) => {
            let objects = chain.blob_objects(&blob_id).await?;
            let mine: Vec<ObjectId> = objects.iter().filter(|o| o.owned && o.deletable).map(|o| o.object_id).collect();
            if mine.is_empty() {
                bail!(
                    "no deletable blob object of this wallet holds blob {blob_id} ({} live object(s) in all)",
                    objects.len()
                );
            }
            Ok(mine)
        }
    }
}

async fn delete(chain: &dyn ChainAccess, target: Target, json: bool) -> Result<()> {
    let objects = deletable(chain, target).await?;
    for id in &objects {
        chain.delete(id).await.with_context(|| format!("cannot delete {id}"))?;
        if !json {
            println!("deleted {id}");
        }
    }
    if json {
        println!("{}", json!({ "deleted": objects }));
    }
    Ok(())
}

async fn list_blobs(chain: &dyn ChainAccess, include_expired: bool, json: bool) -> Result<()> {
    let epoch = chain.current_epoch().await?;
    let blobs: Vec<BlobObject> =
        chain.owned_blobs().await?.into_iter().filter(|b| include_expired || b.end_epoch > epoch).collect();
    if json {
        println!("{}", serde_json::Value::Array(blobs.iter().map(BlobObject::to_json).collect()));
        return Ok(());
    }
    if blobs.is_empty() {
        println!("no blob objects (current epoch {epoch})");
    }
    for b in blobs {
        let kind = if b.deletable { "deletable" } else { "permanent" };
        let state = b.certified_epoch.map_or("registered".to_owned(), |e| format!("certified in epoch {e}"));
        println!("{} {}: {} bytes, {kind}, {state}, until epoch {}", b.blob_id, b.object_id, b.size, b.end_epoch);
    }
    Ok(())
}
