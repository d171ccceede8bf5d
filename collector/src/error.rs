//! The collector's error type. Kafka error codes are response data, not Rust
//! errors: handlers map these variants to codes with [`StorageError::kafka_code`].

use std::path::PathBuf;

use kafka_protocol::ResponseError;

/// Errors from the storage engine. Every variant names what it concerns
/// (topic-partition, offset, path) so a log line is enough to act on.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("unknown topic or partition {topic}-{partition}")]
    UnknownTopicOrPartition { topic: String, partition: i32 },
    #[error("topic {0} already exists")]
    TopicExists(String),
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopic { name: String, reason: &'static str },
    #[error("invalid partition count {count} for topic {topic}: {reason}")]
    InvalidPartitions {
        topic: String,
        count: i32,
        reason: String,
    },
    #[error("invalid config {key}={value:?}: {reason}")]
    InvalidConfig {
        key: String,
        value: String,
        reason: String,
    },
    #[error("offset {offset} is out of range for {topic}-{partition} (log start {log_start_offset}, log end {log_end_offset})")]
    OffsetOutOfRange {
        topic: String,
        partition: i32,
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    #[error("corrupt record batch for {topic}-{partition}: {reason}")]
    CorruptBatch {
        topic: String,
        partition: i32,
        reason: crate::storage::batch::BatchError,
    },
    #[error(
        "record batch of {size} bytes for {topic}-{partition} exceeds max.message.bytes {max}"
    )]
    BatchTooLarge {
        topic: String,
        partition: i32,
        size: usize,
        max: usize,
    },
    #[error("out of order sequence for {topic}-{partition}: {reason}")]
    OutOfOrderSequence {
        topic: String,
        partition: i32,
        reason: String,
    },
    #[error("invalid producer epoch for {topic}-{partition}: {reason}")]
    InvalidProducerEpoch {
        topic: String,
        partition: i32,
        reason: String,
    },
    #[error("invalid record for {topic}-{partition}: {reason}")]
    InvalidRecord {
        topic: String,
        partition: i32,
        reason: String,
    },
    #[error(
        "{topic}-{partition} is offline after an I/O error; restart the collector to recover it"
    )]
    PartitionOffline { topic: String, partition: i32 },
    #[error("data directory {path} is in use by another process")]
    DataDirLocked { path: PathBuf },
    #[error("corrupt metadata file {path}: {reason}")]
    CorruptMetadata { path: PathBuf, reason: String },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        StorageError::Io {
            path: path.into(),
            source,
        }
    }

    /// The Kafka protocol error code a client should receive for this error.
    pub fn kafka_code(&self) -> i16 {
        let error = match self {
            StorageError::UnknownTopicOrPartition { .. } => ResponseError::UnknownTopicOrPartition,
            StorageError::TopicExists(_) => ResponseError::TopicAlreadyExists,
            StorageError::InvalidTopic { .. } => ResponseError::InvalidTopicException,
            StorageError::InvalidPartitions { .. } => ResponseError::InvalidPartitions,
            StorageError::InvalidConfig { .. } => ResponseError::InvalidConfig,
            StorageError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
            StorageError::CorruptBatch { .. } => ResponseError::CorruptMessage,
            StorageError::BatchTooLarge { .. } => ResponseError::MessageTooLarge,
            StorageError::OutOfOrderSequence { .. } => ResponseError::OutOfOrderSequenceNumber,
            StorageError::InvalidProducerEpoch { .. } => ResponseError::InvalidProducerEpoch,
            StorageError::InvalidRecord { .. } => ResponseError::InvalidRecord,
            StorageError::PartitionOffline { .. }
            | StorageError::DataDirLocked { .. }
            | StorageError::CorruptMetadata { .. }
            | StorageError::Io { .. } => ResponseError::KafkaStorageError,
        };
        error.code()
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
