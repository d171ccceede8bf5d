//! One topic-partition: an ordered set of segments, the last one active.
//!
//! Thread-safe. `log` (a mutex) serialises appends, rolls and retention;
//! reads hold it only to pick a segment and snapshot its size, then do their
//! I/O outside it. Durability uses group commit ([`GroupCommit`]): an
//! appender writes under the lock, releases it, then waits until some fsync
//! covers its end offset.
//!
//! Lock order: `log` before the group commit's state. The fsync closure
//! takes `log` only while the group commit's lock is released.

use std::collections::BTreeMap;
use std::ops::Bound;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::records::RecordBatchDecoder;
use logship_common::time::now_ms;

use super::batch::{self, BatchHeader};
use super::cleaner;
use super::group_commit::GroupCommit;
use super::producer::{self, ProducerState, SequenceCheck, SequenceError};
use super::segment::{self, FileRange, Segment};
use super::topic::{sync_dir, TopicConfig};
use crate::error::{Result, StorageError};
use crate::metrics::{StorageMetrics, TopicMetrics};

/// When appended bytes are forced to disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushPolicy {
    /// Default. An append returns only after an fsync covers it (group
    /// commit). The high watermark is the fsynced offset, so consumers never
    /// see data a power cut could take back.
    Always,
    /// Appends return once written to the page cache; a background task
    /// fsyncs every interval. A power cut can lose up to one interval.
    Interval(Duration),
    /// Appends return once written; the OS writes back when it likes.
    /// Rolled segments and clean shutdowns are still fsynced.
    Os,
}

/// Where an append landed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub log_start_offset: i64,
}

/// Whole batches read from the log, with the offsets a Fetch response carries.
#[derive(Debug, Clone)]
pub struct ReadResult {
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

/// Whole batches located in the log but not read, with the offsets a
/// Fetch response carries; `range` is `None` when there is nothing to send.
#[derive(Debug, Clone)]
pub struct Located {
    pub range: Option<FileRange>,
    pub high_watermark: i64,
    pub log_start_offset: i64,
    pub log_end_offset: i64,
}

pub(crate) struct Log {
    pub(crate) segments: BTreeMap<i64, Segment>,
    pub(crate) producers: ProducerState,
    /// The start DeleteRecords set (0 if never), checkpointed in
    /// `log-start-offset`; at most the log end offset.
    pub(crate) deleted_below: i64,
    /// Where the last cleaning stopped (compacted topics; 0 otherwise).
    pub(crate) first_dirty: i64,
}

impl Log {
    pub(crate) fn active(&self) -> &Segment {
        self.segments
            .values()
            .next_back()
            .expect("a log always has an active segment")
    }
    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .values_mut()
            .next_back()
            .expect("a log always has an active segment")
    }
    /// The first offset served: past the segments retention deleted and
    /// the records DeleteRecords deleted.
    fn start_offset(&self) -> i64 {
        let first = *self
            .segments
            .keys()
            .next()
            .expect("a log always has a segment");
        first.max(self.deleted_below)
    }
    fn end_offset(&self) -> i64 {
        self.active().next_offset()
    }
    fn size(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }
}

pub struct Partition {
    topic: String,
    id: i32,
    dir: PathBuf,
    config: RwLock<Arc<TopicConfig>>,
    flush: FlushPolicy,
    log: Mutex<Log>,
    /// Offline after an fsync failure (the page cache can no longer be
    /// trusted); appends are refused from then on.
    commit: Arc<GroupCommit>,
    high_watermark: AtomicI64,
    deleted: AtomicBool,
    metrics: StorageMetrics,
    topic_metrics: TopicMetrics,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock leaves state we still prefer to serve
    // (appends are all-or-nothing in memory), so poisoning is ignored.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Partition {
    /// Wraps a loaded log. All of it is treated as durable: the loader
    /// fsyncs what it recovered before handing it over.
    pub(crate) fn new(
        topic: &str,
        id: i32,
        dir: PathBuf,
        config: Arc<TopicConfig>,
        flush: FlushPolicy,
        log: Log,
        metrics: StorageMetrics,
    ) -> Partition {
        let end = log.end_offset();
        let topic_metrics = metrics.topic(topic);
        topic_metrics.segments.add(log.segments.len() as i64);
        topic_metrics.log_size.add(log.size() as i64);
        metrics.partitions.inc();
        Partition {
            topic: topic.to_owned(),
            id,
            dir,
            config: RwLock::new(config),
            flush,
            log: Mutex::new(log),
            commit: Arc::new(GroupCommit::new(end)),
            high_watermark: AtomicI64::new(end),
            deleted: AtomicBool::new(false),
            metrics,
            topic_metrics,
        }
    }

