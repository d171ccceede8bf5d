//! The agent reading systemd journals into a real collector, read back with
//! a real Kafka client. CI machines run no journald, so the journals are
//! real journal files made by systemd-journal-remote from export-format
//! entries (`logship_agent::source::journal::make`), appended to and
//! rotated while the agent reads them; one test reads this machine's own
//! journal when it has one.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use logship_agent::source::journal::make;
use rand::Rng;
use rdkafka::message::{Message, OwnedMessage};

use crate::agent_files::{
    header, kill_rounds, read_topic, start_agent, use_kafka_sink, use_small_sink_buffer, value,
    write_agent_config,
};
use crate::util::*;

/// Entry `n` of a test journal: its clocks grow with `n`.
struct E<'a> {
    n: u64,
    unit: Option<&'a str>,
    priority: u8,
    message: Vec<u8>,
    kernel: bool,
}

impl E<'_> {
    fn plain(n: u64) -> E<'static> {
        E {
            n,
            unit: Some("app.service"),
            priority: 6,
            message: format!("entry {n:07}").into_bytes(),
            kernel: false,
        }
    }
}

fn export(entries: &[E]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let clocks = make::clock_fields(e.n);
        let mut fields: Vec<(&str, &[u8])> = clocks.iter().map(|(k, v)| (*k, &v[..])).collect();
        let priority = e.priority.to_string();
        let pid = (1000 + e.n % 7).to_string();
        fields.push(("_HOSTNAME", b"journal-host"));
        fields.push(("PRIORITY", priority.as_bytes()));
        if e.kernel {
            fields.push(("_TRANSPORT", b"kernel"));
        } else {
            fields.push(("_TRANSPORT", b"stdout"));
            fields.push(("_PID", pid.as_bytes()));
        }
        if let Some(u) = e.unit {
            fields.push(("_SYSTEMD_UNIT", u.as_bytes()));
        }
        fields.push(("MESSAGE", &e.message));
        make::push_entry(&mut out, &fields);
    }
    out
}

fn write(file: &Path, entries: &[E]) {
    make::append(file, &export(entries)).unwrap();
}

/// An agent config reading journal files in `{dir}/journal` into topic
/// `journal`, from the beginning.
fn journal_config(dir: &Path, collector_http: std::net::SocketAddr, extra: &str) -> PathBuf {
    let journal = dir.join("journal");
    std::fs::create_dir_all(&journal).unwrap();
    write_agent_config(
        dir,
        collector_http,
        &format!(
            "    sys:
      type: journald
      journal_directory: {}
      topic: journal
{extra}",
            journal.display()
        ),
    )
}

fn wait_records(bootstrap: &str, n: usize) -> Vec<OwnedMessage> {
    wait_for(&format!("{n} records"), Duration::from_secs(30), || {
        read_topic(bootstrap, "journal").len() >= n
    });
    std::thread::sleep(Duration::from_millis(300));
    read_topic(bootstrap, "journal")
}

fn key(m: &OwnedMessage) -> Option<String> {
    m.key().map(|k| String::from_utf8_lossy(k).into_owned())
}

