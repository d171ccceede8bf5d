//! Fetch: whole batches from each requested partition, starting with the
//! batch that contains the fetch offset, within `partition_max_bytes` and
//! `max_bytes` (the first non-empty partition always gets at least one
//! batch). With fewer than `min_bytes` available it long-polls, woken by
//! appends, until `max_wait_ms`. No transactions: last stable offset = high
//! watermark.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{BrokerId, FetchRequest, FetchResponse};

use super::blocking;
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
    records: Bytes,
}

fn read_all(broker: &Broker, wanted: &[Wanted], max_bytes: usize) -> Vec<Got> {
    let mut total = 0usize;
    wanted
        .iter()
        .map(|w| {
            if w.denied {
                return Got {
                    code: TOPIC_AUTHORIZATION_FAILED,
                    high_watermark: -1,
                    log_start_offset: -1,
                    records: Bytes::new(),
                };
            }
            let part = match broker.storage.partition(&w.topic, w.partition) {
                Ok(p) => p,
                Err(e) => {
                    return Got {
                        code: e.kafka_code(),
                        high_watermark: -1,
                        log_start_offset: -1,
                        records: Bytes::new(),
                    }
                }
            };
            let limit = w.max_bytes.min(max_bytes.saturating_sub(total));
            match part.read(w.offset, limit.max(1)) {
                Ok(r) => {
                    // Only the first non-empty partition may exceed the limits.
                    let records = if total > 0 && r.records.len() > limit {
                        Bytes::new()
                    } else {
                        r.records
                    };
                    total += records.len();
                    Got {
                        code: 0,
                        high_watermark: r.high_watermark,
                        log_start_offset: r.log_start_offset,
                        records,
                    }
                }
                Err(e @ StorageError::OffsetOutOfRange { .. }) => Got {
                    code: e.kafka_code(),
                    high_watermark: part.high_watermark(),
                    log_start_offset: part.log_start_offset(),
                    records: Bytes::new(),
                },
                Err(e) => Got {
                    code: e.kafka_code(),
                    high_watermark: -1,
                    log_start_offset: -1,
                    records: Bytes::new(),
                },
            }
        })
        .collect()
}

pub async fn handle(
    broker: &Arc<Broker>,
    req: FetchRequest,
    _version: i16,
    access: &Access,
) -> FetchResponse {
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
        let got = blocking(move || read_all(&b, &w, max_bytes)).await;
        let bytes: usize = got.iter().map(|g| g.records.len()).sum();
        let failed = got.iter().any(|g| g.code != 0);
        if bytes >= min_bytes.max(1) || failed || tokio::time::Instant::now() >= deadline {
            break got;
        }
        tokio::select! {
            changed = appends.changed() => if changed.is_err() { break got },
            _ = tokio::time::sleep_until(deadline) => {}
        }
    };

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
                            broker
                                .metrics
                                .kafka
                                .fetched_bytes
                                .inc_by(g.records.len() as u64);
                            PartitionData::default()
                                .with_partition_index(p.partition)
                                .with_error_code(g.code)
                                .with_high_watermark(g.high_watermark)
                                .with_last_stable_offset(g.high_watermark)
                                .with_log_start_offset(g.log_start_offset)
                                .with_aborted_transactions(Some(Vec::new()))
                                .with_preferred_read_replica(BrokerId(-1))
                                .with_records(Some(g.records))
                        })
                        .collect(),
                )
        })
        .collect();
    FetchResponse::default().with_responses(responses)
}
