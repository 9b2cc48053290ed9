"""QoS flows a client gets wrong, and packets with invalid fields, on raw
sockets.

C. Acknowledgements of the wrong kind from a subscriber (PUBREC or PUBCOMP
   for a QoS 1 message, PUBACK or PUBCOMP for a QoS 2 one, PUBACK after the
   PUBREL) are protocol errors: the connection closes (MQTT 5: DISCONNECT
   0x82 first) and the persistent session resends on reconnection what is
   still unacknowledged. Acknowledgements for ids not in flight are
   ignored.
D. A PUBREC nobody expected: MQTT 3.1.1 answers PUBREL; MQTT 5 PUBREL 0x92,
   or nothing for a PUBREC with a failure code, which also ends a QoS 2
   flow for good.
E. MQTT 5 packets with invalid fields: DISCONNECT reason codes a client may
   not send, AUTH 0x00 from a client, PINGREQ with a body or flags,
   PINGRESP from a client, CONNECT with bytes after its last field.
F. A client Maximum Packet Size too small for the CONNACK: closed at once,
   nothing sent.
G. Receive Maximum (the `receive_maximum` setting, `max_qos2_pending` its
   deprecated alias): announced in CONNACK, enforced on QoS 2, never on QoS
   1, and QoS 2 messages refused in PUBREC free their id at once.

C to F share one broker (module-scoped, checked at the end like
broker_factory's), with a unique client id and topic per case; G starts a
broker per configuration. Mosquitto mode: refusals are checked loosely
(any failure CONNACK/DISCONNECT, or none, then the close); tests of
Agora's own codes and settings are skipped (see test_mqtt_input.py).
"""

import pytest

import mqttraw
from conftest import is_agora
from mqttraw import (CONNACK, DISCONNECT, PUBACK, PUBCOMP, PUBLISH, PUBREC, PUBREL,
                     SUBACK, answer_code, expect_refused, mqtt_str, topic_bytes)
from test_mqtt5 import (AUTH_METHOD, MAXIMUM_PACKET_SIZE, PAYLOAD_FORMAT,
                        RECEIVE_MAXIMUM, SESSION_EXPIRY, Connack5, Reason5,
                        agora_only, encode_props, publish5)
from test_mqtt_input import (TIMEOUT, connect_packet, module_broker, online,
                             persist_props, routed, subscribe_packet, suback_codes,
                             watcher)

VERSIONS = ("v311", "v5")


@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    yield from module_broker(tmp_path_factory, "flows")


def protocol_error_closed(c, version):
    """MQTT 5: DISCONNECT 0x82 then the close; 3.1.1: the close alone."""
    ptype, code = (DISCONNECT, 0x82) if version == "v5" else (None, None)
    expect_refused(c, ptype, code, TIMEOUT, exact=is_agora())


def malformed_closed(c, version, codes=(0x81,)):
    """MQTT 5: DISCONNECT with one of `codes` then the close; 3.1.1: the
    close alone."""
    if version != "v5" or not is_agora():
        expect_refused(c, None, None, TIMEOUT, exact=is_agora())
        return
    p = c.recv_packet(TIMEOUT)
    assert p.type == DISCONNECT and answer_code(p) in codes, \
        "expected DISCONNECT %s, got %r raw=%r" % (["0x%02x" % x for x in codes], p, p.raw)
    c.expect_closed(TIMEOUT)


# ==========================================================================
# C. Acknowledgements of the wrong kind
# ==========================================================================

ACK = {"puback": mqttraw.puback, "pubrec": mqttraw.pubrec, "pubcomp": mqttraw.pubcomp}


def subscriber_with_message(raw, port, version, uniq, qos):
    """A subscriber S with a persistent session, subscribed at QoS 2 to
    t/<uniq>/#, holding one unacknowledged message published at `qos`.
    Returns (client id, S, the PUBLISH)."""
    cid = "s-" + uniq
    s = online(raw, port, version, cid, clean=False, props=persist_props(version),
               session_present=0)
    s.send(subscribe_packet(version, 1, [("t/%s/#" % uniq, 2)]))
    assert suback_codes(version, s.expect(SUBACK, TIMEOUT)) == [2]
    pub = online(raw, port, "v311", "p-" + uniq)
    pub.publish("t/%s/m" % uniq, b"payload " + uniq.encode(), qos=qos, pid=11)
    m = s.expect(PUBLISH, TIMEOUT)
    assert (m.qos, m.dup) == (qos, False), m
    return cid, s, m


def reconnect(raw, port, version, cid):
    """S again, Clean Start 0 / clean session 0: its session is there."""
    return online(raw, port, version, cid, clean=False, props=persist_props(version),
                  session_present=1)


