//! The publisher: `PUT /v1/blobs` stores the request body as a blob and answers Walrus's
//! `BlobStoreResult` JSON.

use axum::body::Bytes;
use axum::extract::rejection::{BytesRejection, FailedToBufferBody, QueryRejection};
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::error::{DaemonError, Status};
use super::Shared;
use crate::store::{StoreError, StoreOptions};

/// The query of a store, with Walrus's names. Unknown parameters are refused, so a typo does not
/// silently store a blob other than the one meant.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublisherQuery {
    /// Epochs ahead of the current one to store for; 1 when not given, as in Walrus.
    #[serde(default = "one_epoch")]
    epochs: u32,
    /// Blobs are deletable unless `permanent=true`; `deletable=true` is accepted for old clients.
    #[serde(default)]
    deletable: bool,
    #[serde(default)]
    permanent: bool,
    /// Store anew even if a certified blob already covers the epochs asked for.
    #[serde(default)]
    force: bool,
    /// Only `RS2`, the one encoding there is.
    encoding_type: Option<String>,
    /// Walrus sends the new object to this address, or shares it; the chain interface here has
    /// no transfer yet, so both are refused rather than ignored.
    send_object_to: Option<String>,
    share: Option<bool>,
}

fn one_epoch() -> u32 {
    1
}

impl PublisherQuery {
    fn options(&self) -> Result<StoreOptions, DaemonError> {
        if self.deletable && self.permanent {
            return Err(DaemonError::invalid(
                "INVALID_BLOB_PERSISTENCE",
                "a blob cannot be both deletable and permanent",
            ));
        }
        if self.epochs == 0 {
            return Err(DaemonError::invalid("INVALID_EPOCHS", "epochs must be at least 1"));
        }
        if let Some(encoding) = &self.encoding_type {
            if !encoding.eq_ignore_ascii_case("RS2") {
                return Err(DaemonError::invalid(
                    "UNSUPPORTED_ENCODING_TYPE",
                    format!("encoding type {encoding:?} is not supported; RS2 is"),
                ));
            }
        }
        if self.send_object_to.is_some() || self.share == Some(true) {
            return Err(DaemonError::invalid(
                "UNSUPPORTED_PARAMETER",
                "send_object_to and share are not supported: this publisher keeps the blob objects it creates",
            ));
        }
        Ok(StoreOptions { epochs: self.epochs, deletable: !self.permanent, force: self.force, progress: None })
    }
}

pub async fn put_blob(
    State(shared): State<Shared>,
    query: Result<Query<PublisherQuery>, QueryRejection>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, DaemonError> {
    let Query(query) = query.map_err(|e| DaemonError::invalid("MALFORMED_REQUEST", e.body_text()))?;
    let options = query.options()?;
    let body = body.map_err(|e| match e {
        BytesRejection::FailedToBufferBody(FailedToBufferBody::LengthLimitError(_)) => DaemonError::new(
            Status::PayloadTooLarge,
            "BLOB_TOO_LARGE",
            format!("the blob is larger than this publisher's limit of {} bytes", shared.config.max_body_size),
        )
        .with_metadata("maxBodySize", shared.config.max_body_size),
        other => DaemonError::invalid("MALFORMED_REQUEST", other.body_text()),
    })?;
    let outcome = shared.client.store(Vec::from(body), options).await.map_err(store_error)?;
    Ok(Json(outcome.to_json()).into_response())
}

fn store_error(error: StoreError) -> DaemonError {
    match &error {
        StoreError::NotEnoughConfirmations { weight, needed, n_shards, faults, .. } => {
            DaemonError::new(Status::DeadlineExceeded, "INSUFFICIENT_CONFIRMATIONS", error.to_string())
                .with_metadata("confirmedShards", weight)
                .with_metadata("neededShards", needed)
                .with_metadata("nShards", n_shards)
                .with_metadata("failedNodes", faults.len())
        }
        StoreError::NoEpochs => DaemonError::invalid("INVALID_EPOCHS", error.to_string()),
        StoreError::Encode(_) => DaemonError::invalid("MALFORMED_REQUEST", error.to_string()),
        StoreError::Chain(_) | StoreError::Spill(_) | StoreError::Input { .. } => {
            DaemonError::internal(error.to_string())
        }
    }
}
