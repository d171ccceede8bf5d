//! The collector's Prometheus metrics, all named `logship_collector_*` and
//! registered in one [`Registry`] that `/metrics` renders. Labels are bounded:
//! `topic` (operator-created) and fixed enums, never offsets or clients.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

/// Every metric the collector exports.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub storage: StorageMetrics,
    pub kafka: KafkaMetrics,
    pub http: HttpMetrics,
    pub groups: GroupMetrics,
    pub security: SecurityMetrics,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let storage = StorageMetrics::register(&registry);
        let kafka = KafkaMetrics::register(&registry);
        let http = HttpMetrics::register(&registry);
        let groups = GroupMetrics::register(&registry);
        let security = SecurityMetrics::register(&registry);
        Metrics {
            registry,
            storage,
            kafka,
            http,
            groups,
            security,
        }
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn render(&self) -> String {
        logship_common::metrics::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Storage-layer metrics (collector/src/storage).
#[derive(Clone)]
pub struct StorageMetrics {
    appended_bytes: IntCounterVec,
    appended_batches: IntCounterVec,
    appended_records: IntCounterVec,
    segments: IntGaugeVec,
    log_size: IntGaugeVec,
    pub append_errors: IntCounterVec,
    pub fsyncs: IntCounter,
    pub fsync_seconds: Histogram,
    pub recovery_truncations: IntCounter,
    pub recovery_truncated_bytes: IntCounter,
    pub retention_deleted_segments: IntCounter,
    pub topic_config_changes: IntCounter,
    pub delete_records: IntCounter,
    pub delete_records_deleted_segments: IntCounter,
    pub partitions: IntGauge,
    pub cleaner: CleanerMetrics,
}

/// Log cleaner metrics (collector/src/storage/cleaner.rs). No per-partition
/// labels: the dirty ratio is the largest over compacted partitions.
#[derive(Clone)]
pub struct CleanerMetrics {
    pub runs: IntCounter,
    pub errors: IntCounter,
    pub read_bytes: IntCounter,
    pub written_bytes: IntCounter,
    pub removed_bytes: IntCounter,
    pub removed_records: IntCounter,
    pub last_run_seconds: prometheus::Gauge,
    pub max_dirty_ratio: prometheus::Gauge,
}

impl CleanerMetrics {
    pub fn register(r: &Registry) -> Self {
        CleanerMetrics {
            runs: reg(
                r,
                IntCounter::new(
                    "logship_collector_cleaner_runs_total",
                    "Partition cleanings completed.",
                )
                .unwrap(),
            ),
            errors: reg(
                r,
                IntCounter::new(
                    "logship_collector_cleaner_errors_total",
                    "Partition cleanings that failed.",
                )
                .unwrap(),
            ),
            read_bytes: reg(
                r,
                IntCounter::new(
                    "logship_collector_cleaner_read_bytes_total",
                    "Log bytes read by the cleaner.",
                )
                .unwrap(),
            ),
            written_bytes: reg(
                r,
                IntCounter::new(
                    "logship_collector_cleaner_written_bytes_total",
                    "Cleaned segment bytes written.",
                )
                .unwrap(),
            ),
            removed_bytes: reg(
                r,
                IntCounter::new(
                    "logship_collector_cleaner_removed_bytes_total",
                    "Log bytes removed by cleaning.",
                )
                .unwrap(),
            ),
            removed_records: reg(
                r,
                IntCounter::new(
                    "logship_collector_cleaner_removed_records_total",
                    "Records removed by cleaning (superseded, expired tombstones, keyless).",
                )
                .unwrap(),
            ),
            last_run_seconds: reg(
                r,
                prometheus::Gauge::new(
                    "logship_collector_cleaner_last_run_duration_seconds",
                    "Duration of the last partition cleaning.",
                )
                .unwrap(),
            ),
            max_dirty_ratio: reg(
                r,
                prometheus::Gauge::new(
                    "logship_collector_cleaner_max_dirty_ratio",
                    "Largest dirty ratio over compacted partitions at the last cleaner pass.",
                )
                .unwrap(),
            ),
        }
    }
}

/// One topic's children of the per-topic families, resolved once so the
/// append path does no label lookups.
#[derive(Clone)]
pub struct TopicMetrics {
    pub appended_bytes: IntCounter,
    pub appended_batches: IntCounter,
    pub appended_records: IntCounter,
    pub segments: IntGauge,
    pub log_size: IntGauge,
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, m: T) -> T {
    registry
        .register(Box::new(m.clone()))
        .expect("metric names are unique");
    m
}

impl StorageMetrics {
    pub fn register(r: &Registry) -> Self {
        let topic = &["topic"];
        StorageMetrics {
            appended_bytes: reg(r, IntCounterVec::new(Opts::new("logship_collector_log_appended_bytes_total", "Bytes of record batches appended to the log."), topic).unwrap()),
            appended_batches: reg(r, IntCounterVec::new(Opts::new("logship_collector_log_appended_batches_total", "Record batches appended to the log."), topic).unwrap()),
            appended_records: reg(r, IntCounterVec::new(Opts::new("logship_collector_log_appended_records_total", "Records appended to the log (from batch headers)."), topic).unwrap()),
            segments: reg(r, IntGaugeVec::new(Opts::new("logship_collector_log_segments", "Log segments on disk."), topic).unwrap()),
            log_size: reg(r, IntGaugeVec::new(Opts::new("logship_collector_log_size_bytes", "Bytes of log segments on disk."), topic).unwrap()),
            append_errors: reg(r, IntCounterVec::new(Opts::new("logship_collector_log_append_errors_total", "Appends refused, by reason (corrupt, too_large, unknown_partition, io)."), &["reason"]).unwrap()),
            fsyncs: reg(r, IntCounter::new("logship_collector_log_fsyncs_total", "fsync calls on log segments (group commit shares one among concurrent appenders).").unwrap()),
            fsync_seconds: reg(r, Histogram::with_opts(HistogramOpts::new("logship_collector_log_fsync_duration_seconds", "Latency of one log fsync.").buckets(vec![0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0])).unwrap()),
            recovery_truncations: reg(r, IntCounter::new("logship_collector_log_recovery_truncations_total", "Segments cut at a torn or corrupt batch during start-up recovery.").unwrap()),
            recovery_truncated_bytes: reg(r, IntCounter::new("logship_collector_log_recovery_truncated_bytes_total", "Bytes cut from segments during start-up recovery.").unwrap()),
            retention_deleted_segments: reg(r, IntCounter::new("logship_collector_log_retention_deleted_segments_total", "Segments deleted by retention.").unwrap()),
            topic_config_changes: reg(r, IntCounter::new("logship_collector_log_topic_config_changes_total", "Topic config alterations applied (AlterConfigs, IncrementalAlterConfigs).").unwrap()),
            delete_records: reg(r, IntCounter::new("logship_collector_log_delete_records_total", "Log start offsets advanced by DeleteRecords.").unwrap()),
            delete_records_deleted_segments: reg(r, IntCounter::new("logship_collector_log_delete_records_deleted_segments_total", "Segments deleted because DeleteRecords moved the log start offset past them.").unwrap()),
            partitions: reg(r, IntGauge::new("logship_collector_log_partitions", "Partitions hosted.").unwrap()),
            cleaner: CleanerMetrics::register(r),
        }
    }

    pub fn topic(&self, topic: &str) -> TopicMetrics {
        TopicMetrics {
            appended_bytes: self.appended_bytes.with_label_values(&[topic]),
            appended_batches: self.appended_batches.with_label_values(&[topic]),
            appended_records: self.appended_records.with_label_values(&[topic]),
            segments: self.segments.with_label_values(&[topic]),
            log_size: self.log_size.with_label_values(&[topic]),
        }
    }

    /// Drops a deleted topic's series.
    pub fn remove_topic(&self, topic: &str) {
        let _ = self.appended_bytes.remove_label_values(&[topic]);
        let _ = self.appended_batches.remove_label_values(&[topic]);
        let _ = self.appended_records.remove_label_values(&[topic]);
        let _ = self.segments.remove_label_values(&[topic]);
        let _ = self.log_size.remove_label_values(&[topic]);
    }

    pub fn append_error(&self, reason: &str) {
        self.append_errors.with_label_values(&[reason]).inc();
    }
}

/// Kafka protocol server metrics (collector/src/server.rs, connection.rs, handler/).
#[derive(Clone)]
pub struct KafkaMetrics {
    pub connections: IntGauge,
    pub connections_total: IntCounter,
    requests: IntCounterVec,
    request_seconds: prometheus::HistogramVec,
    request_errors: IntCounterVec,
    partition_errors: IntCounterVec,
    pub produced_bytes: IntCounter,
    pub fetched_bytes: IntCounter,
    pub fetch_sendfile_bytes: IntCounter,
    pub listener_connections: IntGaugeVec,
    connections_refused: IntCounterVec,
    connection_timeouts: IntCounterVec,
}

impl KafkaMetrics {
    pub fn register(r: &Registry) -> Self {
        KafkaMetrics {
            connections: reg(r, IntGauge::new("logship_collector_kafka_connections", "Open Kafka protocol connections.").unwrap()),
            connections_total: reg(r, IntCounter::new("logship_collector_kafka_connections_total", "Kafka protocol connections accepted.").unwrap()),
            requests: reg(r, IntCounterVec::new(Opts::new("logship_collector_kafka_requests_total", "Kafka requests handled, by API."), &["api"]).unwrap()),
            request_seconds: reg(r, prometheus::HistogramVec::new(HistogramOpts::new("logship_collector_kafka_request_duration_seconds", "Time to handle a Kafka request (Fetch includes its long-poll wait).").buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]), &["api"]).unwrap()),
            request_errors: reg(r, IntCounterVec::new(Opts::new("logship_collector_kafka_request_errors_total", "Requests refused before handling, by kind (oversized, malformed, unsupported_api, unsupported_version); the connection is closed."), &["kind"]).unwrap()),
            partition_errors: reg(r, IntCounterVec::new(Opts::new("logship_collector_kafka_partition_errors_total", "Kafka error codes returned for partitions and topics, by API and code."), &["api", "code"]).unwrap()),
            produced_bytes: reg(r, IntCounter::new("logship_collector_kafka_produced_bytes_total", "Record batch bytes received in Produce requests and appended.").unwrap()),
            fetched_bytes: reg(r, IntCounter::new("logship_collector_kafka_fetched_bytes_total", "Record batch bytes returned in Fetch responses.").unwrap()),
            fetch_sendfile_bytes: reg(r, IntCounter::new("logship_collector_kafka_fetch_sendfile_bytes_total", "Record batch bytes of Fetch responses sent from segment files to plaintext sockets by sendfile(2), uncopied (TLS connections read and encrypt them a chunk at a time instead).").unwrap()),
            listener_connections: reg(r, IntGaugeVec::new(Opts::new("logship_collector_kafka_listener_connections", "Open Kafka protocol connections, by listener."), &["listener"]).unwrap()),
            connections_refused: reg(r, IntCounterVec::new(Opts::new("logship_collector_kafka_connections_refused_total", "Connections closed on accept because a limit was reached, by listener and reason (max_connections, max_connections_per_ip)."), &["listener", "reason"]).unwrap()),
            connection_timeouts: reg(r, IntCounterVec::new(Opts::new("logship_collector_kafka_connection_timeouts_total", "Connections closed by a timeout, by listener and reason (idle, request_read, tls_handshake)."), &["listener", "reason"]).unwrap()),
        }
    }

    pub fn connection_refused(&self, listener: &str, reason: &str) {
        self.connections_refused
            .with_label_values(&[listener, reason])
            .inc();
    }

    pub fn connection_timeout(&self, listener: &str, reason: &str) {
        self.connection_timeouts
            .with_label_values(&[listener, reason])
            .inc();
    }

    pub fn request(&self, api: &str, seconds: f64) {
        self.requests.with_label_values(&[api]).inc();
        self.request_seconds
            .with_label_values(&[api])
            .observe(seconds);
    }

    pub fn request_error(&self, kind: &str) {
        self.request_errors.with_label_values(&[kind]).inc();
    }

    /// Counts a non-zero error code returned inside a response.
    pub fn partition_error(&self, api: &str, code: i16) {
        if code != 0 {
            self.partition_errors
                .with_label_values(&[api, &code.to_string()])
                .inc();
        }
    }
}

