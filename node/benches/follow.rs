//! How fast a storage node follows sparse checkpoints from scratch (issue 11: at least 5,000
//! checkpoints/s), against reading and decoding the same checkpoints without applying them.
//!
//! `cargo bench -p walrus-node --bench follow` (optional argument: the number of checkpoints,
//! 20,000 by default)
//!
//! The folder is written once with `walrus-chain`'s writer: most checkpoints empty, about one in
//! 20 with a few transactions (a blob registered, the previous one certified, now and then one
//! deleted, and an event of another package), the genesis with four node registrations, and an
//! epoch change with its committee at checkpoint 1 and every 5,000 checkpoints after. The followed
//! node is not a committee member, so certifications start no blob sync (that is measured by
//! the `node` bench).
//!
//! For each source (`dir:`, then `http://` from a loopback file server in this process):
//! 1. Ceiling: the checkpoints fetched [`MAX_BATCH`] at a time concurrently, decoded and
//!    mapped to chain updates, nothing stored.
//! 2. Following: a node with a fresh store follows from checkpoint 0 until its watermark is
//!    the last checkpoint.
//!
//! Each figure is the median of 5 runs after a warm-up of the page cache.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use sui_rpc::proto::sui::rpc::v2 as proto;
use sui_sdk_types::{Address, Digest};
use tempfile::TempDir;
use walrus_chain::checkpoint::CheckpointSequence;
use walrus_chain::events as ev;
use walrus_chain::events::PackageOrigins;
use walrus_chain::follow::events_of;
use walrus_chain::source::Source;
use walrus_chain::testing::{checkpoint, ours, package, raw_event, write_binpb_zst};
use walrus_node::follow::{updates_of, MAX_BATCH};
use walrus_node::keys::ProtocolKey;
use walrus_node::{FollowConfig, Node, ObjectId};

const DEFAULT_CHECKPOINTS: u64 = 20_000;
/// One checkpoint in this many carries transactions.
const BUSY_EVERY: u64 = 20;
const EPOCH_EVERY: u64 = 5_000;
const RUNS: usize = 5;
const MEMBERS: u8 = 4;
/// Every blob's end epoch, past the last epoch of any run.
const END_EPOCH: u32 = 1_000;

fn member(i: u8) -> Address {
    Address::new([0xa0 + i; 32])
}

fn blob(n: u64) -> ev::BlobId {
    let mut id = [0xB0; 32];
    id[..8].copy_from_slice(&n.to_le_bytes());
    ev::BlobId(id)
}

fn blob_object(n: u64) -> Address {
    let mut id = [0x0B; 32];
    id[..8].copy_from_slice(&n.to_le_bytes());
    Address::new(id)
}

fn committee(epoch: u32) -> proto::Event {
    ours(&ev::CommitteeSelected {
        epoch,
        node_ids: (0..MEMBERS).map(member).collect(),
        shards: (0..u16::from(MEMBERS)).map(|i| vec![2 * i, 2 * i + 1]).collect(),
    })
}

/// The epoch that checkpoint `sequence` (from 1) is in: each starts at a checkpoint 1 modulo
/// [`EPOCH_EVERY`].
fn epoch_of(sequence: u64) -> u32 {
    1 + ((sequence - 1) / EPOCH_EVERY) as u32
}

/// The transactions of checkpoint `sequence`, each a list of events.
fn transactions(sequence: u64) -> Vec<Vec<proto::Event>> {
    if sequence == 0 {
        let genesis: Vec<_> = (0..MEMBERS)
            .map(|i| {
                let mut secret = [0u8; 32];
                secret[31] = i + 1;
                let key = ProtocolKey::from_secret(&secret).unwrap();
                ours(&ev::NodeRegistered {
                    epoch: 0,
                    node_id: member(i),
                    name: format!("node {i}"),
                    network_address: format!("127.0.0.1:{}", 9000 + u16::from(i)),
                    public_key: key.public_key().to_vec(),
                    network_public_key: vec![i; 32],
                    commission_rate: 0,
                })
            })
            .collect();
        return genesis.into_iter().map(|e| vec![e]).collect();
    }
    let epoch = epoch_of(sequence);
    // Off the busy checkpoints, so no blob is left without its registration.
    if sequence % EPOCH_EVERY == 1 {
        return vec![vec![committee(epoch)], vec![ours(&ev::EpochChangeStart { epoch })]];
    }
    if !sequence.is_multiple_of(BUSY_EVERY) {
        return vec![];
    }
    let n = sequence / BUSY_EVERY;
    let mut txs = vec![
        vec![raw_event(Address::new([0x77; 32]), "other", "Swapped", vec![7; 40])],
        vec![ours(&ev::BlobRegistered {
            epoch,
            blob_id: blob(n),
            size: 3000,
            encoding_type: 1,
            end_epoch: END_EPOCH,
            deletable: n.is_multiple_of(2),
            object_id: blob_object(n),
        })],
    ];
    if n >= 2 {
        txs.push(vec![ours(&ev::BlobCertified {
            epoch,
            blob_id: blob(n - 1),
            end_epoch: END_EPOCH,
            deletable: (n - 1).is_multiple_of(2),
            object_id: blob_object(n - 1),
            is_extension: false,
        })]);
    }
    // Every tenth busy checkpoint deletes the blob registered two before (a deletable one).
    if n.is_multiple_of(10) {
        txs.push(vec![ours(&ev::BlobDeleted {
            epoch,
            blob_id: blob(n - 2),
            end_epoch: END_EPOCH,
            object_id: blob_object(n - 2),
            was_certified: true,
        })]);
    }
    txs
}

