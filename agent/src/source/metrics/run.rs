//! Running the metric sources: `prometheus_scrape` (one task per target,
//! so a slow target cannot delay the others) and `host_metrics`, each
//! collecting at its `interval` and handing the samples to one shipper per
//! source through a bounded queue. The shipper keys every sample by its
//! series, picks the partition with murmur2 (as Kafka's default
//! partitioner does), and sends a batch per partition until the sink
//! acknowledges it.
//!
//! Delivery is at-least-once within a bounded buffer (docs/design.md, "Data flow"): while the
//! sink is down, at most two intervals' worth of collections per source
//! (at least [`QUEUED_COLLECTIONS`]) wait; newer ones are dropped and
//! counted, never buffered without bound.
//!
//! As Prometheus does, each target's scrapes are offset within the interval
//! by a hash of its URL, so many targets are not all scraped (and shipped)
//! at the same instant.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use logship_common::time::now_ms;
use tokio::sync::mpsc;
use tokio::time::MissedTickBehavior;
use tokio_util::sync::CancellationToken;

use super::exposition;
use super::host;
use super::sample::{Kind, Sample};
use crate::batch::{self, KeyedRecord};
use crate::config::{BatchConfig, Compression, HostMetricsSourceConfig, ScrapeSourceConfig};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::partitioner::partition_for;
use crate::security::ReloadableClient;
use crate::sink::{Payload, Sink, SinkError};

/// Collections per source that may wait for the sink, at least.
pub const QUEUED_COLLECTIONS: usize = 16;

/// What a metric source needs to run.
pub struct MetricsCtx {
    pub name: String,
    pub topic: String,
    pub sink: Arc<Sink>,
    pub metrics: Metrics,
    pub batch: BatchConfig,
    pub compression: Compression,
    /// This machine's name (the `host` label of host metrics).
    pub host: String,
    pub stop: CancellationToken,
    /// Changes at each reload (SIGHUP): scrape clients re-read their files.
    pub reload: tokio::sync::watch::Receiver<()>,
}

/// Runs a `prometheus_scrape` source until its stop token is cancelled.
pub async fn run_scrape(ctx: Arc<MetricsCtx>, config: ScrapeSourceConfig) {
    // One client for every target of the source: the TLS and auth
    // settings are the source's. An https target needs it; a plain one
    // ignores the TLS part.
    let at = format!("agent.sources.{}", ctx.name);
    let timeout = config.timeout;
    let builder = move || reqwest::Client::builder().timeout(timeout);
    let https = config.targets.iter().find(|t| t.starts_with("https://"));
    let tls = config.tls.clone().filter(|_| https.is_some());
    if config.tls.is_some() && https.is_none() {
        tracing::warn!(source = %ctx.name, "{at}.tls is set but no target is https://");
    }
    let first = https.unwrap_or(&config.targets[0]);
    let client = match ReloadableClient::new(&at, first, builder, tls, config.auth.clone()) {
        Ok(c) => Arc::new(c),
        Err(e) => {
            tracing::error!(source = %ctx.name, error = %e, "building the scrape client; the source does not run");
            ctx.metrics
                .errors
                .with_label_values(&["scrape_config"])
                .inc();
            return;
        }
    };
    let (tx, rx) = mpsc::channel(QUEUED_COLLECTIONS.max(2 * config.targets.len()));
    let mut scrapers = tokio::task::JoinSet::new();
    for target in &config.targets {
        let (ctx, tx, client) = (Arc::clone(&ctx), tx.clone(), client.clone());
        let (target, config) = (target.clone(), config.clone());
        scrapers.spawn(async move {
            let offset = spread(&target, config.interval);
            let mut tick =
                tokio::time::interval_at(tokio::time::Instant::now() + offset, config.interval);
            tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
            let mut was_up = true;
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = ctx.stop.cancelled() => return,
                }
                let samples = scrape(&ctx, &client.current(), &target, &config, &mut was_up).await;
                queue(&ctx, &tx, samples);
            }
        });
    }
    drop(tx);
    // SIGHUP: the source's token, password and TLS files are re-read.
    let (mut reload, stop) = (ctx.reload.clone(), ctx.stop.clone());
    let metrics = ctx.metrics.clone();
    scrapers.spawn(async move {
        loop {
            tokio::select! {
                r = reload.changed() => if r.is_err() { return },
                _ = stop.cancelled() => return,
            }
            let client = Arc::clone(&client);
            if let Ok(false) = tokio::task::spawn_blocking(move || client.reload()).await {
                metrics.errors.with_label_values(&["credentials"]).inc();
            }
        }
    });
    ship(&ctx, rx).await;
    scrapers.shutdown().await;
}

