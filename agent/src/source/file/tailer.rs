//! Following one file (one stream): read new bytes, cut them into lines,
//! batch the lines, encode each batch with the stream's producer id and
//! sequences, and hand it to this stream's sender, which ships batches one
//! at a time in order and advances the checkpoint on each acknowledgement.
//! Reading the next batch overlaps with shipping the previous one; the
//! shared byte budget stops reading when too much is unacknowledged.
//!
//! A *session* starts from the checkpoint: it asks the collector for the
//! last sequence it holds for the stream's producer id and skips the records
//! the collector already has (they were acknowledged but the checkpoint was
//! not yet written when the agent stopped). Truncation, a refused batch, or
//! a sequence running out end the session and start a new one from the
//! (then updated) checkpoint, so each of those cases reuses the same path.

use std::collections::VecDeque;
use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use logship_common::time::now_ms;
use tokio::sync::{mpsc, OwnedSemaphorePermit};
use tokio::task::JoinHandle;

use super::lines::{Line, LineSplitter, Multiline};
use super::{fingerprint, fingerprint_matches, Handle, SourceCtx, FP_MAX};
use crate::batch::{self, OutRecord, ProducerFields, StreamMeta};
use crate::sink::{Ack, Lines, Payload, Rejection, SinkError};

/// Largest single read.
const READ_CHUNK: u64 = 256 * 1024;
/// Batches of one file in flight at once (Kafka's idempotent producers
/// allow five).
const PIPELINE: usize = 4;
/// Batches never shrink below this after "too large" refusals.
const MIN_BATCH_BYTES: u64 = 1024;
/// Batches with fewer line bytes are compressed on the async thread.
const INLINE_ENCODE: u64 = 64 * 1024;
/// How often a file at its end is re-checked without an inotify wake-up.
const POLL: Duration = Duration::from_millis(250);

/// Why a tailer stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Renamed away or deleted, read to the end and closed.
    Rotated { deleted: bool },
    /// Not grown for `idle_close`; reopened when it grows.
    Idle { size: u64 },
    /// Shutdown.
    Stopped,
    /// Could not be read or shipped; logged.
    Failed,
}

/// How a session ended.
enum SessionEnd {
    Exit(Exit),
    /// Start over from the checkpoint.
    Restart,
}

/// A batch ready for the sink, or the compression task making it.
enum Encoded {
    Ready(Payload),
    Pending(tokio::sync::oneshot::Receiver<batch::EncodeResult>),
}

/// A batch on its way to the sender.
struct Sealed {
    bytes: Encoded,
    records: usize,
    first_sequence: i32,
    /// Checkpoint after the acknowledgement.
    end_offset: u64,
    _budget: Option<Budget>,
}

/// Read-ahead budget held by lines until their batch is acknowledged (or
/// dropped): the semaphore permits and their share of the
/// `buffered_bytes` gauge, both given back on drop.
struct Budget {
    permit: Option<OwnedSemaphorePermit>,
    gauge: prometheus::IntGauge,
}

impl Budget {
    fn new(permit: OwnedSemaphorePermit, gauge: prometheus::IntGauge) -> Budget {
        gauge.add(permit.num_permits() as i64);
        Budget {
            permit: Some(permit),
            gauge,
        }
    }

    fn merge(&mut self, mut other: Budget) {
        if let Some(theirs) = other.permit.take() {
            match &mut self.permit {
                Some(mine) => mine.merge(theirs),
                None => self.permit = Some(theirs),
            }
        }
    }
}

impl Drop for Budget {
    fn drop(&mut self) {
        if let Some(p) = &self.permit {
            self.gauge.sub(p.num_permits() as i64);
        }
    }
}

/// Lines waiting to become a batch.
#[derive(Default)]
struct Pending {
    records: Vec<OutRecord>,
    bytes: u64,
    end: u64,
    since: Option<Instant>,
    budget: Option<Budget>,
}

