//! The one-dimensional Reed–Solomon codes of RS2, applied to many codewords per call.
//!
//! reed-solomon-simd encodes *shards*; the k→n code acts independently on each 16-bit element
//! position of the shards. Walrus calls it once per row or column with one symbol per shard,
//! which for small symbols spends nearly all the time in per-call overhead. We instead place
//! `width` codewords side by side in each shard (a *line* of symbols) and code them in one call.
//! That is exact as long as every element keeps the (low byte, high byte) pairing it has when
//! its symbol is a shard of its own, which [`Packing`] guarantees.

use std::cell::RefCell;

use reed_solomon_simd::engine::{DefaultEngine, Engine};
use reed_solomon_simd::rate::{DefaultRateDecoder, RateDecoder};

mod encoding;
#[cfg(target_arch = "x86_64")]
mod gfni;
mod low_rate;

use crate::axis::Axis;
use crate::params::BlobLayout;
use crate::scratch::Lines;
use low_rate::LowRateDecoding;

/// reed-solomon-simd splits a shard into 64-byte blocks: bytes 0..32 are the low bytes and
/// 32..64 the high bytes of 32 elements. A trailing partial block of `t` bytes holds `t/2`
/// elements, low bytes first.
const BLOCK: usize = 64;

/// Work bytes per piece of our own coders: about half a core's L2 cache.
const WORK_BYTES: usize = 1 << 20;

/// Where each symbol's bytes go in a shard holding `width` symbols of `symbol_size` bytes.
///
/// The full 64-byte blocks of every symbol are copied verbatim (they already pair bytes the
/// way any block-aligned position does); the elements of the partial tail blocks are gathered
/// into a tail region after them, laid out as the crate expects.
#[derive(Debug, Clone, Copy)]
struct Packing {
    symbol_size: usize,
    width: usize,
    /// Round the tail region up to whole 64-byte blocks (zero elements at the end), so that any
    /// 64-byte-aligned piece of the shard can be coded on its own: used by our own decoder.
    whole_blocks: bool,
}

impl Packing {
    fn full(&self) -> usize {
        self.symbol_size / BLOCK * BLOCK
    }

    fn tail_region_len(&self) -> usize {
        let len = self.width * (self.symbol_size - self.full());
        if self.whole_blocks {
            len.next_multiple_of(BLOCK)
        } else {
            len
        }
    }

    fn shard_len(&self) -> usize {
        self.width * self.full() + self.tail_region_len()
    }

    /// Whether a line of symbols is already laid out as its shard.
    fn is_identity(&self) -> bool {
        self.full() == self.symbol_size || (self.width == 1 && !self.whole_blocks)
    }

    /// Runs `(j, lo, hi, len)`: tail elements `j..j+len` of symbol `w` have their low bytes at
    /// `lo..lo+len` and high bytes at `hi..hi+len` of the packed shard.
    #[inline]
    fn tail_runs(&self, w: usize, mut emit: impl FnMut(usize, usize, usize, usize)) {
        let tail = self.symbol_size - self.full();
        let half = tail / 2;
        let region = self.width * self.full();
        let region_len = self.tail_region_len();
        let full_blocks = region_len / BLOCK;
        let last_half = (region_len % BLOCK) / 2;
        let mut j = 0;
        while j < half {
            let q = w * half + j;
            let block = q / 32;
            let (lo, hi, room) = if block < full_blocks {
                let lo = BLOCK * block + q % 32;
                (lo, lo + 32, 32 - q % 32)
            } else {
                let lo = BLOCK * full_blocks + (q - 32 * full_blocks);
                (lo, lo + last_half, half - j)
            };
            let len = room.min(half - j);
            emit(j, region + lo, region + hi, len);
            j += len;
        }
    }

    /// [`Packing::tail_runs`] element by element: tails are short (a 6-byte symbol has three
    /// elements), and moving their bytes one by one beats a `memcpy` call per run.
    #[inline]
    fn tail_elements(&self, w: usize, mut emit: impl FnMut(usize, usize, usize)) {
        self.tail_runs(w, |j, lo, hi, len| (0..len).for_each(|t| emit(j + t, lo + t, hi + t)));
    }

    fn pack_symbol(&self, w: usize, symbol: &[u8], shard: &mut [u8]) {
        let full = self.full();
        let half = (self.symbol_size - full) / 2;
        shard[w * full..(w + 1) * full].copy_from_slice(&symbol[..full]);
        self.tail_elements(w, |j, lo, hi| {
            shard[lo] = symbol[full + j];
            shard[hi] = symbol[full + half + j];
        });
    }

