//! Our own decoder for low-rate codes (the primary code at most committee sizes), on the
//! crate's engine and with the crate's algorithm, so the result is the same: but the erasure
//! locator (a 65536-point transform) is computed once per pattern of received positions rather
//! than once per call, the work is cut into pieces that stay in the core's cache, symbols go
//! straight from the received lines into a piece and the restored ones straight out of it into
//! the lines they replace, and the formal derivative and the last transform compute only what
//! the originals need (at n = 1000, a third of the derivative's XORs, and a forward transform
//! over 512 points instead of 2048).

use reed_solomon_simd::engine::{utils, Engine, GfElement, ShardsRefMut, GF_MODULUS, GF_ORDER};

use super::Packing;

/// Whether reed-solomon-simd codes `k` originals with `m` recovery shards at low rate.
pub(crate) fn is_low_rate(k: usize, m: usize) -> bool {
    let (pk, pm) = (k.next_power_of_two(), m.next_power_of_two());
    pk < pm || (pk == pm && k > m)
}

/// Decoding for one set of received codeword positions.
pub(crate) struct LowRateDecoding<E: Engine> {
    engine: E,
    k: usize,
    m: usize,
    positions: Vec<usize>,
    chunk: usize,
    work_count: usize,
    /// Per work position: whether a received shard lands there.
    received: Vec<bool>,
    /// The originals to restore.
    missing: Vec<usize>,
    erasures: Box<[GfElement; GF_ORDER]>,
    /// Reused between calls: fresh memory of this size would cost page faults every time.
    work: Vec<[u8; 64]>,
}

impl<E: Engine> LowRateDecoding<E> {
    /// `positions`: the `k` distinct received positions of the `k + m` codeword.
    pub fn new(engine: E, k: usize, m: usize, positions: &[usize]) -> Self {
        let chunk = k.next_power_of_two();
        let recovery_end = chunk + m;
        let work_count = recovery_end.next_power_of_two();
        let mut received = vec![false; work_count];
        for &p in positions {
            received[work_position(p, k, chunk)] = true;
        }
        // Originals past k are known zeros, not erasures.
        let mut erasures = vec![0 as GfElement; GF_ORDER].into_boxed_slice();
        for (i, e) in erasures.iter_mut().enumerate() {
            let erased = match i {
                _ if i < k => !received[i],
                _ if i < chunk => false,
                _ if i < recovery_end => !received[i],
                _ => true,
            };
            *e = GfElement::from(erased);
        }
        let mut erasures: Box<[GfElement; GF_ORDER]> = erasures.try_into().expect("GF_ORDER entries");
        E::eval_poly(&mut erasures, GF_ORDER);
        Self {
            engine,
            k,
            m,
            positions: positions.to_vec(),
            chunk,
            work_count,
            missing: (0..k).filter(|&i| !received[i]).collect(),
            received,
            erasures,
            work: Vec::new(),
        }
    }

    pub fn is_for(&self, k: usize, m: usize, positions: &[usize]) -> bool {
        self.k == k && self.m == m && self.positions == positions
    }

    /// Restores the missing originals of `packing.width` codewords from the received lines:
    /// `sources` (positions below `k`) and `others` (recovery positions), in the order of the
    /// positions this decoding was made for. `others` receive the missing originals, in order
    /// of index: each piece of a line is read before that piece of any line is written.
    pub fn decode(&mut self, packing: &Packing, sources: &[(usize, &[u8])], others: &mut [(usize, &mut [u8])]) {
        debug_assert!(sources.iter().map(|l| l.0).chain(others.iter().map(|l| l.0)).eq(self.positions.iter().copied()));
        let s = packing.symbol_size;
        let mut work = std::mem::take(&mut self.work);
        for piece in packing.pieces(self.work_count) {
            let chunks = packing.chunks(piece);
            work.resize(work.len().max(self.work_count * chunks), [0; 64]);
            let work = &mut work[..self.work_count * chunks];
            // Received positions are overwritten below; every other one must be zero.
            for (shard, received) in work.chunks_exact_mut(chunks).zip(&self.received) {
                if !received {
                    shard.fill([0; 64]);
                }
            }
            let mut data = ShardsRefMut::new(self.work_count, chunks, work);
            let received = sources.iter().copied().chain(others.iter().map(|(p, line)| (*p, &**line)));
            for (p, line) in received {
                let at = work_position(p, self.k, self.chunk);
                packing.load(piece, |w| &line[w * s..(w + 1) * s], &mut data[at]);
                self.engine.mul(&mut data[at], self.erasures[at]);
            }
            let recovery_end = self.chunk + self.m;
            self.engine.ifft(&mut data, 0, self.work_count, recovery_end, 0);
            formal_derivative_head(work, chunks, self.chunk);
            let mut data = ShardsRefMut::new(self.work_count, chunks, work);
            // Only the originals are wanted, and positions `0..chunk` are the subspace on which
            // every basis polynomial past the first `chunk` vanishes: a transform of `chunk`
            // coefficients evaluates them, stopping at the groups that hold the originals.
            self.engine.fft(&mut data, 0, self.chunk, self.k, 0);
            for (&i, (_, line)) in self.missing.iter().zip(others.iter_mut()) {
                self.engine.mul(&mut data[i], GF_MODULUS - self.erasures[i]);
                packing.store(piece, &data[i], line);
            }
        }
        self.work = work;
    }
}

