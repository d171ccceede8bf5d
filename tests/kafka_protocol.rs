//! The Kafka wire protocol at the byte level, with a minimal client built on
//! `kafka-protocol`: version negotiation, acks=0, idempotent retries and
//! gaps (also across a restart), and hostile input that must close one
//! connection while everyone else is served.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, MetadataResponse,
    ProduceRequest, ProduceResponse, RequestHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};
use kafka_protocol::records::Compression;
use logship_collector::storage::batch::{encode, NewRecord};

use crate::util::*;

pub struct Client {
    stream: TcpStream,
    correlation: i32,
}

impl Client {
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Client {
            stream,
            correlation: 0,
        }
    }

    pub fn send<R: Encodable + HeaderVersion>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &R,
    ) -> i32 {
        self.correlation += 1;
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(self.correlation)
            .with_client_id(Some(StrBytes::from_static_str("raw-test")));
        let mut body = BytesMut::new();
        header
            .encode(&mut body, R::header_version(version))
            .unwrap();
        req.encode(&mut body, version).unwrap();
        self.send_raw(&body);
        self.correlation
    }

    pub fn send_raw(&mut self, frame: &[u8]) {
        self.stream
            .write_all(&(frame.len() as i32).to_be_bytes())
            .unwrap();
        self.stream.write_all(frame).unwrap();
    }

    /// Reads one response frame; `None` when the server closed the connection.
    pub fn recv_frame(&mut self) -> Option<Bytes> {
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).ok()?;
        let mut buf = vec![0u8; i32::from_be_bytes(len) as usize];
        self.stream.read_exact(&mut buf).ok()?;
        Some(Bytes::from(buf))
    }

    pub fn recv<R: Decodable>(&mut self, correlation: i32, header_version: i16, version: i16) -> R {
        let mut frame = self.recv_frame().expect("connection closed");
        let header =
            kafka_protocol::messages::ResponseHeader::decode(&mut frame, header_version).unwrap();
        assert_eq!(header.correlation_id, correlation, "responses out of order");
        R::decode(&mut frame, version).unwrap()
    }

    /// Sends a request and reads its response.
    pub fn call<Req: Encodable + HeaderVersion, Resp: Decodable + HeaderVersion>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Resp {
        let id = self.send(key, version, req);
        self.recv(id, Resp::header_version(version), version)
    }

    pub fn closed(&mut self) -> bool {
        self.recv_frame().is_none()
    }
}

/// A batch of `values` stamped now (a record stamped 1970 is past any
/// retention: the collector's first retention pass, late on a loaded
/// machine, deleted such a test record before it was fetched).
pub fn batch(producer_id: i64, epoch: i16, seq: i32, values: &[&str]) -> Bytes {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let records: Vec<NewRecord> = values
        .iter()
        .map(|v| NewRecord {
            key: None,
            value: Some(Bytes::copy_from_slice(v.as_bytes())),
            timestamp: now,
        })
        .collect();
    let producer = (producer_id >= 0).then_some((producer_id, epoch, seq));
    Bytes::from(encode(&records, producer, Compression::None))
}

pub fn produce(client: &mut Client, topic: &str, acks: i16, records: Bytes) -> Option<(i16, i64)> {
    let req = ProduceRequest::default()
        .with_acks(acks)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(StrBytes::from_string(topic.to_owned())))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records))])]);
    let c = client.send(ApiKey::Produce, 7, &req);
    if acks == 0 {
        return None;
    }
    let resp: ProduceResponse = client.recv(c, 0, 7);
    let p = &resp.responses[0].partition_responses[0];
    Some((p.error_code, p.base_offset))
}

fn metadata_ok(addr: SocketAddr) {
    let mut c = Client::connect(addr);
    let id = c.send(
        ApiKey::Metadata,
        9,
        &MetadataRequest::default().with_topics(None),
    );
    let md: MetadataResponse = c.recv(id, MetadataResponse::header_version(9), 9);
    assert_eq!(md.brokers.len(), 1);
    assert_eq!(md.controller_id.0, md.brokers[0].node_id.0);
}

