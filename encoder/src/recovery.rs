//! Rebuilding a lost sliver from symbols other nodes send, and proving an encoding
//! inconsistent when the rebuilt sliver does not match the metadata.
//!
//! To rebuild primary sliver `i` a node collects `E[i][c]` from `ks` holders of secondary
//! slivers `c`; for secondary sliver `c` it collects `E[r][c]` from `kp` holders of primary
//! slivers `r`. Each symbol carries a Merkle proof against its source sliver's hash, so a
//! wrong symbol is caught before decoding; a decoding that still disagrees with the metadata
//! proves that the blob was encoded inconsistently.

use std::collections::BTreeMap;
use std::marker::PhantomData;

use serde::{Deserialize, Serialize};

use crate::axis::Axis;
use crate::error::{Error, Result};
use crate::index::SliverIndex;
use crate::merkle::MerkleProof;
use crate::metadata::VerifiedMetadata;
use crate::rs::Code;
use crate::sliver::Sliver;

/// A symbol for rebuilding a sliver of axis `B`, taken from sliver `source_index` of the other
/// axis. BCS: `{ index: u16, data: bytes }` then the proof `{ path: Vec<Node> }`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoverySymbol<B: Axis> {
    source_index: u16,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
    proof: MerkleProof,
    #[serde(skip)]
    _axis: PhantomData<B>,
}

impl<B: Axis> RecoverySymbol<B> {
    pub(crate) fn new(source_index: u16, data: Vec<u8>, proof: MerkleProof) -> Self {
        Self { source_index, data, proof, _axis: PhantomData }
    }

    pub fn source_index(&self) -> SliverIndex<B::Orthogonal> {
        SliverIndex::new(self.source_index)
    }

    pub fn data(&self) -> &[u8] {
        &self.data
    }

    pub fn to_bcs(&self) -> Vec<u8> {
        bcs::to_bytes(self).expect("recovery symbols always serialize")
    }

    pub fn from_bcs(bytes: &[u8]) -> Result<Self> {
        Ok(bcs::from_bytes(bytes)?)
    }

    /// Checks that this is the symbol at `target` of its source sliver as the metadata
    /// commits to it.
    pub fn verify(&self, metadata: &VerifiedMetadata, target: SliverIndex<B>) -> Result<()> {
        let n = metadata.n_shards();
        let source = self.source_index().check(n)?;
        target.check(n)?;
        let layout = metadata.layout();
        let invalid = Error::InvalidRecoveryProof { source_index: self.source_index };
        if self.data.len() != layout.s() {
            return Err(invalid);
        }
        let root = metadata.pair(source.pair(n)).hash::<B::Orthogonal>();
        if !self.proof.verify(root, &self.data, target.as_usize(), usize::from(n)) {
            return Err(invalid);
        }
        Ok(())
    }
}

/// A recovery symbol together with its target, for either axis: what storage nodes exchange
/// when the axis is not known from context. BCS: `{ symbol: enum { Primary(DecodingSymbol),
/// Secondary(DecodingSymbol) }, target_index: u16, proof }`, the variant naming the axis of the
/// sliver being recovered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GeneralRecoverySymbol {
    symbol: ByAxis,
    target_index: u16,
    proof: MerkleProof,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
enum ByAxis {
    Primary(DecodingSymbol),
    Secondary(DecodingSymbol),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct DecodingSymbol {
    index: u16,
    #[serde(with = "serde_bytes")]
    data: Vec<u8>,
}

impl<B: Axis> RecoverySymbol<B> {
    /// The general form, naming the sliver this symbol is for.
    pub fn into_general(self, target: SliverIndex<B>) -> GeneralRecoverySymbol {
        let symbol = DecodingSymbol { index: self.source_index, data: self.data };
        GeneralRecoverySymbol {
            symbol: if B::IS_PRIMARY { ByAxis::Primary(symbol) } else { ByAxis::Secondary(symbol) },
            target_index: target.get(),
            proof: self.proof,
        }
    }
}

impl GeneralRecoverySymbol {
    pub fn to_bcs(&self) -> Vec<u8> {
        bcs::to_bytes(self).expect("recovery symbols always serialize")
    }

    pub fn from_bcs(bytes: &[u8]) -> Result<Self> {
        Ok(bcs::from_bytes(bytes)?)
    }

