//! Kafka load tool on rdkafka: produce N records of a given size as fast as
//! librdkafka will batch them, or consume a topic from the beginning, and
//! print records/s and MB/s. Works against the collector or any Kafka broker.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

#[derive(clap::Args)]
pub struct ProduceArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    #[arg(long, default_value = "load")]
    topic: String,
    #[arg(long, default_value_t = 1_000_000)]
    records: u64,
    #[arg(long, default_value_t = 100)]
    record_bytes: usize,
    /// 0, 1 or all.
    #[arg(long, default_value = "all")]
    acks: String,
    #[arg(long, default_value_t = 5)]
    linger_ms: u32,
    #[arg(long, default_value_t = 1_000_000)]
    batch_bytes: u32,
    #[arg(long, default_value = "none")]
    compression: String,
    /// Headers per record (`h0`.. with 16-byte values), as the agent's Kafka
    /// sink sends host, path and offset: librdkafka's cost for that shape.
    #[arg(long, default_value_t = 0)]
    headers: usize,
    /// Extra librdkafka properties, key=value.
    #[arg(long = "set")]
    set: Vec<String>,
    /// Give record i the key `k<i % keys>` (a compacted topic needs keys);
    /// 0 sends no key.
    #[arg(long, default_value_t = 0)]
    keys: u64,
}

#[derive(clap::Args)]
pub struct ConsumeArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    #[arg(long, default_value = "load")]
    topic: String,
    /// Stop after this many records.
    #[arg(long)]
    records: u64,
    #[arg(long, default_value_t = 1)]
    partitions: i32,
    /// Consume through this consumer group (subscribe) instead of assigning.
    #[arg(long)]
    group: Option<String>,
    /// Consumers reading at once, each on its own thread with its own
    /// share of the partitions (as kafka-consumer-perf-test's --threads);
    /// the rate is their total. Without --group only.
    #[arg(long, default_value_t = 1, conflicts_with = "group")]
    consumers: i32,
    /// Extra librdkafka properties, key=value (e.g. security.protocol=ssl).
    #[arg(long = "set")]
    set: Vec<String>,
}

#[derive(clap::Args)]
pub struct GroupArgs {
    #[arg(long, default_value = "127.0.0.1:9092")]
    bootstrap_server: String,
    /// An existing topic; its partitions are shared by the members.
    #[arg(long, default_value = "load")]
    topic: String,
    #[arg(long, default_value_t = 3)]
    members: usize,
}

pub fn produce(a: ProduceArgs) -> Result<()> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &a.bootstrap_server)
        .set("acks", &a.acks)
        .set("linger.ms", a.linger_ms.to_string())
        .set("batch.size", a.batch_bytes.to_string())
        .set("compression.type", &a.compression)
        .set("queue.buffering.max.messages", "1000000")
        .set("queue.buffering.max.kbytes", "1048576");
    for kv in &a.set {
        let (k, v) = kv.split_once('=').context("--set takes key=value")?;
        c.set(k, v);
    }
    let producer: ThreadedProducer<CountFailures> = c
        .create_with_context(CountFailures::default())
        .context("creating producer")?;
    let payload = vec![b'x'; a.record_bytes];
    let names: Vec<String> = (0..a.headers).map(|i| format!("h{i}")).collect();
    let header_value = &payload[..16.min(payload.len())];
    let started = Instant::now();
    let mut key = String::new();
    for i in 0..a.records {
        let mut record = BaseRecord::<str, [u8]>::to(&a.topic).payload(&payload[..]);
        if a.keys > 0 {
            key.clear();
            std::fmt::Write::write_fmt(&mut key, format_args!("k{}", i % a.keys))
                .expect("writing to a String");
            record = record.key(key.as_str());
        }
        if !names.is_empty() {
            let mut headers = OwnedHeaders::new_with_capacity(names.len());
            for name in &names {
                headers = headers.insert(Header {
                    key: name,
                    value: Some(header_value),
                });
            }
            record = record.headers(headers);
        }
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((e, r)) if e.to_string().contains("Queue full") => {
                    record = r;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => bail!("produce failed: {e}"),
            }
        }
    }
    producer
        .flush(Duration::from_secs(120))
        .context("flushing")?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "produce records={} record_bytes={} acks={} secs={secs:.3} records_per_s={:.0} MBps={:.1}",
        a.records,
        a.record_bytes,
        a.acks,
        a.records as f64 / secs,
        (a.records * a.record_bytes as u64) as f64 / secs / 1e6
    );
    Ok(())
}

