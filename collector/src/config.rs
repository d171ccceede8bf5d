//! The `collector:` section of the YAML config: raw serde structs that reject
//! unknown keys, then [`CollectorConfig::validate`] into runtime values.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use logship_common::units::{humantime_serde, size};
use serde::Deserialize;

use crate::auth::{AclRuleConfig, Authorizer, PrincipalMapper, SaslMechanism};
use crate::http::auth::HttpAuthConfig;
use crate::session::SecurityProtocol;
use crate::storage::{FlushPolicy, StorageOptions, TopicConfig};
use crate::tls::TlsConfig;

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
    /// ACL rules (Kafka's model; see docs/security.md): when any rule is
    /// given, what no rule allows is denied. Default none: everything is
    /// allowed. Reloaded on SIGHUP.
    #[serde(default)]
    pub acls: Vec<AclRuleConfig>,
    /// Principals (`User:NAME`) allowed everything, ACLs or not. Reloaded
    /// on SIGHUP.
    #[serde(default)]
    pub super_users: Vec<String>,
    #[serde(default)]
    pub auth: AuthConfig,
}

/// `collector.auth`: where SASL users come from.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthConfig {
    /// The SASL credentials file that `logship users` manages (salted
    /// SCRAM keys, mode 0600). Read at start-up when a `sasl_*` listener
    /// exists, and again on SIGHUP. Default `<data_dir>/credentials.json`.
    #[serde(default)]
    pub credentials_file: Option<PathBuf>,
}

impl CollectorConfig {
    /// The credentials file: `auth.credentials_file`, or the default one in
    /// `data_dir`.
    pub fn credentials_file(&self) -> PathBuf {
        crate::auth::credentials::path(&self.data_dir, self.auth.credentials_file.as_deref())
    }
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

/// The Kafka protocol listeners and their connection limits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KafkaConfig {
    /// Shorthand for one plaintext listener named `plaintext`. Default
    /// `127.0.0.1:9092` when `listeners` is empty; not allowed with it.
    #[serde(default)]
    pub listen: Option<SocketAddr>,
    /// `host:port` clients of the shorthand listener are told to connect
    /// to (Metadata). Default: the listen address (the host name when
    /// listening on all interfaces).
    #[serde(default)]
    pub advertised: Option<String>,
    /// Named listeners, Kafka style: each with its own address, advertised
    /// address and security protocol.
    #[serde(default)]
    pub listeners: Vec<ListenerConfig>,
    /// Largest request accepted (Kafka's `socket.request.max.bytes`); a
    /// bigger length prefix closes the connection. Default `100MiB`.
    #[serde(
        default = "default_max_request",
        deserialize_with = "size::deserialize"
    )]
    pub max_request_bytes: u64,
    /// Open connections over all listeners (Kafka's `max.connections`);
    /// more are closed as soon as they are accepted. Default 4096.
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Open connections from one IP address (Kafka's
    /// `max.connections.per.ip`). Default 1024.
    #[serde(default = "default_max_connections_per_ip")]
    pub max_connections_per_ip: u32,
    /// A connection with no request for this long is closed (Kafka's
    /// `connections.max.idle.ms`). Default `10m`.
    #[serde(default = "default_max_idle", with = "humantime_serde")]
    pub connections_max_idle: Duration,
    /// Once a request's first byte has arrived, the whole request must
    /// arrive within this (a client trickling bytes is closed); it bounds
    /// the TLS handshake too. Default `30s`.
    #[serde(default = "default_request_read_timeout", with = "humantime_serde")]
    pub request_read_timeout: Duration,
    /// A failed SASL authentication is answered, and its connection closed,
    /// this much later (Kafka's `connection.failed.authentication.delay.ms`),
    /// so guessing passwords is slow; other connections are not held up.
    /// `0s` answers at once. Default `100ms`.
    #[serde(default = "default_failed_auth_delay", with = "humantime_serde")]
    pub failed_authentication_delay: Duration,
    /// Kafka's `ssl.principal.mapping.rules`: how the subject of a client
    /// certificate on an `ssl` listener becomes the principal `User:NAME`,
    /// e.g. `RULE:^CN=([^,]+),.*$/$1/,DEFAULT`. Default `DEFAULT`: the
    /// whole subject in RFC 2253 form (`CN=app,O=acme`). A certificate no
    /// rule matches is refused. Reloaded on SIGHUP.
    #[serde(default = "default_mapping_rules")]
    pub ssl_principal_mapping_rules: String,
}

