//! The log manager: topics and their partitions under one `data_dir`.
//!
//! Layout on disk:
//! ```text
//! data_dir/
//!   .lock                 held (flock) while a collector uses the directory
//!   .clean_shutdown       written last by a clean shutdown, removed at start
//!   topics.json           topic ids, partition counts, config overrides
//!   <topic>-<partition>/  00000000000000000000.log / .index / .timeindex ...
//!                         log-start-offset (after DeleteRecords)
//! ```
//! `Storage` is thread-safe; every method may be called from any thread.
//! Appends block (fsync); async callers use `spawn_blocking`.

pub mod cleaner;
mod compact;
mod group_commit;
pub mod index;
pub mod loader;
mod log_start;
pub mod partition;
pub mod producer;
pub mod segment;
pub mod topic;

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use uuid::Uuid;

/// The RecordBatch v2 header view the log reads in place (shared with the
/// agent, whose batches it validates).
pub use logship_common::batch;
pub use partition::{AppendInfo, FlushPolicy, Located, Partition, ReadResult};
pub use segment::FileRange;
pub use topic::{validate_topic_name, TopicConfig, TopicMeta};

use crate::error::{Result, StorageError};
use crate::metrics::StorageMetrics;

const CLEAN_SHUTDOWN: &str = ".clean_shutdown";
const METADATA: &str = "topics.json";

/// How the storage engine behaves; the collector config fills this in.
#[derive(Debug, Clone)]
pub struct StorageOptions {
    pub data_dir: PathBuf,
    pub flush: FlushPolicy,
    /// Topic config defaults (overridable per topic with Kafka's names).
    pub defaults: TopicConfig,
    /// How often retention runs.
    pub retention_check_interval: Duration,
    /// The log cleaner (compacted topics).
    pub cleaner: cleaner::CleanerOptions,
}

impl StorageOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        StorageOptions {
            data_dir: data_dir.into(),
            flush: FlushPolicy::Always,
            defaults: TopicConfig::default(),
            retention_check_interval: Duration::from_secs(300),
            cleaner: cleaner::CleanerOptions::default(),
        }
    }
}

/// A topic and its partitions. Replaced whole when partitions are added.
pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub overrides: BTreeMap<String, String>,
    pub config: Arc<TopicConfig>,
    pub partitions: Vec<Arc<Partition>>,
}

/// What describe/list report about a topic.
#[derive(Debug, Clone)]
pub struct TopicDescription {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    pub config: TopicConfig,
    /// The topic's own overrides (the rest are defaults).
    pub overrides: BTreeMap<String, String>,
}

impl Topic {
    fn describe(&self) -> TopicDescription {
        TopicDescription {
            name: self.name.clone(),
            id: self.id,
            partitions: self.partitions.len() as i32,
            config: (*self.config).clone(),
            overrides: self.overrides.clone(),
        }
    }
    fn meta(&self) -> TopicMeta {
        TopicMeta {
            id: self.id,
            partitions: self.partitions.len() as i32,
            configs: self.overrides.clone(),
        }
    }
}

pub struct Storage {
    options: StorageOptions,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serialises changes to the topic set and the metadata file.
    admin: Mutex<()>,
    metrics: StorageMetrics,
    /// Held for the life of the process: two collectors on one directory
    /// would corrupt it.
    _lock: File,
}

/// Partitions above this per topic are refused (a typo guard, not a design limit).
pub const MAX_PARTITIONS: i32 = 10_000;

