//! The agent library's error type. Each variant names what failed and on
//! what (a path, a directory, an address), so a log line or the binary's
//! exit message stands on its own; [`Error::kind`] is the `kind` label of
//! `logship_agent_errors_total`.

use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::sink::SinkError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The agent's configuration was refused (the message says which key).
    #[error("{0}")]
    Config(String),
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
    SinkSetup(String),
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
