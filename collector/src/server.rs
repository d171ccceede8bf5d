//! The Kafka protocol accept loop. Each connection runs in its own task; a
//! connection's errors are logged there and never reach this loop.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::connection;

/// Accepts connections until `shutdown` fires, then waits for open
/// connections to finish their current request.
pub async fn run(listener: TcpListener, broker: Arc<Broker>, shutdown: CancellationToken) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let _ = socket.set_nodelay(true);
                    broker.metrics.kafka.connections_total.inc();
                    let (broker, stop) = (Arc::clone(&broker), shutdown.clone());
                    connections.spawn(async move {
                        broker.metrics.kafka.connections.inc();
                        if let Err(e) = connection::serve(socket, &broker, stop).await {
                            tracing::debug!(%peer, error = %e, "kafka connection closed");
                        }
                        broker.metrics.kafka.connections.dec();
                    });
                }
                Err(e) => {
                    // EMFILE and friends: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    drain(connections).await;
}

async fn drain(mut connections: JoinSet<()>) {
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(5));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = connections.join_next() => if next.is_none() { return },
            _ = &mut deadline => { connections.abort_all(); return }
        }
    }
}
