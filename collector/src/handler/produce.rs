//! Produce: append each partition's record batches verbatim through the
//! storage engine (CRC checked, offsets assigned, idempotence enforced).
//! acks=0 gets no response at all, as Kafka's clients expect.

use std::sync::Arc;

use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use kafka_protocol::messages::{ProduceRequest, ProduceResponse, TopicName};
use kafka_protocol::ResponseError;

use super::{blocking, reply, str_bytes, Outcome};
use crate::auth::{Access, Operation, Resource};
use crate::broker::Broker;

/// One partition's outcome: error code, base offset, log start offset, message.
type PartitionResult = (i16, i64, i64, Option<String>);

pub async fn handle(
    broker: &Arc<Broker>,
    req: ProduceRequest,
    version: i16,
    correlation_id: i32,
    access: &Access,
) -> Outcome {
    let acks = req.acks;
    if let Some(id) = &req.transactional_id {
        if !access.allows(Operation::Write, Resource::transactional_id(id)) {
            let resp = respond_all(
                &req,
                ResponseError::TransactionalIdAuthorizationFailed.code(),
                "not authorized to write with this transactional id",
            );
            return if acks == 0 {
                Outcome::NoResponse
            } else {
                reply(correlation_id, version, &resp)
            };
        }
        // Transactions are not supported; say so per partition.
        let resp = respond_all(
            &req,
            ResponseError::UnsupportedVersion.code(),
            "transactions are not supported by logship",
        );
        return if acks == 0 {
            Outcome::NoResponse
        } else {
            reply(correlation_id, version, &resp)
        };
    }
    // The response's shape; the request itself (and its record bytes) is
    // consumed by the append so a response waiting for its fsync holds no
    // copy of the data.
    let layout: Vec<(TopicName, Vec<i32>)> = req
        .topic_data
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.partition_data.iter().map(|p| p.index).collect(),
            )
        })
        .collect();
    // WRITE per topic (29 per partition, before existence); creating a
    // missing topic also needs CREATE on the cluster or the topic.
    let mut work = Vec::new();
    for topic in req.topic_data {
        let name = topic.name.0.to_string();
        let grant = if !access.topic(Operation::Write, &name) {
            Grant::Denied
        } else {
            Grant::Write {
                create: access.may(Operation::Create, Resource::cluster())
                    || access.may(Operation::Create, Resource::topic(&name)),
            }
        };
        for p in topic.partition_data {
            work.push((name.clone(), p.index, p.records, grant));
        }
    }
    // Phase 1, in request order on this connection: append (page cache).
    let b = Arc::clone(broker);
    let appended: Vec<(PartitionResult, Option<Durable>)> = blocking(move || {
        work.into_iter()
            .map(|(topic, partition, records, grant)| {
                append_one(&b, &topic, partition, records, grant)
            })
            .collect()
    })
    .await;
    // Phase 2, off the connection's critical path: wait for the fsyncs that
    // cover the appends (shared with other requests), then answer. The
    // connection meanwhile reads and appends its next request; responses
    // still leave in request order.
    let broker = Arc::clone(broker);
    let answer = tokio::spawn(async move {
        let b = Arc::clone(&broker);
        let mut results: Vec<PartitionResult> = Vec::with_capacity(appended.len());
        for (result, durable) in appended {
            results.push(match durable {
                Some((p, end)) => match p.wait_durable_async(end).await {
                    Err(e) => {
                        log_refusal(p.topic(), p.id(), &e);
                        (e.kafka_code(), -1, -1, Some(e.to_string()))
                    }
                    Ok(()) => result,
                },
                None => result,
            });
        }
        if results.iter().any(|r| r.0 == 0) {
            b.notify_appended();
        }
        respond(&b, &layout, results, version, correlation_id)
    });
    if acks == 0 {
        // No response; the task still wakes fetchers once the data is durable.
        return Outcome::NoResponse;
    }
    Outcome::Pending(answer)
}

/// What the ACLs let this request do with a topic.
#[derive(Clone, Copy)]
enum Grant {
    Denied,
    /// `create`: the topic may be auto-created.
    Write {
        create: bool,
    },
}

/// A partition and the offset below which its append must be durable.
type Durable = (Arc<crate::storage::Partition>, i64);

fn respond(
    broker: &Broker,
    layout: &[(TopicName, Vec<i32>)],
    results: Vec<PartitionResult>,
    version: i16,
    correlation_id: i32,
) -> Outcome {
    let mut it = results.into_iter();
    let responses = layout
        .iter()
        .map(|(name, partitions)| {
            TopicProduceResponse::default()
                .with_name(name.clone())
                .with_partition_responses(
                    partitions
                        .iter()
                        .map(|index| {
                            let (code, base, log_start, message) =
                                it.next().expect("one result per partition");
                            broker.metrics.kafka.partition_error("produce", code);
                            PartitionProduceResponse::default()
                                .with_index(*index)
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
    grant: Grant,
) -> (PartitionResult, Option<Durable>) {
    let create = match grant {
        Grant::Write { create } => create,
        Grant::Denied => {
            let code = ResponseError::TopicAuthorizationFailed.code();
            return ((code, -1, -1, None), None);
        }
    };
    let Some(records) = records else {
        return (
            (
                ResponseError::InvalidRecord.code(),
                -1,
                -1,
                Some("no records".to_owned()),
            ),
            None,
        );
    };
    let result = broker.partition(topic, partition, create).and_then(|p| {
        // The one copy per batch: into a buffer whose base offsets we rewrite.
        let mut buf = records.to_vec();
        p.append_unsynced(&mut buf).map(|info| (p, info))
    });
    match result {
        Ok((p, info)) => {
            broker
                .metrics
                .kafka
                .produced_bytes
                .inc_by(records.len() as u64);
            let durable = (p, info.last_offset + 1);
            (
                (0, info.base_offset, info.log_start_offset, None),
                Some(durable),
            )
        }
        Err(e) => {
            log_refusal(topic, partition, &e);
            ((e.kafka_code(), -1, -1, Some(e.to_string())), None)
        }
    }
}

/// A storage failure (KAFKA_STORAGE_ERROR: a full disk, an I/O error) is
/// the operator's to see, as HTTP ingest logs its 5xx; a client mistake is
/// only a debug line.
fn log_refusal(topic: &str, partition: i32, e: &crate::error::StorageError) {
    if e.kafka_code() == 56 {
        tracing::warn!(topic, partition, error = %e, "produce failed: storage error");
    } else {
        tracing::debug!(topic, partition, error = %e, "produce refused");
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
