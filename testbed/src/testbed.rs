//! Bringing the whole system up on one machine (local chain, storage nodes, and the indexer
//! when PostgreSQL is reachable), waiting until it is ready, and taking it down again.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use serde_json::{json, Value};

use crate::children::{stop_all, Binaries, Child};
use crate::database::TestbedDatabase;
use crate::genesis::{self, PlannedNode};
use crate::sui::{self, SuiOptions};

/// How long start-up may take before the testbed gives up (debug builds on a busy machine
/// are slow to open their stores).
const READY_TIMEOUT: Duration = Duration::from_secs(120);
/// Where everything listens unless others must reach it.
pub const LOOPBACK: &str = "127.0.0.1";
const POLL: Duration = Duration::from_millis(200);

/// What `up` is asked for.
pub struct Options {
    pub nodes: u16,
    pub shards: u16,
    pub epoch_duration_ms: u64,
    /// Ports from here on (chain, indexer, then the nodes); ephemeral ports when absent.
    pub base_port: Option<u16>,
    /// Once up, a node that exits is reported and the rest run on (fault tests kill nodes on
    /// purpose and restart them from `testbed.json`); the chain or indexer exiting still stops it.
    pub tolerate_node_exits: bool,
}

/// A running testbed. Its processes stop when it is dropped; [`Testbed::shutdown`] also
/// drops the indexer's database.
pub struct Testbed {
    pub dir: PathBuf,
    programs: Programs,
    /// The local chain first, then the nodes, then the indexer.
    children: Vec<Child>,
    /// Which of `children` are nodes.
    node_children: std::ops::Range<usize>,
    /// Set once up with [`Options::tolerate_node_exits`]: node exits are reported, not fatal.
    node_exits_tolerated: bool,
    /// The pids of node exits already reported.
    reported_exits: Vec<u32>,
    database: Option<TestbedDatabase>,
    pub indexer_url: Option<String>,
    /// `testbed.json`'s content.
    pub description: Value,
}

impl Testbed {
    /// Finds the binaries; [`Testbed::bring_up`] starts them.
    pub fn new(dir: &Path) -> anyhow::Result<Self> {
        let binaries = Binaries::beside_current_exe()?;
        let programs = Programs {
            chain: binaries.get("walrus-localchain")?,
            node: binaries.get("walrus-node")?,
            indexer: binaries.get("walrus-indexer")?,
        };
        Ok(Self {
            dir: dir.to_owned(),
            programs,
            children: Vec::new(),
            node_children: 0..0,
            node_exits_tolerated: false,
            reported_exits: Vec::new(),
            database: None,
            indexer_url: None,
            description: Value::Null,
        })
    }

