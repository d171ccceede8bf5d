//! Consumer groups with real clients: librdkafka through rdkafka, and kcat
//! as a member in its own process (so it can be SIGKILLed).

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use rdkafka::producer::BaseRecord;
use rdkafka::Message;

use crate::kafka_rdkafka::{consume_all, producer};
use crate::util::*;

fn member(bootstrap: &str, group: &str, topic: &str, auto_commit: bool) -> BaseConsumer {
    let c: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group)
        .set("auto.offset.reset", "earliest")
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("enable.auto.commit", auto_commit.to_string())
        .set("auto.commit.interval.ms", "200")
        .create()
        .expect("consumer");
    c.subscribe(&[topic]).unwrap();
    c
}

fn produce(bootstrap: &str, topic: &str, range: std::ops::Range<usize>) {
    let p = producer(bootstrap, &[]);
    for i in range {
        let key = format!("k{i}");
        p.send(BaseRecord::to(topic).key(&key).payload(&format!("r{i}")))
            .unwrap();
    }
    rdkafka::producer::Producer::flush(&p, Duration::from_secs(30)).unwrap();
}

fn create_topic(bootstrap: &str, topic: &str, partitions: i32) {
    let out = Command::new(LOGSHIP)
        .args([
            "topics",
            "create",
            topic,
            "--partitions",
            &partitions.to_string(),
            "--bootstrap-server",
            bootstrap,
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A member running on its own thread, recording every record it receives
/// and its current assignment.
struct Member {
    stop: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<(i32, i64, String)>>>,
    assigned: Arc<Mutex<BTreeSet<i32>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Member {
    fn start(bootstrap: &str, group: &str, topic: &str) -> Member {
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Arc<Mutex<Vec<(i32, i64, String)>>> = Arc::default();
        let assigned: Arc<Mutex<BTreeSet<i32>>> = Arc::default();
        let (b, g, t) = (bootstrap.to_owned(), group.to_owned(), topic.to_owned());
        let (s2, seen2, a2) = (Arc::clone(&stop), Arc::clone(&seen), Arc::clone(&assigned));
        let thread = std::thread::spawn(move || {
            let c = member(&b, &g, &t, true);
            while !s2.load(Ordering::Relaxed) {
                if let Some(Ok(m)) = c.poll(Duration::from_millis(50)) {
                    let v = String::from_utf8_lossy(m.payload().unwrap()).into_owned();
                    seen2.lock().unwrap().push((m.partition(), m.offset(), v));
                }
                let parts = c
                    .assignment()
                    .map(|a| a.elements().iter().map(|e| e.partition()).collect())
                    .unwrap_or_default();
                *a2.lock().unwrap() = parts;
            }
            let _ = c.commit_consumer_state(CommitMode::Sync);
            // Dropping the consumer sends LeaveGroup.
        });
        Member {
            stop,
            seen,
            assigned,
            thread: Some(thread),
        }
    }

    fn assigned(&self) -> BTreeSet<i32> {
        self.assigned.lock().unwrap().clone()
    }

    fn values(&self) -> Vec<String> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .map(|(_, _, v)| v.clone())
            .collect()
    }

    fn close(mut self) -> Vec<String> {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        self.values()
    }
}

fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn disjoint_cover(sets: &[BTreeSet<i32>], partitions: i32) -> bool {
    let total: usize = sets.iter().map(|s| s.len()).sum();
    let union: BTreeSet<i32> = sets.iter().flatten().copied().collect();
    total == partitions as usize && union == (0..partitions).collect()
}

#[test]
fn three_members_split_six_partitions_and_consume_each_record_once() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let b = running.kafka.to_string();
    create_topic(&b, "six", 6);
    let members: Vec<Member> = (0..3).map(|_| Member::start(&b, "trio", "six")).collect();
    wait_until(
        "a stable three-way assignment",
        Duration::from_secs(30),
        || {
            let sets: Vec<_> = members.iter().map(Member::assigned).collect();
            sets.iter().all(|s| s.len() == 2) && disjoint_cover(&sets, 6)
        },
    );
    produce(&b, "six", 0..6000);
    wait_until("every record", Duration::from_secs(30), || {
        members.iter().map(|m| m.values().len()).sum::<usize>() >= 6000
    });
    std::thread::sleep(Duration::from_millis(500));
    let mut all = Vec::new();
    for m in members {
        all.extend(m.close());
    }
    assert_eq!(all.len(), 6000, "records consumed more than once");
    let unique: HashSet<_> = all.iter().collect();
    assert_eq!(unique.len(), 6000);

    // The group is described as Kafka's tools would show it, with its offsets.
    let admin: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", &b)
        .create()
        .unwrap();
    let groups = admin
        .fetch_group_list(Some("trio"), Duration::from_secs(5))
        .unwrap();
    let g = &groups.groups()[0];
    assert_eq!(
        (g.name(), g.state(), g.protocol_type()),
        ("trio", "Empty", "consumer")
    );
}

fn kcat_member(bootstrap: &str, group: &str, topic: &str) -> Child {
    Command::new("kcat")
        .args([
            "-b",
            bootstrap,
            "-G",
            group,
            topic,
            "-q",
            "-X",
            "auto.offset.reset=earliest",
            "-X",
            "session.timeout.ms=6000",
            "-X",
            "heartbeat.interval.ms=500",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("kcat is installed by .ci/setup")
}

#[test]
fn departed_and_killed_members_hand_over_their_partitions_without_loss() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let b = running.kafka.to_string();
    create_topic(&b, "handover", 6);
    let a = Member::start(&b, "hand", "handover");
    let leaver = Member::start(&b, "hand", "handover");
    let mut killed = kcat_member(&b, "hand", "handover");
    wait_until(
        "three members sharing six partitions",
        Duration::from_secs(30),
        || {
            let sets = [a.assigned(), leaver.assigned()];
            sets.iter().all(|s| s.len() == 2) && sets.iter().flatten().count() == 4
        },
    );
    produce(&b, "handover", 0..3000);
    std::thread::sleep(Duration::from_millis(1500));

    // kill -9 the kcat member: heartbeats stop; after the session timeout
    // its partitions move to the others.
    killed.kill().unwrap();
    let out = killed.wait_with_output().unwrap();
    let killed_seen: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    wait_until(
        "the killed member's partitions to move",
        Duration::from_secs(30),
        || disjoint_cover(&[a.assigned(), leaver.assigned()], 6),
    );
    produce(&b, "handover", 3000..4000);

    // A clean leave hands everything to the last member at once.
    std::thread::sleep(Duration::from_millis(1000));
    let left = Instant::now();
    let leaver_seen = leaver.close();
    wait_until(
        "the leaver's partitions to move",
        Duration::from_secs(30),
        || a.assigned().len() == 6,
    );
    assert!(
        left.elapsed() < Duration::from_secs(5),
        "rebalance after a clean leave took {:?}",
        left.elapsed()
    );
    produce(&b, "handover", 4000..5000);
    wait_until("every record", Duration::from_secs(30), || {
        let got: HashSet<String> = a
            .values()
            .into_iter()
            .chain(leaver_seen.iter().cloned())
            .chain(killed_seen.iter().cloned())
            .collect();
        got.len() == 5000
    });
    a.close();
}

#[test]
fn committed_offsets_survive_clean_restart_and_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let config = collector_config(dir.path(), &dir.path().join("data"));
    let running = start_logship(&config);
    let b = running.kafka.to_string();
    produce(&b, "resume", 0..300);
    let next_value = |b: &str, http: std::net::SocketAddr| -> String {
        // No auto-commit: reading must not move the committed offset.
        let c = member(b, "resumers", "resume", false);
        let deadline = Instant::now() + Duration::from_secs(30);
        let m = loop {
            if let Some(m) = c.poll(Duration::from_millis(200)) {
                break m.unwrap().detach();
            }
            if Instant::now() > deadline {
                let groups = c.fetch_group_list(Some("resumers"), Duration::from_secs(5));
                let metrics: Vec<String> = http_get(http, "/metrics")
                    .1
                    .lines()
                    .filter(|l| l.contains("requests_total{") || l.contains("errors_total{"))
                    .map(str::to_owned)
                    .collect();
                panic!(
                    "no record within 30 s; metrics {metrics:#?} watermarks {:?} committed {:?} position {:?} assignment {:?}, group {:?}",
                    c.fetch_watermarks("resume", 0, Duration::from_secs(5)),
                    c.committed(Duration::from_secs(5)),
                    c.position(),
                    c.assignment(),
                    groups.map(|g| g.groups().iter().map(|g| (g.state().to_owned(), g.members().len())).collect::<Vec<_>>())
                );
            }
        };
        String::from_utf8_lossy(m.payload().unwrap()).into_owned()
    };
    let commit_at = |b: &str, offset: i64| {
        let c: BaseConsumer = ClientConfig::new()
            .set("bootstrap.servers", b)
            .set("group.id", "resumers")
            .create()
            .unwrap();
        let mut tpl = rdkafka::TopicPartitionList::new();
        tpl.add_partition_offset("resume", 0, rdkafka::Offset::Offset(offset))
            .unwrap();
        c.commit(&tpl, CommitMode::Sync).unwrap();
    };
    commit_at(&b, 100);
    assert_eq!(next_value(&b, running.http), "r100");
    assert!(running.terminate().success());

    let running = start_logship(&config);
    let b = running.kafka.to_string();
    assert_eq!(
        next_value(&b, running.http),
        "r100",
        "after a clean restart"
    );
    commit_at(&b, 250);
    drop(running); // SIGKILL
    let running = start_logship(&config);
    let b = running.kafka.to_string();
    assert_eq!(next_value(&b, running.http), "r250", "after kill -9");
}

#[test]
fn two_groups_each_receive_every_record() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let b = running.kafka.to_string();
    create_topic(&b, "fanout", 3);
    produce(&b, "fanout", 0..2000);
    let mut per_group: BTreeMap<&str, HashSet<String>> = BTreeMap::new();
    for g in ["analytics", "archive"] {
        let m = Member::start(&b, g, "fanout");
        wait_until("every record", Duration::from_secs(30), || {
            m.values().len() >= 2000
        });
        per_group.insert(g, m.close().into_iter().collect());
    }
    assert!(per_group.values().all(|s| s.len() == 2000));
    // And plain assigned consumers still read everything from the beginning.
    assert_eq!(consume_all(&b, "fanout", 3, 2000).len(), 2000);
}
