//! `walrus-testbed up` run as a user runs it: the real local chain, nodes and (when
//! `DATABASE_URL` is set) indexer binaries from the same target folder, checked through their
//! APIs, then stopped by a signal with no process left behind.

use std::collections::BTreeSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde_json::Value;

// The fake Sui full node of the client's tests, included by path rather than moved into a
// crate of its own: it stays one file next to the client tests that grew it, and nothing but
// tests builds it.
#[path = "../../client/tests/fake_sui/mod.rs"]
mod fake_sui;

const START_TIMEOUT: Duration = Duration::from_secs(180);

fn testbed_binary() -> PathBuf {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_walrus-testbed"));
    for sibling in ["walrus-localchain", "walrus-node", "walrus-indexer"] {
        assert!(
            binary.with_file_name(sibling).is_file(),
            "{sibling} is not beside {}: run `cargo build --workspace --bins` (or `cargo nextest run --workspace`)",
            binary.display()
        );
    }
    binary
}

/// Starts `up` with its output in files under `work`; `database_url` is passed on or removed.
fn start(work: &Path, args: &[&str], database_url: Option<&str>) -> Child {
    let mut command = Command::new(testbed_binary());
    command
        .arg("up")
        .args(args)
        .arg("--dir")
        .arg(work.join("tb"))
        .stdin(Stdio::null())
        .stdout(File::create(work.join("stdout")).unwrap())
        .stderr(File::create(work.join("stderr")).unwrap());
    match database_url {
        Some(url) => command.env("DATABASE_URL", url),
        None => command.env_remove("DATABASE_URL"),
    };
    command.spawn().unwrap()
}

