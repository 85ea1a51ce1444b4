//! A committee of real storage nodes in one process, each behind a small HTTP proxy that can
//! delay or corrupt what the node serves or be taken down, and a test chain.
//!
//! `TestChain` is a chain in memory, so that tests can inject faults between the chain and
//! the nodes (`localchain.rs` runs the real local chain instead): it keeps blob objects in memory, applies each transaction's effect to the nodes directly as
//! chain updates, and checks every certificate with the conformance model of the Move
//! contract's rules (`walrus-conformance`) and real BLS before accepting it.

#![allow(dead_code)] // each test file uses part of this module

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::{IntoResponse, Response};
use fastcrypto::bls12381::min_pk::{BLS12381PublicKey, BLS12381Signature};
use fastcrypto::traits::{ToFromBytes, VerifyingKey};
use tempfile::TempDir;
use tokio::task::JoinHandle;
use walrus_client::{
    BlobObject, Certificate, ChainAccess, ChainError, Client, ClientConfig, Committee, Member, ObjectId, Prices,
    RegisterRequest, Registered,
};
use walrus_encoder::BlobId;
use walrus_node::keys::ProtocolKey;
use walrus_node::{ChainUpdate, EventId, Node};

pub const N_NODES: usize = 7;
/// Two shards per node: f = 4 shards (2 nodes), a quorum n - f = 10 shards (5 nodes).
pub const SHARDS_PER_NODE: u16 = 2;
pub const N_SHARDS: u16 = N_NODES as u16 * SHARDS_PER_NODE;
pub const F_NODES: usize = 2;
pub const EPOCH: u32 = 1;
pub const MAX_EPOCHS_AHEAD: u32 = 53;
pub const PRICES: Prices = Prices { storage_per_unit_epoch: 100, write_per_unit: 1000 };

/// Member `i`'s secret key is the scalar `i + 1`.
fn key(i: usize) -> ProtocolKey {
    let mut secret = [0u8; 32];
    secret[31] = i as u8 + 1;
    ProtocolKey::from_secret(&secret).unwrap()
}

fn node_id(i: usize) -> ObjectId {
    ObjectId([0xa0 + i as u8; 32])
}

/// The `n`th object of a `kind` the test chain creates: distinct from every node's id and from
/// the `n`th object of other kinds, however many a test creates.
fn counted_id(kind: u8, n: u32) -> ObjectId {
    let mut id = [kind; 32];
    id[28..].copy_from_slice(&n.to_be_bytes());
    ObjectId(id)
}

/// What a proxy does with the node's answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Mode {
    Honest = 0,
    /// Answers reads a little late, so faulty nodes are heard first.
    Slow = 1,
    /// Flips bytes in metadata, slivers and confirmation signatures it serves.
    Corrupt = 2,
    /// Answers every request with 200 and a web page.
    Nonsense = 3,
    /// Accepts requests and never answers.
    Hang = 4,
    /// Serves no primary sliver (answers 503 for them), as if those reads failed.
    NoPrimary = 5,
    /// Answers 503 to everything, as a node that is overloaded or restarting.
    Unavailable = 6,
    /// Answers the first upload of each sliver with 201 without passing it on, as a node that
    /// loses what it accepted.
    LoseFirstUpload = 7,
}

struct Proxy {
    upstream: SocketAddr,
    mode: AtomicU8,
    /// Sliver uploads passed on to the node.
    sliver_puts: AtomicUsize,
    /// Sliver paths whose upload `LoseFirstUpload` has dropped.
    lost: Mutex<std::collections::HashSet<String>>,
    http: reqwest::Client,
}

