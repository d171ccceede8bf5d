//! The agent's metric sources, run as users would: `prometheus_scrape`
//! against the collector's own `/metrics` and Debian's
//! prometheus-node-exporter, and `host_metrics` compared with /proc; the
//! samples read back from the topic with a Kafka client.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rdkafka::message::{Message, OwnedMessage};
use serde_json::Value;

use crate::agent_files::{read_topic, start_agent};
use crate::util::*;

/// One sample record, decoded.
#[derive(Debug)]
struct Sample {
    key: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: Value,
    kind: String,
    timestamp: i64,
}

fn samples(records: &[OwnedMessage]) -> Vec<Sample> {
    records
        .iter()
        .map(|m| {
            let v: Value = serde_json::from_slice(m.payload().unwrap()).unwrap();
            let obj = v.as_object().unwrap();
            assert_eq!(
                obj.keys().collect::<Vec<_>>(),
                ["labels", "name", "timestamp", "type", "value"],
                "record fields"
            );
            Sample {
                key: String::from_utf8(m.key().unwrap().to_vec()).unwrap(),
                name: obj["name"].as_str().unwrap().to_owned(),
                labels: obj["labels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_owned()))
                    .collect(),
                value: obj["value"].clone(),
                kind: obj["type"].as_str().unwrap().to_owned(),
                timestamp: obj["timestamp"].as_i64().unwrap(),
            }
        })
        .collect()
}

/// Debian's node exporter on a free port, with only collectors whose values
/// hold still (so the test can compare them).
struct NodeExporter(Child, u16);

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_node_exporter() -> NodeExporter {
    let port = free_port();
    let child = Command::new("prometheus-node-exporter")
        .args([
            &format!("--web.listen-address=127.0.0.1:{port}"),
            "--collector.disable-defaults",
            "--collector.meminfo",
            "--collector.uname",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus-node-exporter (Debian package; .ci/setup installs it)");
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "node exporter did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    NodeExporter(child, port)
}

fn write_agent(dir: &Path, sink: &str, sources: &str) -> std::path::PathBuf {
    let path = dir.join("agent.yaml");
    std::fs::write(
        &path,
        format!(
            "agent:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:0\n  sources:\n{sources}  sink:\n{sink}",
            dir.join("agent-data").display()
        ),
    )
    .unwrap();
    path
}

fn meminfo_total_bytes() -> f64 {
    let text = std::fs::read_to_string("/proc/meminfo").unwrap();
    let line = text.lines().find(|l| l.starts_with("MemTotal:")).unwrap();
    let kb: f64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024.0
}

fn wait_for_samples(bootstrap: &str, topic: &str, ok: impl Fn(&[Sample]) -> bool) -> Vec<Sample> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = samples(&read_topic(bootstrap, topic));
        if ok(&s) {
            return s;
        }
        assert!(Instant::now() < deadline, "samples never arrived");
        std::thread::sleep(Duration::from_millis(300));
    }
}

#[test]
fn scrapes_the_collector_and_node_exporter_into_a_topic() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let exporter = start_node_exporter();
    let dead = free_port();
    let config = write_agent(
        dir.path(),
        &format!("    type: collector\n    url: http://{}\n", collector.http),
        &format!(
            "    scrape:\n      type: prometheus_scrape\n      targets: [\"http://{}/metrics\", \"http://127.0.0.1:{}/metrics\", \"http://127.0.0.1:{dead}/metrics\"]\n      interval: 500ms\n      timeout: 400ms\n      topic: metrics\n      labels:\n        env: test\n",
            collector.http, exporter.1
        ),
    );
    let agent = start_agent(&config);
    let bootstrap = collector.kafka.to_string();
    let node = format!("127.0.0.1:{}", exporter.1);
    let up = |s: &[Sample], instance: &str, value: f64| {
        s.iter().any(|x| {
            x.name == "up"
                && x.labels.get("instance").map(String::as_str) == Some(instance)
                && x.value.as_f64() == Some(value)
        })
    };
    let all = wait_for_samples(&bootstrap, "metrics", |s| {
        up(s, &collector.http.to_string(), 1.0)
            && up(s, &node, 1.0)
            && up(s, &format!("127.0.0.1:{dead}"), 0.0)
            && s.iter()
                .any(|x| x.name == "logship_collector_http_request_duration_seconds_bucket")
    });

    // Every sample: job, instance and the configured label; the key is the
    // series; a timestamp near now.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    for s in &all {
        assert_eq!(s.labels["job"], "scrape", "{s:?}");
        assert_eq!(s.labels["env"], "test", "{s:?}");
        assert!(s.key.starts_with(&format!("{}{{", s.name)), "{s:?}");
        assert!((now - s.timestamp).abs() < 120_000, "{s:?}");
    }
    // A failed target sends `up` alone.
    let dead_instance = format!("127.0.0.1:{dead}");
    assert!(all
        .iter()
        .filter(|s| s.labels["instance"] == dead_instance)
        .all(|s| s.name == "up"));

    // node exporter: memory total as /proc says, uname's info series.
    let mem = all
        .iter()
        .find(|s| s.name == "node_memory_MemTotal_bytes" && s.labels["instance"] == node)
        .expect("node_memory_MemTotal_bytes");
    assert_eq!(mem.kind, "gauge");
    assert_eq!(mem.value.as_f64().unwrap(), meminfo_total_bytes());
    let uname = all
        .iter()
        .find(|s| s.name == "node_uname_info")
        .expect("node_uname_info");
    assert_eq!(uname.value.as_f64(), Some(1.0));
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(uname.labels["release"], release.trim());

    // The collector's own page: a histogram's series keep their type and
    // `le`, and a counter's last value is what the collector reports.
    let bucket = all
        .iter()
        .find(|s| s.name == "logship_collector_http_request_duration_seconds_bucket")
        .expect("histogram buckets");
    assert_eq!(bucket.kind, "histogram");
    assert!(bucket.labels.contains_key("le"));
    assert!(all
        .iter()
        .any(|s| s.name == "logship_collector_http_request_duration_seconds_count"));
    let partitions = all
        .iter()
        .rfind(|s| s.name == "logship_collector_log_partitions")
        .expect("logship_collector_log_partitions");
    assert_eq!(partitions.kind, "gauge");
    let page = http_get(collector.http, "/metrics").1;
    assert_eq!(
        partitions.value.as_f64(),
        metric(&page, "logship_collector_log_partitions"),
    );

    // The agent's own metrics count scrapes, errors and samples.
    let m = agent.metrics();
    assert!(metric(&m, "logship_agent_scrapes_total{source=\"scrape\"}").unwrap() >= 3.0);
    assert!(metric(&m, "logship_agent_scrape_errors_total{source=\"scrape\"}").unwrap() >= 1.0);
    assert!(metric(&m, "logship_agent_samples_total{source=\"scrape\"}").unwrap() > 10.0);
    assert!(
        metric(
            &m,
            "logship_agent_scrape_duration_seconds_count{source=\"scrape\"}"
        )
        .unwrap()
            >= 3.0
    );
    drop(agent);
}

