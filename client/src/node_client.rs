//! An HTTP client for one storage node's API (the routes Walrus nodes serve): metadata,
//! slivers, their status, confirmations and blob status. Every answer is parsed at this edge;
//! nothing a node sends is trusted before the caller verifies it against the blob ID.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use bytes::Bytes;
use serde::Deserialize;
use walrus_encoder::{Axis, BlobId, BlobMetadataWithId, Sliver, SliverPairIndex, VerifiedMetadata};

use crate::certificate::Persistence;

/// Why a request to a node failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NodeError {
    #[error("unreachable: {0}")]
    Unreachable(String),
    #[error("refused with HTTP {status} {reason}: {message}")]
    Refused { status: u16, reason: String, message: String },
    #[error("answered nonsense: {0}")]
    Malformed(String),
}

impl NodeError {
    /// Whether trying again later can help: the node may come back, catch up with the chain
    /// (it does not know the registration yet) or finish storing what it was sent.
    pub fn is_transient(&self) -> bool {
        match self {
            NodeError::Unreachable(_) => true,
            NodeError::Refused { status, reason, .. } => {
                *status >= 500 || *status == 429 || reason == "NOT_REGISTERED" || reason == "MISSING_SLIVERS"
            }
            NodeError::Malformed(_) => false,
        }
    }
}

/// Whether a PUT stored something new or the node already had it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    Already,
}

/// A signed confirmation as the node sent it (not yet verified).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedConfirmation {
    pub message: Vec<u8>,
    pub signature: Vec<u8>,
}

/// Per-request time limits.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    pub connect: Duration,
    /// For small requests (metadata, status, confirmations besides their long poll).
    pub request: Duration,
    /// Per MiB of a sliver's body, on top of `request`: large slivers take longer.
    pub per_mib: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self { connect: Duration::from_secs(5), request: Duration::from_secs(10), per_mib: Duration::from_secs(5) }
    }
}

/// Talks to one node.
#[derive(Clone, Debug)]
pub struct NodeClient {
    http: reqwest::Client,
    base: String,
    timeouts: Timeouts,
}

#[derive(Deserialize)]
struct ErrorEnvelope {
    error: ErrorBody,
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    details: Vec<ErrorDetail>,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    reason: String,
}

#[derive(Deserialize)]
struct SuccessEnvelope<T> {
    success: SuccessBody<T>,
}

#[derive(Deserialize)]
struct SuccessBody<T> {
    data: T,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignedJson {
    serialized_message: String,
    signature: String,
}

#[derive(Deserialize)]
struct ConfirmationJson {
    signed: SignedJson,
}

impl NodeClient {
    /// A client for the node at `address` (`host:port`, or a URL with its scheme).
    pub fn new(http: reqwest::Client, address: &str, timeouts: Timeouts) -> Self {
        let address = address.trim_end_matches('/');
        let base = if address.starts_with("http://") || address.starts_with("https://") {
            address.to_owned()
        } else {
            format!("http://{address}")
        };
        Self { http, base, timeouts }
    }

    /// A `reqwest` client with the connect timeout, to share between node clients.
    pub fn http_client(timeouts: &Timeouts) -> reqwest::Client {
        reqwest::Client::builder().connect_timeout(timeouts.connect).build().expect("a plain HTTP client builds")
    }

    fn url(&self, blob_id: &BlobId, rest: &str) -> String {
        format!("{}/v1/blobs/{blob_id}{rest}", self.base)
    }

    async fn send(&self, request: reqwest::RequestBuilder, timeout: Duration) -> Result<(u16, Bytes), NodeError> {
        let response = self.response(request, timeout).await?;
        let status = response.status().as_u16();
        let body = response.bytes().await.map_err(|e| NodeError::Unreachable(describe(&e)))?;
        Ok((status, body))
    }

    /// The response to `request` if the node answered with success, else the error it gave.
    async fn response(
        &self,
        request: reqwest::RequestBuilder,
        timeout: Duration,
    ) -> Result<reqwest::Response, NodeError> {
        let response = request.timeout(timeout).send().await.map_err(|e| NodeError::Unreachable(describe(&e)))?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) {
            return Ok(response);
        }
        let body = response.bytes().await.map_err(|e| NodeError::Unreachable(describe(&e)))?;
        Err(match serde_json::from_slice::<ErrorEnvelope>(&body) {
            Ok(envelope) => NodeError::Refused {
                status,
                reason: envelope.error.details.into_iter().next().map(|d| d.reason).unwrap_or_default(),
                message: envelope.error.message,
            },
            Err(_) => NodeError::Refused {
                status,
                reason: String::new(),
                message: String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
            },
        })
    }

    fn data<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, NodeError> {
        serde_json::from_slice::<SuccessEnvelope<T>>(body)
            .map(|e| e.success.data)
            .map_err(|e| NodeError::Malformed(format!("not the expected JSON: {e}")))
    }

    fn stored(status: u16) -> Stored {
        if status == 200 {
            Stored::Already
        } else {
            Stored::New
        }
    }

    fn sliver_timeout(&self, bytes: usize) -> Duration {
        self.timeouts.request + self.timeouts.per_mib.mul_f64(bytes as f64 / f64::from(1 << 20))
    }

    pub async fn put_metadata(&self, metadata: &VerifiedMetadata) -> Result<Stored, NodeError> {
        let body = bcs::to_bytes(metadata.metadata()).expect("metadata always serializes");
        let url = self.url(&metadata.blob_id(), "/metadata");
        let request = self.http.put(url).header("content-type", "application/octet-stream").body(body);
        let (status, _) = self.send(request, self.timeouts.request).await?;
        Ok(Self::stored(status))
    }

