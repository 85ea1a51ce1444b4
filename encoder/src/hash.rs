//! Blake2b-256 as Walrus uses it, with batch forms that hash several inputs at once in SIMD
//! lanes. At `n = 1000` a blob needs about three million hashes of tiny inputs, so the per-hash
//! set-up and the lane parallelism decide the encoder's speed.

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
    debug_assert_eq!(symbols.len(), out.len() * symbol_size);
    hash_batched(out.len(), 1 + symbol_size, out, |i, input| {
        input[0] = LEAF_PREFIX;
        input[1..].copy_from_slice(&symbols[i * symbol_size..(i + 1) * symbol_size]);
    });
}

/// The next Merkle level: inner hashes of consecutive pairs, an odd last node paired with the
/// all-zero `Empty` node.
pub fn parent_level(level: &[Digest]) -> Vec<Digest> {
    const ZERO: Digest = [0; 32];
    let mut parents = vec![ZERO; level.len().div_ceil(2)];
    hash_batched(parents.len(), 65, &mut parents, |i, input| {
        input[0] = INNER_PREFIX;
        input[1..33].copy_from_slice(&level[2 * i]);
        input[33..].copy_from_slice(level.get(2 * i + 1).unwrap_or(&ZERO));
    });
    parents
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

    #[test]
    fn is_blake2b_with_a_32_byte_digest() {
        // Leaf hash of the symbol 0x0000, from the spec's hand-computed n = 4 example.
        assert_eq!(
            hex::encode(inner_hash(&leaf_hash(&[0, 0]), &leaf_hash(&[0, 0]))),
            hex::encode(blake2b256(&[[1u8].as_slice(), &leaf_hash(&[0, 0]), &leaf_hash(&[0, 0])].concat()))
        );
        assert_eq!(
            hex::encode(blake2b256(b"")),
            "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"
        );
    }
}