/// Runs a `host_metrics` source until its stop token is cancelled.
pub async fn run_host(ctx: Arc<MetricsCtx>, config: HostMetricsSourceConfig) {
    let (tx, rx) = mpsc::channel(QUEUED_COLLECTIONS);
    let collector = {
        let ctx = Arc::clone(&ctx);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(config.interval);
            tick.set_missed_tick_behavior(MissedTickBehavior::Skip);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = ctx.stop.cancelled() => return,
                }
                let host = ctx.host.clone();
                let started = Instant::now();
                // Blocking reads (statvfs can hang on a dead network mount).
                let Ok(mut samples) =
                    tokio::task::spawn_blocking(move || host::collect(&host, now_ms())).await
                else {
                    continue;
                };
                observe_collection(&ctx, started, true);
                for s in &mut samples {
                    add_labels(s, &config.labels);
                }
                queue(&ctx, &tx, samples);
            }
        })
    };
    ship(&ctx, rx).await;
    let _ = collector.await;
}

/// Where in each interval a target is scraped: a fixed point from a hash
/// of its URL.
fn spread(target: &str, interval: std::time::Duration) -> std::time::Duration {
    let h = crate::partitioner::murmur2(target.as_bytes()) as u32 as u64;
    let ms = interval.as_millis().max(1) as u64;
    std::time::Duration::from_millis(h % ms)
}

/// Scrapes one target: its samples plus `up` (1, or 0 alone on failure),
/// labelled `instance` (host:port) and `job` (the source's name) unless the
/// page has them, then the configured labels.
async fn scrape(
    ctx: &MetricsCtx,
    client: &reqwest::Client,
    target: &str,
    config: &ScrapeSourceConfig,
    was_up: &mut bool,
) -> Vec<Sample> {
    let started = Instant::now();
    let now = now_ms();
    let result = fetch(client, target, now).await;
    observe_collection(ctx, started, result.is_ok());
    let up = if result.is_ok() { 1.0 } else { 0.0 };
    // Warn when a target goes down, not at every failed scrape after.
    let mut samples = match result {
        Ok(s) => {
            if !*was_up {
                tracing::info!(source = %ctx.name, target, "scrape target is up again");
            }
            s
        }
        Err(e) if *was_up => {
            tracing::warn!(source = %ctx.name, target, error = %e, "scrape failed");
            Vec::new()
        }
        Err(e) => {
            tracing::debug!(source = %ctx.name, target, error = %e, "scrape failed");
            Vec::new()
        }
    };
    *was_up = up == 1.0;
    samples.push(Sample {
        name: "up".to_owned(),
        labels: BTreeMap::new(),
        value: up,
        kind: Kind::Gauge,
        timestamp_ms: now,
    });
    let instance = reqwest::Url::parse(target)
        .ok()
        .map(|u| match (u.host_str(), u.port_or_known_default()) {
            (Some(h), Some(p)) => format!("{h}:{p}"),
            _ => target.to_owned(),
        })
        .unwrap_or_else(|| target.to_owned());
    let mut target_labels = BTreeMap::new();
    target_labels.insert("instance".to_owned(), instance);
    target_labels.insert("job".to_owned(), ctx.name.clone());
    for s in &mut samples {
        for (k, v) in &target_labels {
            s.labels.entry(k.clone()).or_insert_with(|| v.clone());
        }
        add_labels(s, &config.labels);
    }
    samples
}

