"""MQTT over WebSocket (GET /mqtt on the HTTP listener, and on
websocket_listener): paho-mqtt's websockets transport against TCP clients,
accounts and access rules, the Origin allow-list, /metrics, the refusals of
a bad upgrade, and hand-made frames on a raw socket (RFC 6455's rules)."""

import base64
import hashlib
import os
import re
import socket
import struct
import time

import paho.mqtt.client as mqtt
import pytest

from conftest import PahoClient, free_port, paho_factory, require_agora
import apiclient



@pytest.fixture(autouse=True)
def _agora_only():
    require_agora("MQTT over WebSocket")

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class WsPahoClient(PahoClient):
    """PahoClient on paho's websockets transport, path /mqtt."""

    def __init__(self, port, client_id="", protocol=mqtt.MQTTv311, headers=None, **kw):
        if protocol == mqtt.MQTTv5:
            kw["clean_session"] = None  # paho refuses it for MQTT 5
        super().__init__(port, client_id=client_id, protocol=protocol, **kw)
        old = self.client
        self.client = mqtt.Client(client_id=client_id, clean_session=kw.get("clean_session", True),
                                  protocol=protocol, transport="websockets")
        for cb in ("on_connect", "on_message", "on_subscribe", "on_unsubscribe",
                   "on_disconnect"):
            setattr(self.client, cb, getattr(old, cb))
        if protocol == mqtt.MQTTv5:
            self.client.on_connect = (lambda cl, ud, flags, rc, props=None:
                                      self.connacks.put((flags, rc)))
            self.client.on_subscribe = (lambda cl, ud, mid, granted, props=None:
                                        self.subacks.put((mid, [g.value for g in granted])))
            self.client.on_disconnect = (lambda cl, ud, rc, props=None:
                                         self.disconnects.put(rc))
        self.client.ws_set_options(path="/mqtt", headers=headers)


@pytest.fixture
def ws():
    """ws(port, client_id="", connect=True, **kw): a WsPahoClient."""
    yield from paho_factory(WsPahoClient)


# ---------------------------------------------------------------------------
# raw WebSocket
# ---------------------------------------------------------------------------

def recv_exact(s, n):
    out = b""
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            raise AssertionError("connection closed after %d of %d bytes" % (len(out), n))
        out += chunk
    return out


def recv_head(s):
    """The HTTP answer's head (up to the blank line), as text."""
    out = b""
    while b"\r\n\r\n" not in out:
        chunk = s.recv(1)
        if not chunk:
            break
        out += chunk
    return out.decode("latin-1")


def handshake_request(key=None, path="/mqtt", protocol="mqtt", version="13", origin=None,
                      upgrade="websocket", connection="Upgrade", method="GET"):
    if key is None:  # "" leaves the header out
        key = base64.b64encode(os.urandom(16)).decode()
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: 127.0.0.1"]
    if upgrade:
        lines.append("Upgrade: " + upgrade)
    if connection:
        lines.append("Connection: " + connection)
    if version:
        lines.append("Sec-WebSocket-Version: " + version)
    if key:
        lines.append("Sec-WebSocket-Key: " + key)
    if protocol:
        lines.append("Sec-WebSocket-Protocol: " + protocol)
    if origin:
        lines.append("Origin: " + origin)
    return ("\r\n".join(lines) + "\r\n\r\n").encode(), key


def client_frame(payload, opcode=0x2, fin=True, mask=True, rsv=0):
    first = (0x80 if fin else 0) | rsv | opcode
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | n)
    elif n < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, n)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, n)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def read_frame(s):
    """(opcode, payload) of one server frame; asserts it is unmasked."""
    b0, b1 = recv_exact(s, 2)
    assert not b1 & 0x80, "server frames are unmasked"
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(s, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(s, 8))[0]
    return b0 & 0x0F, recv_exact(s, n)


def read_close(s):
    """The close frame's status, then the TCP close."""
    op, payload = read_frame(s)
    assert op == 0x8, "expected a close frame, got opcode %d %r" % (op, payload)
    assert s.recv(1) == b"", "the server closes the TCP connection after its close frame"
    return struct.unpack("!H", payload[:2])[0]


