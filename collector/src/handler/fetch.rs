//! Fetch: whole batches from each requested partition, starting with the
//! batch that contains the fetch offset, within `partition_max_bytes` and
//! `max_bytes` (the first non-empty partition always gets at least one
//! batch). With fewer than `min_bytes` available it long-polls, woken by
//! appends, until `max_wait_ms`. No transactions: last stable offset = high
//! watermark.
//!
//! A record set is located in its segment file, not read: on a plaintext
//! connection the writer sends it from the file with sendfile(2), so its
//! bytes are never copied through the collector; on TLS (which must
//! encrypt them) the writer reads it in chunks into one reused buffer.

use std::sync::Arc;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};
use kafka_protocol::protocol::Encodable;

use super::{blocking, Outcome, Piece};
use crate::auth::{Access, Operation};
use crate::broker::Broker;
use crate::StorageError;

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;

struct Wanted {
    topic: String,
    partition: i32,
    offset: i64,
    max_bytes: usize,
    /// READ on the topic was denied: the partition answers 29.
    denied: bool,
}

struct Got {
    code: i16,
    high_watermark: i64,
    log_start_offset: i64,
    /// Whole batches, in order: together the partition's record set.
    records: Vec<Piece>,
}

impl Got {
    fn len(&self) -> usize {
        self.records.iter().map(Piece::len).sum()
    }

    fn failed(code: i16, high_watermark: i64, log_start_offset: i64) -> Got {
        Got {
            code,
            high_watermark,
            log_start_offset,
            records: Vec::new(),
        }
    }
}

/// Locates each wanted partition's record set.
fn locate_all(broker: &Broker, wanted: &[Wanted], max_bytes: usize) -> Vec<Got> {
    let mut total = 0usize;
    wanted
        .iter()
        .map(|w| {
            if w.denied {
                return Got::failed(TOPIC_AUTHORIZATION_FAILED, -1, -1);
            }
            let part = match broker.storage.partition(&w.topic, w.partition) {
                Ok(p) => p,
                Err(e) => return Got::failed(e.kafka_code(), -1, -1),
            };
            let limit = w.max_bytes.min(max_bytes.saturating_sub(total));
            let r = match part.locate(w.offset, limit.max(1)) {
                Ok(r) => r,
                Err(e @ StorageError::OffsetOutOfRange { .. }) => {
                    return Got::failed(
                        e.kafka_code(),
                        part.high_watermark(),
                        part.log_start_offset(),
                    )
                }
                Err(e) => return Got::failed(e.kafka_code(), -1, -1),
            };
            let mut got = Got {
                code: 0,
                high_watermark: r.high_watermark,
                log_start_offset: r.log_start_offset,
                records: Vec::new(),
            };
            // Only the first non-empty partition may exceed the limits.
            let Some(range) = r.range.filter(|r| total == 0 || r.len <= limit) else {
                return got;
            };
            total += range.len;
            got.records.push(Piece::File(range));
            got
        })
        .collect()
}

/// A Fetch response and, apart, each partition's record set (in the
/// order of the response's partitions), sent by [`reply`] uncopied.
pub struct Fetched {
    response: FetchResponse,
    records: Vec<Vec<Piece>>,
}

