//! The indexer tests' history and database helpers; the checkpoint builders are
//! `walrus_chain::testing`'s.

#![allow(dead_code)]

use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::watch;
use walrus_chain::events::*;
use walrus_chain::source::Source;
pub use walrus_chain::testing::*;
use walrus_indexer::api::{self, AppState};
use walrus_indexer::ingest::{self, IngestConfig};
use walrus_indexer::store::Store;

/// Ingestion of the test package from checkpoint 0 to `last`, polling every 10 ms at the tip.
pub fn ingest_config(last: u64, batch_checkpoints: u64, concurrency: usize) -> IngestConfig {
    IngestConfig {
        package: package(),
        first_checkpoint: 0,
        first_checkpoint_digest: None,
        validator_committee: None,
        last_checkpoint: Some(last),
        batch_checkpoints,
        concurrency,
        poll_interval: std::time::Duration::from_millis(10),
        database_timeout: std::time::Duration::from_secs(30),
        status: Default::default(),
    }
}

/// Ingests checkpoints 0 to `last` of `dir`, `batch` per transaction, and expects success.
pub async fn ingest_folder(pool: &PgPool, dir: &std::path::Path, last: u64, batch: u64) {
    let config = ingest_config(last, batch, 4);
    let (_tx, rx) = watch::channel(false);
    let store = Store::from_pool(pool.clone());
    tokio::time::timeout(Duration::from_secs(30), ingest::run(store, Source::Dir(dir.into()), config, rx))
        .await
        .expect("ingestion finishes")
        .expect("ingestion succeeds");
}

/// Standard base64 with padding, as the API shows keys.
pub fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Writes `checkpoints` into a fresh folder.
pub fn folder_of(checkpoints: &[sui_rpc::proto::sui::rpc::v2::Checkpoint]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for checkpoint in checkpoints {
        write_binpb_zst(dir.path(), checkpoint);
    }
    dir
}

/// Serves the API on a free port; returns its base URL.
pub async fn serve(pool: &PgPool) -> String {
    serve_with(pool, None).await
}

/// [`serve`], keeping answers in `cache` until its store's next commit.
pub async fn serve_with(pool: &PgPool, cache: Option<api::Cache>) -> String {
    let state =
        AppState { pool: pool.clone(), metrics: None, default_n_shards: 1000, ingestion: Default::default(), cache };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, api::router(state)).await.unwrap() });
    format!("http://{address}")
}

/// `GET {base}{path}`: the status and the body as JSON (a string if it is not JSON).
pub async fn get(base: &str, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{base}{path}")).await.unwrap();
    let status = response.status().as_u16();
    let body = response.text().await.unwrap();
    (status, serde_json::from_str(&body).unwrap_or(Value::String(body)))
}

