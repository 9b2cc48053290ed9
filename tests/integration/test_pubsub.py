"""Publish/subscribe semantics: QoS flows, wildcards, retained messages,
wills, sessions, queues and the inflight window.

Absence of a delivery is checked with a marker: the subscriber also
subscribes to a marker topic, the same publisher publishes the marker after
the message under test, and everything the subscriber receives before the
marker is what the broker routed (per-connection ordering makes the marker
arrive last). Bare timed silences are used only where nothing can be
awaited (the inflight window).
"""

import time

import pytest

import mqttraw
from mqttraw import (PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL,
                     NoPacket, publish, puback, pubcomp, pubrec, pubrel)
from conftest import require_agora


def mk(uniq):
    return "mark/" + uniq


def sys_values(client, topic, timeout):
    """Yields int payloads of `topic` as they arrive on a raw client that is
    subscribed to it, until the timeout (bounded)."""
    deadline = time.monotonic() + timeout
    for _ in range(1000):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return
        try:
            p = client.recv_publish(remaining)
        except NoPacket:
            return
        if p.topic == topic:
            yield int(p.payload.decode())


# --------------------------------------------------------------------------
# QoS flows
# --------------------------------------------------------------------------

@pytest.mark.parametrize("pub_qos", [0, 1, 2])
@pytest.mark.parametrize("sub_qos", [0, 1, 2])
def test_qos_flows_and_downgrade(broker, raw, uniq, pub_qos, sub_qos):
    topic = "qos/%d/%d/%s" % (pub_qos, sub_qos, uniq)
    sub = raw(broker.port, "sub-" + uniq)
    assert sub.subscribe([(topic, sub_qos)], pid=0x0102) == [sub_qos]
    pub = raw(broker.port, "pub-" + uniq)
    payload = b"payload \x00\xff qos%d" % pub_qos
    pid = 0xABCD
    pub.send(publish(topic, payload, qos=pub_qos, pid=pid if pub_qos else None))
    if pub_qos == 1:
        p = pub.expect(PUBACK)
        assert (p.flags, p.pid, len(p.body)) == (0, pid, 2), p
    elif pub_qos == 2:
        p = pub.expect(PUBREC)
        assert (p.flags, p.pid, len(p.body)) == (0, pid, 2), p
        pub.send(pubrel(pid))
        p = pub.expect(PUBCOMP)
        assert (p.flags, p.pid, len(p.body)) == (0, pid, 2), p

    want = min(pub_qos, sub_qos)
    p = sub.expect(PUBLISH)
    assert (p.topic, p.payload, p.qos, p.retain, p.dup) == (topic, payload, want, False, False)
    if want == 0:
        assert p.pid is None
    else:
        assert p.pid != 0
    if want == 1:
        sub.send(puback(p.pid))
    elif want == 2:
        sub.send(pubrec(p.pid))
        r = sub.expect(PUBREL)
        assert (r.flags, r.pid) == (0x02, p.pid), r
        sub.send(pubcomp(p.pid))
    # Exactly one delivery, no stray packets, both connections healthy.
    assert sub.is_open()
    assert pub.is_open()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_paho_roundtrip(broker, paho, uniq, qos):
    sub = paho(broker.port, "psub-" + uniq)
    assert sub.subscribe("paho/" + uniq, qos) == [qos]
    pub = paho(broker.port, "ppub-" + uniq)
    for i in range(5):
        pub.publish("paho/" + uniq, b"m%d" % i, qos=qos)
    got = [sub.get() for _ in range(5)]
    assert [(m.topic, m.payload, m.qos, m.retain) for m in got] == \
        [("paho/" + uniq, b"m%d" % i, qos, False) for i in range(5)]


def test_publisher_qos1_many_in_order(broker, paho, uniq):
    sub = paho(broker.port, "order-sub-" + uniq)
    assert sub.subscribe("order/" + uniq, 1) == [1]
    pub = paho(broker.port, "order-pub-" + uniq)
    n = 300
    infos = [pub.client.publish("order/" + uniq, b"%d" % i, 1) for i in range(n)]
    for info in infos:
        info.wait_for_publish(5)
        assert info.is_published()
    got = [int(sub.get().payload) for _ in range(n)]
    assert got == list(range(n))


