//! Following one file (one stream): look at the file, classify what
//! happened since the last look ([`identity::classify`]), and act: read
//! what it grew by, start again at 0 when its content changed, close it
//! once it is read to the end and rotated away, deleted or idle.
//!
//! Lines go through the stream machinery ([`crate::stream`]): the batcher
//! seals them into batches under the stream's producer id and sequences,
//! the sender ships them and moves the checkpoint on each acknowledgement.
//! Reading the next batch overlaps with shipping the previous one; the
//! shared byte budget stops reading when too much is unacknowledged.
//!
//! A *session* starts from the checkpoint ([`crate::stream::resume`] skips
//! what the collector already holds). Truncation, a refused batch, or a
//! sequence running out end the session and start a new one from the
//! (then updated) checkpoint, so each of those cases reuses the same path.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::{Bytes, BytesMut};
use logship_common::time::now_ms;
use tokio::task::{JoinError, JoinHandle};

use super::identity::{self, Change, Fingerprint, Look, FP_MAX};
use super::progress::FileProgress;
use super::reader::LineReader;
use super::{Handle, SourceCtx};
use crate::batch::{OutRecord, StreamMeta};
use crate::checkpoint::StreamCheckpoint;
use crate::error::Error;
use crate::stream::batcher::{self, Batcher};
use crate::stream::budget::Budget;
use crate::stream::resume::{resume, Resume};
use crate::stream::sender::{self, SenderEnd, Target};

/// Largest single read.
const READ_CHUNK: u64 = 256 * 1024;
/// Batches never shrink below this after "too large" refusals.
const MIN_BATCH_BYTES: u64 = 1024;
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
    /// The content changed: ship what was read, then start over at 0.
    Truncated,
}

/// What one read did.
enum Read {
    /// Read (or waited for budget and sealed what lingered): look again.
    More,
    /// The sender is gone: restart from the checkpoint.
    SenderGone,
    Stopped,
}

pub struct Tailer {
    ctx: Arc<SourceCtx>,
    handle: Arc<Handle>,
    file: File,
    dev: u64,
    ino: u64,
    /// Where this tailer last saw the file. Discovery may find it under
    /// another name first (`handle.path()`); the tailer notices the rename
    /// itself, so it is counted once whoever saw it first.
    at: PathBuf,
    /// The rotation in progress was counted.
    rotation_counted: bool,
    /// Size and modification time at the last look: the first bytes are
    /// re-read to check the fingerprint only when either changed.
    stamp: Option<(u64, Option<SystemTime>)>,
    /// Line bytes per batch: `batch.max_bytes`, halved each time the
    /// collector refuses a batch as too large.
    batch_limit: u64,
}

impl Tailer {
    pub fn new(ctx: Arc<SourceCtx>, handle: Arc<Handle>, file: File) -> std::io::Result<Tailer> {
        let meta = file.metadata()?;
        let batch_limit = ctx.ship.batch.max_bytes;
        Ok(Tailer {
            at: handle.path(),
            ctx,
            handle,
            file,
            dev: meta.dev(),
            ino: meta.ino(),
            rotation_counted: false,
            stamp: None,
            batch_limit,
        })
    }

    pub async fn run(mut self) -> Exit {
        let source = self.ctx.name.clone();
        let open = self
            .ctx
            .ship
            .metrics
            .files_open
            .with_label_values(&[&source]);
        open.inc();
        let exit = loop {
            match self.session().await {
                Ok(SessionEnd::Exit(e)) => break e,
                Ok(SessionEnd::Restart) => continue,
                Ok(SessionEnd::Truncated) => match self.restart_at_zero().await {
                    Ok(()) => continue,
                    Err(e) => break self.failed(e),
                },
                Err(e) => break self.failed(e),
            }
        };
        if matches!(exit, Exit::Idle { .. })
            && !self.rotation_counted
            && self.handle.path() != self.at
        {
            // Discovery saw a rename after this tailer's last look; once
            // closed, discovery counts only renames it sees itself.
            identity::count(Change::RotatedAway, &self.ctx.ship.metrics, &source);
        }
        open.dec();
        self.ctx
            .ship
            .metrics
            .checkpoint_lag_bytes
            .with_label_values(&[&source])
            .sub(self.handle.lag.swap(0, Ordering::Relaxed));
        exit
    }

    fn failed(&self, e: Error) -> Exit {
        tracing::error!(source = %self.ctx.name, path = %self.at.display(), error = %e, "file tailing failed");
        self.ctx
            .ship
            .metrics
            .errors
            .with_label_values(&[e.kind()])
            .inc();
        Exit::Failed
    }

