#!/usr/bin/python3
"""compare.py - `make bench`: Agora against Mosquitto, with a trivial forwarder as the ceiling.

For every scenario and every repetition, each broker (Agora, Mosquitto, and
the trivial forwarder bench/forwarder.c when it is built) is started fresh on
a free loopback port, pinned to one core (taskset -c 0) while the load
generator `agora bench ... --json --pid BROKER_PID` runs on the other
(taskset -c 1). The order of the brokers rotates from one repetition to the
next. The script prints medians with the min-max spread, the ratio
Agora/Mosquitto and Agora as a percentage of the forwarder, then (unless
--no-profile) measures per delivered message, for each broker, on a fixed
workload minus an idle start/stop baseline:

  syscalls       strace -f -c on the broker
  instructions   valgrind --tool=callgrind on the broker
  allocations    LD_PRELOAD=build/release/malloccount.so (bench/malloccount.c)

and writes docs/PERFORMANCE.md (machine, versions, commands, tables,
targets met / not met).

Debian python3, standard library only. Needs build/release/agora (make build),
/usr/sbin/mosquitto; strace, valgrind and cc for the profile; taskset for
pinning (without it the runs are unpinned, and the report says so).

The WebSocket scenarios (ws_qos0_1to1, ws_fanout_1to100) run each broker
twice per repetition, its clients over TCP and over WebSocket (`agora bench
--ws`: Agora's `GET /mqtt` on its HTTP listener, Mosquitto's `protocol
websockets` listener), and report WebSocket as a share of TCP.

The TLS scenarios (issue 15; bench/tls_bench.py) give each broker one TLS
listener with the same certificate, made once per run by `agora tls init`
(a local CA and an ECDSA P-256 server certificate for 127.0.0.1):

  tls_qos0_1to1      QoS 0, 1 -> 1, every client over TLS (`agora bench --cafile`)
  tls_fanout_1to100  QoS 0, 1 -> 100 over TLS
  tls_handshakes     new TLS 1.3 connections per second from 4 parallel
                     `openssl s_time -new` (OpenSSL's own client, not ours), and
                     the broker's CPU per handshake
  tls_conns_idle     memory per idle TLS connection (conns_idle over TLS), and
                     connections (TCP + TLS 1.3 + CONNECT/CONNACK) opened per second

and the report's "TLS" section puts them beside Mosquitto and beside the same
loads over plain TCP, with what this machine offers for kernel TLS (kTLS).
They run by default (about 2 minutes); `--only tls` runs them with their
plain-TCP twins and replaces only the report's "TLS" section.

The HTTP scenario (scenario name `http`: wrk on the REST API beside nginx
serving the same bytes) is bench/http_bench.py; its section goes at the end
of the report. The `slow` scenario (bench/slow_subscribers.py) measures what
the outgoing QoS 1/2 window costs when subscribers stop reading. The `rules`
scenario (bench/rules_cost.py, issue 16) measures what rules cost Agora:
QoS 0 1->1 with 100 rules on unrelated topics against none, and a rule on
every message (evaluations per second).

The `persistence` scenario (bench/persistence.py) measures the broker's durable
state (issue 14): QoS 1 to a persistent subscriber with `persistence off`,
`normal` and `full`; acknowledged messages lost to `kill -9` under load; the
restart with a million retained messages and 100,000 sessions. It runs by
default; `--only persistence` runs it alone and replaces only the report's
"Persistence" section (the rest of the file is left as it is).

usage: bench/compare.py [--repeat N] [--scenarios a,b|all] [--quick] [--no-profile]
                        [--brokers agora,mosquitto,forwarder] [--out FILE] [--note TEXT]
                        [--only persistence|tls]
"""

import argparse
import datetime
import json
import os
import platform
import re
import resource
import shutil
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

import http_bench   # HTTP scenario (bench/http_bench.py): the `http` scenario name
import benchlib
import persistence  # the `persistence` scenario (bench/persistence.py)
import slow_subscribers   # the `slow` scenario (bench/slow_subscribers.py)
import rules_cost         # the `rules` scenario (bench/rules_cost.py)
import tls_bench          # the TLS scenarios: certificates, handshakes, kTLS (bench/tls_bench.py)

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
AGORA = os.environ.get("AGORA_BIN", os.path.join(REPO, "build", "release", "agora"))
FORWARDER = os.environ.get("FORWARDER_BIN", os.path.join(REPO, "build", "release", "forwarder"))
MOSQUITTO = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")
MALLOCCOUNT_SRC = os.path.join(REPO, "bench", "malloccount.c")
MALLOCCOUNT_SO = os.path.join(REPO, "build", "release", "malloccount.so")
RESULTS_JSON = os.path.join(REPO, "build", "bench", "results.json")
PERSISTENCE_JSON = os.path.join(REPO, "build", "bench", "persistence.json")   # --only persistence
TLS_JSON = os.path.join(REPO, "build", "bench", "tls.json")   # --only tls
DEFAULT_OUT = os.path.join(REPO, "docs", "PERFORMANCE.md")
QUICK_OUT = os.path.join(REPO, "build", "bench", "PERFORMANCE-quick.md")

BROKERS = ("agora", "mosquitto", "forwarder")
TITLES = {"agora": "Agora", "mosquitto": "Mosquitto", "forwarder": "forwarder",
          "agora_ws": "Agora WS", "mosquitto_ws": "Mosquitto WS"}
WS_BROKERS = ("agora", "mosquitto")   # the forwarder speaks no WebSocket
WS_TARGET = 0.8                       # the issue: WebSocket within 20% of TCP

START_TIMEOUT = 15.0          # s until a broker accepts TCP connections
START_TIMEOUT_VALGRIND = 120.0
STOP_TIMEOUT = 10.0           # s for a broker to exit after SIGTERM
STOP_TIMEOUT_VALGRIND = 120.0
BENCH_SLACK = 60.0            # s a bench run may take beyond its -d and --hold
TOOL_TIMEOUT = 60.0           # version queries, cc, callgrind_annotate

# Per delivered message, at most this many allocations counts as "no malloc
# per delivery" (buffers that grow now and then are fine; one per message is not).
NO_MALLOC_THRESHOLD = 0.01

APT_PACKAGES = {"mosquitto": "mosquitto", "openssl": "openssl", "taskset": "util-linux",
                "strace": "strace", "valgrind": "valgrind", "cc": "gcc"}


class Scenario:
    def __init__(self, name, title, kind, args, quick_args, optional=False, reference=None,
                 skip=(), ws=False, tls=False):
        self.name = name
        self.ws = ws                  # run each broker over TCP and over WebSocket
        self.tls = tls                # each broker with a TLS listener only, clients over TLS
        self.skip = skip              # brokers this scenario does not apply to
        self.title = title
        self.kind = kind              # throughput | latency | conns | handshakes
        self.full_args = args
        self.quick_args = quick_args
        self.optional = optional
        self.reference = reference or {}   # metric -> the Mosquitto 2.0.11 figure

    def args(self, quick):
        return list(self.quick_args if quick else self.full_args)

    def shown(self, quick):
        """The load generator's command line, for the report."""
        args = self.args(quick)
        if self.kind == "handshakes":
            return "%d × openssl s_time -new -tls1_3 -CAfile CA -time %s" % (
                tls_bench.HANDSHAKE_CLIENTS, args[args.index("-d") + 1])
        extra = ["[--ws]"] if self.ws else ["--cafile CA"] if self.tls else []
        return " ".join(args + extra)


SCENARIOS = [
    Scenario("qos0_1to1", "QoS 0, 1 publisher -> 1 subscriber", "throughput",
             ["pubsub", "-q", "0", "-n", "2000000", "-d", "20"],
             ["pubsub", "-q", "0", "-n", "100000", "-d", "5"],
             reference={"delivered_per_s": 59000}),
    # The same as qos0_1to1 with MQTT 5 clients: what MQTT 5 costs. The
    # forwarder answers CONNECT in the 3.1.1 format only.
    Scenario("qos0_1to1_v5", "QoS 0, 1 -> 1, MQTT 5 clients", "throughput",
             ["pubsub", "-V", "5", "-q", "0", "-n", "2000000", "-d", "20"],
             ["pubsub", "-V", "5", "-q", "0", "-n", "100000", "-d", "5"],
             skip=("forwarder",)),
    Scenario("qos1_1to1", "QoS 1, 1 publisher -> 1 subscriber", "throughput",
             ["pubsub", "-q", "1", "-n", "1000000", "-d", "20"],
             ["pubsub", "-q", "1", "-n", "50000", "-d", "5"],
             reference={"delivered_per_s": 22000}),
    Scenario("qos2_1to1", "QoS 2, 1 publisher -> 1 subscriber", "throughput",
             ["pubsub", "-q", "2", "-n", "500000", "-d", "20"],
             ["pubsub", "-q", "2", "-n", "20000", "-d", "5"], optional=True),
    Scenario("fanout_1to100", "QoS 0, 1 publisher -> 100 subscribers", "throughput",
             ["fanout", "-S", "100", "-n", "50000", "-d", "20"],
             ["fanout", "-S", "100", "-n", "2000", "-d", "5"],
             reference={"delivered_per_s": 105000}),
    Scenario("fanin_100to1", "QoS 0, 100 publishers -> 1 subscriber", "throughput",
             ["fanin", "-P", "100", "-n", "1000000", "-d", "20"],
             ["fanin", "-P", "100", "-n", "100000", "-d", "5"],
             reference={"delivered_per_s": 79000}),
    Scenario("latency_10k", "QoS 0, 1 -> 1 at a fixed 10,000 msg/s", "latency",
             ["pubsub", "-q", "0", "--rate", "10000", "-n", "0", "-d", "5"],
             ["pubsub", "-q", "0", "--rate", "10000", "-n", "0", "-d", "2"]),
    # The same loads over WebSocket, each beside its own TCP run.
    Scenario("ws_qos0_1to1", "QoS 0, 1 -> 1, WebSocket vs TCP", "throughput",
             ["pubsub", "-q", "0", "-n", "2000000", "-d", "20"],
             ["pubsub", "-q", "0", "-n", "100000", "-d", "5"], skip=("forwarder",), ws=True),
    Scenario("ws_fanout_1to100", "QoS 0, 1 -> 100, WebSocket vs TCP", "throughput",
             ["fanout", "-S", "100", "-n", "50000", "-d", "20"],
             ["fanout", "-S", "100", "-n", "2000", "-d", "5"], skip=("forwarder",), ws=True),
    Scenario("conns_idle", "10,000 idle connections", "conns",
             ["conns", "--connections", "10000", "--hold", "1", "-d", "30"],
             ["conns", "--connections", "2000", "--hold", "0.5", "-d", "30"],
             reference={"bytes_per_conn": 735}),
    # TLS (issue 15): each broker with one TLS listener, the same certificate.
    # Short: make bench is long already; Mosquitto's runs end at -d.
    Scenario("tls_qos0_1to1", "QoS 0, 1 -> 1 over TLS", "throughput",
             ["pubsub", "-q", "0", "-n", "2000000", "-d", "4"],
             ["pubsub", "-q", "0", "-n", "50000", "-d", "3"], skip=("forwarder",), tls=True),
    Scenario("tls_fanout_1to100", "QoS 0, 1 -> 100 over TLS", "throughput",
             ["fanout", "-S", "100", "-n", "20000", "-d", "4"],
             ["fanout", "-S", "100", "-n", "1000", "-d", "3"], skip=("forwarder",), tls=True),
    Scenario("tls_handshakes", "new TLS 1.3 connections (openssl s_time)", "handshakes",
             ["handshakes", "-d", "3"], ["handshakes", "-d", "1"], skip=("forwarder",),
             tls=True),
    Scenario("tls_conns_idle", "1,000 idle TLS connections", "conns",
             ["conns", "--connections", "1000", "--hold", "1", "-d", "30"],
             ["conns", "--connections", "300", "--hold", "0.5", "-d", "30"],
             skip=("forwarder",), tls=True),
]
SCENARIO_BY_NAME = {s.name: s for s in SCENARIOS}

