//! Kafka client subcommands: `topics` (create, list, describe, delete),
//! `produce` (stdin lines to records), `consume` (records to stdout, alone or
//! in a consumer group) and `groups` (list, describe, delete, reset-offsets).
//!
//! They talk the Kafka protocol through rdkafka, so they work against a
//! logship collector and a Kafka cluster alike, and keep the habits of
//! `kafka-topics.sh`, `kafka-console-{producer,consumer}.sh` and
//! `kafka-consumer-groups.sh`.
//!
//! Module map: [`topics`], [`produce`], [`consume`], [`groups`]; this file holds what
//! they share (the connection flags and client configuration). [`users`]
//! is not a client: it edits the collector's SCRAM credentials file.

pub mod consume;
pub mod groups;
pub mod produce;
mod progress;
pub mod topics;
pub mod users;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use rdkafka::error::KafkaError;
use rdkafka::ClientConfig;

/// How long a metadata or admin request may take before the command gives
/// up (an unreachable broker otherwise keeps librdkafka retrying forever).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The connection flags every client subcommand takes.
#[derive(Args, Debug, Clone)]
pub struct Connection {
    /// Kafka bootstrap server(s), HOST:PORT[,HOST:PORT...].
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:9092")]
    pub bootstrap_server: String,
    /// A librdkafka client property (as kcat's -X), e.g. `-X security.protocol=ssl`;
    /// repeatable. Applied last, so it overrides the command's own settings.
    #[arg(short = 'X', long = "client-property", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub properties: Vec<(String, String)>,
}

impl Connection {
    /// A client config for the bootstrap servers with `settings` and then the
    /// user's `-X` properties applied.
    pub fn client_config(&self, settings: &[(&str, &str)]) -> ClientConfig {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_server);
        for (k, v) in settings {
            config.set(*k, *v);
        }
        for (k, v) in &self.properties {
            config.set(k, v);
        }
        config
    }
}

/// Parses `KEY=VALUE` (the value may itself contain `=`).
pub fn parse_key_value(s: &str) -> Result<(String, String)> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_owned(), v.to_owned())),
        _ => bail!("expected KEY=VALUE, got {s:?}"),
    }
}

/// rdkafka's errors print their code and also return it as their source, so
/// the `error: a: b: c` chain printed at exit would say it twice: this keeps
/// the message only. Use as `.map_err(kafka)?` before adding context.
pub fn kafka(e: KafkaError) -> anyhow::Error {
    anyhow::anyhow!("{e}")
}

/// A single-threaded runtime for a command: rdkafka drives its own threads,
/// the runtime only awaits their results and Ctrl-C.
pub fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_splits_at_the_first_equals_sign() {
        assert_eq!(
            parse_key_value("a=b=c").unwrap(),
            ("a".to_owned(), "b=c".to_owned())
        );
        assert_eq!(
            parse_key_value("retention.ms=").unwrap(),
            ("retention.ms".to_owned(), String::new())
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=v").is_err());
    }
}
