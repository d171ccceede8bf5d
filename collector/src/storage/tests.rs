//! Scenario tests of the storage engine through its public API.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use rand::{Rng, SeedableRng};

use logship_common::batch::testing::{encode_batch, encode_idempotent};
use logship_common::time::now_ms;

use super::*;
use crate::metrics::Metrics;

fn open_with(dir: &Path, f: impl FnOnce(&mut StorageOptions)) -> (Arc<Storage>, Metrics) {
    let mut options = StorageOptions::new(dir);
    f(&mut options);
    let metrics = Metrics::new();
    (
        Storage::open(options, metrics.storage.clone()).unwrap(),
        metrics,
    )
}

fn open(dir: &Path) -> Arc<Storage> {
    open_with(dir, |_| {}).0
}

fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Offsets and values of every record in `records`, decoded with kafka-protocol.
fn decode(records: &Bytes) -> Vec<(i64, Bytes)> {
    let mut buf = records.clone();
    RecordBatchDecoder::decode_all(&mut buf)
        .unwrap()
        .into_iter()
        .flat_map(|set| set.records)
        .map(|r| (r.offset, r.value.unwrap()))
        .collect()
}

/// Reads a whole partition from `from`, returning every record.
fn read_all(p: &Partition, from: i64) -> Vec<(i64, Bytes)> {
    let mut out = Vec::new();
    let mut offset = from;
    loop {
        let r = p.read(offset, 64 * 1024).unwrap();
        if r.records.is_empty() {
            return out;
        }
        let recs = decode(&r.records);
        offset = recs.last().unwrap().0 + 1;
        out.extend(recs.into_iter().filter(|(o, _)| *o >= from));
    }
}

#[test]
fn topic_lifecycle_persists_across_restart() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    let d = s
        .create_topic(
            "first-events",
            3,
            configs(&[("retention.ms", "1000")]),
            false,
        )
        .unwrap();
    assert_eq!(d.partitions, 3);
    assert_eq!(d.config.retention_ms, 1000);
    for p in 0..3 {
        assert!(dir.path().join(format!("first-events-{p}")).is_dir());
        assert!(dir
            .path()
            .join(format!("first-events-{p}/00000000000000000000.log"))
            .is_file());
    }
    s.create_topic("second-events", 1, BTreeMap::new(), false)
        .unwrap();
    assert!(matches!(
        s.create_topic("second-events", 1, BTreeMap::new(), false),
        Err(StorageError::TopicExists(_))
    ));
    // validate_only changes nothing.
    s.create_topic("dry-run", 2, BTreeMap::new(), true).unwrap();
    assert!(s.describe_topic("dry-run").is_err());
    s.add_partitions("second-events", 2, false).unwrap();
    assert!(s.add_partitions("second-events", 2, false).is_err());
    let id = s.describe_topic("first-events").unwrap().id;
    s.delete_topic("second-events").unwrap();
    assert!(!dir.path().join("second-events-0").exists());
    assert!(!dir.path().join("second-events-1").exists());
    s.close().unwrap();
    drop(s);

    let s = open(dir.path());
    let names: Vec<String> = s.list_topics().into_iter().map(|t| t.name).collect();
    assert_eq!(names, vec!["first-events"]);
    let d = s.describe_topic("first-events").unwrap();
    assert_eq!((d.id, d.partitions, d.config.retention_ms), (id, 3, 1000));
    assert_eq!(d.overrides, configs(&[("retention.ms", "1000")]));
}

#[test]
fn second_process_cannot_open_a_data_dir_in_use() {
    let dir = tempfile::tempdir().unwrap();
    let _s = open(dir.path());
    let err = Storage::open(StorageOptions::new(dir.path()), Metrics::new().storage)
        .err()
        .unwrap();
    assert!(matches!(err, StorageError::DataDirLocked { .. }), "{err}");
}

