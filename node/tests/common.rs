//! A committee of storage nodes in one process, each on an ephemeral port with its own store,
//! and an HTTP client that speaks to them as Walrus clients do.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use fastcrypto::bls12381::min_pk::BLS12381PublicKey;
use fastcrypto::traits::ToFromBytes;
use serde_json::Value;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use walrus_encoder::{BlobId, ShardIndex, ShardRotation, SliverPairIndex};
use walrus_node::keys::ProtocolKey;
use walrus_node::{ChainUpdate, Committee, EventId, Member, Node, ObjectId};

pub const N_SHARDS: u16 = 10;
/// Shards per node: weights 3, 3, 2, 2. A quorum (3w >= 2n + 1 = 21) needs weight 7.
pub const SHARDS: [&[u16]; 4] = [&[0, 1, 2], &[3, 4, 5], &[6, 7], &[8, 9]];
pub const EPOCH: u32 = 1;

/// Member `i`'s secret key is the scalar `i + 1`.
pub fn key(i: usize) -> ProtocolKey {
    let mut secret = [0u8; 32];
    secret[31] = i as u8 + 1;
    ProtocolKey::from_secret(&secret).unwrap()
}

pub fn node_id(i: usize) -> ObjectId {
    ObjectId([0xa0 + i as u8; 32])
}

pub fn object(seed: u8) -> ObjectId {
    ObjectId([seed; 32])
}

pub fn event(seq: u64) -> EventId {
    EventId { tx_digest: [7; 32], event_seq: seq }
}

pub struct TestNode {
    pub node: Node,
    pub addr: SocketAddr,
    server: JoinHandle<()>,
    pub dir: PathBuf,
}

impl TestNode {
    pub async fn start(i: usize, dir: PathBuf) -> Self {
        let node = Node::open(&dir, key(i), node_id(i), Duration::from_secs(5)).unwrap();
        let (addr, server) = node.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
        Self { node, addr, server, dir }
    }

    /// Stops serving and closes the store, as a process exit would.
    pub async fn stop(self) -> PathBuf {
        self.server.abort();
        let _ = self.server.await;
        drop(self.node);
        self.dir
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}/v1/blobs/{path}", self.addr)
    }
}

pub struct Cluster {
    pub nodes: Vec<TestNode>,
    pub committee: Committee,
    checkpoint: u64,
    _dirs: Vec<TempDir>,
}

impl Cluster {
    /// Four nodes serving epoch 1.
    pub async fn start() -> Self {
        let dirs: Vec<TempDir> = (0..SHARDS.len()).map(|_| TempDir::new().unwrap()).collect();
        let mut nodes = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            nodes.push(TestNode::start(i, dir.path().to_owned()).await);
        }
        let members = nodes
            .iter()
            .enumerate()
            .map(|(i, n)| Member {
                node_id: node_id(i),
                public_key: n.node.public_key().to_vec(),
                shards: SHARDS[i].to_vec(),
                network_address: n.addr.to_string(),
            })
            .collect();
        let committee = Committee { epoch: EPOCH, members };
        let mut cluster = Self { nodes, committee: committee.clone(), checkpoint: 0, _dirs: dirs };
        cluster.apply(vec![ChainUpdate::EpochStarted(committee)]);
        cluster
    }

    /// Applies the updates on every node as the next checkpoint.
    pub fn apply(&mut self, updates: Vec<ChainUpdate>) {
        self.checkpoint += 1;
        for n in &self.nodes {
            assert!(n.node.apply(self.checkpoint, &updates).unwrap());
        }
    }

    pub fn register(&mut self, blob_id: BlobId, object_id: ObjectId, end_epoch: u32, deletable: bool) {
        self.apply(vec![ChainUpdate::BlobRegistered { blob_id, object_id, end_epoch, deletable, event: event(1) }]);
    }

    /// The node holding `pair` of `blob_id`, and the index of a node that does not.
    pub fn holder(&self, blob_id: &BlobId, pair: SliverPairIndex) -> (usize, usize) {
        let shard = ShardRotation::new(blob_id, N_SHARDS).shard_of(pair);
        let i = SHARDS.iter().position(|s| s.contains(&shard.0)).unwrap();
        (i, (i + 1) % SHARDS.len())
    }

    /// The pairs node `i` holds for `blob_id`.
    pub fn pairs_of(&self, i: usize, blob_id: &BlobId) -> Vec<SliverPairIndex> {
        let rotation = ShardRotation::new(blob_id, N_SHARDS);
        SHARDS[i].iter().map(|&s| rotation.pair_on(ShardIndex(s))).collect()
    }
}

/// A status and the body, parsed as JSON when it is JSON.
pub struct Answer {
    pub status: u16,
    pub bytes: Vec<u8>,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.bytes)))
    }

    /// The error reason of an AIP-193 answer.
    pub fn reason(&self) -> String {
        let json = self.json();
        json["error"]["details"][0]["reason"].as_str().unwrap_or_else(|| panic!("no reason in {json}")).to_owned()
    }

    /// Asserts an error answer with this HTTP code and reason.
    pub fn assert_error(&self, status: u16, reason: &str) {
        assert_eq!(
            (self.status, self.reason()),
            (status, reason.to_owned()),
            "{}",
            String::from_utf8_lossy(&self.bytes)
        );
        assert_eq!(self.json()["error"]["code"], status);
    }

    pub fn data(&self) -> Value {
        let json = self.json();
        assert_eq!(json["success"]["code"], self.status, "{json}");
        json["success"]["data"].clone()
    }
}

pub async fn send(request: reqwest::RequestBuilder) -> Answer {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    Answer { status, bytes: response.bytes().await.unwrap().to_vec() }
}

pub async fn get(url: &str) -> Answer {
    send(reqwest::Client::new().get(url)).await
}

pub async fn put(url: &str, body: Vec<u8>) -> Answer {
    send(reqwest::Client::new().put(url).header("content-type", "application/octet-stream").body(body)).await
}

pub async fn post(url: &str, body: Vec<u8>) -> Answer {
    send(reqwest::Client::new().post(url).header("content-type", "application/octet-stream").body(body)).await
}

/// The committee as the contract's certificate check sees it (the conformance model).
pub fn model(committee: &Committee) -> walrus_conformance::Committee {
    walrus_conformance::Committee {
        epoch: committee.epoch,
        members: committee
            .members
            .iter()
            .map(|m| walrus_conformance::Member {
                node_id: m.node_id.0,
                weight: m.shards.len() as u16,
                public_key: BLS12381PublicKey::from_bytes(&m.public_key).unwrap(),
            })
            .collect(),
    }
}
