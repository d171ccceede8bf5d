//! The Kafka sink: ships the same records to any Kafka-protocol cluster
//! through librdkafka (the `rdkafka` crate), for users who outgrow one
//! collector. Sources hand it the same uncompressed RecordBatch they would
//! POST to a collector; it produces each record (key, value, headers,
//! timestamp) to the same partition, and librdkafka batches and compresses
//! them again with the configured codec.
//!
//! A batch counts as delivered only when librdkafka has reported the
//! delivery of every record in it (acks as configured, `all` by default);
//! never when it is merely queued. A delivery failure (librdkafka gave up
//! after `message.timeout.ms`) is retried by the source from its
//! checkpoint, so nothing is lost.
//!
//! Delivery is at-least-once across agent restarts: librdkafka's
//! idempotent producer deduplicates its own retries, but a restarted agent
//! gets a new producer id, so lines sent just before a crash whose
//! acknowledgement was not yet checkpointed are sent again. (The HTTP sink
//! to a logship collector keeps one producer id per file across restarts
//! and is exactly-once.)

use std::time::{Duration, Instant};

use bytes::Bytes;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord, Producer};
use tokio_util::sync::CancellationToken;

use super::{Ack, SinkError};
use crate::config::{Acks, KafkaSinkConfig};
use crate::metrics::Metrics;

/// A batch handed to librdkafka, awaiting its delivery reports.
pub struct Queued {
    deliveries: Vec<DeliveryFuture>,
    started: Instant,
}

pub struct KafkaSink {
    producer: FutureProducer<SinkContext>,
    /// The context's "cluster unreachable" flag, cleared on delivery.
    down: Arc<AtomicBool>,
    metrics: Metrics,
    shutdown: CancellationToken,
    backoff: (Duration, Duration),
}

impl KafkaSink {
    pub fn new(
        config: &KafkaSinkConfig,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Result<KafkaSink, String> {
        let down = Arc::new(AtomicBool::new(false));
        let context = SinkContext {
            metrics: metrics.clone(),
            down: Arc::clone(&down),
        };
        let producer: FutureProducer<SinkContext> = client_config(config)
            .create_with_context(context)
            .map_err(|e| format!("agent.sink: creating the Kafka producer: {e}"))?;
        Ok(KafkaSink {
            producer,
            down,
            metrics,
            shutdown,
            backoff: (
                config.retry.initial_backoff,
                config.retry.max_backoff.max(config.retry.initial_backoff),
            ),
        })
    }

    /// Produces every record of one uncompressed RecordBatch to
    /// `topic`/`partition` and waits until librdkafka reports each
    /// delivered.
    pub async fn send(
        &self,
        source: &str,
        topic: &str,
        partition: i32,
        batch: Bytes,
    ) -> Result<Ack, SinkError> {
        let queued = self.enqueue_batch(topic, partition, batch).await?;
        self.delivered(source, queued).await
    }

    /// Hands a batch's records to librdkafka, in order (waiting while its
    /// queue is full). Batches of one partition enqueued one after another
    /// keep their order: the idempotent producer never reorders.
    pub async fn enqueue_batch(
        &self,
        topic: &str,
        partition: i32,
        batch: Bytes,
    ) -> Result<Queued, SinkError> {
        let mut buf = batch;
        let set = kafka_protocol::records::RecordBatchDecoder::decode(&mut buf).map_err(|e| {
            SinkError::Rejected {
                status: 400,
                message: format!("undecodable batch: {e}"),
            }
        })?;
        let started = Instant::now();
        let mut deliveries: Vec<DeliveryFuture> = Vec::with_capacity(set.records.len());
        for r in &set.records {
            let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
            for (k, v) in &r.headers {
                headers = headers.insert(Header {
                    key: k.as_str(),
                    value: v.as_deref(),
                });
            }
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic)
                .partition(partition)
                .timestamp(r.timestamp)
                .headers(headers);
            if let Some(k) = &r.key {
                record = record.key(k.as_ref());
            }
            if let Some(v) = &r.value {
                record = record.payload(v.as_ref());
            }
            deliveries.push(self.enqueue(record).await?);
        }
        self.metrics.kafka_queue_depth.add(deliveries.len() as i64);
        Ok(Queued {
            deliveries,
            started,
        })
    }

    /// Waits for every delivery report of a queued batch.
    pub async fn delivered(&self, source: &str, queued: Queued) -> Result<Ack, SinkError> {
        let mut ack: Option<Ack> = None;
        let mut failure: Option<KafkaError> = None;
        let depth = &self.metrics.kafka_queue_depth;
        for d in queued.deliveries {
            depth.dec();
            match d.await {
                Ok(Ok(delivery)) => {
                    let a = ack.get_or_insert(Ack {
                        base_offset: delivery.offset,
                        last_offset: delivery.offset,
                    });
                    a.base_offset = a.base_offset.min(delivery.offset);
                    a.last_offset = a.last_offset.max(delivery.offset);
                }
                Ok(Err((e, _))) => {
                    failure.get_or_insert(e);
                }
                Err(_) => failure = Some(KafkaError::Canceled),
            }
        }
        if let Some(e) = failure {
            self.metrics
                .kafka_delivery_errors
                .with_label_values(&[source])
                .inc();
            tracing::warn!(source, error = %e, "Kafka delivery failed; re-sending from the checkpoint");
            self.pause(self.backoff.0).await?;
            return Err(SinkError::Retry(e.to_string()));
        }
        if self.down.swap(false, Ordering::Relaxed) {
            tracing::info!("Kafka deliveries are going through again");
        }
        self.metrics
            .kafka_delivery_seconds
            .with_label_values(&[source])
            .observe(queued.started.elapsed().as_secs_f64());
        Ok(ack.unwrap_or(Ack {
            base_offset: -1,
            last_offset: -1,
        }))
    }

