//! Kafka request routing: read the request header, refuse what is not
//! supported the way Kafka does, decode with `kafka-protocol`, call the
//! API's handler (one file per API), encode the response.
//!
//! Handlers are free of socket I/O: they take a decoded request and return a
//! response, with per-topic and per-partition failures as Kafka error codes
//! in the response, never as a Rust error.

mod api_versions;
mod create_partitions;
mod create_topics;
mod delete_groups;
mod delete_topics;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_fetch;
mod produce;
mod sync_group;

use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use crate::broker::Broker;

/// What the connection should do with a request.
pub enum Outcome {
    /// Send these bytes (length prefix included).
    Respond(BytesMut),
    /// Produce with acks=0: no response.
    NoResponse,
    /// Answered later (a Produce waiting for its fsync); the connection
    /// goes on reading and writes this in its turn.
    Pending(tokio::task::JoinHandle<Outcome>),
    /// Unparseable or unsupported: log, close the connection.
    Close(String),
}

/// The versions served, per API: contiguous ranges that include the old
/// versions librdkafka 2.0.2 checks for (docs/kafka-compatibility.md).
pub fn supported_versions(key: ApiKey) -> Option<(i16, i16)> {
    Some(match key {
        ApiKey::Produce => (3, 9),
        ApiKey::Fetch => (4, 11),
        ApiKey::ListOffsets => (1, 7),
        ApiKey::Metadata => (0, 12),
        ApiKey::ApiVersions => (0, 3),
        ApiKey::CreateTopics => (2, 7),
        ApiKey::DeleteTopics => (1, 6),
        ApiKey::InitProducerId => (0, 4),
        ApiKey::DescribeConfigs => (1, 4),
        ApiKey::CreatePartitions => (0, 3),
        ApiKey::DescribeCluster => (0, 1),
        ApiKey::FindCoordinator => (0, 4),
        ApiKey::JoinGroup => (0, 7),
        ApiKey::SyncGroup => (0, 5),
        ApiKey::Heartbeat => (0, 4),
        ApiKey::LeaveGroup => (0, 4),
        ApiKey::OffsetCommit => (2, 8),
        ApiKey::OffsetFetch => (1, 7),
        ApiKey::ListGroups => (0, 4),
        ApiKey::DescribeGroups => (0, 5),
        ApiKey::DeleteGroups => (0, 2),
        _ => return None,
    })
}

/// Every served API, for ApiVersions.
pub const SERVED: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::InitProducerId,
    ApiKey::DescribeConfigs,
    ApiKey::CreatePartitions,
    ApiKey::DescribeCluster,
    ApiKey::FindCoordinator,
    ApiKey::JoinGroup,
    ApiKey::SyncGroup,
    ApiKey::Heartbeat,
    ApiKey::LeaveGroup,
    ApiKey::OffsetCommit,
    ApiKey::OffsetFetch,
    ApiKey::ListGroups,
    ApiKey::DescribeGroups,
    ApiKey::DeleteGroups,
];

/// Encodes a response frame: length prefix, header, body.
pub fn encode_response<R: Encodable + HeaderVersion>(
    correlation_id: i32,
    version: i16,
    body: &R,
) -> Result<BytesMut, String> {
    let mut buf = BytesMut::with_capacity(64);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, R::header_version(version))
        .map_err(|e| format!("encoding response header: {e}"))?;
    body.encode(&mut buf, version)
        .map_err(|e| format!("encoding response: {e}"))?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf)
}

/// Turns a response (or an encoding failure) into an outcome.
fn reply<R: Encodable + HeaderVersion>(correlation_id: i32, version: i16, body: &R) -> Outcome {
    match encode_response(correlation_id, version, body) {
        Ok(buf) => Outcome::Respond(buf),
        Err(e) => Outcome::Close(e),
    }
}

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_owned())
}

