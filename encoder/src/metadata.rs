//! Blob metadata: one hash per sliver, per pair; the root over them names the blob.
//!
//! BCS layouts are byte-identical to Walrus's `BlobMetadataWithId`, which storage nodes exchange.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::axis::Axis;
use crate::blob_id::BlobId;
use crate::error::{Error, Result};
use crate::hash::{leaf_hashes, Digest};
use crate::index::{ShardRotation, SliverPairIndex};
use crate::merkle::{root_of_leaf_hashes, Node};
use crate::params::{BlobLayout, EncodingParams};

/// The erasure code. Variant 0 was Walrus's retired RaptorQ code and is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum EncodingType {
    RS2 = 1,
}

// BCS writes an enum variant index as ULEB128, which for 1 is the single byte 0x01.
impl Serialize for EncodingType {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        (*self as u8).serialize(s)
    }
}

impl<'de> Deserialize<'de> for EncodingType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        match u8::deserialize(d)? {
            1 => Ok(EncodingType::RS2),
            other => Err(serde::de::Error::custom(Error::UnsupportedEncodingType(other))),
        }
    }
}

/// The hashes of the two slivers of one pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SliverPairMetadata {
    pub primary_hash: Node,
    pub secondary_hash: Node,
}

impl SliverPairMetadata {
    pub fn hash<A: Axis>(&self) -> &Node {
        if A::IS_PRIMARY {
            &self.primary_hash
        } else {
            &self.secondary_hash
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobMetadataV1 {
    pub encoding_type: EncodingType,
    pub unencoded_length: u64,
    pub hashes: Vec<SliverPairMetadata>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlobMetadata {
    V1(BlobMetadataV1),
}

impl BlobMetadata {
    pub fn v1(&self) -> &BlobMetadataV1 {
        match self {
            BlobMetadata::V1(v1) => v1,
        }
    }

    pub fn unencoded_length(&self) -> u64 {
        self.v1().unencoded_length
    }

    pub fn hashes(&self) -> &[SliverPairMetadata] {
        &self.v1().hashes
    }

    /// The committee size the metadata was made for: one hash pair per shard.
    pub fn n_shards(&self) -> Result<u16> {
        let n = self.hashes().len();
        let n = u16::try_from(n).map_err(|_| Error::WrongHashCount { got: n, expected: usize::from(u16::MAX) })?;
        EncodingParams::new(n).map(|p| p.n_shards())
    }

    /// Layout of the blob, checking that the hash count and length are encodable.
    pub fn layout(&self) -> Result<BlobLayout> {
        EncodingParams::new(self.n_shards()?)?.for_blob(self.unencoded_length())
    }

    /// The Merkle root over `primary_hash(p) || secondary_hash(p)` for every pair `p`.
    pub fn root_hash(&self) -> Node {
        let leaves: Vec<u8> = self
            .hashes()
            .iter()
            .flat_map(|pair| pair.primary_hash.bytes().into_iter().chain(pair.secondary_hash.bytes()))
            .collect();
        let mut hashes: Vec<Digest> = vec![[0; 32]; self.hashes().len()];
        leaf_hashes(&leaves, 64, &mut hashes);
        root_of_leaf_hashes(hashes)
    }

    pub fn compute_blob_id(&self) -> BlobId {
        BlobId::from_root(self.v1().encoding_type, self.unencoded_length(), &self.root_hash())
    }

    pub fn pair(&self, index: SliverPairIndex) -> Option<&SliverPairMetadata> {
        self.hashes().get(usize::from(index.0))
    }
}

/// Metadata together with the blob ID it claims; what a storage node stores and serves.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobMetadataWithId {
    pub blob_id: BlobId,
    pub metadata: BlobMetadata,
}

/// Metadata whose blob ID has been recomputed and whose parameters are encodable: the only
/// form verification and decoding accept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedMetadata {
    inner: BlobMetadataWithId,
    layout: BlobLayout,
}

impl BlobMetadataWithId {
    pub fn to_bcs(&self) -> Vec<u8> {
        bcs::to_bytes(self).expect("metadata always serializes")
    }

    pub fn from_bcs(bytes: &[u8]) -> Result<Self> {
        Ok(bcs::from_bytes(bytes)?)
    }

    /// Checks the hash count, the length limit, and that the metadata hashes to its blob ID.
    pub fn verify(self) -> Result<VerifiedMetadata> {
        let layout = self.metadata.layout()?;
        let computed = self.metadata.compute_blob_id();
        if computed != self.blob_id {
            return Err(Error::BlobIdMismatch { claimed: self.blob_id.to_string(), computed: computed.to_string() });
        }
        Ok(VerifiedMetadata { inner: self, layout })
    }
}

impl VerifiedMetadata {
    /// For metadata this library computed itself.
    pub(crate) fn new_unchecked(inner: BlobMetadataWithId, layout: BlobLayout) -> Self {
        Self { inner, layout }
    }

    pub fn blob_id(&self) -> BlobId {
        self.inner.blob_id
    }

    pub fn metadata(&self) -> &BlobMetadata {
        &self.inner.metadata
    }

    pub fn layout(&self) -> BlobLayout {
        self.layout
    }

    pub fn n_shards(&self) -> u16 {
        self.layout.n_shards()
    }

    pub fn rotation(&self) -> ShardRotation {
        ShardRotation::new(&self.inner.blob_id, self.n_shards())
    }

    pub fn pair(&self, index: SliverPairIndex) -> &SliverPairMetadata {
        &self.inner.metadata.hashes()[usize::from(index.0)]
    }

    pub fn as_metadata_with_id(&self) -> &BlobMetadataWithId {
        &self.inner
    }

    pub fn into_inner(self) -> BlobMetadataWithId {
        self.inner
    }
}
