//! One Kafka client connection: length-prefixed frames in, responses out.
//! Requests are read and handled one at a time, in order (so appends keep
//! their order); a Produce that waits for its fsync is answered by a writer
//! task in its turn while the next request is already being handled.
//! Responses always go back in request order (what every Kafka client
//! relies on). Oversized or malformed frames close the
//! connection after a log line and a metric; other connections are untouched.
//!
//! Two timeouts bound what a client may hold: a connection without a
//! request for `connections_max_idle` is closed, and a request whose first
//! byte has arrived must arrive whole within `request_read_timeout` (a
//! client trickling bytes holds a descriptor no longer than that).

use std::time::Duration;

use bytes::Bytes;
use tokio::io::{
    AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter, ReadHalf, WriteHalf,
};
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::broker::Broker;
use crate::handler::{self, Outcome, Piece};
use crate::session::Session;

/// Per-connection timeouts (`collector.kafka`).
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `connections_max_idle`.
    pub idle: Duration,
    /// `request_read_timeout` (also bounds the TLS handshake).
    pub request_read: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("i/o: {0}")]
    Io(#[from] std::io::Error),
    #[error("request of {size} bytes exceeds max_request_bytes {max}")]
    Oversized { size: i64, max: u64 },
    #[error("{0}")]
    Refused(String),
    #[error("TLS record on a plaintext listener")]
    TlsOnPlaintext,
}

/// Responses that may be waiting on in flight at once (a Produce waiting for
/// its fsync); reading pauses beyond this.
const PIPELINE: usize = 8;

/// A request buffer starts this big and grows with what arrives.
const FIRST_READ: usize = 64 << 10;

pub async fn serve<S>(
    stream: S,
    mut session: Session,
    broker: &std::sync::Arc<Broker>,
    timeouts: &Timeouts,
    shutdown: CancellationToken,
) -> Result<(), ConnectionError>
where
    S: Split,
{
    let peer = session.peer;
    let (reader, writer) = stream.split();
    let (queue, answers) = mpsc::channel(PIPELINE);
    let sent = broker.metrics.kafka.fetch_sendfile_bytes.clone();
    let writer = tokio::spawn(write_responses(writer, answers, peer, sent));
    let read = read_requests(reader, &mut session, broker, timeouts, shutdown, queue).await;
    let written = writer.await.unwrap_or(Ok(()));
    read.and(written)
}

/// A stream split into a read half (the request loop) and a write half
/// (the response writer task): TCP's own halves, lock-free, for
/// plaintext; tokio's locked halves for TLS, whose state is shared.
pub trait Split: Send + 'static {
    type Read: AsyncRead + Unpin + Send + 'static;
    type Write: AsyncWrite + Socket + Unpin + Send + 'static;
    fn split(self) -> (Self::Read, Self::Write);
}

/// The TCP socket under a write half, where bytes may go to it directly:
/// on plaintext, record sets are sent from their files with sendfile(2).
pub trait Socket {
    fn plain_tcp(&self) -> Option<&tokio::net::TcpStream>;
}

impl Socket for tokio::net::tcp::OwnedWriteHalf {
    fn plain_tcp(&self) -> Option<&tokio::net::TcpStream> {
        Some(self.as_ref())
    }
}

/// TLS encrypts in user space: nothing goes to the socket uncopied.
impl Socket for WriteHalf<tokio_rustls::server::TlsStream<tokio::net::TcpStream>> {
    fn plain_tcp(&self) -> Option<&tokio::net::TcpStream> {
        None
    }
}

impl Split for tokio::net::TcpStream {
    type Read = tokio::net::tcp::OwnedReadHalf;
    type Write = tokio::net::tcp::OwnedWriteHalf;
    fn split(self) -> (Self::Read, Self::Write) {
        self.into_split()
    }
}

impl Split for tokio_rustls::server::TlsStream<tokio::net::TcpStream> {
    type Read = ReadHalf<Self>;
    type Write = WriteHalf<Self>;
    fn split(self) -> (Self::Read, Self::Write) {
        tokio::io::split(self)
    }
}

/// What ended a wait for bytes.
enum Read {
    Done,
    Closed,
    TimedOut,
}

