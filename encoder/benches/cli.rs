//! The `walrus-encoder` binary end to end (whole processes, files on disk), beside the
//! library's in-memory figures for the same work in the same run, and against walrus-core's
//! in-memory figures from issue 16 (native v1.56.0, single thread, measured on this kind of
//! machine; it cannot be built here).
//!
//! `cargo bench -p walrus-encoder --bench cli [-- FILTER] [--reps N] [--binary PATH]`
//! FILTER picks cases whose label contains it (`encode`, `encode-new`, `decode/1000`); `encode`
//! and `decode` replace their output run after run, `encode-new` and `decode-new` write a new
//! folder or file each run (all kept until the end: 7 GB in the temporary folder); `--binary` times
//! another build of the CLI (an older commit's, for a before/after comparison).
//! Inputs are SplitMix64 (seed 42) in a temporary folder (`TMPDIR`, default `/tmp`).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "../tests/common/mod.rs"]
mod common;

use common::{splitmix64, SplitMix64};
use walrus_encoder::{decode_into, BlobEncoder, ConsistencyCheck, EncodingParams, Primary, Sliver};

const MIB: usize = 1 << 20;

struct Options {
    filter: Option<String>,
    reps: usize,
    binary: PathBuf,
}

fn options() -> Options {
    let mut args = std::env::args().skip(1).filter(|a| a != "--bench");
    let mut o = Options { filter: None, reps: 5, binary: PathBuf::from(env!("CARGO_BIN_EXE_walrus-encoder")) };
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--reps" => o.reps = args.next().and_then(|r| r.parse().ok()).expect("--reps N"),
            "--binary" => o.binary = args.next().expect("--binary PATH").into(),
            other => o.filter = Some(other.to_string()),
        }
    }
    o
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// User plus system CPU seconds of the waited-for children so far.
fn children_cpu() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `usage` is a valid, writable rusage.
    unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    secs(usage.ru_utime) + secs(usage.ru_stime)
}

