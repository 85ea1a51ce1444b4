//! Storage nodes that follow the chain themselves: four nodes in one process read generated
//! checkpoints from a `dir:` source (node registrations with real BLS keys, a committee, blob
//! events, epoch changes) and are driven over HTTP with slivers from `walrus-encoder`.

#[allow(dead_code)]
mod common;

use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use common::{get, key, model, node_id, put, Answer, N_SHARDS, SHARDS};
use fastcrypto::bls12381::min_pk::{BLS12381AggregateSignature, BLS12381PublicKey, BLS12381Signature};
use fastcrypto::traits::{AggregateAuthenticator, ToFromBytes, VerifyingKey};
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Digest};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use walrus_chain::events as ev;
use walrus_chain::source::Source;
use walrus_chain::testing::{checkpoint, ours, package, raw_event, write_binpb_zst};
use walrus_encoder::{encode, BlobId, EncodedBlob, ShardIndex, ShardRotation, SliverPairIndex};
use walrus_node::{FollowConfig, Node};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

/// The checkpoints the nodes follow, written one by one into a folder.
struct Chain {
    dir: TempDir,
    next: u64,
}

impl Chain {
    fn new() -> Self {
        Self { dir: TempDir::new().unwrap(), next: 0 }
    }

    /// Writes the next checkpoint, one transaction per event list; returns its number.
    fn push(&mut self, transactions: Vec<Vec<proto::Event>>) -> u64 {
        let sequence = self.next;
        write_binpb_zst(self.dir.path(), &with_digests(checkpoint(sequence, transactions)));
        self.next += 1;
        sequence
    }

