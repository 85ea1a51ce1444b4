//! The state machine: the `System` and `Staking` objects of `move/walrus` and the objects
//! their calls create, reduced to what the testbed's calls touch, with every rule and event
//! of the Move code those calls run. One [`Call`] is one transaction; it either applies whole
//! (returning its events, in the order Move emits them) or aborts and changes nothing.
//!
//! What is left out (no call reaches it): withdrawals, commission changes, node updates and
//! deregistration, storage pools, subsidies, attributes, burning.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sui_sdk_types::Address;
use walrus_chain::events::{self as ev, BlobId, WalrusEvent};

use crate::certificate::{self, BlsCommittee, Member, RequiredWeight};
use crate::error::{aborts, ChainError};
use crate::rules::{self, Committee};

/// Commission rates are in basis points.
const N_BASIS_POINTS: u64 = 10_000;
const MIN_STAKE: u64 = 1_000_000_000;
const MAX_MAX_EPOCHS_AHEAD: u32 = 1000;
const MAX_NODE_NAME_LENGTH: usize = 100;
const MAX_NETWORK_ADDRESS_LENGTH: usize = 259;

/// One transaction: who sends it, its digest (object IDs derive from it), and what it calls.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "call", rename_all = "snake_case")]
pub enum Call {
    /// `init::initialize_walrus` (epoch 1 due at once); the sender holds the `InitCap`.
    /// `balances` are the WAL coins minted at genesis.
    Initialize {
        package_id: Address,
        n_shards: u16,
        epoch_duration_ms: u64,
        max_epochs_ahead: u32,
        max_committee_size: u16,
        balances: Vec<(Address, u64)>,
    },
    /// `staking::register_candidate`.
    RegisterCandidate {
        name: String,
        network_address: String,
        #[serde(with = "crate::as_text::base64")]
        public_key: Vec<u8>,
        #[serde(with = "crate::as_text::base64")]
        network_public_key: Vec<u8>,
        #[serde(with = "crate::as_text::base64")]
        proof_of_possession: Vec<u8>,
        commission_rate: u16,
        storage_price: u64,
        write_price: u64,
        node_capacity: u64,
    },
    /// `staking::stake_with_pool` with a coin of `amount` FROST minted at genesis.
    Stake { node_id: Address, amount: u64 },
    /// `staking::voting_end`.
    VotingEnd,
    /// `staking::initiate_epoch_change`.
    InitiateEpochChange,
    /// `staking::epoch_sync_done` by the holder of the node's cap.
    EpochSyncDone { node_id: Address, epoch: u32 },
    /// One transaction of `system::reserve_space` for the blob's encoded size and
    /// `system::register_blob` on that storage, both paid from the sender's WAL.
    RegisterBlob {
        #[serde(with = "crate::as_text::url32")]
        blob_id: [u8; 32],
        #[serde(with = "crate::as_text::url32")]
        root_hash: [u8; 32],
        size: u64,
        encoding_type: u8,
        deletable: bool,
        epochs_ahead: u32,
    },
    /// `system::certify_blob`.
    CertifyBlob {
        object_id: Address,
        #[serde(with = "crate::as_text::base64")]
        signature: Vec<u8>,
        #[serde(with = "crate::as_text::base64")]
        signers_bitmap: Vec<u8>,
        #[serde(with = "crate::as_text::base64")]
        message: Vec<u8>,
    },
    /// `system::delete_blob`; the storage it returns stays with the sender.
    DeleteBlob { object_id: Address },
    /// `system::extend_blob`, paid from the sender's WAL.
    ExtendBlob { object_id: Address, epochs: u32 },
    /// `system::invalidate_blob_id`.
    InvalidateBlobId {
        #[serde(with = "crate::as_text::base64")]
        signature: Vec<u8>,
        #[serde(with = "crate::as_text::base64")]
        signers_bitmap: Vec<u8>,
        #[serde(with = "crate::as_text::base64")]
        message: Vec<u8>,
    },
}

/// What a transaction runs with and what it produced.
pub struct Tx {
    pub digest: [u8; 32],
    pub sender: Address,
    /// The clock's time (ms).
    pub now_ms: u64,
    created: u64,
    pub events: Vec<WalrusEvent>,
    /// The objects it created, in creation order.
    pub created_objects: Vec<Address>,
}

