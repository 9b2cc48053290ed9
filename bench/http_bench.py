#!/usr/bin/python3
"""http_bench.py - `make bench`'s HTTP scenario: wrk against Agora's REST API,
beside nginx serving the same JSON bytes as a static file (the ceiling).

Every run starts its server fresh on free loopback ports, pinned to the
brokers' core (taskset -c 0, as in bench/compare.py), and runs one
`wrk -t1 -cN -dS --latency` pinned to the other core (taskset -c 1):

  get_user           GET /api/users/1 on Agora in its default configuration (log
                     level info: one access-log line per request); the headline
  get_user_log_warn  the same at --log-level warn (no access log), for comparison
  get_static         GET of the same bytes as a static file on nginx (the ceiling)
  post_message       POST /api/users/2/messages on Agora (a 64-byte message to
                     SQLite; store_sync normal) with bench/wrk_post.lua
  post_message_sync_full  the same with --store-sync full (fsync per write)

For Agora, the run also reads its own histogram of handler times
(agora_http_request_duration_seconds in GET /metrics) before and after wrk:
how long each request held the event loop, so whether any request blocks it
on disk for long (wrk's latencies include queueing, and its percentiles are
corrected for coordinated omission; see markdown()).

Each configuration runs --repeat times (3; --quick: once for 2 s), the order
rotating from one repetition to the next; the section gives medians with the
min-max spread. A run fails (and is left out, never averaged in) on any
"Non-2xx or 3xx responses" (wrk counts statuses >= 400 there) or socket
error in wrk's output, on an answer other than 2xx in Agora's own /metrics
counters, on a server that dies or exits non-zero, or when fewer messages
were stored than wrk counted answers.

Used two ways:
  import http_bench; res = http_bench.run(agora, workdir, pins, quick=..., repeat=...)
      then http_bench.markdown(res) -> the Markdown section (compare.py does this)
  /usr/bin/python3 bench/http_bench.py [--quick] [...]
      prints the Markdown section on stdout (progress on stderr); exit 1 if a run failed

Debian python3, standard library only; needs wrk and nginx (apt-get install
wrk nginx-light), taskset (util-linux) for pinning, and build/release/agora.
"""

import argparse
import json
import os
import re
import resource
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import benchlib

REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
AGORA = os.environ.get("AGORA_BIN", os.path.join(REPO, "build", "release", "agora"))
WRK = os.environ.get("WRK_BIN", "wrk")
NGINX = os.environ.get("NGINX_BIN", "/usr/sbin/nginx")
POST_SCRIPT = os.path.join(REPO, "bench", "wrk_post.lua")

CONNECTIONS = 50
DURATION, DURATION_QUICK = 5, 2     # s per wrk run
REPEAT, REPEAT_QUICK = 3, 1
CONTENT = "x" * 64                  # the MQTT scenarios' payload size
PASSWORD = "bench-password"
START_TIMEOUT = 15.0                # s until a server answers
STOP_TIMEOUT = 10.0                 # s for a server to exit after SIGTERM
WRK_SLACK = 30.0                    # s a wrk run may take beyond -d
HTTP_TIMEOUT = 10.0                 # s for one setup request
APT = "apt-get install -y wrk nginx-light"


class Config:
    """log_level None: Agora's default (no --log-level given)."""

    def __init__(self, name, title, server, method="GET", log_level=None, sync="normal",
                 connections=None):
        self.name, self.title, self.server = name, title, server
        self.method, self.log_level, self.sync = method, log_level, sync
        self.connections = connections or CONNECTIONS


CONFIGS = [
    Config("get_user", "GET /api/users/1, default configuration (access log on)", "agora"),
    Config("get_user_log_warn", "GET /api/users/1, no access log (`--log-level warn`)", "agora",
           log_level="warn"),
    Config("get_static", "GET the same bytes as a static file", "nginx"),
    Config("post_message", "POST /api/users/2/messages (SQLite, `store_sync normal`)", "agora",
           method="POST"),
    Config("post_message_sync_full", "POST /api/users/2/messages, `--store-sync full`", "agora",
           method="POST", sync="full"),
]
CONFIG_BY_NAME = {c.name: c for c in CONFIGS}
SERVER_TITLES = {"agora": "Agora", "nginx": "nginx"}
LAT_KEYS = ("avg", "p50", "p90", "p99", "max")


class HttpBenchError(Exception):
    pass


def _log(msg=""):
    print(msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- helpers

def free_ports(n):
    """n distinct free loopback ports (all held open until all are chosen)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def choose_pins():
    """(server pin, load generator pin) as in bench/compare.py: core 0 and core 1."""
    if not shutil.which("taskset"):
        return [], []
    try:
        cpus = sorted(os.sched_getaffinity(0))
    except AttributeError:
        cpus = list(range(os.cpu_count() or 1))
    if len(cpus) < 2:
        return [], []
    a, b = (0, 1) if 0 in cpus and 1 in cpus else (cpus[0], cpus[1])
    return ["taskset", "-c", str(a)], ["taskset", "-c", str(b)]


def missing_tools():
    """Names of the missing tools this scenario needs (empty when all are there)."""
    missing = []
    if not shutil.which(WRK):
        missing.append("wrk")
    if not os.access(NGINX, os.X_OK):
        missing.append("nginx")
    return missing


def tail(path, lines=6):
    return benchlib.tail(path, lines)


def first_line(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        return "unavailable (%s)" % e
    out = (p.stdout.strip() or p.stderr.strip()).splitlines()
    return out[0].strip() if out else "unknown"


def http(method, url, body=None, token=None):
    """(status, headers, body bytes) of one request; never raises on an HTTP status."""
    data = None
    headers = {}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = "Bearer " + token
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=HTTP_TIMEOUT) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def proc_cpu_ticks(pid):
    """utime + stime of a process, in clock ticks, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[11]) + int(fields[12])
    except (OSError, IndexError, ValueError):
        return None


