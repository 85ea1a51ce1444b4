//! A committee of four nodes driven over HTTP with slivers from `walrus-encoder`: every
//! acceptance rule and reason of the spec's section 2, confirmations verified with fastcrypto,
//! a certificate checked like the Move contract, deletion, restart and recovery.

mod common;

use common::*;
use fastcrypto::bls12381::min_pk::{BLS12381AggregateSignature, BLS12381PublicKey, BLS12381Signature};
use fastcrypto::traits::{AggregateAuthenticator, ToFromBytes, VerifyingKey};
use walrus_encoder::{
    encode, BlobId, BlobMetadata, EncodedBlob, GeneralRecoverySymbol, Primary, Secondary, Sliver, SliverIndex,
    SliverPairIndex,
};
use walrus_node::ChainUpdate;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

fn blob(seed: u8) -> EncodedBlob {
    let data: Vec<u8> = (0..3000u32).map(|i| (i as u8).wrapping_mul(seed).wrapping_add(seed)).collect();
    encode(N_SHARDS, &data).unwrap()
}

fn metadata_body(blob: &EncodedBlob) -> Vec<u8> {
    bcs::to_bytes(blob.metadata.metadata()).unwrap()
}

fn sliver_path(blob_id: &BlobId, pair: SliverPairIndex, axis: &str) -> String {
    format!("{blob_id}/slivers/{}/{axis}", pair.0)
}

/// Uploads metadata and every pair each node holds; data already there is fine (200).
async fn upload(cluster: &Cluster, blob: &EncodedBlob) {
    let id = blob.metadata.blob_id();
    let stored = |status: u16| assert!([200, 201].contains(&status), "status {status}");
    for (i, n) in cluster.nodes.iter().enumerate() {
        stored(put(&n.url(&format!("{id}/metadata")), metadata_body(blob)).await.status);
        for pair in cluster.pairs_of(i, &id) {
            let p = &blob.pairs[usize::from(pair.0)];
            stored(put(&n.url(&sliver_path(&id, pair, "primary")), p.primary.to_bcs()).await.status);
            stored(put(&n.url(&sliver_path(&id, pair, "secondary")), p.secondary.to_bcs()).await.status);
        }
    }
}

/// A committee holding blob `seed`, registered as a permanent blob until epoch 5.
async fn cluster_with_blob(seed: u8) -> (Cluster, EncodedBlob, BlobId) {
    let mut cluster = Cluster::start().await;
    let b = blob(seed);
    let id = b.metadata.blob_id();
    cluster.register(id, object(1), 5, false);
    upload(&cluster, &b).await;
    (cluster, b, id)
}

/// Checks a signed message's envelope and signature against member `i`'s key; returns the
/// message bytes and the signature.
fn verify_signed(cluster: &Cluster, i: usize, signed: &serde_json::Value) -> (Vec<u8>, BLS12381Signature) {
    let message = STANDARD.decode(signed["serializedMessage"].as_str().unwrap()).unwrap();
    let signature =
        BLS12381Signature::from_bytes(&STANDARD.decode(signed["signature"].as_str().unwrap()).unwrap()).unwrap();
    let key = BLS12381PublicKey::from_bytes(&cluster.committee.members[i].public_key).unwrap();
    key.verify(&message, &signature).expect("the signature verifies against the registered key");
    (message, signature)
}

