//! A store on Sui end to end: four real storage nodes (in this process) follow the checkpoints
//! of the fake full node of `fake_sui` over its gRPC API, and the `walrus` binary does
//! everything else through that node: registers and stakes the nodes, runs the epoch change
//! that elects them, then stores (reserve and register, upload, certify with the nodes' BLS
//! confirmations, which the fake checks against the committee's keys), reads, deletes, and
//! stores again on the storage the deletion left.

mod fake_sui;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fake_sui::{serve, Fake, MIN_STAKE};
use serde_json::Value;
use tempfile::TempDir;
use tokio::net::TcpListener;
use walrus_chain::source::Source;
use walrus_encoder::BlobId;
use walrus_node::{FollowConfig, Node, ObjectId};

const N_NODES: usize = 4;
const N_SHARDS: u16 = 10;

/// The fake full node, a wallet with SUI and WAL, and the nodes following the fake.
struct Net {
    dir: TempDir,
    fake: Fake,
    keystore: PathBuf,
    deployment: PathBuf,
    nodes: Vec<Node>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for Net {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|task| task.abort());
    }
}

impl Net {
    /// Deploys, registers and stakes four nodes with the `walrus` binary, elects them in the
    /// change to epoch 1, and starts them following the fake from checkpoint 0.
    async fn start() -> Self {
        let dir = TempDir::new().unwrap();
        let keystore = dir.path().join("sui.keystore");
        let key = fake_sui::wallet(&keystore);
        let fake = Fake::new(key.address(), &[100_000_000_000]);
        // Every transaction is in its checkpoint at the first poll.
        fake.state().checkpoint_delay = 0;
        let walrus = fake.deploy(&[1_000 * MIN_STAKE]);
        fake.hold_elections(N_SHARDS);
        let url = serve(fake.clone()).await;
        let deployment = dir.path().join("deployment.toml");
        fake.write_deployment(&url, &deployment);
        let mut net = Self { dir, fake, keystore, deployment, nodes: Vec::new(), tasks: Vec::new() };

        let mut started = Vec::new();
        for i in 0..N_NODES {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let keys = net.dir.path().join(format!("keys-{i}"));
            let (protocol, network) = walrus_node::keys::generate(&keys).unwrap();
            let pop = protocol.proof_of_possession(0, &key.address().into_inner());
            let registered = net
                .json(&[
                    "node",
                    "register",
                    "--name",
                    &format!("node-{i}"),
                    "--network-address",
                    &listener.local_addr().unwrap().to_string(),
                    "--public-key",
                    &format!("0x{}", hex::encode(protocol.public_key())),
                    "--network-public-key",
                    &format!("0x{}", hex::encode(network.public_key())),
                    "--proof-of-possession",
                    &format!("0x{}", hex::encode(pop)),
                    "--commission-rate",
                    "0",
                    "--storage-price",
                    "100",
                    "--write-price",
                    "1000",
                    "--capacity",
                    "1TiB",
                    "--yes",
                ])
                .await;
            let node_id = registered["nodeId"].as_str().unwrap().to_owned();
            net.ok(&["stake", "--node", &node_id, "--amount", &(10 + i).to_string(), "--yes"]).await;
            started.push((protocol, node_id.parse::<ObjectId>().unwrap(), listener));
        }
        net.fake.make_change_due();
        net.ok(&["epoch-change", "voting-end", "--yes"]).await;
        net.ok(&["epoch-change", "initiate", "--yes"]).await;

        for (i, (protocol, node_id, listener)) in started.into_iter().enumerate() {
            let storage = net.dir.path().join(format!("node-{i}"));
            let node = Node::open(&storage, protocol, node_id, Duration::from_secs(5)).unwrap();
            let server = node.clone();
            net.tasks.push(tokio::spawn(async move { server.serve(listener).await.unwrap() }));
            let config =
                FollowConfig { package: walrus.package, first_checkpoint: 0, poll_interval: Duration::from_millis(20) };
            net.tasks.push(node.follow(Source::parse(&format!("grpc+{url}")).unwrap(), config));
            net.nodes.push(node);
        }
        net
    }

    /// Runs `walrus ARGS --keystore … --deployment …`, which must succeed; its standard output.
    async fn ok(&self, args: &[&str]) -> String {
        let mut args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        // Reading needs no wallet.
        if args.first().is_none_or(|a| a != "read") {
            args.extend(["--keystore".into(), path(&self.keystore)]);
        }
        args.extend(["--deployment".into(), path(&self.deployment)]);
        let shown = args.join(" ");
        let output = fake_sui::run_walrus(env!("CARGO_BIN_EXE_walrus"), args).await;
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(output.status.success(), "walrus {shown} failed: {stderr}");
        String::from_utf8(output.stdout).unwrap()
    }

