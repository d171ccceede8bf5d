//! The log cleaner: compaction of `cleanup.policy=compact` partitions.
//!
//! One pass over one partition (Kafka's algorithm):
//! 1. [`Partition::cleaning_plan`] picks the closed segments (never the
//!    active one, never one holding records younger than
//!    `min.compaction.lag.ms`) and the first dirty offset (where the last
//!    cleaning stopped). The partition is due when its dirty share of those
//!    bytes reaches `min.cleanable.dirty.ratio`, or a dirty record is older
//!    than `max.compaction.lag.ms`.
//! 2. The dirty segments are read into an [`OffsetMap`]: key hash → offset
//!    of the key's latest record. The map is bounded
//!    ([`CleanerOptions::dedupe_buffer_bytes`]); when it fills, cleaning
//!    stops at that segment and the rest waits for the next pass.
//! 3. Every segment below that point is rewritten keeping a record only if
//!    no later record of its key is in the map. Tombstones are dropped once
//!    the segment holding them is older than the cleaned part's newest
//!    segment by `delete.retention.ms`; records without a key are dropped.
//!    Batches keep their base offset and last offset delta, so offsets are
//!    never reassigned and consumers see gaps. A batch losing every record
//!    is dropped, except that an empty batch (header only) is kept when it
//!    is a producer's last batch (idempotent state survives, as in Kafka) or
//!    the last batch of a cleaned segment (so each segment still ends where
//!    the next begins). Adjacent small segments are merged up to
//!    `segment.bytes`.
//! 4. Each merged segment is written as `<base>.log.cleaned`, fsynced,
//!    renamed `.swap` (the commit point), then swapped in under the
//!    partition lock: the sources are deleted and `.swap` becomes `.log`.
//!    Start-up deletes a `.cleaned` and completes a `.swap`
//!    ([`recover_swaps`]), so a crash leaves the old segments or the new
//!    ones, never a mix.
//!
//! Reads run concurrently: they hold the old segment's file descriptor and
//! finish on it. Appends only touch the active segment, which is never
//! cleaned. One partition is cleaned at a time, on the cleaner's own thread,
//! which runs at the lowest CPU priority ([`CLEANER_NICE`]) so produce and
//! fetch handling win the cores whenever they want them, and the cleaner
//! uses what is left; its reads plus writes can also be capped
//! ([`CleanerOptions::io_bytes_per_sec`], no cap by default, as in Kafka).

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

use super::batch::{self, BatchHeader};
use super::compact;
use super::partition::Partition;
use super::segment;
use super::topic::TopicConfig;
use crate::error::{Result, StorageError};
use crate::metrics::CleanerMetrics;

/// How the cleaner runs; the collector config fills this in.
#[derive(Debug, Clone)]
pub struct CleanerOptions {
    /// How often the cleaner looks for a partition to clean.
    pub interval: Duration,
    /// Memory for the key → offset map of one cleaning (Kafka's
    /// `log.cleaner.dedupe.buffer.size`).
    pub dedupe_buffer_bytes: usize,
    /// Cap on the cleaner's reads plus writes, bytes per second (Kafka's
    /// `log.cleaner.io.max.bytes.per.second`); `None`, the default, is no
    /// cap (Kafka's default too).
    pub io_bytes_per_sec: Option<u64>,
}

impl Default for CleanerOptions {
    fn default() -> Self {
        CleanerOptions {
            interval: Duration::from_secs(15),
            dedupe_buffer_bytes: 128 << 20,
            io_bytes_per_sec: None,
        }
    }
}

/// A closed segment as the cleaner sees it (a snapshot taken under the lock).
#[derive(Clone)]
pub(crate) struct SegmentView {
    pub base: i64,
    pub next: i64,
    pub size: u64,
    pub file: Arc<File>,
    /// Last modification of the segment file (Kafka's `lastModified`): the
    /// tombstone clock.
    pub mtime_ms: i64,
}

