"""Polls from the shell (issue 12): agora poll create, list, show (--follow),
close and agora vote against `agora serve`.

As in test_cli_api.py (whose Cli runs `agora` with a config directory of
its own and checks every run for sanitizer reports), what the commands do
is checked through the REST API with requests, and what is made through
the API is read back with the commands. The module shares one server;
each test makes polls and accounts of its own.

`poll show --follow` runs as a subprocess whose output is read line by
line by a thread into a queue; every wait on it has a deadline. Live
delivery is shown without sleeping: a first vote's results can only come
over MQTT (the REST answer was printed before it), so once they are shown
the subscription is in place and a second vote's results are a live
publish.
"""

import calendar
import fcntl
import json
import math
import os
import pty
import queue
import re
import select
import signal
import socket
import struct
import subprocess
import termios
import threading
import time

import pytest

import apiclient
from apiclient import Api
from conftest import AGORA_BIN, free_port, is_agora, sanitizer_lines
from test_cli_api import PASSWORD, Cli, assert_error, uname

shared_broker = apiclient.shared_broker

pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: polls and their CLI")

WAIT = 10.0           # one expected event of a --follow run
FULL = "\u2588"
ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]|\r")


@pytest.fixture
def api(shared_broker):
    a = Api(shared_broker)
    yield a
    a.close()


@pytest.fixture
def cli(tmp_path, shared_broker):
    return Cli(tmp_path, shared_broker.http_url)


def logged_in(cli):
    """A new account, registered and logged in by the CLI; its name."""
    name = uname("p")
    cli.register(name)
    return name


def api_poll(api, question="Été ou hiver ?", options=("été", "hiver"), owner=None, **more):
    """A poll made through the API by owner (a new account if None)."""
    owner = owner or api.register(uname("o"))
    body = dict(question=question, options=list(options), **more)
    return api.post("/api/polls", token=owner.token, json=body, expect=201).json(), owner


def vote(api, poll_id, option, account=None):
    account = account or api.register(uname("v"))
    api.post("/api/polls/%d/votes" % poll_id, token=account.token,
             json={"option": option}, expect=201)
    return account


def parse_time(iso):
    """The API's time as seconds since the epoch."""
    return calendar.timegm(time.strptime(iso[:19], "%Y-%m-%dT%H:%M:%S"))


def other_cli(cli, name="other"):
    """A second `agora` user: a config directory of its own."""
    os.makedirs(str(cli.tmp / name), exist_ok=True)
    return Cli(cli.tmp / name, cli.server)


# --------------------------------------------------------------------------
# Reading a results block
# --------------------------------------------------------------------------

TAIL_RE = re.compile(r"  (\d+)  +([\d.]+)%$")


def parse_block(lines, cells=40):
    """A results block's lines, its bars `cells` wide -> {"id", "question",
    "rows": [(number, label, bar, votes, percent)], "footer"}. A row is
    "  N  LABEL  BAR  VOTES  PERCENT%", the label padded to the widest."""
    head = re.match(r"^#(\d+) (.*)$", lines[0])
    assert head, lines
    rows = []
    for line in lines[1:-1]:
        tail = TAIL_RE.search(line)
        front = re.match(r"^  (\d+)  ", line)
        assert tail and front, "not an option row: %r" % line
        bar = line[:tail.start()][-cells:]
        label = line[front.end():tail.start() - cells]
        assert label.endswith("  ") and re.match(r"^[\u2588-\u258f ]*$", bar), line
        rows.append((int(front.group(1)), label.rstrip(" "), bar, int(tail.group(1)),
                     float(tail.group(2))))
    assert lines[-1].startswith("total "), lines
    return {"id": int(head.group(1)), "question": head.group(2), "rows": rows,
            "footer": lines[-1]}


def bar_cells(bar):
    """A bar's filled length in eighths of a cell."""
    eighths = 0
    for ch in bar:
        if ch == FULL:
            eighths += 8
        elif "\u2589" <= ch <= "\u258f":
            eighths += 0x2590 - ord(ch)
    return eighths


