//! The HTTP API for explorers: JSON over axum, every answer read from the committed state (so
//! never ahead of the watermark `/v1/health` reports). Bad input is a 400 with a message,
//! unknown things a 404; values reach SQL only as bound parameters.

use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{FromRequestParts, Path, Query, Request, State};
use axum::http::request::Parts;
use axum::http::{header, Method, StatusCode, Uri};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use bytes::Bytes;
use metrics_exporter_prometheus::PrometheusHandle;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::postgres::PgArguments;
use sqlx::{Arguments, PgPool, Postgres};
use sui_sdk_types::Address;
use tokio::sync::watch;
use tower_http::cors::{Any, CorsLayer};
use utoipa::{IntoParams, OpenApi, ToSchema};
use walrus_encoder::{BlobId, EncodingParams};

use crate::status::{IngestStatus, Report};
use crate::store::Commits;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub metrics: Option<PrometheusHandle>,
    /// Shards assumed when the indexed events do not say (Walrus mainnet and testnet: 1000).
    pub default_n_shards: u16,
    /// Ingestion's failures and waits, for `/v1/health`.
    pub ingestion: IngestStatus,
    /// Answers kept until the next commit; only where every write goes through the `Store`
    /// whose commits it watches (`None`: nothing is cached).
    pub cache: Option<Cache>,
}

/// Answers that only change when a batch commits (`/v1/stats`, pages of epochs), as the bytes
/// sent, so a repeated call costs no database work and no JSON building. Each is tagged with
/// the commit generation it was read under and served only while that generation is current,
/// so never older than the committed state a request could otherwise read.
#[derive(Clone)]
pub struct Cache {
    commits: Commits,
    entries: Arc<Mutex<HashMap<String, (u64, Bytes)>>>,
}

/// Distinct answers kept at most (pages of epochs take a cursor and a limit).
const CACHE_ENTRIES: usize = 64;

impl Cache {
    pub fn new(commits: Commits) -> Self {
        Self { commits, entries: Arc::default() }
    }

    fn get(&self, key: &str, generation: u64) -> Option<Bytes> {
        let entries = self.entries.lock().expect("the cache is never poisoned");
        entries.get(key).filter(|(tag, _)| *tag == generation).map(|(_, body)| body.clone())
    }

    fn put(&self, key: String, generation: u64, body: Bytes) {
        let mut entries = self.entries.lock().expect("the cache is never poisoned");
        if entries.len() >= CACHE_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, (tag, _)| *tag == generation);
            if entries.len() >= CACHE_ENTRIES {
                return;
            }
        }
        entries.insert(key, (generation, body));
    }
}

/// `read`'s answer as JSON, from `state`'s cache under `key` when it holds the current one.
async fn cached<F>(state: &AppState, key: String, read: F) -> Result<Response, ApiError>
where
    F: Future<Output = Result<Value, ApiError>>,
{
    let json = |body: Bytes| ([(header::CONTENT_TYPE, "application/json")], body).into_response();
    let Some(cache) = &state.cache else { return Ok(Json(read.await?).into_response()) };
    let generation = cache.commits.generation();
    if let Some(body) = generation.and_then(|generation| cache.get(&key, generation)) {
        return Ok(json(body));
    }
    let body = Bytes::from(serde_json::to_vec(&read.await?).expect("JSON values serialize"));
    // Kept only if no commit started or ended while it was read.
    if let Some(generation) = generation.filter(|g| cache.commits.generation() == Some(*g)) {
        cache.put(key, generation, body.clone());
    }
    Ok(json(body))
}

/// Where start-up is. The port is bound first, so health checks get an answer (a 503 naming
/// the phase) while the database is reached and migrated, instead of a refused connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Phase {
    Connecting,
    Migrating,
    Ready,
}

/// Answers every request with a 503 and the phase until start-up is done.
pub fn until_ready(router: Router, phase: watch::Receiver<Phase>) -> Router {
    router.layer(axum::middleware::from_fn(move |request: Request, next: Next| {
        let phase = *phase.borrow();
        async move {
            let status = match phase {
                Phase::Ready => return next.run(request).await,
                Phase::Connecting => "connecting",
                Phase::Migrating => "migrating",
            };
            let message = format!("starting: {status} to the database");
            let error = json!({ "code": StatusCode::SERVICE_UNAVAILABLE.as_u16(), "message": message });
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "status": status, "error": error }))).into_response()
        }
    }))
}

/// How long a request may take before it is answered with a 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/v1/health", get(health))
        .route("/v1/blobs", get(list_blobs))
        .route("/v1/blobs/{blob_id}", get(blob))
        .route("/v1/blobs/by-object/{object_id}", get(blob_by_object))
        .route("/v1/events", get(list_events))
        .route("/v1/epochs", get(list_epochs))
        .route("/v1/epochs/{epoch}", get(epoch))
        .route("/v1/nodes", get(list_nodes))
        .route("/v1/nodes/{node_id}", get(node))
        .route("/v1/nodes/{node_id}/history", get(node_history))
        .route("/v1/search", get(search))
        .route("/v1/stats", get(stats))
        .route("/v1/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .merge(crate::web::routes())
        .fallback(|uri: Uri| async move { ApiError::NotFound(format!("no route {}", uri.path())) })
        .method_not_allowed_fallback(|method: Method| async move {
            ApiError::MethodNotAllowed(format!("{method} is not allowed here; the API is read-only (GET)"))
        })
        .with_state(state)
        .layer(axum::middleware::from_fn(|request: Request, next: Next| async move {
            match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
                Ok(response) => response,
                Err(_) => {
                    ApiError::Internal(format!("no answer within {} s", REQUEST_TIMEOUT.as_secs())).into_response()
                }
            }
        }))
        // Explorers and apps on other origins read the API from browsers.
        .layer(CorsLayer::new().allow_origin(Any).allow_methods([Method::GET, Method::HEAD]).allow_headers(Any))
}

/// `Query`, whose rejections (unparsable parameters) are the API's JSON errors.
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: serde::de::DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Query::<T>::from_request_parts(parts, state)
            .await
            .map(|Query(query)| Self(query))
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
    }
}

// === Errors ===

#[derive(Debug)]
pub enum ApiError {
    BadRequest(String),
    NotFound(String),
    MethodNotAllowed(String),
    Internal(String),
    /// Ingestion has been failing for longer than allowed.
    Unhealthy(String),
    /// A stored value the indexer itself wrote is malformed: a bug or a damaged database,
    /// never shown as a made-up value.
    Corrupt(String),
}

/// A 32-byte ID read back from the database.
fn stored_id(bytes: &[u8], what: &str) -> Result<[u8; 32], ApiError> {
    bytes.try_into().map_err(|_| {
        tracing::error!(what, len = bytes.len(), "stored ID is not 32 bytes");
        ApiError::Corrupt(format!("a stored {what} has {} bytes instead of 32", bytes.len()))
    })
}

impl From<sqlx::Error> for ApiError {
    fn from(error: sqlx::Error) -> Self {
        tracing::error!(%error, "database error");
        Self::Internal("database unavailable".into())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, message) = match self {
            Self::BadRequest(m) => (StatusCode::BAD_REQUEST, m),
            Self::NotFound(m) => (StatusCode::NOT_FOUND, m),
            Self::MethodNotAllowed(m) => (StatusCode::METHOD_NOT_ALLOWED, m),
            Self::Internal(m) | Self::Unhealthy(m) => (StatusCode::SERVICE_UNAVAILABLE, m),
            Self::Corrupt(m) => (StatusCode::INTERNAL_SERVER_ERROR, m),
        };
        (status, Json(json!({ "error": { "code": status.as_u16(), "message": message } }))).into_response()
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

// === Parsing at the edge ===

fn parse_blob_id(text: &str) -> Result<BlobId, ApiError> {
    BlobId::from_str(text)
        .map_err(|e| ApiError::BadRequest(format!("invalid blob ID {text:?} (base64url, hex or decimal u256): {e}")))
}

fn parse_address(text: &str, what: &str) -> Result<Address, ApiError> {
    text.parse::<Address>()
        .map_err(|_| ApiError::BadRequest(format!("invalid {what} {text:?}: expected 0x and up to 64 hex digits")))
}

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 1000;

fn limit(requested: Option<i64>) -> Result<i64, ApiError> {
    match requested {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::BadRequest(format!("limit must be between 1 and {MAX_LIMIT}, got {n}"))),
    }
}

/// An epoch parameter as stored (`integer`): larger ones are refused, never wrapped.
fn epoch_param(name: &str, epoch: u32) -> Result<i32, ApiError> {
    i32::try_from(epoch).map_err(|_| ApiError::BadRequest(format!("{name} must be at most {}, got {epoch}", i32::MAX)))
}

// === Shared reads ===
//
// The current epoch and shard count are read inside the statement that serves a request (each
// a primary-key lookup PostgreSQL runs once per statement), not in statements of their own:
// a request costs one round trip where it cost three to six, and sees one snapshot. A Blob
// object's status is the one the batch transaction stores with it (migrations/0005: deleted,
// invalid, expired, certified or registered, as of the committed epoch), not recomputed per row.

/// The latest epoch that has started (0 before any).
const EPOCH_SQL: &str = "(SELECT coalesce(max(epoch), 0) FROM epochs WHERE start_checkpoint IS NOT NULL)";

/// Shards of the latest committee the events describe (migrations/0007); null if none does.
const N_SHARDS_SQL: &str = "(SELECT n_shards FROM epochs WHERE n_shards > 0 ORDER BY epoch DESC LIMIT 1)";

#[derive(sqlx::FromRow)]
struct BlobRow {
    object_id: Vec<u8>,
    blob_id: Vec<u8>,
    size: i64,
    encoding_type: i16,
    deletable: bool,
    registered_epoch: i32,
    certified_epoch: Option<i32>,
    end_epoch: i32,
    deleted_epoch: Option<i32>,
    attributes: Value,
    /// As stored (migrations/0005).
    status: String,
    /// The latest committee's shard count ([`N_SHARDS_SQL`]).
    n_shards: Option<i32>,
}

