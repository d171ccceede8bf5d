//! Which file is which, and what happened to a followed file since the
//! last look.
//!
//! A file is identified by device + inode *and* a CRC of its first bytes
//! (up to [`FP_MAX`]), so a reused inode is not mistaken for the old file
//! and a renamed file is not read again. [`classify`] is the one place that
//! decides what a change is (grew, truncated, replaced, rotated away,
//! deleted, idle); the tailer asks it on every look, and discovery asks it
//! for files whose tailer is closed. [`count`] is the one place that turns
//! a change into the rotation and truncation counters: whoever owns the
//! stream at that moment (its tailer while one is open, discovery
//! otherwise) calls it once per change.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::Path;
use std::time::SystemTime;

use crate::checkpoint::StreamCheckpoint;
use crate::metrics::Metrics;

/// Bytes of a file's start covered by its fingerprint.
pub const FP_MAX: u64 = 256;

/// CRC-32C of a file's first `len` bytes (`len` <= [`FP_MAX`]; shorter
/// files have shorter fingerprints, grown as they grow).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fingerprint {
    pub len: u32,
    pub crc: u32,
}

impl Fingerprint {
    /// The fingerprint of the first min(size, FP_MAX) bytes of `file`.
    pub fn of(file: &File, size: u64) -> std::io::Result<Fingerprint> {
        let n = size.min(FP_MAX) as usize;
        let mut buf = vec![0; n];
        file.read_exact_at(&mut buf, 0)?;
        Ok(Fingerprint {
            len: n as u32,
            crc: crc32c::crc32c(&buf),
        })
    }

    /// Whether `file` (of `size` bytes) still starts with the bytes this
    /// fingerprint covers.
    pub fn matches(&self, file: &File, size: u64) -> bool {
        if size < self.len as u64 {
            return false;
        }
        let mut buf = vec![0; self.len as usize];
        file.read_exact_at(&mut buf, 0).is_ok() && crc32c::crc32c(&buf) == self.crc
    }
}

/// A file's identity: where it lives on disk and what it starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileIdentity {
    pub dev: u64,
    pub ino: u64,
    pub fingerprint: Fingerprint,
}

impl FileIdentity {
    /// The identity of an open file of `size` bytes.
    pub fn of(file: &File, size: u64) -> std::io::Result<FileIdentity> {
        let meta = file.metadata()?;
        Ok(FileIdentity {
            dev: meta.dev(),
            ino: meta.ino(),
            fingerprint: Fingerprint::of(file, size)?,
        })
    }

    /// Device and inode, the key discovery finds files by.
    pub fn key(&self) -> (u64, u64) {
        (self.dev, self.ino)
    }
}

impl StreamCheckpoint {
    pub fn identity(&self) -> FileIdentity {
        FileIdentity {
            dev: self.dev,
            ino: self.ino,
            fingerprint: Fingerprint {
                len: self.fp_len,
                crc: self.fp_crc,
            },
        }
    }

    pub fn set_fingerprint(&mut self, fp: Fingerprint) {
        self.fp_len = fp.len;
        self.fp_crc = fp.crc;
    }
}

/// One look at a followed file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    /// Size of the (open) file.
    pub size: u64,
    /// Names left: 0 once the file is deleted (it stays readable while
    /// open).
    pub links: u64,
    /// The path the stream is followed at still leads to this file.
    pub at_path: bool,
    /// The file still starts with the stream's fingerprint.
    pub same_start: bool,
}

impl Look {
    /// Looks at `file`, followed at `path` with fingerprint `fp`. The
    /// first bytes are re-read only when `check_start` (callers skip it
    /// while size and modification time are unchanged).
    pub fn take(
        file: &File,
        path: &Path,
        fp: &Fingerprint,
        check_start: bool,
    ) -> std::io::Result<Look> {
        let meta = file.metadata()?;
        let at_path = leads_to(path, meta.dev(), meta.ino());
        Ok(Look {
            size: meta.len(),
            links: meta.nlink(),
            at_path,
            same_start: !check_start || fp.matches(file, meta.len()),
        })
    }
}

/// Whether `path` leads to the file with device `dev` and inode `ino`.
pub fn leads_to(path: &Path, dev: u64, ino: u64) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.dev() == dev && m.ino() == ino)
}

/// Size and modification time: when neither changed, neither did the
/// file's first bytes (idle files cost a stat, not a read).
pub fn stamp(file: &File) -> Option<(u64, Option<SystemTime>)> {
    let m = file.metadata().ok()?;
    Some((m.len(), m.modified().ok()))
}

/// What happened to a followed file since it was read up to `position`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Bytes past `position` to read.
    Grew,
    /// Shorter than `position` (copytruncate): read again from 0.
    Truncated,
    /// Its first bytes changed (truncated and written past the old size,
    /// or the inode reused for other content): read again from 0.
    Replaced,
    /// Read to its end, and its path now leads elsewhere (renamed, and
    /// maybe a new file created in its place).
    RotatedAway,
    /// Read to its end, and no name leads to it any more.
    Deleted,
    /// Read to its end, still in place.
    Idle,
}

