//! Where checkpoints come from. Every source answers one question — "checkpoint N, if it
//! exists yet" — so following the tip, filling gaps and backfilling are the same loop.

use std::path::PathBuf;
use std::time::Duration;

use sui_rpc::field::FieldMaskUtil;
use sui_rpc::proto::sui::rpc::v2 as proto;

use crate::checkpoint::{Checkpoint, CheckpointSequence, DecodeError};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("reading {path}: {error}")]
    Io { path: PathBuf, error: std::io::Error },
    #[error("checkpoint {sequence} ({origin}): {error}")]
    Decode { sequence: u64, origin: String, error: DecodeError },
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
    "transactions.digest",
    "transactions.events",
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
            Self::Dir(dir) => {
                for (name, decode) in FORMATS {
                    let path = dir.join(format!("{sequence}.{name}"));
                    match tokio::fs::read(&path).await {
                        Ok(bytes) => {
                            let origin = path.display().to_string();
                            return decode(&bytes).map(Some).map_err(|error| SourceError::Decode {
                                sequence,
                                origin,
                                error,
                            });
                        }
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(error) => return Err(SourceError::Io { path, error }),
                    }
                }
                Ok(None)
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
                    let bytes = response.bytes().await?;
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

/// The full node's header naming the oldest checkpoint it still serves.
const LOWEST_AVAILABLE_HEADER: &str = "x-sui-lowest-available-checkpoint";

type Decoder = fn(&[u8]) -> Result<Checkpoint, DecodeError>;

/// File formats in order of preference.
const FORMATS: [(&str, Decoder); 2] = [("binpb.zst", Checkpoint::from_binpb_zst), ("chk", Checkpoint::from_chk)];
