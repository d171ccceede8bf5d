//! Kafka's own command-line tools (4.x, the Java client inside) against the
//! collector, and the same commands against a real Apache Kafka in the same
//! test: the outputs must match, except where logship legitimately differs,
//! and each such difference is named here.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::apache_kafka::{tool, ApacheKafka};
use crate::util::*;

/// What one broker answered to the walkthrough: step name -> stdout.
type Transcript = BTreeMap<&'static str, String>;

/// The seed walkthrough, verbatim, then the group, config, offset and
/// performance tools, against `bootstrap`.
fn walkthrough(bootstrap: &str) -> Transcript {
    let b = bootstrap;
    let mut out = Transcript::new();
    let topics = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", b];
        all.extend_from_slice(args);
        tool("kafka-topics", &all, "")
    };
    out.insert(
        "01 create first-events",
        topics(&["--create", "--topic", "first-events"]),
    );
    out.insert(
        "02 create second-events",
        topics(&["--create", "--topic", "second-events"]),
    );
    out.insert("03 list", topics(&["--list"]));
    out.insert(
        "04 describe",
        topics(&["--describe", "--topic", "first-events"]),
    );
    out.insert(
        "05 produce",
        tool(
            "kafka-console-producer",
            &["--bootstrap-server", b, "--topic", "first-events"],
            "This is my first event\nThis is my second event\n",
        ),
    );
    for step in ["06 consume", "07 consume again"] {
        out.insert(
            step,
            tool(
                "kafka-console-consumer",
                &[
                    "--bootstrap-server",
                    b,
                    "--topic",
                    "first-events",
                    "--from-beginning",
                    "--max-messages",
                    "2",
                ],
                "",
            ),
        );
    }
    out.insert(
        "08 delete second-events",
        topics(&["--delete", "--topic", "second-events"]),
    );
    out.insert("09 list", topics(&["--list"]));

    // A consumer in a named group commits its position when it closes.
    out.insert(
        "10 consume in a group",
        tool(
            "kafka-console-consumer",
            &[
                "--bootstrap-server",
                b,
                "--topic",
                "first-events",
                "--from-beginning",
                "--max-messages",
                "1",
                "--group",
                "walkthrough",
            ],
            "",
        ),
    );
    let groups = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", b];
        all.extend_from_slice(args);
        tool("kafka-consumer-groups", &all, "")
    };
    out.insert("11 groups list", groups(&["--list"]));
    out.insert(
        "12 groups describe",
        groups(&["--describe", "--group", "walkthrough"]),
    );
    out.insert(
        "13 groups reset-offsets",
        groups(&[
            "--reset-offsets",
            "--group",
            "walkthrough",
            "--topic",
            "first-events",
            "--to-earliest",
            "--execute",
        ]),
    );
    out.insert(
        "14 groups describe after reset",
        groups(&["--describe", "--group", "walkthrough"]),
    );
    out.insert(
        "15 configs describe topic",
        tool(
            "kafka-configs",
            &[
                "--bootstrap-server",
                b,
                "--describe",
                "--entity-type",
                "topics",
                "--entity-name",
                "first-events",
            ],
            "",
        ),
    );
    out.insert(
        "16 configs describe broker",
        tool(
            "kafka-configs",
            &[
                "--bootstrap-server",
                b,
                "--describe",
                "--entity-type",
                "brokers",
                "--entity-name",
                "0",
            ],
            "",
        ),
    );
    out.insert(
        "17 get-offsets latest",
        tool(
            "kafka-get-offsets",
            &["--bootstrap-server", b, "--topic", "first-events"],
            "",
        ),
    );
    out.insert(
        "18 get-offsets earliest",
        tool(
            "kafka-get-offsets",
            &[
                "--bootstrap-server",
                b,
                "--topic",
                "first-events",
                "--time",
                "-2",
            ],
            "",
        ),
    );

    // The load tools: the numbers differ run to run, the counts may not.
    let produced = tool(
        "kafka-producer-perf-test",
        &[
            "--topic",
            "perf",
            "--num-records",
            "20000",
            "--record-size",
            "100",
            "--throughput",
            "-1",
            "--command-property",
            &format!("bootstrap.servers={b}"),
            "acks=all",
        ],
        "",
    );
    let last = produced.lines().last().unwrap_or_default();
    out.insert(
        "19 producer-perf-test",
        last.split(',').next().unwrap().to_owned(),
    );
    let consumed = tool(
        "kafka-consumer-perf-test",
        &[
            "--bootstrap-server",
            b,
            "--topic",
            "perf",
            "--num-records",
            "20000",
            "--timeout",
            "60000",
        ],
        "",
    );
    // start.time, end.time, data.consumed.in.MB, MB.sec,
    // data.consumed.in.nMsg, ...: the MB and the count.
    let row: Vec<&str> = consumed.lines().last().unwrap().split(", ").collect();
    out.insert(
        "20 consumer-perf-test",
        format!("{} MB, {} records", row[2], row[4]),
    );
    out
}

/// Kafka's random topic ids.
fn without_topic_ids(text: &str) -> String {
    text.split('\t')
        .map(|field| match field.strip_prefix("TopicId: ") {
            Some(_) => "TopicId: <random>",
            None => field,
        })
        .collect::<Vec<_>>()
        .join("\t")
}

