//! Turning lines into one Kafka RecordBatch v2 (encoded by the
//! `kafka-protocol` crate) with the stream's producer id, epoch and first
//! sequence, compressed with the configured codec. gzip, zstd and lz4 are
//! compressed here at their fast levels (the crate's built-in codecs use
//! slow defaults); snappy uses the crate's.

use std::fmt::Write as _;
use std::io::Write;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;
use kafka_protocol::records::{
    Compression as Codec, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

use crate::config::{Compression, Encoding};

/// One record to be.
#[derive(Debug, Clone)]
pub struct OutRecord {
    pub value: Bytes,
    /// Byte offset of the line in its file (the `offset` header).
    pub offset: u64,
    pub timestamp: i64,
}

/// What every record of a stream carries besides its line.
#[derive(Debug, Clone)]
pub struct StreamMeta {
    pub host: Bytes,
    pub path: Bytes,
    pub labels: Vec<(StrBytes, Bytes)>,
    pub encoding: Encoding,
}

/// The idempotent producer fields of a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProducerFields {
    pub id: i64,
    pub epoch: i16,
    pub first_sequence: i32,
}

/// Where the `offset` header sits in a record's header map.
const OFFSET_HEADER: usize = 2;

/// Encodes `records` as one batch. Errors only if a codec fails.
pub fn encode(
    records: &[OutRecord],
    meta: &StreamMeta,
    producer: ProducerFields,
    compression: Compression,
) -> std::io::Result<Bytes> {
    let host = StrBytes::from_static_str("host");
    let path = StrBytes::from_static_str("path");
    let offset = StrBytes::from_static_str("offset");
    // Every record's offset header, as decimal text, in one buffer.
    let mut text = BytesMut::with_capacity(records.len() * 12);
    let mut spans = Vec::with_capacity(records.len());
    for r in records {
        let start = text.len();
        write!(Digits(&mut text), "{}", r.offset).expect("writing to memory");
        spans.push(start..text.len());
    }
    let offsets = text.freeze();
    let mut template = IndexMap::with_capacity(3 + meta.labels.len());
    template.insert(host, Some(meta.host.clone()));
    template.insert(path, Some(meta.path.clone()));
    template.insert(offset, None);
    for (k, v) in &meta.labels {
        template.insert(k.clone(), Some(v.clone()));
    }
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let value = match meta.encoding {
                Encoding::Text => r.value.clone(),
                Encoding::Json => json_value(r, meta),
            };
            // A copy of the batch's header map (no key hashing per record)
            // with this line's offset filled in.
            let mut headers = template.clone();
            headers[OFFSET_HEADER] = Some(offsets.slice(spans[i].clone()));
            data_record(producer, i, r.timestamp, None, value, headers)
        })
        .collect();
    finish(&records, compression)
}

/// A record with its own key and headers (a journal entry).
#[derive(Debug, Clone, PartialEq)]
pub struct HeadedRecord {
    pub key: Option<Bytes>,
    pub value: Bytes,
    pub headers: IndexMap<StrBytes, Option<Bytes>>,
    /// Milliseconds since the epoch.
    pub timestamp: i64,
}

/// Encodes headed records as one batch with the producer fields.
pub fn encode_headed(
    records: &[HeadedRecord],
    producer: ProducerFields,
    compression: Compression,
) -> std::io::Result<Bytes> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            data_record(
                producer,
                i,
                r.timestamp,
                r.key.clone(),
                r.value.clone(),
                r.headers.clone(),
            )
        })
        .collect();
    finish(&records, compression)
}

/// One keyed record without headers (a metric sample).
#[derive(Debug, Clone)]
pub struct KeyedRecord {
    pub key: Bytes,
    pub value: Bytes,
    pub timestamp: i64,
}

/// Encodes keyed records as one batch without producer id (at-least-once
/// records: nothing to deduplicate).
pub fn encode_keyed(records: &[KeyedRecord], compression: Compression) -> std::io::Result<Bytes> {
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| {
            data_record(
                NO_PRODUCER,
                i,
                r.timestamp,
                Some(r.key.clone()),
                r.value.clone(),
                IndexMap::new(),
            )
        })
        .collect();
    finish(&records, compression)
}

/// The producer fields of a batch without a producer id (base sequence -1).
const NO_PRODUCER: ProducerFields = ProducerFields {
    id: -1,
    epoch: -1,
    first_sequence: -1,
};

/// The `i`th record of a batch from `producer`: a plain data record.
fn data_record(
    producer: ProducerFields,
    i: usize,
    timestamp: i64,
    key: Option<Bytes>,
    value: Bytes,
    headers: IndexMap<StrBytes, Option<Bytes>>,
) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: producer.id,
        producer_epoch: producer.epoch,
        timestamp_type: TimestampType::Creation,
        offset: i as i64,
        // kafka-protocol starts a new batch when offset minus sequence
        // changes; keep them in step.
        sequence: producer.first_sequence.wrapping_add(i as i32),
        timestamp,
        key,
        value: Some(value),
        headers,
    }
}

