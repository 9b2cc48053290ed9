#!/usr/bin/python3
"""persistence.py - `make bench`'s measures of the broker's durable state
(issue 14: `persistence off|normal|full`, data_dir/broker.log), three parts:

  throughput  QoS 1, 1 publisher -> 1 subscriber whose session is persistent
              (clean session 0, connected): `agora bench pubsub -q 1
              --persistent` against Agora with `persistence off`, `normal`
              and `full`, and Mosquitto with `persistence true`, each broker
              with a fresh data directory. Target: normal >= 50% of off.

  durability  under QoS 1 load from a publisher to a persistent subscriber
              (connected, or offline: its messages queue), `kill -9` of the
              broker once the publisher has a random number of PUBACKs,
              restart on the same data directory and port, the subscriber
              back with clean session 0: how many messages the publisher got
              a PUBACK for never reached the subscriber. Payloads carry
              sequence numbers. Agora `persistence normal`: must be 0.
              Mosquitto `persistence true` (default autosave_interval 1800 s:
              it saves at intervals and at a clean stop only) beside it.

  restart     load R retained messages and S persistent sessions (one
              subscription each) into Agora (`persistence normal`), then
              `kill -9` and restart, then SIGTERM and restart: the time until
              the MQTT port accepts (how long the listener stays closed), the
              time until a sampled session's CONNACK says session present = 1,
              the broker's own "restored ... in T ms" log line, its RSS after
              the restart (VmRSS) and the size of broker.log. Mosquitto
              (`persistence true`) beside it for the clean stop only: its
              kill -9 restores nothing newer than its last autosave.

Every broker is pinned to the brokers' core (taskset -c 0) and every client
(`agora bench`, and this script itself while it loads or counts) to the
other one, as in bench/compare.py. Loopback only; every loop is bounded in
count and in time.

Used two ways:
  import persistence; res = persistence.run(agora, mosquitto, workdir, pins, quick=...)
      then persistence.markdown(res) -> the Markdown section (compare.py does this)
  /usr/bin/python3 bench/persistence.py [--quick] [--parts throughput,durability,restart]
      prints the Markdown section on stdout (progress on stderr); exit 1 if a run failed

Debian python3, standard library only.
"""

import argparse
import json
import os
import random
import re
import select
import selectors
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time

import benchlib

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
AGORA = os.environ.get("AGORA_BIN", os.path.join(REPO, "build", "release", "agora"))
MOSQUITTO = os.environ.get("MOSQUITTO_BIN", "/usr/sbin/mosquitto")

PARTS = ("throughput", "durability", "restart")
START_TIMEOUT = 60.0     # s until a broker accepts connections (a big restore included)
STOP_TIMEOUT = 60.0      # s for a broker to exit after SIGTERM (a snapshot included)
BENCH_SLACK = 60.0       # s an `agora bench` run may take beyond its -d
STEP_TIMEOUT = 30.0      # s for any one client step (CONNACK, SUBACK, ...)
TARGET_RATIO = 0.5       # the issue: normal >= 50% of off

# throughput: the same arguments for every configuration
THROUGHPUT_ARGS = ["pubsub", "-q", "1", "-n", "3000000", "-d", "10", "--persistent"]
THROUGHPUT_ARGS_QUICK = ["pubsub", "-q", "1", "-n", "50000", "-d", "5", "--persistent"]
THROUGHPUT_CONFIGS = [   # (name, title, kind, persistence mode)
    ("agora_off", "Agora, `persistence off`", "agora", "off"),
    ("agora_normal", "Agora, `persistence normal` (default)", "agora", "normal"),
    ("agora_full", "Agora, `persistence full`", "agora", "full"),
    ("mosquitto", "Mosquitto, `persistence true`", "mosquitto", "true"),
]

# durability
DUR_ROUNDS, DUR_ROUNDS_QUICK = 3, 1
DUR_KILL_AFTER = (0.3, 2.0)         # s into the load: kill -9 at a random moment in this range
DUR_KILL_AFTER_QUICK = (0.2, 0.8)
DUR_MAX_MESSAGES = 2000000          # the publisher's bound per round (the kill comes first)
DUR_LOAD_SLACK = 10.0               # s after the kill for the connections to be seen closed
DUR_PUB_WINDOW = 200                # publisher: QoS 1 PUBLISH packets awaiting PUBACK
DUR_E2E_WINDOW = 800                # connected subscriber: sent - received, at most
DUR_QUEUE = 2000000                 # max_queued_messages for both brokers (1000 by default)
DUR_QUIET = 1.0                     # s without a message: the subscriber has all
DUR_DRAIN_SECONDS = 30.0            # bound on reading after the restart
DUR_TOPIC = "dur/t"
DUR_PAYLOAD = 64

# restart
RESTART_RETAINED, RESTART_SESSIONS = 1000000, 100000
RESTART_RETAINED_QUICK, RESTART_SESSIONS_QUICK = 100000, 10000
RESTART_PAYLOAD = 64
RESTART_PARALLEL = 256              # session loader: connections at once
RESTART_RETAIN_CONNS = 4            # retained loader: connections, each pipelining
RESTART_RETAIN_WINDOW = 4000        # ... this many QoS 1 PUBLISH awaiting PUBACK
RESTART_LOAD_SECONDS = 240.0        # bound on each loader
RESTART_SAMPLES = 3                 # sessions reconnected after each restart

RESTORED_RE = re.compile(r"persistence (\w+): .*: restored (\d+) sessions, (\d+) retained "
                         r"messages, (\d+) queued messages in (\d+) ms")
# A rewrite in the background also says how long it held the event loop
# (its last copy and the rename); the one at a clean stop is all on it.
REWRITE_RE = re.compile(r"rewritten: (\d+) -> (\d+) bytes in (\d+) ms(?: \((\d+) ms of it on "
                        r"the loop)?")


class PersistError(Exception):
    pass


def _log(msg=""):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- MQTT 3.1.1 on raw sockets

def connect_packet(client_id, clean):
    return benchlib.connect(client_id, clean, keepalive=300)


subscribe_packet = benchlib.subscribe
publish_packet = benchlib.publish
puback_packet = benchlib.puback
_varint = benchlib.varint

DISCONNECT = b"\xe0\x00"


def parse_packets(buf):
    """Takes the whole packets off the front of buf: [(first byte, body)]."""
    out = []
    pos = 0
    n = len(buf)
    while n - pos >= 2:
        mult, value, i = 1, 0, pos + 1
        while True:
            if i >= n:
                del buf[:pos]
                return out
            value += (buf[i] & 0x7F) * mult
            if not buf[i] & 0x80:
                break
            mult *= 128
            i += 1
            if i - pos > 4:
                raise PersistError("malformed remaining length from the broker")
        end = i + 1 + value
        if end > n:
            break
        out.append((buf[pos], bytes(buf[i + 1:end])))
        pos = end
    del buf[:pos]
    return out


