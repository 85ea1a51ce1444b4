//! The `walrus-encoder` command line, as users and scripts run it.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_walrus-encoder")).args(args).output().expect("the binary runs")
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_walrus-encoder"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Encodes `blob` with `n` shards into `dir/enc`; returns the blob ID printed.
fn encode_into(dir: &Path, blob: &[u8], n: u16) -> String {
    let input = dir.join("blob.bin");
    fs::write(&input, blob).unwrap();
    let out = run(&["encode", path(&input), "--shards", &n.to_string(), "--out", path(&dir.join("enc"))]);
    assert!(out.status.success(), "{}", stderr(&out));
    stdout(&out).trim().to_string()
}

#[test]
fn blob_id_prints_only_the_id_and_reads_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let blob = common::splitmix64(1, 70_000);
    let file = dir.path().join("b");
    fs::write(&file, &blob).unwrap();
    let expected = walrus_encoder::compute_metadata(100, &blob).unwrap().blob_id().to_string();
    let out = run(&["blob-id", path(&file), "--shards", "100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out), format!("{expected}\n"));
    let out = run_with_stdin(&["blob-id", "-", "-n", "100"], &blob);
    assert_eq!(stdout(&out), format!("{expected}\n"));
}

#[test]
fn encode_writes_the_folder_layout() {
    let dir = tempfile::tempdir().unwrap();
    let blob = common::splitmix64(2, 40_000);
    let id = encode_into(dir.path(), &blob, 10);
    let enc = dir.path().join("enc");
    let expected = walrus_encoder::encode(10, &blob).unwrap();
    assert_eq!(id, expected.metadata.blob_id().to_string());
    assert_eq!(fs::read(enc.join("metadata.bcs")).unwrap(), expected.metadata.as_metadata_with_id().to_bcs());
    for (p, pair) in expected.pairs.iter().enumerate() {
        assert_eq!(fs::read(enc.join(format!("slivers/{p}.primary.bcs"))).unwrap(), pair.primary.to_bcs(), "pair {p}");
        assert_eq!(
            fs::read(enc.join(format!("slivers/{p}.secondary.bcs"))).unwrap(),
            pair.secondary.to_bcs(),
            "pair {p}"
        );
    }
    assert_eq!(fs::read_dir(enc.join("slivers")).unwrap().count(), 20);
    assert!(!enc.join("slivers.partial").exists());

    let json: serde_json::Value = serde_json::from_slice(&fs::read(enc.join("blob.json")).unwrap()).unwrap();
    let layout = expected.metadata.layout();
    assert_eq!(json["blob_id"], id);
    assert_eq!(json["unencoded_length"], 40_000);
    assert_eq!(json["n_shards"], 10);
    assert_eq!(json["symbol_size"], layout.symbol_size());
    assert_eq!(json["encoded_length"], layout.encoded_length());
    let rotation = expected.metadata.rotation();
    let shards: Vec<u64> = json["shards"].as_array().unwrap().iter().map(|s| s.as_u64().unwrap()).collect();
    assert_eq!(
        shards,
        (0..10).map(|p| u64::from(rotation.shard_of(walrus_encoder::SliverPairIndex(p)).0)).collect::<Vec<_>>()
    );

    // Encoding again into the same folder replaces the earlier encoding.
    let id2 = encode_into(dir.path(), b"another blob", 10);
    assert_ne!(id, id2);
    assert!(run(&["verify", path(&enc)]).status.success());
}

#[test]
fn encode_reads_stdin() {
    let dir = tempfile::tempdir().unwrap();
    let blob = common::splitmix64(3, 9_000);
    let enc = dir.path().join("enc");
    let out = run_with_stdin(&["encode", "-", "-n", "7", "--out", path(&enc)], &blob);
    assert!(out.status.success(), "{}", stderr(&out));
    let decoded = run(&["decode", path(&enc), "--out", "-"]);
    assert!(decoded.status.success(), "{}", stderr(&decoded));
    assert_eq!(decoded.stdout, blob);
}

#[test]
fn verify_names_the_pair_of_a_flipped_byte_and_decode_rejects_it() {
    let dir = tempfile::tempdir().unwrap();
    let blob = common::splitmix64(4, 30_000);
    encode_into(dir.path(), &blob, 13);
    let enc = dir.path().join("enc");
    let out = run(&["verify", path(&enc)]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("26 slivers checked"), "{}", stdout(&out));

    let victim = enc.join("slivers/2.primary.bcs");
    let mut bytes = fs::read(&victim).unwrap();
    bytes[10] ^= 0x40;
    fs::write(&victim, bytes).unwrap();
    let out = run(&["verify", path(&enc)]);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    let bad: Vec<&str> = report.lines().filter(|l| l.contains("BAD")).collect();
    assert_eq!(bad.len(), 1, "{report}");
    assert!(bad[0].starts_with("pair 2 "), "{report}");
    assert!(report.contains("1 bad"), "{report}");

    // Decoding from the primary slivers (0..5 of 13) must skip pair 2 and say so.
    for p in 5..13 {
        fs::remove_file(enc.join(format!("slivers/{p}.primary.bcs"))).unwrap();
    }
    for p in 0..13 {
        fs::remove_file(enc.join(format!("slivers/{p}.secondary.bcs"))).unwrap();
    }
    let out_file = dir.path().join("out.bin");
    let out = run(&["decode", path(&enc), "--out", path(&out_file)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("rejected slivers/2.primary.bcs"), "{}", stderr(&out));
    assert!(stderr(&out).contains("too few valid slivers to decode: 4 primary (5 needed)"), "{}", stderr(&out));
    assert!(!out_file.exists());
}

#[test]
fn decode_uses_whatever_subset_suffices() {
    let dir = tempfile::tempdir().unwrap();
    let blob = common::splitmix64(5, 123_457);
    encode_into(dir.path(), &blob, 31);
    let enc = dir.path().join("enc");
    let slivers = enc.join("slivers");
    // Keep kp = 11 primary slivers (mostly non-systematic) and 23 secondary (21 needed).
    for p in 0..31 {
        if !(15..26).contains(&p) {
            fs::remove_file(slivers.join(format!("{p}.primary.bcs"))).unwrap();
        }
        if p % 4 == 0 {
            fs::remove_file(slivers.join(format!("{p}.secondary.bcs"))).unwrap();
        }
    }
    let out_file = dir.path().join("out.bin");
    let out = run(&["decode", path(&enc), "--out", path(&out_file), "--strict"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&out_file).unwrap(), blob);

    // One primary fewer: the secondary slivers take over.
    fs::remove_file(slivers.join("20.primary.bcs")).unwrap();
    let out = run(&["decode", path(&enc), "--out", path(&out_file)]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&out_file).unwrap(), blob);
}

#[test]
fn a_sliver_under_the_wrong_name_is_rejected() {
    let dir = tempfile::tempdir().unwrap();
    encode_into(dir.path(), &common::splitmix64(6, 5000), 10);
    let slivers = dir.path().join("enc/slivers");
    fs::rename(slivers.join("1.primary.bcs"), slivers.join("tmp")).unwrap();
    fs::rename(slivers.join("2.primary.bcs"), slivers.join("1.primary.bcs")).unwrap();
    fs::rename(slivers.join("tmp"), slivers.join("2.primary.bcs")).unwrap();
    fs::write(slivers.join("notes.txt"), "hello").unwrap();
    let out = run(&["verify", path(&dir.path().join("enc"))]);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    assert!(
        report.contains("pair 1 (shard") && report.contains("holds primary sliver 2, but pair 1 has primary sliver 1"),
        "{report}"
    );
    assert!(stderr(&out).contains("ignoring") && stderr(&out).contains("notes.txt"), "{}", stderr(&out));
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("b");
    fs::write(&file, b"data").unwrap();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["blob-id", path(&file), "--shards", "3"], "n_shards must be at least 4"),
        (vec!["blob-id", path(&file), "--shards", "0"], "invalid value '0'"),
        (vec!["blob-id", path(&file), "--shards", "60000"], "beyond the supported maximum"),
        (vec!["blob-id", "/nonexistent/file", "-n", "10"], "opening /nonexistent/file"),
        (vec!["decode", path(dir.path()), "--out", "x"], "holds no metadata.bcs"),
        (vec!["verify", "/nonexistent"], "holds no metadata.bcs"),
    ];
    for (args, message) in cases {
        let out = run(&args);
        assert_eq!(out.status.code(), Some(if message.starts_with("invalid value") { 2 } else { 1 }), "{args:?}");
        assert!(stderr(&out).contains(message), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}");
    }
    // A blob one byte over the limit for n = 4 (393 204 bytes), from a file and from stdin.
    let big = vec![0u8; 393_205];
    fs::write(&file, &big).unwrap();
    let out = run(&["encode", path(&file), "-n", "4", "--out", path(&dir.path().join("e"))]);
    assert!(stderr(&out).contains("the blob is too large: 393205 bytes, but at most 393204"), "{}", stderr(&out));
    let out = run_with_stdin(&["blob-id", "-", "-n", "4"], &big);
    assert!(stderr(&out).contains("the blob is too large"), "{}", stderr(&out));

    // Corrupt metadata.
    let enc = dir.path().join("enc");
    encode_into(dir.path(), b"small", 4);
    let meta = enc.join("metadata.bcs");
    let mut bytes = fs::read(&meta).unwrap();
    bytes[50] ^= 1;
    fs::write(&meta, &bytes).unwrap();
    let out = run(&["verify", path(&enc)]);
    assert!(stderr(&out).contains("does not hash to its blob ID"), "{}", stderr(&out));
    fs::write(&meta, &bytes[..20]).unwrap();
    let out = run(&["decode", path(&enc), "--out", "-"]);
    assert!(stderr(&out).contains("parsing") && stderr(&out).contains("metadata.bcs"), "{}", stderr(&out));
}

#[test]
fn help_explains_the_commands() {
    let out = run(&["--help"]);
    let help = stdout(&out);
    for command in ["blob-id", "encode", "decode", "verify"] {
        assert!(help.contains(command), "{help}");
    }
    let out = run(&["encode", "--help"]);
    assert!(stdout(&out).contains("--shards") && stdout(&out).contains("1000"), "{}", stdout(&out));
}
