"""The poll line protocol (docs/protocols.md, "Poll line protocol"), black
box: `agora serve --poll-listener 127.0.0.1:PORT`, accounts and polls made
over REST, raw sockets speaking lines. Every command and error, LOGIN off
the loop (its input waiting, three failures closing), one vote per account
whichever way it comes, WATCH pushing RESULTS when anyone votes (coalesced,
the last line exact), bad lines (long, not UTF-8, NUL, a flood), a watcher
that never reads, the idle timeout, the connection limit, IPv6, QUIT.

Every wait is bounded and waits for an event (a line, the end of the
connection, a log line), never for a fixed time."""

import json
import os
import queue
import random
import re
import socket
import subprocess
import threading
import time

import pytest
import requests

from apiclient import Api, build_request, RawHttp
from conftest import AGORA_BIN, free_port, ipv6_loopback_available, require_agora

TIMEOUT = 10.0


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------

class Line:
    """One connection to the poll listener: lines out, lines in, each read
    bounded by a timeout. RESULTS lines met while waiting for an answer are
    kept in .results (parsed)."""

    def __init__(self, port, host="127.0.0.1", rcvbuf=None):
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(family, socket.SOCK_STREAM)
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.settimeout(TIMEOUT)
        self.sock.connect((host, port))
        self.buf = bytearray()
        self.eof = False
        self.results = []

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        self.sock.sendall(data)

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("nothing from the server in time (have %r)"
                                 % bytes(self.buf[:200]))
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("nothing from the server in time (have %r)"
                                 % bytes(self.buf[:200]))
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
        if not data:
            self.eof = True
        self.buf += data

    def line(self, timeout=TIMEOUT):
        """The next line, without its \\n; None at the end of the
        connection."""
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            if self.eof:
                assert not self.buf, "bytes without a line end before EOF: %r" % self.buf
                return None
            self._fill(deadline)
        end = self.buf.index(b"\n")
        text = bytes(self.buf[:end]).decode("utf-8")
        del self.buf[:end + 1]
        assert "\r" not in text
        return text

    def answer(self, timeout=TIMEOUT):
        """The next answer (OK/ERR), RESULTS lines before it kept."""
        while True:
            text = self.line(timeout)
            assert text is not None, "connection closed before an answer"
            if not text.startswith("RESULTS "):
                return text
            self.results.append(json.loads(text[len("RESULTS "):]))

    def cmd(self, text, timeout=TIMEOUT):
        self.send(text + "\n")
        return self.answer(timeout)

    def ok(self, text):
        """A command that must succeed: the JSON after OK when there is
        some, else the text."""
        a = self.cmd(text)
        assert a.startswith("OK"), "%s -> %s" % (text, a)
        rest = a[3:]
        return json.loads(rest) if rest[:1] in ("{", "[") else rest

    def err(self, text, code):
        a = self.cmd(text)
        assert a.startswith("ERR %s " % code), "%s -> %s, expected ERR %s" % (text, a, code)
        return a[len("ERR %s " % code):]

    def expect_eof(self, timeout=TIMEOUT):
        text = self.line(timeout)
        assert text is None, "expected the end of the connection, got %r" % text

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class PollServer:
    def __init__(self, broker, port, host="127.0.0.1"):
        self.broker = broker
        self.port = port
        self.host = host
        self.api = Api(broker)
        self.clients = []

    def connect(self, host=None, **kw):
        c = Line(self.port, host or self.host, **kw)
        self.clients.append(c)
        return c

    def login(self, account):
        c = self.connect()
        assert c.ok("LOGIN %s %s" % (account.name, account.password)) == account.name
        return c

    def create_poll(self, owner, question="Été ou hiver ?", options=("été", "hiver")):
        r = self.api.post("/api/polls", token=owner.token,
                          json={"question": question, "options": list(options)}, expect=201)
        return r.json()

    def rest_vote(self, account, poll_id, option, expect=201):
        return self.api.post("/api/polls/%d/votes" % poll_id, token=account.token,
                             json={"option": option}, expect=expect)

    def poll(self, poll_id):
        return self.api.get("/api/polls/%d" % poll_id, expect=200).json()

    def closed_line(self, client, since=0, timeout=TIMEOUT):
        """The server's log line for the end of client's connection."""
        port = client.sock.getsockname()[1]
        return self.broker.wait_log(r"poll line connection from \S+:%d closed" % port,
                                    timeout, since=since)

    def close(self):
        for c in self.clients:
            c.close()
        self.api.close()


