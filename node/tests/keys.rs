//! `walrus-node keygen` and the node's signatures, checked against the Move message format
//! (through the conformance crate's model) and the spec's signed confirmation vector.

use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use fastcrypto::bls12381::min_pk::{BLS12381PublicKey, BLS12381Signature};
use fastcrypto::traits::{ToFromBytes, VerifyingKey};
use walrus_node::keys::{self, KeyError, ProtocolKey, NETWORK_KEY_FILE, PROTOCOL_KEY_FILE};
use walrus_node::messages::{self, Persistence};

fn printed(output: &str, name: &str) -> Vec<u8> {
    let line = output
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: 0x")))
        .unwrap_or_else(|| panic!("no {name} in {output}"));
    hex::decode(line).unwrap()
}

#[test]
fn keygen_prints_what_registration_takes_and_keeps_keys_private() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("keys");
    let sender = [0x5a; 32];
    let run = || {
        Command::new(env!("CARGO_BIN_EXE_walrus-node"))
            .args(["keygen", "--out", out.to_str().unwrap(), "--epoch", "3", "--sender"])
            .arg(format!("0x{}", hex::encode(sender)))
            .output()
            .unwrap()
    };
    let output = run();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stdout = String::from_utf8(output.stdout).unwrap();
    let public_key = BLS12381PublicKey::from_bytes(&printed(&stdout, "public_key")).unwrap();
    let pop = BLS12381Signature::from_bytes(&printed(&stdout, "proof_of_possession")).unwrap();
    let message = walrus_conformance::proof_of_possession_message(3, &sender, &public_key);
    public_key.verify(&message, &pop).expect("the proof of possession verifies over the Move message");
    assert_eq!(printed(&stdout, "network_public_key").len(), 33);

    for file in [PROTOCOL_KEY_FILE, NETWORK_KEY_FILE] {
        let mode = std::fs::metadata(out.join(file)).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}");
    }
    let loaded = keys::load_protocol_key(&out.join(PROTOCOL_KEY_FILE)).unwrap();
    assert_eq!(loaded.public_key().as_slice(), public_key.as_bytes());
    assert!(!run().status.success(), "keygen never overwrites keys");

    std::fs::set_permissions(out.join(PROTOCOL_KEY_FILE), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(matches!(keys::load_protocol_key(&out.join(PROTOCOL_KEY_FILE)), Err(KeyError::TooOpen { .. })));
}

#[test]
fn confirmations_match_the_spec_vector() {
    let secret = hex::decode("265149ee743bf2ee3096ce96e9fd44e887074e4815b6d7c59043de9b830dc24c").unwrap();
    let key = ProtocolKey::from_secret(&secret).unwrap();
    let message = messages::blob_certification(21, &[7; 32], Persistence::Permanent);
    assert_eq!(
        hex::encode(&message),
        "01000315000000070707070707070707070707070707070707070707070707070707070707070700"
    );
    assert_eq!(
        hex::encode(key.public_key()),
        "8a7524b153bb59b2d07bda3f28dea485ed4f7417f336edf3824a33b2460f4e400273897711306705093a753d16211754"
    );
    assert_eq!(
        hex::encode(key.sign(&message)),
        "826e67628f00e48c5036fec26613c029795695fbc743ff89cdab57bb538df8806eeeb5aef6ec1fc31f7cf4be8247e1e60fe3d1809cbbb22fcfacaefeb575bcce2881da44a2ad72601890ce638cde87609eb90ab66023eba365638d2e1209f88d"
    );
    let object = walrus_node::ObjectId([9; 32]);
    assert_eq!(
        messages::blob_certification(4, &[1; 32], Persistence::Deletable(object)),
        walrus_conformance::blob_certification_message(4, &[1; 32], Some(&object.0))
    );
    assert_eq!(messages::invalid_blob_id(4, &[1; 32]), walrus_conformance::invalid_blob_id_message(4, &[1; 32]));
}
