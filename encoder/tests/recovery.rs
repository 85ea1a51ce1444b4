//! Verification, decoding and recovery: the happy paths and every way they refuse input.

mod common;

use walrus_encoder::{
    decode, encode, recover_sliver, recover_slivers_unproven, BlobId, BlobMetadata, BlobMetadataV1, BlobMetadataWithId,
    ConsistencyCheck, EncodedBlob, Error, Inputs, Primary, RecoveryError, RecoverySymbol, Secondary, Sliver,
    SliverIndex, SliverPairIndex,
};

fn encoded(n: u16, len: usize) -> (Vec<u8>, EncodedBlob) {
    let blob = common::splitmix64(u64::from(n) * 7 + len as u64, len);
    let encoded = encode(n, &blob).unwrap();
    (blob, encoded)
}

fn flip_byte<A: walrus_encoder::Axis>(sliver: &Sliver<A>, at: usize) -> Sliver<A> {
    let mut bcs = sliver.to_bcs();
    let prefix = bcs.len() - sliver.data().len() - 4;
    bcs[prefix + at] ^= 0x01;
    Sliver::from_bcs(&bcs).unwrap()
}

#[test]
fn every_sliver_verifies_and_a_flipped_byte_is_caught() {
    let (_, enc) = encoded(13, 5000);
    for pair in &enc.pairs {
        pair.primary.verify(&enc.metadata).unwrap();
        pair.secondary.verify(&enc.metadata).unwrap();
    }
    let bad = flip_byte(&enc.pairs[4].primary, 3);
    assert_eq!(bad.verify(&enc.metadata), Err(Error::SliverHashMismatch(SliverPairIndex(4))));
    // Pair 4 holds secondary sliver 13 - 1 - 4 = 8.
    let bad = flip_byte(&enc.pairs[4].secondary, 0);
    assert_eq!(bad.verify(&enc.metadata), Err(Error::SliverHashMismatch(SliverPairIndex(4))));
}

#[test]
fn slivers_of_the_wrong_shape_are_refused() {
    let (_, enc) = encoded(10, 1000);
    let good = &enc.pairs[2].primary;
    let reframe = |data: &[u8], symbol_size: u16, index: u16| {
        let (prefix, suffix) = Sliver::<Primary>::bcs_frame(data.len(), symbol_size, SliverIndex::new(index));
        Sliver::<Primary>::from_bcs(&[prefix.as_slice(), data, &suffix].concat()).unwrap()
    };
    let short = reframe(&good.data()[..good.data().len() - 2], good.symbol_size(), 2);
    assert!(matches!(short.verify(&enc.metadata), Err(Error::WrongSliverLength { .. })));
    let wrong_size = reframe(good.data(), good.symbol_size() + 2, 2);
    assert!(matches!(wrong_size.verify(&enc.metadata), Err(Error::WrongSymbolSize { .. })));
    let out_of_range = reframe(good.data(), good.symbol_size(), 10);
    assert_eq!(out_of_range.verify(&enc.metadata), Err(Error::IndexOutOfRange { index: 10, n_shards: 10 }));
    // The right bytes under another index do not verify either.
    let moved = reframe(good.data(), good.symbol_size(), 3);
    assert_eq!(moved.verify(&enc.metadata), Err(Error::SliverHashMismatch(SliverPairIndex(3))));
}

#[test]
fn decodes_from_any_sufficient_subset_of_either_axis() {
    let (blob, enc) = encoded(31, 100_000);
    let (kp, ks) = (11, 21);
    let primary: Vec<Sliver<Primary>> = enc.pairs.iter().rev().step_by(2).map(|p| p.primary.clone()).collect();
    assert_eq!(decode(&enc.metadata, &primary[..kp], ConsistencyCheck::Strict).unwrap(), blob);
    let secondary: Vec<Sliver<Secondary>> = enc.pairs.iter().skip(5).map(|p| p.secondary.clone()).collect();
    assert_eq!(decode(&enc.metadata, &secondary[..ks], ConsistencyCheck::Default).unwrap(), blob);

    // Too few, or enough only by repeating one sliver.
    assert_eq!(
        decode(&enc.metadata, &primary[..kp - 1], ConsistencyCheck::Skip),
        Err(Error::NotEnoughSlivers { axis: "primary", got: kp - 1, needed: kp })
    );
    let repeated = vec![primary[0].clone(); kp];
    assert_eq!(
        decode(&enc.metadata, &repeated, ConsistencyCheck::Skip),
        Err(Error::NotEnoughSlivers { axis: "primary", got: 1, needed: kp })
    );
}

