//! Which of our own SIMD paths may run. Setting `WALRUS_ENCODER_PORTABLE=1` turns them off
//! (leaving blake2b_simd and reed-solomon-simd to pick theirs), so the fallbacks can be tested
//! on a machine that has AVX-512 and GFNI.

use std::sync::OnceLock;

pub(crate) fn own_simd_allowed() -> bool {
    static ALLOWED: OnceLock<bool> = OnceLock::new();
    *ALLOWED.get_or_init(|| std::env::var_os("WALRUS_ENCODER_PORTABLE").is_none_or(|v| v.is_empty() || v == "0"))
}