/// What [`Partition::cleaning_plan`] found.
pub(crate) struct Plan {
    pub dir: PathBuf,
    pub config: Arc<TopicConfig>,
    /// Closed, cleanable segments from the log start, in offset order.
    pub segments: Vec<SegmentView>,
    pub first_dirty: i64,
    pub dirty_ratio: f64,
    /// Whether the partition should be cleaned now.
    pub due: bool,
    /// Producer id → last offset of its last batch.
    pub producer_last: HashMap<i64, i64>,
}

/// What one cleaning did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CleanStats {
    pub bytes_read: u64,
    pub bytes_written: u64,
    pub records_removed: u64,
    pub segments_before: usize,
    pub segments_after: usize,
}

/// Bytes one map entry costs: a 16-byte key hash and an 8-byte offset, plus
/// the hash table's control byte and load-factor slack.
const MAP_ENTRY_BYTES: usize = 40;

/// A key's SHA-256 digest truncated to 128 bits (Kafka uses MD5's 128
/// bits), so an accidental collision, which would drop a live key, is out
/// of reach, and a deliberate one needs a second preimage of SHA-256.
#[derive(Clone, Copy, PartialEq, Eq)]
struct KeyDigest([u8; 16]);

impl std::hash::Hash for KeyDigest {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        let mut word = [0u8; 8];
        word.copy_from_slice(&self.0[..8]);
        state.write_u64(u64::from_le_bytes(word));
    }
}

/// Hashes a [`KeyDigest`] for the table from its first 64 bits: the digest
/// is already uniform, so SipHash over it (as the std default would) only
/// costs time. The bits are still mixed with a per-map random seed (one
/// folded multiply): the table places an entry by a few low bits, which a
/// producer could cheaply grind keys to share and so turn the map into long
/// probe chains; with the seed unknown, it cannot.
#[derive(Clone, Copy)]
struct DigestHasherBuilder {
    seed: u64,
}

impl DigestHasherBuilder {
    fn random() -> DigestHasherBuilder {
        DigestHasherBuilder {
            seed: rand::random(),
        }
    }
}

impl std::hash::BuildHasher for DigestHasherBuilder {
    type Hasher = DigestHasher;
    fn build_hasher(&self) -> DigestHasher {
        DigestHasher {
            seed: self.seed,
            word: 0,
        }
    }
}

struct DigestHasher {
    seed: u64,
    word: u64,
}

impl std::hash::Hasher for DigestHasher {
    fn write_u64(&mut self, word: u64) {
        self.word = word;
    }
    fn write(&mut self, bytes: &[u8]) {
        // Only `KeyDigest` is hashed with this hasher, through `write_u64`;
        // anything else still hashes correctly, if slowly.
        for b in bytes {
            self.word = self.word.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn finish(&self) -> u64 {
        let product = u128::from(self.word ^ self.seed) * 0x9e37_79b9_7f4a_7c15;
        (product as u64) ^ ((product >> 64) as u64)
    }
}

/// Key hash → offset of the key's latest record.
pub struct OffsetMap {
    map: HashMap<KeyDigest, i64, DigestHasherBuilder>,
    max_entries: usize,
}

fn key_hash(key: &[u8]) -> KeyDigest {
    let digest = Sha256::digest(key);
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    KeyDigest(out)
}

impl OffsetMap {
    /// An empty map holding at most what `bytes` of memory allows. It is
    /// not allocated at that size (nor at the dirty records' count) up
    /// front: a compacted log usually repeats its keys, and a table sized
    /// for every record would spread the few live keys over far more memory
    /// than the caches hold (a 1M-slot table took 3x as long as a grown one
    /// for 1M inserts of 100k keys); growing costs a few rehashes.
    pub fn with_memory(bytes: usize) -> OffsetMap {
        OffsetMap {
            map: HashMap::with_hasher(DigestHasherBuilder::random()),
            max_entries: (bytes / MAP_ENTRY_BYTES).max(1),
        }
    }
    pub fn put(&mut self, key: &[u8], offset: i64) {
        self.put_digest(key_hash(key), offset);
    }
    fn put_digest(&mut self, key: KeyDigest, offset: i64) {
        self.map.insert(key, offset);
    }
    pub fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(&key_hash(key)).copied()
    }
    pub fn is_full(&self) -> bool {
        self.map.len() >= self.max_entries
    }
    pub fn len(&self) -> usize {
        self.map.len()
    }
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }
}

