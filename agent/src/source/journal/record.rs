//! A journal entry as a record. Value: `MESSAGE` exactly as the journal
//! holds it (binary and multi-line messages intact), or with `encoding:
//! json` one object with every field of the entry. Key: `_SYSTEMD_UNIT`
//! (none for entries without a unit, e.g. the kernel's). Headers: `host`
//! (the entry's `_HOSTNAME`, so a mounted remote journal keeps its
//! origin; the agent's name when absent), `unit`, `priority`, `pid`,
//! `boot_id`, `cursor` (each only when the entry has it), then the labels.
//! Timestamp: `__REALTIME_TIMESTAMP` in milliseconds.

use bytes::Bytes;
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::protocol::StrBytes;

use super::export::Entry;
use crate::batch::HeadedRecord;
use crate::config::Encoding;

/// What every record of a source carries besides its entry.
#[derive(Debug, Clone)]
pub struct RecordMeta {
    /// The agent's host name, for entries without `_HOSTNAME`.
    pub host: Bytes,
    pub labels: Vec<(StrBytes, Bytes)>,
    pub encoding: Encoding,
}

/// Entry fields that become headers, and their header names.
const HEADERS: [(&str, &[u8]); 5] = [
    ("unit", b"_SYSTEMD_UNIT"),
    ("priority", b"PRIORITY"),
    ("pid", b"_PID"),
    ("boot_id", b"_BOOT_ID"),
    ("cursor", b"__CURSOR"),
];

/// `__REALTIME_TIMESTAMP` (microseconds) in milliseconds.
pub fn timestamp_ms(e: &Entry) -> Option<i64> {
    e.text(b"__REALTIME_TIMESTAMP")
        .and_then(|t| t.parse::<i64>().ok())
        .map(|us| us / 1000)
}

pub fn build(e: &Entry, meta: &RecordMeta, now_ms: i64) -> HeadedRecord {
    let mut headers = IndexMap::with_capacity(1 + HEADERS.len() + meta.labels.len());
    headers.insert(
        StrBytes::from_static_str("host"),
        Some(e.get(b"_HOSTNAME").unwrap_or(&meta.host).clone()),
    );
    for (header, field) in HEADERS {
        if let Some(v) = e.get(field) {
            headers.insert(StrBytes::from_static_str(header), Some(v.clone()));
        }
    }
    for (k, v) in &meta.labels {
        headers.insert(k.clone(), Some(v.clone()));
    }
    let value = match meta.encoding {
        Encoding::Text => e.get(b"MESSAGE").cloned().unwrap_or_default(),
        Encoding::Json => json(e, meta),
    };
    HeadedRecord {
        key: e.get(b"_SYSTEMD_UNIT").cloned(),
        value,
        headers,
        timestamp: timestamp_ms(e).unwrap_or(now_ms),
    }
}

/// Every field: UTF-8 values as strings, others as arrays of byte values
/// (as `journalctl --output=json` writes them); a name that repeats gets an
/// array of its values. Labels are added under their names unless the
/// entry has a field of that name.
fn json(e: &Entry, meta: &RecordMeta) -> Bytes {
    use serde_json::Value;
    let mut obj = serde_json::Map::with_capacity(e.fields.len() + meta.labels.len());
    for f in &e.fields {
        let name = String::from_utf8_lossy(&f.name).into_owned();
        let value = match std::str::from_utf8(&f.value) {
            Ok(s) => Value::from(s),
            Err(_) => Value::from(f.value.to_vec()),
        };
        match obj.get_mut(&name) {
            None => {
                obj.insert(name, value);
            }
            Some(Value::Array(seen)) if seen.first().is_some_and(|v| !v.is_number()) => {
                seen.push(value)
            }
            Some(prev) => *prev = Value::Array(vec![prev.take(), value]),
        }
    }
    for (k, v) in &meta.labels {
        obj.entry(k.to_string())
            .or_insert_with(|| String::from_utf8_lossy(v).into_owned().into());
    }
    Bytes::from(serde_json::to_vec(&obj).expect("a JSON map serializes"))
}

