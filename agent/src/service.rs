//! Runs the agent role: loads checkpoints, starts `/metrics`, one task per
//! source and the periodic checkpoint writer; on shutdown stops reading,
//! lets in-flight batches finish (up to `drain_timeout`) and writes final
//! checkpoints.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use logship_common::host::hostname;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::Checkpoints;
use crate::config::{AgentConfig, SinkConfig, SourceConfig, ValidAgent};
use crate::error::Error;
use crate::metrics::Metrics;
use crate::sink::collector::CollectorSink;
use crate::sink::kafka::KafkaSink;
use crate::sink::Sink;
use crate::source::file::{self, SourceCtx};
use crate::source::journal::source::{self as journal, JournalCtx};
use crate::source::metrics::run::{run_host, run_scrape, MetricsCtx};
use crate::stream::Shipping;

/// Runs until `shutdown` is cancelled; `ready` fires once the listener is
/// bound and the sources are started; each config received on `reload`
/// (already validated) replaces the sources: removed and changed ones stop
/// after shipping what they read (their checkpoints stay), added and changed
/// ones start from the checkpoints; the sink and the scrape sources re-read
/// their TLS files and credentials. Errors are start-up failures.
pub async fn run(
    config: AgentConfig,
    shutdown: CancellationToken,
    ready: tokio::sync::oneshot::Sender<()>,
    mut reload: tokio::sync::mpsc::Receiver<AgentConfig>,
) -> Result<(), Error> {
    let valid = config.validate().map_err(Error::Config)?;
    let metrics = Metrics::new();
    let dir = config.data_dir.clone();
    let (checkpoints, first_run) = tokio::task::spawn_blocking(move || Checkpoints::open(&dir))
        .await?
        .map_err(|error| Error::CheckpointOpen {
            dir: config.data_dir.clone(),
            error,
        })?;
    let checkpoints = Arc::new(checkpoints);

    let listen_error = |error| Error::Listen {
        addr: config.http.listen,
        error,
    };
    let listener = TcpListener::bind(config.http.listen)
        .await
        .map_err(listen_error)?;
    let addr = listener.local_addr().map_err(listen_error)?;
    tracing::info!(%addr, "agent http listening");
    let stop_http = shutdown.clone();
    let http = tokio::spawn(crate::http::serve(listener, metrics.clone(), async move {
        stop_http.cancelled().await
    }));

    // In-flight requests keep going after shutdown begins, until `abort`.
    let abort = CancellationToken::new();
    let sink = Arc::new(match &config.sink {
        SinkConfig::Collector(c) => Sink::Collector(
            CollectorSink::new(c, metrics.clone(), abort.clone()).map_err(Error::SinkSetup)?,
        ),
        SinkConfig::Kafka(k) => Sink::Kafka(
            KafkaSink::new(k, metrics.clone(), abort.clone()).map_err(Error::SinkSetup)?,
        ),
    });
    let budget = Arc::new(Semaphore::new(config.sink.max_buffered_bytes() as usize));
    let host = hostname();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let encoders = Arc::new(crate::batch::Encoders::new(cores));

    let shared = Shared {
        sink: Arc::clone(&sink),
        checkpoints: Arc::clone(&checkpoints),
        metrics: metrics.clone(),
        budget,
        encoders,
        host,
        sink_config: config.sink.clone(),
        credentials: tokio::sync::watch::Sender::new(()),
    };
    let mut running = Sources::default();
    running
        .apply(&shared, &config, &valid, first_run, &shutdown)
        .await;
    let writer = {
        let checkpoints = Arc::clone(&checkpoints);
        let metrics = metrics.clone();
        let stop = shutdown.clone();
        let every = config.checkpoint_interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tokio::select! {
                    _ = tick.tick() => {}
                    _ = stop.cancelled() => break,
                }
                let c = Arc::clone(&checkpoints);
                let m = metrics.clone();
                let r = tokio::task::spawn_blocking(move || {
                    c.persist().inspect(|_| m.checkpoint_writes.inc())
                })
                .await;
                if let Ok(Err(e)) = r {
                    tracing::error!(error = %e, "writing checkpoints failed");
                    metrics.errors.with_label_values(&["checkpoint"]).inc();
                }
            }
        })
    };
    tracing::info!(sources = config.sources.len(), "agent ready");
    let _ = ready.send(());

    let mut current = config.clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            next = reload.recv() => {
                let Some(next) = next else {
                    shutdown.cancelled().await;
                    break;
                };
                if next.sink != current.sink || next.data_dir != current.data_dir || next.http.listen != current.http.listen {
                    tracing::warn!("reload: sink, data_dir and http changes take effect after a restart; applying source changes only");
                }
                // Validated by the sender; validating here again yields the
                // compiled patterns the sources run with.
                let valid = match next.validate() {
                    Ok(v) => v,
                    Err(e) => {
                        tracing::error!("reload rejected, keeping the running config: {e}");
                        continue;
                    }
                };
                // Rotated tokens, passwords and certificates: re-read from
                // the files the running config names (sources the reload
                // changes start with their new files anyway).
                let s = Arc::clone(&sink);
                let _ = tokio::task::spawn_blocking(move || s.reload_credentials()).await;
                if let SinkConfig::Kafka(k) = &current.sink {
                    if k.tls.is_some() || k.sasl.is_some() {
                        tracing::info!("reload: the Kafka sink reads its TLS files and SASL password at start; restart to rotate them");
                    }
                }
                shared.credentials.send_replace(());
                running.apply(&shared, &next, &valid, false, &shutdown).await;
                current.sources = next.sources.clone();
                tracing::info!(sources = current.sources.len(), "agent reloaded");
            }
        }
    }
    tracing::info!("agent shutting down");
    let drain = config.drain_timeout;
    let abort_later = abort.clone();
    let timer = tokio::spawn(async move {
        tokio::time::sleep(drain).await;
        tracing::warn!("drain timeout: abandoning in-flight batches (re-read next start)");
        abort_later.cancel();
    });
    running.stop_all().await;
    // Records librdkafka still holds were not acknowledged to any source:
    // they are re-read next start; give them a moment to go out anyway.
    let s = Arc::clone(&sink);
    let _ = tokio::task::spawn_blocking(move || s.flush(std::time::Duration::from_secs(1))).await;
    timer.abort();
    let _ = writer.await;
    let _ = http.await;
    tokio::task::spawn_blocking(move || checkpoints.persist())
        .await?
        .map_err(Error::CheckpointWrite)?;
    tracing::info!("agent stopped");
    Ok(())
}

