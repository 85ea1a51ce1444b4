//! End to end over the local chain: `walrus-localchain` served in-process on a temporary
//! folder, five real storage nodes (20 shards) registered at genesis with their own keys and
//! proofs of possession and following its checkpoint folder, and the client (library and
//! `walrus` binary) talking to the chain only over its HTTP API.

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use sui_sdk_types::Address;
use tempfile::TempDir;
use tokio::net::TcpListener;
use walrus_chain::source::Source;
use walrus_client::chain::local::LocalChain as ChainClient;
use walrus_client::{Client, ClientConfig, ObjectId, StoreOptions, StoreOutcome};
use walrus_encoder::BlobId;
use walrus_localchain::genesis::{Balance, Genesis, NodeGenesis};
use walrus_localchain::{service, LocalChain};
use walrus_node::{FollowConfig, Node, SyncReporter};

const N_NODES: usize = 5;
const N_SHARDS: u16 = 20;
const WAL: u64 = 1_000_000_000;

/// The chain, its nodes and a wallet with WAL.
struct Stand {
    dir: TempDir,
    url: String,
    wallet: ObjectId,
    chain: service::Shared,
    nodes: Vec<Node>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Stand {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|task| task.abort());
    }
}

impl Stand {
    async fn start() -> Self {
        let dir = TempDir::new().unwrap();
        let wallet = Address::new([0xC1; 32]);
        // The nodes' sockets come first: genesis registers their addresses.
        let mut listeners = Vec::new();
        for _ in 0..N_NODES {
            listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let mut keys = Vec::new();
        let mut genesis_nodes = Vec::new();
        for (i, listener) in listeners.iter().enumerate() {
            let (protocol, network) = walrus_node::keys::generate(&dir.path().join(format!("keys-{i}"))).unwrap();
            let operator = Address::new([0x0A + i as u8; 32]);
            genesis_nodes.push(NodeGenesis {
                name: format!("node-{i}"),
                network_address: listener.local_addr().unwrap().to_string(),
                public_key: protocol.public_key().to_vec(),
                network_public_key: network.public_key(),
                proof_of_possession: protocol.proof_of_possession(0, &operator.into_inner()).to_vec(),
                sender: operator,
                commission_rate: 0,
                stake: 10 * WAL,
                storage_price: 100,
                write_price: 20,
                node_capacity: 1 << 40,
            });
            keys.push(protocol);
        }
        let genesis = Genesis {
            package_id: None,
            deployer: Address::ZERO,
            n_shards: N_SHARDS,
            // No epoch change during a test.
            epoch_duration_ms: 3_600_000,
            max_epochs_ahead: 10,
            max_committee_size: 100,
            genesis_time_ms: None,
            balances: vec![Balance { address: wallet, amount: 1_000_000 * WAL }],
            nodes: genesis_nodes,
        };
        let (chain, _) = LocalChain::create(&dir.path().join("chain"), &genesis, service::now_ms()).unwrap();
        let state = chain.state();
        let package = state.package_id.unwrap();
        let checkpoints = chain.checkpoints_dir();
        let node_id = |public_key: &[u8]| {
            let member = state.bls_committee.members.iter().find(|m| m.public_key == public_key).unwrap();
            walrus_node::ObjectId(member.node_id.into_inner())
        };
        let node_ids: Vec<_> = keys.iter().map(|k| node_id(&k.public_key())).collect();

        let chain_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", chain_listener.local_addr().unwrap());
        let chain = Arc::new(Mutex::new(chain));
        let router = service::router(chain.clone());
        let mut tasks = vec![tokio::spawn(async move { axum::serve(chain_listener, router).await.unwrap() })];
        let mut nodes = Vec::new();
        let operators: Vec<Address> = genesis.nodes.iter().map(|n| n.sender).collect();
        for (i, ((key, listener), node_id)) in keys.into_iter().zip(listeners).zip(node_ids).enumerate() {
            let node = Node::open(&dir.path().join(format!("node-{i}")), key, node_id, Duration::from_secs(5)).unwrap();
            let server = node.clone();
            tasks.push(tokio::spawn(async move { server.serve(listener).await.unwrap() }));
            let config = FollowConfig { package, first_checkpoint: 0, poll_interval: Duration::from_millis(20) };
            tasks.push(node.follow(Source::Dir(checkpoints.clone()), config));
            tasks.push(node.report_sync_done(SyncReporter::LocalChain { url: url.clone(), operator: operators[i] }));
            nodes.push(node);
        }
        Self { dir, url, wallet: ObjectId(wallet.into_inner()), chain, nodes, tasks }
    }

    fn client(&self) -> Client {
        let config = ClientConfig {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(1000),
            ..ClientConfig::default()
        };
        Client::new(Arc::new(ChainClient::new(&self.url, self.wallet).unwrap()), config)
    }

    /// The chain's own record of the blob's objects, not the client's reading of it.
    async fn objects_on_chain(&self, blob_id: &BlobId) -> Vec<Value> {
        let response = reqwest::get(format!("{}/v1/blobs/{blob_id}", self.url)).await.unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
        answer["objects"].as_array().unwrap().clone()
    }

    fn config_file(&self) -> PathBuf {
        let path = self.dir.path().join("client.toml");
        let text = format!(
            "[chain]\nkind = \"local\"\nurl = \"{}\"\nsender = \"{}\"\n\n[client]\ninitial_backoff_ms = 50\n",
            self.url, self.wallet
        );
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Waits up to five seconds for every node to agree with `holds`.
    async fn nodes_hold(&self, blob_id: &BlobId, holds: bool) -> bool {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            if self.nodes.iter().all(|n| n.holds_data(blob_id).unwrap() == holds) {
                return true;
            }
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] ^ seed).collect()
}

fn options(epochs: u32, deletable: bool) -> StoreOptions {
    StoreOptions { epochs, deletable, force: false, progress: None }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_stored_through_the_local_chain_read_back_and_deleted_ones_are_dropped() {
    let stand = Stand::start().await;
    let client = stand.client();
    let committee = client.chain().committee().await.unwrap();
    assert_eq!((committee.epoch, committee.members.len(), committee.n_shards()), (1, N_NODES, N_SHARDS));

    let mut deletable = None;
    for (len, is_deletable) in [(0, false), (1, true), (1 << 20, false)] {
        let data = blob(len, len as u8);
        let StoreOutcome::NewlyCreated { blob: object, faults, cost, encoded_length, .. } =
            client.store(data.clone(), options(3, is_deletable)).await.unwrap()
        else {
            panic!("a new blob of {len} bytes is stored anew")
        };
        assert_eq!(faults, vec![], "every node confirms");
        let prices = client.chain().prices().await.unwrap();
        assert_eq!(cost, prices.cost(encoded_length, 3), "the chain charged what the contract's prices say");
        let id = object.blob_id;
        assert_eq!(id, walrus_encoder::compute_metadata(N_SHARDS, &data).unwrap().blob_id());
        let read = client.read(&id).await.unwrap();
        assert_eq!((read.blob.len(), &read.faults), (len, &vec![]));
        assert!(read.blob == data, "{len} bytes read back identical");

        // Certified on the chain itself, for the wallet, until epoch 1 + 3.
        let on_chain = stand.objects_on_chain(&id).await;
        assert_eq!(on_chain.len(), 1);
        assert_eq!(on_chain[0]["object_id"], object.object_id.to_string());
        assert_eq!(on_chain[0]["owner"], stand.wallet.to_string());
        assert_eq!((on_chain[0]["certified_epoch"].as_u64(), on_chain[0]["end_epoch"].as_u64()), (Some(1), Some(4)));
        assert_eq!(on_chain[0]["deletable"], is_deletable);
        let seen = client.chain().blob_objects(&id).await.unwrap();
        assert_eq!(seen, vec![object]);
        assert!(object.owned && object.certified_epoch == Some(1));
        assert!(stand.nodes_hold(&id, true).await, "every node holds its slivers of {len} bytes");
        if is_deletable {
            deletable = Some(object);
        }
    }

    // A permanent blob cannot be deleted: the Move error's name and message come through.
    let deletable = deletable.unwrap();
    let empty = walrus_encoder::compute_metadata(N_SHARDS, &[]).unwrap().blob_id();
    let permanent = client.chain().blob_objects(&empty).await.unwrap()[0];
    let refused = client.chain().delete(&permanent.object_id).await.unwrap_err().to_string();
    assert_eq!(refused, "the chain refused: blob::EBlobNotDeletable (The blob is not deletable)");

    client.chain().delete(&deletable.object_id).await.unwrap();
    assert!(stand.objects_on_chain(&deletable.blob_id).await.is_empty());
    assert!(stand.nodes_hold(&deletable.blob_id, false).await, "the nodes drop a deleted blob");
    let gone = client.chain().delete(&deletable.object_id).await.unwrap_err().to_string();
    assert!(gone.starts_with("the chain refused: ObjectNotFound: "), "{gone}");
}

async fn walrus(config: &Path, args: &[&str]) -> Output {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_walrus"));
    command.arg("--config").arg(config).args(args).env_remove("WALRUS_CONFIG");
    tokio::task::spawn_blocking(move || command.output().unwrap()).await.unwrap()
}

async fn json_of(config: &Path, args: &[&str]) -> Value {
    let output = walrus(config, args).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{args:?}: {stderr}");
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_walrus_binary_stores_reads_and_reports_through_the_local_chain() {
    let stand = Stand::start().await;
    let config = stand.config_file();
    let file = stand.dir.path().join("hello.bin");
    let data = blob(100_000, 7);
    std::fs::write(&file, &data).unwrap();

    let info = json_of(&config, &["--json", "info"]).await;
    assert_eq!((info["epoch"].as_u64(), info["nShards"].as_u64()), (Some(1), Some(u64::from(N_SHARDS))));
    assert_eq!(info["committee"]["members"].as_array().unwrap().len(), N_NODES);

    let store = ["--json", "store", file.to_str().unwrap(), "--epochs", "2", "--permanent"];
    let stored = json_of(&config, &store).await;
    let object = &stored[0]["blobStoreResult"]["newlyCreated"]["blobObject"];
    let blob_id = object["blobId"].as_str().unwrap().to_owned();
    assert_eq!(blob_id, walrus_encoder::compute_metadata(N_SHARDS, &data).unwrap().blob_id().to_string());
    assert_eq!((object["certifiedEpoch"].as_u64(), object["storage"]["endEpoch"].as_u64()), (Some(1), Some(3)));
    assert_eq!(object["deletable"], false);

    let again = json_of(&config, &store).await;
    assert_eq!(again[0]["blobStoreResult"]["alreadyCertified"]["blobId"], blob_id.as_str());

    let out = stand.dir.path().join("out.bin");
    let read = json_of(&config, &["--json", "read", &blob_id, "--out", out.to_str().unwrap()]).await;
    assert_eq!(read["size"].as_u64(), Some(data.len() as u64));
    assert!(std::fs::read(&out).unwrap() == data, "read back identical");

    let status = json_of(&config, &["--json", "blob-status", "--file", file.to_str().unwrap()]).await;
    assert_eq!(status["blobId"], blob_id.as_str());
    assert_eq!(status["objects"][0]["id"], object["id"]);
    assert_eq!(status["objects"][0]["certifiedEpoch"].as_u64(), Some(1));

    // Another blob, deletable, as far ahead as the chain allows (max_epochs_ahead = 10).
    let other = stand.dir.path().join("other.bin");
    std::fs::write(&other, blob(1000, 9)).unwrap();
    let stored = json_of(&config, &["--json", "store", other.to_str().unwrap(), "--epochs", "max"]).await;
    let deletable = &stored[0]["blobStoreResult"]["newlyCreated"]["blobObject"];
    assert_eq!((deletable["storage"]["endEpoch"].as_u64(), &deletable["deletable"]), (Some(11), &Value::Bool(true)));
    let listed = json_of(&config, &["--json", "list-blobs"]).await;
    let mut ids: Vec<&Value> = listed.as_array().unwrap().iter().map(|b| &b["id"]).collect();
    ids.sort_by_key(|id| id.as_str());
    let mut expected = vec![&object["id"], &deletable["id"]];
    expected.sort_by_key(|id| id.as_str());
    assert_eq!(ids, expected);

    let permanent_id = object["id"].as_str().unwrap();
    let extended =
        json_of(&config, &["--json", "extend", "--blob-obj-id", permanent_id, "--epochs-extended", "2"]).await;
    assert_eq!(extended["blobObject"]["storage"]["endEpoch"].as_u64(), Some(5));
    assert!(extended["cost"].as_u64().unwrap() > 0);

    let output = walrus(&config, &["delete", "--blob-id", &blob_id]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success() && stderr.contains("no deletable blob object of this wallet"), "{stderr}");
    let output = walrus(&config, &["delete", "--object-id", permanent_id]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("blob::EBlobNotDeletable (The blob is not deletable)"), "{stderr}");
    let deleted = json_of(&config, &["--json", "delete", "--blob-id", deletable["blobId"].as_str().unwrap()]).await;
    assert_eq!(deleted["deleted"][0], deletable["id"]);
    let listed = json_of(&config, &["--json", "list-blobs"]).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // The chain's refusal reaches the user by name: epochs beyond max_epochs_ahead.
    let refused = walrus(&config, &["store", file.to_str().unwrap(), "--epochs", "11", "--force"]).await;
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(stderr.contains("system_state_inner::EInvalidEpochsAhead"), "{stderr}");

    // A chain that is not there is named.
    let nowhere = stand.dir.path().join("nowhere.toml");
    std::fs::write(
        &nowhere,
        format!("[chain]\nkind = \"local\"\nurl = \"http://127.0.0.1:1\"\nsender = \"{}\"\n", stand.wallet),
    )
    .unwrap();
    let output = walrus(&nowhere, &["info"]).await;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        !output.status.success() && stderr.contains("cannot reach the local chain at http://127.0.0.1:1"),
        "{stderr}"
    );
}

/// Runs `walrus` to its end and returns its peak resident memory in bytes, polled from
/// `VmHWM` (`ru_maxrss` would count this test process, which the child shares until it execs).
async fn peak_rss(config: &Path, args: &[&str]) -> u64 {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_walrus"));
    let errors = tempfile::NamedTempFile::new().unwrap();
    command.arg("--config").arg(config).args(args).env_remove("WALRUS_CONFIG");
    command.stdout(std::process::Stdio::null()).stderr(errors.reopen().unwrap());
    let what = format!("{args:?}");
    tokio::task::spawn_blocking(move || {
        let mut child = command.spawn().unwrap();
        let status_file = format!("/proc/{}/status", child.id());
        let mut peak = 0;
        let status = loop {
            let high_water = std::fs::read_to_string(&status_file).ok().and_then(|status| {
                let line = status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?;
                line.trim().trim_end_matches("kB").trim().parse::<u64>().ok()
            });
            peak = peak.max(high_water.unwrap_or(0) * 1024);
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let stderr = std::fs::read_to_string(errors.path()).unwrap();
        assert!(status.success(), "{what}: {stderr}");
        peak
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_holds_the_encoders_working_set_not_the_blob_and_all_its_slivers() {
    let stand = Stand::start().await;
    let dir = stand.dir.path();
    // One sliver in flight per node: at 20 shards a sliver is an eighth of the blob, and eight
    // per node to five nodes would be five blobs in flight, hiding what this test looks at.
    let config = dir.join("one-request.toml");
    let text = std::fs::read_to_string(stand.config_file()).unwrap() + "requests_per_node = 1\n";
    std::fs::write(&config, text).unwrap();
    // The largest blob 20 shards take; a byte for what the process needs besides blobs.
    let size = walrus_encoder::EncodingParams::new(N_SHARDS).unwrap().max_blob_size() as usize;
    let (tiny, large) = (dir.join("tiny.bin"), dir.join("large.bin"));
    std::fs::write(&tiny, [7]).unwrap();
    std::fs::write(&large, blob(size, 11)).unwrap();
    let store = |file: &Path| ["store", "--epochs", "1"].into_iter().map(str::to_owned).chain([path_text(file)]);
    let store_tiny: Vec<String> = store(&tiny).collect();
    let store_large: Vec<String> = store(&large).collect();
    let base = peak_rss(&config, &args(&store_tiny)).await;
    let stored = peak_rss(&config, &args(&store_large)).await;
    let growth = |peak: u64| peak.saturating_sub(base) as f64 / size as f64;
    // Holding the slivers would be 4.5 times the blob, besides the blob itself.
    assert!(growth(stored) < STORE_BOUND, "a store of {size} bytes grew by {:.2}x the blob", growth(stored));

    // Read back identical. (A read's memory is measured by the benchmark at 1000 shards: at
    // 20, a sliver is an eighth of the blob and the slivers in flight dominate.)
    let blob_id = walrus_encoder::compute_metadata(N_SHARDS, &blob(size, 11)).unwrap().blob_id().to_string();
    let out = dir.join("out.bin");
    peak_rss(&config, &["read", &blob_id, "--out", &path_text(&out)]).await;
    assert!(std::fs::read(&out).unwrap() == blob(size, 11), "read back identical");
}

/// Peak memory of a store of the largest blob beyond that of a tiny one, in blobs. Holding
/// the blob and its slivers at once is at least 5.5; spilled, what remains is the encoder's
/// batches (about 2.5 blobs at 20 shards and 7 MiB, where a batch is a large part of the blob;
/// small fractions at 1000 shards: see the benchmark) and a sliver in flight per node.
const STORE_BOUND: f64 = 4.0;

fn args(owned: &[String]) -> Vec<&str> {
    owned.iter().map(String::as_str).collect()
}

fn path_text(path: &Path) -> String {
    path.to_str().unwrap().to_owned()
}

/// Each node reports its shards in place to the local chain by itself, once per epoch: at
/// genesis, and at once in an epoch where it gained nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_report_sync_done_to_the_local_chain_each_epoch() {
    let stand = Stand::start().await;
    let reported = |epoch: u32| {
        let chain = stand.chain.lock().unwrap();
        chain.state().pools.values().all(|pool| pool.last_epoch_sync_done == epoch)
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reported(1) {
        assert!(Instant::now() < deadline, "not every node reported epoch 1");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let response = reqwest::Client::new().post(format!("{}/v1/epoch/advance", stand.url)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let deadline = Instant::now() + Duration::from_secs(20);
    while !reported(2) {
        assert!(Instant::now() < deadline, "not every node reported epoch 2");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
