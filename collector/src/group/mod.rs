//! The group coordinator: every consumer group's membership, rebalances and
//! committed offsets. The collector coordinates every group.
//!
//! - `state.rs`: one group's state machine (pure, time passed in).
//! - `offsets.rs`: durable committed offsets.
//!
//! Each group has its own lock, so one group's rebalance or offset fsync
//! never waits on another's, and none of this touches the produce/fetch
//! path. A background tick expires sessions and rebalance deadlines, and
//! refreshes the member gauges; rebalances and fencings are counted as they
//! happen (each group queues them in `Group::events`, drained under its
//! lock).

pub mod offsets;
pub mod state;

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use kafka_protocol::ResponseError;
pub use offsets::{Committed, GroupOffsets};
pub use state::{GroupSettings, JoinRequest, JoinResult, Reply, State, SyncResult};

use crate::error::Result;
use crate::metrics::GroupMetrics;
use offsets::OffsetStore;
use state::{Cause, Event, Group};

pub const OFFSET_METADATA_TOO_LARGE: i16 = ResponseError::OffsetMetadataTooLarge.code();
pub const NON_EMPTY_GROUP: i16 = ResponseError::NonEmptyGroup.code();
pub const GROUP_ID_NOT_FOUND: i16 = ResponseError::GroupIdNotFound.code();
const MAX_METADATA: usize = 4096;

pub struct Coordinator {
    groups: Mutex<HashMap<String, Arc<Mutex<Group>>>>,
    store: OffsetStore,
    pub settings: GroupSettings,
    metrics: GroupMetrics,
}

/// A group's lock guard that hands the group's queued events to the
/// metrics when released, so no code path can forget to.
struct Locked<'a> {
    group: MutexGuard<'a, Group>,
    metrics: &'a GroupMetrics,
}

impl std::ops::Deref for Locked<'_> {
    type Target = Group;
    fn deref(&self) -> &Group {
        &self.group
    }
}

impl std::ops::DerefMut for Locked<'_> {
    fn deref_mut(&mut self) -> &mut Group {
        &mut self.group
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        for event in self.group.events.drain(..) {
            match event {
                Event::Rebalance(cause) => self.metrics.rebalance(cause.label()),
                Event::Fenced => self.metrics.fenced_members.inc(),
            }
        }
    }
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
    pub fn open(dir: &Path, settings: GroupSettings, metrics: GroupMetrics) -> Result<Coordinator> {
        for cause in Cause::ALL {
            metrics.rebalance_init(cause.label());
        }
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
            metrics,
        })
    }

    fn lock<'a>(&'a self, g: &'a Mutex<Group>) -> Locked<'a> {
        Locked {
            group: lock(g),
            metrics: &self.metrics,
        }
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
        let result = self.lock(&g).join(req, Instant::now(), &self.settings);
        result
    }

    pub fn sync(
        &self,
        group: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> Reply<SyncResult> {
        match self.group(group) {
            Some(g) => self.lock(&g).sync(
                member_id,
                instance_id,
                generation,
                assignments,
                Instant::now(),
            ),
            None => Reply::Now(SyncResult {
                error: state::UNKNOWN_MEMBER_ID,
                ..Default::default()
            }),
        }
    }

    pub fn heartbeat(
        &self,
        group: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> i16 {
        match self.group(group) {
            Some(g) => self
                .lock(&g)
                .heartbeat(member_id, instance_id, generation, Instant::now()),
            None => state::UNKNOWN_MEMBER_ID,
        }
    }

    /// LeaveGroup for one member identity: a member id, a static instance
    /// id, or both (see [`Group::leave`]).
    pub fn leave(&self, group: &str, member_id: &str, instance_id: Option<&str>) -> i16 {
        let Some(g) = self.group(group) else {
            return state::UNKNOWN_MEMBER_ID;
        };
        let code = self
            .lock(&g)
            .leave(member_id, instance_id, Instant::now(), &self.settings);
        code
    }

    /// Validates and durably stores offsets; returns an error code per
    /// (topic, partition) in request order. Blocking (fsync).
    pub fn commit(
        &self,
        group: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        offsets: Vec<(String, i32, Committed)>,
    ) -> Vec<i16> {
        let g = self.group_or_create(group);
        let mut g = self.lock(&g);
        if let Err(code) = g.check_commit(member_id, instance_id, generation) {
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

    /// Expires sessions and rebalance deadlines in every group; refreshes
    /// the member gauges.
    pub fn tick(&self) {
        let now = Instant::now();
        let groups: Vec<_> = lock(&self.groups).values().cloned().collect();
        let (mut statics, mut dynamics) = (0, 0);
        for g in groups {
            let mut g = self.lock(&g);
            g.tick(now, &self.settings);
            let (s, d) = g.member_kinds();
            statics += s;
            dynamics += d;
        }
        self.metrics.set_members(statics, dynamics);
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
