//! Where batches go:
//! - `collector`: HTTP POST to a logship collector (exactly-once per file).
//! - `kafka`: any Kafka-protocol cluster through librdkafka
//!   (at-least-once across restarts).
//!
//! Sources hand either one a Kafka RecordBatch v2 for one partition and get
//! back an acknowledgement only once the records are durable.

use std::sync::Arc;

use bytes::Bytes;
use serde::Deserialize;
use tokio::task::JoinHandle;

pub mod collector;
pub mod kafka;

/// Why a send did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The sink refused the request for good (an HTTP 4xx other than 429,
    /// or a record librdkafka will not take).
    #[error("the sink refused the request: HTTP {status}: {message}")]
    Rejected { status: u16, message: String },
    /// Delivery failed after the sink's own retries (librdkafka gave up):
    /// send again from the checkpoint.
    #[error("delivery failed: {0}")]
    Retry(String),
    /// Shutdown began while retrying.
    #[error("shutting down")]
    Cancelled,
}

/// The sink's answer to an appended batch.
#[derive(Debug, Clone, Deserialize)]
pub struct Ack {
    pub base_offset: i64,
    pub last_offset: i64,
}

pub enum Sink {
    Collector(collector::CollectorSink),
    Kafka(kafka::KafkaSink),
}

impl Sink {
    /// Whether batches handed to this sink should be compressed by the
    /// agent (the Kafka sink decodes them and librdkafka compresses).
    pub fn compresses_batches(&self) -> bool {
        matches!(self, Sink::Collector(_))
    }

    /// Appends one batch; Ok once it is acknowledged.
    pub async fn send(
        &self,
        source: &str,
        topic: &str,
        partition: i32,
        batch: Bytes,
    ) -> Result<Ack, SinkError> {
        match self {
            Sink::Collector(s) => s.send(source, topic, partition, batch).await,
            Sink::Kafka(s) => s.send(source, topic, partition, batch).await,
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
        batch: Bytes,
    ) -> JoinHandle<Result<Ack, SinkError>> {
        let sink = Arc::clone(self);
        let (source, topic) = (source.to_owned(), topic.to_owned());
        match &**self {
            Sink::Collector(_) => tokio::spawn(async move {
                let Sink::Collector(s) = &*sink else {
                    unreachable!()
                };
                s.send(&source, &topic, partition, batch).await
            }),
            Sink::Kafka(s) => {
                let queued = s.enqueue_batch(&topic, partition, batch).await;
                tokio::spawn(async move {
                    let Sink::Kafka(s) = &*sink else {
                        unreachable!()
                    };
                    s.delivered(&source, queued?).await
                })
            }
        }
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

    /// Before exit: lets librdkafka deliver what it still holds.
    pub fn flush(&self, timeout: std::time::Duration) {
        if let Sink::Kafka(s) = self {
            s.flush(timeout)
        }
    }
}
