//! `POST /v1/topics/{topic}/records[?partition=P]`: appends a request body to
//! a partition through the same path as a Kafka Produce (CRC, offsets and
//! idempotent-producer checks in `Partition::append_unsynced`, then the
//! group-commit fsync), and answers with the offsets once durable.
//!
//! Two bodies are accepted (docs/http-api.md):
//! - `application/vnd.kafka.record-batch.v2`: one or more RecordBatch v2
//!   frames, stored verbatim (the agent's sink). `partition` is required:
//!   the sender partitions, as a Kafka producer does.
//! - `application/x-ndjson`: one JSON value per line (see [`super::ndjson`]).
//!   Without `partition`, requests go round-robin over the topic's
//!   partitions.
//!
//! Either may be sent with `Content-Encoding: gzip`. The whole body is
//! validated before anything is written, so a refused request appends
//! nothing.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;

use super::body::{self, Encoding};
use super::error::{json_response, ApiError, INVALID_RECORD};
use super::{ndjson, Authenticated, HttpState};
use crate::auth::{Operation, Resource};
use crate::broker::Broker;
use crate::error::StorageError;
use crate::storage::validate_topic_name;
use logship_common::ingest::{Appended, NDJSON, RECORD_BATCH};

/// What the body holds, from `Content-Type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Batch,
    Ndjson,
}

impl Format {
    /// Metric label.
    fn label(self) -> &'static str {
        match self {
            Format::Batch => "batch",
            Format::Ndjson => "ndjson",
        }
    }

    /// Reads `Content-Type`, ignoring parameters (`; charset=utf-8`).
    pub fn from_headers(headers: &HeaderMap) -> Result<Format, ApiError> {
        let value = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let essence = value.split(';').next().unwrap_or("").trim();
        if essence.eq_ignore_ascii_case(RECORD_BATCH) {
            Ok(Format::Batch)
        } else if essence.eq_ignore_ascii_case(NDJSON) {
            Ok(Format::Ndjson)
        } else {
            Err(ApiError::unsupported_media_type(format!(
                "unsupported Content-Type {value:?}; send {RECORD_BATCH} or {NDJSON}"
            )))
        }
    }
}

/// The `partition` query parameter, if present.
pub fn partition_param(uri: &Uri) -> Result<Option<i32>, ApiError> {
    let Some(value) = uri
        .query()
        .unwrap_or("")
        .split('&')
        .find_map(|kv| kv.strip_prefix("partition="))
    else {
        return Ok(None);
    };
    value.parse().map(Some).map_err(|_| {
        ApiError::invalid_request(format!("partition must be an integer, got {value:?}"))
    })
}

pub async fn post_records(
    State(state): State<HttpState>,
    Extension(who): Extension<Authenticated>,
    topic: Result<Path<String>, PathRejection>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    let Path(topic) = topic.map_err(|e| ApiError::invalid_request(e.body_text()))?;
    let format = Format::from_headers(&headers)?;
    let encoding = Encoding::from_headers(&headers)?;
    validate_topic_name(&topic)?;
    state
        .auth
        .authorize(&who, Operation::Write, Resource::topic(&topic))?;
    let partition = partition_param(&uri)?;
    if format == Format::Batch && partition.is_none() {
        return Err(ApiError::invalid_request(format!(
            "the partition query parameter is required for {RECORD_BATCH}"
        )));
    }
    let limit = state.max_body_bytes;
    // Held until the answer: the body, its decompressed form and the batch
    // built from it stay in memory until the append is durable.
    let mut memory = state.memory.empty();
    // A body trickled in would hold its reservation (and a connection)
    // indefinitely: it must arrive within BODY_READ_TIMEOUT.
    let received = tokio::time::timeout(
        BODY_READ_TIMEOUT,
        body::read_limited(&headers, body, limit, &mut memory),
    )
    .await
    .map_err(|_| {
        ApiError::invalid_request(format!(
            "the request body did not arrive within {}s",
            BODY_READ_TIMEOUT.as_secs()
        ))
    })??;
    let received_len = received.len() as u64;

    let broker = Arc::clone(&state.broker);
    let rr = state.next_partition.fetch_add(1, Ordering::Relaxed);
    let t = topic.clone();
    let result = crate::handler::blocking(move || {
        let body = body::decode(received, encoding, limit, &mut memory)?;
        let (p, buf, records) = match format {
            Format::Batch => {
                if body.is_empty() {
                    return Err(ApiError::kafka(INVALID_RECORD, "the request body is empty"));
                }
                let p = broker.partition(&t, partition.expect("checked above"), true)?;
                (p, Vec::from(body), None)
            }
            Format::Ndjson => {
                memory.try_grow(ndjson::memory_needed(&body))?;
                let values = ndjson::values(&body)?;
                let n = values.len();
                let partition = match partition {
                    Some(p) => p,
                    None => (rr % partition_count(&broker, &t)? as u64) as i32,
                };
                let p = broker.partition(&t, partition, true)?;
                let max = p.config().max_message_bytes;
                let buf = ndjson::encode(values, logship_common::time::now_ms(), max);
                (p, buf, Some(n))
            }
        };
        Ok::<_, ApiError>((p, buf, records, memory))
    })
    .await;
    let (p, buf, records, _memory) = result?;
    // As Produce does: append (validating the whole buffer first), then
    // wait for the group-commit fsync before acknowledging. If the wait
    // fails the client gets a 5xx and retries; an idempotent producer's
    // retry is then acknowledged as a duplicate.
    let info = append_in_sequence(&state, &p, buf).await?;
    // The fsync wait parks no thread (it is shared with concurrent appends).
    p.wait_durable_async(info.last_offset + 1).await?;
    state.broker.notify_appended();
    let acknowledged = (info.last_offset - info.base_offset + 1) as u64;
    state
        .metrics
        .http
        .ingested(&topic, format.label(), acknowledged, received_len);
    let answer = Appended {
        topic,
        partition: p.id(),
        base_offset: info.base_offset,
        last_offset: info.last_offset,
        records: records.map(|n| n as u64),
    };
    Ok(json_response(StatusCode::OK, &answer))
}