#[test]
fn api_versions_negotiation() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let mut c = Client::connect(running.kafka);
    // v3 (flexible request header) answered with a v0 response header.
    let req = ApiVersionsRequest::default()
        .with_client_software_name(StrBytes::from_static_str("raw-test"))
        .with_client_software_version(StrBytes::from_static_str("1.0"));
    let id = c.send(ApiKey::ApiVersions, 3, &req);
    let resp: ApiVersionsResponse = c.recv(id, 0, 3);
    assert_eq!(resp.error_code, 0);
    let produce = resp.api_keys.iter().find(|k| k.api_key == 0).unwrap();
    assert!(produce.min_version <= 3 && produce.max_version >= 7);
    let fetch = resp.api_keys.iter().find(|k| k.api_key == 1).unwrap();
    assert!(fetch.min_version <= 4 && fetch.max_version >= 10);
    assert!(resp.supported_features.is_empty() && resp.finalized_features.is_empty());

    // A version from the future: UNSUPPORTED_VERSION in a v0 body.
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(18)
        .with_request_api_version(99)
        .with_correlation_id(77)
        .encode(&mut frame, 1)
        .unwrap();
    c.send_raw(&frame);
    let resp: ApiVersionsResponse = c.recv(77, 0, 0);
    assert_eq!(resp.error_code, 35);
    assert!(!resp.api_keys.is_empty());
    // The connection is still usable.
    let id = c.send(ApiKey::ApiVersions, 0, &ApiVersionsRequest::default());
    let resp: ApiVersionsResponse = c.recv(id, 0, 0);
    assert_eq!(resp.error_code, 0);
}

#[test]
fn acks_zero_sends_no_response_and_requests_stay_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let mut c = Client::connect(running.kafka);
    assert_eq!(
        produce(&mut c, "acks0", 1, batch(-1, -1, -1, &["a"])),
        Some((0, 0))
    );
    assert_eq!(produce(&mut c, "acks0", 0, batch(-1, -1, -1, &["b"])), None);
    // The next response on the wire answers the next request, not the acks=0 one.
    assert_eq!(
        produce(&mut c, "acks0", -1, batch(-1, -1, -1, &["c"])),
        Some((0, 2))
    );
}

#[test]
fn pipelined_produce_requests_are_appended_and_answered_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let mut c = Client::connect(running.kafka);
    // An idempotent producer with 20 requests in flight (librdkafka allows
    // several): appends must keep sequence order, answers request order.
    let ids: Vec<i32> = (0..20)
        .map(|i| {
            let req = ProduceRequest::default()
                .with_acks(-1)
                .with_timeout_ms(5000)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(TopicName(StrBytes::from_static_str("pipelined")))
                    .with_partition_data(vec![PartitionProduceData::default()
                        .with_index(0)
                        .with_records(Some(batch(7000, 0, i * 2, &["a", "b"])))])]);
            c.send(ApiKey::Produce, 7, &req)
        })
        .collect();
    for (i, id) in ids.into_iter().enumerate() {
        let resp: ProduceResponse = c.recv(id, 0, 7);
        let p = &resp.responses[0].partition_responses[0];
        assert_eq!((p.error_code, p.base_offset), (0, 2 * i as i64));
    }
}

#[test]
fn idempotent_retries_are_deduplicated_even_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = collector_config(dir.path(), &dir.path().join("data"));
    let running = start_logship(&config);
    let mut c = Client::connect(running.kafka);
    assert_eq!(
        produce(&mut c, "idem", -1, batch(9000, 0, 0, &["a", "b"])),
        Some((0, 0))
    );
    assert_eq!(
        produce(&mut c, "idem", -1, batch(9000, 0, 2, &["c"])),
        Some((0, 2))
    );
    // The retry of the first batch gets its original offset.
    assert_eq!(
        produce(&mut c, "idem", -1, batch(9000, 0, 0, &["a", "b"])),
        Some((0, 0))
    );
    // A gap is refused.
    assert_eq!(
        produce(&mut c, "idem", -1, batch(9000, 0, 5, &["x"]))
            .unwrap()
            .0,
        45
    );
    drop(c);
    assert!(running.terminate().success());

    // After a restart the producer state is rebuilt: the retry is still a duplicate.
    let running = start_logship(&config);
    let mut c = Client::connect(running.kafka);
    assert_eq!(
        produce(&mut c, "idem", -1, batch(9000, 0, 2, &["c"])),
        Some((0, 2))
    );
    assert_eq!(
        produce(&mut c, "idem", -1, batch(9000, 0, 3, &["d"])),
        Some((0, 3))
    );
    drop(running); // kill -9
    let running = start_logship(&config);
    let mut c = Client::connect(running.kafka);
    assert_eq!(
        produce(&mut c, "idem", -1, batch(9000, 0, 3, &["d"])),
        Some((0, 3))
    );
    assert_eq!(
        produce(&mut c, "idem", -1, batch(9000, 0, 4, &["e"])),
        Some((0, 4))
    );
}

