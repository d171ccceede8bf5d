//! CreatePartitions: grow a topic to `count` partitions.

use std::sync::Arc;

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::{blocking, str_bytes};
use kafka_protocol::ResponseError;

use crate::auth::{Access, Operation};
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    req: CreatePartitionsRequest,
    _version: i16,
    access: &Access,
) -> CreatePartitionsResponse {
    let b = Arc::clone(broker);
    let access = access.clone();
    let results = blocking(move || {
        req.topics
            .iter()
            .map(|t| {
                let result = CreatePartitionsTopicResult::default().with_name(t.name.clone());
                if !access.topic(Operation::Alter, &t.name) {
                    return result
                        .with_error_code(ResponseError::TopicAuthorizationFailed.code())
                        .with_error_message(Some(str_bytes("not authorized to alter this topic")));
                }
                match b
                    .storage
                    .add_partitions(&t.name.0, t.count, req.validate_only)
                {
                    Ok(_) => result,
                    Err(e) => result
                        .with_error_code(e.kafka_code())
                        .with_error_message(Some(str_bytes(&e.to_string()))),
                }
            })
            .inspect(|r| {
                b.metrics
                    .kafka
                    .partition_error("create_partitions", r.error_code)
            })
            .collect()
    })
    .await;
    CreatePartitionsResponse::default().with_results(results)
}