/// Sleeps so that bytes accounted stay under a rate (`None`: no cap).
struct Throttle {
    rate: Option<u64>,
    started: Instant,
    bytes: u64,
}

impl Throttle {
    fn new(rate: Option<u64>) -> Throttle {
        Throttle {
            rate: rate.map(|r| r.max(1)),
            started: Instant::now(),
            bytes: 0,
        }
    }
    fn account(&mut self, bytes: u64) {
        let Some(rate) = self.rate else { return };
        self.bytes += bytes;
        let due = Duration::from_secs_f64(self.bytes as f64 / rate as f64);
        let elapsed = self.started.elapsed();
        if due > elapsed + Duration::from_millis(10) {
            std::thread::sleep(due - elapsed);
        }
    }
}

/// Calls `f` with each whole batch of `seg`, in order, reading 1 MiB at a time.
fn for_each_batch(
    seg: &SegmentView,
    throttle: &mut Throttle,
    mut f: impl FnMut(&[u8], &BatchHeader, &mut Throttle) -> Result<bool>,
) -> Result<()> {
    const CHUNK: usize = 1 << 20;
    let io = |e| StorageError::io(format!("segment {}", seg.base), e);
    let mut buf = Vec::new();
    let mut pos = 0u64;
    while pos < seg.size {
        let want = (CHUNK as u64).min(seg.size - pos) as usize;
        buf.resize(want, 0);
        seg.file.read_exact_at(&mut buf, pos).map_err(io)?;
        throttle.account(want as u64);
        let mut at = 0usize;
        while at + batch::HEADER_LEN <= buf.len() {
            let header = BatchHeader::parse(&buf[at..]).map_err(|_| corrupt(seg))?;
            let len = header.total_len();
            if at + len > buf.len() {
                if at == 0 {
                    // A batch larger than the chunk: read it whole.
                    buf.resize(len, 0);
                    seg.file.read_exact_at(&mut buf, pos).map_err(io)?;
                    throttle.account((len - want) as u64);
                } else {
                    break;
                }
            }
            if !f(&buf[at..at + len], &header, throttle)? {
                return Ok(());
            }
            at += len;
        }
        if at == 0 {
            return Err(corrupt(seg));
        }
        pos += at as u64;
    }
    Ok(())
}

fn corrupt(seg: &SegmentView) -> StorageError {
    StorageError::CorruptBatch {
        topic: format!("segment {}", seg.base),
        partition: -1,
        reason: batch::BatchError::Invalid("unreadable batch in a closed segment"),
    }
}