#[test]
fn bad_input_is_refused_and_stored_data_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_topic("t", 1, configs(&[("max.message.bytes", "2000")]), false)
        .unwrap();
    s.append("t", 0, &mut encode_batch(2, 10, 0)).unwrap();
    let before = std::fs::read(dir.path().join("t-0/00000000000000000000.log")).unwrap();

    let mut flipped = encode_batch(2, 10, 0);
    let n = flipped.len();
    flipped[n - 3] ^= 0xff;
    let mut magic = encode_batch(2, 10, 0);
    magic[16] = 1;
    let mut garbage = vec![0u8; 100];
    rand::rng().fill(&mut garbage[..]);
    let cases: Vec<(Vec<u8>, i16)> = vec![
        (flipped, 2),
        (magic, 2),
        (garbage, 2),
        (encode_batch(2, 10, 0)[..40].to_vec(), 2),
        (encode_batch(50, 100, 0), 10),
    ];
    for (mut buf, code) in cases {
        let err = s.append("t", 0, &mut buf).unwrap_err();
        assert_eq!(err.kafka_code(), code, "{err}");
    }
    for (topic, p) in [("nope", 0), ("t", 1), ("t", -1)] {
        let err = s.append(topic, p, &mut encode_batch(1, 1, 0)).unwrap_err();
        assert_eq!(err.kafka_code(), 3, "{err}");
    }
    for bad in ["", ".", "..", "a/b", &"x".repeat(250)] {
        let err = s.create_topic(bad, 1, BTreeMap::new(), false).unwrap_err();
        assert_eq!(err.kafka_code(), 17, "{bad:?}: {err}");
    }
    assert_eq!(
        s.create_topic("ok", 0, BTreeMap::new(), false)
            .unwrap_err()
            .kafka_code(),
        37
    );
    let after = std::fs::read(dir.path().join("t-0/00000000000000000000.log")).unwrap();
    assert_eq!(before, after);
    assert_eq!(s.partition("t", 0).unwrap().log_end_offset(), 2);
}

#[test]
fn append_assigns_offsets_and_read_returns_whole_batches() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_topic("t", 1, BTreeMap::new(), false).unwrap();
    let p = s.partition("t", 0).unwrap();
    let mut bases = Vec::new();
    for i in 0..20 {
        let info = p
            .append(&mut encode_batch(5, 30 + i, 1_000 * i as i64))
            .unwrap();
        bases.push(info.base_offset);
        assert_eq!(info.last_offset, info.base_offset + 4);
    }
    assert_eq!(bases, (0..20).map(|i| i * 5).collect::<Vec<_>>());
    assert_eq!(p.log_start_offset(), 0);
    assert_eq!(p.log_end_offset(), 100);
    assert_eq!(p.high_watermark(), 100);

    // The batch containing offset 12 (10..=14) comes back whole.
    let r = p.read(12, 1).unwrap();
    let recs = decode(&r.records);
    assert_eq!(recs.first().unwrap().0, 10);
    assert_eq!(
        recs.len(),
        5,
        "at least one whole batch even over max_bytes"
    );
    // A larger limit returns several whole batches, never a partial one.
    let r = p.read(12, 1000).unwrap();
    assert!(r.records.len() <= 1000 || decode(&r.records).len() == 5);
    assert_eq!(decode(&r.records).len() % 5, 0);
    // Everything reads back in order.
    let all = read_all(&p, 0);
    assert_eq!(all.len(), 100);
    assert!(all.iter().enumerate().all(|(i, (o, _))| *o == i as i64));
    // At the end: empty; beyond it: out of range.
    assert!(p.read(100, 1000).unwrap().records.is_empty());
    assert_eq!(p.read(101, 1000).unwrap_err().kafka_code(), 1);
    assert_eq!(p.read(-1, 1000).unwrap_err().kafka_code(), 1);
}

