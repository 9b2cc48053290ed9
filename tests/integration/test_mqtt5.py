"""MQTT 5.0 end to end: CONNACK properties, forwarded message properties,
request/response, 3.1.1 <-> 5 interoperability, message and session
expiry, will delay, subscription options and identifiers, reason codes,
server DISCONNECT codes, and the limits a client announces (Receive Maximum,
Maximum Packet Size).

Two kinds of client are used: paho-mqtt 1.6 speaking MQTT 5 (wrapped in
V5Client below so every callback feeds a queue and tests wait with
timeouts), and hand-built MQTT 5 packets over mqttraw.RawClient (Raw5) where
a test must see every byte: reason codes paho hides, malformed packets,
clients that never acknowledge.

Enhanced authentication is covered here only as the 0x8C refusal (no
mechanism is registered in the server); the exchange itself is tested in
tests/unit/test_connect5.c with a test mechanism. Topic aliases both ways,
shared subscriptions, Response Information and Server Reference are tested
at the end of this file.

paho-mqtt 1.6.1 drops the reason code of a DISCONNECT that has no property
block (Remaining Length 1, valid MQTT 5): its on_disconnect then reports a
lost connection. Server DISCONNECT codes are therefore checked on raw
clients.
"""

import os
import queue
import shutil
import socket
import struct
import subprocess
import time

import pytest

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCodes
from paho.mqtt.subscribeoptions import SubscribeOptions

import mqttraw
from conftest import MessageQueue, is_agora, stop_paho_clients
from mqttraw import (CONNACK, DISCONNECT, PINGRESP, PUBACK, PUBLISH, SUBACK,
                     UNSUBACK, mqtt_str, packet, varint)

TIMEOUT = 5.0


def agora_only(why):
    """Skips in Mosquitto mode (decided before the broker starts)."""
    return pytest.mark.skipif(not is_agora(), reason="Agora-only behaviour (%s)" % why)


def let_time_pass(seconds):
    """For the timing features only (expiry, will delay): the broker's clock
    has to move on. Never used to wait for an event."""
    time.sleep(seconds)


# --------------------------------------------------------------------------
# MQTT 5 properties, encoded and decoded by hand
# --------------------------------------------------------------------------

PAYLOAD_FORMAT = 0x01
MESSAGE_EXPIRY = 0x02
CONTENT_TYPE = 0x03
RESPONSE_TOPIC = 0x08
CORRELATION_DATA = 0x09
SUBSCRIPTION_ID = 0x0B
SESSION_EXPIRY = 0x11
ASSIGNED_CLIENT_ID = 0x12
SERVER_KEEPALIVE = 0x13
AUTH_METHOD = 0x15
AUTH_DATA = 0x16
REQUEST_PROBLEM_INFO = 0x17
WILL_DELAY = 0x18
REQUEST_RESPONSE_INFO = 0x19
RESPONSE_INFO = 0x1A
SERVER_REFERENCE = 0x1C
REASON_STRING = 0x1F
RECEIVE_MAXIMUM = 0x21
TOPIC_ALIAS_MAXIMUM = 0x22
TOPIC_ALIAS = 0x23
MAXIMUM_QOS = 0x24
RETAIN_AVAILABLE = 0x25
USER_PROPERTY = 0x26
MAXIMUM_PACKET_SIZE = 0x27
WILDCARD_SUB_AVAILABLE = 0x28
SUB_ID_AVAILABLE = 0x29
SHARED_SUB_AVAILABLE = 0x2A

PROP_TYPES = {
    PAYLOAD_FORMAT: "byte", MESSAGE_EXPIRY: "u32", CONTENT_TYPE: "str",
    RESPONSE_TOPIC: "str", CORRELATION_DATA: "bin", SUBSCRIPTION_ID: "varint",
    SESSION_EXPIRY: "u32", ASSIGNED_CLIENT_ID: "str", SERVER_KEEPALIVE: "u16",
    AUTH_METHOD: "str", AUTH_DATA: "bin", REQUEST_PROBLEM_INFO: "byte",
    WILL_DELAY: "u32", REQUEST_RESPONSE_INFO: "byte", RESPONSE_INFO: "str",
    SERVER_REFERENCE: "str", REASON_STRING: "str", RECEIVE_MAXIMUM: "u16",
    TOPIC_ALIAS_MAXIMUM: "u16", TOPIC_ALIAS: "u16", MAXIMUM_QOS: "byte",
    RETAIN_AVAILABLE: "byte", USER_PROPERTY: "pair", MAXIMUM_PACKET_SIZE: "u32",
    WILDCARD_SUB_AVAILABLE: "byte", SUB_ID_AVAILABLE: "byte",
    SHARED_SUB_AVAILABLE: "byte",
}


def encode_props(props=()):
    """props: iterable of (id, value); returns length varint + properties."""
    body = bytearray()
    for pid, value in props:
        kind = PROP_TYPES[pid]
        body.append(pid)
        if kind == "byte":
            body.append(value)
        elif kind == "u16":
            body += struct.pack("!H", value)
        elif kind == "u32":
            body += struct.pack("!I", value)
        elif kind == "varint":
            body += varint(value)
        elif kind in ("str", "bin"):
            body += mqtt_str(value)
        elif kind == "pair":
            body += mqtt_str(value[0]) + mqtt_str(value[1])
    return varint(len(body)) + bytes(body)


def read_varint(buf, pos):
    mult, value = 1, 0
    for _ in range(4):
        b = buf[pos]
        pos += 1
        value += (b & 0x7F) * mult
        if not b & 0x80:
            return value, pos
        mult *= 128
    raise mqttraw.ProtocolError("variable byte integer longer than 4 bytes")


def decode_props(buf, pos):
    """Returns (list of (id, value) in wire order, position after them)."""
    length, pos = read_varint(buf, pos)
    end = pos + length
    if end > len(buf):
        raise mqttraw.ProtocolError("property block runs past the packet")
    out = []
    while pos < end:
        pid = buf[pos]
        pos += 1
        kind = PROP_TYPES.get(pid)
        if kind is None:
            raise mqttraw.ProtocolError("unknown property id 0x%02x" % pid)
        if kind == "byte":
            value = buf[pos]
            pos += 1
        elif kind == "u16":
            value = struct.unpack("!H", buf[pos:pos + 2])[0]
            pos += 2
        elif kind == "u32":
            value = struct.unpack("!I", buf[pos:pos + 4])[0]
            pos += 4
        elif kind == "varint":
            value, pos = read_varint(buf, pos)
        else:
            n = struct.unpack("!H", buf[pos:pos + 2])[0]
            value = bytes(buf[pos + 2:pos + 2 + n])
            pos += 2 + n
            if kind == "str":
                value = value.decode("utf-8")
            elif kind == "pair":
                m = struct.unpack("!H", buf[pos:pos + 2])[0]
                value = (value.decode("utf-8"), bytes(buf[pos + 2:pos + 2 + m]).decode("utf-8"))
                pos += 2 + m
        out.append((pid, value))
    if pos != end:
        raise mqttraw.ProtocolError("property block length mismatch")
    return out, end


class Props:
    """Decoded properties: first value by id, all values by id."""

    def __init__(self, items):
        self.items = list(items)

    def get(self, pid, default=None):
        for k, v in self.items:
            if k == pid:
                return v
        return default

    def all(self, pid):
        return [v for k, v in self.items if k == pid]

    def __contains__(self, pid):
        return any(k == pid for k, _ in self.items)

    def __repr__(self):
        return "Props(%s)" % ", ".join("0x%02x=%r" % kv for kv in self.items)


# --------------------------------------------------------------------------
# MQTT 5 packets by hand
# --------------------------------------------------------------------------

