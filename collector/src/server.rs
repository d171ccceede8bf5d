//! The Kafka protocol accept loop, one per listener. Each connection runs
//! in its own task (connection limits, the TLS handshake, then
//! [`connection::serve`]); a connection's errors are logged there and never
//! reach this loop.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::connection::{self, Timeouts};
use crate::limits::ConnectionLimits;
use crate::session::{ListenerInfo, SecurityProtocol, Session};
use crate::tls::ReloadableTls;

/// A bound Kafka listener.
pub struct Listener {
    pub info: Arc<ListenerInfo>,
    pub socket: TcpListener,
    /// Present on `ssl` and `sasl_ssl` listeners.
    pub tls: Option<Arc<ReloadableTls>>,
}

/// What every listener's connections share besides the broker.
#[derive(Clone)]
pub struct ConnectionSettings {
    pub limits: Arc<ConnectionLimits>,
    pub timeouts: Timeouts,
}

/// The first byte of a TLS record carrying a handshake message.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// Accepts connections until `shutdown` fires, then waits for open
/// connections to finish their current request.
pub async fn run(
    listener: Listener,
    broker: Arc<Broker>,
    settings: ConnectionSettings,
    shutdown: CancellationToken,
) {
    let mut connections = JoinSet::new();
    let name = listener.info.name.clone();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.socket.accept() => match accepted {
                Ok((socket, peer)) => {
                    let permit = match settings.limits.try_acquire(peer.ip()) {
                        Ok(p) => p,
                        Err(refused) => {
                            // Closed at once, unanswered, as Kafka does.
                            broker.metrics.kafka.connection_refused(&name, refused.label());
                            tracing::debug!(%peer, listener = %name, limit = refused.label(), "connection refused");
                            continue;
                        }
                    };
                    let _ = socket.set_nodelay(true);
                    broker.metrics.kafka.connections_total.inc();
                    let (broker, stop, settings) = (Arc::clone(&broker), shutdown.clone(), settings.clone());
                    let (info, tls) = (Arc::clone(&listener.info), listener.tls.clone());
                    connections.spawn(async move {
                        let _permit = permit;
                        let gauge = broker.metrics.kafka.listener_connections.with_label_values(&[&info.name]);
                        broker.metrics.kafka.connections.inc();
                        gauge.inc();
                        accepted_connection(socket, peer, info, tls, &broker, &settings, stop).await;
                        gauge.dec();
                        broker.metrics.kafka.connections.dec();
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drain(connections).await;
}

/// Runs one connection: the TLS handshake where the listener has TLS, then
/// the request loop.
async fn accepted_connection(
    socket: TcpStream,
    peer: std::net::SocketAddr,
    info: Arc<ListenerInfo>,
    tls: Option<Arc<ReloadableTls>>,
    broker: &Arc<Broker>,
    settings: &ConnectionSettings,
    stop: CancellationToken,
) {
    let name = info.name.as_str();
    let result = match tls {
        None => {
            let session = Session::new(Arc::clone(&info), Some(peer), None);
            connection::serve(socket, session, broker, &settings.timeouts, stop).await
        }
        Some(tls) => {
            let Some(stream) = handshake(socket, peer, &info, &tls, broker, settings).await else {
                return;
            };
            let certificates = stream
                .get_ref()
                .1
                .peer_certificates()
                .map(|chain| Arc::new(chain.iter().map(|c| c.clone().into_owned()).collect()));
            let mut session = Session::new(Arc::clone(&info), Some(peer), certificates);
            if !set_certificate_principal(&mut session, broker) {
                return;
            }
            connection::serve(stream, session, broker, &settings.timeouts, stop).await
        }
    };
    if let Err(e) = result {
        tracing::debug!(%peer, listener = name, error = %e, "kafka connection closed");
    }
}

/// On an `ssl` listener, the principal of a verified client certificate:
/// its subject through `collector.kafka.ssl_principal_mapping_rules`
/// (Kafka's `ssl.principal.mapping.rules`). Without a certificate the
/// session stays `User:ANONYMOUS`; on `sasl_ssl` SASL names the principal.
/// False when no rule maps the subject: the authentication failed (counted,
/// logged) and the connection is to be closed, as in Kafka.
fn set_certificate_principal(session: &mut Session, broker: &Broker) -> bool {
    if session.listener.security != SecurityProtocol::Ssl {
        return true;
    }
    let Some(leaf) = session.client_certificates.as_ref().and_then(|c| c.first()) else {
        return true;
    };
    match broker.access.mapper().principal_for_certificate(leaf) {
        Ok(principal) => {
            tracing::debug!(peer = ?session.peer, listener = %session.listener.name, %principal, "client certificate principal");
            session.principal = principal;
            true
        }
        Err(e) => {
            let name = session.listener.name.as_str();
            broker
                .metrics
                .security
                .auth_failure(name, "ssl", "principal_mapping");
            tracing::warn!(peer = ?session.peer, listener = name, error = %e, "closing connection: client certificate refused");
            false
        }
    }
}

/// The TLS handshake, bounded by `request_read_timeout`. A client that
/// speaks Kafka in the clear is told apart from a failed handshake (its
/// first byte is a length prefix, not a TLS record). Every failure is
/// logged and counted; `None` means the connection is done.
async fn handshake(
    socket: TcpStream,
    peer: std::net::SocketAddr,
    info: &ListenerInfo,
    tls: &ReloadableTls,
    broker: &Broker,
    settings: &ConnectionSettings,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    let name = info.name.as_str();
    let security = &broker.metrics.security;
    let limit = settings.timeouts.request_read;
    let mut first = [0u8; 1];
    match tokio::time::timeout(limit, socket.peek(&mut first)).await {
        Err(_) => {
            broker
                .metrics
                .kafka
                .connection_timeout(name, "tls_handshake");
            tracing::debug!(%peer, listener = name, "closing connection: no TLS handshake in time");
            return None;
        }
        Ok(Ok(0)) | Ok(Err(_)) => return None,
        Ok(Ok(_)) if first[0] != TLS_HANDSHAKE_RECORD => {
            security.auth_failure(name, "ssl", "plaintext_on_tls");
            tracing::warn!(%peer, listener = name, "closing connection: plaintext request on a TLS listener");
            return None;
        }
        Ok(Ok(_)) => {}
    }
    match tokio::time::timeout(limit, tls.acceptor().accept(socket)).await {
        Ok(Ok(stream)) => Some(stream),
        Ok(Err(e)) => {
            security.auth_failure(name, "ssl", "tls_handshake");
            tracing::warn!(%peer, listener = name, error = %e, "TLS handshake failed");
            None
        }
        Err(_) => {
            broker
                .metrics
                .kafka
                .connection_timeout(name, "tls_handshake");
            tracing::debug!(%peer, listener = name, "closing connection: TLS handshake timed out");
            None
        }
    }
}

async fn drain(mut connections: JoinSet<()>) {
    let deadline = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() { return },
            _ = &mut deadline => { connections.abort_all(); return }
        }
    }
}
