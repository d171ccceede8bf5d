//! The collector's HTTP listener: `/metrics` (Prometheus text format),
//! `/healthz` (the process is up) and `/readyz` (storage is loaded and
//! serving). Ingest and admin endpoints land here as they are built.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::routing::get;
use axum::Router;
use tokio::net::TcpListener;

use crate::metrics::Metrics;
use crate::storage::Storage;

#[derive(Clone)]
pub struct HttpState {
    pub metrics: Metrics,
    pub storage: Arc<Storage>,
}

pub fn router(state: HttpState) -> Router {
    Router::new()
        .route("/metrics", get(metrics))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .with_state(state)
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
    // Storage is opened before the listener starts, so reaching here means
    // recovery finished; report what is served.
    let topics = state.storage.list_topics().len();
    (StatusCode::OK, format!("ready: {topics} topics\n"))
}

/// Serves until `shutdown` resolves.
pub async fn serve(
    listener: TcpListener,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
