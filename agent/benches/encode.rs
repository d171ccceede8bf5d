//! The agent's inner loop: turning ~512 KiB of access-log lines (a default
//! batch) into one compressed Kafka RecordBatch v2, per codec, against the
//! baseline of compressing the same lines alone with the same codec and
//! level. The ratio of the two is the cost of records, headers and
//! framing on top of compression (bench/history/2026-12-03.md).
//!
//!   cargo bench -p logship-agent --bench encode

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use kafka_protocol::protocol::StrBytes;
use logship_agent::batch::{encode, OutRecord, ProducerFields, StreamMeta};
use logship_agent::config::{Compression, Encoding};
use std::io::Write;

/// ~200-byte access-log lines, 512 KiB of them.
fn lines() -> Vec<OutRecord> {
    let mut out = Vec::new();
    let mut offset = 0u64;
    let mut i = 0u64;
    while offset < 512 * 1024 {
        let line = format!(
            "10.{}.{}.{} - - [25/Nov/2026:15:{:02}:{:02} +0000] \"GET /api/v1/items/{} HTTP/1.1\" {} {} \"-\" \"Mozilla/5.0 (X11; Linux x86_64) bench/{}\"",
            i % 256, (i / 7) % 256, (i * 13) % 256, i % 60, (i / 60) % 60, i * 7919 % 100_000,
            [200, 200, 200, 304, 404, 500][(i % 6) as usize], 512 + i * 37 % 40_000, i % 17
        );
        let len = line.len() as u64 + 1;
        out.push(OutRecord {
            value: Bytes::from(line),
            offset,
            timestamp: 1_795_000_000_000 + i as i64,
        });
        offset += len;
        i += 1;
    }
    out
}

/// The baseline: the same lines, newline-separated, through the same codec
/// at the same level as the agent uses.
fn compress_only(text: &[u8], codec: Compression) -> usize {
    match codec {
        Compression::Gzip => {
            let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            e.write_all(text).unwrap();
            e.finish().unwrap().len()
        }
        Compression::Zstd => zstd::bulk::compress(text, 1).unwrap().len(),
        Compression::Lz4 => {
            let mut e = lz4::EncoderBuilder::new()
                .level(0)
                .block_mode(lz4::BlockMode::Independent)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(Vec::new())
                .unwrap();
            e.write_all(text).unwrap();
            let (v, r) = e.finish();
            r.unwrap();
            v.len()
        }
        _ => text.len(),
    }
}

fn bench(c: &mut Criterion) {
    let records = lines();
    let text: Vec<u8> = records
        .iter()
        .flat_map(|r| r.value.iter().copied().chain(std::iter::once(b'\n')))
        .collect();
    let meta = StreamMeta {
        host: Bytes::from_static(b"web-1"),
        path: Bytes::from_static(b"/var/log/nginx/access.log"),
        labels: vec![(
            StrBytes::from_static_str("env"),
            Bytes::from_static(b"prod"),
        )],
        encoding: Encoding::Text,
    };
    let producer = ProducerFields {
        id: 7,
        epoch: 0,
        first_sequence: 0,
    };
    let mut group = c.benchmark_group("batch_512KiB");
    group.throughput(Throughput::Bytes(text.len() as u64));
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Zstd,
        Compression::Lz4,
    ] {
        group.bench_with_input(
            BenchmarkId::new("encode", codec.as_str()),
            &codec,
            |b, &codec| b.iter(|| encode(&records, &meta, producer, codec).unwrap().len()),
        );
        group.bench_with_input(
            BenchmarkId::new("compress_only", codec.as_str()),
            &codec,
            |b, &codec| b.iter(|| compress_only(&text, codec)),
        );
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