    pub fn topic(&self) -> &str {
        &self.topic
    }
    pub fn id(&self) -> i32 {
        self.id
    }
    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn config(&self) -> Arc<TopicConfig> {
        Arc::clone(&self.config.read().unwrap_or_else(|e| e.into_inner()))
    }
    /// Replaces the topic config (AlterConfigs): the next append, roll and
    /// retention pass use it; segments already open keep their index interval.
    pub(crate) fn set_config(&self, config: Arc<TopicConfig>) {
        *self.config.write().unwrap_or_else(|e| e.into_inner()) = config;
    }

    fn unknown(&self) -> StorageError {
        StorageError::UnknownTopicOrPartition {
            topic: self.topic.clone(),
            partition: self.id,
        }
    }

    /// Appends one or more producer batches. Validates CRC and header,
    /// assigns offsets by rewriting each batch's base offset in `buf`, and
    /// writes the bytes verbatim. With [`FlushPolicy::Always`] it returns only
    /// once the batches are fsynced. On any error nothing is appended.
    pub fn append(&self, buf: &mut [u8]) -> Result<AppendInfo> {
        let info = self.append_unsynced(buf)?;
        self.wait_durable(info.last_offset + 1)?;
        Ok(info)
    }

    /// [`Partition::append`] without the wait for durability: the caller
    /// must call [`Partition::wait_durable`] with `last_offset + 1` before
    /// acknowledging. Lets a connection append its next request while the
    /// previous one waits for its fsync, so pipelined requests share fsyncs.
    pub fn append_unsynced(&self, buf: &mut [u8]) -> Result<AppendInfo> {
        let result = self.append_inner(buf);
        if let Err(e) = &result {
            self.metrics.append_error(match e {
                StorageError::CorruptBatch { .. } => "corrupt",
                StorageError::BatchTooLarge { .. } => "too_large",
                StorageError::InvalidRecord { .. } => "invalid_record",
                StorageError::UnknownTopicOrPartition { .. } => "unknown_partition",
                _ => "io",
            });
        }
        result
    }

    /// Blocks until every offset below `end` is durable under this
    /// partition's flush policy (a no-op unless [`FlushPolicy::Always`]).
    pub fn wait_durable(&self, end: i64) -> Result<()> {
        if self.flush == FlushPolicy::Always {
            self.sync_until(end)?;
        }
        Ok(())
    }