/// `decode` skips slivers of the wrong shape (an index past the committee, another symbol
/// size, a short sliver), even given first, and decodes from the good ones after them; they do
/// not count towards the `k` needed. Catches the mutants (cargo-mutants) of the shape check in
/// `decode.rs`'s `choose`, which no test gave a misshapen sliver to decode.
#[test]
fn decode_skips_slivers_of_the_wrong_shape() {
    let (blob, enc) = encoded(10, 3000);
    let good: Vec<Sliver<Primary>> = enc.pairs.iter().map(|p| p.primary.clone()).collect();
    let size = good[0].symbol_size();
    let reframe = |data: &[u8], symbol_size: u16, index: u16| {
        let (prefix, suffix) = Sliver::<Primary>::bcs_frame(data.len(), symbol_size, SliverIndex::new(index));
        Sliver::<Primary>::from_bcs(&[prefix.as_slice(), data, &suffix].concat()).unwrap()
    };
    // Garbage of the right length, so a misshapen sliver that were used would show.
    let garbage = vec![0xA5; good[0].data().len()];
    let misshapen = [
        reframe(&garbage, size, 10),
        reframe(&garbage, size + 2, 1),
        reframe(&garbage[..garbage.len() - usize::from(size)], size, 2),
    ];
    // n = 10: 4 primary slivers decode; 5..9 are not systematic, so every row is rebuilt.
    let given: Vec<Sliver<Primary>> = misshapen.iter().chain(&good[5..9]).cloned().collect();
    for check in [ConsistencyCheck::Skip, ConsistencyCheck::Default] {
        assert_eq!(decode(&enc.metadata, &given, check).unwrap(), blob, "{check:?}");
    }
    assert_eq!(
        decode(&enc.metadata, &given[..6], ConsistencyCheck::Skip),
        Err(Error::NotEnoughSlivers { axis: "primary", got: 3, needed: 4 })
    );
}

#[test]
fn a_tampered_input_sliver_fails_the_consistency_check() {
    let (_, enc) = encoded(10, 3000);
    // Slivers 6..10 are all non-systematic, so every row is re-derived and checked.
    let mut slivers: Vec<Sliver<Primary>> = enc.pairs[6..].iter().map(|p| p.primary.clone()).collect();
    slivers[1] = flip_byte(&slivers[1], 5);
    assert_eq!(decode(&enc.metadata, &slivers, ConsistencyCheck::Default), Err(Error::InconsistentBlob));
    assert_eq!(decode(&enc.metadata, &slivers, ConsistencyCheck::Strict), Err(Error::InconsistentBlob));
}

#[test]
fn metadata_is_checked_against_its_blob_id() {
    let (_, enc) = encoded(10, 100);
    let good = enc.metadata.as_metadata_with_id().clone();
    let bytes = good.to_bcs();
    assert_eq!(BlobMetadataWithId::from_bcs(&bytes).unwrap(), good);

    let mut other_id = good.clone();
    other_id.blob_id = BlobId([7; 32]);
    assert!(matches!(other_id.verify(), Err(Error::BlobIdMismatch { .. })));

    let mut longer = good.clone();
    let BlobMetadata::V1(v1) = &mut longer.metadata;
    v1.unencoded_length += 1;
    assert!(matches!(longer.verify(), Err(Error::BlobIdMismatch { .. })));

    let mut too_few = good.clone();
    let BlobMetadata::V1(v1) = &mut too_few.metadata;
    v1.hashes.truncate(3);
    assert!(matches!(too_few.verify(), Err(Error::TooFewShards { got: 3, .. })));

    // Encoding type 0 (the retired RaptorQ code) and trailing bytes are refused.
    let mut raptorq = bytes.clone();
    assert_eq!(raptorq[33], 1);
    raptorq[33] = 0;
    assert!(BlobMetadataWithId::from_bcs(&raptorq).is_err());
    assert!(BlobMetadataWithId::from_bcs(&[bytes.as_slice(), &[0]].concat()).is_err());
    assert!(BlobMetadataWithId::from_bcs(&bytes[..bytes.len() - 1]).is_err());
}

fn symbols_for_primary(enc: &EncodedBlob, target: u16) -> Vec<RecoverySymbol<Primary>> {
    let layout = enc.metadata.layout();
    enc.pairs.iter().map(|p| p.secondary.recovery_symbol(SliverIndex::new(target), &layout).unwrap()).collect()
}

