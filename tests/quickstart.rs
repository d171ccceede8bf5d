//! The README's quick start, as a new user runs it: `logship run` with no
//! config (the embedded `configs/quickstart.yaml`: a collector and an agent
//! in one process) in an empty directory, then `logship consume` on the
//! default bootstrap server reads this machine's logs and host metrics.
//!
//! It binds the default ports (9092, 8080, 8686) on 127.0.0.1, like the
//! user would; no other test uses them.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::util::*;

/// The first non-empty, readable file the quick start's globs match.
fn a_readable_log() -> Option<std::path::PathBuf> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.starts_with("/var/log/journal") {
                continue;
            }
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "log")
                || p == std::path::Path::new("/var/log/syslog")
            {
                out.push(p);
            }
        }
    }
    let mut files = Vec::new();
    walk(std::path::Path::new("/var/log"), &mut files);
    files
        .into_iter()
        .find(|p| std::fs::File::open(p).is_ok() && p.metadata().is_ok_and(|m| m.len() > 0))
}

/// `logship consume --topic T --from-beginning --max-messages 1`, as the
/// README says. Consumers never auto-create topics and the agent creates
/// each with its first send, so an early try may find none yet: retried.
fn first_record(kafka: std::net::SocketAddr, topic: &str) -> String {
    let args = [
        "consume",
        "--topic",
        topic,
        "--from-beginning",
        "--max-messages",
        "1",
    ];
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = cli_run(kafka, &args, "");
        if out.status.success() {
            return String::from_utf8(out.stdout).unwrap();
        }
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("UnknownTopicOrPartition") && Instant::now() < deadline,
            "logship {args:?} failed ({}): {err}",
            out.status
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn logship_run_without_config_ships_this_machines_logs_and_host_metrics() {
    let log = a_readable_log()
        .expect("the quick start needs a readable, non-empty log under /var/log (apt writes /var/log/dpkg.log)");
    let dir = tempfile::tempdir().unwrap();
    let mut command = Command::new(LOGSHIP);
    command.arg("run").current_dir(dir.path());
    let (child, rx) = spawn_logged(command, "quickstart");
    let mut child = KillOnDrop(child);
    let deadline = Instant::now() + Duration::from_secs(30);
    let (mut collector, mut agent) = (false, false);
    while !(collector && agent) {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("quick start did not get ready");
        collector |= line.contains("collector ready");
        agent |= line.contains("agent ready");
    }
    let kafka = "127.0.0.1:9092".parse().unwrap();

    // Host metrics arrive within one interval (the first is immediate).
    let metrics = first_record(kafka, "metrics");
    let sample: serde_json::Value = serde_json::from_str(metrics.trim()).unwrap();
    assert!(
        sample["name"].as_str().unwrap().starts_with("host_"),
        "{sample}"
    );

    // This machine's logs: one line of a readable log file (which may be a
    // blank line: apt's term.log has them), printed as one line.
    let out = first_record(kafka, "logs");
    assert!(
        out.ends_with('\n') && out.lines().count() == 1,
        "one record, a line of {} or another log: {out:?}",
        log.display()
    );

    // Both roles in the one process serve their metrics on the defaults.
    let page = http_get("127.0.0.1:8686".parse().unwrap(), "/metrics").1;
    assert!(metric(&page, "logship_agent_samples_total{source=\"host\"}").unwrap() > 0.0);
    let page = http_get("127.0.0.1:8080".parse().unwrap(), "/metrics").1;
    assert!(page.contains("logship_collector_log_appended_records_total"));

    // The state lives in the working directory.
    assert!(dir.path().join("data").is_dir());
    assert!(dir.path().join("agent-data").is_dir());
    Command::new("kill")
        .args(["-TERM", &child.0.id().to_string()])
        .status()
        .unwrap();
    let status = wait_timeout(&mut child.0, Duration::from_secs(30));
    assert!(status.success(), "{status:?}");
}
