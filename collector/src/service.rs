//! Runs the collector role: opens storage (recovering it if needed), starts
//! maintenance and the HTTP listener, and on shutdown closes storage cleanly.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::CollectorConfig;
use crate::http::{self, HttpState};
use crate::metrics::Metrics;
use crate::storage::{self, Storage};

/// Runs until `shutdown` is cancelled, then drains and writes the
/// clean-shutdown marker. Errors are start-up failures (bad config, data
/// directory in use, port taken) or a failed clean close.
pub async fn run(config: CollectorConfig, shutdown: CancellationToken) -> Result<(), String> {
    let options = config.validate()?;
    let metrics = Metrics::new();
    let storage_metrics = metrics.storage.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(options, storage_metrics))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("opening storage: {e}"))?;

    let listener = TcpListener::bind(config.http.listen)
        .await
        .map_err(|e| format!("binding HTTP listener {}: {e}", config.http.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, "http listening");

    let maintenance = storage::spawn_maintenance(Arc::clone(&storage), shutdown.clone());
    let state = HttpState {
        metrics,
        storage: Arc::clone(&storage),
    };
    let stop = shutdown.clone();
    let http = tokio::spawn(http::serve(listener, state, async move {
        stop.cancelled().await
    }));
    tracing::info!("collector ready");

    shutdown.cancelled().await;
    tracing::info!("collector shutting down");
    let _ = maintenance.await;
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
