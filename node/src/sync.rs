//! Blob sync: after a blob is certified, a node that lacks slivers of its own shards rebuilds
//! them from recovery symbols other committee members serve, and fetches the metadata first if
//! it lacks that too. Everything fetched is verified (metadata against the blob ID, symbols
//! against the metadata, rebuilt slivers against their hashes) before it is stored.
//!
//! Symbols are first fetched without proofs (`decodingSymbols`, all of the node's targets of
//! an axis in one request to each member, in parallel) and every rebuilt sliver is checked
//! against its hash in the metadata; a sliver that fails the check is rebuilt again from
//! symbols with proofs, which tells a lying member from an inconsistently encoded blob.
//!
//! At most [`MAX_CONCURRENT_SYNCS`] blobs sync at once, each once at a time; a failed attempt
//! is retried with a growing pause; outcomes are counted in `blob_sync_*` metrics. A certified
//! blob stays pending in the store, in the transaction that certifies it, until its sync
//! finishes, so a sync cut short by a crash (or given up) runs again when the node follows the
//! chain again. The same holds for every live certified blob when an epoch gives the node
//! shards it lacked (marked in the epoch's transaction). A sync ends the pending mark only for
//! the committee it synced for: if an epoch began meanwhile, it runs again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;

use walrus_encoder::{
    recover_sliver, recover_slivers_unproven, Axis, BlobId, BlobMetadataWithId, GeneralRecoverySymbol, Primary,
    RecoveryError, Secondary, SliverIndex, SliverPairIndex, VerifiedMetadata,
};

use crate::chain::Member;
use crate::node::NodeState;

/// Blobs synced at the same time; more wait their turn.
pub const MAX_CONCURRENT_SYNCS: usize = 8;
const ATTEMPTS: u32 = 5;
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// About the most symbol bytes one member's `decodingSymbols` answer should carry.
const MAX_ANSWER_BYTES: usize = 8 << 20;

/// Syncs `blob_id` until it is complete for the current committee, gone, or the attempts are
/// used up; does nothing if a sync of it is already running (that one syncs again if an epoch
/// begins before it ends).
pub(crate) async fn sync_blob(state: Arc<NodeState>, blob_id: BlobId) {
    let Some(_running) = Running::start(&state, blob_id) else { return };
    let Ok(_permit) = state.sync_limit.acquire().await else { return };
    let mut pause = FIRST_PAUSE;
    let mut attempt = 0;
    while attempt < ATTEMPTS {
        match sync_once(&state, &blob_id).await {
            Ok((recovered, epoch)) => {
                state.record(|| metrics::counter!("blob_sync_slivers_recovered_total").increment(recovered));
                match state.store.sync_done(&blob_id, epoch) {
                    Ok(true) => {}
                    // An epoch began meanwhile: sync for its committee's shards.
                    Ok(false) => continue,
                    Err(error) => {
                        tracing::warn!(%blob_id, %error, "cannot record the finished sync; it runs again after a restart")
                    }
                }
                state.record(|| metrics::counter!("blob_sync_blobs_total", "outcome" => "done").increment(1));
                state.sync_finished.notify_waiters();
                return;
            }
            Err(error) => {
                attempt += 1;
                tracing::warn!(%blob_id, attempt, %error, "blob sync failed");
                state.record(|| metrics::counter!("blob_sync_attempts_failed_total").increment(1));
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
    }
    state.record(|| metrics::counter!("blob_sync_blobs_total", "outcome" => "gave_up").increment(1));
}

/// Marks a blob's sync as running while it lives.
struct Running {
    state: Arc<NodeState>,
    blob_id: BlobId,
}

impl Running {
    /// `None` if a sync of `blob_id` is running already.
    fn start(state: &Arc<NodeState>, blob_id: BlobId) -> Option<Self> {
        let fresh = state.syncing.lock().expect("never poisoned").insert(blob_id);
        fresh.then(|| Self { state: state.clone(), blob_id })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        self.state.syncing.lock().expect("never poisoned").remove(&self.blob_id);
    }
}

/// One pass over the node's pairs of the blob in the current committee; returns how many
/// slivers it rebuilt and the committee's epoch. The fetched metadata and the rebuilt slivers
/// are stored together, with the end of the pending mark, in one commit, unless the blob is
/// too large to hold all its rebuilt slivers at once.
async fn sync_once(state: &Arc<NodeState>, blob_id: &BlobId) -> Result<(u64, u32), String> {
    let committee = state.store.committee();
    if !state.store.blob_state(blob_id).map_err(|e| e.to_string())?.is_registered() {
        return Ok((0, committee.epoch));
    }
    let others: Vec<&Member> = committee.members.iter().filter(|m| m.node_id != state.node_id).collect();
    let (metadata, mut fetched) = match state.stored_metadata(blob_id).map_err(|e| e.to_string())? {
        Some(metadata) => (metadata, None),
        None => {
            let metadata = fetch_metadata(state, blob_id, &others).await?;
            let bcs = metadata.as_metadata_with_id().to_bcs();
            (Arc::new(metadata), Some(bcs))
        }
    };
    let rotation = metadata.rotation();
    let pairs: Vec<SliverPairIndex> = state.own_shards(&committee).into_iter().map(|s| rotation.pair_on(s)).collect();
    let missing_primary = state.store.missing_slivers::<Primary>(blob_id, &pairs).map_err(|e| e.to_string())?;
    let missing_secondary = state.store.missing_slivers::<Secondary>(blob_id, &pairs).map_err(|e| e.to_string())?;
    // Bound each member's answer (targets × its shards × symbol size) for large blobs.
    let widest = others.iter().map(|m| m.weight()).max().unwrap_or(1).max(1);
    let per_round = (MAX_ANSWER_BYTES / (widest * usize::from(metadata.layout().symbol_size()))).max(1);
    // A blob rebuilt in several rounds stores each round as it goes (bounded memory), which
    // needs its metadata stored first.
    let store_rounds = missing_primary.len().max(missing_secondary.len()) > per_round;
    if store_rounds {
        if let Some(bcs) = fetched.take() {
            let blob = *blob_id;
            blocking_store(state, move |store| store.put_metadata(&blob, &bcs).map(drop)).await?;
        }
    }
    // The two axes are independent: fetching one overlaps decoding the other.
    let (primary, secondary) = tokio::try_join!(
        sync_axis::<Primary>(state, &metadata, missing_primary, per_round, store_rounds, &others),
        sync_axis::<Secondary>(state, &metadata, missing_secondary, per_round, store_rounds, &others),
    )?;
    let done = (primary.slow.is_empty() && secondary.slow.is_empty()).then_some(committee.epoch);
    let blob = *blob_id;
    let (rebuilt_primary, rebuilt_secondary) = (primary.rebuilt, secondary.rebuilt);
    blocking_store(state, move |store| {
        store.finish_sync(&blob, fetched.as_deref(), &rebuilt_primary, &rebuilt_secondary, done)
    })
    .await?;
    let mut recovered = primary.recovered + secondary.recovered;
    for pair in primary.slow {
        recovered += u64::from(recover_missing::<Primary>(state, &metadata, pair, &others).await?);
    }
    for pair in secondary.slow {
        recovered += u64::from(recover_missing::<Secondary>(state, &metadata, pair, &others).await?);
    }
    Ok((recovered, committee.epoch))
}

/// Runs a store write on the blocking pool.
async fn blocking_store<T: Send + 'static>(
    state: &Arc<NodeState>,
    write: impl FnOnce(&crate::store::Store) -> Result<T, crate::store::StoreError> + Send + 'static,
) -> Result<T, String> {
    let state = state.clone();
    tokio::task::spawn_blocking(move || write(&state.store))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())
}

