"""`agora inbox --follow` (issue 11): after the listing, new messages are
printed live over MQTT, logged in with the account's API token, until
SIGINT or SIGTERM (exit 0) or the connection's end (exit 2).

`agora` (the ASan/UBSan build) runs as a subprocess with its own
XDG_CONFIG_HOME (test_cli_api.Cli); its stdout and stderr are read line by
line by threads into queues, and every wait on them is bounded. The test
knows the subscription holds once the listing is printed: `--follow`
subscribes before it lists. A message sent while the listing is read (a
proxy in front of the API sends it when the listing's request comes) is
both listed and delivered over MQTT, and must be printed once.
"""

import http.server
import json
import queue
import re
import signal
import subprocess
import threading

import pytest
import requests

import apiclient
import mqttraw
from apiclient import Api, kill9
from conftest import AGORA_BIN, free_port, is_agora, sanitizer_lines
from test_cli_api import Cli, assert_error, uname

shared_broker = apiclient.shared_broker

pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: the HTTP API and its CLI")

LINE_TIMEOUT = 10.0
EXIT_TIMEOUT = 10.0


def inbox_topic(name):
    return "agora/users/%s/inbox" % name


def text_line(m):
    """A message as `agora inbox` prints it (TZ=UTC, unread)."""
    when = m["created_at"][:16].replace("T", " ")
    return "%s #%d %s %s: %s" % (" " if m["read"] else "*", m["id"], when, m["from"],
                                 m["content"])


class Follow:
    """`agora inbox --follow ...` running; its output lines in queues."""

    def __init__(self, cli, *args, server=True):
        self.args = ("inbox", "--follow") + args
        self.proc = subprocess.Popen([AGORA_BIN] + list(self.args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     env=cli.env(server), cwd=str(cli.tmp))
        self.out = queue.Queue()
        self.err_lines = []
        self.threads = [threading.Thread(target=self._read, args=(self.proc.stdout, self.out.put),
                                         daemon=True),
                        threading.Thread(target=self._read,
                                         args=(self.proc.stderr, self.err_lines.append),
                                         daemon=True)]
        for t in self.threads:
            t.start()

    @staticmethod
    def _read(stream, sink):
        for raw in iter(stream.readline, b""):
            sink(raw.decode("utf-8", "replace").rstrip("\n"))
        sink(None)  # the end of the stream

    def line(self, timeout=LINE_TIMEOUT):
        """The next line of stdout; fails at the end of it or after timeout."""
        try:
            line = self.out.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no line from agora %s within %.0fs; stderr: %r" % (
                " ".join(self.args), timeout, self.err_lines))
        assert line is not None, "agora %s ended (status %r); stderr: %r" % (
            " ".join(self.args), self.proc.wait(EXIT_TIMEOUT), self.err_lines)
        return line

    def wait(self, timeout=EXIT_TIMEOUT):
        """The exit status; the rest of stdout (lines not read yet) and
        stderr are complete after it. No sanitizer report allowed."""
        rc = self.proc.wait(timeout)
        for t in self.threads:
            t.join(5)
        san = sanitizer_lines([l for l in self.err_lines if l])
        assert not san, "sanitizer report: %s" % self.err_lines
        return rc

    def rest(self):
        """stdout's lines not read yet (after wait)."""
        lines = []
        while True:
            line = self.out.get(timeout=1)
            if line is None:
                return lines
            lines.append(line)

    def stderr(self):
        return [l for l in self.err_lines if l is not None]

    def stop(self, sig=signal.SIGINT):
        self.proc.send_signal(sig)
        return self.wait()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)


@pytest.fixture
def follows():
    started = []

    def start(cli, *args, **kw):
        f = Follow(cli, *args, **kw)
        started.append(f)
        return f

    yield start
    for f in started:
        f.kill()


@pytest.fixture
def api(shared_broker):
    a = Api(shared_broker)
    yield a
    a.close()


@pytest.fixture
def cli(tmp_path, shared_broker):
    return Cli(tmp_path, shared_broker.http_url)


def mqtt_arg(broker):
    return "%s:%d" % (broker.host, broker.port)


def registered(cli, api):
    """A follower logged in with the command line and a sender made through
    the API: (follower's name, its id, the sender's Account)."""
    name = uname("f")
    cli.register(name)
    return name, cli.account()["id"], api.register(uname("s"))


def api_message(api, token, mid):
    return api.get("/api/messages/%d" % mid, token=token, expect=200).json()


# --------------------------------------------------------------------------
# Live messages
# --------------------------------------------------------------------------