/// Cleans `partition` if it is due. Returns what was done, or `None` when
/// nothing was due.
pub fn clean_partition(
    partition: &Partition,
    options: &CleanerOptions,
    metrics: &CleanerMetrics,
    now_ms: i64,
) -> Result<Option<CleanStats>> {
    let Some(plan) = partition.cleaning_plan(now_ms)? else {
        return Ok(None);
    };
    if plan.dirty_ratio > metrics.max_dirty_ratio.get() {
        metrics.max_dirty_ratio.set(plan.dirty_ratio);
    }
    if !plan.due {
        return Ok(None);
    }
    let started = Instant::now();
    let mut throttle = Throttle::new(options.io_bytes_per_sec);
    let mut stats = CleanStats::default();

    // 2. The key map over the dirty segments.
    let mut map = OffsetMap::with_memory(options.dedupe_buffer_bytes);
    let mut end_clean = plan.segments.last().map_or(plan.first_dirty, |s| s.next);
    let dirty: Vec<&SegmentView> = plan
        .segments
        .iter()
        .filter(|s| s.base >= plan.first_dirty)
        .collect();
    let mut batch_keys: Vec<(KeyDigest, i64)> = Vec::new();
    for (i, seg) in dirty.iter().enumerate() {
        if i > 0 && map.is_full() {
            end_clean = seg.base;
            break;
        }
        let mut overflow = false;
        for_each_batch(seg, &mut throttle, |bytes, header, _| {
            stats.bytes_read += bytes.len() as u64;
            // A batch whose records do not parse adds no keys (it is kept
            // whole by the rewrite), so its keys are buffered until the
            // whole batch has parsed.
            batch_keys.clear();
            if compact::for_each_key(bytes, header, |offset, key| {
                batch_keys.push((key_hash(key), offset))
            }) {
                for (digest, offset) in batch_keys.drain(..) {
                    map.put_digest(digest, offset);
                }
            }
            // The first dirty segment is always taken whole, or a
            // segment with more keys than the map holds would never be
            // cleaned.
            overflow = i > 0 && map.is_full();
            Ok(!overflow)
        })?;
        if overflow {
            // Entries for this segment's records point at records that are
            // not cleaned this time, so they stay; they only make the
            // older records of those keys removable, which is right.
            end_clean = seg.base;
            break;
        }
    }

    // 3. The tombstone horizon: the newest already-clean segment's time.
    let horizon = plan
        .segments
        .iter()
        .rfind(|s| s.next <= plan.first_dirty)
        .map_or(i64::MIN, |s| {
            s.mtime_ms.saturating_sub(plan.config.delete_retention_ms)
        });

    // Groups of adjacent segments that fit in one.
    let cleanable: Vec<&SegmentView> = plan
        .segments
        .iter()
        .filter(|s| s.next <= end_clean)
        .collect();
    let mut groups: Vec<Vec<&SegmentView>> = Vec::new();
    for seg in cleanable {
        match groups.last_mut() {
            Some(g)
                if g.iter().map(|s| s.size).sum::<u64>() + seg.size
                    <= plan.config.segment_bytes
                    && seg.next - g[0].base <= u32::MAX as i64 =>
            {
                g.push(seg)
            }
            _ => groups.push(vec![seg]),
        }
    }
    stats.segments_before = groups.iter().map(Vec::len).sum();
    for group in &groups {
        let path = cleaned_path(&plan.dir, group[0].base);
        let written = write_cleaned(
            &plan,
            group,
            &map,
            horizon,
            &path,
            &mut throttle,
            &mut stats,
        )
        .inspect_err(|_| {
            let _ = std::fs::remove_file(&path);
        })?;
        stats.bytes_written += written;
        let sources: Vec<(i64, u64)> = group.iter().map(|s| (s.base, s.size)).collect();
        if !partition.swap_cleaned(&sources, &path)? {
            // The log changed under us (retention, DeleteRecords): stop;
            // the next pass starts over.
            let _ = std::fs::remove_file(&path);
            return Ok(Some(stats));
        }
        stats.segments_after += 1;
    }
    partition.set_first_dirty(end_clean)?;
    metrics.runs.inc();
    metrics.read_bytes.inc_by(stats.bytes_read);
    metrics.written_bytes.inc_by(stats.bytes_written);
    metrics.removed_records.inc_by(stats.records_removed);
    let before: u64 = groups.iter().flatten().map(|s| s.size).sum();
    metrics
        .removed_bytes
        .inc_by(before.saturating_sub(stats.bytes_written));
    metrics
        .last_run_seconds
        .set(started.elapsed().as_secs_f64());
    tracing::info!(
        topic = partition.topic(),
        partition = partition.id(),
        dirty_ratio = plan.dirty_ratio,
        end_clean,
        keys = map.len(),
        bytes_read = stats.bytes_read,
        bytes_written = stats.bytes_written,
        records_removed = stats.records_removed,
        segments_before = stats.segments_before,
        segments_after = stats.segments_after,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "cleaned partition"
    );
    Ok(Some(stats))
}

