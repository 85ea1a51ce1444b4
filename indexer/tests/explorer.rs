//! The explorer's data: every event type of Walrus's module `events` in generated checkpoints,
//! the state each one changes, and the `/v1` routes the explorer page reads, on a real
//! PostgreSQL over real HTTP.

mod common;

use common::*;
use serde_json::{json, Value};
use sqlx::PgPool;
use walrus_chain::events::*;

/// A history with each of Walrus's event types our package does not emit, plus stake,
/// committees and rewards over two epochs.
fn walrus_history() -> Vec<sui_rpc::proto::sui::rpc::v2::Checkpoint> {
    let (n1, n2) = (address(0x51), address(0x52));
    let node = |id, name: &str, key: u8| NodeRegistered {
        epoch: 0,
        node_id: id,
        name: name.into(),
        network_address: format!("{name}:1"),
        public_key: vec![key; 96],
        network_public_key: vec![key; 32],
        commission_rate: 100,
    };
    let deposit = |id, amount, epoch| StakeDeposited {
        epoch,
        node_id: id,
        staked_wal_id: address(0x60),
        amount,
        activation_epoch: epoch + 1,
    };
    let certified = |object, blob| BlobCertified {
        epoch: 1,
        blob_id: blob_id(blob),
        end_epoch: 9,
        deletable: false,
        object_id: address(object),
        is_extension: false,
    };
    let attribute = |object, blob, key: &str, value: &str| BlobAttributeSet {
        blob_id: blob_id(blob),
        object_id: address(object),
        key: key.into(),
        value: value.into(),
    };
    vec![
        checkpoint(0, vec![]),
        checkpoint(
            1,
            vec![vec![
                ours(&node(n1, "one", 0x11)),
                ours(&node(n2, "two", 0x22)),
                ours(&deposit(n1, 5 * WAL, 0)),
                ours(&deposit(n2, 2 * WAL, 0)),
                ours(&CommitteeSelected { epoch: 1, node_ids: vec![n1, n2], shards: vec![vec![0, 1, 2], vec![3]] }),
                ours(&EpochChangeStart { epoch: 1 }),
                ours(&PricesUpdated { epoch: 1, storage_price: 2, write_price: 3 }),
            ]],
        ),
        checkpoint(
            2,
            vec![
                vec![ours(&registered(0xA, 1, 1000, false, 9)), ours(&certified(0xA, 1))],
                vec![ours(&registered(0xB, 2, 500, false, 9)), ours(&certified(0xB, 2))],
                vec![ours(&registered(0xC, 3, 10, true, 9))],
                vec![
                    ours(&attribute(0xA, 1, "type", "image/png")),
                    ours(&attribute(0xB, 2, "type", "text/plain")),
                    ours(&attribute(0xC, 3, "name", "x")),
                ],
            ],
        ),
        checkpoint(
            3,
            vec![vec![
                ours(&ShardRecoveryStart { epoch: 1, shards: vec![3] }),
                ours(&ContractUpgraded { epoch: 1, package_id: address(0xEF), version: 2 }),
                ours(&RegisterDenyListUpdate { epoch: 1, root: U256([7; 32]), sequence_number: 1, node_id: n1 }),
                ours(&DenyListUpdate { epoch: 1, root: U256([7; 32]), sequence_number: 1, node_id: n1 }),
                ours(&DenyListBlobDeleted { epoch: 1, blob_id: blob_id(2) }),
                ours(&ContractUpgradeProposed { epoch: 1, package_digest: vec![9; 32] }),
                ours(&ContractUpgradeQuorumReached { epoch: 1, package_digest: vec![9; 32] }),
                ours(&ProtocolVersionUpdated { epoch: 1, start_epoch: 2, protocol_version: 3 }),
                ours(&deposit(n2, WAL, 1)),
            ]],
        ),
        checkpoint(
            4,
            vec![vec![
                ours(&RewardsDistributed {
                    epoch: 1,
                    node_id: n1,
                    reward: 100,
                    commission: 1,
                    pool_wal: 5 * WAL + 99,
                    pool_shares: 5 * WAL,
                }),
                ours(&CommitteeSelected { epoch: 2, node_ids: vec![n1, n2], shards: vec![vec![0, 1], vec![2, 3]] }),
                ours(&EpochChangeStart { epoch: 2 }),
            ]],
        ),
    ]
}

