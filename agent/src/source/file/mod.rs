//! The `file` source: finds files matching `include` (minus `exclude`),
//! follows each with a [`tailer::Tailer`], and keeps track of which file is
//! which across renames, truncation and restarts.
//!
//! Discovery: inotify (through `notify`) on the directories the globs start
//! from wakes tailers when their files grow and triggers a rescan when files
//! appear, move or vanish; a periodic glob rescan is the safety net for lost
//! or coalesced events.
//!
//! Identity ([`identity`]): a stream is a file identified by device +
//! inode *and* a fingerprint of its first bytes. The checkpoint holds the
//! identity; a file found at start-up resumes from the checkpoint with the
//! same identity. What happened to a followed file is decided in one place,
//! [`identity::classify`]: by its tailer while one is open, by discovery
//! while it is closed.
//!
//! Each followed file has a [`tailer::Tailer`], which cuts its bytes into
//! records ([`reader`], [`lines`]) and ships them through the shared stream
//! machinery ([`crate::stream`]) with the file's checkpoint as its
//! [`progress`].

pub mod globs;
pub mod identity;
pub mod lines;
pub mod progress;
pub mod reader;
pub mod tailer;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicI64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::protocol::StrBytes;
use notify::{EventKind, RecursiveMode, Watcher};
use regex::bytes::Regex;
use tokio::sync::{mpsc, Notify};
use tokio::task::JoinSet;

use crate::checkpoint::{Checkpoints, StreamCheckpoint};
use crate::config::{FileSourceConfig, StartAt};
use crate::error::Error;
use crate::partitioner;
use crate::stream::Shipping;
pub use globs::{GlobError, Globs};
use identity::{Change, FileIdentity, Look};
use tailer::{Exit, Tailer};
/// Checkpoints of files not seen for this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(600);

/// What every tailer of a source shares.
pub struct SourceCtx {
    pub name: String,
    pub config: FileSourceConfig,
    /// Sink, metrics, budget, batching and the stop token.
    pub ship: Arc<Shipping>,
    pub checkpoints: Arc<Checkpoints>,
    pub host: Bytes,
    pub labels: Vec<(StrBytes, Bytes)>,
    pub multiline: Option<Regex>,
    pub globs: Globs,
}

impl SourceCtx {
    /// Writes checkpoints now (identity changes must be durable before
    /// anything is sent under them).
    pub async fn persist(&self) -> Result<(), Error> {
        crate::checkpoint::persist_now(&self.checkpoints, &self.ship.metrics).await
    }
}

/// A followed file, shared by discovery and its tailer.
pub struct Handle {
    /// The checkpoint id.
    pub id: u64,
    path: Mutex<PathBuf>,
    pub wake: Notify,
    /// This file's share of the checkpoint-lag gauge.
    pub lag: AtomicI64,
}

impl Handle {
    pub fn path(&self) -> PathBuf {
        self.path.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
    /// Records where the file is now; true when it moved (a rotation).
    fn set_path(&self, p: &Path) -> bool {
        let mut mine = self.path.lock().unwrap_or_else(|e| e.into_inner());
        if *mine != p {
            *mine = p.to_path_buf();
            return true;
        }
        false
    }
}

/// A known stream and whether a tailer follows it now.
struct Known {
    handle: Arc<Handle>,
    open: bool,
    /// Size when its tailer last closed it for idleness.
    closed_size: Option<u64>,
}

/// Runs the source until `ctx.stop`, then waits for its tailers to ship
/// what they hold.
pub async fn run(ctx: Arc<SourceCtx>, first_run: bool) {
    let globs = ctx.globs.clone();
    let partitions = tokio::select! {
        p = ctx.ship.sink.partitions(&ctx.config.topic) => p,
        _ = ctx.ship.stop.cancelled() => return,
    };
    let partitions = match partitions {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(source = %ctx.name, topic = %ctx.config.topic, error = %e, "the collector refused the topic; this source ships nothing");
            ctx.ship
                .metrics
                .errors
                .with_label_values(&["discover"])
                .inc();
            return;
        }
    };