@pytest.fixture
def poll_server(broker_factory):
    """Starts a server with a poll listener (and extra config lines):
    poll_server(*lines, hosts=("127.0.0.1",)) -> PollServer."""
    servers = []

    def start(*lines, hosts=("127.0.0.1",)):
        require_agora("the poll line protocol")
        port = free_port()
        args = []
        for h in hosts:
            args += ["--poll-listener", ("[%s]:%d" if ":" in h else "%s:%d") % (h, port)]
        b = broker_factory(*lines, args=args)
        for h in hosts:
            name = ("[%s]:%d" if ":" in h else "%s:%d") % (h, port)
            b.wait_log(r"listening on %s \(poll line protocol\)" % re.escape(name))
        s = PollServer(b, port, hosts[0])
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.close()


def counts(poll):
    return [o["votes"] for o in poll["options"]]


# --------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------

def test_help_unknown_and_blank_lines(poll_server):
    s = poll_server()
    c = s.connect()
    help_text = c.ok("HELP")
    for word in ("LOGIN", "POLLS", "POLL", "VOTE", "WATCH", "UNWATCH", "HELP", "QUIT"):
        assert word in help_text
    assert c.ok("help") == help_text  # any case
    assert c.ok("  HeLp \t") == help_text
    assert "'bonjour'" in c.err("bonjour tout le monde", "unknown_command")
    c.err("GET / HTTP/1.1", "unknown_command")
    c.err("POLLSX", "unknown_command")
    # A blank line gets no answer: the next line is HELP's.
    c.send("\n  \n\r\nHELP\r\n")
    assert c.answer() == "OK " + help_text
    # Usage errors keep the connection.
    for line, usage in (("POLL", "POLL id"), ("POLL x", "POLL id"), ("POLL 0", "POLL id"),
                        ("POLL 1 2", "POLL id"), ("VOTE 1", "VOTE id option"),
                        ("WATCH -3", "WATCH id"), ("UNWATCH", "UNWATCH id"),
                        ("LOGIN alice", "LOGIN name password"), ("POLLS 2", "POLLS"),
                        ("QUIT now", "QUIT")):
        assert "usage: " + usage in c.err(line, "bad_request"), line
    assert c.ok("HELP") == help_text


def test_polls_and_poll(poll_server):
    s = poll_server()
    alice = s.api.register("alice")
    p1 = s.create_poll(alice, "Première ?", ["oui", "non"])
    p2 = s.create_poll(alice, "Deuxième ?", ["a", "b", "c"])
    p3 = s.create_poll(alice, "Troisième ?", ["x", "y"])
    s.api.post("/api/polls/%d/close" % p2["id"], token=alice.token, expect=200)
    c = s.connect()
    listed = c.ok("POLLS")["polls"]
    # open first, newest first; then the closed one
    assert [p["id"] for p in listed] == [p3["id"], p1["id"], p2["id"]]
    assert [p["open"] for p in listed] == [True, True, False]
    assert listed[0] == s.poll(p3["id"])  # the same object as REST's
    got = c.ok("POLL %d" % p1["id"])
    assert got == s.poll(p1["id"])
    assert got["question"] == "Première ?"
    assert [o["label"] for o in got["options"]] == ["oui", "non"]
    assert c.ok("poll %d" % p2["id"])["open"] is False
    assert "no poll 999" in c.err("POLL 999", "not_found")
    c.err("POLL 9223372036854775807", "not_found")
    c.err("POLL 9223372036854775808", "bad_request")


def test_polls_lists_at_most_100(poll_server):
    s = poll_server()
    alice = s.api.register("alice")
    for i in range(103):
        s.create_poll(alice, "Q%d" % i, ["a", "b"])
    c = s.connect()
    listed = c.ok("POLLS")["polls"]
    assert len(listed) == 100
    assert listed[0]["question"] == "Q102" and listed[-1]["question"] == "Q3"


