//! One Kafka client connection: length-prefixed frames in, responses out.
//! Requests are read and handled one at a time, in order (so appends keep
//! their order); a Produce that waits for its fsync is answered by a writer
//! task in its turn while the next request is already being handled.
//! Responses always go back in request order (what every Kafka client
//! relies on). Oversized or malformed frames close the
//! connection after a log line and a metric; other connections are untouched.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::handler::{self, Outcome};

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("request of {size} bytes exceeds max_request_bytes {max}")]
    Oversized { size: i64, max: u64 },
    #[error("{0}")]
    Refused(String),
}

/// Responses that may be waiting on in flight at once (a Produce waiting for
/// its fsync); reading pauses beyond this.
const PIPELINE: usize = 8;

pub async fn serve(
    socket: TcpStream,
    broker: &std::sync::Arc<Broker>,
    shutdown: CancellationToken,
) -> Result<(), ConnectionError> {
    let peer = socket.peer_addr().ok();
    let (reader, writer) = socket.into_split();
    let (queue, answers) = mpsc::channel(PIPELINE);
    let writer = tokio::spawn(write_responses(writer, answers, peer));
    let read = read_requests(reader, broker, shutdown, queue, peer).await;
    let written = writer.await.unwrap_or(Ok(()));
    read.and(written)
}

/// Reads and handles requests one at a time, in order (appends happen
/// here), queueing each outcome for the writer.
async fn read_requests(
    mut reader: OwnedReadHalf,
    broker: &std::sync::Arc<Broker>,
    shutdown: CancellationToken,
    queue: mpsc::Sender<Outcome>,
    peer: Option<std::net::SocketAddr>,
) -> Result<(), ConnectionError> {
    loop {
        let mut len = [0u8; 4];
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            read = reader.read_exact(&mut len) => match read {
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
                Err(e) => return Err(e.into()),
            },
        }
        let size = i32::from_be_bytes(len) as i64;
        if size < 0 || size as u64 > broker.max_request_bytes {
            broker.metrics.kafka.request_error("oversized");
            tracing::warn!(
                ?peer,
                size,
                "closing connection: request size out of bounds"
            );
            return Err(ConnectionError::Oversized {
                size,
                max: broker.max_request_bytes,
            });
        }
        let mut frame = BytesMut::zeroed(size as usize);
        reader.read_exact(&mut frame).await?;
        let outcome = handler::handle(broker, Bytes::from(frame), peer).await;
        let close = matches!(outcome, Outcome::Close(_));
        if queue.send(outcome).await.is_err() || close {
            // The writer stopped (socket error, or it is closing for us).
            return Ok(());
        }
    }
}

/// Writes responses in request order, waiting for pending ones in turn.
async fn write_responses(
    writer: OwnedWriteHalf,
    mut answers: mpsc::Receiver<Outcome>,
    peer: Option<std::net::SocketAddr>,
) -> Result<(), ConnectionError> {
    let mut writer = BufWriter::new(writer);
    while let Some(mut outcome) = answers.recv().await {
        if let Outcome::Pending(task) = outcome {
            outcome = task
                .await
                .unwrap_or_else(|e| Outcome::Close(format!("request handler failed: {e}")));
        }
        match outcome {
            Outcome::Respond(response) => {
                writer.write_all(&response).await?;
                writer.flush().await?;
            }
            Outcome::NoResponse | Outcome::Pending(_) => {}
            Outcome::Close(reason) => {
                tracing::warn!(?peer, %reason, "closing connection");
                return Err(ConnectionError::Refused(reason));
            }
        }
    }
    Ok(())
}
