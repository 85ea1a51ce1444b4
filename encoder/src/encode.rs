//! Encoding: blob bytes → message matrix → expanded matrix → leaf hashes → sliver hashes →
//! blob ID, with the slivers handed to a [`SliverSink`] as they are produced.
//!
//! The expanded matrix `E` (n × n symbols) is produced in three strips, each a batch of
//! codewords coded per call (see [`crate::rs`]), and never held whole:
//! 1. the systematic columns `c < ks`, primary-encoded: yields the non-systematic rows
//!    (primary slivers `kp..n`) strip by strip;
//! 2. the systematic rows `r < kp`, secondary-encoded: yields the non-systematic columns
//!    (secondary slivers `ks..n`), kept until step 3;
//! 3. those columns, primary-encoded: the doubly-encoded quadrant, needed only for hashing.
//!
//! Every symbol is leaf-hashed once; a symbol's leaf hash serves both its row tree and its
//! column tree, so the `n²` leaf hashes are computed once, not twice.

use std::borrow::Cow;
use std::fs::File;
use std::io;
use std::ops::Range;
use std::os::unix::fs::FileExt;

use rayon::prelude::*;

use crate::axis::{Primary, Secondary};
use crate::batch::{advise_huge_pages, batches, parts_per_batch, run_batches};
use crate::blob_id::BlobId;
use crate::error::Result;
use crate::hash::{leaf_hashes_of_lines, parent_rows, zeroed_digests, Digest};
use crate::index::{SliverIndex, SliverPairIndex};
use crate::merkle::{root_of_leaf_hashes, Node};
use crate::metadata::{
    BlobMetadata, BlobMetadataV1, BlobMetadataWithId, EncodingType, SliverPairMetadata, VerifiedMetadata,
};
use crate::params::{BlobLayout, EncodingParams};
use crate::rs::Code;
use crate::scratch::{Lines, Scratch};
use crate::sliver::{Sliver, SliverPair};

/// Receives slivers as the encoder produces them.
pub trait SliverSink: Send {
    /// Symbols `first_symbol..` of primary sliver `index`. Every symbol of every primary sliver
    /// arrives exactly once, in no particular order.
    fn primary(&mut self, index: SliverIndex<Primary>, first_symbol: usize, symbols: &[u8]) -> io::Result<()>;
    /// The whole of secondary sliver `index`.
    fn secondary(&mut self, index: SliverIndex<Secondary>, symbols: Vec<u8>) -> io::Result<()>;
    /// `done` of `total` units of work are finished.
    fn progress(&mut self, _done: usize, _total: usize) {}
    /// The systematic primary slivers `0..rows.len()` whole (the blob's rows, when it is in
    /// memory); a sink may take them all at once.
    fn systematic_primary(&mut self, rows: &[&[u8]]) -> io::Result<()> {
        for (r, row) in rows.iter().enumerate() {
            self.primary(SliverIndex::new(r as u16), 0, row)?;
        }
        Ok(())
    }
}

/// A blob with all its sliver pairs (in pair order) and its metadata.
#[derive(Debug, Clone)]
pub struct EncodedBlob {
    pub pairs: Vec<SliverPair>,
    pub metadata: VerifiedMetadata,
}

/// Encodes `blob` for a committee of `n_shards` shards.
pub fn encode(n_shards: u16, blob: &[u8]) -> Result<EncodedBlob> {
    Ok(BlobEncoder::new(EncodingParams::new(n_shards)?, blob)?.encode())
}

/// The metadata and blob ID of `blob`, without keeping slivers.
pub fn compute_metadata(n_shards: u16, blob: &[u8]) -> Result<VerifiedMetadata> {
    Ok(BlobEncoder::new(EncodingParams::new(n_shards)?, blob)?.compute_metadata())
}

/// The padded message matrix: `kp` rows of `ks` symbols, read row-major from the blob, which
/// lies in memory or in a file. A file is read block by block as the strips need it, so the
/// blob never has to be in memory whole.
enum Message<'a> {
    Memory { rows: Vec<Cow<'a, [u8]>>, s: usize },
    File { file: &'a File, layout: BlobLayout },
}

/// A rectangle of the message matrix: one slice of `cols` symbols per row.
struct Block<'a> {
    rows: BlockRows<'a>,
    s: usize,
}