#[test]
fn lost_slivers_are_rebuilt_from_recovery_symbols() {
    let (_, enc) = encoded(10, 2000);
    let layout = enc.metadata.layout();
    for target in [0u16, 3, 9] {
        let symbols = symbols_for_primary(&enc, target);
        for s in &symbols {
            s.verify(&enc.metadata, SliverIndex::new(target)).unwrap();
            assert_eq!(RecoverySymbol::<Primary>::from_bcs(&s.to_bcs()).unwrap(), *s);
        }
        // ks = 7 symbols suffice; take them from the end.
        let rebuilt = recover_sliver(&enc.metadata, SliverIndex::<Primary>::new(target), &symbols[3..]).unwrap();
        assert_eq!(rebuilt, enc.pairs[usize::from(target)].primary);
    }
    for target in [0u16, 5, 9] {
        let symbols: Vec<RecoverySymbol<Secondary>> = enc.pairs[2..6]
            .iter()
            .map(|p| p.primary.recovery_symbol(SliverIndex::new(target), &layout).unwrap())
            .collect();
        let rebuilt = recover_sliver(&enc.metadata, SliverIndex::<Secondary>::new(target), &symbols).unwrap();
        let pair = SliverIndex::<Secondary>::new(target).pair(10);
        assert_eq!(rebuilt, enc.pairs[usize::from(pair.0)].secondary);
    }
}

#[test]
fn bad_recovery_symbols_are_skipped_and_too_few_refused() {
    let (_, enc) = encoded(10, 2000);
    let target = SliverIndex::<Primary>::new(8);
    let mut symbols = symbols_for_primary(&enc, 8);
    // Corrupt one symbol's data: its proof no longer holds.
    let mut bytes = symbols[0].to_bcs();
    bytes[3] ^= 0xff;
    symbols[0] = RecoverySymbol::from_bcs(&bytes).unwrap();
    assert_eq!(symbols[0].verify(&enc.metadata, target), Err(Error::InvalidRecoveryProof { source_index: 9 }));
    // A symbol checked for a different target does not verify either.
    assert!(symbols[1].verify(&enc.metadata, SliverIndex::new(7)).is_err());
    let rebuilt = recover_sliver(&enc.metadata, target, &symbols).unwrap();
    assert_eq!(rebuilt, enc.pairs[8].primary);
    match recover_sliver(&enc.metadata, target, &symbols[..7]) {
        Err(RecoveryError::Invalid(Error::NotEnoughSymbols { got: 6, needed: 7 })) => {}
        other => panic!("expected too few symbols, got {other:?}"),
    }
}

/// Blob sync's fast path: decoding symbols from several slivers at once equal the recovery
/// symbols' data; slivers rebuilt from them together match the encoding, a wrong symbol fails
/// only the sliver it belongs to, and too few or malformed symbols are refused.
#[test]
fn many_slivers_are_rebuilt_from_symbols_without_proofs() {
    let (_, enc) = encoded(10, 2000);
    let layout = enc.metadata.layout();
    let targets: Vec<SliverIndex<Primary>> = [1u16, 4, 8].map(SliverIndex::new).to_vec();
    let sources: Vec<Sliver<Secondary>> = enc.pairs[1..].iter().map(|p| p.secondary.clone()).collect();
    let symbols = Sliver::decoding_symbol_lines(&sources, &targets, &layout).unwrap();
    let s = usize::from(layout.symbol_size());
    for (source, line) in sources.iter().zip(&symbols) {
        assert_eq!(line.len(), targets.len() * s);
        for (target, data) in targets.iter().zip(line.chunks(s)) {
            assert_eq!(source.recovery_symbol(*target, &layout).unwrap().data(), data);
        }
    }
    // Each source's symbols for all targets, in target order.
    let mut lines: Vec<(u16, Vec<u8>)> = sources.iter().zip(symbols).map(|(s, line)| (s.index().get(), line)).collect();
    let rebuild = |lines: &[(u16, Vec<u8>)]| {
        let lines: Vec<(u16, &[u8])> = lines.iter().map(|(i, l)| (*i, l.as_slice())).collect();
        recover_slivers_unproven(&enc.metadata, &targets, &lines)
    };
    let rebuilt = rebuild(&lines).unwrap();
    for (target, sliver) in targets.iter().zip(rebuilt) {
        assert_eq!(sliver.unwrap(), enc.pairs[usize::from(target.get())].primary);
    }
    // A wrong symbol for target 4 from a source that gets used (the first 7 given are) fails
    // that sliver only.
    let mut bad = lines.clone();
    bad[0].1[s] ^= 1;
    let rebuilt = rebuild(&bad).unwrap();
    assert_eq!(rebuilt[0].as_ref().unwrap(), &enc.pairs[1].primary);
    assert_eq!(rebuilt[1], Err(Error::SliverHashMismatch(SliverPairIndex(4))));
    assert_eq!(rebuilt[2].as_ref().unwrap(), &enc.pairs[8].primary);
    // Lines of the wrong length or out-of-range sources do not count; 7 are needed.
    lines.truncate(7);
    lines[0].1.pop();
    lines[1].0 = 10;
    assert_eq!(rebuild(&lines).unwrap_err(), Error::NotEnoughSymbols { got: 5, needed: 7 });
    let out_of_range = [SliverIndex::<Primary>::new(10)];
    assert!(recover_slivers_unproven(&enc.metadata, &out_of_range, &[]).is_err());
    // A batch of slivers verifies together, each with its own outcome.
    let mut batch: Vec<Sliver<Secondary>> = enc.pairs.iter().map(|p| p.secondary.clone()).collect();
    batch[3] = flip_byte(&batch[3], 1);
    let checks = Sliver::verify_all(&batch, &enc.metadata);
    assert_eq!(checks[3], Err(Error::SliverHashMismatch(SliverPairIndex(3))));
    assert!(checks.iter().enumerate().all(|(i, c)| i == 3 || c.is_ok()));
}

