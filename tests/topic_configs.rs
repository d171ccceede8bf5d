//! Topic configs altered live (AlterConfigs, IncrementalAlterConfigs,
//! `logship topics alter`, Kafka's `kafka-configs`) and records deleted
//! (DeleteRecords through confluent-kafka, kafka-python and Kafka's
//! `kafka-delete-records`), checked after a SIGKILL and restart with kcat
//! and the CLI.

use std::path::Path;
use std::time::Duration;

use crate::apache_kafka::tool;
use crate::util::*;

/// A collector whose retention runs every second, so a shortened
/// `retention.ms` shows within the test.
fn start(dir: &Path) -> Running {
    let path = dir.join("collector.yaml");
    std::fs::write(
        &path,
        format!(
            "collector:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:0\n  kafka:\n    listen: 127.0.0.1:0\n  storage:\n    retention_check_interval: 1s\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    start_logship(&path)
}

/// kcat's `offset:value` for every record of `topic` partition 0 from the
/// beginning.
fn kcat_from_beginning(bootstrap: &str, topic: &str) -> Vec<String> {
    kcat_partition0(bootstrap, topic, "%o:%s\\n")
        .lines()
        .map(str::to_owned)
        .collect()
}

/// The `Configs:` field of `logship topics describe NAME`.
fn described_configs(kafka: std::net::SocketAddr, topic: &str) -> String {
    let out = cli_ok(kafka, &["topics", "describe", topic], "");
    out.lines()
        .next()
        .and_then(|l| l.split("Configs: ").nth(1))
        .unwrap_or_else(|| panic!("no Configs field in {out:?}"))
        .to_owned()
}

/// Runs `tests/python/configs_records.py` with `library`, then SIGKILLs the
/// collector, restarts it and checks that the altered configs and the
/// moved log start survived.
fn python_client(venv: &str, library: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path());
    let topic = format!("cr-{}", library.replace('-', ""));
    let stdout = run_python_script(
        venv,
        "configs_records.py",
        library,
        &[&running.kafka.to_string(), &topic],
    );
    let overrides = stdout
        .lines()
        .find_map(|l| l.strip_prefix("overrides "))
        .expect("the script prints the overrides it left")
        .to_owned();

    drop(running); // SIGKILL: no clean shutdown
    let running = start(dir.path());
    let b = running.kafka.to_string();
    let records = kcat_from_beginning(&b, &topic);
    let expected: Vec<String> = (40..100).map(|i| format!("{i}:v{i}")).collect();
    assert_eq!(records, expected);
    assert_eq!(described_configs(running.kafka, &topic), overrides);
    stdout
}

#[test]
fn confluent_kafka_alters_configs_and_deletes_records() {
    python_client("venv-clients", "confluent-kafka");
}

#[test]
fn kafka_python_2_alters_configs_and_deletes_records() {
    let out = python_client("venv-clients", "kafka-python");
    assert!(out.contains("ok kafka-python 2."), "{out}");
}

#[test]
fn kafka_python_3_alters_configs_and_deletes_records() {
    let out = python_client("venv-kafka-python-3", "kafka-python");
    assert!(out.contains("ok kafka-python 3."), "{out}");
}

#[test]
fn cli_alter_changes_configs_live_and_refuses_bad_input() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path());
    let k = running.kafka;
    cli_ok(
        k,
        &["topics", "create", "live", "--config", "segment.bytes=1024"],
        "",
    );
    let out = cli_ok(
        k,
        &[
            "topics",
            "alter",
            "live",
            "--config",
            "retention.ms=3600000",
            "--config",
            "max.message.bytes=2000",
        ],
        "",
    );
    assert_eq!(out, "Completed updating config for topic live.\n");
    assert_eq!(
        described_configs(k, "live"),
        "max.message.bytes=2000,retention.ms=3600000,segment.bytes=1024"
    );
    // max.message.bytes applies to the next produce, without a restart.
    let big = "x".repeat(3000);
    let refused = cli_run(k, &["produce", "--topic", "live"], &format!("{big}\n"));
    assert!(!refused.status.success(), "a 3000-byte record was accepted");
    cli_ok(
        k,
        &[
            "topics",
            "alter",
            "live",
            "--delete-config",
            "max.message.bytes",
        ],
        "",
    );
    assert_eq!(
        described_configs(k, "live"),
        "retention.ms=3600000,segment.bytes=1024"
    );
    cli_ok(k, &["produce", "--topic", "live"], &format!("{big}\n"));

    // Bad input: a clear error, exit code 1, nothing applied.
    for (args, needle) in [
        (
            vec!["--config", "retention.ms=1", "--config", "no.such.config=1"],
            "refused",
        ),
        (vec!["--config", "retention.ms=soon"], "refused"),
        (vec!["--delete-config", "max.message.bytes"], "not set"),
        (vec![], "nothing to alter"),
    ] {
        let mut all = vec!["topics", "alter", "live"];
        all.extend(args.iter().copied());
        let out = cli_run(k, &all, "");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{all:?}: {stderr}");
        assert!(stderr.contains(needle), "{all:?}: {stderr}");
    }
    let out = cli_run(
        k,
        &["topics", "alter", "nope", "--config", "retention.ms=1"],
        "",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("topic nope does not exist"));
    assert_eq!(
        described_configs(k, "live"),
        "retention.ms=3600000,segment.bytes=1024"
    );

    // A shorter retention deletes on the next retention pass.
    cli_ok(
        k,
        &["topics", "alter", "live", "--config", "retention.ms=1"],
        "",
    );
    wait_for(
        "retention to delete the records",
        Duration::from_secs(30),
        || kcat_from_beginning(&k.to_string(), "live").is_empty(),
    );
    let (_, metrics) = http_get(running.http, "/metrics");
    assert!(
        metric(&metrics, "logship_collector_log_topic_config_changes_total") == Some(3.0),
        "{metrics}"
    );
}

