//! SyncGroup: the leader hands in every member's assignment; each member
//! waits for its own.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::auth::{Access, Operation};
use crate::broker::Broker;
use crate::group::{Reply, SyncResult};

pub async fn handle(
    broker: &Arc<Broker>,
    req: SyncGroupRequest,
    _version: i16,
    access: &Access,
) -> SyncGroupResponse {
    if !access.group(Operation::Read, &req.group_id) {
        broker
            .metrics
            .kafka
            .partition_error("sync_group", ResponseError::GroupAuthorizationFailed.code());
        return SyncGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    let assignments = req
        .assignments
        .iter()
        .map(|a| (a.member_id.to_string(), a.assignment.clone()))
        .collect();
    let result = match broker.groups.sync(
        &req.group_id,
        &req.member_id,
        req.group_instance_id.as_deref(),
        req.generation_id,
        assignments,
    ) {
        Reply::Now(r) => r,
        // The leader syncs within its rebalance timeout; a member whose wait
        // is cut short rejoins.
        Reply::Later(rx) => match tokio::time::timeout(Duration::from_secs(300), rx).await {
            Ok(Ok(r)) => r,
            _ => SyncResult {
                error: ResponseError::RebalanceInProgress.code(),
                ..Default::default()
            },
        },
    };
    broker
        .metrics
        .kafka
        .partition_error("sync_group", result.error);
    SyncGroupResponse::default()
        .with_error_code(result.error)
        .with_protocol_type(result.protocol_type.as_deref().map(str_bytes))
        .with_protocol_name(result.protocol_name.as_deref().map(str_bytes))
        .with_assignment(result.assignment)
}