    /// One pass from the checkpoint until the file closes or something
    /// makes the checkpoint the place to start over from.
    async fn session(&mut self) -> Result<SessionEnd, Error> {
        let ctx = Arc::clone(&self.ctx);
        let mut cp = self.checkpoint()?;
        self.stamp = None;
        let (skip, sink_knows) = match resume(&ctx.ship.sink, &cp).await? {
            Resume::Stopped => return Ok(SessionEnd::Exit(Exit::Stopped)),
            Resume::Continue { skip, sink_knows } => (skip, sink_knows),
            Resume::NewIdentity => {
                self.new_identity(&mut cp).await?;
                (0, false)
            }
        };
        let progress = Arc::new(FileProgress {
            ctx: Arc::clone(&ctx),
            id: self.handle.id,
        });
        let target = Target {
            topic: cp.topic.clone(),
            partition: cp.partition,
            sink_knows,
        };
        let (tx, sender) = sender::spawn(Arc::clone(&ctx.ship), Arc::clone(&progress), target);
        let meta = StreamMeta {
            host: ctx.host.clone(),
            path: Bytes::from(cp.path.to_string_lossy().into_owned()),
            labels: ctx.labels.clone(),
            encoding: ctx.config.encoding,
        };
        let start = batcher::Start {
            producer: (cp.producer_id, cp.epoch),
            sequence: cp.sequence,
            skip,
            limit: self.batch_limit,
        };
        let mut batcher = Batcher::new(Arc::clone(&ctx.ship), progress, meta, start, tx);
        let mut reader = LineReader::new(&ctx.config, ctx.multiline.as_ref(), cp.offset);

        let end = self.follow(&mut reader, &mut batcher, &sender).await;
        // Ship what is complete (on shutdown, or what a truncation left
        // behind; if the sender gave up meanwhile, the unsent lines are read
        // again, or gone with the old content) and wait for the sender.
        if matches!(
            end,
            Ok(SessionEnd::Exit(Exit::Stopped)) | Ok(SessionEnd::Truncated)
        ) {
            batcher.seal().await;
        }
        drop(batcher);
        self.sender_ended(sender.await);
        match end {
            Ok(SessionEnd::Truncated) if ctx.ship.stop.is_cancelled() => {
                Ok(SessionEnd::Exit(Exit::Stopped))
            }
            end => end,
        }
    }

    /// Reads, batches and waits until the session ends.
    async fn follow(
        &mut self,
        reader: &mut LineReader,
        batcher: &mut Batcher<FileProgress>,
        sender: &JoinHandle<SenderEnd>,
    ) -> Result<SessionEnd, Error> {
        let ctx = Arc::clone(&self.ctx);
        let mut last_growth = Instant::now();
        loop {
            if sender.is_finished() {
                // The sender gave up on a refused batch: start over.
                return Ok(SessionEnd::Restart);
            }
            let (change, size) = self.look(reader.offset())?;
            match change {
                Change::Truncated | Change::Replaced => {
                    tracing::info!(source = %ctx.name, path = %self.at.display(), ?change, "file truncated; reading from the start");
                    identity::count(change, &ctx.ship.metrics, &ctx.name);
                    return Ok(SessionEnd::Truncated);
                }
                Change::Grew => {
                    last_growth = Instant::now();
                    match self.read(size, reader, batcher).await? {
                        Read::More => {}
                        Read::SenderGone => return Ok(SessionEnd::Restart),
                        Read::Stopped => return Ok(SessionEnd::Exit(Exit::Stopped)),
                    }
                    if batcher.sequences_running_out() {
                        // Ship, drain, and go on under a new identity.
                        batcher.seal().await;
                        return Ok(SessionEnd::Restart);
                    }
                    continue;
                }
                Change::RotatedAway | Change::Deleted | Change::Idle => {}
            }

            // At the end of the file.
            if batcher.lingered() && !batcher.seal().await {
                return Ok(SessionEnd::Restart);
            }
            if let Some(record) = reader.timed_out(last_growth.elapsed()) {
                if !self.ship(batcher, vec![record]).await {
                    return Ok(SessionEnd::Restart);
                }
                continue;
            }
            let idle = last_growth.elapsed();
            if change.rotated() {
                if idle >= ctx.config.rotate_wait {
                    let deleted = change == Change::Deleted;
                    tracing::debug!(source = %ctx.name, path = %self.at.display(), deleted, "rotated file read to its end; closing");
                    let last = reader.finish();
                    let shipped = self.ship(batcher, last).await && batcher.seal().await;
                    return Ok(if shipped {
                        SessionEnd::Exit(Exit::Rotated { deleted })
                    } else {
                        SessionEnd::Restart
                    });
                }
            } else if idle >= ctx.config.idle_close && batcher.is_empty() {
                return Ok(SessionEnd::Exit(Exit::Idle { size }));
            }

            // Wait for more: an inotify wake-up, the linger deadline, a poll.
            tokio::select! {
                _ = self.handle.wake.notified() => {}
                _ = sleep_until(batcher.deadline()) => {}
                _ = tokio::time::sleep(POLL) => {}
                _ = ctx.ship.stop.cancelled() => return Ok(SessionEnd::Exit(Exit::Stopped)),
            }
        }
    }

