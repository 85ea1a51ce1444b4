//! A reed-solomon-simd [`Engine`] that multiplies with GFNI affine transforms on AVX-512.
//!
//! Multiplying a GF(2^16) element by a constant is linear over GF(2): a 16×16 bit matrix,
//! i.e. four 8×8 blocks (low/high input byte to low/high output byte). `vgf2p8affineqb`
//! applies an 8×8 bit matrix to every byte, with its own matrix per 64-bit lane, so one 64-byte
//! chunk (32 low bytes, then 32 high bytes) is multiplied with two affine transforms, a half
//! swap and an XOR, where the crate's AVX2 engine needs eight table shuffles per 32 elements.
//! The transforms (fft, ifft) follow the same butterfly schedule as the crate's engines, so the
//! results are identical bit for bit; the tests compare against the crate's own engine.

use std::arch::x86_64::*;
use std::sync::OnceLock;

use reed_solomon_simd::engine::tables::{self, Exp, Log, Skew};
use reed_solomon_simd::engine::{utils, Engine, GfElement, ShardsRefMut, GF_MODULUS, GF_ORDER};

#[derive(Clone, Copy)]
pub struct Gfni {
    exp: &'static Exp,
    log: &'static Log,
    skew: &'static Skew,
}

impl Gfni {
    /// `None` unless the CPU has GFNI and AVX-512 (F and BW).
    pub fn detect() -> Option<Self> {
        let supported = crate::cpu::own_simd_allowed()
            && is_x86_feature_detected!("gfni")
            && is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw");
        supported.then(|| {
            let exp_log = tables::get_exp_log();
            Self { exp: &exp_log.exp, log: &exp_log.log, skew: tables::get_skew() }
        })
    }

    /// The two affine operands of multiplication by `log_m`: `diagonal` maps the low half of a
    /// chunk to low and the high half to high; `cross` maps (after swapping halves) high to low
    /// and low to high. Looked up: the transforms ask for the same factors millions of times.
    fn matrices(&self, log_m: GfElement) -> Matrices {
        static TABLE: OnceLock<Box<[[u64; 4]]>> = OnceLock::new();
        let table = TABLE.get_or_init(|| (0..=GF_MODULUS).map(|l| blocks(l, self.exp, self.log)).collect());
        let [ll, hh, hl, lh] = table[usize::from(log_m)].map(|b| b as i64);
        Matrices { diagonal: [ll, ll, ll, ll, hh, hh, hh, hh], cross: [hl, hl, hl, hl, lh, lh, lh, lh] }
    }
}

/// The four 8×8 blocks (low→low, high→high, high→low, low→high) of multiplication by
/// `log_m`, as `vgf2p8affineqb` operands: byte `7-i` holds the row of output bit `i`.
fn blocks(log_m: GfElement, exp: &Exp, log: &Log) -> [u64; 4] {
    // Column j: the product of the basis element 1 << j.
    let column: [u16; 16] = std::array::from_fn(|j| tables::mul(1 << j, log_m, exp, log));
    let block = |from: usize, to: usize| {
        // Byte j: the output bits `to..to+8` of column `from + j`; transposed, byte i is row i.
        let columns = (0..8).fold(0u64, |acc, j| acc | u64::from((column[from + j] >> to) as u8) << (8 * j));
        transpose8(columns).swap_bytes()
    };
    [block(0, 0), block(8, 8), block(8, 0), block(0, 8)]
}

/// Transposes an 8×8 bit matrix held one row per byte (row i in byte i, column j in bit j).
fn transpose8(mut x: u64) -> u64 {
    let t = (x ^ (x >> 7)) & 0x00AA_00AA_00AA_00AA;
    x ^= t ^ (t << 7);
    let t = (x ^ (x >> 14)) & 0x0000_CCCC_0000_CCCC;
    x ^= t ^ (t << 14);
    let t = (x ^ (x >> 28)) & 0x0000_0000_F0F0_F0F0;
    x ^ t ^ (t << 28)
}

#[derive(Clone, Copy)]
struct Matrices {
    diagonal: [i64; 8],
    cross: [i64; 8],
}

/// `y * m` for one 64-byte chunk held in a register.
#[inline(always)]
unsafe fn mul_chunk(y: __m512i, diagonal: __m512i, cross: __m512i) -> __m512i {
    let swapped = _mm512_shuffle_i64x2::<0b01_00_11_10>(y, y);
    _mm512_xor_si512(
        _mm512_gf2p8affine_epi64_epi8::<0>(y, diagonal),
        _mm512_gf2p8affine_epi64_epi8::<0>(swapped, cross),
    )
}

#[inline(always)]
unsafe fn load(m: &Matrices) -> (__m512i, __m512i) {
    (_mm512_loadu_epi64(m.diagonal.as_ptr()), _mm512_loadu_epi64(m.cross.as_ptr()))
}

