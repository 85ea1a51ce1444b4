//! Golden vectors of committee certificates, shared with the Move tests.
//!
//! `vectors/bls-certificates.json` holds a committee with real BLS12-381 keys and certificates
//! over it: the exact message bytes, the signer bitmap, what the contract must derive from it
//! (non-signers, weight, thresholds, the aggregate key) and the aggregated signature. This test
//! rebuilds the file from its deterministic keys and requires it to be unchanged, then checks
//! every signature with fastcrypto against the key the contract's rule derives. The Move side
//! (`move/walrus/tests/certificate_vectors_tests.move`, generated from the same file by
//! `node scripts/gen-move-vectors.mjs`) checks that the contract builds the same bytes and
//! reads the bitmap the same way. Regenerate with `UPDATE_VECTORS=1`.

use std::path::PathBuf;

use fastcrypto::bls12381::min_pk::{
    BLS12381AggregateSignature, BLS12381KeyPair, BLS12381PrivateKey, BLS12381PublicKey, BLS12381Signature,
};
use fastcrypto::traits::{AggregateAuthenticator, KeyPair, Signer, ToFromBytes, VerifyingKey};
use serde_json::{json, Value};
use walrus_conformance::{
    blob_certification_message, invalid_blob_id_message, non_signers, proof_of_possession_message, signers_bitmap,
    BitmapError, Committee, Member,
};

const EPOCH: u32 = 7;
/// Ten members, weights 1..=10: 55 shards, so a quorum needs 37 and f + 1 needs 19.
const WEIGHTS: [u16; 10] = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10];

fn vectors_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("vectors/bls-certificates.json")
}

/// Member `i` has secret key `i + 1` (a scalar, big-endian) and node ID `0x…(i + 1)`.
fn keys() -> Vec<BLS12381KeyPair> {
    (0..WEIGHTS.len())
        .map(|i| {
            let mut scalar = [0u8; 32];
            scalar[31] = i as u8 + 1;
            BLS12381KeyPair::from(BLS12381PrivateKey::from_bytes(&scalar).expect("valid scalar"))
        })
        .collect()
}

fn committee(keys: &[BLS12381KeyPair]) -> Committee {
    let members = keys
        .iter()
        .zip(WEIGHTS)
        .enumerate()
        .map(|(i, (key, weight))| {
            let mut node_id = [0u8; 32];
            node_id[31] = i as u8 + 1;
            Member { node_id, weight, public_key: key.public().clone() }
        })
        .collect();
    Committee { epoch: EPOCH, members }
}

/// A u256 given as 32 little-endian bytes, from a small pattern.
fn u256_le(seed: u8) -> [u8; 32] {
    std::array::from_fn(|i| seed.wrapping_mul(31).wrapping_add(i as u8 * 7))
}

fn decimal(le: &[u8; 32]) -> String {
    // Long division of the little-endian bytes by 10, for the Move literal.
    let mut digits = Vec::new();
    let mut n: Vec<u8> = le.iter().rev().copied().collect();
    while n.iter().any(|&b| b != 0) {
        let mut rem = 0u16;
        for b in n.iter_mut() {
            let cur = (rem << 8) | u16::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    digits.reverse();
    String::from_utf8(digits).unwrap()
}

struct Case {
    name: &'static str,
    message: Vec<u8>,
    kind: Value,
    signers: Vec<usize>,
    /// A bitmap other than the canonical full-length one, to exercise short bitmaps.
    bitmap: Option<Vec<u8>>,
}

fn cases() -> Vec<Case> {
    let blob_id = u256_le(1);
    let object_id = u256_le(2);
    let bad_blob = u256_le(3);
    let blob_kind = |object: Option<&[u8; 32]>| json!({ "blob_certification": { "blob_id": decimal(&blob_id), "object_id": object.map(hex::encode) } });
    vec![
        Case {
            name: "permanent_blob_quorum",
            message: blob_certification_message(EPOCH, &blob_id, None),
            kind: blob_kind(None),
            signers: vec![3, 5, 6, 7, 8, 9],
            bitmap: None,
        },
        Case {
            name: "deletable_blob_all_signers",
            message: blob_certification_message(EPOCH, &blob_id, Some(&object_id)),
            kind: blob_kind(Some(&object_id)),
            signers: (0..10).collect(),
            bitmap: None,
        },
        Case {
            name: "permanent_blob_without_quorum",
            message: blob_certification_message(EPOCH, &blob_id, None),
            kind: blob_kind(None),
            signers: vec![0, 1, 2, 3, 4, 5, 6, 7],
            bitmap: None,
        },
        Case {
            name: "short_bitmap_first_byte_only",
            message: blob_certification_message(EPOCH, &blob_id, None),
            kind: blob_kind(None),
            signers: vec![0, 1, 2, 3, 4, 5, 6, 7],
            bitmap: Some(vec![0xff]),
        },
        Case {
            name: "invalid_blob_id_one_correct_node",
            message: invalid_blob_id_message(EPOCH, &bad_blob),
            kind: json!({ "invalid_blob_id": { "blob_id": decimal(&bad_blob) } }),
            signers: vec![8, 9],
            bitmap: None,
        },
        Case {
            name: "invalid_blob_id_too_little_weight",
            message: invalid_blob_id_message(EPOCH, &bad_blob),
            kind: json!({ "invalid_blob_id": { "blob_id": decimal(&bad_blob) } }),
            signers: vec![0, 8],
            bitmap: None,
        },
    ]
}

fn build_vectors() -> Value {
    let keys = keys();
    let committee = committee(&keys);
    let members: Vec<Value> = committee
        .members
        .iter()
        .map(|m| {
            json!({
                "node_id": format!("0x{}", hex::encode(m.node_id)),
                "weight": m.weight,
                "public_key": hex::encode(m.public_key.as_bytes()),
            })
        })
        .collect();
    let cases: Vec<Value> = cases()
        .into_iter()
        .map(|case| {
            let bitmap = case.bitmap.unwrap_or_else(|| signers_bitmap(WEIGHTS.len(), &case.signers));
            let missing = non_signers(WEIGHTS.len(), &bitmap).expect("valid bitmap");
            let weight = committee.weight_of(&case.signers);
            let signatures: Vec<BLS12381Signature> =
                case.signers.iter().map(|&i| keys[i].sign(&case.message)).collect();
            let aggregate = BLS12381AggregateSignature::aggregate(&signatures).expect("aggregate");
            json!({
                "name": case.name,
                "kind": case.kind,
                "message": hex::encode(&case.message),
                "signers": case.signers,
                "bitmap": hex::encode(&bitmap),
                "non_signers": missing,
                "signer_weight": weight,
                "quorum": committee.is_quorum(weight),
                "one_correct_node": committee.includes_one_correct_node(weight),
                "aggregate_public_key": hex::encode(committee.aggregate_key(&missing).as_bytes()),
                "signature": hex::encode(aggregate.as_bytes()),
            })
        })
        .collect();
    let sender = u256_le(9);
    let pop_message = proof_of_possession_message(EPOCH, &sender, keys[0].public());
    json!({
        "description": "BLS12-381 min-pk committee certificates shared by the Move and Rust tests; generated by tests/certificates.rs",
        "committee": { "epoch": EPOCH, "n_shards": committee.n_shards(), "members": members },
        "cases": cases,
        "proof_of_possession": {
            "epoch": EPOCH,
            "sender": format!("0x{}", hex::encode(sender)),
            "public_key": hex::encode(keys[0].public().as_bytes()),
            "message": hex::encode(&pop_message),
            "signature": hex::encode(keys[0].sign(&pop_message).as_bytes()),
        },
    })
}

#[test]
fn vectors_file_matches_the_keys_it_was_built_from() {
    let built = build_vectors();
    let path = vectors_path();
    if std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&built).unwrap() + "\n").unwrap();
    }
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(stored, built, "{} is stale: rerun with UPDATE_VECTORS=1", path.display());
}