    /// Starts everything and returns once every node has followed genesis and the indexer
    /// (if any) has indexed it. Whatever the outcome, [`Testbed::shutdown`] stops what started.
    pub async fn bring_up(&mut self, options: &Options) -> anyhow::Result<()> {
        anyhow::ensure!(options.nodes >= 1, "--nodes must be at least 1");
        anyhow::ensure!(
            options.shards >= options.nodes,
            "--shards ({}) must be at least --nodes ({}), so that every node holds a shard",
            options.shards,
            options.nodes
        );
        prepare_dir(&self.dir)?;
        let dir = self.dir.clone();
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;

        let ports = Ports::new(options.base_port, usize::from(options.nodes) + 2)?;
        let (chain_port, indexer_port) = (ports.get(0), ports.get(1));
        let planned: Vec<PlannedNode> = (0..options.nodes)
            .map(|i| PlannedNode {
                name: format!("node-{i}"),
                port: ports.get(2 + usize::from(i)),
                listen_host: LOOPBACK,
                dir: dir.join("nodes").join(format!("node-{i}")),
            })
            .collect();
        drop(ports);

        let client = genesis::random_address();
        let genesis_file = dir.join("genesis.toml");
        let genesis = genesis::generate(&planned, options.shards, options.epoch_duration_ms, client)?;
        genesis::write(&genesis, &genesis_file)?;

        let chain_dir = dir.join("chain");
        let chain_url = format!("http://127.0.0.1:{chain_port}");
        self.spawn(
            "local chain",
            &self.programs.chain.clone(),
            &[
                "serve".into(),
                "--dir".into(),
                path_arg(&chain_dir),
                "--listen".into(),
                format!("127.0.0.1:{chain_port}"),
                "--genesis".into(),
                path_arg(&genesis_file),
            ],
            &logs.join("localchain.log"),
        )?;
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        let state =
            self.wait_for("the local chain's state", || get_json(&http, format!("{chain_url}/v1/state"))).await?;
        let package_id = str_field(&state, "package_id")?.to_owned();
        let epoch = state["epoch"].as_u64().context("the chain's state has no epoch")?;
        let checkpoints = chain_dir.join("checkpoints");
        let source = format!("dir:{}", path_arg(&checkpoints));

        let mut nodes = Vec::with_capacity(planned.len());
        let first_node = self.children.len();
        for node in &planned {
            let member = state["committee"]
                .as_array()
                .and_then(|members| members.iter().find(|m| m["name"] == node.name.as_str()))
                .with_context(|| format!("{} is not in the local chain's committee", node.name))?;
            let node_id = str_field(member, "node_id")?;
            // The node reports its shards in place to the chain itself, as its operator.
            let operator = genesis
                .nodes
                .iter()
                .find(|g| g.name == node.name)
                .map(|g| g.sender)
                .with_context(|| format!("{} is not in the genesis", node.name))?;
            let report = ["--local-chain".to_owned(), chain_url.clone(), "--address".to_owned(), operator.to_string()];
            let mut entry = self.spawn_node(node, node_id, &package_id, &source, &report, &logs)?;
            entry["public_key"] = member["public_key"].clone();
            entry["shards"] = member["shards"].clone();
            nodes.push(entry);
        }
        self.node_children = first_node..self.children.len();

        self.start_indexer(&package_id, &source, 0, indexer_port, options.shards, &logs).await;

        for node in &nodes {
            let (name, url) = (node["name"].as_str().unwrap_or("?"), node["url"].as_str().unwrap_or("?"));
            self.wait_for(&format!("{name} to follow genesis"), || node_ready(&http, url, epoch)).await?;
        }
        if let Some(url) = self.indexer_url.clone() {
            self.wait_for("the indexer to index genesis", || indexer_ready(&http, &url)).await?;
        }

        let client_config = dir.join("client.toml");
        let client_toml = format!("[chain]\nkind = \"local\"\nurl = \"{chain_url}\"\nsender = \"{client}\"\n");
        write_atomically(&client_config, client_toml.as_bytes())?;
        let description = json!({
            "n_shards": options.shards,
            "package_id": package_id,
            "client_config": client_config,
            "chain": {
                "url": chain_url,
                "pid": self.children[0].pid(),
                "dir": chain_dir,
                "checkpoints": checkpoints,
                "epoch": epoch,
                "epoch_duration_ms": options.epoch_duration_ms,
                "client_address": client.to_string(),
            },
            "nodes": nodes,
        });
        self.finish(description, options)
    }

    /// Completes `description` with the indexer's part and writes it as `testbed.json`: the
    /// testbed is up.
    fn finish(&mut self, mut description: Value, options: &Options) -> anyhow::Result<()> {
        description["indexer_url"] = json!(self.indexer_url);
        description["indexer"] = json!(self.indexer_url.as_ref().map(|_| json!({
            "pid": self.children.last().map(Child::pid),
            "database": self.database.as_ref().map(TestbedDatabase::name),
        })));
        self.description = description;
        let text = serde_json::to_string_pretty(&self.description)?;
        write_atomically(&self.dir.join("testbed.json"), text.as_bytes())?;
        self.node_exits_tolerated = options.tolerate_node_exits;
        Ok(())
    }

    /// Starts `walrus-node run` for `node` (its keys in its keys folder) following `source`;
    /// returns its entry in `testbed.json`, with the command line that starts it again.
    fn spawn_node(
        &mut self,
        node: &PlannedNode,
        node_id: &str,
        package_id: &str,
        source: &str,
        extra: &[String],
        logs: &Path,
    ) -> anyhow::Result<Value> {
        let program = self.programs.node.clone();
        let mut args: Vec<String> = vec![
            "run".into(),
            "--storage-dir".into(),
            path_arg(&node.dir.join("storage")),
            "--protocol-key".into(),
            path_arg(&node.keys_dir().join(walrus_node::keys::PROTOCOL_KEY_FILE)),
            "--node-id".into(),
            node_id.to_owned(),
            "--package-id".into(),
            package_id.to_owned(),
            "--listen-address".into(),
            format!("{}:{}", node.listen_host, node.port),
            "--checkpoints".into(),
            source.to_owned(),
        ];
        args.extend_from_slice(extra);
        let log = logs.join(format!("{}.log", node.name));
        let pid = self.spawn(&node.name, &program, &args, &log)?;
        // The command line, so that a node stopped on purpose can be started again as it was.
        let command: Vec<String> = std::iter::once(path_arg(&program)).chain(args).collect();
        Ok(json!({
            "name": node.name,
            "node_id": node_id,
            "url": format!("http://127.0.0.1:{}", node.port),
            "pid": pid,
            "storage_dir": node.dir,
            "command": command,
            "log": log,
        }))
    }