#[sqlx::test(migrations = "../migrations")]
async fn walrus_events_and_the_explorer_routes(pool: PgPool) {
    let checkpoints = walrus_history();
    let dir = folder_of(&checkpoints);
    // One checkpoint per batch and all in one write the same rows.
    ingest_folder(&pool, dir.path(), 4, 1).await;
    let one_by_one = dump(&pool).await;
    let base = serve(&pool).await;

    // Every Walrus-only event is kept, decoded and listed.
    for name in [
        "ShardRecoveryStart",
        "ContractUpgraded",
        "RegisterDenyListUpdate",
        "DenyListUpdate",
        "DenyListBlobDeleted",
        "ContractUpgradeProposed",
        "ContractUpgradeQuorumReached",
        "ProtocolVersionUpdated",
    ] {
        let (_, page) = get(&base, &format!("/v1/events?type={name}")).await;
        let events = page["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{name}: {page}");
        assert!(events[0]["data"].is_object(), "{name} decoded: {page}");
    }
    // Newest first (`order=desc`), paged by cursor: the same events as oldest first, reversed.
    let keys = |page: &Value| -> Vec<String> {
        page["events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| format!("{}.{}.{}", e["checkpoint"], e["tx_index"], e["event_index"]))
            .collect()
    };
    let walk = |order: &'static str| {
        let base = base.clone();
        async move {
            let (mut all, mut cursor) = (Vec::new(), None::<String>);
            loop {
                let after = cursor.as_deref().map(|c| format!("&cursor={c}")).unwrap_or_default();
                let (status, page) = get(&base, &format!("/v1/events?order={order}&limit=3{after}")).await;
                assert_eq!(status, 200, "{page}");
                all.extend(keys(&page));
                match page["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => return all,
                }
            }
        }
    };
    let (oldest_first, mut newest_first) = (walk("asc").await, walk("desc").await);
    assert!(oldest_first.len() > 6, "{oldest_first:?}");
    newest_first.reverse();
    assert_eq!(newest_first, oldest_first);
    let (_, all) = get(&base, "/v1/events?limit=1000").await;
    assert_eq!(keys(&all), oldest_first);
    let (status, bad) = get(&base, "/v1/events?order=sideways").await;
    assert_eq!(status, 400, "{bad}");

    let (_, deny) = get(&base, "/v1/events?type=DenyListUpdate").await;
    assert_eq!(deny["events"][0]["data"]["root"], format!("0x{}", "07".repeat(32)));

    // DenyListBlobDeleted: the nodes dropped the data, so the blob is deleted and not stored.
    let (status, two) = get(&base, &format!("/v1/blobs/{}", blob_id(2))).await;
    assert_eq!(status, 200, "{two}");
    assert_eq!((two["status"].as_str(), two["deny_listed"].as_bool()), (Some("deleted"), Some(true)));
    assert_eq!(two["objects"][0]["deleted_epoch"], 1);
    let (_, stats) = get(&base, "/v1/stats").await;
    assert_eq!(stats["stored"]["blobs"], 2, "{stats}");

    // A blob: every ID form, sizes, epochs, attributes and its timeline with digests.
    let id = blob_id(1);
    let (_, one) = get(&base, &format!("/v1/blobs/{id}")).await;
    assert_eq!(one["blob_id_hex"], format!("0x{}", hex::encode(id.0)));
    assert_eq!(one["blob_id_decimal"], walrus_encoder::BlobId(id.0).to_u256_decimal());
    assert_eq!((one["size"].as_u64(), one["encoded_size"].as_u64()), (Some(1000), Some(4512)));
    assert_eq!((one["registered_epoch"].as_u64(), one["certified_epoch"].as_u64()), (Some(1), Some(1)));
    assert_eq!(one["attributes"], json!({ "type": "image/png" }));
    let timeline: Vec<&str> = one["events"].as_array().unwrap().iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(timeline, ["BlobRegistered", "BlobCertified", "BlobAttributeSet"]);
    assert!(one["events"][0]["tx_digest"].as_str().is_some_and(|d| !d.is_empty()));
    assert_eq!(one["events"][0]["checkpoint"], 2);
    assert_eq!(one["objects"][0]["blob_id_decimal"], one["blob_id_decimal"]);

    // Attributes: by key, by key and value, combined with a status and paged by cursor.
    let objects = |page: &Value| -> Vec<String> {
        page["blobs"].as_array().unwrap().iter().map(|b| b["object_id"].as_str().unwrap().to_owned()).collect()
    };
    let (_, typed) = get(&base, "/v1/blobs?attribute=type").await;
    assert_eq!(objects(&typed), [address(0xA).to_string(), address(0xB).to_string()]);
    let (_, png) = get(&base, "/v1/blobs?attribute=type:image/png").await;
    assert_eq!(objects(&png), [address(0xA).to_string()]);
    let (_, first) = get(&base, "/v1/blobs?attribute=type&limit=1").await;
    let cursor = first["next_cursor"].as_str().unwrap();
    let (_, rest) = get(&base, &format!("/v1/blobs?attribute=type&limit=1&cursor={cursor}")).await;
    assert_eq!(objects(&rest), [address(0xB).to_string()]);
    let (_, deleted) = get(&base, "/v1/blobs?attribute=type&status=deleted").await;
    assert_eq!(objects(&deleted), [address(0xB).to_string()]);
    assert_eq!(get(&base, "/v1/blobs?attribute=:x").await.0, 400);

    // Epochs: committee with names, weights, base64 keys; end, prices, stake, blob figures.
    let (_, e1) = get(&base, "/v1/epochs/1").await;
    assert_eq!(
        e1["committee"][0],
        json!({ "node_id": address(0x51).to_string(), "name": "one", "shards": [0, 1, 2], "weight": 3,
                "public_key": base64_of(&[0x11; 96]), "network_address": "one:1" })
    );
    assert_eq!((e1["end_checkpoint"].as_u64(), e1["end_timestamp_ms"].as_u64()), (Some(4), Some(4000)));
    assert_eq!((e1["storage_price"].as_u64(), e1["write_price"].as_u64()), (Some(2), Some(3)));
    assert_eq!(e1["total_stake"], 8 * WAL, "7 WAL at the start, 1 more during the epoch");
    assert_eq!((e1["blobs_registered"].as_u64(), e1["bytes_registered"].as_u64()), (Some(3), Some(1510)));
    assert_eq!((e1["blobs_certified"].as_u64(), e1["bytes_certified"].as_u64()), (Some(2), Some(1500)));
    let (_, e2) = get(&base, "/v1/epochs/2").await;
    assert_eq!((e2["protocol_version"].as_u64(), e2["total_stake"].as_u64()), (Some(3), Some(8 * WAL)));
    let (_, page) = get(&base, "/v1/epochs?limit=1").await;
    assert_eq!((page["epochs"][0]["epoch"].as_u64(), page["next_cursor"].as_u64()), (Some(2), Some(2)));
    let (_, page) = get(&base, "/v1/epochs?limit=1&cursor=2").await;
    assert_eq!((page["epochs"][0]["epoch"].as_u64(), page["next_cursor"].as_u64()), (Some(1), None));

    // Nodes: current stake, keys, shards; history per epoch with the exchange rate.
    let (_, n1) = get(&base, &format!("/v1/nodes/{}", address(0x51))).await;
    assert_eq!((n1["stake"].as_u64(), n1["commission_rate"].as_u64()), (Some(5 * WAL), Some(100)));
    assert_eq!(n1["shards"], json!([0, 1]));
    assert_eq!(n1["exchange_rate"], "1.000000019");
    let (_, history) = get(&base, &format!("/v1/nodes/{}/history", address(0x52))).await;
    assert_eq!(
        history["history"],
        json!([
            { "epoch": 2, "stake": 3 * WAL, "shards": [2, 3], "reward": null, "commission": null,
              "pool_wal": null, "pool_shares": null, "exchange_rate": null },
            { "epoch": 1, "stake": 3 * WAL, "shards": [3], "reward": null, "commission": null,
              "pool_wal": null, "pool_shares": null, "exchange_rate": null },
            { "epoch": 0, "stake": 2 * WAL, "shards": null, "reward": null, "commission": null,
              "pool_wal": null, "pool_shares": null, "exchange_rate": null },
        ])
    );
    let (_, h1) = get(&base, &format!("/v1/nodes/{}/history?limit=1&cursor=2", address(0x51))).await;
    assert_eq!((h1["history"][0]["epoch"].as_u64(), h1["history"][0]["reward"].as_u64()), (Some(1), Some(100)));
    assert_eq!(h1["history"][0]["exchange_rate"], "1.000000019");
    assert_eq!(get(&base, &format!("/v1/nodes/{}/history", address(0x59))).await.0, 404);

    // Stats: the per-epoch series and the network figures.
    let series = stats["by_epoch"].as_array().unwrap();
    assert_eq!(series.last().unwrap()["epoch"], 2);
    assert_eq!(series[series.len() - 2]["blobs_certified"], 2);
    assert_eq!(
        (stats["network"]["nodes"].as_u64(), stats["network"]["total_stake"].as_u64()),
        (Some(2), Some(8 * WAL))
    );

    // Search: a blob by each ID form, an object (with its blob), a node; junk is a 400.
    for q in [id.to_string(), format!("0x{}", hex::encode(id.0)), walrus_encoder::BlobId(id.0).to_u256_decimal()] {
        let (status, found) = get(&base, &format!("/v1/search?q={q}")).await;
        assert_eq!(status, 200, "{q}: {found}");
        assert_eq!(
            found["results"][0],
            json!({ "kind": "blob", "id": id.to_string(), "blob_id": id.to_string() }),
            "{q}"
        );
    }
    let (_, object) = get(&base, &format!("/v1/search?q={}", address(0xA))).await;
    assert_eq!(
        object["results"],
        json!([{ "kind": "object", "id": address(0xA).to_string(), "blob_id": id.to_string() }])
    );
    let (_, node) = get(&base, &format!("/v1/search?q={}", address(0x52))).await;
    assert_eq!(node["results"], json!([{ "kind": "node", "id": address(0x52).to_string() }]));
    assert_eq!(get(&base, "/v1/search?q=hello").await.0, 400);

    // Everything the routes read was written the same way batch by batch as all at once.
    truncate_all(&pool).await;
    ingest_folder(&pool, dir.path(), 4, 4).await;
    assert_eq!(dump(&pool).await, one_by_one);
}