def connect5(client_id="", clean_start=True, keepalive=60, props=(), will=None):
    """will: None or (topic, payload, qos, retain, will_props)."""
    flags = 0x02 if clean_start else 0
    payload = mqtt_str(client_id)
    if will is not None:
        wtopic, wpayload, wqos, wretain, wprops = will
        flags |= 0x04 | ((wqos & 3) << 3) | (0x20 if wretain else 0)
        payload += encode_props(wprops) + mqtt_str(wtopic) + mqtt_str(wpayload)
    var = mqtt_str(b"MQTT") + bytes([5, flags]) + struct.pack("!H", keepalive)
    return packet(mqttraw.CONNECT, 0, var + encode_props(props) + payload)


def publish5(topic, payload=b"", qos=0, retain=False, pid=None, props=()):
    flags = ((qos & 3) << 1) | (0x01 if retain else 0)
    body = mqtt_str(topic)
    if qos:
        body += struct.pack("!H", pid)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return packet(PUBLISH, flags, body + encode_props(props) + payload)


def subscribe5(pid, filters, props=()):
    """filters: list of (filter, options byte)."""
    body = struct.pack("!H", pid) + encode_props(props)
    for f, opts in filters:
        body += mqtt_str(f) + bytes([opts])
    return packet(mqttraw.SUBSCRIBE, 0x02, body)


def unsubscribe5(pid, filters):
    body = struct.pack("!H", pid) + encode_props(())
    for f in filters:
        body += mqtt_str(f)
    return packet(mqttraw.UNSUBSCRIBE, 0x02, body)


def puback5(pid):
    return packet(PUBACK, 0, struct.pack("!H", pid))


def disconnect5(reason=0, props=()):
    return packet(DISCONNECT, 0, bytes([reason]) + encode_props(props))


class Connack5:
    def __init__(self, p):
        if p.type != CONNACK:
            raise mqttraw.ProtocolError("expected CONNACK, got %r" % p)
        self.session_present = p.body[0] & 1
        self.rc = p.body[1]
        items, end = decode_props(p.body, 2)
        if end != len(p.body):
            raise mqttraw.ProtocolError("CONNACK has trailing bytes: %r" % p.raw)
        self.props = Props(items)

    def __repr__(self):
        return "<CONNACK5 sp=%d rc=0x%02x %r>" % (self.session_present, self.rc, self.props)


class Publish5:
    def __init__(self, p):
        if p.type != PUBLISH:
            raise mqttraw.ProtocolError("expected PUBLISH, got %r" % p)
        self.qos = (p.flags >> 1) & 3
        self.retain = bool(p.flags & 1)
        self.dup = bool(p.flags & 8)
        n = struct.unpack("!H", p.body[:2])[0]
        self.topic = p.body[2:2 + n].decode("utf-8")
        pos = 2 + n
        self.pid = None
        if self.qos:
            self.pid = struct.unpack("!H", p.body[pos:pos + 2])[0]
            pos += 2
        items, pos = decode_props(p.body, pos)
        self.props = Props(items)
        self.payload = p.body[pos:]
        self.raw = p.raw

    def __repr__(self):
        return "<PUBLISH5 %r qos=%d retain=%d pid=%r %r payload=%r>" % (
            self.topic, self.qos, self.retain, self.pid, self.props, self.payload[:40])


class Reason5:
    """PUBACK/PUBREC/PUBREL/PUBCOMP (with packet id) or DISCONNECT."""

    def __init__(self, p):
        body = p.body
        pos = 0
        self.type = p.type
        self.pid = None
        if p.type != DISCONNECT:
            self.pid = struct.unpack("!H", body[:2])[0]
            pos = 2
        # Absent reason code means 0x00 [MQTT 5.0, 3.4.2.1 / 3.14.2.1].
        self.rc = body[pos] if len(body) > pos else 0
        self.props = Props(decode_props(body, pos + 1)[0] if len(body) > pos + 1 else [])

    def __repr__(self):
        return "<%s pid=%r rc=0x%02x %r>" % (mqttraw.TYPE_NAMES[self.type], self.pid,
                                             self.rc, self.props)


class Suback5:
    def __init__(self, p):
        if p.type not in (SUBACK, UNSUBACK):
            raise mqttraw.ProtocolError("expected SUBACK/UNSUBACK, got %r" % p)
        self.pid = struct.unpack("!H", p.body[:2])[0]
        items, pos = decode_props(p.body, 2)
        self.props = Props(items)
        self.codes = list(p.body[pos:])


class Raw5(mqttraw.RawClient):
    """mqttraw.RawClient speaking MQTT 5."""

    def connect5(self, client_id="", clean_start=True, keepalive=60, props=(),
                 will=None, expect_rc=0, timeout=TIMEOUT):
        self.send(connect5(client_id, clean_start, keepalive, props, will))
        ack = Connack5(self.expect(CONNACK, timeout))
        if expect_rc is not None and ack.rc != expect_rc:
            raise mqttraw.ProtocolError("CONNACK %r, expected rc 0x%02x" % (ack, expect_rc))
        return ack

    def subscribe5(self, filters, pid=1, props=(), timeout=TIMEOUT):
        """filters: a list of (filter, options byte). Returns the codes."""
        self.send(subscribe5(pid, filters, props))
        ack = Suback5(self.expect(SUBACK, timeout))
        if ack.pid != pid:
            raise mqttraw.ProtocolError("SUBACK pid %d, expected %d" % (ack.pid, pid))
        return ack.codes

    def publish5(self, topic, payload=b"", qos=1, pid=1, props=(), retain=False,
                 timeout=TIMEOUT):
        """QoS 1 publish; returns the PUBACK (Reason5). Skips nothing: the
        next packet must be the PUBACK."""
        self.send(publish5(topic, payload, qos, retain, pid, props))
        ack = Reason5(self.expect(PUBACK, timeout))
        if ack.pid != pid:
            raise mqttraw.ProtocolError("PUBACK pid %d, expected %d" % (ack.pid, pid))
        return ack

    def expect_disconnect(self, timeout=TIMEOUT):
        """The broker's DISCONNECT, then the connection closed."""
        d = Reason5(self.expect(DISCONNECT, timeout))
        self.expect_closed(timeout)
        return d

    def publishes(self, timeout=TIMEOUT):
        """Everything the broker sent before answering a PINGREQ, which must
        all be PUBLISH packets (decoded), without acknowledging them."""
        got = self.sync(timeout)
        for p in got:
            if p.type != PUBLISH:
                raise mqttraw.ProtocolError("expected only PUBLISH packets, got %r" % p)
        return [Publish5(p) for p in got]


@pytest.fixture
def raw5():
    """raw5(port, client_id=None, **connect5_kw): with a client_id (may be
    ""), connects and checks CONNACK 0; the CONNACK is kept as .connack."""
    clients = []

    def make(port, client_id=None, host="127.0.0.1", **kw):
        c = Raw5(port, host)
        clients.append(c)
        if client_id is not None:
            c.connack = c.connect5(client_id, **kw)
        return c

    yield make
    for c in clients:
        c.close()


# --------------------------------------------------------------------------
# paho-mqtt speaking MQTT 5
# --------------------------------------------------------------------------

def props_of(packet_type, **kw):
    """Properties(packet_type) with the given attributes; user properties as
    UserProperty=[(k, v), ...]."""
    p = Properties(packet_type)
    for k, v in kw.items():
        setattr(p, k, v)
    return p


def has(props, name):
    return props is not None and hasattr(props, name)


