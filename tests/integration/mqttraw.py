"""Hand-rolled MQTT 3.1.1 / 3.1 packets over plain sockets.

Everything here is deliberately independent of any MQTT library so the tests
can send malformed or unusual packets and inspect every bit that comes back.

Encoders return ``bytes``. ``RawClient`` wraps a TCP socket with a receive
buffer: ``recv_packet`` reads exactly one packet (bounded by a timeout) and
``expect_closed`` waits, bounded, for the peer to close the connection.
"""

import socket
import struct
import time

CONNECT = 1
CONNACK = 2
PUBLISH = 3
PUBACK = 4
PUBREC = 5
PUBREL = 6
PUBCOMP = 7
SUBSCRIBE = 8
SUBACK = 9
UNSUBSCRIBE = 10
UNSUBACK = 11
PINGREQ = 12
PINGRESP = 13
DISCONNECT = 14

TYPE_NAMES = {
    0: "RESERVED0", 1: "CONNECT", 2: "CONNACK", 3: "PUBLISH", 4: "PUBACK",
    5: "PUBREC", 6: "PUBREL", 7: "PUBCOMP", 8: "SUBSCRIBE", 9: "SUBACK",
    10: "UNSUBSCRIBE", 11: "UNSUBACK", 12: "PINGREQ", 13: "PINGRESP",
    14: "DISCONNECT", 15: "RESERVED15",
}

DEFAULT_TIMEOUT = 5.0


class ProtocolError(AssertionError):
    """The broker sent something the test did not expect."""


class ConnectionClosed(AssertionError):
    """The broker closed the connection while a packet was expected."""


class NoPacket(AssertionError):
    """No (complete) packet arrived within the timeout."""


# --------------------------------------------------------------------------
# Encoding
# --------------------------------------------------------------------------

def _b(s):
    if isinstance(s, str):
        return s.encode("utf-8")
    return bytes(s)


def varint(n):
    """MQTT remaining-length encoding (1..4 bytes)."""
    if n < 0 or n > 268435455:
        raise ValueError("remaining length out of range: %d" % n)
    out = bytearray()
    while True:
        byte = n % 128
        n //= 128
        if n:
            byte |= 0x80
        out.append(byte)
        if not n:
            return bytes(out)


def mqtt_str(s):
    """Two-byte length prefix + bytes (no validation: may carry bad UTF-8)."""
    s = _b(s)
    return struct.pack("!H", len(s)) + s


def packet(ptype, flags, body=b""):
    return bytes([(ptype << 4) | (flags & 0x0F)]) + varint(len(body)) + bytes(body)


def connect(client_id="", clean=True, keepalive=60, will=None, username=None,
            password=None, proto_name=b"MQTT", level=4, flags=None,
            extra=b"", props=None):
    """CONNECT packet.

    will: None or a tuple (topic, payload, qos, retain), and at level 5 a
    fifth item: the will's property block, encoded.
    flags: if given, overrides the computed connect-flags byte entirely.
    extra: bytes appended after the payload (to build malformed packets).
    props: the CONNECT's MQTT 5 property block, encoded; None (the default)
    writes none, a 3.1.1-shaped body whatever the level.
    """
    f = 0
    if clean:
        f |= 0x02
    payload = mqtt_str(client_id)
    if will is not None:
        wtopic, wpayload, wqos, wretain = will[:4]
        f |= 0x04 | ((wqos & 3) << 3) | (0x20 if wretain else 0)
        wprops = bytes(will[4]) if len(will) > 4 else b""
        payload += wprops + mqtt_str(wtopic) + mqtt_str(wpayload)
    if username is not None:
        f |= 0x80
        payload += mqtt_str(username)
    if password is not None:
        f |= 0x40
        payload += mqtt_str(password)
    if flags is not None:
        f = flags
    var = mqtt_str(proto_name) + bytes([level, f]) + struct.pack("!H", keepalive)
    if props is not None:
        var += bytes(props)
    return packet(CONNECT, 0, var + payload + extra)


def connect31(client_id="agora31", **kw):
    """MQTT 3.1 CONNECT ("MQIsdp", level 3)."""
    return connect(client_id, proto_name=b"MQIsdp", level=3, **kw)


def publish(topic, payload=b"", qos=0, retain=False, dup=False, pid=None):
    flags = (0x08 if dup else 0) | ((qos & 3) << 1) | (0x01 if retain else 0)
    body = mqtt_str(topic)
    if qos > 0:
        if pid is None:
            raise ValueError("QoS > 0 needs a packet id")
        body += struct.pack("!H", pid)
    elif pid is not None:
        body += struct.pack("!H", pid)
    return packet(PUBLISH, flags, body + _b(payload))


