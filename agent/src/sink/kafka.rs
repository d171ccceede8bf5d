//! The Kafka sink: ships the same records to any Kafka-protocol cluster
//! through librdkafka (the `rdkafka` crate), for users who outgrow one
//! collector. Sources hand it records (file lines with their stream's
//! metadata, or keyed samples); it produces one message per record, with
//! the same value, key, headers and timestamp the collector sink's batches
//! carry, to the same partition. librdkafka batches and compresses them.
//!
//! A send counts as delivered only when librdkafka has reported the
//! delivery of every record in it (acks as configured, `all` by default);
//! never when it is merely queued. Delivery reports are counted per send on
//! librdkafka's polling thread (one shared counter, not a future per
//! message). A failed delivery (librdkafka gave up after
//! `message.timeout.ms`) is retried by the source from its checkpoint, so
//! nothing is lost.
//!
//! Delivery is at-least-once across agent restarts: librdkafka's
//! idempotent producer deduplicates its own retries, but a restarted agent
//! gets a new producer id, so lines sent just before a crash whose
//! acknowledgement was not yet checkpointed are sent again. (The HTTP sink
//! to a logship collector keeps one producer id per file across restarts
//! and is exactly-once.)

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Message, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use tokio::sync::oneshot;
use tokio_util::sync::CancellationToken;

use super::{Ack, Payload, Rejection, SinkError};
use crate::batch;
use crate::config::{Acks, Encoding, KafkaSinkConfig};
use crate::error::ClientSetupError;
use crate::metrics::Metrics;

/// One send's records handed to librdkafka, awaiting their delivery
/// reports.
pub struct Queued {
    state: Arc<SendState>,
    done: oneshot::Receiver<()>,
    records: i64,
    started: Instant,
}

/// Shared by a send's records and updated from their delivery reports.
struct SendState {
    /// Reports still to come, plus one held by the sender until every
    /// record is enqueued (reports can arrive before that).
    remaining: AtomicUsize,
    first_offset: AtomicI64,
    last_offset: AtomicI64,
    error: Mutex<Option<KafkaError>>,
    done: Mutex<Option<oneshot::Sender<()>>>,
}

impl SendState {
    /// Counts `n` reports (or enqueue slots given up); the last one wakes
    /// the sender.
    fn settle(&self, n: usize) {
        if self.remaining.fetch_sub(n, Ordering::AcqRel) == n {
            if let Some(tx) = self.done.lock().unwrap_or_else(|e| e.into_inner()).take() {
                let _ = tx.send(());
            }
        }
    }
}