/// A Blob object as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct BlobObject {
    /// URL-safe base64, no padding.
    blob_id: String,
    /// `0x` and the 32 bytes in hex, in their stored (little-endian) order.
    blob_id_hex: String,
    /// The blob ID as the decimal u256 Walrus prints.
    blob_id_decimal: String,
    /// `0x` and 64 hex digits.
    object_id: String,
    /// Unencoded size in bytes.
    size: u64,
    /// Encoded size in bytes (what the storage must cover); null if the blob is too large.
    encoded_size: Option<u64>,
    encoding_type: u8,
    deletable: bool,
    registered_epoch: u32,
    certified_epoch: Option<u32>,
    /// The first epoch the blob is no longer stored.
    end_epoch: u32,
    deleted_epoch: Option<u32>,
    /// One of registered, certified, deleted, invalid, expired.
    status: String,
    attributes: Value,
}

/// `default_n_shards` applies when no committee is indexed.
fn blob_json(row: BlobRow, default_n_shards: u16) -> Result<BlobObject, ApiError> {
    let n_shards = row.n_shards.and_then(|n| u16::try_from(n).ok()).unwrap_or(default_n_shards);
    let blob_id = BlobId(stored_id(&row.blob_id, "blob ID")?);
    let object_id = Address::new(stored_id(&row.object_id, "object ID")?);
    let size = row.size as u64;
    let encoded_size = EncodingParams::new(n_shards).and_then(|p| p.for_blob(size)).map(|l| l.encoded_length()).ok();
    Ok(BlobObject {
        blob_id: blob_id.to_string(),
        blob_id_hex: blob_id_hex(&blob_id),
        blob_id_decimal: blob_id.to_u256_decimal(),
        object_id: object_id.to_string(),
        size,
        encoded_size,
        encoding_type: row.encoding_type as u8,
        deletable: row.deletable,
        registered_epoch: row.registered_epoch as u32,
        certified_epoch: row.certified_epoch.map(|e| e as u32),
        end_epoch: row.end_epoch as u32,
        deleted_epoch: row.deleted_epoch.map(|e| e as u32),
        status: row.status,
        attributes: row.attributes,
    })
}

fn blob_id_hex(blob_id: &BlobId) -> String {
    format!("0x{}", hex::encode(blob_id.0))
}

/// Blob objects as [`BlobRow`]s, with `columns` more (each starting with a comma).
fn blob_select(columns: &str, filter: &str) -> String {
    blob_select_from(columns, "blobs b", filter)
}

/// [`blob_select`] from `source`, which names the blobs `b`.
fn blob_select_from(columns: &str, source: &str, filter: &str) -> String {
    format!(
        "SELECT b.object_id, b.blob_id, b.size, b.encoding_type, b.deletable, b.registered_epoch, b.certified_epoch,
                b.end_epoch, b.deleted_epoch, b.attributes, b.status, {N_SHARDS_SQL} AS n_shards {columns}
         FROM {source} {filter}"
    )
}

// === Routes ===

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// The last checkpoint whose data is fully committed; null before the first.
    watermark_checkpoint: Option<u64>,
    watermark_timestamp_ms: Option<u64>,
    /// How far the watermark's checkpoint is behind this server's clock.
    lag_ms: Option<u64>,
    epoch: u32,
    ingestion: Report,
}

#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = Health),
    (status = 503, description = "Ingestion has failed for longer than --unhealthy-after-secs, or the database is away")))]
async fn health(State(state): State<AppState>) -> ApiResult<Health> {
    let ingestion = state.ingestion.report();
    if !ingestion.healthy {
        let error = ingestion.error.unwrap_or_default();
        let seconds = ingestion.failing_ms.unwrap_or_default() / 1000;
        return Err(ApiError::Unhealthy(format!("ingestion has been failing for {seconds} s: {error}")));
    }
    // Monitors need an answer even when PostgreSQL stalls.
    tokio::time::timeout(HEALTH_DATABASE_TIMEOUT, committed_health(&state, ingestion)).await.map_err(|_| {
        ApiError::Internal(format!("the database did not answer within {} ms", HEALTH_DATABASE_TIMEOUT.as_millis()))
    })?
}

/// How long `/v1/health` waits for the database, so it answers within a second.
pub const HEALTH_DATABASE_TIMEOUT: Duration = Duration::from_millis(800);

