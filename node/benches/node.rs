//! Storage-node throughput over loopback, with the real HTTP API and the real store on disk.
//!
//! `cargo bench -p walrus-node --bench node [-- ingest|sync]`
//!
//! 1. Ingest: one node, run as a child process (this binary re-executed) so its peak RSS is
//!    its own, owns all 1000 shards and receives every sliver of a 256 MiB blob from 8
//!    concurrent uploaders; then confirmation latency, then 8 concurrent readers fetch every
//!    sliver back. Three runs, each storing the blob under a new object and deleting it after,
//!    so the node ingests about 3.6 GB in all; its `VmHWM` is read at the end.
//! 2. Blob sync: ten nodes with 100 of 1000 shards each; nine, in this process, hold their
//!    slivers of 1 MiB blobs; the tenth, a child process so that its CPU time is measured apart
//!    from the servers', receives only the certifications and rebuilds its slivers from the
//!    others' recovery symbols.

use std::io::{BufRead, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use walrus_encoder::{encode, ShardIndex, ShardRotation};
use walrus_node::keys::ProtocolKey;
use walrus_node::{ChainUpdate, Committee, EventId, Member, Node, ObjectId};

const N_SHARDS: u16 = 1000;
const INGEST_BLOB: usize = 256 << 20;
const INGEST_RUNS: u8 = 3;
const UPLOADERS: usize = 8;
const CONFIRMATIONS: usize = 200;
const SYNC_NODES: usize = 10;
const SYNC_BLOB: usize = 1 << 20;
const SYNC_BLOBS: u8 = 80;
/// The argument that makes this binary the ingest node instead of the bench.
const CHILD: &str = "--node-child";

fn main() {
    let args: Vec<String> = std::env::args().skip(1).filter(|a| !a.starts_with("--bench")).collect();
    if args.first().map(String::as_str) == Some(CHILD) {
        return child(Path::new(&args[1]), args[2].parse().unwrap());
    }
    let filter = args.first().cloned().unwrap_or_default();
    tracing_subscriber::fmt().with_env_filter(tracing_subscriber::EnvFilter::from_default_env()).init();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    println!("machine: {} cores", std::thread::available_parallelism().map_or(0, |n| n.get()));
    if "ingest".contains(filter.as_str()) {
        runtime.block_on(ingest());
    }
    if "sync".contains(filter.as_str()) {
        runtime.block_on(sync());
    }
}

/// SplitMix64 bytes, as the encoder's bench uses.
fn blob_data(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E3779B97F4A7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58476D1CE4E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D049BB133111EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

fn key(i: usize) -> ProtocolKey {
    let mut secret = [0u8; 32];
    secret[31] = i as u8 + 1;
    ProtocolKey::from_secret(&secret).unwrap()
}

fn node_id(i: usize) -> ObjectId {
    ObjectId([0xa0 + i as u8; 32])
}

fn event() -> EventId {
    EventId { tx_digest: [7; 32], event_seq: 0 }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1e3
}

/// User plus system CPU seconds used so far by process `pid` ("self" for this one), from
/// `/proc` (clock ticks of 1/100 s, as on every Linux x86 build).
fn cpu_seconds(pid: &str) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat[stat.rfind(')').unwrap() + 2..].split(' ').collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the command name.
    (fields[11].parse::<f64>().unwrap() + fields[12].parse::<f64>().unwrap()) / 100.0
}

/// The machine's 1-minute load average: other work on it slows the figures down.
fn load() -> String {
    std::fs::read_to_string("/proc/loadavg").unwrap().split(' ').next().unwrap().to_owned()
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

// ---- the ingest node, as a child process ----

/// Serves node number `index` (its key and ID) from `dir`, prints its address, then applies the
/// chain updates it reads from stdin, one JSON `[checkpoint, [update, ...]]` a line, answering
/// each with a line.
fn child(dir: &Path, index: usize) {
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let node = Node::open(dir, key(index), node_id(index), Duration::from_secs(1)).unwrap();
        let (addr, _server) = node.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
        println!("{addr}");
        loop {
            let line = tokio::task::spawn_blocking(|| {
                let mut line = String::new();
                std::io::stdin().lock().read_line(&mut line).map(|n| (n > 0).then_some(line))
            })
            .await
            .unwrap()
            .unwrap();
            let Some(line) = line else { return };
            let (checkpoint, updates): (u64, Vec<ChainUpdate>) = serde_json::from_str(&line).unwrap();
            assert!(node.apply(checkpoint, &updates).unwrap());
            println!("applied {checkpoint}");
        }
    });
}

struct ChildNode {
    process: Child,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStdout>>,
    addr: String,
    checkpoint: u64,
}

