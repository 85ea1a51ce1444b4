//! Errors as Walrus nodes send them: AIP-193 JSON with a status, an HTTP code and a reason
//! clients act on (the TS SDK retries on `NOT_REGISTERED`, for one).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The AIP-193 status of an error, which fixes its HTTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InvalidArgument,
    FailedPrecondition,
    NotFound,
    Internal,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::InvalidArgument => "INVALID_ARGUMENT",
            Status::FailedPrecondition => "FAILED_PRECONDITION",
            Status::NotFound => "NOT_FOUND",
            Status::Internal => "INTERNAL",
        }
    }

    fn code(self) -> StatusCode {
        match self {
            Status::InvalidArgument | Status::FailedPrecondition => StatusCode::BAD_REQUEST,
            Status::NotFound => StatusCode::NOT_FOUND,
            Status::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// An error answer: status, reason and a message for people.
#[derive(Debug)]
pub struct ApiError {
    pub status: Status,
    pub reason: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: Status, reason: &'static str, message: impl Into<String>) -> Self {
        Self { status, reason, message: message.into() }
    }

    pub fn invalid(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(Status::InvalidArgument, reason, message)
    }

    pub fn precondition(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(Status::FailedPrecondition, reason, message)
    }

    pub fn not_found(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(Status::NotFound, reason, message)
    }

    /// A failure of the node itself; the details go to the log, not to the client.
    pub fn internal(error: impl std::fmt::Display) -> Self {
        tracing::error!(%error, "internal error");
        Self::new(Status::Internal, "INTERNAL_ERROR", "internal error")
    }

    pub fn not_registered() -> Self {
        Self::precondition("NOT_REGISTERED", "the blob ID is not registered")
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let domain = if self.status == Status::Internal { "global" } else { "storage.walrus.space" };
        let code = self.status.code();
        let body = json!({"error": {
            "status": self.status.name(),
            "code": code.as_u16(),
            "message": self.message,
            "details": [{"@type": "ErrorInfo", "reason": self.reason, "domain": domain, "metadata": {}}],
        }});
        (code, Json(body)).into_response()
    }
}

impl From<crate::store::StoreError> for ApiError {
    fn from(e: crate::store::StoreError) -> Self {
        use crate::store::StoreError::*;
        match e {
            NotRegistered => Self::not_registered(),
            Invalid => Self::precondition("INVALID_BLOB", "the blob ID is invalid"),
            MetadataMissing => Self::precondition("METADATA_NOT_FOUND", "store the blob's metadata first"),
            e @ (Db(_) | Files(_) | Corrupt(_) | Group(_) | Gap { .. } | BrokenChain { .. } | Chain(_)) => {
                Self::internal(e)
            }
        }
    }
}

/// `{"success":{"code":…,"data":…}}` with the same HTTP code.
pub fn success(code: StatusCode, data: serde_json::Value) -> Response {
    (code, Json(json!({"success": {"code": code.as_u16(), "data": data}}))).into_response()
}