def test_overlapping_subscriptions_one_copy_at_max_qos(broker, raw, uniq):
    sub = raw(broker.port, "ov-sub-" + uniq)
    base = "ov/" + uniq
    assert sub.subscribe([(base + "/#", 0), (base + "/b", 2), (mk(uniq), 0)]) == [0, 2, 0]
    pub = raw(broker.port, "ov-pub-" + uniq)
    pub.publish(base + "/b", b"once", qos=2, pid=5)
    pub.publish(base + "/c", b"only-hash", qos=2, pid=6)
    pub.publish(mk(uniq), b"M")
    got = sub.collect_until(mk(uniq))
    assert [(p.topic, p.payload, p.qos) for p in got] == [
        (base + "/b", b"once", 2), (base + "/c", b"only-hash", 0)], got


WILDCARD_CASES = [
    ("W/a/+/c", ["W/a/b/c", "W/a//c"], ["W/a/b/c/d", "W/a/c", "W/b/b/c", "W/a/b/d"]),
    ("W/a/#", ["W/a", "W/a/b", "W/a/b/c", "W/a/"], ["W/b", "W/ab", "W/b/a"]),
    ("W/+", ["W/a", "W/"], ["W/a/b", "W"]),
    ("W/+/+", ["W/a/b", "W//b", "W/a/"], ["W/a", "W/a/b/c"]),
    ("W/a/b", ["W/a/b"], ["W/a/b/", "W/A/b", "W/a/bb"]),
    ("W/+/b/#", ["W/a/b", "W/x/b/c/d"], ["W/a/c/b", "W/b"]),
    ("+/a", ["W/a", "/a"], ["W/a/b", "a"]),
    ("#", ["W", "/", "W/x/y/z", "x"], []),
]


@pytest.mark.parametrize("filt,yes,no", WILDCARD_CASES,
                         ids=[c[0] for c in WILDCARD_CASES])
def test_wildcard_matching(broker, raw, uniq, filt, yes, no):
    sub = raw(broker.port, "wc-sub-" + uniq)
    assert sub.subscribe([(filt, 0), ("M-" + uniq, 0)]) == [0, 0]
    pub = raw(broker.port, "wc-pub-" + uniq)
    topics = sorted(yes + no)
    for t in topics:
        pub.publish(t, t.encode())
    pub.publish("M-" + uniq, b"M")
    got = [p.topic for p in sub.collect_until("M-" + uniq)]
    assert got == [t for t in topics if t in yes], got


def test_sys_topics_not_matched_by_leading_wildcards(broker_factory, raw, uniq):
    b = broker_factory("sys_interval 1")
    watch = raw(b.port, "sys-watch-" + uniq)
    assert watch.subscribe([("$SYS/broker/uptime", 0)]) == [0]
    first = watch.recv_publish(3.0)  # retained, or the first periodic one
    assert first.topic == "$SYS/broker/uptime"
    wild = raw(b.port, "sys-wild-" + uniq)
    assert wild.subscribe([("#", 0), ("+/broker/uptime", 0), ("+/#", 0)]) == [0, 0, 0]
    # Wait for the next periodic $SYS publication.
    p = watch.recv_publish(3.0)
    assert p.topic == "$SYS/broker/uptime"
    pub = raw(b.port, "sys-pub-" + uniq)
    pub.publish("mark/" + uniq, b"M")
    got = wild.collect_until("mark/" + uniq)
    # '#' and '+/#' both match the marker itself once each; nothing else.
    assert [x.topic for x in got if x.topic.startswith("$")] == [], got


# --------------------------------------------------------------------------
# SUBSCRIBE / UNSUBSCRIBE
# --------------------------------------------------------------------------

@pytest.mark.parametrize("bad", ["a/#/b", "a/b#", "a+/b", "+a", "#/", "a/+b/c", "",
                                 "$share/g", "$share//t", "$share/g/"])
def test_invalid_filter_closes_connection(broker, raw, uniq, bad):
    """MQTT 3.1.1 has no code for one malformed filter: the SUBSCRIBE is a
    protocol violation, the connection closes without a SUBACK, and none of
    its filters is installed [MQTT-4.8.0-1]."""
    sub = raw(broker.port, "sa-" + uniq, clean=False)
    sub.send(mqttraw.subscribe(0x7E57, [("s1/" + uniq, 0), (bad, 1),
                                        ("s2/" + uniq + "/+", 2)]))
    sub.expect_closed()
    pub = raw(broker.port, "sa-pub-" + uniq)
    pub.publish("s1/" + uniq, b"queued?", qos=1, pid=1)
    # The persistent session came back without the valid filters either.
    again = mqttraw.RawClient(broker.port)
    try:
        assert again.connect("sa-" + uniq, clean=False).session_present == 1
        assert again.sync() == []
        again.disconnect()
    finally:
        again.close()
    mqttraw.assert_broker_serves(broker.port)