    /// Looks at the file: what changed since it was read up to `position`,
    /// and its size. Counts a rotation the first time it is seen.
    fn look(&mut self, position: u64) -> Result<(Change, u64), Error> {
        let cp = self.checkpoint()?;
        let stamp = identity::stamp(&self.file);
        let changed = std::mem::replace(&mut self.stamp, stamp) != stamp;
        let read_error = |error| Error::Read {
            path: self.at.clone(),
            error,
        };
        let fp = cp.identity().fingerprint;
        let mut look =
            Look::take(&self.file, &self.at, &fp, changed && position > 0).map_err(read_error)?;
        if !look.at_path && look.links > 0 {
            let found = self.handle.path();
            if found != self.at && identity::leads_to(&found, self.dev, self.ino) {
                // Renamed to a name discovery follows too: the same stream
                // goes on there. The rename was a rotation.
                if !self.rotation_counted {
                    identity::count(Change::RotatedAway, &self.ctx.ship.metrics, &self.ctx.name);
                }
                self.rotation_counted = false;
                self.at = found;
                look.at_path = true;
            }
        }
        let change = identity::classify(position, &look);
        if change.rotated() && !self.rotation_counted {
            identity::count(change, &self.ctx.ship.metrics, &self.ctx.name);
            self.rotation_counted = true;
        }
        // This file's share of the checkpoint-lag gauge.
        let lag = look.size.saturating_sub(cp.offset) as i64;
        self.ctx
            .ship
            .metrics
            .checkpoint_lag_bytes
            .with_label_values(&[&self.ctx.name])
            .add(lag - self.handle.lag.swap(lag, Ordering::Relaxed));
        Ok((change, look.size))
    }

    /// Reads up to [`READ_CHUNK`] of what the file grew by, once the budget
    /// allows, and batches the records it completes.
    async fn read(
        &mut self,
        size: u64,
        reader: &mut LineReader,
        batcher: &mut Batcher<FileProgress>,
    ) -> Result<Read, Error> {
        let ship = Arc::clone(&self.ctx.ship);
        let offset = reader.offset();
        let want = (size - offset).min(READ_CHUNK);
        // Backpressure: wait for budget, but never past the linger deadline
        // of records already waiting (they must leave to free budget).
        let permit = tokio::select! {
            p = Arc::clone(&ship.budget).acquire_many_owned(want as u32) => p.ok(),
            _ = sleep_until(batcher.deadline()) => None,
            _ = ship.stop.cancelled() => None,
        };
        let Some(permit) = permit else {
            if ship.stop.is_cancelled() {
                return Ok(Read::Stopped);
            }
            return Ok(if batcher.seal().await {
                Read::More
            } else {
                Read::SenderGone
            });
        };
        let mut buf = BytesMut::zeroed(want as usize);
        let n = self
            .file
            .read_at(&mut buf, offset)
            .map_err(|error| Error::Read {
                path: self.at.clone(),
                error,
            })?;
        buf.truncate(n);
        if n == 0 {
            return Ok(Read::More);
        }
        batcher.add_budget(Budget::new(permit, ship.metrics.buffered_bytes.clone()));
        let source = &self.ctx.name;
        ship.metrics
            .bytes_read
            .with_label_values(&[source])
            .inc_by(n as u64);
        if offset < FP_MAX {
            self.grow_fingerprint().await?;
        }
        let (cut, records) = reader.feed(buf.freeze());
        ship.metrics
            .lines_read
            .with_label_values(&[source])
            .inc_by(cut as u64);
        let long = reader.long_lines();
        if long.split > 0 {
            ship.metrics
                .lines_split
                .with_label_values(&[source])
                .inc_by(long.split);
        }
        if long.truncated > 0 {
            ship.metrics
                .lines_truncated
                .with_label_values(&[source])
                .inc_by(long.truncated);
        }
        Ok(if self.ship(batcher, records).await {
            Read::More
        } else {
            Read::SenderGone
        })
    }