/// Writes the cleaned form of `group` to `path` and fsyncs it. Returns
/// the bytes written.
fn write_cleaned(
    plan: &Plan,
    group: &[&SegmentView],
    map: &OffsetMap,
    horizon: i64,
    path: &Path,
    throttle: &mut Throttle,
    stats: &mut CleanStats,
) -> Result<u64> {
    let io = |e| StorageError::io(path, e);
    let file = File::create(path).map_err(io)?;
    let mut out = BufWriter::with_capacity(1 << 20, &file);
    let mut written = 0u64;
    // An emptied batch kept back in case it turns out to be the group's last.
    let mut pending_empty: Option<Vec<u8>> = None;
    for seg in group {
        let drop_tombstones = seg.mtime_ms <= horizon;
        for_each_batch(seg, throttle, |bytes, header, throttle| {
            // Dirty segments are read twice (key map, then rewrite), as in
            // Kafka; both reads count.
            stats.bytes_read += bytes.len() as u64;
            let Some(recs) = compact::records(bytes) else {
                // Not parseable as records (should not happen for a
                // checked batch): kept whole rather than guessed at.
                out.write_all(bytes).map_err(io)?;
                written += bytes.len() as u64;
                pending_empty = None;
                return Ok(true);
            };
            let kept: Vec<&compact::RawRecord> = recs
                .records
                .iter()
                .filter(|r| {
                    let Some(key) = recs.key(r) else { return false };
                    if r.tombstone && drop_tombstones {
                        return false;
                    }
                    map.get(key).is_none_or(|latest| r.offset >= latest)
                })
                .collect();
            stats.records_removed += (recs.records.len() - kept.len()) as u64;
            let producer_last = header.has_producer_id()
                && plan.producer_last.get(&header.producer_id) == Some(&header.last_offset());
            let rebuilt;
            let to_write: &[u8] = if kept.len() == recs.records.len() {
                bytes
            } else if kept.is_empty() && !producer_last {
                pending_empty = compact::rebuild(bytes, &recs, &[]);
                return Ok(true);
            } else {
                rebuilt = compact::rebuild(bytes, &recs, &kept).ok_or_else(|| corrupt(seg))?;
                &rebuilt
            };
            out.write_all(to_write).map_err(io)?;
            written += to_write.len() as u64;
            throttle.account(to_write.len() as u64);
            pending_empty = None;
            Ok(true)
        })?;
    }
    if let Some(empty) = pending_empty {
        out.write_all(&empty).map_err(io)?;
        written += empty.len() as u64;
    }
    out.flush().map_err(io)?;
    drop(out);
    // The cleaned segment keeps its sources' age, so tombstones are not
    // kept longer for having been rewritten (Kafka does the same).
    let newest = group.iter().map(|s| s.mtime_ms).max().unwrap_or(0);
    let when = std::time::UNIX_EPOCH + Duration::from_millis(newest.max(0) as u64);
    file.set_modified(when).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(written)
}

/// `<base>.log.cleaned`: a cleaned segment being written.
pub(crate) fn cleaned_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{}.cleaned", segment::file_name(base, "log")))
}

/// `<base>.log.swap`: a cleaned segment committed but not yet in place.
pub(crate) fn swap_path(dir: &Path, base: i64) -> PathBuf {
    dir.join(format!("{}.swap", segment::file_name(base, "log")))
}

