//! Sparse per-segment indexes, as Kafka lays them out on disk.
//!
//! `.index`: 8-byte entries `(u32 relative offset, u32 file position)`, one
//! per `index.interval.bytes` of log. `.timeindex`: 12-byte entries
//! `(i64 max timestamp so far, u32 relative offset)`. Neither carries a
//! checksum: after an unclean stop they are rebuilt from the log, which is
//! the source of truth. Entries are kept in memory for lookups and appended to
//! the file as they are made. Not thread-safe on their own: the owning
//! partition's lock guards them.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};

fn open_rw(path: &Path) -> Result<File> {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StorageError::io(path, e))
}

fn read_all(path: &Path) -> Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(b)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

/// The key an index is sorted by; every entry is `(key, u32 value)`,
/// big-endian on disk.
pub trait IndexKey: Copy + Ord {
    /// Bytes of the key on disk.
    const SIZE: usize;
    fn write_be(self, out: &mut [u8]);
    fn read_be(bytes: &[u8]) -> Self;
}

impl IndexKey for u32 {
    const SIZE: usize = 4;
    fn write_be(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_be_bytes());
    }
    fn read_be(bytes: &[u8]) -> Self {
        u32::from_be_bytes(bytes.try_into().expect("4 bytes"))
    }
}

impl IndexKey for i64 {
    const SIZE: usize = 8;
    fn write_be(self, out: &mut [u8]) {
        out.copy_from_slice(&self.to_be_bytes());
    }
    fn read_be(bytes: &[u8]) -> Self {
        i64::from_be_bytes(bytes.try_into().expect("8 bytes"))
    }
}

/// A sparse index file of `(K, u32)` entries with strictly increasing keys,
/// mirrored in memory.
pub struct Index<K> {
    path: PathBuf,
    file: File,
    entries: Vec<(K, u32)>,
}

/// Relative offset -> byte position of the batch starting there.
pub type OffsetIndex = Index<u32>;

/// Max timestamp seen so far -> relative offset of the batch where it was seen.
pub type TimeIndex = Index<i64>;

impl<K: IndexKey> Index<K> {
    const ENTRY: usize = K::SIZE + 4;

    /// Opens an empty index, truncating any file at `path`.
    pub fn create(path: &Path) -> Result<Self> {
        let file = open_rw(path)?;
        file.set_len(0).map_err(|e| StorageError::io(path, e))?;
        Ok(Index {
            path: path.to_owned(),
            file,
            entries: Vec::new(),
        })
    }

    /// Loads the index at `path` if it exists, holds whole entries with
    /// strictly increasing keys and `consistent` accepts its entries.
    /// `None` means "rebuild it".
    fn load_if(path: &Path, consistent: impl Fn(&[(K, u32)]) -> bool) -> Result<Option<Self>> {
        let Some(bytes) = read_all(path)? else {
            return Ok(None);
        };
        if bytes.len() % Self::ENTRY != 0 {
            return Ok(None);
        }
        let entries: Vec<(K, u32)> = bytes
            .chunks_exact(Self::ENTRY)
            .map(|c| (K::read_be(&c[..K::SIZE]), u32::read_be(&c[K::SIZE..])))
            .collect();
        let increasing = entries.windows(2).all(|w| w[0].0 < w[1].0);
        if !increasing || !consistent(&entries) {
            return Ok(None);
        }
        Ok(Some(Index {
            path: path.to_owned(),
            file: open_rw(path)?,
            entries,
        }))
    }

    /// Appends an entry; the caller keeps keys increasing.
    fn push(&mut self, key: K, value: u32) -> Result<()> {
        // Keys are at most 8 bytes (`i64`).
        let mut entry = [0u8; 12];
        let entry = &mut entry[..Self::ENTRY];
        key.write_be(&mut entry[..K::SIZE]);
        value.write_be(&mut entry[K::SIZE..]);
        let at = (self.entries.len() * Self::ENTRY) as u64;
        self.file
            .write_all_at(entry, at)
            .map_err(|e| StorageError::io(&self.path, e))?;
        self.entries.push((key, value));
        Ok(())
    }

    /// The value of the last entry whose key satisfies `before` (a prefix of
    /// the entries, as keys increase), or 0.
    fn floor_value(&self, before: impl Fn(K) -> bool) -> u32 {
        let i = self.entries.partition_point(|e| before(e.0));
        if i == 0 {
            0
        } else {
            self.entries[i - 1].1
        }
    }

    pub fn last(&self) -> Option<(K, u32)> {
        self.entries.last().copied()
    }