impl Pending {
    /// Adds a record; the first one starts the linger clock.
    fn push(&mut self, line: Line, timestamp: i64) {
        self.bytes += line.bytes.len() as u64;
        self.end = line.end;
        self.since.get_or_insert_with(Instant::now);
        self.records.push(OutRecord {
            value: line.bytes,
            offset: line.offset,
            timestamp,
        });
    }

    fn add_budget(&mut self, b: Budget) {
        match &mut self.budget {
            Some(mine) => mine.merge(b),
            None => self.budget = Some(b),
        }
    }
}

pub struct Tailer {
    ctx: Arc<SourceCtx>,
    handle: Arc<Handle>,
    file: File,
    dev: u64,
    ino: u64,
    /// Line bytes per batch: `batch.max_bytes`, halved each time the
    /// collector refuses a batch as too large.
    batch_limit: u64,
}

impl Tailer {
    pub fn new(ctx: Arc<SourceCtx>, handle: Arc<Handle>, file: File) -> std::io::Result<Tailer> {
        let meta = file.metadata()?;
        let batch_limit = ctx.batch.max_bytes;
        Ok(Tailer {
            ctx,
            handle,
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            batch_limit,
        })
    }

    pub async fn run(mut self) -> Exit {
        let source = self.ctx.name.clone();
        let open = self.ctx.metrics.files_open.with_label_values(&[&source]);
        open.inc();
        let exit = loop {
            match self.session().await {
                Ok(SessionEnd::Exit(e)) => break e,
                Ok(SessionEnd::Restart) => continue,
                Err(e) => {
                    let path = self.handle.path();
                    tracing::error!(source, path = %path.display(), error = %e, "file tailing failed");
                    self.ctx.metrics.errors.with_label_values(&["read"]).inc();
                    break Exit::Failed;
                }
            }
        };
        open.dec();
        self.ctx
            .metrics
            .checkpoint_lag_bytes
            .with_label_values(&[&source])
            .sub(self.handle.lag.swap(0, Ordering::Relaxed));
        exit
    }