class V5Client(MessageQueue):
    """paho-mqtt 1.6 in MQTT 5 mode; callbacks feed queues. It never
    reconnects on its own: a test sees every disconnection."""

    def __init__(self, port, client_id="", host="127.0.0.1"):
        self.host = host
        self.port = port
        self.client = mqtt.Client(client_id=client_id, protocol=mqtt.MQTTv5,
                                  reconnect_on_failure=False)
        self.connacks = queue.Queue()
        self.messages = queue.Queue()
        self.subacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.started = False
        c = self.client
        c.on_connect = lambda cl, ud, flags, rc, props: self.connacks.put((flags, rc, props))
        c.on_message = lambda cl, ud, msg: self.messages.put(msg)
        c.on_subscribe = lambda cl, ud, mid, rcs, props: self.subacks.put((mid, rcs, props))
        c.on_disconnect = lambda cl, ud, rc, props=None: self.disconnects.put((rc, props))

    def connect(self, clean_start=True, properties=None, keepalive=60, expect_rc=0,
                timeout=TIMEOUT):
        """Returns (session_present, reason code int, CONNACK properties)."""
        self.client.connect(self.host, self.port, keepalive, clean_start=clean_start,
                            properties=properties)
        self.client.loop_start()
        self.started = True
        try:
            flags, rc, props = self.connacks.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no CONNACK within %.1fs" % timeout)
        rcv = rc.value if hasattr(rc, "value") else rc
        if expect_rc is not None:
            assert rcv == expect_rc, "CONNACK reason 0x%02x (%s), expected 0x%02x" % (
                rcv, rc, expect_rc)
        return flags["session present"], rcv, props

    def subscribe(self, topic, qos=0, options=None, properties=None, timeout=TIMEOUT):
        """Returns the SUBACK reason codes as ints."""
        if options is None:
            options = SubscribeOptions(qos=qos)
        rc, mid = self.client.subscribe(topic, options=options, properties=properties)
        assert rc == mqtt.MQTT_ERR_SUCCESS, "subscribe rc %r" % rc
        deadline = time.monotonic() + timeout
        for _ in range(1000):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                got_mid, rcs, _props = self.subacks.get(timeout=remaining)
            except queue.Empty:
                break
            if got_mid == mid:
                return [r.value for r in rcs]
        raise AssertionError("no SUBACK for %r within %.1fs" % (topic, timeout))

    def publish(self, topic, payload=b"", qos=1, retain=False, properties=None,
                timeout=TIMEOUT):
        info = self.client.publish(topic, payload, qos, retain, properties)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, "publish rc %r" % info.rc
        info.wait_for_publish(timeout)
        assert info.is_published(), "publish to %r not completed within %.1fs" % (
            topic, timeout)
        return info

    def wait_disconnect(self, timeout=TIMEOUT):
        """(reason code int or None, properties) of the next disconnection."""
        try:
            rc, props = self.disconnects.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("not disconnected within %.1fs" % timeout)
        return (rc.value if hasattr(rc, "value") else rc), props

    def disconnect(self, reasoncode=None, properties=None, timeout=TIMEOUT):
        self.client.disconnect(reasoncode=reasoncode, properties=properties)
        self.wait_disconnect(timeout)
        self.stop()

    def drop(self):
        """Network failure: the socket closes without DISCONNECT."""
        self.stop()
        sock = self.client.socket()
        assert sock is not None, "client has no socket to drop"
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def stop(self):
        if self.started:
            self.started = False
            self.client.loop_stop()


@pytest.fixture
def v5():
    """v5(port, client_id="", connect=True, clean_start=True, properties=None,
    keepalive=60) -> V5Client; the CONNACK is kept as .connack
    (session_present, rc, properties)."""
    clients = []

    def make(port, client_id="", connect=True, **kw):
        c = V5Client(port, client_id)
        clients.append(c)
        if connect:
            c.connack = c.connect(**kw)
        return c

    yield make
    stop_paho_clients(clients)


def session_props(expiry):
    return props_of(PacketTypes.CONNECT, SessionExpiryInterval=expiry)


# ==========================================================================
# CONNACK
# ==========================================================================

def test_connack_properties_announce_limits(broker_factory, v5, raw5):
    b = broker_factory("max_packet_size 65536")
    sp, rc, props = v5(b.port, "v5-connack").connack
    assert (sp, rc) == (0, 0)
    assert has(props, "MaximumPacketSize"), "no Maximum Packet Size in %s" % props
    assert props.MaximumPacketSize == 65536
    # The same, byte by byte: each property at most once, nothing unknown.
    ack = raw5(b.port, "raw-connack").connack
    assert ack.props.get(MAXIMUM_PACKET_SIZE) == 65536, ack
    for pid, _ in ack.props.items:
        assert len(ack.props.all(pid)) == 1, "property 0x%02x repeated: %r" % (pid, ack)
    assert ASSIGNED_CLIENT_ID not in ack.props, ack
    assert AUTH_METHOD not in ack.props, ack
    # Not asked for (Request Response Information absent = 0) [MQTT-3.1.2-28].
    assert RESPONSE_INFO not in ack.props, ack
    if RECEIVE_MAXIMUM in ack.props:
        assert ack.props.get(RECEIVE_MAXIMUM) >= 1, ack
    if MAXIMUM_QOS in ack.props:
        assert ack.props.get(MAXIMUM_QOS) in (0, 1), ack


def test_empty_client_id_gets_assigned_identifier(broker, v5):
    a = v5(broker.port, "")
    b = v5(broker.port, "")
    ids = []
    for c in (a, b):
        _, _, props = c.connack
        assert has(props, "AssignedClientIdentifier"), "none assigned: %s" % props
        assert props.AssignedClientIdentifier, "empty assigned identifier"
        ids.append(props.AssignedClientIdentifier)
    assert ids[0] != ids[1], "both clients were assigned %r" % ids[0]
    # The assigned id is a working session: both clients still serve.
    assert a.subscribe("assigned/t", 1) == [1]
    b.publish("assigned/t", b"hello", qos=1)
    assert a.get().payload == b"hello"


def test_given_client_id_is_not_reassigned(broker, v5):
    _, _, props = v5(broker.port, "v5-named").connack
    assert not has(props, "AssignedClientIdentifier"), props


def test_keepalive_max_returned_as_server_keepalive(broker_factory, v5, raw5):
    b = broker_factory("keepalive_max 10")
    _, _, props = v5(b.port, "ka-above", keepalive=60).connack
    assert has(props, "ServerKeepAlive"), "no Server Keep Alive in %s" % props
    assert props.ServerKeepAlive == 10
    # Keepalive 0 (none) is above any maximum too.
    ack = raw5(b.port, "ka-zero", keepalive=0).connack
    assert ack.props.get(SERVER_KEEPALIVE) == 10, ack
    # Within the maximum: the client's own value stands, nothing is sent.
    ack = raw5(b.port, "ka-within", keepalive=5).connack
    assert SERVER_KEEPALIVE not in ack.props, ack


# ==========================================================================
# Properties travel with the message
# ==========================================================================

def test_publish_properties_reach_v5_subscriber(broker, v5):
    sub = v5(broker.port, "props-sub")
    pub = v5(broker.port, "props-pub")
    assert sub.subscribe("props/t", 1) == [1]
    user = [("k", "1"), ("z", "2"), ("k", "3"), ("a", "")]
    props = props_of(PacketTypes.PUBLISH, UserProperty=user, ContentType="text/plain",
                     ResponseTopic="props/reply", CorrelationData=b"\x00\x01corr\xff",
                     PayloadFormatIndicator=1)
    pub.publish("props/t", "héllo".encode("utf-8"), qos=1, properties=props)
    m = sub.get()
    assert m.topic == "props/t" and m.payload == "héllo".encode("utf-8")
    got = m.properties
    assert got.UserProperty == user, "user properties %r" % got.UserProperty
    assert got.ContentType == "text/plain"
    assert got.ResponseTopic == "props/reply"
    assert got.CorrelationData == b"\x00\x01corr\xff"
    assert got.PayloadFormatIndicator == 1
    assert not has(got, "MessageExpiryInterval"), "expiry invented: %s" % got
    assert not has(got, "TopicAlias"), got