# ---------------------------------------------------------------- servers

class Server:
    """One Agora or nginx process, started fresh and pinned."""

    live = set()

    def __init__(self, kind, workdir, pin, log_level=None, sync="normal", docroot=None):
        self.kind, self.workdir, self.pin = kind, workdir, pin
        self.log_level, self.sync, self.docroot = log_level, sync, docroot
        self.proc = None
        self.port = None
        self.log_path = os.path.join(workdir, "%s.log" % kind)

    def command(self):
        if self.kind == "agora":
            mqtt_port, self.port = free_ports(2)
            cmd = [AGORA, "serve", "-l", "127.0.0.1:%d" % mqtt_port,
                   "--http-listener", "127.0.0.1:%d" % self.port,
                   "--data-dir", os.path.join(self.workdir, "agora-data"),
                   "--login-failures-per-minute", "0"]
            if self.log_level:
                cmd += ["--log-level", self.log_level]
            if self.sync != "normal":
                cmd += ["--store-sync", self.sync]
            return cmd
        self.port = free_ports(1)[0]
        conf = os.path.join(self.workdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(self.workdir, self.port, self.docroot))
        return [NGINX, "-p", self.workdir + "/", "-c", conf, "-e", os.path.join(self.workdir, "err.log")]

    def start(self):
        cmd = self.pin + self.command()
        self.cmdline = cmd
        with open(self.log_path, "w") as logf:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=logf,
                                         stderr=subprocess.STDOUT, cwd=self.workdir,
                                         start_new_session=True)
        Server.live.add(self)
        # taskset execs the server in place: self.proc.pid is the server.
        deadline = time.monotonic() + START_TIMEOUT
        probe = "/healthz" if self.kind == "agora" else "/api/users/1"
        while True:
            status = self.proc.poll()
            if status is not None:
                raise HttpBenchError("%s exited with status %d before answering: %s"
                                     % (self.kind, status, self.diagnostics()))
            try:
                code, _h, _b = http("GET", self.url(probe))
                if code == 200:
                    return self
            except (OSError, ValueError):
                pass
            if time.monotonic() > deadline:
                raise HttpBenchError("%s did not answer GET %s within %.0f s: %s"
                                     % (self.kind, probe, START_TIMEOUT, self.diagnostics()))
            time.sleep(0.02)

    def diagnostics(self):
        text = tail(self.log_path)
        if self.kind == "nginx":
            text = (text + " " + tail(os.path.join(self.workdir, "err.log"))).strip()
        return text or "(no output)"

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def stop(self):
        """SIGTERM, wait, SIGKILL if need be. Returns the exit status."""
        if self.proc is None:
            return None
        try:
            if self.proc.poll() is None:
                try:
                    self.proc.send_signal(signal.SIGTERM)
                except ProcessLookupError:
                    pass
                try:
                    self.proc.wait(timeout=STOP_TIMEOUT)
                except subprocess.TimeoutExpired:
                    self.kill()
                    raise HttpBenchError("%s did not exit within %.0f s of SIGTERM (killed)"
                                         % (self.kind, STOP_TIMEOUT))
            return self.proc.returncode
        finally:
            Server.live.discard(self)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.proc.kill()
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        Server.live.discard(self)

    @classmethod
    def kill_all(cls):
        for s in list(cls.live):
            s.kill()


