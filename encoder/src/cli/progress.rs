//! Progress bars on standard error. indicatif draws nothing when standard error is not a
//! terminal, so piped and scripted runs stay quiet; a bar is cleared when dropped, so an error
//! message never lands behind a half-drawn bar.

use std::time::Duration;

use indicatif::{ProgressBar, ProgressFinish, ProgressStyle};

/// A bar of `len` steps (0 when the length comes later).
pub fn bar(what: &str, len: u64) -> ProgressBar {
    let template = format!("{what} {{bar:40}} {{percent}}% {{elapsed}}");
    ProgressBar::new(len)
        .with_style(ProgressStyle::with_template(&template).expect("valid template"))
        .with_finish(ProgressFinish::AndClear)
}

/// A spinner for work that reports no steps, ticking by itself.
pub fn spinner(what: &str) -> ProgressBar {
    let template = format!("{what} {{spinner}} {{elapsed}}");
    let spinner = ProgressBar::new_spinner()
        .with_style(ProgressStyle::with_template(&template).expect("valid template"))
        .with_finish(ProgressFinish::AndClear);
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner
}