/// Waits for testbed.json (written once everything is ready) and the ready line that follows
/// it on standard output, failing if `up` exits first.
fn wait_ready(testbed: &mut Child, work: &Path) -> Value {
    let path = work.join("tb/testbed.json");
    let deadline = Instant::now() + START_TIMEOUT;
    let announced =
        || std::fs::read_to_string(work.join("stdout")).is_ok_and(|out| out.contains("walrus-testbed: ready"));
    while !path.exists() || !announced() {
        if let Some(status) = testbed.try_wait().unwrap() {
            panic!("walrus-testbed up exited ({status}): {}", std::fs::read_to_string(work.join("stderr")).unwrap());
        }
        assert!(Instant::now() < deadline, "not ready after {START_TIMEOUT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn signal(child: &Child, signal: libc::c_int) {
    assert_eq!(unsafe { libc::kill(child.id() as libc::pid_t, signal) }, 0);
}

/// Every process the testbed reported starting.
fn child_pids(description: &Value) -> Vec<u64> {
    let mut pids: Vec<u64> =
        description["nodes"].as_array().unwrap().iter().map(|n| n["pid"].as_u64().unwrap()).collect();
    pids.push(description["chain"]["pid"].as_u64().unwrap());
    if let Some(pid) = description["indexer"]["pid"].as_u64() {
        pids.push(pid);
    }
    pids
}

/// Waits until no process in `pids` exists (the testbed reaps its children, so none lingers
/// as a zombie).
fn assert_all_gone(pids: &[u64]) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let alive: Vec<_> = pids.iter().filter(|pid| Path::new(&format!("/proc/{pid}")).exists()).collect();
        if alive.is_empty() {
            return;
        }
        assert!(Instant::now() < deadline, "still running: {alive:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

async fn get(url: String) -> Value {
    let response = reqwest::get(&url).await.unwrap_or_else(|e| panic!("GET {url}: {e}"));
    assert!(response.status().is_success(), "GET {url}: {}", response.status());
    serde_json::from_str(&response.text().await.unwrap()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn up_serves_a_ready_committee_and_sigterm_stops_every_process() {
    let work = tempfile::tempdir().unwrap();
    let database_url = std::env::var("DATABASE_URL").ok();
    let mut testbed = start(work.path(), &["--nodes", "4", "--shards", "16"], database_url.as_deref());
    let description = wait_ready(&mut testbed, work.path());
    let stdout = std::fs::read_to_string(work.path().join("stdout")).unwrap();
    assert!(stdout.contains("ready: 4 nodes, 16 shards"), "{stdout}");

    // The chain's committee is the one testbed.json describes.
    assert_eq!(description["n_shards"], 16);
    let chain_url = description["chain"]["url"].as_str().unwrap().to_owned();
    let state = get(format!("{chain_url}/v1/state")).await;
    assert_eq!(state["package_id"], description["package_id"]);
    assert_eq!(state["n_shards"], 16);
    let nodes = description["nodes"].as_array().unwrap();
    assert_eq!(nodes.len(), 4);
    let mut all_shards = BTreeSet::new();
    for node in nodes {
        let member = state["committee"].as_array().unwrap().iter().find(|m| m["node_id"] == node["node_id"]).unwrap();
        assert_eq!(member["public_key"], node["public_key"]);
        assert_eq!(member["shards"], node["shards"]);
        let url = node["url"].as_str().unwrap();
        assert_eq!(member["network_address"].as_str().unwrap(), url.trim_start_matches("http://"));
        assert_eq!(STANDARD.decode(node["public_key"].as_str().unwrap()).unwrap().len(), 48);
        for shard in node["shards"].as_array().unwrap() {
            assert!(all_shards.insert(shard.as_u64().unwrap()), "shard {shard} twice");
        }

        // Each node answers where genesis registered it, with its key, through genesis.
        let health = get(format!("{url}/v1/health")).await;
        let data = &health["success"]["data"];
        assert_eq!(data["publicKey"], node["public_key"], "{health}");
        assert_eq!(data["nodeStatus"], "Active", "{health}");
        assert_eq!(data["epoch"], state["epoch"], "{health}");
        assert_eq!(data["shardSummary"]["owned"], node["shards"].as_array().unwrap().len(), "{health}");
        assert!(data["latestCheckpointSequenceNumber"].is_u64(), "{health}");

        // Each node reports its shards in place to the chain by itself (it gained them all).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let metrics = reqwest::get(format!("{url}/metrics")).await.unwrap().text().await.unwrap();
            if metrics.contains("sync_done_reports_total{outcome=\"sent\"} 1") {
                break;
            }
            assert!(Instant::now() < deadline, "{url} did not report epoch_sync_done:\n{metrics}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    assert_eq!(all_shards, (0..16).collect());

    // The client's configuration names the chain and a funded wallet.
    let client: toml::Table =
        std::fs::read_to_string(description["client_config"].as_str().unwrap()).unwrap().parse().unwrap();
    let chain = client["chain"].as_table().unwrap();
    assert_eq!(chain["kind"].as_str(), Some("local"));
    assert_eq!(chain["url"].as_str(), Some(chain_url.as_str()));
    let sender = chain["sender"].as_str().unwrap();
    let balance = get(format!("{chain_url}/v1/balances/{sender}")).await;
    assert!(balance["balance"].as_u64().unwrap() > 0, "{balance}");

    match &database_url {
        Some(_) => {
            // The indexer followed the same checkpoints: it knows the committee.
            let indexer = description["indexer_url"].as_str().expect("DATABASE_URL is set: the indexer runs");
            let indexed = get(format!("{indexer}/v1/nodes")).await;
            let indexed = indexed["nodes"].as_array().unwrap();
            assert_eq!(indexed.len(), 4);
            for node in nodes {
                let row = indexed.iter().find(|n| n["node_id"] == node["node_id"]).unwrap();
                assert_eq!(row["shards"], node["shards"]);
            }
        }
        None => assert!(description["indexer_url"].is_null()),
    }

    let pids = child_pids(&description);
    signal(&testbed, libc::SIGTERM);
    let status = testbed.wait().unwrap();
    assert!(status.success(), "{status}: {}", std::fs::read_to_string(work.path().join("stderr")).unwrap());
    assert_all_gone(&pids);
}

#[test]
fn without_postgresql_it_runs_without_the_indexer_and_a_killed_testbed_takes_its_children_along() {
    let work = tempfile::tempdir().unwrap();
    let mut testbed = start(work.path(), &["--nodes", "2", "--shards", "4"], None);
    let description = wait_ready(&mut testbed, work.path());
    assert!(description["indexer_url"].is_null());
    assert!(description["indexer"].is_null());
    let stderr = std::fs::read_to_string(work.path().join("stderr")).unwrap();
    assert!(stderr.contains("DATABASE_URL is not set: running without the indexer"), "{stderr}");

    // SIGKILL leaves the testbed no chance to clean up: the kernel stops its children.
    let pids = child_pids(&description);
    assert_eq!(pids.len(), 3);
    signal(&testbed, libc::SIGKILL);
    testbed.wait().unwrap();
    assert_all_gone(&pids);
}

#[test]
fn bad_requests_are_refused_before_anything_starts() {
    let work = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(testbed_binary()).args(args).env_remove("DATABASE_URL").output().unwrap();
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let occupied = work.path().join("occupied");
    std::fs::create_dir(&occupied).unwrap();
    std::fs::write(occupied.join("keep-me"), "data").unwrap();
    let stderr = run(&["up", "--dir", occupied.to_str().unwrap()]);
    assert!(stderr.contains("is not empty"), "{stderr}");
    assert_eq!(std::fs::read_dir(&occupied).unwrap().count(), 1, "nothing written into a folder in use");

    let stderr = run(&["up", "--nodes", "5", "--shards", "4", "--dir", work.path().join("a").to_str().unwrap()]);
    assert!(stderr.contains("--shards (4) must be at least --nodes (5)"), "{stderr}");
    let stderr = run(&["up", "--nodes", "0", "--dir", work.path().join("b").to_str().unwrap()]);
    assert!(stderr.contains("--nodes must be at least 1"), "{stderr}");
    let missing = work.path().join("missing");
    let stderr = run(&["demo", missing.to_str().unwrap(), "--dir", work.path().join("c").to_str().unwrap()]);
    assert!(stderr.contains("missing is not a file"), "{stderr}");
    assert!(!work.path().join("c").exists());
}

#[test]
fn a_child_that_dies_takes_the_testbed_down_with_the_others() {
    let work = tempfile::tempdir().unwrap();
    let mut testbed = start(work.path(), &["--nodes", "2", "--shards", "4"], None);
    let description = wait_ready(&mut testbed, work.path());
    let pids = child_pids(&description);
    let victim = description["nodes"][0]["pid"].as_u64().unwrap();
    assert_eq!(unsafe { libc::kill(victim as libc::pid_t, libc::SIGKILL) }, 0);

    let status = testbed.wait().unwrap();
    assert!(!status.success());
    let stderr = std::fs::read_to_string(work.path().join("stderr")).unwrap();
    assert!(stderr.contains(&format!("node-0 (pid {victim}) exited (signal: 9")), "{stderr}");
    assert_all_gone(&pids);
}

/// The README's main job on a small committee: the file goes through the client, the chain and
/// the nodes and comes back identical; with PostgreSQL the indexer reports it certified.
#[test]
fn demo_stores_a_file_and_reads_it_back_through_the_nodes() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("file.bin");
    let data: Vec<u8> = (0..300_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(&file, &data).unwrap();
    let mut command = Command::new(testbed_binary());
    command.args(["demo", file.to_str().unwrap(), "--nodes", "4", "--shards", "16", "--dir"]);
    command.arg(work.path().join("tb"));
    let database_url = std::env::var("DATABASE_URL").ok();
    if database_url.is_none() {
        command.env_remove("DATABASE_URL");
    }
    let output = command.stdin(Stdio::null()).output().unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{}\n{stdout}\n{stderr}", output.status);
    assert!(stdout.contains("identical to") && stdout.contains("(300000 bytes)"), "{stdout}");
    assert!(stdout.contains("\"newlyCreated\""), "{stdout}");
    if database_url.is_some() {
        assert!(stdout.contains("\"status\": \"certified\""), "{stdout}");
    }
}

/// The wallet's keystore, a fake full node with a deployment that elects committees of 8
/// shards, and the deployment file; returns (keystore, deployment, fake, url).
async fn sui_network(work: &Path) -> (PathBuf, PathBuf, fake_sui::Fake, String) {
    let keystore = work.join("sui.keystore");
    let key = fake_sui::wallet(&keystore);
    let fake = fake_sui::Fake::new(key.address(), &[100_000_000_000]);
    fake.state().checkpoint_delay = 0;
    fake.deploy(&[100 * fake_sui::MIN_STAKE]);
    fake.hold_elections(8);
    let url = fake_sui::serve(fake.clone()).await;
    let deployment = work.join("deployment.toml");
    fake.write_deployment(&url, &deployment);
    (keystore, deployment, fake, url)
}

/// How many times the fake executed `call`.
fn count(fake: &fake_sui::Fake, call: &str) -> usize {
    fake.state().calls.iter().filter(|c| *c == call).count()
}

/// Runs the `walrus` binary beside the testbed's; it must succeed.
fn walrus(args: &[&str]) {
    let binary = testbed_binary().with_file_name("walrus");
    let output = Command::new(&binary).args(args).env_remove("WALRUS_DEPLOYMENT").output().unwrap();
    assert!(output.status.success(), "walrus {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

/// Waits until every node of `description` reports `epoch`.
async fn nodes_reach_epoch(description: &Value, epoch: u64) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for node in description["nodes"].as_array().unwrap() {
        let url = node["url"].as_str().unwrap();
        loop {
            let health = get(format!("{url}/v1/health")).await;
            if health["success"]["data"]["epoch"] == epoch {
                break;
            }
            assert!(Instant::now() < deadline, "{url} is not in epoch {epoch}: {health}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_sui_registers_and_stakes_the_nodes_which_follow_the_full_node_and_resume() {
    let work = tempfile::tempdir().unwrap();
    let (keystore, deployment, fake, url) = sui_network(work.path()).await;
    let (keystore_arg, deployment_arg) = (keystore.to_str().unwrap(), deployment.to_str().unwrap());
    // Registered at another loopback address: reachable there only if they listen beyond 127.0.0.1.
    let args = [
        "--sui",
        &url,
        "--deployment",
        deployment_arg,
        "--keystore",
        keystore_arg,
        "--nodes",
        "3",
        "--stake",
        "2",
        "--public-host",
        "127.0.0.2",
    ];

    let database_url = std::env::var("DATABASE_URL").ok();
    let mut testbed = start(work.path(), &args, database_url.as_deref());
    let description = wait_ready(&mut testbed, work.path());
    let stdout = std::fs::read_to_string(work.path().join("stdout")).unwrap();
    assert!(stdout.contains("ready on Sui: 3 nodes registered and staked"), "{stdout}");
    assert!(stdout.contains(&format!("walrus epoch-change voting-end --deployment {deployment_arg}")), "{stdout}");

    // Each node was registered with its own key and address and staked, by the wallet's
    // transactions through the full node.
    let nodes = description["nodes"].as_array().unwrap().clone();
    let candidates = fake.state().ledger.candidates.clone();
    assert_eq!((nodes.len(), candidates.len()), (3, 3));
    for (node, candidate) in nodes.iter().zip(&candidates) {
        assert_eq!(node["node_id"].as_str().unwrap(), candidate.node.to_string());
        let port = node["url"].as_str().unwrap().rsplit_once(':').unwrap().1.to_owned();
        assert_eq!(candidate.network_address, format!("127.0.0.2:{port}"));
        assert_eq!(fake.state().ledger.stakes[&candidate.node], 2 * fake_sui::MIN_STAKE);
        let health = get(format!("http://{}/v1/health", candidate.network_address)).await;
        let public_key = STANDARD.decode(health["success"]["data"]["publicKey"].as_str().unwrap()).unwrap();
        assert_eq!(public_key, candidate.public_key, "{health}");
    }
    assert_eq!(description["sui"]["package_id"], fake.state().walrus.unwrap().package.to_string());
    for call in ["staking::register_candidate", "staking::stake_with_pool"] {
        assert_eq!(count(&fake, call), 3, "{call}");
    }

    // The epoch change the testbed asks for elects them; they learn it from the checkpoints.
    fake.make_change_due();
    walrus(&["epoch-change", "voting-end", "--deployment", deployment_arg, "--keystore", keystore_arg, "--yes"]);
    walrus(&["epoch-change", "initiate", "--deployment", deployment_arg, "--keystore", keystore_arg, "--yes"]);
    nodes_reach_epoch(&description, 1).await;
    // Each node reports its shards in place for epoch 1 through the full node, by itself.
    let deadline = Instant::now() + Duration::from_secs(60);
    while count(&fake, "staking::epoch_sync_done") < 3 {
        if Instant::now() >= deadline {
            // Copied first: panicking while holding the fake's lock would poison it for the nodes.
            let calls = fake.state().calls.clone();
            panic!("not every node reported sync-done: {calls:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if database_url.is_some() {
        // The indexer followed the same checkpoints: it knows the elected committee.
        let indexer = description["indexer_url"].as_str().expect("DATABASE_URL is set: the indexer runs");
        let deadline = Instant::now() + Duration::from_secs(30);
        let elected = fake.state().shards.clone();
        loop {
            let indexed = get(format!("{indexer}/v1/nodes")).await;
            let mut with_shards: Vec<(String, usize)> = indexed["nodes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|n| (n["node_id"].as_str().unwrap().to_owned(), n["shards"].as_array().map_or(0, Vec::len)))
                .filter(|(_, shards)| *shards > 0)
                .collect();
            with_shards.sort();
            let mut wanted: Vec<(String, usize)> = elected.iter().map(|(id, s)| (id.to_string(), s.len())).collect();
            wanted.sort();
            if with_shards == wanted {
                break;
            }
            assert!(Instant::now() < deadline, "the indexer shows {indexed}, not the committee {wanted:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    let pids: Vec<u64> = nodes.iter().map(|n| n["pid"].as_u64().unwrap()).collect();
    signal(&testbed, libc::SIGTERM);
    assert!(testbed.wait().unwrap().success());
    assert_all_gone(&pids);

    // Up again on the same folder: the same nodes resume, nothing is registered anew. Even
    // steps that landed without being recorded (the testbed stopped in between) are not sent
    // again: node-2's registration and stake, node-1's stake.
    let recorded = work.path().join("tb").join("sui-nodes.json");
    let mut file: Value = serde_json::from_str(&std::fs::read_to_string(&recorded).unwrap()).unwrap();
    file[2]["node_id"] = Value::from("");
    file[2]["staked"] = Value::from(false);
    file[1]["staked"] = Value::from(false);
    std::fs::write(&recorded, file.to_string()).unwrap();
    // Another public host would not change where the nodes are registered: refused.
    let mut elsewhere = args.to_vec();
    *elsewhere.last_mut().unwrap() = "127.0.0.3";
    let mut refused = start(work.path(), &elsewhere, None);
    assert!(!refused.wait().unwrap().success());
    let stderr = std::fs::read_to_string(work.path().join("stderr")).unwrap();
    assert!(stderr.contains("node-0 is registered at 127.0.0.2:"), "{stderr}");
    let mut testbed = start(work.path(), &args, None);
    let again = wait_ready(&mut testbed, work.path());
    for call in ["staking::register_candidate", "staking::stake_with_pool"] {
        assert_eq!(count(&fake, call), 3, "{call} not sent again");
    }
    let ids = |d: &Value| d["nodes"].as_array().unwrap().iter().map(|n| n["node_id"].clone()).collect::<Vec<_>>();
    assert_eq!(ids(&again), ids(&description));
    nodes_reach_epoch(&again, 1).await;
    signal(&testbed, libc::SIGTERM);
    assert!(testbed.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn up_with_sui_refuses_a_bad_url_or_deployment_before_sending_anything() {
    let work = tempfile::tempdir().unwrap();
    let (keystore, deployment, fake, url) = sui_network(work.path()).await;
    let keystore = keystore.to_str().unwrap();
    let run = |args: &[&str]| {
        let output = Command::new(testbed_binary())
            .arg("up")
            .args(args)
            .arg("--dir")
            .arg(work.path().join("tb"))
            .env_remove("DATABASE_URL")
            .output()
            .unwrap();
        assert!(!output.status.success());
        String::from_utf8(output.stderr).unwrap()
    };
    let stderr = run(&["--sui", &url]);
    assert!(stderr.contains("--deployment"), "{stderr}");
    let stderr =
        run(&["--sui", &url, "--deployment", deployment.to_str().unwrap(), "--public-host", "node.example.org:9185"]);
    assert!(stderr.contains("is not a host name or IP address"), "{stderr}");
    let stderr = run(&["--sui", "grpc://x", "--deployment", deployment.to_str().unwrap(), "--keystore", keystore]);
    assert!(stderr.contains("expected the full node's gRPC URL"), "{stderr}");
    let missing = work.path().join("missing.toml");
    let stderr = run(&["--sui", &url, "--deployment", missing.to_str().unwrap(), "--keystore", keystore]);
    assert!(stderr.contains("missing.toml"), "{stderr}");
    assert!(fake.state().calls.is_empty() && fake.state().simulations == 0);
}
