//! The client API of a storage node, with Walrus's paths, query parameters, BCS bodies,
//! status codes and JSON envelopes (see `shared/specs/storage-node-and-client.md`).
//!
//! Nothing is stored before it is verified: metadata must hash to the blob ID in the path,
//! slivers to the stored metadata, and every write re-checks registration in the same
//! transaction that stores it.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::{Body, Bytes};
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Query, RawQuery, Request, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::json;
use tower_http::cors::CorsLayer;
use utoipa::OpenApi;
use walrus_encoder::{
    Axis, BlobId, BlobMetadata, BlobMetadataWithId, EncodingParams, GeneralRecoverySymbol, InconsistencyProof, Primary,
    Secondary, ShardRotation, Sliver, SliverIndex, SliverPairIndex, VerifiedMetadata,
};

use crate::chain::ObjectId;
use crate::error::{success, ApiError};
use crate::node::NodeState;
use crate::store::Written;
use walrus_chain::messages::{self, Persistence};

type Shared = Arc<NodeState>;
type ApiResult<T = Response> = Result<T, ApiError>;

/// Bodies other than slivers: metadata of 1000 shards is 66 kB, proofs are smaller.
pub const MAX_BODY: usize = 2_000_000;
/// What a sliver body may carry beyond its symbols (BCS framing, with room to spare).
const SLIVER_BODY_SLACK: usize = 128;

pub(crate) fn router(state: Shared) -> Router {
    let blobs = Router::new()
        .route("/metadata", put(put_metadata).get(get_metadata))
        .route("/metadata/status", get(metadata_status))
        .route("/slivers/{pair}/{axis}", put(put_sliver).layer(DefaultBodyLimit::disable()).get(get_sliver))
        .route("/slivers/{pair}/{axis}/status", get(sliver_status))
        .route("/confirmation/permanent", get(confirm_permanent))
        .route("/confirmation/deletable/{object_id}", get(confirm_deletable))
        .route("/recoverySymbols", get(recovery_symbols))
        .route("/decodingSymbols", get(decoding_symbols))
        .route("/inconsistencyProof/{axis}", post(inconsistency_proof))
        .route("/status", get(blob_status));
    Router::new()
        .nest("/v1/blobs/{blob_id}", blobs)
        .route("/v1/health", get(health))
        .route("/v1/openapi.json", get(openapi))
        .route("/metrics", get(metrics_text))
        .layer(middleware::from_fn_with_state(state.clone(), count_requests))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(CorsLayer::very_permissive())
        .with_state(state)
}

async fn count_requests(State(state): State<Shared>, request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().to_string();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    state.record(|| {
        metrics::counter!("http_requests_total", "route" => route, "method" => method, "status" => status).increment(1)
    });
    response
}

/// Runs verification or storage work off the async workers.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> ApiResult<T> + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f).await.map_err(ApiError::internal)?
}

// ---- path and query parameters ----

/// A blob ID in a path: URL-safe base64 without padding, 43 characters.
struct PathBlobId(BlobId);

impl<'de> Deserialize<'de> for PathBlobId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.len() != 43 {
            return Err(serde::de::Error::custom("a blob ID is 43 characters of URL-safe base64"));
        }
        BlobId::from_str(&s).map(PathBlobId).map_err(serde::de::Error::custom)
    }
}

/// A sliver axis in a path or query: `primary` or `secondary`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum AxisParam {
    Primary,
    Secondary,
}

impl FromStr for AxisParam {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "primary" => Ok(Self::Primary),
            "secondary" => Ok(Self::Secondary),
            _ => Err(()),
        }
    }
}

struct PathObjectId(ObjectId);

impl<'de> Deserialize<'de> for PathObjectId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        ObjectId::from_str(&s).map(PathObjectId).map_err(serde::de::Error::custom)
    }
}

#[derive(Deserialize)]
struct PendingQuery {
    #[serde(default)]
    pending: bool,
}

/// Bodies are BCS: `application/octet-stream`, or no content type at all.
fn check_content_type(headers: &HeaderMap) -> ApiResult<()> {
    match headers.get(header::CONTENT_TYPE) {
        None => Ok(()),
        Some(v) if v.as_bytes().starts_with(b"application/octet-stream") => Ok(()),
        Some(_) => Err(ApiError::invalid("INVALID_CONTENT_TYPE", "bodies are BCS, application/octet-stream")),
    }
}