#[tokio::test]
async fn metadata_is_stored_only_when_registered_and_valid() {
    let mut cluster = Cluster::start().await;
    let b = blob(1);
    let id = b.metadata.blob_id();
    let url = cluster.nodes[0].url(&format!("{id}/metadata"));

    put(&url, metadata_body(&b)).await.assert_error(400, "NOT_REGISTERED");
    put(&format!("{url}?pending=true"), metadata_body(&b)).await.assert_error(400, "CACHE_SATURATED");
    get(&url).await.assert_error(404, "METADATA_NOT_FOUND");
    assert_eq!(get(&format!("{url}/status")).await.data(), "nonexistent");

    cluster.register(id, object(1), 5, false);
    // Another blob's metadata does not hash to this ID.
    put(&url, metadata_body(&blob(2))).await.assert_error(400, "INVALID_METADATA");
    put(&url, vec![1, 2, 3]).await.assert_error(400, "INVALID_METADATA");
    // Valid metadata, but for a committee of another size.
    let other_size = walrus_encoder::encode(N_SHARDS + 1, b"other size").unwrap();
    let other_id = other_size.metadata.blob_id();
    cluster.register(other_id, object(2), 5, false);
    put(&cluster.nodes[0].url(&format!("{other_id}/metadata")), metadata_body(&other_size))
        .await
        .assert_error(400, "INVALID_METADATA");
    let mut raptorq = metadata_body(&b);
    raptorq[1] = 0;
    put(&url, raptorq).await.assert_error(400, "UNSUPPORTED_ENCODING_TYPE");
    let json =
        send(reqwest::Client::new().put(&url).header("content-type", "text/plain").body(metadata_body(&b))).await;
    json.assert_error(400, "INVALID_CONTENT_TYPE");
    assert_eq!(get(&format!("{url}/status")).await.data(), "nonexistent");

    let stored = put(&url, metadata_body(&b)).await;
    assert_eq!((stored.status, stored.data().is_string()), (201, true));
    assert_eq!(put(&url, metadata_body(&b)).await.status, 200);
    let served = get(&url).await;
    assert_eq!(served.status, 200);
    assert_eq!(served.bytes, b.metadata.as_metadata_with_id().to_bcs());
    assert_eq!(get(&format!("{url}/status")).await.data(), "stored");
}

#[tokio::test]
async fn slivers_are_checked_in_order_and_verified() {
    let mut cluster = Cluster::start().await;
    let b = blob(3);
    let id = b.metadata.blob_id();
    let pair = SliverPairIndex(4);
    let (holder, other) = cluster.holder(&id, pair);
    let base = cluster.nodes[holder].url("");
    let at = |path: String| format!("{base}{path}");
    let p = &b.pairs[4];
    let primary = at(sliver_path(&id, pair, "primary"));

    put(&at(sliver_path(&id, SliverPairIndex(N_SHARDS), "primary")), p.primary.to_bcs())
        .await
        .assert_error(400, "INDEX_OUT_OF_RANGE");
    put(&at(sliver_path(&id, SliverPairIndex(5), "primary")), p.primary.to_bcs())
        .await
        .assert_error(400, "SLIVER_INDEX_MISMATCH");
    // Secondary sliver n-1-p belongs to pair p, not to pair n-1-p.
    put(&at(sliver_path(&id, SliverPairIndex(N_SHARDS - 1 - 4), "secondary")), p.secondary.to_bcs())
        .await
        .assert_error(400, "SLIVER_INDEX_MISMATCH");
    put(&primary, p.primary.to_bcs()).await.assert_error(400, "NOT_REGISTERED");
    cluster.register(id, object(1), 5, false);
    put(&primary, p.primary.to_bcs()).await.assert_error(400, "METADATA_NOT_FOUND");
    for n in &cluster.nodes {
        assert_eq!(put(&n.url(&format!("{id}/metadata")), metadata_body(&b)).await.status, 201);
    }
    put(&cluster.nodes[other].url(&sliver_path(&id, pair, "primary")), p.primary.to_bcs())
        .await
        .assert_error(400, "SHARD_NOT_ASSIGNED");
    let mut corrupt = p.primary.to_bcs();
    corrupt[3] ^= 1;
    put(&primary, corrupt).await.assert_error(400, "INVALID_SLIVER");
    put(&primary, vec![0xff; 3]).await.assert_error(400, "INVALID_SLIVER");
    assert_eq!(get(&format!("{primary}/status")).await.data(), "nonexistent");
    get(&primary).await.assert_error(404, "SLIVER_NOT_FOUND");

    assert_eq!(put(&primary, p.primary.to_bcs()).await.status, 201);
    assert_eq!(put(&primary, p.primary.to_bcs()).await.status, 200);
    assert_eq!(get(&primary).await.bytes, p.primary.to_bcs());
    assert_eq!(get(&format!("{primary}/status")).await.data(), "stored");
    get(&cluster.nodes[other].url(&sliver_path(&id, pair, "primary"))).await.assert_error(400, "SHARD_NOT_ASSIGNED");
    let secondary = at(sliver_path(&id, pair, "secondary"));
    assert_eq!(put(&secondary, p.secondary.to_bcs()).await.status, 201);
    assert_eq!(get(&secondary).await.bytes, p.secondary.to_bcs());
}