fn default_mapping_rules() -> String {
    "DEFAULT".to_owned()
}

/// One entry of `collector.kafka.listeners`.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ListenerConfig {
    /// Letters, digits, `_` and `-`; unique. Used in logs and metric labels.
    pub name: String,
    /// Address to bind, e.g. `127.0.0.1:9093` (`0.0.0.0:9093` for every
    /// interface).
    pub listen: SocketAddr,
    /// `host:port` that clients connecting here are told to use.
    #[serde(default)]
    pub advertised: Option<String>,
    /// `plaintext` (default), `ssl`, `sasl_plaintext` or `sasl_ssl`.
    #[serde(default)]
    pub security: SecurityProtocol,
    /// Certificate, key and client CA; required for `ssl` and `sasl_ssl`.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// On `sasl_*` listeners: the mechanisms offered (Kafka's
    /// `sasl.enabled.mechanisms`), from `PLAIN`, `SCRAM-SHA-256`,
    /// `SCRAM-SHA-512`. Default: all three.
    #[serde(default)]
    pub sasl_mechanisms: Option<Vec<String>>,
}

impl Default for KafkaConfig {
    fn default() -> Self {
        KafkaConfig {
            listen: None,
            advertised: None,
            listeners: Vec::new(),
            max_request_bytes: default_max_request(),
            max_connections: default_max_connections(),
            max_connections_per_ip: default_max_connections_per_ip(),
            connections_max_idle: default_max_idle(),
            request_read_timeout: default_request_read_timeout(),
            failed_authentication_delay: default_failed_auth_delay(),
            ssl_principal_mapping_rules: default_mapping_rules(),
        }
    }
}

impl KafkaConfig {
    /// The listeners to bind: `listeners`, or the `listen` shorthand.
    pub fn effective_listeners(&self) -> Vec<ListenerConfig> {
        if !self.listeners.is_empty() {
            return self.listeners.clone();
        }
        vec![ListenerConfig {
            name: "plaintext".to_owned(),
            listen: self.listen.unwrap_or_else(default_kafka_listen),
            advertised: self.advertised.clone(),
            security: SecurityProtocol::Plaintext,
            tls: None,
            sasl_mechanisms: None,
        }]
    }

    fn validate(&self) -> Result<Vec<ValidListener>, String> {
        if !self.listeners.is_empty() && (self.listen.is_some() || self.advertised.is_some()) {
            return Err("collector.kafka: write either listen/advertised (one plaintext listener) or listeners, not both".to_owned());
        }
        let mut names = std::collections::BTreeSet::new();
        let mut addrs = std::collections::BTreeSet::new();
        let mut valid = Vec::new();
        for l in self.effective_listeners() {
            let at = format!("collector.kafka.listeners[{}]", l.name);
            let valid_name = !l.name.is_empty()
                && l.name.len() <= 64
                && l.name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !valid_name {
                return Err(format!("collector.kafka.listeners: invalid name {:?}: use 1 to 64 letters, digits, '_' or '-'", l.name));
            }
            if !names.insert(l.name.clone()) {
                return Err(format!(
                    "collector.kafka.listeners: the name {:?} is used twice",
                    l.name
                ));
            }
            if l.listen.port() != 0 && !addrs.insert(l.listen) {
                return Err(format!("{at}: {} is used by another listener", l.listen));
            }
            let at_advertised = if self.listeners.is_empty() {
                "collector.kafka.advertised".to_owned()
            } else {
                format!("{at}.advertised")
            };
            let advertised = match &l.advertised {
                Some(adv) => {
                    Some(parse_host_port(adv).map_err(|e| format!("{at_advertised}: {e}"))?)
                }
                None => None,
            };
            let sasl_mechanisms = validate_mechanisms(&at, l.security, &l.sasl_mechanisms)?;
            match (&l.tls, l.security.tls()) {
                (Some(tls), true) => tls.validate(&at)?,
                (None, true) => {
                    return Err(format!(
                        "{at}: security {} needs a tls block (cert_file, key_file)",
                        l.security.name()
                    ))
                }
                (Some(_), false) => {
                    return Err(format!(
                        "{at}: a tls block needs security ssl or sasl_ssl (this listener is {})",
                        l.security.name()
                    ))
                }
                (None, false) => {}
            }
            valid.push(ValidListener {
                name: l.name,
                listen: l.listen,
                advertised,
                security: l.security,
                tls: l.tls,
                sasl_mechanisms,
            });
        }
        if self.max_connections == 0 || self.max_connections_per_ip == 0 {
            return Err(
                "collector.kafka: max_connections and max_connections_per_ip must be at least 1"
                    .to_owned(),
            );
        }
        if self.connections_max_idle.is_zero() || self.request_read_timeout.is_zero() {
            return Err(
                "collector.kafka: connections_max_idle and request_read_timeout must be greater than zero"
                    .to_owned(),
            );
        }
        Ok(valid)
    }
}

