//! `logship consume --group` and `logship groups list|describe|delete|
//! reset-offsets` against a running collector, as an operator uses
//! kafka-console-consumer.sh and kafka-consumer-groups.sh.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::util::*;

/// Asserts that the command succeeded; returns its stdout.
fn ok(kafka: SocketAddr, args: &[&str]) -> String {
    cli_ok(kafka, args, "")
}

/// Asserts that the command failed; returns its stderr.
fn fails(kafka: SocketAddr, args: &[&str]) -> String {
    let out = cli_run(kafka, args, "");
    assert!(!out.status.success(), "logship {args:?} succeeded");
    String::from_utf8(out.stderr).unwrap()
}

/// The rows of a `groups describe` or `reset-offsets` table, each as
/// column name -> cell.
fn table(out: &str) -> Vec<HashMap<String, String>> {
    let mut lines = out.lines().skip_while(|l| !l.starts_with("GROUP "));
    let header: Vec<&str> = lines.next().expect("a table").split_whitespace().collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(cells.len(), header.len(), "{out}");
            header
                .iter()
                .zip(cells)
                .map(|(h, c)| ((*h).to_owned(), c.to_owned()))
                .collect()
        })
        .collect()
}

/// The one row of the table for topic-partition `topic`-0.
fn partition_row(out: &str, topic: &str) -> HashMap<String, String> {
    let rows: Vec<_> = table(out)
        .into_iter()
        .filter(|r| r["TOPIC"] == topic && r["PARTITION"] == "0")
        .collect();
    assert_eq!(rows.len(), 1, "{out}");
    rows.into_iter().next().unwrap()
}

fn lines(range: std::ops::RangeInclusive<u32>) -> String {
    range.map(|i| format!("line {i:02}\n")).collect()
}

fn setup(kafka: SocketAddr, topic: &str, records: u32) {
    ok(kafka, &["topics", "create", topic, "--partitions", "1"]);
    let out = cli_run(kafka, &["produce", "--topic", topic], &lines(1..=records));
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn group_offsets_resume_reset_and_delete() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let kafka = running.kafka;
    setup(kafka, "events", 10);

    let consume = |n: &str| {
        ok(
            kafka,
            &[
                "consume",
                "--topic",
                "events",
                "--group",
                "g1",
                "--from-beginning",
                "--max-messages",
                n,
            ],
        )
    };
    assert_eq!(consume("4"), lines(1..=4));
    // The second run starts where the first committed.
    assert_eq!(consume("4"), lines(5..=8));

    assert!(ok(kafka, &["groups", "list"]).lines().any(|l| l == "g1"));
    let describe = ok(kafka, &["groups", "describe", "g1"]);
    assert!(
        describe.starts_with("Consumer group 'g1' is Empty"),
        "{describe}"
    );
    let row = partition_row(&describe, "events");
    assert_eq!(row["CURRENT-OFFSET"], "8", "{describe}");
    assert_eq!(row["LOG-END-OFFSET"], "10", "{describe}");
    assert_eq!(row["LAG"], "2", "{describe}");
    assert_eq!(row["CONSUMER-ID"], "-", "{describe}");

    // Without --execute: the plan, and nothing changes.
    let reset = ["groups", "reset-offsets", "g1", "--topic", "events"];
    let plan = ok(kafka, &[&reset[..], &["--to-earliest"]].concat());
    assert_eq!(partition_row(&plan, "events")["NEW-OFFSET"], "0", "{plan}");
    let describe = ok(kafka, &["groups", "describe", "g1"]);
    assert_eq!(partition_row(&describe, "events")["CURRENT-OFFSET"], "8");

    ok(
        kafka,
        &[&reset[..], &["--to-earliest", "--execute"]].concat(),
    );
    let describe = ok(kafka, &["groups", "describe", "g1"]);
    let row = partition_row(&describe, "events");
    assert_eq!(row["CURRENT-OFFSET"], "0", "{describe}");
    assert_eq!(row["LAG"], "10", "{describe}");
    assert_eq!(consume("1"), lines(1..=1));

    ok(
        kafka,
        &[&reset[..], &["--to-offset", "5", "--execute"]].concat(),
    );
    assert_eq!(consume("2"), lines(6..=7));
    // Beyond the log end: kept at the end, with a warning.
    let out = cli_run(
        kafka,
        &[&reset[..], &["--to-offset", "99", "--execute"]].concat(),
        "",
    );
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(partition_row(&stdout, "events")["NEW-OFFSET"], "10");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("higher than the latest offset"), "{stderr}");
    ok(kafka, &[&reset[..], &["--to-latest", "--execute"]].concat());
    let describe = ok(kafka, &["groups", "describe", "g1"]);
    assert_eq!(partition_row(&describe, "events")["LAG"], "0");

    assert_eq!(
        ok(kafka, &["groups", "delete", "g1"]),
        "Deletion of requested consumer groups ('g1') was successful.\n"
    );
    assert!(!ok(kafka, &["groups", "list"]).lines().any(|l| l == "g1"));
    let gone = fails(kafka, &["groups", "describe", "g1"]);
    assert!(
        gone.contains("Consumer group 'g1' does not exist."),
        "{gone}"
    );
    let again = fails(kafka, &["groups", "delete", "g1"]);
    assert!(again.contains("GroupIdNotFound"), "{again}");
    // A deleted group starts over where --from-beginning says.
    assert_eq!(consume("1"), lines(1..=1));

    let both = fails(
        kafka,
        &[
            "consume",
            "--topic",
            "events",
            "--group",
            "g1",
            "--partition",
            "0",
        ],
    );
    assert!(both.contains("cannot be used with"), "{both}");
    assert!(running.terminate().success());
}

