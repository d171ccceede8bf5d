//! DescribeConfigs: a topic's effective configs (overrides marked as
//! dynamic topic configs, the rest as defaults), with synonyms on request:
//! the topic override, then the broker default it hides (Kafka's order,
//! highest precedence first); the broker resource answers
//! with the topic defaults under Kafka's `log.*` broker names where they exist.

use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::auth::{Access, Operation, Resource};
use crate::broker::{Broker, NODE_ID};
use crate::storage::topic::{broker_synonym, config_type, CONFIG_KEYS};

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const SOURCE_DYNAMIC_TOPIC: i8 = 1;
const SOURCE_DEFAULT: i8 = 5;

fn entry(name: &str, value: String, source: i8) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult::default()
        .with_name(str_bytes(name))
        .with_value(Some(str_bytes(&value)))
        .with_config_source(source)
        .with_read_only(false)
}

fn synonym(name: &str, value: Option<String>, source: i8) -> DescribeConfigsSynonym {
    DescribeConfigsSynonym::default()
        .with_name(str_bytes(name))
        .with_value(value.map(|v| str_bytes(&v)))
        .with_source(source)
}

pub fn handle(
    broker: &Broker,
    req: DescribeConfigsRequest,
    _version: i16,
    access: &Access,
) -> DescribeConfigsResponse {
    let results = req
        .resources
        .into_iter()
        .map(|r| {
            let wanted = |k: &str| {
                r.configuration_keys
                    .as_ref()
                    .is_none_or(|keys| keys.iter().any(|w| **w == *k))
            };
            let result = DescribeConfigsResult::default()
                .with_resource_type(r.resource_type)
                .with_resource_name(r.resource_name.clone());
            // DESCRIBE_CONFIGS on the topic (29) or the cluster (31).
            let denied = match r.resource_type {
                TOPIC => (!access.topic(Operation::DescribeConfigs, &r.resource_name))
                    .then_some(ResponseError::TopicAuthorizationFailed),
                BROKER => (!access.allows(Operation::DescribeConfigs, Resource::cluster()))
                    .then_some(ResponseError::ClusterAuthorizationFailed),
                _ => None,
            };
            if let Some(e) = denied {
                return result
                    .with_error_code(e.code())
                    .with_error_message(Some(str_bytes(
                        "not authorized to describe these configs",
                    )));
            }
            match r.resource_type {
                TOPIC => match broker.storage.describe_topic(&r.resource_name) {
                    Ok(d) => result.with_configs(
                        CONFIG_KEYS
                            .iter()
                            .filter(|k| wanted(k))
                            .map(|k| {
                                let value = d.config.get(k).unwrap_or_default();
                                let default = || {
                                    broker_synonym(k).map(|b| {
                                        synonym(
                                            b,
                                            broker.storage.options().defaults.get(k),
                                            SOURCE_DEFAULT,
                                        )
                                    })
                                };
                                let (source, synonyms) = if d.overrides.contains_key(*k) {
                                    let own = synonym(k, Some(value.clone()), SOURCE_DYNAMIC_TOPIC);
                                    (
                                        SOURCE_DYNAMIC_TOPIC,
                                        [Some(own), default()].into_iter().flatten().collect(),
                                    )
                                } else {
                                    (SOURCE_DEFAULT, default().into_iter().collect())
                                };
                                let e = entry(k, value, source).with_config_type(config_type(k));
                                if req.include_synonyms {
                                    e.with_synonyms(synonyms)
                                } else {
                                    e
                                }
                            })
                            .collect(),
                    ),
                    Err(e) => result
                        .with_error_code(e.kafka_code())
                        .with_error_message(Some(str_bytes(&e.to_string()))),
                },
                BROKER
                    if r.resource_name.is_empty() || *r.resource_name == *NODE_ID.to_string() =>
                {
                    let defaults = &broker.storage.options().defaults;
                    let pairs = [
                        ("log.segment.bytes", "segment.bytes"),
                        ("log.retention.ms", "retention.ms"),
                        ("log.retention.bytes", "retention.bytes"),
                        ("message.max.bytes", "max.message.bytes"),
                        ("log.index.interval.bytes", "index.interval.bytes"),
                        ("log.cleanup.policy", "cleanup.policy"),
                    ];
                    let mut configs: Vec<_> = pairs
                        .iter()
                        .filter(|(broker_key, _)| wanted(broker_key))
                        .map(|(broker_key, topic_key)| {
                            entry(
                                broker_key,
                                defaults.get(topic_key).unwrap_or_default(),
                                SOURCE_DEFAULT,
                            )
                        })
                        .collect();
                    if wanted("num.partitions") {
                        configs.push(entry(
                            "num.partitions",
                            broker.default_partitions.to_string(),
                            SOURCE_DEFAULT,
                        ));
                    }
                    if wanted("auto.create.topics.enable") {
                        configs.push(entry(
                            "auto.create.topics.enable",
                            broker.auto_create_topics.to_string(),
                            SOURCE_DEFAULT,
                        ));
                    }
                    result.with_configs(configs)
                }
                other => result
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_error_message(Some(str_bytes(&format!(
                        "unsupported resource type {other} or unknown broker"
                    )))),
            }
        })
        .inspect(|r| {
            broker
                .metrics
                .kafka
                .partition_error("describe_configs", r.error_code)
        })
        .collect();
    DescribeConfigsResponse::default().with_results(results)
}
