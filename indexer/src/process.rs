//! Turns checkpoints into the rows of one batch: our events (raw and decoded) and the changes
//! they make to the current state of blobs, epochs and nodes, folded in order so a batch can
//! be written with a few set-based statements.

use std::collections::{BTreeMap, HashMap};

use serde_json::{json, Map, Value};
use sui_sdk_types::{Address, Digest, ValidatorCommittee};

use walrus_chain::checkpoint::Checkpoint;
use walrus_chain::events::{BlobId, PackageOrigins, WalrusEvent};
use walrus_chain::follow::events_of;

/// One event row.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    pub checkpoint: u64,
    pub tx_index: u32,
    pub event_index: u32,
    pub tx_digest: String,
    pub timestamp_ms: u64,
    pub package: Address,
    pub type_name: String,
    pub sender: Address,
    pub bcs: Vec<u8>,
    pub decode_error: Option<String>,
    pub blob_id: Option<BlobId>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct NewBlob {
    pub object_id: Address,
    pub blob_id: BlobId,
    pub size: u64,
    pub encoding_type: u8,
    pub deletable: bool,
    pub registered_epoch: u32,
    pub end_epoch: u32,
    pub checkpoint: u64,
    /// Later events of the same batch, folded in so the row is written once.
    pub change: BlobChange,
}

/// What a batch changes on a blob object.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BlobChange {
    pub certified_epoch: Option<u32>,
    pub end_epoch: Option<u32>,
    pub deleted_epoch: Option<u32>,
    pub burned: bool,
    /// Final value of each attribute touched: `None` when removed.
    pub attributes: BTreeMap<String, Option<String>>,
    pub checkpoint: u64,
}

/// What a batch says about a storage resource: its latest shape and what became of it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StorageChange {
    pub shape: Option<(u32, u32, u64)>,
    pub reserved: Option<(u32, u64)>,
    pub absorbed_into: Option<Address>,
    pub released_epoch: Option<u32>,
    pub checkpoint: u64,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct EpochChange {
    pub start: Option<(u64, u64)>,
    pub done_checkpoint: Option<u64>,
    pub prices: Option<(u64, u64)>,
    pub capacity: Option<(u64, u64)>,
    pub committee: Option<Value>,
}

/// What a batch says about a node in one epoch.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeEpochChange {
    /// The node's running stake change in the batch (its `NodeChange::staked_delta`) at the
    /// last event of the epoch about it: the store turns it into the stake at that point.
    pub stake_offset: i64,
    /// Its shards in the epoch's committee.
    pub shards: Option<Vec<u16>>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct NodeChange {
    pub registered: Option<walrus_chain::events::NodeRegistered>,
    pub updated: Option<walrus_chain::events::NodeUpdated>,
    pub deregistered_epoch: Option<u32>,
    pub staked_delta: i64,
    pub commission_collected: u64,
    pub pool: Option<(u64, u64)>,
    pub checkpoint: u64,
}

#[derive(Clone, Debug, PartialEq)]
pub struct RewardRow {
    pub node_id: Address,
    pub epoch: u32,
    pub reward: u64,
    pub commission: u64,
    pub pool_wal: u64,
    pub pool_shares: u64,
}

