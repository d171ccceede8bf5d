//! Start-up: opening a partition directory and recovering it.
//!
//! After a clean shutdown (marker present) indexes are trusted and only the
//! bytes after each segment's last index entry are re-read. After an unclean
//! stop the active segment is scanned from byte 0: every batch's length, CRC
//! and offset continuity is checked, the log is truncated at the first
//! invalid batch, and its indexes are rebuilt. Older segments were fsynced
//! when they rolled; they are rebuilt too if an index is missing or
//! inconsistent. Whatever was recovered is fsynced before it is served.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use super::partition::{FlushPolicy, Log, Partition};
use super::producer::{self, ProducerState};
use super::segment::{self, Segment};
use super::topic::TopicConfig;
use crate::error::{Result, StorageError};
use crate::metrics::StorageMetrics;

/// Opens (creating if needed) the partition directory `dir`.
pub(crate) fn load_partition(
    dir: &Path,
    topic: &str,
    id: i32,
    config: Arc<TopicConfig>,
    flush: FlushPolicy,
    clean: bool,
    metrics: &StorageMetrics,
) -> Result<Partition> {
    std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
    super::cleaner::recover_swaps(dir)?;
    let mut bases = Vec::new();
    let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| StorageError::io(dir, e))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if let Some(base) = segment::parse_file_name(&name, "log") {
            bases.push(base);
        } else if name.ends_with(".tmp") {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    bases.sort_unstable();
    remove_orphan_indexes(dir, &bases)?;

    let interval = config.index_interval_bytes;
    let mut segments = BTreeMap::new();
    let mut expected_next: Option<i64> = None;
    let last = bases.len().saturating_sub(1);
    for (i, base) in bases.iter().copied().enumerate() {
        // A segment that does not start where the previous one ended follows
        // a hole left by truncation: it and everything after it go.
        if expected_next.is_some_and(|next| next != base) {
            for stale in &bases[i..] {
                tracing::warn!(
                    topic,
                    partition = id,
                    base_offset = stale,
                    "removing segment after a recovery gap"
                );
                delete_segment_files(dir, *stale)?;
                metrics.recovery_truncations.inc();
            }
            break;
        }
        let full_recovery = !clean && i == last;
        let opened = Segment::open(dir, base, full_recovery, interval)?;
        if opened.truncated_bytes > 0 {
            tracing::warn!(
                topic,
                partition = id,
                base_offset = base,
                bytes = opened.truncated_bytes,
                "truncated torn or corrupt tail of segment"
            );
            metrics.recovery_truncations.inc();
            metrics
                .recovery_truncated_bytes
                .inc_by(opened.truncated_bytes);
        }
        expected_next = Some(opened.segment.next_offset());
        if !clean || opened.truncated_bytes > 0 {
            opened.segment.sync()?;
        }
        segments.insert(base, opened.segment);
    }
    if segments.is_empty() {
        let seg = Segment::create(dir, 0, interval)?;
        super::topic::sync_dir(dir)?;
        segments.insert(0, seg);
    }
    let producers = rebuild_producer_state(dir, &segments)?;
    let end = segments
        .values()
        .next_back()
        .map_or(0, Segment::next_offset);
    let mut deleted_below = super::log_start::load(dir)?.unwrap_or(0);
    if deleted_below > end {
        // Only under a relaxed flush policy: DeleteRecords reached records a
        // crash then took back. Nothing below the end is left to serve.
        tracing::warn!(
            topic,
            partition = id,
            log_start_offset = deleted_below,
            log_end_offset = end,
            "log start offset checkpoint is past the recovered log end; starting at the end"
        );
        deleted_below = end;
    }
    Ok(Partition::new(
        topic,
        id,
        dir.to_owned(),
        config,
        flush,
        Log {
            segments,
            producers,
            deleted_below,
            first_dirty: super::cleaner::load_checkpoint(dir)?,
        },
        metrics.clone(),
    ))
}

/// Producer state from the newest snapshot plus the batch headers after it
/// (the whole log when there is no snapshot).
fn rebuild_producer_state(dir: &Path, segments: &BTreeMap<i64, Segment>) -> Result<ProducerState> {
    let end = segments
        .values()
        .next_back()
        .map_or(0, Segment::next_offset);
    let (from, mut state) = producer::load_snapshot(dir, end)?.unwrap_or_default();
    for seg in segments.values().filter(|s| s.next_offset() > from) {
        let file = seg.file();
        segment::scan_headers(&file, seg.scan_start(from), seg.size(), |h| {
            if h.base_offset >= from {
                state.update(h);
            }
            false
        })
        .map_err(|e| StorageError::io(seg.log_path(), e))?;
    }
    Ok(state)
}

fn delete_segment_files(dir: &Path, base: i64) -> Result<()> {
    for ext in ["log", "index", "timeindex"] {
        let path = dir.join(segment::file_name(base, ext));
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(StorageError::io(path, e)),
        }
    }
    Ok(())
}

/// Index files whose `.log` is gone (retention interrupted mid-delete).
fn remove_orphan_indexes(dir: &Path, bases: &[i64]) -> Result<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let base = segment::parse_file_name(&name, "index")
            .or_else(|| segment::parse_file_name(&name, "timeindex"));
        if base.is_some_and(|b| bases.binary_search(&b).is_err()) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    Ok(())
}

/// Splits a partition directory name `<topic>-<partition>` (topics may
/// themselves contain '-').
pub fn parse_partition_dir(name: &str) -> Option<(&str, i32)> {
    let (topic, p) = name.rsplit_once('-')?;
    let id: i32 = p.parse().ok()?;
    (id >= 0 && !topic.is_empty() && p.bytes().all(|b| b.is_ascii_digit())).then_some((topic, id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_dir_names_split_on_last_dash() {
        assert_eq!(
            parse_partition_dir("first-events-12"),
            Some(("first-events", 12))
        );
        assert_eq!(parse_partition_dir("t-0"), Some(("t", 0)));
        assert_eq!(parse_partition_dir("t-x"), None);
        assert_eq!(parse_partition_dir("t--1"), Some(("t-", 1)));
        assert_eq!(parse_partition_dir("t-+1"), None);
        assert_eq!(parse_partition_dir("nodash"), None);
    }
}
