//! What logship's two roles share, so the agent and the collector agree by
//! construction rather than by copies kept in step.
//!
//! Module map:
//! - [`batch`]: the Kafka RecordBatch v2 header read in place, its
//!   validation (CRC-32C, counts) and base offset rewrite; `encode` builds
//!   batches for tests, tools and NDJSON ingest.
//! - [`ingest`]: the HTTP ingest contract: content types, the answers'
//!   JSON bodies and the error body with its codes and HTTP statuses.
//! - [`fs`]: atomic file replacement (temp + fsync + rename + directory
//!   fsync) and directory fsync.
//! - [`time`], [`host`]: wall-clock milliseconds, this machine's name.
//! - [`units`]: serde helpers for config durations (`"5s"`) and sizes
//!   (`"64MiB"`).
//! - [`topic`]: Kafka's topic name rule.
//! - [`metrics`]: the Prometheus text exposition served on `/metrics`.
//! - [`secret`]: a password or token whose `Debug` and `Display` print
//!   `***`.

pub mod batch;
pub mod fs;
pub mod host;
pub mod ingest;
pub mod metrics;
pub mod secret;
pub mod time;
pub mod topic;
pub mod units;
