//! [`ChainAccess`] on a real Sui network, through a full node's gRPC API: reads decode the
//! `System` and `Staking` objects' state, the committee members' staking pools and the
//! wallet's `Blob` objects as `move/walrus` lays them out; every transaction takes the one
//! send path of [`submit`] (simulated, its cost shown, confirmed, signed, executed, waited for
//! until it is in a checkpoint).
//!
//! A full node finds objects by owner, not by blob ID: [`ChainAccess::blob_objects`] returns
//! the wallet's own objects of the blob only. That is what storing needs (an owned
//! registration to reuse); an already certified blob of someone else is not seen, so storing
//! it again registers it anew.

use std::sync::Arc;

use async_trait::async_trait;
use fastcrypto::groups::bls12381::{G1Element, G1ElementUncompressed};
use fastcrypto::serde_helpers::ToFromByteArray as _;
use sui_sdk_types::{Address, ObjectReference, Owner, Transaction};
use walrus_chain::events::U256;
use walrus_encoder::BlobId;

use super::blobs::{self, BlsMember, OwnedStorage, SystemState};
use super::deployment::Deployment;
use super::full_node::{FullNode, NodeError};
use super::keys::SuiKey;
use super::stake_value;
use super::submit::{self, Preview, SubmitOptions, Submitted};
use super::transactions::{self, BlobRegistration, BuildError, Gas};
use crate::certificate::Certificate;
use crate::chain::{
    BlobObject, ChainAccess, ChainError, Committee, Member, ObjectId, Prices, RegisterRequest, Registered,
};

/// Decides whether a simulated transaction is sent: it is shown the [`Preview`] and whether
/// the user's agreement is asked for (`true` for what spends WAL or removes a blob; a
/// certification, which only finishes a store the user agreed to, is shown only).
pub type Confirm = Arc<dyn Fn(&Preview, bool) -> bool + Send + Sync>;

/// A registration simulated but not sent.
pub struct SimulatedRegistration {
    pub preview: Preview,
    /// The most it would charge (FROST): the write fee alone on owned storage.
    pub max_cost: u64,
    /// Whether it registers on storage the wallet owns instead of buying it.
    pub reused_storage: bool,
}

/// The chain of a deployment, as seen and used by one wallet.
pub struct SuiChain {
    deployment: Deployment,
    node: FullNode,
    /// Who signs, pays and owns; without a wallet only the reads that need no owner work.
    key: Option<SuiKey>,
    options: SubmitOptions,
    confirm: Confirm,
}

/// Not enough WAL for a payment.
#[derive(Debug, thiserror::Error)]
#[error("{owner} holds {} WAL, less than the {} WAL {what}", super::cli::wal_text(*held), super::cli::wal_text(*needed))]
pub struct InsufficientWal {
    pub owner: Address,
    pub held: u64,
    pub needed: u64,
    /// What the amount is: "asked for", "needed".
    pub what: &'static str,
}

/// WAL coins of `owner` enough for `amount`, largest first.
pub async fn wal_coins(
    node: &FullNode,
    deployment: &Deployment,
    owner: Address,
    amount: u64,
    what: &'static str,
) -> Result<Result<Vec<ObjectReference>, InsufficientWal>, NodeError> {
    let coins = node.coins(owner, &deployment.wal_coin()).await?;
    let held: u64 = coins.iter().map(|c| c.balance).fold(0, u64::saturating_add);
    if held < amount {
        return Ok(Err(InsufficientWal { owner, held, needed: amount, what }));
    }
    let mut sum = 0u64;
    let enough = coins.iter().take_while(|c| {
        let more = sum < amount;
        sum = sum.saturating_add(c.balance);
        more
    });
    Ok(Ok(enough.map(|c| c.reference.clone()).collect()))
}

fn chain_error(e: impl std::fmt::Display) -> ChainError {
    ChainError(e.to_string())
}

/// The 48-byte compressed form of a committee key the contract keeps uncompressed.
fn compressed_key(node_id: &ObjectId, uncompressed: &[u8]) -> Result<Vec<u8>, ChainError> {
    let bad = || ChainError(format!("node {node_id}: the committee's key is not an uncompressed BLS12-381 G1 point"));
    let bytes: [u8; 96] = uncompressed.try_into().map_err(|_| bad())?;
    let point = G1Element::try_from(&G1ElementUncompressed::from_trusted_byte_array(bytes)).map_err(|_| bad())?;
    Ok(point.to_byte_array().to_vec())
}

