//! The collector's Prometheus metrics, all named `logship_collector_*` and
//! registered in one [`Registry`] that `/metrics` renders. Labels are bounded:
//! `topic` (operator-created) and fixed enums, never offsets or clients.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric the collector exports.
#[derive(Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub storage: StorageMetrics,
}

impl Metrics {
    pub fn new() -> Self {
        let registry = Registry::new();
        let storage = StorageMetrics::register(&registry);
        Metrics { registry, storage }
    }

    /// The Prometheus text exposition of every registered metric.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("exposition is UTF-8")
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
    pub partitions: IntGauge,
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
            partitions: reg(r, IntGauge::new("logship_collector_log_partitions", "Partitions hosted.").unwrap()),
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
