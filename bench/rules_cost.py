#!/usr/bin/python3
"""rules_cost.py - `make bench`'s measure of what rules cost the broker
(issue 16, docs/rules.md):

  1. idle rules: QoS 0 1->1 (agora bench pubsub) with no rule, and with 100
     rules on topics the load never uses ("unrelated/<i>/#"): the rules'
     taps are a tree of their own, so the cost is one test per message.
     Target: at most 5% lower throughput. The two brokers are run in
     turns, REPEAT times each, and the medians compared (this machine's
     speed moves between runs).
  2. one rule that matches every message and republishes it (to a topic
     nobody reads): evaluations per second (the rule's own counter,
     `matched`, over the run) and the broker's CPU per evaluation beside
     its CPU per delivery without the rule. Target: 200,000 evaluations
     per second on one core. The engine alone: `make bench-rules`.

Each broker is a fresh `agora serve` (release build) with its own data
directory, an HTTP listener and `admins bench`; rules go in through
POST /api/rules as any administrator's would.

Run by bench/compare.py (scenario name `rules`), or alone:
  /usr/bin/python3 bench/rules_cost.py   (prints the Markdown section)
Debian python3, standard library only.
"""

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

import benchlib

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
AGORA = os.environ.get("AGORA_BIN", os.path.join(REPO, "build", "release", "agora"))

IDLE_RULES = 100
REPEAT = 5
LOAD = ["pubsub", "-q", "0", "-n", "10000000", "-d", "20"]
START_TIMEOUT = 15.0
RUN_TIMEOUT = 60.0
PASSWORD = "bench-password"


class RulesBenchError(Exception):
    pass


def http(port, method, path, body=None, token=None):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                 data=json.dumps(body).encode() if body is not None else None)
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read() or b"null")


class Server:
    """agora serve on free ports, an admin account `bench` and its token."""

    def __init__(self, workdir, pin):
        self.dir = tempfile.mkdtemp(prefix="rules-", dir=workdir)
        self.port, self.http_port = benchlib.free_port(), benchlib.free_port()
        conf = os.path.join(self.dir, "agora.conf")
        with open(conf, "w") as f:
            f.write("listener 127.0.0.1:%d\nhttp_listener 127.0.0.1:%d\ndata_dir %s\n"
                    "admins bench\nlog_level warn\npassword_hash_memory 8\n"
                    "password_hash_passes 1\n" % (self.port, self.http_port,
                                                  os.path.join(self.dir, "data")))
        self.log = open(os.path.join(self.dir, "stderr"), "w")
        self.proc = subprocess.Popen(pin + [AGORA, "serve", "-c", conf], stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self.pid = self.proc.pid
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                http(self.http_port, "GET", "/healthz")
                break
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RulesBenchError("agora did not start: %s" % benchlib.tail(
                        os.path.join(self.dir, "stderr")))
                time.sleep(0.02)  # polling interval of a bounded wait for the port
        self.token = http(self.http_port, "POST", "/api/users",
                          {"name": "bench", "password": PASSWORD})["token"]

    def add_rule(self, name, sql, actions):
        return http(self.http_port, "POST", "/api/rules",
                    {"name": name, "sql": sql, "actions": actions}, self.token)

    def rule(self, rid):
        return http(self.http_port, "GET", "/api/rules/%d" % rid, token=self.token)

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def run_load(srv, pin):
    cmd = pin + [AGORA, "bench"] + LOAD + ["-p", str(srv.port), "--pid", str(srv.pid), "--json"]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                       stdin=subprocess.DEVNULL)
    for line in reversed(p.stdout.strip().splitlines()):
        if line.startswith("{"):
            doc = json.loads(line)
            if doc.get("error") or doc["delivered"] != doc["expected"]:
                raise RulesBenchError("agora bench: %s (delivered %d of %d)" % (
                    doc.get("error") or "lost messages", doc["delivered"], doc["expected"]))
            return doc
    raise RulesBenchError("agora bench printed no JSON (exit %d): %s" % (
        p.returncode, (p.stderr or p.stdout)[-300:]))


def broker_cpu_s(doc):
    return doc["broker"]["user_s"] + doc["broker"]["sys_s"]