/// Cost in FROST of `bytes` encoded bytes at `price` per started MiB for `epochs` epochs, as
/// `system_state_inner::cost` computes it (`None` where the contract aborts on overflow).
fn cost(bytes: u64, price: u64, epochs: u32) -> Option<u64> {
    let units = u128::from(bytes.div_ceil(Prices::UNIT_SIZE));
    u64::try_from(units * u128::from(price) * u128::from(epochs)).ok()
}

impl SuiChain {
    /// The chain of `deployment` through `node`; `key` signs (none: reads only). Transactions
    /// are sent with `options` (its `dry_run` is ignored: see the `send_*` methods) once
    /// `confirm` agrees.
    pub fn new(
        deployment: Deployment,
        node: FullNode,
        key: Option<SuiKey>,
        options: SubmitOptions,
        confirm: Confirm,
    ) -> Self {
        Self { deployment, node, key, options, confirm }
    }

    fn key(&self) -> Result<&SuiKey, ChainError> {
        self.key.as_ref().ok_or_else(|| ChainError("no wallet: pass --keystore (and --address) to sign".into()))
    }

    pub async fn system(&self) -> Result<SystemState, ChainError> {
        blobs::system_state(&self.node, &self.deployment).await.map_err(chain_error)
    }

    /// Simulates `build`'s transaction and, unless `dry_run`, sends it once confirmed.
    async fn send(
        &self,
        action: String,
        ask: bool,
        dry_run: bool,
        build: impl Fn(&Gas) -> Result<Transaction, BuildError>,
    ) -> Result<Submitted, ChainError> {
        let options = SubmitOptions { dry_run, ..self.options };
        let confirm = self.confirm.clone();
        let mut confirm = move |preview: &Preview| confirm(preview, ask);
        submit::submit(&self.node, self.key()?, action, build, &options, &mut confirm).await.map_err(chain_error)
    }

    /// The wallet's WAL coins enough for `amount`.
    async fn wal_for(&self, amount: u64) -> Result<Vec<ObjectReference>, ChainError> {
        let coins = wal_coins(&self.node, &self.deployment, self.key()?.address(), amount, "needed").await;
        coins.map_err(chain_error)?.map_err(chain_error)
    }

    /// The wallet's `Blob` object `id`: its reference for a transaction, and its contents.
    async fn own_blob(&self, id: &ObjectId) -> Result<(ObjectReference, BlobObject), ChainError> {
        let address = Address::new(id.0);
        let (info, contents) = match self.node.object_with_contents(address).await {
            Ok(found) => found,
            Err(NodeError::NotFound(_)) => {
                return Err(ChainError(format!("no object {id}: deleted, or never existed")))
            }
            Err(e) => return Err(chain_error(e)),
        };
        self.check_blob_type(id, info.object_type.as_deref())?;
        let owner = self.key()?.address();
        if info.owner != Owner::Address(owner) {
            return Err(ChainError(format!("blob object {id} is not {owner}'s")));
        }
        Ok((info.reference, blobs::decode_blob(&contents, true).map_err(chain_error)?))
    }

    fn check_blob_type(&self, id: &ObjectId, object_type: Option<&str>) -> Result<(), ChainError> {
        let wanted = self.deployment.walrus_type("blob", "Blob");
        match object_type {
            Some(t) if super::deployment::normalize_type(t) == super::deployment::normalize_type(&wanted) => Ok(()),
            other => {
                Err(ChainError(format!("{id} is not a Blob of this deployment but {}", other.unwrap_or("a package"))))
            }
        }
    }

    /// The wallet's `Storage` object that `request` can be registered on instead of buying
    /// storage: from the current epoch or earlier to at least the end asked for, at least the
    /// encoded size; the smallest such (then the one ending first), so that little is wasted.
    async fn reusable_storage(
        &self,
        request: &RegisterRequest,
        epoch: u32,
    ) -> Result<Option<OwnedStorage>, ChainError> {
        let end = epoch.saturating_add(request.epochs_ahead);
        let owned = blobs::owned_storage(&self.node, &self.deployment, self.key()?.address()).await;
        Ok(owned
            .map_err(chain_error)?
            .into_iter()
            .filter(|s| s.start_epoch <= epoch && s.end_epoch >= end && s.storage_size >= request.encoded_size)
            .min_by_key(|s| (s.storage_size, s.end_epoch)))
    }