def test_subscribe_replaces_qos_of_same_filter(broker, raw, uniq):
    sub = raw(broker.port, "rep-" + uniq)
    t = "rep/" + uniq
    assert sub.subscribe([(t, 2), (mk(uniq), 0)], pid=1) == [2, 0]
    assert sub.subscribe([(t, 0)], pid=2) == [0]
    pub = raw(broker.port, "rep-pub-" + uniq)
    pub.publish(t, b"x", qos=2, pid=9)
    pub.publish(mk(uniq), b"M")
    got = sub.collect_until(mk(uniq))
    # One copy (the subscription was replaced, not added) at QoS 0.
    assert [(p.payload, p.qos) for p in got] == [(b"x", 0)]


def test_same_filter_twice_in_one_subscribe(broker, raw, uniq):
    sub = raw(broker.port, "twice-" + uniq)
    t = "twice/" + uniq
    assert sub.subscribe([(t, 1), (mk(uniq), 0), (t, 2)]) == [1, 0, 2]
    pub = raw(broker.port, "twice-pub-" + uniq)
    pub.publish(t, b"x", qos=2, pid=1)
    pub.publish(mk(uniq), b"M")
    got = sub.collect_until(mk(uniq))
    assert [(p.payload, p.qos) for p in got] == [(b"x", 2)]


def test_max_subscriptions(broker_factory, raw, uniq):
    require_agora("max_subscriptions")
    b = broker_factory("max_subscriptions 3")
    c = raw(b.port, "maxsub-" + uniq)
    assert c.subscribe([("m/1", 1), ("m/2", 1), ("m/3", 1), ("m/4", 1)]) == [1, 1, 1, 0x80]
    # Re-subscribing an existing filter is a replacement, not a new one.
    assert c.subscribe([("m/1", 2)], pid=2) == [2]
    assert c.subscribe([("m/5", 0)], pid=3) == [0x80]
    c.unsubscribe(["m/2"], pid=4)
    assert c.subscribe([("m/5", 0)], pid=5) == [0]
    # The limit is per client.
    other = raw(b.port, "maxsub2-" + uniq)
    assert other.subscribe([("m/1", 0), ("m/2", 0), ("m/3", 0)]) == [0, 0, 0]


def test_unsubscribe_stops_delivery(broker, raw, uniq):
    sub = raw(broker.port, "un-" + uniq)
    u1, u2 = "un/%s/1" % uniq, "un/%s/2" % uniq
    assert sub.subscribe([(u1, 1), (u2, 1), (mk(uniq), 0)]) == [1, 1, 0]
    pub = raw(broker.port, "un-pub-" + uniq)
    pub.publish(u1, b"before", qos=1, pid=1)
    pub.publish(mk(uniq), b"M")
    assert [p.payload for p in sub.collect_until(mk(uniq))] == [b"before"]

    sub.send(mqttraw.unsubscribe(0xBEEF, [u1]))
    p = sub.expect(mqttraw.UNSUBACK)
    assert (p.flags, p.pid, len(p.body)) == (0, 0xBEEF, 2), p
    # Filters are compared literally: this one is not subscribed, still acked.
    sub.send(mqttraw.unsubscribe(0x0101, ["un/%s/+" % uniq, "never/subscribed"]))
    assert sub.expect(mqttraw.UNSUBACK).pid == 0x0101

    pub.publish(u1, b"after", qos=1, pid=2)
    pub.publish(u2, b"other", qos=1, pid=3)
    pub.publish(mk(uniq), b"M")
    got = sub.collect_until(mk(uniq))
    assert [(p.topic, p.payload) for p in got] == [(u2, b"other")]


def test_clean_session_discards_subscriptions(broker, raw, uniq):
    cid = "cs-" + uniq
    c = raw(broker.port, cid, clean=True)
    assert c.subscribe([("cs/" + uniq, 1)]) == [1]
    c.disconnect()
    c = raw(broker.port)
    assert c.connect(cid, clean=True).session_present == 0
    assert c.subscribe([(mk(uniq), 0)]) == [0]
    pub = raw(broker.port, "cs-pub-" + uniq)
    pub.publish("cs/" + uniq, b"nobody", qos=1, pid=1)
    pub.publish(mk(uniq), b"M")
    assert c.collect_until(mk(uniq)) == []


# --------------------------------------------------------------------------
# QoS 2 exactly once
# --------------------------------------------------------------------------

