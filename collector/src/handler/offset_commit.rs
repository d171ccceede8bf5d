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
use crate::broker::Broker;
use crate::group::Committed;

pub async fn handle(
    broker: &Arc<Broker>,
    req: OffsetCommitRequest,
    _version: i16,
) -> OffsetCommitResponse {
    let mut offsets = Vec::new();
    let mut unknown = Vec::new();
    for t in &req.topics {
        for p in &t.partitions {
            let exists = broker.storage.partition(&t.name, p.partition_index).is_ok();
            unknown.push(!exists);
            if exists {
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
    let mut codes = blocking(move || {
        b.groups
            .commit(&group, &member, instance.as_deref(), generation, offsets)
    })
    .await
    .into_iter();
    let mut unknown = unknown.into_iter();
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
                            let code = if unknown.next().unwrap_or(true) {
                                ResponseError::UnknownTopicOrPartition.code()
                            } else {
                                codes.next().unwrap_or_default()
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