def check_bars(block, cells=40):
    """Every bar is `cells` wide and as long as its share of the total."""
    total = sum(r[3] for r in block["rows"])
    for number, label, bar, votes, percent in block["rows"]:
        assert len(bar) == cells, (bar, cells)
        want = math.floor(votes * cells * 8 / total + 0.5) if total else 0
        if votes and want == 0:
            want = 1
        assert bar_cells(bar) == want, (label, votes, total, bar)
        assert percent == round(votes * 100.0 / total, 1) if total else percent == 0.0


# --------------------------------------------------------------------------
# Help and usage
# --------------------------------------------------------------------------

SUBCOMMANDS = ["create", "list", "show", "close"]


def test_help_of_every_command(cli):
    for args in [["poll"]] + [["poll", s] for s in SUBCOMMANDS] + [["vote"]]:
        for flag in ("--help", "-h"):
            r = cli.run(*(args + [flag]), server=False)
            assert r.rc == 0 and r.err == "", r
            assert r.out.startswith("usage: agora %s" % " ".join(args)), r
            assert "--server URL" in r.out and "Exit status" in r.out, r
    r = cli.run("poll", "--help", server=False)
    for s in SUBCOMMANDS:
        assert "agora poll %s " % s in r.out, r
    assert "agora vote ID OPTION" in r.out
    for cmd in ("poll", "vote"):
        via_help = cli.run("help", cmd, server=False)
        assert via_help.rc == 0 and via_help.out == cli.run(cmd, "--help", server=False).out


def test_poll_without_a_subcommand(cli):
    r = cli.run("poll", server=False)
    assert r.rc == 1 and r.out == "", r
    assert r.err.startswith("usage: agora poll create"), r


@pytest.mark.parametrize("args, fragment", [
    (["poll", "frob"], "'frob' is not a poll command"),
    (["poll", "create", "q", "a"], "missing arguments"),
    (["poll", "create", "q", "a", "b", "--closes-in"], "--closes-in needs a value"),
    (["poll", "create", "q", "a", "b", "--closes-in", "5"], "--closes-in '5': a duration"),
    (["poll", "create", "q", "a", "b", "--closes-in", "0s"], "more than 0"),
    (["poll", "create", "q", "a", "b", "--closes-in", "400d"], "366 days"),
    (["poll", "create", "q", "a", "b", "--closes-at", "tomorrow"], "--closes-at 'tomorrow'"),
    (["poll", "create", "q", "a", "b", "--closes-at", "2026-02-30T10:00Z"], "no such date"),
    (["poll", "create", "q", "a", "b", "--closes-in", "1h", "--closes-at", "10:00"],
     "not both"),
    (["poll", "create", "q", "a", "b", "--change"], "--change does not apply"),
    (["poll", "list", "x"], "too many arguments"),
    (["poll", "list", "--limit", "0"], "--limit '0'"),
    (["poll", "list", "--limit", "1001"], "--limit '1001'"),
    (["poll", "list", "--offset", "-1"], "--offset '-1'"),
    (["poll", "list", "--follow"], "--follow does not apply"),
    (["poll", "show"], "missing arguments"),
    (["poll", "show", "1", "2"], "too many arguments"),
    (["poll", "show", "x"], "'x' is not a poll id"),
    (["poll", "show", "0"], "'0' is not a poll id"),
    (["poll", "show", "-1"], "unknown option '-1'"),
    (["poll", "show", "1", "--mqtt", "127.0.0.1:1883"], "--mqtt goes with --follow"),
    (["poll", "show", "1", "--follow", "--mqtt", "h:0"], "--mqtt 'h:0': '0' is not a port"),
    (["poll", "show", "1", "--follow", "--mqtt", "[::1"], "without ']'"),
    (["poll", "show", "1", "--follow", "--mqtt", "h" * 300], "too long"),
    (["poll", "close"], "missing arguments"),
    (["poll", "close", "1x"], "'1x' is not a poll id"),
    (["poll", "close", "1", "--limit", "3"], "--limit does not apply"),
    (["vote", "1"], "missing arguments"),
    (["vote", "1", "a", "b"], "too many arguments"),
    (["vote", "one", "a"], "'one' is not a poll id"),
    (["vote", "1", "a", "--follow"], "--follow does not apply"),
    (["vote", "1", "a", "--server", "ftp://x"], "only http:// and https://"),
])
def test_usage_errors(cli, args, fragment):
    # No server is needed: each fails before a request.
    r = cli.run(*args, server=False)
    assert_error(r, " ".join(args[:2]) if args[0] == "poll" and args[1] in SUBCOMMANDS
                 else args[0], 1, fragment)
    assert r.out == ""


