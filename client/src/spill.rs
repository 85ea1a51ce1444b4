//! A store's slivers, spilled to an unlinked temporary file as the encoder produces them, so a
//! store holds about the encoder's working memory instead of all slivers (4.5 times the blob).
//! Uploads read each sliver back as they send it: the bytes come from the page cache, and
//! memory stays bounded by the slivers in flight.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

use walrus_encoder::{
    Axis, BlobEncoder, EncodingParams, FileEncoder, Primary, Secondary, Sliver, SliverIndex, SliverPairIndex,
    SliverSink, VerifiedMetadata,
};

/// Every sliver of one blob in a temporary file: primary sliver `i` at `i * primary_len`, the
/// secondary ones after all primary ones. The file is deleted when this is dropped.
pub struct SpilledSlivers {
    file: File,
    n_shards: u16,
    symbol_size: u16,
    primary_len: usize,
    secondary_len: usize,
}

/// Where the encoder's output goes.
struct Sink<'a> {
    file: &'a File,
    symbol_size: usize,
    primary_len: u64,
    secondary_start: u64,
    secondary_len: u64,
}

impl SliverSink for Sink<'_> {
    fn primary(&mut self, index: SliverIndex<Primary>, first_symbol: usize, symbols: &[u8]) -> io::Result<()> {
        let at = u64::from(index.get()) * self.primary_len + (first_symbol * self.symbol_size) as u64;
        self.file.write_all_at(symbols, at)
    }

    fn secondary(&mut self, index: SliverIndex<Secondary>, symbols: Vec<u8>) -> io::Result<()> {
        self.file.write_all_at(&symbols, self.secondary_start + u64::from(index.get()) * self.secondary_len)
    }
}

/// The blob to encode.
pub enum Source<'a> {
    Memory(&'a [u8]),
    /// The first `len` bytes of a file, read block by block as encoding needs them.
    File {
        file: &'a File,
        len: u64,
    },
}

/// Why encoding into a spill failed.
#[derive(Debug, thiserror::Error)]
pub enum SpillError {
    #[error(transparent)]
    Encode(#[from] walrus_encoder::Error),
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl SpilledSlivers {
    /// Encodes `source` for `n_shards` shards, the slivers into a new temporary file.
    pub fn encode(n_shards: u16, source: Source) -> Result<(VerifiedMetadata, Self), SpillError> {
        let params = EncodingParams::new(n_shards)?;
        let layout = match source {
            Source::Memory(blob) => params.for_blob(blob.len() as u64)?,
            Source::File { len, .. } => params.for_blob(len)?,
        };
        let (primary_len, secondary_len) = (layout.sliver_length::<Primary>(), layout.sliver_length::<Secondary>());
        let file = tempfile::tempfile()?;
        let n = u64::from(n_shards);
        let mut sink = Sink {
            file: &file,
            symbol_size: usize::from(layout.symbol_size()),
            primary_len: primary_len as u64,
            secondary_start: n * primary_len as u64,
            secondary_len: secondary_len as u64,
        };
        let metadata = match source {
            Source::Memory(blob) => BlobEncoder::new(params, blob)?.write_slivers(&mut sink)?,
            Source::File { file: input, len } => FileEncoder::new(params, input, len)?.write_slivers(&mut sink)?,
        };
        let spilled = Self { file, n_shards, symbol_size: layout.symbol_size(), primary_len, secondary_len };
        Ok((metadata, spilled))
    }

    /// Bytes of all slivers.
    pub fn total_bytes(&self) -> u64 {
        u64::from(self.n_shards) * (self.primary_len + self.secondary_len) as u64
    }

    /// Bytes of the sliver of axis `A`.
    pub fn sliver_len<A: Axis>(&self) -> usize {
        if A::IS_PRIMARY {
            self.primary_len
        } else {
            self.secondary_len
        }
    }

    /// The BCS form of pair `pair`'s sliver of axis `A`, as a node takes it in a PUT, read from
    /// the file straight into the request body.
    pub fn sliver_bcs<A: Axis>(&self, pair: SliverPairIndex) -> io::Result<Vec<u8>> {
        let index = pair.sliver::<A>(self.n_shards);
        let len = self.sliver_len::<A>();
        let at = if A::IS_PRIMARY {
            u64::from(index.get()) * self.primary_len as u64
        } else {
            u64::from(self.n_shards) * self.primary_len as u64 + u64::from(index.get()) * self.secondary_len as u64
        };
        let (prefix, suffix) = Sliver::<A>::bcs_frame(len, self.symbol_size, index);
        let mut body = Vec::with_capacity(prefix.len() + len + suffix.len());
        body.extend_from_slice(&prefix);
        body.resize(prefix.len() + len, 0);
        self.file.read_exact_at(&mut body[prefix.len()..], at)?;
        body.extend_from_slice(&suffix);
        Ok(body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Spilled slivers are byte for byte the encoder's own, from memory and from a file.
    #[test]
    fn spilled_slivers_match_the_in_memory_encoding() {
        let blob: Vec<u8> = (0..100_003u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
        let n_shards = 31;
        let expected = walrus_encoder::encode(n_shards, &blob).unwrap();
        let mut input = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut input, &blob).unwrap();
        let sources = [Source::Memory(&blob), Source::File { file: &input, len: blob.len() as u64 }];
        for source in sources {
            let (metadata, spilled) = SpilledSlivers::encode(n_shards, source).unwrap();
            assert_eq!(metadata.blob_id(), expected.metadata.blob_id());
            for (p, pair) in expected.pairs.iter().enumerate() {
                let index = SliverPairIndex(p as u16);
                assert_eq!(spilled.sliver_bcs::<Primary>(index).unwrap(), pair.primary.to_bcs(), "primary {p}");
                assert_eq!(spilled.sliver_bcs::<Secondary>(index).unwrap(), pair.secondary.to_bcs(), "secondary {p}");
            }
            let sizes: usize = expected.pairs.iter().map(|p| p.primary.data().len() + p.secondary.data().len()).sum();
            assert_eq!(spilled.total_bytes(), sizes as u64);
        }
    }
}