def test_login(poll_server):
    s = poll_server()
    bob = s.api.register("bob", "correct-horse")
    poll = s.create_poll(bob)
    c = s.connect()
    assert "LOGIN" in c.err("VOTE %d hiver" % poll["id"], "unauthorized")
    assert c.err("LOGIN bob wrong-password", "unauthorized") == "wrong name or password"
    assert c.err("LOGIN nobody correct-horse", "unauthorized") == "wrong name or password"
    assert c.ok("LOGIN bob correct-horse") == "bob"
    assert "already logged in as bob" in c.err("LOGIN bob correct-horse", "bad_request")
    s.broker.wait_log(r"poll line login as 'bob' from 127\.0\.0\.1:\d+: accepted")
    s.broker.wait_log(r"poll line login as 'nobody' from 127\.0\.0\.1:\d+: refused")
    # A password with spaces is the rest of the line, as it is.
    carol = s.api.register("carol", "pass word  here")
    c2 = s.connect()
    c2.err("LOGIN carol pass word here", "unauthorized")
    assert c2.ok("LOGIN carol pass word  here") == "carol"


def test_login_with_an_api_token(poll_server):
    """The account's API token is accepted as its password (as for MQTT);
    another account's token, or a revoked one, is not."""
    s = poll_server()
    alice, bob = s.api.register("alice"), s.api.register("bob")
    poll = s.create_poll(alice)
    mark = s.broker.log_mark()
    c = s.connect()
    c.err("LOGIN bob %s" % alice.token, "unauthorized")
    assert c.ok("LOGIN bob %s" % bob.token) == "bob"
    assert c.ok("VOTE %d été" % poll["id"])["results"]["total"] == 1
    s.broker.wait_log(r"poll line login as 'bob' from \S+: accepted \(API token\)", since=mark)
    s.api.post("/api/logout", token=bob.token, expect=204)
    c2 = s.connect()
    c2.err("LOGIN bob %s" % bob.token, "unauthorized")
    assert c2.ok("LOGIN bob %s" % bob.password) == "bob"  # the password still works


def test_login_holds_the_next_lines(poll_server):
    """The lines after a LOGIN wait for its verdict (argon2 off the loop),
    then are answered in order."""
    s = poll_server()
    bob = s.api.register("bob")
    poll = s.create_poll(bob)
    c = s.connect()
    c.send("LOGIN bob %s\nVOTE %d hiver\nPOLL %d\n" % (bob.password, poll["id"], poll["id"]))
    assert c.answer() == "OK bob"
    voted = json.loads(c.answer()[3:])
    assert voted["option"] == {"number": 2, "label": "hiver"}
    assert counts(json.loads(c.answer()[3:])) == [0, 1]


SLOW_HASH = ("password_hash_memory 131072", "password_hash_passes 3")  # ~0.3 s a check


def test_login_is_checked_off_the_loop(poll_server):
    """While one connection's password is checked (argon2, slow here),
    other connections are answered."""
    s = poll_server(*SLOW_HASH)
    s.api.register("bob")
    slow, other = s.connect(), s.connect()
    slow.send("LOGIN bob wonderland\n")
    answered = 0
    while True:
        assert other.ok("HELP").startswith("commands:")
        answered += 1
        slow.sock.setblocking(False)
        try:
            got = slow.sock.recv(65536)
        except BlockingIOError:
            got = None
        if got is not None:
            slow.buf += got
            break
        assert answered < 100000
    assert slow.answer() == "OK bob"
    assert answered >= 3, "only %d answers while the password was checked" % answered


def test_stop_with_clients_connected(poll_server):
    """SIGTERM with a watcher, a LOGIN under way and a half-sent line: every
    connection ends, the server exits 0 (the fixture checks it, and that
    ASan found nothing)."""
    s = poll_server(*SLOW_HASH)
    bob = s.api.register("bob")
    pid = s.create_poll(bob)["id"]
    watcher, login, partial = s.connect(), s.connect(), s.connect()
    watcher.ok("WATCH %d" % pid)
    partial.send("POLL %d" % pid)  # no end of line
    login.send("LOGIN bob wonderland\nPOLLS\n")
    s.broker.stop()
    assert s.broker.returncode == 0
    watcher.expect_eof()
    partial.expect_eof()
    assert "server stopping" in s.closed_line(watcher)
    while login.line() is not None:  # the answers it got before the end, if any
        pass


def test_three_failed_logins_close(poll_server):
    s = poll_server()
    s.api.register("bob")
    c = s.connect()
    mark = s.broker.log_mark()
    c.err("LOGIN bob nope1", "unauthorized")
    c.err("LOGIN bob nope2", "unauthorized")
    assert "3 failed logins: closing" in c.err("LOGIN bob nope3", "unauthorized")
    c.expect_eof()
    assert "3 failed logins" in s.closed_line(c, mark)
    # Pipelined: the fourth line is never answered.
    c2 = s.connect()
    c2.send("LOGIN bob a\nLOGIN bob b\nLOGIN bob c\nHELP\n")
    for _ in range(3):
        assert c2.answer().startswith("ERR unauthorized ")
    c2.expect_eof()
    # A right password after two wrong ones is fine.
    c3 = s.connect()
    c3.err("LOGIN bob x", "unauthorized")
    c3.err("LOGIN bob y", "unauthorized")
    assert c3.ok("LOGIN bob wonderland") == "bob"