@pytest.mark.parametrize("qos,wrong", [
    pytest.param(1, "pubrec", id="qos1_pubrec"),
    pytest.param(1, "pubcomp", id="qos1_pubcomp"),
    pytest.param(2, "puback", id="qos2_puback"),
    pytest.param(2, "pubcomp", id="qos2_pubcomp"),
])
@pytest.mark.parametrize("version", VERSIONS)
def test_wrong_ack_closes_and_message_is_redelivered(shared, raw, uniq, version, qos, wrong):
    cid, s, m = subscriber_with_message(raw, shared.port, version, uniq, qos)
    s.send(ACK[wrong](m.pid))
    protocol_error_closed(s, version)
    again = reconnect(raw, shared.port, version, cid)
    r = again.expect(PUBLISH, TIMEOUT)
    assert (r.qos, r.dup, r.pid) == (qos, True, m.pid), r
    assert r.body == m.body, "redelivered another message: %r, first %r" % (r, m)
    again.ack(r)  # the right acknowledgement now
    assert again.sync(TIMEOUT) == [], "more after the flow completed"


@pytest.mark.parametrize("version", VERSIONS)
def test_puback_after_pubrel_closes_and_pubrel_is_resent(shared, raw, uniq, version):
    cid, s, m = subscriber_with_message(raw, shared.port, version, uniq, 2)
    s.send(mqttraw.pubrec(m.pid))
    r = s.expect(PUBREL, TIMEOUT, flags=0x02)
    assert r.pid == m.pid, r
    s.send(mqttraw.puback(m.pid))
    protocol_error_closed(s, version)
    again = reconnect(raw, shared.port, version, cid)
    r = again.expect(PUBREL, TIMEOUT, flags=0x02)  # not the PUBLISH again
    assert r.pid == m.pid, r
    again.send(mqttraw.pubcomp(m.pid))
    assert again.sync(TIMEOUT) == []


@pytest.mark.parametrize("version", VERSIONS)
def test_acks_for_ids_not_in_flight_ignored(shared, raw, uniq, version):
    c = online(raw, shared.port, version, "ni-" + uniq)
    c.send(mqttraw.puback(999) + mqttraw.pubcomp(999))
    assert c.sync(TIMEOUT) == []
    assert c.is_open()


# ==========================================================================
# D. Unsolicited PUBREC
# ==========================================================================

def test_unsolicited_pubrec_v311_answered_with_pubrel(shared, raw, uniq):
    c = online(raw, shared.port, "v311", "ur-" + uniq)
    c.send(mqttraw.pubrec(777))
    p = c.expect(PUBREL, TIMEOUT, flags=0x02)
    assert (p.pid, len(p.body)) == (777, 2), p
    assert c.sync(TIMEOUT) == []


def test_unsolicited_pubrec_v5_answered_with_pubrel_0x92(shared, raw, uniq):
    c = online(raw, shared.port, "v5", "ur5-" + uniq)
    c.send(mqttraw.ack_v5(PUBREC, 777, 0x00))
    p = c.expect(PUBREL, TIMEOUT, flags=0x02)
    r = Reason5(p)
    assert r.pid == 777, r
    if is_agora():  # Mosquitto 2.0.11 answers 0x00
        assert r.rc == 0x92, r  # Packet Identifier not found
    assert c.sync(TIMEOUT) == []


@pytest.mark.parametrize("reason", [0x80, 0x87], ids=["0x80", "0x87"])
def test_unsolicited_failure_pubrec_v5_gets_nothing(shared, raw, uniq, reason):
    c = online(raw, shared.port, "v5", "urf-" + uniq)
    c.send(mqttraw.ack_v5(PUBREC, 778, reason))
    assert c.sync(TIMEOUT) == [], "something came before the PINGRESP"


def test_failure_pubrec_ends_qos2_flow_v5(shared, raw, uniq):
    cid, s, m = subscriber_with_message(raw, shared.port, "v5", uniq, 2)
    s.send(mqttraw.ack_v5(PUBREC, m.pid, 0x80))
    assert s.sync(TIMEOUT) == [], "a PUBREL (or more) after PUBREC 0x80"
    s.disconnect()  # DISCONNECT 0x00: the session stays (expiry 300)
    again = reconnect(raw, shared.port, "v5", cid)
    assert again.sync(TIMEOUT) == [], "redelivered after PUBREC 0x80"


def test_flows_broker_still_serves(shared):
    mqttraw.assert_broker_serves(shared.port)


# ==========================================================================
# E. MQTT 5 packets with invalid fields
# ==========================================================================