/// A request that passed the header checks and decoded.
pub struct Request {
    pub key: ApiKey,
    pub version: i16,
    pub correlation_id: i32,
    pub client_id: String,
    pub body: RequestKind,
}

/// Who sent a request (group members are described by these).
pub struct RequestContext {
    pub client_id: String,
    /// Kafka's format: `/<ip>`.
    pub client_host: String,
}

/// Why a frame is not handled.
#[derive(Debug)]
pub enum Refusal {
    /// ApiVersions newer than we serve: answered in v0 (docs/kafka-compatibility.md).
    ApiVersionsTooNew {
        correlation_id: i32,
    },
    UnsupportedApi(String),
    UnsupportedVersion(String),
    Malformed(String),
}

impl Refusal {
    /// Metric label.
    fn kind(&self) -> &'static str {
        match self {
            Refusal::ApiVersionsTooNew { .. } => "unsupported_version",
            Refusal::UnsupportedApi(_) => "unsupported_api",
            Refusal::UnsupportedVersion(_) => "unsupported_version",
            Refusal::Malformed(_) => "malformed",
        }
    }
}

/// Parses one request frame (without its length prefix): header checks,
/// then `kafka-protocol` decoding. Pure, so it can be fuzzed.
pub fn parse(frame: Bytes) -> Result<Request, Refusal> {
    if frame.len() < 8 {
        return Err(Refusal::Malformed(format!(
            "request of {} bytes is shorter than a header",
            frame.len()
        )));
    }
    let api_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let Some((key, (min, max))) = ApiKey::try_from(api_key)
        .ok()
        .and_then(|k| supported_versions(k).map(|r| (k, r)))
    else {
        return Err(Refusal::UnsupportedApi(format!(
            "unsupported API key {api_key}"
        )));
    };
    if version < min || version > max {
        if key == ApiKey::ApiVersions && version > max {
            return Err(Refusal::ApiVersionsTooNew { correlation_id });
        }
        return Err(Refusal::UnsupportedVersion(format!(
            "{key:?} v{version} is not supported (v{min}..=v{max})"
        )));
    }
    let mut body = frame;
    let header = RequestHeader::decode(&mut body, key.request_header_version(version))
        .map_err(|e| Refusal::Malformed(format!("malformed {key:?} request header: {e}")))?;
    let decoded = RequestKind::decode(key, &mut body, version)
        .map_err(|e| Refusal::Malformed(format!("malformed {key:?} v{version} body: {e}")))?;
    Ok(Request {
        key,
        version,
        correlation_id,
        client_id: header.client_id.map(|c| c.to_string()).unwrap_or_default(),
        body: decoded,
    })
}

/// Handles one request frame (without its length prefix).
pub async fn handle(
    broker: &Arc<Broker>,
    frame: Bytes,
    peer: Option<std::net::SocketAddr>,
) -> Outcome {
    let started = Instant::now();
    let request = match parse(frame) {
        Ok(r) => r,
        Err(Refusal::ApiVersionsTooNew { correlation_id }) => {
            return api_versions::unsupported_version(correlation_id)
        }
        Err(refusal) => {
            broker.metrics.kafka.request_error(refusal.kind());
            return Outcome::Close(format!("{refusal:?}"));
        }
    };
    let key = request.key;
    let ctx = RequestContext {
        client_id: request.client_id.clone(),
        client_host: peer.map(|p| format!("/{}", p.ip())).unwrap_or_default(),
    };
    let outcome = route(broker, request, &ctx).await;
    // For Produce this times the append; the fsync wait is in the fsync histogram.
    broker
        .metrics
        .kafka
        .request(api_name(key), started.elapsed().as_secs_f64());
    outcome
}