enum BlockRows<'a> {
    /// Slices of the blob in memory.
    Borrowed(Vec<&'a [u8]>),
    /// Read from the file.
    Read(Lines),
}

impl Block<'_> {
    fn row(&self, r: usize) -> &[u8] {
        match &self.rows {
            BlockRows::Borrowed(rows) => rows[r],
            BlockRows::Read(lines) => lines.line(r),
        }
    }

    fn symbol(&self, r: usize, w: usize) -> &[u8] {
        &self.row(r)[w * self.s..(w + 1) * self.s]
    }
}

impl<'a> Message<'a> {
    fn in_memory(layout: &BlobLayout, blob: &'a [u8]) -> Self {
        let row_len = layout.sliver_length::<Primary>();
        let kp = usize::from(layout.params().primary_source_symbols());
        let rows = (0..kp)
            .map(|r| {
                let start = (r * row_len).min(blob.len());
                let end = ((r + 1) * row_len).min(blob.len());
                if end - start == row_len {
                    Cow::Borrowed(&blob[start..end])
                } else {
                    let mut row = vec![0u8; row_len];
                    row[..end - start].copy_from_slice(&blob[start..end]);
                    Cow::Owned(row)
                }
            })
            .collect();
        Message::Memory { rows, s: layout.s() }
    }

    /// Row `r` of the matrix, copied into `buf` (reused: a fresh row-sized buffer for every
    /// row would churn the allocator).
    fn row_into<'b>(&self, r: usize, buf: &'b mut Vec<u8>) -> io::Result<&'b [u8]> {
        buf.clear();
        match self {
            Message::Memory { rows, .. } => buf.extend_from_slice(&rows[r]),
            Message::File { file, layout } => {
                let row_len = layout.sliver_length::<Primary>();
                let start = (r * row_len) as u64;
                let present = layout.unencoded_length().saturating_sub(start).min(row_len as u64) as usize;
                buf.resize(row_len, 0);
                file.read_exact_at(&mut buf[..present], start)?;
            }
        }
        Ok(buf)
    }

    /// Rows `rows`, columns `cols` of the matrix (zero past the blob's end).
    fn block(&self, rows: Range<usize>, cols: Range<usize>) -> io::Result<Block<'_>> {
        match self {
            Message::Memory { rows: all, s } => Ok(Block {
                rows: BlockRows::Borrowed(all[rows].iter().map(|row| &row[cols.start * s..cols.end * s]).collect()),
                s: *s,
            }),
            Message::File { file, layout } => {
                let (s, len) = (layout.s(), layout.unencoded_length());
                let (matrix_row_len, row_len) = (layout.sliver_length::<Primary>() as u64, cols.len() * s);
                let mut lines = Lines::new(row_len, rows.len());
                for (r, row) in rows.zip(lines.iter_mut()) {
                    let start = r as u64 * matrix_row_len + (cols.start * s) as u64;
                    let present = len.saturating_sub(start).min(row_len as u64) as usize;
                    file.read_exact_at(&mut row[..present], start)?;
                    row[present..].fill(0);
                }
                Ok(Block { rows: BlockRows::Read(lines), s })
            }
        }
    }
}

/// Leaf hashes of all `n²` symbols of the expanded matrix, row-major.
struct LeafMatrix {
    n: usize,
    hashes: Vec<Digest>,
}

impl LeafMatrix {
    /// Stores the hashes of a rectangle given row by row (`rows` × `cols`).
    fn store(&mut self, rows: Range<usize>, cols: Range<usize>, hashes: &[Digest]) {
        let width = cols.len();
        for (r, chunk) in rows.zip(hashes.chunks_exact(width)) {
            self.hashes[r * self.n + cols.start..r * self.n + cols.end].copy_from_slice(chunk);
        }
    }

    fn row_roots(&self) -> Vec<Node> {
        self.hashes.par_chunks_exact(self.n).map(|row| root_of_leaf_hashes(row.to_vec())).collect()
    }

