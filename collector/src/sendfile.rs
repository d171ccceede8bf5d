//! Record sets from a segment file to a plaintext Kafka socket with
//! sendfile(2): the kernel moves the bytes from the page cache to the
//! socket, and the collector never copies them (Kafka serves fetches the
//! same way). TLS connections cannot use it: their bytes are encrypted in
//! user space.
//!
//! The socket is non-blocking (tokio's): a call sends what the socket
//! buffer takes, then `EAGAIN` clears tokio's write readiness and the task
//! waits for the socket to drain. Like a pread, a sendfile of bytes not in
//! the page cache waits for the disk on the calling thread; fetched data is
//! usually recent and cached, and Kafka's network threads make the same
//! trade.

use std::io;

use tokio::io::Interest;
use tokio::net::TcpStream;

use crate::storage::FileRange;

/// Sends all of `range` to `socket`. The caller has flushed every byte
/// that goes before it. An error leaves the frame part-sent: the caller
/// must close the connection.
pub async fn send(socket: &TcpStream, range: &FileRange) -> io::Result<()> {
    let end = range.pos + range.len as u64;
    let mut offset = range.pos;
    while offset < end {
        socket.writable().await?;
        let left = (end - offset) as usize;
        // sendfile advances `offset` by what it sent (the file's own
        // position is untouched, so ranges of one file may be in flight on
        // several connections at once).
        let sent = socket.try_io(Interest::WRITABLE, || {
            rustix::fs::sendfile(socket, &*range.file, Some(&mut offset), left)
                .map_err(io::Error::from)
        });
        match sent {
            // The range was computed from whole batches below the segment's
            // size, and segments only grow while the collector runs; a short
            // file means something else truncated it.
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("segment file ends before byte {end} of a record set"),
                ))
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    /// A range larger than the socket buffers arrives whole and exact,
    /// though the reader drains it slowly (partial sends and EAGAIN).
    #[tokio::test]
    async fn sends_exactly_the_range_through_partial_writes() {
        let data: Vec<u8> = (0..8_000_000u32).map(|i| (i % 251) as u8).collect();
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, &data).unwrap();
        let range = FileRange {
            file: Arc::new(file),
            pos: 1_234,
            len: 7_000_000,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.unwrap();
            let mut got = Vec::new();
            let mut chunk = vec![0u8; 64 << 10];
            loop {
                let n = sock.read(&mut chunk).await.unwrap();
                if n == 0 {
                    return got;
                }
                got.extend_from_slice(&chunk[..n]);
                tokio::task::yield_now().await;
            }
        });
        let socket = TcpStream::connect(addr).await.unwrap();
        send(&socket, &range).await.unwrap();
        drop(socket);
        let got = reader.await.unwrap();
        assert_eq!(got.len(), 7_000_000);
        assert!(got == data[1_234..1_234 + 7_000_000]);
    }

    /// Retention and the cleaner unlink or replace segment files while a
    /// response is in flight: the held handle still sends the bytes.
    #[tokio::test]
    async fn an_unlinked_file_still_sends_its_range() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.log");
        std::fs::write(&path, b"0123456789").unwrap();
        let range = FileRange {
            file: Arc::new(std::fs::File::open(&path).unwrap()),
            pos: 3,
            len: 5,
        };
        std::fs::remove_file(&path).unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (mut peer, _) = listener.accept().await.unwrap();
        send(&socket, &range).await.unwrap();
        drop(socket);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"34567");
    }

    #[tokio::test]
    async fn a_range_past_the_end_of_the_file_is_an_error() {
        let mut file = tempfile::tempfile().unwrap();
        std::io::Write::write_all(&mut file, b"short").unwrap();
        let range = FileRange {
            file: Arc::new(file),
            pos: 2,
            len: 10,
        };
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let socket = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let err = send(&socket, &range).await.unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::UnexpectedEof);
    }
}
