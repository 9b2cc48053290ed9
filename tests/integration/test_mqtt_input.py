"""What a client may put in its strings and topic filters, on raw sockets.

A. UTF-8 strings in the client identifier, user name, will topic, PUBLISH
   topic name and SUBSCRIBE / UNSUBSCRIBE filters: U+0000 and ill-formed
   UTF-8 are always refused; control characters (U+0001..U+001F,
   U+007F..U+009F) and non-characters too while `strict_utf8` is on (the
   default), and accepted with `strict_utf8 no`. Each refusal is the one
   the version and the field call for (see the tables below); valid strings
   (é, €, U+FFFD, U+00A0, U+10000, a space, a long string) stay accepted.
   Password and will payload are binary data; MQTT 5 property strings are
   checked for U+0000 and ill-formed UTF-8 only.
B. Invalid topic filters: MQTT 3.1.1 closes the connection, MQTT 5 answers
   0x8F for that filter; more than 128 levels is a policy refusal (SUBACK
   0x80 / 0x8F) and not a protocol error. Invalid PUBLISH topic names.

Every bad string is embedded in an otherwise valid one (b"ab" + bad +
b"cd"; in a topic after "in/<case>/a"); a sample that is a truncated
sequence stays at the very end. Case ids read version-field-sample, e.g.
test_connect_string_refused[v311-client_id-surrogate_d800].

The matrix has about a thousand cases, each a few connections: they share
one broker per configuration (module-scoped, started by conftest.Broker and
checked at the end like broker_factory's: exit status 0, no sanitizer
report), with a unique client id and topic per case. Each group ends with a
check that the broker still serves a fresh client.

Absence of a routed message is checked with a "#" subscriber and a marker
it publishes after the publisher's PUBLISH was processed (the publisher was
closed, or answered a PINGREQ): what arrives before the marker is what the
broker routed.

Mosquitto mode (AGORA_TARGET=mosquitto): Mosquitto also closes on
ill-formed UTF-8, control characters, non-characters and invalid filters,
but answers other codes. Refusals are then checked loosely
(mqttraw.expect_refused(exact=False): closed, after at most a failure
CONNACK or DISCONNECT); tests of Agora's own codes or settings are skipped.
"""

import collections

import pytest
import requests

import mqttraw
from conftest import Broker, is_agora
from mqttraw import (CONNACK, PUBACK, PUBLISH, SUBACK, UNSUBACK, answer_code,
                     expect_refused, topic_bytes)
from test_mqtt5 import (AUTH_METHOD, CONTENT_TYPE, REASON_STRING, RESPONSE_TOPIC,
                        SESSION_EXPIRY, USER_PROPERTY, Connack5, Publish5, Reason5,
                        Suback5, agora_only, encode_props, publish5, subscribe5,
                        unsubscribe5)

TIMEOUT = 2.0  # the broker acts on loopback at once; a close comes within this


# --------------------------------------------------------------------------
# Brokers shared by a module
# --------------------------------------------------------------------------

def module_broker(tmp_path_factory, name, *lines):
    """Generator for a module-scoped fixture: one broker for many cases,
    stopped and checked (status 0, no sanitizer report) at the end."""
    b = Broker(str(tmp_path_factory.mktemp(name)), lines)
    try:
        b.start()
        yield b
    finally:
        if b.proc is not None:
            try:
                b.check_clean_exit()
            finally:
                b.kill()


@pytest.fixture(scope="module")
def strict(tmp_path_factory):
    """The default configuration (strict_utf8 yes)."""
    yield from module_broker(tmp_path_factory, "strict")


@pytest.fixture(scope="module")
def lenient(tmp_path_factory):
    yield from module_broker(tmp_path_factory, "lenient", "strict_utf8 no")


# --------------------------------------------------------------------------
# Packets for any version
# --------------------------------------------------------------------------

def connect_packet(version, client_id, clean=True, will=None, username=None,
                   password=None, props=()):
    """version: "v31", "v311" or "v5". will: (topic, payload, qos, retain)."""
    if version == "v5":
        if will is not None:
            will = tuple(will) + (encode_props(()),)
        return mqttraw.connect_v5(client_id, clean_start=clean, props=encode_props(props),
                                  will=will, username=username, password=password)
    kw = dict(clean=clean, will=will, username=username, password=password)
    if version == "v31":
        kw.update(proto_name=b"MQIsdp", level=3)
    return mqttraw.connect(client_id, **kw)


def persist_props(version):
    """MQTT 5 needs a Session Expiry Interval for the session to outlive
    the connection (3.1.1: clean session 0 alone)."""
    return [(SESSION_EXPIRY, 300)] if version == "v5" else []