/// Batches whose records come to fewer bytes than this are sent
/// uncompressed: a codec's per-batch set-up (gzip's deflate state is about
/// 300 KiB, allocated and cleared per batch) costs far more than it saves on
/// a line or two, and each batch says its own codec.
pub const MIN_COMPRESS_BYTES: usize = 1024;

/// Encodes records into one batch with the codec at its fast level.
fn finish(records: &[Record], compression: Compression) -> std::io::Result<Bytes> {
    let small = records
        .iter()
        .map(|r| {
            16 + r.key.as_ref().map_or(0, |k| k.len()) + r.value.as_ref().map_or(0, |v| v.len())
        })
        .sum::<usize>()
        < MIN_COMPRESS_BYTES;
    let compression = if small {
        Compression::None
    } else {
        compression
    };
    let codec = match compression {
        Compression::None => Codec::None,
        Compression::Gzip => Codec::Gzip,
        Compression::Zstd => Codec::Zstd,
        Compression::Lz4 => Codec::Lz4,
        Compression::Snappy => Codec::Snappy,
    };
    let options = RecordEncodeOptions {
        version: 2,
        compression: codec,
    };
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode_with_custom_compression(&mut buf, records, &options, Some(compress))
        .map_err(std::io::Error::other)?;
    Ok(buf.freeze())
}

/// Compresses a batch's encoded records into `out` at the codec's fast level.
fn compress(plain: &mut BytesMut, out: &mut BytesMut, codec: Codec) -> anyhow::Result<()> {
    match codec {
        Codec::Gzip => {
            let mut e = flate2::write::GzEncoder::new(out.writer(), flate2::Compression::fast());
            e.write_all(plain)?;
            e.finish()?;
        }
        Codec::Zstd => {
            // One shot (no streaming window juggling): a standard frame.
            out.extend_from_slice(&zstd::bulk::compress(plain, 1)?);
        }
        Codec::Lz4 => {
            // No content checksum: the batch has its own CRC. Independent
            // blocks: Kafka's Java client refuses linked ones ("Dependent
            // block stream is unsupported").
            let mut e = lz4::EncoderBuilder::new()
                .level(0)
                .block_mode(lz4::BlockMode::Independent)
                .checksum(lz4::ContentChecksum::NoChecksum)
                .build(out.writer())?;
            e.write_all(plain)?;
            let (_, result) = e.finish();
            result?;
        }
        Codec::Snappy => {
            use kafka_protocol::compression::Compressor;
            kafka_protocol::compression::Snappy::compress(out, |b: &mut BytesMut| {
                b.extend_from_slice(plain);
                Ok(())
            })?;
        }
        Codec::None => out.extend_from_slice(plain),
    }
    Ok(())
}

/// `encoding: json`: the line and its metadata as one object.
pub fn json_value(r: &OutRecord, meta: &StreamMeta) -> Bytes {
    let mut obj = serde_json::Map::new();
    obj.insert(
        "message".into(),
        String::from_utf8_lossy(&r.value).into_owned().into(),
    );
    obj.insert(
        "host".into(),
        String::from_utf8_lossy(&meta.host).into_owned().into(),
    );
    obj.insert(
        "path".into(),
        String::from_utf8_lossy(&meta.path).into_owned().into(),
    );
    obj.insert("offset".into(), r.offset.into());
    obj.insert("timestamp".into(), r.timestamp.into());
    for (k, v) in &meta.labels {
        obj.insert(
            k.to_string(),
            String::from_utf8_lossy(v).into_owned().into(),
        );
    }
    Bytes::from(serde_json::to_vec(&obj).expect("a JSON map serializes"))
}

/// A fixed set of compression threads (one per core). Fixed threads rather
/// than tokio's blocking pool: each thread that allocates batch buffers gets
/// a glibc malloc arena that keeps its peak, so fewer threads means a
/// smaller resident set.
pub struct Encoders {
    jobs: std::sync::mpsc::Sender<Job>,
}

type Job = Box<dyn FnOnce() + Send>;

/// An encoded batch, or the error that stopped it.
pub type EncodeResult = std::io::Result<Bytes>;

impl Encoders {
    pub fn new(threads: usize) -> Encoders {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for i in 0..threads.max(1) {
            let queue = std::sync::Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("logship-encode-{i}"))
                .spawn(move || loop {
                    let job = queue.lock().unwrap_or_else(|e| e.into_inner()).recv();
                    match job {
                        Ok(job) => job(),
                        Err(_) => break, // every sender is gone
                    }
                })
                .expect("starting an encoder thread");
        }
        Encoders { jobs }
    }

    /// Runs an encoding job on a pool thread; the answer arrives on the
    /// receiver.
    pub fn run(
        &self,
        job: impl FnOnce() -> EncodeResult + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<EncodeResult> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(job());
        });
        // Threads only stop when this sender is dropped.
        let _ = self.jobs.send(job);
        rx
    }
}

