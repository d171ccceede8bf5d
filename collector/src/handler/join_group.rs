//! JoinGroup: joins (or rejoins) a member and waits for the rebalance's join
//! phase to complete; the leader gets every member's metadata.

use std::sync::Arc;
use std::time::Duration;

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::ResponseError;

use super::{str_bytes, RequestContext};
use crate::auth::Operation;
use crate::broker::Broker;
use crate::group::{JoinRequest, JoinResult, Reply};

pub async fn handle(
    broker: &Arc<Broker>,
    req: JoinGroupRequest,
    version: i16,
    ctx: &RequestContext<'_>,
) -> JoinGroupResponse {
    if !ctx.access.group(Operation::Read, &req.group_id) {
        broker
            .metrics
            .kafka
            .partition_error("join_group", ResponseError::GroupAuthorizationFailed.code());
        return JoinGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code())
            .with_generation_id(-1)
            .with_member_id(req.member_id);
    }
    let session = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
    // v0 has no rebalance timeout: use the session timeout, as Kafka does.
    let rebalance = if version == 0 || req.rebalance_timeout_ms < 0 {
        session
    } else {
        Duration::from_millis(req.rebalance_timeout_ms as u64)
    };
    let join = JoinRequest {
        member_id: req.member_id.to_string(),
        instance_id: req.group_instance_id.as_ref().map(|s| s.to_string()),
        client_id: ctx.client_id.clone(),
        client_host: ctx.client_host.clone(),
        session_timeout: session,
        rebalance_timeout: rebalance,
        protocol_type: req.protocol_type.to_string(),
        protocols: req
            .protocols
            .iter()
            .map(|p| (p.name.to_string(), p.metadata.clone()))
            .collect(),
        require_known_member_id: version >= 4,
    };
    let result = match broker.groups.join(&req.group_id, join) {
        Reply::Now(r) => r,
        Reply::Later(rx) => {
            match tokio::time::timeout(rebalance + Duration::from_secs(5), rx).await {
                Ok(Ok(r)) => r,
                _ => JoinResult {
                    error: ResponseError::UnknownMemberId.code(),
                    generation: -1,
                    member_id: req.member_id.to_string(),
                    ..Default::default()
                },
            }
        }
    };
    broker
        .metrics
        .kafka
        .partition_error("join_group", result.error);
    JoinGroupResponse::default()
        .with_error_code(result.error)
        .with_generation_id(result.generation)
        .with_protocol_type(result.protocol_type.as_deref().map(str_bytes))
        .with_protocol_name(Some(str_bytes(
            result.protocol_name.as_deref().unwrap_or(""),
        )))
        .with_leader(str_bytes(&result.leader))
        .with_member_id(str_bytes(&result.member_id))
        .with_members(
            result
                .members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(str_bytes(&id))
                        .with_group_instance_id(instance.as_deref().map(str_bytes))
                        .with_metadata(metadata)
                })
                .collect(),
        )
}
