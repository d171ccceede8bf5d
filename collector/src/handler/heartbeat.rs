//! Heartbeat: keeps a member's session alive and tells it when to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::broker::Broker;

pub fn handle(broker: &Broker, req: HeartbeatRequest, _version: i16) -> HeartbeatResponse {
    let code = broker.groups.heartbeat(
        &req.group_id,
        &req.member_id,
        req.group_instance_id.as_deref(),
        req.generation_id,
    );
    broker.metrics.kafka.partition_error("heartbeat", code);
    HeartbeatResponse::default().with_error_code(code)
}
