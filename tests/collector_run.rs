//! `logship run` as a collector: loads existing storage, serves its metrics
//! and health, shuts down cleanly on SIGTERM, refuses a second instance.

use std::collections::BTreeMap;

use kafka_protocol::records::Compression;
use logship_collector::metrics::Metrics;
use logship_collector::storage::batch::{encode, NewRecord};
use logship_collector::storage::{Storage, StorageOptions};

use crate::util::*;

fn one_batch() -> Vec<u8> {
    // Recent timestamps: retention (7 days by default) runs at start-up.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let records: Vec<NewRecord> = (0..3)
        .map(|i| NewRecord {
            key: None,
            value: Some(bytes::Bytes::from(format!("line {i}"))),
            timestamp: now,
        })
        .collect();
    encode(&records, None, Compression::Gzip)
}

#[test]
fn serves_metrics_for_loaded_storage_and_shuts_down_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let batch = one_batch();
    {
        let s = Storage::open(StorageOptions::new(&data), Metrics::new().storage).unwrap();
        s.create_topic("app-logs", 2, BTreeMap::new(), false)
            .unwrap();
        s.append("app-logs", 1, &mut batch.clone()).unwrap();
        // No close(): the collector must recover this unclean stop.
    }
    let config = collector_config(dir.path(), &data);
    let running = start_logship(&config);

    let (status, body) = http_get(running.http, "/healthz");
    assert_eq!((status, body.trim()), (200, "ok"));
    let (status, body) = http_get(running.http, "/readyz");
    assert_eq!(status, 200);
    assert!(body.contains("1 topics"), "{body}");
    let (status, text) = http_get(running.http, "/metrics");
    assert_eq!(status, 200);
    assert_eq!(metric(&text, "logship_collector_log_partitions"), Some(2.0));
    assert_eq!(
        metric(
            &text,
            "logship_collector_log_size_bytes{topic=\"app-logs\"}"
        ),
        Some(batch.len() as f64)
    );
    assert_eq!(
        metric(&text, "logship_collector_log_segments{topic=\"app-logs\"}"),
        Some(2.0)
    );
    assert!(text.contains("# TYPE logship_collector_log_fsync_duration_seconds histogram"));

    // A second collector on the same data directory is refused, clearly.
    let second = std::process::Command::new(LOGSHIP)
        .args(["run", "--config"])
        .arg(&config)
        .output()
        .unwrap();
    assert!(!second.status.success());
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(err.contains("in use by another process"), "{err}");

    let recovered = running.log_lines();
    let status = running.terminate();
    assert!(
        !recovered.iter().any(|l| l.contains("ERROR")),
        "{recovered:?}"
    );
    assert!(status.success(), "{status:?}");
    assert!(data.join(".clean_shutdown").exists());

    // The data survived, byte for byte, with its assigned offset.
    let s = Storage::open(StorageOptions::new(&data), Metrics::new().storage).unwrap();
    let r = s.read("app-logs", 1, 0, 1 << 20).unwrap();
    assert_eq!(&r.records[12..], &batch[12..]);
    assert_eq!(r.high_watermark, 3);
}

#[test]
fn validate_reports_bad_config_with_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "collector:\n  data_dir: /tmp/x\n  http:\n    listen: 127.0.0.1:8080\n    lisen: oops\n",
    )
    .unwrap();
    let err = validate_error(&bad);
    assert!(err.contains("lisen") && err.contains("line 5"), "{err}");

    let good = concat!(env!("CARGO_MANIFEST_DIR"), "/configs/collector.yaml");
    let out = std::process::Command::new(LOGSHIP)
        .args(["validate", "--config", good])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