def _ack(ptype, pid, flags=0):
    return packet(ptype, flags, struct.pack("!H", pid))


def puback(pid):
    return _ack(PUBACK, pid)


def pubrec(pid):
    return _ack(PUBREC, pid)


def pubrel(pid, flags=0x02):
    return _ack(PUBREL, pid, flags)


def pubcomp(pid):
    return _ack(PUBCOMP, pid)


def subscribe(pid, filters, flags=0x02):
    """filters: list of (filter, qos) or (filter, options_byte)."""
    body = struct.pack("!H", pid)
    for f, q in filters:
        body += mqtt_str(f) + bytes([q])
    return packet(SUBSCRIBE, flags, body)


def unsubscribe(pid, filters, flags=0x02):
    body = struct.pack("!H", pid)
    for f in filters:
        body += mqtt_str(f)
    return packet(UNSUBSCRIBE, flags, body)


def pingreq():
    return packet(PINGREQ, 0)


def disconnect():
    return packet(DISCONNECT, 0)


# --------------------------------------------------------------------------
# Decoding
# --------------------------------------------------------------------------

class Packet:
    """One received packet with convenient accessors."""

    def __init__(self, first_byte, body):
        self.first = first_byte
        self.type = first_byte >> 4
        self.flags = first_byte & 0x0F
        self.body = bytes(body)
        self.raw = None  # full bytes, set by the reader

    def __repr__(self):
        extra = ""
        if self.type == PUBLISH:
            extra = " topic=%r qos=%d dup=%d retain=%d pid=%r payload=%r" % (
                self.topic, self.qos, self.dup, self.retain, self.pid,
                self.payload[:60])
        elif self.type in (PUBACK, PUBREC, PUBREL, PUBCOMP, UNSUBACK):
            extra = " pid=%d" % self.pid
        elif self.type == CONNACK:
            extra = " sp=%d rc=%d" % (self.session_present, self.rc)
        elif self.type == SUBACK:
            extra = " pid=%d codes=%r" % (self.pid, self.codes)
        return "<%s flags=0x%x len=%d%s>" % (
            TYPE_NAMES.get(self.type, self.type), self.flags, len(self.body), extra)

    # PUBLISH
    @property
    def qos(self):
        return (self.flags >> 1) & 3

    @property
    def dup(self):
        return bool(self.flags & 0x08)

    @property
    def retain(self):
        return bool(self.flags & 0x01)

    def _topic_len(self):
        return struct.unpack("!H", self.body[:2])[0]

    @property
    def topic(self):
        n = self._topic_len()
        return self.body[2:2 + n].decode("utf-8")

    @property
    def pid(self):
        if self.type == PUBLISH:
            if self.qos == 0:
                return None
            n = self._topic_len()
            return struct.unpack("!H", self.body[2 + n:4 + n])[0]
        return struct.unpack("!H", self.body[:2])[0]

    @property
    def payload(self):
        n = self._topic_len()
        start = 2 + n + (2 if self.qos > 0 else 0)
        return self.body[start:]

    # CONNACK
    @property
    def session_present(self):
        return self.body[0] & 0x01

    @property
    def rc(self):
        return self.body[1]

    # SUBACK
    @property
    def codes(self):
        return list(self.body[2:])


def parse_header(buf):
    """Returns (total_len, header_len) or None if more bytes are needed.
    Raises ProtocolError on a remaining length longer than 4 bytes."""
    if len(buf) < 2:
        return None
    mult = 1
    value = 0
    for i in range(1, 5):
        if i >= len(buf):
            return None
        b = buf[i]
        value += (b & 0x7F) * mult
        if not b & 0x80:
            return 1 + i + value, 1 + i
        mult *= 128
    raise ProtocolError("broker sent a remaining length longer than 4 bytes")


# --------------------------------------------------------------------------
# Client
# --------------------------------------------------------------------------

