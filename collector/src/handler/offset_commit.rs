//! OffsetCommit: validated against the group's generation and member, then
//! made durable before the answer.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};
use kafka_protocol::ResponseError;
use logship_common::time::now_ms;

use super::blocking;
use crate::auth::{Access, Operation};
use crate::broker::Broker;
use crate::group::Committed;

pub async fn handle(
    broker: &Arc<Broker>,
    req: OffsetCommitRequest,
    _version: i16,
    access: &Access,
) -> OffsetCommitResponse {
    // READ on the group (30 for every partition), then READ per topic (29).
    let group_denied = !access.group(Operation::Read, &req.group_id);
    let mut offsets = Vec::new();
    let mut refused = Vec::new();
    for t in &req.topics {
        let topic_denied = !group_denied && !access.topic(Operation::Read, &t.name);
        for p in &t.partitions {
            let code = if group_denied {
                ResponseError::GroupAuthorizationFailed.code()
            } else if topic_denied {
                ResponseError::TopicAuthorizationFailed.code()
            } else if broker
                .storage
                .partition(&t.name, p.partition_index)
                .is_err()
            {
                ResponseError::UnknownTopicOrPartition.code()
            } else {
                0
            };
            refused.push(code);
            if code == 0 {
                offsets.push((
                    t.name.to_string(),
                    p.partition_index,
                    Committed {
                        offset: p.committed_offset,
                        metadata: p.committed_metadata.as_ref().map(|m| m.to_string()),
                        leader_epoch: p.committed_leader_epoch,
                        commit_ms: now_ms(),
                    },
                ));
            }
        }
    }
    let b = Arc::clone(broker);
    let (group, member, instance, generation) = (
        req.group_id.to_string(),
        req.member_id.to_string(),
        req.group_instance_id.as_ref().map(|i| i.to_string()),
        req.generation_id_or_member_epoch,
    );
    let mut codes = if group_denied {
        Vec::new()
    } else {
        blocking(move || {
            b.groups
                .commit(&group, &member, instance.as_deref(), generation, offsets)
        })
        .await
    }
    .into_iter();
    let mut refused = refused.into_iter();
    let topics = req
        .topics
        .iter()
        .map(|t| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .map(|p| {
                            let code = match refused.next() {
                                Some(0) => codes.next().unwrap_or_default(),
                                Some(refused) => refused,
                                None => ResponseError::UnknownTopicOrPartition.code(),
                            };
                            broker.metrics.kafka.partition_error("offset_commit", code);
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    OffsetCommitResponse::default().with_topics(topics)
}
