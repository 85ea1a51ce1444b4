//! Helpers shared by the integration tests: input generators and paths.
#![allow(dead_code)]

use std::path::PathBuf;

/// `shared/` beside the checkout, or `WALRUS_SHARED_DIR`.
pub fn shared_dir() -> PathBuf {
    std::env::var_os("WALRUS_SHARED_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared"))
}

pub fn repo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `byte[i] = (31 i + 7) mod 256`.
pub fn affine31(len: usize) -> Vec<u8> {
    (0..len).map(|i| (31 * i + 7) as u8).collect()
}

/// SplitMix64 bytes, little-endian per output, as the vectors file defines them.
pub fn splitmix64(seed: u64, len: usize) -> Vec<u8> {
    let mut state = seed;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out.truncate(len);
    out
}

pub fn generate(generator: &str, len: usize) -> Vec<u8> {
    if generator == "affine31" {
        affine31(len)
    } else if let Some(seed) = generator.strip_prefix("splitmix64:") {
        splitmix64(seed.parse().expect("numeric seed"), len)
    } else if let Some(text) = generator.strip_prefix("utf8:") {
        text.as_bytes().to_vec()
    } else {
        panic!("unknown generator {generator}")
    }
}
