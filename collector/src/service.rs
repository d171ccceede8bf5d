//! Runs the collector role: opens storage (recovering it if needed), starts
//! maintenance, the Kafka and HTTP listeners, and on shutdown closes storage
//! cleanly.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::SharedCredentials;
use crate::broker::{Broker, BrokerSettings};
use crate::config::CollectorConfig;
use crate::connection::Timeouts;
use crate::group::{self, Coordinator};
use crate::http::{self, HttpAuth, HttpState};
use crate::limits::ConnectionLimits;
use crate::metrics::Metrics;
use crate::server::{self, ConnectionSettings};
use crate::session::{ListenerInfo, SaslSettings};
use crate::storage::{self, Storage};
use crate::tls::ReloadableTls;

/// Runs until `shutdown` is cancelled (`ready` fires once storage is
/// recovered and every listener is bound), then drains and writes the
/// clean-shutdown marker. Errors are start-up failures (bad config, data
/// directory in use, port taken, unreadable certificate) or a failed clean
/// close. [`run_with_reload`] also reloads on request.
pub async fn run(
    config: CollectorConfig,
    shutdown: CancellationToken,
    ready: tokio::sync::oneshot::Sender<()>,
) -> Result<(), String> {
    let (_never, reload) = tokio::sync::mpsc::channel(1);
    run_with_reload(config, shutdown, ready, reload).await
}

/// [`run`], where each config received on `reload` (the file re-read on
/// SIGHUP) re-reads the TLS certificates and the SASL credentials file,
/// and puts its ACLs, super users and principal mapping rules in force; a
/// bad new file or rule keeps the old one.
pub async fn run_with_reload(
    config: CollectorConfig,
    shutdown: CancellationToken,
    ready: tokio::sync::oneshot::Sender<()>,
    mut reload: tokio::sync::mpsc::Receiver<CollectorConfig>,
) -> Result<(), String> {
    let valid = config.validate()?;
    let options = valid.storage;
    let access = (valid.authorizer, valid.principal_mapper);
    let metrics = Metrics::new();
    // Certificates first: a bad path fails start-up before storage recovery.
    let mut tls_configs: Vec<Arc<ReloadableTls>> = Vec::new();
    let mut listener_tls = Vec::new();
    for l in valid.listeners {
        let tls = match &l.tls {
            Some(t) => {
                let name = format!("kafka listener {:?}", l.name);
                let tls = ReloadableTls::new(name.clone(), t.clone(), &[])
                    .map_err(|e| format!("{name}: {e}"))?;
                let tls = Arc::new(tls);
                tls_configs.push(Arc::clone(&tls));
                Some(tls)
            }
            None => None,
        };
        listener_tls.push((l, tls));
    }
    // The credentials file, when some listener authenticates with SASL: an
    // unreadable or corrupt file fails start-up; a missing one is no users.
    let credentials = if listener_tls.iter().any(|(l, _)| l.security.sasl()) {
        let path = config.credentials_file();
        let shared =
            SharedCredentials::load(&path).map_err(|e| format!("SASL credentials: {e}"))?;
        let (users, count) = shared.current().counts();
        if users == 0 {
            tracing::warn!(path = %path.display(), "the SASL credentials file has no users: no client can authenticate until `logship users add` and SIGHUP");
        } else {
            tracing::info!(path = %path.display(), users, credentials = count, "SASL credentials loaded");
        }
        Some(Arc::new(shared))
    } else {
        None
    };
    let http_tls = match &config.http.tls {
        Some(t) => {
            let tls = ReloadableTls::new("http".to_owned(), t.clone(), &[b"http/1.1"])
                .map_err(|e| format!("collector.http.tls: {e}"))?;
            let tls = Arc::new(tls);
            tls_configs.push(Arc::clone(&tls));
            Some(tls)
        }
        None => None,
    };

    let http_auth = Arc::new(HttpAuth::new(
        config.http.auth.as_ref(),
        &config.kafka.ssl_principal_mapping_rules,
        metrics.security.clone(),
    )?);

    let storage_metrics = metrics.storage.clone();
    let storage = tokio::task::spawn_blocking(move || Storage::open(options, storage_metrics))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| format!("opening storage: {e}"))?;

    let mut kafka_listeners = Vec::new();
    for (l, tls) in listener_tls {
        let socket = TcpListener::bind(l.listen)
            .await
            .map_err(|e| format!("binding Kafka listener {:?} on {}: {e}", l.name, l.listen))?;
        let bound = socket.local_addr().map_err(|e| e.to_string())?;
        let (host, port) = advertised(l.advertised, bound);
        tracing::info!(listener = %l.name, security = l.security.name(), addr = %bound, advertised = %format!("{host}:{port}"), "kafka listening");
        let sasl = match &credentials {
            Some(credentials) if l.security.sasl() => Some(Arc::new(SaslSettings {
                mechanisms: l.sasl_mechanisms.clone(),
                credentials: Arc::clone(credentials),
                failed_authentication_delay: config.kafka.failed_authentication_delay,
            })),
            _ => None,
        };
        let info = Arc::new(ListenerInfo {
            name: l.name.clone(),
            security: l.security,
            bound,
            advertised_host: host,
            advertised_port: port,
            sasl,
        });
        kafka_listeners.push(server::Listener { info, socket, tls });
    }
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
                auto_create_topics: config.auto_create_topics,
                default_partitions: config.defaults.partitions,
                max_request_bytes: config.kafka.max_request_bytes,
            },
        )
        .map_err(|e| format!("starting the broker: {e}"))?,
    );
    log_access(&access.0);
    http_auth.set_authorizer(access.0.clone());
    broker.access.replace(access.0, access.1);

    let listener = TcpListener::bind(config.http.listen)
        .await
        .map_err(|e| format!("binding HTTP listener {}: {e}", config.http.listen))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    tracing::info!(%addr, tls = http_tls.is_some(), "http listening");

    let maintenance = storage::spawn_maintenance(Arc::clone(&storage), shutdown.clone());
    let cleaner = storage::cleaner::spawn(
        Arc::clone(&storage),
        storage.options().cleaner.clone(),
        shutdown.clone(),
    );
    let state = HttpState::new(
        metrics.clone(),
        Arc::clone(&broker),
        config.http.max_body_bytes as usize,
        config.http.effective_max_inflight_bytes() as usize,
        Arc::clone(&http_auth),
    );
    let stop = shutdown.clone();
    let http = tokio::spawn(http::serve(
        listener,
        http_tls,
        config.http.max_connections as usize,
        state,
        async move { stop.cancelled().await },
    ));
    let settings = ConnectionSettings {
        limits: ConnectionLimits::new(
            config.kafka.max_connections,
            config.kafka.max_connections_per_ip,
        ),
        timeouts: Timeouts {
            idle: config.kafka.connections_max_idle,
            request_read: config.kafka.request_read_timeout,
        },
    };
    let mut kafka = tokio::task::JoinSet::new();
    for l in kafka_listeners {
        kafka.spawn(server::run(
            l,
            Arc::clone(&broker),
            settings.clone(),
            shutdown.clone(),
        ));
    }
    tracing::info!("collector ready");
    let _ = ready.send(());

    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            next = reload.recv() => match next {
                Some(next) => {
                    reload_tls(&tls_configs, &metrics);
                    if let Some(c) = &credentials {
                        reload_credentials(c, &metrics);
                    }
                    reload_http_tokens(&http_auth);
                    reload_access(&next, &broker, &http_auth);
                }
                // No more reloads (the sender is gone): just wait.
                None => { shutdown.cancelled().await; break }
            },
        }
    }
    tracing::info!("collector shutting down");
    let _ = maintenance.await;
    // A cleaning in progress finishes its partition first.
    let _ = cleaner.await;
    let _ = ticker.await;
    while kafka.join_next().await.is_some() {}
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

