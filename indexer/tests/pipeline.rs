//! Ingestion from a checkpoint folder into a real PostgreSQL (a fresh database per test),
//! then every API route over real HTTP.

mod common;

use std::time::Duration;

use common::*;
use serde_json::Value;
use sqlx::PgPool;
use tokio::sync::watch;
use walrus_chain::source::Source;
use walrus_indexer::ingest;
use walrus_indexer::store::Store;

#[sqlx::test(migrations = "../migrations")]
async fn folder_to_database_to_api(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    for checkpoint in history() {
        write_binpb_zst(dir.path(), &checkpoint);
    }
    ingest_folder(&pool, dir.path(), 5, 2).await;

    let store = Store::from_pool(pool.clone());
    let watermark = store.watermark().await.unwrap().unwrap();
    assert_eq!((watermark.checkpoint, watermark.timestamp_ms), (5, 5000));
    let (events, undecoded): (i64, i64) =
        sqlx::query_as("SELECT count(*), count(*) FILTER (WHERE decode_error IS NOT NULL) FROM events")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((events, undecoded), (7 + 7 + 6 + 2 + 4, 2));
    // Reserved, split, fused back and released: the storage table follows.
    type StorageRow = (Option<i32>, Option<i32>, Option<i64>, Option<i64>, Option<Vec<u8>>, Option<i32>);
    let storage: Vec<StorageRow> = sqlx::query_as(
        "SELECT start_epoch, end_epoch, storage_size, cost, absorbed_into, released_epoch
         FROM storage_resources ORDER BY storage_id",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    assert_eq!(
        storage,
        vec![
            (Some(1), Some(5), Some(900), Some(18), None, Some(1)),
            (Some(3), Some(5), Some(900), None, Some(address(0x91).as_bytes().to_vec()), None),
        ]
    );

    let base = serve(&pool).await;

    // A blob ID with a certified, a deleted object: certified; every accepted spelling.
    let id = blob_id(1);
    let hex = format!("0x{}", hex::encode(id.0));
    let decimal = walrus_encoder::BlobId(id.0).to_u256_decimal();
    for spelling in [id.to_string(), hex, decimal] {
        let (status, body) = get(&base, &format!("/v1/blobs/{spelling}")).await;
        assert_eq!(status, 200, "{spelling}: {body}");
        assert_eq!(body["blob_id"], id.to_string());
        assert_eq!(body["status"], "certified");
        let objects = body["objects"].as_array().unwrap();
        assert_eq!(objects.len(), 2);
        let a = &objects[0];
        assert_eq!(a["object_id"], address(0xA).to_string());
        assert_eq!(
            (a["status"].as_str(), a["certified_epoch"].as_u64(), a["end_epoch"].as_u64()),
            (Some("certified"), Some(1), Some(5))
        );
        assert_eq!(a["attributes"], serde_json::json!({ "type": "image/png" }));
        // The indexed committee has 4 shards.
        assert_eq!(a["encoded_size"], 4512);
        assert_eq!(a["size"], 1000);
        assert_eq!(a["deletable"], false);
        assert_eq!(a["registered_epoch"], 1);
        assert_eq!(objects[1]["status"], "deleted");
        assert_eq!(objects[1]["deleted_epoch"], 1);
    }
    // Expired in epoch 3, invalid without objects, unknown, malformed.
    assert_eq!(get(&base, &format!("/v1/blobs/{}", blob_id(2))).await.1["status"], "expired");
    let (status, body) = get(&base, &format!("/v1/blobs/{}", blob_id(9))).await;
    assert_eq!(
        (status, body["status"].as_str(), body["objects"].as_array().map(Vec::len)),
        (200, Some("invalid"), Some(0))
    );
    assert_eq!(get(&base, &format!("/v1/blobs/{}", blob_id(8))).await.0, 404);
    let (status, body) = get(&base, "/v1/blobs/not-a-blob-id").await;
    assert_eq!(status, 400);
    assert!(body["error"]["message"].as_str().unwrap().contains("invalid blob ID"));

    // By object.
    let (status, body) = get(&base, &format!("/v1/blobs/by-object/{}", address(0xC))).await;
    assert_eq!((status, body["status"].as_str()), (200, Some("expired")));
    assert_eq!(get(&base, &format!("/v1/blobs/by-object/{}", address(0xD))).await.0, 404);
    assert_eq!(get(&base, "/v1/blobs/by-object/0xZZ").await.0, 400);

    // Listing with filters and pagination.
    let (_, page) = get(&base, "/v1/blobs?limit=2").await;
    assert_eq!(page["blobs"].as_array().unwrap().len(), 2);
    let cursor = page["next_cursor"].as_str().unwrap().to_owned();
    let (_, rest) = get(&base, &format!("/v1/blobs?limit=2&cursor={cursor}")).await;
    assert_eq!(rest["blobs"].as_array().unwrap().len(), 1);
    assert!(rest["next_cursor"].is_null());
    let objects =
        |page: &Value| page["blobs"].as_array().unwrap().iter().map(|b| b["object_id"].clone()).collect::<Vec<_>>();
    assert_eq!(
        objects(&get(&base, "/v1/blobs?status=certified").await.1),
        vec![Value::String(address(0xA).to_string())]
    );
    assert_eq!(objects(&get(&base, "/v1/blobs?deletable=true").await.1), vec![Value::String(address(0xB).to_string())]);
    assert_eq!(
        objects(&get(&base, "/v1/blobs?end_epoch_before=3").await.1),
        vec![Value::String(address(0xC).to_string())]
    );
    assert_eq!(get(&base, "/v1/blobs?status=lost").await.0, 400);
    assert_eq!(get(&base, "/v1/blobs?limit=0").await.0, 400);
    assert_eq!(get(&base, "/v1/blobs?cursor=nope").await.0, 400);
    assert_eq!(get(&base, "/v1/blobs?deletable=maybe").await.0, 400);

    // Events: by type, by blob, paginated in chain order; raw ones kept with data null.
    let (_, certified) = get(&base, "/v1/events?type=BlobCertified").await;
    let certified = certified["events"].as_array().unwrap().clone();
    assert_eq!(certified.len(), 2);
    assert_eq!(certified[0]["data"]["object_id"], address(0xA).to_string());
    assert!(certified[1]["data"].is_null());
    let (_, about) = get(&base, &format!("/v1/events?blob_id={}", blob_id(1))).await;
    assert_eq!(about["events"].as_array().unwrap().len(), 7);
    let mut seen = Vec::new();
    let mut cursor = String::new();
    loop {
        let (_, page) = get(&base, &format!("/v1/events?limit=5{cursor}")).await;
        seen.extend(
            page["events"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| (e["checkpoint"].as_u64(), e["tx_index"].as_u64(), e["event_index"].as_u64())),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(seen.len(), events as usize);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));
    assert_eq!(get(&base, "/v1/events?cursor=1.2").await.0, 400);
    assert_eq!(get(&base, "/v1/events?type=Blob';DROP").await.0, 400);

    // Epochs and nodes.
    let (_, epochs) = get(&base, "/v1/epochs").await;
    assert_eq!(epochs["epochs"].as_array().unwrap().len(), 3);
    let (_, one) = get(&base, "/v1/epochs/1").await;
    assert_eq!((one["storage_price_per_mib"].as_u64(), one["write_price_per_mib"].as_u64()), (Some(2), Some(3)));
    assert_eq!(one["committee"][0]["shards"], serde_json::json!([0, 1, 2]));
    assert_eq!(get(&base, "/v1/epochs/2").await.1["sync_done_checkpoint"], 5);
    assert_eq!(get(&base, "/v1/epochs/99").await.0, 404);
    assert_eq!(get(&base, "/v1/epochs/x").await.0, 400);
    let (_, nodes) = get(&base, "/v1/nodes").await;
    assert_eq!(nodes["nodes"].as_array().unwrap().len(), 2);
    let (status, n1) = get(&base, &format!("/v1/nodes/{}", address(0x51))).await;
    assert_eq!(status, 200);
    assert_eq!((n1["name"].as_str(), n1["staked_principal"].as_u64()), (Some("one"), Some(5 * WAL)));
    assert_eq!(n1["shards"], serde_json::json!([0, 1, 2]));
    assert_eq!(n1["history"][0]["reward"], 100);
    assert_eq!(get(&base, &format!("/v1/nodes/{}", address(0x59))).await.0, 404);

    // Stats, health, OpenAPI.
    let (_, stats) = get(&base, "/v1/stats").await;
    assert_eq!((stats["stored"]["blobs"].as_u64(), stats["certified"]["bytes"].as_u64()), (Some(1), Some(1000)));
    let (_, health) = get(&base, "/v1/health").await;
    assert_eq!((health["watermark_checkpoint"].as_u64(), health["epoch"].as_u64()), (Some(5), Some(3)));
    let (_, openapi) = get(&base, "/v1/openapi.json").await;
    for path in [
        "/v1/blobs/{blob_id}",
        "/v1/blobs",
        "/v1/events",
        "/v1/epochs/{epoch}",
        "/v1/nodes/{node_id}",
        "/v1/stats",
        "/v1/health",
    ] {
        assert!(openapi["paths"][path].is_object(), "{path} missing from the OpenAPI document");
    }
}