async fn forward(State(proxy): State<Arc<Proxy>>, request: Request) -> Response {
    match proxy.mode.load(Ordering::SeqCst) {
        3 => return (StatusCode::OK, "<html>welcome to nginx</html>").into_response(),
        4 => std::future::pending().await,
        5 if request.uri().path().ends_with("/primary") => {
            return (StatusCode::SERVICE_UNAVAILABLE, "primary slivers are off").into_response()
        }
        6 => return (StatusCode::SERVICE_UNAVAILABLE, "restarting").into_response(),
        _ => {}
    }
    let method = request.method().clone();
    let path = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
    if method == Method::PUT && path.contains("/slivers/") {
        let losing = proxy.mode.load(Ordering::SeqCst) == Mode::LoseFirstUpload as u8;
        if losing && proxy.lost.lock().unwrap().insert(path.clone()) {
            return (StatusCode::CREATED, r#"{"success":{"code":201,"data":"stored"}}"#).into_response();
        }
        proxy.sliver_puts.fetch_add(1, Ordering::SeqCst);
    }
    let content_type = request.headers().get("content-type").cloned();
    let body = axum::body::to_bytes(request.into_body(), usize::MAX).await.unwrap();
    let mut upstream = proxy.http.request(method.clone(), format!("http://{}{path}", proxy.upstream)).body(body);
    if let Some(content_type) = content_type {
        upstream = upstream.header("content-type", content_type);
    }
    let answer = upstream.send().await.unwrap();
    let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
    let mut bytes = answer.bytes().await.unwrap().to_vec();
    let is_read = method == Method::GET && (path.contains("/slivers/") || path.ends_with("/metadata"));
    match proxy.mode.load(Ordering::SeqCst) {
        1 if is_read => tokio::time::sleep(Duration::from_millis(1000)).await,
        2 if status.is_success() && is_read && bytes.len() > 8 => {
            let middle = bytes.len() / 2;
            bytes[middle] ^= 0xff;
        }
        2 if status.is_success() && path.contains("/confirmation/") => {
            let text = String::from_utf8(bytes).unwrap();
            // Another node's valid-looking signature: base64 of a different 96 bytes.
            let start = text.find("\"signature\":\"").unwrap() + 13;
            let mut corrupted = text.into_bytes();
            corrupted[start] = if corrupted[start] == b'A' { b'B' } else { b'A' };
            bytes = corrupted;
        }
        _ => {}
    }
    (status, Bytes::from(bytes)).into_response()
}

pub struct TestNode {
    pub node: Node,
    pub index: usize,
    /// The address clients use: the proxy's.
    pub addr: SocketAddr,
    proxy: Arc<Proxy>,
    proxy_task: JoinHandle<()>,
    server_task: JoinHandle<()>,
}

impl TestNode {
    async fn start(index: usize, dir: &std::path::Path) -> Self {
        let node =
            Node::open(dir, key(index), walrus_node::ObjectId(node_id(index).0), Duration::from_secs(5)).unwrap();
        let (upstream, server_task) = node.clone().spawn("127.0.0.1:0".parse().unwrap()).await.unwrap();
        let proxy = Arc::new(Proxy {
            upstream,
            mode: AtomicU8::new(Mode::Honest as u8),
            sliver_puts: AtomicUsize::new(0),
            lost: Mutex::default(),
            http: reqwest::Client::new(),
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let router = axum::Router::new().fallback(forward).with_state(proxy.clone());
        let proxy_task = tokio::spawn(async move {
            axum::serve(listener, router).await.unwrap();
        });
        Self { node, index, addr, proxy, proxy_task, server_task }
    }

    /// Sliver uploads the node has received so far.
    pub fn sliver_puts(&self) -> usize {
        self.proxy.sliver_puts.load(Ordering::SeqCst)
    }

    pub fn set_mode(&self, mode: Mode) {
        self.proxy.mode.store(mode as u8, Ordering::SeqCst);
    }

    /// Takes the node off the network: connections to it are refused from now on. It keeps
    /// following the chain, as a node whose network is down would once it is back.
    pub async fn take_down(&self) {
        self.proxy_task.abort();
        while !self.proxy_task.is_finished() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    pub fn address(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for TestNode {
    fn drop(&mut self) {
        self.proxy_task.abort();
        self.server_task.abort();
    }
}

struct ChainState {
    checkpoint: u64,
    next_object: u32,
    objects: BTreeMap<ObjectId, BlobObject>,
    /// Every certificate accepted, for tests to inspect.
    certificates: Vec<Certificate>,
    /// How long after the client the nodes learn of a registration, as nodes that follow the
    /// chain some way behind it do.
    registration_lag: Duration,
}

/// The test chain: see the module documentation.
pub struct TestChain {
    committee: Committee,
    nodes: Vec<Node>,
    state: Mutex<ChainState>,
}

impl TestChain {
    fn apply(&self, state: &mut ChainState, update: ChainUpdate) {
        state.checkpoint += 1;
        for node in &self.nodes {
            assert!(node.apply(state.checkpoint, std::slice::from_ref(&update)).unwrap());
        }
    }

    pub fn blob_objects_now(&self, blob_id: &BlobId) -> Vec<BlobObject> {
        self.state.lock().unwrap().objects.values().filter(|o| o.blob_id == *blob_id).copied().collect()
    }

    pub fn set_registration_lag(&self, lag: Duration) {
        self.state.lock().unwrap().registration_lag = lag;
    }

    pub fn certificates(&self) -> Vec<Certificate> {
        self.state.lock().unwrap().certificates.clone()
    }

    /// The contract's certificate checks, through the conformance model.
    fn check_certificate(&self, blob: &BlobObject, certificate: &Certificate) -> Result<(), ChainError> {
        let refuse = |reason: &str| Err(ChainError(format!("certificate refused: {reason}")));
        let model = walrus_conformance::Committee {
            epoch: self.committee.epoch,
            members: self
                .committee
                .members
                .iter()
                .map(|m| walrus_conformance::Member {
                    node_id: m.node_id.0,
                    weight: m.weight() as u16,
                    public_key: BLS12381PublicKey::from_bytes(&m.public_key).unwrap(),
                })
                .collect(),
        };
        let n_members = model.members.len();
        let Ok(non_signers) = walrus_conformance::non_signers(n_members, &certificate.signers_bitmap()) else {
            return refuse("bad signer bitmap");
        };
        let signers: Vec<usize> = (0..n_members).filter(|i| !non_signers.contains(i)).collect();
        if !model.is_quorum(model.weight_of(&signers)) {
            return refuse("not a quorum");
        }
        let object = blob.deletable.then_some(&blob.object_id.0);
        let expected = walrus_conformance::blob_certification_message(model.epoch, &blob.blob_id.0, object);
        if certificate.message != expected {
            return refuse("wrong message");
        }
        let signature = BLS12381Signature::from_bytes(&certificate.signature).map_err(|e| ChainError(e.to_string()))?;
        if model.aggregate_key(&non_signers).verify(&certificate.message, &signature).is_err() {
            return refuse("the aggregate signature does not verify");
        }
        Ok(())
    }
}

fn event(seq: u64) -> EventId {
    EventId { tx_digest: [7; 32], event_seq: seq }
}

fn node_object(id: ObjectId) -> walrus_node::ObjectId {
    walrus_node::ObjectId(id.0)
}

#[async_trait]
impl ChainAccess for TestChain {
    async fn current_epoch(&self) -> Result<u32, ChainError> {
        Ok(self.committee.epoch)
    }

    async fn committee(&self) -> Result<Committee, ChainError> {
        Ok(self.committee.clone())
    }

    async fn n_shards(&self) -> Result<u16, ChainError> {
        Ok(self.committee.n_shards())
    }

    async fn prices(&self) -> Result<Prices, ChainError> {
        Ok(PRICES)
    }

    async fn max_epochs_ahead(&self) -> Result<u32, ChainError> {
        Ok(MAX_EPOCHS_AHEAD)
    }

    async fn blob_objects(&self, blob_id: &BlobId) -> Result<Vec<BlobObject>, ChainError> {
        Ok(self.blob_objects_now(blob_id))
    }

    async fn blob_object(&self, object_id: &ObjectId) -> Result<Option<BlobObject>, ChainError> {
        Ok(self.state.lock().unwrap().objects.get(object_id).copied())
    }

    async fn owned_blobs(&self) -> Result<Vec<BlobObject>, ChainError> {
        Ok(self.state.lock().unwrap().objects.values().copied().collect())
    }

    async fn register(&self, request: &RegisterRequest) -> Result<Registered, ChainError> {
        let mut state = self.state.lock().unwrap();
        state.next_object += 1;
        let epoch = self.committee.epoch;
        let blob = BlobObject {
            object_id: counted_id(0x01, state.next_object),
            blob_id: request.blob_id,
            registered_epoch: epoch,
            certified_epoch: None,
            size: request.unencoded_size,
            storage_id: counted_id(0x02, state.next_object),
            start_epoch: epoch,
            end_epoch: epoch + request.epochs_ahead,
            storage_size: request.encoded_size,
            deletable: request.deletable,
            // The test chain serves one wallet, which owns everything it registered.
            owned: true,
        };
        state.objects.insert(blob.object_id, blob);
        let update = ChainUpdate::BlobRegistered {
            blob_id: blob.blob_id,
            object_id: node_object(blob.object_id),
            end_epoch: blob.end_epoch,
            deletable: blob.deletable,
            event: event(state.checkpoint),
        };
        if state.registration_lag.is_zero() {
            self.apply(&mut state, update);
        } else {
            state.checkpoint += 1;
            let (checkpoint, lag, nodes) = (state.checkpoint, state.registration_lag, self.nodes.clone());
            tokio::spawn(async move {
                tokio::time::sleep(lag).await;
                for node in nodes {
                    assert!(node.apply(checkpoint, std::slice::from_ref(&update)).unwrap());
                }
            });
        }
        Ok(Registered { blob, cost: PRICES.cost(request.encoded_size, request.epochs_ahead), reused_storage: false })
    }

    async fn certify(&self, object_id: &ObjectId, certificate: &Certificate) -> Result<BlobObject, ChainError> {
        let mut state = self.state.lock().unwrap();
        let mut blob = *state.objects.get(object_id).ok_or_else(|| ChainError(format!("no object {object_id}")))?;
        if blob.certified_epoch.is_some() {
            return Err(ChainError("already certified".into()));
        }
        self.check_certificate(&blob, certificate)?;
        blob.certified_epoch = Some(self.committee.epoch);
        state.objects.insert(blob.object_id, blob);
        state.certificates.push(certificate.clone());
        let update = ChainUpdate::BlobCertified {
            blob_id: blob.blob_id,
            object_id: node_object(blob.object_id),
            end_epoch: blob.end_epoch,
            deletable: blob.deletable,
            event: event(state.checkpoint),
        };
        self.apply(&mut state, update);
        Ok(blob)
    }

    async fn delete(&self, object_id: &ObjectId) -> Result<(), ChainError> {
        let mut state = self.state.lock().unwrap();
        let blob = state.objects.remove(object_id).ok_or_else(|| ChainError(format!("no object {object_id}")))?;
        self.apply(&mut state, ChainUpdate::BlobDeleted { blob_id: blob.blob_id, object_id: node_object(*object_id) });
        Ok(())
    }

    async fn extend(&self, object_id: &ObjectId, epochs: u32) -> Result<Registered, ChainError> {
        let mut state = self.state.lock().unwrap();
        let blob = state.objects.get_mut(object_id).ok_or_else(|| ChainError(format!("no object {object_id}")))?;
        blob.end_epoch += epochs;
        let blob = *blob;
        Ok(Registered { blob, cost: PRICES.cost(blob.storage_size, epochs), reused_storage: false })
    }
}

/// Nodes, the chain over them, and their storage directories.
pub struct Cluster {
    pub nodes: Vec<TestNode>,
    pub chain: Arc<TestChain>,
    _dirs: Vec<TempDir>,
}

impl Cluster {
    pub async fn start() -> Self {
        let dirs: Vec<TempDir> = (0..N_NODES).map(|_| TempDir::new().unwrap()).collect();
        let mut nodes = Vec::new();
        for (i, dir) in dirs.iter().enumerate() {
            nodes.push(TestNode::start(i, dir.path()).await);
        }
        let members: Vec<Member> = nodes
            .iter()
            .map(|n| Member {
                node_id: node_id(n.index),
                public_key: n.node.public_key().to_vec(),
                shards: (0..SHARDS_PER_NODE).map(|s| n.index as u16 * SHARDS_PER_NODE + s).collect(),
                network_address: n.address(),
            })
            .collect();
        let committee = Committee { epoch: EPOCH, members };
        let node_committee = walrus_node::Committee {
            epoch: EPOCH,
            members: committee
                .members
                .iter()
                .map(|m| walrus_node::Member {
                    node_id: node_object(m.node_id),
                    public_key: m.public_key.clone(),
                    shards: m.shards.clone(),
                    network_address: m.network_address.clone(),
                })
                .collect(),
        };
        let state = ChainState {
            checkpoint: 0,
            next_object: 0,
            objects: BTreeMap::new(),
            certificates: Vec::new(),
            registration_lag: Duration::ZERO,
        };
        let chain = Arc::new(TestChain {
            committee,
            nodes: nodes.iter().map(|n| n.node.clone()).collect(),
            state: Mutex::new(state),
        });
        {
            let mut state = chain.state.lock().unwrap();
            chain.apply(&mut state, ChainUpdate::EpochStarted(node_committee));
        }
        Self { nodes, chain, _dirs: dirs }
    }

    /// A client that gives up quickly, so failure cases stay fast.
    pub fn client(&self) -> Client {
        self.client_with(|_| {})
    }

    pub fn client_with(&self, tune: impl FnOnce(&mut ClientConfig)) -> Client {
        let mut config = ClientConfig {
            max_attempts: 3,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(200),
            confirmation_wait: Duration::from_secs(2),
            after_quorum: Duration::from_secs(10),
            ..ClientConfig::default()
        };
        tune(&mut config);
        Client::new(self.chain.clone(), config)
    }

    pub fn committee(&self) -> &Committee {
        &self.chain.committee
    }
}

/// Deterministic bytes that differ from blob to blob.
pub fn blob(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u32).wrapping_mul(2654435761).to_le_bytes()[3] ^ seed).collect()
}
