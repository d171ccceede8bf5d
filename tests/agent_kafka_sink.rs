//! The agent's Kafka sink (librdkafka) against the collector's Kafka port:
//! the same records and partitions as the HTTP sink, checkpoints that move
//! only on delivery reports, and a broker that is down.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rdkafka::message::{Message, OwnedMessage};

use crate::agent_files::{agent_config, header, read_topic, start_agent, use_kafka_sink, value};
use crate::util::*;

/// What a consumer can see of a record, minus its offset.
fn seen(m: &OwnedMessage) -> (i32, String, Option<String>, Option<String>, Option<String>) {
    (
        m.partition(),
        value(m),
        header(m, "host"),
        header(m, "path"),
        header(m, "offset"),
    )
}

/// An [`agent_config`] in `dir` that follows the files in `logs` instead of
/// `{dir}/logs`.
fn config_reading(dir: &Path, collector_http: SocketAddr, logs: &Path) -> PathBuf {
    let config = agent_config(dir, collector_http, "");
    let text = std::fs::read_to_string(&config).unwrap().replace(
        &dir.join("logs").display().to_string(),
        &logs.display().to_string(),
    );
    std::fs::write(&config, text).unwrap();
    config
}

#[test]
fn kafka_sink_ships_the_same_records_to_the_same_partitions_as_the_http_sink() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    cli_ok(
        collector.kafka,
        &["topics", "create", "app", "--partitions", "3"],
        "",
    );
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mut lines = 0;
    for f in 0..6 {
        let mut text = String::new();
        for i in 0..500 {
            text.push_str(&format!("file{f} line {i:04} {}\n", "x".repeat(i % 50)));
            lines += 1;
        }
        append(&logs.join(format!("f{f}.log")), &text);
    }
    let bootstrap = collector.kafka.to_string();

    // The HTTP sink's records first.
    let config = config_reading(&dir.path().join("http"), collector.http, &logs);
    let agent = start_agent(&config);
    wait_for("the HTTP sink's records", Duration::from_secs(30), || {
        read_topic(&bootstrap, "app").len() >= lines
    });
    drop(agent);
    let via_http: BTreeSet<_> = read_topic(&bootstrap, "app").iter().map(seen).collect();
    assert_eq!(via_http.len(), lines);

    // Then the same files through the Kafka sink, into the same topic.
    let config = config_reading(&dir.path().join("kafka"), collector.http, &logs);
    use_kafka_sink(&config, &bootstrap);
    let agent = start_agent(&config);
    wait_for("the Kafka sink's records", Duration::from_secs(30), || {
        read_topic(&bootstrap, "app").len() >= 2 * lines
    });
    std::thread::sleep(Duration::from_millis(500));
    let all = read_topic(&bootstrap, "app");
    assert_eq!(all.len(), 2 * lines, "each line once per sink");
    let records: Vec<_> = all.iter().map(seen).collect();
    let via_kafka: BTreeSet<_> = records.iter().cloned().collect();
    assert_eq!(via_kafka, via_http, "same values, headers and partitions");
    assert!(via_http.iter().map(|r| r.0).collect::<BTreeSet<_>>().len() > 1);

    // Delivery reports are what the agent counts as sent.
    let m = agent.metrics();
    assert_eq!(
        metric(&m, "logship_agent_sink_records_total{source=\"app\"}"),
        Some(lines as f64)
    );
    assert_eq!(
        metric(
            &m,
            "logship_agent_kafka_delivery_duration_seconds_count{source=\"app\"}"
        )
        .map(|n| n > 0.0),
        Some(true)
    );
    assert_eq!(metric(&m, "logship_agent_kafka_queue_depth"), Some(0.0));
    drop(agent);
}

/// The offsets recorded in the agent's checkpoints file.
fn checkpointed_offsets(data_dir: &Path) -> Vec<u64> {
    let Ok(text) = std::fs::read_to_string(data_dir.join("checkpoints.json")) else {
        return Vec::new();
    };
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    let mut out = Vec::new();
    collect_offsets(&v, &mut out);
    out
}

