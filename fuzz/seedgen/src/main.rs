//! Writes the fuzz seed corpus: one valid request frame (without its length
//! prefix) per served API at its oldest and newest served version, encoded
//! with kafka-protocol and checked with `handler::parse`, plus a few valid
//! RecordBatch v2 buffers for `validate_incoming`.
//!
//!   cargo run --manifest-path fuzz/seedgen/Cargo.toml -- fuzz/seeds

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::messages::{
    create_partitions_request::CreatePartitionsTopic,
    create_topics_request::CreatableTopic,
    delete_topics_request::DeleteTopicState,
    describe_configs_request::DescribeConfigsResource,
    fetch_request::{FetchPartition, FetchTopic},
    list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic},
    metadata_request::MetadataRequestTopic,
    produce_request::{PartitionProduceData, TopicProduceData},
};
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::*;
use logship_collector::handler::{parse, SERVED};
use std::fs;

fn frame<R: Encodable + HeaderVersion>(key: ApiKey, version: i16, body: &R) -> Vec<u8> {
    let mut buf = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("fuzz")))
        .encode(&mut buf, R::header_version(version))
        .unwrap();
    body.encode(&mut buf, version).unwrap();
    buf.to_vec()
}

fn batch(count: usize) -> Bytes {
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: false,
            control: false,
            delete_horizon: false,
            partition_leader_epoch: -1,
            producer_id: -1,
            producer_epoch: -1,
            timestamp_type: TimestampType::Creation,
            offset: i as i64,
            sequence: -1,
            timestamp: 1_700_000_000_000 + i as i64,
            key: Some(Bytes::from(format!("k{i}"))),
            value: Some(Bytes::from(format!("value {i}"))),
            headers: Default::default(),
        })
        .collect();
    let mut buf = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut buf,
        &records,
        &RecordEncodeOptions {
            version: 2,
            compression: Compression::None,
        },
    )
    .unwrap();
    buf.freeze()
}

