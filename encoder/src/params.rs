//! Code parameters: what the committee's shard count fixes, and what a blob's length adds.

use crate::axis::{Axis, Secondary};
use crate::error::{Error, Result};

/// Symbols are pairs of bytes (GF(2^16) elements), so symbol sizes are even.
pub const SYMBOL_ALIGNMENT: u16 = 2;
/// The largest symbol size; `u16::MAX` itself is odd and never reached.
pub const MAX_SYMBOL_SIZE: u16 = u16::MAX - 1;
/// Below four shards `f = 0`: there would be no recovery symbols at all.
pub const MIN_SHARDS: u16 = 4;
/// The largest `n` for which reed-solomon-simd supports the primary code
/// (`min(P(kp), P(2f)) + 2f <= 65536`).
pub const MAX_SHARDS: u16 = 49155;

/// Parameters fixed by the number of shards `n`: `f = (n-1)/3`, `kp = n-2f`, `ks = n-f`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EncodingParams {
    n_shards: u16,
}

impl EncodingParams {
    pub fn new(n_shards: u16) -> Result<Self> {
        if n_shards < MIN_SHARDS {
            return Err(Error::TooFewShards { got: n_shards, min: MIN_SHARDS });
        }
        if n_shards > MAX_SHARDS {
            return Err(Error::TooManyShards { got: n_shards, max: MAX_SHARDS });
        }
        Ok(Self { n_shards })
    }

    pub fn n_shards(&self) -> u16 {
        self.n_shards
    }

    /// The number of Byzantine shards tolerated.
    pub fn f(&self) -> u16 {
        (self.n_shards - 1) / 3
    }

    /// Rows of the message matrix; symbols in a secondary sliver; primary slivers to decode.
    pub fn primary_source_symbols(&self) -> u16 {
        self.n_shards - 2 * self.f()
    }

    /// Columns of the message matrix; symbols in a primary sliver; secondary slivers to decode.
    pub fn secondary_source_symbols(&self) -> u16 {
        self.n_shards - self.f()
    }

    /// Source symbols of the code along axis `A`: slivers of axis `A` needed to decode.
    pub fn source_symbols<A: Axis>(&self) -> u16 {
        if A::IS_PRIMARY {
            self.primary_source_symbols()
        } else {
            self.secondary_source_symbols()
        }
    }

    /// Symbols in one sliver of axis `A` (the other axis's source count).
    pub fn sliver_symbols<A: Axis>(&self) -> u16 {
        self.source_symbols::<A::Orthogonal>()
    }

    /// Source symbols of the whole blob, `kp * ks`.
    pub fn total_source_symbols(&self) -> u64 {
        u64::from(self.primary_source_symbols()) * u64::from(self.secondary_source_symbols())
    }

    pub fn max_blob_size(&self) -> u64 {
        self.total_source_symbols() * u64::from(MAX_SYMBOL_SIZE)
    }

    /// Fixes the blob length, deriving the symbol size.
    pub fn for_blob(self, unencoded_length: u64) -> Result<BlobLayout> {
        let k = self.total_source_symbols();
        let s = unencoded_length.max(1).div_ceil(k);
        let s = s + s % u64::from(SYMBOL_ALIGNMENT);
        if s > u64::from(MAX_SYMBOL_SIZE) {
            return Err(Error::BlobTooLarge {
                len: unencoded_length,
                max: self.max_blob_size(),
                n_shards: self.n_shards,
            });
        }
        Ok(BlobLayout { params: self, unencoded_length, symbol_size: s as u16 })
    }

    /// The nominal metadata size used in storage accounting (not the BCS length).
    pub fn metadata_length(&self) -> u64 {
        64 * u64::from(self.n_shards) + 32
    }
}

/// Everything that sizes a blob's encoding: the code parameters, its length and symbol size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlobLayout {
    params: EncodingParams,
    unencoded_length: u64,
    symbol_size: u16,
}

impl BlobLayout {
    pub fn params(&self) -> EncodingParams {
        self.params
    }

    pub fn n_shards(&self) -> u16 {
        self.params.n_shards
    }

    pub fn unencoded_length(&self) -> u64 {
        self.unencoded_length
    }

    pub fn symbol_size(&self) -> u16 {
        self.symbol_size
    }

    pub(crate) fn s(&self) -> usize {
        usize::from(self.symbol_size)
    }

    /// Bytes of symbols in one sliver of axis `A`.
    pub fn sliver_length<A: Axis>(&self) -> usize {
        usize::from(self.params.sliver_symbols::<A>()) * self.s()
    }