def test_vote(poll_server):
    s = poll_server()
    alice, bob, carol, dave = (s.api.register(n) for n in ("alice", "bob", "carol", "dave"))
    poll = s.create_poll(alice)
    pid = poll["id"]
    b = s.login(bob)
    voted = b.ok("VOTE %d Hiver" % pid)  # a label, ASCII case ignored
    assert voted["poll_id"] == pid
    assert voted["option"] == {"number": 2, "label": "hiver"}
    assert voted["results"]["id"] == pid
    assert counts(voted["results"]) == [0, 1] and voted["results"]["total"] == 1
    assert counts(s.poll(pid)) == [0, 1]  # stored: REST sees it
    msg = b.err("VOTE %d été" % pid, "already_voted")
    assert "already voted on poll %d" % pid in msg
    assert counts(s.poll(pid)) == [0, 1]
    # The same account over REST: one vote per account, whichever way.
    r = s.rest_vote(bob, pid, "été", expect=409)
    assert r.json()["error"]["code"] == "already_voted"
    # by number, and the option is the rest of the line
    c = s.login(carol)
    assert c.ok("VOTE %d   1  " % pid)["option"] == {"number": 1, "label": "été"}
    # a vote over REST first, then the line refuses
    s.rest_vote(dave, pid, "hiver")
    d = s.login(dave)
    d.err("VOTE %d hiver" % pid, "already_voted")
    assert counts(s.poll(pid)) == [1, 2]
    # refusals
    a = s.login(alice)
    assert "has no option 'printemps'" in a.err("VOTE %d printemps" % pid, "unknown_option")
    a.err("VOTE %d 3" % pid, "unknown_option")
    assert "no poll 999" in a.err("VOTE 999 été", "not_found")
    s.api.post("/api/polls/%d/close" % pid, token=alice.token, expect=200)
    assert "is closed" in a.err("VOTE %d été" % pid, "poll_closed")
    assert counts(s.poll(pid)) == [1, 2]
    # a label with spaces
    p2 = s.create_poll(alice, "Saison ?", ["fin d'été", "début d'hiver"])
    assert a.ok("VOTE %d  fin d'été " % p2["id"])["option"]["number"] == 1


def test_vote_from_deleted_account(poll_server):
    s = poll_server()
    alice, bob = s.api.register("alice"), s.api.register("bob")
    poll = s.create_poll(alice)
    b = s.login(bob)
    s.api.delete("/api/users/%d" % bob.id, token=bob.token, expect=204)
    b.err("VOTE %d été" % poll["id"], "forbidden")
    assert counts(s.poll(poll["id"])) == [0, 0]


def test_watch_receives_results(poll_server):
    s = poll_server()
    alice, bob, carol = (s.api.register(n) for n in ("alice", "bob", "carol"))
    poll = s.create_poll(alice)
    pid = poll["id"]
    w = s.connect()
    watched = w.ok("WATCH %d" % pid)
    assert watched == s.poll(pid)
    s.rest_vote(bob, pid, "été")
    line = w.line()
    assert line.startswith("RESULTS ")
    got = json.loads(line[len("RESULTS "):])
    assert got["id"] == pid and counts(got) == [1, 0] and got["total"] == 1
    assert got == s.poll(pid)
    # A vote over the line protocol is pushed too (to its own watcher also).
    c = s.login(carol)
    c.ok("VOTE %d hiver" % pid)
    assert counts(json.loads(w.line()[len("RESULTS "):])) == [1, 1]
    # Closing the poll is a change.
    s.api.post("/api/polls/%d/close" % pid, token=alice.token, expect=200)
    closed = json.loads(w.line()[len("RESULTS "):])
    assert closed["open"] is False and closed["closed_at"] is not None
    # WATCH again: the results again, still one watch (one line per change).
    assert w.ok("WATCH %d" % pid)["open"] is False
    assert w.ok("UNWATCH %d" % pid) == "unwatched %d" % pid
    assert "not watching poll %d" % pid in w.err("UNWATCH %d" % pid, "not_watching")
    # After UNWATCH, a change pushes nothing: the vote's 201 comes after the
    # push would have been written, so HELP's answer is the next line.
    p2 = s.create_poll(alice)
    w.ok("WATCH %d" % p2["id"])
    w.ok("UNWATCH %d" % p2["id"])
    s.rest_vote(bob, p2["id"], "été")
    assert w.cmd("HELP").startswith("OK commands:")
    assert w.results == []
    w.err("WATCH 999", "not_found")
    w.err("UNWATCH 999", "not_watching")


