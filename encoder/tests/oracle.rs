//! Differential test against the official Walrus encoder, `@mysten/walrus-wasm` 0.3.0, driven
//! through the Node CLI `scripts/walrus-oracle.mjs`.
//!
//! For every case (a shard count, a blob size, a data generator and a seed), the oracle encodes
//! the blob to files and we check, byte for byte, that our encoder produces the same blob ID,
//! root hash, sliver-pair hashes and BCS slivers (every primary and secondary sliver of every
//! pair). Then the two decoders are crossed: ours decodes the oracle's slivers (a subset of `kp`
//! primary and, separately, of `ks` secondary slivers, against metadata rebuilt from the
//! oracle's own output), and, up to n = 100, the oracle decodes a subset of `kp` of our primary
//! slivers.
//!
//! The cases are a fixed list (named shard counts, boundary sizes, the largest blobs) plus
//! pseudo-random ones drawn with SplitMix64 from a fixed seed list, so every run checks the
//! same cases; `WALRUS_ORACLE_RANDOM_CASES=N` runs N random cases instead of the default, for
//! longer soaks. A failure names the case (`n`, `size`, data generator, seed) and the first
//! pair whose slivers differ.
//!
//! Needs Node.js >= 20 and the oracle's dependencies (`npm ci --prefix scripts`, which
//! `scripts/test-all.sh` runs first). Without them this test fails; it never skips.

mod common;

