//! Where records come from. `file`: tail log files; `journal`: the
//! systemd journal; `metrics`: scrapes and host metrics.
pub mod file;
pub mod journal;
pub mod metrics;
