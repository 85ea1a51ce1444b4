//! Every abort the local chain answers with is a constant of `move/walrus`, in the module it
//! names, with the same message: callers see what the contracts would tell them.

use walrus_localchain::error::aborts;

#[test]
fn every_abort_is_the_contracts_own() {
    let sources = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../move/walrus/sources");
    for abort in aborts::ALL {
        let path = sources.join(format!("{}.move", abort.module));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let declaration = format!("const {}: vector<u8> =", abort.name);
        let at = text.find(&declaration).unwrap_or_else(|| panic!("{} declares no {}", path.display(), abort.name));
        let rest = text[at + declaration.len()..].trim_start();
        let message = rest.strip_prefix("b\"").and_then(|m| m.split('"').next());
        assert_eq!(message, Some(abort.message), "{}::{}", abort.module, abort.name);
        assert!(
            text[..at].trim_end().ends_with("#[error]"),
            "{}::{} is an #[error] constant",
            abort.module,
            abort.name
        );
    }
}
