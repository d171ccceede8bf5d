//! The group coordinator at the protocol level: a 100-member group, Kafka's
//! validation codes, and group work never blocking produce or fetch.

use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, GroupId, HeartbeatRequest,
    HeartbeatResponse, JoinGroupRequest, JoinGroupResponse, OffsetCommitRequest,
    OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse, SyncGroupRequest,
    SyncGroupResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::kafka_protocol::{batch, produce, Client};
use crate::util::*;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_owned())
}

fn join(c: &mut Client, group: &str, member_id: &str) -> JoinGroupResponse {
    let req = JoinGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_session_timeout_ms(10_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(s(member_id))
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(s("range"))
            .with_metadata(Bytes::from_static(b"\x00\x00"))]);
    c.call(ApiKey::JoinGroup, 5, &req)
}

/// The full v4+ join: MEMBER_ID_REQUIRED, then a join with that id.
fn join_fully(c: &mut Client, group: &str) -> JoinGroupResponse {
    let first = join(c, group, "");
    assert_eq!(first.error_code, 79, "MEMBER_ID_REQUIRED first");
    assert!(!first.member_id.is_empty());
    join(c, group, &first.member_id)
}

fn sync(
    c: &mut Client,
    group: &str,
    generation: i32,
    member: &str,
    assignments: Vec<(String, Bytes)>,
) -> SyncGroupResponse {
    let req = SyncGroupRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member))
        .with_assignments(
            assignments
                .into_iter()
                .map(|(m, a)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(&m))
                        .with_assignment(a)
                })
                .collect(),
        );
    c.call(ApiKey::SyncGroup, 3, &req)
}

fn heartbeat(c: &mut Client, group: &str, generation: i32, member: &str) -> i16 {
    let req = HeartbeatRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id(generation)
        .with_member_id(s(member));
    let resp: HeartbeatResponse = c.call(ApiKey::Heartbeat, 3, &req);
    resp.error_code
}

fn commit(
    c: &mut Client,
    group: &str,
    generation: i32,
    member: &str,
    topic: &str,
    offset: i64,
) -> i16 {
    let req = OffsetCommitRequest::default()
        .with_group_id(GroupId(s(group)))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(s(member))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(TopicName(s(topic)))
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)
                .with_committed_metadata(Some(s("note")))])]);
    let resp: OffsetCommitResponse = c.call(ApiKey::OffsetCommit, 7, &req);
    resp.topics[0].partitions[0].error_code
}

fn describe(c: &mut Client, group: &str) -> (String, usize) {
    let resp: DescribeGroupsResponse = c.call(
        ApiKey::DescribeGroups,
        4,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(s(group))]),
    );
    let g = &resp.groups[0];
    (g.group_state.to_string(), g.members.len())
}

