//! The collector as a Kafka broker, driven by librdkafka through the
//! rdkafka crate: produce/consume round trips, compression, idempotence,
//! topic administration, timestamps and long-polling consumers.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rdkafka::admin::{
    AdminClient, AdminOptions, NewPartitions, NewTopic, ResourceSpecifier, TopicReplication,
};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::{Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};

use crate::util::*;

fn config(bootstrap: &str) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap);
    c
}

pub fn producer(
    bootstrap: &str,
    extra: &[(&str, &str)],
) -> ThreadedProducer<DefaultProducerContext> {
    let mut c = config(bootstrap);
    c.set("linger.ms", "5");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    c.create().expect("producer")
}

/// Reads every record of `topic` from the beginning until `count` arrived.
pub fn consume_all(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: usize,
) -> Vec<rdkafka::message::OwnedMessage> {
    consume_all_with(bootstrap, topic, partitions, count, &[])
}

/// [`consume_all`] with `extra` consumer settings.
pub fn consume_all_with(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    count: usize,
    extra: &[(&str, &str)],
) -> Vec<rdkafka::message::OwnedMessage> {
    let mut c = config(bootstrap);
    c.set("group.id", "rdkafka-test")
        .set("enable.auto.commit", "false");
    for (k, v) in extra {
        c.set(*k, *v);
    }
    let consumer: BaseConsumer = c.create().expect("consumer");
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition_offset(topic, p, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&tpl).unwrap();
    let mut out = Vec::with_capacity(count);
    let deadline = Instant::now() + Duration::from_secs(60);
    while out.len() < count {
        assert!(
            Instant::now() < deadline,
            "only {} of {count} records consumed",
            out.len()
        );
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            out.push(m.expect("consume error").detach());
        }
    }
    out
}

fn flush(p: &ThreadedProducer<DefaultProducerContext>) {
    p.flush(Duration::from_secs(30)).expect("flush");
}

