//! The collector's HTTP listener (docs/http-api.md): the router and the
//! operational endpoints, `/metrics` (Prometheus text format), `/healthz`
//! (the process is up) and `/readyz` (storage is loaded and serving).
//!
//! - [`ingest`]: `POST /v1/topics/{topic}/records`, with [`body`] (bounded
//!   reads, gzip) and [`ndjson`] (lines to records).
//! - [`admin`]: topic lookup, producer state, producer id allocation.
//! - [`error`]: the JSON error body and Kafka error code to status mapping.
//! - [`budget`]: the memory all ingest bodies may hold together.
//! - [`listener`]: the accept loop, plain or TLS, its connection cap, and
//!   [`HttpPeer`].
//! - [`auth`]: who a request is (bearer token, client certificate) and the
//!   ACL check handlers call; [`tokens`]: the hashed bearer tokens file.
//!
//! Every route is counted and timed under a fixed endpoint name; unknown
//! paths and methods under `other`.

pub mod admin;
pub mod auth;
pub mod body;
pub mod budget;
pub mod error;
pub mod ingest;
pub mod listener;
pub mod ndjson;
pub mod tokens;

pub use auth::{Authenticated, HttpAuth};
pub use listener::HttpPeer;

use std::future::Future;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::handler::Handler;
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::Router;
use tokio::net::TcpListener;

use crate::broker::Broker;
use crate::metrics::{HttpMetrics, Metrics};
use crate::tls::ReloadableTls;
use budget::MemoryBudget;
use error::ApiError;
use logship_common::ingest::ErrorCode;

#[derive(Clone)]
pub struct HttpState {
    pub metrics: Metrics,
    /// Storage, topic auto-creation, producer ids and the append signal,
    /// shared with the Kafka listener so both ingest paths behave alike.
    pub broker: Arc<Broker>,
    /// `collector.http.max_body_bytes`.
    pub max_body_bytes: usize,
    /// Round-robin counter for NDJSON requests without a partition.
    pub next_partition: Arc<AtomicU64>,
    /// `collector.http.max_inflight_bytes`, shared by all ingest requests.
    pub memory: MemoryBudget,
    /// `collector.http.auth`: authentication, and the ACL check handlers
    /// call ([`HttpAuth::authorize`]).
    pub auth: Arc<HttpAuth>,
}

impl HttpState {
    pub fn new(
        metrics: Metrics,
        broker: Arc<Broker>,
        max_body_bytes: usize,
        max_inflight_bytes: usize,
        auth: Arc<HttpAuth>,
    ) -> Self {
        let memory = MemoryBudget::new(
            max_inflight_bytes,
            budget::WAIT,
            metrics.http.inflight_bytes.clone(),
            metrics.http.memory_refused.clone(),
        );
        HttpState {
            metrics,
            broker,
            max_body_bytes,
            next_partition: Arc::new(AtomicU64::new(0)),
            memory,
            auth,
        }
    }
}

pub fn router(state: HttpState) -> Router {
    let http = state.metrics.http.clone();
    let tracked =
        |endpoint: &'static str| middleware::from_fn_with_state((http.clone(), endpoint), observe);
    // Inside `tracked`, so refusals are counted under their endpoint.
    let authn = middleware::from_fn_with_state(Arc::clone(&state.auth), auth::authenticate);
    let ops = |route: MethodRouter<HttpState>, endpoint: &'static str| {
        let route = if state.auth.protect_metrics() {
            route.layer(authn.clone())
        } else {
            route
        };
        route.layer(tracked(endpoint))
    };
    let api = |route: MethodRouter<HttpState>, endpoint: &'static str| {
        route.layer(authn.clone()).layer(tracked(endpoint))
    };
    Router::new()
        .route("/metrics", ops(get(metrics), "metrics"))
        .route("/healthz", ops(get(|| async { "ok\n" }), "healthz"))
        .route("/readyz", ops(get(ready), "readyz"))
        .route(
            "/v1/topics/{topic}/records",
            api(post(ingest::post_records), "records"),
        )
        .route("/v1/topics/{topic}", api(get(admin::get_topic), "topic"))
        .route(
            "/v1/topics/{topic}/partitions/{partition}/producers/{producer_id}",
            api(get(admin::get_producer), "producer"),
        )
        .route(
            "/v1/producer-ids",
            api(post(admin::post_producer_id), "producer_ids"),
        )
        .fallback(not_found.layer(tracked("other")))
        .method_not_allowed_fallback(method_not_allowed.layer(tracked("other")))
        .with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        ErrorCode::MethodNotAllowed,
        "method not allowed on this endpoint",
    )
}

/// Counts and times one request under its route's endpoint name.
async fn observe(
    State((metrics, endpoint)): State<(HttpMetrics, &'static str)>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.request(
        endpoint,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

async fn metrics(State(state): State<HttpState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, logship_common::metrics::CONTENT_TYPE)],
        state.metrics.render(),
    )
}

async fn ready(State(state): State<HttpState>) -> impl IntoResponse {
    // Storage is opened before the listener starts, so reaching here means
    // recovery finished; report what is served.
    let topics = state.broker.storage.list_topics().len();
    (StatusCode::OK, format!("ready: {topics} topics\n"))
}

/// Serves until `shutdown` resolves; HTTPS when `tls` is given; at most
/// `max_connections` connections at once.
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ReloadableTls>>,
    max_connections: usize,
    state: HttpState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let metrics = state.metrics.clone();
    listener::serve(
        listener,
        tls,
        max_connections,
        router(state),
        metrics,
        shutdown,
    )
    .await
}
