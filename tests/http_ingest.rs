//! The collector's HTTP ingest and admin API (docs/http-api.md), driven with
//! reqwest and the real `curl`, and read back with librdkafka: NDJSON (plain
//! and gzip) and binary RecordBatch bodies, idempotent producers across
//! restarts, and every refusal answered with a JSON error while nothing is
//! appended and the collector keeps serving.

use std::io::Write;
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use bytes::Bytes;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use serde_json::{json, Value};

use crate::kafka_protocol::batch;
use crate::kafka_rdkafka::consume_all;
use crate::util::*;

const BATCH: &str = "application/vnd.kafka.record-batch.v2";
const NDJSON: &str = "application/x-ndjson";

/// POSTs `body` and returns the status and the JSON answer.
fn post(
    addr: SocketAddr,
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: impl Into<reqwest::blocking::Body>,
) -> (u16, Value) {
    let mut req = reqwest::blocking::Client::new()
        .post(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(30))
        .header("Content-Type", content_type)
        .body(body);
    if let Some(e) = encoding {
        req = req.header("Content-Encoding", e);
    }
    answer(req.send().expect("POST"))
}

fn get(addr: SocketAddr, path: &str) -> (u16, Value) {
    let resp = reqwest::blocking::Client::new()
        .get(format!("http://{addr}{path}"))
        .timeout(Duration::from_secs(30))
        .send()
        .expect("GET");
    answer(resp)
}

fn answer(resp: reqwest::blocking::Response) -> (u16, Value) {
    let status = resp.status().as_u16();
    let text = resp.text().unwrap();
    let value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("status {status}: body is not JSON ({e}): {text:?}"));
    (status, value)
}

/// Asserts a refusal: its status, its error code, and a message.
fn assert_error(got: (u16, Value), status: u16, code: &str) -> String {
    assert_eq!(got.0, status, "{}", got.1);
    assert_eq!(got.1["code"], code, "{}", got.1);
    let message = got.1["error"].as_str().expect("error message").to_owned();
    assert!(!message.is_empty());
    message
}

fn records_path(topic: &str, partition: Option<i32>) -> String {
    match partition {
        Some(p) => format!("/v1/topics/{topic}/records?partition={p}"),
        None => format!("/v1/topics/{topic}/records"),
    }
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(data).unwrap();
    enc.finish().unwrap()
}

