//! Which entries ship: `units` / `exclude_units` globs on `_SYSTEMD_UNIT`,
//! the `priority` bound and `include_kernel`, decided here rather than by
//! journalctl's matches. journalctl ORs matches of one field and has no
//! globs for `_SYSTEMD_UNIT` (its `-u` also pulls in messages *about* the
//! unit from systemd itself), so in-process filtering is the only way to
//! give the documented meaning exactly; and seeing every entry keeps the
//! sequence numbers continuous, which is how lost entries are noticed
//! (`cursor`).

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::export::Entry;
use crate::config::JournaldSourceConfig;

/// Entries without `PRIORITY` are taken as `info` (journald's default for
/// stdout and most native messages).
const DEFAULT_PRIORITY: u8 = 6;

pub struct Filter {
    units: Option<GlobSet>,
    exclude: GlobSet,
    max_priority: u8,
    kernel: bool,
}

fn globs(patterns: &[String]) -> Result<GlobSet, String> {
    let mut b = GlobSetBuilder::new();
    for p in patterns {
        b.add(Glob::new(p).map_err(|e| format!("{p:?}: {e}"))?);
    }
    b.build().map_err(|e| e.to_string())
}

impl Filter {
    pub fn new(c: &JournaldSourceConfig) -> Result<Filter, String> {
        Ok(Filter {
            units: if c.units.is_empty() {
                None
            } else {
                Some(globs(&c.units)?)
            },
            exclude: globs(&c.exclude_units)?,
            max_priority: c.priority.0,
            kernel: c.include_kernel,
        })
    }

    /// Whether `e` ships. Kernel messages (no unit) follow `include_kernel`
    /// alone; others must match `units` (when given) and not
    /// `exclude_units`; all must be at least as urgent as `priority`.
    pub fn accepts(&self, e: &Entry) -> bool {
        let priority = e
            .text(b"PRIORITY")
            .and_then(|p| p.parse::<u8>().ok())
            .unwrap_or(DEFAULT_PRIORITY);
        if priority > self.max_priority {
            return false;
        }
        if e.get(b"_TRANSPORT").is_some_and(|t| t == "kernel") {
            return self.kernel;
        }
        match e.text(b"_SYSTEMD_UNIT") {
            Some(unit) => {
                self.units.as_ref().is_none_or(|u| u.is_match(unit)) && !self.exclude.is_match(unit)
            }
            None => self.units.is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{Priority, SourceConfig};

    fn entry(fields: &[(&str, &str)]) -> Entry {
        Entry {
            fields: fields
                .iter()
                .map(|(k, v)| super::super::export::Field {
                    name: bytes::Bytes::copy_from_slice(k.as_bytes()),
                    value: bytes::Bytes::copy_from_slice(v.as_bytes()),
                })
                .collect(),
            ..Entry::default()
        }
    }

    fn config(yaml: &str) -> JournaldSourceConfig {
        match serde_json::from_str::<SourceConfig>(yaml).unwrap() {
            SourceConfig::Journald(j) => j,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn units_excludes_priority_and_kernel() {
        let f = Filter::new(&config(
            r#"{"type": "journald", "topic": "t", "units": ["nginx*", "ssh.service"], "exclude_units": ["nginx-debug.service"], "priority": "warning", "include_kernel": true}"#,
        ))
        .unwrap();
        let unit = |u: &str, p: &str| entry(&[("_SYSTEMD_UNIT", u), ("PRIORITY", p)]);
        assert!(f.accepts(&unit("nginx.service", "4")));
        assert!(f.accepts(&unit("ssh.service", "0")));
        assert!(
            !f.accepts(&unit("ssh.service", "5")),
            "less urgent than warning"
        );
        assert!(!f.accepts(&unit("nginx-debug.service", "3")), "excluded");
        assert!(!f.accepts(&unit("cron.service", "3")), "not in units");
        assert!(
            !f.accepts(&entry(&[("PRIORITY", "3")])),
            "no unit, units given"
        );
        let kernel = entry(&[("_TRANSPORT", "kernel"), ("PRIORITY", "2")]);
        assert!(f.accepts(&kernel));
        let f = Filter::new(&config(
            r#"{"type": "journald", "topic": "t", "include_kernel": false}"#,
        ))
        .unwrap();
        assert!(!f.accepts(&kernel));
        assert!(f.accepts(&entry(&[("MESSAGE", "no unit, no priority")])));
        assert!(
            !f.accepts(&entry(&[("PRIORITY", "7")])),
            "debug is below info"
        );
    }

    #[test]
    fn priorities_by_name_or_number() {
        assert_eq!(
            config(r#"{"type": "journald", "topic": "t"}"#).priority,
            Priority(6)
        );
        assert_eq!(
            config(r#"{"type": "journald", "topic": "t", "priority": "err"}"#).priority,
            Priority(3)
        );
        assert_eq!(
            config(r#"{"type": "journald", "topic": "t", "priority": 7}"#).priority,
            Priority(7)
        );
        assert!(serde_json::from_str::<SourceConfig>(
            r#"{"type": "journald", "topic": "t", "priority": "loud"}"#
        )
        .is_err());
        assert!(serde_json::from_str::<SourceConfig>(
            r#"{"type": "journald", "topic": "t", "priority": 8}"#
        )
        .is_err());
    }
}
