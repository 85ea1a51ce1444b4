//! Slivers: the rows (primary) and columns (secondary) of the expanded matrix that storage
//! nodes hold, with their BCS form and their verification against the metadata.

use std::borrow::Cow;
use std::num::NonZeroU16;

use bytes::{Bytes, BytesMut};
use serde::{Deserialize, Serialize};

use crate::axis::Axis;
use crate::error::{Error, Result};
use crate::hash::{leaf_hashes_of_lines, Digest};
use crate::index::SliverIndex;
use crate::merkle::{root_of_leaf_hashes, MerkleTree, Node};
use crate::metadata::VerifiedMetadata;
use crate::params::BlobLayout;
use crate::recovery::RecoverySymbol;
use crate::rs::Code;

thread_local! {
    /// The recovery symbols of the last sliver this thread verified, a buffer kept for the
    /// next: the expansion of a large sliver is hundreds of kB, which fresh would cost a
    /// memset and page faults per sliver, while the encoder overwrites every byte anyway.
    static RECOVERY: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// A sliver of axis `A`: its symbols, their size and its index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sliver<A: Axis> {
    /// Shared, so slivers cut from one encoding buffer need no copies of their own.
    data: Bytes,
    symbol_size: NonZeroU16,
    index: SliverIndex<A>,
}

/// The BCS form: `{ symbols: { data, symbol_size }, index }`, no axis tag.
#[derive(Serialize, Deserialize)]
struct SliverWire<'a> {
    #[serde(with = "serde_bytes", borrow)]
    data: Cow<'a, [u8]>,
    symbol_size: NonZeroU16,
    index: u16,
}

impl<A: Axis> Sliver<A> {
    pub(crate) fn new(index: SliverIndex<A>, symbol_size: u16, data: impl Into<Bytes>) -> Self {
        let symbol_size = NonZeroU16::new(symbol_size).expect("symbol sizes are at least 2");
        Self { data: data.into(), symbol_size, index }
    }

    pub fn index(&self) -> SliverIndex<A> {
        self.index
    }

    pub fn symbol_size(&self) -> u16 {
        self.symbol_size.get()
    }

    /// The symbols, concatenated.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The symbols as shared bytes, to hand on without a copy.
    pub fn bytes(&self) -> &Bytes {
        &self.data
    }

    /// The symbols as a buffer to write into, such as [`crate::decode_in_place`] needs: the
    /// sliver's own when nothing else shares it (no copy), else a copy.
    pub fn into_symbols_mut(self) -> BytesMut {
        self.data.try_into_mut().unwrap_or_else(|shared| BytesMut::from(&shared[..]))
    }

    pub fn to_bcs(&self) -> Vec<u8> {
        let wire =
            SliverWire { data: Cow::Borrowed(&self.data), symbol_size: self.symbol_size, index: self.index.get() };
        bcs::to_bytes(&wire).expect("slivers always serialize")
    }

    /// The BCS bytes around a sliver's symbols, for writing a sliver in pieces: the length
    /// prefix, and the `symbol_size` and `index` fields that follow the symbols.
    pub fn bcs_frame(data_len: usize, symbol_size: u16, index: SliverIndex<A>) -> (Vec<u8>, [u8; 4]) {
        let mut prefix = Vec::with_capacity(5);
        let mut len = data_len;
        loop {
            let byte = (len & 0x7f) as u8;
            len >>= 7;
            if len == 0 {
                prefix.push(byte);
                break;
            }
            prefix.push(byte | 0x80);
        }
        let [s0, s1] = symbol_size.to_le_bytes();
        let [i0, i1] = index.get().to_le_bytes();
        (prefix, [s0, s1, i0, i1])
    }

    /// Parses a sliver; the bytes carry no axis, so the caller states it.
    pub fn from_bcs(bytes: &[u8]) -> Result<Self> {
        let wire: SliverWire = bcs::from_bytes(bytes)?;
        Ok(Self {
            data: wire.data.into_owned().into(),
            symbol_size: wire.symbol_size,
            index: SliverIndex::new(wire.index),
        })
    }

    /// Checks the index, length and symbol size against the layout.
    fn check_shape(&self, layout: &BlobLayout) -> Result<()> {
        self.index.check(layout.n_shards())?;
        if self.symbol_size() != layout.symbol_size() {
            return Err(Error::WrongSymbolSize { got: self.symbol_size(), expected: layout.symbol_size() });
        }
        let expected = layout.sliver_length::<A>();
        if self.data.len() != expected {
            return Err(Error::WrongSliverLength { got: self.data.len(), expected });
        }
        Ok(())
    }

