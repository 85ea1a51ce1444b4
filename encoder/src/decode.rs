//! Decoding a blob from any `kp` primary or any `ks` secondary slivers, and checking the
//! result against the metadata.

use std::collections::BTreeMap;

use rayon::prelude::*;

use crate::axis::{Axis, Primary};
use crate::batch::{advise_huge_pages, batches, parts_per_batch, run_batches};
use crate::encode::BlobEncoder;
use crate::error::{Error, Result};
use crate::index::SliverIndex;
use crate::metadata::VerifiedMetadata;
use crate::params::BlobLayout;
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

/// What [`decode_in_place`] may assume of the slivers it decodes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Inputs {
    /// Each was verified against the metadata ([`Sliver::verify`]): only the rows that were not
    /// inputs are checked, as Walrus's default check does.
    Verified,
    /// Not verified: every row is checked, the inputs' own too. The decoded blob then has the
    /// same guarantee (every row hashes as the metadata says), for less work than verifying the
    /// inputs first whenever some of them are not rows. A failed check does not tell a bad
    /// input from an inconsistent encoding: verify the inputs and decode again to find out.
    Unverified,
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

/// Decodes in place from exactly `k` slivers of axis `A`, each given as its index and its
/// symbols (distinct indices, the layout's sliver length): afterwards every buffer holds one
/// source line of the padded message matrix and its index says which. For primary slivers the
/// lines are the blob's rows, for secondary ones its columns. Systematic inputs keep their
/// line; each of the others takes one of the missing lines, in order of index. So decoding
/// needs the slivers and a batch of work, not a second buffer the size of the blob.
///
/// The decoded lines are then checked as [`ConsistencyCheck::Default`] checks a blob: each row,
/// zero past the blob's end, must hash as the metadata says; which rows, `inputs` tells.
pub fn decode_in_place<A: Axis>(
    metadata: &VerifiedMetadata,
    lines: &mut [(SliverIndex<A>, &mut [u8])],
    inputs: Inputs,
) -> Result<()> {
    let checked = decode_missing(metadata, lines, inputs)?;
    let lines: Vec<(SliverIndex<A>, &[u8])> = lines.iter().map(|(index, data)| (*index, &**data)).collect();
    lines_consistent(metadata, &lines, &checked).then_some(()).ok_or(Error::InconsistentBlob)
}

/// [`decode_in_place`], running `alongside` on the decoded lines (rows with their padding
/// zeroed, or columns) on a thread of its own while they are checked, to write them out while
/// the cores hash, say. Its result comes back only if the check passes: whatever it did with
/// the lines must not be shown to anyone before that.
pub fn decode_in_place_alongside<A: Axis, T: Send>(
    metadata: &VerifiedMetadata,
    lines: &mut [(SliverIndex<A>, &mut [u8])],
    inputs: Inputs,
    alongside: impl FnOnce(&[(SliverIndex<A>, &[u8])]) -> T + Send,
) -> Result<T> {
    let checked = decode_missing(metadata, lines, inputs)?;
    let lines: Vec<(SliverIndex<A>, &[u8])> = lines.iter().map(|(index, data)| (*index, &**data)).collect();
    let (consistent, result) = std::thread::scope(|scope| {
        let beside = scope.spawn(|| alongside(&lines));
        let consistent = lines_consistent(metadata, &lines, &checked);
        (consistent, beside.join())
    });
    let result = result.unwrap_or_else(|panic| std::panic::resume_unwind(panic));
    consistent.then_some(result).ok_or(Error::InconsistentBlob)
}

