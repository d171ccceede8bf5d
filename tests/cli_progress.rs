//! Progress bars: `logship produce` from a large file and `logship consume
//! --max-messages` draw one on a terminal (a pseudo-terminal from util-linux
//! `script`), and never when their output is piped.

use std::process::{Command, Stdio};

use crate::util::*;

/// Runs `sh -c COMMAND` with stdin, stdout and stderr on a pseudo-terminal;
/// returns what the terminal showed.
fn on_a_terminal(command: &str) -> String {
    let out = Command::new("script")
        .args(["-qec", command, "/dev/null"])
        .env("TERM", "xterm")
        .stdin(Stdio::null())
        .output()
        .expect("util-linux script (Debian's bsdutils, essential)");
    assert!(out.status.success(), "{command}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn produce_and_consume_draw_progress_on_a_terminal_only() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let kafka = collector.kafka;
    let file = dir.path().join("big.log");
    let lines: String = (0..50_000)
        .map(|i| format!("line {i:06} {}\n", "x".repeat(40)))
        .collect();
    std::fs::write(&file, &lines).unwrap();

    // A terminal: produce < file shows bytes of the file's size.
    let shown = on_a_terminal(&format!(
        "{LOGSHIP} produce --topic big --bootstrap-server {kafka} < {}",
        file.display()
    ));
    assert!(shown.contains("records"), "no progress bar: {shown:?}");
    assert!(shown.contains("KiB") || shown.contains("MiB"), "{shown:?}");

    // consume --max-messages into a file, stderr on the terminal: a bar of
    // records; the file gets the records and nothing else.
    let out = dir.path().join("out.txt");
    let shown = on_a_terminal(&format!(
        "{LOGSHIP} consume --topic big --from-beginning --max-messages 50000 --bootstrap-server {kafka} > {}",
        out.display()
    ));
    assert!(
        shown.contains("/50,000 records"),
        "no progress bar: {shown:?}"
    );
    assert_eq!(std::fs::read_to_string(&out).unwrap(), lines);

    // Piped: no bar, no terminal control sequences, just the summary.
    let piped = cli_run(
        kafka,
        &[
            "consume",
            "--topic",
            "big",
            "--from-beginning",
            "--max-messages",
            "50000",
        ],
        "",
    );
    let stderr = String::from_utf8_lossy(&piped.stderr);
    assert_eq!(stderr.trim(), "Processed a total of 50000 messages");
    assert_eq!(String::from_utf8_lossy(&piped.stdout), lines);
    let piped = cli_run(kafka, &["produce", "--topic", "small"], "a\nb\n");
    assert!(piped.status.success());
    assert_eq!(String::from_utf8_lossy(&piped.stderr), "");

    // Consume printing to the terminal itself: records only, no bar.
    let shown = on_a_terminal(&format!(
        "{LOGSHIP} consume --topic small --from-beginning --max-messages 2 --bootstrap-server {kafka} 2>/dev/null"
    ));
    assert_eq!(shown.replace('\r', ""), "a\nb\n");
}
