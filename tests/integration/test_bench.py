"""`agora bench`: the load generator's correctness, never its speed.

Two halves:

* smoke runs of every scenario against the real broker (the ``broker``
  fixture), asserting that what was sent was delivered, once and in order;
* runs against the trivial forwarder (bench/forwarder.c) started with
  deliberate faults (--drop, --dup, --reorder), asserting that the bench
  counts exactly the damage done, and fails QoS 1/2 runs that suffer it.

The forwarder forwards every PUBLISH byte for byte (QoS flags included) to
every subscriber, acknowledges QoS 1/2 publishers itself and grants QoS 0 in
its SUBACK. The bench does not look at the granted QoS: its subscribers ack
whatever QoS arrives, so a QoS 1 run through the forwarder is judged on what
the subscribers receive, which is what the tests below rely on.

Binaries: $AGORA_BIN (default build/test/agora) runs the bench,
$FORWARDER_BIN (default build/test/forwarder) the forwarder.
"""

import json
import os
import re
import signal
import subprocess
import threading
import time

import pytest

import mqttraw
from conftest import REPO, require_agora, sanitizer_env, sanitizer_lines
from conftest import free_port as pick_port
from tlscerts import two_cas

AGORA_BIN = os.environ.get("AGORA_BIN", os.path.join(REPO, "build", "test", "agora"))
FORWARDER_BIN = os.environ.get("FORWARDER_BIN",
                               os.path.join(REPO, "build", "test", "forwarder"))

# Bounds: a smoke run takes milliseconds; these only stop a hung bench.
BENCH_DURATION = "20"
BENCH_TIMEOUT = 60.0
FORWARDER_START_TIMEOUT = 10.0
FORWARDER_STOP_TIMEOUT = 5.0

# The bench's own time bound (-d) for runs that lose messages: they end by
# its 1 s quiet rule, well before it; if the rule broke, this bounds them.
LOSSY_DURATION = 3.0


# --------------------------------------------------------------------------
# Running the bench
# --------------------------------------------------------------------------

class BenchRun:
    def __init__(self, argv, proc):
        self.argv = argv
        self.rc = proc.returncode
        self.stdout = proc.stdout.decode("utf-8", "replace")
        self.stderr = proc.stderr.decode("utf-8", "replace")
        lines = [l for l in self.stdout.splitlines() if l.strip()]
        try:
            self.result = json.loads(lines[-1])
        except (IndexError, ValueError):
            pytest.fail("bench printed no JSON object (status %r)\nargv: %s\nstdout:\n%s"
                        "\nstderr:\n%s" % (self.rc, argv, self.stdout, self.stderr))

    def __getitem__(self, key):
        return self.result[key]

    def describe(self):
        keys = ("sent", "expected", "delivered", "lost", "duplicates", "out_of_order",
                "acks_missing", "timed_out", "elapsed_s", "connections",
                "connect_failures", "error")
        return "status %r, %s\nargv: %s\nstderr:\n%s" % (
            self.rc, {k: self.result.get(k) for k in keys}, " ".join(self.argv),
            self.stderr[-2000:])


def run_bench(scenario, port, *args, duration=BENCH_DURATION):
    if not os.access(AGORA_BIN, os.X_OK):
        pytest.fail("bench binary %s does not exist (build it with `make build/test/agora`)"
                    % AGORA_BIN)
    argv = [AGORA_BIN, "bench", scenario, "-h", "127.0.0.1", "-p", str(port),
            "-d", str(duration)] + [str(a) for a in args] + ["--json"]
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                              env=sanitizer_env(), timeout=BENCH_TIMEOUT)
    except subprocess.TimeoutExpired:
        pytest.fail("bench did not finish within %.0fs: %s" % (BENCH_TIMEOUT, " ".join(argv)))
    run = BenchRun(argv, proc)
    san = sanitizer_lines(run.stderr.splitlines())
    assert not san, "sanitizer report from the bench: %s\n%s" % (san[:5], run.describe())
    return run


