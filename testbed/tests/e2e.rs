//! End-to-end tests on a real testbed: `walrus-testbed up` as a user runs it (the local chain,
//! `walrus-node` processes, and the indexer when `DATABASE_URL` is set), driven through the
//! `walrus` binary with the testbed's `client.toml`, the daemon, and the nodes' and indexer's
//! APIs. Faults are real: nodes are killed with SIGKILL, started again with the command line
//! `testbed.json` records, or replaced on their ports by servers that lie or answer nonsense.
//! Each test brings up one testbed and runs its cases in sequence on it; every process a test
//! starts is stopped when it ends, panics included.

use std::fs::File;
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::Value;
use walrus_encoder::{BlobId, EncodedBlob, ShardIndex};

/// How long a testbed may take to come up (debug binaries on a busy machine).
const START_TIMEOUT: Duration = Duration::from_secs(180);
/// How long anything else awaited may take: a node restarting, blob sync, the indexer.
const WAIT: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);
const MIB: usize = 1 << 20;

fn binary(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_BIN_EXE_walrus-testbed")).with_file_name(name);
    assert!(
        path.is_file(),
        "{name} is not beside walrus-testbed: run `cargo build --workspace --bins` (or `cargo nextest run --workspace`)"
    );
    path
}

/// Starts `command`, killed by the kernel if this test's thread dies without cleaning up.
/// Must be called on the test's own thread (the signal is tied to the forking thread).
fn spawn_tied(command: &mut Command) -> Child {
    let parent = std::process::id() as libc::pid_t;
    // SAFETY: only async-signal-safe calls (prctl, getppid) between fork and exec.
    unsafe {
        command.pre_exec(move || {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 || libc::getppid() != parent {
                return Err(std::io::Error::other("cannot tie the child to the test"));
            }
            Ok(())
        });
    }
    command.spawn().unwrap_or_else(|e| panic!("starting {command:?}: {e}"))
}

fn send_signal(pid: u32, signal: libc::c_int) {
    // SAFETY: kill has no memory effects.
    unsafe { libc::kill(pid as libc::pid_t, signal) };
}

/// Kills and reaps `child` if it still runs.
fn stop_child(child: &mut Child) {
    if child.try_wait().ok().flatten().is_none() {
        send_signal(child.id(), libc::SIGKILL);
        child.wait().ok();
    }
}

/// Polls `probe` until it gives a value, failing after `limit` with the last reason.
async fn poll<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = Instant::now() + limit;
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(last) => assert!(Instant::now() < deadline, "waited {limit:?} for {what}; last: {last}"),
        }
        tokio::time::sleep(POLL).await;
    }
}

async fn get_json(http: &reqwest::Client, url: &str) -> Result<Value, String> {
    let response = http.get(url).send().await.map_err(|e| format!("GET {url}: {e}"))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    if !status.is_success() {
        return Err(format!("GET {url}: {status}: {body}"));
    }
    serde_json::from_str(&body).map_err(|e| format!("GET {url}: {e}: {body}"))
}

async fn body_json(response: reqwest::Response) -> Value {
    let body = response.bytes().await.unwrap();
    serde_json::from_slice(&body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&body)))
}

/// Deterministic bytes that differ with `seed`.
fn blob(len: usize, seed: u32) -> Vec<u8> {
    let mut state = u64::from(seed).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect()
}

/// What the `walrus` binary did.
struct Run {
    success: bool,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(self, what: &str) -> Self {
        assert!(self.success, "{what} failed:\n{}\n{}", self.stdout, self.stderr);
        assert!(!self.stderr.contains("panicked"), "{}", self.stderr);
        self
    }

    /// A failure with a clear message (no panic) containing every one of `expected`.
    fn fails_with(self, what: &str, expected: &[&str]) -> Self {
        assert!(!self.success, "{what} succeeded:\n{}", self.stdout);
        assert!(!self.stderr.contains("panicked"), "{what}: {}", self.stderr);
        for text in expected {
            assert!(self.stderr.contains(text), "{what}: no {text:?} in:\n{}", self.stderr);
        }
        self
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.stdout))
    }
}

/// One node of the testbed as `testbed.json` describes it.
struct Node {
    name: String,
    url: String,
    /// `host:port`, as the chain registers it and the client names it.
    address: String,
    port: u16,
    pid: u32,
    shards: Vec<u16>,
    command: Vec<String>,
    /// Started by the test after a kill (the testbed does not know it).
    restarted: Option<Child>,
    restarts: u32,
}

/// A running `walrus-testbed up`; stopped (with everything the test started) when dropped.
struct Testbed {
    work: tempfile::TempDir,
    process: Option<Child>,
    description: Value,
    nodes: Vec<Node>,
    daemons: Vec<Child>,
    http: reqwest::Client,
}