CONNECT = bytes([0x10, 0x0F, 0x00, 0x04]) + b"MQTT" + bytes([0x04, 0x02, 0x00, 0x3C,
                                                                  0x00, 0x03]) + b"raw"
CONNACK = bytes([0x20, 0x02, 0x00, 0x00])


class RawWs:
    """A hand-made WebSocket client on a plain socket."""

    def __init__(self, port, **kw):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=5)
        req, key = handshake_request(**kw)
        self.s.sendall(req)
        self.head = recv_head(self.s)
        self.key = key

    def status(self):
        return int(self.head.split()[1])

    def send(self, data):
        self.s.sendall(data)

    def close(self):
        self.s.close()


@pytest.fixture
def rawws():
    made = []

    def make(port, **kw):
        c = RawWs(port, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def accept_for(key):
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def test_handshake_answer(broker, rawws):
    c = rawws(broker.http_port, protocol="mqttv3.1, mqtt")
    assert c.status() == 101, c.head
    assert re.search(r"(?im)^Upgrade: websocket\r$", c.head)
    assert re.search(r"(?im)^Connection: Upgrade\r$", c.head)
    assert "Sec-WebSocket-Accept: %s\r\n" % accept_for(c.key) in c.head
    # the first of the client's list that the server speaks
    assert re.search(r"(?im)^Sec-WebSocket-Protocol: mqttv3\.1\r$", c.head)


def test_raw_connect_in_one_frame_with_the_upgrade(broker):
    """The CONNECT frame sent in the same write as the upgrade request: the
    bytes after the request are decoded as frames."""
    s = socket.create_connection(("127.0.0.1", broker.http_port), timeout=5)
    try:
        req, _ = handshake_request()
        s.sendall(req + client_frame(CONNECT))
        assert " 101 " in recv_head(s)
        assert read_frame(s) == (0x2, CONNACK)
    finally:
        s.close()


def test_mqtt_packet_across_three_frames_and_two_in_one(broker, rawws):
    c = rawws(broker.http_port)
    assert c.status() == 101
    c.send(client_frame(CONNECT[:5], fin=False) + client_frame(CONNECT[5:9], opcode=0,
                                                                fin=False))
    c.send(client_frame(CONNECT[9:], opcode=0))
    assert read_frame(c.s) == (0x2, CONNACK)
    pingreq = bytes([0xC0, 0x00])
    c.send(client_frame(pingreq * 2))  # two packets in one frame
    got = b""
    while len(got) < 4:
        op, p = read_frame(c.s)
        assert op == 0x2
        got += p
    assert got == bytes([0xD0, 0x00]) * 2


def test_ping_is_answered_with_pong(broker, rawws):
    c = rawws(broker.http_port)
    c.send(client_frame(b"are you there", opcode=0x9))
    assert read_frame(c.s) == (0xA, b"are you there")


def test_close_handshake(broker, rawws):
    c = rawws(broker.http_port)
    c.send(client_frame(CONNECT))
    assert read_frame(c.s) == (0x2, CONNACK)
    c.send(client_frame(struct.pack("!H", 1000) + b"bye", opcode=0x8))
    assert read_close(c.s) == 1000


@pytest.mark.parametrize("frame,status", [
    (client_frame(CONNECT, mask=False), 1002),
    (client_frame(CONNECT, rsv=0x40), 1002),
    (client_frame(b"x", opcode=0x3), 1002),
    (client_frame(b"x", opcode=0x9, fin=False), 1002),
    (client_frame(b"x" * 126, opcode=0x9), 1002),
    (client_frame(b"x", opcode=0x0), 1002),
    (client_frame(b"hello", opcode=0x1), 1003),
    (client_frame(struct.pack("!H", 1000) + b"\xc3\x28", opcode=0x8), 1007),
], ids=["unmasked", "rsv1", "reserved-opcode", "fragmented-ping", "long-ping",
        "stray-continuation", "text", "bad-utf8-reason"])
def test_rule_broken_closes_with_status(broker, rawws, frame, status):
    c = rawws(broker.http_port)
    assert c.status() == 101
    c.send(frame)
    assert read_close(c.s) == status


def test_oversized_frame_and_message(broker_factory, rawws):
    b = broker_factory("websocket_max_message 1000")
    c = rawws(b.http_port)
    c.send(client_frame(b"\0" * 1001))
    assert read_close(c.s) == 1009
    c = rawws(b.http_port)
    c.send(client_frame(b"\0" * 600, fin=False) + client_frame(b"\0" * 600, opcode=0))
    assert read_close(c.s) == 1009


def test_max_message_defaults_to_max_packet_size(broker_factory, rawws):
    b = broker_factory("max_packet_size 2000")
    c = rawws(b.http_port)
    c.send(client_frame(b"\0" * 2001))
    assert read_close(c.s) == 1009


# ---------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("kw,status", [
    (dict(upgrade=None), 400),
    (dict(connection="keep-alive"), 400),
    (dict(key="short"), 400),
    (dict(key=""), 400),
    (dict(protocol=None), 400),
    (dict(protocol="chat"), 400),
    (dict(method="POST"), 400),
    (dict(version="8"), 426),
    (dict(version=None), 426),
], ids=["no-upgrade", "no-connection-upgrade", "bad-key", "no-key", "no-protocol",
        "other-protocol", "post", "version-8", "no-version"])