def test_not_logged_in(cli, api, shared_broker):
    poll, _ = api_poll(api)
    for args in (["poll", "create", "q", "a", "b"], ["vote", str(poll["id"]), "a"],
                 ["poll", "close", str(poll["id"])]):
        r = cli.run(*args)
        assert_error(r, " ".join(args[:2]) if args[0] == "poll" else args[0], 4,
                     "not logged in on %s (run: agora login NAME)" % shared_broker.http_url)


def test_server_not_running(cli):
    dead = "http://127.0.0.1:%d" % free_port()
    for args in (["poll", "list"], ["poll", "show", "1"], ["poll", "show", "1", "--follow"]):
        r = cli.run(*args, "--server", dead)
        assert_error(r, " ".join(args[:2]), 2, "cannot connect to %s" % dead)


# --------------------------------------------------------------------------
# create, show
# --------------------------------------------------------------------------

def test_create_then_show(cli, api):
    name = logged_in(cli)
    r = cli.run("poll", "create", "Été ou hiver ?", "été", "hiver")
    assert r.rc == 0 and r.err == "", r
    head = re.match(r"^created poll #(\d+): Été ou hiver \?\n", r.out)
    assert head, r
    pid = int(head.group(1))
    assert r.out == ("created poll #%d: Été ou hiver ?\n  1  été\n  2  hiver\n" % pid)
    poll = api.get("/api/polls/%d" % pid, expect=200).json()
    assert poll["question"] == "Été ou hiver ?" and poll["creator"] == name
    assert [(o["number"], o["label"], o["votes"]) for o in poll["options"]] == \
        [(1, "été", 0), (2, "hiver", 0)]
    assert poll["open"] is True and poll["closes_at"] is None
    # show: no login needed, bars of 40 cells when not on a terminal
    r = cli.run("poll", "show", str(pid))
    assert r.rc == 0 and r.err == "", r
    assert r.out == ("#%d Été ou hiver ?\n"
                     "  1  été    %s  0    0.0%%\n"
                     "  2  hiver  %s  0    0.0%%\n"
                     "total 0 votes, open, by %s\n" % (pid, " " * 40, " " * 40, name))


def test_show_draws_each_share(cli, api):
    poll, _ = api_poll(api, "Favourite?", ["a", "bb", "ccc", "d"])
    for option, n in (("a", 5), ("bb", 2), ("ccc", 1)):
        for _ in range(n):
            vote(api, poll["id"], option)
    r = cli.run("poll", "show", str(poll["id"]))
    assert r.rc == 0, r
    block = parse_block(r.lines())
    assert [(n, l, v) for n, l, _, v, _ in block["rows"]] == \
        [(1, "a", 5), (2, "bb", 2), (3, "ccc", 1), (4, "d", 0)]
    check_bars(block)
    assert block["footer"].startswith("total 8 votes, open, by ")