#[test]
fn hundred_thousand_records_round_trip_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let bootstrap = running.kafka.to_string();
    let admin: AdminClient<DefaultClientContext> = config(&bootstrap).create().unwrap();
    let topic = NewTopic::new("roundtrip", 3, TopicReplication::Fixed(1));
    let created = futures_executor(admin.create_topics([&topic], &AdminOptions::new()));
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");

    let p = producer(
        &bootstrap,
        &[("enable.idempotence", "true"), ("compression.type", "lz4")],
    );
    let n = 100_000usize;
    for i in 0..n {
        let key = format!("key-{i}");
        let value = format!("value-{i}-{}", "x".repeat(i % 50));
        let headers = OwnedHeaders::new().insert(Header {
            key: "seq",
            value: Some(&i.to_string()),
        });
        loop {
            let r = BaseRecord::to("roundtrip")
                .key(&key)
                .payload(&value)
                .timestamp(1_700_000_000_000 + i as i64)
                .headers(headers.clone());
            match p.send(r) {
                Ok(()) => break,
                Err((e, _)) => {
                    assert!(e.to_string().contains("Queue full"), "{e}");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    flush(&p);
    let got = consume_all(&bootstrap, "roundtrip", 3, n);
    assert_eq!(got.len(), n);
    let mut seen = vec![false; n];
    let mut last_offset: HashMap<i32, i64> = HashMap::new();
    for m in &got {
        let i: usize = std::str::from_utf8(m.headers().unwrap().get(0).value.unwrap())
            .unwrap()
            .parse()
            .unwrap();
        assert!(!seen[i], "record {i} delivered twice");
        seen[i] = true;
        assert_eq!(m.key().unwrap(), format!("key-{i}").as_bytes());
        assert_eq!(
            m.payload().unwrap(),
            format!("value-{i}-{}", "x".repeat(i % 50)).as_bytes()
        );
        assert_eq!(
            m.timestamp().to_millis(),
            Some(1_700_000_000_000 + i as i64)
        );
        let prev = last_offset.insert(m.partition(), m.offset());
        assert!(
            prev.is_none_or(|o| o + 1 == m.offset()),
            "offsets not contiguous"
        );
    }
    assert!(seen.iter().all(|s| *s));
}

/// The value of record `i` in the sendfile test: sizes from a few bytes
/// to several KiB, so batches and segment ends fall everywhere.
fn varied_value(i: usize) -> Vec<u8> {
    let mut v = format!("record-{i}:").into_bytes();
    v.extend((0..(i * 37) % 6_000).map(|j| (i + j) as u8));
    v
}

/// On a plaintext connection record sets go from the segment files to the
/// socket with sendfile(2): a partition spread over many 64 KiB segments,
/// consumed by librdkafka with its default fetch sizes and with a
/// partition limit smaller than one batch, arrives byte for byte and in
/// order, and every fetched byte went by sendfile.
#[test]
fn plaintext_fetches_send_record_sets_from_segment_files() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let bootstrap = running.kafka.to_string();
    let admin: AdminClient<DefaultClientContext> = config(&bootstrap).create().unwrap();
    let topic =
        NewTopic::new("zerocopy", 1, TopicReplication::Fixed(1)).set("segment.bytes", "65536");
    let created = futures_executor(admin.create_topics([&topic], &AdminOptions::new()));
    assert!(created.iter().all(|r| r.is_ok()), "{created:?}");

    let p = producer(&bootstrap, &[("batch.size", "100000")]);
    let n = 6_000usize;
    for i in 0..n {
        let value = varied_value(i);
        loop {
            match p.send(BaseRecord::<(), _>::to("zerocopy").payload(&value)) {
                Ok(()) => break,
                Err((e, _)) => {
                    assert!(e.to_string().contains("Queue full"), "{e}");
                    std::thread::sleep(Duration::from_millis(5));
                }
            }
        }
    }
    flush(&p);
    let segments = std::fs::read_dir(dir.path().join("data/zerocopy-0"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().extension() == Some("log".as_ref()))
        .count();
    assert!(segments > 50, "only {segments} segments");

    for extra in [&[][..], &[("max.partition.fetch.bytes", "1000")][..]] {
        let got = consume_all_with(&bootstrap, "zerocopy", 1, n, extra);
        for (i, m) in got.iter().enumerate() {
            assert_eq!(m.offset(), i as i64, "{extra:?}");
            assert!(
                m.payload() == Some(&varied_value(i)[..]),
                "{extra:?}: record {i} differs"
            );
        }
    }
    let (_, metrics) = http_get(running.http, "/metrics");
    let fetched = metric(&metrics, "logship_collector_kafka_fetched_bytes_total").unwrap();
    let sent = metric(
        &metrics,
        "logship_collector_kafka_fetch_sendfile_bytes_total",
    )
    .unwrap();
    assert!(fetched > 1.5 * 6_000.0 * 3_000.0, "fetched {fetched} bytes");
    // The writer counts a record set once it is sent; the last fetch's may
    // still be on its way when the consumer already has its records.
    assert!(
        sent > 0.9 * fetched && sent <= fetched,
        "sendfile {sent} of {fetched} bytes"
    );
}

#[test]
fn every_compression_codec_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let bootstrap = running.kafka.to_string();
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        let topic = format!("codec-{codec}");
        let p = producer(&bootstrap, &[("compression.type", codec)]);
        for i in 0..500 {
            p.send(
                BaseRecord::<(), _>::to(&topic)
                    .payload(&format!("{codec} record {i} {}", "abc".repeat(20))),
            )
            .unwrap();
        }
        flush(&p);
        let got = consume_all(&bootstrap, &topic, 1, 500);
        for (i, m) in got.iter().enumerate() {
            assert_eq!(m.offset(), i as i64);
            assert_eq!(
                m.payload().unwrap(),
                format!("{codec} record {i} {}", "abc".repeat(20)).as_bytes()
            );
        }
    }
    // The collector stored the batches verbatim, compressed.
    let (_, metrics) = http_get(running.http, "/metrics");
    let size = metric(
        &metrics,
        "logship_collector_log_size_bytes{topic=\"codec-zstd\"}",
    )
    .unwrap();
    let plain = metric(
        &metrics,
        "logship_collector_log_size_bytes{topic=\"codec-none\"}",
    )
    .unwrap();
    assert!(size * 3.0 < plain, "zstd {size} vs none {plain}");
}

#[test]
fn topic_administration_through_the_admin_client() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let bootstrap = running.kafka.to_string();
    let admin: AdminClient<DefaultClientContext> = config(&bootstrap).create().unwrap();
    let opts = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));

    // validate_only creates nothing.
    let dry = NewTopic::new("admin-dry", 2, TopicReplication::Fixed(1));
    let r = futures_executor(admin.create_topics([&dry], &AdminOptions::new().validate_only(true)));
    assert!(r[0].is_ok(), "{r:?}");
    let t = NewTopic::new("admin-t", 2, TopicReplication::Fixed(1)).set("retention.ms", "3600000");
    let r = futures_executor(admin.create_topics([&t], &opts));
    assert!(r[0].is_ok(), "{r:?}");
    let dup = futures_executor(admin.create_topics([&t], &opts));
    assert!(
        format!("{:?}", dup[0]).contains("TopicAlreadyExists"),
        "{dup:?}"
    );
    let bad = NewTopic::new("admin-bad", 1, TopicReplication::Fixed(3));
    let r = futures_executor(admin.create_topics([&bad], &opts));
    assert!(
        format!("{r:?}").contains("InvalidReplicationFactor"),
        "{r:?}"
    );
    let bad =
        NewTopic::new("admin-badcfg", 1, TopicReplication::Fixed(1)).set("retention.ms", "soon");
    let r = futures_executor(admin.create_topics([&bad], &opts));
    assert!(format!("{r:?}").contains("InvalidConfig"), "{r:?}");

    let consumer: BaseConsumer = config(&bootstrap).create().unwrap();
    let md = consumer
        .fetch_metadata(None, Duration::from_secs(5))
        .unwrap();
    let names: Vec<&str> = md.topics().iter().map(|t| t.name()).collect();
    assert!(
        names.contains(&"admin-t") && !names.contains(&"admin-dry"),
        "{names:?}"
    );

    let configs =
        futures_executor(admin.describe_configs([&ResourceSpecifier::Topic("admin-t")], &opts));
    let resource = configs[0].as_ref().unwrap();
    let retention = resource.get("retention.ms").unwrap();
    assert_eq!(retention.value.as_deref(), Some("3600000"));
    assert!(!retention.is_default);
    assert!(resource.get("segment.bytes").unwrap().is_default);

    let r = futures_executor(admin.create_partitions([&NewPartitions::new("admin-t", 5)], &opts));
    assert!(r[0].is_ok(), "{r:?}");
    let md = consumer
        .fetch_metadata(Some("admin-t"), Duration::from_secs(5))
        .unwrap();
    assert_eq!(md.topics()[0].partitions().len(), 5);

    let r = futures_executor(admin.delete_topics(&["admin-t"], &opts));
    assert!(r[0].is_ok(), "{r:?}");
    let r = futures_executor(admin.delete_topics(&["admin-t"], &opts));
    assert!(
        format!("{r:?}").contains("UnknownTopicOrPartition"),
        "{r:?}"
    );
}

