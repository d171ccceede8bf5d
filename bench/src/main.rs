//! `logship-bench`: release-mode harness for the storage engine.
//!
//! `bench/storage.sh` runs it beside `dd` and `cat` baselines and prints
//! ratios; current results are in `bench/RESULTS.md`, past runs in `bench/history/`. `kafka-produce` and
//! `kafka-consume` load a Kafka-protocol broker through rdkafka
//! (`bench/kafka.sh`). `gen-logs`, `latency` and `fanout` load the agent
//! (`bench/agent.sh`). `gen-journal` feeds `bench/journal.sh`. `gen-app-logs` and `fill` serve the side-by-side
//! harness (`bench/run.sh`). `crash-child` is the appending
//! process the crash-recovery tests SIGKILL.

mod agent;
mod journal;
mod kafka;
mod side;
mod tls;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use bytes::Bytes;
use clap::{Parser, Subcommand, ValueEnum};
use kafka_protocol::records::Compression;
use logship_collector::metrics::Metrics;
use logship_collector::storage::{FlushPolicy, Storage, StorageOptions};
use logship_common::batch::{encode, BatchHeader, NewRecord};

/// The same allocator as `logship` (see Cargo.toml): the storage benchmark
/// then measures what the collector runs, and the Kafka load tool's
/// librdkafka is not held back by glibc's arena lock (one consumer of 3 M
/// 100 B records, same collector, quiet machine: 1.56-1.61 M records/s on
/// glibc malloc, 1.68-2.08 M on jemalloc).
#[cfg(target_os = "linux")]
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[derive(Parser)]
#[command(about = "logship storage benchmarks")]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Clone, Copy, ValueEnum)]
enum Flush {
    Always,
    Os,
}

#[derive(Subcommand)]
enum Cmd {
    /// Produce records to a Kafka-protocol broker with rdkafka; prints records/s.
    KafkaProduce(kafka::ProduceArgs),
    /// Consume a topic from the beginning with rdkafka; prints records/s.
    KafkaConsume(kafka::ConsumeArgs),
    /// Time a consumer group reaching a stable assignment and rebalancing after a leave.
    KafkaGroup(kafka::GroupArgs),
    /// Open connections (TCP, full TLS handshake, one ApiVersions) as fast as possible; prints connections/s.
    TlsConnect(tls::ConnectArgs),
    /// Authenticate N clients with SaslHandshake + SCRAM SaslAuthenticate; prints clients/s.
    ScramAuth(tls::ScramArgs),
    /// Write a file of realistic access-log lines (~200 B each), deterministic per seed.
    GenLogs(agent::GenLogsArgs),
    /// Append time-stamped lines to a file at a rate while consuming the
    /// agent's topic; prints write-to-consume latency percentiles.
    Latency(agent::LatencyArgs),
    /// Append lines round-robin to many files at a total rate.
    Fanout(agent::FanoutArgs),
    /// Write a file of JSON application-log lines (~200 B each), deterministic per seed.
    GenAppLogs(side::GenAppLogsArgs),
    /// Fill a data directory: one topic, many partitions, GBs of batches.
    Fill(side::FillArgs),
    /// Write journal entries in the export format to stdout (for
    /// systemd-journal-remote).
    GenJournal(journal::GenJournalArgs),
    /// Append MiB of batches from N threads to one partition; prints MB/s.
    Append {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1)]
        appenders: usize,
        #[arg(long, default_value_t = 1 << 20)]
        batch_bytes: usize,
        #[arg(long, default_value_t = 1024)]
        record_bytes: usize,
        #[arg(long, default_value_t = 1024)]
        total_mib: u64,
        #[arg(long, value_enum, default_value_t = Flush::Always)]
        flush: Flush,
    },
    /// Read a partition written by `append` from offset 0 to its end; prints MB/s.
    Read {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1 << 20)]
        max_bytes: usize,
    },
    /// Create PARTITIONS partitions with some data, close cleanly, and time re-opening.
    Startup {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value_t = 1000)]
        partitions: i32,
    },
    /// Append forever, printing `ACK <partition> <base> <last>` once each
    /// append is acknowledged (the crash tests SIGKILL this process).
    CrashChild {
        #[arg(long)]
        dir: PathBuf,
        #[arg(long, default_value = "crash")]
        topic: String,
        #[arg(long, default_value_t = 2)]
        partitions: i32,
        /// Small segments so kills land across rolls too.
        #[arg(long, default_value_t = 65536)]
        segment_bytes: u64,
    },
}

/// One uncompressed batch of `count` records, values produced by `value(i)`.
fn batch(count: usize, value: impl Fn(usize) -> Vec<u8>) -> Vec<u8> {
    let now = logship_common::time::now_ms();
    let records: Vec<NewRecord> = (0..count)
        .map(|i| NewRecord {
            key: None,
            value: Some(Bytes::from(value(i))),
            timestamp: now,
        })
        .collect();
    encode(&records, None, Compression::None)
}