    /// The registration of `request` at the current prices, on the wallet's `storage` if
    /// given (else on storage bought in the same transaction): the blob arguments and the
    /// most it may charge (storage, write fee), and the action shown.
    async fn registration(
        &self,
        request: &RegisterRequest,
        storage: Option<&OwnedStorage>,
    ) -> Result<(BlobRegistration, String), ChainError> {
        let system = self.system().await?;
        let overflow = || ChainError("the cost does not fit in a u64".into());
        let storage_cost = match storage {
            Some(_) => 0,
            None => cost(request.encoded_size, system.storage_price, request.epochs_ahead).ok_or_else(overflow)?,
        };
        let write = cost(request.encoded_size, system.write_price, 1).ok_or_else(overflow)?;
        let registration = BlobRegistration {
            blob_id: walrus_chain::events::BlobId(request.blob_id.0),
            root_hash: U256(request.root_hash),
            size: request.unencoded_size,
            storage_size: request.encoded_size,
            epochs_ahead: request.epochs_ahead,
            deletable: request.deletable,
            max_storage_cost: storage_cost,
            max_write_cost: write,
        };
        let kind = if request.deletable { "deletable" } else { "permanent" };
        if let Some(owned) = storage {
            let action = format!(
                "Register {kind} blob {} on the wallet's storage {} ({} encoded bytes, epochs {}..{}) for at most {} \
                 WAL (the write fee; the storage is paid for)",
                request.blob_id,
                owned.reference.object_id(),
                owned.storage_size,
                owned.start_epoch,
                owned.end_epoch,
                super::cli::wal_text(write),
            );
            return Ok((registration, action));
        }
        let action = format!(
            "Reserve {} encoded bytes for epochs {}..{} and register {kind} blob {} for at most {} WAL (storage {} + \
             write {})",
            request.encoded_size,
            system.epoch,
            system.epoch.saturating_add(request.epochs_ahead),
            request.blob_id,
            super::cli::wal_text(storage_cost.saturating_add(write)),
            super::cli::wal_text(storage_cost),
            super::cli::wal_text(write),
        );
        Ok((registration, action))
    }

    /// Registers `request` on the wallet's own storage if some fits, else reserves storage
    /// and registers in one transaction (with `dry_run`, only simulates it); returns how it
    /// ended, the most it charges (FROST) and whether owned storage was used.
    async fn send_registration(
        &self,
        request: &RegisterRequest,
        dry_run: bool,
    ) -> Result<(Submitted, u64, bool), ChainError> {
        let epoch = self.current_epoch().await?;
        let storage = self.reusable_storage(request, epoch).await?;
        let (registration, action) = self.registration(request, storage.as_ref()).await?;
        let cost = registration.max_storage_cost.saturating_add(registration.max_write_cost);
        let wal = self.wal_for(cost).await?;
        let walrus = self.deployment.walrus;
        let sent = match &storage {
            Some(storage) => {
                let reference = &storage.reference;
                self.send(action, true, dry_run, |g| {
                    transactions::register_on_storage(g, &walrus, reference, &wal, &registration)
                })
                .await?
            }
            None => {
                self.send(action, true, dry_run, |g| {
                    transactions::reserve_and_register(g, &walrus, &wal, &registration)
                })
                .await?
            }
        };
        Ok((sent, cost, storage.is_some()))
    }

    /// Simulates registering `request` as a store would (on owned storage if some fits, else
    /// reserving it too): what `store --dry-run` shows.
    pub async fn simulate_register(&self, request: &RegisterRequest) -> Result<SimulatedRegistration, ChainError> {
        let (submitted, max_cost, reused_storage) = self.send_registration(request, true).await?;
        let (Submitted::Simulated(preview) | Submitted::Executed { preview, .. }) = submitted;
        Ok(SimulatedRegistration { preview, max_cost, reused_storage })
    }

    /// Deletes the wallet's deletable blob object `id` (with `dry_run`, only simulates it).
    pub async fn send_delete(&self, id: &ObjectId, dry_run: bool) -> Result<Submitted, ChainError> {
        let (reference, blob) = self.own_blob(id).await?;
        if !blob.deletable {
            return Err(ChainError(format!("blob object {id} is permanent: only deletable blobs can be deleted")));
        }
        let walrus = self.deployment.walrus;
        let action = format!("Delete blob object {id} (blob {}); its storage stays with the wallet", blob.blob_id);
        self.send(action, true, dry_run, |g| transactions::delete_blob(g, &walrus, &reference)).await
    }