pub async fn handle(
    broker: &Arc<Broker>,
    req: FetchRequest,
    _version: i16,
    access: &Access,
) -> Fetched {
    let wanted: Arc<Vec<Wanted>> = Arc::new(
        req.topics
            .iter()
            .flat_map(|t| {
                let denied = !access.topic(Operation::Read, &t.topic);
                t.partitions.iter().map(move |p| Wanted {
                    denied,
                    topic: t.topic.0.to_string(),
                    partition: p.partition,
                    offset: p.fetch_offset,
                    max_bytes: p.partition_max_bytes.max(0) as usize,
                })
            })
            .collect(),
    );
    let max_bytes = if req.max_bytes <= 0 {
        i32::MAX as usize
    } else {
        req.max_bytes as usize
    };
    let min_bytes = req.min_bytes.max(0) as usize;
    let deadline =
        tokio::time::Instant::now() + Duration::from_millis(req.max_wait_ms.max(0) as u64);
    let mut appends = broker.subscribe_appends();
    let got = loop {
        appends.borrow_and_update();
        let (b, w) = (Arc::clone(broker), Arc::clone(&wanted));
        let got = blocking(move || locate_all(&b, &w, max_bytes)).await;
        let bytes: usize = got.iter().map(Got::len).sum();
        let failed = got.iter().any(|g| g.code != 0);
        if bytes >= min_bytes.max(1) || failed || tokio::time::Instant::now() >= deadline {
            break got;
        }
        tokio::select! {
            changed = appends.changed() => if changed.is_err() { break got },
            _ = tokio::time::sleep_until(deadline) => {}
        }
    };

    let mut records = Vec::with_capacity(got.len());
    let mut got = got.into_iter();
    let responses = req
        .topics
        .iter()
        .map(|t| {
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_topic_id(t.topic_id)
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let g = got.next().expect("one result per partition");
                            broker.metrics.kafka.partition_error("fetch", g.code);
                            broker.metrics.kafka.fetched_bytes.inc_by(g.len() as u64);
                            records.push(g.records);
                            PartitionData::default()
                                .with_partition_index(p.partition)
                                .with_error_code(g.code)
                                .with_high_watermark(g.high_watermark)
                                .with_last_stable_offset(g.high_watermark)
                                .with_log_start_offset(g.log_start_offset)
                                .with_aborted_transactions(Some(Vec::new()))
                                .with_preferred_read_replica(BrokerId(-1))
                                .with_records(Some(Bytes::new()))
                        })
                        .collect(),
                )
        })
        .collect();
    Fetched {
        response: FetchResponse::default().with_responses(responses),
        records,
    }
}

/// The response frame as pieces: everything but the record sets encoded
/// into small buffers, each record set as read from the log, so the bytes
/// a consumer reads are not copied into the frame (for a large fetch that
/// copy, and the buffer growing to hold it, cost as much as the read).
/// Served versions (4..=11) are not flexible: a partition's record set is
/// its last field, an INT32 length and the bytes, with nothing after it.
pub fn reply(correlation_id: i32, version: i16, fetched: Fetched) -> Outcome {
    match pieces(correlation_id, version, fetched) {
        Ok(pieces) => Outcome::RespondPieces(pieces),
        Err(e) => Outcome::Close(e),
    }
}

