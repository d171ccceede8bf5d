//! The `agent:` section of the YAML config: serde structs that reject
//! unknown keys, checked further by [`AgentConfig::validate`].

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use logship_collector::config::{humantime_serde, size};
use serde::Deserialize;

/// `agent:` as written in YAML.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentConfig {
    /// Where checkpoints live. Default `./agent-data`.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    #[serde(default)]
    pub http: HttpConfig,
    /// Named sources; each name appears in metrics and checkpoints.
    #[serde(default)]
    pub sources: BTreeMap<String, SourceConfig>,
    pub sink: SinkConfig,
    /// How often acknowledged progress is written to disk. Progress not yet
    /// written is re-read after a crash and deduplicated by the collector.
    #[serde(default = "default_checkpoint_interval", with = "humantime_serde")]
    pub checkpoint_interval: Duration,
    /// How long SIGTERM waits for in-flight batches before giving up on them
    /// (they are re-read next start, so nothing is lost either way).
    #[serde(default = "default_drain_timeout", with = "humantime_serde")]
    pub drain_timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpConfig {
    /// `/metrics` and `/healthz`. Default `127.0.0.1:8686`.
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

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SourceConfig {
    File(FileSourceConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    Beginning,
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LongLines {
    /// Cut into records of at most `max_line_bytes`.
    Split,
    /// Keep the first `max_line_bytes`, drop the rest of the line.
    Truncate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    /// The value is the line's bytes.
    Text,
    /// The value is a JSON object: message, host, path, offset and labels.
    Json,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileSourceConfig {
    /// Glob patterns of files to follow (`*`, `?`, `[..]`, `**`).
    pub include: Vec<String>,
    #[serde(default)]
    pub exclude: Vec<String>,
    /// Where to start in files present when the agent first runs (no
    /// checkpoints yet). Files that appear later are read from the start.
    #[serde(default = "default_start_at")]
    pub start_at: StartAt,
    /// Destination topic.
    pub topic: String,
    /// Added to every record as headers (or JSON fields).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub multiline: Option<MultilineConfig>,
    #[serde(default = "default_max_line", deserialize_with = "size::deserialize")]
    pub max_line_bytes: u64,
    #[serde(default = "default_long_lines")]
    pub long_lines: LongLines,
    #[serde(default = "default_encoding")]
    pub encoding: Encoding,
    /// The safety-net glob rescan (inotify events can be lost).
    #[serde(default = "default_rescan", with = "humantime_serde")]
    pub rescan_interval: Duration,
    /// How long a renamed-away or deleted file stays open after its last
    /// growth, for writers that still append to it.
    #[serde(default = "default_rotate_wait", with = "humantime_serde")]
    pub rotate_wait: Duration,
    /// Files that have not grown for this long are closed and reopened
    /// when they grow again, so idle files hold no descriptor.
    #[serde(default = "default_idle_close", with = "humantime_serde")]
    pub idle_close: Duration,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MultilineConfig {
    /// A regex matching the first line of a record; other lines are
    /// continuations joined to the record before them with `\n`.
    pub start_pattern: String,
    /// A pending record is sent after this long without a new line.
    #[serde(default = "default_multiline_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum SinkConfig {
    Collector(CollectorSinkConfig),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Lz4,
    Snappy,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CollectorSinkConfig {
    /// The collector's HTTP address, e.g. `http://127.0.0.1:8080`.
    pub url: String,
    #[serde(default)]
    pub batch: BatchConfig,
    #[serde(default = "default_compression")]
    pub compression: Compression,
    #[serde(default)]
    pub retry: RetryConfig,
    /// Per-request timeout.
    #[serde(default = "default_request_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    /// Requests to the collector at once, across all files (each file
    /// has at most one in flight, to keep its batches in order).
    #[serde(default = "default_in_flight")]
    pub max_in_flight: usize,
    /// Line bytes read but not yet acknowledged, across all files. Reading
    /// stops at this bound (backpressure) instead of buffering more.
    #[serde(default = "default_buffer", deserialize_with = "size::deserialize")]
    pub max_buffered_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchConfig {
    #[serde(
        default = "default_batch_bytes",
        deserialize_with = "size::deserialize"
    )]
    pub max_bytes: u64,
    #[serde(default = "default_batch_records")]
    pub max_records: usize,
    /// How long the first line of a batch waits for more.
    #[serde(default = "default_linger", with = "humantime_serde")]
    pub linger: Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            max_bytes: default_batch_bytes(),
            max_records: default_batch_records(),
            linger: default_linger(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetryConfig {
    #[serde(default = "default_initial_backoff", with = "humantime_serde")]
    pub initial_backoff: Duration,
    #[serde(default = "default_max_backoff", with = "humantime_serde")]
    pub max_backoff: Duration,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            initial_backoff: default_initial_backoff(),
            max_backoff: default_max_backoff(),
        }
    }
}

impl AgentConfig {
    /// Checks what serde cannot.
    pub fn validate(&self) -> Result<(), String> {
        if self.sources.is_empty() {
            return Err("agent.sources: at least one source is needed".into());
        }
        for (name, source) in &self.sources {
            let SourceConfig::File(f) = source;
            let at = |what: &str| format!("agent.sources.{name}.{what}");
            if f.include.is_empty() {
                return Err(format!("{}: at least one glob is needed", at("include")));
            }
            for g in f.include.iter().chain(&f.exclude) {
                globset::Glob::new(g).map_err(|e| format!("{}: {e}", at("include")))?;
                if !g.starts_with('/') {
                    return Err(format!(
                        "{}: {g:?} must be an absolute path pattern",
                        at("include")
                    ));
                }
            }
            logship_collector::storage::validate_topic_name(&f.topic)
                .map_err(|e| format!("{}: {e}", at("topic")))?;
            if f.max_line_bytes < 16 {
                return Err(format!(
                    "{}: must be at least 16 bytes",
                    at("max_line_bytes")
                ));
            }
            if let Some(m) = &f.multiline {
                regex::bytes::Regex::new(&m.start_pattern)
                    .map_err(|e| format!("{}: {e}", at("multiline.start_pattern")))?;
            }
        }
        let SinkConfig::Collector(sink) = &self.sink;
        let url = reqwest::Url::parse(&sink.url)
            .map_err(|e| format!("agent.sink.url: {:?}: {e}", sink.url))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("agent.sink.url: {:?} is not http(s)", sink.url));
        }
        if sink.max_in_flight == 0 {
            return Err("agent.sink.max_in_flight must be at least 1".into());
        }
        if sink.batch.max_records == 0 || sink.batch.max_bytes == 0 {
            return Err("agent.sink.batch: max_records and max_bytes must be positive".into());
        }
        if sink.max_buffered_bytes < 2 * sink.batch.max_bytes {
            return Err(format!(
                "agent.sink.max_buffered_bytes ({}) must be at least twice batch.max_bytes ({})",
                sink.max_buffered_bytes, sink.batch.max_bytes
            ));
        }
        Ok(())
    }
}

fn default_data_dir() -> PathBuf {
    PathBuf::from("./agent-data")
}
fn default_http_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8686))
}
fn default_checkpoint_interval() -> Duration {
    Duration::from_secs(1)
}
fn default_drain_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_start_at() -> StartAt {
    StartAt::Beginning
}
fn default_max_line() -> u64 {
    1024 * 1024
}
fn default_long_lines() -> LongLines {
    LongLines::Split
}
fn default_encoding() -> Encoding {
    Encoding::Text
}
fn default_rescan() -> Duration {
    Duration::from_secs(1)
}
fn default_rotate_wait() -> Duration {
    Duration::from_secs(5)
}
fn default_idle_close() -> Duration {
    Duration::from_secs(60)
}
fn default_multiline_timeout() -> Duration {
    Duration::from_secs(1)
}
fn default_compression() -> Compression {
    Compression::Gzip
}
fn default_request_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_in_flight() -> usize {
    16
}
fn default_buffer() -> u64 {
    8 * 1024 * 1024
}
fn default_batch_bytes() -> u64 {
    512 * 1024
}
fn default_batch_records() -> usize {
    10_000
}
fn default_linger() -> Duration {
    Duration::from_millis(5)
}
fn default_initial_backoff() -> Duration {
    Duration::from_millis(100)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(10)
}