/// Kafka's `kafka-configs` for `topic` at `bootstrap`, doing `action`
/// (`--describe`, `--alter --add-config ...`); must succeed; its stdout.
fn kafka_configs(bootstrap: &str, topic: &str, action: &[&str]) -> String {
    let mut args = vec![
        "--bootstrap-server",
        bootstrap,
        "--entity-type",
        "topics",
        "--entity-name",
        topic,
    ];
    args.extend_from_slice(action);
    tool("kafka-configs", &args, "")
}

/// Kafka's own `kafka-configs` and `kafka-delete-records` against the
/// collector, as an operator would run them.
#[test]
fn kafka_configs_and_kafka_delete_records_tools() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path());
    let b = running.kafka.to_string();
    cli_ok(running.kafka, &["topics", "create", "ops"], "");
    let lines: String = (0..10).map(|i| format!("v{i}\n")).collect();
    cli_ok(running.kafka, &["produce", "--topic", "ops"], &lines);

    let out = kafka_configs(
        &b,
        "ops",
        &[
            "--alter",
            "--add-config",
            "retention.ms=86400000,segment.bytes=4096",
        ],
    );
    assert!(
        out.contains("Completed updating config for topic ops."),
        "{out}"
    );
    let out = kafka_configs(&b, "ops", &["--describe"]);
    assert!(out.contains("retention.ms=86400000"), "{out}");
    assert!(out.contains("segment.bytes=4096"), "{out}");
    let out = kafka_configs(&b, "ops", &["--alter", "--delete-config", "segment.bytes"]);
    assert!(out.contains("Completed updating config"), "{out}");
    assert_eq!(
        described_configs(running.kafka, "ops"),
        "retention.ms=86400000"
    );

    let json = dir.path().join("delete.json");
    std::fs::write(
        &json,
        r#"{"partitions":[{"topic":"ops","partition":0,"offset":4}],"version":1}"#,
    )
    .unwrap();
    let out = tool(
        "kafka-delete-records",
        &[
            "--bootstrap-server",
            &b,
            "--offset-json-file",
            json.to_str().unwrap(),
        ],
        "",
    );
    assert!(out.contains("partition: ops-0\tlow_watermark: 4"), "{out}");
    let records = kcat_from_beginning(&b, "ops");
    let expected: Vec<String> = (4..10).map(|i| format!("{i}:v{i}")).collect();
    assert_eq!(records, expected);
}
