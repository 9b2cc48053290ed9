"""Fixtures for Agora's black-box integration tests.

The broker under test is ``$AGORA_BIN`` (default build/test/agora, the
ASan/UBSan build). For checking the tests' own logic the suite can also drive
Mosquitto: ``AGORA_TARGET=mosquitto`` translates the Agora configuration keys
to mosquitto.conf equivalents (tests needing a key Mosquitto lacks, or
Agora-only behaviour such as --version, are skipped in that mode only).

Fixtures:
  broker_factory(*config_lines, args=(), listeners=None) -> Broker (started)
  broker            a broker with the default configuration
  free_port()       an unused loopback TCP port (plain function, also a fixture)
  paho              factory for PahoClient (paho-mqtt 1.6 with queues/events)
  raw               factory for mqttraw.RawClient, closed at teardown
"""

import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest

import paho.mqtt.client as mqtt

import mqttraw

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
AGORA_BIN = os.environ.get("AGORA_BIN", os.path.join(REPO, "build", "test", "agora"))
TARGET = os.environ.get("AGORA_TARGET", "agora").strip().lower()
MOSQUITTO_BIN = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0

SANITIZER_PATTERNS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                      "runtime error:")


def is_agora():
    return TARGET == "agora"


def require_agora(what):
    """Skips in Mosquitto mode only: the behaviour is Agora's own."""
    if not is_agora():
        pytest.skip("Agora-only behaviour (%s); running against %s" % (what, TARGET))


def sanitizer_lines(lines):
    return [l for l in lines if any(p in l for p in SANITIZER_PATTERNS)]


def sanitizer_env():
    env = dict(os.environ)
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1:halt_on_error=1")
    return env


def free_port(family=socket.AF_INET, host="127.0.0.1", exclude=()):
    """A TCP port nothing listens on right now (bounded attempts)."""
    for _ in range(50):
        s = socket.socket(family, socket.SOCK_STREAM)
        try:
            s.bind((host, 0))
            port = s.getsockname()[1]
        finally:
            s.close()
        if port not in exclude:
            return port
    raise RuntimeError("no free port found")


@pytest.fixture(name="free_port")
def free_port_fixture():
    return free_port


def ipv6_loopback_available():
    if not socket.has_ipv6:
        return False
    try:
        s = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError:
        return False
    try:
        s.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        s.close()


# --------------------------------------------------------------------------
# Broker process
# --------------------------------------------------------------------------

def _split_listener(spec):
    """'127.0.0.1:1883' / '[::1]:1883' -> (host, port)."""
    m = re.match(r"^\[([^\]]+)\]:(\d+)$", spec)
    if m:
        return m.group(1), int(m.group(2))
    host, _, port = spec.rpartition(":")
    return host, int(port)


def _mosquitto_config(lines):
    """Translates Agora 'key value' lines into a mosquitto.conf."""
    listeners = []
    listener_opts = []
    out = ["log_dest stderr", "persistence false", "per_listener_settings false"]
    anonymous = "true"
    level = "info"
    for line in lines:
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition(" ")
        value = value.strip()
        if key == "listener":
            listeners.append(_split_listener(value))
        elif key == "max_connections":
            listener_opts.append("max_connections %s" % value)
        elif key in ("max_packet_size", "max_inflight_messages",
                     "max_queued_messages", "sys_interval"):
            out.append("%s %s" % (key, value))
        elif key == "keepalive_max":
            out.append("max_keepalive %s" % value)
        elif key == "log_level":
            level = value
        elif key in ("data_dir", "http_listener", "password_hash_memory",
                     "password_hash_passes"):
            pass  # Agora's HTTP API: mosquitto has none
        elif key == "allow_anonymous":
            anonymous = "false" if value == "no" else "true"
        else:
            pytest.skip("mosquitto has no equivalent of config key %r" % key)
    types = {"error": ["error"], "warn": ["error", "warning"],
             "info": ["error", "warning", "notice", "information"],
             "debug": ["all"]}[level]
    out.append("allow_anonymous %s" % anonymous)
    out += ["log_type %s" % t for t in types]
    for host, port in listeners:
        out.append("listener %d %s" % (port, host))
        out += listener_opts
    return "\n".join(out) + "\n"


