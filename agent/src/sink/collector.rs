//! The HTTP sink: POSTs record batches to a logship collector's ingest
//! endpoint (`POST /v1/topics/{topic}/records?partition=P`, content type
//! `application/vnd.kafka.record-batch.v2`; docs/http-api.md) and asks it for
//! topic sizes, producer ids and the last sequence it holds per producer.
//!
//! Requests and answers are the contract's types (`logship_common::ingest`);
//! a refusal's error code becomes a [`Rejection`] kind.
//!
//! Over https the client verifies the collector against `tls.ca_file`,
//! presents `tls.cert_file`/`key_file` (mutual TLS) and sends
//! `auth.token` as `Authorization: Bearer` on every request
//! ([`crate::security::http_client`]). SIGHUP re-reads those files
//! ([`CollectorSink::reload_credentials`]); each attempt, a retry included,
//! takes the client of the moment, so a rotated token is used from the next
//! attempt on.
//!
//! With `local_address`, connections leave from that address of this host.
//!
//! Retries: connection errors (TLS handshakes included), timeouts, 401 and
//! 403 (credentials the collector refuses), 429 and 5xx are retried with
//! exponential backoff and full jitter, forever (the agent's backpressure
//! holds reading meanwhile) until shutdown. Other 4xx answers are permanent:
//! returned to the caller, which logs, counts and moves on.

use std::time::{Duration, Instant};

use logship_common::ingest::{
    Appended, ErrorBody, ErrorCode, NewProducerId, ProducerState, TopicInfo, RECORD_BATCH,
};
use rand::Rng;
use tokio_util::sync::CancellationToken;

use super::{Ack, Payload, Rejection, SinkError};
use crate::config::{CollectorSinkConfig, RetryConfig};
use crate::error::ClientSetupError;
use crate::metrics::Metrics;
use crate::security::{HttpAuthConfig, ReloadableClient};

/// What one attempt came to.
enum Attempt<T> {
    Done(T),
    Retry(&'static str),
    Fatal(SinkError),
}

pub struct CollectorSink {
    client: ReloadableClient,
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
    ) -> Result<CollectorSink, ClientSetupError> {
        let timeout = config.timeout;
        let local_address = config.local_address;
        if let Some(addr) = local_address {
            // An address this host does not have would fail every
            // connection, retried forever: refuse it at start instead.
            std::net::TcpListener::bind((addr, 0))
                .map_err(|error| ClientSetupError::LocalAddress { addr, error })?;
        }
        let builder = move || {
            reqwest::Client::builder()
                .timeout(timeout)
                .connect_timeout(timeout.min(Duration::from_secs(5)))
                .pool_max_idle_per_host(64)
                .local_address(local_address)
        };
        let auth = config
            .auth
            .as_ref()
            .map(|a| HttpAuthConfig::Bearer(a.token.clone()));
        let client =
            ReloadableClient::new("agent.sink", &config.url, builder, config.tls.clone(), auth)?;
        Ok(CollectorSink {
            client,
            base: config.url.trim_end_matches('/').to_owned(),
            retry: config.retry.clone(),
            metrics,
            shutdown,
            in_flight: tokio::sync::Semaphore::new(config.max_in_flight),
        })
    }