impl Testbed {
    fn up(nodes: u16, shards: u16) -> Self {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("tb");
        let mut command = Command::new(binary("walrus-testbed"));
        command
            .args(["up", "--tolerate-node-exits", "--nodes", &nodes.to_string(), "--shards", &shards.to_string()])
            .arg("--dir")
            .arg(&dir)
            .stdin(Stdio::null())
            .stdout(File::create(work.path().join("stdout")).unwrap())
            .stderr(File::create(work.path().join("stderr")).unwrap());
        let mut testbed = Self {
            process: Some(spawn_tied(&mut command)),
            work,
            description: Value::Null,
            nodes: Vec::new(),
            daemons: Vec::new(),
            http: reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap(),
        };
        let deadline = Instant::now() + START_TIMEOUT;
        let path = dir.join("testbed.json");
        let stdout = testbed.work.path().join("stdout");
        let announced = || std::fs::read_to_string(&stdout).is_ok_and(|out| out.contains("walrus-testbed: ready"));
        while !path.exists() || !announced() {
            if let Some(status) = testbed.process.as_mut().unwrap().try_wait().unwrap() {
                panic!("walrus-testbed up exited ({status}): {}", testbed.stderr());
            }
            assert!(Instant::now() < deadline, "not ready after {START_TIMEOUT:?}: {}", testbed.stderr());
            std::thread::sleep(Duration::from_millis(100));
        }
        testbed.description = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        testbed.nodes = testbed.description["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|node| {
                let url = node["url"].as_str().unwrap().to_owned();
                let address = url.trim_start_matches("http://").to_owned();
                Node {
                    name: node["name"].as_str().unwrap().to_owned(),
                    port: address.rsplit(':').next().unwrap().parse().unwrap(),
                    url,
                    address,
                    pid: node["pid"].as_u64().unwrap() as u32,
                    shards: node["shards"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap() as u16).collect(),
                    command: node["command"].as_array().unwrap().iter().map(|a| a.as_str().unwrap().into()).collect(),
                    restarted: None,
                    restarts: 0,
                }
            })
            .collect();
        testbed
    }

    fn stderr(&self) -> String {
        std::fs::read_to_string(self.work.path().join("stderr")).unwrap_or_default()
    }

    fn n_shards(&self) -> u16 {
        self.description["n_shards"].as_u64().unwrap() as u16
    }

    fn epoch(&self) -> u64 {
        self.description["chain"]["epoch"].as_u64().unwrap()
    }

    fn indexer(&self) -> Option<String> {
        self.description["indexer_url"].as_str().map(str::to_owned)
    }

    fn config(&self) -> &str {
        self.description["client_config"].as_str().unwrap()
    }

    fn path(&self, name: &str) -> PathBuf {
        self.work.path().join(name)
    }

    /// Writes `data` to a file of the work folder and returns its path.
    fn file(&self, name: &str, data: &[u8]) -> String {
        let path = self.path(name);
        std::fs::write(&path, data).unwrap();
        path.to_str().unwrap().to_owned()
    }

    fn walrus_command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(binary("walrus"));
        command.arg("--config").arg(self.config()).args(args).env_remove("WALRUS_CONFIG").stdin(Stdio::null());
        command
    }

    /// Runs the `walrus` binary with the testbed's `client.toml`.
    fn walrus(&self, args: &[&str]) -> Run {
        let output = self.walrus_command(args).output().unwrap();
        Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }

    /// Stores `data` with `walrus --json store` and returns the blob object it printed.
    fn store(&self, name: &str, data: &[u8], epochs: u32) -> Value {
        let file = self.file(name, data);
        let run = self.walrus(&["--json", "store", &file, "--epochs", &epochs.to_string()]).ok("store");
        let object = run.json()[0]["blobStoreResult"]["newlyCreated"]["blobObject"].clone();
        assert_eq!(object["blobId"].as_str(), Some(blob_id(self.n_shards(), data).to_string().as_str()), "{object}");
        assert_eq!(object["size"].as_u64(), Some(data.len() as u64));
        assert_eq!(object["certifiedEpoch"].as_u64(), Some(self.epoch()));
        assert_eq!(object["storage"]["endEpoch"].as_u64(), Some(self.epoch() + u64::from(epochs)));
        object
    }

    /// Reads `id` with `walrus read --out` and asserts it is `data`; returns standard error
    /// (the nodes the read found at fault).
    fn read_back(&self, id: &BlobId, data: &[u8]) -> String {
        let out = self.path("read-back");
        let run = self.walrus(&["read", &id.to_string(), "--out", out.to_str().unwrap()]).ok("read");
        let read = std::fs::read(&out).unwrap();
        assert!(read == data, "blob {id} read back as {} bytes, stored {}", read.len(), data.len());
        std::fs::remove_file(out).unwrap();
        run.stderr
    }

    /// SIGKILLs node `i` (however it was started) and waits until its port refuses connections.
    fn kill_node(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        match node.restarted.as_mut() {
            Some(child) => stop_child(child),
            None => send_signal(node.pid, libc::SIGKILL),
        }
        node.restarted = None;
        let deadline = Instant::now() + WAIT;
        while TcpStream::connect(&node.address).is_ok() {
            assert!(Instant::now() < deadline, "{} still answers after SIGKILL", node.name);
            std::thread::sleep(POLL);
        }
    }

    /// Starts node `i` again with the command line the testbed recorded, and waits until it
    /// answers its health route.
    async fn restart_node(&mut self, i: usize) {
        let logs = self.work.path().join("tb/logs");
        let node = &mut self.nodes[i];
        assert!(node.restarted.is_none(), "{} runs already", node.name);
        node.restarts += 1;
        let log = File::create(logs.join(format!("{}.restart-{}.log", node.name, node.restarts))).unwrap();
        let mut command = Command::new(&node.command[0]);
        command.args(&node.command[1..]).stdin(Stdio::null()).stdout(log.try_clone().unwrap()).stderr(log);
        let child = spawn_tied(&mut command);
        node.pid = child.id();
        node.restarted = Some(child);
        let what = format!("{} to answer after its restart", node.name);
        let url = &format!("{}/v1/health", node.url);
        let http = &self.http;
        poll(&what, WAIT, || async move {
            let health = get_json(http, url).await?;
            health["success"]["data"]["latestCheckpointSequenceNumber"].as_u64().map(drop).ok_or(health.to_string())
        })
        .await;
    }

    /// Waits until node `i` holds the metadata and both slivers of every pair on its shards.
    async fn wait_until_node_holds(&self, i: usize, data: &[u8]) {
        let metadata = walrus_encoder::compute_metadata(self.n_shards(), data).unwrap();
        let (id, rotation) = (metadata.blob_id(), metadata.rotation());
        let node = &self.nodes[i];
        let mut routes = vec!["metadata/status".to_owned()];
        for &shard in &node.shards {
            let pair = rotation.pair_on(ShardIndex(shard)).0;
            routes.extend(["primary", "secondary"].map(|axis| format!("slivers/{pair}/{axis}/status")));
        }
        let http = &self.http;
        for route in routes {
            let url = &format!("{}/v1/blobs/{id}/{route}", node.url);
            poll(&format!("{} to hold {route} of blob {id}", node.name), WAIT, || async move {
                let status = get_json(http, url).await?;
                (status["success"]["data"] == "stored").then_some(()).ok_or(status.to_string())
            })
            .await;
        }
    }

    /// The indexer's view of blob `id` once its status is `status`, or `None` without an indexer.
    async fn indexed(&self, id: &BlobId, status: &str) -> Option<Value> {
        let (http, url) = (&self.http, &format!("{}/v1/blobs/{id}", self.indexer()?));
        let blob = poll(&format!("the indexer to show blob {id} {status}"), WAIT, || async move {
            let blob = get_json(http, url).await?;
            (blob["status"] == status).then_some(blob.clone()).ok_or(blob.to_string())
        })
        .await;
        Some(blob)
    }

    /// Starts `walrus daemon` on a free port and returns its base URL.
    fn start_daemon(&mut self) -> String {
        let log = self.path(&format!("daemon-{}.log", self.daemons.len()));
        let mut command = self.walrus_command(&["daemon", "--listen", "127.0.0.1:0"]);
        command.stdout(Stdio::null()).stderr(File::create(&log).unwrap());
        self.daemons.push(spawn_tied(&mut command));
        let deadline = Instant::now() + WAIT;
        loop {
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            if let Some(rest) = text.split("publisher and aggregator at ").nth(1) {
                return rest.lines().next().unwrap().trim().to_owned();
            }
            if let Some(status) = self.daemons.last_mut().unwrap().try_wait().unwrap() {
                panic!("walrus daemon exited ({status}): {text}");
            }
            assert!(Instant::now() < deadline, "the daemon did not start: {text}");
            std::thread::sleep(POLL);
        }
    }

    /// The testbed's node indices in the order of the chain's committee (the order in which
    /// the client asks for metadata).
    async fn committee_order(&self) -> Vec<usize> {
        let url = format!("{}/v1/state", self.description["chain"]["url"].as_str().unwrap());
        let state = get_json(&self.http, &url).await.unwrap();
        let order: Vec<usize> = state["committee"]
            .as_array()
            .unwrap()
            .iter()
            .map(|member| {
                let id = &member["node_id"];
                self.description["nodes"].as_array().unwrap().iter().position(|node| node["node_id"] == *id).unwrap()
            })
            .collect();
        assert_eq!(order.len(), self.nodes.len());
        order
    }

    /// Reads `id` with `walrus read` while the `honest` nodes are paused (SIGSTOP) until every
    /// fake node has misled the reader, then lets them go on: a read stops asking once it has
    /// enough slivers, so this makes sure it heard from the fakes. Returns its standard error.
    async fn read_hearing_fakes_first(&self, id: &BlobId, data: &[u8], honest: &[usize], fakes: &[FakeNode]) -> String {
        let (out, stderr) = (self.path("read-back"), self.path("read.stderr"));
        let mut command = self.walrus_command(&["read", &id.to_string(), "--out", out.to_str().unwrap()]);
        command.stdout(Stdio::null()).stderr(File::create(&stderr).unwrap());
        for &i in honest {
            send_signal(self.nodes[i].pid, libc::SIGSTOP);
        }
        let mut read = spawn_tied(&mut command);
        let deadline = Instant::now() + WAIT;
        while !fakes.iter().all(FakeNode::has_misled) {
            if Instant::now() > deadline || read.try_wait().unwrap().is_some() {
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        for &i in honest {
            send_signal(self.nodes[i].pid, libc::SIGCONT);
        }
        let status = read.wait().unwrap();
        let stderr = std::fs::read_to_string(stderr).unwrap();
        assert!(status.success(), "read: {status}: {stderr}");
        assert!(std::fs::read(&out).unwrap() == data, "blob {id} read back differs");
        std::fs::remove_file(out).unwrap();
        assert!(fakes.iter().all(FakeNode::has_misled), "the read did not ask every fake node: {stderr}");
        stderr
    }

    /// Stops the testbed with SIGTERM, as a user would, and checks that it exits cleanly and
    /// leaves none of its processes behind.
    fn stop(mut self) {
        let mut pids: Vec<u64> = self.nodes.iter().map(|n| u64::from(n.pid)).collect();
        pids.push(self.description["chain"]["pid"].as_u64().unwrap());
        pids.extend(self.description["indexer"]["pid"].as_u64());
        self.stop_started();
        let mut process = self.process.take().unwrap();
        send_signal(process.id(), libc::SIGTERM);
        let status = process.wait().unwrap();
        assert!(status.success(), "walrus-testbed up: {status}: {}", self.stderr());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let alive: Vec<_> = pids.iter().filter(|pid| Path::new(&format!("/proc/{pid}")).exists()).collect();
            if alive.is_empty() {
                return;
            }
            assert!(Instant::now() < deadline, "still running after the testbed stopped: {alive:?}");
            std::thread::sleep(POLL);
        }
    }

    /// After a failure, while everything still runs: the chain's last checkpoint, each node's
    /// (through its health route), and the end of every log; the work folder is kept.
    fn report_failure(&mut self) {
        let mut report = String::from("\n==== testbed state at the failure ====\n");
        let checkpoints = self.work.path().join("tb/chain/checkpoints");
        let last = std::fs::read_dir(&checkpoints)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| entry.file_name().to_str()?.strip_suffix(".binpb.zst")?.parse::<u64>().ok());
        report += &format!("chain: last checkpoint file {:?}\n", last.max());
        for node in &self.nodes {
            report += &format!("{} (pid {}, port {}): {}\n", node.name, node.pid, node.port, raw_health(&node.address));
        }
        let logs = self.work.path().join("tb/logs");
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(&logs).into_iter().flatten().flatten().map(|entry| entry.path()).collect();
        files.extend([self.work.path().join("stderr")]);
        files.sort();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            report += &format!("---- {} (last 25 of {} lines)\n", file.display(), lines.len());
            for line in &lines[lines.len().saturating_sub(25)..] {
                report += &format!("  {line}\n");
            }
        }
        self.work.disable_cleanup(true);
        report += &format!("==== kept {} ====", self.work.path().display());
        eprintln!("{report}");
    }

    /// Stops what the test started besides the testbed: restarted nodes and daemons.
    fn stop_started(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut child) = node.restarted.take() {
                stop_child(&mut child);
            }
        }
        for daemon in &mut self.daemons {
            stop_child(daemon);
        }
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.report_failure();
        }
        self.stop_started();
        if let Some(mut process) = self.process.take() {
            send_signal(process.id(), libc::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(30);
            while process.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(POLL);
            }
            // Its children die with it (PR_SET_PDEATHSIG).
            stop_child(&mut process);
        }
    }
}