/// A malicious writer commits to a matrix that is not a codeword: primary sliver 7 is replaced
/// and its hash recomputed, so it verifies alone. Rebuilding it from other nodes' symbols
/// exposes the lie, and the resulting proof convinces anyone.
#[test]
fn an_inconsistent_encoding_is_detected_and_proven() {
    let (_, enc) = encoded(10, 2000);
    let layout = enc.metadata.layout();
    let honest = &enc.pairs[7].primary;
    let forged = {
        let data: Vec<u8> = honest.data().iter().map(|b| b.wrapping_add(1)).collect();
        let (prefix, suffix) = Sliver::<Primary>::bcs_frame(data.len(), honest.symbol_size(), honest.index());
        Sliver::<Primary>::from_bcs(&[prefix.as_slice(), &data, &suffix].concat()).unwrap()
    };
    let mut hashes = enc.metadata.metadata().hashes().to_vec();
    hashes[7].primary_hash = forged.compute_hash(&layout).unwrap();
    let metadata = BlobMetadata::V1(BlobMetadataV1 {
        encoding_type: walrus_encoder::EncodingType::RS2,
        unencoded_length: layout.unencoded_length(),
        hashes,
    });
    let blob_id = metadata.compute_blob_id();
    let lying = BlobMetadataWithId { blob_id, metadata }.verify().unwrap();
    forged.verify(&lying).unwrap();

    // Secondary slivers are unchanged, so their symbols verify against the lying metadata.
    let symbols = symbols_for_primary(&enc, 7);
    let proof = match recover_sliver(&lying, SliverIndex::<Primary>::new(7), &symbols) {
        Err(RecoveryError::Inconsistent(proof)) => proof,
        other => panic!("expected an inconsistency, got {other:?}"),
    };
    assert_eq!(proof.target_index, 7);
    assert_eq!(proof.recovery_symbols.len(), 7);
    proof.verify(&lying).unwrap();
    // A proof travels as BCS (a node receives it in a POST), so it must round-trip.
    let bytes = bcs::to_bytes(&proof).unwrap();
    assert_eq!(bcs::from_bytes::<walrus_encoder::InconsistencyProof<Primary>>(&bytes).unwrap(), proof);
    // Against honest metadata the same proof shows nothing.
    assert_eq!(proof.verify(&enc.metadata), Err(Error::NoInconsistency));
}

