//! Kafka request routing: read the request header, refuse what is not
//! supported the way Kafka does, decode with `kafka-protocol`, call the
//! API's handler (one file per API), encode the response.
//!
//! Handlers are free of socket I/O: they take a decoded request and return a
//! response, with per-topic and per-partition failures as Kafka error codes
//! in the response, never as a Rust error.

mod alter_configs;
mod api_versions;
mod create_acls;
mod create_partitions;
mod create_topics;
mod delete_acls;
mod delete_groups;
mod delete_records;
mod delete_topics;
mod describe_acls;
mod describe_cluster;
mod describe_configs;
mod describe_groups;
mod fetch;
mod find_coordinator;
mod heartbeat;
mod incremental_alter_configs;
mod init_producer_id;
mod join_group;
mod leave_group;
mod list_groups;
mod list_offsets;
mod metadata;
mod offset_commit;
mod offset_fetch;
mod pre_auth;
mod produce;
mod sasl_authenticate;
mod sasl_handshake;
mod sync_group;

use std::sync::Arc;
use std::time::Instant;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind, ResponseHeader};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use crate::auth::Access;
use crate::broker::Broker;
use crate::session::Session;
use crate::storage::FileRange;

/// A part of a response frame.
#[derive(Debug, Clone)]
pub enum Piece {
    Bytes(Bytes),
    /// A record set still in its segment file: on a plaintext connection
    /// it goes from the file to the socket by sendfile(2).
    File(FileRange),
}