    fn append_inner(&self, buf: &mut [u8]) -> Result<AppendInfo> {
        // CRC work happens before taking the lock so appenders overlap it.
        let mut headers =
            batch::validate_incoming(buf).map_err(|reason| StorageError::CorruptBatch {
                topic: self.topic.clone(),
                partition: self.id,
                reason,
            })?;
        let config = self.config();
        if let Some(h) = headers
            .iter()
            .find(|h| h.total_len() > config.max_message_bytes)
        {
            return Err(StorageError::BatchTooLarge {
                topic: self.topic.clone(),
                partition: self.id,
                size: h.total_len(),
                max: config.max_message_bytes,
            });
        }
        if config.cleanup_policy.compacts() {
            self.check_keys(buf, &headers)?;
        }
        let records: i64 = headers.iter().map(|h| h.record_count as i64).sum();
        let info = {
            let mut log = lock(&self.log);
            if self.deleted.load(Ordering::Acquire) {
                return Err(self.unknown());
            }
            if self.commit.is_offline() {
                return Err(StorageError::PartitionOffline {
                    topic: self.topic.clone(),
                    partition: self.id,
                });
            }
            if let Some((base_offset, last_offset)) =
                self.check_sequences(&log.producers, &headers)?
            {
                return Ok(AppendInfo {
                    base_offset,
                    last_offset,
                    log_start_offset: log.start_offset(),
                });
            }
            self.maybe_roll(&mut log, &config, buf.len() as u64, records)?;
            let base_offset = log.end_offset();
            let mut next = base_offset;
            let mut at = 0;
            for h in headers.iter_mut() {
                batch::set_base_offset(&mut buf[at..], next);
                h.base_offset = next;
                next = h.next_offset();
                at += h.total_len();
            }
            log.active_mut().append(buf, &headers)?;
            for h in &headers {
                log.producers.update(h);
            }
            self.topic_metrics.appended_bytes.inc_by(buf.len() as u64);
            self.topic_metrics
                .appended_batches
                .inc_by(headers.len() as u64);
            self.topic_metrics.appended_records.inc_by(records as u64);
            self.topic_metrics.log_size.add(buf.len() as i64);
            if self.flush != FlushPolicy::Always {
                self.high_watermark.store(next, Ordering::Release);
            }
            AppendInfo {
                base_offset,
                last_offset: next - 1,
                log_start_offset: log.start_offset(),
            }
        };
        Ok(info)
    }

    /// Kafka's rule for compacted topics: every record needs a key, since
    /// the cleaner keeps records by key. Compressed batches are
    /// decompressed to check.
    fn check_keys(&self, buf: &[u8], headers: &[BatchHeader]) -> Result<()> {
        let refuse = |reason: &str| StorageError::InvalidRecord {
            topic: self.topic.clone(),
            partition: self.id,
            reason: reason.to_owned(),
        };
        let mut at = 0;
        for h in headers {
            let recs = super::compact::records(&buf[at..at + h.total_len()])
                .ok_or_else(|| refuse("the batch's records could not be read"))?;
            if recs.records.iter().any(|r| r.key.is_none()) {
                return Err(refuse(
                    "compacted topic cannot accept a record without a key",
                ));
            }
            at += h.total_len();
        }
        Ok(())
    }

    /// Checks idempotent producers' sequences. Returns the original offsets
    /// when every batch is a retry of one already appended (acknowledged,
    /// not appended again); an error when any batch is out of order.
    fn check_sequences(
        &self,
        state: &ProducerState,
        headers: &[BatchHeader],
    ) -> Result<Option<(i64, i64)>> {
        if !headers.iter().any(BatchHeader::has_producer_id) {
            return Ok(None);
        }
        let refuse = |e: SequenceError| match e {
            SequenceError::StaleEpoch { .. } => StorageError::InvalidProducerEpoch {
                topic: self.topic.clone(),
                partition: self.id,
                reason: e.to_string(),
            },
            SequenceError::OutOfOrder { .. } => StorageError::OutOfOrderSequence {
                topic: self.topic.clone(),
                partition: self.id,
                reason: e.to_string(),
            },
        };
        // Later batches of one request are checked against the state the
        // earlier ones would leave.
        let mut scratch: Option<ProducerState> = None;
        let mut dups = Vec::new();
        for h in headers {
            let current = scratch.as_ref().unwrap_or(state);
            match current.check(h).map_err(refuse)? {
                SequenceCheck::Duplicate(r) => dups.push(r),
                SequenceCheck::Append if headers.len() > 1 => {
                    let mut next = current.clone();
                    next.update(h);
                    scratch = Some(next);
                }
                SequenceCheck::Append => {}
            }
        }
        if dups.is_empty() {
            return Ok(None);
        }
        if dups.len() != headers.len() {
            return Err(StorageError::OutOfOrderSequence {
                topic: self.topic.clone(),
                partition: self.id,
                reason: "a request mixes retried and new batches".to_owned(),
            });
        }
        Ok(Some((
            dups[0].base_offset,
            dups[dups.len() - 1].last_offset,
        )))
    }

