//! The Move packages' publish payloads (`node scripts/move.mjs build --out DIR`): Sui's package
//! digest, computed here in Rust, agrees with the digests Sui's CLI printed for published
//! packages (tests/vectors/sui/package-digests.json, copied from public sources) and with the
//! digests the build writes (computed by Sui's own code compiled to WASM); the build is
//! deterministic, links the dependency at the ID it is given, and refuses to build against an
//! unpublished dependency.
//!
//! Needs Node.js >= 20 and `npm ci --prefix scripts`; without them the test fails, it never
//! skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use sui_sdk_types::Address;
use walrus_client::sui::package::{package_digest, PackageBuild, PackageError};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn build(out: &Path, extra: &[&str]) -> Output {
    Command::new("node")
        .current_dir(repo())
        .args(["scripts/move.mjs", "build", "--out"])
        .arg(out)
        .args(extra)
        .output()
        .unwrap_or_else(|e| panic!("cannot run node ({e}): this test needs Node.js >= 20 on PATH"))
}

fn cli_outputs() -> Vec<Value> {
    let text = std::fs::read_to_string(repo().join("tests/vectors/sui/package-digests.json")).unwrap();
    let file: Value = serde_json::from_str(&text).unwrap();
    file["packages"].as_array().unwrap().clone()
}

/// The payload JSON of one public CLI output, without our note of its source.
fn payload(package: &Value) -> Value {
    serde_json::json!({
        "modules": package["modules"],
        "dependencies": package["dependencies"],
        "digest": package["digest"],
    })
}

#[test]
fn digest_is_the_one_suis_cli_printed() {
    let packages = cli_outputs();
    assert!(packages.len() >= 2);
    for package in &packages {
        let build = PackageBuild::from_json(&payload(package).to_string())
            .unwrap_or_else(|e| panic!("{}: {e}", package["source"]));
        let expected: Vec<u8> = serde_json::from_value(package["digest"].clone()).unwrap();
        assert_eq!(build.digest.to_vec(), expected);

        // The order of dependencies does not matter; every byte of a module does.
        let mut dependencies = build.dependencies.clone();
        dependencies.reverse();
        assert_eq!(package_digest(&build.modules, &dependencies), build.digest);
        let mut modules = build.modules.clone();
        *modules[0].last_mut().unwrap() ^= 1;
        assert_ne!(package_digest(&modules, &build.dependencies), build.digest);
        let mut changed = payload(package);
        changed["dependencies"][0] = "0x3".into();
        assert!(matches!(PackageBuild::from_json(&changed.to_string()), Err(PackageError::Digest { .. })));
    }
}

#[test]
fn modules_order_does_not_change_the_digest() {
    let packages = cli_outputs();
    let builds: Vec<PackageBuild> =
        packages.iter().map(|p| PackageBuild::from_json(&payload(p).to_string()).unwrap()).collect();
    // Two published modules as one package, either way round.
    let modules = [builds[0].modules[0].clone(), builds[1].modules[0].clone()];
    let reversed = [modules[1].clone(), modules[0].clone()];
    let dependencies = &builds[0].dependencies;
    assert_eq!(package_digest(&modules, dependencies), package_digest(&reversed, dependencies));
    assert_ne!(package_digest(&modules, dependencies), builds[0].digest);
}

#[test]
fn our_packages_build_deterministically_with_suis_digest() {
    let wal_id = "0x5a1e000000000000000000000000000000000000000000000000000000000001";
    let dirs = [tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap()];
    for dir in &dirs {
        let out = build(dir.path(), &["--published", &format!("wal={wal_id}"), "move/wal", "move/walrus"]);
        assert!(
            out.status.success(),
            "build failed:\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let sources = |package: &str| std::fs::read_dir(repo().join("move").join(package).join("sources")).unwrap().count();
    let std_and_sui: Vec<Address> = ["0x1", "0x2"].iter().map(|a| a.parse().unwrap()).collect();
    for (package, extra) in [("wal", None), ("walrus", Some(wal_id))] {
        let file = |dir: &tempfile::TempDir| dir.path().join(format!("{package}.json"));
        let first = std::fs::read(file(&dirs[0])).unwrap();
        assert_eq!(first, std::fs::read(file(&dirs[1])).unwrap(), "{package}: two builds differ");

        // The digest the build wrote (Sui's code) is the one computed here.
        let build = PackageBuild::read(&file(&dirs[0])).unwrap_or_else(|e| panic!("{package}: {e}"));
        assert_eq!(build.modules.len(), sources(package), "{package}: one module per source file");
        let mut expected = std_and_sui.clone();
        expected.extend(extra.map(|id| id.parse::<Address>().unwrap()));
        let mut got = build.dependencies.clone();
        got.sort();
        expected.sort();
        assert_eq!(got, expected, "{package}: dependencies");
        if let Some(id) = extra {
            // The bytecode links the dependency at its published ID.
            let id = id.parse::<Address>().unwrap().into_inner();
            let linking = build.modules.iter().filter(|m| m.windows(32).any(|w| w == id)).count();
            assert!(linking > 0, "{package}: no module refers to {wal_id}");
        }
    }
}

#[test]
fn build_refuses_an_unpublished_dependency() {
    let dir = tempfile::tempdir().unwrap();
    let out = build(dir.path(), &["move/walrus"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!out.status.success(), "{stdout}");
    assert!(stdout.contains("unpublished wal") && stdout.contains("--published wal=ID"), "{stdout}");
    assert!(!dir.path().join("walrus.json").exists());
}
