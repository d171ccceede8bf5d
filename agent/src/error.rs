//! The agent library's error types. Each variant names what failed and on
//! what (a config key, a path, a directory, an address), so a log line or
//! the binary's exit message stands on its own; [`Error::kind`] is the
//! `kind` label of `logship_agent_errors_total`.
//!
//! [`ConfigError`] is a config the agent refuses (from validation, or from
//! a `tls:`/`auth:`/`sasl:` block while parsing); [`ClientSetupError`] is a
//! valid config whose client cannot be built (a file it names, librdkafka
//! refusing a property). Neither ever holds a secret's value: secret files
//! are named by path, librdkafka properties by name.
//!
//! Inner errors sit in fields named `error`, printed by the outer message
//! and not exposed as `source()`, so a printed chain says each thing once.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use logship_common::secret::SecretFileError;

use crate::security::SaslMechanism;
use crate::sink::SinkError;
use crate::source::file::GlobError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The agent's configuration was refused (the message says which key).
    #[error("{0}")]
    Config(ConfigError),
    #[error("opening {path}: {error}")]
    Open { path: PathBuf, error: io::Error },
    #[error("reading {path}: {error}")]
    Read { path: PathBuf, error: io::Error },
    #[error("opening checkpoints in {dir}: {error}")]
    CheckpointOpen { dir: PathBuf, error: io::Error },
    #[error("writing checkpoints: {0}")]
    CheckpointWrite(io::Error),
    /// A stream's checkpoint was removed while it was followed.
    #[error("the checkpoint of {path} vanished")]
    CheckpointGone { path: PathBuf },
    /// The sink could not be set up.
    #[error("setting up the sink: {0}")]
    SinkSetup(ClientSetupError),
    /// A sink request that the agent cannot go on without failed.
    #[error("{doing}: {error}")]
    Sink {
        doing: &'static str,
        error: SinkError,
    },
    #[error("encoding a batch: {0}")]
    Encode(io::Error),
    #[error("binding the agent HTTP listener {addr}: {error}")]
    Listen { addr: SocketAddr, error: io::Error },
    /// A scrape target did not answer (it is counted in
    /// `scrape_errors_total`, and sends `up` 0).
    #[error("scraping {target}: {error}")]
    ScrapeRequest {
        target: String,
        error: reqwest::Error,
    },
    #[error("scraping {target}: HTTP {status}")]
    ScrapeStatus { target: String, status: u16 },
    #[error("parsing the page of {target}: {error}")]
    ScrapeParse {
        target: String,
        error: crate::source::metrics::exposition::ParseError,
    },
    /// A blocking helper task panicked or was cancelled.
    #[error("background task: {0}")]
    Task(#[from] tokio::task::JoinError),
}

impl Error {
    /// The `kind` label this error is counted under in
    /// `logship_agent_errors_total` (docs/metrics.md lists them).
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Config(_) => "config",
            Error::Open { .. } => "open",
            Error::Read { .. } => "read",
            Error::CheckpointOpen { .. }
            | Error::CheckpointWrite(_)
            | Error::CheckpointGone { .. } => "checkpoint",
            Error::SinkSetup(_) | Error::Sink { .. } => "sink",
            Error::Encode(_) => "encode",
            Error::ScrapeRequest { .. }
            | Error::ScrapeStatus { .. }
            | Error::ScrapeParse { .. } => "scrape",
            Error::Listen { .. } | Error::Task(_) => "internal",
        }
    }
}