    /// One pass from the checkpoint until the file closes or something
    /// makes the checkpoint the place to start over from.
    async fn session(&mut self) -> Result<SessionEnd, String> {
        let ctx = Arc::clone(&self.ctx);
        let id = self.handle.id;
        let mut cp = ctx
            .checkpoints
            .get(id)
            .ok_or("the stream's checkpoint vanished")?;

        // What does the collector already have?
        let mut skip: u64 = 0;
        let known = match ctx
            .sink
            .last_sequence(&cp.topic, cp.partition, cp.producer_id)
            .await
        {
            Ok(k) => k,
            Err(SinkError::Cancelled) => return Ok(SessionEnd::Exit(Exit::Stopped)),
            Err(e) => return Err(format!("asking the collector for producer state: {e}")),
        };
        let stale = match known {
            Some((epoch, last)) if epoch == cp.epoch => {
                let next = last as i64 + 1;
                if next >= cp.sequence as i64 {
                    skip = (next - cp.sequence as i64) as u64;
                    false
                } else {
                    tracing::warn!(
                        source = %ctx.name, path = %cp.path.display(), expected = cp.sequence, found = next,
                        "the collector holds fewer records of this stream than were acknowledged; continuing under a new producer id"
                    );
                    true
                }
            }
            Some(_) => true,
            None => false,
        };
        if stale || cp.sequence > i32::MAX / 2 {
            let at = cp.offset;
            self.new_identity(&mut cp, at).await?;
            skip = 0;
        }

        let meta = StreamMeta {
            host: ctx.host.clone(),
            path: Bytes::from(cp.path.to_string_lossy().into_owned()),
            labels: ctx.labels.clone(),
            encoding: ctx.config.encoding,
        };
        let mut splitter =
            LineSplitter::new(ctx.config.max_line_bytes as usize, ctx.config.long_lines);
        splitter.reset(cp.offset);
        let mut multiline = ctx.multiline.clone().map(Multiline::new);
        let mut offset = cp.offset;
        let mut sequence = cp.sequence;
        let mut pending = Pending::default();
        let mut last_growth = Instant::now();
        let mut reported_split = 0;
        let mut reported_truncated = 0;

        let (tx, rx) = mpsc::channel::<Sealed>(2);
        // A producer the collector has no state for is accepted at any
        // sequence, so its first batch must arrive first: it goes alone.
        let collector_knows = known.is_some() && !stale && cp.sequence <= i32::MAX / 2;
        let sender = tokio::spawn(send_loop(
            Arc::clone(&ctx),
            id,
            cp.topic.clone(),
            cp.partition,
            collector_knows,
            rx,
        ));
        let batch = &ctx.batch;
        let source = ctx.name.clone();
        let lines_read = ctx.metrics.lines_read.with_label_values(&[&source]);
        let bytes_read = ctx.metrics.bytes_read.with_label_values(&[&source]);
        let lag_gauge = ctx
            .metrics
            .checkpoint_lag_bytes
            .with_label_values(&[&source]);
        let producer = (cp.producer_id, cp.epoch);

        // Size and modification time at the last look: the first bytes are
        // re-read to check the fingerprint only when either changed (idle
        // files cost a stat).
        let mut seen = None;
        let end = loop {
            if sender.is_finished() {
                // The sender gave up on a refused batch: start over.
                break SessionEnd::Restart;
            }
            let stat = self.file.metadata().map_err(|e| format!("stat: {e}"))?;
            let size = stat.len();
            let now_cp = ctx.checkpoints.get(id);
            let acked = now_cp.as_ref().map_or(offset, |c| c.offset);
            let lag = size.saturating_sub(acked) as i64;
            lag_gauge.add(lag - self.handle.lag.swap(lag, Ordering::Relaxed));
            // Truncated: shorter than what was read, or (truncated and
            // written again past the old size) its first bytes changed.
            let now = (size, stat.modified().ok());
            let changed = seen.replace(now) != Some(now);
            let replaced = changed
                && offset > 0
                && now_cp.is_some_and(|c| !fingerprint_matches(&self.file, size, &c));

            if size < offset || replaced {
                // copytruncate: ship what was read, then start over at 0.
                tracing::info!(source, path = %self.handle.path().display(), "file truncated; reading from the start");
                ctx.metrics
                    .files_truncated
                    .with_label_values(&[&source])
                    .inc();
                // (If the sender gave up meanwhile, the unsent lines are
                // gone with the old content either way.)
                self.seal(&mut pending, &meta, producer, &mut sequence, &tx)
                    .await;
                drop(tx);
                self.sender_ended(sender.await);
                if ctx.stop.is_cancelled() {
                    return Ok(SessionEnd::Exit(Exit::Stopped));
                }
                self.restart_at_zero().await?;
                return Ok(SessionEnd::Restart);
            }

            if size > offset {
                last_growth = Instant::now();
                let want = (size - offset).min(READ_CHUNK);
                // Backpressure: wait for budget, but never past the linger
                // deadline of lines already waiting (they must leave to free
                // budget).
                let permit = tokio::select! {
                    p = Arc::clone(&ctx.budget).acquire_many_owned(want as u32) => p.ok(),
                    _ = sleep_until(pending.since.map(|s| s + batch.linger)) => None,
                    _ = ctx.stop.cancelled() => None,
                };
                let Some(permit) = permit else {
                    if ctx.stop.is_cancelled() {
                        break SessionEnd::Exit(Exit::Stopped);
                    }
                    if !self
                        .seal(&mut pending, &meta, producer, &mut sequence, &tx)
                        .await
                    {
                        break SessionEnd::Restart;
                    }
                    continue;
                };
                let mut buf = BytesMut::zeroed(want as usize);
                let n = self
                    .file
                    .read_at(&mut buf, offset)
                    .map_err(|e| format!("read: {e}"))?;
                buf.truncate(n);
                if n == 0 {
                    continue;
                }
                pending.add_budget(Budget::new(permit, ctx.metrics.buffered_bytes.clone()));
                bytes_read.inc_by(n as u64);
                if offset < FP_MAX {
                    self.grow_fingerprint();
                }
                let now = now_ms();
                let chunk = buf.freeze();
                let mut lines = Vec::new();
                splitter.feed(chunk, offset, &mut |l: Line| lines.push(l));
                offset += n as u64;
                lines_read.inc_by(lines.len() as u64);
                let mut records = Vec::with_capacity(lines.len());
                for line in lines {
                    match &mut multiline {
                        Some(m) => m.push(line, &mut |r| records.push(r)),
                        None => records.push(line),
                    }
                }
                self.report_long_lines(&splitter, &mut reported_split, &mut reported_truncated);
                for r in records {
                    if skip > 0 {
                        // The collector has it already.
                        skip -= 1;
                        sequence = sequence.wrapping_add(1);
                        let (end, seq) = (r.end, sequence);
                        ctx.checkpoints.update(id, |c| {
                            c.offset = end;
                            c.sequence = seq;
                        });
                        ctx.metrics
                            .records_deduplicated
                            .with_label_values(&[&source])
                            .inc();
                        continue;
                    }
                    pending.push(r, now);
                    if (pending.bytes >= self.batch_limit
                        || pending.records.len() >= batch.max_records)
                        && !self
                            .seal(&mut pending, &meta, producer, &mut sequence, &tx)
                            .await
                    {
                        break;
                    }
                }
                if sequence > i32::MAX - batch.max_records as i32 * 2 {
                    // Sequences are about to wrap: ship, drain, new identity.
                    self.seal(&mut pending, &meta, producer, &mut sequence, &tx)
                        .await;
                    break SessionEnd::Restart;
                }
                continue;
            }

            // At the end of the file.
            if pending.since.is_some_and(|s| s.elapsed() >= batch.linger)
                && !self
                    .seal(&mut pending, &meta, producer, &mut sequence, &tx)
                    .await
            {
                break SessionEnd::Restart;
            }
            if let Some(m) = &mut multiline {
                if m.has_pending()
                    && last_growth.elapsed()
                        >= ctx
                            .config
                            .multiline
                            .as_ref()
                            .map_or(Duration::ZERO, |c| c.timeout)
                {
                    let mut records = Vec::new();
                    m.flush(&mut |r| records.push(r));
                    let now = now_ms();
                    for r in records {
                        pending.push(r, now);
                    }
                    continue;
                }
            }
            let idle = last_growth.elapsed();
            if let Some(deleted) = self.rotated_away() {
                if idle >= ctx.config.rotate_wait {
                    // Read to the end: the last line needs no newline now.
                    let mut records = Vec::new();
                    splitter.finish(offset, &mut |l| records.push(l));
                    if let Some(m) = &mut multiline {
                        for l in std::mem::take(&mut records) {
                            m.push(l, &mut |r| records.push(r));
                        }
                        m.flush(&mut |r| records.push(r));
                    }
                    let now = now_ms();
                    for r in records {
                        pending.push(r, now);
                    }
                    ctx.metrics
                        .files_rotated
                        .with_label_values(&[&source])
                        .inc();
                    tracing::debug!(source, path = %self.handle.path().display(), deleted, "rotated file read to its end; closing");
                    let ok = self
                        .seal(&mut pending, &meta, producer, &mut sequence, &tx)
                        .await;
                    break if ok {
                        SessionEnd::Exit(Exit::Rotated { deleted })
                    } else {
                        SessionEnd::Restart
                    };
                }
            } else if idle >= ctx.config.idle_close && pending.records.is_empty() {
                break SessionEnd::Exit(Exit::Idle { size });
            }

            // Wait for more: an inotify wake-up, the linger deadline, a poll.
            let deadline = pending.since.map(|s| s + batch.linger);
            tokio::select! {
                _ = self.handle.wake.notified() => {}
                _ = sleep_until(deadline) => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = ctx.stop.cancelled() => break SessionEnd::Exit(Exit::Stopped),
            }
        };

        // Ship what is complete and wait for the sender to finish.
        if matches!(end, SessionEnd::Exit(Exit::Stopped)) {
            self.seal(&mut pending, &meta, producer, &mut sequence, &tx)
                .await;
        }
        drop(tx);
        self.sender_ended(sender.await);
        Ok(end)
    }