    fn unpack_symbol(&self, w: usize, shard: &[u8], symbol: &mut [u8]) {
        let full = self.full();
        let half = (self.symbol_size - full) / 2;
        symbol[..full].copy_from_slice(&shard[w * full..(w + 1) * full]);
        self.tail_elements(w, |j, lo, hi| {
            symbol[full + j] = shard[lo];
            symbol[full + half + j] = shard[hi];
        });
    }

    /// Packs a line whose symbols are contiguous.
    fn pack_line(&self, line: &[u8], shard: &mut [u8]) {
        if self.is_identity() {
            shard.copy_from_slice(line);
            return;
        }
        for (w, symbol) in line.chunks_exact(self.symbol_size).enumerate() {
            self.pack_symbol(w, symbol, shard);
        }
    }

    fn unpack_into(&self, shard: &[u8], line: &mut [u8]) {
        if self.is_identity() {
            return line.copy_from_slice(&shard[..line.len()]);
        }
        for (w, symbol) in line.chunks_exact_mut(self.symbol_size).enumerate() {
            self.unpack_symbol(w, shard, symbol);
        }
    }

    /// The pieces our coders cut a shard into (of whole blocks only) so that `count` shards of
    /// a piece stay in a core's cache through the transforms: runs of each symbol's whole
    /// blocks, of equal size (a small remainder would cost a whole transform's overhead), then
    /// the tail region. Symbols are copied between lines and pieces directly, never through a
    /// packed shard.
    fn pieces(&self, count: usize) -> impl Iterator<Item = Piece> {
        debug_assert!(self.whole_blocks);
        let full = self.full();
        let pieces = (count * full).div_ceil(WORK_BYTES).max(1);
        let piece = (full / BLOCK).div_ceil(pieces).max(1) * BLOCK;
        let blocks = (0..self.width).flat_map(move |symbol| {
            (0..full).step_by(piece).map(move |start| Piece::Blocks { symbol, start, len: piece.min(full - start) })
        });
        blocks.chain((self.tail_region_len() > 0).then_some(Piece::Tails))
    }

    /// The 64-byte chunks of each shard in `piece`.
    fn chunks(&self, piece: Piece) -> usize {
        match piece {
            Piece::Blocks { len, .. } => len / BLOCK,
            Piece::Tails => self.tail_region_len() / BLOCK,
        }
    }

    /// Copies `piece` of the packed shard of the line whose symbols `symbol(w)` gives into
    /// `shard`. Padding elements of the tail region are left as they were: each element
    /// position is a codeword of its own, and theirs are never read back.
    fn load<'a>(&self, piece: Piece, symbol: impl Fn(usize) -> &'a [u8], shard: &mut [[u8; 64]]) {
        let shard = shard.as_flattened_mut();
        match piece {
            Piece::Blocks { symbol: w, start, len } => shard.copy_from_slice(&symbol(w)[start..start + len]),
            Piece::Tails => {
                let (full, region) = (self.full(), self.width * self.full());
                let half = (self.symbol_size - full) / 2;
                for w in 0..self.width {
                    let symbol = &symbol(w)[full..];
                    self.tail_elements(w, |i, lo, hi| {
                        shard[lo - region] = symbol[i];
                        shard[hi - region] = symbol[half + i];
                    });
                }
            }
        }
    }

    /// Copies `piece` of a packed shard to its place in `line`, `width` contiguous symbols.
    fn store(&self, piece: Piece, shard: &[[u8; 64]], line: &mut [u8]) {
        let shard = shard.as_flattened();
        let s = self.symbol_size;
        match piece {
            Piece::Blocks { symbol: w, start, len } => line[w * s + start..w * s + start + len].copy_from_slice(shard),
            Piece::Tails => {
                let (full, region) = (self.full(), self.width * self.full());
                let half = (s - full) / 2;
                for (w, symbol) in line.chunks_exact_mut(s).enumerate() {
                    let symbol = &mut symbol[full..];
                    self.tail_elements(w, |i, lo, hi| {
                        symbol[i] = shard[lo - region];
                        symbol[half + i] = shard[hi - region];
                    });
                }
            }
        }
    }
}

