//! OffsetFetch: a group's committed offsets (-1 where none), for the
//! partitions asked for or, with a null list, all of them.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::str_bytes;
use kafka_protocol::ResponseError;

use crate::auth::{Access, Operation};
use crate::broker::Broker;

/// DESCRIBE on the group (30), then on each topic: a named topic the
/// principal may not describe gets 29 and offset -1; an all-topics fetch
/// leaves such topics out.
pub fn handle(
    broker: &Broker,
    req: OffsetFetchRequest,
    version: i16,
    access: &Access,
) -> OffsetFetchResponse {
    if !access.group(Operation::Describe, &req.group_id) {
        let code = ResponseError::GroupAuthorizationFailed.code();
        broker.metrics.kafka.partition_error("offset_fetch", code);
        if version >= 2 {
            return OffsetFetchResponse::default().with_error_code(code);
        }
        // v1 has no top-level error: each requested partition carries it.
        let topics = req.topics.unwrap_or_default().into_iter().map(|t| {
            OffsetFetchResponseTopic::default()
                .with_name(t.name)
                .with_partitions(
                    t.partition_indexes
                        .into_iter()
                        .map(|p| {
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(-1)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        });
        return OffsetFetchResponse::default().with_topics(topics.collect());
    }
    let committed = broker.groups.committed(&req.group_id);
    let wanted: Vec<(String, Vec<i32>, bool)> = match req.topics {
        Some(topics) => topics
            .into_iter()
            .map(|t| {
                let allowed = access.topic(Operation::Describe, &t.name);
                (t.name.to_string(), t.partition_indexes, allowed)
            })
            .collect(),
        None => committed
            .iter()
            .filter(|(t, _)| access.may(Operation::Describe, crate::auth::Resource::topic(t)))
            .map(|(t, parts)| (t.clone(), parts.keys().copied().collect(), true))
            .collect(),
    };
    let topics = wanted
        .into_iter()
        .map(|(topic, partitions, allowed)| {
            let stored = committed.get(&topic);
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(&topic)))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|p| {
                            if !allowed {
                                return OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(-1)
                                    .with_error_code(
                                        ResponseError::TopicAuthorizationFailed.code(),
                                    );
                            }
                            let c = stored.and_then(|s| s.get(&p));
                            OffsetFetchResponsePartition::default()
                                .with_partition_index(p)
                                .with_committed_offset(c.map_or(-1, |c| c.offset))
                                // Always -1: an epoch would make librdkafka validate the
                                // offset with OffsetForLeaderEpoch, which a single
                                // node without leader changes does not need.
                                .with_committed_leader_epoch(-1)
                                .with_metadata(Some(str_bytes(
                                    c.and_then(|c| c.metadata.as_deref()).unwrap_or(""),
                                )))
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetFetchResponse::default().with_topics(topics)
}
