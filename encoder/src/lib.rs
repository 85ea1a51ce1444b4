//! Walrus RS2 ("RedStuff") erasure coding, byte-for-byte compatible with Walrus.
//!
//! A blob becomes a `kp × ks` matrix of symbols, Reed–Solomon-extended along both axes to an
//! `n × n` matrix whose rows are *primary* and columns *secondary* slivers. Every sliver is
//! committed to by the Merkle root over its full row or column; the root over all those hashes
//! and the blob length give the blob ID. Any `kp` primary or `ks` secondary slivers rebuild the
//! blob, and a lost sliver is rebuilt from single symbols of the other axis.
//!
//! Data flows one way: bytes → [`encode`] (matrix → slivers → hashes → [`BlobId`]) →
//! [`Sliver::verify`] → [`decode()`] / [`recover_sliver`].

mod axis;
mod batch;
mod blob_id;
mod cpu;
mod decode;
mod encode;
mod error;
pub mod hash;
mod index;
pub mod merkle;
mod metadata;
mod params;
mod recovery;
mod rs;
mod scratch;
mod sliver;

pub use axis::{Axis, Primary, Secondary};
pub use blob_id::BlobId;
pub use decode::{
    check_consistency, decode, decode_in_place, decode_in_place_alongside, decode_into, decode_unchecked,
    ConsistencyCheck, Inputs,
};
pub use encode::{compute_metadata, encode, BlobEncoder, EncodedBlob, FileEncoder, Progress, SliverSink};
pub use error::{Error, Result};
pub use index::{ShardIndex, ShardRotation, SliverIndex, SliverPairIndex};
pub use metadata::{
    BlobMetadata, BlobMetadataV1, BlobMetadataWithId, EncodingType, SliverPairMetadata, VerifiedMetadata,
};
pub use params::{BlobLayout, EncodingParams, MAX_SHARDS, MAX_SYMBOL_SIZE, MIN_SHARDS};
pub use recovery::{
    recover_sliver, recover_slivers_unproven, GeneralRecoverySymbol, InconsistencyProof, RecoveryError, RecoverySymbol,
};
pub use sliver::{Sliver, SliverPair};
