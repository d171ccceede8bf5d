//! CreateTopics: partitions (-1 = the collector's default), replication
//! factor 1 or -1 (one node), configs under Kafka's names, validate-only.

use std::sync::Arc;

use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::ResponseError;

use super::{blocking, str_bytes};
use crate::auth::{Access, Operation, Resource};
use crate::broker::Broker;
use crate::storage::topic::{overrides_from_pairs, CONFIG_KEYS};

fn create(
    broker: &Broker,
    t: &CreatableTopic,
    validate_only: bool,
    access: &Access,
) -> CreatableTopicResult {
    let name = t.name.0.to_string();
    let result = CreatableTopicResult::default().with_name(t.name.clone());
    let fail = |code: i16, msg: String| {
        result
            .clone()
            .with_error_code(code)
            .with_error_message(Some(str_bytes(&msg)))
            .with_num_partitions(-1)
            .with_replication_factor(-1)
    };
    // CREATE on the cluster, else on the topic.
    if !access.may(Operation::Create, Resource::cluster())
        && !access.topic(Operation::Create, &name)
    {
        return fail(
            ResponseError::TopicAuthorizationFailed.code(),
            "not authorized to create this topic".to_owned(),
        );
    }
    if t.replication_factor > 1 {
        return fail(
            ResponseError::InvalidReplicationFactor.code(),
            format!("replication factor {} is larger than the 1 broker available; logship is one node (use Kafka to scale out)", t.replication_factor),
        );
    }
    let partitions = if !t.assignments.is_empty() {
        t.assignments.len() as i32
    } else if t.num_partitions == -1 {
        broker.default_partitions
    } else {
        t.num_partitions
    };
    let overrides = match overrides_from_pairs(
        t.configs
            .iter()
            .map(|c| (c.name.as_str(), c.value.as_deref())),
    ) {
        Ok(o) => o,
        Err(e) => return fail(e.kafka_code(), e.to_string()),
    };
    match broker
        .storage
        .create_topic(&name, partitions, overrides, validate_only)
    {
        // Its configs only with DESCRIBE_CONFIGS on it.
        Ok(d) if !access.may(Operation::DescribeConfigs, Resource::topic(&name)) => result
            .with_topic_id(d.id)
            .with_num_partitions(d.partitions)
            .with_replication_factor(1)
            .with_topic_config_error_code(ResponseError::TopicAuthorizationFailed.code()),
        Ok(d) => result
            .with_topic_id(d.id)
            .with_num_partitions(d.partitions)
            .with_replication_factor(1)
            .with_configs(Some(
                CONFIG_KEYS
                    .iter()
                    .map(|k| {
                        CreatableTopicConfigs::default()
                            .with_name(str_bytes(k))
                            .with_value(d.config.get(k).map(|v| str_bytes(&v)))
                            .with_config_source(if d.overrides.contains_key(*k) { 1 } else { 5 })
                    })
                    .collect(),
            )),
        Err(e) => fail(e.kafka_code(), e.to_string()),
    }
}

pub async fn handle(
    broker: &Arc<Broker>,
    req: CreateTopicsRequest,
    _version: i16,
    access: &Access,
) -> CreateTopicsResponse {
    let b = Arc::clone(broker);
    let access = access.clone();
    let topics = blocking(move || {
        req.topics
            .iter()
            .map(|t| create(&b, t, req.validate_only, &access))
            .inspect(|r| {
                b.metrics
                    .kafka
                    .partition_error("create_topics", r.error_code)
            })
            .collect()
    })
    .await;
    CreateTopicsResponse::default().with_topics(topics)
}
