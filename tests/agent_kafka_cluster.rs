//! The agent's Kafka sink into a real Apache Kafka cluster: three brokers,
//! a topic with replication factor 3 and `min.insync.replicas=2`, acks=all.
//! Every line arrives; then the partition's leader is SIGKILLed while the
//! agent is shipping, and restarted: nothing is lost, the first copy of
//! every line is in file order, and duplicates (the README's at-least-once)
//! are counted and reported.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::ClientConfig;

use crate::agent_files::{agent_config, read_topic, start_agent, use_kafka_sink, value};
use crate::apache_kafka::{tool, ApacheKafka};
use crate::util::*;

/// The files the agent follows, and the line each writes as number `n`.
const FILES: [&str; 2] = ["web", "db"];

fn line(file: &str, n: usize) -> String {
    format!("{file} {n:07} {}\n", "k".repeat(90))
}

/// The leader of `topic`'s partition 0, as the cluster's metadata says.
fn leader(bootstrap: &str, topic: &str) -> i32 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .unwrap();
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .unwrap();
    md.topics()[0].partitions()[0].leader()
}

/// How many different lines the topic holds.
fn distinct_lines(bootstrap: &str) -> usize {
    let values: HashSet<String> = read_topic(bootstrap, "app").iter().map(value).collect();
    values.len()
}

/// Per file, the line numbers in the order the topic holds them.
fn numbers_by_file(bootstrap: &str) -> BTreeMap<String, Vec<usize>> {
    let mut by_file: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for v in read_topic(bootstrap, "app").iter().map(value) {
        let mut parts = v.split(' ');
        let file = parts.next().unwrap().to_owned();
        let n: usize = parts.next().unwrap().parse().unwrap();
        by_file.entry(file).or_default().push(n);
    }
    by_file
}

/// Checks that lines `0..written[file]` of each file are all in the topic,
/// that their first copies are in file order, and nothing else is there;
/// returns the number of repeated lines.
fn check_every_line(by_file: &BTreeMap<String, Vec<usize>>, written: usize) -> usize {
    let mut duplicates = 0;
    for file in FILES {
        let numbers = by_file.get(file).map(Vec::as_slice).unwrap_or_default();
        let mut first_seen = Vec::with_capacity(written);
        let mut seen = vec![false; written];
        for &n in numbers {
            assert!(n < written, "{file}: line {n} was never written");
            if seen[n] {
                duplicates += 1;
            } else {
                seen[n] = true;
                first_seen.push(n);
            }
        }
        let missing: Vec<usize> = (0..written).filter(|&n| !seen[n]).collect();
        assert!(
            missing.is_empty(),
            "{file}: {} of {written} lines lost (first {:?})",
            missing.len(),
            &missing[..missing.len().min(10)]
        );
        assert!(
            first_seen.windows(2).all(|w| w[0] < w[1]),
            "{file}: first copies out of order"
        );
    }
    duplicates
}