#[tokio::test]
async fn bad_paths_and_oversize_bodies_are_refused() {
    let cluster = Cluster::start().await;
    let node = &cluster.nodes[0];
    let id = blob(4).metadata.blob_id();
    for path in [
        "abc/metadata".to_owned(),
        format!("{id}/slivers/1/tertiary"),
        format!("{id}/slivers/x/primary"),
        format!("{id}/confirmation/deletable/0x12"),
    ] {
        let answer = get(&node.url(&path)).await;
        assert_eq!(answer.status, 400, "{path}");
    }
    // n = 10: 7 secondary source symbols of at most 65534 bytes, plus 128.
    let limit = 7 * 65534 + 128;
    let answer = put(&node.url(&sliver_path(&id, SliverPairIndex(0), "primary")), vec![0; limit + 1]).await;
    assert_eq!(answer.status, 413);
    let answer = put(&node.url(&sliver_path(&id, SliverPairIndex(0), "primary")), vec![0; limit]).await;
    answer.assert_error(400, "INVALID_SLIVER");
    assert_eq!(put(&node.url(&format!("{id}/metadata")), vec![0; 2_000_001]).await.status, 413);
}

#[tokio::test]
async fn confirmations_need_every_own_pair_and_aggregate_into_a_certificate() {
    let mut cluster = Cluster::start().await;
    let b = blob(5);
    let id = b.metadata.blob_id();
    cluster.register(id, object(1), 5, false);
    let confirm = |i: usize| cluster.nodes[i].url(&format!("{id}/confirmation/permanent"));
    get(&confirm(0)).await.assert_error(400, "MISSING_SLIVERS");
    // All but one secondary sliver on node 0.
    let n0 = &cluster.nodes[0];
    assert_eq!(put(&n0.url(&format!("{id}/metadata")), metadata_body(&b)).await.status, 201);
    let pairs = cluster.pairs_of(0, &id);
    for (k, pair) in pairs.iter().enumerate() {
        let p = &b.pairs[usize::from(pair.0)];
        put(&n0.url(&sliver_path(&id, *pair, "primary")), p.primary.to_bcs()).await;
        if k > 0 {
            put(&n0.url(&sliver_path(&id, *pair, "secondary")), p.secondary.to_bcs()).await;
        }
    }
    get(&confirm(0)).await.assert_error(400, "MISSING_SLIVERS");

    upload(&cluster, &b).await;
    let expected = walrus_conformance::blob_certification_message(EPOCH, &id.0, None);
    let mut signatures = Vec::new();
    for i in 0..3 {
        let answer = get(&confirm(i)).await;
        assert_eq!(answer.status, 200);
        let (message, signature) = verify_signed(&cluster, i, &answer.data()["signed"]);
        assert_eq!(message, expected);
        signatures.push(signature);
    }
    // Nodes 0, 1, 2 hold 3 + 3 + 2 of 10 shards: a quorum as the contract checks it.
    let model = model(&cluster.committee);
    let bitmap = walrus_conformance::signers_bitmap(4, &[0, 1, 2]);
    assert_eq!(bitmap, vec![0b0111]);
    let non_signers = walrus_conformance::non_signers(4, &bitmap).unwrap();
    assert_eq!(non_signers, vec![3]);
    let signers: Vec<usize> = vec![0, 1, 2];
    assert!(model.is_quorum(model.weight_of(&signers)));
    assert!(!model.is_quorum(model.weight_of(&signers[..2])), "3 + 3 of 10 shards is no quorum");
    let aggregate = BLS12381AggregateSignature::aggregate(&signatures).unwrap();
    let key = model.aggregate_key(&non_signers);
    let aggregate = BLS12381Signature::from_bytes(aggregate.as_bytes()).unwrap();
    key.verify(&expected, &aggregate).expect("the certificate verifies as the contract checks it");
}

