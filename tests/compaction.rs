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
    let python = venv_python("venv-clients");
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

/// Reads partition 0 of a topic from the beginning with confluent-kafka,
/// over and over until a stop file appears, in small fetches (4 KiB a
/// partition) so one read spans many requests. Each read prints `READ`,
/// its records as `offset|key|value`, then `END <swapped>`: whether the
/// partition's `.log` files (name and inode) changed between the read's
/// first and last fetch, i.e. the cleaner swapped segments under it.
const LOOPING_READER: &str = r#"
import os, sys
from confluent_kafka import Consumer, KafkaError, TopicPartition, OFFSET_BEGINNING
bootstrap, topic, pdir, stop = sys.argv[1:5]

def logs():
    out = set()
    for name in os.listdir(pdir):
        if name.endswith(".log"):
            try:
                out.add((name, os.stat(os.path.join(pdir, name)).st_ino))
            except FileNotFoundError:
                out.add((name, None))
    return out

while not os.path.exists(stop):
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "reader",
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "max.partition.fetch.bytes": 4096,
        "fetch.wait.max.ms": 10,
    })
    before = logs()
    c.assign([TopicPartition(topic, 0, OFFSET_BEGINNING)])
    print("READ")
    while True:
        m = c.poll(30)
        if m is None:
            sys.exit("no record and no end of partition in 30 s")
        if m.error():
            if m.error().code() == KafkaError._PARTITION_EOF:
                break
            sys.exit(str(m.error()))
        print(f"{m.offset()}|{m.key().decode()}|{m.value().decode()}")
    print(f"END {int(logs() != before)}", flush=True)
    c.close()
"#;

/// Issue 18, item 3: consumers reading a compacted partition from the
/// beginning while the cleaner rewrites it see every key's latest value and
/// offsets only growing. The cleaner is slowed (1 MiB/s, the least allowed)
/// so a cleaning of 2.4 MB in about 150 segments takes seconds and swaps
/// segments under reads in flight; the second round's cleaning also merges
/// the first one's small cleaned segments into one. The test requires reads
/// during which segments were swapped, in each round.
#[test]
fn reads_during_cleaning_see_every_latest_value_in_offset_order() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), 1 << 20);
    let b = running.kafka.to_string();
    create_compacted(running.kafka, "live");
    let pdir = partition_dir(dir.path(), "live");
    let python = venv_python("venv-clients");
    let alter = |policy: &str| {
        let config = format!("cleanup.policy={policy}");
        cli_ok(
            running.kafka,
            &["topics", "alter", "live", "--config", &config],
            "",
        );
    };
    let mut rng = rand::rng();
    let mut latest = HashMap::new();
    for round in 0..2 {
        // Written under cleanup.policy=delete, so all of it is dirty when
        // the topic becomes compacted again: one long cleaning.
        alter("delete");
        let mut lines = String::new();
        for i in 0..12_000 {
            let key = format!("key-{}", rng.random_range(0..200));
            let value = format!(
                "r{round}-{i}-{:016x}-{}",
                rng.random::<u64>(),
                "p".repeat(150)
            );
            lines.push_str(&format!("{key}:{value}\n"));
            latest.insert(key, value);
        }
        produce(&b, "live", "none", &lines);
        let stop = dir.path().join(format!("stop-reading-{round}"));
        let mut reader = KillOnDrop(
            Command::new(&python)
                .args(["-c", LOOPING_READER, &b, "live"])
                .arg(&pdir)
                .arg(&stop)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap(),
        );
        let stdout = reader.0.stdout.take().unwrap();
        let (tx, lines_read) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                if tx.send(line.unwrap()).is_err() {
                    return;
                }
            }
        });
        // The first read is under way before the cleaning can start,
        // however slowly Python starts on a loaded machine.
        let first = lines_read
            .recv_timeout(Duration::from_secs(120))
            .expect("the reader started");
        assert_eq!(first, "READ");
        let runs = cleaner_runs(running.http);
        alter("compact");
        wait_for("the cleaning", Duration::from_secs(180), || {
            cleaner_runs(running.http) > runs
        });
        std::fs::write(&stop, "").unwrap();
        let status = wait_timeout(&mut reader.0, Duration::from_secs(120));
        let mut stderr = String::new();
        std::io::Read::read_to_string(reader.0.stderr.as_mut().unwrap(), &mut stderr).unwrap();
        assert!(status.success(), "reader failed: {stderr}");

        let (mut reads, mut swapped) = (0, 0);
        let mut records = Vec::new();
        for line in std::iter::once(first).chain(lines_read) {
            if line == "READ" {
                records.clear();
            } else if let Some(changed) = line.strip_prefix("END ") {
                check_latest(&records, &latest, 0);
                reads += 1;
                swapped += usize::from(changed == "1");
            } else {
                let mut f = line.splitn(3, '|');
                let offset = f.next().unwrap().parse().unwrap();
                let key = f.next().unwrap().to_owned();
                records.push((offset, key, f.next().unwrap().to_owned()));
            }
        }
        eprintln!("round {round}: {reads} reads, {swapped} with segments swapped during them");
        assert!(
            swapped >= 1,
            "round {round}: no read overlapped a segment swap ({reads} reads)"
        );
    }
    // The second cleaning merged the first one's segments (300 without).
    let segments = std::fs::read_dir(&pdir)
        .unwrap()
        .filter(|e| {
            e.as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .ends_with(".log")
        })
        .count();
    assert!(segments < 200, "{segments} segments after two cleanings");
}

