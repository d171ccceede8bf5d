//! Where batches go:
//! - `collector`: HTTP POST to a logship collector (exactly-once per file).
//! - `kafka`: any Kafka-protocol cluster through librdkafka
//!   (at-least-once across restarts).
//!
//! Sources hand either one a [`Payload`] for one partition (the collector
//! sink takes encoded Kafka RecordBatch v2 bytes, the Kafka sink the records
//! themselves) and get back an acknowledgement only once the records are
//! durable.

use std::sync::Arc;

use bytes::Bytes;
use tokio::task::JoinHandle;

use crate::batch::{HeadedRecord, KeyedRecord, OutRecord, StreamMeta};

pub mod collector;
pub mod kafka;

/// The records of one send, for one partition.
#[derive(Debug, Clone)]
pub enum Payload {
    /// An encoded, compressed RecordBatch v2 (the collector sink).
    Batch(Bytes),
    /// File lines and their stream's metadata (the Kafka sink builds one
    /// message per line, with the same headers).
    Lines(Arc<Lines>),
    /// Keyed records without headers: metric samples (the Kafka sink).
    Keyed(Arc<Vec<KeyedRecord>>),
    /// Records with their own keys and headers: journal entries (the
    /// Kafka sink).
    Headed(Arc<Vec<HeadedRecord>>),
}

#[derive(Debug)]
pub struct Lines {
    pub records: Vec<OutRecord>,
    pub meta: StreamMeta,
}

impl Payload {
    /// Bytes shipped: the batch's encoded size, or the records' values.
    pub fn len(&self) -> usize {
        match self {
            Payload::Batch(b) => b.len(),
            Payload::Lines(l) => l.records.iter().map(|r| r.value.len()).sum(),
            Payload::Keyed(k) => k.iter().map(|r| r.key.len() + r.value.len()).sum(),
            Payload::Headed(h) => h
                .iter()
                .map(|r| r.key.as_ref().map_or(0, |k| k.len()) + r.value.len())
                .sum(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a send did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink refused the request for good (the collector's 4xx other
    /// than 429, or a record librdkafka will not take); `kind` says what
    /// the caller can do about it.
    #[error("the sink refused the request ({kind}): {message}")]
    Rejected { kind: Rejection, message: String },
    /// Delivery failed after the sink's own retries (librdkafka gave up):
    /// send again from the checkpoint.
    #[error("delivery failed: {0}")]
    Retry(String),
    /// Shutdown began while retrying.
    #[error("shutting down")]
    Cancelled,
}

/// What kind of refusal a [`SinkError::Rejected`] is. The collector sink
/// reads it from the error body's code, the Kafka sink from librdkafka's
/// error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The batch's producer sequence or epoch does not follow what the sink
    /// holds: resynchronise from the checkpoint.
    SequenceConflict,
    /// The batch or a record is over the sink's size limit: smaller batches
    /// may pass.
    TooLarge,
    /// The topic or partition does not exist.
    UnknownTopic,
    /// The sink holds no state for the batch's producer id.
    UnknownProducer,
    /// Anything else the sink will never take (malformed, not allowed).
    Invalid,
}

impl std::fmt::Display for Rejection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Rejection::SequenceConflict => "sequence conflict",
            Rejection::TooLarge => "too large",
            Rejection::UnknownTopic => "unknown topic or partition",
            Rejection::UnknownProducer => "unknown producer id",
            Rejection::Invalid => "invalid",
        })
    }
}

/// The sink's answer to an appended batch.
#[derive(Debug, Clone)]
pub struct Ack {
    pub base_offset: i64,
    pub last_offset: i64,
}

pub enum Sink {
    Collector(collector::CollectorSink),
    Kafka(kafka::KafkaSink),
}

impl Sink {
    /// Whether this sink takes records ([`Payload::Lines`],
    /// [`Payload::Keyed`]) rather than encoded batches.
    pub fn takes_records(&self) -> bool {
        matches!(self, Sink::Kafka(_))
    }

    /// Appends one batch; Ok once it is acknowledged.
    pub async fn send(
        &self,
        source: &str,
        topic: &str,
        partition: i32,
        payload: Payload,
    ) -> Result<Ack, SinkError> {
        match self {
            Sink::Collector(s) => s.send(source, topic, partition, payload).await,
            Sink::Kafka(s) => s.send(source, topic, partition, payload).await,
        }
    }

    /// Starts sending one batch and returns its answer to come. Batches of
    /// one partition started one after another are appended in that order
    /// by the Kafka sink; the collector sink orders them by sequence.
    pub async fn start_send(
        self: &Arc<Self>,
        source: &str,
        topic: &str,
        partition: i32,
        payload: Payload,
    ) -> JoinHandle<Result<Ack, SinkError>> {
        let sink = Arc::clone(self);
        let (source, topic) = (source.to_owned(), topic.to_owned());
        // The Kafka sink enqueues here, in the caller's order; only the wait
        // for delivery reports runs apart.
        let queued = match &**self {
            Sink::Kafka(k) => Some(k.enqueue(&topic, partition, &payload).await),
            Sink::Collector(_) => None,
        };
        tokio::spawn(async move {
            match (&*sink, queued) {
                (Sink::Kafka(k), Some(queued)) => k.delivered(&source, queued?).await,
                _ => sink.send(&source, &topic, partition, payload).await,
            }
        })
    }

    /// The topic's partition count.
    pub async fn partitions(&self, topic: &str) -> Result<i32, SinkError> {
        match self {
            Sink::Collector(s) => s.partitions(topic).await,
            Sink::Kafka(s) => s.partitions(topic).await,
        }
    }

    /// A producer id for a new file stream. The Kafka sink's producer ids
    /// are librdkafka's own, so streams carry none (-1).
    pub async fn new_producer_id(&self) -> Result<(i64, i16), SinkError> {
        match self {
            Sink::Collector(s) => s.new_producer_id().await,
            Sink::Kafka(_) => Ok((-1, -1)),
        }
    }

    /// What the sink holds of a producer's stream: (epoch, last sequence),
    /// or None when it knows nothing of it (always, for Kafka).
    pub async fn last_sequence(
        &self,
        topic: &str,
        partition: i32,
        producer_id: i64,
    ) -> Result<Option<(i16, i32)>, SinkError> {
        match self {
            Sink::Collector(s) => s.last_sequence(topic, partition, producer_id).await,
            Sink::Kafka(_) => Ok(None),
        }
    }

    /// SIGHUP: the collector sink re-reads its TLS files and token file
    /// (keeping those in use when one cannot be read). The Kafka sink's
    /// are librdkafka's, read when the producer is created: at start only.
    /// Blocking (reads files).
    pub fn reload_credentials(&self) {
        if let Sink::Collector(s) = self {
            s.reload_credentials();
        }
    }

    /// Before exit: lets librdkafka deliver what it still holds.
    pub fn flush(&self, timeout: std::time::Duration) {
        if let Sink::Kafka(s) = self {
            s.flush(timeout)
        }
    }
}