#[tokio::test]
async fn deletable_confirmations_name_their_object_and_can_wait_for_it() {
    let (mut cluster, _, id) = cluster_with_blob(6).await;
    let url = cluster.nodes[1].url(&format!("{id}/confirmation/deletable/{}", object(2)));
    get(&url).await.assert_error(400, "NOT_REGISTERED");

    let waiting = tokio::spawn({
        let url = format!("{url}?wait_for_registration=true&wait_millis=4000");
        async move { get(&url).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    cluster.register(id, object(2), 5, true);
    let answer = waiting.await.unwrap();
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.bytes));
    let (message, _) = verify_signed(&cluster, 1, &answer.data()["signed"]);
    assert_eq!(message, walrus_conformance::blob_certification_message(EPOCH, &id.0, Some(&object(2).0)));
    // A permanent object is no deletable one.
    get(&cluster.nodes[1].url(&format!("{id}/confirmation/deletable/{}", object(1))))
        .await
        .assert_error(400, "NOT_REGISTERED");
}

#[tokio::test]
async fn data_goes_when_no_live_object_keeps_it() {
    let mut cluster = Cluster::start().await;
    let (deleted, expiring, invalid, kept) = (blob(7), blob(8), blob(9), blob(10));
    cluster.register(deleted.metadata.blob_id(), object(1), 5, true);
    cluster.register(expiring.metadata.blob_id(), object(2), 2, false);
    cluster.register(invalid.metadata.blob_id(), object(3), 5, false);
    cluster.register(kept.metadata.blob_id(), object(4), 5, true);
    cluster.register(kept.metadata.blob_id(), object(5), 3, false);
    for b in [&deleted, &expiring, &invalid, &kept] {
        upload(&cluster, b).await;
    }
    let holds =
        |c: &Cluster, b: &EncodedBlob| c.nodes.iter().any(|n| n.node.holds_data(&b.metadata.blob_id()).unwrap());
    assert!([&deleted, &expiring, &invalid, &kept].iter().all(|b| holds(&cluster, b)));

    cluster.apply(vec![
        ChainUpdate::BlobDeleted { blob_id: deleted.metadata.blob_id(), object_id: object(1) },
        ChainUpdate::BlobIdInvalidated { blob_id: invalid.metadata.blob_id(), event: event(9) },
        ChainUpdate::BlobDeleted { blob_id: kept.metadata.blob_id(), object_id: object(4) },
    ]);
    assert!(!holds(&cluster, &deleted) && !holds(&cluster, &invalid));
    assert!(holds(&cluster, &expiring) && holds(&cluster, &kept));
    let status = get(&cluster.nodes[0].url(&format!("{}/status", invalid.metadata.blob_id()))).await.data();
    assert_eq!(status["invalid"]["event"]["eventSeq"], "9");
    put(&cluster.nodes[0].url(&format!("{}/metadata", invalid.metadata.blob_id())), metadata_body(&invalid))
        .await
        .assert_error(400, "INVALID_BLOB");

    let mut next = cluster.committee.clone();
    next.epoch = 2;
    cluster.apply(vec![ChainUpdate::EpochStarted(next)]);
    assert!(!holds(&cluster, &expiring) && holds(&cluster, &kept));
    get(&cluster.nodes[0].url(&format!("{}/metadata", expiring.metadata.blob_id())))
        .await
        .assert_error(404, "METADATA_NOT_FOUND");
    let status = get(&cluster.nodes[0].url(&format!("{}/status", kept.metadata.blob_id()))).await.data();
    assert_eq!(status["permanent"]["endEpoch"], 3);
    assert_eq!(
        get(&cluster.nodes[0].url(&format!("{}/status", deleted.metadata.blob_id()))).await.data(),
        "nonexistent"
    );
}

#[tokio::test]
async fn a_restarted_node_keeps_what_it_acknowledged_and_its_watermark() {
    let (mut cluster, b, id) = cluster_with_blob(11).await;
    let node = cluster.nodes.remove(2);
    let dir = node.stop().await;
    let node = TestNode::start(2, dir).await;
    assert!(!node.node.apply(2, &[]).unwrap(), "checkpoint 2 was applied before the restart");
    assert_eq!(*node.node.committee(), cluster.committee);
    assert_eq!(get(&node.url(&format!("{id}/metadata"))).await.bytes, b.metadata.as_metadata_with_id().to_bcs());
    for pair in cluster.pairs_of(2, &id) {
        let answer = get(&node.url(&sliver_path(&id, pair, "secondary"))).await;
        assert_eq!(answer.bytes, b.pairs[usize::from(pair.0)].secondary.to_bcs());
    }
    let health = get(&format!("http://{}/v1/health", node.addr)).await.data();
    assert_eq!(health["latestCheckpointSequenceNumber"], 2);
    assert_eq!(health["epoch"], EPOCH);
    assert_eq!(health["shardSummary"]["owned"], 2);
    assert_eq!(health["publicKey"], STANDARD.encode(node.node.public_key()));
}

#[tokio::test]
async fn recovery_symbols_rebuild_a_lost_sliver() {
    let (cluster, b, id) = cluster_with_blob(12).await;
    let target = SliverIndex::<Primary>::new(6);
    let (holder, _) = cluster.holder(&id, SliverPairIndex(6));
    let mut symbols = Vec::new();
    for (i, n) in cluster.nodes.iter().enumerate() {
        if i == holder {
            continue;
        }
        let answer = get(&n.url(&format!("{id}/recoverySymbols?targetSliver=6&targetType=primary"))).await;
        assert_eq!(answer.status, 200);
        let general: Vec<GeneralRecoverySymbol> = bcs::from_bytes(&answer.bytes).unwrap();
        assert_eq!(general.len(), SHARDS[i].len());
        for symbol in general {
            let (t, symbol) = symbol.for_axis::<Primary>().expect("symbols for a primary sliver");
            assert_eq!(t, target);
            symbol.verify(&b.metadata, target).unwrap();
            symbols.push(symbol);
        }
    }
    let rebuilt = walrus_encoder::recover_sliver(&b.metadata, target, &symbols).unwrap();
    assert_eq!(rebuilt, b.pairs[6].primary);

    // By symbol ID, proven against either axis.
    let pair = SliverPairIndex(1);
    let (holder, _) = cluster.holder(&id, pair);
    let s = pair.secondary(N_SHARDS).get();
    let url = cluster.nodes[holder].url(&format!("{id}/recoverySymbols?id=1-{s}&id=1-{s}&proofAxis=secondary"));
    let general: Vec<GeneralRecoverySymbol> = bcs::from_bytes(&get(&url).await.bytes).unwrap();
    assert_eq!(general.len(), 2);
    let (t, symbol) = general[0].clone().for_axis::<Primary>().unwrap();
    symbol.verify(&b.metadata, t).unwrap();
    let node = &cluster.nodes[holder];
    get(&node.url(&format!("{id}/recoverySymbols"))).await.assert_error(400, "NO_SYMBOLS_SPECIFIED");
    get(&node.url(&format!("{id}/recoverySymbols?id=1"))).await.assert_error(400, "INVALID_FILTER");
    get(&node.url(&format!("{id}/recoverySymbols?id=1-10"))).await.assert_error(400, "RECOVERY_SYMBOL_OUT_OF_RANGE");

    // Decoding symbols: the same data without proofs, keyed by target.
    let answer =
        get(&node.url(&format!("{id}/decodingSymbols?targetSlivers=3&targetSlivers=4&targetType=secondary"))).await;
    assert_eq!(answer.status, 200);
    let map: std::collections::BTreeMap<u16, Vec<(u8, u16, Vec<u8>)>> = bcs::from_bytes(&answer.bytes).unwrap();
    assert_eq!(map.keys().copied().collect::<Vec<_>>(), vec![3, 4]);
    let layout = b.metadata.layout();
    for (source, (variant, index, data)) in cluster.pairs_of(holder, &id).iter().zip(&map[&3]) {
        let primary = &b.pairs[usize::from(source.0)].primary;
        let expected = primary.recovery_symbol(SliverIndex::<Secondary>::new(3), &layout).unwrap();
        assert_eq!((*variant, *index, data.as_slice()), (1, primary.index().get(), expected.data()));
    }
    get(&node.url(&format!("{id}/decodingSymbols?targetType=primary")))
        .await
        .assert_error(400, "NO_TARGET_SLIVERS_SPECIFIED");
}

/// Metadata that commits to a primary sliver the secondary slivers do not decode to.
fn inconsistent_blob() -> (EncodedBlob, walrus_encoder::VerifiedMetadata) {
    let b = blob(13);
    let layout = b.metadata.layout();
    let mut bytes = b.pairs[2].primary.to_bcs();
    bytes[5] ^= 0xff;
    let forged = Sliver::<Primary>::from_bcs(&bytes).unwrap();
    let BlobMetadata::V1(mut v1) = b.metadata.metadata().clone();
    v1.hashes[2].primary_hash = forged.compute_hash(&layout).unwrap();
    let metadata = BlobMetadata::V1(v1);
    let with_id = walrus_encoder::BlobMetadataWithId { blob_id: metadata.compute_blob_id(), metadata };
    (b, with_id.verify().unwrap())
}

#[tokio::test]
async fn inconsistency_proofs_are_checked_and_attested() {
    let mut cluster = Cluster::start().await;
    let (b, forged) = inconsistent_blob();
    let id = forged.blob_id();
    cluster.register(id, object(1), 5, false);
    let node = &cluster.nodes[3];
    let url = node.url(&format!("{id}/inconsistencyProof/primary"));
    let target = SliverIndex::<Primary>::new(2);
    let symbols: Vec<_> =
        b.pairs.iter().map(|p| p.secondary.recovery_symbol(target, &forged.layout()).unwrap()).collect();
    let proof = match walrus_encoder::recover_sliver(&forged, target, &symbols) {
        Err(walrus_encoder::RecoveryError::Inconsistent(proof)) => proof,
        other => panic!("expected an inconsistency, got {other:?}"),
    };
    post(&url, bcs::to_bytes(&proof).unwrap()).await.assert_error(400, "METADATA_NOT_FOUND");
    assert_eq!(put(&node.url(&format!("{id}/metadata")), bcs::to_bytes(forged.metadata()).unwrap()).await.status, 201);
    post(&url, vec![1, 2]).await.assert_error(400, "INVALID_PROOF");
    // The consistent target proves nothing.
    let honest = walrus_encoder::InconsistencyProof::<Primary> {
        target_index: 3,
        recovery_symbols: b
            .pairs
            .iter()
            .map(|p| p.secondary.recovery_symbol(SliverIndex::new(3), &forged.layout()).unwrap())
            .collect(),
    };
    post(&url, bcs::to_bytes(&honest).unwrap()).await.assert_error(400, "INVALID_PROOF");

    let answer = post(&url, bcs::to_bytes(&proof).unwrap()).await;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.bytes));
    let (message, _) = verify_signed(&cluster, 3, &answer.data());
    assert_eq!(message, walrus_conformance::invalid_blob_id_message(EPOCH, &id.0));
}

