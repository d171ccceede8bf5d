//! One log segment: a `.log` file of RecordBatch v2 frames plus its sparse
//! `.index` and `.timeindex`, all named by the 20-digit base offset.
//!
//! Not thread-safe for writes: the owning partition's lock serialises
//! `append`, `roll` and recovery. Reads go through [`Segment::file`], an
//! `Arc<File>` read with positional I/O outside the lock; a reader that holds
//! it keeps reading valid bytes even after retention unlinks the file.

use std::fs::File;
use std::io::{BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use logship_common::time::now_ms;

use super::batch::{self, BatchHeader, HEADER_LEN, LOG_OVERHEAD};
use super::index::{OffsetIndex, TimeIndex};
use crate::error::{Result, StorageError};

/// `00000000000000012345.log` and friends.
pub fn file_name(base_offset: i64, ext: &str) -> String {
    format!("{base_offset:020}.{ext}")
}

/// Parses a segment file name back into its base offset.
pub fn parse_file_name(name: &str, ext: &str) -> Option<i64> {
    let stem = name.strip_suffix(ext)?.strip_suffix('.')?;
    if stem.len() != 20 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

pub struct Segment {
    base_offset: i64,
    log_path: PathBuf,
    log: Arc<File>,
    index: OffsetIndex,
    time_index: TimeIndex,
    /// Bytes of valid batches; appends write here.
    size: u64,
    /// Offset after the last batch, or `base_offset` when empty.
    next_offset: i64,
    /// Largest batch max timestamp, -1 when empty.
    max_timestamp: i64,
    /// Bytes appended since the last index entry.
    bytes_since_index: u64,
    index_interval: u64,
    /// Wall-clock ms from which `segment.ms` is measured: when the first
    /// batch was appended (for a loaded segment, the file's birth time, or
    /// the load time where the filesystem does not record one). Producer
    /// timestamps are not used: a client with a skewed clock would
    /// otherwise force a roll on every append.
    roll_base_ms: i64,
}

/// What opening a segment found.
pub struct Opened {
    pub segment: Segment,
    /// Bytes cut from the end because they did not form valid batches.
    pub truncated_bytes: u64,
}

fn open_log(path: &Path) -> Result<File> {
    File::options()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| StorageError::io(path, e))
}

impl Segment {
    /// Creates a new empty segment starting at `base_offset`.
    pub fn create(dir: &Path, base_offset: i64, index_interval: u64) -> Result<Segment> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = open_log(&log_path)?;
        log.set_len(0).map_err(|e| StorageError::io(&log_path, e))?;
        Ok(Segment {
            base_offset,
            index: OffsetIndex::create(&dir.join(file_name(base_offset, "index")))?,
            time_index: TimeIndex::create(&dir.join(file_name(base_offset, "timeindex")))?,
            log_path,
            log: Arc::new(log),
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            bytes_since_index: 0,
            index_interval,
            roll_base_ms: now_ms(),
        })
    }

    /// Opens an existing segment. With `full_recovery` (an unclean stop, or
    /// the segment that was active) every batch is validated from byte 0 and
    /// the indexes are rebuilt. Otherwise the indexes are trusted if
    /// consistent and only the batches after the last index entry are
    /// checked. Either way the log is cut at the first invalid batch.
    pub fn open(
        dir: &Path,
        base_offset: i64,
        full_recovery: bool,
        index_interval: u64,
    ) -> Result<Opened> {
        let log_path = dir.join(file_name(base_offset, "log"));
        let log = open_log(&log_path)?;
        let file_size = log
            .metadata()
            .map_err(|e| StorageError::io(&log_path, e))?
            .len();
        let index_path = dir.join(file_name(base_offset, "index"));
        let time_path = dir.join(file_name(base_offset, "timeindex"));

        let loaded = if full_recovery {
            None
        } else {
            match OffsetIndex::load(&index_path, file_size)? {
                Some(index) => {
                    let max_rel = index.last().map_or(0, |e| e.0);
                    TimeIndex::load(&time_path, u32::MAX)?
                        .filter(|t| t.last().is_none_or(|e| e.1 <= max_rel))
                        .map(|t| (index, t))
                }
                None => None,
            }
        };
        let rebuild = loaded.is_none();
        let (index, time_index) = match loaded {
            Some(pair) => pair,
            None => (
                OffsetIndex::create(&index_path)?,
                TimeIndex::create(&time_path)?,
            ),
        };
        let born_ms = log
            .metadata()
            .and_then(|m| m.created())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or_else(now_ms, |d| d.as_millis() as i64);
        let mut segment = Segment {
            base_offset,
            log_path,
            log: Arc::new(log),
            index,
            time_index,
            size: 0,
            next_offset: base_offset,
            max_timestamp: -1,
            bytes_since_index: 0,
            index_interval,
            roll_base_ms: born_ms,
        };
        // Where to start validating: byte 0 when rebuilding, else the last
        // indexed batch (re-reading it restores next_offset and timestamps).
        let start = if rebuild {
            0
        } else {
            segment.index.last().map_or(0, |e| e.1 as u64)
        };
        segment.size = start;
        if let Some((rel, _)) = segment.index.last().filter(|_| !rebuild) {
            segment.next_offset = base_offset + rel as i64;
        }
        if let Some((ts, _)) = segment.time_index.last() {
            segment.max_timestamp = ts;
        }
        let valid_end = segment.scan_from(start, rebuild, file_size)?;
        if !rebuild {
            segment.bytes_since_index = valid_end - start;
        }
        let truncated_bytes = file_size - valid_end;
        if truncated_bytes > 0 {
            segment
                .log
                .set_len(valid_end)
                .map_err(|e| StorageError::io(&segment.log_path, e))?;
        }
        Ok(Opened {
            segment,
            truncated_bytes,
        })
    }

    /// Validates batches from `start` to `file_size`, advancing `size`,
    /// `next_offset` and timestamps, and adding index entries when
    /// `reindex`. Returns the end of the last valid batch.
    fn scan_from(&mut self, start: u64, reindex: bool, file_size: u64) -> Result<u64> {
        let file = Arc::clone(&self.log);
        let mut reader = BufReader::with_capacity(1 << 20, file.as_ref());
        reader
            .seek(SeekFrom::Start(start))
            .map_err(|e| StorageError::io(&self.log_path, e))?;
        let mut pos = start;
        let mut buf = Vec::new();
        loop {
            if file_size - pos < HEADER_LEN as u64 {
                break;
            }
            buf.resize(LOG_OVERHEAD, 0);
            if reader.read_exact(&mut buf).is_err() {
                break;
            }
            let len = i32::from_be_bytes(buf[8..12].try_into().expect("4"));
            if len < (HEADER_LEN - LOG_OVERHEAD) as i32
                || pos + LOG_OVERHEAD as u64 + len as u64 > file_size
            {
                break;
            }
            buf.resize(LOG_OVERHEAD + len as usize, 0);
            if reader.read_exact(&mut buf[LOG_OVERHEAD..]).is_err() {
                break;
            }
            let Ok(header) = batch::check(&buf) else {
                break;
            };
            // Offsets only grow. The cleaner leaves gaps between batches and
            // inside them (a batch keeps its offset span when records are
            // removed), so a batch may start past the previous one's end
            // and hold fewer records than its span.
            if header.base_offset < self.next_offset
                || header.record_count > header.last_offset_delta + 1
                || header.last_offset() - self.base_offset > u32::MAX as i64
            {
                break;
            }
            if reindex {
                self.track(&header, pos)?;
            } else {
                self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
            }
            pos += header.total_len() as u64;
            self.size = pos;
            self.next_offset = header.next_offset();
        }
        Ok(pos)
    }

    /// Updates the in-memory state and indexes for one batch written at `pos`.
    fn track(&mut self, header: &BatchHeader, pos: u64) -> Result<()> {
        self.max_timestamp = self.max_timestamp.max(header.max_timestamp);
        if self.bytes_since_index >= self.index_interval {
            let rel = (header.base_offset - self.base_offset) as u32;
            self.index.append(rel, pos as u32)?;
            self.time_index.maybe_append(self.max_timestamp, rel)?;
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += header.total_len() as u64;
        Ok(())
    }

    /// Appends already-validated batches whose base offsets have been
    /// assigned. `headers` describe the batches in `buf`, in order.
    pub fn append(&mut self, buf: &[u8], headers: &[BatchHeader]) -> Result<()> {
        if self.size == 0 {
            self.roll_base_ms = now_ms();
        }
        self.log
            .write_all_at(buf, self.size)
            .map_err(|e| StorageError::io(&self.log_path, e))?;
        let mut pos = self.size;
        for h in headers {
            self.track(h, pos)?;
            pos += h.total_len() as u64;
        }
        self.size = pos;
        if let Some(last) = headers.last() {
            self.next_offset = last.next_offset();
        }
        Ok(())
    }

    /// Byte position from which to scan for the batch containing `offset`.
    pub fn scan_start(&self, offset: i64) -> u64 {
        let rel = (offset - self.base_offset).clamp(0, u32::MAX as i64) as u32;
        self.index.lookup(rel) as u64
    }

    /// Byte position from which to scan for the first batch with a
    /// timestamp >= `timestamp`.
    pub fn time_scan_start(&self, timestamp: i64) -> u64 {
        let rel = self.time_index.lookup(timestamp);
        self.scan_start(self.base_offset + rel as i64)
    }

    /// Forces the log and both indexes to disk.
    pub fn sync(&self) -> Result<()> {
        self.sync_log()?;
        self.index.sync()?;
        self.time_index.sync()
    }

    pub fn sync_log(&self) -> Result<()> {
        self.log
            .sync_data()
            .map_err(|e| StorageError::io(&self.log_path, e))
    }

    /// Unlinks the segment's files. Readers holding [`Segment::file`] keep
    /// their descriptor and finish their read.
    pub fn delete_files(&self) -> Result<()> {
        for path in [&self.log_path, self.index.path(), self.time_index.path()] {
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(StorageError::io(path, e)),
            }
        }
        Ok(())
    }

    pub fn file(&self) -> Arc<File> {
        Arc::clone(&self.log)
    }
    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub fn roll_base_ms(&self) -> i64 {
        self.roll_base_ms
    }
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
}