/// Writes checkpoints `0..count` into `dir`, with real (base58, 32-byte) transaction digests.
fn write_chain(dir: &Path, count: u64) {
    for sequence in 0..count {
        let mut message = checkpoint(sequence, transactions(sequence));
        for (i, tx) in message.transactions.iter_mut().enumerate() {
            let mut bytes = [0x5Au8; 32];
            bytes[..8].copy_from_slice(&sequence.to_le_bytes());
            bytes[8..12].copy_from_slice(&(i as u32).to_le_bytes());
            tx.digest = Some(Digest::new(bytes).to_string());
        }
        write_binpb_zst(dir, &message);
    }
}

/// Fetches, decodes and maps every checkpoint as the follower does, storing nothing; returns
/// how many updates they map to (so nothing is optimized away).
async fn read_only(source: &Source, count: u64) -> usize {
    let mut origins = PackageOrigins::from_addresses([package()]);
    let mut updates = 0;
    let mut next = 0;
    while next < count {
        let batch = (count - next).min(MAX_BATCH as u64);
        let mut fetches = tokio::task::JoinSet::new();
        for sequence in next..next + batch {
            let source = source.clone();
            fetches.spawn(async move { (sequence, source.fetch(CheckpointSequence(sequence)).await) });
        }
        let mut fetched = fetches.join_all().await;
        fetched.sort_by_key(|(sequence, _)| *sequence);
        for (sequence, result) in fetched {
            let checkpoint = result.unwrap().unwrap_or_else(|| panic!("checkpoint {sequence} is missing"));
            let found = events_of(&checkpoint, &mut origins);
            updates += updates_of(&found.events).updates.len();
        }
        next += batch;
    }
    updates
}

/// Follows `source` with a fresh node until it has applied checkpoint `count - 1`.
async fn follow(source: &Source, count: u64) -> Duration {
    let store = TempDir::new().unwrap();
    let key = ProtocolKey::from_secret(&[0x42; 32]).unwrap();
    let node = Node::open(store.path(), key, ObjectId([0xEE; 32]), Duration::from_secs(1)).unwrap();
    let config = FollowConfig { package: package(), first_checkpoint: 0, poll_interval: Duration::from_millis(5) };
    let started = Instant::now();
    let follower = node.follow(source.clone(), config);
    while node.watermark() != Some(count - 1) {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed();
    follower.abort();
    let _ = follower.await;
    assert_eq!(node.committee().epoch, epoch_of(count - 1));
    assert_eq!(node.unusable_events().unwrap(), 0);
    elapsed
}

/// Serves `dir`'s files over loopback HTTP, as a checkpoint store would.
async fn serve(dir: PathBuf) -> SocketAddr {
    async fn file(State(dir): State<PathBuf>, UrlPath(name): UrlPath<String>) -> Result<Vec<u8>, StatusCode> {
        if name.contains('/') || name.starts_with('.') {
            return Err(StatusCode::BAD_REQUEST);
        }
        tokio::fs::read(dir.join(name)).await.map_err(|_| StatusCode::NOT_FOUND)
    }
    let app = axum::Router::new().route("/{name}", axum::routing::get(file)).with_state(dir);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[tokio::main]
async fn main() {
    // `cargo bench` passes `--bench`; the only other argument is the checkpoint count.
    let count = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .map_or(DEFAULT_CHECKPOINTS, |a| a.parse().expect("the argument is a number of checkpoints"));
    let dir = TempDir::new().unwrap();
    let started = Instant::now();
    write_chain(dir.path(), count);
    println!("wrote {count} checkpoints in {:.1} s", started.elapsed().as_secs_f64());
    let addr = serve(dir.path().to_owned()).await;
    let sources =
        [("dir", Source::Dir(dir.path().to_owned())), ("http", Source::parse(&format!("http://{addr}")).unwrap())];
    println!("| source | read+decode+map (ceiling), checkpoints/s | node following, checkpoints/s | ratio |");
    println!("|---|---:|---:|---:|");
    let mut runs_of = Vec::new();
    for (name, source) in &sources {
        let updates = read_only(source, count).await;
        let mut ceiling = Vec::new();
        let mut following = Vec::new();
        for _ in 0..RUNS {
            let started = Instant::now();
            assert_eq!(read_only(source, count).await, updates);
            ceiling.push(count as f64 / started.elapsed().as_secs_f64());
            following.push(count as f64 / follow(source, count).await.as_secs_f64());
        }
        let runs = |values: &[f64]| values.iter().map(|v| format!("{v:.0}")).collect::<Vec<_>>().join(", ");
        runs_of.push(format!("{name}: ceiling {}; following {}", runs(&ceiling), runs(&following)));
        let (ceiling, following) = (median(ceiling), median(following));
        println!("| {name} | {ceiling:.0} | {following:.0} | {:.2} |", following / ceiling);
    }
    println!("\nEvery run (checkpoints/s):");
    for line in runs_of {
        println!("- {line}");
    }
}
