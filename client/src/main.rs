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
use walrus_client::{ChainAccess, Client, Estimate, StoreEvent, StoreOptions, StoreOutcome};
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
    /// Encode, register, upload and certify files.
    Store {
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Epochs ahead of the current one to store for.
        #[arg(long)]
        epochs: u32,
        /// Store as a permanent blob (blobs are deletable by default).
        #[arg(long)]
        permanent: bool,
        /// Store even if the blob is already certified for long enough.
        #[arg(long)]
        force: bool,
        /// Show the blob ID, encoded size and cost without storing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Read a blob and check it against its ID.
    Read {
        blob_id: String,
        /// Where to write the blob (default: standard output).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// The blob's objects on chain: certified or not, until which epoch.
    BlobStatus {
        #[arg(long, conflicts_with = "file", required_unless_present = "file")]
        blob_id: Option<String>,
        /// Compute the blob ID of this file first.
        #[arg(long)]
        file: Option<PathBuf>,
    },
    /// The current epoch, committee and prices.
    Info,
    /// The blob ID a file would have.
    BlobId {
        file: PathBuf,
        /// The system's number of shards (default: asked of the chain).
        #[arg(long)]
        n_shards: Option<u16>,
    },
    /// Convert a blob ID (decimal as Sui explorers show it, hex or base64) to base64.
    ConvertBlobId { blob_id: String },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
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
        Command::BlobId { file, n_shards } => {
            let n_shards = match n_shards {
                Some(n) => n,
                None => connect(&config)?.n_shards().await?,
            };
            let id = blob_id_of(&file, n_shards).await?;
            print(json, json!({ "blobId": id.to_string(), "file": file }), &id.to_string());
        }
        Command::Info => info(&*connect(&config)?, json).await?,
        Command::BlobStatus { blob_id, file } => {
            let chain = connect(&config)?;
            let id = match (blob_id, file) {
                (Some(id), _) => parse_blob_id(&id)?,
                (None, Some(file)) => blob_id_of(&file, chain.n_shards().await?).await?,
                (None, None) => unreachable!("clap requires one of them"),
            };
            blob_status(&*chain, &id, json).await?;
        }
        Command::Read { blob_id, out } => {
            let id = parse_blob_id(&blob_id)?;
            let client = Client::new(connect(&config)?, config.client_config().map_err(|e| anyhow!(e))?);
            read(&client, &id, out.as_deref(), json).await?;
        }
        Command::Store { files, epochs, permanent, force, dry_run } => {
            let client = Client::new(connect(&config)?, config.client_config().map_err(|e| anyhow!(e))?);
            let options = StoreOptions { epochs, deletable: !permanent, force, progress: None };
            store(&client, &files, options, dry_run, json).await?;
        }
    }
    Ok(())
}

/// The chain named in the configuration.
fn connect(config: &FileConfig) -> Result<Arc<dyn ChainAccess>> {
    match &config.chain {
        None => bail!(
            "no chain is configured: pass --config FILE (or set WALRUS_CONFIG) naming a client.toml with a [chain] table"
        ),
        Some(chain) if chain.kind == "local" => Ok(Arc::new(LocalChain::from_settings(&chain.settings).map_err(|e| anyhow!(e))?)),
        Some(chain) => bail!("[chain] kind {:?} is not known: this build supports \"local\" (the local chain)", chain.kind),
    }
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
    if json {
        let objects: Vec<_> = objects.iter().map(|o| o.to_json()).collect();
        println!("{}", json!({"blobId": blob_id.to_string(), "currentEpoch": epoch, "objects": objects}));
        return Ok(());
    }
    println!("current epoch: {epoch}");
    if objects.is_empty() {
        println!("blob {blob_id}: nonexistent (no live blob object)");
    }
    for o in objects {
        let kind = if o.deletable { "deletable" } else { "permanent" };
        let state = match o.certified_epoch {
            Some(epoch) => format!("certified in epoch {epoch}"),
            None => "registered, not certified".to_owned(),
        };
        println!("blob {blob_id}: {kind}, {state}, object {}, until epoch {}", o.object_id, o.end_epoch);
    }
    Ok(())
}

async fn read(client: &Client, blob_id: &BlobId, out: Option<&Path>, json: bool) -> Result<()> {
    let outcome = client.read(blob_id).await?;
    for fault in &outcome.faults {
        eprintln!("warning: {fault}");
    }
    match out {
        Some(path) => {
            write_atomically(path, &outcome.blob)?;
            print(
                json,
                json!({"blobId": blob_id.to_string(), "out": path, "size": outcome.blob.len()}),
                &format!("read blob {blob_id} ({} bytes) into {}", outcome.blob.len(), path.display()),
            );
        }
        None => std::io::stdout().write_all(&outcome.blob).context("cannot write to standard output")?,
    }
    Ok(())
}

/// Writes beside `path` then renames, so a crash never leaves a half-written file there.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path.file_name().ok_or_else(|| anyhow!("{} is not a file path", path.display()))?;
    let temp = path.with_file_name(format!(".{}.part", name.to_string_lossy()));
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        anyhow!("cannot write {}: {e}", path.display())
    })
}

/// Stores each file; one failure does not stop the others, but makes the exit code non-zero.
async fn store(client: &Client, files: &[PathBuf], options: StoreOptions, dry_run: bool, json: bool) -> Result<()> {
    let mut results = Vec::new();
    let mut failed = 0;
    for path in files {
        let result = if dry_run {
            dry_run_one(client, path, &options, json).await
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

async fn dry_run_one(client: &Client, path: &Path, options: &StoreOptions, json: bool) -> Result<serde_json::Value> {
    let estimate = client.estimate(read_file(path).await?, options.epochs).await?;
    let Estimate { blob_id, unencoded_size, encoded_size, cost } = estimate;
    if !json {
        println!(
            "{}: blob ID {blob_id}, {unencoded_size} bytes, encoded {encoded_size} bytes, would cost {cost} FROST",
            path.display()
        );
    }
    Ok(json!({
        "path": path,
        "blobId": blob_id.to_string(),
        "unencodedSize": unencoded_size,
        "encodedSize": encoded_size,
        "cost": cost,
    }))
}

async fn store_one(client: &Client, path: &Path, options: &StoreOptions, json: bool) -> Result<serde_json::Value> {
    let bytes = read_file(path).await?;
    let mut options = options.clone();
    let bar = std::io::stderr().is_terminal().then(|| progress_bar(path));
    if let Some(bar) = bar.clone() {
        options.progress = Some(Arc::new(move |event| match event {
            StoreEvent::Encoded { total_bytes } => bar.set_length(total_bytes),
            StoreEvent::Sent { bytes } => bar.inc(bytes),
            StoreEvent::Confirmed { weight, needed } => bar.set_message(format!("confirmed {weight}/{needed} shards")),
        }));
    }
    let outcome = client.store(bytes, options).await;
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
