//! KIP-345 static membership and KIP-429 cooperative rebalancing with real
//! clients: confluent-kafka (librdkafka) runs `tests/python/static_groups.py`
//! against the collector, and kafkajs runs `tests/node/groups.js`. The
//! scripts assert the clients' own view (fatal errors and their codes,
//! rebalance callbacks) and the collector's rebalance counters.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::util::*;

fn venv_python() -> PathBuf {
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/venv-clients/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash .ci/setup` to install the Python Kafka clients",
        python.display()
    );
    python
}

/// Runs a client script against a fresh collector; returns its stdout.
fn run(mut command: Command, what: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let started = Instant::now();
    let out = command
        .arg(running.kafka.to_string())
        .arg(format!("http://{}/metrics", running.http))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("ok {what}")), "{stdout}");
    eprintln!("{what}: {:?}\n{stdout}", started.elapsed());
    stdout
}

fn librdkafka(scenario: &str) -> String {
    let mut c = Command::new(venv_python());
    c.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/static_groups.py"
    ))
    .arg(scenario);
    run(c, scenario)
}

#[test]
fn librdkafka_fenced_instance_fails_fatally_and_its_successor_takes_over() {
    let out = librdkafka("fencing");
    assert!(out.contains("fenced: 82"), "{out}");
}

#[test]
fn librdkafka_static_restart_within_session_keeps_assignment_without_rebalance() {
    librdkafka("restart");
}

#[test]
fn librdkafka_cooperative_sticky_rounds_and_callbacks() {
    librdkafka("cooperative");
}

/// kafkajs 2.2.4 has no static membership (it never sends a
/// group.instance.id) and no cooperative assignor: its eager rounds, one per
/// membership change, and DescribeGroups are what it can check.
#[test]
fn kafkajs_eager_rounds_one_per_membership_change() {
    let modules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/node/node_modules");
    assert!(
        modules.join("kafkajs").exists(),
        "{} is missing: run `bash .ci/setup` to install kafkajs",
        modules.display()
    );
    let mut c = Command::new("node");
    c.env("NODE_PATH", &modules)
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/node/groups.js"));
    run(c, "kafkajs");
}
