//! One consumer group's state machine, as Kafka's classic coordinator runs it:
//! Empty -> PreparingRebalance -> CompletingRebalance -> Stable (and Dead).
//!
//! Pure logic over a `Group` value: callers hold the group's lock and pass
//! the time in. JoinGroup and SyncGroup answers that must wait for other
//! members are delivered through oneshot channels.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

use super::offsets::GroupOffsets;

pub const NONE: i16 = 0;
pub const ILLEGAL_GENERATION: i16 = 22;
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = 23;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const INVALID_SESSION_TIMEOUT: i16 = 26;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const MEMBER_ID_REQUIRED: i16 = 79;
pub const FENCED_INSTANCE_ID: i16 = 82;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl State {
    /// The names Kafka's tools print.
    pub fn name(self) -> &'static str {
        match self {
            State::Empty => "Empty",
            State::PreparingRebalance => "PreparingRebalance",
            State::CompletingRebalance => "CompletingRebalance",
            State::Stable => "Stable",
            State::Dead => "Dead",
        }
    }
}

/// The answer to a JoinGroup.
#[derive(Debug, Clone, Default)]
pub struct JoinResult {
    pub error: i16,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Only the leader gets the members and their metadata.
    pub members: Vec<(String, Option<String>, Bytes)>,
}

/// The answer to a SyncGroup.
#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

pub enum Reply<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

pub struct JoinRequest {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// JoinGroup v4+: an unknown member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
}

pub struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    pub last_heartbeat: Instant,
    awaiting_join: Option<oneshot::Sender<JoinResult>>,
    awaiting_sync: Option<oneshot::Sender<SyncResult>>,
}

impl Member {
    /// The metadata this member sent for `protocol`.
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// Coordinator-wide settings (collector.groups in the config).
#[derive(Debug, Clone)]
pub struct GroupSettings {
    /// Kafka's `group.initial.rebalance.delay.ms`: how long the first
    /// rebalance of an empty group waits for more members.
    pub initial_rebalance_delay: Duration,
    pub min_session_timeout: Duration,
    pub max_session_timeout: Duration,
}

impl Default for GroupSettings {
    fn default() -> Self {
        GroupSettings {
            initial_rebalance_delay: Duration::from_secs(3),
            min_session_timeout: Duration::from_secs(6),
            max_session_timeout: Duration::from_secs(1800),
        }
    }
}

pub struct Group {
    pub id: String,
    pub state: State,
    pub generation: i32,
    pub protocol_type: Option<String>,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// In join order: the first joiner leads.
    pub members: Vec<Member>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, not yet joined.
    pending: HashMap<String, Instant>,
    rebalance_deadline: Option<Instant>,
    initial_delay_until: Option<Instant>,
    pub offsets: GroupOffsets,
}

impl Group {
    pub fn new(id: &str) -> Group {
        Group {
            id: id.to_owned(),
            state: State::Empty,
            generation: 0,
            protocol_type: None,
            protocol: None,
            leader: None,
            members: Vec::new(),
            pending: HashMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            offsets: GroupOffsets::new(),
        }
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }
    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }

    fn error_join(error: i16, member_id: &str) -> Reply<JoinResult> {
        Reply::Now(JoinResult {
            error,
            generation: -1,
            member_id: member_id.to_owned(),
            ..Default::default()
        })
    }

