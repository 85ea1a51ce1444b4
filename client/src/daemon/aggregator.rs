//! The aggregator: `GET`/`HEAD /v1/blobs/{blob_id}` and `/v1/blobs/by-object-id/{object_id}`
//! serve a blob's bytes, whole or one `Range` of them, with the headers caches and browsers
//! need.
//!
//! The chain is asked first: a blob without a live certified object is a 404 without bothering
//! the nodes, its size (bound to the blob ID on chain) answers `HEAD` and checks a `Range`
//! before anything is read.

use std::ops::Range;

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use walrus_encoder::BlobId;

use super::error::{DaemonError, Status};
use super::range::ByteRange;
use super::Shared;
use crate::chain::{BlobObject, ObjectId};
use crate::client::NodeFault;
use crate::read::{ReadError, STREAM_DEPTH};

/// One day in caches, then revalidated with the ETag; stale copies may serve for an hour while
/// that happens. The bytes of a blob ID never change, but a blob can be deleted or expire.
const CACHE_CONTROL: &str = "public, max-age=86400, stale-while-revalidate=3600";

pub async fn by_blob_id(
    State(shared): State<Shared>,
    method: Method,
    headers: HeaderMap,
    Path(blob_id): Path<String>,
) -> Result<Response, DaemonError> {
    let blob_id: BlobId = blob_id.parse().map_err(|e| DaemonError::invalid("INVALID_BLOB_ID", format!("{e}")))?;
    let objects = shared.client.chain().blob_objects(&blob_id).await.map_err(chain_error)?;
    let object = objects.iter().filter(|o| o.certified_epoch.is_some()).max_by_key(|o| o.end_epoch);
    let Some(object) = object else {
        let message = if objects.is_empty() {
            format!("blob {blob_id} does not exist on Walrus (never stored, deleted or expired)")
        } else {
            format!("blob {blob_id} is registered but not certified yet")
        };
        return Err(not_found(message));
    };
    serve(&shared, &method, &headers, object).await
}

pub async fn by_object_id(
    State(shared): State<Shared>,
    method: Method,
    headers: HeaderMap,
    Path(object_id): Path<String>,
) -> Result<Response, DaemonError> {
    let object_id: ObjectId = object_id.parse().map_err(|e: String| DaemonError::invalid("INVALID_OBJECT_ID", e))?;
    let object = shared.client.chain().blob_object(&object_id).await.map_err(chain_error)?;
    let Some(object) = object else {
        return Err(not_found(format!("object {object_id} is not a live blob object (deleted, expired or never one)")));
    };
    if object.certified_epoch.is_none() {
        return Err(not_found(format!("blob object {object_id} is registered but not certified yet")));
    }
    serve(&shared, &method, &headers, &object).await
}

fn not_found(message: String) -> DaemonError {
    DaemonError::new(Status::NotFound, "BLOB_NOT_FOUND", message)
}

fn chain_error(error: crate::chain::ChainError) -> DaemonError {
    DaemonError::internal(format!("chain: {error}"))
}

/// Answers for the certified blob `object`: headers from the chain's facts, bytes from the nodes.
async fn serve(
    shared: &Shared,
    method: &Method,
    headers: &HeaderMap,
    object: &BlobObject,
) -> Result<Response, DaemonError> {
    let blob_id = object.blob_id;
    let size = object.size;
    let etag = blob_id.to_string();
    let range = match headers.get(header::RANGE) {
        None => None,
        Some(value) => {
            let unsatisfiable = |message: String| DaemonError {
                blob_size: Some(size),
                ..DaemonError::new(Status::RangeNotSatisfiable, "INVALID_BYTE_RANGE", message)
            };
            let text = value.to_str().map_err(|_| unsatisfiable("the Range header is not text".to_owned()))?;
            let range: ByteRange = text.parse().map_err(unsatisfiable)?;
            let bytes = range
                .resolve(size)
                .ok_or_else(|| unsatisfiable(format!("range {text:?} lies outside the blob's {size} bytes")))?;
            Some(bytes)
        }
    };
    // The bytes of a blob ID never change: a cache holding them needs no new copy.
    let not_modified = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()).is_some_and(|tags| {
        tags.split(',').map(|t| t.trim().trim_start_matches("W/").trim_matches('"')).any(|t| t == "*" || t == etag)
    });
    let (status, body_range) = match (not_modified, range) {
        (true, _) => (StatusCode::NOT_MODIFIED, None),
        (false, Some(range)) => (StatusCode::PARTIAL_CONTENT, Some(range)),
        (false, None) => (StatusCode::OK, Some(0..size)),
    };
    let body = match (&body_range, *method == Method::HEAD) {
        (Some(range), false) => stream_blob(shared, blob_id, size, range.clone()).await?,
        _ => Body::empty(),
    };
    let mut response = (status, body).into_response();
    let out = response.headers_mut();
    let value = |text: &str| HeaderValue::from_str(text).expect("blob IDs and numbers are valid header text");
    out.insert(header::ETAG, value(&etag));
    out.insert(header::CACHE_CONTROL, HeaderValue::from_static(CACHE_CONTROL));
    // Browsers must not guess an executable type (script, style sheet) from the bytes.
    out.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    out.insert(header::CONTENT_TYPE, content_type(method, headers));
    if let Some(range) = &body_range {
        out.insert(header::CONTENT_LENGTH, value(&(range.end - range.start).to_string()));
        if status == StatusCode::PARTIAL_CONTENT {
            out.insert(header::CONTENT_RANGE, value(&format!("bytes {}-{}/{size}", range.start, range.end - 1)));
        }
    }
    Ok(response)
}

