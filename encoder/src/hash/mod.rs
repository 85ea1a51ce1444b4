//! Blake2b-256 as Walrus uses it, with batch forms that hash several inputs at once in SIMD
//! lanes. At `n = 1000` a blob needs about three million hashes of tiny inputs, so the per-hash
//! set-up and the lane parallelism decide the encoder's speed.

#[cfg(target_arch = "x86_64")]
mod avx2;
#[cfg(target_arch = "x86_64")]
mod avx512;
#[cfg(target_arch = "x86_64")]
mod blake2b;

use std::sync::OnceLock;

use blake2b_simd::many::{hash_many, HashManyJob};
use blake2b_simd::Params;

pub type Digest = [u8; 32];

const LEAF_PREFIX: u8 = 0;
const INNER_PREFIX: u8 = 1;
/// Inputs hashed per `hash_many` call: enough to fill the SIMD lanes many times over, small
/// enough for the scratch buffer to stay in cache.
const BATCH: usize = 64;

fn params() -> &'static Params {
    static PARAMS: OnceLock<Params> = OnceLock::new();
    PARAMS.get_or_init(|| {
        let mut p = Params::new();
        p.hash_length(32);
        p
    })
}

fn to_digest(hash: blake2b_simd::Hash) -> Digest {
    hash.as_bytes().try_into().expect("hash length is 32")
}

/// `len` zero digests in fresh memory, not yet touched: `vec![[0; 32]; len]` writes every
/// byte (arrays of zeros are not allocated zeroed), which for the encoder's n² leaf hashes
/// costs a page fault per 4 KiB before any work, and leaves no chance to ask for huge pages.
pub(crate) fn zeroed_digests(len: usize) -> Vec<Digest> {
    if len == 0 {
        return Vec::new();
    }
    let layout = std::alloc::Layout::array::<Digest>(len).expect("digests fit in memory");
    // SAFETY: the layout is non-zero-sized and is that of `len` digests; all-zero bytes are
    // valid digests; the allocation is handed to a Vec with that same layout (length and
    // capacity `len`), which frees it with it.
    unsafe {
        let ptr = std::alloc::alloc_zeroed(layout) as *mut Digest;
        if ptr.is_null() {
            std::alloc::handle_alloc_error(layout);
        }
        Vec::from_raw_parts(ptr, len, len)
    }
}

/// Blake2b with a 32-byte digest (not a truncated Blake2b-512).
pub fn blake2b256(data: &[u8]) -> Digest {
    to_digest(params().hash(data))
}

/// Hashes `count` inputs of `width` bytes each, written by `fill` into a prefixed scratch area.
fn hash_batched(count: usize, width: usize, out: &mut [Digest], mut fill: impl FnMut(usize, &mut [u8])) {
    debug_assert_eq!(out.len(), count);
    let batch = BATCH.min((1 << 16) / width.max(1)).max(4);
    let mut scratch = vec![0u8; batch * width];
    for (start, out) in (0..count).step_by(batch).zip(out.chunks_mut(batch)) {
        let inputs = &mut scratch[..out.len() * width];
        for (i, input) in inputs.chunks_exact_mut(width).enumerate() {
            fill(start + i, input);
        }
        let mut jobs: Vec<HashManyJob> =
            inputs.chunks_exact(width).map(|input| HashManyJob::new(params(), input)).collect();
        hash_many(jobs.iter_mut());
        for (digest, job) in out.iter_mut().zip(&jobs) {
            *digest = to_digest(job.to_hash());
        }
    }
}

/// Merkle leaf hash `H(0x00 || payload)`.
pub fn leaf_hash(payload: &[u8]) -> Digest {
    let mut state = params().to_state();
    state.update(&[LEAF_PREFIX]).update(payload);
    to_digest(state.finalize())
}

/// Merkle inner hash `H(0x01 || left || right)`.
pub fn inner_hash(left: &Digest, right: &Digest) -> Digest {
    let mut input = [0u8; 65];
    input[0] = INNER_PREFIX;
    input[1..33].copy_from_slice(left);
    input[33..].copy_from_slice(right);
    blake2b256(&input)
}