/// A listener's `sasl_mechanisms`: only on SASL listeners, known names,
/// at least one, no repeats; all three when not given.
fn validate_mechanisms(
    at: &str,
    security: SecurityProtocol,
    names: &Option<Vec<String>>,
) -> Result<Vec<SaslMechanism>, String> {
    let Some(names) = names else {
        return Ok(if security.sasl() {
            SaslMechanism::ALL.to_vec()
        } else {
            Vec::new()
        });
    };
    if !security.sasl() {
        return Err(format!(
            "{at}: sasl_mechanisms needs security sasl_plaintext or sasl_ssl (this listener is {})",
            security.name()
        ));
    }
    let mut mechanisms = Vec::new();
    for name in names {
        let m = SaslMechanism::from_name(name).ok_or_else(|| {
            format!("{at}.sasl_mechanisms: unknown mechanism {name:?} (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)")
        })?;
        if mechanisms.contains(&m) {
            return Err(format!("{at}.sasl_mechanisms: {name} is listed twice"));
        }
        mechanisms.push(m);
    }
    if mechanisms.is_empty() {
        return Err(format!("{at}.sasl_mechanisms: list at least one mechanism"));
    }
    Ok(mechanisms)
}

/// `host:port` into its parts.
fn parse_host_port(text: &str) -> Result<(String, u16), String> {
    text.rsplit_once(':')
        .filter(|(h, _)| !h.is_empty())
        .and_then(|(h, p)| Some((h.to_owned(), p.parse::<u16>().ok()?)))
        .ok_or_else(|| format!("{text:?} is not host:port"))
}

fn default_max_connections() -> u32 {
    4096
}
fn default_max_connections_per_ip() -> u32 {
    1024
}
fn default_max_idle() -> Duration {
    Duration::from_secs(600)
}
fn default_request_read_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_failed_auth_delay() -> Duration {
    Duration::from_millis(100)
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
    /// Memory that all ingest requests together may hold for their bodies
    /// and decompressed bodies; a request that does not fit waits briefly,
    /// then gets 503. At least twice `max_body_bytes` (a gzip body and its
    /// output). Default: `256MiB` or twice `max_body_bytes`, the larger.
    #[serde(default, deserialize_with = "size_option")]
    pub max_inflight_bytes: Option<u64>,
    /// Serve HTTPS: certificate, key and optional client CA.
    #[serde(default)]
    pub tls: Option<TlsConfig>,
    /// Authentication: bearer tokens and client certificates (see
    /// docs/security.md). Absent: every request is allowed.
    #[serde(default)]
    pub auth: Option<HttpAuthConfig>,
    /// Connections open at once; one more is closed on accept. Default 1024.
    #[serde(default = "default_http_max_connections")]
    pub max_connections: u32,
}

fn default_http_max_connections() -> u32 {
    1024
}

fn size_option<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    size::deserialize(d).map(Some)
}