def test_qos2_duplicate_publish_delivered_once(broker, raw, uniq):
    t = "eo/" + uniq
    sub = raw(broker.port, "eo-sub-" + uniq)
    assert sub.subscribe([(t, 2), (mk(uniq), 0)]) == [2, 0]
    pub = raw(broker.port, "eo-pub-" + uniq)
    pub.send(publish(t, b"exactly-once", qos=2, pid=7))
    assert pub.expect(PUBREC).pid == 7
    # Retransmission with DUP before PUBREL: PUBREC again, no new message.
    pub.send(publish(t, b"exactly-once", qos=2, pid=7, dup=True))
    assert pub.expect(PUBREC).pid == 7
    pub.send(pubrel(7))
    assert pub.expect(PUBCOMP).pid == 7
    # A PUBREL for an id already completed is still answered [MQTT-4.3.3-2].
    pub.send(pubrel(7))
    assert pub.expect(PUBCOMP).pid == 7
    # After PUBCOMP the id is free again: a new message with it is new.
    pub.publish(t, b"second", qos=2, pid=7)
    pub.publish(mk(uniq), b"M")
    got = sub.collect_until(mk(uniq))
    assert [(p.payload, p.qos) for p in got] == [(b"exactly-once", 2), (b"second", 2)]


def test_qos2_exactly_once_across_publisher_reconnect(broker, raw, uniq):
    t = "eor/" + uniq
    sub = raw(broker.port, "eor-sub-" + uniq)
    assert sub.subscribe([(t, 2), (mk(uniq), 0)]) == [2, 0]
    cid = "eor-pub-" + uniq
    pub = raw(broker.port, cid, clean=False)
    pub.send(publish(t, b"once across", qos=2, pid=5))
    assert pub.expect(PUBREC).pid == 5
    pub.abort()  # lost before PUBREL
    pub = raw(broker.port)
    assert pub.connect(cid, clean=False).session_present == 1
    # The client did not see the PUBREC: it resends the PUBLISH with DUP.
    pub.send(publish(t, b"once across", qos=2, pid=5, dup=True))
    assert pub.expect(PUBREC).pid == 5
    pub.send(pubrel(5))
    assert pub.expect(PUBCOMP).pid == 5
    pub.publish(mk(uniq), b"M")
    got = sub.collect_until(mk(uniq))
    assert [p.payload for p in got] == [b"once across"]


# --------------------------------------------------------------------------
# Retained messages
# --------------------------------------------------------------------------

def test_retained_last_wins_and_flag_set_on_subscribe(broker, raw, uniq):
    t = "ret/" + uniq
    pub = raw(broker.port, "ret-pub-" + uniq)
    pub.publish(t, b"v1", qos=1, retain=True, pid=1)
    pub.publish(t, b"v2", qos=1, retain=True, pid=2)
    sub = raw(broker.port, "ret-sub-" + uniq)
    assert sub.subscribe([(t, 1)]) == [1]
    p = sub.recv_publish()
    assert (p.topic, p.payload, p.retain, p.qos) == (t, b"v2", True, 1)
    assert sub.is_open()  # no second retained copy


def test_live_delivery_has_retain_zero(broker, raw, uniq):
    t = "retlive/" + uniq
    sub = raw(broker.port, "rl-sub-" + uniq)
    assert sub.subscribe([(t, 1)]) == [1]
    pub = raw(broker.port, "rl-pub-" + uniq)
    pub.publish(t, b"live", qos=1, retain=True, pid=1)
    p = sub.recv_publish()
    assert (p.payload, p.retain) == (b"live", False)
    # ...but it was stored: a new subscription gets it with retain 1.
    sub2 = raw(broker.port, "rl-sub2-" + uniq)
    assert sub2.subscribe([(t, 1)]) == [1]
    p = sub2.recv_publish()
    assert (p.payload, p.retain) == (b"live", True)


def test_empty_retained_payload_deletes(broker, raw, uniq):
    t = "retdel/" + uniq
    existing = raw(broker.port, "rd-ex-" + uniq)
    assert existing.subscribe([(t, 0), (mk(uniq), 0)]) == [0, 0]
    pub = raw(broker.port, "rd-pub-" + uniq)
    pub.publish(t, b"keep me?", qos=1, retain=True, pid=1)
    pub.publish(t, b"", qos=1, retain=True, pid=2)
    pub.publish(mk(uniq), b"M")
    # The deletion is delivered as a normal (empty) message.
    got = existing.collect_until(mk(uniq))
    assert [(p.payload, p.retain) for p in got] == [(b"keep me?", False), (b"", False)]
    late = raw(broker.port, "rd-late-" + uniq)
    assert late.subscribe([(t, 0), (mk(uniq), 0)]) == [0, 0]
    pub.publish(mk(uniq), b"M")
    assert late.collect_until(mk(uniq)) == []


