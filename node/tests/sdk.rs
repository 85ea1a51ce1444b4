//! The official TypeScript SDK (npm `@mysten/walrus`, pinned in scripts/package.json) against
//! a committee of our nodes. `scripts/sdk-storage-node.mjs` runs the SDK's own write and read
//! flows (`WalrusClient` on an in-memory chain that describes this committee, see
//! `scripts/sdk-committee.mjs`: encode, store on every member, collect and aggregate
//! confirmations, verified blob status, `readBlob`) and drives each node with the SDK's
//! `StorageNodeClient` directly: every answer is checked as the SDK reads it (success
//! envelopes, statuses, BCS bodies, error envelopes mapped to the SDK's error classes). This
//! test feeds the nodes the chain events between the script's phases and checks the SDK's
//! certificates as the Move contract would. A second test checks what browsers add around the
//! SDK's requests (CORS).
//!
//! Needs Node.js >= 20 and `npm ci --prefix scripts` (scripts/test-all.sh runs it first);
//! without them the test fails, it never skips.

#[allow(dead_code)] // shared with the API tests, which use all of it
mod common;

use std::path::PathBuf;
use std::process::Command;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use common::*;
use fastcrypto::bls12381::min_pk::BLS12381Signature;
use fastcrypto::encoding::{Base58, Encoding};
use fastcrypto::traits::{ToFromBytes, VerifyingKey};
use serde_json::{json, Value};
use walrus_encoder::BlobId;
use walrus_node::ChainUpdate;

/// The end epoch of the permanent object the blob is registered with.
const END_EPOCH: u32 = 5;
/// Members the SDK writes to; the last one is left out and gets its slivers by blob sync.
const WRITE_TO: [usize; 3] = [0, 1, 2];

/// Runs one phase of the script and returns the JSON it prints.
async fn run_script(phase: &'static str, config: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/sdk-storage-node.mjs");
    let config = config.to_string();
    // The nodes serve on this runtime: wait for the script off its workers.
    let out = tokio::task::spawn_blocking(move || Command::new("node").arg(&script).arg(phase).arg(config).output())
        .await
        .unwrap()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): this test needs Node.js >= 20 on PATH"));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "`node scripts/sdk-storage-node.mjs {phase}` failed ({}); run `npm ci --prefix scripts` if the SDK is \
         missing:\n{stderr}",
        out.status
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout.lines().last().unwrap_or_else(|| panic!("{phase} printed nothing; stderr: {stderr}"));
    serde_json::from_str(line).unwrap_or_else(|e| panic!("{phase} printed {line:?}, not JSON: {e}"))
}

/// Checks a certificate the SDK aggregated as the Move contract does: the exact message, the
/// signers' weight against the quorum and the signature under the signers' aggregate key.
fn check_certificate(cluster: &Cluster, certificate: &Value, expected_message: &[u8], signers: &[usize]) {
    let got: Vec<usize> = serde_json::from_value(certificate["signers"].clone()).unwrap();
    assert_eq!(got, signers);
    let message = STANDARD.decode(certificate["message"].as_str().unwrap()).unwrap();
    assert_eq!(message, expected_message, "the message the SDK aggregated");
    let signature = STANDARD.decode(certificate["signature"].as_str().unwrap()).unwrap();
    let signature = BLS12381Signature::from_bytes(&signature).expect("a 96-byte BLS signature");
    let members = cluster.committee.members.len();
    let model = model(&cluster.committee);
    let bitmap = walrus_conformance::signers_bitmap(members, signers);
    let non_signers = walrus_conformance::non_signers(members, &bitmap).unwrap();
    assert!(model.is_quorum(model.weight_of(signers)), "signers {signers:?} are no quorum");
    model.aggregate_key(&non_signers).verify(&message, &signature).expect("the SDK's certificate verifies on chain");
}