#[test]
fn entries_become_records_with_headers_keys_filters_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let config = journal_config(
        dir.path(),
        collector.http,
        "      since: beginning
      units: [\"web*\", \"db.service\"]
      exclude_units: [\"web-debug.service\"]
      priority: notice
      include_kernel: true
      labels:
        env: test",
    );
    let journal = dir.path().join("journal/system.journal");
    let binary = b"line one\nline two\x00\xff\xfe end".to_vec();
    let entries = vec![
        E {
            unit: Some("web.service"),
            priority: 5,
            message: binary.clone(),
            ..E::plain(0)
        },
        E {
            unit: Some("web-debug.service"),
            ..E::plain(1)
        },
        E {
            unit: Some("db.service"),
            priority: 3,
            ..E::plain(2)
        },
        E {
            unit: Some("db.service"),
            priority: 6,
            ..E::plain(3)
        },
        E {
            unit: Some("cron.service"),
            ..E::plain(4)
        },
        E {
            unit: None,
            kernel: true,
            priority: 2,
            message: b"kernel says".to_vec(),
            ..E::plain(5)
        },
        E {
            unit: None,
            ..E::plain(6)
        },
        E {
            unit: Some("web-api.service"),
            priority: 5,
            ..E::plain(7)
        },
    ];
    write(&journal, &entries);
    let agent = start_agent(&config);
    let bootstrap = collector.kafka.to_string();
    let records = wait_records(&bootstrap, 4);
    let got: Vec<(Option<String>, Vec<u8>)> = records
        .iter()
        .map(|m| (key(m), m.payload().unwrap_or_default().to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![
            (Some("web.service".into()), binary.clone()),
            (Some("db.service".into()), b"entry 0000002".to_vec()),
            (None, b"kernel says".to_vec()),
            (Some("web-api.service".into()), b"entry 0000007".to_vec()),
        ],
        "binary and multi-line bytes intact; filtered entries absent; journal order"
    );
    let first = &records[0];
    assert_eq!(header(first, "host").as_deref(), Some("journal-host"));
    assert_eq!(header(first, "unit").as_deref(), Some("web.service"));
    assert_eq!(header(first, "priority").as_deref(), Some("5"));
    assert_eq!(header(first, "pid").as_deref(), Some("1000"));
    assert_eq!(
        header(first, "boot_id").as_deref(),
        Some("0123456789abcdef0123456789abcdef")
    );
    assert!(header(first, "cursor").unwrap().starts_with("s="));
    assert_eq!(header(first, "env").as_deref(), Some("test"));
    assert_eq!(
        first.timestamp().to_millis(),
        Some((make::realtime_us(0) / 1000) as i64),
        "__REALTIME_TIMESTAMP"
    );
    assert_eq!(header(&records[2], "unit"), None);

    let m = agent.metrics();
    let series = |name: &str| metric(&m, &format!("{name}{{source=\"sys\"}}")).unwrap_or(-1.0);
    assert_eq!(series("logship_agent_journal_entries_read_total"), 8.0);
    assert_eq!(series("logship_agent_journal_entries_filtered_total"), 4.0);
    assert_eq!(series("logship_agent_journal_entries_shipped_total"), 4.0);
    assert!(series("logship_agent_journal_bytes_read_total") > 500.0);
    assert_eq!(series("logship_agent_journal_entries_lost_total"), 0.0);
    // The lag gauges follow the journal's head every two seconds.
    wait_for("lag 0", Duration::from_secs(10), || {
        metric(
            &agent.metrics(),
            "logship_agent_journal_lag_entries{source=\"sys\"}",
        ) == Some(0.0)
    });
    drop(agent);
}

#[test]
fn json_encoding_holds_every_field_and_since_now_skips_the_past() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let config = journal_config(dir.path(), collector.http, "      encoding: json");
    let journal = dir.path().join("journal/system.journal");
    write(&journal, &(0..5).map(E::plain).collect::<Vec<_>>());
    let agent = start_agent(&config);
    agent.wait_log("journal source started");
    // Only entries written after the first start ship (since: now).
    write(
        &journal,
        &[
            E {
                message: b"multi\nline".to_vec(),
                ..E::plain(5)
            },
            E::plain(6),
        ],
    );
    let bootstrap = collector.kafka.to_string();
    let records = wait_records(&bootstrap, 2);
    assert_eq!(records.len(), 2, "the five older entries were not shipped");
    let v: serde_json::Value = serde_json::from_slice(records[0].payload().unwrap()).unwrap();
    assert_eq!(v["MESSAGE"], "multi\nline");
    assert_eq!(v["_SYSTEMD_UNIT"], "app.service");
    assert_eq!(v["_TRANSPORT"], "stdout");
    assert_eq!(v["PRIORITY"], "6");
    assert_eq!(v["__REALTIME_TIMESTAMP"], make::realtime_us(5).to_string());
    assert!(v["__CURSOR"].as_str().unwrap().starts_with("s="));
    assert_eq!(
        records[0].timestamp().to_millis(),
        Some((make::realtime_us(5) / 1000) as i64)
    );
    assert_eq!(key(&records[0]).as_deref(), Some("app.service"));
    // A restart continues after the checkpoint: nothing again.
    drop(agent);
    let agent = start_agent(&config);
    write(&journal, &[E::plain(7)]);
    let records = wait_records(&bootstrap, 3);
    let texts: Vec<String> = records
        .iter()
        .map(|m| {
            serde_json::from_slice::<serde_json::Value>(m.payload().unwrap()).unwrap()["MESSAGE"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(texts, ["multi\nline", "entry 0000006", "entry 0000007"]);
    drop(agent);
}

#[test]
fn new_journal_files_appends_and_a_vacuumed_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let config = journal_config(dir.path(), collector.http, "      since: beginning");
    let jdir = dir.path().join("journal");
    let first = jdir.join("system@1.journal");
    write(&first, &(0..100).map(E::plain).collect::<Vec<_>>());
    let agent = start_agent(&config);
    let bootstrap = collector.kafka.to_string();
    wait_records(&bootstrap, 100);
    // Appends, then a new file (a rotation), then appends to it.
    write(&first, &(100..150).map(E::plain).collect::<Vec<_>>());
    let second = jdir.join("system@2.journal");
    write(&second, &(150..200).map(E::plain).collect::<Vec<_>>());
    write(&second, &(200..250).map(E::plain).collect::<Vec<_>>());
    let records = wait_records(&bootstrap, 250);
    let values: Vec<String> = records.iter().map(value).collect();
    let want: Vec<String> = (0..250).map(|n| format!("entry {n:07}")).collect();
    assert_eq!(values, want, "each entry once, in journal order");
    assert!(agent.terminate().success());

    // While the agent is stopped, the files holding its checkpoint and
    // more are vacuumed and a new journal starts.
    std::fs::remove_file(&first).unwrap();
    std::fs::remove_file(&second).unwrap();
    write(
        &jdir.join("system.journal"),
        &(300..320).map(E::plain).collect::<Vec<_>>(),
    );
    let agent = start_agent(&config);
    let records = wait_records(&bootstrap, 270);
    assert_eq!(records.len(), 270);
    assert_eq!(value(&records[250]), "entry 0000300");
    agent.wait_log("entries were lost");
    let m = agent.metrics();
    assert_eq!(
        metric(&m, "logship_agent_journal_gaps_total{source=\"sys\"}"),
        Some(1.0)
    );
    drop(agent);
}

#[test]
fn collector_down_stops_reading_then_catches_up() {
    let dir = tempfile::tempdir().unwrap();
    let collector_yaml = fixed_collector_config(dir.path(), free_port(), free_port());
    let collector = start_logship(&collector_yaml);
    let config = journal_config(dir.path(), collector.http, "      since: beginning");
    use_small_sink_buffer(&config);
    let journal = dir.path().join("journal/system.journal");
    write(&journal, &[E::plain(0)]);
    let agent = start_agent(&config);
    let bootstrap = collector.kafka.to_string();
    wait_records(&bootstrap, 1);
    drop(collector); // SIGKILL
                     // About 8 MiB of messages while the collector is down.
    let pad = "y".repeat(1000);
    let big: Vec<E> = (1..8001)
        .map(|n| E {
            message: format!("entry {n:07} {pad}").into_bytes(),
            ..E::plain(n)
        })
        .collect();
    write(&journal, &big);
    wait_for("the lag gauge", Duration::from_secs(10), || {
        metric(
            &agent.metrics(),
            "logship_agent_journal_lag_entries{source=\"sys\"}",
        )
        .is_some_and(|lag| lag > 6000.0)
    });
    let m = agent.metrics();
    let read = metric(
        &m,
        "logship_agent_journal_entries_read_total{source=\"sys\"}",
    )
    .unwrap();
    assert!(
        read < 2000.0,
        "read {read} entries while the collector was down"
    );
    assert!(metric(&m, "logship_agent_buffered_bytes").unwrap() <= 262_144.0);
    let collector = start_logship(&collector_yaml);
    let records = wait_records(&bootstrap, 8001);
    assert_eq!(records.len(), 8001);
    for (n, r) in records.iter().enumerate() {
        assert_eq!(&value(r)[..13], format!("entry {n:07}"));
    }
    drop(agent);
    drop(collector);
}

#[test]
fn exactly_once_through_kills_of_agent_and_collector() {
    let dir = tempfile::tempdir().unwrap();
    let collector_yaml = fixed_collector_config(dir.path(), free_port(), free_port());
    let mut collector = start_logship(&collector_yaml);
    let config = journal_config(dir.path(), collector.http, "      since: beginning");
    let jdir = dir.path().join("journal");
    let bootstrap = collector.kafka.to_string();
    let mut agent = start_agent(&config);

    // The writer: batches of entries appended every few milliseconds, a new
    // journal file every 3,000 entries.
    let writing = Arc::new(AtomicBool::new(true));
    let written = Arc::new(AtomicU64::new(0));
    let writer = {
        let (jdir, writing, written) = (jdir.clone(), Arc::clone(&writing), Arc::clone(&written));
        std::thread::spawn(move || {
            let mut n = 0u64;
            let mut rng = rand::rng();
            while writing.load(Ordering::Relaxed) {
                let k = rng.random_range(1..80);
                let batch: Vec<E> = (n..n + k).map(E::plain).collect();
                write(&jdir.join(format!("system@{}.journal", n / 3000)), &batch);
                n += k;
                written.store(n, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(rng.random_range(0..15)));
            }
        })
    };

    let (agent_kills, collector_kills) =
        kill_rounds(12, &mut agent, &config, &mut collector, &collector_yaml);
    assert!(agent_kills >= 10 && collector_kills >= 3);
    writing.store(false, Ordering::Relaxed);
    writer.join().unwrap();
    let total = written.load(Ordering::Relaxed) as usize;
    let deadline = Instant::now() + Duration::from_secs(120);
    let records = loop {
        let r = read_topic(&bootstrap, "journal");
        if r.len() >= total || Instant::now() > deadline {
            break r;
        }
        std::thread::sleep(Duration::from_millis(500));
    };
    std::thread::sleep(Duration::from_secs(1));
    let records = if records.len() >= total {
        read_topic(&bootstrap, "journal")
    } else {
        records
    };
    let got: Vec<u64> = records
        .iter()
        .map(|m| value(m)[6..13].parse().unwrap())
        .collect();
    let distinct: HashSet<u64> = got.iter().copied().collect();
    let missing: Vec<u64> = (0..total as u64)
        .filter(|n| !distinct.contains(n))
        .take(10)
        .collect();
    assert!(missing.is_empty(), "of {total}, missing e.g. {missing:?}");
    assert_eq!(
        got.len(),
        total,
        "{} duplicates",
        got.len() - distinct.len()
    );
    assert_eq!(got, (0..total as u64).collect::<Vec<_>>(), "journal order");
    eprintln!("{total} entries, {agent_kills} agent kills, {collector_kills} collector kills");
    drop(agent);
    drop(collector);
}

/// The machine's own journal, when it has one: the agent reads the system
/// journal (no `journal_directory`) and ships its newest entries.
#[test]
fn the_live_system_journal_when_this_machine_has_one() {
    let has_files = ["/var/log/journal", "/run/log/journal"]
        .iter()
        .any(|d| walk_has_journal(Path::new(d)));
    if !has_files {
        eprintln!(
            "no journal files under /var/log/journal or /run/log/journal: this machine keeps no journal, so there is no live journal to read; the journal tests above read journal files made by systemd-journal-remote"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let config = journal_config(
        dir.path(),
        collector.http,
        "      since: beginning\n      priority: debug",
    );
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("journal_directory"))
        .collect::<Vec<_>>()
        .join("\n");
    std::fs::write(&config, text).unwrap();
    // What journalctl itself finds there, in the same order.
    let out = Command::new("journalctl")
        .args(["--output=export", "--no-pager", "--lines=20"])
        .output()
        .unwrap();
    let cursors: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("__CURSOR=").map(str::to_owned))
        .collect();
    assert!(
        !cursors.is_empty(),
        "journal files exist but journalctl shows no entry"
    );
    let agent = start_agent(&config);
    let bootstrap = collector.kafka.to_string();
    wait_for(
        "the live journal's newest entries",
        Duration::from_secs(120),
        || {
            let shipped: HashSet<String> = read_topic(&bootstrap, "journal")
                .iter()
                .filter_map(|m| header(m, "cursor"))
                .collect();
            cursors.iter().all(|c| shipped.contains(c))
        },
    );
    drop(agent);
}

fn walk_has_journal(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_has_journal(&p)
            } else {
                p.extension().is_some_and(|x| x == "journal")
            }
        })
    })
}

