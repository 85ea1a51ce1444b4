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

/// Runs `work` on the batches, each with its input (one per batch, in order: for instance where
/// its output goes), several at a time in parallel, and hands the results to `consume` in
/// order. Consuming one group overlaps computing the next, so sequential work (copying into
/// outputs, writing files) hides behind the parallel work. Bounding the batches in flight
/// bounds the memory.
pub(crate) fn run_batches<I: Send, T: Send>(
    batches: &[Range<usize>],
    inputs: impl IntoIterator<Item = I>,
    work: impl Fn(Range<usize>, I) -> T + Sync,
    mut consume: impl FnMut(Range<usize>, T) -> io::Result<()> + Send,
) -> io::Result<()> {
    let in_flight = 2 * rayon::current_num_threads();
    let mut consume_group = |group: &[Range<usize>], results: Vec<T>| -> io::Result<()> {
        for (batch, result) in group.iter().zip(results) {
            consume(batch.clone(), result)?;
        }
        Ok(())
    };
    let mut inputs = inputs.into_iter();
    let mut previous: Option<(&[Range<usize>], Vec<T>)> = None;
    for group in batches.chunks(in_flight) {
        let jobs: Vec<(Range<usize>, I)> = group.iter().cloned().zip(inputs.by_ref()).collect();
        debug_assert_eq!(jobs.len(), group.len(), "one input per batch");
        let (results, consumed) = rayon::join(
            || jobs.into_par_iter().map(|(batch, input)| work(batch, input)).collect::<Vec<T>>(),
            || previous.take().map_or(Ok(()), |(g, r)| consume_group(g, r)),
        );
        consumed?;
        previous = Some((group, results));
    }
    previous.map_or(Ok(()), |(g, r)| consume_group(g, r))
}

/// Cuts `lines` (each `count` symbols of `s` bytes) into the parts that `batches` of
/// [`batches`]`(count, ..)` cover: for each batch, its part of every line.
pub(crate) fn parts_per_batch<'a>(
    batches: &[Range<usize>],
    lines: impl Iterator<Item = &'a mut [u8]>,
    s: usize,
) -> Vec<Vec<&'a mut [u8]>> {
    let width = batches.first().map_or(1, |b| b.len());
    let mut parts: Vec<Vec<&mut [u8]>> = batches.iter().map(|_| Vec::new()).collect();
    for line in lines {
        for (batch, part) in parts.iter_mut().zip(line.chunks_mut(width * s)) {
            batch.push(part);
        }
    }
    parts
}

/// Asks for transparent huge pages over the page-aligned interior of a large buffer that has
/// not been touched yet. Only a hint: nothing changes if the kernel declines.
pub(crate) fn advise_huge_pages(buffer: &[u8]) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = (buffer.as_ptr() as usize).next_multiple_of(HUGE);
        let end = (buffer.as_ptr() as usize + buffer.len()) / HUGE * HUGE;
        if end > start {
            // SAFETY: the range lies inside `buffer`; MADV_HUGEPAGE does not change contents.
            unsafe { libc::madvise(start as *mut libc::c_void, end - start, libc::MADV_HUGEPAGE) };
        }
    }
}
