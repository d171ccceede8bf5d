//! The `agent:` section of the YAML config: serde structs that reject
//! unknown keys, checked further by [`AgentConfig::validate`].

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use logship_common::units::{humantime_serde, size};

use crate::error::ConfigError;
use crate::security::{HttpAuthConfig, KafkaOptions, SaslConfig, TlsClientConfig, TokenAuthConfig};
use serde::Deserialize;

use crate::source::file::Globs;

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
    PrometheusScrape(ScrapeSourceConfig),
    HostMetrics(HostMetricsSourceConfig),
    Journald(JournaldSourceConfig),
}

impl SourceConfig {
    pub fn topic(&self) -> &str {
        match self {
            SourceConfig::File(f) => &f.topic,
            SourceConfig::PrometheusScrape(p) => &p.topic,
            SourceConfig::HostMetrics(h) => &h.topic,
            SourceConfig::Journald(j) => &j.topic,
        }
    }
}

/// `type: prometheus_scrape`: scrapes Prometheus/OpenMetrics pages; one
/// record per sample (at-least-once: samples are not checkpointed).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScrapeSourceConfig {
    /// URLs of the pages, e.g. `http://127.0.0.1:9100/metrics`.
    pub targets: Vec<String>,
    #[serde(default = "default_scrape_interval", with = "humantime_serde")]
    pub interval: Duration,
    /// A scrape taking longer fails (`up` 0); at most `interval`.
    #[serde(default = "default_scrape_timeout", with = "humantime_serde")]
    pub timeout: Duration,
    pub topic: String,
    /// Added to every sample (over labels of the same name on the page).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// TLS for https targets: `ca_file`, and `cert_file` + `key_file` for
    /// exporters that require a client certificate.
    #[serde(default)]
    pub tls: Option<TlsClientConfig>,
    /// `token` / `token_file` (bearer), or `username` with `password` /
    /// `password_file` (basic), sent to every target. The files (and the
    /// `tls` ones) are re-read on SIGHUP.
    #[serde(default)]
    pub auth: Option<HttpAuthConfig>,
}

/// `type: host_metrics`: this machine's CPU, memory, disks, filesystems,
/// network and uptime from /proc, one record per sample.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostMetricsSourceConfig {
    #[serde(default = "default_host_interval", with = "humantime_serde")]
    pub interval: Duration,
    pub topic: String,
    /// Added to every sample.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

/// `type: journald`: systemd-journald's entries, exactly once (checked
/// further in `source::journal::config`).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JournaldSourceConfig {
    /// A directory of journal files (e.g. a mounted remote host's); default
    /// the local system journal.
    #[serde(default)]
    pub journal_directory: Option<PathBuf>,
    /// Globs on `_SYSTEMD_UNIT`; empty: every unit (and entries of none).
    #[serde(default)]
    pub units: Vec<String>,
    #[serde(default)]
    pub exclude_units: Vec<String>,
    /// The least urgent level shipped (`emerg` .. `debug`, or 0..7).
    /// Default `info`.
    #[serde(default = "default_priority")]
    pub priority: Priority,
    /// Kernel messages (`_TRANSPORT=kernel`), whatever `units` says.
    /// Default true.
    #[serde(default = "default_true")]
    pub include_kernel: bool,
    /// Where the very first start begins (no checkpoint yet): `now` (the
    /// journal's current end; default) or `beginning`.
    #[serde(default = "default_since")]
    pub since: Since,
    pub topic: String,
    /// Added to every record as headers (or JSON fields).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// `text`: the value is `MESSAGE`; `json`: every field of the entry.
    #[serde(default = "default_encoding")]
    pub encoding: Encoding,
    /// Longer field values keep their first this-many bytes. Default 1MiB.
    #[serde(default = "default_max_line", deserialize_with = "size::deserialize")]
    pub max_field_bytes: u64,
    /// The `journalctl` the source runs. Default `journalctl` on `PATH`.
    #[serde(default = "default_journalctl")]
    pub journalctl: PathBuf,
}

/// A syslog level; lower is more urgent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Priority(pub u8);

const PRIORITY_NAMES: [&str; 8] = [
    "emerg", "alert", "crit", "err", "warning", "notice", "info", "debug",
];

