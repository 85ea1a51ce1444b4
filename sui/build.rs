//! Generates the table of `move/walrus`'s `#[error]` constants and the source lines that abort
//! with each, so that a Move abort a full node reports is shown by name and message. Sui encodes
//! a clever abort's source line in its abort code; the line names the constant.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let sources = Path::new(env!("CARGO_MANIFEST_DIR")).join("../move/walrus/sources");
    println!("cargo:rerun-if-changed={}", sources.display());
    let mut files: Vec<_> = std::fs::read_dir(&sources)
        .expect("move/walrus/sources")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "move"))
        .collect();
    files.sort();
    let mut constants = String::new();
    let mut sites = String::new();
    for file in files {
        println!("cargo:rerun-if-changed={}", file.display());
        let module = file.file_stem().unwrap().to_str().unwrap().to_owned();
        let text = std::fs::read_to_string(&file).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let declared = declarations(&lines);
        for (name, message) in &declared {
            writeln!(constants, "    ({module:?}, {name:?}, {message:?}),").unwrap();
        }
        for (index, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("const ") || line.trim_start().starts_with("//") {
                continue;
            }
            for (name, _) in &declared {
                if !mentions(line, name) {
                    continue;
                }
                // The abort's line is where its `assert!` or `abort` starts, which may be a few
                // lines above the constant when the condition spans lines.
                let start = (index.saturating_sub(8)..=index)
                    .rev()
                    .find(|&i| lines[i].contains("assert!(") || lines[i].contains("abort "))
                    .unwrap_or(index);
                for line_number in [start + 1, index + 1] {
                    writeln!(sites, "    ({module:?}, {line_number}, {name:?}),").unwrap();
                }
            }
        }
    }
    let out = format!(
        "/// `(module, constant, message)` for every `#[error]` constant of `move/walrus`.\n\
         pub static CONSTANTS: &[(&str, &str, &str)] = &[\n{constants}];\n\
         /// `(module, line, constant)`: the source lines that abort with each constant.\n\
         pub static SITES: &[(&str, u32, &str)] = &[\n{sites}];\n"
    );
    std::fs::write(Path::new(&std::env::var("OUT_DIR").unwrap()).join("move_errors.rs"), out).unwrap();
}

/// `const ENAME: vector<u8> = b"message";`, possibly with the message on the next line.
fn declarations(lines: &[&str]) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for (index, line) in lines.iter().enumerate() {
        let Some(rest) = line.trim_start().strip_prefix("const E") else { continue };
        let name = format!("E{}", rest.split(':').next().unwrap().trim());
        let statement = format!("{line} {}", lines.get(index + 1).unwrap_or(&""));
        let message = statement
            .split_once("b\"")
            .and_then(|(_, m)| m.split_once('"'))
            .map(|(m, _)| m.to_owned())
            .unwrap_or_default();
        found.push((name, message));
    }
    found
}

/// Whether `line` uses the identifier `name` (not a longer identifier containing it).
fn mentions(line: &str, name: &str) -> bool {
    line.match_indices(name).any(|(at, _)| {
        let before = line[..at].chars().next_back();
        let after = line[at + name.len()..].chars().next();
        let ident = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        !ident(before) && !ident(after)
    })
}