async fn committed_health(state: &AppState, ingestion: Report) -> ApiResult<Health> {
    let (checkpoint, timestamp_ms, epoch): (Option<i64>, Option<i64>, i32) = sqlx::query_as(&format!(
        "SELECT w.checkpoint_hi, w.timestamp_ms, {EPOCH_SQL}
         FROM (SELECT 'events' AS pipeline) p LEFT JOIN watermark w ON w.pipeline = p.pipeline"
    ))
    .fetch_one(&state.pool)
    .await?;
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
    Ok(Json(Health {
        watermark_checkpoint: checkpoint.map(|c| c as u64),
        watermark_timestamp_ms: timestamp_ms.map(|t| t as u64),
        lag_ms: timestamp_ms.map(|t| now_ms.saturating_sub(t as u64)),
        epoch: epoch as u32,
        ingestion,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct BlobStatus {
    blob_id: String,
    blob_id_hex: String,
    blob_id_decimal: String,
    /// The blob ID's combined status: invalid if declared so, else certified if any object
    /// is, else registered, expired or deleted.
    status: String,
    /// Unencoded size (the same for every object of a blob ID); null without objects.
    size: Option<u64>,
    /// Encoded size for the latest committee's shard count, as the encoder computes it.
    encoded_size: Option<u64>,
    /// The earliest registration and certification, and the latest end, over its objects.
    registered_epoch: Option<u32>,
    certified_epoch: Option<u32>,
    end_epoch: Option<u32>,
    /// Deleted from the storage nodes by a deny-list certificate (DenyListBlobDeleted).
    deny_listed: bool,
    /// Every object's attributes merged (a key set on several objects shows one of them).
    attributes: Value,
    objects: Vec<BlobObject>,
    /// The blob ID's events, oldest first (at most 100): each with checkpoint, tx_digest,
    /// timestamp_ms, type and data, as `/v1/events` shows them.
    events: Vec<Value>,
    /// Pass as `cursor` to `/v1/events?blob_id=...` for the rest; null if all are shown.
    events_next_cursor: Option<String>,
}

/// Events of the blob timeline shown with the blob.
const BLOB_TIMELINE_EVENTS: i64 = 100;

#[utoipa::path(get, path = "/v1/blobs/{blob_id}",
    params(("blob_id" = String, Path, description = "base64url, hex or decimal u256")),
    responses((status = 200, body = BlobStatus), (status = 400), (status = 404)))]
async fn blob(State(state): State<AppState>, Path(blob_id): Path<String>) -> ApiResult<BlobStatus> {
    let blob_id = parse_blob_id(&blob_id)?;
    #[derive(sqlx::FromRow)]
    struct Row {
        #[sqlx(flatten)]
        blob: BlobRow,
        invalid: bool,
        deny_listed: bool,
    }
    // The objects with the ID's flags; the flags alone (a second statement) only without objects.
    const INVALID: &str = "EXISTS (SELECT 1 FROM invalid_blob_ids WHERE blob_id = $1)";
    const DENY_LISTED: &str = "EXISTS (SELECT 1 FROM deny_listed_blob_ids d WHERE d.blob_id = $1)";
    let columns = format!(", {INVALID} AS invalid, {DENY_LISTED} AS deny_listed");
    let objects_sql = blob_select(&columns, "WHERE b.blob_id = $1 ORDER BY b.object_id");
    let objects = sqlx::query_as(&objects_sql).bind(blob_id.0.to_vec()).fetch_all(&state.pool);
    // The timeline is read at the same time, on another connection: the answer waits for the
    // slower of the two statements, not for both in turn.
    let filter = EventFilter { blob_id: Some(blob_id.0.to_vec()), ..Default::default() };
    let timeline = event_page(&state.pool, filter, BLOB_TIMELINE_EVENTS);
    let (rows, (events, events_next_cursor)): (Vec<Row>, _) =
        tokio::try_join!(async { objects.await.map_err(ApiError::from) }, timeline)?;
    let (invalid, deny_listed) = match rows.first() {
        Some(row) => (row.invalid, row.deny_listed),
        None => {
            sqlx::query_as(&format!("SELECT {INVALID}, {DENY_LISTED}"))
                .bind(blob_id.0.to_vec())
                .fetch_one(&state.pool)
                .await?
        }
    };
    if rows.is_empty() && !invalid && !deny_listed {
        return Err(ApiError::NotFound(format!("no blob with ID {blob_id}")));
    }
    let objects = rows.into_iter().map(|r| blob_json(r.blob, state.default_n_shards)).collect::<Result<Vec<_>, _>>()?;
    let status = if invalid {
        "invalid"
    } else {
        ["certified", "registered", "expired", "deleted"]
            .into_iter()
            .find(|s| objects.iter().any(|o| o.status == *s))
            .unwrap_or("deleted")
    };
    let mut attributes = serde_json::Map::new();
    for object in &objects {
        if let Value::Object(map) = &object.attributes {
            attributes.extend(map.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }
    Ok(Json(BlobStatus {
        blob_id: blob_id.to_string(),
        blob_id_hex: blob_id_hex(&blob_id),
        blob_id_decimal: blob_id.to_u256_decimal(),
        status: status.into(),
        size: objects.first().map(|o| o.size),
        encoded_size: objects.first().and_then(|o| o.encoded_size),
        registered_epoch: objects.iter().map(|o| o.registered_epoch).min(),
        certified_epoch: objects.iter().filter_map(|o| o.certified_epoch).min(),
        end_epoch: objects.iter().map(|o| o.end_epoch).max(),
        deny_listed,
        attributes: Value::Object(attributes),
        objects,
        events,
        events_next_cursor,
    }))
}

#[utoipa::path(get, path = "/v1/blobs/by-object/{object_id}",
    params(("object_id" = String, Path, description = "0x and 64 hex digits")),
    responses((status = 200, body = BlobObject), (status = 400), (status = 404)))]
async fn blob_by_object(State(state): State<AppState>, Path(object_id): Path<String>) -> ApiResult<BlobObject> {
    let object_id = parse_address(&object_id, "object ID")?;
    let row: Option<BlobRow> = sqlx::query_as(&blob_select("", "WHERE b.object_id = $1"))
        .bind(object_id.as_bytes().to_vec())
        .fetch_optional(&state.pool)
        .await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no blob object {object_id}")))?;
    Ok(Json(blob_json(row, state.default_n_shards)?))
}

#[derive(Deserialize, IntoParams)]
pub struct BlobQuery {
    /// registered, certified, deleted, invalid or expired.
    status: Option<String>,
    deletable: Option<bool>,
    /// Only blobs whose end epoch is before this one.
    end_epoch_before: Option<u32>,
    /// `KEY` (blobs with that attribute) or `KEY:VALUE` (with that value); the first `:`
    /// separates them, so a key cannot contain one.
    attribute: Option<String>,
    /// The `next_cursor` of the previous page.
    cursor: Option<String>,
    /// 1 to 1000, 50 by default.
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct BlobPage {
    blobs: Vec<BlobObject>,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

const STATUSES: [&str; 5] = ["registered", "certified", "deleted", "invalid", "expired"];

/// A statement's parameters, numbered as they are bound.
#[derive(Default)]
struct Parameters {
    arguments: PgArguments,
    count: usize,
}

impl Parameters {
    /// Binds `value` and returns its placeholder (`$n`).
    fn bind<'q, T: sqlx::Encode<'q, Postgres> + sqlx::Type<Postgres> + 'q>(&mut self, value: T) -> String {
        // Encoding these plain values into the buffer cannot fail.
        self.arguments.add(value).expect("encoding a parameter");
        self.count += 1;
        format!("${}", self.count)
    }
}

/// The filters of a blob page (already checked).
#[derive(Clone, Debug, Default)]
struct BlobFilter {
    status: Option<String>,
    deletable: Option<bool>,
    end_epoch_before: Option<i32>,
    cursor: Option<Vec<u8>>,
    /// Key, and value if given.
    attribute: Option<(String, Option<String>)>,
}

/// The blob page's statement with only the filters present, so every combination is its own
/// statement and PostgreSQL's generic plan for it keeps to an index in object order (a generic
/// plan of `($n IS NULL OR object_id > $n)` scanned the whole table on every page).
///
/// A page ending before an epoch (without an attribute) is not read in object order with the
/// end epoch as a filter: when few blobs end that early, that walks most of the table. It
/// walks each end epoch below the bound instead (found by skipping through the end-epoch
/// index), takes at most a page from each in object order, and keeps the first page of those:
/// work bounded by the number of end epochs times the page, whatever the table's size.
fn blob_page_query(filter: BlobFilter, rows: i64) -> (String, PgArguments) {
    let mut parameters = Parameters::default();
    let mut conditions = Vec::new();
    // The stored status (migrations/0005), the one every answer shows.
    let status = filter.status.map(|status| format!("b.status = {}", parameters.bind(status)));
    conditions.extend(status.clone());
    if let Some(deletable) = filter.deletable {
        conditions.push(format!("b.deletable = {}", parameters.bind(deletable)));
    }
    let end = filter.end_epoch_before.map(|end| parameters.bind(end));
    // With an attribute, the page walks the attribute index in object order and joins the blobs.
    let order = if filter.attribute.is_some() { "a.object_id" } else { "b.object_id" };
    if let Some(cursor) = filter.cursor {
        conditions.push(format!("{order} > {}", parameters.bind(cursor)));
    }
    let sql = match (end, filter.attribute) {
        (Some(end), None) => {
            conditions.push("b.end_epoch = e.epoch".to_owned());
            let limit = parameters.bind(rows);
            // With a status, only the end epochs of blobs with that status (migrations/0008).
            let status = status.map(|s| format!("{s} AND")).unwrap_or_default();
            format!(
                "WITH RECURSIVE end_epochs (epoch) AS (
                     SELECT min(b.end_epoch) FROM blobs b WHERE {status} b.end_epoch < {end}
                     UNION ALL
                     SELECT (SELECT min(b.end_epoch) FROM blobs b
                             WHERE {status} b.end_epoch > e.epoch AND b.end_epoch < {end})
                     FROM end_epochs e WHERE e.epoch IS NOT NULL),
                 page AS (
                     SELECT p.object_id FROM end_epochs e CROSS JOIN LATERAL (
                         SELECT b.object_id FROM blobs b WHERE {} ORDER BY b.object_id LIMIT {limit}) p
                     ORDER BY p.object_id LIMIT {limit})
                 {} ORDER BY b.object_id",
                conditions.join(" AND "),
                // Each row by its key: the fence (OFFSET 0) keeps the generic plan, which cannot
                // know that the page is short, from joining it to a scan of the whole table.
                blob_select_from(
                    "",
                    "page CROSS JOIN LATERAL (SELECT * FROM blobs WHERE object_id = page.object_id OFFSET 0) b",
                    ""
                )
            )
        }
        (end, attribute) => {
            conditions.extend(end.map(|end| format!("b.end_epoch < {end}")));
            let join = match attribute {
                None => String::new(),
                Some((key, value)) => {
                    let mut on = format!("a.object_id = b.object_id AND a.key = {}", parameters.bind(key));
                    if let Some(value) = value {
                        on.push_str(&format!(" AND a.value = {}", parameters.bind(value)));
                    }
                    format!("JOIN blob_attributes a ON {on}")
                }
            };
            let filter =
                if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
            let limit = parameters.bind(rows);
            format!("{} ORDER BY {order} LIMIT {limit}", blob_select("", &format!("{join} {filter}")))
        }
    };
    (sql, parameters.arguments)
}

/// The filters of an event page (already checked).
#[derive(Clone, Debug, Default)]
struct EventFilter {
    type_name: Option<String>,
    blob_id: Option<Vec<u8>>,
    cursor: Option<(i64, i32, i32)>,
    /// Newest first (`order=desc`): the same indexes, walked backwards.
    descending: bool,
}

/// The event page's statement with only the filters present (see [`blob_page_query`]).
fn event_page_query(filter: EventFilter, rows: i64) -> (String, PgArguments) {
    let mut parameters = Parameters::default();
    let mut conditions = Vec::new();
    if let Some(type_name) = filter.type_name {
        conditions.push(format!("type_name = {}", parameters.bind(type_name)));
    }
    if let Some(blob_id) = filter.blob_id {
        conditions.push(format!("blob_id = {}", parameters.bind(blob_id)));
    }
    if let Some((checkpoint, tx, event)) = filter.cursor {
        let (checkpoint, tx, event) = (parameters.bind(checkpoint), parameters.bind(tx), parameters.bind(event));
        let after = if filter.descending { "<" } else { ">" };
        conditions.push(format!("(checkpoint, tx_index, event_index) {after} ({checkpoint}, {tx}, {event})"));
    }
    let filter_sql = if conditions.is_empty() { String::new() } else { format!("WHERE {}", conditions.join(" AND ")) };
    let direction = if filter.descending { "DESC" } else { "ASC" };
    let sql = format!(
        "SELECT checkpoint, tx_index, event_index, tx_digest, timestamp_ms, package, type_name, sender, bcs
         FROM events {filter_sql}
         ORDER BY checkpoint {direction}, tx_index {direction}, event_index {direction} LIMIT {}",
        parameters.bind(rows)
    );
    (sql, parameters.arguments)
}

#[utoipa::path(get, path = "/v1/blobs", params(BlobQuery), responses((status = 200, body = BlobPage), (status = 400)))]
async fn list_blobs(State(state): State<AppState>, ApiQuery(query): ApiQuery<BlobQuery>) -> ApiResult<BlobPage> {
    if let Some(status) = &query.status {
        if !STATUSES.contains(&status.as_str()) {
            return Err(ApiError::BadRequest(format!(
                "unknown status {status:?}; expected one of {}",
                STATUSES.join(", ")
            )));
        }
    }
    let filter = BlobFilter {
        status: query.status,
        deletable: query.deletable,
        end_epoch_before: query.end_epoch_before.map(|e| epoch_param("end_epoch_before", e)).transpose()?,
        cursor: query.cursor.as_deref().map(|c| parse_address(c, "cursor")).transpose()?.map(|c| c.as_bytes().to_vec()),
        attribute: query.attribute.as_deref().map(parse_attribute).transpose()?,
    };
    let limit = limit(query.limit)?;
    let (sql, arguments) = blob_page_query(filter, limit + 1);
    let rows: Vec<BlobRow> = sqlx::query_as_with(&sql, arguments).fetch_all(&state.pool).await?;
    let mut blobs = rows.into_iter().map(|r| blob_json(r, state.default_n_shards)).collect::<Result<Vec<_>, _>>()?;
    let next_cursor = if blobs.len() as i64 > limit {
        blobs.truncate(limit as usize);
        blobs.last().map(|b| b.object_id.clone())
    } else {
        None
    };
    Ok(Json(BlobPage { blobs, next_cursor }))
}

/// `KEY` or `KEY:VALUE` of `/v1/blobs?attribute=`.
fn parse_attribute(text: &str) -> Result<(String, Option<String>), ApiError> {
    let (key, value) = match text.split_once(':') {
        Some((key, value)) => (key, Some(value.to_owned())),
        None => (text, None),
    };
    if key.is_empty() {
        return Err(ApiError::BadRequest(format!("invalid attribute filter {text:?}: expected KEY or KEY:VALUE")));
    }
    Ok((key.to_owned(), value))
}

#[derive(Deserialize, IntoParams)]
pub struct EventQuery {
    /// An event name, such as BlobCertified.
    r#type: Option<String>,
    /// Only events about this blob ID (base64url, hex or decimal).
    blob_id: Option<String>,
    /// `asc` (default: oldest first) or `desc` (newest first, as a live list shows them).
    order: Option<String>,
    /// The `next_cursor` of the previous page, in the same order (it continues after that event).
    cursor: Option<String>,
    limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct EventPage {
    /// Each with checkpoint, tx_digest, tx_index, event_index, timestamp_ms, type, package,
    /// sender, data (decoded; null if unknown) and bcs (base64).
    events: Vec<Value>,
    next_cursor: Option<String>,
}

/// `checkpoint.tx_index.event_index`, the chain order of events.
fn parse_event_cursor(text: &str) -> Result<(i64, i32, i32), ApiError> {
    let bad = || ApiError::BadRequest(format!("invalid cursor {text:?}"));
    let mut parts = text.split('.');
    let (Some(c), Some(t), Some(e), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(bad());
    };
    Ok((c.parse().map_err(|_| bad())?, t.parse().map_err(|_| bad())?, e.parse().map_err(|_| bad())?))
}

#[utoipa::path(get, path = "/v1/events", params(EventQuery), responses((status = 200, body = EventPage), (status = 400)))]
async fn list_events(State(state): State<AppState>, ApiQuery(query): ApiQuery<EventQuery>) -> ApiResult<EventPage> {
    let blob_id = query.blob_id.as_deref().map(parse_blob_id).transpose()?;
    if let Some(name) = &query.r#type {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(ApiError::BadRequest(format!("invalid event type {name:?}")));
        }
    }
    let cursor = query.cursor.as_deref().map(parse_event_cursor).transpose()?;
    let descending = match query.order.as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(other) => return Err(ApiError::BadRequest(format!("invalid order {other:?}: expected asc or desc"))),
    };
    let limit = limit(query.limit)?;
    let filter = EventFilter { type_name: query.r#type, blob_id: blob_id.map(|b| b.0.to_vec()), cursor, descending };
    let (events, next_cursor) = event_page(&state.pool, filter, limit).await?;
    Ok(Json(EventPage { events, next_cursor }))
}

/// A page of events as JSON and the cursor of the next page, if any.
async fn event_page(pool: &PgPool, filter: EventFilter, limit: i64) -> Result<(Vec<Value>, Option<String>), ApiError> {
    #[derive(sqlx::FromRow)]
    struct Row {
        checkpoint: i64,
        tx_index: i32,
        event_index: i32,
        tx_digest: String,
        timestamp_ms: i64,
        package: Vec<u8>,
        type_name: String,
        sender: Vec<u8>,
        bcs: Vec<u8>,
    }
    let (sql, arguments) = event_page_query(filter, limit + 1);
    let rows: Vec<Row> = sqlx::query_as_with(&sql, arguments).fetch_all(pool).await?;
    let more = rows.len() as i64 > limit;
    let rows = &rows[..rows.len().min(limit as usize)];
    let next_cursor =
        more.then(|| rows.last().map(|r| format!("{}.{}.{}", r.checkpoint, r.tx_index, r.event_index))).flatten();
    let to_address = |bytes: &[u8], what| stored_id(bytes, what).map(|id| Address::new(id).to_string());
    let events = rows
        .iter()
        .map(|r| {
            use base64::Engine;
            Ok(json!({
                "checkpoint": r.checkpoint,
                "tx_digest": r.tx_digest,
                "tx_index": r.tx_index,
                "event_index": r.event_index,
                "timestamp_ms": r.timestamp_ms,
                "type": r.type_name,
                "package": to_address(&r.package, "package ID")?,
                "sender": to_address(&r.sender, "sender address")?,
                "data": walrus_chain::events::WalrusEvent::decode(&r.type_name, &r.bcs)
                    .and_then(Result::ok)
                    .map(|event| serde_json::to_value(event).expect("events serialize")),
                "bcs": base64::engine::general_purpose::STANDARD.encode(&r.bcs),
            }))
        })
        .collect::<Result<_, ApiError>>()?;
    Ok((events, next_cursor))
}

#[derive(sqlx::FromRow)]
struct EpochRow {
    epoch: i32,
    start_checkpoint: Option<i64>,
    start_timestamp_ms: Option<i64>,
    done_checkpoint: Option<i64>,
    storage_price: Option<i64>,
    write_price: Option<i64>,
    total_capacity: Option<i64>,
    used_capacity: Option<i64>,
    committee: Option<Value>,
    end_checkpoint: Option<i64>,
    end_timestamp_ms: Option<i64>,
    total_stake: Option<i64>,
    protocol_version: Option<i64>,
    blobs_registered: Option<i64>,
    bytes_registered: Option<i64>,
    blobs_certified: Option<i64>,
    bytes_certified: Option<i64>,
}

fn epoch_json(row: EpochRow) -> Value {
    let n_shards = row
        .committee
        .as_ref()
        .and_then(Value::as_array)
        .map(|members| members.iter().map(|m| m["shards"].as_array().map_or(0, Vec::len)).sum::<usize>());
    json!({
        "storage_price": row.storage_price,
        "write_price": row.write_price,
        "total_capacity": row.total_capacity,
        "used_capacity": row.used_capacity,
        // The epoch ends when the next one starts.
        "end_checkpoint": row.end_checkpoint,
        "end_timestamp_ms": row.end_timestamp_ms,
        "total_stake": row.total_stake,
        "protocol_version": row.protocol_version,
        "n_shards": n_shards,
        "blobs_registered": row.blobs_registered.unwrap_or(0),
        "bytes_registered": row.bytes_registered.unwrap_or(0),
        "blobs_certified": row.blobs_certified.unwrap_or(0),
        "bytes_certified": row.bytes_certified.unwrap_or(0),
        "epoch": row.epoch,
        // Listed once its parameters or committee are selected, before it starts.
        "upcoming": row.start_checkpoint.is_none(),
        "start_checkpoint": row.start_checkpoint,
        "start_timestamp_ms": row.start_timestamp_ms,
        "sync_done_checkpoint": row.done_checkpoint,
        "storage_price_per_mib": row.storage_price,
        "write_price_per_mib": row.write_price,
        "total_capacity_bytes": row.total_capacity,
        "used_capacity_bytes": row.used_capacity,
        "committee": row.committee,
    })
}

/// An epoch with what the explorer plots: every joined table is read by its primary key, and
/// the stake and protocol version in force are the latest at or before the epoch.
const EPOCH_SELECT: &str =
    "SELECT e.epoch, e.start_checkpoint, e.start_timestamp_ms, e.done_checkpoint, e.storage_price, e.write_price,
     e.total_capacity, e.used_capacity, e.committee, n.start_checkpoint AS end_checkpoint,
     n.start_timestamp_ms AS end_timestamp_ms,
     (SELECT s.total_stake FROM epoch_stake s WHERE s.epoch <= e.epoch ORDER BY s.epoch DESC LIMIT 1) AS total_stake,
     (SELECT p.version FROM protocol_versions p WHERE p.start_epoch <= e.epoch ORDER BY p.start_epoch DESC LIMIT 1)
         AS protocol_version,
     r.blobs AS blobs_registered, r.bytes::int8 AS bytes_registered,
     c.blobs AS blobs_certified, c.bytes::int8 AS bytes_certified
     FROM epochs e LEFT JOIN epochs n ON n.epoch = e.epoch + 1
     LEFT JOIN registered_totals r ON r.registered_epoch = e.epoch
     LEFT JOIN certified_totals c ON c.certified_epoch = e.epoch";

/// A newest-first page of epochs below $1, $2 rows.
fn epoch_page_sql() -> String {
    format!("{EPOCH_SELECT} WHERE e.epoch < $1 ORDER BY e.epoch DESC LIMIT $2")
}

/// Epoch $1.
fn epoch_sql() -> String {
    format!("{EPOCH_SELECT} WHERE e.epoch = $1")
}

/// The committee's members in the nodes table.
const COMMITTEE_NODES_SQL: &str =
    "SELECT node_id, name, public_key, network_address FROM nodes WHERE node_id = ANY($1)";

#[derive(Deserialize, IntoParams)]
pub struct PageQuery {
    /// The `next_cursor` of the previous page (an epoch: the page continues below it).
    cursor: Option<u32>,
    /// 1 to 1000; 1000 by default.
    limit: Option<i64>,
}

/// A newest-first page over epochs: the epoch it starts below (every epoch without a cursor)
/// and its rows.
fn epoch_page(query: &PageQuery) -> Result<(i32, i64), ApiError> {
    let cursor = query.cursor.map(|c| epoch_param("cursor", c)).transpose()?.unwrap_or(i32::MAX);
    Ok((cursor, limit(query.limit.or(Some(MAX_LIMIT)))?))
}

#[utoipa::path(get, path = "/v1/epochs", params(PageQuery), responses((status = 200, description =
    "Epochs, newest first, each with its figures (prices, capacity, committee, end, total stake, blobs and bytes \
     registered and certified in it); next_cursor continues")))]
