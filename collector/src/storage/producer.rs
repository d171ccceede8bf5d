//! Idempotent producer state of one partition: for each producer id, its
//! epoch and the last five batches it appended (sequence range and offsets),
//! as Kafka's broker keeps them. A retried batch that matches one of those is
//! acknowledged with its original offsets instead of being appended again;
//! a batch that skips sequences is refused with OUT_OF_ORDER_SEQUENCE_NUMBER.
//!
//! The state is derived from batch headers alone, so it can always be rebuilt
//! by scanning the log. Snapshots (`<offset>.snapshot`, JSON) taken when a
//! segment rolls and at clean shutdown bound how much must be scanned at
//! start-up. Not thread-safe: the partition lock guards it.

use std::collections::{HashMap, VecDeque};

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::batch::BatchHeader;
use crate::error::{Result, StorageError};

/// Batches remembered per producer (Kafka's `max.in.flight` ceiling is 5).
const REMEMBERED: usize = 5;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchRecord {
    pub first_seq: i32,
    pub last_seq: i32,
    pub base_offset: i64,
    pub last_offset: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerEntry {
    pub epoch: i16,
    pub batches: VecDeque<BatchRecord>,
}

/// What [`ProducerState::check`] decided for an incoming batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Append,
    /// Already in the log: acknowledge with these offsets, append nothing.
    Duplicate(BatchRecord),
}

/// Why a batch's producer fields were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceError {
    /// An epoch older than the producer's current one (a zombie producer).
    StaleEpoch { current: i16, got: i16 },
    /// The batch does not follow the last one appended.
    OutOfOrder { expected: i32, got: i32 },
}

impl std::fmt::Display for SequenceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SequenceError::StaleEpoch { current, got } => {
                write!(
                    f,
                    "producer epoch {got} is older than the current epoch {current}"
                )
            }
            SequenceError::OutOfOrder { expected, got } => {
                write!(f, "expected sequence {expected}, got {got}")
            }
        }
    }
}

/// Sequences wrap from i32::MAX to 0, as Kafka's do.
fn next_seq(seq: i32) -> i32 {
    if seq == i32::MAX {
        0
    } else {
        seq + 1
    }
}

fn last_seq(h: &BatchHeader) -> i32 {
    let span = h.last_offset_delta as i64;
    ((h.base_sequence as i64 + span) % (i32::MAX as i64 + 1)) as i32
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProducerState {
    pub producers: HashMap<i64, ProducerEntry>,
}

impl ProducerState {
    /// Decides whether a batch with producer fields may be appended. Batches
    /// without a producer id always may.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, SequenceError> {
        if !h.has_producer_id() {
            return Ok(SequenceCheck::Append);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            // Unknown producer (new, or its state expired with the log):
            // accept whatever sequence it continues from.
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < entry.epoch {
            return Err(SequenceError::StaleEpoch {
                current: entry.epoch,
                got: h.producer_epoch,
            });
        }
        if h.producer_epoch > entry.epoch {
            // A bumped epoch restarts sequences at 0.
            return if h.base_sequence == 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(SequenceError::OutOfOrder {
                    expected: 0,
                    got: h.base_sequence,
                })
            };
        }
        if let Some(dup) = entry
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last_seq(h))
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        let expected = entry
            .batches
            .back()
            .map_or(h.base_sequence, |b| next_seq(b.last_seq));
        if h.base_sequence != expected {
            return Err(SequenceError::OutOfOrder {
                expected,
                got: h.base_sequence,
            });
        }
        Ok(SequenceCheck::Append)
    }

    /// Records an appended batch (its base offset already assigned).
    pub fn update(&mut self, h: &BatchHeader) {
        if !h.has_producer_id() {
            return;
        }
        let entry = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        if entry.batches.len() == REMEMBERED {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchRecord {
            first_seq: h.base_sequence,
            last_seq: last_seq(h),
            base_offset: h.base_offset,
            last_offset: h.last_offset(),
        });
    }

    /// The last sequence appended by `producer_id` (the agent asks this
    /// after a crash to skip what is already stored).
    pub fn last_sequence(&self, producer_id: i64) -> Option<(i16, i32)> {
        let e = self.producers.get(&producer_id)?;
        Some((e.epoch, e.batches.back()?.last_seq))
    }
}

#[derive(Serialize, Deserialize)]
struct Snapshot {
    /// The state covers every batch below this offset.
    offset: i64,
    state: ProducerState,
}