#[tokio::test]
async fn health_openapi_metrics_and_cors() {
    let cluster = Cluster::start().await;
    let node = &cluster.nodes[1];
    let base = format!("http://{}", node.addr);
    let health = get(&format!("{base}/v1/health?detailed=true")).await.data();
    assert_eq!(health["nodeStatus"], "Active");
    assert_eq!(health["shardDetail"]["owned"].as_array().unwrap().len(), 3);
    assert_eq!(health["eventProgress"]["persisted"], 1);
    let openapi = get(&format!("{base}/v1/openapi.json")).await.json();
    assert!(openapi["paths"]["/v1/blobs/{blob_id}/slivers/{pair}/{axis}"]["put"].is_object());
    let answer =
        send(reqwest::Client::new().get(format!("{base}/v1/health")).header("origin", "https://example.org")).await;
    assert_eq!(answer.status, 200);
    let response = reqwest::Client::new()
        .get(format!("{base}/v1/health"))
        .header("origin", "https://a.example")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_some());
    let metrics = String::from_utf8(get(&format!("http://{}/metrics", node.addr)).await.bytes).unwrap();
    assert!(metrics.contains("http_requests_total"), "{metrics}");
}

#[tokio::test]
async fn a_node_missing_its_slivers_syncs_them_after_certification() {
    let mut cluster = Cluster::start().await;
    let b = blob(14);
    let id = b.metadata.blob_id();
    cluster.register(id, object(1), 5, false);
    let missing = cluster.nodes.pop().unwrap();
    upload(&cluster, &b).await;
    cluster.nodes.push(missing);
    let node = &cluster.nodes[3];
    assert!(!node.node.holds_data(&id).unwrap());
    let confirm = node.url(&format!("{id}/confirmation/permanent"));
    get(&confirm).await.assert_error(400, "MISSING_SLIVERS");

    cluster.apply(vec![ChainUpdate::BlobCertified {
        blob_id: id,
        object_id: object(1),
        end_epoch: 5,
        deletable: false,
        event: event(2),
    }]);
    let node = &cluster.nodes[3];
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while get(&confirm).await.status != 200 {
        assert!(std::time::Instant::now() < deadline, "node 3 did not sync its slivers");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for pair in cluster.pairs_of(3, &id) {
        let p = &b.pairs[usize::from(pair.0)];
        assert_eq!(get(&node.url(&sliver_path(&id, pair, "primary"))).await.bytes, p.primary.to_bcs());
        assert_eq!(get(&node.url(&sliver_path(&id, pair, "secondary"))).await.bytes, p.secondary.to_bcs());
    }
    let metrics = String::from_utf8(get(&format!("http://{}/metrics", node.addr)).await.bytes).unwrap();
    assert!(metrics.contains("blob_sync_slivers_recovered_total 4"), "{metrics}");
    let status = get(&node.url(&format!("{id}/status"))).await.data();
    assert_eq!(status["permanent"]["isCertified"], true);
    assert_eq!(status["permanent"]["initialCertifiedEpoch"], EPOCH);
}

/// A member that corrupts the decoding symbols it serves (and passes every other request to
/// the real node behind it) does not stop blob sync: rebuilt slivers that miss their hash are
/// rebuilt again from proven recovery symbols.
#[tokio::test]
async fn sync_gets_past_a_member_serving_wrong_decoding_symbols() {
    let mut cluster = Cluster::start().await;
    let real = cluster.nodes[0].addr;
    let liar = axum::Router::new().fallback(move |uri: axum::http::Uri| async move {
        let answer = reqwest::get(format!("http://{real}{uri}")).await.unwrap();
        let status = answer.status().as_u16();
        let mut bytes = answer.bytes().await.unwrap().to_vec();
        if uri.path().ends_with("/decodingSymbols") && status == 200 {
            // The answer ends with the data of its last symbol.
            *bytes.last_mut().unwrap() ^= 0xff;
        }
        (axum::http::StatusCode::from_u16(status).unwrap(), bytes)
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let liar_addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, liar).await.unwrap() });
    let mut committee = cluster.committee.clone();
    committee.members[0].network_address = liar_addr.to_string();
    cluster.apply(vec![ChainUpdate::EpochStarted(committee)]);

    let b = blob(15);
    let id = b.metadata.blob_id();
    cluster.register(id, object(1), 5, false);
    let missing = cluster.nodes.pop().unwrap();
    upload(&cluster, &b).await;
    cluster.nodes.push(missing);
    // The liar's answers really are wrong.
    let query = format!("{id}/decodingSymbols?targetSlivers=0&targetSlivers=1&targetType=primary");
    let honest = get(&cluster.nodes[0].url(&query)).await.bytes;
    let lied = get(&format!("http://{liar_addr}/v1/blobs/{query}")).await.bytes;
    assert_eq!(honest.len(), lied.len());
    assert_ne!(honest, lied);

    cluster.apply(vec![ChainUpdate::BlobCertified {
        blob_id: id,
        object_id: object(1),
        end_epoch: 5,
        deletable: false,
        event: event(2),
    }]);
    let node = &cluster.nodes[3];
    let confirm = node.url(&format!("{id}/confirmation/permanent"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while get(&confirm).await.status != 200 {
        assert!(std::time::Instant::now() < deadline, "node 3 did not sync its slivers");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for pair in cluster.pairs_of(3, &id) {
        let p = &b.pairs[usize::from(pair.0)];
        assert_eq!(get(&node.url(&sliver_path(&id, pair, "primary"))).await.bytes, p.primary.to_bcs());
        assert_eq!(get(&node.url(&sliver_path(&id, pair, "secondary"))).await.bytes, p.secondary.to_bcs());
    }
}