    /// Reduces all column trees at once, level by level, over whole rows. The levels take
    /// turns in two buffers (the leaves' and one half their size): fresh memory for every
    /// level would cost as many page faults as the leaves themselves.
    fn into_column_roots(self) -> Vec<Node> {
        let n = self.n;
        let mut leaves = self.hashes;
        let mut rows = leaves.len() / n;
        let mut other = zeroed_digests(rows.div_ceil(2) * n);
        advise_huge_pages(as_bytes(&other));
        let mut in_leaves = true;
        while rows > 1 {
            let rows_out = rows.div_ceil(2);
            let chunk_rows = rows_out.div_ceil(4 * rayon::current_num_threads());
            let (level, next) = if in_leaves {
                (&leaves[..rows * n], &mut other[..rows_out * n])
            } else {
                (&other[..rows * n], &mut leaves[..rows_out * n])
            };
            next.par_chunks_mut(chunk_rows * n).enumerate().for_each(|(i, out)| {
                let input = &level[2 * i * chunk_rows * n..level.len().min(2 * (i + 1) * chunk_rows * n)];
                parent_rows(input, n, out);
            });
            rows = rows_out;
            in_leaves = !in_leaves;
        }
        let root_row = if in_leaves { &leaves[..n] } else { &other[..n] };
        root_row.iter().map(|d| Node::Digest(*d)).collect()
    }
}

/// Leaf hashes of `lines` of `width` symbols each, line after line.
fn hash_lines(lines: &[&[u8]], s: usize, width: usize) -> Vec<Digest> {
    let mut hashes = zeroed_digests(lines.len() * width);
    leaf_hashes_of_lines(lines, s, &mut hashes);
    hashes
}

/// One input per batch: the batch's item of `parts` where there are parts, else `None`.
fn per_batch<T>(parts: Option<impl IntoIterator<Item = T>>) -> impl Iterator<Item = Option<T>> {
    parts.into_iter().flatten().map(Some).chain(std::iter::repeat_with(|| None))
}

fn as_bytes(digests: &[Digest]) -> &[u8] {
    digests.as_flattened()
}

/// Encodes one blob held in memory. Construction checks the parameters, so encoding itself
/// cannot fail (except in the sink).
pub struct BlobEncoder<'a> {
    layout: BlobLayout,
    blob: &'a [u8],
}

/// Encodes a blob read from a file as encoding proceeds: the blob is never held whole.
pub struct FileEncoder<'a> {
    layout: BlobLayout,
    file: &'a File,
}

impl<'a> FileEncoder<'a> {
    /// The blob is the first `len` bytes of `file`.
    pub fn new(params: EncodingParams, file: &'a File, len: u64) -> Result<Self> {
        Ok(Self { layout: params.for_blob(len)?, file })
    }

    pub fn layout(&self) -> BlobLayout {
        self.layout
    }

    pub fn compute_metadata(&self) -> io::Result<VerifiedMetadata> {
        run(&self.layout, &self.message(), Output::Metadata(None))
    }

    /// [`Self::compute_metadata`], calling `progress(done, total)` as work finishes: reading and
    /// hashing a large file takes long enough for a user to want to see it move.
    pub fn compute_metadata_with_progress(&self, progress: Progress) -> io::Result<VerifiedMetadata> {
        run(&self.layout, &self.message(), Output::Metadata(Some(progress)))
    }

    /// Streams the slivers to `sink` and returns the metadata.
    pub fn write_slivers(&self, sink: &mut dyn SliverSink) -> io::Result<VerifiedMetadata> {
        run(&self.layout, &self.message(), Output::Sink(sink))
    }

    fn message(&self) -> Message<'a> {
        Message::File { file: self.file, layout: self.layout }
    }
}

impl<'a> BlobEncoder<'a> {
    pub fn new(params: EncodingParams, blob: &'a [u8]) -> Result<Self> {
        Ok(Self { layout: params.for_blob(blob.len() as u64)?, blob })
    }

    pub fn layout(&self) -> BlobLayout {
        self.layout
    }

    /// All sliver pairs and the metadata, in memory (about 4.5 times the blob).
    pub fn encode(&self) -> EncodedBlob {
        let mut slivers = InMemory::new(&self.layout);
        let metadata =
            run(&self.layout, &self.message(), Output::Memory(&mut slivers)).expect("memory cannot fail to read");
        EncodedBlob { pairs: slivers.into_pairs(&self.layout), metadata }
    }

    pub fn compute_metadata(&self) -> VerifiedMetadata {
        run(&self.layout, &self.message(), Output::Metadata(None)).expect("no sink, no I/O")
    }

