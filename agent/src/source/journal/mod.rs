//! The `journald` source: systemd-journald's entries, shipped exactly once.
//!
//! **How the journal is read.** The source runs `journalctl --follow
//! --output=export` as a supervised child process (`reader`) and parses its
//! output (`export`), rather than linking libsystemd's sd-journal through a
//! crate. Why:
//! - the agent stays one statically-linkable binary with no libsystemd at
//!   build or run time, and the packages need no new dependency (every
//!   systemd machine has journalctl; elsewhere config validation says it is
//!   missing);
//! - journalctl is the journal's reference reader: it copes with every
//!   file format version, compression (zstd, lz4, xz), rotation, new files
//!   appearing in the directory, and corrupt or truncated files (it skips
//!   what it cannot read and says so on stderr, which is logged here), so
//!   the agent does not carry its own copy of that logic, and `--directory`
//!   reads any directory of journal files (`journal_directory`) exactly as
//!   the system journal;
//! - a fault in reading the journal stays in the child: it is restarted
//!   from the last entry read, with backoff;
//! - the cost is one process and the export encoding, which is cheap to
//!   parse (length-prefixed binary fields, no escaping) and which the
//!   benchmark in bench/ measures against journalctl alone.
//!
//! The Rust sd-journal bindings (the `systemd` crate, `sd-journal`) are
//! thin FFI layers that would still need libsystemd at run time and offer
//! nothing journalctl's cursor flags do not.
//!
//! **Position.** An entry's cursor places it; the checkpoint is the cursor
//! of the last acknowledged entry, and reading resumes from it with
//! `--cursor` (the reader drops that entry itself, and notices when the
//! journal no longer has it: see `reader` and `cursor`).
//!
//! **Filters** are applied in-process (`filter`) and **records** built from
//! entries in `record`.

pub mod cursor;
pub mod export;
pub mod filter;
pub mod make;
pub mod reader;
pub mod record;
pub mod source;

use std::path::{Path, PathBuf};

use crate::config::JournaldSourceConfig;
use crate::error::ConfigError;

/// Header names every journal record may carry; labels cannot reuse them.
pub const RESERVED_HEADERS: [&str; 6] = ["host", "unit", "priority", "pid", "boot_id", "cursor"];

impl JournaldSourceConfig {
    /// Checks what serde cannot (called by `AgentConfig::validate`).
    pub(crate) fn validate(&self, at: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        for (what, globs) in [
            ("units", &self.units),
            ("exclude_units", &self.exclude_units),
        ] {
            for g in globs.iter() {
                globset::Glob::new(g).map_err(|error| ConfigError::UnitGlob {
                    key: at(what),
                    pattern: g.clone(),
                    error,
                })?;
            }
        }
        if let Some(k) = self
            .labels
            .keys()
            .find(|k| RESERVED_HEADERS.contains(&k.as_str()))
        {
            return Err(ConfigError::ReservedJournalLabel {
                key: at("labels"),
                label: k.clone(),
            });
        }
        if self.max_field_bytes < 64 {
            return Err(ConfigError::invalid(
                at("max_field_bytes"),
                "must be at least 64 bytes",
            ));
        }
        if self
            .journal_directory
            .as_ref()
            .is_some_and(|d| d.as_os_str().is_empty())
        {
            return Err(ConfigError::invalid(
                at("journal_directory"),
                "must not be empty",
            ));
        }
        find_program(&self.journalctl).map_err(|error| ConfigError::Program {
            key: at("journalctl"),
            error,
        })?;
        Ok(())
    }

    pub fn reader_config(&self) -> reader::ReaderConfig {
        reader::ReaderConfig {
            journalctl: self.journalctl.clone(),
            directory: self.journal_directory.clone(),
            max_field_bytes: self.max_field_bytes as usize,
        }
    }
}

/// journalctl cannot be found or run.
#[derive(Debug, thiserror::Error)]
pub enum ProgramNotFound {
    #[error("{} is not an executable file; the journald source runs journalctl to read the journal", .0.display())]
    NotExecutable(PathBuf),
    #[error("{} is not on PATH; the journald source runs it to read the journal (it comes with systemd), or set its path", .0.display())]
    NotOnPath(PathBuf),
}

/// The executable `program` names: itself when it has a `/`, else the first
/// match on `PATH`.
pub fn find_program(program: &Path) -> Result<PathBuf, ProgramNotFound> {
    use std::os::unix::fs::PermissionsExt;
    let runnable = |p: &Path| {
        std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    };
    if program.components().count() > 1 || program.is_absolute() {
        return if runnable(program) {
            Ok(program.to_path_buf())
        } else {
            Err(ProgramNotFound::NotExecutable(program.to_path_buf()))
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| runnable(p))
        .ok_or_else(|| ProgramNotFound::NotOnPath(program.to_path_buf()))
}

#[cfg(test)]
mod tests {
    use crate::config::SourceConfig;

    fn check(json: &str) -> Result<(), String> {
        match serde_json::from_str::<SourceConfig>(json).unwrap() {
            SourceConfig::Journald(j) => j
                .validate(&|w| format!("agent.sources.j.{w}"))
                .map_err(|e| e.to_string()),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn validation_names_the_bad_field() {
        check(r#"{"type": "journald", "topic": "t"}"#).unwrap();
        let e =
            check(r#"{"type": "journald", "topic": "t", "journalctl": "/nonexistent/journalctl"}"#)
                .unwrap_err();
        assert!(
            e.starts_with(
                "agent.sources.j.journalctl: /nonexistent/journalctl is not an executable file"
            ),
            "{e}"
        );
        let e = check(r#"{"type": "journald", "topic": "t", "journalctl": "no-such-journalctl"}"#)
            .unwrap_err();
        assert!(e.contains("no-such-journalctl is not on PATH"), "{e}");
        let e = check(r#"{"type": "journald", "topic": "t", "units": ["a[b"]}"#).unwrap_err();
        assert!(e.starts_with("agent.sources.j.units: \"a[b\""), "{e}");
        let e =
            check(r#"{"type": "journald", "topic": "t", "labels": {"unit": "x"}}"#).unwrap_err();
        assert!(e.contains("\"unit\" is a header"), "{e}");
        let e = check(r#"{"type": "journald", "topic": "t", "max_field_bytes": 10}"#).unwrap_err();
        assert!(e.contains("max_field_bytes: must be at least 64"), "{e}");
        assert!(serde_json::from_str::<SourceConfig>(
            r#"{"type": "journald", "topic": "t", "since": "yesterday"}"#
        )
        .is_err());
    }
}
