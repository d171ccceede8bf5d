//! The HTTP sink: POSTs record batches to a logship collector's ingest
//! endpoint (`POST /v1/topics/{topic}/records?partition=P`, content type
//! `application/vnd.kafka.record-batch.v2`; docs/http-api.md) and asks it for
//! topic sizes, producer ids and the last sequence it holds per producer.
//!
//! Retries: connection errors, timeouts, 429 and 5xx are retried with
//! exponential backoff and full jitter, forever (the agent's backpressure
//! holds reading meanwhile) until shutdown. Other 4xx answers are permanent:
//! returned to the caller, which logs, counts and moves on.

use std::time::{Duration, Instant};

use rand::Rng;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use super::{Ack, Payload, SinkError};
use crate::config::{CollectorSinkConfig, RetryConfig};
use crate::metrics::Metrics;

pub const BATCH_CONTENT_TYPE: &str = "application/vnd.kafka.record-batch.v2";

#[derive(Debug, Deserialize)]
struct TopicInfo {
    partitions: i32,
}

#[derive(Debug, Deserialize)]
struct ProducerId {
    producer_id: i64,
    epoch: i16,
}

#[derive(Debug, Deserialize)]
struct ProducerState {
    epoch: i16,
    last_sequence: i32,
}

/// What one attempt came to.
enum Attempt<T> {
    Done(T),
    Retry(&'static str),
    Fatal(SinkError),
}

pub struct CollectorSink {
    client: reqwest::Client,
    base: String,
    retry: RetryConfig,
    metrics: Metrics,
    shutdown: CancellationToken,
    /// Bounds concurrent requests (and so connections).
    in_flight: tokio::sync::Semaphore,
}

impl CollectorSink {
    pub fn new(
        config: &CollectorSinkConfig,
        metrics: Metrics,
        shutdown: CancellationToken,
    ) -> Result<CollectorSink, String> {
        let client = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| format!("building the HTTP client: {e}"))?;
        Ok(CollectorSink {
            client,
            base: config.url.trim_end_matches('/').to_owned(),
            retry: config.retry.clone(),
            metrics,
            shutdown,
            in_flight: tokio::sync::Semaphore::new(config.max_in_flight),
        })
    }

    /// Appends one encoded batch; retries until it is acknowledged, refused
    /// for good, or shutdown.
    pub async fn send(
        &self,
        source: &str,
        topic: &str,
        partition: i32,
        payload: Payload,
    ) -> Result<Ack, SinkError> {
        let Payload::Batch(batch) = payload else {
            // Sources encode for this sink (Sink::takes_records is false).
            return Err(SinkError::Rejected {
                status: 400,
                message: "the collector sink takes encoded batches only".into(),
            });
        };
        let url = format!(
            "{}/v1/topics/{topic}/records?partition={partition}",
            self.base
        );
        let histogram = self.metrics.request_seconds.with_label_values(&[source]);
        self.with_retries(source, || async {
            let started = Instant::now();
            let result = self
                .client
                .post(&url)
                .header(reqwest::header::CONTENT_TYPE, BATCH_CONTENT_TYPE)
                .body(batch.clone())
                .send()
                .await;
            histogram.observe(started.elapsed().as_secs_f64());
            self.judge(result).await
        })
        .await
    }

    /// The topic's partition count (the collector creates the topic when
    /// its config allows).
    pub async fn partitions(&self, topic: &str) -> Result<i32, SinkError> {
        let url = format!("{}/v1/topics/{topic}", self.base);
        let info: TopicInfo = self
            .with_retries("", || async {
                self.judge(self.client.get(&url).send().await).await
            })
            .await?;
        Ok(info.partitions.max(1))
    }

    /// A producer id of our own, unique across collector restarts.
    pub async fn new_producer_id(&self) -> Result<(i64, i16), SinkError> {
        let url = format!("{}/v1/producer-ids", self.base);
        let p: ProducerId = self
            .with_retries("", || async {
                self.judge(self.client.post(&url).send().await).await
            })
            .await?;
        Ok((p.producer_id, p.epoch))
    }