/// Counts records whose delivery failed, so a run that lost records fails.
#[derive(Default)]
struct CountFailures {
    failed: std::sync::atomic::AtomicU64,
}

impl rdkafka::ClientContext for CountFailures {}

impl rdkafka::producer::ProducerContext for CountFailures {
    type DeliveryOpaque = ();
    fn delivery(&self, result: &rdkafka::message::DeliveryResult<'_>, _: ()) {
        if result.is_err() {
            self.failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }
}

/// Prints the rate over the whole run (`secs`, `records_per_s`, `MBps`:
/// from creating the consumers, so the client's start-up, metadata and
/// offset look-ups count) and the rate from the first record on
/// (`first_record_secs` after the start, then `after_first_rps` and
/// `after_first_mbs`: the fetching alone, as kafka-consumer-perf-test's
/// fetch rates leave out its start-up).
pub fn consume(a: ConsumeArgs) -> Result<()> {
    let total = AtomicU64::new(0);
    let bytes = AtomicU64::new(0);
    let first = std::sync::OnceLock::new();
    let started = Instant::now();
    std::thread::scope(|scope| -> Result<()> {
        let workers: Vec<_> = (0..a.consumers.max(1))
            .map(|i| {
                let (a, total, bytes, first) = (&a, &total, &bytes, &first);
                scope.spawn(move || consume_share(a, i, total, bytes, first))
            })
            .collect();
        for w in workers {
            w.join()
                .map_err(|_| anyhow::anyhow!("a consumer thread panicked"))??;
        }
        Ok(())
    })?;
    let ended = Instant::now();
    let secs = (ended - started).as_secs_f64();
    let first = *first.get().unwrap_or(&ended);
    let fetch_secs = (ended - first).as_secs_f64().max(1e-6);
    let (n, b) = (total.load(Ordering::Relaxed), bytes.load(Ordering::Relaxed));
    // The totals stay last: bench scripts take the last `records_per_s=`.
    println!(
        "consume group={} consumers={} records={n} first_record_secs={:.3} after_first_rps={:.0} after_first_mbs={:.1} secs={secs:.3} records_per_s={:.0} MBps={:.1}",
        a.group.as_deref().unwrap_or("-"),
        a.consumers.max(1),
        (first - started).as_secs_f64(),
        n as f64 / fetch_secs,
        b as f64 / fetch_secs / 1e6,
        n as f64 / secs,
        b as f64 / secs / 1e6
    );
    Ok(())
}

/// One consumer: partitions `p` with `p % consumers == index` (or the
/// group's share), until all consumers together have `records`.
fn consume_share(
    a: &ConsumeArgs,
    index: i32,
    total: &AtomicU64,
    bytes: &AtomicU64,
    first: &std::sync::OnceLock<Instant>,
) -> Result<()> {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", &a.bootstrap_server)
        .set("group.id", a.group.as_deref().unwrap_or("logship-bench"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        // Nothing is committed, so nothing needs storing: librdkafka would
        // otherwise store every message's offset, under a lock, as it hands
        // the message out.
        .set("enable.auto.offset.store", "false")
        .set("fetch.max.bytes", "52428800")
        .set("max.partition.fetch.bytes", "10485760")
        // librdkafka >= 2.4 pauses fetching for 1 s whenever its local queue is
        // above queued.min.messages; a load tool wants the next fetch at once.
        .set("fetch.queue.backoff.ms", "1");
    for kv in &a.set {
        let (k, v) = kv.split_once('=').context("--set takes key=value")?;
        c.set(k, v);
    }
    let consumer: BaseConsumer = c.create().context("creating consumer")?;
    match &a.group {
        Some(_) => consumer.subscribe(&[&a.topic])?,
        None => {
            let mut tpl = TopicPartitionList::new();
            for p in (0..a.partitions).filter(|p| p % a.consumers.max(1) == index) {
                tpl.add_partition_offset(&a.topic, p, Offset::Beginning)?;
            }
            consumer.assign(&tpl)?;
        }
    }
    let mut last = Instant::now();
    // Counted in chunks: one shared atomic add per 1,024 records.
    let (mut n, mut b) = (0u64, 0u64);
    while total.load(Ordering::Relaxed) + n < a.records {
        // poll returns None for timeouts and for events such as rebalances.
        if let Some(m) = consumer.poll(Duration::from_millis(10)) {
            let m = m.context("consume error")?;
            if n == 0 {
                first.get_or_init(Instant::now);
            }
            b += m.payload_len() as u64;
            n += 1;
            last = Instant::now();
            if n == 1024 {
                total.fetch_add(n, Ordering::Relaxed);
                bytes.fetch_add(b, Ordering::Relaxed);
                (n, b) = (0, 0);
            }
        } else {
            // Nothing ready: publish the local count (the others may be
            // waiting for it to reach the total).
            total.fetch_add(n, Ordering::Relaxed);
            bytes.fetch_add(b, Ordering::Relaxed);
            (n, b) = (0, 0);
            if last.elapsed() > Duration::from_secs(10) {
                bail!("stalled after {} records", total.load(Ordering::Relaxed));
            }
        }
    }
    total.fetch_add(n, Ordering::Relaxed);
    bytes.fetch_add(b, Ordering::Relaxed);
    Ok(())
}

/// Times a group of `members` default-configured consumers: from subscribe
/// until every partition is assigned to exactly one member, then from one
/// member closing until the others cover its partitions.
pub fn group(a: GroupArgs) -> Result<()> {
    let make = || -> Result<BaseConsumer> {
        Ok(ClientConfig::new()
            .set("bootstrap.servers", &a.bootstrap_server)
            .set("group.id", "logship-bench-group")
            .create()?)
    };
    let partitions = {
        let c = make()?;
        let md = c.fetch_metadata(Some(&a.topic), Duration::from_secs(10))?;
        md.topics()[0].partitions().len()
    };
    let covered = |members: &[BaseConsumer]| -> bool {
        let mut seen = Vec::new();
        for m in members {
            let _ = m.poll(Duration::from_millis(10));
            if let Ok(tpl) = m.assignment() {
                seen.extend(tpl.elements().iter().map(|e| e.partition()));
            }
        }
        seen.sort_unstable();
        seen.len() == partitions
            && seen.windows(2).all(|w| w[0] != w[1])
            && members
                .iter()
                .all(|m| m.assignment().map(|t| t.count() > 0).unwrap_or(false))
    };
    let started = Instant::now();
    let mut members = (0..a.members).map(|_| make()).collect::<Result<Vec<_>>>()?;
    for m in &members {
        m.subscribe(&[&a.topic])?;
    }
    while !covered(&members) {
        if started.elapsed() > Duration::from_secs(120) {
            bail!("group did not stabilise");
        }
    }
    let join_secs = started.elapsed().as_secs_f64();
    let leaving = members.pop().expect("at least one member");
    let left = Instant::now();
    drop(leaving); // close: LeaveGroup
    while !covered(&members) {
        if left.elapsed() > Duration::from_secs(120) {
            bail!("group did not rebalance");
        }
    }
    println!(
        "group members={} partitions={partitions} stable_secs={join_secs:.3} rebalance_after_leave_secs={:.3}",
        a.members,
        left.elapsed().as_secs_f64()
    );
    Ok(())
}