#[test]
fn host_metrics_match_proc() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let config = write_agent(
        dir.path(),
        &format!("    type: collector\n    url: http://{}\n", collector.http),
        "    host:\n      type: host_metrics\n      interval: 300ms\n      topic: host\n      labels:\n        dc: lab\n",
    );
    let uptime = || -> f64 {
        std::fs::read_to_string("/proc/uptime")
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let before = uptime();
    let agent = start_agent(&config);
    let bootstrap = collector.kafka.to_string();
    let all = wait_for_samples(&bootstrap, "host", |s| {
        s.iter().any(|x| x.name == "host_uptime_seconds")
    });
    let after = uptime();
    let hostname = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    for s in &all {
        assert_eq!(s.labels["host"], hostname.trim(), "{s:?}");
        assert_eq!(s.labels["dc"], "lab", "{s:?}");
    }
    let first = |name: &str| {
        all.iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no {name}"))
    };
    assert_eq!(
        first("host_memory_total_bytes").value.as_f64().unwrap(),
        meminfo_total_bytes()
    );
    let up = first("host_uptime_seconds").value.as_f64().unwrap();
    assert!(
        up >= before.floor() && up <= after.ceil(),
        "{before} <= {up} <= {after}"
    );
    // One `user` CPU series per CPU line of /proc/stat (plus `all`).
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpus = stat
        .lines()
        .filter(|l| l.starts_with("cpu") && l.as_bytes()[3].is_ascii_digit())
        .count();
    let ts = first("host_cpu_seconds_total").timestamp;
    let user: Vec<_> = all
        .iter()
        .filter(|s| {
            s.name == "host_cpu_seconds_total" && s.labels["mode"] == "user" && s.timestamp == ts
        })
        .collect();
    assert_eq!(user.len(), cpus + 1, "{user:?}");
    assert_eq!(first("host_cpu_seconds_total").kind, "counter");
    for name in [
        "host_load1",
        "host_swap_total_bytes",
        "host_memory_available_bytes",
    ] {
        first(name);
    }
    assert!(all
        .iter()
        .any(|s| s.name == "host_network_receive_bytes_total" && s.labels["device"] == "lo"));
    let m = agent.metrics();
    assert!(metric(&m, "logship_agent_scrapes_total{source=\"host\"}").unwrap() >= 1.0);
    drop(agent);
}