use std::cmp::Reverse;
use std::fmt::Write as _;
use std::fs;
use std::panic::{self, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::SplitMix64;
use serde_json::Value;
use walrus_encoder::merkle::Node;
use walrus_encoder::{
    decode, encode, Axis, BlobId, BlobMetadata, BlobMetadataV1, BlobMetadataWithId, ConsistencyCheck, EncodingType,
    Primary, Secondary, Sliver, SliverIndex, SliverPairMetadata, VerifiedMetadata,
};

/// The version of `@mysten/walrus-wasm` the expected bytes come from.
const ORACLE_VERSION: &str = "0.3.0";
/// Node processes are single-threaded: two cases at a time keep both cores busy.
/// `WALRUS_ORACLE_THREADS` overrides it.
const THREADS: usize = 2;
/// Stop starting new cases after this many failures; the report lists them all.
const MAX_FAILURES: usize = 6;
/// Random cases by default, with seeds `RANDOM_SEED_BASE + 1..=N`. They add variety on top of
/// the fixed cases, which hold every boundary; a case near n = 1000 costs about ten seconds of
/// WASM whatever its size, so soaks (`WALRUS_ORACLE_RANDOM_CASES`) run more of them.
const DEFAULT_RANDOM_CASES: u64 = 16;
/// The largest n at which the oracle also decodes our slivers. Once every sliver matched byte
/// for byte, the oracle decoding ours is the oracle decoding its own output: that checks the
/// crossing (files, blob ID, subsets), not our code, and near n = 1000 it costs about 14 s of
/// WASM a case. Where it is cheap it still runs.
const ORACLE_DECODES_UP_TO_N: u16 = 100;
/// Random cases' seeds start above the fixed cases' (`1..`), so no two share their data.
const RANDOM_SEED_BASE: u64 = 1000;
/// Cap on the size of random cases, to keep the whole test within a few minutes.
const RANDOM_SIZE_CAP: u64 = 4 << 20;
const MAX_SYMBOL_SIZE: u64 = 65534;
const MIB: u64 = 1 << 20;

// ---------------------------------------------------------------------------------------------
// Cases

#[derive(Debug, Clone)]
struct Case {
    n: u16,
    size: u64,
    /// A `common::generate` generator: `splitmix64:SEED`, `zeros` or `affine31`.
    data: String,
    /// Drives the choice of sliver subsets.
    seed: u64,
    /// Where the case comes from (fixed list entry or random seed).
    origin: String,
}

impl Case {
    fn label(&self) -> String {
        format!("[{}] n={} size={} data={} seed={}", self.origin, self.n, self.size, self.data, self.seed)
    }

    /// Rough relative cost, to start the expensive cases first.
    fn cost(&self) -> u64 {
        self.size + u64::from(self.n) * 2_000
    }
}

/// `(f, kp, ks)` for `n` shards: `f = (n-1)/3`, `kp = n-2f`, `ks = n-f`.
fn params(n: u16) -> (usize, usize, usize) {
    let n = usize::from(n);
    let f = (n - 1) / 3;
    (f, n - 2 * f, n - f)
}

/// `kp * ks`: source symbols of the blob.
fn source_symbols(n: u16) -> u64 {
    let (_, kp, ks) = params(n);
    (kp * ks) as u64
}

fn max_blob_size(n: u16) -> u64 {
    source_symbols(n) * MAX_SYMBOL_SIZE
}

/// The shard counts every run covers, whatever the random draws.
const NAMED_N: [u16; 12] = [4, 5, 6, 7, 10, 13, 100, 301, 333, 667, 999, 1000];

fn fixed_cases() -> Vec<Case> {
    let mut cases = Vec::new();
    let mut push = |n: u16, size: u64, data: Option<&str>, origin: &str| {
        let seed = cases.len() as u64 + 1;
        let data = data.map_or_else(|| format!("splitmix64:{seed}"), str::to_string);
        cases.push(Case { n, size, data, seed, origin: format!("fixed {origin}") });
    };

    let mut rng = SplitMix64::new(0x0A11_CE5E_ED00_0001);
    for n in NAMED_N {
        let k = source_symbols(n);
        let max = max_blob_size(n);
        // With n near 1000 a case costs seconds (the WASM's fixed cost), so fewer of them.
        let kinds: &[&str] = match n {
            667 => &["empty", "S=4 first", "medium"],
            999 => &["one byte", "S=2 full", "medium"],
            1000 => &["empty", "S=2 full", "S=4 first", "small"],
            _ => &["empty", "one byte", "S=2 full", "S=4 first", "small", "medium"],
        };
        for &kind in kinds {
            let size = match kind {
                "empty" => 0,
                "one byte" => 1,
                // The last size with symbol size 2, and the first with 4.
                "S=2 full" => 2 * k,
                "S=4 first" => 2 * k + 1,
                "small" => rng.between(2, 64 << 10).min(max),
                _ => log_uniform(&mut rng, 64 << 10, (3 * MIB / 2).min(max)),
            };
            push(n, size, None, kind);
        }
    }
    // The largest blobs of the small committees: symbol size 65534.
    for n in [4, 5, 6, 7, 10, 13] {
        push(n, max_blob_size(n), None, "max size");
    }
    push(7, max_blob_size(7) - 1, None, "max size - 1");
    push(4, max_blob_size(4) - source_symbols(4) * 2, None, "S=65532 full");
    // Symbol sizes around the 64-byte blocks of reed-solomon-simd.
    push(100, source_symbols(100) * 64, None, "S=64 full");
    push(100, source_symbols(100) * 64 + 1, None, "S=66 first");
    push(31, source_symbols(31) * 126 + 5, None, "S=128");
    push(58, source_symbols(58) * 190 + 1, None, "S=192");
    // Other data.
    push(1000, MIB, Some("zeros"), "zeros");
    push(13, 100_000, Some("zeros"), "zeros");
    push(301, 777_777, Some("affine31"), "affine31");
    push(5, 12_345, Some("affine31"), "affine31");
    // Large blobs.
    push(1000, 24 * MIB + 12_345, None, "large");
    push(40, 8 * MIB, None, "8 MiB at small n");
    push(667, 6 * MIB + 3, None, "6 MiB");
    cases
}

/// Log-uniform in `lo..=hi` (both at least 1).
fn log_uniform(rng: &mut SplitMix64, lo: u64, hi: u64) -> u64 {
    let (lo, hi) = (lo.max(1), hi.max(1));
    if lo >= hi {
        return hi;
    }
    let x = (lo as f64).ln() + rng.unit() * ((hi as f64).ln() - (lo as f64).ln());
    (x.exp().round() as u64).clamp(lo, hi)
}

fn random_case(seed: u64) -> Case {
    let mut rng = SplitMix64::new(seed ^ 0x5EED_CA5E_0000_0000);
    // Over all of 4..=1000, but favouring small committees, whose cases are cheap: a third
    // uniform, two thirds log-uniform.
    let n = if rng.below(3) == 0 { rng.between(4, 1000) } else { log_uniform(&mut rng, 4, 1000) } as u16;
    let k = source_symbols(n);
    let max = max_blob_size(n);
    let cap = max.min(RANDOM_SIZE_CAP);
    let (size, kind) = match rng.below(20) {
        0..=2 => (rng.between(0, 256.min(cap)), "tiny"),
        3..=10 => (log_uniform(&mut rng, 1, cap.min(MIB)), "log-uniform ≤ 1 MiB"),
        11..=14 => {
            // Aim at a symbol size: sizes in (K*(S-2), K*S] give S.
            let s = 2 * rng.between(1, (cap / k / 2).clamp(1, MAX_SYMBOL_SIZE / 2));
            ((k * (s - 2) + rng.between(1, 2 * k)).min(cap), "symbol size")
        }
        15..=17 => (log_uniform(&mut rng, 1, cap), "log-uniform"),
        _ if max <= RANDOM_SIZE_CAP => (max - rng.below(2 * k), "near max"),
        _ => (log_uniform(&mut rng, MIB, cap), "large"),
    };
    let data = match rng.below(20) {
        0 | 1 => "zeros".to_string(),
        2 => "affine31".to_string(),
        _ => format!("splitmix64:{seed}"),
    };
    Case { n, size, data, seed, origin: format!("random seed {seed}, {kind}") }
}

fn all_cases() -> Vec<Case> {
    let random = match std::env::var("WALRUS_ORACLE_RANDOM_CASES") {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("WALRUS_ORACLE_RANDOM_CASES must be a number, got {v:?}")),
        Err(_) => DEFAULT_RANDOM_CASES,
    };
    let mut cases = fixed_cases();
    cases.extend((1..=random).map(|i| random_case(RANDOM_SEED_BASE + i)));
    for case in &cases {
        assert!((4..=1000).contains(&case.n), "{}: n out of range", case.label());
        assert!(case.size <= max_blob_size(case.n), "{}: beyond the maximum blob size", case.label());
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// The oracle

struct Oracle {
    script: PathBuf,
}

impl Oracle {
    /// Finds node and the oracle's dependencies, or fails the test saying how to install them.
    fn locate() -> Self {
        let hint = "the oracle test needs Node.js >= 20 on PATH and the oracle's dependencies: \
                    run `npm ci --prefix scripts` in the repository root (scripts/test-all.sh does)";
        let repo = common::repo_dir();
        let script = repo.join("scripts/walrus-oracle.mjs");
        assert!(script.is_file(), "{} is missing", script.display());
        match Command::new("node").arg("--version").output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!("`node --version` failed ({}): {hint}", out.status),
            Err(e) => panic!("cannot run `node` ({e}): {hint}"),
        }
        let package = repo.join("scripts/node_modules/@mysten/walrus-wasm/package.json");
        let text =
            fs::read_to_string(&package).unwrap_or_else(|e| panic!("{} is missing ({e}): {hint}", package.display()));
        let version = serde_json::from_str::<Value>(&text).expect("valid package.json")["version"].clone();
        assert_eq!(version, ORACLE_VERSION, "scripts/node_modules holds another @mysten/walrus-wasm: {hint}");
        Self { script }
    }

    fn run(&self, args: &[String]) -> Result<(), String> {
        let out =
            Command::new("node").arg(&self.script).args(args).output().map_err(|e| format!("cannot run node: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "`node scripts/walrus-oracle.mjs {}` failed ({}): {}",
                args.join(" "),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    }
}

fn path_arg(p: &Path) -> String {
    p.to_str().expect("temporary paths are UTF-8").to_string()
}

// ---------------------------------------------------------------------------------------------
// Checks

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            return Err(format!($($fmt)+));
        }
    };
}