#[test]
fn offsets_by_time_and_long_polling_consumers() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let bootstrap = running.kafka.to_string();
    let p = producer(&bootstrap, &[("linger.ms", "0")]);
    for i in 0..100i64 {
        p.send(
            BaseRecord::<(), _>::to("times")
                .payload("x")
                .timestamp(1_000_000 + i * 10),
        )
        .unwrap();
        flush(&p);
    }
    let consumer: BaseConsumer = config(&bootstrap).set("group.id", "t").create().unwrap();
    let mut q = TopicPartitionList::new();
    q.add_partition_offset("times", 0, Offset::Offset(1_000_455))
        .unwrap();
    let found = consumer
        .offsets_for_times(q, Duration::from_secs(5))
        .unwrap();
    assert_eq!(
        found.find_partition("times", 0).unwrap().offset(),
        Offset::Offset(46)
    );
    let (low, high) = consumer
        .fetch_watermarks("times", 0, Duration::from_secs(5))
        .unwrap();
    assert_eq!((low, high), (0, 100));

    // A consumer waiting at the end is woken by the append, well before
    // fetch.wait.max.ms.
    let waiting: BaseConsumer = config(&bootstrap)
        .set("group.id", "t")
        .set("fetch.wait.max.ms", "5000")
        .create()
        .unwrap();
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset("times", 0, Offset::Offset(100))
        .unwrap();
    waiting.assign(&tpl).unwrap();
    let _ = waiting.poll(Duration::from_millis(500));
    let sent = Instant::now();
    p.send(BaseRecord::<(), _>::to("times").payload("late"))
        .unwrap();
    flush(&p);
    let m = loop {
        if let Some(m) = waiting.poll(Duration::from_millis(100)) {
            break m.unwrap();
        }
        assert!(sent.elapsed() < Duration::from_secs(10));
    };
    assert_eq!(m.payload().unwrap(), b"late");
    assert!(
        sent.elapsed() < Duration::from_millis(2500),
        "took {:?}",
        sent.elapsed()
    );
}

#[test]
fn many_consumers_reread_from_the_beginning_while_producers_append() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let bootstrap = running.kafka.to_string();
    let p = producer(&bootstrap, &[]);
    for i in 0..1000 {
        p.send(BaseRecord::<(), _>::to("seed").payload(&format!("seed-{i}")))
            .unwrap();
    }
    flush(&p);
    let writer = {
        let bootstrap = bootstrap.clone();
        std::thread::spawn(move || {
            let p = producer(&bootstrap, &[]);
            for i in 1000..3000 {
                p.send(BaseRecord::<(), _>::to("seed").payload(&format!("seed-{i}")))
                    .unwrap();
                if i % 100 == 0 {
                    std::thread::sleep(Duration::from_millis(10));
                }
            }
            flush(&p);
        })
    };
    let readers: Vec<_> = (0..4)
        .map(|_| {
            let bootstrap = bootstrap.clone();
            std::thread::spawn(move || {
                for _ in 0..2 {
                    let got = consume_all(&bootstrap, "seed", 1, 1000);
                    for (i, m) in got.iter().enumerate() {
                        assert_eq!(m.payload().unwrap(), format!("seed-{i}").as_bytes());
                    }
                }
            })
        })
        .collect();
    for r in readers {
        r.join().unwrap();
    }
    writer.join().unwrap();
    let got = consume_all(&bootstrap, "seed", 1, 3000);
    assert_eq!(got[2999].payload().unwrap(), b"seed-2999");
}

/// Drives an admin future to completion without a tokio runtime in the test.
fn futures_executor<T, E: std::fmt::Debug>(
    f: impl std::future::Future<Output = Result<Vec<T>, E>>,
) -> Vec<T> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(f).expect("admin request")
}
