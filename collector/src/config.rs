//! The `collector:` section of the YAML config: raw serde structs that reject
//! unknown keys, then [`CollectorConfig::validate`] into runtime values.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

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
    pub storage: StorageConfig,
    /// Defaults for every topic, under Kafka's topic config names
    /// (`retention.ms`, `segment.bytes`, ...). Topics may override them.
    #[serde(default)]
    pub topic_defaults: BTreeMap<String, serde_yaml_ng::Value>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `/metrics`, `/healthz`, `/readyz`. Default `127.0.0.1:8080`.
    #[serde(default = "default_http_listen")]
    pub listen: SocketAddr,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_http_listen(),
        }
    }
}

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

/// Durations written as `"5s"`, `"250ms"`, `"1h 30m"`.
mod humantime_serde {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        humantime::parse_duration(&s).map_err(|e| {
            serde::de::Error::custom(format!(
                "invalid duration {s:?} ({e}); write e.g. \"5s\" or \"250ms\""
            ))
        })
    }
}

impl Default for CollectorConfig {
    fn default() -> Self {
        CollectorConfig {
            data_dir: default_data_dir(),
            http: HttpConfig::default(),
            storage: StorageConfig::default(),
            topic_defaults: BTreeMap::new(),
        }
    }
}

impl CollectorConfig {
    /// Checks values that serde cannot and builds the storage options.
    pub fn validate(&self) -> Result<StorageOptions, String> {
        let mut defaults = TopicConfig::default();
        for (key, value) in &self.topic_defaults {
            let text = match value {
                serde_yaml_ng::Value::String(s) => s.clone(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                other => {
                    return Err(format!(
                    "collector.topic_defaults.{key}: expected a number or string, got {other:?}"
                ))
                }
            };
            defaults
                .set(key, &text)
                .map_err(|e| format!("collector.topic_defaults: {e}"))?;
        }
        if self.storage.flush_interval.is_zero() || self.storage.retention_check_interval.is_zero()
        {
            return Err("collector.storage: intervals must be greater than zero".to_owned());
        }
        Ok(StorageOptions {
            data_dir: self.data_dir.clone(),
            flush: match self.storage.flush {
                FlushMode::Always => FlushPolicy::Always,
                FlushMode::Interval => FlushPolicy::Interval(self.storage.flush_interval),
                FlushMode::Os => FlushPolicy::Os,
            },
            defaults,
            retention_check_interval: self.storage.retention_check_interval,
        })
    }
}
