//! ListOffsets: -2 earliest (log start), -1 latest (high watermark, which is
//! also the last stable offset), otherwise the first offset whose record
//! timestamp is at or after the given time (the time index).

use std::sync::Arc;

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use super::blocking;
use kafka_protocol::ResponseError;

use crate::auth::{Access, Operation};
use crate::broker::Broker;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;

fn lookup(
    broker: &Broker,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> ListOffsetsPartitionResponse {
    let resp = ListOffsetsPartitionResponse::default()
        .with_partition_index(partition)
        .with_leader_epoch(-1);
    let result = broker.storage.partition(topic, partition).and_then(|p| {
        Ok(match timestamp {
            LATEST => (-1, p.high_watermark()),
            EARLIEST => (-1, p.log_start_offset()),
            ts => p
                .offset_for_timestamp(ts)?
                .map_or((-1, -1), |(offset, ts)| (ts, offset)),
        })
    });
    match result {
        Ok((ts, offset)) => resp.with_timestamp(ts).with_offset(offset),
        Err(e) => resp
            .with_error_code(e.kafka_code())
            .with_timestamp(-1)
            .with_offset(-1),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    req: ListOffsetsRequest,
    _version: i16,
    access: &Access,
) -> ListOffsetsResponse {
    let denied: Vec<bool> = req
        .topics
        .iter()
        .map(|t| !access.topic(Operation::Describe, &t.name))
        .collect();
    let b = Arc::clone(broker);
    let topics = blocking(move || {
        req.topics
            .into_iter()
            .zip(denied)
            .map(|(t, denied)| {
                let name = t.name.0.to_string();
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        if denied {
                            ListOffsetsPartitionResponse::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                                .with_timestamp(-1)
                                .with_offset(-1)
                                .with_leader_epoch(-1)
                        } else {
                            lookup(&b, &name, p.partition_index, p.timestamp)
                        }
                    })
                    .inspect(|r| {
                        b.metrics
                            .kafka
                            .partition_error("list_offsets", r.error_code)
                    })
                    .collect();
                ListOffsetsTopicResponse::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect()
    })
    .await;
    ListOffsetsResponse::default().with_topics(topics)
}