    pub fn sync(&self) -> Result<()> {
        self.file
            .sync_data()
            .map_err(|e| StorageError::io(&self.path, e))
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Index<u32> {
    /// Loads the index at `path` if it exists and is consistent with a log of
    /// `log_size` bytes: whole entries, strictly increasing offsets and
    /// positions, all inside the log. `None` means "rebuild it".
    pub fn load(path: &Path, log_size: u64) -> Result<Option<Self>> {
        Self::load_if(path, |entries| {
            entries.windows(2).all(|w| w[0].1 < w[1].1)
                && entries.last().is_none_or(|e| (e.1 as u64) < log_size)
        })
    }

    pub fn append(&mut self, relative_offset: u32, position: u32) -> Result<()> {
        self.push(relative_offset, position)
    }

    /// Position of the last indexed batch starting at or before
    /// `relative_offset`, or 0: where a forward scan for it should begin.
    pub fn lookup(&self, relative_offset: u32) -> u32 {
        self.floor_value(|o| o <= relative_offset)
    }
}

impl Index<i64> {
    /// Loads the time index if it has whole entries with increasing
    /// timestamps, non-decreasing offsets and offsets up to
    /// `max_relative_offset`; `None` means rebuild.
    pub fn load(path: &Path, max_relative_offset: u32) -> Result<Option<Self>> {
        Self::load_if(path, |entries| {
            entries.windows(2).all(|w| w[0].1 <= w[1].1)
                && entries.last().is_none_or(|e| e.1 <= max_relative_offset)
        })
    }

    /// Records `max_timestamp` at `relative_offset` if it is a new maximum.
    pub fn maybe_append(&mut self, max_timestamp: i64, relative_offset: u32) -> Result<()> {
        if self.entries.last().is_some_and(|e| e.0 >= max_timestamp) {
            return Ok(());
        }
        self.push(max_timestamp, relative_offset)
    }

    /// Relative offset from which a scan for the first batch holding a
    /// timestamp >= `timestamp` may start: every batch up to and including the
    /// offset of the last entry below `timestamp` lies wholly before it.
    pub fn lookup(&self, timestamp: i64) -> u32 {
        self.floor_value(|t| t < timestamp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn offset_index_round_trips_and_looks_up_floor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("0.index");
        let mut idx = OffsetIndex::create(&path).unwrap();
        idx.append(0, 0).unwrap();
        idx.append(10, 4100).unwrap();
        idx.append(25, 8300).unwrap();
        assert_eq!(idx.lookup(0), 0);
        assert_eq!(idx.lookup(9), 0);
        assert_eq!(idx.lookup(10), 4100);
        assert_eq!(idx.lookup(24), 4100);
        assert_eq!(idx.lookup(1000), 8300);
        let loaded = OffsetIndex::load(&path, 9000).unwrap().unwrap();
        assert_eq!(loaded.entries, idx.entries);
        // An entry pointing past the log means the index is stale.
        assert!(OffsetIndex::load(&path, 8000).unwrap().is_none());
        // A torn entry means rebuild.
        std::fs::write(&path, [0u8; 5]).unwrap();
        assert!(OffsetIndex::load(&path, 9000).unwrap().is_none());
        assert!(OffsetIndex::load(&dir.path().join("missing.index"), 1)
            .unwrap()
            .is_none());
    }

    #[test]
    fn entries_have_kafkas_sizes() {
        assert_eq!(OffsetIndex::ENTRY, 8);
        assert_eq!(TimeIndex::ENTRY, 12);
    }

    #[test]
    fn time_index_keeps_only_new_maxima() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = TimeIndex::create(&dir.path().join("0.timeindex")).unwrap();
        idx.maybe_append(100, 0).unwrap();
        idx.maybe_append(90, 5).unwrap();
        idx.maybe_append(200, 9).unwrap();
        assert_eq!(idx.entries, vec![(100, 0), (200, 9)]);
        assert_eq!(idx.lookup(50), 0);
        assert_eq!(idx.lookup(150), 0);
        assert_eq!(idx.lookup(201), 9);
        let loaded = TimeIndex::load(idx.path(), 9).unwrap().unwrap();
        assert_eq!(loaded.entries, idx.entries);
    }

    proptest! {
        #[test]
        fn lookup_is_the_floor_entry(mut offsets in proptest::collection::btree_set(0u32..100_000, 1..50), probe in 0u32..100_000) {
            let dir = tempfile::tempdir().unwrap();
            let mut idx = OffsetIndex::create(&dir.path().join("x.index")).unwrap();
            offsets.insert(0);
            for (i, o) in offsets.iter().enumerate() {
                idx.append(*o, (i as u32) * 100).unwrap();
            }
            let expected = offsets.iter().enumerate().filter(|(_, o)| **o <= probe).map(|(i, _)| i as u32 * 100).next_back().unwrap_or(0);
            prop_assert_eq!(idx.lookup(probe), expected);
        }
    }
}