#[test]
fn describe_shows_an_active_member() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let kafka = running.kafka;
    setup(kafka, "live", 3);

    let mut member = Command::new(LOGSHIP)
        .args([
            "consume",
            "--topic",
            "live",
            "--group",
            "g2",
            "--from-beginning",
            "--timeout-ms",
            "15000",
            "--bootstrap-server",
            &kafka.to_string(),
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = member.stdout.take().unwrap();
    let mut member = KillOnDrop(member);
    let (printed_tx, printed) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if printed_tx.send(line).is_err() {
                break;
            }
        }
    });
    for i in 1..=3 {
        let line = printed
            .recv_timeout(COMMAND_LIMIT)
            .expect("the member prints the records");
        assert_eq!(line, format!("line {i:02}"));
    }

    let deadline = Instant::now() + Duration::from_secs(15);
    let (describe, row) = loop {
        let describe = ok(kafka, &["groups", "describe", "g2"]);
        if describe.starts_with("Consumer group 'g2' is Stable") {
            let row = table(&describe)
                .into_iter()
                .find(|r| r["TOPIC"] == "live" && r["PARTITION"] == "0");
            if let Some(row) = row.filter(|r| r["CONSUMER-ID"] != "-") {
                break (describe, row);
            }
        }
        assert!(Instant::now() < deadline, "never Stable: {describe}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        describe.starts_with("Consumer group 'g2' is Stable (1 member)."),
        "{describe}"
    );
    assert!(row["CONSUMER-ID"].starts_with("rdkafka-"), "{describe}");
    assert_eq!(row["HOST"], "/127.0.0.1", "{describe}");
    assert_eq!(row["CLIENT-ID"], "rdkafka", "{describe}");
    assert_eq!(row["LOG-END-OFFSET"], "3", "{describe}");
    assert_eq!(
        row["GROUP-INSTANCE-ID"], "-",
        "a dynamic member: {describe}"
    );

    // An active group can be neither deleted nor reset.
    let busy = fails(kafka, &["groups", "delete", "g2"]);
    assert!(busy.contains("NonEmptyGroup"), "{busy}");
    let busy = fails(
        kafka,
        &[
            "groups",
            "reset-offsets",
            "g2",
            "--topic",
            "live",
            "--to-earliest",
            "--execute",
        ],
    );
    assert!(busy.contains("inactive"), "{busy}");
    assert!(busy.contains("Stable"), "{busy}");

    // Ctrl-C: the member commits what it printed and leaves at once (no
    // wait for its session to time out).
    let pid = member.0.id().to_string();
    Command::new("kill").args(["-INT", &pid]).status().unwrap();
    assert!(wait_timeout(&mut member.0, COMMAND_LIMIT).success());
    assert_eq!(printed.try_iter().count(), 0, "nothing more to print");
    let describe = ok(kafka, &["groups", "describe", "g2"]);
    assert!(
        describe.starts_with("Consumer group 'g2' is Empty"),
        "{describe}"
    );
    let row = partition_row(&describe, "live");
    assert_eq!(row["CURRENT-OFFSET"], "3", "{describe}");
    assert_eq!(row["LAG"], "0", "{describe}");
    assert!(running.terminate().success());
}

