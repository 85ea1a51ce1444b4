//! The client's speed and memory against the encoder's own, in the same run (issue 12's targets):
//! a testbed of 10 node processes at n = 1000, a 64 MiB blob stored with `walrus store`, read
//! with `walrus read` and streamed by the daemon's aggregator, each compared with the encoder
//! library encoding and decoding the same blob in this process.
//!
//! The client runs as a child process so that its peak RSS (`VmHWM`, polled) and CPU time
//! (`wait4`) are its own. Besides wall-clock medians it prints CPU seconds (client and nodes) and the
//! nodes' disk writes, which say where the time goes on a loaded machine.
//!
//! `cargo build --release --workspace --bins && cargo bench -p walrus-client --bench store_read`
//! Environment: `BENCH_BLOB_MIB` (64), `BENCH_RUNS` (3), `BENCH_SHARDS` (1000), `BENCH_NODES` (10),
//! `BENCH_WALRUS` (another `walrus` binary to time, e.g. an older build).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;
use walrus_encoder::{decode, encode, ConsistencyCheck, Primary, Sliver};

const MIB: usize = 1 << 20;

fn env_or(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(text) => text.parse().with_context(|| format!("{name}={text:?} is not a number")),
        Err(_) => Ok(default),
    }
}

/// Deterministic bytes that do not compress (splitmix64).
fn blob_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    sorted[sorted.len() / 2]
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map_or_else(|_| "?".into(), |l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

/// CPU seconds (user + system) this process has used.
fn own_cpu() -> f64 {
    // SAFETY: getrusage only writes the struct it is given.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    timeval(usage.ru_utime) + timeval(usage.ru_stime)
}

fn timeval(t: libc::timeval) -> f64 {
    t.tv_sec as f64 + t.tv_usec as f64 / 1e6
}

/// CPU seconds and bytes written to disk by the processes `pids`, from /proc.
fn usage_of(pids: &[u32]) -> (f64, u64) {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    let mut cpu = 0.0;
    let mut written = 0;
    for pid in pids {
        if let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // Fields after the command name (which may hold spaces): utime and stime are 14, 15.
            let rest = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
            let fields: Vec<&str> = rest.split_whitespace().collect();
            let field = |i: usize| fields.get(i - 3).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
            cpu += (field(14) + field(15)) / ticks;
        }
        if let Ok(io) = std::fs::read_to_string(format!("/proc/{pid}/io")) {
            written += io
                .lines()
                .find_map(|l| l.strip_prefix("write_bytes:"))
                .and_then(|v| v.trim().parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    (cpu, written)
}

/// What one run of a child process cost.
struct ChildRun {
    wall: f64,
    cpu: f64,
    max_rss_mib: f64,
    stdout: String,
}

/// Runs `command` to its end, with its own CPU time (`wait4`) and peak RSS. The peak is
/// polled from `VmHWM`: `ru_maxrss` would count this process's memory, which the child
/// shares until it execs.
fn run_child(command: &mut Command, what: &str) -> Result<ChildRun> {
    let started = Instant::now();
    let out = tempfile::NamedTempFile::new()?;
    let child =
        command.stdout(out.reopen()?).stderr(Stdio::inherit()).spawn().with_context(|| format!("starting {what}"))?;
    let pid = child.id() as libc::pid_t;
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let poller = {
        let (done, pid) = (done.clone(), child.id());
        std::thread::spawn(move || {
            let mut peak: f64 = 0.0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let now = peak_rss_mib(pid);
                if now.is_finite() {
                    peak = peak.max(now);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            peak
        })
    };
    let mut status = 0;
    // SAFETY: waits for our own child and writes only the two values it is given; std's handle
    // is not waited on afterwards.
    let usage = unsafe {
        let mut usage = std::mem::zeroed::<libc::rusage>();
        ensure!(libc::wait4(pid, &mut status, 0, &mut usage) == pid, "wait4 on {what} failed");
        usage
    };
    let wall = started.elapsed().as_secs_f64();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let max_rss_mib = poller.join().expect("the poller does not panic");
    let stdout = std::fs::read_to_string(out.path())?;
    ensure!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "{what} failed (status {status}): {stdout}");
    Ok(ChildRun { wall, cpu: timeval(usage.ru_utime) + timeval(usage.ru_stime), max_rss_mib, stdout })
}

/// A child process stopped with SIGTERM when dropped.
struct Background(Child);

impl Drop for Background {
    fn drop(&mut self) {
        // SAFETY: signals our own child.
        unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peak_rss_mib(pid: u32) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("VmHWM:")).map(|v| v.trim().trim_end_matches(" kB").trim().to_owned())
        })
        .and_then(|kb| kb.parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

struct Row {
    name: &'static str,
    walls: Vec<f64>,
    cpus: Vec<f64>,
    node_cpus: Vec<f64>,
    node_written: Vec<u64>,
    rss: Vec<f64>,
}

impl Row {
    fn new(name: &'static str) -> Self {
        Self { name, walls: vec![], cpus: vec![], node_cpus: vec![], node_written: vec![], rss: vec![] }
    }

    fn print(&self, reference: Option<(&str, f64)>, blob_mib: f64) {
        let wall = median(&self.walls);
        let ratio = reference.map_or(String::new(), |(name, r)| format!("  = {:.2}x {name}", wall / r));
        let extra =
            |v: &[f64], label: &str| if v.is_empty() { String::new() } else { format!(", {label} {:.2} s", median(v)) };
        let rss = if self.rss.is_empty() {
            String::new()
        } else {
            let rss = self.rss.iter().copied().fold(0.0, f64::max);
            format!(", peak RSS {rss:.0} MiB ({:.2}x blob)", rss / blob_mib)
        };
        let written = if self.node_written.is_empty() {
            String::new()
        } else {
            let mut w: Vec<f64> = self.node_written.iter().map(|&b| b as f64 / MIB as f64).collect();
            w.sort_by(f64::total_cmp);
            format!(", nodes wrote {:.0} MiB", w[w.len() / 2])
        };
        println!(
            "{:<22} median {wall:7.2} s{ratio}  (runs: {}; CPU {:.2} s{}{written}{rss})",
            self.name,
            self.walls.iter().map(|w| format!("{w:.2}")).collect::<Vec<_>>().join(" "),
            median(&self.cpus),
            extra(&self.node_cpus, "nodes CPU"),
        );
    }
}

fn wait_for_testbed(dir: &Path, stdout: &Path, testbed: &mut Child) -> Result<Value> {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(status) = testbed.try_wait()? {
            bail!("walrus-testbed exited while starting ({status}); see {}", dir.join("testbed.log").display());
        }
        let ready = std::fs::read_to_string(stdout).is_ok_and(|out| out.contains("walrus-testbed: ready"));
        if ready {
            let text = std::fs::read_to_string(dir.join("testbed.json"))?;
            return Ok(serde_json::from_str(&text)?);
        }
        ensure!(Instant::now() < deadline, "the testbed was not ready after 10 minutes");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn free_port() -> Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// GETs the blob from the aggregator, comparing the bytes as they arrive; returns (seconds to
/// the first byte, seconds to the last).
async fn stream_get(http: &reqwest::Client, url: &str, expected: &[u8]) -> Result<(f64, f64)> {
    let started = Instant::now();
    let mut response = http.get(url).send().await?;
    ensure!(response.status().is_success(), "GET {url}: HTTP {}", response.status());
    let mut first = None;
    let mut at = 0;
    while let Some(chunk) = response.chunk().await? {
        first.get_or_insert_with(|| started.elapsed().as_secs_f64());
        ensure!(expected.get(at..at + chunk.len()) == Some(&chunk[..]), "the aggregator served wrong bytes at {at}");
        at += chunk.len();
    }
    ensure!(at == expected.len(), "the aggregator served {at} bytes of {}", expected.len());
    Ok((first.unwrap_or(0.0), started.elapsed().as_secs_f64()))
}

fn main() -> Result<()> {
    if std::env::args().any(|a| a == "--list") {
        return Ok(()); // `cargo bench -- --list` and test discovery: nothing to list.
    }
    let blob_mib = env_or("BENCH_BLOB_MIB", 64)?;
    let runs = env_or("BENCH_RUNS", 3)?.max(1);
    let n_shards = u16::try_from(env_or("BENCH_SHARDS", 1000)?)?;
    let n_nodes = env_or("BENCH_NODES", 10)?;
    let size = blob_mib * MIB;
    // target/release/deps/store_read-… → target/release, where the binaries are.
    let exe = std::env::current_exe()?;
    let bin_dir: PathBuf = exe.parent().and_then(Path::parent).context("bench binary has no folder")?.to_owned();
    for name in ["walrus", "walrus-testbed", "walrus-node", "walrus-localchain"] {
        ensure!(
            bin_dir.join(name).is_file(),
            "{} missing: build the binaries first (cargo build --release --workspace --bins)",
            bin_dir.join(name).display()
        );
    }
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    println!("store_read: {blob_mib} MiB blob, n = {n_shards}, {n_nodes} nodes, {runs} runs, {cores} cores");
    println!("load average at start: {}", load_average());

    let work = tempfile::Builder::new().prefix("walrus-store-read-").tempdir()?;
    let blobs: Vec<PathBuf> = (0..runs)
        .map(|i| {
            let path = work.path().join(format!("blob-{i}"));
            std::fs::write(&path, blob_bytes(i as u64 + 1, size))?;
            Ok(path)
        })
        .collect::<Result<_>>()?;

    // The reference: the encoder library in this process, on the same blobs.
    let mut encode_row = Row::new("encoder: encode");
    let mut decode_row = Row::new("encoder: decode");
    for path in &blobs {
        let blob = std::fs::read(path)?;
        let (t, cpu) = (Instant::now(), own_cpu());
        let encoded = encode(n_shards, &blob)?;
        encode_row.walls.push(t.elapsed().as_secs_f64());
        encode_row.cpus.push(own_cpu() - cpu);
        let kp = usize::from(encoded.metadata.layout().params().primary_source_symbols());
        // kp primary slivers of every third pair, as a read gets them from all nodes.
        let picks: Vec<Sliver<Primary>> = encoded
            .pairs
            .iter()
            .step_by(3)
            .chain(encoded.pairs.iter().skip(1).step_by(3))
            .take(kp)
            .map(|p| p.primary.clone())
            .collect();
        let metadata = encoded.metadata.clone();
        drop(encoded);
        let (t, cpu) = (Instant::now(), own_cpu());
        let decoded = decode(&metadata, &picks, ConsistencyCheck::Default)?;
        decode_row.walls.push(t.elapsed().as_secs_f64());
        decode_row.cpus.push(own_cpu() - cpu);
        ensure!(decoded == blob, "the encoder's own decoding differs from the blob");
    }

    // The testbed.
    let testbed_dir = work.path().join("testbed");
    let stdout_path = work.path().join("testbed.stdout");
    let started = Instant::now();
    let mut testbed = Command::new(bin_dir.join("walrus-testbed"));
    testbed
        .args(["up", "--nodes", &n_nodes.to_string(), "--shards", &n_shards.to_string(), "--dir"])
        .arg(&testbed_dir)
        .env_remove("DATABASE_URL")
        .stdout(std::fs::File::create(&stdout_path)?)
        .stderr(std::fs::File::create(work.path().join("testbed.log"))?);
    let mut testbed = Background(testbed.spawn().context("starting walrus-testbed")?);
    let description = wait_for_testbed(&testbed_dir, &stdout_path, &mut testbed.0)?;
    println!("testbed up in {:.1} s", started.elapsed().as_secs_f64());
    let node_pids: Vec<u32> = description["nodes"]
        .as_array()
        .context("testbed.json has no nodes")?
        .iter()
        .filter_map(|n| n["pid"].as_u64().map(|p| p as u32))
        .collect();
    let config = description["client_config"].as_str().context("testbed.json has no client_config")?.to_owned();
    // Another `walrus` binary (an older build, to compare) may be named.
    let walrus = std::env::var_os("BENCH_WALRUS").map_or_else(|| bin_dir.join("walrus"), PathBuf::from);
    println!("client binary: {}", walrus.display());

    let mut store_row = Row::new("walrus store");
    let mut blob_ids = Vec::new();
    for path in &blobs {
        let (node_cpu, node_written) = usage_of(&node_pids);
        let run = run_child(
            Command::new(&walrus).args(["--config", &config, "--json", "store", "--epochs", "1"]).arg(path),
            "walrus store",
        )?;
        let (node_cpu_after, node_written_after) = usage_of(&node_pids);
        let result: Value = serde_json::from_str(run.stdout.trim())?;
        let blob_id = result[0]["blobStoreResult"]["newlyCreated"]["blobObject"]["blobId"]
            .as_str()
            .with_context(|| format!("walrus store printed no new blob ID: {}", run.stdout))?
            .to_owned();
        blob_ids.push(blob_id);
        store_row.walls.push(run.wall);
        store_row.cpus.push(run.cpu);
        store_row.rss.push(run.max_rss_mib);
        store_row.node_cpus.push(node_cpu_after - node_cpu);
        store_row.node_written.push(node_written_after - node_written);
    }

    let mut read_row = Row::new("walrus read");
    for (i, (blob_id, path)) in blob_ids.iter().zip(&blobs).enumerate() {
        let out = work.path().join(format!("read-{i}"));
        let (node_cpu, _) = usage_of(&node_pids);
        let run = run_child(
            Command::new(&walrus).args(["--config", &config, "read", blob_id, "--out"]).arg(&out),
            "walrus read",
        )?;
        read_row.node_cpus.push(usage_of(&node_pids).0 - node_cpu);
        ensure!(std::fs::read(&out)? == std::fs::read(path)?, "walrus read returned other bytes");
        std::fs::remove_file(&out)?;
        read_row.walls.push(run.wall);
        read_row.cpus.push(run.cpu);
        read_row.rss.push(run.max_rss_mib);
    }

    // The aggregator.
    let port = free_port()?;
    let daemon = Command::new(&walrus)
        .args(["--config", &config, "daemon", "--listen", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .spawn()
        .context("starting walrus daemon")?;
    let daemon = Background(daemon);
    let daemon_pid = daemon.0.id();
    let mut get_row = Row::new("aggregator GET");
    let mut first_bytes = Vec::new();
    let runtime = tokio::runtime::Runtime::new()?;
    runtime.block_on(async {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(30);
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            ensure!(Instant::now() < deadline, "the daemon did not listen within 30 s");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        for (blob_id, path) in blob_ids.iter().zip(&blobs) {
            let expected = std::fs::read(path)?;
            let (node_cpu, _) = usage_of(&node_pids);
            let (daemon_cpu, _) = usage_of(&[daemon_pid]);
            let (first, total) =
                stream_get(&http, &format!("http://127.0.0.1:{port}/v1/blobs/{blob_id}"), &expected).await?;
            get_row.cpus.push(usage_of(&[daemon_pid]).0 - daemon_cpu);
            get_row.node_cpus.push(usage_of(&node_pids).0 - node_cpu);
            get_row.walls.push(total);
            first_bytes.push(first);
        }
        anyhow::Ok(())
    })?;
    get_row.rss.push(peak_rss_mib(daemon_pid));
    drop(daemon);
    drop(testbed);

    let encode_ref = median(&encode_row.walls);
    let decode_ref = median(&decode_row.walls);
    let mib = blob_mib as f64;
    println!();
    encode_row.print(None, mib);
    decode_row.print(None, mib);
    store_row.print(Some(("encode (target <= 2.5x)", encode_ref)), mib);
    read_row.print(Some(("decode (target <= 2x)", decode_ref)), mib);
    get_row.print(Some(("decode (target <= 2.5x)", decode_ref)), mib);
    println!("aggregator first byte  median {:.2} s (daemon RSS is its peak over all GETs)", median(&first_bytes));
    println!("load average at end: {}", load_average());
    Ok(())
}
