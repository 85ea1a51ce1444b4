//! `walrus-encoder`: encode files into Walrus slivers and metadata, decode and verify them.

mod cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use walrus_encoder::{EncodingParams, MAX_SHARDS, MIN_SHARDS};

/// Walrus RS2 erasure coding, byte-for-byte compatible with Walrus storage nodes.
///
/// A blob is encoded into one sliver pair per shard (a primary and a secondary sliver) plus
/// metadata naming the blob by its blob ID. Any third of the primary slivers (or two thirds of
/// the secondary ones) rebuild the blob.
///
/// Exit status: 0 on success; 1 on any error, and from `verify` when a sliver is missing or
/// bad; 2 for a usage error.
#[derive(Parser)]
#[command(version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Shards {
    /// Number of shards of the committee, from 4 to 49155 (Walrus mainnet and testnet use
    /// 1000). Encoding needs about 48·n² bytes of memory for hashes (n = 16000: 12.3 GB; a
    /// 24 GB machine manages about n = 20000): a count that would not fit in the memory
    /// available is refused before starting, naming the need.
    #[arg(long, short = 'n', env = "WALRUS_N_SHARDS", default_value = "1000", value_parser = parse_shards,
          value_name = "N")]
    shards: EncodingParams,
}

/// The library's own check, so the CLI accepts exactly what the encoder supports.
fn parse_shards(arg: &str) -> Result<EncodingParams, String> {
    let n: u16 = arg.parse().map_err(|_| format!("not a shard count from {MIN_SHARDS} to {MAX_SHARDS}"))?;
    EncodingParams::new(n).map_err(|e| e.to_string())
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
    ///
    /// Success is reported only once every file is on disk (synced); a second encoder writing
    /// into the same folder at the same time is refused.
    Encode {
        /// The blob; `-` reads standard input.
        file: PathBuf,
        #[command(flatten)]
        shards: Shards,
        /// Output folder (created if needed; an earlier encoding in it is replaced).
        #[arg(long, short, value_name = "DIR")]
        out: PathBuf,
    },
    /// Rebuild the blob from whatever slivers DIR/slivers holds, checked against the metadata.
    Decode {
        /// A folder with metadata.bcs and slivers/ (as `encode` writes it).
        dir: PathBuf,
        /// Where to write the blob: a new regular file (replaced atomically), or `-` for
        /// standard output. Anything else (a device, a pipe, a symbolic link, a folder) is
        /// refused and left alone: write to those with `--out -` and a redirection.
        #[arg(long, short, value_name = "FILE")]
        out: PathBuf,
        /// Replace FILE if it is an existing regular file.
        #[arg(long)]
        force: bool,
        /// Also recompute the blob ID from the decoded blob (slower, proves everything).
        #[arg(long)]
        strict: bool,
    },
    /// Check every sliver in DIR/slivers against DIR/metadata.bcs.
    ///
    /// Prints the problems found and a summary: how many slivers of each axis are good, bad
    /// or missing, and whether the blob can still be decoded. Exits 0 only if every sliver is
    /// present and good.
    Verify {
        /// A folder with metadata.bcs and slivers/.
        dir: PathBuf,
        /// Print a line for every sliver pair, not only for the problems.
        #[arg(long, short)]
        verbose: bool,
    },
}

fn main() -> ExitCode {
    restore_default_sigpipe();
    tune_malloc();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::BlobId { file, shards } => cli::blob_id(&file, shards.shards),
        Command::Encode { file, shards, out } => cli::encode(&file, shards.shards, &out),
        Command::Decode { dir, out, force, strict } => cli::decode(&dir, &out, force, strict),
        Command::Verify { dir, verbose } => cli::verify(&dir, verbose),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// One heap for all threads instead of glibc's arena per thread: the encoder's buffers are
/// large and freed on threads other than those that made them, and each arena kept its own
/// freed memory resident (measured: 20 MiB of peak RSS encoding 256 MiB, at no cost in CPU).
/// Buffers up to 32 MiB come from that heap, which keeps up to 32 MiB free at its top: by
/// default glibc maps each buffer over 128 KiB (a sliver, a column) afresh and gives freed
/// memory back at once, so every batch paid a page fault per 4 KiB again (measured encoding
/// 256 MiB: 115,000 page faults and 2.6 s of CPU, 44,000 and 2.1–2.3 s with these settings).
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: called before any other thread exists; mallopt only sets allocator options.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 32 << 20);
    }
}

/// Rust ignores SIGPIPE, which turns a reader that stops early (`| head`) into a "Broken pipe"
/// error. Like other command-line tools, end quietly instead: nothing is left half-written,
/// because files are only ever replaced by renames.
fn restore_default_sigpipe() {
    #[cfg(unix)]
    // SAFETY: called first thing in `main`, before any other thread exists.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}
