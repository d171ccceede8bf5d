//! ListGroups: every group the coordinator knows (v4: filtered by state).

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{GroupId, ListGroupsRequest, ListGroupsResponse};

use super::str_bytes;
use crate::auth::{Access, Operation, Resource};
use crate::broker::Broker;

/// With DESCRIBE on the cluster every group is listed, otherwise those the
/// principal may describe (Kafka's filtering; nothing is an error).
pub fn handle(
    broker: &Broker,
    req: ListGroupsRequest,
    _version: i16,
    access: &Access,
) -> ListGroupsResponse {
    let all = access.may(Operation::Describe, Resource::cluster());
    let groups = broker
        .groups
        .list()
        .into_iter()
        .filter(|(id, _, _)| all || access.may(Operation::Describe, Resource::group(id)))
        .filter(|(_, state, _)| {
            req.states_filter.is_empty()
                || req
                    .states_filter
                    .iter()
                    .any(|s| s.eq_ignore_ascii_case(state.name()))
        })
        .map(|(id, state, protocol_type)| {
            ListedGroup::default()
                .with_group_id(GroupId(str_bytes(&id)))
                .with_protocol_type(str_bytes(&protocol_type))
                .with_group_state(str_bytes(state.name()))
                .with_group_type(str_bytes("classic"))
        })
        .collect();
    ListGroupsResponse::default().with_groups(groups)
}
