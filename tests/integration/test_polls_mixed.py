"""Polls exact under load, whichever way the votes come (issue 12,
"Correctness"): 1,000 accounts vote at once over HTTP, MQTT 5 and the poll
line protocol mixed, with duplicates thrown in over the same and over
other protocols; every count and every refusal is checked, and so are the
last results pushed to watchers over MQTT and the line protocol. Then an
acknowledged vote of each kind (201, PUBACK 0x00, OK) survives kill -9.

Every vote opens its own connection (a fresh MQTT session or line
connection), logged in with the account's API token, so 32 threads keep the
server busy with logins, votes and refusals at the same time. Every wait is
bounded and waits for an answer, never for a fixed time.
"""
import concurrent.futures
import json
import random
import re
import socket
import struct
import threading

import pytest
import requests

import mqttraw
from apiclient import Api, kill9, restart_on_same_data
from conftest import free_port, require_agora
from mqttraw import CONNACK, PUBLISH, mqtt_str, packet
from test_mqtt5 import Connack5, Raw5, encode_props

ACCOUNTS = 1000
THREADS = 32
TIMEOUT = 30.0
LABELS = ["un", "deux", "trois", "quatre"]
HTTP, MQTT, LINE = "http", "mqtt", "line"


class Server:
    """agora serve with a poll listener; an Api on it."""

    def __init__(self, broker_factory, *lines):
        require_agora("polls over three protocols")
        self.line_port = free_port()
        self.b = broker_factory(*lines, args=["--poll-listener",
                                              "127.0.0.1:%d" % self.line_port])
        self.b.wait_log(r"listening on 127\.0\.0\.1:%d \(poll line protocol\)" % self.line_port)
        self.api = Api(self.b)

    def close(self):
        self.api.close()


# --------------------------------------------------------------------------
# One vote, each way in: returns ("ok", option number) or ("refused", code)
# --------------------------------------------------------------------------

def connect5(name, token):
    var = mqtt_str(b"MQTT") + bytes([5, 0xC2]) + struct.pack("!H", 60)
    payload = mqtt_str("") + mqtt_str(name) + mqtt_str(token)
    return packet(mqttraw.CONNECT, 0, var + encode_props(()) + payload)


def vote_http(session, base, token, poll_id, spelled):
    r = session.post("%s/api/polls/%d/votes" % (base, poll_id), json={"option": spelled},
                     headers={"Authorization": "Bearer " + token}, timeout=TIMEOUT)
    if r.status_code == 201:
        return "ok", r.json()["option"]["number"]
    assert r.status_code == 409, (r.status_code, r.text)
    return "refused", r.json()["error"]["code"]


# MQTT 5 reason codes of a vote (docs/api.md, "Voting over MQTT").
MQTT_CODES = {0x97: "already_voted", 0x83: "poll_closed", 0x99: "unknown_option",
              0x90: "not_found", 0x87: "unauthorized"}


def vote_mqtt(port, name, token, poll_id, spelled):
    c = Raw5(port, timeout=TIMEOUT)
    try:
        c.send(connect5(name, token))
        ack = Connack5(c.expect(CONNACK, TIMEOUT))
        assert ack.rc == 0, ack
        rc = c.publish5("agora/polls/%d/vote" % poll_id, str(spelled), qos=1, pid=1,
                        timeout=TIMEOUT).rc
        c.send(mqttraw.disconnect())
    finally:
        c.close()
    if rc == 0:
        return "ok", None  # a PUBACK says nothing of the option: the caller knows it
    return "refused", MQTT_CODES.get(rc, "0x%02x" % rc)


class LineConn:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.f = self.sock.makefile("rwb")

    def cmd(self, text):
        self.f.write(text.encode("utf-8") + b"\n")
        self.f.flush()
        return self.answer()

    def answer(self):
        while True:
            line = self.f.readline()
            assert line.endswith(b"\n"), "connection closed: %r" % line
            text = line[:-1].decode("utf-8")
            if not text.startswith("RESULTS "):
                return text

    def close(self):
        self.f.close()
        self.sock.close()


