//! Topic configuration under Kafka's names, topic name rules, and the
//! metadata file that records every topic (id, partition count, config
//! overrides). The file is rewritten whole with write-temp + fsync + rename,
//! so a crash leaves either the old or the new version, never a mix.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Result, StorageError};

/// `cleanup.policy`: a comma-separated list of `delete` and `compact`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CleanupPolicy {
    /// Retention deletes whole old segments.
    Delete,
    /// The cleaner keeps the latest record of each key; no retention.
    Compact,
    /// Both: the cleaner compacts and retention deletes old segments.
    CompactDelete,
}

impl CleanupPolicy {
    pub fn compacts(self) -> bool {
        matches!(self, CleanupPolicy::Compact | CleanupPolicy::CompactDelete)
    }
    pub fn deletes(self) -> bool {
        matches!(self, CleanupPolicy::Delete | CleanupPolicy::CompactDelete)
    }
    fn as_str(self) -> &'static str {
        match self {
            CleanupPolicy::Delete => "delete",
            CleanupPolicy::Compact => "compact",
            CleanupPolicy::CompactDelete => "compact,delete",
        }
    }
}

/// Effective configuration of one topic: the collector's defaults with the
/// topic's overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    /// `segment.bytes`: roll the active segment before it would exceed this.
    pub segment_bytes: u64,
    /// `segment.ms`: roll the active segment once its first batch is this old.
    pub segment_ms: i64,
    /// `retention.ms`: delete segments whose newest record is older; -1 keeps all.
    pub retention_ms: i64,
    /// `retention.bytes`: delete oldest segments while a partition is larger; -1 keeps all.
    pub retention_bytes: i64,
    /// `max.message.bytes`: the largest batch a producer may append.
    pub max_message_bytes: usize,
    /// `index.interval.bytes`: log bytes between two offset index entries.
    pub index_interval_bytes: u64,
    /// `cleanup.policy`.
    pub cleanup_policy: CleanupPolicy,
    /// `min.cleanable.dirty.ratio` in millionths: the cleaner takes a
    /// partition once its uncleaned bytes are at least this share of the
    /// closed segments (kept as an integer so the config stays `Eq`).
    pub min_cleanable_dirty_ratio_ppm: u32,
    /// `min.compaction.lag.ms`: records younger than this stay uncompacted.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: a segment with records older than this is
    /// cleaned whatever the dirty ratio.
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`: how long tombstones outlive the cleaning that
    /// reached them.
    pub delete_retention_ms: i64,
}

impl Default for TopicConfig {
    /// Kafka's broker defaults.
    fn default() -> Self {
        TopicConfig {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3600 * 1000,
            retention_ms: 7 * 24 * 3600 * 1000,
            retention_bytes: -1,
            max_message_bytes: 1_048_588,
            index_interval_bytes: 4096,
            cleanup_policy: CleanupPolicy::Delete,
            min_cleanable_dirty_ratio_ppm: 500_000,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 24 * 3600 * 1000,
        }
    }
}

/// Every topic config key the collector understands.
pub const CONFIG_KEYS: &[&str] = &[
    "cleanup.policy",
    "delete.retention.ms",
    "index.interval.bytes",
    "max.compaction.lag.ms",
    "max.message.bytes",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.ms",
];

/// Kafka's broker config that supplies the default of topic config `key`
/// (DescribeConfigs lists it as the default's synonym).
pub fn broker_synonym(key: &str) -> Option<&'static str> {
    Some(match key {
        "cleanup.policy" => "log.cleanup.policy",
        "index.interval.bytes" => "log.index.interval.bytes",
        "max.message.bytes" => "message.max.bytes",
        "retention.bytes" => "log.retention.bytes",
        "retention.ms" => "log.retention.ms",
        "segment.bytes" => "log.segment.bytes",
        "segment.ms" => "log.roll.ms",
        "message.timestamp.type" => "log.message.timestamp.type",
        "min.cleanable.dirty.ratio" => "log.cleaner.min.cleanable.ratio",
        "min.compaction.lag.ms" => "log.cleaner.min.compaction.lag.ms",
        "max.compaction.lag.ms" => "log.cleaner.max.compaction.lag.ms",
        "delete.retention.ms" => "log.cleaner.delete.retention.ms",
        _ => return None,
    })
}

/// The type DescribeConfigs (v3+) reports for topic config `key`, as
/// Kafka's LogConfig declares it (2 STRING, 3 INT, 5 LONG, 6 DOUBLE, 7 LIST;
/// 0 unknown).
pub fn config_type(key: &str) -> i8 {
    match key {
        "message.timestamp.type" => 2,
        "index.interval.bytes" | "max.message.bytes" | "segment.bytes" => 3,
        "retention.bytes"
        | "retention.ms"
        | "segment.ms"
        | "min.compaction.lag.ms"
        | "max.compaction.lag.ms"
        | "delete.retention.ms" => 5,
        "min.cleanable.dirty.ratio" => 6,
        "cleanup.policy" => 7,
        _ => 0,
    }
}

/// Whether `key` holds a comma-separated list (IncrementalAlterConfigs'
/// APPEND and SUBTRACT apply only to these).
pub fn is_list_config(key: &str) -> bool {
    key == "cleanup.policy"
}

/// An override set from `(name, value)` pairs as CreateTopics and
/// AlterConfigs carry them (a later pair wins): a null value is an invalid
/// config. The values are validated with the defaults by
/// [`TopicConfig::with_overrides`].
pub fn overrides_from_pairs<'a>(
    pairs: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    for (name, value) in pairs {
        let Some(value) = value else {
            return Err(invalid(
                name,
                "",
                "a null value is not supported for topic configs",
            ));
        };
        out.insert(name.to_owned(), value.to_owned());
    }
    Ok(out)
}

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> StorageError {
    StorageError::InvalidConfig {
        key: key.to_owned(),
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// `cleanup.policy` as a list: `delete`, `compact`, or both in either order.
fn parse_policy(value: &str) -> Result<CleanupPolicy> {
    let (mut compact, mut delete) = (false, false);
    for item in value.split(',').map(str::trim) {
        match item {
            "compact" => compact = true,
            "delete" => delete = true,
            _ => {
                return Err(invalid(
                    "cleanup.policy",
                    value,
                    "must be a list of delete and compact",
                ))
            }
        }
    }
    Ok(match (compact, delete) {
        (true, true) => CleanupPolicy::CompactDelete,
        (true, false) => CleanupPolicy::Compact,
        (false, true) => CleanupPolicy::Delete,
        (false, false) => unreachable!("split yields at least one item"),
    })
}

fn parse_int(key: &str, value: &str, min: i64, max: i64) -> Result<i64> {
    let n: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "not an integer"))?;
    if n < min || n > max {
        return Err(invalid(key, value, format!("must be in [{min}, {max}]")));
    }
    Ok(n)
}

impl TopicConfig {
    /// Applies one `key=value` override, validating it as Kafka does.
    pub fn set(&mut self, key: &str, value: &str) -> Result<()> {
        // Positions in the offset index are u32 and i32 in Kafka: keep segments below 2 GiB.
        const MAX_SEGMENT: i64 = i32::MAX as i64;
        match key {
            "segment.bytes" => self.segment_bytes = parse_int(key, value, 14, MAX_SEGMENT)? as u64,
            "segment.ms" => self.segment_ms = parse_int(key, value, 1, i64::MAX)?,
            "retention.ms" => self.retention_ms = parse_int(key, value, -1, i64::MAX)?,
            "retention.bytes" => self.retention_bytes = parse_int(key, value, -1, i64::MAX)?,
            "max.message.bytes" => {
                self.max_message_bytes = parse_int(key, value, 0, i32::MAX as i64)? as usize
            }
            "index.interval.bytes" => {
                self.index_interval_bytes = parse_int(key, value, 0, i32::MAX as i64)? as u64
            }
            "cleanup.policy" => self.cleanup_policy = parse_policy(value)?,
            "min.cleanable.dirty.ratio" => {
                let ratio: f64 = value
                    .trim()
                    .parse()
                    .ok()
                    .filter(|r: &f64| (0.0..=1.0).contains(r))
                    .ok_or_else(|| invalid(key, value, "must be a number in [0, 1]"))?;
                self.min_cleanable_dirty_ratio_ppm = (ratio * 1e6).round() as u32;
            }
            "min.compaction.lag.ms" => {
                self.min_compaction_lag_ms = parse_int(key, value, 0, i64::MAX)?
            }
            "max.compaction.lag.ms" => {
                self.max_compaction_lag_ms = parse_int(key, value, 1, i64::MAX)?
            }
            "delete.retention.ms" => self.delete_retention_ms = parse_int(key, value, 0, i64::MAX)?,
            // The collector keeps the producer's timestamps: CreateTime is
            // what it does (Kafka Streams names it on every repartition
            // topic); LogAppendTime would need batches rewritten on append.
            "message.timestamp.type" => {
                if value.trim() != "CreateTime" {
                    return Err(invalid(
                        key,
                        value,
                        "only message.timestamp.type=CreateTime is supported",
                    ));
                }
            }
            _ => return Err(invalid(key, value, "unknown topic config name")),
        }
        Ok(())
    }

    /// These defaults with `overrides` applied.
    pub fn with_overrides(&self, overrides: &BTreeMap<String, String>) -> Result<TopicConfig> {
        let mut config = self.clone();
        for (k, v) in overrides {
            config.set(k, v)?;
        }
        // Kafka checks the pair together: a record may not have to be
        // compacted before it is allowed to be.
        if config.min_compaction_lag_ms > config.max_compaction_lag_ms {
            let key = "min.compaction.lag.ms";
            return Err(invalid(
                key,
                &config.min_compaction_lag_ms.to_string(),
                "must not exceed max.compaction.lag.ms",
            ));
        }
        Ok(config)
    }

    /// `min.cleanable.dirty.ratio` as a fraction.
    pub fn min_cleanable_dirty_ratio(&self) -> f64 {
        f64::from(self.min_cleanable_dirty_ratio_ppm) / 1e6
    }

    /// How old the active segment may grow before an append rolls it:
    /// `segment.ms`, or for a compacted topic `max.compaction.lag.ms` when
    /// that is shorter (Kafka's `maxSegmentMs`). Only closed segments are
    /// cleaned, so without this roll a quiet compacted partition would keep
    /// its records out of the cleaner's reach past the lag it promises.
    pub fn roll_ms(&self) -> i64 {
        if self.cleanup_policy.compacts() && self.max_compaction_lag_ms > 0 {
            self.segment_ms.min(self.max_compaction_lag_ms)
        } else {
            self.segment_ms
        }
    }

    /// The value of `key` as Kafka prints it (DescribeConfigs, `topics describe`).
    pub fn get(&self, key: &str) -> Option<String> {
        Some(match key {
            "segment.bytes" => self.segment_bytes.to_string(),
            "segment.ms" => self.segment_ms.to_string(),
            "retention.ms" => self.retention_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "index.interval.bytes" => self.index_interval_bytes.to_string(),
            "cleanup.policy" => self.cleanup_policy.as_str().to_owned(),
            "min.cleanable.dirty.ratio" => self.min_cleanable_dirty_ratio().to_string(),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms.to_string(),
            "max.compaction.lag.ms" => self.max_compaction_lag_ms.to_string(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "message.timestamp.type" => "CreateTime".to_owned(),
            _ => return None,
        })
    }
}

/// Kafka's topic name rule ([`logship_common::topic`]) as a storage error.
pub fn validate_topic_name(name: &str) -> Result<()> {
    logship_common::topic::validate_topic_name(name).map_err(|e| StorageError::InvalidTopic {
        name: e.name,
        reason: e.reason,
    })
}

/// One topic as recorded in the metadata file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicMeta {
    pub id: Uuid,
    pub partitions: i32,
    /// Overrides only; defaults come from the collector's config.
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

#[derive(Serialize, Deserialize)]
struct MetadataFile {
    version: u32,
    topics: BTreeMap<String, TopicMeta>,
}

/// Reads the metadata file; a missing file means no topics.
pub fn load_metadata(path: &Path) -> Result<BTreeMap<String, TopicMeta>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(StorageError::io(path, e)),
    };
    let file: MetadataFile =
        serde_json::from_slice(&bytes).map_err(|e| StorageError::CorruptMetadata {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if file.version != 1 {
        return Err(StorageError::CorruptMetadata {
            path: path.to_owned(),
            reason: format!("unsupported version {}", file.version),
        });
    }
    Ok(file.topics)
}

/// Replaces the metadata file atomically.
pub fn save_metadata(path: &Path, topics: &BTreeMap<String, TopicMeta>) -> Result<()> {
    let body = serde_json::to_vec_pretty(&MetadataFile {
        version: 1,
        topics: topics.clone(),
    })
    .expect("metadata serialises");
    write_atomic(path, &body)
}

/// [`logship_common::fs::write_atomic`]: readers see the old or the new
/// content, never a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    logship_common::fs::write_atomic(path, bytes).map_err(|e| StorageError::io(path, e))
}

/// fsyncs a directory so a create, rename or unlink in it is durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    logship_common::fs::sync_dir(dir).map_err(|e| StorageError::io(dir, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_are_validated() {
        let d = TopicConfig::default();
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_owned(), "1000".to_owned());
        o.insert("segment.bytes".to_owned(), "1048576".to_owned());
        let c = d.with_overrides(&o).unwrap();
        assert_eq!(c.retention_ms, 1000);
        assert_eq!(c.segment_bytes, 1 << 20);
        assert_eq!(c.get("retention.ms").as_deref(), Some("1000"));
        // What Kafka Streams sets on a repartition topic.
        o.insert("message.timestamp.type".to_owned(), "CreateTime".to_owned());
        let c = d.with_overrides(&o).unwrap();
        assert_eq!(
            c.get("message.timestamp.type").as_deref(),
            Some("CreateTime")
        );
        for (k, v) in [
            ("retention.ms", "soon"),
            ("segment.bytes", "3"),
            ("cleanup.policy", "compact,shred"),
            ("min.cleanable.dirty.ratio", "1.5"),
            ("delete.retention.ms", "-2"),
            ("max.compaction.lag.ms", "0"),
            ("message.timestamp.type", "LogAppendTime"),
            ("no.such.key", "1"),
        ] {
            let mut bad = BTreeMap::new();
            bad.insert(k.to_owned(), v.to_owned());
            let err = d.with_overrides(&bad).unwrap_err();
            assert_eq!(err.kafka_code(), 40, "{k}={v}: {err}");
        }
    }

    #[test]
    fn compaction_configs_parse() {
        let d = TopicConfig::default();
        let mut o = BTreeMap::new();
        for (k, v) in [
            ("cleanup.policy", "delete, compact"),
            ("min.cleanable.dirty.ratio", "0.25"),
            ("min.compaction.lag.ms", "10"),
            ("delete.retention.ms", "0"),
        ] {
            o.insert(k.to_owned(), v.to_owned());
        }
        let c = d.with_overrides(&o).unwrap();
        assert_eq!(c.cleanup_policy, CleanupPolicy::CompactDelete);
        assert_eq!(c.get("cleanup.policy").as_deref(), Some("compact,delete"));
        assert_eq!(c.get("min.cleanable.dirty.ratio").as_deref(), Some("0.25"));
        assert_eq!(c.delete_retention_ms, 0);
        o.insert("max.compaction.lag.ms".to_owned(), "5".to_owned());
        let err = d.with_overrides(&o).unwrap_err();
        assert_eq!(err.kafka_code(), 40, "{err}");
        assert_eq!(
            d.get("min.cleanable.dirty.ratio").as_deref(),
            Some("0.5"),
            "Kafka's default"
        );
    }

    #[test]
    fn metadata_round_trips_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("topics.json");
        assert!(load_metadata(&path).unwrap().is_empty());
        let mut topics = BTreeMap::new();
        topics.insert(
            "t".to_owned(),
            TopicMeta {
                id: Uuid::new_v4(),
                partitions: 3,
                configs: BTreeMap::new(),
            },
        );
        save_metadata(&path, &topics).unwrap();
        assert_eq!(load_metadata(&path).unwrap(), topics);
        assert!(!path.with_extension("tmp").exists());
        std::fs::write(&path, b"{not json").unwrap();
        assert!(matches!(
            load_metadata(&path),
            Err(StorageError::CorruptMetadata { .. })
        ));
    }
}
