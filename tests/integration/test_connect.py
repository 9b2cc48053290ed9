"""CONNECT handling, malformed input and timers, on raw sockets."""

import time

import pytest
import requests

import mqttraw
from mqttraw import (CONNACK, PINGRESP, PUBLISH, RawClient, assert_broker_serves,
                     connect, mqtt_str, packet, publish)
from conftest import require_agora


CONNACK_OK = bytes([0x20, 0x02, 0x00, 0x00])


def connack_refused(p):
    """allow= predicate: a CONNACK with a failure code (session present 0)."""
    return p.type == CONNACK and p.rc != 0 and p.session_present == 0


# --------------------------------------------------------------------------
# Accepted connections
# --------------------------------------------------------------------------

def test_connect_311_accepted(broker, raw):
    c = raw(broker.port)
    c.send(connect("c311", clean=True, keepalive=30))
    p = c.recv_packet()
    assert p.raw == CONNACK_OK, p
    c.send(mqttraw.pingreq())
    assert c.recv_packet().raw == bytes([0xD0, 0x00])


def test_connect_31_accepted(broker, raw):
    c = raw(broker.port)
    c.send(mqttraw.connect31("c31", clean=True, keepalive=30))
    p = c.recv_packet()
    assert p.raw == CONNACK_OK, p
    # A 3.1 client can subscribe and receive.
    assert c.subscribe([("v31/t", 1)], pid=3) == [1]
    c.send(publish("v31/t", b"hello31", qos=1, pid=4))
    # PUBACK and the delivered PUBLISH may come in either order.
    got = {p.type: p for p in (c.recv_packet(), c.recv_packet())}
    assert set(got) == {mqttraw.PUBACK, PUBLISH}, got
    assert got[mqttraw.PUBACK].pid == 4
    pub = got[PUBLISH]
    assert (pub.topic, pub.payload, pub.qos) == ("v31/t", b"hello31", 1)
    c.ack(pub)
    assert c.is_open()


def test_connect_with_username_password_accepted(broker, raw):
    # MQTT logins use the REST API's accounts (docs/api.md, "Over MQTT").
    require_agora("accounts shared with the HTTP API")
    r = requests.post(broker.http_url + "/api/users",
                      json={"name": "mqttuser", "password": "secret-pass"}, timeout=10)
    assert r.status_code == 201, r.text
    p = raw(broker.port).connect("with-creds", username="mqttuser", password=b"secret-pass")
    assert p.rc == 0
    # Any case of the name is the same account.
    p = raw(broker.port).connect("with-creds2", username="MQTTUser", password=b"secret-pass")
    assert p.rc == 0


def test_connect_with_wrong_password_refused(broker, raw):
    # A bad password is refused even where anonymous clients are welcome:
    # it never falls back to anonymous. 3.1.1 says 0x04.
    require_agora("accounts shared with the HTTP API")
    r = requests.post(broker.http_url + "/api/users",
                      json={"name": "mqttuser", "password": "secret-pass"}, timeout=10)
    assert r.status_code == 201, r.text
    c = raw(broker.port)
    p = c.connect("bad-creds", username="mqttuser", password=b"secret\x00\xff", expect_rc=4)
    assert p.rc == 4
    c.expect_closed(3.0)
    p = raw(broker.port).connect("no-user", username="nobody", password=b"secret-pass",
                               expect_rc=4)
    assert p.rc == 4
    assert_broker_serves(broker.port)


@pytest.mark.parametrize("level", [6, 0x7F, 2])
def test_unsupported_protocol_level_refused(broker_factory, raw, level):
    # A 3.1.1-shaped body with a level no version has: CONNACK 0x01, then
    # closed [MQTT-3.1.2-2].
    broker = broker_factory()
    c = raw(broker.port)
    c.send(connect("lvl%d" % level, level=level))
    _, got = c.expect_closed(3.0, allow=lambda p: p.type == CONNACK)
    assert [p.raw for p in got] == [bytes([0x20, 0x02, 0x00, 0x01])], got
    assert_broker_serves(broker.port)


def test_mqtt5_connect_with_311_body_is_malformed(broker_factory, raw):
    # Level 5 with no property length: a malformed MQTT 5 CONNECT, answered
    # with an MQTT 5 CONNACK carrying reason 0x81 (Malformed Packet), then
    # closed [MQTT 5.0, 4.13.1].
    require_agora("MQTT 5 CONNACK 0x81 for a malformed v5 CONNECT")
    broker = broker_factory()
    c = raw(broker.port)
    c.send(connect("lvl5", level=5))
    _, got = c.expect_closed(3.0, allow=lambda p: p.type == CONNACK)
    assert [p.raw for p in got] == [bytes([0x20, 0x03, 0x00, 0x81, 0x00])], got
    assert_broker_serves(broker.port)


