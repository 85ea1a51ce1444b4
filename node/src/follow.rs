//! The node following the chain itself: checkpoints from a source, in order, each turned into
//! chain updates and applied in one transaction (several at once behind the tip) with its
//! watermark, its digest and the package versions it published. What the mapping needs from earlier checkpoints (node keys, the
//! selected committee, pools) lives in the store and is read inside that transaction, so a
//! crash anywhere leaves the view at a checkpoint boundary.
//!
//! A missing checkpoint is waited for; source and store errors are logged and retried with a
//! growing pause, never skipped. Events of our package that cannot be used are logged and
//! counted, not fatal: a newer package may emit what this node does not know.

use std::time::Duration;

use sui_sdk_types::{Address, Digest};
use walrus_chain::checkpoint::{Checkpoint, CheckpointSequence};
use walrus_chain::events::{PackageOrigins, WalrusEvent};
use walrus_chain::follow::{events_of, ChainEvent};
use walrus_chain::source::{Source, SourceError};
use walrus_encoder::BlobId;

use crate::chain::{ChainUpdate, EventId, ObjectId};
use crate::node::Node;
use crate::store::{FollowedCheckpoint, StoreError};

/// The length of a compressed BLS12-381 G1 public key, as node registration checks it.
const PUBLIC_KEY_LENGTH: usize = 48;
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(10);
/// The most checkpoints fetched at once and applied in one transaction.
pub const MAX_BATCH: usize = 64;

/// How a node follows the chain.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    /// The Walrus package's original ID; upgrades are followed from it.
    pub package: Address,
    /// The checkpoint to start at when the store has applied none.
    pub first_checkpoint: u64,
    /// How often to look again for a checkpoint the source does not have yet.
    pub poll_interval: Duration,
}

/// The updates of one checkpoint's events, and how many events could not be used.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Mapped {
    pub updates: Vec<ChainUpdate>,
    pub unusable: u64,
}

/// Maps our events, in chain order, to chain updates. Events that change nothing the node
/// keeps (stake, prices, attributes…) map to none.
pub fn updates_of(events: &[ChainEvent]) -> Mapped {
    let mut mapped = Mapped::default();
    for event in events {
        match update_of(event) {
            Ok(Some(update)) => mapped.updates.push(update),
            Ok(None) => {}
            Err(reason) => {
                tracing::warn!(
                    checkpoint = %event.checkpoint,
                    tx = %event.tx_digest,
                    event_index = event.event_index,
                    event_type = %event.type_name,
                    %reason,
                    "an event of the followed package cannot be used"
                );
                mapped.unusable += 1;
            }
        }
    }
    mapped
}

fn object(address: &Address) -> ObjectId {
    ObjectId(address.into_inner())
}

fn blob(id: &walrus_chain::events::BlobId) -> BlobId {
    BlobId(id.0)
}