    /// Learns from how the sender ended.
    fn sender_ended(&mut self, end: Result<SenderEnd, tokio::task::JoinError>) {
        if let Ok(SenderEnd::TooLarge) = end {
            self.batch_limit = (self.batch_limit / 2).max(MIN_BATCH_BYTES);
        }
    }

    /// Encodes the pending lines and hands them to the sender; false when
    /// the sender is gone (it refused a batch, or shutdown).
    async fn seal(
        &self,
        pending: &mut Pending,
        meta: &StreamMeta,
        producer: (i64, i16),
        sequence: &mut i32,
        tx: &mpsc::Sender<Sealed>,
    ) -> bool {
        if pending.records.is_empty() {
            // Budget taken for bytes that made no record (partial lines).
            pending.budget = None;
            pending.since = None;
            return !tx.is_closed();
        }
        let p = std::mem::take(pending);
        let records = p.records;
        let n = records.len();
        let first_sequence = *sequence;
        *sequence = sequence.wrapping_add(n as i32);
        let fields = ProducerFields {
            id: producer.0,
            epoch: producer.1,
            first_sequence,
        };
        let compression = self.ctx.compression;
        // Small batches are encoded right here; large ones on the encoder
        // threads (one per core) while this reads on, so consecutive batches
        // of one busy file compress in parallel. The sender takes them in
        // order either way.
        let bytes = if self.ctx.sink.takes_records() {
            // The Kafka sink builds its own messages from the lines.
            Encoded::Ready(Payload::Lines(Arc::new(Lines {
                records,
                meta: meta.clone(),
            })))
        } else if p.bytes < INLINE_ENCODE {
            match batch::encode(&records, meta, fields, compression) {
                Ok(b) => Encoded::Ready(Payload::Batch(b)),
                Err(e) => {
                    tracing::error!(error = %e, "encoding a batch failed");
                    self.ctx.metrics.errors.with_label_values(&["encode"]).inc();
                    return false;
                }
            }
        } else {
            Encoded::Pending(
                self.ctx
                    .encoders
                    .encode(records, meta.clone(), fields, compression),
            )
        };
        tx.send(Sealed {
            bytes,
            records: n,
            first_sequence,
            end_offset: p.end,
            _budget: p.budget,
        })
        .await
        .is_ok()
    }