@pytest.mark.parametrize("props", [b"\x00", b"\x05\x11\x00\x00\x00\x10"],
                         ids=["no-properties", "session-expiry"])
def test_well_formed_mqtt5_connect_accepted(broker_factory, raw, props):
    # A real MQTT 5 CONNECT (properties before the payload) is accepted with
    # an MQTT 5 CONNACK: flags, reason 0, then a property block.
    require_agora("MQTT 5 CONNACK layout")
    broker = broker_factory()
    body = mqtt_str("MQTT") + bytes([5, 0x02, 0, 60]) + props + mqtt_str("v5client")
    c = raw(broker.port)
    c.send(packet(1, 0, body))
    p = c.recv_packet(3.0)
    assert p is not None and p.type == CONNACK, p
    assert p.raw[2:4] == bytes([0x00, 0x00]), p.raw  # no session, success
    assert len(p.raw) > 5, "an MQTT 5 CONNACK carries properties"
    assert c.is_open()
    assert_broker_serves(broker.port)


def test_bad_protocol_name_closed(broker, raw):
    c = raw(broker.port)
    c.send(connect("badname", proto_name=b"MQTX"))
    # No CONNACK 0: either closed at once or after a refusal CONNACK.
    c.expect_closed(3.0, allow=connack_refused)
    assert_broker_serves(broker.port)


@pytest.mark.parametrize("flags,why", [
    (0x03, "reserved bit 0 set"),
    (0x02 | 0x10, "will QoS without will flag"),
    (0x02 | 0x20, "will retain without will flag"),
    (0x02 | 0x40, "password flag without username flag"),
])
def test_bad_connect_flags_closed(broker, raw, flags, why):
    c = raw(broker.port)
    body = b""
    if flags & 0x40:
        body = mqtt_str("pw")
    c.send(connect("badflags", flags=flags, extra=body))
    _, got = c.expect_closed(3.0)
    assert got == [], why
    assert_broker_serves(broker.port)


@pytest.mark.parametrize("data", [
    connect("trailing", extra=b"\x00"),
    mqttraw.packet(1, 0, b"\x00\x10MQTT"),
    mqttraw.packet(1, 0, mqtt_str("MQTT") + bytes([4, 0x02, 0, 60]) + b"\x00\x09short"),
    mqttraw.packet(1, 0, mqtt_str("MQTT") + bytes([4, 0x02])),
    mqttraw.packet(1, 0x1, connect("flagged")[2:]),
], ids=["trailing-byte", "name-overruns", "id-overruns", "no-keepalive", "header-flags"])
def test_malformed_connect_closed(broker, raw, data):
    c = raw(broker.port)
    c.send(data)
    c.expect_closed(3.0, allow=connack_refused)
    assert_broker_serves(broker.port)


@pytest.mark.parametrize("topic", ["w/+", "w/#", ""])
def test_invalid_will_topic_refused(broker, raw, topic):
    c = raw(broker.port)
    c.send(connect("badwill", will=(topic, b"x", 0, False)))
    c.expect_closed(3.0, allow=connack_refused)
    assert_broker_serves(broker.port)


def test_will_qos_3_closed(broker, raw):
    c = raw(broker.port)
    c.send(connect("willqos3", will=("w/t", b"x", 3, False)))
    c.expect_closed(3.0)
    assert_broker_serves(broker.port)


@pytest.mark.parametrize("first", [
    mqttraw.pingreq(),
    mqttraw.subscribe(1, [("a/b", 0)]),
    mqttraw.publish("a/b", b"x"),
    mqttraw.disconnect(),
], ids=["pingreq", "subscribe", "publish", "disconnect"])
def test_first_packet_not_connect_closed(broker, raw, first):
    c = raw(broker.port)
    c.send(first)
    c.expect_closed(3.0)
    assert_broker_serves(broker.port)


def test_second_connect_closed(broker, raw):
    c = raw(broker.port, "twice")
    c.send(connect("twice"))
    c.expect_closed(3.0)
    assert_broker_serves(broker.port)


