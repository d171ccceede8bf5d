//! NDJSON ingest (`application/x-ndjson`, for curl users): one record per
//! non-blank line, the line's bytes as the value (without `\n` or a
//! trailing `\r`), no key, the request's arrival time as timestamp.
//!
//! Every line is validated before anything is encoded, so one bad line
//! refuses the whole request. The records are encoded as uncompressed
//! RecordBatch v2 and appended like any producer's batches. A body is split
//! into as many batches as the partition's `max.message.bytes` requires
//! (one batch for the usual small request), so a body under
//! `max_body_bytes` is not refused for being one oversized batch.

use axum::body::Bytes;
use kafka_protocol::records::Compression;

use super::error::{ApiError, INVALID_RECORD};
use crate::storage::batch::{self, NewRecord};

/// Most bytes an uncompressed record takes beyond its value: length (5),
/// attributes (1), timestamp delta (1: every record has the same
/// timestamp, but allow 10), offset delta (5), key length (1), value
/// length (5), header count (1).
const RECORD_OVERHEAD: usize = 28;

/// Memory that parsing and encoding `body` takes beyond the body itself:
/// per line a value slice and a record, plus the encoded batches (the
/// body again, plus per-record framing). Short lines make this many times
/// the body ("1\n" costs over 100 bytes), so ingest reserves it from the
/// memory budget before parsing.
pub fn memory_needed(body: &[u8]) -> usize {
    let lines = count_newlines(body) + 1;
    let per_line =
        std::mem::size_of::<Bytes>() + std::mem::size_of::<NewRecord>() + RECORD_OVERHEAD;
    lines.saturating_mul(per_line).saturating_add(body.len())
}

fn count_newlines(body: &[u8]) -> usize {
    body.iter().filter(|&&b| b == b'\n').count()
}

/// The record values of an NDJSON body, as slices of it. Blank lines are
/// skipped; any other line must be one JSON value (UTF-8). Errors name the
/// 1-based line number.
pub fn values(body: &Bytes) -> Result<Vec<Bytes>, ApiError> {
    let mut out = Vec::new();
    let mut start = 0;
    for (i, raw) in body.split(|&b| b == b'\n').enumerate() {
        let end = start + raw.len();
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let value = body.slice(start..start + line.len());
        start = end + 1;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        check_line(line).map_err(|why| {
            ApiError::kafka(
                INVALID_RECORD,
                format!("line {} is not valid JSON: {why}", i + 1),
            )
        })?;
        out.push(value);
    }
    if out.is_empty() {
        return Err(ApiError::kafka(
            INVALID_RECORD,
            "the body has no records (no non-blank lines)",
        ));
    }
    Ok(out)
}

/// Checks that `line` is exactly one JSON value. serde_json does not check
/// UTF-8 inside strings it skips, so that is checked first.
fn check_line(line: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(line).map_err(|e| format!("invalid UTF-8 ({e})"))?;
    serde_json::from_str::<serde::de::IgnoredAny>(text)
        .map(|_| ())
        .map_err(|e| {
            // serde_json ends its message with "at line 1 column N"; the
            // line is ours to name, so keep only the column.
            let text = e.to_string();
            let reason = text.rsplit_once(" at line ").map_or(&*text, |(r, _)| r);
            format!("{reason} at column {}", e.column())
        })
}

