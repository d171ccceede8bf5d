//! One consumer group's state machine, as Kafka's classic coordinator runs it:
//! Empty -> PreparingRebalance -> CompletingRebalance -> Stable (and Dead),
//! with KIP-345 static membership.
//!
//! Pure logic over a `Group` value: callers hold the group's lock and pass
//! the time in. JoinGroup and SyncGroup answers that must wait for other
//! members are delivered through oneshot channels. What happened (rebalances
//! and their causes, fenced members) is queued in `Group::events` for the
//! coordinator's metrics.
//!
//! Static members (a `group.instance.id`) differ from dynamic ones in three
//! ways, all as Kafka's coordinator does it:
//! - a JoinGroup with an empty member id and a known instance id replaces
//!   the previous incarnation: the instance gets a new member id, the old one
//!   is fenced (FENCED_INSTANCE_ID on its next request) and, in a Stable
//!   group whose selected protocol does not change, the newcomer takes over
//!   the old assignment in the same generation without a rebalance;
//! - every request that names an instance id must name the member id that
//!   instance currently maps to ([`Group::validate_member`]);
//! - a static member that does not rejoin a rebalance keeps its place (and
//!   is handed partitions) until its session expires or a LeaveGroup names
//!   its instance.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::ResponseError;
use tokio::sync::oneshot;

use super::offsets::GroupOffsets;

pub const NONE: i16 = 0;
pub const ILLEGAL_GENERATION: i16 = ResponseError::IllegalGeneration.code();
pub const INCONSISTENT_GROUP_PROTOCOL: i16 = ResponseError::InconsistentGroupProtocol.code();
pub const UNKNOWN_MEMBER_ID: i16 = ResponseError::UnknownMemberId.code();
pub const INVALID_SESSION_TIMEOUT: i16 = ResponseError::InvalidSessionTimeout.code();
pub const REBALANCE_IN_PROGRESS: i16 = ResponseError::RebalanceInProgress.code();
pub const MEMBER_ID_REQUIRED: i16 = ResponseError::MemberIdRequired.code();
pub const FENCED_INSTANCE_ID: i16 = ResponseError::FencedInstanceId.code();

/// How long the leader's SyncGroup answer waits for the followers that have
/// not fetched their assignment yet. Kafka answers the leader only once the
/// assignment is written to its log, by when the followers' SyncGroups
/// (sent as soon as their JoinGroup answers arrive) are in; answering the
/// leader at once would let a cooperative leader revoke and rejoin before a
/// slow follower synced, costing that follower its assignment and the group
/// an extra rebalance.
pub const LEADER_SYNC_GRACE: Duration = Duration::from_secs(2);

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

/// Why a group started a rebalance (a bounded metric label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cause {
    /// A new member (dynamic, or a static instance never seen before).
    MemberJoined,
    /// A known member rejoined with changed metadata, or the leader rejoined.
    MemberRejoined,
    /// A static member's new incarnation changed the selected protocol, or
    /// arrived while assignments were being handed out.
    StaticMemberReplaced,
    /// LeaveGroup (by member id, or naming a static instance).
    MemberLeft,
    /// A member's session expired.
    SessionExpired,
}

impl Cause {
    pub const ALL: [Cause; 5] = [
        Cause::MemberJoined,
        Cause::MemberRejoined,
        Cause::StaticMemberReplaced,
        Cause::MemberLeft,
        Cause::SessionExpired,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Cause::MemberJoined => "member_joined",
            Cause::MemberRejoined => "member_rejoined",
            Cause::StaticMemberReplaced => "static_member_replaced",
            Cause::MemberLeft => "member_left",
            Cause::SessionExpired => "session_expired",
        }
    }
}