fn update_of(event: &ChainEvent) -> Result<Option<ChainUpdate>, String> {
    let decoded = event.decoded.as_ref().map_err(ToString::to_string)?;
    let id = || -> Result<EventId, String> {
        let digest: Digest =
            event.tx_digest.parse().map_err(|e| format!("transaction digest {:?}: {e}", event.tx_digest))?;
        Ok(EventId { tx_digest: digest.into_inner(), event_seq: u64::from(event.event_index) })
    };
    let node = |node_id: &Address, public_key: &Vec<u8>, network_address: &String| {
        if public_key.len() != PUBLIC_KEY_LENGTH {
            return Err(format!("node {node_id}'s public key has {} bytes, not {PUBLIC_KEY_LENGTH}", public_key.len()));
        }
        Ok(Some(ChainUpdate::NodeRegistered {
            node_id: object(node_id),
            public_key: public_key.clone(),
            network_address: network_address.clone(),
        }))
    };
    Ok(Some(match decoded {
        WalrusEvent::BlobRegistered(e) => ChainUpdate::BlobRegistered {
            blob_id: blob(&e.blob_id),
            object_id: object(&e.object_id),
            end_epoch: e.end_epoch,
            deletable: e.deletable,
            event: id()?,
        },
        WalrusEvent::BlobCertified(e) => ChainUpdate::BlobCertified {
            blob_id: blob(&e.blob_id),
            object_id: object(&e.object_id),
            end_epoch: e.end_epoch,
            deletable: e.deletable,
            event: id()?,
        },
        WalrusEvent::BlobDeleted(e) => {
            ChainUpdate::BlobDeleted { blob_id: blob(&e.blob_id), object_id: object(&e.object_id) }
        }
        // A burned object keeps its blob no longer, certified or not.
        WalrusEvent::BlobBurned(e) => {
            ChainUpdate::BlobDeleted { blob_id: blob(&e.blob_id), object_id: object(&e.object_id) }
        }
        WalrusEvent::InvalidBlobID(e) => ChainUpdate::BlobIdInvalidated { blob_id: blob(&e.blob_id), event: id()? },
        WalrusEvent::StoragePoolCreated(e) => {
            ChainUpdate::StoragePoolCreated { pool_id: object(&e.storage_pool_id), end_epoch: e.end_epoch }
        }
        WalrusEvent::StoragePoolExtended(e) => {
            ChainUpdate::StoragePoolExtended { pool_id: object(&e.storage_pool_id), end_epoch: e.new_end_epoch }
        }
        WalrusEvent::PooledBlobRegistered(e) => ChainUpdate::PooledBlobRegistered {
            blob_id: blob(&e.blob_id),
            object_id: object(&e.object_id),
            pool_id: object(&e.storage_pool_id),
            deletable: e.deletable,
            event: id()?,
        },
        WalrusEvent::PooledBlobCertified(e) => ChainUpdate::PooledBlobCertified {
            blob_id: blob(&e.blob_id),
            object_id: object(&e.object_id),
            pool_id: object(&e.storage_pool_id),
            deletable: e.deletable,
            event: id()?,
        },
        WalrusEvent::PooledBlobDeleted(e) => {
            ChainUpdate::BlobDeleted { blob_id: blob(&e.blob_id), object_id: object(&e.object_id) }
        }
        WalrusEvent::NodeRegistered(e) => return node(&e.node_id, &e.public_key, &e.network_address),
        WalrusEvent::NodeUpdated(e) => return node(&e.node_id, &e.public_key, &e.network_address),
        WalrusEvent::NodeDeregistered(e) => ChainUpdate::NodeDeregistered { node_id: object(&e.node_id) },
        WalrusEvent::CommitteeSelected(e) => {
            if e.node_ids.len() != e.shards.len() {
                return Err(format!("{} node IDs but {} shard lists", e.node_ids.len(), e.shards.len()));
            }
            let members = e.node_ids.iter().map(object).zip(e.shards.iter().cloned()).collect();
            ChainUpdate::CommitteeSelected { epoch: e.epoch, members }
        }
        WalrusEvent::EpochChangeStart(e) => ChainUpdate::EpochChangeStarted { epoch: e.epoch },
        _ => return Ok(None),
    }))
}

/// Applies checkpoints in one transaction; `origins` learns their upgrades only once they are
/// stored with them.
fn apply(node: &Node, checkpoints: &[Checkpoint], origins: &mut PackageOrigins) -> Result<usize, StoreError> {
    let mut learned = origins.clone();
    let mut prepared = Vec::with_capacity(checkpoints.len());
    for checkpoint in checkpoints {
        let found = events_of(checkpoint, &mut learned);
        let mapped = updates_of(&found.events);
        let new_origins: Vec<ObjectId> = found.new_origins.iter().map(object).collect();
        prepared.push((checkpoint, found.events.len() as u64, mapped, new_origins));
    }
    let steps: Vec<FollowedCheckpoint<'_>> = prepared
        .iter()
        .map(|(checkpoint, events, mapped, new_origins)| FollowedCheckpoint {
            sequence: checkpoint.sequence_number.0,
            digest: checkpoint.digest.into_inner(),
            previous_digest: checkpoint.previous_digest.map(Digest::into_inner),
            updates: &mapped.updates,
            new_origins,
            events: *events,
            undecodable: mapped.unusable,
        })
        .collect();
    let applied = node.apply_followed(&steps)?;
    *origins = learned;
    if applied > 0 {
        let events: u64 = steps.iter().map(|s| s.events).sum();
        let unusable: u64 = steps.iter().map(|s| s.undecodable).sum();
        let latest = steps.last().map_or(0, |s| s.sequence);
        node.state.record(|| {
            metrics::counter!("chain_checkpoints_applied_total").increment(applied as u64);
            metrics::counter!("chain_events_total").increment(events);
            metrics::counter!("chain_events_unusable_total").increment(unusable);
            metrics::gauge!("chain_latest_checkpoint").set(latest as f64);
        });
    }
    Ok(applied)
}

