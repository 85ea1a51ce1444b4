//! The one step every follower takes: a checkpoint, plus the package origins known so far,
//! becomes our events in chain order (each with where it happened) and the origins the
//! checkpoint's package upgrades added. The caller persists both.

use sui_sdk_types::Address;

use crate::checkpoint::{Checkpoint, CheckpointSequence};
use crate::events::{PackageOrigins, WalrusEvent};

/// One event of our package, where it happened, and what it says if we can read it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainEvent {
    pub checkpoint: CheckpointSequence,
    pub timestamp_ms: u64,
    pub tx_index: u32,
    /// Base58, as Sui shows transaction digests.
    pub tx_digest: String,
    /// The event's position in its transaction (Sui's `event_seq`).
    pub event_index: u32,
    pub package: Address,
    pub type_name: String,
    pub sender: Address,
    pub bcs: Vec<u8>,
    /// Undecodable events are kept, not dropped: a newer package may emit them.
    pub decoded: Result<WalrusEvent, UndecodedEvent>,
}

/// Why an event of our package could not be decoded.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UndecodedEvent {
    #[error("unknown event type {0}")]
    UnknownType(String),
    #[error("invalid BCS for {type_name}: {error}")]
    InvalidBcs { type_name: String, error: String },
}

/// What one checkpoint holds for us.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CheckpointEvents {
    pub events: Vec<ChainEvent>,
    /// Addresses of our package versions first seen here, to persist with the checkpoint.
    pub new_origins: Vec<Address>,
}

/// Our events of `checkpoint`, in order. `origins` learns upgrades as they appear, so an event
/// type added by an upgrade is recognised from the transaction that publishes it on.
pub fn events_of(checkpoint: &Checkpoint, origins: &mut PackageOrigins) -> CheckpointEvents {
    let mut out = CheckpointEvents::default();
    for (tx_index, tx) in checkpoint.transactions.iter().enumerate() {
        for package in &tx.packages {
            out.new_origins.extend(origins.learn(package));
        }
        for (event_index, event) in tx.events.iter().enumerate() {
            if !origins.is_ours(event) {
                continue;
            }
            let type_name = event.type_.name().as_str().to_owned();
            let decoded = match WalrusEvent::decode(&type_name, &event.contents) {
                Some(Ok(typed)) => Ok(typed),
                Some(Err(error)) => {
                    Err(UndecodedEvent::InvalidBcs { type_name: type_name.clone(), error: error.to_string() })
                }
                None => Err(UndecodedEvent::UnknownType(type_name.clone())),
            };
            out.events.push(ChainEvent {
                checkpoint: checkpoint.sequence_number,
                timestamp_ms: checkpoint.timestamp_ms,
                tx_index: tx_index as u32,
                tx_digest: tx.digest.clone(),
                event_index: event_index as u32,
                package: *event.type_.address(),
                type_name,
                sender: event.sender,
                bcs: event.contents.clone(),
                decoded,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::events::{EpochChangeStart, InvalidBlobID};
    use crate::testing::{address, blob_id, checkpoint, event_of, ours, package, publish_upgrade, raw_event};

    fn decode(message: &sui_rpc::proto::sui::rpc::v2::Checkpoint) -> Checkpoint {
        let file = zstd::encode_all(message.encode_to_vec().as_slice(), 1).unwrap();
        Checkpoint::from_binpb_zst(&file).unwrap()
    }

    #[test]
    fn our_events_come_in_chain_order_with_their_positions() {
        let message = checkpoint(
            3,
            vec![
                vec![
                    event_of(address(0x77), "events", "EpochChangeStart", &EpochChangeStart { epoch: 9 }),
                    ours(&EpochChangeStart { epoch: 1 }),
                ],
                vec![
                    raw_event(package(), "events", "FutureEvent", vec![1]),
                    ours(&InvalidBlobID { epoch: 1, blob_id: blob_id(4) }),
                    raw_event(package(), "events", "EpochChangeStart", vec![0xFF]),
                ],
            ],
        );
        let found = events_of(&decode(&message), &mut PackageOrigins::new(package()));
        let positions: Vec<_> = found.events.iter().map(|e| (e.tx_index, e.event_index)).collect();
        assert_eq!(positions, [(0, 1), (1, 0), (1, 1), (1, 2)]);
        assert!(found.events.iter().all(|e| e.checkpoint == CheckpointSequence(3) && e.timestamp_ms == 3000));
        assert_eq!(found.events[0].tx_digest, "tx3x0");
        assert_eq!(found.events[0].decoded, Ok(WalrusEvent::EpochChangeStart(EpochChangeStart { epoch: 1 })));
        assert_eq!(found.events[1].decoded, Err(UndecodedEvent::UnknownType("FutureEvent".into())));
        assert_eq!(
            found.events[2].decoded,
            Ok(WalrusEvent::InvalidBlobID(InvalidBlobID { epoch: 1, blob_id: blob_id(4) }))
        );
        assert!(
            matches!(&found.events[3].decoded, Err(UndecodedEvent::InvalidBcs { type_name, .. }) if type_name == "EpochChangeStart")
        );
        assert!(found.new_origins.is_empty());
    }

    #[test]
    fn an_upgrade_makes_its_new_event_types_ours_from_the_publishing_transaction_on() {
        let upgraded = address(0xEF);
        let new_event = || raw_event(upgraded, "events", "SomethingNew", vec![42]);
        let mut origins = PackageOrigins::new(package());
        let before = events_of(&decode(&checkpoint(0, vec![vec![new_event()]])), &mut origins);
        assert!(before.events.is_empty() && before.new_origins.is_empty());
        let mut publish = checkpoint(1, vec![vec![new_event()]]);
        publish_upgrade(&mut publish, upgraded, "SomethingNew");
        let during = events_of(&decode(&publish), &mut origins);
        assert_eq!(during.new_origins, [upgraded]);
        assert_eq!(during.events.len(), 1);
        // Seen once, the upgrade is not new again.
        let again = events_of(&decode(&publish), &mut origins);
        assert!(again.new_origins.is_empty());
        assert_eq!(origins, PackageOrigins::from_addresses([package(), upgraded]));
    }
}
