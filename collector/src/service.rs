//! Runs the collector role: opens storage (recovering it if needed), starts
//! maintenance, the Kafka and HTTP listeners, and on shutdown closes storage
//! cleanly.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::broker::{Broker, BrokerSettings};
use crate::config::CollectorConfig;
use crate::group::{self, Coordinator};
use crate::http::{self, HttpState};
use crate::metrics::Metrics;
use crate::server;
use crate::storage::{self, Storage};

/// Runs until `shutdown` is cancelled (`ready` fires once storage is
/// recovered and both listeners are bound), then drains and writes the
/// clean-shutdown marker. Errors are start-up failures (bad config, data
/// directory in use, port taken) or a failed clean close.
pub async fn run(
    config: CollectorConfig,
    shutdown: CancellationToken,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Result<(), String> {
    let valid = config.validate()?;
    let options = valid.storage;
    let metrics = Metrics::new();
    let storage_metrics = metrics.storage.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(options, storage_metrics))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("opening storage: {e}"))?;

    let kafka_listener = TcpListener::bind(config.kafka.listen)
        .await
        .map_err(|e| format!("binding Kafka listener {}: {e}", config.kafka.listen))?;
    let kafka_addr = kafka_listener.local_addr().map_err(|e| e.to_string())?;
    let (host, port) = advertised(valid.advertised, kafka_addr);
    let data_dir = storage.options().data_dir.clone();
    let group_settings = config.groups.settings();
    let group_metrics = metrics.groups.clone();
    let groups = tokio::task::spawn_blocking(move || {
        Coordinator::open(&data_dir.join("groups"), group_settings, group_metrics)
    })
    .await
    .map_err(|e| e.to_string())?
    .map_err(|e| format!("loading consumer groups: {e}"))?;
    let groups = Arc::new(groups);
    let ticker = group::spawn_ticker(Arc::clone(&groups), shutdown.clone());
    let broker = Arc::new(
        Broker::new(
            Arc::clone(&storage),
            groups,
            metrics.clone(),
            BrokerSettings {
                host,
                port,
                auto_create_topics: config.auto_create_topics,
                default_partitions: config.defaults.partitions,
                max_request_bytes: config.kafka.max_request_bytes,
            },
        )
        .map_err(|e| format!("starting the broker: {e}"))?,
    );
    tracing::info!(addr = %kafka_addr, advertised = %format!("{}:{}", broker.host, broker.port), "kafka listening");

    let listener = TcpListener::bind(config.http.listen)
        .await
        .map_err(|e| format!("binding HTTP listener {}: {e}", config.http.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, "http listening");

    let maintenance = storage::spawn_maintenance(Arc::clone(&storage), shutdown.clone());
    let state = HttpState::new(
        metrics,
        Arc::clone(&broker),
        config.http.max_body_bytes as usize,
    );
    let stop = shutdown.clone();
    let http = tokio::spawn(http::serve(listener, state, async move {
        stop.cancelled().await
    }));
    let kafka = tokio::spawn(server::run(kafka_listener, broker, shutdown.clone()));
    tracing::info!("collector ready");
    let _ = ready.send(());

    shutdown.cancelled().await;
    tracing::info!("collector shutting down");
    let _ = maintenance.await;
    let _ = ticker.await;
    let _ = kafka.await;
    match http.await {
        Ok(Err(e)) => tracing::warn!(error = %e, "http listener ended with an error"),
        Err(e) => tracing::warn!(error = %e, "http task failed"),
        Ok(Ok(())) => {}
    }
    tokio::task::spawn_blocking(move || storage.close())
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("closing storage: {e}"))
}

/// The host and port Metadata advertises: the configured one, else the
/// listen address (the host name when listening on all interfaces).
fn advertised(configured: Option<(String, u16)>, bound: std::net::SocketAddr) -> (String, i32) {
    if let Some((host, port)) = configured {
        return (host, port as i32);
    }
    let host = if bound.ip().is_unspecified() {
        logship_common::host::hostname()
    } else {
        bound.ip().to_string()
    };
    (host, bound.port() as i32)
}
