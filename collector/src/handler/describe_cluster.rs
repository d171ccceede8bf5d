//! DescribeCluster: one broker, which is also the controller.

use kafka_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use kafka_protocol::messages::{BrokerId, DescribeClusterRequest, DescribeClusterResponse};

use super::str_bytes;
use crate::broker::{Broker, NODE_ID};
use crate::session::Session;

pub fn handle(
    broker: &Broker,
    _req: DescribeClusterRequest,
    _version: i16,
    session: &Session,
) -> DescribeClusterResponse {
    DescribeClusterResponse::default()
        .with_endpoint_type(1)
        .with_cluster_id(str_bytes(&broker.cluster_id))
        .with_controller_id(BrokerId(NODE_ID))
        .with_brokers(vec![DescribeClusterBroker::default()
            .with_broker_id(BrokerId(NODE_ID))
            .with_host(str_bytes(session.advertised_host()))
            .with_port(session.advertised_port())])
}