def assert_clean(run, sent, expected):
    """Every message sent was delivered to every subscriber it was meant
    for, once and in order, and the run ended by itself."""
    d = run.describe()
    assert run.rc == 0, d
    assert run["error"] == "", d
    assert run["timed_out"] is False, d
    assert run["sent"] == sent, d
    assert run["expected"] == expected, d
    assert run["delivered"] == expected, d
    assert run["lost"] == 0, d
    assert run["duplicates"] == 0, d
    assert run["out_of_order"] == 0, d
    assert run["acks_missing"] == 0, d
    assert run["latency_us"]["count"] == expected, d


# --------------------------------------------------------------------------
# The forwarder
# --------------------------------------------------------------------------

class Forwarder:
    """bench/forwarder.c on a port of its choosing, stderr collected."""

    READY = re.compile(r"^forwarder listening on 127\.0\.0\.1:(\d+)$")

    def __init__(self, args):
        if not os.access(FORWARDER_BIN, os.X_OK):
            pytest.fail("forwarder binary %s does not exist (build it with "
                        "`make build/test/forwarder`)" % FORWARDER_BIN)
        self.argv = [FORWARDER_BIN, "-p", "0"] + [str(a) for a in args]
        self.lines = []
        self.checked = False
        self.cond = threading.Condition()
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=sanitizer_env())
        self.thread = threading.Thread(target=self._reader, daemon=True)
        self.thread.start()
        self.port = self._wait_ready()

    def _reader(self):
        for raw in iter(self.proc.stderr.readline, b""):
            with self.cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def _wait_ready(self):
        deadline = time.monotonic() + FORWARDER_START_TIMEOUT
        with self.cond:
            while True:
                for line in self.lines:
                    m = self.READY.match(line)
                    if m:
                        port = int(m.group(1))
                        assert 0 < port < 65536, line
                        return port
                remaining = deadline - time.monotonic()
                if remaining <= 0 or (self.proc.poll() is not None
                                      and not self.thread.is_alive()):
                    break
                self.cond.wait(min(remaining, 0.2))
        self.proc.kill()
        self.proc.wait(5)
        pytest.fail("forwarder %s: no readiness line within %.0fs (status %r); stderr:\n%s"
                    % (self.argv, FORWARDER_START_TIMEOUT, self.proc.poll(),
                       "\n".join(self.lines)))

    def stop(self, sig=signal.SIGTERM):
        """Signals the forwarder; returns its exit status (None: killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            rc = self.proc.wait(FORWARDER_STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            rc = None
        self.thread.join(2.0)
        return rc

    def check_clean_exit(self, sig=signal.SIGTERM):
        if self.checked:
            return
        self.checked = True
        already = self.proc.poll()
        rc = self.stop(sig)
        log = "\n".join(self.lines[-40:])
        assert already is None, "forwarder exited by itself with %r:\n%s" % (already, log)
        assert rc == 0, "forwarder exit status %r after signal %d:\n%s" % (rc, sig, log)
        san = sanitizer_lines(self.lines)
        assert not san, "forwarder sanitizer report: %s" % san[:5]


@pytest.fixture
def forwarder():
    """Factory: forwarder(*fault_args) -> Forwarder (ready). At teardown each
    must still be running, exit 0 on SIGTERM and have no sanitizer report."""
    started = []

    def start(*args):
        f = Forwarder(args)
        started.append(f)
        return f

    yield start
    failures = []
    for f in started:
        try:
            f.check_clean_exit()
        except AssertionError as e:
            failures.append(str(e))
        finally:
            if f.proc.poll() is None:
                f.proc.kill()
                f.proc.wait(5)
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


# --------------------------------------------------------------------------
# Smoke runs against the broker
# --------------------------------------------------------------------------

@pytest.mark.parametrize("qos", [0, 1, 2])
def test_pubsub(broker, qos):
    run = run_bench("pubsub", broker.port, "-q", qos, "-n", 3000)
    assert_clean(run, sent=3000, expected=3000)


@pytest.mark.parametrize("version", [4, 5])
def test_pubsub_persistent_subscriber(broker, version):
    # --persistent: the subscriber connects with clean session 0 (MQTT 5:
    # clean start 0 and a Session Expiry Interval), which `make bench`'s
    # persistence scenario relies on; the run is as clean as any other.
    run = run_bench("pubsub", broker.port, "-q", 1, "-n", 3000, "-V", version, "--persistent")
    assert run["persistent"] is True, run.describe()
    assert_clean(run, sent=3000, expected=3000)
    assert run_bench("pubsub", broker.port, "-n", 10)["persistent"] is False


def test_pubsub_many_topics(broker):
    # 4 publishers on 2 topics, 6 subscribers (3 per topic): each message
    # goes to the 3 subscribers of its topic and no other.
    run = run_bench("pubsub", broker.port, "-q", 1, "-n", 2000, "-P", 4, "-S", 6, "-t", 2)
    assert_clean(run, sent=2000, expected=6000)


def test_fanout(broker):
    run = run_bench("fanout", broker.port, "-S", 10, "-n", 2000)
    assert run["publishers"] == 1 and run["subscribers"] == 10, run.describe()
    assert_clean(run, sent=2000, expected=20000)


def test_fanin(broker):
    run = run_bench("fanin", broker.port, "-P", 10, "-n", 3000, "-q", 1)
    assert run["publishers"] == 10 and run["subscribers"] == 1, run.describe()
    assert_clean(run, sent=3000, expected=3000)


def test_retained(broker):
    run = run_bench("retained", broker.port, "--retained", 50, "-S", 5)
    d = run.describe()
    assert run.rc == 0, d
    assert run["error"] == "", d
    assert run["timed_out"] is False, d
    assert run["sent"] == 50, d
    assert run["expected"] == 250, d
    assert run["delivered"] == 250, d
    assert run["lost"] == 0, d
    assert run["latency_us"]["count"] == 250, d


def test_conns(broker):
    run = run_bench("conns", broker.port, "--connections", 50, "--hold", 0.2)
    d = run.describe()
    assert run.rc == 0, d
    assert run["error"] == "", d
    assert run["timed_out"] is False, d
    assert run["connections"] == 50, d
    assert run["connect_failures"] == 0, d
    assert run["connect_s"] > 0, d


def test_broker_gone_is_an_error(free_port):
    # Nothing listens: the run must fail, say why, and not claim results.
    run = run_bench("pubsub", free_port(), "-n", 100, duration=5)
    d = run.describe()
    assert run.rc == 2, d
    assert run["error"] != "", d
    assert run["delivered"] == 0, d


def test_broker_sampled_with_pid(broker):
    run = run_bench("pubsub", broker.port, "-n", 500, "--pid", broker.proc.pid)
    assert_clean(run, sent=500, expected=500)
    assert run["broker"]["sampled"] is True, run.describe()
    assert run["broker"]["rss_after"] > 0, run.describe()


def test_broker_not_sampled_without_pid(broker):
    run = run_bench("pubsub", broker.port, "-n", 500)
    assert_clean(run, sent=500, expected=500)
    assert run["broker"]["sampled"] is False, run.describe()


def test_conns_all_failed_is_an_error(free_port):
    run = run_bench("conns", free_port(), "--connections", 20, "--hold", 0.1, duration=1)
    d = run.describe()
    assert run["connections"] == 0, d
    assert run["connect_failures"] == 20, d
    assert run.rc == 2, d
    assert run["error"] != "", d


def test_host_not_numeric_is_explained(free_port):
    # Nothing listens on the port, so the run fails whether or not the
    # bench learns to resolve names; the message must make sense.
    run = run_bench("pubsub", free_port(), "-n", 10, "-h", "localhost", duration=1)
    d = run.describe()
    assert run.rc == 2, d
    assert run["error"] != "", d
    assert "%s" not in run["error"], d


# --------------------------------------------------------------------------
# The forwarder, fault-free: a baseline for the faulty runs
# --------------------------------------------------------------------------

def test_forwarder_protocol(forwarder):
    """The little MQTT the forwarder speaks, byte for byte."""
    fw = forwarder()
    sub = mqttraw.RawClient(fw.port)
    pub = mqttraw.RawClient(fw.port)
    try:
        sub.connect("s")
        pub.connect("p")
        # One SUBACK code per filter, all QoS 0 whatever was asked.
        assert sub.subscribe([("a/#", 1), ("b", 2)], pid=0x1234) == [0, 0]
        # A PUBLISH written one byte at a time arrives whole, unchanged.
        q0 = mqttraw.publish("any/topic", b"x" * 300)
        for i in range(len(q0)):
            pub.send(q0[i:i + 1])
        assert sub.recv_packet().raw == q0
        # QoS 1: the forwarder acks with the packet id, forwards verbatim.
        q1 = mqttraw.publish("t", b"one", qos=1, pid=0xBEEF)
        pub.send(q1)
        ack = pub.expect(mqttraw.PUBACK)
        assert ack.raw == bytes([0x40, 2, 0xBE, 0xEF])
        assert sub.recv_packet().raw == q1
        # QoS 2: PUBREC, then PUBCOMP for the PUBREL.
        q2 = mqttraw.publish("t", b"two", qos=2, pid=7)
        pub.send(q2)
        assert pub.expect(mqttraw.PUBREC).pid == 7
        pub.send(mqttraw.pubrel(7))
        assert pub.expect(mqttraw.PUBCOMP).pid == 7
        assert sub.recv_packet().raw == q2
        # Acks from the subscriber are swallowed; PINGREQ is answered.
        sub.send(mqttraw.puback(0xBEEF) + mqttraw.pubrec(7) + mqttraw.pingreq())
        assert sub.expect(mqttraw.PINGRESP).raw == bytes([0xD0, 0])
        # The publisher never subscribed: it receives nothing.
        pub.send(mqttraw.pingreq())
        assert pub.expect(mqttraw.PINGRESP).raw == bytes([0xD0, 0])
        # DISCONNECT closes.
        sub.send(mqttraw.disconnect())
        sub.expect_closed()
    finally:
        sub.close()
        pub.close()


def test_forwarder_first_packet_must_be_connect(forwarder):
    fw = forwarder()
    c = mqttraw.RawClient(fw.port)
    try:
        c.send(mqttraw.pingreq())
        c.expect_closed()
    finally:
        c.close()


def test_forwarder_exits_on_sigint(forwarder):
    fw = forwarder()
    c = mqttraw.RawClient(fw.port)
    try:
        c.connect("idle")
        fw.check_clean_exit(signal.SIGINT)
    finally:
        c.close()


@pytest.mark.parametrize("qos", [0, 1, 2])
def test_forwarder_clean(forwarder, qos):
    fw = forwarder()
    run = run_bench("pubsub", fw.port, "-q", qos, "-n", 2000)
    assert_clean(run, sent=2000, expected=2000)


def test_forwarder_clean_fanout(forwarder):
    fw = forwarder()
    run = run_bench("fanout", fw.port, "-S", 10, "-n", 1000)
    assert_clean(run, sent=1000, expected=10000)


# --------------------------------------------------------------------------
# The forwarder with faults: the bench must count exactly what was done
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def drop10_qos0():
    """One QoS 0 run through a forwarder dropping every 10th PUBLISH, shared
    by the tests that judge it (a lossy QoS 0 run lasts the whole -d)."""
    fw = Forwarder(["--drop", 10])
    try:
        run = run_bench("pubsub", fw.port, "-q", 0, "-n", 1000, duration=LOSSY_DURATION)
        yield run
    finally:
        fw.check_clean_exit()


def test_drop_counted_qos0(drop10_qos0):
    run = drop10_qos0
    d = run.describe()
    # Messages 10, 20, ... 1000 never arrive: 100 lost, the last one too.
    assert run["sent"] == 1000, d
    assert run["delivered"] == 900, d
    assert run["lost"] == 100, d
    assert run["duplicates"] == 0, d
    assert run["out_of_order"] == 0, d
    # QoS 0 promises nothing: a lossy run is reported, not failed.
    assert run.rc == 0, d
    assert run["error"] == "", d


def test_qos0_loss_ends_when_quiet(drop10_qos0):
    # The last message is among the lost: the run must end a quiet second
    # after the last delivery, not at -d (the QoS 0 window write-off once
    # kept resetting the quiet clock).
    run = drop10_qos0
    assert run["lost"] == 100, run.describe()
    assert run["timed_out"] is False, run.describe()
    assert run["elapsed_s"] < LOSSY_DURATION, run.describe()


def test_dup_counted_qos0(forwarder):
    fw = forwarder("--dup", 10)
    run = run_bench("pubsub", fw.port, "-q", 0, "-n", 1000)
    d = run.describe()
    assert run["sent"] == 1000, d
    assert run["delivered"] == 1100, d
    assert run["duplicates"] == 100, d
    assert run["lost"] == 0, d
    assert run["out_of_order"] == 0, d
    assert run.rc == 0, d
    assert run["error"] == "", d


def test_duplicates_do_not_end_run_early(forwarder):
    # Duplicates must not count towards "everything delivered": if they did,
    # the run would end with distinct messages still in flight and count
    # them lost (fanout makes the 10 % surplus arrive well before the end).
    fw = forwarder("--dup", 10)
    run = run_bench("fanout", fw.port, "-S", 10, "-n", 20000)
    d = run.describe()
    assert run["duplicates"] == 10 * 2000, d
    assert run["lost"] == 0, d
    assert run["delivered"] == 10 * 22000, d


def test_reorder_counted_qos0(forwarder):
    fw = forwarder("--reorder", 10)
    run = run_bench("pubsub", fw.port, "-q", 0, "-n", 1000)
    d = run.describe()
    # Each swap puts one message after its successor: one out of order per
    # swap. The 1000th has no successor and goes out late but in order;
    # swaps are at most 100.
    assert 0 < run["out_of_order"] <= 100, d
    assert run["delivered"] == 1000, d
    assert run["lost"] == 0, d
    assert run["duplicates"] == 0, d
    assert run.rc == 0, d
    assert run["error"] == "", d


def test_drop_fails_qos1(forwarder):
    # The forwarder acks every QoS 1 publish itself, then drops every 10th
    # copy: the publisher is satisfied, the subscriber is short of 100.
    fw = forwarder("--drop", 10)
    run = run_bench("pubsub", fw.port, "-q", 1, "-n", 1000, duration=LOSSY_DURATION)
    d = run.describe()
    assert run.rc == 5, d
    assert run["lost"] == 100, d
    assert run["delivered"] == 900, d
    assert run["acks_missing"] == 0, d
    assert run["duplicates"] == 0, d
    assert run["out_of_order"] == 0, d
    assert run["error"] == "", d


def test_drop_fails_qos2_fanout(forwarder):
    fw = forwarder("--drop", 10)
    run = run_bench("fanout", fw.port, "-S", 5, "-q", 2, "-n", 500,
                    duration=LOSSY_DURATION)
    d = run.describe()
    assert run.rc == 5, d
    assert run["lost"] == 5 * 50, d
    assert run["delivered"] == 5 * 450, d
    assert run["acks_missing"] == 0, d


@pytest.mark.parametrize("fault,qos", [("--dup", 2), ("--reorder", 1), ("--reorder", 2)])
def test_damage_fails_qos12(forwarder, fault, qos):
    fw = forwarder(fault, 10)
    run = run_bench("pubsub", fw.port, "-q", qos, "-n", 1000)
    d = run.describe()
    assert run.rc == 5, d
    assert run["lost"] == 0, d
    if fault == "--dup":
        assert run["duplicates"] == 100, d
    else:
        assert run["out_of_order"] > 0, d
    assert run["error"] == "", d


@pytest.mark.parametrize("args", [
    ["nosuch"],                          # unknown scenario
    ["pubsub", "-q", "3"],               # out of range
    ["pubsub", "-n"],                    # a value missing
    ["pubsub", "--frobnicate", "1"],     # unknown option
    ["pubsub", "-h", "x" * 300],         # host name too long
])
def test_usage_errors_exit_1_with_one_line(args):
    p = subprocess.run([AGORA_BIN, "bench"] + args, capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, (args, p.returncode, p.stderr)
    assert p.stdout == "", p.stdout
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_no_scenario_prints_usage_on_stderr_exit_1():
    p = subprocess.run([AGORA_BIN, "bench"], capture_output=True, text=True, timeout=30)
    assert p.returncode == 1, p.stderr
    assert p.stdout == ""
    assert p.stderr.startswith("usage: agora bench"), p.stderr


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_exits_0_on_stdout(flag):
    p = subprocess.run([AGORA_BIN, "bench", flag], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("usage: agora bench"), p.stdout
    assert p.stderr == ""


# --------------------------------------------------------------------------
# Over WebSocket (Agora's GET /mqtt on its HTTP listener)
# --------------------------------------------------------------------------

@pytest.mark.parametrize("qos", [0, 1])
def test_pubsub_over_websocket(broker, qos):
    require_agora("MQTT over WebSocket at /mqtt on the HTTP listener")
    run = run_bench("pubsub", broker.http_port, "-q", qos, "-n", 3000, "-P", 2, "-S", 2,
                    "--ws")
    assert_clean(run, sent=3000, expected=6000)


def test_websocket_wrong_path_is_explained(broker):
    require_agora("MQTT over WebSocket at /mqtt on the HTTP listener")
    run = run_bench("pubsub", broker.http_port, "-n", 10, "--ws", "/nowhere")
    assert run.rc != 0, run.describe()
    assert "WebSocket" in run["error"], run.describe()


# --------------------------------------------------------------------------
# Over TLS (a tls=yes listener, certificates from `agora tls init`)
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """(ours, other): the broker's CA and one it does not use."""
    require_agora("TLS listeners and agora tls init")
    return two_cas(tmp_path_factory, "bench-tls")