class RawClient:
    """A TCP connection speaking hand-made MQTT."""

    def __init__(self, port, host="127.0.0.1", timeout=DEFAULT_TIMEOUT):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.eof = False
        self.port = port
        self.host = host

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def send(self, data):
        self.sock.sendall(bytes(data))

    def try_send(self, data):
        """send() that tolerates the broker having already closed."""
        try:
            self.sock.sendall(bytes(data))
            return True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Close with a RST instead of a FIN (SO_LINGER 0)."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                 struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    # -- reading ------------------------------------------------------------

    def _fill(self, deadline):
        """Reads more bytes into the buffer. Returns False on EOF.
        Raises NoPacket when the deadline passes."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise NoPacket("timed out")
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise NoPacket("timed out")
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def _take_packet(self):
        hdr = parse_header(self.buf)
        if hdr is None:
            return None
        total, hlen = hdr
        if len(self.buf) < total:
            return None
        p = Packet(self.buf[0], self.buf[hlen:total])
        p.raw = bytes(self.buf[:total])
        del self.buf[:total]
        return p

    def recv_packet(self, timeout=DEFAULT_TIMEOUT):
        """Returns the next packet. Raises NoPacket on timeout, and
        ConnectionClosed if the connection ends first."""
        deadline = time.monotonic() + timeout
        while True:
            p = self._take_packet()
            if p is not None:
                return p
            if self.eof:
                raise ConnectionClosed(
                    "connection closed by broker (buffered partial bytes: %r)"
                    % bytes(self.buf[:40]))
            try:
                self._fill(deadline)
            except NoPacket:
                raise NoPacket("no packet within %.1fs (partial: %r)"
                               % (timeout, bytes(self.buf[:40])))

    def expect(self, ptype, timeout=DEFAULT_TIMEOUT, flags=None):
        p = self.recv_packet(timeout)
        if p.type != ptype:
            raise ProtocolError("expected %s, got %r" % (TYPE_NAMES[ptype], p))
        if flags is not None and p.flags != flags:
            raise ProtocolError("expected %s with flags 0x%x, got %r"
                                % (TYPE_NAMES[ptype], flags, p))
        return p

    def expect_no_packet(self, timeout):
        """Asserts that nothing arrives for `timeout` seconds (and the
        connection stays open)."""
        try:
            p = self.recv_packet(timeout)
        except NoPacket:
            return
        raise ProtocolError("expected silence for %.1fs, got %r" % (timeout, p))

    def expect_closed(self, timeout=DEFAULT_TIMEOUT, allow=None):
        """Waits (bounded) for the broker to close the connection.

        Any packet received first fails the test, unless ``allow(packet)``
        returns True for it. Returns (elapsed seconds, packets received).
        """
        start = time.monotonic()
        deadline = start + timeout
        got = []
        while True:
            p = self._take_packet()
            if p is not None:
                if allow is None or not allow(p):
                    raise ProtocolError(
                        "expected the connection to be closed, got %r" % p)
                got.append(p)
                continue
            if self.eof:
                return time.monotonic() - start, got
            try:
                self._fill(deadline)
            except NoPacket:
                raise NoPacket("connection still open after %.1fs (packets: %r)"
                               % (timeout, got))

    def is_open(self, timeout=2.0):
        """PINGREQ round trip: True if a PINGRESP comes back."""
        if not self.try_send(pingreq()):
            return False
        try:
            p = self.recv_packet(timeout)
        except (ConnectionClosed, NoPacket):
            return False
        return p.type == PINGRESP

    # -- conveniences -------------------------------------------------------

    def connect(self, client_id="", clean=True, keepalive=60, expect_rc=0,
                timeout=DEFAULT_TIMEOUT, **kw):
        self.send(connect(client_id, clean=clean, keepalive=keepalive, **kw))
        p = self.expect(CONNACK, timeout)
        if p.flags != 0 or len(p.body) != 2:
            raise ProtocolError("bad CONNACK %r raw=%r" % (p, p.raw))
        if expect_rc is not None and p.rc != expect_rc:
            raise ProtocolError("CONNACK rc %d, expected %d" % (p.rc, expect_rc))
        return p

    def subscribe(self, filters, pid=1, timeout=DEFAULT_TIMEOUT):
        """Sends SUBSCRIBE and returns the SUBACK codes. Skips (and returns)
        nothing else: any PUBLISH arriving before the SUBACK (retained
        messages must come after it) is an error."""
        if isinstance(filters, str):
            filters = [(filters, 0)]
        self.send(subscribe(pid, filters))
        p = self.expect(SUBACK, timeout)
        if p.pid != pid:
            raise ProtocolError("SUBACK pid %d, expected %d" % (p.pid, pid))
        return p.codes

    def unsubscribe(self, filters, pid=1, timeout=DEFAULT_TIMEOUT):
        self.send(unsubscribe(pid, filters))
        p = self.expect(UNSUBACK, timeout)
        if p.pid != pid:
            raise ProtocolError("UNSUBACK pid %d, expected %d" % (p.pid, pid))
        return p

    def publish(self, topic, payload=b"", qos=0, retain=False, pid=None,
                timeout=DEFAULT_TIMEOUT):
        """Publishes and completes the QoS flow as the sender."""
        if qos > 0 and pid is None:
            pid = 1
        self.send(publish(topic, payload, qos, retain, pid=pid))
        if qos == 1:
            p = self.expect(PUBACK, timeout)
            if p.pid != pid:
                raise ProtocolError("PUBACK pid %d, expected %d" % (p.pid, pid))
        elif qos == 2:
            p = self.expect(PUBREC, timeout)
            if p.pid != pid:
                raise ProtocolError("PUBREC pid %d, expected %d" % (p.pid, pid))
            self.send(pubrel(pid))
            p = self.expect(PUBCOMP, timeout)
            if p.pid != pid:
                raise ProtocolError("PUBCOMP pid %d, expected %d" % (p.pid, pid))

    def recv_publish(self, timeout=DEFAULT_TIMEOUT, ack=True):
        """Receives one PUBLISH and, if ack, completes the receiver side
        of its QoS flow (PUBACK, or PUBREC/PUBREL/PUBCOMP)."""
        p = self.expect(PUBLISH, timeout)
        if ack:
            self.ack(p, timeout)
        return p

    def ack(self, p, timeout=DEFAULT_TIMEOUT):
        if p.qos == 1:
            self.send(puback(p.pid))
        elif p.qos == 2:
            self.send(pubrec(p.pid))
            r = self.expect(PUBREL, timeout)
            if r.flags != 0x02 or r.pid != p.pid:
                raise ProtocolError("bad PUBREL %r for %r" % (r, p))
            self.send(pubcomp(p.pid))

    def sync(self, timeout=DEFAULT_TIMEOUT):
        """Sends PINGREQ and returns every packet received before the
        PINGRESP: whatever the broker sent in response to the packets this
        client sent earlier (it handles one connection's packets in order)."""
        self.send(pingreq())
        got = []
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            p = self.recv_packet(max(0.001, deadline - time.monotonic()))
            if p.type == PINGRESP:
                return got
            got.append(p)
        raise ProtocolError("too many packets before PINGRESP")

    def collect_until(self, marker_topic, timeout=DEFAULT_TIMEOUT, ack=True,
                      limit=100000):
        """Receives PUBLISH packets until one on `marker_topic` arrives and
        returns the ones before it (the marker excluded). With ack, acts as
        a well-behaved receiver even when packets of several QoS 2 flows
        interleave (PUBACK / PUBREC, PUBREL -> PUBCOMP), and completes
        QoS 2 flows still open when the marker arrives. Any packet other
        than PUBLISH/PUBREL is an error."""
        deadline = time.monotonic() + timeout
        got = []
        open_qos2 = set()
        marker_seen = False
        for _ in range(limit):
            if marker_seen and not open_qos2:
                return got
            remaining = deadline - time.monotonic()
            try:
                p = self.recv_packet(max(remaining, 0.001))
            except NoPacket:
                raise NoPacket("marker %r not received within %.1fs (or QoS 2 "
                               "flows %r not completed); got %r"
                               % (marker_topic, timeout, sorted(open_qos2), got))
            if p.type == PUBLISH:
                if ack and p.qos == 1:
                    self.send(puback(p.pid))
                elif ack and p.qos == 2:
                    self.send(pubrec(p.pid))
                    open_qos2.add(p.pid)
                if p.topic == marker_topic:
                    marker_seen = True
                else:
                    got.append(p)
            elif p.type == PUBREL and ack:
                if p.flags != 0x02:
                    raise ProtocolError("PUBREL with flags 0x%x" % p.flags)
                if p.pid not in open_qos2:
                    raise ProtocolError("PUBREL for unknown id %d" % p.pid)
                open_qos2.discard(p.pid)
                self.send(pubcomp(p.pid))
            else:
                raise ProtocolError("unexpected %r while collecting" % p)
        raise ProtocolError("too many packets")

    def disconnect(self, timeout=DEFAULT_TIMEOUT):
        """Sends DISCONNECT, half-closes, and waits until the broker has
        closed its side, so the broker has processed the DISCONNECT when
        this returns."""
        self.send(disconnect())
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.expect_closed(timeout)
        self.close()

    def drop(self, timeout=DEFAULT_TIMEOUT):
        """Closes without DISCONNECT (half-close, then waits for the broker
        to close its side so the 'network failure' has been processed)."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        self.expect_closed(timeout)
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def connected(port, client_id="", host="127.0.0.1", **kw):
    """A RawClient that has completed CONNECT/CONNACK(0)."""
    c = RawClient(port, host)
    try:
        c.connect(client_id, **kw)
    except BaseException:
        c.close()
        raise
    return c


def assert_broker_serves(port, host="127.0.0.1"):
    """A fresh client can connect, subscribe, publish to itself at QoS 1 and
    get a PINGRESP: the broker survived whatever came before."""
    c = RawClient(port, host)
    try:
        c.connect("alive-check", clean=True)
        assert c.subscribe([("alive/check", 1)], pid=9) == [1]
        c.send(publish("alive/check", b"still alive", qos=1, pid=10))
        got = {}
        for _ in range(2):
            p = c.recv_packet()
            got[p.type] = p
        assert PUBACK in got and got[PUBACK].pid == 10, got
        assert PUBLISH in got and got[PUBLISH].payload == b"still alive", got
        c.send(puback(got[PUBLISH].pid))
        c.send(pingreq())
        c.expect(PINGRESP)
        c.disconnect()
    finally:
        c.close()


# --------------------------------------------------------------------------
# MQTT 5 packets with every field given (including broken ones), and
# waiting for a refusal. Property blocks are passed already encoded (the
# length varint included, e.g. test_mqtt5.encode_props(...)), so this file
# stays free of a property table.
# --------------------------------------------------------------------------

AUTH = 15  # MQTT 5 only (reserved in 3.1.1)
EMPTY_PROPS = b"\x00"


def connect_v5(client_id="", clean_start=True, keepalive=60, props=EMPTY_PROPS,
               will=None, username=None, password=None, extra=b""):
    """MQTT 5 CONNECT. will: None or (topic, payload, qos, retain,
    will_props_block). Strings go out as given (bytes may be ill-formed);
    extra is appended after the last field."""
    return connect(client_id, clean=clean_start, keepalive=keepalive, will=will,
                   username=username, password=password, level=5, extra=extra, props=props)


def ack_v5(ptype, pid, reason=None, props=None):
    """PUBACK/PUBREC/PUBREL/PUBCOMP with an optional reason code and
    property block (PUBREL gets its required flags 0x2)."""
    body = struct.pack("!H", pid)
    if reason is not None or props is not None:
        body += bytes([reason or 0])
    if props is not None:
        body += bytes(props)
    return packet(ptype, 0x02 if ptype == PUBREL else 0, body)


def disconnect_v5(reason=None, props=None):
    """DISCONNECT; reason None leaves the body empty (means 0x00)."""
    body = b"" if reason is None else bytes([reason])
    if props is not None:
        body += bytes(props)
    return packet(DISCONNECT, 0, body)


def auth_v5(reason=None, props=None):
    """AUTH; reason None gives Remaining Length 0 (which means 0x00)."""
    body = b"" if reason is None else bytes([reason])
    if props is not None:
        body += bytes(props)
    return packet(AUTH, 0, body)


def topic_bytes(p):
    """A PUBLISH packet's topic as bytes, never decoded (it may be what a
    test sent as ill-formed UTF-8)."""
    n = struct.unpack("!H", p.body[:2])[0]
    return bytes(p.body[2:2 + n])


def answer_code(p):
    """The code a refusal carries: a CONNACK's return/reason code, a
    DISCONNECT's reason code (absent means 0x00)."""
    if p.type == CONNACK:
        return p.body[1]
    if p.type == DISCONNECT:
        return p.body[0] if p.body else 0
    raise ProtocolError("not a CONNACK or DISCONNECT: %r" % p)


def expect_refused(c, ptype=None, code=None, timeout=2.0, exact=True):
    """Waits (bounded) for the broker to refuse and close.

    exact: ptype None means the connection closes with nothing sent;
    ptype CONNACK or DISCONNECT means exactly that packet with that code,
    then the close. exact=False is for another broker whose codes differ:
    the connection closes after at most one CONNACK with a non-zero code or
    DISCONNECT with a code >= 0x80. Returns the packets received."""
    if not exact:
        def failure(p):
            return (p.type == CONNACK and answer_code(p) != 0) or \
                   (p.type == DISCONNECT and answer_code(p) >= 0x80)
        _, got = c.expect_closed(timeout, allow=failure)
        if len(got) > 1:
            raise ProtocolError("more than one refusal: %r" % got)
        return got
    if ptype is None:
        return c.expect_closed(timeout)[1]
    p = c.recv_packet(timeout)
    if p.type != ptype or answer_code(p) != code:
        raise ProtocolError("expected %s 0x%02x then the close, got %r raw=%r"
                            % (TYPE_NAMES[ptype], code, p, p.raw))
    c.expect_closed(timeout)
    return [p]