/// `/v1/stats` and pages of epochs are kept until the next commit of the store the API
/// watches: a repeated call does not read the tables (a change made behind the store's back
/// does not show), and the first call after a commit answers what an uncached server does.
#[sqlx::test(migrations = "../migrations")]
async fn cached_answers_last_until_the_next_commit(pool: PgPool) {
    let dir = folder_of(&history());
    let store = Store::from_pool(pool.clone());
    let cached = serve_with(&pool, Some(walrus_indexer::api::Cache::new(store.commits()))).await;
    let uncached = serve(&pool).await;
    let (_stop, rx) = watch::channel(false);
    let ingest_to =
        |last| ingest::run(store.clone(), Source::Dir(dir.path().into()), ingest_config(last, 1, 2), rx.clone());
    let paths = ["/v1/stats", "/v1/epochs", "/v1/epochs?limit=1"];
    ingest_to(2).await.unwrap();
    let mut before = Vec::new();
    for path in paths {
        let answer = get(&cached, path).await;
        assert_eq!(answer, get(&uncached, path).await, "{path}");
        before.push(answer);
    }
    sqlx::query("INSERT INTO epochs (epoch, storage_price) VALUES (9, 7)").execute(&pool).await.unwrap();
    for (path, before) in paths.into_iter().zip(&before) {
        assert_eq!(&get(&cached, path).await, before, "{path} read again without a commit");
        assert_ne!(&get(&uncached, path).await, before, "{path}: the change shows uncached");
    }
    ingest_to(5).await.unwrap();
    for path in paths {
        assert_eq!(get(&cached, path).await, get(&uncached, path).await, "{path} after a commit");
    }
}

