//! The agent's Prometheus metrics, all named `logship_agent_*`. Labels are
//! bounded: `source` (configured names), `kind`/`status` (fixed enums);
//! never paths or offsets.

use prometheus::{
    HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry,
};

#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub lines_read: IntCounterVec,
    pub bytes_read: IntCounterVec,
    pub files_open: IntGaugeVec,
    pub files_rotated: IntCounterVec,
    pub files_truncated: IntCounterVec,
    pub lines_split: IntCounterVec,
    pub lines_truncated: IntCounterVec,
    pub batches_sent: IntCounterVec,
    pub records_sent: IntCounterVec,
    pub bytes_sent: IntCounterVec,
    pub records_deduplicated: IntCounterVec,
    pub records_rejected: IntCounterVec,
    pub retries: IntCounterVec,
    pub errors: IntCounterVec,
    pub auth_failures: IntCounterVec,
    pub request_seconds: HistogramVec,
    pub checkpoint_lag_bytes: IntGaugeVec,
    pub buffered_bytes: IntGauge,
    pub checkpoint_writes: prometheus::IntCounter,
    pub scrapes: IntCounterVec,
    pub scrape_errors: IntCounterVec,
    pub scrape_seconds: HistogramVec,
    pub samples: IntCounterVec,
    pub samples_dropped: IntCounterVec,
    pub journal_entries_read: IntCounterVec,
    pub journal_entries_filtered: IntCounterVec,
    pub journal_entries_shipped: IntCounterVec,
    pub journal_bytes_read: IntCounterVec,
    pub journal_bytes_shipped: IntCounterVec,
    pub journal_entries_lost: IntCounterVec,
    pub journal_gaps: IntCounterVec,
    pub journal_read_errors: IntCounterVec,
    pub journal_fields_truncated: IntCounterVec,
    pub journal_restarts: IntCounterVec,
    pub journal_lag_entries: IntGaugeVec,
    pub journal_lag_seconds: IntGaugeVec,
    pub kafka_queue_depth: IntGauge,
    pub kafka_delivery_errors: IntCounterVec,
    pub kafka_delivery_seconds: HistogramVec,
}

fn histogram(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    reg(
        registry,
        HistogramVec::new(
            HistogramOpts::new(name, help).buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            labels,
        )
        .expect("valid metric"),
    )
}

