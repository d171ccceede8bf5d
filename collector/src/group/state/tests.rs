//! Unit tests of the group state machine: the classic protocol, then each
//! static membership (KIP-345) rule.

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
    assert_eq!(
        g.check_commit(&r.member_id, None, 1),
        Err(REBALANCE_IN_PROGRESS)
    );
    let Reply::Later(mut srx) = g.sync(
        &r.member_id,
        None,
        1,
        vec![(r.member_id.clone(), Bytes::from_static(b"a"))],
        t,
    ) else {
        panic!()
    };
    assert_eq!(&srx.try_recv().unwrap().assignment[..], b"a");
    assert_eq!(g.state, State::Stable);
    assert_eq!(g.heartbeat(&r.member_id, None, 1, t), NONE);
    assert_eq!(g.heartbeat(&r.member_id, None, 0, t), ILLEGAL_GENERATION);
    assert_eq!(g.heartbeat("nobody", None, 1, t), UNKNOWN_MEMBER_ID);
    assert_eq!(g.check_commit(&r.member_id, None, 1), Ok(()));
    assert_eq!(
        g.check_commit(&r.member_id, None, 0),
        Err(ILLEGAL_GENERATION)
    );
    assert_eq!(g.check_commit("", None, -1), Err(UNKNOWN_MEMBER_ID));
    assert_eq!(
        now_join(&mut g, "stranger", t).unwrap().error,
        UNKNOWN_MEMBER_ID
    );
}

/// Two dynamic members "a" (the leader) and "b" joined generation 2 of a
/// group that is now CompletingRebalance; returns their member ids.
fn completing_pair(g: &mut Group, t: Instant) -> (String, String) {
    let s = settings();
    let mut a = req("");
    a.require_known_member_id = false;
    let Reply::Later(mut rx) = g.join(a, t, &s) else {
        panic!()
    };
    let a = rx.try_recv().unwrap().member_id;
    let _ = synced(g.sync(&a, None, 1, vec![], t));
    let mut b = req("");
    b.require_known_member_id = false;
    let Reply::Later(mut brx) = g.join(b, t, &s) else {
        panic!()
    };
    let Reply::Later(mut arx) = g.join(req(&a), t, &s) else {
        panic!()
    };
    assert_eq!(arx.try_recv().unwrap().generation, 2);
    let b = brx.try_recv().unwrap().member_id;
    assert_eq!(g.state, State::CompletingRebalance);
    (a, b)
}