    /// Adds `epochs` to the storage of the wallet's certified blob object `id` (with
    /// `dry_run`, only simulates it); returns how it ended and the most it charges (FROST).
    pub async fn send_extend(&self, id: &ObjectId, epochs: u32, dry_run: bool) -> Result<(Submitted, u64), ChainError> {
        if epochs == 0 {
            return Err(ChainError("extending by 0 epochs does nothing".into()));
        }
        let (reference, blob) = self.own_blob(id).await?;
        let system = self.system().await?;
        let max_cost = cost(blob.storage_size, system.storage_price, epochs)
            .ok_or_else(|| ChainError("the cost does not fit in a u64".into()))?;
        let wal = self.wal_for(max_cost).await?;
        let walrus = self.deployment.walrus;
        let action = format!(
            "Extend blob object {id} (blob {}) by {epochs} epochs, to epoch {}, for at most {} WAL",
            blob.blob_id,
            blob.end_epoch.saturating_add(epochs),
            super::cli::wal_text(max_cost)
        );
        let sent = self
            .send(action, true, dry_run, |g| transactions::extend_blob(g, &walrus, &reference, &wal, epochs, max_cost))
            .await?;
        Ok((sent, max_cost))
    }

    /// A committee member from its `System` entry, its `shards` in the `Staking` committee
    /// and its pool's network address.
    async fn member(&self, m: &BlsMember, shards: Option<Vec<u16>>) -> Result<Member, ChainError> {
        let node_id = ObjectId(m.node_id);
        let shards =
            shards.ok_or_else(|| ChainError(format!("node {node_id} has no shards in the Staking committee")))?;
        if shards.len() != usize::from(m.weight) {
            return Err(ChainError(format!(
                "node {node_id} has weight {} in the System committee but {} shards",
                m.weight,
                shards.len()
            )));
        }
        let pool = self.node.contents(Address::new(m.node_id)).await.map_err(chain_error)?;
        let network_address = stake_value::pool_node(&pool.contents)
            .map_err(|e| ChainError(format!("node {node_id}: {e}")))?
            .network_address;
        let public_key = compressed_key(&node_id, &m.public_key)?;
        Ok(Member { node_id, public_key, shards, network_address })
    }

    /// The blob object `id` once a transaction that wrote it is in a checkpoint.
    async fn blob_after(&self, id: &ObjectId) -> Result<BlobObject, ChainError> {
        Ok(self.own_blob(id).await?.1)
    }
}

#[async_trait]
impl ChainAccess for SuiChain {
    async fn current_epoch(&self) -> Result<u32, ChainError> {
        Ok(self.system().await?.epoch)
    }

    /// The `System` object's committee (keys, weights, order) with the shards the `Staking`
    /// object assigns and the addresses the members' pools give.
    async fn committee(&self) -> Result<Committee, ChainError> {
        let system = self.system().await?;
        let staking = blobs::staking_state(&self.node, &self.deployment).await.map_err(chain_error)?;
        if staking.epoch != system.epoch {
            return Err(ChainError(format!(
                "the System object is in epoch {} but the Staking object in epoch {}",
                system.epoch, staking.epoch
            )));
        }
        let members = system.members.iter().map(|m| {
            let node_id = ObjectId(m.node_id);
            let shards = staking.shards.iter().find(|(id, _)| *id == node_id).map(|(_, s)| s.clone());
            self.member(m, shards)
        });
        let members = futures::future::try_join_all(members).await?;
        Ok(Committee { epoch: system.epoch, members })
    }

    /// The `Staking` object's shard count, fixed at genesis (the `System` committee has none
    /// before epoch 1).
    async fn n_shards(&self) -> Result<u16, ChainError> {
        Ok(blobs::staking_state(&self.node, &self.deployment).await.map_err(chain_error)?.n_shards)
    }

    async fn prices(&self) -> Result<Prices, ChainError> {
        let system = self.system().await?;
        Ok(Prices { storage_per_unit_epoch: system.storage_price, write_per_unit: system.write_price })
    }

    async fn max_epochs_ahead(&self) -> Result<u32, ChainError> {
        Ok(self.system().await?.max_epochs_ahead)
    }

