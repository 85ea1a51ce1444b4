//! `walrus-node`: generate a node's keys, or run a storage node.

use std::path::PathBuf;

use anyhow::Context;
use clap::{Parser, Subcommand};
use walrus_chain::source::Source;
use walrus_node::config::Settings;
use walrus_node::{keys, FollowConfig, Node, SyncReporter};

#[derive(Parser)]
#[command(version, about = "A Walrus storage node")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Writes a new protocol key and network key into DIR (mode 0600) and prints what node
    /// registration (`staking::register_candidate`) takes.
    Keygen {
        #[arg(long)]
        out: PathBuf,
        /// The epoch the registration happens in: the proof of possession names it.
        #[arg(long, default_value_t = 0)]
        epoch: u32,
        /// The Sui address that sends the registration, `0x` + 64 hex digits.
        #[arg(long)]
        sender: String,
    },
    /// Runs the node: follows the chain from a checkpoint source, serves the API, syncs the
    /// slivers of shards it gains and reports them in place (`epoch_sync_done`).
    Run {
        /// A TOML file with the settings below (snake_case names).
        #[arg(long, env = "WALRUS_NODE_CONFIG")]
        config: Option<PathBuf>,
        // Boxed: the settings are most of the command's size.
        #[command(flatten)]
        settings: Box<Settings>,
    },
}

fn main() -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt().with_env_filter(filter).init();
    match Cli::parse().command {
        Command::Keygen { out, epoch, sender } => {
            let sender: walrus_node::ObjectId = sender.parse().map_err(|e: String| anyhow::anyhow!("--sender: {e}"))?;
            let (protocol, network) = keys::generate(&out)?;
            println!("public_key: 0x{}", hex::encode(protocol.public_key()));
            println!("network_public_key: 0x{}", hex::encode(network.public_key()));
            println!("proof_of_possession: 0x{}", hex::encode(protocol.proof_of_possession(epoch, &sender.0)));
            println!("(for epoch {epoch} and sender {sender}; keys in {})", out.display());
            Ok(())
        }
        Command::Run { config, settings } => {
            let file = config.map(|path| Settings::from_file(&path)).transpose()?.unwrap_or_default();
            let config = (*settings).over(file)?;
            let key = keys::load_protocol_key(&config.protocol_key)?;
            // A gRPC client's channel (the checkpoint source's, the reporter's) needs the runtime
            // while it is built.
            let runtime = tokio::runtime::Runtime::new()?;
            let source = {
                let _entered = runtime.enter();
                Source::parse(&config.checkpoints).map_err(|e| anyhow::anyhow!("checkpoints: {e}"))?
            };
            if let Source::Dir(path) = &source {
                anyhow::ensure!(path.is_dir(), "checkpoint folder {} does not exist", path.display());
            }
            let follow = FollowConfig {
                package: sui_sdk_types::Address::new(config.package_id.0),
                first_checkpoint: config.first_checkpoint,
                poll_interval: config.checkpoint_poll,
            };
            let reporter = {
                let _entered = runtime.enter();
                SyncReporter::from_config(&config.report).context("reporting sync-done")?
            };
            runtime.block_on(async {
                let node = Node::open(&config.storage_dir, key, config.node_id, config.long_poll_max)
                    .context("opening the store")?;
                let follower = node.follow(source, follow);
                let reporting = node.report_sync_done(reporter);
                let (addr, server) = node.spawn(config.listen_address).await?;
                tracing::info!(%addr, node_id = %config.node_id, package_id = %config.package_id, "serving");
                tokio::select! {
                    _ = server => anyhow::bail!("the API server stopped"),
                    _ = follower => anyhow::bail!("following the chain stopped"),
                    _ = reporting => anyhow::bail!("reporting sync-done stopped"),
                    signal = tokio::signal::ctrl_c() => Ok(signal?),
                }
            })
        }
    }
}