def nginx_modules_without():
    """The http modules nginx was built without (their temp-path directives would be unknown)."""
    try:
        p = subprocess.run([NGINX, "-V"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return set()
    return set(re.findall(r"--without-http_(\w+)_module", p.stderr + p.stdout))


def nginx_conf(workdir, port, docroot):
    without = nginx_modules_without()
    tmp = os.path.join(workdir, "nginx-tmp")
    os.makedirs(tmp, exist_ok=True)
    temp_paths = ["    client_body_temp_path %s/body;" % tmp]
    for mod in ("proxy", "fastcgi", "uwsgi", "scgi"):
        if mod not in without:
            temp_paths.append("    %s_temp_path %s/%s;" % (mod, tmp, mod))
    return NGINX_CONF % {"err": os.path.join(workdir, "err.log"),
                         "pid": os.path.join(workdir, "nginx.pid"),
                         "temp_paths": "\n".join(temp_paths), "port": port, "root": docroot}


NGINX_CONF = """\
# written by bench/http_bench.py for one run
daemon off;
master_process off;
worker_processes 1;
error_log %(err)s warn;
pid %(pid)s;
events {
    worker_connections 1024;
}
http {
    access_log off;
%(temp_paths)s
    types { }
    default_type application/json;
    etag off;
    server_tokens off;
    keepalive_requests 100000000;
    open_file_cache max=64 inactive=1h;
    open_file_cache_valid 1h;
    server {
        listen 127.0.0.1:%(port)d;
        root %(root)s;
    }
}
"""


# ---------------------------------------------------------------- wrk

_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}
_BYTES = {"B": 1, "KB": 1024, "MB": 1024 ** 2, "GB": 1024 ** 3, "TB": 1024 ** 4}


def _us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    if not m:
        raise ValueError("not a wrk time: %r" % text)
    return float(m.group(1)) * _UNITS[m.group(2)]


def parse_wrk(out):
    """The figures of wrk --latency's text output (latencies in microseconds)."""
    r = {"non2xx": 0, "socket_errors": {}}
    m = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)\s+\S+\s*$", out, re.M)
    if not m:
        raise ValueError("no Latency line")
    lat = {"avg": _us(m.group(1)), "max": _us(m.group(3))}
    for pct, key in (("50", "p50"), ("75", "p75"), ("90", "p90"), ("99", "p99")):
        m = re.search(r"^\s*%s(?:\.0+)?%%\s+(\S+)\s*$" % pct, out, re.M)
        if not m:
            raise ValueError("no %s%% line (was --latency given?)" % pct)
        lat[key] = _us(m.group(1))
    r["latency_us"] = lat
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m|h), ([\d.]+)(B|KB|MB|GB|TB) read", out, re.M)
    if not m:
        raise ValueError("no 'requests in' line")
    r["requests"] = int(m.group(1))
    r["elapsed_s"] = float(m.group(2)) * _UNITS[m.group(3)] / 1e6
    r["bytes_read"] = float(m.group(4)) * _BYTES[m.group(5)]
    m = re.search(r"^\s*Requests/sec:\s+([\d.]+)", out, re.M)
    if not m:
        raise ValueError("no Requests/sec line")
    r["rps"] = float(m.group(1))
    m = re.search(r"^\s*Non-2xx or 3xx responses:\s+(\d+)", out, re.M)
    if m:
        r["non2xx"] = int(m.group(1))
    m = re.search(r"^\s*Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out, re.M)
    if m:
        r["socket_errors"] = {k: int(v) for k, v in zip(("connect", "read", "write", "timeout"),
                                                         m.groups()) if int(v)}
    return r


def wrk_args(duration, connections, url, token=None):
    args = [WRK, "-t1", "-c%d" % connections, "-d%ds" % duration, "--latency"]
    if token is not None:
        args += ["-s", POST_SCRIPT, url, "--", token, CONTENT]
    else:
        args += [url]
    return args


def run_wrk(pin, duration, connections, url, token=None):
    """Runs wrk; returns (parsed figures, raw output, wrk's CPU share of a core)."""
    cmd = pin + wrk_args(duration, connections, url, token)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.monotonic()
    try:
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=duration + WRK_SLACK)
    except subprocess.TimeoutExpired:
        raise HttpBenchError("wrk did not finish within %.0f s (killed)" % (duration + WRK_SLACK))
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    out = p.stdout + ("\n" + p.stderr if p.stderr.strip() else "")
    if p.returncode != 0:
        raise HttpBenchError("wrk exited with status %d: %s" % (p.returncode, out.strip()[-400:]))
    try:
        figures = parse_wrk(p.stdout)
    except ValueError as e:
        raise HttpBenchError("cannot read wrk's output (%s): %s" % (e, out.strip()[-400:]))
    return figures, out, cpu / wall * 100 if wall > 0 else None


# ---------------------------------------------------------------- runs

def agora_setup(server):
    """Creates alice (id 1) and bob (id 2); returns (alice's token, GET /api/users/1's body)."""
    token = None
    for name in ("alice", "bob"):
        code, _h, body = http("POST", server.url("/api/users"), {"name": name, "password": PASSWORD})
        if code != 201:
            raise HttpBenchError("POST /api/users (%s) answered %d: %s" % (name, code, body[:200]))
        doc = json.loads(body)
        if name == "alice":
            token = doc.get("token")
            if doc.get("id") != 1:
                raise HttpBenchError("alice got id %r, not 1" % doc.get("id"))
    if not token:
        raise HttpBenchError("POST /api/users answered no token")
    code, headers, body = http("GET", server.url("/api/users/1"))
    if code != 200:
        raise HttpBenchError("GET /api/users/1 answered %d: %s" % (code, body[:200]))
    return token, body


METRIC = "agora_http_request_duration_seconds"


def handler_histogram(server):
    """Agora's histogram of handler times from /metrics: {"count", "sum", "buckets":
    [(le seconds, cumulative count)]}, or None if /metrics does not have it."""
    try:
        code, _h, body = http("GET", server.url("/metrics"))
    except OSError:
        return None
    if code != 200:
        return None
    h = {"count": None, "sum": None, "buckets": [], "non2xx": 0}
    for line in body.decode("utf-8", "replace").splitlines():
        m = re.match(r'^agora_http_requests_total\{.*status="([0-9]+|other)".*\}\s+(\S+)$',
                     line)
        if m and not m.group(1).startswith("2"):
            h["non2xx"] += float(m.group(2))
            continue
        m = re.match(r'^%s_bucket\{le="([^"]+)"\}\s+(\S+)$' % METRIC, line)
        if m:
            le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
            h["buckets"].append((le, float(m.group(2))))
            continue
        m = re.match(r"^%s_(sum|count)\s+(\S+)$" % METRIC, line)
        if m:
            h[m.group(1)] = float(m.group(2))
    if h["count"] is None or h["sum"] is None or not h["buckets"]:
        return None
    h["buckets"].sort()
    return h


def histogram_delta(before, after):
    """What happened between two scrapes: {"count", "mean_s", "over_1ms", "over_10ms",
    "slowest": (lower bound, upper bound) in seconds}, or None."""
    if not before or not after or [b[0] for b in before["buckets"]] != [a[0] for a in after["buckets"]]:
        return None
    n = after["count"] - before["count"]
    if n <= 0:
        return None
    cum = [(le, a - b) for (le, a), (_le, b) in zip(after["buckets"], before["buckets"])]

    def over(limit):
        at = [c for le, c in cum if abs(le - limit) < 1e-12]
        return n - at[0] if at else None

    slowest, lower = None, 0.0
    for le, c in cum:
        if c >= n:
            slowest = (lower, le)
            break
        lower = le
    return {"count": int(n), "mean_s": (after["sum"] - before["sum"]) / n,
            "sum_s": after["sum"] - before["sum"],
            "non2xx": int(after["non2xx"] - before["non2xx"]),
            "over_1ms": over(0.001), "over_10ms": over(0.01), "slowest": slowest}


