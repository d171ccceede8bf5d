//! logship edge agent: follows log files and the systemd journal and ships
//! every line and entry to a collector exactly once (docs/design.md,
//! "Exactly-once").
//!
//! - `config`: the `agent:` YAML section.
//! - `source/file`: discovery (globs, inotify, rescans), file identity and
//!   what happened to a file (`identity`), line cutting (`lines`,
//!   `reader`), one tailer per file (`tailer`).
//! - `source/journal`: the systemd journal through a supervised
//!   `journalctl` (`reader`), its export format (`export`), filters,
//!   records, and the one journal stream (`source`).
//! - `stream`: shipping one stream of records exactly once, whatever the
//!   source: resuming from the sink's producer state, the read-ahead
//!   budget, batching, and the send/acknowledge loop that moves the
//!   checkpoint.
//! - `batch`: lines -> Kafka RecordBatch v2 with producer fields, compressed.
//! - `sink/collector`: HTTP POST to the collector, retries with backoff.
//! - `checkpoint`: per-stream identity, acknowledged offset (a journal's
//!   cursor) and sequence.
//! - `partitioner`: Kafka's murmur2 default partitioner.
//! - `security`: TLS, tokens and SASL for outgoing connections (`tls:`,
//!   `auth:`, `sasl:` config blocks; HTTP clients, librdkafka properties).
//! - `http`, `metrics`: `/metrics` (`logship_agent_*`) and `/healthz`.
//! - `service`: wires it together and runs until shutdown.
//! - `error`: the library's error type; its `kind` labels the errors metric.

pub mod batch;
pub mod checkpoint;
pub mod config;
pub mod error;
pub mod http;
pub mod metrics;
pub mod partitioner;
pub mod security;
pub mod service;
pub mod sink;
pub mod source;
pub mod stream;