#[test]
fn offsets_for_timestamps_use_the_time_index() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_topic("t", 1, configs(&[("index.interval.bytes", "100")]), false)
        .unwrap();
    let p = s.partition("t", 0).unwrap();
    // Batch i holds records with timestamps 1000*i .. 1000*i+3.
    for i in 1..=50 {
        p.append(&mut encode_batch(4, 20, 1_000 * i)).unwrap();
    }
    assert_eq!(p.offset_for_timestamp(0).unwrap(), Some((0, 1_000)));
    // 7002 is the third record of batch 7 (offsets 24..27).
    assert_eq!(p.offset_for_timestamp(7_002).unwrap(), Some((26, 7_002)));
    assert_eq!(p.offset_for_timestamp(7_004).unwrap(), Some((28, 8_000)));
    assert_eq!(p.offset_for_timestamp(50_003).unwrap(), Some((199, 50_003)));
    assert_eq!(p.offset_for_timestamp(50_004).unwrap(), None);
    // The same answers after a clean restart (loaded time index) ...
    s.close().unwrap();
    drop((p, s));
    let s = open(dir.path());
    let p = s.partition("t", 0).unwrap();
    assert_eq!(p.offset_for_timestamp(7_002).unwrap(), Some((26, 7_002)));
    drop((p, s));
    // ... and after an unclean one (rebuilt time index).
    let s = open(dir.path());
    let p = s.partition("t", 0).unwrap();
    assert_eq!(p.offset_for_timestamp(33_001).unwrap(), Some((129, 33_001)));
}

#[test]
fn segments_roll_by_size_and_age() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_topic("size", 1, configs(&[("segment.bytes", "4096")]), false)
        .unwrap();
    let p = s.partition("size", 0).unwrap();
    for _ in 0..40 {
        p.append(&mut encode_batch(4, 100, 0)).unwrap();
    }
    let bases = p.segment_base_offsets();
    assert!(bases.len() > 5, "{bases:?}");
    for base in &bases {
        let log = dir.path().join(format!("size-0/{base:020}.log"));
        assert!(std::fs::metadata(&log).unwrap().len() <= 4096);
        assert!(dir.path().join(format!("size-0/{base:020}.index")).exists());
        assert!(dir
            .path()
            .join(format!("size-0/{base:020}.timeindex"))
            .exists());
    }
    assert_eq!(read_all(&p, 0).len(), 160);

    s.create_topic("age", 1, configs(&[("segment.ms", "50")]), false)
        .unwrap();
    let p = s.partition("age", 0).unwrap();
    let now = now_ms();
    p.append(&mut encode_batch(1, 10, now)).unwrap();
    p.append(&mut encode_batch(1, 10, now)).unwrap();
    assert_eq!(p.segment_count(), 1);
    std::thread::sleep(std::time::Duration::from_millis(120));
    p.append(&mut encode_batch(1, 10, now_ms())).unwrap();
    assert_eq!(p.segment_base_offsets(), vec![0, 2]);
}

#[test]
fn retention_deletes_old_segments_by_time_and_size() {
    let dir = tempfile::tempdir().unwrap();
    let (s, metrics) = open_with(dir.path(), |_| {});
    s.create_topic(
        "bysize",
        1,
        configs(&[("segment.bytes", "2048"), ("retention.bytes", "8192")]),
        false,
    )
    .unwrap();
    let p = s.partition("bysize", 0).unwrap();
    for _ in 0..60 {
        p.append(&mut encode_batch(4, 100, now_ms())).unwrap();
    }
    let before = p.segment_count();
    let deleted = s.enforce_retention();
    assert!(deleted > 0 && p.segment_count() == before - deleted);
    assert!(p.size_bytes() <= 8192 + 2048, "{}", p.size_bytes());
    let start = p.log_start_offset();
    assert!(start > 0);
    assert!(!dir
        .path()
        .join("bysize-0/00000000000000000000.log")
        .exists());
    assert!(!dir
        .path()
        .join("bysize-0/00000000000000000000.index")
        .exists());
    // Reads below the new start are out of range, not a crash.
    assert_eq!(p.read(0, 1000).unwrap_err().kafka_code(), 1);
    assert_eq!(read_all(&p, start).len() as i64, p.log_end_offset() - start);
    assert!(metrics
        .render()
        .contains("logship_collector_log_retention_deleted_segments_total"));

    // By time: records stamped long ago expire, including those in the active
    // segment (which is rolled first), leaving an empty log at the end offset.
    s.create_topic("bytime", 1, configs(&[("retention.ms", "60000")]), false)
        .unwrap();
    let p = s.partition("bytime", 0).unwrap();
    let old = now_ms() - 3_600_000;
    for _ in 0..5 {
        p.append(&mut encode_batch(2, 10, old)).unwrap();
    }
    s.enforce_retention();
    assert_eq!(p.log_start_offset(), 10);
    assert_eq!(p.log_end_offset(), 10);
    assert!(p.read(10, 100).unwrap().records.is_empty());
    // Fresh records are kept.
    p.append(&mut encode_batch(2, 10, now_ms())).unwrap();
    s.enforce_retention();
    assert_eq!(read_all(&p, 10).len(), 2);
}