/// Leaf hashes of the consecutive `symbol_size`-byte symbols in `symbols`.
pub fn leaf_hashes(symbols: &[u8], symbol_size: usize, out: &mut [Digest]) {
    leaf_hashes_of_lines(&[symbols], symbol_size, out);
}

/// Leaf hashes of the symbols of several lines (each a run of contiguous symbols), in order.
pub fn leaf_hashes_of_lines(lines: &[&[u8]], symbol_size: usize, out: &mut [Digest]) {
    debug_assert_eq!(lines.iter().map(|l| l.len()).sum::<usize>(), out.len() * symbol_size);
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        return leaf_lanes(lines, symbol_size, out);
    }
    #[cfg(target_arch = "x86_64")]
    if (1..avx2::MAX_MESSAGE).contains(&symbol_size) && avx2_available() {
        return leaf_lanes_avx2(lines, symbol_size, out);
    }
    // Batched across lines, so that lines of one symbol each (a sliver's recovery symbols)
    // still fill the SIMD lanes.
    let symbols: Vec<&[u8]> = lines.iter().flat_map(|line| line.chunks_exact(symbol_size)).collect();
    hash_batched(out.len(), 1 + symbol_size, out, |i, input| {
        input[0] = LEAF_PREFIX;
        input[1..].copy_from_slice(symbols[i]);
    });
}

/// Leaf hashes in AVX-512 lanes, eight symbols at a time from anywhere in the lines.
#[cfg(target_arch = "x86_64")]
fn leaf_lanes(lines: &[&[u8]], symbol_size: usize, out: &mut [Digest]) {
    let lanes = avx512::LANES;
    // A symbol shorter than a word is read as a whole word, so it needs 8 readable bytes;
    // one too near the end of its line (such as a line of one small symbol) is copied into its
    // lane's word here first.
    let fits = |line: &[u8], at: usize| symbol_size >= 8 || at + 8 <= line.len();
    let mut words = [[0u8; 8]; avx512::LANES];
    let mut starts = [0i64; avx512::LANES];
    let mut used = 0;
    let mut first_out = 0;
    let flush = |starts: &[i64; avx512::LANES], used: usize, first_out: usize, out: &mut [Digest]| {
        // SAFETY: AVX-512F was detected; every address is a symbol inside a line, readable as
        // `fits` requires, or a lane's word of `words` (not written again before this flush);
        // the outputs are in bounds.
        unsafe {
            use std::arch::x86_64::_mm512_loadu_epi64;
            avx512::leaves8(
                LEAF_PREFIX,
                _mm512_loadu_epi64(starts.as_ptr()),
                symbol_size,
                (1u16 << used).wrapping_sub(1) as u8,
                out[first_out..].as_mut_ptr() as *mut u8,
                avx512::offsets(0, 32),
            );
        }
    };
    let mut k = 0;
    for line in lines {
        for at in (0..line.len()).step_by(symbol_size) {
            if used == 0 {
                first_out = k;
            }
            starts[used] = if fits(line, at) {
                line[at..].as_ptr() as i64
            } else {
                words[used][..symbol_size].copy_from_slice(&line[at..at + symbol_size]);
                words[used].as_ptr() as i64
            };
            used += 1;
            if used == lanes {
                flush(&starts, used, first_out, out);
                used = 0;
            }
            k += 1;
        }
    }
    if used > 0 {
        flush(&starts, used, first_out, out);
    }
}

/// AVX2 without AVX-512: our four-lane kernels.
#[cfg(target_arch = "x86_64")]
fn avx2_available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| !avx512::available() && avx2::available())
}