def sent_total(server, token):
    code, _h, body = http("GET", server.url("/api/messages/sent?limit=1"), token=token)
    if code != 200:
        raise HttpBenchError("GET /api/messages/sent answered %d: %s" % (code, body[:200]))
    return json.loads(body)["total"]


class Bench:
    def __init__(self, agora, workdir, pins, quick=False, repeat=None, duration=None, log=_log,
                 configs=None):
        global AGORA
        AGORA = agora
        self.workdir = workdir
        self.server_pin, self.wrk_pin = pins
        self.quick = quick
        self.repeat = repeat or (REPEAT_QUICK if quick else REPEAT)
        self.duration = duration or (DURATION_QUICK if quick else DURATION)
        self.log = log
        self.configs = configs or CONFIGS
        self.seq = 0
        self.body = None
        self.runs = []

    def rundir(self, what):
        self.seq += 1
        d = os.path.join(self.workdir, "http-%02d-%s" % (self.seq, what))
        os.makedirs(d)
        return d

    def prepare(self):
        """The exact bytes Agora answers to GET /api/users/1, as nginx's document root."""
        server = Server("agora", self.rundir("prepare"), self.server_pin)
        try:
            server.start()
            _token, self.body = agora_setup(server)
            status = server.stop()
            if status != 0:
                raise HttpBenchError("agora exited with status %s: %s" % (status, server.diagnostics()))
        finally:
            server.kill()
        self.docroot = os.path.join(self.workdir, "http-www")
        os.makedirs(os.path.join(self.docroot, "api", "users"), exist_ok=True)
        with open(os.path.join(self.docroot, "api", "users", "1"), "wb") as f:
            f.write(self.body)

    def one_run(self, cfg, rep):
        run = {"config": cfg.name, "rep": rep, "ok": False, "reason": "", "figures": None,
               "server_cpu_pct": None, "wrk_cpu_pct": None, "handlers": None, "notes": []}
        d = self.rundir(cfg.name)
        server = Server(cfg.server, d, self.server_pin, cfg.log_level, cfg.sync, getattr(self, "docroot", None))
        try:
            server.start()
            token = None
            if cfg.server == "agora":
                token, body = agora_setup(server)
                if len(body) != len(self.body):
                    run["notes"].append("GET /api/users/1 is %d bytes here, %d in nginx's file"
                                        % (len(body), len(self.body)))
                path = "/api/users/2/messages" if cfg.method == "POST" else "/api/users/1"
            else:
                code, _h, body = http("GET", server.url("/api/users/1"))
                if code != 200 or body != self.body:
                    raise HttpBenchError("nginx does not serve the expected bytes (status %d, %d bytes)"
                                         % (code, len(body)))
                path = "/api/users/1"
            hist0 = handler_histogram(server) if cfg.server == "agora" else None
            t0 = proc_cpu_ticks(server.proc.pid)
            w0 = time.monotonic()
            figures, out, wrk_cpu = run_wrk(self.wrk_pin, self.duration, cfg.connections,
                                            server.url(path), token if cfg.method == "POST" else None)
            t1 = proc_cpu_ticks(server.proc.pid)
            wall = time.monotonic() - w0
            if cfg.server == "agora" and server.alive():
                run["handlers"] = histogram_delta(hist0, handler_histogram(server))
                if run["handlers"] and wall > 0:
                    run["handlers"]["busy_pct"] = run["handlers"]["sum_s"] / wall * 100
            run["figures"], run["wrk_output"], run["wrk_cpu_pct"] = figures, out, wrk_cpu
            if t0 is not None and t1 is not None and wall > 0:
                run["server_cpu_pct"] = (t1 - t0) / os.sysconf("SC_CLK_TCK") / wall * 100
            problems = []
            if not server.alive():
                problems.append("%s died during the run: %s" % (cfg.server, server.diagnostics()))
            if figures["non2xx"]:
                problems.append("wrk: Non-2xx or 3xx responses: %d of %d"
                                % (figures["non2xx"], figures["requests"]))
            if figures["socket_errors"]:
                problems.append("wrk: socket errors: " + ", ".join(
                    "%s %d" % kv for kv in figures["socket_errors"].items()))
            if figures["requests"] == 0:
                problems.append("wrk: no request answered")
            if run["handlers"] and run["handlers"]["non2xx"]:
                problems.append("Agora's /metrics counted %d answers other than 2xx during the run"
                                % run["handlers"]["non2xx"])
            if cfg.method == "POST" and not problems:
                stored = sent_total(server, token)
                run["stored"] = stored
                if stored < figures["requests"]:
                    problems.append("%d messages stored for %d answers counted by wrk"
                                    % (stored, figures["requests"]))
            status = server.stop()
            if status != 0:
                problems.append("%s exited with status %s after the run: %s"
                                % (cfg.server, status, server.diagnostics()))
            run["ok"] = not problems
            run["reason"] = "; ".join(problems)
        except HttpBenchError as e:
            run["reason"] = str(e)
        finally:
            server.kill()
        self.runs.append(run)
        self.print_run(cfg, run)
        return run

    def print_run(self, cfg, run):
        label = "[%s %d/%d]" % (cfg.name, run["rep"] + 1, self.repeat)
        if not run["ok"]:
            self.log("  %-24s FAILED: %s" % (label, run["reason"]))
            return
        f = run["figures"]
        lat = f["latency_us"]
        text = "%s req/s, latency p50 %s p90 %s p99 %s max %s ms, server CPU %s (%s µs/answer)," \
               " wrk CPU %s" % (
                   fmt_int(f["rps"]), *(fmt_ms(lat[k]) for k in ("p50", "p90", "p99", "max")),
                   fmt_pct(run["server_cpu_pct"]),
                   fmt_us(run["server_cpu_pct"] / 100 / f["rps"] * 1e6
                          if run["server_cpu_pct"] is not None and f["rps"] else None),
                   fmt_pct(run["wrk_cpu_pct"]))
        hd = run["handlers"]
        if hd and hd["over_1ms"] is not None:
            text += "; handlers over 1 ms: %d of %d, slowest %s" % (
                hd["over_1ms"], hd["count"], fmt_bucket(hd["slowest"]))
        if run["notes"]:
            text += " [" + "; ".join(run["notes"]) + "]"
        self.log("  %-24s %s" % (label, text))

    def run(self):
        self.log("\n== http: wrk against Agora's REST API and nginx (static file), %d x %d s per"
                 " configuration" % (self.repeat, self.duration))
        self.prepare()
        self.log("  GET /api/users/1 from Agora: %d bytes of JSON, nginx serves the same bytes"
                 % len(self.body))
        for rep in range(self.repeat):
            k = rep % len(self.configs)
            for cfg in self.configs[k:] + self.configs[:k]:
                self.one_run(cfg, rep)