#[test]
fn reads_racing_retention_get_out_of_range_never_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_with(dir.path(), |o| o.flush = FlushPolicy::Os).0;
    s.create_topic(
        "race",
        1,
        configs(&[("segment.bytes", "1024"), ("retention.bytes", "4096")]),
        false,
    )
    .unwrap();
    let p = s.partition("race", 0).unwrap();
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            for _ in 0..400 {
                p.append(&mut encode_batch(2, 100, now_ms())).unwrap();
                if p.log_end_offset() % 20 == 0 {
                    s.enforce_retention();
                }
            }
        });
        let mut rng = rand::rng();
        let mut ok = 0;
        while !writer.is_finished() {
            let offset = rng.random_range(0..=p.log_end_offset());
            match p.read(offset, 4096) {
                Ok(r) => {
                    if let Some((first, _)) = decode(&r.records).first() {
                        assert!(*first <= offset);
                    }
                    ok += 1;
                }
                Err(StorageError::OffsetOutOfRange { .. }) => {}
                Err(e) => panic!("unexpected error {e}"),
            }
        }
        assert!(ok > 0);
    });
}

#[test]
fn group_commit_shares_fsyncs_between_appenders() {
    let dir = tempfile::tempdir().unwrap();
    let (s, metrics) = open_with(dir.path(), |_| {});
    s.create_topic("gc", 1, BTreeMap::new(), false).unwrap();
    let p = s.partition("gc", 0).unwrap();
    let fsyncs_before = metrics.storage.fsyncs.get();
    let threads = 8;
    let per_thread = 50;
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut b = encode_batch(4, 200, 0);
                for _ in 0..per_thread {
                    p.append(&mut b).unwrap();
                    // Acknowledged means durable and visible.
                    assert!(p.high_watermark() >= 4);
                }
            });
        }
    });
    let appends = (threads * per_thread) as u64;
    let fsyncs = metrics.storage.fsyncs.get() - fsyncs_before;
    assert_eq!(p.log_end_offset(), appends as i64 * 4);
    assert_eq!(p.high_watermark(), p.log_end_offset());
    assert!(
        fsyncs >= 1 && fsyncs < appends,
        "{fsyncs} fsyncs for {appends} appends"
    );
}

#[test]
fn async_waiters_share_fsyncs() {
    let dir = tempfile::tempdir().unwrap();
    let (s, metrics) = open_with(dir.path(), |_| {});
    s.create_topic("aw", 1, BTreeMap::new(), false).unwrap();
    let p = s.partition("aw", 0).unwrap();
    let fsyncs_before = metrics.storage.fsyncs.get();
    // One fsync at a time runs on a blocking thread; waiters hold none.
    let rt = tokio::runtime::Builder::new_current_thread()
        .max_blocking_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let appends = 400;
    rt.block_on(async {
        let mut waits = Vec::new();
        for _ in 0..appends {
            let mut b = encode_batch(2, 100, 0);
            let info = p.append_unsynced(&mut b).unwrap();
            let p = Arc::clone(&p);
            waits.push(tokio::spawn(async move {
                p.wait_durable_async(info.last_offset + 1).await.unwrap();
                assert!(p.high_watermark() > info.last_offset);
            }));
        }
        for w in waits {
            w.await.unwrap();
        }
    });
    let fsyncs = metrics.storage.fsyncs.get() - fsyncs_before;
    assert_eq!(p.high_watermark(), appends * 2);
    assert!(fsyncs >= 1 && fsyncs < appends as u64, "{fsyncs} fsyncs");
}