/// Mutation it catches: reading a wrong-length stored ID as all zeros
/// (`unwrap_or([0; 32])`) instead of refusing it.
#[sqlx::test(migrations = "../migrations")]
async fn a_damaged_stored_id_is_an_error_never_a_zero_id(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    for checkpoint in history() {
        write_binpb_zst(dir.path(), &checkpoint);
    }
    ingest_folder(&pool, dir.path(), 5, 5).await;
    let base = serve(&pool).await;
    let (status, _) = get(&base, "/v1/blobs").await;
    assert_eq!(status, 200);

    sqlx::query("UPDATE blobs SET blob_id = substring(blob_id from 2) WHERE object_id = $1")
        .bind(address(0xC).as_bytes().to_vec())
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("UPDATE nodes SET node_id = substring(node_id from 2) WHERE node_id = $1")
        .bind(address(0x51).as_bytes().to_vec())
        .execute(&pool)
        .await
        .unwrap();
    for path in ["/v1/blobs".to_string(), format!("/v1/blobs/by-object/{}", address(0xC)), "/v1/nodes".into()] {
        let (status, body) = get(&base, &path).await;
        assert_eq!(status, 500, "{path}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(message.contains("31 bytes instead of 32"), "{path}: {message}");
        assert!(!body.to_string().contains(&"00".repeat(32)), "{path} shows a zero ID: {body}");
    }
}

#[sqlx::test(migrations = "../migrations")]
async fn batch_size_does_not_change_the_result(pool: PgPool) {
    // The same history ingested one checkpoint per transaction gives the same rows as in one.
    let dir = tempfile::tempdir().unwrap();
    for checkpoint in history() {
        write_binpb_zst(dir.path(), &checkpoint);
    }
    ingest_folder(&pool, dir.path(), 5, 1).await;
    let one_by_one = dump(&pool).await;
    truncate_all(&pool).await;
    ingest_folder(&pool, dir.path(), 5, 100).await;
    assert_eq!(dump(&pool).await, one_by_one);
}

#[sqlx::test(migrations = "../migrations")]
async fn follows_files_as_they_appear(pool: PgPool) {
    let dir = tempfile::tempdir().unwrap();
    let history = history();
    write_binpb_zst(dir.path(), &history[0]);
    let path = dir.path().to_owned();
    let writer = tokio::spawn(async move {
        for checkpoint in &history[1..] {
            tokio::time::sleep(Duration::from_millis(50)).await;
            write_binpb_zst(&path, checkpoint);
        }
    });
    ingest_folder(&pool, dir.path(), 5, 10).await;
    writer.await.unwrap();
    assert_eq!(Store::from_pool(pool).watermark().await.unwrap().unwrap().checkpoint, 5);
}

#[sqlx::test(migrations = "../migrations")]
async fn reads_a_checkpoint_store_over_http(pool: PgPool) {
    // A store that has checkpoints 0 to 5 and answers 404 for anything else.
    let dir = tempfile::tempdir().unwrap();
    for checkpoint in history() {
        write_binpb_zst(dir.path(), &checkpoint);
    }
    let root = dir.path().to_owned();
    let app = axum::Router::new().route(
        "/{file}",
        axum::routing::get(move |axum::extract::Path(file): axum::extract::Path<String>| {
            let root = root.clone();
            async move {
                match std::fs::read(root.join(&file)) {
                    Ok(bytes) => Ok(bytes),
                    Err(_) => Err(axum::http::StatusCode::NOT_FOUND),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let config = ingest_config(5, 3, 3);
    let (_tx, rx) = watch::channel(false);
    let source = Source::parse(&format!("http://{address}")).unwrap();
    tokio::time::timeout(Duration::from_secs(30), ingest::run(Store::from_pool(pool.clone()), source, config, rx))
        .await
        .unwrap()
        .unwrap();
    let (events,): (i64,) = sqlx::query_as("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(events, 26);
    assert!(Source::parse("ftp://nowhere").is_err());
    assert!(Source::parse("grpc+not a uri").is_err());
}

#[sqlx::test(migrations = "../migrations")]
async fn follows_event_types_added_by_package_upgrades(pool: PgPool) {
    // An upgrade at a new address keeps the old types' origins and defines a new event type.
    let upgraded = address(0xEF);
    let new_event = || raw_event(upgraded, "events", "SomethingNew", vec![42]);

    let dir = tempfile::tempdir().unwrap();
    // Before the upgrade is seen, the new address is not ours.
    write_binpb_zst(dir.path(), &checkpoint(0, vec![vec![new_event()]]));
    let mut publish = checkpoint(1, vec![vec![]]);
    publish_upgrade(&mut publish, upgraded, "SomethingNew");
    write_binpb_zst(dir.path(), &publish);
    write_binpb_zst(dir.path(), &checkpoint(2, vec![vec![new_event()]]));
    ingest_folder(&pool, dir.path(), 2, 1).await;

    let rows: Vec<(i64, String)> =
        sqlx::query_as("SELECT checkpoint, type_name FROM events").fetch_all(&pool).await.unwrap();
    assert_eq!(rows, vec![(2, "SomethingNew".to_owned())]);
    // The learned origin survives a restart.
    let origins = Store::from_pool(pool.clone()).origins(package()).await.unwrap();
    assert!(origins.addresses().any(|a| *a == upgraded));
    write_binpb_zst(dir.path(), &checkpoint(3, vec![vec![new_event()]]));
    ingest_folder(&pool, dir.path(), 3, 1).await;
    let (count,): (i64,) = sqlx::query_as("SELECT count(*) FROM events").fetch_one(&pool).await.unwrap();
    assert_eq!(count, 2);
}

/// A commit whose answer was lost (abandoned after a timeout, yet committed by the server) is
/// retried: the retry must change nothing and succeed, while a batch that skips checkpoints is
/// still refused.
#[sqlx::test(migrations = "../migrations")]
async fn a_batch_committed_twice_is_written_once(pool: PgPool) {
    use walrus_chain::checkpoint::Checkpoint;
    use walrus_chain::events::PackageOrigins;
    use walrus_indexer::process::Batch;
    use walrus_indexer::store::CommitError;

    let checkpoints: Vec<Checkpoint> = history().iter().map(|c| Checkpoint::from_proto(c).unwrap()).collect();
    let mut origins = PackageOrigins::from_addresses([package()]);
    let batch = |range: std::ops::Range<usize>, origins: &mut PackageOrigins| {
        let mut batch = Batch::default();
        for checkpoint in &checkpoints[range] {
            batch.add(checkpoint, origins);
        }
        batch
    };
    let (first, second) = (batch(0..3, &mut origins), batch(3..6, &mut origins));
    let store = Store::from_pool(pool.clone());
    store.commit(&first).await.unwrap();
    let once = dump(&pool).await;
    store.commit(&first).await.unwrap();
    assert_eq!(dump(&pool).await, once);
    let mut skipping = second.clone();
    skipping.first_checkpoint = Some(4);
    assert!(matches!(store.commit(&skipping).await, Err(CommitError::NotNext { first: 4, watermark: 2 })));
    store.commit(&second).await.unwrap();
    store.commit(&first).await.unwrap();
    assert_eq!(store.watermark().await.unwrap().unwrap().checkpoint, 5);
    assert_eq!(store.watermark().await.unwrap().unwrap().digest, Some(checkpoint_digest(5)));
}