    /// [`Self::compute_metadata`], calling `progress(done, total)` as work finishes.
    pub fn compute_metadata_with_progress(&self, progress: Progress) -> VerifiedMetadata {
        run(&self.layout, &self.message(), Output::Metadata(Some(progress))).expect("no sink, no I/O")
    }

    /// Streams the slivers to `sink` and returns the metadata.
    pub fn write_slivers(&self, sink: &mut dyn SliverSink) -> io::Result<VerifiedMetadata> {
        run(&self.layout, &self.message(), Output::Sink(sink))
    }

    fn message(&self) -> Message<'a> {
        Message::in_memory(&self.layout, self.blob)
    }
}

/// Told `(done, total)` units of work as encoding proceeds.
pub type Progress<'p> = &'p mut (dyn FnMut(usize, usize) + Send);

/// Where the slivers go.
enum Output<'s> {
    /// Nowhere: only the metadata is wanted (with progress reports, if asked for).
    Metadata(Option<Progress<'s>>),
    Sink(&'s mut dyn SliverSink),
    Memory(&'s mut InMemory),
}

/// The encoding proper, from either kind of message.
fn run(layout: &BlobLayout, message: &Message, output: Output) -> io::Result<VerifiedMetadata> {
    let p = layout.params();
    let (n, kp, ks) =
        (usize::from(p.n_shards()), usize::from(p.primary_source_symbols()), usize::from(p.secondary_source_symbols()));
    let s = layout.s();
    let primary_code = Code::across::<Primary>(layout);
    let secondary_code = Code::across::<Secondary>(layout);
    let mut leaves = LeafMatrix { n, hashes: zeroed_digests(n * n) };
    advise_huge_pages(as_bytes(&leaves.hashes));
    let want_slivers = !matches!(output, Output::Metadata(_));
    let (mut sink, mut progress, primary_slivers, secondary_slivers) = match output {
        Output::Metadata(progress) => (None, progress, None, None),
        Output::Sink(sink) => (Some(sink), None, None, None),
        Output::Memory(InMemory { primary, secondary }) => (None, None, Some(primary), Some(secondary)),
    };

    let strip1 = batches(ks, n, s);
    let strip2 = batches(kp, n, s);
    let strip3 = batches(n - ks, n, s);
    let total = strip1.len() + strip2.len() + strip3.len() + 1;
    let mut done = 0;
    let mut tick = |sink: &mut Option<&mut dyn SliverSink>| {
        done += 1;
        if let Some(sink) = sink {
            sink.progress(done, total);
        }
        if let Some(progress) = progress.as_mut() {
            progress(done, total);
        }
    };

    let (row_len, column_len) = (ks * s, kp * s);
    // In memory, the secondary slivers go straight into their buffer: the systematic columns as
    // step 1 gathers them, the others as step 2 codes them (and step 3 reads them from there).
    let (systematic_columns, mut columns): (Option<&mut [u8]>, Vec<&mut [u8]>) = match secondary_slivers {
        Some(secondary) => {
            let (systematic, rest) = secondary.split_at_mut(ks * column_len);
            (Some(systematic), rest.chunks_exact_mut(column_len).collect())
        }
        None => (None, Vec::new()),
    };
    // From a file, the systematic primary slivers (the blob's rows) go to the sink during step
    // 2, which has just read them into the page cache: no pass of their own, and no wait for
    // their writing.
    let from_file = matches!(message, Message::File { .. });
    if let (Some(sink), Message::Memory { rows, .. }) = (sink.as_deref_mut(), message) {
        sink.systematic_primary(&rows.iter().map(|r| &r[..]).collect::<Vec<_>>())?;
    }
    // In memory, every primary sliver is written straight into its place, on both cores: the
    // systematic ones here, the others as step 1 codes them.
    let rows_per_batch = match primary_slivers {
        Some(primary) => {
            let (systematic, rest) = primary.split_at_mut(kp * row_len);
            systematic.par_chunks_mut(row_len).enumerate().try_for_each(|(r, sliver)| {
                sliver.copy_from_slice(message.block(r..r + 1, 0..ks)?.row(0));
                io::Result::Ok(())
            })?;
            Some(parts_per_batch(&strip1, rest.chunks_exact_mut(row_len), s))
        }
        None => None,
    };

    // A batch's systematic columns lie side by side.
    let columns_per_batch =
        systematic_columns.map(|columns| columns.chunks_mut(strip1.first().map_or(1, |b| b.len()) * column_len));

    // 1. Systematic columns → non-systematic rows kp..n.
    run_batches(
        &strip1,
        per_batch(rows_per_batch).zip(per_batch(columns_per_batch)),
        |cols, (rows_in_place, columns_in_place): (Option<Vec<&mut [u8]>>, Option<&mut [u8]>)| {
            let block = message.block(0..kp, cols.clone())?;
            let source = |j, w| block.symbol(j, w);
            let (rows, written): (Option<Lines>, Vec<&[u8]>) = match rows_in_place {
                Some(mut rows) => {
                    primary_code.encode_into(cols.len(), source, &mut rows);
                    (None, rows.into_iter().map(|row| &*row).collect())
                }
                None => (Some(primary_code.encode(cols.len(), source)), Vec::new()),
            };
            let coded = rows.iter().flat_map(Lines::iter);
            let lines: Vec<&[u8]> = (0..kp).map(|r| block.row(r)).chain(coded).chain(written).collect();
            let hashes = hash_lines(&lines, s, cols.len());
            let gather = |w, column: &mut [u8]| {
                for (r, symbol) in column.chunks_exact_mut(s).enumerate() {
                    symbol.copy_from_slice(block.symbol(r, w));
                }
            };
            let columns: Vec<Vec<u8>> = match columns_in_place {
                Some(in_place) => {
                    in_place.chunks_exact_mut(column_len).enumerate().for_each(|(w, column)| gather(w, column));
                    Vec::new()
                }
                None if want_slivers => (0..cols.len())
                    .map(|w| {
                        let mut column = vec![0u8; column_len];
                        gather(w, &mut column);
                        column
                    })
                    .collect(),
                None => Vec::new(),
            };
            io::Result::Ok((rows, hashes, columns))
        },
        |cols, result| {
            let (rows, hashes, columns) = result?;
            leaves.store(0..n, cols.clone(), &hashes);
            if let Some(sink) = sink.as_deref_mut() {
                for (t, row) in rows.iter().flat_map(Lines::iter).enumerate() {
                    sink.primary(SliverIndex::new((kp + t) as u16), cols.start, row)?;
                }
                for (c, column) in cols.zip(columns) {
                    sink.secondary(SliverIndex::new(c as u16), column)?;
                }
            }
            tick(&mut sink);
            Ok(())
        },
    )?;
    // Each step cuts strips of its own sizes: one step's buffers would sit through the next.
    Scratch::release_pool();

    // 2. Systematic rows → non-systematic columns ks..n, kept whole for step 3 and coded
    // straight into place. Not `vec![vec![..]; m]` when they are our own: that would copy a
    // zeroed buffer m times instead of taking fresh zero pages.
    let mut own_columns: Vec<Vec<u8>> = Vec::new();
    let columns_are_own = columns.is_empty();
    if columns_are_own {
        own_columns = (ks..n).map(|_| vec![0u8; column_len]).collect();
        columns = own_columns.iter_mut().map(Vec::as_mut_slice).collect();
    }
    let rows_to_sink = from_file && sink.is_some();
    let mut row_buf = Vec::new();
    run_batches(
        &strip2,
        parts_per_batch(&strip2, columns.iter_mut().map(|column| &mut **column), s),
        |rows, mut cols| {
            let block = message.block(rows.clone(), 0..ks)?;
            secondary_code.encode_into(rows.len(), |j, w| block.symbol(w, j), &mut cols);
            io::Result::Ok(hash_lines(&cols.iter().map(|col| &**col).collect::<Vec<_>>(), s, rows.len()))
        },
        |rows, result| {
            let hashes = result?;
            for (t, hashes) in hashes.chunks_exact(rows.len()).enumerate() {
                // Stored transposed: these hashes run down a column.
                for (w, h) in hashes.iter().enumerate() {
                    leaves.hashes[(rows.start + w) * n + ks + t] = *h;
                }
            }
            if let Some(sink) = sink.as_deref_mut().filter(|_| rows_to_sink) {
                // Each row read again, from the page cache, rather than kept from the work:
                // a group of batches' rows waiting here is about 10 MB more at the peak of a
                // 256 MiB encoding, when the columns are all but complete.
                for r in rows {
                    sink.primary(SliverIndex::new(r as u16), 0, message.row_into(r, &mut row_buf)?)?;
                }
            }
            tick(&mut sink);
            Ok(())
        },
    )?;
    Scratch::release_pool();

    // 3. The doubly-encoded quadrant, for its hashes only. Each batch's columns are done with
    // once it is hashed: our own go to the sink (or are freed) batch by batch, so their writing
    // overlaps the coding of the next.
    let columns: Vec<Cow<[u8]>> = if columns_are_own {
        drop(columns);
        own_columns.into_iter().map(Cow::Owned).collect()
    } else {
        columns.into_iter().map(|column| Cow::Borrowed(&*column)).collect()
    };
    let mut columns = columns.into_iter();
    run_batches(
        &strip3,
        strip3.iter().map(|ts| columns.by_ref().take(ts.len()).collect::<Vec<_>>()),
        |ts, columns| {
            let rows = primary_code.encode(ts.len(), |j, w| &columns[w][j * s..(j + 1) * s]);
            (hash_lines(&rows.iter().collect::<Vec<_>>(), s, ts.len()), columns)
        },
        |ts, (hashes, columns)| {
            leaves.store(kp..n, ks + ts.start..ks + ts.end, &hashes);
            if let Some(sink) = sink.as_deref_mut() {
                for (t, column) in ts.zip(columns) {
                    if let Cow::Owned(column) = column {
                        sink.secondary(SliverIndex::new((ks + t) as u16), column)?;
                    }
                }
            }
            tick(&mut sink);
            Ok(())
        },
    )?;

    // The strips are done: their buffers would only sit in memory from here on.
    Scratch::release_pool();
    let row_roots = leaves.row_roots();
    let column_roots = leaves.into_column_roots();
    tick(&mut sink);
    let hashes = (0..n)
        .map(|p| SliverPairMetadata { primary_hash: row_roots[p], secondary_hash: column_roots[n - 1 - p] })
        .collect();
    let metadata = BlobMetadata::V1(BlobMetadataV1 {
        encoding_type: EncodingType::RS2,
        unencoded_length: layout.unencoded_length(),
        hashes,
    });
    let blob_id: BlobId = metadata.compute_blob_id();
    Ok(VerifiedMetadata::new_unchecked(BlobMetadataWithId { blob_id, metadata }, *layout))
}

/// Every sliver in memory, in two buffers that the encoder writes straight into, on all cores.
/// The kernel may back the primary one with huge pages: filling 4.5 times the blob in fresh
/// memory otherwise costs a page fault per 4 KiB. Not the secondary one: measured on the
/// benchmark machine (a VM), huge pages there cost more kernel time than they saved.
struct InMemory {
    primary: Vec<u8>,
    secondary: Vec<u8>,
}

impl InMemory {
    fn new(layout: &BlobLayout) -> Self {
        let n = usize::from(layout.n_shards());
        let primary = vec![0u8; n * layout.sliver_length::<Primary>()];
        advise_huge_pages(&primary);
        Self { primary, secondary: vec![0u8; n * layout.sliver_length::<Secondary>()] }
    }

    fn into_pairs(self, layout: &BlobLayout) -> Vec<SliverPair> {
        let n = layout.n_shards();
        let (primary_len, secondary_len) = (layout.sliver_length::<Primary>(), layout.sliver_length::<Secondary>());
        let primary = bytes::Bytes::from(self.primary);
        let secondary = bytes::Bytes::from(self.secondary);
        (0..n)
            .map(|p| {
                let pair = SliverPairIndex(p);
                let (primary_index, secondary_index) = (pair.primary(), pair.secondary(n));
                let (at, sec_at) = (primary_index.as_usize() * primary_len, secondary_index.as_usize() * secondary_len);
                SliverPair {
                    primary: Sliver::new(primary_index, layout.symbol_size(), primary.slice(at..at + primary_len)),
                    secondary: Sliver::new(
                        secondary_index,
                        layout.symbol_size(),
                        secondary.slice(sec_at..sec_at + secondary_len),
                    ),
                }
            })
            .collect()
    }
}