/// The running totals behind `/v1/stats` (kept by triggers) equal a recount of the blobs.
pub async fn assert_totals_match_the_blobs(pool: &sqlx::PgPool) {
    type Totals = Vec<(i32, bool, i64, i64)>;
    let kept: Totals = sqlx::query_as(
        "SELECT end_epoch, certified, blobs, bytes::int8 FROM blob_totals WHERE blobs <> 0 OR bytes <> 0 ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let counted: Totals = sqlx::query_as(
        "SELECT end_epoch, certified_epoch IS NOT NULL, count(*), sum(size)::int8 FROM blobs b
         WHERE deleted_epoch IS NULL AND NOT burned
           AND NOT EXISTS (SELECT 1 FROM invalid_blob_ids i WHERE i.blob_id = b.blob_id)
         GROUP BY 1, 2 ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(kept, counted, "blob_totals drifted from the blobs");
    type Registered = Vec<(i32, i64, i64)>;
    let kept: Registered =
        sqlx::query_as("SELECT registered_epoch, blobs, bytes::int8 FROM registered_totals ORDER BY 1")
            .fetch_all(pool)
            .await
            .unwrap();
    let counted: Registered =
        sqlx::query_as("SELECT registered_epoch, count(*), sum(size)::int8 FROM blobs GROUP BY 1 ORDER BY 1")
            .fetch_all(pool)
            .await
            .unwrap();
    assert_eq!(kept, counted, "registered_totals drifted from the blobs");
}

/// Empties every table the indexer writes, to ingest the same history again into one database.
pub async fn truncate_all(pool: &sqlx::PgPool) {
    sqlx::query(
        "TRUNCATE events, blobs, invalid_blob_ids, storage_resources, epochs, nodes, node_rewards, watermark,
                  blob_totals, registered_totals, blob_attributes, deny_listed_blob_ids, epoch_stake, protocol_versions,
                  node_epochs, certified_totals",
    )
    .execute(pool)
    .await
    .unwrap();
}

/// Every table's rows (the watermark without its wall-clock time), in a canonical order, as
/// text, after checking that the derived totals agree with them.
pub async fn dump(pool: &sqlx::PgPool) -> Vec<String> {
    assert_totals_match_the_blobs(pool).await;
    let mut rows = Vec::new();
    for table in [
        "events",
        "blobs",
        "invalid_blob_ids",
        "storage_resources",
        "epochs",
        "nodes",
        "node_rewards",
        "watermark",
        "blob_attributes",
        "deny_listed_blob_ids",
        "epoch_stake",
        "protocol_versions",
        "node_epochs",
        "certified_totals",
    ] {
        let columns = if table == "watermark" { "pipeline, checkpoint_hi, timestamp_ms" } else { "*" };
        // Ordered by the whole row, so equal tables always dump equally.
        let dump: Vec<(String,)> = sqlx::query_as(&format!(
            "SELECT row_to_json(t)::text AS r FROM (SELECT {columns} FROM {table}) t ORDER BY r"
        ))
        .fetch_all(pool)
        .await
        .unwrap();
        rows.extend(dump.into_iter().map(|(r,)| format!("{table}: {r}")));
    }
    rows
}

/// A small history: a committee, two nodes, blobs registered, certified, tagged, deleted and
/// expiring, an invalid blob ID, plus events the indexer must keep raw or ignore.
pub fn history() -> Vec<sui_rpc::proto::sui::rpc::v2::Checkpoint> {
    let (n1, n2) = (address(0x51), address(0x52));
    vec![
        checkpoint(0, vec![]),
        checkpoint(
            1,
            vec![vec![
                ours(&NodeRegistered {
                    epoch: 0,
                    node_id: n1,
                    name: "one".into(),
                    network_address: "one:1".into(),
                    public_key: vec![0x11; 48],
                    network_public_key: vec![0x11; 33],
                    commission_rate: 100,
                }),
                ours(&NodeRegistered {
                    epoch: 0,
                    node_id: n2,
                    name: "two".into(),
                    network_address: "two:1".into(),
                    public_key: vec![0x22; 48],
                    network_public_key: vec![0x22; 33],
                    commission_rate: 0,
                }),
                ours(&StakeDeposited {
                    epoch: 0,
                    node_id: n1,
                    staked_wal_id: address(0x61),
                    amount: 5 * WAL,
                    activation_epoch: 1,
                }),
                ours(&CommitteeSelected { epoch: 1, node_ids: vec![n1, n2], shards: vec![vec![0, 1, 2], vec![3]] }),
                ours(&EpochChangeStart { epoch: 1 }),
                ours(&PricesUpdated { epoch: 1, storage_price: 2, write_price: 3 }),
                ours(&CapacityUpdated { epoch: 1, total_capacity_size: 1 << 40, used_capacity_size: 0 }),
            ]],
        ),
        checkpoint(
            2,
            vec![
                vec![
                    ours(&StorageReserved {
                        epoch: 1,
                        storage_id: address(0x91),
                        start_epoch: 1,
                        end_epoch: 5,
                        storage_size: 900,
                        cost: 18,
                    }),
                    ours(&StorageSplit {
                        storage_id: address(0x91),
                        start_epoch: 1,
                        end_epoch: 3,
                        storage_size: 900,
                        new_storage_id: address(0x92),
                        new_start_epoch: 3,
                        new_end_epoch: 5,
                        new_storage_size: 900,
                    }),
                    ours(&StorageFused {
                        storage_id: address(0x91),
                        absorbed_id: address(0x92),
                        start_epoch: 1,
                        end_epoch: 5,
                        storage_size: 900,
                    }),
                    ours(&StorageReleased {
                        epoch: 1,
                        storage_id: address(0x91),
                        storage_size: 900,
                        released_from_epoch: 2,
                        end_epoch: 5,
                    }),
                ],
                vec![ours(&registered(0xA, 1, 1000, false, 5)), ours(&registered(0xB, 1, 1000, true, 3))],
                vec![ours(&registered(0xC, 2, 77, false, 2))],
            ],
        ),
        checkpoint(
            3,
            vec![vec![
                ours(&BlobCertified {
                    epoch: 1,
                    blob_id: blob_id(1),
                    end_epoch: 5,
                    deletable: false,
                    object_id: address(0xA),
                    is_extension: false,
                }),
                ours(&BlobAttributeSet {
                    blob_id: blob_id(1),
                    object_id: address(0xA),
                    key: "type".into(),
                    value: "image/png".into(),
                }),
                ours(&BlobAttributeSet {
                    blob_id: blob_id(1),
                    object_id: address(0xA),
                    key: "name".into(),
                    value: "cat".into(),
                }),
                ours(&BlobAttributeRemoved { blob_id: blob_id(1), object_id: address(0xA), key: "name".into() }),
                ours(&BlobDeleted {
                    epoch: 1,
                    blob_id: blob_id(1),
                    end_epoch: 3,
                    object_id: address(0xB),
                    was_certified: false,
                }),
                ours(&InvalidBlobID { epoch: 1, blob_id: blob_id(9) }),
            ]],
        ),
        checkpoint(
            4,
            vec![vec![
                // Not ours: another package, and our package's non-event module.
                event_of(address(0x77), "events", "BlobRegistered", &registered(0xD, 4, 1, false, 9)),
                event_of(package(), "other", "BlobRegistered", &registered(0xD, 4, 1, false, 9)),
                // Ours but unknown, and ours but malformed: kept raw, reported, never fatal.
                raw_event(package(), "events", "FutureEvent", vec![1, 2, 3]),
                raw_event(package(), "events", "BlobCertified", vec![0xFF]),
            ]],
        ),
        checkpoint(
            5,
            vec![vec![
                ours(&RewardsDistributed {
                    epoch: 1,
                    node_id: n1,
                    reward: 100,
                    commission: 1,
                    pool_wal: 5 * WAL + 99,
                    pool_shares: 5 * WAL,
                }),
                ours(&EpochChangeStart { epoch: 2 }),
                ours(&EpochChangeDone { epoch: 2 }),
                ours(&EpochChangeStart { epoch: 3 }),
            ]],
        ),
    ]
}

/// `history()` certified by validators of epoch 0 up to checkpoint 2, which hands over to those
/// of epoch 1; and the committee of epoch 0.
pub fn certified_history() -> (Vec<sui_rpc::proto::sui::rpc::v2::Checkpoint>, TestValidators, TestValidators) {
    let (first, second) = (TestValidators::new(0, 1, 4), TestValidators::new(1, 2, 4));
    let mut history = history();
    let mut previous = None;
    for (n, message) in history.iter_mut().enumerate() {
        let (signers, next) = if n <= 2 { (&first, (n == 2).then_some(&second)) } else { (&second, None) };
        previous = Some(signers.certify(message, previous, 3, next));
    }
    (history, first, second)
}