/// Checkpoints `first`, `first + 1`, … fetched `count` at a time concurrently, up to the first
/// the source lacks; an error only if the first cannot be read.
async fn fetch_ahead(source: &Source, first: u64, count: usize) -> Result<Vec<Checkpoint>, SourceError> {
    let mut fetches = tokio::task::JoinSet::new();
    for offset in 0..count as u64 {
        let source = source.clone();
        fetches.spawn(async move { (offset, source.fetch(CheckpointSequence(first + offset)).await) });
    }
    let mut results: Vec<_> = fetches.join_all().await;
    results.sort_by_key(|(offset, _)| *offset);
    let mut checkpoints = Vec::new();
    for (offset, result) in results {
        let wanted = first + offset;
        // A file named for one checkpoint may hold another: never apply it as the wanted one.
        let result = result.and_then(|found| match found {
            Some(checkpoint) if checkpoint.sequence_number.0 != wanted => {
                Err(SourceError::WrongCheckpoint { wanted, got: checkpoint.sequence_number.0 })
            }
            other => Ok(other),
        });
        match result {
            Ok(Some(checkpoint)) => checkpoints.push(checkpoint),
            Ok(None) => break,
            Err(error) if checkpoints.is_empty() => return Err(error),
            // The next round reports it if it persists.
            Err(_) => break,
        }
    }
    Ok(checkpoints)
}

/// Follows `source` forever from the checkpoint after the watermark. Far from the tip it
/// fetches up to [`MAX_BATCH`] checkpoints at once and applies them in one transaction; at the
/// tip, one at a time.
pub(crate) async fn run(node: Node, source: Source, config: FollowConfig) {
    let learned = loop {
        match node.state.store.origins() {
            Ok(origins) => break origins,
            Err(error) => {
                tracing::error!(%error, "cannot read the store to start following; retrying");
                tokio::time::sleep(LONGEST_PAUSE).await;
            }
        }
    };
    let watermark = node.state.store.watermark();
    match node.state.store.pending_syncs() {
        Ok(pending) => {
            for blob_id in pending {
                tokio::spawn(crate::sync::sync_blob(node.state.clone(), blob_id));
            }
        }
        Err(error) => tracing::error!(%error, "cannot read the blobs whose sync was cut short"),
    }
    let mut origins = PackageOrigins::from_addresses(
        std::iter::once(config.package).chain(learned.iter().map(|o| Address::new(o.0))),
    );
    let mut next = watermark.map_or(config.first_checkpoint, |w| w + 1);
    tracing::info!(checkpoint = next, source = ?source, package = %config.package, "following the chain");
    let mut waiting = false;
    let mut pause = FIRST_PAUSE;
    let mut batch = 1;
    loop {
        let failure = match fetch_ahead(&source, next, batch).await {
            Ok(checkpoints) if checkpoints.is_empty() => {
                if !waiting {
                    tracing::info!(checkpoint = next, "waiting for the checkpoint to appear at the source");
                    waiting = true;
                }
                batch = 1;
                // The source answered: a later failure starts over from the first pause.
                pause = FIRST_PAUSE;
                tokio::time::sleep(config.poll_interval).await;
                continue;
            }
            Ok(checkpoints) => match apply(&node, &checkpoints, &mut origins) {
                Ok(_) => {
                    next += checkpoints.len() as u64;
                    waiting = false;
                    pause = FIRST_PAUSE;
                    batch = if checkpoints.len() == batch { (batch * 2).min(MAX_BATCH) } else { 1 };
                    continue;
                }
                Err(error) => {
                    tracing::error!(
                        checkpoint = next,
                        count = checkpoints.len(),
                        %error,
                        "cannot apply the checkpoints; retrying"
                    );
                    // One at a time, so the checkpoints before a bad one are applied.
                    batch = 1;
                    "apply"
                }
            },
            Err(error) => {
                tracing::warn!(checkpoint = next, %error, "cannot read the checkpoint; retrying");
                "source"
            }
        };
        node.state.record(|| metrics::counter!("chain_follow_errors_total", "kind" => failure).increment(1));
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
    }
}

#[cfg(test)]
mod tests {
    use walrus_chain::events as ev;
    use walrus_chain::follow::UndecodedEvent;

    use super::*;