#[test]
fn the_leaders_sync_answer_waits_for_the_followers_or_the_grace() {
    let t = Instant::now();
    let assignments = |a: &str, b: &str| {
        vec![
            (a.to_owned(), Bytes::from_static(b"a-part")),
            (b.to_owned(), Bytes::from_static(b"b-part")),
        ]
    };
    // The follower syncs late: the leader hears back only after it did.
    let mut g = Group::new("g");
    let (a, b) = completing_pair(&mut g, t);
    let Reply::Later(mut arx) = g.sync(&a, None, 2, assignments(&a, &b), t) else {
        panic!()
    };
    assert_eq!(g.state, State::Stable);
    assert!(arx.try_recv().is_err(), "held until b has its assignment");
    assert_eq!(
        &synced(g.sync(&b, None, 2, vec![], t)).assignment[..],
        b"b-part"
    );
    assert_eq!(&arx.try_recv().unwrap().assignment[..], b"a-part");

    // The follower never syncs: the grace ends the wait.
    let mut g = Group::new("g");
    let (a, b) = completing_pair(&mut g, t);
    let Reply::Later(mut arx) = g.sync(&a, None, 2, assignments(&a, &b), t) else {
        panic!()
    };
    g.tick(t + LEADER_SYNC_GRACE / 2, &settings());
    assert!(arx.try_recv().is_err());
    g.tick(t + LEADER_SYNC_GRACE, &settings());
    assert_eq!(&arx.try_recv().unwrap().assignment[..], b"a-part");

    // A rebalance meanwhile answers the leader at once, with its assignment.
    let mut g = Group::new("g");
    let (a, b) = completing_pair(&mut g, t);
    let Reply::Later(mut arx) = g.sync(&a, None, 2, assignments(&a, &b), t) else {
        panic!()
    };
    assert_eq!(g.leave(&b, None, t, &settings()), NONE);
    assert_eq!(&arx.try_recv().unwrap().assignment[..], b"a-part");
    assert_eq!(g.state, State::PreparingRebalance);
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
    let _ = g.sync(&a.member_id, None, 1, vec![], t);
    assert_eq!(g.state, State::Stable);
    // B joins: the group prepares a rebalance; A's heartbeat says so.
    let mut b = req("");
    b.require_known_member_id = false;
    let Reply::Later(mut brx) = g.join(b, t, &s) else {
        panic!()
    };
    assert_eq!(g.heartbeat(&a.member_id, None, 1, t), REBALANCE_IN_PROGRESS);
    assert!(brx.try_recv().is_err(), "waits for A to rejoin");
    let Reply::Later(mut arx) = g.join(req(&a.member_id), t, &s) else {
        panic!()
    };
    let (a2, b2) = (arx.try_recv().unwrap(), brx.try_recv().unwrap());
    assert_eq!((a2.generation, b2.generation), (2, 2));
    assert_eq!(a2.leader, a.member_id, "the leader keeps leading");
    assert_eq!((a2.members.len(), b2.members.len()), (2, 0));
    let _ = g.sync(&b2.member_id, None, 2, vec![], t);
    let _ = g.sync(&a.member_id, None, 2, vec![], t);
    assert_eq!(g.state, State::Stable);
    // A's session expires: B must rejoin alone, then leads.
    let later = t + Duration::from_secs(11);
    g.heartbeat(&b2.member_id, None, 2, later);
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
    g.remove_member(&b2.member_id, later, &s, Cause::MemberLeft);
    assert_eq!(g.state, State::Empty);
    assert_eq!(g.check_commit("", None, -1), Ok(()));
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
    let _ = g.sync(&ids[0], None, 2, vec![], t);
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

// ---- Static membership (KIP-345), rule by rule, as Kafka's coordinator ----

fn static_req(member_id: &str, instance: &str) -> JoinRequest {
    JoinRequest {
        instance_id: Some(instance.to_owned()),
        ..req(member_id)
    }
}

fn joined(reply: Reply<JoinResult>) -> JoinResult {
    match reply {
        Reply::Now(r) => r,
        Reply::Later(mut rx) => rx.try_recv().expect("join phase complete"),
    }
}

fn synced(reply: Reply<SyncResult>) -> SyncResult {
    match reply {
        Reply::Now(r) => r,
        Reply::Later(mut rx) => rx.try_recv().expect("assignment handed out"),
    }
}

/// A Stable group of static members "a" and "b" (generation 2); "a" leads
/// and assigned `a-part` and `b-part`. Returns their member ids.
fn stable_static_pair(g: &mut Group, t: Instant) -> (String, String) {
    let s = settings();
    let a = joined(g.join(static_req("", "a"), t, &s));
    assert_eq!(
        a.error, NONE,
        "a static member needs no MEMBER_ID_REQUIRED round"
    );
    let _ = g.sync(&a.member_id, Some("a"), 1, vec![], t);
    let Reply::Later(mut brx) = g.join(static_req("", "b"), t, &s) else {
        panic!("b waits for a to rejoin")
    };
    let a2 = joined(g.join(static_req(&a.member_id, "a"), t, &s));
    let b = brx.try_recv().unwrap();
    assert_eq!(
        (a2.generation, b.generation, a2.leader.as_str()),
        (2, 2, a.member_id.as_str())
    );
    let assignments = vec![
        (a.member_id.clone(), Bytes::from_static(b"a-part")),
        (b.member_id.clone(), Bytes::from_static(b"b-part")),
    ];
    let Reply::Later(mut bsync) = g.sync(&b.member_id, Some("b"), 2, vec![], t) else {
        panic!()
    };
    assert_eq!(
        &synced(g.sync(&a.member_id, Some("a"), 2, assignments, t)).assignment[..],
        b"a-part"
    );
    assert_eq!(&bsync.try_recv().unwrap().assignment[..], b"b-part");
    assert_eq!(g.state, State::Stable);
    g.events.clear();
    (a.member_id, b.member_id)
}

#[test]
fn a_new_incarnation_takes_the_assignment_without_a_rebalance_and_fences_the_old() {
    let s = settings();
    let mut g = Group::new("g");
    let t = Instant::now();
    let (a, b) = stable_static_pair(&mut g, t);
    // B' starts with B's instance id: it joins the current generation at once.
    let b2 = joined(g.join(static_req("", "b"), t, &s));
    assert_eq!((b2.error, b2.generation), (NONE, 2));
    assert_ne!(b2.member_id, b);
    assert_eq!(b2.leader, a);
    assert!(b2.members.is_empty());
    assert_eq!(g.state, State::Stable, "no rebalance");
    assert_eq!(g.events, vec![Event::Fenced]);
    assert_eq!(
        &synced(g.sync(&b2.member_id, Some("b"), 2, vec![], t)).assignment[..],
        b"b-part"
    );
    // The other member notices nothing.
    assert_eq!(g.heartbeat(&a, Some("a"), 2, t), NONE);
    // B, the old incarnation, is fenced on everything it sends.
    assert_eq!(g.heartbeat(&b, Some("b"), 2, t), FENCED_INSTANCE_ID);
    assert_eq!(
        synced(g.sync(&b, Some("b"), 2, vec![], t)).error,
        FENCED_INSTANCE_ID
    );
    assert_eq!(g.check_commit(&b, Some("b"), 2), Err(FENCED_INSTANCE_ID));
    assert_eq!(
        joined(g.join(static_req(&b, "b"), t, &s)).error,
        FENCED_INSTANCE_ID
    );
    assert_eq!(g.leave(&b, Some("b"), t, &s), FENCED_INSTANCE_ID);
    // Without its instance id the old member id is simply unknown.
    assert_eq!(g.heartbeat(&b, None, 2, t), UNKNOWN_MEMBER_ID);
    assert_eq!(g.state, State::Stable);
    assert_eq!(g.members.len(), 2);
    assert_eq!(g.check_commit(&b2.member_id, Some("b"), 2), Ok(()));
}

#[test]
fn an_unknown_instance_with_a_member_id_is_an_unknown_member() {
    let s = settings();
    let mut g = Group::new("g");
    let t = Instant::now();
    let (a, _) = stable_static_pair(&mut g, t);
    assert_eq!(g.heartbeat(&a, Some("nobody"), 2, t), UNKNOWN_MEMBER_ID);
    assert_eq!(
        synced(g.sync(&a, Some("nobody"), 2, vec![], t)).error,
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(
        g.check_commit(&a, Some("nobody"), 2),
        Err(UNKNOWN_MEMBER_ID)
    );
    assert_eq!(
        joined(g.join(static_req(&a, "nobody"), t, &s)).error,
        UNKNOWN_MEMBER_ID
    );
    assert_eq!(g.leave("", Some("nobody"), t, &s), UNKNOWN_MEMBER_ID);
    // A dynamic member id that is not in the group at all, with a known instance: fenced.
    assert_eq!(g.heartbeat("stranger", Some("a"), 2, t), FENCED_INSTANCE_ID);
}

#[test]
fn the_leaders_restart_keeps_it_leader_without_reassigning_a_stable_group() {
    let s = settings();
    let mut g = Group::new("g");
    let t = Instant::now();
    let (a, b) = stable_static_pair(&mut g, t);
    let a2 = joined(g.join(static_req("", "a"), t, &s));
    assert_eq!(a2.generation, 2);
    // JoinGroup before v9 cannot say "skip the assignment": the answer names
    // the previous leader id, so the new incarnation acts as a follower.
    assert_eq!(a2.leader, a);
    assert!(a2.members.is_empty());
    assert_eq!(
        g.leader.as_deref(),
        Some(a2.member_id.as_str()),
        "leadership moves to the new id"
    );
    assert_eq!(
        &synced(g.sync(&a2.member_id, Some("a"), 2, vec![], t)).assignment[..],
        b"a-part"
    );
    assert_eq!(g.state, State::Stable);
    // The next rebalance (b leaves) is led by the new incarnation.
    assert_eq!(
        g.leave("", Some("b"), t, &s),
        NONE,
        "admin removal by instance id"
    );
    assert_eq!(
        g.events,
        vec![Event::Fenced, Event::Rebalance(Cause::MemberLeft)]
    );
    let r = joined(g.join(static_req(&a2.member_id, "a"), t, &s));
    assert_eq!(
        (r.generation, r.leader.as_str(), r.members.len()),
        (3, a2.member_id.as_str(), 1)
    );
    let _ = b;
}

#[test]
fn a_restart_with_a_changed_protocol_rebalances() {
    let s = settings();
    let mut g = Group::new("g");
    let t = Instant::now();
    let (a, _) = stable_static_pair(&mut g, t);
    // Both members also support "sticky"; a's restart prefers it, and a leads.
    for m in &mut g.members {
        m.protocols.push(("sticky".into(), Bytes::new()));
    }
    let mut restarted = static_req("", "a");
    restarted.protocols = vec![
        ("sticky".into(), Bytes::new()),
        ("range".into(), Bytes::new()),
    ];
    let Reply::Later(_rx) = g.join(restarted, t, &s) else {
        panic!("a changed selected protocol needs a rebalance")
    };
    assert_eq!(g.state, State::PreparingRebalance);
    assert_eq!(
        g.events,
        vec![Event::Fenced, Event::Rebalance(Cause::StaticMemberReplaced)]
    );
    assert_eq!(g.heartbeat(&a, Some("a"), 2, t), FENCED_INSTANCE_ID);
}

#[test]
fn changed_subscription_metadata_alone_does_not_rebalance_a_restart() {
    let s = settings();
    let mut g = Group::new("g");
    let t = Instant::now();
    stable_static_pair(&mut g, t);
    let mut restarted = static_req("", "b");
    restarted.protocols = vec![("range".into(), Bytes::from_static(b"other topics"))];
    let r = joined(g.join(restarted, t, &s));
    assert_eq!((r.error, r.generation, g.state), (NONE, 2, State::Stable));
}

#[test]
fn a_replacement_fences_the_old_incarnations_waiting_join() {
    let s = settings();
    let mut g = Group::new("g");
    let t = Instant::now();
    let (a, b) = stable_static_pair(&mut g, t);
    // A rejoins (rebalance); B's old incarnation rejoins too and waits...
    let Reply::Later(mut arx) = g.join(
        JoinRequest {
            protocols: vec![("range".into(), Bytes::from_static(b"new"))],
            ..static_req(&a, "a")
        },
        t,
        &s,
    ) else {
        panic!()
    };
    assert!(arx.try_recv().is_err(), "waits for b");
    // ...when B' takes the instance over during PreparingRebalance.
    let Reply::Later(mut b2rx) = g.join(static_req("", "b"), t, &s) else {
        panic!()
    };
    let a3 = arx.try_recv().unwrap();
    let b2 = b2rx.try_recv().unwrap();
    assert_eq!((a3.generation, b2.generation), (3, 3));
    assert_ne!(b2.member_id, b);
    assert!(a3
        .members
        .iter()
        .any(|(id, inst, _)| *id == b2.member_id && inst.as_deref() == Some("b")));
    // During CompletingRebalance a replacement restarts the rebalance and
    // the waiting SyncGroup of the old incarnation is fenced.
    let Reply::Later(mut b2sync) = g.sync(&b2.member_id, Some("b"), 3, vec![], t) else {
        panic!()
    };
    let Reply::Later(_b3rx) = g.join(static_req("", "b"), t, &s) else {
        panic!()
    };
    assert_eq!(b2sync.try_recv().unwrap().error, FENCED_INSTANCE_ID);
    assert_eq!(g.state, State::PreparingRebalance);
}

#[test]
fn static_members_outlive_a_rebalance_they_miss_until_their_session_expires() {
    let s = settings();
    let mut g = Group::new("g");
    let t = Instant::now();
    let (a, b) = stable_static_pair(&mut g, t);
    // A dynamic member joins; b (alive, heartbeating, but busy) does not
    // rejoin within the rebalance timeout.
    let mut c = req("");
    c.require_known_member_id = false;
    let Reply::Later(mut crx) = g.join(c, t, &s) else {
        panic!()
    };
    let Reply::Later(mut arx) = g.join(static_req(&a, "a"), t, &s) else {
        panic!()
    };
    let later = t + Duration::from_secs(31); // past the rebalance timeout
    g.heartbeat(&b, Some("b"), 2, later);
    g.tick(later, &s);
    let (a3, c3) = (arx.try_recv().unwrap(), crx.try_recv().unwrap());
    assert_eq!((a3.generation, c3.generation), (3, 3));
    assert_eq!(a3.members.len(), 3, "b keeps its place and gets partitions");
    assert!(g.member(&b).is_some());
    // b's session then expires: it is removed and the group rebalances.
    let much_later = later + Duration::from_secs(11);
    for id in [&a3.member_id, &c3.member_id] {
        g.member_mut(id).unwrap().last_heartbeat = much_later;
    }
    g.tick(much_later, &s);
    assert!(g.member(&b).is_none());
    assert_eq!(g.state, State::PreparingRebalance);
    assert_eq!(
        g.events.last(),
        Some(&Event::Rebalance(Cause::SessionExpired))
    );
}

#[test]
fn leave_by_instance_removes_only_the_current_incarnation() {
    let s = settings();
    let mut g = Group::new("g");
    let t = Instant::now();
    let (a, b) = stable_static_pair(&mut g, t);
    assert_eq!(g.leave(&a, Some("b"), t, &s), FENCED_INSTANCE_ID);
    assert_eq!(g.members.len(), 2);
    assert_eq!(
        g.leave(&b, Some("b"), t, &s),
        NONE,
        "the member itself, naming both"
    );
    assert_eq!(g.members.len(), 1);
    assert_eq!(g.leave(&a, None, t, &s), NONE, "by member id alone");
    assert_eq!(g.state, State::Empty);
}

#[test]
fn a_pending_member_is_waited_for_and_may_leave() {
    let s = settings();
    let mut g = Group::new("g");
    let t = Instant::now();
    let first = joined(g.join(req(""), t, &s));
    assert_eq!(first.error, MEMBER_ID_REQUIRED);
    let second = joined(g.join(req(""), t, &s));
    assert_eq!(second.error, MEMBER_ID_REQUIRED);
    // The first comes back: the join phase waits for the second, as Kafka's
    // hasAllMembersJoined counts pending members.
    let Reply::Later(mut rx) = g.join(req(&first.member_id), t, &s) else {
        panic!()
    };
    assert!(rx.try_recv().is_err());
    assert_eq!(g.leave(&second.member_id, None, t, &s), NONE);
    assert_eq!(rx.try_recv().unwrap().generation, 1);
}

#[test]
fn a_lost_join_response_during_completing_rebalance_is_answered_again() {
    let s = settings();
    let mut g = Group::new("g");
    let t = Instant::now();
    let mut a = req("");
    a.require_known_member_id = false;
    let a = joined(g.join(a, t, &s));
    assert_eq!(g.state, State::CompletingRebalance);
    let again = joined(g.join(req(&a.member_id), t, &s));
    assert_eq!((again.generation, again.members.len()), (1, 1));
    assert_eq!(g.state, State::CompletingRebalance);
    assert!(g
        .events
        .iter()
        .all(|e| *e == Event::Rebalance(Cause::MemberJoined)));
}
