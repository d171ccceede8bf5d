//! The `collector:` section of the YAML config: raw serde structs that reject
//! unknown keys, then [`CollectorConfig::validate`] into runtime values.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use logship_common::units::{humantime_serde, size};
use serde::Deserialize;

use crate::storage::{FlushPolicy, StorageOptions, TopicConfig};

/// `collector:` as written in YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorConfig {
    /// Where topic partitions live. Default `./data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub http: HttpConfig,
    #[serde(default)]
    pub kafka: KafkaConfig,
    #[serde(default)]
    pub storage: StorageConfig,
    /// Create unknown topics when a client asks for them in Metadata or
    /// Produce, with `defaults.partitions` partitions. Default true.
    #[serde(default = "yes")]
    pub auto_create_topics: bool,
    #[serde(default)]
    pub defaults: TopicDefaults,
    #[serde(default)]
    pub groups: GroupsConfig,
}

/// The consumer group coordinator.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupsConfig {
    /// Kafka's `group.initial.rebalance.delay.ms`: the first rebalance of an
    /// empty group waits this long for more members. Default `3s`.
    #[serde(default = "default_initial_delay", with = "humantime_serde")]
    pub initial_rebalance_delay: Duration,
    /// Bounds on the session timeout members may ask for. Defaults `6s`, `30m`.
    #[serde(default = "default_min_session", with = "humantime_serde")]
    pub min_session_timeout: Duration,
    #[serde(default = "default_max_session", with = "humantime_serde")]
    pub max_session_timeout: Duration,
}

impl Default for GroupsConfig {
    fn default() -> Self {
        GroupsConfig {
            initial_rebalance_delay: default_initial_delay(),
            min_session_timeout: default_min_session(),
            max_session_timeout: default_max_session(),
        }
    }
}

impl GroupsConfig {
    pub fn settings(&self) -> crate::group::GroupSettings {
        crate::group::GroupSettings {
            initial_rebalance_delay: self.initial_rebalance_delay,
            min_session_timeout: self.min_session_timeout,
            max_session_timeout: self.max_session_timeout,
        }
    }
}

fn default_initial_delay() -> Duration {
    Duration::from_secs(3)
}
fn default_min_session() -> Duration {
    Duration::from_secs(6)
}
fn default_max_session() -> Duration {
    Duration::from_secs(1800)
}

/// Defaults for new topics.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicDefaults {
    /// Partitions of auto-created topics and of CreateTopics with -1. Default 1.
    #[serde(default = "one")]
    pub partitions: i32,
    /// Topic configs under Kafka's names (`retention.ms`, `segment.bytes`,
    /// ...); a topic may override them.
    #[serde(default)]
    pub configs: BTreeMap<String, serde_yaml_ng::Value>,
}

impl Default for TopicDefaults {
    fn default() -> Self {
        TopicDefaults {
            partitions: 1,
            configs: BTreeMap::new(),
        }
    }
}

/// The Kafka protocol listener.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Default `127.0.0.1:9092`.
    #[serde(default = "default_kafka_listen")]
    pub listen: SocketAddr,
    /// `host:port` clients are told to connect to (Metadata). Default: the
    /// listen address (the host name when listening on all interfaces).
    #[serde(default)]
    pub advertised: Option<String>,
    /// Largest request accepted (Kafka's `socket.request.max.bytes`); a
    /// bigger length prefix closes the connection. Default `100MiB`.
    #[serde(
        default = "default_max_request",
        deserialize_with = "size::deserialize"
    )]
    pub max_request_bytes: u64,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            listen: default_kafka_listen(),
            advertised: None,
            max_request_bytes: default_max_request(),
        }
    }
}

fn yes() -> bool {
    true
}
fn one() -> i32 {
    1
}
fn default_kafka_listen() -> SocketAddr {
    "127.0.0.1:9092".parse().expect("valid address")
}
fn default_max_request() -> u64 {
    100 << 20
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// Ingest and admin API, `/metrics`, `/healthz`, `/readyz`. Default
    /// `127.0.0.1:8080`.
    #[serde(default = "default_http_listen")]
    pub listen: SocketAddr,
    /// Largest ingest request body, and largest NDJSON body after gzip
    /// decoding; larger ones get 413. Bodies are held in memory while they
    /// are appended, so this bounds memory per request. Default `64MiB`.
    #[serde(default = "default_max_body", deserialize_with = "size::deserialize")]
    pub max_body_bytes: u64,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_http_listen(),
            max_body_bytes: default_max_body(),
        }
    }
}

fn default_max_body() -> u64 {
    64 << 20
}

/// A record batch's length is an i32, and a body is one or more batches.
pub const MAX_HTTP_BODY_BYTES: u64 = i32::MAX as u64;