/// Puts the reloaded config's ACLs, super users and principal mapping
/// rules in force, for Kafka requests and HTTP ones alike; invalid ones
/// keep the previous rules.
fn reload_access(next: &CollectorConfig, broker: &Broker, http_auth: &HttpAuth) {
    let http_mapper = crate::http::auth::http_principal_mapper(
        next.http.auth.as_ref(),
        &next.kafka.ssl_principal_mapping_rules,
    );
    match next.access().and_then(|access| Ok((access, http_mapper?))) {
        Ok(((authorizer, mapper), http_mapper)) => {
            log_access(&authorizer);
            http_auth.set_authorizer(authorizer.clone());
            http_auth.set_mapper(http_mapper);
            broker.access.replace(authorizer, mapper);
            broker.metrics.security.acl_reload(true);
        }
        Err(e) => {
            broker.metrics.security.acl_reload(false);
            tracing::error!(error = %e, "ACL reload failed; keeping the previous rules");
        }
    }
}

fn log_access(authorizer: &crate::auth::Authorizer) {
    if authorizer.is_enforcing() {
        tracing::info!(
            acls = authorizer.acls().len(),
            "authorization: ACLs in force; what no rule allows is denied"
        );
    } else {
        tracing::info!("authorization: no ACLs configured; every client may do everything");
    }
}

/// Re-reads every TLS certificate; new handshakes use the new ones and
/// established connections keep theirs.
fn reload_tls(configs: &[Arc<ReloadableTls>], metrics: &Metrics) {
    for tls in configs {
        match tls.reload() {
            Ok(()) => {
                metrics.security.tls_reload(true);
                tracing::info!(what = %tls.name, cert_file = %tls.config().cert_file.display(), "TLS certificate reloaded");
            }
            Err(e) => {
                metrics.security.tls_reload(false);
                tracing::error!(what = %tls.name, error = %e, "TLS certificate reload failed; keeping the previous certificate");
            }
        }
    }
}

/// Re-reads the SASL credentials file (a user added or deleted by `logship
/// users`); exchanges from now on use it, authenticated connections stay.
/// The path is the one read at start-up.
fn reload_credentials(credentials: &SharedCredentials, metrics: &Metrics) {
    let path = credentials.path().display();
    match credentials.reload() {
        Ok((users, count)) => {
            metrics.security.credentials_reload(true);
            tracing::info!(path = %path, users, credentials = count, "SASL credentials reloaded");
        }
        Err(e) => {
            metrics.security.credentials_reload(false);
            tracing::error!(error = %e, "SASL credentials reload failed; keeping the previous users");
        }
    }
}

/// Re-reads the HTTP listener's tokens file; a broken file keeps the
/// tokens in use.
fn reload_http_tokens(auth: &HttpAuth) {
    match auth.reload() {
        Ok(None) => {}
        Ok(Some(tokens)) => tracing::info!(tokens, "http: tokens file reloaded"),
        Err(e) => {
            tracing::error!(error = %e, "http: tokens file reload failed; keeping the tokens in use")
        }
    }
}

/// The host and port a listener advertises: the configured one, else the
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