#[test]
fn hostile_input_closes_only_that_connection() {
    let dir = tempfile::tempdir().unwrap();
    let running = start_collector(dir.path());
    let addr = running.kafka;

    // A length prefix over max_request_bytes (100 MiB by default).
    let mut c = Client::connect(addr);
    c.stream.write_all(&(200i32 << 20).to_be_bytes()).unwrap();
    assert!(c.closed());
    // A negative length.
    let mut c = Client::connect(addr);
    c.stream.write_all(&(-5i32).to_be_bytes()).unwrap();
    assert!(c.closed());
    // Unknown API key.
    let mut c = Client::connect(addr);
    c.send_raw(&[0x7f, 0x00, 0, 0, 0, 0, 0, 1, 0xff, 0xff]);
    assert!(c.closed());
    // Unsupported version of a known API.
    let mut c = Client::connect(addr);
    c.send_raw(&[0, 0, 0, 1, 0, 0, 0, 1, 0xff, 0xff]);
    assert!(c.closed());
    // A truncated Produce body.
    let mut c = Client::connect(addr);
    let mut frame = BytesMut::new();
    RequestHeader::default()
        .with_request_api_key(0)
        .with_request_api_version(7)
        .with_correlation_id(1)
        .encode(&mut frame, 1)
        .unwrap();
    frame.extend_from_slice(&[0, 0, 0xff, 0xff]);
    c.send_raw(&frame);
    assert!(c.closed());
    // A frame shorter than a header, and a connection that dies mid-frame.
    let mut c = Client::connect(addr);
    c.send_raw(&[0, 1, 2]);
    assert!(c.closed());
    let mut c = Client::connect(addr);
    c.stream.write_all(&100i32.to_be_bytes()).unwrap();
    c.stream.write_all(&[1, 2, 3]).unwrap();
    drop(c);
    // Element counts of i32::MAX in a tiny frame (found by fuzzing): the
    // decoder must not try to reserve memory for them.
    for frame in [
        &[0u8, 3, 0, 0, 0, 0, 0, 1, 0, 0, 0x7f, 0xff, 0xff, 0xff][..],
        &[
            0, 42, 0, 0, 0, 0, 0, 7, 0, 4, b'f', b'u', b'z', b'z', 0x7f, 0xff, 0xff, 0xff,
        ][..],
    ] {
        let mut c = Client::connect(addr);
        c.send_raw(frame);
        assert!(c.closed());
    }
    // Random garbage, many times.
    let mut rng = rand::rng();
    for _ in 0..200 {
        use rand::Rng;
        let mut c = Client::connect(addr);
        let len = rng.random_range(0..300);
        let junk: Vec<u8> = (0..len).map(|_| rng.random()).collect();
        let _ = c.stream.write_all(&junk);
        let _ = c.stream.shutdown(std::net::Shutdown::Write);
        let _ = c.recv_frame();
    }
    // A corrupt batch in a well-formed Produce gets CORRUPT_MESSAGE, not a crash.
    let mut c = Client::connect(addr);
    let mut bad = batch(-1, -1, -1, &["payload"]).to_vec();
    let n = bad.len();
    bad[n - 2] ^= 0xff;
    assert_eq!(
        produce(&mut c, "hostile", 1, Bytes::from(bad)).unwrap().0,
        2
    );

    // Everyone else is still served, and it was all counted.
    metadata_ok(addr);
    assert_eq!(
        produce(&mut c, "hostile", 1, batch(-1, -1, -1, &["fine"])),
        Some((0, 0))
    );
    let (_, text) = http_get(running.http, "/metrics");
    assert!(
        metric(
            &text,
            "logship_collector_kafka_request_errors_total{kind=\"oversized\"}"
        )
        .unwrap()
            >= 2.0
    );
    assert!(
        metric(
            &text,
            "logship_collector_kafka_request_errors_total{kind=\"unsupported_api\"}"
        )
        .unwrap()
            >= 1.0
    );
    assert!(
        metric(
            &text,
            "logship_collector_kafka_request_errors_total{kind=\"malformed\"}"
        )
        .unwrap()
            >= 2.0
    );
    assert_eq!(
        metric(
            &text,
            "logship_collector_kafka_partition_errors_total{api=\"produce\",code=\"2\"}"
        ),
        Some(1.0)
    );
    assert!(running.child.id() > 0);
}