    /// Some(deleted) when the path no longer leads to this file.
    fn rotated_away(&self) -> Option<bool> {
        if self.file.metadata().map(|m| m.nlink() == 0).unwrap_or(true) {
            return Some(true);
        }
        match std::fs::metadata(self.handle.path()) {
            Ok(m) if m.dev() == self.dev && m.ino() == self.ino => None,
            _ => Some(false),
        }
    }

    /// A fresh producer id for the stream, saved before anything is sent
    /// with it.
    async fn new_identity(
        &self,
        cp: &mut crate::checkpoint::StreamCheckpoint,
        offset: u64,
    ) -> Result<(), String> {
        let (pid, epoch) = self
            .ctx
            .sink
            .new_producer_id()
            .await
            .map_err(|e| format!("getting a producer id: {e}"))?;
        cp.producer_id = pid;
        cp.epoch = epoch;
        cp.sequence = 0;
        cp.offset = offset;
        let next = cp.clone();
        self.ctx.checkpoints.update(self.handle.id, |c| *c = next);
        self.ctx.persist().await
    }

    /// After a truncation: the checkpoint moves to 0 with the new content's
    /// fingerprint, saved before the new content is sent.
    async fn restart_at_zero(&self) -> Result<(), String> {
        let len = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        let (fp_len, fp_crc) = fingerprint(&self.file, len).map_err(|e| e.to_string())?;
        self.ctx.checkpoints.update(self.handle.id, |c| {
            c.offset = 0;
            c.fp_len = fp_len;
            c.fp_crc = fp_crc;
        });
        self.ctx.persist().await
    }

