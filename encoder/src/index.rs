//! Indices that must never be mixed up: shards, sliver pairs and slivers of each axis.

use std::fmt;
use std::marker::PhantomData;

use crate::axis::{Axis, Primary, Secondary};
use crate::error::{Error, Result};

/// A shard of the committee. Shards hold sliver pairs, rotated by the blob ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct ShardIndex(pub u16);

/// A sliver pair: primary sliver `p` together with secondary sliver `n-1-p`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
pub struct SliverPairIndex(pub u16);

/// The index of a sliver of axis `A`: its row (primary) or column (secondary) in the
/// expanded matrix. This is what serialized slivers carry.
pub struct SliverIndex<A: Axis>(u16, PhantomData<A>);

impl<A: Axis> SliverIndex<A> {
    pub const fn new(index: u16) -> Self {
        Self(index, PhantomData)
    }

    pub fn get(self) -> u16 {
        self.0
    }

    pub(crate) fn as_usize(self) -> usize {
        usize::from(self.0)
    }

    pub fn check(self, n_shards: u16) -> Result<Self> {
        if self.0 < n_shards {
            Ok(self)
        } else {
            Err(Error::IndexOutOfRange { index: self.0, n_shards })
        }
    }

    /// The sliver pair this sliver belongs to.
    pub fn pair(self, n_shards: u16) -> SliverPairIndex {
        if A::IS_PRIMARY {
            SliverPairIndex(self.0)
        } else {
            SliverPairIndex(n_shards - 1 - self.0)
        }
    }
}

impl SliverPairIndex {
    pub fn primary(self) -> SliverIndex<Primary> {
        SliverIndex::new(self.0)
    }

    pub fn secondary(self, n_shards: u16) -> SliverIndex<Secondary> {
        SliverIndex::new(n_shards - 1 - self.0)
    }

    pub fn sliver<A: Axis>(self, n_shards: u16) -> SliverIndex<A> {
        if A::IS_PRIMARY {
            SliverIndex::new(self.0)
        } else {
            SliverIndex::new(n_shards - 1 - self.0)
        }
    }
}

/// How a blob's sliver pairs are laid onto shards: pair `p` goes to shard `(p + offset) mod n`,
/// where `offset` is the blob ID as a big-endian integer, mod `n`. Spreading pairs this way
/// keeps the systematic (cheap-to-read) slivers of different blobs on different shards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardRotation {
    offset: u16,
    n_shards: u16,
}

impl ShardRotation {
    pub fn new(blob_id: &crate::BlobId, n_shards: u16) -> Self {
        let n = u32::from(n_shards);
        let offset = blob_id.0.iter().fold(0u32, |acc, &b| (acc * 256 + u32::from(b)) % n);
        Self { offset: offset as u16, n_shards }
    }

    pub fn offset(&self) -> u16 {
        self.offset
    }

    pub fn shard_of(&self, pair: SliverPairIndex) -> ShardIndex {
        let n = u32::from(self.n_shards);
        ShardIndex(((u32::from(pair.0) + u32::from(self.offset)) % n) as u16)
    }

    pub fn pair_on(&self, shard: ShardIndex) -> SliverPairIndex {
        let n = u32::from(self.n_shards);
        SliverPairIndex(((u32::from(shard.0) + n - u32::from(self.offset)) % n) as u16)
    }
}

// Manual impls: derives would demand `A: Clone` etc. of the marker.
impl<A: Axis> Clone for SliverIndex<A> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<A: Axis> Copy for SliverIndex<A> {}
impl<A: Axis> PartialEq for SliverIndex<A> {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}
impl<A: Axis> Eq for SliverIndex<A> {}
impl<A: Axis> std::hash::Hash for SliverIndex<A> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state)
    }
}
impl<A: Axis> PartialOrd for SliverIndex<A> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl<A: Axis> Ord for SliverIndex<A> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.cmp(&other.0)
    }
}
impl<A: Axis> fmt::Debug for SliverIndex<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}Sliver({})", A::NAME, self.0)
    }
}
impl<A: Axis> fmt::Display for SliverIndex<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} sliver {}", A::NAME, self.0)
    }
}
impl fmt::Display for SliverPairIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}
impl fmt::Display for ShardIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pairs_join_primary_p_with_secondary_n_minus_1_minus_p() {
        let pair = SliverPairIndex(3);
        assert_eq!(pair.primary().get(), 3);
        assert_eq!(pair.secondary(10).get(), 6);
        assert_eq!(pair.secondary(10).pair(10), pair);
        assert_eq!(pair.primary().pair(10), pair);
    }

    #[test]
    fn rotation_round_trips() {
        let mut id = [0u8; 32];
        id[31] = 7;
        id[30] = 1; // 263 big-endian
        let rot = ShardRotation::new(&crate::BlobId(id), 10);
        assert_eq!(rot.offset(), 3);
        for p in 0..10 {
            let shard = rot.shard_of(SliverPairIndex(p));
            assert_eq!(shard.0, (p + 3) % 10);
            assert_eq!(rot.pair_on(shard), SliverPairIndex(p));
        }
    }
}