fn pieces(correlation_id: i32, version: i16, fetched: Fetched) -> Result<Vec<Piece>, String> {
    let Fetched { response, records } = fetched;
    let mut records = records.into_iter();
    if !(4..=11).contains(&version) {
        return Err(format!("encoding Fetch v{version} as pieces: not served"));
    }
    let mut pieces = Vec::new();
    let mut first: Option<BytesMut> = None;
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0); // the frame's length, set at the end
    buf.put_i32(correlation_id); // response header v0
    buf.put_i32(response.throttle_time_ms);
    if version >= 7 {
        buf.put_i16(response.error_code);
        buf.put_i32(response.session_id);
    }
    buf.put_i32(response.responses.len() as i32);
    for topic in response.responses {
        buf.put_i16(topic.topic.0.len() as i16);
        buf.put_slice(topic.topic.0.as_bytes());
        buf.put_i32(topic.partitions.len() as i32);
        for p in topic.partitions {
            let set = records.next().ok_or("a partition without its records")?;
            p.encode(&mut buf, version)
                .map_err(|e| format!("encoding response: {e}"))?;
            // The last 4 bytes are the (empty) record set's length.
            let at = buf.len() - 4;
            let len: usize = set.iter().map(Piece::len).sum();
            let len = i32::try_from(len).map_err(|_| "a record set over 2 GiB")?;
            buf[at..].copy_from_slice(&len.to_be_bytes());
            if len > 0 {
                // Every piece but the record sets is encoded in `buf`, so
                // the frame's length goes into the first piece, which is
                // still mutable here.
                if pieces.is_empty() {
                    first = Some(buf.split());
                } else {
                    pieces.push(Piece::Bytes(buf.split().freeze()));
                }
                pieces.extend(set.into_iter().filter(|p| !p.is_empty()));
            }
        }
    }
    let mut first = first.unwrap_or_else(|| buf.split());
    let total = first.len() + buf.len() + pieces.iter().map(Piece::len).sum::<usize>();
    let len = i32::try_from(total - 4).map_err(|_| "response over 2 GiB".to_string())?;
    first[..4].copy_from_slice(&len.to_be_bytes());
    pieces.insert(0, Piece::Bytes(first.freeze()));
    if !buf.is_empty() {
        pieces.push(Piece::Bytes(buf.freeze()));
    }
    Ok(pieces)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FileRange;
    use kafka_protocol::messages::fetch_response::AbortedTransaction;
    use kafka_protocol::messages::{ProducerId, TopicName};
    use kafka_protocol::protocol::StrBytes;

    static BIG: [u8; 70_000] = [0xab; 70_000];

    fn partition(index: i32, code: i16) -> PartitionData {
        PartitionData::default()
            .with_partition_index(index)
            .with_error_code(code)
            .with_high_watermark(1_000 + index as i64)
            .with_last_stable_offset(1_000 + index as i64)
            .with_log_start_offset(7)
            .with_aborted_transactions(Some(Vec::new()))
            .with_records(Some(Bytes::new()))
    }

    /// The pieces, joined, are byte for byte the frame kafka-protocol
    /// encodes with each record set in place, in every served version, and
    /// the record sets are the log's own buffers or file ranges, not copies.
    #[test]
    fn pieces_are_the_encoded_frame_without_copying_records() {
        let topic = |name: &str, partitions| {
            FetchableTopicResponse::default()
                .with_topic(TopicName(StrBytes::from_string(name.to_string())))
                .with_partitions(partitions)
        };
        let mut no_aborted = partition(4, 0);
        no_aborted.aborted_transactions = None;
        let mut with_txn = partition(5, 0);
        with_txn.aborted_transactions = Some(vec![AbortedTransaction::default()
            .with_producer_id(ProducerId(9))
            .with_first_offset(3)]);
        let response = FetchResponse::default()
            .with_throttle_time_ms(5)
            .with_responses(vec![
                topic(
                    "logs",
                    vec![partition(0, 0), partition(1, 0), partition(2, 3)],
                ),
                topic("empty", vec![]),
                topic("other", vec![partition(3, 0), no_aborted, with_txn]),
            ]);
        let (big1, big2) = (
            Bytes::from_static(&BIG[..30_000]),
            Bytes::from_static(&BIG[30_000..]),
        );
        // A record set still in a file, as the plaintext path sends it.
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, b"--in a file--").unwrap();
        let in_file = Piece::File(FileRange {
            file: Arc::new(file),
            pos: 2,
            len: 9,
        });
        let b = |s: &'static [u8]| Piece::Bytes(Bytes::from_static(s));
        let sets = vec![
            vec![Piece::Bytes(big1), Piece::Bytes(big2)],
            vec![],
            vec![],
            vec![b(b"abc")],
            vec![b(b"x"), b(b"yz"), in_file],
            vec![],
        ];
        let joined = |pieces: &[Piece]| -> Vec<u8> {
            pieces
                .iter()
                .flat_map(|p| match p {
                    Piece::Bytes(b) => b.to_vec(),
                    Piece::File(r) => r.read().unwrap(),
                })
                .collect()
        };
        // The same response with each record set in place.
        let mut whole = response.clone();
        let mut flat = sets.iter();
        for t in &mut whole.responses {
            for p in &mut t.partitions {
                p.records = Some(Bytes::from(joined(flat.next().unwrap())));
            }
        }
        for version in 4..=11 {
            let want = super::super::encode_response(42, version, &whole).unwrap();
            let fetched = Fetched {
                response: response.clone(),
                records: sets.clone(),
            };
            let got = pieces(42, version, fetched).unwrap();
            assert_eq!(joined(&got), want.to_vec(), "v{version}");
            assert!(
                got.iter().any(|p| matches!(p,
                    Piece::Bytes(b) if b.as_ptr() == BIG.as_ptr() && b.len() == 30_000)),
                "v{version}: the record set was copied"
            );
            assert!(
                got.iter()
                    .any(|p| matches!(p, Piece::File(r) if r.len == 9)),
                "v{version}: the record set in a file was read"
            );
        }
        let fetched = Fetched {
            response: FetchResponse::default(),
            records: Vec::new(),
        };
        assert!(pieces(1, 12, fetched).is_err());
    }
}
