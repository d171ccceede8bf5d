//! Compacted topics end to end: a `cleanup.policy=compact` topic created
//! with the CLI, updates produced with kcat, the collector's cleaner left to
//! run, and kcat reading back only each key's latest value (plus what is
//! still in the active segment); keyless records refused with INVALID_RECORD
//! through confluent-kafka; and SIGKILLs while the cleaner is writing,
//! after each of which every key's latest acknowledged value is readable.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::util::*;

/// A collector whose cleaner looks for work every 100 ms, its I/O capped at
/// `io_bytes_per_sec`.
fn start(dir: &Path, io_bytes_per_sec: u64) -> Running {
    let path = dir.join("collector.yaml");
    std::fs::write(
        &path,
        format!(
            "collector:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:0\n  kafka:\n    listen: 127.0.0.1:0\n  storage:\n    cleaner_interval: 100ms\n    cleaner_io_bytes_per_sec: {io_bytes_per_sec}\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    start_logship(&path)
}

/// Produces `key:value` lines in small batches (so segments roll; only
/// closed segments are cleaned), acknowledged by all replicas (the one).
fn produce(bootstrap: &str, topic: &str, codec: &str, lines: &str) {
    run_kcat(
        bootstrap,
        &[
            "-P",
            "-t",
            topic,
            "-K:",
            "-z",
            codec,
            "-X",
            "acks=all",
            "-X",
            "batch.num.messages=20",
        ],
        lines,
    );
}

/// Every record of partition 0 from the beginning: (offset, key, value).
fn consume(bootstrap: &str, topic: &str) -> Vec<(i64, String, String)> {
    kcat_partition0(bootstrap, topic, "%o|%k|%s\\n")
        .lines()
        .map(|l| {
            let mut f = l.splitn(3, '|');
            let offset = f.next().unwrap().parse().unwrap();
            (
                offset,
                f.next().unwrap().to_owned(),
                f.next().unwrap().to_owned(),
            )
        })
        .collect()
}

/// How many records partition 0 of `topic` holds (values may be binary).
fn count_records(bootstrap: &str, topic: &str) -> usize {
    kcat_partition0(bootstrap, topic, "%o\\n").lines().count()
}

fn create_compacted(kafka: std::net::SocketAddr, topic: &str) {
    cli_ok(
        kafka,
        &[
            "topics",
            "create",
            topic,
            "--config",
            "cleanup.policy=compact",
            "--config",
            "segment.bytes=16384",
            "--config",
            "min.cleanable.dirty.ratio=0.01",
        ],
        "",
    );
}

fn partition_dir(dir: &Path, topic: &str) -> PathBuf {
    dir.join("data").join(format!("{topic}-0"))
}

/// Base offset of the active (newest) segment.
fn active_base(dir: &Path, topic: &str) -> i64 {
    std::fs::read_dir(partition_dir(dir, topic))
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            name.strip_suffix(".log").and_then(|n| n.parse().ok())
        })
        .max()
        .unwrap()
}

fn cleaner_runs(http: std::net::SocketAddr) -> f64 {
    metric(
        &http_get(http, "/metrics").1,
        "logship_collector_cleaner_runs_total",
    )
    .unwrap_or(0.0)
}

/// Checks the records read against `latest` (key → last acknowledged
/// value): offsets grow, every key's last value is the latest, and below
/// `clean_below` each key appears at most once.
fn check_latest(
    records: &[(i64, String, String)],
    latest: &HashMap<String, String>,
    clean_below: i64,
) {
    let mut last = -1;
    let mut seen: HashMap<&str, &str> = HashMap::new();
    let mut cleaned: HashMap<&str, i64> = HashMap::new();
    for (offset, key, value) in records {
        assert!(*offset > last, "offset {offset} after {last}");
        last = *offset;
        if *offset < clean_below {
            if let Some(before) = cleaned.insert(key, *offset) {
                panic!("{key} at {before} and {offset}, both below {clean_below}");
            }
        }
        seen.insert(key, value);
    }
    for (key, value) in latest {
        assert_eq!(
            seen.get(key.as_str()).copied(),
            Some(value.as_str()),
            "latest value of {key}"
        );
    }
}

