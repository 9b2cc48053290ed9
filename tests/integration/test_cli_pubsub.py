"""`agora pub` and `agora sub` against Agora and against Mosquitto.

Each side is crossed with the other's clients (mosquitto_pub, mosquitto_sub),
at every QoS, in MQTT 3.1.1 and 5 (properties checked on the far side), and
the options people know from those two tools are checked one by one.

Both brokers are started once for the module (Agora through conftest's
Broker, Mosquitto with a configuration written here) and stopped at the end,
Agora checked for a clean exit. Every test uses topics of its own. A
subscriber is known to be in place when its -d trace says "received
SUBACK"; nothing waits on a fixed sleep.
"""

import getpass
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import threading
import time

import pytest
import requests

from conftest import (AGORA_BIN, Broker, free_port, ipv6_loopback_available, sanitizer_env,
                      sanitizer_lines)

MOSQUITTO = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
MOSQUITTO_PASSWD = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
# mosquitto_sub writes its -d trace on stdout: line-buffered, it arrives as written
STDBUF = [shutil.which("stdbuf"), "-oL"] if shutil.which("stdbuf") else []

pytestmark = pytest.mark.skipif(
    not all(os.access(p, os.X_OK) for p in (MOSQUITTO, MOSQUITTO_SUB, MOSQUITTO_PUB,
                                            MOSQUITTO_PASSWD)),
    reason="mosquitto and its clients are not installed")

RUN_TIMEOUT = 15.0   # one client process, start to end
WAIT = 5.0           # one expected event
MOSQ_USER, MOSQ_PASSWORD = "alice", "secret-pass"


# --------------------------------------------------------------------------
# Brokers
# --------------------------------------------------------------------------