def publish_packet(version, topic, payload=b"", qos=0, pid=None, props=()):
    if version == "v5":
        return publish5(topic, payload, qos, False, pid, props)
    return mqttraw.publish(topic, payload, qos, pid=pid)


def subscribe_packet(version, pid, filters):
    """filters: list of (filter, QoS)."""
    if version == "v5":
        return subscribe5(pid, filters)
    return mqttraw.subscribe(pid, filters)


def unsubscribe_packet(version, pid, filters):
    if version == "v5":
        return unsubscribe5(pid, filters)
    return mqttraw.unsubscribe(pid, filters)


def suback_codes(version, p):
    return Suback5(p).codes if version == "v5" else p.codes


def online(raw, port, version, client_id, clean=True, props=(), session_present=None):
    """A connected RawClient (CONNACK 0 checked, and session present if
    given)."""
    c = raw(port)
    c.send(connect_packet(version, client_id, clean=clean, props=props))
    p = c.expect(CONNACK, TIMEOUT)
    assert answer_code(p) == 0, "CONNACK %r for %r" % (p, client_id)
    if session_present is not None:
        assert p.session_present == session_present, p
    return c


def watcher(raw, port, uniq):
    """A 3.1.1 client subscribed to "#" at QoS 0."""
    w = online(raw, port, "v311", "watch-" + uniq)
    assert w.subscribe([("#", 0)], pid=1) == [0]
    return w


def routed(w, uniq):
    """Publishes a marker from the watcher and returns the PUBLISH packets
    of this case (topic containing uniq) that arrived before it. Anything a
    broken earlier case left behind (another uniq) is ignored."""
    marker = ("mark/" + uniq).encode()
    key = uniq.encode()
    w.send(mqttraw.publish(marker, b"marker"))
    got = []
    for _ in range(10000):
        p = w.recv_packet(TIMEOUT)
        if p.type != PUBLISH:
            raise mqttraw.ProtocolError("watcher got %r" % p)
        t = topic_bytes(p)
        if t == marker:
            return got
        if key in t:
            got.append(p)
    raise mqttraw.ProtocolError("no marker")


# --------------------------------------------------------------------------
# Samples
# --------------------------------------------------------------------------

Sample = collections.namedtuple("Sample", "name cls data at_end")


def S(name, cls, data, at_end=False):
    return Sample(name, cls, data, at_end)


NUL = [S("nul", "nul", b"\x00")]
ILL_FORMED = [
    S("surrogate_d800", "ill", b"\xed\xa0\x80"),
    S("surrogate_dfff", "ill", b"\xed\xbf\xbf"),
    S("overlong_c0af", "ill", b"\xc0\xaf"),
    S("overlong_c1bf", "ill", b"\xc1\xbf"),
    S("overlong_e080af", "ill", b"\xe0\x80\xaf"),
    S("overlong_f08080af", "ill", b"\xf0\x80\x80\xaf"),
    S("above_f4908080", "ill", b"\xf4\x90\x80\x80"),
    S("above_f5808080", "ill", b"\xf5\x80\x80\x80"),
    S("truncated_c3", "ill", b"\xc3", at_end=True),
    S("truncated_e282", "ill", b"\xe2\x82", at_end=True),
    S("missing_cont_e282", "ill", b"\xe2\x82a"),
    S("stray_80", "ill", b"\x80"),
    S("byte_fe", "ill", b"\xfe"),
    S("byte_ff", "ill", b"\xff"),
]
CONTROL = [
    S("ctl_0001", "control", b"\x01"),
    S("ctl_0009_tab", "control", b"\t"),
    S("ctl_000a_lf", "control", b"\n"),
    S("ctl_001f", "control", b"\x1f"),
    S("ctl_007f_del", "control", b"\x7f"),
    S("ctl_0080", "control", b"\xc2\x80"),
    S("ctl_009f", "control", b"\xc2\x9f"),
]
NONCHAR = [
    S("nonchar_fdd0", "nonchar", b"\xef\xb7\x90"),
    S("nonchar_fdef", "nonchar", b"\xef\xb7\xaf"),
    S("nonchar_fffe", "nonchar", b"\xef\xbf\xbe"),
    S("nonchar_ffff", "nonchar", b"\xef\xbf\xbf"),
    S("nonchar_1fffe", "nonchar", b"\xf0\x9f\xbf\xbe"),
    S("nonchar_10ffff", "nonchar", b"\xf4\x8f\xbf\xbf"),
]
BAD = NUL + ILL_FORMED + CONTROL + NONCHAR
ALWAYS_BAD = NUL + ILL_FORMED
# One of each kind, where the full list would only repeat the same path.
ALWAYS_BAD_REPR = [s for s in ALWAYS_BAD if s.name in (
    "nul", "surrogate_d800", "overlong_c0af", "above_f4908080", "truncated_e282",
    "missing_cont_e282", "stray_80", "byte_ff")]