fn main() {
    let out = std::env::args()
        .nth(1)
        .expect("usage: seedgen <seeds dir>, e.g. fuzz/seeds");
    let req = format!("{out}/parse_request");
    let bat = format!("{out}/validate_batch");
    fs::create_dir_all(&req).unwrap();
    fs::create_dir_all(&bat).unwrap();
    let one = batch(1);
    let three = batch(3);
    fs::write(format!("{bat}/one-record"), &one).unwrap();
    fs::write(format!("{bat}/three-records"), &three).unwrap();
    fs::write(
        format!("{bat}/two-batches"),
        [&one[..], &three[..]].concat(),
    )
    .unwrap();
    let topic = StrBytes::from_static_str("logs");
    let g = StrBytes::from_static_str("g");
    for api in SERVED {
        let (key, (min, max)) = (api.key, api.versions);
        for v in [min, max] {
            let body = match key {
                ApiKey::Metadata => frame(
                    key,
                    v,
                    &MetadataRequest::default().with_topics(Some(vec![
                        MetadataRequestTopic::default().with_name(Some(topic.clone().into())),
                    ])),
                ),
                ApiKey::Produce => frame(
                    key,
                    v,
                    &ProduceRequest::default()
                        .with_acks(1)
                        .with_timeout_ms(1000)
                        .with_topic_data(vec![TopicProduceData::default()
                            .with_name(topic.clone().into())
                            .with_partition_data(vec![PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(three.clone()))])]),
                ),
                ApiKey::Fetch => frame(
                    key,
                    v,
                    &FetchRequest::default()
                        .with_max_wait_ms(100)
                        .with_topics(vec![FetchTopic::default()
                            .with_topic(topic.clone().into())
                            .with_partitions(vec![
                                FetchPartition::default().with_partition_max_bytes(1 << 20)
                            ])]),
                ),
                ApiKey::ListOffsets => frame(
                    key,
                    v,
                    &ListOffsetsRequest::default().with_topics(vec![ListOffsetsTopic::default()
                        .with_name(topic.clone().into())
                        .with_partitions(
                            vec![ListOffsetsPartition::default().with_timestamp(-1)],
                        )]),
                ),
                ApiKey::ApiVersions => {
                    if v >= 3 {
                        frame(
                            key,
                            v,
                            &ApiVersionsRequest::default()
                                .with_client_software_name(StrBytes::from_static_str("fuzz"))
                                .with_client_software_version(StrBytes::from_static_str("1")),
                        )
                    } else {
                        frame(key, v, &ApiVersionsRequest::default())
                    }
                }
                ApiKey::CreateTopics => frame(
                    key,
                    v,
                    &CreateTopicsRequest::default()
                        .with_timeout_ms(1000)
                        .with_topics(vec![CreatableTopic::default()
                            .with_name(topic.clone().into())
                            .with_num_partitions(1)
                            .with_replication_factor(1)]),
                ),
                ApiKey::DeleteTopics => frame(
                    key,
                    v,
                    &DeleteTopicsRequest::default()
                        .with_timeout_ms(1000)
                        .with_topic_names(if v <= 5 {
                            vec![topic.clone().into()]
                        } else {
                            vec![]
                        })
                        .with_topics(if v >= 6 {
                            vec![DeleteTopicState::default().with_name(Some(topic.clone().into()))]
                        } else {
                            vec![]
                        }),
                ),
                ApiKey::InitProducerId => frame(
                    key,
                    v,
                    &InitProducerIdRequest::default()
                        .with_transaction_timeout_ms(1000)
                        .with_producer_id((-1).into())
                        .with_producer_epoch(-1),
                ),
                ApiKey::DescribeConfigs => frame(
                    key,
                    v,
                    &DescribeConfigsRequest::default().with_resources(vec![
                        DescribeConfigsResource::default()
                            .with_resource_type(2)
                            .with_resource_name(topic.clone()),
                    ]),
                ),
                ApiKey::CreatePartitions => frame(
                    key,
                    v,
                    &CreatePartitionsRequest::default()
                        .with_timeout_ms(1000)
                        .with_topics(vec![CreatePartitionsTopic::default()
                            .with_name(topic.clone().into())
                            .with_count(2)]),
                ),
                ApiKey::DescribeCluster => frame(key, v, &DescribeClusterRequest::default()),
                ApiKey::FindCoordinator => frame(
                    key,
                    v,
                    &FindCoordinatorRequest::default()
                        .with_key(if v < 4 {
                            StrBytes::from_static_str("g")
                        } else {
                            StrBytes::default()
                        })
                        .with_coordinator_keys(if v >= 4 {
                            vec![StrBytes::from_static_str("g")]
                        } else {
                            vec![]
                        }),
                ),
                ApiKey::JoinGroup => frame(
                    key,
                    v,
                    &JoinGroupRequest::default()
                        .with_group_id(g.clone().into())
                        .with_session_timeout_ms(10000)
                        .with_protocol_type(StrBytes::from_static_str("consumer")),
                ),
                ApiKey::SyncGroup => frame(
                    key,
                    v,
                    &SyncGroupRequest::default().with_group_id(g.clone().into()),
                ),
                ApiKey::Heartbeat => frame(
                    key,
                    v,
                    &HeartbeatRequest::default().with_group_id(g.clone().into()),
                ),
                ApiKey::LeaveGroup => frame(
                    key,
                    v,
                    &LeaveGroupRequest::default().with_group_id(g.clone().into()),
                ),
                ApiKey::OffsetCommit => frame(
                    key,
                    v,
                    &OffsetCommitRequest::default().with_group_id(g.clone().into()),
                ),
                ApiKey::OffsetFetch => frame(
                    key,
                    v,
                    &OffsetFetchRequest::default().with_group_id(g.clone().into()),
                ),
                ApiKey::ListGroups => frame(key, v, &ListGroupsRequest::default()),
                ApiKey::DescribeGroups => frame(
                    key,
                    v,
                    &DescribeGroupsRequest::default().with_groups(vec![g.clone().into()]),
                ),
                ApiKey::DeleteGroups => frame(
                    key,
                    v,
                    &DeleteGroupsRequest::default().with_groups_names(vec![g.clone().into()]),
                ),
                ApiKey::DescribeAcls => frame(
                    key,
                    v,
                    &DescribeAclsRequest::default()
                        .with_resource_type_filter(1)
                        .with_pattern_type_filter(1)
                        .with_operation(1)
                        .with_permission_type(1),
                ),
                ApiKey::CreateAcls => frame(
                    key,
                    v,
                    &CreateAclsRequest::default().with_creations(vec![
                        create_acls_request::AclCreation::default()
                            .with_resource_type(2)
                            .with_resource_name(StrBytes::from_static_str("logs"))
                            .with_resource_pattern_type(3)
                            .with_principal(StrBytes::from_static_str("User:alice"))
                            .with_host(StrBytes::from_static_str("*"))
                            .with_operation(3)
                            .with_permission_type(3),
                    ]),
                ),
                ApiKey::DeleteAcls => frame(
                    key,
                    v,
                    &DeleteAclsRequest::default().with_filters(vec![
                        delete_acls_request::DeleteAclsFilter::default()
                            .with_resource_type_filter(2)
                            .with_pattern_type_filter(1)
                            .with_operation(1)
                            .with_permission_type(1),
                    ]),
                ),
                _ => {
                    eprintln!("no seed for {key:?}");
                    continue;
                }
            };
            let name = format!("{key:?}-v{v}").to_lowercase();
            match parse(Bytes::from(body.clone())) {
                Ok(_) => {}
                Err(e) => panic!("{name}: seed does not parse: {e:?}"),
            }
            fs::write(format!("{req}/{name}"), &body).unwrap();
        }
    }
    // ApiVersions newer than served (answered in v0).
    fs::write(
        format!("{req}/apiversions-v4"),
        frame(ApiKey::ApiVersions, 4, &ApiVersionsRequest::default()),
    )
    .unwrap();
    println!("ok");
}