#[test]
fn compacted_topic_keeps_the_latest_value_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), 100 << 20);
    let b = running.kafka.to_string();
    create_compacted(running.kafka, "state");
    let described = cli_ok(running.kafka, &["topics", "describe", "state"], "");
    assert!(described.contains("cleanup.policy=compact"), "{described}");

    let mut latest = HashMap::new();
    let mut lines = String::new();
    for i in 0..4000 {
        let key = format!("key-{}", i % 8);
        let value = format!("value-{i}-{}", "x".repeat(30));
        lines.push_str(&format!("{key}:{value}\n"));
        latest.insert(key, value);
    }
    produce(&b, "state", "lz4", &lines);
    wait_for("a cleaning", Duration::from_secs(60), || {
        cleaner_runs(running.http) >= 1.0
    });
    // The cleaner has nothing left to do once the dirty part is gone; wait
    // for the log to stop changing, then read it.
    let mut previous = Vec::new();
    wait_for("the log to settle", Duration::from_secs(60), || {
        std::thread::sleep(Duration::from_millis(500));
        let now = consume(&b, "state");
        let settled = now == previous;
        previous = now;
        settled
    });
    let active = active_base(dir.path(), "state");
    assert!(active > 0, "the log rolled");
    check_latest(&previous, &latest, active);
    assert!(
        previous.len() < 4000 / 2,
        "{} of 4000 records left",
        previous.len()
    );
    let m = http_get(running.http, "/metrics").1;
    for series in [
        "logship_collector_cleaner_read_bytes_total",
        "logship_collector_cleaner_written_bytes_total",
        "logship_collector_cleaner_removed_records_total",
    ] {
        assert!(metric(&m, series).unwrap_or(0.0) > 0.0, "{series}");
    }

    // Kafka's rule: a record without a key is refused on a compacted topic.
    let python = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(".ci/venv-clients/bin/python");
    assert!(
        python.exists(),
        "run `bash .ci/setup` for the Python clients"
    );
    let script = r#"