STRICT_ONLY_REPR = [s for s in CONTROL + NONCHAR if s.name in (
    "ctl_0001", "ctl_000a_lf", "ctl_0080", "nonchar_fdd0", "nonchar_ffff")]
GOOD = [
    S("e_acute", "ok", "é".encode()),
    S("euro", "ok", "€".encode()),
    S("u_fffd", "ok", "\ufffd".encode()),
    S("nbsp_00a0", "ok", "\u00a0".encode()),
    S("u_10000", "ok", "\U00010000".encode()),
    S("space", "ok", b" "),
    # 150 characters of 1 to 4 bytes each (373 bytes).
    S("long", "ok", ("aé€\U00010000" * 50)[:150].encode()),
]

CONNECT_FIELDS = ("client_id", "username", "username_nopass", "will_topic")
PACKET_FIELDS = ("publish_qos0", "publish_qos1", "subscribe", "unsubscribe")


def embed(sample, prefix=b"ab", suffix=b"cd"):
    return prefix + sample.data + (b"" if sample.at_end else suffix)


def topic_with(sample, uniq):
    return embed(sample, b"in/%s/a" % uniq.encode(), b"z")


def cases(versions, fields, samples, skip=lambda v, f, s: False, marks=lambda v, f, s: ()):
    return [pytest.param(v, f, s, id="%s-%s-%s" % (v, f, s.name), marks=marks(v, f, s))
            for v in versions for f in fields for s in samples if not skip(v, f, s)]


# --------------------------------------------------------------------------
# A. Refusals: what each version and field answers
# --------------------------------------------------------------------------

def connect_refusal(version, field, cls):
    """(packet type or None for a bare close, code)."""
    v5 = version == "v5"
    if field == "client_id":
        if v5:
            return CONNACK, 0x85
        return (None, None) if cls in ("nul", "ill") else (CONNACK, 0x02)
    if field in ("username", "username_nopass"):
        # Before any password check, whatever accounts exist.
        return CONNACK, 0x86 if v5 else 0x04
    return (CONNACK, 0x90) if v5 else (None, None)  # will topic


def packet_refusal(version):
    """A bad string after CONNECT: MQTT 5 says Malformed Packet first."""
    return (mqttraw.DISCONNECT, 0x81) if version == "v5" else (None, None)


def connect_with(version, field, value, uniq):
    cid = "c-" + uniq
    if field == "client_id":
        return connect_packet(version, value)
    if field == "username":
        return connect_packet(version, cid, username=value, password=b"pw")
    if field == "username_nopass":
        return connect_packet(version, cid, username=value)
    return connect_packet(version, cid, will=(value, b"will", 0, False))


def check_connect_refused(broker, raw, uniq, version, field, value, cls):
    c = raw(broker.port)
    c.send(connect_with(version, field, value, uniq))
    ptype, code = connect_refusal(version, field, cls)
    expect_refused(c, ptype, code, TIMEOUT, exact=is_agora())


def check_packet_refused(broker, raw, uniq, version, field, value):
    """PUBLISH / SUBSCRIBE / UNSUBSCRIBE carrying `value` is refused with
    nothing answered; a bad PUBLISH is not routed either."""
    port = broker.port
    w = watcher(raw, port, uniq) if field.startswith("publish") else None
    c = online(raw, port, version, "p-" + uniq)
    if field == "publish_qos0":
        c.send(publish_packet(version, value, b"bad topic", 0))
    elif field == "publish_qos1":
        c.send(publish_packet(version, value, b"bad topic", 1, pid=7))
    elif field == "subscribe":
        c.send(subscribe_packet(version, 7, [(value, 1)]))
    else:
        c.send(unsubscribe_packet(version, 7, [value]))
    ptype, code = packet_refusal(version)
    expect_refused(c, ptype, code, TIMEOUT, exact=is_agora())
    if w is not None:
        assert routed(w, uniq) == [], "a PUBLISH with a refused topic was routed"


def unchecked_31_user_name(v, f, s):
    if v == "v31" and f.startswith("username"):
        return [agora_only("Mosquitto 2.0.11 does not check an MQTT 3.1 user name")]
    return []


@pytest.mark.parametrize("version,field,sample",
                         cases(("v31", "v311", "v5"), CONNECT_FIELDS, BAD,
                               marks=unchecked_31_user_name))
def test_connect_string_refused(strict, raw, uniq, version, field, sample):
    check_connect_refused(strict, raw, uniq, version, field, embed(sample), sample.cls)