/// FFT butterfly over two shards: `x ^= y * m; y ^= x`.
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn fft_butterfly(x: &mut [[u8; 64]], y: &mut [[u8; 64]], m: &Matrices) {
    let (diagonal, cross) = load(m);
    for (x, y) in x.iter_mut().zip(y.iter_mut()) {
        let (xp, yp) = (x.as_mut_ptr() as *mut __m512i, y.as_mut_ptr() as *mut __m512i);
        let yv = _mm512_loadu_si512(yp);
        let xv = _mm512_xor_si512(_mm512_loadu_si512(xp), mul_chunk(yv, diagonal, cross));
        _mm512_storeu_si512(xp, xv);
        _mm512_storeu_si512(yp, _mm512_xor_si512(yv, xv));
    }
}

/// IFFT butterfly over two shards: `y ^= x; x ^= y * m`.
#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn ifft_butterfly(x: &mut [[u8; 64]], y: &mut [[u8; 64]], m: &Matrices) {
    let (diagonal, cross) = load(m);
    for (x, y) in x.iter_mut().zip(y.iter_mut()) {
        let (xp, yp) = (x.as_mut_ptr() as *mut __m512i, y.as_mut_ptr() as *mut __m512i);
        let xv = _mm512_loadu_si512(xp);
        let yv = _mm512_xor_si512(_mm512_loadu_si512(yp), xv);
        _mm512_storeu_si512(yp, yv);
        _mm512_storeu_si512(xp, _mm512_xor_si512(xv, mul_chunk(yv, diagonal, cross)));
    }
}

/// `y ^= x` (a butterfly whose factor is zero).
#[target_feature(enable = "avx512f")]
unsafe fn xor_into(y: &mut [[u8; 64]], x: &[[u8; 64]]) {
    for (y, x) in y.iter_mut().zip(x) {
        let yp = y.as_mut_ptr() as *mut __m512i;
        _mm512_storeu_si512(
            yp,
            _mm512_xor_si512(_mm512_loadu_si512(yp), _mm512_loadu_si512(x.as_ptr() as *const __m512i)),
        );
    }
}

#[target_feature(enable = "avx2")]
unsafe fn eval_poly_avx2(erasures: &mut [GfElement; GF_ORDER], truncated_size: usize) {
    utils::eval_poly(erasures, truncated_size);
}

#[target_feature(enable = "avx512f,avx512bw,gfni")]
unsafe fn mul_all(x: &mut [[u8; 64]], m: &Matrices) {
    let (diagonal, cross) = load(m);
    for chunk in x.iter_mut() {
        let p = chunk.as_mut_ptr() as *mut __m512i;
        _mm512_storeu_si512(p, mul_chunk(_mm512_loadu_si512(p), diagonal, cross));
    }
}

impl Gfni {
    /// A butterfly, or a plain XOR where the factor is zero (`GF_MODULUS` in log form).
    fn fft_pair(&self, x: &mut [[u8; 64]], y: &mut [[u8; 64]], m: Option<&Matrices>) {
        match m {
            // SAFETY: `detect` checked the CPU features.
            None => unsafe { xor_into(y, x) },
            // SAFETY: `detect` checked the CPU features.
            Some(m) => unsafe { fft_butterfly(x, y, m) },
        }
    }

    fn ifft_pair(&self, x: &mut [[u8; 64]], y: &mut [[u8; 64]], m: Option<&Matrices>) {
        match m {
            // SAFETY: `detect` checked the CPU features.
            None => unsafe { xor_into(y, x) },
            // SAFETY: `detect` checked the CPU features.
            Some(m) => unsafe { ifft_butterfly(x, y, m) },
        }
    }

    fn factor(&self, log_m: GfElement) -> Option<Matrices> {
        (log_m != GF_MODULUS).then(|| self.matrices(log_m))
    }

    /// The factors (m01, m02, m23) of one group of two butterfly layers.
    fn group_factors(&self, base: usize, dist: usize) -> (Option<Matrices>, Option<Matrices>, Option<Matrices>) {
        (self.factor(self.skew[base]), self.factor(self.skew[base + dist]), self.factor(self.skew[base + 2 * dist]))
    }
}

