//! Produce: append each partition's record batches verbatim through the
//! storage engine (CRC checked, offsets assigned, idempotence enforced).
//! acks=0 gets no response at all, as Kafka's clients expect.

use std::sync::Arc;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse};

use super::{blocking, reply, str_bytes, Outcome};
use crate::broker::Broker;

/// One partition's outcome: error code, base offset, log start offset, message.
type PartitionResult = (i16, i64, i64, Option<String>);

pub async fn handle(
    broker: &Arc<Broker>,
    req: ProduceRequest,
    version: i16,
    correlation_id: i32,
) -> Outcome {
    let acks = req.acks;
    if req.transactional_id.is_some() {
        // Transactions are not supported; say so per partition.
        let resp = respond_all(&req, 35, "transactions are not supported by logship");
        return if acks == 0 {
            Outcome::NoResponse
        } else {
            reply(correlation_id, version, &resp)
        };
    }
    let mut work = Vec::new();
    for topic in &req.topic_data {
        for p in &topic.partition_data {
            work.push((topic.name.0.to_string(), p.index, p.records.clone()));
        }
    }
    let b = Arc::clone(broker);
    let results: Vec<PartitionResult> = blocking(move || {
        work.into_iter()
            .map(|(topic, partition, records)| append_one(&b, &topic, partition, records))
            .collect()
    })
    .await;
    let appended: u64 = results.iter().filter(|r| r.0 == 0).count() as u64;
    if appended > 0 {
        broker.notify_appended();
    }
    let mut it = results.into_iter();
    let responses = req
        .topic_data
        .iter()
        .map(|topic| {
            TopicProduceResponse::default()
                .with_name(topic.name.clone())
                .with_partition_responses(
                    topic
                        .partition_data
                        .iter()
                        .map(|p| {
                            let (code, base, log_start, message) =
                                it.next().expect("one result per partition");
                            broker.metrics.kafka.partition_error("produce", code);
                            PartitionProduceResponse::default()
                                .with_index(p.index)
                                .with_error_code(code)
                                .with_base_offset(base)
                                .with_log_append_time_ms(-1)
                                .with_log_start_offset(log_start)
                                .with_error_message(message.map(|m| str_bytes(&m)))
                        })
                        .collect(),
                )
        })
        .collect();
    if acks == 0 {
        return Outcome::NoResponse;
    }
    reply(
        correlation_id,
        version,
        &ProduceResponse::default().with_responses(responses),
    )
}

fn append_one(
    broker: &Broker,
    topic: &str,
    partition: i32,
    records: Option<bytes::Bytes>,
) -> PartitionResult {
    let Some(records) = records else {
        return (87, -1, -1, Some("no records".to_owned())); // INVALID_RECORD
    };
    let result = broker.partition(topic, partition, true).and_then(|p| {
        // The one copy per batch: into a buffer whose base offsets we rewrite.
        let mut buf = records.to_vec();
        p.append(&mut buf)
    });
    match result {
        Ok(info) => {
            broker
                .metrics
                .kafka
                .produced_bytes
                .inc_by(records.len() as u64);
            (0, info.base_offset, info.log_start_offset, None)
        }
        Err(e) => {
            tracing::debug!(topic, partition, error = %e, "produce refused");
            (e.kafka_code(), -1, -1, Some(e.to_string()))
        }
    }
}

fn respond_all(req: &ProduceRequest, code: i16, message: &str) -> ProduceResponse {
    ProduceResponse::default().with_responses(
        req.topic_data
            .iter()
            .map(|t| {
                TopicProduceResponse::default()
                    .with_name(t.name.clone())
                    .with_partition_responses(
                        t.partition_data
                            .iter()
                            .map(|p| {
                                PartitionProduceResponse::default()
                                    .with_index(p.index)
                                    .with_error_code(code)
                                    .with_base_offset(-1)
                                    .with_error_message(Some(str_bytes(message)))
                            })
                            .collect(),
                    )
            })
            .collect(),
    )
}