@pytest.mark.parametrize("topic", [b"", b"a/+", b"a/#"], ids=["empty", "plus", "hash"])
@pytest.mark.parametrize("version", ["v31", "v311", "v5"])
def test_will_topic_empty_or_wildcard_refused(strict, raw, uniq, version, topic):
    # Will topic 0x90 in MQTT 5; 3.1.1 closes, as for a bad string.
    check_connect_refused(strict, raw, uniq, version, "will_topic", topic, "topic")


@pytest.mark.parametrize("version,field,sample",
                         cases(("v311", "v5"), PACKET_FIELDS, BAD))
def test_packet_string_refused(strict, raw, uniq, version, field, sample):
    check_packet_refused(strict, raw, uniq, version, field, topic_with(sample, uniq))


# The bad filter second in a list of two: nothing of the packet is
# applied. Seen from a persistent session, reconnected after the close.

REPR_BAD = ALWAYS_BAD_REPR[:3] + STRICT_ONLY_REPR[:1] + STRICT_ONLY_REPR[-1:]


@agora_only("Mosquitto 2.0.11 applies the filters before the bad one, then closes")
@pytest.mark.parametrize("version,field,sample",
                         cases(("v311", "v5"), ("subscribe", "unsubscribe"), REPR_BAD))
def test_bad_second_filter_applies_nothing(request, strict, raw, uniq, version, field,
                                          sample):
    port = strict.port
    topic = "sec/%s/t" % uniq
    cid = "sec-" + uniq
    pub = online(raw, port, "v311", "secpub-" + uniq)
    # The retained message goes at the end, whatever happens.
    request.addfinalizer(lambda: pub.publish(topic, b"", qos=1, retain=True, pid=3))
    props = persist_props(version)
    s = online(raw, port, version, cid, clean=False, props=props, session_present=0)
    if field == "subscribe":
        pub.publish(topic, b"retained", qos=1, retain=True, pid=1)
        s.send(subscribe_packet(version, 2, [(topic, 1), (topic_with(sample, uniq), 0)]))
    else:
        s.send(subscribe_packet(version, 2, [(topic, 1)]))
        assert suback_codes(version, s.expect(SUBACK, TIMEOUT)) == [1]
        s.send(unsubscribe_packet(version, 3, [topic, topic_with(sample, uniq)]))
    ptype, code = packet_refusal(version)
    # No SUBACK / UNSUBACK, and no retained message for the first filter.
    expect_refused(s, ptype, code, TIMEOUT, exact=is_agora())
    again = online(raw, port, version, cid, clean=False, props=props, session_present=1)
    assert again.sync(TIMEOUT) == [], "something queued for the session"
    pub.publish(topic, b"live", qos=1, pid=2)
    got = again.sync(TIMEOUT)
    if field == "subscribe":
        assert got == [], "the first filter of a refused SUBSCRIBE was subscribed"
    else:
        assert [(p.type, topic_bytes(p)) for p in got] == [(PUBLISH, topic.encode())], \
            "the first filter of a refused UNSUBSCRIBE was unsubscribed: %r" % got
        again.ack(got[0])


def test_utf8_refusals_broker_still_serves(strict):
    mqttraw.assert_broker_serves(strict.port)


# --------------------------------------------------------------------------
# A. Accepted: valid strings (strict), control characters and
# non-characters (strict_utf8 no)
# --------------------------------------------------------------------------

def check_accepted(broker, raw, uniq, version, field, value):
    """`value` in `field` is taken as it is: the connection is accepted,
    the message routed with its exact topic bytes, the filter granted and
    matching exactly those bytes."""
    port = broker.port
    v5 = version == "v5"
    if field == "client_id":
        c = online(raw, port, version, value)
        assert c.sync(TIMEOUT) == []
        c.disconnect()
    elif field == "will_topic":
        w = watcher(raw, port, uniq)
        c = raw(port)
        c.send(connect_packet(version, "will-" + uniq, will=(value, b"w " + value, 0, False)))
        p = c.expect(CONNACK, TIMEOUT)
        assert answer_code(p) == 0, p
        c.drop()  # not a DISCONNECT: the will goes out
        got = routed(w, uniq)
        assert [(topic_bytes(p), p.payload) for p in got] == [(value, b"w " + value)], got
    elif field.startswith("publish"):
        qos = int(field[-1])
        w = watcher(raw, port, uniq)
        c = online(raw, port, version, "pub-" + uniq)
        c.send(publish_packet(version, value, b"msg", qos, pid=5 if qos else None))
        acks = c.sync(TIMEOUT)  # the PUBLISH was processed
        if qos:
            assert [(a.type, a.pid) for a in acks] == [(PUBACK, 5)], acks
            if v5:
                assert Reason5(acks[0]).rc == 0x00, acks
        else:
            assert acks == []
        got = routed(w, uniq)
        assert [(topic_bytes(p), p.payload) for p in got] == [(value, b"msg")], got
    else:
        s = online(raw, port, version, "sub-" + uniq)
        s.send(subscribe_packet(version, 3, [(value, 1)]))
        assert suback_codes(version, s.expect(SUBACK, TIMEOUT)) == [1]
        pub = online(raw, port, "v311", "pub-" + uniq)
        pub.publish(value, b"to filter", qos=1, pid=4)
        p = s.recv_publish(TIMEOUT)
        assert topic_bytes(p) == value, p
        if field == "unsubscribe":
            s.send(unsubscribe_packet(version, 6, [value]))
            u = s.expect(UNSUBACK, TIMEOUT)
            if v5:
                assert Suback5(u).codes == [0x00], "no subscription matched %r" % value
            pub.publish(value, b"after", qos=1, pid=5)
            assert s.sync(TIMEOUT) == [], "still subscribed after UNSUBACK"


