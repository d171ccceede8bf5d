//! The log cleaner against a model: random keyed writes, tombstones,
//! restarts and cleanings; after each cleaning the log must hold every key's
//! latest record, each key at most once in the cleaned part, offsets only
//! growing, and idempotent producers must still be deduplicated.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder};
use rand::{Rng, SeedableRng};

use logship_common::batch::{encode, NewRecord};
use logship_common::time::now_ms;

use super::cleaner::{clean_partition, CleanerOptions};
use super::*;
use crate::metrics::Metrics;

type Entry = (i64, Bytes, Option<Bytes>);

/// Every record from the log start: (offset, key, value).
fn read_records(p: &Partition) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::new();
    let mut offset = p.log_start_offset();
    loop {
        let r = p.read(offset, 64 * 1024).unwrap();
        if r.records.is_empty() {
            return out;
        }
        let mut buf = r.records.clone();
        let mut next = offset;
        for set in RecordBatchDecoder::decode_all(&mut buf).unwrap() {
            for rec in set.records {
                if rec.offset >= offset {
                    out.push((rec.offset, rec.key.unwrap(), rec.value));
                }
            }
        }
        // Batches may be empty (kept for their offsets): advance by headers.
        let mut at = 0;
        while let Ok(h) = batch::BatchHeader::parse(&r.records[at..]) {
            next = h.next_offset();
            at += h.total_len();
            if at >= r.records.len() {
                break;
            }
        }
        assert!(next > offset, "reads make progress");
        offset = next;
    }
}

fn keyed_batch(
    rng: &mut rand::rngs::StdRng,
    keys: usize,
    model: &mut HashMap<Bytes, Option<Bytes>>,
    producer: Option<(i64, i16, i32)>,
) -> (Vec<u8>, Vec<(Bytes, Option<Bytes>)>) {
    let n = rng.random_range(1..6);
    let records: Vec<NewRecord> = (0..n)
        .map(|_| {
            let key = Bytes::from(format!("key-{}", rng.random_range(0..keys)));
            let value = (!rng.random_bool(0.15))
                .then(|| Bytes::from(format!("v{}-{}", rng.random::<u32>(), "x".repeat(40))));
            NewRecord {
                key: Some(key),
                value,
                timestamp: now_ms(),
            }
        })
        .collect();
    let codec = [
        Compression::None,
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ][rng.random_range(0..6)];
    let written = records
        .iter()
        .map(|r| (r.key.clone().unwrap(), r.value.clone()))
        .collect::<Vec<_>>();
    for (k, v) in &written {
        model.insert(k.clone(), v.clone());
    }
    (encode(&records, producer, codec), written)
}