/// An append rolls a compacted topic's active segment once it is older
/// than `segment.ms`, or `max.compaction.lag.ms` when shorter (Kafka's
/// `maxSegmentMs`), and the cleaner then compacts what it held; a topic
/// with neither short keeps one segment, uncleaned.
#[test]
fn an_aged_active_segment_rolls_and_gets_cleaned() {
    let dir = tempfile::tempdir().unwrap();
    let running = start(dir.path(), 100 << 20);
    let b = running.kafka.to_string();
    let topics = [
        ("aged", Some("segment.ms=1000")),
        ("lagged", Some("max.compaction.lag.ms=1000")),
        ("young", None),
    ];
    let mut lines = String::new();
    let mut latest = HashMap::new();
    for i in 0..100 {
        let key = format!("key-{}", i % 5);
        let value = format!("value-{i}");
        lines.push_str(&format!("{key}:{value}\n"));
        latest.insert(key, value);
    }
    latest.insert("final".to_owned(), "last".to_owned());
    for (topic, age) in topics {
        let mut args = vec![
            "topics",
            "create",
            topic,
            "--config",
            "cleanup.policy=compact",
            "--config",
            "min.cleanable.dirty.ratio=0.01",
        ];
        if let Some(age) = age {
            args.extend(["--config", age]);
        }
        cli_ok(running.kafka, &args, "");
        produce(&b, topic, "none", &lines);
    }
    std::thread::sleep(Duration::from_millis(1500));
    for (topic, _) in topics {
        produce(&b, topic, "none", "final:last\n");
    }
    for (topic, age) in topics {
        if age.is_none() {
            continue;
        }
        wait_for(
            &format!("{topic} compacted"),
            Duration::from_secs(60),
            || count_records(&b, topic) == latest.len(),
        );
        let active = active_base(dir.path(), topic);
        assert!(active >= 100, "{topic}: the old segment rolled ({active})");
        check_latest(&consume(&b, topic), &latest, active);
    }
    // Every cleaner pass visits every compacted partition; two passes later
    // the young one is still whole: its only segment is the active one.
    let runs = cleaner_runs(running.http);
    assert!(runs >= 2.0, "{runs}");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(active_base(dir.path(), "young"), 0);
    assert_eq!(count_records(&b, "young"), 101);
    check_latest(&consume(&b, "young"), &latest, 0);
}
