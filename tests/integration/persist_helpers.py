"""Helpers for the durable broker state tests (issue 14,
test_persistence.py and test_crash.py).

A test keeps one data directory and starts brokers on it one after the
other (each with fresh ports, through the broker_factory fixture, which
checks every broker it started for a clean exit at teardown):

    st = DataDir(broker_factory, tmp_path)
    b = st.start()            # persistence normal (the default)
    ...
    b = st.restart()          # SIGTERM, status 0, then a new broker
    st.kill9()                # SIGKILL (test_crash.py)

The log file format (src/persist/plog.h): a 16-byte header "AGORALOG",
u32 version, u32 0; then batches: u32 body length, u32 CRC-32C, body (all
little-endian). read_log() splits a file into them so a test can tear or
damage one on purpose; what a body holds is the broker's business.
"""

import os
import re
import struct
import subprocess
import time

from conftest import Broker, sanitizer_env, sanitizer_lines
from apiclient import kill9

import mqttraw

LOG_NAME = "broker.log"
HEADER_SIZE = 16
BATCH_HEADER = 8
MAGIC = b"AGORALOG"

# "persistence normal: <path>: restored S sessions, R retained messages,
#  Q queued messages in T ms" (docs: the shared spec, "Logs").
RESTORED_RX = re.compile(
    r"persistence (normal|full): (.+): restored (\d+) sessions?, (\d+) retained "
    r"messages?, (\d+) queued messages? in (\d+) ms")

WARN_RX = r"^\S+\s+warn\s"
ERROR_RX = r"^\S+\s+error\s"


class Restored:
    def __init__(self, m):
        self.mode = m.group(1)
        self.path = m.group(2)
        self.sessions = int(m.group(3))
        self.retained = int(m.group(4))
        self.queued = int(m.group(5))
        self.ms = int(m.group(6))

    def __repr__(self):
        return "<restored %s %s: %d sessions, %d retained, %d queued>" % (
            self.mode, self.path, self.sessions, self.retained, self.queued)


def restored(b, timeout=5.0):
    """The broker's start line saying what it restored (waited for,
    bounded)."""
    line = b.wait_log(RESTORED_RX.pattern, timeout, what="persistence restored line")
    return Restored(RESTORED_RX.search(line))


class DataDir:
    """One data directory; brokers started on it one after the other."""

    def __init__(self, broker_factory, tmp_path, *lines, name="state"):
        self.factory = broker_factory
        self.data_dir = os.path.join(str(tmp_path), name)
        os.makedirs(self.data_dir, exist_ok=True)
        self.lines = list(lines)
        self.broker = None

    @property
    def log_path(self):
        return os.path.join(self.data_dir, LOG_NAME)

    def start(self, *lines):
        """A new broker on this data directory; lines replace the ones
        given to the constructor when any are given."""
        use = list(lines) if lines else self.lines
        self.broker = self.factory("data_dir %s" % self.data_dir, *use)
        return self.broker

    def stop(self):
        """SIGTERM; the broker must exit 0 (bounded wait), with no
        sanitizer report."""
        b = self.broker
        rc = b.stop()
        assert rc == 0, "broker exit status %r after SIGTERM; stderr tail:\n%s" % (
            rc, "\n".join(b.log_since(0)[-30:]))
        san = b.sanitizer_errors()
        assert not san, "sanitizer reports: %s" % san[:5]
        return rc

    def restart(self, *lines):
        self.stop()
        return self.start(*lines)

    def kill9(self):
        kill9(self.broker)


# --------------------------------------------------------------------------
# The log file, read from outside
# --------------------------------------------------------------------------

class Batch:
    def __init__(self, offset, length, crc, body):
        self.offset = offset      # of its 8-byte header in the file
        self.length = length      # body length
        self.crc = crc
        self.body = body

    @property
    def end(self):
        return self.offset + BATCH_HEADER + self.length

    def __repr__(self):
        return "<batch @%d len=%d>" % (self.offset, self.length)