def test_properties_kept_at_qos0_and_for_retained(broker, v5):
    pub = v5(broker.port, "keep-pub")
    props = props_of(PacketTypes.PUBLISH, UserProperty=[("x", "y")], ContentType="ct")
    live = v5(broker.port, "keep-live")
    assert live.subscribe("keep/t", 0) == [0]
    pub.publish("keep/t", b"r", qos=1, retain=True, properties=props)
    m = live.get()
    assert (m.qos, m.properties.UserProperty, m.properties.ContentType) == (0, [("x", "y")], "ct")
    later = v5(broker.port, "keep-later")
    assert later.subscribe("keep/t", 1) == [1]
    m = later.get()
    assert m.retain, "retained copy without the retain flag"
    assert m.properties.UserProperty == [("x", "y")] and m.properties.ContentType == "ct"


def test_request_response_across_two_clients(broker, v5):
    requester = v5(broker.port, "requester")
    responder = v5(broker.port, "responder")

    def answer(client, userdata, msg):
        p = msg.properties
        reply = props_of(PacketTypes.PUBLISH, CorrelationData=p.CorrelationData)
        client.publish(p.ResponseTopic, b"re: " + msg.payload, 1, False, reply)

    responder.client.on_message = answer
    assert responder.subscribe("svc/request", 1) == [1]
    assert requester.subscribe("svc/reply/requester", 1) == [1]
    for corr in (b"id-1", b"id-2"):
        req = props_of(PacketTypes.PUBLISH, ResponseTopic="svc/reply/requester",
                       CorrelationData=corr)
        requester.publish("svc/request", b"ask " + corr, qos=1, properties=req)
        m = requester.get()
        assert m.topic == "svc/reply/requester"
        assert m.payload == b"re: ask " + corr
        assert m.properties.CorrelationData == corr


# ==========================================================================
# MQTT 3.1.1 and MQTT 5 on one broker
# ==========================================================================

def test_v311_subscriber_gets_v5_message_without_properties(broker, v5, paho):
    raw311 = mqttraw.connected(broker.port, "v311-raw")
    try:
        assert raw311.subscribe([("mix/t", 1)]) == [1]
        paho311 = paho(broker.port, "v311-paho")
        assert paho311.subscribe("mix/t", 1) == [1]
        pub = v5(broker.port, "v5-pub")
        props = props_of(PacketTypes.PUBLISH, UserProperty=[("k", "v")],
                         ContentType="text/plain", MessageExpiryInterval=60,
                         CorrelationData=b"c")
        pub.publish("mix/t", b"from five", qos=1, properties=props)
        # A property block leaking into 3.1.1 would show up in the payload.
        p = raw311.recv_publish()
        assert (p.topic, p.qos, p.payload) == ("mix/t", 1, b"from five"), p
        m = paho311.get()
        assert (m.topic, m.payload) == ("mix/t", b"from five")
        raw311.send(mqttraw.pingreq())
        raw311.expect(PINGRESP)
    finally:
        raw311.close()


def test_v5_subscriber_gets_v311_message(broker, v5, paho):
    sub = v5(broker.port, "v5-sub")
    assert sub.subscribe("mix/back", 1) == [1]
    paho311 = paho(broker.port, "v311-pub")
    paho311.publish("mix/back", b"from paho 3.1.1", qos=1)
    raw311 = mqttraw.connected(broker.port, "v311-rawpub")
    try:
        raw311.publish("mix/back", b"from raw 3.1.1", qos=1, pid=7)
    finally:
        raw311.close()
    got = [sub.get(), sub.get()]
    assert [(m.topic, m.payload) for m in got] == [
        ("mix/back", b"from paho 3.1.1"), ("mix/back", b"from raw 3.1.1")]
    for m in got:
        for name in ("UserProperty", "ContentType", "ResponseTopic", "CorrelationData",
                     "PayloadFormatIndicator", "MessageExpiryInterval"):
            assert not has(m.properties, name), "%s on a 3.1.1 message: %s" % (
                name, m.properties)


MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"


@pytest.mark.skipif(not os.access(MOSQUITTO_PUB, os.X_OK),
                    reason="mosquitto_pub not installed")
