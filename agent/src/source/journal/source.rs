//! Running the journald source: one stream for the whole journal (one
//! producer identity, one partition, journal order), shipped through the
//! shared stream machinery ([`crate::stream`]) exactly as a file is: the
//! batcher numbers records with the stream's sequences, the sender ships
//! them and, on each acknowledgement, moves the checkpoint to the cursor of
//! the batch's last entry ([`JournalProgress`]); a session starts from the
//! checkpoint, and [`crate::stream::resume`] skips what the collector
//! already holds. Records are keyed by unit, so a consumer can still group
//! them; they all go to one partition because one producer sequence
//! numbers them.
//!
//! Backpressure: entries are read (from the reader's channel) only with
//! budget in hand; while the budget is spent the channel fills, the reader
//! stops reading journalctl's pipe and journalctl waits. The journal is the
//! buffer.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use logship_common::time::now_ms;
use tokio::sync::mpsc;

use super::cursor::{self, Gap};
use super::filter::Filter;
use super::reader::{self, Event, ReaderStats, Start};
use super::record::{self, RecordMeta};
use crate::checkpoint::{Checkpoints, StreamCheckpoint};
use crate::config::{JournaldSourceConfig, Since};
use crate::error::Error;
use crate::partitioner;
use crate::stream::batcher::{self, Batcher, Headed};
use crate::stream::budget::Budget;
use crate::stream::resume::{resume, Resume};
use crate::stream::sender::{self, SenderEnd, Target};
use crate::stream::{Progress, Shipping};

/// Batches never shrink below this after "too large" refusals.
const MIN_BATCH_BYTES: u64 = 1024;
/// How often the journal's head is looked up for the lag gauges.
const LAG_EVERY: Duration = Duration::from_secs(2);
/// Waits between failed sessions.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(200), Duration::from_secs(10));

/// What the source's sessions share.
pub struct JournalCtx {
    pub name: String,
    pub config: JournaldSourceConfig,
    /// Sink, metrics, budget, batching and the stop token.
    pub ship: Arc<Shipping>,
    pub checkpoints: Arc<Checkpoints>,
    /// The agent's host name (entries without `_HOSTNAME`).
    pub host: Bytes,
    pub labels: Vec<(StrBytes, Bytes)>,
}

impl JournalCtx {
    async fn persist(&self) -> Result<(), Error> {
        crate::checkpoint::persist_now(&self.checkpoints, &self.ship.metrics).await
    }

    fn counter(&self, c: &prometheus::IntCounterVec) -> prometheus::IntCounter {
        c.with_label_values(&[&self.name])
    }
}

/// Where a batch ends: its last entry's cursor, and the session's running
/// totals of entries and value bytes up to it (for the shipped metrics).
#[derive(Debug, Clone)]
pub struct Position {
    pub cursor: Arc<str>,
    entries: u64,
    bytes: u64,
}

/// The journal stream's durable progress: the cursor in its checkpoint.
pub struct JournalProgress {
    ctx: Arc<JournalCtx>,
    id: u64,
    /// Totals at the last acknowledgement of this session.
    acked: Mutex<(u64, u64)>,
}

impl Progress for JournalProgress {
    type Position = Position;

    fn acknowledged(&self, end: &Position, next_sequence: i32) {
        let cursor = end.cursor.to_string();
        self.ctx.checkpoints.update(self.id, |c| {
            c.cursor = Some(cursor);
            c.sequence = next_sequence;
        });
        let mut acked = self.acked.lock().unwrap_or_else(|e| e.into_inner());
        let m = &self.ctx.ship.metrics;
        self.ctx
            .counter(&m.journal_entries_shipped)
            .inc_by(end.entries.saturating_sub(acked.0));
        self.ctx
            .counter(&m.journal_bytes_shipped)
            .inc_by(end.bytes.saturating_sub(acked.1));
        *acked = (end.entries, end.bytes);
    }