    /// The metadata of `blob_id`, verified to hash to it.
    pub async fn get_metadata(&self, blob_id: &BlobId) -> Result<VerifiedMetadata, NodeError> {
        let (_, body) = self.send(self.http.get(self.url(blob_id, "/metadata")), self.timeouts.request).await?;
        let with_id = BlobMetadataWithId::from_bcs(&body)
            .map_err(|e| NodeError::Malformed(format!("metadata is not valid BCS: {e}")))?;
        if with_id.blob_id != *blob_id {
            return Err(NodeError::Malformed(format!("sent the metadata of another blob ({})", with_id.blob_id)));
        }
        with_id.verify().map_err(|e| NodeError::Malformed(format!("metadata does not match the blob ID: {e}")))
    }

    fn sliver_path<A: Axis>(pair: SliverPairIndex) -> String {
        format!("/slivers/{}/{}", pair.0, A::NAME)
    }

    pub async fn put_sliver<A: Axis>(
        &self,
        blob_id: &BlobId,
        sliver: &Sliver<A>,
        n_shards: u16,
    ) -> Result<Stored, NodeError> {
        self.put_sliver_bcs::<A>(blob_id, sliver.index().pair(n_shards), sliver.to_bcs()).await
    }

    /// Stores a sliver given in its BCS form (as [`Sliver::to_bcs`] makes it) as pair `pair`'s
    /// sliver of axis `A`.
    pub async fn put_sliver_bcs<A: Axis>(
        &self,
        blob_id: &BlobId,
        pair: SliverPairIndex,
        body: Vec<u8>,
    ) -> Result<Stored, NodeError> {
        let timeout = self.sliver_timeout(body.len());
        let url = self.url(blob_id, &Self::sliver_path::<A>(pair));
        let request = self.http.put(url).header("content-type", "application/octet-stream").body(body);
        let (status, _) = self.send(request, timeout).await?;
        Ok(Self::stored(status))
    }

    /// Whether the node already stores this sliver.
    pub async fn has_sliver<A: Axis>(&self, blob_id: &BlobId, pair: SliverPairIndex) -> Result<bool, NodeError> {
        let url = self.url(blob_id, &format!("{}/status", Self::sliver_path::<A>(pair)));
        let (_, body) = self.send(self.http.get(url), self.timeouts.request).await?;
        match Self::data::<String>(&body)?.as_str() {
            "stored" => Ok(true),
            "nonexistent" | "buffered" => Ok(false),
            other => Err(NodeError::Malformed(format!("unknown sliver status {other:?}"))),
        }
    }

    /// A sliver as the node sends it: parsed, not verified (`expected_len` bounds the wait).
    /// The body goes into one buffer of its exact size, which the sliver's symbols then share:
    /// a read holds many slivers at once, and a copy or a half-empty buffer each would add up.
    /// A body longer than a sliver of `expected_len` bytes is refused before it is all in.
    pub async fn get_sliver<A: Axis>(
        &self,
        blob_id: &BlobId,
        pair: SliverPairIndex,
        expected_len: usize,
    ) -> Result<Sliver<A>, NodeError> {
        let url = self.url(blob_id, &Self::sliver_path::<A>(pair));
        let mut response = self.response(self.http.get(url), self.sliver_timeout(expected_len)).await?;
        // The symbols, their ULEB128 length (at most 5 bytes) and the symbol size and index.
        let most = expected_len + 5 + 4;
        let too_long = || NodeError::Malformed(format!("{} sliver {pair} is longer than {most} bytes", A::NAME));
        let declared = response.content_length().map(usize::try_from);
        let mut body = match declared {
            Some(Ok(len)) if len <= most => Vec::with_capacity(len),
            Some(_) => return Err(too_long()),
            None => Vec::with_capacity(most),
        };
        while let Some(chunk) = response.chunk().await.map_err(|e| NodeError::Unreachable(describe(&e)))? {
            if body.len() + chunk.len() > most {
                return Err(too_long());
            }
            body.extend_from_slice(&chunk);
        }
        Sliver::from_bcs_bytes(Bytes::from(body))
            .map_err(|e| NodeError::Malformed(format!("{} sliver {pair} is not valid BCS: {e}", A::NAME)))
    }

    /// The node's signed confirmation; it waits up to `wait` for the node to see the
    /// registration.
    pub async fn confirmation(
        &self,
        blob_id: &BlobId,
        persistence: Persistence,
        wait: Duration,
    ) -> Result<SignedConfirmation, NodeError> {
        let route = match persistence {
            Persistence::Permanent => "/confirmation/permanent".to_owned(),
            Persistence::Deletable(object) => format!("/confirmation/deletable/{object}"),
        };
        let url = format!("{}?wait_for_registration=true&wait_millis={}", self.url(blob_id, &route), wait.as_millis());
        let (_, body) = self.send(self.http.get(url), self.timeouts.request + wait).await?;
        let signed = Self::data::<ConfirmationJson>(&body)?.signed;
        let decode = |field: &str, value: &str| {
            STANDARD.decode(value).map_err(|_| NodeError::Malformed(format!("confirmation {field} is not base64")))
        };
        Ok(SignedConfirmation {
            message: decode("message", &signed.serialized_message)?,
            signature: decode("signature", &signed.signature)?,
        })
    }
}

/// A reqwest error with its causes, which hold the useful part ("connection refused").
fn describe(error: &reqwest::Error) -> String {
    let mut text = if error.is_timeout() { "timed out".to_owned() } else { error.to_string() };
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