    /// Hands one record to librdkafka, waiting while its queue is full.
    async fn enqueue<'a>(
        &self,
        mut record: FutureRecord<'a, [u8], [u8]>,
    ) -> Result<DeliveryFuture, SinkError> {
        let mut wait = Duration::from_millis(1);
        loop {
            match self.producer.send_result(record) {
                Ok(d) => return Ok(d),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.pause(wait).await?;
                    wait = (wait * 2).min(Duration::from_millis(100));
                }
                Err((e, _)) => {
                    return Err(SinkError::Rejected {
                        status: 400,
                        message: format!("librdkafka refused a record: {e}"),
                    })
                }
            }
        }
    }

    async fn pause(&self, d: Duration) -> Result<(), SinkError> {
        tokio::select! {
            _ = tokio::time::sleep(d) => Ok(()),
            _ = self.shutdown.cancelled() => Err(SinkError::Cancelled),
        }
    }

    /// The topic's partition count from the cluster's metadata (which may
    /// create the topic, if the cluster auto-creates topics). Retried with
    /// backoff while the cluster cannot be reached.
    pub async fn partitions(&self, topic: &str) -> Result<i32, SinkError> {
        let mut backoff = self.backoff.0;
        loop {
            let producer = self.producer.clone();
            let t = topic.to_owned();
            let found = tokio::task::spawn_blocking(move || {
                let md = producer
                    .client()
                    .fetch_metadata(Some(&t), Duration::from_secs(5))?;
                let n = md
                    .topics()
                    .iter()
                    .find(|m| m.name() == t && m.error().is_none())
                    .map_or(0, |m| m.partitions().len() as i32);
                Ok::<i32, KafkaError>(n)
            })
            .await
            .map_err(|e| SinkError::Retry(e.to_string()))?;
            match found {
                Ok(n) if n > 0 => return Ok(n),
                Ok(_) => tracing::warn!(topic, "topic not (yet) in the cluster's metadata"),
                Err(e) => tracing::warn!(topic, error = %e, "Kafka metadata request failed"),
            }
            self.metrics
                .errors
                .with_label_values(&["sink_connect"])
                .inc();
            self.pause(backoff).await?;
            backoff = (backoff * 2).min(self.backoff.1);
        }
    }

    /// Waits (up to `timeout`) for queued records to be delivered.
    pub fn flush(&self, timeout: Duration) {
        if let Err(e) = self.producer.flush(timeout) {
            tracing::warn!(error = %e, "flushing the Kafka producer");
        }
    }
}

/// librdkafka's callbacks: its global errors are counted, and a cluster
/// that cannot be reached is logged once when it goes away (librdkafka
/// retries every connection itself).
struct SinkContext {
    metrics: Metrics,
    /// Set while no broker can be reached.
    down: Arc<AtomicBool>,
}

impl ClientContext for SinkContext {
    fn error(&self, error: KafkaError, reason: &str) {
        let code = error.rdkafka_error_code();
        let kind = match code {
            Some(RDKafkaErrorCode::AllBrokersDown | RDKafkaErrorCode::BrokerTransportFailure) => {
                "sink_connect"
            }
            Some(RDKafkaErrorCode::MessageTimedOut | RDKafkaErrorCode::RequestTimedOut) => {
                "sink_timeout"
            }
            _ => "sink_kafka",
        };
        self.metrics.errors.with_label_values(&[kind]).inc();
        if code == Some(RDKafkaErrorCode::AllBrokersDown) {
            if !self.down.swap(true, Ordering::Relaxed) {
                tracing::warn!(
                    reason,
                    "no Kafka broker reachable; librdkafka keeps retrying"
                );
            }
        } else if kind == "sink_connect" {
            tracing::debug!(%error, reason, "Kafka connection failed");
        } else {
            tracing::warn!(%error, reason, "Kafka client error");
        }
    }

    fn log(&self, level: RDKafkaLogLevel, fac: &str, message: &str) {
        match level {
            // Connection failures come here too, as errors, every retry;
            // `error` above already counted and reported them.
            _ if fac == "FAIL" => tracing::debug!(target: "librdkafka", fac, message),
            RDKafkaLogLevel::Emerg
            | RDKafkaLogLevel::Alert
            | RDKafkaLogLevel::Critical
            | RDKafkaLogLevel::Error => tracing::error!(target: "librdkafka", fac, message),
            RDKafkaLogLevel::Warning => tracing::warn!(target: "librdkafka", fac, message),
            RDKafkaLogLevel::Notice | RDKafkaLogLevel::Info => {
                tracing::info!(target: "librdkafka", fac, message)
            }
            RDKafkaLogLevel::Debug => tracing::debug!(target: "librdkafka", fac, message),
        }
    }
}

/// librdkafka settings: ours first, then the user's `options`, which win.
fn client_config(config: &KafkaSinkConfig) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", config.brokers.join(","))
        .set("enable.idempotence", config.idempotence.to_string())
        .set(
            "acks",
            match config.acks {
                Acks::All => "all",
                Acks::Leader => "1",
                Acks::None => "0",
            },
        )
        .set("compression.codec", config.compression.as_str())
        .set("linger.ms", config.linger.as_millis().to_string())
        .set("partitioner", "murmur2_random")
        .set("client.id", "logship-agent");
    for (k, v) in &config.options {
        c.set(k, v);
    }
    c
}
