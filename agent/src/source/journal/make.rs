//! Real journal files for tests and the benchmark, where no journald runs:
//! entries written in the export format and turned into journal files by
//! systemd-journal-remote (Debian's `systemd-journal-remote` package), which
//! appends to an existing file as journald would.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

/// Where Debian installs it.
pub const JOURNAL_REMOTE: &str = "/lib/systemd/systemd-journal-remote";

/// Appends one entry in the export format: text form for values without
/// control characters, binary form (length-prefixed) otherwise.
pub fn push_entry(out: &mut Vec<u8>, fields: &[(&str, &[u8])]) {
    for (name, value) in fields {
        out.extend_from_slice(name.as_bytes());
        if value.iter().all(|b| *b >= 0x20 || *b == b'\t') {
            out.push(b'=');
            out.extend_from_slice(value);
        } else {
            out.push(b'\n');
            out.extend_from_slice(&(value.len() as u64).to_le_bytes());
            out.extend_from_slice(value);
        }
        out.push(b'\n');
    }
    out.push(b'\n');
}

/// Entry `n`'s `__REALTIME_TIMESTAMP`: this process's start (whole
/// seconds, microseconds since the epoch) plus `n` milliseconds. Recent,
/// so the collector's time-based retention keeps what tests ship.
pub fn realtime_us(n: u64) -> u64 {
    static BASE: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        now * 1_000_000
    });
    base + n * 1000
}

/// The fields journald gives every entry, for entry number `n` of a test
/// journal: realtime and monotonic clocks that grow with `n` (journalctl
/// orders entries of different files by them), one boot.
pub fn clock_fields(n: u64) -> [(&'static str, Vec<u8>); 3] {
    [
        (
            "__REALTIME_TIMESTAMP",
            realtime_us(n).to_string().into_bytes(),
        ),
        (
            "__MONOTONIC_TIMESTAMP",
            (1_000_000 + n).to_string().into_bytes(),
        ),
        ("_BOOT_ID", b"0123456789abcdef0123456789abcdef".to_vec()),
    ]
}

/// Appends `export` (entries in the export format) to the journal file
/// `file` (created if missing; its name must end in `.journal`).
pub fn append(file: &Path, export: &[u8]) -> std::io::Result<()> {
    let mut child = Command::new(JOURNAL_REMOTE)
        .arg(format!("--output={}", file.display()))
        .arg("--split-mode=none")
        .arg("-")
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| std::io::Error::new(e.kind(), format!("{JOURNAL_REMOTE}: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let fed = stdin.write_all(export);
    drop(stdin);
    let out = child.wait_with_output()?;
    fed?;
    if !out.status.success() {
        return Err(std::io::Error::other(format!(
            "{JOURNAL_REMOTE} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(())
}