    /// Rolls to a new segment if the incoming bytes would overflow the
    /// active one, it is older than `segment.ms` (or, compacted,
    /// `max.compaction.lag.ms`: [`TopicConfig::roll_ms`]), or its relative offsets
    /// would overflow u32 (index entries store them in 4 bytes).
    fn maybe_roll(
        &self,
        log: &mut Log,
        config: &TopicConfig,
        bytes: u64,
        records: i64,
    ) -> Result<()> {
        let active = log.active();
        if active.size() == 0 {
            return Ok(());
        }
        let full = active.size() + bytes > config.segment_bytes;
        let old = now_ms() - active.roll_base_ms() > config.roll_ms();
        let overflow = active.next_offset() + records - active.base_offset() > u32::MAX as i64;
        if full || old || overflow {
            self.roll(log)?;
        }
        Ok(())
    }

    /// Makes a new empty active segment at the log end offset. The old
    /// segment is fsynced first (log and indexes), so start-up recovery only
    /// ever needs to scan the active segment.
    fn roll(&self, log: &mut Log) -> Result<()> {
        let result = log.active().sync();
        self.count_fsync(Instant::now());
        result.inspect_err(|_| self.commit.set_offline())?;
        let next = log.end_offset();
        // Start-up then only scans the new active segment for producer state.
        producer::save_snapshot(&self.dir, next, &log.producers)?;
        let interval = self.config().index_interval_bytes;
        let seg = Segment::create(&self.dir, next, interval)?;
        sync_dir(&self.dir)?;
        log.segments.insert(next, seg);
        self.topic_metrics.segments.inc();
        tracing::debug!(topic = %self.topic, partition = self.id, base_offset = next, "rolled segment");
        Ok(())
    }

    fn count_fsync(&self, started: Instant) {
        self.metrics.fsyncs.inc();
        self.metrics
            .fsync_seconds
            .observe(started.elapsed().as_secs_f64());
    }

    /// Blocks until every offset below `target` is fsynced, performing the
    /// fsync itself if none is running (group commit).
    fn sync_until(&self, target: i64) -> Result<()> {
        self.commit
            .wait(target, || self.sync_and_publish(), || self.offline_error())
    }

    /// [`Partition::wait_durable`] for async callers: waiting parks no
    /// thread; only the caller that ends up running the shared fsync uses a
    /// blocking thread for it.
    pub async fn wait_durable_async(self: &Arc<Self>, end: i64) -> Result<()> {
        if self.flush != FlushPolicy::Always {
            return Ok(());
        }
        let p = Arc::clone(self);
        self.commit
            .wait_async(end, move || p.sync_and_publish(), || self.offline_error())
            .await
    }

    fn offline_error(&self) -> StorageError {
        StorageError::PartitionOffline {
            topic: self.topic.clone(),
            partition: self.id,
        }
    }

    /// The group commit's fsync: fsyncs the active segment and raises the
    /// high watermark to what it covers before any waiter is woken.
    fn sync_and_publish(&self) -> Result<i64> {
        match self.sync_active() {
            Ok(end) => {
                self.high_watermark.fetch_max(end, Ordering::AcqRel);
                Ok(end)
            }
            Err(e) => {
                tracing::error!(topic = %self.topic, partition = self.id, error = %e, "fsync failed; partition offline");
                Err(e)
            }
        }
    }