async fn list_epochs(
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> Result<Response, ApiError> {
    let (cursor, limit) = epoch_page(&query)?;
    cached(&state, format!("epochs {cursor} {limit}"), async {
        let rows: Vec<EpochRow> =
            sqlx::query_as(&epoch_page_sql()).bind(cursor).bind(limit + 1).fetch_all(&state.pool).await?;
        let next_cursor = (rows.len() as i64 > limit).then(|| rows[limit as usize - 1].epoch);
        let epochs: Vec<Value> = rows.into_iter().take(limit as usize).map(epoch_json).collect();
        Ok(json!({ "epochs": epochs, "next_cursor": next_cursor }))
    })
    .await
}

/// Committee members as the explorer shows them: each node's name, keys and address (from
/// the nodes table, by primary key) and its weight (shard count).
async fn committee_members(pool: &PgPool, committee: &Value) -> Result<Value, ApiError> {
    use base64::Engine;
    let members = committee.as_array().cloned().unwrap_or_default();
    let ids: Vec<Vec<u8>> = members
        .iter()
        .filter_map(|m| m["node_id"].as_str().and_then(|id| id.parse::<Address>().ok()))
        .map(|id| id.as_bytes().to_vec())
        .collect();
    type Row = (Vec<u8>, String, Option<Vec<u8>>, String);
    let rows: Vec<Row> = sqlx::query_as(COMMITTEE_NODES_SQL).bind(&ids).fetch_all(pool).await?;
    let mut known = std::collections::HashMap::new();
    for (id, name, key, address) in rows {
        known.insert(Address::new(stored_id(&id, "node ID")?).to_string(), (name, key, address));
    }
    let base64 = base64::engine::general_purpose::STANDARD;
    Ok(members
        .into_iter()
        .map(|m| {
            let node = m["node_id"].as_str().and_then(|id| known.get(id));
            json!({
                "node_id": m["node_id"],
                "name": node.map(|n| &n.0),
                "shards": m["shards"],
                "weight": m["shards"].as_array().map_or(0, Vec::len),
                "public_key": node.and_then(|n| n.1.as_ref()).map(|k| base64.encode(k)),
                "network_address": node.map(|n| &n.2),
            })
        })
        .collect())
}

#[utoipa::path(get, path = "/v1/epochs/{epoch}", params(("epoch" = u32, Path)),
    responses((status = 200, description = "The epoch's figures as in /v1/epochs, its committee as \
     [{node_id, name, shards, weight, public_key (base64), network_address}]"), (status = 404)))]