fn unhex(value: &Value) -> Vec<u8> {
    hex::decode(value.as_str().expect("hex string")).expect("valid hex")
}

#[test]
fn signatures_verify_against_total_key_minus_non_signers() {
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(vectors_path()).unwrap()).unwrap();
    let committee = committee(&keys());
    for case in stored["cases"].as_array().unwrap() {
        let name = case["name"].as_str().unwrap();
        let message = unhex(&case["message"]);
        let signature = BLS12381Signature::from_bytes(&unhex(&case["signature"])).unwrap();
        let missing = non_signers(WEIGHTS.len(), &unhex(&case["bitmap"])).unwrap();
        let key = BLS12381PublicKey::from_bytes(&unhex(&case["aggregate_public_key"])).unwrap();
        assert_eq!(key, committee.aggregate_key(&missing), "{name}");
        assert!(key.verify(&message, &signature).is_ok(), "{name}: signature must verify");

        // The same key as adding up the signers: the complement trick loses nothing.
        let signers: Vec<usize> =
            case["signers"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect();
        let signer_keys: Vec<_> = signers.iter().map(|&i| committee.members[i].public_key.clone()).collect();
        let aggregate = BLS12381AggregateSignature::from_bytes(&unhex(&case["signature"])).unwrap();
        assert!(aggregate.verify(&signer_keys, &message).is_ok(), "{name}");

        // Forgeries fail: another message, or a bitmap claiming one more signer.
        let mut other = message.clone();
        *other.last_mut().unwrap() ^= 1;
        assert!(key.verify(&other, &signature).is_err(), "{name}: altered message must fail");
        if !missing.is_empty() {
            let inflated = committee.aggregate_key(&missing[1..]);
            assert!(inflated.verify(&message, &signature).is_err(), "{name}: inflated bitmap must fail");
        }
    }
}

#[test]
fn proof_of_possession_verifies() {
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(vectors_path()).unwrap()).unwrap();
    let pop = &stored["proof_of_possession"];
    let key = BLS12381PublicKey::from_bytes(&unhex(&pop["public_key"])).unwrap();
    let signature = BLS12381Signature::from_bytes(&unhex(&pop["signature"])).unwrap();
    assert!(key.verify(&unhex(&pop["message"]), &signature).is_ok());
    let wrong_epoch = proof_of_possession_message(EPOCH + 1, &u256_le(9), &key);
    assert!(key.verify(&wrong_epoch, &signature).is_err());
}

#[test]
fn bitmap_rules() {
    assert_eq!(signers_bitmap(10, &[0, 3, 9]), vec![0x09, 0x02]);
    assert_eq!(non_signers(10, &[0x09, 0x02]).unwrap(), vec![1, 2, 4, 5, 6, 7, 8]);
    assert_eq!(non_signers(10, &[]).unwrap(), (0..10).collect::<Vec<_>>());
    assert_eq!(non_signers(10, &[0, 0, 0]), Err(BitmapError::TooLong));
    assert_eq!(non_signers(10, &[0, 0x04]), Err(BitmapError::NamesNonMember));
}