/// Decodes the missing lines into the buffers of [`decode_in_place`]'s inputs, relabelling
/// them, and zeroes rows past the blob's end; returns the positions of the lines to check.
fn decode_missing<A: Axis>(
    metadata: &VerifiedMetadata,
    lines: &mut [(SliverIndex<A>, &mut [u8])],
    inputs: Inputs,
) -> Result<Vec<usize>> {
    let layout = metadata.layout();
    let code = Code::across::<A>(&layout);
    let (k, n, s) = (code.k, code.n, layout.s());
    let expected_len = layout.sliver_length::<A>();
    let mut seen = vec![false; n];
    for (index, data) in lines.iter() {
        index.check(layout.n_shards())?;
        if data.len() != expected_len {
            return Err(Error::WrongSliverLength { got: data.len(), expected: expected_len });
        }
        seen[index.as_usize()] = true;
    }
    let distinct = seen.iter().filter(|&&x| x).count();
    if distinct < k {
        return Err(Error::NotEnoughSlivers { axis: A::NAME, got: distinct, needed: k });
    }
    if lines.len() > k {
        return Err(Error::TooManySlivers { axis: A::NAME, got: lines.len(), needed: k });
    }
    let positions: Vec<usize> = lines.iter().map(|(index, _)| index.as_usize()).collect();
    let missing: Vec<usize> = (0..k).filter(|&j| !seen[j]).collect();
    // The inputs that give up their buffer to a missing line: as many as lines are missing.
    let takers: Vec<usize> = (0..k).filter(|&i| positions[i] >= k).collect();
    let symbols_per_sliver = usize::from(layout.params().sliver_symbols::<A>());
    let strip = batches(symbols_per_sliver, n, s);
    let parts = parts_per_batch(&strip, lines.iter_mut().map(|(_, data)| &mut **data), s);
    run_batches(
        &strip,
        parts,
        |range, parts| {
            // The takers' buffers receive the missing lines, in order, as relabelled below.
            let (mut sources, mut others) = (Vec::new(), Vec::new());
            for (&p, part) in positions.iter().zip(parts) {
                if p < k {
                    sources.push((p, &*part));
                } else {
                    others.push((p, part));
                }
            }
            code.decode_in_place(range.len(), &sources, &mut others);
        },
        |_, ()| Ok(()),
    )
    .expect("decoding does no I/O");
    for (&taker, &j) in takers.iter().zip(&missing) {
        lines[taker].0 = SliverIndex::new(j as u16);
    }
    let checked = match inputs {
        Inputs::Verified if A::IS_PRIMARY => takers,
        // Rows from secondary slivers are all decoded, so all are checked either way.
        _ => (0..lines.len()).collect(),
    };
    if A::IS_PRIMARY {
        // Nobody reads past the blob's end: the rows can be zeroed there before anyone does.
        for (index, row) in lines.iter_mut() {
            zero_padding(&layout, index.as_usize(), row);
        }
    }
    Ok(checked)
}

/// The check of [`decode_in_place`]: lines are rows (primary, their padding zeroed, of which
/// those at `checked` are checked) or columns (secondary: every row was decoded and is
/// gathered from them).
fn lines_consistent<A: Axis>(
    metadata: &VerifiedMetadata,
    lines: &[(SliverIndex<A>, &[u8])],
    checked: &[usize],
) -> bool {
    let layout = metadata.layout();
    let s = layout.s();
    let kp = usize::from(layout.params().primary_source_symbols());
    if A::IS_PRIMARY {
        let rows: Vec<(SliverIndex<Primary>, &[u8])> =
            checked.iter().map(|&i| (SliverIndex::new(lines[i].0.get()), lines[i].1)).collect();
        rows.par_chunks(CHECKED_TOGETHER).all(|rows| lines_match(rows, metadata).into_iter().all(|ok| ok))
    } else {
        let mut columns: Vec<&[u8]> = vec![&[]; lines.len()];
        for (index, data) in lines {
            columns[index.as_usize()] = data;
        }
        let rows: Vec<usize> = (0..kp).collect();
        rows.par_chunks(CHECKED_TOGETHER).all(|rows| {
            let gathered: Vec<Vec<u8>> = rows
                .iter()
                .map(|&r| {
                    let mut row: Vec<u8> = columns.iter().flat_map(|c| &c[r * s..(r + 1) * s]).copied().collect();
                    zero_padding(&layout, r, &mut row);
                    row
                })
                .collect();
            let lines: Vec<(SliverIndex<Primary>, &[u8])> =
                rows.iter().zip(&gathered).map(|(&r, row)| (SliverIndex::new(r as u16), &row[..])).collect();
            lines_match(&lines, metadata).into_iter().all(|ok| ok)
        })
    }
}

/// Row `r` of the blob as the metadata hashed it: zero past the blob's end.
fn zero_padding(layout: &BlobLayout, r: usize, row: &mut [u8]) {
    let (len, row_len) = (layout.unencoded_length() as usize, layout.sliver_length::<Primary>());
    row[len.saturating_sub(r * row_len).min(row_len)..].fill(0);
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