/// The log end offset of a partition, through Kafka's ListOffsets.
fn log_end(kafka: SocketAddr, topic: &str, partition: i32) -> i64 {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", kafka.to_string())
        .create()
        .unwrap();
    consumer
        .fetch_watermarks(topic, partition, Duration::from_secs(10))
        .unwrap()
        .1
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

/// A collector config with a small body limit and auto-creation off.
fn strict_config(dir: &Path) -> std::path::PathBuf {
    let path = dir.join("strict.yaml");
    std::fs::write(
        &path,
        format!(
            "collector:\n  data_dir: {}\n  auto_create_topics: false\n  http:\n    listen: 127.0.0.1:0\n    max_body_bytes: 4KiB\n  kafka:\n    listen: 127.0.0.1:0\n",
            dir.join("data").display()
        ),
    )
    .unwrap();
    path
}

#[test]
fn http_ingest_ndjson_plain_gzip_and_curl_read_back_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let (http, kafka) = (running.http, running.kafka);
    let before = now_ms();

    // Plain: CRLF line ends, blank lines, non-ASCII and inner spaces.
    let plain =
        "{\"level\":\"info\",\"msg\":\"started\"}\r\n\n{ \"msg\" : \"héllo ✓\" }\n[1,2,3]\n";
    let (status, ack) = post(http, &records_path("events", Some(0)), NDJSON, None, plain);
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        ack,
        json!({"topic": "events", "partition": 0, "base_offset": 0, "last_offset": 2, "records": 3})
    );

    // Gzip, no partition (the auto-created topic has one partition).
    let zipped = "{\"n\":1}\n{\"n\":2}";
    let (status, ack) = post(
        http,
        &records_path("events", None),
        NDJSON,
        Some("gzip"),
        gzip(zipped.as_bytes()),
    );
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        ack,
        json!({"topic": "events", "partition": 0, "base_offset": 3, "last_offset": 4, "records": 2})
    );

    // The real curl, as a user would type it.
    let file = dir.path().join("events.ndjson");
    std::fs::write(&file, "{\"from\":\"curl\"}\n").unwrap();
    let out = Command::new("curl")
        .args([
            "-sS",
            "-H",
            "Content-Type: application/x-ndjson",
            "--data-binary",
        ])
        .arg(format!("@{}", file.display()))
        .arg(format!("http://{http}/v1/topics/events/records"))
        .output()
        .expect("curl is installed (.ci/setup)");
    assert!(out.status.success(), "{out:?}");
    let ack: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ack["base_offset"], 5, "{ack}");
    assert_eq!(ack["records"], 1, "{ack}");

    let got = consume_all(&kafka.to_string(), "events", 1, 6);
    let values: Vec<&[u8]> = got.iter().map(|m| m.payload().unwrap()).collect();
    let want: Vec<&[u8]> = vec![
        b"{\"level\":\"info\",\"msg\":\"started\"}",
        "{ \"msg\" : \"héllo ✓\" }".as_bytes(),
        b"[1,2,3]",
        b"{\"n\":1}",
        b"{\"n\":2}",
        b"{\"from\":\"curl\"}",
    ];
    assert_eq!(values, want);
    for m in &got {
        assert!(m.key().is_none());
        let ts = m.timestamp().to_millis().unwrap();
        assert!(ts >= before && ts <= now_ms(), "timestamp {ts}");
    }

    // Without a partition, requests go round-robin over the partitions.
    cli_ok(
        kafka,
        &["topics", "create", "spread", "--partitions", "3"],
        "",
    );
    let mut seen: Vec<i64> = (0..3)
        .map(|i| {
            let (status, ack) = post(
                http,
                &records_path("spread", None),
                NDJSON,
                None,
                format!("{i}\n"),
            );
            assert_eq!(status, 200, "{ack}");
            ack["partition"].as_i64().unwrap()
        })
        .collect();
    seen.sort();
    assert_eq!(seen, [0, 1, 2]);

    // A body bigger than the topic's max.message.bytes is split into batches.
    cli_ok(
        kafka,
        &[
            "topics",
            "create",
            "small-batches",
            "--config",
            "max.message.bytes=1000",
        ],
        "",
    );
    let lines: Vec<String> = (0..100)
        .map(|i| format!("{{\"i\":{i},\"pad\":\"{}\"}}", "p".repeat(40)))
        .collect();
    let (status, ack) = post(
        http,
        &records_path("small-batches", Some(0)),
        NDJSON,
        None,
        lines.join("\n"),
    );
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        (ack["base_offset"].as_i64(), ack["last_offset"].as_i64()),
        (Some(0), Some(99))
    );
    let got = consume_all(&kafka.to_string(), "small-batches", 1, 100);
    let values: Vec<&[u8]> = got.iter().map(|m| m.payload().unwrap()).collect();
    let want: Vec<&[u8]> = lines.iter().map(|l| l.as_bytes()).collect();
    assert_eq!(values, want);

    // GET of a topic, auto-creating like Kafka's Metadata.
    assert_eq!(
        get(http, "/v1/topics/spread"),
        (200, json!({"name": "spread", "partitions": 3}))
    );
    assert_eq!(
        get(http, "/v1/topics/fresh"),
        (200, json!({"name": "fresh", "partitions": 1}))
    );

    let (_, text) = http_get(http, "/metrics");
    assert_eq!(
        metric(
            &text,
            "logship_collector_http_ingested_records_total{content_type=\"ndjson\",topic=\"events\"}"
        ),
        Some(6.0),
        "{text}"
    );
    let sent = plain.len() + gzip(zipped.as_bytes()).len() + "{\"from\":\"curl\"}\n".len();
    assert_eq!(
        metric(
            &text,
            "logship_collector_http_ingested_bytes_total{content_type=\"ndjson\",topic=\"events\"}"
        ),
        Some(sent as f64)
    );
    assert_eq!(
        metric(
            &text,
            "logship_collector_http_requests_total{code=\"200\",endpoint=\"records\"}"
        ),
        Some(7.0)
    );
    assert!(text.contains("# TYPE logship_collector_http_request_duration_seconds histogram"));
    assert!(text
        .contains("logship_collector_http_request_duration_seconds_count{endpoint=\"topic\"} 2"));
}