/// Where codeword position `p` sits in the work buffer: originals first, then the recovery
/// shards from `chunk` (`k` rounded up to a power of two) on.
fn work_position(p: usize, k: usize, chunk: usize) -> usize {
    if p < k {
        p
    } else {
        chunk + p - k
    }
}

/// The first `head` shards (a power of two) of the formal derivative, on shards of
/// `shard_len` chunks laid end to end; the rest is left as it was.
///
/// The derivative is `shard[i - w .. i] ^= shard[i .. i + w]` for every `i` in order, `w` the
/// lowest set bit of `i`. Of its steps, only those up to `head` and those at the powers of two
/// past it write below `head`, and each reads shards no earlier step has written: about a
/// third of the XORs of the whole derivative when `head` is a quarter of it.
fn formal_derivative_head(work: &mut [[u8; 64]], shard_len: usize, head: usize) {
    let shards = work.len() / shard_len;
    debug_assert!(head.is_power_of_two() && 2 * head <= shards);
    for i in 1..=head {
        let width = 1 << i.trailing_zeros();
        let (low, high) = work.split_at_mut(i * shard_len);
        xor(&mut low[(i - width) * shard_len..], &high[..width * shard_len]);
    }
    for i in std::iter::successors(Some(2 * head), |i| Some(2 * i)).take_while(|&i| i < shards) {
        let (low, high) = work.split_at_mut(i * shard_len);
        xor(&mut low[..head * shard_len], &high[..head * shard_len]);
    }
}

fn xor(dst: &mut [[u8; 64]], src: &[[u8; 64]]) {
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx512f") && crate::cpu::own_simd_allowed() {
        // SAFETY: the feature was just detected.
        return unsafe { xor_avx512(dst, src) };
    }
    #[cfg(target_arch = "x86_64")]
    if is_x86_feature_detected!("avx2") && crate::cpu::own_simd_allowed() {
        // SAFETY: the feature was just detected.
        return unsafe { xor_avx2(dst, src) };
    }
    utils::xor(dst, src);
}

/// The crate's portable XOR compiles to 16-byte steps: on an AVX2-only machine a tenth of a
/// decoding's time went there.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn xor_avx2(dst: &mut [[u8; 64]], src: &[[u8; 64]]) {
    use std::arch::x86_64::*;
    for (d, s) in dst.iter_mut().zip(src) {
        for half in 0..2 {
            let p = d.as_mut_ptr().add(32 * half) as *mut __m256i;
            let q = s.as_ptr().add(32 * half) as *const __m256i;
            _mm256_storeu_si256(p, _mm256_xor_si256(_mm256_loadu_si256(p), _mm256_loadu_si256(q)));
        }
    }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn xor_avx512(dst: &mut [[u8; 64]], src: &[[u8; 64]]) {
    use std::arch::x86_64::*;
    for (d, s) in dst.iter_mut().zip(src) {
        let p = d.as_mut_ptr() as *mut __m512i;
        _mm512_storeu_si512(
            p,
            _mm512_xor_si512(_mm512_loadu_si512(p), _mm512_loadu_si512(s.as_ptr() as *const __m512i)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rs::random_chunks;

    /// The whole derivative, step by step as the crate's decoder takes it.
    fn formal_derivative(work: &mut [[u8; 64]], shard_len: usize) {
        for i in 1..work.len() / shard_len {
            let width = 1 << i.trailing_zeros();
            for j in 0..width * shard_len {
                let from = work[i * shard_len + j];
                for (d, s) in work[(i - width) * shard_len + j].iter_mut().zip(from) {
                    *d ^= s;
                }
            }
        }
    }

    #[test]
    fn derivative_head_is_the_whole_derivatives_head() {
        for (head, shards, shard_len) in [(1, 2, 1), (2, 8, 3), (4, 16, 1), (8, 16, 2), (512, 2048, 1)] {
            let input = random_chunks(shards * shard_len, (head * 31 + shards) as u64);
            let (mut whole, mut ours) = (input.clone(), input);
            formal_derivative(&mut whole, shard_len);
            formal_derivative_head(&mut ours, shard_len, head);
            assert!(whole[..head * shard_len] == ours[..head * shard_len], "head {head} of {shards}");
        }
    }

    #[test]
    fn rate_choice_matches_the_crate() {
        // From the spec: the primary code is low-rate for n = 10, 31, 100, 301, 1000 and
        // high-rate for n = 4, 7, 13; the secondary code is always high-rate.
        for (n, low) in
            [(4, false), (7, false), (13, false), (10, true), (31, true), (100, true), (301, true), (1000, true)]
        {
            let f = (n - 1) / 3;
            assert_eq!(is_low_rate(n - 2 * f, 2 * f), low, "primary code, n = {n}");
            assert!(!is_low_rate(n - f, f), "secondary code, n = {n}");
        }
    }
}