#[test]
fn seed_walkthrough_with_kafkas_tools_matches_apache_kafka() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let kafka = ApacheKafka::single();
    let logship_bootstrap = collector.kafka.to_string();
    let kafka_bootstrap = kafka.bootstrap();
    let (mut logship, mut apache) = std::thread::scope(|s| {
        let l = s.spawn(|| walkthrough(&logship_bootstrap));
        let k = s.spawn(|| walkthrough(&kafka_bootstrap));
        (l.join().unwrap(), k.join().unwrap())
    });

    // The walkthrough's own promises, checked on logship's answers alone.
    assert_eq!(logship["03 list"], "first-events\nsecond-events\n");
    assert_eq!(
        logship["06 consume"],
        "This is my first event\nThis is my second event\n"
    );
    assert_eq!(logship["06 consume"], logship["07 consume again"]);
    assert_eq!(logship["09 list"], "first-events\n");
    assert_eq!(logship["10 consume in a group"], "This is my first event\n");
    let row = |text: &str| -> Vec<String> {
        let line = text.lines().find(|l| l.starts_with("walkthrough "));
        line.unwrap_or_default()
            .split_whitespace()
            .take(6)
            .map(str::to_owned)
            .collect()
    };
    // GROUP TOPIC PARTITION CURRENT-OFFSET LOG-END-OFFSET LAG
    let committed = ["walkthrough", "first-events", "0", "1", "2", "1"];
    assert_eq!(row(&logship["12 groups describe"]), committed);
    let reset = ["walkthrough", "first-events", "0", "0", "2", "2"];
    assert_eq!(row(&logship["14 groups describe after reset"]), reset);
    assert_eq!(logship["17 get-offsets latest"], "first-events:0:2\n");
    assert_eq!(logship["19 producer-perf-test"], "20000 records sent");

    // Named differences.
    for t in [&mut logship, &mut apache] {
        let describe = t.get_mut("04 describe").unwrap();
        *describe = without_topic_ids(describe);
    }
    // Kafka 4.x formats a cluster with eligible leader replicas (KIP-966),
    // which sets min.insync.replicas as a cluster-wide dynamic config, and
    // kafka-topics lists non-default configs; logship has no dynamic
    // configs.
    let describe = apache.get_mut("04 describe").unwrap();
    *describe = describe.replace("Configs: min.insync.replicas=1", "Configs: ");
    // logship does not serve DescribeTopicPartitions (API 75): kafka-topics
    // falls back to Metadata, which has no eligible leader replicas, and
    // prints N/A where Kafka prints the (empty) lists.
    let describe = logship.get_mut("04 describe").unwrap();
    *describe = describe.replace("Elr: N/A\tLastKnownElr: N/A", "Elr: \tLastKnownElr: ");

    // Kafka keeps group offsets in an internal topic, created by the first
    // group, which `--list` shows; logship keeps them outside the log.
    let list = apache.get_mut("09 list").unwrap();
    *list = list.replace("__consumer_offsets\n", "");
    // The console consumers without --group made up group names with random
    // numbers; the listing's order is the broker's own.
    for t in [&mut logship, &mut apache] {
        let list = t.get_mut("11 groups list").unwrap();
        let mut names: Vec<String> = list
            .lines()
            .map(|name| match name.strip_prefix("console-consumer-") {
                Some(_) => "console-consumer-<random>".to_owned(),
                None => name.to_owned(),
            })
            .collect();
        names.sort();
        *list = names.join("\n");
    }

    let mut mismatches = Vec::new();
    for (step, theirs) in &apache {
        let ours = &logship[step];
        if ours != theirs {
            mismatches.push(format!(
                "== {step}\n-- logship:\n{ours}\n-- Apache Kafka:\n{theirs}"
            ));
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

/// The three-node Kafka the sink tests ship into: a topic with three
/// replicas survives its leader's SIGKILL and the node rejoins the ISR.
#[test]
fn three_node_apache_kafka_fails_over_and_recovers() {
    let mut kafka = ApacheKafka::cluster("min.insync.replicas=2\n");
    let b = kafka.bootstrap();
    let topics = |args: &[&str]| {
        let mut all = vec!["--bootstrap-server", b.as_str()];
        all.extend_from_slice(args);
        tool("kafka-topics", &all, "")
    };
    topics(&[
        "--create",
        "--topic",
        "replicated",
        "--replication-factor",
        "3",
    ]);
    let leader = |text: &str| -> (u32, usize) {
        let line = text.lines().find(|l| l.contains("Leader: ")).unwrap();
        let field = |name: &str| {
            line.split('\t')
                .find_map(|f| f.trim().strip_prefix(name))
                .unwrap()
                .to_owned()
        };
        let isr = field("Isr: ").split(',').count();
        (field("Leader: ").parse().unwrap(), isr)
    };
    let before = topics(&["--describe", "--topic", "replicated"]);
    let (first, isr) = leader(&before);
    assert_eq!(isr, 3, "{before}");

    kafka.kill(first);
    let mut after = String::new();
    wait_for("a new leader", Duration::from_secs(60), || {
        after = topics(&["--describe", "--topic", "replicated"]);
        let (now, isr) = leader(&after);
        now != first && isr == 2
    });
    kafka.restart(first);
    wait_for("the node back in the ISR", Duration::from_secs(90), || {
        leader(&topics(&["--describe", "--topic", "replicated"])).1 == 3
    });
}
