//! Kafka Streams against the collector, fed with the agent's records
//! (value = the line; headers host, path, offset): a stateless filter/map
//! application (`tests/java/LogFilter.java`), and downstream analytics,
//! lines per host per minute in a windowed count
//! (`tests/java/LinesPerHost.java`). Kafka Streams needs no cluster of its
//! own (a library in one JVM, ~30 s from start to answer here), so it fits
//! CI where Spark or Flink would not.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::ClientConfig;

use crate::agent_files::{agent_config, header, read_topic, start_agent, value};
use crate::apache_kafka::java_client;
use crate::util::*;

/// Ships `lines` through an agent (HTTP sink) into the collector's `app`
/// topic and waits until all are there.
fn ship_with_agent(dir: &std::path::Path, collector: &Running, lines: &[String]) {
    let config = agent_config(dir, collector.http, "");
    let agent = start_agent(&config);
    append(&dir.join("logs/app.log"), &(lines.join("\n") + "\n"));
    let bootstrap = collector.kafka.to_string();
    wait_for("the agent's lines", Duration::from_secs(60), || {
        read_topic(&bootstrap, "app").len() >= lines.len()
    });
    drop(agent);
}

#[test]
fn kafka_streams_filter_map_application_reads_the_agents_records() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    for topic in ["app", "errors"] {
        cli_ok(
            collector.kafka,
            &["topics", "create", topic, "--partitions", "3"],
            "",
        );
    }
    let lines: Vec<String> = (0..900)
        .map(|i| {
            let level = if i % 3 == 0 { "ERROR" } else { "INFO" };
            format!(
                "2026-01-01T00:00:{:02}Z {level} request {i} took {}ms",
                i % 60,
                i % 17
            )
        })
        .collect();
    ship_with_agent(dir.path(), &collector, &lines);
    let bootstrap = collector.kafka.to_string();

    let out = java_client("LogFilter", &[&bootstrap, "app", "errors", "300"]);
    assert_eq!(out, "output records: 300\n");

    let mut expected: Vec<String> = lines
        .iter()
        .filter(|l| l.contains(" ERROR "))
        .map(|l| l[l.find(" ERROR ").unwrap() + 1..].to_owned())
        .collect();
    let records = read_topic(&bootstrap, "errors");
    let mut got: Vec<String> = records.iter().map(value).collect();
    expected.sort();
    got.sort();
    assert_eq!(
        got, expected,
        "each ERROR line once, its timestamp stripped"
    );
    let host = logship_common::host::hostname();
    for r in &records {
        assert_eq!(header(r, "host").as_deref(), Some(host.as_str()));
        assert!(header(r, "path").unwrap().ends_with("/logs/app.log"));
    }
}

#[test]
fn kafka_streams_counts_lines_per_host_per_minute() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    cli_ok(
        collector.kafka,
        &["topics", "create", "app", "--partitions", "3"],
        "",
    );
    cli_ok(collector.kafka, &["topics", "create", "lines-per-host"], "");
    let bootstrap = collector.kafka.to_string();

    // This machine's lines through the agent ...
    let lines: Vec<String> = (0..600).map(|i| format!("GET /item/{i} 200")).collect();
    ship_with_agent(dir.path(), &collector, &lines);
    // ... and two more hosts' in the agent's shape, spread over the last
    // four minutes (within the application's ten-minute grace).
    let producer: BaseProducer = ClientConfig::new()
        .set("bootstrap.servers", &bootstrap)
        .create()
        .unwrap();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let mut produced = 0;
    for (h, host) in ["web-1", "web-2"].iter().enumerate() {
        let count = 300 + 150 * h;
        let mut offset = 0;
        for i in 0..count {
            let line = format!("POST /cart/{i} 201");
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "host",
                    value: Some(*host),
                })
                .insert(Header {
                    key: "path",
                    value: Some("/var/log/nginx/access.log"),
                })
                .insert(Header {
                    key: "offset",
                    value: Some(&offset.to_string()),
                });
            offset += line.len() + 1;
            let ts = now - 240_000 + (i as i64 * 240_000 / count as i64);
            let record = BaseRecord::<(), _>::to("app")
                .payload(&line)
                .timestamp(ts)
                .headers(headers);
            producer.send(record).map_err(|(e, _)| e).unwrap();
            produced += 1;
        }
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    let total = lines.len() + produced;

    // What the counts must be, from the records as the topic holds them.
    let input = read_topic(&bootstrap, "app");
    assert_eq!(input.len(), total);
    let mut expected: BTreeMap<String, u64> = BTreeMap::new();
    for r in &input {
        let ts = r.timestamp().to_millis().unwrap();
        let key = format!(
            "{} {}",
            header(r, "host").unwrap(),
            ts - ts.rem_euclid(60_000)
        );
        *expected.entry(key).or_default() += 1;
    }

    let out = java_client(
        "LinesPerHost",
        &[&bootstrap, "app", "lines-per-host", &total.to_string()],
    );
    assert_eq!(
        out,
        format!("windows: {}, lines: {total}\n", expected.len())
    );
    // Every update of a count is in the topic; the last one per key holds.
    let mut counts: BTreeMap<String, u64> = BTreeMap::new();
    for r in read_topic(&bootstrap, "lines-per-host") {
        counts.insert(
            String::from_utf8(r.key().unwrap().to_vec()).unwrap(),
            value(&r).parse().unwrap(),
        );
    }
    assert_eq!(counts, expected);
    assert!(expected.keys().any(|k| k.starts_with("web-2 ")));

    // The re-keying went through a repartition topic the collector created
    // for Streams (cleanup.policy=delete, message.timestamp.type=CreateTime).
    let described = cli_ok(
        collector.kafka,
        &["topics", "describe", "lines-per-host-by-host-repartition"],
        "",
    );
    assert!(
        described.contains("lines-per-host-by-host-repartition"),
        "{described}"
    );
}