impl HttpConfig {
    pub fn effective_max_inflight_bytes(&self) -> u64 {
        self.max_inflight_bytes
            .unwrap_or((256u64 << 20).max(self.max_body_bytes.saturating_mul(2)))
    }
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            listen: default_http_listen(),
            max_body_bytes: default_max_body(),
            max_inflight_bytes: None,
            tls: None,
            auth: None,
            max_connections: default_http_max_connections(),
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
    /// How often the log cleaner looks for a compacted partition to clean.
    /// Default `15s`.
    #[serde(default = "default_cleaner_interval", with = "humantime_serde")]
    pub cleaner_interval: Duration,
    /// Memory for the cleaner's key map, bytes (Kafka's
    /// `log.cleaner.dedupe.buffer.size`); about 40 bytes per distinct key.
    /// Default 128 MiB.
    #[serde(default = "default_cleaner_dedupe_buffer")]
    pub cleaner_dedupe_buffer_bytes: u64,
    /// Cap on the cleaner's disk reads plus writes, bytes per second, at
    /// least 1 MiB/s. Default: no cap (as Kafka's
    /// `log.cleaner.io.max.bytes.per.second`); the cleaner runs at the
    /// lowest CPU priority instead, so foreground work comes first.
    #[serde(default)]
    pub cleaner_io_bytes_per_sec: Option<u64>,
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            flush: FlushMode::Always,
            flush_interval: default_flush_interval(),
            retention_check_interval: default_retention_check(),
            cleaner_interval: default_cleaner_interval(),
            cleaner_dedupe_buffer_bytes: default_cleaner_dedupe_buffer(),
            cleaner_io_bytes_per_sec: None,
        }
    }
}

fn default_cleaner_interval() -> Duration {
    crate::storage::cleaner::CleanerOptions::default().interval
}
fn default_cleaner_dedupe_buffer() -> u64 {
    crate::storage::cleaner::CleanerOptions::default().dedupe_buffer_bytes as u64
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
            auth: AuthConfig::default(),
            acls: Vec::new(),
            super_users: Vec::new(),
        }
    }
}

/// What [`CollectorConfig::validate`] checked, in the types the collector
/// runs with.
#[derive(Debug, Clone)]
pub struct ValidCollector {
    pub storage: StorageOptions,
    /// The Kafka listeners to bind (`kafka.listen` as one plaintext
    /// listener when `kafka.listeners` is empty).
    pub listeners: Vec<ValidListener>,
    pub authorizer: Authorizer,
    pub principal_mapper: PrincipalMapper,
}