class Broker:
    """One broker process with its stderr collected line by line."""

    def __init__(self, workdir, lines, args=(), listeners=None, cli_listeners=False):
        self.workdir = workdir
        self.data_dir = os.path.join(workdir, "data")
        os.makedirs(self.data_dir, exist_ok=True)
        self.config_path = os.path.join(workdir, "agora.conf")
        if listeners is None:
            listeners = ["127.0.0.1:%d" % free_port()]
        self.listeners = list(listeners)
        # The HTTP API listens on a free port of its own (not 8080).
        self.http_port = free_port(exclude=[int(l.rsplit(":", 1)[1]) for l in self.listeners])
        self.extra_lines = list(lines)
        self.args = list(args)
        # Give the listeners as --listener options instead of config lines.
        self.cli_listeners = cli_listeners
        self.proc = None
        self.lines = []
        self.stdout_lines = []
        self._cond = threading.Condition()
        self._threads = []
        self.returncode = None
        self.stopped = False

    # -- configuration ------------------------------------------------------

    def config_lines(self, extra=None):
        extra = self.extra_lines if extra is None else list(extra)
        keys = {l.split()[0] for l in extra if l.strip() and not l.startswith("#")}
        lines = ["# generated by tests/integration/conftest.py"]
        if not self.cli_listeners:
            lines += ["listener %s" % l for l in self.listeners]
        if "data_dir" not in keys:
            lines.append("data_dir %s" % self.data_dir)
        if "log_level" not in keys:
            lines.append("log_level info")
        if "http_listener" not in keys:
            lines.append("http_listener 127.0.0.1:%d" % self.http_port)
        # Cheap password hashing: tests create many accounts (the cost is
        # a setting; production keeps argon2id's recommended one).
        if "password_hash_memory" not in keys:
            lines.append("password_hash_memory 64")
        if "password_hash_passes" not in keys:
            lines.append("password_hash_passes 1")
        return lines + extra

    def write_config(self, extra=None):
        lines = self.config_lines(extra)
        with open(self.config_path, "w") as f:
            if is_agora():
                f.write("\n".join(lines) + "\n")
            else:
                f.write(_mosquitto_config(lines))

    @property
    def http_url(self):
        """Base URL of the HTTP API, e.g. http://127.0.0.1:PORT."""
        return "http://127.0.0.1:%d" % self.http_port

    @property
    def host(self):
        return _split_listener(self.listeners[0])[0]

    @property
    def port(self):
        return _split_listener(self.listeners[0])[1]

    @property
    def addresses(self):
        return [_split_listener(l) for l in self.listeners]

    # -- process ------------------------------------------------------------

    def command(self):
        if is_agora():
            cmd = [AGORA_BIN, "serve", "-c", self.config_path] + self.args
            if self.cli_listeners:
                for l in self.listeners:
                    cmd += ["--listener", l]
            return cmd
        return [MOSQUITTO_BIN, "-c", self.config_path]

    def start(self, timeout=START_TIMEOUT):
        if is_agora() and not os.access(AGORA_BIN, os.X_OK):
            pytest.fail("broker binary %s does not exist (build it with "
                        "`make build/test/agora`)" % AGORA_BIN)
        self.write_config()
        self.proc = subprocess.Popen(
            self.command(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, env=sanitizer_env(), cwd=self.workdir)
        for stream, sink in ((self.proc.stderr, self.lines),
                             (self.proc.stdout, self.stdout_lines)):
            t = threading.Thread(target=self._reader, args=(stream, sink), daemon=True)
            t.start()
            self._threads.append(t)
        if is_agora():
            for listener in self.listeners:
                self.wait_log(r"listening on " + re.escape(listener) + r"\b",
                              timeout, what="readiness line")
            # The HTTP API and the store are up once "ready" is logged.
            self.wait_log(r"agora \S+ ready", timeout, what="ready line")
        else:
            self.wait_log(r"mosquitto version \S+ running", timeout,
                          what="readiness line")
        return self

    def _reader(self, stream, sink):
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip("\n")
            with self._cond:
                sink.append(line)
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def log_mark(self):
        """Index to pass as `since` to only consider later lines."""
        with self._cond:
            return len(self.lines)

    def log_since(self, since=0):
        with self._cond:
            return list(self.lines[since:])

    def log_text(self):
        with self._cond:
            return "\n".join(self.lines)

    def wait_log(self, pattern, timeout=5.0, since=0, what=None):
        """Waits (bounded) for a stderr line matching the regex. Returns the
        line; fails the test with the log tail otherwise."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            i = since
            while True:
                while i < len(self.lines):
                    if rx.search(self.lines[i]):
                        return self.lines[i]
                    i += 1
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None
                                      and all(not t.is_alive() for t in self._threads)):
                    break
                self._cond.wait(min(remaining, 0.2))
        tail = "\n".join(self.log_since(max(0, since))[-40:])
        state = ("exited with %r" % self.proc.poll()) if self.proc.poll() is not None \
            else "still running"
        pytest.fail("no stderr line matching %r (%s) within %.1fs; broker %s; "
                    "stderr tail:\n%s" % (pattern, what or "log", timeout, state, tail))

    def find_log(self, pattern, since=0):
        rx = re.compile(pattern)
        return [l for l in self.log_since(since) if rx.search(l)]

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        for t in self._threads:
            t.join(2.0)
        return self.returncode

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        """Stops the broker; returns its exit status (None if it had to be
        killed)."""
        if self.stopped:
            return self.returncode
        self.stopped = True
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.wait_exit(timeout)
        if rc is None:
            self.proc.kill()
            self.proc.wait(5)
            for t in self._threads:
                t.join(2.0)
            self.returncode = None
        return rc

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)

    def sanitizer_errors(self):
        return sanitizer_lines(self.log_since(0) + self.stdout_lines)

    def check_clean_exit(self):
        """Asserts the broker stopped with status 0 and no sanitizer
        reports. Used by the fixtures' teardown."""
        was_stopped = self.stopped
        already = self.proc.poll()
        rc = self.stop()
        problems = []
        if not was_stopped and already is not None:
            problems.append("broker exited on its own during the test with status %r"
                            % already)
        elif rc is None:
            problems.append("broker did not exit within %.0fs of SIGTERM (killed)"
                            % STOP_TIMEOUT)
        elif rc != 0 and is_agora():
            problems.append("broker exit status %r after SIGTERM" % rc)
        san = self.sanitizer_errors()
        if san:
            problems.append("sanitizer reports: %s" % san[:5])
        if problems:
            tail = "\n".join(self.log_since(0)[-60:])
            pytest.fail("; ".join(problems) + "\nstderr tail:\n" + tail,
                        pytrace=False)


@pytest.fixture
def broker_factory(tmp_path):
    """Starts brokers with extra config lines; stops them at teardown with
    SIGTERM and checks status 0 and no ASan/UBSan report."""
    started = []

    def start(*lines, args=(), listeners=None, name=None, cli_listeners=False):
        n = len(started)
        workdir = os.path.join(str(tmp_path), name or "broker%d" % n)
        os.makedirs(workdir, exist_ok=True)
        b = Broker(workdir, lines, args=args, listeners=listeners,
                   cli_listeners=cli_listeners)
        started.append(b)
        b.start()
        return b

    yield start
    failures = []
    for b in started:
        if b.proc is None:
            continue
        try:
            b.check_clean_exit()
        except BaseException as e:  # collect, report all
            failures.append(str(e))
        finally:
            b.kill()
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


@pytest.fixture
def broker(broker_factory):
    return broker_factory()


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------

class MessageQueue:
    """Waiting on received messages, for clients whose callbacks put them
    on self.messages (a queue.Queue); every wait is bounded."""

    def get(self, timeout=5.0):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message within %.1fs" % timeout)

    def get_until(self, topic, timeout=5.0, limit=10000):
        """Collects messages up to and including the first on `topic`
        (a marker). Returns the messages before it."""
        out = []
        deadline = time.monotonic() + timeout
        for _ in range(limit):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                m = self.messages.get(timeout=remaining)
            except queue.Empty:
                break
            if m.topic == topic:
                return out
            out.append(m)
        raise AssertionError("marker %r not received within %.1fs; got %r" % (
            topic, timeout, [(m.topic, m.payload[:40]) for m in out]))

    def no_message(self, seconds):
        """Asserts nothing arrives for `seconds`; returns nothing."""
        try:
            m = self.messages.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError("unexpected message %r %r" % (m.topic, m.payload[:60]))


class PahoClient(MessageQueue):
    """paho-mqtt 1.6 client whose callbacks feed queues, so tests wait on
    events with timeouts instead of sleeping."""

    def __init__(self, port, client_id="", clean_session=True, host="127.0.0.1",
                 protocol=mqtt.MQTTv311, will=None, keepalive=60):
        self.host = host
        self.port = port
        self.keepalive = keepalive
        self.client = mqtt.Client(client_id=client_id, clean_session=clean_session,
                                  protocol=protocol)
        self.messages = queue.Queue()
        self.connacks = queue.Queue()
        self.subacks = queue.Queue()
        self.unsubacks = queue.Queue()
        self.disconnects = queue.Queue()
        self.started = False
        c = self.client
        c.on_connect = lambda cl, ud, flags, rc: self.connacks.put((flags, rc))
        c.on_message = lambda cl, ud, msg: self.messages.put(msg)
        c.on_subscribe = lambda cl, ud, mid, granted: self.subacks.put((mid, granted))
        c.on_unsubscribe = lambda cl, ud, mid: self.unsubacks.put(mid)
        c.on_disconnect = lambda cl, ud, rc: self.disconnects.put(rc)
        if will is not None:
            topic, payload, qos, retain = will
            c.will_set(topic, payload, qos, retain)

    def connect(self, timeout=5.0, expect_rc=0):
        self.client.connect(self.host, self.port, self.keepalive)
        self.client.loop_start()
        self.started = True
        try:
            flags, rc = self.connacks.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no CONNACK within %.1fs" % timeout)
        if expect_rc is not None:
            assert rc == expect_rc, "CONNACK rc %r, expected %r" % (rc, expect_rc)
        return flags, rc

    @staticmethod
    def _wait_mid(q, mid, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no %s for mid %d within %.1fs" % (what, mid, timeout))
            try:
                item = q.get(timeout=remaining)
            except queue.Empty:
                continue
            if (item[0] if isinstance(item, tuple) else item) == mid:
                return item

    def subscribe(self, topic, qos=0, timeout=5.0):
        """topic: a filter or a list of (filter, qos). Returns granted QoS list."""
        if isinstance(topic, list):
            rc, mid = self.client.subscribe(topic)
        else:
            rc, mid = self.client.subscribe(topic, qos)
        assert rc == mqtt.MQTT_ERR_SUCCESS, "subscribe rc %r" % rc
        return list(self._wait_mid(self.subacks, mid, timeout, "SUBACK")[1])

    def unsubscribe(self, topic, timeout=5.0):
        rc, mid = self.client.unsubscribe(topic)
        assert rc == mqtt.MQTT_ERR_SUCCESS, "unsubscribe rc %r" % rc
        self._wait_mid(self.unsubacks, mid, timeout, "UNSUBACK")

    def publish(self, topic, payload=b"", qos=0, retain=False, timeout=5.0):
        """Publishes and waits for the QoS flow to complete (for QoS 0:
        until paho has written it)."""
        info = self.client.publish(topic, payload, qos, retain)
        assert info.rc == mqtt.MQTT_ERR_SUCCESS, "publish rc %r" % info.rc
        info.wait_for_publish(timeout)
        assert info.is_published(), "publish to %r (qos %d) not acknowledged within %.1fs" % (
            topic, qos, timeout)
        return info

    def wait_disconnect(self, timeout=5.0):
        try:
            return self.disconnects.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("not disconnected within %.1fs" % timeout)

    def disconnect(self, timeout=5.0):
        self.client.disconnect()
        rc = self.wait_disconnect(timeout)
        self.stop()
        return rc

    def stop(self):
        if self.started:
            self.started = False
            self.client.loop_stop()


def paho_factory(build):
    """A client fixture's body: yields make(*args, connect=True, **kw),
    which builds a paho-based client with build(*args, **kw) and connects it
    unless connect=False; every client it made is stopped at teardown."""
    clients = []

    def make(*args, connect=True, **kw):
        c = build(*args, **kw)
        clients.append(c)
        if connect:
            c.connect()
        return c

    yield make
    stop_paho_clients(clients)


@pytest.fixture
def paho():
    """paho(port, client_id="", clean_session=True, connect=True, **kw)."""
    yield from paho_factory(PahoClient)


def stop_paho_clients(clients):
    """Fixture teardown for paho-based clients: disconnect (best effort),
    then stop their network threads."""
    for c in clients:
        try:
            c.client.disconnect()
        except Exception:
            pass
        c.stop()


@pytest.fixture
def raw():
    """Factory: raw(port, client_id=None, host=..., **connect_kw). With a
    client_id (may be ""), CONNECT is sent and CONNACK 0 checked."""
    clients = []

    def make(port, client_id=None, host="127.0.0.1", **kw):
        c = mqttraw.RawClient(port, host)
        clients.append(c)
        if client_id is not None:
            c.connect(client_id, **kw)
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def uniq():
    """A short unique string for topics and client ids."""
    return uuid.uuid4().hex[:10]


def is_debug_line(line):
    if is_agora():
        return re.search(r"^\S+\s+debug\s", line) is not None
    return re.search(r"\b(Received|Sending) [A-Z]+", line) is not None