fn io<T>(what: impl std::fmt::Display, r: std::io::Result<T>) -> Result<T, String> {
    r.map_err(|e| format!("{what}: {e}"))
}

/// `None` if equal, else where they first differ.
fn first_difference(ours: &[u8], theirs: &[u8]) -> Option<String> {
    if ours == theirs {
        return None;
    }
    let at = ours.iter().zip(theirs).position(|(a, b)| a != b);
    Some(match at {
        Some(i) => format!(
            "{} vs {} bytes, first difference at byte {i} (ours {:#04x}, oracle {:#04x})",
            ours.len(),
            theirs.len(),
            ours[i],
            theirs[i]
        ),
        None => format!("{} vs {} bytes, equal over the common prefix", ours.len(), theirs.len()),
    })
}

fn same_blob(what: &str, got: &[u8], want: &[u8]) -> Result<(), String> {
    match first_difference(got, want) {
        None => Ok(()),
        Some(d) => Err(format!("{what}: the result differs from the input (result vs input: {d})")),
    }
}

/// Metadata rebuilt from the oracle's `oracle.json` alone, verified by us.
fn oracle_metadata(json: &Value) -> Result<VerifiedMetadata, String> {
    let digest = |v: &Value| -> Result<Node, String> {
        let hex = v.as_str().ok_or("hash is not a string")?;
        let bytes: [u8; 32] = hex::decode(hex)
            .map_err(|e| e.to_string())?
            .try_into()
            .map_err(|_| format!("hash {hex} is not 32 bytes"))?;
        Ok(Node::Digest(bytes))
    };
    let hashes = json["pair_hashes"]
        .as_array()
        .ok_or("oracle.json: no pair_hashes")?
        .iter()
        .map(|h| {
            Ok(SliverPairMetadata { primary_hash: digest(&h["primary"])?, secondary_hash: digest(&h["secondary"])? })
        })
        .collect::<Result<Vec<_>, String>>()?;
    // From the hex form, so that this does not depend on our parser (checked separately).
    let id_hex = json["blob_id_hex"].as_str().ok_or("oracle.json: no blob_id_hex")?;
    let blob_id = BlobId(
        hex::decode(id_hex)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| format!("oracle.json: bad blob_id_hex {id_hex}"))?,
    );
    let unencoded_length = json["unencoded_length"].as_u64().ok_or("oracle.json: no unencoded_length")?;
    BlobMetadataWithId {
        blob_id,
        metadata: BlobMetadata::V1(BlobMetadataV1 { encoding_type: EncodingType::RS2, unencoded_length, hashes }),
    }
    .verify()
    .map_err(|e| format!("the oracle's metadata does not verify with our hashing: {e}"))
}