/// What syncing one axis left to do.
struct AxisSync {
    /// Rebuilt and verified slivers not stored yet.
    rebuilt: Vec<(SliverPairIndex, Bytes)>,
    /// Pairs whose sliver failed the check when rebuilt from proofless symbols.
    slow: Vec<SliverPairIndex>,
    /// Slivers rebuilt from proofless symbols.
    recovered: u64,
}

/// Rebuilds this node's `missing` slivers of axis `A`, `per_round` at a time, storing each
/// round if `store_rounds`, else handing them back to be stored in the sync's one commit.
async fn sync_axis<A: Axis>(
    state: &Arc<NodeState>,
    metadata: &Arc<VerifiedMetadata>,
    missing: Vec<SliverPairIndex>,
    per_round: usize,
    store_rounds: bool,
    others: &[&Member],
) -> Result<AxisSync, String> {
    let mut sync = AxisSync { rebuilt: Vec::new(), slow: Vec::new(), recovered: 0 };
    for chunk in missing.chunks(per_round) {
        let (rebuilt, slow) = rebuild_chunk::<A>(state, metadata, chunk.to_vec(), others).await?;
        sync.recovered += rebuilt.len() as u64;
        sync.slow.extend(slow);
        if store_rounds {
            let blob_id = metadata.blob_id();
            let outcomes = blocking_store(state, move |store| Ok(store.put_slivers::<A>(&blob_id, rebuilt))).await?;
            for outcome in outcomes {
                outcome.map_err(|e| e.to_string())?;
            }
        } else {
            sync.rebuilt.extend(rebuilt);
        }
    }
    Ok(sync)
}

/// Rebuilds the slivers of axis `A` of the `missing` pairs from proofless symbols: the
/// slivers that passed their check, and the pairs whose sliver did not.
async fn rebuild_chunk<A: Axis>(
    state: &Arc<NodeState>,
    metadata: &Arc<VerifiedMetadata>,
    missing: Vec<SliverPairIndex>,
    others: &[&Member],
) -> Result<(Vec<(SliverPairIndex, Bytes)>, Vec<SliverPairIndex>), String> {
    let n = metadata.n_shards();
    let targets: Vec<u16> = missing.iter().map(|p| p.sliver::<A>(n).get()).collect();
    let sources = fetch_decoding_symbols::<A>(state, metadata, &targets, others).await;
    let rebuilt = {
        let metadata = metadata.clone();
        let targets: Vec<SliverIndex<A>> = targets.iter().map(|&t| SliverIndex::new(t)).collect();
        tokio::task::spawn_blocking(move || {
            let sources: Vec<(u16, &[u8])> = sources.iter().map(|(i, line)| (*i, line.as_slice())).collect();
            recover_slivers_unproven::<A>(&metadata, &targets, &sources).unwrap_or_default()
        })
        .await
        .map_err(|e| e.to_string())?
    };
    let (mut fast, mut slow) = (Vec::new(), Vec::new());
    let mut rebuilt = rebuilt.into_iter();
    for pair in missing {
        match rebuilt.next() {
            Some(Ok(sliver)) => fast.push((pair, sliver.to_bcs().into())),
            _ => slow.push(pair),
        }
    }
    Ok((fast, slow))
}

