//! LeaveGroup: one member (v0-2) or a batch by member or instance id (v3+).

use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use kafka_protocol::ResponseError;

use crate::auth::{Access, Operation};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    req: LeaveGroupRequest,
    version: i16,
    access: &Access,
) -> LeaveGroupResponse {
    if !access.group(Operation::Read, &req.group_id) {
        broker.metrics.kafka.partition_error(
            "leave_group",
            ResponseError::GroupAuthorizationFailed.code(),
        );
        return LeaveGroupResponse::default()
            .with_error_code(ResponseError::GroupAuthorizationFailed.code());
    }
    if version < 3 {
        let code = broker.groups.leave(&req.group_id, &req.member_id, None);
        broker.metrics.kafka.partition_error("leave_group", code);
        return LeaveGroupResponse::default().with_error_code(code);
    }
    let members = req
        .members
        .into_iter()
        .map(|m| {
            let code =
                broker
                    .groups
                    .leave(&req.group_id, &m.member_id, m.group_instance_id.as_deref());
            broker.metrics.kafka.partition_error("leave_group", code);
            MemberResponse::default()
                .with_member_id(m.member_id)
                .with_group_instance_id(m.group_instance_id)
                .with_error_code(code)
        })
        .collect();
    LeaveGroupResponse::default().with_members(members)
}