def test_create_with_a_closing_time(cli, api):
    logged_in(cli)
    before = time.time()
    r = cli.run("poll", "create", "Soon?", "yes", "no", "--closes-in", "1h30m", "--json")
    after = time.time()
    assert r.rc == 0, r
    [poll] = r.json_lines()
    closes = parse_time(poll["closes_at"])
    assert before + 5400 - 1 <= closes <= after + 5400 + 1, (before, closes, after)
    assert poll["open"] is True
    # an exact UTC time, and a local one (TZ=UTC in the CLI's environment)
    for arg, want in (("2099-06-01T10:20:30Z", "2099-06-01T10:20:30.000Z"),
                      ("2099-06-01T12:20+02:00", "2099-06-01T10:20:00.000Z"),
                      ("2099-06-01 10:20", "2099-06-01T10:20:00.000Z")):
        r = cli.run("poll", "create", "Later?", "yes", "no", "--closes-at", arg)
        assert r.rc == 0, r
        pid = int(re.match(r"^created poll #(\d+)", r.out).group(1))
        assert r.out.endswith("open until %s\n" % want[:16].replace("T", " ")), r
        assert api.get("/api/polls/%d" % pid).json()["closes_at"] == want
    # HH:MM: the next such time, within a day
    r = cli.run("poll", "create", "Today?", "yes", "no", "--closes-at", "00:00", "--json")
    assert r.rc == 0, r
    closes = parse_time(r.json_lines()[0]["closes_at"])
    assert time.time() < closes <= time.time() + 86400 and closes % 86400 == 0


def test_create_refusals(cli, api):
    logged_in(cli)
    cases = [
        (["q", "same", "SAME"], "validation_failed"),
        (["q"] + ["o%d" % i for i in range(21)], "validation_failed"),
        (["q" * 501, "a", "b"], "validation_failed"),
        (["", "a", "b"], "validation_failed"),
        (["q", "a", "b", "--closes-at", "2001-01-01T00:00Z"], "validation_failed"),
    ]
    for args, code in cases:
        r = cli.run("poll", "create", *args)
        line = assert_error(r, "poll create", 3, "(422 %s)" % code)
        assert r.out == ""
    # the closing time refused names the field
    assert "closes_at" in line


def test_create_refuses_bytes_that_are_not_utf8(cli, tmp_path):
    logged_in(cli)
    env = cli.env()
    p = subprocess.run([AGORA_BIN.encode(), b"poll", b"create", b"q\xff", b"a", b"b"],
                       capture_output=True, env=env, timeout=30, cwd=str(tmp_path))
    err = p.stderr.decode("utf-8", "replace")
    assert not sanitizer_lines(err.splitlines()), err
    assert p.returncode == 1, err
    assert err == "agora poll create: the question and the options must be UTF-8 text\n"


def test_show_unknown_poll(cli):
    r = cli.run("poll", "show", "999999999")
    assert_error(r, "poll show", 3, "(404 not_found)", "999999999")
    r = cli.run("poll", "show", "999999999", "--follow")
    assert_error(r, "poll show", 3, "(404 not_found)")


# --------------------------------------------------------------------------
# vote
# --------------------------------------------------------------------------

def test_vote_change_and_refusals(cli, api):
    poll, _ = api_poll(api, "Été ou hiver ?", ["été", "hiver"])
    pid = poll["id"]
    logged_in(cli)
    r = cli.run("vote", str(pid), "HIVER")  # a label, ASCII case ignored
    assert r.rc == 0 and r.err == "", r
    lines = r.lines()
    assert lines[0] == "voted for hiver (option 2) on poll #%d" % pid
    block = parse_block(lines[1:])
    assert [(l, v) for _, l, _, v, _ in block["rows"]] == [("été", 0), ("hiver", 1)]
    check_bars(block)
    assert block["footer"].startswith("total 1 vote, open")
    assert [o["votes"] for o in api.get("/api/polls/%d" % pid).json()["options"]] == [0, 1]

    # a second vote: refused, with the shell's way to change it
    r = cli.run("vote", str(pid), "été")
    assert_error(r, "vote", 3, "you have already voted on poll %d" % pid,
                        "(409 already_voted)",
                        "; change it with: agora vote %d OPTION --change" % pid)
    assert r.out == ""
    # --change, by number
    r = cli.run("vote", str(pid), "1", "--change")
    assert r.rc == 0, r
    assert r.lines()[0] == "changed your vote on poll #%d to été (option 1)" % pid
    assert [o["votes"] for o in api.get("/api/polls/%d" % pid).json()["options"]] == [1, 0]
    # an unknown option, a number past the last
    for bad in ("printemps", "3", "0"):
        for extra in ([], ["--change"]):
            r = cli.run("vote", str(pid), bad, *extra)
            assert_error(r, "vote", 3, "(422 unknown_option)")
    # no poll
    r = cli.run("vote", "999999999", "été")
    assert_error(r, "vote", 3, "(404 not_found)")
    # --change with no vote to change
    other = other_cli(cli)
    logged_in(other)
    r = other.run("vote", str(pid), "été", "--change")
    assert_error(r, "vote", 3, "(404 no_vote)", "; vote first: agora vote %d OPTION" % pid)