class Client:
    """A blocking MQTT 3.1.1 connection (CONNECT on creation) with a packet reader."""

    def __init__(self, port, client_id, clean, timeout=STEP_TIMEOUT, sock=None):
        self.s = sock or socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.s.settimeout(timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.pending = []
        self.s.sendall(connect_packet(client_id, clean))
        first, body = self.packet()
        if first >> 4 != 2 or len(body) < 2 or body[1] != 0:
            raise PersistError("%s: CONNACK refused: %r" % (client_id, body))
        self.session_present = bool(body[0] & 1)

    def packet(self, timeout=None):
        """The next packet; None if timeout (s) passes first."""
        if timeout is not None:
            self.s.settimeout(timeout)
        try:
            while not self.pending:
                try:
                    data = self.s.recv(262144)
                except socket.timeout:
                    if timeout is None:
                        raise PersistError("no answer from the broker within %.0f s" % STEP_TIMEOUT)
                    return None
                if not data:
                    raise PersistError("connection closed by the broker")
                self.buf += data
                self.pending = parse_packets(self.buf)
            return self.pending.pop(0)
        finally:
            if timeout is not None:
                self.s.settimeout(STEP_TIMEOUT)

    def subscribe(self, topic, qos):
        self.s.sendall(subscribe_packet(1, topic, qos))
        while True:
            first, body = self.packet()
            if first >> 4 == 9:
                if body[2] >= 0x80:
                    raise PersistError("SUBACK refused %s" % topic)
                return

    def disconnect(self):
        try:
            self.s.sendall(DISCONNECT)
            self.s.settimeout(2.0)
            while self.s.recv(65536):   # the broker closes after DISCONNECT
                pass
        except OSError:
            pass
        self.s.close()

    def close(self):
        self.s.close()


# ---------------------------------------------------------------- brokers

free_port = benchlib.free_port


def tail(path, lines=6):
    return benchlib.tail(path, lines)


def rss_bytes(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def cpu_seconds(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return None


def mosquitto_conf(port, datadir, queue=None):
    lines = [
        "# written by bench/persistence.py for one run",
        "listener %d 127.0.0.1" % port,
        "allow_anonymous true",
        "persistence true",
        "persistence_location %s/" % datadir,
        "log_dest stderr",
        "log_type error",
        "log_type warning",
        "log_type notice",
    ]
    if queue:
        lines.append("max_queued_messages %d" % queue)
    if os.geteuid() == 0:
        lines.append("user root")   # stay root: the mosquitto user could not write datadir
    return "\n".join(lines) + "\n"


class Server:
    """One broker process on a fixed port and data directory; restartable."""

    live = set()

    def __init__(self, kind, mode, datadir, pin, agora, mosquitto, port=None, queue=None,
                 log_level="warn"):
        self.kind, self.mode, self.datadir, self.pin = kind, mode, datadir, pin
        self.agora, self.mosquitto = agora, mosquitto
        self.port = port or free_port()
        self.queue, self.log_level = queue, log_level
        self.proc = None
        self.starts = 0
        self.log_path = None
        self.t_start = None
        os.makedirs(datadir, exist_ok=True)

    @property
    def pid(self):
        return self.proc.pid   # taskset execs the broker in place

    @property
    def data_file(self):
        if self.kind == "agora":
            return os.path.join(self.datadir, "broker.log")
        return os.path.join(self.datadir, "mosquitto.db")

    def command(self):
        if self.kind == "agora":
            cmd = [self.agora, "serve", "-l", "127.0.0.1:%d" % self.port,
                   "--data-dir", self.datadir, "--http-listener", "off",
                   "--log-level", self.log_level, "--max-connections", "100000",
                   "--persistence", self.mode]
            if self.queue:
                cmd += ["--max-queued-messages", str(self.queue)]
            return cmd
        conf = os.path.join(self.datadir, "..", "mosquitto-%d.conf" % self.port)
        with open(conf, "w") as f:
            f.write(mosquitto_conf(self.port, self.datadir, self.queue))
        return [self.mosquitto, "-c", os.path.abspath(conf)]

    def start(self, wait=True):
        self.starts += 1
        self.log_path = os.path.join(os.path.dirname(self.datadir), "%s-%d-%d.log" % (
            self.kind, self.port, self.starts))
        cmd = self.pin + self.command()
        with open(self.log_path, "w") as logf:
            self.t_start = time.monotonic()
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, cwd=os.path.dirname(self.datadir),
                                         start_new_session=True)
        Server.live.add(self)
        if wait:
            self.wait_port()
        return self

    def wait_port(self, poll=0.02):
        """Seconds from the process start until the port accepted a connection."""
        deadline = self.t_start + START_TIMEOUT
        while True:
            status = self.proc.poll()
            if status is not None:
                raise PersistError("%s exited with status %d before listening: %s"
                                   % (self.kind, status, tail(self.log_path)))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1.0):
                    return time.monotonic() - self.t_start
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise PersistError("%s did not accept connections on port %d within %.0f s: %s"
                                   % (self.kind, self.port, START_TIMEOUT, tail(self.log_path)))
            time.sleep(poll)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM and wait: (exit status, seconds it took)."""
        t0 = time.monotonic()
        try:
            if self.alive():
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.kill9()
                    raise PersistError("%s did not exit within %.0f s of SIGTERM (killed)"
                                       % (self.kind, STOP_TIMEOUT))
            return self.proc.returncode, time.monotonic() - t0
        finally:
            Server.live.discard(self)

    def kill9(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        Server.live.discard(self)

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    @classmethod
    def kill_all(cls):
        for s in list(cls.live):
            s.kill9()


def pin_self(pins):
    """Pins this process to the clients' core; returns the affinity to restore."""
    old = os.sched_getaffinity(0)
    if pins and pins[1]:
        core = int(pins[1][-1])
        os.sched_setaffinity(0, {core})
    return old


# ---------------------------------------------------------------- throughput

def run_bench(agora, args, port, pid, pin):
    """`agora bench ... --json`: (document or None, problem text or '')."""
    d = float(args[args.index("-d") + 1])
    cmd = pin + [agora, "bench"] + list(args) + ["-p", str(port), "--json", "--pid", str(pid)]
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=d + BENCH_SLACK)
    except subprocess.TimeoutExpired:
        return None, "agora bench did not finish within %.0f s (killed)" % (d + BENCH_SLACK)
    doc = None
    for line in reversed(p.stdout.strip().splitlines()):
        if line.strip().startswith("{"):
            try:
                doc = json.loads(line)
            except ValueError:
                return None, "unparsable JSON from agora bench"
            break
    if doc is None:
        return None, "no JSON from agora bench (exit %d): %s" % (
            p.returncode, (p.stderr or p.stdout).strip()[-300:])
    if doc.get("error"):
        return doc, "agora bench: " + doc["error"]
    bad = ["%d %s" % (doc.get(k, 0), what) for k, what in (
        ("lost", "lost"), ("duplicates", "duplicated"), ("out_of_order", "out of order"),
        ("acks_missing", "publishes never acknowledged")) if doc.get(k, 0)]
    if bad:
        return doc, ", ".join(bad)
    if p.returncode != 0:
        return doc, "agora bench exited with status %d" % p.returncode
    if not doc.get("delivered"):
        return doc, "nothing delivered"
    return doc, ""