    /// Starts the nodes (and the indexer) against a Sui network where `walrus publish` ran:
    /// registers and stakes new nodes with the wallet (or resumes those `sui-nodes.json`
    /// records in the folder), then waits until every node follows the full node's checkpoints.
    pub async fn bring_up_sui(&mut self, options: &Options, sui: &SuiOptions) -> anyhow::Result<()> {
        anyhow::ensure!(options.nodes >= 1, "--nodes must be at least 1");
        let dir = self.dir.clone();
        let recorded = if dir.exists() { sui::recorded_nodes(&dir)? } else { None };
        if recorded.is_none() {
            prepare_dir(&dir)?;
        }
        let network = sui.connect().await?;
        let logs = dir.join("logs");
        std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
        let walrus = Binaries::beside_current_exe()?.get("walrus")?;

        let ports = Ports::new(options.base_port, usize::from(options.nodes) + 2)?;
        let indexer_port = ports.get(1);
        let mut nodes: Vec<sui::SuiNode> = match recorded {
            Some(nodes) => {
                eprintln!(
                    "walrus-testbed: resuming the {} nodes {} records (--nodes is not used)",
                    nodes.len(),
                    dir.join(sui::NODES_FILE).display()
                );
                nodes
            }
            None => (0..options.nodes)
                .map(|i| sui::SuiNode {
                    name: format!("node-{i}"),
                    host: sui.public_host.clone().unwrap_or_else(|| LOOPBACK.to_owned()),
                    port: ports.get(2 + usize::from(i)),
                    node_id: String::new(),
                    staked: false,
                })
                .collect(),
        };
        let elsewhere = sui.public_host.as_ref().and_then(|host| nodes.iter().find(|n| &n.host != host));
        if let (Some(host), Some(node)) = (&sui.public_host, elsewhere) {
            bail!(
                "{} is registered at {}:{}, not at --public-host {host}: change a node's address with \
                 `walrus node update --network-address`, then record it in {}",
                node.name,
                node.host,
                node.port,
                dir.join(sui::NODES_FILE).display()
            );
        }
        drop(ports);
        let planned = |node: &sui::SuiNode| PlannedNode {
            name: node.name.clone(),
            port: node.port,
            // Registered at a host others reach: every interface.
            listen_host: if node.host == LOOPBACK { LOOPBACK } else { "0.0.0.0" },
            dir: dir.join("nodes").join(&node.name),
        };
        let keys_dir = |name: &str| dir.join("nodes").join(name).join("keys");
        sui::register_and_stake(sui, &network, &walrus, &dir, &mut nodes, keys_dir).await?;

        let package_id = network.deployment.walrus.package.to_string();
        let source = sui.source();
        // The nodes report their shards in place through the full node, signed by the wallet
        // that holds their `NodeCap`s.
        let extra = sui.node_args();
        let mut entries = Vec::with_capacity(nodes.len());
        for node in &nodes {
            entries.push(self.spawn_node(&planned(node), &node.node_id, &package_id, &source, &extra, &logs)?);
        }
        self.node_children = 0..self.children.len();
        let n_shards = network.staking.n_shards;
        self.start_indexer(&package_id, &source, sui.first_checkpoint, indexer_port, n_shards, &logs).await;

        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).build()?;
        for node in &entries {
            let (name, url) = (node["name"].as_str().unwrap_or("?"), node["url"].as_str().unwrap_or("?"));
            self.wait_for(&format!("{name} to follow the full node"), || node_ready(&http, url, 0)).await?;
        }
        if let Some(url) = self.indexer_url.clone() {
            self.wait_for("the indexer to follow the full node", || indexer_ready(&http, &url)).await?;
        }
        let description = json!({
            "n_shards": n_shards,
            "package_id": package_id,
            "sui": sui::describe(sui, &network),
            "nodes": entries,
        });
        self.finish(description, options)
    }

    /// Starts the indexer on a database of its own if `DATABASE_URL` names a reachable
    /// server; otherwise says why it runs without one.
    async fn start_indexer(
        &mut self,
        package_id: &str,
        source: &str,
        first_checkpoint: u64,
        port: u16,
        n_shards: u16,
        logs: &Path,
    ) {
        let Some(admin_url) = std::env::var("DATABASE_URL").ok().filter(|url| !url.is_empty()) else {
            eprintln!("walrus-testbed: DATABASE_URL is not set: running without the indexer");
            return;
        };
        let database = match TestbedDatabase::create(&admin_url).await {
            Ok(database) => database,
            Err(error) => {
                eprintln!("walrus-testbed: running without the indexer: {error:#}");
                return;
            }
        };
        let args = [
            "--database-url".into(),
            database.url.clone(),
            "--package".into(),
            package_id.to_owned(),
            "--source".into(),
            source.to_owned(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
            "--n-shards".into(),
            n_shards.to_string(),
            "--first-checkpoint".into(),
            first_checkpoint.to_string(),
        ];
        eprintln!("walrus-testbed: the indexer uses database {}", database.name());
        self.database = Some(database);
        match self.spawn("indexer", &self.programs.indexer.clone(), &args, &logs.join("indexer.log")) {
            Ok(_) => self.indexer_url = Some(format!("http://127.0.0.1:{port}")),
            Err(error) => eprintln!("walrus-testbed: running without the indexer: {error:#}"),
        }
    }

    fn spawn(&mut self, name: &str, program: &Path, args: &[String], log: &Path) -> anyhow::Result<u32> {
        let child = Child::spawn(name, program, args, log)?;
        let pid = child.pid();
        self.children.push(child);
        Ok(pid)
    }

    /// Polls `probe` until it succeeds, failing early when a process has exited and after
    /// [`READY_TIMEOUT`] otherwise; the error names the last answer and the log to read.
    async fn wait_for<T, F, Fut>(&mut self, what: &str, mut probe: F) -> anyhow::Result<T>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = anyhow::Result<T>>,
    {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            self.check_running()?;
            let last = match probe().await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            if Instant::now() > deadline {
                bail!(
                    "waited {READY_TIMEOUT:?} for {what}; last: {last:#} (logs in {})",
                    self.dir.join("logs").display()
                );
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// An error if any process has exited, naming it and its log; once up with
    /// [`Options::tolerate_node_exits`], a node's exit is only reported (once).
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        for (index, child) in self.children.iter_mut().enumerate() {
            let Some(status) = child.exit_status() else { continue };
            if self.node_exits_tolerated && self.node_children.contains(&index) {
                if !self.reported_exits.contains(&child.pid()) {
                    self.reported_exits.push(child.pid());
                    eprintln!(
                        "walrus-testbed: {} (pid {}) exited ({status}); the others run on (--tolerate-node-exits)",
                        child.name(),
                        child.pid()
                    );
                }
                continue;
            }
            let log = std::fs::read_to_string(child.log()).unwrap_or_default();
            // Its last lines, leaving out indented ones (backtraces).
            let tail: Vec<&str> = log.lines().filter(|l| !l.starts_with(' ')).collect();
            let tail = tail[tail.len().saturating_sub(5)..].join("\n  ");
            bail!(
                "{} (pid {}) exited ({status}); {} ends:\n  {tail}",
                child.name(),
                child.pid(),
                child.log().display()
            );
        }
        Ok(())
    }

    /// Stops the indexer and the nodes, then the chain, then drops the indexer's database.
    pub async fn shutdown(&mut self) {
        if self.children.len() > 1 {
            stop_all(&mut self.children[1..]);
        }
        stop_all(&mut self.children);
        self.children.clear();
        if let Some(database) = self.database.take() {
            if let Err(error) = database.drop_database().await {
                eprintln!("walrus-testbed: {error:#}");
            }
        }
    }
}

/// The nodes and the indexer stop before the chain they follow (each child's own drop would
/// stop them in start order).
impl Drop for Testbed {
    fn drop(&mut self) {
        if self.children.len() > 1 {
            stop_all(&mut self.children[1..]);
        }
    }
}

struct Programs {
    chain: PathBuf,
    node: PathBuf,
    indexer: PathBuf,
}

/// The testbed's ports, held open until they are handed out so that no two are the same.
struct Ports {
    ports: Vec<u16>,
    _held: Vec<TcpListener>,
}

impl Ports {
    fn new(base: Option<u16>, count: usize) -> anyhow::Result<Self> {
        if let Some(base) = base {
            let ports = (0..count)
                .map(|i| u16::try_from(usize::from(base) + i).ok().filter(|p| *p != 0))
                .collect::<Option<Vec<_>>>()
                .context("--base-port leaves no room for every port")?;
            return Ok(Self { ports, _held: Vec::new() });
        }
        let listeners = free_ports(count)?;
        let ports = listeners.iter().map(|l| l.local_addr().map(|a| a.port())).collect::<Result<_, _>>()?;
        Ok(Self { ports, _held: listeners })
    }

    fn get(&self, i: usize) -> u16 {
        self.ports[i]
    }
}

/// Where the testbed looks for free ports: below the system's ephemeral range, so that no
/// outgoing connection (of a client, a test, another testbed) can take a port between the
/// moment the testbed frees it and the moment the process it is meant for binds it.
const LOWEST_PORT: u16 = 10_000;

/// `count` distinct free ports below the ephemeral range, held open; ports the system picks
/// if that range is too small.
fn free_ports(count: usize) -> anyhow::Result<Vec<TcpListener>> {
    let ephemeral = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").ok();
    let first_ephemeral = ephemeral.and_then(|r| r.split_whitespace().next()?.parse::<u16>().ok()).unwrap_or(32768);
    let mut listeners = Vec::with_capacity(count);
    if first_ephemeral > LOWEST_PORT.saturating_add(1000) {
        let mut rng = rand::thread_rng();
        for _ in 0..count * 50 {
            if listeners.len() == count {
                break;
            }
            // Bound ports are held, so a port already chosen fails here and none repeats.
            let port = rand::Rng::gen_range(&mut rng, LOWEST_PORT..first_ephemeral);
            if let Ok(listener) = TcpListener::bind(("127.0.0.1", port)) {
                listeners.push(listener);
            }
        }
    }
    while listeners.len() < count {
        listeners.push(TcpListener::bind("127.0.0.1:0").context("finding free ports")?);
    }
    Ok(listeners)
}

/// The folder must be new or empty: a testbed is created fresh, never resumed.
fn prepare_dir(dir: &Path) -> anyhow::Result<()> {
    if dir.exists() {
        let mut entries = std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        anyhow::ensure!(
            entries.next().is_none(),
            "{} is not empty: give --dir a new or empty folder (a testbed is created fresh)",
            dir.display()
        );
    }
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))
}