def long_client_id_31(v, f, s):
    # MQTT 3.1 limits client identifiers to 23 characters (Mosquitto holds
    # to it); the other samples fit.
    return v == "v31" and f == "client_id" and s.name == "long"


@pytest.mark.parametrize("version,field,sample",
                         cases(("v31", "v311", "v5"), ("client_id", "will_topic"), GOOD,
                               skip=long_client_id_31)
                         + cases(("v311", "v5"), PACKET_FIELDS, GOOD))
def test_valid_string_accepted(strict, raw, uniq, version, field, sample):
    if field == "client_id":
        value = embed(sample, b"ab" + uniq.encode())
    else:
        value = topic_with(sample, uniq)
    check_accepted(strict, raw, uniq, version, field, value)


@pytest.mark.parametrize("version", ["v31", "v311", "v5"])
def test_valid_user_name_accepted(strict, raw, uniq, version):
    """A long valid user name with its account logs in. Accounts' names
    are ASCII only (A-Z a-z 0-9 _ - .), so the non-ASCII samples cannot name
    one: their CONNACK 0x04 / 0x86 would not tell an accepted string from a
    refused one. That is also why user names are left out of the
    strict_utf8 no acceptance tests."""
    name = ("u%s" % uniq + "abcdefghijklmnopqrstuvwxyz")[:32]
    if is_agora():
        r = requests.post(strict.http_url + "/api/users",
                          json={"name": name, "password": "secret-pass"}, timeout=10)
        assert r.status_code == 201, r.text
    c = raw(strict.port)
    c.send(connect_packet(version, "user-" + uniq, username=name.encode(),
                          password=b"secret-pass"))
    p = c.expect(CONNACK, TIMEOUT)
    assert answer_code(p) == 0, p
    assert c.is_open()


@pytest.mark.parametrize("version", ["v31", "v311", "v5"])
def test_password_is_binary(strict, raw, uniq, version):
    """A password of any bytes reaches the password check: Agora answers
    bad credentials (not a close for a bad string); Mosquitto, without
    accounts, accepts."""
    c = raw(strict.port)
    c.send(connect_packet(version, "pw-" + uniq, username=b"nobody" + uniq.encode(),
                          password=b"\x00\xff\x01\xfe\xed\xa0\x80"))
    p = c.expect(CONNACK, TIMEOUT)
    if is_agora():
        assert answer_code(p) == (0x86 if version == "v5" else 0x04), p
    else:
        assert answer_code(p) == 0, p


def test_password_without_user_name_is_binary_v5(strict, raw, uniq):
    # MQTT 5 allows a password alone [MQTT 5.0, 3.1.2.9]; this one is
    # anonymous (loopback) and gets in.
    c = raw(strict.port)
    c.send(connect_packet("v5", "pwonly-" + uniq, password=b"\x00\xff\x01"))
    p = c.expect(CONNACK, TIMEOUT)
    assert answer_code(p) == 0, p
    assert c.is_open()


@pytest.mark.parametrize("version", ["v31", "v311", "v5"])
def test_will_payload_is_binary(strict, raw, uniq, version):
    payload = b"\x00\xff\x01\xfe\xed\xa0\x80\xc0\xaf"
    w = watcher(raw, strict.port, uniq)
    topic = ("wp/%s" % uniq).encode()
    c = raw(strict.port)
    c.send(connect_packet(version, "wp-" + uniq, will=(topic, payload, 0, False)))
    p = c.expect(CONNACK, TIMEOUT)
    assert answer_code(p) == 0, p
    c.drop()
    got = routed(w, uniq)
    assert [(topic_bytes(p), p.payload) for p in got] == [(topic, payload)], got