def vote_line(port, name, token, poll_id, spelled):
    c = LineConn(port)
    try:
        assert c.cmd("LOGIN %s %s" % (name, token)) == "OK " + name
        a = c.cmd("VOTE %d %s" % (poll_id, spelled))
        c.cmd("QUIT")
    finally:
        c.close()
    if a.startswith("OK "):
        return "ok", json.loads(a[3:])["option"]["number"]
    m = re.match(r"ERR (\w+) ", a)
    assert m, a
    return "refused", m.group(1)


# --------------------------------------------------------------------------
# Watchers: the last results they were pushed
# --------------------------------------------------------------------------

class MqttWatcher(threading.Thread):
    """Subscribes (MQTT 3.1.1, anonymous on loopback) to the poll's results
    and keeps the last one."""

    def __init__(self, port, poll_id):
        super().__init__(daemon=True)
        self.c = mqttraw.RawClient(port, timeout=TIMEOUT)
        self.c.connect()
        self.c.subscribe([("agora/polls/%d/results" % poll_id, 1)])
        self.last = None
        self.count = 0
        self.stop = threading.Event()
        self.changed = threading.Condition()

    def run(self):
        while not self.stop.is_set():
            try:
                p = self.c.recv_packet(timeout=0.5)
            except mqttraw.NoPacket:
                continue  # only to look at self.stop again
            except (mqttraw.ConnectionClosed, OSError):
                return
            if p.type == PUBLISH:
                if p.qos:
                    self.c.send(mqttraw.puback(p.pid))
                with self.changed:
                    self.last = json.loads(p.payload)
                    self.count += 1
                    self.changed.notify_all()

    def wait_total(self, total):
        with self.changed:
            ok = self.changed.wait_for(lambda: self.last and self.last["total"] == total,
                                       TIMEOUT)
        assert ok, "the retained results never reached %d votes: %r" % (total, self.last)
        return self.last


# --------------------------------------------------------------------------
# The storm
# --------------------------------------------------------------------------

def register_all(base, names):
    local = threading.local()

    def register(name):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        r = local.s.post(base + "/api/users", json={"name": name, "password": "wonderland"},
                         timeout=TIMEOUT)
        assert r.status_code == 201, r.text
        return name, r.json()["token"]

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        return dict(pool.map(register, names))


def plan(names, rng):
    """Each account votes once over its own protocol; every 4th sends a
    duplicate over another protocol, every 7th one more over its own. A
    duplicate names another option, spelled by label (any case), number
    text or, over HTTP, integer."""
    protocols = [HTTP, MQTT, LINE]
    attempts = []
    for i, name in enumerate(names):
        mine = protocols[i % 3]
        ways = [mine]
        if i % 4 == 0:
            ways.append(protocols[(i + 1) % 3])
        if i % 7 == 0:
            ways.append(mine)
        for k, proto in enumerate(ways):
            option = (i + k) % len(LABELS)
            spelled = rng.choice([LABELS[option], LABELS[option].upper(), str(option + 1)]
                                 + ([option + 1] if proto == HTTP else []))
            attempts.append((name, proto, option, spelled))
    rng.shuffle(attempts)
    return attempts


