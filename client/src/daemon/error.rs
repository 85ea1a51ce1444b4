//! The daemon's error answers: AIP-193 JSON as Walrus's publisher and aggregator send them,
//! domain `daemon.walrus.space` (`global` for internal failures).

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The AIP-193 status of an error, which fixes its HTTP code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    InvalidArgument,
    NotFound,
    /// The body is larger than the publisher accepts. Walrus answers 413 here too (from its
    /// body limit); AIP-193 has no status for it, so the name is ours.
    PayloadTooLarge,
    RangeNotSatisfiable,
    ResourceExhausted,
    Internal,
    Unavailable,
    DeadlineExceeded,
}

impl Status {
    fn name(self) -> &'static str {
        match self {
            Status::InvalidArgument => "INVALID_ARGUMENT",
            Status::NotFound => "NOT_FOUND",
            Status::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Status::RangeNotSatisfiable => "RANGE_NOT_SATISFIABLE",
            Status::ResourceExhausted => "RESOURCE_EXHAUSTED",
            Status::Internal => "INTERNAL",
            Status::Unavailable => "UNAVAILABLE",
            Status::DeadlineExceeded => "DEADLINE_EXCEEDED",
        }
    }

    pub fn code(self) -> StatusCode {
        match self {
            Status::InvalidArgument => StatusCode::BAD_REQUEST,
            Status::NotFound => StatusCode::NOT_FOUND,
            Status::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Status::RangeNotSatisfiable => StatusCode::RANGE_NOT_SATISFIABLE,
            Status::ResourceExhausted => StatusCode::TOO_MANY_REQUESTS,
            Status::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Status::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Status::DeadlineExceeded => StatusCode::GATEWAY_TIMEOUT,
        }
    }
}

/// An error answer: status, a machine-readable reason and a message for people.
#[derive(Debug)]
pub struct DaemonError {
    pub status: Status,
    pub reason: &'static str,
    pub message: String,
    /// `ErrorInfo.metadata`: figures a caller may act on (string values, as AIP-193 has them).
    pub metadata: serde_json::Map<String, serde_json::Value>,
    /// For 416: the blob's size, sent as `Content-Range: bytes */size`.
    pub blob_size: Option<u64>,
}

impl DaemonError {
    pub fn new(status: Status, reason: &'static str, message: impl Into<String>) -> Self {
        Self { status, reason, message: message.into(), metadata: serde_json::Map::new(), blob_size: None }
    }

    pub fn invalid(reason: &'static str, message: impl Into<String>) -> Self {
        Self::new(Status::InvalidArgument, reason, message)
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(Status::Internal, "INTERNAL_ERROR", message)
    }

    pub fn with_metadata(mut self, key: &str, value: impl ToString) -> Self {
        self.metadata.insert(key.to_owned(), value.to_string().into());
        self
    }
}

impl IntoResponse for DaemonError {
    fn into_response(self) -> Response {
        let domain = if self.status == Status::Internal { "global" } else { "daemon.walrus.space" };
        let code = self.status.code();
        let body = json!({"error": {
            "status": self.status.name(),
            "code": code.as_u16(),
            "message": self.message,
            "details": [{"@type": "ErrorInfo", "reason": self.reason, "domain": domain, "metadata": self.metadata}],
        }});
        let mut response = (code, Json(body)).into_response();
        let headers = response.headers_mut();
        // A cached 404 would hide a blob certified a moment later (walrus #3409).
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if let Some(size) = self.blob_size {
            let range = HeaderValue::from_str(&format!("bytes */{size}")).expect("digits are a valid header");
            headers.insert(header::CONTENT_RANGE, range);
        }
        response
    }
}