    /// The wallet's live objects of the blob only (see the module's documentation).
    async fn blob_objects(&self, blob_id: &BlobId) -> Result<Vec<BlobObject>, ChainError> {
        let owner = self.key()?.address();
        let epoch = self.current_epoch().await?;
        let found =
            blobs::owned_blobs(&self.node, &self.deployment, owner, blob_id, true).await.map_err(chain_error)?;
        Ok(found.into_iter().filter(|b| b.end_epoch > epoch).collect())
    }

    async fn blob_object(&self, object_id: &ObjectId) -> Result<Option<BlobObject>, ChainError> {
        let (info, contents) = match self.node.object_with_contents(Address::new(object_id.0)).await {
            Ok(found) => found,
            Err(NodeError::NotFound(_)) => return Ok(None),
            Err(e) => return Err(chain_error(e)),
        };
        self.check_blob_type(object_id, info.object_type.as_deref())?;
        let owned = self.key.as_ref().is_some_and(|k| info.owner == Owner::Address(k.address()));
        let blob = blobs::decode_blob(&contents, owned).map_err(chain_error)?;
        let epoch = self.current_epoch().await?;
        Ok(Some(blob).filter(|b| b.end_epoch > epoch))
    }

    async fn owned_blobs(&self) -> Result<Vec<BlobObject>, ChainError> {
        let owner = self.key()?.address();
        blobs::all_owned_blobs(&self.node, &self.deployment, owner, true).await.map_err(chain_error)
    }

    /// `reserve_space_bounded` then `register_blob_bounded` in one transaction, bounded by the
    /// cost at the prices read just before (prices change only with the epoch).
    async fn register(&self, request: &RegisterRequest) -> Result<Registered, ChainError> {
        let (sent, cost, reused_storage) = self.send_registration(request, false).await?;
        let Submitted::Executed { outcome, .. } = &sent else { unreachable!("sent without a dry run") };
        let created = outcome
            .created_of_type("blob", "Blob")
            .ok_or_else(|| ChainError(format!("transaction {} created no Blob object", outcome.digest)))?;
        let blob = self.blob_after(&ObjectId(created.reference.object_id().into_inner())).await?;
        Ok(Registered { blob, cost, reused_storage })
    }

    async fn certify(&self, object_id: &ObjectId, certificate: &Certificate) -> Result<BlobObject, ChainError> {
        let (reference, blob) = self.own_blob(object_id).await?;
        let walrus = self.deployment.walrus;
        let arguments = transactions::Certificate {
            signature: certificate.signature.to_vec(),
            signers_bitmap: certificate.signers_bitmap(),
            message: certificate.message.clone(),
        };
        let action = format!("Certify blob {} (object {object_id})", blob.blob_id);
        self.send(action, false, false, |g| transactions::certify_blob(g, &walrus, &reference, &arguments)).await?;
        self.blob_after(object_id).await
    }

    async fn delete(&self, object_id: &ObjectId) -> Result<(), ChainError> {
        self.send_delete(object_id, false).await.map(|_| ())
    }

    async fn extend(&self, object_id: &ObjectId, epochs: u32) -> Result<Registered, ChainError> {
        let (_, cost) = self.send_extend(object_id, epochs, false).await?;
        Ok(Registered { blob: self.blob_after(object_id).await?, cost, reused_storage: false })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn costs_are_per_started_mib_and_overflow_is_refused() {
        assert_eq!(cost(1, 7, 3), Some(21));
        assert_eq!(cost(Prices::UNIT_SIZE + 1, 7, 3), Some(42));
        assert_eq!(cost(0, 7, 3), Some(0));
        assert_eq!(cost(u64::MAX, u64::MAX, 1), None);
    }

    #[test]
    fn committee_keys_are_compressed_and_garbage_is_refused() {
        use fastcrypto::groups::GroupElement as _;
        let point = G1Element::generator() * fastcrypto::groups::bls12381::Scalar::from(5u128);
        let uncompressed = G1ElementUncompressed::from(&point).into_byte_array();
        let id = ObjectId([1; 32]);
        assert_eq!(compressed_key(&id, &uncompressed).unwrap(), point.to_byte_array().to_vec());
        assert!(compressed_key(&id, &uncompressed[..48]).is_err());
        let mut off_curve = uncompressed;
        off_curve[95] ^= 1;
        assert!(compressed_key(&id, &off_curve).unwrap_err().0.contains("not an uncompressed"));
    }
}
