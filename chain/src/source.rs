//! Where checkpoints come from. Every source answers one question — "checkpoint N, if it
//! exists yet" — so following the tip, filling gaps and backfilling are the same loop.

use std::path::PathBuf;
use std::time::Duration;

use sui_rpc::field::FieldMaskUtil;
use sui_rpc::proto::sui::rpc::v2 as proto;

use sui_sdk_types::Digest;

use crate::checkpoint::{Checkpoint, CheckpointSequence, DecodeError, MAX_CHECKPOINT_BYTES};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("reading {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("checkpoint {sequence} ({origin}): {error}")]
    Decode { sequence: u64, origin: String, error: DecodeError },
    #[error("{origin} is {size} bytes, more than a checkpoint may be ({limit})")]
    TooLarge { origin: String, size: u64, limit: u64 },
    #[error("{first} and {second} are different checkpoints (digests {first_digest} and {second_digest})")]
    Conflict { first: PathBuf, second: PathBuf, first_digest: Digest, second_digest: Digest },
    #[error("HTTP {0}")]
    Http(#[from] reqwest::Error),
    #[error("HTTP {status} for {url}")]
    HttpStatus { status: reqwest::StatusCode, url: String },
    #[error("gRPC: {0}")]
    Grpc(#[from] tonic::Status),
    #[error("the full node returned checkpoint {got} for {wanted}")]
    WrongCheckpoint { wanted: u64, got: u64 },
    #[error(
        "the full node has pruned checkpoint {sequence} (its lowest is {lowest}): backfill from a checkpoint store"
    )]
    Pruned { sequence: u64, lowest: u64 },
}

/// What the indexer reads: parsed from `--source`.
#[derive(Clone)]
pub enum Source {
    /// A folder of `<sequence>.binpb.zst` or `<sequence>.chk` files, possibly still growing.
    Dir(PathBuf),
    /// A checkpoint store over HTTP(S) with the same file names.
    Http { base: String, client: reqwest::Client },
    /// A Sui full node's gRPC API.
    Grpc(sui_rpc::Client),
}

impl std::fmt::Debug for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dir(path) => write!(f, "dir:{}", path.display()),
            Self::Http { base, .. } => f.write_str(base),
            Self::Grpc(_) => f.write_str("gRPC full node"),
        }
    }
}

/// The parts of a checkpoint the indexer asks the full node for.
const READ_MASK: &[&str] = &[
    "sequence_number",
    "digest",
    "summary.previous_digest",
    "summary.timestamp",
    "summary.bcs",
    "signature",
    "contents.bcs",
    "transactions.digest",
    "transactions.effects.bcs",
    "transactions.events.bcs",
    "objects.objects.bcs",
];

impl Source {
    /// Parses `dir:PATH`, `http(s)://…` (a checkpoint store) or `grpc+http(s)://host:port`.
    pub fn parse(spec: &str) -> Result<Self, String> {
        if let Some(path) = spec.strip_prefix("dir:") {
            return Ok(Self::Dir(PathBuf::from(path)));
        }
        if let Some(uri) = spec.strip_prefix("grpc+") {
            let client = sui_rpc::Client::new(uri).map_err(|e| format!("invalid gRPC address {uri:?}: {e}"))?;
            return Ok(Self::Grpc(client));
        }
        if spec.starts_with("https://") || spec.starts_with("http://") {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
            return Ok(Self::Http { base: spec.trim_end_matches('/').to_owned(), client });
        }
        Err(format!("unknown source {spec:?}: expected dir:PATH, https://STORE or grpc+http://HOST:PORT"))
    }