/// Whole batches of one segment, located but not yet read: a partition's
/// record set in a Fetch response. Sent from the file to a plaintext socket
/// by sendfile(2), or read into memory by [`FileRange::read`].
///
/// The bytes in the range never change: a segment is append-only, and only
/// start-up recovery truncates one. The open handle pins the file's inode,
/// so the range stays readable after retention, DeleteRecords or the
/// cleaner unlinks or replaces the file, for as long as the range is held.
#[derive(Debug, Clone)]
pub struct FileRange {
    pub file: Arc<File>,
    pub pos: u64,
    pub len: usize,
}

impl FileRange {
    /// The range's bytes, in a new buffer.
    pub fn read(&self) -> std::io::Result<Vec<u8>> {
        let mut buf = Vec::new();
        self.read_into(&mut buf)?;
        Ok(buf)
    }

    /// Replaces `buf`'s contents with the range's bytes, reusing its
    /// capacity; nothing is zeroed first (each pread fills the vector's
    /// spare capacity and sets its length).
    pub fn read_into(&self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        buf.clear();
        buf.reserve(self.len);
        while buf.len() < self.len {
            let at = self.pos + buf.len() as u64;
            match rustix::io::pread(&*self.file, rustix::buffer::spare_capacity(&mut *buf), at) {
                Ok(0) => {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        format!(
                            "segment file ends before byte {} of a record set",
                            self.pos + self.len as u64
                        ),
                    ))
                }
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => {}
                Err(e) => return Err(e.into()),
            }
        }
        // The capacity may exceed `len`, and a read may have filled it.
        buf.truncate(self.len);
        Ok(())
    }

    /// The part of the range from `skip` bytes in, at most `len` long.
    pub fn slice(&self, skip: usize, len: usize) -> FileRange {
        let skip = skip.min(self.len);
        FileRange {
            file: Arc::clone(&self.file),
            pos: self.pos + skip as u64,
            len: len.min(self.len - skip),
        }
    }
}