/// Encodes `values` as uncompressed RecordBatch v2 frames, concatenated,
/// each at most `max_batch_bytes` unless a single record alone is larger
/// (the append then refuses it as too large).
pub fn encode(values: Vec<Bytes>, timestamp: i64, max_batch_bytes: usize) -> Vec<u8> {
    let records: Vec<NewRecord> = values
        .into_iter()
        .map(|value| NewRecord {
            key: None,
            value: Some(value),
            timestamp,
        })
        .collect();
    let budget = max_batch_bytes.saturating_sub(batch::HEADER_LEN);
    let mut out = Vec::new();
    let (mut first, mut size) = (0, 0);
    for (i, r) in records.iter().enumerate() {
        let len = r.value.as_ref().map_or(0, Bytes::len) + RECORD_OVERHEAD;
        if i > first && size + len > budget {
            out.extend(batch::encode(&records[first..i], None, Compression::None));
            (first, size) = (i, 0);
        }
        size += len;
    }
    if first < records.len() {
        out.extend(batch::encode(&records[first..], None, Compression::None));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::records::RecordBatchDecoder;

    fn lines(body: &str) -> Result<Vec<String>, ApiError> {
        values(&Bytes::copy_from_slice(body.as_bytes())).map(|v| {
            v.iter()
                .map(|b| String::from_utf8(b.to_vec()).unwrap())
                .collect()
        })
    }

    #[test]
    fn splits_lines_strips_cr_and_skips_blank_lines() {
        assert_eq!(
            lines("{\"a\":1}\n\n[1, 2]\r\n  \n\"s\"").unwrap(),
            ["{\"a\":1}", "[1, 2]", "\"s\""]
        );
        // Values keep their bytes exactly, inner spaces included.
        assert_eq!(lines(" {\"a\" : 1} \n").unwrap(), [" {\"a\" : 1} "]);
        assert_eq!(lines("1\n2\n").unwrap(), ["1", "2"]);
    }

    #[test]
    fn bad_lines_are_refused_with_their_line_number() {
        let err = lines("{\"ok\":1}\n\n{\"bad\":}\n{\"ok\":2}\n").unwrap_err();
        assert_eq!(
            (err.status.as_u16(), err.code.as_str()),
            (400, "invalid_record")
        );
        assert!(
            err.message.starts_with("line 3 is not valid JSON"),
            "{}",
            err.message
        );
        assert!(err.message.contains("column"), "{}", err.message);
        assert!(lines("1 2\n").unwrap_err().message.contains("line 1"));
        assert!(lines("{\"a\":1}{\"b\":2}").is_err());
        assert!(lines("plain text log line").is_err());
        let bad_utf8 = Bytes::from_static(b"\"\xff\"\n");
        assert!(values(&bad_utf8).unwrap_err().message.contains("UTF-8"));
    }

    #[test]
    fn an_empty_body_has_no_records() {
        for body in ["", "\n", "\r\n \n"] {
            assert_eq!(lines(body).unwrap_err().code.as_str(), "invalid_record");
        }
    }

    fn decoded(buf: &[u8]) -> Vec<(i64, Vec<u8>)> {
        let mut bytes = Bytes::copy_from_slice(buf);
        let mut out = Vec::new();
        while !bytes.is_empty() {
            let set = RecordBatchDecoder::decode(&mut bytes).unwrap();
            for r in set.records {
                out.push((r.timestamp, r.value.unwrap().to_vec()));
            }
        }
        out
    }

    #[test]
    fn encodes_valid_batches_byte_exact() {
        let vals: Vec<Bytes> = ["{\"a\":1}", "[]", "\"x\""]
            .iter()
            .map(|s| Bytes::from_static(s.as_bytes()))
            .collect();
        let buf = encode(vals.clone(), 1234, 1 << 20);
        let headers = batch::validate_incoming(&buf).unwrap();
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].record_count, 3);
        assert_eq!(headers[0].compression(), 0);
        let got = decoded(&buf);
        assert_eq!(got.len(), 3);
        for ((ts, v), want) in got.iter().zip(&vals) {
            assert_eq!((*ts, &v[..]), (1234, &want[..]));
        }
    }

    #[test]
    fn splits_into_batches_under_max_batch_bytes() {
        let vals: Vec<Bytes> = (0..500)
            .map(|i| Bytes::from(format!("{{\"n\":{i},\"pad\":\"{}\"}}", "x".repeat(i % 50))))
            .collect();
        let max = 2000;
        let buf = encode(vals.clone(), 0, max);
        let headers = batch::validate_incoming(&buf).unwrap();
        assert!(headers.len() > 5, "{} batches", headers.len());
        assert!(headers.iter().all(|h| h.total_len() <= max));
        let got: Vec<Vec<u8>> = decoded(&buf).into_iter().map(|(_, v)| v).collect();
        let want: Vec<Vec<u8>> = vals.iter().map(|v| v.to_vec()).collect();
        assert_eq!(got, want);
        // A record bigger than the budget still gets a batch of its own.
        let big = encode(vec![Bytes::from(vec![b'1'; 5000])], 0, max);
        assert_eq!(batch::validate_incoming(&big).unwrap().len(), 1);
    }
}