def throughput(ctx):
    args = THROUGHPUT_ARGS_QUICK if ctx["quick"] else THROUGHPUT_ARGS
    runs = []
    configs = [c for c in THROUGHPUT_CONFIGS if c[2] in ctx["brokers"]]
    log = ctx["log"]
    log("\n== persistence throughput: QoS 1, 1 -> 1 persistent subscriber  (agora bench %s)"
        % " ".join(args))
    for rep in range(ctx["repeat"]):
        k = rep % len(configs)
        for name, title, kind, mode in configs[k:] + configs[:k]:
            d = os.path.join(ctx["workdir"], "tp-%s-%d" % (name, rep), "data")
            # log level info: the broker says when it rewrites its log (nothing per message)
            srv = Server(kind, mode, d, ctx["pins"][0], ctx["agora"], ctx["mosquitto"],
                         queue=DUR_QUEUE, log_level="info")
            run = {"config": name, "rep": rep, "ok": False, "reason": ""}
            try:
                srv.start()
                doc, problem = run_bench(ctx["agora"], args, srv.port, srv.pid, ctx["pins"][1])
                size = file_size(srv.data_file)
                status, _ = srv.stop()
                if not problem and status != 0:
                    problem = "%s exited with status %s: %s" % (kind, status, tail(srv.log_path))
                run.update(ok=not problem, reason=problem, doc=doc, file_run=size,
                           file_stop=file_size(srv.data_file),
                           rewrites=len(REWRITE_RE.findall(srv.log_text())))
                if doc and not problem:
                    b = doc.get("broker", {})
                    run["rate"] = doc["delivered_per_s"]
                    run["timed_out"] = doc.get("timed_out", False)
                    run["delivered"] = doc["delivered"]
                    run["broker_cpu"] = b.get("cpu_pct")
                    run["bench_cpu"] = doc.get("bench", {}).get("cpu_pct")
                    cpu = b.get("user_s", 0) + b.get("sys_s", 0)
                    run["sys_share"] = b.get("sys_s", 0) / cpu * 100 if cpu else None
                    run["cpu_us_per_msg"] = cpu / doc["delivered"] * 1e6
            except (PersistError, OSError) as e:
                run["reason"] = str(e)
            finally:
                srv.kill9()
                shutil.rmtree(os.path.dirname(d), ignore_errors=True)
            runs.append(run)
            if run["ok"]:
                log("  [%d/%d] %-40s %s msg/s, broker CPU %.0f%%, bench CPU %.0f%%, %d delivered%s"
                    % (rep + 1, ctx["repeat"], title, "{:,.0f}".format(run["rate"]),
                       run["broker_cpu"] or 0, run["bench_cpu"] or 0, run["delivered"],
                       " (cut by -d)" if run["timed_out"] else ""))
            else:
                log("  [%d/%d] %-40s FAILED: %s" % (rep + 1, ctx["repeat"], title, run["reason"]))
    return {"args": args, "runs": runs, "configs": configs}


# ---------------------------------------------------------------- durability

def _seq_payload(seq):
    return struct.pack("!Q", seq) + b"d" * (DUR_PAYLOAD - 8)


class _Stream:
    """One side of a durability round: a non-blocking socket and what it counts."""

    def __init__(self, client):
        self.s = client.s
        self.buf = client.buf
        self.out = bytearray()
        self.alive = True
        self.s.setblocking(False)


