//! In-place view of Kafka RecordBatch v2 headers.
//!
//! The broker path never decodes records (docs/design.md, Storage): a batch starts
//! with a fixed 61-byte header whose fields sit at documented offsets, so the
//! collector reads them in place, checks CRC-32C over the rest, and rewrites
//! only the 8-byte base offset, which lies outside the CRC. Building and
//! reading records is `kafka-protocol`'s job (tests, CLI, agent). The agent's
//! tests check their batches with the same [`validate_incoming`] the
//! collector applies to them.

use std::fmt;

/// Bytes before `batchLength`'s payload: baseOffset (8) + batchLength (4).
pub const LOG_OVERHEAD: usize = 12;
/// Size of the fixed RecordBatch v2 header.
pub const HEADER_LEN: usize = 61;

/// Smallest encoded record: seven one-byte varints and fields.
const MIN_RECORD_LEN: usize = 7;
const MAGIC_AT: usize = 16;
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const LAST_OFFSET_DELTA_AT: usize = 23;
const BASE_TIMESTAMP_AT: usize = 27;
const MAX_TIMESTAMP_AT: usize = 35;
const PRODUCER_ID_AT: usize = 43;
const PRODUCER_EPOCH_AT: usize = 51;
const BASE_SEQUENCE_AT: usize = 53;
const RECORD_COUNT_AT: usize = 57;

/// Why a batch was refused. Stored data is never touched when one occurs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BatchError {
    /// Fewer bytes than the header or the declared length.
    Truncated { needed: usize, available: usize },
    /// A magic byte other than 2 (message sets v0/v1 are not accepted).
    UnsupportedMagic(i8),
    /// The stored CRC-32C does not match the bytes.
    CrcMismatch { stored: u32, computed: u32 },
    /// Header fields that cannot describe a valid batch.
    Invalid(&'static str),
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Truncated { needed, available } => {
                write!(f, "truncated batch: need {needed} bytes, have {available}")
            }
            BatchError::UnsupportedMagic(m) => {
                write!(
                    f,
                    "unsupported record batch magic {m} (only v2 is accepted)"
                )
            }
            BatchError::CrcMismatch { stored, computed } => {
                write!(
                    f,
                    "CRC-32C mismatch: stored {stored:#010x}, computed {computed:#010x}"
                )
            }
            BatchError::Invalid(why) => write!(f, "invalid batch header: {why}"),
        }
    }
}

impl std::error::Error for BatchError {}

/// The fixed header fields of one RecordBatch v2, read in place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    /// Bytes after the `batchLength` field.
    pub batch_length: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub record_count: i32,
}

fn i16_at(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}
fn i32_at(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn i64_at(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl BatchHeader {
    /// Reads the header at the start of `buf`. Checks only that the header is
    /// present and its length field is sane, not the magic or CRC.
    pub fn parse(buf: &[u8]) -> Result<Self, BatchError> {
        if buf.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                needed: HEADER_LEN,
                available: buf.len(),
            });
        }
        let header = BatchHeader {
            base_offset: i64_at(buf, 0),
            batch_length: i32_at(buf, 8),
            magic: buf[MAGIC_AT] as i8,
            crc: u32::from_be_bytes(buf[CRC_AT..CRC_AT + 4].try_into().expect("4 bytes")),
            attributes: i16_at(buf, ATTRIBUTES_AT),
            last_offset_delta: i32_at(buf, LAST_OFFSET_DELTA_AT),
            base_timestamp: i64_at(buf, BASE_TIMESTAMP_AT),
            max_timestamp: i64_at(buf, MAX_TIMESTAMP_AT),
            producer_id: i64_at(buf, PRODUCER_ID_AT),
            producer_epoch: i16_at(buf, PRODUCER_EPOCH_AT),
            base_sequence: i32_at(buf, BASE_SEQUENCE_AT),
            record_count: i32_at(buf, RECORD_COUNT_AT),
        };
        if (header.batch_length as i64) < (HEADER_LEN - LOG_OVERHEAD) as i64 {
            return Err(BatchError::Invalid("batch length shorter than its header"));
        }
        Ok(header)
    }

    /// Whole size of the batch on disk, header included.
    pub fn total_len(&self) -> usize {
        LOG_OVERHEAD + self.batch_length as usize
    }

    /// Offset of the batch's last record.
    pub fn last_offset(&self) -> i64 {
        self.base_offset + self.last_offset_delta as i64
    }

    /// The offset that follows this batch.
    pub fn next_offset(&self) -> i64 {
        self.last_offset() + 1
    }

    /// Kafka codec id from the attributes (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd).
    pub fn compression(&self) -> i16 {
        self.attributes & 0x7
    }

    /// Whether the producer set idempotence fields on this batch.
    pub fn has_producer_id(&self) -> bool {
        self.producer_id >= 0
    }
}