#[test]
fn relaxed_flush_makes_appends_visible_before_fsync() {
    let dir = tempfile::tempdir().unwrap();
    let (s, metrics) = open_with(dir.path(), |o| {
        o.flush = FlushPolicy::Interval(std::time::Duration::from_secs(60))
    });
    s.create_topic("r", 1, BTreeMap::new(), false).unwrap();
    let p = s.partition("r", 0).unwrap();
    for _ in 0..10 {
        p.append(&mut encode_batch(1, 10, 0)).unwrap();
    }
    assert_eq!(metrics.storage.fsyncs.get(), 0);
    assert_eq!(p.high_watermark(), 10);
    s.flush_all();
    assert_eq!(metrics.storage.fsyncs.get(), 1);
}

#[test]
fn high_watermark_never_passes_fsynced_data_in_default_mode() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_topic("hw", 1, BTreeMap::new(), false).unwrap();
    let p = s.partition("hw", 0).unwrap();
    std::thread::scope(|scope| {
        scope.spawn(|| {
            for _ in 0..200 {
                p.append(&mut encode_batch(3, 50, 0)).unwrap();
            }
        });
        for _ in 0..200 {
            let hw = p.high_watermark();
            let r = p.read(0, usize::MAX >> 1).unwrap();
            assert!(decode(&r.records)
                .iter()
                .all(|(o, _)| *o < r.high_watermark.max(hw)));
        }
    });
}

/// Writes batches through the API, stops uncleanly (drop without close),
/// damages the active segment, and checks recovery yields a valid prefix.
fn damaged_restart(damage: impl Fn(&Path, u64, &mut rand::rngs::StdRng)) {
    for seed in 0..12u64 {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let dir = tempfile::tempdir().unwrap();
        let s = open(dir.path());
        s.create_topic("c", 1, configs(&[("index.interval.bytes", "256")]), false)
            .unwrap();
        let p = s.partition("c", 0).unwrap();
        let mut ends = vec![0u64];
        let log = dir.path().join("c-0/00000000000000000000.log");
        for i in 0..30 {
            p.append(&mut encode_batch(1 + i % 4, 40, i as i64))
                .unwrap();
            ends.push(std::fs::metadata(&log).unwrap().len());
        }
        drop((p, s));
        let size = *ends.last().unwrap();
        damage(&log, size, &mut rng);

        let (s, metrics) = open_with(dir.path(), |_| {});
        let p = s.partition("c", 0).unwrap();
        let recovered = std::fs::metadata(&log).unwrap().len();
        assert!(
            ends.contains(&recovered),
            "seed {seed}: cut at {recovered}, not a batch boundary"
        );
        let records = read_all(&p, 0);
        assert_eq!(records.len() as i64, p.log_end_offset(), "seed {seed}");
        assert!(records.iter().enumerate().all(|(i, (o, _))| *o == i as i64));
        if recovered < size {
            assert!(metrics.storage.recovery_truncations.get() >= 1);
        }
        // The recovered log takes new appends at the right offset.
        let end = p.log_end_offset();
        assert_eq!(
            p.append(&mut encode_batch(1, 5, 0)).unwrap().base_offset,
            end
        );
    }
}

#[test]
fn recovery_truncates_at_random_positions() {
    damaged_restart(|log, size, rng| {
        let at = rng.random_range(0..size);
        std::fs::OpenOptions::new()
            .write(true)
            .open(log)
            .unwrap()
            .set_len(at)
            .unwrap();
    });
}

#[test]
fn recovery_cuts_at_flipped_bytes() {
    damaged_restart(|log, size, rng| {
        let mut bytes = std::fs::read(log).unwrap();
        let at = rng.random_range(0..size as usize);
        bytes[at] ^= 1 << rng.random_range(0..8);
        std::fs::write(log, bytes).unwrap();
    });
}

