//! The repository is self-contained: a fresh clone, with nothing beside it, builds and tests.
//! Walrus's data the tests compare with is copied into `tests/vectors/walrus/`, unmodified
//! (its README records each file's checksum), and no script, test or build file reaches for a
//! folder outside the repository, as they once did for a `shared/` folder beside the checkout.

use std::fs;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn walrus_data_is_the_recorded_copy() {
    let dir = repo().join("tests/vectors/walrus");
    let readme = fs::read_to_string(dir.join("README.md")).expect("tests/vectors/walrus/README.md");
    let mut files: Vec<String> = Vec::new();
    for line in readme.lines() {
        let Some((sum, name)) = line.split_once("  ") else { continue };
        if sum.len() != 64 || !sum.bytes().all(|b| b.is_ascii_hexdigit()) {
            continue;
        }
        let bytes = fs::read(dir.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sum, "{name} differs from the copy its README records");
        files.push(name.to_string());
    }
    files.sort();
    let mut present: Vec<String> = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|name| name != "README.md")
        .collect();
    present.sort();
    assert_eq!(files, present, "every file of tests/vectors/walrus/ has its checksum in the README");
}

/// Files that run at build or test time: scripts, Rust sources, manifests.
fn is_code(path: &Path) -> bool {
    matches!(path.extension().and_then(|e| e.to_str()), Some("rs" | "mjs" | "js" | "sh" | "toml" | "move"))
        || path.parent().and_then(Path::file_name).is_some_and(|dir| dir == ".ci")
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy();
        if path.is_dir() {
            if !matches!(&*name, "target" | "node_modules" | ".git" | "build") {
                walk(&path, out);
            }
        } else if is_code(&path) {
            out.push(path);
        }
    }
}

#[test]
fn nothing_reads_outside_the_repository() {
    let root = repo().canonicalize().unwrap();
    let mut files = Vec::new();
    walk(&root, &mut files);
    assert!(files.len() > 50, "walked only {} files from {}", files.len(), root.display());
    // Spelled in pieces so that this file does not name the folder it forbids.
    let forbidden = [format!("../{}", "shared"), format!("WALRUS_{}_DIR", "SHARED")];
    let offenders: Vec<String> = files
        .iter()
        .filter_map(|f| {
            let text = fs::read_to_string(f).ok()?;
            let hit = forbidden.iter().find(|p| text.contains(p.as_str()))?;
            Some(format!("{} mentions {hit}", f.strip_prefix(&root).unwrap().display()))
        })
        .collect();
    assert!(offenders.is_empty(), "reaching outside the repository:\n{}", offenders.join("\n"));
}
