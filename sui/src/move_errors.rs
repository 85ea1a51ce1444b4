//! Names a Move abort in `move/walrus` as its source does: the `#[error]` constant and its
//! message. A full node that resolves a clever error reports the constant's name; otherwise the
//! abort code carries the source line (Sui's clever-error encoding: bit 63 set, the line in
//! bits 32..48), and the line names the constant. The table is generated from the Move sources
//! at build time (`client/build.rs`), so it follows them.

include!(concat!(env!("OUT_DIR"), "/move_errors.rs"));

/// A `#[error]` constant of `move/walrus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MoveError {
    pub module: &'static str,
    pub name: &'static str,
    pub message: &'static str,
}

/// Bit 63 marks an abort code as a clever error.
const CLEVER_TAG: u64 = 1 << 63;

/// The source line a clever abort code carries, if it is one.
pub fn clever_line(abort_code: u64) -> Option<u32> {
    (abort_code & CLEVER_TAG != 0).then_some(((abort_code >> 32) & 0xffff) as u32)
}

/// The constant named `name` in `module`.
pub fn by_name(module: &str, name: &str) -> Option<MoveError> {
    CONSTANTS.iter().find(|(m, n, _)| *m == module && *n == name).map(|&(module, name, message)| MoveError {
        module,
        name,
        message,
    })
}

/// The constant an abort in `module` with `abort_code` raised, if `move/walrus` has one there.
pub fn by_abort(module: &str, abort_code: u64) -> Option<MoveError> {
    let line = clever_line(abort_code)?;
    let &(_, _, name) = SITES.iter().find(|(m, l, _)| *m == module && *l == line)?;
    by_name(module, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every `#[error]` line in the sources is in the table, with its message.
    #[test]
    fn every_error_constant_of_the_sources_is_named() {
        let sources = concat!(env!("CARGO_MANIFEST_DIR"), "/../move/walrus/sources");
        let mut declared = 0;
        for entry in std::fs::read_dir(sources).unwrap() {
            let path = entry.unwrap().path();
            let module = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate() {
                if line.trim() == "#[error]" {
                    declared += 1;
                    let name = lines[i + 1].trim().strip_prefix("const ").unwrap().split(':').next().unwrap();
                    let error = by_name(&module, name).unwrap_or_else(|| panic!("{module}::{name} missing"));
                    assert!(!error.message.is_empty(), "{module}::{name} has no message");
                    assert!(text.contains(&format!("b\"{}\"", error.message)));
                }
            }
        }
        assert_eq!(declared, CONSTANTS.len());
    }

    #[test]
    fn a_clever_code_names_the_constant_of_its_line() {
        let text = include_str!("../../move/walrus/sources/staking_inner.move");
        let line = text.lines().position(|l| l.contains("assert!(cap.last_epoch_sync_done() < epoch")).unwrap() + 1;
        let code = CLEVER_TAG | (line as u64) << 32 | 7 << 16 | 3;
        assert_eq!(by_abort("staking_inner", code).unwrap().name, "EDuplicateSyncDone");
        // Not clever, or a line with no abort: no name rather than a wrong one.
        assert_eq!(by_abort("staking_inner", 3), None);
        assert_eq!(by_abort("staking_inner", CLEVER_TAG | 1 << 32), None);
    }
}
