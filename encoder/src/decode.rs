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
use crate::sliver::Sliver;

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
    let layout = metadata.layout();
    if out.len() as u64 != layout.unencoded_length() {
        return Err(Error::WrongOutputLength { got: out.len(), expected: layout.unencoded_length() });
    }
    let code = Code::across::<A>(&layout);
    let expected_len = layout.sliver_length::<A>();
    let mut chosen: BTreeMap<u16, &Sliver<A>> = BTreeMap::new();
    for sliver in slivers {
        if chosen.len() == code.k {
            break;
        }
        let fits = sliver.index().get() < layout.n_shards()
            && sliver.symbol_size() == layout.symbol_size()
            && sliver.data().len() == expected_len;
        if fits {
            chosen.entry(sliver.index().get()).or_insert(sliver);
        }
    }
    if chosen.len() < code.k {
        return Err(Error::NotEnoughSlivers { axis: A::NAME, got: chosen.len(), needed: code.k });
    }

    let s = layout.s();
    let symbols_per_sliver = usize::from(layout.params().sliver_symbols::<A>());
    let ks = usize::from(layout.params().secondary_source_symbols());
    let row_len = ks * s;
    // The matrix is padded past the blob's end; the padding is not written out.
    let write = |out: &mut [u8], at: usize, bytes: &[u8]| {
        if at < out.len() {
            let end = (at + bytes.len()).min(out.len());
            out[at..end].copy_from_slice(&bytes[..end - at]);
        }
    };
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
                    write(out, j * row_len + range.start * s, line);
                } else {
                    // Source line j is column j, rows `range`.
                    for (w, symbol) in line.chunks_exact(s).enumerate() {
                        write(out, (range.start + w) * row_len + j * s, symbol);
                    }
                }
            }
            Ok(())
        },
    )
    .expect("decoding does no I/O");

    match check {
        ConsistencyCheck::Skip => {}
        ConsistencyCheck::Default => {
            let kp = usize::from(layout.params().primary_source_symbols());
            let out = &*out;
            let consistent = (0..kp).into_par_iter().all(|r| {
                if A::IS_PRIMARY && chosen.contains_key(&(r as u16)) {
                    return true;
                }
                // The row as the decoded blob gives it, zero-padded like the encoder pads.
                let mut row = vec![0u8; row_len];
                write(&mut row, 0, &out[(r * row_len).min(out.len())..((r + 1) * row_len).min(out.len())]);
                Sliver::<Primary>::new(SliverIndex::new(r as u16), layout.symbol_size(), row).verify(metadata).is_ok()
            });
            if !consistent {
                return Err(Error::InconsistentBlob);
            }
        }
        ConsistencyCheck::Strict => {
            let recomputed = BlobEncoder::new(layout.params(), out)?.compute_metadata();
            if recomputed.blob_id() != metadata.blob_id() {
                return Err(Error::InconsistentBlob);
            }
        }
    }
    Ok(())
}
