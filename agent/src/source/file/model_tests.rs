//! Vector's kind of test: random sequences of writes, rename-rotations,
//! copytruncates, deletions and agent restarts (graceful ones, and crashes
//! that lose whatever checkpoint progress was not yet written) played
//! against the real agent (discovery, tailers, the stream machinery, the
//! collector sink) and a real collector, both in-process, while a simple
//! model records what was written. At the end the topic must hold every
//! line exactly once, in order per file.
//!
//! A copytruncate or a deletion first waits until the file's lines are
//! acknowledged: lines written but not read before one of those are lost
//! by the method itself, not by the shipper.
//!
//! `LOGSHIP_MODEL_CASES` sets the number of cases (default 6) and
//! `LOGSHIP_MODEL_SEED` replays one; each case prints its seed.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio_util::sync::CancellationToken;

use crate::config::AgentConfig;
use crate::error::Error;
use logship_collector::config::CollectorConfig;
use logship_collector::storage::Storage;

const TOPIC: &str = "logs";
const OPS: usize = 24;

/// One log file name and the files that had it.
struct Family {
    name: &'static str,
    /// The file at `<name>.log` now, if any: its generation.
    live: Option<u32>,
    generations: u32,
    /// Renamed-away files still on disk.
    rotated: Vec<PathBuf>,
    /// Lines written so far (their numbers are unique per family).
    next: u64,
}

/// The agent, in its own runtime so that a crash can drop every task at
/// once.
struct Agent {
    rt: tokio::runtime::Runtime,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<Result<(), Error>>,
}

impl Agent {
    fn start(config: &AgentConfig) -> Agent {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let stop = CancellationToken::new();
        let (ready, is_ready) = tokio::sync::oneshot::channel();
        let (_reload, reload) = tokio::sync::mpsc::channel(1);
        let task = rt.spawn(crate::service::run(
            config.clone(),
            stop.clone(),
            ready,
            reload,
        ));
        rt.block_on(is_ready).expect("the agent started");
        Agent { rt, stop, task }
    }

    fn stop(self, crash: bool) {
        if crash {
            // Every task ends at its next await: no drain, no final
            // checkpoint.
            self.rt.shutdown_background();
        } else {
            self.stop.cancel();
            self.rt.block_on(self.task).unwrap().unwrap();
        }
    }
}

struct Case {
    logs: PathBuf,
    checkpoints: PathBuf,
    families: Vec<Family>,
    /// Every line written: (family, generation, number).
    written: Vec<(usize, u32, u64)>,
}

impl Case {
    fn live_path(&self, f: usize) -> PathBuf {
        self.logs.join(format!("{}.log", self.families[f].name))
    }