#[test]
fn recovery_rebuilds_deleted_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_topic(
        "i",
        1,
        configs(&[("segment.bytes", "4096"), ("index.interval.bytes", "128")]),
        false,
    )
    .unwrap();
    let p = s.partition("i", 0).unwrap();
    for i in 0..100 {
        p.append(&mut encode_batch(2, 30, i)).unwrap();
    }
    let expected = read_all(&p, 0);
    s.close().unwrap();
    drop((p, s));
    for entry in std::fs::read_dir(dir.path().join("i-0")).unwrap() {
        let path = entry.unwrap().path();
        let ext = path.extension().unwrap().to_string_lossy().into_owned();
        if ext == "index" || ext == "timeindex" {
            std::fs::remove_file(path).unwrap();
        }
    }
    let s = open(dir.path());
    let p = s.partition("i", 0).unwrap();
    assert_eq!(read_all(&p, 0), expected);
    assert_eq!(read_all(&p, 77)[0].0, 77);
    // Batch i holds timestamps i and i+1, so ts 50 first appears at offset 99.
    assert_eq!(p.offset_for_timestamp(50).unwrap().map(|x| x.0), Some(99));
    assert!(std::fs::read_dir(dir.path().join("i-0")).unwrap().any(|e| e
        .unwrap()
        .path()
        .extension()
        .unwrap()
        == "index"));
}

#[test]
fn clean_shutdown_marker_skips_recovery_and_is_consumed() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_topic("m", 2, BTreeMap::new(), false).unwrap();
    s.append("m", 1, &mut encode_batch(3, 10, 0)).unwrap();
    s.close().unwrap();
    drop(s);
    assert!(dir.path().join(".clean_shutdown").exists());
    let s = open(dir.path());
    assert!(!dir.path().join(".clean_shutdown").exists());
    assert_eq!(s.partition("m", 1).unwrap().log_end_offset(), 3);
}

#[test]
fn interrupted_topic_deletion_is_finished_at_start_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("gone-0.0123abcd-delete")).unwrap();
    std::fs::write(
        dir.path()
            .join("gone-0.0123abcd-delete/00000000000000000000.log"),
        b"x",
    )
    .unwrap();
    let _s = open(dir.path());
    assert!(!dir.path().join("gone-0.0123abcd-delete").exists());
}

#[test]
fn storage_metrics_are_exported() {
    let dir = tempfile::tempdir().unwrap();
    let (s, metrics) = open_with(dir.path(), |_| {});
    s.create_topic("met", 1, BTreeMap::new(), false).unwrap();
    let mut b = encode_batch(3, 10, 0);
    let len = b.len();
    s.append("met", 0, &mut b).unwrap();
    let _ = s.append("met", 0, &mut [0u8; 70]);
    let text = metrics.render();
    for line in [
        format!("logship_collector_log_appended_bytes_total{{topic=\"met\"}} {len}"),
        "logship_collector_log_appended_batches_total{topic=\"met\"} 1".to_owned(),
        "logship_collector_log_appended_records_total{topic=\"met\"} 3".to_owned(),
        "logship_collector_log_segments{topic=\"met\"} 1".to_owned(),
        format!("logship_collector_log_size_bytes{{topic=\"met\"}} {len}"),
        "logship_collector_log_append_errors_total{reason=\"corrupt\"} 1".to_owned(),
        "logship_collector_log_fsyncs_total 1".to_owned(),
        "logship_collector_log_fsync_duration_seconds_count 1".to_owned(),
        "logship_collector_log_partitions 1".to_owned(),
    ] {
        assert!(text.contains(&line), "missing {line} in\n{text}");
    }
    s.delete_topic("met").unwrap();
    assert!(!metrics.render().contains("topic=\"met\""));
}

