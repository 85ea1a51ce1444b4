//! A storage node that gains shards at an epoch change rebuilds the slivers of every live
//! certified blob for them from the other members, then reports `epoch_sync_done` itself,
//! once, through the fake full node of `fake_sui` (which checks the signature, the `NodeCap`,
//! the epoch and that the cap has not reported it yet). Four nodes run in one process and
//! follow generated checkpoints; the gaining node crashes while its sync cannot make progress
//! and resumes it after a restart, and a restart after the report does not report again.

mod fake_sui;

use std::net::SocketAddr;
use std::time::Duration;

use fake_sui::{serve, Fake};
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Digest};
use tempfile::TempDir;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use walrus_chain::events as ev;
use walrus_chain::source::Source;
use walrus_chain::testing::{checkpoint, ours, package, write_binpb_zst};
use walrus_encoder::{encode, BlobId, EncodedBlob, ShardIndex, ShardRotation, SliverPairIndex};
use walrus_node::config::ReportConfig;
use walrus_node::keys::ProtocolKey;
use walrus_node::{FollowConfig, Node, ObjectId, SyncReporter};

const N_SHARDS: u16 = 10;
/// Epoch 1: nodes 0 to 2; node 3 is not a member.
const EPOCH_1: [&[u16]; 3] = [&[0, 1, 2], &[3, 4, 5], &[6, 7, 8, 9]];
/// Epoch 2: node 3 takes shards 8 and 9 from node 2.
const EPOCH_2: [&[u16]; 4] = [&[0, 1, 2], &[3, 4, 5], &[6, 7], &[8, 9]];
const POLL: Duration = Duration::from_millis(20);
const SYNC_DONE: &str = "staking::epoch_sync_done";

fn key(i: usize) -> ProtocolKey {
    let mut secret = [0u8; 32];
    secret[31] = i as u8 + 1;
    ProtocolKey::from_secret(&secret).unwrap()
}

/// Writes the checkpoints the nodes follow, one by one.
struct Chain {
    dir: TempDir,
    next: u64,
}

impl Chain {
    /// The next checkpoint, each event in a transaction of its own with a real digest.
    fn emit(&mut self, events: Vec<proto::Event>) {
        let mut checkpoint = checkpoint(self.next, events.into_iter().map(|e| vec![e]).collect());
        for (i, tx) in checkpoint.transactions.iter_mut().enumerate() {
            let mut bytes = [0x5Au8; 32];
            bytes[..8].copy_from_slice(&self.next.to_le_bytes());
            bytes[8..12].copy_from_slice(&(i as u32).to_le_bytes());
            tx.digest = Some(Digest::new(bytes).to_string());
        }
        write_binpb_zst(self.dir.path(), &checkpoint);
        self.next += 1;
    }
}

/// A node's tasks: API server, follower and, for the node under test, its reporter.
struct Running {
    node: Node,
    tasks: Vec<JoinHandle<()>>,
}

impl Running {
    async fn stop(self) {
        for task in self.tasks {
            task.abort();
            let _ = task.await;
        }
    }
}

struct Net {
    chain: Chain,
    ids: Vec<ObjectId>,
    addrs: Vec<SocketAddr>,
    dirs: Vec<TempDir>,
    fake: Fake,
    /// How node 3 reports: the deployment file and the operator's keystore.
    report: ReportConfig,
}

impl Net {
    /// Starts node `i` on its address and store: following, serving and, for node 3,
    /// reporting through the fake full node. Retries the store while a crashed node's
    /// background syncs still hold it.
    async fn start(&self, i: usize) -> Running {
        let listener = TcpListener::bind(self.addrs[i]).await.unwrap();
        let mut node = None;
        for _ in 0..1000 {
            if let Ok(opened) = Node::open(self.dirs[i].path(), key(i), self.ids[i], Duration::from_secs(5)) {
                node = Some(opened);
                break;
            }
            tokio::time::sleep(POLL).await;
        }
        let node = node.expect("the store is released");
        let config = FollowConfig { package: package(), first_checkpoint: 0, poll_interval: POLL };
        let mut tasks = vec![node.follow(Source::Dir(self.chain.dir.path().to_owned()), config)];
        let server = node.clone();
        tasks.push(tokio::spawn(async move { server.serve(listener).await.unwrap() }));
        if i == 3 {
            tasks.push(node.report_sync_done(SyncReporter::from_config(&self.report).unwrap()));
        }
        Running { node, tasks }
    }

    fn reports(&self) -> usize {
        self.fake.state().calls.iter().filter(|c| *c == SYNC_DONE).count()
    }

