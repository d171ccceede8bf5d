//! Debian's kcat (librdkafka 2.0.2, the oldest client we promise) against the
//! collector: the Kafka tutorial walkthrough, codecs, idempotence, offsets by
//! time.

use std::process::{Command, Output};

use crate::util::*;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn logship(args: &[&str]) -> String {
    let out = Command::new(LOGSHIP).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "logship {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tutorial_walkthrough_with_kcat() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let b = running.kafka.to_string();
    // kcat has no create command: asking for a topic's metadata auto-creates it.
    run_kcat(&b, &["-L", "-t", "first-events"], "");
    run_kcat(&b, &["-L", "-t", "second-events"], "");
    let list = stdout(&run_kcat(&b, &["-L"], ""));
    assert!(
        list.contains("topic \"first-events\" with 1 partitions"),
        "{list}"
    );
    assert!(
        list.contains("topic \"second-events\" with 1 partitions"),
        "{list}"
    );
    assert!(list.contains("(controller)"), "{list}");

    run_kcat(
        &b,
        &["-P", "-t", "first-events"],
        "first-events 01\nfirst-events 02\n",
    );
    for _ in 0..2 {
        let out = stdout(&run_kcat(
            &b,
            &["-C", "-t", "first-events", "-o", "beginning", "-e", "-q"],
            "",
        ));
        assert_eq!(out, "first-events 01\nfirst-events 02\n");
    }
    logship(&[
        "topics",
        "delete",
        "second-events",
        "--bootstrap-server",
        &b,
    ]);
    let list = stdout(&run_kcat(&b, &["-L"], ""));
    assert!(
        list.contains("first-events") && !list.contains("second-events"),
        "{list}"
    );
}

#[test]
fn kcat_codecs_keys_idempotence_and_offsets_by_time() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let b = running.kafka.to_string();
    let input: String = (0..300).map(|i| format!("key{i}:value {i}\n")).collect();
    for codec in ["gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("kcat-{codec}");
        run_kcat(
            &b,
            &[
                "-P",
                "-t",
                &topic,
                "-z",
                codec,
                "-K:",
                "-X",
                "enable.idempotence=true",
            ],
            &input,
        );
        let out = stdout(&run_kcat(
            &b,
            &[
                "-C",
                "-t",
                &topic,
                "-o",
                "beginning",
                "-e",
                "-q",
                "-f",
                "%k=%s@%o\n",
            ],
            "",
        ));
        let expected: String = (0..300)
            .map(|i| format!("key{i}=value {i}@{i}\n"))
            .collect();
        assert_eq!(out, expected, "{codec}");
    }
    // -Q: offset for a timestamp; all records are recent, so time 0 gives offset 0.
    let out = stdout(&run_kcat(&b, &["-Q", "-t", "kcat-gzip:0:0"], ""));
    assert!(out.contains("offset 0"), "{out}");
    // Consumers can start from the end and from a given offset.
    let out = stdout(&run_kcat(
        &b,
        &["-C", "-t", "kcat-lz4", "-o", "298", "-e", "-q"],
        "",
    ));
    assert_eq!(out, "value 298\nvalue 299\n");
}