def test_vote_label_that_is_a_number(cli, api):
    # "1" names the option labelled "1" (the second), not the first option
    poll, _ = api_poll(api, "Which?", ["3", "1"])
    logged_in(cli)
    r = cli.run("vote", str(poll["id"]), "1")
    assert r.rc == 0, r
    assert r.lines()[0] == "voted for 1 (option 2) on poll #%d" % poll["id"]


def test_vote_json(cli, api):
    poll, _ = api_poll(api)
    logged_in(cli)
    r = cli.run("vote", str(poll["id"]), "été", "--json")
    assert r.rc == 0 and len(r.lines()) == 1, r
    ans = r.json_lines()[0]
    assert set(ans) >= {"poll_id", "option", "voted_at", "results"}
    assert ans["poll_id"] == poll["id"]
    assert ans["option"] == {"number": 1, "label": "été"}
    assert ans["results"]["total"] == 1
    assert ans["results"] == api.get("/api/polls/%d" % poll["id"]).json()
    r = cli.run("vote", str(poll["id"]), "hiver", "--change", "--json")
    assert r.rc == 0 and r.json_lines()[0]["option"] == {"number": 2, "label": "hiver"}


# --------------------------------------------------------------------------
# close
# --------------------------------------------------------------------------

def test_close(cli, api):
    logged_in(cli)
    r = cli.run("poll", "create", "Close me?", "yes", "no", "--json")
    pid = r.json_lines()[0]["id"]
    vote(api, pid, "yes")
    # someone else may not
    other = other_cli(cli)
    logged_in(other)
    r = other.run("poll", "close", str(pid))
    assert_error(r, "poll close", 3, "(403 forbidden)")
    assert api.get("/api/polls/%d" % pid).json()["open"] is True
    # its creator may, and again
    for _ in range(2):
        r = cli.run("poll", "close", str(pid))
        assert r.rc == 0 and r.err == "", r
        lines = r.lines()
        assert lines[0] == "closed poll #%d" % pid
        block = parse_block(lines[1:])
        assert re.match(r"^total 1 vote, closed \d{4}-\d\d-\d\d \d\d:\d\d, by ", block["footer"])
    # a vote now: refused
    r = other.run("vote", str(pid), "no")
    assert_error(r, "vote", 3, "(409 poll_closed)")
    r = cli.run("poll", "close", str(pid), "--json")
    assert r.rc == 0, r
    poll = r.json_lines()[0]
    assert poll["open"] is False and poll["closed_at"] is not None
    r = cli.run("poll", "close", "999999999")
    assert_error(r, "poll close", 3, "(404 not_found)")


# --------------------------------------------------------------------------
# list
# --------------------------------------------------------------------------

def test_list_table_and_json(cli, api):
    a, owner = api_poll(api, "Listed open?", ["x", "y"])
    b, _ = api_poll(api, "Listed closed?", ["x", "y"], owner=owner)
    api.post("/api/polls/%d/close" % b["id"], token=owner.token, expect=200)
    vote(api, a["id"], "y")
    page = api.get("/api/polls", params={"limit": 100}).json()
    r = cli.run("poll", "list", "--limit", "100", "--json")
    assert r.rc == 0, r
    assert r.json_lines() == page["polls"]
    r = cli.run("poll", "list", "--limit", "100")
    assert r.rc == 0, r
    lines = r.lines()
    assert re.match(r"^ID +STATE +VOTES  CLOSES +QUESTION$", lines[0]), lines[0]
    rows = {int(l.split()[0]): l for l in lines[1:] if l[:1].isdigit()}
    assert re.match(r"^%d +open +1  - +Listed open\?$" % a["id"], rows[a["id"]]), rows[a["id"]]
    assert re.match(r"^%d +closed +0  \d{4}-\d\d-\d\d \d\d:\d\d  Listed closed\?$" % b["id"],
                    rows[b["id"]]), rows[b["id"]]
    # open ones first
    states = [l.split()[1] for l in lines[1:] if l[:1].isdigit()]
    assert states == sorted(states, key=lambda s: s != "open")