/// See [`Packing::pieces`].
#[derive(Debug, Clone, Copy)]
enum Piece {
    /// Bytes `start..start + len` of symbol `symbol`, all in whole blocks.
    Blocks { symbol: usize, start: usize, len: usize },
    /// The tail region: every symbol's partial block, gathered into whole blocks.
    Tails,
}

/// The engine doing the field arithmetic: GFNI on AVX-512 where the CPU has it, else the
/// crate's own (runtime-selected AVX2/SSSE3/portable). Both give identical bytes.
#[cfg(target_arch = "x86_64")]
fn gfni() -> Option<gfni::Gfni> {
    static GFNI: std::sync::OnceLock<Option<gfni::Gfni>> = std::sync::OnceLock::new();
    *GFNI.get_or_init(gfni::Gfni::detect)
}

/// One coder per engine and thread, reset between calls so their work buffers are reused.
struct Coders<E: Engine> {
    /// The work buffer of our encoder.
    encoding: Vec<[u8; 64]>,
    decoder: Option<DefaultRateDecoder<E>>,
    low_rate: Option<LowRateDecoding<E>>,
}

impl<E: Engine> Coders<E> {
    const fn new() -> Self {
        Self { encoding: Vec::new(), decoder: None, low_rate: None }
    }

    /// The low-rate decoding for these positions, reused while the pattern stays the same
    /// (decoding a blob keeps one pattern for all its strips).
    fn low_rate(
        &mut self,
        engine: impl FnOnce() -> E,
        k: usize,
        m: usize,
        positions: &[usize],
    ) -> &mut LowRateDecoding<E> {
        if !self.low_rate.as_ref().is_some_and(|d| d.is_for(k, m, positions)) {
            self.low_rate = Some(LowRateDecoding::new(engine(), k, m, positions));
        }
        self.low_rate.as_mut().expect("just set")
    }

    fn decoder(
        &mut self,
        engine: impl FnOnce() -> E,
        k: usize,
        m: usize,
        shard_len: usize,
    ) -> &mut DefaultRateDecoder<E> {
        match &mut self.decoder {
            Some(decoder) => {
                decoder.reset(k, m, shard_len).expect("validated code parameters");
                self.decoder.as_mut().expect("just matched")
            }
            None => self
                .decoder
                .insert(DefaultRateDecoder::new(k, m, shard_len, engine(), None).expect("validated code parameters")),
        }
    }
}

thread_local! {
    static PORTABLE: RefCell<Coders<DefaultEngine>> = const { RefCell::new(Coders::new()) };
    #[cfg(target_arch = "x86_64")]
    static GFNI: RefCell<Coders<gfni::Gfni>> = const { RefCell::new(Coders::new()) };
}

/// A systematic k→n Reed–Solomon code over `symbol_size`-byte symbols, as reed-solomon-simd
/// 3.1.0 defines it: position `j < k` is source symbol `j`, position `k + t` recovery shard `t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Code {
    pub k: usize,
    pub n: usize,
    pub symbol_size: usize,
}

/// The source lines of a decoding: the given ones borrowed, the restored ones in one buffer.
pub(crate) struct Decoded<'a> {
    sources: Vec<Source<'a>>,
    restored: Lines,
}

#[derive(Clone, Copy)]
enum Source<'a> {
    Given(&'a [u8]),
    /// Line of `restored`.
    Restored(usize),
}

impl Decoded<'_> {
    pub fn line(&self, j: usize) -> &[u8] {
        match self.sources[j] {
            Source::Given(line) => line,
            Source::Restored(t) => self.restored.line(t),
        }
    }

    pub fn lines(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.sources.len()).map(|j| self.line(j))
    }
}

impl Code {
    /// The code whose source positions are the slivers of axis `A`: it decodes a blob from
    /// slivers of axis `A` and extends a sliver of the other axis to its `n` symbols.
    pub fn across<A: Axis>(layout: &BlobLayout) -> Self {
        Self {
            k: usize::from(layout.params().source_symbols::<A>()),
            n: usize::from(layout.n_shards()),
            symbol_size: layout.s(),
        }
    }