/// The content type, as Walrus's aggregator picks it: the one media type the caller accepts (no
/// wildcard), else the `Content-Type` a `GET` names, else `application/octet-stream`. Blobs carry
/// no type of their own.
fn content_type(method: &Method, headers: &HeaderMap) -> HeaderValue {
    let accept = headers.get(header::ACCEPT).filter(|a| !a.as_bytes().contains(&b'*') && !a.as_bytes().contains(&b','));
    let requested = headers.get(header::CONTENT_TYPE).filter(|_| *method == Method::GET);
    accept.or(requested).cloned().unwrap_or(HeaderValue::from_static("application/octet-stream"))
}

fn read_error(blob_id: &BlobId, error: ReadError) -> DaemonError {
    let message = error.to_string();
    match error {
        ReadError::Chain(_) | ReadError::Decode { .. } => DaemonError::internal(message),
        // Certified on chain, yet too few nodes answer: try again later or elsewhere.
        ReadError::NoMetadata { .. } | ReadError::NotEnoughSlivers { .. } => {
            DaemonError::new(Status::Unavailable, "BLOB_UNAVAILABLE", message)
        }
        // Its slivers do not decode to its metadata: no read of it can ever succeed.
        ReadError::Inconsistent(_) => DaemonError::new(
            Status::NotFound,
            "BLOB_NOT_FOUND",
            format!("blob {blob_id} is inconsistently encoded and cannot be read"),
        ),
    }
}

/// Starts reading the blob and answers once its first bytes are in (or the read failed before
/// any: then with the error's status); the body streams on as the read produces it, so a
/// caller gets the first bytes before the blob is all read, and the daemon holds only what is
/// in flight besides the slivers. A failure after that cuts the body short of its
/// `Content-Length`, which clients report as an error.
async fn stream_blob(shared: &Shared, blob_id: BlobId, size: u64, range: Range<u64>) -> Result<Body, DaemonError> {
    let (tx, mut rx) = mpsc::channel(STREAM_DEPTH);
    let client = shared.client.clone();
    let reading = tokio::spawn(async move { client.read_to(&blob_id, tx).await });
    let first = rx.recv().await;
    if first.is_none() {
        // Nothing came: the read failed, or the blob is empty.
        let read =
            reading.await.map_err(|e| DaemonError::internal(format!("the read of blob {blob_id} failed: {e}")))?;
        read.map_err(|e| read_error(&blob_id, e))?;
        if size != 0 {
            return Err(DaemonError::internal(format!("blob {blob_id} read as 0 bytes, its object says {size}")));
        }
        return Ok(Body::empty());
    }
    let pieces = Pieces { blob_id, first, rx, reading: Some(reading), at: 0, size, range };
    Ok(Body::from_stream(futures::stream::unfold(pieces, Pieces::next)))
}

/// The body of a streamed read: the read's pieces cut to the range, then its outcome.
struct Pieces {
    blob_id: BlobId,
    first: Option<Bytes>,
    rx: mpsc::Receiver<Bytes>,
    reading: Option<JoinHandle<Result<Vec<NodeFault>, ReadError>>>,
    /// Offset in the blob of the next piece.
    at: u64,
    size: u64,
    range: Range<u64>,
}

impl Pieces {
    async fn next(mut self) -> Option<(std::io::Result<Bytes>, Self)> {
        loop {
            let piece = match self.first.take() {
                Some(piece) => Some(piece),
                None => self.rx.recv().await,
            };
            let Some(piece) = piece else { break };
            let (start, end) = (self.at, self.at + piece.len() as u64);
            self.at = end;
            if start >= self.range.end {
                // Past the range: dropping the receiver stops the read.
                return None;
            }
            let (from, to) = (self.range.start.max(start), self.range.end.min(end));
            if from < to {
                return Some((Ok(piece.slice((from - start) as usize..(to - start) as usize)), self));
            }
        }
        let reading = self.reading.take()?;
        let problem = match reading.await {
            Ok(Ok(_)) if self.at == self.size => return None,
            Ok(Ok(_)) => format!("blob {} read as {} bytes, its object says {}", self.blob_id, self.at, self.size),
            Ok(Err(e)) => e.to_string(),
            Err(e) => format!("the read of blob {} failed: {e}", self.blob_id),
        };
        Some((Err(std::io::Error::other(problem)), self))
    }
}