    pub fn join(&mut self, req: JoinRequest, now: Instant, s: &GroupSettings) -> Reply<JoinResult> {
        if req.session_timeout < s.min_session_timeout
            || req.session_timeout > s.max_session_timeout
        {
            return Self::error_join(INVALID_SESSION_TIMEOUT, &req.member_id);
        }
        if req.protocol_type.is_empty()
            || req.protocols.is_empty()
            || (!self.members.is_empty() && !self.supports(&req.protocol_type, &req.protocols))
        {
            return Self::error_join(INCONSISTENT_GROUP_PROTOCOL, &req.member_id);
        }
        let mut member_id = req.member_id.clone();
        // Static membership: a known instance id keeps its place; a new
        // incarnation replaces the old member id.
        if let Some(instance) = &req.instance_id {
            if let Some(old) = self
                .members
                .iter()
                .position(|m| m.instance_id.as_ref() == Some(instance))
            {
                if !member_id.is_empty() && self.members[old].id != member_id {
                    return Self::error_join(FENCED_INSTANCE_ID, &member_id);
                }
                if member_id.is_empty() {
                    member_id = new_member_id(&req.client_id);
                    let prev = std::mem::replace(&mut self.members[old].id, member_id.clone());
                    if self.leader.as_deref() == Some(prev.as_str()) {
                        self.leader = Some(member_id.clone());
                    }
                }
            } else if member_id.is_empty() {
                member_id = new_member_id(&req.client_id);
            }
        } else if member_id.is_empty() {
            member_id = new_member_id(&req.client_id);
            if req.require_known_member_id {
                self.pending
                    .insert(member_id.clone(), now + req.session_timeout);
                return Self::error_join(MEMBER_ID_REQUIRED, &member_id);
            }
        } else if self.member(&member_id).is_none() && self.pending.remove(&member_id).is_none() {
            return Self::error_join(UNKNOWN_MEMBER_ID, &member_id);
        }
        self.pending.remove(&member_id);

        // A follower rejoining a stable group with unchanged metadata gets
        // the current generation back without a rebalance.
        if self.state == State::Stable {
            if let Some(m) = self.member(&member_id) {
                if self.leader.as_deref() != Some(member_id.as_str())
                    && m.protocols == req.protocols
                {
                    return Reply::Now(self.join_result(&member_id, false));
                }
            }
        }

        let (tx, rx) = oneshot::channel();
        match self.member_mut(&member_id) {
            Some(m) => {
                m.protocols = req.protocols;
                m.session_timeout = req.session_timeout;
                m.rebalance_timeout = req.rebalance_timeout;
                m.last_heartbeat = now;
                m.awaiting_join = Some(tx);
            }
            None => {
                if self.protocol_type.is_none() {
                    self.protocol_type = Some(req.protocol_type.clone());
                }
                self.members.push(Member {
                    id: member_id.clone(),
                    instance_id: req.instance_id,
                    client_id: req.client_id,
                    client_host: req.client_host,
                    session_timeout: req.session_timeout,
                    rebalance_timeout: req.rebalance_timeout,
                    protocols: req.protocols,
                    assignment: Bytes::new(),
                    last_heartbeat: now,
                    awaiting_join: Some(tx),
                    awaiting_sync: None,
                });
                // New arrivals during the initial delay extend it (up to the
                // rebalance deadline), as Kafka's InitialDelayedJoin does.
                if let (Some(until), Some(deadline)) =
                    (self.initial_delay_until, self.rebalance_deadline)
                {
                    if until > now {
                        self.initial_delay_until =
                            Some((now + s.initial_rebalance_delay).min(deadline));
                    }
                }
            }
        }
        if self.state != State::PreparingRebalance {
            self.prepare_rebalance(now, s);
        }
        self.try_complete_join(now);
        Reply::Later(rx)
    }