    async fn skip_refused(&self, end: &Position, producer: (i64, i16)) -> Result<(), Error> {
        let cursor = end.cursor.to_string();
        self.ctx.checkpoints.update(self.id, |c| {
            c.cursor = Some(cursor);
            c.producer_id = producer.0;
            c.epoch = producer.1;
            c.sequence = 0;
        });
        self.ctx.persist().await
    }
}

/// Runs the source until `ship.stop`.
pub async fn run(ctx: Arc<JournalCtx>) {
    let stop = ctx.ship.stop.clone();
    let filter = match Filter::new(&ctx.config) {
        Ok(f) => f,
        Err(e) => {
            // Validation checked the globs; this cannot happen.
            tracing::error!(source = %ctx.name, error = %e, "bad unit globs");
            return;
        }
    };
    // Every series of the source exists from the start (a loss counter
    // that reads 0 says something; one that is missing says nothing).
    let m = &ctx.ship.metrics;
    for c in [
        &m.journal_entries_read,
        &m.journal_entries_filtered,
        &m.journal_entries_shipped,
        &m.journal_bytes_read,
        &m.journal_bytes_shipped,
        &m.journal_entries_lost,
        &m.journal_gaps,
        &m.journal_read_errors,
        &m.journal_fields_truncated,
        &m.journal_restarts,
    ] {
        ctx.counter(c);
    }
    let Some(id) = stream(&ctx).await else {
        return;
    };
    tracing::info!(source = %ctx.name, directory = ?ctx.config.journal_directory, "journal source started");
    let lag = tokio::spawn(watch_lag(Arc::clone(&ctx), id));
    let mut limit = ctx.ship.batch.max_bytes;
    let mut backoff = BACKOFF.0;
    loop {
        match session(&ctx, id, &filter, &mut limit).await {
            Ok(true) => break,
            Ok(false) => backoff = BACKOFF.0,
            Err(e) => {
                tracing::error!(source = %ctx.name, error = %e, "journal session failed; retrying");
                ctx.ship.metrics.errors.with_label_values(&[e.kind()]).inc();
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.cancelled() => break,
                }
                backoff = (backoff * 2).min(BACKOFF.1);
            }
        }
        if stop.is_cancelled() {
            break;
        }
    }
    lag.abort();
}

