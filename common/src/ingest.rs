//! The HTTP ingest contract between the agent's collector sink and the
//! collector's HTTP API (docs/http-api.md): content types, the JSON bodies
//! of each answer, and the error body with its closed set of codes. The
//! collector serializes these types and the agent deserializes the same
//! ones, so a change to either side is a change here.
//!
//! Error codes are Kafka's error names, lower-cased, so a client sees the
//! same error through the HTTP and the Kafka listener; [`ErrorCode::status`]
//! gives each its HTTP status: client mistakes 4xx, a conflict with the
//! producer state the collector holds 409, storage failures 5xx.

use kafka_protocol::error::ResponseError;
use serde::{Deserialize, Serialize};

/// `Content-Type` of a body of RecordBatch v2 frames (what the agent sends).
pub const RECORD_BATCH: &str = "application/vnd.kafka.record-batch.v2";
/// `Content-Type` of a body of one JSON value per line.
pub const NDJSON: &str = "application/x-ndjson";

/// `POST /v1/topics/{topic}/records`: where the records landed, once durable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Appended {
    pub topic: String,
    pub partition: i32,
    pub base_offset: i64,
    pub last_offset: i64,
    /// Records made from NDJSON lines; absent for record batches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub records: Option<u64>,
}

/// `GET /v1/topics/{topic}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicInfo {
    pub name: String,
    pub partitions: i32,
}

/// `GET /v1/topics/{topic}/partitions/{p}/producers/{producer_id}`: the
/// epoch and last sequence the partition holds for a producer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerState {
    pub producer_id: i64,
    pub epoch: i16,
    pub last_sequence: i32,
}

/// `POST /v1/producer-ids`: a fresh producer id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewProducerId {
    pub producer_id: i64,
    pub epoch: i16,
}

/// Every refusal's body: `{"error": "<message>", "code": "<name>"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    pub code: ErrorCode,
}

/// What went wrong, as the `code` of an [`ErrorBody`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    OffsetOutOfRange,
    CorruptMessage,
    UnknownTopicOrPartition,
    MessageTooLarge,
    InvalidTopicException,
    RecordListTooLarge,
    TopicAlreadyExists,
    InvalidPartitions,
    InvalidConfig,
    InvalidRequest,
    OutOfOrderSequenceNumber,
    InvalidProducerEpoch,
    KafkaStorageError,
    UnknownProducerId,
    InvalidRecord,
    /// The principal may not write (or read about) this topic: 403.
    TopicAuthorizationFailed,
    /// The principal may not do this on the cluster (get a producer id): 403.
    ClusterAuthorizationFailed,
    /// Any Kafka error without a name of its own here.
    UnknownServerError,
    // HTTP's own, with no Kafka error code.
    UnsupportedMediaType,
    NotFound,
    MethodNotAllowed,
    /// The collector's ingest memory budget (`max_inflight_bytes`) is in
    /// use by other requests: retry later.
    Busy,
    /// No valid credentials (bearer token or client certificate): 401,
    /// with `WWW-Authenticate`.
    Unauthenticated,
}

impl ErrorCode {
    /// Every code, for tests and documentation.
    pub const ALL: [ErrorCode; 23] = [
        ErrorCode::OffsetOutOfRange,
        ErrorCode::CorruptMessage,
        ErrorCode::UnknownTopicOrPartition,
        ErrorCode::MessageTooLarge,
        ErrorCode::InvalidTopicException,
        ErrorCode::RecordListTooLarge,
        ErrorCode::TopicAlreadyExists,
        ErrorCode::InvalidPartitions,
        ErrorCode::InvalidConfig,
        ErrorCode::InvalidRequest,
        ErrorCode::OutOfOrderSequenceNumber,
        ErrorCode::InvalidProducerEpoch,
        ErrorCode::KafkaStorageError,
        ErrorCode::UnknownProducerId,
        ErrorCode::InvalidRecord,
        ErrorCode::TopicAuthorizationFailed,
        ErrorCode::ClusterAuthorizationFailed,
        ErrorCode::UnknownServerError,
        ErrorCode::UnsupportedMediaType,
        ErrorCode::NotFound,
        ErrorCode::MethodNotAllowed,
        ErrorCode::Busy,
        ErrorCode::Unauthenticated,
    ];