/// `k` distinct indices of `0..n`: usually a random subset, sometimes the first `k`
/// (all systematic) or the last `k` (as many recovery slivers as possible).
fn pick(rng: &mut SplitMix64, n: usize, k: usize) -> (Vec<usize>, String) {
    let (mut idx, mode) = match rng.below(4) {
        0 => ((0..k).collect::<Vec<_>>(), "first"),
        1 => ((n - k..n).collect(), "last"),
        _ => (rng.sample(n, k), "random"),
    };
    let mut sorted = idx.clone();
    sorted.sort_unstable();
    let shown: Vec<String> = sorted.iter().take(12).map(usize::to_string).collect();
    let more = if k > 12 { ", …" } else { "" };
    let desc = format!("{mode} {k} of {n}: [{}{more}]", shown.join(", "));
    // Hand them over in shuffled order, whatever the mode.
    for i in (1..idx.len()).rev() {
        idx.swap(i, rng.below(i as u64 + 1) as usize);
    }
    (idx, desc)
}

/// Reads oracle sliver files `file_of(i)` for the sliver indices `indices`, checking the
/// index each one carries.
/// Our decoder on `k` of the oracle's slivers of axis `A` (one of them also verified),
/// against the oracle's metadata.
fn decode_oracle_slivers<A: Axis>(
    rng: &mut SplitMix64,
    sliver_dir: &Path,
    meta: &VerifiedMetadata,
    data: &[u8],
    nu: usize,
    k: usize,
) -> Result<(), String> {
    let (indices, desc) = pick(rng, nu, k);
    let file_of = |i: usize| format!("{}.{}.bcs", SliverIndex::<A>::new(i as u16).pair(nu as u16), A::NAME);
    let slivers = read_slivers::<A>(sliver_dir, &indices, file_of)?;
    let probe = &slivers[rng.below(k as u64) as usize];
    probe
        .verify(meta)
        .map_err(|e| format!("oracle {} sliver {} does not verify: {e}", A::NAME, probe.index().get()))?;
    let what = format!("our decode of oracle {} slivers ({desc})", A::NAME);
    let decoded = decode(meta, &slivers, ConsistencyCheck::Default).map_err(|e| format!("{what}: {e}"))?;
    same_blob(&what, &decoded, data)
}

