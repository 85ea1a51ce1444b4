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

/// The file must equal what the keys build. With `UPDATE_VECTORS` set, a stale file is
/// rewritten and the test still fails, so the run that rewrites never passes by comparing the
/// file with itself; the constants in it are checked against independent sources below.
#[test]
fn vectors_file_matches_the_keys_it_was_built_from() {
    let built = build_vectors();
    let path = vectors_path();
    let stored: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    if stored != built && std::env::var_os("UPDATE_VECTORS").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&built).unwrap() + "\n").unwrap();
        panic!("rewrote {}: review the diff, then rerun without UPDATE_VECTORS", path.display());
    }
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

/// Walrus's message constants, stated here rather than taken from the model: the intent
/// types, `INTENT_VERSION = 0` and `APP_ID = 3` of Walrus's `messages.move` (and of the team's
/// digest of Walrus's contracts, `walrus-contracts.md`, "Message header"). A wrong constant in
/// the model and a regenerated vectors file still disagree with these.
const WALRUS_PROOF_OF_POSSESSION: u8 = 0;
const WALRUS_BLOB_CERT: u8 = 1;
const WALRUS_INVALID_BLOB_ID: u8 = 2;
const WALRUS_INTENT_VERSION: u8 = 0;
const WALRUS_APP_ID: u8 = 3;

/// The 7-byte header Walrus puts before every message body.
fn walrus_header(intent: u8, epoch: u32) -> Vec<u8> {
    [&[intent, WALRUS_INTENT_VERSION, WALRUS_APP_ID][..], &epoch.to_le_bytes()].concat()
}

/// Every message the model builds, and every message in the stored vectors, starts with
/// Walrus's header for its kind. Catches a wrong intent, version or app ID even after
/// `UPDATE_VECTORS=1` has blessed it into the file.
#[test]
fn messages_carry_walrus_constants() {
    let blob_id = u256_le(1);
    let object_id = u256_le(2);
    let permanent = blob_certification_message(EPOCH, &blob_id, None);
    assert_eq!(permanent, [walrus_header(WALRUS_BLOB_CERT, EPOCH), blob_id.to_vec(), vec![0]].concat());
    let deletable = blob_certification_message(EPOCH, &blob_id, Some(&object_id));
    assert_eq!(
        deletable,
        [walrus_header(WALRUS_BLOB_CERT, EPOCH), blob_id.to_vec(), vec![1], object_id.to_vec()].concat()
    );
    assert_eq!((permanent.len(), deletable.len()), (40, 72));
    assert_eq!(
        invalid_blob_id_message(EPOCH, &blob_id),
        [walrus_header(WALRUS_INVALID_BLOB_ID, EPOCH), blob_id.to_vec()].concat()
    );
    let key = keys()[0].public().clone();
    let sender = u256_le(9);
    assert_eq!(
        proof_of_possession_message(EPOCH, &sender, &key),
        [walrus_header(WALRUS_PROOF_OF_POSSESSION, EPOCH), sender.to_vec(), key.as_bytes().to_vec()].concat()
    );

    let stored: Value = serde_json::from_str(&std::fs::read_to_string(vectors_path()).unwrap()).unwrap();
    for case in stored["cases"].as_array().unwrap() {
        let intent =
            if case["kind"].get("invalid_blob_id").is_some() { WALRUS_INVALID_BLOB_ID } else { WALRUS_BLOB_CERT };
        let message = unhex(&case["message"]);
        assert_eq!(message[..7], walrus_header(intent, EPOCH), "{}", case["name"]);
    }
    let pop = unhex(&stored["proof_of_possession"]["message"]);
    assert_eq!(pop[..7], walrus_header(WALRUS_PROOF_OF_POSSESSION, EPOCH));
}

/// The confirmation vector of the storage-node spec (the team's digest of Walrus's node API,
/// `storage-node-and-client.md`, section 4, itself checked against Walrus's tests and the TS
/// SDK), copied here: epoch 21, blob ID `[7; 32]`, permanent; two of three nodes sign.
mod storage_node_spec {
    pub const MESSAGE: &str = "01000315000000070707070707070707070707070707070707070707070707070707070707070700";
    pub const NODE0_SK: &str = "265149ee743bf2ee3096ce96e9fd44e887074e4815b6d7c59043de9b830dc24c";
    pub const NODE0_PK: &str =
        "8a7524b153bb59b2d07bda3f28dea485ed4f7417f336edf3824a33b2460f4e400273897711306705093a753d16211754";
    pub const NODE0_SIG: &str = "826e67628f00e48c5036fec26613c029795695fbc743ff89cdab57bb538df8806eeeb5aef6ec1fc31f7cf4be8247e1e60fe3d1809cbbb22fcfacaefeb575bcce2881da44a2ad72601890ce638cde87609eb90ab66023eba365638d2e1209f88d";
    pub const NODE1_PK: &str =
        "85a8b74d91124ffdd7851891a80b6a4a3c40b1acb6c256de535768a5d42b903aa62d4445cbd81fda8d427c7eca0d913a";
    pub const NODE2_SK: &str = "221fce959fe4624032b1c18fa5d1817b1e561b61a842e5544dbb62bcac56c0f2";
    pub const NODE2_PK: &str =
        "b76ce3f31a0b817bb893a608cd556fec824221c68672fe5717b5c406b150006cc742a9cadd586da3c8c14b606e3c5b64";
    pub const NODE2_SIG: &str = "a3ede397491ba849a39d9072947b28782cc9964268caee4735f247a9a13bdef41d77e132b5ec4f073c53036f0e5eed540e0cfcdec8ff7b1f44f61c9dc9dac6d30814ad5c3b0718f93061af70d96ee03aba8886f6d3d4cf77ea5988ed8c089ce1";
    pub const AGGREGATE: &str = "846de8f67ac314f01d0f096bfbe31ac39c3d580b5121d183fe74a85f17a22b91fe69f8ee1c319107e5d6819839a329ca00eabdc833c0f820f09f5ad5e098f09d5ab11becc2b80ffbc7575cf0220a4c3424bfb3bc0d5eb2c85578d2c43e2adad5";
    pub const BITMAP_0_2_OF_3: &str = "05";
}

