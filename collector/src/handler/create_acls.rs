//! CreateAcls: refused, with a message that says where ACLs live. The
//! rules come from the config file (`collector.acls`, reloaded on SIGHUP)
//! so that the file stays the one source of truth; a rule created over the
//! protocol would be lost on the next reload. Needs ALTER on the cluster
//! (31) like Kafka, so a client without it learns nothing more.

use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};
use kafka_protocol::ResponseError;

use super::str_bytes;
use crate::auth::{Access, Operation};
use crate::broker::Broker;

/// The answer to CreateAcls and DeleteAcls from a principal allowed to
/// alter the cluster.
pub const MANAGED_IN_CONFIG: &str = "ACLs are managed in the collector's config file (collector.acls): edit it and send SIGHUP to reload";

/// The error code and message every entry of a CreateAcls or DeleteAcls
/// request gets.
pub fn refusal(broker: &Broker, api: &str, access: &Access) -> (i16, &'static str) {
    let refusal = if access.cluster(Operation::Alter) {
        (ResponseError::InvalidRequest.code(), MANAGED_IN_CONFIG)
    } else {
        (
            ResponseError::ClusterAuthorizationFailed.code(),
            "not authorized to alter ACLs",
        )
    };
    broker.metrics.kafka.partition_error(api, refusal.0);
    refusal
}

pub fn handle(
    broker: &Broker,
    req: CreateAclsRequest,
    _version: i16,
    access: &Access,
) -> CreateAclsResponse {
    let (code, message) = refusal(broker, "create_acls", access);
    CreateAclsResponse::default().with_results(
        req.creations
            .iter()
            .map(|_| {
                AclCreationResult::default()
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message)))
            })
            .collect(),
    )
}
