//! `walrus-testbed`: the whole system on one machine. `up` runs a local chain, storage nodes
//! and (with PostgreSQL) the indexer until Ctrl-C or SIGTERM; `demo` stores a file through
//! them with the `walrus` CLI, reads it back and stops.

mod children;
mod database;
mod demo;
mod genesis;
mod sui;
mod testbed;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use tokio::signal::unix::{signal, Signal, SignalKind};

use crate::testbed::{Options, Testbed};

#[derive(Parser)]
#[command(version, about = "The whole Walrus system on one machine: a local chain, storage nodes and the indexer")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Starts the testbed and keeps it up until Ctrl-C or SIGTERM; writes DIR/client.toml and
    /// DIR/testbed.json once every node is ready.
    Up {
        #[command(flatten)]
        setup: Setup,
        /// Once up, keep running when a node exits (it is reported), for fault tests that kill
        /// nodes and start them again with the `command` testbed.json records for each node.
        #[arg(long)]
        tolerate_node_exits: bool,
        #[command(flatten)]
        sui: SuiArgs,
    },
    /// Starts a testbed, stores FILE with `walrus store`, reads it back, compares, shows the
    /// indexer's view of the blob (with PostgreSQL), and stops.
    Demo {
        file: PathBuf,
        /// Epochs ahead to store the blob for.
        #[arg(long, default_value_t = 1)]
        epochs: u32,
        #[command(flatten)]
        setup: Setup,
    },
}

#[derive(clap::Args)]
struct Setup {
    #[arg(long, default_value_t = 10)]
    nodes: u16,
    #[arg(long, default_value_t = 100)]
    shards: u16,
    /// A new or empty folder for everything the testbed writes (default: a new folder in the
    /// system's temporary directory, kept by `up`, removed by a successful `demo`).
    #[arg(long)]
    dir: Option<PathBuf>,
    #[arg(long, default_value_t = 3_600_000)]
    epoch_duration_ms: u64,
    /// The chain listens here, the indexer on the next port, the nodes on the ports after it
    /// (default: free ports below the ephemeral range).
    #[arg(long)]
    base_port: Option<u16>,
}

/// `up --sui`: a Sui network instead of the local chain.
#[derive(clap::Args)]
struct SuiArgs {
    /// Run the nodes (and the indexer) against this Sui full node's gRPC API,
    /// `http(s)://HOST:PORT`, where `walrus publish` ran, instead of starting the local chain:
    /// new nodes are registered and staked by the wallet (`--shards` and
    /// `--epoch-duration-ms` do not apply; the deployment fixed them).
    #[arg(long, requires = "deployment")]
    sui: Option<String>,
    /// The deployment file `walrus publish walrus` wrote.
    #[arg(long, requires = "sui")]
    deployment: Option<PathBuf>,
    /// The Sui keystore of the wallet that registers and stakes the nodes (default:
    /// ~/.sui/sui_config/sui.keystore).
    #[arg(long, requires = "sui")]
    keystore: Option<PathBuf>,
    /// The wallet's address (default: the keystore's only key, else the Sui CLI's active one).
    #[arg(long, requires = "sui")]
    address: Option<String>,
    /// WAL each new node is staked with.
    #[arg(long, requires = "sui", default_value = "1")]
    stake: String,
    /// The checkpoint the nodes and the indexer start following at (at most the one of the
    /// publication; on a long-lived network, 0 means its whole history).
    #[arg(long, requires = "sui", default_value_t = 0)]
    first_checkpoint: u64,
    /// The host (name or IP address, no port) new nodes are registered at, for clients
    /// elsewhere to reach them; the nodes then listen on every interface. Without it they
    /// are registered at 127.0.0.1 and reachable from this machine only.
    #[arg(long, requires = "sui", value_parser = public_host)]
    public_host: Option<String>,
}

