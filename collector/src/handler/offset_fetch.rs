//! OffsetFetch: a group's committed offsets (-1 where none), for the
//! partitions asked for or, with a null list, all of them.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponsePartition, OffsetFetchResponseTopic,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse, TopicName};

use super::str_bytes;
use crate::broker::Broker;

pub fn handle(broker: &Broker, req: OffsetFetchRequest, _version: i16) -> OffsetFetchResponse {
    let committed = broker.groups.committed(&req.group_id);
    let wanted: Vec<(String, Vec<i32>)> = match req.topics {
        Some(topics) => topics
            .into_iter()
            .map(|t| (t.name.to_string(), t.partition_indexes))
            .collect(),
        None => committed
            .iter()
            .map(|(t, parts)| (t.clone(), parts.keys().copied().collect()))
            .collect(),
    };
    let topics = wanted
        .into_iter()
        .map(|(topic, partitions)| {
            let stored = committed.get(&topic);
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(str_bytes(&topic)))
                .with_partitions(
                    partitions
                        .into_iter()
                        .map(|p| {
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