/// The views other crates read a sliver and its metadata through show what they hold: the
/// node stores `Sliver::bytes` and files a pair by `SliverPair::index`, the CLI decodes in
/// `Sliver::into_symbols_mut` (the sliver's own buffer, or a copy when shared), readers look a
/// pair's hashes up with `BlobMetadata::pair`. Catches the mutants (cargo-mutants) that
/// replace `Sliver::bytes`, `Sliver::into_symbols_mut` and `BlobMetadata::pair` with a default
/// (empty bytes, an empty buffer, `None`), which no other test of the encoder noticed.
#[test]
fn sliver_and_metadata_views_show_what_they_hold() {
    let (_, enc) = encoded(10, 3000);
    let layout = enc.metadata.layout();
    let metadata = enc.metadata.metadata();
    for (p, pair) in (0u16..).zip(&enc.pairs) {
        assert_eq!(pair.index(), SliverPairIndex(p));
        assert_eq!(&pair.primary.bytes()[..], pair.primary.data());
        // Shared with `enc` (a copy is made), then owned alone (its own buffer is handed on).
        assert_eq!(&pair.secondary.clone().into_symbols_mut()[..], pair.secondary.data());
        let alone = Sliver::<Primary>::from_bcs(&pair.primary.to_bcs()).unwrap();
        assert_eq!(&alone.into_symbols_mut()[..], pair.primary.data());
        let hashes = metadata.pair(SliverPairIndex(p)).unwrap();
        assert_eq!(hashes.primary_hash, pair.primary.compute_hash(&layout).unwrap());
        assert_eq!(hashes.secondary_hash, pair.secondary.compute_hash(&layout).unwrap());
    }
    assert_eq!(metadata.pair(SliverPairIndex(10)), None);
    assert_eq!(enc.metadata.n_shards(), 10);
}

#[test]
fn decode_into_checks_the_buffer_length() {
    let (blob, enc) = encoded(10, 3000);
    let slivers: Vec<Sliver<Primary>> = enc.pairs[3..7].iter().map(|p| p.primary.clone()).collect();
    let mut out = vec![0u8; 3000];
    walrus_encoder::decode_into(&enc.metadata, &slivers, ConsistencyCheck::Default, &mut out).unwrap();
    assert_eq!(out, blob);
    let mut short = vec![0u8; 2999];
    assert_eq!(
        walrus_encoder::decode_into(&enc.metadata, &slivers, ConsistencyCheck::Skip, &mut short),
        Err(Error::WrongOutputLength { got: 2999, expected: 3000 })
    );
}

#[test]
fn general_recovery_symbols_name_axis_and_target() {
    let (_, enc) = encoded(10, 2000);
    let layout = enc.metadata.layout();
    let target = SliverIndex::<Primary>::new(4);
    let symbol = enc.pairs[2].secondary.recovery_symbol(target, &layout).unwrap();
    let general = symbol.clone().into_general(target);
    let bytes = general.to_bcs();
    // Variant 0 (primary target), then the symbol's own BCS with the target index inserted
    // before the proof.
    let plain = symbol.to_bcs();
    let split = 2 + 1 + symbol.data().len(); // index, length byte, data
    assert_eq!(bytes[0], 0);
    assert_eq!(bytes[1..1 + split], plain[..split]);
    assert_eq!(bytes[1 + split..3 + split], [4, 0]);
    assert_eq!(bytes[3 + split..], plain[split..]);
    let parsed = walrus_encoder::GeneralRecoverySymbol::from_bcs(&bytes).unwrap();
    assert!(parsed.clone().for_axis::<Secondary>().is_none());
    let (back_target, back) = parsed.for_axis::<Primary>().unwrap();
    assert_eq!((back_target, back.clone()), (target, symbol));
    back.verify(&enc.metadata, back_target).unwrap();

    let for_secondary = enc.pairs[0].primary.recovery_symbol(SliverIndex::<Secondary>::new(1), &layout).unwrap();
    assert_eq!(for_secondary.into_general(SliverIndex::new(1)).to_bcs()[0], 1);
}

/// Metadata whose hash for systematic row `row` (primary sliver `row`) is that of another
/// row, with the blob ID recomputed to match: metadata as a dishonest writer could publish.
fn lying_about_row(enc: &EncodedBlob, row: usize) -> walrus_encoder::VerifiedMetadata {
    let layout = enc.metadata.layout();
    let mut forged = enc.metadata.as_metadata_with_id().clone();
    let BlobMetadata::V1(v1) = &mut forged.metadata;
    v1.hashes[row].primary_hash = flip_byte(&enc.pairs[row].primary, 1).compute_hash(&layout).unwrap();
    forged.blob_id = forged.metadata.compute_blob_id();
    forged.verify().unwrap()
}

