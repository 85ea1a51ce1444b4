//! Decoding a blob from any `kp` primary or any `ks` secondary slivers, and checking the
//! result against the metadata.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::axis::{Axis, Primary};
use crate::batch::{advise_huge_pages, batches, run_batches};
use crate::encode::BlobEncoder;
use crate::error::{Error, Result};
use crate::index::SliverIndex;
use crate::metadata::VerifiedMetadata;
use crate::rs::Code;
use crate::sliver::{lines_match, Sliver};

/// Rows re-encoded together by the default check: enough to fill the coder's SIMD lanes.
const CHECKED_TOGETHER: usize = 8;

/// How much of the decoded blob to check against the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ConsistencyCheck {
    /// Trust the slivers.
    Skip,
    /// Re-hash every systematic primary sliver (row) that was not itself an input: catches an
    /// inconsistent encoding whenever the inputs were verified.
    #[default]
    Default,
    /// Recompute the whole blob ID from the decoded blob.
    Strict,
}

/// Decodes the blob from slivers of axis `A`.
///
/// Slivers with the wrong shape (index, length, symbol size) and repeats of an index are
/// skipped; the first `k` others are used. Slivers are **not** authenticated here: verify them
/// against the metadata first ([`Sliver::verify`]), or use [`ConsistencyCheck::Strict`].
pub fn decode<A: Axis>(metadata: &VerifiedMetadata, slivers: &[Sliver<A>], check: ConsistencyCheck) -> Result<Vec<u8>> {
    let mut blob = vec![0u8; metadata.layout().unencoded_length() as usize];
    advise_huge_pages(&blob);
    decode_into(metadata, slivers, check, &mut blob)?;
    Ok(blob)
}

/// [`decode`] into a buffer of exactly the blob's length (reused, or mapped from a file).
pub fn decode_into<A: Axis>(
    metadata: &VerifiedMetadata,
    slivers: &[Sliver<A>],
    check: ConsistencyCheck,
    out: &mut [u8],
) -> Result<()> {
    decode_unchecked(metadata, slivers, out)?;
    check_consistency(metadata, slivers, check, out)
}

/// The first `k` slivers of the right shape and distinct indices: the ones decoding uses.
fn choose<'s, A: Axis>(metadata: &VerifiedMetadata, slivers: &'s [Sliver<A>]) -> Result<BTreeMap<u16, &'s Sliver<A>>> {
    let layout = metadata.layout();
    let k = usize::from(layout.params().source_symbols::<A>());
    let expected_len = layout.sliver_length::<A>();
    let mut chosen: BTreeMap<u16, &Sliver<A>> = BTreeMap::new();
    for sliver in slivers {
        if chosen.len() == k {
            break;
        }
        let fits = sliver.index().get() < layout.n_shards()
            && sliver.symbol_size() == layout.symbol_size()
            && sliver.data().len() == expected_len;
        if fits {
            chosen.entry(sliver.index().get()).or_insert(sliver);
        }
    }
    if chosen.len() < k {
        return Err(Error::NotEnoughSlivers { axis: A::NAME, got: chosen.len(), needed: k });
    }
    Ok(chosen)
}

