//! AlterConfigs (legacy): each topic resource's configs replace the topic's
//! whole override set (a config not listed goes back to its default), as in
//! Kafka. Validated as at creation; validate-only changes nothing. Other
//! resource types are refused: the collector's own settings live in its
//! config file.

use std::sync::Arc;

use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse};

use super::incremental_alter_configs::alter_resource;
use super::{blocking, str_bytes};
use crate::auth::Access;
use crate::broker::Broker;
use crate::storage::topic::overrides_from_pairs;

pub const TOPIC: i8 = 2;

pub async fn handle(
    broker: &Arc<Broker>,
    req: AlterConfigsRequest,
    _version: i16,
    access: &Access,
) -> AlterConfigsResponse {
    let b = Arc::clone(broker);
    let access = access.clone();
    let responses = blocking(move || {
        req.resources
            .into_iter()
            .map(|r| {
                let result = AlterConfigsResourceResponse::default()
                    .with_resource_type(r.resource_type)
                    .with_resource_name(r.resource_name.clone());
                let outcome = alter_resource(&access, r.resource_type, &r.resource_name, || {
                    overrides_from_pairs(
                        r.configs
                            .iter()
                            .map(|c| (c.name.as_str(), c.value.as_deref())),
                    )
                    .and_then(|overrides| {
                        b.storage
                            .alter_topic_configs(&r.resource_name, req.validate_only, |_| {
                                Ok(overrides)
                            })
                    })
                    .map(drop)
                    .map_err(|e| (e.kafka_code(), e.to_string()))
                });
                match outcome {
                    Ok(_) => result,
                    Err((code, message)) => result
                        .with_error_code(code)
                        .with_error_message(Some(str_bytes(&message))),
                }
            })
            .inspect(|r| {
                b.metrics
                    .kafka
                    .partition_error("alter_configs", r.error_code)
            })
            .collect()
    })
    .await;
    AlterConfigsResponse::default().with_responses(responses)
}