/// Start-up half of the swap protocol, before segments are listed: a
/// `.cleaned` file is an interrupted cleaning and is deleted; a `.swap` file
/// is a committed one: the segments it replaces (every base offset in its
/// range) are deleted and it is renamed into place.
pub(crate) fn recover_swaps(dir: &Path) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    let mut logs = Vec::new();
    let mut swaps = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.ends_with(".log.cleaned") {
            std::fs::remove_file(entry.path()).map_err(|e| StorageError::io(entry.path(), e))?;
        } else if let Some(base) = name
            .strip_suffix(".swap")
            .and_then(|n| segment::parse_file_name(n, "log"))
        {
            swaps.push(base);
        } else if let Some(base) = segment::parse_file_name(&name, "log") {
            logs.push(base);
        }
    }
    for base in swaps {
        let path = swap_path(dir, base);
        let file = File::open(&path).map_err(|e| StorageError::io(&path, e))?;
        let size = file
            .metadata()
            .map_err(|e| StorageError::io(&path, e))?
            .len();
        let mut end = base;
        segment::scan_headers(&file, 0, size, |h| {
            end = h.next_offset();
            false
        })
        .map_err(|e| StorageError::io(&path, e))?;
        for old in logs
            .iter()
            .filter(|b| **b >= base && **b < end.max(base + 1))
        {
            for ext in ["log", "index", "timeindex"] {
                let p = dir.join(segment::file_name(*old, ext));
                match std::fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(StorageError::io(p, e)),
                }
            }
        }
        let target = dir.join(segment::file_name(base, "log"));
        std::fs::rename(&path, &target).map_err(|e| StorageError::io(&path, e))?;
        super::topic::sync_dir(dir)?;
        tracing::warn!(dir = %dir.display(), base_offset = base, end_offset = end, "completed an interrupted segment swap");
    }
    Ok(())
}

/// The cleaner thread's nice value: the lowest CPU priority. On a busy
/// machine the scheduler then gives the cleaner the cycles produce and
/// fetch handling leave (a nice-19 thread weighs 15 against a nice-0
/// thread's 1024, so it still makes progress under load).
pub const CLEANER_NICE: i32 = 19;

/// The cleaner: every `interval`, one pass over the due partitions, one
/// partition at a time, on a dedicated thread at [`CLEANER_NICE`] (not the
/// blocking pool, whose threads other work reuses), until `shutdown`. The
/// returned task ends at `shutdown`; the thread finishes the partition in
/// hand (cleanings stop between segments on `shutdown`) and exits.
pub fn spawn(
    storage: Arc<super::Storage>,
    options: CleanerOptions,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    let (passes, pass_rx) = std::sync::mpsc::channel::<tokio::sync::oneshot::Sender<()>>();
    let o = options.clone();
    let stop = shutdown.clone();
    let thread = std::thread::Builder::new()
        .name("logship-cleaner".to_owned())
        .spawn(move || {
            lower_priority();
            for done in pass_rx {
                storage.clean_once(&o, &stop);
                let _ = done.send(());
            }
        });
    if let Err(e) = &thread {
        tracing::error!(error = %e, "could not start the log cleaner thread; compacted topics will not be cleaned");
    }
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(options.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            let (done, finished) = tokio::sync::oneshot::channel();
            if passes.send(done).is_err() {
                return;
            }
            let _ = finished.await;
        }
    })
}

/// Sets the calling thread's nice value to [`CLEANER_NICE`]. On Linux
/// `setpriority(PRIO_PROCESS, tid)` applies to that one thread. Failing
/// (a seccomp policy, say) only costs foreground latency, so it is logged.
fn lower_priority() {
    let tid = rustix::thread::gettid();
    if let Err(e) = rustix::process::setpriority_process(Some(tid), CLEANER_NICE) {
        tracing::warn!(error = %e, "could not lower the log cleaner thread's priority");
    }
}

/// The cleaner checkpoint, `cleaner-offset`: the first dirty offset (where
/// the last cleaning stopped). Losing it only makes the next cleaning
/// re-read clean segments, so it is written after the swaps, not before.
const CHECKPOINT: &str = "cleaner-offset";

pub(crate) fn load_checkpoint(dir: &Path) -> Result<i64> {
    let path = dir.join(CHECKPOINT);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let mut fields = text.split_whitespace();
            match (fields.next(), fields.next().and_then(|o| o.parse().ok())) {
                (Some("1"), Some(offset)) if offset >= 0 => Ok(offset),
                _ => {
                    // Only a hint: a damaged one means "clean from the start".
                    tracing::warn!(path = %path.display(), "ignoring a damaged cleaner checkpoint");
                    Ok(0)
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

pub(crate) fn save_checkpoint(dir: &Path, offset: i64) -> Result<()> {
    super::topic::write_atomic(&dir.join(CHECKPOINT), format!("1 {offset}\n").as_bytes())
}