SERVER_ONLY = [0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F,
               0xA0, 0xA1, 0xA2]
UNDEFINED = [0x01, 0x05, 0x7F, 0x84, 0xFF]
CLIENT_CODES = [0x00, 0x04, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93, 0x94, 0x95, 0x96, 0x97,
                0x98, 0x99]
NO_REASON_CHECK = agora_only("Mosquitto 2.0.11 takes any DISCONNECT reason code and "
                             "publishes the will for 0x04 only")


def disconnect_cases():
    out = [pytest.param(c, True, id="server_only_0x%02x" % c, marks=NO_REASON_CHECK)
           for c in SERVER_ONLY]
    out += [pytest.param(c, True, id="undefined_0x%02x" % c, marks=NO_REASON_CHECK)
            for c in UNDEFINED]
    out += [pytest.param(c, False, id="client_0x%02x" % c,
                         marks=[] if c in (0x00, 0x04) else [NO_REASON_CHECK])
            for c in CLIENT_CODES]
    return out


@pytest.mark.parametrize("code,malformed", disconnect_cases())
def test_client_disconnect_reason_code(shared, raw, uniq, code, malformed):
    """A code the standard does not let a client send is a Malformed
    Packet: DISCONNECT 0x81 and the will. A client's code closes quietly;
    every one but 0x00 publishes the will."""
    w = watcher(raw, shared.port, uniq)
    will_topic = ("will/%s" % uniq).encode()
    c = raw(shared.port)
    c.send(connect_packet("v5", "dc-" + uniq, will=(will_topic, b"gone", 0, False)))
    assert answer_code(c.expect(CONNACK, TIMEOUT)) == 0
    c.send(mqttraw.disconnect_v5(code))
    if malformed:
        expect_refused(c, DISCONNECT, 0x81, TIMEOUT)
    else:
        expect_refused(c, None, None, TIMEOUT)  # nothing from the broker
    got = [topic_bytes(p) for p in routed(w, uniq)]
    assert got == ([] if code == 0x00 else [will_topic]), \
        "will after DISCONNECT 0x%02x: %r" % (code, got)


@pytest.mark.parametrize("code,applied", [
    pytest.param(0x00, True, id="client_0x00"),
    pytest.param(0x04, True, id="client_0x04"),
    pytest.param(0x87, False, id="server_only_0x87", marks=NO_REASON_CHECK),
    pytest.param(0x05, False, id="undefined_0x05", marks=NO_REASON_CHECK),
])
def test_disconnect_session_expiry_applied_only_when_well_formed(shared, raw, uniq, code,
                                                                 applied):
    cid = "dse-" + uniq
    c = online(raw, shared.port, "v5", cid, props=[(SESSION_EXPIRY, 300)])
    c.send(mqttraw.disconnect_v5(code, encode_props([(SESSION_EXPIRY, 0)])))
    if applied:
        expect_refused(c, None, None, TIMEOUT)
    else:
        expect_refused(c, DISCONNECT, 0x81, TIMEOUT)
    # Expiry 0 applied: the session ended with the connection.
    online(raw, shared.port, "v5", cid, clean=False, props=[(SESSION_EXPIRY, 300)],
           session_present=0 if applied else 1)


@pytest.mark.parametrize("form", [
    pytest.param(mqttraw.auth_v5(), id="remaining_length_0"),
    pytest.param(mqttraw.auth_v5(0x00), id="reason_only"),
    pytest.param(mqttraw.auth_v5(0x00, encode_props([(AUTH_METHOD, "SCRAM-SHA-256")])),
                 id="with_method"),
])
def test_auth_success_from_client_0x81(shared, raw, uniq, form):
    # 0x00 Success is a server's code [MQTT 5.0, 3.15.2.1].
    c = online(raw, shared.port, "v5", "as-" + uniq)
    c.send(form)
    expect_refused(c, DISCONNECT, 0x81, TIMEOUT, exact=is_agora())


def test_auth_continue_without_method_at_connect_0x82(shared, raw, uniq):
    c = online(raw, shared.port, "v5", "ac-" + uniq)
    c.send(mqttraw.auth_v5(0x18, encode_props([(AUTH_METHOD, "SCRAM-SHA-256")])))
    expect_refused(c, DISCONNECT, 0x82, TIMEOUT, exact=is_agora())