/// A node's health answer through a plain socket (a failure report runs outside any runtime),
/// or why there is none.
fn raw_health(address: &str) -> String {
    use std::io::{Read, Write};
    let ask = || -> std::io::Result<String> {
        let mut stream = TcpStream::connect(address)?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.write_all(format!("GET /v1/health HTTP/1.0\r\nHost: {address}\r\n\r\n").as_bytes())?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer)?;
        Ok(answer.split("\r\n\r\n").nth(1).unwrap_or(&answer).to_owned())
    };
    ask().unwrap_or_else(|e| format!("no answer: {e}"))
}

fn blob_id(n_shards: u16, data: &[u8]) -> BlobId {
    walrus_encoder::compute_metadata(n_shards, data).unwrap().blob_id()
}

fn object_blob_id(object: &Value) -> BlobId {
    object["blobId"].as_str().unwrap().parse().unwrap()
}

/// What a server put on a killed node's port answers.
enum Mode {
    /// The blob's true metadata (taken from an honest node), and for every sliver one of a
    /// different blob of the same length: well-formed, the right index and size, wrong bytes.
    Liar { metadata: Vec<u8>, wrong: Arc<EncodedBlob> },
    /// `200 OK` and text that is nothing a storage node sends, whatever the request.
    Nonsense,
}