    /// The code for a Kafka error; errors not named here are
    /// [`ErrorCode::UnknownServerError`].
    pub fn from_kafka(error: ResponseError) -> ErrorCode {
        use ResponseError as K;
        match error {
            K::OffsetOutOfRange => ErrorCode::OffsetOutOfRange,
            K::CorruptMessage => ErrorCode::CorruptMessage,
            K::UnknownTopicOrPartition => ErrorCode::UnknownTopicOrPartition,
            K::MessageTooLarge => ErrorCode::MessageTooLarge,
            K::InvalidTopicException => ErrorCode::InvalidTopicException,
            K::RecordListTooLarge => ErrorCode::RecordListTooLarge,
            K::TopicAlreadyExists => ErrorCode::TopicAlreadyExists,
            K::InvalidPartitions => ErrorCode::InvalidPartitions,
            K::InvalidConfig => ErrorCode::InvalidConfig,
            K::InvalidRequest => ErrorCode::InvalidRequest,
            K::OutOfOrderSequenceNumber => ErrorCode::OutOfOrderSequenceNumber,
            K::InvalidProducerEpoch => ErrorCode::InvalidProducerEpoch,
            K::KafkaStorageError => ErrorCode::KafkaStorageError,
            K::UnknownProducerId => ErrorCode::UnknownProducerId,
            K::InvalidRecord => ErrorCode::InvalidRecord,
            K::TopicAuthorizationFailed => ErrorCode::TopicAuthorizationFailed,
            K::ClusterAuthorizationFailed => ErrorCode::ClusterAuthorizationFailed,
            _ => ErrorCode::UnknownServerError,
        }
    }

    /// The code for a Kafka error code number (0, no error, included:
    /// nothing should be refused with it).
    pub fn from_kafka_code(code: i16) -> ErrorCode {
        ResponseError::try_from_code(code).map_or(ErrorCode::UnknownServerError, Self::from_kafka)
    }

    /// The Kafka error this code names, if it is one.
    pub fn kafka(self) -> Option<ResponseError> {
        use ResponseError as K;
        Some(match self {
            ErrorCode::OffsetOutOfRange => K::OffsetOutOfRange,
            ErrorCode::CorruptMessage => K::CorruptMessage,
            ErrorCode::UnknownTopicOrPartition => K::UnknownTopicOrPartition,
            ErrorCode::MessageTooLarge => K::MessageTooLarge,
            ErrorCode::InvalidTopicException => K::InvalidTopicException,
            ErrorCode::RecordListTooLarge => K::RecordListTooLarge,
            ErrorCode::TopicAlreadyExists => K::TopicAlreadyExists,
            ErrorCode::InvalidPartitions => K::InvalidPartitions,
            ErrorCode::InvalidConfig => K::InvalidConfig,
            ErrorCode::InvalidRequest => K::InvalidRequest,
            ErrorCode::OutOfOrderSequenceNumber => K::OutOfOrderSequenceNumber,
            ErrorCode::InvalidProducerEpoch => K::InvalidProducerEpoch,
            ErrorCode::KafkaStorageError => K::KafkaStorageError,
            ErrorCode::UnknownProducerId => K::UnknownProducerId,
            ErrorCode::InvalidRecord => K::InvalidRecord,
            ErrorCode::TopicAuthorizationFailed => K::TopicAuthorizationFailed,
            ErrorCode::ClusterAuthorizationFailed => K::ClusterAuthorizationFailed,
            ErrorCode::UnknownServerError => K::UnknownServerError,
            ErrorCode::UnsupportedMediaType
            | ErrorCode::NotFound
            | ErrorCode::MethodNotAllowed
            | ErrorCode::Busy
            | ErrorCode::Unauthenticated => return None,
        })
    }