    /// Writes into `recovery` (every byte) the symbols that expand this sliver to its whole row
    /// or column of the expanded matrix (those past its own): hashed where they lie, after the
    /// sliver's own symbols, with no copy of the sliver into a buffer of the expansion.
    fn encode_recovery(&self, layout: &BlobLayout, recovery: &mut [u8]) {
        let s = layout.s();
        let code = Code::across::<A::Orthogonal>(layout);
        let mut lines: Vec<&mut [u8]> = recovery.chunks_exact_mut(s).collect();
        code.encode_into(1, |j, _| &self.data[j * s..(j + 1) * s], &mut lines);
    }

    fn recovery_len(layout: &BlobLayout) -> usize {
        let code = Code::across::<A::Orthogonal>(layout);
        (code.n - code.k) * layout.s()
    }

    /// The leaf hashes of the whole expansion: the sliver's symbols, then `recovery`.
    fn leaf_hashes(&self, layout: &BlobLayout, recovery: &[u8]) -> Vec<Digest> {
        let mut leaves = vec![[0; 32]; usize::from(layout.n_shards())];
        leaf_hashes_of_lines(&[&self.data, recovery], layout.s(), &mut leaves);
        leaves
    }

    /// The recovery symbols and the leaf hashes of the whole expansion.
    fn expanded_leaf_hashes(&self, layout: &BlobLayout) -> (Vec<u8>, Vec<Digest>) {
        let mut recovery = vec![0; Self::recovery_len(layout)];
        self.encode_recovery(layout, &mut recovery);
        let leaves = self.leaf_hashes(layout, &recovery);
        (recovery, leaves)
    }

    /// The Merkle root over the sliver's expansion: what the metadata records for it.
    pub fn compute_hash(&self, layout: &BlobLayout) -> Result<Node> {
        self.check_shape(layout)?;
        let leaves = RECOVERY.with_borrow_mut(|buffer| {
            let len = Self::recovery_len(layout);
            if buffer.len() < len {
                buffer.resize(len, 0);
            }
            self.encode_recovery(layout, &mut buffer[..len]);
            self.leaf_hashes(layout, &buffer[..len])
        });
        Ok(root_of_leaf_hashes(leaves))
    }

    /// Verifies the sliver against the metadata of its blob.
    pub fn verify(&self, metadata: &VerifiedMetadata) -> Result<()> {
        let layout = metadata.layout();
        let hash = self.compute_hash(&layout)?;
        let pair = self.index.pair(layout.n_shards());
        if hash != *metadata.pair(pair).hash::<A>() {
            return Err(Error::SliverHashMismatch(pair));
        }
        Ok(())
    }

    /// Verifies many slivers against the metadata of their blob, expanded together in one
    /// encoding; one outcome each, as [`Sliver::verify`] gives.
    pub fn verify_all(slivers: &[Self], metadata: &VerifiedMetadata) -> Vec<Result<()>> {
        let layout = metadata.layout();
        let shapes: Vec<Result<()>> = slivers.iter().map(|sliver| sliver.check_shape(&layout)).collect();
        if shapes.iter().any(Result::is_err) {
            return slivers.iter().map(|sliver| sliver.verify(metadata)).collect();
        }
        let lines: Vec<_> = slivers.iter().map(|sliver| (sliver.index, &sliver.data[..])).collect();
        lines_match(&lines, metadata)
            .into_iter()
            .zip(slivers)
            .map(
                |(ok, sliver)| {
                    if ok {
                        Ok(())
                    } else {
                        Err(Error::SliverHashMismatch(sliver.index.pair(layout.n_shards())))
                    }
                },
            )
            .collect()
    }

    /// Parses a sliver from its BCS bytes, keeping the symbols where they lie (no copy).
    pub fn from_bcs_bytes(bytes: Bytes) -> Result<Self> {
        let wire: SliverWire = bcs::from_bytes(&bytes)?;
        let data = match wire.data {
            Cow::Borrowed(data) => bytes.slice_ref(data),
            Cow::Owned(data) => data.into(),
        };
        Ok(Self { data, symbol_size: wire.symbol_size, index: SliverIndex::new(wire.index) })
    }

    /// The symbols each of `slivers` contributes to rebuilding each of `targets` (slivers of
    /// the other axis), without proofs: what a node serves as decoding symbols. The slivers are
    /// expanded together, in one encoding. One line per sliver: its symbols for all targets,
    /// in target order, each `symbol_size` bytes (one buffer a sliver, not one a symbol).
    pub fn decoding_symbol_lines(
        slivers: &[Self],
        targets: &[SliverIndex<A::Orthogonal>],
        layout: &BlobLayout,
    ) -> Result<Vec<Vec<u8>>> {
        for sliver in slivers {
            sliver.check_shape(layout)?;
        }
        for target in targets {
            target.check(layout.n_shards())?;
        }
        if slivers.is_empty() {
            return Ok(Vec::new());
        }
        let s = layout.s();
        let code = Code::across::<A::Orthogonal>(layout);
        // Only the targets' recovery positions are unpacked.
        let mut recovery = vec![Vec::new(); code.n - code.k];
        for t in targets.iter().filter_map(|t| t.as_usize().checked_sub(code.k)) {
            recovery[t] = vec![0; slivers.len() * s];
        }
        code.encode_into(slivers.len(), |j, w| &slivers[w].data[j * s..(j + 1) * s], &mut recovery);
        let symbol = |w: usize, t: usize| match t.checked_sub(code.k) {
            None => &slivers[w].data[t * s..(t + 1) * s],
            Some(r) => &recovery[r][w * s..(w + 1) * s],
        };
        Ok((0..slivers.len())
            .map(|w| {
                let mut line = Vec::with_capacity(targets.len() * s);
                targets.iter().for_each(|t| line.extend_from_slice(symbol(w, t.as_usize())));
                line
            })
            .collect())
    }