    // inotify on the roots; events go to a bounded channel (overflow means
    // "look at everything").
    let (events_tx, mut events) = mpsc::channel::<notify::Event>(4096);
    let overflow = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&overflow);
    let mut watcher =
        notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
            Ok(ev) => {
                if events_tx.try_send(ev).is_err() {
                    flag.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
            Err(_) => flag.store(true, std::sync::atomic::Ordering::Relaxed),
        })
        .map_err(
            |e| tracing::warn!(source = %ctx.name, error = %e, "inotify unavailable; polling only"),
        )
        .ok();
    let mut watched: HashSet<PathBuf> = HashSet::new();

    let mut d = Discovery {
        ctx: Arc::clone(&ctx),
        partitions,
        known: HashMap::new(),
        by_path: HashMap::new(),
        missing_since: HashMap::new(),
        tailers: JoinSet::new(),
        start_at_end: first_run && ctx.config.start_at == StartAt::End,
        unreadable: HashSet::new(),
    };
    let mut rescan = tokio::time::interval(ctx.config.rescan_interval);
    rescan.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut soon: Option<tokio::time::Instant> = None;
    loop {
        tokio::select! {
            _ = rescan.tick() => {
                if let Some(w) = &mut watcher {
                    for (root, recursive) in &globs.roots {
                        if !watched.contains(root) && root.is_dir() {
                            let mode = if *recursive { RecursiveMode::Recursive } else { RecursiveMode::NonRecursive };
                            match w.watch(root, mode) {
                                Ok(()) => { watched.insert(root.clone()); }
                                Err(e) => tracing::debug!(root = %root.display(), error = %e, "watch failed"),
                            }
                        }
                    }
                }
                d.rescan(&globs).await;
                d.start_at_end = false;
                soon = None;
            }
            Some(ev) = events.recv() => {
                let structural = matches!(ev.kind, EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(notify::event::ModifyKind::Name(_)));
                for p in &ev.paths {
                    match d.by_path.get(p).and_then(|key| d.known.get(key)) {
                        Some(k) if k.open => k.handle.wake.notify_one(),
                        _ => if globs.matches(p) || structural { soon.get_or_insert_with(|| tokio::time::Instant::now() + Duration::from_millis(20)); },
                    }
                }
                if overflow.swap(false, std::sync::atomic::Ordering::Relaxed) {
                    d.wake_all();
                    soon.get_or_insert_with(tokio::time::Instant::now);
                }
            }
            _ = sleep_until(soon) => {
                d.rescan(&globs).await;
                soon = None;
            }
            Some(done) = d.tailers.join_next() => {
                if let Ok((key, exit)) = done {
                    d.closed(key, exit);
                }
            }
            _ = ctx.ship.stop.cancelled() => break,
        }
    }
    drop(watcher);
    while let Some(done) = d.tailers.join_next().await {
        if let Ok((key, exit)) = done {
            d.closed(key, exit);
        }
    }
}

async fn sleep_until(t: Option<tokio::time::Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}

type Key = (u64, u64);

struct Discovery {
    ctx: Arc<SourceCtx>,
    partitions: i32,
    known: HashMap<Key, Known>,
    by_path: HashMap<PathBuf, Key>,
    missing_since: HashMap<u64, Instant>,
    tailers: JoinSet<(Key, Exit)>,
    start_at_end: bool,
    /// Paths that matched but could not be opened, warned about once.
    unreadable: HashSet<PathBuf>,
}

impl Discovery {
    fn wake_all(&self) {
        for k in self.known.values() {
            k.handle.wake.notify_one();
        }
    }

    /// A tailer finished.
    fn closed(&mut self, key: Key, exit: Exit) {
        let Some(k) = self.known.get_mut(&key) else {
            return;
        };
        k.open = false;
        match exit {
            Exit::Idle { size } => k.closed_size = Some(size),
            Exit::Rotated { deleted } => {
                let id = k.handle.id;
                self.known.remove(&key);
                if deleted {
                    self.ctx.checkpoints.remove(id);
                }
            }
            Exit::Stopped | Exit::Failed => {
                self.known.remove(&key);
            }
        }
    }