/// Length of the run of whole batches at `pos` (a batch boundary) that
/// fits in `max_len` bytes and whose base offsets are below `hw`: the
/// record set a Fetch returns. The caller makes `max_len` at least the
/// first batch's length, so a batch larger than the fetch limit still goes.
/// Reads headers only; the batches' bodies are skipped.
pub fn whole_batches_below(file: &File, pos: u64, max_len: u64, hw: i64) -> std::io::Result<usize> {
    let mut len = 0u64;
    scan_headers(file, pos, pos + max_len, |h| {
        let next = len + h.total_len() as u64;
        if h.base_offset >= hw || next > max_len {
            return true;
        }
        len = next;
        false
    })?;
    Ok(len as usize)
}

/// Reads batch headers from `file` starting at `pos` (a batch boundary, below
/// `end`) until `stop` says a batch is the one wanted; returns its position
/// and header. Reads in chunks so small batches cost few system calls.
pub fn scan_headers(
    file: &File,
    mut pos: u64,
    end: u64,
    mut stop: impl FnMut(&BatchHeader) -> bool,
) -> std::io::Result<Option<(u64, BatchHeader)>> {
    const CHUNK: usize = 16 * 1024;
    let mut buf = vec![0u8; CHUNK];
    while pos + HEADER_LEN as u64 <= end {
        let want = CHUNK.min((end - pos) as usize);
        file.read_exact_at(&mut buf[..want], pos)?;
        let mut at = 0usize;
        while at + HEADER_LEN <= want {
            let Ok(header) = BatchHeader::parse(&buf[at..want]) else {
                return Ok(None);
            };
            if stop(&header) {
                return Ok(Some((pos + at as u64, header)));
            }
            at += header.total_len();
        }
        if at == 0 {
            return Ok(None);
        }
        pos += at as u64;
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use logship_common::batch::testing::encode_batch;

    fn append_n(seg: &mut Segment, n: usize, value_len: usize) {
        for _ in 0..n {
            let mut b = encode_batch(3, value_len, 1_000);
            batch::set_base_offset(&mut b, seg.next_offset());
            let h = batch::validate_incoming(&b).unwrap();
            seg.append(&b, &h).unwrap();
        }
    }

    #[test]
    fn file_names_are_twenty_digits() {
        assert_eq!(file_name(42, "log"), "00000000000000000042.log");
        assert_eq!(parse_file_name("00000000000000000042.log", "log"), Some(42));
        assert_eq!(parse_file_name("42.log", "log"), None);
        assert_eq!(parse_file_name("00000000000000000042.index", "log"), None);
    }

    #[test]
    fn reopen_clean_and_recovered_agree() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 100, 256).unwrap();
        append_n(&mut seg, 50, 40);
        let (size, next) = (seg.size(), seg.next_offset());
        seg.sync().unwrap();
        drop(seg);
        for full in [false, true] {
            let opened = Segment::open(dir.path(), 100, full, 256).unwrap();
            assert_eq!(opened.truncated_bytes, 0);
            assert_eq!(opened.segment.size(), size);
            assert_eq!(opened.segment.next_offset(), next);
            assert_eq!(opened.segment.next_offset(), 250);
            assert!(opened.segment.index.last().is_some());
        }
    }

    #[test]
    fn recovery_cuts_torn_tail_and_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, 4096).unwrap();
        append_n(&mut seg, 10, 20);
        let good = seg.size();
        drop(seg);
        let path = dir.path().join(file_name(0, "log"));
        let mut bytes = std::fs::read(&path).unwrap();
        bytes.extend_from_slice(&[7u8; 100]);
        std::fs::write(&path, &bytes).unwrap();
        let opened = Segment::open(dir.path(), 0, true, 4096).unwrap();
        assert_eq!(opened.truncated_bytes, 100);
        assert_eq!(opened.segment.size(), good);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), good);
    }

    #[test]
    fn scan_headers_finds_containing_batch() {
        let dir = tempfile::tempdir().unwrap();
        let mut seg = Segment::create(dir.path(), 0, 4096).unwrap();
        append_n(&mut seg, 10, 20);
        let file = seg.file();
        let (pos, h) = scan_headers(&file, 0, seg.size(), |h| h.last_offset() >= 7)
            .unwrap()
            .unwrap();
        assert_eq!(h.base_offset, 6);
        assert!(pos > 0);
        assert!(
            scan_headers(&file, 0, seg.size(), |h| h.last_offset() >= 99)
                .unwrap()
                .is_none()
        );
    }
}
