//! Every event type of the package, ingested, with its effect on the stored state checked
//! through the API: blob lifetimes at the exact boundary epoch, a node's whole life (stake in
//! and out, updates with new keys, commission, deregistration), and the events that change no
//! state but must be kept and decoded.

mod common;

use common::*;
use serde_json::{json, Value};
use sqlx::PgPool;
use walrus_chain::events::*;

fn certified(object: u8, blob: u8, end_epoch: u32) -> BlobCertified {
    BlobCertified {
        epoch: 1,
        blob_id: blob_id(blob),
        end_epoch,
        deletable: false,
        object_id: address(object),
        is_extension: false,
    }
}

fn statuses(page: &Value) -> Vec<(String, String)> {
    page["blobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| (b["object_id"].as_str().unwrap().to_owned(), b["status"].as_str().unwrap().to_owned()))
        .collect()
}

/// Each status filter lists exactly the objects that the unfiltered page shows with that status:
/// the filter reads the stored status (kept by the writer), the page computes it.
async fn assert_status_filters_agree(base: &str) {
    let all = statuses(&get(base, "/v1/blobs").await.1);
    for status in ["registered", "certified", "deleted", "invalid", "expired"] {
        let expected: Vec<_> = all.iter().filter(|(_, s)| s == status).cloned().collect();
        assert_eq!(statuses(&get(base, &format!("/v1/blobs?status={status}")).await.1), expected, "{status}");
    }
}

/// Mutations it catches: `end_epoch <= epoch` turned into `<` in the status (a blob whose end
/// epoch has just started would show as certified), `end_epoch > epoch` turned into `>=` in
/// `/v1/stats`, and a `BlobBurned` that does not delete (`burned = true` dropped).
#[sqlx::test(migrations = "../migrations")]
async fn a_blob_expires_exactly_when_its_end_epoch_starts(pool: PgPool) {
    let dir = folder_of(&[
        checkpoint(0, vec![vec![ours(&EpochChangeStart { epoch: 1 })]]),
        checkpoint(
            1,
            vec![vec![
                ours(&registered(0xA, 1, 100, false, 2)),
                ours(&certified(0xA, 1, 2)),
                ours(&registered(0xB, 2, 200, false, 3)),
                ours(&certified(0xB, 2, 3)),
                // Never certified: expires too.
                ours(&registered(0xC, 3, 300, false, 2)),
                ours(&registered(0xD, 4, 400, false, 5)),
                ours(&certified(0xD, 4, 5)),
                ours(&BlobBurned { blob_id: blob_id(4), object_id: address(0xD), end_epoch: 5, was_certified: true }),
            ]],
        ),
        checkpoint(2, vec![vec![ours(&EpochChangeStart { epoch: 2 })]]),
    ]);
    let base = serve(&pool).await;
    let (a, b, c, d) =
        (address(0xA).to_string(), address(0xB).to_string(), address(0xC).to_string(), address(0xD).to_string());

    // In epoch 1, a blob ending with epoch 2 is live.
    ingest_folder(&pool, dir.path(), 1, 10).await;
    let (_, page) = get(&base, "/v1/blobs").await;
    assert_eq!(
        statuses(&page),
        vec![
            (a.clone(), "certified".into()),
            (b.clone(), "certified".into()),
            (c.clone(), "registered".into()),
            (d.clone(), "deleted".into()),
        ]
    );
    assert_status_filters_agree(&base).await;
    let (_, stats) = get(&base, "/v1/stats").await;
    assert_eq!(stats["stored"], json!({ "blobs": 3, "bytes": 600 }));
    assert_eq!(stats["certified"], json!({ "blobs": 2, "bytes": 300 }));

    // Epoch 2 starts: end epoch 2 means not stored in epoch 2.
    ingest_folder(&pool, dir.path(), 2, 10).await;
    let (_, page) = get(&base, "/v1/blobs").await;
    assert_eq!(
        statuses(&page),
        vec![
            (a.clone(), "expired".into()),
            (b.clone(), "certified".into()),
            (c.clone(), "expired".into()),
            (d.clone(), "deleted".into()),
        ]
    );
    assert_eq!(get(&base, &format!("/v1/blobs/{}", blob_id(1))).await.1["status"], "expired");
    assert_eq!(get(&base, &format!("/v1/blobs/{}", blob_id(2))).await.1["status"], "certified");
    assert_eq!(statuses(&get(&base, "/v1/blobs?status=expired").await.1).len(), 2);
    assert_status_filters_agree(&base).await;
    let (_, stats) = get(&base, "/v1/stats").await;
    assert_eq!(stats["stored"], json!({ "blobs": 1, "bytes": 200 }));
    assert_eq!(stats["certified"], json!({ "blobs": 1, "bytes": 200 }));
    assert_totals_match_the_blobs(&pool).await;
    let (burned,): (bool,) = sqlx::query_as("SELECT burned FROM blobs WHERE object_id = $1")
        .bind(address(0xD).as_bytes().to_vec())
        .fetch_one(&pool)
        .await
        .unwrap();
    assert!(burned);
}

fn registration(node: u8, name: &str, key: u8) -> NodeRegistered {
    NodeRegistered {
        epoch: 0,
        node_id: address(node),
        name: name.into(),
        network_address: format!("{name}:1"),
        public_key: vec![key; 96],
        network_public_key: vec![key; 32],
        commission_rate: 100,
    }
}

/// A node's life in events: two registrations, deposits, a withdrawal requested then done,
/// commission collected twice, an update with new keys, a deregistration; and the events that
/// change no table.
fn node_history() -> Vec<sui_rpc::proto::sui::rpc::v2::Checkpoint> {
    let (n1, n2) = (address(0x51), address(0x52));
    let stake = |node, amount| StakeDeposited {
        epoch: 0,
        node_id: node,
        staked_wal_id: address(0x60),
        amount,
        activation_epoch: 1,
    };
    vec![
        checkpoint(0, vec![]),
        checkpoint(
            1,
            vec![vec![
                ours(&registration(0x51, "one", 0x11)),
                ours(&registration(0x52, "two", 0x22)),
                ours(&stake(n1, 5 * WAL)),
                ours(&stake(n1, 3 * WAL)),
                ours(&stake(n2, 7 * WAL)),
                ours(&EpochParametersSelected { next_epoch: 1 }),
                ours(&CommitteeSelected { epoch: 1, node_ids: vec![n1, n2], shards: vec![vec![0, 2], vec![1]] }),
                ours(&EpochChangeStart { epoch: 1 }),
            ]],
        ),
        checkpoint(
            2,
            vec![
                vec![ours(&WithdrawalRequested {
                    epoch: 1,
                    node_id: n1,
                    staked_wal_id: address(0x61),
                    amount: 2 * WAL,
                    withdraw_epoch: 2,
                })],
                vec![
                    ours(&ShardsReceived { epoch: 1, shards: vec![0, 2] }),
                    ours(&EpochChangeSyncTimedOut { epoch: 1, weight: 3 }),
                    ours(&EpochChangeDone { epoch: 1 }),
                ],
            ],
        ),
        checkpoint(
            3,
            vec![vec![
                // The amount paid out includes rewards; the principal leaves the stake.
                ours(&StakeWithdrawn {
                    epoch: 2,
                    node_id: n1,
                    staked_wal_id: address(0x61),
                    principal: 2 * WAL,
                    amount: 2 * WAL + 10,
                }),
                ours(&CommissionCollected { epoch: 2, node_id: n1, amount: 40 }),
                ours(&CommissionCollected { epoch: 2, node_id: n1, amount: 2 }),
            ]],
        ),
        checkpoint(
            4,
            vec![vec![
                ours(&NodeUpdated {
                    epoch: 2,
                    node_id: n1,
                    name: "uno".into(),
                    network_address: "uno:2".into(),
                    public_key: vec![0x33; 96],
                    network_public_key: vec![0x44; 32],
                    storage_price_vote: 11,
                    write_price_vote: 12,
                    node_capacity_vote: 13,
                    commission_rate: 250,
                }),
                ours(&NodeDeregistered { epoch: 2, node_id: n2 }),
                ours(&EpochParametersSelected { next_epoch: 2 }),
            ]],
        ),
        checkpoint(
            5,
            vec![vec![
                ours(&StoragePoolCreated {
                    epoch: 2,
                    storage_pool_id: address(0x70),
                    reserved_encoded_capacity_bytes: 1 << 20,
                    start_epoch: 2,
                    end_epoch: 4,
                }),
                ours(&PooledBlobRegistered {
                    epoch: 2,
                    blob_id: blob_id(7),
                    unencoded_size: 10,
                    encoding_type: 1,
                    deletable: true,
                    object_id: address(0x71),
                    storage_pool_id: address(0x70),
                }),
                ours(&PooledBlobCertified {
                    epoch: 2,
                    blob_id: blob_id(7),
                    deletable: true,
                    object_id: address(0x71),
                    storage_pool_id: address(0x70),
                }),
                ours(&PooledBlobDeleted {
                    epoch: 2,
                    blob_id: blob_id(7),
                    object_id: address(0x71),
                    was_certified: true,
                    storage_pool_id: address(0x70),
                }),
                ours(&StoragePoolExtended { epoch: 2, storage_pool_id: address(0x70), new_end_epoch: 6 }),
            ]],
        ),
    ]
}

/// Mutations it catches: `StakeWithdrawn` adding instead of subtracting (or subtracting the
/// amount paid out instead of the principal), a `WithdrawalRequested` that moves stake,
/// `CommissionCollected` overwriting instead of adding, a `NodeUpdated` that drops a field (the
/// public keys in particular), a registration that drops its keys, `NodeDeregistered` ignored;
/// each once folded within a batch and once applied across batches (one checkpoint each);
/// and `Batch::node_epoch` losing what it records (a node's per-epoch stake and shards).
#[sqlx::test(migrations = "../migrations")]
async fn every_node_event_changes_the_node_as_the_chain_does(pool: PgPool) {
    let dir = folder_of(&node_history());
    let base = serve(&pool).await;
    let mut dumps = Vec::new();
    for batch in [1, 100] {
        truncate_all(&pool).await;
        ingest_folder(&pool, dir.path(), 5, batch).await;

        let (status, one) = get(&base, &format!("/v1/nodes/{}", address(0x51))).await;
        assert_eq!(status, 200, "{one}");
        let expected = json!({
            "node_id": address(0x51).to_string(),
            "name": "uno",
            "network_address": "uno:2",
            "public_key": "33".repeat(96),
            "network_public_key": "44".repeat(32),
            "commission_rate_bps": 250,
            "storage_price_vote": 11,
            "write_price_vote": 12,
            "capacity_vote": 13,
            "registered_epoch": 0,
            "deregistered_epoch": null,
            "staked_principal": 6 * WAL,
            "pool_wal": null,
            "pool_shares": null,
            "commission_collected": 42,
            "shards": [0, 2],
            "stake": 6 * WAL,
            "commission_rate": 250,
            "exchange_rate": null,
            "public_key_base64": base64_of(&[0x33; 96]),
            "network_public_key_base64": base64_of(&[0x44; 32]),
            "history": [],
        });
        assert_eq!(one, expected, "batches of {batch}");

        let (_, two) = get(&base, &format!("/v1/nodes/{}", address(0x52))).await;
        assert_eq!(
            (&two["name"], &two["public_key"], &two["network_public_key"]),
            (&json!("two"), &json!("22".repeat(96)), &json!("22".repeat(32))),
            "batches of {batch}"
        );
        assert_eq!(
            (&two["staked_principal"], &two["deregistered_epoch"], &two["commission_collected"]),
            (&json!(7 * WAL), &json!(2), &json!(0)),
            "batches of {batch}"
        );
        // Per epoch, newest first, the stake after the epoch's last stake event or committee
        // selection, and the shards the selection gave: 8 WAL deposited in epoch 0, selected
        // with it for epoch 1, 2 WAL withdrawn in epoch 2.
        let n1 = [(2, 6 * WAL, json!(null)), (1, 8 * WAL, json!([0, 2])), (0, 8 * WAL, json!(null))];
        let n2 = [(1, 7 * WAL, json!([1])), (0, 7 * WAL, json!(null))];
        for (node, expected) in [(0x51, &n1[..]), (0x52, &n2[..])] {
            let (status, page) = get(&base, &format!("/v1/nodes/{}/history", address(node))).await;
            assert_eq!(status, 200, "{page}");
            let epochs: Vec<_> = page["history"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| (h["epoch"].clone(), h["stake"].clone(), h["shards"].clone()))
                .collect();
            let expected: Vec<_> = expected.iter().map(|(e, s, shards)| (json!(e), json!(s), shards.clone())).collect();
            assert_eq!(epochs, expected, "batches of {batch}: {page}");
        }
        dumps.push(dump(&pool).await);
    }
    assert_eq!(dumps[0], dumps[1], "one checkpoint per batch and all in one give the same rows");

    // Events without state of their own are kept and decoded, findable by type and blob.
    for (name, count) in [
        ("WithdrawalRequested", 1),
        ("ShardsReceived", 1),
        ("EpochChangeSyncTimedOut", 1),
        ("EpochParametersSelected", 2),
        ("StoragePoolCreated", 1),
        ("PooledBlobRegistered", 1),
        ("PooledBlobCertified", 1),
        ("PooledBlobDeleted", 1),
        ("StoragePoolExtended", 1),
    ] {
        let (_, page) = get(&base, &format!("/v1/events?type={name}")).await;
        let events = page["events"].as_array().unwrap();
        assert_eq!(events.len(), count, "{name}: {page}");
        assert!(events.iter().all(|e| e["data"].is_object()), "{name} is decoded: {page}");
    }
    let (_, shards) = get(&base, "/v1/events?type=ShardsReceived").await;
    assert_eq!(shards["events"][0]["data"]["shards"], json!([0, 2]));
    let (_, pooled) = get(&base, &format!("/v1/events?blob_id={}", blob_id(7))).await;
    assert_eq!(pooled["events"].as_array().unwrap().len(), 3);

    // An epoch whose parameters are selected is listed before it starts, as upcoming.
    let (_, epochs) = get(&base, "/v1/epochs").await;
    let listed: Vec<(u64, bool)> = epochs["epochs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["epoch"].as_u64().unwrap(), e["upcoming"].as_bool().unwrap()))
        .collect();
    assert_eq!(listed, vec![(2, true), (1, false)]);
    assert_eq!(get(&base, "/v1/epochs/1").await.1["sync_done_checkpoint"], 2);
}

/// Defects: a deleted blob whose ID was later declared invalid showed `invalid` (a deleted
/// object stays deleted), and `/v1/stats` counted invalid blobs as stored and certified.
#[sqlx::test(migrations = "../migrations")]
async fn invalid_blob_ids_are_not_stored_and_deleted_objects_stay_deleted(pool: PgPool) {
    let dir = folder_of(&[
        checkpoint(0, vec![vec![ours(&EpochChangeStart { epoch: 1 })]]),
        checkpoint(
            1,
            vec![vec![
                ours(&registered(0xA, 1, 100, true, 5)),
                ours(&certified(0xA, 1, 5)),
                ours(&BlobDeleted {
                    epoch: 1,
                    blob_id: blob_id(1),
                    end_epoch: 5,
                    object_id: address(0xA),
                    was_certified: true,
                }),
                ours(&registered(0xB, 2, 200, false, 5)),
                ours(&certified(0xB, 2, 5)),
                ours(&registered(0xC, 3, 300, false, 5)),
                ours(&certified(0xC, 3, 5)),
            ]],
        ),
        checkpoint(
            2,
            vec![vec![
                ours(&InvalidBlobID { epoch: 1, blob_id: blob_id(1) }),
                ours(&InvalidBlobID { epoch: 1, blob_id: blob_id(2) }),
            ]],
        ),
    ]);
    ingest_folder(&pool, dir.path(), 2, 10).await;
    let base = serve(&pool).await;
    let (_, page) = get(&base, "/v1/blobs").await;
    assert_eq!(
        statuses(&page),
        vec![
            (address(0xA).to_string(), "deleted".into()),
            (address(0xB).to_string(), "invalid".into()),
            (address(0xC).to_string(), "certified".into()),
        ]
    );
    assert_status_filters_agree(&base).await;
    // The blob ID itself is invalid either way.
    assert_eq!(get(&base, &format!("/v1/blobs/{}", blob_id(1))).await.1["status"], "invalid");
    let (_, stats) = get(&base, "/v1/stats").await;
    assert_eq!(stats["stored"], json!({ "blobs": 1, "bytes": 300 }));
    assert_eq!(stats["certified"], json!({ "blobs": 1, "bytes": 300 }));
    assert_totals_match_the_blobs(&pool).await;
}