    /// About how many bytes encoding allocates besides the blob, at its peak: the `n²` leaf
    /// hashes (32 bytes each), then either half as many again (the upper levels of the column
    /// trees) or the non-systematic secondary slivers kept for the last strip, and the batches
    /// in flight. Dominated by `n²` (measured: 3.1 GB at n = 8000 for a 1 KiB blob, 48·n²), so
    /// a large committee needs more memory than a machine may have even for a tiny blob:
    /// callers check this before encoding.
    pub fn encoding_memory(&self) -> u64 {
        const BATCHES: u64 = 128 << 20;
        let p = self.params;
        let n = u64::from(p.n_shards);
        let leaves = 32 * n * n;
        let kept_columns = u64::from(p.f()) * self.sliver_length::<Secondary>() as u64;
        leaves + (leaves / 2).max(kept_columns) + BATCHES
    }

    /// Bytes the system charges storage for: every sliver pair plus one nominal metadata copy
    /// per shard. The Move contracts compute the same number.
    pub fn encoded_length(&self) -> u64 {
        let p = self.params;
        let pair = u64::from(p.primary_source_symbols() + p.secondary_source_symbols()) * u64::from(self.symbol_size);
        u64::from(p.n_shards) * (pair + p.metadata_length())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_follow_n() {
        let p = EncodingParams::new(1000).unwrap();
        assert_eq!((p.f(), p.primary_source_symbols(), p.secondary_source_symbols()), (333, 334, 667));
        assert_eq!(p.max_blob_size(), 14_599_533_452);
        let p = EncodingParams::new(4).unwrap();
        assert_eq!((p.f(), p.primary_source_symbols(), p.secondary_source_symbols()), (1, 2, 3));
    }

    #[test]
    fn shard_counts_outside_the_supported_range_are_errors() {
        for n in [0, 1, 2, 3] {
            assert_eq!(EncodingParams::new(n), Err(Error::TooFewShards { got: n, min: 4 }));
        }
        assert!(EncodingParams::new(MAX_SHARDS).is_ok());
        assert!(matches!(EncodingParams::new(MAX_SHARDS + 1), Err(Error::TooManyShards { .. })));
        assert!(matches!(EncodingParams::new(u16::MAX), Err(Error::TooManyShards { .. })));
    }

    #[test]
    fn symbol_size_and_encoded_length_match_the_spec_examples() {
        let p10 = EncodingParams::new(10).unwrap();
        let p1000 = EncodingParams::new(1000).unwrap();
        let case = |p: EncodingParams, len| {
            let l = p.for_blob(len).unwrap();
            (l.symbol_size(), l.encoded_length())
        };
        assert_eq!(case(p10, 0), (2, 6940));
        assert_eq!(case(p10, 1), (2, 6940));
        assert_eq!(case(p10, 1000).0, 36);
        assert_eq!(case(p10, 1 << 20), (37450, 4_126_220));
        assert_eq!(case(p1000, 445_556), (2, 66_034_000));
        assert_eq!(case(p1000, 1 << 20), (6, 70_038_000));
        assert_eq!(case(p1000, 10_000_019), (46, 110_078_000));
        assert_eq!(case(p10, 28 * 65532 + 1).0, 65534);
    }

    #[test]
    fn encoding_memory_grows_with_the_square_of_the_shards_and_with_the_blob() {
        let small = |n| EncodingParams::new(n).unwrap().for_blob(1024).unwrap().encoding_memory();
        assert_eq!(small(8000), 48 * 8000 * 8000 + (128 << 20));
        assert_eq!(small(MAX_SHARDS), 48 * 49155 * 49155 + (128 << 20));
        // A large blob: the kept secondary slivers (f of them, kp symbols each) outweigh the hashes.
        let layout = EncodingParams::new(1000).unwrap().for_blob(1 << 30).unwrap();
        let kept = 333 * 334 * u64::from(layout.symbol_size());
        assert_eq!(layout.encoding_memory(), 32 * 1000 * 1000 + kept + (128 << 20));
    }

    #[test]
    fn one_byte_past_the_maximum_is_refused() {
        for n in [4, 7, 10, 13, 1000] {
            let p = EncodingParams::new(n).unwrap();
            assert_eq!(p.for_blob(p.max_blob_size()).unwrap().symbol_size(), MAX_SYMBOL_SIZE);
            assert!(matches!(p.for_blob(p.max_blob_size() + 1), Err(Error::BlobTooLarge { .. })));
        }
        let p = EncodingParams::new(4).unwrap();
        assert!(p.for_blob(u64::MAX).is_err());
    }
}