def test_watch_sees_the_poll_close_by_the_clock(poll_server):
    """A poll whose closes_at comes is a change: its watchers get RESULTS
    with "open": false, without any vote or request."""
    s = poll_server()
    alice = s.api.register("alice")
    closes = int(time.time() * 1000) + 1500
    r = s.api.post("/api/polls", token=alice.token,
                   json={"question": "Vite ?", "options": ["oui", "non"], "closes_at": closes},
                   expect=201)
    pid = r.json()["id"]
    later = s.create_poll(alice)  # watched too, never closes: no line for it
    w = s.connect()
    assert w.ok("WATCH %d" % pid)["open"] is True
    w.ok("WATCH %d" % later["id"])
    line = w.line(timeout=TIMEOUT)
    assert time.time() * 1000 >= closes
    got = json.loads(line[len("RESULTS "):])
    assert got["id"] == pid and got["open"] is False and got["closed_at"] is None
    assert got["closes_at"] is not None
    assert w.cmd("HELP").startswith("OK commands:") and w.results == []  # once
    a = s.login(alice)
    a.err("VOTE %d oui" % pid, "poll_closed")


def test_watchers_each_get_results(poll_server):
    s = poll_server()
    alice, bob = s.api.register("alice"), s.api.register("bob")
    p1, p2 = s.create_poll(alice), s.create_poll(alice, "Autre ?", ["a", "b"])
    watchers = [s.connect() for _ in range(5)]
    for w in watchers:
        w.ok("WATCH %d" % p1["id"])
        w.ok("WATCH %d" % p2["id"])
    s.rest_vote(bob, p2["id"], "b")
    for w in watchers:
        got = json.loads(w.line()[len("RESULTS "):])
        assert got["id"] == p2["id"] and counts(got) == [0, 1]
    # one leaves; the others still get the next change
    watchers[0].close()
    s.rest_vote(bob, p1["id"], "été")
    for w in watchers[1:]:
        got = json.loads(w.line()[len("RESULTS "):])
        assert got["id"] == p1["id"] and counts(got) == [1, 0]


def test_watch_limit(poll_server):
    s = poll_server("poll_max_watches 2")
    alice = s.api.register("alice")
    ids = [s.create_poll(alice, "Q%d" % i)["id"] for i in range(3)]
    w = s.connect()
    w.ok("WATCH %d" % ids[0])
    w.ok("WATCH %d" % ids[1])
    assert "at most 2 polls" in w.err("WATCH %d" % ids[2], "too_many_watches")
    w.ok("WATCH %d" % ids[0])  # already watched: fine
    w.ok("UNWATCH %d" % ids[0])
    w.ok("WATCH %d" % ids[2])
    s.rest_vote(alice, ids[2], "hiver")
    assert json.loads(w.line()[len("RESULTS "):])["id"] == ids[2]


def test_coalesced_results_end_exact(poll_server):
    """A burst of votes in one loop turn (pipelined HTTP requests) gives
    fewer RESULTS lines than votes; the last has the exact final counts."""
    s = poll_server()
    owner = s.api.register("owner")
    poll = s.create_poll(owner, "Burst ?", ["a", "b", "c"])
    pid = poll["id"]
    voters = [s.api.register("v%02d" % i) for i in range(30)]
    w = s.connect()
    w.ok("WATCH %d" % pid)
    burst = b"".join(
        build_request("POST", "/api/polls/%d/votes" % pid,
                      json.dumps({"option": "abc"[i % 3]}),
                      headers={"Authorization": "Bearer " + v.token})
        for i, v in enumerate(voters))
    with RawHttp(s.broker, timeout=TIMEOUT) as h:
        h.send(burst)
        for _ in voters:
            assert h.read_response(timeout=TIMEOUT).status_code == 201
    # Every RESULTS line until the one with all 30 votes.
    lines = []
    while not lines or lines[-1]["total"] < 30:
        text = w.line()
        assert text and text.startswith("RESULTS "), text
        lines.append(json.loads(text[len("RESULTS "):]))
    # Nothing more was pushed: HELP's answer is next.
    assert w.cmd("HELP").startswith("OK commands:") and w.results == []
    assert 1 <= len(lines) < 30, "%d RESULTS lines for 30 votes" % len(lines)
    assert counts(lines[-1]) == [10, 10, 10] and lines[-1]["total"] == 30
    totals = [p["total"] for p in lines]
    assert totals == sorted(totals)
    for p in lines:
        assert sum(counts(p)) == p["total"]
    assert lines[-1] == s.poll(pid)