class Mosquitto:
    """Debian's mosquitto on a free loopback port, its log collected."""

    def __init__(self, workdir):
        self.port = free_port()
        self.lines = []
        self.cond = threading.Condition()
        pwfile = os.path.join(workdir, "passwords")
        subprocess.run([MOSQUITTO_PASSWD, "-c", "-b", pwfile, MOSQ_USER, MOSQ_PASSWORD],
                       check=True, timeout=RUN_TIMEOUT, capture_output=True)
        conf = os.path.join(workdir, "mosquitto.conf")
        with open(conf, "w") as f:
            f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n"
                    "password_file %s\nlog_dest stderr\nlog_type all\n"
                    # started as root, it would become "mosquitto" and lose
                    # access to the test's directory (ignored when not root)
                    "user %s\n" % (self.port, pwfile, getpass.getuser()))
        self.proc = subprocess.Popen([MOSQUITTO, "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()
        self.wait_log(r"mosquitto version \S+ running", 10.0)

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()

    def mark(self):
        with self.cond:
            return len(self.lines)

    def wait_log(self, pattern, timeout=WAIT, since=0):
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for line in self.lines[since:]:
                    if rx.search(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    pytest.fail("mosquitto logged no %r within %.1fs; tail: %s"
                                % (pattern, timeout, self.lines[-15:]))
                self.cond.wait(min(remaining, 0.2))

    def clean_disconnect_pattern(self, client_id):
        return r"Client %s disconnected\.$" % re.escape(client_id)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


class AgoraBroker:
    """conftest's Broker with the same small interface as Mosquitto."""

    def __init__(self, workdir):
        self.b = Broker(workdir, [])
        self.b.start()
        self.port = self.b.port

    def mark(self):
        return self.b.log_mark()

    def wait_log(self, pattern, timeout=WAIT, since=0):
        return self.b.wait_log(pattern, timeout, since=since)

    def clean_disconnect_pattern(self, client_id):
        # a DISCONNECT ("disconnected"), not "connection closed by peer"
        return r"client %s disconnected from \S+: disconnected$" % re.escape(client_id)


@pytest.fixture(scope="module")
def agora_broker(tmp_path_factory):
    b = AgoraBroker(str(tmp_path_factory.mktemp("agora")))
    yield b
    b.b.check_clean_exit()


@pytest.fixture(scope="module")
def mosquitto_broker(tmp_path_factory):
    m = Mosquitto(str(tmp_path_factory.mktemp("mosquitto")))
    yield m
    m.stop()


@pytest.fixture(params=["agora", "mosquitto"])
def brk(request):
    return request.getfixturevalue(request.param + "_broker")


@pytest.fixture
def topic(uniq):
    return "cli/" + uniq


# --------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------

def agora(*args):
    return [AGORA_BIN] + [str(a) for a in args]


def check_sanitizers(argv, text):
    if argv[0] == AGORA_BIN:
        bad = sanitizer_lines(text.splitlines())
        assert not bad, "sanitizer report from %s: %s" % (argv[:3], bad[:5])


def run(argv, stdin=b"", timeout=RUN_TIMEOUT):
    """Runs a client to its end: (status, stdout bytes, stderr text)."""
    p = subprocess.run(argv, input=stdin, capture_output=True, timeout=timeout,
                       env=sanitizer_env())
    err = p.stderr.decode("utf-8", "replace")
    check_sanitizers(argv, err)
    return p.returncode, p.stdout, err


class Proc:
    """A client running in the background; its output collected as it comes."""

    def __init__(self, argv, stdin=subprocess.DEVNULL):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=sanitizer_env())
        self.out = bytearray()
        self.err = []
        self.cond = threading.Condition()
        self.threads = [threading.Thread(target=self._read_out, daemon=True),
                        threading.Thread(target=self._read_err, daemon=True)]
        for t in self.threads:
            t.start()

    def _read_out(self):
        for chunk in iter(lambda: self.proc.stdout.read1(65536), b""):
            with self.cond:
                self.out += chunk
                self.cond.notify_all()

    def _read_err(self):
        for raw in iter(self.proc.stderr.readline, b""):
            with self.cond:
                self.err.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()

    def text(self):
        with self.cond:
            return self.out.decode("utf-8", "replace") + "\n" + "\n".join(self.err)

    def wait_for(self, pattern, timeout=WAIT):
        """Waits for a regex in stdout or stderr (mosquitto_sub -d writes
        its trace on stdout, agora sub on stderr)."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        with self.cond:
            while not rx.search(self.out.decode("utf-8", "replace") + "\n" +
                                "\n".join(self.err)):
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None
                                      and not any(t.is_alive() for t in self.threads)):
                    self.kill()
                    pytest.fail("%s: no %r within %.1fs; output:\n%s"
                                % (self.argv[:2], pattern, timeout, self.text()[-2000:]))
                self.cond.wait(min(remaining, 0.2))

    def subscribed(self):
        self.wait_for(r"received SUBACK")
        return self

    def finish(self, timeout=RUN_TIMEOUT):
        """Waits for the end: (status, stdout bytes, stderr text)."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail("%s still running after %.0fs; output:\n%s"
                        % (self.argv[:2], timeout, self.text()[-2000:]))
        for t in self.threads:
            t.join(5)
        err = "\n".join(self.err)
        check_sanitizers(self.argv, err)
        return rc, bytes(self.out), err

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


def mosq_sub(port, topic, *extra):
    """mosquitto_sub -d: its SUBACK line tells when it is in place."""
    return Proc(STDBUF + [MOSQUITTO_SUB, "-p", str(port), "-t", topic, "-d"] +
                [str(a) for a in extra]).subscribed()


def mosq_lines(out):
    """mosquitto_sub's messages, without its -d trace."""
    return [l for l in out.decode("utf-8", "replace").splitlines()
            if not l.startswith("Client ") and not l.startswith("Subscribed (mid")]


def agora_sub(port, *args, stdin=subprocess.DEVNULL):
    """agora sub -d (trace on stderr, stdout clean), once subscribed."""
    return Proc(agora("sub", "-p", port, "-d", *args), stdin=stdin).subscribed()


def one_line(err):
    lines = [l for l in err.splitlines() if l and not l.startswith("Client ")]
    assert len(lines) == 1, "expected one error line, got %r" % lines
    return lines[0]


PROPS = ["-D", "publish", "user-property", "k", "v", "-D", "publish", "content-type",
         "text/plain", "-D", "publish", "correlation-data", "c-1", "-D", "publish",
         "response-topic", "re/ply", "-D", "publish", "payload-format-indicator", "1"]
PROPS_FMT = "|%P|%C|%D|%R|%F"
PROPS_OUT = "|k:v|text/plain|c-1|re/ply|1"


# --------------------------------------------------------------------------
# Crossed with mosquitto_pub and mosquitto_sub, both brokers
# --------------------------------------------------------------------------

@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_agora_pub_to_mosquitto_sub(brk, topic, version, qos):
    v5 = version == "mqttv5"
    sub = mosq_sub(brk.port, topic, "-V", version, "-q", 2, "-C", 1,
                   "-F", "%t|%q|%r|%p" + (PROPS_FMT if v5 else ""))
    rc, _, err = run(agora("pub", "-p", brk.port, "-t", topic, "-m", "héllo wörld",
                           "-q", qos, "-V", version, *(PROPS if v5 else [])))
    assert rc == 0, err
    rc, out, _ = sub.finish()
    assert rc == 0
    assert mosq_lines(out) == ["%s|%d|0|héllo wörld%s" % (topic, qos, PROPS_OUT if v5 else "")]


@pytest.mark.parametrize("qos", [0, 1, 2])
@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_mosquitto_pub_to_agora_sub(brk, topic, version, qos):
    v5 = version == "mqttv5"
    sub = agora_sub(brk.port, "-t", topic + "/#", "-V", version, "-q", 2, "-C", 1,
                    "-F", "%t|%q|%r|%p" + (PROPS_FMT if v5 else ""))
    rc, _, err = run([MOSQUITTO_PUB, "-p", str(brk.port), "-t", topic + "/a", "-m", "hé",
                      "-q", str(qos), "-V", version] + (PROPS if v5 else []))
    assert rc == 0, err
    rc, out, err = sub.finish()
    assert rc == 0, err
    assert out.decode() == "%s/a|%d|0|hé%s\n" % (topic, qos, PROPS_OUT if v5 else "")


@pytest.mark.parametrize("version", ["mqttv31", "mqttv311", "mqttv5"])
def test_agora_to_agora_every_version(agora_broker, topic, version):
    sub = agora_sub(agora_broker.port, "-t", topic, "-V", version, "-q", 2, "-C", 2, "-v")
    for qos in (1, 2):
        rc, _, err = run(agora("pub", "-p", agora_broker.port, "-t", topic, "-m", "q%d" % qos,
                               "-q", qos, "-V", version))
        assert rc == 0, err
    rc, out, err = sub.finish()
    assert rc == 0, err
    assert out == ("%s q1\n%s q2\n" % (topic, topic)).encode()


# --------------------------------------------------------------------------
# The message sources of pub
# --------------------------------------------------------------------------

def test_lines_one_message_each(brk, topic):
    # As mosquitto_pub -l: an empty line is an empty message, '\r' stays,
    # the last line needs no newline.
    sub = mosq_sub(brk.port, topic, "-C", 4, "-F", "[%x]")
    rc, _, err = run(agora("pub", "-p", brk.port, "-t", topic, "-l", "-q", 1),
                     stdin=b"a\n\nb\r\nc")
    assert rc == 0, err
    rc, out, _ = sub.finish()
    assert mosq_lines(out) == ["[61]", "[]", "[620d]", "[63]"]


def test_file_binary_intact(brk, topic, tmp_path):
    data = bytes(range(256)) * 300 + b"\n\x00end"
    path = tmp_path / "payload.bin"
    path.write_bytes(data)
    sub = agora_sub(brk.port, "-t", topic, "-C", 1, "-N", "-q", 1)
    rc, _, err = run(agora("pub", "-p", brk.port, "-t", topic, "-f", path, "-q", 1))
    assert rc == 0, err
    rc, out, err = sub.finish()
    assert rc == 0, err
    assert out == data


def test_stdin_binary_intact_to_mosquitto(brk, topic):
    data = b"\x00\xff\xfe binary\r\n\x01" * 1000
    sub = mosq_sub(brk.port, topic, "-C", 1, "-F", "%x")
    rc, _, err = run(agora("pub", "-p", brk.port, "-t", topic, "-s", "-q", 2), stdin=data)
    assert rc == 0, err
    rc, out, _ = sub.finish()
    assert mosq_lines(out) == [data.hex()]


def test_null_message_and_verbose(agora_broker, topic):
    sub = agora_sub(agora_broker.port, "-t", topic, "-C", 2, "-v")
    for args in (["-n"], ["-m", "x y"]):
        rc, _, err = run(agora("pub", "-p", agora_broker.port, "-t", topic, *args))
        assert rc == 0, err
    rc, out, err = sub.finish()
    assert out == ("%s (null)\n%s x y\n" % (topic, topic)).encode()


def test_unreadable_file_is_a_local_error(agora_broker, topic, tmp_path):
    rc, _, err = run(agora("pub", "-p", agora_broker.port, "-t", topic, "-f",
                           tmp_path / "missing"))
    assert rc == 4
    assert "cannot read" in one_line(err) and "No such file" in err


# --------------------------------------------------------------------------
# Retained messages and wills
# --------------------------------------------------------------------------

def test_retained_and_no_stale(brk, topic):
    rc, _, err = run(agora("pub", "-p", brk.port, "-t", topic, "-m", "old", "-r", "-q", 1))
    assert rc == 0, err
    # a new subscriber gets it, retain flag set
    rc, out, err = run(agora("sub", "-p", brk.port, "-t", topic, "-C", 1, "-F", "%r %p"))
    assert (rc, out) == (0, b"1 old\n"), err
    # -R: the stale one is not printed, the live one is
    sub = agora_sub(brk.port, "-t", topic, "-C", 1, "-R", "-F", "%r %p")
    rc, _, err = run(agora("pub", "-p", brk.port, "-t", topic, "-m", "new"))
    assert rc == 0, err
    rc, out, err = sub.finish()
    assert (rc, out) == (0, b"0 new\n"), err
    # clear it (an empty retained message)
    assert run(agora("pub", "-p", brk.port, "-t", topic, "-n", "-r"))[0] == 0


def test_will_published_when_killed(brk, topic):
    watch = mosq_sub(brk.port, topic + "/will", "-C", 1, "-F", "%t %p %r")
    sub = agora_sub(brk.port, "-t", topic + "/x", "--will-topic", topic + "/will",
                    "--will-payload", "gone", "--will-qos", 1)
    sub.kill()  # no DISCONNECT: the broker publishes the will
    rc, out, _ = watch.finish()
    assert mosq_lines(out) == ["%s/will gone 0" % topic]


@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_sigint_disconnects_cleanly(brk, topic, version, uniq):
    cid = "sig-" + uniq
    mark = brk.mark()
    watch = mosq_sub(brk.port, topic + "/will", "-C", 1, "-F", "%p")
    sub = agora_sub(brk.port, "-t", topic + "/x", "-i", cid, "-V", version,
                    "--will-topic", topic + "/will", "--will-payload", "WILL")
    sub.proc.send_signal(signal.SIGINT)
    rc, _, err = sub.finish()
    assert rc == 0, err
    assert "sending DISCONNECT" in err
    brk.wait_log(brk.clean_disconnect_pattern(cid), since=mark)
    # the first message on the will topic is the marker: no will went out
    rc, _, err = run(agora("pub", "-p", brk.port, "-t", topic + "/will", "-m", "marker"))
    assert rc == 0, err
    rc, out, _ = watch.finish()
    assert mosq_lines(out) == ["marker"]


# --------------------------------------------------------------------------
# What sub prints and when it stops
# --------------------------------------------------------------------------

def test_count_filter_out_and_format(agora_broker, topic):
    sub = agora_sub(agora_broker.port, "-t", topic + "/#", "-T", topic + "/skip", "-T",
                    topic + "/no/+", "-C", 2, "-q", 1,
                    "-F", r"%t|%p|%q|%r|%l|%x|%X|%5l|%-3l|%3q|%03l|%.3t|%%|\t|@@")
    for sub_topic, msg in (("skip", "a"), ("no/1", "b"), ("keep", "Hi"), ("also", "Z")):
        rc, _, err = run(agora("pub", "-p", agora_broker.port, "-t", "%s/%s" % (topic, sub_topic),
                               "-m", msg, "-q", 1))
        assert rc == 0, err
    rc, out, err = sub.finish()
    assert rc == 0, err
    head = topic[:3]
    assert out.decode().splitlines() == [
        "%s/keep|Hi|1|0|2|4869|4869|    2|2  |1|002|%s|%%|\t|@" % (topic, head),
        "%s/also|Z|1|0|1|5a|5A|    1|1  |1|001|%s|%%|\t|@" % (topic, head),
    ]


def test_message_id_and_no_newline(agora_broker, topic):
    sub = agora_sub(agora_broker.port, "-t", topic, "-C", 2, "-q", 1, "-N", "-F", "<%m:%p>")
    for m in ("a", "b"):
        assert run(agora("pub", "-p", agora_broker.port, "-t", topic, "-m", m, "-q", 1))[0] == 0
    rc, out, err = sub.finish()
    found = re.fullmatch(rb"<(\d+):a><(\d+):b>", out)
    assert found and int(found.group(1)) > 0 and int(found.group(2)) > 0, out


def test_json_lines(agora_broker, topic):
    sub = agora_sub(agora_broker.port, "-t", topic + "/#", "-C", 2, "--json", "-q", 1,
                    "-V", "mqttv5")
    rc, _, err = run(agora("pub", "-p", agora_broker.port, "-t", topic + "/t", "-m", 'say "hi"\n',
                           "-q", 1, "-D", "publish", "user-property", "k", "v"))
    assert rc == 0, err
    rc, _, err = run(agora("pub", "-p", agora_broker.port, "-t", topic + "/b", "-s"),
                     stdin=b"\xff\x00\x01")
    assert rc == 0, err
    rc, out, err = sub.finish()
    first, second = [json.loads(l) for l in out.decode().splitlines()]
    assert first["topic"] == topic + "/t" and first["payload"] == 'say "hi"\n'
    assert first["qos"] == 1 and first["retain"] == 0 and first["mid"] > 0
    assert first["properties"]["user-properties"] == {"k": "v"}
    assert second["payload_base64"] == "/wAB" and "payload" not in second
    assert second["payloadlen"] == 3


def test_json_payload_format(agora_broker, topic):
    sub = agora_sub(agora_broker.port, "-t", topic, "-C", 1, "-F", "%J")
    rc, _, err = run(agora("pub", "-p", agora_broker.port, "-t", topic, "-m", "not json"))
    assert rc == 0
    rc, _, err = run(agora("pub", "-p", agora_broker.port, "-t", topic, "-m", '{"t": 21.5}'))
    assert rc == 0
    rc, out, err = sub.finish()
    assert rc == 0, err
    assert json.loads(out)["payload"] == {"t": 21.5}
    assert "is not JSON" in err


def test_timeout_is_exit_2(agora_broker, topic):
    started = time.monotonic()
    rc, out, err = run(agora("sub", "-p", agora_broker.port, "-t", topic, "-W", 1))
    assert rc == 2 and out == b""
    assert "timed out after 1 s" in one_line(err)
    assert time.monotonic() - started < 10


def test_subscription_refused(agora_broker, uniq):
    # Agora lets nobody read another account's inbox: SUBACK says no.
    for version, words in (("mqttv311", r"Failure \(128\)"),
                           ("mqttv5", r"Not authorized \(0x87\)")):
        rc, _, err = run(agora("sub", "-p", agora_broker.port, "-V", version, "-t",
                               "agora/users/%s/inbox" % uniq))
        assert rc == 3, err
        assert re.search(r"subscription to 'agora/users/\w+/inbox' refused: " + words,
                         one_line(err)), err


# --------------------------------------------------------------------------
# Sessions
# --------------------------------------------------------------------------

@pytest.mark.parametrize("version", ["mqttv311", "mqttv5"])
def test_persistent_session_gets_what_came_offline(brk, topic, version, uniq):
    cid = "keep-" + uniq
    common = ("-t", topic, "-q", 1, "-c", "-i", cid, "-V", version)
    sub = agora_sub(brk.port, *common, "-C", 1)
    assert run(agora("pub", "-p", brk.port, "-t", topic, "-m", "online", "-q", 1))[0] == 0
    rc, out, err = sub.finish()
    assert (rc, out) == (0, b"online\n"), err
    for i in range(3):
        rc, _, err = run([MOSQUITTO_PUB, "-p", str(brk.port), "-t", topic, "-m", "off%d" % i,
                          "-q", "1"])
        assert rc == 0, err
    rc, out, err = run(agora("sub", "-p", brk.port, *common, "-C", 3))
    assert (rc, out) == (0, b"off0\noff1\noff2\n"), err


def test_unsubscribe_from_persistent_session(agora_broker, topic, uniq):
    cid = "unsub-" + uniq
    port = agora_broker.port
    sub = agora_sub(port, "-t", topic + "/a", "-q", 1, "-c", "-i", cid, "-C", 1)
    assert run(agora("pub", "-p", port, "-t", topic + "/a", "-m", "1", "-q", 1))[0] == 0
    assert sub.finish()[0] == 0
    # -U alone: unsubscribes and exits
    rc, _, err = run(agora("sub", "-p", port, "-c", "-i", cid, "-U", topic + "/a", "-d"))
    assert rc == 0 and "received UNSUBACK" in err, err
    assert run(agora("pub", "-p", port, "-t", topic + "/a", "-m", "lost", "-q", 1))[0] == 0
    # back: nothing was queued for topic/a; the marker comes first
    sub = agora_sub(port, "-t", topic + "/b", "-q", 1, "-c", "-i", cid, "-C", 1)
    assert run(agora("pub", "-p", port, "-t", topic + "/b", "-m", "marker", "-q", 1))[0] == 0
    rc, out, err = sub.finish()
    assert (rc, out) == (0, b"marker\n"), err


# --------------------------------------------------------------------------
# Refusals and failures
# --------------------------------------------------------------------------

@pytest.mark.parametrize("version,words", [("mqttv311", r"\(\d\)"), ("mqttv5", r"\(0x8\d\)")])
def test_bad_credentials_refused(brk, topic, version, words, uniq):
    if isinstance(brk, AgoraBroker):
        r = requests.post(brk.b.http_url + "/api/users",
                          json={"name": "u" + uniq, "password": MOSQ_PASSWORD}, timeout=10)
        assert r.status_code == 201, r.text
        user = "u" + uniq
    else:
        user = MOSQ_USER
    for cmd in (("pub", "-m", "x"), ("sub",)):
        rc, _, err = run(agora(cmd[0], "-p", brk.port, "-t", topic, "-u", user, "-P", "wrong",
                               "-V", version, *cmd[1:]))
        assert rc == 3, err
        assert re.search(r"refused the connection: (Bad user name or password|"
                         r"Not authorized).* " + words, one_line(err), re.I), err
    # the right password is welcome, also as -L mqtt://user:password@host:port/topic
    rc, _, err = run(agora("pub", "-L", "mqtt://%s:%s@127.0.0.1:%d/%s"
                           % (user, MOSQ_PASSWORD, brk.port, topic), "-m", "x", "-V", version))
    assert rc == 0, err


def test_nothing_listening_is_exit_2(topic):
    port = free_port()
    for argv in (agora("pub", "-h", "127.0.0.1", "-p", port, "-t", topic, "-m", "x"),
                 agora("sub", "-h", "127.0.0.1", "-p", port, "-t", topic)):
        rc, out, err = run(argv)
        assert rc == 2, err
        assert "cannot connect to 127.0.0.1 port %d: connection refused" % port in one_line(err)


def test_unknown_host_is_exit_2(topic):
    rc, _, err = run(agora("pub", "-h", "no-such-host.invalid", "-t", topic, "-m", "x"))
    assert rc == 2
    assert "cannot resolve 'no-such-host.invalid'" in one_line(err)


@pytest.mark.parametrize("argv,words", [
    (["pub", "-t", "a"], "no message"),
    (["pub", "-m", "x"], "no topic"),
    (["pub", "-t", "a/#", "-m", "x"], "not a valid topic name"),
    (["pub", "-t", "a", "-m", "x", "-n"], "only one message"),
    (["pub", "-t", "a", "-m", "x", "-q", "3"], "-q: '3' is not a number from 0 to 2"),
    (["pub", "-t", "a", "-m", "x", "-V", "4"], "is not mqttv31"),
    (["pub", "-t", "a", "-m", "x", "-V", "311", "-D", "publish", "content-type", "t"],
     "need MQTT 5"),
    (["pub", "-t", "a", "-m", "x", "-D", "publish", "session-expiry-interval", "1"],
     "not a property a client sends in publish"),
    (["pub", "-t", "a", "-m", "x", "-p"], "-p needs a value"),
    (["pub", "-t", "a", "-m", "x", "-C", "1"], "unknown option '-C'"),
    (["sub", "-t", "a", "-c"], "needs a client id"),
    (["sub", "-t", "a/#/b"], "not a valid topic filter"),
    (["sub", "-t", "a", "-F", "%Z"], "'%Z' is not a field"),
    (["sub", "-t", "a", "-x", "60"], "needs MQTT 5"),
    (["sub", "-t", "a", "--json", "-v"], "--json cannot go with"),
    (["sub", "-L", "mqtts://h/t"], "TLS"),
    (["sub"], "no topic"),
])
def test_bad_options_exit_1(argv, words):
    rc, out, err = run(agora(*argv))
    assert rc == 1 and out == b""
    line = one_line(err)
    assert line.startswith("agora %s: " % argv[0]) and words in line, line


@pytest.mark.parametrize("cmd", ["pub", "sub"])
def test_help(cmd):
    for flag in ("--help", "-h"):
        rc, out, err = run(agora(cmd, flag))
        assert rc == 0 and err == ""
        assert out.startswith(b"usage: agora " + cmd.encode())


# --------------------------------------------------------------------------
# MQTT 5 flow control, aliases, addresses
# --------------------------------------------------------------------------

def test_receive_maximum_respected(broker_factory, topic):
    # The broker closes a client that leaves more unacknowledged than it
    # allows: 300 lines at QoS 1 through a window of 2.
    b = broker_factory("receive_maximum 2")
    sub = agora_sub(b.port, "-t", topic, "-C", 300, "-q", 1)
    lines = b"".join(b"%d\n" % i for i in range(300))
    rc, _, err = run(agora("pub", "-p", b.port, "-t", topic, "-l", "-q", 1, "-V", "5"),
                     stdin=lines)
    assert rc == 0, err
    rc, out, err = sub.finish()
    assert (rc, out) == (0, lines), err
    assert not b.find_log("protocol error|Receive Maximum")


def test_topic_alias(brk, topic):
    sub = mosq_sub(brk.port, topic, "-C", 3, "-v")
    rc, _, err = run(agora("pub", "-p", brk.port, "-t", topic, "-l", "-q", 1, "-d",
                           "-D", "publish", "topic-alias", "1"), stdin=b"a\nb\nc\n")
    assert rc == 0, err
    # the second and third PUBLISH went with the alias alone
    assert re.findall(r"sending PUBLISH \(d0, q1, r0, m\d+, '([^']*)'", err) == [topic, "", ""]
    rc, out, _ = sub.finish()
    assert mosq_lines(out) == ["%s a" % topic, "%s b" % topic, "%s c" % topic]


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback")
def test_ipv6_and_url(broker_factory, topic):
    port = free_port()
    b = broker_factory(listeners=["[::1]:%d" % port])
    sub = agora_sub(port, "-h", "::1", "-t", topic, "-C", 1)
    rc, _, err = run(agora("pub", "-L", "mqtt://[::1]:%d/%s" % (port, topic), "-m", "six"))
    assert rc == 0, err
    rc, out, err = sub.finish()
    assert (rc, out) == (0, b"six\n"), err


def test_sigint_stops_a_stream_of_lines(agora_broker, topic):
    # pub -l with stdin left open: SIGINT ends it, DISCONNECT sent, status 0
    p = Proc(agora("pub", "-p", agora_broker.port, "-t", topic, "-l", "-q", 1, "-d"),
             stdin=subprocess.PIPE)
    p.proc.stdin.write(b"one\n")
    p.proc.stdin.flush()
    p.wait_for(r"received PUBACK")
    p.proc.send_signal(signal.SIGINT)
    rc, _, err = p.finish()
    p.proc.stdin.close()
    assert rc == 0, err
    assert "sending DISCONNECT" in err