/// Checks one complete batch at the start of `buf`: header, magic, length
/// and CRC-32C over attributes through the end of the batch.
pub fn check(buf: &[u8]) -> Result<BatchHeader, BatchError> {
    let header = BatchHeader::parse(buf)?;
    if header.magic != 2 {
        return Err(BatchError::UnsupportedMagic(header.magic));
    }
    let total = header.total_len();
    if buf.len() < total {
        return Err(BatchError::Truncated {
            needed: total,
            available: buf.len(),
        });
    }
    if header.last_offset_delta < 0 || header.record_count < 0 {
        return Err(BatchError::Invalid("negative record count or offset delta"));
    }
    let computed = crc32c::crc32c(&buf[ATTRIBUTES_AT..total]);
    if computed != header.crc {
        return Err(BatchError::CrcMismatch {
            stored: header.crc,
            computed,
        });
    }
    Ok(header)
}

/// Validates a producer's buffer of one or more batches as it arrives: each
/// must pass [`check`], hold at least one record, and have a last offset delta
/// of `record_count - 1` (what every producer writes). Returns the headers.
pub fn validate_incoming(buf: &[u8]) -> Result<Vec<BatchHeader>, BatchError> {
    if buf.is_empty() {
        return Err(BatchError::Invalid("empty record set"));
    }
    let mut headers = Vec::with_capacity(1);
    let mut at = 0;
    while at < buf.len() {
        let header = check(&buf[at..])?;
        if header.record_count == 0 || header.last_offset_delta != header.record_count - 1 {
            return Err(BatchError::Invalid(
                "record count does not match last offset delta",
            ));
        }
        // An uncompressed record takes at least 7 bytes (length, attributes,
        // timestamp and offset deltas, key and value lengths, header count),
        // so a count the payload cannot hold is a lie that would also push
        // the log's offsets forward for nothing.
        let payload = header.total_len() - HEADER_LEN;
        if header.compression() == 0 && header.record_count as usize > payload / MIN_RECORD_LEN {
            return Err(BatchError::Invalid(
                "record count larger than the records present",
            ));
        }
        at += header.total_len();
        headers.push(header);
    }
    Ok(headers)
}

/// Rewrites the base offset of the batch at the start of `buf` in place.
/// The base offset lies outside the CRC, so the batch stays valid.
pub fn set_base_offset(buf: &mut [u8], base_offset: i64) {
    buf[..8].copy_from_slice(&base_offset.to_be_bytes());
}

/// One record for [`encode`].
pub struct NewRecord {
    pub key: Option<bytes::Bytes>,
    pub value: Option<bytes::Bytes>,
    pub timestamp: i64,
}

/// Encodes `records` as one RecordBatch v2 through `kafka-protocol`, with
/// an idempotent producer's `(id, epoch, first sequence)` if given. For
/// tests, benchmarks and tools: the broker path never encodes records.
pub fn encode(
    records: &[NewRecord],
    producer: Option<(i64, i16, i32)>,
    compression: kafka_protocol::records::Compression,
) -> Vec<u8> {
    use kafka_protocol::records::{Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType};
    let (producer_id, producer_epoch, first_seq) = producer.unwrap_or((-1, -1, 0));
    let records: Vec<Record> = records
        .iter()
        .enumerate()
        .map(|(i, r)| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id,
            producer_epoch,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            // kafka-protocol starts a new batch whenever offset minus
            // sequence changes, so keep them in step.
            sequence: first_seq + i as i32,
            timestamp: r.timestamp,
            key: r.key.clone(),
            value: r.value.clone(),
            headers: Default::default(),
        })
        .collect();
    let mut buf = bytes::BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression,
        },
    )
    .expect("encoding records into a buffer cannot fail");
    buf.to_vec()
}

