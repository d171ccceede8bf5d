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
//! [`tokens`] and [`tls`] are not clients: `users` edits the collector's
//! SCRAM credentials file, `tokens` its HTTP bearer tokens file, `tls init`
//! makes certificates.

pub mod consume;
pub mod groups;
pub mod produce;
mod progress;
pub mod tls;
pub mod tokens;
pub mod topics;
pub mod users;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use logship_agent::security::{
    is_secret_property, kafka_properties, SaslConfig, SaslMechanism, SecretSource, TlsClientConfig,
};
use logship_common::secret::Secret;
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
    /// A file of librdkafka client properties, one `key=value` a line (`#`
    /// comments), as Kafka tools' --command-config and kcat's -F: the place
    /// for `sasl.password` and other secrets, which never belong in argv.
    #[arg(long, value_name = "FILE")]
    pub command_config: Option<PathBuf>,
    /// PEM CA certificate(s) to verify the brokers with; turns TLS on
    /// (`security.protocol` ssl, or sasl_ssl with --sasl-mechanism).
    #[arg(long, value_name = "FILE")]
    pub tls_ca_file: Option<PathBuf>,
    /// PEM client certificate for mutual TLS (with --tls-key-file).
    #[arg(long, value_name = "FILE", requires = "tls_key_file")]
    pub tls_cert_file: Option<PathBuf>,
    /// PEM private key of --tls-cert-file.
    #[arg(long, value_name = "FILE", requires = "tls_cert_file")]
    pub tls_key_file: Option<PathBuf>,
    /// SASL mechanism: PLAIN, SCRAM-SHA-256, SCRAM-SHA-512 or OAUTHBEARER.
    #[arg(long, value_name = "MECHANISM")]
    pub sasl_mechanism: Option<String>,
    /// SASL user name.
    #[arg(long, value_name = "NAME", requires = "sasl_mechanism")]
    pub sasl_username: Option<String>,
    /// A file holding the SASL password (alone, one trailing newline allowed).
    #[arg(long, value_name = "FILE", requires = "sasl_mechanism")]
    pub sasl_password_file: Option<PathBuf>,
    /// A librdkafka client property (as kcat's -X), e.g. `-X security.protocol=ssl`;
    /// repeatable. Applied last, so it overrides the command's own settings.
    #[arg(short = 'X', long = "client-property", value_name = "KEY=VALUE", value_parser = parse_key_value)]
    pub properties: Vec<(String, String)>,
}

impl Connection {
    /// A client config for the bootstrap servers with, in this order (later
    /// wins): the command's `settings`, the --command-config file, the TLS
    /// and SASL flags, and the user's `-X` properties.
    pub fn client_config(&self, settings: &[(&str, &str)]) -> Result<ClientConfig> {
        let mut config = ClientConfig::new();
        config.set("bootstrap.servers", &self.bootstrap_server);
        for (k, v) in settings {
            config.set(*k, *v);
        }
        if let Some(path) = &self.command_config {
            for (k, v) in read_properties(path)? {
                config.set(k, v);
            }
        }
        for (k, v) in self.security_properties()? {
            config.set(k, v.expose());
        }
        for (k, v) in &self.properties {
            if is_secret_property(k) {
                eprintln!(
                    "warning: -X {k}=... puts a secret in the command line (visible in ps and \
                     shell history); use --command-config FILE or --sasl-password-file"
                );
            }
            config.set(k, v);
        }
        Ok(config)
    }

    /// What the --tls-* and --sasl-* flags map to, as the agent's Kafka
    /// sink maps its `tls:` and `sasl:` blocks.
    fn security_properties(&self) -> Result<Vec<(&'static str, Secret)>> {
        let tls =
            (self.tls_ca_file.is_some() || self.tls_cert_file.is_some()).then(|| TlsClientConfig {
                ca_file: self.tls_ca_file.clone(),
                cert_file: self.tls_cert_file.clone(),
                key_file: self.tls_key_file.clone(),
            });
        let sasl = match &self.sasl_mechanism {
            None => None,
            Some(m) => {
                let mechanism = SaslMechanism::parse(m)
                    .map_err(|e| anyhow::anyhow!("--sasl-mechanism: {e}"))?;
                let password = self.sasl_password_file.clone().map(SecretSource::File);
                Some(
                    SaslConfig::new(mechanism, self.sasl_username.clone(), password)
                        .map_err(|e| anyhow::anyhow!("--sasl-*: {e}"))?,
                )
            }
        };
        kafka_properties(tls.as_ref(), sasl.as_ref())
            .map_err(|e| anyhow::anyhow!("sasl.password_file: {e}"))
    }
}

/// Reads a properties file: `key=value` lines (the value may hold `=`;
/// blanks around both are trimmed), `#` and `!` comments, blank lines.
/// Errors name the file and line, never a value.
pub fn read_properties(path: &Path) -> Result<Vec<(String, String)>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading --command-config {}", path.display()))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        match line.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                out.push((k.trim().to_owned(), v.trim().to_owned()))
            }
            _ => bail!("{}:{}: expected key=value", path.display(), n + 1),
        }
    }
    Ok(out)
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

    #[test]
    fn properties_files_read_like_kafkas() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("client.properties");
        std::fs::write(
            &path,
            "# comment\n! also\n\nsecurity.protocol = SASL_SSL\nsasl.password=a=b \n",
        )
        .unwrap();
        assert_eq!(
            read_properties(&path).unwrap(),
            [
                ("security.protocol".to_owned(), "SASL_SSL".to_owned()),
                ("sasl.password".to_owned(), "a=b".to_owned()),
            ]
        );
        std::fs::write(&path, "ok=1\nhunter2\n").unwrap();
        let e = format!("{:#}", read_properties(&path).unwrap_err());
        assert!(
            e.ends_with("client.properties:2: expected key=value"),
            "{e}"
        );
        assert!(!e.contains("hunter2"), "{e}");
    }
}