/// The model builds the spec's bytes, its keys sign to the spec's signatures, and the key it
/// derives from the spec's bitmap verifies the spec's aggregate.
#[test]
fn the_model_reproduces_the_storage_node_spec_vector() {
    use storage_node_spec::*;
    let bytes = |h: &str| hex::decode(h).unwrap();
    let message = blob_certification_message(21, &[7; 32], None);
    assert_eq!(hex::encode(&message), MESSAGE);

    let key = |sk: &str| BLS12381KeyPair::from(BLS12381PrivateKey::from_bytes(&bytes(sk)).unwrap());
    let (node0, node2) = (key(NODE0_SK), key(NODE2_SK));
    assert_eq!(hex::encode(node0.public().as_bytes()), NODE0_PK);
    assert_eq!(hex::encode(node2.public().as_bytes()), NODE2_PK);
    let signatures = [node0.sign(&message), node2.sign(&message)];
    assert_eq!(hex::encode(signatures[0].as_bytes()), NODE0_SIG);
    assert_eq!(hex::encode(signatures[1].as_bytes()), NODE2_SIG);
    let aggregate = BLS12381AggregateSignature::aggregate(&signatures).unwrap();
    assert_eq!(hex::encode(aggregate.as_bytes()), AGGREGATE);

    let bitmap = signers_bitmap(3, &[0, 2]);
    assert_eq!(hex::encode(&bitmap), BITMAP_0_2_OF_3);
    let public_key = |pk: &str| BLS12381PublicKey::from_bytes(&bytes(pk)).unwrap();
    let members = [NODE0_PK, NODE1_PK, NODE2_PK]
        .iter()
        .enumerate()
        .map(|(i, pk)| Member { node_id: [i as u8; 32], weight: 1, public_key: public_key(pk) })
        .collect();
    let committee = Committee { epoch: 21, members };
    let missing = non_signers(3, &bitmap).unwrap();
    assert_eq!(missing, vec![1]);
    let signature = BLS12381Signature::from_bytes(&bytes(AGGREGATE)).unwrap();
    assert!(committee.aggregate_key(&missing).verify(&message, &signature).is_ok());
    // Two of three equal members are exactly two thirds: enough for f + 1, not for a quorum.
    let weight = committee.weight_of(&[0, 2]);
    assert!(!committee.is_quorum(weight) && committee.includes_one_correct_node(weight));
}

/// A committee of `n_shards` shards over two members, for the threshold rules.
fn committee_of(n_shards: u16) -> Committee {
    let key = keys()[0].public().clone();
    let member = |weight| Member { node_id: [0; 32], weight, public_key: key.clone() };
    Committee { epoch: EPOCH, members: vec![member(n_shards / 2), member(n_shards - n_shards / 2)] }
}

/// The thresholds at their boundary, for shard counts divisible by 3 and not: a quorum is
/// more than two thirds (Walrus's Move: `3w >= 2n + 1`; its client: `w >= n - f` with
/// `f = (n - 1) / 3`), one correct node more than a third (`3w >= n + 1`). Catches the
/// escaped mutation `3w > 2n` → `3w >= 2n`, which the 55-shard committee never shows (the two
/// differ only when 3 divides n), and the same slip in the f + 1 rule.
#[test]
fn thresholds_at_the_boundary() {
    // (n, smallest quorum weight, smallest weight with one correct node), worked out by hand.
    let table = [(4, 3, 2), (6, 5, 3), (7, 5, 3), (54, 37, 19), (55, 37, 19), (999, 667, 334), (1000, 667, 334)];
    for (n, quorum, one_correct) in table {
        let committee = committee_of(n);
        assert_eq!(committee.n_shards(), u64::from(n));
        assert!(!committee.is_quorum(quorum - 1) && committee.is_quorum(quorum), "n = {n}");
        let ok = committee.includes_one_correct_node(one_correct);
        assert!(!committee.includes_one_correct_node(one_correct - 1) && ok, "n = {n}");
    }
    for n in 4..=300u16 {
        let committee = committee_of(n);
        let (n, f) = (u64::from(n), u64::from((n - 1) / 3));
        // Both forms as Walrus writes them (`>= 2n + 1`), not as clippy would shorten them.
        #[allow(clippy::int_plus_one)]
        for w in 0..=n {
            assert_eq!(committee.is_quorum(w), w >= n - f, "n = {n}, w = {w}");
            assert_eq!(committee.is_quorum(w), 3 * w >= 2 * n + 1, "n = {n}, w = {w}");
            assert_eq!(committee.includes_one_correct_node(w), 3 * w >= n + 1, "n = {n}, w = {w}");
        }
    }
}
