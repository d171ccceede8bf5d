//! DescribeGroups: state, protocol and members (client id, host, metadata,
//! assignment). Unknown groups are reported as Dead, as Kafka does.

use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use super::str_bytes;
use kafka_protocol::ResponseError;

use crate::auth::{Access, Operation, Resource, AUTHORIZED_OPERATIONS_OMITTED};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    req: DescribeGroupsRequest,
    _version: i16,
    access: &Access,
) -> DescribeGroupsResponse {
    let want_ops = req.include_authorized_operations;
    let groups = req
        .groups
        .into_iter()
        .map(|id| {
            if !access.group(Operation::Describe, &id) {
                return DescribedGroup::default()
                    .with_group_id(id)
                    .with_error_code(ResponseError::GroupAuthorizationFailed.code())
                    .with_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
            }
            let d = broker.groups.describe(&id);
            let ops = if want_ops {
                access.authorized_operations(Resource::group(&id))
            } else {
                AUTHORIZED_OPERATIONS_OMITTED
            };
            DescribedGroup::default()
                .with_authorized_operations(ops)
                .with_group_id(id)
                .with_group_state(str_bytes(d.state.name()))
                .with_protocol_type(str_bytes(&d.protocol_type))
                .with_protocol_data(str_bytes(&d.protocol))
                .with_members(
                    d.members
                        .into_iter()
                        .map(|m| {
                            DescribedGroupMember::default()
                                .with_member_id(str_bytes(&m.member_id))
                                .with_group_instance_id(m.instance_id.as_deref().map(str_bytes))
                                .with_client_id(str_bytes(&m.client_id))
                                .with_client_host(str_bytes(&m.client_host))
                                .with_member_metadata(m.metadata)
                                .with_member_assignment(m.assignment)
                        })
                        .collect(),
                )
        })
        .collect();
    DescribeGroupsResponse::default().with_groups(groups)
}