#[test]
fn hundred_members_join_and_become_stable_without_blocking_produce() {
    let dir = tempfile::tempdir().unwrap();
    // Raw members do not heartbeat between join and sync, so give the first
    // rebalance Kafka's initial delay to gather all of them into one generation.
    let config = dir.path().join("c.yaml");
    std::fs::write(
        &config,
        format!(
            "collector:\n  data_dir: {}\n  http:\n    listen: 127.0.0.1:0\n  kafka:\n    listen: 127.0.0.1:0\n  groups:\n    initial_rebalance_delay: 2s\n",
            dir.path().join("data").display()
        ),
    )
    .unwrap();
    let running = start_logship(&config);
    let addr = running.kafka;
    let n = 100;
    let started = Instant::now();
    let members: Vec<_> = (0..n)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Client::connect(addr);
                let joined = join_fully(&mut c, "hundred");
                assert_eq!(joined.error_code, 0);
                (c, joined)
            })
        })
        .collect();
    // While the group is rebalancing, produce on another connection is not held up.
    let mut p = Client::connect(addr);
    for i in 0..20 {
        let t = Instant::now();
        assert_eq!(
            produce(&mut p, "busy", 1, batch(-1, -1, -1, &["x"])).unwrap(),
            (0, i)
        );
        assert!(
            t.elapsed() < Duration::from_millis(500),
            "produce took {:?}",
            t.elapsed()
        );
    }
    let mut joined: Vec<_> = members.into_iter().map(|t| t.join().unwrap()).collect();
    let generation = joined[0].1.generation_id;
    assert!(joined.iter().all(|(_, j)| j.generation_id == generation));
    let leader = joined[0].1.leader.to_string();
    let leaders: Vec<_> = joined
        .iter()
        .filter(|(_, j)| j.member_id == j.leader)
        .collect();
    assert_eq!(leaders.len(), 1, "exactly one leader");
    assert_eq!(
        leaders[0].1.members.len(),
        n,
        "the leader sees every member"
    );
    assert!(joined
        .iter()
        .filter(|(_, j)| j.member_id != j.leader)
        .all(|(_, j)| j.members.is_empty()));

    // Every follower syncs (waiting), then the leader hands out assignments.
    let assignments: Vec<(String, Bytes)> = joined
        .iter()
        .map(|(_, j)| {
            (
                j.member_id.to_string(),
                Bytes::from(format!("for {}", j.member_id)),
            )
        })
        .collect();
    let leader_idx = joined
        .iter()
        .position(|(_, j)| j.member_id.as_str() == leader)
        .unwrap();
    let (mut leader_client, leader_join) = joined.swap_remove(leader_idx);
    let followers: Vec<_> = joined
        .into_iter()
        .map(|(mut c, j)| {
            std::thread::spawn(move || {
                let r = sync(&mut c, "hundred", j.generation_id, &j.member_id, vec![]);
                assert_eq!(r.error_code, 0);
                assert_eq!(r.assignment, Bytes::from(format!("for {}", j.member_id)));
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let r = sync(
        &mut leader_client,
        "hundred",
        generation,
        &leader_join.member_id,
        assignments,
    );
    assert_eq!(r.error_code, 0);
    for f in followers {
        f.join().unwrap();
    }
    assert_eq!(describe(&mut p, "hundred"), ("Stable".to_owned(), n));
    eprintln!("100 members stable in {:?}", started.elapsed());
}

#[test]
fn commits_and_heartbeats_are_validated_as_kafka_does() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let mut admin = Client::connect(running.kafka);
    produce(&mut admin, "t", 1, batch(-1, -1, -1, &["a", "b", "c"])).unwrap();

    // Simple consumers and admin tools: generation -1 on an empty group.
    assert_eq!(commit(&mut admin, "g", -1, "", "t", 2), 0);
    let fetched: OffsetFetchResponse = admin.call(
        ApiKey::OffsetFetch,
        5,
        &OffsetFetchRequest::default()
            .with_group_id(GroupId(s("g")))
            .with_topics(None),
    );
    let p = &fetched.topics[0].partitions[0];
    assert_eq!(
        (p.committed_offset, p.metadata.as_deref()),
        (2, Some("note"))
    );
    // Unknown topics are refused per partition.
    assert_eq!(commit(&mut admin, "g", -1, "", "nope", 1), 3);

    let mut a = Client::connect(running.kafka);
    let ja = join_fully(&mut a, "g");
    assert_eq!(ja.generation_id, 1);
    let a_id = ja.member_id.to_string();
    // Between join and sync the group is completing its rebalance.
    assert_eq!(
        commit(&mut a, "g", 1, &a_id, "t", 3),
        27,
        "REBALANCE_IN_PROGRESS"
    );
    assert_eq!(
        sync(
            &mut a,
            "g",
            1,
            &a_id,
            vec![(a_id.clone(), Bytes::from_static(b"x"))]
        )
        .error_code,
        0
    );
    assert_eq!(commit(&mut a, "g", 1, &a_id, "t", 3), 0);
    assert_eq!(
        commit(&mut a, "g", 0, &a_id, "t", 3),
        22,
        "ILLEGAL_GENERATION"
    );
    assert_eq!(
        commit(&mut a, "g", 1, "who", "t", 3),
        25,
        "UNKNOWN_MEMBER_ID"
    );
    assert_eq!(
        commit(&mut admin, "g", -1, "", "t", 0),
        25,
        "a non-empty group refuses simple commits"
    );
    assert_eq!(heartbeat(&mut a, "g", 1, &a_id), 0);
    assert_eq!(heartbeat(&mut a, "g", 7, &a_id), 22);
    assert_eq!(heartbeat(&mut a, "g", 1, "who"), 25);

    // A second member makes the group rebalance: the first learns it from its heartbeat.
    let b_addr = running.kafka;
    let b = std::thread::spawn(move || {
        let mut b = Client::connect(b_addr);
        join_fully(&mut b, "g")
    });
    let deadline = Instant::now() + Duration::from_secs(10);
    while heartbeat(&mut a, "g", 1, &a_id) != 27 {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let ja2 = join(&mut a, "g", &a_id);
    let jb = b.join().unwrap();
    assert_eq!((ja2.generation_id, jb.generation_id), (2, 2));
    assert_eq!(ja2.leader.as_str(), a_id, "the first member keeps leading");
    assert_eq!(
        heartbeat(&mut a, "g", 1, &a_id),
        22,
        "the old generation is stale"
    );
}