/// The other members' decoding symbols for `targets` (slivers of axis `A`), by source sliver:
/// each source's symbols for all targets, in target order, for the sources that sent all of
/// them. Asks, at once, members enough to decode, then the rest if some fail.
async fn fetch_decoding_symbols<A: Axis>(
    state: &Arc<NodeState>,
    metadata: &VerifiedMetadata,
    targets: &[u16],
    others: &[&Member],
) -> BTreeMap<u16, Vec<u8>> {
    let layout = metadata.layout();
    let needed = usize::from(layout.params().source_symbols::<A::Orthogonal>());
    let s = usize::from(layout.symbol_size());
    let width = targets.len();
    // Where each target's symbols go in a line, by target index.
    let mut slot = vec![None; usize::from(metadata.n_shards())];
    for (w, &t) in targets.iter().enumerate() {
        slot[usize::from(t)] = Some(w);
    }
    let query: Vec<String> = targets.iter().map(|t| format!("targetSlivers={t}")).collect();
    let path = format!("{}/decodingSymbols?{}&targetType={}", metadata.blob_id(), query.join("&"), A::NAME);
    // Per source: its symbols in target order, and which of them arrived.
    let mut lines: BTreeMap<u16, (Vec<u8>, Vec<bool>)> = BTreeMap::new();
    let mut members = others.iter();
    loop {
        let complete = lines.values().filter(|(_, got)| got.iter().all(|g| *g)).count();
        let mut requests = tokio::task::JoinSet::new();
        let mut expected = complete;
        while expected < needed {
            let Some(member) = members.next() else { break };
            expected += member.weight();
            let (http, url) = (state.http.clone(), format!("http://{}/v1/blobs/{path}", member.network_address));
            requests.spawn(async move { fetch_url(&http, &url).await });
        }
        if requests.is_empty() {
            break;
        }
        while let Some(answer) = requests.join_next().await {
            let Ok(Ok(bytes)) = answer else { continue };
            // A malformed answer is ignored whole, as one that did not come.
            let _ = crate::symbols::read_answer(&bytes, A::IS_PRIMARY, |symbol| {
                let Some(&Some(w)) = slot.get(usize::from(symbol.target)) else { return };
                if symbol.data.len() != s {
                    return;
                }
                let (line, got) =
                    lines.entry(symbol.source).or_insert_with(|| (vec![0; width * s], vec![false; width]));
                line[w * s..(w + 1) * s].copy_from_slice(symbol.data);
                got[w] = true;
            });
        }
    }
    lines.into_iter().filter(|(_, (_, got))| got.iter().all(|g| *g)).map(|(i, (line, _))| (i, line)).collect()
}

async fn fetch(state: &Arc<NodeState>, member: &Member, path_and_query: &str) -> Result<Bytes, String> {
    fetch_url(&state.http, &format!("http://{}/v1/blobs/{path_and_query}", member.network_address)).await
}

async fn fetch_url(http: &reqwest::Client, url: &str) -> Result<Bytes, String> {
    let response = http.get(url).timeout(REQUEST_TIMEOUT).send().await.map_err(|e| format!("{url}: {e}"))?;
    if !response.status().is_success() {
        return Err(format!("{url}: {}", response.status()));
    }
    response.bytes().await.map_err(|e| format!("{url}: {e}"))
}

/// The first metadata another member serves that hashes to the blob ID (not stored yet).
async fn fetch_metadata(
    state: &Arc<NodeState>,
    blob_id: &BlobId,
    others: &[&Member],
) -> Result<VerifiedMetadata, String> {
    for member in others {
        let Ok(bytes) = fetch(state, member, &format!("{blob_id}/metadata")).await else { continue };
        let Ok(metadata) = BlobMetadataWithId::from_bcs(&bytes) else { continue };
        if metadata.blob_id != *blob_id {
            continue;
        }
        if let Ok(metadata) = metadata.verify() {
            return Ok(metadata);
        }
    }
    Err("no member served valid metadata".into())
}

/// Rebuilds this node's sliver of axis `A` in `pair` if it is missing; `true` if it did.
async fn recover_missing<A: Axis>(
    state: &Arc<NodeState>,
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
                let store = state.clone();
                tokio::task::spawn_blocking(move || {
                    store.store.put_sliver::<A>(&blob_id, pair, sliver.to_bcs().into())
                })
                .await
                .map_err(|e| e.to_string())?
                .map_err(|e| e.to_string())?;
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
