//! Checkpoints: for every followed file (stream), its identity, the byte
//! offset up to which the collector has acknowledged its lines (for a
//! journal stream, the cursor of the last acknowledged entry), and the
//! producer id, partition and next sequence that make re-sending after a
//! crash idempotent. One JSON file, `<data_dir>/checkpoints.json`, replaced
//! atomically (temp file, fsync, rename, directory fsync).
//!
//! Progress may be written lazily (every `checkpoint_interval`): whatever was
//! acknowledged but not yet written is read again after a crash, and the
//! collector's producer state says which of those records it already has.
//! A stream's *identity* must be on disk before its first batch is sent,
//! though, or a crash would make it look new; [`Checkpoints::persist`] is
//! called for that.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use logship_common::fs::write_atomic;

use crate::error::Error;
use crate::metrics::Metrics;
use serde::{Deserialize, Serialize};

/// A stream's durable state.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StreamCheckpoint {
    pub source: String,
    /// Where the file was last seen (informational; identity is below).
    pub path: PathBuf,
    pub dev: u64,
    pub ino: u64,
    /// The fingerprint: CRC-32C of the first `fp_len` bytes.
    pub fp_len: u32,
    pub fp_crc: u32,
    /// Everything before this byte offset is acknowledged.
    pub offset: u64,
    pub topic: String,
    pub partition: i32,
    pub producer_id: i64,
    pub epoch: i16,
    /// The sequence of the first record after `offset`.
    pub sequence: i32,
    /// A journal stream's position instead of `offset`: the cursor of the
    /// last acknowledged entry (None: nothing yet, start at the head).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// The checkpoint file format this agent writes and reads.
const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct FileFormat {
    version: u32,
    streams: Vec<StreamCheckpoint>,
}

/// All streams' checkpoints, shared by the sources and the writer.
pub struct Checkpoints {
    path: PathBuf,
    streams: Mutex<HashMap<u64, StreamCheckpoint>>,
    /// Bumped on every change; the writer records which it has written.
    changes: AtomicU64,
    written: Mutex<u64>,
    /// Async callers of [`Checkpoints::persist_now`] queue here.
    turn: tokio::sync::Mutex<()>,
    next_id: AtomicU64,
}

impl Checkpoints {
    /// Loads `<dir>/checkpoints.json` (creating `dir`); `first_run` is true
    /// when there was none.
    pub fn open(dir: &Path) -> std::io::Result<(Checkpoints, bool)> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("checkpoints.json");
        let (streams, first_run) = match std::fs::read(&path) {
            Ok(bytes) => (parse(&path, &bytes)?, false),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Vec::new(), true),
            Err(e) => return Err(e),
        };
        let n = streams.len() as u64;
        Ok((
            Checkpoints {
                path,
                streams: Mutex::new((0..).zip(streams).collect()),
                changes: AtomicU64::new(0),
                written: Mutex::new(0),
                turn: tokio::sync::Mutex::new(()),
                next_id: AtomicU64::new(n),
            },
            first_run,
        ))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, StreamCheckpoint>> {
        self.streams.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The saved streams of `source`, with their ids.
    pub fn of_source(&self, source: &str) -> Vec<(u64, StreamCheckpoint)> {
        self.lock()
            .iter()
            .filter(|(_, c)| c.source == source)
            .map(|(id, c)| (*id, c.clone()))
            .collect()
    }

    pub fn get(&self, id: u64) -> Option<StreamCheckpoint> {
        self.lock().get(&id).cloned()
    }

    /// Registers a new stream; returns its id.
    pub fn insert(&self, checkpoint: StreamCheckpoint) -> u64 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.lock().insert(id, checkpoint);
        self.changes.fetch_add(1, Ordering::Release);
        id
    }

    /// Changes a stream's checkpoint in place.
    pub fn update(&self, id: u64, f: impl FnOnce(&mut StreamCheckpoint)) {
        if let Some(c) = self.lock().get_mut(&id) {
            let before = c.clone();
            f(c);
            if *c != before {
                self.changes.fetch_add(1, Ordering::Release);
            }
        }
    }

    pub fn remove(&self, id: u64) {
        if self.lock().remove(&id).is_some() {
            self.changes.fetch_add(1, Ordering::Release);
        }
    }

    /// Writes the current state if it changed since the last write.
    /// Concurrent callers coalesce: a caller returns once a write that began
    /// after its call has finished. Blocking (fsync).
    pub fn persist(&self) -> std::io::Result<()> {
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let changes = self.changes.load(Ordering::Acquire);
        if *written >= changes && self.path.exists() {
            return Ok(());
        }
        let mut streams: Vec<StreamCheckpoint> = self.lock().values().cloned().collect();
        streams.sort_by(|a, b| (&a.source, &a.path).cmp(&(&b.source, &b.path)));
        let bytes = serde_json::to_vec_pretty(&FileFormat {
            version: VERSION,
            streams,
        })
        .expect("checkpoints serialize");
        write_atomic(&self.path, &bytes)?;
        *written = changes;
        Ok(())
    }
}