def durability_round(ctx, kind, mode, variant, rnd):
    """One round: QoS 1 load, kill -9 at a random moment, restart, count."""
    rng = ctx["rng"]
    lo, hi = DUR_KILL_AFTER_QUICK if ctx["quick"] else DUR_KILL_AFTER
    kill_after = rng.uniform(lo, hi)
    d = os.path.join(ctx["workdir"], "dur-%s-%s-%d" % (kind, variant, rnd), "data")
    srv = Server(kind, mode, d, ctx["pins"][0], ctx["agora"], ctx["mosquitto"],
                 queue=DUR_QUEUE, log_level="info")
    res = {"broker": kind, "mode": mode, "variant": variant, "round": rnd,
           "kill_after": kill_after, "ok": False, "reason": ""}
    sub_id = "dur-sub-%d" % rnd
    timer = None
    try:
        srv.start()
        sub = Client(srv.port, sub_id, clean=False)
        sub.subscribe(DUR_TOPIC, 1)
        if variant == "offline":
            sub.disconnect()
            sub = None
        pub = _Stream(Client(srv.port, "dur-pub-%d" % rnd, clean=True))
        sub = _Stream(sub) if sub else None
        streams = [pub] + ([sub] if sub else [])
        acked, received = set(), set()
        deliveries = 0
        inflight = {}                       # packet id -> seq
        sent = 0
        killed_at = {}

        def kill():
            # the moment is the timer's, whatever the loop below is doing
            killed_at["acked"] = len(acked)
            killed_at["sent"] = sent
            try:
                os.kill(srv.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(kill_after, kill)
        t_load = time.monotonic()
        timer.start()
        t_end = t_load + kill_after + DUR_LOAD_SLACK
        while any(st.alive for st in streams):
            if time.monotonic() > t_end:
                raise PersistError("the connections were still open %.0f s after the kill"
                                   % DUR_LOAD_SLACK)
            # the publisher: its window, and for a connected subscriber the end-to-end one
            while (pub.alive and sent < DUR_MAX_MESSAGES and len(inflight) < DUR_PUB_WINDOW
                   and (sub is None or sent - len(received) < DUR_E2E_WINDOW)):
                pid = sent % 65535 + 1
                inflight[pid] = sent
                pub.out += publish_packet(DUR_TOPIC, _seq_payload(sent), pid)
                sent += 1
            live = [st for st in streams if st.alive]
            for st in live:
                if st.out:
                    try:
                        del st.out[:st.s.send(st.out)]
                    except BlockingIOError:
                        pass
                    except OSError:
                        st.out.clear()      # the broker is gone; reading tells the rest
            r, _w, _x = select.select([st.s for st in live],
                                      [st.s for st in live if st.out], [], 0.05)
            for st in live:
                if st.s not in r:
                    continue
                try:
                    data = st.s.recv(262144)
                except OSError:
                    data = b""
                if not data:
                    st.alive = False
                    continue
                st.buf += data
                for first, body in parse_packets(st.buf):
                    if st is pub and first >> 4 == 4:
                        seq = inflight.pop(struct.unpack("!H", body[:2])[0], None)
                        if seq is not None:
                            acked.add(seq)
                    elif st is sub and first >> 4 == 3:
                        n = struct.unpack("!H", body[:2])[0]
                        pid = struct.unpack("!H", body[2 + n:4 + n])[0]
                        received.add(struct.unpack("!Q", body[4 + n:12 + n])[0])
                        deliveries += 1
                        sub.out += puback_packet(pid)
        timer.join()
        srv.kill9()                         # reaps it
        for st in streams:
            st.s.close()
        if not killed_at:
            raise PersistError("the connections closed before the kill: %s" % tail(srv.log_path))
        res.update(sent=sent, acked=len(acked), acked_at_kill=killed_at["acked"],
                   received_before=len(received))
        # restart on the same data directory and port; the subscriber comes back
        srv.start()
        back = Client(srv.port, sub_id, clean=False)
        res["session_present"] = back.session_present
        t_end = time.monotonic() + DUR_DRAIN_SECONDS
        after = 0
        while time.monotonic() < t_end:
            pk = back.packet(timeout=DUR_QUIET)
            if pk is None:
                break
            first, body = pk
            if first >> 4 == 3:
                n = struct.unpack("!H", body[:2])[0]
                pid = struct.unpack("!H", body[2 + n:4 + n])[0]
                received.add(struct.unpack("!Q", body[4 + n:12 + n])[0])
                deliveries += 1
                after += 1
                back.s.sendall(puback_packet(pid))
        back.disconnect()
        m = RESTORED_RE.search(srv.log_text())
        res["restored_line"] = m.group(0) if m else ""
        status, _ = srv.stop()
        lost = acked - received
        res.update(received_after=after, lost=len(lost), duplicates=deliveries - len(received),
                   unacked_delivered=len(received - acked), ok=True, exit_status=status)
        if lost:
            res["lost_sample"] = sorted(lost)[:10]
        if status != 0:
            res["ok"] = False
            res["reason"] = "exit status %s after the restart: %s" % (status, tail(srv.log_path))
    except (PersistError, OSError) as e:
        res["reason"] = "%s: %s" % (type(e).__name__, e)
        res["ok"] = False
        res["log_tail"] = tail(srv.log_path) if srv.log_path else ""
    finally:
        if timer:
            timer.cancel()
        srv.kill9()
        if not ctx.get("keep"):
            shutil.rmtree(os.path.dirname(d), ignore_errors=True)
    return res


def durability(ctx):
    rounds = DUR_ROUNDS_QUICK if ctx["quick"] else DUR_ROUNDS
    configs = [("agora", "normal"), ("mosquitto", "true")]
    configs = [c for c in configs if c[0] in ctx["brokers"]]
    log = ctx["log"]
    log("\n== persistence durability: QoS 1 load to a persistent subscriber, kill -9, restart"
        " (%d round(s) per broker and variant)" % rounds)
    out = []
    for rnd in range(rounds):
        for kind, mode in configs:
            for variant in ("online", "offline"):
                r = durability_round(ctx, kind, mode, variant, rnd)
                out.append(r)
                title = "Agora (normal)" if kind == "agora" else "Mosquitto (persistence true)"
                if r["ok"]:
                    log("  [%d/%d] %-30s %-7s kill -9 after %.2f s: %6d acknowledged, %6d lost,"
                        " %d duplicates, session present %d after the restart"
                        % (rnd + 1, rounds, title, variant, r["kill_after"], r["acked"],
                           r["lost"], r["duplicates"], r["session_present"]))
                else:
                    log("  [%d/%d] %-30s %-7s FAILED: %s" % (rnd + 1, rounds, title, variant,
                                                         r["reason"]))
    return {"rounds": rounds, "runs": out}


# ---------------------------------------------------------------- restart

def load_sessions(port, n, deadline, prefix="ps"):
    """n persistent sessions (clean session 0), each with one QoS 1 subscription
    ps/<i>; RESTART_PARALLEL connections at once. Returns the seconds it took."""
    t0 = time.monotonic()
    sel = selectors.DefaultSelector()
    nxt = done = 0
    active = 0
    while done < n:
        while nxt < n and active < RESTART_PARALLEL:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.connect_ex(("127.0.0.1", port))
            st = {"i": nxt, "buf": bytearray(), "stage": 0}
            sel.register(s, selectors.EVENT_WRITE, st)
            nxt += 1
            active += 1
        if time.monotonic() > deadline:
            raise PersistError("loading %d sessions: only %d done within the bound" % (n, done))
        for key, ev in sel.select(timeout=1.0):
            s, st = key.fileobj, key.data
            if st["stage"] == 0:
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise PersistError("session loader: connect failed: %s" % os.strerror(err))
                i = st["i"]
                s.send(connect_packet("%s-%06d" % (prefix, i), False)
                       + subscribe_packet(1, "%s/%d" % (prefix, i), 1))
                st["stage"] = 1
                sel.modify(s, selectors.EVENT_READ, st)
                continue
            try:
                data = s.recv(4096)
            except ConnectionError:
                data = b""
            if st["stage"] == 1:
                if not data:
                    raise PersistError("session loader: the broker closed session %d" % st["i"])
                st["buf"] += data
                if len(st["buf"]) >= 9:   # CONNACK (4 bytes) and SUBACK (5 bytes)
                    b = st["buf"]
                    if b[0] != 0x20 or b[3] != 0 or b[4] != 0x90 or b[8] >= 0x80:
                        raise PersistError("session loader: unexpected answer %r" % bytes(b[:9]))
                    s.send(DISCONNECT)
                    st["stage"] = 2
                continue
            if not data:              # stage 2: the broker closed after DISCONNECT
                sel.unregister(s)
                s.close()
                active -= 1
                done += 1
    sel.close()
    return time.monotonic() - t0


def load_retained(port, n, deadline, prefix="pr"):
    """n retained QoS 1 messages on pr/<i> (64-byte payloads), over
    RESTART_RETAIN_CONNS pipelined connections, each PUBACK counted."""
    t0 = time.monotonic()
    conns = []
    per = (n + RESTART_RETAIN_CONNS - 1) // RESTART_RETAIN_CONNS
    for c in range(RESTART_RETAIN_CONNS):
        cl = Client(port, "%s-loader-%d" % (prefix, c), clean=True)
        cl.s.setblocking(False)
        lo = c * per
        conns.append({"cl": cl, "first": lo, "next": lo, "end": min(n, lo + per), "acked": 0,
                      "out": bytearray(), "rest": b""})
    pad = b"r" * (RESTART_PAYLOAD - 8)
    total_acked = 0
    while total_acked < n:
        if time.monotonic() > deadline:
            raise PersistError("loading %d retained messages: only %d acknowledged within the bound"
                               % (n, total_acked))
        rl, wl = [], []
        for c in conns:
            if c["next"] < c["end"] and (c["next"] - c["first"]) - c["acked"] < RESTART_RETAIN_WINDOW \
                    and len(c["out"]) < 65536:
                k = min(c["end"], c["next"] + 500)
                c["out"] += b"".join(
                    b"\x33" + _varint(2 + len(t) + 2 + RESTART_PAYLOAD) + struct.pack("!H", len(t))
                    + t + struct.pack("!H", i % 65535 + 1) + b"%08d" % i + pad
                    for i, t in ((i, b"%s/%d" % (prefix.encode(), i)) for i in range(c["next"], k)))
                c["next"] = k
            rl.append(c["cl"].s)
            if c["out"]:
                wl.append(c["cl"].s)
        r, w, _x = select.select(rl, wl, [], 1.0)
        for c in conns:
            s = c["cl"].s
            if s in w:
                try:
                    k = s.send(c["out"])
                    del c["out"][:k]
                except BlockingIOError:
                    pass
            if s in r:
                data = s.recv(262144)
                if not data:
                    raise PersistError("retained loader: the broker closed a connection")
                data = c["rest"] + data
                whole = len(data) // 4 * 4      # only PUBACKs come back: 4 bytes each
                if data[0] != 0x40:
                    raise PersistError("retained loader: unexpected packet 0x%02x" % data[0])
                c["rest"] = data[whole:]
                c["acked"] += whole // 4
                total_acked += whole // 4
    for c in conns:
        c["cl"].s.setblocking(True)
        c["cl"].disconnect()
    return time.monotonic() - t0


def probe_ready(srv, sample_ids, retained_topic, t_listen_poll=0.002):
    """After srv.start(wait=False): times from the process start until the port
    accepts, and until a sampled session's CONNACK says session present = 1."""
    deadline = srv.t_start + START_TIMEOUT
    sock = None
    while sock is None:
        if srv.proc.poll() is not None:
            raise PersistError("%s exited with status %d during the restart: %s"
                               % (srv.kind, srv.proc.returncode, tail(srv.log_path)))
        try:
            sock = socket.create_connection(("127.0.0.1", srv.port), timeout=START_TIMEOUT)
        except OSError:
            if time.monotonic() > deadline:
                raise PersistError("%s did not listen within %.0f s" % (srv.kind, START_TIMEOUT))
            time.sleep(t_listen_poll)
    t_listen = time.monotonic() - srv.t_start
    first = Client(srv.port, sample_ids[0], clean=False, timeout=START_TIMEOUT, sock=sock)
    t_ready = time.monotonic() - srv.t_start
    present = [first.session_present]
    first.disconnect()
    for cid in sample_ids[1:]:
        c = Client(srv.port, cid, clean=False)
        present.append(c.session_present)
        c.disconnect()
    # a retained message comes back to a new subscriber
    c = Client(srv.port, "probe-retained", clean=True)
    c.s.sendall(subscribe_packet(1, retained_topic, 1))
    got = None
    t_end = time.monotonic() + 5.0
    while time.monotonic() < t_end:
        pk = c.packet(timeout=5.0)
        if pk is None:
            break
        f, body = pk
        if f >> 4 == 3:
            n = struct.unpack("!H", body[:2])[0]
            off = 2 + n + (2 if (f >> 1) & 3 else 0)
            got = body[off:]
            if (f >> 1) & 3:
                c.s.sendall(puback_packet(struct.unpack("!H", body[2 + n:4 + n])[0]))
            break
    c.disconnect()
    return t_listen, t_ready, present, got


def restart_once(ctx, srv, how, sample_ids, retained_idx, prefix):
    """Stops srv (SIGTERM or kill -9), starts it again, measures."""
    m = {"how": how}
    m["rss_before"] = rss_bytes(srv.pid)
    m["log_before"] = file_size(srv.data_file)
    if how == "kill -9":
        srv.kill9()
        m["stop_s"] = 0.0
    else:
        status, m["stop_s"] = srv.stop()
        if status != 0:
            raise PersistError("%s exited with status %s at SIGTERM: %s"
                               % (srv.kind, status, tail(srv.log_path)))
        rw = REWRITE_RE.search(srv.log_text())
        if rw:
            m["rewrite_ms"] = int(rw.group(3))
    m["log_at_start"] = file_size(srv.data_file)
    srv.start(wait=False)
    topic = "%s/%d" % (prefix, retained_idx)
    m["listen_s"], m["ready_s"], present, got = probe_ready(srv, sample_ids, topic)
    m["session_present"] = present
    m["retained_ok"] = got is not None and got[:8] == b"%08d" % retained_idx
    time.sleep(0.2)
    m["rss_after"] = rss_bytes(srv.pid)
    mt = RESTORED_RE.search(srv.log_text())
    if mt:
        m["restored"] = {"sessions": int(mt.group(2)), "retained": int(mt.group(3)),
                         "queued": int(mt.group(4)), "ms": int(mt.group(5))}
    return m


def restart(ctx):
    quick = ctx["quick"]
    nret = RESTART_RETAINED_QUICK if quick else RESTART_RETAINED
    nses = RESTART_SESSIONS_QUICK if quick else RESTART_SESSIONS
    log = ctx["log"]
    log("\n== persistence restart: %s retained messages and %s persistent sessions"
        % ("{:,}".format(nret), "{:,}".format(nses)))
    res = {"retained": nret, "sessions": nses, "brokers": []}
    rng = ctx["rng"]
    configs = [("agora", "normal", ("kill -9", "SIGTERM")), ("mosquitto", "true", ("SIGTERM",))]
    for kind, mode, hows in configs:
        if kind not in ctx["brokers"]:
            continue
        d = os.path.join(ctx["workdir"], "restart-%s" % kind, "data")
        srv = Server(kind, mode, d, ctx["pins"][0], ctx["agora"], ctx["mosquitto"],
                     log_level="info")
        entry = {"broker": kind, "mode": mode, "ok": False, "reason": "", "restarts": []}
        res["brokers"].append(entry)
        try:
            t0 = time.monotonic()
            srv.start(wait=False)
            entry["empty_listen_s"] = srv.wait_port(poll=0.002)
            entry["rss_empty"] = rss_bytes(srv.pid)
            cpu0 = cpu_seconds(srv.pid)
            deadline = time.monotonic() + RESTART_LOAD_SECONDS
            entry["load_sessions_s"] = load_sessions(srv.port, nses, deadline)
            log("  %-10s %s sessions loaded in %.1f s" % (kind, "{:,}".format(nses),
                                                        entry["load_sessions_s"]))
            deadline = time.monotonic() + RESTART_LOAD_SECONDS
            entry["load_retained_s"] = load_retained(srv.port, nret, deadline)
            log("  %-10s %s retained messages loaded in %.1f s" % (
                kind, "{:,}".format(nret), entry["load_retained_s"]))
            cpu1 = cpu_seconds(srv.pid)
            entry["load_cpu_s"] = cpu1 - cpu0 if cpu0 is not None and cpu1 is not None else None
            rewrites = [(int(a), int(b), int(c), int(d or c))
                        for a, b, c, d in REWRITE_RE.findall(srv.log_text())]
            entry["load_rewrites"] = rewrites
            samples = ["ps-%06d" % i for i in rng.sample(range(nses), RESTART_SAMPLES)]
            for how in hows:
                m = restart_once(ctx, srv, how, samples, rng.randrange(nret), "pr")
                entry["restarts"].append(m)
                r = m.get("restored", {})
                log("  %-10s after %-8s listening after %.2f s, session present=%s after %.2f s,"
                    " restored in %s ms, RSS %.0f MiB (before %.0f MiB), log %.1f MiB, retained %s"
                    % (kind, how, m["listen_s"], "".join(str(int(p)) for p in m["session_present"]),
                       m["ready_s"], r.get("ms", "?"), (m["rss_after"] or 0) / 1048576,
                       (m["rss_before"] or 0) / 1048576, (m["log_at_start"] or 0) / 1048576,
                       "ok" if m["retained_ok"] else "MISSING"))
            status, entry["final_stop_s"] = srv.stop()
            entry["log_final"] = file_size(srv.data_file)
            entry["ok"] = True
            problems = []
            for m in entry["restarts"]:
                if not all(m["session_present"]):
                    problems.append("after %s a sampled session was not present" % m["how"])
                if not m["retained_ok"]:
                    problems.append("after %s a sampled retained message was missing" % m["how"])
                r = m.get("restored")
                if kind == "agora" and (not r or r["sessions"] < nses or r["retained"] < nret):
                    problems.append("after %s the log line says %s" % (m["how"], r))
            if problems:
                entry["ok"] = False
                entry["reason"] = "; ".join(problems)
            entry["total_s"] = time.monotonic() - t0
        except (PersistError, OSError) as e:
            entry["reason"] = "%s: %s" % (type(e).__name__, e)
            log("  %-10s FAILED: %s" % (kind, entry["reason"]))
        finally:
            srv.kill9()
            if not ctx.get("keep"):
                shutil.rmtree(os.path.dirname(d), ignore_errors=True)
    return res


# ---------------------------------------------------------------- run

def run(agora, mosquitto, workdir, pins, quick=False, repeat=None, log=_log, parts=PARTS,
        brokers=("agora", "mosquitto"), seed=None, keep=False):
    """pins: (broker pin command, client pin command), as in compare.py."""
    if not os.access(mosquitto, os.X_OK):
        brokers = tuple(b for b in brokers if b != "mosquitto")
    ctx = {"agora": agora, "mosquitto": mosquitto, "workdir": workdir, "pins": pins,
           "quick": quick, "repeat": repeat or (1 if quick else 3), "log": log,
           "brokers": brokers, "keep": keep,
           "rng": random.Random(seed if seed is not None else time.time_ns())}
    res = {"quick": quick, "repeat": ctx["repeat"], "pins": [" ".join(p) for p in pins],
           "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "error": ""}
    old = pin_self(pins)
    t0 = time.monotonic()
    try:
        if "throughput" in parts:
            res["throughput"] = throughput(ctx)
        if "durability" in parts:
            res["durability"] = durability(ctx)
        if "restart" in parts:
            res["restart"] = restart(ctx)
    finally:
        os.sched_setaffinity(0, old)
        Server.kill_all()
    res["elapsed"] = time.monotonic() - t0
    res["failed"] = failures(res)
    return res


def failures(res):
    n = 0
    if res.get("throughput"):
        n += sum(not r["ok"] for r in res["throughput"]["runs"])
    if res.get("durability"):
        n += sum(not r["ok"] for r in res["durability"]["runs"])
    if res.get("restart"):
        n += sum(not b["ok"] for b in res["restart"]["brokers"])
    return n


# ---------------------------------------------------------------- the report

def fmt_int(v):
    return "–" if v is None else "{:,.0f}".format(v)


def fmt_mib(v):
    if v is None:
        return "–"
    if v < 1048576:
        return "{:,.0f} KiB".format(v / 1024)
    return "{:,.1f} MiB".format(v / 1048576)


def fmt_s(v):
    if v is None:
        return "–"
    return "%.0f ms" % (v * 1000) if v < 1 else "%.2f s" % v


def spread(vals, fmt=fmt_int):
    if not vals:
        return "failed"
    med = statistics.median(vals)
    if fmt(min(vals)) == fmt(max(vals)):
        return fmt(med)
    return "%s (%s–%s)" % (fmt(med), fmt(min(vals)), fmt(max(vals)))


def throughput_stats(tp):
    """{config: {"rates": [...], ...}}"""
    out = {}
    for name, title, kind, mode in tp["configs"]:
        ok = [r for r in tp["runs"] if r["config"] == name and r["ok"]]
        out[name] = {"title": title, "rates": [r["rate"] for r in ok], "runs": ok,
                     "n": sum(1 for r in tp["runs"] if r["config"] == name)}
    return out


def _median(vals):
    return statistics.median(vals) if vals else None


def paired_ratios(tp, name, base="agora_off"):
    """name's rate / base's rate within each repetition (both ran back to back)."""
    out = []
    for rep in sorted({r["rep"] for r in tp["runs"]}):
        a = next((r for r in tp["runs"] if r["rep"] == rep and r["config"] == name and r["ok"]), None)
        b = next((r for r in tp["runs"] if r["rep"] == rep and r["config"] == base and r["ok"]), None)
        if a and b:
            out.append(a["rate"] / b["rate"])
    return out


def targets(res):
    """[(target, measured, met: True/False/None)] for compare.py's Targets table."""
    out = []
    if res.get("throughput"):
        st = throughput_stats(res["throughput"])
        off = _median(st.get("agora_off", {}).get("rates", []))
        normal = _median(st.get("agora_normal", {}).get("rates", []))
        title = ("QoS 1 1->1 to a persistent connected subscriber, `persistence normal` >= 50% of"
                 " `persistence off`")
        if off and normal:
            pr = paired_ratios(res["throughput"], "agora_normal")
            out.append((title, "%.0f%% (%s vs %s deliveries/s, medians; within each repetition: %s)"
                        % (normal / off * 100, fmt_int(normal), fmt_int(off),
                           ", ".join("%.0f%%" % (x * 100) for x in pr) or "–"),
                        normal >= TARGET_RATIO * off))
        else:
            out.append((title, "not measured", None))
    if res.get("durability"):
        runs = [r for r in res["durability"]["runs"] if r["broker"] == "agora"]
        title = "kill -9 under QoS 1 load: acknowledged messages never delivered, Agora = 0"
        ok = [r for r in runs if r["ok"]]
        if ok:
            lost = sum(r["lost"] for r in ok)
            acked = sum(r["acked"] for r in ok)
            out.append((title, "%d of %s acknowledged (%d rounds%s)" % (
                lost, fmt_int(acked), len(ok),
                ", %d failed" % (len(runs) - len(ok)) if len(ok) < len(runs) else ""),
                lost == 0 and len(ok) == len(runs)))
        else:
            out.append((title, "not measured", None))
    if res.get("restart"):
        a = next((b for b in res["restart"]["brokers"] if b["broker"] == "agora"), None)
        title = ("restart with %s retained and %s sessions: listener closed at most a few"
                 " seconds (5 s)" % (fmt_int(res["restart"]["retained"]),
                                     fmt_int(res["restart"]["sessions"])))
        if a and a["restarts"]:
            worst = max(m["listen_s"] for m in a["restarts"])
            out.append((title, "%s at most (%s)" % (fmt_s(worst), ", ".join(
                "%s %s" % (m["how"], fmt_s(m["listen_s"])) for m in a["restarts"])),
                worst <= 5.0 and a["ok"]))
        else:
            out.append((title, "not measured" if not a else "failed: " + a["reason"],
                        None if not a else False))
    return out


def markdown(res, heading="##"):
    L = []
    w = L.append
    h3 = heading + "#"
    w("%s Persistence" % heading)
    w("")
    if res.get("quick"):
        w("> **Smoke run (`--quick`)**: small counts, one repetition; the format, not the figures.")
        w("")
    w("The broker's durable state (issue 14): `persistence off|normal|full`, the log"
      " `data_dir/broker.log` ([mqtt.md](mqtt.md), \"Durable state\"). Three measures, by"
      " `bench/persistence.py`; brokers pinned as above (%s), clients (`agora bench`, and the"
      " script itself while it loads, counts and probes) on the other core; each broker gets"
      " its own fresh data directory. Mosquitto runs with `persistence true` and"
      " `persistence_location` in that directory, its `autosave_interval` left at its default"
      " (1800 s): it writes its state at those intervals and at a clean stop, not per message."
      % ("`%s` for brokers, `%s` for clients" % tuple(res["pins"]) if res["pins"][0] else "not pinned"))
    w("")
    tgt = targets(res)
    if tgt:
        w("| target | measured | |")
        w("| --- | --- | --- |")
        for title, measured, met in tgt:
            w("| %s | %s | %s |" % (title.replace("->", "→").replace(">=", "≥"), measured,
                                    "**met**" if met else "not measured" if met is None
                                    else "**not met**"))
        w("")

    tp = res.get("throughput")
    if tp:
        st = throughput_stats(tp)
        off = _median(st.get("agora_off", {}).get("rates", []))
        w("%s QoS 1 to a persistent subscriber" % h3)
        w("")
        w("`agora bench %s` (one publisher, one subscriber that connects with clean session 0"
          " and stays connected, 64-byte payloads, at most 1,000 messages in flight end to end),"
          " %d run(s) per configuration, the order rotating; median (min–max). Every message to"
          " the subscriber is part of its session, so with `normal` it is in the log before the"
          " publisher's PUBACK leaves, and its PUBACK from the subscriber is logged too. Both"
          " brokers run with `max_queued_messages %s`: with Mosquitto's 1,000 (its default) a"
          " run lost a few messages now and then, its 20 unacknowledged ones coming on top of"
          " the queue that the 1,000 in flight fill."
          % (" ".join(tp["args"]), res["repeat"], fmt_int(DUR_QUEUE)))
        w("")
        w("| configuration | deliveries/s | % of `persistence off` | broker CPU (% of a core) |"
          " of which kernel | broker CPU per delivery (µs) | load generator CPU | data file at the"
          " end of the run · after the stop | log rewrites | runs ok |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name, s in st.items():
            med = _median(s["rates"])
            runs = s["runs"]

            def col(key, fmt, runs=runs):
                vals = [r[key] for r in runs if r.get(key) is not None]
                return spread(vals, fmt) if vals else "none" if runs else "–"

            pct = lambda v: "%.0f%%" % v
            w("| %s | %s | %s | %s | %s | %s | %s | %s · %s | %s | %d/%d |" % (
                s["title"], spread(s["rates"]),
                ("**%.0f%%**" % (med / off * 100)) if med and off and name.startswith("agora")
                else ("%.0f%%" % (med / off * 100) if med and off else "–"),
                col("broker_cpu", pct), col("sys_share", pct),
                col("cpu_us_per_msg", lambda v: "%.2f" % v), col("bench_cpu", pct),
                col("file_run", fmt_mib), col("file_stop", fmt_mib),
                col("rewrites", fmt_int) if s["title"].startswith("Agora") else "–",
                len(runs), s["n"]))
        w("")
        cut = [r for r in tp["runs"] if r["ok"] and r.get("timed_out")]
        if cut:
            w("Runs cut by `-d` (every message sent before it was delivered; the rate is over the"
              " time taken): %s." % ", ".join("%s (repetition %d)" % (
                  st[r["config"]]["title"], r["rep"] + 1) for r in cut))
            w("")
        bad = [r for r in tp["runs"] if not r["ok"]]
        for r in bad:
            w("- failed: %s, repetition %d: %s" % (st[r["config"]]["title"], r["rep"] + 1,
                                                    r["reason"].replace("|", "\\|")))
        if bad:
            w("")

    du = res.get("durability")
    if du:
        w("%s kill -9 under load: acknowledged messages lost" % h3)
        w("")
        w("Each round: a fresh broker; a subscriber connects with clean session 0 and"
          " subscribes to `%s` at QoS 1; *online*: it stays connected, reads and acknowledges"
          " (the publisher keeps at most %d messages ahead of it); *offline*: it disconnects at"
          " once, so everything queues in its session. A publisher sends QoS 1 messages of %d"
          " bytes carrying sequence numbers, %d awaiting PUBACK at a time, and notes each seq"
          " whose PUBACK it gets. A timer sends `kill -9` to the broker at a random moment"
          " %.1f–%.1f s into the load, whatever the clients are doing; they read what reaches"
          " them until their connections close (a PUBACK read then still counts). The broker"
          " restarts on the same data directory and port; the subscriber reconnects with clean"
          " session 0 and reads (acknowledging) until %.0f s pass without a message."
          " **Lost** = seqs the publisher got a PUBACK for that the subscriber never received,"
          " before or after the restart. Both brokers run with `max_queued_messages %s` so that"
          " no queue limit drops a message (the default is 1,000 for both). %d round(s) per"
          " broker and variant."
          % (DUR_TOPIC, DUR_E2E_WINDOW, DUR_PAYLOAD, DUR_PUB_WINDOW,
             (DUR_KILL_AFTER_QUICK if res["quick"] else DUR_KILL_AFTER)[0],
             (DUR_KILL_AFTER_QUICK if res["quick"] else DUR_KILL_AFTER)[1],
             DUR_QUIET, fmt_int(DUR_QUEUE), du["rounds"]))
        w("")
        w("| broker | subscriber | round | kill -9 after | published | acknowledged (PUBACK)"
          " | received before the kill | received after the restart (with duplicates) |"
          " **lost** | duplicates | session present after the restart |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for r in sorted(du["runs"], key=lambda r: (r["broker"], r["variant"] != "online", r["round"])):
            title = "Agora, `normal`" if r["broker"] == "agora" else "Mosquitto, `persistence true`"
            if not r["ok"]:
                w("| %s | %s | %d | failed: %s | | | | | | | |" % (
                    title, r["variant"], r["round"] + 1, r["reason"].replace("|", "\\|")))
                continue
            w("| %s | %s | %d | %.2f s | %s | %s | %s | %s | **%s** | %s | %s |" % (
                title, r["variant"], r["round"] + 1, r["kill_after"], fmt_int(r["sent"]),
                fmt_int(r["acked"]), fmt_int(r["received_before"]), fmt_int(r["received_after"]),
                fmt_int(r["lost"]), fmt_int(r["duplicates"]),
                "yes" if r["session_present"] else "**no**"))
        w("")
        w("Duplicates are allowed at QoS 1 (at least once): after the restart the broker sends"
          " its in-flight messages again with DUP 1. Mosquitto's state on disk is its last save:"
          " the session it restores (if any) is the one of its last autosave or clean stop.")
        w("")

    rs = res.get("restart")
    if rs:
        w("%s Restart with %s retained messages and %s persistent sessions" % (
            h3, fmt_int(rs["retained"]), fmt_int(rs["sessions"])))
        w("")
        w("A fresh broker (log level info, for its own restore line) is loaded with %s"
          " persistent sessions (clean session 0, each subscribing to its own `ps/<i>` at QoS 1,"
          " then DISCONNECT; %d connections at a time) and %s retained messages of %d bytes on"
          " `pr/<i>` (QoS 1, %d connections each keeping %s PUBLISH awaiting PUBACK), then stopped"
          " with `kill -9` and started again, then stopped with SIGTERM and started again. At each"
          " start: **listening** = from the process start until the MQTT port accepts a TCP"
          " connection (polled every 2 ms); **ready** = until a sampled session's CONNACK (clean"
          " session 0, on that first connection) comes back with session present = 1;"
          " **restore** = the broker's own log line `persistence normal: ...: restored S"
          " sessions, R retained messages, Q queued messages in T ms`; then %d sampled sessions"
          " must be present and one sampled retained message must come back to a new"
          " subscriber. RSS is VmRSS from `/proc/PID/status` once that is done. *Stop took* is"
          " from SIGTERM to the process's exit. An empty start (the loading broker's own) is the"
          " baseline for how long the listener stays closed."
          % (fmt_int(rs["sessions"]), RESTART_PARALLEL, fmt_int(rs["retained"]), RESTART_PAYLOAD,
             RESTART_RETAIN_CONNS, fmt_int(RESTART_RETAIN_WINDOW), RESTART_SAMPLES))
        w("")
        w("| broker | stop | stop took | data file at the start | listening after | ready (session"
          " present = 1) after | restore (broker's log) | restored (sessions · retained · queued)"
          " | RSS after the restart | RSS before the stop | checks |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for b in rs["brokers"]:
            title = "Agora, `normal`" if b["broker"] == "agora" else "Mosquitto, `persistence true`"
            if not b["restarts"]:
                w("| %s | failed: %s | | | | | | | | | |" % (title, b["reason"].replace("|", "\\|")))
                continue
            for m in b["restarts"]:
                r = m.get("restored")
                checks = []
                if not all(m["session_present"]):
                    checks.append("**sessions missing**")
                if not m["retained_ok"]:
                    checks.append("**retained missing**")
                stop = fmt_s(m["stop_s"]) if m["how"] == "SIGTERM" else "–"
                if m.get("rewrite_ms") is not None:
                    stop += " (log rewritten in %d ms)" % m["rewrite_ms"]
                w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    title, m["how"], stop, fmt_mib(m["log_at_start"]), fmt_s(m["listen_s"]),
                    fmt_s(m["ready_s"]), "%d ms" % r["ms"] if r else "–",
                    "%s · %s · %s" % (fmt_int(r["sessions"]), fmt_int(r["retained"]),
                                      fmt_int(r["queued"])) if r else "–",
                    fmt_mib(m["rss_after"]), fmt_mib(m["rss_before"]),
                    ", ".join(checks) or "ok"))
        w("")
        for b in rs["brokers"]:
            title = "Agora" if b["broker"] == "agora" else "Mosquitto"
            if "load_sessions_s" not in b:
                continue
            parts = ["%s: loading took %s for the sessions (%s/s) and %s for the retained"
                     " messages (%s/s)" % (
                         title, fmt_s(b["load_sessions_s"]),
                         fmt_int(rs["sessions"] / b["load_sessions_s"]),
                         fmt_s(b.get("load_retained_s")),
                         fmt_int(rs["retained"] / b["load_retained_s"]) if b.get("load_retained_s") else "–")]
            parts.append("an empty start listened after %s (RSS %s)" % (
                fmt_s(b.get("empty_listen_s")), fmt_mib(b.get("rss_empty"))))
            if b.get("load_rewrites"):
                parts.append("the log was rewritten %d time(s) during the load (%s)" % (
                    len(b["load_rewrites"]), ", ".join(
                        "%s → %s in %d ms, %d ms of it on the event loop" % (
                            fmt_mib(x), fmt_mib(y), ms, loop_ms)
                        for x, y, ms, loop_ms in b["load_rewrites"])))
            if b.get("log_final") is not None:
                parts.append("%s at the end %s" % (
                    "broker.log" if b["broker"] == "agora" else "mosquitto.db",
                    fmt_mib(b["log_final"])))
            if b["restarts"] and b.get("empty_listen_s") is not None:
                parts.append("from the process start the listener stayed closed %s (an empty"
                             " start: %s)%s" % (
                                 " and ".join("%s (restart after %s)" % (fmt_s(m["listen_s"]), m["how"])
                                              for m in b["restarts"]),
                                 fmt_s(b["empty_listen_s"]),
                                 ", and a session's CONNACK came %s after the port opened" % (
                                     " and ".join(fmt_s(m["ready_s"] - m["listen_s"])
                                                  for m in b["restarts"]))))
            if not b["ok"]:
                parts.append("**failed: %s**" % b["reason"])
            w("- " + "; ".join(parts) + ".")
        w("")
        stale = [m for b in rs["brokers"] if b["broker"] == "agora" for m in b["restarts"]
                 if m.get("restored") and m["listen_s"] - (b.get("empty_listen_s") or 0) > 0.2
                 and m["restored"]["ms"] / 1000 < 0.1 * (m["listen_s"] - (b.get("empty_listen_s") or 0))]
        if stale:
            w("Agora's own figure (*restore* column) is far below the time its listener stayed"
              " closed: the log line takes its time from libuv's cached loop time (`uv_now`,"
              " through `net_now`), which does not move while the log is replayed before the loop"
              " runs, so it does not count the restore. The *listening* column is the time to"
              " trust.")
            w("")
    if not res.get("quick") and (tp or rs):
        L.extend((FINDINGS % h3).rstrip("\n").split("\n"))
        L.append("")
    return "\n".join(L) + "\n"


# What the profiles said when this scenario was written: dated, since the
# figures above are regenerated and these are not.
FINDINGS = """\
%s What limits these figures (profiles of 2026-12-06)

- **QoS 1 to a persistent subscriber, `normal`.** Neither process saturates its core: the
  run is bound by round trips (at most 1,000 messages in flight), and each loop turn
  writes its batch to the log before its acknowledgements go out. The first `perf record`
  of the broker (commit f07dc1f) put over 40%% of its CPU in persistence, 19%% of it the
  portable slicing-by-8 CRC-32C of each batch: the CRC now uses the SSE 4.2 `crc32`
  instruction when the processor has it (9.3 GB/s against 2.1 here), and acknowledgements
  that come in order extend one record instead of one each. What remains is encoding the
  records and the `writev` into the page cache. The log takes about 170 bytes per 64-byte
  message (the message and its delivery), so a long run rewrites it every 64 MiB or so.
- **Restart.** Agora replays the whole log before it opens its listener, so the listener
  is closed for the whole restore and a session's CONNACK follows the port's opening at
  once. At f07dc1f the replay after `kill -9` took 3.3–9.1 s here: 73%% of an 8.7 s restore
  was linear probing in the topic tree's child maps, filled in the slot order of the
  previous process's maps (the snapshot walks them in slot order) with the same hash
  (FNV-1a, low bits as the index), which packs keys into runs thousands of slots long as a
  table grows. Each map now has its own seed and the hash a finaliser (commit 9a68670):
  the same restore takes the figures above.
- **Stop.** At f07dc1f a SIGTERM with 100,000 sessions took 6–14 s to exit: `broker_free`
  took each session from slot 0 of the sessions map, rescanning every emptied slot
  (quadratic). The sessions are now gathered first.
"""


# ---------------------------------------------------------------- main

def choose_pins():
    if not shutil.which("taskset"):
        return [], []
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return [], []
    a, b = (0, 1) if 0 in cpus and 1 in cpus else (cpus[0], cpus[1])
    return ["taskset", "-c", str(a)], ["taskset", "-c", str(b)]


def main(argv):
    ap = argparse.ArgumentParser(
        prog="bench/persistence.py",
        description="The broker's durable state measured (throughput to a persistent"
                    " subscriber, kill -9 under load, restart with a big state); prints a"
                    " Markdown section (progress on stderr).")
    ap.add_argument("--quick", action="store_true", help="small counts, one repetition")
    ap.add_argument("--repeat", type=int, default=None, help="throughput runs per configuration (3)")
    ap.add_argument("--parts", default=",".join(PARTS), help="comma-separated subset of %s" % ",".join(PARTS))
    ap.add_argument("--brokers", default="agora,mosquitto")
    ap.add_argument("--seed", type=int, default=None, help="random seed (kill moments, samples)")
    ap.add_argument("--agora", default=AGORA)
    ap.add_argument("--json", default=None, help="also write the raw results to this file")
    ap.add_argument("--keep-tmp", action="store_true", help="keep logs and data (printed path)")
    opts = ap.parse_args(argv)
    parts = [p.strip() for p in opts.parts.split(",") if p.strip()]
    bad = [p for p in parts if p not in PARTS]
    if bad:
        ap.error("unknown part(s) %s" % ", ".join(bad))
    if not os.access(opts.agora, os.X_OK):
        _log("persistence.py: %s is missing: run `make build` first" % opts.agora)
        return 2
    benchlib.exit_on_signals()
    benchlib.raise_nofile()
    workdir = tempfile.mkdtemp(prefix="agora-persist-bench-")
    try:
        res = run(opts.agora, MOSQUITTO, workdir, choose_pins(), quick=opts.quick,
                  repeat=opts.repeat, parts=parts,
                  brokers=tuple(b.strip() for b in opts.brokers.split(",")), seed=opts.seed,
                  keep=opts.keep_tmp)
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump(res, f, indent=1, default=str)
        sys.stdout.write(markdown(res))
        sys.stdout.flush()
        return 1 if res["failed"] else 0
    finally:
        Server.kill_all()
        if opts.keep_tmp:
            _log("logs and data kept in " + workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