def run(agora, workdir, pins, quick=False, repeat=None, duration=None, log=_log, configs=None):
    """Runs the HTTP scenario; returns a dict for markdown(). Never raises
    HttpBenchError: a scenario that cannot run at all carries it as "error"."""
    missing = missing_tools()
    res = {"quick": quick, "connections": CONNECTIONS, "pins": pins, "error": "", "runs": [],
           "configs": [c.name for c in (configs or CONFIGS)]}
    b = Bench(agora, workdir, pins, quick, repeat, duration, log, configs)
    res.update(repeat=b.repeat, duration=b.duration)
    res["versions"] = {"wrk": first_line([WRK, "--version"]) if "wrk" not in missing else "missing",
                       "nginx": first_line([NGINX, "-v"]) if "nginx" not in missing else "missing"}
    if missing:
        res["failed"] = 1
        res["error"] = "missing %s (%s)" % (", ".join(missing), APT)
        log("  http: " + res["error"])
        return res
    try:
        b.run()
    except HttpBenchError as e:
        res["error"] = str(e)
        log("  http: FAILED: " + res["error"])
    finally:
        Server.kill_all()
    res["runs"] = b.runs
    res["body_len"] = len(b.body) if b.body else None
    res["post_body_len"] = len(json.dumps({"content": CONTENT}, separators=(",", ":")))
    res["failed"] = sum(not r["ok"] for r in b.runs) + (1 if res["error"] else 0)
    for line in summary_lines(res):
        log("  -> " + line)
    return res


# ---------------------------------------------------------------- summary

def fmt_int(v):
    return "-" if v is None else "{:,.0f}".format(v)


def fmt_ms(us):
    if us is None:
        return "-"
    ms = us / 1000
    if ms >= 100:
        return "%.0f" % ms
    if ms >= 10:
        return "%.1f" % ms
    return "%.2f" % ms


def fmt_us(v):
    if v is None:
        return "-"
    return "%.1f" % v if v < 100 else "%.0f" % v


def fmt_pct(v):
    return "-" if v is None else "%.0f%%" % v


def fmt_share(v):
    """A share in percent, small ones with two significant digits."""
    if v is None:
        return "-"
    if v == 0:
        return "0"
    if v >= 10:
        return "%.0f%%" % v
    return "%.2g%%" % v


def fmt_seconds(s):
    if s == float("inf"):
        return "∞"
    if s >= 1:
        return "%g s" % s
    return "%g ms" % (s * 1000)


def fmt_bucket(b):
    if not b:
        return "-"
    lo, hi = b
    if hi == float("inf"):
        return "over %s" % fmt_seconds(lo)
    if lo == 0:
        return "at most %s" % fmt_seconds(hi)
    return "%s–%s" % (fmt_seconds(lo), fmt_seconds(hi))


def fmt_stat(stat, fmt):
    if stat is None:
        return "failed"
    med, lo, hi = stat
    if fmt(lo) == fmt(hi):
        return fmt(med)
    return "%s (%s–%s)" % (fmt(med), fmt(lo), fmt(hi))


def spread(vals):
    return (statistics.median(vals), min(vals), max(vals)) if vals else None


def stats(res, name):
    """{metric: (median, min, max)} over the successful runs of one configuration."""
    ok = [r for r in res["runs"] if r["config"] == name and r["ok"]]
    if not ok:
        return None
    out = {
        "rps": spread([r["figures"]["rps"] for r in ok]),
        "bytes": spread([r["figures"]["bytes_read"] / r["figures"]["requests"] for r in ok]),
        "server_cpu": spread([r["server_cpu_pct"] for r in ok if r["server_cpu_pct"] is not None]),
        "cpu_us": spread([r["server_cpu_pct"] / 100 / r["figures"]["rps"] * 1e6 for r in ok
                          if r["server_cpu_pct"] is not None and r["figures"]["rps"]]),
        "wrk_cpu": spread([r["wrk_cpu_pct"] for r in ok if r["wrk_cpu_pct"] is not None]),
    }
    for k in LAT_KEYS:
        out[k] = spread([r["figures"]["latency_us"][k] for r in ok])
    hd = [r["handlers"] for r in ok if r.get("handlers")]
    out["handled"] = spread([h["count"] for h in hd])
    out["handler_mean"] = spread([h["mean_s"] * 1e6 for h in hd])
    out["busy"] = spread([h["busy_pct"] for h in hd if "busy_pct" in h])
    for key in ("over_1ms", "over_10ms"):
        out[key] = spread([h[key] / h["count"] * 100 for h in hd if h[key] is not None])
        out[key + "_n"] = sum(h[key] for h in hd if h[key] is not None)
    out["handled_n"] = sum(h["count"] for h in hd)
    slow = [h["slowest"] for h in hd if h["slowest"]]
    out["slowest"] = max(slow, key=lambda b: b[1]) if slow else None
    out["ok"] = len(ok)
    return out