/// The default check re-hashes every systematic row it did not take as input, so metadata
/// that lies about any one row (first, middle or last) is refused whichever slivers decode
/// it. Catches the escaped mutation that made the check skip a row (all tests passed: none
/// decoded against forged metadata).
#[test]
fn decoding_refuses_metadata_that_lies_about_any_systematic_row() {
    for n in [10u16, 13] {
        let (blob, enc) = encoded(n, 20_000);
        let kp = usize::from(enc.metadata.layout().params().primary_source_symbols());
        let ks = usize::from(enc.metadata.layout().params().secondary_source_symbols());
        for row in 0..kp {
            let case = format!("n = {n}, row {row}");
            let forged = lying_about_row(&enc, row);
            // Every secondary sliver still verifies against the forged metadata...
            let secondary: Vec<Sliver<Secondary>> = enc.pairs.iter().map(|p| p.secondary.clone()).collect();
            assert!(secondary.iter().all(|s| s.verify(&forged).is_ok()), "{case}");
            // ...and decodes to the real blob, whose row does not hash as the metadata says.
            assert_eq!(decode(&forged, &secondary[..ks], ConsistencyCheck::Skip).unwrap(), blob, "{case}");
            assert_eq!(
                decode(&forged, &secondary[..ks], ConsistencyCheck::Default),
                Err(Error::InconsistentBlob),
                "{case}"
            );
            assert_eq!(
                decode(&forged, &secondary[n as usize - ks..], ConsistencyCheck::Default),
                Err(Error::InconsistentBlob),
                "{case}"
            );
            assert_eq!(
                decode(&forged, &secondary[..ks], ConsistencyCheck::Strict),
                Err(Error::InconsistentBlob),
                "{case}"
            );

            // From primary slivers that verify: all the others, without the lying row's own.
            let primary: Vec<Sliver<Primary>> =
                enc.pairs.iter().filter(|p| p.index().0 as usize != row).map(|p| p.primary.clone()).collect();
            assert!(primary.iter().all(|s| s.verify(&forged).is_ok()), "{case}");
            assert_eq!(
                decode(&forged, &primary[..kp], ConsistencyCheck::Default),
                Err(Error::InconsistentBlob),
                "{case}"
            );
            let parity = &primary[primary.len() - kp..];
            assert_eq!(decode(&forged, parity, ConsistencyCheck::Default), Err(Error::InconsistentBlob), "{case}");
        }
    }
}

/// The blob from lines decoded in place: rows (primary) or columns (secondary) in any order.
fn blob_of_lines<A: walrus_encoder::Axis>(enc: &EncodedBlob, lines: &[(SliverIndex<A>, Vec<u8>)]) -> Vec<u8> {
    let layout = enc.metadata.layout();
    let s = usize::from(layout.symbol_size());
    let mut sorted: Vec<&(SliverIndex<A>, Vec<u8>)> = lines.iter().collect();
    sorted.sort_by_key(|(index, _)| index.get());
    assert!(sorted.iter().enumerate().all(|(j, (index, _))| usize::from(index.get()) == j), "lines 0..k");
    let mut blob: Vec<u8> = if A::IS_PRIMARY {
        sorted.iter().flat_map(|(_, row)| row.iter().copied()).collect()
    } else {
        let kp = usize::from(layout.params().primary_source_symbols());
        (0..kp)
            .flat_map(|r| sorted.iter().flat_map(move |(_, column)| column[r * s..(r + 1) * s].iter().copied()))
            .collect()
    };
    blob.truncate(layout.unencoded_length() as usize);
    blob
}

/// Lines as `decode_in_place` leaves them: each buffer with the index of the line it holds.
type Lines<A> = Vec<(SliverIndex<A>, Vec<u8>)>;

fn in_place<A: walrus_encoder::Axis>(
    metadata: &walrus_encoder::VerifiedMetadata,
    slivers: &[&Sliver<A>],
) -> (Result<(), Error>, Lines<A>) {
    in_place_with(metadata, slivers, Inputs::Verified)
}

fn in_place_with<A: walrus_encoder::Axis>(
    metadata: &walrus_encoder::VerifiedMetadata,
    slivers: &[&Sliver<A>],
    inputs: Inputs,
) -> (Result<(), Error>, Lines<A>) {
    let mut owned: Lines<A> = slivers.iter().map(|s| (s.index(), s.data().to_vec())).collect();
    let mut lines: Vec<(SliverIndex<A>, &mut [u8])> = owned.iter_mut().map(|(i, d)| (*i, &mut d[..])).collect();
    let result = walrus_encoder::decode_in_place(metadata, &mut lines, inputs);
    let indices: Vec<SliverIndex<A>> = lines.iter().map(|(i, _)| *i).collect();
    drop(lines);
    owned.iter_mut().zip(indices).for_each(|((i, _), new)| *i = new);
    (result, owned)
}