# metric key -> (label, unit, better)
METRICS = {
    "delivered_per_s": ("deliveries/s", "msg/s", "higher"),
    "p50_us": ("p50 latency", "us", "lower"),
    "p99_us": ("p99 latency", "us", "lower"),
    "bytes_per_conn": ("broker memory per idle connection", "bytes", "lower"),
    "connect_rate": ("connections opened per second", "conn/s", "higher"),
    "broker_us_per_conn": ("broker CPU per connection opened", "us", "lower"),
    "handshakes_per_s": ("TLS 1.3 handshakes per second", "hs/s", "higher"),
    "broker_us_per_handshake": ("broker CPU per handshake", "us", "lower"),
}
KIND_METRICS = {
    "throughput": ["delivered_per_s"],
    "latency": ["p50_us", "p99_us"],
    "conns": ["bytes_per_conn", "connect_rate", "broker_us_per_conn"],
    "handshakes": ["handshakes_per_s", "broker_us_per_handshake"],
}

# Fixed workloads for the profile: small enough for callgrind (~50x slower).
# Each also runs with half the messages, so that the costs that do not grow
# with the messages (connecting, subscribing, output buffers growing to the
# window) can be told from the cost of a delivery.
PROFILE_WORKLOADS = [
    ("qos0_1to1", "QoS 0, 1 -> 1",
     ["pubsub", "-q", "0", "-n", "50000", "-d", "600"],
     ["pubsub", "-q", "0", "-n", "5000", "-d", "300"]),
    ("fanout_1to100", "QoS 0, 1 -> 100",
     ["fanout", "-S", "100", "-n", "1000", "-d", "600"],
     ["fanout", "-S", "100", "-n", "100", "-d", "300"]),
]
# per delivery, two ways:
#   idle      (workload - idle run) / deliveries, the idle run being the broker
#             started and stopped with no client (the method)
#   marginal  (workload - half run) / (deliveries - its deliveries), the half
#             run being the same workload with half the messages
METHODS = ("idle", "marginal")
PROFILERS = ("strace", "callgrind", "malloc")
PROFILER_TITLES = {"strace": "syscalls", "callgrind": "instructions", "malloc": "allocations"}


class BenchError(Exception):
    pass


def log(msg=""):
    print(msg, flush=True)


def warn(msg):
    print("compare.py: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- helpers

raise_nofile = benchlib.raise_nofile


free_port = benchlib.free_port
tail = benchlib.tail


def first_line(cmd, stream="stdout"):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except (OSError, subprocess.SubprocessError) as e:
        return "unavailable (%s)" % e
    out = (p.stdout if stream == "stdout" else p.stderr) or p.stdout or p.stderr
    out = out.strip().splitlines()
    return out[0].strip() if out else "unknown"


def children_of(pid):
    """PIDs whose parent is pid (from /proc/*/stat)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[-1].split()
        if len(fields) > 1 and fields[1] == str(pid):
            found.append(int(d))
    return found


def fmt_num(v, unit=None):
    if v is None:
        return "-"
    if isinstance(v, str):
        return v
    if unit == "us":
        return "%.1f" % v if v < 1000 else "{:,.0f}".format(v)
    if abs(v) >= 100:
        return "{:,.0f}".format(v)
    if abs(v) >= 10:
        return "%.1f" % v
    if abs(v) >= 0.1:
        return "%.2f" % v
    if v == 0:
        return "0"
    return "%.2g" % v


def median_spread(values):
    if not values:
        return None
    return statistics.median(values), min(values), max(values)


def fmt_stat(stat, unit, dash="-"):
    if stat is None:
        return "failed"
    med, lo, hi = stat
    if lo == hi:
        return fmt_num(med, unit)
    return "%s (%s%s%s)" % (fmt_num(med, unit), fmt_num(lo, unit), dash, fmt_num(hi, unit))


def ratio(agora, other, better):
    """Agora / other, and Agora's share of the ceiling in percent (100 = as good)."""
    if agora is None or other is None or other == 0 or agora == 0:
        return None, None
    r = agora / other
    pct = r * 100 if better == "higher" else other / agora * 100
    return r, pct


# ---------------------------------------------------------------- brokers

class Broker:
    """One broker process, started fresh, optionally pinned and profiled."""

    live = set()
    runs = 0

    def __init__(self, kind, workdir, pin, profiler=None, profile_out=None, extra=(),
                 ws=False, tls_dir=None):
        Broker.runs += 1
        self.seq = Broker.runs       # each run its own data directory: nothing carries over
        self.kind = kind
        self.ws = ws                 # also a WebSocket listener, on ws_port
        self.ws_port = None
        self.tls_dir = tls_dir       # its one listener is TLS, with the certificate there
        self.extra = list(extra)     # more `agora serve` settings
        self.workdir = workdir
        self.pin = pin
        self.profiler = profiler
        self.profile_out = profile_out
        self.port = None
        self.proc = None
        self.pid = None              # the broker itself (strace's child under strace)
        self.log_path = None
        self.exit_status = None

    def command(self, port):
        if self.kind == "agora":
            # MQTT only here (the HTTP scenario is http_bench.py): no HTTP
            # listener to collide with a busy port 8080, but for WebSocket
            http = "127.0.0.1:%d" % self.ws_port if self.ws else "off"
            listener = (tls_bench.agora_listener(port, self.tls_dir) if self.tls_dir
                        else "127.0.0.1:%d" % port)
            return [AGORA, "serve", "-l", listener,
                    "--data-dir", os.path.join(self.workdir, "agora-data-%d" % self.seq),
                    "--http-listener", http,
                    "--log-level", "warn", "--max-connections", "100000"] + self.extra
        if self.kind == "mosquitto":
            conf = os.path.join(self.workdir, "mosquitto.conf")
            with open(conf, "w") as f:
                f.write(mosquitto_conf(port, self.ws_port if self.ws else None, self.tls_dir))
            return [MOSQUITTO, "-c", conf]
        if self.kind == "forwarder":
            return [FORWARDER, "-p", str(port)]
        raise ValueError(self.kind)

    def start(self):
        self.port = free_port()
        if self.ws:
            self.ws_port = free_port()
            while self.ws_port == self.port:
                self.ws_port = free_port()
        cmd = self.command(self.port)
        env = dict(os.environ)
        wrap = []
        if self.profiler == "strace":
            wrap = ["strace", "-f", "-c", "-o", self.profile_out]
        elif self.profiler == "callgrind":
            wrap = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + self.profile_out]
        elif self.profiler == "malloc":
            env["LD_PRELOAD"] = MALLOCCOUNT_SO
            env["MALLOCCOUNT_OUT"] = self.profile_out
        full = self.pin + wrap + cmd
        self.log_path = os.path.join(self.workdir, "%s-%d.log" % (self.kind, self.port))
        with open(self.log_path, "w") as logf:
            self.proc = subprocess.Popen(full, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, env=env, cwd=self.workdir,
                                         start_new_session=True)
        Broker.live.add(self)
        slow = self.profiler in ("callgrind", "strace")
        deadline = time.monotonic() + (START_TIMEOUT_VALGRIND if slow else START_TIMEOUT)
        self._wait_listening(deadline)
        if self.profiler == "strace":
            while True:
                kids = children_of(self.proc.pid)
                if kids:
                    self.pid = kids[0]
                    break
                if time.monotonic() > deadline:
                    raise BenchError("%s under strace: no child process found" % self.kind)
                time.sleep(0.01)
        else:
            self.pid = self.proc.pid   # taskset and valgrind exec the broker in place
        return self

    def _wait_listening(self, deadline):
        for port in [self.port] + ([self.ws_port] if self.ws else []):
            self._wait_port(port, deadline)

    def _wait_port(self, port, deadline):
        while True:
            status = self.proc.poll()
            if status is not None:
                raise BenchError("%s exited with status %d before listening: %s"
                                 % (self.kind, status, tail(self.log_path)))
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise BenchError("%s did not accept connections on port %d within the deadline: %s"
                                 % (self.kind, port, tail(self.log_path)))
            time.sleep(0.02)

    def stop(self):
        """SIGTERM, wait, SIGKILL if need be. Returns the exit status."""
        if self.proc is None:
            return None
        slow = self.profiler in ("callgrind", "strace")
        timeout = STOP_TIMEOUT_VALGRIND if slow else STOP_TIMEOUT
        try:
            if self.proc.poll() is None:
                target = self.pid or self.proc.pid
                try:
                    os.kill(target, signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout=timeout)
                except subprocess.TimeoutExpired:
                    self.kill()
                    raise BenchError("%s did not exit within %.0f s of SIGTERM (killed)"
                                     % (self.kind, timeout))
            self.exit_status = self.proc.returncode
            return self.exit_status
        finally:
            Broker.live.discard(self)

    def kill(self):
        for pid in {self.pid, self.proc.pid if self.proc else None} - {None}:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if self.proc:
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        Broker.live.discard(self)

    @classmethod
    def kill_all(cls):
        for b in list(cls.live):
            b.kill()


def mosquitto_conf(port, ws_port=None, tls_dir=None):
    listener = (tls_bench.mosquitto_lines(port, tls_dir) if tls_dir
                else ["listener %d 127.0.0.1" % port])
    lines = ["# written by bench/compare.py for one run"] + listener + [
        "allow_anonymous true",
        "persistence false",
        "log_dest stderr",
        "log_type error",
        "log_type warning",
    ]
    if os.geteuid() == 0:
        # Run as root: stay root instead of switching to the mosquitto user
        # (which could not write to the temporary directory).
        lines.append("user root")
    if ws_port:
        # Mosquitto 2.0.11 starts no websockets listener without a TCP one
        # beside it ("Unable to start any listening sockets"): both, then.
        lines += ["listener %d 127.0.0.1" % ws_port, "protocol websockets"]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- the bench

def bench_bounds(args):
    """(duration, hold) given to agora bench, with its defaults."""
    d, hold = 10.0, 0.0
    for i, a in enumerate(args[:-1]):
        if a in ("-d", "--duration"):
            d = float(args[i + 1])
        elif a == "--hold":
            hold = float(args[i + 1])
    if args and args[0] == "conns" and "--hold" not in args:
        hold = 1.0
    return d, hold


def bench_command(args, port, pid, pin):
    cmd = pin + [AGORA, "bench"] + list(args) + ["-p", str(port), "--json"]
    if pid:
        cmd += ["--pid", str(pid)]
    return cmd


