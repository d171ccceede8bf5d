//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use kafka_protocol::ResponseError;

use crate::auth::{Access, Operation};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    req: HeartbeatRequest,
    _version: i16,
    access: &Access,
) -> HeartbeatResponse {
    let code = if !access.group(Operation::Read, &req.group_id) {
        ResponseError::GroupAuthorizationFailed.code()
    } else {
        broker.groups.heartbeat(
            &req.group_id,
            &req.member_id,
            req.group_instance_id.as_deref(),
            req.generation_id,
        )
    };
    broker.metrics.kafka.partition_error("heartbeat", code);
    HeartbeatResponse::default().with_error_code(code)
}