def runs_ok(res, name):
    runs = [r for r in res["runs"] if r["config"] == name]
    return "%d/%d" % (sum(r["ok"] for r in runs), len(runs))


def med(st, key):
    return st[key][0] if st and st.get(key) else None


def summary_lines(res):
    s = {c: stats(res, c) for c in res["configs"]}
    lines = []
    for name in res["configs"]:
        st = s[name]
        if st:
            text = "%s: %s req/s, p99 %s ms, max %s ms" % (
                name, fmt_int(med(st, "rps")), fmt_ms(med(st, "p99")), fmt_ms(med(st, "max")))
            if st["handled_n"]:
                text += ", handlers over 1 ms %s, over 10 ms %s, slowest %s" % (
                    fmt_share(med(st, "over_1ms")), fmt_share(med(st, "over_10ms")),
                    fmt_bucket(st["slowest"]))
            lines.append("%s [%s ok]" % (text, runs_ok(res, name)))
        else:
            lines.append("%s: failed [%s ok]" % (name, runs_ok(res, name)))
    a, n = med(s.get("get_user"), "rps"), med(s.get("get_static"), "rps")
    if a and n:
        lines.append("Agora GET (default configuration, access log on) = %.0f%% of nginx's"
                     " requests/s (%.2fx)" % (a / n * 100, a / n))
    a, n = med(s.get("get_user"), "cpu_us"), med(s.get("get_static"), "cpu_us")
    if a and n:
        lines.append("server CPU per answer: Agora %.1f µs, nginx %.1f µs" % (a, n))
    return lines


# ---------------------------------------------------------------- markdown