/// What every source shares, kept for sources started by a reload.
struct Shared {
    sink: Arc<Sink>,
    checkpoints: Arc<Checkpoints>,
    metrics: Metrics,
    budget: Arc<Semaphore>,
    encoders: Arc<crate::batch::Encoders>,
    host: String,
    sink_config: SinkConfig,
    /// Sent at each reload: scrape sources re-read their TLS files and
    /// credentials.
    credentials: tokio::sync::watch::Sender<()>,
}

impl Shared {
    /// What a source's streams ship with.
    fn shipping(&self, name: &str, stop: &CancellationToken) -> Arc<Shipping> {
        Arc::new(Shipping {
            source: name.to_owned(),
            sink: Arc::clone(&self.sink),
            metrics: self.metrics.clone(),
            budget: Arc::clone(&self.budget),
            encoders: Arc::clone(&self.encoders),
            batch: self.sink_config.batch().clone(),
            compression: self.sink_config.batch_compression(),
            stop: stop.clone(),
        })
    }
}

/// A source's `labels`, as record headers.
fn labels(labels: &std::collections::BTreeMap<String, String>) -> Vec<(StrBytes, Bytes)> {
    labels
        .iter()
        .map(|(k, v)| (StrBytes::from_string(k.clone()), Bytes::from(v.clone())))
        .collect()
}

/// The running sources by name: their config, stop token and task.
#[derive(Default)]
struct Sources {
    running: std::collections::BTreeMap<String, (SourceConfig, CancellationToken, JoinHandle<()>)>,
}

impl Sources {
    /// Makes the running set match `config.sources`.
    async fn apply(
        &mut self,
        shared: &Shared,
        config: &AgentConfig,
        valid: &ValidAgent,
        first_run: bool,
        shutdown: &CancellationToken,
    ) {
        let stale: Vec<String> = self
            .running
            .iter()
            .filter(|(name, (c, _, _))| config.sources.get(*name) != Some(c))
            .map(|(name, _)| name.clone())
            .collect();
        for name in stale {
            let (_, stop, task) = self.running.remove(&name).expect("listed");
            tracing::info!(source = %name, "stopping source");
            stop.cancel();
            let _ = task.await;
        }
        for (name, source) in &config.sources {
            if self.running.contains_key(name) {
                continue;
            }
            // `start_at` applies at the agent's first start, and to a source
            // a reload adds that has never run.
            let fresh = first_run || shared.checkpoints.of_source(name).is_empty();
            let stop = shutdown.child_token();
            let task = match source {
                SourceConfig::File(fc) => {
                    let patterns = valid
                        .file_sources
                        .get(name)
                        .expect("validate() compiles every file source")
                        .clone();
                    let ctx = Arc::new(SourceCtx {
                        name: name.clone(),
                        config: fc.clone(),
                        ship: shared.shipping(name, &stop),
                        checkpoints: Arc::clone(&shared.checkpoints),
                        host: Bytes::from(shared.host.clone()),
                        labels: labels(&fc.labels),
                        multiline: patterns.multiline,
                        globs: patterns.globs,
                    });
                    tokio::spawn(file::run(ctx, fresh))
                }
                SourceConfig::Journald(jc) => {
                    let ctx = Arc::new(JournalCtx {
                        name: name.clone(),
                        config: jc.clone(),
                        ship: shared.shipping(name, &stop),
                        checkpoints: Arc::clone(&shared.checkpoints),
                        host: Bytes::from(shared.host.clone()),
                        labels: labels(&jc.labels),
                    });
                    tokio::spawn(journal::run(ctx))
                }
                SourceConfig::PrometheusScrape(_) | SourceConfig::HostMetrics(_) => {
                    let ctx = Arc::new(MetricsCtx {
                        name: name.clone(),
                        topic: source.topic().to_owned(),
                        sink: Arc::clone(&shared.sink),
                        metrics: shared.metrics.clone(),
                        batch: shared.sink_config.batch().clone(),
                        compression: shared.sink_config.batch_compression(),
                        host: shared.host.clone(),
                        stop: stop.clone(),
                        reload: shared.credentials.subscribe(),
                    });
                    match source.clone() {
                        SourceConfig::PrometheusScrape(c) => tokio::spawn(run_scrape(ctx, c)),
                        SourceConfig::HostMetrics(c) => tokio::spawn(run_host(ctx, c)),
                        SourceConfig::File(_) | SourceConfig::Journald(_) => {
                            unreachable!("matched above")
                        }
                    }
                }
            };
            self.running
                .insert(name.clone(), (source.clone(), stop, task));
        }
    }

    async fn stop_all(&mut self) {
        for (_, (_, stop, task)) in std::mem::take(&mut self.running) {
            stop.cancel();
            let _ = task.await;
        }
    }
}