    /// Hands records to the batcher; false when the sender is gone.
    async fn ship(
        &self,
        batcher: &mut Batcher<FileProgress>,
        records: Vec<super::lines::Line>,
    ) -> bool {
        let now = now_ms();
        for r in records {
            let record = OutRecord {
                value: r.bytes,
                offset: r.offset,
                timestamp: now,
            };
            if !batcher.push(record, r.end).await {
                return false;
            }
        }
        true
    }

    fn checkpoint(&self) -> Result<StreamCheckpoint, Error> {
        self.ctx
            .checkpoints
            .get(self.handle.id)
            .ok_or_else(|| Error::CheckpointGone {
                path: self.at.clone(),
            })
    }

    /// Learns from how the sender ended.
    fn sender_ended(&mut self, end: Result<SenderEnd, JoinError>) {
        if let Ok(SenderEnd::TooLarge) = end {
            self.batch_limit = (self.batch_limit / 2).max(MIN_BATCH_BYTES);
        }
    }

    /// A fresh producer id for the stream, saved before anything is sent
    /// with it.
    async fn new_identity(&self, cp: &mut StreamCheckpoint) -> Result<(), Error> {
        let (pid, epoch) = self
            .ctx
            .ship
            .sink
            .new_producer_id()
            .await
            .map_err(|error| Error::Sink {
                doing: "getting a producer id",
                error,
            })?;
        cp.producer_id = pid;
        cp.epoch = epoch;
        cp.sequence = 0;
        let next = cp.clone();
        self.ctx.checkpoints.update(self.handle.id, |c| *c = next);
        self.ctx.persist().await
    }

    /// After a truncation: the checkpoint moves to 0 with the new content's
    /// fingerprint, saved before the new content is sent.
    ///
    /// Records the sink holds beyond the checkpoint (acknowledged after it
    /// was last written, before a crash, or appended while the
    /// acknowledgement was lost) belong to the old content. The new
    /// content's first record takes the sequence after them; left as it
    /// was, the next session would skip that many records of the new
    /// content as if the sink held them.
    async fn restart_at_zero(&mut self) -> Result<(), Error> {
        let mut cp = self.checkpoint()?;
        let sequence = match resume(&self.ctx.ship.sink, &cp).await? {
            // The checkpoint stays on the old content: the next start
            // finds the file changed and follows it as a new one.
            Resume::Stopped => return Ok(()),
            Resume::Continue { skip, .. } => after_skipping(cp.sequence, skip),
            Resume::NewIdentity => {
                self.new_identity(&mut cp).await?;
                cp.sequence
            }
        };
        let len = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        let fp = Fingerprint::of(&self.file, len).map_err(|error| Error::Read {
            path: self.at.clone(),
            error,
        })?;
        self.ctx.checkpoints.update(self.handle.id, |c| {
            c.offset = 0;
            c.sequence = sequence;
            c.set_fingerprint(fp);
        });
        self.ctx.persist().await
    }

    /// The fingerprint covers up to FP_MAX bytes once the file has them. A
    /// grown one is saved before the bytes it covers are sent: the
    /// collector may hold records of this content only once a restart can
    /// tell this content from what may replace it (a file truncated while
    /// empty has an empty fingerprint, which matches anything).
    async fn grow_fingerprint(&self) -> Result<(), Error> {
        let len = self.file.metadata().map(|m| m.len()).unwrap_or(0);
        let Ok(fp) = Fingerprint::of(&self.file, len) else {
            return Ok(());
        };
        let mut grew = false;
        self.ctx.checkpoints.update(self.handle.id, |c| {
            if fp.len > c.fp_len {
                c.set_fingerprint(fp);
                grew = true;
            }
        });
        if grew {
            self.ctx.persist().await?;
        }
        Ok(())
    }
}

/// The sequence after `skip` records from `sequence` (past
/// [`crate::stream::resume::SEQUENCE_LIMIT`], the next session renews
/// the identity).
fn after_skipping(sequence: i32, skip: u64) -> i32 {
    (sequence as i64 + skip as i64).min(i32::MAX as i64) as i32
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}