def test_follow_prints_new_messages_live(cli, api, follows, shared_broker):
    name, _, alice = registered(cli, api)
    f = follows(cli, "--mqtt", mqtt_arg(shared_broker))
    assert f.line() == "no messages"
    # Sent over HTTP...
    m = api.send(alice, name, "hello, live")
    assert f.line() == text_line(m)
    # ... and over MQTT (a PUBLISH to the inbox topic is a message too).
    c = mqttraw.RawClient(shared_broker.port)
    try:
        c.connect("s-" + uname(), username=alice.name, password=alice.password)
        c.publish(inbox_topic(name), "over MQTT \u2713".encode("utf-8"), qos=1)
    finally:
        c.close()
    line = f.line()
    last = api.get("/api/messages", token=cli.account()["token"],
                   expect=200).json()["messages"][0]
    assert last["content"] == "over MQTT \u2713" and last["from"] == alice.name
    assert line == text_line(last)
    # A content of several lines, and controls made visible, as the list does.
    m = api.send(alice, name, "two\nlines \x1b[2J")
    assert re.match(r"^\* #%d .* %s: two$" % (m["id"], alice.name), f.line())
    assert f.line() == "    lines \\x1b[2J"
    assert f.stop(signal.SIGINT) == 0
    assert f.rest() == [] and f.stderr() == []


def test_follow_json_lines(cli, api, follows, shared_broker):
    name, _, alice = registered(cli, api)
    token = cli.account()["token"]
    before = api.send(alice, name, "before")
    f = follows(cli, "--json", "--mqtt", mqtt_arg(shared_broker))
    assert json.loads(f.line()) == api_message(api, token, before["id"])
    sent = [api.send(alice, name, "live %d" % i) for i in range(3)]
    for m in sent:
        got = json.loads(f.line())
        assert got == api_message(api, token, m["id"])
        assert got["read"] is False
    assert f.stop(signal.SIGTERM) == 0
    assert f.rest() == [] and f.stderr() == []


def test_message_sent_before_follow_is_printed_once(cli, api, follows, shared_broker):
    name, _, alice = registered(cli, api)
    early = api.send(alice, name, "early")
    f = follows(cli, "--mqtt", mqtt_arg(shared_broker))
    assert f.line() == text_line(early)
    marker = api.send(alice, name, "marker")
    # Whatever came before the marker's line would be a second copy.
    assert f.line() == text_line(marker)
    assert f.stop() == 0
    assert f.rest() == []


class ListingProxy:
    """The API behind a forwarding HTTP server that calls on_listing()
    once, when the inbox listing is asked for, before forwarding it."""

    def __init__(self, upstream, on_listing):
        state = {"fired": False}
        lock = threading.Lock()

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _forward(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.command == "GET" and self.path.startswith("/api/messages?"):
                    with lock:
                        fire, state["fired"] = not state["fired"], True
                    if fire:
                        on_listing()
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() in ("authorization", "content-type")}
                r = requests.request(self.command, upstream + self.path, data=body,
                                     headers=headers, timeout=10)
                self.send_response(r.status_code)
                self.send_header("Content-Type", r.headers.get("Content-Type", "text/plain"))
                self.send_header("Content-Length", str(len(r.content)))
                self.end_headers()
                self.wfile.write(r.content)

            do_GET = do_POST = do_PATCH = do_DELETE = _forward

            def log_message(self, *a):
                pass

        self.state = state
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def test_message_sent_while_listing_is_printed_once(tmp_path, api, follows, shared_broker):
    """Subscribed, then a message is stored, then the listing is read: the
    message is in the listing and arrives over MQTT; one line only."""
    alice = api.register(uname("s"))
    sent = []
    name = uname("f")
    proxy = ListingProxy(shared_broker.http_url, lambda: sent.append(api.send(alice, name, "x")))
    try:
        cli = Cli(tmp_path, proxy.url)
        cli.register(name)
        f = follows(cli, "--mqtt", mqtt_arg(shared_broker))
        first = f.line()
        assert proxy.state["fired"] and len(sent) == 1
        assert first == text_line(sent[0])
        marker = api.send(alice, name, "marker")
        assert f.line() == text_line(marker)
        assert f.stop() == 0
        assert f.rest() == [] and f.stderr() == []
    finally:
        proxy.close()


def test_follow_mark_read_marks_live_messages_too(cli, api, follows, shared_broker):
    name, _, alice = registered(cli, api)
    token = cli.account()["token"]
    listed = api.send(alice, name, "listed")
    f = follows(cli, "--mark-read", "--mqtt", mqtt_arg(shared_broker))
    assert f.line() == text_line(listed)
    live = api.send(alice, name, "live")
    assert f.line() == text_line(live)  # shown as it came: unread
    # The PATCH is made before the signal is handled: done once it exits.
    assert f.stop() == 0
    assert api_message(api, token, listed["id"])["read"] is True
    assert api_message(api, token, live["id"])["read"] is True