    /// The fingerprint covers up to FP_MAX bytes once the file has them.
    fn grow_fingerprint(&self) {
        let len = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        if let Ok((fp_len, fp_crc)) = fingerprint(&self.file, len) {
            self.ctx.checkpoints.update(self.handle.id, |c| {
                if fp_len > c.fp_len {
                    c.fp_len = fp_len;
                    c.fp_crc = fp_crc;
                }
            });
        }
    }

    fn report_long_lines(&self, s: &LineSplitter, split: &mut u64, truncated: &mut u64) {
        let source = &self.ctx.name;
        if s.counts.split > *split {
            self.ctx
                .metrics
                .lines_split
                .with_label_values(&[source])
                .inc_by(s.counts.split - *split);
            *split = s.counts.split;
        }
        if s.counts.truncated > *truncated {
            self.ctx
                .metrics
                .lines_truncated
                .with_label_values(&[source])
                .inc_by(s.counts.truncated - *truncated);
            *truncated = s.counts.truncated;
        }
    }
}

/// Why a sender stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SenderEnd {
    /// Its channel closed and everything was answered.
    Done,
    /// The collector refused a batch as too large: use smaller ones.
    TooLarge,
    /// A refusal, a sequence conflict, shutdown: start over from the
    /// checkpoint.
    Failed,
}

/// What the send loop waited for.
enum Step {
    /// The next sealed batch (None: the tailer is done).
    Batch(Option<Sealed>),
    /// The oldest request's answer.
    Answer(Result<Result<Ack, SinkError>, tokio::task::JoinError>),
}

/// A batch sent and not yet answered.
struct InFlight {
    batch: Sealed,
    bytes: Payload,
    answer: JoinHandle<Result<Ack, SinkError>>,
    /// Sent while an earlier batch was unanswered: a sequence conflict may
    /// just mean it overtook that one.
    overtaking: bool,
}

/// Ships sealed batches in order, up to [`PIPELINE`] at a time; answers are
/// taken in order and each acknowledgement moves the checkpoint. A batch
/// that overtook an earlier one on the way (separate connections) and was
/// refused as out of order is sent again once the earlier one is in.
/// Returns early when the collector refuses a batch for good (after moving
/// the checkpoint past it under a new producer id, or not at all for a
/// sequence conflict), which ends the tailer's session.
async fn send_loop(
    ctx: Arc<SourceCtx>,
    id: u64,
    topic: String,
    partition: i32,
    collector_knows: bool,
    mut rx: mpsc::Receiver<Sealed>,
) -> SenderEnd {
    let source = ctx.name.clone();
    let m = &ctx.metrics;
    let mut end = SenderEnd::Done;
    // One at a time until the collector has state for the producer (an
    // unknown producer's batch is accepted at any sequence, so a later one
    // overtaking the first would be taken, and the first refused).
    let mut depth = if collector_knows { PIPELINE } else { 1 };
    let mut flying: VecDeque<InFlight> = VecDeque::new();
    let mut open = true;
    loop {
        // Take new batches while there is room; otherwise (or when the
        // channel is done) wait for the oldest answer.
        let step = if open && flying.len() < depth {
            tokio::select! {
                biased;
                b = rx.recv() => Step::Batch(b),
                done = async { (&mut flying.front_mut().expect("non-empty").answer).await }, if !flying.is_empty() => Step::Answer(done),
            }
        } else if let Some(front) = flying.front_mut() {
            Step::Answer((&mut front.answer).await)
        } else {
            break;
        };
        let mut batch = match step {
            Step::Answer(done) => {
                let f = flying.pop_front().expect("non-empty");
                if let Some(e) = settle(&ctx, id, &topic, partition, f, done).await {
                    end = e;
                    break;
                }
                depth = PIPELINE;
                continue;
            }
            Step::Batch(None) => {
                open = false;
                continue;
            }
            Step::Batch(Some(b)) => b,
        };
        let bytes = match std::mem::replace(
            &mut batch.bytes,
            Encoded::Ready(Payload::Batch(Bytes::new())),
        ) {
            Encoded::Ready(b) => b,
            Encoded::Pending(task) => match task.await.map_err(std::io::Error::other) {
                Ok(Ok(b)) => Payload::Batch(b),
                Ok(Err(e)) | Err(e) => {
                    tracing::error!(source, error = %e, "encoding a batch failed");
                    m.errors.with_label_values(&["encode"]).inc();
                    end = SenderEnd::Failed;
                    break;
                }
            },
        };
        let answer = ctx
            .sink
            .start_send(&source, &topic, partition, bytes.clone())
            .await;
        flying.push_back(InFlight {
            batch,
            bytes,
            answer,
            overtaking: !flying.is_empty(),
        });
    }
    // Requests still out are waited for (their outcome is whatever the
    // collector decided; the next session asks it), and batches still
    // queued are dropped with their budget: the next session re-reads them.
    for f in flying {
        let _ = f.answer.await;
    }
    rx.close();
    while rx.try_recv().is_ok() {}
    end
}