#[cfg(test)]
mod tests {
    use super::super::export::Field;
    use super::*;

    fn entry(fields: &[(&str, &[u8])]) -> Entry {
        Entry {
            fields: fields
                .iter()
                .map(|(k, v)| Field {
                    name: Bytes::copy_from_slice(k.as_bytes()),
                    value: Bytes::copy_from_slice(v),
                })
                .collect(),
            ..Entry::default()
        }
    }

    fn meta(encoding: Encoding) -> RecordMeta {
        RecordMeta {
            host: Bytes::from_static(b"agent-host"),
            labels: vec![(
                StrBytes::from_static_str("env"),
                Bytes::from_static(b"prod"),
            )],
            encoding,
        }
    }

    fn header<'a>(r: &'a HeadedRecord, k: &'static str) -> Option<&'a [u8]> {
        r.headers
            .get(&StrBytes::from_static_str(k))
            .and_then(|v| v.as_deref())
    }

    #[test]
    fn text_records_carry_the_message_bytes_and_the_headers() {
        let e = entry(&[
            ("__CURSOR", b"s=a;i=1;t=1"),
            ("__REALTIME_TIMESTAMP", b"1700000000123456"),
            ("_SYSTEMD_UNIT", b"nginx.service"),
            ("PRIORITY", b"3"),
            ("_PID", b"42"),
            ("_BOOT_ID", b"b00"),
            ("MESSAGE", b"two\nlines \xff\x00"),
        ]);
        let r = build(&e, &meta(Encoding::Text), 5);
        assert_eq!(r.value.as_ref(), b"two\nlines \xff\x00");
        assert_eq!(r.key.as_deref(), Some(&b"nginx.service"[..]));
        assert_eq!(r.timestamp, 1_700_000_000_123);
        assert_eq!(header(&r, "host"), Some(&b"agent-host"[..]));
        assert_eq!(header(&r, "unit"), Some(&b"nginx.service"[..]));
        assert_eq!(header(&r, "priority"), Some(&b"3"[..]));
        assert_eq!(header(&r, "pid"), Some(&b"42"[..]));
        assert_eq!(header(&r, "boot_id"), Some(&b"b00"[..]));
        assert_eq!(header(&r, "cursor"), Some(&b"s=a;i=1;t=1"[..]));
        assert_eq!(header(&r, "env"), Some(&b"prod"[..]));

        let kernel = entry(&[
            ("_TRANSPORT", b"kernel"),
            ("_HOSTNAME", b"web-1"),
            ("MESSAGE", b"oops"),
        ]);
        let r = build(&kernel, &meta(Encoding::Text), 5);
        assert_eq!(r.key, None);
        assert_eq!(r.timestamp, 5, "no timestamp: now");
        assert_eq!(header(&r, "host"), Some(&b"web-1"[..]));
        assert_eq!(header(&r, "unit"), None);
    }

    #[test]
    fn json_records_hold_every_field() {
        let e = entry(&[
            ("MESSAGE", b"hi"),
            ("_UID", b"0"),
            ("BIN", b"\xff\x01"),
            ("TAG", b"a"),
            ("TAG", b"b"),
            ("TAG", b"c"),
            ("env", b"from-entry"),
        ]);
        let r = build(&e, &meta(Encoding::Json), 0);
        let v: serde_json::Value = serde_json::from_slice(&r.value).unwrap();
        assert_eq!(v["MESSAGE"], "hi");
        assert_eq!(v["_UID"], "0");
        assert_eq!(v["BIN"], serde_json::json!([255, 1]));
        assert_eq!(v["TAG"], serde_json::json!(["a", "b", "c"]));
        assert_eq!(v["env"], "from-entry", "the entry's own field wins");
    }
}
