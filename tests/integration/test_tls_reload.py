"""TLS certificates reloaded (SIGHUP) under load, with no connection dropped
(issue 15).

20 paho clients over TLS each publish a numbered stream at QoS 1 to the
next one's topic, and receive the previous one's, while the broker gets
SIGHUP with a renewed certificate (the same CA), again with another, and
once with a key that does not load. Every new connection after a reload
is served the certificate just loaded (its SHA-256 fingerprint compared
with the file's, through Python's ssl); the failed reload keeps the last
one and logs why. At the end: no client was disconnected, and every
message arrived once, in order. The load is bounded in count (MAX_PER_CLIENT
messages each) and in time (LOAD_SECONDS)."""

import hashlib
import queue
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import paho.mqtt.client as mqtt
import pytest

from conftest import AGORA_BIN, free_port, require_agora, sanitizer_env
from tlscerts import tls_init

CLIENTS = 20
MAX_PER_CLIENT = 3000   # messages each publisher sends at most
LOAD_SECONDS = 60.0     # the whole load's bound
STEP_MESSAGES = 50      # messages every subscriber receives between two steps
WINDOW = 10             # a publisher waits for its PUBACKs every WINDOW messages
TIMEOUT = 30.0
OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"




def renewed(ca_dir, d):
    """A new server certificate and key signed by ca_dir's CA (agora tls
    init with the CA's files and no server files), in d."""
    d.mkdir()
    for f in ("ca.crt", "ca.key"):
        shutil.copy(ca_dir / f, d / f)
    return tls_init(d)