#[test]
fn kafka_sink_into_a_three_broker_cluster_loses_nothing_when_the_leader_is_killed() {
    // Brokers notice a dead peer within 3 s (default 9 s) so that the
    // leader moves while the agent is still shipping.
    let mut kafka = ApacheKafka::cluster(
        "min.insync.replicas=2\n\
         broker.session.timeout.ms=3000\n\
         broker.heartbeat.interval.ms=500",
    );
    let bootstrap = kafka.bootstrap();
    tool(
        "kafka-topics",
        &[
            "--bootstrap-server",
            &bootstrap,
            "--create",
            "--topic",
            "app",
            "--partitions",
            "1",
            "--replication-factor",
            "3",
            "--config",
            "min.insync.replicas=2",
        ],
        "",
    );

    let dir = tempfile::tempdir().unwrap();
    // The collector address is a placeholder: the sink is replaced below.
    let config = agent_config(dir.path(), "127.0.0.1:9".parse().unwrap(), "");
    use_kafka_sink(&config, &bootstrap);
    let text = std::fs::read_to_string(&config).unwrap();
    let text = text.replace(
        "    type: kafka\n",
        "    type: kafka\n    acks: all\n    idempotence: true\n",
    );
    std::fs::write(&config, text).unwrap();
    let logs = dir.path().join("logs");
    let agent = start_agent(&config);

    // Every line arrives from a healthy cluster.
    let first = 5_000;
    for file in FILES {
        let text: String = (0..first).map(|n| line(file, n)).collect();
        append(&logs.join(format!("{file}.log")), &text);
    }
    wait_for("the first lines", Duration::from_secs(90), || {
        read_topic(&bootstrap, "app").len() >= FILES.len() * first
    });
    let healthy_duplicates = check_every_line(&numbers_by_file(&bootstrap), first);
    assert_eq!(healthy_duplicates, 0, "no repeats without a failure");

    // Then lines keep coming while the leader dies and comes back.
    let written = Arc::new(AtomicUsize::new(first));
    let writing = Arc::new(AtomicBool::new(true));
    let writer = {
        let (written, writing, logs) = (Arc::clone(&written), Arc::clone(&writing), logs.clone());
        std::thread::spawn(move || write_steadily(&logs, &written, &writing))
    };
    std::thread::sleep(Duration::from_secs(2));
    let old_leader = leader(&bootstrap, "app");
    let before_kill = written.load(Ordering::Relaxed);
    kafka.kill(old_leader as u32);
    let killed_at = Instant::now();
    let mut new_leader = old_leader;
    wait_for(
        "leadership to move off the dead broker",
        Duration::from_secs(60),
        || {
            new_leader = leader(&bootstrap, "app");
            new_leader >= 0 && new_leader != old_leader
        },
    );
    // The agent goes on shipping to the new leader for a while.
    std::thread::sleep(Duration::from_secs(2));
    kafka.restart(old_leader as u32);
    let restarted_after = killed_at.elapsed();
    std::thread::sleep(Duration::from_secs(3));
    writing.store(false, Ordering::Relaxed);
    writer.join().unwrap();
    let written = written.load(Ordering::Relaxed);

    wait_for(
        "every line after the failover",
        Duration::from_secs(120),
        || distinct_lines(&bootstrap) >= FILES.len() * written,
    );
    std::thread::sleep(Duration::from_secs(1));
    let by_file = numbers_by_file(&bootstrap);
    let duplicates = check_every_line(&by_file, written);
    let total: usize = by_file.values().map(Vec::len).sum();
    eprintln!(
        "[kafka cluster] {} lines written ({} before the kill of leader {old_leader}, \
         restarted after {restarted_after:.1?}, new leader {new_leader}); {total} records \
         in the topic, none lost, {duplicates} duplicates",
        FILES.len() * written,
        FILES.len() * before_kill,
    );
    let m = agent.metrics();
    assert!(
        metric(&m, "logship_agent_sink_records_total{source=\"app\"}").unwrap()
            >= (FILES.len() * written) as f64
    );
    drop(agent);
}

/// Appends a line to each file every few hundred microseconds until told to
/// stop; `written` is how many lines each file has.
fn write_steadily(logs: &Path, written: &AtomicUsize, writing: &AtomicBool) {
    let mut files: HashMap<&str, std::fs::File> = FILES
        .iter()
        .map(|f| {
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(logs.join(format!("{f}.log")))
                .unwrap();
            (*f, file)
        })
        .collect();
    let mut n = written.load(Ordering::Relaxed);
    while writing.load(Ordering::Relaxed) {
        for f in FILES {
            std::io::Write::write_all(files.get_mut(f).unwrap(), line(f, n).as_bytes()).unwrap();
        }
        n += 1;
        written.store(n, Ordering::Relaxed);
        if n.is_multiple_of(10) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}