    async fn rescan(&mut self, globs: &Globs) {
        let paths = {
            let g = globs;
            g.scan()
        };
        let saved: HashMap<Key, (u64, StreamCheckpoint)> = self
            .ctx
            .checkpoints
            .of_source(&self.ctx.name)
            .into_iter()
            .map(|(id, c)| ((c.dev, c.ino), (id, c)))
            .collect();
        let mut seen_ids = HashSet::new();
        let mut fresh: Vec<(PathBuf, File, u64)> = Vec::new();
        let mut by_path = HashMap::new();
        for path in paths {
            // stat first: files already followed need no descriptor here.
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            let key = (meta.dev(), meta.ino());
            let len = meta.len();
            let open_same = || {
                File::open(&path)
                    .ok()
                    .filter(|f| f.metadata().is_ok_and(|m| (m.dev(), m.ino()) == key))
            };
            if let Some(k) = self.known.get_mut(&key) {
                seen_ids.insert(k.handle.id);
                // An open tailer notices a rename itself (and counts it),
                // then follows the file at the name recorded here.
                let moved = k.handle.set_path(&path);
                if !k.open {
                    if moved {
                        // Renamed while closed: nobody else saw it.
                        identity::count(
                            Change::RotatedAway,
                            &self.ctx.ship.metrics,
                            &self.ctx.name,
                        );
                    }
                    // What happened since its tailer closed it idle? (Its
                    // first bytes are checked by the tailer once reopened.)
                    let look = Look {
                        size: len,
                        links: meta.nlink(),
                        at_path: true,
                        same_start: true,
                    };
                    let change = identity::classify(k.closed_size.unwrap_or(0), &look);
                    if change != Change::Idle {
                        if let Some(file) = open_same() {
                            k.open = true;
                            k.closed_size = None;
                            self.spawn(key, file);
                        }
                    }
                }
                by_path.insert(path, key);
                continue;
            }
            let file = match File::open(&path) {
                Ok(f) if f.metadata().is_ok_and(|m| (m.dev(), m.ino()) == key) => f,
                Ok(_) => continue, // replaced since the stat: next scan
                Err(e) => {
                    if self.unreadable.insert(path.clone()) {
                        tracing::warn!(source = %self.ctx.name, path = %path.display(), error = %e, "cannot open a matching file; skipping it until it can be read");
                        self.ctx
                            .ship
                            .metrics
                            .errors
                            .with_label_values(&["open"])
                            .inc();
                    }
                    continue;
                }
            };
            self.unreadable.remove(&path);
            match saved.get(&key) {
                Some((id, cp)) if cp.identity().fingerprint.matches(&file, len) => {
                    seen_ids.insert(*id);
                    self.follow(key, *id, path, file, &mut by_path);
                }
                Some((id, _)) => {
                    // Same inode, different content: a new file.
                    self.ctx.checkpoints.remove(*id);
                    fresh.push((path, file, len));
                }
                None => fresh.push((path, file, len)),
            }
        }
        // New streams: an identity each, saved before any of them sends.
        let mut started = Vec::new();
        for (path, file, len) in fresh {
            let (producer_id, epoch) = match self.ctx.ship.sink.new_producer_id().await {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(source = %self.ctx.name, error = %e, "no producer id yet; will retry");
                    return;
                }
            };
            let Ok(identity) = FileIdentity::of(&file, len) else {
                continue;
            };
            let offset = if self.start_at_end { len } else { 0 };
            let path_text = path.to_string_lossy();
            let id = self.ctx.checkpoints.insert(StreamCheckpoint {
                source: self.ctx.name.clone(),
                path: path.clone(),
                dev: identity.dev,
                ino: identity.ino,
                fp_len: identity.fingerprint.len,
                fp_crc: identity.fingerprint.crc,
                offset,
                topic: self.ctx.config.topic.clone(),
                partition: partitioner::partition_for(path_text.as_bytes(), self.partitions),
                producer_id,
                epoch,
                sequence: 0,
                cursor: None,
            });
            seen_ids.insert(id);
            started.push((identity.key(), id, path, file));
        }
        if !started.is_empty() {
            if let Err(e) = self.ctx.persist().await {
                tracing::error!(source = %self.ctx.name, error = %e, "cannot save checkpoints; not starting new files");
                for (_, id, _, _) in started {
                    self.ctx.checkpoints.remove(id);
                }
                return;
            }
            for (key, id, path, file) in started {
                tracing::info!(source = %self.ctx.name, path = %path.display(), "following new file");
                self.follow(key, id, path, file, &mut by_path);
            }
        }
        // Files still open but no longer matched (renamed away) stay open
        // until their tailer closes them.
        for k in self.known.values() {
            seen_ids.insert(k.handle.id);
        }
        self.by_path = by_path;
        // Forget checkpoints of files gone for a while.
        let now = Instant::now();
        for (id, _) in saved.values() {
            if seen_ids.contains(id) {
                self.missing_since.remove(id);
            } else if now.duration_since(*self.missing_since.entry(*id).or_insert(now))
                >= FORGET_AFTER
            {
                self.ctx.checkpoints.remove(*id);
                self.missing_since.remove(id);
            }
        }
    }

    /// Starts following stream `id` (its checkpoint) in `file`.
    fn follow(
        &mut self,
        key: Key,
        id: u64,
        path: PathBuf,
        file: File,
        by_path: &mut HashMap<PathBuf, Key>,
    ) {
        let handle = Arc::new(Handle {
            id,
            path: Mutex::new(path.clone()),
            wake: Notify::new(),
            lag: AtomicI64::new(0),
        });
        self.known.insert(
            key,
            Known {
                handle,
                open: true,
                closed_size: None,
            },
        );
        by_path.insert(path, key);
        self.spawn(key, file);
    }

    fn spawn(&mut self, key: Key, file: File) {
        let handle = Arc::clone(&self.known[&key].handle);
        match Tailer::new(Arc::clone(&self.ctx), handle, file) {
            Ok(t) => {
                self.tailers.spawn(async move { (key, t.run().await) });
            }
            Err(e) => tracing::warn!(error = %e, "cannot follow file"),
        }
    }
}

#[cfg(test)]
mod model_tests;
