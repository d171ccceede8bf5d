//! One Kafka client connection: length-prefixed frames in, responses out,
//! one request at a time so responses go back in request order (what every
//! Kafka client relies on). Oversized or malformed frames close the
//! connection after a log line and a metric; other connections are untouched.

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
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

pub async fn serve(
    socket: TcpStream,
    broker: &std::sync::Arc<Broker>,
    shutdown: CancellationToken,
) -> Result<(), ConnectionError> {
    let peer = socket.peer_addr().ok();
    let (mut reader, writer) = socket.into_split();
    let mut writer = BufWriter::new(writer);
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
        match handler::handle(broker, Bytes::from(frame), peer).await {
            Outcome::Respond(response) => {
                writer.write_all(&response).await?;
                writer.flush().await?;
            }
            Outcome::NoResponse => {}
            Outcome::Close(reason) => {
                tracing::warn!(?peer, %reason, "closing connection");
                return Err(ConnectionError::Refused(reason));
            }
        }
    }
}
