//! Ingest request bodies: read at most `collector.http.max_body_bytes`
//! (refusing a larger declared `Content-Length` before reading anything),
//! and gzip `Content-Encoding` decoded under the same bound, so neither a
//! big upload nor a small "gzip bomb" can make the collector buffer more
//! than the limit. Every buffered byte (body and decompressed output) is
//! first reserved from the shared [`MemoryBudget`](super::budget), which
//! bounds what all requests together hold.

use std::io::Read;
use std::pin::Pin;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{header, HeaderMap};
use flate2::read::MultiGzDecoder;

use super::budget::Reservation;
use super::error::{ApiError, CORRUPT_MESSAGE, RECORD_LIST_TOO_LARGE};

/// Reservations grow by at least this much when the size is not known.
const STEP: usize = 256 << 10;

/// The body's `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

impl Encoding {
    /// Reads `Content-Encoding`: absent or `identity`, or `gzip` (alias
    /// `x-gzip`); anything else is 415.
    pub fn from_headers(headers: &HeaderMap) -> Result<Encoding, ApiError> {
        let Some(value) = headers.get(header::CONTENT_ENCODING) else {
            return Ok(Encoding::Identity);
        };
        let text = value.to_str().unwrap_or("").trim().to_ascii_lowercase();
        match text.as_str() {
            "" | "identity" => Ok(Encoding::Identity),
            "gzip" | "x-gzip" => Ok(Encoding::Gzip),
            _ => Err(ApiError::unsupported_media_type(format!(
                "unsupported Content-Encoding {text:?}; send gzip or no Content-Encoding"
            ))),
        }
    }
}

fn too_large(limit: usize, what: &str) -> ApiError {
    ApiError::kafka(
        RECORD_LIST_TOO_LARGE,
        format!("{what} exceeds collector.http.max_body_bytes ({limit} bytes)"),
    )
}