def test_empty_client_id_clean_session_accepted(broker, raw, paho):
    a = raw(broker.port)
    assert a.connect("", clean=True).raw == CONNACK_OK
    b = raw(broker.port)
    assert b.connect("", clean=True).raw == CONNACK_OK
    # Two anonymous-id clients get distinct identities: the second did not
    # take over the first.
    assert a.is_open(), "first empty-id client was disconnected by the second"
    assert b.is_open()
    # A library client with an empty id works end to end.
    p = paho(broker.port, client_id="", clean_session=True)
    assert p.subscribe("empty/id", 1) == [1]
    p.publish("empty/id", b"works", qos=1)
    m = p.get()
    assert (m.topic, m.payload) == ("empty/id", b"works")


def test_empty_client_id_persistent_session_refused(broker, raw):
    c = raw(broker.port)
    c.send(connect("", clean=False))
    _, got = c.expect_closed(3.0, allow=lambda p: p.type == CONNACK)
    assert [p.raw for p in got] == [bytes([0x20, 0x02, 0x00, 0x02])], got
    assert_broker_serves(broker.port)


def test_long_client_id_accepted(broker, raw):
    # The server MAY allow more than 23 bytes; Agora documents no limit
    # below the packet size, so 200 bytes of multi-byte UTF-8 must work.
    cid = "é" * 100
    c = raw(broker.port)
    assert c.connect(cid).rc == 0
    assert c.is_open()


@pytest.mark.parametrize("cid", [
    b"\xff\xfe",            # not UTF-8 at all
    b"ab\xc0\x80cd",        # overlong encoding of U+0000
    b"ab\x00cd",            # U+0000 [MQTT-1.5.3-2]
    b"\xed\xa0\x80",        # UTF-16 surrogate [MQTT-1.5.3-1]
    b"abc\xe2\x82",         # truncated sequence
], ids=["ff", "overlong-nul", "nul", "surrogate", "truncated"])
def test_bad_utf8_client_id_closed(broker, raw, cid):
    c = raw(broker.port)
    c.send(connect(cid))
    c.expect_closed(3.0, allow=connack_refused)
    assert_broker_serves(broker.port)


# --------------------------------------------------------------------------
# Malformed packets after CONNECT
# --------------------------------------------------------------------------

def test_packet_over_max_packet_size_closed_before_body(broker_factory, raw):
    b = broker_factory("max_packet_size 1024")
    pub = raw(b.port, "big-pub")
    sub = raw(b.port, "big-sub")
    assert sub.subscribe([("big/#", 0)]) == [0]
    # Within the limit: delivered.
    pub.publish("big/ok", b"x" * 900, qos=0)
    got = sub.recv_publish()
    assert got.payload == b"x" * 900
    # Header announcing 1 MiB, body never sent: must be closed promptly, not
    # after waiting for the body.
    pub.send(bytes([0x30]) + mqttraw.varint(1024 * 1024) + b"\x00\x05big/x")
    elapsed, _ = pub.expect_closed(2.0)
    assert elapsed < 2.0
    # A complete over-limit packet also closes.
    big = raw(b.port, "big-pub2")
    big.try_send(publish("big/no", b"y" * 2000))
    big.expect_closed(2.0)
    # The subscriber got nothing from those.
    sub.expect_no_packet(0.3)
    assert_broker_serves(b.port)