def test_thousand_accounts_three_protocols_exact(broker_factory):
    srv = Server(broker_factory)
    a = srv.api
    owner = a.register("owner")
    poll_id = a.post("/api/polls", token=owner.token, expect=201,
                     json={"question": "Quel chiffre ?", "options": LABELS}).json()["id"]
    names = ["v%04d" % i for i in range(ACCOUNTS)]
    tokens = register_all(a.base, names)

    mqtt_watch = MqttWatcher(srv.b.port, poll_id)
    mqtt_watch.start()
    line_watch = LineConn(srv.line_port)
    first = line_watch.cmd("WATCH %d" % poll_id)
    assert first.startswith("OK ") and json.loads(first[3:])["total"] == 0, first

    attempts = plan(names, random.Random(2026))
    barrier = threading.Barrier(THREADS)

    def cast(session, attempt):
        name, proto, option, spelled = attempt
        if proto == HTTP:
            out = vote_http(session, a.base, tokens[name], poll_id, spelled)
        elif proto == MQTT:
            out = vote_mqtt(srv.b.port, name, tokens[name], poll_id, spelled)
        else:
            out = vote_line(srv.line_port, name, tokens[name], poll_id, spelled)
        return attempt, out

    def worker(chunk):
        session = requests.Session()
        barrier.wait(timeout=TIMEOUT)  # everyone starts together
        return [cast(session, x) for x in chunk]

    chunks = [attempts[i::THREADS] for i in range(THREADS)]
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        results = [r for part in pool.map(worker, chunks) for r in part]
    assert len(results) == len(attempts)

    # Exactly one vote stored per account; every other attempt refused as a
    # duplicate, over whichever protocol it came.
    won = {}
    refusals = {HTTP: 0, MQTT: 0, LINE: 0}
    for (name, proto, option, _spelled), (outcome, detail) in results:
        if outcome == "ok":
            assert name not in won, "%s voted twice (second over %s)" % (name, proto)
            if detail is not None:
                assert detail == option + 1, (name, proto, detail, option)
            won[name] = option
        else:
            assert detail == "already_voted", (name, proto, detail)
            refusals[proto] += 1
    assert set(won) == set(names), sorted(set(names) - set(won))[:10]
    assert len(results) - len(won) == sum(refusals.values())
    assert all(refusals.values()), refusals  # duplicates were refused over each protocol

    expected = [0] * len(LABELS)
    for option in won.values():
        expected[option] += 1
    p = a.get("/api/polls/%d" % poll_id, expect=200).json()
    assert [o["votes"] for o in p["options"]] == expected
    assert p["total"] == ACCOUNTS

    # Each account's stored vote is the one it was told was stored.
    for name in names[::37]:
        mine = a.get("/api/polls/%d/votes/me" % poll_id, token=tokens[name], expect=200).json()
        assert mine["option"]["number"] == won[name] + 1, name

    # The watchers' last results are the final counts, pushed in fewer
    # messages than votes (coalesced).
    last = mqtt_watch.wait_total(ACCOUNTS)
    assert [o["votes"] for o in last["options"]] == expected
    assert mqtt_watch.count <= len(won) + 1
    line_watch.f.write(b"POLL %d\n" % poll_id)
    line_watch.f.flush()
    last = None
    while True:  # RESULTS lines, then the answer to POLL
        text = line_watch.f.readline().decode("utf-8").rstrip("\n")
        assert text, "the line connection closed"
        if text.startswith("RESULTS "):
            last = json.loads(text[len("RESULTS "):])
            continue
        assert text.startswith("OK "), text
        break
    assert last is not None and last["total"] == ACCOUNTS, last
    assert [o["votes"] for o in last["options"]] == expected

    mqtt_watch.stop.set()
    mqtt_watch.c.close()
    mqtt_watch.join(5)
    line_watch.close()
    srv.close()


def test_acknowledged_votes_survive_kill9_every_way(broker_factory):
    srv = Server(broker_factory)
    a = srv.api
    owner = a.register("owner")
    voters = {proto: a.register("by_" + proto) for proto in (HTTP, MQTT, LINE)}
    poll_id = a.post("/api/polls", token=owner.token, expect=201,
                     json={"question": "Saison ?", "options": ["été", "hiver"]}).json()["id"]

    with requests.Session() as s:
        assert vote_http(s, a.base, voters[HTTP].token, poll_id, "été") == ("ok", 1)
    assert vote_mqtt(srv.b.port, "by_mqtt", voters[MQTT].token, poll_id, "hiver") == ("ok", None)
    assert vote_line(srv.line_port, "by_line", voters[LINE].token, poll_id, "2") == ("ok", 2)
    srv.close()
    kill9(srv.b)  # right after the last acknowledgement

    b2 = restart_on_same_data(broker_factory, srv.b)
    a2 = Api(b2)
    p = a2.get("/api/polls/%d" % poll_id, expect=200).json()
    assert [o["votes"] for o in p["options"]] == [1, 2]
    for proto, number in ((HTTP, 1), (MQTT, 2), (LINE, 2)):
        mine = a2.get("/api/polls/%d/votes/me" % poll_id, token=voters[proto].token,
                      expect=200).json()
        assert mine["option"]["number"] == number, proto
    a2.close()
