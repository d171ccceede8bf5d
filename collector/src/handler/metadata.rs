//! Metadata: brokers (just us, also the controller), topics and partitions,
//! auto-creating requested topics when allowed.

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse, TopicName};

use super::{blocking, str_bytes};
use crate::auth::{Access, Operation, Resource};
use crate::broker::{Broker, NODE_ID};
use crate::session::Session;
use crate::storage::{validate_topic_name, TopicDescription};

const TOPIC_AUTHORIZATION_FAILED: i16 = 29;

/// What the ACLs let this request do with a topic it names.
#[derive(Clone, Copy)]
enum Grant {
    Denied,
    /// `create`: it may be auto-created.
    Describe {
        create: bool,
    },
}

pub async fn handle(
    broker: &std::sync::Arc<Broker>,
    req: MetadataRequest,
    version: i16,
    session: &Session,
    access: &Access,
) -> MetadataResponse {
    // v0: an empty list means all topics; v1+: null means all, empty none.
    let requested: Option<Vec<String>> = match req.topics {
        None => None,
        Some(t) if version == 0 && t.is_empty() => None,
        Some(t) => Some(
            t.into_iter()
                .filter_map(|t| t.name.map(|n| n.0.to_string()))
                .collect(),
        ),
    };
    // Auto-creation was per-request from v4; before that it was always on.
    let (want_topic_ops, want_cluster_ops) = (
        req.include_topic_authorized_operations,
        req.include_cluster_authorized_operations,
    );
    let allow_create = broker.auto_create_topics && (version < 4 || req.allow_auto_topic_creation);
    // A named topic needs DESCRIBE (29 otherwise, existing or not); its
    // auto-creation also CREATE on the cluster or the topic. A listing of
    // all topics leaves out what the principal may not describe.
    let requested: Option<Vec<(String, Grant)>> = requested.map(|names| {
        names
            .into_iter()
            .map(|name| {
                let grant = if !access.topic(Operation::Describe, &name) {
                    Grant::Denied
                } else {
                    Grant::Describe {
                        create: allow_create
                            && (access.may(Operation::Create, Resource::cluster())
                                || access.may(Operation::Create, Resource::topic(&name))),
                    }
                };
                (name, grant)
            })
            .collect()
    });
    let filter = access.clone();
    let storage = std::sync::Arc::clone(&broker.storage);
    let default_partitions = broker.default_partitions;
    let found: Vec<(String, Result<TopicDescription, i16>)> = blocking(move || match requested {
        None => storage
            .list_topics()
            .into_iter()
            .filter(|d| filter.may(Operation::Describe, Resource::topic(&d.name)))
            .map(|d| (d.name.clone(), Ok(d)))
            .collect(),
        Some(names) => names
            .into_iter()
            .map(|(name, grant)| {
                let create = match grant {
                    Grant::Denied => return (name, Err(TOPIC_AUTHORIZATION_FAILED)),
                    Grant::Describe { create } => create,
                };
                let result = match storage.describe_topic(&name) {
                    Ok(d) => Ok(d),
                    Err(_) if validate_topic_name(&name).is_err() => Err(17),
                    Err(_) if allow_create && !create => {
                        // Counted here: the client asked for a creation.
                        filter.topic(Operation::Create, &name);
                        Err(TOPIC_AUTHORIZATION_FAILED)
                    }
                    Err(_) if create => {
                        match storage.create_topic(
                            &name,
                            default_partitions,
                            Default::default(),
                            false,
                        ) {
                            Ok(d) => Ok(d),
                            Err(crate::StorageError::TopicExists(_)) => {
                                storage.describe_topic(&name).map_err(|e| e.kafka_code())
                            }
                            Err(e) => Err(e.kafka_code()),
                        }
                    }
                    Err(e) => Err(e.kafka_code()),
                };
                (name, result)
            })
            .collect(),
    })
    .await;

    let topics = found
        .into_iter()
        .map(|(name, result)| {
            let topic =
                MetadataResponseTopic::default().with_name(Some(TopicName(str_bytes(&name))));
            match result {
                Ok(d) => {
                    let topic = if want_topic_ops {
                        topic.with_topic_authorized_operations(
                            access.authorized_operations(Resource::topic(&name)),
                        )
                    } else {
                        topic
                    };
                    topic.with_topic_id(d.id).with_partitions(
                        (0..d.partitions)
                            .map(|p| {
                                MetadataResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_leader_id(BrokerId(NODE_ID))
                                    // -1: clients skip leader-epoch validation.
                                    .with_leader_epoch(-1)
                                    .with_replica_nodes(vec![BrokerId(NODE_ID)])
                                    .with_isr_nodes(vec![BrokerId(NODE_ID)])
                            })
                            .collect(),
                    )
                }
                Err(code) => {
                    broker.metrics.kafka.partition_error("metadata", code);
                    topic.with_error_code(code)
                }
            }
        })
        .collect();
    let resp = MetadataResponse::default();
    let resp = if want_cluster_ops {
        // Told only to who may DESCRIBE the cluster (0 otherwise).
        let ops = if access.may(Operation::Describe, Resource::cluster()) {
            access.authorized_operations(Resource::cluster())
        } else {
            0
        };
        resp.with_cluster_authorized_operations(ops)
    } else {
        resp
    };
    resp.with_brokers(vec![MetadataResponseBroker::default()
        .with_node_id(BrokerId(NODE_ID))
        .with_host(str_bytes(session.advertised_host()))
        .with_port(session.advertised_port())])
        .with_cluster_id(Some(str_bytes(&broker.cluster_id)))
        .with_controller_id(BrokerId(NODE_ID))
        .with_topics(topics)
}