async fn epoch(State(state): State<AppState>, Path(epoch): Path<String>) -> ApiResult<Value> {
    let epoch: u32 = epoch.parse().map_err(|_| ApiError::BadRequest(format!("invalid epoch {epoch:?}")))?;
    let row: Option<EpochRow> =
        sqlx::query_as(&epoch_sql()).bind(epoch_param("epoch", epoch)?).fetch_optional(&state.pool).await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no epoch {epoch}")))?;
    let committee = row.committee.clone();
    let mut json = epoch_json(row);
    if let Some(committee) = committee {
        json["committee"] = committee_members(&state.pool, &committee).await?;
    }
    Ok(Json(json))
}

#[derive(sqlx::FromRow)]
struct NodeRow {
    node_id: Vec<u8>,
    name: String,
    network_address: String,
    public_key: Option<Vec<u8>>,
    network_public_key: Option<Vec<u8>>,
    commission_rate: i32,
    storage_price_vote: Option<i64>,
    write_price_vote: Option<i64>,
    capacity_vote: Option<i64>,
    registered_epoch: i32,
    deregistered_epoch: Option<i32>,
    staked: i64,
    pool_wal: Option<i64>,
    pool_shares: Option<i64>,
    commission_collected: i64,
}

const NODE_SELECT: &str =
    "SELECT node_id, name, network_address, public_key, network_public_key, commission_rate, storage_price_vote,
     write_price_vote, capacity_vote, registered_epoch, deregistered_epoch, staked, pool_wal, pool_shares,
     commission_collected FROM nodes";

async fn current_shards(pool: &PgPool) -> Result<Value, sqlx::Error> {
    let row: Option<(Option<Value>,)> = sqlx::query_as(
        "SELECT committee FROM epochs WHERE committee IS NOT NULL AND start_checkpoint IS NOT NULL
         ORDER BY epoch DESC LIMIT 1",
    )
    .fetch_optional(pool)
    .await?;
    Ok(row.and_then(|(c,)| c).unwrap_or(Value::Array(vec![])))
}

fn node_json(row: NodeRow, committee: &Value) -> Result<Value, ApiError> {
    let node_id = Address::new(stored_id(&row.node_id, "node ID")?).to_string();
    let shards = committee
        .as_array()
        .and_then(|members| members.iter().find(|m| m["node_id"] == Value::String(node_id.clone())))
        .map_or(Value::Array(vec![]), |m| m["shards"].clone());
    Ok(json!({
        "node_id": node_id,
        "name": row.name,
        "network_address": row.network_address,
        "public_key": row.public_key.as_ref().map(hex::encode),
        "network_public_key": row.network_public_key.as_ref().map(hex::encode),
        "commission_rate_bps": row.commission_rate,
        "storage_price_vote": row.storage_price_vote,
        "write_price_vote": row.write_price_vote,
        "capacity_vote": row.capacity_vote,
        "registered_epoch": row.registered_epoch,
        "deregistered_epoch": row.deregistered_epoch,
        "staked_principal": row.staked,
        "pool_wal": row.pool_wal,
        "pool_shares": row.pool_shares,
        "commission_collected": row.commission_collected,
        "shards": shards,
        "stake": row.staked,
        "commission_rate": row.commission_rate,
        "exchange_rate": exchange_rate(row.pool_wal, row.pool_shares),
        "public_key_base64": row.public_key.as_ref().map(|k| base64_of(k)),
        "network_public_key_base64": row.network_public_key.as_ref().map(|k| base64_of(k)),
    }))
}

fn base64_of(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// WAL per pool share, `pool_wal / pool_shares` as a decimal string with 9 decimals (exact
/// integer arithmetic, truncated); null before the first rewards or for an empty pool.
fn exchange_rate(pool_wal: Option<i64>, pool_shares: Option<i64>) -> Option<String> {
    let (wal, shares) = (u128::try_from(pool_wal?).ok()?, u128::try_from(pool_shares?).ok()?);
    if shares == 0 {
        return None;
    }
    let scaled = wal * 1_000_000_000 / shares;
    Some(format!("{}.{:09}", scaled / 1_000_000_000, scaled % 1_000_000_000))
}

#[utoipa::path(get, path = "/v1/nodes", responses((status = 200, description = "Every storage node")))]
async fn list_nodes(State(state): State<AppState>) -> ApiResult<Value> {
    let rows: Vec<NodeRow> = sqlx::query_as(&format!("{NODE_SELECT} ORDER BY node_id")).fetch_all(&state.pool).await?;
    let committee = current_shards(&state.pool).await?;
    let nodes = rows.into_iter().map(|r| node_json(r, &committee)).collect::<Result<Vec<_>, _>>()?;
    Ok(Json(json!({ "nodes": nodes })))
}

#[utoipa::path(get, path = "/v1/nodes/{node_id}", params(("node_id" = String, Path)),
    responses((status = 200, description = "A node with its reward history"), (status = 400), (status = 404)))]
async fn node(State(state): State<AppState>, Path(node_id): Path<String>) -> ApiResult<Value> {
    let node_id = parse_address(&node_id, "node ID")?;
    let id = node_id.as_bytes().to_vec();
    let row: Option<NodeRow> =
        sqlx::query_as(&format!("{NODE_SELECT} WHERE node_id = $1")).bind(&id).fetch_optional(&state.pool).await?;
    let row = row.ok_or_else(|| ApiError::NotFound(format!("no node {node_id}")))?;
    let history: Vec<(i32, i64, i64, i64, i64)> = sqlx::query_as(
        "SELECT epoch, reward, commission, pool_wal, pool_shares FROM node_rewards WHERE node_id = $1 ORDER BY epoch DESC",
    )
    .bind(&id)
    .fetch_all(&state.pool)
    .await?;
    let mut node = node_json(row, &current_shards(&state.pool).await?)?;
    node["history"] = history
        .into_iter()
        .map(|(epoch, reward, commission, wal, shares)| {
            json!({ "epoch": epoch, "reward": reward, "commission": commission, "pool_wal": wal, "pool_shares": shares })
        })
        .collect();
    Ok(Json(node))
}

#[utoipa::path(get, path = "/v1/nodes/{node_id}/history", params(("node_id" = String, Path), PageQuery),
    responses((status = 200, description = "Per epoch, newest first: {epoch, stake, shards, reward, commission, \
     pool_wal, pool_shares, exchange_rate}; next_cursor continues"), (status = 400), (status = 404)))]
async fn node_history(
    State(state): State<AppState>,
    Path(node_id): Path<String>,
    ApiQuery(query): ApiQuery<PageQuery>,
) -> ApiResult<Value> {
    let node_id = parse_address(&node_id, "node ID")?;
    let id = node_id.as_bytes().to_vec();
    let (cursor, limit) = epoch_page(&query)?;
    type Row = (i32, Option<i64>, Option<Value>, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
    const SELECT: &str = "SELECT h.epoch, h.stake, h.shards, r.reward, r.commission, r.pool_wal, r.pool_shares
         FROM node_epochs h LEFT JOIN node_rewards r ON r.node_id = h.node_id AND r.epoch = h.epoch
         WHERE h.node_id = $1";
    let rows: Vec<Row> = sqlx::query_as(&format!("{SELECT} AND h.epoch < $2 ORDER BY h.epoch DESC LIMIT $3"))
        .bind(&id)
        .bind(cursor)
        .bind(limit + 1)
        .fetch_all(&state.pool)
        .await?;
    if rows.is_empty() {
        let (known,): (bool,) = sqlx::query_as("SELECT EXISTS (SELECT 1 FROM nodes WHERE node_id = $1)")
            .bind(&id)
            .fetch_one(&state.pool)
            .await?;
        if !known {
            return Err(ApiError::NotFound(format!("no node {node_id}")));
        }
    }
    let next_cursor = (rows.len() as i64 > limit).then(|| rows[limit as usize - 1].0);
    let history: Vec<Value> = rows
        .into_iter()
        .take(limit as usize)
        .map(|(epoch, stake, shards, reward, commission, pool_wal, pool_shares)| {
            json!({
                "epoch": epoch,
                "stake": stake,
                "shards": shards,
                "reward": reward,
                "commission": commission,
                "pool_wal": pool_wal,
                "pool_shares": pool_shares,
                "exchange_rate": exchange_rate(pool_wal, pool_shares),
            })
        })
        .collect();
    Ok(Json(json!({ "node_id": node_id.to_string(), "history": history, "next_cursor": next_cursor })))
}

#[derive(Deserialize, IntoParams)]
pub struct SearchQuery {
    /// A blob ID (base64url, hex or decimal), an object ID or a node ID (0x and hex digits).
    q: String,
}

/// Resolves what the search box was given: every kind of indexed thing the text names, since
/// a 64-digit hex string may be a blob ID, a Blob object's ID and a node ID at once.
#[utoipa::path(get, path = "/v1/search", params(SearchQuery), responses((status = 200, description =
    "{query, results: [{kind: blob|object|node, id, blob_id?}]}, empty if nothing indexed matches"),
    (status = 400, description = "Not an ID in any form")))]