impl Engine for Gfni {
    fn fft(&self, data: &mut ShardsRefMut, pos: usize, size: usize, truncated_size: usize, skew_delta: usize) {
        let mut dist4 = size;
        let mut dist = size >> 2;
        while dist != 0 {
            let mut r = 0;
            while r < truncated_size {
                let (m01, m02, m23) = self.group_factors(r + dist + skew_delta - 1, dist);
                for i in r..r + dist {
                    let (s0, s1, s2, s3) = data.dist4_mut(pos + i, dist);
                    self.fft_pair(s0, s2, m02.as_ref());
                    self.fft_pair(s1, s3, m02.as_ref());
                    self.fft_pair(s0, s1, m01.as_ref());
                    self.fft_pair(s2, s3, m23.as_ref());
                }
                r += dist4;
            }
            dist4 = dist;
            dist >>= 2;
        }
        if dist4 == 2 {
            let mut r = 0;
            while r < truncated_size {
                let m = self.factor(self.skew[r + skew_delta]);
                let (x, y) = data.dist2_mut(pos + r, 1);
                self.fft_pair(x, y, m.as_ref());
                r += 2;
            }
        }
    }

    fn ifft(&self, data: &mut ShardsRefMut, pos: usize, size: usize, truncated_size: usize, skew_delta: usize) {
        let mut dist = 1;
        let mut dist4 = 4;
        while dist4 <= size {
            let mut r = 0;
            while r < truncated_size {
                let (m01, m02, m23) = self.group_factors(r + dist + skew_delta - 1, dist);
                for i in r..r + dist {
                    let (s0, s1, s2, s3) = data.dist4_mut(pos + i, dist);
                    self.ifft_pair(s0, s1, m01.as_ref());
                    self.ifft_pair(s2, s3, m23.as_ref());
                    self.ifft_pair(s0, s2, m02.as_ref());
                    self.ifft_pair(s1, s3, m02.as_ref());
                }
                r += dist4;
            }
            dist = dist4;
            dist4 <<= 2;
        }
        if dist < size {
            let m = self.factor(self.skew[dist + skew_delta - 1]);
            for i in 0..dist {
                let (x, y) = data.dist2_mut(pos + i, dist);
                self.ifft_pair(x, y, m.as_ref());
            }
        }
    }

    fn mul(&self, x: &mut [[u8; 64]], log_m: GfElement) {
        // SAFETY: `detect` checked the CPU features.
        unsafe { mul_all(x, &self.matrices(log_m)) }
    }

    fn eval_poly(erasures: &mut [GfElement; GF_ORDER], truncated_size: usize) {
        // SAFETY: `detect` checked for AVX-512, which implies AVX2.
        unsafe { eval_poly_avx2(erasures, truncated_size) }
    }
}

#[cfg(test)]
mod tests {
    use reed_solomon_simd::engine::DefaultEngine;

    use super::*;
    use crate::rs::random_chunks;

    #[test]
    fn transpose_moves_bit_ij_to_ji() {
        for i in 0..8 {
            for j in 0..8 {
                assert_eq!(transpose8(1 << (8 * i + j)), 1 << (8 * j + i), "bit ({i}, {j})");
            }
        }
    }

    #[test]
    fn matches_the_crates_engine() {
        let Some(gfni) = Gfni::detect() else {
            eprintln!("no GFNI/AVX-512 on this CPU: nothing to compare");
            return;
        };
        let reference = DefaultEngine::new();
        for log_m in [0, 1, 2, 255, 256, 4097, 30000, 65534, GF_MODULUS] {
            let mut a = random_chunks(5, u64::from(log_m));
            let mut b = a.clone();
            gfni.mul(&mut a, log_m);
            reference.mul(&mut b, log_m);
            assert_eq!(a, b, "mul by log {log_m}");
        }
        let mut erasures = [0u16; GF_ORDER];
        for i in (0..GF_ORDER).step_by(7) {
            erasures[i] = 1;
        }
        let mut expected = erasures;
        Gfni::eval_poly(&mut erasures, 2048);
        DefaultEngine::eval_poly(&mut expected, 2048);
        assert!(erasures == expected, "eval_poly");
        for (size, truncated, pos, skew_delta, shard_len) in [
            (4, 4, 0, 0, 1),
            (8, 5, 0, 3, 2),
            (16, 16, 16, 16, 1),
            (32, 20, 0, 7, 3),
            (512, 334, 0, 0, 1),
            (2048, 1178, 0, 0, 2),
            (1024, 1000, 1024, 1024, 1),
        ] {
            let count = pos + size;
            let original = random_chunks(count * shard_len, (size * 31 + truncated) as u64);
            for inverse in [false, true] {
                let (mut a, mut b) = (original.clone(), original.clone());
                let mut sa = ShardsRefMut::new(count, shard_len, &mut a);
                let mut sb = ShardsRefMut::new(count, shard_len, &mut b);
                if inverse {
                    gfni.ifft(&mut sa, pos, size, truncated, skew_delta);
                    reference.ifft(&mut sb, pos, size, truncated, skew_delta);
                } else {
                    gfni.fft(&mut sa, pos, size, truncated, skew_delta);
                    reference.fft(&mut sb, pos, size, truncated, skew_delta);
                }
                assert!(a == b, "size {size} truncated {truncated} inverse {inverse}");
            }
        }
    }
}