def test_list_pages_and_offset(cli, api):
    owner = api.register(uname("o"))
    for i in range(105):
        api_poll(api, "Page %d?" % i, ["x", "y"], owner=owner)
    total = api.get("/api/polls", params={"limit": 1}).json()["total"]
    assert total >= 105
    want = api.get("/api/polls", params={"limit": 100}).json()["polls"] + \
        api.get("/api/polls", params={"limit": 100, "offset": 100}).json()["polls"]
    r = cli.run("poll", "list", "--limit", "150", "--json")
    assert r.rc == 0, r
    assert [p["id"] for p in r.json_lines()] == [p["id"] for p in want[:150]]
    r = cli.run("poll", "list", "--limit", "3", "--offset", "2", "--json")
    assert [p["id"] for p in r.json_lines()] == [p["id"] for p in want[2:5]]
    r = cli.run("poll", "list", "--limit", "3", "--offset", "2")
    assert r.lines()[-1] == "(polls 3 to 5 of %d; --offset 5 for more)" % total, r
    r = cli.run("poll", "list", "--offset", str(total))
    assert r.rc == 0 and r.out == "no polls\n", r


def test_json_is_the_servers(cli, api):
    logged_in(cli)
    r = cli.run("poll", "create", "JSON?", "a", "b", "--json")
    assert r.rc == 0 and len(r.lines()) == 1, r
    made = r.json_lines()[0]
    assert set(made) == {"id", "question", "options", "total", "creator", "created_at",
                         "closes_at", "closed_at", "open"}
    r = cli.run("poll", "show", str(made["id"]), "--json")
    assert r.rc == 0 and len(r.lines()) == 1, r
    assert r.json_lines()[0] == api.get("/api/polls/%d" % made["id"]).json() == made
    # the server's order of members, compact
    assert r.out.startswith('{"id":%d,"question":"JSON?","options":[' % made["id"])


# --------------------------------------------------------------------------
# show --follow
# --------------------------------------------------------------------------

class Follow:
    """`agora poll show ID --follow` with stdout a pipe (or a pty), its
    output read by a thread into a queue of chunks."""

    def __init__(self, cli, *args, tty_columns=None):
        self.cli = cli
        self.q = queue.Queue()
        self.text = ""
        self.master = None
        out = subprocess.PIPE
        if tty_columns:
            self.master, slave = pty.openpty()
            fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, tty_columns, 0, 0))
            out = slave
        self.proc = subprocess.Popen([AGORA_BIN, "poll", "show"] + list(args) + ["--follow"],
                                     stdin=subprocess.DEVNULL, stdout=out,
                                     stderr=subprocess.PIPE, env=cli.env(), cwd=str(cli.tmp))
        if tty_columns:
            os.close(slave)
        src = self.master if tty_columns else self.proc.stdout.fileno()
        threading.Thread(target=self._read, args=(src,), daemon=True).start()

    def _read(self, fd):
        while True:
            try:
                data = os.read(fd, 4096)
            except OSError:  # EIO: the pty's other side closed
                data = b""
            self.q.put(data)
            if not data:
                return

    def expect(self, pattern, timeout=WAIT):
        """Waits until the output (escapes kept) matches; returns it."""
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + timeout
        while not rx.search(self.text):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                data = self.q.get(timeout=remaining)
            except queue.Empty:
                break
            if not data:
                break
            self.text += data.decode("utf-8", "replace")
        assert rx.search(self.text), "%r not seen; output %r; stderr %s" % (
            pattern, self.text[-3000:], self.stderr_so_far())
        return self.text

    def stderr_so_far(self):
        if self.proc.poll() is None:
            return "(running)"
        return self.proc.stderr.read().decode("utf-8", "replace")

    def interrupt(self, sig=signal.SIGINT, timeout=WAIT):
        self.proc.send_signal(sig)
        return self.finish(timeout)

    def finish(self, timeout=WAIT):
        rc = self.proc.wait(timeout)
        err = self.proc.stderr.read().decode("utf-8", "replace")
        while True:  # to the end of the output
            data = self.q.get(timeout=timeout)
            if not data:
                break
            self.text += data.decode("utf-8", "replace")
        assert not sanitizer_lines(err.splitlines()), err
        return rc, err

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        if self.master is not None:
            os.close(self.master)


