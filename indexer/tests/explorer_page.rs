//! The explorer page in a real browser: an indexer filled from generated checkpoints serves
//! the page and the API, and `scripts/explorer-test.mjs` drives headless Chromium over every
//! view, checking what it shows against what the API returns. Screenshots land in
//! `target/explorer-screenshots/` for review.
//!
//! Needs `npm ci --prefix scripts` (playwright-core) and Debian's chromium at /usr/bin/chromium;
//! `scripts/test-all.sh` installs both.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use common::*;
use sqlx::PgPool;
use sui_rpc::proto::sui::rpc::v2::Checkpoint;
use walrus_chain::events::*;
use walrus_chain::source::Source;
use walrus_encoder::BlobId as EncoderBlobId;
use walrus_indexer::ingest;
use walrus_indexer::store::Store;

/// Three nodes, four epochs with prices, capacity, committees and rewards, and blobs
/// registered, certified, tagged and deleted over them.
fn network() -> Vec<Checkpoint> {
    let nodes = [(address(0x51), "alpha"), (address(0x52), "beta"), (address(0x53), "gamma")];
    let mut checkpoints = vec![checkpoint(0, vec![])];
    let mut setup = Vec::new();
    for (i, (node, name)) in nodes.iter().enumerate() {
        let i = i as u8;
        setup.push(ours(&NodeRegistered {
            epoch: 0,
            node_id: *node,
            name: (*name).into(),
            network_address: format!("{name}.walrus.example:9185"),
            public_key: vec![0x10 + i; 48],
            network_public_key: vec![0x20 + i; 33],
            commission_rate: 100 * (i as u16 + 1),
        }));
        setup.push(ours(&StakeDeposited {
            epoch: 0,
            node_id: *node,
            staked_wal_id: address(0x60 + i),
            amount: (i as u64 + 1) * 1000 * WAL,
            activation_epoch: 1,
        }));
    }
    checkpoints.push(checkpoint(1, vec![setup]));
    let mut sequence = 2;
    let mut object = 0x80u8;
    for epoch in 1..=4u32 {
        let shards: Vec<Vec<u16>> = vec![(0..5).collect(), (5..8).collect(), (8..10 + epoch as u16).collect()];
        let mut change = vec![
            ours(&CommitteeSelected { epoch, node_ids: nodes.iter().map(|n| n.0).collect(), shards }),
            ours(&EpochChangeStart { epoch }),
            ours(&PricesUpdated {
                epoch,
                storage_price: 1000 + 100 * epoch as u64,
                write_price: 2000 - 50 * epoch as u64,
            }),
            ours(&CapacityUpdated { epoch, total_capacity_size: (epoch as u64) << 40, used_capacity_size: 1 << 30 }),
        ];
        if epoch > 1 {
            for (i, (node, _)) in nodes.iter().enumerate() {
                let stake = (i as u64 + 1) * 1000 * WAL;
                change.push(ours(&RewardsDistributed {
                    epoch: epoch - 1,
                    node_id: *node,
                    reward: epoch as u64 * WAL,
                    commission: WAL / 10,
                    pool_wal: stake + epoch as u64 * 3 * WAL,
                    pool_shares: stake,
                }));
            }
        }
        checkpoints.push(checkpoint(sequence, vec![change]));
        sequence += 1;
        let first = object + 1;
        let mut blobs = Vec::new();
        for n in 0..epoch * 2 {
            object += 1;
            let mut register = registered(object, object, 1000 * (n as u64 + 1), n % 2 == 1, epoch + 5);
            register.epoch = epoch;
            blobs.push(vec![ours(&register)]);
        }
        checkpoints.push(checkpoint(sequence, blobs));
        sequence += 1;
        // Every other blob of the epoch is certified.
        let certify = (first..=object)
            .step_by(2)
            .map(|o| {
                ours(&BlobCertified {
                    epoch,
                    blob_id: blob_id(o),
                    end_epoch: epoch + 5,
                    deletable: false,
                    object_id: address(o),
                    is_extension: false,
                })
            })
            .collect();
        checkpoints.push(checkpoint(sequence, vec![certify]));
        sequence += 1;
    }
    // The sampled blob: tagged, and a second object of the same blob ID that is deleted.
    checkpoints.push(checkpoint(
        sequence,
        vec![
            vec![
                ours(&BlobAttributeSet {
                    blob_id: blob_id(0x81),
                    object_id: address(0x81),
                    key: "content-type".into(),
                    value: "image/png".into(),
                }),
                ours(&BlobAttributeSet {
                    blob_id: blob_id(0x81),
                    object_id: address(0x81),
                    key: "name".into(),
                    value: "<b>walrus</b>.png".into(),
                }),
            ],
            vec![ours(&BlobRegistered {
                epoch: 4,
                blob_id: blob_id(0x81),
                size: 1000,
                encoding_type: 1,
                end_epoch: 6,
                deletable: true,
                object_id: address(0xF1),
            })],
            vec![ours(&BlobDeleted {
                epoch: 4,
                blob_id: blob_id(0x81),
                end_epoch: 6,
                object_id: address(0xF1),
                was_certified: false,
            })],
        ],
    ));
    checkpoints
}

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

