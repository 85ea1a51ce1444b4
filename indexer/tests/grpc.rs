//! Ingestion from a Sui full node over gRPC, against a fake node that implements the real
//! `sui.rpc.v2.LedgerService` (sui-rpc's generated server) and whose tip moves while the
//! indexer runs.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use sqlx::PgPool;
use sui_rpc::proto::sui::rpc::v2::ledger_service_server::{LedgerService, LedgerServiceServer};
use sui_rpc::proto::sui::rpc::v2::{self as proto, get_checkpoint_request::CheckpointId};
use tokio::sync::watch;
use walrus_chain::source::Source;
use walrus_indexer::ingest;
use walrus_indexer::store::Store;

/// Serves the checkpoints it has, only the fields the read mask asks for (as sui-rpc's merge
/// does for a full node), answers NOT_FOUND beyond its tip, and fails the first request with
/// UNAVAILABLE, as a restarting node would.
#[derive(Clone, Default)]
struct FakeNode {
    checkpoints: Arc<Mutex<Vec<proto::Checkpoint>>>,
    requests: Arc<Mutex<u64>>,
    /// What the node reports as its oldest checkpoint (pruned below).
    lowest: u64,
}

#[tonic::async_trait]
impl LedgerService for FakeNode {
    async fn get_checkpoint(
        &self,
        request: tonic::Request<proto::GetCheckpointRequest>,
    ) -> Result<tonic::Response<proto::GetCheckpointResponse>, tonic::Status> {
        let request = request.into_inner();
        {
            let mut requests = self.requests.lock().unwrap();
            *requests += 1;
            if *requests == 1 {
                return Err(tonic::Status::unavailable("starting up"));
            }
        }
        let mask = request.read_mask.ok_or_else(|| tonic::Status::invalid_argument("no read mask"))?;
        for needed in ["sequence_number", "summary.timestamp", "transactions.events.bcs", "transactions.digest"] {
            if !mask.paths.iter().any(|p| p == needed) {
                return Err(tonic::Status::invalid_argument(format!("read mask lacks {needed}")));
            }
        }
        let Some(CheckpointId::SequenceNumber(sequence)) = request.checkpoint_id else {
            return Err(tonic::Status::invalid_argument("expected a sequence number"));
        };
        let checkpoints = self.checkpoints.lock().unwrap();
        let checkpoint = checkpoints.get(sequence as usize).cloned().ok_or_else(|| {
            let mut status = tonic::Status::not_found(format!("checkpoint {sequence} not yet executed"));
            status.metadata_mut().insert("x-sui-lowest-available-checkpoint", self.lowest.to_string().parse().unwrap());
            status
        })?;
        let mut response = proto::GetCheckpointResponse::default();
        let mask = sui_rpc::field::FieldMaskTree::from_field_mask(&mask);
        response.checkpoint = Some(sui_rpc::merge::Merge::merge_from(&checkpoint, &mask));
        Ok(tonic::Response::new(response))
    }
}

/// Serves `node` on a free loopback port.
async fn serve(node: FakeNode) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(LedgerServiceServer::new(node))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener))
            .await
            .unwrap()
    });
    address
}

#[sqlx::test(migrations = "../migrations")]
async fn follows_a_full_node_as_its_tip_moves(pool: PgPool) {
    let history = history();
    let node = FakeNode::default();
    node.checkpoints.lock().unwrap().extend(history[..3].iter().cloned());
    let address = serve(node.clone()).await;

    let source = Source::parse(&format!("grpc+http://{address}")).unwrap();
    let config = ingest_config(5, 2, 2);
    let (_tx, rx) = watch::channel(false);
    let ingestion = tokio::spawn(ingest::run(Store::from_pool(pool.clone()), source, config, rx));

    // The node executes the rest while the indexer waits at the tip.
    // (Polled: a fixed 300 ms was too short on a loaded machine.)
    let waiting = std::time::Instant::now();
    while Store::from_pool(pool.clone()).watermark().await.unwrap().map(|w| w.checkpoint) != Some(2) {
        assert!(waiting.elapsed() < Duration::from_secs(10), "checkpoints 0 to 2 not committed within 10 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    node.checkpoints.lock().unwrap().extend(history[3..].iter().cloned());
    tokio::time::timeout(Duration::from_secs(30), ingestion).await.unwrap().unwrap().unwrap();

    // The same rows as ingesting the same checkpoints from a folder.
    let from_node = dump(&pool).await;
    truncate_all(&pool).await;
    let dir = tempfile::tempdir().unwrap();
    for checkpoint in &history {
        write_binpb_zst(dir.path(), checkpoint);
    }
    let config = ingest_config(5, 100, 4);
    let (_tx, rx) = watch::channel(false);
    ingest::run(Store::from_pool(pool.clone()), Source::Dir(dir.path().into()), config, rx).await.unwrap();
    assert_eq!(dump(&pool).await, from_node);
    assert!(from_node.iter().filter(|r| r.starts_with("events:")).count() == 26);
}

/// A full node sends what checking certificates needs, when asked for it: the summary's BCS and
/// the validators' signature, across an epoch change.
#[sqlx::test(migrations = "../migrations")]
async fn certificates_from_a_full_node_are_checked(pool: PgPool) {
    let (history, first, second) = certified_history();
    let node = FakeNode::default();
    node.checkpoints.lock().unwrap().extend(history);
    let address = serve(node).await;
    let source = Source::parse(&format!("grpc+http://{address}")).unwrap();
    let mut config = ingest_config(5, 2, 2);
    config.validator_committee = Some(first.committee());
    let (_tx, rx) = watch::channel(false);
    let run = ingest::run(Store::from_pool(pool.clone()), source, config, rx);
    tokio::time::timeout(Duration::from_secs(30), run).await.unwrap().unwrap();
    let watermark = Store::from_pool(pool.clone()).watermark().await.unwrap().unwrap();
    assert_eq!((watermark.checkpoint, watermark.validator_committee), (5, Some(second.committee())));
}

#[tokio::test]
async fn a_pruned_checkpoint_is_an_error_not_a_wait() {
    // A node that pruned everything below 1000 and has nothing at or above it yet.
    let node = FakeNode { lowest: 1000, ..FakeNode::default() };
    *node.requests.lock().unwrap() = 1; // no start-up failure here
    let address = serve(node).await;
    let source = Source::parse(&format!("grpc+http://{address}")).unwrap();
    let error = source.fetch(walrus_chain::checkpoint::CheckpointSequence(5)).await.unwrap_err();
    assert!(error.to_string().contains("pruned checkpoint 5 (its lowest is 1000)"), "{error}");
    assert!(source.fetch(walrus_chain::checkpoint::CheckpointSequence(1000)).await.unwrap().is_none());
}