/// Something the coordinator counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// The group entered PreparingRebalance.
    Rebalance(Cause),
    /// A static member's previous incarnation was replaced and fenced.
    Fenced,
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
    /// JoinGroup v4+: an unknown dynamic member first gets MEMBER_ID_REQUIRED.
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
    /// Whether the member has fetched this generation's assignment (or is
    /// not expected to: it did not rejoin).
    synced: bool,
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

    pub fn is_static(&self) -> bool {
        self.instance_id.is_some()
    }

    /// Takes a (re)join's protocols and timeouts; the member now awaits the
    /// join phase's end.
    fn update(&mut self, req: JoinRequest, now: Instant, tx: oneshot::Sender<JoinResult>) {
        self.protocols = req.protocols;
        self.session_timeout = req.session_timeout;
        self.rebalance_timeout = req.rebalance_timeout;
        self.last_heartbeat = now;
        self.awaiting_join = Some(tx);
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
    /// Until when the leader's SyncGroup answer (held in its
    /// `awaiting_sync`) waits for the followers: see [`LEADER_SYNC_GRACE`].
    leader_sync_until: Option<Instant>,
    pub offsets: GroupOffsets,
    /// Rebalances and fencings since the coordinator last drained them.
    pub events: Vec<Event>,
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
            leader_sync_until: None,
            offsets: GroupOffsets::new(),
            events: Vec::new(),
        }
    }

    fn member(&self, id: &str) -> Option<&Member> {
        self.members.iter().find(|m| m.id == id)
    }
    fn member_mut(&mut self, id: &str) -> Option<&mut Member> {
        self.members.iter_mut().find(|m| m.id == id)
    }
    fn is_leader(&self, id: &str) -> bool {
        self.leader.as_deref() == Some(id)
    }

    /// Member id a static member's `instance_id` currently maps to.
    pub fn member_by_instance(&self, instance_id: &str) -> Option<String> {
        self.members
            .iter()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
            .map(|m| m.id.clone())
    }

    /// Kafka's member check for every group request after JoinGroup: an
    /// instance id must map to exactly this member id (another id: the
    /// caller is a fenced incarnation; none: the instance was removed), and
    /// the member id must be known.
    pub fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), i16> {
        if let Some(instance) = instance_id {
            match self.member_by_instance(instance) {
                None => return Err(UNKNOWN_MEMBER_ID),
                Some(id) if id != member_id => return Err(FENCED_INSTANCE_ID),
                Some(_) => {}
            }
        }
        match self.member(member_id) {
            Some(_) => Ok(()),
            None => Err(UNKNOWN_MEMBER_ID),
        }
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
        if req.member_id.is_empty() {
            self.join_unknown(req, now, s)
        } else {
            self.join_known(req, now, s)
        }
    }

    /// A JoinGroup without a member id: a new dynamic member (asked to come
    /// back with an id on v4+), a new static member, or a static member's
    /// new incarnation.
    fn join_unknown(
        &mut self,
        req: JoinRequest,
        now: Instant,
        s: &GroupSettings,
    ) -> Reply<JoinResult> {
        let member_id = new_member_id(&req.client_id);
        if let Some(instance) = req.instance_id.as_deref() {
            // Static members never get MEMBER_ID_REQUIRED: the instance id
            // already identifies them.
            return match self.member_by_instance(instance) {
                Some(old) => self.replace_static_member(&old, member_id, req, now, s),
                None => self.add_member_and_rebalance(member_id, req, now, s),
            };
        }
        if req.require_known_member_id {
            self.pending
                .insert(member_id.clone(), now + req.session_timeout);
            return Self::error_join(MEMBER_ID_REQUIRED, &member_id);
        }
        self.add_member_and_rebalance(member_id, req, now, s)
    }

    /// A JoinGroup with a member id: a pending member coming back, or a
    /// known member rejoining.
    fn join_known(
        &mut self,
        req: JoinRequest,
        now: Instant,
        s: &GroupSettings,
    ) -> Reply<JoinResult> {
        let member_id = req.member_id.clone();
        if self.pending.remove(&member_id).is_some() {
            return self.add_member_and_rebalance(member_id, req, now, s);
        }
        if let Err(code) = self.validate_member(&member_id, req.instance_id.as_deref()) {
            return Self::error_join(code, &member_id);
        }
        let unchanged = self.member(&member_id).expect("validated").protocols == req.protocols;
        match self.state {
            // A follower rejoining with unchanged metadata (it missed a
            // response, or its client rejoins after every poll interval)
            // gets the current generation back without a rebalance.
            State::Stable if unchanged && !self.is_leader(&member_id) => {
                return Reply::Now(self.join_result(&member_id, false));
            }
            // Still handing out assignments: the same metadata means a lost
            // JoinGroup response; answer it again (with the members, to the
            // leader).
            State::CompletingRebalance if unchanged => {
                let leader = self.is_leader(&member_id);
                return Reply::Now(self.join_result(&member_id, leader));
            }
            _ => {}
        }
        let (tx, rx) = oneshot::channel();
        self.member_mut(&member_id)
            .expect("validated")
            .update(req, now, tx);
        if self.state != State::PreparingRebalance {
            self.prepare_rebalance(now, s, Cause::MemberRejoined);
        }
        self.try_complete_join(now);
        Reply::Later(rx)
    }

    fn add_member_and_rebalance(
        &mut self,
        member_id: String,
        req: JoinRequest,
        now: Instant,
        s: &GroupSettings,
    ) -> Reply<JoinResult> {
        let (tx, rx) = oneshot::channel();
        if self.protocol_type.is_none() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        self.members.push(Member {
            id: member_id,
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
            synced: false,
        });
        if self.state == State::PreparingRebalance {
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
        } else {
            self.prepare_rebalance(now, s, Cause::MemberJoined);
        }
        self.try_complete_join(now);
        Reply::Later(rx)
    }

    /// A static member's new incarnation (empty member id, known instance
    /// id) takes the instance over. The old member id is fenced at once:
    /// a join or sync it is waiting on is answered FENCED_INSTANCE_ID, and
    /// so is each of its later requests. In a Stable group whose selected
    /// protocol does not change the newcomer joins the current generation,
    /// and its SyncGroup returns the assignment the instance already had: no
    /// other member notices. Otherwise the group rebalances.
    fn replace_static_member(
        &mut self,
        old_id: &str,
        new_id: String,
        req: JoinRequest,
        now: Instant,
        s: &GroupSettings,
    ) -> Reply<JoinResult> {
        self.release_leader_sync(now, true);
        let previous_leader = self.leader.clone().unwrap_or_default();
        tracing::info!(
            group = %self.id,
            instance = req.instance_id.as_deref().unwrap_or_default(),
            old = old_id,
            new = %new_id,
            state = self.state.name(),
            "static member replaced by a new incarnation; the old member id is fenced"
        );
        let m = self.member_mut(old_id).expect("found by instance id");
        m.id = new_id.clone();
        if let Some(tx) = m.awaiting_join.take() {
            let _ = tx.send(JoinResult {
                error: FENCED_INSTANCE_ID,
                generation: -1,
                member_id: old_id.to_owned(),
                ..Default::default()
            });
        }
        if let Some(tx) = m.awaiting_sync.take() {
            let _ = tx.send(SyncResult {
                error: FENCED_INSTANCE_ID,
                ..Default::default()
            });
        }
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        if self.leader.as_deref() == Some(old_id) {
            self.leader = Some(new_id.clone());
        }
        self.events.push(Event::Fenced);
        let (tx, rx) = oneshot::channel();
        self.member_mut(&new_id)
            .expect("renamed above")
            .update(req, now, tx);
        match self.state {
            State::Stable if self.select_protocol() == self.protocol => {
                let m = self.member_mut(&new_id).expect("renamed above");
                m.awaiting_join = None;
                // JoinGroup before v9 cannot tell a leader to skip the
                // assignment, so, as Kafka does, the answer names the leader
                // as it was before the replacement: a rejoining leader then
                // acts as a follower and does not reassign a Stable group.
                let mut result = self.join_result(&new_id, false);
                result.leader = previous_leader;
                return Reply::Now(result);
            }
            State::Stable | State::CompletingRebalance => {
                // During CompletingRebalance the leader may already be
                // assigning to the old member id: start over.
                self.prepare_rebalance(now, s, Cause::StaticMemberReplaced);
            }
            State::PreparingRebalance | State::Empty | State::Dead => {}
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

    fn prepare_rebalance(&mut self, now: Instant, s: &GroupSettings, cause: Cause) {
        self.release_leader_sync(now, true);
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
        let deadline = now + self.rebalance_timeout();
        self.initial_delay_until =
            (self.state == State::Empty).then(|| (now + s.initial_rebalance_delay).min(deadline));
        self.rebalance_deadline = Some(deadline);
        self.state = State::PreparingRebalance;
        self.events.push(Event::Rebalance(cause));
        tracing::info!(group = %self.id, generation = self.generation, cause = cause.label(), "preparing rebalance");
    }

    fn rebalance_timeout(&self) -> Duration {
        self.members
            .iter()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO)
    }

    /// Completes the join phase once every member and every pending member
    /// has rejoined (and any initial delay has passed), or the rebalance
    /// timeout expired. Then dynamic members that did not rejoin are
    /// dropped; static ones keep their place, as in Kafka, until their
    /// session expires.
    pub fn try_complete_join(&mut self, now: Instant) {
        if self.state != State::PreparingRebalance {
            return;
        }
        let all_joined =
            self.members.iter().all(|m| m.awaiting_join.is_some()) && self.pending.is_empty();
        let delay_over = self.initial_delay_until.is_none_or(|t| now >= t);
        let expired = self.rebalance_deadline.is_some_and(|d| now >= d);
        if !((all_joined && delay_over) || expired) {
            return;
        }
        self.members
            .retain(|m| m.awaiting_join.is_some() || m.is_static());
        if !self.members.is_empty() && self.members.iter().all(|m| m.awaiting_join.is_none()) {
            // Only static members that have not rejoined: wait another
            // rebalance timeout (their sessions may expire meanwhile).
            self.rebalance_deadline = Some(now + self.rebalance_timeout());
            self.initial_delay_until = None;
            return;
        }
        self.generation += 1;
        self.rebalance_deadline = None;
        self.initial_delay_until = None;
        if self.members.is_empty() {
            self.state = State::Empty;
            self.protocol = None;
            self.leader = None;
            return;
        }
        // The leader keeps leading if it rejoined; otherwise the first
        // member that did takes over.
        if self
            .leader
            .as_deref()
            .and_then(|l| self.member(l))
            .is_none_or(|m| m.awaiting_join.is_none())
        {
            self.leader = self
                .members
                .iter()
                .find(|m| m.awaiting_join.is_some())
                .map(|m| m.id.clone());
        }
        self.protocol = self.select_protocol();
        self.state = State::CompletingRebalance;
        let leader = self.leader.clone().expect("set above");
        let ids: Vec<String> = self.members.iter().map(|m| m.id.clone()).collect();
        for id in ids {
            let result = self.join_result(&id, id == leader);
            let m = self.member_mut(&id).expect("listed above");
            m.last_heartbeat = now;
            m.assignment = Bytes::new();
            m.synced = m.awaiting_join.is_none();
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
            .or(self.members.first())?;
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

    fn check_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), i16> {
        self.validate_member(member_id, instance_id)?;
        if generation != self.generation {
            return Err(ILLEGAL_GENERATION);
        }
        Ok(())
    }

    pub fn sync(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Reply<SyncResult> {
        let error = |error| {
            Reply::Now(SyncResult {
                error,
                ..Default::default()
            })
        };
        if let Err(code) = self.check_member(member_id, instance_id, generation) {
            return error(code);
        }
        match self.state {
            State::PreparingRebalance => error(REBALANCE_IN_PROGRESS),
            State::Stable => {
                self.member_mut(member_id).expect("checked").synced = true;
                let result = self.sync_result(member_id);
                self.release_leader_sync(now, false);
                Reply::Now(result)
            }
            State::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                let m = self.member_mut(member_id).expect("checked");
                m.awaiting_sync = Some(tx);
                m.synced = true;
                if self.is_leader(member_id) {
                    let mut assignments: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for m in &mut self.members {
                        m.assignment = assignments.remove(&m.id).unwrap_or_default();
                    }
                    self.state = State::Stable;
                    // The followers that asked get their assignment now;
                    // the leader's answer waits for the others.
                    let results: Vec<(String, SyncResult)> = self
                        .members
                        .iter()
                        .filter(|m| m.id != member_id)
                        .map(|m| (m.id.clone(), self.sync_result(&m.id)))
                        .collect();
                    for (id, result) in results {
                        if let Some(tx) = self.member_mut(&id).and_then(|m| m.awaiting_sync.take())
                        {
                            let _ = tx.send(result);
                        }
                    }
                    self.leader_sync_until = Some(now + LEADER_SYNC_GRACE);
                    self.release_leader_sync(now, false);
                }
                Reply::Later(rx)
            }
            State::Empty | State::Dead => error(UNKNOWN_MEMBER_ID),
        }
    }

    /// Answers the leader's held SyncGroup once every follower has fetched
    /// its assignment, when the grace is over, or (`force`) because the
    /// group is about to change.
    fn release_leader_sync(&mut self, now: Instant, force: bool) {
        let Some(until) = self.leader_sync_until else {
            return;
        };
        if !force && now < until && !self.members.iter().all(|m| m.synced) {
            return;
        }
        self.leader_sync_until = None;
        let Some(leader) = self.leader.clone() else {
            return;
        };
        let result = self.sync_result(&leader);
        if let Some(tx) = self
            .member_mut(&leader)
            .and_then(|m| m.awaiting_sync.take())
        {
            let _ = tx.send(result);
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

    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> i16 {
        if let Err(code) = self.check_member(member_id, instance_id, generation) {
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

    /// LeaveGroup for one member identity. Without an instance id: a member
    /// (or a pending member) by id. With one: the instance's member, which
    /// the request may name (then it must be the current one, or the caller
    /// is fenced) or leave empty (an administrator removing the instance,
    /// as AdminClient's removeMembersFromConsumerGroup does).
    pub fn leave(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        now: Instant,
        s: &GroupSettings,
    ) -> i16 {
        let id = match instance_id {
            None => {
                if self.pending.remove(member_id).is_some() {
                    self.try_complete_join(now);
                    return NONE;
                }
                member_id.to_owned()
            }
            Some(instance) => match self.member_by_instance(instance) {
                None => return UNKNOWN_MEMBER_ID,
                Some(id) if !member_id.is_empty() && id != member_id => return FENCED_INSTANCE_ID,
                Some(id) => id,
            },
        };
        if self.remove_member(&id, now, s, Cause::MemberLeft) {
            NONE
        } else {
            UNKNOWN_MEMBER_ID
        }
    }

    /// Removes a member (LeaveGroup, or an expired session) and rebalances.
    pub fn remove_member(
        &mut self,
        member_id: &str,
        now: Instant,
        s: &GroupSettings,
        cause: Cause,
    ) -> bool {
        let Some(i) = self.members.iter().position(|m| m.id == member_id) else {
            return false;
        };
        self.release_leader_sync(now, true);
        let gone = self.members.remove(i);
        if let Some(tx) = gone.awaiting_join {
            let _ = tx.send(JoinResult {
                error: UNKNOWN_MEMBER_ID,
                generation: -1,
                ..Default::default()
            });
        }
        match self.state {
            State::Stable | State::CompletingRebalance => self.prepare_rebalance(now, s, cause),
            _ => {}
        }
        self.try_complete_join(now);
        true
    }

    /// Session expiry and rebalance deadlines; called periodically.
    pub fn tick(&mut self, now: Instant, s: &GroupSettings) {
        self.release_leader_sync(now, false);
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
            self.remove_member(&id, now, s, Cause::SessionExpired);
        }
        self.try_complete_join(now);
    }

    /// OffsetCommit validation: simple consumers (generation -1, no member,
    /// no instance) may commit to an empty group; members need the current
    /// generation (and, if static, their instance's current member id), and
    /// no commits are taken while assignments are being handed out.
    pub fn check_commit(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> Result<(), i16> {
        if generation < 0
            && member_id.is_empty()
            && instance_id.is_none()
            && self.state == State::Empty
        {
            return Ok(());
        }
        self.validate_member(member_id, instance_id)?;
        if self.state == State::CompletingRebalance {
            return Err(REBALANCE_IN_PROGRESS);
        }
        self.check_member(member_id, instance_id, generation)
    }

    /// Members by kind: (static, dynamic).
    pub fn member_kinds(&self) -> (usize, usize) {
        let statics = self.members.iter().filter(|m| m.is_static()).count();
        (statics, self.members.len() - statics)
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
mod tests;