    async fn settle(&self, nodes: &[&Running]) {
        let last = self.chain.next - 1;
        until("every node applies the last checkpoint", || nodes.iter().all(|r| r.node.watermark() == Some(last)))
            .await;
    }

    fn url(&self, i: usize, path: &str) -> String {
        format!("http://{}/v1/blobs/{path}", self.addrs[i])
    }

    fn committee(&self, epoch: u32, shards: &[&[u16]]) -> proto::Event {
        ours(&ev::CommitteeSelected {
            epoch,
            node_ids: self.ids[..shards.len()].iter().map(|id| Address::new(id.0)).collect(),
            shards: shards.iter().map(|s| s.to_vec()).collect(),
        })
    }
}

fn pairs_on(shards: &[u16], blob_id: &BlobId) -> Vec<SliverPairIndex> {
    let rotation = ShardRotation::new(blob_id, N_SHARDS);
    shards.iter().map(|&s| rotation.pair_on(ShardIndex(s))).collect()
}

fn blob(seed: u8) -> EncodedBlob {
    let data: Vec<u8> = (0..5000u32).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed)).collect();
    encode(N_SHARDS, &data).unwrap()
}

async fn put(url: &str, body: Vec<u8>) {
    let response = reqwest::Client::new().put(url).body(body).send().await.unwrap();
    assert!(response.status().is_success(), "{url}: {}", response.status());
}

async fn get(url: &str) -> Option<Vec<u8>> {
    let response = reqwest::Client::new().get(url).send().await.unwrap();
    response.status().is_success().then_some(response.bytes().await.unwrap().to_vec())
}

async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if condition() {
            return;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!("timed out waiting until {what}");
}