    /// The next checkpoint, each event in a transaction of its own.
    fn emit(&mut self, events: Vec<proto::Event>) -> u64 {
        self.push(events.into_iter().map(|e| vec![e]).collect())
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

/// Gives the builder's transactions real (base58, 32-byte) digests, as Sui has them.
fn with_digests(mut checkpoint: proto::Checkpoint) -> proto::Checkpoint {
    let sequence = checkpoint.sequence_number.unwrap();
    for (i, tx) in checkpoint.transactions.iter_mut().enumerate() {
        let mut bytes = [0x5Au8; 32];
        bytes[..8].copy_from_slice(&sequence.to_le_bytes());
        bytes[8..12].copy_from_slice(&(i as u32).to_le_bytes());
        tx.digest = Some(Digest::new(bytes).to_string());
    }
    checkpoint
}

fn address(id: walrus_node::ObjectId) -> Address {
    Address::new(id.0)
}

fn chain_blob(id: &BlobId) -> ev::BlobId {
    ev::BlobId(id.0)
}

fn object(seed: u8) -> Address {
    Address::new([seed; 32])
}

/// A running node: its API server and its follower.
struct Running {
    node: Node,
    server: JoinHandle<()>,
    follower: JoinHandle<()>,
}

/// Four nodes with their own stores and fixed addresses, following one chain.
struct Net {
    chain: Chain,
    dirs: Vec<TempDir>,
    addrs: Vec<SocketAddr>,
    nodes: Vec<Option<Running>>,
}

const POLL: Duration = Duration::from_millis(20);

impl Net {
    /// Binds four addresses, writes their registrations and the committee of epoch 1 (with an
    /// event of the package no node can use), starts the nodes and waits for epoch 1.
    async fn start() -> Self {
        let mut listeners = Vec::new();
        for _ in SHARDS {
            listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
        }
        let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let mut chain = Chain::new();
        let mut genesis: Vec<_> = (0..SHARDS.len()).map(|i| registration(i, &addrs[i])).collect();
        genesis.push(raw_event(package(), "events", "FromTheFuture", vec![1, 2, 3]));
        genesis.push(committee_selected(1));
        chain.emit(genesis);
        chain.emit(vec![ours(&ev::EpochChangeStart { epoch: 1 })]);
        let mut net =
            Self { chain, dirs: (0..SHARDS.len()).map(|_| TempDir::new().unwrap()).collect(), addrs, nodes: vec![] };
        for (i, listener) in listeners.into_iter().enumerate() {
            let node = Node::open(net.dirs[i].path(), key(i), node_id(i), Duration::from_secs(5)).unwrap();
            let running = net.run(node, listener);
            net.nodes.push(Some(running));
        }
        net.settle().await;
        net
    }

    fn run(&self, node: Node, listener: TcpListener) -> Running {
        let config = FollowConfig { package: package(), first_checkpoint: 0, poll_interval: POLL };
        let follower = node.follow(Source::Dir(self.chain.path().to_owned()), config);
        let server = tokio::spawn({
            let node = node.clone();
            async move { node.serve(listener).await.unwrap() }
        });
        Running { node, server, follower }
    }

    fn node(&self, i: usize) -> &Node {
        &self.nodes[i].as_ref().expect("node is running").node
    }

    /// Stops node `i` as a process exit would.
    async fn stop(&mut self, i: usize) {
        let running = self.nodes[i].take().expect("node is running");
        running.follower.abort();
        running.server.abort();
        let _ = running.follower.await;
        let _ = running.server.await;
    }

    /// Starts node `i` again on its address and store (once background tasks let go of it).
    async fn restart(&mut self, i: usize) {
        let listener = TcpListener::bind(self.addrs[i]).await.unwrap();
        for _ in 0..200 {
            if let Ok(node) = Node::open(self.dirs[i].path(), key(i), node_id(i), Duration::from_secs(5)) {
                self.nodes[i] = Some(self.run(node, listener));
                return;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!("the store of node {i} stays open");
    }

    /// Waits until every running node has applied every written checkpoint.
    async fn settle(&self) {
        let last = self.chain.next - 1;
        until("every node applies the last checkpoint", || {
            self.nodes.iter().flatten().all(|r| r.node.watermark() == Some(last))
        })
        .await;
    }

    async fn emit(&mut self, events: Vec<proto::Event>) {
        self.chain.emit(events);
        self.settle().await;
    }

    fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}/v1/blobs/{path}", self.addrs[i])
    }

    /// A new epoch with the same committee: selected, then started.
    async fn next_epoch(&mut self, epoch: u32) {
        self.emit(vec![committee_selected(epoch), ours(&ev::EpochChangeStart { epoch })]).await;
    }

    /// Uploads metadata and every pair node `i` holds; data already there is fine.
    async fn upload_to(&self, i: usize, blob: &EncodedBlob) {
        let id = blob.metadata.blob_id();
        let stored =
            |answer: Answer| assert!([200, 201].contains(&answer.status), "{}", String::from_utf8_lossy(&answer.bytes));
        stored(put(&self.url(i, &format!("{id}/metadata")), bcs::to_bytes(blob.metadata.metadata()).unwrap()).await);
        for pair in pairs_of(i, &id) {
            let p = &blob.pairs[usize::from(pair.0)];
            stored(put(&self.url(i, &format!("{id}/slivers/{}/primary", pair.0)), p.primary.to_bcs()).await);
            stored(put(&self.url(i, &format!("{id}/slivers/{}/secondary", pair.0)), p.secondary.to_bcs()).await);
        }
    }

    /// Whether node `i` serves every sliver of its shards of `blob`, byte for byte.
    async fn holds_all(&self, i: usize, blob: &EncodedBlob) -> bool {
        let id = blob.metadata.blob_id();
        for pair in pairs_of(i, &id) {
            let p = &blob.pairs[usize::from(pair.0)];
            for (axis, bytes) in [("primary", p.primary.to_bcs()), ("secondary", p.secondary.to_bcs())] {
                if get(&self.url(i, &format!("{id}/slivers/{}/{axis}", pair.0))).await.bytes != bytes {
                    return false;
                }
            }
        }
        true
    }
}

/// Node `i`'s registration: its real BLS key and its address.
fn registration(i: usize, addr: &SocketAddr) -> proto::Event {
    registration_of(i, &key(i).public_key(), addr)
}

fn registration_of(i: usize, public_key: &[u8; 48], addr: &SocketAddr) -> proto::Event {
    ours(&ev::NodeRegistered {
        epoch: 0,
        node_id: address(node_id(i)),
        name: format!("node {i}"),
        network_address: addr.to_string(),
        public_key: public_key.to_vec(),
        network_public_key: vec![i as u8; 32],
        commission_rate: 0,
    })
}

/// The four nodes with [`SHARDS`].
fn committee_selected(epoch: u32) -> proto::Event {
    ours(&ev::CommitteeSelected {
        epoch,
        node_ids: (0..SHARDS.len()).map(|i| address(node_id(i))).collect(),
        shards: SHARDS.iter().map(|s| s.to_vec()).collect(),
    })
}

fn deleted(blob: &BlobId, object_id: u8) -> proto::Event {
    ours(&ev::BlobDeleted {
        epoch: 1,
        blob_id: chain_blob(blob),
        end_epoch: 9,
        object_id: object(object_id),
        was_certified: false,
    })
}

fn registered(blob: &BlobId, object_id: u8, end_epoch: u32, deletable: bool) -> proto::Event {
    ours(&ev::BlobRegistered {
        epoch: 1,
        blob_id: chain_blob(blob),
        size: 3000,
        encoding_type: 1,
        end_epoch,
        deletable,
        object_id: object(object_id),
    })
}

fn certified(blob: &BlobId, object_id: u8, end_epoch: u32, deletable: bool) -> proto::Event {
    ours(&ev::BlobCertified {
        epoch: 1,
        blob_id: chain_blob(blob),
        end_epoch,
        deletable,
        object_id: object(object_id),
        is_extension: false,
    })
}

fn blob(seed: u8) -> EncodedBlob {
    let data: Vec<u8> = (0..3000u32).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed)).collect();
    encode(N_SHARDS, &data).unwrap()
}