/// HTTP listener metrics (collector/src/http). `endpoint` is a fixed name
/// per route (never the path, which holds topic names and ids).
#[derive(Clone)]
pub struct HttpMetrics {
    requests: IntCounterVec,
    request_seconds: prometheus::HistogramVec,
    ingested_records: IntCounterVec,
    ingested_bytes: IntCounterVec,
    /// Bytes of ingest bodies and decompressed bodies held right now.
    pub inflight_bytes: IntGauge,
    pub memory_refused: IntCounter,
    /// Open HTTP connections (bounded by `collector.http.max_connections`).
    pub connections: IntGauge,
    pub connections_refused: IntCounter,
}

impl HttpMetrics {
    pub fn register(r: &Registry) -> Self {
        HttpMetrics {
            requests: reg(r, IntCounterVec::new(Opts::new("logship_collector_http_requests_total", "HTTP requests answered, by endpoint and status code."), &["endpoint", "code"]).unwrap()),
            request_seconds: reg(r, prometheus::HistogramVec::new(HistogramOpts::new("logship_collector_http_request_duration_seconds", "Time to answer an HTTP request (ingest includes the wait for fsync).").buckets(vec![0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0]), &["endpoint"]).unwrap()),
            ingested_records: reg(r, IntCounterVec::new(Opts::new("logship_collector_http_ingested_records_total", "Records acknowledged by HTTP ingest, by topic and content type (batch, ndjson); a retried duplicate batch counts again."), &["topic", "content_type"]).unwrap()),
            ingested_bytes: reg(r, IntCounterVec::new(Opts::new("logship_collector_http_ingested_bytes_total", "Request body bytes (as received, before gzip decoding) acknowledged by HTTP ingest, by topic and content type."), &["topic", "content_type"]).unwrap()),
            inflight_bytes: reg(r, IntGauge::new("logship_collector_http_inflight_bytes", "Memory held by ingest request bodies and their decompressed output (bounded by collector.http.max_inflight_bytes).").unwrap()),
            memory_refused: reg(r, IntCounter::new("logship_collector_http_memory_refused_total", "Ingest requests answered 503 because max_inflight_bytes was in use by other requests.").unwrap()),
            connections: reg(r, IntGauge::new("logship_collector_http_connections", "Open HTTP connections.").unwrap()),
            connections_refused: reg(r, IntCounter::new("logship_collector_http_connections_refused_total", "HTTP connections closed on accept because collector.http.max_connections were open.").unwrap()),
        }
    }