    /// fsyncs the active segment; returns the log end offset it covers.
    /// Earlier segments were fsynced when they rolled.
    fn sync_active(&self) -> Result<i64> {
        let (file, end, path) = {
            let log = lock(&self.log);
            let active = log.active();
            (
                active.file(),
                log.end_offset(),
                active.log_path().to_owned(),
            )
        };
        let started = Instant::now();
        let result = file.sync_data().map_err(|e| StorageError::io(path, e));
        self.count_fsync(started);
        result.map(|()| end)
    }

    /// Forces everything appended so far to disk and advances the high
    /// watermark (the interval flusher and shutdown use this).
    pub fn flush(&self) -> Result<()> {
        let end = lock(&self.log).end_offset();
        self.sync_until(end)?;
        self.high_watermark.fetch_max(end, Ordering::AcqRel);
        Ok(())
    }

    /// fsyncs every segment's log and indexes and snapshots producer state
    /// at the log end (clean shutdown).
    pub(crate) fn sync_all(&self) -> Result<()> {
        let log = lock(&self.log);
        for seg in log.segments.values() {
            seg.sync()?;
        }
        producer::save_snapshot(&self.dir, log.end_offset(), &log.producers)
    }

    /// The epoch and last sequence `producer_id` appended here, if any.
    pub fn last_producer_sequence(&self, producer_id: i64) -> Option<(i16, i32)> {
        lock(&self.log).producers.last_sequence(producer_id)
    }

    pub fn log_start_offset(&self) -> i64 {
        lock(&self.log).start_offset()
    }
    pub fn log_end_offset(&self) -> i64 {
        lock(&self.log).end_offset()
    }
    /// The offset below which records are visible to consumers: the fsynced
    /// offset under [`FlushPolicy::Always`], the log end offset otherwise.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }
    pub fn size_bytes(&self) -> u64 {
        lock(&self.log).size()
    }
    pub fn segment_count(&self) -> usize {
        lock(&self.log).segments.len()
    }
    pub fn segment_base_offsets(&self) -> Vec<i64> {
        lock(&self.log).segments.keys().copied().collect()
    }

    /// Whole batches from `offset` on, read into memory: [`Partition::locate`]
    /// and [`FileRange::read`].
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<ReadResult> {
        let located = self.locate(offset, max_bytes)?;
        let records = match &located.range {
            Some(range) => Bytes::from(
                range
                    .read()
                    .map_err(|e| StorageError::io(self.dir.clone(), e))?,
            ),
            None => Bytes::new(),
        };
        Ok(ReadResult {
            records,
            high_watermark: located.high_watermark,
            log_start_offset: located.log_start_offset,
            log_end_offset: located.log_end_offset,
        })
    }