fn bcs_response(bytes: Vec<u8>) -> Response {
    ([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response()
}

fn stored_response(written: Written, what: &str) -> Response {
    match written {
        Written::New => success(StatusCode::CREATED, json!(format!("{what} stored successfully"))),
        Written::Already => success(StatusCode::OK, json!(format!("{what} already stored"))),
    }
}

/// The answer to data for a blob that is not registered: with `pending`, Walrus would buffer
/// it; this node keeps no buffer (as Walrus's production default), so it says the cache is full.
fn unregistered(pending: bool) -> ApiError {
    if pending {
        ApiError::precondition("CACHE_SATURATED", "this node does not buffer data for unregistered blobs")
    } else {
        ApiError::not_registered()
    }
}

fn refuse_invalid(state: &NodeState, blob_id: &BlobId) -> ApiResult<crate::store::BlobState> {
    let blob = state.store.blob_state(blob_id)?;
    if blob.invalidated.is_some() {
        return Err(ApiError::precondition("INVALID_BLOB", "the blob ID was invalidated on chain"));
    }
    Ok(blob)
}

fn stored_metadata(state: &NodeState, blob_id: &BlobId) -> ApiResult<Option<Arc<VerifiedMetadata>>> {
    Ok(state.stored_metadata(blob_id)?)
}

fn require_metadata(state: &NodeState, blob_id: &BlobId) -> ApiResult<Arc<VerifiedMetadata>> {
    stored_metadata(state, blob_id)?.ok_or_else(|| ApiError::not_found("METADATA_NOT_FOUND", "no metadata stored"))
}

// ---- metadata ----

#[utoipa::path(put, path = "/v1/blobs/{blob_id}/metadata", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters"), ("pending" = Option<bool>, Query)), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "BCS BlobMetadata"), responses((status = 201, description = "stored"), (status = 200, description = "already stored"), (status = 400, description = "NOT_REGISTERED, INVALID_METADATA, UNSUPPORTED_ENCODING_TYPE, INVALID_BLOB, CACHE_SATURATED")))]
async fn put_metadata(
    State(state): State<Shared>,
    Path(PathBlobId(blob_id)): Path<PathBlobId>,
    Query(query): Query<PendingQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    check_content_type(&headers)?;
    refuse_invalid(&state, &blob_id)?;
    // `BlobMetadata::V1` starts with its variant tag and then the encoding type.
    if body.len() >= 2 && body[0] == 0 && body[1] != 1 {
        return Err(ApiError::invalid(
            "UNSUPPORTED_ENCODING_TYPE",
            format!("encoding type {} is not RS2 (1)", body[1]),
        ));
    }
    let metadata: BlobMetadata = bcs::from_bytes(&body)
        .map_err(|e| ApiError::invalid("INVALID_METADATA", format!("not BCS BlobMetadata: {e}")))?;
    let metadata = BlobMetadataWithId { blob_id, metadata }
        .verify()
        .map_err(|e| ApiError::invalid("INVALID_METADATA", e.to_string()))?;
    let n_shards = state.store.committee().n_shards();
    if metadata.n_shards() != n_shards {
        let message = format!("the metadata is for {} shards, the committee has {n_shards}", metadata.n_shards());
        return Err(ApiError::invalid("INVALID_METADATA", message));
    }
    if !state.store.blob_state(&blob_id)?.is_registered() {
        return Err(unregistered(query.pending));
    }
    let written =
        blocking(move || Ok(state.store.put_metadata(&blob_id, &metadata.as_metadata_with_id().to_bcs())?)).await?;
    Ok(stored_response(written, "metadata"))
}

#[utoipa::path(get, path = "/v1/blobs/{blob_id}/metadata", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters")), responses((status = 200, description = "BCS BlobMetadataWithId", content_type = "application/octet-stream"), (status = 404, description = "METADATA_NOT_FOUND")))]
async fn get_metadata(State(state): State<Shared>, Path(PathBlobId(blob_id)): Path<PathBlobId>) -> ApiResult {
    match state.store.metadata(&blob_id)? {
        Some(bytes) => Ok(bcs_response(bytes)),
        None => Err(ApiError::not_found("METADATA_NOT_FOUND", "no metadata stored for this blob ID")),
    }
}

fn stored_status(stored: bool) -> Response {
    success(StatusCode::OK, json!(if stored { "stored" } else { "nonexistent" }))
}

#[utoipa::path(get, path = "/v1/blobs/{blob_id}/metadata/status", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters")), responses((status = 200, description = "\"stored\" or \"nonexistent\"")))]
async fn metadata_status(State(state): State<Shared>, Path(PathBlobId(blob_id)): Path<PathBlobId>) -> ApiResult {
    Ok(stored_status(state.store.metadata(&blob_id)?.is_some()))
}

// ---- slivers ----

/// The most bytes a sliver body can need with `n_shards` shards: the secondary sliver of the
/// largest symbols, plus framing.
fn sliver_body_limit(n_shards: u16) -> usize {
    EncodingParams::new(n_shards).map_or(MAX_BODY, |p| {
        usize::from(p.secondary_source_symbols()) * usize::from(walrus_encoder::MAX_SYMBOL_SIZE) + SLIVER_BODY_SLACK
    })
}

/// The checks before storing a sliver, in Walrus's order; returns the metadata to verify
/// against and the pair, or the refusal.
fn check_sliver<A: Axis>(
    state: &NodeState,
    blob_id: &BlobId,
    path_pair: u16,
    sliver: &Sliver<A>,
    pending: bool,
) -> ApiResult<(Arc<VerifiedMetadata>, SliverPairIndex)> {
    let committee = state.store.committee();
    let n = committee.n_shards();
    if path_pair >= n || sliver.index().get() >= n {
        return Err(ApiError::precondition("INDEX_OUT_OF_RANGE", format!("sliver indices are below {n}")));
    }
    let pair = SliverPairIndex(path_pair);
    if sliver.index().pair(n) != pair {
        return Err(ApiError::invalid(
            "SLIVER_INDEX_MISMATCH",
            format!(
                "{} sliver {} belongs to pair {}, not {path_pair}",
                A::NAME,
                sliver.index(),
                sliver.index().pair(n)
            ),
        ));
    }
    if !refuse_invalid(state, blob_id)?.is_registered() {
        return Err(unregistered(pending));
    }
    let metadata = stored_metadata(state, blob_id)?
        .ok_or_else(|| ApiError::precondition("METADATA_NOT_FOUND", "store the blob's metadata first"))?;
    check_shard(state, &committee, blob_id, pair)?;
    Ok((metadata, pair))
}

/// Refuses pairs whose shard another node holds in the latest committee.
fn check_shard(
    state: &NodeState,
    committee: &crate::chain::Committee,
    blob_id: &BlobId,
    pair: SliverPairIndex,
) -> ApiResult<()> {
    let shard = ShardRotation::new(blob_id, committee.n_shards()).shard_of(pair);
    if state.own_shards(committee).contains(&shard) {
        Ok(())
    } else {
        Err(ApiError::precondition("SHARD_NOT_ASSIGNED", format!("shard {shard} of pair {pair} is not on this node")))
    }
}

fn store_sliver<A: Axis>(state: &NodeState, blob_id: BlobId, path_pair: u16, body: Bytes, pending: bool) -> ApiResult {
    // Parsed in place: the symbols stay in the body, which is then stored as it came.
    let sliver = Sliver::<A>::from_bcs_bytes(body.clone())
        .map_err(|e| ApiError::invalid("INVALID_SLIVER", format!("not a BCS sliver: {e}")))?;
    let (metadata, pair) = check_sliver(state, &blob_id, path_pair, &sliver, pending)?;
    if state.store.has_sliver::<A>(&blob_id, pair)? {
        return Ok(stored_response(Written::Already, "sliver"));
    }
    sliver.verify(&metadata).map_err(|e| ApiError::invalid("INVALID_SLIVER", e.to_string()))?;
    drop(sliver);
    let written = state.store.put_sliver::<A>(&blob_id, pair, body)?;
    if written == Written::New {
        state.record(|| metrics::counter!("slivers_stored_total", "axis" => A::NAME).increment(1));
    }
    Ok(stored_response(written, "sliver"))
}

#[utoipa::path(put, path = "/v1/blobs/{blob_id}/slivers/{pair}/{axis}", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters"), ("pair" = u16, Path), ("axis" = String, Path, description = "primary or secondary"), ("pending" = Option<bool>, Query)), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "BCS SliverData"), responses((status = 201, description = "stored"), (status = 200, description = "already stored"), (status = 400, description = "INDEX_OUT_OF_RANGE, SLIVER_INDEX_MISMATCH, NOT_REGISTERED, METADATA_NOT_FOUND, SHARD_NOT_ASSIGNED, INVALID_SLIVER"), (status = 413, description = "body over the sliver limit")))]
async fn put_sliver(
    State(state): State<Shared>,
    Path(path): Path<(PathBlobId, u16, AxisParam)>,
    Query(query): Query<PendingQuery>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let (PathBlobId(blob_id), pair, axis) = path;
    check_content_type(&headers)?;
    let limit = sliver_body_limit(state.store.committee().n_shards());
    let Ok(body) = axum::body::to_bytes(body, limit).await else {
        return Ok((StatusCode::PAYLOAD_TOO_LARGE, format!("a sliver body has at most {limit} bytes")).into_response());
    };
    blocking(move || match axis {
        AxisParam::Primary => store_sliver::<Primary>(&state, blob_id, pair, body, query.pending),
        AxisParam::Secondary => store_sliver::<Secondary>(&state, blob_id, pair, body, query.pending),
    })
    .await
}

/// The stored sliver, refused for pairs outside the committee or on other nodes' shards.
fn read_sliver<A: Axis>(state: &NodeState, blob_id: &BlobId, pair: u16) -> ApiResult<Option<Vec<u8>>> {
    let committee = state.store.committee();
    if pair >= committee.n_shards() {
        return Err(ApiError::precondition("INDEX_OUT_OF_RANGE", "no such sliver pair"));
    }
    check_shard(state, &committee, blob_id, SliverPairIndex(pair))?;
    Ok(state.store.sliver::<A>(blob_id, SliverPairIndex(pair))?)
}

fn read_sliver_as(state: &NodeState, blob_id: &BlobId, pair: u16, axis: AxisParam) -> ApiResult<Option<Vec<u8>>> {
    match axis {
        AxisParam::Primary => read_sliver::<Primary>(state, blob_id, pair),
        AxisParam::Secondary => read_sliver::<Secondary>(state, blob_id, pair),
    }
}

#[utoipa::path(get, path = "/v1/blobs/{blob_id}/slivers/{pair}/{axis}", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters"), ("pair" = u16, Path), ("axis" = String, Path, description = "primary or secondary")), responses((status = 200, description = "BCS SliverData", content_type = "application/octet-stream"), (status = 400, description = "INDEX_OUT_OF_RANGE, SHARD_NOT_ASSIGNED"), (status = 404, description = "SLIVER_NOT_FOUND")))]
async fn get_sliver(State(state): State<Shared>, Path(path): Path<(PathBlobId, u16, AxisParam)>) -> ApiResult {
    let (PathBlobId(blob_id), pair, axis) = path;
    read_sliver_as(&state, &blob_id, pair, axis)?
        .map(bcs_response)
        .ok_or_else(|| ApiError::not_found("SLIVER_NOT_FOUND", "the sliver is not stored here"))
}

#[utoipa::path(get, path = "/v1/blobs/{blob_id}/slivers/{pair}/{axis}/status", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters"), ("pair" = u16, Path), ("axis" = String, Path, description = "primary or secondary")), responses((status = 200, description = "\"stored\" or \"nonexistent\"")))]
async fn sliver_status(State(state): State<Shared>, Path(path): Path<(PathBlobId, u16, AxisParam)>) -> ApiResult {
    let (PathBlobId(blob_id), pair, axis) = path;
    Ok(stored_status(read_sliver_as(&state, &blob_id, pair, axis)?.is_some()))
}

// ---- confirmations ----

#[derive(Deserialize)]
struct ConfirmationQuery {
    #[serde(default)]
    wait_for_registration: bool,
    #[serde(default)]
    wait_millis: u64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SignedMessage {
    serialized_message: String,
    signature: String,
}

impl SignedMessage {
    fn sign(state: &NodeState, message: Vec<u8>) -> Self {
        let signature = state.key.sign(&message);
        Self { serialized_message: STANDARD.encode(&message), signature: STANDARD.encode(signature) }
    }
}

/// Whether `persistence` names a live object of the blob.
fn is_registered_as(blob: &crate::store::BlobState, persistence: Persistence) -> bool {
    match persistence {
        Persistence::Permanent => blob.is_registered(),
        Persistence::Deletable(id) => {
            blob.invalidated.is_none() && blob.objects.iter().any(|o| o.object_id == id && o.deletable)
        }
    }
}

async fn confirm(state: Shared, blob_id: BlobId, persistence: Persistence, query: ConfirmationQuery) -> ApiResult {
    let wait = if query.wait_for_registration { Duration::from_millis(query.wait_millis) } else { Duration::ZERO };
    let deadline = Instant::now() + wait.min(state.long_poll_max);
    let mut changes = state.chain_changed.subscribe();
    while !is_registered_as(&state.store.blob_state(&blob_id)?, persistence) {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() || tokio::time::timeout(left, changes.changed()).await.is_err() {
            return Err(ApiError::not_registered());
        }
    }
    let committee = state.store.committee();
    let metadata = stored_metadata(&state, &blob_id)?
        .ok_or_else(|| ApiError::precondition("MISSING_SLIVERS", "the blob's metadata is not stored here"))?;
    let rotation = metadata.rotation();
    let pairs: Vec<SliverPairIndex> = state.own_shards(&committee).into_iter().map(|s| rotation.pair_on(s)).collect();
    if let Some(pair) = state.store.first_incomplete(&blob_id, &pairs)? {
        let shard = rotation.shard_of(pair);
        return Err(ApiError::precondition("MISSING_SLIVERS", format!("pair {pair} (shard {shard}) is incomplete")));
    }
    let signed = SignedMessage::sign(&state, messages::blob_certification(committee.epoch, &blob_id.0, persistence));
    state.record(|| metrics::counter!("confirmations_signed_total").increment(1));
    Ok(success(StatusCode::OK, json!({ "signed": signed })))
}

#[utoipa::path(get, path = "/v1/blobs/{blob_id}/confirmation/permanent", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters"), ("wait_for_registration" = Option<bool>, Query), ("wait_millis" = Option<u64>, Query)), responses((status = 200, description = "signed confirmation"), (status = 400, description = "NOT_REGISTERED, MISSING_SLIVERS")))]
async fn confirm_permanent(
    State(state): State<Shared>,
    Path(PathBlobId(blob_id)): Path<PathBlobId>,
    Query(query): Query<ConfirmationQuery>,
) -> ApiResult {
    confirm(state, blob_id, Persistence::Permanent, query).await
}

#[utoipa::path(get, path = "/v1/blobs/{blob_id}/confirmation/deletable/{object_id}", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters"), ("object_id" = String, Path), ("wait_for_registration" = Option<bool>, Query), ("wait_millis" = Option<u64>, Query)), responses((status = 200, description = "signed confirmation"), (status = 400, description = "NOT_REGISTERED, MISSING_SLIVERS")))]
async fn confirm_deletable(
    State(state): State<Shared>,
    Path(path): Path<(PathBlobId, PathObjectId)>,
    Query(query): Query<ConfirmationQuery>,
) -> ApiResult {
    let (PathBlobId(blob_id), PathObjectId(object_id)) = path;
    confirm(state, blob_id, Persistence::Deletable(object_id), query).await
}

// ---- recovery ----

/// `key=value` pairs of a query string, keys repeated as they come.
fn query_pairs(query: &Option<String>) -> Vec<(&str, &str)> {
    query
        .as_deref()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
        .collect()
}

fn bad_filter(message: impl Into<String>) -> ApiError {
    ApiError::invalid("INVALID_FILTER", message)
}

fn parse_index(value: &str, n: u16) -> ApiResult<u16> {
    let index: u16 = value.parse().map_err(|_| bad_filter(format!("{value:?} is not a sliver index")))?;
    if index >= n {
        return Err(ApiError::invalid("RECOVERY_SYMBOL_OUT_OF_RANGE", format!("index {index} is not below {n}")));
    }
    Ok(index)
}

fn parse_axis(value: &str) -> ApiResult<AxisParam> {
    value.parse().map_err(|()| bad_filter(format!("{value:?} is neither primary nor secondary")))
}

/// The stored sliver of axis `A` at `index`, if this node holds it.
fn held_sliver<A: Axis>(state: &NodeState, metadata: &VerifiedMetadata, index: u16) -> ApiResult<Option<Sliver<A>>> {
    let pair = SliverIndex::<A>::new(index).pair(metadata.n_shards());
    let Some(bytes) = state.store.sliver::<A>(&metadata.blob_id(), pair)? else { return Ok(None) };
    Sliver::from_bcs_bytes(bytes.into()).map(Some).map_err(ApiError::internal)
}

/// The symbol at the crossing of `source` (axis `A`) and `target` (the other axis), proven
/// against `source`'s hash, if this node holds `source`.
fn symbol_from<A: Axis>(
    state: &NodeState,
    metadata: &VerifiedMetadata,
    source: u16,
    target: u16,
) -> ApiResult<Option<GeneralRecoverySymbol>> {
    let Some(sliver) = held_sliver::<A>(state, metadata, source)? else { return Ok(None) };
    let target = SliverIndex::<A::Orthogonal>::new(target);
    let symbol = sliver.recovery_symbol(target, &metadata.layout()).map_err(ApiError::internal)?;
    Ok(Some(symbol.into_general(target)))
}

/// The indices of this node's slivers of axis `A` for the blob.
fn own_sliver_indices<A: Axis>(state: &NodeState, metadata: &VerifiedMetadata) -> ApiResult<Vec<u16>> {
    let committee = state.store.committee();
    let rotation = metadata.rotation();
    let n = metadata.n_shards();
    Ok(state.own_shards(&committee).into_iter().map(|s| rotation.pair_on(s).sliver::<A>(n).get()).collect())
}

fn collect_recovery_symbols(state: &NodeState, blob_id: &BlobId, query: &Option<String>) -> ApiResult<Vec<u8>> {
    let metadata = require_metadata(state, blob_id)?;
    let n = metadata.n_shards();
    let (mut ids, mut target, mut target_type, mut proof_axis) = (Vec::new(), None, None, None);
    for (key, value) in query_pairs(query) {
        match key {
            "id" => {
                let (p, s) =
                    value.split_once('-').ok_or_else(|| bad_filter(format!("symbol ID {value:?} is not p-s")))?;
                ids.push((parse_index(p, n)?, parse_index(s, n)?));
            }
            "targetSliver" => target = Some(parse_index(value, n)?),
            "targetType" => target_type = Some(parse_axis(value)?),
            "proofAxis" => proof_axis = Some(parse_axis(value)?),
            _ => return Err(bad_filter(format!("unknown parameter {key:?}"))),
        }
    }
    let mut symbols = Vec::new();
    match (ids.is_empty(), target, target_type) {
        (false, None, None) => {
            for (p, s) in ids {
                let from_primary = || symbol_from::<Primary>(state, &metadata, p, s);
                let from_secondary = || symbol_from::<Secondary>(state, &metadata, s, p);
                let symbol = match proof_axis {
                    Some(AxisParam::Primary) => from_primary()?,
                    Some(AxisParam::Secondary) => from_secondary()?,
                    None => match from_primary()? {
                        Some(symbol) => Some(symbol),
                        None => from_secondary()?,
                    },
                };
                symbols.extend(symbol);
            }
        }
        (true, Some(target), Some(AxisParam::Primary)) => {
            for source in own_sliver_indices::<Secondary>(state, &metadata)? {
                symbols.extend(symbol_from::<Secondary>(state, &metadata, source, target)?);
            }
        }
        (true, Some(target), Some(AxisParam::Secondary)) => {
            for source in own_sliver_indices::<Primary>(state, &metadata)? {
                symbols.extend(symbol_from::<Primary>(state, &metadata, source, target)?);
            }
        }
        (true, None, None) => return Err(ApiError::invalid("NO_SYMBOLS_SPECIFIED", "give id=p-s or a target sliver")),
        _ => return Err(bad_filter("give either id=p-s or targetSliver with targetType")),
    }
    if symbols.is_empty() {
        return Err(ApiError::not_found("SYMBOL_NOT_FOUND", "this node holds none of the requested symbols"));
    }
    Ok(bcs::to_bytes(&symbols).expect("symbols serialize"))
}

#[utoipa::path(get, path = "/v1/blobs/{blob_id}/recoverySymbols", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters"), ("id" = Option<String>, Query, description = "p-s, repeated"), ("targetSliver" = Option<u16>, Query), ("targetType" = Option<String>, Query), ("proofAxis" = Option<String>, Query)), responses((status = 200, description = "BCS Vec<GeneralRecoverySymbol>", content_type = "application/octet-stream"), (status = 400, description = "NO_SYMBOLS_SPECIFIED, INVALID_FILTER, RECOVERY_SYMBOL_OUT_OF_RANGE"), (status = 404, description = "METADATA_NOT_FOUND, SYMBOL_NOT_FOUND")))]
async fn recovery_symbols(
    State(state): State<Shared>,
    Path(PathBlobId(blob_id)): Path<PathBlobId>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    blocking(move || collect_recovery_symbols(&state, &blob_id, &query).map(bcs_response)).await
}

/// The `decodingSymbols` answer from this node's slivers of axis `A` for `targets` (of the
/// other axis): all held sources are read in one transaction and expanded in one encoding, and
/// the answer is written straight from the expanded lines.
fn decoding_symbols_for<A: Axis>(
    state: &NodeState,
    metadata: &VerifiedMetadata,
    targets: &[u16],
) -> ApiResult<Vec<u8>> {
    let mut targets = targets.to_vec();
    crate::symbols::canonical_order(&mut targets);
    let target_indices: Vec<SliverIndex<A::Orthogonal>> = targets.iter().map(|&t| SliverIndex::new(t)).collect();
    let n = metadata.n_shards();
    let pairs: Vec<_> =
        own_sliver_indices::<A>(state, metadata)?.into_iter().map(|i| SliverIndex::<A>::new(i).pair(n)).collect();
    let sources = state
        .store
        .slivers::<A>(&metadata.blob_id(), &pairs)?
        .iter()
        .map(|bytes| Sliver::<A>::from_bcs(bytes))
        .collect::<Result<Vec<_>, _>>()
        .map_err(ApiError::internal)?;
    let layout = metadata.layout();
    let lines = Sliver::decoding_symbol_lines(&sources, &target_indices, &layout).map_err(ApiError::internal)?;
    let lines: Vec<(u16, &[u8])> = sources.iter().zip(&lines).map(|(s, l)| (s.index().get(), l.as_slice())).collect();
    // The sources are of axis A, so the targets are of the other axis.
    Ok(crate::symbols::write_answer(!A::IS_PRIMARY, &targets, &lines, usize::from(layout.symbol_size())))
}

fn collect_decoding_symbols(state: &NodeState, blob_id: &BlobId, query: &Option<String>) -> ApiResult<Vec<u8>> {
    let metadata = require_metadata(state, blob_id)?;
    let n = metadata.n_shards();
    let (mut targets, mut target_type) = (Vec::new(), None);
    for (key, value) in query_pairs(query) {
        match key {
            "targetSlivers" => targets.push(parse_index(value, n)?),
            "targetType" => target_type = Some(parse_axis(value)?),
            _ => return Err(bad_filter(format!("unknown parameter {key:?}"))),
        }
    }
    if targets.is_empty() {
        return Err(ApiError::invalid("NO_TARGET_SLIVERS_SPECIFIED", "give targetSlivers"));
    }
    match target_type.ok_or_else(|| bad_filter("give targetType"))? {
        AxisParam::Primary => decoding_symbols_for::<Secondary>(state, &metadata, &targets),
        AxisParam::Secondary => decoding_symbols_for::<Primary>(state, &metadata, &targets),
    }
}

#[utoipa::path(get, path = "/v1/blobs/{blob_id}/decodingSymbols", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters"), ("targetSlivers" = u16, Query, description = "repeated"), ("targetType" = String, Query)), responses((status = 200, description = "BCS map of sliver index to symbols", content_type = "application/octet-stream"), (status = 400, description = "NO_TARGET_SLIVERS_SPECIFIED, INVALID_FILTER")))]
async fn decoding_symbols(
    State(state): State<Shared>,
    Path(PathBlobId(blob_id)): Path<PathBlobId>,
    RawQuery(query): RawQuery,
) -> ApiResult {
    blocking(move || collect_decoding_symbols(&state, &blob_id, &query).map(bcs_response)).await
}

fn check_proof<A: Axis>(metadata: &VerifiedMetadata, body: &[u8]) -> ApiResult<()> {
    let proof: InconsistencyProof<A> =
        bcs::from_bytes(body).map_err(|e| ApiError::invalid("INVALID_PROOF", format!("not a BCS proof: {e}")))?;
    proof.verify(metadata).map_err(|e| ApiError::invalid("INVALID_PROOF", e.to_string()))
}

#[utoipa::path(post, path = "/v1/blobs/{blob_id}/inconsistencyProof/{axis}", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters"), ("axis" = String, Path)), request_body(content = Vec<u8>, content_type = "application/octet-stream", description = "BCS InconsistencyProof"), responses((status = 200, description = "signed InvalidBlobIdAttestation"), (status = 400, description = "METADATA_NOT_FOUND, INVALID_PROOF")))]
async fn inconsistency_proof(
    State(state): State<Shared>,
    Path(path): Path<(PathBlobId, AxisParam)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult {
    let (PathBlobId(blob_id), axis) = path;
    check_content_type(&headers)?;
    blocking(move || {
        let metadata = stored_metadata(&state, &blob_id)?
            .ok_or_else(|| ApiError::precondition("METADATA_NOT_FOUND", "no metadata stored for this blob ID"))?;
        match axis {
            AxisParam::Primary => check_proof::<Primary>(&metadata, &body)?,
            AxisParam::Secondary => check_proof::<Secondary>(&metadata, &body)?,
        }
        let epoch = state.store.committee().epoch;
        let signed = SignedMessage::sign(&state, messages::invalid_blob_id(epoch, &blob_id.0));
        Ok(success(StatusCode::OK, json!(signed)))
    })
    .await
}

// ---- status, health, docs, metrics ----

fn event_json(event: &crate::chain::EventId) -> serde_json::Value {
    json!({"txDigest": <fastcrypto::encoding::Base58 as fastcrypto::encoding::Encoding>::encode(event.tx_digest), "eventSeq": event.event_seq.to_string()})
}

#[utoipa::path(get, path = "/v1/blobs/{blob_id}/status", params(("blob_id" = String, Path, description = "URL-safe base64, 43 characters")), responses((status = 200, description = "BlobStatus")))]
async fn blob_status(State(state): State<Shared>, Path(PathBlobId(blob_id)): Path<PathBlobId>) -> ApiResult {
    let blob = state.store.blob_state(&blob_id)?;
    if let Some(event) = blob.invalidated {
        return Ok(success(StatusCode::OK, json!({"invalid": {"event": event_json(&event)}})));
    }
    let deletable: Vec<_> = blob.objects.iter().filter(|o| o.deletable).collect();
    let counts = json!({
        "count_deletable_total": deletable.len(),
        "count_deletable_certified": deletable.iter().filter(|o| o.certified_epoch.is_some()).count(),
    });
    let initial_certified = blob.objects.iter().filter_map(|o| o.certified_epoch).min();
    // The permanent object that lasts longest, preferring certified ones, speaks for the blob.
    let permanent =
        blob.objects.iter().filter(|o| !o.deletable).max_by_key(|o| (o.certified_epoch.is_some(), o.end_epoch));
    let status = match (permanent, blob.objects.is_empty()) {
        (Some(p), _) => json!({"permanent": {
            "endEpoch": p.end_epoch,
            "isCertified": p.certified_epoch.is_some(),
            "statusEvent": event_json(&p.event),
            "deletableCounts": counts,
            "initialCertifiedEpoch": initial_certified,
        }}),
        (None, false) => json!({"deletable": {"initialCertifiedEpoch": initial_certified, "deletableCounts": counts}}),
        (None, true) => json!("nonexistent"),
    };
    Ok(success(StatusCode::OK, status))
}

#[derive(Deserialize)]
struct HealthQuery {
    #[serde(default)]
    detailed: bool,
}

#[utoipa::path(get, path = "/v1/health", params(("detailed" = Option<bool>, Query)), responses((status = 200, description = "ServiceHealthInfo")))]
async fn health(State(state): State<Shared>, Query(query): Query<HealthQuery>) -> ApiResult {
    let committee = state.store.committee();
    let owned = state.own_shards(&committee);
    let uptime = state.started.elapsed();
    let watermark = state.store.watermark();
    let applied = state.store.updates_applied()?;
    let mut info = json!({
        "uptime": {"secs": uptime.as_secs(), "nanos": uptime.subsec_nanos()},
        "epoch": committee.epoch,
        "publicKey": STANDARD.encode(state.key.public_key()),
        "nodeStatus": if owned.is_empty() { "Standby" } else { "Active" },
        "eventProgress": {"persisted": applied, "pending": 0, "highestFinishedEventIndex": applied.checked_sub(1)},
        "shardSummary": {
            "owned": owned.len(),
            "ownedShardStatus": {"unknown": 0, "ready": owned.len(), "inTransfer": 0, "inRecovery": 0},
            "readOnly": 0,
        },
        "latestCheckpointSequenceNumber": watermark,
    });
    if query.detailed {
        let owned: Vec<_> = owned.iter().map(|s| json!({"shard": s.0, "status": "ready"})).collect();
        info["shardDetail"] = json!({"owned": owned, "other": []});
    }
    Ok(success(StatusCode::OK, info))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Walrus storage node", description = "The client API of a Walrus storage node"),
    paths(
        put_metadata,
        get_metadata,
        metadata_status,
        put_sliver,
        get_sliver,
        sliver_status,
        confirm_permanent,
        confirm_deletable,
        recovery_symbols,
        decoding_symbols,
        inconsistency_proof,
        blob_status,
        health
    )
)]
struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn metrics_text(State(state): State<Shared>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.handle().render()).into_response()
}