    /// The symbol this sliver contributes to rebuilding sliver `target` of the other axis:
    /// the crossing point of the two in the expanded matrix, with its Merkle proof against
    /// this sliver's hash.
    pub fn recovery_symbol(
        &self,
        target: SliverIndex<A::Orthogonal>,
        layout: &BlobLayout,
    ) -> Result<RecoverySymbol<A::Orthogonal>> {
        self.check_shape(layout)?;
        let target = target.check(layout.n_shards())?;
        let s = layout.s();
        let (recovery, leaves) = self.expanded_leaf_hashes(layout);
        let proof = MerkleTree::from_leaf_hashes(leaves).proof(target.as_usize()).expect("target checked");
        let t = target.as_usize();
        let k = self.data.len() / s;
        let data = match t.checked_sub(k) {
            None => self.data[t * s..(t + 1) * s].to_vec(),
            Some(r) => recovery[r * s..(r + 1) * s].to_vec(),
        };
        Ok(RecoverySymbol::new(self.index.get(), data, proof))
    }
}

/// Whether each line (the symbols of sliver `index`, of the layout's length for axis `A`)
/// expands to the hash the metadata records for that sliver. The lines are expanded together,
/// in one encoding, and their leaves hashed in place.
pub(crate) fn lines_match<A: Axis>(lines: &[(SliverIndex<A>, &[u8])], metadata: &VerifiedMetadata) -> Vec<bool> {
    if lines.is_empty() {
        return Vec::new();
    }
    let layout = metadata.layout();
    let (s, n) = (layout.s(), usize::from(layout.n_shards()));
    let code = Code::across::<A::Orthogonal>(&layout);
    let recovery = code.encode(lines.len(), |j, w| &lines[w].1[j * s..(j + 1) * s]);
    let mut leaves = vec![[0; 32]; n];
    lines
        .iter()
        .enumerate()
        .map(|(w, (index, data))| {
            let parts: Vec<&[u8]> =
                std::iter::once(*data).chain(recovery.iter().map(|r| &r[w * s..(w + 1) * s])).collect();
            leaf_hashes_of_lines(&parts, s, &mut leaves);
            root_of_leaf_hashes(leaves.clone()) == *metadata.pair(index.pair(layout.n_shards())).hash::<A>()
        })
        .collect()
}

/// The two slivers a shard stores for one blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SliverPair {
    pub primary: Sliver<crate::Primary>,
    pub secondary: Sliver<crate::Secondary>,
}

impl SliverPair {
    pub fn index(&self) -> crate::SliverPairIndex {
        crate::SliverPairIndex(self.primary.index().get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Primary;

    #[test]
    fn frame_matches_bcs() {
        for len in [0, 1, 127, 128, 16383, 16384, 2_000_000] {
            let sliver = Sliver::<Primary>::new(SliverIndex::new(513), 2, vec![7u8; len]);
            let bcs = sliver.to_bcs();
            let (prefix, suffix) = Sliver::bcs_frame(len, 2, SliverIndex::<Primary>::new(513));
            assert_eq!(bcs[..prefix.len()], prefix[..]);
            assert_eq!(bcs[bcs.len() - 4..], suffix[..]);
            assert_eq!(bcs.len(), prefix.len() + len + 4);
            assert_eq!(Sliver::<Primary>::from_bcs(&bcs).unwrap(), sliver);
        }
    }

    #[test]
    fn malformed_bcs_is_an_error() {
        let sliver = Sliver::<Primary>::new(SliverIndex::new(1), 2, vec![1, 2, 3, 4]);
        let bcs = sliver.to_bcs();
        assert!(Sliver::<Primary>::from_bcs(&bcs[..bcs.len() - 1]).is_err());
        assert!(Sliver::<Primary>::from_bcs(&[bcs.as_slice(), &[0]].concat()).is_err());
        let mut zero_symbol = bcs.clone();
        let at = zero_symbol.len() - 4;
        zero_symbol[at..at + 2].copy_from_slice(&[0, 0]);
        assert!(Sliver::<Primary>::from_bcs(&zero_symbol).is_err());
    }
}