/// GETs and parses one page.
async fn fetch(client: &reqwest::Client, target: &str, now: i64) -> Result<Vec<Sample>, Error> {
    let request_error = |error| Error::ScrapeRequest {
        target: target.to_owned(),
        error,
    };
    let response = client
        .get(target)
        .header(reqwest::header::ACCEPT, exposition::ACCEPT)
        .send()
        .await
        .map_err(request_error)?;
    if !response.status().is_success() {
        return Err(Error::ScrapeStatus {
            target: target.to_owned(),
            status: response.status().as_u16(),
        });
    }
    let format = exposition::format_from_content_type(
        response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    let body = response.text().await.map_err(request_error)?;
    exposition::parse(&body, format, now).map_err(|error| Error::ScrapeParse {
        target: target.to_owned(),
        error,
    })
}

fn add_labels(s: &mut Sample, labels: &BTreeMap<String, String>) {
    for (k, v) in labels {
        s.labels.insert(k.clone(), v.clone());
    }
}

fn observe_collection(ctx: &MetricsCtx, started: Instant, ok: bool) {
    let m = &ctx.metrics;
    let source = [ctx.name.as_str()];
    m.scrapes.with_label_values(&source).inc();
    m.scrape_seconds
        .with_label_values(&source)
        .observe(started.elapsed().as_secs_f64());
    if !ok {
        m.scrape_errors.with_label_values(&source).inc();
    }
}

/// Hands a collection to the shipper, or drops it (counted) when the
/// shipper is that far behind.
fn queue(ctx: &MetricsCtx, tx: &mpsc::Sender<Vec<Sample>>, samples: Vec<Sample>) {
    let n = samples.len() as u64;
    ctx.metrics
        .samples
        .with_label_values(&[ctx.name.as_str()])
        .inc_by(n);
    if tx.try_send(samples).is_err() {
        ctx.metrics
            .samples_dropped
            .with_label_values(&[ctx.name.as_str()])
            .inc_by(n);
    }
}

/// Sends every queued collection until the source stops (what is queued
/// then is still sent, unless shutdown cancels the sink's retries).
async fn ship(ctx: &MetricsCtx, mut rx: mpsc::Receiver<Vec<Sample>>) {
    let mut partitions: Option<i32> = None;
    while let Some(samples) = rx.recv().await {
        let n = match partitions {
            Some(n) => n,
            None => match ctx.sink.partitions(&ctx.topic).await {
                Ok(n) => *partitions.insert(n),
                Err(SinkError::Cancelled) => return,
                Err(e) => {
                    tracing::error!(source = %ctx.name, topic = %ctx.topic, error = %e, "cannot learn the topic's partitions; dropping samples");
                    continue;
                }
            },
        };
        let mut by_partition: BTreeMap<i32, Vec<KeyedRecord>> = BTreeMap::new();
        for s in &samples {
            let key = s.key();
            let p = partition_for(&key, n);
            by_partition.entry(p).or_default().push(KeyedRecord {
                key: Bytes::from(key),
                value: Bytes::from(s.to_json()),
                timestamp: s.timestamp_ms,
            });
        }
        for (partition, records) in by_partition {
            for chunk in chunks(&records, &ctx.batch) {
                if !send(ctx, partition, chunk).await {
                    return;
                }
            }
        }
    }
}

/// Splits records into runs within the batch limits.
fn chunks<'a>(records: &'a [KeyedRecord], limits: &BatchConfig) -> Vec<&'a [KeyedRecord]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut bytes = 0u64;
    for (i, r) in records.iter().enumerate() {
        let size = (r.key.len() + r.value.len() + 16) as u64;
        if i > start && (i - start >= limits.max_records || bytes + size > limits.max_bytes) {
            out.push(&records[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += size;
    }
    if start < records.len() {
        out.push(&records[start..]);
    }
    out
}

/// Sends one batch until acknowledged or refused for good; false on
/// shutdown.
async fn send(ctx: &MetricsCtx, partition: i32, records: &[KeyedRecord]) -> bool {
    let source = ctx.name.as_str();
    let m = &ctx.metrics;
    let payload = if ctx.sink.takes_records() {
        Payload::Keyed(Arc::new(records.to_vec()))
    } else {
        match batch::encode_keyed(records, ctx.compression) {
            Ok(b) => Payload::Batch(b),
            Err(e) => {
                tracing::error!(source, error = %e, "encoding samples failed");
                m.errors.with_label_values(&["encode"]).inc();
                return true;
            }
        }
    };
    loop {
        match ctx
            .sink
            .send(source, &ctx.topic, partition, payload.clone())
            .await
        {
            Ok(_) => {
                m.batches_sent.with_label_values(&[source]).inc();
                m.records_sent
                    .with_label_values(&[source])
                    .inc_by(records.len() as u64);
                m.bytes_sent
                    .with_label_values(&[source])
                    .inc_by(payload.len() as u64);
                return true;
            }
            Err(SinkError::Cancelled) => return false,
            // The Kafka sink backs off before answering Retry.
            Err(SinkError::Retry(_)) => continue,
            Err(SinkError::Rejected { kind, message }) => {
                tracing::error!(source, %kind, message, "the sink refused samples; dropped");
                m.records_rejected
                    .with_label_values(&[source])
                    .inc_by(records.len() as u64);
                return true;
            }
        }
    }
}
