//! What every Kafka request handler shares: storage, the collector's identity
//! as a one-node cluster (the advertised address is per listener: see
//! [`crate::session`]), topic auto-creation, producer id allocation and the
//! signal that wakes long-polling fetches.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use crate::auth::{AccessControl, Authorizer, PrincipalMapper};
use crate::error::{Result, StorageError};
use crate::group::Coordinator;
use crate::metrics::Metrics;
use crate::storage::{topic, Partition, Storage};

/// The collector's broker id: it is the only broker and the controller.
pub const NODE_ID: i32 = 0;

/// Producer ids are reserved from a persisted counter in blocks, so ids are
/// never reused across restarts without a write per InitProducerId.
const PRODUCER_ID_BLOCK: i64 = 1000;

pub struct Broker {
    pub storage: Arc<Storage>,
    /// The consumer group coordinator (this collector coordinates every group).
    pub groups: Arc<Coordinator>,
    pub metrics: Metrics,
    /// The ACLs and ssl principal mapping in force (replaced on SIGHUP);
    /// everything is allowed until [`AccessControl::replace`] installs
    /// rules.
    pub access: AccessControl,
    pub cluster_id: String,
    pub auto_create_topics: bool,
    pub default_partitions: i32,
    pub max_request_bytes: u64,
    /// Bumped after every append; long-polling fetches wait for a change.
    appended: watch::Sender<u64>,
    producer_ids: Mutex<ProducerIds>,
    next_producer_id: AtomicI64,
}

struct ProducerIds {
    /// First id not yet reserved on disk.
    reserved_until: i64,
}

pub struct BrokerSettings {
    pub auto_create_topics: bool,
    pub default_partitions: i32,
    pub max_request_bytes: u64,
}

impl Broker {
    pub fn new(
        storage: Arc<Storage>,
        groups: Arc<Coordinator>,
        metrics: Metrics,
        settings: BrokerSettings,
    ) -> Result<Broker> {
        let dir = storage.options().data_dir.clone();
        let cluster_id = load_or_create_cluster_id(&dir)?;
        let start = read_i64(&dir.join("producer-ids"))?.unwrap_or(1000);
        let access = AccessControl::new(
            Authorizer::default(),
            PrincipalMapper::default(),
            metrics.security.authorization_denied.clone(),
        );
        let broker = Broker {
            storage,
            groups,
            access,
            metrics,
            cluster_id,
            auto_create_topics: settings.auto_create_topics,
            default_partitions: settings.default_partitions,
            max_request_bytes: settings.max_request_bytes,
            appended: watch::Sender::new(0),
            producer_ids: Mutex::new(ProducerIds {
                reserved_until: start,
            }),
            next_producer_id: AtomicI64::new(start),
        };
        Ok(broker)
    }

    /// A partition, auto-creating its topic when the request and the config
    /// allow it. An existing topic never grows partitions this way.
    pub fn partition(
        &self,
        topic: &str,
        partition: i32,
        auto_create: bool,
    ) -> Result<Arc<Partition>> {
        match self.storage.partition(topic, partition) {
            Err(StorageError::UnknownTopicOrPartition { .. })
                if auto_create && self.auto_create_topics && self.storage.topic(topic).is_err() =>
            {
                self.auto_create(topic)?;
                self.storage.partition(topic, partition)
            }
            other => other,
        }
    }

    /// Creates `topic` with the default partition count, tolerating a race
    /// with another request creating it.
    pub fn auto_create(&self, topic: &str) -> Result<()> {
        match self
            .storage
            .create_topic(topic, self.default_partitions, BTreeMap::new(), false)
        {
            Ok(_) | Err(StorageError::TopicExists(_)) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Wakes long-polling fetches after an append.
    pub fn notify_appended(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    /// A fresh producer id, unique across restarts.
    pub fn allocate_producer_id(&self) -> Result<i64> {
        let id = self.next_producer_id.fetch_add(1, Ordering::Relaxed);
        let mut ids = self.producer_ids.lock().unwrap_or_else(|e| e.into_inner());
        if id >= ids.reserved_until {
            let until = id + PRODUCER_ID_BLOCK;
            let path = self.storage.options().data_dir.join("producer-ids");
            topic::write_atomic(&path, until.to_string().as_bytes())?;
            ids.reserved_until = until;
        }
        Ok(id)
    }
}

fn read_i64(path: &Path) -> Result<Option<i64>> {
    match std::fs::read_to_string(path) {
        Ok(s) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| StorageError::CorruptMetadata {
                path: path.to_owned(),
                reason: format!("expected an integer, found {s:?}"),
            }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

/// A cluster id is generated once per data directory, like Kafka's
/// `meta.properties`, so clients see a stable cluster.
fn load_or_create_cluster_id(dir: &Path) -> Result<String> {
    let path = dir.join("cluster-id");
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => Ok(s.trim().to_owned()),
        Ok(_) => create_cluster_id(&path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => create_cluster_id(&path),
        Err(e) => Err(StorageError::io(path, e)),
    }
}

fn create_cluster_id(path: &Path) -> Result<String> {
    let id = format!("logship-{}", uuid::Uuid::new_v4().simple());
    topic::write_atomic(path, id.as_bytes())?;
    Ok(id)
}