/// [`decode_into`] without any consistency check: follow it with [`check_consistency`] on the
/// same slivers (for instance while the blob is being written out).
pub fn decode_unchecked<A: Axis>(metadata: &VerifiedMetadata, slivers: &[Sliver<A>], out: &mut [u8]) -> Result<()> {
    let layout = metadata.layout();
    if out.len() as u64 != layout.unencoded_length() {
        return Err(Error::WrongOutputLength { got: out.len(), expected: layout.unencoded_length() });
    }
    let code = Code::across::<A>(&layout);
    let chosen = choose(metadata, slivers)?;
    let s = layout.s();
    let symbols_per_sliver = usize::from(layout.params().sliver_symbols::<A>());
    let row_len = layout.sliver_length::<Primary>();
    run_batches(
        &batches(symbols_per_sliver, usize::from(layout.n_shards()), s),
        std::iter::repeat(()),
        |range, ()| {
            let lines: Vec<(usize, &[u8])> =
                chosen.values().map(|sl| (sl.index().as_usize(), &sl.data()[range.start * s..range.end * s])).collect();
            code.decode(range.len(), &lines)
        },
        |range, sources| {
            for (j, line) in sources.lines().enumerate() {
                if A::IS_PRIMARY {
                    // Source line j is row j, columns `range`.
                    write_clipped(out, j * row_len + range.start * s, line);
                } else {
                    // Source line j is column j, rows `range`.
                    for (w, symbol) in line.chunks_exact(s).enumerate() {
                        write_clipped(out, (range.start + w) * row_len + j * s, symbol);
                    }
                }
            }
            Ok(())
        },
    )
    .expect("decoding does no I/O");
    Ok(())
}

/// The matrix is padded past the blob's end; the padding is not written out.
fn write_clipped(out: &mut [u8], at: usize, bytes: &[u8]) {
    if at < out.len() {
        let end = (at + bytes.len()).min(out.len());
        out[at..end].copy_from_slice(&bytes[..end - at]);
    }
}

/// Checks `blob`, decoded by [`decode_unchecked`] from `slivers`, against the metadata.
///
/// The default check re-encodes, in batches on all cores, only the systematic primary slivers
/// (rows) that were not themselves among the (verified) slivers decoded from, and compares
/// their hashes with the metadata: the guarantee of Walrus's default check, at the cost of
/// hashing those rows' expansions once.
pub fn check_consistency<A: Axis>(
    metadata: &VerifiedMetadata,
    slivers: &[Sliver<A>],
    check: ConsistencyCheck,
    blob: &[u8],
) -> Result<()> {
    let layout = metadata.layout();
    if blob.len() as u64 != layout.unencoded_length() {
        return Err(Error::WrongOutputLength { got: blob.len(), expected: layout.unencoded_length() });
    }
    match check {
        ConsistencyCheck::Skip => Ok(()),
        ConsistencyCheck::Default => {
            let chosen = choose(metadata, slivers)?;
            let kp = usize::from(layout.params().primary_source_symbols());
            let row_len = layout.sliver_length::<Primary>();
            let rows: Vec<usize> = (0..kp).filter(|r| !(A::IS_PRIMARY && chosen.contains_key(&(*r as u16)))).collect();
            // Rows past the blob's end are zero-padded, as the encoder pads them.
            let padded = |r: usize| {
                let mut row = vec![0u8; row_len];
                let start = (r * row_len).min(blob.len());
                write_clipped(&mut row, 0, &blob[start..((r + 1) * row_len).min(blob.len())]);
                row
            };
            let consistent = rows.par_chunks(CHECKED_TOGETHER).all(|rows| {
                let owned: Vec<(usize, Vec<u8>)> =
                    rows.iter().filter(|r| (*r + 1) * row_len > blob.len()).map(|&r| (r, padded(r))).collect();
                let lines: Vec<(SliverIndex<Primary>, &[u8])> = rows
                    .iter()
                    .map(|&r| {
                        let data = match owned.iter().find(|(o, _)| *o == r) {
                            Some((_, row)) => &row[..],
                            None => &blob[r * row_len..(r + 1) * row_len],
                        };
                        (SliverIndex::new(r as u16), data)
                    })
                    .collect();
                lines_match(&lines, metadata).into_iter().all(|ok| ok)
            });
            if consistent {
                Ok(())
            } else {
                Err(Error::InconsistentBlob)
            }
        }
        ConsistencyCheck::Strict => {
            let recomputed = BlobEncoder::new(layout.params(), blob)?.compute_metadata();
            if recomputed.blob_id() != metadata.blob_id() {
                return Err(Error::InconsistentBlob);
            }
            Ok(())
        }
    }
}