impl Piece {
    pub fn len(&self) -> usize {
        match self {
            Piece::Bytes(b) => b.len(),
            Piece::File(r) => r.len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the connection should do with a request.
pub enum Outcome {
    /// Send these bytes (length prefix included).
    Respond(BytesMut),
    /// Send these pieces in order, together one frame (length prefix
    /// included): a Fetch response, whose record sets are sent as read
    /// from the log, or straight from the segment files, rather than
    /// copied into the frame.
    RespondPieces(Vec<Piece>),
    /// Produce with acks=0: no response.
    NoResponse,
    /// Answered later (a Produce waiting for its fsync); the connection
    /// goes on reading and writes this in its turn.
    Pending(tokio::task::JoinHandle<Outcome>),
    /// Unparseable or unsupported: log, close the connection.
    Close(String),
    /// Send these bytes (possibly none), then close the connection: a
    /// failed authentication, already logged.
    Final(BytesMut),
}

/// One served Kafka API: a row of [`SERVED`].
#[derive(Debug)]
pub struct Api {
    pub key: ApiKey,
    /// Lowest and highest version served: a contiguous range that includes
    /// the old versions librdkafka 2.0.2 checks for (docs/kafka-compatibility.md).
    pub versions: (i16, i16),
    /// The `api` label of the request metrics (bounded, stable).
    pub label: &'static str,
}

/// Declares the served APIs once: each row gives the API key, the versions,
/// the metric label and how the decoded request is handled (given the
/// broker, the request body, its version, its correlation id and who sent
/// it). Expands to the [`SERVED`] table and the router.
macro_rules! served_apis {
    ($( $key:ident $min:literal ..= $max:literal $label:literal
        |$b:pat_param, $r:pat_param, $v:pat_param, $id:pat_param, $ctx:pat_param| $handler:expr; )*) => {
        /// Every served API, in the order ApiVersions lists them.
        pub const SERVED: &[Api] = &[
            $( Api { key: ApiKey::$key, versions: ($min, $max), label: $label }, )*
        ];

        async fn route(broker: &Arc<Broker>, request: Request, ctx: &RequestContext<'_>) -> Outcome {
            let Request { version, correlation_id, body, .. } = request;
            match body {
                $( RequestKind::$key($r) => {
                    let ($b, $v, $id, $ctx) = (broker, version, correlation_id, ctx);
                    $handler
                } )*
                other => Outcome::Close(format!("{other:?} is not routed")),
            }
        }
    };
}

served_apis! {
    Produce          3..=9  "produce"           |b, r, v, id, ctx| produce::handle(b, r, v, id, &ctx.access).await;
    Fetch            4..=11 "fetch"             |b, r, v, id, ctx| fetch::reply(id, v, fetch::handle(b, r, v, &ctx.access).await);
    ListOffsets      1..=7  "list_offsets"      |b, r, v, id, ctx| reply(id, v, &list_offsets::handle(b, r, v, &ctx.access).await);
    Metadata         0..=12 "metadata"          |b, r, v, id, ctx| reply(id, v, &metadata::handle(b, r, v, ctx.session, &ctx.access).await);
    ApiVersions      0..=3  "api_versions"      |b, r, v, id, _| reply(id, v, &api_versions::handle(b, r, v));
    CreateTopics     2..=7  "create_topics"     |b, r, v, id, ctx| reply(id, v, &create_topics::handle(b, r, v, &ctx.access).await);
    DeleteTopics     1..=6  "delete_topics"     |b, r, v, id, ctx| reply(id, v, &delete_topics::handle(b, r, v, &ctx.access).await);
    InitProducerId   0..=4  "init_producer_id"  |b, r, v, id, ctx| reply(id, v, &init_producer_id::handle(b, r, v, &ctx.access).await);
    DescribeConfigs  1..=4  "describe_configs"  |b, r, v, id, ctx| reply(id, v, &describe_configs::handle(b, r, v, &ctx.access));
    CreatePartitions 0..=3  "create_partitions" |b, r, v, id, ctx| reply(id, v, &create_partitions::handle(b, r, v, &ctx.access).await);
    DescribeCluster  0..=1  "describe_cluster"  |b, r, v, id, ctx| reply(id, v, &describe_cluster::handle(b, r, v, ctx.session, &ctx.access));
    FindCoordinator  0..=4  "find_coordinator"  |b, r, v, id, ctx| reply(id, v, &find_coordinator::handle(b, r, v, ctx.session, &ctx.access));
    JoinGroup        0..=7  "join_group"        |b, r, v, id, ctx| reply(id, v, &join_group::handle(b, r, v, ctx).await);
    SyncGroup        0..=5  "sync_group"        |b, r, v, id, ctx| reply(id, v, &sync_group::handle(b, r, v, &ctx.access).await);
    Heartbeat        0..=4  "heartbeat"         |b, r, v, id, ctx| reply(id, v, &heartbeat::handle(b, r, v, &ctx.access));
    LeaveGroup       0..=4  "leave_group"       |b, r, v, id, ctx| reply(id, v, &leave_group::handle(b, r, v, &ctx.access));
    OffsetCommit     2..=8  "offset_commit"     |b, r, v, id, ctx| reply(id, v, &offset_commit::handle(b, r, v, &ctx.access).await);
    OffsetFetch      1..=7  "offset_fetch"      |b, r, v, id, ctx| reply(id, v, &offset_fetch::handle(b, r, v, &ctx.access));
    ListGroups       0..=4  "list_groups"       |b, r, v, id, ctx| reply(id, v, &list_groups::handle(b, r, v, &ctx.access));
    DescribeGroups   0..=5  "describe_groups"   |b, r, v, id, ctx| reply(id, v, &describe_groups::handle(b, r, v, &ctx.access));
    DeleteGroups     0..=2  "delete_groups"     |b, r, v, id, ctx| reply(id, v, &delete_groups::handle(b, r, v, &ctx.access).await);
    DeleteRecords    0..=2  "delete_records"    |b, r, v, id, ctx| reply(id, v, &delete_records::handle(b, r, v, &ctx.access).await);
    AlterConfigs     0..=2  "alter_configs"     |b, r, v, id, ctx| reply(id, v, &alter_configs::handle(b, r, v, &ctx.access).await);
    IncrementalAlterConfigs 0..=1 "incremental_alter_configs" |b, r, v, id, ctx| reply(id, v, &incremental_alter_configs::handle(b, r, v, &ctx.access).await);
    DescribeAcls     1..=3  "describe_acls"     |b, r, v, id, ctx| reply(id, v, &describe_acls::handle(b, r, v, &ctx.access));
    CreateAcls       1..=3  "create_acls"       |b, r, v, id, ctx| reply(id, v, &create_acls::handle(b, r, v, &ctx.access));
    DeleteAcls       1..=3  "delete_acls"       |b, r, v, id, ctx| reply(id, v, &delete_acls::handle(b, r, v, &ctx.access));
    // Before authentication these two are answered by pre_auth.rs; here
    // only once authenticated, or on a listener without SASL.
    SaslHandshake    0..=1  "sasl_handshake"    |_, r, v, id, _| reply(id, v, &sasl_handshake::handle_authenticated(r));
    SaslAuthenticate 0..=2  "sasl_authenticate" |_, r, v, id, _| reply(id, v, &sasl_authenticate::handle_authenticated(r));
}

/// The row of [`SERVED`] for `key`, if the API is served.
pub fn served(key: ApiKey) -> Option<&'static Api> {
    SERVED.iter().find(|a| a.key == key)
}

/// The versions served of `key`, if it is served.
pub fn supported_versions(key: ApiKey) -> Option<(i16, i16)> {
    served(key).map(|a| a.versions)
}

/// The metric label of `key` (`other` for an API not served).
pub fn api_name(key: ApiKey) -> &'static str {
    served(key).map_or("other", |a| a.label)
}

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

/// Who sent a request (group members are described by these) and the
/// connection's session (its listener's advertised address, principal).
pub struct RequestContext<'a> {
    pub client_id: String,
    /// The session's principal and the ACLs in force when the request
    /// arrived: every handler asks it (see `auth::required`).
    pub access: Access,
    /// Kafka's format: `/<ip>`.
    pub client_host: String,
    pub session: &'a Session,
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
    pub(crate) fn kind(&self) -> &'static str {
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

/// Handles one request frame (without its length prefix) from the
/// connection whose state is `session`. Until a SASL listener's connection
/// has authenticated, [`pre_auth`] decides what it may do.
pub async fn handle(broker: &Arc<Broker>, frame: Bytes, session: &mut Session) -> Outcome {
    if !session.authenticated {
        return pre_auth::handle(broker, frame, session).await;
    }
    let started = Instant::now();
    let request = match parse_or_refuse(broker, frame) {
        Ok(r) => r,
        Err(outcome) => return outcome,
    };
    dispatch(broker, request, session, started).await
}

/// Parses `frame`; a refused one becomes what the connection gets instead:
/// the ApiVersions "too new" answer, or (counted) closing it.
pub(crate) fn parse_or_refuse(broker: &Broker, frame: Bytes) -> Result<Request, Outcome> {
    match parse(frame) {
        Ok(r) => Ok(r),
        Err(Refusal::ApiVersionsTooNew { correlation_id }) => {
            Err(api_versions::unsupported_version(correlation_id))
        }
        Err(refusal) => {
            broker.metrics.kafka.request_error(refusal.kind());
            Err(Outcome::Close(format!("{refusal:?}")))
        }
    }
}

/// Routes a parsed request to its handler and times it.
async fn dispatch(
    broker: &Arc<Broker>,
    request: Request,
    session: &Session,
    started: Instant,
) -> Outcome {
    let key = request.key;
    let ctx = RequestContext {
        access: broker.access.request(api_name(key), &session.principal),
        client_id: request.client_id.clone(),
        client_host: session
            .peer
            .map(|p| format!("/{}", p.ip()))
            .unwrap_or_default(),
        session,
    };
    let outcome = route(broker, request, &ctx).await;
    // For Produce this times the append; the fsync wait is in the fsync histogram.
    broker
        .metrics
        .kafka
        .request(api_name(key), started.elapsed().as_secs_f64());
    outcome
}

/// Runs blocking storage work off the async runtime.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f)
        .await
        .expect("storage task panicked")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The served-API table under the `## {heading}` section of the
    /// repository file `path`: (API, "min–max") pairs, two per row.
    fn documented_apis(path: &str, heading: &str) -> Vec<(String, String)> {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(path),
        )
        .unwrap_or_else(|e| panic!("{path}: {e}"));
        let section = text
            .split("\n## ")
            .find(|s| s.starts_with(heading))
            .unwrap_or_else(|| panic!("{path} has no section {heading:?}"));
        let mut rows = section
            .lines()
            .skip_while(|l| !l.starts_with("| API | versions |"))
            .skip(2)
            .take_while(|l| l.starts_with('|'))
            .peekable();
        assert!(
            rows.peek().is_some(),
            "{path}: the served-API table is empty"
        );
        let mut apis = Vec::new();
        for row in rows {
            let cells: Vec<&str> = row.trim_matches('|').split('|').map(str::trim).collect();
            for pair in cells.chunks(2) {
                match pair {
                    ["", ""] => {}
                    [name, versions] => apis.push((name.to_string(), versions.to_string())),
                    _ => panic!("{path}: odd number of cells in {row:?}"),
                }
            }
        }
        apis.sort();
        apis
    }

    #[test]
    fn readme_and_docs_list_exactly_the_served_apis_and_versions() {
        let mut served: Vec<(String, String)> = SERVED
            .iter()
            .map(|a| {
                (
                    format!("{:?}", a.key),
                    format!("{}–{}", a.versions.0, a.versions.1),
                )
            })
            .collect();
        served.sort();
        for (path, heading) in [
            ("README.md", "Kafka compatibility"),
            (
                "docs/kafka-compatibility.md",
                "ApiVersions and the versions served",
            ),
        ] {
            assert_eq!(documented_apis(path, heading), served, "{path}");
        }
    }

    #[test]
    fn served_table_has_one_row_per_api_and_label() {
        for (i, a) in SERVED.iter().enumerate() {
            assert!(a.versions.0 <= a.versions.1, "{:?}", a.key);
            assert!(a.versions.1 <= a.key.valid_versions().max, "{:?}", a.key);
            for b in &SERVED[i + 1..] {
                assert_ne!(a.key, b.key);
                assert_ne!(a.label, b.label);
            }
        }
        assert_eq!(api_name(ApiKey::Produce), "produce");
        assert_eq!(api_name(ApiKey::AlterPartitionReassignments), "other");
        assert_eq!(supported_versions(ApiKey::Fetch), Some((4, 11)));
    }
}