/// Everything one transaction writes, for a contiguous range of checkpoints.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Batch {
    pub first_checkpoint: Option<u64>,
    pub last_checkpoint: Option<(u64, u64)>,
    /// The last checkpoint's digest, stored with the watermark so a restart checks the link.
    pub last_digest: Option<Digest>,
    /// The validator committee after the last checkpoint, if it is not the one stored: stored
    /// with the watermark so a restart checks certificates against it.
    pub validator_committee: Option<ValidatorCommittee>,
    pub events: Vec<EventRow>,
    pub new_blobs: Vec<NewBlob>,
    /// Changes to blobs registered before this batch.
    pub blob_changes: BTreeMap<Address, BlobChange>,
    /// Position in `new_blobs` of each blob registered in this batch.
    new_blob_index: HashMap<Address, usize>,
    pub invalid_blob_ids: Vec<(BlobId, u32, u64)>,
    /// Blob IDs deleted from the nodes by a deny-list certificate: (ID, epoch, checkpoint).
    pub deny_listed: Vec<(BlobId, u32, u64)>,
    pub storage: BTreeMap<Address, StorageChange>,
    pub epochs: BTreeMap<u32, EpochChange>,
    pub nodes: BTreeMap<Address, NodeChange>,
    pub rewards: Vec<RewardRow>,
    /// Per node and epoch: stake and shards, for the node's history.
    pub node_epochs: BTreeMap<(Address, u32), NodeEpochChange>,
    /// The sum of all stake changes so far in the batch (deposits minus withdrawn principal).
    pub stake_delta: i64,
    /// Per epoch, `stake_delta` at the epoch's start or its last stake event in the batch:
    /// the store adds the total staked before the batch.
    pub epoch_stake: BTreeMap<u32, i64>,
    /// ProtocolVersionUpdated: (start epoch, version, checkpoint).
    pub protocol_versions: Vec<(u32, u64, u64)>,
    pub new_origins: Vec<(Address, u64)>,
    /// Events of our package that could not be decoded (unknown type or bad BCS).
    pub undecoded: u64,
}

impl Batch {
    pub fn checkpoints(&self) -> u64 {
        match (self.first_checkpoint, self.last_checkpoint) {
            (Some(first), Some((last, _))) => last - first + 1,
            _ => 0,
        }
    }

    /// Adds the next checkpoint (they must come in order, without gaps).
    pub fn add(&mut self, checkpoint: &Checkpoint, origins: &mut PackageOrigins) {
        let seq = checkpoint.sequence_number.0;
        if let Some((last, _)) = self.last_checkpoint {
            assert_eq!(seq, last + 1, "checkpoints must be added in order");
        }
        self.first_checkpoint.get_or_insert(seq);
        self.last_checkpoint = Some((seq, checkpoint.timestamp_ms));
        self.last_digest = Some(checkpoint.digest);
        let ours = events_of(checkpoint, origins);
        self.new_origins.extend(ours.new_origins.into_iter().map(|a| (a, seq)));
        for event in ours.events {
            match &event.decoded {
                Ok(typed) => self.apply(typed, seq, checkpoint.timestamp_ms),
                Err(error) => {
                    self.undecoded += 1;
                    tracing::warn!(checkpoint = seq, tx = %event.tx_digest, event_index = event.event_index, "{error}");
                }
            }
            self.events.push(EventRow {
                checkpoint: seq,
                tx_index: event.tx_index,
                event_index: event.event_index,
                tx_digest: event.tx_digest,
                timestamp_ms: event.timestamp_ms,
                package: event.package,
                type_name: event.type_name,
                sender: event.sender,
                blob_id: event.decoded.as_ref().ok().and_then(WalrusEvent::blob_id),
                decode_error: event.decoded.err().map(|e| e.to_string()),
                bcs: event.bcs,
            });
        }
    }

    fn blob(&mut self, object_id: Address, checkpoint: u64) -> &mut BlobChange {
        let change = match self.new_blob_index.get(&object_id) {
            Some(&i) => &mut self.new_blobs[i].change,
            None => self.blob_changes.entry(object_id).or_default(),
        };
        change.checkpoint = checkpoint;
        change
    }

    fn storage(&mut self, storage_id: Address, checkpoint: u64) -> &mut StorageChange {
        let change = self.storage.entry(storage_id).or_default();
        change.checkpoint = checkpoint;
        change
    }

    fn node(&mut self, node_id: Address, checkpoint: u64) -> &mut NodeChange {
        let change = self.nodes.entry(node_id).or_default();
        change.checkpoint = checkpoint;
        change
    }