fn reg<T: prometheus::core::Collector + Clone + 'static>(registry: &Registry, m: T) -> T {
    registry
        .register(Box::new(m.clone()))
        .expect("metric names are unique");
    m
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    reg(
        registry,
        IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

fn gauge(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    reg(
        registry,
        IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric"),
    )
}

impl Metrics {
    pub fn new() -> Metrics {
        let r = Registry::new();
        let source = &["source"];
        Metrics {
            lines_read: counter(&r, "logship_agent_lines_read_total", "Lines read from files.", source),
            bytes_read: counter(&r, "logship_agent_bytes_read_total", "Bytes read from files.", source),
            files_open: gauge(&r, "logship_agent_files_open", "Files currently held open.", source),
            files_rotated: counter(
                &r,
                "logship_agent_files_rotated_total",
                "Files renamed away or deleted while followed, then closed after being read to the end.",
                source,
            ),
            files_truncated: counter(
                &r,
                "logship_agent_files_truncated_total",
                "Files found shorter than the read position (copytruncate); reading restarted at 0.",
                source,
            ),
            lines_split: counter(
                &r,
                "logship_agent_lines_split_total",
                "Lines longer than max_line_bytes cut into several records.",
                source,
            ),
            lines_truncated: counter(
                &r,
                "logship_agent_lines_truncated_total",
                "Lines longer than max_line_bytes shortened to it.",
                source,
            ),
            batches_sent: counter(
                &r,
                "logship_agent_sink_batches_total",
                "Batches acknowledged by the sink.",
                source,
            ),
            records_sent: counter(
                &r,
                "logship_agent_sink_records_total",
                "Records acknowledged by the sink.",
                source,
            ),
            bytes_sent: counter(
                &r,
                "logship_agent_sink_bytes_total",
                "Bytes acknowledged by the sink: encoded batch bytes (collector sink), or record keys and values (Kafka sink).",
                source,
            ),
            records_deduplicated: counter(
                &r,
                "logship_agent_records_deduplicated_total",
                "Records re-read after a restart that the collector already had, skipped.",
                source,
            ),
            records_rejected: counter(
                &r,
                "logship_agent_sink_records_rejected_total",
                "Records in batches the sink refused with a permanent error (logged).",
                source,
            ),
            retries: counter(
                &r,
                "logship_agent_sink_retries_total",
                "Sink requests retried after a retryable failure.",
                source,
            ),
            errors: counter(
                &r,
                "logship_agent_errors_total",
                "Errors by kind: open, read, discover, checkpoint, sink, sink_connect, sink_timeout, sink_status_5xx, sink_status_429, sink_status_4xx, sink_auth, sink_tls, scrape_config, sink_kafka, encode, internal.",
                &["kind"],
            ),
            auth_failures: counter(
                &r,
                "logship_agent_auth_failures_total",
                "Requests to the collector refused for credentials (unauthorized: 401, forbidden: 403) or failed in the TLS handshake (untrusted_certificate, certificate_expired, certificate_name_mismatch, invalid_certificate, tls_alert: the collector refused us, tls_handshake), by sink; for the Kafka sink, sasl_authentication (a broker refused the SASL login). Retried with backoff.",
                &["sink", "reason"],
            ),
            request_seconds: histogram(
                &r,
                "logship_agent_sink_request_duration_seconds",
                "Sink request latency, including the collector's fsync.",
                source,
            ),
            checkpoint_lag_bytes: gauge(
                &r,
                "logship_agent_checkpoint_lag_bytes",
                "Bytes in followed files not yet acknowledged by the sink.",
                source,
            ),
            buffered_bytes: reg(
                &r,
                IntGauge::new(
                    "logship_agent_buffered_bytes",
                    "Line bytes read and not yet acknowledged (bounded by sink.max_buffered_bytes).",
                )
                .expect("valid metric"),
            ),
            checkpoint_writes: reg(
                &r,
                prometheus::IntCounter::new(
                    "logship_agent_checkpoint_writes_total",
                    "Checkpoint file writes (each fsynced).",
                )
                .expect("valid metric"),
            ),
            scrapes: counter(
                &r,
                "logship_agent_scrapes_total",
                "Collections by metric sources: scrapes of one target, or one host_metrics reading.",
                source,
            ),
            scrape_errors: counter(
                &r,
                "logship_agent_scrape_errors_total",
                "Scrapes that failed (connection, HTTP status, timeout, unparsable page); each also sends up=0.",
                source,
            ),
            scrape_seconds: histogram(
                &r,
                "logship_agent_scrape_duration_seconds",
                "How long one scrape (or host_metrics reading) took.",
                source,
            ),
            samples: counter(
                &r,
                "logship_agent_samples_total",
                "Metric samples collected by metric sources.",
                source,
            ),
            samples_dropped: counter(
                &r,
                "logship_agent_samples_dropped_total",
                "Metric samples dropped because the sink was that far behind (bounded buffer).",
                source,
            ),
            journal_entries_read: counter(
                &r,
                "logship_agent_journal_entries_read_total",
                "Entries read from the journal (journalctl's output), before filters.",
                source,
            ),
            journal_entries_filtered: counter(
                &r,
                "logship_agent_journal_entries_filtered_total",
                "Entries read that units, exclude_units, priority or include_kernel kept out.",
                source,
            ),
            journal_entries_shipped: counter(
                &r,
                "logship_agent_journal_entries_shipped_total",
                "Entries acknowledged by the sink.",
                source,
            ),
            journal_bytes_read: counter(
                &r,
                "logship_agent_journal_bytes_read_total",
                "Bytes of journalctl's export output read.",
                source,
            ),
            journal_bytes_shipped: counter(
                &r,
                "logship_agent_journal_bytes_shipped_total",
                "Record value bytes (MESSAGE, or the JSON object) of entries acknowledged by the sink.",
                source,
            ),
            journal_entries_lost: counter(
                &r,
                "logship_agent_journal_entries_lost_total",
                "Entries the journal dropped (vacuumed, or their file removed) before they were read, where the sequence numbers tell how many; each loss is also logged once.",
                source,
            ),
            journal_gaps: counter(
                &r,
                "logship_agent_journal_gaps_total",
                "Places where entries were lost, including those where the count is unknown (the journal that followed has another sequence number id).",
                source,
            ),
            journal_read_errors: counter(
                &r,
                "logship_agent_journal_read_errors_total",
                "Problems reading the journal: journalctl's complaints (corrupt or truncated files, missing permissions; each logged), output that is not the export format, failed starts.",
                source,
            ),
            journal_fields_truncated: counter(
                &r,
                "logship_agent_journal_fields_truncated_total",
                "Entries with a field longer than max_field_bytes, cut to it.",
                source,
            ),
            journal_restarts: counter(
                &r,
                "logship_agent_journal_restarts_total",
                "journalctl restarts (it exited or its output broke); reading resumes at the last entry read.",
                source,
            ),
            journal_lag_entries: gauge(
                &r,
                "logship_agent_journal_lag_entries",
                "Entries in the journal after the checkpoint (the last acknowledged entry), when both are in one journal; how far shipping is behind the journal's head.",
                source,
            ),
            journal_lag_seconds: gauge(
                &r,
                "logship_agent_journal_lag_seconds",
                "Seconds between the journal's newest entry and the last acknowledged one (0 when caught up).",
                source,
            ),
            kafka_queue_depth: reg(
                &r,
                IntGauge::new(
                    "logship_agent_kafka_queue_depth",
                    "Records handed to librdkafka and not yet delivered (Kafka sink).",
                )
                .expect("valid metric"),
            ),
            kafka_delivery_errors: counter(
                &r,
                "logship_agent_kafka_delivery_errors_total",
                "Batches whose delivery librdkafka reported failed (re-sent from the checkpoint).",
                source,
            ),
            kafka_delivery_seconds: histogram(
                &r,
                "logship_agent_kafka_delivery_duration_seconds",
                "From handing a batch to librdkafka until every record's delivery report (Kafka sink).",
                source,
            ),
            registry: r,
        }
    }

    pub fn render(&self) -> String {
        logship_common::metrics::render(&self.registry)
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}