/// A checked Kafka listener.
#[derive(Debug, Clone)]
pub struct ValidListener {
    pub name: String,
    pub listen: SocketAddr,
    /// `advertised` as host and port, when set.
    pub advertised: Option<(String, u16)>,
    pub security: SecurityProtocol,
    /// Present exactly when `security` is `ssl` or `sasl_ssl`.
    pub tls: Option<TlsConfig>,
    /// The mechanisms offered; empty exactly when `security` is not SASL.
    pub sasl_mechanisms: Vec<SaslMechanism>,
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
        let listeners = self.kafka.validate()?;
        if !(1..=MAX_HTTP_BODY_BYTES).contains(&self.http.max_body_bytes) {
            return Err(format!(
                "collector.http.max_body_bytes: must be between 1 byte and {MAX_HTTP_BODY_BYTES} bytes (2GiB - 1)"
            ));
        }
        let inflight = self.http.effective_max_inflight_bytes();
        if inflight < self.http.max_body_bytes.saturating_mul(2) {
            return Err(format!(
                "collector.http.max_inflight_bytes: {inflight} bytes is less than twice max_body_bytes ({} bytes): a gzip body and its output could never fit",
                self.http.max_body_bytes
            ));
        }
        if self.http.max_connections == 0 {
            return Err("collector.http.max_connections: must be at least 1".to_owned());
        }
        if let Some(auth) = &self.http.auth {
            auth.validate(self.http.tls.as_ref())?;
        }
        if let Some(tls) = &self.http.tls {
            tls.validate("collector.http")?;
        }
        if self.storage.flush_interval.is_zero()
            || self.storage.retention_check_interval.is_zero()
            || self.storage.cleaner_interval.is_zero()
        {
            return Err("collector.storage: intervals must be greater than zero".to_owned());
        }
        if self.storage.cleaner_dedupe_buffer_bytes < 1 << 20
            || self.storage.cleaner_dedupe_buffer_bytes > 1 << 40
        {
            return Err(
                "collector.storage.cleaner_dedupe_buffer_bytes: must be between 1 MiB and 1 TiB"
                    .to_owned(),
            );
        }
        if self
            .storage
            .cleaner_io_bytes_per_sec
            .is_some_and(|cap| cap < 1 << 20)
        {
            return Err(
                "collector.storage.cleaner_io_bytes_per_sec: must be at least 1 MiB/s".to_owned(),
            );
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
            cleaner: crate::storage::cleaner::CleanerOptions {
                interval: self.storage.cleaner_interval,
                dedupe_buffer_bytes: self.storage.cleaner_dedupe_buffer_bytes as usize,
                io_bytes_per_sec: self.storage.cleaner_io_bytes_per_sec,
            },
        };
        let (authorizer, principal_mapper) = self.access()?;
        Ok(ValidCollector {
            storage,
            listeners,
            authorizer,
            principal_mapper,
        })
    }

    /// `acls`, `super_users` and `kafka.ssl_principal_mapping_rules`,
    /// validated: what a SIGHUP reload puts in force. Errors name the
    /// key (and the rule's 1-based index).
    pub fn access(&self) -> Result<(Authorizer, PrincipalMapper), String> {
        let authorizer =
            Authorizer::from_config(&self.acls, &self.super_users).map_err(|e| e.to_string())?;
        let mapper = PrincipalMapper::parse(&self.kafka.ssl_principal_mapping_rules)
            .map_err(|e| format!("collector.kafka.ssl_principal_mapping_rules: {e}"))?;
        Ok((authorizer, mapper))
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
            valid.listeners[0].advertised,
            Some(("logs.example.com".to_owned(), 19092))
        );
        let valid = parse("{}").unwrap().validate().unwrap();
        assert_eq!(valid.listeners[0].advertised, None);
        for bad in ["nohost", ":9092", "h:99999", "h:port"] {
            let c = parse(&format!("kafka:\n  advertised: \"{bad}\"\n")).unwrap();
            let err = c.validate().unwrap_err();
            assert!(err.contains("collector.kafka.advertised"), "{bad}: {err}");
        }
    }

    #[test]
    fn listen_is_the_shorthand_for_one_plaintext_listener() {
        let c = parse("data_dir: /tmp/x\n").unwrap();
        let l = c.kafka.effective_listeners();
        assert_eq!(l.len(), 1);
        assert_eq!(l[0].listen, "127.0.0.1:9092".parse().unwrap());
        assert_eq!(l[0].security, SecurityProtocol::Plaintext);
        let c = parse("kafka:\n  listen: 0.0.0.0:9000\n  advertised: h:9000\n").unwrap();
        let l = c.kafka.effective_listeners();
        assert_eq!(
            (l[0].name.as_str(), l[0].advertised.as_deref()),
            ("plaintext", Some("h:9000"))
        );
    }

    #[test]
    fn named_listeners_parse_and_are_validated() {
        let yaml = "kafka:\n  listeners:\n    - { name: internal, listen: 127.0.0.1:9092 }\n    - name: external\n      listen: 0.0.0.0:9093\n      advertised: kafka.example.com:9093\n      security: ssl\n      tls: { cert_file: s.pem, key_file: s.key, ca_file: ca.pem, client_auth: requested }\n";
        let c = parse(yaml).unwrap();
        c.validate().unwrap();
        let l = c.kafka.effective_listeners();
        assert_eq!(l[1].security, SecurityProtocol::Ssl);
        let tls = l[1].tls.as_ref().unwrap();
        assert_eq!(tls.client_auth(), crate::tls::ClientAuth::Requested);
        let err = |yaml: &str| parse(yaml).unwrap().validate().unwrap_err();
        assert!(err(
            "kafka:\n  listen: 127.0.0.1:1\n  listeners: [{ name: a, listen: 127.0.0.1:2 }]\n"
        )
        .contains("not both"));
        assert!(err("kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2 }, { name: a, listen: 127.0.0.1:3 }]\n").contains("used twice"));
        assert!(err("kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2 }, { name: b, listen: 127.0.0.1:2 }]\n").contains("used by another"));
        assert!(
            err("kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2, security: ssl }]\n")
                .contains("needs a tls block")
        );
        assert!(err("kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2, tls: { cert_file: c, key_file: k } }]\n").contains("needs security ssl"));
        assert!(
            err("kafka:\n  listeners: [{ name: 'a b', listen: 127.0.0.1:2 }]\n")
                .contains("invalid name")
        );
        assert!(err("kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2, security: ssl, tls: { cert_file: c, key_file: k, client_auth: required } }]\n").contains("needs ca_file"));
        assert!(err("kafka:\n  max_connections_per_ip: 0\n").contains("at least 1"));
        let sasl =
            "kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2, security: sasl_plaintext }]\n";
        assert_eq!(
            parse(sasl).unwrap().kafka.listeners[0].security,
            SecurityProtocol::SaslPlaintext
        );
        let valid = parse(sasl).unwrap().validate().unwrap();
        assert_eq!(valid.listeners[0].sasl_mechanisms, SaslMechanism::ALL);
        let only = "kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2, security: sasl_ssl, sasl_mechanisms: [SCRAM-SHA-512], tls: { cert_file: c, key_file: k } }]\n";
        let valid = parse(only).unwrap().validate().unwrap();
        assert_eq!(
            valid.listeners[0].sasl_mechanisms,
            [SaslMechanism::Scram(crate::auth::ScramMechanism::Sha512)]
        );
        assert!(err("kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2, security: sasl_plaintext, sasl_mechanisms: [GSSAPI] }]\n").contains("unknown mechanism \"GSSAPI\""));
        assert!(err("kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2, security: sasl_plaintext, sasl_mechanisms: [] }]\n").contains("at least one"));
        assert!(err("kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2, security: sasl_plaintext, sasl_mechanisms: [PLAIN, PLAIN] }]\n").contains("twice"));
        assert!(err(
            "kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2, sasl_mechanisms: [PLAIN] }]\n"
        )
        .contains("needs security sasl"));
        let c = parse("kafka:\n  failed_authentication_delay: 250ms\nauth:\n  credentials_file: /etc/x.json\n").unwrap();
        assert_eq!(
            c.kafka.failed_authentication_delay,
            Duration::from_millis(250)
        );
        assert_eq!(c.credentials_file(), PathBuf::from("/etc/x.json"));
        let c = parse("data_dir: /d\n").unwrap();
        assert_eq!(
            c.kafka.failed_authentication_delay,
            Duration::from_millis(100)
        );
        assert_eq!(c.credentials_file(), PathBuf::from("/d/credentials.json"));
        assert!(
            parse("kafka:\n  listeners: [{ name: a, listen: 127.0.0.1:2, security: tls }]\n")
                .is_err()
        );
    }

    #[test]
    fn acls_super_users_and_mapping_rules_are_validated() {
        let c = parse("super_users: ['User:admin']\nacls:\n  - { principal: 'User:a', resource: topic, name: t, operations: [write] }\nkafka:\n  ssl_principal_mapping_rules: 'RULE:^CN=([^,]+).*$/$1/L,DEFAULT'\n").unwrap();
        let v = c.validate().unwrap();
        assert!(v.authorizer.is_enforcing());
        assert_eq!(
            v.principal_mapper.name_for("CN=Bob,O=x").as_deref(),
            Some("bob")
        );
        let v = parse("{}").unwrap().validate().unwrap();
        assert!(!v.authorizer.is_enforcing());
        assert_eq!(
            v.principal_mapper.name_for("CN=a,O=b").as_deref(),
            Some("CN=a,O=b")
        );
        let err = |yaml: &str| parse(yaml).unwrap().validate().unwrap_err();
        let e = err("acls:\n  - { principal: 'User:a', resource: topic, name: t, operations: [read] }\n  - { principal: 'User:a', resource: group, name: g, operations: [write] }\n");
        assert!(
            e.contains("collector.acls[2]") && e.contains("no write"),
            "{e}"
        );
        assert!(err("super_users: [admin]\n").contains("collector.super_users"));
        assert!(err("kafka:\n  ssl_principal_mapping_rules: 'RULE:(/x'\n")
            .contains("collector.kafka.ssl_principal_mapping_rules"));
        assert!(parse("acls:\n  - { principal: 'User:a', resource: topic, name: t, operations: [read], host: '*' }\n").is_err());
    }

    #[test]
    fn http_inflight_budget_defaults_and_must_hold_two_bodies() {
        let c = parse("http:\n  max_body_bytes: 200MiB\n").unwrap();
        assert_eq!(c.http.effective_max_inflight_bytes(), 400 << 20);
        assert_eq!(
            CollectorConfig::default()
                .http
                .effective_max_inflight_bytes(),
            256 << 20
        );
        let c = parse("http:\n  max_body_bytes: 64MiB\n  max_inflight_bytes: 100MiB\n").unwrap();
        assert!(c.validate().unwrap_err().contains("max_inflight_bytes"));
    }
}