/// A server on a killed node's port, in this test's process.
struct FakeNode {
    port: u16,
    state: Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

struct FakeState {
    mode: Mutex<Mode>,
    /// Requests answered, and sliver requests among them, since the mode was set.
    requests: AtomicUsize,
    slivers: AtomicUsize,
}

impl FakeNode {
    async fn start(port: u16, mode: Mode) -> Self {
        let state =
            Arc::new(FakeState { mode: Mutex::new(mode), requests: AtomicUsize::new(0), slivers: AtomicUsize::new(0) });
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_reuseaddr(true).unwrap();
        socket.bind(([127, 0, 0, 1], port).into()).unwrap();
        let listener = socket.listen(64).unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = state.clone();
        let router = axum::Router::new().fallback(move |uri: Uri| {
            let state = shared.clone();
            async move {
                let answer = fake_answer(&state.mode.lock().unwrap(), &uri);
                state.requests.fetch_add(1, Ordering::SeqCst);
                if uri.path().contains("/slivers/") {
                    state.slivers.fetch_add(1, Ordering::SeqCst);
                }
                answer
            }
        });
        let task = tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        Self { port, state, task }
    }

    fn set(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
        self.state.requests.store(0, Ordering::SeqCst);
        self.state.slivers.store(0, Ordering::SeqCst);
    }

