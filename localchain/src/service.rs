//! The HTTP JSON service: reads of the chain's state, one route per call the testbed makes,
//! and epoch changes on a timer. Every call is committed (its checkpoint written) before the
//! response; a refused call answers with the Move error's name and message and changes
//! nothing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State as AxumState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use sui_sdk_types::Address;
use walrus_chain::events::BlobId;

use crate::chain::{Executed, LocalChain};
use crate::error::ChainError;
use crate::rules;
use crate::state::{BlobObject, Call};

pub type Shared = Arc<Mutex<LocalChain>>;

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub fn router(chain: Shared) -> Router {
    Router::new()
        .route("/v1/state", get(state))
        .route("/v1/balances/{address}", get(balance))
        .route("/v1/blobs/{blob_id}", get(blobs_by_id))
        .route("/v1/objects/{object_id}", get(object))
        .route("/v1/owners/{address}/blobs", get(blobs_by_owner))
        .route("/v1/cost", get(cost))
        .route("/v1/blobs/register", post(|s, b| call(s, b, "register_blob")))
        .route("/v1/blobs/certify", post(|s, b| call(s, b, "certify_blob")))
        .route("/v1/blobs/delete", post(|s, b| call(s, b, "delete_blob")))
        .route("/v1/blobs/extend", post(|s, b| call(s, b, "extend_blob")))
        .route("/v1/blobs/invalidate", post(|s, b| call(s, b, "invalidate_blob_id")))
        .route("/v1/nodes/sync-done", post(|s, b| call(s, b, "epoch_sync_done")))
        .route("/v1/epoch/advance", post(advance))
        .with_state(chain)
}