#[test]
fn a_missing_journalctl_fails_validation_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let config = journal_config(
        dir.path(),
        "127.0.0.1:1".parse().unwrap(),
        "      journalctl: /nonexistent/journalctl",
    );
    let err = validate_error(&config);
    assert!(
        err.contains(
            "agent.sources.sys.journalctl: /nonexistent/journalctl is not an executable file"
        ),
        "{err}"
    );
}

/// The Kafka sink takes journal records too (at least once, as for files):
/// key, headers and value as the collector sink sends them.
#[test]
fn the_kafka_sink_ships_journal_records_with_keys_and_headers() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let config = journal_config(dir.path(), collector.http, "      since: beginning");
    let bootstrap = collector.kafka.to_string();
    use_kafka_sink(&config, &bootstrap);
    let journal = dir.path().join("journal/system.journal");
    write(
        &journal,
        &[
            E {
                unit: Some("db.service"),
                message: b"two\nlines".to_vec(),
                ..E::plain(0)
            },
            E::plain(1),
        ],
    );
    let agent = start_agent(&config);
    let records = wait_records(&bootstrap, 2);
    assert_eq!(value(&records[0]), "two\nlines");
    assert_eq!(key(&records[0]).as_deref(), Some("db.service"));
    assert_eq!(header(&records[0], "unit").as_deref(), Some("db.service"));
    assert!(header(&records[0], "cursor").unwrap().starts_with("s="));
    assert_eq!(value(&records[1]), "entry 0000001");
    drop(agent);
}