    /// Encodes `width` codewords at once. `source(j, w)` is source symbol `j` of codeword `w`.
    /// Returns the `n - k` recovery lines, each holding its symbol of every codeword in order.
    pub fn encode<'a>(&self, width: usize, source: impl Fn(usize, usize) -> &'a [u8]) -> Lines {
        let mut lines = Lines::new(width * self.symbol_size, self.n - self.k);
        self.encode_into(width, source, &mut lines.iter_mut().collect::<Vec<_>>());
        lines
    }

    /// [`Code::encode`] into the given recovery lines, which may lie where the caller wants them;
    /// lines given empty are skipped, for a caller that needs only some recovery positions.
    pub fn encode_into<'a>(
        &self,
        width: usize,
        source: impl Fn(usize, usize) -> &'a [u8],
        lines: &mut [impl AsMut<[u8]>],
    ) {
        debug_assert_eq!(lines.len(), self.n - self.k);
        let packing = Packing { symbol_size: self.symbol_size, width, whole_blocks: true };
        #[cfg(target_arch = "x86_64")]
        if let Some(engine) = gfni() {
            return GFNI.with_borrow_mut(|coders| {
                encoding::encode(&engine, &mut coders.encoding, self.k, packing, source, lines)
            });
        }
        PORTABLE.with_borrow_mut(|coders| {
            encoding::encode(&DefaultEngine::new(), &mut coders.encoding, self.k, packing, source, lines)
        });
    }

    /// Restores the `k` source lines of `width` codewords from `k` lines at distinct
    /// positions (`(position, line)`, each line `width` contiguous symbols).
    pub fn decode<'a>(&self, width: usize, lines: &[(usize, &'a [u8])]) -> Decoded<'a> {
        debug_assert_eq!(lines.len(), self.k);
        let mut sources = vec![Source::Restored(usize::MAX); self.k];
        let (given, recovery): (Vec<_>, Vec<_>) = lines.iter().copied().partition(|(position, _)| *position < self.k);
        for &(position, line) in &given {
            sources[position] = Source::Given(line);
        }
        // Each missing line is restored over a copy of a recovery line.
        let mut restored = Lines::new(width * self.symbol_size, recovery.len());
        let mut others: Vec<(usize, &mut [u8])> = recovery.iter().map(|l| l.0).zip(restored.iter_mut()).collect();
        for ((_, copy), (_, line)) in others.iter_mut().zip(&recovery) {
            copy.copy_from_slice(line);
        }
        self.decode_in_place(width, &given, &mut others);
        let missing = sources.iter_mut().filter(|source| matches!(source, Source::Restored(_)));
        for (t, source) in missing.enumerate() {
            *source = Source::Restored(t);
        }
        Decoded { sources, restored }
    }

    /// Restores the missing source lines of `width` codewords from `k` lines at distinct
    /// positions (each `width` contiguous symbols): `sources` at positions below `k`, `others`
    /// at recovery positions. The lines of `others` are overwritten with the missing source
    /// lines, in order of position: no buffer the size of the lines is needed besides them.
    pub fn decode_in_place(&self, width: usize, sources: &[(usize, &[u8])], others: &mut [(usize, &mut [u8])]) {
        debug_assert_eq!(sources.len() + others.len(), self.k);
        debug_assert!(sources.iter().all(|l| l.0 < self.k) && others.iter().all(|l| l.0 >= self.k));
        if others.is_empty() {
            return;
        }
        #[cfg(target_arch = "x86_64")]
        if let Some(engine) = gfni() {
            return GFNI.with_borrow_mut(|coders| self.decode_with(coders, || engine, width, sources, others));
        }
        PORTABLE.with_borrow_mut(|coders| self.decode_with(coders, DefaultEngine::new, width, sources, others));
    }

    fn decode_with<E: Engine>(
        &self,
        coders: &mut Coders<E>,
        engine: impl FnOnce() -> E,
        width: usize,
        sources: &[(usize, &[u8])],
        others: &mut [(usize, &mut [u8])],
    ) {
        let m = self.n - self.k;
        if low_rate::is_low_rate(self.k, m) {
            let packing = Packing { symbol_size: self.symbol_size, width, whole_blocks: true };
            let positions: Vec<usize> = sources.iter().map(|l| l.0).chain(others.iter().map(|l| l.0)).collect();
            coders.low_rate(engine, self.k, m, &positions).decode(&packing, sources, others);
            return;
        }
        let packing = Packing { symbol_size: self.symbol_size, width, whole_blocks: false };
        let mut shard = vec![0u8; packing.shard_len()];
        let decoder = coders.decoder(engine, self.k, m, shard.len());
        for &(position, line) in sources {
            packing.pack_line(line, &mut shard);
            decoder.add_original_shard(position, &shard).expect("distinct positions");
        }
        for (position, line) in others.iter() {
            packing.pack_line(line, &mut shard);
            decoder.add_recovery_shard(position - self.k, &shard).expect("distinct positions");
        }
        let result = decoder.decode().expect("k distinct shards given");
        // In order of index, as `others` take them.
        for ((_, restored), (_, line)) in result.restored_original_iter().zip(others.iter_mut()) {
            packing.unpack_into(restored, line);
        }
    }
}

