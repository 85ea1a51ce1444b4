//! The client's Sui keys against the official TypeScript SDK (npm `@mysten/sui`, pinned in
//! scripts/package.json), run by `scripts/sui-keys-oracle.mjs`: the same private key gives the
//! same `suiprivkey` string, public key, address and signatures, and keys the SDK generated
//! parse to the addresses the SDK derived. The keystore keeps every entry, is written private,
//! and nothing prints a secret.
//!
//! Needs Node.js >= 20 and `npm ci --prefix scripts`; without them the test fails, it never
//! skips.

use std::borrow::Cow;
use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use rand::RngCore as _;
use serde_json::Value;
use sui_crypto::{Signer as _, SuiSigner as _};
use sui_sdk_types::{Ed25519Signature, PersonalMessage};
use walrus_client::sui::keys::{KeyError, Keystore, SuiKey};

fn oracle(args: &[String]) -> Vec<Value> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/sui-keys-oracle.mjs");
    let out = Command::new("node")
        .arg(&script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): this test needs Node.js >= 20 on PATH"));
    assert!(
        out.status.success(),
        "`node scripts/sui-keys-oracle.mjs {}` failed ({}); run `npm ci --prefix scripts` if the SDK is missing:\n{}",
        args.join(" "),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the oracle prints a JSON array")
}

/// What `f` logs through `tracing`, as text, with its result.
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let sink = Sink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let result = tracing::subscriber::with_default(subscriber, f);
    let text = String::from_utf8(sink.0.lock().unwrap().clone()).unwrap();
    (result, text)
}

/// A keystore entry (Base64 of flag || key) for a raw private key.
fn entry(flag: u8, key: &[u8]) -> String {
    STANDARD.encode([&[flag][..], key].concat())
}

#[test]
fn keys_encode_derive_and_sign_as_the_typescript_sdk_does() {
    let mut seeds = vec![[0u8; 32], [7u8; 32], [0xff; 32]];
    for _ in 0..5 {
        let mut seed = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut seed);
        seeds.push(seed);
    }
    let message = b"walrus: sign me".to_vec();
    let mut args = vec!["derive".to_string(), hex::encode(&message)];
    args.extend(seeds.iter().map(hex::encode));
    let theirs = oracle(&args);
    assert_eq!(theirs.len(), seeds.len());

    for (seed, sdk) in seeds.iter().zip(&theirs) {
        let key = SuiKey::from_keystore_entry(&entry(0, seed)).unwrap();
        let s = |field: &str| sdk[field].as_str().unwrap_or_else(|| panic!("{field} missing: {sdk}")).to_string();
        assert_eq!(key.export_suiprivkey(), s("suiprivkey"), "suiprivkey of {}", hex::encode(seed));
        assert_eq!(key.address().to_string(), s("address"));
        assert_eq!(STANDARD.encode(key.public_key().inner()), s("publicKey"));
        assert_eq!(entry(0, key.public_key().inner()), s("suiPublicKey"));
        let raw: Ed25519Signature = key.signer().try_sign(&message).unwrap();
        assert_eq!(STANDARD.encode(raw.inner()), s("signature"));
        let personal = key.signer().sign_personal_message(&PersonalMessage(Cow::Borrowed(&message))).unwrap();
        assert_eq!(personal.to_base64(), s("personalSignature"));

        // Both textual forms read back to the same key.
        assert_eq!(SuiKey::from_suiprivkey(&s("suiprivkey")).unwrap(), key);
        assert_eq!(SuiKey::parse(&s("suiprivkey")).unwrap(), key);
        assert_eq!(SuiKey::parse(&entry(0, seed)).unwrap(), key);
    }
}

#[test]
fn keys_the_sdk_generated_parse_to_its_addresses() {
    for sdk in oracle(&["generate".into(), "6".into()]) {
        let key = SuiKey::from_suiprivkey(sdk["suiprivkey"].as_str().unwrap()).unwrap();
        assert_eq!(key.address().to_string(), sdk["address"].as_str().unwrap());
    }
}