@agora_only("Mosquitto 2.0.11 answers any PINGREQ and ignores a client's PINGRESP")
@pytest.mark.parametrize("data,codes", [
    pytest.param(b"\xc0\x01\x00", (0x81,), id="pingreq_length_1"),
    pytest.param(b"\xc0\x02\x00\x00", (0x81,), id="pingreq_length_2"),
    pytest.param(b"\xc1\x00", (0x81,), id="pingreq_flags_1"),
    pytest.param(b"\xd0\x00", (0x82,), id="pingresp"),
    pytest.param(b"\xd0\x01\x00", (0x81, 0x82), id="pingresp_length_1"),
])
@pytest.mark.parametrize("version", VERSIONS)
def test_bad_ping_packets(shared, raw, uniq, version, data, codes):
    c = online(raw, shared.port, version, "bp-" + uniq)
    c.send(data)
    malformed_closed(c, version, codes)


def trailing_connect(version, case, cid):
    """A CONNECT with bytes after its last field."""
    if case == "username_without_flag":
        kw = dict(extra=mqtt_str(b"user"))
    elif case == "password_without_flag":
        kw = dict(username=b"user", extra=mqtt_str(b"pw"))
    else:
        kw = dict(extra=b"\x00")
    if version == "v5":
        return mqttraw.connect_v5(cid, **kw)
    return mqttraw.connect(cid, **kw)


@pytest.mark.parametrize("case", ["username_without_flag", "password_without_flag",
                                  "one_extra_byte"])
@pytest.mark.parametrize("version", VERSIONS)
def test_connect_with_trailing_bytes(shared, raw, uniq, version, case):
    c = raw(shared.port)
    c.send(trailing_connect(version, case, "tb-" + uniq))
    ptype, code = (CONNACK, 0x81) if version == "v5" else (None, None)
    expect_refused(c, ptype, code, TIMEOUT, exact=is_agora())


# ==========================================================================
# F. A Maximum Packet Size too small for the CONNACK
# ==========================================================================

def connect_mps(raw, port, cid, size):
    c = raw(port)
    props = [] if size is None else [(MAXIMUM_PACKET_SIZE, size)]
    c.send(connect_packet("v5", cid, props=props))
    return c


@pytest.mark.parametrize("size", [2, 4, 5])
def test_max_packet_size_below_connack_closed_at_once(shared, raw, uniq, size):
    c = connect_mps(raw, shared.port, "mps-" + uniq, size)
    expect_refused(c, None, None, timeout=2.0)  # not after a 60 s keepalive


@agora_only("Mosquitto 2.0.11 still sends its 11-byte CONNACK to a client allowing 10")
def test_max_packet_size_one_below_connack_closed(shared, raw, uniq):
    # The CONNACK this client id gets, measured on a first connection.
    first = connect_mps(raw, shared.port, "mpsa-" + uniq, None)
    size = len(first.expect(CONNACK, TIMEOUT).raw)
    c = connect_mps(raw, shared.port, "mpsb-" + uniq, size - 1)
    expect_refused(c, None, None, timeout=2.0)
    # Exactly the CONNACK's size is enough.
    c = connect_mps(raw, shared.port, "mpsc-" + uniq, size)
    p = c.expect(CONNACK, TIMEOUT)
    assert (answer_code(p), len(p.raw)) == (0, size), p
    assert c.is_open()


def test_max_packet_size_100_works(shared, raw, uniq):
    c = connect_mps(raw, shared.port, "mps100-" + uniq, 100)
    ack = Connack5(c.expect(CONNACK, TIMEOUT))
    assert ack.rc == 0, ack
    assert c.is_open()


def test_max_packet_size_zero_0x82(shared, raw, uniq):
    c = connect_mps(raw, shared.port, "mps0-" + uniq, 0)
    expect_refused(c, CONNACK, 0x82, TIMEOUT, exact=is_agora())


def test_invalid_fields_broker_still_serves(shared):
    mqttraw.assert_broker_serves(shared.port)


# ==========================================================================
# G. Receive Maximum
# ==========================================================================

RM5 = {
    "config": dict(lines=("receive_maximum 5",)),
    "command_line": dict(args=("--receive-maximum", "5")),
    "deprecated_alias": dict(lines=("max_qos2_pending 5",)),
}


def start_rm5(broker_factory, how):
    kw = RM5[how]
    return broker_factory(*kw.get("lines", ()), args=list(kw.get("args", ())))


def receive_maximum(raw, port, cid):
    c = raw(port)
    c.send(connect_packet("v5", cid))
    ack = Connack5(c.expect(CONNACK, TIMEOUT))
    assert ack.rc == 0, ack
    return ack.props.get(RECEIVE_MAXIMUM)


@agora_only("Agora's default (Mosquitto's is 20)")
def test_receive_maximum_default_in_connack(broker, raw):
    """The default is the protocol's maximum, stated explicitly
    (docs/configuration.md says why)."""
    assert receive_maximum(raw, broker.port, "rmd") == 65535