async fn search(State(state): State<AppState>, ApiQuery(query): ApiQuery<SearchQuery>) -> ApiResult<Value> {
    let text = query.q.trim();
    let blob_id = BlobId::from_str(text).ok();
    let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
    let address = (!hex.is_empty() && hex.len() <= 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| format!("0x{hex}").parse::<Address>().ok())
        .flatten();
    if blob_id.is_none() && address.is_none() {
        return Err(ApiError::BadRequest(format!(
            "{text:?} is not an ID: expected a blob ID (base64url, 0x and 64 hex digits, or a decimal u256) or an \
             object or node ID (0x and hex digits)"
        )));
    }
    let (blob, object, node): (bool, Option<Vec<u8>>, bool) = sqlx::query_as(SEARCH_SQL)
        .bind(blob_id.map(|b| b.0.to_vec()))
        .bind(address.map(|a| a.as_bytes().to_vec()))
        .fetch_one(&state.pool)
        .await?;
    let mut results = Vec::new();
    if let Some(blob_id) = blob_id.filter(|_| blob) {
        results.push(json!({ "kind": "blob", "id": blob_id.to_string(), "blob_id": blob_id.to_string() }));
    }
    if let Some(address) = address {
        if let Some(blob_id) = object {
            let blob_id = BlobId(stored_id(&blob_id, "blob ID")?).to_string();
            results.push(json!({ "kind": "object", "id": address.to_string(), "blob_id": blob_id }));
        }
        if node {
            results.push(json!({ "kind": "node", "id": address.to_string() }));
        }
    }
    Ok(Json(json!({ "query": text, "results": results })))
}

/// What `/v1/search` finds, in one statement: whether $1 is a known blob ID (objects, an
/// invalid or deny-listed ID, or events naming it), the blob ID of object $2, and whether $2 is
/// a node. A null parameter finds nothing. (With few nodes, a plain EXISTS on node_epochs was
/// planned as a scan of the whole table; the first epoch in key order reads its index.)
const SEARCH_SQL: &str = "SELECT EXISTS (SELECT 1 FROM blobs WHERE blob_id = $1)
         OR EXISTS (SELECT 1 FROM invalid_blob_ids WHERE blob_id = $1)
         OR EXISTS (SELECT 1 FROM deny_listed_blob_ids WHERE blob_id = $1)
         OR EXISTS (SELECT 1 FROM events WHERE blob_id = $1),
     (SELECT blob_id FROM blobs WHERE object_id = $2),
     EXISTS (SELECT 1 FROM nodes WHERE node_id = $2)
         OR (SELECT epoch FROM node_epochs WHERE node_id = $2 ORDER BY epoch LIMIT 1) IS NOT NULL";

/// The current epoch, the blobs and bytes stored and certified in it, from the totals the batch
/// transactions keep (migrations/0004): a few rows, never every blob; and the figures of the
/// current epoch (started, and the latest to have), its committee's size without reading the
/// committees of the others.
fn stats_totals_sql() -> String {
    format!(
        "SELECT c.epoch, t.blobs, t.bytes, t.certified_blobs, t.certified_bytes, e.start_timestamp_ms,
                CASE WHEN jsonb_typeof(e.committee) = 'array' THEN jsonb_array_length(e.committee) END AS nodes,
                (SELECT s.total_stake FROM epoch_stake s WHERE s.epoch <= e.epoch ORDER BY s.epoch DESC LIMIT 1)
                    AS total_stake,
                e.storage_price, e.write_price, e.total_capacity, e.used_capacity
         FROM (SELECT {EPOCH_SQL} AS epoch) c
         CROSS JOIN LATERAL (
             SELECT coalesce(sum(blobs), 0)::int8 AS blobs, coalesce(sum(bytes), 0)::int8 AS bytes,
                    coalesce(sum(blobs) FILTER (WHERE certified), 0)::int8 AS certified_blobs,
                    coalesce(sum(bytes) FILTER (WHERE certified), 0)::int8 AS certified_bytes
             FROM blob_totals WHERE end_epoch > c.epoch) t
         LEFT JOIN epochs e ON e.epoch = c.epoch AND e.start_checkpoint IS NOT NULL"
    )
}

/// The per-epoch series the home page plots: the latest epochs, by primary key, with only the
/// plotted columns (a committee per epoch made the call read megabytes).
fn stats_series_sql() -> String {
    format!(
        "SELECT e.epoch,
                (SELECT s.total_stake FROM epoch_stake s WHERE s.epoch <= e.epoch ORDER BY s.epoch DESC LIMIT 1),
                e.storage_price, e.write_price, r.blobs, r.bytes::int8, c.blobs, c.bytes::int8
         FROM epochs e LEFT JOIN registered_totals r ON r.registered_epoch = e.epoch
         LEFT JOIN certified_totals c ON c.certified_epoch = e.epoch
         ORDER BY e.epoch DESC LIMIT {MAX_LIMIT}"
    )
}

const REGISTERED_BY_EPOCH_SQL: &str =
    "SELECT registered_epoch, blobs, bytes::int8 FROM registered_totals ORDER BY registered_epoch";

#[utoipa::path(get, path = "/v1/stats", responses((status = 200, description = "Blobs and bytes, in total and by epoch")))]
async fn stats(State(state): State<AppState>) -> Result<Response, ApiError> {
    cached(&state, "stats".to_owned(), read_stats(&state.pool)).await
}

async fn read_stats(pool: &PgPool) -> Result<Value, ApiError> {
    #[derive(sqlx::FromRow)]
    struct Totals {
        epoch: i32,
        blobs: i64,
        bytes: i64,
        certified_blobs: i64,
        certified_bytes: i64,
        start_timestamp_ms: Option<i64>,
        nodes: Option<i32>,
        total_stake: Option<i64>,
        storage_price: Option<i64>,
        write_price: Option<i64>,
        total_capacity: Option<i64>,
        used_capacity: Option<i64>,
    }
    let t: Totals = sqlx::query_as(&stats_totals_sql()).fetch_one(pool).await?;
    type SeriesRow = (i32, Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>, Option<i64>);
    let series: Vec<SeriesRow> = sqlx::query_as(&stats_series_sql()).fetch_all(pool).await?;
    let series: Vec<Value> = series
        .into_iter()
        .rev()
        .map(|(epoch, total_stake, storage_price, write_price, blobs, bytes, certified, certified_bytes)| {
            json!({
                "epoch": epoch,
                "blobs_registered": blobs.unwrap_or(0),
                "bytes_registered": bytes.unwrap_or(0),
                "blobs_certified": certified.unwrap_or(0),
                "bytes_certified": certified_bytes.unwrap_or(0),
                "total_stake": total_stake,
                "storage_price": storage_price,
                "write_price": write_price,
            })
        })
        .collect();
    let by_epoch: Vec<(i32, i64, i64)> = sqlx::query_as(REGISTERED_BY_EPOCH_SQL).fetch_all(pool).await?;
    Ok(json!({
        "epoch": t.epoch,
        "stored": { "blobs": t.blobs, "bytes": t.bytes },
        "certified": { "blobs": t.certified_blobs, "bytes": t.certified_bytes },
        "network": {
            "epoch_start_timestamp_ms": t.start_timestamp_ms,
            "nodes": t.nodes,
            "total_stake": t.total_stake,
            "storage_price": t.storage_price,
            "write_price": t.write_price,
            "total_capacity": t.total_capacity,
            "used_capacity": t.used_capacity,
        },
        // Oldest first, the last 1000 epochs.
        "by_epoch": series,
        "registered_by_epoch": by_epoch.into_iter()
            .map(|(e, n, b)| json!({ "epoch": e, "blobs": n, "bytes": b }))
            .collect::<Vec<_>>(),
    }))
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Walrus indexer", description = "Blobs, events, epochs and storage nodes of a Walrus deployment"),
    paths(
        health,
        blob,
        blob_by_object,
        list_blobs,
        list_events,
        list_epochs,
        epoch,
        list_nodes,
        node,
        node_history,
        search,
        stats
    )
)]
pub struct ApiDoc;

async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