/// Pseudo-random 64-byte chunks for the coder's tests.
#[cfg(test)]
fn random_chunks(count: usize, seed: u64) -> Vec<[u8; 64]> {
    let mut state = seed;
    (0..count)
        .map(|_| {
            std::array::from_fn(|_| {
                state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                (state >> 56) as u8
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Our encoder must give exactly the crate's recovery shards, codeword by codeword.
    #[test]
    fn encoding_matches_the_crates_encoder() {
        use reed_solomon_simd::rate::{DefaultRateEncoder, RateEncoder};
        for symbol_size in [2, 62, 64, 1206, 4098] {
            for (k, n) in [(3, 4), (2, 4), (4, 7), (5, 8), (334, 1000), (667, 1000), (11, 31), (1, 3)] {
                let code = Code { k, n, symbol_size };
                let width = 5;
                let data: Vec<Vec<u8>> =
                    (0..k).map(|j| (0..width * symbol_size).map(|i| (i * 11 + j * 29 + 3) as u8).collect()).collect();
                let ours = code.encode(width, |j, w| &data[j][w * symbol_size..(w + 1) * symbol_size]);
                for w in 0..width {
                    let mut crate_encoder =
                        DefaultRateEncoder::new(k, n - k, symbol_size, DefaultEngine::new(), None).unwrap();
                    for line in &data {
                        crate_encoder.add_original_shard(&line[w * symbol_size..(w + 1) * symbol_size]).unwrap();
                    }
                    let result = crate_encoder.encode().unwrap();
                    for (t, recovery) in result.recovery_iter().enumerate() {
                        assert_eq!(
                            &ours.line(t)[w * symbol_size..(w + 1) * symbol_size],
                            recovery,
                            "S={symbol_size} k={k} n={n} w={w} t={t}"
                        );
                    }
                }
            }
        }
    }

    /// Packing many codewords into one shard must give exactly what one call per codeword gives.
    #[test]
    fn packed_lines_equal_one_call_per_codeword() {
        for symbol_size in [2, 6, 62, 64, 66, 130, 200] {
            for (k, n) in [(3, 4), (2, 4), (334, 1000), (11, 31)] {
                let code = Code { k, n, symbol_size };
                let width = 37;
                let data: Vec<Vec<u8>> =
                    (0..k).map(|j| (0..width * symbol_size).map(|i| (i * 7 + j * 13 + 1) as u8).collect()).collect();
                let packed = code.encode(width, |j, w| &data[j][w * symbol_size..(w + 1) * symbol_size]);
                for w in [0, 1, width / 2, width - 1] {
                    let single = code.encode(1, |j, _| &data[j][w * symbol_size..(w + 1) * symbol_size]);
                    for t in 0..n - k {
                        assert_eq!(
                            packed.line(t)[w * symbol_size..(w + 1) * symbol_size],
                            *single.line(t),
                            "S={symbol_size} k={k} n={n} w={w} t={t}"
                        );
                    }
                }
                // Decode from the last k positions.
                let all: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).chain(packed.iter()).collect();
                let lines: Vec<(usize, &[u8])> = (n - k..n).map(|p| (p, all[p])).collect();
                assert!(code.decode(width, &lines).lines().eq(data.iter().map(Vec::as_slice)));
                // ... and from a scattered mix of source and recovery positions, twice (the
                // second time reuses the cached erasure locator).
                let mixed: Vec<(usize, &[u8])> = (0..n).filter(|p| p % 3 != 1).take(k).map(|p| (p, all[p])).collect();
                if mixed.len() == k {
                    assert!(
                        code.decode(width, &mixed).lines().eq(data.iter().map(Vec::as_slice)),
                        "S={symbol_size} k={k} n={n}"
                    );
                    assert!(code.decode(width, &mixed).lines().eq(data.iter().map(Vec::as_slice)));
                }
            }
        }
    }
}
