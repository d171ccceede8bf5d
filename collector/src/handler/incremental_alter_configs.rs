//! IncrementalAlterConfigs: SET, DELETE, APPEND and SUBTRACT on a topic's
//! config overrides, applied together or not at all per resource, validated
//! as at creation (an unknown name or a bad value is INVALID_CONFIG, as
//! Kafka answers). Validate-only changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use kafka_protocol::messages::incremental_alter_configs_request::AlterableConfig;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse};
use kafka_protocol::ResponseError;

use super::{alter_configs::TOPIC, blocking, str_bytes};
use crate::auth::{Access, Operation, Resource};
use crate::broker::Broker;
use crate::error::{Result, StorageError};
use crate::storage::topic::is_list_config;

const SET: i8 = 0;
const DELETE: i8 = 1;
const APPEND: i8 = 2;
const SUBTRACT: i8 = 3;

/// A resource's failure as Kafka answers it: error code and message.
pub type Refusal = (i16, String);

/// What altering one resource comes to, the same for both AlterConfigs
/// APIs: an authorization failure first, then `alter_topic` for a topic,
/// and a refusal for any other resource type (the collector's own settings
/// live in its config file).
pub fn alter_resource(
    access: &Access,
    resource_type: i8,
    name: &str,
    alter_topic: impl FnOnce() -> std::result::Result<(), Refusal>,
) -> std::result::Result<(), Refusal> {
    if let Some(denied) = refuse_unauthorized(access, resource_type, name) {
        Err(denied)
    } else if resource_type == TOPIC {
        alter_topic()
    } else {
        Err(refuse_resource(resource_type))
    }
}

/// The answer to altering a resource that is not a topic.
fn refuse_resource(resource_type: i8) -> Refusal {
    (
        ResponseError::InvalidRequest.code(),
        format!(
            "resource type {resource_type} cannot be altered: only topic configs are dynamic \
             (the collector's settings are in its config file)"
        ),
    )
}

/// ALTER_CONFIGS on the topic (29) or, for a broker resource, on the
/// cluster (31); `None` when allowed.
fn refuse_unauthorized(access: &Access, resource_type: i8, name: &str) -> Option<Refusal> {
    let code = match resource_type {
        TOPIC if !access.topic(Operation::AlterConfigs, name) => {
            ResponseError::TopicAuthorizationFailed.code()
        }
        BROKER | BROKER_LOGGER if !access.allows(Operation::AlterConfigs, Resource::cluster()) => {
            ResponseError::ClusterAuthorizationFailed.code()
        }
        _ => return None,
    };
    Some((code, "not authorized to alter these configs".to_owned()))
}

const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;

fn invalid(name: &str, value: &str, reason: String) -> StorageError {
    StorageError::InvalidConfig {
        key: name.to_owned(),
        value: value.to_owned(),
        reason,
    }
}

/// `current` with `ops` applied in order. The caller validates the result.
fn apply(
    current: &BTreeMap<String, String>,
    defaults: &crate::storage::TopicConfig,
    ops: &[AlterableConfig],
) -> Result<BTreeMap<String, String>> {
    let mut next = current.clone();
    for op in ops {
        let name = op.name.as_str();
        let value = op.value.as_deref();
        match op.config_operation {
            SET => {
                let value = value.ok_or_else(|| {
                    invalid(
                        name,
                        "",
                        "a null value is not supported for topic configs".into(),
                    )
                })?;
                next.insert(name.to_owned(), value.to_owned());
            }
            DELETE => {
                next.remove(name);
            }
            APPEND | SUBTRACT => {
                let value = value.unwrap_or_default();
                if !is_list_config(name) {
                    return Err(invalid(
                        name,
                        value,
                        "APPEND and SUBTRACT apply only to list configs".into(),
                    ));
                }
                let present = next
                    .get(name)
                    .cloned()
                    .or_else(|| defaults.get(name))
                    .unwrap_or_default();
                let mut items: Vec<String> = split_list(&present);
                let given: BTreeSet<String> = split_list(value).into_iter().collect();
                if op.config_operation == APPEND {
                    items.extend(given.into_iter().filter(|g| !present_has(&present, g)));
                } else {
                    items.retain(|i| !given.contains(i));
                }
                next.insert(name.to_owned(), items.join(","));
            }
            other => {
                return Err(invalid(
                    name,
                    value.unwrap_or_default(),
                    format!("unknown config operation {other}"),
                ))
            }
        }
    }
    Ok(next)
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(str::to_owned)
        .collect()
}

fn present_has(list: &str, item: &str) -> bool {
    split_list(list).iter().any(|i| i == item)
}

fn alter(
    broker: &Broker,
    name: &str,
    ops: &[AlterableConfig],
    validate_only: bool,
) -> std::result::Result<(), Refusal> {
    let mut seen = BTreeSet::new();
    if let Some(dup) = ops.iter().find(|o| !seen.insert(o.name.as_str())) {
        return Err((
            ResponseError::InvalidRequest.code(),
            format!("config {} is given more than once", dup.name.as_str()),
        ));
    }
    let defaults = &broker.storage.options().defaults;
    broker
        .storage
        .alter_topic_configs(name, validate_only, |current| apply(current, defaults, ops))
        .map(drop)
        .map_err(|e| (e.kafka_code(), e.to_string()))
}

pub async fn handle(
    broker: &Arc<Broker>,
    req: IncrementalAlterConfigsRequest,
    _version: i16,
    access: &Access,
) -> IncrementalAlterConfigsResponse {
    let b = Arc::clone(broker);
    let access = access.clone();
    let responses = blocking(move || {
        req.resources
            .into_iter()
            .map(|r| {
                let result = AlterConfigsResourceResponse::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone());
                match alter_resource(&access, r.resource_type, &r.resource_name, || {
                    alter(&b, &r.resource_name, &r.configs, req.validate_only)
                }) {
                    Ok(()) => result,
                    Err((code, message)) => result
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(&message))),
                }
            })
            .inspect(|r| {
                b.metrics
                    .kafka
                    .partition_error("incremental_alter_configs", r.error_code)
            })
            .collect()
    })
    .await;
    IncrementalAlterConfigsResponse::default().with_responses(responses)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::TopicConfig;

    fn op(name: &str, operation: i8, value: Option<&str>) -> AlterableConfig {
        AlterableConfig::default()
            .with_name(str_bytes(name))
            .with_config_operation(operation)
            .with_value(value.map(str_bytes))
    }

    #[test]
    fn operations_apply_in_order_to_the_overrides() {
        let mut current = BTreeMap::new();
        current.insert("retention.ms".to_owned(), "1000".to_owned());
        current.insert("segment.bytes".to_owned(), "2048".to_owned());
        let d = TopicConfig::default();
        let next = apply(
            &current,
            &d,
            &[
                op("retention.ms", SET, Some("5000")),
                op("segment.bytes", DELETE, None),
                op("cleanup.policy", SUBTRACT, Some("delete")),
                op("cleanup.policy", APPEND, Some("delete")),
            ],
        )
        .unwrap();
        assert_eq!(next.get("retention.ms").unwrap(), "5000");
        assert!(!next.contains_key("segment.bytes"));
        assert_eq!(next.get("cleanup.policy").unwrap(), "delete");
        for bad in [
            op("retention.ms", SET, None),
            op("retention.ms", APPEND, Some("1")),
            op("retention.ms", 9, Some("1")),
        ] {
            assert_eq!(apply(&current, &d, &[bad]).unwrap_err().kafka_code(), 40);
        }
    }
}