/// Handles the oldest batch's answer; Some ends the session.
async fn settle(
    ctx: &Arc<SourceCtx>,
    id: u64,
    topic: &str,
    partition: i32,
    mut f: InFlight,
    done: Result<Result<Ack, SinkError>, tokio::task::JoinError>,
) -> Option<SenderEnd> {
    let source = &ctx.name;
    let m = &ctx.metrics;
    let mut result = done.unwrap_or(Err(SinkError::Cancelled));
    if f.overtaking
        && matches!(
            result,
            Err(SinkError::Rejected {
                kind: Rejection::SequenceConflict,
                ..
            })
        )
    {
        // Every earlier batch is acknowledged by now: send it again, in
        // order this time (later ones in flight will be retried likewise).
        result = ctx
            .sink
            .send(source, topic, partition, f.bytes.clone())
            .await;
        f.overtaking = false;
    }
    let batch = f.batch;
    match result {
        Ok(_ack) => {
            let (end, seq) = (
                batch.end_offset,
                batch.first_sequence.wrapping_add(batch.records as i32),
            );
            ctx.checkpoints.update(id, |c| {
                c.offset = end;
                c.sequence = seq;
            });
            m.batches_sent.with_label_values(&[source]).inc();
            m.records_sent
                .with_label_values(&[source])
                .inc_by(batch.records as u64);
            m.bytes_sent
                .with_label_values(&[source])
                .inc_by(f.bytes.len() as u64);
            None
        }
        Err(SinkError::Cancelled) | Err(SinkError::Retry(_)) => Some(SenderEnd::Failed),
        Err(SinkError::Rejected { kind, message }) => {
            // Later batches in flight carry sequences after this one; the
            // collector refuses them (out of order), and the next session
            // starts from the checkpoint.
            if kind == Rejection::SequenceConflict {
                tracing::warn!(
                    source,
                    message,
                    "collector reported a sequence conflict; resynchronising"
                );
                return Some(SenderEnd::Failed);
            }
            if kind == Rejection::TooLarge && batch.records > 1 {
                // As Kafka producers split a batch refused as too large:
                // the session starts over from the checkpoint with smaller
                // batches, nothing is dropped.
                tracing::info!(
                    source,
                    records = batch.records,
                    message,
                    "collector refused a batch as too large; sending smaller ones"
                );
                return Some(SenderEnd::TooLarge);
            }
            tracing::error!(
                source,
                topic,
                partition,
                %kind,
                message,
                records = batch.records,
                "collector refused a batch; its records are dropped"
            );
            m.records_rejected
                .with_label_values(&[source])
                .inc_by(batch.records as u64);
            // Skip it, and never reuse its sequences: a new identity.
            match ctx.sink.new_producer_id().await {
                Ok((pid, epoch)) => {
                    let end = batch.end_offset;
                    ctx.checkpoints.update(id, |c| {
                        c.offset = end;
                        c.producer_id = pid;
                        c.epoch = epoch;
                        c.sequence = 0;
                    });
                    if let Err(e) = ctx.persist().await {
                        tracing::error!(source, error = %e, "writing checkpoints failed");
                    }
                }
                Err(e) => tracing::error!(source, error = %e, "getting a producer id failed"),
            }
            Some(SenderEnd::Failed)
        }
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
