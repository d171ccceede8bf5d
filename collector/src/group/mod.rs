//! The group coordinator: every consumer group's membership, rebalances and
//! committed offsets. The collector coordinates every group.
//!
//! - `state.rs`: one group's state machine (pure, time passed in).
//! - `offsets.rs`: durable committed offsets.
//!
//! Each group has its own lock, so one group's rebalance or offset fsync
//! never waits on another's, and none of this touches the produce/fetch
//! path. A background tick expires sessions and rebalance deadlines.

pub mod offsets;
pub mod state;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

pub use offsets::{Committed, GroupOffsets};
pub use state::{GroupSettings, JoinRequest, JoinResult, Reply, State, SyncResult};

use crate::error::Result;
use offsets::OffsetStore;
use state::Group;

pub const OFFSET_METADATA_TOO_LARGE: i16 = 12;
pub const NON_EMPTY_GROUP: i16 = 68;
pub const GROUP_ID_NOT_FOUND: i16 = 69;
const MAX_METADATA: usize = 4096;

pub struct Coordinator {
    groups: Mutex<HashMap<String, Arc<Mutex<Group>>>>,
    store: OffsetStore,
    pub settings: GroupSettings,
}

/// A member as DescribeGroups reports it.
pub struct MemberDescription {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

pub struct GroupDescription {
    pub state: State,
    pub protocol_type: String,
    pub protocol: String,
    pub members: Vec<MemberDescription>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Coordinator {
    /// Loads committed offsets from `dir` (data_dir/groups).
    pub fn open(dir: &Path, settings: GroupSettings) -> Result<Coordinator> {
        let (store, loaded) = OffsetStore::open(dir)?;
        let groups = loaded
            .into_iter()
            .map(|(id, offsets)| {
                let mut g = Group::new(&id);
                g.offsets = offsets;
                (id, Arc::new(Mutex::new(g)))
            })
            .collect();
        Ok(Coordinator {
            groups: Mutex::new(groups),
            store,
            settings,
        })
    }

    fn group(&self, id: &str) -> Option<Arc<Mutex<Group>>> {
        lock(&self.groups).get(id).cloned()
    }

    fn group_or_create(&self, id: &str) -> Arc<Mutex<Group>> {
        Arc::clone(
            lock(&self.groups)
                .entry(id.to_owned())
                .or_insert_with(|| Arc::new(Mutex::new(Group::new(id)))),
        )
    }

    pub fn join(&self, group: &str, req: JoinRequest) -> Reply<JoinResult> {
        let g = self.group_or_create(group);
        let mut g = lock(&g);
        g.join(req, Instant::now(), &self.settings)
    }

    pub fn sync(
        &self,
        group: &str,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> Reply<SyncResult> {
        match self.group(group) {
            Some(g) => lock(&g).sync(member_id, generation, assignments),
            None => Reply::Now(SyncResult {
                error: state::UNKNOWN_MEMBER_ID,
                ..Default::default()
            }),
        }
    }

    pub fn heartbeat(&self, group: &str, member_id: &str, generation: i32) -> i16 {
        match self.group(group) {
            Some(g) => lock(&g).heartbeat(member_id, generation, Instant::now()),
            None => state::UNKNOWN_MEMBER_ID,
        }
    }

    /// LeaveGroup for one member, by member id or static instance id.
    pub fn leave(&self, group: &str, member_id: &str, instance_id: Option<&str>) -> i16 {
        let Some(g) = self.group(group) else {
            return state::UNKNOWN_MEMBER_ID;
        };
        let mut g = lock(&g);
        let id = match instance_id {
            Some(instance) if member_id.is_empty() => {
                g.member_by_instance(instance).unwrap_or_default()
            }
            _ => member_id.to_owned(),
        };
        if g.remove_member(&id, Instant::now(), &self.settings) {
            state::NONE
        } else {
            state::UNKNOWN_MEMBER_ID
        }
    }

    /// Validates and durably stores offsets; returns an error code per
    /// (topic, partition) in request order. Blocking (fsync).
    pub fn commit(
        &self,
        group: &str,
        member_id: &str,
        generation: i32,
        offsets: Vec<(String, i32, Committed)>,
    ) -> Vec<i16> {
        let g = self.group_or_create(group);
        let mut g = lock(&g);
        if let Err(code) = g.check_commit(member_id, generation) {
            return vec![code; offsets.len()];
        }
        let mut codes = Vec::with_capacity(offsets.len());
        let mut next = g.offsets.clone();
        for (topic, partition, c) in offsets {
            if c.metadata.as_ref().is_some_and(|m| m.len() > MAX_METADATA) {
                codes.push(OFFSET_METADATA_TOO_LARGE);
                continue;
            }
            next.entry(topic).or_default().insert(partition, c);
            codes.push(state::NONE);
        }
        match self.store.save(group, &next) {
            Ok(()) => g.offsets = next,
            Err(e) => {
                tracing::error!(group, error = %e, "could not persist committed offsets");
                codes.iter_mut().for_each(|c| *c = e.kafka_code());
            }
        }
        codes
    }

    /// Committed offsets of a group: all of them, or those asked for.
    pub fn committed(&self, group: &str) -> GroupOffsets {
        self.group(group)
            .map(|g| lock(&g).offsets.clone())
            .unwrap_or_default()
    }

    pub fn list(&self) -> Vec<(String, State, String)> {
        let groups: Vec<_> = lock(&self.groups).values().cloned().collect();
        let mut out: Vec<_> = groups
            .iter()
            .map(|g| {
                let g = lock(g);
                (
                    g.id.clone(),
                    g.state,
                    g.protocol_type.clone().unwrap_or_default(),
                )
            })
            .filter(|(_, s, _)| *s != State::Dead)
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn describe(&self, group: &str) -> GroupDescription {
        let Some(g) = self.group(group) else {
            return GroupDescription {
                state: State::Dead,
                protocol_type: String::new(),
                protocol: String::new(),
                members: Vec::new(),
            };
        };
        let g = lock(&g);
        let protocol = g.protocol.clone().unwrap_or_default();
        GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            protocol: protocol.clone(),
            members: g
                .members
                .iter()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: m.metadata(&protocol),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// DeleteGroups: only groups without members. Blocking (unlink).
    pub fn delete(&self, group: &str) -> i16 {
        let mut groups = lock(&self.groups);
        let Some(g) = groups.get(group).cloned() else {
            return GROUP_ID_NOT_FOUND;
        };
        let mut g = lock(&g);
        if g.state != State::Empty {
            return NON_EMPTY_GROUP;
        }
        if let Err(e) = self.store.delete(group) {
            tracing::error!(group, error = %e, "could not delete committed offsets");
            return e.kafka_code();
        }
        g.state = State::Dead;
        groups.remove(group);
        state::NONE
    }

    /// Expires sessions and rebalance deadlines in every group.
    pub fn tick(&self) {
        let now = Instant::now();
        let groups: Vec<_> = lock(&self.groups).values().cloned().collect();
        for g in groups {
            lock(&g).tick(now, &self.settings);
        }
    }
}

/// Runs [`Coordinator::tick`] every 100 ms until `shutdown`.
pub fn spawn_ticker(
    coordinator: Arc<Coordinator>,
    shutdown: tokio_util::sync::CancellationToken,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut every = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = every.tick() => coordinator.tick(),
            }
        }
    })
}
