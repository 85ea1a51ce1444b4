//! Speed and memory of the encoder against the official Walrus encoder (`@mysten/walrus-wasm`,
//! run in the same invocation on the same inputs through `scripts/walrus-oracle.mjs bench`).
//!
//! `cargo bench -p walrus-encoder --bench rs2 [-- FILTER] [--reps N] [--no-reference]`
//! FILTER picks cases whose label contains it (e.g. `encode/1000/1MiB`).

use std::process::Command;
use std::time::Instant;

#[path = "../tests/common/mod.rs"]
mod common;

use common::splitmix64;
use walrus_encoder::{decode_into, BlobEncoder, ConsistencyCheck, EncodingParams, Primary, Sliver};

struct Options {
    filter: Option<String>,
    reps: usize,
    reference: bool,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut o = Options { filter: None, reps: 5, reference: true };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reps" => o.reps = args.next().and_then(|r| r.parse().ok()).expect("--reps N"),
            "--no-reference" => o.reference = false,
            other => o.filter = Some(other.to_string()),
        }
    }
    o
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Median wall time of `f`, not counting the drop of its result (the reference, too, times
/// only the encoder call, into buffers allocated beforehand).
fn time_ms<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    drop(f()); // warm-up, as the reference does
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                let result = f();
                let ms = t.elapsed().as_secs_f64() * 1e3;
                drop(result);
                ms
            })
            .collect(),
    )
}

/// Median ms of the official encoder for the same operation and input (SplitMix64, seed 42).
fn reference_ms(op: &str, n: u16, size: usize, reps: usize) -> Option<f64> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/walrus-oracle.mjs");
    let out = Command::new("node")
        .args([script, "bench", "--shards", &n.to_string(), "--size", &size.to_string(), "--op", op])
        .args(["--reps", &reps.to_string(), "--seed", "42"])
        .output()
        .ok()?;
    if !out.status.success() {
        eprintln!("reference failed: {}", String::from_utf8_lossy(&out.stderr));
        return None;
    }
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    json["median_ms"].as_f64()
}

fn label(size: usize) -> String {
    if size >= 1 << 20 {
        format!("{}MiB", size >> 20)
    } else {
        format!("{size}B")
    }
}

/// Peak RSS (MiB) of `walrus-encoder encode` writing a blob of `size` bytes to a folder.
///
/// Read from the child's `VmHWM` while it runs: `getrusage` would also count this (large)
/// process, whose peak the child inherits across the spawn.
fn cli_encode_peak_rss(n: u16, size: usize) -> f64 {
    let dir = tempfile::tempdir().expect("temporary folder");
    let input = dir.path().join("blob.bin");
    std::fs::write(&input, splitmix64(42, size)).expect("writing the input");
    let mut child = Command::new(env!("CARGO_BIN_EXE_walrus-encoder"))
        .args(["encode", input.to_str().unwrap(), "--shards", &n.to_string(), "--out"])
        .arg(dir.path().join("out"))
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("running walrus-encoder");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    loop {
        if let Ok(status) = std::fs::read_to_string(&status_file) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok());
            peak_kb = peak_kb.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().expect("waiting for walrus-encoder") {
            assert!(status.success());
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    peak_kb as f64 / 1024.0
}

fn main() {
    let o = options();
    const MIB: usize = 1 << 20;
    let cases: &[(&str, u16, usize)] = &[
        ("encode", 1000, MIB),
        ("encode", 1000, 16 * MIB),
        ("encode", 1000, 64 * MIB),
        ("encode", 1000, 256 * MIB),
        ("metadata", 1000, MIB),
        ("decode", 1000, MIB),
        ("decode", 1000, 256 * MIB),
        ("encode", 100, MIB),
        ("encode", 10, MIB),
    ];
    println!("| operation | n_shards | size | ours (median ms) | official WASM (median ms) | speed-up |");
    println!("|---|---:|---:|---:|---:|---:|");
    for &(op, n, size) in cases {
        let name = format!("{op}/{n}/{}", label(size));
        if o.filter.as_ref().is_some_and(|f| !name.contains(f.as_str())) {
            continue;
        }
        let blob = splitmix64(42, size);
        let params = EncodingParams::new(n).unwrap();
        // Large cases get fewer repetitions on both sides.
        let reps = if size >= 64 * MIB { o.reps.min(3) } else { o.reps };
        let ours = match op {
            "encode" => time_ms(reps, || BlobEncoder::new(params, &blob).unwrap().encode()),
            "metadata" => time_ms(reps, || BlobEncoder::new(params, &blob).unwrap().compute_metadata()),
            "decode" => {
                let encoded = BlobEncoder::new(params, &blob).unwrap().encode();
                let kp = usize::from(params.primary_source_symbols());
                // Random-looking kp primary slivers: every third pair, wrapping, mostly non-systematic.
                let mut picks: Vec<Sliver<Primary>> = Vec::new();
                let mut p = 7usize;
                while picks.len() < kp {
                    let sliver = &encoded.pairs[p % usize::from(n)].primary;
                    if !picks.iter().any(|s| s.index() == sliver.index()) {
                        picks.push(sliver.clone());
                    }
                    p += 3;
                }
                let metadata = encoded.metadata.clone();
                drop(encoded);
                // Into one buffer, reused: the reference, too, decodes into a buffer it was given.
                let mut out = vec![0u8; blob.len()];
                time_ms(reps, || decode_into(&metadata, &picks, ConsistencyCheck::Skip, &mut out).unwrap())
            }
            _ => unreachable!(),
        };
        let reference = if o.reference { reference_ms(op, n, size, reps) } else { None };
        let fmt = |x: Option<f64>| x.map_or("—".to_string(), |x| format!("{x:.1}"));
        let ratio = reference.map_or("—".to_string(), |r| format!("{:.1}x", r / ours));
        println!("| {op} | {n} | {} | {ours:.1} | {} | {ratio} |", label(size), fmt(reference));
    }
    if o.filter.as_ref().is_none_or(|f| "memory".contains(f.as_str())) {
        println!();
        println!(
            "| memory: `walrus-encoder encode` to a folder | n_shards | blob MiB | peak RSS MiB | ratio to blob |"
        );
        println!("|---|---:|---:|---:|---:|");
        for size in [64 * MIB, 256 * MIB] {
            let rss = cli_encode_peak_rss(1000, size);
            let blob = (size / MIB) as f64;
            println!("| encode to folder | 1000 | {blob:.0} | {rss:.0} | {:.2}x |", rss / blob);
        }
    }
}