def test_retained_with_wildcard_and_qos_downgrade(broker, raw, uniq):
    base = "rw/" + uniq
    pub = raw(broker.port, "rw-pub-" + uniq)
    pub.publish(base + "/a", b"A", qos=2, retain=True, pid=1)
    pub.publish(base + "/b", b"B", qos=0, retain=True)
    pub.publish(base + "/c/d", b"CD", qos=1, retain=True, pid=2)
    pub.publish("rw-other/" + uniq, b"X", qos=1, retain=True, pid=3)
    pub.publish(mk(uniq), b"M")  # same connection: all above routed before
    sub = raw(broker.port, "rw-sub-" + uniq)
    assert sub.subscribe([(base + "/#", 1)]) == [1]
    got = {}
    for _ in range(3):
        p = sub.recv_publish()
        got[p.topic] = (p.payload, p.qos, p.retain)
    assert got == {base + "/a": (b"A", 1, True), base + "/b": (b"B", 0, True),
                   base + "/c/d": (b"CD", 1, True)}
    assert sub.is_open()
    # Subscribing again re-sends the retained messages [MQTT-3.8.4-3].
    assert sub.subscribe([(base + "/b", 0)], pid=2) == [0]
    p = sub.recv_publish()
    assert (p.topic, p.payload, p.retain) == (base + "/b", b"B", True)


def test_max_retained_messages(broker_factory, raw, uniq):
    """docs/mqtt.md, "retained limit": beyond max_retained_messages a retained
    publish on a new topic is delivered but not retained; the broker's own
    $SYS topics count neither against the limit nor in the count. So of four
    topics the first two are kept, whenever the $SYS updates come."""
    require_agora("max_retained_messages")
    count = "$SYS/broker/retained messages/count"
    b = broker_factory("max_retained_messages 2", "sys_interval 1")
    pub = raw(b.port, "mr-pub-" + uniq)
    for i in range(4):  # QoS 1: each stored or refused before the next
        pub.publish("mr/%s/%d" % (uniq, i), b"v%d" % i, qos=1, retain=True, pid=i + 1)
    sub = raw(b.port, "mr-sub-" + uniq)
    assert sub.subscribe([("mr/%s/#" % uniq, 0), (mk(uniq), 0)]) == [0, 0]
    pub.publish(mk(uniq), b"M")
    got = sub.collect_until(mk(uniq))
    # The order of a wildcard's retained messages is not specified.
    assert sorted((p.topic, p.payload, p.retain) for p in got) == [
        ("mr/%s/0" % uniq, b"v0", True), ("mr/%s/1" % uniq, b"v1", True)], got
    # The count: the first update after the publishes says 2 (one from
    # before them, retained, may come first with less), and none says more.
    watch = raw(b.port, "mr-watch-" + uniq)
    assert watch.subscribe([(count, 0)]) == [0]
    vals = []
    for v in sys_values(watch, count, 5.0):
        vals.append(v)
        if v >= 2:
            break
    assert vals and vals[-1] == 2 and max(vals) == 2, vals


# --------------------------------------------------------------------------
# Wills
# --------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["fin", "rst"])
def test_will_published_on_close_without_disconnect(broker, raw, uniq, how):
    t = "will/" + uniq
    sub = raw(broker.port, "w-sub-" + uniq)
    assert sub.subscribe([(t, 2)]) == [2]
    c = raw(broker.port, "w-" + uniq, will=(t, b"gone \x00\xff", 1, False))
    assert c.is_open()
    if how == "fin":
        c.close()
    else:
        c.abort()
    p = sub.recv_publish(3.0)
    assert (p.topic, p.payload, p.qos, p.retain) == (t, b"gone \x00\xff", 1, False)
    assert sub.is_open()  # exactly once


def test_will_retain_honoured(broker, raw, uniq):
    t = "willret/" + uniq
    sub = raw(broker.port, "wr-sub-" + uniq)
    assert sub.subscribe([(t, 1)]) == [1]
    c = raw(broker.port, "wr-" + uniq, will=(t, b"last words", 1, True))
    c.drop()
    p = sub.recv_publish(3.0)
    assert (p.payload, p.retain) == (b"last words", False)  # live delivery
    late = raw(broker.port, "wr-late-" + uniq)
    assert late.subscribe([(t, 1)]) == [1]
    p = late.recv_publish()
    assert (p.topic, p.payload, p.retain, p.qos) == (t, b"last words", True, 1)