#[sqlx::test(migrations = "../migrations")]
async fn every_view_shows_what_the_api_returns_in_chromium(pool: PgPool) {
    let checkpoints = network();
    let last = checkpoints.len() as u64 - 1;
    let dir = folder_of(&checkpoints);
    let config = ingest_config(last, 5, 4);
    let status = config.status.clone();
    let (_stop, stopping) = tokio::sync::watch::channel(false);
    let ingestion = ingest::run(Store::from_pool(pool.clone()), Source::Dir(dir.path().into()), config, stopping);
    match tokio::time::timeout(Duration::from_secs(30), ingestion).await {
        Ok(result) => result.expect("ingestion succeeds"),
        Err(_) => panic!("ingestion did not finish: {:?}", status.report()),
    };
    let base = serve(&pool).await;

    let sample = EncoderBlobId(blob_id(0x81).0);
    let screenshots = workspace().join("target/explorer-screenshots");
    let stdout = browser_script(
        &[],
        vec![
            ("EXPLORER_URL", base),
            ("EXPLORER_BLOB_ID", sample.to_string()),
            ("EXPLORER_BLOB_HEX", hex::encode(sample.0)),
            ("EXPLORER_BLOB_DECIMAL", sample.to_u256_decimal()),
            ("EXPLORER_OBJECT_ID", address(0x81).to_string()),
            ("EXPLORER_EPOCH", "3".into()),
            ("EXPLORER_NODE_ID", address(0x53).to_string()),
            ("EXPLORER_SCREENSHOTS", screenshots.display().to_string()),
        ],
    )
    .await;
    assert!(stdout.contains("explorer: all checks passed"), "{stdout}");
}

/// Runs `scripts/explorer-test.mjs` with `args` and `env`; returns its output, failing the
/// test with it if the script fails.
async fn browser_script(args: &[&str], env: Vec<(&'static str, String)>) -> String {
    let mut command = Command::new("node");
    command.arg(workspace().join("scripts/explorer-test.mjs")).args(args).envs(env);
    // The server runs on this runtime while the browser script blocks a thread of its own.
    let output = tokio::task::spawn_blocking(move || command.output())
        .await
        .unwrap()
        .expect("node runs (the browser tests need Node.js; see scripts/test-all.sh)");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    println!("{stdout}");
    assert!(
        output.status.success(),
        "explorer-test.mjs failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// Benchmark (README, "Explorer"): the home page's time to interactive in Chromium with a
/// million blobs, 100 epochs and 100 nodes in the tables (`million.sql`).
#[ignore = "benchmark: fills a million blobs (about a minute)"]
#[sqlx::test(migrations = "../migrations")]
async fn home_page_is_interactive_within_a_second_with_a_million_blobs(pool: PgPool) {
    let filled = std::time::Instant::now();
    sqlx::raw_sql(include_str!("million.sql")).execute(&pool).await.unwrap();
    println!("filled a million blobs in {:.1} s", filled.elapsed().as_secs_f64());
    let (blobs,): (i64,) = sqlx::query_as("SELECT count(*) FROM blobs").fetch_one(&pool).await.unwrap();
    assert_eq!(blobs, 1_000_000);
    let base = serve(&pool).await;
    let stdout = browser_script(&["--bench", "15"], vec![("EXPLORER_URL", base)]).await;
    let median: f64 = stdout
        .lines()
        .find_map(|line| line.strip_prefix("home page interactive: median ")?.split(' ').next()?.parse().ok())
        .expect("the script prints the median");
    assert!(median < 1000.0, "home page interactive after {median} ms (median), not under 1 s");
}