/// Reads and handles requests one at a time, in order (appends happen
/// here), queueing each outcome for the writer.
async fn read_requests<R: AsyncRead + Unpin>(
    mut reader: R,
    session: &mut Session,
    broker: &std::sync::Arc<Broker>,
    timeouts: &Timeouts,
    shutdown: CancellationToken,
    queue: mpsc::Sender<Outcome>,
) -> Result<(), ConnectionError> {
    let peer = session.peer;
    let listener = session.listener.name.clone();
    loop {
        let mut len = [0u8; 4];
        // Idle until the next request's first byte.
        tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            read = tokio::time::timeout(timeouts.idle, reader.read(&mut len[..1])) => match read {
                Err(_) => {
                    broker.metrics.kafka.connection_timeout(&listener, "idle");
                    tracing::debug!(?peer, %listener, "closing idle connection");
                    return Ok(());
                }
                Ok(Ok(0)) => return Ok(()),
                Ok(Ok(_)) => {}
                Ok(Err(e)) => return Err(e.into()),
            },
        }
        let deadline = Instant::now() + timeouts.request_read;
        let trickled = |size: i64| {
            broker
                .metrics
                .kafka
                .connection_timeout(&listener, "request_read");
            tracing::debug!(?peer, %listener, size, "closing connection: request not received within request_read_timeout");
        };
        match read_by(&mut reader, &mut len[1..], deadline).await? {
            Read::Done => {}
            Read::Closed => return Ok(()),
            Read::TimedOut => {
                trickled(-1);
                return Ok(());
            }
        }
        let size = i32::from_be_bytes(len) as i64;
        if size < 0 || size as u64 > broker.max_request_bytes {
            if len[0] == 0x16 && len[1] == 0x03 {
                // A TLS ClientHello: its record header read as a length.
                broker
                    .metrics
                    .security
                    .auth_failure(&listener, "plaintext", "tls_on_plaintext");
                tracing::warn!(?peer, %listener, "closing connection: TLS handshake on a plaintext listener");
                return Err(ConnectionError::TlsOnPlaintext);
            }
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
        let mut frame = Vec::with_capacity((size as usize).min(FIRST_READ));
        match tokio::time::timeout_at(deadline, read_frame(&mut reader, &mut frame, size as usize))
            .await
        {
            Err(_) => {
                trickled(size);
                return Ok(());
            }
            Ok(Err(e)) => return Err(e.into()),
            Ok(Ok(false)) => return Ok(()), // closed mid-request
            Ok(Ok(true)) => {}
        }
        let outcome = handler::handle(broker, Bytes::from(frame), session).await;
        let close = matches!(outcome, Outcome::Close(_) | Outcome::Final(_));
        if queue.send(outcome).await.is_err() || close {
            // The writer stopped (socket error, or it is closing for us).
            return Ok(());
        }
    }
}