def test_will_not_published_after_disconnect(broker, raw, uniq):
    t = "willno/" + uniq
    sub = raw(broker.port, "wn-sub-" + uniq)
    assert sub.subscribe([(t, 0), (mk(uniq), 0)]) == [0, 0]
    c = raw(broker.port, "wn-" + uniq, will=(t, b"should not appear", 0, True))
    c.disconnect()  # returns once the broker has closed its side
    pub = raw(broker.port, "wn-pub-" + uniq)
    pub.publish(mk(uniq), b"M")
    assert sub.collect_until(mk(uniq)) == []
    late = raw(broker.port, "wn-late-" + uniq)
    assert late.subscribe([(t, 0), (mk(uniq), 0)]) == [0, 0]
    pub.publish(mk(uniq), b"M")
    assert late.collect_until(mk(uniq)) == []  # not retained either


# --------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------

def test_session_takeover_closes_first_connection(broker, raw, uniq):
    cid = "take-" + uniq
    first = raw(broker.port, cid)
    second = raw(broker.port)
    assert second.connect(cid).rc == 0
    first.expect_closed(3.0)
    assert second.is_open()
    assert_other = raw(broker.port, "take-other-" + uniq)
    assert assert_other.is_open()


def test_session_takeover_keeps_persistent_session(broker, raw, uniq):
    cid = "takep-" + uniq
    t = "takep/" + uniq
    first = raw(broker.port, cid, clean=False)
    assert first.subscribe([(t, 1)]) == [1]
    second = raw(broker.port)
    assert second.connect(cid, clean=False).session_present == 1
    first.expect_closed(3.0)
    pub = raw(broker.port, "takep-pub-" + uniq)
    pub.publish(t, b"to-second", qos=1, pid=1)
    p = second.recv_publish()
    assert (p.topic, p.payload) == (t, b"to-second")


def test_session_present_flag(broker, raw, uniq):
    cid = "sp-" + uniq

    def conn(clean):
        c = raw(broker.port)
        p = c.connect(cid, clean=clean)
        assert p.flags == 0 and p.body[0] & 0xFE == 0, p.raw
        sp = p.session_present
        c.disconnect()
        return sp

    assert conn(True) == 0
    assert conn(False) == 0   # no session existed
    assert conn(False) == 1   # persistent session kept
    assert conn(False) == 1
    assert conn(True) == 0    # clean session discards it...
    assert conn(False) == 0   # ...and does not leave one behind
    assert conn(True) == 0


def test_persistent_session_gets_offline_messages_in_order(broker, raw, uniq):
    cid = "ps-" + uniq
    t = "ps/" + uniq
    c = raw(broker.port, cid, clean=False)
    assert c.subscribe([(t, 1)]) == [1]
    c.disconnect()
    pub = raw(broker.port, "ps-pub-" + uniq)
    for i in range(5):
        pub.publish(t, b"offline-%d" % i, qos=1, pid=i + 1)
    c = raw(broker.port)
    assert c.connect(cid, clean=False).session_present == 1
    got = [c.recv_publish() for _ in range(5)]
    assert [(p.payload, p.qos, p.dup) for p in got] == \
        [(b"offline-%d" % i, 1, False) for i in range(5)]
    # Subscription still active after reconnect, nothing else pending.
    pub.publish(t, b"live", qos=1, pid=9)
    assert c.recv_publish().payload == b"live"
    assert c.is_open()


def test_persistent_session_with_paho(broker, paho, uniq):
    cid = "pps-" + uniq
    t = "pps/" + uniq
    c = paho(broker.port, cid, clean_session=False)
    assert c.subscribe(t, 2) == [2]
    c.disconnect()
    pub = paho(broker.port, "pps-pub-" + uniq)
    for i in range(3):
        pub.publish(t, b"q2-%d" % i, qos=2)
    c = paho(broker.port, cid, clean_session=False, connect=False)
    flags, rc = c.connect()
    assert flags.get("session present") == 1
    got = [c.get() for _ in range(3)]
    assert [(m.payload, m.qos) for m in got] == [(b"q2-%d" % i, 2) for i in range(3)]


def test_qos0_not_queued_for_offline_session(broker, raw, uniq):
    cid = "q0-" + uniq
    t = "q0/" + uniq
    c = raw(broker.port, cid, clean=False)
    assert c.subscribe([(t, 1), (mk(uniq), 0)]) == [1, 0]
    c.disconnect()
    pub = raw(broker.port, "q0-pub-" + uniq)
    pub.publish(t, b"qos0-offline", qos=0)
    pub.publish(t, b"qos1-offline", qos=1, pid=1)
    c = raw(broker.port)
    assert c.connect(cid, clean=False).session_present == 1
    pub.publish(mk(uniq), b"M")
    got = c.collect_until(mk(uniq))
    assert [(p.payload, p.qos) for p in got] == [(b"qos1-offline", 1)]