def read_log(path):
    """(header bytes, [Batch], trailing bytes that are not a whole batch)."""
    with open(path, "rb") as f:
        data = f.read()
    assert len(data) >= HEADER_SIZE, "%s: %d bytes, shorter than its header" % (
        path, len(data))
    header = data[:HEADER_SIZE]
    assert header[:8] == MAGIC, "%s: magic %r" % (path, header[:8])
    batches = []
    pos = HEADER_SIZE
    while pos + BATCH_HEADER <= len(data):
        length, crc = struct.unpack("<II", data[pos:pos + BATCH_HEADER])
        if length == 0 or pos + BATCH_HEADER + length > len(data):
            break
        batches.append(Batch(pos, length, crc,
                             data[pos + BATCH_HEADER:pos + BATCH_HEADER + length]))
        pos += BATCH_HEADER + length
    return header, batches, data[pos:]


def file_bytes(path):
    with open(path, "rb") as f:
        return f.read()


# --------------------------------------------------------------------------
# A start that is expected to fail
# --------------------------------------------------------------------------

def serve_expecting_exit(tmp_path, *lines, timeout=15.0, name="refused"):
    """Runs `agora serve` with these config lines (plus the usual free
    ports) to completion. Returns (exit status, stderr+stdout text). The
    process must exit by itself within timeout."""
    workdir = os.path.join(str(tmp_path), name)
    os.makedirs(workdir, exist_ok=True)
    b = Broker(workdir, lines)
    b.write_config()
    try:
        r = subprocess.run(b.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout, env=sanitizer_env(),
                           cwd=workdir)
    except subprocess.TimeoutExpired:
        raise AssertionError("agora serve still running after %.0fs (it was expected "
                             "to refuse to start)" % timeout)
    out = r.stderr.decode("utf-8", "replace") + r.stdout.decode("utf-8", "replace")
    san = sanitizer_lines(out.splitlines())
    assert not san, out
    return r.returncode, out


# --------------------------------------------------------------------------
# Raw MQTT conveniences
# --------------------------------------------------------------------------

def take_publishes(c, n, timeout=5.0):
    """The next n packets, which must all be PUBLISH; none acknowledged."""
    out = []
    deadline = time.monotonic() + timeout
    for _ in range(n):
        p = c.recv_packet(max(0.001, deadline - time.monotonic()))
        if p.type != mqttraw.PUBLISH:
            raise mqttraw.ProtocolError("expected PUBLISH #%d of %d, got %r (before: %r)"
                                        % (len(out) + 1, n, p, out))
        out.append(p)
    return out


def ack_publishes(c, pkts, timeout=5.0):
    """Completes the receiver side of every QoS 1/2 PUBLISH in pkts (QoS 2:
    PUBREC, waits for the PUBREL, PUBCOMP), in order."""
    for p in pkts:
        c.ack(p, timeout)


def publish_all(port, msgs, client_id=""):
    """A clean 3.1.1 client publishes (topic, payload, qos, retain) tuples,
    each flow completed before the next, then disconnects."""
    c = mqttraw.RawClient(port)
    try:
        c.connect(client_id, clean=True)
        for i, (topic, payload, qos, retain) in enumerate(msgs):
            c.publish(topic, payload, qos=qos, retain=retain,
                      pid=(i % 65535) + 1 if qos else None)
        c.disconnect()
    finally:
        c.close()


def retained_on(port, filt, qos=2, client_id=""):
    """{topic: PUBLISH} of the retained messages a fresh clean 3.1.1 client
    gets for one SUBSCRIBE (everything sent before the PINGRESP that
    follows the SUBACK; all of it must be retained PUBLISH packets)."""
    c = mqttraw.RawClient(port)
    try:
        c.connect(client_id, clean=True)
        assert c.subscribe([(filt, qos)], pid=1) == [qos]
        got = c.sync()
        out = {}
        for p in got:
            assert p.type == mqttraw.PUBLISH and p.retain, \
                "expected only retained PUBLISH packets, got %r" % p
            assert p.topic not in out, "retained %r sent twice: %r" % (p.topic, got)
            out[p.topic] = p
        c.disconnect()
        return out
    finally:
        c.close()