fn open_compacted(dir: &Path, create: bool) -> (Arc<Storage>, Metrics) {
    let metrics = Metrics::new();
    let s = Storage::open(StorageOptions::new(dir), metrics.storage.clone()).unwrap();
    if create {
        let configs: BTreeMap<String, String> = [
            ("cleanup.policy", "compact"),
            ("segment.bytes", "2048"),
            ("min.cleanable.dirty.ratio", "0.01"),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        s.create_topic("c", 1, configs, false).unwrap();
    }
    (s, metrics)
}

/// Checks the log against the model; `end_clean` is where cleaning stopped.
fn check_against_model(p: &Partition, model: &HashMap<Bytes, Option<Bytes>>, end_clean: i64) {
    let records = read_records(p);
    let mut latest: HashMap<Bytes, Option<Bytes>> = HashMap::new();
    let mut cleaned_keys = HashMap::new();
    let mut last = -1;
    for (offset, key, value) in &records {
        assert!(*offset > last, "offsets only grow: {offset} after {last}");
        last = *offset;
        if *offset < end_clean {
            let seen = cleaned_keys.insert(key.clone(), *offset);
            assert!(
                seen.is_none(),
                "{key:?} twice in the cleaned part: {seen:?} and {offset}"
            );
        }
        latest.insert(key.clone(), value.clone());
    }
    for (key, value) in model {
        match (value, latest.get(key)) {
            (Some(v), Some(Some(got))) => assert_eq!(got, v, "{key:?}"),
            // A tombstone may be gone once it has been kept long enough.
            (None, None) | (None, Some(None)) => {}
            (want, got) => panic!("{key:?}: model {want:?}, log {got:?}"),
        }
    }
}

#[test]
fn cleaning_matches_a_model_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(0x18);
    let (mut s, mut metrics) = open_compacted(dir.path(), true);
    let mut model = HashMap::new();
    let options = CleanerOptions::default();
    let (pid, epoch) = (42, 0);
    let mut seq = 0;
    let mut last_idempotent: Option<(Vec<u8>, i64)> = None;
    let mut cleanings = 0;
    for step in 0..400 {
        let p = s.partition("c", 0).unwrap();
        let idempotent = rng.random_bool(0.3);
        let producer = idempotent.then_some((pid, epoch, seq));
        let (mut b, written) = keyed_batch(&mut rng, 25, &mut model, producer);
        let copy = b.clone();
        let info = p.append(&mut b).unwrap();
        if idempotent {
            seq += written.len() as i32;
            last_idempotent = Some((copy, info.base_offset));
        }
        if step % 37 == 36 {
            let before = p.log_end_offset();
            let stats = clean_partition(&p, &options, &metrics.storage.cleaner, now_ms()).unwrap();
            assert_eq!(p.log_end_offset(), before, "cleaning never moves the end");
            if stats.is_some() {
                cleanings += 1;
            }
            let end_clean = super::cleaner::load_checkpoint(p.dir()).unwrap();
            check_against_model(&p, &model, end_clean);
            // The producer's last batch is still recognised as a retry.
            if let Some((batch, base)) = &last_idempotent {
                let mut again = batch.clone();
                assert_eq!(p.append(&mut again).unwrap().base_offset, *base);
            }
        }
        if step % 101 == 100 {
            drop(p);
            drop(s);
            (s, metrics) = open_compacted(dir.path(), false);
        }
    }
    assert!(cleanings >= 5, "{cleanings} cleanings");
    let rendered = metrics.render();
    assert!(rendered.contains("logship_collector_cleaner_runs_total"));
    // The next sequence is accepted after all that cleaning and restarting.
    let p = s.partition("c", 0).unwrap();
    let (mut b, _) = keyed_batch(&mut rng, 25, &mut model, Some((pid, epoch, seq)));
    p.append(&mut b).unwrap();
}

#[test]
fn tombstones_go_after_delete_retention_and_segments_merge() {
    let dir = tempfile::tempdir().unwrap();
    let (s, metrics) = open_compacted(dir.path(), true);
    s.alter_topic_configs("c", false, |o| {
        let mut o = o.clone();
        o.insert("delete.retention.ms".into(), "0".into());
        Ok(o)
    })
    .unwrap();
    let p = s.partition("c", 0).unwrap();
    let put = |key: &str, value: Option<&str>| {
        let r = NewRecord {
            key: Some(Bytes::from(key.to_owned())),
            value: value.map(|v| Bytes::from(format!("{v}{}", "-".repeat(200)))),
            timestamp: now_ms(),
        };
        p.append(&mut encode(&[r], None, Compression::None))
            .unwrap();
    };
    for round in 0..40 {
        put("a", Some(&format!("a{round}")));
        put("b", Some(&format!("b{round}")));
    }
    put("b", None);
    let segments = p.segment_count();
    assert!(segments > 3, "{segments}");
    let options = CleanerOptions::default();
    let cleaner = &metrics.storage.cleaner;
    clean_partition(&p, &options, cleaner, now_ms())
        .unwrap()
        .unwrap();
    assert_eq!(p.segment_count(), segments, "full segments are not merged");
    let keys: Vec<(Bytes, Option<Bytes>)> = read_records(&p)
        .into_iter()
        .map(|(_, k, v)| (k, v))
        .collect();
    assert!(
        keys.contains(&(Bytes::from("b"), None)),
        "the tombstone is kept at first"
    );
    // More writes make the partition dirty again. Once the tombstone's
    // segment is in the cleaned part and not newer than the horizon (the
    // cleaned part's newest segment time minus delete.retention.ms), it goes.
    let before = p.segment_count();
    for pass in 0..2 {
        std::thread::sleep(std::time::Duration::from_millis(20));
        for round in 40 + 10 * pass..50 + 10 * pass {
            put("a", Some(&format!("a{round}")));
        }
        clean_partition(&p, &options, cleaner, now_ms())
            .unwrap()
            .unwrap();
    }
    assert!(
        p.segment_count() + 5 < before,
        "the small cleaned segments were merged: {before} -> {}",
        p.segment_count()
    );
    let records = read_records(&p);
    assert!(
        records.iter().all(|(_, k, _)| k != "b"),
        "the tombstone and the values it deleted are gone: {records:?}"
    );
    let last_a = records.iter().rfind(|(_, k, _)| k == "a").unwrap();
    assert!(last_a.2.as_ref().unwrap().starts_with(b"a59"));
    assert!(cleaner.removed_records.get() > 0);
}