fn pairs_of(i: usize, blob_id: &BlobId) -> Vec<SliverPairIndex> {
    let rotation = ShardRotation::new(blob_id, N_SHARDS);
    SHARDS[i].iter().map(|&s| rotation.pair_on(ShardIndex(s))).collect()
}

async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("timed out waiting until {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_learn_the_committee_from_events_and_certify_with_it() {
    let net = Net::start().await;
    for i in 0..SHARDS.len() {
        let committee = net.node(i).committee();
        assert_eq!(committee.epoch, 1);
        let keys: Vec<_> = committee.members.iter().map(|m| m.public_key.clone()).collect();
        assert_eq!(keys, (0..SHARDS.len()).map(|j| key(j).public_key().to_vec()).collect::<Vec<_>>());
        let addresses: Vec<_> = committee.members.iter().map(|m| m.network_address.clone()).collect();
        assert_eq!(addresses, net.addrs.iter().map(|a| a.to_string()).collect::<Vec<_>>());
        assert_eq!(committee.members.iter().map(|m| m.shards.clone()).collect::<Vec<_>>(), SHARDS.map(|s| s.to_vec()));
        assert_eq!(net.node(i).next_committee().unwrap(), None);
        assert_eq!(net.node(i).unusable_events().unwrap(), 1, "the unknown event is counted");
    }
    let health = get(&format!("http://{}/v1/health", net.addrs[2])).await.data();
    assert_eq!(health["epoch"], 1);
    assert_eq!(health["latestCheckpointSequenceNumber"], 1);
    // Four registrations, the unknown event, the selection and the epoch start.
    assert_eq!(health["eventProgress"]["persisted"], 7);
    assert_eq!(health["publicKey"], STANDARD.encode(key(2).public_key()));
    assert_eq!(health["nodeStatus"], "Active");

    let mut net = net;
    let b = blob(1);
    let id = b.metadata.blob_id();
    let confirm = |net: &Net, i: usize| net.url(i, &format!("{id}/confirmation/permanent"));
    get(&confirm(&net, 0)).await.assert_error(400, "NOT_REGISTERED");
    net.emit(vec![registered(&id, 1, 5, false)]).await;
    for i in 0..SHARDS.len() {
        net.upload_to(i, &b).await;
    }
    let expected = walrus_conformance::blob_certification_message(1, &id.0, None);
    let committee = net.node(0).committee();
    let mut signatures = Vec::new();
    for i in [0, 2, 3] {
        let answer = get(&confirm(&net, i)).await;
        assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.bytes));
        let signed = &answer.data()["signed"];
        let message = STANDARD.decode(signed["serializedMessage"].as_str().unwrap()).unwrap();
        let signature =
            BLS12381Signature::from_bytes(&STANDARD.decode(signed["signature"].as_str().unwrap()).unwrap()).unwrap();
        assert_eq!(message, expected);
        // The key registered on chain for node i, as the nodes learned it.
        let registered = BLS12381PublicKey::from_bytes(&committee.members[i].public_key).unwrap();
        registered.verify(&message, &signature).expect("the confirmation verifies against the registered key");
        signatures.push(signature);
    }
    // Nodes 0, 2, 3 hold 3 + 2 + 2 of 10 shards: a quorum, as the contract checks it.
    let model = model(&committee);
    let bitmap = walrus_conformance::signers_bitmap(4, &[0, 2, 3]);
    let non_signers = walrus_conformance::non_signers(4, &bitmap).unwrap();
    assert_eq!(non_signers, [1]);
    assert!(model.is_quorum(model.weight_of(&[0, 2, 3])));
    let aggregate = BLS12381AggregateSignature::aggregate(&signatures).unwrap();
    let aggregate = BLS12381Signature::from_bytes(aggregate.as_bytes()).unwrap();
    model.aggregate_key(&non_signers).verify(&expected, &aggregate).expect("the certificate verifies");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_invalidation_and_expiry_remove_the_data() {
    let mut net = Net::start().await;
    let (kept, removed, invalid, expiring) = (blob(2), blob(3), blob(4), blob(5));
    let ids = [&kept, &removed, &invalid, &expiring].map(|b| b.metadata.blob_id());
    net.emit(vec![
        registered(&ids[0], 10, 9, false),
        registered(&ids[1], 11, 9, true),
        registered(&ids[2], 12, 9, false),
        registered(&ids[3], 13, 3, false),
    ])
    .await;
    for b in [&kept, &removed, &invalid, &expiring] {
        for i in 0..SHARDS.len() {
            net.upload_to(i, b).await;
        }
    }
    net.emit(vec![certified(&ids[1], 11, 9, true), certified(&ids[0], 10, 9, false)]).await;
    assert_eq!(net.node(1).blob_state(&ids[1]).unwrap().objects[0].certified_epoch, Some(1));

    net.emit(vec![deleted(&ids[1], 11)]).await;
    net.emit(vec![ours(&ev::InvalidBlobID { epoch: 1, blob_id: chain_blob(&ids[2]) })]).await;
    for i in 0..SHARDS.len() {
        assert!(!net.node(i).holds_data(&ids[1]).unwrap(), "node {i} dropped the deleted blob");
        assert!(!net.node(i).holds_data(&ids[2]).unwrap(), "node {i} dropped the invalid blob");
        assert!(net.node(i).blob_state(&ids[2]).unwrap().invalidated.is_some());
        assert!(net.node(i).holds_data(&ids[3]).unwrap());
    }
    // Metadata for an invalid blob is refused from now on.
    put(&net.url(0, &format!("{}/metadata", ids[2])), bcs::to_bytes(invalid.metadata.metadata()).unwrap())
        .await
        .assert_error(400, "INVALID_BLOB");

    net.next_epoch(2).await;
    assert!(net.node(0).holds_data(&ids[3]).unwrap(), "live until its end epoch 3");
    net.next_epoch(3).await;
    for i in 0..SHARDS.len() {
        assert_eq!(net.node(i).committee().epoch, 3);
        assert!(!net.node(i).holds_data(&ids[3]).unwrap(), "node {i} dropped the expired blob");
        assert!(net.holds_all(i, &kept).await, "node {i} keeps the live blob");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_blobs_live_as_long_as_their_pool() {
    let mut net = Net::start().await;
    let b = blob(6);
    let id = b.metadata.blob_id();
    let pool = object(0x50);
    net.emit(vec![
        ours(&ev::StoragePoolCreated {
            epoch: 1,
            storage_pool_id: pool,
            reserved_encoded_capacity_bytes: 1 << 20,
            start_epoch: 1,
            end_epoch: 2,
        }),
        ours(&ev::PooledBlobRegistered {
            epoch: 1,
            blob_id: chain_blob(&id),
            unencoded_size: 3000,
            encoding_type: 1,
            deletable: false,
            object_id: object(20),
            storage_pool_id: pool,
        }),
    ])
    .await;
    for i in 0..SHARDS.len() {
        net.upload_to(i, &b).await;
    }
    net.emit(vec![
        ours(&ev::PooledBlobCertified {
            epoch: 1,
            blob_id: chain_blob(&id),
            deletable: false,
            object_id: object(20),
            storage_pool_id: pool,
        }),
        ours(&ev::StoragePoolExtended { epoch: 1, storage_pool_id: pool, new_end_epoch: 3 }),
    ])
    .await;
    let state = net.node(0).blob_state(&id).unwrap();
    assert_eq!((state.objects[0].end_epoch, state.objects[0].certified_epoch), (3, Some(1)));
    net.next_epoch(2).await;
    assert!(net.holds_all(0, &b).await, "the extension keeps the blob past the pool's first end");
    net.next_epoch(3).await;
    assert!(!net.node(0).holds_data(&id).unwrap(), "the pool ended");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_update_counts_from_the_next_selected_committee() {
    let mut net = Net::start().await;
    let new_key = key(9).public_key().to_vec();
    let update = ours(&ev::NodeUpdated {
        epoch: 1,
        node_id: address(node_id(3)),
        name: "node 3".into(),
        network_address: net.addrs[3].to_string(),
        public_key: new_key.clone(),
        network_public_key: vec![3; 32],
        storage_price_vote: 1,
        write_price_vote: 1,
        node_capacity_vote: 1,
        commission_rate: 0,
    });
    // Selected before the update: epoch 2 keeps the old key; epoch 3 is selected after it.
    net.emit(vec![committee_selected(2), update]).await;
    net.emit(vec![ours(&ev::EpochChangeStart { epoch: 2 })]).await;
    assert_eq!(net.node(0).committee().members[3].public_key, key(3).public_key().to_vec());
    net.next_epoch(3).await;
    assert_eq!(net.node(0).committee().members[3].public_key, new_key);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_was_down_syncs_what_was_certified_meanwhile() {
    let mut net = Net::start().await;
    net.stop(3).await;
    let b = blob(7);
    let id = b.metadata.blob_id();
    net.emit(vec![registered(&id, 30, 5, false)]).await;
    for i in 0..3 {
        net.upload_to(i, &b).await;
    }
    net.emit(vec![certified(&id, 30, 5, false)]).await;
    net.restart(3).await;
    net.settle().await;
    for _ in 0..250 {
        if net.holds_all(3, &b).await {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("node 3 did not sync its slivers after coming back");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_digest_chain_is_refused_until_the_source_is_fixed() {
    let mut net = Net::start().await;
    let b = blob(8);
    let id = b.metadata.blob_id();
    // Good checkpoints, then a forged one, written at once: the good ones are applied, in
    // whatever batches the nodes fetch them.
    for _ in 0..5 {
        net.chain.emit(vec![]);
    }
    let mut forged = with_digests(checkpoint(net.chain.next, vec![vec![registered(&id, 40, 5, false)]]));
    forged.summary.as_mut().unwrap().previous_digest = Some(Digest::new([9; 32]).to_string());
    write_binpb_zst(net.chain.path(), &forged);
    net.settle().await;
    // Time for several retries of the forged checkpoint.
    tokio::time::sleep(Duration::from_millis(400)).await;
    for i in 0..SHARDS.len() {
        assert_eq!(net.node(i).watermark(), Some(net.chain.next - 1), "node {i} refused the checkpoint");
        assert!(!net.node(i).blob_state(&id).unwrap().is_registered());
    }
    net.emit(vec![registered(&id, 40, 5, false)]).await;
    assert!(net.node(0).blob_state(&id).unwrap().is_registered());
}

/// A `walrus-node run` process: node 0 alone, holding every shard.
struct Process {
    child: std::process::Child,
    log: std::path::PathBuf,
}

struct Crashing {
    keys: TempDir,
    store: TempDir,
    addr: SocketAddr,
    chain: std::path::PathBuf,
}

impl Crashing {
    fn spawn(&self, generation: usize) -> Process {
        let log = self.keys.path().join(format!("node-{generation}.log"));
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_walrus-node"))
            .arg("run")
            .arg("--storage-dir")
            .arg(self.store.path())
            .arg("--protocol-key")
            .arg(self.keys.path().join(walrus_node::keys::PROTOCOL_KEY_FILE))
            .args(["--node-id", &node_id(0).to_string(), "--package-id", &package().to_string()])
            .args(["--listen-address", &self.addr.to_string(), "--checkpoint-poll-millis", "10"])
            .arg("--checkpoints")
            .arg(format!("dir:{}", self.chain.display()))
            .env("RUST_LOG", "warn")
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        Process { child, log }
    }
}

impl Process {
    /// `kill -9`.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// Panics with the node's log if it exited by itself.
    fn assert_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!("the node exited ({status}): {}", std::fs::read_to_string(&self.log).unwrap_or_default());
        }
    }
}

const MIN_KILLS: usize = 3;
const MAX_KILLS: usize = 12;

/// PUTs `body` until the node answers 201 or 200 (it may be down, or not have seen the
/// registration yet); `true` for 201.
async fn put_until_stored(url: &str, body: &[u8]) -> bool {
    let client = reqwest::Client::new();
    loop {
        if let Ok(response) =
            client.put(url).header("content-type", "application/octet-stream").body(body.to_vec()).send().await
        {
            match response.status().as_u16() {
                201 => return true,
                200 => return false,
                400 => {} // not registered or no metadata yet
                other => panic!("{url}: unexpected {other}"),
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_at_random_moments_keeps_what_it_acknowledged_and_its_chain_view() {
    use rand::{Rng, SeedableRng};

    let seed: u64 = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64;
    eprintln!("seed {seed}");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let keys = TempDir::new().unwrap();
    let (protocol, _) = walrus_node::keys::generate(keys.path()).unwrap();
    let addr = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let mut chain = Chain::new();
    let all_shards: Vec<u16> = (0..N_SHARDS).collect();
    let alone = |epoch: u32| {
        ours(&ev::CommitteeSelected { epoch, node_ids: vec![address(node_id(0))], shards: vec![all_shards.clone()] })
    };
    chain.emit(vec![registration_of(0, &protocol.public_key(), &addr), alone(1)]);
    chain.emit(vec![ours(&ev::EpochChangeStart { epoch: 1 })]);

    // Kept: uploaded under crashes and checked. Gone: deleted, invalidated, expired.
    let kept: Vec<EncodedBlob> = (0..4).map(|s| blob(40 + s)).collect();
    let kept_ids: Vec<BlobId> = kept.iter().map(|b| b.metadata.blob_id()).collect();
    let gone: Vec<BlobId> = (0..3).map(|s| blob(50 + s).metadata.blob_id()).collect();
    let mut script: Vec<Vec<proto::Event>> = vec![
        kept_ids.iter().enumerate().map(|(k, id)| registered(id, 60 + k as u8, 9, k == 3)).collect(),
        vec![registered(&gone[0], 70, 9, true), registered(&gone[1], 71, 9, false), registered(&gone[2], 72, 3, false)],
        vec![certified(&kept_ids[0], 60, 9, false), certified(&kept_ids[1], 61, 9, false)],
        vec![deleted(&gone[0], 70)],
        vec![ours(&ev::InvalidBlobID { epoch: 1, blob_id: chain_blob(&gone[1]) })],
        vec![alone(2), ours(&ev::EpochChangeStart { epoch: 2 })],
        vec![certified(&kept_ids[2], 62, 9, false), certified(&kept_ids[3], 63, 9, true)],
        vec![alone(3)],
        vec![ours(&ev::EpochChangeStart { epoch: 3 })],
    ];
    // Quiet checkpoints in between, so following goes on while the node is killed.
    for k in (1..script.len()).rev() {
        for _ in 0..4 {
            script.insert(k, vec![]);
        }
    }

    let crashing = Crashing { keys, store: TempDir::new().unwrap(), addr, chain: chain.path().to_owned() };
    let base = format!("http://{addr}/v1/blobs");
    let uploads = tokio::spawn({
        let kept = kept.clone();
        let base = base.clone();
        async move {
            let mut acknowledged = Vec::new();
            for b in &kept {
                let id = b.metadata.blob_id();
                put_until_stored(&format!("{base}/{id}/metadata"), &bcs::to_bytes(b.metadata.metadata()).unwrap())
                    .await;
                for (pair, p) in b.pairs.iter().enumerate() {
                    for (axis, bytes) in [("primary", p.primary.to_bcs()), ("secondary", p.secondary.to_bcs())] {
                        let url = format!("{base}/{id}/slivers/{pair}/{axis}");
                        if put_until_stored(&url, &bytes).await {
                            acknowledged.push((url, bytes));
                        }
                    }
                }
            }
            acknowledged
        }
    });

    let mut generation = 0;
    let mut process = crashing.spawn(generation);
    let mut next_kill = tokio::time::Instant::now() + Duration::from_millis(rng.gen_range(30..250));
    let mut events = script.into_iter();
    let mut kills = 0;
    let started = std::time::Instant::now();
    loop {
        let writing = match events.next() {
            Some(transactions) => {
                chain.emit(transactions);
                true
            }
            None => false,
        };
        if !writing && uploads.is_finished() && kills >= MIN_KILLS {
            break;
        }
        tokio::time::sleep(Duration::from_millis(rng.gen_range(5..40))).await;
        assert!(started.elapsed() < Duration::from_secs(60), "uploads did not finish ({kills} kills)");
        // Bounded, so a slow machine where the node rarely gets to serve still finishes.
        if kills < MAX_KILLS && tokio::time::Instant::now() >= next_kill {
            process.assert_running();
            process.kill();
            kills += 1;
            generation += 1;
            process = crashing.spawn(generation);
            next_kill = tokio::time::Instant::now() + Duration::from_millis(rng.gen_range(30..250));
        }
    }
    let acknowledged = uploads.await.unwrap();
    eprintln!("{kills} kills; {} slivers acknowledged with 201", acknowledged.len());
    let last = chain.next - 1;
    let health = format!("http://{addr}/v1/health");
    let mut caught_up = false;
    for _ in 0..500 {
        process.assert_running();
        if let Ok(response) = reqwest::get(&health).await {
            let json: serde_json::Value = serde_json::from_slice(&response.bytes().await.unwrap()).unwrap();
            if json["success"]["data"]["latestCheckpointSequenceNumber"] == last {
                caught_up = true;
                break;
            }
        }
        tokio::time::sleep(POLL).await;
    }
    assert!(caught_up, "the restarted node did not reach checkpoint {last}");
    for (url, bytes) in &acknowledged {
        assert_eq!(&get(url).await.bytes, bytes, "{url} answered 201 before a crash and is gone or changed");
    }
    process.kill();

    // The same chain followed without interruption.
    let reference_dir = TempDir::new().unwrap();
    let reference = Node::open(reference_dir.path(), key(0), node_id(0), Duration::from_secs(1)).unwrap();
    let follower = reference.follow(
        Source::Dir(chain.path().to_owned()),
        FollowConfig { package: package(), first_checkpoint: 0, poll_interval: POLL },
    );
    until("the reference node follows the whole chain", || reference.watermark() == Some(last)).await;
    follower.abort();
    let crashed = Node::open(crashing.store.path(), key(0), node_id(0), Duration::from_secs(1)).unwrap();
    assert_eq!(crashed.watermark(), Some(last));
    assert_eq!(crashed.committee(), reference.committee());
    assert_eq!(crashed.committee().epoch, 3);
    assert_eq!(crashed.next_committee().unwrap(), reference.next_committee().unwrap());
    for id in kept_ids.iter().chain(&gone) {
        assert_eq!(crashed.blob_state(id).unwrap(), reference.blob_state(id).unwrap(), "{id}");
    }
    for id in &gone {
        assert!(!crashed.holds_data(id).unwrap());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn package_upgrades_are_remembered_across_restarts() {
    use walrus_chain::testing::{event_of, publish_upgrade};

    let mut net = Net::start().await;
    let b = blob(9);
    let id = b.metadata.blob_id();
    net.emit(vec![registered(&id, 80, 5, false)]).await;
    // An upgrade that (as far as the type-origin table says) defines `InvalidBlobID` anew.
    let upgraded = Address::new([0x77; 32]);
    let mut upgrade = with_digests(checkpoint(net.chain.next, vec![vec![]]));
    publish_upgrade(&mut upgrade, upgraded, "InvalidBlobID");
    write_binpb_zst(net.chain.path(), &upgrade);
    net.chain.next += 1;
    net.settle().await;
    net.stop(0).await;
    net.restart(0).await;
    let invalidation = ev::InvalidBlobID { epoch: 1, blob_id: chain_blob(&id) };
    net.emit(vec![event_of(upgraded, "events", "InvalidBlobID", &invalidation)]).await;
    for i in 0..SHARDS.len() {
        assert!(net.node(i).blob_state(&id).unwrap().invalidated.is_some(), "node {i} knows the upgrade's events");
    }
}