fn path_arg(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn str_field<'a>(value: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    value[key].as_str().with_context(|| format!("no {key} in {value}"))
}

pub async fn get_json(http: &reqwest::Client, url: String) -> anyhow::Result<Value> {
    let response = http.get(&url).send().await.with_context(|| format!("GET {url}"))?;
    let status = response.status();
    let body = response.text().await.with_context(|| format!("GET {url}"))?;
    anyhow::ensure!(status.is_success(), "GET {url}: {status}: {body}");
    serde_json::from_str(&body).with_context(|| format!("GET {url}: not JSON: {body}"))
}

/// Ready: healthy, in the chain's epoch, and through genesis (its checkpoint 0).
async fn node_ready(http: &reqwest::Client, url: &str, epoch: u64) -> anyhow::Result<()> {
    let health = get_json(http, format!("{url}/v1/health")).await?;
    let data = &health["success"]["data"];
    let node_epoch = data["epoch"].as_u64().unwrap_or(0);
    anyhow::ensure!(
        data["latestCheckpointSequenceNumber"].is_u64() && node_epoch >= epoch,
        "{url} is at epoch {node_epoch}, checkpoint {}",
        data["latestCheckpointSequenceNumber"]
    );
    Ok(())
}

async fn indexer_ready(http: &reqwest::Client, url: &str) -> anyhow::Result<()> {
    let health = get_json(http, format!("{url}/v1/health")).await?;
    anyhow::ensure!(health["watermark_checkpoint"].is_u64(), "the indexer has no watermark yet: {health}");
    Ok(())
}

/// Writes through a temporary file and a rename, so readers never see half a file.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, bytes).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_ports_are_distinct_and_outside_the_ephemeral_range() {
        let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
        let first_ephemeral: u16 = range.split_whitespace().next().unwrap().parse().unwrap();
        let listeners = free_ports(40).unwrap();
        let ports: std::collections::BTreeSet<u16> = listeners.iter().map(|l| l.local_addr().unwrap().port()).collect();
        assert_eq!(ports.len(), 40);
        assert!(ports.iter().all(|&p| (LOWEST_PORT..first_ephemeral).contains(&p)), "{ports:?}");
    }
}
