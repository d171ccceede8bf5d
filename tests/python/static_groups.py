"""Consumer groups with confluent-kafka (librdkafka): KIP-345 static
membership and KIP-429 cooperative rebalancing, against a logship collector
or an Apache Kafka broker.

usage: static_groups.py SCENARIO BOOTSTRAP ROUNDS
SCENARIO: fencing | restart | cooperative
ROUNDS: the collector's metrics URL (http://...), or the path of a one-node
Apache Kafka's server.log

Each scenario asserts; a failure exits non-zero with a traceback. Prints
"ok SCENARIO" at the end, and before it a transcript (lines starting "= ")
of what must read the same against the collector and Kafka: rounds,
callbacks and partitions moved, step by step. Rebalance rounds are read from
the collector's logship_collector_group_rebalances_total, or counted in
Kafka's log (its "Preparing to rebalance group G" lines, one per round); the
expected numbers are what Kafka's classic protocol yields (KIP-345, KIP-429),
derived in comments.
"""
import os
import subprocess
import sys
import threading
import time
import urllib.request
import uuid

from confluent_kafka import Consumer, KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic

SESSION_MS = 6000


class Rounds:
    """Rebalance rounds started, from the collector's metrics (all groups: a
    scenario runs against a collector of its own) or from Kafka's log (the
    group's own)."""

    def __init__(self, source):
        self.collector = source.startswith("http://") or source.startswith("https://")
        self.source = source
        self.group = None

    def __call__(self):
        if self.collector:
            total = 0
            for line in urllib.request.urlopen(self.source, timeout=10).read().decode().splitlines():
                if line.startswith("logship_collector_group_rebalances_total{"):
                    total += int(float(line.rsplit(" ", 1)[1]))
            return total
        with open(self.source, encoding="utf-8", errors="replace") as f:
            needle = f"Preparing to rebalance group {self.group} in state"
            return sum(1 for line in f if needle in line)


def rebalances(rounds):
    return rounds()


def metric(rounds, series):
    """A collector metric; None against Kafka."""
    if not rounds.collector:
        return None
    metrics_url = rounds.source
    for line in urllib.request.urlopen(metrics_url, timeout=10).read().decode().splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return None


def create_topic(bootstrap, partitions):
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = "sg-" + uuid.uuid4().hex[:8]
    for f in admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)]).values():
        f.result(10)
    return topic


class Member:
    """A consumer polling on its own thread, recording its rebalance
    callbacks and errors."""

    def __init__(self, bootstrap, group, topics, instance=None, strategy="range"):
        self.callbacks = []  # ("assign" | "revoke" | "lost", [partitions])
        self.errors = []
        self.assignment = set()
        self.lock = threading.Lock()
        conf = {
            "bootstrap.servers": bootstrap, "group.id": group,
            "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 300,
            "partition.assignment.strategy": strategy, "enable.auto.commit": True,
            "auto.commit.interval.ms": 300, "error_cb": self._error,
        }
        if instance:
            conf["group.instance.id"] = instance
        if os.environ.get("RDKAFKA_DEBUG"):
            conf["debug"] = os.environ["RDKAFKA_DEBUG"]
        self.cooperative = strategy == "cooperative-sticky"
        self.c = Consumer(conf)
        self.c.subscribe(topics, on_assign=self._assign, on_revoke=self._revoke, on_lost=self._lost)
        self.stop = threading.Event()
        self.resubscribe = None
        self.closed = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _error(self, err):
        with self.lock:
            self.errors.append(err)

    def _assign(self, c, parts):
        with self.lock:
            self.callbacks.append(("assign", sorted((p.topic, p.partition) for p in parts)))
            self.assignment |= {(p.topic, p.partition) for p in parts}
        if self.cooperative:
            c.incremental_assign(parts)
        else:
            c.assign(parts)

    def _revoke(self, c, parts):
        with self.lock:
            self.callbacks.append(("revoke", sorted((p.topic, p.partition) for p in parts)))
            self.assignment -= {(p.topic, p.partition) for p in parts}
        if self.cooperative:
            c.incremental_unassign(parts)
        else:
            c.unassign()

    def _lost(self, c, parts):
        with self.lock:
            self.callbacks.append(("lost", sorted((p.topic, p.partition) for p in parts)))
            self.assignment -= {(p.topic, p.partition) for p in parts}
        if self.cooperative:
            c.incremental_unassign(parts)
        else:
            c.unassign()

    def _run(self):
        while not self.stop.is_set():
            with self.lock:
                topics, self.resubscribe = self.resubscribe, None
            if topics:
                self.c.subscribe(topics, on_assign=self._assign, on_revoke=self._revoke, on_lost=self._lost)
            try:
                m = self.c.poll(0.1)
            except KafkaException as e:
                self._error(e.args[0])
                continue
            if m is not None and m.error():
                self._error(m.error())

    def parts(self):
        with self.lock:
            return set(self.assignment)

    def calls(self):
        with self.lock:
            return list(self.callbacks)

    def fatal(self):
        with self.lock:
            return [e for e in self.errors if e.fatal() or e.code() == KafkaError._FATAL]

    def set_subscription(self, topics):
        # Done on the polling thread: subscribe() from another thread while
        # poll() serves rebalance callbacks can deadlock on the GIL.
        with self.lock:
            self.resubscribe = topics

    def close(self, leave=True):
        """Stops polling and closes the consumer (a static member sends no
        LeaveGroup: KIP-345)."""
        self.stop.set()
        self.thread.join()
        if leave:
            self.c.close()
        self.closed = True