    fn write(&mut self, f: usize, lines: usize) {
        let path = self.live_path(f);
        let fam = &mut self.families[f];
        let generation = *fam.live.get_or_insert_with(|| {
            fam.generations += 1;
            fam.generations
        });
        let mut text = String::new();
        for _ in 0..lines {
            text.push_str(&format!("{} g{generation} {:06}\n", fam.name, fam.next));
            self.written.push((f, generation, fam.next));
            fam.next += 1;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap();
        file.write_all(text.as_bytes()).unwrap();
    }

    fn rotate(&mut self, f: usize) {
        let live = self.live_path(f);
        let fam = &mut self.families[f];
        if fam.live.take().is_none() {
            return;
        }
        let to = self
            .logs
            .join(format!("{}.log.{}", fam.name, fam.rotated.len() + 1));
        std::fs::rename(&live, &to).unwrap();
        fam.rotated.push(to);
    }

    fn copytruncate(&mut self, f: usize) {
        let live = self.live_path(f);
        if self.families[f].live.is_none() {
            return;
        }
        self.wait_acknowledged(&live);
        std::fs::OpenOptions::new()
            .write(true)
            .open(&live)
            .unwrap()
            .set_len(0)
            .unwrap();
    }

    fn delete(&mut self, f: usize, rotated: bool) {
        let path = if rotated {
            match self.families[f].rotated.pop() {
                Some(p) => p,
                None => return,
            }
        } else {
            if self.families[f].live.take().is_none() {
                return;
            }
            self.live_path(f)
        };
        self.wait_acknowledged(&path);
        std::fs::remove_file(&path).unwrap();
    }

    /// Waits until the agent's checkpoints say every byte of `path` is
    /// acknowledged.
    fn wait_acknowledged(&self, path: &Path) {
        let meta = std::fs::metadata(path).unwrap();
        let (dev, ino, size) = (meta.dev(), meta.ino(), meta.len());
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let acked = std::fs::read(&self.checkpoints)
                .ok()
                .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
                .is_some_and(|v| {
                    v["streams"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .any(|s| s["dev"] == dev && s["ino"] == ino && s["offset"] == size)
                });
            if acked {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{} ({size} bytes) never acknowledged",
                path.display()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn files(&self) -> Vec<PathBuf> {
        let mut v = Vec::new();
        for f in 0..self.families.len() {
            if self.families[f].live.is_some() {
                v.push(self.live_path(f));
            }
            v.extend(self.families[f].rotated.iter().cloned());
        }
        v
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Every record value of the topic, partition by partition in offset order.
fn topic_lines(config: &CollectorConfig) -> Vec<String> {
    let storage = Storage::open(
        config.validate().unwrap().storage,
        logship_collector::metrics::Metrics::new().storage,
    )
    .unwrap();
    let partitions = storage.describe_topic(TOPIC).unwrap().partitions;
    let mut out = Vec::new();
    for p in 0..partitions {
        let mut offset = 0;
        loop {
            let read = storage.read(TOPIC, p, offset, 1 << 20).unwrap();
            if read.records.is_empty() {
                break;
            }
            let mut bytes: Bytes = read.records.clone();
            while !bytes.is_empty() {
                let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
                for r in set.records {
                    offset = offset.max(r.offset + 1);
                    out.push(String::from_utf8(r.value.unwrap().to_vec()).unwrap());
                }
            }
            if offset >= read.high_watermark {
                break;
            }
        }
    }
    storage.close().unwrap();
    out
}

fn run_case(seed: u64) {
    eprintln!("model case seed={seed} (LOGSHIP_MODEL_SEED={seed} replays it)");
    let mut rng = StdRng::seed_from_u64(seed);
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let http = free_port();
    let collector: CollectorConfig = serde_yaml_ng::from_str(&format!(
        "data_dir: {}\nhttp:\n  listen: 127.0.0.1:{http}\nkafka:\n  listen: 127.0.0.1:0\n",
        dir.path().join("collector").display()
    ))
    .unwrap();
    let agent_config: AgentConfig = serde_yaml_ng::from_str(&format!(
        "data_dir: {data}
http:
  listen: 127.0.0.1:0
checkpoint_interval: 50ms
drain_timeout: 5s
sources:
  app:
    type: file
    include: [\"{logs}/*.log*\"]
    topic: {TOPIC}
    rescan_interval: 100ms
    rotate_wait: 100ms
    idle_close: 300ms
sink:
  type: collector
  url: http://127.0.0.1:{http}
  batch:
    max_records: 7
    linger: 5ms
  retry:
    initial_backoff: 10ms
    max_backoff: 100ms
",
        data = dir.path().join("agent").display(),
        logs = logs.display(),
    ))
    .unwrap();

    let collector_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let collector_stop = CancellationToken::new();
    let (ready, is_ready) = tokio::sync::oneshot::channel();
    let collector_task = collector_rt.spawn(logship_collector::service::run(
        collector.clone(),
        collector_stop.clone(),
        ready,
    ));
    collector_rt
        .block_on(is_ready)
        .expect("the collector started");

    let mut case = Case {
        checkpoints: dir.path().join("agent/checkpoints.json"),
        logs,
        families: ["a", "b"]
            .into_iter()
            .map(|name| Family {
                name,
                live: None,
                generations: 0,
                rotated: Vec::new(),
                next: 0,
            })
            .collect(),
        written: Vec::new(),
    };
    let mut agent = Some(Agent::start(&agent_config));
    let mut trace = Vec::new();
    for _ in 0..OPS {
        let f = rng.random_range(0..case.families.len());
        match rng.random_range(0..100) {
            0..50 => {
                let n = rng.random_range(1..40);
                trace.push(format!("write {f} {n}"));
                case.write(f, n);
            }
            50..62 => {
                trace.push(format!("rotate {f}"));
                case.rotate(f);
            }
            62..72 => {
                trace.push(format!("copytruncate {f}"));
                case.copytruncate(f);
            }
            72..80 => {
                let rotated = rng.random_bool(0.5);
                trace.push(format!("delete {f} rotated={rotated}"));
                case.delete(f, rotated);
            }
            80..92 => {
                let crash = rng.random_bool(0.5);
                trace.push(format!("restart crash={crash}"));
                agent.take().expect("running").stop(crash);
                agent = Some(Agent::start(&agent_config));
            }
            _ => {
                let ms = rng.random_range(0..150);
                trace.push(format!("sleep {ms}ms"));
                std::thread::sleep(Duration::from_millis(ms));
            }
        }
        // A moment for the agent to act between most operations.
        std::thread::sleep(Duration::from_millis(rng.random_range(0..15)));
    }
    eprintln!("operations: {}", trace.join(", "));
    for path in case.files() {
        case.wait_acknowledged(&path);
    }
    agent.take().expect("running").stop(false);
    collector_stop.cancel();
    collector_rt.block_on(collector_task).unwrap().unwrap();
    drop(collector_rt);

    // The model: per family and generation, the numbers written, in order.
    let mut want: BTreeMap<(String, u32), Vec<u64>> = BTreeMap::new();
    for &(f, g, n) in &case.written {
        want.entry((case.families[f].name.to_owned(), g))
            .or_default()
            .push(n);
    }
    let mut got: BTreeMap<(String, u32), Vec<u64>> = BTreeMap::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for line in topic_lines(&collector) {
        *seen.entry(line.clone()).or_default() += 1;
        let mut parts = line.split(' ');
        let (name, g, n) = (
            parts.next().unwrap().to_owned(),
            parts.next().unwrap()[1..].parse().unwrap(),
            parts.next().unwrap().parse().unwrap(),
        );
        got.entry((name, g)).or_default().push(n);
    }
    let repeated: Vec<_> = seen.iter().filter(|(_, &c)| c > 1).collect();
    assert!(
        repeated.is_empty(),
        "seed {seed}: shipped more than once: {repeated:?}"
    );
    assert_eq!(got, want, "seed {seed}: the topic differs from the model (missing lines, or out of order within a file)");
}

#[test]
fn random_writes_rotations_truncations_deletions_and_restarts_ship_every_line_once() {
    if let Some(seed) = std::env::var("LOGSHIP_MODEL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        return run_case(seed);
    }
    let cases: u64 = std::env::var("LOGSHIP_MODEL_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(6);
    let base: u64 = rand::random();
    for i in 0..cases {
        run_case(base.wrapping_add(i));
    }
}