/// An encoding whose padding past the blob's end is not zero (a writer hashed rows that do
/// not end in zeros and recomputed the blob ID for a shorter blob) does not describe the blob
/// it claims: every sliver verifies, yet every decoding path refuses it, in place too. Catches
/// the mutant (cargo-mutants) `replace * with / in check_lines_in_place` (the check of the time), which left the
/// decoded rows unclipped, so decoding in place accepted what `decode` refuses.
#[test]
fn decoding_refuses_an_encoding_whose_padding_is_not_zero() {
    // n = 10: 28 source symbols of 100 bytes hold 2800 bytes, and 2795 take the same size.
    let enc = encode(10, &common::splitmix64(77, 2800)).unwrap();
    let metadata = BlobMetadata::V1(BlobMetadataV1 {
        encoding_type: walrus_encoder::EncodingType::RS2,
        unencoded_length: 2795,
        hashes: enc.metadata.metadata().hashes().to_vec(),
    });
    let blob_id = metadata.compute_blob_id();
    let padded = BlobMetadataWithId { blob_id, metadata }.verify().unwrap();
    assert_eq!(padded.layout().symbol_size(), enc.metadata.layout().symbol_size());
    for pair in &enc.pairs {
        pair.primary.verify(&padded).unwrap();
        pair.secondary.verify(&padded).unwrap();
    }
    // Primary slivers 4..8 are not systematic: every row, the last one too, is decoded.
    let primary: Vec<&Sliver<Primary>> = enc.pairs[4..8].iter().map(|p| &p.primary).collect();
    let secondary: Vec<&Sliver<Secondary>> = enc.pairs[..7].iter().map(|p| &p.secondary).collect();
    let owned: Vec<Sliver<Primary>> = primary.iter().map(|s| (*s).clone()).collect();
    assert_eq!(decode(&padded, &owned, ConsistencyCheck::Default), Err(Error::InconsistentBlob));
    assert_eq!(in_place(&padded, &primary).0, Err(Error::InconsistentBlob));
    assert_eq!(in_place(&padded, &secondary).0, Err(Error::InconsistentBlob));
}

/// Decoding in place gives the blob `decode` gives, from any mix of systematic and other
/// slivers of either axis, for blobs that fill the matrix or leave padding.
#[test]
fn decoding_in_place_matches_decode() {
    for (n, len) in [(10u16, 1), (10, 3000), (13, 20_011), (31, 100_000), (100, 262_144)] {
        let (blob, enc) = encoded(n, len);
        let params = enc.metadata.layout().params();
        let (kp, ks) = (usize::from(params.primary_source_symbols()), usize::from(params.secondary_source_symbols()));
        let primary: Vec<&Sliver<Primary>> = enc.pairs.iter().map(|p| &p.primary).collect();
        let secondary: Vec<&Sliver<Secondary>> = enc.pairs.iter().map(|p| &p.secondary).rev().collect();
        let mixed: Vec<&Sliver<Primary>> =
            primary.iter().rev().step_by(2).chain(primary.iter().step_by(2)).take(kp).copied().collect();
        let picks: [(&str, Vec<&Sliver<Primary>>); 3] = [
            ("systematic", primary[..kp].to_vec()),
            ("none systematic", primary[n as usize - kp..].to_vec()),
            ("mixed", mixed),
        ];
        for ((what, picks), inputs) in
            picks.into_iter().flat_map(|p| [(p.clone(), Inputs::Verified), (p, Inputs::Unverified)])
        {
            let owned: Vec<Sliver<Primary>> = picks.iter().map(|s| (*s).clone()).collect();
            assert_eq!(decode(&enc.metadata, &owned, ConsistencyCheck::Default).unwrap(), blob);
            let (result, lines) = in_place_with(&enc.metadata, &picks, inputs);
            result.unwrap_or_else(|e| panic!("n = {n}, {len} bytes, {what}, {inputs:?}: {e}"));
            assert_eq!(blob_of_lines(&enc, &lines), blob, "n = {n}, {len} bytes, {what}, {inputs:?}");
            // Systematic inputs stay where they were.
            for ((index, data), sliver) in lines.iter().zip(&picks) {
                if usize::from(sliver.index().get()) < kp {
                    assert_eq!((index, &data[..]), (&sliver.index(), sliver.data()));
                }
            }
        }
        let cut = n as usize - ks;
        for picks in [secondary[..ks].to_vec(), secondary[cut..].to_vec()] {
            for inputs in [Inputs::Verified, Inputs::Unverified] {
                let (result, lines) = in_place_with(&enc.metadata, &picks, inputs);
                result.unwrap();
                assert_eq!(blob_of_lines(&enc, &lines), blob, "n = {n}, {len} bytes, secondary, {inputs:?}");
            }
        }
    }
}