/// Leaf hashes of one-block messages in AVX2 lanes, four symbols at a time from anywhere in
/// the lines; a last group of fewer than four is hashed by the portable code.
#[cfg(target_arch = "x86_64")]
fn leaf_lanes_avx2(lines: &[&[u8]], symbol_size: usize, out: &mut [Digest]) {
    let kernel = match symbol_size {
        0..8 => avx2::leaves4::<1>,
        8..16 => avx2::leaves4::<2>,
        16..32 => avx2::leaves4::<4>,
        32..64 => avx2::leaves4::<8>,
        _ => avx2::leaves4::<16>,
    };
    let mut symbols = lines.iter().flat_map(|line| line.chunks_exact(symbol_size));
    let mut groups = out.chunks_exact_mut(avx2::LANES);
    for group in &mut groups {
        let payloads: [*const u8; avx2::LANES] =
            std::array::from_fn(|_| symbols.next().expect("a symbol per digest").as_ptr());
        let outputs: [*mut u8; avx2::LANES] = std::array::from_fn(|i| group[i].as_mut_ptr());
        // SAFETY: AVX2 was detected; each payload is a whole symbol of `symbol_size` bytes,
        // shorter than one block as `kernel` needs, and each output is a digest of `out`.
        unsafe { kernel(LEAF_PREFIX, payloads, symbol_size, outputs) };
    }
    for (digest, symbol) in groups.into_remainder().iter_mut().zip(symbols) {
        *digest = leaf_hash(symbol);
    }
}

/// Inner hashes in AVX2 lanes, as [`inner_lanes`] does them in AVX-512 lanes.
#[cfg(target_arch = "x86_64")]
fn inner_lanes_avx2(level: &[Digest], out: &mut [Digest], children: impl Fn(usize) -> (usize, usize)) {
    const ZERO: Digest = [0; 32];
    let child = |k: usize| {
        let (l, r) = children(k);
        (level[l].as_ptr(), level.get(r).unwrap_or(&ZERO).as_ptr())
    };
    let mut groups = out.chunks_exact_mut(avx2::LANES);
    let mut start = 0;
    for group in &mut groups {
        let pairs: [(*const u8, *const u8); avx2::LANES] = std::array::from_fn(|i| child(start + i));
        let outputs: [*mut u8; avx2::LANES] = std::array::from_fn(|i| group[i].as_mut_ptr());
        // SAFETY: AVX2 was detected; the children are digests of `level` (or the zero
        // digest) and the outputs digests of `out`.
        unsafe { avx2::inner4(pairs, outputs) };
        start += avx2::LANES;
    }
    for (k, digest) in groups.into_remainder().iter_mut().enumerate() {
        let (l, r) = children(start + k);
        *digest = inner_hash(&level[l], level.get(r).unwrap_or(&ZERO));
    }
}

/// The next Merkle level: inner hashes of consecutive pairs, an odd last node paired with the
/// all-zero `Empty` node.
pub fn parent_level(level: &[Digest]) -> Vec<Digest> {
    const ZERO: Digest = [0; 32];
    let mut parents = vec![ZERO; level.len().div_ceil(2)];
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        inner_lanes(level, &mut parents, |k| (2 * k, 2 * k + 1));
        return parents;
    }
    #[cfg(target_arch = "x86_64")]
    if avx2_available() {
        inner_lanes_avx2(level, &mut parents, |k| (2 * k, 2 * k + 1));
        return parents;
    }
    hash_batched(parents.len(), 65, &mut parents, |i, input| {
        input[0] = INNER_PREFIX;
        input[1..33].copy_from_slice(&level[2 * i]);
        input[33..].copy_from_slice(level.get(2 * i + 1).unwrap_or(&ZERO));
    });
    parents
}

