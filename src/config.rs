//! The config file: one YAML schema for both roles. A file has a
//! `collector:` section, an `agent:` section, or both. Unknown keys are
//! rejected with their line and column.

use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::Deserialize;

use logship_agent::config::AgentConfig;
use logship_collector::config::CollectorConfig;

/// The built-in config `logship run` uses without `--config`.
pub const DEFAULT_CONFIG: &str = include_str!("../configs/default.yaml");

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    pub collector: Option<CollectorConfig>,
    pub agent: Option<AgentConfig>,
}

impl Config {
    pub fn parse(text: &str, origin: &str) -> Result<Config> {
        let config: Config =
            serde_yaml_ng::from_str(text).with_context(|| format!("invalid config {origin}"))?;
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
