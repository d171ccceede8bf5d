//! logship collector: persists topic partitions as a Kafka-style commit log.
//!
//! Module map:
//! - [`auth`]: authentication and authorization, free of I/O: principals
//!   and the mTLS subject mapping, the SASL (PLAIN, SCRAM) server exchange,
//!   the SCRAM credentials file, ACLs and Kafka's authorizer semantics.
//! - [`storage`]: the on-disk log. `batch` (RecordBatch v2 header view and
//!   validation, from `logship_common`), `index` (sparse offset and time indexes), `segment` (one
//!   `.log` with its indexes), `partition` (append, read, roll, retention),
//!   `group_commit` (appenders sharing fsyncs), `loader` (start-up and crash recovery), `topic`
//!   (topic configs and the atomic metadata file), `mod.rs` (`Storage`,
//!   the log manager: topics, partitions, background retention).
//! - [`server`] (accept loop per listener, TLS handshake), [`connection`]
//!   (frames, in-order responses, idle and request-read timeouts),
//!   [`sendfile`] (record sets from segment files to plaintext sockets),
//!   [`session`] (a connection's listener, peer and principal),
//!   [`limits`] (max connections, overall and per IP), [`handler`] (one
//!   file per Kafka API, and `pre_auth.rs`, the SASL gate before
//!   authentication), [`broker`] (what handlers share).
//! - [`tls`]: certificates from PEM files into rustls, reloaded on SIGHUP.
//! - [`group`]: the consumer group coordinator (state machine, durable
//!   committed offsets).
//! - [`config`]: the collector's YAML section, validated into runtime values.
//! - [`http`]: the HTTP API: record ingest (`ingest`, `body`, `ndjson`),
//!   admin JSON (`admin`), errors as JSON (`error`), `/metrics`,
//!   `/healthz`, `/readyz`.
//! - [`metrics`]: the collector's Prometheus registry (`logship_collector_*`).
//! - [`service`]: runs the collector role (storage, maintenance, listeners).
//! - [`error`]: the crate's error type and its Kafka error codes.

pub mod auth;
pub mod broker;
pub mod config;
pub mod connection;
pub mod error;
pub mod group;
pub mod handler;
pub mod http;
pub mod limits;
pub mod metrics;
pub mod sendfile;
pub mod server;
pub mod service;
pub mod session;
pub mod storage;
pub mod tls;

pub use error::StorageError;