# --------------------------------------------------------------------------
# Bad input
# --------------------------------------------------------------------------

def test_long_line(poll_server):
    s = poll_server("poll_max_line 64")
    alice = s.api.register("alice")
    poll = s.create_poll(alice)
    c = s.connect()
    # 64 bytes of text is fine, with \n or \r\n
    line = "VOTE %d " % poll["id"]
    line += "x" * (64 - len(line))
    assert len(line) == 64
    c.err(line, "unauthorized")
    c.send(line + "\r\n")
    assert c.answer().startswith("ERR unauthorized ")
    # 65 is not
    mark = s.broker.log_mark()
    assert c.err(line + "y", "bad_line") == "line longer than 64 bytes: closing"
    c.expect_eof()
    assert "bad line: line longer than 64 bytes" in s.closed_line(c, mark)


def test_long_line_refused_before_its_end(poll_server):
    s = poll_server("poll_max_line 64")
    c = s.connect()
    c.send("HELP\n" + "P" * 66)  # no end of line: refused after 66 bytes
    assert c.answer().startswith("OK commands:")
    assert c.answer() == "ERR bad_line line longer than 64 bytes: closing"
    c.expect_eof()


def test_invalid_utf8_and_nul(poll_server):
    s = poll_server()
    for raw, why in ((b"POLL \xff\n", "not UTF-8"), (b"VOTE 1 \xc3\n", "not UTF-8"),
                     (b"VOTE 1 \xed\xa0\x80\n", "not UTF-8"),  # a surrogate
                     (b"PO\x00LL 1\n", "NUL"), (b"HELP\x00\r\n", "NUL")):
        c = s.connect()
        c.send(b"HELP\n" + raw + b"HELP\n")
        assert c.answer().startswith("OK commands:")
        a = c.answer()
        assert a.startswith("ERR bad_line ") and why in a and a.endswith(": closing"), (raw, a)
        c.expect_eof()  # the HELP after it is not answered
    # Valid UTF-8 and other control characters are text.
    c = s.connect()
    assert "'h\u00e9\u00e9'" in c.err("hé\u00e9", "unknown_command")
    a = c.cmd("\x1b[2J\x07")
    assert a.startswith("ERR unknown_command ") and "\x1b" not in a and "\x07" not in a


def test_garbage_flood(poll_server):
    """Megabytes of random bytes without a line end: ERR bad_line after
    the limit, the connection closed; others are served meanwhile."""
    s = poll_server()
    flood = s.connect()
    other = s.connect()
    rng = random.Random(12)
    chunk = bytes(rng.getrandbits(8) for _ in range(65536)).replace(b"\n", b"x")
    sent = [0]

    def send_flood():
        try:
            for _ in range(512):  # 32 MiB at most: more than the sockets' buffers hold
                flood.sock.sendall(chunk)
                sent[0] += len(chunk)
        except OSError:
            pass  # closed by the server: expected

    t = threading.Thread(target=send_flood, daemon=True)
    t.start()
    a = flood.answer()
    assert a.startswith("ERR bad_line "), a
    flood.expect_eof(timeout=20)
    assert other.ok("HELP").startswith("commands:")
    t.join(30)
    assert not t.is_alive()
    assert sent[0] < 512 * len(chunk), "the server read the whole flood"


def test_valid_command_flood_answered_in_order(poll_server):
    """Thousands of pipelined commands, read concurrently: every one answered,
    in order."""
    s = poll_server()
    alice = s.api.register("alice")
    ids = [s.create_poll(alice, "Q%d" % i)["id"] for i in range(3)]
    c = s.connect()
    n = 6000
    cmds = "".join("POLL %d\n" % ids[i % 3] for i in range(n))
    t = threading.Thread(target=c.send, args=(cmds,), daemon=True)
    t.start()
    for i in range(n):
        a = c.answer()
        assert a.startswith("OK {"), a
        assert json.loads(a[3:])["id"] == ids[i % 3]
    t.join(TIMEOUT)


