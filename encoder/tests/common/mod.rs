//! Helpers shared by the integration tests: input generators and paths.
#![allow(dead_code)]

use std::path::PathBuf;

pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Walrus's own data, copied into the repository (`tests/vectors/walrus/README.md` says from where).
pub fn walrus_vectors_dir() -> PathBuf {
    repo_dir().join("tests/vectors/walrus")
}

/// `byte[i] = (31 i + 7) mod 256`.
pub fn affine31(len: usize) -> Vec<u8> {
    (0..len).map(|i| (31 * i + 7) as u8).collect()
}

/// The SplitMix64 generator (the same stream as `splitmix64` in `scripts/walrus-lib.mjs`).
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform-ish in `0..bound` (modulo reduction; the bias is negligible for test use).
    pub fn below(&mut self, bound: u64) -> u64 {
        assert!(bound > 0, "empty range");
        self.next_u64() % bound
    }

    /// In `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        assert!(lo <= hi, "empty range {lo}..={hi}");
        lo + self.below(hi - lo + 1)
    }

    /// Uniform in `[0, 1)`.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `k` distinct indices of `0..n` in random order: a partial Fisher–Yates shuffle, as the
    /// oracle's `bench --op decode` picks its slivers.
    pub fn sample(&mut self, n: usize, k: usize) -> Vec<usize> {
        assert!(k <= n, "cannot pick {k} of {n}");
        let mut idx: Vec<usize> = (0..n).collect();
        for i in 0..k {
            let j = i + self.below((n - i) as u64) as usize;
            idx.swap(i, j);
        }
        idx.truncate(k);
        idx
    }
}

/// SplitMix64 bytes, little-endian per output, as the vectors file defines them.
pub fn splitmix64(seed: u64, len: usize) -> Vec<u8> {
    let mut rng = SplitMix64::new(seed);
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn generate(generator: &str, len: usize) -> Vec<u8> {
    if generator == "affine31" {
        affine31(len)
    } else if generator == "zeros" {
        vec![0; len]
    } else if let Some(seed) = generator.strip_prefix("splitmix64:") {
        splitmix64(seed.parse().expect("numeric seed"), len)
    } else if let Some(text) = generator.strip_prefix("utf8:") {
        text.as_bytes().to_vec()
    } else {
        panic!("unknown generator {generator}")
    }
}
