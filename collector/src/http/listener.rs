//! The HTTP accept loop, plain or TLS: each connection is served by hyper
//! with the axum router, and every request carries an [`HttpPeer`]
//! extension (the client's address and, under mutual TLS, its certificate
//! chain) for handlers that authenticate.
//!
//! At most `collector.http.max_connections` connections are open at once:
//! one more is closed as soon as it is accepted (before any TLS work), and
//! counted in `logship_collector_http_connections_refused_total`.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::CertificateDer;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::metrics::{Metrics, SecurityMetrics};
use crate::tls::ReloadableTls;

/// Who sent an HTTP request: `Extension<HttpPeer>` in a handler.
#[derive(Debug, Clone)]
pub struct HttpPeer {
    pub addr: SocketAddr,
    /// The client's verified certificate chain (leaf first, DER) when it
    /// presented one in the TLS handshake.
    pub client_certificates: Option<Arc<Vec<CertificateDer<'static>>>>,
}

/// A client must send its request headers (and finish the TLS handshake)
/// within this; a slow client is disconnected.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);

/// The `listener` label of HTTP's TLS failures.
const LISTENER: &str = "http";

/// Accepts until `shutdown` resolves, then lets open connections finish
/// their current request (up to 5 s).
pub async fn serve(
    listener: TcpListener,
    tls: Option<Arc<ReloadableTls>>,
    max_connections: usize,
    router: Router,
    metrics: Metrics,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let security = metrics.security.clone();
    let http = metrics.http.clone();
    let slots = Arc::new(Semaphore::new(max_connections));
    let stop = CancellationToken::new();
    let trigger = stop.clone();
    tokio::spawn(async move {
        shutdown.await;
        trigger.cancel();
    });
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = stop.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, addr)) => {
                    let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
                        http.connections_refused.inc();
                        tracing::debug!(peer = %addr, max_connections, "http: closing connection: max_connections reached");
                        drop(socket);
                        continue;
                    };
                    let _ = socket.set_nodelay(true);
                    let (router, tls, security, stop) = (router.clone(), tls.clone(), security.clone(), stop.clone());
                    let open = http.connections.clone();
                    connections.spawn(async move {
                        open.inc();
                        connection(socket, addr, tls, router, &security, stop).await;
                        open.dec();
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "http accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    let deadline = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() { break },
            _ = &mut deadline => { connections.abort_all(); break }
        }
    }
    Ok(())
}

async fn connection(
    socket: TcpStream,
    addr: SocketAddr,
    tls: Option<Arc<ReloadableTls>>,
    router: Router,
    security: &SecurityMetrics,
    stop: CancellationToken,
) {
    // The first byte tells TLS (a handshake record, 0x16) from HTTP text.
    let mut first = [0u8; 1];
    let is_tls = match tokio::time::timeout(HEADER_READ_TIMEOUT, socket.peek(&mut first)).await {
        Ok(Ok(1)) => first[0] == 0x16,
        _ => return,
    };
    let Some(tls) = tls else {
        if is_tls {
            security.auth_failure(LISTENER, "plaintext", "tls_on_plaintext");
            tracing::warn!(peer = %addr, "closing connection: TLS handshake on the plain HTTP listener");
            return;
        }
        let peer = HttpPeer {
            addr,
            client_certificates: None,
        };
        return http(socket, peer, router, stop).await;
    };
    if !is_tls {
        security.auth_failure(LISTENER, "ssl", "plaintext_on_tls");
        tracing::warn!(peer = %addr, "closing connection: plain HTTP on the HTTPS listener");
        return;
    }
    let stream =
        match tokio::time::timeout(HEADER_READ_TIMEOUT, tls.acceptor().accept(socket)).await {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                security.auth_failure(LISTENER, "ssl", "tls_handshake");
                tracing::warn!(peer = %addr, error = %e, "https: TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(peer = %addr, "https: TLS handshake timed out");
                return;
            }
        };
    let certificates = stream
        .get_ref()
        .1
        .peer_certificates()
        .map(|chain| Arc::new(chain.iter().map(|c| c.clone().into_owned()).collect()));
    let peer = HttpPeer {
        addr,
        client_certificates: certificates,
    };
    http(stream, peer, router, stop).await
}

/// HTTP/1.1 on one connection until the client closes or `stop` fires.
async fn http<S>(io: S, peer: HttpPeer, router: Router, stop: CancellationToken)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let addr = peer.addr;
    let service =
        hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
            request.extensions_mut().insert(peer.clone());
            let mut router = router.clone();
            async move { tower_service::Service::call(&mut router, request).await }
        });
    let conn = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(io), service);
    tokio::pin!(conn);
    let result = tokio::select! {
        r = conn.as_mut() => r,
        _ = stop.cancelled() => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!(peer = %addr, error = %e, "http connection ended");
    }
}