/// Inputs decoded unverified are checked with every row: a flipped byte in any of them, a row
/// or not, is refused. The check for verified inputs trusts the rows that were inputs, which
/// is why it needs them verified: from rows alone it decodes and checks nothing.
#[test]
fn decoding_unverified_inputs_in_place_refuses_any_flipped_byte() {
    let (blob, enc) = encoded(13, 20_000);
    let (kp, ks) = {
        let params = enc.metadata.layout().params();
        (usize::from(params.primary_source_symbols()), usize::from(params.secondary_source_symbols()))
    };
    // Half rows, half other slivers: both kinds of input.
    let primary: Vec<&Sliver<Primary>> = enc.pairs.iter().map(|p| &p.primary).collect();
    let mixed: Vec<&Sliver<Primary>> = primary[..kp / 2].iter().chain(&primary[kp..]).take(kp).copied().collect();
    for (victim, rows_only) in (0..kp).map(|v| (v, false)).chain((0..kp).map(|v| (v, true))) {
        let mut picks = if rows_only { primary[..kp].to_vec() } else { mixed.clone() };
        let flipped = flip_byte(picks[victim], 1);
        picks[victim] = &flipped;
        let unverified = in_place_with(&enc.metadata, &picks, Inputs::Unverified).0;
        assert_eq!(unverified, Err(Error::InconsistentBlob), "input {victim}, rows only: {rows_only}");
        if rows_only {
            let (trusted, lines) = in_place_with(&enc.metadata, &picks, Inputs::Verified);
            assert_eq!(trusted, Ok(()), "input {victim}");
            assert_ne!(blob_of_lines(&enc, &lines), blob, "input {victim}");
        }
    }
    let secondary: Vec<&Sliver<Secondary>> = enc.pairs.iter().map(|p| &p.secondary).take(ks).collect();
    for victim in [0, ks - 1] {
        let flipped = flip_byte(secondary[victim], 1);
        let mut picks = secondary.clone();
        picks[victim] = &flipped;
        for inputs in [Inputs::Verified, Inputs::Unverified] {
            assert_eq!(in_place_with(&enc.metadata, &picks, inputs).0, Err(Error::InconsistentBlob), "{victim}");
        }
    }
}

#[test]
fn decoding_in_place_refuses_wrong_inputs_and_lying_metadata() {
    let (_, enc) = encoded(13, 20_000);
    let params = enc.metadata.layout().params();
    let (kp, ks) = (usize::from(params.primary_source_symbols()), usize::from(params.secondary_source_symbols()));
    let primary: Vec<&Sliver<Primary>> = enc.pairs.iter().map(|p| &p.primary).collect();
    let too_few = in_place(&enc.metadata, &primary[..kp - 1]).0;
    assert_eq!(too_few, Err(Error::NotEnoughSlivers { axis: "primary", got: kp - 1, needed: kp }));
    let repeated: Vec<&Sliver<Primary>> = std::iter::repeat_n(primary[0], kp).collect();
    assert_eq!(
        in_place(&enc.metadata, &repeated).0,
        Err(Error::NotEnoughSlivers { axis: "primary", got: 1, needed: kp })
    );
    let too_many = in_place(&enc.metadata, &primary[..kp + 1]).0;
    assert_eq!(too_many, Err(Error::TooManySlivers { axis: "primary", got: kp + 1, needed: kp }));
    let mut short: Vec<(SliverIndex<Primary>, Vec<u8>)> =
        primary[..kp].iter().map(|s| (s.index(), s.data().to_vec())).collect();
    short[2].1.pop();
    let mut lines: Vec<(SliverIndex<Primary>, &mut [u8])> = short.iter_mut().map(|(i, d)| (*i, &mut d[..])).collect();
    assert!(matches!(
        walrus_encoder::decode_in_place(&enc.metadata, &mut lines, Inputs::Verified),
        Err(Error::WrongSliverLength { .. })
    ));

    // Metadata that lies about a row is caught whenever that row is decoded, from either axis.
    for row in [0, kp / 2, kp - 1] {
        let forged = lying_about_row(&enc, row);
        let others: Vec<&Sliver<Primary>> =
            primary.iter().filter(|s| usize::from(s.index().get()) != row).take(kp).copied().collect();
        assert_eq!(in_place(&forged, &others).0, Err(Error::InconsistentBlob), "row {row}");
        let secondary: Vec<&Sliver<Secondary>> = enc.pairs.iter().map(|p| &p.secondary).take(ks).collect();
        assert_eq!(in_place(&forged, &secondary).0, Err(Error::InconsistentBlob), "row {row}, secondary");
    }
}