/// Whether node `i` serves every sliver of `shards` of `blob`, byte for byte.
async fn holds(net: &Net, i: usize, shards: &[u16], blob: &EncodedBlob) -> bool {
    let id = blob.metadata.blob_id();
    for pair in pairs_on(shards, &id) {
        let p = &blob.pairs[usize::from(pair.0)];
        for (axis, bytes) in [("primary", p.primary.to_bcs()), ("secondary", p.secondary.to_bcs())] {
            if get(&net.url(i, &format!("{id}/slivers/{}/{axis}", pair.0))).await != Some(bytes) {
                return false;
            }
        }
    }
    true
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_gaining_shards_rebuilds_their_slivers_then_reports_sync_done_once() {
    // The operator's wallet and node on the fake full node, whose Staking object is in epoch 2.
    let wallet = TempDir::new().unwrap();
    let keystore = wallet.path().join("sui.keystore");
    let operator = fake_sui::wallet(&keystore);
    let fake = Fake::new(operator.address(), &[50_000_000_000]);
    let url = serve(fake.clone()).await;
    fake.deploy(&[]);
    let deployment = wallet.path().join("deployment.toml");
    fake.write_deployment(&url, &deployment);
    let report =
        ReportConfig::Sui { deployment, full_node: None, keystore: Some(keystore), address: None, node_cap: None };
    let (gainer, cap) = fake.add_node(operator.address());
    fake.state().epoch = 2;

    let mut listeners = Vec::new();
    for _ in 0..4 {
        listeners.push(TcpListener::bind("127.0.0.1:0").await.unwrap());
    }
    let addrs: Vec<SocketAddr> = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
    drop(listeners);
    let ids = vec![ObjectId([0xa0; 32]), ObjectId([0xa1; 32]), ObjectId([0xa2; 32]), ObjectId(gainer.into_inner())];
    let mut net = Net {
        chain: Chain { dir: TempDir::new().unwrap(), next: 0 },
        ids,
        addrs,
        dirs: (0..4).map(|_| TempDir::new().unwrap()).collect(),
        fake,
        report,
    };
    let mut genesis: Vec<proto::Event> = (0..4)
        .map(|i| {
            ours(&ev::NodeRegistered {
                epoch: 0,
                node_id: Address::new(net.ids[i].0),
                name: format!("node {i}"),
                network_address: net.addrs[i].to_string(),
                public_key: key(i).public_key().to_vec(),
                network_public_key: vec![i as u8; 33],
                commission_rate: 0,
            })
        })
        .collect();
    genesis.push(net.committee(1, &EPOCH_1));
    net.chain.emit(genesis);
    net.chain.emit(vec![ours(&ev::EpochChangeStart { epoch: 1 })]);
    let mut running = Vec::new();
    for i in 0..4 {
        running.push(net.start(i).await);
    }
    net.settle(&running.iter().collect::<Vec<_>>()).await;

    // Epoch 1: blobs stored on nodes 0 to 2. Kept: `kept` (certified, live after epoch 2
    // starts). Not needed: `expiring` (ends at epoch 2), `deleted`, `uncertified`.
    let blobs: Vec<EncodedBlob> = (1..=4).map(blob).collect();
    let [kept, expiring, deleted, uncertified] = [&blobs[0], &blobs[1], &blobs[2], &blobs[3]];
    let object = |n: u8| Address::new([n; 32]);
    let chain_id = |b: &EncodedBlob| ev::BlobId(b.metadata.blob_id().0);
    let end_epochs = [5, 2, 5, 5];
    net.chain.emit(
        blobs
            .iter()
            .zip(end_epochs)
            .enumerate()
            .map(|(n, (b, end_epoch))| {
                ours(&ev::BlobRegistered {
                    epoch: 1,
                    blob_id: chain_id(b),
                    size: 5000,
                    encoding_type: 1,
                    end_epoch,
                    deletable: true,
                    object_id: object(n as u8 + 1),
                })
            })
            .collect(),
    );
    net.settle(&running.iter().collect::<Vec<_>>()).await;
    for b in &blobs {
        let id = b.metadata.blob_id();
        for (i, shards) in EPOCH_1.iter().enumerate() {
            put(&net.url(i, &format!("{id}/metadata")), bcs::to_bytes(b.metadata.metadata()).unwrap()).await;
            for pair in pairs_on(shards, &id) {
                let p = &b.pairs[usize::from(pair.0)];
                put(&net.url(i, &format!("{id}/slivers/{}/primary", pair.0)), p.primary.to_bcs()).await;
                put(&net.url(i, &format!("{id}/slivers/{}/secondary", pair.0)), p.secondary.to_bcs()).await;
            }
        }
    }
    let certified = |n: usize, b: &EncodedBlob| {
        ours(&ev::BlobCertified {
            epoch: 1,
            blob_id: chain_id(b),
            end_epoch: end_epochs[n],
            deletable: true,
            object_id: object(n as u8 + 1),
            is_extension: false,
        })
    };
    net.chain.emit(vec![
        certified(0, kept),
        certified(1, expiring),
        certified(2, deleted),
        ours(&ev::BlobDeleted {
            epoch: 1,
            blob_id: chain_id(deleted),
            end_epoch: 5,
            object_id: object(3),
            was_certified: true,
        }),
    ]);
    net.settle(&running.iter().collect::<Vec<_>>()).await;
    assert_eq!(net.reports(), 0, "node 3 is not in epoch 1's committee");

    // Epoch 2 starts while the other members serve nothing: node 3 cannot rebuild its new
    // shards' slivers, so it does not report; then it crashes.
    for member in running.drain(..3).collect::<Vec<_>>() {
        member.stop().await;
    }
    let epoch_2 = vec![net.committee(2, &EPOCH_2), ours(&ev::EpochChangeStart { epoch: 2 })];
    net.chain.emit(epoch_2);
    net.settle(&running.iter().collect::<Vec<_>>()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(net.reports(), 0, "not reported while slivers of the gained shards are missing");
    assert!(!holds(&net, 3, EPOCH_2[3], kept).await);
    running.pop().unwrap().stop().await;

    // Everyone back: node 3 resumes the sync it recorded as pending, then reports once.
    for i in 0..4 {
        running.push(net.start(i).await);
    }
    net.settle(&running.iter().collect::<Vec<_>>()).await;
    until("node 3 reports epoch_sync_done", || net.reports() == 1).await;
    assert!(holds(&net, 3, EPOCH_2[3], kept).await, "the gained shards' slivers are rebuilt");
    for skipped in [expiring, deleted, uncertified] {
        assert!(!running[3].node.holds_data(&skipped.metadata.blob_id()).unwrap(), "only live certified blobs");
    }
    let cap_contents = net.fake.state().contents(&cap);
    assert_eq!(cap_contents[cap_contents.len() - 4..], 2u32.to_le_bytes(), "the cap records epoch 2");

    // A restart after the report does not report again.
    let simulations = net.fake.state().simulations;
    running.pop().unwrap().stop().await;
    running.push(net.start(3).await);
    net.settle(&running.iter().collect::<Vec<_>>()).await;
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(net.reports(), 1);
    assert_eq!(net.fake.state().simulations, simulations, "nothing was even simulated");
    for member in running {
        member.stop().await;
    }
}
