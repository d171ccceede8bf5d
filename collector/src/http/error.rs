//! Errors of the HTTP API: a status, a Kafka-style error name and a message,
//! answered as `{"error": "<message>", "code": "<name>"}`.
//!
//! Storage errors keep the Kafka error code the Kafka protocol server would
//! send ([`StorageError::kafka_code`]); [`kafka_status`] maps each code to an
//! HTTP status and Kafka's own name for it, lower-cased, so a client sees
//! the same error through either listener.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::error::StorageError;

/// Kafka error codes the HTTP layer raises itself.
pub const INVALID_REQUEST: i16 = 42;
pub const RECORD_LIST_TOO_LARGE: i16 = 18;
pub const UNKNOWN_PRODUCER_ID: i16 = 59;
pub const INVALID_RECORD: i16 = 87;
pub const CORRUPT_MESSAGE: i16 = 2;

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// An error named by its Kafka error code.
    pub fn kafka(code: i16, message: impl Into<String>) -> Self {
        let (status, name) = kafka_status(code);
        ApiError::new(status, name, message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        ApiError::kafka(INVALID_REQUEST, message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            message,
        )
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match &e {
            // A full disk is the client's to wait out, not a server bug.
            StorageError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                ApiError::new(
                    StatusCode::INSUFFICIENT_STORAGE,
                    "kafka_storage_error",
                    e.to_string(),
                )
            }
            // `Storage::topic` reports partition -1 for a missing topic.
            StorageError::UnknownTopicOrPartition {
                topic,
                partition: -1,
            } => ApiError::kafka(e.kafka_code(), format!("unknown topic {topic}")),
            _ => ApiError::kafka(e.kafka_code(), e.to_string()),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::warn!(status = self.status.as_u16(), code = self.code, error = %self.message, "http request failed");
        } else {
            tracing::debug!(status = self.status.as_u16(), code = self.code, error = %self.message, "http request refused");
        }
        let body = serde_json::json!({ "error": self.message, "code": self.code });
        json_response(self.status, &body)
    }
}

/// A JSON body with its content type.
pub fn json_response(status: StatusCode, body: &serde_json::Value) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The HTTP status and Kafka's name (lower-cased) for a Kafka error code.
/// Client mistakes are 4xx; a conflict with the producer state the
/// collector holds is 409; storage failures are 5xx.
pub fn kafka_status(code: i16) -> (StatusCode, &'static str) {
    match code {
        1 => (StatusCode::BAD_REQUEST, "offset_out_of_range"),
        2 => (StatusCode::BAD_REQUEST, "corrupt_message"),
        3 => (StatusCode::NOT_FOUND, "unknown_topic_or_partition"),
        10 => (StatusCode::PAYLOAD_TOO_LARGE, "message_too_large"),
        17 => (StatusCode::BAD_REQUEST, "invalid_topic_exception"),
        18 => (StatusCode::PAYLOAD_TOO_LARGE, "record_list_too_large"),
        36 => (StatusCode::CONFLICT, "topic_already_exists"),
        37 => (StatusCode::BAD_REQUEST, "invalid_partitions"),
        40 => (StatusCode::BAD_REQUEST, "invalid_config"),
        42 => (StatusCode::BAD_REQUEST, "invalid_request"),
        45 => (StatusCode::CONFLICT, "out_of_order_sequence_number"),
        47 => (StatusCode::CONFLICT, "invalid_producer_epoch"),
        56 => (StatusCode::INTERNAL_SERVER_ERROR, "kafka_storage_error"),
        59 => (StatusCode::NOT_FOUND, "unknown_producer_id"),
        87 => (StatusCode::BAD_REQUEST, "invalid_record"),
        _ => (StatusCode::INTERNAL_SERVER_ERROR, "unknown_server_error"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::batch::BatchError;

    fn tp() -> (String, i32) {
        ("logs".to_owned(), 0)
    }

    #[test]
    fn storage_errors_map_to_statuses_and_kafka_names() {
        let (topic, partition) = tp();
        let cases = [
            (
                StorageError::CorruptBatch {
                    topic: topic.clone(),
                    partition,
                    reason: BatchError::CrcMismatch {
                        stored: 1,
                        computed: 2,
                    },
                },
                400,
                "corrupt_message",
            ),
            (
                StorageError::OutOfOrderSequence {
                    topic: topic.clone(),
                    partition,
                    reason: "gap".into(),
                },
                409,
                "out_of_order_sequence_number",
            ),
            (
                StorageError::InvalidProducerEpoch {
                    topic: topic.clone(),
                    partition,
                    reason: "old".into(),
                },
                409,
                "invalid_producer_epoch",
            ),
            (
                StorageError::UnknownTopicOrPartition {
                    topic: topic.clone(),
                    partition: 7,
                },
                404,
                "unknown_topic_or_partition",
            ),
            (
                StorageError::BatchTooLarge {
                    topic: topic.clone(),
                    partition,
                    size: 10,
                    max: 5,
                },
                413,
                "message_too_large",
            ),
            (
                StorageError::InvalidTopic {
                    name: "a/b".into(),
                    reason: "bad",
                },
                400,
                "invalid_topic_exception",
            ),
            (
                StorageError::PartitionOffline {
                    topic: topic.clone(),
                    partition,
                },
                500,
                "kafka_storage_error",
            ),
            (
                StorageError::io("/x", std::io::Error::other("boom")),
                500,
                "kafka_storage_error",
            ),
            (
                StorageError::io("/x", std::io::Error::from_raw_os_error(28)), // ENOSPC
                507,
                "kafka_storage_error",
            ),
        ];
        for (e, status, code) in cases {
            let message = e.to_string();
            let api = ApiError::from(e);
            assert_eq!((api.status.as_u16(), api.code), (status, code), "{message}");
            assert_eq!(api.message, message);
        }
    }

    #[test]
    fn unknown_topic_message_names_the_topic_only() {
        let api = ApiError::from(StorageError::UnknownTopicOrPartition {
            topic: "nope".into(),
            partition: -1,
        });
        assert_eq!(api.status, StatusCode::NOT_FOUND);
        assert_eq!(api.message, "unknown topic nope");
    }

    #[test]
    fn http_raised_codes() {
        assert_eq!(
            ApiError::kafka(RECORD_LIST_TOO_LARGE, "x").status,
            StatusCode::PAYLOAD_TOO_LARGE
        );
        assert_eq!(ApiError::kafka(INVALID_RECORD, "x").code, "invalid_record");
        assert_eq!(
            ApiError::kafka(UNKNOWN_PRODUCER_ID, "x").status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(ApiError::invalid_request("x").code, "invalid_request");
        assert_eq!(ApiError::unsupported_media_type("x").status.as_u16(), 415);
        assert_eq!(kafka_status(-1).1, "unknown_server_error");
    }

    #[tokio::test]
    async fn error_body_is_json_with_error_and_code() {
        let resp = ApiError::kafka(INVALID_RECORD, "line 2 is not JSON").into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let body = axum::body::to_bytes(resp.into_body(), 1 << 20)
            .await
            .unwrap();
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"error": "line 2 is not JSON", "code": "invalid_record"})
        );
    }
}
