"""kill -9 of the broker under QoS 1/2 load (issue 14, the shared spec
/work/persist-spec.md, "The promise"): every message the broker
acknowledged (PUBACK for QoS 1, PUBREC for QoS 2) reaches every persistent
subscriber it matched, QoS 1 at least once, QoS 2 exactly once, each
publisher's messages in order; retained messages, subscriptions and session
expiry survive.

Bounded: ROUNDS rounds; in each, raw-socket publishers pipeline QoS 1 and
QoS 2 messages to persistent subscribers (some connected and acknowledging,
some offline the whole time), the broker is SIGKILLed once a random number
of acknowledgements (from a seeded RNG; the seed is printed, and
AGORA_CRASH_SEED=N replays it) has come back, and a new broker starts on the
same data directory. At the end the publishers finish their flows, each
sends a last message, and every subscriber collects until it has all of
them (bounded deadline).

The clients behave as the standard asks of a client with a session:
- A QoS 2 publisher keeps its unfinished flows across the reconnect: a
  message without PUBREC is sent again (DUP, same packet id, same payload),
  one with PUBREC gets its PUBREL again.
- A QoS 1 publisher does NOT resend messages that had no PUBACK (they may or
  may not arrive: nothing was promised). So every QoS 1 message a subscriber
  gets twice was resent by the broker, which must then use DUP=1 and the
  same packet id as before, on a later connection.
- A QoS 2 subscriber remembers the packet ids it sent PUBREC for until the
  PUBREL comes (method B of 4.3.3): a PUBLISH again with such an id (DUP)
  is not a new message. A QoS 2 message that arrives as new twice is a
  duplicate: a failure.

Checks: every acknowledged message arrived (at least once for QoS 1,
exactly once for QoS 2) at every subscriber that matched; for each
(subscriber, publisher), the sequence numbers of first arrivals strictly
increase (no reordering); nothing arrives at a subscriber it did not match,
or at another QoS than min(publish, subscription); every publisher and
subscriber gets session present 1 after each restart; the retained values
after each restart are at least the last acknowledged ones; an MQTT 5
session with a 2 s expiry is gone at the end, one with 600 s is there.
"""

import os
import random
import threading
import time
from collections import defaultdict

import pytest

import mqttraw
from conftest import require_agora
from mqttraw import (PINGRESP, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL,
                     ConnectionClosed, NoPacket)
from persist_helpers import DataDir, restored, retained_on
from test_mqtt5 import SESSION_EXPIRY, Raw5, disconnect5

ROUNDS = 3
KILL_AFTER_ACKS = (20, 400)      # a round's kill: after this many acknowledgements
ROUND_DEADLINE = 10.0            # ... or this many seconds at the latest
PER_ROUND_LIMIT = 4000           # messages one publisher sends in one round, at most
FINAL_DEADLINE = 10.0
LINK_ERRORS = (ConnectionClosed, ConnectionResetError, BrokenPipeError,
               ConnectionAbortedError, OSError)


class Progress:
    """Acknowledgements counted across the publisher threads."""

    def __init__(self):
        self.cond = threading.Condition()
        self.acks = 0

    def add(self):
        with self.cond:
            self.acks += 1
            self.cond.notify_all()

    def wait_for(self, n, timeout):
        with self.cond:
            return self.cond.wait_for(lambda: self.acks >= n, timeout)


class Outstanding:
    def __init__(self, seq, payload, state):
        self.seq = seq
        self.payload = payload
        self.state = state          # "pub": PUBLISH sent; "rel": PUBREL sent