/// The next level of `cols` Merkle trees laid side by side: `level` holds rows of `cols`
/// nodes (one column per tree); output row `i` pairs input rows `2i` and `2i+1`, an odd last
/// row paired with zeros. Reading whole rows keeps the access sequential.
pub fn parent_rows(level: &[Digest], cols: usize, out: &mut [Digest]) {
    const ZERO: Digest = [0; 32];
    debug_assert_eq!(out.len(), (level.len() / cols).div_ceil(2) * cols);
    #[cfg(target_arch = "x86_64")]
    if avx512::available() {
        inner_lanes(level, out, |k| {
            let (i, c) = (k / cols, k % cols);
            (2 * i * cols + c, (2 * i + 1) * cols + c)
        });
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if avx2_available() {
        inner_lanes_avx2(level, out, |k| {
            let (i, c) = (k / cols, k % cols);
            (2 * i * cols + c, (2 * i + 1) * cols + c)
        });
        return;
    }
    hash_batched(out.len(), 65, out, |k, input| {
        let (i, c) = (k / cols, k % cols);
        input[0] = INNER_PREFIX;
        input[1..33].copy_from_slice(&level[2 * i * cols + c]);
        input[33..].copy_from_slice(level.get((2 * i + 1) * cols + c).unwrap_or(&ZERO));
    });
}

/// Inner hashes in AVX-512 lanes: output `k` hashes `level[children(k).0]` with
/// `level[children(k).1]`, or with zeros where that index is past the end.
#[cfg(target_arch = "x86_64")]
fn inner_lanes(level: &[Digest], out: &mut [Digest], children: impl Fn(usize) -> (usize, usize)) {
    for start in (0..out.len()).step_by(avx512::LANES) {
        let mut left = [0i64; avx512::LANES];
        let mut right = [0i64; avx512::LANES];
        let (mut lanes, mut right_lanes) = (0u8, 0u8);
        for lane in 0..avx512::LANES.min(out.len() - start) {
            let (l, r) = children(start + lane);
            left[lane] = 32 * l as i64;
            right[lane] = 32 * r as i64;
            lanes |= 1 << lane;
            if r < level.len() {
                right_lanes |= 1 << lane;
            }
        }
        // SAFETY: AVX-512F was detected; only in-bounds children and outputs are named by the
        // lane masks.
        unsafe {
            use std::arch::x86_64::_mm512_loadu_epi64;
            avx512::inner8(
                level.as_ptr() as *const u8,
                _mm512_loadu_epi64(left.as_ptr()),
                _mm512_loadu_epi64(right.as_ptr()),
                lanes,
                right_lanes,
                out.as_mut_ptr() as *mut u8,
                avx512::offsets(start * 32, 32),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_forms_equal_single_hashes() {
        let symbols: Vec<u8> = (0..=255u8).cycle().take(6 * 131).collect();
        let mut leaves = vec![[0u8; 32]; 131];
        leaf_hashes(&symbols, 6, &mut leaves);
        for (i, leaf) in leaves.iter().enumerate() {
            assert_eq!(*leaf, leaf_hash(&symbols[i * 6..(i + 1) * 6]));
        }
        let parents = parent_level(&leaves);
        assert_eq!(parents.len(), 66);
        assert_eq!(parents[3], inner_hash(&leaves[6], &leaves[7]));
        assert_eq!(parents[65], inner_hash(&leaves[130], &[0; 32]));
    }

    /// Every symbol size and count the lanes handle, against the portable implementation.
    #[test]
    fn lanes_equal_single_hashes() {
        for symbol_size in [2, 6, 8, 10, 62, 64, 66, 126, 127, 128, 130, 254, 255, 256, 300] {
            for count in [1, 7, 8, 9, 17, 40] {
                let symbols: Vec<u8> = (0..count * symbol_size).map(|i| (i * 7 + symbol_size) as u8).collect();
                let mut out = vec![[0u8; 32]; count];
                leaf_hashes(&symbols, symbol_size, &mut out);
                for (i, digest) in out.iter().enumerate() {
                    let mut input = vec![LEAF_PREFIX];
                    input.extend_from_slice(&symbols[i * symbol_size..(i + 1) * symbol_size]);
                    assert_eq!(*digest, blake2b256(&input), "S={symbol_size} count={count} i={i}");
                }
                let parents = parent_level(&out);
                for (i, parent) in parents.iter().enumerate() {
                    let right = out.get(2 * i + 1).copied().unwrap_or([0; 32]);
                    let input = [&[INNER_PREFIX][..], &out[2 * i], &right].concat();
                    assert_eq!(*parent, blake2b256(&input), "count={count} i={i}");
                }
            }
        }
    }

    /// Symbols spread over short lines (as the encoder's strips hand them over).
    #[test]
    fn lines_of_symbols_hash_like_one_buffer() {
        for symbol_size in [2, 6, 8, 10, 1206] {
            for width in [1, 3, 9] {
                let all: Vec<u8> = (0..13 * width * symbol_size).map(|i| (i * 13 + 5) as u8).collect();
                let lines: Vec<&[u8]> = all.chunks(width * symbol_size).collect();
                let mut split = vec![[0u8; 32]; 13 * width];
                leaf_hashes_of_lines(&lines, symbol_size, &mut split);
                let expected: Vec<Digest> = all.chunks(symbol_size).map(leaf_hash).collect();
                assert_eq!(split, expected, "S={symbol_size} width={width}");
            }
        }
    }

    /// The AVX2 kernels themselves, also where AVX-512 would be picked instead: every word
    /// count, payloads up to a whole block, and inner nodes.
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn avx2_kernels_equal_single_hashes() {
        if !is_x86_feature_detected!("avx2") {
            return;
        }
        let data: Vec<u8> = (0..4 * 127).map(|i| (i * 37 + 11) as u8).collect();
        for len in [0, 1, 6, 7, 8, 15, 16, 31, 32, 63, 64, 100, 127] {
            let kernel = match len {
                0..8 => avx2::leaves4::<1>,
                8..16 => avx2::leaves4::<2>,
                16..32 => avx2::leaves4::<4>,
                32..64 => avx2::leaves4::<8>,
                _ => avx2::leaves4::<16>,
            };
            let mut out = [[0u8; 32]; 4];
            let payloads = std::array::from_fn(|i| data[i * len..].as_ptr());
            let outputs = out.each_mut().map(|d| d.as_mut_ptr());
            // SAFETY: AVX2 is there; payloads and outputs are in bounds.
            unsafe { kernel(7, payloads, len, outputs) };
            for (i, digest) in out.iter().enumerate() {
                let input = [&[7u8][..], &data[i * len..(i + 1) * len]].concat();
                assert_eq!(*digest, blake2b256(&input), "len {len} lane {i}");
            }
        }
        let digests: Vec<Digest> = (0..8u8).map(|i| leaf_hash(&[i])).collect();
        let mut out = [[0u8; 32]; 4];
        let children = std::array::from_fn(|i| (digests[2 * i].as_ptr(), digests[7 - i].as_ptr()));
        let outputs = out.each_mut().map(|d| d.as_mut_ptr());
        // SAFETY: AVX2 is there; children and outputs are in bounds.
        unsafe { avx2::inner4(children, outputs) };
        for (i, digest) in out.iter().enumerate() {
            assert_eq!(*digest, inner_hash(&digests[2 * i], &digests[7 - i]), "lane {i}");
        }
    }

    #[test]
    fn side_by_side_levels_equal_per_tree_levels() {
        let cols = 5;
        for rows in [1usize, 2, 3, 7] {
            let level: Vec<Digest> = (0..rows * cols).map(|i| leaf_hash(&[i as u8])).collect();
            let mut out = vec![[0; 32]; rows.div_ceil(2) * cols];
            parent_rows(&level, cols, &mut out);
            for c in 0..cols {
                let column: Vec<Digest> = (0..rows).map(|r| level[r * cols + c]).collect();
                let expected = parent_level(&column);
                let got: Vec<Digest> = (0..rows.div_ceil(2)).map(|r| out[r * cols + c]).collect();
                assert_eq!(got, expected, "rows {rows} column {c}");
            }
        }
    }

    #[test]
    fn is_blake2b_with_a_32_byte_digest() {
        // Leaf hash of the symbol 0x0000, from the spec's hand-computed n = 4 example.
        assert_eq!(
            hex::encode(inner_hash(&leaf_hash(&[0, 0]), &leaf_hash(&[0, 0]))),
            hex::encode(blake2b256(&[[1u8].as_slice(), &leaf_hash(&[0, 0]), &leaf_hash(&[0, 0])].concat()))
        );
        assert_eq!(hex::encode(blake2b256(b"")), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
    }
}