    /// The HTTP status the collector answers this code with. A full disk
    /// is the exception: `kafka_storage_error` with 507 rather than 500.
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::OffsetOutOfRange
            | ErrorCode::CorruptMessage
            | ErrorCode::InvalidTopicException
            | ErrorCode::InvalidPartitions
            | ErrorCode::InvalidConfig
            | ErrorCode::InvalidRequest
            | ErrorCode::InvalidRecord => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::TopicAuthorizationFailed | ErrorCode::ClusterAuthorizationFailed => 403,
            ErrorCode::UnknownTopicOrPartition | ErrorCode::UnknownProducerId => 404,
            ErrorCode::NotFound => 404,
            ErrorCode::MethodNotAllowed => 405,
            ErrorCode::TopicAlreadyExists
            | ErrorCode::OutOfOrderSequenceNumber
            | ErrorCode::InvalidProducerEpoch => 409,
            ErrorCode::MessageTooLarge | ErrorCode::RecordListTooLarge => 413,
            ErrorCode::UnsupportedMediaType => 415,
            ErrorCode::KafkaStorageError | ErrorCode::UnknownServerError => 500,
            ErrorCode::Busy => 503,
        }
    }

    /// The name on the wire (`"out_of_order_sequence_number"`).
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::OffsetOutOfRange => "offset_out_of_range",
            ErrorCode::CorruptMessage => "corrupt_message",
            ErrorCode::UnknownTopicOrPartition => "unknown_topic_or_partition",
            ErrorCode::MessageTooLarge => "message_too_large",
            ErrorCode::InvalidTopicException => "invalid_topic_exception",
            ErrorCode::RecordListTooLarge => "record_list_too_large",
            ErrorCode::TopicAlreadyExists => "topic_already_exists",
            ErrorCode::InvalidPartitions => "invalid_partitions",
            ErrorCode::InvalidConfig => "invalid_config",
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::OutOfOrderSequenceNumber => "out_of_order_sequence_number",
            ErrorCode::InvalidProducerEpoch => "invalid_producer_epoch",
            ErrorCode::KafkaStorageError => "kafka_storage_error",
            ErrorCode::UnknownProducerId => "unknown_producer_id",
            ErrorCode::InvalidRecord => "invalid_record",
            ErrorCode::TopicAuthorizationFailed => "topic_authorization_failed",
            ErrorCode::ClusterAuthorizationFailed => "cluster_authorization_failed",
            ErrorCode::UnknownServerError => "unknown_server_error",
            ErrorCode::UnsupportedMediaType => "unsupported_media_type",
            ErrorCode::NotFound => "not_found",
            ErrorCode::MethodNotAllowed => "method_not_allowed",
            ErrorCode::Busy => "busy",
            ErrorCode::Unauthenticated => "unauthenticated",
        }
    }
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn wire_names_match_as_str_and_kafka_codes_round_trip() {
        for code in ErrorCode::ALL {
            assert_eq!(serde_json::to_value(code).unwrap(), json!(code.as_str()));
            let back: ErrorCode = serde_json::from_value(json!(code.as_str())).unwrap();
            assert_eq!(back, code);
            if let Some(k) = code.kafka() {
                assert_eq!(ErrorCode::from_kafka_code(k.code()), code, "{code}");
            }
        }
        assert_eq!(
            ErrorCode::from_kafka_code(ResponseError::NotLeaderOrFollower.code()),
            ErrorCode::UnknownServerError
        );
        assert_eq!(
            ErrorCode::from_kafka_code(-1),
            ErrorCode::UnknownServerError
        );
        assert!(serde_json::from_value::<ErrorCode>(json!("no_such_code")).is_err());
    }

    #[test]
    fn statuses_sort_client_mistakes_conflicts_and_server_failures() {
        assert_eq!(ErrorCode::OutOfOrderSequenceNumber.status(), 409);
        assert_eq!(ErrorCode::InvalidProducerEpoch.status(), 409);
        assert_eq!(ErrorCode::MessageTooLarge.status(), 413);
        assert_eq!(ErrorCode::RecordListTooLarge.status(), 413);
        assert_eq!(ErrorCode::UnknownProducerId.status(), 404);
        assert_eq!(ErrorCode::InvalidRecord.status(), 400);
        assert_eq!(ErrorCode::KafkaStorageError.status(), 500);
    }

    #[test]
    fn bodies_have_the_documented_shape() {
        let body = ErrorBody {
            error: "line 2 is not JSON".into(),
            code: ErrorCode::InvalidRecord,
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"error": "line 2 is not JSON", "code": "invalid_record"})
        );
        let batch = Appended {
            topic: "logs".into(),
            partition: 1,
            base_offset: 5,
            last_offset: 6,
            records: None,
        };
        assert_eq!(
            serde_json::to_value(&batch).unwrap(),
            json!({"topic": "logs", "partition": 1, "base_offset": 5, "last_offset": 6})
        );
        let ndjson: Appended = serde_json::from_value(
            json!({"topic": "t", "partition": 0, "base_offset": 0, "last_offset": 2, "records": 3}),
        )
        .unwrap();
        assert_eq!(ndjson.records, Some(3));
    }
}
