//! The scripted scenario whose events the generated Move test
//! (`move/walrus/tests/localchain_scenario_tests.move`) compares with what `move/walrus` emits
//! for the same calls: genesis, blobs registered, certified with real BLS certificates,
//! extended, deleted, a blob ID invalidated, nodes reporting their shards, two epoch changes
//! with rewards. Its transactions and events are `tests/vectors/localchain-scenario.json`;
//! this test fails when the local chain no longer produces that file (set
//! `WALRUS_WRITE_LOCALCHAIN_VECTORS=1` to rewrite it, then run `node
//! scripts/gen-move-vectors.mjs`). The checkpoint files it writes are read back through
//! `walrus-chain`'s `dir:` source, as the indexer and the nodes follow them.

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use common::*;
use serde_json::{json, Value};
use walrus_chain::checkpoint::{Checkpoint, CheckpointSequence};
use walrus_chain::events::PackageOrigins;
use walrus_chain::follow::events_of;
use walrus_chain::messages::{blob_certification, invalid_blob_id, Persistence};
use walrus_chain::source::Source;
use walrus_localchain::{Call, Executed, LocalChain};

/// The event types the local chain emits, in the order the generated test checks them.
const EVENT_TYPES: &[&str] = &[
    "NodeRegistered",
    "StakeDeposited",
    "CommitteeSelected",
    "EpochParametersSelected",
    "EpochChangeStart",
    "PricesUpdated",
    "CapacityUpdated",
    "RewardsDistributed",
    "EpochChangeSyncTimedOut",
    "ShardsReceived",
    "EpochChangeDone",
    "StorageReserved",
    "BlobRegistered",
    "BlobCertified",
    "BlobDeleted",
    "InvalidBlobID",
];

/// Runs calls one second apart and keeps what they did.
struct Runner {
    log: Vec<Executed>,
    time: u64,
}

impl Runner {
    fn exec(&mut self, chain: &mut LocalChain, sender: sui_sdk_types::Address, call: Call) -> Executed {
        self.time += 1000;
        let executed = chain.execute(sender, call, self.time).unwrap_or_else(|e| panic!("{e}"));
        self.log.push(executed.clone());
        executed
    }
}

fn run_scenario(chain: &mut LocalChain, network: &Network, log: Vec<Executed>) -> Vec<Executed> {
    let mut runner = Runner { log, time: GENESIS_TIME_MS };
    let register = |blob_id, root_hash, size, deletable, epochs_ahead| Call::RegisterBlob {
        blob_id,
        root_hash,
        size,
        encoding_type: 1,
        deletable,
        epochs_ahead,
    };
    let (root_a, id_a) = blob(1, 1000);
    let (root_b, id_b) = blob(2, 1_500_000);
    let a = runner.exec(chain, client(), register(id_a, root_a, 1000, false, 3)).created[1];
    let b = runner.exec(chain, client(), register(id_b, root_b, 1_500_000, true, 2)).created[1];

    // A permanent blob certified by everyone; a deletable one by all but the first member.
    let epoch = chain.state().epoch;
    let (signature, signers_bitmap) =
        network.certify_all(chain.state(), &blob_certification(epoch, &id_a, Persistence::Permanent));
    let message = blob_certification(epoch, &id_a, Persistence::Permanent);
    runner.exec(chain, client(), Call::CertifyBlob { object_id: a, signature, signers_bitmap, message });
    let message = blob_certification(epoch, &id_b, Persistence::Deletable(b.into()));
    let n = chain.state().bls_committee.members.len();
    let (signature, signers_bitmap) = network.certify(chain.state(), &(1..n).collect::<Vec<_>>(), &message);
    runner.exec(chain, client(), Call::CertifyBlob { object_id: b, signature, signers_bitmap, message });
    runner.exec(chain, client(), Call::ExtendBlob { object_id: a, epochs: 2 });

    let (_, id_c) = blob(3, 77);
    let message = invalid_blob_id(epoch, &id_c);
    let (signature, signers_bitmap) = network.certify_all(chain.state(), &message);
    runner.exec(chain, client(), Call::InvalidateBlobId { signature, signers_bitmap, message });

    // The smallest member reports its shards (not a quorum: the next selection records the
    // timeout).
    let (smallest, _) = chain.state().committee.iter().min_by_key(|(_, shards)| shards.len()).unwrap();
    let pool = chain.state().pools[smallest].clone();
    runner.exec(chain, pool.operator, Call::EpochSyncDone { node_id: pool.node_id, epoch });

    let deployer = network.genesis.deployer;
    runner.log.extend(chain.advance_epoch(deployer, 0).unwrap());
    runner.exec(chain, client(), Call::DeleteBlob { object_id: b });
    let epoch = chain.state().epoch;
    let (root_c, id_c) = blob(4, 300_000);
    let c = runner.exec(chain, client(), register(id_c, root_c, 300_000, true, 1)).created[1];
    let message = blob_certification(epoch, &id_c, Persistence::Deletable(c.into()));
    let (signature, signers_bitmap) = network.certify_all(chain.state(), &message);
    runner.exec(chain, client(), Call::CertifyBlob { object_id: c, signature, signers_bitmap, message });
    // Every member reports: the epoch change completes.
    for pool in chain.state().pools.values().cloned().collect::<Vec<_>>() {
        if chain.state().committee.contains_key(&pool.node_id) {
            runner.exec(chain, pool.operator, Call::EpochSyncDone { node_id: pool.node_id, epoch });
        }
    }
    runner.log.extend(chain.advance_epoch(deployer, 0).unwrap());
    runner.log
}