@agora_only("an Agora setting")
@pytest.mark.parametrize("how", list(RM5))
def test_receive_maximum_configured_in_connack(broker_factory, raw, how):
    b = start_rm5(broker_factory, how)
    assert receive_maximum(raw, b.port, "rm5") == 5


def send_qos2(c, version, ids, topic="rm/t", payload=b"m", props=()):
    for i in ids:
        if version == "v5":
            c.send(publish5(topic, payload, qos=2, pid=i, props=props))
        else:
            c.send(mqttraw.publish(topic, payload, qos=2, pid=i))


def expect_pubrecs(c, version, ids, codes=(0x00, 0x10)):
    for i in ids:
        p = c.expect(PUBREC, TIMEOUT)
        assert p.pid == i, p
        if version == "v5":
            assert Reason5(p).rc in codes, Reason5(p)


@agora_only("an Agora setting")
@pytest.mark.parametrize("how", ["config", "deprecated_alias"])
@pytest.mark.parametrize("version", VERSIONS)
def test_sixth_qos2_awaiting_pubrel_refused(broker_factory, raw, version, how):
    b = start_rm5(broker_factory, how)
    c = online(raw, b.port, version, "rm-" + version)
    send_qos2(c, version, range(1, 6))
    expect_pubrecs(c, version, range(1, 6))
    send_qos2(c, version, [6])
    ptype, code = (DISCONNECT, 0x93) if version == "v5" else (None, None)
    expect_refused(c, ptype, code, TIMEOUT)  # Receive Maximum exceeded
    mqttraw.assert_broker_serves(b.port)


@agora_only("an Agora setting")
def test_pubrel_frees_a_receive_maximum_slot(broker_factory, raw):
    b = start_rm5(broker_factory, "config")
    c = online(raw, b.port, "v5", "rm-free")
    send_qos2(c, "v5", range(1, 6))
    expect_pubrecs(c, "v5", range(1, 6))
    c.send(mqttraw.pubrel(1))
    p = c.expect(PUBCOMP, TIMEOUT)
    assert (p.pid, Reason5(p).rc) == (1, 0x00), Reason5(p)
    send_qos2(c, "v5", [6])
    expect_pubrecs(c, "v5", [6])
    send_qos2(c, "v5", [7])  # 2..6 await their PUBREL: the 6th again
    expect_refused(c, DISCONNECT, 0x93, TIMEOUT)
    mqttraw.assert_broker_serves(b.port)


@agora_only("an Agora setting")
@pytest.mark.parametrize("version", VERSIONS)
def test_qos1_never_counts_toward_receive_maximum(broker_factory, raw, version):
    b = start_rm5(broker_factory, "config")
    c = online(raw, b.port, version, "rm-q1")
    burst = b"".join(publish5("rm/q1", b"x", qos=1, pid=i) if version == "v5"
                     else mqttraw.publish("rm/q1", b"x", qos=1, pid=i)
                     for i in range(1, 21))
    c.send(burst)  # 20 at once, none acknowledged yet
    got = c.sync(TIMEOUT)
    assert [(p.type, p.pid) for p in got] == [(PUBACK, i) for i in range(1, 21)], got


@agora_only("an Agora setting")
def test_qos2_refused_in_pubrec_does_not_count(broker_factory, raw):
    b = start_rm5(broker_factory, "config")
    sub = online(raw, b.port, "v311", "rm-sub")
    assert sub.subscribe([("rm/pfi", 1)]) == [1]
    c = online(raw, b.port, "v5", "rm-pfi")
    # Payload Format Indicator 1 with a payload that is not UTF-8: 0x99.
    send_qos2(c, "v5", range(1, 9), topic="rm/pfi", payload=b"\xff\xfe",
              props=[(PAYLOAD_FORMAT, 1)])
    expect_pubrecs(c, "v5", range(1, 9), codes=(0x99,))
    assert c.sync(TIMEOUT) == []  # 8 > 5, still open
    # Id 1 again, now a valid message: a new one, not a duplicate.
    send_qos2(c, "v5", [1], topic="rm/pfi", payload=b"valid")
    expect_pubrecs(c, "v5", [1], codes=(0x00,))
    c.send(mqttraw.pubrel(1))
    p = c.expect(PUBCOMP, TIMEOUT)
    assert (p.pid, Reason5(p).rc) == (1, 0x00), Reason5(p)
    m = sub.recv_publish(TIMEOUT)
    assert (m.topic, m.payload) == ("rm/pfi", b"valid"), m
    assert sub.sync(TIMEOUT) == [], "a message refused with 0x99 was routed"