impl Change {
    /// The file's content is not what was read: start again at 0.
    pub fn restarts(self) -> bool {
        matches!(self, Change::Truncated | Change::Replaced)
    }

    /// The file left its path: read to the end, then close.
    pub fn rotated(self) -> bool {
        matches!(self, Change::RotatedAway | Change::Deleted)
    }
}

/// Classifies a look at a file read up to `position`. Content changes
/// come first (what was read is no longer there), then growth (a rotated
/// or deleted file is read to its end before it counts as gone).
pub fn classify(position: u64, now: &Look) -> Change {
    if now.size < position {
        Change::Truncated
    } else if !now.same_start {
        Change::Replaced
    } else if now.size > position {
        Change::Grew
    } else if now.links == 0 {
        Change::Deleted
    } else if !now.at_path {
        Change::RotatedAway
    } else {
        Change::Idle
    }
}

/// Counts a change in `files_rotated` / `files_truncated`. Called once per
/// change, by whoever follows the stream when it happens.
pub fn count(change: Change, metrics: &Metrics, source: &str) {
    let counter = match change {
        Change::RotatedAway | Change::Deleted => &metrics.files_rotated,
        Change::Truncated | Change::Replaced => &metrics.files_truncated,
        Change::Grew | Change::Idle => return,
    };
    counter.with_label_values(&[source]).inc();
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn look(size: u64) -> Look {
        Look {
            size,
            links: 1,
            at_path: true,
            same_start: true,
        }
    }

    #[test]
    fn each_change_is_told_apart() {
        assert_eq!(classify(10, &look(10)), Change::Idle);
        assert_eq!(classify(10, &look(11)), Change::Grew);
        assert_eq!(classify(10, &look(3)), Change::Truncated);
        let replaced = Look {
            same_start: false,
            ..look(20)
        };
        assert_eq!(classify(10, &replaced), Change::Replaced);
        let moved = Look {
            at_path: false,
            ..look(10)
        };
        assert_eq!(classify(10, &moved), Change::RotatedAway);
        let deleted = Look {
            links: 0,
            at_path: false,
            ..look(10)
        };
        assert_eq!(classify(10, &deleted), Change::Deleted);
    }

    #[test]
    fn rotated_and_deleted_files_are_read_to_their_end_first() {
        let moved = Look {
            at_path: false,
            ..look(15)
        };
        assert_eq!(classify(10, &moved), Change::Grew);
        let deleted = Look {
            links: 0,
            ..look(15)
        };
        assert_eq!(classify(10, &deleted), Change::Grew);
        // But a truncated one is not read on from the old position.
        let truncated = Look {
            links: 0,
            ..look(2)
        };
        assert_eq!(classify(10, &truncated), Change::Truncated);
    }

    proptest! {
        #[test]
        fn classify_agrees_with_its_definition(
            position in 0u64..100, size in 0u64..100, links in 0u64..3,
            at_path: bool, same_start: bool,
        ) {
            let now = Look { size, links, at_path, same_start };
            let c = classify(position, &now);
            // Content changes always restart; nothing unread is skipped.
            prop_assert_eq!(c.restarts(), size < position || !same_start);
            prop_assert_eq!(c == Change::Grew, size > position && same_start);
            if c.rotated() || c == Change::Idle {
                prop_assert_eq!(size, position);
            }
            prop_assert_eq!(c == Change::Idle, !c.restarts() && size == position && links > 0 && at_path);
        }
    }

    #[test]
    fn fingerprints_grow_with_short_files_and_tell_content_apart() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        std::fs::write(&p, b"short\n").unwrap();
        let f = File::open(&p).unwrap();
        let mut fp = Fingerprint::of(&f, 6).unwrap();
        assert_eq!(fp.len, 6);
        assert!(fp.matches(&f, 6));
        std::fs::write(&p, b"other\n").unwrap();
        let f = File::open(&p).unwrap();
        assert!(!fp.matches(&f, 6));
        fp.len = 100;
        assert!(
            !fp.matches(&f, 6),
            "a file shorter than its fingerprint is not it"
        );
    }

    #[test]
    fn a_look_sees_renames_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("a.log");
        std::fs::write(&p, b"one\n").unwrap();
        let f = File::open(&p).unwrap();
        let fp = Fingerprint::of(&f, 4).unwrap();
        assert_eq!(
            classify(4, &Look::take(&f, &p, &fp, true).unwrap()),
            Change::Idle
        );
        std::fs::rename(&p, dir.path().join("a.log.1")).unwrap();
        std::fs::write(&p, b"new\n").unwrap();
        assert_eq!(
            classify(4, &Look::take(&f, &p, &fp, true).unwrap()),
            Change::RotatedAway
        );
        std::fs::remove_file(dir.path().join("a.log.1")).unwrap();
        assert_eq!(
            classify(4, &Look::take(&f, &p, &fp, true).unwrap()),
            Change::Deleted
        );
    }
}