# --------------------------------------------------------------------------
# Slow clients, time, limits
# --------------------------------------------------------------------------

def test_watcher_that_never_reads_is_closed(poll_server):
    """A client watching polls and reading nothing is closed once its output
    passes poll_max_output (past what the sockets' buffers hold); others are
    served meanwhile."""
    s = poll_server("poll_max_output 4096", "poll_idle_timeout 600")
    alice, voter = s.api.register("alice"), s.api.register("voter")
    # 16 polls of 20 long options: a RESULTS line is about 3 KB.
    options = ["%s %02d" % ("x" * 96, i) for i in range(20)]
    pids = [s.create_poll(alice, "Q" * 500, options)["id"] for _ in range(16)]
    for pid in pids:
        s.rest_vote(voter, pid, "1")
    slow = s.connect(rcvbuf=4096)
    slow.send("".join("WATCH %d\n" % pid for pid in pids))  # and never read
    other = s.connect()
    assert other.ok("POLL %d" % pids[-1])["id"] == pids[-1]  # the WATCHes are in
    mark = s.broker.log_mark()
    closed = None
    with RawHttp(s.broker, timeout=TIMEOUT) as h:
        for i in range(500):  # each round: 16 changes, 16 RESULTS lines (48 KB)
            h.send(b"".join(
                build_request("PUT", "/api/polls/%d/votes/me" % pid,
                              json.dumps({"option": str(1 + (i + 1) % 20)}),
                              headers={"Authorization": "Bearer " + voter.token})
                for pid in pids))
            for _ in pids:
                assert h.read_response(timeout=TIMEOUT).status_code == 200
            assert other.ok("POLL %d" % pids[0])["id"] == pids[0]  # still served
            closed = s.broker.find_log(r"poll line connection from \S+:%d closed: not reading"
                                       % slow.sock.getsockname()[1], since=mark)
            if closed:
                break
    assert closed, "the watcher that never reads was not closed"
    # what it was sent ends with the end of the connection
    deadline = time.monotonic() + TIMEOUT
    while not slow.eof:
        slow._fill(deadline)


def test_idle_timeout(poll_server):
    s = poll_server("poll_idle_timeout 1")
    alice = s.api.register("alice")
    pid = s.create_poll(alice)["id"]
    watcher = s.connect()
    watcher.ok("WATCH %d" % pid)
    idle = s.connect()
    mark = s.broker.log_mark()
    start = time.monotonic()
    assert idle.answer(timeout=5) == "ERR idle_timeout no command for 1 s: closing"
    assert time.monotonic() - start >= 0.9
    idle.expect_eof()
    assert "idle for 1 s" in s.closed_line(idle, mark)
    # One more silent second, measured by a second idle connection: the
    # watcher, silent all along, is still served.
    idle2 = s.connect()
    assert idle2.answer(timeout=5).startswith("ERR idle_timeout ")
    assert watcher.ok("HELP").startswith("commands:")
    s.rest_vote(alice, pid, "été")
    assert counts(json.loads(watcher.line()[len("RESULTS "):])) == [1, 0]
    # A command restarts the clock: active for longer than the timeout.
    busy = s.connect()
    end = time.monotonic() + 2.5
    while time.monotonic() < end:
        assert busy.ok("HELP").startswith("commands:")
        busy.sock.settimeout(0.3)
        try:
            assert busy.sock.recv(1) == b"", "unexpected bytes"
        except socket.timeout:
            pass  # 0.3 s of silence, then the next command


def test_connection_limit(poll_server):
    s = poll_server("poll_max_connections 2")
    a, b = s.connect(), s.connect()
    assert a.ok("HELP") and b.ok("HELP")
    c = s.connect()
    assert c.answer().startswith("ERR too_many_connections ")
    c.expect_eof()
    s.broker.wait_log(r"poll line: refusing \S+: poll_max_connections \(2\) reached")
    # MQTT and HTTP are other services: not counted
    assert requests.get(s.broker.http_url + "/healthz", timeout=TIMEOUT).status_code == 200
    assert a.cmd("QUIT") == "OK bye"
    a.expect_eof()
    a.close()  # its slot is free once the server sees the close
    for _ in range(100):
        d = s.connect()
        answer = d.cmd("HELP")
        if answer.startswith("OK commands:"):
            break
        assert answer.startswith("ERR too_many_connections "), answer
        d.expect_eof()
    else:
        pytest.fail("no connection accepted after one of two left")
    metrics = requests.get(s.broker.http_url + "/metrics", timeout=TIMEOUT).text
    refused = re.search(r'agora_connections_refused_total\{protocol="poll"\} (\d+)', metrics)
    assert refused and int(refused.group(1)) >= 1
    assert re.search(r'agora_connections_accepted_total\{protocol="poll"\} 3\n', metrics)