/// Writes the checkpoints now, from async code (identity changes must be
/// durable before anything is sent under them). Callers queue on an async
/// lock rather than each on a blocking thread: a thousand files starting
/// at once wait holding no thread, and most find their change written by
/// the write before theirs.
pub async fn persist_now(checkpoints: &Arc<Checkpoints>, metrics: &Metrics) -> Result<(), Error> {
    let _turn = checkpoints.turn.lock().await;
    let c = Arc::clone(checkpoints);
    let writes = metrics.checkpoint_writes.clone();
    tokio::task::spawn_blocking(move || c.persist().inspect(|_| writes.inc()))
        .await?
        .map_err(Error::CheckpointWrite)
}

/// The streams in a checkpoint file. The version is read first, so a file
/// from another version is refused as such, whatever its layout.
fn parse(path: &Path, bytes: &[u8]) -> std::io::Result<Vec<StreamCheckpoint>> {
    #[derive(Deserialize)]
    struct Versioned {
        version: u32,
    }
    let invalid = |msg: String| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("{}: {msg}", path.display()),
        )
    };
    let Versioned { version } =
        serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    if version != VERSION {
        return Err(invalid(format!(
            "checkpoint file version {version}, but this logship reads only version {VERSION} \
             (written by another logship release? move the file aside to start over, \
             which re-reads files according to start_at)"
        )));
    }
    let file: FileFormat = serde_json::from_slice(bytes).map_err(|e| invalid(e.to_string()))?;
    Ok(file.streams)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cp(path: &str, offset: u64) -> StreamCheckpoint {
        StreamCheckpoint {
            source: "app".into(),
            path: path.into(),
            dev: 1,
            ino: 2,
            fp_len: 3,
            fp_crc: 4,
            offset,
            topic: "logs".into(),
            partition: 0,
            producer_id: 9,
            epoch: 0,
            sequence: 5,
            cursor: None,
        }
    }

    #[test]
    fn survives_reopen_and_only_writes_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (c, first) = Checkpoints::open(dir.path()).unwrap();
        assert!(first);
        let id = c.insert(cp("/a", 0));
        c.update(id, |s| s.offset = 42);
        c.persist().unwrap();
        let modified = std::fs::metadata(dir.path().join("checkpoints.json"))
            .unwrap()
            .modified()
            .unwrap();
        c.persist().unwrap(); // nothing changed: no rewrite
        assert_eq!(
            std::fs::metadata(dir.path().join("checkpoints.json"))
                .unwrap()
                .modified()
                .unwrap(),
            modified
        );
        let (c2, first) = Checkpoints::open(dir.path()).unwrap();
        assert!(!first);
        let saved = c2.of_source("app");
        assert_eq!(saved.len(), 1);
        assert_eq!(saved[0].1.offset, 42);
        assert!(c2.of_source("other").is_empty());
        // New ids never collide with loaded ones.
        let id2 = c2.insert(cp("/b", 0));
        assert_ne!(id2, saved[0].0);
    }

    #[test]
    fn a_corrupt_file_is_an_error_not_a_fresh_start() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("checkpoints.json"), b"{nope").unwrap();
        assert!(Checkpoints::open(dir.path()).is_err());
    }

    #[test]
    fn a_file_from_another_version_is_refused_by_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("checkpoints.json");
        // A newer layout that version 1 could not even parse.
        std::fs::write(&path, br#"{"version": 2, "streams": {"by_id": {}}}"#).unwrap();
        let err = Checkpoints::open(dir.path()).err().unwrap();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidData);
        let msg = err.to_string();
        assert!(msg.contains("checkpoint file version 2"), "{msg}");
        assert!(msg.contains("only version 1"), "{msg}");
        assert!(msg.contains(&path.display().to_string()), "{msg}");
        // What this version writes, it reads.
        std::fs::remove_file(&path).unwrap();
        let (c, _) = Checkpoints::open(dir.path()).unwrap();
        c.insert(cp("/a", 7));
        c.persist().unwrap();
        assert_eq!(
            Checkpoints::open(dir.path())
                .unwrap()
                .0
                .of_source("app")
                .len(),
            1
        );
    }
}