/// The stream's checkpoint: the saved one, or a new identity starting
/// where `since` says, saved before anything is sent under it. None on
/// shutdown.
async fn stream(ctx: &Arc<JournalCtx>) -> Option<u64> {
    let stop = &ctx.ship.stop;
    let mut backoff = BACKOFF.0;
    loop {
        match try_stream(ctx).await {
            Ok(id) => return Some(id),
            Err(e) => {
                tracing::error!(source = %ctx.name, error = %e, "cannot start the journal stream; retrying");
                ctx.ship.metrics.errors.with_label_values(&[e.kind()]).inc();
            }
        }
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stop.cancelled() => return None,
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

async fn try_stream(ctx: &Arc<JournalCtx>) -> Result<u64, Error> {
    let topic = &ctx.config.topic;
    for (id, cp) in ctx.checkpoints.of_source(&ctx.name) {
        if cp.topic == *topic {
            return Ok(id);
        }
        // The source now ships elsewhere: a new stream there, from the
        // same place in the journal.
        ctx.checkpoints.remove(id);
    }
    let label = match &ctx.config.journal_directory {
        Some(d) => d.clone(),
        None => "journal".into(),
    };
    let sink = &ctx.ship.sink;
    let sink_error = |doing| move |error| Error::Sink { doing, error };
    let partitions = sink
        .partitions(topic)
        .await
        .map_err(sink_error("looking up the topic"))?;
    let (producer_id, epoch) = sink
        .new_producer_id()
        .await
        .map_err(sink_error("getting a producer id"))?;
    let cursor = match ctx.config.since {
        Since::Beginning => None,
        Since::Now => reader::last_cursor(&ctx.config.reader_config())
            .await
            .map_err(|e| Error::Read {
                path: label.clone(),
                error: std::io::Error::other(e),
            })?,
    };
    let id = ctx.checkpoints.insert(StreamCheckpoint {
        source: ctx.name.clone(),
        path: label,
        dev: 0,
        ino: 0,
        fp_len: 0,
        fp_crc: 0,
        offset: 0,
        topic: topic.clone(),
        partition: partitioner::partition_for(ctx.name.as_bytes(), partitions),
        producer_id,
        epoch,
        sequence: 0,
        cursor,
    });
    if let Err(e) = ctx.persist().await {
        ctx.checkpoints.remove(id);
        return Err(e);
    }
    Ok(id)
}

/// One pass from the checkpoint; Ok(true) on shutdown, Ok(false) to start
/// over from the (updated) checkpoint.
async fn session(
    ctx: &Arc<JournalCtx>,
    id: u64,
    filter: &Filter,
    limit: &mut u64,
) -> Result<bool, Error> {
    let ship = Arc::clone(&ctx.ship);
    let mut cp = ctx.checkpoints.get(id).ok_or(Error::CheckpointGone {
        path: "journal".into(),
    })?;
    let (skip, sink_knows) = match resume(&ship.sink, &cp).await? {
        Resume::Stopped => return Ok(true),
        Resume::Continue { skip, sink_knows } => (skip, sink_knows),
        Resume::NewIdentity => {
            let (pid, epoch) = ship
                .sink
                .new_producer_id()
                .await
                .map_err(|error| Error::Sink {
                    doing: "getting a producer id",
                    error,
                })?;
            (cp.producer_id, cp.epoch, cp.sequence) = (pid, epoch, 0);
            let next = cp.clone();
            ctx.checkpoints.update(id, |c| *c = next);
            ctx.persist().await?;
            (0, false)
        }
    };
    let progress = Arc::new(JournalProgress {
        ctx: Arc::clone(ctx),
        id,
        acked: Mutex::new((0, 0)),
    });
    let target = Target {
        topic: cp.topic.clone(),
        partition: cp.partition,
        sink_knows,
    };
    let (tx, sender) = sender::spawn(Arc::clone(&ship), Arc::clone(&progress), target);
    let start = batcher::Start {
        producer: (cp.producer_id, cp.epoch),
        sequence: cp.sequence,
        skip,
        limit: *limit,
    };
    let mut batcher = Batcher::new(Arc::clone(&ship), progress, Headed, start, tx);

    let m = &ship.metrics;
    let stats = ReaderStats {
        bytes: ctx.counter(&m.journal_bytes_read),
        errors: ctx.counter(&m.journal_read_errors),
        restarts: ctx.counter(&m.journal_restarts),
        truncated: ctx.counter(&m.journal_fields_truncated),
    };
    let from = cp.cursor.clone().map_or(Start::Head, Start::After);
    let (etx, mut events) = mpsc::channel(2);
    let reader_stop = ship.stop.child_token();
    let reader = tokio::spawn(reader::run(
        ctx.name.clone(),
        ctx.config.reader_config(),
        from,
        etx,
        stats,
        reader_stop.clone(),
    ));
    let meta = RecordMeta {
        host: ctx.host.clone(),
        labels: ctx.labels.clone(),
        encoding: ctx.config.encoding,
    };
    let read = ctx.counter(&m.journal_entries_read);
    let filtered = ctx.counter(&m.journal_entries_filtered);
    let (mut entries, mut bytes) = (0u64, 0u64);
    let stopped = loop {
        if sender.is_finished() {
            // The sender gave up on a refused batch: start over.
            break false;
        }
        let event = tokio::select! {
            e = events.recv() => e,
            _ = sleep_until(batcher.deadline()) => {
                if !batcher.seal().await {
                    break false;
                }
                continue;
            }
            _ = ship.stop.cancelled() => break true,
        };
        let batch = match event {
            Some(Event::Entries(batch)) => batch,
            Some(Event::Lost { gap, after, next }) => {
                report_loss(ctx, &gap, &after, &next);
                continue;
            }
            None => break true, // the reader stops only on shutdown
        };
        // Budget for what was read, waited for (never past the linger
        // deadline of records already waiting: they must leave to free it).
        let size: usize = batch.iter().map(|e| e.size).sum();
        let want = (size as u64).clamp(1, ship.batch.max_bytes) as u32;
        let permit = loop {
            tokio::select! {
                p = Arc::clone(&ship.budget).acquire_many_owned(want) => break p.ok(),
                _ = sleep_until(batcher.deadline()) => {
                    if !batcher.seal().await {
                        break None;
                    }
                }
                _ = ship.stop.cancelled() => break None,
            }
        };
        let Some(permit) = permit else {
            break ship.stop.is_cancelled();
        };
        batcher.add_budget(Budget::new(permit, m.buffered_bytes.clone()));
        read.inc_by(batch.len() as u64);
        let now = now_ms();
        let mut gone = false;
        for e in batch {
            if !filter.accepts(&e) {
                filtered.inc();
                continue;
            }
            let cursor: Arc<str> = e.text(b"__CURSOR").unwrap_or_default().into();
            let r = record::build(&e, &meta, now);
            entries += 1;
            bytes += r.value.len() as u64;
            let end = Position {
                cursor,
                entries,
                bytes,
            };
            if !batcher.push(r, end).await {
                gone = true;
                break;
            }
        }
        if gone {
            break false;
        }
        if batcher.sequences_running_out() {
            // Ship, drain, and go on under a new identity.
            batcher.seal().await;
            break false;
        }
    };
    if stopped {
        batcher.seal().await;
    }
    drop(batcher);
    reader_stop.cancel();
    drop(events);
    let _ = reader.await;
    if let Ok(SenderEnd::TooLarge) = sender.await {
        *limit = (*limit / 2).max(MIN_BATCH_BYTES);
    }
    Ok(stopped || ship.stop.is_cancelled())
}

/// Logs a loss once and counts it.
fn report_loss(ctx: &JournalCtx, gap: &Gap, after: &str, next: &str) {
    let m = &ctx.ship.metrics;
    ctx.counter(&m.journal_gaps).inc();
    match gap {
        Gap::Known(n) => {
            ctx.counter(&m.journal_entries_lost).inc_by(*n);
            tracing::warn!(source = %ctx.name, lost = n, after, next, "journal entries were lost before they were read (vacuumed or their file removed)");
        }
        Gap::Unknown => {
            tracing::warn!(source = %ctx.name, after, next, "journal entries were lost before they were read (the entry after the checkpoint is gone and the journal that follows is another one, so how many is unknown)");
        }
    }
}

/// Keeps the lag gauges: how far the checkpoint is behind the journal's
/// newest entry, in entries (when both are in one journal) and seconds.
async fn watch_lag(ctx: Arc<JournalCtx>, id: u64) {
    let m = &ctx.ship.metrics;
    let entries = m.journal_lag_entries.with_label_values(&[&ctx.name]);
    let seconds = m.journal_lag_seconds.with_label_values(&[&ctx.name]);
    let cfg = ctx.config.reader_config();
    loop {
        let started = Instant::now();
        if let (Ok(Some(head)), Some(cp)) =
            (reader::last_cursor(&cfg).await, ctx.checkpoints.get(id))
        {
            let head = cursor::parse(&head);
            let acked = cp.cursor.as_deref().and_then(cursor::parse);
            if let Some(h) = head {
                match &acked {
                    Some(a) if a.seqnum_id == h.seqnum_id => {
                        entries.set(h.seqnum.saturating_sub(a.seqnum) as i64)
                    }
                    Some(_) => {}
                    None => entries.set(h.seqnum as i64),
                }
                let behind_us = match &acked {
                    Some(a) => h.realtime_us.saturating_sub(a.realtime_us),
                    None => 0,
                };
                seconds.set((behind_us / 1_000_000) as i64);
            }
        }
        tokio::time::sleep(LAG_EVERY.saturating_sub(started.elapsed())).await;
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