/// When appends reach the disk (see README, Durability).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum FlushMode {
    /// Acknowledge after fsync, shared by concurrent appenders (default).
    #[default]
    Always,
    /// Acknowledge after write; fsync every `flush_interval`.
    Interval,
    /// Acknowledge after write; the OS decides when to write back.
    Os,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageConfig {
    #[serde(default)]
    pub flush: FlushMode,
    /// With `flush: interval`: how often to fsync. Default `1s`.
    #[serde(default = "default_flush_interval", with = "humantime_serde")]
    pub flush_interval: Duration,
    /// How often retention looks for segments to delete. Default `5m`.
    #[serde(default = "default_retention_check", with = "humantime_serde")]
    pub retention_check_interval: Duration,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            flush: FlushMode::Always,
            flush_interval: default_flush_interval(),
            retention_check_interval: default_retention_check(),
        }
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./data")
}
fn default_http_listen() -> SocketAddr {
    "127.0.0.1:8080".parse().expect("valid address")
}
fn default_flush_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_retention_check() -> Duration {
    Duration::from_secs(300)
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            data_dir: default_data_dir(),
            http: HttpConfig::default(),
            kafka: KafkaConfig::default(),
            storage: StorageConfig::default(),
            auto_create_topics: true,
            defaults: TopicDefaults::default(),
            groups: GroupsConfig::default(),
        }
    }
}

/// What [`CollectorConfig::validate`] checked, in the types the collector
/// runs with.
#[derive(Debug, Clone)]
pub struct ValidCollector {
    pub storage: StorageOptions,
    /// `collector.kafka.advertised` as host and port, when set.
    pub advertised: Option<(String, u16)>,
}

impl CollectorConfig {
    /// Checks values that serde cannot and builds the runtime values.
    pub fn validate(&self) -> Result<ValidCollector, String> {
        let mut defaults = TopicConfig::default();
        for (key, value) in &self.defaults.configs {
            let text = match value {
                serde_yaml_ng::Value::String(s) => s.clone(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                other => {
                    return Err(format!(
                    "collector.defaults.configs.{key}: expected a number or string, got {other:?}"
                ))
                }
            };
            defaults
                .set(key, &text)
                .map_err(|e| format!("collector.defaults.configs: {e}"))?;
        }
        if !(1..=crate::storage::MAX_PARTITIONS).contains(&self.defaults.partitions) {
            return Err(format!(
                "collector.defaults.partitions: must be between 1 and {}",
                crate::storage::MAX_PARTITIONS
            ));
        }
        let advertised = match &self.kafka.advertised {
            None => None,
            Some(adv) => Some(
                adv.rsplit_once(':')
                    .filter(|(h, _)| !h.is_empty())
                    .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
                    .ok_or_else(|| {
                        format!("collector.kafka.advertised: {adv:?} is not host:port")
                    })?,
            ),
        };
        if !(1..=MAX_HTTP_BODY_BYTES).contains(&self.http.max_body_bytes) {
            return Err(format!(
                "collector.http.max_body_bytes: must be between 1 byte and {MAX_HTTP_BODY_BYTES} bytes (2GiB - 1)"
            ));
        }
        if self.storage.flush_interval.is_zero() || self.storage.retention_check_interval.is_zero()
        {
            return Err("collector.storage: intervals must be greater than zero".to_owned());
        }
        let storage = StorageOptions {
            data_dir: self.data_dir.clone(),
            flush: match self.storage.flush {
                FlushMode::Always => FlushPolicy::Always,
                FlushMode::Interval => FlushPolicy::Interval(self.storage.flush_interval),
                FlushMode::Os => FlushPolicy::Os,
            },
            defaults,
            retention_check_interval: self.storage.retention_check_interval,
        };
        Ok(ValidCollector {
            storage,
            advertised,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<CollectorConfig, String> {
        serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())
    }

    #[test]
    fn http_max_body_bytes_defaults_parses_and_is_validated() {
        let c = parse("data_dir: /tmp/x\n").unwrap();
        assert_eq!(c.http.max_body_bytes, 64 << 20);
        let c = parse("http:\n  max_body_bytes: 4KiB\n").unwrap();
        assert_eq!(c.http.max_body_bytes, 4096);
        assert!(c.validate().is_ok());
        assert!(parse("http:\n  max_body_bytes: lots\n").is_err());
        let zero = parse("http:\n  max_body_bytes: 0\n").unwrap();
        assert!(zero.validate().unwrap_err().contains("max_body_bytes"));
        let huge = parse("http:\n  max_body_bytes: 2GiB\n").unwrap();
        assert!(huge.validate().unwrap_err().contains("max_body_bytes"));
    }

    #[test]
    fn advertised_address_is_validated_into_host_and_port() {
        let c = parse("kafka:\n  advertised: logs.example.com:19092\n").unwrap();
        let valid = c.validate().unwrap();
        assert_eq!(
            valid.advertised,
            Some(("logs.example.com".to_owned(), 19092))
        );
        assert_eq!(parse("{}").unwrap().validate().unwrap().advertised, None);
        for bad in ["nohost", ":9092", "h:99999", "h:port"] {
            let c = parse(&format!("kafka:\n  advertised: \"{bad}\"\n")).unwrap();
            let err = c.validate().unwrap_err();
            assert!(err.contains("collector.kafka.advertised"), "{bad}: {err}");
        }
    }
}
