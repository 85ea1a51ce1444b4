//! Storing and reading through a committee of seven real nodes: round trips, nodes down or
//! lying, the clear error when a certificate is out of reach, and the certificate itself
//! checked like the Move contract checks it.

mod common;

use std::collections::BTreeSet;

use common::*;
use walrus_client::{Persistence, ReadError, ResourceOperation, StoreError, StoreEvent, StoreOptions, StoreOutcome};
use walrus_encoder::BlobId;

fn options(epochs: u32, deletable: bool) -> StoreOptions {
    StoreOptions { epochs, deletable, force: false, progress: None }
}

/// Stores `data` and returns the new object's blob ID and the faults reported.
async fn store_new(cluster: &Cluster, data: Vec<u8>, deletable: bool) -> (BlobId, Vec<walrus_client::NodeFault>) {
    match cluster.client().store(data, options(3, deletable)).await.unwrap() {
        StoreOutcome::NewlyCreated { blob, faults, operation, cost, encoded_length } => {
            assert_eq!((blob.certified_epoch, blob.end_epoch), (Some(EPOCH), EPOCH + 3));
            assert_eq!(operation, ResourceOperation::RegisterFromScratch { epochs_ahead: 3 });
            assert_eq!(blob.deletable, deletable);
            assert_eq!(cost, PRICES.cost(encoded_length, 3));
            (blob.blob_id, faults)
        }
        other => panic!("expected a new blob, got {other:?}"),
    }
}

fn addresses(faults: &[walrus_client::NodeFault]) -> BTreeSet<String> {
    faults.iter().map(|f| f.address.clone()).collect()
}