def test_bad_upgrade_refused(broker, rawws, kw, status):
    c = rawws(broker.http_port, **kw)
    assert c.status() == status, c.head
    assert re.search(r"(?im)^Content-Type: application/json", c.head)
    if status == 426:
        assert re.search(r"(?im)^Sec-WebSocket-Version: 13\r$", c.head)


def test_origin_allow_list(broker_factory, rawws, ws, uniq):
    b = broker_factory("websocket_origins http://good.example, http://also.example")
    assert rawws(b.http_port, origin="http://evil.example").status() == 403
    assert rawws(b.http_port, origin="http://also.example").status() == 101
    assert rawws(b.http_port).status() == 101  # no Origin: not a browser
    # paho sends Origin https://HOST:PORT: refused unless listed
    c = ws(b.http_port, connect=False)
    with pytest.raises(Exception):
        c.client.connect("127.0.0.1", b.http_port)
    port = free_port()
    broker_factory("http_listener 127.0.0.1:%d" % port,
                   "websocket_origins https://127.0.0.1:%d" % port)
    ws(port, client_id="ok" + uniq)


def test_empty_origin_list_allows_any(broker, rawws):
    assert rawws(broker.http_port, origin="http://anything.example").status() == 101


# ---------------------------------------------------------------------------
# MQTT through paho's websockets transport
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("qos", [0, 1, 2])
def test_publish_both_ways_with_tcp(broker, ws, paho, uniq, qos):
    w = ws(broker.http_port, client_id="w" + uniq)
    t = paho(broker.port, client_id="t" + uniq)
    w.subscribe("ws/%s/in" % uniq, qos)
    t.subscribe("ws/%s/out" % uniq, qos)
    t.publish("ws/%s/in" % uniq, b"to websocket", qos)
    m = w.get()
    assert (m.topic, m.payload, m.qos) == ("ws/%s/in" % uniq, b"to websocket", qos)
    big = os.urandom(70000)  # frames with 64-bit lengths, several reads
    w.publish("ws/%s/out" % uniq, big, qos)
    m = t.get()
    assert (m.payload, m.qos) == (big, qos)


def test_retained_to_websocket_client(broker, ws, paho, uniq):
    t = paho(broker.port, client_id="t" + uniq)
    t.publish("ws/%s/r" % uniq, b"kept", 1, retain=True)
    w = ws(broker.http_port, client_id="w" + uniq)
    w.subscribe("ws/%s/r" % uniq, 1)
    m = w.get()
    assert (m.payload, m.retain) == (b"kept", True)


