//! DescribeAcls: lists the ACLs of the config file (`collector.acls`) that
//! a filter selects, so `kafka-acls.sh --list` and admin clients can see
//! the rules in force. Needs DESCRIBE on the cluster (31).
//!
//! The rules are read-only here: they come from the config file and are
//! reloaded on SIGHUP; CreateAcls and DeleteAcls answer with an error that
//! says so.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::auth::acl_filter::AclFilter;
use crate::auth::{Access, Operation};
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    req: DescribeAclsRequest,
    _version: i16,
    access: &Access,
) -> DescribeAclsResponse {
    if !access.cluster(Operation::Describe) {
        let code = ResponseError::ClusterAuthorizationFailed.code();
        broker.metrics.kafka.partition_error("describe_acls", code);
        return DescribeAclsResponse::default()
            .with_error_code(code)
            .with_error_message(Some(str_bytes("not authorized to describe ACLs")));
    }
    let filter = AclFilter {
        resource_type: req.resource_type_filter,
        name: req.resource_name_filter.as_deref(),
        pattern_type: req.pattern_type_filter,
        principal: req.principal_filter.as_deref(),
        host: req.host_filter.as_deref(),
        operation: req.operation,
        permission: req.permission_type,
    };
    // Grouped by resource pattern, as Kafka answers.
    let mut resources: BTreeMap<(i8, String, i8), Vec<AclDescription>> = BTreeMap::new();
    for acl in access.authorizer().acls() {
        if !filter.matches(acl) {
            continue;
        }
        resources
            .entry((
                acl.resource_type.code(),
                acl.name.clone(),
                acl.pattern_code(),
            ))
            .or_default()
            .push(
                AclDescription::default()
                    .with_principal(str_bytes(&acl.principal_text()))
                    .with_host(str_bytes("*"))
                    .with_operation(acl.operation.code())
                    .with_permission_type(acl.permission_code()),
            );
    }
    DescribeAclsResponse::default().with_resources(
        resources
            .into_iter()
            .map(|((resource_type, name, pattern_type), acls)| {
                DescribeAclsResource::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(str_bytes(&name))
                    .with_pattern_type(pattern_type)
                    .with_acls(acls)
            })
            .collect(),
    )
}