def wait(what, cond, limit=30):
    deadline = time.time() + limit
    while not cond():
        assert time.time() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def settle(rounds, quiet=1.5, limit=30):
    """Waits until no rebalance has started for `quiet` seconds."""
    deadline = time.time() + limit
    last, since = rebalances(rounds), time.time()
    while time.time() - since < quiet:
        assert time.time() < deadline, "the group never settled"
        time.sleep(0.1)
        now = rebalances(rounds)
        if now != last:
            last, since = now, time.time()
    return last


def fencing(bootstrap, rounds):
    """A and B static; B' starts with B's instance id. As with Kafka: B' takes
    B's partitions in the same generation (no rebalance: A's callbacks do not
    move), and B's next group request is answered FENCED_INSTANCE_ID, which
    librdkafka raises as a fatal error."""
    topic = create_topic(bootstrap, 4)
    group = "fence-" + uuid.uuid4().hex[:8]
    rounds.group = group
    a = Member(bootstrap, group, [topic], instance="a")
    b = Member(bootstrap, group, [topic], instance="b")
    wait("a and b sharing four partitions", lambda: len(a.parts()) == 2 and len(b.parts()) == 2)
    before = settle(rounds)
    a_calls, b_parts = a.calls(), b.parts()
    fenced_before = metric(rounds, "logship_collector_group_fenced_members_total")

    b2 = Member(bootstrap, group, [topic], instance="b")
    wait("b' to take b's partitions", lambda: b2.parts() == b_parts)
    wait("b to be fenced", lambda: b.fatal(), limit=15)
    err = b.fatal()[0]
    # librdkafka raises the broker's FENCED_INSTANCE_ID (82) as a fatal
    # error: the application sees _FATAL, whose text is the underlying
    # error's (librdkafka's rd_kafka_err2str for code 82).
    fenced_text = KafkaError(KafkaError.FENCED_INSTANCE_ID).str()
    assert err.code() == KafkaError._FATAL and fenced_text in str(err), (err.code(), str(err))
    time.sleep(2)
    assert rebalances(rounds) == before, "a replacement in a Stable group must not rebalance"
    assert a.calls() == a_calls, f"a was disturbed: {a.calls()[len(a_calls):]}"
    assert a.parts() | b2.parts() == {(topic, p) for p in range(4)}
    assert not b2.fatal() and not a.fatal(), (a.errors, b2.errors)
    if rounds.collector:
        assert metric(rounds, "logship_collector_group_fenced_members_total") == fenced_before + 1
        assert metric(rounds, 'logship_collector_group_members{kind="static"}') == 2
    print(f"= fencing: b' took b's {len(b_parts)} partitions, {rebalances(rounds) - before} round(s), "
          f"{len(a.calls()) - len(a_calls)} callback(s) for a, b fatal {err.code()}")
    b.close(leave=False)
    b2.close()
    a.close()
    print("fenced:", KafkaError.FENCED_INSTANCE_ID, str(err))


