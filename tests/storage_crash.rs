//! Crash safety with a real process: a child appends through the storage
//! engine and prints each acknowledgement; the test SIGKILLs it at random
//! moments, restarts it (recovery runs each time), and finally checks the log
//! holds every acknowledged record, exactly once, in order, and nothing else.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kafka_protocol::records::RecordBatchDecoder;
use logship_collector::metrics::Metrics;
use logship_collector::storage::{Storage, StorageOptions};
use rand::Rng;

use crate::util::BENCH;

const PARTITIONS: i32 = 2;

#[test]
fn sigkilled_appender_loses_no_acknowledged_record() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut acked: BTreeMap<i32, i64> = BTreeMap::new();
    let mut rng = rand::rng();
    let rounds = 8;
    for round in 0..rounds {
        let mut child = Command::new(BENCH)
            .args([
                "crash-child",
                "--partitions",
                &PARTITIONS.to_string(),
                "--dir",
            ])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        // Wait for the first acknowledgement, then kill at a random moment.
        let first = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("child acknowledged nothing");
        let kill_at = Instant::now() + Duration::from_millis(rng.random_range(50..400));
        let mut lines = vec![first];
        while Instant::now() < kill_at {
            if let Ok(line) = rx.recv_timeout(Duration::from_millis(5)) {
                lines.push(line);
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        reader.join().unwrap();
        lines.extend(rx.try_iter());
        for line in &lines {
            let f: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(f[0], "ACK", "unexpected child output {line:?}");
            let (p, last): (i32, i64) = (f[1].parse().unwrap(), f[3].parse().unwrap());
            let e = acked.entry(p).or_insert(-1);
            *e = (*e).max(last);
        }
        eprintln!(
            "round {round}: {} acks, acked so far {acked:?}",
            lines.len()
        );
    }

    let metrics = Metrics::new();
    let s = Storage::open(StorageOptions::new(&data), metrics.storage.clone()).unwrap();
    for p in 0..PARTITIONS {
        let part = s.partition("crash", p).unwrap();
        let end = part.log_end_offset();
        let last_acked = acked.get(&p).copied().unwrap_or(-1);
        assert!(
            end > last_acked,
            "partition {p}: log ends at {end}, acknowledged up to {last_acked}"
        );
        // Read everything back: each record's value is its own offset.
        let mut offset = 0;
        while offset < end {
            let r = part.read(offset, 256 * 1024).unwrap();
            assert!(
                !r.records.is_empty(),
                "partition {p}: nothing readable at {offset} < {end}"
            );
            let mut buf = r.records.clone();
            for set in RecordBatchDecoder::decode_all(&mut buf).unwrap() {
                for rec in set.records {
                    assert_eq!(rec.offset, offset, "partition {p}: gap or duplicate");
                    let value = String::from_utf8(rec.value.unwrap().to_vec()).unwrap();
                    assert_eq!(
                        value,
                        offset.to_string(),
                        "partition {p}: wrong record at {offset}"
                    );
                    offset += 1;
                }
            }
        }
        assert!(part.segment_count() > 1, "kills should span segment rolls");
    }
}
