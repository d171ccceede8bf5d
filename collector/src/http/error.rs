//! Errors of the HTTP API: a status and an [`ErrorCode`], answered as the
//! contract's [`ErrorBody`], `{"error": "<message>", "code": "<name>"}`.
//!
//! Storage errors keep the Kafka error code the Kafka protocol server would
//! send ([`StorageError::kafka_code`]); [`ErrorCode::from_kafka_code`] names
//! it and gives its HTTP status, so a client sees the same error through
//! either listener.

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use kafka_protocol::error::ResponseError;
use logship_common::ingest::{ErrorBody, ErrorCode};

use crate::error::StorageError;

/// Kafka error codes the HTTP layer raises itself.
pub const INVALID_REQUEST: i16 = ResponseError::InvalidRequest.code();
pub const RECORD_LIST_TOO_LARGE: i16 = ResponseError::RecordListTooLarge.code();
pub const UNKNOWN_PRODUCER_ID: i16 = ResponseError::UnknownProducerId.code();
pub const INVALID_RECORD: i16 = ResponseError::InvalidRecord.code();
pub const CORRUPT_MESSAGE: i16 = ResponseError::CorruptMessage.code();

/// A refused request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    /// An error answered with its code's usual status.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            status: status_of(code),
            code,
            message: message.into(),
        }
    }

    /// An error named by its Kafka error code.
    pub fn kafka(code: i16, message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::from_kafka_code(code), message)
    }

    pub fn invalid_request(message: impl Into<String>) -> Self {
        ApiError::kafka(INVALID_REQUEST, message)
    }

    pub fn unsupported_media_type(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::UnsupportedMediaType, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        ApiError::new(ErrorCode::NotFound, message)
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match &e {
            // A full disk is the client's to wait out, not a server bug.
            StorageError::Io { source, .. } if source.kind() == std::io::ErrorKind::StorageFull => {
                ApiError {
                    status: StatusCode::INSUFFICIENT_STORAGE,
                    code: ErrorCode::KafkaStorageError,
                    message: e.to_string(),
                }
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
        let (status, code) = (self.status.as_u16(), self.code.as_str());
        if self.status.is_server_error() {
            tracing::warn!(status, code, error = %self.message, "http request failed");
        } else {
            tracing::debug!(status, code, error = %self.message, "http request refused");
        }
        let body = ErrorBody {
            error: self.message,
            code: self.code,
        };
        json_response(self.status, &body)
    }
}

/// A JSON body with its content type.
pub fn json_response(status: StatusCode, body: &impl serde::Serialize) -> Response {
    let text = serde_json::to_string(body).expect("contract types serialize");
    (status, [(header::CONTENT_TYPE, "application/json")], text).into_response()
}

fn status_of(code: ErrorCode) -> StatusCode {
    StatusCode::from_u16(code.status()).expect("the contract's statuses are valid")
}

/// The HTTP status and Kafka's name (lower-cased) for a Kafka error code.
pub fn kafka_status(code: i16) -> (StatusCode, &'static str) {
    let code = ErrorCode::from_kafka_code(code);
    (status_of(code), code.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use logship_common::batch::BatchError;

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
            assert_eq!(
                (api.status.as_u16(), api.code.as_str()),
                (status, code),
                "{message}"
            );
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
        assert_eq!(
            ApiError::kafka(INVALID_RECORD, "x").code.as_str(),
            "invalid_record"
        );
        assert_eq!(
            ApiError::kafka(UNKNOWN_PRODUCER_ID, "x").status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            ApiError::invalid_request("x").code.as_str(),
            "invalid_request"
        );
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