def restart(bootstrap, rounds):
    """B restarts (new process, same instance id) within session.timeout.ms:
    it gets its partitions back with no rebalance. Then B stops for good: the
    group rebalances once, when its session expires, and A takes everything."""
    topic = create_topic(bootstrap, 4)
    group = "restart-" + uuid.uuid4().hex[:8]
    rounds.group = group
    a = Member(bootstrap, group, [topic], instance="a")
    b = Member(bootstrap, group, [topic], instance="b")
    wait("a and b sharing four partitions", lambda: len(a.parts()) == 2 and len(b.parts()) == 2)
    before = settle(rounds)
    a_calls, b_parts = a.calls(), b.parts()
    b.close()  # static: no LeaveGroup
    time.sleep(1)
    assert rebalances(rounds) == before, "closing a static member must not rebalance"
    b2 = Member(bootstrap, group, [topic], instance="b")
    wait("the restarted b to get its partitions back", lambda: b2.parts() == b_parts)
    time.sleep(2)
    assert rebalances(rounds) == before, "a restart within the session timeout must not rebalance"
    assert a.calls() == a_calls, f"a was disturbed: {a.calls()[len(a_calls):]}"
    assert not a.fatal() and not b2.fatal(), (a.errors, b2.errors)
    print(f"= restart within the session: {rebalances(rounds) - before} round(s), "
          f"{len(a.calls()) - len(a_calls)} callback(s) for a, b's {len(b_parts)} partitions back")

    stopped = time.time()
    b2.close()
    everything = [(topic, p) for p in range(4)]
    wait("b's session to expire and a to take everything", lambda: sorted(a.parts()) == everything, limit=20)
    waited = time.time() - stopped
    assert waited >= SESSION_MS / 1000 - 0.5, f"rebalanced after {waited:.1f}s, before the session timeout"
    # Eager range assignment: one round, in which a revokes its two and is
    # assigned all four.
    assert settle(rounds) == before + 1
    assert a.calls()[len(a_calls):] == [("revoke", a_calls[-1][1]), ("assign", everything)], a.calls()
    print(f"= b stops: {settle(rounds) - before} round(s) after the session timeout, a: "
          + ", ".join(f"{kind} {len(ps)}" for kind, ps in a.calls()[len(a_calls):]))
    a.close()