impl ChildNode {
    fn start(dir: &Path, index: usize) -> Self {
        let mut process = Command::new(std::env::current_exe().unwrap())
            .arg(CHILD)
            .arg(dir)
            .arg(index.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut lines = std::io::BufReader::new(process.stdout.take().unwrap()).lines();
        let addr = lines.next().unwrap().unwrap();
        Self { process, lines, addr, checkpoint: 0 }
    }

    fn apply(&mut self, updates: Vec<ChainUpdate>) {
        self.checkpoint += 1;
        let stdin = self.process.stdin.as_mut().unwrap();
        writeln!(stdin, "{}", serde_json::to_string(&(self.checkpoint, updates)).unwrap()).unwrap();
        assert_eq!(self.lines.next().unwrap().unwrap(), format!("applied {}", self.checkpoint));
    }

    fn cpu_seconds(&self) -> f64 {
        cpu_seconds(&self.process.id().to_string())
    }

    /// The node's peak resident set so far, in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.process.id())).unwrap();
        let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
        let kib: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
        kib / 1024.0
    }

    fn stop(mut self) {
        drop(self.process.stdin.take());
        self.process.wait().unwrap();
    }
}

// ---- ingest, confirmation, serving ----

async fn ingest() {
    let started = Instant::now();
    let data = blob_data(INGEST_BLOB, 42);
    let encoded = encode(N_SHARDS, &data).unwrap();
    drop(data);
    let blob_id = encoded.metadata.blob_id();
    let metadata = Bytes::from(bcs::to_bytes(encoded.metadata.metadata()).unwrap());
    // Bodies per pair: primary, secondary.
    let bodies: Arc<Vec<[Bytes; 2]>> = Arc::new(
        encoded.pairs.iter().map(|p| [Bytes::from(p.primary.to_bcs()), Bytes::from(p.secondary.to_bcs())]).collect(),
    );
    drop(encoded);
    let sliver_bytes: usize = bodies.iter().map(|[p, s]| p.len() + s.len()).sum();
    println!(
        "ingest: 256 MiB blob, n = {N_SHARDS}, {} slivers, {:.1} MB of sliver bodies (encoded in {:.1} s)",
        bodies.len() * 2,
        sliver_bytes as f64 / 1e6,
        started.elapsed().as_secs_f64()
    );

    let dir = tempfile::tempdir().unwrap();
    let mut node = ChildNode::start(dir.path(), 0);
    let member = Member {
        node_id: node_id(0),
        public_key: key(0).public_key().to_vec(),
        shards: (0..N_SHARDS).collect(),
        network_address: node.addr.clone(),
    };
    node.apply(vec![ChainUpdate::EpochStarted(Committee { epoch: 1, members: vec![member] })]);
    let client = reqwest::Client::new();
    let base = format!("http://{}/v1/blobs/{blob_id}", node.addr);
    let (mut ingest_rates, mut serve_rates, mut p50s, mut p99s) = (vec![], vec![], vec![], vec![]);
    for run in 1..=INGEST_RUNS {
        let object_id = ObjectId([run; 32]);
        node.apply(vec![ChainUpdate::BlobRegistered {
            blob_id,
            object_id,
            end_epoch: 100,
            deletable: false,
            event: event(),
        }]);
        let status = client.put(format!("{base}/metadata")).body(metadata.clone()).send().await.unwrap().status();
        assert_eq!(status, 201);

        let cpu = node.cpu_seconds();
        let secs = upload_all(&client, &base, &bodies).await;
        let ingest = sliver_bytes as f64 / 1e6 / secs;
        let cpu = node.cpu_seconds() - cpu;

        let mut latencies = Vec::new();
        for _ in 0..CONFIRMATIONS {
            let t = Instant::now();
            let response = client.get(format!("{base}/confirmation/permanent")).send().await.unwrap();
            assert_eq!(response.status(), 200);
            response.bytes().await.unwrap();
            latencies.push(t.elapsed());
        }
        latencies.sort();
        let (p50, p99) = (percentile(&latencies, 0.5), percentile(&latencies, 0.99));

        let secs = download_all(&client, &base, &bodies).await;
        let serve = sliver_bytes as f64 / 1e6 / secs;
        println!(
            "ingest run {run}: ingest {ingest:.0} MB/s (node CPU {cpu:.1} s), confirmation p50 {p50:.2} ms \
             p99 {p99:.2} ms, serve {serve:.0} MB/s, node peak RSS {:.0} MiB, load {}",
            node.peak_rss_mib(),
            load()
        );
        ingest_rates.push(ingest);
        serve_rates.push(serve);
        p50s.push(p50);
        p99s.push(p99);
        node.apply(vec![ChainUpdate::BlobDeleted { blob_id, object_id }]);
    }
    let rss = node.peak_rss_mib();
    println!(
        "ingest median: {:.0} MB/s (target >= 400), serve {:.0} MB/s (target >= 1000), confirmation p50 {:.2} ms \
         p99 {:.2} ms (target < 5), node peak RSS {rss:.0} MiB after {:.1} GB ingested (target < 512)",
        median(ingest_rates),
        median(serve_rates),
        median(p50s),
        median(p99s),
        sliver_bytes as f64 * f64::from(INGEST_RUNS) / 1e9,
    );
    node.stop();
}

