//! DeleteGroups: removes empty groups and their committed offsets.

use std::sync::Arc;

use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use super::blocking;
use kafka_protocol::ResponseError;

use crate::auth::{Access, Operation};
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    req: DeleteGroupsRequest,
    _version: i16,
    access: &Access,
) -> DeleteGroupsResponse {
    let b = Arc::clone(broker);
    let access = access.clone();
    let results = blocking(move || {
        req.groups_names
            .into_iter()
            .map(|g| {
                let code = if access.group(Operation::Delete, &g) {
                    b.groups.delete(&g)
                } else {
                    ResponseError::GroupAuthorizationFailed.code()
                };
                b.metrics.kafka.partition_error("delete_groups", code);
                DeletableGroupResult::default()
                    .with_group_id(g)
                    .with_error_code(code)
            })
            .collect()
    })
    .await;
    DeleteGroupsResponse::default().with_results(results)
}