/// A config the agent refuses. `key` is where in the config, e.g.
/// `agent.sources.app.include` (or the block, `tls` / `auth` / `sasl`,
/// for mistakes found while parsing, which the parser prefixes with the
/// file, line and column).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A value breaking a rule that `reason` states.
    #[error("{key}: {reason}")]
    Invalid { key: String, reason: &'static str },
    #[error("{key} must be at least {min}")]
    BelowMinimum { key: String, min: u64 },
    #[error("agent.sink.max_buffered_bytes ({buffered}) must be at least twice batch.max_bytes ({batch})")]
    BufferBelowTwoBatches { buffered: u64, batch: u64 },
    #[error("{key}: {error}")]
    Topic {
        key: String,
        error: logship_common::topic::InvalidTopicName,
    },
    #[error("{key}: {url:?}: {error}")]
    Url {
        key: String,
        url: String,
        error: url::ParseError,
    },
    #[error("{key}: {url:?} is not http(s)")]
    NotHttp { key: String, url: String },
    /// A file source's glob that does not compile.
    #[error("{key}: {error}")]
    Glob { key: String, error: GlobError },
    #[error("{key}: {pattern:?} must be an absolute path pattern")]
    RelativeGlob { key: String, pattern: String },
    #[error("{key}: {label:?} is a header every record already has")]
    ReservedLabel { key: String, label: String },
    #[error("{key}: {error}")]
    Regex { key: String, error: regex::Error },
    /// `token` and `token_file` (or `password` and `password_file`).
    #[error("{key} and {key}_file: give one, not both")]
    SecretTwice { key: &'static str },
    #[error("{key} is empty")]
    EmptySecret { key: &'static str },
    #[error("sasl: {} needs username and password (or password_file)", .mechanism.as_str())]
    SaslCredentials { mechanism: SaslMechanism },
    #[error(
        "unknown SASL mechanism {name:?} (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER)"
    )]
    UnknownSaslMechanism { name: String },
    /// A journald source's `units` / `exclude_units` glob.
    #[error("{key}: {pattern:?}: {error}")]
    UnitGlob {
        key: String,
        pattern: String,
        error: globset::Error,
    },
    #[error("{key}: {label:?} is a header journal records already have")]
    ReservedJournalLabel { key: String, label: String },
    /// journalctl (or the configured program) cannot be run.
    #[error("{key}: {error}")]
    Program {
        key: String,
        error: crate::source::journal::ProgramNotFound,
    },
}

impl ConfigError {
    pub(crate) fn invalid(key: impl Into<String>, reason: &'static str) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            reason,
        }
    }
}

/// A client (the sink's, or a scrape source's) that cannot be built from
/// its valid config. `at` is the config block (`agent.sink`,
/// `agent.sources.NAME`); `key` a key in it (`agent.sink.tls.ca_file`).
#[derive(Debug, thiserror::Error)]
pub enum ClientSetupError {
    #[error("{at}.tls is set but {url:?} is not https://: use an https URL")]
    TlsWithoutHttps { at: String, url: String },
    #[error("{key}: reading {}: {error}", path.display())]
    ReadTlsFile {
        key: String,
        path: PathBuf,
        error: io::Error,
    },
    /// reqwest's error describes the PEM, never quotes it.
    #[error("{key} {}: {error}", path.display())]
    CaCertificates {
        key: String,
        path: PathBuf,
        error: reqwest::Error,
    },
    #[error("{key} {}: no PEM certificate in it", path.display())]
    NoCaCertificate { key: String, path: PathBuf },
    #[error("{at}.tls: client certificate {} and key {}: {error}", cert.display(), key.display())]
    ClientIdentity {
        at: String,
        cert: PathBuf,
        key: PathBuf,
        error: reqwest::Error,
    },
    /// A `token_file` / `password_file` that cannot be used.
    #[error("{key}: {error}")]
    SecretFile { key: String, error: SecretFileError },
    #[error("{at}.auth: the credentials hold characters an HTTP header cannot")]
    HeaderValue { at: String },
    #[error("agent.sink.local_address {addr}: not an address this host can connect from: {error}")]
    LocalAddress {
        addr: std::net::IpAddr,
        error: io::Error,
    },
    #[error("{at}: building the HTTP client: {error}")]
    HttpClient { at: String, error: reqwest::Error },
    /// librdkafka refused a property. `reason` is its message, left out
    /// (replaced) for secret properties, as it may quote the value.
    #[error("agent.sink: creating the Kafka producer: librdkafka refused property {property:?}: {reason}")]
    KafkaProperty { property: String, reason: String },
    #[error("agent.sink: creating the Kafka producer: {error}")]
    KafkaProducer { error: rdkafka::error::KafkaError },
}