def measure(workdir, broker_pin=(), client_pin=()):
    broker_pin, client_pin = list(broker_pin), list(client_pin)
    res = {"plain": [], "idle_rules": [], "every": None}
    # 1. turns: plain, 100 idle rules, plain, ...
    for _ in range(REPEAT):
        for kind in ("plain", "idle_rules"):
            srv = Server(workdir, broker_pin)
            try:
                if kind == "idle_rules":
                    for i in range(IDLE_RULES):
                        srv.add_rule("idle-%d" % i, 'SELECT * FROM "unrelated/%d/#"' % i,
                                     [{"type": "republish", "topic": "out/%d" % i}])
                doc = run_load(srv, client_pin)
                res[kind].append({"rate": doc["delivered_per_s"],
                                  "cpu_per_delivery_us": 1e6 * broker_cpu_s(doc) /
                                  max(1, doc["delivered"])})
            finally:
                srv.stop()
    # 2. one rule on every message, republishing it
    srv = Server(workdir, broker_pin)
    try:
        rid = srv.add_rule("every", 'SELECT * FROM "#" WHERE topic NOT LIKE \'copy/%\'',
                           [{"type": "republish", "topic": "copy/x"}])["id"]
        doc = run_load(srv, client_pin)
        st = srv.rule(rid)["stats"]
        res["every"] = {"matched": st["matched"], "passed": st["passed"],
                        "elapsed_s": doc["elapsed_s"], "rate": doc["delivered_per_s"],
                        "evals_per_s": st["matched"] / doc["elapsed_s"],
                        "cpu_per_eval_us": 1e6 * broker_cpu_s(doc) / max(1, st["matched"]),
                        "broker_cpu_pct": doc["broker"]["cpu_pct"]}
    finally:
        srv.stop()
    return res


def markdown(res):
    def med(kind, key):
        return statistics.median(r[key] for r in res[kind])

    plain, idle = med("plain", "rate"), med("idle_rules", "rate")
    plain_cpu, idle_cpu = med("plain", "cpu_per_delivery_us"), med("idle_rules",
                                                                  "cpu_per_delivery_us")
    e = res["every"]
    cost = idle_cpu / plain_cpu - 1
    L = ["## Rules", "",
         "What rules cost the broker (issue 16; `bench/rules_cost.py`): QoS 0 1→1 "
         "(`agora bench %s`) on a fresh broker each run, broker and load pinned to a core "
         "each, in turns, %d runs each; then one rule that matches every message and "
         "republishes it. The broker is at a full core in these runs, so what rules cost it "
         "is its CPU per delivery; the throughput medians are beside it, but they move by "
         "±15%% from one run to the next here, more than the effect measured. The engine "
         "alone, and the broker core without sockets: `make bench-rules`." % (
             " ".join(LOAD), REPEAT), "",
         "| target | measured | |", "| --- | --- | --- |",
         "| 100 rules on unrelated topics cost QoS 0 1→1 at most 5%% | broker CPU per delivery "
         "%+.1f%% (%.3f vs %.3f µs, medians); throughput %s vs %s deliveries/s (%+.1f%%) "
         "| %s |" % (
             100 * cost, idle_cpu, plain_cpu, "{:,.0f}".format(idle), "{:,.0f}".format(plain),
             100 * (idle / plain - 1), "met" if cost <= 0.05 else "**not met**"),
         "| a rule on every message, republishing it: at least 200,000 evaluations/s on one "
         "core | %s evaluations/s (broker at %.0f%% of a core) | %s |" % (
             "{:,.0f}".format(e["evals_per_s"]), e["broker_cpu_pct"],
             "met" if e["evals_per_s"] >= 200000 else "**not met**"),
         "",
         "- Runs (deliveries/s): no rule %s; 100 idle rules %s." % (
             ", ".join("{:,.0f}".format(r["rate"]) for r in res["plain"]),
             ", ".join("{:,.0f}".format(r["rate"]) for r in res["idle_rules"])),
         "- Broker CPU per delivery without rules: %.2f µs; with the every-message rule, "
         "per evaluation (its delivery, the evaluation, the republish and its routing): "
         "%.2f µs (%s evaluations, %s passed, in %.1f s)." % (
             plain_cpu, e["cpu_per_eval_us"], "{:,}".format(e["matched"]),
             "{:,}".format(e["passed"]), e["elapsed_s"]), ""]
    return "\n".join(L) + "\n"


def main():
    benchlib.exit_on_signals()
    # Pinned as compare.py pins: the broker on core 0, the load on core 1.
    pins = (["taskset", "-c", "0"], ["taskset", "-c", "1"]) \
        if shutil.which("taskset") and len(os.sched_getaffinity(0)) >= 2 else ([], [])
    with tempfile.TemporaryDirectory() as d:
        print(markdown(measure(d, *pins)))


if __name__ == "__main__":
    sys.exit(main())
