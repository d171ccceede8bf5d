//! The collector's error type. Kafka error codes are response data, not Rust
//! errors: handlers map these variants to codes with [`StorageError::kafka_code`].

use std::path::PathBuf;

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
        match self {
            StorageError::UnknownTopicOrPartition { .. } => 3,
            StorageError::TopicExists(_) => 36,
            StorageError::InvalidTopic { .. } => 17,
            StorageError::InvalidPartitions { .. } => 37,
            StorageError::InvalidConfig { .. } => 40,
            StorageError::OffsetOutOfRange { .. } => 1,
            StorageError::CorruptBatch { .. } => 2,
            StorageError::BatchTooLarge { .. } => 10,
            StorageError::OutOfOrderSequence { .. } => 45,
            StorageError::InvalidProducerEpoch { .. } => 47,
            StorageError::PartitionOffline { .. }
            | StorageError::DataDirLocked { .. }
            | StorageError::CorruptMetadata { .. }
            | StorageError::Io { .. } => 56, // KAFKA_STORAGE_ERROR
        }
    }
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;