def test_mqtt5_over_websocket(broker, ws, paho, uniq):
    w = ws(broker.http_port, client_id="w" + uniq, protocol=mqtt.MQTTv5)
    t = paho(broker.port, client_id="t" + uniq)
    w.subscribe("ws/%s/5" % uniq, 2)
    t.publish("ws/%s/5" % uniq, b"five", 2)
    m = w.get()
    assert (m.payload, m.qos) == (b"five", 2)


def test_login_and_access_rules(broker, ws, uniq):
    api = apiclient.Api(broker)
    try:
        alice = api.register("alice" + uniq)
        api.register("bob" + uniq)
    finally:
        api.close()
    w = ws(broker.http_port, client_id="a" + uniq, connect=False)
    w.client.username_pw_set(alice.name, alice.password)
    w.connect()
    # another user's inbox is refused (SUBACK 0x80)
    assert w.subscribe("agora/users/bob%s/inbox" % uniq, 1) == [0x80]
    assert w.subscribe("agora/users/alice%s/inbox" % uniq, 1) == [1]  # her own


def test_websocket_listener_on_its_own_port(broker_factory, ws, rawws, paho, uniq):
    port = free_port()
    b = broker_factory("websocket_listener 127.0.0.1:%d" % port)
    b.wait_log(r"MQTT over WebSocket on ws://127\.0\.0\.1:%d/mqtt" % port)
    w = ws(port, client_id="w" + uniq)
    t = paho(b.port, client_id="t" + uniq)
    w.subscribe("ws/%s" % uniq, 1)
    t.publish("ws/%s" % uniq, b"own port", 1)
    assert w.get().payload == b"own port"
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.sendall(b"GET /api/status HTTP/1.1\r\nHost: x\r\n\r\n")
        assert " 404 " in recv_head(s).split("\r\n")[0] + " "
    finally:
        s.close()


def test_websocket_listener_off_by_default(broker):
    assert not any("MQTT over WebSocket on" in l for l in broker.lines)


def test_metrics_count_websocket_clients(broker, ws, uniq):
    import requests
    w = ws(broker.http_port, client_id="w" + uniq)
    text = requests.get(broker.http_url + "/metrics", timeout=5).text
    assert re.search(r'(?m)^agora_websocket_connections 1$', text), text
    assert re.search(r'(?m)^agora_websocket_connections_total 1$', text)
    w.disconnect()


def test_connection_limit_refuses_the_upgrade_with_503(broker_factory, rawws):
    # One MQTT client over TCP fills max_connections 1: an upgrade is one
    # more MQTT client, refused before it starts (503, JSON body), and
    # accepted again once the slot is free.
    import mqttraw
    b = broker_factory("max_connections 1")
    t = mqttraw.RawClient(b.port)
    t.connect()
    c = rawws(b.http_port)
    assert c.status() == 503, c.head
    assert re.search(r"(?im)^Content-Type: application/json", c.head)
    t.disconnect()
    deadline = time.monotonic() + 5
    while True:  # the broker notes the TCP client's end on its next turn
        c = rawws(b.http_port)
        if c.status() == 101:
            break
        assert c.status() == 503 and time.monotonic() < deadline, c.head


def test_sys_counts_websocket_clients(broker_factory, ws, uniq):
    # $SYS/broker/clients/connected counts a WebSocket client like any
    # other: with one WebSocket client and the TCP subscriber, 2.
    import mqttraw
    b = broker_factory("sys_interval 1")
    w = ws(b.http_port, client_id="w" + uniq)
    t = mqttraw.RawClient(b.port)
    t.connect()
    t.subscribe([("$SYS/broker/clients/connected", 0)])
    deadline = time.monotonic() + 10
    seen = []
    while time.monotonic() < deadline:
        p = t.recv_publish(timeout=max(0.1, deadline - time.monotonic()))
        seen.append(p.payload)
        if p.payload == b"2":
            break
    assert seen and seen[-1] == b"2", seen
    w.disconnect()
    t.disconnect()