/// Partitions of `topic`, creating it first when auto-creation is on.
fn partition_count(broker: &Broker, topic: &str) -> Result<i32, StorageError> {
    match broker.storage.topic(topic) {
        Ok(t) => Ok(t.partitions.len() as i32),
        Err(StorageError::UnknownTopicOrPartition { .. }) if broker.auto_create_topics => {
            broker.auto_create(topic)?;
            Ok(broker.storage.topic(topic)?.partitions.len() as i32)
        }
        Err(e) => Err(e),
    }
}

/// How long a request body may take to arrive once its headers have.
const BODY_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a batch that arrived ahead of its producer's previous one waits
/// for it.
const REORDER_WAIT: Duration = Duration::from_secs(1);

/// Appends `buf`. HTTP requests of one producer travel on separate
/// connections, so a client keeping several batches in flight (the agent
/// does) may see a later one arrive first: a batch refused as out of order
/// is tried again whenever the partition takes an append, for up to
/// [`REORDER_WAIT`], before the refusal stands. Nothing is appended out of
/// order either way.
async fn append_in_sequence(
    state: &HttpState,
    p: &Arc<crate::storage::Partition>,
    mut buf: Vec<u8>,
) -> Result<crate::storage::AppendInfo, ApiError> {
    let deadline = tokio::time::Instant::now() + REORDER_WAIT;
    let mut appends = state.broker.subscribe_appends();
    loop {
        let part = Arc::clone(p);
        let (back, result) = crate::handler::blocking(move || {
            let r = part.append_unsynced(&mut buf);
            (buf, r)
        })
        .await;
        buf = back;
        match result {
            Err(StorageError::OutOfOrderSequence { .. })
                if tokio::time::Instant::now() < deadline =>
            {
                // Woken by the next append anywhere (or a short poll: the
                // wake-up comes after the earlier batch's fsync).
                let _ = tokio::time::timeout(Duration::from_millis(2), appends.changed()).await;
            }
            other => return Ok(other?),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_type(ct: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, ct.parse().unwrap());
        h
    }

    #[test]
    fn content_types() {
        assert_eq!(
            Format::from_headers(&with_type(RECORD_BATCH)),
            Ok(Format::Batch)
        );
        assert_eq!(
            Format::from_headers(&with_type("Application/X-NDJSON; charset=utf-8")),
            Ok(Format::Ndjson)
        );
        for other in ["application/json", "text/plain", "application/x-ndjsonx"] {
            let err = Format::from_headers(&with_type(other)).unwrap_err();
            assert_eq!(
                (err.status.as_u16(), err.code.as_str()),
                (415, "unsupported_media_type")
            );
        }
        let err = Format::from_headers(&HeaderMap::new()).unwrap_err();
        assert_eq!(err.status.as_u16(), 415);
    }

    #[test]
    fn partition_query_parameter() {
        let uri = |s: &str| s.parse::<Uri>().unwrap();
        assert_eq!(partition_param(&uri("/v1/topics/t/records")), Ok(None));
        assert_eq!(partition_param(&uri("/x?partition=3")), Ok(Some(3)));
        assert_eq!(partition_param(&uri("/x?a=b&partition=0")), Ok(Some(0)));
        assert_eq!(partition_param(&uri("/x?partition=-1")), Ok(Some(-1)));
        let err = partition_param(&uri("/x?partition=one")).unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code.as_str()),
            (400, "invalid_request")
        );
        assert!(partition_param(&uri("/x?partition=")).is_err());
    }
}