impl Storage {
    /// Opens `data_dir`, loading and (after an unclean stop) recovering every
    /// partition. Fails if another process holds the directory.
    pub fn open(options: StorageOptions, metrics: StorageMetrics) -> Result<Arc<Storage>> {
        let dir = &options.data_dir;
        std::fs::create_dir_all(dir).map_err(|e| StorageError::io(dir, e))?;
        let lock_path = dir.join(".lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| StorageError::io(&lock_path, e))?;
        if lock.try_lock().is_err() {
            return Err(StorageError::DataDirLocked { path: dir.clone() });
        }
        let marker = dir.join(CLEAN_SHUTDOWN);
        let clean = marker.exists();
        let metas = topic::load_metadata(&dir.join(METADATA))?;
        remove_deleted_dirs(dir);
        let started = std::time::Instant::now();
        let mut topics = BTreeMap::new();
        for (name, meta) in metas {
            let config = Arc::new(options.defaults.with_overrides(&meta.configs)?);
            let mut partitions = Vec::with_capacity(meta.partitions as usize);
            for p in 0..meta.partitions {
                let pdir = partition_dir(dir, &name, p);
                partitions.push(Arc::new(loader::load_partition(
                    &pdir,
                    &name,
                    p,
                    Arc::clone(&config),
                    options.flush,
                    clean,
                    &metrics,
                )?));
            }
            let topic = Topic {
                name: name.clone(),
                id: meta.id,
                overrides: meta.configs,
                config,
                partitions,
            };
            topics.insert(name, Arc::new(topic));
        }
        if clean {
            std::fs::remove_file(&marker).map_err(|e| StorageError::io(&marker, e))?;
            topic::sync_dir(dir)?;
        }
        tracing::info!(
            data_dir = %dir.display(), topics = topics.len(), clean,
            elapsed_ms = started.elapsed().as_millis() as u64, "storage loaded"
        );
        Ok(Arc::new(Storage {
            options,
            topics: RwLock::new(topics),
            admin: Mutex::new(()),
            metrics,
            _lock: lock,
        }))
    }

    pub fn options(&self) -> &StorageOptions {
        &self.options
    }

    fn topics_read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner())
    }
    fn topics_write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.topics.write().unwrap_or_else(|e| e.into_inner())
    }

    fn save_metadata(&self, topics: &BTreeMap<String, Arc<Topic>>) -> Result<()> {
        let metas = topics.iter().map(|(k, t)| (k.clone(), t.meta())).collect();
        topic::save_metadata(&self.options.data_dir.join(METADATA), &metas)
    }

    /// Creates a topic with `partitions` partitions and config `overrides`.
    /// With `validate_only` it checks everything and changes nothing.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        overrides: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<TopicDescription> {
        validate_topic_name(name)?;
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(StorageError::InvalidPartitions {
                topic: name.to_owned(),
                count: partitions,
                reason: format!("must be between 1 and {MAX_PARTITIONS}"),
            });
        }
        let config = Arc::new(self.options.defaults.with_overrides(&overrides)?);
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        if self.topics_read().contains_key(name) {
            return Err(StorageError::TopicExists(name.to_owned()));
        }
        let topic = Topic {
            name: name.to_owned(),
            id: Uuid::new_v4(),
            overrides,
            partitions: Vec::new(),
            config,
        };
        if validate_only {
            let mut d = topic.describe();
            d.partitions = partitions;
            return Ok(d);
        }
        let topic = self.with_new_partitions(topic, partitions)?;
        let desc = topic.describe();
        let mut next = self.topics_read().clone();
        next.insert(name.to_owned(), Arc::new(topic));
        // The metadata file is the commit point: partition directories
        // without an entry are leftovers, wiped if the name is reused.
        self.save_metadata(&next)?;
        *self.topics_write() = next;
        tracing::info!(topic = name, partitions, "created topic");
        Ok(desc)
    }

    /// Returns `topic` with fresh partitions appended up to `total`.
    fn with_new_partitions(&self, mut topic: Topic, total: i32) -> Result<Topic> {
        for p in topic.partitions.len() as i32..total {
            let dir = partition_dir(&self.options.data_dir, &topic.name, p);
            if dir.exists() {
                std::fs::remove_dir_all(&dir).map_err(|e| StorageError::io(&dir, e))?;
            }
            topic.partitions.push(Arc::new(loader::load_partition(
                &dir,
                &topic.name,
                p,
                Arc::clone(&topic.config),
                self.options.flush,
                true,
                &self.metrics,
            )?));
        }
        topic::sync_dir(&self.options.data_dir)?;
        Ok(topic)
    }

    /// Grows a topic to `total` partitions (Kafka's CreatePartitions).
    pub fn add_partitions(
        &self,
        name: &str,
        total: i32,
        validate_only: bool,
    ) -> Result<TopicDescription> {
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.topic(name)?;
        let have = current.partitions.len() as i32;
        if total <= have || total > MAX_PARTITIONS {
            return Err(StorageError::InvalidPartitions {
                topic: name.to_owned(),
                count: total,
                reason: format!("topic has {have} partitions; the new count must be larger and at most {MAX_PARTITIONS}"),
            });
        }
        let grown = Topic {
            name: current.name.clone(),
            id: current.id,
            overrides: current.overrides.clone(),
            config: Arc::clone(&current.config),
            partitions: current.partitions.clone(),
        };
        if validate_only {
            let mut d = grown.describe();
            d.partitions = total;
            return Ok(d);
        }
        let grown = self.with_new_partitions(grown, total)?;
        let desc = grown.describe();
        let mut next = self.topics_read().clone();
        next.insert(name.to_owned(), Arc::new(grown));
        self.save_metadata(&next)?;
        *self.topics_write() = next;
        Ok(desc)
    }

    /// Changes a topic's config overrides (Kafka's AlterConfigs and
    /// IncrementalAlterConfigs). `edit` turns the current overrides into the
    /// new ones; it runs under the admin lock, so concurrent alterations
    /// compose. The result is validated as at creation; on any error nothing
    /// changes. The metadata file is the commit point; the partitions switch
    /// to the new config right after it is written, without a restart.
    pub fn alter_topic_configs(
        &self,
        name: &str,
        validate_only: bool,
        edit: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>>,
    ) -> Result<TopicDescription> {
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let current = self.topic(name)?;
        let overrides = edit(&current.overrides)?;
        let config = Arc::new(self.options.defaults.with_overrides(&overrides)?);
        let altered = Topic {
            name: current.name.clone(),
            id: current.id,
            overrides,
            config: Arc::clone(&config),
            partitions: current.partitions.clone(),
        };
        let desc = altered.describe();
        if validate_only || altered.overrides == current.overrides {
            return Ok(desc);
        }
        let mut next = self.topics_read().clone();
        next.insert(name.to_owned(), Arc::new(altered));
        self.save_metadata(&next)?;
        *self.topics_write() = next;
        for p in &current.partitions {
            p.set_config(Arc::clone(&config));
        }
        self.metrics.topic_config_changes.inc();
        tracing::info!(topic = name, overrides = ?desc.overrides, "altered topic configs");
        Ok(desc)
    }

    /// Deletes a topic and all its files. In-flight reads holding segment
    /// files finish; further appends and reads see an unknown topic.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        let topic = self.topic(name)?;
        let mut next = self.topics_read().clone();
        next.remove(name);
        self.save_metadata(&next)?;
        *self.topics_write() = next;
        for p in &topic.partitions {
            p.mark_deleted();
            // Rename first so a crash mid-delete leaves a directory start-up
            // recognises and removes, never a half-deleted live partition.
            let doomed = p.dir().with_file_name(format!(
                "{}.{}-delete",
                p.dir().file_name().unwrap_or_default().to_string_lossy(),
                Uuid::new_v4().simple()
            ));
            std::fs::rename(p.dir(), &doomed).map_err(|e| StorageError::io(p.dir(), e))?;
            std::fs::remove_dir_all(&doomed).map_err(|e| StorageError::io(&doomed, e))?;
        }
        topic::sync_dir(&self.options.data_dir)?;
        self.metrics.remove_topic(name);
        tracing::info!(topic = name, "deleted topic");
        Ok(())
    }

    pub fn topic(&self, name: &str) -> Result<Arc<Topic>> {
        self.topics_read()
            .get(name)
            .cloned()
            .ok_or_else(|| StorageError::UnknownTopicOrPartition {
                topic: name.to_owned(),
                partition: -1,
            })
    }

    pub fn list_topics(&self) -> Vec<TopicDescription> {
        self.topics_read().values().map(|t| t.describe()).collect()
    }

    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        Ok(self.topic(name)?.describe())
    }

    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>> {
        let t = self
            .topic(topic)
            .map_err(|_| StorageError::UnknownTopicOrPartition {
                topic: topic.to_owned(),
                partition,
            })?;
        usize::try_from(partition)
            .ok()
            .and_then(|p| t.partitions.get(p).cloned())
            .ok_or_else(|| StorageError::UnknownTopicOrPartition {
                topic: topic.to_owned(),
                partition,
            })
    }

    /// Appends producer batches to a partition; see [`Partition::append`].
    pub fn append(&self, topic: &str, partition: i32, batches: &mut [u8]) -> Result<AppendInfo> {
        self.partition(topic, partition)?.append(batches)
    }

    /// Advances a partition's log start offset (Kafka's DeleteRecords); see
    /// [`Partition::delete_records`].
    pub fn delete_records(&self, topic: &str, partition: i32, offset: i64) -> Result<i64> {
        self.partition(topic, partition)?.delete_records(offset)
    }

    /// Reads whole batches from a partition; see [`Partition::read`].
    pub fn read(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<ReadResult> {
        self.partition(topic, partition)?.read(offset, max_bytes)
    }

    fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.topics_read()
            .values()
            .flat_map(|t| t.partitions.iter().cloned())
            .collect()
    }

    /// One retention pass over every partition; returns segments deleted.
    /// A failing partition is logged and the pass goes on.
    pub fn enforce_retention(&self) -> usize {
        let now = logship_common::time::now_ms();
        self.all_partitions()
            .iter()
            .map(|p| {
                p.enforce_retention(now).unwrap_or_else(|e| {
                    tracing::error!(topic = p.topic(), partition = p.id(), error = %e, "retention failed");
                    0
                })
            })
            .sum()
    }

    /// One cleaner pass: cleans every compacted partition that is due, one
    /// at a time, until `stop` fires. A failing partition is logged and
    /// counted and the pass goes on.
    pub fn clean_once(
        &self,
        options: &cleaner::CleanerOptions,
        stop: &tokio_util::sync::CancellationToken,
    ) -> usize {
        let metrics = &self.metrics.cleaner;
        metrics.max_dirty_ratio.set(0.0);
        let mut cleaned = 0;
        for p in self.all_partitions() {
            if stop.is_cancelled() {
                break;
            }
            let now = logship_common::time::now_ms();
            match cleaner::clean_partition(&p, options, metrics, now) {
                Ok(Some(_)) => cleaned += 1,
                Ok(None) => {}
                Err(e) => {
                    metrics.errors.inc();
                    tracing::error!(topic = p.topic(), partition = p.id(), error = %e, "cleaning failed");
                }
            }
        }
        cleaned
    }

    /// fsyncs every partition (the interval flush policy's tick).
    pub fn flush_all(&self) {
        for p in self.all_partitions() {
            if let Err(e) = p.flush() {
                tracing::error!(topic = p.topic(), partition = p.id(), error = %e, "flush failed");
            }
        }
    }

    /// Clean shutdown: fsyncs every segment and index, then writes the
    /// marker that lets the next start skip recovery.
    pub fn close(&self) -> Result<()> {
        let _admin = self.admin.lock().unwrap_or_else(|e| e.into_inner());
        for p in self.all_partitions() {
            p.sync_all()?;
        }
        let marker = self.options.data_dir.join(CLEAN_SHUTDOWN);
        topic::write_atomic(&marker, b"clean\n")?;
        tracing::info!(data_dir = %self.options.data_dir.display(), "storage closed cleanly");
        Ok(())
    }
}