    /// Locates whole batches starting with the one containing `offset`, up to
    /// `max_bytes` but always at least one batch, from a single segment and
    /// below the high watermark (Kafka's Fetch semantics). An offset below
    /// the log start or above the log end is out of range; one at or above
    /// the high watermark reads nothing.
    pub fn locate(&self, offset: i64, max_bytes: usize) -> Result<Located> {
        let hw = self.high_watermark();
        // Where to look: `offset`, then, if what is left of a segment is
        // only empty batches (the cleaner keeps some for their offsets),
        // the next segment. A response never starts with an empty batch:
        // some clients (librdkafka) stall on a fetch that holds no record.
        let mut cursor = offset;
        let mut first_pass = true;
        loop {
            let (file, start, end, log_start, log_end) = {
                let log = lock(&self.log);
                let (log_start, log_end) = (log.start_offset(), log.end_offset());
                if self.deleted.load(Ordering::Acquire) {
                    return Err(self.unknown());
                }
                if first_pass && (offset < log_start || offset > log_end) {
                    return Err(StorageError::OffsetOutOfRange {
                        topic: self.topic.clone(),
                        partition: self.id,
                        offset,
                        log_start_offset: log_start,
                        log_end_offset: log_end,
                    });
                }
                let empty = Located {
                    range: None,
                    high_watermark: hw,
                    log_start_offset: log_start,
                    log_end_offset: log_end,
                };
                if cursor >= hw {
                    return Ok(empty);
                }
                let mut seg = log.segments.range(..=cursor).next_back().map(|(_, s)| s);
                if let Some(s) = seg.filter(|s| s.next_offset() <= cursor) {
                    seg = log
                        .segments
                        .range((Bound::Excluded(s.base_offset()), Bound::Unbounded))
                        .map(|(_, s)| s)
                        .next();
                }
                let Some(seg) = seg else { return Ok(empty) };
                (
                    seg.file(),
                    seg.scan_start(cursor),
                    seg.size(),
                    log_start,
                    log_end,
                )
            };
            first_pass = false;
            let io = |e| StorageError::io(self.dir.clone(), e);
            let mut seg_end = cursor;
            let found = segment::scan_headers(&file, start, end, |h| {
                seg_end = h.next_offset();
                h.last_offset() >= cursor && h.record_count > 0
            })
            .map_err(io)?;
            let range = match found {
                Some((pos, first)) if first.base_offset < hw => {
                    let want = (max_bytes.max(first.total_len()) as u64).min(end - pos);
                    let len = segment::whole_batches_below(&file, pos, want, hw).map_err(io)?;
                    (len > 0).then_some(FileRange { file, pos, len })
                }
                None if seg_end > cursor => {
                    // Only empty batches left in this segment: go on.
                    cursor = seg_end;
                    continue;
                }
                _ => None,
            };
            return Ok(Located {
                range,
                high_watermark: hw,
                log_start_offset: log_start,
                log_end_offset: log_end,
            });
        }
    }

    /// The first record with a timestamp >= `timestamp`, as `(offset,
    /// timestamp)`, or `None` if every record is older (ListOffsets by time).
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>> {
        let hw = self.high_watermark();
        let (file, start, end, log_start) = {
            let log = lock(&self.log);
            let log_start = log.start_offset();
            let Some(seg) = log
                .segments
                .values()
                .find(|s| s.max_timestamp() >= timestamp && s.next_offset() > log_start)
            else {
                return Ok(None);
            };
            let from = seg
                .time_scan_start(timestamp)
                .max(seg.scan_start(log_start));
            (seg.file(), from, seg.size(), log_start)
        };
        let io = |e| StorageError::io(self.dir.clone(), e);
        let Some((pos, header)) = segment::scan_headers(&file, start, end, |h| {
            h.max_timestamp >= timestamp && h.last_offset() >= log_start
        })
        .map_err(io)?
        else {
            return Ok(None);
        };
        if header.base_offset >= hw {
            return Ok(None);
        }
        let mut buf = vec![0u8; header.total_len()];
        std::os::unix::fs::FileExt::read_exact_at(file.as_ref(), &mut buf, pos).map_err(io)?;
        // Finding the record inside the batch is the one place the collector
        // decodes records; it is an admin lookup, not the produce/fetch path.
        let mut bytes = Bytes::from(buf);
        let set =
            RecordBatchDecoder::decode(&mut bytes).map_err(|_| StorageError::CorruptBatch {
                topic: self.topic.clone(),
                partition: self.id,
                reason: batch::BatchError::Invalid("records could not be decoded"),
            })?;
        Ok(set
            .records
            .iter()
            .find(|r| r.timestamp >= timestamp && r.offset >= log_start)
            .map(|r| (r.offset, r.timestamp))
            .or(Some((
                header.base_offset.max(log_start),
                header.max_timestamp,
            ))))
    }