def test_ipv6(poll_server):
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback")
    s = poll_server(hosts=("::1", "127.0.0.1"))
    bob = s.api.register("bob")
    pid = s.create_poll(bob)["id"]
    c6 = s.connect("::1")
    assert c6.ok("LOGIN bob %s" % bob.password) == "bob"
    assert c6.ok("VOTE %d été" % pid)["results"]["total"] == 1
    c4 = s.connect("127.0.0.1")
    assert c4.ok("POLL %d" % pid)["total"] == 1
    s.broker.wait_log(r"poll line connection from \[::1\]:\d+ on \[::1\]:%d" % s.port)


def test_quit_and_peer_shutdown(poll_server):
    s = poll_server()
    c = s.connect()
    c.send("QUIT\nHELP\n")
    assert c.answer() == "OK bye"
    c.expect_eof()  # HELP after QUIT is not answered
    c2 = s.connect()
    assert c2.cmd("quit") == "OK bye"
    c2.expect_eof()
    # The client shuts its side: what it sent is answered, then the end.
    c3 = s.connect()
    c3.send("HELP\nPOLL 1\n")
    c3.sock.shutdown(socket.SHUT_WR)
    assert c3.answer().startswith("OK commands:")
    assert c3.answer().startswith("ERR not_found ")
    c3.expect_eof()


def test_off_by_default_and_listed_in_help(broker_factory):
    require_agora("the poll line protocol")
    b = broker_factory()
    assert not b.find_log(r"poll line protocol")
    out = subprocess.run([AGORA_BIN, "serve", "--help"], capture_output=True, timeout=TIMEOUT)
    assert out.returncode == 0
    text = out.stdout.decode()
    assert re.search(r"--poll-listener\s.*\(default off\)", text)
    for key, default in (("poll-max-connections", "1000"), ("poll-max-line", "1024"),
                         ("poll-idle-timeout", "300"), ("poll-max-watches", "16"),
                         ("poll-max-output", "1048576")):
        assert re.search(r"--%s\s.*\(default %s\)" % (key, default), text), key
    bad = subprocess.run([AGORA_BIN, "serve", "--poll-listener", "nowhere"],
                         capture_output=True, timeout=TIMEOUT)
    assert bad.returncode == 1  # EXIT_USAGE
    assert b"poll_listener: 'nowhere' is not [ADDRESS:]PORT" in bad.stderr


def test_doc_python_client(poll_server):
    """The ten-line client of docs/protocols.md, as written there (its
    address and password replaced), against the server."""
    s = poll_server()
    bob = s.api.register("bob", "correct-horse")
    alice = s.api.register("alice")
    poll = s.create_poll(alice)
    doc = open(os.path.join(os.path.dirname(__file__), "..", "..", "docs", "protocols.md"),
               encoding="utf-8").read()
    code = doc.split("### A client in ten lines of Python", 1)[1]
    code = code.split("```python\n", 1)[1].split("```", 1)[0]
    assert len(code.strip().splitlines()) <= 10
    code = code.replace("7000", str(s.port)).replace("VOTE 3", "VOTE %d" % poll["id"])
    code = code.replace("WATCH 3", "WATCH %d" % poll["id"])
    p = subprocess.Popen(["/usr/bin/python3", "-u", "-c", code], stdout=subprocess.PIPE,
                         stderr=subprocess.DEVNULL)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(l.decode().rstrip("\n"))
                                     for l in iter(p.stdout.readline, b"")],
                     daemon=True).start()

    def printed():
        try:
            return lines.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError("the client printed nothing in time")

    try:
        assert printed() == "OK bob"
        assert json.loads(printed()[3:])["option"]["label"] == "hiver"
        assert json.loads(printed()[3:])["id"] == poll["id"]
        s.rest_vote(alice, poll["id"], "été")
        pushed = printed()
        assert pushed.startswith("RESULTS ") and json.loads(pushed[8:])["total"] == 2
    finally:
        p.kill()
        p.wait(TIMEOUT)
