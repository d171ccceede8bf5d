//! Durable committed offsets: one JSON file per group under
//! `data_dir/groups/`, replaced atomically (temp + fsync + rename + directory
//! fsync) before a commit is acknowledged, so a crash leaves the old or the
//! new offsets, never a mix. File names are the hex of the group id, so any
//! group name is a safe file name.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Result, StorageError};
use crate::storage::topic::write_atomic;

/// One committed offset, as OffsetCommit carried it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Committed {
    pub offset: i64,
    #[serde(default)]
    pub metadata: Option<String>,
    #[serde(default = "no_epoch")]
    pub leader_epoch: i32,
    pub commit_ms: i64,
}

fn no_epoch() -> i32 {
    -1
}

/// topic -> partition -> committed offset.
pub type GroupOffsets = BTreeMap<String, BTreeMap<i32, Committed>>;

#[derive(Serialize, Deserialize)]
struct GroupFile {
    group: String,
    offsets: GroupOffsets,
}

pub struct OffsetStore {
    dir: PathBuf,
}

fn file_name(group: &str) -> String {
    let hex: String = group.bytes().map(|b| format!("{b:02x}")).collect();
    // A prefix keeps the empty group id from naming a hidden file.
    format!("group-{hex}.json")
}

impl OffsetStore {
    /// Opens `dir` (created if missing) and loads every group's offsets.
    pub fn open(dir: &Path) -> Result<(OffsetStore, BTreeMap<String, GroupOffsets>)> {
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let mut groups = BTreeMap::new();
        for entry in std::fs::read_dir(dir).map_err(|e| StorageError::io(dir, e))? {
            let path = entry.map_err(|e| StorageError::io(dir, e))?.path();
            if path.extension().is_some_and(|e| e == "tmp") {
                let _ = std::fs::remove_file(&path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| StorageError::io(&path, e))?;
            let file: GroupFile =
                serde_json::from_slice(&bytes).map_err(|e| StorageError::CorruptMetadata {
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
            groups.insert(file.group, file.offsets);
        }
        Ok((
            OffsetStore {
                dir: dir.to_owned(),
            },
            groups,
        ))
    }

    /// Durably replaces `group`'s offsets.
    pub fn save(&self, group: &str, offsets: &GroupOffsets) -> Result<()> {
        let body = serde_json::to_vec(&GroupFile {
            group: group.to_owned(),
            offsets: offsets.clone(),
        })
        .expect("offsets serialise");
        write_atomic(&self.dir.join(file_name(group)), &body)
    }

    pub fn delete(&self, group: &str) -> Result<()> {
        let path = self.dir.join(file_name(group));
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(path, e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_round_trip_for_any_group_name() {
        let dir = tempfile::tempdir().unwrap();
        let (store, loaded) = OffsetStore::open(dir.path()).unwrap();
        assert!(loaded.is_empty());
        let mut offsets = GroupOffsets::new();
        offsets.entry("t".into()).or_default().insert(
            3,
            Committed {
                offset: 42,
                metadata: Some("m".into()),
                leader_epoch: -1,
                commit_ms: 1,
            },
        );
        for name in ["plain", "with/slash and ünïcode", ""] {
            store.save(name, &offsets).unwrap();
        }
        store.delete("plain").unwrap();
        let (_, loaded) = OffsetStore::open(dir.path()).unwrap();
        assert_eq!(loaded.len(), 2);
        assert_eq!(loaded["with/slash and ünïcode"]["t"][&3].offset, 42);
    }
}
