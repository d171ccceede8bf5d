//! `logship topics|produce|consume` against a running collector, as a new
//! user follows the tutorial: the CLI is a Kafka client, so these commands
//! are the ones a Kafka user types.

use std::net::SocketAddr;

use crate::util::*;

/// Asserts that the command succeeded; returns its stdout.
fn ok(kafka: SocketAddr, args: &[&str], stdin: &str) -> String {
    cli_ok(kafka, args, stdin)
}

/// Asserts that the command failed with one `error: ` line; returns it.
fn fails(kafka: SocketAddr, args: &[&str], stdin: &str) -> String {
    let out = cli_run(kafka, args, stdin);
    assert!(!out.status.success(), "logship {args:?} succeeded");
    let stderr = String::from_utf8(out.stderr).unwrap();
    let last = stderr.lines().last().unwrap_or_default().to_owned();
    assert!(last.starts_with("error: "), "stderr: {stderr}");
    last
}

#[test]
fn tutorial_walkthrough_with_the_cli() {
    let dir = tempfile::tempdir().unwrap();
    let config = collector_config(dir.path(), &dir.path().join("data"));
    let running = start_logship(&config);
    let kafka = running.kafka;

    for topic in ["first-events", "second-events"] {
        assert_eq!(
            ok(kafka, &["topics", "create", topic], ""),
            format!("Created topic {topic}.\n")
        );
    }
    assert_eq!(
        ok(kafka, &["topics", "list"], ""),
        "first-events\nsecond-events\n"
    );

    let describe = ok(kafka, &["topics", "describe", "first-events"], "");
    let lines: Vec<&str> = describe.lines().collect();
    assert_eq!(lines.len(), 2, "{describe}");
    assert!(lines[0].starts_with("Topic: first-events\t"), "{describe}");
    assert!(lines[0].contains("\tPartitionCount: 1\t"), "{describe}");
    assert!(lines[0].contains("\tReplicationFactor: 1\t"), "{describe}");
    assert!(
        lines[1].starts_with("\tTopic: first-events\tPartition: 0\tLeader: "),
        "{describe}"
    );

    assert_eq!(
        ok(
            kafka,
            &["produce", "--topic", "first-events"],
            "first-events 01\nfirst-events 02\n"
        ),
        ""
    );
    // Two consumers read independently: nothing is committed between them.
    for _ in 0..2 {
        assert_eq!(
            ok(
                kafka,
                &[
                    "consume",
                    "--topic",
                    "first-events",
                    "--from-beginning",
                    "--max-messages",
                    "2",
                ],
                ""
            ),
            "first-events 01\nfirst-events 02\n"
        );
    }

    assert_eq!(
        ok(kafka, &["topics", "delete", "second-events"], ""),
        "Deleted topic second-events.\n"
    );
    assert_eq!(ok(kafka, &["topics", "list"], ""), "first-events\n");
    assert!(running.terminate().success());
}

#[test]
fn keys_offsets_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config = collector_config(dir.path(), &dir.path().join("data"));
    let running = start_logship(&config);
    let kafka = running.kafka;

    ok(kafka, &["topics", "create", "keyed"], "");
    ok(
        kafka,
        &["produce", "--topic", "keyed", "--key-separator", ":"],
        "user-1:login\nuser-2:logout:now\n",
    );
    assert_eq!(
        ok(
            kafka,
            &[
                "consume",
                "--topic",
                "keyed",
                "--from-beginning",
                "--max-messages",
                "2",
                "--print-key",
            ],
            ""
        ),
        "user-1\tlogin\nuser-2\tlogout:now\n"
    );
    assert_eq!(
        ok(
            kafka,
            &[
                "consume",
                "--topic",
                "keyed",
                "--partition",
                "0",
                "--offset",
                "1",
                "--max-messages",
                "1",
            ],
            ""
        ),
        "logout:now\n"
    );
    // An idle timeout ends a consumer that has read everything there is.
    assert_eq!(
        ok(
            kafka,
            &[
                "consume",
                "--topic",
                "keyed",
                "--from-beginning",
                "--print-offset",
                "--timeout-ms",
                "3000",
            ],
            ""
        ),
        "0:0\tlogin\n0:1\tlogout:now\n"
    );

    let exists = fails(kafka, &["topics", "create", "keyed"], "");
    assert!(exists.contains("already exists"), "{exists}");
    // Consumers never auto-create: an unknown topic is an error at once.
    let unknown = fails(
        kafka,
        &["consume", "--topic", "missing", "--from-beginning"],
        "",
    );
    assert!(unknown.contains("missing"), "{unknown}");
    let no_key = fails(
        kafka,
        &["produce", "--topic", "keyed", "--key-separator", "="],
        "no separator\n",
    );
    assert!(no_key.contains("line 1"), "{no_key}");
    assert!(running.terminate().success());
}