    /// The symbol and its target, if it is for a sliver of axis `B`.
    pub fn for_axis<B: Axis>(self) -> Option<(SliverIndex<B>, RecoverySymbol<B>)> {
        let symbol = match (self.symbol, B::IS_PRIMARY) {
            (ByAxis::Primary(s), true) | (ByAxis::Secondary(s), false) => s,
            _ => return None,
        };
        Some((SliverIndex::new(self.target_index), RecoverySymbol::new(symbol.index, symbol.data, self.proof)))
    }
}

/// Why a sliver could not be recovered.
#[derive(Debug, thiserror::Error)]
pub enum RecoveryError<B: Axis> {
    #[error(transparent)]
    Invalid(#[from] Error),
    /// Authenticated symbols decode to a sliver the metadata does not commit to.
    #[error("the blob is inconsistently encoded: {} {} cannot be rebuilt to match its hash", B::NAME, .0.target_index)]
    Inconsistent(InconsistencyProof<B>),
}

/// Evidence that a blob's encoding is inconsistent: authenticated symbols for `target_index`
/// that decode to a sliver whose hash differs from the metadata. Anyone can re-check it.
/// The axis is only a marker, so (de)serializing needs no bound on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(bound = "")]
pub struct InconsistencyProof<B: Axis> {
    pub target_index: u16,
    pub recovery_symbols: Vec<RecoverySymbol<B>>,
}

/// Verifies the symbols, keeps the first valid one per source, and decodes the target
/// sliver's symbols. Returns the sliver and the symbols used.
fn decode_target<B: Axis>(
    metadata: &VerifiedMetadata,
    target: SliverIndex<B>,
    symbols: &[RecoverySymbol<B>],
) -> Result<(Sliver<B>, Vec<RecoverySymbol<B>>)> {
    let layout = metadata.layout();
    let code = Code::across::<B::Orthogonal>(&layout);
    let mut valid: BTreeMap<u16, &RecoverySymbol<B>> = BTreeMap::new();
    for symbol in symbols {
        if valid.len() == code.k {
            break;
        }
        if !valid.contains_key(&symbol.source_index) && symbol.verify(metadata, target).is_ok() {
            valid.insert(symbol.source_index, symbol);
        }
    }
    if valid.len() < code.k {
        return Err(Error::NotEnoughSymbols { got: valid.len(), needed: code.k });
    }
    let lines: Vec<(usize, &[u8])> = valid.values().map(|s| (usize::from(s.source_index), s.data.as_slice())).collect();
    let data = code.decode(1, &lines).lines().collect::<Vec<_>>().concat();
    let used = valid.into_values().cloned().collect();
    Ok((Sliver::new(target, layout.symbol_size(), data), used))
}

/// Rebuilds sliver `target` from recovery symbols sent by other nodes. Invalid and duplicate
/// symbols are skipped; the rebuilt sliver is checked against the metadata.
pub fn recover_sliver<B: Axis>(
    metadata: &VerifiedMetadata,
    target: SliverIndex<B>,
    symbols: &[RecoverySymbol<B>],
) -> Result<Sliver<B>, RecoveryError<B>> {
    let (sliver, used) = decode_target(metadata, target, symbols)?;
    match sliver.verify(metadata) {
        Ok(()) => Ok(sliver),
        Err(Error::SliverHashMismatch(_)) => {
            Err(RecoveryError::Inconsistent(InconsistencyProof { target_index: target.get(), recovery_symbols: used }))
        }
        Err(other) => Err(other.into()),
    }
}

/// Rebuilds slivers `targets` (of axis `B`) from symbols that carry no proofs, as a node's
/// decoding symbols come, accepting each rebuilt sliver only if it matches the metadata. The
/// fast path of blob sync: no proof is built or checked per symbol, yet a wrong symbol cannot
/// get through, it only makes a sliver fail its check (then [`recover_sliver`], with proofs,
/// tells a bad symbol from a bad encoding).
///
/// `sources` pairs a source sliver index (of the other axis) with its symbols for every
/// target, in the order of `targets`, so that one decoding serves all targets: they share the
/// positions of the missing symbols. Returns one outcome per target.
pub fn recover_slivers_unproven<B: Axis>(
    metadata: &VerifiedMetadata,
    targets: &[SliverIndex<B>],
    sources: &[(u16, &[u8])],
) -> Result<Vec<Result<Sliver<B>>>> {
    let layout = metadata.layout();
    let (n, s, width) = (layout.n_shards(), layout.s(), targets.len());
    for target in targets {
        target.check(n)?;
    }
    if width == 0 {
        return Ok(Vec::new());
    }
    let code = Code::across::<B::Orthogonal>(&layout);
    let mut lines: BTreeMap<u16, &[u8]> = BTreeMap::new();
    for &(source, data) in sources {
        if lines.len() == code.k {
            break;
        }
        if source < n && data.len() == width * s {
            lines.entry(source).or_insert(data);
        }
    }
    if lines.len() < code.k {
        return Err(Error::NotEnoughSymbols { got: lines.len(), needed: code.k });
    }
    let lines: Vec<(usize, &[u8])> = lines.into_iter().map(|(i, data)| (usize::from(i), data)).collect();
    let decoded = code.decode(width, &lines);
    let slivers: Vec<Sliver<B>> = targets
        .iter()
        .enumerate()
        .map(|(w, &target)| {
            let mut data = Vec::with_capacity(code.k * s);
            decoded.lines().for_each(|line| data.extend_from_slice(&line[w * s..(w + 1) * s]));
            Sliver::new(target, layout.symbol_size(), data)
        })
        .collect();
    let checks = Sliver::verify_all(&slivers, metadata);
    Ok(slivers.into_iter().zip(checks).map(|(sliver, check)| check.map(|()| sliver)).collect())
}

impl<B: Axis> InconsistencyProof<B> {
    /// Succeeds only if the proof shows the encoding to be inconsistent.
    pub fn verify(&self, metadata: &VerifiedMetadata) -> Result<()> {
        let target = SliverIndex::<B>::new(self.target_index);
        let (sliver, _) = decode_target(metadata, target, &self.recovery_symbols)?;
        match sliver.verify(metadata) {
            Err(Error::SliverHashMismatch(_)) => Ok(()),
            Err(other) => Err(other),
            Ok(()) => Err(Error::NoInconsistency),
        }
    }
}