fn read_slivers<A: Axis>(
    dir: &Path,
    indices: &[usize],
    file_of: impl Fn(usize) -> String,
) -> Result<Vec<Sliver<A>>, String> {
    indices
        .iter()
        .map(|&i| {
            let file = file_of(i);
            let bytes = io(&file, fs::read(dir.join(&file)))?;
            let sliver = Sliver::<A>::from_bcs(&bytes).map_err(|e| format!("oracle {file}: {e}"))?;
            ensure!(
                usize::from(sliver.index().get()) == i,
                "oracle {file} holds {} sliver {}, expected {i}",
                A::NAME,
                sliver.index().get()
            );
            Ok(sliver)
        })
        .collect()
}

#[derive(Debug, Default, Clone, Copy)]
struct Timings {
    oracle_encode: Duration,
    our_encode: Duration,
    oracle_decode: Duration,
    total: Duration,
}

fn run_case(case: &Case, oracle: &Oracle) -> Result<Timings, String> {
    let start = Instant::now();
    let mut t = Timings::default();
    let n = case.n;
    let nu = usize::from(n);
    let (_, kp, ks) = params(n);
    let data = common::generate(&case.data, case.size as usize);

    let tmp = io("temp dir", tempfile::Builder::new().prefix("walrus-oracle-").tempdir())?;
    let input = tmp.path().join("input.bin");
    io("writing the input", fs::write(&input, &data))?;
    let out = tmp.path().join("oracle");

    // 1. Both encoders.
    let t0 = Instant::now();
    oracle.run(&[
        "encode".into(),
        "--shards".into(),
        n.to_string(),
        "--in".into(),
        path_arg(&input),
        "--out".into(),
        path_arg(&out),
    ])?;
    t.oracle_encode = t0.elapsed();
    let t0 = Instant::now();
    let ours = encode(n, &data).map_err(|e| format!("our encode failed: {e}"))?;
    t.our_encode = t0.elapsed();
    let meta = &ours.metadata;
    ensure!(ours.pairs.len() == nu, "our encode returned {} pairs", ours.pairs.len());

    // 2. Metadata, field by field.
    let json: Value = serde_json::from_str(&io("oracle.json", fs::read_to_string(out.join("oracle.json")))?)
        .map_err(|e| format!("oracle.json: {e}"))?;
    ensure!(json["n_shards"] == u64::from(n), "oracle n_shards {}", json["n_shards"]);
    ensure!(json["unencoded_length"] == case.size, "oracle unencoded_length {}", json["unencoded_length"]);
    ensure!(
        json["symbol_size"] == u64::from(meta.layout().symbol_size()),
        "symbol size: ours {}, oracle {}",
        meta.layout().symbol_size(),
        json["symbol_size"]
    );
    let hashes = json["pair_hashes"].as_array().ok_or("oracle.json: no pair_hashes")?;
    ensure!(hashes.len() == nu, "oracle.json has {} pair hashes", hashes.len());
    let mut differing = Vec::new();
    for (p, (mine, theirs)) in meta.metadata().hashes().iter().zip(hashes).enumerate() {
        for (axis, node) in [("primary", &mine.primary_hash), ("secondary", &mine.secondary_hash)] {
            if theirs[axis] != hex::encode(node.bytes()) {
                differing.push(format!("pair {p} {axis}"));
            }
        }
    }
    ensure!(
        differing.is_empty(),
        "{} of {} sliver hashes differ, first: {} (blob ID ours {}, oracle {})",
        differing.len(),
        2 * nu,
        differing[0],
        meta.blob_id(),
        json["blob_id"]
    );
    ensure!(
        json["root_hash_hex"] == hex::encode(meta.metadata().root_hash().bytes()),
        "root hash: ours {}, oracle {}",
        hex::encode(meta.metadata().root_hash().bytes()),
        json["root_hash_hex"]
    );
    ensure!(
        json["blob_id"] == meta.blob_id().to_string(),
        "blob ID: ours {}, oracle {}",
        meta.blob_id(),
        json["blob_id"]
    );
    ensure!(json["blob_id_hex"] == hex::encode(meta.blob_id().0), "blob ID hex: oracle {}", json["blob_id_hex"]);
    let their_meta = oracle_metadata(&json)?;
    ensure!(their_meta == *meta, "the oracle's metadata, rebuilt, differs from ours");
    // Our parser must accept the oracle's base64url blob ID. Reported after the other checks,
    // which do not depend on it.
    let id_text = json["blob_id"].as_str().unwrap_or_default();
    let parse_error = match id_text.parse::<BlobId>() {
        Ok(id) if id == meta.blob_id() => None,
        Ok(id) => Some(format!("BlobId::from_str({id_text:?}) gives {}, not the blob ID", hex::encode(id.0))),
        Err(e) => Some(format!("BlobId::from_str rejects the oracle's blob ID {id_text:?}: {e}")),
    };

    // 3. Every sliver, byte for byte.
    let sliver_dir = out.join("slivers");
    let files = io("listing the oracle's slivers", fs::read_dir(&sliver_dir))?.count();
    ensure!(files == 2 * nu, "the oracle wrote {files} sliver files, expected {}", 2 * nu);
    for (axis, sliver_of) in [("primary", 0), ("secondary", 1)] {
        let mut first = None;
        let mut count = 0;
        for (p, pair) in ours.pairs.iter().enumerate() {
            let mine = if sliver_of == 0 { pair.primary.to_bcs() } else { pair.secondary.to_bcs() };
            let file = format!("{p}.{axis}.bcs");
            let theirs = io(&file, fs::read(sliver_dir.join(&file)))?;
            if let Some(d) = first_difference(&mine, &theirs) {
                count += 1;
                first.get_or_insert((p, d));
            }
        }
        if let Some((p, d)) = first {
            let index = if sliver_of == 0 { p } else { nu - 1 - p };
            let s = usize::from(meta.layout().symbol_size());
            return Err(format!(
                "{axis} slivers differ in {count} of {nu} pairs; first: pair {p} ({axis} sliver {index}, \
                 symbol size {s}; ours vs oracle: {d})"
            ));
        }
    }

    // 4a. Our decoder on the oracle's slivers, against the oracle's metadata.
    let mut rng = SplitMix64::new(case.seed ^ 0xDEC0_DE00_0000_0000);
    decode_oracle_slivers::<Primary>(&mut rng, &sliver_dir, &their_meta, &data, nu, kp)?;
    decode_oracle_slivers::<Secondary>(&mut rng, &sliver_dir, &their_meta, &data, nu, ks)?;

    // 4b. The oracle's decoder on our primary slivers (see ORACLE_DECODES_UP_TO_N).
    if n <= ORACLE_DECODES_UP_TO_N {
        let (rows, rows_desc) = pick(&mut rng, nu, kp);
        let ours_dir = tmp.path().join("ours");
        io("creating the sliver folder", fs::create_dir(&ours_dir))?;
        for &p in &rows {
            io(
                "writing a sliver",
                fs::write(ours_dir.join(format!("{p}.primary.bcs")), ours.pairs[p].primary.to_bcs()),
            )?;
        }
        let decoded_file = tmp.path().join("decoded.bin");
        let t0 = Instant::now();
        oracle
            .run(&[
                "decode".into(),
                "--shards".into(),
                n.to_string(),
                // `=`: a blob ID may start with '-', which parseArgs would take for an option.
                format!("--blob-id={}", meta.blob_id()),
                "--size".into(),
                case.size.to_string(),
                "--slivers".into(),
                path_arg(&ours_dir),
                "--out".into(),
                path_arg(&decoded_file),
                "--verify".into(),
            ])
            .map_err(|e| format!("oracle decode of our primary slivers ({rows_desc}): {e}"))?;
        t.oracle_decode = t0.elapsed();
        let decoded = io("reading the oracle's decoded blob", fs::read(&decoded_file))?;
        same_blob(&format!("oracle decode of our primary slivers ({rows_desc})"), &decoded, &data)?;
    }

    if let Some(e) = parse_error {
        return Err(format!("{e} (everything else matches)"));
    }
    t.total = start.elapsed();
    Ok(t)
}

fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic".into())
}

#[test]
fn matches_the_official_encoder() {
    let oracle = Oracle::locate();
    let mut cases = all_cases();
    // To rerun one failing case: WALRUS_ORACLE_FILTER="n=5 size=786408 " (a label substring).
    if let Ok(filter) = std::env::var("WALRUS_ORACLE_FILTER") {
        cases.retain(|c| c.label().contains(&filter));
        assert!(!cases.is_empty(), "WALRUS_ORACLE_FILTER={filter:?} selects no case");
    }
    // Longest first, so the workers finish together.
    cases.sort_by_key(|c| Reverse(c.cost()));
    let threads = std::env::var("WALRUS_ORACLE_THREADS").map_or(THREADS, |v| v.parse().expect("a thread count"));

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let done: Mutex<Vec<(usize, Timings)>> = Mutex::new(Vec::new());
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| loop {
                if failures.lock().unwrap().len() >= MAX_FAILURES {
                    break;
                }
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(case) = cases.get(i) else { break };
                let result = panic::catch_unwind(AssertUnwindSafe(|| run_case(case, &oracle)))
                    .unwrap_or_else(|payload| Err(format!("panicked: {}", panic_message(&*payload))));
                match result {
                    Ok(t) => done.lock().unwrap().push((i, t)),
                    Err(e) => failures.lock().unwrap().push(format!("{}: {e}", case.label())),
                }
            });
        }
    });

    let mut done = done.into_inner().unwrap();
    done.sort_by_key(|(i, _)| *i);
    let mut report = String::new();
    for (i, t) in &done {
        writeln!(
            report,
            "ok {:>6.2}s (oracle encode {:>5.2}s, ours {:>5.2}s, oracle decode {:>5.2}s)  {}",
            t.total.as_secs_f64(),
            t.oracle_encode.as_secs_f64(),
            t.our_encode.as_secs_f64(),
            t.oracle_decode.as_secs_f64(),
            cases[*i].label()
        )
        .unwrap();
    }
    eprint!("{report}");
    let failures = failures.into_inner().unwrap();
    eprintln!(
        "{} of {} cases match the official encoder ({} failed, {} not run) in {:.1}s",
        done.len(),
        cases.len(),
        failures.len(),
        cases.len() - done.len() - failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} case(s) differ from the official encoder:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// The case list itself: named shard counts all present, sizes within the limits, seeds
