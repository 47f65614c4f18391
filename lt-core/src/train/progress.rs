//! Progress bars in a terminal: one per epoch (batches, loss, images/s, ETA) and one per
//! evaluation. Hidden with `--quiet`, on non-main ranks, and when stderr is not a terminal
//! (indicatif draws nothing there), where each epoch's one line is all that is printed.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A bar of `len` steps named `prefix`, drawn on stderr when `show`; clear it with
/// `finish_and_clear` before printing a line.
pub(super) fn bar(len: u64, show: bool, prefix: String) -> ProgressBar {
    let target = if show {
        ProgressDrawTarget::stderr()
    } else {
        ProgressDrawTarget::hidden()
    };
    let bar = ProgressBar::with_draw_target(Some(len), target);
    bar.set_style(
        ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg}  eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(prefix);
    bar
}