    /// Re-reads the TLS files and the token file (SIGHUP); keeps the ones
    /// in use when one cannot be read (counted). Blocking (reads files).
    pub fn reload_credentials(&self) -> bool {
        let ok = self.client.reload();
        if !ok {
            self.metrics
                .errors
                .with_label_values(&["credentials"])
                .inc();
        }
        ok
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
                kind: Rejection::Invalid,
                message: "the collector sink takes encoded batches only".into(),
            });
        };
        let url = format!(
            "{}/v1/topics/{topic}/records?partition={partition}",
            self.base
        );
        let histogram = self.metrics.request_seconds.with_label_values(&[source]);
        let appended: Appended = self
            .with_retries(source, || async {
                let started = Instant::now();
                let result = self
                    .client
                    .current()
                    .post(&url)
                    .header(reqwest::header::CONTENT_TYPE, RECORD_BATCH)
                    .body(batch.clone())
                    .send()
                    .await;
                histogram.observe(started.elapsed().as_secs_f64());
                self.judge(result).await
            })
            .await?;
        Ok(Ack {
            base_offset: appended.base_offset,
            last_offset: appended.last_offset,
        })
    }

    /// The topic's partition count (the collector creates the topic when
    /// its config allows).
    pub async fn partitions(&self, topic: &str) -> Result<i32, SinkError> {
        let url = format!("{}/v1/topics/{topic}", self.base);
        let info: TopicInfo = self
            .with_retries("", || async {
                self.judge(self.client.current().get(&url).send().await)
                    .await
            })
            .await?;
        Ok(info.partitions.max(1))
    }

    /// A producer id of our own, unique across collector restarts.
    pub async fn new_producer_id(&self) -> Result<(i64, i16), SinkError> {
        let url = format!("{}/v1/producer-ids", self.base);
        let p: NewProducerId = self
            .with_retries("", || async {
                self.judge(self.client.current().post(&url).send().await)
                    .await
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
                match self.client.current().get(&url).send().await {
                    Ok(r) if r.status() == reqwest::StatusCode::NOT_FOUND => {
                        // 404 means "no state for this producer" only when
                        // the collector says so; an unknown partition is an
                        // error like any other refusal.
                        let body = r.text().await.unwrap_or_default();
                        match refusal(404, &body) {
                            SinkError::Rejected {
                                kind: Rejection::UnknownProducer,
                                ..
                            } => Attempt::Done(None),
                            other => Attempt::Fatal(other),
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
                if let Some(reason) = tls_failure(&e) {
                    self.auth_failure(reason);
                    // rustls' message names the problem (unknown issuer,
                    // expired, a refused certificate), never key material.
                    tracing::warn!(reason, error = %error_chain(&e), "TLS with the collector failed; retrying");
                    return Attempt::Retry("sink_tls");
                }
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
            let unreadable = |e: &dyn std::fmt::Display| {
                tracing::warn!(error = %e, "unreadable answer from the collector");
                Attempt::Retry("sink_connect")
            };
            return match response.bytes().await {
                Ok(body) => match serde_json::from_slice::<T>(&body) {
                    Ok(v) => Attempt::Done(v),
                    Err(e) => unreadable(&e),
                },
                Err(e) => unreadable(&e),
            };
        }
        let message = response.text().await.unwrap_or_default();
        if matches!(status.as_u16(), 401 | 403) {
            // A token or certificate the collector does not accept: fixed
            // by its operator, not by dropping the batch. Holding it keeps
            // the files' lines for when it is fixed (backpressure stops
            // reading meanwhile).
            self.auth_failure(if status.as_u16() == 401 {
                "unauthorized"
            } else {
                "forbidden"
            });
            tracing::warn!(%status, %message, "the collector refused our credentials; retrying");
            Attempt::Retry("sink_auth")
        } else if status.as_u16() == 429 {
            Attempt::Retry("sink_status_429")
        } else if status.is_server_error() {
            tracing::warn!(%status, %message, "collector error; retrying");
            Attempt::Retry("sink_status_5xx")
        } else {
            self.metrics
                .errors
                .with_label_values(&["sink_status_4xx"])
                .inc();
            Attempt::Fatal(refusal(status.as_u16(), &message))
        }
    }

    fn auth_failure(&self, reason: &str) {
        self.metrics
            .auth_failures
            .with_label_values(&["collector", reason])
            .inc();
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

/// The TLS failure inside a request error, as a metric reason. rustls'
/// error sits a few `source()`s down, and an `io::Error` hides what it
/// wraps from `source()`, so each `io::Error` is opened too.
fn tls_failure(e: &reqwest::Error) -> Option<&'static str> {
    use rustls::CertificateError as C;
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = next {
        let inner = err
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .map(|inner| inner as &(dyn std::error::Error + 'static));
        let tls = err
            .downcast_ref::<rustls::Error>()
            .or_else(|| inner.and_then(|i| i.downcast_ref::<rustls::Error>()));
        if let Some(tls) = tls {
            return Some(match tls {
                // A chain that leads to no trusted CA: an unknown issuer,
                // or one named like the CA but signed by another key.
                rustls::Error::InvalidCertificate(C::UnknownIssuer | C::BadSignature) => {
                    "untrusted_certificate"
                }
                rustls::Error::InvalidCertificate(C::Expired | C::ExpiredContext { .. }) => {
                    "certificate_expired"
                }
                rustls::Error::InvalidCertificate(
                    C::NotValidForName | C::NotValidForNameContext { .. },
                ) => "certificate_name_mismatch",
                rustls::Error::InvalidCertificate(_) => "invalid_certificate",
                rustls::Error::AlertReceived(_) => "tls_alert",
                _ => "tls_handshake",
            });
        }
        next = inner.or_else(|| err.source());
    }
    None
}

/// An error and its causes, `: `-joined (reqwest's own Display stops at the
/// first).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(err) = next {
        text.push_str(": ");
        text.push_str(&err.to_string());
        next = err.source();
    }
    text
}

/// A permanent refusal, its kind read from the collector's error body. A
/// body that is not one (a proxy's page, a code newer than this agent) is
/// judged by its status alone, as the collector would have meant it.
fn refusal(status: u16, body: &str) -> SinkError {
    match serde_json::from_str::<ErrorBody>(body) {
        Ok(e) => SinkError::Rejected {
            kind: rejection(e.code),
            message: format!("{}: {}", e.code, e.error),
        },
        Err(_) => SinkError::Rejected {
            kind: match status {
                409 => Rejection::SequenceConflict,
                413 => Rejection::TooLarge,
                _ => Rejection::Invalid,
            },
            message: format!("HTTP {status}: {body}"),
        },
    }
}

/// The kind of refusal an error code is.
fn rejection(code: ErrorCode) -> Rejection {
    match code {
        ErrorCode::OutOfOrderSequenceNumber | ErrorCode::InvalidProducerEpoch => {
            Rejection::SequenceConflict
        }
        ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge => Rejection::TooLarge,
        ErrorCode::UnknownTopicOrPartition => Rejection::UnknownTopic,
        ErrorCode::UnknownProducerId => Rejection::UnknownProducer,
        _ => Rejection::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(status: u16, body: &str) -> Rejection {
        match refusal(status, body) {
            SinkError::Rejected { kind, .. } => kind,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refusals_take_their_kind_from_the_error_code() {
        let body = |code: ErrorCode| {
            serde_json::to_string(&ErrorBody {
                error: "why".into(),
                code,
            })
            .unwrap()
        };
        for (code, want) in [
            (
                ErrorCode::OutOfOrderSequenceNumber,
                Rejection::SequenceConflict,
            ),
            (ErrorCode::InvalidProducerEpoch, Rejection::SequenceConflict),
            (ErrorCode::MessageTooLarge, Rejection::TooLarge),
            (ErrorCode::RecordListTooLarge, Rejection::TooLarge),
            (ErrorCode::UnknownTopicOrPartition, Rejection::UnknownTopic),
            (ErrorCode::UnknownProducerId, Rejection::UnknownProducer),
            (ErrorCode::CorruptMessage, Rejection::Invalid),
            (ErrorCode::InvalidTopicException, Rejection::Invalid),
        ] {
            assert_eq!(kind(code.status(), &body(code)), want, "{code}");
        }
        let SinkError::Rejected { message, .. } = refusal(400, &body(ErrorCode::InvalidRecord))
        else {
            unreachable!()
        };
        assert_eq!(message, "invalid_record: why");
    }

    #[test]
    fn a_body_that_is_not_the_contracts_is_judged_by_status() {
        assert_eq!(
            kind(413, "<html>Request Entity Too Large</html>"),
            Rejection::TooLarge
        );
        assert_eq!(kind(404, "not found"), Rejection::Invalid);
        assert_eq!(
            kind(400, r#"{"error":"x","code":"brand_new"}"#),
            Rejection::Invalid
        );
        assert_eq!(
            kind(409, r#"{"error":"x","code":"brand_new"}"#),
            Rejection::SequenceConflict
        );
    }
}