    /// Deletes the oldest segments that are past `retention.ms` (by their
    /// newest timestamp, or file mtime when batches carry none) or that push
    /// the partition over `retention.bytes`. The active segment is rolled
    /// first if it too has expired. Returns how many segments were deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize> {
        let config = self.config();
        if !config.cleanup_policy.deletes() {
            return Ok(0);
        }
        let removed: Vec<Segment> = {
            let mut log = lock(&self.log);
            if self.deleted.load(Ordering::Acquire) {
                return Ok(0);
            }
            let mut total = log.size();
            let mut removed = Vec::new();
            loop {
                let first = log.segments.values().next().expect("log has a segment");
                let by_time = config.retention_ms >= 0
                    && first.size() > 0
                    && now_ms - largest_time_ms(first) > config.retention_ms;
                let by_size = config.retention_bytes >= 0
                    && first.size() > 0
                    && total - first.size() >= config.retention_bytes as u64;
                if !(by_time || by_size) {
                    break;
                }
                if log.segments.len() == 1 {
                    self.roll(&mut log)?;
                }
                let (_, seg) = log.segments.pop_first().expect("checked above");
                total -= seg.size();
                removed.push(seg);
            }
            removed
        };
        for seg in &removed {
            seg.delete_files()?;
            self.topic_metrics.segments.dec();
            self.topic_metrics.log_size.sub(seg.size() as i64);
            self.metrics.retention_deleted_segments.inc();
            tracing::info!(topic = %self.topic, partition = self.id, base_offset = seg.base_offset(), "retention deleted segment");
        }
        Ok(removed.len())
    }

    /// Kafka's DeleteRecords: makes `offset` the log start offset (-1 means
    /// the high watermark), so records below it are no longer served. The
    /// new start is checkpointed durably before it is served; segments
    /// wholly below it are deleted (never the active one). An offset below
    /// the current start changes nothing; one above the high watermark is
    /// out of range. Returns the log start offset afterwards (the response's
    /// low watermark).
    pub fn delete_records(&self, offset: i64) -> Result<i64> {
        let (target, removed) = {
            let mut log = lock(&self.log);
            if self.deleted.load(Ordering::Acquire) {
                return Err(self.unknown());
            }
            let hw = self.high_watermark();
            let target = if offset == -1 { hw } else { offset };
            if target < 0 || target > hw {
                return Err(StorageError::OffsetOutOfRange {
                    topic: self.topic.clone(),
                    partition: self.id,
                    offset,
                    log_start_offset: log.start_offset(),
                    log_end_offset: hw,
                });
            }
            if target <= log.start_offset() {
                return Ok(log.start_offset());
            }
            super::log_start::save(&self.dir, target)?;
            log.deleted_below = target;
            self.metrics.delete_records.inc();
            let mut removed = Vec::new();
            while log.segments.len() > 1 {
                let next_base = *log.segments.keys().nth(1).expect("two segments");
                if next_base > target {
                    break;
                }
                removed.push(log.segments.pop_first().expect("checked above").1);
            }
            (target, removed)
        };
        for seg in &removed {
            seg.delete_files()?;
            self.topic_metrics.segments.dec();
            self.topic_metrics.log_size.sub(seg.size() as i64);
            self.metrics.delete_records_deleted_segments.inc();
        }
        tracing::info!(topic = %self.topic, partition = self.id, log_start_offset = target, segments_deleted = removed.len(), "records deleted");
        Ok(self.log_start_offset())
    }

    /// The cleaner's view of this partition now (see [`super::cleaner`]);
    /// `None` unless the topic is compacted and has closed segments.
    pub(crate) fn cleaning_plan(&self, now_ms: i64) -> Result<Option<cleaner::Plan>> {
        let config = self.config();
        if !config.cleanup_policy.compacts() {
            return Ok(None);
        }
        let log = lock(&self.log);
        if self.deleted.load(Ordering::Acquire) || log.segments.len() < 2 {
            return Ok(None);
        }
        let closed = log.segments.len() - 1;
        let mut segments = Vec::new();
        for seg in log.segments.values().take(closed) {
            // Segments holding records younger than the lag, and all after
            // them, wait.
            if now_ms - largest_time_ms(seg) < config.min_compaction_lag_ms {
                break;
            }
            let mtime_ms = std::fs::metadata(seg.log_path())
                .and_then(|m| m.modified())
                .map_err(|e| StorageError::io(seg.log_path(), e))?
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as i64);
            segments.push(cleaner::SegmentView {
                base: seg.base_offset(),
                next: seg.next_offset(),
                size: seg.size(),
                file: seg.file(),
                mtime_ms,
            });
        }
        let Some(first) = segments.first() else {
            return Ok(None);
        };
        let first_dirty = log.first_dirty.max(first.base);
        let (mut clean, mut dirty, mut overdue) = (0u64, 0u64, false);
        for (seg, view) in log.segments.values().zip(&segments) {
            if view.next <= first_dirty {
                clean += view.size;
            } else {
                dirty += view.size;
                overdue |=
                    now_ms.saturating_sub(largest_time_ms(seg)) > config.max_compaction_lag_ms;
            }
        }
        let dirty_ratio = if dirty == 0 {
            0.0
        } else {
            dirty as f64 / (clean + dirty) as f64
        };
        let due = dirty > 0 && (dirty_ratio >= config.min_cleanable_dirty_ratio() || overdue);
        let producer_last = log
            .producers
            .producers
            .iter()
            .filter_map(|(id, e)| e.batches.back().map(|b| (*id, b.last_offset)))
            .collect();
        Ok(Some(cleaner::Plan {
            dir: self.dir.clone(),
            config,
            segments,
            first_dirty,
            dirty_ratio,
            due,
            producer_last,
        }))
    }

    /// Swaps the cleaned segment at `cleaned` in for the segments
    /// `sources` (base offset, size), if they are all still there
    /// unchanged; returns whether it did. The `.swap` rename is the commit
    /// point (see [`cleaner::recover_swaps`]).
    pub(crate) fn swap_cleaned(&self, sources: &[(i64, u64)], cleaned: &Path) -> Result<bool> {
        let mut log = lock(&self.log);
        let active = log.active().base_offset();
        let intact = !self.deleted.load(Ordering::Acquire)
            && sources.iter().all(|(base, size)| {
                *base != active && log.segments.get(base).is_some_and(|s| s.size() == *size)
            });
        if !intact {
            return Ok(false);
        }
        let base = sources[0].0;
        let swap = cleaner::swap_path(&self.dir, base);
        std::fs::rename(cleaned, &swap).map_err(|e| StorageError::io(cleaned, e))?;
        sync_dir(&self.dir)?;
        let mut old_size = 0;
        for (b, _) in sources {
            let seg = log.segments.remove(b).expect("checked above");
            old_size += seg.size();
            seg.delete_files()?;
        }
        let target = self.dir.join(segment::file_name(base, "log"));
        std::fs::rename(&swap, &target).map_err(|e| StorageError::io(&swap, e))?;
        sync_dir(&self.dir)?;
        let interval = self.config().index_interval_bytes;
        let opened = Segment::open(&self.dir, base, true, interval)?;
        opened.segment.sync()?;
        let new_size = opened.segment.size();
        log.segments.insert(base, opened.segment);
        self.topic_metrics.segments.sub(sources.len() as i64 - 1);
        self.topic_metrics
            .log_size
            .sub(old_size as i64 - new_size as i64);
        Ok(true)
    }

    /// Records where the last cleaning stopped.
    pub(crate) fn set_first_dirty(&self, offset: i64) -> Result<()> {
        let mut log = lock(&self.log);
        cleaner::save_checkpoint(&self.dir, offset)?;
        log.first_dirty = offset;
        Ok(())
    }

    /// Refuses all further appends and reads; the topic is being deleted.
    pub(crate) fn mark_deleted(&self) {
        let _log = lock(&self.log);
        self.deleted.store(true, Ordering::Release);
        self.metrics.partitions.dec();
    }
}

fn largest_time_ms(seg: &Segment) -> i64 {
    if seg.max_timestamp() >= 0 {
        return seg.max_timestamp();
    }
    std::fs::metadata(seg.log_path())
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(i64::MAX, |d| d.as_millis() as i64)
}