@pytest.fixture
def follow(cli):
    made = []

    def make(*args, **kw):
        f = Follow(cli, *args, **kw)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def blocks(text):
    """The results blocks of a --follow run on a pipe (an empty line apart)."""
    return [parse_block(b.splitlines()) for b in text.strip("\n").split("\n\n") if b]


def mqtt_of(broker):
    return "127.0.0.1:%d" % broker.port


def test_follow_shows_votes_live(follow, api, shared_broker):
    poll, _ = api_poll(api)
    pid = poll["id"]
    f = follow(str(pid), "--mqtt", mqtt_of(shared_broker))
    f.expect(r"total 0 votes, open, by \S+\n")
    vote(api, pid, "été")
    # only MQTT can say this (the REST answer came before the vote) ...
    f.expect(r"total 1 vote, open")
    # ... so the subscription is in place: this one is a live publish
    vote(api, pid, "hiver")
    f.expect(r"total 2 votes, open")
    rc, err = f.interrupt()
    assert rc == 0 and err == "", err
    shown = blocks(f.text)
    totals = [sum(r[3] for r in b["rows"]) for b in shown]
    assert totals[0] == 0 and totals[-1] == 2, f.text
    # each block differs from the one before (the retained copy of what the
    # REST answer showed is not shown twice)
    assert all(a != b for a, b in zip(shown, shown[1:])), f.text
    assert totals == sorted(totals)
    for b in shown:
        assert b["id"] == pid
        check_bars(b)


def test_follow_json_and_closing(follow, api, shared_broker):
    poll, owner = api_poll(api)
    pid = poll["id"]
    f = follow(str(pid), "--json", "--mqtt", mqtt_of(shared_broker))
    f.expect(r'"total":0.*\n')
    vote(api, pid, "hiver")
    f.expect(r'"total":1,')
    api.post("/api/polls/%d/close" % pid, token=owner.token, expect=200)
    f.expect(r'"open":false')
    rc, err = f.interrupt(signal.SIGTERM)
    assert rc == 0 and err == "", err
    objs = [json.loads(l) for l in f.text.splitlines()]
    assert objs[0] == poll and objs[-1] == api.get("/api/polls/%d" % pid).json()
    assert objs[-1]["open"] is False and objs[-1]["total"] == 1
    assert all(a != b for a, b in zip(objs, objs[1:]))