/// distinct, and the big cases there. Cheap, and runs without Node.
#[test]
fn case_list_is_as_intended() {
    let cases = all_cases();
    for n in NAMED_N {
        assert!(cases.iter().any(|c| c.n == n), "n={n} missing");
    }
    assert!(cases.iter().any(|c| c.n == 1000 && c.size >= 20 * MIB), "no ≥20 MiB case at n=1000");
    assert!(cases.iter().any(|c| c.n <= 64 && c.size >= 8 * MIB), "no 8 MiB case at a small n");
    assert!(cases.iter().any(|c| c.size == 0));
    assert!(cases.iter().any(|c| c.size == max_blob_size(c.n)), "no maximum-size case");
    let seeds: std::collections::BTreeSet<u64> = cases.iter().map(|c| c.seed).collect();
    assert_eq!(seeds.len(), cases.len(), "two cases share a seed");
    let random = cases.iter().filter(|c| c.origin.starts_with("random")).count();
    let symbol_sizes: std::collections::BTreeSet<u64> =
        cases.iter().map(|c| c.size.max(1).div_ceil(source_symbols(c.n)).next_multiple_of(2)).collect();
    eprintln!(
        "{} cases ({random} random), {} distinct symbol sizes, largest {} bytes",
        cases.len(),
        symbol_sizes.len(),
        cases.iter().map(|c| c.size).max().unwrap()
    );
}