    fn event(decoded: Result<WalrusEvent, UndecodedEvent>) -> ChainEvent {
        ChainEvent {
            checkpoint: CheckpointSequence(7),
            timestamp_ms: 0,
            tx_index: 0,
            tx_digest: Digest::new([3; 32]).to_string(),
            event_index: 2,
            package: Address::ZERO,
            type_name: decoded.as_ref().map_or("Unknown", |e| e.name()).into(),
            sender: Address::ZERO,
            bcs: Vec::new(),
            decoded,
        }
    }

    fn registration(public_key: Vec<u8>) -> WalrusEvent {
        WalrusEvent::NodeRegistered(ev::NodeRegistered {
            epoch: 0,
            node_id: Address::new([1; 32]),
            name: "n".into(),
            network_address: "127.0.0.1:1".into(),
            public_key,
            network_public_key: vec![],
            commission_rate: 0,
        })
    }

    #[test]
    fn unusable_events_are_counted_and_the_rest_mapped() {
        let burned = WalrusEvent::BlobBurned(ev::BlobBurned {
            blob_id: ev::BlobId([5; 32]),
            object_id: Address::new([6; 32]),
            end_epoch: 3,
            was_certified: true,
        });
        let lopsided = WalrusEvent::CommitteeSelected(ev::CommitteeSelected {
            epoch: 1,
            node_ids: vec![Address::ZERO],
            shards: vec![],
        });
        let certified = WalrusEvent::BlobCertified(ev::BlobCertified {
            epoch: 1,
            blob_id: ev::BlobId([5; 32]),
            end_epoch: 4,
            deletable: true,
            object_id: Address::new([6; 32]),
            is_extension: false,
        });
        let events = [
            event(Err(UndecodedEvent::UnknownType("Future".into()))),
            event(Ok(registration(vec![0; 47]))),
            event(Ok(lopsided)),
            event(Ok(WalrusEvent::EpochChangeDone(ev::EpochChangeDone { epoch: 1 }))),
            event(Ok(registration(vec![0; 48]))),
            event(Ok(burned)),
            event(Ok(certified)),
        ];
        let mapped = updates_of(&events);
        assert_eq!(mapped.unusable, 3);
        assert_eq!(
            mapped.updates,
            [
                ChainUpdate::NodeRegistered {
                    node_id: ObjectId([1; 32]),
                    public_key: vec![0; 48],
                    network_address: "127.0.0.1:1".into()
                },
                ChainUpdate::BlobDeleted { blob_id: BlobId([5; 32]), object_id: ObjectId([6; 32]) },
                ChainUpdate::BlobCertified {
                    blob_id: BlobId([5; 32]),
                    object_id: ObjectId([6; 32]),
                    end_epoch: 4,
                    deletable: true,
                    event: EventId { tx_digest: [3; 32], event_seq: 2 },
                },
            ]
        );
    }

    #[test]
    fn an_event_without_a_transaction_digest_is_unusable() {
        let mut bad =
            event(Ok(WalrusEvent::InvalidBlobID(ev::InvalidBlobID { epoch: 1, blob_id: ev::BlobId([1; 32]) })));
        bad.tx_digest = "not base58!".into();
        assert_eq!(updates_of(&[bad]), Mapped { updates: vec![], unusable: 1 });
    }

    #[tokio::test]
    async fn fetching_ahead_stops_at_the_tip_and_refuses_a_misnamed_checkpoint() {
        use walrus_chain::testing::{checkpoint, write_binpb_zst};

        let dir = tempfile::TempDir::new().unwrap();
        for sequence in [0, 1, 7] {
            write_binpb_zst(dir.path(), &checkpoint(sequence, vec![]));
        }
        std::fs::rename(dir.path().join("7.binpb.zst"), dir.path().join("2.binpb.zst")).unwrap();
        let source = Source::Dir(dir.path().to_owned());
        let sequences = |found: Vec<Checkpoint>| found.iter().map(|c| c.sequence_number.0).collect::<Vec<_>>();
        assert_eq!(sequences(fetch_ahead(&source, 0, 8).await.unwrap()), [0, 1]);
        assert!(matches!(fetch_ahead(&source, 2, 4).await, Err(SourceError::WrongCheckpoint { wanted: 2, got: 7 })));
        assert_eq!(sequences(fetch_ahead(&source, 3, 4).await.unwrap()), Vec::<u64>::new());
    }
}