pub struct KafkaSink {
    producer: ThreadedProducer<SinkContext>,
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
    ) -> Result<KafkaSink, ClientSetupError> {
        let down = Arc::new(AtomicBool::new(false));
        let context = SinkContext {
            metrics: metrics.clone(),
            down: Arc::clone(&down),
        };
        let producer: ThreadedProducer<SinkContext> = client_config(config)?
            .create_with_context(context)
            .map_err(producer_error)?;
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

    /// Produces every record of `payload` to `topic`/`partition` and waits
    /// until librdkafka reports each delivered.
    pub async fn send(
        &self,
        source: &str,
        topic: &str,
        partition: i32,
        payload: Payload,
    ) -> Result<Ack, SinkError> {
        let queued = self.enqueue(topic, partition, &payload).await;
        self.delivered(source, queued?).await
    }

    /// Hands the records to librdkafka, in order (waiting while its queue
    /// is full). Sends to one partition enqueued one after another keep
    /// their order: the idempotent producer never reorders.
    pub async fn enqueue(
        &self,
        topic: &str,
        partition: i32,
        payload: &Payload,
    ) -> Result<Queued, SinkError> {
        let records = match payload {
            Payload::Lines(l) => l.records.len(),
            Payload::Keyed(k) => k.len(),
            Payload::Headed(h) => h.len(),
            Payload::Batch(_) => {
                return Err(SinkError::Rejected {
                    kind: Rejection::Invalid,
                    message: "the Kafka sink takes records, not encoded batches".into(),
                })
            }
        };
        let (tx, done) = oneshot::channel();
        let state = Arc::new(SendState {
            remaining: AtomicUsize::new(records + 1),
            first_offset: AtomicI64::new(i64::MAX),
            last_offset: AtomicI64::new(-1),
            error: Mutex::new(None),
            done: Mutex::new(Some(tx)),
        });
        let started = Instant::now();
        let mut sent = 0;
        let mut result = Ok(());
        for i in 0..records {
            // One message per line (value, headers host/path/offset/labels)
            // or per sample (key, value), as the collector sink's batches.
            let record = BaseRecord::with_opaque_to(topic, Arc::clone(&state)).partition(partition);
            let offset_text;
            let json;
            let record = match payload {
                Payload::Lines(lines) => {
                    let (r, meta) = (&lines.records[i], &lines.meta);
                    offset_text = r.offset.to_string();
                    let mut headers = OwnedHeaders::new_with_capacity(3 + meta.labels.len());
                    for (key, value) in [
                        ("host", meta.host.as_ref()),
                        ("path", meta.path.as_ref()),
                        ("offset", offset_text.as_bytes()),
                    ]
                    .into_iter()
                    .chain(meta.labels.iter().map(|(k, v)| (k.as_str(), v.as_ref())))
                    {
                        headers = headers.insert(Header {
                            key,
                            value: Some(value),
                        });
                    }
                    json = match meta.encoding {
                        Encoding::Text => None,
                        Encoding::Json => Some(batch::json_value(r, meta)),
                    };
                    record
                        .timestamp(r.timestamp)
                        .headers(headers)
                        .payload(json.as_ref().unwrap_or(&r.value).as_ref())
                }
                Payload::Keyed(keyed) => {
                    let r = &keyed[i];
                    record
                        .timestamp(r.timestamp)
                        .key(r.key.as_ref())
                        .payload(r.value.as_ref())
                }
                Payload::Headed(headed) => {
                    let r = &headed[i];
                    let mut headers = OwnedHeaders::new_with_capacity(r.headers.len());
                    for (key, value) in &r.headers {
                        headers = headers.insert(Header {
                            key: key.as_str(),
                            value: value.as_deref(),
                        });
                    }
                    let record = record
                        .timestamp(r.timestamp)
                        .headers(headers)
                        .payload(r.value.as_ref());
                    match &r.key {
                        Some(k) => record.key(k.as_ref()),
                        None => record,
                    }
                }
                Payload::Batch(_) => unreachable!("refused above"),
            };
            result = self.produce(record).await;
            if result.is_err() {
                break;
            }
            sent += 1;
        }
        self.metrics.kafka_queue_depth.add(sent as i64);
        // The sender's slot, and those of records never handed over.
        state.settle(1 + records - sent);
        let queued = Queued {
            state,
            done,
            records: sent as i64,
            started,
        };
        match result {
            Ok(()) => Ok(queued),
            Err(e) => {
                // What was handed over is still reported; wait for it so
                // the queue depth stays true, then fail the send.
                let _ = queued.done.await;
                self.metrics.kafka_queue_depth.sub(queued.records);
                Err(e)
            }
        }
    }

    /// Hands one record to librdkafka, waiting while its queue is full.
    async fn produce(
        &self,
        mut record: BaseRecord<'_, [u8], [u8], Arc<SendState>>,
    ) -> Result<(), SinkError> {
        let mut wait = Duration::from_millis(1);
        loop {
            match self.producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    self.pause(wait).await?;
                    wait = (wait * 2).min(Duration::from_millis(100));
                }
                Err((e, _)) => {
                    return Err(SinkError::Rejected {
                        kind: rejection(&e),
                        message: format!("librdkafka refused a record: {e}"),
                    })
                }
            }
        }
    }

    /// Waits for every delivery report of a queued send.
    pub async fn delivered(&self, source: &str, queued: Queued) -> Result<Ack, SinkError> {
        let _ = queued.done.await;
        self.metrics.kafka_queue_depth.sub(queued.records);
        let state = queued.state;
        let failure = state.error.lock().unwrap_or_else(|e| e.into_inner()).take();
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
        Ok(Ack {
            base_offset: state
                .first_offset
                .load(Ordering::Relaxed)
                .min(state.last_offset.load(Ordering::Relaxed)),
            last_offset: state.last_offset.load(Ordering::Relaxed),
        })
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

/// The kind of refusal a librdkafka error is.
fn rejection(e: &KafkaError) -> Rejection {
    use RDKafkaErrorCode as C;
    match e.rdkafka_error_code() {
        Some(C::MessageSizeTooLarge | C::MessageBatchTooLarge | C::InvalidMessageSize) => {
            Rejection::TooLarge
        }
        Some(C::UnknownTopic | C::UnknownPartition | C::UnknownTopicOrPartition) => {
            Rejection::UnknownTopic
        }
        Some(C::OutOfOrderSequenceNumber | C::InvalidProducerEpoch) => Rejection::SequenceConflict,
        Some(C::UnknownProducerId) => Rejection::UnknownProducer,
        _ => Rejection::Invalid,
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

impl ProducerContext for SinkContext {
    type DeliveryOpaque = Arc<SendState>;

    fn delivery(&self, result: &DeliveryResult<'_>, state: Arc<SendState>) {
        match result {
            Ok(m) => {
                state.first_offset.fetch_min(m.offset(), Ordering::Relaxed);
                state.last_offset.fetch_max(m.offset(), Ordering::Relaxed);
            }
            Err((e, _)) => {
                state
                    .error
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| e.clone());
            }
        }
        state.settle(1);
    }
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
            Some(RDKafkaErrorCode::Authentication) => "sink_auth",
            _ => "sink_kafka",
        };
        self.metrics.errors.with_label_values(&[kind]).inc();
        if kind == "sink_auth" {
            // A refused SASL login (wrong password, unknown user, mechanism
            // not offered); librdkafka retries with backoff.
            self.metrics
                .auth_failures
                .with_label_values(&["kafka", "sasl_authentication"])
                .inc();
        }
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

/// librdkafka settings: ours first, then those `tls` and `sasl` map to,
/// then the user's `options`, which win.
fn client_config(config: &KafkaSinkConfig) -> Result<ClientConfig, ClientSetupError> {
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
    let security = crate::security::kafka_properties(config.tls.as_ref(), config.sasl.as_ref())
        .map_err(|error| ClientSetupError::SecretFile {
            key: "agent.sink.sasl.password_file".into(),
            error,
        })?;
    for (k, v) in security {
        c.set(k, v.expose());
    }
    for (k, v) in &config.options {
        c.set(k, v);
    }
    Ok(c)
}

/// Why the producer was not created. librdkafka checks each property as
/// it is set, and its message for a refused value may quote the value:
/// for a secret property only the name is kept.
fn producer_error(error: KafkaError) -> ClientSetupError {
    match error {
        KafkaError::ClientConfig(_, reason, property, _value) => {
            let reason = if crate::security::is_secret_property(&property) {
                "its value (a secret, not shown) is invalid".to_owned()
            } else {
                reason
            };
            ClientSetupError::KafkaProperty { property, reason }
        }
        error => ClientSetupError::KafkaProducer { error },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(extra: serde_json::Value) -> Result<KafkaSink, ClientSetupError> {
        let mut config = serde_json::json!({ "brokers": ["127.0.0.1:9"] });
        config
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let config: KafkaSinkConfig = serde_json::from_value(config).unwrap();
        KafkaSink::new(&config, Metrics::new(), CancellationToken::new())
    }

    #[test]
    fn a_refused_property_is_named_and_a_secret_value_never_shown() {
        let e = sink(serde_json::json!({ "options": { "linger.ms": "soon" } }))
            .err()
            .unwrap()
            .to_string();
        assert!(
            e.contains("refused property \"linger.ms\": Invalid value"),
            "{e}"
        );
        // librdkafka refuses this one whatever its value, and rust-rdkafka's
        // own message would print the value.
        let e = sink(serde_json::json!({ "options": { "ssl_key": "pw-71c3" } }))
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("\"ssl_key\"") && !e.contains("pw-71c3"), "{e}");
    }

    #[test]
    fn an_unreadable_password_file_is_named_by_its_key_and_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("absent-pw");
        let e = sink(serde_json::json!({
            "sasl": {
                "mechanism": "PLAIN",
                "username": "u",
                "password_file": missing,
            },
        }))
        .err()
        .unwrap()
        .to_string();
        assert!(
            e.starts_with(&format!(
                "agent.sink.sasl.password_file: reading {}: ",
                missing.display()
            )),
            "{e}"
        );
    }
}
