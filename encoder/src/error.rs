//! The one error type of the library: every way input can be refused.

use crate::index::SliverPairIndex;

/// Why an encoding, decoding, verification or parse was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    #[error("n_shards must be at least {min} (got {got}): with fewer shards the code has no redundancy")]
    TooFewShards { got: u16, min: u16 },
    #[error("n_shards {got} is beyond the supported maximum of {max}")]
    TooManyShards { got: u16, max: u16 },
    #[error("the blob is too large: {len} bytes, but at most {max} bytes can be encoded with {n_shards} shards")]
    BlobTooLarge { len: u64, max: u64, n_shards: u16 },
    #[error("sliver index {index} is out of range for {n_shards} shards")]
    IndexOutOfRange { index: u16, n_shards: u16 },
    #[error("the sliver has {got} bytes of symbols, expected {expected}")]
    WrongSliverLength { got: usize, expected: usize },
    #[error("the sliver's symbol size is {got}, expected {expected}")]
    WrongSymbolSize { got: u16, expected: u16 },
    #[error("the sliver does not match the metadata hash of sliver pair {0}")]
    SliverHashMismatch(SliverPairIndex),
    #[error("the metadata lists {got} sliver pairs, expected one per shard ({expected})")]
    WrongHashCount { got: usize, expected: usize },
    #[error("the metadata does not hash to its blob ID (claimed {claimed}, computed {computed})")]
    BlobIdMismatch { claimed: String, computed: String },
    #[error("too few slivers to decode: {got} distinct valid {axis} slivers, {needed} needed")]
    NotEnoughSlivers { axis: &'static str, got: usize, needed: usize },
    #[error("decoding in place takes exactly {needed} distinct {axis} slivers, got {got}")]
    TooManySlivers { axis: &'static str, got: usize, needed: usize },
    #[error("too few recovery symbols: {got} distinct valid symbols, {needed} needed")]
    NotEnoughSymbols { got: usize, needed: usize },
    #[error("the output buffer has {got} bytes, but the blob has {expected}")]
    WrongOutputLength { got: usize, expected: u64 },
    #[error("the recovery symbol from sliver {source_index} has an invalid Merkle proof")]
    InvalidRecoveryProof { source_index: u16 },
    #[error("the decoded blob is inconsistent with the metadata")]
    InconsistentBlob,
    #[error("the proof's symbols decode to a sliver that matches the metadata: no inconsistency shown")]
    NoInconsistency,
    #[error("invalid encoding type {0}: only RS2 (1) is supported")]
    UnsupportedEncodingType(u8),
    #[error("invalid BCS: {0}")]
    Bcs(String),
    #[error("invalid blob ID {input:?}: {reason}")]
    InvalidBlobId { input: String, reason: &'static str },
}

impl From<bcs::Error> for Error {
    fn from(e: bcs::Error) -> Self {
        Error::Bcs(e.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