/// `fmt::Write` into a byte buffer.
struct Digits<'a>(&'a mut BytesMut);

impl std::fmt::Write for Digits<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    fn meta(encoding: Encoding) -> StreamMeta {
        StreamMeta {
            host: Bytes::from_static(b"web-1"),
            path: Bytes::from_static(b"/var/log/app.log"),
            labels: vec![(
                StrBytes::from_static_str("env"),
                Bytes::from_static(b"prod"),
            )],
            encoding,
        }
    }

    #[test]
    fn batches_of_a_line_or_two_are_not_compressed() {
        let producer = ProducerFields {
            id: 1,
            epoch: 0,
            first_sequence: 0,
        };
        let attributes = |b: &Bytes| i16::from_be_bytes([b[21], b[22]]) & 0x7;
        let one = &records()[..1];
        let b = encode(one, &meta(Encoding::Text), producer, Compression::Gzip).unwrap();
        assert_eq!(attributes(&b), 0, "a one-line batch goes uncompressed");
        let b = encode(
            &records(),
            &meta(Encoding::Text),
            producer,
            Compression::Gzip,
        )
        .unwrap();
        assert_eq!(attributes(&b), 1, "a batch of 50 lines is gzipped");
    }

    #[test]
    fn lz4_frames_have_independent_blocks_as_kafkas_java_client_requires() {
        let b = encode(
            &records(),
            &meta(Encoding::Text),
            ProducerFields {
                id: 1,
                epoch: 0,
                first_sequence: 0,
            },
            Compression::Lz4,
        )
        .unwrap();
        // The records follow the 61-byte batch header: an LZ4 frame, magic
        // then FLG, whose bit 5 is block independence.
        assert_eq!(&b[61..65], &[0x04, 0x22, 0x4d, 0x18]);
        assert_eq!(b[65] & 0x20, 0x20, "FLG {:#04x}", b[65]);
        assert_eq!(b[65] & 0x04, 0, "no content checksum");
    }

    fn records() -> Vec<OutRecord> {
        (0..50)
            .map(|i| OutRecord {
                value: Bytes::from(format!("GET /index.html {i}")),
                offset: i * 20,
                timestamp: 1_700_000_000_000 + i as i64,
            })
            .collect()
    }

    #[test]
    fn every_codec_round_trips_through_kafka_protocol_and_the_collector_check() {
        let producer = ProducerFields {
            id: 7,
            epoch: 0,
            first_sequence: 100,
        };
        for c in [
            Compression::None,
            Compression::Gzip,
            Compression::Zstd,
            Compression::Lz4,
            Compression::Snappy,
        ] {
            let bytes = encode(&records(), &meta(Encoding::Text), producer, c).unwrap();
            // The collector's own validation accepts it.
            let headers = logship_common::batch::validate_incoming(&bytes).unwrap();
            assert_eq!(headers.len(), 1, "{c:?}");
            assert_eq!(headers[0].base_sequence, 100);
            assert_eq!(headers[0].producer_id, 7);
            let mut b = bytes.clone();
            let set = RecordBatchDecoder::decode(&mut b).unwrap();
            assert_eq!(set.records.len(), 50, "{c:?}");
            let r = &set.records[3];
            assert_eq!(r.value.as_deref(), Some(&b"GET /index.html 3"[..]));
            let header = |k: &'static str| {
                r.headers[&StrBytes::from_static_str(k)]
                    .as_deref()
                    .unwrap()
                    .to_vec()
            };
            assert_eq!(header("offset"), b"60");
            assert_eq!(header("host"), b"web-1");
            assert_eq!(header("env"), b"prod");
            assert_eq!(r.sequence, 103);
        }
    }

    #[test]
    fn json_encoding_wraps_the_line() {
        let producer = ProducerFields {
            id: 1,
            epoch: 0,
            first_sequence: 0,
        };
        let mut b = encode(
            &records()[..1],
            &meta(Encoding::Json),
            producer,
            Compression::None,
        )
        .unwrap();
        let set = RecordBatchDecoder::decode(&mut b).unwrap();
        let v: serde_json::Value =
            serde_json::from_slice(set.records[0].value.as_ref().unwrap()).unwrap();
        assert_eq!(v["message"], "GET /index.html 0");
        assert_eq!(v["path"], "/var/log/app.log");
        assert_eq!(v["env"], "prod");
        assert_eq!(v["offset"], 0);
    }
}