def test_follow_on_a_terminal_redraws_in_place(follow, api, shared_broker):
    poll, _ = api_poll(api, "Tty?", ["left", "right"])
    pid = poll["id"]
    f = follow(str(pid), "--mqtt", mqtt_of(shared_broker), tty_columns=60)
    f.expect(r"total 0 votes")
    vote(api, pid, "right")
    f.expect(r"total 1 vote,")
    # the first frame is 4 rows: the cursor goes up 4 and clears the rest
    assert "\x1b[4A\r\x1b[J" in f.text, repr(f.text)
    assert "\n\n" not in f.text.replace("\r\n", "\n")
    last = ANSI_RE.sub("", f.text.split("\x1b[J")[-1]).splitlines()
    # bars fill the terminal's 60 columns but the last: 59 in all
    assert max(len(l) for l in last[1:-1]) == 59, last
    cells = 59 - len("  1  right  ") - len("  1  100.0%")
    check_bars(parse_block(last, cells), cells)
    # a resized terminal: drawn again at the new width
    fcntl.ioctl(f.master, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    mark = len(f.text)
    f.proc.send_signal(signal.SIGWINCH)
    f.expect(r"(?s).{%d}.*\x1b\[J.*total 1 vote" % mark)
    last = ANSI_RE.sub("", f.text.split("\x1b[J")[-1]).splitlines()
    assert max(len(l) for l in last[1:-1]) == 79, last
    rc, err = f.interrupt()
    assert rc == 0 and err == "", err


def test_follow_when_the_mqtt_server_cannot_be_reached(follow, api):
    poll, _ = api_poll(api)
    port = free_port()
    f = follow(str(poll["id"]), "--mqtt", "127.0.0.1:%d" % port)
    rc, err = f.finish()
    assert rc == 2, (rc, err)
    assert err == "agora poll show: cannot connect to the MQTT server 127.0.0.1 port %d: " \
                  "connection refused\n" % port, err
    # the results are shown once the subscription holds, as inbox --follow lists
    assert f.text == ""


def test_follow_default_broker_is_the_apis_host(follow, api):
    probe = socket.socket()
    try:
        if probe.connect_ex(("127.0.0.1", 1883)) == 0:
            pytest.skip("something listens on 127.0.0.1:1883")
    finally:
        probe.close()
    poll, _ = api_poll(api)
    f = follow(str(poll["id"]))
    rc, err = f.finish()
    assert rc == 2 and "cannot connect to the MQTT server 127.0.0.1 port 1883" in err, err


def test_follow_ends_when_the_server_stops(broker_factory, tmp_path):
    b = broker_factory()
    a = Api(b)
    try:
        poll, _ = api_poll(a)
        os.makedirs(str(tmp_path / "c"))
        cli = Cli(tmp_path / "c", b.http_url)
        f = Follow(cli, str(poll["id"]), "--mqtt", mqtt_of(b))
        try:
            f.expect(r"total 0 votes")
            vote(a, poll["id"], "été")
            f.expect(r"total 1 vote")  # connected and subscribed
            b.stop()
            rc, err = f.finish()
        finally:
            f.close()
    finally:
        a.close()
    assert rc == 2, (rc, err)
    assert err.startswith("agora poll show: lost the connection to the MQTT server "
                          "127.0.0.1 port %d: " % b.port), err
    assert len(err.splitlines()) == 1, err


def test_follow_anonymous_or_logged_in(broker_factory, tmp_path):
    # Where anonymous clients are refused, --follow logs in with the
    # account of `agora login` (its token as the MQTT password).
    b = broker_factory("allow_anonymous no")
    a = Api(b)
    try:
        poll, _ = api_poll(a)
        os.makedirs(str(tmp_path / "c"))
        cli = Cli(tmp_path / "c", b.http_url)
        f = Follow(cli, str(poll["id"]), "--mqtt", mqtt_of(b))
        try:
            rc, err = f.finish()
        finally:
            f.close()
        assert rc == 3, (rc, err)
        assert err == "agora poll show: the MQTT server 127.0.0.1 port %d refused the " \
                      "connection: Not authorized (5)\n" % b.port, err
        name = logged_in(cli)
        f = Follow(cli, str(poll["id"]), "--mqtt", mqtt_of(b))
        try:
            f.expect(r"total 0 votes")
            vote(a, poll["id"], "hiver")
            f.expect(r"total 1 vote")
            rc, err = f.interrupt()
        finally:
            f.close()
        assert rc == 0 and err == "", err
        # a token revoked behind its back: refused, and how to get another
        a.post("/api/logout", token=cli.account()["token"], expect=204)
        f = Follow(cli, str(poll["id"]), "--mqtt", mqtt_of(b))
        try:
            rc, err = f.finish()
        finally:
            f.close()
        assert rc == 3, (rc, err)
        assert err.startswith("agora poll show: the MQTT server 127.0.0.1 port %d refused the "
                              "login as %s: " % (b.port, name)), err
        assert err.endswith("; log in again: agora login %s\n" % name), err
    finally:
        a.close()