    /// Whether every member (and the newcomer) shares a protocol.
    fn supports(&self, protocol_type: &str, protocols: &[(String, Bytes)]) -> bool {
        self.protocol_type
            .as_deref()
            .is_none_or(|t| t == protocol_type)
            && protocols.iter().any(|(name, _)| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == name))
            })
    }

    fn prepare_rebalance(&mut self, now: Instant, s: &GroupSettings) {
        if self.state == State::CompletingRebalance {
            for m in &mut self.members {
                if let Some(tx) = m.awaiting_sync.take() {
                    let _ = tx.send(SyncResult {
                        error: REBALANCE_IN_PROGRESS,
                        ..Default::default()
                    });
                }
            }
        }
        let timeout = self
            .members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        let deadline = now + timeout;
        self.initial_delay_until =
            (self.state == State::Empty).then(|| (now + s.initial_rebalance_delay).min(deadline));
        self.rebalance_deadline = Some(deadline);
        self.state = State::PreparingRebalance;
    }

    /// Completes the join phase once every member has rejoined (and any
    /// initial delay has passed), or the rebalance timeout expired; members
    /// that did not rejoin are dropped.
    pub fn try_complete_join(&mut self, now: Instant) {
        if self.state != State::PreparingRebalance {
            return;
        }
        let all_joined = self.members.iter().all(|m| m.awaiting_join.is_some());
        let delay_over = self.initial_delay_until.is_none_or(|t| now >= t);
        let expired = self.rebalance_deadline.is_some_and(|d| now >= d);
        if !((all_joined && delay_over) || expired) {
            return;
        }
        self.members.retain(|m| m.awaiting_join.is_some());
        self.generation += 1;
        self.rebalance_deadline = None;
        self.initial_delay_until = None;
        if self.members.is_empty() {
            self.state = State::Empty;
            self.protocol = None;
            self.leader = None;
            return;
        }
        self.protocol = self.select_protocol();
        if self
            .leader
            .as_ref()
            .is_none_or(|l| self.member(l).is_none())
        {
            self.leader = Some(self.members[0].id.clone());
        }
        self.state = State::CompletingRebalance;
        let leader = self.leader.clone().expect("set above");
        let ids: Vec<String> = self.members.iter().map(|m| m.id.clone()).collect();
        for id in ids {
            let result = self.join_result(&id, id == leader);
            let m = self.member_mut(&id).expect("listed above");
            m.last_heartbeat = now;
            m.assignment = Bytes::new();
            if let Some(tx) = m.awaiting_join.take() {
                let _ = tx.send(result);
            }
        }
    }

    /// The leader's first protocol that every member supports.
    fn select_protocol(&self) -> Option<String> {
        let first = self
            .leader
            .as_ref()
            .and_then(|l| self.member(l))
            .unwrap_or(&self.members[0]);
        first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .find(|name| {
                self.members
                    .iter()
                    .all(|m| m.protocols.iter().any(|(n, _)| n == *name))
            })
            .cloned()
    }

    fn join_result(&self, member_id: &str, with_members: bool) -> JoinResult {
        let protocol = self.protocol.clone().unwrap_or_default();
        JoinResult {
            error: NONE,
            generation: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_owned(),
            members: if with_members {
                self.members
                    .iter()
                    .map(|m| (m.id.clone(), m.instance_id.clone(), m.metadata(&protocol)))
                    .collect()
            } else {
                Vec::new()
            },
        }
    }

    fn check_member(&self, member_id: &str, generation: i32) -> Result<(), i16> {
        if self.member(member_id).is_none() {
            return Err(UNKNOWN_MEMBER_ID);
        }
        if generation != self.generation {
            return Err(ILLEGAL_GENERATION);
        }
        Ok(())
    }

    pub fn sync(
        &mut self,
        member_id: &str,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
    ) -> Reply<SyncResult> {
        let error = |error| {
            Reply::Now(SyncResult {
                error,
                ..Default::default()
            })
        };
        if let Err(code) = self.check_member(member_id, generation) {
            return error(code);
        }
        match self.state {
            State::PreparingRebalance => error(REBALANCE_IN_PROGRESS),
            State::Stable => Reply::Now(self.sync_result(member_id)),
            State::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                self.member_mut(member_id).expect("checked").awaiting_sync = Some(tx);
                if self.leader.as_deref() == Some(member_id) {
                    let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for m in &mut self.members {
                        m.assignment = assignments.remove(&m.id).unwrap_or_default();
                    }
                    self.state = State::Stable;
                    let results: Vec<(String, SyncResult)> = self
                        .members
                        .iter()
                        .map(|m| (m.id.clone(), self.sync_result(&m.id)))
                        .collect();
                    for (id, result) in results {
                        if let Some(tx) = self.member_mut(&id).and_then(|m| m.awaiting_sync.take())
                        {
                            let _ = tx.send(result);
                        }
                    }
                }
                Reply::Later(rx)
            }
            State::Empty | State::Dead => error(UNKNOWN_MEMBER_ID),
        }
    }

    fn sync_result(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error: NONE,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol.clone(),
            assignment: self
                .member(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    pub fn heartbeat(&mut self, member_id: &str, generation: i32, now: Instant) -> i16 {
        if let Err(code) = self.check_member(member_id, generation) {
            // A member that is rejoining may still heartbeat the old generation.
            if code == ILLEGAL_GENERATION && self.state == State::PreparingRebalance {
                return REBALANCE_IN_PROGRESS;
            }
            return code;
        }
        self.member_mut(member_id).expect("checked").last_heartbeat = now;
        match self.state {
            State::PreparingRebalance => REBALANCE_IN_PROGRESS,
            State::CompletingRebalance | State::Stable => NONE,
            State::Empty | State::Dead => UNKNOWN_MEMBER_ID,
        }
    }

    /// Removes a member (LeaveGroup, or an expired session) and rebalances.
    pub fn remove_member(&mut self, member_id: &str, now: Instant, s: &GroupSettings) -> bool {
        let Some(i) = self.members.iter().position(|m| m.id == member_id) else {
            return false;
        };
        let gone = self.members.remove(i);
        if let Some(tx) = gone.awaiting_join {
            let _ = tx.send(JoinResult {
                error: UNKNOWN_MEMBER_ID,
                generation: -1,
                ..Default::default()
            });
        }
        match self.state {
            State::Stable | State::CompletingRebalance => self.prepare_rebalance(now, s),
            _ => {}
        }
        self.try_complete_join(now);
        true
    }

    /// Member id for a static member's `instance_id`.
    pub fn member_by_instance(&self, instance_id: &str) -> Option<String> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
            .map(|m| m.id.clone())
    }

    /// Session expiry and rebalance deadlines; called periodically.
    pub fn tick(&mut self, now: Instant, s: &GroupSettings) {
        self.pending.retain(|_, until| *until > now);
        let expired: Vec<String> = self
            .members
            .iter()
            .filter(|m| {
                m.awaiting_join.is_none()
                    && now.duration_since(m.last_heartbeat) > m.session_timeout
            })
            .map(|m| m.id.clone())
            .collect();
        for id in expired {
            tracing::info!(group = %self.id, member = %id, "session expired; removing member");
            self.remove_member(&id, now, s);
        }
        self.try_complete_join(now);
    }

    /// OffsetCommit validation: simple consumers (generation -1, no member)
    /// may commit to an empty group; members need the current generation,
    /// and no commits are taken while assignments are being handed out.
    pub fn check_commit(&self, member_id: &str, generation: i32) -> Result<(), i16> {
        if generation < 0 && member_id.is_empty() && self.state == State::Empty {
            return Ok(());
        }
        if self.state == State::CompletingRebalance {
            return Err(REBALANCE_IN_PROGRESS);
        }
        self.check_member(member_id, generation)
    }
}