fn vectors(log: &[Executed]) -> Value {
    let mut by_type: BTreeMap<&str, Vec<&walrus_chain::events::WalrusEvent>> = BTreeMap::new();
    for event in log.iter().flat_map(|tx| &tx.events) {
        assert!(EVENT_TYPES.contains(&event.name()), "{} is missing from EVENT_TYPES", event.name());
        by_type.entry(event.name()).or_default().push(event);
    }
    let events: serde_json::Map<String, Value> = EVENT_TYPES
        .iter()
        .map(|name| {
            let list = by_type.remove(name).unwrap_or_default();
            (name.to_string(), json!(hex::encode(bcs::to_bytes(&list).unwrap())))
        })
        .collect();
    json!({
        "about": "Written by localchain/tests/scenario.rs (the local chain running a scripted scenario); \
                  scripts/gen-move-vectors.mjs turns it into move/walrus/tests/localchain_scenario_tests.move, \
                  which runs the same calls against move/walrus and compares the events' BCS.",
        "transactions": log.iter().map(|tx| json!({
            "digest": hex::encode(tx.digest_bytes),
            "sender": tx.sender,
            "time_ms": tx.time_ms,
            "call": tx.call,
            "created": tx.created,
        })).collect::<Vec<_>>(),
        "event_count": log.iter().map(|tx| tx.events.len()).sum::<usize>(),
        "events_bcs": events,
    })
}

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/vectors/localchain-scenario.json")
}

#[test]
fn scenario_matches_the_vectors_the_move_test_replays() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(&[1, 2, 3, 5]);
    let (mut chain, genesis) = LocalChain::create(dir.path(), &network.genesis, 0).unwrap();
    let log = run_scenario(&mut chain, &network, genesis);
    // Rewards were paid, the second change completed, the deletable blob is gone.
    let names: Vec<&str> = log.iter().flat_map(|tx| tx.events.iter().map(|e| e.name())).collect();
    for expected in ["RewardsDistributed", "EpochChangeSyncTimedOut", "EpochChangeDone", "BlobDeleted", "InvalidBlobID"]
    {
        assert!(names.contains(&expected), "the scenario emits {expected}");
    }
    assert_eq!(chain.state().epoch, 3);

    let text = serde_json::to_string_pretty(&vectors(&log)).unwrap() + "\n";
    if std::env::var_os("WALRUS_WRITE_LOCALCHAIN_VECTORS").is_some() {
        std::fs::write(vectors_path(), &text).unwrap();
    }
    let checked_in = std::fs::read_to_string(vectors_path()).unwrap_or_default();
    assert!(
        checked_in == text,
        "tests/vectors/localchain-scenario.json is stale: rerun with WALRUS_WRITE_LOCALCHAIN_VECTORS=1, then \
         node scripts/gen-move-vectors.mjs"
    );

    // Every checkpoint file decodes as followers decode it, the digests chain, and the events
    // read back are the ones the calls returned, transaction by transaction.
    let mut origins = PackageOrigins::new(network.genesis.package_id.unwrap());
    let mut previous = None;
    let mut read_back = Vec::new();
    let source = Source::parse(&format!("dir:{}", chain.checkpoints_dir().display())).unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    for sequence in 0..=chain.last_checkpoint() {
        let checkpoint = runtime.block_on(source.fetch(CheckpointSequence(sequence))).unwrap().expect("written");
        assert_eq!(checkpoint.sequence_number.0, sequence);
        assert_eq!(checkpoint.previous_digest, previous);
        previous = Some(checkpoint.digest);
        let found = events_of(&checkpoint, &mut origins);
        for event in found.events {
            read_back.push((event.tx_digest.clone(), event.decoded.expect("our events decode")));
        }
    }
    let expected: Vec<_> = log.iter().flat_map(|tx| tx.events.iter().map(|e| (tx.digest.clone(), e.clone()))).collect();
    assert_eq!(read_back, expected);
    let after = CheckpointSequence(chain.last_checkpoint() + 1);
    assert!(runtime.block_on(source.fetch(after)).unwrap().is_none(), "nothing past the last checkpoint");
}

#[test]
fn a_restarted_chain_resumes_where_it_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let network = Network::new(&[1, 1, 1, 1]);
    let (mut chain, _) = LocalChain::create(dir.path(), &network.genesis, 0).unwrap();
    let (root, id) = blob(9, 10);
    let register = Call::RegisterBlob {
        blob_id: id,
        root_hash: root,
        size: 10,
        encoding_type: 1,
        deletable: true,
        epochs_ahead: 2,
    };
    let object = chain.execute(client(), register, GENESIS_TIME_MS + 5).unwrap().created[1];
    let before = chain.state().clone();
    let last = chain.last_checkpoint();
    drop(chain);

    // A crash after the state was saved but before the checkpoint file was renamed into place.
    let lost = dir.path().join(format!("checkpoints/{last}.binpb.zst"));
    let bytes = std::fs::read(&lost).unwrap();
    std::fs::remove_file(&lost).unwrap();
    let mut chain = LocalChain::open(dir.path()).unwrap();
    assert_eq!(std::fs::read(&lost).unwrap(), bytes, "the lost checkpoint is written again");
    assert_eq!(chain.state(), &before);

    let executed = chain.execute(client(), Call::DeleteBlob { object_id: object }, GENESIS_TIME_MS + 6).unwrap();
    assert_eq!(executed.checkpoint, last + 1);
    let next = Checkpoint::from_binpb_zst(
        &std::fs::read(dir.path().join(format!("checkpoints/{}.binpb.zst", last + 1))).unwrap(),
    )
    .unwrap();
    let previous = Checkpoint::from_binpb_zst(&bytes).unwrap();
    assert_eq!(next.previous_digest, Some(previous.digest));
    assert!(LocalChain::create(dir.path(), &network.genesis, 0).is_err(), "a folder holds one chain");
}