    async fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.ok(&all).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// Waits up to 20 seconds for every node to satisfy `condition`.
    async fn until(&self, what: &str, condition: impl Fn(&Node) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !self.nodes.iter().all(&condition) {
            assert!(Instant::now() < deadline, "the nodes did not {what} within 20 s");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn calls(&self) -> Vec<String> {
        self.fake.state().calls.clone()
    }

    fn write(&self, name: &str, bytes: &[u8]) -> String {
        let file = self.dir.path().join(name);
        std::fs::write(&file, bytes).unwrap();
        path(&file)
    }

    /// `walrus read` of `blob_id` into a file; its bytes.
    async fn read(&self, blob_id: &str) -> Vec<u8> {
        let out = self.dir.path().join(format!("read-{blob_id}"));
        self.ok(&["read", blob_id, "--out", &path(&out)]).await;
        std::fs::read(out).unwrap()
    }
}

fn path(path: &Path) -> String {
    path.display().to_string()
}

fn certified(node: &Node, blob_id: &BlobId) -> bool {
    node.blob_state(blob_id).unwrap().objects.iter().any(|o| o.certified_epoch.is_some())
}

fn data(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[3] ^ seed).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_on_sui_reaches_the_nodes_reads_back_and_a_deletion_drops_it() {
    let net = Net::start().await;
    // The nodes learned the committee the chain elected from the checkpoints alone.
    let tip = net.fake.latest_checkpoint().unwrap();
    net.until("follow every checkpoint", |n| n.watermark() == Some(tip)).await;
    let members = net.fake.state().shards.clone();
    assert_eq!(members.len(), N_NODES);
    for node in &net.nodes {
        let committee = node.committee();
        assert_eq!(committee.epoch, 1);
        let shards: Vec<(sui_sdk_types::Address, Vec<u16>)> =
            committee.members.iter().map(|m| (sui_sdk_types::Address::new(m.node_id.0), m.shards.clone())).collect();
        assert_eq!(shards, members, "the committee of the System and Staking objects");
        assert_eq!(node.unusable_events().unwrap(), 0, "every event of the package decodes");
    }

    // Store: reserve and register, upload to the nodes, certify with their confirmations.
    let bytes = data(100_000, 7);
    let file = net.write("blob.bin", &bytes);
    let stored = net.json(&["store", &file, "--epochs", "2", "--yes"]).await;
    let created = &stored[0]["blobStoreResult"]["newlyCreated"];
    assert!(created.is_object(), "{stored}");
    assert!(created["resourceOperation"]["registerFromScratch"].is_object(), "{stored}");
    let blob_id = created["blobObject"]["blobId"].as_str().unwrap().to_owned();
    let id: BlobId = blob_id.parse().unwrap();
    assert_eq!(id, walrus_encoder::compute_metadata(N_SHARDS, &bytes).unwrap().blob_id());
    let blobs = net.fake.blobs();
    assert_eq!(blobs.len(), 1);
    assert_eq!((blobs[0].blob_id, blobs[0].certified_epoch, blobs[0].storage.2), (id.0, Some(1), 3));
    let tail: Vec<String> = net.calls().into_iter().rev().take(3).collect();
    assert_eq!(tail, ["system::certify_blob", "system::register_blob_bounded", "system::reserve_space_bounded"]);

    // Every node saw the certification in a checkpoint and holds its slivers.
    net.until("see the certification", |n| certified(n, &id) && n.holds_data(&id).unwrap()).await;
    assert!(net.read(&blob_id).await == bytes, "the blob reads back identical");

    // A deletion on chain makes every node drop the blob.
    net.ok(&["delete", "--blob-id", &blob_id, "--yes"]).await;
    assert!(net.fake.blobs().is_empty());
    net.until("drop the deleted blob", |n| !n.blob_state(&id).unwrap().is_registered() && !n.holds_data(&id).unwrap())
        .await;

    // The deletion left the wallet its storage (epochs 1..3): the next store of a blob that
    // fits registers on it and pays only the write fee.
    let storage_left = net.fake.state().owned_of_type("storage_resource", "Storage");
    assert_eq!(storage_left.len(), 1);
    let wal_before = wal(&net.fake);
    let again = data(50_000, 9);
    let file = net.write("again.bin", &again);
    let write_fee = fake_sui::WRITE_PRICE; // one MiB unit of encoded size
    let dry = net.json(&["store", &file, "--epochs", "2", "--dry-run"]).await;
    assert_eq!((dry[0]["reuseStorage"].as_bool(), dry[0]["cost"].as_u64()), (Some(true), Some(write_fee)), "{dry}");
    assert_eq!(wal_before, wal(&net.fake), "a dry run spends nothing");
    let stored = net.json(&["store", &file, "--epochs", "2", "--yes"]).await;
    let created = &stored[0]["blobStoreResult"]["newlyCreated"];
    assert!(created["resourceOperation"]["reuseStorage"].is_object(), "{stored}");
    assert_eq!((created["cost"].as_u64(), wal_before - wal(&net.fake)), (Some(write_fee), write_fee));
    assert!(net.fake.state().owned_of_type("storage_resource", "Storage").is_empty(), "the storage is used");
    let blobs = net.fake.blobs();
    assert_eq!((blobs.len(), blobs[0].storage.0), (1, storage_left[0]), "the blob holds the old storage");
    let tail: Vec<String> = net.calls().into_iter().rev().take(2).collect();
    assert_eq!(tail, ["system::certify_blob", "system::register_blob_bounded"], "no storage bought");
    let again_id = created["blobObject"]["blobId"].as_str().unwrap().to_owned();
    let parsed: BlobId = again_id.parse().unwrap();
    net.until("see the second certification", |n| certified(n, &parsed)).await;
    assert!(net.read(&again_id).await == again, "the second blob reads back identical");
}

/// The wallet's WAL, in FROST.
fn wal(fake: &Fake) -> u64 {
    let state = fake.state();
    let sender = state.sender.map(|s| s.to_string());
    state
        .objects
        .values()
        .filter(|o| o.object_type.as_deref() == Some(state.wal_coin.as_str()))
        .filter(|o| o.owner.as_ref().and_then(|w| w.address.clone()) == sender)
        .map(|o| o.balance.unwrap_or(0))
        .sum()
}