/// Kafka's `maxSegmentMs`: an append rolls a compacted topic's active
/// segment once it is older than `segment.ms` or `max.compaction.lag.ms`,
/// whichever is shorter, which makes its records cleanable; a topic with
/// neither set short keeps one segment and nothing to clean.
#[test]
fn an_old_active_segment_rolls_on_append_and_becomes_cleanable() {
    let dir = tempfile::tempdir().unwrap();
    let metrics = Metrics::new();
    let s = Storage::open(StorageOptions::new(dir.path()), metrics.storage.clone()).unwrap();
    let topics = [
        ("by-segment-ms", Some(("segment.ms", "100"))),
        ("by-lag", Some(("max.compaction.lag.ms", "100"))),
        ("neither", None),
    ];
    for (name, age) in topics {
        let mut configs: BTreeMap<String, String> = BTreeMap::new();
        configs.insert("cleanup.policy".into(), "compact".into());
        configs.insert("min.cleanable.dirty.ratio".into(), "0.01".into());
        if let Some((k, v)) = age {
            configs.insert(k.into(), v.into());
        }
        s.create_topic(name, 1, configs, false).unwrap();
    }
    // One batch per call, so a slow machine cannot age the segment between
    // the writes that are meant to share it.
    let put = |p: &Partition, records: &[(String, String)]| {
        let records: Vec<NewRecord> = records
            .iter()
            .map(|(k, v)| NewRecord {
                key: Some(Bytes::from(k.clone())),
                value: Some(Bytes::from(v.clone())),
                timestamp: now_ms(),
            })
            .collect();
        p.append(&mut encode(&records, None, Compression::None))
            .unwrap();
    };
    let cleaner = &metrics.storage.cleaner;
    for (name, age) in topics {
        let p = s.partition(name, 0).unwrap();
        let first: Vec<(String, String)> = (0..20)
            .map(|i| (format!("k{}", i % 2), format!("v{i}")))
            .collect();
        put(&p, &first);
        std::thread::sleep(std::time::Duration::from_millis(200));
        put(&p, &[("k0".to_owned(), "last".to_owned())]);
        let cleaned = clean_partition(&p, &CleanerOptions::default(), cleaner, now_ms()).unwrap();
        let values: Vec<String> = read_records(&p)
            .into_iter()
            .map(|(_, _, v)| String::from_utf8(v.unwrap().to_vec()).unwrap())
            .collect();
        if age.is_some() {
            assert_eq!(p.segment_base_offsets(), vec![0, 20], "{name}");
            assert_eq!(cleaned.map(|c| c.records_removed), Some(18), "{name}");
            assert_eq!(values, ["v18", "v19", "last"], "{name}");
        } else {
            assert_eq!(p.segment_count(), 1, "{name}");
            assert!(
                cleaned.is_none(),
                "{name}: the active segment is never cleaned"
            );
            assert_eq!(values.len(), 21, "{name}");
        }
    }
}