class Publisher:
    """A persistent (clean session 0) raw 3.1.1 publisher with a window of
    unacknowledged messages."""

    def __init__(self, name, qos, window, topic_of):
        self.name = name
        self.qos = qos
        self.window = window
        self.topic_of = topic_of    # seq -> topic
        self.retain = False
        self.c = None
        self.next_seq = 0
        self.next_pid = 0
        self.outstanding = {}       # pid -> Outstanding (insertion order = send order)
        self.acked = set()          # seqs with PUBACK / PUBREC
        self.sent = set()
        self.errors = []
        self.final_seq = None

    def connect(self, port, first):
        self.c = mqttraw.RawClient(port)
        ack = self.c.connect(self.name, clean=False)
        if first:
            assert ack.session_present == 0
            # A SUBACK: the session is durable from here on.
            assert self.c.subscribe([("nothing/%s" % self.name, 1)]) == [1]
        else:
            assert ack.session_present == 1, "%s: session present 0 after restart" % self.name

    def payload(self, seq):
        return b"%s:%d" % (self.name.encode(), seq)

    def _pid(self):
        for _ in range(65536):
            self.next_pid = self.next_pid % 65535 + 1
            if self.next_pid not in self.outstanding:
                return self.next_pid
        raise AssertionError("no free packet id")

    def _send_new(self):
        seq = self.next_seq
        self.next_seq += 1
        pid = self._pid()
        pl = self.payload(seq)
        self.outstanding[pid] = Outstanding(seq, pl, "pub")
        self.sent.add(seq)
        self.c.send(mqttraw.publish(self.topic_of(seq), pl, qos=self.qos, retain=self.retain,
                                    pid=pid))

    def after_crash(self):
        """The connection died. QoS 1: the unacknowledged messages are given
        up (they may arrive or not); QoS 2 keeps its flows."""
        if self.c is not None:
            self.c.close()
        if self.qos == 1:
            self.outstanding.clear()

    def _resend(self):
        for pid, o in list(self.outstanding.items()):
            if o.state == "pub":
                self.c.send(mqttraw.publish(self.topic_of(o.seq), o.payload, qos=self.qos,
                                            retain=self.retain, dup=True, pid=pid))
            else:
                self.c.send(mqttraw.pubrel(pid))

    def _handle(self, p, progress):
        o = self.outstanding.get(p.pid) if p.type in (PUBACK, PUBREC, PUBCOMP) else None
        if p.type == PUBACK and self.qos == 1 and o is not None:
            del self.outstanding[p.pid]
            self.acked.add(o.seq)
            progress.add()
        elif p.type == PUBREC and self.qos == 2 and o is not None:
            if o.state == "pub":
                self.acked.add(o.seq)
                progress.add()
            o.state = "rel"
            self.c.send(mqttraw.pubrel(p.pid))
        elif p.type == PUBCOMP and self.qos == 2 and o is not None and o.state == "rel":
            del self.outstanding[p.pid]
        elif p.type == PUBCOMP and self.qos == 2 and o is None:
            pass  # a PUBREL resent after the restart, whose PUBCOMP was lost: fine
        else:
            self.errors.append("%s: unexpected %r (outstanding: %r)" % (
                self.name, p, sorted(self.outstanding)))

    def run_load(self, progress, deadline):
        """Thread body of a round: resend, then keep the window full until
        the connection dies (the kill) or the deadline."""
        try:
            self._resend()
            sent = 0
            while time.monotonic() < deadline:
                while len(self.outstanding) < self.window and sent < PER_ROUND_LIMIT:
                    self._send_new()
                    sent += 1
                try:
                    p = self.c.recv_packet(0.05)
                except NoPacket:
                    continue
                self._handle(p, progress)
        except LINK_ERRORS:
            pass

    def run_finish(self, progress, deadline):
        """Final phase (no kill): resend, send one last message, and
        complete every flow."""
        try:
            self._finish(progress, deadline)
        except Exception as e:  # reported by the test, not lost in the thread
            self.errors.append("%s: final phase failed: %r" % (self.name, e))

    def _finish(self, progress, deadline):
        self._resend()
        self.final_seq = self.next_seq
        self._send_new()
        while self.outstanding:
            if time.monotonic() > deadline:
                self.errors.append("%s: flows not completed: %r" % (
                    self.name, sorted((o.seq, o.state) for o in self.outstanding.values())))
                return
            try:
                p = self.c.recv_packet(0.2)
            except NoPacket:
                continue
            self._handle(p, progress)