/// Reads the whole body, refusing it once it passes `limit` bytes. A
/// `Content-Length` above the limit is refused before reading any of it.
/// The bytes are reserved in `memory` first: a declared length waits for
/// its reservation before reading; an undeclared one grows it as it comes
/// (waiting only while it holds nothing).
pub async fn read_limited(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
    memory: &mut Reservation,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit, "request body"));
    }
    if let Some(n) = declared {
        memory.grow(n as usize).await?;
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame
            .map_err(|e| ApiError::invalid_request(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(too_large(limit, "request body"));
            }
            let needed = buf.len() + data.len();
            if needed > memory.bytes() {
                let more = (needed - memory.bytes())
                    .max(STEP)
                    .min(limit - memory.bytes());
                if memory.bytes() == 0 {
                    memory.grow(more).await?;
                } else {
                    memory.try_grow(more)?;
                }
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// Applies the content encoding. Blocking (CPU-bound for big bodies).
pub fn decode(
    body: Bytes,
    encoding: Encoding,
    limit: usize,
    memory: &mut Reservation,
) -> Result<Bytes, ApiError> {
    match encoding {
        Encoding::Identity => Ok(body),
        Encoding::Gzip => {
            gunzip_reserved(&body, limit, &mut |n| memory.try_grow(n)).map(Bytes::from)
        }
    }
}

/// Decompresses gzip (one or more concatenated members, as `cat a.gz b.gz`
/// makes), reading at most one byte past `limit` to detect an overflow.
pub fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    gunzip_reserved(compressed, limit, &mut |_| Ok(()))
}

/// [`gunzip`], calling `reserve(n)` before the output buffer grows by `n`
/// bytes (so the budget counts its capacity, not just its length).
fn gunzip_reserved(
    compressed: &[u8],
    limit: usize,
    reserve: &mut dyn FnMut(usize) -> Result<(), ApiError>,
) -> Result<Vec<u8>, ApiError> {
    let corrupt = |e: std::io::Error| {
        ApiError::kafka(
            CORRUPT_MESSAGE,
            format!("the request body is not valid gzip: {e}"),
        )
    };
    let mut decoder = MultiGzDecoder::new(compressed).take(limit as u64 + 1);
    let mut out: Vec<u8> = Vec::new();
    // A gzip member ends with its uncompressed size (mod 2^32): a hint, as
    // the sender chose it, but honest for the usual one-member body. One
    // allocation of the right size spares the reallocations (and the
    // allocator's cached copies) of growing by doubling.
    if let Some(tail) = compressed.len().checked_sub(4).map(|at| &compressed[at..]) {
        let hint = u32::from_le_bytes(tail.try_into().expect("4 bytes")) as usize;
        let first = hint.min(limit);
        if first > 0 && compressed.len() >= 18 {
            reserve(first)?;
            out.reserve_exact(first);
        }
    }
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        let n = match decoder.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(corrupt(e)),
        };
        if out.len() + n > limit {
            return Err(too_large(limit, "decompressed request body"));
        }
        if out.len() + n > out.capacity() {
            // Doubling, as Vec would, but reserved first and never past the limit.
            let target = (out.capacity() * 2).max(STEP).max(out.len() + n).min(limit);
            reserve(target - out.capacity())?;
            out.reserve_exact(target - out.len());
        }
        out.extend_from_slice(&chunk[..n]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn gunzip_round_trips_and_accepts_concatenated_members() {
        assert_eq!(gunzip(&gzip(b"{\"a\":1}\n"), 100).unwrap(), b"{\"a\":1}\n");
        let mut two = gzip(b"1\n");
        two.extend(gzip(b"2\n"));
        assert_eq!(gunzip(&two, 100).unwrap(), b"1\n2\n");
    }

    #[test]
    fn gunzip_bounds_the_decompressed_size() {
        // 1 MiB of zeros compresses to about 1 KiB: the bound is on the output.
        let bomb = gzip(&vec![0u8; 1 << 20]);
        assert!(bomb.len() < 4096);
        let err = gunzip(&bomb, 1000).unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code.as_str()),
            (413, "record_list_too_large")
        );
        assert!(err.message.contains("decompressed"), "{}", err.message);
        // Exactly at the limit is fine.
        assert_eq!(gunzip(&gzip(&[7u8; 1000]), 1000).unwrap().len(), 1000);
    }

    #[test]
    fn corrupt_gzip_is_a_client_error() {
        let mut bad = gzip(b"hello\n");
        let mid = bad.len() / 2;
        bad[mid] ^= 0xff;
        for body in [&bad[..], b"not gzip at all", &gzip(b"hello\n")[..10]] {
            let err = gunzip(body, 1 << 20).unwrap_err();
            assert_eq!(
                (err.status.as_u16(), err.code.as_str()),
                (400, "corrupt_message")
            );
        }
    }

    #[test]
    fn content_encoding_header() {
        let mut h = HeaderMap::new();
        assert_eq!(Encoding::from_headers(&h), Ok(Encoding::Identity));
        h.insert(header::CONTENT_ENCODING, "GZIP".parse().unwrap());
        assert_eq!(Encoding::from_headers(&h), Ok(Encoding::Gzip));
        h.insert(header::CONTENT_ENCODING, "br".parse().unwrap());
        assert_eq!(Encoding::from_headers(&h).unwrap_err().status.as_u16(), 415);
    }

    fn budget(total: usize) -> super::super::budget::MemoryBudget {
        super::super::budget::MemoryBudget::new(
            total,
            std::time::Duration::from_millis(100),
            prometheus::IntGauge::new("g", "g").unwrap(),
            prometheus::IntCounter::new("c", "c").unwrap(),
        )
    }

    #[tokio::test]
    async fn read_limited_refuses_declared_and_streamed_overflow() {
        let b = budget(1 << 20);
        let mut h = HeaderMap::new();
        let ok = read_limited(&h, Body::from(vec![1u8; 10]), 10, &mut b.empty()).await;
        assert_eq!(ok.unwrap().len(), 10);
        let err = read_limited(&h, Body::from(vec![1u8; 11]), 10, &mut b.empty())
            .await
            .unwrap_err();
        assert_eq!(err.status.as_u16(), 413);
        // A declared length over the limit is refused without reading.
        h.insert(header::CONTENT_LENGTH, "11".parse().unwrap());
        let err = read_limited(&h, Body::empty(), 10, &mut b.empty())
            .await
            .unwrap_err();
        assert_eq!(err.code.as_str(), "record_list_too_large");
    }

    #[tokio::test]
    async fn bodies_and_their_decompressed_output_are_reserved() {
        let b = budget(3 << 20);
        let mut h = HeaderMap::new();
        let compressed = gzip(&vec![0u8; 2 << 20]);
        h.insert(header::CONTENT_LENGTH, compressed.len().into());
        let mut memory = b.empty();
        let body = read_limited(&h, Body::from(compressed.clone()), 4 << 20, &mut memory)
            .await
            .unwrap();
        assert_eq!(memory.bytes(), compressed.len());
        let out = decode(body, Encoding::Gzip, 4 << 20, &mut memory).unwrap();
        assert_eq!(out.len(), 2 << 20);
        assert!(memory.bytes() >= compressed.len() + (2 << 20));
        // A second bomb does not fit beside the first: 503, not a buffer.
        let mut other = b.empty();
        let err = decode(Bytes::from(compressed), Encoding::Gzip, 4 << 20, &mut other).unwrap_err();
        assert_eq!((err.status.as_u16(), err.code.as_str()), (503, "busy"));
        drop(memory);
        drop(other);
        assert_eq!(b.empty().bytes(), 0);
    }
}
