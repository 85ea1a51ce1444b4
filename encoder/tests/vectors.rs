//! Every conformance vector of `tests/vectors/walrus/redstuff-rs2.json`, produced by the
//! official Walrus encoder, reproduced byte for byte.

mod common;

use serde_json::Value;
use sha2::{Digest as _, Sha256};
use walrus_encoder::{decode, encode, BlobMetadataWithId, ConsistencyCheck, EncodingParams, Error, ShardRotation};

fn vectors() -> Value {
    let path = common::walrus_vectors_dir().join("redstuff-rs2.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_str(&text).expect("valid JSON")
}

fn sha256_hex(parts: impl IntoIterator<Item = Vec<u8>>) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p);
    }
    hex::encode(h.finalize())
}

/// Checks our encoding of `case` against the official one. With `round_trips`, also our other
/// paths on it: `compute_metadata`, the metadata's BCS and verification, and decoding. Those
/// do not depend on the bytes of the blob, only on n and its size, so once per size suffices.
fn check_case(case: &Value, round_trips: bool) {
    let n = case["n_shards"].as_u64().unwrap() as u16;
    let size = case["size"].as_u64().unwrap() as usize;
    let generator = case["generator"].as_str().unwrap();
    let label = format!("n={n} size={size} {generator}");
    let data = common::generate(generator, size);
    assert_eq!(sha256_hex([data.clone()]), case["data_sha256"], "{label}: input");

    let result = encode(n, &data);
    if case["status"] == "error" {
        let max = EncodingParams::new(n).unwrap().max_blob_size();
        assert_eq!(result.unwrap_err(), Error::BlobTooLarge { len: size as u64, max, n_shards: n }, "{label}");
        assert!(walrus_encoder::compute_metadata(n, &data).is_err(), "{label}");
        return;
    }
    let encoded = result.unwrap_or_else(|e| panic!("{label}: {e}"));
    let meta = &encoded.metadata;
    assert_eq!(meta.blob_id().to_string(), case["blob_id_b64url"], "{label}: blob ID");
    assert_eq!(hex::encode(meta.blob_id().0), case["blob_id_hex"], "{label}: blob ID hex");
    assert_eq!(hex::encode(meta.metadata().root_hash().bytes()), case["root_hash_hex"], "{label}: root");
    let layout = meta.layout();
    assert_eq!(u64::from(layout.symbol_size()), case["symbol_size"].as_u64().unwrap(), "{label}");
    assert_eq!(layout.encoded_length(), case["encoded_length_formula"].as_u64().unwrap(), "{label}");
    assert_eq!(
        u64::from(ShardRotation::new(&meta.blob_id(), n).offset()),
        case["rotation_offset_derived"].as_u64().unwrap(),
        "{label}"
    );
    let pair_hashes =
        meta.metadata().hashes().iter().map(|p| [p.primary_hash.bytes(), p.secondary_hash.bytes()].concat());
    assert_eq!(sha256_hex(pair_hashes), case["pair_hashes_concat_sha256"], "{label}: pair hashes");

    let primary: Vec<Vec<u8>> = encoded.pairs.iter().map(|p| p.primary.to_bcs()).collect();
    let secondary: Vec<Vec<u8>> = encoded.pairs.iter().map(|p| p.secondary.to_bcs()).collect();
    assert_eq!(primary[0].len() as u64, case["primary_bcs_len"].as_u64().unwrap(), "{label}");
    assert_eq!(sha256_hex(primary.clone()), case["primary_bcs_concat_sha256"], "{label}: primary slivers");
    assert_eq!(sha256_hex(secondary.clone()), case["secondary_bcs_concat_sha256"], "{label}: secondary slivers");
    let last = usize::from(n) - 1;
    if let Some(hexes) = case["slivers_hex"].as_object() {
        for (key, sliver) in [
            ("primary_pair_0", &primary[0]),
            ("primary_pair_last", &primary[last]),
            ("secondary_pair_0", &secondary[0]),
            ("secondary_pair_last", &secondary[last]),
        ] {
            assert!(hex::encode(sliver) == hexes[key], "{label}: {key}");
        }
    }

    if !round_trips {
        return;
    }
    // compute_metadata agrees with encode; the metadata BCS round-trips and re-verifies.
    let alone = walrus_encoder::compute_metadata(n, &data).unwrap();
    assert_eq!(alone, *meta, "{label}");
    let bcs = meta.as_metadata_with_id().to_bcs();
    assert_eq!(bcs.len(), 42 + if n < 128 { 1 } else { 2 } + 66 * usize::from(n), "{label}");
    assert_eq!(BlobMetadataWithId::from_bcs(&bcs).unwrap().verify().unwrap(), *meta, "{label}");

    // Like the official decoder in the vectors run: from the last kp primary slivers.
    let kp = usize::from(EncodingParams::new(n).unwrap().primary_source_symbols());
    let slivers: Vec<_> = encoded.pairs[usize::from(n) - kp..].iter().map(|p| p.primary.clone()).collect();
    assert_eq!(decode(meta, &slivers, ConsistencyCheck::Default).unwrap(), data, "{label}: decode");
}

fn check_all(select: impl Fn(&Value) -> bool) {
    let v = vectors();
    let mut checked = 0;
    let mut sizes_seen = std::collections::HashSet::new();
    for list in ["known_vectors", "cases", "boundary_cases"] {
        for case in v[list].as_array().unwrap().iter().filter(|c| select(c)) {
            check_case(case, sizes_seen.insert((n_of(case), case["size"].as_u64().unwrap())));
            checked += 1;
        }
    }
    assert!(checked > 0, "no vector selected");
    eprintln!("{checked} vectors reproduced, {} of them also round-tripped", sizes_seen.len());
}

fn n_of(case: &Value) -> u64 {
    case["n_shards"].as_u64().unwrap()
}

#[test]
fn small_committees() {
    check_all(|c| n_of(c) <= 13);
}

#[test]
fn n_100() {
    check_all(|c| n_of(c) == 100);
}

#[test]
fn n_301() {
    check_all(|c| n_of(c) == 301);
}

#[test]
fn n_1000() {
    check_all(|c| n_of(c) == 1000);
}

#[test]
fn every_vector_is_covered() {
    let v = vectors();
    let total: usize =
        ["known_vectors", "cases", "boundary_cases"].iter().map(|l| v[l].as_array().unwrap().len()).sum();
    let covered = ["known_vectors", "cases", "boundary_cases"]
        .iter()
        .flat_map(|l| v[l].as_array().unwrap())
        .filter(|c| [4, 7, 10, 13, 100, 301, 1000].contains(&n_of(c)))
        .count();
    assert_eq!(total, 164);
    assert_eq!(covered, total);
}

/// The spec's hand-computable example: n = 4, empty blob.
#[test]
fn empty_blob_with_four_shards() {
    let meta = walrus_encoder::compute_metadata(4, &[]).unwrap();
    let leaf = "13074e96471909b77d6fcc0f3c34b4a9ddae340306af0213e5e31d08d4158b86";
    for pair in meta.metadata().hashes() {
        assert_eq!(hex::encode(pair.primary_hash.bytes()), leaf);
        assert_eq!(hex::encode(pair.secondary_hash.bytes()), leaf);
    }
    assert_eq!(meta.blob_id().to_string(), "CmzciFdWJP1IIM-rD3cqXlVBXYM0fpAfHahZBvkaZUI");
}
