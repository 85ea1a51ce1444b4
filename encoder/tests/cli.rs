//! The `walrus-encoder` command line, as users and scripts run it.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

fn binary() -> Command {
    Command::new(env!("CARGO_BIN_EXE_walrus-encoder"))
}

fn run(args: &[&str]) -> Output {
    binary().args(args).output().expect("the binary runs")
}

/// Starts the binary with standard output and error piped back.
fn spawn(args: &[&str], stdin: Stdio) -> Child {
    binary().args(args).stdin(stdin).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("the binary runs")
}

fn run_with_stdin(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = spawn(args, Stdio::piped());
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
    assert!(stdout(&out).contains("26 of 26 slivers good"), "{}", stdout(&out));
    assert!(stdout(&out).contains("complete: every sliver is present and good"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("pair "), "per-pair lines only with --verbose: {}", stdout(&out));

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
    assert!(report.contains("primary:   12 good, 1 bad, 0 missing (5 good needed to decode)"), "{report}");
    assert!(report.contains("can still be decoded from its primary or its secondary slivers"), "{report}");

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
    let out = run(&["decode", path(&enc), "--out", path(&out_file), "--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&out_file).unwrap(), blob);
}

/// With as many threads as a large server has (`RAYON_NUM_THREADS=64`), `decode` reads its
/// slivers in batches as it does here. Catches the mutant (cargo-mutants) `replace * with / in
/// EncodingFolder::valid_slivers`, whose batch of `16 / threads` slivers is empty from 17
/// threads on (a panic); on this machine's few threads it went unnoticed.
#[test]
fn decode_works_with_many_threads() {
    let dir = tempfile::tempdir().unwrap();
    let blob = common::splitmix64(6, 20_000);
    encode_into(dir.path(), &blob, 10);
    let enc = dir.path().join("enc");
    let out = binary().args(["decode", path(&enc), "--out", "-"]).env("RAYON_NUM_THREADS", "64").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout == blob, "decode returned other bytes than the blob");
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
    // A file where a folder belongs is named as such (not "holds no metadata.bcs"), and a path
    // through a file is an error opening it, not one that does not exist: these catch the
    // mutants (cargo-mutants) that replace `ensure_folder`'s match guards with `true`.
    let not_a_folder = format!("{} is not a folder", path(&file));
    let under_file = file.join("sub");
    let opening_under_file = format!("opening {}", path(&under_file));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["blob-id", path(&file), "--shards", "3"], "n_shards must be at least 4"),
        (vec!["blob-id", path(&file), "--shards", "0"], "n_shards must be at least 4"),
        (vec!["blob-id", path(&file), "--shards", "49156"], "beyond the supported maximum of 49155"),
        (vec!["blob-id", path(&file), "--shards", "65536"], "not a shard count from 4 to 49155"),
        (vec!["blob-id", "/nonexistent/file", "-n", "10"], "opening /nonexistent/file"),
        (
            vec!["decode", path(dir.path()), "--out", "x"],
            "holds no metadata.bcs: it is not a folder written by `walrus-encoder encode`",
        ),
        (vec!["verify", "/nonexistent"], "/nonexistent does not exist"),
        (vec!["verify", path(&file)], &not_a_folder),
        (vec!["decode", path(&file), "--out", "-"], &not_a_folder),
        (vec!["encode", path(&file), "-n", "4", "--out", path(&file)], &not_a_folder),
        (vec!["verify", path(&under_file)], &opening_under_file),
    ];
    for (args, message) in cases {
        let out = run(&args);
        let usage_error = args.contains(&"--shards");
        assert_eq!(out.status.code(), Some(if usage_error { 2 } else { 1 }), "{args:?}");
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
    // The range stated is the range accepted (not clap's `1..=65535` for a u16).
    assert!(stdout(&out).contains("from 4 to 49155"), "{}", stdout(&out));
    assert!(!stdout(&out).contains("65535"), "{}", stdout(&out));
}

/// The names in `dir`, sorted: to see that nothing (such as a hidden temporary file) was left.
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[test]
fn decode_out_writes_only_regular_files_and_replaces_one_only_with_force() {
    use std::os::unix::fs::{symlink, FileTypeExt};

    let dir = tempfile::tempdir().unwrap();
    let blob = common::splitmix64(7, 20_000);
    encode_into(dir.path(), &blob, 10);
    let enc = dir.path().join("enc");
    let targets = dir.path().join("targets");
    fs::create_dir(&targets).unwrap();
    let decode_to = |out: &Path, extra: &[&str]| {
        let mut args = vec!["decode", path(&enc), "--out", path(out)];
        args.extend_from_slice(extra);
        run(&args)
    };

    // A named pipe, a symbolic link (to a file that must stay as it is) and a folder.
    let fifo = targets.join("fifo");
    let c_path = std::ffi::CString::new(path(&fifo)).unwrap();
    assert_eq!(unsafe { libc::mkfifo(c_path.as_ptr(), 0o600) }, 0);
    let kept = targets.join("kept.txt");
    fs::write(&kept, "keep me").unwrap();
    let link = targets.join("link");
    symlink(&kept, &link).unwrap();
    let folder = targets.join("folder");
    fs::create_dir(&folder).unwrap();
    // A device node like /dev/full (character device 1:7), where we may create one (root).
    let device = targets.join("full");
    let c_device = std::ffi::CString::new(path(&device)).unwrap();
    let have_device = unsafe { libc::mknod(c_device.as_ptr(), libc::S_IFCHR | 0o600, libc::makedev(1, 7)) } == 0;

    let mut cases = vec![(&fifo, "is a named pipe"), (&link, "is a symbolic link"), (&folder, "is a folder")];
    if have_device {
        cases.push((&device, "is a character device"));
    }
    for (target, message) in cases {
        for extra in [&[][..], &["--force"][..]] {
            let out = decode_to(target, extra);
            assert_eq!(out.status.code(), Some(1), "{target:?} {extra:?}");
            assert!(stderr(&out).contains(message), "{}", stderr(&out));
            assert!(stderr(&out).contains("--out -"), "the error says how to write there: {}", stderr(&out));
        }
    }
    assert!(fs::symlink_metadata(&fifo).unwrap().file_type().is_fifo());
    assert!(fs::symlink_metadata(&link).unwrap().file_type().is_symlink());
    assert_eq!(fs::read_to_string(&kept).unwrap(), "keep me");
    if have_device {
        assert!(fs::symlink_metadata(&device).unwrap().file_type().is_char_device());
    }

    // A regular file is replaced only with --force.
    let out = decode_to(&kept, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("kept.txt already exists: pass --force to replace it"), "{}", stderr(&out));
    assert_eq!(fs::read_to_string(&kept).unwrap(), "keep me");
    let out = decode_to(&kept, &["--force"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(fs::read(&kept).unwrap(), blob);
    // A new file, in a folder that does not exist: an error, and no temporary file anywhere.
    let out = decode_to(&targets.join("no/such/dir/x"), &[]);
    assert_eq!(out.status.code(), Some(1));
    let mut expected = vec!["fifo", "folder", "kept.txt", "link"];
    if have_device {
        expected.insert(2, "full");
    }
    assert_eq!(names(&targets), expected);
}

/// A blob large enough that encoding it with 1000 shards takes a noticeable time.
fn slow_input(dir: &Path) -> std::path::PathBuf {
    let input = dir.join("slow.bin");
    fs::write(&input, common::splitmix64(8, 24 << 20)).unwrap();
    input
}

/// A second encoder into a folder being written fails at once, and so does a reader (`verify`,
/// `decode`), each told plainly why. The reader's message catches the mutant (cargo-mutants)
/// `replace match guard exclusive with true in lock`, which gave readers the encoder's.
#[test]
fn a_second_encoder_into_the_same_folder_fails_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let input = slow_input(dir.path());
    let enc = dir.path().join("enc");
    let encode = || spawn(&["encode", path(&input), "--out", path(&enc)], Stdio::null());
    let mut first = encode();
    // Wait until the first one is writing (it holds the lock by then).
    while !enc.join("slivers.partial").exists() {
        assert!(first.try_wait().unwrap().is_none(), "the first encoder ended early");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let second = encode().wait_with_output().unwrap();
    assert!(first.try_wait().unwrap().is_none(), "the two encoders did not overlap: use a larger blob");
    assert_eq!(second.status.code(), Some(1));
    assert!(
        stderr(&second).contains(&format!("{} is in use by another walrus-encoder process", enc.display())),
        "{}",
        stderr(&second)
    );
    assert!(stdout(&second).is_empty());
    for reader in [&["verify", path(&enc)][..], &["decode", path(&enc), "--out", "-"]] {
        let out = run(reader);
        assert_eq!(out.status.code(), Some(1), "{reader:?}");
        let why = format!("{} is being written by another walrus-encoder process right now", enc.display());
        assert!(stderr(&out).contains(&why), "{reader:?}: {}", stderr(&out));
    }
    assert!(first.try_wait().unwrap().is_none(), "the readers did not overlap the encoder: use a larger blob");
    let first = first.wait_with_output().unwrap();
    assert!(first.status.success(), "{}", stderr(&first));
    let out = run(&["verify", path(&enc)]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("2000 of 2000 slivers good"), "{}", stdout(&out));
}

#[test]
fn encoders_racing_for_a_folder_never_both_claim_it() {
    let dir = tempfile::tempdir().unwrap();
    let input = slow_input(dir.path());
    let enc = dir.path().join("enc");
    let children: Vec<_> =
        (0..3).map(|_| spawn(&["encode", path(&input), "-n", "300", "--out", path(&enc)], Stdio::null())).collect();
    let outputs: Vec<Output> = children.into_iter().map(|c| c.wait_with_output().unwrap()).collect();
    let succeeded = outputs.iter().filter(|o| o.status.success()).count();
    assert!(succeeded >= 1, "{:?}", outputs.iter().map(stderr).collect::<Vec<_>>());
    for o in outputs.iter().filter(|o| !o.status.success()) {
        assert!(stderr(o).contains("is in use by another walrus-encoder process"), "{}", stderr(o));
    }
    let out = run(&["verify", path(&enc)]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stdout(&out).contains("600 of 600 slivers good"), "{}", stdout(&out));
}

#[test]
fn verify_fails_on_an_incomplete_folder_and_says_whether_it_decodes() {
    let dir = tempfile::tempdir().unwrap();
    encode_into(dir.path(), &common::splitmix64(9, 50_000), 10);
    let enc = dir.path().join("enc");
    let slivers = enc.join("slivers");
    // n = 10: 4 primary or 7 secondary slivers decode. Drop 5 primary and 2 secondary.
    for p in 3..8 {
        fs::remove_file(slivers.join(format!("{p}.primary.bcs"))).unwrap();
    }
    for p in [0, 9] {
        fs::remove_file(slivers.join(format!("{p}.secondary.bcs"))).unwrap();
    }
    let out = run(&["verify", path(&enc)]);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    assert!(report.contains("13 of 20 slivers good"), "{report}");
    assert!(report.contains("primary:   5 good, 0 bad, 5 missing (4 good needed to decode)"), "{report}");
    assert!(report.contains("secondary: 8 good, 0 bad, 2 missing (7 good needed to decode)"), "{report}");
    assert!(report.contains("missing primary slivers of pairs 3-7"), "{report}");
    assert!(report.contains("missing secondary slivers of pairs 0, 9"), "{report}");
    assert!(report.contains("can still be decoded from its primary or its secondary slivers"), "{report}");
    assert!(!report.contains(": primary ok"), "no per-pair lines without --verbose: {report}");
    let verbose = stdout(&run(&["verify", path(&enc), "--verbose"]));
    assert_eq!(verbose.lines().filter(|l| l.starts_with("pair ")).count(), 10, "{verbose}");
    assert!(verbose.contains("primary missing, secondary ok  MISSING"), "{verbose}");

    // Two secondary slivers fewer: only the primary axis still decodes.
    for p in [1, 2] {
        fs::remove_file(slivers.join(format!("{p}.secondary.bcs"))).unwrap();
    }
    let report = stdout(&run(&["verify", path(&enc)]));
    assert!(report.contains("decoded from its primary slivers\n"), "{report}");
    // Two primary fewer: nothing decodes, and decode agrees.
    for p in [0, 1] {
        fs::remove_file(slivers.join(format!("{p}.primary.bcs"))).unwrap();
    }
    let out = run(&["verify", path(&enc)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("NOT DECODABLE"), "{}", stdout(&out));
    assert!(!run(&["decode", path(&enc), "--out", "-"]).status.success());

    // No slivers at all: the reason is given.
    fs::remove_dir_all(&slivers).unwrap();
    let out = run(&["verify", path(&enc)]);
    assert_eq!(out.status.code(), Some(1));
    let report = stdout(&out);
    assert!(report.contains("0 of 20 slivers good"), "{report}");
    assert!(report.contains(&format!("no slivers: {} does not exist", slivers.display())), "{report}");
    assert!(report.contains("NOT DECODABLE"), "{report}");

    // `slivers` there but not a folder: an error listing it, not a folder said not to exist.
    // Catches the mutant (cargo-mutants) that replaces `sliver_files`'s `NotFound` guard with
    // `true`, which took every listing error for a missing folder.
    fs::write(&slivers, b"not a folder").unwrap();
    for args in [&["verify", path(&enc)][..], &["decode", path(&enc), "--out", "-"]] {
        let out = run(args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(stderr(&out).contains(&format!("listing {}", slivers.display())), "{args:?}: {}", stderr(&out));
        assert!(stdout(&out).is_empty(), "{args:?}: {}", stdout(&out));
    }
}

#[test]
fn stray_and_misplaced_sliver_files_are_named_plainly() {
    let dir = tempfile::tempdir().unwrap();
    encode_into(dir.path(), &common::splitmix64(10, 5000), 10);
    let enc = dir.path().join("enc");
    let slivers = enc.join("slivers");
    // A pair that cannot exist with 10 shards.
    fs::copy(slivers.join("1.primary.bcs"), slivers.join("5000.primary.bcs")).unwrap();
    let out = run(&["verify", path(&enc)]);
    assert!(out.status.success(), "{}", stdout(&out));
    assert!(stderr(&out).contains("5000.primary.bcs: there is no sliver pair 5000 with 10 shards"), "{}", stderr(&out));
    assert!(!stdout(&out).contains("pair 5000"), "{}", stdout(&out));
    // Pair 7's secondary sliver (index 2) under pair 7's primary name.
    fs::copy(slivers.join("7.secondary.bcs"), slivers.join("7.primary.bcs")).unwrap();
    let out = run(&["verify", path(&enc)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("holds secondary sliver 2 (of pair 7), not primary sliver 7"), "{}", stdout(&out));
    // A secondary-length sliver whose index (10) is past the last: not taken for a secondary
    // sliver of some pair, just the wrong sliver (caught the surviving mutant `< n` → `<= n`).
    let mut bytes = fs::read(slivers.join("7.secondary.bcs")).unwrap();
    let at = bytes.len() - 2;
    bytes[at..].copy_from_slice(&10u16.to_le_bytes());
    fs::write(slivers.join("7.primary.bcs"), bytes).unwrap();
    let out = run(&["verify", path(&enc)]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("holds primary sliver 10, but pair 7 has primary sliver 7"), "{}", stdout(&out));
}

/// Runs the binary with its address space limited to `bytes`, as `ulimit -v` would.
fn run_with_memory_limit(args: &[&str], bytes: u64) -> Output {
    use std::os::unix::process::CommandExt;
    let mut command = binary();
    command.args(args);
    // SAFETY: setrlimit is async-signal-safe, as pre_exec requires.
    unsafe {
        command.pre_exec(move || {
            let limit = libc::rlimit { rlim_cur: bytes, rlim_max: bytes };
            if libc::setrlimit(libc::RLIMIT_AS, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    command.output().unwrap()
}

#[test]
fn a_shard_count_that_would_not_fit_in_memory_is_refused_before_allocating() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("k");
    fs::write(&file, vec![1u8; 1024]).unwrap();
    let enc = dir.path().join("enc");
    const LIMIT: u64 = 2 << 30;
    // 49155 shards (the code's maximum) need about 116 GB: refused, not aborted.
    for args in [
        vec!["blob-id", path(&file), "-n", "49155"],
        vec!["encode", path(&file), "-n", "49155", "--out", path(&enc)],
        vec!["encode", path(&file), "-n", "8000", "--out", path(&enc)],
    ] {
        let out = run_with_memory_limit(&args, LIMIT);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", stderr(&out));
        let need = if args.contains(&"8000") { "3.2 GB" } else { "116.1 GB" };
        assert!(
            stderr(&out).contains(&format!("with {} shards needs about {need} of memory, but only", args[3])),
            "{}",
            stderr(&out)
        );
        assert!(!stderr(&out).contains("memory allocation"), "{}", stderr(&out));
    }
    assert!(!enc.exists(), "nothing is written before the check");
    // Within the limit, the same blob encodes.
    let out = run_with_memory_limit(&["encode", path(&file), "-n", "1000", "--out", path(&enc)], LIMIT);
    assert!(out.status.success(), "{}", stderr(&out));
}

#[test]
fn a_reader_that_stops_early_gets_no_error() {
    let dir = tempfile::tempdir().unwrap();
    let blob = common::splitmix64(11, 3 << 20);
    encode_into(dir.path(), &blob, 100);
    let enc = dir.path().join("enc");
    for args in [vec!["verify", path(&enc), "--verbose"], vec!["decode", path(&enc), "--out", "-"]] {
        let mut child = spawn(&args, Stdio::null());
        // Like `| head -c0`: the reader is gone before the first write (verifying and decoding
        // take milliseconds; this takes microseconds), so every write meets a closed pipe.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert!(
            out.status.success() || out.status.signal() == Some(libc::SIGPIPE),
            "{args:?}: {:?} {}",
            out.status,
            stderr(&out)
        );
        assert!(stderr(&out).is_empty(), "{args:?}: {}", stderr(&out));
    }
}

#[test]
fn piped_runs_print_no_progress() {
    let dir = tempfile::tempdir().unwrap();
    encode_into(dir.path(), &common::splitmix64(12, 1 << 20), 100);
    let enc = dir.path().join("enc");
    let out = run(&["blob-id", path(&dir.path().join("blob.bin")), "-n", "100"]);
    assert!(out.status.success() && stderr(&out).is_empty(), "{}", stderr(&out));
    let out = run(&["verify", path(&enc)]);
    assert!(out.status.success() && stderr(&out).is_empty(), "{}", stderr(&out));
}

/// Flips one byte of a sliver file's data (past its BCS header), chosen by `rng`.
fn corrupt_sliver_file(file: &Path, rng: &mut common::SplitMix64) {
    let mut bytes = fs::read(file).unwrap();
    // The data sits between its ULEB128 length (at most 5 bytes) and the symbol size and index
    // (4 bytes): a flip there changes the symbols, not the sliver's shape.
    let at = 5 + rng.below(bytes.len() as u64 - 9) as usize;
    bytes[at] ^= 1 << rng.below(8);
    fs::write(file, bytes).unwrap();
}

/// A seed that differs from run to run (so every pair gets its turn over time), printed in
/// every failure and fixed with `WALRUS_TEST_SEED` to replay one.
fn test_seed() -> u64 {
    std::env::var("WALRUS_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    })
}

/// A flipped byte in any sliver (first pair, last pair, a random pair; either axis) makes
/// `verify` name that pair and exit 1, and `decode` reject that file and still return the
/// blob from the good ones. Catches the escaped mutation that skipped checking pair 0 in the
/// folder reader (`verify` said "20 good, 0 bad"; `decode` exited 0 with wrong bytes): the
/// older test only ever corrupted pair 2.
#[test]
fn a_flipped_byte_in_any_sliver_is_reported_and_never_decoded() {
    const N: u16 = 10;
    let seed = test_seed();
    let mut rng = common::SplitMix64::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let blob = common::splitmix64(13, 25_000);
    encode_into(dir.path(), &blob, N);
    let pristine = dir.path().join("enc");
    let random_pair = rng.below(u64::from(N)) as u16;
    for pair in [0, N - 1, random_pair] {
        for (axis, needed) in [("primary", 4), ("secondary", 7)] {
            let case = format!("pair {pair} {axis} (WALRUS_TEST_SEED={seed})");
            let enc = dir.path().join(format!("case-{pair}-{axis}"));
            let slivers = enc.join("slivers");
            fs::create_dir_all(&slivers).unwrap();
            fs::copy(pristine.join("metadata.bcs"), enc.join("metadata.bcs")).unwrap();
            for entry in fs::read_dir(pristine.join("slivers")).unwrap() {
                let entry = entry.unwrap();
                fs::copy(entry.path(), slivers.join(entry.file_name())).unwrap();
            }
            let victim = format!("{pair}.{axis}.bcs");
            corrupt_sliver_file(&slivers.join(&victim), &mut rng);

            let out = run(&["verify", path(&enc)]);
            let report = stdout(&out);
            assert_eq!(out.status.code(), Some(1), "{case}: {report}");
            let bad: Vec<&str> = report.lines().filter(|l| l.contains("BAD")).collect();
            assert_eq!(bad.len(), 1, "{case}: {report}");
            assert!(bad[0].starts_with(&format!("pair {pair} ")), "{case}: {report}");
            let other = if axis == "primary" { "secondary" } else { "primary" };
            assert!(
                report.contains(&format!("{axis}:{}9 good, 1 bad, 0 missing", " ".repeat(10 - axis.len()))),
                "{case}: {report}"
            );
            assert!(
                report.contains(&format!("{other}:{}10 good, 0 bad", " ".repeat(10 - other.len()))),
                "{case}: {report}"
            );

            // Only the victim and `needed` good slivers of its axis are left, so decode must
            // refuse the victim and decode from exactly the good ones. It verifies primary
            // slivers only when what it decoded from the first `needed` fails its check, so it
            // names the victim only if the victim was among them.
            let mut kept = 0;
            for p in 0..N {
                if p != pair && kept < needed {
                    kept += 1;
                } else if p != pair {
                    fs::remove_file(slivers.join(format!("{p}.{axis}.bcs"))).unwrap();
                }
                fs::remove_file(slivers.join(format!("{p}.{other}.bcs"))).unwrap();
            }
            let out = run(&["decode", path(&enc), "--out", "-"]);
            assert!(out.status.success(), "{case}: {}", stderr(&out));
            assert!(out.stdout == blob, "{case}: decode returned other bytes than the blob");
            let victim_used = axis == "secondary" || pair < needed;
            assert_eq!(
                stderr(&out).contains(&format!("rejected slivers/{victim}")),
                victim_used,
                "{case}: {}",
                stderr(&out)
            );

            // One good sliver fewer: too few, said plainly, and nothing written.
            let last_good = (0..N).rev().find(|&p| p != pair && slivers.join(format!("{p}.{axis}.bcs")).exists());
            fs::remove_file(slivers.join(format!("{}.{axis}.bcs", last_good.unwrap()))).unwrap();
            let out = run(&["decode", path(&enc), "--out", "-"]);
            assert_eq!(out.status.code(), Some(1), "{case}");
            assert!(out.stdout.is_empty(), "{case}");
            assert!(
                stderr(&out).contains("too few valid slivers to decode")
                    && stderr(&out).contains(&format!("{} {axis} ({needed} needed)", needed - 1)),
                "{case}: {}",
                stderr(&out)
            );
        }
    }
}

/// A folder whose metadata lies about a systematic row (its hash and blob ID forged to match
/// a different row 0 or last row): every sliver but that row's verifies, and `decode` must
/// refuse the blob rather than print bytes that do not match the blob ID. Catches the escaped
/// mutation that made the default consistency check skip a row.
#[test]
fn decode_refuses_a_folder_whose_metadata_lies_about_a_row() {
    use walrus_encoder::{BlobMetadata, BlobMetadataWithId, Primary, Sliver};
    const N: u16 = 10;
    let dir = tempfile::tempdir().unwrap();
    let blob = common::splitmix64(14, 12_000);
    encode_into(dir.path(), &blob, N);
    let enc = dir.path().join("enc");
    let honest = BlobMetadataWithId::from_bcs(&fs::read(enc.join("metadata.bcs")).unwrap()).unwrap();
    let layout = honest.clone().verify().unwrap().layout();
    let kp = layout.params().primary_source_symbols();
    for row in [0, kp - 1] {
        let mut other_row = fs::read(enc.join(format!("slivers/{row}.primary.bcs"))).unwrap();
        other_row[7] ^= 1;
        let mut forged = honest.clone();
        let BlobMetadata::V1(v1) = &mut forged.metadata;
        v1.hashes[usize::from(row)].primary_hash =
            Sliver::<Primary>::from_bcs(&other_row).unwrap().compute_hash(&layout).unwrap();
        forged.blob_id = forged.metadata.compute_blob_id();
        fs::write(enc.join("metadata.bcs"), forged.to_bcs()).unwrap();
        for extra in [&[][..], &["--strict"][..]] {
            let mut args = vec!["decode", path(&enc), "--out", "-"];
            args.extend_from_slice(extra);
            let out = run(&args);
            assert_eq!(out.status.code(), Some(1), "row {row} {extra:?}");
            assert!(out.stdout.is_empty(), "row {row} {extra:?}: printed a blob the metadata does not describe");
            assert!(
                stderr(&out).contains("the decoded blob is inconsistent with the metadata"),
                "row {row} {extra:?}: {}",
                stderr(&out)
            );
        }
    }
}