impl<'de> Deserialize<'de> for Priority {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Priority, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(u8),
            S(String),
        }
        let n = match Raw::deserialize(d)? {
            Raw::N(n) => Some(n),
            Raw::S(s) => PRIORITY_NAMES
                .iter()
                .position(|p| *p == s)
                .map(|p| p as u8)
                .or_else(|| s.parse().ok()),
        };
        n.filter(|n| *n <= 7).map(Priority).ok_or_else(|| {
            serde::de::Error::custom(format!(
                "priority must be one of {} or 0..7",
                PRIORITY_NAMES.join(", ")
            ))
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Since {
    Now,
    Beginning,
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
    Kafka(KafkaSinkConfig),
}

impl SinkConfig {
    /// How sources cut their records into batches.
    pub fn batch(&self) -> &BatchConfig {
        match self {
            SinkConfig::Collector(c) => &c.batch,
            SinkConfig::Kafka(k) => &k.batch,
        }
    }

    /// The read-ahead bound across all sources (backpressure).
    pub fn max_buffered_bytes(&self) -> u64 {
        match self {
            SinkConfig::Collector(c) => c.max_buffered_bytes,
            SinkConfig::Kafka(k) => k.max_buffered_bytes,
        }
    }

    /// The codec of the batches sources hand the sink: the collector sink
    /// sends them as they are; the Kafka sink takes them uncompressed and
    /// librdkafka compresses its own batches.
    pub fn batch_compression(&self) -> Compression {
        match self {
            SinkConfig::Collector(c) => c.compression,
            SinkConfig::Kafka(_) => Compression::None,
        }
    }
}

/// `sink: {type: kafka}`: any Kafka-protocol cluster through librdkafka.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaSinkConfig {
    /// Bootstrap brokers, `host:port`.
    pub brokers: Vec<String>,
    /// `all` (default), `1` or `0`.
    #[serde(default = "default_acks")]
    pub acks: Acks,
    /// librdkafka's `compression.codec`.
    #[serde(default = "default_compression")]
    pub compression: Compression,
    /// librdkafka's idempotent producer (needs `acks: all`).
    #[serde(default = "default_true")]
    pub idempotence: bool,
    /// librdkafka's `linger.ms`.
    #[serde(default = "default_linger", with = "humantime_serde")]
    pub linger: Duration,
    /// How sources cut records into batches before handing them over.
    #[serde(default)]
    pub batch: BatchConfig,
    /// Backoff after a failed delivery or metadata request.
    #[serde(default)]
    pub retry: RetryConfig,
    #[serde(default = "default_buffer", deserialize_with = "size::deserialize")]
    pub max_buffered_bytes: u64,
    /// TLS to the brokers (`security.protocol` `ssl`, or `sasl_ssl` with
    /// `sasl`): `ca_file`, and `cert_file` + `key_file` for mutual TLS.
    #[serde(default)]
    pub tls: Option<TlsClientConfig>,
    /// SASL authentication: `mechanism` (PLAIN, SCRAM-SHA-256,
    /// SCRAM-SHA-512, OAUTHBEARER), `username`, `password` or
    /// `password_file`.
    #[serde(default)]
    pub sasl: Option<SaslConfig>,
    /// Any other librdkafka producer property, passed through as is (and
    /// winning over the settings above), e.g. `ssl.endpoint.identification.algorithm: none`.
    /// Values of secret properties (`sasl.password`, ...) print as `***`.
    #[serde(default)]
    pub options: KafkaOptions,
}

/// Producer acknowledgements.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Acks {
    /// Every in-sync replica (`all` or `-1`).
    All,
    /// The partition leader only (`1`).
    Leader,
    /// None at all (`0`): fire and forget.
    None,
}

impl<'de> Deserialize<'de> for Acks {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Acks, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            N(i64),
            S(String),
        }
        match Raw::deserialize(d)? {
            Raw::N(-1) => Ok(Acks::All),
            Raw::N(1) => Ok(Acks::Leader),
            Raw::N(0) => Ok(Acks::None),
            Raw::S(s) if s == "all" || s == "-1" => Ok(Acks::All),
            Raw::S(s) if s == "1" => Ok(Acks::Leader),
            Raw::S(s) if s == "0" => Ok(Acks::None),
            _ => Err(serde::de::Error::custom("acks must be all, 1 or 0")),
        }
    }
}