def test_mosquitto_pub_v5_properties_reach_paho_v5(broker, v5):
    sub = v5(broker.port, "mosq-v5-sub")
    assert sub.subscribe("mosq/v5", 1) == [1]
    r = subprocess.run(
        [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(broker.port), "-V", "mqttv5",
         "-q", "1", "-t", "mosq/v5", "-m", "from mosquitto_pub",
         "-D", "publish", "user-property", "who", "mosquitto",
         "-D", "publish", "content-type", "text/plain"],
        stdin=subprocess.DEVNULL, capture_output=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    m = sub.get()
    assert m.payload == b"from mosquitto_pub"
    assert m.properties.UserProperty == [("who", "mosquitto")]
    assert m.properties.ContentType == "text/plain"


# ==========================================================================
# Message expiry
# ==========================================================================

def test_message_expiry_while_subscriber_offline(broker, v5):
    sub = v5(broker.port, "exp-sub", properties=session_props(60))
    assert sub.subscribe("exp/t", 1) == [1]
    sub.disconnect()
    pub = v5(broker.port, "exp-pub")
    pub.publish("exp/t", b"short", qos=1,
                properties=props_of(PacketTypes.PUBLISH, MessageExpiryInterval=1))
    pub.publish("exp/t", b"long", qos=1,
                properties=props_of(PacketTypes.PUBLISH, MessageExpiryInterval=30))
    pub.publish("exp/t", b"forever", qos=1)
    let_time_pass(2.2)
    back = v5(broker.port, "exp-sub", clean_start=False, properties=session_props(60))
    assert back.connack[0] == 1, "session not resumed"
    pub.publish("exp/t", b"marker", qos=1)
    got = []
    for _ in range(10):
        m = back.get()
        if m.payload == b"marker":
            break
        got.append(m)
    assert [m.payload for m in got] == [b"long", b"forever"], \
        "expected the expired message dropped, got %r" % [m.payload for m in got]
    left = got[0].properties.MessageExpiryInterval
    # Sent on with the time left [MQTT-3.3.2-6]: about 28 of 30 seconds.
    assert 1 <= left <= 29, "Message Expiry Interval %r after 2 s of 30" % left
    assert not has(got[1].properties, "MessageExpiryInterval")


def test_message_expiry_interval_forwarded_live(broker, v5):
    sub = v5(broker.port, "exp-live-sub")
    assert sub.subscribe("exp/live", 1) == [1]
    pub = v5(broker.port, "exp-live-pub")
    pub.publish("exp/live", b"x", qos=1,
                properties=props_of(PacketTypes.PUBLISH, MessageExpiryInterval=30))
    m = sub.get()
    assert 29 <= m.properties.MessageExpiryInterval <= 30, m.properties


def test_expired_retained_message_not_sent(broker, v5):
    pub = v5(broker.port, "exp-ret-pub")
    pub.publish("exp/ret/short", b"short", qos=1, retain=True,
                properties=props_of(PacketTypes.PUBLISH, MessageExpiryInterval=1))
    pub.publish("exp/ret/long", b"long", qos=1, retain=True,
                properties=props_of(PacketTypes.PUBLISH, MessageExpiryInterval=60))
    let_time_pass(2.2)
    sub = v5(broker.port, "exp-ret-sub")
    assert sub.subscribe("marker/exp-ret", 0) == [0]
    assert sub.subscribe("exp/ret/#", 1) == [1]
    sub.publish("marker/exp-ret", b"m", qos=0)
    got = sub.get_until("marker/exp-ret")
    assert [m.payload for m in got] == [b"long"], [m.payload for m in got]


# ==========================================================================
# Session expiry
# ==========================================================================

def test_session_expiry_short_session_is_gone(broker, v5):
    c = v5(broker.port, "sess-short", properties=session_props(1))
    assert c.connack[0] == 0
    assert c.subscribe("sess/short", 1) == [1]
    c.disconnect()
    let_time_pass(2.2)
    back = v5(broker.port, "sess-short", clean_start=False, properties=session_props(60))
    assert back.connack[0] == 0, "session present after its expiry interval passed"
    # Its subscription went with it.
    assert back.subscribe("marker/sess-short", 0) == [0]
    pub = v5(broker.port, "sess-short-pub")
    pub.publish("sess/short", b"lost", qos=1)
    pub.publish("marker/sess-short", b"m", qos=1)
    assert back.get_until("marker/sess-short") == []


def test_session_expiry_long_session_kept_with_queued_messages(broker, v5):
    c = v5(broker.port, "sess-long", properties=session_props(60))
    assert c.subscribe("sess/long", 1) == [1]
    c.disconnect()
    pub = v5(broker.port, "sess-long-pub")
    for i in range(5):
        pub.publish("sess/long", b"q%d" % i, qos=1)
    let_time_pass(2.2)
    back = v5(broker.port, "sess-long", clean_start=False, properties=session_props(60))
    assert back.connack[0] == 1, "session lost within its expiry interval"
    assert [back.get().payload for _ in range(5)] == [b"q%d" % i for i in range(5)]


def test_session_expiry_zero_ends_with_connection(broker, v5):
    c = v5(broker.port, "sess-zero")  # no Session Expiry Interval: 0
    assert c.subscribe("sess/zero", 1) == [1]
    c.disconnect()
    back = v5(broker.port, "sess-zero", clean_start=False)
    assert back.connack[0] == 0


def test_clean_start_discards_existing_session(broker, v5):
    """Clean Start 1 discards the stored session [MQTT-3.1.2-4]: not only
    Session Present 0, but its subscription and the messages queued for it
    are gone."""
    c = v5(broker.port, "sess-clean", properties=session_props(60))
    assert c.subscribe("sess/clean", 1) == [1]
    c.disconnect()
    pub = v5(broker.port, "sess-clean-pub")
    pub.publish("sess/clean", b"queued", qos=1)  # for the offline session
    back = v5(broker.port, "sess-clean", clean_start=True, properties=session_props(60))
    assert back.connack[0] == 0
    assert back.subscribe("marker/sess-clean", 1) == [1]
    pub.publish("sess/clean", b"live", qos=1)  # on the old subscription
    pub.publish("marker/sess-clean", b"m", qos=1)
    got = back.get_until("marker/sess-clean")
    assert [(m.topic, m.payload) for m in got] == [], "the old session survived Clean Start 1"


def test_session_expiry_set_at_disconnect(broker, raw5):
    c = raw5(broker.port, "sess-at-disc", props=[(SESSION_EXPIRY, 60)])
    assert c.subscribe5([("sess/disc", 1)]) == [1]
    c.send(disconnect5(0, [(SESSION_EXPIRY, 1)]))
    c.expect_closed()
    let_time_pass(2.2)
    back = raw5(broker.port, "sess-at-disc", clean_start=False,
                props=[(SESSION_EXPIRY, 60)])
    assert back.connack.session_present == 0, "DISCONNECT's session expiry ignored"


def test_session_expiry_at_disconnect_after_zero_is_protocol_error(broker, raw5):
    c = raw5(broker.port, "sess-zero-disc")
    c.send(disconnect5(0, [(SESSION_EXPIRY, 30)]))
    d = c.expect_disconnect()
    assert d.rc == 0x82, d


# ==========================================================================
# Will delay
# ==========================================================================

def will_client(v5, port, client_id, topic, delay, expiry=60):
    c = v5(port, client_id, connect=False)
    wprops = props_of(PacketTypes.WILLMESSAGE, WillDelayInterval=delay) if delay else None
    c.client.will_set(topic, b"will of " + client_id.encode(), 1, False, properties=wprops)
    c.connack = c.connect(properties=session_props(expiry))
    return c


def test_will_delay_published_after_interval(broker, v5):
    watcher = v5(broker.port, "will-watch")
    assert watcher.subscribe("will/delayed", 1) == [1]
    c = will_client(v5, broker.port, "will-delayed", "will/delayed", delay=2)
    c.drop()
    start = time.monotonic()
    watcher.no_message(1.0)
    m = watcher.get(timeout=4.0 - (time.monotonic() - start))
    elapsed = time.monotonic() - start
    assert m.payload == b"will of will-delayed"
    assert elapsed >= 1.5, "will after %.2fs, its delay is 2 s" % elapsed


def test_will_without_delay_published_at_once(broker, v5):
    watcher = v5(broker.port, "will-watch0")
    assert watcher.subscribe("will/now", 1) == [1]
    c = will_client(v5, broker.port, "will-now", "will/now", delay=0)
    c.drop()
    start = time.monotonic()
    m = watcher.get(timeout=2.0)
    assert m.payload == b"will of will-now"
    assert time.monotonic() - start < 1.5


def test_will_properties_forwarded(broker, v5, raw5):
    watcher = v5(broker.port, "will-props-watch")
    assert watcher.subscribe("will/props", 1) == [1]
    c = raw5(broker.port, "will-props", props=[(SESSION_EXPIRY, 0)],
             will=("will/props", b"gone", 1, False,
                   [(CONTENT_TYPE, "text/plain"), (USER_PROPERTY, ("a", "1")),
                    (USER_PROPERTY, ("a", "2")), (MESSAGE_EXPIRY, 30)]))
    c.drop()
    m = watcher.get(timeout=2.0)
    assert m.payload == b"gone"
    assert m.properties.ContentType == "text/plain"
    assert m.properties.UserProperty == [("a", "1"), ("a", "2")]
    assert 1 <= m.properties.MessageExpiryInterval <= 30
    assert not has(m.properties, "WillDelayInterval")


def test_will_delay_cancelled_by_reconnect(broker, v5, raw5):
    watcher = v5(broker.port, "will-watch2")
    assert watcher.subscribe("will/cancel", 1) == [1]
    will = ("will/cancel", b"should not be sent", 1, False, [(WILL_DELAY, 2)])
    c = raw5(broker.port, "will-cancel", props=[(SESSION_EXPIRY, 60)], will=will)
    c.drop()
    back = raw5(broker.port, "will-cancel", clean_start=False, props=[(SESSION_EXPIRY, 60)])
    assert back.connack.session_present == 1
    watcher.no_message(3.0)
    back.send(disconnect5(0))
    back.expect_closed()
    # The watcher works: a will that is due does arrive.
    c2 = raw5(broker.port, "will-cancel-2", props=[(SESSION_EXPIRY, 60)],
              will=("will/cancel", b"control", 1, False, []))
    c2.drop()
    assert watcher.get(timeout=2.0).payload == b"control"


def test_will_delay_cut_short_by_session_expiry(broker, v5, raw5):
    """The will goes out when the delay passes or the session ends,
    whichever comes first [MQTT-3.1.3-9]."""
    watcher = v5(broker.port, "will-watch3")
    assert watcher.subscribe("will/expiry", 1) == [1]
    c = raw5(broker.port, "will-expiry", props=[(SESSION_EXPIRY, 1)],
             will=("will/expiry", b"session ended", 1, False, [(WILL_DELAY, 60)]))
    start = time.monotonic()
    c.drop()
    m = watcher.get(timeout=4.0)
    assert m.payload == b"session ended"
    assert time.monotonic() - start < 3.0, "will waited for its delay, not the session"


def test_disconnect_with_will_message_publishes_will(broker, v5):
    watcher = v5(broker.port, "will-watch4")
    assert watcher.subscribe("will/rc4", 1) == [1]
    c = will_client(v5, broker.port, "will-rc4", "will/rc4", delay=0, expiry=0)
    c.disconnect(reasoncode=ReasonCodes(PacketTypes.DISCONNECT,
                                        "Disconnect with will message"))
    m = watcher.get(timeout=2.0)
    assert m.payload == b"will of will-rc4"


def test_normal_disconnect_discards_will(broker, v5):
    watcher = v5(broker.port, "will-watch5")
    assert watcher.subscribe("will/rc0", 1) == [1]
    assert watcher.subscribe("marker/rc0", 1) == [1]
    c = will_client(v5, broker.port, "will-rc0", "will/rc0", delay=0, expiry=0)
    c.disconnect()
    watcher.publish("marker/rc0", b"m", qos=1)
    assert watcher.get_until("marker/rc0") == []


# ==========================================================================
# Subscription options
# ==========================================================================

def test_no_local(broker, v5):
    a = v5(broker.port, "nolocal-a")
    other = v5(broker.port, "nolocal-b")
    assert a.subscribe("nl/t", options=SubscribeOptions(qos=1, noLocal=True)) == [1]
    assert a.subscribe("nl/control", options=SubscribeOptions(qos=1)) == [1]
    a.publish("nl/t", b"own", qos=1)
    other.publish("nl/t", b"other", qos=1)
    m = a.get()
    assert (m.topic, m.payload) == ("nl/t", b"other"), \
        "No Local subscriber got its own message %r" % m.payload
    # Without No Local a client gets its own messages.
    a.publish("nl/control", b"own control", qos=1)
    m = a.get()
    assert (m.topic, m.payload) == ("nl/control", b"own control")


def test_retain_as_published(broker, v5):
    rap = v5(broker.port, "rap-yes")
    plain = v5(broker.port, "rap-no")
    assert rap.subscribe("rap/t", options=SubscribeOptions(qos=1, retainAsPublished=True)) == [1]
    assert plain.subscribe("rap/t", options=SubscribeOptions(qos=1)) == [1]
    pub = v5(broker.port, "rap-pub")
    pub.publish("rap/t", b"retained", qos=1, retain=True)
    pub.publish("rap/t", b"not retained", qos=1, retain=False)
    assert [(m.payload, m.retain) for m in (rap.get(), rap.get())] == [
        (b"retained", True), (b"not retained", False)]
    assert [(m.payload, m.retain) for m in (plain.get(), plain.get())] == [
        (b"retained", False), (b"not retained", False)]


@pytest.mark.parametrize("handling,first,again", [
    (SubscribeOptions.RETAIN_SEND_ON_SUBSCRIBE, 1, 1),
    (SubscribeOptions.RETAIN_SEND_IF_NEW_SUB, 1, 0),
    (SubscribeOptions.RETAIN_DO_NOT_SEND, 0, 0),
])
def test_retain_handling(broker, v5, handling, first, again):
    pub = v5(broker.port, "rh-pub")
    pub.publish("rh/t", b"kept", qos=1, retain=True)
    sub = v5(broker.port, "rh-sub")
    assert sub.subscribe("marker/rh", 0) == [0]
    opts = SubscribeOptions(qos=1, retainHandling=handling)
    for expected in (first, again):
        assert sub.subscribe("rh/t", options=opts) == [1]
        # Retained messages follow the SUBACK, before the marker is routed.
        sub.publish("marker/rh", b"m", qos=0)
        got = sub.get_until("marker/rh")
        assert [(m.payload, m.retain) for m in got] == [(b"kept", True)] * expected, \
            "retain handling %d: got %r" % (handling, [(m.payload, m.retain) for m in got])


def test_subscription_identifier_delivered(broker, v5):
    sub = v5(broker.port, "subid")
    assert sub.subscribe("sid/a/+", 1,
                         properties=props_of(PacketTypes.SUBSCRIBE,
                                             SubscriptionIdentifier=7)) == [1]
    assert sub.subscribe("sid/b", 1) == [1]
    pub = v5(broker.port, "subid-pub")
    pub.publish("sid/a/x", b"with id", qos=1)
    pub.publish("sid/b", b"without id", qos=1)
    m = sub.get()
    assert m.payload == b"with id"
    assert m.properties.SubscriptionIdentifier == [7]
    m = sub.get()
    assert m.payload == b"without id"
    assert not has(m.properties, "SubscriptionIdentifier"), m.properties


@agora_only("one copy per overlapping match; MQTT 5 also allows one per "
             "subscription, as Mosquitto does")
def test_overlapping_subscriptions_one_message_both_identifiers(broker, v5):
    sub = v5(broker.port, "subid2")
    assert sub.subscribe("ov/+/x", 1, properties=props_of(
        PacketTypes.SUBSCRIBE, SubscriptionIdentifier=1)) == [1]
    assert sub.subscribe("ov/#", 0, properties=props_of(
        PacketTypes.SUBSCRIBE, SubscriptionIdentifier=200000)) == [0]
    assert sub.subscribe("marker/ov", 0) == [0]
    pub = v5(broker.port, "subid2-pub")
    pub.publish("ov/a/x", b"both", qos=1)
    pub.publish("ov/a/y", b"second only", qos=1)
    pub.publish("marker/ov", b"m", qos=1)
    got = sub.get_until("marker/ov")
    assert [m.payload for m in got] == [b"both", b"second only"], \
        "overlapping subscriptions: %r" % [m.payload for m in got]
    assert sorted(got[0].properties.SubscriptionIdentifier) == [1, 200000]
    assert got[0].qos == 1, "highest granted QoS not used"
    assert got[1].properties.SubscriptionIdentifier == [200000]


def test_resubscribe_replaces_identifier(broker, v5):
    sub = v5(broker.port, "subid3")
    assert sub.subscribe("rs/t", 1, properties=props_of(
        PacketTypes.SUBSCRIBE, SubscriptionIdentifier=5)) == [1]
    assert sub.subscribe("rs/t", 1, properties=props_of(
        PacketTypes.SUBSCRIBE, SubscriptionIdentifier=6)) == [1]
    pub = v5(broker.port, "subid3-pub")
    pub.publish("rs/t", b"x", qos=1)
    m = sub.get()
    assert m.properties.SubscriptionIdentifier == [6]
    assert sub.subscribe("rs/t", 1) == [1]
    pub.publish("rs/t", b"y", qos=1)
    m = sub.get()
    assert not has(m.properties, "SubscriptionIdentifier"), m.properties


# ==========================================================================
# SUBACK / UNSUBACK reason codes
# ==========================================================================

@agora_only("an invalid filter is refused in SUBACK (Mosquitto closes the connection)")
def test_suback_invalid_filter_0x8f(broker, raw5):
    c = raw5(broker.port, "suback-bad")
    codes = c.subscribe5([("a/#/b", 1), ("ok/+/t", 1), ("a+/b", 0), ("ok/#", 2)])
    assert codes == [0x8F, 0x01, 0x8F, 0x02], ["0x%02x" % x for x in codes]


def test_shared_subscription_suback_agrees_with_connack(broker, raw5, v5):
    """A broker announcing Shared Subscription Available 0 refuses a $share
    filter with 0x9E; one announcing them (absent means available) grants
    it. Either way the rest of the SUBSCRIBE is granted. (Only the refusal
    or the grant is checked here, not how shared groups deliver.)"""
    c = raw5(broker.port, "suback-share")
    available = c.connack.props.get(SHARED_SUB_AVAILABLE, 1)
    assert available in (0, 1), c.connack
    codes = c.subscribe5([("$share/g/t", 1), ("share/plain", 1)])
    expected = [0x9E, 0x01] if available == 0 else [0x01, 0x01]
    assert codes == expected, "Shared Subscription Available %d, SUBACK %r" % (
        available, ["0x%02x" % x for x in codes])
    # paho sees the same, and its CONNACK says the same.
    p = v5(broker.port, "paho-share")
    props = p.connack[2]
    paho_available = props.SharedSubscriptionAvailable if has(
        props, "SharedSubscriptionAvailable") else 1
    assert paho_available == available
    assert p.subscribe("$share/grp/x/y", 0) == ([0x9E] if available == 0 else [0])


def test_unsuback_no_subscription_existed(broker, raw5):
    c = raw5(broker.port, "unsuback")
    assert c.subscribe5([("us/t", 1)]) == [1]
    c.send(unsubscribe5(3, ["us/t", "us/never"]))
    ack = Suback5(c.expect(UNSUBACK))
    assert ack.pid == 3
    assert ack.codes == [0x00, 0x11], ack.codes


# ==========================================================================
# PUBACK reason codes
# ==========================================================================

def test_puback_no_matching_subscribers_0x10(broker, raw5):
    c = raw5(broker.port, "puback-10")
    ack = c.publish5("nobody/listens", b"x", pid=1)
    assert ack.rc == 0x10, ack
    assert c.subscribe5([("nobody/listens", 1)], pid=2) == [1]
    c.send(publish5("nobody/listens", b"y", qos=1, pid=3))
    got = c.sync()
    acks = [Reason5(p) for p in got if p.type == PUBACK]
    pubs = [Publish5(p) for p in got if p.type == PUBLISH]
    assert len(acks) == 1 and acks[0].pid == 3 and acks[0].rc == 0x00, got
    assert [p.payload for p in pubs] == [b"y"], got


@agora_only("payload format validation is optional (Mosquitto 2.0.11 does none)")
def test_puback_payload_format_invalid_0x99(broker, raw5):
    sub = raw5(broker.port, "pfi-sub")
    assert sub.subscribe5([("pfi/t", 1)]) == [1]
    pub = raw5(broker.port, "pfi-pub")
    ack = pub.publish5("pfi/t", b"\xff\xfe not utf-8", pid=1, props=[(PAYLOAD_FORMAT, 1)])
    assert ack.rc == 0x99, ack
    assert sub.publishes() == [], "a message with an invalid UTF-8 payload was routed"
    # Valid UTF-8 with the indicator, and bytes without it, both go through.
    ack = pub.publish5("pfi/t", "grüße".encode("utf-8"), pid=2, props=[(PAYLOAD_FORMAT, 1)])
    assert ack.rc == 0x00, ack
    ack = pub.publish5("pfi/t", b"\xff\xfe binary", pid=3)
    assert ack.rc == 0x00, ack
    got = sub.publishes()
    assert [(p.payload, p.props.get(PAYLOAD_FORMAT)) for p in got] == [
        ("grüße".encode("utf-8"), 1), (b"\xff\xfe binary", None)], got


# ==========================================================================
# The broker's DISCONNECT to MQTT 5 clients, CONNACK refusals
# ==========================================================================

@agora_only("Mosquitto 2.0.11 closes a taken-over connection without DISCONNECT")
def test_session_takeover_disconnect_0x8e(broker, raw5, v5):
    first = raw5(broker.port, "takeover")
    second = v5(broker.port, "takeover")
    d = first.expect_disconnect()
    assert d.rc == 0x8E, d
    assert second.subscribe("takeover/t", 0) == [0], "the new connection must work"
    # A paho client taken over sees its connection end. (paho 1.6.1 only
    # reports a DISCONNECT's reason code when the packet has properties too,
    # so the code itself is checked on the raw client above.)
    third = v5(broker.port, "takeover")
    second.wait_disconnect()
    assert third.subscribe("takeover/t", 0) == [0]


@agora_only("DISCONNECT 0x8B on shutdown (Mosquitto 2.0.11 just closes)")
def test_sigterm_disconnect_0x8b(broker_factory, raw5):
    b = broker_factory()
    c = raw5(b.port, "shutdown")
    assert b.stop() == 0
    d = c.expect_disconnect()
    assert d.rc == 0x8B, d


@agora_only("DISCONNECT 0x8D before closing (Mosquitto 2.0.11 just closes)")
def test_keepalive_timeout_disconnect_0x8d(broker, raw5):
    c = raw5(broker.port, "ka-timeout", keepalive=1)
    start = time.monotonic()
    d = Reason5(c.expect(DISCONNECT, timeout=4.0))
    elapsed = time.monotonic() - start
    assert d.rc == 0x8D, d
    assert 1.0 <= elapsed <= 3.5, "keepalive 1 s enforced after %.2fs" % elapsed
    c.expect_closed()


def test_topic_alias_refused_when_none_allowed_0x94(broker_factory, raw5):
    b = broker_factory("topic_alias_maximum 0")
    c = raw5(b.port, "alias-none")
    assert c.connack.props.get(TOPIC_ALIAS_MAXIMUM, 0) == 0, c.connack
    c.send(publish5("alias/t", b"x", qos=0, props=[(TOPIC_ALIAS, 1)]))
    d = c.expect_disconnect()
    assert d.rc == 0x94, d


def test_topic_alias_above_announced_maximum_0x94(broker, raw5):
    c = raw5(broker.port, "alias-above")
    maximum = c.connack.props.get(TOPIC_ALIAS_MAXIMUM, 0)
    c.send(publish5("alias/t", b"x", qos=1, pid=1, props=[(TOPIC_ALIAS, maximum + 1)]))
    d = c.expect_disconnect()
    assert d.rc == 0x94, d


def test_packet_over_max_packet_size_0x95(broker_factory, raw5):
    b = broker_factory("max_packet_size 1024")
    c = raw5(b.port, "too-big")
    assert c.connack.props.get(MAXIMUM_PACKET_SIZE) == 1024, c.connack
    ack = c.publish5("big/ok", b"x" * 900, pid=1)  # under the limit: fine
    assert ack.rc in (0x00, 0x10), ack
    c.send(publish5("big/t", b"x" * 2000, qos=1, pid=2))
    d = c.expect_disconnect()
    assert d.rc == 0x95, d


def test_malformed_packet_0x81(broker, raw5):
    c = raw5(broker.port, "malformed")
    # PUBLISH whose property length (5) runs past the end of the packet.
    body = mqtt_str("mal/t") + struct.pack("!H", 1) + varint(5) + bytes([PAYLOAD_FORMAT, 1])
    c.send(packet(PUBLISH, 0x02, body))
    d = c.expect_disconnect()
    assert d.rc == 0x81, d


@agora_only("Mosquitto 2.0.11 accepts a client's Subscription Identifier")
def test_protocol_error_subscription_id_from_client_0x82(broker, raw5):
    c = raw5(broker.port, "proto-err")
    c.send(publish5("pe/t", b"x", qos=0, props=[(SUBSCRIPTION_ID, 3)]))
    d = c.expect_disconnect()
    assert d.rc == 0x82, d


@agora_only("Mosquitto 2.0.11 accepts a client's Subscription Identifier")
def test_disconnect_reason_string_suppressed_without_problem_info(broker, raw5):
    c = raw5(broker.port, "no-problem-info", props=[(REQUEST_PROBLEM_INFO, 0)])
    c.send(publish5("pe/t", b"x", qos=0, props=[(SUBSCRIPTION_ID, 3)]))
    d = c.expect_disconnect()
    assert d.rc == 0x82 and REASON_STRING not in d.props, d


def test_connect_with_authentication_method_refused_0x8c(broker, raw5):
    c = raw5(broker.port)
    # A method the broker does not offer (SCRAM-SHA-256 it does: test_scram.py).
    ack = c.connect5("auth-method", props=[(AUTH_METHOD, "KERBEROS-V5"),
                                           (AUTH_DATA, b"client-first")],
                     expect_rc=None)
    assert ack.rc == 0x8C, ack
    assert ack.session_present == 0
    c.expect_closed()
    # Nothing of the refused client remains: the broker serves others.
    mqttraw.assert_broker_serves(broker.port)


# ==========================================================================
# Limits the client announces
# ==========================================================================

def test_receive_maximum_limits_unacknowledged_messages(broker, raw5):
    sub = raw5(broker.port, "recvmax", props=[(RECEIVE_MAXIMUM, 2)])
    assert sub.subscribe5([("rm/t", 1)]) == [1]
    pub = raw5(broker.port, "recvmax-pub")
    for i in range(5):
        ack = pub.publish5("rm/t", b"m%d" % i, pid=i + 1)
        assert ack.rc == 0x00, ack
    got = sub.publishes()
    assert [p.payload for p in got] == [b"m0", b"m1"], \
        "Receive Maximum 2, got %r" % [p.payload for p in got]
    if not is_agora():
        return  # Mosquitto 2.0.11 then exceeds the Receive Maximum (3 unacknowledged)
    # Each acknowledgement lets exactly one more through, in order.
    sub.send(puback5(got[0].pid))
    more = sub.publishes()
    assert [p.payload for p in more] == [b"m2"], more
    for p in got[1:] + more:
        sub.send(puback5(p.pid))
    rest = sub.publishes()
    assert [p.payload for p in rest] == [b"m3", b"m4"], rest


def test_maximum_packet_size_of_client_respected(broker, raw5):
    sub = raw5(broker.port, "maxpkt", props=[(MAXIMUM_PACKET_SIZE, 100)])
    assert sub.subscribe5([("mp/t", 1)]) == [1]
    pub = raw5(broker.port, "maxpkt-pub")
    pub.publish5("mp/t", b"B" * 200, pid=1)
    pub.publish5("mp/t", b"small", pid=2)
    # Properties count too: 70 bytes of payload plus a 40-byte user property.
    pub.publish5("mp/t", b"C" * 70, pid=3, props=[(USER_PROPERTY, ("k", "v" * 35))])
    got = sub.publishes()
    assert [p.payload for p in got] == [b"small"], \
        "client allows 100-byte packets, got %r" % [(len(p.payload), p.props) for p in got]
    assert len(got[0].raw) <= 100
    sub.send(puback5(got[0].pid))
    assert sub.publishes() == []



# --------------------------------------------------------------------------
# Topic aliases both ways, shared subscriptions, response information and
# redirection
# --------------------------------------------------------------------------

def collect_payloads(client, want, timeout=5.0):
    """PUBLISH payloads a raw client receives until `want` (a set) is seen,
    bounded in time; each PINGREQ round trip flushes what is queued."""
    got = []
    deadline = time.monotonic() + timeout
    while not want <= {p for p in got} and time.monotonic() < deadline:
        for p in client.sync(timeout=max(0.1, deadline - time.monotonic())):
            if p.type == PUBLISH:
                got.append(Publish5(p).payload)
    return got


def test_inbound_topic_alias_binds_and_resolves(broker, raw5):
    sub = raw5(broker.port, "al-sub")
    assert sub.subscribe5([("al/#", 0)]) == [0]
    pub = raw5(broker.port, "al-pub")
    pub.publish5("al/one", b"1", pid=1, props=[(TOPIC_ALIAS, 1)])  # binds alias 1
    pub.publish5("", b"2", pid=2, props=[(TOPIC_ALIAS, 1)])        # stands for al/one
    pub.publish5("al/two", b"3", pid=3, props=[(TOPIC_ALIAS, 1)])  # rebinds it
    pub.publish5("", b"4", pid=4, props=[(TOPIC_ALIAS, 1)])
    got = [(p.topic, p.payload) for p in sub.publishes()]
    assert got == [("al/one", b"1"), ("al/one", b"2"), ("al/two", b"3"), ("al/two", b"4")]


def test_inbound_topic_alias_used_before_set_is_protocol_error(broker, raw5):
    pub = raw5(broker.port, "al-unset")
    pub.send(publish5("", b"x", qos=0, props=[(TOPIC_ALIAS, 3)]))
    assert pub.expect_disconnect().rc == 0x82


@agora_only("outbound topic aliases (Mosquitto does not assign them)")
def test_outbound_topic_aliases_follow_client_maximum(broker, raw5):
    sub = raw5(broker.port, "oa-sub", props=[(TOPIC_ALIAS_MAXIMUM, 2)])
    assert sub.subscribe5([("oa/#", 0)]) == [0]
    plain = raw5(broker.port, "oa-plain")  # announces no maximum: no aliases
    assert plain.subscribe5([("oa/#", 0)]) == [0]
    pub = raw5(broker.port, "oa-pub")
    for i, t in enumerate(["oa/a", "oa/a", "oa/b", "oa/a", "oa/c", "oa/b"]):
        pub.publish5(t, b"%d" % i, pid=i + 1)
    got = [(p.topic, p.props.get(TOPIC_ALIAS)) for p in sub.publishes()]
    # First use binds (topic + alias), later uses send the alias alone; with
    # both aliases taken, the oldest binding is reused.
    assert got == [("oa/a", 1), ("", 1), ("oa/b", 2), ("", 1), ("oa/c", 1), ("", 2)], got
    assert [(p.topic, p.props.get(TOPIC_ALIAS)) for p in plain.publishes()] == [
        ("oa/a", None), ("oa/a", None), ("oa/b", None), ("oa/a", None), ("oa/c", None),
        ("oa/b", None)]


def test_shared_subscription_round_robin_across_versions(broker, raw5, raw):
    m5 = raw5(broker.port, "sh-5")
    assert m5.subscribe5([("$share/g/sh/#", 1)]) == [1]
    m3 = raw(broker.port, "sh-3")  # an MQTT 3.1.1 member of the same group
    assert m3.subscribe([("$share/g/sh/#", 1)]) == [1]
    plain = raw5(broker.port, "sh-plain")
    assert plain.subscribe5([("sh/#", 0)]) == [0]
    pub = raw5(broker.port, "sh-pub")
    sent = {b"%d" % i for i in range(6)}
    for i in range(6):
        pub.publish5("sh/x", b"%d" % i, pid=i + 1)
    a = [p.payload for p in m5.publishes()]
    b = [p.payload for p in m3.sync() if p.type == PUBLISH]
    assert len(a) == 3 and len(b) == 3, (a, b)  # round robin: one member each time
    assert set(a) | set(b) == sent and not set(a) & set(b)
    assert {p.payload for p in plain.publishes()} == sent  # not part of the group


def test_shared_subscription_hands_over_unacknowledged_qos1(broker, raw5):
    m1 = raw5(broker.port, "ho-1")
    assert m1.subscribe5([("$share/h/ho/#", 1)]) == [1]
    m2 = raw5(broker.port, "ho-2")
    assert m2.subscribe5([("$share/h/ho/#", 1)]) == [1]
    pub = raw5(broker.port, "ho-pub")
    pub.publish5("ho/x", b"first", pid=1)
    pub.publish5("ho/x", b"second", pid=2)
    mine = [p.payload for p in m1.publishes()]  # received, never acknowledged
    assert len(mine) == 1, mine
    m1.close()  # gone before acknowledging: the message goes to m2
    got = collect_payloads(m2, {b"first", b"second"})
    assert set(got) == {b"first", b"second"}, got


def test_shared_subscription_gets_no_retained_messages(broker, raw5):
    pub = raw5(broker.port, "shr-pub")
    pub.publish5("shr/x", b"kept", pid=1, retain=True)
    m = raw5(broker.port, "shr-m")
    assert m.subscribe5([("$share/g/shr/#", 1)]) == [1]
    assert m.publishes() == []


def test_response_information_when_asked(broker_factory, raw5):
    b = broker_factory("response_information replies")
    c = raw5(b.port, "ri-client", props=[(REQUEST_RESPONSE_INFO, 1)])
    assert c.connack.props.get(RESPONSE_INFO) == "replies/ri-client"


@pytest.mark.parametrize("moved,rc", [("no", 0x9C), ("yes", 0x9D)])
def test_server_reference_redirects(broker_factory, raw5, raw, moved, rc):
    b = broker_factory("server_reference other.example:1883", "server_moved " + moved)
    c = raw5(b.port)
    ack = c.connect5("rd", expect_rc=rc)
    assert ack.props.get(SERVER_REFERENCE) == "other.example:1883"
    c.expect_closed()
    # An MQTT 3.1.1 client cannot be redirected: server unavailable.
    old = raw(b.port)
    assert old.connect("rd-311", expect_rc=None).rc == 0x03