#[test]
fn http_ingest_binary_batches_are_idempotent_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let http = running.http;

    let (status, first) = post(http, "/v1/producer-ids", "application/json", None, "");
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["epoch"], 0);
    let pid = first["producer_id"].as_i64().unwrap();
    let (_, second) = post(http, "/v1/producer-ids", "application/json", None, "");
    assert_ne!(second["producer_id"].as_i64().unwrap(), pid);

    let path = records_path("agent-logs", Some(0));
    let ab = batch(pid, 0, 0, &["a", "b"]);
    let (status, ack) = post(http, &path, BATCH, None, ab.to_vec());
    assert_eq!(status, 200, "{ack}");
    assert_eq!(
        ack,
        json!({"topic": "agent-logs", "partition": 0, "base_offset": 0, "last_offset": 1})
    );
    // A retry is acknowledged with its original offsets and not appended.
    assert_eq!(
        post(http, &path, BATCH, None, ab.to_vec()),
        (200, ack.clone())
    );
    assert_eq!(log_end(running.kafka, "agent-logs", 0), 2);
    // Two batches in one body, the second compressed.
    let mut two = batch(pid, 0, 2, &["c"]).to_vec();
    two.extend(gzip_batch(pid, 3, &["d", "e"]));
    let (status, ack) = post(http, &path, BATCH, None, two);
    assert_eq!(
        (status, &ack["base_offset"], &ack["last_offset"]),
        (200, &json!(2), &json!(4))
    );
    // A gap in the sequence is refused; nothing is appended.
    let got = post(http, &path, BATCH, None, batch(pid, 0, 9, &["x"]).to_vec());
    let message = assert_error(got, 409, "out_of_order_sequence_number");
    assert!(message.contains("expected sequence 5"), "{message}");
    assert_eq!(log_end(running.kafka, "agent-logs", 0), 5);

    let producer = format!("/v1/topics/agent-logs/partitions/0/producers/{pid}");
    let state = json!({"producer_id": pid, "epoch": 0, "last_sequence": 4});
    assert_eq!(get(http, &producer), (200, state.clone()));
    assert_error(
        get(http, "/v1/topics/agent-logs/partitions/0/producers/424242"),
        404,
        "unknown_producer_id",
    );
    assert_error(
        get(
            http,
            &format!("/v1/topics/agent-logs/partitions/7/producers/{pid}"),
        ),
        404,
        "unknown_topic_or_partition",
    );
    assert_error(
        get(
            http,
            &format!("/v1/topics/no-such-topic/partitions/0/producers/{pid}"),
        ),
        404,
        "unknown_topic_or_partition",
    );
    assert_error(
        get(http, "/v1/topics/agent-logs/partitions/0/producers/abc"),
        400,
        "invalid_request",
    );
    // Asking about a producer does not create topics.
    let (_, ready) = http_get(http, "/readyz");
    assert!(ready.contains("1 topics"), "{ready}");

    let got = consume_all(&running.kafka.to_string(), "agent-logs", 1, 5);
    let values: Vec<&[u8]> = got.iter().map(|m| m.payload().unwrap()).collect();
    assert_eq!(values, [b"a", b"b", b"c", b"d", b"e"]);

    // A clean restart, then a kill -9: the producer state is rebuilt from
    // the log, and producer ids are never handed out twice.
    let mut ids = vec![pid, second["producer_id"].as_i64().unwrap()];
    assert!(running.terminate().success());
    for clean_stop in [false, true] {
        let running = start_collector(dir.path());
        let http = running.http;
        assert_eq!(get(http, &producer), (200, state.clone()));
        assert_eq!(
            post(http, &path, BATCH, None, ab.to_vec()).1["base_offset"],
            0
        );
        let (status, fresh) = post(http, "/v1/producer-ids", "application/json", None, "");
        assert_eq!(status, 200);
        let id = fresh["producer_id"].as_i64().unwrap();
        assert!(!ids.contains(&id), "{id} reused: {ids:?}");
        ids.push(id);
        if clean_stop {
            assert!(running.terminate().success());
        } // else dropped: kill -9
    }
}