async fn route(broker: &Arc<Broker>, request: Request, ctx: &RequestContext) -> Outcome {
    let Request {
        version,
        correlation_id: id,
        body,
        ..
    } = request;
    match body {
        RequestKind::ApiVersions(r) => {
            reply(id, version, &api_versions::handle(broker, r, version))
        }
        RequestKind::Metadata(r) => reply(id, version, &metadata::handle(broker, r, version).await),
        RequestKind::Produce(r) => produce::handle(broker, r, version, id).await,
        RequestKind::Fetch(r) => reply(id, version, &fetch::handle(broker, r, version).await),
        RequestKind::ListOffsets(r) => {
            reply(id, version, &list_offsets::handle(broker, r, version).await)
        }
        RequestKind::CreateTopics(r) => reply(
            id,
            version,
            &create_topics::handle(broker, r, version).await,
        ),
        RequestKind::DeleteTopics(r) => reply(
            id,
            version,
            &delete_topics::handle(broker, r, version).await,
        ),
        RequestKind::CreatePartitions(r) => reply(
            id,
            version,
            &create_partitions::handle(broker, r, version).await,
        ),
        RequestKind::DescribeConfigs(r) => {
            reply(id, version, &describe_configs::handle(broker, r, version))
        }
        RequestKind::InitProducerId(r) => reply(
            id,
            version,
            &init_producer_id::handle(broker, r, version).await,
        ),
        RequestKind::DescribeCluster(r) => {
            reply(id, version, &describe_cluster::handle(broker, r, version))
        }
        RequestKind::FindCoordinator(r) => {
            reply(id, version, &find_coordinator::handle(broker, r, version))
        }
        RequestKind::JoinGroup(r) => reply(
            id,
            version,
            &join_group::handle(broker, r, version, ctx).await,
        ),
        RequestKind::SyncGroup(r) => {
            reply(id, version, &sync_group::handle(broker, r, version).await)
        }
        RequestKind::Heartbeat(r) => reply(id, version, &heartbeat::handle(broker, r, version)),
        RequestKind::LeaveGroup(r) => reply(id, version, &leave_group::handle(broker, r, version)),
        RequestKind::OffsetCommit(r) => reply(
            id,
            version,
            &offset_commit::handle(broker, r, version).await,
        ),
        RequestKind::OffsetFetch(r) => {
            reply(id, version, &offset_fetch::handle(broker, r, version))
        }
        RequestKind::ListGroups(r) => reply(id, version, &list_groups::handle(broker, r, version)),
        RequestKind::DescribeGroups(r) => {
            reply(id, version, &describe_groups::handle(broker, r, version))
        }
        RequestKind::DeleteGroups(r) => reply(
            id,
            version,
            &delete_groups::handle(broker, r, version).await,
        ),
        other => Outcome::Close(format!("{other:?} is not routed")),
    }
}

/// Stable, bounded label values for metrics.
pub fn api_name(key: ApiKey) -> &'static str {
    match key {
        ApiKey::Produce => "produce",
        ApiKey::Fetch => "fetch",
        ApiKey::ListOffsets => "list_offsets",
        ApiKey::Metadata => "metadata",
        ApiKey::ApiVersions => "api_versions",
        ApiKey::CreateTopics => "create_topics",
        ApiKey::DeleteTopics => "delete_topics",
        ApiKey::InitProducerId => "init_producer_id",
        ApiKey::DescribeConfigs => "describe_configs",
        ApiKey::CreatePartitions => "create_partitions",
        ApiKey::DescribeCluster => "describe_cluster",
        ApiKey::FindCoordinator => "find_coordinator",
        ApiKey::JoinGroup => "join_group",
        ApiKey::SyncGroup => "sync_group",
        ApiKey::Heartbeat => "heartbeat",
        ApiKey::LeaveGroup => "leave_group",
        ApiKey::OffsetCommit => "offset_commit",
        ApiKey::OffsetFetch => "offset_fetch",
        ApiKey::ListGroups => "list_groups",
        ApiKey::DescribeGroups => "describe_groups",
        ApiKey::DeleteGroups => "delete_groups",
        _ => "other",
    }
}

/// Runs blocking storage work off the async runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("storage task panicked")
}