impl Tx {
    pub fn new(digest: [u8; 32], sender: Address, now_ms: u64) -> Self {
        Self { digest, sender, now_ms, created: 0, events: Vec::new(), created_objects: Vec::new() }
    }

    /// `object::new(ctx)`.
    fn fresh_id(&mut self) -> Address {
        let id = rules::derive_object_id(&self.digest, self.created);
        self.created += 1;
        self.created_objects.push(id);
        id
    }

    fn emit(&mut self, event: WalrusEvent) {
        self.events.push(event);
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum EpochState {
    EpochChangeSync { weight: u16 },
    EpochChangeDone,
    NextParamsSelected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EpochParams {
    pub capacity: u64,
    pub storage_price: u64,
    pub write_price: u64,
}

/// A `StakingPool` with its node's info and its `NodeCap`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    pub node_id: Address,
    pub name: String,
    pub network_address: String,
    #[serde(with = "crate::as_text::base64")]
    pub public_key: Vec<u8>,
    #[serde(with = "crate::as_text::base64")]
    pub network_public_key: Vec<u8>,
    pub commission_rate: u16,
    pub storage_price_vote: u64,
    pub write_price_vote: u64,
    pub node_capacity_vote: u64,
    pub wal_balance: u64,
    pub num_shares: u64,
    pub pending_stake: BTreeMap<u32, u64>,
    pub rewards_pool: u64,
    pub commission: u64,
    pub latest_epoch: u32,
    pub cap_id: Address,
    pub operator: Address,
    pub last_epoch_sync_done: u32,
}

impl Pool {
    fn catch_up(&mut self, epoch: u32) {
        while self.latest_epoch < epoch {
            let next = self.pending_stake.keys().next().copied().filter(|e| *e < epoch).unwrap_or(epoch);
            self.enter(next);
        }
    }

    fn enter(&mut self, epoch: u32) {
        let (rate_wal, rate_shares) = (u128::from(self.wal_balance), u128::from(self.num_shares));
        let joining = self.pending_stake.remove(&epoch).unwrap_or(0);
        self.wal_balance += joining;
        self.num_shares += if rate_wal == 0 || rate_shares == 0 {
            joining
        } else {
            (u128::from(joining) * rate_shares / rate_wal) as u64
        };
        self.latest_epoch = epoch;
    }

    /// `staking_pool::advance_epoch`: returns the commission taken.
    fn advance_epoch(&mut self, new_epoch: u32, reward: u64) -> u64 {
        debug_assert_eq!(new_epoch, self.latest_epoch + 1);
        let commission = if self.num_shares == 0 {
            reward
        } else {
            (u128::from(reward) * u128::from(self.commission_rate) / u128::from(N_BASIS_POINTS)) as u64
        };
        self.commission += commission;
        self.wal_balance += reward - commission;
        self.rewards_pool += reward - commission;
        self.enter(new_epoch);
        commission
    }

    fn stake_at_epoch(&self, epoch: u32) -> u64 {
        self.wal_balance + self.pending_stake.range(..=epoch).map(|(_, amount)| amount).sum::<u64>()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StorageObject {
    pub id: Address,
    pub start_epoch: u32,
    pub end_epoch: u32,
    pub storage_size: u64,
}

/// A `Blob` object and its owner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobObject {
    pub id: Address,
    pub owner: Address,
    pub registered_epoch: u32,
    #[serde(with = "crate::as_text::blob_id")]
    pub blob_id: BlobId,
    pub size: u64,
    pub encoding_type: u8,
    pub certified_epoch: Option<u32>,
    pub storage: StorageObject,
    pub deletable: bool,
}

impl BlobObject {
    pub fn end_epoch(&self) -> u32 {
        self.storage.end_epoch
    }

    fn certified_event(&self, is_extension: bool) -> WalrusEvent {
        WalrusEvent::BlobCertified(ev::BlobCertified {
            epoch: self.certified_epoch.expect("certified"),
            blob_id: self.blob_id,
            end_epoch: self.end_epoch(),
            deletable: self.deletable,
            object_id: self.id,
            is_extension,
        })
    }

    fn check_extendable(&self, current: u32) -> Result<(), ChainError> {
        if self.certified_epoch.is_none() {
            return Err(aborts::ENotCertified.into());
        }
        if current >= self.end_epoch() {
            return Err(aborts::EResourceBounds.into());
        }
        Ok(())
    }
}

/// One epoch's entry of `FutureAccountingRingBuffer`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Accounting {
    pub epoch: u32,
    pub used_capacity: u64,
    pub rewards: u64,
}

/// Everything the chain knows. Serialisable, so it is persisted with each checkpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub package_id: Option<Address>,
    pub system_id: Option<Address>,
    pub staking_id: Option<Address>,
    pub n_shards: u16,
    pub epoch_duration_ms: u64,
    pub first_epoch_start_ms: u64,
    pub max_committee_size: u16,
    // `System`.
    pub bls_committee: BlsCommittee,
    pub total_capacity_size: u64,
    pub used_capacity_size: u64,
    pub storage_price: u64,
    pub write_price: u64,
    pub ring: Vec<Accounting>,
    pub ring_index: u32,
    // `Staking`.
    pub epoch: u32,
    pub epoch_change_started_ms: u64,
    pub epoch_state: Option<EpochState>,
    pub pools: BTreeMap<Address, Pool>,
    pub active_set: Vec<(Address, u64)>,
    pub committee: Committee,
    pub previous_committee: Committee,
    pub next_committee: Option<Committee>,
    pub next_params: Option<EpochParams>,
    // Owned objects and coins.
    pub blobs: BTreeMap<Address, BlobObject>,
    pub free_storage: BTreeMap<Address, (Address, StorageObject)>,
    pub balances: BTreeMap<Address, u64>,
}

impl State {
    /// Runs `call` as one transaction: on an abort nothing changes.
    pub fn apply(&mut self, tx: &mut Tx, call: &Call) -> Result<(), ChainError> {
        let mut next = self.clone();
        next.run(tx, call)?;
        *self = next;
        Ok(())
    }

