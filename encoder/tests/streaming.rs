//! Encoding straight from a file gives exactly what encoding from memory gives.

mod common;

use std::io::Write;

use walrus_encoder::{BlobEncoder, EncodingParams, FileEncoder, Primary, SliverIndex, SliverSink};

/// Collects the symbols of the slivers a sink receives, per sliver index.
struct Collect {
    symbol_size: usize,
    primary: std::collections::BTreeMap<u16, Vec<u8>>,
    secondary: std::collections::BTreeMap<u16, Vec<u8>>,
}

impl SliverSink for Collect {
    fn primary(&mut self, index: SliverIndex<Primary>, first: usize, symbols: &[u8]) -> std::io::Result<()> {
        let sliver = self.primary.entry(index.get()).or_default();
        let at = first * self.symbol_size;
        if sliver.len() < at + symbols.len() {
            sliver.resize(at + symbols.len(), 0);
        }
        sliver[at..at + symbols.len()].copy_from_slice(symbols);
        Ok(())
    }

    fn secondary(
        &mut self,
        index: walrus_encoder::SliverIndex<walrus_encoder::Secondary>,
        symbols: Vec<u8>,
    ) -> std::io::Result<()> {
        assert!(self.secondary.insert(index.get(), symbols).is_none(), "secondary sliver sent twice");
        Ok(())
    }
}

#[test]
fn file_and_memory_encodings_agree() {
    for (n, len) in [(4, 0), (4, 1), (10, 999), (13, 44_000), (100, 300_001), (301, 2_000_000)] {
        let blob = common::splitmix64(len as u64 + 3, len);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&blob).unwrap();
        // Trailing bytes past the stated length are not part of the blob.
        file.write_all(b"trailing").unwrap();
        let params = EncodingParams::new(n).unwrap();

        let from_file = FileEncoder::new(params, &file, len as u64).unwrap();
        let mut sink = Collect {
            symbol_size: from_file.layout().symbol_size().into(),
            primary: Default::default(),
            secondary: Default::default(),
        };
        let metadata = from_file.write_slivers(&mut sink).unwrap();
        let expected = BlobEncoder::new(params, &blob).unwrap().encode();
        assert_eq!(metadata, expected.metadata, "n={n} len={len}");
        assert_eq!(from_file.compute_metadata().unwrap(), expected.metadata, "n={n} len={len}");
        for pair in &expected.pairs {
            assert_eq!(sink.primary[&pair.primary.index().get()], pair.primary.data(), "n={n} len={len}");
            assert_eq!(sink.secondary[&pair.secondary.index().get()], pair.secondary.data(), "n={n} len={len}");
        }
    }
}

#[test]
fn a_file_shorter_than_stated_is_an_error_not_a_panic() {
    let mut file = tempfile::tempfile().unwrap();
    file.write_all(&[1u8; 1000]).unwrap();
    let encoder = FileEncoder::new(EncodingParams::new(10).unwrap(), &file, 5000).unwrap();
    let err = encoder.compute_metadata().unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
}