    pub fn request(&self, endpoint: &str, code: u16, seconds: f64) {
        self.requests
            .with_label_values(&[endpoint, &code.to_string()])
            .inc();
        self.request_seconds
            .with_label_values(&[endpoint])
            .observe(seconds);
    }

    pub fn ingested(&self, topic: &str, content_type: &str, records: u64, bytes: u64) {
        self.ingested_records
            .with_label_values(&[topic, content_type])
            .inc_by(records);
        self.ingested_bytes
            .with_label_values(&[topic, content_type])
            .inc_by(bytes);
    }
}

/// Group coordinator metrics (collector/src/group). Labels are fixed enums:
/// never group, member or instance ids.
#[derive(Clone)]
pub struct GroupMetrics {
    rebalances: IntCounterVec,
    pub fenced_members: IntCounter,
    members: IntGaugeVec,
}

impl GroupMetrics {
    pub fn register(r: &Registry) -> Self {
        let m = GroupMetrics {
            rebalances: reg(r, IntCounterVec::new(Opts::new("logship_collector_group_rebalances_total", "Rebalances started (a group entering PreparingRebalance), by cause."), &["cause"]).unwrap()),
            fenced_members: reg(r, IntCounter::new("logship_collector_group_fenced_members_total", "Static members whose group.instance.id a new incarnation took over; the old member id is answered FENCED_INSTANCE_ID from then on.").unwrap()),
            members: reg(r, IntGaugeVec::new(Opts::new("logship_collector_group_members", "Members of all consumer groups, by kind (static: with a group.instance.id; dynamic)."), &["kind"]).unwrap()),
        };
        for kind in ["static", "dynamic"] {
            m.members.with_label_values(&[kind]);
        }
        m
    }

