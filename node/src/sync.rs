//! Blob sync: after a blob is certified, a node that lacks slivers of its own shards rebuilds
//! them from recovery symbols other committee members serve, and fetches the metadata first if
//! it lacks that too. Everything fetched is verified (metadata against the blob ID, symbols
//! against the metadata, rebuilt slivers against their hashes) before it is stored.
//!
//! At most [`MAX_CONCURRENT_SYNCS`] blobs sync at once; a failed attempt is retried with a
//! growing pause; outcomes are counted in `blob_sync_*` metrics.

use std::sync::Arc;
use std::time::Duration;

use walrus_encoder::{
    recover_sliver, Axis, BlobId, BlobMetadataWithId, GeneralRecoverySymbol, Primary, RecoveryError, Secondary,
    SliverPairIndex, VerifiedMetadata,
};

use crate::chain::Member;
use crate::node::NodeState;

/// Blobs synced at the same time; more wait their turn.
pub const MAX_CONCURRENT_SYNCS: usize = 8;
const ATTEMPTS: u32 = 5;
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Syncs `blob_id` until it is complete, gone, or the attempts are used up.
pub(crate) async fn sync_blob(state: Arc<NodeState>, blob_id: BlobId) {
    let Ok(_permit) = state.sync_limit.acquire().await else { return };
    let mut pause = FIRST_PAUSE;
    for attempt in 1..=ATTEMPTS {
        match sync_once(&state, &blob_id).await {
            Ok(recovered) => {
                state.record(|| {
                    metrics::counter!("blob_sync_slivers_recovered_total").increment(recovered);
                    metrics::counter!("blob_sync_blobs_total", "outcome" => "done").increment(1);
                });
                return;
            }
            Err(error) => {
                tracing::warn!(%blob_id, attempt, %error, "blob sync failed");
                state.record(|| metrics::counter!("blob_sync_attempts_failed_total").increment(1));
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
    state.record(|| metrics::counter!("blob_sync_blobs_total", "outcome" => "gave_up").increment(1));
}

/// One pass over the node's pairs of the blob; returns how many slivers it rebuilt.
async fn sync_once(state: &NodeState, blob_id: &BlobId) -> Result<u64, String> {
    if !state.store.blob_state(blob_id).map_err(|e| e.to_string())?.is_registered() {
        return Ok(0);
    }
    let committee = state.store.committee().map_err(|e| e.to_string())?;
    let others: Vec<&Member> = committee.members.iter().filter(|m| m.node_id != state.node_id).collect();
    let metadata = match state.stored_metadata(blob_id).map_err(|e| e.to_string())? {
        Some(metadata) => metadata,
        None => Arc::new(fetch_metadata(state, blob_id, &others).await?),
    };
    let rotation = metadata.rotation();
    let mut recovered = 0;
    for shard in state.own_shards(&committee) {
        let pair = rotation.pair_on(shard);
        recovered += u64::from(recover_missing::<Primary>(state, &metadata, pair, &others).await?);
        recovered += u64::from(recover_missing::<Secondary>(state, &metadata, pair, &others).await?);
    }
    Ok(recovered)
}

async fn fetch(state: &NodeState, member: &Member, path_and_query: &str) -> Result<Vec<u8>, String> {
    let url = format!("http://{}/v1/blobs/{path_and_query}", member.network_address);
    let response = state.http.get(&url).timeout(REQUEST_TIMEOUT).send().await.map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: {}", response.status()));
    }
    response.bytes().await.map(|b| b.to_vec()).map_err(|e| format!("{url}: {e}"))
}

/// The first metadata another member serves that hashes to the blob ID, stored.
async fn fetch_metadata(state: &NodeState, blob_id: &BlobId, others: &[&Member]) -> Result<VerifiedMetadata, String> {
    for member in others {
        let Ok(bytes) = fetch(state, member, &format!("{blob_id}/metadata")).await else { continue };
        let Ok(metadata) = BlobMetadataWithId::from_bcs(&bytes) else { continue };
        if metadata.blob_id != *blob_id {
            continue;
        }
        if let Ok(metadata) = metadata.verify() {
            let bcs = metadata.as_metadata_with_id().to_bcs();
            state.store.put_metadata(blob_id, &bcs).map_err(|e| e.to_string())?;
            return Ok(metadata);
        }
    }
    Err("no member served valid metadata".into())
}

/// Rebuilds this node's sliver of axis `A` in `pair` if it is missing; `true` if it did.
async fn recover_missing<A: Axis>(
    state: &NodeState,
    metadata: &VerifiedMetadata,
    pair: SliverPairIndex,
    others: &[&Member],
) -> Result<bool, String> {
    let blob_id = metadata.blob_id();
    if state.store.has_sliver::<A>(&blob_id, pair).map_err(|e| e.to_string())? {
        return Ok(false);
    }
    let target = pair.sliver::<A>(metadata.n_shards());
    let query = format!("{blob_id}/recoverySymbols?targetSliver={}&targetType={}", target.get(), A::NAME);
    let mut symbols = Vec::new();
    for member in others {
        let Ok(bytes) = fetch(state, member, &query).await else { continue };
        let Ok(general) = bcs::from_bytes::<Vec<GeneralRecoverySymbol>>(&bytes) else { continue };
        symbols.extend(
            general.into_iter().filter_map(|s| s.for_axis::<A>()).filter(|(t, _)| *t == target).map(|(_, s)| s),
        );
        match recover_sliver(metadata, target, &symbols) {
            Ok(sliver) => {
                state.store.put_sliver::<A>(&blob_id, pair, sliver.to_bcs().into()).map_err(|e| e.to_string())?;
                return Ok(true);
            }
            Err(RecoveryError::Inconsistent(_)) => {
                return Err(format!(
                    "{} sliver {target} cannot be rebuilt: the blob is inconsistently encoded",
                    A::NAME
                ))
            }
            // Too few valid symbols yet: ask the next member.
            Err(RecoveryError::Invalid(_)) => {}
        }
    }
    Err(format!("too few valid symbols for {} sliver {target}", A::NAME))
}