/// A status event as the SDK parses it (the test's events all share one transaction digest).
fn status_event(seq: u64) -> Value {
    let digest = event(seq).tx_digest;
    json!({"txDigest": <Base58 as Encoding>::encode(digest), "eventSeq": seq.to_string()})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_typescript_sdk_stores_and_reads_a_blob_on_our_nodes() {
    let mut cluster = Cluster::start().await;
    let permanent = object(1);
    let deletable = object(2);
    let mut config = json!({
        "nShards": N_SHARDS,
        "epoch": EPOCH,
        "size": 20_000,
        "seed": 11,
        "deletableObjectId": deletable.to_string(),
        "unknownObjectId": object(3).to_string(),
        "writeTo": WRITE_TO,
        "nodes": cluster.committee.members.iter().map(|m| json!({
            // As the SDK makes a member's URL with `storageNodeUrlScheme: 'http'`.
            "url": format!("http://{}", m.network_address),
            "nodeId": m.node_id.to_string(),
            "publicKey": hex::encode(&m.public_key),
            "shards": m.shards,
        })).collect::<Vec<_>>(),
    });

    let encoded = run_script("encode", &config).await;
    let blob_id: BlobId = encoded["blobId"].as_str().unwrap().parse().expect("the SDK's blob ID parses");
    cluster.register(blob_id, deletable, END_EPOCH - 1, true);
    let counts = |certified: u32| json!({"count_deletable_total": 1, "count_deletable_certified": certified});
    config["expectStatus"] = json!({"type": "deletable", "initialCertifiedEpoch": null, "deletableCounts": counts(0)});
    run_script("status", &config).await;

    cluster.register(blob_id, permanent, END_EPOCH, false);
    config["expectStatus"] = json!({
        "type": "permanent",
        "endEpoch": END_EPOCH,
        "isCertified": false,
        "statusEvent": status_event(1),
        "deletableCounts": counts(0),
        "initialCertifiedEpoch": null,
    });
    run_script("status", &config).await;
    let written = run_script("write", &config).await;
    assert_eq!(written["blobId"], encoded["blobId"]);
    let message = walrus_conformance::blob_certification_message(EPOCH, &blob_id.0, None);
    check_certificate(&cluster, &written["permanent"], &message, &WRITE_TO);
    let message = walrus_conformance::blob_certification_message(EPOCH, &blob_id.0, Some(&deletable.0));
    check_certificate(&cluster, &written["deletable"], &message, &WRITE_TO);
    assert!(!cluster.nodes[3].node.holds_data(&blob_id).unwrap(), "the SDK wrote to the left-out node");

    cluster.apply(vec![ChainUpdate::BlobCertified {
        blob_id,
        object_id: permanent,
        end_epoch: END_EPOCH,
        deletable: false,
        event: event(2),
    }]);
    config["expectStatus"] = json!({
        "type": "permanent",
        "endEpoch": END_EPOCH,
        "isCertified": true,
        "statusEvent": status_event(2),
        "deletableCounts": counts(0),
        "initialCertifiedEpoch": EPOCH,
    });
    let read = run_script("read", &config).await;
    assert_eq!(read["slivers"], N_SHARDS, "primary slivers read back");
    let message = walrus_conformance::blob_certification_message(EPOCH, &blob_id.0, None);
    check_certificate(&cluster, &read["permanent"], &message, &[0, 1, 2, 3]);

    cluster.apply(vec![ChainUpdate::BlobIdInvalidated { blob_id, event: event(3) }]);
    config["expectStatus"] = json!({"type": "invalid", "event": status_event(3)});
    run_script("invalid", &config).await;
    for node in &cluster.nodes {
        assert!(!node.node.holds_data(&blob_id).unwrap(), "data of an invalid blob ID is kept");
    }
}

/// In a browser, the SDK's PUTs (a non-simple content type) are preceded by a CORS preflight,
/// and its reads need the answer's origin header; a node that refuses either is unusable
/// from a web page whatever its API.
#[tokio::test]
async fn browsers_may_send_what_the_sdk_sends() {
    let cluster = Cluster::start().await;
    let origin = "https://dapp.example";
    let id = BlobId([9; 32]);
    let http = reqwest::Client::new();
    for (method, path) in [("PUT", format!("{id}/metadata")), ("PUT", format!("{id}/slivers/0/primary"))] {
        let response = http
            .request(reqwest::Method::OPTIONS, cluster.nodes[0].url(&path))
            .header("origin", origin)
            .header("access-control-request-method", method)
            .header("access-control-request-headers", "content-type")
            .send()
            .await
            .unwrap();
        assert!(response.status().is_success(), "preflight of {method} {path}: {}", response.status());
        let header = |name: &str| {
            response.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default().to_ascii_lowercase()
        };
        assert!(["*", origin].contains(&header("access-control-allow-origin").as_str()), "{path}");
        assert!(header("access-control-allow-methods").contains("put"), "{path}");
        assert!(header("access-control-allow-headers").contains("content-type"), "{path}");
    }
    let response =
        http.get(cluster.nodes[0].url(&format!("{id}/status"))).header("origin", origin).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let allowed = response.headers().get("access-control-allow-origin").expect("an origin header on answers");
    assert!(["*", origin].contains(&allowed.to_str().unwrap()));
}