fn snapshot_name(offset: i64) -> String {
    super::segment::file_name(offset, "snapshot")
}

/// Writes the state as of `offset` atomically and keeps only the two newest
/// snapshots.
pub fn save_snapshot(dir: &Path, offset: i64, state: &ProducerState) -> Result<()> {
    let body = serde_json::to_vec(&Snapshot {
        offset,
        state: state.clone(),
    })
    .expect("producer state serialises");
    super::topic::write_atomic(&dir.join(snapshot_name(offset)), &body)?;
    let mut offsets = list_snapshots(dir)?;
    offsets.sort_unstable();
    let keep_from = offsets.len().saturating_sub(2);
    for old in &offsets[..keep_from] {
        let _ = std::fs::remove_file(dir.join(snapshot_name(*old)));
    }
    Ok(())
}

fn list_snapshots(dir: &Path) -> Result<Vec<i64>> {
    let entries = std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))?;
    Ok(entries
        .flatten()
        .filter_map(|e| {
            super::segment::parse_file_name(&e.file_name().to_string_lossy(), "snapshot")
        })
        .collect())
}

/// The newest readable snapshot at or below `max_offset`, removing any above
/// it (they describe batches that recovery truncated).
pub fn load_snapshot(dir: &Path, max_offset: i64) -> Result<Option<(i64, ProducerState)>> {
    let mut offsets = list_snapshots(dir)?;
    offsets.sort_unstable_by(|a, b| b.cmp(a));
    for offset in offsets {
        let path = dir.join(snapshot_name(offset));
        if offset > max_offset {
            let _ = std::fs::remove_file(&path);
            continue;
        }
        match std::fs::read(&path)
            .ok()
            .and_then(|b| serde_json::from_slice::<Snapshot>(&b).ok())
        {
            Some(snap) if snap.offset == offset => return Ok(Some((offset, snap.state))),
            _ => tracing::warn!(path = %path.display(), "ignoring unreadable producer snapshot"),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base: i64) -> BatchHeader {
        BatchHeader {
            base_offset: base,
            batch_length: 49,
            magic: 2,
            crc: 0,
            attributes: 0,
            last_offset_delta: count - 1,
            base_timestamp: 0,
            max_timestamp: 0,
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            record_count: count,
        }
    }

    #[test]
    fn in_order_duplicate_and_gap() {
        let mut s = ProducerState::default();
        let a = header(7, 0, 0, 3, 0);
        assert_eq!(s.check(&a), Ok(SequenceCheck::Append));
        s.update(&a);
        let b = header(7, 0, 3, 2, 3);
        assert_eq!(s.check(&b), Ok(SequenceCheck::Append));
        s.update(&b);
        // A retry of the first batch is a duplicate with its original offsets.
        match s.check(&header(7, 0, 0, 3, 99)) {
            Ok(SequenceCheck::Duplicate(r)) => assert_eq!((r.base_offset, r.last_offset), (0, 2)),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            s.check(&header(7, 0, 9, 1, 5)),
            Err(SequenceError::OutOfOrder {
                expected: 5,
                got: 9
            })
        );
        assert_eq!(s.last_sequence(7), Some((0, 4)));
        // Stale epoch refused; a new epoch must restart at 0.
        let mut s2 = s.clone();
        s2.update(&header(7, 1, 0, 1, 5));
        assert!(matches!(
            s2.check(&header(7, 0, 5, 1, 6)),
            Err(SequenceError::StaleEpoch { .. })
        ));
        assert!(matches!(
            s.check(&header(7, 2, 4, 1, 6)),
            Err(SequenceError::OutOfOrder { .. })
        ));
        // No producer id: never checked.
        assert_eq!(
            s.check(&header(-1, -1, -1, 1, 0)),
            Ok(SequenceCheck::Append)
        );
    }

    #[test]
    fn remembers_only_the_last_five_batches_and_wraps() {
        let mut s = ProducerState::default();
        for i in 0..8 {
            s.update(&header(1, 0, i, 1, i as i64));
        }
        assert_eq!(s.producers[&1].batches.len(), 5);
        assert!(matches!(
            s.check(&header(1, 0, 2, 1, 0)),
            Err(SequenceError::OutOfOrder { .. })
        ));
        let mut w = ProducerState::default();
        w.update(&header(2, 0, i32::MAX - 1, 2, 0));
        assert_eq!(w.check(&header(2, 0, 0, 1, 2)), Ok(SequenceCheck::Append));
    }
}