def test_offline_queue_limit_drops_and_counts(broker_factory, raw, uniq):
    b = broker_factory("max_queued_messages 5", "sys_interval 1")
    cid = "ql-" + uniq
    t = "ql/" + uniq
    c = raw(b.port, cid, clean=False)
    assert c.subscribe([(t, 1), (mk(uniq), 0)]) == [1, 0]
    c.disconnect()
    pub = raw(b.port, "ql-pub-" + uniq)
    for i in range(10):
        pub.publish(t, b"n%d" % i, qos=1, pid=i + 1)  # all PUBACKed
    c = raw(b.port)
    assert c.connect(cid, clean=False).session_present == 1
    pub.publish(mk(uniq), b"M")
    got = c.collect_until(mk(uniq))
    # The first five were queued, the rest dropped.
    assert [p.payload for p in got] == [b"n%d" % i for i in range(5)]
    watch = raw(b.port, "ql-watch-" + uniq)
    assert watch.subscribe([("$SYS/broker/publish/messages/dropped", 0)]) == [0]
    seen = []
    for v in sys_values(watch, "$SYS/broker/publish/messages/dropped", 3.0):
        seen.append(v)
        if v >= 5:
            break
    assert seen and seen[-1] >= 5, "dropped counter values seen: %r" % seen


def test_unacked_qos1_resent_with_dup_on_reconnect(broker, raw, uniq):
    cid = "re1-" + uniq
    t = "re1/" + uniq
    c = raw(broker.port, cid, clean=False)
    assert c.subscribe([(t, 1)]) == [1]
    pub = raw(broker.port, "re1-pub-" + uniq)
    for i in range(3):
        pub.publish(t, b"r%d" % i, qos=1, pid=i + 1)
    first = [c.recv_publish(ack=False) for _ in range(3)]
    assert [(p.payload, p.dup) for p in first] == [(b"r%d" % i, False) for i in range(3)]
    c.abort()  # never acknowledged
    c = raw(broker.port)
    assert c.connect(cid, clean=False).session_present == 1
    again = [c.recv_publish(ack=False) for _ in range(3)]
    assert [(p.payload, p.dup, p.qos, p.pid) for p in again] == \
        [(p.payload, True, 1, p.pid) for p in first]
    for p in again:
        c.send(puback(p.pid))
    # Acknowledged now: nothing is sent again on the next reconnect.
    c.disconnect()
    c = raw(broker.port)
    assert c.connect(cid, clean=False).session_present == 1
    assert c.subscribe([(mk(uniq), 0)]) == [0]
    pub.publish(mk(uniq), b"M")
    assert c.collect_until(mk(uniq)) == []


def test_unacked_qos2_resent_publish_then_pubrel(broker, raw, uniq):
    cid = "re2-" + uniq
    t = "re2/" + uniq
    c = raw(broker.port, cid, clean=False)
    assert c.subscribe([(t, 2)]) == [2]
    pub = raw(broker.port, "re2-pub-" + uniq)
    pub.publish(t, b"two", qos=2, pid=1)
    p = c.recv_publish(ack=False)
    assert (p.payload, p.qos, p.dup) == (b"two", 2, False)
    c.abort()  # no PUBREC: the PUBLISH must be resent
    c = raw(broker.port)
    assert c.connect(cid, clean=False).session_present == 1
    p2 = c.recv_publish(ack=False)
    assert (p2.payload, p2.qos, p2.dup, p2.pid) == (b"two", 2, True, p.pid)
    c.send(pubrec(p2.pid))
    r = c.expect(PUBREL)
    assert (r.flags, r.pid) == (0x02, p.pid)
    c.abort()  # no PUBCOMP: the PUBREL (not the PUBLISH) must be resent
    c = raw(broker.port)
    assert c.connect(cid, clean=False).session_present == 1
    r = c.recv_packet()
    assert (r.type, r.flags, r.pid) == (PUBREL, 0x02, p.pid), r
    c.send(pubcomp(r.pid))
    assert c.is_open()