fn new_member_id(client_id: &str) -> String {
    let prefix = if client_id.is_empty() {
        "member"
    } else {
        client_id
    };
    format!("{prefix}-{}", uuid::Uuid::new_v4())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> GroupSettings {
        GroupSettings {
            initial_rebalance_delay: Duration::ZERO,
            ..Default::default()
        }
    }

    fn req(member_id: &str) -> JoinRequest {
        JoinRequest {
            member_id: member_id.to_owned(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
            require_known_member_id: true,
        }
    }

    fn now_join(
        g: &mut Group,
        member: &str,
        now: Instant,
    ) -> Result<JoinResult, oneshot::Receiver<JoinResult>> {
        match g.join(req(member), now, &settings()) {
            Reply::Now(r) => Ok(r),
            Reply::Later(rx) => Err(rx),
        }
    }

    #[test]
    fn member_id_required_then_join_sync_stable() {
        let mut g = Group::new("g");
        let t = Instant::now();
        let r = now_join(&mut g, "", t).unwrap();
        assert_eq!(r.error, MEMBER_ID_REQUIRED);
        let mut rx = now_join(&mut g, &r.member_id, t).unwrap_err();
        let joined = rx.try_recv().unwrap();
        assert_eq!((joined.error, joined.generation), (NONE, 1));
        assert_eq!(joined.leader, r.member_id);
        assert_eq!(joined.members.len(), 1);
        assert_eq!(g.state, State::CompletingRebalance);
        assert_eq!(g.check_commit(&r.member_id, 1), Err(REBALANCE_IN_PROGRESS));
        let Reply::Later(mut srx) = g.sync(
            &r.member_id,
            1,
            vec![(r.member_id.clone(), Bytes::from_static(b"a"))],
        ) else {
            panic!()
        };
        assert_eq!(&srx.try_recv().unwrap().assignment[..], b"a");
        assert_eq!(g.state, State::Stable);
        assert_eq!(g.heartbeat(&r.member_id, 1, t), NONE);
        assert_eq!(g.heartbeat(&r.member_id, 0, t), ILLEGAL_GENERATION);
        assert_eq!(g.heartbeat("nobody", 1, t), UNKNOWN_MEMBER_ID);
        assert_eq!(g.check_commit(&r.member_id, 1), Ok(()));
        assert_eq!(g.check_commit(&r.member_id, 0), Err(ILLEGAL_GENERATION));
        assert_eq!(g.check_commit("", -1), Err(UNKNOWN_MEMBER_ID));
        assert_eq!(
            now_join(&mut g, "stranger", t).unwrap().error,
            UNKNOWN_MEMBER_ID
        );
    }

    #[test]
    fn second_member_triggers_rebalance_and_leave_or_expiry_hands_over() {
        let s = settings();
        let mut g = Group::new("g");
        let t = Instant::now();
        let mut a = req("");
        a.require_known_member_id = false;
        let Reply::Later(mut rx) = g.join(a, t, &s) else {
            panic!()
        };
        let a = rx.try_recv().unwrap();
        let _ = g.sync(&a.member_id, 1, vec![]);
        assert_eq!(g.state, State::Stable);
        // B joins: the group prepares a rebalance; A's heartbeat says so.
        let mut b = req("");
        b.require_known_member_id = false;
        let Reply::Later(mut brx) = g.join(b, t, &s) else {
            panic!()
        };
        assert_eq!(g.heartbeat(&a.member_id, 1, t), REBALANCE_IN_PROGRESS);
        assert!(brx.try_recv().is_err(), "waits for A to rejoin");
        let Reply::Later(mut arx) = g.join(req(&a.member_id), t, &s) else {
            panic!()
        };
        let (a2, b2) = (arx.try_recv().unwrap(), brx.try_recv().unwrap());
        assert_eq!((a2.generation, b2.generation), (2, 2));
        assert_eq!(a2.leader, a.member_id, "the leader keeps leading");
        assert_eq!((a2.members.len(), b2.members.len()), (2, 0));
        let _ = g.sync(&b2.member_id, 2, vec![]);
        let _ = g.sync(&a.member_id, 2, vec![]);
        assert_eq!(g.state, State::Stable);
        // A's session expires: B must rejoin alone, then leads.
        let later = t + Duration::from_secs(11);
        g.heartbeat(&b2.member_id, 2, later);
        g.tick(later, &s);
        assert_eq!(g.state, State::PreparingRebalance);
        assert_eq!(g.members.len(), 1);
        let Reply::Later(mut rx) = g.join(req(&b2.member_id), later, &s) else {
            panic!()
        };
        let b3 = rx.try_recv().unwrap();
        assert_eq!(
            (b3.generation, b3.leader.as_str()),
            (3, b2.member_id.as_str())
        );
        // The last member leaves: the group is empty and accepts simple commits.
        g.remove_member(&b2.member_id, later, &s);
        assert_eq!(g.state, State::Empty);
        assert_eq!(g.check_commit("", -1), Ok(()));
    }

    #[test]
    fn rebalance_timeout_drops_members_that_do_not_rejoin() {
        let s = settings();
        let mut g = Group::new("g");
        let t = Instant::now();
        let mut first = req("");
        first.require_known_member_id = false;
        let _ = g.join(first, t, &s); // completes alone: generation 1
        let mut second = req("");
        second.require_known_member_id = false;
        let _ = g.join(second, t, &s); // waits for the first to rejoin
        let ids: Vec<String> = g.members.iter().map(|m| m.id.clone()).collect();
        let _ = g.join(req(&ids[0]), t, &s); // generation 2, both members
        assert_eq!((g.generation, g.members.len()), (2, 2));
        let _ = g.sync(&ids[0], 2, vec![]);
        assert_eq!(g.state, State::Stable);
        // Only the leader rejoins; after the rebalance timeout the other is dropped.
        let Reply::Later(mut rx) = g.join(req(&ids[0]), t, &s) else {
            panic!()
        };
        assert!(rx.try_recv().is_err());
        g.tick(t + Duration::from_secs(31), &s);
        let r = rx.try_recv().unwrap();
        assert_eq!((r.generation, r.members.len()), (3, 1));
    }

    #[test]
    fn inconsistent_protocols_and_bad_session_timeouts_are_refused() {
        let s = settings();
        let mut g = Group::new("g");
        let t = Instant::now();
        let mut r = req("");
        r.require_known_member_id = false;
        let _ = g.join(r, t, &s);
        let mut other = req("");
        other.require_known_member_id = false;
        other.protocols = vec![("sticky".into(), Bytes::new())];
        assert!(matches!(
            g.join(other, t, &s),
            Reply::Now(JoinResult {
                error: INCONSISTENT_GROUP_PROTOCOL,
                ..
            })
        ));
        let mut short = req("");
        short.session_timeout = Duration::from_millis(10);
        assert!(matches!(
            g.join(short, t, &s),
            Reply::Now(JoinResult {
                error: INVALID_SESSION_TIMEOUT,
                ..
            })
        ));
    }
}