@pytest.fixture
def tls_broker(broker_factory, certs):
    """A broker with a TLS listener beside its plain one; (broker, TLS port)."""
    ours, _ = certs
    port = pick_port()
    b = broker_factory("listener 127.0.0.1:%d tls=yes certfile=%s keyfile=%s"
                       % (port, ours / "server.crt", ours / "server.key"))
    b.wait_log(r"listening on 127\.0\.0\.1:%d \(TLS\)" % port, 10.0)
    return b, port


@pytest.mark.parametrize("qos", [0, 1])
def test_pubsub_over_tls(tls_broker, certs, qos):
    _, port = tls_broker
    run = run_bench("pubsub", port, "-q", qos, "-n", 3000, "-P", 2, "-S", 2,
                    "--cafile", certs[0] / "ca.crt")
    assert_clean(run, sent=3000, expected=6000)


def test_fanout_over_tls(tls_broker, certs):
    _, port = tls_broker
    run = run_bench("fanout", port, "-S", 10, "-n", 1000, "--cafile", certs[0] / "ca.crt")
    assert_clean(run, sent=1000, expected=10000)


def test_conns_over_tls(tls_broker, certs):
    _, port = tls_broker
    run = run_bench("conns", port, "--connections", 30, "--hold", 0.2,
                    "--cafile", certs[0] / "ca.crt")
    d = run.describe()
    assert run.rc == 0 and run["error"] == "", d
    assert run["connections"] == 30 and run["connect_failures"] == 0, d