/// Batch builders for tests (this crate's, and the collector's through the
/// `test-util` feature).
#[cfg(any(test, feature = "test-util"))]
pub mod testing {
    use super::{encode, NewRecord};
    use bytes::Bytes;
    use kafka_protocol::records::Compression;

    /// Encodes `count` records of `value_len` bytes.
    pub fn encode_batch(count: usize, value_len: usize, timestamp: i64) -> Vec<u8> {
        encode_idempotent(-1, -1, 0, count, value_len, timestamp)
    }

    /// A batch from an idempotent producer starting at sequence `seq`
    /// (`producer_id` -1: no producer fields).
    pub fn encode_idempotent(
        producer_id: i64,
        epoch: i16,
        seq: i32,
        count: usize,
        value_len: usize,
        timestamp: i64,
    ) -> Vec<u8> {
        let records: Vec<NewRecord> = (0..count)
            .map(|i| NewRecord {
                key: Some(Bytes::from(format!("key-{i}"))),
                value: Some(Bytes::from(vec![b'a' + (i % 26) as u8; value_len])),
                timestamp: timestamp + i as i64,
            })
            .collect();
        let producer = (producer_id >= 0).then_some((producer_id, epoch, seq));
        encode(&records, producer, Compression::None)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::encode_batch;
    use super::*;

    #[test]
    fn reads_header_fields_written_by_kafka_protocol() {
        let buf = encode_batch(3, 10, 1_000);
        let h = check(&buf).unwrap();
        assert_eq!(h.magic, 2);
        assert_eq!(h.record_count, 3);
        assert_eq!(h.last_offset_delta, 2);
        assert_eq!(h.base_timestamp, 1_000);
        assert_eq!(h.max_timestamp, 1_002);
        assert_eq!(h.total_len(), buf.len());
        assert_eq!(validate_incoming(&buf).unwrap().len(), 1);
    }

    #[test]
    fn base_offset_rewrite_keeps_crc_valid() {
        let mut buf = encode_batch(2, 5, 0);
        set_base_offset(&mut buf, 42);
        let h = check(&buf).unwrap();
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.last_offset(), 43);
    }

    #[test]
    fn rejects_flipped_byte_bad_magic_and_truncation() {
        let buf = encode_batch(2, 5, 0);
        let mut flipped = buf.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 0x01;
        assert!(matches!(
            check(&flipped),
            Err(BatchError::CrcMismatch { .. })
        ));
        let mut magic = buf.clone();
        magic[MAGIC_AT] = 1;
        assert_eq!(check(&magic), Err(BatchError::UnsupportedMagic(1)));
        assert!(matches!(
            check(&buf[..buf.len() - 1]),
            Err(BatchError::Truncated { .. })
        ));
        assert!(matches!(
            check(&buf[..20]),
            Err(BatchError::Truncated { .. })
        ));
        assert!(validate_incoming(&[]).is_err());
    }

    #[test]
    fn multiple_batches_validate_and_trailing_garbage_does_not() {
        let mut buf = encode_batch(2, 5, 0);
        buf.extend(encode_batch(4, 5, 0));
        assert_eq!(validate_incoming(&buf).unwrap().len(), 2);
        buf.extend_from_slice(&[0u8; 7]);
        assert!(validate_incoming(&buf).is_err());
    }

    #[test]
    fn uncompressed_record_count_must_fit_the_payload() {
        let mut buf = encode_batch(1, 3, 0);
        // Claim 2^31-1 records (and the matching delta), with a valid CRC.
        buf[LAST_OFFSET_DELTA_AT..LAST_OFFSET_DELTA_AT + 4]
            .copy_from_slice(&(i32::MAX - 1).to_be_bytes());
        buf[RECORD_COUNT_AT..RECORD_COUNT_AT + 4].copy_from_slice(&i32::MAX.to_be_bytes());
        let crc = crc32c::crc32c(&buf[ATTRIBUTES_AT..]);
        buf[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
        assert!(check(&buf).is_ok());
        assert!(matches!(
            validate_incoming(&buf),
            Err(BatchError::Invalid(_))
        ));
    }

    proptest::proptest! {
        #[test]
        fn check_never_panics_on_random_bytes(bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            let _ = check(&bytes);
            let _ = validate_incoming(&bytes);
        }
    }
}