@pytest.mark.parametrize("version,field,sample",
                         cases(("v31", "v311", "v5"), ("client_id", "will_topic"),
                               CONTROL + NONCHAR)
                         + cases(("v311", "v5"), PACKET_FIELDS, CONTROL + NONCHAR))
def test_lenient_control_and_nonchar_accepted(lenient, raw, uniq, version, field, sample):
    """strict_utf8 no. (User names: see test_valid_user_name_accepted.)"""
    if field == "client_id":
        value = embed(sample, b"ab" + uniq.encode())
    else:
        value = topic_with(sample, uniq)
    check_accepted(lenient, raw, uniq, version, field, value)


@pytest.mark.parametrize("version,field,sample",
                         cases(("v31", "v311", "v5"), CONNECT_FIELDS, ALWAYS_BAD_REPR))
def test_lenient_connect_still_refuses(lenient, raw, uniq, version, field, sample):
    check_connect_refused(lenient, raw, uniq, version, field, embed(sample), sample.cls)


@pytest.mark.parametrize("version,field,sample",
                         cases(("v311", "v5"), PACKET_FIELDS, ALWAYS_BAD_REPR))
def test_lenient_packet_still_refuses(lenient, raw, uniq, version, field, sample):
    check_packet_refused(lenient, raw, uniq, version, field, topic_with(sample, uniq))


def test_lenient_broker_still_serves(lenient):
    mqttraw.assert_broker_serves(lenient.port)


# --------------------------------------------------------------------------
# A. MQTT 5 property strings: U+0000 and ill-formed refused, control
# characters accepted and forwarded as they are
# --------------------------------------------------------------------------

PUBLISH_PROP_KINDS = ("content_type", "user_property_key", "user_property_value",
                      "response_topic")


def publish_props(kind, value):
    if kind == "content_type":
        return [(CONTENT_TYPE, value)]
    if kind == "response_topic":
        return [(RESPONSE_TOPIC, b"resp/" + value)]
    if kind == "user_property_key":
        return [(USER_PROPERTY, (value, b"v"))]
    return [(USER_PROPERTY, (b"k", value))]


def prop_cases(kinds, samples):
    return [pytest.param(k, s, id="%s-%s" % (k, s.name)) for k in kinds for s in samples]


@pytest.mark.parametrize("kind,sample", prop_cases(PUBLISH_PROP_KINDS, ALWAYS_BAD_REPR))
def test_publish_property_string_refused(strict, raw, uniq, kind, sample):
    w = watcher(raw, strict.port, uniq)
    c = online(raw, strict.port, "v5", "pp-" + uniq)
    topic = "pp/%s" % uniq
    c.send(publish5(topic, b"x", qos=1, pid=3, props=publish_props(kind, embed(sample))))
    expect_refused(c, mqttraw.DISCONNECT, 0x81, TIMEOUT, exact=is_agora())
    assert routed(w, uniq) == []


@agora_only("Mosquitto 2.0.11 also refuses control characters in property strings")
@pytest.mark.parametrize("kind,sample", prop_cases(PUBLISH_PROP_KINDS, CONTROL))
def test_publish_property_control_forwarded(strict, raw, uniq, kind, sample):
    value = embed(sample)
    topic = "pp/%s" % uniq
    sub = online(raw, strict.port, "v5", "ppsub-" + uniq)
    sub.send(subscribe5(1, [(topic, 1)]))
    assert Suback5(sub.expect(SUBACK, TIMEOUT)).codes == [1]
    c = online(raw, strict.port, "v5", "pp-" + uniq)
    props = publish_props(kind, value)
    c.send(publish5(topic, b"x", qos=1, pid=3, props=props))
    ack = Reason5(c.expect(PUBACK, TIMEOUT))
    assert (ack.pid, ack.rc) == (3, 0x00), ack
    m = Publish5(sub.expect(PUBLISH, TIMEOUT))
    pid, want = props[0]
    if pid == USER_PROPERTY:
        want = (want[0].decode(), want[1].decode())
    else:
        want = want.decode()
    assert m.props.all(pid) == [want], m


@pytest.mark.parametrize("sample", ALWAYS_BAD_REPR, ids=lambda s: s.name)
@pytest.mark.parametrize("kind", ["user_property_key", "user_property_value",
                                  "auth_method"])
def test_connect_property_string_refused_0x81(strict, raw, uniq, kind, sample):
    value = embed(sample)
    if kind == "auth_method":
        props = [(AUTH_METHOD, value)]
    else:
        props = publish_props(kind, value)
    c = raw(strict.port)
    c.send(connect_packet("v5", "cp-" + uniq, props=props))
    expect_refused(c, CONNACK, 0x81, TIMEOUT, exact=is_agora())


