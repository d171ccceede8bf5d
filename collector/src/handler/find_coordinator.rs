//! FindCoordinator: the collector coordinates every group (v0-3: one key;
//! v4: a batch of keys). Transaction coordinators do not exist here.

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::str_bytes;
use crate::auth::{Access, Operation, Resource};
use crate::broker::{Broker, NODE_ID};
use crate::session::Session;

const GROUP: i8 = 0;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const GROUP_AUTHORIZATION_FAILED: i16 = 30;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;

pub fn handle(
    broker: &Broker,
    req: FindCoordinatorRequest,
    version: i16,
    session: &Session,
    access: &Access,
) -> FindCoordinatorResponse {
    // DESCRIBE on the group (30), or on the transactional id (53).
    let answer = |key: &str| {
        let (code, message) = if req.key_type == GROUP {
            if access.group(Operation::Describe, key) {
                (0, None)
            } else {
                (GROUP_AUTHORIZATION_FAILED, None)
            }
        } else if !access.allows(Operation::Describe, Resource::transactional_id(key)) {
            (TRANSACTIONAL_ID_AUTHORIZATION_FAILED, None)
        } else {
            (
                COORDINATOR_NOT_AVAILABLE,
                Some(str_bytes("logship has no transaction coordinator")),
            )
        };
        broker
            .metrics
            .kafka
            .partition_error("find_coordinator", code);
        let node = if code == 0 { NODE_ID } else { -1 };
        (code, message, node)
    };
    if version >= 4 {
        return FindCoordinatorResponse::default().with_coordinators(
            req.coordinator_keys
                .into_iter()
                .map(|key| {
                    let (code, message, node) = answer(&key);
                    Coordinator::default()
                        .with_key(key)
                        .with_node_id(BrokerId(node))
                        .with_host(str_bytes(session.advertised_host()))
                        .with_port(session.advertised_port())
                        .with_error_code(code)
                        .with_error_message(message)
                })
                .collect(),
        );
    }
    let (code, message, node) = answer(&req.key);
    FindCoordinatorResponse::default()
        .with_error_code(code)
        .with_error_message(message)
        .with_node_id(BrokerId(node))
        .with_host(str_bytes(session.advertised_host()))
        .with_port(session.advertised_port())
}