#[tokio::test]
async fn maintenance_task_runs_retention_on_schedule() {
    let dir = tempfile::tempdir().unwrap();
    let s = open_with(dir.path(), |o| {
        o.retention_check_interval = std::time::Duration::from_millis(50)
    })
    .0;
    s.create_topic("sched", 1, configs(&[("retention.ms", "1000")]), false)
        .unwrap();
    let p = s.partition("sched", 0).unwrap();
    p.append(&mut encode_batch(2, 10, now_ms() - 10_000))
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = spawn_maintenance(Arc::clone(&s), shutdown.clone());
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while p.log_start_offset() != 2 {
        assert!(std::time::Instant::now() < deadline, "retention never ran");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    shutdown.cancel();
    task.await.unwrap();
}

#[test]
fn idempotent_producer_duplicates_and_gaps_survive_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.create_topic("idem", 1, configs(&[("segment.bytes", "1024")]), false)
        .unwrap();
    let p = s.partition("idem", 0).unwrap();
    let mut seq = 0;
    for _ in 0..20 {
        let info = p
            .append(&mut encode_idempotent(42, 0, seq, 3, 50, 0))
            .unwrap();
        assert_eq!(info.base_offset, seq as i64);
        seq += 3;
    }
    assert!(p.segment_count() > 2, "snapshots are taken at rolls");
    // A retried batch is acknowledged with its original offsets, not appended.
    let retry = p
        .append(&mut encode_idempotent(42, 0, 57, 3, 50, 0))
        .unwrap();
    assert_eq!((retry.base_offset, retry.last_offset), (57, 59));
    assert_eq!(p.log_end_offset(), 60);
    // A gap is refused with OUT_OF_ORDER_SEQUENCE_NUMBER; an old epoch too.
    let gap = p
        .append(&mut encode_idempotent(42, 0, 61, 1, 50, 0))
        .unwrap_err();
    assert_eq!(gap.kafka_code(), 45, "{gap}");
    p.append(&mut encode_idempotent(43, 1, 0, 1, 50, 0))
        .unwrap();
    let stale = p
        .append(&mut encode_idempotent(43, 0, 1, 1, 50, 0))
        .unwrap_err();
    assert_eq!(stale.kafka_code(), 47, "{stale}");
    assert_eq!(p.last_producer_sequence(42), Some((0, 59)));

    let check = |s: &Arc<Storage>| {
        let p = s.partition("idem", 0).unwrap();
        assert_eq!(p.last_producer_sequence(42), Some((0, 59)));
        let retry = p
            .append(&mut encode_idempotent(42, 0, 57, 3, 50, 0))
            .unwrap();
        assert_eq!(retry.base_offset, 57);
        assert_eq!(
            p.append(&mut encode_idempotent(42, 0, 99, 1, 50, 0))
                .unwrap_err()
                .kafka_code(),
            45
        );
    };
    // Clean restart: from the shutdown snapshot.
    s.close().unwrap();
    drop((p, s));
    let s = open(dir.path());
    check(&s);
    // Unclean restart with every snapshot gone: rebuilt from the log.
    drop(s);
    for e in std::fs::read_dir(dir.path().join("idem-0")).unwrap() {
        let path = e.unwrap().path();
        if path.extension().unwrap() == "snapshot" {
            std::fs::remove_file(path).unwrap();
        }
    }
    let s = open(dir.path());
    check(&s);
    let p = s.partition("idem", 0).unwrap();
    assert_eq!(
        p.append(&mut encode_idempotent(42, 0, 60, 2, 50, 0))
            .unwrap()
            .base_offset,
        61
    );
}

#[test]
fn altered_configs_apply_live_persist_and_are_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (s, metrics) = open_with(dir.path(), |_| {});
    s.create_topic("live", 2, configs(&[("segment.bytes", "2048")]), false)
        .unwrap();
    let p = s.partition("live", 1).unwrap();
    // Minutes-old records survive the default 7-day retention.
    let old = now_ms() - 600_000;
    for _ in 0..20 {
        p.append(&mut encode_batch(4, 100, old)).unwrap();
    }
    assert_eq!(s.enforce_retention(), 0);

    // Validate-only and a bad value change nothing, on disk or in memory.
    let shorter = configs(&[("segment.bytes", "2048"), ("retention.ms", "60000")]);
    let d = s
        .alter_topic_configs("live", true, |_| Ok(shorter.clone()))
        .unwrap();
    assert_eq!(d.config.retention_ms, 60000);
    for bad in [
        configs(&[("retention.ms", "60000"), ("segment.bytes", "1")]),
        configs(&[("retention.ms", "60000"), ("no.such.config", "1")]),
    ] {
        let err = s
            .alter_topic_configs("live", false, |_| Ok(bad))
            .unwrap_err();
        assert_eq!(err.kafka_code(), 40, "{err}");
    }
    assert_eq!(p.config().retention_ms, TopicConfig::default().retention_ms);
    assert_eq!(
        s.describe_topic("live").unwrap().overrides,
        configs(&[("segment.bytes", "2048")])
    );
    assert_eq!(s.enforce_retention(), 0);
    let unknown = s.alter_topic_configs("nope", false, |_| Ok(BTreeMap::new()));
    assert_eq!(unknown.unwrap_err().kafka_code(), 3);

    // A shorter retention deletes on the next pass, without a restart.
    let d = s
        .alter_topic_configs("live", false, |current| {
            assert_eq!(current, &configs(&[("segment.bytes", "2048")]));
            Ok(shorter.clone())
        })
        .unwrap();
    assert_eq!(d.overrides, shorter);
    assert_eq!(p.config().retention_ms, 60000);
    assert!(s.enforce_retention() > 0);
    assert_eq!(p.log_start_offset(), 80);
    assert!(metrics
        .render()
        .contains("logship_collector_log_topic_config_changes_total 1"));

    // Persisted: a restart sees the override.
    drop(p);
    s.close().unwrap();
    drop(s);
    let s = open(dir.path());
    let d = s.describe_topic("live").unwrap();
    assert_eq!((d.overrides, d.config.retention_ms), (shorter, 60000));
    assert_eq!(s.partition("live", 0).unwrap().config().retention_ms, 60000);
}