fn addresses_of(cluster: &Cluster, nodes: &[usize]) -> BTreeSet<String> {
    nodes.iter().map(|&i| cluster.nodes[i].address()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blobs_of_0_1_and_1_mib_round_trip() {
    let cluster = Cluster::start().await;
    for (len, deletable) in [(0, false), (1, true), (1 << 20, false)] {
        let data = blob(len, len as u8);
        let (id, faults) = store_new(&cluster, data.clone(), deletable).await;
        assert_eq!(faults, vec![], "every node confirms when all are up");
        assert_eq!(id, walrus_encoder::compute_metadata(N_SHARDS, &data).unwrap().blob_id());
        for node in &cluster.nodes {
            assert!(node.node.holds_data(&id).unwrap(), "node {} got its slivers", node.index);
        }
        let read = cluster.client().read(&id).await.unwrap();
        assert_eq!((read.blob.len(), read.faults), (len, vec![]));
        assert!(read.blob == data, "{len} bytes read back identical");
    }
    assert_eq!(cluster.chain.certificates().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_certified_blob_is_not_stored_again_unless_forced() {
    let cluster = Cluster::start().await;
    let data = blob(5000, 1);
    let (id, _) = store_new(&cluster, data.clone(), false).await;
    // An object ending exactly when asked (epoch 1 + 3) is enough.
    let again = cluster.client().store(data.clone(), options(3, false)).await.unwrap();
    assert!(
        matches!(again, StoreOutcome::AlreadyCertified { blob } if blob.blob_id == id && blob.end_epoch == EPOCH + 3)
    );
    let json = again.to_json();
    assert_eq!(json["alreadyCertified"]["blobId"], id.to_string());
    assert_eq!(json["alreadyCertified"]["endEpoch"], EPOCH + 3);
    assert!(json["alreadyCertified"]["objectId"].as_str().unwrap().starts_with("0x"));
    // Longer than the existing object covers: stored anew.
    let longer = cluster.client().store(data.clone(), options(5, false)).await.unwrap();
    assert!(matches!(longer, StoreOutcome::NewlyCreated { blob, .. } if blob.end_epoch == EPOCH + 5));
    // The publisher's BlobStoreResult shape.
    let json = &longer.to_json()["newlyCreated"];
    let object = &json["blobObject"];
    assert_eq!((object["blobId"].as_str(), object["size"].as_u64()), (Some(id.to_string().as_str()), Some(5000)));
    assert_eq!((object["encodingType"].as_str(), object["certifiedEpoch"].as_u64()), (Some("RS2"), Some(1)));
    assert_eq!((object["storage"]["startEpoch"].as_u64(), object["storage"]["endEpoch"].as_u64()), (Some(1), Some(6)));
    assert_eq!(object["deletable"], false);
    assert_eq!(json["resourceOperation"]["registerFromScratch"]["epochsAhead"], 5);
    assert_eq!(json["resourceOperation"]["registerFromScratch"]["encodedLength"], object["storage"]["storageSize"]);
    assert!(json["cost"].as_u64().unwrap() > 0);
    let forced = StoreOptions { force: true, ..options(2, false) };
    assert!(matches!(cluster.client().store(data, forced).await.unwrap(), StoreOutcome::NewlyCreated { .. }));
    assert_eq!(cluster.chain.certificates().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_certificate_passes_the_contract_checks() {
    let cluster = Cluster::start().await;
    let (id, _) = store_new(&cluster, blob(3000, 2), true).await;
    // The test chain accepted it only after the conformance model's checks; check the
    // certificate's own parts too.
    let certificate = cluster.chain.certificates().pop().unwrap();
    let object = cluster.chain.blob_objects_now(&id)[0].object_id;
    let expected = walrus_conformance::blob_certification_message(EPOCH, &id.0, Some(&object.0));
    assert_eq!(certificate.message, expected);
    assert_eq!(
        certificate.message,
        walrus_client::certificate::confirmation_message(EPOCH, &id, Persistence::Deletable(object))
    );
    let signers: Vec<usize> = certificate.signers.iter().map(|&i| usize::from(i)).collect();
    assert!(signers.len() >= 5, "a quorum of 10 of 14 shards is at least 5 nodes");
    assert_eq!(certificate.signers_bitmap(), walrus_conformance::signers_bitmap(N_NODES, &signers));
    certificate.verify(cluster.committee()).unwrap();

    // BCS as Rust Walrus: ULEB count, u16 LE signers, ULEB length, message, 96 raw bytes.
    let bcs = certificate.to_bcs();
    assert_eq!(bcs.len(), 1 + 2 * signers.len() + 1 + certificate.message.len() + 96);
    assert_eq!(bcs[0] as usize, signers.len());
    assert_eq!(&bcs[bcs.len() - 96..], &certificate.signature);

    // Without one signer the weight is still a quorum only if enough remain; with a forged
    // signer set the signature no longer verifies.
    let mut forged = certificate.clone();
    forged.signers =
        (0..N_NODES as u16).filter(|i| !certificate.signers.contains(i)).chain([certificate.signers[0]]).collect();
    forged.signers.sort();
    assert!(forged.verify(cluster.committee()).is_err());
    let mut short = certificate.clone();
    short.signers.truncate(4);
    assert!(short.verify(cluster.committee()).unwrap_err().contains("not a quorum"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_succeed_with_f_nodes_down_and_name_them() {
    let cluster = Cluster::start().await;
    let data = blob(100_000, 3);
    let (id, _) = store_new(&cluster, data.clone(), false).await;
    let down = [1, 4];
    for &i in &down {
        cluster.nodes[i].take_down().await;
    }
    for (i, node) in cluster.nodes.iter().enumerate() {
        if !down.contains(&i) {
            node.set_mode(Mode::Slow);
        }
    }
    let read = cluster.client().read(&id).await.unwrap();
    assert!(read.blob == data);
    assert_eq!(addresses(&read.faults), addresses_of(&cluster, &down));
    assert!(read.faults.iter().all(|f| f.reason.contains("unreachable")), "{:?}", read.faults);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_succeed_with_f_nodes_serving_garbage_and_name_them() {
    let cluster = Cluster::start().await;
    let data = blob(100_000, 4);
    let (id, _) = store_new(&cluster, data.clone(), false).await;
    let liars = [0, 5];
    for (i, node) in cluster.nodes.iter().enumerate() {
        node.set_mode(if liars.contains(&i) { Mode::Corrupt } else { Mode::Slow });
    }
    let read = cluster.client().read(&id).await.unwrap();
    assert!(read.blob == data);
    assert_eq!(addresses(&read.faults), addresses_of(&cluster, &liars));
    for fault in &read.faults {
        assert!(fault.reason.contains("metadata") || fault.reason.contains("sliver"), "{fault}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_with_too_many_liars_fails_clearly_or_never_returns_wrong_data() {
    let cluster = Cluster::start().await;
    let (id, _) = store_new(&cluster, blob(20_000, 5), false).await;
    for node in &cluster.nodes[..5] {
        node.set_mode(Mode::Corrupt);
    }
    match cluster.client().read(&id).await {
        Err(ReadError::NotEnoughSlivers { primary, primary_needed, faults, .. }) => {
            assert!(primary < primary_needed);
            assert_eq!(addresses(&faults), addresses_of(&cluster, &[0, 1, 2, 3, 4]));
        }
        other => panic!("expected too few slivers, got {other:?}"),
    }
    let unknown = BlobId([9; 32]);
    let error = cluster.client().read(&unknown).await.unwrap_err();
    assert!(matches!(error, ReadError::NoMetadata { .. }), "{error}");
    assert!(error.to_string().ends_with("no node has it (the blob was never stored, or it expired or was deleted)"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_f_nodes_down_certifies() {
    let cluster = Cluster::start().await;
    let down = [2, 6];
    for &i in &down {
        cluster.nodes[i].take_down().await;
    }
    let data = blob(50_000, 6);
    let (id, faults) = store_new(&cluster, data.clone(), false).await;
    assert_eq!(addresses(&faults), addresses_of(&cluster, &down));
    let certificate = cluster.chain.certificates().pop().unwrap();
    assert!(certificate.signers.iter().all(|&i| !down.contains(&usize::from(i))));
    assert!(cluster.client().read(&id).await.unwrap().blob == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_with_a_bad_confirmation_is_not_counted_and_is_named() {
    let cluster = Cluster::start().await;
    cluster.nodes[3].set_mode(Mode::Corrupt);
    let (_, faults) = store_new(&cluster, blob(10_000, 7), false).await;
    assert_eq!(addresses(&faults), addresses_of(&cluster, &[3]));
    assert!(faults[0].reason.contains("invalid confirmation"), "{}", faults[0]);
    assert!(!cluster.chain.certificates()[0].signers.contains(&3));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_with_f_plus_1_nodes_down_fails_with_a_clear_error() {
    let cluster = Cluster::start().await;
    let down = [0, 3, 5];
    for &i in &down {
        cluster.nodes[i].take_down().await;
    }
    let error = cluster.client().store(blob(10_000, 8), options(2, true)).await.unwrap_err();
    let message = error.to_string();
    match &error {
        StoreError::NotEnoughConfirmations { weight, needed, n_shards, faults, .. } => {
            assert_eq!((*weight, *needed, *n_shards), (8, 10, N_SHARDS));
            assert_eq!(addresses(faults), addresses_of(&cluster, &down));
        }
        other => panic!("expected too few confirmations, got {other}"),
    }
    assert!(message.contains("8 of 14 shards confirmed, 10 needed; 3 node(s) failed"), "{message}");
    for &i in &down {
        assert!(message.contains(&cluster.nodes[i].address()), "{message}");
    }
    assert!(message.contains("unreachable"), "{message}");
    assert!(cluster.chain.certificates().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_answering_nonsense_or_nothing_are_named_and_worked_around() {
    let cluster = Cluster::start().await;
    cluster.nodes[1].set_mode(Mode::Nonsense);
    cluster.nodes[4].set_mode(Mode::Hang);
    let client = cluster.client_with(|c| c.timeouts.request = std::time::Duration::from_millis(300));
    let data = blob(30_000, 9);
    let started = std::time::Instant::now();
    let outcome = client.store(data.clone(), options(2, false)).await.unwrap();
    assert!(started.elapsed() < std::time::Duration::from_secs(8), "a hung node does not stall the store");
    let StoreOutcome::NewlyCreated { faults, blob, .. } = outcome else { panic!("not stored") };
    assert_eq!(addresses(&faults), addresses_of(&cluster, &[1, 4]));
    let reason = |i: usize| faults.iter().find(|f| f.address == cluster.nodes[i].address()).unwrap().reason.clone();
    assert!(reason(1).contains("answered nonsense"), "{}", reason(1));
    assert!(reason(4).contains("timed out"), "{}", reason(4));

    // Enough honest nodes answer before the hung one times out: the read need not wait for it.
    let read = client.read(&blob.blob_id).await.unwrap();
    assert!(read.blob == data);
    assert!(addresses(&read.faults).is_subset(&addresses_of(&cluster, &[1, 4])), "{:?}", read.faults);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progress_counts_every_byte_and_the_confirmations() {
    let cluster = Cluster::start().await;
    let events = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = events.clone();
    let progress: walrus_client::store::ProgressFn = std::sync::Arc::new(move |e| sink.lock().unwrap().push(e));
    let data = blob(40_000, 10);
    let estimate = cluster.client().estimate(data.clone(), 4).await.unwrap();
    let options = StoreOptions { progress: Some(progress), ..options(4, false) };
    let outcome = cluster.client().store(data, options).await.unwrap();
    let StoreOutcome::NewlyCreated { blob, cost, encoded_length, .. } = outcome else { panic!("not stored") };
    assert_eq!((estimate.blob_id, estimate.cost, estimate.encoded_size), (blob.blob_id, cost, encoded_length));

    let events = events.lock().unwrap();
    let Some(StoreEvent::Encoded { total_bytes }) = events.first().copied() else { panic!("{events:?}") };
    let sent: u64 = events.iter().map(|e| if let StoreEvent::Sent { bytes } = e { *bytes } else { 0 }).sum();
    assert_eq!(sent, total_bytes);
    let weights: Vec<usize> = events
        .iter()
        .filter_map(|e| if let StoreEvent::Confirmed { weight, .. } = e { Some(*weight) } else { None })
        .collect();
    assert_eq!(weights, (1..=N_NODES).map(|i| i * usize::from(SHARDS_PER_NODE)).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_fall_back_to_secondary_slivers() {
    let cluster = Cluster::start().await;
    let data = blob(70_000, 11);
    let (id, _) = store_new(&cluster, data.clone(), true).await;
    for node in &cluster.nodes {
        node.set_mode(Mode::NoPrimary);
    }
    let read = cluster.client().read(&id).await.unwrap();
    assert!(read.blob == data);
    assert_eq!(read.faults.len(), N_NODES, "every node failed its primary slivers");
    assert!(read.faults.iter().all(|f| f.reason.contains("503")), "{:?}", read.faults);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_store_resumes_with_its_registration_and_sends_only_what_is_missing() {
    let cluster = Cluster::start().await;
    let unavailable = [2, 3, 6];
    for &i in &unavailable {
        cluster.nodes[i].set_mode(Mode::Unavailable);
    }
    let data = blob(25_000, 12);
    let error = cluster.client().store(data.clone(), options(2, false)).await.unwrap_err();
    assert!(error.to_string().contains("HTTP 503"), "{error}");
    let per_node = 2 * usize::from(SHARDS_PER_NODE);
    let puts: Vec<usize> = cluster.nodes.iter().map(|n| n.sliver_puts()).collect();
    assert_eq!(puts, [per_node, per_node, 0, 0, per_node, per_node, 0]);

    for &i in &unavailable {
        cluster.nodes[i].set_mode(Mode::Honest);
    }
    let outcome = cluster.client().store(data.clone(), options(2, false)).await.unwrap();
    let StoreOutcome::NewlyCreated { blob, cost, operation, faults, .. } = &outcome else { panic!("{outcome:?}") };
    assert_eq!((*operation, *cost, faults.len()), (ResourceOperation::ReuseRegistration, 0, 0));
    assert_eq!(cluster.chain.blob_objects_now(&blob.blob_id).len(), 1, "no second registration");
    assert_eq!(
        outcome.to_json()["newlyCreated"]["resourceOperation"]["reuseRegistration"]["encodedLength"],
        serde_json::json!(blob.storage_size)
    );
    // The nodes that had their slivers were asked, not sent them again.
    let puts: Vec<usize> = cluster.nodes.iter().map(|n| n.sliver_puts()).collect();
    assert_eq!(puts, [per_node; N_NODES]);
    assert!(cluster.client().read(&blob.blob_id).await.unwrap().blob == data);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slivers_a_node_lost_are_sent_again_when_it_reports_them_missing() {
    let cluster = Cluster::start().await;
    cluster.nodes[5].set_mode(Mode::LoseFirstUpload);
    let (id, faults) = store_new(&cluster, blob(12_000, 13), false).await;
    assert_eq!(faults, vec![], "node 5 confirmed after getting its slivers again");
    assert!(cluster.chain.certificates()[0].signers.contains(&5));
    assert_eq!(cluster.nodes[5].sliver_puts(), 2 * usize::from(SHARDS_PER_NODE));
    assert!(cluster.nodes[5].node.holds_data(&id).unwrap());
}

/// Nodes that follow the chain behind the client answer `NOT_REGISTERED` at first; the store
/// waits for them to catch up instead of spending its attempts (with three attempts 50 ms
/// apart and no such wait, every node fails long before it sees the registration).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_that_see_the_registration_late_are_waited_for() {
    let cluster = Cluster::start().await;
    cluster.chain.set_registration_lag(std::time::Duration::from_secs(2));
    let data = blob(20_000, 9);
    let outcome = cluster.client().store(data.clone(), options(3, false)).await.unwrap();
    let StoreOutcome::NewlyCreated { blob: stored, faults, .. } = outcome else { panic!("expected a new blob") };
    assert!(faults.is_empty(), "{faults:?}");
    assert!(cluster.client().read(&stored.blob_id).await.unwrap().blob == data);
    let impatient = cluster.client_with(|c| c.registration_wait = std::time::Duration::ZERO);
    let error = impatient.store(blob(20_000, 10), options(3, false)).await.unwrap_err();
    assert!(error.to_string().contains("NOT_REGISTERED"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_read_streams_the_blob_as_it_goes_and_waits_for_a_slow_reader() {
    let cluster = Cluster::start().await;
    // Several rows, and more than two pieces after the first whichever way the read goes
    // (rows as they come, or decoded pieces of at most 1 MiB).
    let data = blob(3_500_000, 12);
    let (id, _) = store_new(&cluster, data.clone(), false).await;
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    let client = cluster.client();
    let reading = tokio::spawn(async move { client.read_to(&id, tx).await });
    let first = rx.recv().await.unwrap();
    assert!(!first.is_empty() && data.starts_with(&first));
    // The reader takes nothing more for a while: the read waits for it instead of piling up
    // the rest of the blob in memory.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(!reading.is_finished(), "the read ran ahead of its reader");
    let mut all = first.to_vec();
    while let Some(piece) = rx.recv().await {
        all.extend_from_slice(&piece);
    }
    assert!(reading.await.unwrap().unwrap().is_empty(), "no faults");
    assert!(all == data, "streamed bytes identical");
}
