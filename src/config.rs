//! The config file: one YAML schema for both roles. A file has a
//! `collector:` section, an `agent:` section, or both. Unknown keys are
//! rejected with their line and column. `${VAR}` and `${VAR:-default}` are
//! replaced from the environment first ([`interpolate`]).
//!
//! YAML is read by serde_yaml_ng, the maintained fork of the archived
//! serde_yaml (same API and libyaml-based parser, errors with line and
//! column).

mod interpolate;

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use logship_agent::config::AgentConfig;
use logship_collector::config::CollectorConfig;

/// The built-in config `logship run` uses without `--config`.
pub const DEFAULT_CONFIG: &str = include_str!("../configs/quickstart.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub collector: Option<CollectorConfig>,
    pub agent: Option<AgentConfig>,
}

impl Config {
    /// Parses `text`, read from `origin` (a path, for messages), with
    /// `${VAR}` taken from the process environment.
    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        Config::parse_with_env(text, origin, |name| std::env::var(name).ok())
    }

    /// [`Config::parse`] with variables from `lookup`. Errors that have a
    /// position read `ORIGIN:LINE:COLUMN: message`.
    pub fn parse_with_env(
        text: &str,
        origin: &str,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config> {
        let text = interpolate::interpolate(text, lookup).map_err(|e| {
            anyhow::anyhow!(
                "invalid config {origin}:{}:{}: {}",
                e.line,
                e.column,
                e.message
            )
        })?;
        let config: Config = serde_yaml_ng::from_str(&text).map_err(|e| match e.location() {
            Some(at) => {
                anyhow::anyhow!("invalid config {origin}:{}:{}: {e}", at.line(), at.column())
            }
            None => anyhow::anyhow!("invalid config {origin}: {e}"),
        })?;
        if config.collector.is_none() && config.agent.is_none() {
            bail!("config {origin} has no `collector:` or `agent:` section; nothing to run");
        }
        if let Some(c) = &config.collector {
            c.validate()
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("invalid config {origin}"))?;
        }
        if let Some(a) = &config.agent {
            a.validate()
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("invalid config {origin}"))?;
        }
        Ok(config)
    }

    /// The embedded quick-start config. On a machine without journalctl
    /// (no systemd) its journal source is left out, with a warning, rather
    /// than failing validation: the quick start should run anywhere.
    pub fn embedded_default() -> Result<Config> {
        let journalctl = std::path::Path::new("journalctl");
        if let Err(e) = logship_agent::source::journal::find_program(journalctl) {
            let mut doc: serde_yaml_ng::Value =
                serde_yaml_ng::from_str(DEFAULT_CONFIG).context("the embedded default config")?;
            if let Some(sources) = doc
                .get_mut("agent")
                .and_then(|a| a.get_mut("sources"))
                .and_then(|s| s.as_mapping_mut())
            {
                sources.retain(|_, source| {
                    source.get("type").and_then(|t| t.as_str()) != Some("journald")
                });
            }
            tracing::warn!(reason = %e, "no journal source: this machine has no journalctl");
            let text = serde_yaml_ng::to_string(&doc).context("the embedded default config")?;
            return Config::parse(&text, "(embedded default)");
        }
        Config::parse(DEFAULT_CONFIG, "(embedded default)")
    }

    pub fn load(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config {}", path.display()))?;
        Config::parse(&text, &path.display().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_config_is_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("configs");
        let mut n = 0;
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "yaml") {
                Config::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
                n += 1;
            }
        }
        assert!(n >= 2);
    }

    #[test]
    fn unknown_keys_report_line_and_column() {
        let err =
            Config::parse("collector:\n  data_dir: x\n  colour: blue\n", "t.yaml").unwrap_err();
        let msg = format!("{err:#}");
        assert!(msg.contains("colour"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
    }

    #[test]
    fn yaml_errors_start_with_file_line_and_column() {
        let msg = format!(
            "{:#}",
            Config::parse("collector:\n  data_dir: x\n  colour: blue\n", "t.yaml").unwrap_err()
        );
        assert!(msg.starts_with("invalid config t.yaml:3:3: "), "{msg}");
        let msg = format!(
            "{:#}",
            Config::parse(
                "collector:\n  data_dir: x\n  http: {listen: \"a\n",
                "t.yaml"
            )
            .unwrap_err()
        );
        assert!(msg.starts_with("invalid config t.yaml:4:1: "), "{msg}");
        assert!(msg.contains("quoted scalar"), "{msg}");
    }

    #[test]
    fn variables_are_interpolated_before_parsing() {
        let env = |name: &str| (name == "DATA").then(|| "/srv/data".to_owned());
        let text = "collector:\n  data_dir: ${DATA}\n  http:\n    listen: ${LISTEN:-127.0.0.1:0}\n";
        let config = Config::parse_with_env(text, "t.yaml", env).unwrap();
        let collector = config.collector.unwrap();
        assert_eq!(collector.data_dir, Path::new("/srv/data"));

        let text = "collector:\n  data_dir: x\n  http:\n    listen: ${LISTEN}\n";
        let msg = format!(
            "{:#}",
            Config::parse_with_env(text, "t.yaml", env).unwrap_err()
        );
        assert!(msg.starts_with("invalid config t.yaml:4:13: "), "{msg}");
        assert!(msg.contains("`LISTEN` is not set"), "{msg}");
    }

    #[test]
    fn interpolated_durations_are_checked_like_written_ones() {
        let env = |name: &str| (name == "EVERY").then(|| "often".to_owned());
        let text = "collector:\n  storage:\n    flush_interval: ${EVERY}\n";
        let msg = format!(
            "{:#}",
            Config::parse_with_env(text, "t.yaml", env).unwrap_err()
        );
        assert!(msg.contains("invalid duration"), "{msg}");
        assert!(msg.contains("t.yaml:3:"), "{msg}");
    }

    #[test]
    fn bad_durations_and_topic_defaults_are_rejected() {
        let err =
            Config::parse("collector:\n  storage:\n    flush_interval: soon\n", "t").unwrap_err();
        assert!(format!("{err:#}").contains("invalid duration"));
        let err = Config::parse(
            "collector:\n  defaults:\n    configs:\n      retention.ms: forever\n",
            "t",
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("retention.ms"));
    }
}
