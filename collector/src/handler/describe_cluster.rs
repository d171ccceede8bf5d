//! DescribeCluster: one broker, which is also the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::auth::{Access, Operation, Resource, AUTHORIZED_OPERATIONS_OMITTED};
use crate::broker::{Broker, NODE_ID};
use crate::session::Session;

pub fn handle(
    broker: &Broker,
    req: DescribeClusterRequest,
    _version: i16,
    session: &Session,
    access: &Access,
) -> DescribeClusterResponse {
    // The operations are told only to who may DESCRIBE the cluster.
    let ops = if !req.include_cluster_authorized_operations {
        AUTHORIZED_OPERATIONS_OMITTED
    } else if access.may(Operation::Describe, Resource::cluster()) {
        access.authorized_operations(Resource::cluster())
    } else {
        0
    };
    DescribeClusterResponse::default()
        .with_cluster_authorized_operations(ops)
        .with_endpoint_type(1)
        .with_cluster_id(str_bytes(&broker.cluster_id))
        .with_controller_id(BrokerId(NODE_ID))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(NODE_ID))
            .with_host(str_bytes(session.advertised_host()))
            .with_port(session.advertised_port())])
}
