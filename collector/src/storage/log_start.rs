//! The log start offset checkpoint: one small file per partition,
//! `log-start-offset`, holding the offset DeleteRecords moved the log start
//! to (Kafka keeps the same fact in its `log-start-offset-checkpoint`).
//!
//! Retention moves the start by deleting whole segments, so the first
//! segment's base offset records it; DeleteRecords may move it inside a
//! segment, which only this file remembers. The effective start is the
//! larger of the two. The file is replaced atomically (temp, fsync, rename,
//! directory fsync) before the new start is served, so a crash at any point
//! leaves the old or the new start, and never a start that was acknowledged
//! and then forgotten.

use std::path::{Path, PathBuf};

use crate::error::{Result, StorageError};

const FILE: &str = "log-start-offset";
const VERSION: &str = "1";

fn path(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// The checkpointed start of the partition in `dir`, if any.
pub(crate) fn load(dir: &Path) -> Result<Option<i64>> {
    let path = path(dir);
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io(path, e)),
    };
    let corrupt = |reason: &str| StorageError::CorruptMetadata {
        path: path.clone(),
        reason: reason.to_owned(),
    };
    let mut fields = text.split_whitespace();
    if fields.next() != Some(VERSION) {
        return Err(corrupt("unsupported version"));
    }
    let offset: i64 = fields
        .next()
        .and_then(|o| o.parse().ok())
        .filter(|o| *o >= 0)
        .ok_or_else(|| corrupt("not an offset"))?;
    if fields.next().is_some() {
        return Err(corrupt("trailing data"));
    }
    Ok(Some(offset))
}

/// Durably records `offset` as the partition's start.
pub(crate) fn save(dir: &Path, offset: i64) -> Result<()> {
    super::topic::write_atomic(&path(dir), format!("{VERSION} {offset}\n").as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_refuses_garbage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(load(dir.path()).unwrap(), None);
        save(dir.path(), 42).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(42));
        save(dir.path(), 7).unwrap();
        assert_eq!(load(dir.path()).unwrap(), Some(7));
        for bad in ["", "2 5\n", "1 -3\n", "1 x\n", "1 5 6\n"] {
            std::fs::write(dir.path().join(FILE), bad).unwrap();
            assert!(load(dir.path()).is_err(), "{bad:?}");
        }
    }
}