class Subscriber:
    """A persistent raw 3.1.1 subscriber that acknowledges everything and
    records every PUBLISH."""

    def __init__(self, name, filters, online, matches, cond):
        self.cond = cond            # shared: notified after every packet handled
        self.name = name
        self.filters = filters      # [(filter, qos)]
        self.online = online
        self.matches = matches      # {publisher name: delivery qos}
        self.c = None
        self.epoch = 0
        self.wire = defaultdict(list)   # pub -> [(seq, dup, pid, epoch)] every PUBLISH
        self.first = defaultdict(list)  # pub -> seqs, first arrival of each
        self.count = defaultdict(lambda: defaultdict(int))  # pub -> seq -> app deliveries
        self.last = {}                  # (pub, seq) -> (pid, epoch) of its last PUBLISH
        self.pending2 = {}              # pid -> (pub, seq): PUBREC sent, no PUBREL yet
        self.errors = []

    def connect(self, port, first):
        self.c = mqttraw.RawClient(port)
        ack = self.c.connect(self.name, clean=False)
        self.epoch += 1
        if first:
            assert ack.session_present == 0
            assert self.c.subscribe(self.filters) == [q for _, q in self.filters]
        else:
            assert ack.session_present == 1, "%s: session present 0 after restart" % self.name

    def _handle(self, p):
        if p.type == PUBREL:
            self.pending2.pop(p.pid, None)    # unknown: a PUBREL resent, answered anyway
            self.c.send(mqttraw.pubcomp(p.pid))
            return
        if p.type != PUBLISH:
            self.errors.append("%s: unexpected %r" % (self.name, p))
            return
        try:
            pub, seq = p.payload.decode().split(":")
            seq = int(seq)
        except ValueError:
            self.errors.append("%s: unexpected payload %r" % (self.name, p))
            return
        self.wire[pub].append((seq, p.dup, p.pid, self.epoch))
        if pub not in self.matches:
            self.errors.append("%s: got %r from %s, which it did not subscribe to" % (
                self.name, p, pub))
        elif p.qos != self.matches[pub]:
            self.errors.append("%s: %s:%d at QoS %d, expected %d" % (
                self.name, pub, seq, p.qos, self.matches[pub]))
        # Recorded before the answer is sent (the send may fail: the kill).
        answer = None
        if p.qos == 2:
            if p.pid in self.pending2:
                # The same flow again: must be the same message, marked DUP.
                if self.pending2[p.pid] != (pub, seq) or not p.dup:
                    self.errors.append("%s: PUBLISH %r with id %d while that id holds %r" % (
                        self.name, p, p.pid, self.pending2[p.pid]))
            else:
                self.pending2[p.pid] = (pub, seq)
                self._deliver(pub, seq)
            answer = mqttraw.pubrec(p.pid)
        elif p.qos == 1:
            if (pub, seq) in self.last:
                prev_pid, prev_epoch = self.last[(pub, seq)]
                if not (p.dup and p.pid == prev_pid and self.epoch > prev_epoch):
                    self.errors.append(
                        "%s: QoS 1 %s:%d again (dup=%d id=%d connection %d) that came first "
                        "with id %d on connection %d: a resend must carry DUP=1, the same "
                        "id, on a later connection" % (self.name, pub, seq, p.dup, p.pid,
                                                       self.epoch, prev_pid, prev_epoch))
            self._deliver(pub, seq)
            answer = mqttraw.puback(p.pid)
        else:
            self.errors.append("%s: QoS 0 %r" % (self.name, p))
        self.last[(pub, seq)] = (p.pid, self.epoch)
        if answer is not None:
            self.c.send(answer)

    def _deliver(self, pub, seq):
        if not self.count[pub][seq]:
            self.first[pub].append(seq)
        self.count[pub][seq] += 1

    def run(self, stop, deadline):
        """Thread body: handles packets until the connection dies, stop is
        set, or the deadline."""
        try:
            while not stop.is_set() and time.monotonic() < deadline:
                try:
                    p = self.c.recv_packet(0.1)
                except NoPacket:
                    continue
                with self.cond:
                    self._handle(p)
                    self.cond.notify_all()
        except LINK_ERRORS:
            pass
        except Exception as e:  # reported by the test, not lost in the thread
            self.errors.append("%s: reader failed: %r" % (self.name, e))

    def drain(self, timeout=5.0):
        """PINGREQ, and everything before the PINGRESP handled."""
        self.c.send(mqttraw.pingreq())
        deadline = time.monotonic() + timeout
        for _ in range(1000000):
            p = self.c.recv_packet(max(0.001, deadline - time.monotonic()))
            if p.type == PINGRESP:
                return
            self._handle(p)

    def has_all(self, expected):
        """expected: {pub: set of seqs}."""
        return all(seq in self.count[pub] and self.count[pub][seq] > 0
                   for pub, seqs in expected.items() for seq in seqs)


