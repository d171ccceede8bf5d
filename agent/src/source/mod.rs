//! Where records come from. `file`: tail log files.
pub mod file;
pub mod metrics;