async fn metrics(State(state): State<AppState>) -> Response {
    match &state.metrics {
        Some(handle) => handle.render().into_response(),
        None => (StatusCode::NOT_FOUND, "metrics are not enabled").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Connection;

    /// Mutation it catches: keeping an answer read while a commit landed, serving one while a
    /// commit is in flight or in doubt, or serving it after the next commit.
    #[tokio::test]
    async fn the_cache_never_serves_an_answer_older_than_the_last_commit() {
        let commits = Commits::default();
        let state = AppState {
            pool: PgPool::connect_lazy("postgres://nobody@127.0.0.1:1/none").unwrap(),
            metrics: None,
            default_n_shards: 1000,
            ingestion: Default::default(),
            cache: Some(Cache::new(commits.clone())),
        };
        let call = |answer: u32, commit: bool| {
            let (state, commits) = (&state, &commits);
            async move {
                let read = async move {
                    if commit {
                        commits.begin().committed();
                    }
                    Ok(json!(answer))
                };
                let response = cached(state, "key".into(), read).await.unwrap();
                let body = axum::body::to_bytes(response.into_body(), usize::MAX).await.unwrap();
                serde_json::from_slice::<u32>(&body).unwrap()
            }
        };
        // A commit landed while the first was read: it is not kept.
        assert_eq!(call(1, true).await, 1);
        assert_eq!(call(2, false).await, 2);
        assert_eq!(call(3, false).await, 2, "kept until the next commit");
        commits.begin().committed();
        assert_eq!(call(4, false).await, 4);
        let in_flight = commits.begin();
        assert_eq!(call(5, false).await, 5);
        assert_eq!(call(6, false).await, 6, "neither served nor kept while a commit is in flight");
        drop(in_flight);
        assert_eq!(call(7, false).await, 7);
        assert_eq!(call(8, false).await, 8, "nor while its outcome is in doubt");
        commits.begin().committed();
        assert_eq!(call(9, false).await, 9);
        assert_eq!(call(10, false).await, 9);
    }

    /// `EXPLAIN (options) EXECUTE` of `sql` prepared with its generic plan, with `values`.
    async fn explain_generic(pool: &PgPool, sql: &str, values: &[String], options: &str) -> Value {
        let mut connection = pool.acquire().await.unwrap();
        sqlx::query("SET plan_cache_mode = force_generic_plan").execute(&mut *connection).await.unwrap();
        sqlx::raw_sql(&format!("PREPARE q AS {sql}")).execute(&mut *connection).await.unwrap();
        let arguments = if values.is_empty() { String::new() } else { format!("({})", values.join(", ")) };
        let (plan,): (Value,) = sqlx::query_as(&format!("EXPLAIN ({options}) EXECUTE q{arguments}"))
            .fetch_one(&mut *connection)
            .await
            .unwrap();
        sqlx::raw_sql("DEALLOCATE q").execute(&mut *connection).await.unwrap();
        connection.ping().await.unwrap();
        plan
    }

    /// The plan PostgreSQL would reuse for every call of `sql` (a prepared statement's generic
    /// plan, which it switches to after five calls), run with `values` (SQL literals): every
    /// scan node's type, relation and index condition.
    async fn generic_plan(pool: &PgPool, sql: &str, values: &[String]) -> Vec<(String, String, String)> {
        let plan = explain_generic(pool, sql, values, "FORMAT JSON").await;
        let mut scans = Vec::new();
        let mut nodes = vec![&plan[0]["Plan"]];
        while let Some(node) = nodes.pop() {
            // A bitmap index scan names its index, not its table; its heap scan names the table.
            let relation = node["Relation Name"].as_str().or(node["Index Name"].as_str());
            if let (Some(kind), Some(relation)) = (node["Node Type"].as_str(), relation) {
                let condition = node["Index Cond"].as_str().unwrap_or_default();
                scans.push((kind.to_owned(), relation.to_owned(), condition.to_owned()));
            }
            nodes.extend(node["Plans"].as_array().into_iter().flatten());
        }
        scans
    }

    fn indexed(kind: &str) -> bool {
        kind.starts_with("Index") || kind.starts_with("Bitmap")
    }

    /// 100k blobs: every third deletable, every other certified, ending in epochs 2 to 51, one in
    /// a thousand deleted.
    const HUNDRED_THOUSAND_BLOBS: &str =
        "INSERT INTO blobs (object_id, blob_id, size, encoding_type, deletable, registered_epoch, certified_epoch,
                            end_epoch, deleted_epoch, registered_checkpoint, updated_checkpoint, status)
         SELECT o, b, s, 1, d, 1, c, e, x, s, s, blob_status(x, false, false, e, c, 2)
         FROM (SELECT sha256(int8send(g)) AS o, sha256(int8send(-g)) AS b, g AS s, g % 3 = 0 AS d,
                      CASE WHEN g % 2 = 0 THEN 1 END AS c, 2 + g % 50 AS e,
                      CASE WHEN g % 1000 = 7 THEN 1 END AS x
               FROM generate_series(1, 100000) g) n";

    /// Defect: a page of blobs ending before an early epoch walked the table in object order
    /// with the end epoch as a filter: with few blobs ending that early it read most of the
    /// table (50-130 ms on 100k blobs, 5x the CPU of any other request of the benchmark's
    /// mix). Whatever the bound, a page reads a few hundred buffers of the table's thousands,
    /// and holds exactly the blobs a plain filtered scan finds, in object order.
    #[sqlx::test(migrations = "../migrations")]
    async fn a_page_ending_before_any_epoch_reads_little_and_finds_what_a_scan_finds(pool: PgPool) {
        sqlx::raw_sql(HUNDRED_THOUSAND_BLOBS).execute(&pool).await.unwrap();
        sqlx::raw_sql("VACUUM ANALYZE blobs").execute(&pool).await.unwrap();
        let object_ids = |rows: Vec<BlobRow>| rows.into_iter().map(|r| r.object_id).collect::<Vec<_>>();
        for end in [1, 2, 3, 4, 10, 30, 52, i32::MAX] {
            for (status, deletable, cursor) in [
                (None, None, None),
                (None, Some(true), None),
                (Some("deleted"), None, None),
                (None, Some(false), Some(0x80u8)),
            ] {
                let filter = BlobFilter {
                    status: status.map(str::to_owned),
                    deletable,
                    end_epoch_before: Some(end),
                    cursor: cursor.map(|c| vec![c; 32]),
                    attribute: None,
                };
                let case = format!("{filter:?}");
                let (sql, arguments) = blob_page_query(filter, 21);
                let page: Vec<BlobRow> = sqlx::query_as_with(&sql, arguments).fetch_all(&pool).await.unwrap();
                let scan: Vec<BlobRow> = sqlx::query_as(&blob_select(
                    "",
                    "WHERE b.end_epoch < $1 AND ($2::text IS NULL OR b.status = $2) AND ($3::bool IS NULL OR b.deletable = $3)
                       AND ($4::bytea IS NULL OR b.object_id > $4) ORDER BY b.object_id LIMIT 21",
                ))
                .bind(end)
                .bind(status)
                .bind(deletable)
                .bind(cursor.map(|c| vec![c; 32]))
                .fetch_all(&pool)
                .await
                .unwrap();
                assert_eq!(object_ids(page), object_ids(scan), "{case}");

                let values: Vec<String> = [
                    status.map(|s| format!("'{s}'")),
                    deletable.map(|d| d.to_string()),
                    Some(end.to_string()),
                    cursor.map(|c| format!("'\\x{}'::bytea", hex::encode([c; 32]))),
                    Some("21".to_owned()),
                ]
                .into_iter()
                .flatten()
                .collect();
                let plan = explain_generic(&pool, &sql, &values, "ANALYZE, BUFFERS, FORMAT JSON").await;
                let plan = &plan[0]["Plan"];
                let buffers =
                    plan["Shared Hit Blocks"].as_u64().unwrap() + plan["Shared Read Blocks"].as_u64().unwrap();
                assert!(buffers < 600, "{case}: {buffers} buffers");
            }
        }
    }

    /// Defect: `/v1/blobs` and `/v1/events` filtered with `($n IS NULL OR …)`, whose generic plan
    /// scans the whole table: on 100k blobs the last page took 106 ms instead of 0.8 ms. Every
    /// filter combination of a page, as PostgreSQL plans it for reuse, reads through an index;
    /// so do the lookups by blob ID and by object.
    #[sqlx::test(migrations = "../migrations")]
    async fn every_page_query_stays_on_an_index_in_its_generic_plan(pool: PgPool) {
        sqlx::raw_sql(HUNDRED_THOUSAND_BLOBS).execute(&pool).await.unwrap();
        sqlx::raw_sql(
            "INSERT INTO events (checkpoint, tx_index, event_index, tx_digest, timestamp_ms, package, type_name,
                                 sender, bcs, blob_id)
             SELECT g / 4, g % 4, 0, 'tx', 0, '\\x00', (ARRAY['BlobRegistered', 'BlobCertified', 'BlobDeleted',
                    'EpochChangeStart'])[1 + g % 4], '\\x00', '\\x00', CASE WHEN g % 4 < 3 THEN sha256(int8send(g / 4)) END
             FROM generate_series(1, 100000) g;
             INSERT INTO epochs (epoch, start_checkpoint, committee)
             SELECT g, g, '[{\"node_id\": \"0x01\", \"shards\": [0, 1]}]' FROM generate_series(1, 1000) g;
             ANALYZE;",
        )
        .execute(&pool)
        .await
        .unwrap();
        let cursor = format!("'\\x{}'::bytea", "80".repeat(32));
        // Every status (a rare one, walked in object order, scanned the whole table).
        for (mask, status) in (0..16u8).flat_map(|mask| ["certified", "deleted", "expired"].map(|s| (mask, s))) {
            let has = |bit: u8| mask & (1 << bit) != 0;
            let filter = BlobFilter {
                status: has(0).then(|| status.to_owned()),
                deletable: has(1).then_some(true),
                end_epoch_before: has(2).then_some(10),
                cursor: has(3).then(|| vec![0x80; 32]),
                attribute: None,
            };
            let (sql, _) = blob_page_query(filter.clone(), 51);
            let values: Vec<String> = [
                filter.status.map(|s| format!("'{s}'")),
                filter.deletable.map(|d| d.to_string()),
                filter.end_epoch_before.map(|e| e.to_string()),
                filter.cursor.map(|_| cursor.clone()),
                Some("51".to_owned()),
            ]
            .into_iter()
            .flatten()
            .collect();
            let scans = generic_plan(&pool, &sql, &values).await;
            let blobs: Vec<_> = scans.iter().filter(|(_, relation, _)| relation.starts_with("blobs")).collect();
            assert!(!blobs.is_empty() && blobs.iter().all(|(kind, ..)| indexed(kind)), "{mask:#06b}: {scans:?}");
            if has(0) {
                assert!(blobs.iter().any(|(.., condition)| condition.contains("status =")), "{mask:#06b}: {scans:?}");
            }
            // A page after a cursor starts at the cursor, not at the first blob.
            if has(3) {
                assert!(
                    blobs.iter().any(|(.., condition)| condition.contains("object_id >")),
                    "{mask:#06b}: {scans:?}"
                );
            }
        }
        // Bit 3: newest first (`order=desc`), the same indexes walked backwards.
        for mask in 0..16u8 {
            let has = |bit: u8| mask & (1 << bit) != 0;
            let filter = EventFilter {
                type_name: has(0).then(|| "BlobCertified".to_owned()),
                blob_id: has(1).then(|| vec![0x80; 32]),
                cursor: has(2).then_some((12_500, 1, 0)),
                descending: has(3),
            };
            let (sql, _) = event_page_query(filter.clone(), 51);
            let values: Vec<String> = [
                filter.type_name.map(|t| format!("'{t}'")),
                filter.blob_id.map(|_| cursor.clone()),
                filter.cursor.map(|(c, _, _)| c.to_string()),
                filter.cursor.map(|(_, t, _)| t.to_string()),
                filter.cursor.map(|(_, _, e)| e.to_string()),
                Some("51".to_owned()),
            ]
            .into_iter()
            .flatten()
            .collect();
            let scans = generic_plan(&pool, &sql, &values).await;
            assert!(scans.iter().all(|(kind, ..)| indexed(kind)), "event filters {mask:#06b}: {scans:?}");
            let conditions: Vec<&str> = scans.iter().map(|(.., condition)| condition.as_str()).collect();
            // (A type filter may read the primary key in order and skip other types: types are few.)
            let after = if has(3) {
                "ROW(checkpoint, tx_index, event_index) <"
            } else {
                "ROW(checkpoint, tx_index, event_index) >"
            };
            for (bit, column) in [(1, "blob_id ="), (2, after)] {
                if has(bit) {
                    assert!(conditions.iter().any(|c| c.contains(column)), "{mask:#06b} {column}: {scans:?}");
                }
            }
        }
        // The lookups: by blob ID (its objects and whether it is invalid) and by object.
        sqlx::raw_sql(
            "INSERT INTO invalid_blob_ids SELECT sha256(int8send(-g)), 1, g FROM generate_series(1, 100000, 10) g;
             ANALYZE invalid_blob_ids;",
        )
        .execute(&pool)
        .await
        .unwrap();
        for (sql, table) in [
            (blob_select("", "WHERE b.blob_id = $1 ORDER BY b.object_id"), "blobs"),
            (blob_select("", "WHERE b.object_id = $1"), "blobs"),
            ("SELECT EXISTS (SELECT 1 FROM invalid_blob_ids WHERE blob_id = $1)".to_owned(), "invalid_blob_ids"),
        ] {
            let values = vec![cursor.clone()];
            let scans = generic_plan(&pool, &sql, &values).await;
            assert!(
                scans.iter().any(|(kind, relation, _)| indexed(kind) && relation.starts_with(table))
                    && scans.iter().all(|(kind, ..)| indexed(kind)),
                "{sql}: {scans:?}"
            );
        }
    }

    /// The explorer's lists read through indexes too: a page by attribute (key, key and value,
    /// after a cursor) walks the attribute index in object order, and a node's history its key.
    #[sqlx::test(migrations = "../migrations")]
    async fn explorer_queries_stay_on_an_index_in_their_generic_plan(pool: PgPool) {
        sqlx::raw_sql(
            "INSERT INTO blobs (object_id, blob_id, size, encoding_type, deletable, registered_epoch, end_epoch,
                                registered_checkpoint, updated_checkpoint)
             SELECT sha256(int8send(g)), sha256(int8send(-g)), g, 1, false, 1, 9, g, g FROM generate_series(1, 50000) g;
             INSERT INTO blob_attributes (object_id, key, value)
             SELECT sha256(int8send(g)), 'k' || (g % 20), 'v' || (g % 7) FROM generate_series(1, 50000) g;
             INSERT INTO node_epochs (node_id, epoch, stake)
             SELECT sha256(int8send(g % 100)), g / 100, g FROM generate_series(1, 50000) g;
             ANALYZE;",
        )
        .execute(&pool)
        .await
        .unwrap();
        let cursor = format!("'\\x{}'::bytea", "80".repeat(32));
        for (value, with_cursor) in [(None, false), (Some("v1"), false), (None, true), (Some("v1"), true)] {
            let filter = BlobFilter {
                cursor: with_cursor.then(|| vec![0x80; 32]),
                attribute: Some(("k3".to_owned(), value.map(str::to_owned))),
                ..Default::default()
            };
            let (sql, _) = blob_page_query(filter, 51);
            let values: Vec<String> =
                [with_cursor.then(|| cursor.clone()), Some("'k3'".to_owned()), value.map(|v| format!("'{v}'"))]
                    .into_iter()
                    .flatten()
                    .chain([String::from("51")])
                    .collect();
            let scans = generic_plan(&pool, &sql, &values).await;
            let attributes: Vec<_> = scans.iter().filter(|(_, r, _)| r.starts_with("blob_attributes")).collect();
            // (invalid_blob_ids is empty here: any plan reads it whole.)
            let blobs = scans.iter().filter(|(_, r, _)| r.starts_with("blob"));
            assert!(!attributes.is_empty() && blobs.clone().all(|(kind, ..)| indexed(kind)), "{value:?}: {scans:?}");
        }
        let history = "SELECT h.epoch, h.stake FROM node_epochs h LEFT JOIN node_rewards r
             ON r.node_id = h.node_id AND r.epoch = h.epoch WHERE h.node_id = $1 AND h.epoch < $2
             ORDER BY h.epoch DESC LIMIT $3";
        let node = format!("'\\x{}'::bytea", "11".repeat(32));
        let scans = generic_plan(&pool, history, &[node, "100".into(), "51".into()]).await;
        assert!(scans.iter().all(|(kind, ..)| indexed(kind)), "node history: {scans:?}");
    }

    /// Issue 14: the epoch, stats and search queries, at explorer scale (1000 epochs, 100k
    /// blobs and events, 2000 nodes, 100 of them with 1000 epochs of history), read every large table
    /// through an index in their generic plans, and each lookup reads its table by index.
    /// (Tables with a row per epoch are read whole by the stats series, which shows them all.)
    #[sqlx::test(migrations = "../migrations")]
    async fn epoch_stats_and_search_queries_stay_on_an_index_in_their_generic_plan(pool: PgPool) {
        sqlx::raw_sql(
            "INSERT INTO nodes (node_id, name, network_address, commission_rate, registered_epoch, staked,
                                updated_checkpoint)
             SELECT sha256(int8send(n)), 'n' || n, 'a', 0, 0, n, 1 FROM generate_series(1, 2000) n;
             INSERT INTO epochs (epoch, start_checkpoint, storage_price, committee)
             SELECT e, e, e, (SELECT jsonb_agg(jsonb_build_object('node_id', n, 'shards', jsonb_build_array(n)))
                              FROM generate_series(1, 10) n)
             FROM generate_series(1, 1000) e;
             INSERT INTO epoch_stake SELECT e, e FROM generate_series(1, 1000) e;
             INSERT INTO protocol_versions SELECT e, e, e FROM generate_series(1, 1000, 100) e;
             INSERT INTO node_epochs (node_id, epoch, stake)
             SELECT sha256(int8send(n)), e, n FROM generate_series(1, 100) n, generate_series(1, 1000) e;
             INSERT INTO node_rewards SELECT node_id, epoch, 1, 1, 1, 1 FROM node_epochs;
             INSERT INTO blobs (object_id, blob_id, size, encoding_type, deletable, registered_epoch, certified_epoch,
                                end_epoch, registered_checkpoint, updated_checkpoint)
             SELECT sha256(int8send(g)), sha256(int8send(-g)), g, 1, false, 1 + g % 1000, 1 + g % 1000,
                    1 + g % 1000 + 50, g, g
             FROM generate_series(1, 100000) g;
             INSERT INTO events (checkpoint, tx_index, event_index, tx_digest, timestamp_ms, package, type_name,
                                 sender, bcs, blob_id)
             SELECT g, 0, 0, 'tx', 0, '\\x00', 'BlobRegistered', '\\x00', '\\x00', sha256(int8send(-g))
             FROM generate_series(1, 100000) g;
             INSERT INTO invalid_blob_ids SELECT sha256(int8send(-g)), 1, g FROM generate_series(1, 100000, 10) g;
             INSERT INTO deny_listed_blob_ids SELECT sha256(int8send(-g)), 1, g FROM generate_series(5, 100000, 10) g;
             ANALYZE;",
        )
        .execute(&pool)
        .await
        .unwrap();
        let large = [
            "blobs",
            "events",
            "invalid_blob_ids",
            "deny_listed_blob_ids",
            "node_epochs",
            "node_rewards",
            "blob_attributes",
        ];
        let id = |n: u8| format!("'\\x{}'::bytea", format!("{n:02x}").repeat(32));
        // With the table each must read by index (the series reads every epoch's row).
        let queries: [(&str, String, Vec<String>, Option<&str>); 7] = [
            ("an epoch page", epoch_page_sql(), vec!["500".into(), "11".into()], Some("epochs")),
            ("an epoch", epoch_sql(), vec!["500".into()], Some("epochs")),
            (
                "a committee's nodes",
                COMMITTEE_NODES_SQL.into(),
                vec![format!("ARRAY[{}, {}]", id(1), id(2))],
                Some("nodes"),
            ),
            ("the stats totals", stats_totals_sql(), vec![], Some("epochs")),
            ("the stats series", stats_series_sql(), vec![], None),
            ("search for a blob ID", SEARCH_SQL.into(), vec![id(3), "NULL".into()], Some("events")),
            ("search for an object or node", SEARCH_SQL.into(), vec!["NULL".into(), id(4)], Some("node_epochs")),
        ];
        for (name, sql, values, table) in queries {
            let scans = generic_plan(&pool, &sql, &values).await;
            assert!(
                scans.iter().all(|(kind, relation, _)| indexed(kind) || !large.contains(&relation.as_str())),
                "{name} scans a large table: {scans:?}"
            );
            if let Some(table) = table {
                assert!(
                    scans.iter().any(|(kind, relation, _)| indexed(kind) && relation.starts_with(table)),
                    "{name} does not read {table} by index: {scans:?}"
                );
            }
        }
        // A search reads each table it looks in by index.
        let scans = generic_plan(&pool, SEARCH_SQL, &[id(3), id(4)]).await;
        for table in ["blobs", "invalid_blob_ids", "deny_listed_blob_ids", "events", "nodes", "node_epochs"] {
            let by_index =
                |(kind, relation, _): &(String, String, String)| indexed(kind) && relation.starts_with(table);
            assert!(scans.iter().any(by_index), "search does not read {table} by index: {scans:?}");
        }
    }
}