def test_remaining_length_five_bytes_closed(broker, raw):
    c = raw(broker.port, "varint5")
    c.send(bytes([0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) + b"\x00")
    c.expect_closed(3.0)
    assert_broker_serves(broker.port)


def test_remaining_length_five_bytes_before_connect_closed(broker, raw):
    c = raw(broker.port)
    c.send(bytes([0x10, 0x80, 0x80, 0x80, 0x80, 0x01]))
    c.expect_closed(3.0)
    assert_broker_serves(broker.port)


MALFORMED_AFTER_CONNECT = [
    ("subscribe-flags-0", packet(8, 0x0, b"\x00\x01" + mqtt_str("a/b") + b"\x00")),
    ("subscribe-flags-3", packet(8, 0x3, b"\x00\x01" + mqtt_str("a/b") + b"\x00")),
    ("unsubscribe-flags-0", packet(10, 0x0, b"\x00\x01" + mqtt_str("a/b"))),
    ("pubrel-flags-0", packet(6, 0x0, b"\x00\x01")),
    ("pingreq-flags-1", packet(12, 0x1)),
    ("disconnect-flags-2", packet(14, 0x2)),
    ("puback-flags-2", packet(4, 0x2, b"\x00\x01")),
    ("type-0", packet(0, 0, b"")),
    ("type-15", packet(15, 0, b"")),
    ("connack-from-client", packet(2, 0, b"\x00\x00")),
    ("suback-from-client", packet(9, 0, b"\x00\x01\x00")),
    ("pingresp-from-client", packet(13, 0)),
    ("publish-qos3", packet(3, 0x6, mqtt_str("a/b") + b"\x00\x01x")),
    ("publish-wildcard-plus", publish("a/+/b", b"x")),
    ("publish-wildcard-hash", publish("a/#", b"x")),
    ("publish-empty-topic", publish("", b"x")),
    ("publish-bad-utf8-topic", packet(3, 0, mqtt_str(b"a/\xff") + b"x")),
    ("publish-nul-topic", packet(3, 0, mqtt_str(b"a/\x00b") + b"x")),
    ("publish-qos1-pid0", packet(3, 0x2, mqtt_str("a/b") + b"\x00\x00x")),
    ("publish-topic-overruns", packet(3, 0, b"\x00\x10ab")),
    ("subscribe-no-filters", packet(8, 0x2, b"\x00\x01")),
    ("subscribe-qos3", packet(8, 0x2, b"\x00\x01" + mqtt_str("a/b") + b"\x03")),
    ("subscribe-reserved-bits", packet(8, 0x2, b"\x00\x01" + mqtt_str("a/b") + b"\x41")),
    ("subscribe-pid0", packet(8, 0x2, b"\x00\x00" + mqtt_str("a/b") + b"\x00")),
    ("subscribe-missing-qos", packet(8, 0x2, b"\x00\x01" + mqtt_str("a/b"))),
    ("subscribe-bad-utf8", packet(8, 0x2, b"\x00\x01" + mqtt_str(b"\xc3") + b"\x00")),
    ("unsubscribe-no-filters", packet(10, 0x2, b"\x00\x01")),
    ("pingreq-with-body", packet(12, 0, b"\x00")),
    ("puback-short", packet(4, 0, b"\x00")),
]


@pytest.mark.parametrize("data", [d for _, d in MALFORMED_AFTER_CONNECT],
                         ids=[n for n, _ in MALFORMED_AFTER_CONNECT])
def test_malformed_packet_after_connect_closed(broker, raw, data):
    c = raw(broker.port, "malformed")
    c.send(data)
    # Nothing is answered to a malformed packet: the connection just ends.
    _, got = c.expect_closed(3.0)
    assert got == []
    assert_broker_serves(broker.port)


def test_malformed_packet_publishes_will(broker, raw, uniq):
    sub = raw(broker.port, "will-watch-" + uniq)
    assert sub.subscribe([("will/" + uniq, 1)]) == [1]
    c = raw(broker.port, "will-bad-" + uniq, will=("will/" + uniq, b"bye", 1, False))
    c.send(packet(0, 0))
    c.expect_closed(3.0)
    p = sub.recv_publish(3.0)
    assert (p.topic, p.payload, p.qos, p.retain) == ("will/" + uniq, b"bye", 1, False)


# --------------------------------------------------------------------------
# Keepalive and CONNECT timeout
# --------------------------------------------------------------------------

def test_pingreq_gets_pingresp(broker, raw):
    c = raw(broker.port, "pinger")
    for _ in range(3):
        c.send(mqttraw.pingreq())
        p = c.recv_packet(2.0)
        assert p.raw == bytes([0xD0, 0x00]), p


def test_keepalive_timeout_closes_and_publishes_will(broker, raw, uniq):
    topic = "will/ka/" + uniq
    sub = raw(broker.port, "ka-watch-" + uniq)
    assert sub.subscribe([(topic, 2)]) == [2]
    c = raw(broker.port)
    c.connect("ka-" + uniq, keepalive=1, will=(topic, b"lost", 2, False))
    start = time.monotonic()
    elapsed, got = c.expect_closed(5.0)
    elapsed = time.monotonic() - start
    assert got == []
    # 1.5 x keepalive, checked about once a second: between 1.3 s and 3 s.
    assert 1.3 <= elapsed <= 3.0, "closed after %.2fs, keepalive 1" % elapsed
    p = sub.recv_publish(3.0)
    assert (p.topic, p.payload, p.qos) == (topic, b"lost", 2)


def test_keepalive_reset_by_pings(broker, raw):
    c = raw(broker.port)
    c.connect("ka-alive", keepalive=1)
    start = time.monotonic()
    pings = 0
    # Ping every ~0.5 s for 3 s (twice the 1.5 s limit): never closed.
    while time.monotonic() - start < 3.0 and pings < 20:
        c.expect_no_packet(0.5)
        c.send(mqttraw.pingreq())
        c.expect(PINGRESP, 2.0)
        pings += 1
    assert pings >= 5


def test_keepalive_reset_by_publish(broker, raw):
    c = raw(broker.port)
    c.connect("ka-pub", keepalive=1)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < 3.0 and n < 20:
        c.expect_no_packet(0.5)
        c.publish("ka/pub", b"tick", qos=1, pid=n + 1)
        n += 1
    assert n >= 5


def test_keepalive_max_refuses_larger_and_zero(broker_factory, raw):
    b = broker_factory("keepalive_max 60")
    ok = raw(b.port)
    assert ok.connect("ka-60", keepalive=60).rc == 0
    for ka in (61, 65535, 0):
        c = raw(b.port)
        c.send(connect("ka-%d" % ka, keepalive=ka))
        _, got = c.expect_closed(3.0, allow=lambda p: p.type == CONNACK)
        assert [p.raw for p in got] == [bytes([0x20, 0x02, 0x00, 0x02])], (ka, got)
    assert ok.is_open()


def test_connect_timeout_closes_silent_connection(broker_factory):
    require_agora("connect_timeout")
    b = broker_factory("connect_timeout 1")
    c = RawClient(b.port)
    try:
        elapsed, got = c.expect_closed(4.0)
        assert got == []
        assert 0.8 <= elapsed <= 2.6, "closed after %.2fs with connect_timeout 1" % elapsed
    finally:
        c.close()
    assert_broker_serves(b.port)


def test_connect_timeout_not_extended_by_partial_connect(broker_factory):
    require_agora("connect_timeout")
    b = broker_factory("connect_timeout 1")
    c = RawClient(b.port)
    try:
        c.send(connect("slow")[:5])
        elapsed, got = c.expect_closed(4.0)
        assert got == []
        assert elapsed <= 2.6, "partial CONNECT kept open %.2fs" % elapsed
    finally:
        c.close()


def test_connect_timeout_does_not_affect_connected_clients(broker_factory):
    require_agora("connect_timeout")
    b = broker_factory("connect_timeout 1")
    c = RawClient(b.port)
    try:
        c.connect("prompt", keepalive=0)
        c.expect_no_packet(1.8)
        assert c.is_open()
    finally:
        c.close()


def test_keepalive_min_enforced(broker_factory, raw):
    require_agora("keepalive_min")
    b = broker_factory("keepalive_min 2")
    c = raw(b.port)
    c.connect("ka-min", keepalive=1)
    start = time.monotonic()
    c.expect_closed(6.0)
    elapsed = time.monotonic() - start
    # Enforced as 2 s: closed after 1.5 x 2 = 3 s (tick slack), not 1.5 s.
    assert 2.7 <= elapsed <= 4.5, "closed after %.2fs with keepalive 1, keepalive_min 2" % elapsed


def test_connect_split_across_writes(broker, raw):
    # Byte-at-a-time delivery must reassemble.
    c = raw(broker.port)
    data = connect("split", keepalive=30) + publish("split/t", b"p", qos=1, pid=77)
    for i in range(len(data)):
        c.send(data[i:i + 1])
    assert c.recv_packet().raw == CONNACK_OK
    p = c.expect(mqttraw.PUBACK)
    assert p.pid == 77


def test_several_packets_in_one_write(broker, raw):
    c = raw(broker.port)
    data = (connect("batch") + mqttraw.subscribe(5, [("batch/t", 1)])
            + publish("batch/t", b"one", qos=1, pid=6) + mqttraw.pingreq())
    c.send(data)
    types = []
    pub = None
    for _ in range(5):
        p = c.recv_packet()
        types.append(p.type)
        if p.type == PUBLISH:
            pub = p
    assert types[0] == CONNACK and types[1] == mqttraw.SUBACK, types
    assert sorted(types[2:]) == sorted([mqttraw.PUBACK, PUBLISH, PINGRESP]), types
    assert pub.payload == b"one"


def test_listener_refusing_anonymous_clients(broker_factory, raw):
    # "listener ADDR:PORT anonymous=no": that listener wants credentials
    # (an account), while the default loopback listener still takes
    # anonymous clients.
    require_agora("per-listener anonymous setting")
    from conftest import free_port
    strict = free_port()
    broker = broker_factory("listener 127.0.0.1:%d anonymous=no" % strict)
    broker.wait_log(r"listening on 127\.0\.0\.1:%d \(anonymous clients refused\)" % strict, 5)
    assert raw(broker.port).connect("anon-ok").rc == 0
    assert raw(strict).connect("anon-refused", expect_rc=5).rc == 5
    r = requests.post(broker.http_url + "/api/users",
                      json={"name": "strictuser", "password": "secret-pass"}, timeout=10)
    assert r.status_code == 201, r.text
    assert raw(strict).connect("with-account", username="strictuser",
                               password=b"secret-pass").rc == 0