def file_fingerprint(crt):
    """SHA-256 of the certificate's DER (its first, the leaf), lower-case hex."""
    r = subprocess.run([OPENSSL, "x509", "-in", str(crt), "-noout", "-fingerprint", "-sha256"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip().split("=", 1)[1].replace(":", "").lower()


def served_fingerprint(port, cafile):
    """The fingerprint of the certificate a new connection is served
    (verified against cafile for localhost)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            return hashlib.sha256(s.getpeercert(binary_form=True)).hexdigest()


class LoadClient:
    """One paho client over TLS: subscribed to load/I, publishing a
    numbered stream to load/NEXT from a thread of its own."""

    def __init__(self, i, port, cafile):
        self.i = i
        self.topic = "load/%d" % i
        self.target = "load/%d" % ((i + 1) % CLIENTS)
        self.received = []            # sequence numbers, in arrival order
        self.got = threading.Condition()
        self.disconnects = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = queue.Queue()
        self.sent = 0
        self.errors = []
        c = self.c = mqtt.Client(client_id="reload-%d" % i, clean_session=True)
        c.tls_set(ca_certs=str(cafile), tls_version=ssl.PROTOCOL_TLS_CLIENT)
        c.max_inflight_messages_set(WINDOW)
        c.on_connect = lambda cl, u, f, rc: self.connacks.put(rc)
        c.on_subscribe = lambda cl, u, mid, g: self.subacks.put(list(g))
        c.on_disconnect = lambda cl, u, rc: self.disconnects.put(rc)
        c.on_message = self._on_message
        c.connect("127.0.0.1", port, 60)
        c.loop_start()
        assert self.connacks.get(timeout=TIMEOUT) == 0
        c.subscribe(self.topic, 1)
        assert self.subacks.get(timeout=TIMEOUT) == [1]

    def _on_message(self, cl, u, m):
        with self.got:
            self.received.append(int(m.payload.split(b" ")[1]))
            self.got.notify_all()

    def count(self):
        with self.got:
            return len(self.received)

    def wait_count(self, n, deadline):
        with self.got:
            while len(self.received) < n:
                left = deadline - time.monotonic()
                assert left > 0, "client %d received %d of %d messages in time" % (
                    self.i, len(self.received), n)
                self.got.wait(left)

    def publish_until(self, stop, deadline):
        """Publishes 0, 1, 2... until stop is set, MAX_PER_CLIENT or the
        deadline; every WINDOW messages waits for their PUBACKs."""
        try:
            last = None
            while (not stop.is_set() and self.sent < MAX_PER_CLIENT
                   and time.monotonic() < deadline):
                last = self.c.publish(self.target, b"%d %d" % (self.i, self.sent), qos=1)
                assert last.rc == mqtt.MQTT_ERR_SUCCESS, last.rc
                self.sent += 1
                if self.sent % WINDOW == 0:
                    last.wait_for_publish(TIMEOUT)
                    assert last.is_published(), "PUBACK not received in time"
            if last is not None:
                last.wait_for_publish(TIMEOUT)
                assert last.is_published(), "last PUBACK not received in time"
        except BaseException as e:  # reported by the test
            self.errors.append(repr(e))

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


@pytest.fixture
def reload_setup(broker_factory, tmp_path):
    ca = tls_init(tmp_path / "ca")
    live = tmp_path / "live"
    live.mkdir()
    for f in ("server.crt", "server.key"):
        shutil.copy(ca / f, live / f)
    port = free_port()
    b = broker_factory("listener 127.0.0.1:%d tls=yes certfile=%s keyfile=%s"
                       % (port, live / "server.crt", live / "server.key"),
                       "max_inflight_messages 100")
    b.wait_log(r"listening on 127\.0\.0\.1:%d \(TLS\)" % port, TIMEOUT)
    return b, port, ca, live


def install(src, live):
    """The renewed files put in place as an operator would: each written
    beside and renamed over the old one."""
    for f in ("server.crt", "server.key"):
        shutil.copy(src / f, live / (f + ".new"))
        (live / (f + ".new")).rename(live / f)


def test_reload_under_load_drops_nothing(reload_setup, tmp_path):
    b, port, ca, live = reload_setup
    cafile = ca / "ca.crt"
    second, third = renewed(ca, tmp_path / "second"), renewed(ca, tmp_path / "third")
    fingerprints = {d: file_fingerprint(d / "server.crt") for d in (ca, second, third)}
    assert len(set(fingerprints.values())) == 3  # three different certificates
    assert served_fingerprint(port, cafile) == fingerprints[ca]

    clients = [LoadClient(i, port, cafile) for i in range(CLIENTS)]
    stop = threading.Event()
    deadline = time.monotonic() + LOAD_SECONDS
    threads = [threading.Thread(target=c.publish_until, args=(stop, deadline), daemon=True)
               for c in clients]
    try:
        for t in threads:
            t.start()

        def flowing():
            """Every subscriber gets STEP_MESSAGES more: the load is on."""
            marks = [c.count() for c in clients]
            for c, n in zip(clients, marks):
                c.wait_count(n + STEP_MESSAGES, deadline)

        def sighup(expect):
            mark = b.log_mark()
            b.proc.send_signal(signal.SIGHUP)
            b.wait_log(r"SIGHUP: 127\.0\.0\.1:%d: %s" % (port, expect), TIMEOUT, since=mark)

        flowing()
        for renewal in (second, third):
            install(renewal, live)
            sighup("certificates reloaded")
            assert served_fingerprint(port, cafile) == fingerprints[renewal]
            flowing()
        # A key that does not load: refused, why logged; the last one stays.
        (live / "server.key").write_text("not a key\n")
        sighup(r"certificates not reloaded, the loaded ones stay: .*server\.key")
        assert served_fingerprint(port, cafile) == fingerprints[third]
        flowing()
    finally:
        stop.set()
        for t in threads:
            t.join(TIMEOUT)
    assert not any(t.is_alive() for t in threads)
    assert [c.errors for c in clients] == [[]] * CLIENTS
    # Every message arrived once, in order, at the next client.
    for c in clients:
        prev = clients[(c.i - 1) % CLIENTS]
        c.wait_count(prev.sent, time.monotonic() + TIMEOUT)
        assert c.received == list(range(prev.sent)), "client %d" % c.i
    total = sum(c.sent for c in clients)
    assert total >= CLIENTS * STEP_MESSAGES * 4
    # Not one client was disconnected, by either side.
    assert all(c.disconnects.empty() for c in clients)
    assert not b.find_log(r"client reload-\d+ (disconnected|closed|.*timed out)")
    for c in clients:
        c.close()