    /// The epoch and last sequence the partition holds for `producer_id`,
    /// or None when it has no state for it.
    pub async fn last_sequence(
        &self,
        topic: &str,
        partition: i32,
        producer_id: i64,
    ) -> Result<Option<(i16, i32)>, SinkError> {
        let url = format!(
            "{}/v1/topics/{topic}/partitions/{partition}/producers/{producer_id}",
            self.base
        );
        let state: Option<ProducerState> = self
            .with_retries("", || async {
                match self.client.get(&url).send().await {
                    Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                        // 404 means "no state for this producer" only when
                        // the collector says so; an unknown partition is an
                        // error like any other refusal.
                        let body = r.text().await.unwrap_or_default();
                        if body.contains("unknown_producer_id") {
                            Attempt::Done(None)
                        } else {
                            Attempt::Fatal(SinkError::Rejected {
                                status: 404,
                                message: body,
                            })
                        }
                    }
                    other => match self.judge::<ProducerState>(other).await {
                        Attempt::Done(s) => Attempt::Done(Some(s)),
                        Attempt::Retry(k) => Attempt::Retry(k),
                        Attempt::Fatal(e) => Attempt::Fatal(e),
                    },
                }
            })
            .await?;
        Ok(state.map(|s| (s.epoch, s.last_sequence)))
    }

    /// Sorts a response into done, retry or fatal, counting errors.
    async fn judge<T: serde::de::DeserializeOwned>(
        &self,
        result: reqwest::Result<reqwest::Response>,
    ) -> Attempt<T> {
        let response = match result {
            Ok(r) => r,
            Err(e) => {
                let kind = if e.is_timeout() {
                    "sink_timeout"
                } else {
                    "sink_connect"
                };
                tracing::debug!(error = %e, "collector request failed");
                return Attempt::Retry(kind);
            }
        };
        let status = response.status();
        if status.is_success() {
            let body = response.bytes().await;
            return match body
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice::<T>(&b).map_err(|e| e.to_string()))
            {
                Ok(v) => Attempt::Done(v),
                Err(e) => {
                    tracing::warn!(error = %e, "unreadable answer from the collector");
                    Attempt::Retry("sink_connect")
                }
            };
        }
        let message = response.text().await.unwrap_or_default();
        if status.as_u16() == 429 {
            Attempt::Retry("sink_status_429")
        } else if status.is_server_error() {
            tracing::warn!(%status, %message, "collector error; retrying");
            Attempt::Retry("sink_status_5xx")
        } else {
            self.metrics
                .errors
                .with_label_values(&["sink_status_4xx"])
                .inc();
            Attempt::Fatal(SinkError::Rejected {
                status: status.as_u16(),
                message,
            })
        }
    }

    async fn with_retries<T, F, Fut>(&self, source: &str, mut attempt: F) -> Result<T, SinkError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Attempt<T>>,
    {
        let mut backoff = self.retry.initial_backoff;
        loop {
            let slot = tokio::select! {
                p = self.in_flight.acquire() => p.expect("never closed"),
                _ = self.shutdown.cancelled() => return Err(SinkError::Cancelled),
            };
            let outcome = attempt().await;
            drop(slot);
            match outcome {
                Attempt::Done(v) => return Ok(v),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry(kind) => {
                    self.metrics.errors.with_label_values(&[kind]).inc();
                    if !source.is_empty() {
                        self.metrics.retries.with_label_values(&[source]).inc();
                    }
                    // Full jitter: sleep a random time up to the backoff.
                    let nanos = backoff.as_nanos().max(1) as u64;
                    let sleep = Duration::from_nanos(rand::rng().random_range(nanos / 2..=nanos));
                    tokio::select! {
                        _ = tokio::time::sleep(sleep) => {}
                        _ = self.shutdown.cancelled() => return Err(SinkError::Cancelled),
                    }
                    backoff = (backoff * 2).min(self.retry.max_backoff);
                }
            }
        }
    }
}
