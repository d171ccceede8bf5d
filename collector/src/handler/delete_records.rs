//! DeleteRecords: moves each partition's log start offset up to the given
//! offset (-1: the high watermark), as `kafka-delete-records` and every
//! admin client's `delete_records` ask. Per-partition errors: an unknown
//! topic or partition is UNKNOWN_TOPIC_OR_PARTITION, an offset beyond the
//! high watermark OFFSET_OUT_OF_RANGE. The low watermark answered is the
//! log start offset afterwards.

use std::sync::Arc;

use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use super::blocking;
use kafka_protocol::ResponseError;

use crate::auth::{Access, Operation};
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    req: DeleteRecordsRequest,
    _version: i16,
    access: &Access,
) -> DeleteRecordsResponse {
    let b = Arc::clone(broker);
    let access = access.clone();
    let topics = blocking(move || {
        req.topics
            .into_iter()
            .map(|t| {
                let denied = !access.topic(Operation::Delete, &t.name);
                let partitions = t
                    .partitions
                    .iter()
                    .map(|p| {
                        let result = DeleteRecordsPartitionResult::default()
                            .with_partition_index(p.partition_index);
                        if denied {
                            return result
                                .with_low_watermark(-1)
                                .with_error_code(ResponseError::TopicAuthorizationFailed.code());
                        }
                        match b
                            .storage
                            .delete_records(&t.name, p.partition_index, p.offset)
                        {
                            Ok(low) => result.with_low_watermark(low),
                            Err(e) => result
                                .with_low_watermark(-1)
                                .with_error_code(e.kafka_code()),
                        }
                    })
                    .inspect(|r| {
                        b.metrics
                            .kafka
                            .partition_error("delete_records", r.error_code)
                    })
                    .collect();
                DeleteRecordsTopicResult::default()
                    .with_name(t.name)
                    .with_partitions(partitions)
            })
            .collect()
    })
    .await;
    DeleteRecordsResponse::default().with_topics(topics)
}