impl Compression {
    /// The codec's name, as librdkafka and Kafka spell it.
    pub fn as_str(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
            Compression::Lz4 => "lz4",
            Compression::Snappy => "snappy",
        }
    }
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
    /// The collector's HTTP address, e.g. `http://127.0.0.1:8080` or
    /// `https://collector.example:8443`.
    pub url: String,
    /// TLS for an https `url`: `ca_file` (the collector's CA; without it,
    /// the public roots), `cert_file` + `key_file` for mutual TLS.
    #[serde(default)]
    pub tls: Option<TlsClientConfig>,
    /// `token` (e.g. `"${LOGSHIP_TOKEN}"`) or `token_file`: sent as
    /// `Authorization: Bearer`. `token_file` and the `tls` files are re-read
    /// on SIGHUP (rotation without a restart).
    #[serde(default)]
    pub auth: Option<TokenAuthConfig>,
    /// The source address of connections to the collector (Fluent Bit's
    /// `net.source_address`): an IP address of this host, e.g. the one a
    /// firewall rule or the collector's per-address limits expect on a
    /// host with several. Default: the one the route picks.
    #[serde(default, deserialize_with = "ip_address")]
    pub local_address: Option<IpAddr>,
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
    /// Checks what serde cannot, and compiles the file sources' patterns.
    pub fn validate(&self) -> Result<ValidAgent, ConfigError> {
        let mut valid = ValidAgent::default();
        if self.sources.is_empty() {
            return Err(ConfigError::invalid(
                "agent.sources",
                "at least one source is needed",
            ));
        }
        for (name, source) in &self.sources {
            let at = |what: &str| format!("agent.sources.{name}.{what}");
            logship_common::topic::validate_topic_name(source.topic()).map_err(|error| {
                ConfigError::Topic {
                    key: at("topic"),
                    error,
                }
            })?;
            match source {
                SourceConfig::File(f) => {
                    valid.file_sources.insert(name.clone(), f.validate(&at)?);
                }
                SourceConfig::PrometheusScrape(p) => {
                    if p.targets.is_empty() {
                        return Err(ConfigError::invalid(
                            at("targets"),
                            "at least one URL is needed",
                        ));
                    }
                    for t in &p.targets {
                        check_http_url(&at("targets"), t)?;
                    }
                    if p.interval.is_zero() || p.timeout.is_zero() || p.timeout > p.interval {
                        return Err(ConfigError::invalid(
                            at("timeout"),
                            "interval and timeout must be positive, timeout at most interval",
                        ));
                    }
                }
                SourceConfig::HostMetrics(h) => {
                    if h.interval.is_zero() {
                        return Err(ConfigError::invalid(at("interval"), "must be positive"));
                    }
                }
                SourceConfig::Journald(j) => j.validate(&at)?,
            }
        }
        let batch = self.sink.batch();
        if batch.max_records == 0 || batch.max_bytes == 0 {
            return Err(ConfigError::invalid(
                "agent.sink.batch",
                "max_records and max_bytes must be positive",
            ));
        }
        if self.sink.max_buffered_bytes() < 2 * batch.max_bytes {
            return Err(ConfigError::BufferBelowTwoBatches {
                buffered: self.sink.max_buffered_bytes(),
                batch: batch.max_bytes,
            });
        }
        match &self.sink {
            SinkConfig::Collector(sink) => {
                check_http_url("agent.sink.url", &sink.url)?;
                if sink.max_in_flight == 0 {
                    return Err(ConfigError::BelowMinimum {
                        key: "agent.sink.max_in_flight".into(),
                        min: 1,
                    });
                }
            }
            SinkConfig::Kafka(k) => {
                if k.brokers.is_empty() {
                    return Err(ConfigError::invalid(
                        "agent.sink.brokers",
                        "at least one host:port is needed",
                    ));
                }
                if k.idempotence && k.acks != Acks::All {
                    return Err(ConfigError::invalid(
                        "agent.sink.acks",
                        "the idempotent producer needs acks: all (or set idempotence: false)",
                    ));
                }
            }
        }
        Ok(valid)
    }
}

/// A file source's patterns as validation compiled them; the source runs
/// with these.
#[derive(Debug, Clone)]
pub struct FilePatterns {
    pub globs: Globs,
    pub multiline: Option<regex::bytes::Regex>,
}

/// What [`AgentConfig::validate`] compiled, per source name.
#[derive(Debug, Clone, Default)]
pub struct ValidAgent {
    pub file_sources: BTreeMap<String, FilePatterns>,
}

impl FileSourceConfig {
    fn validate(&self, at: &dyn Fn(&str) -> String) -> Result<FilePatterns, ConfigError> {
        let f = self;
        if f.include.is_empty() {
            return Err(ConfigError::invalid(
                at("include"),
                "at least one glob is needed",
            ));
        }
        let globs = Globs::new(&f.include, &f.exclude).map_err(|error| ConfigError::Glob {
            key: at(error.list),
            error,
        })?;
        for (list, patterns) in [("include", &f.include), ("exclude", &f.exclude)] {
            if let Some(g) = patterns.iter().find(|g| !g.starts_with('/')) {
                return Err(ConfigError::RelativeGlob {
                    key: at(list),
                    pattern: g.clone(),
                });
            }
        }
        for k in f.labels.keys() {
            if matches!(k.as_str(), "host" | "path" | "offset") {
                return Err(ConfigError::ReservedLabel {
                    key: at("labels"),
                    label: k.clone(),
                });
            }
        }
        if f.max_line_bytes < 16 {
            return Err(ConfigError::invalid(
                at("max_line_bytes"),
                "must be at least 16 bytes",
            ));
        }
        let multiline = match &f.multiline {
            None => None,
            Some(m) => Some(regex::bytes::Regex::new(&m.start_pattern).map_err(|error| {
                ConfigError::Regex {
                    key: at("multiline.start_pattern"),
                    error,
                }
            })?),
        };
        Ok(FilePatterns { globs, multiline })
    }
}

