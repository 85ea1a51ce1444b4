//! The `walrus` binary on bad input and on the commands that need no chain.

use std::process::{Command, Output};

use walrus_encoder::BlobId;

fn walrus(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_walrus")).args(args).env_remove("WALRUS_CONFIG").output().unwrap()
}

/// Asserts a failure whose standard error says `expected`.
fn fails_with(args: &[&str], expected: &str) {
    let output = walrus(args);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{args:?} succeeded");
    assert!(stderr.contains(expected), "{args:?}: {stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

fn stdout(args: &[&str]) -> String {
    let output = walrus(args);
    assert!(output.status.success(), "{args:?}: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn blob_ids_convert_between_forms() {
    let id = BlobId([0x11; 32]);
    let decimal = id.to_u256_decimal();
    assert_eq!(stdout(&["convert-blob-id", &decimal]).trim(), id.to_string());
    let json: serde_json::Value = serde_json::from_str(&stdout(&["--json", "convert-blob-id", &decimal])).unwrap();
    assert_eq!(json["blobId"], id.to_string());
    fails_with(&["convert-blob-id", "not-a-blob-id"], "invalid blob ID");
    fails_with(&["read", "12ab"], "invalid blob ID");
}

#[test]
fn blob_id_of_a_file_matches_the_encoder() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("blob.bin");
    std::fs::write(&path, b"hello walrus").unwrap();
    let expected = walrus_encoder::compute_metadata(10, b"hello walrus").unwrap().blob_id();
    assert_eq!(stdout(&["blob-id", path.to_str().unwrap(), "--n-shards", "10"]).trim(), expected.to_string());
    fails_with(&["blob-id", path.to_str().unwrap(), "--n-shards", "1"], "n_shards must be at least");
}

#[test]
fn missing_files_are_named() {
    fails_with(&["blob-id", "/no/such/file", "--n-shards", "10"], "cannot read /no/such/file");
}

#[test]
fn configuration_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.toml");
    std::fs::write(&garbage, "this is = not [toml").unwrap();
    fails_with(&["--config", garbage.to_str().unwrap(), "info"], "is not a valid client configuration");
    let typo = dir.path().join("typo.toml");
    std::fs::write(&typo, "[client]\nmax_atempts = 3\n").unwrap();
    fails_with(&["--config", typo.to_str().unwrap(), "info"], "unknown field `max_atempts`");
    fails_with(&["--config", "/no/such/client.toml", "info"], "cannot read /no/such/client.toml");

    // Commands that need the chain say so when there is none, or one this build does not know.
    fails_with(&["info"], "no chain is configured");
    fails_with(&["store", "/etc/hostname", "--epochs", "1"], "no chain is configured");
    let local = dir.path().join("local.toml");
    std::fs::write(&local, "[chain]\nkind = \"local\"\nurl = \"http://127.0.0.1:1\"\n").unwrap();
    fails_with(&["--config", local.to_str().unwrap(), "info"], "[chain] of kind \"local\": missing field `sender`");
    let sui = dir.path().join("sui.toml");
    std::fs::write(&sui, "[chain]\nkind = \"sui\"\n").unwrap();
    fails_with(
        &["--config", sui.to_str().unwrap(), "read", &BlobId([1; 32]).to_string()],
        "[chain] kind \"sui\" is not known",
    );
}

#[test]
fn usage_errors_exit_non_zero() {
    fails_with(&["store", "file"], "--epochs");
    fails_with(&["store", "file", "--epochs", "forever"], "neither a number of epochs nor `max`");
    fails_with(&["delete"], "--blob-id");
    fails_with(&["blob-status"], "--blob-id");
}
