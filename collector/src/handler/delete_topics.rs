//! DeleteTopics: by name (v0-5) or by name or topic id (v6).

use std::sync::Arc;

use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::ResponseError;

use super::{blocking, str_bytes};
use crate::auth::{Access, Operation, Resource};
use crate::broker::Broker;

fn delete(
    broker: &Broker,
    name: Option<String>,
    id: uuid::Uuid,
    access: &Access,
) -> DeletableTopicResult {
    let name = name.or_else(|| {
        broker
            .storage
            .list_topics()
            .into_iter()
            .find(|t| t.id == id)
            .map(|t| t.name)
    });
    let result = DeletableTopicResult::default()
        .with_name(name.as_deref().map(|n| TopicName(str_bytes(n))))
        .with_topic_id(id);
    let Some(name) = name else {
        return result
            .with_error_code(ResponseError::UnknownTopicId.code())
            .with_error_message(Some(str_bytes("unknown topic id")));
    };
    // DELETE on the cluster, or DESCRIBE and DELETE on the topic (29
    // before UNKNOWN_TOPIC_OR_PARTITION).
    let allowed = access.may(Operation::Delete, Resource::cluster())
        || (access.topic(Operation::Describe, &name) && access.topic(Operation::Delete, &name));
    if !allowed {
        return result
            .with_error_code(ResponseError::TopicAuthorizationFailed.code())
            .with_error_message(Some(str_bytes("not authorized to delete this topic")));
    }
    match broker.storage.delete_topic(&name) {
        Ok(()) => result,
        Err(e) => result
            .with_error_code(e.kafka_code())
            .with_error_message(Some(str_bytes(&e.to_string()))),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    req: DeleteTopicsRequest,
    version: i16,
    access: &Access,
) -> DeleteTopicsResponse {
    let access = access.clone();
    let targets: Vec<(Option<String>, uuid::Uuid)> = if version >= 6 {
        req.topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.to_string()), t.topic_id))
            .collect()
    } else {
        req.topic_names
            .into_iter()
            .map(|n| (Some(n.0.to_string()), uuid::Uuid::nil()))
            .collect()
    };
    let b = Arc::clone(broker);
    let responses = blocking(move || {
        targets
            .into_iter()
            .map(|(name, id)| delete(&b, name, id, &access))
            .inspect(|r| {
                b.metrics
                    .kafka
                    .partition_error("delete_topics", r.error_code)
            })
            .collect()
    })
    .await;
    DeleteTopicsResponse::default().with_responses(responses)
}
