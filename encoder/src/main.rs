//! `walrus-encoder`: encode files into Walrus slivers and metadata, decode and verify them.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Walrus RS2 erasure coding, byte-for-byte compatible with Walrus storage nodes.
///
/// A blob is encoded into one sliver pair per shard (a primary and a secondary sliver) plus
/// metadata naming the blob by its blob ID. Any third of the primary slivers (or two thirds of
/// the secondary ones) rebuild the blob.
#[derive(Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Shards {
    /// Number of shards of the committee (Walrus mainnet and testnet use 1000).
    #[arg(long, short = 'n', env = "WALRUS_N_SHARDS", default_value_t = 1000,
          value_parser = clap::value_parser!(u16).range(1..))]
    shards: u16,
}

#[derive(Subcommand)]
enum Command {
    /// Print the blob ID (URL-safe base64) of FILE, and nothing else.
    BlobId {
        /// The blob; `-` reads standard input.
        file: PathBuf,
        #[command(flatten)]
        shards: Shards,
    },
    /// Encode FILE into DIR: metadata.bcs, slivers/<pair>.{primary,secondary}.bcs, blob.json.
    Encode {
        /// The blob; `-` reads standard input.
        file: PathBuf,
        #[command(flatten)]
        shards: Shards,
        /// Output folder (created if needed; an earlier encoding in it is replaced).
        #[arg(long, short)]
        out: PathBuf,
    },
    /// Rebuild the blob from whatever slivers DIR/slivers holds, verifying each first.
    Decode {
        /// A folder with metadata.bcs and slivers/ (as `encode` writes it).
        dir: PathBuf,
        /// Where to write the blob; `-` writes standard output.
        #[arg(long, short)]
        out: PathBuf,
        /// Also recompute the blob ID from the decoded blob (slower, proves everything).
        #[arg(long)]
        strict: bool,
    },
    /// Check every sliver in DIR/slivers against DIR/metadata.bcs; exit 1 if any is bad.
    Verify {
        /// A folder with metadata.bcs and slivers/.
        dir: PathBuf,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::BlobId { file, shards } => cli::blob_id(&file, shards.shards),
        Command::Encode { file, shards, out } => cli::encode(&file, shards.shards, &out),
        Command::Decode { dir, out, strict } => cli::decode(&dir, &out, strict),
        Command::Verify { dir } => cli::verify(&dir),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
