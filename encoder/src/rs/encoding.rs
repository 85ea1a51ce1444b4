//! Our own encoder on the crate's engine, with the crate's algorithm (so the same bytes): the
//! source symbols are copied straight into the work buffer and the recovery symbols straight out
//! of it, instead of through a packed shard and the crate's own buffer, and the work is cut into
//! pieces that stay in the core's cache instead of sweeping megabytes per butterfly layer.

use reed_solomon_simd::engine::{utils, Engine, ShardsRefMut};

use super::low_rate::is_low_rate;
use super::Packing;

/// Shards in the crate's work buffer for a k→k+m encoding.
fn work_count(k: usize, m: usize) -> usize {
    if is_low_rate(k, m) {
        m.next_multiple_of(k.next_power_of_two())
    } else {
        k.next_multiple_of(m.next_power_of_two())
    }
}

/// The crate's encoding transforms (`LowRateEncoder` and `HighRateEncoder::encode`) on `work`,
/// `work_count` shards of `chunks` 64-byte chunks with the originals in shards `0..k`; leaves
/// recovery shard `t` in shard `t`.
fn transform<E: Engine>(engine: &E, work: &mut [[u8; 64]], chunks: usize, k: usize, m: usize) {
    let count = work.len() / chunks;
    if is_low_rate(k, m) {
        let chunk = k.next_power_of_two();
        let mut data = ShardsRefMut::new(count, chunks, work);
        data.zero(k..chunk);
        engine.ifft(&mut data, 0, chunk, k, 0);
        let (first, rest) = work.split_at_mut(chunk * chunks);
        for copy in rest.chunks_exact_mut(chunk * chunks) {
            copy.copy_from_slice(first);
        }
        let mut data = ShardsRefMut::new(count, chunks, work);
        let mut start = 0;
        while start < m {
            engine.fft(&mut data, start, chunk, chunk.min(m - start), start + chunk);
            start += chunk;
        }
    } else {
        let chunk = m.next_power_of_two();
        let mut data = ShardsRefMut::new(count, chunks, work);
        let first = k.min(chunk);
        data.zero(first..chunk);
        engine.ifft(&mut data, 0, chunk, first, chunk);
        let mut start = chunk;
        while start < k {
            let len = chunk.min(k - start);
            data.zero(start + len..start + chunk);
            engine.ifft(&mut data, start, chunk, len, start + chunk);
            utils::xor_within(&mut data, 0, start, chunk);
            start += chunk;
        }
        engine.fft(&mut data, 0, chunk, m, 0);
    }
}

/// Encodes `width` codewords of `k` source symbols into `lines`, the `m` recovery lines of
/// `width` symbols each (an empty line is not written: a caller may need only some of them).
/// `source(j, w)` is source symbol `j` of codeword `w`; `work` is reused.
pub(crate) fn encode<'a, E: Engine>(
    engine: &E,
    work: &mut Vec<[u8; 64]>,
    k: usize,
    packing: Packing,
    source: impl Fn(usize, usize) -> &'a [u8],
    lines: &mut [impl AsMut<[u8]>],
) {
    let m = lines.len();
    let count = work_count(k, m);
    for piece in packing.pieces(count) {
        let chunks = packing.chunks(piece);
        work.resize(work.len().max(count * chunks), [0; 64]);
        let work = &mut work[..count * chunks];
        for (j, shard) in work.chunks_exact_mut(chunks).take(k).enumerate() {
            packing.load(piece, |w| source(j, w), shard);
        }
        transform(engine, work, chunks, k, m);
        for (line, shard) in lines.iter_mut().zip(work.chunks_exact(chunks)) {
            let line = line.as_mut();
            if !line.is_empty() {
                packing.store(piece, shard, line);
            }
        }
    }
}