#[test]
fn malformed_keys_are_refused_without_quoting_them() {
    let good = SuiKey::generate().export_suiprivkey();
    // The last character is part of the checksum.
    let last = good.chars().last().unwrap();
    let tampered = format!("{}{}", &good[..good.len() - 1], if last == 'q' { 'p' } else { 'q' });
    let secp = entry(1, &[9u8; 32]);
    let short = entry(0, &[9u8; 31]);
    let cases = [
        (tampered.as_str(), "checksum"),
        ("suiprivkey1notakey", "checksum"),
        (secp.as_str(), "Secp256k1"),
        (short.as_str(), "32 bytes"),
        ("%%%not base64%%%", "Base64"),
        ("", "empty"),
    ];
    for (text, why) in cases {
        let err = SuiKey::parse(text).expect_err(text);
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(why), "{text:?}: {shown}");
        if text.len() > 8 {
            assert!(!shown.contains(text), "the error quotes the key: {shown}");
        }
    }
    assert!(matches!(SuiKey::parse(&secp), Err(KeyError::NotEd25519(_))));
}

#[test]
fn debug_output_never_shows_the_secret() {
    let key = SuiKey::generate();
    let secret = key.export_suiprivkey();
    let payload = fastcrypto::encoding::Bech32::decode(&secret, "suiprivkey").unwrap();
    let shown = format!("{key:?} {:?}", key.signer());
    assert!(shown.contains(&key.address().to_string()), "{shown}");
    for form in [secret, STANDARD.encode(&payload), hex::encode(&payload[1..])] {
        assert!(!shown.contains(&form), "{shown} shows {form}");
    }
}

#[test]
fn keystore_keeps_every_entry_and_is_written_private() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sui.keystore");
    let first = SuiKey::generate();
    let other_scheme = entry(1, &[5u8; 32]);
    let first_entry = {
        // The entry exactly as the Sui CLI writes it: Base64 of 0x00 || key.
        let payload = fastcrypto::encoding::Bech32::decode(&first.export_suiprivkey(), "suiprivkey").unwrap();
        STANDARD.encode(payload)
    };
    std::fs::write(&path, serde_json::to_string(&[&other_scheme, &first_entry]).unwrap()).unwrap();

    // The Sui CLI often leaves its keystore at 0644: it is read, with a warning saying how to
    // fix it; a private one is read silently.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (open, warnings) = logged(|| Keystore::read(&path));
    assert_eq!(open.unwrap().keys(), vec![first.clone()]);
    let shown = path.display().to_string();
    assert!(warnings.contains("WARN") && warnings.contains(&format!("chmod 600 {shown}")), "{warnings}");
    assert!(!warnings.contains(&first_entry), "the warning quotes a key: {warnings}");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (private, warnings) = logged(|| Keystore::read(&path));
    assert!(warnings.is_empty(), "{warnings}");

    let mut store = private.unwrap();
    assert_eq!(store.keys(), vec![first.clone()]);
    assert_eq!(store.find(&first.address()).unwrap(), first);
    assert!(!store.add(&first), "a key already present is not added twice");
    let second = SuiKey::generate();
    let missing = store.find(&second.address()).unwrap_err().to_string();
    assert!(missing.contains(&first.address().to_string()), "{missing}");
    assert!(store.add(&second));
    let debug = format!("{store:?}");
    assert!(!debug.contains(&first_entry), "{debug}");

    // Group- or world-readable before, private after; other schemes' keys survive.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    store.write().unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
    let written: Vec<String> = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(written[..2], [other_scheme, first_entry]);
    assert_eq!(written.len(), 3);
    assert_eq!(Keystore::read(&path).unwrap().keys(), vec![first, second]);
    let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(leftovers, ["sui.keystore"], "no temporary file stays behind");

    // A new keystore is created private too.
    let fresh = dir.path().join("new.keystore");
    let mut store = Keystore::new(&fresh);
    store.add(&SuiKey::generate());
    store.write().unwrap();
    assert_eq!(std::fs::metadata(&fresh).unwrap().permissions().mode() & 0o777, 0o600);
}