/// PUTs every sliver with [`UPLOADERS`] concurrent clients; returns the seconds taken.
async fn upload_all(client: &reqwest::Client, base: &str, bodies: &Arc<Vec<[Bytes; 2]>>) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..UPLOADERS)
        .map(|_| {
            let (client, base, bodies, next) = (client.clone(), base.to_owned(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(pair) = bodies.get(i / 2) else { return };
                    let axis = if i % 2 == 0 { "primary" } else { "secondary" };
                    let response = client
                        .put(format!("{base}/slivers/{}/{axis}", i / 2))
                        .header("content-type", "application/octet-stream")
                        .body(pair[i % 2].clone())
                        .send()
                        .await
                        .unwrap();
                    let status = response.status();
                    let text = response.text().await.unwrap();
                    assert_eq!(status, 201, "{text}");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// GETs every sliver with [`UPLOADERS`] concurrent clients and checks it; returns the seconds.
async fn download_all(client: &reqwest::Client, base: &str, bodies: &Arc<Vec<[Bytes; 2]>>) -> f64 {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let tasks: Vec<_> = (0..UPLOADERS)
        .map(|_| {
            let (client, base, bodies, next) = (client.clone(), base.to_owned(), bodies.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(pair) = bodies.get(i / 2) else { return };
                    let axis = if i % 2 == 0 { "primary" } else { "secondary" };
                    let response = client.get(format!("{base}/slivers/{}/{axis}", i / 2)).send().await.unwrap();
                    assert_eq!(response.status(), 200);
                    assert!(response.bytes().await.unwrap() == pair[i % 2], "sliver {i} differs");
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    started.elapsed().as_secs_f64()
}

// ---- blob sync ----

async fn sync() {
    let dirs: Vec<_> = (0..SYNC_NODES).map(|_| tempfile::tempdir().unwrap()).collect();
    let per_node = usize::from(N_SHARDS) / SYNC_NODES;
    let lagging = SYNC_NODES - 1;
    // The syncing node runs as a child process, so that its CPU time is its own; the nine
    // holders serve from this process.
    let mut syncing = ChildNode::start(dirs[lagging].path(), lagging);
    let mut holders = Vec::new();
    let mut members = Vec::new();
    for (i, dir) in dirs.iter().enumerate() {
        let addr = if i == lagging {
            syncing.addr.clone()
        } else {
            let node = Node::open(dir.path(), key(i), node_id(i), Duration::from_secs(1)).unwrap();
            let (addr, _) = node.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
            holders.push((node, addr.to_string()));
            addr.to_string()
        };
        // Shards dealt round-robin, as a committee's assignment spreads them.
        let shards = (0..N_SHARDS).filter(|s| usize::from(*s) % SYNC_NODES == i).collect::<Vec<_>>();
        assert_eq!(shards.len(), per_node);
        members.push(Member {
            node_id: node_id(i),
            public_key: key(i).public_key().to_vec(),
            shards,
            network_address: addr,
        });
    }
    let committee = Committee { epoch: 1, members };
    let mut checkpoint = 1;
    for (node, _) in &holders {
        node.apply(checkpoint, &[ChainUpdate::EpochStarted(committee.clone())]).unwrap();
    }
    syncing.apply(vec![ChainUpdate::EpochStarted(committee.clone())]);

    let started = Instant::now();
    let blobs: Vec<_> =
        (0..SYNC_BLOBS).map(|b| encode(N_SHARDS, &blob_data(SYNC_BLOB, u64::from(b))).unwrap()).collect();
    println!("sync: {SYNC_BLOBS} blobs of 1 MiB encoded in {:.1} s", started.elapsed().as_secs_f64());
    let object = |b: u8| ObjectId([b + 1; 32]);
    let registrations: Vec<_> = blobs
        .iter()
        .zip(0..)
        .map(|(blob, b)| ChainUpdate::BlobRegistered {
            blob_id: blob.metadata.blob_id(),
            object_id: object(b),
            end_epoch: 100,
            deletable: false,
            event: event(),
        })
        .collect();
    checkpoint += 1;
    for (node, _) in &holders {
        node.apply(checkpoint, &registrations).unwrap();
    }
    syncing.apply(registrations);
    let client = reqwest::Client::new();
    // The holders receive their slivers in parallel, one uploader each.
    let blobs = Arc::new(blobs);
    let mut uploads = tokio::task::JoinSet::new();
    for (i, (_, addr)) in holders.iter().enumerate() {
        let (client, blobs, addr) = (client.clone(), blobs.clone(), addr.clone());
        let shards = committee.members[i].shards.clone();
        uploads.spawn(async move {
            for blob in blobs.iter() {
                let blob_id = blob.metadata.blob_id();
                let rotation = ShardRotation::new(&blob_id, N_SHARDS);
                let base = format!("http://{addr}/v1/blobs/{blob_id}");
                let metadata = bcs::to_bytes(blob.metadata.metadata()).unwrap();
                assert_eq!(client.put(format!("{base}/metadata")).body(metadata).send().await.unwrap().status(), 201);
                for &shard in &shards {
                    let pair = rotation.pair_on(ShardIndex(shard));
                    let slivers = &blob.pairs[usize::from(pair.0)];
                    for (axis, body) in
                        [("primary", slivers.primary.to_bcs()), ("secondary", slivers.secondary.to_bcs())]
                    {
                        let url = format!("{base}/slivers/{}/{axis}", pair.0);
                        assert_eq!(client.put(url).body(body).send().await.unwrap().status(), 201);
                    }
                }
            }
        });
    }
    while let Some(upload) = uploads.join_next().await {
        upload.unwrap();
    }
    let certifications: Vec<_> = blobs
        .iter()
        .zip(0..)
        .map(|(blob, b)| ChainUpdate::BlobCertified {
            blob_id: blob.metadata.blob_id(),
            object_id: object(b),
            end_epoch: 100,
            deletable: false,
            event: event(),
        })
        .collect();
    checkpoint += 1;
    for (node, _) in &holders {
        node.apply(checkpoint, &certifications).unwrap();
    }
    // Let the holders' own sync checks (nothing to do) settle before timing.
    wait_synced(&client, &holders[0].1, SYNC_BLOBS).await;

    println!("sync: slivers stored on {lagging} nodes; the last one (a child process) syncs now");
    let (started, servers_cpu, syncing_cpu) = (Instant::now(), cpu_seconds("self"), syncing.cpu_seconds());
    syncing.apply(certifications);
    wait_synced(&client, &syncing.addr, SYNC_BLOBS).await;
    let secs = started.elapsed().as_secs_f64();
    let (servers_cpu, syncing_cpu) = (cpu_seconds("self") - servers_cpu, syncing.cpu_seconds() - syncing_cpu);

    // Everything the syncing node rebuilt is what the encoder produced.
    for blob in blobs.iter() {
        let blob_id = blob.metadata.blob_id();
        let rotation = ShardRotation::new(&blob_id, N_SHARDS);
        for &shard in &committee.members[lagging].shards {
            let pair = rotation.pair_on(ShardIndex(shard));
            let slivers = &blob.pairs[usize::from(pair.0)];
            for (axis, body) in [("primary", slivers.primary.to_bcs()), ("secondary", slivers.secondary.to_bcs())] {
                let url = format!("http://{}/v1/blobs/{blob_id}/slivers/{}/{axis}", syncing.addr, pair.0);
                let response = client.get(url).send().await.unwrap();
                assert_eq!(response.status(), 200);
                assert!(response.bytes().await.unwrap() == body, "rebuilt {axis} sliver {} differs", pair.0);
            }
        }
    }
    let per_blob = |cpu: f64| cpu * 1e3 / f64::from(SYNC_BLOBS);
    println!(
        "sync: a node with {per_node} of {N_SHARDS} shards rebuilt its slivers of {SYNC_BLOBS} blobs of 1 MiB in \
         {secs:.2} s: {:.1} blobs/s (target >= 50); CPU per blob: syncing node {:.1} ms, the {lagging} serving \
         nodes {:.1} ms; load {}",
        f64::from(SYNC_BLOBS) / secs,
        per_blob(syncing_cpu),
        per_blob(servers_cpu),
        load()
    );
    syncing.stop();
}

/// Waits until the metrics of the node at `addr` count `blobs` blob syncs done.
async fn wait_synced(client: &reqwest::Client, addr: &str, blobs: u8) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let text = client.get(format!("http://{addr}/metrics")).send().await.unwrap().text().await.unwrap();
        let done: f64 = text
            .lines()
            .filter(|l| l.starts_with("blob_sync_blobs_total") && l.contains("outcome=\"done\""))
            .filter_map(|l| l.rsplit(" ").next()?.parse::<f64>().ok())
            .sum();
        let gave_up = text.lines().any(|l| l.contains("outcome=\"gave_up\""));
        assert!(!gave_up, "a blob sync gave up");
        if done >= f64::from(blobs) {
            return;
        }
        assert!(Instant::now() < deadline, "blob sync did not finish");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
