//! Ingest request bodies: read at most `collector.http.max_body_bytes`
//! (refusing a larger declared `Content-Length` before reading anything),
//! and gzip `Content-Encoding` decoded under the same bound, so neither a
//! big upload nor a small "gzip bomb" can make the collector buffer more
//! than the limit.

use std::io::Read;
use std::pin::Pin;

use axum::body::{Body, Bytes, HttpBody};
use axum::http::{header, HeaderMap};
use flate2::read::MultiGzDecoder;

use super::error::{ApiError, CORRUPT_MESSAGE, RECORD_LIST_TOO_LARGE};

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
pub async fn read_limited(
    headers: &HeaderMap,
    mut body: Body,
    limit: usize,
) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit, "request body"));
    }
    let mut buf = Vec::with_capacity(declared.unwrap_or(0) as usize);
    while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await {
        let frame = frame
            .map_err(|e| ApiError::invalid_request(format!("reading the request body: {e}")))?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > limit {
                return Err(too_large(limit, "request body"));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}

/// Applies the content encoding. Blocking (CPU-bound for big bodies).
pub fn decode(body: Bytes, encoding: Encoding, limit: usize) -> Result<Bytes, ApiError> {
    match encoding {
        Encoding::Identity => Ok(body),
        Encoding::Gzip => gunzip(&body, limit).map(Bytes::from),
    }
}

/// Decompresses gzip (one or more concatenated members, as `cat a.gz b.gz`
/// makes), reading at most one byte past `limit` to detect an overflow.
pub fn gunzip(compressed: &[u8], limit: usize) -> Result<Vec<u8>, ApiError> {
    let mut out = Vec::new();
    MultiGzDecoder::new(compressed)
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            ApiError::kafka(
                CORRUPT_MESSAGE,
                format!("the request body is not valid gzip: {e}"),
            )
        })?;
    if out.len() > limit {
        return Err(too_large(limit, "decompressed request body"));
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

    #[tokio::test]
    async fn read_limited_refuses_declared_and_streamed_overflow() {
        let mut h = HeaderMap::new();
        let ok = read_limited(&h, Body::from(vec![1u8; 10]), 10).await;
        assert_eq!(ok.unwrap().len(), 10);
        let err = read_limited(&h, Body::from(vec![1u8; 11]), 10)
            .await
            .unwrap_err();
        assert_eq!(err.status.as_u16(), 413);
        // A declared length over the limit is refused without reading.
        h.insert(header::CONTENT_LENGTH, "11".parse().unwrap());
        let err = read_limited(&h, Body::empty(), 10).await.unwrap_err();
        assert_eq!(err.code.as_str(), "record_list_too_large");
    }
}
