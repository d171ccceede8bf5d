//! The Java client (kafka-clients 4.x, the client inside Spark, Flink, Kafka
//! Streams and Kafka Connect) against the collector, with a real Apache
//! Kafka as the reference where the answer is the point.

use crate::apache_kafka::{java_client, ApacheKafka};
use crate::util::*;

/// What `tests/java/BadRequests.java` must see from a broker that answers
/// as Kafka does: one line per scripted bad request (and the good requests
/// around them that show the bad ones did no harm).
const KAFKA_ANSWERS: &[&str] = &[
    "describe unknown topic: UNKNOWN_TOPIC_OR_PARTITION",
    "delete unknown topic: UNKNOWN_TOPIC_OR_PARTITION",
    "create topic with invalid name: INVALID_TOPIC_EXCEPTION",
    "create topic named ..: INVALID_TOPIC_EXCEPTION",
    "create topic with a 250-character name: INVALID_TOPIC_EXCEPTION",
    "create existing topic: TOPIC_ALREADY_EXISTS",
    "create topic with invalid cleanup.policy: INVALID_CONFIG",
    "create topic with non-numeric retention.ms: INVALID_CONFIG",
    "create topic with unknown config: INVALID_CONFIG",
    "create topic with zero partitions: INVALID_PARTITIONS",
    "create topic with more replicas than brokers: INVALID_REPLICATION_FACTOR",
    "shrink partitions: INVALID_PARTITIONS",
    "produce over max.message.bytes: MESSAGE_TOO_LARGE",
    "produce under max.message.bytes: NONE",
    "produce a batch with a bad CRC: CORRUPT_MESSAGE",
    "produce after the bad CRC: NONE",
    "init producer id: NONE",
    "idempotent produce, sequence 0: NONE",
    "idempotent produce, sequence 5 after 0: OUT_OF_ORDER_SEQUENCE_NUMBER",
    "idempotent produce, sequence 1: NONE",
    // A duplicate is acknowledged, not written twice.
    "idempotent produce, sequence 1 again (duplicate): NONE",
    "idempotent produce, unknown producer id: NONE",
    "heartbeat from an unknown member: UNKNOWN_MEMBER_ID",
    "heartbeat from the right member, wrong generation: ILLEGAL_GENERATION",
    "heartbeat to an unknown group: UNKNOWN_MEMBER_ID",
    "offset commit from an unknown member: UNKNOWN_MEMBER_ID",
    "remove an unknown static member: UNKNOWN_MEMBER_ID",
    "delete a group with a member: NON_EMPTY_GROUP",
    "delete an unknown group: GROUP_ID_NOT_FOUND",
];

/// The same scripted bad requests, sent by the Java client to the collector
/// and to Apache Kafka: logship answers each with the error Kafka answers.
/// Both transcripts are checked against the list above, so a change in
/// either broker's answers shows here by name.
#[test]
fn bad_requests_get_the_errors_apache_kafka_gives() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let kafka = ApacheKafka::single();
    let logship_bootstrap = collector.kafka.to_string();
    let kafka_bootstrap = kafka.bootstrap();
    let (logship, apache) = std::thread::scope(|s| {
        let l = s.spawn(|| java_client("BadRequests", &[&logship_bootstrap]));
        let k = s.spawn(|| java_client("BadRequests", &[&kafka_bootstrap]));
        (l.join().unwrap(), k.join().unwrap())
    });
    let expected = KAFKA_ANSWERS.join("\n") + "\n";
    assert_eq!(apache, expected, "Apache Kafka's answers changed");
    assert_eq!(logship, apache, "logship answers differently from Kafka");
}

/// The Java client's everyday calls against the collector
/// (`tests/java/ClientTour.java`): the idempotent producer with every codec
/// and headers, group consumers reading every record back, offsets by time,
/// and the AdminClient calls (describeTopics falls back from
/// DescribeTopicPartitions to Metadata).
#[test]
fn java_client_produces_consumes_and_administers() {
    let dir = tempfile::tempdir().unwrap();
    let collector = start_collector(dir.path());
    let out = java_client("ClientTour", &[&collector.kafka.to_string()]);
    let mut expected = vec!["cluster: 1 node(s), controller true".to_owned()];
    for codec in ["none", "gzip", "snappy", "lz4", "zstd"] {
        expected.push(format!("{codec}: 200 distinct records, 0 wrong"));
        expected.push(format!("{codec} offsets: latest sum 200, by time sum 0"));
    }
    expected.extend(
        [
            "describeTopics: tour-gzip 2 partitions, leader of 0 is true",
            "describeConfigs: cleanup.policy=delete",
            "createPartitions: tour-none has 4",
            "listGroups: [tour-gzip, tour-lz4, tour-none, tour-snappy, tour-zstd]",
            "describeConsumerGroups: tour-lz4 Empty 0 members",
            // The default partitioner's murmur2 of key-0..key-199.
            "listConsumerGroupOffsets: {tour-lz4-0=101, tour-lz4-1=99}",
            "after alterConsumerGroupOffsets: {tour-lz4-0=5, tour-lz4-1=99}",
            "after deleteConsumerGroups: [tour-gzip, tour-none, tour-snappy, tour-zstd]",
            "after deleteTopics: [tour-gzip, tour-lz4, tour-none, tour-snappy]",
        ]
        .map(str::to_owned),
    );
    assert_eq!(out, expected.join("\n") + "\n");
}