/// A static member (KIP-345): `describe` shows its instance id, and a
/// restart within the session timeout leaves the group Stable with one
/// member, the same instance under a new member id, and the lag view intact.
#[test]
fn describe_shows_static_members_through_a_restart() {
    use rdkafka::config::ClientConfig;
    use rdkafka::consumer::{BaseConsumer, Consumer};

    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let kafka = running.kafka;
    setup(kafka, "statics", 5);
    let start = || -> BaseConsumer {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", kafka.to_string())
            .set("group.id", "sg")
            .set("group.instance.id", "worker-1")
            .set("session.timeout.ms", "30000")
            .set("auto.offset.reset", "earliest")
            .set("enable.auto.commit", "false")
            .create()
            .unwrap();
        c.subscribe(&["statics"]).unwrap();
        c
    };
    // Polls until the member consumed a record and `describe` shows it as the
    // owner of statics-0; commits offset 2 so there is lag to show.
    let owner = |c: &BaseConsumer| -> HashMap<String, String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(Ok(_)) = c.poll(Duration::from_millis(100)) {
                let mut tpl = rdkafka::TopicPartitionList::new();
                tpl.add_partition_offset("statics", 0, rdkafka::Offset::Offset(2))
                    .unwrap();
                let _ = c.commit(&tpl, rdkafka::consumer::CommitMode::Sync);
            }
            let describe = ok(kafka, &["groups", "describe", "sg"]);
            if describe.starts_with("Consumer group 'sg' is Stable (1 member).") {
                let row = partition_row(&describe, "statics");
                if row["CONSUMER-ID"] != "-" && row["CURRENT-OFFSET"] == "2" {
                    return row;
                }
            }
            assert!(Instant::now() < deadline, "never owned: {describe}");
        }
    };
    let first = start();
    let before = owner(&first);
    assert_eq!(before["GROUP-INSTANCE-ID"], "worker-1");
    assert_eq!(before["LAG"], "3");
    drop(first); // a static member sends no LeaveGroup when it closes
    assert!(ok(kafka, &["groups", "list"]).lines().any(|l| l == "sg"));
    let second = start();
    let after = owner(&second);
    assert_eq!(after["GROUP-INSTANCE-ID"], "worker-1");
    assert_ne!(
        after["CONSUMER-ID"], before["CONSUMER-ID"],
        "a new incarnation"
    );
    assert_eq!(after["LAG"], "3");
    let metrics = http_get(running.http, "/metrics").1;
    assert_eq!(
        metric(&metrics, "logship_collector_group_fenced_members_total"),
        Some(1.0)
    );
    assert_eq!(
        metric(&metrics, "logship_collector_group_members{kind=\"static\"}"),
        Some(1.0)
    );
}