fn load() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// One process: wall seconds, CPU seconds, peak RSS in MiB. The peak is the child's `VmHWM`,
/// sampled every 2 ms (`ru_maxrss` would include this process's own peak, which a spawned
/// child inherits).
fn run(binary: &Path, args: &[&str]) -> (f64, f64, f64) {
    let cpu = children_cpu();
    let start = Instant::now();
    let mut child = Command::new(binary)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("running walrus-encoder");
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let status = loop {
        if let Ok(status) = fs::read_to_string(&status_file) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse().ok());
            peak_kb = peak_kb.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().expect("waiting for walrus-encoder") {
            break status;
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let wall = start.elapsed().as_secs_f64();
    let stderr = std::io::read_to_string(child.stderr.take().expect("piped")).unwrap_or_default();
    assert!(status.success(), "walrus-encoder {args:?} failed: {stderr}");
    (wall, children_cpu() - cpu, peak_kb as f64 / 1024.0)
}

/// Medians of wall and CPU time over `reps` runs after one warm-up, and the highest peak RSS.
fn measure(binary: &Path, reps: usize, args: &[&str]) -> (f64, f64, f64) {
    measure_each(binary, reps, |_| args.iter().map(|a| a.to_string()).collect())
}

/// [`measure`] with the arguments of each run (0 is the warm-up) from `args`.
fn measure_each(binary: &Path, reps: usize, args: impl Fn(usize) -> Vec<String>) -> (f64, f64, f64) {
    let run = |i: usize| run(binary, &args(i).iter().map(String::as_str).collect::<Vec<_>>());
    run(0);
    let runs: Vec<_> = (1..=reps).map(run).collect();
    (
        median(runs.iter().map(|r| r.0).collect()),
        median(runs.iter().map(|r| r.1).collect()),
        runs.iter().map(|r| r.2).fold(0.0, f64::max),
    )
}

/// The library's median time to encode `file` in memory for `n` shards.
fn library_encode(reps: usize, n: u16, file: &Path) -> f64 {
    let blob = fs::read(file).unwrap();
    let params = EncodingParams::new(n).unwrap();
    in_memory(reps, || BlobEncoder::new(params, &blob).unwrap().encode())
}

/// Median seconds of `f` in memory, after one warm-up.
fn in_memory<T>(reps: usize, mut f: impl FnMut() -> T) -> f64 {
    drop(f());
    median(
        (0..reps)
            .map(|_| {
                let t = Instant::now();
                let result = f();
                let secs = t.elapsed().as_secs_f64();
                drop(result);
                secs
            })
            .collect(),
    )
}

/// A folder holding the metadata and `k` random primary slivers (hard links into `encoded`),
/// as the decode case has them.
fn decode_folder(encoded: &Path, dir: &Path, n: u16) -> Vec<usize> {
    let params = EncodingParams::new(n).unwrap();
    let kp = usize::from(params.primary_source_symbols());
    let picks = SplitMix64::new(42).sample(usize::from(n), kp);
    fs::create_dir_all(dir.join("slivers")).unwrap();
    fs::hard_link(encoded.join("metadata.bcs"), dir.join("metadata.bcs")).unwrap();
    for p in &picks {
        let name = format!("slivers/{p}.primary.bcs");
        fs::hard_link(encoded.join(&name), dir.join(&name)).unwrap();
    }
    picks
}

struct Case {
    label: String,
    /// walrus-core's figure in seconds (issue 16).
    core: f64,
    cli: (f64, f64, f64),
    library: f64,
}

fn main() {
    let o = options();
    let reps = o.reps;
    let tmp = tempfile::tempdir().expect("temporary folder");
    let dir = tmp.path();
    let selected = |label: &str| o.filter.as_ref().is_none_or(|f| label.contains(f.as_str()));
    let load_before = load();
    let mut cases: Vec<Case> = Vec::new();
    let input = |size: usize| {
        let path = dir.join(format!("blob-{size}"));
        if !path.exists() {
            fs::write(&path, splitmix64(42, size)).expect("writing the input");
        }
        path
    };
    let s = |p: &Path| p.to_str().unwrap().to_string();

    for (size, core) in [(MIB, 0.640), (256 * MIB, 2.373)] {
        let label = format!("blob-id/1000/{}MiB", size / MIB);
        if !selected(&label) {
            continue;
        }
        let file = input(size);
        let r = if size >= 64 * MIB { reps.min(3) } else { reps };
        let cli = measure(&o.binary, r, &["blob-id", &s(&file), "--shards", "1000"]);
        let blob = fs::read(&file).unwrap();
        let params = EncodingParams::new(1000).unwrap();
        let library = in_memory(r, || BlobEncoder::new(params, &blob).unwrap().compute_metadata());
        cases.push(Case { label, core, cli, library });
    }
    // Encoding into a new folder, as a user does: each run writes a folder of its own, kept
    // until the bench ends. Creating files within a minute or so of deleting thousands pays
    // for the file system's scan past the freed inodes (ext4 without a journal skips inodes
    // freed in the last 60 s, 360 s while their table is dirty); the cases below, replacing an
    // encoding, include that cost.
    for (n, size, core) in [(1000u16, 64 * MIB, 1.224), (1000, 256 * MIB, 3.060)] {
        let label = format!("encode-new/{n}/{}MiB", size / MIB);
        if !selected(&label) {
            continue;
        }
        let file = input(size);
        let outs = dir.join(format!("new-{n}-{size}"));
        let r = reps.min(3);
        let cli = measure_each(&o.binary, r, |i| {
            let out = outs.join(i.to_string());
            ["encode", &s(&file), "--shards", &n.to_string(), "--out", &s(&out)].map(String::from).to_vec()
        });
        cases.push(Case { label, core, cli, library: library_encode(r, n, &file) });
    }
    for (n, size, core) in [(1000u16, 64 * MIB, 1.224), (1000, 256 * MIB, 3.060), (100, 16 * MIB, 0.159)] {
        let label = format!("encode/{n}/{}MiB", size / MIB);
        if !selected(&label) {
            continue;
        }
        let file = input(size);
        let out = dir.join(format!("encoded-{n}-{size}"));
        let r = if size >= 64 * MIB { reps.min(3) } else { reps };
        let cli = measure(&o.binary, r, &["encode", &s(&file), "--shards", &n.to_string(), "--out", &s(&out)]);
        cases.push(Case { label, core, cli, library: library_encode(r, n, &file) });
    }
    for (n, size, core) in [(1000u16, 256 * MIB, 1.262), (100, 16 * MIB, 0.073)] {
        let label = format!("decode/{n}/{}MiB", size / MIB);
        let new_label = format!("decode-new/{n}/{}MiB", size / MIB);
        if !selected(&label) && !selected(&new_label) {
            continue;
        }
        let file = input(size);
        let encoded = dir.join(format!("encoded-{n}-{size}"));
        if !encoded.join("metadata.bcs").exists() {
            run(&o.binary, &["encode", &s(&file), "--shards", &n.to_string(), "--out", &s(&encoded)]);
        }
        let folder = dir.join(format!("decode-{n}-{size}"));
        let _ = fs::remove_dir_all(&folder);
        let picks = decode_folder(&encoded, &folder, n);
        let r = if size >= 64 * MIB { reps.min(3) } else { reps };
        // Into a new file each run, as a user decodes (all kept until the bench ends), then
        // replacing one file run after run: freeing the old file's blocks is part of the
        // rename that replaces it (tens of milliseconds for 256 MiB on a disk mounted with
        // `discard`).
        let outs = dir.join(format!("decoded-{n}-{size}"));
        fs::create_dir_all(&outs).unwrap();
        let cli_new = measure_each(&o.binary, r, |i| {
            ["decode", &s(&folder), "--out", &s(&outs.join(i.to_string()))].map(String::from).to_vec()
        });
        let decoded = dir.join("decoded");
        let cli = measure(&o.binary, r, &["decode", &s(&folder), "--out", &s(&decoded), "--force"]);
        let blob = fs::read(&file).unwrap();
        for output in [outs.join(r.to_string()), decoded] {
            assert!(fs::read(&output).unwrap() == blob, "{label}: the decoded blob differs");
        }
        // The library: the same slivers, in memory, with the same default check.
        let encoded_blob = BlobEncoder::new(EncodingParams::new(n).unwrap(), &blob).unwrap().encode();
        let slivers: Vec<Sliver<Primary>> = picks.iter().map(|p| encoded_blob.pairs[*p].primary.clone()).collect();
        let metadata = encoded_blob.metadata.clone();
        drop(encoded_blob);
        let mut out = vec![0u8; size];
        let library = in_memory(r, || decode_into(&metadata, &slivers, ConsistencyCheck::Default, &mut out).unwrap());
        cases.push(Case { label: new_label, core, cli: cli_new, library });
        cases.push(Case { label, core, cli, library });
    }

    println!("load before: {load_before}; after: {}; CLI: {}", load(), o.binary.display());
    println!();
    println!(
        "| case | walrus-core (issue 16) s | CLI median s | ratio | CLI CPU s (user+sys) | CLI peak RSS MiB | library in memory s |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for c in &cases {
        let (wall, cpu, rss) = c.cli;
        println!(
            "| {} | {:.3} | {wall:.3} | {:.2}x | {cpu:.3} | {rss:.0} | {:.3} |",
            c.label,
            c.core,
            c.core / wall,
            c.library
        );
    }
}
