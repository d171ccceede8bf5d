//! Progress bars for the commands people wait on (indicatif, on stderr).
//! A bar is drawn only when stderr is a terminal, and never when the data
//! side is the terminal too (typing into `produce`, records printed by
//! `consume`): piped or redirected runs print exactly what they did before.
//! Bars are cleared when the command ends.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

fn visible(data_is_terminal: bool) -> bool {
    std::io::stderr().is_terminal() && !data_is_terminal
}

fn target() -> ProgressDrawTarget {
    ProgressDrawTarget::stderr_with_hz(10)
}

/// `produce`: bytes of stdin sent, against the file's size when stdin is a
/// regular file (`logship produce --topic T < big.log`).
pub fn produce() -> ProgressBar {
    if !visible(std::io::stdin().is_terminal()) {
        return ProgressBar::hidden();
    }
    let size = std::fs::metadata("/dev/stdin")
        .ok()
        .filter(|m| m.is_file())
        .map(|m| m.len());
    let bar = match size {
        Some(len) => ProgressBar::with_draw_target(Some(len), target()).with_style(
            ProgressStyle::with_template("{bar:25} {bytes}/{total_bytes} {bytes_per_sec} {msg}")
                .expect("a valid template"),
        ),
        None => ProgressBar::with_draw_target(None, target()).with_style(
            ProgressStyle::with_template("{spinner} {bytes} {bytes_per_sec} {msg}")
                .expect("a valid template"),
        ),
    };
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}

/// `consume --max-messages N`: records printed of N, when they go to a
/// file or pipe.
pub fn consume(max_messages: Option<u64>) -> ProgressBar {
    let Some(n) = max_messages else {
        return ProgressBar::hidden();
    };
    if !visible(std::io::stdout().is_terminal()) {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(n), target()).with_style(
        ProgressStyle::with_template("{bar:25} {human_pos}/{human_len} records {elapsed}")
            .expect("a valid template"),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    bar
}