def test_inflight_window(broker_factory, raw, uniq):
    b = broker_factory("max_inflight_messages 2")
    t = "if/" + uniq
    sub = raw(b.port, "if-sub-" + uniq)
    assert sub.subscribe([(t, 1)]) == [1]
    pub = raw(b.port, "if-pub-" + uniq)
    for i in range(5):
        pub.publish(t, b"w%d" % i, qos=1, pid=i + 1)
    first = [sub.recv_publish(ack=False) for _ in range(2)]
    assert [p.payload for p in first] == [b"w0", b"w1"]
    sub.expect_no_packet(0.5)  # window full
    sub.send(puback(first[0].pid))
    p = sub.recv_publish(ack=False)
    assert p.payload == b"w2"
    sub.expect_no_packet(0.3)
    for q in (first[1], p):
        sub.send(puback(q.pid))
    rest = [sub.recv_publish(ack=False) for _ in range(2)]
    assert [q.payload for q in rest] == [b"w3", b"w4"]
    for q in rest:
        sub.send(puback(q.pid))
    assert sub.is_open()


def test_outgoing_packet_ids_unique_while_in_flight(broker, raw, uniq):
    t = "pid/" + uniq
    sub = raw(broker.port, "pid-sub-" + uniq)
    assert sub.subscribe([(t, 2)]) == [2]
    pub = raw(broker.port, "pid-pub-" + uniq)
    n = 60  # within the default window (1000)
    for i in range(n):
        pub.publish(t, b"%d" % i, qos=1 + i % 2, pid=i + 1)
    got = [sub.recv_publish(ack=False) for _ in range(n)]
    assert [int(p.payload) for p in got] == list(range(n))
    pids = [p.pid for p in got]
    assert 0 not in pids and len(set(pids)) == n, pids
    for p in got:
        sub.ack(p)
    assert sub.is_open()


def test_slow_online_session_queue_limit(broker_factory, raw, uniq):
    require_agora("max_queued_messages counted beyond the inflight window")
    b = broker_factory("max_inflight_messages 2", "max_queued_messages 3")
    t = "slowq/" + uniq
    sub = raw(b.port, "slowq-sub-" + uniq)
    assert sub.subscribe([(t, 1), (mk(uniq), 0)]) == [1, 0]
    pub = raw(b.port, "slowq-pub-" + uniq)
    for i in range(10):
        pub.publish(t, b"s%d" % i, qos=1, pid=i + 1)
    pub.publish(mk(uniq), b"M")
    # 2 in flight + 3 queued; the other 5 dropped. The QoS 0 marker is not
    # held back by the window.
    got = []
    for _ in range(20):
        p = sub.expect(PUBLISH)
        if p.topic == mk(uniq):
            break
        got.append(p)
    assert [p.payload for p in got] == [b"s0", b"s1"]
    # Acknowledge everything as it comes; PINGREQ/PINGRESP shows what the
    # broker sent in response to the acknowledgements.
    rest = []
    pending = got
    for _ in range(10):
        if not pending:
            break
        for p in pending:
            sub.send(puback(p.pid))
        pending = sub.sync()
        assert all(p.type == PUBLISH for p in pending), pending
        rest += pending
    assert [p.payload for p in rest] == [b"s2", b"s3", b"s4"]


# --------------------------------------------------------------------------
# Payloads, topics, fan-out
# --------------------------------------------------------------------------

def test_large_payload_intact(broker, raw, uniq):
    t = "big/" + uniq
    sub = raw(broker.port, "big-sub-" + uniq)
    assert sub.subscribe([(t, 1)]) == [1]
    pub = raw(broker.port, "big-pub-" + uniq)
    payload = bytes(range(256)) * 1200  # 307200 bytes: 3-byte length
    pub.publish(t, payload, qos=1, pid=1)
    p = sub.recv_publish(10.0)
    assert len(p.payload) == len(payload) and p.payload == payload


def test_empty_payload_and_utf8_topic(broker, raw, uniq):
    t = "température/é/日本/" + uniq
    sub = raw(broker.port, "utf-sub-" + uniq)
    assert sub.subscribe([("température/+/日本/" + uniq, 1)]) == [1]
    pub = raw(broker.port, "utf-pub-" + uniq)
    pub.publish(t, b"", qos=1, pid=1)
    p = sub.recv_publish()
    assert (p.topic, p.payload) == (t, b"")


def test_fanout_to_many_subscribers(broker, raw, uniq):
    t = "fan/" + uniq
    subs = []
    for i in range(20):
        s = raw(broker.port, "fan-%d-%s" % (i, uniq))
        assert s.subscribe([(t, i % 3)]) == [i % 3]
        subs.append(s)
    pub = raw(broker.port, "fan-pub-" + uniq)
    pub.publish(t, b"to all", qos=2, pid=1)
    for i, s in enumerate(subs):
        p = s.recv_publish()
        assert (p.payload, p.qos) == (b"to all", i % 3)