@agora_only("Mosquitto 2.0.11 also refuses control characters in property strings")
@pytest.mark.parametrize("sample", CONTROL, ids=lambda s: s.name)
@pytest.mark.parametrize("kind", ["user_property_key", "user_property_value",
                                  "auth_method"])
def test_connect_property_control_accepted(strict, raw, uniq, kind, sample):
    value = embed(sample)
    c = raw(strict.port)
    if kind == "auth_method":
        # Taken as a string: an unknown method (0x8C), not a bad packet.
        c.send(connect_packet("v5", "cp-" + uniq, props=[(AUTH_METHOD, value)]))
        expect_refused(c, CONNACK, 0x8C, TIMEOUT)
        return
    c.send(connect_packet("v5", "cp-" + uniq, props=publish_props(kind, value)))
    ack = Connack5(c.expect(CONNACK, TIMEOUT))
    assert ack.rc == 0, ack
    assert c.is_open()


def received_qos1(raw, port, uniq):
    """An MQTT 5 subscriber holding one unacknowledged QoS 1 message."""
    topic = "rs/%s" % uniq
    sub = online(raw, port, "v5", "rssub-" + uniq)
    sub.send(subscribe5(1, [(topic, 1)]))
    assert Suback5(sub.expect(SUBACK, TIMEOUT)).codes == [1]
    pub = online(raw, port, "v311", "rspub-" + uniq)
    pub.publish(topic, b"x", qos=1, pid=1)
    return sub, Publish5(sub.expect(PUBLISH, TIMEOUT))


@pytest.mark.parametrize("sample", ALWAYS_BAD_REPR, ids=lambda s: s.name)
def test_puback_reason_string_refused(strict, raw, uniq, sample):
    sub, m = received_qos1(raw, strict.port, uniq)
    sub.send(mqttraw.ack_v5(PUBACK, m.pid, 0x00,
                            encode_props([(REASON_STRING, embed(sample))])))
    expect_refused(sub, mqttraw.DISCONNECT, 0x81, TIMEOUT, exact=is_agora())


@agora_only("Mosquitto 2.0.11 also refuses control characters in property strings")
@pytest.mark.parametrize("sample", CONTROL, ids=lambda s: s.name)
def test_puback_reason_string_control_accepted(strict, raw, uniq, sample):
    sub, m = received_qos1(raw, strict.port, uniq)
    sub.send(mqttraw.ack_v5(PUBACK, m.pid, 0x00,
                            encode_props([(REASON_STRING, embed(sample))])))
    assert sub.sync(TIMEOUT) == []


def test_property_strings_broker_still_serves(strict):
    mqttraw.assert_broker_serves(strict.port)


# --------------------------------------------------------------------------
# B. Invalid topic filters
# --------------------------------------------------------------------------

INVALID_FILTERS = [
    ("empty", b""),
    ("share_no_filter", b"$share/name"),
    ("share_empty_filter", b"$share/name/"),
    ("share_empty_group", b"$share//topic"),
    ("share_only", b"$share/"),
    ("share_group_plus", b"$share/g+/t"),
    ("share_group_hash", b"$share/g#/t"),
    ("hash_not_alone", b"a/b#"),
    ("plus_not_alone", b"a+/b"),
    ("hash_not_last", b"#/a"),
    ("hash_in_middle", b"a/#/b"),
    ("plus_plus", b"++"),
]
VALID_FILTERS = [
    ("hash", "#"), ("plus", "+"), ("a_plus_b", "a/+/b"), ("slash", "/"),
    ("a_empty_b", "a//b"), ("plus_plus_levels", "+/+"), ("share_hash", "$share/g/#"),
    ("share_a_plus", "$share/g/a/+"), ("a_hash", "a/#"),
]
DEEP_FILTER = "a/" * 128 + "a"  # 129 levels


def filter_cases():
    # MQTT 3.1.1 has no shared subscriptions: "$share/name" is a valid 3.1.1
    # filter by that standard. Agora (like Mosquitto and EMQX) gives 3.1.1
    # clients shared subscriptions too, and so holds them to MQTT 5's
    # syntax; Mosquitto takes the malformed ones as plain filters.
    plain_in_mosquitto = agora_only("Mosquitto 2.0.11 takes a malformed $share "
                                    "filter as a plain filter in MQTT 3.1.1")
    return [pytest.param(packet, pos, f, id="%s-%s-%s" % (packet, pos, name),
                         marks=[plain_in_mosquitto] if name in (
                             "share_no_filter", "share_empty_filter", "share_empty_group",
                             "share_only") else [])
            for packet in ("subscribe", "unsubscribe") for pos in ("alone", "second")
            for name, f in INVALID_FILTERS]