/// Defect: an object registered after its blob ID was deny-listed (DenyListBlobDeleted) stayed
/// registered, and counted as stored, unless it fell in the certificate's batch. The f+1 nodes
/// that deny-list the ID refuse its data, so it can never be stored: it is deleted as of its
/// registration, whatever the batching; an object registered before is deleted as of the
/// certificate.
#[sqlx::test(migrations = "../migrations")]
async fn a_blob_registered_after_its_id_was_deny_listed_is_deleted(pool: PgPool) {
    let certified = BlobCertified {
        epoch: 1,
        blob_id: blob_id(5),
        end_epoch: 9,
        deletable: false,
        object_id: address(0xA),
        is_extension: false,
    };
    let mut later = registered(0xB, 5, 100, false, 9);
    later.epoch = 2;
    let checkpoints = vec![
        checkpoint(0, vec![vec![ours(&EpochChangeStart { epoch: 1 })]]),
        checkpoint(1, vec![vec![ours(&registered(0xA, 5, 100, false, 9)), ours(&certified)]]),
        checkpoint(2, vec![vec![ours(&DenyListBlobDeleted { epoch: 1, blob_id: blob_id(5) })]]),
        checkpoint(3, vec![vec![ours(&EpochChangeStart { epoch: 2 })]]),
        checkpoint(4, vec![vec![ours(&later)]]),
    ];
    let dir = folder_of(&checkpoints);
    ingest_folder(&pool, dir.path(), 4, 1).await;
    let one_by_one = dump(&pool).await;
    let base = serve(&pool).await;
    let (status, blob) = get(&base, &format!("/v1/blobs/{}", blob_id(5))).await;
    assert_eq!(status, 200, "{blob}");
    let objects: Vec<(&str, &str, u64)> = blob["objects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| {
            (o["object_id"].as_str().unwrap(), o["status"].as_str().unwrap(), o["deleted_epoch"].as_u64().unwrap())
        })
        .collect();
    let (a, b) = (address(0xA).to_string(), address(0xB).to_string());
    assert_eq!(objects, [(a.as_str(), "deleted", 1), (b.as_str(), "deleted", 2)]);
    assert_eq!((blob["status"].as_str(), blob["deny_listed"].as_bool()), (Some("deleted"), Some(true)));
    let (_, stats) = get(&base, "/v1/stats").await;
    assert_eq!(stats["stored"]["blobs"], 0, "{stats}");
    let (_, page) = get(&base, "/v1/blobs?status=registered").await;
    assert_eq!(page["blobs"], json!([]));

    // All checkpoints in one batch write the same rows.
    truncate_all(&pool).await;
    ingest_folder(&pool, dir.path(), 4, 5).await;
    assert_eq!(dump(&pool).await, one_by_one);
}
