//! Splitting a strip of codewords into batches, and running them on both cores with bounded
//! memory.

use std::io;
use std::ops::Range;

use rayon::prelude::*;

/// Splits `0..count` codewords into batches sized for memory and for both cores.
pub(crate) fn batches(count: usize, n: usize, s: usize) -> Vec<Range<usize>> {
    const BATCH_BYTES: usize = 4 << 20;
    let parallel = count.div_ceil(2 * rayon::current_num_threads());
    let width = (BATCH_BYTES / (n * s)).min(parallel).max(1);
    (0..count).step_by(width).map(|start| start..(start + width).min(count)).collect()
}

/// Runs `work` on the batches, several at a time in parallel, and hands the results to
/// `consume` in order. Bounding the batches in flight bounds the memory.
pub(crate) fn run_batches<T: Send>(
    batches: &[Range<usize>],
    work: impl Fn(Range<usize>) -> T + Sync,
    mut consume: impl FnMut(Range<usize>, T) -> io::Result<()>,
) -> io::Result<()> {
    let in_flight = 2 * rayon::current_num_threads();
    for group in batches.chunks(in_flight) {
        let results: Vec<T> = group.par_iter().map(|b| work(b.clone())).collect();
        for (batch, result) in group.iter().zip(results) {
            consume(batch.clone(), result)?;
        }
    }
    Ok(())
}