#[test]
fn delete_records_moves_the_start_inside_a_segment_durably() {
    let dir = tempfile::tempdir().unwrap();
    let (s, metrics) = open_with(dir.path(), |_| {});
    s.create_topic("dr", 1, configs(&[("segment.bytes", "2048")]), false)
        .unwrap();
    let p = s.partition("dr", 0).unwrap();
    let t0 = now_ms();
    for i in 0..30 {
        p.append(&mut encode_batch(4, 100, t0 + i)).unwrap();
    }
    let end = p.log_end_offset();
    assert_eq!(end, 120);
    let segments = p.segment_count();
    assert!(segments > 3);

    // Beyond the high watermark, or negative: out of range, nothing moves.
    for bad in [end + 1, -2] {
        assert_eq!(s.delete_records("dr", 0, bad).unwrap_err().kafka_code(), 1);
    }
    assert_eq!(s.delete_records("dr", 1, 0).unwrap_err().kafka_code(), 3);
    assert_eq!(s.delete_records("nope", 0, 0).unwrap_err().kafka_code(), 3);
    assert_eq!(p.log_start_offset(), 0);

    // Inside a batch, inside a segment: the start is exactly that offset.
    let second = p.segment_base_offsets()[1];
    let target = second + 6;
    assert_eq!(s.delete_records("dr", 0, target).unwrap(), target);
    assert_eq!(p.log_start_offset(), target);
    assert_eq!(p.segment_count(), segments - 1, "the first segment is gone");
    assert_eq!(p.read(target - 1, 1000).unwrap_err().kafka_code(), 1);
    let rest = read_all(&p, target);
    assert_eq!(rest.first().unwrap().0, target);
    assert_eq!(rest.len() as i64, end - target);
    // Offsets by time never answer below the start.
    assert_eq!(p.offset_for_timestamp(t0).unwrap().unwrap().0, target);
    // Moving backwards is a no-op that reports the start.
    assert_eq!(s.delete_records("dr", 0, 3).unwrap(), target);
    assert!(metrics
        .render()
        .contains("logship_collector_log_delete_records_total 1"));

    // Survives a crash (no clean shutdown marker) and a clean restart.
    drop(p);
    drop(s);
    let s = open(dir.path());
    let p = s.partition("dr", 0).unwrap();
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (target, end));
    assert_eq!(p.read(target - 1, 1000).unwrap_err().kafka_code(), 1);
    // -1 is the high watermark: everything goes, the active segment stays.
    assert_eq!(s.delete_records("dr", 0, -1).unwrap(), end);
    assert_eq!(p.segment_count(), 1);
    assert!(p.read(end, 1000).unwrap().records.is_empty());
    p.append(&mut encode_batch(2, 10, now_ms())).unwrap();
    assert_eq!(read_all(&p, end).len(), 2);
    drop(p);
    s.close().unwrap();
    drop(s);
    let s = open(dir.path());
    let p = s.partition("dr", 0).unwrap();
    assert_eq!((p.log_start_offset(), p.log_end_offset()), (end, end + 2));
}
