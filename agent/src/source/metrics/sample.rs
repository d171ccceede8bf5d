//! One metric sample and its record encoding (docs/design.md, "Records"): the
//! value is one JSON object `{name, labels, value, type, timestamp}` and the
//! key is the series identity `name{label="value",...}`, so every sample of
//! a series lands on the same partition.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize, Serializer};

/// One sample of one series at one instant.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// The series name as exposed, e.g. `http_request_duration_seconds_bucket`
    /// (a histogram's or summary's series keep their suffixes).
    pub name: String,
    /// Sorted by name, so the key and the JSON object are canonical.
    pub labels: BTreeMap<String, String>,
    pub value: f64,
    /// The type of the metric family the series belongs to.
    pub kind: Kind,
    /// Milliseconds since the Unix epoch.
    pub timestamp_ms: i64,
}

/// The type of the metric family a sample belongs to. Serialized in
/// lowercase (`"counter"`, ...), which is also how the `type` field of the
/// record reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
    Summary,
    /// No `# TYPE` line, or `untyped` / OpenMetrics `unknown`.
    Untyped,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::Summary => "summary",
            Kind::Untyped => "untyped",
        }
    }
}

impl Sample {
    /// The record value: exactly
    /// `{"name":"..","labels":{..},"value":..,"type":"..","timestamp":<ms>}`.
    ///
    /// JSON has no NaN or infinities, so a non-finite value is written as
    /// the *string* `"NaN"`, `"+Inf"` or `"-Inf"` (the spellings of the
    /// Prometheus text format); every finite value is a JSON number.
    /// Consumers must therefore accept a number or one of those three
    /// strings in `value`.
    pub fn to_json(&self) -> Vec<u8> {
        let record = Record {
            name: &self.name,
            labels: &self.labels,
            value: JsonValue(self.value),
            kind: self.kind,
            timestamp: self.timestamp_ms,
        };
        // Serializing strings, a string map, numbers and an enum to a Vec
        // cannot fail.
        serde_json::to_vec(&record).expect("a sample always serializes")
    }

    /// The record key used for partitioning: the name followed by the
    /// sorted labels, `name{a="1",b="2"}`, label values escaped as in the
    /// text format (`\\`, `\"`, `\n`) so distinct series have distinct
    /// keys. A sample without labels has just its name as key.
    pub fn key(&self) -> Vec<u8> {
        let mut key = self.name.clone();
        if !self.labels.is_empty() {
            key.push('{');
            for (i, (name, value)) in self.labels.iter().enumerate() {
                if i > 0 {
                    key.push(',');
                }
                let _ = write!(key, "{name}=\"");
                escape_label_value(&mut key, value);
                key.push('"');
            }
            key.push('}');
        }
        key.into_bytes()
    }
}

/// Appends `value` escaped as a text-format label value (without quotes).
pub(crate) fn escape_label_value(out: &mut String, value: &str) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// Field order is the documented order of the record.
#[derive(Serialize)]
struct Record<'a> {
    name: &'a str,
    labels: &'a BTreeMap<String, String>,
    value: JsonValue,
    #[serde(rename = "type")]
    kind: Kind,
    timestamp: i64,
}

struct JsonValue(f64);

impl Serialize for JsonValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let v = self.0;
        if v.is_nan() {
            s.serialize_str("NaN")
        } else if v == f64::INFINITY {
            s.serialize_str("+Inf")
        } else if v == f64::NEG_INFINITY {
            s.serialize_str("-Inf")
        } else {
            s.serialize_f64(v)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(value: f64) -> Sample {
        Sample {
            name: "http_requests_total".into(),
            labels: BTreeMap::from([
                ("method".to_string(), "GET".to_string()),
                ("code".to_string(), "200".to_string()),
            ]),
            value,
            kind: Kind::Counter,
            timestamp_ms: 1_700_000_000_123,
        }
    }

    #[test]
    fn json_has_the_documented_shape_and_order() {
        let json = String::from_utf8(sample(1027.0).to_json()).unwrap();
        assert_eq!(
            json,
            r#"{"name":"http_requests_total","labels":{"code":"200","method":"GET"},"value":1027.0,"type":"counter","timestamp":1700000000123}"#
        );
    }

    #[test]
    fn non_finite_values_are_strings() {
        for (v, s) in [
            (f64::NAN, "NaN"),
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
        ] {
            let parsed: serde_json::Value = serde_json::from_slice(&sample(v).to_json()).unwrap();
            assert_eq!(parsed["value"], serde_json::Value::String(s.into()));
        }
        let parsed: serde_json::Value = serde_json::from_slice(&sample(-0.5).to_json()).unwrap();
        assert_eq!(parsed["value"].as_f64(), Some(-0.5));
    }

    #[test]
    fn json_escapes_names_and_labels() {
        let mut s = sample(1.0);
        s.labels.insert("path".into(), "/a\"b\\c\nd\u{1}é".into());
        let parsed: serde_json::Value = serde_json::from_slice(&s.to_json()).unwrap();
        assert_eq!(parsed["labels"]["path"], "/a\"b\\c\nd\u{1}é");
        assert_eq!(parsed["type"], "counter");
        assert_eq!(parsed["timestamp"], 1_700_000_000_123_i64);
    }

    #[test]
    fn kind_serializes_lowercase() {
        for kind in [
            Kind::Counter,
            Kind::Gauge,
            Kind::Histogram,
            Kind::Summary,
            Kind::Untyped,
        ] {
            assert_eq!(
                serde_json::to_string(&kind).unwrap(),
                format!("\"{}\"", kind.as_str())
            );
        }
    }

    #[test]
    fn key_is_name_and_sorted_escaped_labels() {
        let mut s = sample(1.0);
        assert_eq!(s.key(), br#"http_requests_total{code="200",method="GET"}"#);
        s.labels.insert("x".into(), "a\"b\\\n".into());
        assert_eq!(
            s.key(),
            br#"http_requests_total{code="200",method="GET",x="a\"b\\\n"}"#
        );
        s.labels.clear();
        assert_eq!(s.key(), b"http_requests_total");
    }
}