    /// Whether it has answered what shows it at fault: a sliver if it lies about slivers,
    /// anything if it answers nonsense.
    fn has_misled(&self) -> bool {
        match *self.state.mode.lock().unwrap() {
            Mode::Liar { .. } => self.state.slivers.load(Ordering::SeqCst) > 0,
            Mode::Nonsense => self.state.requests.load(Ordering::SeqCst) > 0,
        }
    }
}

impl Drop for FakeNode {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn fake_answer(mode: &Mode, uri: &Uri) -> Response {
    let (metadata, wrong) = match mode {
        Mode::Nonsense => return (StatusCode::OK, "this is not what a storage node says").into_response(),
        Mode::Liar { metadata, wrong } => (metadata, wrong),
    };
    let parts: Vec<&str> = uri.path().trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["v1", "blobs", _, "metadata"] => Bytes::from(metadata.clone()).into_response(),
        ["v1", "blobs", _, "slivers", pair, axis] => {
            let Some(pair) = pair.parse::<usize>().ok().and_then(|p| wrong.pairs.get(p)) else {
                return StatusCode::NOT_FOUND.into_response();
            };
            match *axis {
                "primary" => Bytes::from(pair.primary.to_bcs()).into_response(),
                "secondary" => Bytes::from(pair.secondary.to_bcs()).into_response(),
                _ => StatusCode::NOT_FOUND.into_response(),
            }
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Stores of 0 B, 1 B, 1 MiB and 100 MiB read back identical and are indexed as certified
/// with the right epochs; a deleted blob leaves the nodes and the indexer shows it deleted;
/// the daemon serves the testbed; bad input gets clear errors and changes nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_round_trip_through_a_10_node_testbed_and_the_indexer_follows() {
    let mut testbed = Testbed::up(10, 100);
    let epoch = testbed.epoch();
    if std::env::var("DATABASE_URL").is_ok() {
        assert!(testbed.indexer().is_some(), "DATABASE_URL is set: the indexer runs");
    }

    let mut stored = Vec::new();
    for (len, epochs, seed) in [(0, 1, 1), (1, 2, 2), (MIB, 3, 3), (100 * MIB, 1, 4)] {
        let data = blob(len, seed);
        let object = testbed.store(&format!("blob-{len}"), &data, epochs);
        let id = object_blob_id(&object);
        let stderr = testbed.read_back(&id, &data);
        assert!(!stderr.contains("warning"), "no node is at fault: {stderr}");
        if let Some(indexed) = testbed.indexed(&id, "certified").await {
            let row = &indexed["objects"][0];
            assert_eq!(row["object_id"], object["id"], "{indexed}");
            assert_eq!(row["size"].as_u64(), Some(len as u64), "{indexed}");
            assert_eq!(row["registered_epoch"].as_u64(), Some(epoch), "{indexed}");
            assert_eq!(row["certified_epoch"].as_u64(), Some(epoch), "{indexed}");
            assert_eq!(row["end_epoch"].as_u64(), Some(epoch + u64::from(epochs)), "{indexed}");
            assert_eq!(row["deletable"], true, "{indexed}");
        }
        stored.push((id, data, object));
    }

    // Deleting the 1-byte blob: every node drops it, the indexer shows it deleted, reads fail.
    let (id, _, object) = &stored[1];
    let run = testbed.walrus(&["--json", "delete", "--blob-id", &id.to_string()]).ok("delete");
    assert_eq!(run.json()["deleted"][0], object["id"], "{}", run.stdout);
    let http = &testbed.http;
    for node in &testbed.nodes {
        let url = &format!("{}/v1/blobs/{id}/metadata/status", node.url);
        poll(&format!("{} to drop blob {id}", node.name), WAIT, || async move {
            let status = get_json(http, url).await?;
            (status["success"]["data"] == "nonexistent").then_some(()).ok_or(status.to_string())
        })
        .await;
    }
    if let Some(indexed) = testbed.indexed(id, "deleted").await {
        assert_eq!(indexed["objects"][0]["deleted_epoch"].as_u64(), Some(epoch), "{indexed}");
    }
    testbed.walrus(&["read", &id.to_string()]).fails_with("reading a deleted blob", &["no node served valid metadata"]);
    // The others are untouched.
    let (kept, data, _) = &stored[2];
    testbed.read_back(kept, data);

    daemon_cases(&mut testbed).await;
    bad_input_cases(&testbed).await;
    testbed.stop();
}

/// The daemon against the testbed: PUT then GET, ranges, and its error shapes.
async fn daemon_cases(testbed: &mut Testbed) {
    let daemon = testbed.start_daemon();
    let http = &testbed.http;
    let data = blob(200_000, 9);
    let put = http.put(format!("{daemon}/v1/blobs?epochs=2")).body(data.clone()).send().await.unwrap();
    assert_eq!(put.status(), 200);
    let result = body_json(put).await;
    let object = &result["newlyCreated"]["blobObject"];
    let id = object_blob_id(object);
    assert_eq!(id, blob_id(testbed.n_shards(), &data));
    assert_eq!(object["storage"]["endEpoch"].as_u64(), Some(testbed.epoch() + 2), "{result}");

    let get = http.get(format!("{daemon}/v1/blobs/{id}")).send().await.unwrap();
    assert_eq!(get.status(), 200);
    assert_eq!(get.headers()["etag"].to_str().unwrap().trim_matches('"'), id.to_string());
    assert!(get.bytes().await.unwrap() == data, "the daemon serves the bytes stored");
    let by_object = format!("{daemon}/v1/blobs/by-object-id/{}", object["id"].as_str().unwrap());
    assert!(http.get(by_object).send().await.unwrap().bytes().await.unwrap() == data);
    // The same blob read with the CLI, which went through the nodes independently.
    testbed.read_back(&id, &data);

    let range = http.get(format!("{daemon}/v1/blobs/{id}")).header("range", "bytes=1000-1999").send().await.unwrap();
    assert_eq!(range.status(), 206);
    assert_eq!(range.headers()["content-range"], format!("bytes 1000-1999/{}", data.len()).as_str());
    assert!(range.bytes().await.unwrap() == data[1000..2000]);
    let suffix = http.get(format!("{daemon}/v1/blobs/{id}")).header("range", "bytes=-10").send().await.unwrap();
    assert_eq!(suffix.status(), 206);
    assert!(suffix.bytes().await.unwrap() == data[data.len() - 10..]);

    let outside = format!("bytes={}-", data.len());
    let error = |path: String, range: Option<&str>| {
        let mut request = http.get(format!("{daemon}{path}"));
        if let Some(range) = range {
            request = request.header("range", range);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            assert_eq!(response.headers()["cache-control"], "no-store");
            let body = body_json(response).await;
            let reason = body["error"]["details"][0]["reason"].as_str().unwrap().to_owned();
            assert!(!body["error"]["message"].as_str().unwrap().is_empty(), "{body}");
            (status, reason)
        }
    };
    assert_eq!(error(format!("/v1/blobs/{id}"), Some(&outside)).await, (416, "INVALID_BYTE_RANGE".into()));
    let unknown = blob_id(testbed.n_shards(), b"never stored");
    assert_eq!(error(format!("/v1/blobs/{unknown}"), None).await, (404, "BLOB_NOT_FOUND".into()));
    assert_eq!(error("/v1/blobs/not-a-blob-id".into(), None).await, (400, "INVALID_BLOB_ID".into()));
    let zero = http.put(format!("{daemon}/v1/blobs?epochs=0")).body("x").send().await.unwrap();
    assert_eq!(zero.status(), 400);
    let body = body_json(zero).await;
    assert_eq!(body["error"]["details"][0]["reason"], "INVALID_EPOCHS", "{body}");
}

/// Bad input everywhere: a clear error, a non-zero exit, and nothing stored or lost.
async fn bad_input_cases(testbed: &Testbed) {
    let blobs_before = testbed.walrus(&["--json", "list-blobs"]).ok("list-blobs").json();
    let missing = testbed.path("no-such-file");
    testbed
        .walrus(&["store", missing.to_str().unwrap(), "--epochs", "1"])
        .fails_with("storing a missing file", &["cannot read", "no-such-file"]);
    let unknown = blob_id(testbed.n_shards(), b"never stored either");
    testbed
        .walrus(&["read", &unknown.to_string()])
        .fails_with("reading an unknown blob", &["no node served valid metadata", "no node has it"]);
    testbed.walrus(&["read", "not-a-blob-id"]).fails_with("reading a malformed blob ID", &["invalid blob ID"]);
    let blobs_after = testbed.walrus(&["--json", "list-blobs"]).ok("list-blobs").json();
    assert_eq!(blobs_before, blobs_after, "a failed command changes nothing");

    let run_with = |config: &Path, args: &[&str]| {
        let output = Command::new(binary("walrus")).arg("--config").arg(config).args(args).output().unwrap();
        Run {
            success: output.status.success(),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    };
    let garbage = testbed.path("garbage.toml");
    std::fs::write(&garbage, "[chain\nkind = local").unwrap();
    run_with(&garbage, &["info"]).fails_with("a garbage config", &["is not a valid client configuration"]);

    // The chain's URL answers nonsense.
    let nonsense = FakeNode::start(0, Mode::Nonsense).await;
    let config = std::fs::read_to_string(testbed.config()).unwrap();
    let chain_url = testbed.description["chain"]["url"].as_str().unwrap();
    let lying_config = testbed.path("nonsense-chain.toml");
    std::fs::write(&lying_config, config.replace(chain_url, &format!("http://127.0.0.1:{}", nonsense.port))).unwrap();
    let data = testbed.file("bad-input", &blob(1000, 10));
    for args in [&["info"][..], &["store", &data, "--epochs", "1"], &["read", &unknown.to_string()]] {
        run_with(&lying_config, args)
            .fails_with(&format!("{args:?} on a chain answering nonsense"), &["answered", "an answer it cannot read"]);
    }
}

/// Nodes killed with SIGKILL (f of them: reads and stores go on; f + 1: stores fail clearly),
/// one of them during a store; restarted, they catch up by blob sync; f nodes lying and f + 1
/// answering nonsense are named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_10_node_testbed_tolerates_f_faulty_nodes_and_names_them() {
    let mut testbed = Testbed::up(10, 100);
    let n = testbed.n_shards();
    let f = (usize::from(n) - 1) / 3;
    let order = testbed.committee_order().await;
    // The client asks the committee's first members for metadata first: they lie (or answer
    // nonsense) so that the read hears from them; the last ones go down.
    let (liars, fourth, down) = (&order[..3], order[3], &order[6..]);
    let weight =
        |testbed: &Testbed, nodes: &[usize]| nodes.iter().map(|&i| testbed.nodes[i].shards.len()).sum::<usize>();
    assert!(weight(&testbed, &down[1..]) <= f && weight(&testbed, down) > f, "the committee is uneven");
    assert!(weight(&testbed, liars) <= f && weight(&testbed, &order[..4]) > f, "the committee is uneven");

    let x = blob(MIB, 11);
    let id_x = object_blob_id(&testbed.store("x", &x, 2));

    // A node is killed during a store, once the store has reached it.
    let victim = down[3];
    let w = blob(4 * MIB, 12);
    let id_w = blob_id(n, &w);
    let file_w = testbed.file("w", &w);
    let mut store = testbed.walrus_command(&["--json", "store", &file_w, "--epochs", "2"]);
    store
        .stdout(File::create(testbed.path("w.stdout")).unwrap())
        .stderr(File::create(testbed.path("w.stderr")).unwrap());
    let mut store = spawn_tied(&mut store);
    let (http, url) = (&testbed.http, &format!("{}/v1/blobs/{id_w}/metadata/status", testbed.nodes[victim].url));
    poll("the store to reach the victim", WAIT, || async move {
        let status = get_json(http, url).await?;
        (status["success"]["data"] == "stored").then_some(()).ok_or(status.to_string())
    })
    .await;
    testbed.kill_node(victim);
    let status = store.wait().unwrap();
    let stderr = std::fs::read_to_string(testbed.path("w.stderr")).unwrap();
    assert!(status.success(), "the store with a node killed during it: {status}: {stderr}");
    let printed: Value = serde_json::from_str(&std::fs::read_to_string(testbed.path("w.stdout")).unwrap()).unwrap();
    assert_eq!(object_blob_id(&printed[0]["blobStoreResult"]["newlyCreated"]["blobObject"]), id_w);
    testbed.read_back(&id_w, &w);

    // f nodes down: reads and stores go on; the store names the nodes that did not confirm.
    testbed.kill_node(down[1]);
    testbed.kill_node(down[2]);
    testbed.read_back(&id_x, &x);
    let y = blob(MIB, 13);
    let file_y = testbed.file("y", &y);
    let run = testbed.walrus(&["--json", "store", &file_y, "--epochs", "2"]).ok("store with f nodes down");
    for &i in &down[1..] {
        assert!(run.stderr.contains(&testbed.nodes[i].address), "{} not named: {}", testbed.nodes[i].name, run.stderr);
    }
    let id_y = object_blob_id(&run.json()[0]["blobStoreResult"]["newlyCreated"]["blobObject"]);
    assert_eq!(id_y, blob_id(n, &y));
    testbed.read_back(&id_y, &y);

    // f + 1 down: the store fails, naming the nodes, their shards, and the shards it had.
    testbed.kill_node(down[0]);
    let z = testbed.file("z", &blob(1000, 14));
    let quorum = usize::from(n) - f;
    let confirmed = usize::from(n) - weight(&testbed, down);
    let counts = format!("{confirmed} of {n} shards confirmed, {quorum} needed; 4 node(s) failed");
    let run = testbed.walrus(&["store", &z, "--epochs", "1"]).fails_with("a store with f + 1 nodes down", &[&counts]);
    for &i in down {
        let node = &testbed.nodes[i];
        let named = format!("at {} ({} shards): unreachable", node.address, node.shards.len());
        assert!(run.stderr.contains(&named), "no {named:?} in {}", run.stderr);
    }

    // Restarted with their recorded command lines, the nodes catch up: the victim with the
    // blob it was killed during, and all of them with the one stored while they were down
    // (blob sync).
    for &i in down {
        testbed.restart_node(i).await;
    }
    for &i in down {
        testbed.wait_until_node_holds(i, &w).await;
        testbed.wait_until_node_holds(i, &y).await;
    }

    // f nodes answer well-formed but wrong slivers: the read succeeds and names each of them.
    let honest = &order[3..];
    let metadata = testbed.http.get(format!("{}/v1/blobs/{id_y}/metadata", testbed.nodes[order[5]].url));
    let metadata = metadata.send().await.unwrap().bytes().await.unwrap().to_vec();
    // Another blob of the same length: one changed byte would leave most slivers true.
    let wrong = Arc::new(walrus_encoder::encode(n, &blob(y.len(), 99)).unwrap());
    let mut fakes = Vec::new();
    for &i in liars {
        testbed.kill_node(i);
        let mode = Mode::Liar { metadata: metadata.clone(), wrong: wrong.clone() };
        fakes.push(FakeNode::start(testbed.nodes[i].port, mode).await);
    }
    let stderr = testbed.read_hearing_fakes_first(&id_y, &y, honest, &fakes).await;
    for &i in liars {
        let node = &testbed.nodes[i];
        let named = format!("at {} ({} shards): sent an invalid primary sliver", node.address, node.shards.len());
        assert!(stderr.contains(&named), "no {named:?} in {stderr}");
    }

    // f + 1 nodes answer nonsense: a read still succeeds, a store fails; both name them.
    testbed.kill_node(fourth);
    fakes.push(FakeNode::start(testbed.nodes[fourth].port, Mode::Nonsense).await);
    for fake in &fakes {
        fake.set(Mode::Nonsense);
    }
    let stderr = testbed.read_hearing_fakes_first(&id_x, &x, &order[4..], &fakes).await;
    let v = testbed.file("v", &blob(1000, 15));
    let run = testbed
        .walrus(&["store", &v, "--epochs", "1"])
        .fails_with("a store with f + 1 nodes answering nonsense", &["cannot certify"]);
    for &i in &order[..4] {
        let node = &testbed.nodes[i];
        let named = format!("at {} ({} shards): answered nonsense", node.address, node.shards.len());
        assert!(run.stderr.contains(&named), "no {named:?} in {}", run.stderr);
        assert!(stderr.contains(&named), "the read did not name {}: {stderr}", node.name);
    }
    drop(fakes);
    testbed.stop();
}

/// The mainnet shard count: a small blob through 10 nodes holding 1000 shards.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_small_blob_round_trips_with_1000_shards() {
    let testbed = Testbed::up(10, 1000);
    assert_eq!(testbed.n_shards(), 1000);
    let data = blob(10_000, 21);
    let id = object_blob_id(&testbed.store("small", &data, 1));
    let stderr = testbed.read_back(&id, &data);
    assert!(!stderr.contains("warning"), "no node is at fault: {stderr}");
    for i in 0..testbed.nodes.len() {
        testbed.wait_until_node_holds(i, &data).await;
    }
    if let Some(indexed) = testbed.indexed(&id, "certified").await {
        assert_eq!(indexed["objects"][0]["end_epoch"].as_u64(), Some(testbed.epoch() + 1), "{indexed}");
    }
    testbed.stop();
}