    /// Counts a rebalance; `cause` is one of a fixed set of names.
    pub fn rebalance(&self, cause: &str) {
        self.rebalances.with_label_values(&[cause]).inc();
    }

    /// Shows `cause` at zero before its first rebalance.
    pub fn rebalance_init(&self, cause: &str) {
        self.rebalances.with_label_values(&[cause]);
    }

    pub fn set_members(&self, statics: usize, dynamics: usize) {
        self.members
            .with_label_values(&["static"])
            .set(statics as i64);
        self.members
            .with_label_values(&["dynamic"])
            .set(dynamics as i64);
    }
}

/// TLS and authentication (collector/src/tls.rs, server.rs, http/).
#[derive(Clone)]
pub struct SecurityMetrics {
    auth_failures: IntCounterVec,
    tls_reloads: IntCounterVec,
    credentials_reloads: IntCounterVec,
    /// Requests (or parts of them: a partition, a group) refused by the
    /// ACLs, by API and resource type.
    pub authorization_denied: IntCounterVec,
    acl_reloads: IntCounterVec,
}

impl SecurityMetrics {
    pub fn register(r: &Registry) -> Self {
        SecurityMetrics {
            auth_failures: reg(r, IntCounterVec::new(Opts::new("logship_collector_auth_failures_total", "Failed authentications and refused handshakes, by listener (a Kafka listener's name, or http), mechanism (ssl, plaintext, or a SASL mechanism) and reason."), &["listener", "mechanism", "reason"]).unwrap()),
            tls_reloads: reg(r, IntCounterVec::new(Opts::new("logship_collector_tls_reloads_total", "Certificate reloads (SIGHUP), by result (ok, error: the previous certificate stays in use)."), &["result"]).unwrap()),
            credentials_reloads: reg(r, IntCounterVec::new(Opts::new("logship_collector_credentials_reloads_total", "SASL credentials file reloads (SIGHUP), by result (ok, error: the previous users stay in use)."), &["result"]).unwrap()),
            authorization_denied: reg(r, IntCounterVec::new(Opts::new("logship_collector_authorization_denied_total", "Authorization denials by the ACLs (collector.acls), by API (a Kafka API's label, or an HTTP route) and resource type (topic, group, cluster, transactional_id): each denied partition, topic or group counts once."), &["api", "resource_type"]).unwrap()),
            acl_reloads: reg(r, IntCounterVec::new(Opts::new("logship_collector_acl_reloads_total", "ACL and principal mapping reloads (SIGHUP), by result (ok, error: the previous rules stay in force)."), &["result"]).unwrap()),
        }
    }

    pub fn auth_failure(&self, listener: &str, mechanism: &str, reason: &str) {
        self.auth_failures
            .with_label_values(&[listener, mechanism, reason])
            .inc();
    }

    pub fn acl_reload(&self, ok: bool) {
        self.acl_reloads
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }

    pub fn tls_reload(&self, ok: bool) {
        self.tls_reloads
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }

    pub fn credentials_reload(&self, ok: bool) {
        self.credentials_reloads
            .with_label_values(&[if ok { "ok" } else { "error" }])
            .inc();
    }
}