/// Advances the epoch whenever the schedule says it is due, until the process ends.
pub async fn epoch_timer(chain: Shared) {
    loop {
        let due = chain.lock().expect("not poisoned").state().next_epoch_start();
        let wait = due.saturating_sub(now_ms());
        tokio::time::sleep(Duration::from_millis(wait.max(10))).await;
        if now_ms() < due {
            continue;
        }
        let chain = chain.clone();
        let result = tokio::task::spawn_blocking(move || {
            let mut chain = chain.lock().expect("not poisoned");
            let sender = chain.state().package_id.unwrap_or(Address::ZERO);
            chain.advance_epoch(sender, now_ms())
        })
        .await
        .expect("the epoch change does not panic");
        match result {
            // Logged without `eprintln!`, which panics (stopping the timer) once stderr is closed.
            Ok(executed) => log(&format!("epoch {} started", epoch_of(&executed))),
            Err(error) => {
                log(&format!("epoch change failed: {error}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

fn log(line: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "walrus-localchain: {line}");
}

fn epoch_of(executed: &[Executed]) -> String {
    executed
        .iter()
        .flat_map(|tx| &tx.events)
        .find_map(|event| match event {
            walrus_chain::events::WalrusEvent::EpochChangeStart(e) => Some(e.epoch.to_string()),
            _ => None,
        })
        .unwrap_or_else(|| "?".into())
}

struct ApiError(ChainError);

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = match &self.0 {
            ChainError::Abort(_) | ChainError::BadInput(_) => StatusCode::BAD_REQUEST,
            ChainError::NotFound { .. } => StatusCode::NOT_FOUND,
            ChainError::NotOwner { .. } => StatusCode::FORBIDDEN,
            ChainError::Storage(_) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        let message = match &self.0 {
            ChainError::Abort(abort) => abort.message.to_owned(),
            other => other.to_string(),
        };
        (status, Json(json!({"error": self.0.name(), "module": self.0.module(), "message": message}))).into_response()
    }
}

fn bad_input(message: String) -> ApiError {
    ApiError(ChainError::BadInput(message))
}

async fn state(AxumState(chain): AxumState<Shared>) -> Json<Value> {
    let chain = chain.lock().expect("not poisoned");
    let state = chain.state();
    let committee: Vec<Value> = state
        .bls_committee
        .members
        .iter()
        .map(|member| {
            let pool = &state.pools[&member.node_id];
            json!({
                "node_id": member.node_id,
                "name": pool.name,
                "network_address": pool.network_address,
                "public_key": b64(&member.public_key),
                "network_public_key": b64(&pool.network_public_key),
                "weight": member.weight,
                "shards": state.committee.get(&member.node_id),
            })
        })
        .collect();
    Json(json!({
        "epoch": state.epoch,
        "package_id": state.package_id,
        "system_id": state.system_id,
        "staking_id": state.staking_id,
        "n_shards": state.n_shards,
        "storage_price_per_unit_size": state.storage_price,
        "write_price_per_unit_size": state.write_price,
        "total_capacity_size": state.total_capacity_size,
        "used_capacity_size": state.used_capacity_size,
        "max_epochs_ahead": state.ring.len(),
        "epoch_duration_ms": state.epoch_duration_ms,
        "next_epoch_start_ms": state.next_epoch_start(),
        "checkpoint": chain.last_checkpoint(),
        "checkpoints_dir": chain.checkpoints_dir(),
        "committee": committee,
    }))
}

async fn balance(AxumState(chain): AxumState<Shared>, Path(address): Path<String>) -> Result<Json<Value>, ApiError> {
    let address: Address = address.parse().map_err(|e| bad_input(format!("{address:?} is not an address: {e}")))?;
    let chain = chain.lock().expect("not poisoned");
    Ok(Json(json!({"address": address, "balance": chain.state().balances.get(&address).copied().unwrap_or(0)})))
}

async fn blobs_by_id(
    AxumState(chain): AxumState<Shared>,
    Path(blob_id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let blob_id = BlobId(crate::as_text::url32::parse(&blob_id).map_err(bad_input)?);
    let chain = chain.lock().expect("not poisoned");
    let blobs: Vec<Value> = chain.state().blobs_by_id(&blob_id).into_iter().map(blob_json).collect();
    Ok(Json(json!({"blob_id": blob_id, "objects": blobs})))
}

/// The blob objects an address owns (what `walrus list-blobs` shows), expired ones included.
async fn blobs_by_owner(
    AxumState(chain): AxumState<Shared>,
    Path(address): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let owner: Address = address.parse().map_err(|e| bad_input(format!("{address:?} is not an address: {e}")))?;
    let chain = chain.lock().expect("not poisoned");
    let blobs: Vec<Value> = chain.state().blobs.values().filter(|b| b.owner == owner).map(blob_json).collect();
    Ok(Json(json!({"owner": owner, "objects": blobs})))
}

async fn object(AxumState(chain): AxumState<Shared>, Path(object_id): Path<String>) -> Result<Json<Value>, ApiError> {
    let id: Address = object_id.parse().map_err(|e| bad_input(format!("{object_id:?} is not an object ID: {e}")))?;
    let chain = chain.lock().expect("not poisoned");
    let blob =
        chain.state().blobs.get(&id).ok_or(ApiError(ChainError::NotFound { what: "blob object", id: object_id }))?;
    Ok(Json(blob_json(blob)))
}

#[derive(serde::Deserialize)]
struct CostQuery {
    size: u64,
    epochs: u32,
    #[serde(default = "CostQuery::rs2")]
    encoding_type: u8,
}

impl CostQuery {
    fn rs2() -> u8 {
        1
    }
}

/// What registering a blob of `size` bytes for `epochs` epochs costs at today's prices.
async fn cost(
    AxumState(chain): AxumState<Shared>,
    query: Result<Query<CostQuery>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Value>, ApiError> {
    let Query(query) = query.map_err(|e| bad_input(e.body_text()))?;
    let chain = chain.lock().expect("not poisoned");
    let state = chain.state();
    let encoded_size = rules::encoded_blob_length(query.size, query.encoding_type, state.bls_committee.n_shards())
        .map_err(|abort| ApiError(abort.into()))?;
    let storage_cost = rules::cost(encoded_size, state.storage_price, u64::from(query.epochs));
    let write_cost = rules::cost(encoded_size, state.write_price, 1);
    let (storage_cost, write_cost) = storage_cost.and_then(|s| Ok((s, write_cost?))).map_err(|a| ApiError(a.into()))?;
    Ok(Json(json!({
        "epoch": state.epoch,
        "encoded_size": encoded_size,
        "storage_cost": storage_cost,
        "write_cost": write_cost,
    })))
}

fn blob_json(blob: &BlobObject) -> Value {
    json!({
        "object_id": blob.id,
        "owner": blob.owner,
        "blob_id": blob.blob_id,
        "size": blob.size,
        "encoding_type": blob.encoding_type,
        "registered_epoch": blob.registered_epoch,
        "certified_epoch": blob.certified_epoch,
        "end_epoch": blob.end_epoch(),
        "deletable": blob.deletable,
        "storage": blob.storage,
    })
}

/// A call route: the body is the call's fields plus `sender`.
async fn call(
    AxumState(chain): AxumState<Shared>,
    body: Result<Json<Value>, JsonRejection>,
    name: &'static str,
) -> Result<Json<Value>, ApiError> {
    let Json(mut body) = body.map_err(|e| bad_input(e.body_text()))?;
    let fields = body.as_object_mut().ok_or_else(|| bad_input("the body must be a JSON object".into()))?;
    let sender = fields.remove("sender").ok_or_else(|| bad_input("missing field `sender`".into()))?;
    let sender: Address = serde_json::from_value(sender).map_err(|e| bad_input(format!("sender: {e}")))?;
    if name == "register_blob" {
        fields.entry("encoding_type").or_insert(json!(1));
    }
    fields.insert("call".into(), json!(name));
    let call: Call = serde_json::from_value(body).map_err(|e| bad_input(e.to_string()))?;
    let executed = run(chain.clone(), move |chain| chain.execute(sender, call, now_ms()).map(|tx| vec![tx])).await?;
    let chain = chain.lock().expect("not poisoned");
    let tx = &executed[0];
    let object = match &tx.call {
        Call::RegisterBlob { .. } => tx.created.get(1),
        Call::CertifyBlob { object_id, .. } | Call::ExtendBlob { object_id, .. } => Some(object_id),
        _ => None,
    };
    let mut response = executed_json(tx);
    if let Some(blob) = object.and_then(|id| chain.state().blobs.get(id)) {
        response["blob"] = blob_json(blob);
    }
    Ok(Json(response))
}

async fn advance(AxumState(chain): AxumState<Shared>) -> Result<Json<Value>, ApiError> {
    let executed = run(chain.clone(), |chain| {
        let sender = chain.state().package_id.unwrap_or(Address::ZERO);
        chain.advance_epoch(sender, now_ms())
    })
    .await?;
    let epoch = chain.lock().expect("not poisoned").state().epoch;
    Ok(Json(json!({"epoch": epoch, "transactions": executed.iter().map(executed_json).collect::<Vec<_>>()})))
}

async fn run<T: Send + 'static>(
    chain: Shared,
    f: impl FnOnce(&mut LocalChain) -> Result<T, ChainError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(move || f(&mut chain.lock().expect("not poisoned")))
        .await
        .map_err(|e| ApiError(ChainError::Storage(format!("the call did not finish: {e}"))))?
        .map_err(ApiError)
}

fn executed_json(tx: &Executed) -> Value {
    json!({
        "digest": tx.digest,
        "checkpoint": tx.checkpoint,
        "time_ms": tx.time_ms,
        "created": tx.created,
        "events": tx.events.iter().map(|e| json!({"type": e.name(), "data": e})).collect::<Vec<_>>(),
    })
}

fn b64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