fn collect_offsets(v: &serde_json::Value, out: &mut Vec<u64>) {
    match v {
        serde_json::Value::Object(o) => {
            for (k, v) in o {
                match (k.as_str(), v.as_u64()) {
                    ("offset", Some(n)) => out.push(n),
                    _ => collect_offsets(v, out),
                }
            }
        }
        serde_json::Value::Array(a) => a.iter().for_each(|v| collect_offsets(v, out)),
        _ => {}
    }
}

#[test]
fn kafka_sink_waits_for_a_broker_that_is_down_then_delivers_everything_once() {
    let dir = tempfile::tempdir().unwrap();
    let (http, kafka) = (free_port(), free_port());
    let collector_yaml = fixed_collector_config(dir.path(), http, kafka);
    let bootstrap = format!("127.0.0.1:{kafka}");
    let config = agent_config(dir.path(), format!("127.0.0.1:{http}").parse().unwrap(), "");
    use_kafka_sink(&config, &bootstrap);
    let agent = start_agent(&config);
    let file = dir.path().join("logs/app.log");
    let mut text = String::new();
    for i in 0..2_000 {
        text.push_str(&format!("{i:05} {}\n", "z".repeat(60)));
    }
    append(&file, &text);

    // Nothing is acknowledged while no broker answers: no record counted as
    // sent, no checkpoint moved past the start.
    std::thread::sleep(Duration::from_secs(2));
    let m = agent.metrics();
    assert_eq!(
        metric(&m, "logship_agent_sink_records_total{source=\"app\"}").unwrap_or(0.0),
        0.0
    );
    assert!(metric(&m, "logship_agent_errors_total{kind=\"sink_connect\"}").unwrap() > 0.0);
    assert!(checkpointed_offsets(&dir.path().join("agent-data"))
        .iter()
        .all(|&o| o == 0));

    let collector = start_logship(&collector_yaml);
    wait_for("every line", Duration::from_secs(60), || {
        read_topic(&bootstrap, "app").len() >= 2_000
    });
    std::thread::sleep(Duration::from_millis(500));
    let got: Vec<String> = read_topic(&bootstrap, "app").iter().map(value).collect();
    assert_eq!(got.len(), 2_000, "each line exactly once");
    for (i, v) in got.iter().enumerate() {
        assert_eq!(&v[..5], format!("{i:05}"));
    }
    wait_for("the checkpoint", Duration::from_secs(10), || {
        checkpointed_offsets(&dir.path().join("agent-data")) == vec![text.len() as u64]
    });
    drop(agent);
    drop(collector);
}

#[test]
fn kafka_sink_ships_samples_keyed_by_series_to_the_murmur2_partition() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    cli_ok(
        collector.kafka,
        &["topics", "create", "metrics", "--partitions", "3"],
        "",
    );
    let config = dir.path().join("agent.yaml");
    std::fs::write(
        &config,
        format!(
            "agent:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:0\n  sources:\n    host:\n      type: host_metrics\n      interval: 300ms\n      topic: metrics\n  sink:\n    type: kafka\n    brokers: [\"{}\"]\n    compression: zstd\n",
            dir.path().join("agent-data").display(),
            collector.kafka
        ),
    )
    .unwrap();
    let agent = start_agent(&config);
    let bootstrap = collector.kafka.to_string();
    wait_for("samples", Duration::from_secs(30), || {
        read_topic(&bootstrap, "metrics").len() > 50
    });
    let records = read_topic(&bootstrap, "metrics");
    let mut partitions = BTreeSet::new();
    for m in &records {
        let key = m.key().expect("every sample has its series as key");
        let sample: serde_json::Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
        let name = sample["name"].as_str().unwrap();
        assert!(String::from_utf8_lossy(key).starts_with(&format!("{name}{{")));
        assert_eq!(
            m.partition(),
            logship_agent::partitioner::partition_for(key, 3),
            "Kafka's default partitioner: murmur2 of the key"
        );
        partitions.insert(m.partition());
    }
    assert_eq!(partitions.len(), 3, "series spread over the partitions");
    let m = agent.metrics();
    assert!(metric(&m, "logship_agent_sink_records_total{source=\"host\"}").unwrap() > 50.0);
    drop(agent);
}