@pytest.mark.parametrize("packet,position,bad", filter_cases())
def test_invalid_filter_v311_closes(strict, raw, uniq, packet, position, bad):
    c = online(raw, strict.port, "v311", "f-" + uniq)
    filters = ([("ok/" + uniq, 1)] if position == "second" else []) + [(bad, 0)]
    if packet == "subscribe":
        c.send(mqttraw.subscribe(4, filters))
    else:
        c.send(mqttraw.unsubscribe(4, [f for f, _ in filters]))
    expect_refused(c, None, None, TIMEOUT)  # no SUBACK / UNSUBACK


@agora_only("Mosquitto 2.0.11 closes the connection on an invalid filter")
@pytest.mark.parametrize("bad", [f for _, f in INVALID_FILTERS],
                         ids=[n for n, _ in INVALID_FILTERS])
def test_invalid_filter_v5_suback_unsuback_0x8f(strict, raw, uniq, bad):
    c = online(raw, strict.port, "v5", "f5-" + uniq)
    ok = "ok/" + uniq
    c.send(subscribe5(4, [(ok, 1), (bad, 0)]))
    ack = Suback5(c.expect(SUBACK, TIMEOUT))
    assert (ack.pid, ack.codes) == (4, [0x01, 0x8F]), ack.codes
    c.send(unsubscribe5(5, [ok, "never/" + uniq, bad]))
    ack = Suback5(c.expect(UNSUBACK, TIMEOUT))
    assert (ack.pid, ack.codes) == (5, [0x00, 0x11, 0x8F]), ack.codes
    assert c.sync(TIMEOUT) == []  # open, nothing else sent


def expect_past_retained(c, ptype):
    """The next packet of type ptype, past any retained PUBLISH (a "#" or
    "+" filter matches what other cases of the module retained)."""
    for _ in range(1000):
        p = c.recv_packet(TIMEOUT)
        if p.type == ptype:
            return p
        if p.type != PUBLISH or not p.retain:
            raise mqttraw.ProtocolError("expected %s, got %r" % (mqttraw.TYPE_NAMES[ptype], p))
        if p.qos == 1:
            c.send(mqttraw.puback(p.pid))
        elif p.qos == 2:
            c.send(mqttraw.pubrec(p.pid))
    raise mqttraw.ProtocolError("too many retained messages")


@pytest.mark.parametrize("name,good", VALID_FILTERS, ids=[n for n, _ in VALID_FILTERS])
@pytest.mark.parametrize("version", ["v311", "v5"])
def test_valid_filter_granted(strict, raw, uniq, version, name, good):
    qos = len(name) % 3  # a mix of requested QoS; SUBACK grants it as is
    c = online(raw, strict.port, version, "g-" + uniq)
    c.send(subscribe_packet(version, 4, [(good, qos)]))
    assert suback_codes(version, c.expect(SUBACK, TIMEOUT)) == [qos]
    c.send(unsubscribe_packet(version, 5, [good]))
    u = expect_past_retained(c, UNSUBACK)
    if version == "v5":
        assert Suback5(u).codes == [0x00]


@agora_only("the 128-level limit is Agora's policy")
@pytest.mark.parametrize("version", ["v311", "v5"])
def test_filter_over_128_levels_refused_by_policy(strict, raw, uniq, version):
    c = online(raw, strict.port, version, "deep-" + uniq)
    c.send(subscribe_packet(version, 4, [("ok/" + uniq, 1), (DEEP_FILTER, 0)]))
    codes = suback_codes(version, c.expect(SUBACK, TIMEOUT))
    assert codes == [1, 0x8F if version == "v5" else 0x80], codes
    assert c.sync(TIMEOUT) == []  # not a protocol error: still open


@pytest.mark.parametrize("topic", [b"", b"a/+", b"a/#", b"#", b"+"],
                         ids=["empty", "a_plus", "a_hash", "hash", "plus"])
@pytest.mark.parametrize("version", ["v311", "v5"])
def test_publish_topic_invalid(strict, raw, uniq, version, topic):
    # MQTT 5: a topic with wildcards [MQTT-3.3.2-2], or an empty one without
    # a Topic Alias (3.3.2.3.4), is a Protocol Error: 0x82.
    c = online(raw, strict.port, version, "pt-" + uniq)
    c.send(publish_packet(version, topic, b"x", 1, pid=2))
    ptype, code = (mqttraw.DISCONNECT, 0x82) if version == "v5" else (None, None)
    expect_refused(c, ptype, code, TIMEOUT, exact=is_agora())


def test_filters_broker_still_serves(strict):
    mqttraw.assert_broker_serves(strict.port)
