//! ApiVersions: which APIs and versions the collector serves.

use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use kafka_protocol::ResponseError;

use super::{encode_response, Outcome, SERVED};
use crate::broker::Broker;

fn api_keys() -> Vec<ApiVersion> {
    SERVED
        .iter()
        .map(|api| {
            ApiVersion::default()
                .with_api_key(api.key as i16)
                .with_min_version(api.versions.0)
                .with_max_version(api.versions.1)
        })
        .collect()
}

/// v3 validates the client's software name and version as Kafka does.
fn valid_software_field(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || *c == b'-' || *c == b'.')
}

pub fn handle(_broker: &Broker, req: ApiVersionsRequest, version: i16) -> ApiVersionsResponse {
    // No supported/finalized features: librdkafka < 2.2 mis-skips non-empty
    // tagged fields in this response (docs/kafka-compatibility.md).
    let mut resp = ApiVersionsResponse::default().with_api_keys(api_keys());
    if version >= 3
        && !(valid_software_field(&req.client_software_name)
            && valid_software_field(&req.client_software_version))
    {
        resp.error_code = ResponseError::InvalidRequest.code();
    }
    resp
}

/// The answer to an ApiVersions version we do not serve: a v0 body with
/// UNSUPPORTED_VERSION and our ranges, so the client retries with one.
pub fn unsupported_version(correlation_id: i32) -> Outcome {
    let resp = ApiVersionsResponse::default()
        .with_error_code(ResponseError::UnsupportedVersion.code())
        .with_api_keys(api_keys());
    match encode_response(correlation_id, 0, &resp) {
        Ok(buf) => Outcome::Respond(buf),
        Err(e) => Outcome::Close(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn software_names_follow_kafkas_pattern() {
        for ok in [
            "librdkafka",
            "confluent-kafka-python",
            "2.16.0",
            "a",
            "kafka-python.3",
        ] {
            assert!(valid_software_field(ok), "{ok}");
        }
        for bad in ["", "-x", "x-", "has space", "é"] {
            assert!(!valid_software_field(bad), "{bad}");
        }
    }

    #[test]
    fn unsupported_version_answer_is_a_v0_body_without_tagged_fields() {
        let Outcome::Respond(buf) = unsupported_version(7) else {
            panic!()
        };
        // length, correlation id, error code 35, array of N entries of 6 bytes.
        assert_eq!(&buf[4..8], &7i32.to_be_bytes());
        assert_eq!(&buf[8..10], &35i16.to_be_bytes());
        let n = i32::from_be_bytes(buf[10..14].try_into().unwrap()) as usize;
        assert_eq!(n, SERVED.len());
        assert_eq!(buf.len(), 14 + 6 * n);
    }
}