/// `url`, the value of `key`, is an http(s) URL.
fn check_http_url(key: &str, url: &str) -> Result<(), ConfigError> {
    let u = reqwest::Url::parse(url).map_err(|error| ConfigError::Url {
        key: key.into(),
        url: url.into(),
        error,
    })?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(ConfigError::NotHttp {
            key: key.into(),
            url: url.into(),
        });
    }
    Ok(())
}
fn default_priority() -> Priority {
    Priority(6)
}
fn default_since() -> Since {
    Since::Now
}
fn default_journalctl() -> PathBuf {
    PathBuf::from("journalctl")
}
fn default_acks() -> Acks {
    Acks::All
}
fn default_scrape_interval() -> Duration {
    Duration::from_secs(15)
}
fn default_scrape_timeout() -> Duration {
    Duration::from_secs(10)
}
fn default_host_interval() -> Duration {
    Duration::from_secs(10)
}
fn default_true() -> bool {
    true
}
fn default_data_dir() -> PathBuf {
    PathBuf::from("./agent-data")
}
/// An IP address, and nothing else: a host name or `host:port` is refused
/// with what was written (addresses are not secrets).
fn ip_address<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<IpAddr>, D::Error> {
    let text = String::deserialize(d)?;
    text.parse().map(Some).map_err(|_| {
        serde::de::Error::custom(format!(
            "agent.sink.local_address: {text:?} is not an IP address (e.g. 10.0.0.5 or fd00::5; no host name, no port)"
        ))
    })
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

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn with_file_source(source: serde_json::Value) -> AgentConfig {
        serde_json::from_value(serde_json::json!({
            "sources": { "logs": source },
            "sink": { "type": "collector", "url": "http://127.0.0.1:8080" },
        }))
        .unwrap()
    }

    #[test]
    fn validation_returns_the_compiled_patterns_the_source_runs_with() {
        let c = with_file_source(serde_json::json!({
            "type": "file",
            "topic": "logs",
            "include": ["/var/log/*.log"],
            "exclude": ["/var/log/skip.log"],
            "multiline": { "start_pattern": "^\\d" },
        }));
        let valid = c.validate().unwrap();
        let p = &valid.file_sources["logs"];
        assert!(p.globs.matches(Path::new("/var/log/a.log")));
        assert!(!p.globs.matches(Path::new("/var/log/skip.log")));
        // `*` does not cross directories, as the tailer needs.
        assert!(!p.globs.matches(Path::new("/var/log/x/a.log")));
        assert!(p.multiline.as_ref().unwrap().is_match(b"1 start"));
    }

    #[test]
    fn pattern_errors_name_the_list_they_are_in() {
        let cases = [
            (
                serde_json::json!(["/var/log/[.log"]),
                serde_json::json!([]),
                "agent.sources.logs.include: ",
            ),
            (
                serde_json::json!(["/var/log/*.log"]),
                serde_json::json!(["/var/log/[.log"]),
                "agent.sources.logs.exclude: ",
            ),
            (
                serde_json::json!(["/var/log/*.log"]),
                serde_json::json!(["skip.log"]),
                "agent.sources.logs.exclude: \"skip.log\" must be an absolute path pattern",
            ),
            (
                serde_json::json!(["*.log"]),
                serde_json::json!([]),
                "agent.sources.logs.include: \"*.log\" must be an absolute path pattern",
            ),
        ];
        for (include, exclude, expected) in cases {
            let c = with_file_source(serde_json::json!({
                "type": "file",
                "topic": "logs",
                "include": include,
                "exclude": exclude,
            }));
            let err = c.validate().unwrap_err().to_string();
            assert!(err.starts_with(expected), "{err}");
        }
        let c = with_file_source(serde_json::json!({
            "type": "file",
            "topic": "logs",
            "include": ["/var/log/*.log"],
            "multiline": { "start_pattern": "(" },
        }));
        let err = c.validate().unwrap_err().to_string();
        assert!(
            err.starts_with("agent.sources.logs.multiline.start_pattern: "),
            "{err}"
        );
    }
}