import sys
from confluent_kafka import Producer, KafkaError
errors = []
p = Producer({"bootstrap.servers": sys.argv[1], "acks": "all"})
p.produce("state", value=b"no key", on_delivery=lambda err, msg: errors.append(err))
p.flush(30)
p.produce("state", key=b"key-0", value=b"with key", on_delivery=lambda err, msg: errors.append(err))
p.flush(30)
assert len(errors) == 2, errors
codes = sorted(str(e.code()) if e else "ok" for e in errors)
print(codes)
assert errors[0] is not None and errors[0].code() == KafkaError.INVALID_RECORD, errors
assert errors[1] is None, errors
print("ok")
"#;
    let out = run_bounded(
        {
            let mut c = Command::new(&python);
            c.args(["-c", script, &b]);
            c
        },
        "confluent-kafka keyless produce",
        "",
        Duration::from_secs(60),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("ok"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let records = consume(&b, "state");
    assert_eq!(records.last().unwrap().2, "with key");
    assert!(records.iter().all(|(_, _, v)| v != "no key"));
}

#[test]
fn sigkill_while_cleaning_loses_no_latest_value() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rng();
    let mut latest: HashMap<String, String> = HashMap::new();
    // A slow cleaner (1 MiB/s) so kills land while it writes.
    let mut running = start(dir.path(), 1 << 20);
    create_compacted(running.kafka, "crash");
    let pdir = partition_dir(dir.path(), "crash");
    let mut caught: BTreeMap<&str, usize> = BTreeMap::new();
    for round in 0..5 {
        let b = running.kafka.to_string();
        let mut lines = String::new();
        for i in 0..6000 {
            let key = format!("key-{}", rng.random_range(0..200));
            let value = format!("r{round}-{i}-{:032x}", rng.random::<u128>());
            lines.push_str(&format!("{key}:{value}\n"));
            latest.insert(key, value);
        }
        // Produced under cleanup.policy=delete, then switched to compact:
        // one long cleaning (the I/O cap makes it last about a second) that
        // the kill can land in.
        cli_ok(
            running.kafka,
            &[
                "topics",
                "alter",
                "crash",
                "--config",
                "cleanup.policy=delete",
            ],
            "",
        );
        produce(&b, "crash", "none", &lines);
        cli_ok(
            running.kafka,
            &[
                "topics",
                "alter",
                "crash",
                "--config",
                "cleanup.policy=compact",
            ],
            "",
        );
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(30) {
            let writing = std::fs::read_dir(&pdir).unwrap().any(|e| {
                e.unwrap()
                    .file_name()
                    .to_string_lossy()
                    .ends_with(".cleaned")
            });
            if writing {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
        drop(running); // SIGKILL
        let state = std::fs::read_dir(&pdir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .find_map(|n| {
                [".cleaned", ".swap"]
                    .into_iter()
                    .find(|suffix| n.ends_with(suffix))
            })
            .unwrap_or("between cleanings");
        *caught.entry(state).or_default() += 1;
        running = start(dir.path(), 1 << 20);
        let names: Vec<String> = std::fs::read_dir(&pdir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            !names
                .iter()
                .any(|n| n.ends_with(".cleaned") || n.ends_with(".swap")),
            "recovery leaves no cleaner files: {names:?}"
        );
        let records = consume(&running.kafka.to_string(), "crash");
        check_latest(&records, &latest, 0);
    }
    eprintln!("kill moments: {caught:?}");
    let mid_cleaning = caught.get(".cleaned").unwrap_or(&0) + caught.get(".swap").unwrap_or(&0);
    assert!(
        mid_cleaning >= 1,
        "no kill landed while a segment was being cleaned: {caught:?}"
    );
}

/// Kafka Streams with a state store whose changelog is a compacted topic:
/// counts by key (`tests/java/CountByKey.java`), run, stopped, and run again
/// with more input after the cleaner has compacted the changelog; the second
/// run's counts continue the first's only if the store was restored from
/// the cleaned changelog.
#[test]
fn kafka_streams_restores_a_count_from_a_compacted_changelog() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("collector.yaml");
    // Small segments everywhere, so the changelog's roll and get cleaned.
    std::fs::write(
        &path,
        format!(
            "collector:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:0\n  kafka:\n    listen: 127.0.0.1:0\n  groups:\n    initial_rebalance_delay: 0s\n  storage:\n    cleaner_interval: 100ms\n  defaults:\n    configs:\n      segment.bytes: 2048\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let running = start_logship(&path);
    let b = running.kafka.to_string();
    for topic in ["words", "word-counts"] {
        cli_ok(running.kafka, &["topics", "create", topic], "");
    }
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    let batch = |n: usize, expected: &mut BTreeMap<String, u64>| {
        let mut lines = String::new();
        for i in 0..n {
            let key = format!("w{}", (i * 7) % 10);
            *expected.entry(key.clone()).or_default() += 1;
            lines.push_str(&format!("{key}:{i}\n"));
        }
        produce(&b, "words", "none", &lines);
    };
    batch(300, &mut expected);
    let out = crate::apache_kafka::java_client("CountByKey", &[&b, "words", "word-counts", "300"]);
    assert!(out.starts_with("counts: "), "{out}");

    let changelog = "count-by-key-counts-changelog";
    let described = cli_ok(running.kafka, &["topics", "describe", changelog], "");
    assert!(described.contains("cleanup.policy=compact"), "{described}");
    let runs = cleaner_runs(running.http);
    wait_for("the changelog's cleaning", Duration::from_secs(60), || {
        cleaner_runs(running.http) > runs || count_records(&b, changelog) < 300
    });
    // Streams wrote all 300 updates (no record cache); the cleaner left
    // fewer.
    let left = count_records(&b, changelog);
    assert!(left < 300, "the changelog was compacted: {left} records");

    batch(200, &mut expected);
    let out = crate::apache_kafka::java_client("CountByKey", &[&b, "words", "word-counts", "500"]);
    let want = format!(
        "counts: {{{}}}\n",
        expected
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    assert_eq!(out, want);
}
