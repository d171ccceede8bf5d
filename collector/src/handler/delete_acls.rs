//! DeleteAcls: refused like CreateAcls (see there): the rules live in the
//! config file.

use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use super::create_acls::refusal;
use super::str_bytes;
use crate::auth::Access;
use crate::broker::Broker;

pub fn handle(
    broker: &Broker,
    req: DeleteAclsRequest,
    _version: i16,
    access: &Access,
) -> DeleteAclsResponse {
    let (code, message) = refusal(broker, "delete_acls", access);
    DeleteAclsResponse::default().with_filter_results(
        req.filters
            .iter()
            .map(|_| {
                DeleteAclsFilterResult::default()
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message)))
            })
            .collect(),
    )
}