fn open(dir: &PathBuf, flush: FlushPolicy) -> Result<Arc<Storage>> {
    let mut options = StorageOptions::new(dir);
    options.flush = flush;
    Storage::open(options, Metrics::new().storage).context("opening storage")
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Cmd::KafkaProduce(a) => kafka::produce(a)?,
        Cmd::KafkaConsume(a) => kafka::consume(a)?,
        Cmd::KafkaGroup(a) => kafka::group(a)?,
        Cmd::TlsConnect(a) => tls::connect(a)?,
        Cmd::ScramAuth(a) => tls::scram(a)?,
        Cmd::GenLogs(a) => agent::gen_logs(a)?,
        Cmd::Latency(a) => agent::latency(a)?,
        Cmd::Fanout(a) => agent::fanout(a)?,
        Cmd::GenAppLogs(a) => side::gen_app_logs(a)?,
        Cmd::Fill(a) => side::fill(a)?,
        Cmd::GenJournal(a) => journal::gen_journal(a)?,
        Cmd::Append {
            dir,
            appenders,
            batch_bytes,
            record_bytes,
            total_mib,
            flush,
        } => {
            let policy = match flush {
                Flush::Always => FlushPolicy::Always,
                Flush::Os => FlushPolicy::Os,
            };
            let storage = open(&dir, policy)?;
            let mut configs = BTreeMap::new();
            configs.insert(
                "max.message.bytes".to_owned(),
                (batch_bytes * 2).to_string(),
            );
            storage.create_topic("bench", 1, configs, false)?;
            let part = storage.partition("bench", 0)?;
            let per_batch = (batch_bytes / record_bytes).max(1);
            let template = batch(per_batch, |i| vec![b'a' + (i % 26) as u8; record_bytes]);
            let target = total_mib << 20;
            let written = Arc::new(AtomicU64::new(0));
            let started = Instant::now();
            std::thread::scope(|s| {
                for _ in 0..appenders {
                    let (part, written) = (&part, Arc::clone(&written));
                    let mut buf = template.clone();
                    s.spawn(move || {
                        // The same buffer is appended again and again: the
                        // append only rewrites its base offset.
                        while written.fetch_add(buf.len() as u64, Ordering::Relaxed) < target {
                            part.append(&mut buf).expect("append");
                        }
                    });
                }
            });
            let secs = started.elapsed().as_secs_f64();
            let bytes = part.size_bytes();
            storage.close()?;
            println!(
                "append appenders={appenders} batch_bytes={} flush={} bytes={bytes} secs={secs:.3} MBps={:.1}",
                template.len(),
                match flush { Flush::Always => "always", Flush::Os => "os" },
                bytes as f64 / secs / 1e6
            );
        }
        Cmd::Read { dir, max_bytes } => {
            let storage = open(&dir, FlushPolicy::Os)?;
            let part = storage.partition("bench", 0)?;
            let end = part.log_end_offset();
            let started = Instant::now();
            let (mut offset, mut bytes) = (0i64, 0u64);
            while offset < end {
                let r = part.read(offset, max_bytes)?;
                bytes += r.records.len() as u64;
                offset = last_offset_plus_one(&r.records).context("empty read below end")?;
            }
            let secs = started.elapsed().as_secs_f64();
            storage.close()?;
            println!(
                "read bytes={bytes} secs={secs:.3} MBps={:.1}",
                bytes as f64 / secs / 1e6
            );
        }
        Cmd::Startup { dir, partitions } => {
            {
                let storage = open(&dir, FlushPolicy::Os)?;
                storage.create_topic("startup", partitions, BTreeMap::new(), false)?;
                let template = batch(16, |_| vec![b'x'; 100]);
                for p in 0..partitions {
                    for _ in 0..10 {
                        storage.append("startup", p, &mut template.clone())?;
                    }
                }
                storage.close()?;
            }
            let started = Instant::now();
            let storage = open(&dir, FlushPolicy::Os)?;
            let secs = started.elapsed().as_secs_f64();
            let n = storage.describe_topic("startup")?.partitions;
            storage.close()?;
            println!("startup partitions={n} clean_open_secs={secs:.3}");
        }
        Cmd::CrashChild {
            dir,
            topic,
            partitions,
            segment_bytes,
        } => {
            let storage = open(&dir, FlushPolicy::Always)?;
            if storage.describe_topic(&topic).is_err() {
                let mut configs = BTreeMap::new();
                configs.insert("segment.bytes".to_owned(), segment_bytes.to_string());
                storage.create_topic(&topic, partitions, configs, false)?;
            }
            let mut out = std::io::stdout().lock();
            let mut n: u64 = 0;
            loop {
                let p = (n % partitions as u64) as i32;
                let part = storage.partition(&topic, p)?;
                let next = part.log_end_offset();
                // Each record's value is its own expected offset, so a
                // reader can check the log is exactly the acknowledged prefix.
                let count = 1 + (n % 7) as usize;
                let mut b = batch(count, |i| format!("{}", next + i as i64).into_bytes());
                let info = part.append(&mut b)?;
                writeln!(out, "ACK {p} {} {}", info.base_offset, info.last_offset)?;
                out.flush()?;
                n += 1;
            }
        }
    }
    Ok(())
}

fn last_offset_plus_one(mut records: &[u8]) -> Option<i64> {
    let mut next = None;
    while let Ok(h) = BatchHeader::parse(records) {
        next = Some(h.next_offset());
        records = records.get(h.total_len()..)?;
    }
    next
}