def test_follow_unread_lists_only_unread_then_follows(cli, api, follows, shared_broker):
    name, _, alice = registered(cli, api)
    token = cli.account()["token"]
    old = api.send(alice, name, "old")
    api.patch("/api/messages/%d" % old["id"], token=token, json={"read": True}, expect=200)
    f = follows(cli, "--unread", "--mqtt", mqtt_arg(shared_broker))
    assert f.line() == "no unread messages"
    m = api.send(alice, name, "new")
    assert f.line() == text_line(m)
    assert f.stop() == 0


# --------------------------------------------------------------------------
# How it ends
# --------------------------------------------------------------------------

@pytest.mark.parametrize("how", ["kill9", "sigterm"])
def test_server_gone_exits_2_with_one_line(tmp_path, broker_factory, follows, how):
    b = broker_factory()
    a = Api(b)
    try:
        cli = Cli(tmp_path, b.http_url)
        name = uname("f")
        cli.register(name)
        f = follows(cli, "--mqtt", mqtt_arg(b))
        assert f.line() == "no messages"
        if how == "kill9":
            kill9(b)
        else:
            assert b.stop() == 0
        assert f.wait() == 2
        err = f.stderr()
        assert len(err) == 1, err
        assert err[0].startswith("agora inbox: lost the connection to the MQTT server "
                                 "%s port %d: " % (b.host, b.port)), err
        assert f.rest() == []
    finally:
        a.close()


def test_refused_token_exits_3(cli, api, follows, shared_broker):
    name, _, _ = registered(cli, api)
    # The kept token revoked behind the command line's back.
    api.post("/api/logout", token=cli.account()["token"], expect=204)
    f = follows(cli, "--mqtt", mqtt_arg(shared_broker))
    assert f.wait() == 3
    err = f.stderr()
    assert len(err) == 1, err
    assert err[0].startswith("agora inbox: the MQTT server %s port %d refused the login as %s"
                             % (shared_broker.host, shared_broker.port, name)), err
    assert err[0].endswith("log in again: agora login %s" % name), err
    assert f.rest() == []  # nothing listed: the subscription comes first


def test_nothing_listening_exits_2(cli, api, follows):
    registered(cli, api)
    port = free_port()
    f = follows(cli, "--mqtt", "127.0.0.1:%d" % port)
    assert f.wait() == 2
    err = f.stderr()
    assert len(err) == 1, err
    assert err[0].startswith("agora inbox: cannot connect to the MQTT server 127.0.0.1 "
                             "port %d: " % port), err
    assert f.rest() == []


def test_not_logged_in_exits_4(cli, follows, shared_broker):
    f = follows(cli, "--mqtt", mqtt_arg(shared_broker))
    assert f.wait() == 4
    assert f.stderr() == ["agora inbox: not logged in on %s (run: agora login NAME)"
                          % shared_broker.http_url]


@pytest.mark.parametrize("value, fragment", [
    ("", "no host"),
    (":1883", "no host"),
    ("127.0.0.1:0", "not a port from 1 to 65535"),
    ("127.0.0.1:65536", "not a port from 1 to 65535"),
    ("127.0.0.1:http", "not a port"),
    ("127.0.0.1:", "not a port"),
    ("[::1", "without ']'"),
    ("[::1]1883", "':PORT' expected"),
    ("h" * 300, "too long"),
])
def test_bad_mqtt_value_is_a_usage_error(cli, value, fragment):
    # Refused before the credentials file or any server is looked at.
    r = cli.run("inbox", "--follow", "--mqtt", value, server=False)
    assert_error(r, "inbox", 1, "--mqtt '%s'" % value, fragment)
    assert r.out == ""


def test_mqtt_without_follow_is_a_usage_error(cli):
    r = cli.run("inbox", "--mqtt", "127.0.0.1:1883", server=False)
    assert_error(r, "inbox", 1, "--mqtt goes with --follow")
    r = cli.run("users", "--mqtt", "127.0.0.1:1883", server=False)
    assert_error(r, "users", 1, "--mqtt does not apply")


def test_inbox_help_documents_follow_and_mqtt(cli):
    r = cli.run("inbox", "--help", server=False)
    assert r.rc == 0, r
    assert "--follow" in r.out and "--mqtt HOST:PORT" in r.out and "port 1883" in r.out
    assert "not available" not in r.out
