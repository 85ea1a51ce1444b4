//! `walrus-localchain`: the local chain (a test stand-in for Sui) as a command.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use clap::{Parser, Subcommand};
use walrus_localchain::{service, Genesis, LocalChain};

#[derive(Parser)]
#[command(version, about = "A local chain for one machine: a test stand-in for Sui and the move/walrus contracts")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serves the chain over HTTP, creating it from the genesis file on first start and
    /// resuming from DIR afterwards; epochs change on a timer.
    Serve {
        /// Holds state.json and checkpoints/ (the folder followers read with `dir:`).
        #[arg(long, env = "WALRUS_LOCALCHAIN_DIR")]
        dir: PathBuf,
        #[arg(long, env = "WALRUS_LOCALCHAIN_LISTEN", default_value = "127.0.0.1:9185")]
        listen: SocketAddr,
        /// Read only when DIR holds no chain yet.
        #[arg(long, env = "WALRUS_LOCALCHAIN_GENESIS")]
        genesis: Option<PathBuf>,
        /// Change epochs only through POST /v1/epoch/advance.
        #[arg(long)]
        no_epoch_timer: bool,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command {
        Command::Serve { dir, listen, genesis, no_epoch_timer } => {
            // Absolute, so that the folder the state reports is usable from anywhere.
            let dir = std::path::absolute(&dir).with_context(|| format!("resolving {}", dir.display()))?;
            let chain = if dir.join("state.json").exists() {
                LocalChain::open(&dir)?
            } else {
                let path = genesis.context("DIR holds no chain yet: pass --genesis FILE")?;
                let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
                LocalChain::create(&dir, &Genesis::from_toml(&text)?, service::now_ms())?.0
            };
            eprintln!(
                "walrus-localchain: epoch {}, checkpoint {}, checkpoints in {}",
                chain.state().epoch,
                chain.last_checkpoint(),
                chain.checkpoints_dir().display()
            );
            let chain = Arc::new(Mutex::new(chain));
            if !no_epoch_timer {
                tokio::spawn(service::epoch_timer(chain.clone()));
            }
            let listener =
                tokio::net::TcpListener::bind(listen).await.with_context(|| format!("listening on {listen}"))?;
            eprintln!("walrus-localchain: listening on http://{}", listener.local_addr()?);
            axum::serve(listener, service::router(chain)).with_graceful_shutdown(shutdown()).await?;
            Ok(())
        }
    }
}

/// Ctrl-C or SIGTERM (how the testbed stops what it started).
async fn shutdown() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
