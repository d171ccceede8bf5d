//! Runs the agent role: loads checkpoints, starts `/metrics`, one task per
//! source and the periodic checkpoint writer; on shutdown stops reading,
//! lets in-flight batches finish (up to `drain_timeout`) and writes final
//! checkpoints.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::checkpoint::Checkpoints;
use crate::config::{AgentConfig, SinkConfig, SourceConfig};
use crate::metrics::Metrics;
use crate::sink::collector::CollectorSink;
use crate::source::file::{self, SourceCtx};

/// Runs until `shutdown` is cancelled. Errors are start-up failures.
pub async fn run(config: AgentConfig, shutdown: CancellationToken) -> Result<(), String> {
    config.validate()?;
    let metrics = Metrics::new();
    let dir = config.data_dir.clone();
    let (checkpoints, first_run) = tokio::task::spawn_blocking(move || Checkpoints::open(&dir))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("opening checkpoints in {}: {e}", config.data_dir.display()))?;
    let checkpoints = Arc::new(checkpoints);

    let listener = TcpListener::bind(config.http.listen)
        .await
        .map_err(|e| format!("binding agent HTTP listener {}: {e}", config.http.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, "agent http listening");
    let stop_http = shutdown.clone();
    let http = tokio::spawn(crate::http::serve(listener, metrics.clone(), async move {
        stop_http.cancelled().await
    }));

    // In-flight requests keep going after shutdown begins, until `abort`.
    let abort = CancellationToken::new();
    let SinkConfig::Collector(sink_config) = &config.sink;
    let sink = Arc::new(CollectorSink::new(
        sink_config,
        metrics.clone(),
        abort.clone(),
    )?);
    let budget = Arc::new(Semaphore::new(sink_config.max_buffered_bytes as usize));
    let host = Bytes::from(hostname());
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let encoders = Arc::new(Semaphore::new(cores));

    let mut sources = Vec::new();
    for (name, source) in &config.sources {
        let SourceConfig::File(fc) = source;
        let ctx = Arc::new(SourceCtx {
            name: name.clone(),
            config: fc.clone(),
            sink: Arc::clone(&sink),
            checkpoints: Arc::clone(&checkpoints),
            metrics: metrics.clone(),
            budget: Arc::clone(&budget),
            encoders: Arc::clone(&encoders),
            batch: sink_config.batch.clone(),
            compression: sink_config.compression,
            host: host.clone(),
            labels: fc
                .labels
                .iter()
                .map(|(k, v)| (StrBytes::from_string(k.clone()), Bytes::from(v.clone())))
                .collect(),
            multiline: fc
                .multiline
                .as_ref()
                .map(|m| regex::bytes::Regex::new(&m.start_pattern).expect("validated pattern")),
            stop: shutdown.clone(),
        });
        sources.push(tokio::spawn(file::run(ctx, first_run)));
    }

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

    shutdown.cancelled().await;
    tracing::info!("agent shutting down");
    let drain = config.drain_timeout;
    let abort_later = abort.clone();
    let timer = tokio::spawn(async move {
        tokio::time::sleep(drain).await;
        tracing::warn!("drain timeout: abandoning in-flight batches (re-read next start)");
        abort_later.cancel();
    });
    for s in sources {
        let _ = s.await;
    }
    timer.abort();
    let _ = writer.await;
    let _ = http.await;
    tokio::task::spawn_blocking(move || checkpoints.persist())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("writing final checkpoints: {e}"))?;
    tracing::info!("agent stopped");
    Ok(())
}

/// This machine's name, for the `host` header.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .ok()
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "localhost".to_owned())
}
