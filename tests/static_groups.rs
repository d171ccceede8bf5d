//! KIP-345 static membership and KIP-429 cooperative rebalancing with real
//! clients: confluent-kafka (librdkafka) runs `tests/python/static_groups.py`
//! against the collector and against Apache Kafka side by side, and kafkajs
//! runs `tests/node/groups.js` against the collector. The scripts assert the
//! clients' own view (fatal errors and their codes, rebalance callbacks) and
//! the rounds KIP-345/KIP-429 yield, counted by the collector's rebalance
//! counters or in Kafka's log; the librdkafka transcripts (rounds, callbacks
//! and partitions moved, step by step) must read the same for both brokers.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::apache_kafka::ApacheKafka;
use crate::util::*;

/// Runs a client script with `bootstrap` and `rounds` (where the script
/// reads rebalance rounds from) as its last arguments; returns its stdout.
fn run_with(mut command: Command, what: &str, bootstrap: &str, rounds: &str) -> String {
    let started = Instant::now();
    let out = command.arg(bootstrap).arg(rounds).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{what} at {bootstrap} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(&format!("ok {what}")), "{stdout}");
    eprintln!("{what} at {bootstrap}: {:?}\n{stdout}", started.elapsed());
    stdout
}

/// Runs a client script against a fresh collector; returns its stdout.
fn run(command: Command, what: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    run_with(
        command,
        what,
        &running.kafka.to_string(),
        &format!("http://{}/metrics", running.http),
    )
}

fn librdkafka_command(scenario: &str) -> Command {
    let mut c = Command::new(venv_python("venv-clients"));
    c.arg(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/python/static_groups.py"
    ))
    .arg(scenario);
    c
}

/// The lines of a script's output that must read the same for both brokers.
fn transcript(out: &str) -> String {
    out.lines()
        .filter(|l| l.starts_with("= "))
        .map(|l| format!("{l}\n"))
        .collect()
}

/// What librdkafka sees, scenario by scenario, from a broker that runs
/// groups as Kafka's classic coordinator does (derived in the script).
const SCENARIOS: [(&str, &str); 3] = [
    (
        "fencing",
        "\
= fencing: b' took b's 2 partitions, 0 round(s), 0 callback(s) for a, b fatal -150
",
    ),
    (
        "restart",
        "\
= restart within the session: 0 round(s), 0 callback(s) for a, b's 2 partitions back
= b stops: 1 round(s) after the session timeout, a: revoke 2, assign 4
",
    ),
    (
        "cooperative",
        "\
= c2 joins: 2 round(s), moved 0; c1 assign 0 revoke 1 lost 0
= c2 subscribes to t2 as well: 2 round(s), moved 3; c1 assign 1 revoke 0 lost 0; c2 assign 1 revoke 1 lost 0
= c2 drops t2: 2 round(s), moved 1; c1 assign 0 revoke 1 lost 0; c2 assign 1 revoke 1 lost 0
= c2 leaves: 1 round(s), moved 2; c1 assign 1 revoke 0 lost 0
= c3 joins: 2 round(s), moved 0; c1 assign 0 revoke 1 lost 0
= c3 is killed: 1 round(s), moved 2; c1 assign 1 revoke 0 lost 0
",
    ),
];

/// The librdkafka scenarios against fresh collectors and one Apache Kafka
/// node (group.initial.rebalance.delay.ms 0 on both), the two brokers in
/// parallel and the scenarios one after another on each: the same rounds,
/// callbacks and partitions moved.
#[test]
fn librdkafka_static_and_cooperative_groups_as_with_apache_kafka() {
    let (logship, apache) = std::thread::scope(|s| {
        let l = s.spawn(|| {
            SCENARIOS
                .iter()
                .map(|(name, _)| run(librdkafka_command(name), name))
                .collect::<Vec<_>>()
        });
        let k = s.spawn(|| {
            let kafka = ApacheKafka::single();
            let log = kafka.server_log();
            SCENARIOS
                .iter()
                .map(|(name, _)| {
                    run_with(
                        librdkafka_command(name),
                        name,
                        &kafka.bootstrap(),
                        log.to_str().unwrap(),
                    )
                })
                .collect::<Vec<_>>()
        });
        (l.join().unwrap(), k.join().unwrap())
    });
    for (((name, expected), logship), apache) in SCENARIOS.iter().zip(&logship).zip(&apache) {
        // librdkafka raises FENCED_INSTANCE_ID (82) as _FATAL.
        if *name == "fencing" {
            assert!(logship.contains("fenced: 82"), "{logship}");
        }
        assert_eq!(
            transcript(apache),
            *expected,
            "{name}: what librdkafka sees from Apache Kafka changed"
        );
        assert_eq!(
            transcript(logship),
            transcript(apache),
            "{name}: logship differs from Kafka"
        );
    }
}

/// kafkajs 2.2.4 has no static membership (it never sends a
/// group.instance.id) and no cooperative assignor: its eager rounds, one per
/// membership change, and DescribeGroups are what it can check.
#[test]
fn kafkajs_eager_rounds_one_per_membership_change() {
    run(kafkajs_command("groups.js"), "kafkajs");
}

/// `node tests/node/SCRIPT` with the kafkajs that `.ci/setup` installed.
pub fn kafkajs_command(script: &str) -> Command {
    let modules = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/node/node_modules");
    assert!(
        modules.join("kafkajs").exists(),
        "{} is missing: run `bash .ci/setup` to install kafkajs",
        modules.display()
    );
    let mut c = Command::new("node");
    c.env("NODE_PATH", &modules).arg(
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("tests/node")
            .join(script),
    );
    c
}