    /// Checkpoint `sequence`, or `None` if the source does not have it (yet).
    pub async fn fetch(&self, sequence: CheckpointSequence) -> Result<Option<Checkpoint>, SourceError> {
        let CheckpointSequence(sequence) = sequence;
        match self {
            // Reading and decoding take tens of microseconds a checkpoint: on the blocking pool,
            // so a batch of them never holds a runtime worker (and the requests it serves).
            Self::Dir(dir) => {
                let dir = dir.clone();
                match tokio::task::spawn_blocking(move || read_from_dir(&dir, sequence)).await {
                    Ok(result) => result,
                    Err(error) => std::panic::resume_unwind(error.into_panic()),
                }
            }
            Self::Http { base, client } => {
                for (name, decode) in FORMATS {
                    let url = format!("{base}/{sequence}.{name}");
                    let response = client.get(&url).send().await?;
                    if response.status() == reqwest::StatusCode::NOT_FOUND {
                        continue;
                    }
                    if !response.status().is_success() {
                        return Err(SourceError::HttpStatus { status: response.status(), url });
                    }
                    let bytes = read_body(response, &url).await?;
                    return decode(&bytes).map(Some).map_err(|error| SourceError::Decode {
                        sequence,
                        origin: url,
                        error,
                    });
                }
                Ok(None)
            }
            Self::Grpc(client) => {
                let mut request = proto::GetCheckpointRequest::default();
                request.checkpoint_id = Some(proto::get_checkpoint_request::CheckpointId::SequenceNumber(sequence));
                request.read_mask = Some(sui_rpc::field::FieldMask::from_paths(READ_MASK));
                let response = match client.clone().ledger_client().get_checkpoint(request).await {
                    Ok(response) => response.into_inner(),
                    Err(status) if status.code() == tonic::Code::NotFound => {
                        // Not executed yet, or pruned long ago: the node's headers tell which.
                        let lowest = status
                            .metadata()
                            .get(LOWEST_AVAILABLE_HEADER)
                            .and_then(|v| v.to_str().ok())
                            .and_then(|v| v.parse::<u64>().ok());
                        return match lowest {
                            Some(lowest) if sequence < lowest => Err(SourceError::Pruned { sequence, lowest }),
                            _ => Ok(None),
                        };
                    }
                    Err(status) => return Err(status.into()),
                };
                let Some(message) = response.checkpoint else { return Ok(None) };
                let checkpoint = Checkpoint::from_proto(&message).map_err(|error| SourceError::Decode {
                    sequence,
                    origin: "gRPC".into(),
                    error,
                })?;
                if checkpoint.sequence_number.0 != sequence {
                    return Err(SourceError::WrongCheckpoint { wanted: sequence, got: checkpoint.sequence_number.0 });
                }
                Ok(Some(checkpoint))
            }
        }
    }
}

/// Checkpoint `sequence` from a folder. Both formats are read: two files for one number must
/// be the same checkpoint.
fn read_from_dir(dir: &std::path::Path, sequence: u64) -> Result<Option<Checkpoint>, SourceError> {
    let mut found: Option<(PathBuf, Checkpoint)> = None;
    for (name, decode) in FORMATS {
        let path = dir.join(format!("{sequence}.{name}"));
        let Some(bytes) = read_file(&path)? else { continue };
        let origin = path.display().to_string();
        let checkpoint = decode(&bytes).map_err(|error| SourceError::Decode { sequence, origin, error })?;
        match &found {
            Some((first, earlier)) if earlier.digest != checkpoint.digest => {
                return Err(SourceError::Conflict {
                    first: first.clone(),
                    second: path,
                    first_digest: earlier.digest,
                    second_digest: checkpoint.digest,
                });
            }
            Some(_) => {}
            None => found = Some((path, checkpoint)),
        }
    }
    Ok(found.map(|(_, checkpoint)| checkpoint))
}

/// The file's bytes, `None` if it does not exist; a file too large to be a checkpoint is refused
/// before it is read.
fn read_file(path: &std::path::Path) -> Result<Option<Vec<u8>>, SourceError> {
    let io = |error| SourceError::Io { path: path.to_owned(), error };
    let size = match std::fs::metadata(path) {
        Ok(metadata) => metadata.len(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => return Err(io(error)),
    };
    if size > MAX_CHECKPOINT_BYTES {
        return Err(SourceError::TooLarge { origin: path.display().to_string(), size, limit: MAX_CHECKPOINT_BYTES });
    }
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        // Removed between the two calls: as if never there.
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(io(error)),
    }
}

/// An HTTP body of at most [`MAX_CHECKPOINT_BYTES`], refused as soon as it is known to be larger.
async fn read_body(mut response: reqwest::Response, url: &str) -> Result<Vec<u8>, SourceError> {
    let too_large = |size| SourceError::TooLarge { origin: url.to_owned(), size, limit: MAX_CHECKPOINT_BYTES };
    if let Some(size) = response.content_length().filter(|&size| size > MAX_CHECKPOINT_BYTES) {
        return Err(too_large(size));
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        body.extend_from_slice(&chunk);
        if body.len() as u64 > MAX_CHECKPOINT_BYTES {
            return Err(too_large(body.len() as u64));
        }
    }
    Ok(body)
}

/// The full node's header naming the oldest checkpoint it still serves.
const LOWEST_AVAILABLE_HEADER: &str = "x-sui-lowest-available-checkpoint";

type Decoder = fn(&[u8]) -> Result<Checkpoint, DecodeError>;

/// File formats in order of preference.
const FORMATS: [(&str, Decoder); 2] = [("binpb.zst", Checkpoint::from_binpb_zst), ("chk", Checkpoint::from_chk)];