#[test]
fn keyless_records_are_refused_on_compacted_topics() {
    let dir = tempfile::tempdir().unwrap();
    let (s, _) = open_compacted(dir.path(), true);
    let p = s.partition("c", 0).unwrap();
    for codec in [Compression::None, Compression::Zstd] {
        let r = NewRecord {
            key: None,
            value: Some(Bytes::from("v")),
            timestamp: now_ms(),
        };
        let err = p.append(&mut encode(&[r], None, codec)).unwrap_err();
        assert_eq!(err.kafka_code(), 87, "{err}");
        assert!(err.to_string().contains("without a key"), "{err}");
    }
    assert_eq!(p.log_end_offset(), 0);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn start_up_completes_a_swap_and_drops_a_cleaned_file() {
    let root = tempfile::tempdir().unwrap();
    let (live, before) = (root.path().join("live"), root.path().join("before"));
    let (s, metrics) = open_compacted(&live, true);
    let p = s.partition("c", 0).unwrap();
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut model = HashMap::new();
    let options = CleanerOptions::default();
    for round in 0..2 {
        for _ in 0..120 {
            p.append(&mut keyed_batch(&mut rng, 10, &mut model, None).0)
                .unwrap();
        }
        if round == 0 {
            // The first cleaning leaves small segments the second merges.
            clean_partition(&p, &options, &metrics.storage.cleaner, now_ms())
                .unwrap()
                .unwrap();
        }
    }
    copy_dir(&live, &before);
    let old_bases = p.segment_base_offsets();
    clean_partition(
        &p,
        &CleanerOptions::default(),
        &metrics.storage.cleaner,
        now_ms(),
    )
    .unwrap()
    .unwrap();
    let cleaned = read_records(&p);
    let new_bases = p.segment_base_offsets();
    let merged = *new_bases
        .iter()
        .find(|b| {
            let next = new_bases.iter().find(|n| *n > *b);
            old_bases
                .iter()
                .filter(|o| **o >= **b && next.is_none_or(|n| *o < n))
                .count()
                > 1
        })
        .expect("some segments were merged");
    let pdir = |root: &Path| root.join("c-0");

    // Killed after the .swap rename, with one source already deleted and
    // another group still being written.
    let crashed = root.path().join("crashed");
    copy_dir(&before, &crashed);
    let log = |dir: &Path, b: i64| dir.join(segment::file_name(b, "log"));
    std::fs::copy(
        log(&pdir(&live), merged),
        pdir(&crashed).join(format!("{}.swap", segment::file_name(merged, "log"))),
    )
    .unwrap();
    let second = *old_bases.iter().find(|b| **b > merged).unwrap();
    std::fs::remove_file(log(&pdir(&crashed), second)).unwrap();
    std::fs::write(
        pdir(&crashed).join(format!("{}.cleaned", segment::file_name(0, "log"))),
        b"half",
    )
    .unwrap();
    drop(p);
    drop(s);
    let (s, _) = open_compacted(&crashed, false);
    let p = s.partition("c", 0).unwrap();
    let names: Vec<String> = std::fs::read_dir(pdir(&crashed))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !names
            .iter()
            .any(|n| n.ends_with(".swap") || n.ends_with(".cleaned")),
        "{names:?}"
    );
    // The merged segment is the cleaned one; the rest are the originals,
    // and every key still reads its latest value.
    let merged_records: Vec<Entry> = read_records(&p)
        .into_iter()
        .filter(|(o, _, _)| {
            let next = new_bases
                .iter()
                .find(|n| **n > merged)
                .copied()
                .unwrap_or(i64::MAX);
            *o >= merged && *o < next
        })
        .collect();
    let expected: Vec<Entry> = cleaned
        .iter()
        .filter(|(o, _, _)| {
            let next = new_bases
                .iter()
                .find(|n| **n > merged)
                .copied()
                .unwrap_or(i64::MAX);
            *o >= merged && *o < next
        })
        .cloned()
        .collect();
    assert_eq!(merged_records, expected);
    check_against_model(&p, &model, 0);
}
