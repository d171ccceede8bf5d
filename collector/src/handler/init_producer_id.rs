//! InitProducerId: a fresh producer id (epoch 0) for idempotent producers,
//! or the same id with a bumped epoch when the client asks to keep it
//! (KIP-360). Transactional ids are refused: logship has no transactions.

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};
use kafka_protocol::ResponseError;

use super::blocking;
use crate::auth::{Access, Operation, Resource, ResourceType};
use crate::broker::Broker;

pub async fn handle(
    broker: &Arc<Broker>,
    req: InitProducerIdRequest,
    _version: i16,
    access: &Access,
) -> InitProducerIdResponse {
    let resp = InitProducerIdResponse::default();
    if let Some(id) = &req.transactional_id {
        // Counted as a denial when the ACLs refuse it; refused anyway, as
        // transactions are not served.
        access.allows(Operation::Write, Resource::transactional_id(id));
        return resp
            // Transactions are unavailable.
            .with_error_code(ResponseError::TransactionalIdAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    // KIP-679: IDEMPOTENT_WRITE on the cluster, or WRITE on any topic.
    if !access.may(Operation::IdempotentWrite, Resource::cluster())
        && !access.allows_any(Operation::Write, ResourceType::Topic)
    {
        return resp
            .with_error_code(ResponseError::ClusterAuthorizationFailed.code())
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1);
    }
    if req.producer_id.0 >= 0 && req.producer_epoch >= 0 && req.producer_epoch < i16::MAX - 1 {
        return resp
            .with_producer_id(req.producer_id)
            .with_producer_epoch(req.producer_epoch + 1);
    }
    let b = Arc::clone(broker);
    match blocking(move || b.allocate_producer_id()).await {
        Ok(id) => resp.with_producer_id(ProducerId(id)).with_producer_epoch(0),
        Err(e) => {
            tracing::error!(error = %e, "could not reserve producer ids");
            resp.with_error_code(e.kafka_code())
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        }
    }
}