def cooperative(bootstrap, rounds):
    """KIP-429 with librdkafka's cooperative-sticky assignor: rebalance
    rounds (generations started) and the callbacks that move partitions.
    The rounds Kafka's protocol yields, with group.initial.rebalance.delay.ms
    0 as here: a partition that changes owner takes two rounds (revoked by
    its owner in the first, which makes the owner rejoin at once; assigned
    in the second); a change that only adds or drops partitions takes one.
    - c1 alone: 1 round.
    - c2 joins: 2 (c1 revokes 2 of t1's 4, c2 gets them).
    - c2 also subscribes to t2 (2 partitions, nobody else wants them): 2.
      c2 would own 4 to c1's 2, so the sticky assignor moves one of c2's t1
      partitions to c1 (revoke, then assign), t2's two going to c2.
    - c2 drops t2: 2. Its t2 partitions are revoked (c2 1, c1 3), then one
      of c1's moves to c2.
    - c2 leaves (LeaveGroup): 1; c1 assigned c2's partitions.
    - c3 joins (2, as c2 did), then is killed (no LeaveGroup, heartbeats
      stop): 1 once its session expires; c1 assigned c3's.
    Every callback must move exactly what changed hands: each member is
    assigned what it gains and revokes what it loses, once."""
    t1 = create_topic(bootstrap, 4)
    t2 = create_topic(bootstrap, 2)
    group = "coop-" + uuid.uuid4().hex[:8]
    rounds.group = group
    strategy = "cooperative-sticky"
    all_t1 = {(t1, p) for p in range(4)}

    rounds_of = rounds
    names = {}

    def moving(m, since):
        return [c for c in m.calls()[since:] if c[1]]

    def step(name, members, action, cond, rounds, limit=30):
        n0 = settle(rounds_of, quiet=1.0)
        before = {m: (m.parts(), len(m.calls())) for m in members}
        start = time.time()
        action()
        wait(name, cond, limit)
        took = time.time() - start
        got = settle(rounds_of) - n0
        assert got == rounds, f"{name}: {got} rounds, expected {rounds}"
        moved, seen = 0, []
        for m, (old, k) in before.items():
            if m.closed:
                continue
            new = m.parts()
            assigned = sorted(p for kind, ps in moving(m, k) if kind == "assign" for p in ps)
            revoked = sorted(p for kind, ps in moving(m, k) if kind != "assign" for p in ps)
            assert assigned == sorted(new - old), f"{name}: assigned {assigned}, gained {new - old}: {m.calls()}"
            assert revoked == sorted(old - new), f"{name}: revoked {revoked}, lost {old - new}: {m.calls()}"
            moved += len(assigned)
            kinds = [kind for kind, _ in moving(m, k)]
            seen.append(f"{names[m]} " + " ".join(f"{kind} {kinds.count(kind)}" for kind in ("assign", "revoke", "lost")))
        print(f"{name}: {rounds} round(s) in {took:.2f}s", flush=True)
        print(f"= {name}: {got} round(s), moved {moved}; " + "; ".join(seen), flush=True)

    c1 = Member(bootstrap, group, [t1], strategy=strategy)
    names[c1] = "c1"
    wait("c1 assigned", lambda: c1.parts() == all_t1)
    c2 = None

    def join_c2():
        nonlocal c2
        c2 = Member(bootstrap, group, [t1], strategy=strategy)
        names[c2] = "c2"

    step("c2 joins", [c1], join_c2, lambda: c2 is not None and len(c2.parts()) == 2 and len(c1.parts()) == 2, 2)
    assert moving(c2, 0) == [("assign", sorted(c2.parts()))], c2.calls()
    step("c2 subscribes to t2 as well", [c1, c2], lambda: c2.set_subscription([t1, t2]),
         lambda: len(c1.parts()) == 3 and len(c2.parts()) == 3, 2)
    assert {(t2, 0), (t2, 1)} <= c2.parts()
    step("c2 drops t2", [c1, c2], lambda: c2.set_subscription([t1]),
         lambda: len(c1.parts()) == 2 and len(c2.parts()) == 2 and c1.parts() | c2.parts() == all_t1, 2)
    step("c2 leaves", [c1, c2], lambda: c2.close(), lambda: c1.parts() == all_t1, 1)

    # c3 in a process of its own, so it can be killed.
    c3 = []
    step("c3 joins", [c1], lambda: c3.append(subprocess.Popen(
        [sys.executable, __file__, "member", bootstrap, group, t1, strategy])),
        lambda: len(c1.parts()) == 2, 2)
    try:
        step("c3 is killed", [c1], lambda: c3[0].kill(), lambda: c1.parts() == all_t1, 1)
    finally:
        c3[0].kill()
        c3[0].wait()
    c1.close()


def member(bootstrap, group, topic, strategy):
    """A member in its own process, so it can be killed."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group,
                  "session.timeout.ms": SESSION_MS, "heartbeat.interval.ms": 300,
                  "partition.assignment.strategy": strategy})
    c.subscribe([topic])
    while True:
        c.poll(0.1)

if __name__ == "__main__":
    if sys.argv[1] == "member":
        member(*sys.argv[2:6])
    scenario, bootstrap, source = sys.argv[1:4]
    {"fencing": fencing, "restart": restart, "cooperative": cooperative}[scenario](bootstrap, Rounds(source))
    print("ok", scenario)