    /// Records the node's stake as of now for its history in `epoch`.
    fn node_epoch(&mut self, node_id: Address, epoch: u32) -> &mut NodeEpochChange {
        let offset = self.nodes.get(&node_id).map_or(0, |c| c.staked_delta);
        let change = self.node_epochs.entry((node_id, epoch)).or_default();
        change.stake_offset = offset;
        change
    }

    /// A stake change of `delta` by `node_id` in `epoch`.
    fn stake(&mut self, node_id: Address, epoch: u32, delta: i64, seq: u64) {
        self.node(node_id, seq).staked_delta += delta;
        self.stake_delta += delta;
        self.epoch_stake.insert(epoch, self.stake_delta);
        self.node_epoch(node_id, epoch);
    }

    fn apply(&mut self, event: &WalrusEvent, seq: u64, timestamp_ms: u64) {
        match event {
            WalrusEvent::BlobRegistered(e) => {
                self.new_blob_index.insert(e.object_id, self.new_blobs.len());
                self.new_blobs.push(NewBlob {
                    object_id: e.object_id,
                    blob_id: e.blob_id,
                    size: e.size,
                    encoding_type: e.encoding_type,
                    deletable: e.deletable,
                    registered_epoch: e.epoch,
                    end_epoch: e.end_epoch,
                    checkpoint: seq,
                    change: BlobChange::default(),
                });
            }
            WalrusEvent::BlobCertified(e) => {
                let change = self.blob(e.object_id, seq);
                change.certified_epoch.get_or_insert(e.epoch);
                change.end_epoch = Some(change.end_epoch.map_or(e.end_epoch, |end| end.max(e.end_epoch)));
            }
            WalrusEvent::BlobDeleted(e) => self.blob(e.object_id, seq).deleted_epoch = Some(e.epoch),
            WalrusEvent::BlobBurned(e) => self.blob(e.object_id, seq).burned = true,
            WalrusEvent::BlobAttributeSet(e) => {
                self.blob(e.object_id, seq).attributes.insert(e.key.clone(), Some(e.value.clone()));
            }
            WalrusEvent::BlobAttributeRemoved(e) => {
                self.blob(e.object_id, seq).attributes.insert(e.key.clone(), None);
            }
            WalrusEvent::InvalidBlobID(e) => self.invalid_blob_ids.push((e.blob_id, e.epoch, seq)),
            WalrusEvent::EpochChangeStart(e) => {
                self.epochs.entry(e.epoch).or_default().start = Some((seq, timestamp_ms));
                self.epoch_stake.insert(e.epoch, self.stake_delta);
            }
            WalrusEvent::EpochChangeDone(e) => self.epochs.entry(e.epoch).or_default().done_checkpoint = Some(seq),
            WalrusEvent::PricesUpdated(e) => {
                self.epochs.entry(e.epoch).or_default().prices = Some((e.storage_price, e.write_price));
            }
            WalrusEvent::CapacityUpdated(e) => {
                self.epochs.entry(e.epoch).or_default().capacity = Some((e.total_capacity_size, e.used_capacity_size));
            }
            WalrusEvent::CommitteeSelected(e) => {
                let members: Vec<Value> = e
                    .node_ids
                    .iter()
                    .zip(&e.shards)
                    .map(|(id, shards)| json!({ "node_id": id.to_string(), "shards": shards }))
                    .collect();
                self.epochs.entry(e.epoch).or_default().committee = Some(Value::Array(members));
                for (id, shards) in e.node_ids.iter().zip(&e.shards) {
                    self.node_epoch(*id, e.epoch).shards = Some(shards.clone());
                }
            }
            WalrusEvent::StorageReserved(e) => {
                let change = self.storage(e.storage_id, seq);
                change.shape = Some((e.start_epoch, e.end_epoch, e.storage_size));
                change.reserved = Some((e.epoch, e.cost));
            }
            WalrusEvent::StorageSplit(e) => {
                self.storage(e.storage_id, seq).shape = Some((e.start_epoch, e.end_epoch, e.storage_size));
                self.storage(e.new_storage_id, seq).shape =
                    Some((e.new_start_epoch, e.new_end_epoch, e.new_storage_size));
            }
            WalrusEvent::StorageFused(e) => {
                self.storage(e.storage_id, seq).shape = Some((e.start_epoch, e.end_epoch, e.storage_size));
                self.storage(e.absorbed_id, seq).absorbed_into = Some(e.storage_id);
            }
            WalrusEvent::StorageReleased(e) => self.storage(e.storage_id, seq).released_epoch = Some(e.epoch),
            WalrusEvent::NodeRegistered(e) => self.node(e.node_id, seq).registered = Some(e.clone()),
            WalrusEvent::NodeUpdated(e) => self.node(e.node_id, seq).updated = Some(e.clone()),
            WalrusEvent::NodeDeregistered(e) => self.node(e.node_id, seq).deregistered_epoch = Some(e.epoch),
            WalrusEvent::StakeDeposited(e) => self.stake(e.node_id, e.epoch, e.amount as i64, seq),
            WalrusEvent::StakeWithdrawn(e) => self.stake(e.node_id, e.epoch, -(e.principal as i64), seq),
            WalrusEvent::CommissionCollected(e) => self.node(e.node_id, seq).commission_collected += e.amount,
            WalrusEvent::RewardsDistributed(e) => {
                self.node(e.node_id, seq).pool = Some((e.pool_wal, e.pool_shares));
                self.node_epoch(e.node_id, e.epoch);
                self.rewards.push(RewardRow {
                    node_id: e.node_id,
                    epoch: e.epoch,
                    reward: e.reward,
                    commission: e.commission,
                    pool_wal: e.pool_wal,
                    pool_shares: e.pool_shares,
                });
            }
            // Selected parameters announce the next epoch: it is listed (as upcoming) from then on.
            WalrusEvent::EpochParametersSelected(e) => {
                self.epochs.entry(e.next_epoch).or_default();
            }
            // Walrus's certificate that f+1 nodes deny-list the blob: the nodes delete its data
            // (nothing on chain is deleted), so its objects are no longer stored.
            WalrusEvent::DenyListBlobDeleted(e) => self.deny_listed.push((e.blob_id, e.epoch, seq)),
            WalrusEvent::ProtocolVersionUpdated(e) => {
                self.protocol_versions.push((e.start_epoch, e.protocol_version, seq));
            }
            // Stake leaves the pool when withdrawn (StakeWithdrawn), not when requested.
            WalrusEvent::ShardsReceived(_)
            | WalrusEvent::WithdrawalRequested(_)
            | WalrusEvent::EpochChangeSyncTimedOut(_)
            // Storage pools are kept as events (findable by blob ID), without state tables yet.
            | WalrusEvent::StoragePoolCreated(_)
            | WalrusEvent::PooledBlobRegistered(_)
            | WalrusEvent::PooledBlobCertified(_)
            | WalrusEvent::PooledBlobDeleted(_)
            | WalrusEvent::StoragePoolExtended(_)
            // Kept as events: a deny list's root is the node's own business, upgrades and their
            // votes change no indexed state (new type origins are learned from the packages),
            // and ShardRecoveryStart is never emitted by Walrus.
            | WalrusEvent::ShardRecoveryStart(_)
            | WalrusEvent::ContractUpgraded(_)
            | WalrusEvent::RegisterDenyListUpdate(_)
            | WalrusEvent::DenyListUpdate(_)
            | WalrusEvent::ContractUpgradeProposed(_)
            | WalrusEvent::ContractUpgradeQuorumReached(_) => {}
        }
    }
}

/// Attribute changes as the two JSON values the store applies: keys to set, keys to remove.
pub fn attribute_ops(attributes: &BTreeMap<String, Option<String>>) -> (Value, Value) {
    let mut set = Map::new();
    let mut removed = Vec::new();
    for (key, value) in attributes {
        match value {
            Some(value) => {
                set.insert(key.clone(), Value::String(value.clone()));
            }
            None => removed.push(Value::String(key.clone())),
        }
    }
    (Value::Object(set), Value::Array(removed))
}
