"""Interoperability with the Mosquitto command-line clients."""

import os
import queue
import shutil
import subprocess
import threading
import time

import pytest


MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"

pytestmark = pytest.mark.skipif(
    not (os.access(MOSQUITTO_SUB, os.X_OK) and os.access(MOSQUITTO_PUB, os.X_OK)),
    reason="mosquitto_pub/mosquitto_sub not installed")

FMT = "%t|%q|%r|%p"
STDBUF = [shutil.which("stdbuf"), "-oL"] if shutil.which("stdbuf") else []


class MosqSub:
    """mosquitto_sub in debug mode: its SUBACK line tells when the
    subscription is in place, so publishing never races it."""

    def __init__(self, port, topic, count, qos=0, wait=5, extra=()):
        # stdbuf: line-buffered stdout so the debug lines arrive as written.
        args = STDBUF + [MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(port), "-t", topic,
                "-C", str(count), "-W", str(wait), "-q", str(qos), "-d",
                "-F", FMT] + list(extra)
        self.proc = subprocess.Popen(args, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        self.lines = queue.Queue()
        self.all = []
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for raw in iter(self.proc.stdout.readline, b""):
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def wait_subscribed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            try:
                line = self.lines.get(timeout=max(remaining, 0.001))
            except queue.Empty:
                line = ""
                remaining = 0
            if line is None or remaining <= 0:
                self.kill()
                pytest.fail("mosquitto_sub got no SUBACK within %.1fs; output: %r "
                            "stderr: %r" % (timeout, self.all[-10:],
                                            self.proc.stderr.read()[-500:]))
            self.all.append(line)
            if "received SUBACK" in line:
                return

    def finish(self, timeout=15.0):
        """Waits for exit; returns (exit status, message lines)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("mosquitto_sub still running after %.0fs" % timeout)
        self.thread.join(5)
        while True:
            try:
                line = self.lines.get_nowait()
            except queue.Empty:
                break
            if line is not None:
                self.all.append(line)
        msgs = [l for l in self.all
                if not l.startswith("Client ") and not l.startswith("Subscribed (mid")]
        return rc, msgs

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def mosq_sub():
    subs = []

    def make(*a, **kw):
        s = MosqSub(*a, **kw)
        subs.append(s)
        return s

    yield make
    for s in subs:
        s.kill()


def mosq_pub(port, *args, input=None, timeout=15):
    cmd = [MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port)] + list(args)
    r = subprocess.run(cmd, input=input, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=timeout)
    assert r.returncode == 0, "mosquitto_pub %r failed (%d): %r" % (
        args, r.returncode, r.stderr[-500:])
    return r


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_mosquitto_pub_sub(broker, mosq_sub, uniq, qos):
    t = "interop/%d/%s" % (qos, uniq)
    s = mosq_sub(broker.port, t, 1, qos=qos)
    s.wait_subscribed()
    mosq_pub(broker.port, "-t", t, "-m", "hello q%d" % qos, "-q", str(qos))
    rc, msgs = s.finish()
    assert rc == 0
    assert msgs == ["%s|%d|0|hello q%d" % (t, qos, qos)]


@pytest.mark.parametrize("version", ["mqttv31", "mqttv311"])
def test_protocol_versions_interoperate(broker, mosq_sub, uniq, version):
    t = "ver/%s/%s" % (version, uniq)
    other = "mqttv311" if version == "mqttv31" else "mqttv31"
    s = mosq_sub(broker.port, t, 1, qos=1, extra=["-V", other])
    s.wait_subscribed()
    mosq_pub(broker.port, "-t", t, "-m", "from " + version, "-q", "1", "-V", version)
    rc, msgs = s.finish()
    assert rc == 0
    assert msgs == ["%s|1|0|from %s" % (t, version)]


def test_retained_with_r(broker, mosq_sub, uniq):
    t = "interop/ret/" + uniq
    mosq_pub(broker.port, "-t", t, "-m", "old", "-r", "-q", "1")
    mosq_pub(broker.port, "-t", t, "-m", "kept", "-r", "-q", "1")
    s = mosq_sub(broker.port, t, 1, qos=1)
    rc, msgs = s.finish()
    assert rc == 0
    assert msgs == ["%s|1|1|kept" % t]
    # -n -r deletes it: a new subscriber times out with nothing (-W 1).
    mosq_pub(broker.port, "-t", t, "-n", "-r", "-q", "1")
    s = mosq_sub(broker.port, t, 1, qos=1, wait=1)
    rc, msgs = s.finish()
    assert msgs == []
    assert rc != 0  # mosquitto_sub reports the -W timeout


def test_wildcard_verbose(broker, uniq):
    base = "interop/wc/" + uniq
    for i in range(3):
        mosq_pub(broker.port, "-t", "%s/%d" % (base, i), "-m", "v%d" % i, "-r")
    r = subprocess.run([MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(broker.port),
                        "-t", base + "/+", "-C", "3", "-W", "5", "-v"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    assert r.returncode == 0, r.stderr
    lines = sorted(r.stdout.decode().splitlines())
    assert lines == ["%s/%d v%d" % (base, i, i) for i in range(3)]


def test_many_messages_in_order(broker, mosq_sub, uniq):
    t = "interop/many/" + uniq
    n = 1000
    s = mosq_sub(broker.port, t, n, qos=1, wait=10)
    s.wait_subscribed()
    data = "".join("line-%04d\n" % i for i in range(n)).encode()
    mosq_pub(broker.port, "-t", t, "-l", "-q", "1", input=data, timeout=20)
    rc, msgs = s.finish(20)
    assert rc == 0
    assert msgs == ["%s|1|0|line-%04d" % (t, i) for i in range(n)]


def test_big_payload_from_file(broker, raw, tmp_path, uniq):
    t = "interop/big/" + uniq
    sub = raw(broker.port, "big-sub-" + uniq)
    assert sub.subscribe([(t, 1)]) == [1]
    payload = os.urandom(500 * 1024)
    f = tmp_path / "payload.bin"
    f.write_bytes(payload)
    mosq_pub(broker.port, "-t", t, "-f", str(f), "-q", "1")
    p = sub.recv_publish(10.0)
    assert p.payload == payload


def test_big_retained_to_mosquitto_sub(broker, raw, uniq):
    t = "interop/bigret/" + uniq
    payload = bytes((i * 7 + 3) % 256 for i in range(200000)).replace(b"\n", b"N")
    pub = raw(broker.port, "bigret-pub-" + uniq)
    pub.publish(t, payload, qos=1, retain=True, pid=1)
    r = subprocess.run([MOSQUITTO_SUB, "-h", "127.0.0.1", "-p", str(broker.port),
                        "-t", t, "-C", "1", "-W", "5", "-N"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=15)
    assert r.returncode == 0, r.stderr
    assert r.stdout == payload


def test_mosquitto_sub_persistent_session(broker, mosq_sub, uniq):
    t = "interop/ps/" + uniq
    cid = "mqsub-" + uniq
    # Create the session (-c: clean session off), then leave.
    s = mosq_sub(broker.port, t, 1, qos=1, wait=1, extra=["-c", "-i", cid])
    s.wait_subscribed()
    s.finish()  # -W 1 timeout ends it
    for i in range(3):
        mosq_pub(broker.port, "-t", t, "-m", "off%d" % i, "-q", "1")
    s = mosq_sub(broker.port, t, 3, qos=1, wait=5, extra=["-c", "-i", cid])
    rc, msgs = s.finish()
    assert rc == 0
    assert msgs == ["%s|1|0|off%d" % (t, i) for i in range(3)]