/// Runs retention (and, under [`FlushPolicy::Interval`], periodic fsync) until
/// `shutdown` fires. The blocking work runs on tokio's blocking pool.
pub fn spawn_maintenance(
    storage: Arc<Storage>,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut retention = tokio::time::interval(storage.options.retention_check_interval);
        retention.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let flush_every = match storage.options.flush {
            FlushPolicy::Interval(d) => d,
            _ => Duration::from_secs(3600 * 24 * 365),
        };
        let mut flush = tokio::time::interval(flush_every);
        flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let s = Arc::clone(&storage);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = retention.tick() => {
                    let _ = tokio::task::spawn_blocking(move || s.enforce_retention()).await;
                }
                _ = flush.tick(), if matches!(storage.options.flush, FlushPolicy::Interval(_)) => {
                    let _ = tokio::task::spawn_blocking(move || s.flush_all()).await;
                }
            }
        }
    })
}

fn partition_dir(data_dir: &Path, topic: &str, partition: i32) -> PathBuf {
    data_dir.join(format!("{topic}-{partition}"))
}

/// Removes partition directories renamed by an interrupted topic deletion.
fn remove_deleted_dirs(data_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().ends_with("-delete") && entry.path().is_dir() {
            if let Err(e) = std::fs::remove_dir_all(entry.path()) {
                tracing::warn!(path = %entry.path().display(), error = %e, "could not remove deleted partition");
            }
        }
    }
}

#[cfg(test)]
mod cleaner_tests;
#[cfg(test)]
mod tests;