def join_all(threads, timeout):
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.01, deadline - time.monotonic()))
    alive = [t.name for t in threads if t.is_alive()]
    assert not alive, "threads still running: %r" % alive


def check_retained(port, p3, when):
    got = retained_on(port, "keep/#", qos=1)
    last_acked = {}
    for seq in p3.acked:
        t = p3.topic_of(seq)
        last_acked[t] = max(last_acked.get(t, -1), seq)
    for topic, seq in last_acked.items():
        assert topic in got, "%s: retained %s lost (last acknowledged %s:%d)" % (
            when, topic, p3.name, seq)
    for topic, m in got.items():
        name, seq = m.payload.decode().split(":")
        seq = int(seq)
        assert name == p3.name and seq in p3.sent and p3.topic_of(seq) == topic, (when, m)
        assert seq >= last_acked.get(topic, -1), \
            "%s: retained %s is %s:%d, older than the acknowledged %d" % (
                when, topic, name, seq, last_acked[topic])


@pytest.mark.parametrize("mode", ["normal", "full"])
def test_kill9_under_load_loses_no_acknowledged_message(broker_factory, tmp_path, mode):
    """normal: acknowledgements follow the write(2) of their records;
    full: they are also held until an fdatasync covering them is done
    (the output held per client while the sync runs on the thread pool)."""
    require_agora("durable broker state (issue 14)")
    seed = int(os.environ.get("AGORA_CRASH_SEED", str(int(time.time() * 1000) % 1000000007)))
    print("crash test seed: %d (AGORA_CRASH_SEED=%d replays it)" % (seed, seed))
    rng = random.Random(seed)
    t_begin = time.monotonic()

    # A small compact size: the log is rewritten again and again under the
    # load, so kills land before, during and after rewrites too (full mode
    # once stalled there: output waited for a position in the old file).
    st = DataDir(broker_factory, tmp_path, "max_queued_messages 1000000",
                 "persistence %s" % mode, "persistence_compact_size 65536")
    b = st.start()

    p1 = Publisher("p1", 1, 32, lambda s: "crash/q1/p1")
    p2 = Publisher("p2", 2, 16, lambda s: "crash/q2/p2")
    p4 = Publisher("p4", 1, 8, lambda s: "crash/q1/p4")
    p3 = Publisher("p3", 1, 8, lambda s: "keep/ret/%d" % (s % 4))
    p3.retain = True
    pubs = [p1, p2, p4, p3]
    cond = threading.Condition()
    subs = [
        Subscriber("s-on-all", [("crash/#", 2)], True, {"p1": 1, "p2": 2, "p4": 1}, cond),
        Subscriber("s-on-q2", [("crash/q2/#", 2)], True, {"p2": 2}, cond),
        Subscriber("s-off-all", [("crash/#", 2)], False, {"p1": 1, "p2": 2, "p4": 1}, cond),
        Subscriber("s-off-q1", [("crash/+/p1", 1), ("crash/q1/p4", 1)], False,
                   {"p1": 1, "p4": 1}, cond),
    ]
    for s in subs:
        s.connect(b.port, first=True)
        if not s.online:
            s.c.disconnect()
    for p in pubs:
        p.connect(b.port, first=True)
    v5 = {}
    for cid, expiry in (("crash-v5-short", 2), ("crash-v5-long", 600)):
        c = Raw5(b.port)
        c.connect5(cid, clean_start=True, props=[(SESSION_EXPIRY, expiry)])
        assert c.subscribe5([("nothing/v5", 1)]) == [1]
        c.send(disconnect5())
        c.expect_closed(5.0)
        c.close()
        v5[cid] = time.time()

    stats = []
    for rnd in range(ROUNDS):
        progress = Progress()
        stop = threading.Event()
        deadline = time.monotonic() + ROUND_DEADLINE
        threads = [threading.Thread(target=s.run, args=(stop, deadline + 5), name=s.name,
                                    daemon=True) for s in subs if s.online]
        threads += [threading.Thread(target=p.run_load, args=(progress, deadline), name=p.name,
                                     daemon=True) for p in pubs]
        for t in threads:
            t.start()
        k = rng.randint(*KILL_AFTER_ACKS)
        reached = progress.wait_for(k, ROUND_DEADLINE)
        st.kill9()
        join_all(threads, 10.0)
        stats.append((rnd, k, reached, progress.acks, {p.name: len(p.acked) for p in pubs}))
        assert reached, "seed %d: round %d: only %d acknowledgements within %.0fs (wanted %d)" % (
            seed, rnd, progress.acks, ROUND_DEADLINE, k)
        for p in pubs:
            p.after_crash()
        for s in subs:
            if s.online:
                s.c.close()

        b = st.start()
        r = restored(b)
        # 4 publishers, 4 subscribers, the 600 s MQTT 5 session (and
        # maybe the 2 s one).
        assert r.sessions >= 9, (rnd, r)
        check_retained(b.port, p3, "after kill -9 #%d" % (rnd + 1))
        for p in pubs:
            p.connect(b.port, first=False)
        for s in subs:
            if s.online:
                s.connect(b.port, first=False)

    # Final phase: no kill. Every flow completes, each publisher sends a last
    # message, every subscriber collects everything.
    for s in subs:
        if not s.online:
            s.connect(b.port, first=False)
    progress = Progress()
    stop = threading.Event()
    deadline = time.monotonic() + FINAL_DEADLINE
    sub_threads = [threading.Thread(target=s.run, args=(stop, deadline), name=s.name,
                                    daemon=True) for s in subs]
    pub_threads = [threading.Thread(target=p.run_finish, args=(progress, deadline),
                                    name=p.name, daemon=True) for p in pubs]
    for t in sub_threads + pub_threads:
        t.start()
    join_all(pub_threads, FINAL_DEADLINE + 5)
    for p in pubs:
        assert not p.errors, p.errors[:10]

    def expected_for(s):
        return {name: {q for q in pub.acked} | {pub.final_seq}
                for name, pub in ((p.name, p) for p in pubs) if name in s.matches}

    # Wait (bounded) until every subscriber has everything it must get.
    with cond:
        cond.wait_for(lambda: all(s.has_all(expected_for(s)) for s in subs),
                      max(0.1, deadline - time.monotonic()))
    stop.set()
    join_all(sub_threads, 5.0)
    for s in subs:
        s.drain()

    print("rounds (round, kill after, reached, acks, acked per publisher): %r" % stats)
    problems = []
    for s in subs:
        problems += s.errors
        for name, seqs in expected_for(s).items():
            missing = sorted(q for q in seqs if not s.count[name][q])
            if missing:
                problems.append("%s: %d acknowledged messages of %s never arrived: %s" % (
                    s.name, len(missing), name, missing[:20]))
            firsts = s.first[name]
            bad = [(a, c) for a, c in zip(firsts, firsts[1:]) if c <= a]
            if bad:
                problems.append("%s: %s's messages out of order (first arrivals): %r" % (
                    s.name, name, bad[:10]))
            if s.matches[name] == 2:
                dups = sorted(q for q, n in s.count[name].items() if n > 1)
                if dups:
                    problems.append("%s: QoS 2 messages of %s delivered more than once: %r"
                                    % (s.name, name, dups[:20]))
        total = sum(len(v) for v in s.wire.values())
        print("%s: %d PUBLISH received, %d distinct" % (
            s.name, total, sum(len(v) for v in s.first.values())))
    assert not problems, "seed %d:\n%s" % (seed, "\n".join(problems[:40]))

    # Retained messages after everything; the subscriptions took new
    # messages after each restart (checked above through the final messages).
    check_retained(b.port, p3, "at the end")

    # Session expiry still honoured across the kills.
    time.sleep(max(0.0, v5["crash-v5-short"] + 2.5 - time.time()))  # wall clock must pass
    for cid, present in (("crash-v5-short", 0), ("crash-v5-long", 1)):
        c = Raw5(b.port)
        try:
            ack = c.connect5(cid, clean_start=False, props=[(SESSION_EXPIRY, 600)])
            assert ack.session_present == present, (cid, ack)
            c.send(disconnect5())
            c.expect_closed(5.0)
        finally:
            c.close()
    for s in subs:
        s.c.disconnect()
    for p in pubs:
        p.c.disconnect()
    elapsed = time.monotonic() - t_begin
    print("crash test: %.1fs" % elapsed)
    assert elapsed < 60, "crash test took %.1fs" % elapsed