def test_insecure_skips_the_check(tls_broker, certs):
    # --insecure: another CA's file does not matter, nothing is verified
    _, port = tls_broker
    run = run_bench("pubsub", port, "-n", 200, "--insecure")
    assert_clean(run, sent=200, expected=200)


def test_untrusted_ca_fails_with_the_reason(tls_broker, certs):
    # The server's certificate is not signed by the CA the bench trusts:
    # no connection, status 2 (network), and OpenSSL's reason said.
    b, port = tls_broker
    run = run_bench("pubsub", port, "-n", 100, "--cafile", certs[1] / "ca.crt", duration=5)
    d = run.describe()
    assert run.rc == 2, d
    assert "certificate verify failed" in run["error"], d
    assert run["delivered"] == 0 and run["sent"] == 0, d


def test_plain_bench_on_the_tls_port_fails(tls_broker):
    _, port = tls_broker
    run = run_bench("pubsub", port, "-n", 100, duration=3)
    assert run.rc == 2 and run["error"] != "", run.describe()


@pytest.mark.parametrize("args, why", [
    (["--cert", "c.crt"], "--cert and --key go together"),
    (["--cafile", "a", "--cafile", "b"], "--cafile given twice"),
    (["--cafile"], "--cafile needs a value"),
    (["--cafile", "/nonexistent/ca.crt"], "/nonexistent/ca.crt"),
    (["--insecure", "--ws"], "--ws cannot go with TLS"),
])
def test_tls_usage_errors(args, why):
    p = subprocess.run([AGORA_BIN, "bench", "pubsub"] + args, capture_output=True, text=True,
                       timeout=30, env=sanitizer_env())
    assert p.returncode == 1, (args, p.returncode, p.stderr)
    assert p.stdout == "", p.stdout
    assert len(p.stderr.strip().splitlines()) == 1 and why in p.stderr, p.stderr