def markdown(res, heading="##"):
    """The Markdown section (a string ending with a newline)."""
    L = []
    w = L.append
    h3 = heading + "#"
    w("%s HTTP API (wrk; nginx as the ceiling)" % heading)
    w("")
    if res.get("quick"):
        w("> **Smoke run (`--quick`)**: one %d s run per configuration. The figures show the format"
          " of this section, not the servers' performance." % res["duration"])
        w("")
    if res["error"] and not res["runs"]:
        w("**Not measured**: %s." % md_escape(res["error"]))
        w("")
        return "\n".join(L) + "\n"
    sp, wp = res["pins"]
    pre_s = " ".join(sp) + " " if sp else ""
    pre_w = " ".join(wp) + " " if wp else ""
    c = res["connections"]
    w("`wrk` against Agora's REST API, beside nginx serving the same JSON bytes as a static file:"
      " the ceiling for a small HTTP answer with this machine, the loopback and this load generator."
      " Each run starts the server fresh on free loopback ports, %s, and runs one `wrk` (one"
      " thread, %d keep-alive connections)%s for %d s. Each configuration is run %s; the order"
      " rotates from one repetition to the next. The tables give the median with the min–max"
      " spread of the successful runs. A run with any non-2xx answer or socket error in wrk's"
      " output, a server that dies or exits non-zero, or fewer messages stored than wrk counted"
      " answers is a failed run, listed below and never averaged in."
      % ("pinned to the brokers' core" if sp else "**not pinned**", c,
         " on the other core" if wp else "", res["duration"],
         "once" if res["repeat"] == 1 else "%d times" % res["repeat"]))
    w("")
    w("```sh")
    w("# servers (one per run)")
    w("%sbuild/release/agora serve -l 127.0.0.1:PORT --http-listener 127.0.0.1:HTTP_PORT"
      " --data-dir TMP/agora-data --login-failures-per-minute 0"
      "   # [--log-level warn] [--store-sync full]" % pre_s)
    w("%s%s -p TMP/ -c TMP/nginx.conf -e TMP/err.log" % (pre_s, NGINX))
    w("# load generator")
    w("%swrk -t1 -c%d -d%ds --latency http://127.0.0.1:HTTP_PORT/api/users/1" % (pre_w, c, res["duration"]))
    w("%swrk -t1 -c%d -d%ds --latency -s bench/wrk_post.lua http://127.0.0.1:HTTP_PORT/api/users/2/messages"
      " -- TOKEN CONTENT" % (pre_w, c, res["duration"]))
    w("```")
    w("")
    w("Before each Agora run, two users are created with `POST /api/users` (alice, id 1, and bob,"
      " id 2); the POST sends alice's message to bob with alice's bearer token: a %d-byte JSON body"
      " whose content is %d bytes, the MQTT scenarios' payload size. **Agora runs in its default"
      " configuration**: log level `info`, so with its access log (one line per request, stderr"
      " going to a file on the same disk); the `get_user_log_warn` row is the same GET at"
      " `--log-level warn`, without the access log, to show what the log costs. The data"
      " directory is on that disk too, so `--store-sync full` pays real fsyncs."
      % (res.get("post_body_len") or 0, len(CONTENT)))
    w("")
    w("nginx serves the %s bytes Agora answered to `GET /api/users/1` as the file `api/users/1`"
      " (the same request line), with this configuration: no access log, no connection limit"
      " from `keepalive_requests`, and the file kept open (`open_file_cache`: without it nginx"
      " opens the file for every request, and gives about half the requests/s here). Its answer"
      " headers are a little longer than Agora's (*bytes/answer*):" % (res.get("body_len") or "?"))
    w("")
    w("```nginx")
    w(NGINX_CONF.replace("%(err)s", "TMP/err.log").replace("%(pid)s", "TMP/nginx.pid")
      .replace("%(temp_paths)s\n", "    # *_temp_path TMP/nginx-tmp/...\n")
      .replace("%(port)d", "HTTP_PORT").replace("%(root)s", "TMP/http-www").rstrip())
    w("```")
    w("")

    s = {name: stats(res, name) for name in res["configs"]}
    w("| configuration | what | server | requests/s | p50 latency (ms) | p90 | p99 | max |"
      " server CPU (% of its core) | server CPU per answer (µs) | wrk CPU | bytes/answer |"
      " runs ok |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name in res["configs"]:
        cfg = CONFIG_BY_NAME[name]
        st = s[name]
        server = SERVER_TITLES[cfg.server] + (" (ceiling)" if cfg.server == "nginx" else "")
        if not st:
            w("| %s | %s | %s | failed | | | | | | | | | %s |" % (name, cfg.title, server,
                                                                runs_ok(res, name)))
            continue
        w("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
            name, cfg.title, server, fmt_stat(st["rps"], fmt_int),
            *(fmt_stat(st[k], fmt_ms) for k in ("p50", "p90", "p99", "max")),
            fmt_stat(st["server_cpu"], fmt_pct), fmt_stat(st["cpu_us"], fmt_us),
            fmt_stat(st["wrk_cpu"], fmt_pct), fmt_int(med(st, "bytes")), runs_ok(res, name)))
    w("")
    w("Latencies are wrk's (`--latency`), from sending a request to its whole answer, so they include"
      " the wait behind the other connections' requests. wrk 4 corrects its distribution for"
      " coordinated omission: for every answer slower than twice the mean interval between two"
      " requests on a connection (connections / requests/s), it adds the samples a client sending at"
      " that steady pace would have seen (that latency minus one, two, ... intervals). p50–p99 are"
      " therefore those of a steady client, a little above the raw ones when there are stalls; the"
      " max is the slowest real answer. *bytes/answer* is what wrk read (headers and body) /"
      " requests. CPU is the server's utime + stime over the run (`/proc/PID/stat`) and wrk's"
      " (`getrusage`), as a share of one core: near 100% is the limit. *Server CPU per answer*"
      " is the server's CPU time / the answers wrk counted: on a machine whose other core is"
      " busy too (wrk, other processes), requests/s move with the load while this moves much"
      " less, so it is the fairer comparison of the two servers' own cost.")
    w("")

    notes = []
    g, gw, n = s.get("get_user"), s.get("get_user_log_warn"), s.get("get_static")
    if med(g, "rps") and med(n, "rps"):
        a, b = med(g, "rps"), med(n, "rps")
        text = ("**Agora's `GET /api/users/1` in its default configuration (access log on): %.0f%%"
                " of nginx's static file** (%s vs %s requests/s, %.2f×)"
                % (a / b * 100, fmt_int(a), fmt_int(b), a / b))
        if med(g, "cpu_us") and med(n, "cpu_us"):
            text += ("; server CPU per answer %s vs %s µs"
                     % (fmt_us(med(g, "cpu_us")), fmt_us(med(n, "cpu_us"))))
        if (med(n, "wrk_cpu") or 0) >= 85:
            text += ("; wrk used %s of its core against nginx, so that ceiling is wrk's as much as"
                     " nginx's" % fmt_pct(med(n, "wrk_cpu")))
        notes.append(text + ".")
    if med(g, "rps") and med(gw, "rps"):
        a, b = med(g, "rps"), med(gw, "rps")
        notes.append("Without the access log (`--log-level warn`) the GET gives %s requests/s:"
                     " the default configuration gives %.0f%% of that (p99 %s vs %s ms)."
                     % (fmt_int(b), a / b * 100, fmt_ms(med(g, "p99")), fmt_ms(med(gw, "p99"))))
    p, pf = s.get("post_message"), s.get("post_message_sync_full")
    if med(p, "rps") and med(pf, "rps"):
        a, b = med(pf, "rps"), med(p, "rps")
        notes.append("`--store-sync full` (an fsync per write): the POST gives %.0f%% of its"
                     " requests/s with `normal` (%s vs %s; p99 %s vs %s ms, max %s vs %s ms)."
                     % (a / b * 100, fmt_int(a), fmt_int(b), fmt_ms(med(pf, "p99")),
                        fmt_ms(med(p, "p99")), fmt_ms(med(pf, "max")), fmt_ms(med(p, "max"))))
    for text in notes:
        w("- " + text)
    if notes:
        w("")
    w("%s Where the time of a GET goes" % h3)
    w("")
    w("Profiles of `GET /api/users/1` in the default configuration (syscalls per request from"
      " `strace -c`, `perf record` by library and by function, user-space instructions per"
      " request from callgrind), before and after the work that brought it from about 0.5× to"
      " nginx's pace, and what is left: [http-profile.md](http-profile.md). In short, each"
      " answered GET now costs one `read` and one `writev`, with one `write` of the access log"
      " and one `epoll_wait` shared by all the requests of a loop turn (nginx: `recvfrom`,"
      " `pread64`, `writev`); most of the time is the kernel's TCP work on both sides.")
    w("")

    agora = [name for name in res["configs"]
             if CONFIG_BY_NAME[name].server == "agora" and s[name] and s[name]["handled_n"]]
    if agora:
        w("%s Does a request block the event loop on disk?" % h3)
        w("")
        w("The POST stores the message in SQLite (WAL journal: `store_sync normal` syncs to disk at"
          " checkpoints, which Agora runs once a second on a worker thread, off the event loop;"
          " `full` at every commit, on the loop). Agora's handlers run on its event loop, so the"
          " time a handler takes is time the loop serves no one else. Agora measures it for every"
          " request (`agora_http_request_duration_seconds` in `GET /metrics`, read before and after"
          " each run; its buckets are the bounds below). *Share of the run in handlers* is the sum"
          " of handler times / the run's wall time: how much of the time the loop was held by"
          " requests; where it exceeds the server's CPU share above, the"
          " difference is time the loop waited, e.g. for the disk. wrk's p99 and max add the queueing seen from outside. Handler times are wall-clock: a handler preempted by another process"
          " counts that time too; the GET rows, which read from the page cache only, show that"
          " floor.")
        w("")
        w("| configuration | requests handled | handler time, mean (µs) | share of the run in"
          " handlers | handlers over 1 ms | over 10 ms | slowest handler (all runs) | wrk p99 (ms) |"
          " wrk max (ms) |")
        w("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for name in agora:
            st = s[name]
            w("| %s | %s | %s | %s | %s (%s in all) | %s (%s in all) | %s | %s | %s |" % (
                name, fmt_stat(st["handled"], fmt_int),
                fmt_stat(st["handler_mean"], lambda v: "%.0f" % v if v >= 10 else "%.1f" % v),
                fmt_stat(st["busy"], fmt_pct),
                fmt_stat(st["over_1ms"], fmt_share), fmt_int(st["over_1ms_n"]),
                fmt_stat(st["over_10ms"], fmt_share), fmt_int(st["over_10ms_n"]),
                fmt_bucket(st["slowest"]), fmt_stat(st["p99"], fmt_ms), fmt_stat(st["max"], fmt_ms)))
        w("")
        for name, what in (("post_message", "`store_sync normal`"),
                           ("post_message_sync_full", "`store_sync full`")):
            st = s.get(name)
            if name in agora:
                w("- POST with %s: handlers held the event loop %s of the run, %s µs each on"
                  " average; %s of them took over 1 ms and %s over 10 ms (%s and %s of"
                  " %s requests in all runs); the slowest took %s. The slowest answer wrk saw took"
                  " %s ms (median of the runs' max)." % (
                      what, fmt_pct(med(st, "busy")), fmt_int(med(st, "handler_mean")),
                      fmt_share(med(st, "over_1ms")), fmt_share(med(st, "over_10ms")),
                      fmt_int(st["over_1ms_n"]), fmt_int(st["over_10ms_n"]), fmt_int(st["handled_n"]),
                      fmt_bucket(st["slowest"]), fmt_ms(med(st, "max"))))
        w("")

    failed = [r for r in res["runs"] if not r["ok"]]
    noted = [r for r in res["runs"] if r["ok"] and r["notes"]]
    if failed or res["error"]:
        w("%s Failed HTTP runs" % h3)
        w("")
        if res["error"]:
            w("- the scenario stopped: %s" % md_escape(res["error"]))
        for r in failed:
            w("- %s, repetition %d: %s" % (r["config"], r["rep"] + 1, md_escape(r["reason"])))
        w("")
    for r in noted:
        w("- %s, repetition %d: %s" % (r["config"], r["rep"] + 1, md_escape("; ".join(r["notes"]))))
    if noted:
        w("")
    w("Versions: %s; %s." % (md_escape(res["versions"]["wrk"].split(" Copyright")[0]),
                             md_escape(res["versions"]["nginx"])))
    return "\n".join(L).rstrip() + "\n"


def md_escape(text):
    return str(text).replace("|", "\\|").replace("\n", " ")

# ---------------------------------------------------------------- main

def main(argv):
    ap = argparse.ArgumentParser(
        prog="bench/http_bench.py",
        description="wrk against Agora's REST API beside nginx serving the same bytes;"
                    " prints a Markdown section (progress on stderr).")
    ap.add_argument("--quick", action="store_true", help="one %d s run per configuration" % DURATION_QUICK)
    ap.add_argument("--repeat", type=int, default=None, help="runs per configuration (default %d)" % REPEAT)
    ap.add_argument("--duration", type=int, default=None, help="seconds per wrk run (default %d)" % DURATION)
    ap.add_argument("--configs", default=None,
                    help="comma-separated subset of %s" % ",".join(CONFIG_BY_NAME))
    ap.add_argument("--agora", default=AGORA, help="the agora binary (default build/release/agora)")
    ap.add_argument("--json", default=None, help="also write the raw results to this file")
    ap.add_argument("--keep-tmp", action="store_true", help="keep the servers' logs and data (printed path)")
    opts = ap.parse_args(argv)
    if opts.repeat is not None and opts.repeat < 1:
        ap.error("--repeat must be at least 1")
    if opts.duration is not None and opts.duration < 1:
        ap.error("--duration must be at least 1")
    configs = None
    if opts.configs:
        names = [n.strip() for n in opts.configs.split(",") if n.strip()]
        bad = [n for n in names if n not in CONFIG_BY_NAME]
        if bad:
            ap.error("unknown configuration(s) %s" % ", ".join(bad))
        configs = [CONFIG_BY_NAME[n] for n in names]
    if not os.access(opts.agora, os.X_OK):
        _log("http_bench.py: %s is missing: run `make build` first" % opts.agora)
        return 2
    missing = missing_tools()
    if missing:
        _log("http_bench.py: missing %s; install with:  %s" % (", ".join(missing), APT))
        return 2
    pins = choose_pins()
    if not pins[0]:
        _log("http_bench.py: taskset missing or fewer than 2 cores: the runs are NOT pinned")

    main_pid = os.getpid()

    def on_term(signum, _frame):
        if os.getpid() != main_pid:
            os._exit(128 + signum)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)
    workdir = tempfile.mkdtemp(prefix="agora-http-bench-")
    try:
        res = run(opts.agora, workdir, pins, quick=opts.quick, repeat=opts.repeat,
                  duration=opts.duration, configs=configs)
        if opts.json:
            with open(opts.json, "w") as f:
                json.dump(res, f, indent=1, default=str)
        sys.stdout.write(markdown(res))
        sys.stdout.flush()
        return 1 if res.get("failed") or res["error"] else 0
    finally:
        Server.kill_all()
        if opts.keep_tmp:
            _log("logs and data kept in " + workdir)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