def run_bench(args, port, pid, pin):
    """Runs agora bench; returns (json dict or None, exit status, problem text or '')."""
    d, hold = bench_bounds(args)
    cmd = bench_command(args, port, pid, pin)
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=d + hold + BENCH_SLACK)
    except subprocess.TimeoutExpired:
        return None, None, "agora bench did not finish within %.0f s (killed)" % (d + hold + BENCH_SLACK)
    doc = None
    for line in reversed(p.stdout.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                return None, p.returncode, "unparsable JSON from agora bench: %s" % line[:200]
            break
    if doc is None:
        return None, p.returncode, "no JSON from agora bench (exit %d): %s" % (
            p.returncode, (p.stderr or p.stdout).strip()[-300:])
    return doc, p.returncode, ""


def judge(doc, rc, problem, kind, want_connections=None):
    """Returns (ok, reason, notes). A failed run is reported, never averaged."""
    notes = []
    if doc is None:
        return False, problem, notes
    if kind == "handshakes":
        return True, "", notes
    if doc.get("error"):
        return False, "agora bench: " + doc["error"], notes
    if rc not in (0, 5):  # 5: messages lost, duplicated or reordered, told below
        return False, "agora bench exited with status %s" % rc, notes
    if kind == "conns":
        if want_connections and doc.get("connections", 0) < want_connections:
            return False, "%d of %d connections held (%d failed%s)" % (
                doc.get("connections", 0), want_connections, doc.get("connect_failures", 0),
                ", cut by -d" if doc.get("timed_out") else ""), notes
        if not doc.get("connect_s"):
            return False, "no connect time reported", notes
        return True, "", notes
    sent = doc.get("sent", 0)
    if doc.get("delivered", 0) == 0:
        return False, "nothing delivered (%d sent)" % sent, notes
    # agora bench stops publishing at its time bound and waits for what is in
    # flight, so any loss is the broker's: a failed run, whatever the QoS.
    bad = [(doc.get(k, 0), what) for k, what in (
        ("lost", "lost"), ("duplicates", "duplicated"), ("out_of_order", "out of order"),
        ("acks_missing", "publishes never acknowledged"))]
    bad = ["%d %s" % (n, what) for n, what in bad if n]
    if bad:
        return False, "%s (of %d sent%s)" % (", ".join(bad), sent,
                                            ", cut by -d" if doc.get("timed_out") else ""), notes
    if rc != 0:
        return False, "agora bench exited with status %s" % rc, notes
    if doc.get("timed_out"):
        notes.append("cut by -d after %d messages" % sent)
    return True, "", notes


def metrics_of(doc, kind):
    if kind == "handshakes":
        m = {"handshakes_per_s": doc["handshakes_per_s"]}
        if "broker_cpu_s" in doc:
            m["broker_us_per_handshake"] = doc["broker_cpu_s"] / doc["handshakes"] * 1e6
            m["broker_cpu_pct"] = doc["broker_cpu_pct"]
        return m
    b = doc.get("broker", {})
    m = {}
    if kind == "throughput":
        m["delivered_per_s"] = doc["delivered_per_s"]
    elif kind == "latency":
        m["p50_us"] = doc["latency_us"]["p50"]
        m["p99_us"] = doc["latency_us"]["p99"]
    elif kind == "conns":
        conns = doc.get("connections") or 0
        if conns and b.get("sampled"):
            m["bytes_per_conn"] = (b["rss_after"] - b["rss_before"]) / conns
        if doc.get("connect_s"):
            m["connect_rate"] = conns / doc["connect_s"]
        if conns and b.get("sampled"):
            m["broker_us_per_conn"] = (b.get("user_s", 0.0) + b.get("sys_s", 0.0)) / conns * 1e6
    # What limits the figure: the broker's and the generator's CPU.
    if b.get("sampled"):
        m["broker_cpu_pct"] = b.get("cpu_pct", 0.0)
        cpu_s = b.get("user_s", 0.0) + b.get("sys_s", 0.0)
        m["broker_sys_share"] = b.get("sys_s", 0.0) / cpu_s * 100 if cpu_s else 0.0
        if doc.get("delivered"):
            m["broker_cpu_us_per_msg"] = cpu_s / doc["delivered"] * 1e6
    m["bench_cpu_pct"] = doc.get("bench", {}).get("cpu_pct", 0.0)
    return m


# ---------------------------------------------------------------- runs

class Runner:
    def __init__(self, opts, brokers, pins, workdir, tls_dir=None):
        self.opts = opts
        self.tls_dir = tls_dir  # the TLS scenarios' certificate (agora tls init)
        self.brokers = brokers
        self.broker_pin, self.bench_pin = pins
        self.workdir = workdir
        self.runs = []          # dicts, one per run
        self.profile = {}       # (broker, profiler) -> {"baseline": .., "workloads": {...}}
        self.profile_seq = 0

    def one_run(self, sc, broker, rep):
        """broker: a kind, or kind_ws for its clients over WebSocket."""
        ws = broker.endswith("_ws")
        args = sc.args(self.opts.quick) + (["--ws"] if ws else [])
        if sc.tls:
            args += ["--cafile", tls_bench.cafile(self.tls_dir)]
        run = {"scenario": sc.name, "broker": broker, "rep": rep, "ok": False, "reason": "",
               "notes": [], "json": None, "metrics": {}, "args": args,
               "load": os.getloadavg()[0]}
        b = Broker(broker[:-3] if ws else broker, self.workdir, self.broker_pin, ws=ws,
                   tls_dir=self.tls_dir if sc.tls else None)
        try:
            b.start()
            if sc.kind == "handshakes":
                run["tls"] = tls_bench.negotiated(b.port, self.tls_dir)
                d = bench_bounds(args)[0]
                doc, problem = tls_bench.handshakes(b.port, self.tls_dir, b.pid,
                                                    self.bench_pin, d)
                rc = 0 if doc else None
            else:
                doc, rc, problem = run_bench(args, b.ws_port if ws else b.port, b.pid,
                                             self.bench_pin)
            want = None
            if sc.kind == "conns":
                want = int(args[args.index("--connections") + 1])
            ok, reason, notes = judge(doc, rc, problem, sc.kind, want)
            status = b.stop()
            if status not in (0, None):
                what = "%s exited with status %d after the run: %s" % (
                    broker, status, tail(b.log_path))
                reason = "%s; %s" % (reason, what) if reason else what
                ok = False
            run.update(ok=ok, reason=reason, notes=notes, json=doc, rc=rc)
            if ok:
                run["metrics"] = metrics_of(doc, sc.kind)
        except BenchError as e:
            run["reason"] = str(e)
        finally:
            if b.proc is not None and b.proc.poll() is None:
                b.kill()
        self.runs.append(run)
        self.print_run(sc, run)
        return run

    def print_run(self, sc, run):
        label = "[%s %d/%d]" % (sc.name, run["rep"] + 1, self.opts.repeat)
        who = "%-12s" % TITLES[run["broker"]]
        if not run["ok"]:
            log("  %-22s %s FAILED: %s" % (label, who, run["reason"]))
            return
        m = run["metrics"]
        parts = []
        for key in KIND_METRICS[sc.kind]:
            unit = METRICS[key][1]
            if key in m:
                parts.append("%s %s" % (fmt_num(m[key], unit), unit))
        if "broker_cpu_pct" in m:
            parts.append("broker CPU %.0f%%" % m["broker_cpu_pct"])
        if "bench_cpu_pct" in m:
            parts.append("bench CPU %.0f%%" % m["bench_cpu_pct"])
        doc = run["json"]
        if sc.kind == "handshakes":
            parts.append("%d handshakes in %.2f s" % (doc["handshakes"], doc["elapsed_s"]))
        elif sc.kind != "conns":
            parts.append("%d delivered in %.2f s" % (doc["delivered"], doc["elapsed_s"]))
        text = ", ".join(parts)
        if run["notes"]:
            text += " [" + "; ".join(run["notes"]) + "]"
        log("  %-22s %s %s" % (label, who, text))

    def run_scenarios(self, scenarios):
        for sc in scenarios:
            log("\n== %s: %s  (%s%s)" % (sc.name, sc.title, "" if sc.kind == "handshakes"
                                           else "agora bench ", sc.shown(self.opts.quick)))
            for rep in range(self.opts.repeat):
                k = rep % len(self.brokers)
                order = self.brokers[k:] + self.brokers[:k]   # rotate run by run
                for broker in order:
                    if broker in sc.skip:
                        continue
                    # WebSocket beside TCP, which goes first in turn
                    pair = [broker, broker + "_ws"] if sc.ws else [broker]
                    for variant in (pair if rep % 2 == 0 else pair[::-1]):
                        self.one_run(sc, variant, rep)
            if sc.ws:
                for row in ws_rows(self, sc):
                    log("  -> " + ws_row_text(row))
                continue
            for row in summary_rows(self, sc):
                log("  -> " + row_text(row))

    # ------------------------------------------------------------ profile

    def run_profile(self):
        prof_brokers = [b for b in self.brokers]
        for profiler in PROFILERS:
            for broker in prof_brokers:
                entry = {"baseline": None, "workloads": {}, "error": ""}
                self.profile[(broker, profiler)] = entry
                try:
                    base = self.profile_once(broker, profiler, None)
                    entry["baseline"], entry["baseline_detail"] = base["value"], base["detail"]
                    for name, _title, full, quick in PROFILE_WORKLOADS:
                        args = quick if self.opts.quick else full
                        res = self.profile_once(broker, profiler, args)
                        half = with_count(args, int(args[args.index("-n") + 1]) // 2)
                        res["half"] = self.profile_once(broker, profiler, half)
                        entry["workloads"][name] = res
                except BenchError as e:
                    entry["error"] = str(e)
                self.print_profile(broker, profiler, entry)

    def profile_once(self, broker, profiler, args):
        self.profile_seq += 1
        out = os.path.join(self.workdir, "%s-%s-%s-%d.out" % (
            broker, profiler, args[0] if args else "idle", self.profile_seq))
        b = Broker(broker, self.workdir, self.broker_pin, profiler=profiler, profile_out=out)
        res = {"value": None, "delivered": 0, "detail": {}, "json": None, "ok": True, "reason": ""}
        try:
            b.start()
            if args:
                doc, rc, problem = run_bench(args, b.port, None, self.bench_pin)
                ok, reason, _notes = judge(doc, rc, problem, "throughput")
                res.update(json=doc, ok=ok, reason=reason,
                           delivered=doc.get("delivered", 0) if doc else 0)
            status = b.stop()
            if status not in (0, None):
                warn("%s under %s exited with status %d" % (broker, profiler, status))
        finally:
            if b.proc is not None and b.proc.poll() is None:
                b.kill()
        if args and not res["ok"]:
            raise BenchError("%s workload %s failed: %s" % (profiler, args[0], res["reason"]))
        value, detail = read_profile(profiler, out, b)
        res["value"], res["detail"] = value, detail
        return res

    def print_profile(self, broker, profiler, entry):
        name = "%s %s" % (TITLES[broker], PROFILER_TITLES[profiler])
        if entry["error"]:
            log("  %-28s FAILED: %s" % (name, entry["error"]))
            return
        parts = []
        for wl in entry["workloads"]:
            parts.append("%s %s (idle baseline) %s (marginal)" % (
                wl, fmt_num(per_delivery(entry, wl, "idle")),
                fmt_num(per_delivery(entry, wl, "marginal"))))
        log("  %-24s per delivery: %s" % (name, "; ".join(parts)))


def with_count(args, n):
    args = list(args)
    args[args.index("-n") + 1] = str(n)
    return args


def per_delivery(entry, wl, method):
    """(workload - baseline) / deliveries; see METHODS."""
    if not entry or entry.get("error"):
        return None
    res = entry["workloads"].get(wl)
    if not res or res["value"] is None or not res["delivered"]:
        return None
    if method == "idle":
        if entry["baseline"] is None:
            return None
        return (res["value"] - entry["baseline"]) / res["delivered"]
    half = res.get("half")
    if not half or half["value"] is None or res["delivered"] <= half["delivered"]:
        return None
    return (res["value"] - half["value"]) / (res["delivered"] - half["delivered"])


def read_profile(profiler, path, broker):
    if profiler == "strace":
        return parse_strace(path)
    if profiler == "callgrind":
        return parse_callgrind(path)
    if profiler == "malloc":
        try:
            with open(path) as f:
                lines = f.read().split("\n")
            detail = {}
            for line in lines[1:]:
                kv = line.split()
                if len(kv) == 2:
                    detail[kv[0]] = int(kv[1])
            return int(lines[0]), detail
        except (OSError, ValueError, IndexError):
            raise BenchError("malloccount wrote no count for %s (%s): did it exit cleanly? %s"
                             % (broker.kind, path, tail(broker.log_path)))
    raise ValueError(profiler)


def parse_strace(path):
    total, per = None, {}
    try:
        with open(path) as f:
            for line in f:
                tok = line.split()
                if len(tok) < 5 or tok[0].startswith(("%", "-")):
                    continue
                try:
                    calls = int(tok[3])
                except ValueError:
                    continue
                if tok[-1] == "total":
                    total = calls
                else:
                    per[tok[-1]] = calls
    except OSError as e:
        raise BenchError("strace wrote no summary (%s)" % e)
    if total is None:
        raise BenchError("no total line in the strace summary %s" % path)
    return total, per


def parse_callgrind(path):
    total = None
    try:
        with open(path) as f:
            for line in f:
                if line.startswith(("summary:", "totals:")):
                    total = int(line.split()[1])
                    if line.startswith("totals:"):
                        break
    except OSError as e:
        raise BenchError("callgrind wrote no profile (%s)" % e)
    if total is None:
        raise BenchError("no totals in the callgrind profile %s" % path)
    return total, {"file": path}


def callgrind_top(path, n=8):
    """The n functions with the most instructions (exclusive), from callgrind_annotate."""
    if not shutil.which("callgrind_annotate"):
        return []
    try:
        p = subprocess.run(["callgrind_annotate", "--inclusive=no", path], capture_output=True,
                           text=True, timeout=TOOL_TIMEOUT)
    except (OSError, subprocess.SubprocessError):
        return []
    rows = []
    row_re = re.compile(r"^\s*([\d,]+)\s+\(\s*([\d.]+)%\)\s+(.*)$")
    for line in p.stdout.splitlines():
        mt = row_re.match(line)
        if not mt or "PROGRAM TOTALS" in line:
            continue
        func = mt.group(3).strip()
        obj = ""
        if func.endswith("]") and " [" in func:
            func, obj = func.rsplit(" [", 1)
            obj = os.path.basename(obj[:-1])
        if ":" in func:
            func = func.rsplit(":", 1)[1]
        rows.append((int(mt.group(1).replace(",", "")), mt.group(2), func, obj))
        if len(rows) >= n:
            break
    return rows


# ---------------------------------------------------------------- summaries

def runs_of(runner, scenario, broker):
    return [r for r in runner.runs if r["scenario"] == scenario and r["broker"] == broker]


def stat_of(runner, scenario, broker, key):
    vals = [r["metrics"][key] for r in runs_of(runner, scenario, broker)
            if r["ok"] and key in r["metrics"]]
    return median_spread(vals)


def summary_rows(runner, sc):
    rows = []
    for key in KIND_METRICS[sc.kind]:
        label, unit, better = METRICS[key]
        row = {"scenario": sc.name, "key": key, "label": label, "unit": unit, "better": better,
               "reference": sc.reference.get(key)}
        for b in BROKERS:
            runs = runs_of(runner, sc.name, b)
            row[b] = stat_of(runner, sc.name, b, key) if runs else "n/a"
            row[b + "_runs"] = "%d/%d" % (sum(r["ok"] for r in runs), len(runs)) if runs else "-"
        med = lambda b: row[b][0] if isinstance(row[b], tuple) else None
        row["ratio"], _ = ratio(med("agora"), med("mosquitto"), better)
        _, row["ceiling_pct"] = ratio(med("agora"), med("forwarder"), better)
        rows.append(row)
    return rows


def ws_rows(runner, sc):
    """One row per broker: TCP and WebSocket deliveries/s, and WebSocket / TCP."""
    rows = []
    for b in WS_BROKERS:
        if b in sc.skip or not runs_of(runner, sc.name, b):
            continue
        row = {"scenario": sc.name, "broker": b}
        for v in (b, b + "_ws"):
            runs = runs_of(runner, sc.name, v)
            row[v] = stat_of(runner, sc.name, v, "delivered_per_s") if runs else "n/a"
            row[v + "_runs"] = "%d/%d" % (sum(r["ok"] for r in runs), len(runs)) if runs else "-"
        med = lambda v: row[v][0] if isinstance(row[v], tuple) else None
        tcp, ws = med(b), med(b + "_ws")
        row["ratio"] = ws / tcp if tcp and ws is not None else None
        rows.append(row)
    return rows


def ws_row_text(row):
    b = row["broker"]
    cell = lambda v: fmt_stat(row[v], "msg/s") if row[v] != "n/a" else "n/a"
    text = "%s %s: TCP %s msg/s [%s ok], WebSocket %s msg/s [%s ok]" % (
        row["scenario"], TITLES[b], cell(b), row[b + "_runs"], cell(b + "_ws"),
        row[b + "_ws_runs"])
    if row["ratio"] is not None:
        text += "  WebSocket = %.0f%% of TCP" % (row["ratio"] * 100)
    return text


def row_text(row):
    parts = ["%s %s (%s is better):" % (row["scenario"], row["label"], row["better"])]
    for b in BROKERS:
        if row[b] == "n/a":
            continue
        parts.append("%s %s [%s ok]" % (TITLES[b], fmt_stat(row[b], row["unit"]), row[b + "_runs"]))
    if row["ratio"] is not None:
        parts.append("Agora/Mosquitto %.2fx" % row["ratio"])
    if row["ceiling_pct"] is not None:
        parts.append("Agora = %.0f%% of the forwarder" % row["ceiling_pct"])
    return "  ".join(parts)


def print_table(rows):
    head = ["scenario", "metric", "better", "Agora", "Mosquitto", "Agora/Mosq", "forwarder",
            "% of ceiling", "runs ok A/M/F"]
    body = []
    for r in rows:
        body.append([
            r["scenario"], "%s (%s)" % (r["label"], r["unit"]), r["better"],
            fmt_stat(r["agora"], r["unit"]) if r["agora"] != "n/a" else "n/a",
            fmt_stat(r["mosquitto"], r["unit"]) if r["mosquitto"] != "n/a" else "n/a",
            "%.2fx" % r["ratio"] if r["ratio"] is not None else "-",
            fmt_stat(r["forwarder"], r["unit"]) if r["forwarder"] != "n/a" else "n/a",
            "%.0f%%" % r["ceiling_pct"] if r["ceiling_pct"] is not None else "-",
            " ".join(r[b + "_runs"] for b in BROKERS),
        ])
    widths = [max(len(x[i]) for x in [head] + body) for i in range(len(head))]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()
    log(line(head))
    log(line(["-" * w for w in widths]))
    for b in body:
        log(line(b))


# ---------------------------------------------------------------- environment

def machine_info():
    info = {}
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.lower().startswith("model name"):
                    info["cpu"] = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info.setdefault("cpu", platform.processor() or "unknown")
    info["cores"] = os.cpu_count()
    try:
        info["cores_usable"] = len(os.sched_getaffinity(0))
    except AttributeError:
        info["cores_usable"] = info["cores"]
    info["kernel"] = platform.release()
    try:
        with open("/etc/debian_version") as f:
            info["debian"] = f.read().strip()
    except OSError:
        info["debian"] = "not Debian"
    try:
        with open("/etc/os-release") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    info["os"] = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    info["memory"] = "%.1f GiB" % (int(line.split()[1]) / 1048576)
    except OSError:
        pass
    return info


def versions(have_forwarder):
    v = {
        "agora": first_line([AGORA, "--version"]),
        "mosquitto": first_line([MOSQUITTO, "-h"]),
        "python": "Python " + platform.python_version(),
    }
    try:
        head = subprocess.run(["git", "-C", REPO, "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=TOOL_TIMEOUT).stdout.strip()
        dirty = subprocess.run(["git", "-C", REPO, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=TOOL_TIMEOUT).stdout.strip()
        v["commit"] = (head or "unknown") + (" with uncommitted changes" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        v["commit"] = "unknown"
    v["forwarder"] = "bench/forwarder.c at the same commit" if have_forwarder else "not built"
    for tool, cmd in (("cc", ["cc", "--version"]), ("taskset", ["taskset", "--version"]),
                      ("strace", ["strace", "-V"]), ("valgrind", ["valgrind", "--version"]),
                      ("openssl", ["openssl", "version"])):
        if shutil.which(cmd[0]):
            v[tool] = first_line(cmd)
    return v


def check_tools(opts):
    """Returns (pinning available, notes). Exits with the apt-get line if something is missing."""
    missing, notes = [], []
    if not os.access(AGORA, os.X_OK):
        warn("%s is missing: run `make build` first" % AGORA)
        sys.exit(2)
    if "mosquitto" in opts.brokers and not os.access(MOSQUITTO, os.X_OK):
        missing.append("mosquitto")
    if any(sc.kind == "handshakes" for sc in opts.scenario_list) and not shutil.which("openssl"):
        missing.append("openssl")
    if not opts.no_profile:
        for tool in ("strace", "valgrind", "cc"):
            if not shutil.which(tool):
                missing.append(tool)
    if missing:
        pkgs = sorted({APT_PACKAGES[t] for t in missing})
        warn("missing: %s" % ", ".join(missing))
        warn("install with:  apt-get install -y %s" % " ".join(pkgs))
        if any(t in ("strace", "valgrind", "cc") for t in missing):
            warn("(or skip the profile with --no-profile)")
        sys.exit(2)
    pinned = bool(shutil.which("taskset"))
    if not pinned:
        notes.append("taskset is missing (apt-get install -y util-linux): the runs are NOT pinned")
        warn(notes[-1])
    return pinned, notes


def choose_pins(pinned):
    if not pinned:
        return ([], []), None
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cpus = list(range(os.cpu_count() or 1))
    if len(cpus) < 2:
        warn("only %d usable core: the runs are NOT pinned" % len(cpus))
        return ([], []), None
    a, b = (0, 1) if 0 in cpus and 1 in cpus else (cpus[0], cpus[1])
    return (["taskset", "-c", str(a)], ["taskset", "-c", str(b)]), (a, b)


def build_malloccount():
    if (os.path.exists(MALLOCCOUNT_SO)
            and os.path.getmtime(MALLOCCOUNT_SO) >= os.path.getmtime(MALLOCCOUNT_SRC)):
        return
    os.makedirs(os.path.dirname(MALLOCCOUNT_SO), exist_ok=True)
    cmd = ["cc", "-shared", "-fPIC", "-O2", "-o", MALLOCCOUNT_SO, MALLOCCOUNT_SRC, "-ldl"]
    log("building the allocation counter: " + " ".join(os.path.relpath(c, REPO) if c.startswith(REPO) else c
                                                       for c in cmd))
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    if p.returncode != 0:
        raise BenchError("cannot build %s: %s" % (MALLOCCOUNT_SO, p.stderr.strip()))


# ---------------------------------------------------------------- the report

def rel(path):
    return os.path.relpath(path, REPO) if path.startswith(REPO + os.sep) else path


def md_symbols(text):
    text = text.replace("->", "→").replace(">=", "≥").replace("<=", "≤")
    return re.sub(r"(\d)x\b", "\\1×", text)


def md_escape(text):
    return str(text).replace("|", "\\|")


def targets(runner, rows_by_key):
    """[(target, measured text, met: True/False/None)]"""
    out = []

    def med(scenario, key, broker):
        row = rows_by_key.get((scenario, key))
        if row is None or not isinstance(row.get(broker), tuple):
            return None
        return row[broker][0]

    for scenario, factor, title in (("qos0_1to1", 5, "QoS 0 1->1 throughput >= 5x Mosquitto"),
                                    ("qos1_1to1", 5, "QoS 1 1->1 throughput >= 5x Mosquitto"),
                                    ("fanout_1to100", 3, "fan-out 1->100 deliveries >= 3x Mosquitto"),
                                    ("fanin_100to1", 3, "fan-in 100->1 throughput >= 3x Mosquitto"),
                                    ("tls_qos0_1to1", 3, "QoS 0 1->1 over TLS >= 3x Mosquitto"),
                                    ("tls_fanout_1to100", 3,
                                     "fan-out 1->100 over TLS >= 3x Mosquitto")):
        a, m = med(scenario, "delivered_per_s", "agora"), med(scenario, "delivered_per_s", "mosquitto")
        if a is None or m is None:
            out.append((title, "not measured", None))
        else:
            out.append((title, "%.2fx (%s vs %s deliveries/s)" % (a / m, fmt_num(a), fmt_num(m)),
                        a >= factor * m))
    a, f = med("qos1_1to1", "delivered_per_s", "agora"), med("qos1_1to1", "delivered_per_s", "forwarder")
    title = "QoS 1 1->1 with default settings >= 80% of the forwarder (no loss, duplicate or reordering)"
    if a is None or f is None:
        out.append((title, "not measured", None))
    else:
        out.append((title, "%.0f%% (%s vs %s deliveries/s; every counted run clean)"
                    % (a / f * 100, fmt_num(a), fmt_num(f)), a >= 0.8 * f))
    a, m = med("latency_10k", "p50_us", "agora"), med("latency_10k", "p50_us", "mosquitto")
    title = "p50 latency at 10k msg/s no worse than Mosquitto"
    if a is None or m is None:
        out.append((title, "not measured", None))
    else:
        out.append((title, "%s us vs %s us" % (fmt_num(a, "us"), fmt_num(m, "us")), a <= m))
    title = "instructions per delivered message <= 1/4 of Mosquitto's"
    ea, em = runner.profile.get(("agora", "callgrind")), runner.profile.get(("mosquitto", "callgrind"))
    a, m = per_delivery(ea, "qos0_1to1", "idle"), per_delivery(em, "qos0_1to1", "idle")
    if a is not None and m:
        out.append((title, "%s vs %s (QoS 0 1->1, idle baseline; %.2f of Mosquitto's)"
                    % (fmt_num(a), fmt_num(m), a / m), a <= m / 4))
    else:
        out.append((title, "not measured", None))
    title = "no malloc per delivery (< %g allocations per delivered message)" % NO_MALLOC_THRESHOLD
    ea = runner.profile.get(("agora", "malloc"))
    vals = [(wl, per_delivery(ea, wl, "marginal")) for wl, *_ in PROFILE_WORKLOADS]
    vals = [(wl, v) for wl, v in vals if v is not None]
    if vals:
        out.append((title, ", ".join("%s %s" % (wl, fmt_num(v)) for wl, v in vals)
                    + " (marginal: full minus half workload)",
                    all(v < NO_MALLOC_THRESHOLD for _, v in vals)))
    else:
        out.append((title, "not measured", None))
    a, m = med("conns_idle", "bytes_per_conn", "agora"), med("conns_idle", "bytes_per_conn", "mosquitto")
    title = "idle memory per connection <= Mosquitto's"
    if a is None or m is None:
        out.append((title, "not measured", None))
    else:
        out.append((title, "%s vs %s bytes" % (fmt_num(a), fmt_num(m)), a <= m))
    return out


def ws_targets(ws):
    """The issue's WebSocket target, on QoS 0 1->1 and fan-out, for Agora."""
    out = []
    for scenario, what in (("ws_qos0_1to1", "QoS 0 1->1"), ("ws_fanout_1to100", "fan-out 1->100")):
        title = "%s over WebSocket >= %.0f%% of TCP (Agora)" % (what, WS_TARGET * 100)
        row = next((r for r in ws if r["scenario"] == scenario and r["broker"] == "agora"), None)
        if row is None or row["ratio"] is None:
            out.append((title, "not measured", None))
            continue
        out.append((title, "%.0f%% (%s vs %s deliveries/s)" % (
            row["ratio"] * 100, fmt_num(row["agora_ws"][0]), fmt_num(row["agora"][0])),
            row["ratio"] >= WS_TARGET))
    return out


def ws_markdown(ws, quick):
    """The report's WebSocket section."""
    L = ["## MQTT over WebSocket", ""]
    L.append("Each broker runs each scenario twice per repetition, with every client of `agora"
             " bench` over TCP and then over WebSocket (the order alternates): Agora's `GET /mqtt`"
             " on its HTTP listener (`--http-listener 127.0.0.1:PORT`, `agora bench ... --ws -p"
             " PORT`), Mosquitto's `protocol websockets` listener (Debian's 2.0.11 is built with"
             " libwebsockets; it opens a websockets listener only beside a TCP one). Clients mask"
             " every frame (one frame per write batch), as RFC 6455 requires.")
    L.append("")
    L.append("| scenario | broker | TCP (msg/s) | WebSocket (msg/s) | WebSocket / TCP |"
             " runs ok (TCP · WS) |")
    L.append("| --- | --- | --- | --- | --- | --- |")
    for r in ws:
        b = r["broker"]
        cell = lambda v: fmt_stat(r[v], "msg/s", "–") if r[v] != "n/a" else "n/a"
        L.append("| %s | %s | %s | %s | %s | %s · %s |" % (
            r["scenario"], TITLES[b], cell(b), cell(b + "_ws"),
            "**%.0f%%**" % (r["ratio"] * 100) if r["ratio"] is not None else "–",
            r[b + "_runs"], r[b + "_ws_runs"]))
    L.append("")
    return L


# TLS scenario -> the same load over plain TCP, for "TLS / plain"
TLS_PLAIN = {"tls_qos0_1to1": "qos0_1to1", "tls_fanout_1to100": "fanout_1to100",
             "tls_conns_idle": "conns_idle"}


def tls_markdown(runner, rows, opts, ktls):
    """The report's TLS section: method, figures beside Mosquitto and beside
    plain TCP, what the handshakes negotiated, the load, and kTLS."""
    tls_rows = [r for r in rows if SCENARIO_BY_NAME[r["scenario"]].tls]
    L = ["## TLS", ""]
    L.append("Each broker gets one TLS listener (and no plain one) serving the same certificate,"
             " made once per `make bench` by `agora tls init` (a local CA and an ECDSA P-256"
             " server certificate for 127.0.0.1 and localhost): Agora with `-l \"127.0.0.1:PORT"
             " tls=yes certfile=server.crt keyfile=server.key\"`, Mosquitto with these lines in"
             " its `mosquitto.conf` (the rest as in *Method*), TLS versions and ciphers left at"
             " each broker's defaults:")
    L += ["", "```"] + [l.replace(runner.tls_dir or "DIR", "DIR").replace("1883", "PORT") for l in
                        tls_bench.mosquitto_lines(1883, runner.tls_dir or "DIR")] + ["```", ""]
    L.append("Throughput and idle connections use `agora bench` with `--cafile DIR/ca.crt`: every"
             " client verifies the server's certificate and name (127.0.0.1) as `agora pub` does."
             " Handshakes per second come from an independent generator, OpenSSL's own client:"
             " %d `openssl s_time -new -tls1_3` processes at once on the load generator's core,"
             " each doing one full handshake at a time (no resumption, no MQTT: connect, TLS 1.3"
             " handshake, close) without verifying the server, so that the client's share of the"
             " work is as small as it can be; the broker's CPU per handshake is its CPU time"
             " (`/proc/PID/stat`) over the run divided by the handshakes. `tls_conns_idle`'s"
             " connections opened per second are the other handshake figure: TCP, TLS 1.3 with"
             " verification and MQTT CONNECT/CONNACK, 256 at a time, by `agora bench`."
             % tls_bench.HANDSHAKE_CLIENTS)
    L.append("")
    agreed = {}
    for run in runner.runs:
        if run.get("tls") and run["broker"] not in agreed:
            agreed[run["broker"]] = run["tls"]
    for b, t in sorted(agreed.items()):
        L.append("- %s negotiated: %s, %s, key exchange %s, server signature %s,"
                 " verification %s (`openssl s_client -brief`)." % (
                     TITLES[b], t.get("protocol", "?"), t.get("cipher", "?"),
                     t.get("key_exchange", "?"), t.get("signature", "?"),
                     t.get("verification", "?")))
    if agreed:
        L.append("")
    L.append("| scenario | metric | better | Agora | Mosquitto | Agora/Mosquitto |"
             " Agora TLS vs plain | Mosquitto TLS vs plain | runs ok (Agora · Mosquitto) |")
    L.append("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in tls_rows:
        cell = lambda b: fmt_stat(r[b], r["unit"], "–") if r[b] != "n/a" else "n/a"
        plain = TLS_PLAIN.get(r["scenario"])

        def share(b):
            t, p = stat_of(runner, r["scenario"], b, r["key"]), (
                stat_of(runner, plain, b, r["key"]) if plain else None)
            if not (t and p and p[0]):
                return "–"
            x = t[0] / p[0]
            return "%.0f%%" % (100.0 * x) if r["better"] == "higher" else "%.1f×" % x
        L.append("| %s | %s (%s) | %s | %s | %s | %s | %s | %s | %s |" % (
            r["scenario"], r["label"], r["unit"], r["better"], cell("agora"), cell("mosquitto"),
            "**%.2f×**" % r["ratio"] if r["ratio"] is not None else "–",
            share("agora"), share("mosquitto"), r["agora_runs"] + " · " + r["mosquitto_runs"]))
    L.append("")
    per_hs = {b: stat_of(runner, "tls_handshakes", b, "broker_us_per_handshake")
              for b in ("agora", "mosquitto")}
    busy = [r["metrics"].get("broker_cpu_pct", 0) for r in runner.runs
            if r["scenario"] == "tls_handshakes" and r["ok"]]
    if all(per_hs.values()) and busy and max(busy) < 85:
        L.append("Handshakes per second are bound by the clients' core (an `openssl s_time`"
                 " handshake costs its client more CPU than it costs the broker; no broker used"
                 " more than %.0f%% of its core), so the comparable figure is the broker's CPU"
                 " per handshake: at a full core it would allow about %s (Agora) and %s"
                 " (Mosquitto) handshakes per second." % ((max(busy),) + tuple(
                     fmt_num(1e6 / per_hs[b][0]) for b in ("agora", "mosquitto"))))
        L.append("")
    L.append("*TLS vs plain* compares with the same broker's figure for the plain-TCP scenario"
             " in this report (qos0_1to1, fanout_1to100, conns_idle: the same load, with more"
             " messages or connections; \"–\" when that one was not run): rates as a share of"
             " plain TCP's (above 100% is noise, not a faster TLS), memory and CPU as a multiple"
             " of plain TCP's.")
    L.append("")
    loads = [run["load"] for run in runner.runs
             if SCENARIO_BY_NAME[run["scenario"]].tls and "load" in run]
    if loads:
        L.append("Machine load (1-minute average) at the start of the TLS runs: %.2f to %.2f on"
                 " %d cores%s." % (min(loads), max(loads), os.cpu_count() or 1,
                                   ": other work shared the cores, so the figures are indicative"
                                   if max(loads) > 0.5 else ""))
        L.append("")
    L.extend(tls_bench.PROFILE_NOTES)
    L.append("### Kernel TLS (kTLS)")
    L.append("")
    L.append(tls_bench.ktls_text(ktls))
    L.append("")
    return L


def limit_verdict(m, kind):
    if kind == "latency":
        return "fixed rate (not a throughput limit)"
    if kind == "conns":
        return "connect phase"
    if kind == "handshakes":
        bcpu = m.get("broker_cpu_pct")
        if bcpu is not None and bcpu >= 85:
            return "broker CPU (its core saturated)"
        return "the clients (openssl s_time: one handshake at a time each)"
    bcpu, gcpu = m.get("broker_cpu_pct"), m.get("bench_cpu_pct")
    if bcpu is None:
        return "broker not sampled"
    if bcpu >= 85:
        return "broker CPU (its core saturated)"
    if gcpu is not None and gcpu >= 85:
        return "load generator CPU"
    return "neither process saturated (round trips / scheduling)"


def limits_rows(runner, scenarios):
    rows = []
    for sc in scenarios:
        for b in BROKERS:
            ok = [r for r in runs_of(runner, sc.name, b) if r["ok"]]
            if not ok:
                continue
            m = {}
            for key in ("broker_cpu_pct", "bench_cpu_pct", "broker_cpu_us_per_msg", "broker_sys_share"):
                vals = [r["metrics"][key] for r in ok if key in r["metrics"]]
                if vals:
                    m[key] = statistics.median(vals)
            rows.append((sc, b, m, limit_verdict(m, sc.kind)))
    return rows


def shown_argv(argv):
    """argv without --note and --out: the note is quoted; the output path is the file."""
    shown = []
    skip = False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--note", "--out"):
            skip = True
        elif not a.startswith(("--note=", "--out=")):
            shown.append(a)
    return shown


def write_report(path, ctx):
    opts, runner = ctx["opts"], ctx["runner"]
    scenarios, rows = ctx["scenarios"], ctx["rows"]
    L = []
    w = L.append
    w("# Performance")
    w("")
    shown = shown_argv(ctx["argv"])
    w("Generated by `make bench` (`%s`) on %s in %.0f s. Regenerate it with `make bench` on a"
      " quiet machine rather than editing it by hand."
      % (shlex.join(["bench/compare.py"] + shown), ctx["started"], ctx["elapsed"]))
    w("")
    warnings = list(ctx["warnings"])
    if opts.quick:
        warnings.insert(0, "**Smoke run (`--quick`)**: small counts, one repetition. The figures show"
                           " the format of this report, not the brokers' performance.")
    if opts.note:
        warnings.append(opts.note)
    for text in warnings:
        w("> " + text)
        w(">")
    if warnings:
        L.pop()
        w("")

    w("## Machine")
    w("")
    mi = ctx["machine"]
    w("| | |")
    w("| --- | --- |")
    w("| CPU | %s |" % md_escape(mi["cpu"]))
    w("| cores | %s (%s usable by this process) |" % (mi["cores"], mi["cores_usable"]))
    w("| memory | %s |" % mi.get("memory", "unknown"))
    w("| kernel | %s |" % mi["kernel"])
    w("| Debian | %s%s |" % (mi["debian"], " (%s)" % mi["os"] if mi.get("os") else ""))
    w("| load average at start | %s (1, 5, 15 min) |" % ", ".join("%.2f" % x for x in ctx["load_start"]))
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    w("| open-file limit (soft / hard) | %s / %s: one process holds at most this many connections"
      " (a privileged process may raise it; `agora` and `agora bench` try) |"
      % tuple("unlimited" if v == resource.RLIM_INFINITY else "{:,}".format(v)
              for v in (soft, hard)))
    pins = ctx["pins"]
    w("| pinning | %s |" % ("broker on core %d, load generator on core %d (`taskset -c`)" % pins
                           if pins else "**none** (taskset missing or fewer than 2 cores)"))
    w("")
    w("## Versions")
    w("")
    w("| | |")
    w("| --- | --- |")
    v = ctx["versions"]
    w("| Agora | %s, commit %s |" % (v["agora"], v["commit"]))
    w("| Mosquitto | %s (`mosquitto -h`, first line) |" % v["mosquitto"])
    w("| forwarder | %s |" % v["forwarder"])
    for tool in ("cc", "taskset", "strace", "valgrind", "openssl"):
        if tool in v:
            w("| %s | %s |" % (tool, md_escape(v[tool])))
    w("| Python | %s |" % v["python"])
    w("")

    w("## Method")
    w("")
    w("Each run starts the broker fresh on a free loopback port (bound to port 0 to find one),"
      " waits until it accepts a TCP connection (polled, bounded), runs one `agora bench` against it"
      " and stops it with SIGTERM. Each scenario is run %s per broker; the order of the brokers"
      " rotates from one repetition to the next. The table gives the median with the min–max spread"
      " of the successful runs; a failed run is listed under *Failed runs* and left out, never"
      " averaged in. All payloads are 64 bytes; every run is bounded in messages and in time"
      " (`-n`, `-d`)." % ("once" if opts.repeat == 1 else "%d times" % opts.repeat))
    w("")
    bp, gp = ctx["pin_cmds"]
    pre_b = " ".join(bp) + " " if bp else ""
    pre_g = " ".join(gp) + " " if gp else ""
    w("```sh")
    w("make build build/release/forwarder")
    w("# brokers (one per run)")
    w("%sbuild/release/agora serve -l 127.0.0.1:PORT --data-dir TMP/agora-data-RUN --http-listener off --log-level warn"
      " --max-connections 100000" % pre_b)
    w("%s%s -c TMP/mosquitto.conf" % (pre_b, MOSQUITTO))
    w("%sbuild/release/forwarder -p PORT" % pre_b)
    w("# load generator")
    w("%sbuild/release/agora bench SCENARIO-ARGS -p PORT --json --pid BROKER_PID" % pre_g)
    w("```")
    w("")
    w("`mosquitto.conf` (Mosquitto's other settings are its defaults: max_inflight_messages 20,"
      " max_queued_messages 1000; Agora's are 2000 and 1000):")
    w("")
    w("```")
    w(mosquitto_conf(1883).replace("1883", "PORT").rstrip())
    w("```")
    w("")
    w("Agora runs with `--max-connections 100000` because its default (10,000) would refuse the"
      " conns scenario's last connection; Mosquitto's default is unlimited. Each Agora run has a"
      " data directory of its own (`agora-data-RUN`): with `persistence normal`, the default,"
      " `broker.log` would otherwise carry one run's persistent sessions into the next.")
    w("")
    w("| scenario | what | `agora bench` arguments |")
    w("| --- | --- | --- |")
    for sc in scenarios:
        w("| %s | %s | `%s` |" % (sc.name, sc.title.replace("->", "→"), sc.shown(opts.quick)))
    w("")
    w("Throughput is `delivered_per_s` (messages received by all subscribers per second of the"
      " measured phase). Latency is publish-to-delivery time at a fixed 10,000 msg/s (p50, p99)."
      " Memory per idle connection is (broker RSS once all connections are up − RSS before) /"
      " connections; the connect rate is connections / time to open them all. *% of ceiling* is"
      " Agora's figure as a share of the trivial forwarder's (for lower-is-better figures,"
      " forwarder / Agora): how close Agora comes to what this machine, the loopback and the load"
      " generator allow.")
    w("")

    w("## Results")
    w("")
    w("| scenario | metric | better | Agora | Mosquitto | Agora/Mosquitto | forwarder (ceiling) |"
      " Agora % of ceiling | issue's Mosquitto 2.0.11 | runs ok (Agora · Mosquitto · forwarder) |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for r in rows:
        cell = lambda b: fmt_stat(r[b], r["unit"], "–") if r[b] != "n/a" else "n/a"
        w("| %s | %s (%s) | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            r["scenario"], r["label"], r["unit"], r["better"], cell("agora"), cell("mosquitto"),
            "**%.2f×**" % r["ratio"] if r["ratio"] is not None else "–", cell("forwarder"),
            "%.0f%%" % r["ceiling_pct"] if r["ceiling_pct"] is not None else "–",
            fmt_num(r["reference"]) if r["reference"] else "", 
            " · ".join(r[b + "_runs"] for b in BROKERS)))
    w("")
    beaten = [r for r in rows if r["ceiling_pct"] is not None and r["ceiling_pct"] > 100]
    for kinds, why in (
            (("throughput",), "the forwarder writes what each read brings to every subscriber at"
             " once (one write per read per subscriber), while Agora gathers a loop turn's output"
             " per connection into one write: with many publishers and one subscriber that is many"
             " small writes for the forwarder, which is then no ceiling"),
            (("latency", "conns"), "the forwarder is a different program, not a bound, for latency,"
             " connections and memory; within the noise or the latency histogram's resolution,"
             " 100% means as good as it")):
        these = [r for r in beaten if SCENARIO_BY_NAME[r["scenario"]].kind in kinds]
        if these:
            w("Above 100%% of the ceiling (%s): %s." % (
                ", ".join("%s %s" % (r["scenario"], r["label"]) for r in these), why))
            w("")
    if any(sc.kind == "latency" for sc in scenarios):
        w("Latencies come from `agora bench`'s log-bucket histogram, which reports a value within"
          " about 3 % (1/32) of itself: equal medians are bucket boundaries, and differences under"
          " 3 % are below its resolution.")
        w("")
    if not ctx["have_forwarder"]:
        w("The forwarder (`build/release/forwarder`, from `bench/forwarder.c`) was not built, so"
          " there is no ceiling column: `make build/release/forwarder`, then rerun.")
        w("")

    v3 = {b: stat_of(runner, "qos0_1to1", b, "delivered_per_s") for b in ("agora", "mosquitto")}
    v5 = {b: stat_of(runner, "qos0_1to1_v5", b, "delivered_per_s") for b in ("agora", "mosquitto")}
    if any(v5.values()):
        w("## MQTT 5 against MQTT 3.1.1")
        w("")
        w("The same QoS 0 1→1 workload with MQTT 5 clients (`qos0_1to1_v5`) and with MQTT 3.1.1"
          " clients (`qos0_1to1`): median deliveries/s, MQTT 5 as a share of 3.1.1. The load"
          " generator speaks MQTT 5 too, so its own extra work is included; neither process"
          " saturates its core in this scenario, so run-to-run spread is wide.")
        w("")
        w("| broker | MQTT 3.1.1 | MQTT 5 | MQTT 5 / 3.1.1 |")
        w("| --- | --- | --- | --- |")
        for b in ("agora", "mosquitto"):
            if v3[b] and v5[b]:
                w("| %s | %s | %s | %.0f%% |" % (TITLES[b], fmt_stat(v3[b], "msg/s"),
                                                  fmt_stat(v5[b], "msg/s"),
                                                  100.0 * v5[b][0] / v3[b][0]))
        w("")

    w("## Targets")
    w("")
    w("Measured on this machine against Mosquitto measured the same way (medians).")
    w("")
    w("| target | measured | |")
    w("| --- | --- | --- |")
    for title, measured, met in ctx["targets"]:
        w("| %s | %s | %s |" % (md_symbols(title), md_symbols(measured),
                                "**met**" if met else "not measured" if met is None else "**not met**"))
    w("")

    w("## What limits each figure")
    w("")
    w("### CPU during the runs")
    w("")
    w("Medians over the successful runs, from `/proc/PID/stat` before and after the measured phase"
      " (10 ms ticks: short runs are coarse). A broker at ~100% of its core is CPU-bound; when"
      " neither the broker nor the load generator is saturated, the figure is bound by round trips"
      " (the load generator keeps at most 1,000 messages in flight) and scheduling.")
    w("")
    w("| scenario | broker | broker CPU (% of a core) | of which kernel | broker CPU per delivery (µs) |"
      " load generator CPU | limit |")
    w("| --- | --- | --- | --- | --- | --- | --- |")
    for sc, b, m, verdict in ctx["limits"]:
        w("| %s | %s | %s | %s | %s | %s | %s |" % (
            sc.name, TITLES[b],
            "%.0f%%" % m["broker_cpu_pct"] if "broker_cpu_pct" in m else "–",
            "%.0f%%" % m["broker_sys_share"] if "broker_sys_share" in m else "–",
            fmt_num(m["broker_cpu_us_per_msg"]) if "broker_cpu_us_per_msg" in m and sc.kind != "conns" else "–",
            "%.0f%%" % m["bench_cpu_pct"] if "bench_cpu_pct" in m else "–",
            verdict))
    w("")
    write_profile_section(w, ctx)

    failed = [r for r in runner.runs if not r["ok"]]
    noted = [r for r in runner.runs if r["ok"] and r["notes"]]
    w("## Failed runs")
    w("")
    if failed:
        w("| scenario | broker | repetition | why |")
        w("| --- | --- | --- | --- |")
        for r in failed:
            w("| %s | %s | %d | %s |" % (r["scenario"], TITLES[r["broker"]], r["rep"] + 1,
                                        md_escape(r["reason"])))
    else:
        w("None.")
    w("")
    if noted:
        w("Runs cut by their time bound (kept: every message sent before the bound was"
          " delivered; the figure is over the time the run took):")
        w("")
        for r in noted:
            w("- %s, %s, repetition %d: %s" % (r["scenario"], TITLES[r["broker"]], r["rep"] + 1,
                                              "; ".join(r["notes"])))
        w("")
    if ctx.get("slow"):
        L.extend(slow_subscribers.markdown(ctx["slow"]).rstrip("\n").split("\n"))
        L.append("")
        L.append(SLOW_TRADE_OFF)
        L.append("")
    if isinstance(ctx.get("rules"), dict):
        L.extend(rules_cost.markdown(ctx["rules"]).rstrip("\n").split("\n"))
        L.append("")
    elif ctx.get("rules"):
        L.extend(["## Rules", "", "Failed: %s" % ctx["rules"], ""])
    if ctx.get("ws"):
        L.extend(ws_markdown(ctx["ws"], opts.quick))
    if any(sc.tls for sc in scenarios):
        L.extend(tls_markdown(runner, rows, opts, ctx["ktls"]))
    if ctx.get("persistence"):
        L.extend(persistence.markdown(ctx["persistence"]).rstrip("\n").split("\n"))
        L.append("")
    # --- HTTP scenario (bench/http_bench.py) ---
    if ctx.get("http"):
        L.extend(http_bench.markdown(ctx["http"]).rstrip("\n").split("\n"))
    # --- end HTTP scenario ---
    text = "\n".join(L).rstrip() + "\n"
    tmp = path + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def fmt_ratio(a, b):
    if a is None or not b:
        return "–"
    r = a / b
    return ("%.2f×" if r >= 0.1 else "%.2g×") % r


def write_profile_section(w, ctx):
    opts, runner = ctx["opts"], ctx["runner"]
    w("### Per delivered message: syscalls, instructions, allocations")
    w("")
    if opts.no_profile:
        w("Not measured in this run (`--no-profile`).")
        w("")
        return
    w("Each broker runs alone under the tool (pinned as above) for a fixed workload, and again"
      " for two baselines. **idle** = (workload − a run where the broker starts and stops with no"
      " client) / deliveries: the issue's method, which also charges connecting, subscribing and"
      " buffers growing to the deliveries. **marginal** = (workload − the same workload with half"
      " the messages) / the extra deliveries: what one more delivery costs once the clients are"
      " up. The load generator is not profiled.")
    w("")
    w("| workload | `agora bench` arguments | half run |")
    w("| --- | --- | --- |")
    for name, title, full, quick in PROFILE_WORKLOADS:
        args = quick if opts.quick else full
        half = int(args[args.index("-n") + 1]) // 2
        w("| %s: %s | `%s` | `-n %d` |" % (name, title.replace("->", "→"), " ".join(args), half))
    w("")
    bp = " ".join(ctx["pin_cmds"][0]) + " " if ctx["pin_cmds"][0] else ""
    w("```sh")
    w("%sstrace -f -c -o OUT BROKER...            # the calls column's total" % bp)
    w("%svalgrind --tool=callgrind --callgrind-out-file=OUT BROKER...   # totals (Ir)" % bp)
    w("MALLOCCOUNT_OUT=OUT LD_PRELOAD=build/release/malloccount.so %sBROKER...   # first line" % bp)
    w("```")
    w("")
    w("`malloccount.so` (bench/malloccount.c) counts malloc, calloc, realloc, posix_memalign,"
      " aligned_alloc and memalign calls and writes them at exit.")
    w("")
    present = [b for b in BROKERS if any(k[0] == b for k in runner.profile)]
    w("| per delivery | workload | baseline | " + " | ".join(TITLES[b] for b in present)
      + " | Agora/Mosquitto |")
    w("| --- | --- | --- | " + " | ".join("---" for _ in present) + " | --- |")
    for prof in PROFILERS:
        for wl, *_ in PROFILE_WORKLOADS:
            for method in METHODS:
                cells, vals = [], {}
                for b in present:
                    e = runner.profile.get((b, prof))
                    if not e:
                        cells.append("–")
                    elif e["error"]:
                        cells.append("failed")
                    else:
                        vals[b] = per_delivery(e, wl, method)
                        cells.append(fmt_num(vals[b]) if vals[b] is not None else "–")
                w("| %s | %s | %s | %s | %s |" % (PROFILER_TITLES[prof], wl, method, " | ".join(cells),
                                                  fmt_ratio(vals.get("agora"), vals.get("mosquitto"))))
    w("")
    errors = [(k, e["error"]) for k, e in runner.profile.items() if e["error"]]
    for (b, prof), err in errors:
        w("- %s under %s failed: %s" % (TITLES[b], prof, md_escape(err)))
    if errors:
        w("")
    w("strace slows every syscall down, so a broker that batches (Agora, the forwarder) batches"
      " more under strace than at full speed: its syscall figure is a lower bound. Mosquitto"
      " makes the same syscalls for every message whatever the speed.")
    w("")
    w("Most frequent syscalls per delivery (QoS 0 1→1, marginal):")
    w("")
    for b in present:
        e = runner.profile.get((b, "strace"))
        if not e or e["error"] or "qos0_1to1" not in e["workloads"]:
            continue
        res = e["workloads"]["qos0_1to1"]
        half = res.get("half") or {}
        base = half.get("detail", {})
        n = res["delivered"] - half.get("delivered", 0)
        if n <= 0:
            continue
        per = {k: (v - base.get(k, 0)) / n for k, v in res["detail"].items()}
        top = [(k, v) for k, v in sorted(per.items(), key=lambda kv: -kv[1])[:6] if v > 0]
        w("- %s: %s" % (TITLES[b], ", ".join("`%s` %s" % (k, fmt_num(v)) for k, v in top) or "none"))
    w("")
    tops = ctx["callgrind_top"]
    if tops:
        w("Where the instructions go (exclusive cost, QoS 0 1→1 workload including start-up, from"
          " `callgrind_annotate --inclusive=no`):")
        w("")
        for b, rows in tops.items():
            if rows:
                w("- %s: %s" % (TITLES[b], ", ".join("`%s` %s%%" % (md_escape(f), pct)
                                                     for _ir, pct, f, _obj in rows)))
        w("")


# ---------------------------------------------------------------- main

# What the window costs, next to its measure (issue 9: QoS 1 at full speed
# with default settings).
SLOW_TRADE_OFF = (
    "**The trade-off.** Agora's default window is 2,000 (`max_inflight_messages`; it was 64, then"
    " 1,000, and an MQTT 5 client's Receive Maximum lowers it for that client). The window has to"
    " hold what a client keeps outstanding end to end (the load generator: 1,000 messages) and,"
    " as many again, the messages whose PUBACK is on its way back; a window that fills makes the"
    " broker wait for acknowledgements and then send in small bursts. With 64, QoS 1 1→1 ran at"
    " 27% of the forwarder's rate (810,315 vs 2,972,833 deliveries/s, report of 2026-11-23); with"
    " 1,000 at 52% (3,287,115 vs 6,345,370, 2026-12-05), the broker and the load generator each"
    " half idle, taking turns; with 2,000 and a full read's output written before the next read"
    " (the two processes work at the same time: docs/ARCHITECTURE.md, \"A full read flushes\")"
    " see qos1_1to1 above. The price falls on subscribers that stop reading: each keeps up to"
    " 2,000 unacknowledged messages written to its socket (the *sent, unread* column, in the"
    " kernel's buffers; with 1 MiB messages that is up to 2,000 MiB per slow subscriber, which is"
    " why an operator with large messages and slow subscribers should lower the window), and gets"
    " them all again, with DUP 1, when it reconnects (the *resent* column: 2,000 duplicates at"
    " QoS 1 instead of 64). The queue behind the window (`max_queued_messages`, 1,000) and its"
    " drop policy are unchanged, and the messages themselves are shared by every subscriber that"
    " holds them.")


def run_slow(opts, workdir, pins):
    """The slow-subscriber figures for Agora (default and the old window of
    64) and Mosquitto: [(title, settings, figures or an error string)]."""
    pin = pins[0] if pins else []
    configs = [("agora", "Agora", "defaults (window 2000)", ()),
               ("agora", "Agora", "`--max-inflight-messages 64`", ("--max-inflight-messages", "64")),
               ("mosquitto", "Mosquitto", "defaults (window 20)", ())]
    out = []
    log("\n== slow subscribers: %d subscribers that stop reading, %d QoS 1 messages"
        % (slow_subscribers.SUBSCRIBERS, slow_subscribers.MESSAGES))
    for kind, title, conf, extra in configs:
        if kind not in opts.brokers:
            continue
        b = Broker(kind, workdir, pin, extra=extra)
        try:
            b.start()
            fig = slow_subscribers.measure(b.port, b.pid)
            log("  %-10s %-32s held %.1f KiB, unread %.1f KiB, resent %d per subscriber"
                % (title, conf, fig["held_per_sub"] / 1024, fig["unread_per_sub"] / 1024,
                   fig["resent"]))
        except (BenchError, slow_subscribers.SlowError, OSError) as e:
            fig = str(e)
            warn("slow subscribers, %s %s: %s" % (title, conf, e))
        finally:
            b.stop()
        out.append((title, conf, fig))
    return out


def run_rules(workdir, pins):
    """bench/rules_cost.py's figures (a dict), or the error's text."""
    log("\n== rules: QoS 0 1->1 with 0 and %d idle rules, then one rule on every message"
        % rules_cost.IDLE_RULES)
    try:
        res = rules_cost.measure(workdir, pins[0] if pins else (), pins[1] if pins else ())
    except (rules_cost.RulesBenchError, OSError, ValueError, KeyError) as e:
        warn("rules: %s" % e)
        return str(e)
    log("  %.1f%% cost of 100 idle rules; %s evaluations/s for a rule on every message" % (
        100 * (1 - statistics.median(r["rate"] for r in res["idle_rules"]) /
               statistics.median(r["rate"] for r in res["plain"])),
        "{:,.0f}".format(res["every"]["evals_per_s"])))
    return res


def separate_note(opts, info):
    """The blockquote that says a spliced section was measured on its own."""
    mi, v = info["machine"], info["versions"]
    shown = shown_argv(info["argv"])
    head = [
        "> Measured separately (`%s`, %s, %.0f s) and spliced into this report; the rest of"
        " it is from the run named at the top. %s, commit %s; %s; %s, %s cores, %s; load"
        " average %.2f at the start%s."
        % (shlex.join(["bench/compare.py"] + shown), info["started"], info["elapsed"],
           v["agora"], v["commit"], v["mosquitto"], mi["cpu"], mi["cores"],
           mi.get("memory", "memory unknown"), info["load_start"][0],
           "; pinning: brokers on core %d, clients on core %d" % info["pins"] if info["pins"]
           else "; not pinned"),
    ]
    if opts.note:
        head += [">", "> " + opts.note]
    return head


def replace_section(path, title, section, before):
    """Puts section (lines, starting with `title`) in place of the file's
    own, or before the first of the titles in `before`, or at the end."""
    try:
        with open(path) as f:
            lines = f.read().rstrip("\n").split("\n")
    except OSError:
        lines = ["# Performance", ""]
    start = next((i for i, l in enumerate(lines) if l == title), None)
    if start is None:
        start = end = next((i for i, l in enumerate(lines) if l in before), len(lines))
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")),
                   len(lines))
    new = lines[:start] + section + ([""] if end < len(lines) else []) + lines[end:]
    tmp = path + ".tmp"
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(tmp, "w") as f:
        f.write("\n".join(new).rstrip("\n") + "\n")
    os.replace(tmp, path)


def splice_persistence(opts, res, info):
    """--only persistence: the section replaces the report's own (or goes
    before the HTTP section, or at the end); the rest of the file is kept."""
    mi, v = info["machine"], info["versions"]
    section = persistence.markdown(res).rstrip("\n").split("\n")
    section = section[:2] + separate_note(opts, info) + [""] + section[2:]
    replace_section(opts.out, "## Persistence", section, ("## HTTP API",))
    os.makedirs(os.path.dirname(PERSISTENCE_JSON), exist_ok=True)
    with open(PERSISTENCE_JSON, "w") as f:
        json.dump({"started": info["started"], "argv": info["argv"], "machine": mi,
                   "versions": v, "persistence": res}, f, indent=1, default=str)
    log("\n== Targets")
    for title, measured, met in persistence.targets(res):
        log("  %-11s %s: %s" % ("MET" if met else "not measured" if met is None else "NOT MET",
                                title, measured))
    log("\nreplaced the Persistence section of %s; raw results in %s"
        % (rel(os.path.abspath(opts.out)), rel(PERSISTENCE_JSON)))
    if res["failed"]:
        log("%d persistence run(s) failed: see the section" % res["failed"])
    return 1 if res["failed"] else 0


def splice_tls(opts, runner, rows, info):
    """--only tls: the TLS section replaces the report's own (or goes before
    the Persistence section, or the HTTP one, or at the end)."""
    section = tls_markdown(runner, rows, opts, tls_bench.ktls_probe())
    section = section[:2] + separate_note(opts, info) + [""] + section[2:]
    replace_section(opts.out, "## TLS", section, ("## Persistence", "## HTTP API"))
    os.makedirs(os.path.dirname(TLS_JSON), exist_ok=True)
    with open(TLS_JSON, "w") as f:
        json.dump({"started": info["started"], "argv": info["argv"], "machine": info["machine"],
                   "versions": info["versions"], "runs": runner.runs}, f, indent=1,
                  default=str)
    log("\nreplaced the TLS section of %s; raw results in %s"
        % (rel(os.path.abspath(opts.out)), rel(TLS_JSON)))
    failed = sum(not r["ok"] for r in runner.runs)
    if failed:
        log("%d run(s) failed: see the section" % failed)
    return 1 if failed else 0


def parse_args(argv):
    ap = argparse.ArgumentParser(
        prog="bench/compare.py",
        description="Agora against Mosquitto (and the trivial forwarder), pinned and repeated;"
                    " writes docs/PERFORMANCE.md.")
    ap.add_argument("--repeat", type=int, default=None, help="runs per scenario and broker (default 3)")
    ap.add_argument("--scenarios", default=None,
                    help="comma-separated scenario names, 'all' (includes the optional ones) or"
                         " 'none' (profile only); default: %s,slow,http,persistence" % ",".join(
                             s.name for s in SCENARIOS if not s.optional))
    ap.add_argument("--quick", action="store_true", help="small counts and 1 repeat: a smoke check")
    ap.add_argument("--no-profile", action="store_true", help="skip strace, callgrind and malloccount")
    ap.add_argument("--brokers", default=None,
                    help="comma-separated subset of agora,mosquitto,forwarder (default: all present)")
    ap.add_argument("--out", default=None,
                    help="markdown report (default docs/PERFORMANCE.md; with --quick %s, so that"
                         " a smoke run does not replace the real report)" % rel(QUICK_OUT))
    ap.add_argument("--note", default="", help="a remark to put at the top of the report")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the logs and profiles (printed path)")
    ap.add_argument("--only", choices=("persistence", "tls"), default=None,
                    help="run only this part and replace only its section of --out (the rest"
                         " of the report is kept); tls runs the tls_* scenarios and their"
                         " plain-TCP twins (%s)" % ", ".join(TLS_PLAIN.values()))
    opts = ap.parse_args(argv)
    if opts.only:
        if opts.scenarios not in (None, opts.only):
            ap.error("--only %s runs no other scenario: leave --scenarios out" % opts.only)
        opts.scenarios = "persistence" if opts.only == "persistence" else ",".join(
            [s.name for s in SCENARIOS if s.tls] + list(TLS_PLAIN.values()))
        opts.no_profile = True
    if opts.repeat is None:
        opts.repeat = 1 if opts.quick else 3
    if opts.out is None:
        opts.out = QUICK_OUT if opts.quick else DEFAULT_OUT
    if opts.repeat < 1:
        ap.error("--repeat must be at least 1")
    # --- HTTP and slow scenarios (bench/http_bench.py, bench/slow_subscribers.py):
    # named to run them; the default and 'all' include them ---
    named = [n.strip() for n in (opts.scenarios or "").split(",")]
    opts.http = opts.scenarios in (None, "all") or "http" in named
    opts.slow = opts.scenarios in (None, "all") or "slow" in named
    opts.rules = opts.scenarios in (None, "all") or "rules" in named
    # persistence: all three parts, or some (persistence-throughput, ...)
    opts.persistence = [p for p in persistence.PARTS
                        if opts.scenarios in (None, "all") or "persistence" in named
                        or "persistence-" + p in named]
    extra = ("http", "slow", "rules", "persistence") + tuple("persistence-" + p
                                                            for p in persistence.PARTS)
    if opts.scenarios not in (None, "all", "none"):
        opts.scenarios = ",".join(n for n in opts.scenarios.split(",")
                                  if n.strip() not in extra)
        if not opts.scenarios:
            opts.scenarios = "none"
    # --- end HTTP and slow scenarios ---
    if opts.scenarios is None:
        opts.scenario_list = [s for s in SCENARIOS if not s.optional]
    elif opts.scenarios == "all":
        opts.scenario_list = list(SCENARIOS)
    elif opts.scenarios == "none":
        opts.scenario_list = []
    else:
        names = [n.strip() for n in opts.scenarios.split(",") if n.strip()]
        bad = [n for n in names if n not in SCENARIO_BY_NAME]
        if bad:
            ap.error("unknown scenario(s) %s; known: %s, slow, rules, http, persistence, %s" % (
                ", ".join(bad), ", ".join(SCENARIO_BY_NAME),
                ", ".join("persistence-" + p for p in persistence.PARTS)))
        opts.scenario_list = [SCENARIO_BY_NAME[n] for n in names]
    if opts.brokers is None:
        opts.brokers = list(BROKERS)
    else:
        opts.brokers = [b.strip() for b in opts.brokers.split(",") if b.strip()]
        bad = [b for b in opts.brokers if b not in BROKERS]
        if bad:
            ap.error("unknown broker(s) %s" % ", ".join(bad))
    return opts


def snapshot_binaries(workdir, with_forwarder):
    """Runs use copies, so a rebuild of build/release during the run cannot
    swap the binary between runs (or leave it half written)."""
    global AGORA, FORWARDER
    os.makedirs(os.path.join(workdir, "bin"))
    AGORA = shutil.copy2(AGORA, os.path.join(workdir, "bin", "agora"))
    if with_forwarder:
        FORWARDER = shutil.copy2(FORWARDER, os.path.join(workdir, "bin", "forwarder"))


def main(argv):
    opts = parse_args(argv)
    started = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    t0 = time.monotonic()
    load_start = os.getloadavg()
    pinned, warnings = check_tools(opts)
    # --- HTTP scenario (bench/http_bench.py) ---
    if opts.http and http_bench.missing_tools():
        warn("missing: %s (for the http scenario)" % ", ".join(http_bench.missing_tools()))
        warn("install with:  " + http_bench.APT)
        warn("(or leave http out of --scenarios)")
        sys.exit(2)
    http_res = None
    # --- end HTTP scenario ---
    have_forwarder = os.access(FORWARDER, os.X_OK)
    if "forwarder" in opts.brokers and not have_forwarder:
        msg = ("%s is not built (`make build/release/forwarder`): no ceiling column"
               % rel(FORWARDER))
        warn(msg)
        warnings.append(msg)
        opts.brokers.remove("forwarder")
    pin_cmds, pins = choose_pins(pinned)
    if pinned and not pins:
        warnings.append("fewer than 2 usable cores: the runs are NOT pinned")
    cores = os.cpu_count() or 1
    if load_start[0] > 0.5:
        warnings.append("The machine was not idle: load average %.2f at the start (%d cores);"
                        " other work competed for the cores, so treat the figures as indicative."
                        % (load_start[0], cores))
        warn(warnings[-1])

    benchlib.exit_on_signals()
    raise_nofile()
    workdir = tempfile.mkdtemp(prefix="agora-bench-")
    try:
        snapshot_binaries(workdir, "forwarder" in opts.brokers)
        machine = machine_info()
        vers = versions("forwarder" in opts.brokers)
        log("Agora vs Mosquitto%s on %s, %d cores, kernel %s, Debian %s"
            % (" vs forwarder" if "forwarder" in opts.brokers else "", machine["cpu"], cores,
               machine["kernel"], machine["debian"]))
        log("%s; %s; pinning: %s" % (vers["agora"], vers["mosquitto"],
                                     "broker core %d, bench core %d" % pins if pins else "none"))
        tls_dir = None
        if any(sc.tls for sc in opts.scenario_list):
            tls_dir = tls_bench.make_certs(AGORA, os.path.join(workdir, "tls"))
        runner = Runner(opts, opts.brokers, pin_cmds, workdir, tls_dir)
        runner.run_scenarios(opts.scenario_list)
        info = {"started": started, "elapsed": time.monotonic() - t0, "machine": machine,
                "versions": vers, "load_start": load_start, "pins": pins, "argv": argv}
        if opts.only == "tls":
            rows = [r for sc in opts.scenario_list for r in summary_rows(runner, sc)]
            return splice_tls(opts, runner, rows, info)
        slow_res = run_slow(opts, workdir, pin_cmds) if opts.slow else None
        rules_res = run_rules(workdir, pin_cmds) if opts.rules and "agora" in opts.brokers \
            else None
        pers_res = None
        if opts.persistence:
            pers_res = persistence.run(AGORA, MOSQUITTO, workdir, pin_cmds, quick=opts.quick,
                                       repeat=opts.repeat, log=log, parts=opts.persistence,
                                       brokers=tuple(b for b in opts.brokers if b != "forwarder"))
            if opts.only:
                info["elapsed"] = time.monotonic() - t0
                return splice_persistence(opts, pers_res, info)
        # --- HTTP scenario (bench/http_bench.py) ---
        if opts.http:
            http_res = http_bench.run(AGORA, workdir, pin_cmds, quick=opts.quick,
                                      repeat=opts.repeat, log=log)
        # --- end HTTP scenario ---
        rows = []
        ws = []
        for sc in opts.scenario_list:
            if sc.ws:
                ws.extend(ws_rows(runner, sc))
            else:
                rows.extend(summary_rows(runner, sc))
        if rows:
            log("\n== Summary (median, min-max over successful runs)")
            print_table(rows)
        if ws:
            log("\n== MQTT over WebSocket (median, min-max over successful runs)")
            for row in ws:
                log("  " + ws_row_text(row))
        tops = {}
        if not opts.no_profile:
            log("\n== Profile: per delivered message, workload minus idle baseline")
            build_malloccount()
            runner.run_profile()
            for b in opts.brokers:
                e = runner.profile.get((b, "callgrind"))
                if e and not e["error"] and "qos0_1to1" in e["workloads"]:
                    tops[b] = callgrind_top(e["workloads"]["qos0_1to1"]["detail"]["file"])
        rows_by_key = {(r["scenario"], r["key"]): r for r in rows}
        tgt = targets(runner, rows_by_key) + ws_targets(ws)
        if pers_res:
            tgt += persistence.targets(pers_res)
        log("\n== Targets")
        for title, measured, met in tgt:
            log("  %-11s %s: %s" % ("MET" if met else "not measured" if met is None else "NOT MET",
                                    title, measured))
        ctx = {
            "opts": opts, "runner": runner, "scenarios": opts.scenario_list, "rows": rows,
            "argv": argv, "started": started, "elapsed": time.monotonic() - t0,
            "warnings": warnings, "machine": machine, "versions": vers, "load_start": load_start,
            "pins": pins, "pin_cmds": pin_cmds, "have_forwarder": "forwarder" in opts.brokers,
            "targets": tgt, "limits": limits_rows(runner, opts.scenario_list),
            "callgrind_top": tops,
            "http": http_res,   # HTTP scenario (bench/http_bench.py)
            "slow": slow_res,
            "rules": rules_res,
            "ws": ws,
            "ktls": tls_bench.ktls_probe(),
            "persistence": pers_res,
        }
        write_report(opts.out, ctx)
        os.makedirs(os.path.dirname(RESULTS_JSON), exist_ok=True)
        with open(RESULTS_JSON, "w") as f:
            json.dump({"started": started, "argv": argv, "machine": machine, "versions": vers,
                       "runs": runner.runs, "http": http_res, "persistence": pers_res,
                       "profile": {"%s/%s" % k: v for k, v in runner.profile.items()}},
                      f, indent=1, default=str)
        log("\nwrote %s and %s" % (rel(os.path.abspath(opts.out)), rel(RESULTS_JSON)))
        failed = sum(not r["ok"] for r in runner.runs)
        failed += http_res["failed"] if http_res else 0   # HTTP scenario
        failed += sum(isinstance(fig, str) for _, _, fig in slow_res or ())
        failed += isinstance(rules_res, str)
        failed += pers_res["failed"] if pers_res else 0
        if failed:
            log("%d run(s) failed: see 'Failed runs' in the report" % failed)
        return 1 if failed or any(e["error"] for e in runner.profile.values()) else 0
    except (BenchError, tls_bench.TlsError) as e:
        warn(str(e))
        return 1
    finally:
        Broker.kill_all()
        http_bench.Server.kill_all()   # HTTP scenario
        persistence.Server.kill_all()
        if opts.keep_tmp:
            log("logs and profiles kept in " + workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