/// A gzip-compressed batch from producer `pid` (epoch 0) at sequence `seq`.
fn gzip_batch(pid: i64, seq: i32, values: &[&str]) -> Vec<u8> {
    use logship_collector::storage::batch::{encode, NewRecord};
    let records: Vec<NewRecord> = values
        .iter()
        .map(|v| NewRecord {
            key: None,
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            timestamp: now_ms(),
        })
        .collect();
    encode(
        &records,
        Some((pid, 0, seq)),
        kafka_protocol::records::Compression::Gzip,
    )
}

#[test]
fn http_ingest_refusals_are_json_and_append_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_logship(&strict_config(dir.path()));
    let (http, kafka) = (running.http, running.kafka);
    cli_ok(kafka, &["topics", "create", "strict"], "");
    let path = records_path("strict", Some(0));
    let good = batch(-1, -1, 0, &["one", "two"]);
    assert_eq!(post(http, &path, BATCH, None, good.to_vec()).0, 200);

    // Wrong or missing content type; batches need a partition.
    assert_error(
        post(http, &path, "text/plain", None, "{}\n"),
        415,
        "unsupported_media_type",
    );
    assert_error(
        post(http, &path, "application/json", None, "{}\n"),
        415,
        "unsupported_media_type",
    );
    assert_error(
        post(http, &path, NDJSON, Some("br"), "{}\n"),
        415,
        "unsupported_media_type",
    );
    let message = assert_error(
        post(
            http,
            &records_path("strict", None),
            BATCH,
            None,
            good.to_vec(),
        ),
        400,
        "invalid_request",
    );
    assert!(message.contains("partition"), "{message}");
    assert_error(
        post(
            http,
            "/v1/topics/strict/records?partition=zero",
            NDJSON,
            None,
            "{}\n",
        ),
        400,
        "invalid_request",
    );

    // Corrupt gzip.
    let mut bad_gzip = gzip(b"{\"a\":1}\n");
    let mid = bad_gzip.len() / 2;
    bad_gzip[mid] ^= 0xff;
    assert_error(
        post(http, &path, NDJSON, Some("gzip"), bad_gzip),
        400,
        "corrupt_message",
    );
    // A flipped byte fails the CRC.
    let mut flipped = good.to_vec();
    let last = flipped.len() - 1;
    flipped[last] ^= 0x01;
    let message = assert_error(
        post(http, &path, BATCH, None, flipped.clone()),
        400,
        "corrupt_message",
    );
    assert!(message.contains("CRC"), "{message}");
    // A good batch followed by a corrupt one: the whole body is refused.
    let mut mixed = batch(-1, -1, 0, &["fine"]).to_vec();
    mixed.extend(&flipped);
    assert_error(
        post(http, &path, BATCH, None, mixed),
        400,
        "corrupt_message",
    );
    // Trailing bytes that are not a whole batch.
    let mut torn = good.to_vec();
    torn.extend(&good[..20]);
    assert_error(post(http, &path, BATCH, None, torn), 400, "corrupt_message");
    assert_error(
        post(http, &path, BATCH, None, Vec::new()),
        400,
        "invalid_record",
    );

    // A bad JSON line refuses every line of the body.
    let message = assert_error(
        post(
            http,
            &path,
            NDJSON,
            None,
            "{\"ok\":1}\n{\"broken\":\n{\"ok\":2}\n",
        ),
        400,
        "invalid_record",
    );
    assert!(message.contains("line 2"), "{message}");
    assert_error(
        post(http, &path, NDJSON, None, "\n\n"),
        400,
        "invalid_record",
    );

    // Over max_body_bytes (4KiB): as sent, and after gzip decoding.
    let big =
        "{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}\n".repeat(100);
    assert!(big.len() > 4096);
    assert_error(
        post(http, &path, NDJSON, None, big.clone()),
        413,
        "record_list_too_large",
    );
    let small = gzip(big.as_bytes());
    assert!(small.len() < 4096);
    let message = assert_error(
        post(http, &path, NDJSON, Some("gzip"), small),
        413,
        "record_list_too_large",
    );
    assert!(message.contains("decompressed"), "{message}");
    // A chunked body (no Content-Length) is cut off at the limit too.
    let chunks = std::io::Cursor::new(big.clone().into_bytes());
    let body = reqwest::blocking::Body::new(chunks);
    assert_error(
        post(http, &path, NDJSON, None, body),
        413,
        "record_list_too_large",
    );

    // Unknown topic (auto-creation is off), unknown partition, bad names.
    let message = assert_error(
        post(http, &records_path("nope", None), NDJSON, None, "{}\n"),
        404,
        "unknown_topic_or_partition",
    );
    assert!(message.contains("nope"), "{message}");
    assert_error(
        post(
            http,
            &records_path("nope", Some(0)),
            BATCH,
            None,
            good.to_vec(),
        ),
        404,
        "unknown_topic_or_partition",
    );
    assert_error(
        get(http, "/v1/topics/nope"),
        404,
        "unknown_topic_or_partition",
    );
    assert_error(
        post(http, &records_path("strict", Some(3)), NDJSON, None, "{}\n"),
        404,
        "unknown_topic_or_partition",
    );
    assert_error(
        post(
            http,
            "/v1/topics/bad%20name/records?partition=0",
            NDJSON,
            None,
            "{}\n",
        ),
        400,
        "invalid_topic_exception",
    );
    assert_error(get(http, "/v1/nothing-here"), 404, "not_found");

    // Nothing was appended, and the collector still serves.
    assert_eq!(log_end(kafka, "strict", 0), 2);
    let (_, ready) = http_get(http, "/readyz");
    assert!(ready.contains("1 topics"), "{ready}");
    let (status, ack) = post(http, &path, NDJSON, None, "{\"after\":true}\n");
    assert_eq!((status, &ack["base_offset"]), (200, &json!(2)), "{ack}");
    let got = consume_all(&kafka.to_string(), "strict", 1, 3);
    let values: Vec<&[u8]> = got.iter().map(|m| m.payload().unwrap()).collect();
    assert_eq!(values, [&b"one"[..], b"two", b"{\"after\":true}"]);

    let (_, text) = http_get(http, "/metrics");
    for (code, count) in [
        ("200", 2.0),
        ("400", 10.0),
        ("404", 3.0),
        ("413", 3.0),
        ("415", 3.0),
    ] {
        let series = format!(
            "logship_collector_http_requests_total{{code=\"{code}\",endpoint=\"records\"}}"
        );
        assert_eq!(metric(&text, &series), Some(count), "{series}\n{text}");
    }
    assert_eq!(
        metric(
            &text,
            "logship_collector_http_ingested_records_total{content_type=\"batch\",topic=\"strict\"}"
        ),
        Some(2.0)
    );
    assert_eq!(
        metric(
            &text,
            "logship_collector_http_requests_total{code=\"404\",endpoint=\"other\"}"
        ),
        Some(1.0)
    );
    let lines = running.log_lines();
    assert!(!lines.iter().any(|l| l.contains("ERROR")), "{lines:?}");
}