    fn run(&mut self, tx: &mut Tx, call: &Call) -> Result<(), ChainError> {
        if self.package_id.is_none() && !matches!(call, Call::Initialize { .. }) {
            return Err(ChainError::BadInput("the chain has no genesis yet".into()));
        }
        match call {
            Call::Initialize {
                package_id,
                n_shards,
                epoch_duration_ms,
                max_epochs_ahead,
                max_committee_size,
                balances,
            } => self.initialize(
                tx,
                *package_id,
                *n_shards,
                *epoch_duration_ms,
                *max_epochs_ahead,
                *max_committee_size,
                balances,
            ),
            Call::RegisterCandidate {
                name,
                network_address,
                public_key,
                network_public_key,
                proof_of_possession,
                commission_rate,
                storage_price,
                write_price,
                node_capacity,
            } => {
                let message =
                    walrus_chain::messages::proof_of_possession(self.epoch, &tx.sender.into_inner(), public_key);
                if !certificate::verify_signature(public_key, proof_of_possession, &message) {
                    return Err(aborts::EInvalidProofOfPossession.into());
                }
                if u64::from(*commission_rate) > N_BASIS_POINTS {
                    return Err(aborts::EIncorrectCommissionRate.into());
                }
                if name.is_empty() || name.len() > MAX_NODE_NAME_LENGTH {
                    return Err(aborts::EInvalidNameLength.into());
                }
                if network_address.is_empty() || network_address.len() > MAX_NETWORK_ADDRESS_LENGTH {
                    return Err(aborts::EInvalidNetworkAddressLength.into());
                }
                if public_key.len() != 48 {
                    return Err(aborts::EInvalidPublicKey.into());
                }
                if network_public_key.len() != 33 {
                    return Err(aborts::EInvalidNetworkPublicKey.into());
                }
                let node_id = tx.fresh_id();
                let _exchange_rates = tx.fresh_id();
                let cap_id = tx.fresh_id();
                tx.emit(WalrusEvent::NodeRegistered(ev::NodeRegistered {
                    epoch: self.epoch,
                    node_id,
                    name: name.clone(),
                    network_address: network_address.clone(),
                    public_key: public_key.clone(),
                    network_public_key: network_public_key.clone(),
                    commission_rate: *commission_rate,
                }));
                self.pools.insert(
                    node_id,
                    Pool {
                        node_id,
                        name: name.clone(),
                        network_address: network_address.clone(),
                        public_key: public_key.clone(),
                        network_public_key: network_public_key.clone(),
                        commission_rate: *commission_rate,
                        storage_price_vote: *storage_price,
                        write_price_vote: *write_price,
                        node_capacity_vote: *node_capacity,
                        wal_balance: 0,
                        num_shares: 0,
                        pending_stake: BTreeMap::new(),
                        rewards_pool: 0,
                        commission: 0,
                        latest_epoch: self.epoch,
                        cap_id,
                        operator: tx.sender,
                        last_epoch_sync_done: 0,
                    },
                );
                Ok(())
            }
            Call::Stake { node_id, amount } => self.stake(tx, *node_id, *amount),
            Call::VotingEnd => self.voting_end(tx),
            Call::InitiateEpochChange => self.initiate_epoch_change(tx),
            Call::EpochSyncDone { node_id, epoch } => self.epoch_sync_done(tx, *node_id, *epoch),
            Call::RegisterBlob { blob_id, root_hash, size, encoding_type, deletable, epochs_ahead } => {
                self.register_blob(tx, blob_id, root_hash, *size, *encoding_type, *deletable, *epochs_ahead)
            }
            Call::CertifyBlob { object_id, signature, signers_bitmap, message } => {
                let epoch = self.epoch;
                let (intent, body) =
                    self.bls_committee.verify(signature, signers_bitmap, message, RequiredWeight::Quorum)?;
                let certified = certificate::blob_certificate(intent, &body)?;
                let blob = self.owned_blob(tx, object_id)?;
                if certified.blob_id != blob.blob_id.0 {
                    return Err(aborts::EInvalidBlobId.into());
                }
                if blob.certified_epoch.is_some() {
                    return Err(aborts::EAlreadyCertified.into());
                }
                if epoch >= blob.end_epoch() {
                    return Err(aborts::EResourceBounds.into());
                }
                if certified.deletable_object.is_some() != blob.deletable {
                    return Err(aborts::EInvalidBlobPersistenceType.into());
                }
                if certified.deletable_object.is_some_and(|id| id != blob.id) {
                    return Err(aborts::EInvalidBlobObject.into());
                }
                blob.certified_epoch = Some(epoch);
                let event = blob.certified_event(false);
                tx.emit(event);
                Ok(())
            }
            Call::DeleteBlob { object_id } => {
                let epoch = self.epoch;
                let blob = self.owned_blob(tx, object_id)?;
                if !blob.deletable {
                    return Err(aborts::EBlobNotDeletable.into());
                }
                if epoch >= blob.end_epoch() {
                    return Err(aborts::EResourceBounds.into());
                }
                let blob = self.blobs.remove(object_id).expect("found above");
                tx.emit(WalrusEvent::BlobDeleted(ev::BlobDeleted {
                    epoch,
                    blob_id: blob.blob_id,
                    end_epoch: blob.end_epoch(),
                    object_id: blob.id,
                    was_certified: blob.certified_epoch.is_some(),
                }));
                self.free_storage.insert(blob.storage.id, (blob.owner, blob.storage));
                Ok(())
            }
            Call::ExtendBlob { object_id, epochs } => {
                let epoch = self.epoch;
                let blob = self.owned_blob(tx, object_id)?;
                blob.check_extendable(epoch)?;
                if *epochs == 0 {
                    return Err(aborts::EInvalidEpochsAhead.into());
                }
                let (size, end) = (blob.storage.storage_size, blob.end_epoch());
                let new_end = end.checked_add(*epochs).ok_or(aborts::EInvalidEpochsAhead)?;
                self.reserve_and_pay(tx.sender, size, end, new_end)?;
                let blob = self.blobs.get_mut(object_id).expect("found above");
                blob.storage.end_epoch = new_end;
                let event = blob.certified_event(true);
                tx.emit(event);
                Ok(())
            }
            Call::InvalidateBlobId { signature, signers_bitmap, message } => {
                let (intent, body) =
                    self.bls_committee.verify(signature, signers_bitmap, message, RequiredWeight::OneCorrectNode)?;
                let blob_id = certificate::invalid_blob_id_certificate(intent, &body)?;
                tx.emit(WalrusEvent::InvalidBlobID(ev::InvalidBlobID { epoch: self.epoch, blob_id: BlobId(blob_id) }));
                Ok(())
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn initialize(
        &mut self,
        tx: &mut Tx,
        package_id: Address,
        n_shards: u16,
        epoch_duration_ms: u64,
        max_epochs_ahead: u32,
        max_committee_size: u16,
        balances: &[(Address, u64)],
    ) -> Result<(), ChainError> {
        if self.package_id.is_some() {
            return Err(ChainError::BadInput("the chain was initialised already".into()));
        }
        if max_epochs_ahead == 0 || max_epochs_ahead > MAX_MAX_EPOCHS_AHEAD {
            return Err(aborts::EInvalidMaxEpochsAhead.into());
        }
        if n_shards < 4 {
            return Err(aborts::ETooFewShardsForStaking.into());
        }
        if epoch_duration_ms == 0 || max_committee_size == 0 {
            return Err(aborts::EInvalidParameters.into());
        }
        self.package_id = Some(package_id);
        self.system_id = Some(tx.fresh_id());
        self.staking_id = Some(tx.fresh_id());
        let _pools_table = tx.fresh_id();
        self.n_shards = n_shards;
        self.epoch_duration_ms = epoch_duration_ms;
        self.first_epoch_start_ms = tx.now_ms;
        self.max_committee_size = max_committee_size;
        self.ring = (0..max_epochs_ahead).map(|epoch| Accounting { epoch, used_capacity: 0, rewards: 0 }).collect();
        self.epoch_state = Some(EpochState::EpochChangeDone);
        for (address, amount) in balances {
            let balance = self.balances.entry(*address).or_default();
            *balance = balance.checked_add(*amount).ok_or_else(|| ChainError::BadInput("balance overflows".into()))?;
        }
        Ok(())
    }

    fn stake(&mut self, tx: &mut Tx, node_id: Address, amount: u64) -> Result<(), ChainError> {
        let activation_epoch = self.next_counted_epoch();
        let epoch = self.epoch;
        let pool = self
            .pools
            .get_mut(&node_id)
            .ok_or_else(|| ChainError::NotFound { what: "storage node", id: node_id.to_string() })?;
        pool.catch_up(epoch);
        if amount < MIN_STAKE {
            return Err(aborts::EStakeBelowThreshold.into());
        }
        *pool.pending_stake.entry(activation_epoch).or_default() += amount;
        let staked_wal_id = tx.fresh_id();
        self.update_active_set(node_id);
        tx.emit(WalrusEvent::StakeDeposited(ev::StakeDeposited {
            epoch,
            node_id,
            staked_wal_id,
            amount,
            activation_epoch,
        }));
        Ok(())
    }

    fn voting_end(&mut self, tx: &mut Tx) -> Result<(), ChainError> {
        let synced = match self.epoch_state.expect("initialised") {
            EpochState::EpochChangeDone => None,
            EpochState::EpochChangeSync { weight } => Some(weight),
            EpochState::NextParamsSelected => return Err(aborts::EWrongEpochState.into()),
        };
        self.assert_due(tx.now_ms + self.epoch_duration_ms / 2)?;
        if let Some(weight) = synced {
            tx.emit(WalrusEvent::EpochChangeSyncTimedOut(ev::EpochChangeSyncTimedOut { epoch: self.epoch, weight }));
        }
        let next_epoch = self.epoch + 1;
        if self.active_set.is_empty() {
            return Err(aborts::ENoStake.into());
        }
        let node_ids: Vec<Address> = self.active_set.iter().map(|(id, _)| *id).collect();
        let stakes: Vec<u64> = self.active_set.iter().map(|(_, stake)| *stake).collect();
        let counts = rules::apportion(&node_ids, &stakes, self.n_shards)?;
        let members: Vec<(Address, u16)> = node_ids.into_iter().zip(counts).filter(|(_, count)| *count > 0).collect();
        let next = rules::transition(&self.committee, &members, self.n_shards);

        let ids: Vec<Address> = next.keys().copied().collect();
        let weights: Vec<u16> = next.values().map(|shards| shards.len() as u16).collect();
        let n = u128::from(self.n_shards);
        let capacity_votes: Vec<u64> = ids
            .iter()
            .zip(&weights)
            .map(|(id, weight)| {
                let vote = u128::from(self.pools[id].node_capacity_vote);
                (vote * n / u128::from(*weight)).min(u128::from(u64::MAX)) as u64
            })
            .collect();
        let storage_votes: Vec<u64> = ids.iter().map(|id| self.pools[id].storage_price_vote).collect();
        let write_votes: Vec<u64> = ids.iter().map(|id| self.pools[id].write_price_vote).collect();
        self.next_params = Some(EpochParams {
            capacity: rules::quorum_above(&capacity_votes, &weights),
            storage_price: rules::quorum_below(&storage_votes, &weights),
            write_price: rules::quorum_below(&write_votes, &weights),
        });
        tx.emit(WalrusEvent::CommitteeSelected(ev::CommitteeSelected {
            epoch: next_epoch,
            node_ids: ids,
            shards: next.values().cloned().collect(),
        }));
        tx.emit(WalrusEvent::EpochParametersSelected(ev::EpochParametersSelected { next_epoch }));
        self.next_committee = Some(next);
        self.epoch_state = Some(EpochState::NextParamsSelected);
        Ok(())
    }

    fn initiate_epoch_change(&mut self, tx: &mut Tx) -> Result<(), ChainError> {
        if self.epoch_state != Some(EpochState::NextParamsSelected) {
            return Err(aborts::EWrongEpochState.into());
        }
        self.assert_due(tx.now_ms)?;
        let next = self.next_committee.take().expect("selected with the parameters");
        let params = self.next_params.take().expect("selected with the committee");
        let ended = self.epoch;
        let new_epoch = ended + 1;

        // `system::advance_epoch`.
        let members = next
            .iter()
            .map(|(id, shards)| Member {
                node_id: *id,
                public_key: self.pools[id].public_key.clone(),
                weight: shards.len() as u16,
            })
            .collect();
        let rewards = self.ring_pop_expand().rewards;
        self.bls_committee = BlsCommittee { epoch: new_epoch, members };
        self.used_capacity_size = self.ring_entry(0).used_capacity;
        self.total_capacity_size = params.capacity.max(self.used_capacity_size);
        self.storage_price = params.storage_price;
        self.write_price = params.write_price;
        tx.emit(WalrusEvent::EpochChangeStart(ev::EpochChangeStart { epoch: new_epoch }));
        tx.emit(WalrusEvent::PricesUpdated(ev::PricesUpdated {
            epoch: new_epoch,
            storage_price: self.storage_price,
            write_price: self.write_price,
        }));
        tx.emit(WalrusEvent::CapacityUpdated(ev::CapacityUpdated {
            epoch: new_epoch,
            total_capacity_size: self.total_capacity_size,
            used_capacity_size: self.used_capacity_size,
        }));

        let paid = std::mem::replace(&mut self.committee, next);
        self.epoch = new_epoch;
        self.epoch_change_started_ms = tx.now_ms;
        self.epoch_state = Some(EpochState::EpochChangeSync { weight: 0 });
        let total = u128::from(rewards);
        let n = u128::from(self.n_shards);
        let mut advanced: Vec<Address> = paid.keys().copied().collect();
        advanced.extend(self.committee.keys().filter(|id| !paid.contains_key(id)));
        let mut left = rewards;
        for node_id in advanced {
            let shards = paid.get(&node_id).map_or(0, Vec::len) as u128;
            let share = (total * shards / n) as u64;
            left -= share;
            let pool = self.pools.get_mut(&node_id).expect("committee members have pools");
            pool.catch_up(ended);
            let commission = pool.advance_epoch(new_epoch, share);
            if share > 0 {
                tx.emit(WalrusEvent::RewardsDistributed(ev::RewardsDistributed {
                    epoch: ended,
                    node_id,
                    reward: share,
                    commission,
                    pool_wal: pool.wal_balance,
                    pool_shares: pool.num_shares,
                }));
            }
            self.update_active_set(node_id);
        }
        self.previous_committee = paid;
        self.ring_entry_mut(0).rewards += left;
        Ok(())
    }

    fn epoch_sync_done(&mut self, tx: &mut Tx, node_id: Address, epoch: u32) -> Result<(), ChainError> {
        let pool = self
            .pools
            .get(&node_id)
            .ok_or_else(|| ChainError::NotFound { what: "storage node", id: node_id.to_string() })?;
        if pool.operator != tx.sender {
            return Err(ChainError::NotOwner {
                id: pool.cap_id.to_string(),
                owner: pool.operator.to_string(),
                sender: tx.sender.to_string(),
            });
        }
        if epoch != self.epoch {
            return Err(aborts::EInvalidSyncEpoch.into());
        }
        if pool.last_epoch_sync_done >= epoch {
            return Err(aborts::EDuplicateSyncDone.into());
        }
        let Some(shards) = self.committee.get(&node_id).cloned() else {
            return Err(aborts::ENotInCommittee.into());
        };
        self.pools.get_mut(&node_id).expect("found above").last_epoch_sync_done = epoch;
        let count = shards.len() as u16;
        tx.emit(WalrusEvent::ShardsReceived(ev::ShardsReceived { epoch, shards }));
        if let Some(EpochState::EpochChangeSync { weight }) = self.epoch_state {
            let weight = weight + count;
            if 3 * u64::from(weight) > 2 * u64::from(self.n_shards) {
                self.epoch_state = Some(EpochState::EpochChangeDone);
                tx.emit(WalrusEvent::EpochChangeDone(ev::EpochChangeDone { epoch }));
            } else {
                self.epoch_state = Some(EpochState::EpochChangeSync { weight });
            }
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn register_blob(
        &mut self,
        tx: &mut Tx,
        blob_id: &[u8; 32],
        root_hash: &[u8; 32],
        size: u64,
        encoding_type: u8,
        deletable: bool,
        epochs_ahead: u32,
    ) -> Result<(), ChainError> {
        let encoded_size = rules::encoded_blob_length(size, encoding_type, self.bls_committee.n_shards())?;
        // `reserve_space`.
        if epochs_ahead == 0 {
            return Err(aborts::EInvalidEpochsAhead.into());
        }
        let start_epoch = self.epoch;
        let end_epoch = start_epoch.checked_add(epochs_ahead).ok_or(aborts::EInvalidEpochsAhead)?;
        let cost = self.reserve_and_pay(tx.sender, encoded_size, start_epoch, end_epoch)?;
        let storage = StorageObject { id: tx.fresh_id(), start_epoch, end_epoch, storage_size: encoded_size };
        tx.emit(WalrusEvent::StorageReserved(ev::StorageReserved {
            epoch: self.epoch,
            storage_id: storage.id,
            start_epoch,
            end_epoch,
            storage_size: encoded_size,
            cost,
        }));
        // `blob::new`, then the write fee.
        if rules::derive_blob_id(root_hash, encoding_type, size) != *blob_id {
            return Err(aborts::EInvalidBlobId.into());
        }
        let blob = BlobObject {
            id: tx.fresh_id(),
            owner: tx.sender,
            registered_epoch: self.epoch,
            blob_id: BlobId(*blob_id),
            size,
            encoding_type,
            certified_epoch: None,
            storage,
            deletable,
        };
        tx.emit(WalrusEvent::BlobRegistered(ev::BlobRegistered {
            epoch: self.epoch,
            blob_id: blob.blob_id,
            size,
            encoding_type,
            end_epoch,
            deletable,
            object_id: blob.id,
        }));
        let fee = rules::cost(encoded_size, self.write_price, 1)?;
        self.pay(tx.sender, fee)?;
        self.ring_entry_mut(0).rewards += fee;
        self.blobs.insert(blob.id, blob);
        Ok(())
    }

    /// Reserves `amount` bytes in `[start, end)` and credits each epoch its share.
    fn reserve_and_pay(&mut self, payer: Address, amount: u64, start: u32, end: u32) -> Result<u64, ChainError> {
        let current = self.epoch;
        let ahead = end.checked_sub(current).ok_or(aborts::EInvalidEpochsAhead)?;
        if end <= start || ahead > self.ring.len() as u32 {
            return Err(aborts::EInvalidEpochsAhead.into());
        }
        let per_epoch = rules::cost(amount, self.storage_price, 1)?;
        let total = rules::cost(amount, self.storage_price, u64::from(end - start))?;
        self.pay(payer, total)?;
        let capacity = self.total_capacity_size;
        for epoch in start..end {
            let entry = self.ring_entry_mut(epoch - current);
            entry.used_capacity = entry.used_capacity.checked_add(amount).ok_or(aborts::EStorageExceeded)?;
            if entry.used_capacity > capacity {
                return Err(aborts::EStorageExceeded.into());
            }
            entry.rewards += per_epoch;
        }
        self.used_capacity_size = self.ring_entry(0).used_capacity;
        Ok(total)
    }

    fn pay(&mut self, payer: Address, amount: u64) -> Result<(), ChainError> {
        let balance = self.balances.entry(payer).or_default();
        *balance = balance.checked_sub(amount).ok_or(aborts::EInsufficientPayment)?;
        Ok(())
    }

    fn owned_blob(&mut self, tx: &Tx, object_id: &Address) -> Result<&mut BlobObject, ChainError> {
        let blob = self
            .blobs
            .get_mut(object_id)
            .ok_or_else(|| ChainError::NotFound { what: "blob object", id: object_id.to_string() })?;
        if blob.owner != tx.sender {
            return Err(ChainError::NotOwner {
                id: object_id.to_string(),
                owner: blob.owner.to_string(),
                sender: tx.sender.to_string(),
            });
        }
        Ok(blob)
    }

    fn next_counted_epoch(&self) -> u32 {
        if self.next_committee.is_some() {
            self.epoch + 2
        } else {
            self.epoch + 1
        }
    }

    pub fn epoch_start(&self, epoch: u32) -> u64 {
        self.first_epoch_start_ms + u64::from(epoch - 1) * self.epoch_duration_ms
    }

    /// The earliest time the next epoch may start.
    pub fn next_epoch_start(&self) -> u64 {
        let scheduled = self.epoch_start(self.epoch + 1);
        if self.epoch == 0 {
            scheduled
        } else {
            scheduled.max(self.epoch_change_started_ms + self.epoch_duration_ms)
        }
    }

    fn assert_due(&self, time: u64) -> Result<(), ChainError> {
        if time < self.epoch_start(self.epoch + 1) {
            return Err(aborts::ETooEarly.into());
        }
        if time < self.next_epoch_start() {
            return Err(aborts::ETooSoonAfterLastChange.into());
        }
        Ok(())
    }

    fn update_active_set(&mut self, node_id: Address) {
        let stake = self.pools[&node_id].stake_at_epoch(self.next_counted_epoch());
        let index = self.active_set.iter().position(|(id, _)| *id == node_id);
        if stake < MIN_STAKE {
            if let Some(i) = index {
                self.active_set.swap_remove(i);
            }
            return;
        }
        if let Some(i) = index {
            self.active_set[i] = (node_id, stake);
        } else if self.active_set.len() < usize::from(self.max_committee_size) {
            self.active_set.push((node_id, stake));
        } else {
            let mut smallest = 0;
            for i in 0..self.active_set.len() {
                if self.active_set[i].1 < self.active_set[smallest].1 {
                    smallest = i;
                }
            }
            if stake > self.active_set[smallest].1 {
                self.active_set[smallest] = (node_id, stake);
            }
        }
    }

    fn ring_entry(&self, ahead: u32) -> &Accounting {
        &self.ring[((ahead + self.ring_index) % self.ring.len() as u32) as usize]
    }

    fn ring_entry_mut(&mut self, ahead: u32) -> &mut Accounting {
        let len = self.ring.len() as u32;
        &mut self.ring[((ahead + self.ring_index) % len) as usize]
    }

    fn ring_pop_expand(&mut self) -> Accounting {
        let len = self.ring.len() as u32;
        let index = self.ring_index as usize;
        let fresh = Accounting { epoch: self.ring[index].epoch + len, used_capacity: 0, rewards: 0 };
        self.ring_index = (self.ring_index + 1) % len;
        std::mem::replace(&mut self.ring[index], fresh)
    }

    /// The blob objects registered for `blob_id` (several owners may register one blob).
    pub fn blobs_by_id(&self, blob_id: &BlobId) -> Vec<&BlobObject> {
        self.blobs.values().filter(|b| b.blob_id == *blob_id).collect()
    }
}