/// Reads a request body of `size` bytes into `frame` (whose capacity is at
/// most `size`); false if the client closed first. Only the first
/// `FIRST_READ` bytes are reserved by the length prefix alone; past them
/// the frame grows to four times what has arrived, at least 1 MiB: a 1 MB
/// produce request is reserved once (growing by doubling copied 960 KiB of
/// it), and a client that stops sending holds at most four times what it
/// sent. Reads go straight into the spare capacity, never past `size`.
async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    frame: &mut Vec<u8>,
    size: usize,
) -> std::io::Result<bool> {
    while frame.len() < size {
        if frame.len() == frame.capacity() {
            let want = (frame.len() * 4).max(1 << 20).min(size);
            frame.reserve_exact(want - frame.len());
        }
        // `take`: the capacity Vec gives may exceed what was asked for.
        let left = (size - frame.len()) as u64;
        if (&mut *reader).take(left).read_buf(frame).await? == 0 {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Fills `buf` before `deadline`.
async fn read_by<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut [u8],
    deadline: Instant,
) -> Result<Read, ConnectionError> {
    match tokio::time::timeout_at(deadline, reader.read_exact(buf)).await {
        Err(_) => Ok(Read::TimedOut),
        Ok(Ok(_)) => Ok(Read::Done),
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => Ok(Read::Closed),
        Ok(Err(e)) => Err(e.into()),
    }
}

/// Writes responses in request order, waiting for pending ones in turn.
/// `sendfile_bytes`: counts record set bytes sent by sendfile.
async fn write_responses<W: AsyncWrite + Socket + Unpin>(
    writer: W,
    mut answers: mpsc::Receiver<Outcome>,
    peer: Option<std::net::SocketAddr>,
    sendfile_bytes: prometheus::IntCounter,
) -> Result<(), ConnectionError> {
    let mut writer = BufWriter::new(writer);
    // Record sets going through TLS are read into this, one chunk at a time.
    let mut chunk = Vec::new();
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
            Outcome::RespondPieces(pieces) => {
                // Small pieces gather in the buffer; a record set larger
                // than it goes to the socket directly; one in a file goes
                // from the file, after what the buffer holds.
                for piece in pieces {
                    match piece {
                        Piece::Bytes(bytes) => writer.write_all(&bytes).await?,
                        Piece::File(range) => {
                            writer.flush().await?;
                            if let Some(socket) = writer.get_ref().plain_tcp() {
                                crate::sendfile::send(socket, &range).await?;
                                sendfile_bytes.inc_by(range.len as u64);
                            } else {
                                chunk = write_in_chunks(&mut writer, &range, chunk).await?;
                            }
                        }
                    }
                }
                writer.flush().await?;
            }
            Outcome::NoResponse | Outcome::Pending(_) => {}
            Outcome::Final(last) => {
                writer.write_all(&last).await?;
                writer.flush().await?;
                let _ = writer.shutdown().await;
                return Ok(());
            }
            Outcome::Close(reason) => {
                tracing::warn!(?peer, %reason, "closing connection");
                return Err(ConnectionError::Refused(reason));
            }
        }
    }
    Ok(())
}

/// A record set is read for TLS this much at a time.
const CHUNK: usize = 256 << 10;

/// Writes a record set from its file through a stream that must see its
/// bytes (TLS encrypts them), a chunk at a time, read off the runtime into
/// `buf` (given back for the next one). One buffer per connection, reused:
/// a fresh buffer per response cost as much in page faults as the copy,
/// and reading a whole response at once held all of it in memory.
async fn write_in_chunks<W: AsyncWrite + Unpin>(
    writer: &mut W,
    range: &crate::storage::FileRange,
    mut buf: Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    let mut sent = 0;
    while sent < range.len {
        let part = range.slice(sent, CHUNK);
        buf = tokio::task::spawn_blocking(move || part.read_into(&mut buf).map(|()| buf))
            .await
            .map_err(std::io::Error::other)??;
        writer.write_all(&buf).await?;
        sent += buf.len();
    }
    Ok(buf)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::FileRange;
    use std::sync::Arc;

    /// A record set longer than several chunks, starting inside the file,
    /// arrives whole and in order, and the buffer comes back for reuse.
    #[tokio::test]
    async fn a_record_set_goes_through_in_chunks_byte_exact() {
        let content: Vec<u8> = (0..3 * CHUNK + 12_345)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &content).unwrap();
        let range = FileRange {
            file: Arc::new(file),
            pos: 5,
            len: content.len() - 9,
        };
        let mut out = Vec::new();
        let buf = write_in_chunks(&mut out, &range, Vec::new()).await.unwrap();
        assert_eq!(out, content[5..content.len() - 4]);
        assert!(buf.capacity() >= CHUNK, "the buffer is handed back");
        // A second record set reuses it.
        let buf = write_in_chunks(&mut out, &range.slice(0, 10), buf)
            .await
            .unwrap();
        assert_eq!(&out[out.len() - 10..], &content[5..15]);
        assert!(buf.capacity() >= CHUNK);
    }

    /// A file shorter than its range is an error, not a short response.
    #[tokio::test]
    async fn a_short_file_is_an_error() {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, b"0123456789").unwrap();
        let range = FileRange {
            file: Arc::new(file),
            pos: 4,
            len: 100,
        };
        let mut out = Vec::new();
        let err = write_in_chunks(&mut out, &range, Vec::new())
            .await
            .unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::UnexpectedEof);
    }
}