/// A host as a node's `host:port` network address takes it.
fn public_host(text: &str) -> Result<String, String> {
    let bracketed_v6 =
        text.starts_with('[') && text.ends_with(']') && text[1..text.len() - 1].parse::<std::net::Ipv6Addr>().is_ok();
    let name_or_v4 = !text.is_empty()
        && text
            .split('.')
            .all(|label| !label.is_empty() && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if bracketed_v6 || name_or_v4 {
        Ok(text.to_owned())
    } else {
        Err(format!("{text:?} is not a host name or IP address (an IPv6 address goes in brackets; no port)"))
    }
}

impl SuiArgs {
    fn options(&self) -> Option<sui::SuiOptions> {
        Some(sui::SuiOptions {
            url: self.sui.clone()?,
            deployment: self.deployment.clone()?,
            keystore: self.keystore.clone(),
            address: self.address.clone(),
            stake: self.stake.clone(),
            first_checkpoint: self.first_checkpoint,
            public_host: self.public_host.clone(),
        })
    }
}

impl Setup {
    fn options(&self) -> Options {
        Options {
            nodes: self.nodes,
            shards: self.shards,
            epoch_duration_ms: self.epoch_duration_ms,
            base_port: self.base_port,
            tolerate_node_exits: false,
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The runtime drives `run` on this thread, which lives as long as the children: their
    // death signal is tied to the thread that started them.
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("walrus-testbed: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("walrus-testbed: error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let mut stop = StopSignals::new()?;
    match cli.command {
        Command::Up { setup, tolerate_node_exits, sui } => {
            let dir = match &setup.dir {
                Some(dir) => dir.clone(),
                None => tempfile::Builder::new().prefix("walrus-testbed-").tempdir()?.keep(),
            };
            let mut testbed = Testbed::new(&std::path::absolute(&dir)?)?;
            let options = Options { tolerate_node_exits, ..setup.options() };
            let sui = sui.options();
            let started = async {
                match &sui {
                    Some(sui) => testbed.bring_up_sui(&options, sui).await,
                    None => testbed.bring_up(&options).await,
                }
            };
            let outcome = tokio::select! {
                started = started => started.map(|()| true),
                name = stop.wait() => {
                    eprintln!("walrus-testbed: {name} while starting; stopping");
                    Ok(false)
                }
            };
            let outcome = match outcome {
                Ok(true) => {
                    match &sui {
                        Some(sui) => sui::announce(&testbed.description, sui, &testbed.dir),
                        None => announce(&testbed),
                    }
                    serve(&mut testbed, &mut stop).await
                }
                other => other.map(drop),
            };
            testbed.shutdown().await;
            eprintln!("walrus-testbed: stopped");
            outcome
        }
        Command::Demo { file, epochs, setup } => {
            demo::run(&file, epochs, setup.dir.as_deref(), &setup.options(), &mut stop).await
        }
    }
}

fn announce(testbed: &Testbed) {
    let description = &testbed.description;
    let nodes = description["nodes"].as_array().map_or(0, Vec::len);
    println!("walrus-testbed: ready: {nodes} nodes, {} shards", description["n_shards"]);
    println!("  chain     {}", description["chain"]["url"].as_str().unwrap_or("?"));
    match &testbed.indexer_url {
        Some(url) => println!("  indexer   {url}"),
        None => println!("  indexer   not running (needs PostgreSQL at DATABASE_URL)"),
    }
    println!("  testbed   {}", testbed.dir.join("testbed.json").display());
    println!("  logs      {}", testbed.dir.join("logs").display());
    println!("  store     walrus --config {} store FILE --epochs 1", testbed.dir.join("client.toml").display());
    println!("Ctrl-C stops it.");
}

/// Waits for a stop signal, or fails when one of the processes exits by itself.
async fn serve(testbed: &mut Testbed, stop: &mut StopSignals) -> anyhow::Result<()> {
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            name = stop.wait() => {
                eprintln!("walrus-testbed: {name}: stopping");
                return Ok(());
            }
            _ = tick.tick() => testbed.check_running()?,
        }
    }
}

/// Ctrl-C and SIGTERM, caught from the start so that a stop during start-up still cleans up.
pub struct StopSignals {
    interrupt: Signal,
    terminate: Signal,
}

impl StopSignals {
    fn new() -> anyhow::Result<Self> {
        Ok(Self { interrupt: signal(SignalKind::interrupt())?, terminate: signal(SignalKind::terminate())? })
    }

    pub async fn wait(&mut self) -> &'static str {
        tokio::select! {
            _ = self.interrupt.recv() => "interrupted",
            _ = self.terminate.recv() => "SIGTERM",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::public_host;

    #[test]
    fn a_public_host_is_a_name_or_an_address_without_a_port() {
        for good in ["node.example.org", "10.0.0.5", "[::1]", "walrus-1"] {
            assert_eq!(public_host(good).as_deref(), Ok(good));
        }
        for bad in ["", "a b", "host:80", "::1", "a..b", "http://host", "[zz]"] {
            assert!(public_host(bad).is_err(), "{bad:?}");
        }
    }
}
