"""The REST API from the shell (issue 11): agora register, login, logout,
users, status, send, inbox against `agora serve`.

Each test runs `agora` (the ASan/UBSan build) as a subprocess with its own
XDG_CONFIG_HOME, so the credentials file is the test's; what the commands
did is checked through the REST API itself with requests (one data model),
and what is made through the API is read back with the commands. Every run
is checked for sanitizer reports (a leak fails the test). The server is the
module's shared one (apiclient.shared_broker): each test uses names of its
own. Fake servers for the failure paths (no answer, HTML errors, a huge
answer) are small Python servers on loopback.
"""

import http.server
import json
import os
import pty
import re
import select
import signal
import socket
import stat
import subprocess
import termios
import threading
import time
import uuid

import pytest
import requests

import apiclient
from apiclient import Api
from conftest import AGORA_BIN, free_port, is_agora, sanitizer_env, sanitizer_lines

shared_broker = apiclient.shared_broker

pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: the HTTP API and its CLI")

PASSWORD = "wonderland"
RUN_TIMEOUT = 30.0
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")
COMMANDS = ["register", "login", "logout", "users", "status", "send", "inbox"]


def uname(prefix="u"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:10])


class Result:
    def __init__(self, p):
        self.rc = p.returncode
        self.out = p.stdout.decode("utf-8", "replace")
        self.err = p.stderr.decode("utf-8", "replace")
        self.out_bytes = p.stdout

    def lines(self):
        return self.out.splitlines()

    def json_lines(self):
        return [json.loads(l) for l in self.lines()]

    def __repr__(self):
        return "<agora exit %d\nstdout: %s\nstderr: %s>" % (self.rc, self.out[:2000],
                                                            self.err[:2000])


class Cli:
    """`agora` with a config directory of its own; AGORA_SERVER is the
    shared server unless a test says otherwise."""

    def __init__(self, tmp_path, server):
        self.config = str(tmp_path / "config")
        self.server = server
        self.tmp = tmp_path

    @property
    def creds_path(self):
        return os.path.join(self.config, "agora", "credentials")

    def env(self, server=True, extra=None):
        env = sanitizer_env()
        env.pop("AGORA_SERVER", None)
        env["XDG_CONFIG_HOME"] = self.config
        env["TZ"] = "UTC"
        if server:
            env["AGORA_SERVER"] = self.server
        env.update(extra or {})
        return env

    def run(self, *args, input=None, server=True, env=None, timeout=RUN_TIMEOUT):
        p = subprocess.run([AGORA_BIN] + list(args), input=input, capture_output=True,
                           env=self.env(server, env), timeout=timeout, cwd=str(self.tmp))
        r = Result(p)
        san = sanitizer_lines(r.err.splitlines())
        assert not san, "sanitizer report from agora %s: %s\n%s" % (args, san, r.err[-3000:])
        return r

    def password_file(self, password=PASSWORD):
        path = str(self.tmp / ("pw-" + uuid.uuid4().hex[:6]))
        with open(path, "w") as f:
            f.write(password + "\n")
        return path

    def register(self, name, password=PASSWORD, *more):
        r = self.run("register", name, "--password-file", self.password_file(password), *more)
        assert r.rc == 0, r
        return r

    def login(self, name, password=PASSWORD, *more):
        r = self.run("login", name, "--password-file", self.password_file(password), *more)
        assert r.rc == 0, r
        return r

    def creds(self):
        with open(self.creds_path) as f:
            return json.load(f)

    def account(self, server=None):
        for a in self.creds()["accounts"]:
            if a["server"] == (server or self.server):
                return a
        return None


def assert_error(r, cmd, rc, *fragments):
    """One clear line on stderr, 'agora CMD: ...', never raw JSON."""
    assert r.rc == rc, r
    lines = r.err.splitlines()
    assert len(lines) == 1, "expected one error line: %r" % r
    assert lines[0].startswith("agora %s: " % cmd), r
    assert "{" not in lines[0] and '"error"' not in lines[0], "raw JSON in %r" % lines[0]
    for f in fragments:
        assert f in lines[0], "%r not in %r" % (f, lines[0])
    return lines[0]


@pytest.fixture
def api(shared_broker):
    a = Api(shared_broker)
    yield a
    a.close()


@pytest.fixture
def cli(tmp_path, shared_broker):
    return Cli(tmp_path, shared_broker.http_url)


# --------------------------------------------------------------------------
# Help and usage
# --------------------------------------------------------------------------

def test_every_command_has_help(cli):
    for cmd in COMMANDS:
        for flag in ("--help", "-h"):
            r = cli.run(cmd, flag, server=False)
            assert r.rc == 0, r
            assert r.out.startswith("usage: agora %s" % cmd), r
            assert "--server URL" in r.out and "Exit status" in r.out, r
            assert r.err == "", r
        r = cli.run("help", cmd, server=False)
        assert r.rc == 0 and r.out.startswith("usage: agora %s" % cmd), r


@pytest.mark.parametrize("args, fragment", [
    (["register"], "missing arguments"),
    (["register", "a", "b"], "too many arguments"),
    (["login"], "missing arguments"),
    (["logout", "x"], "too many arguments"),
    (["users", "x"], "too many arguments"),
    (["send", "bob"], "missing arguments"),
    (["inbox", "x"], "too many arguments"),
    (["users", "--bogus"], "unknown option '--bogus'"),
    (["users", "-x"], "unknown option '-x'"),
    (["inbox", "--limit"], "--limit needs a value"),
    (["users", "--unread"], "--unread does not apply"),
    (["status", "--password-file", "f"], "--password-file does not apply"),
    (["send", "--local", "bob", "hi"], "--local does not apply"),
    (["users", "--timeout", "0"], "--timeout '0'"),
    (["users", "--timeout", "abc"], "--timeout 'abc'"),
    (["inbox", "--limit", "0"], "--limit '0'"),
    (["inbox", "--limit", "1001"], "--limit '1001'"),
    (["users", "--server"], "--server needs a value"),
    (["users", "--server", "ftp://127.0.0.1:1"], "only http:// and https://"),
    (["users", "--server", "http://user:pw@127.0.0.1:1"], "user name or password"),
    (["users", "--server", "http://127.0.0.1:99999"], "port"),
    (["users", "--server", "http://127.0.0.1:1/?x=1"], "no query"),
])
def test_usage_errors(cli, args, fragment):
    # No server is needed: every one fails before a request.
    r = cli.run(*args, server=False)
    assert_error(r, args[0], 1, fragment)
    assert r.out == ""


def test_bad_agora_server_is_a_usage_error(cli):
    r = cli.run("users", server=False, env={"AGORA_SERVER": "gopher://127.0.0.1:70"})
    assert_error(r, "users", 1, "AGORA_SERVER 'gopher://127.0.0.1:70'")


# --------------------------------------------------------------------------
# register, login, logout and the credentials file
# --------------------------------------------------------------------------

def test_register_keeps_token_in_a_private_file(cli, api, shared_broker):
    name = uname()
    r = cli.register(name)
    user = api.get("/api/users/%s" % name, expect=200).json()
    assert r.out == "registered and logged in as %s (id %d) on %s\n" % (
        name, user["id"], shared_broker.http_url)
    # The file: 0600 in a directory 0700, one account for this server.
    assert stat.S_IMODE(os.stat(cli.creds_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(cli.creds_path)).st_mode) == 0o700
    creds = cli.creds()
    assert len(creds["accounts"]) == 1
    acc = creds["accounts"][0]
    assert acc["server"] == shared_broker.http_url
    assert acc["name"] == name and acc["id"] == user["id"]
    assert TOKEN_RE.match(acc["token"])
    # The kept token is the account's.
    api.get("/api/messages", token=acc["token"], expect=200)
    # ... and the password is the one given.
    api.login(name, PASSWORD)
    # No temporary file left behind.
    assert os.listdir(os.path.dirname(cli.creds_path)) == ["credentials"]


def test_register_reads_the_password_from_stdin(cli, api):
    name = uname()
    r = cli.run("register", name, input=b"from stdin 123\nrest ignored\n")
    assert r.rc == 0, r
    api.login(name, "from stdin 123")
    r = cli.run("login", name, input=b"from stdin 123\r\n")  # CRLF too
    assert r.rc == 0, r


def test_register_refusals(cli, api):
    name = uname()
    cli.register(name)
    r = cli.run("register", name, "--password-file", cli.password_file())
    assert_error(r, "register", 3, "the name '%s' is taken (409 conflict)" % name)
    r = cli.run("register", uname(), "--password-file", cli.password_file("short"))
    assert_error(r, "register", 3, "'password' must be 8 to 256 bytes (422 validation_failed)")
    r = cli.run("register", "bad name!", input=b"wonderland\n")
    assert_error(r, "register", 3, "(422 validation_failed)")
    r = cli.run("register", uname(), input=b"\n")
    assert_error(r, "register", 1, "no password given")
    r = cli.run("register", uname(), input=b"x" * 5000)
    assert_error(r, "register", 1, "over 1024 bytes")
    r = cli.run("register", uname(), "--password-file", str(cli.tmp / "missing"))
    assert_error(r, "register", 4, "cannot read the password from", "No such file")
    # The first account is still the one kept.
    assert [a["name"] for a in cli.creds()["accounts"]] == [name]


def test_login_wrong_password_and_unknown_user(cli, api):
    name = uname()
    api.register(name)
    r = cli.run("login", name, "--password-file", cli.password_file("not the password"))
    assert_error(r, "login", 3, "wrong name or password (401 unauthorized)")
    assert "agora login NAME" not in r.err and "log in again" not in r.err
    assert not os.path.exists(cli.creds_path)
    r = cli.run("login", uname("nobody"), "--password-file", cli.password_file())
    assert_error(r, "login", 3, "wrong name or password (401 unauthorized)")
    assert not os.path.exists(cli.creds_path)


def test_login_replaces_and_revokes_the_previous_token(cli, api, shared_broker):
    alice, bob = api.register(uname("a")), api.register(uname("b"))
    r = cli.login(alice.name)
    assert r.out == "logged in as %s (id %d) on %s\n" % (alice.name, alice.id,
                                                        shared_broker.http_url)
    first = cli.account()["token"]
    assert first != alice.token
    cli.login(bob.name)
    accounts = cli.creds()["accounts"]
    assert len(accounts) == 1 and accounts[0]["name"] == bob.name
    assert accounts[0]["id"] == bob.id
    # The replaced token was revoked; the new one works; the API's own stays.
    api.get("/api/messages", token=first, expect=401)
    api.get("/api/messages", token=accounts[0]["token"], expect=200)
    api.get("/api/messages", token=alice.token, expect=200)


def test_logout_revokes_the_token(cli, api, shared_broker):
    name = uname()
    cli.register(name)
    token = cli.account()["token"]
    r = cli.run("logout")
    assert r.rc == 0, r
    assert r.out == "logged out of %s (%s)\n" % (shared_broker.http_url, name)
    api.get("/api/messages", token=token, expect=401)
    assert cli.creds()["accounts"] == []
    assert stat.S_IMODE(os.stat(cli.creds_path).st_mode) == 0o600
    r = cli.run("logout")
    assert_error(r, "logout", 4, "not logged in on %s" % shared_broker.http_url)


def test_logout_after_the_server_forgot_the_token(cli, api):
    cli.register(uname())
    token = cli.account()["token"]
    api.post("/api/logout", token=token, expect=204)
    r = cli.run("logout")
    assert r.rc == 0, r
    assert cli.creds()["accounts"] == []


def test_logout_without_the_server_keeps_the_token_unless_local(cli):
    dead = "http://127.0.0.1:%d" % free_port()
    os.makedirs(os.path.dirname(cli.creds_path), mode=0o700)
    entry = {"server": dead, "name": "ghost", "id": 7, "token": "t" * 43}
    with open(cli.creds_path, "w") as f:
        json.dump({"accounts": [entry]}, f)
    os.chmod(cli.creds_path, 0o600)
    r = cli.run("logout", "--server", dead)
    assert r.rc == 2, r
    assert r.err.startswith("agora logout: cannot connect to %s" % dead), r
    assert "--local" in r.err
    assert cli.creds()["accounts"] == [entry]
    r = cli.run("logout", "--local", "--server", dead)
    assert r.rc == 0, r
    assert cli.creds()["accounts"] == []


def test_not_logged_in(cli, shared_broker):
    for args in (["status"], ["status", "x"], ["send", "bob", "hi"], ["inbox"], ["logout"]):
        r = cli.run(*args)
        assert_error(r, args[0], 4, "not logged in on %s (run: agora login NAME)"
                     % shared_broker.http_url)
    # Another server's account does not count.
    cli.register(uname())
    other = "http://127.0.0.1:%d" % free_port()
    r = cli.run("inbox", "--server", other)
    assert_error(r, "inbox", 4, "not logged in on %s" % other)


def test_revoked_token_says_how_to_log_in_again(cli, api):
    name = uname()
    cli.register(name)
    api.post("/api/logout", token=cli.account()["token"], expect=204)
    for args in (["inbox"], ["status", "busy"], ["send", name, "hi"]):
        r = cli.run(*args)
        assert_error(r, args[0], 3, "unknown or revoked token (401 unauthorized)",
                     "log in again: agora login %s" % name)


def test_one_file_holds_several_servers(cli, api, shared_broker):
    # The same server under two URLs is two servers for the file.
    port = shared_broker.http_port
    by_ip, by_name = "http://127.0.0.1:%d" % port, "http://localhost:%d" % port
    a, b = api.register(uname("a")), api.register(uname("b"))
    cli.login(a.name, PASSWORD, "--server", by_ip)
    cli.login(b.name, PASSWORD, "--server", "LocalHost:%d/" % port)  # made canonical
    servers = {x["server"]: x["name"] for x in cli.creds()["accounts"]}
    assert servers == {by_ip: a.name, by_name: b.name}
    r = cli.run("status", "--server", by_ip, "--json")
    assert r.rc == 0 and r.json_lines()[0]["name"] == a.name, r
    r = cli.run("status", "--server", by_name, "--json")
    assert r.rc == 0 and r.json_lines()[0]["name"] == b.name, r
    r = cli.run("logout", "--server", by_name)
    assert r.rc == 0, r
    assert [x["server"] for x in cli.creds()["accounts"]] == [by_ip]


def test_credentials_file_problems(cli):
    os.makedirs(os.path.dirname(cli.creds_path), mode=0o700)
    with open(cli.creds_path, "w") as f:
        f.write("{not json")
    os.chmod(cli.creds_path, 0o600)
    for args in (["inbox"], ["login", "x"]):
        r = cli.run(*args, input=b"password\n")
        assert_error(r, args[0], 4, cli.creds_path, "not JSON")
    with open(cli.creds_path, "w") as f:
        json.dump({"accounts": [{"server": cli.server, "name": "x", "id": "1", "token": "t"}]},
                  f)
    r = cli.run("status")
    assert_error(r, "status", 4, "\"id\" must be an integer")
    # Readable by others: used, with a warning.
    name = uname()
    os.remove(cli.creds_path)
    cli.register(name)
    os.chmod(cli.creds_path, 0o644)
    r = cli.run("status")
    assert r.rc == 0, r
    assert "warning" in r.err and "chmod 600" in r.err
    # A later write makes it private again.
    cli.login(name)
    assert stat.S_IMODE(os.stat(cli.creds_path).st_mode) == 0o600


def test_default_config_dir_is_home_dot_config(cli, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    # An empty (or relative) XDG_CONFIG_HOME is ignored, as the XDG spec says.
    for xdg in ("", "relative/dir"):
        r = cli.run("register", uname(), "--password-file", cli.password_file(),
                    env={"HOME": str(home), "XDG_CONFIG_HOME": xdg})
        assert r.rc == 0, r
        assert os.path.exists(home / ".config" / "agora" / "credentials")
    assert not os.path.exists(cli.creds_path)
    assert not os.path.exists(cli.tmp / "relative")


# --------------------------------------------------------------------------
# A password typed on a terminal
# --------------------------------------------------------------------------

def read_until(fd, pattern, timeout=10.0):
    """Reads a pty's master side until the regex matches (bounded)."""
    buf = b""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern.encode())
    while not rx.search(buf):
        remaining = deadline - time.monotonic()
        assert remaining > 0, "%r not seen on the terminal; got %r" % (pattern, buf)
        ready, _, _ = select.select([fd], [], [], remaining)
        if not ready:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:  # EIO: the child closed the terminal
            data = b""
        if not data:
            raise AssertionError("terminal closed before %r; got %r" % (pattern, buf))
        buf += data
    return buf


class Terminal:
    """agora with a pty as stdin and stderr (the prompt's side)."""

    def __init__(self, cli, *args):
        self.master, self.slave = pty.openpty()
        self.proc = subprocess.Popen([AGORA_BIN] + list(args), stdin=self.slave,
                                     stdout=subprocess.PIPE, stderr=self.slave,
                                     env=cli.env(), cwd=str(cli.tmp))
        self.seen = b""

    def expect(self, pattern):
        self.seen += read_until(self.master, pattern)
        return self.seen

    def type(self, text):
        os.write(self.master, text.encode())

    def finish(self, timeout=RUN_TIMEOUT):
        out, _ = self.proc.communicate(timeout=timeout)
        # What is left on the terminal (error lines, sanitizer reports).
        while select.select([self.master], [], [], 0)[0]:
            try:
                data = os.read(self.master, 4096)
            except OSError:
                break
            if not data:
                break
            self.seen += data
        text = self.seen.decode("utf-8", "replace")
        assert not sanitizer_lines(text.splitlines()), text
        return self.proc.returncode, out.decode(), text

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        os.close(self.master)
        os.close(self.slave)


@pytest.fixture
def terminal(cli):
    made = []

    def make(*args):
        t = Terminal(cli, *args)
        made.append(t)
        return t

    yield make
    for t in made:
        t.close()


def test_register_on_a_terminal_asks_twice_without_echo(cli, api, terminal):
    name = uname()
    t = terminal("register", name)
    t.expect(r"Password for %s: " % name)
    t.type("secret words 1\n")
    t.expect(r"Password again: ")
    t.type("secret words 1\n")
    rc, out, seen = t.finish()
    assert rc == 0, (out, seen)
    assert "registered and logged in as %s" % name in out
    assert "secret" not in seen  # never echoed
    api.login(name, "secret words 1")
    # Echo is back on.
    assert termios.tcgetattr(t.slave)[3] & termios.ECHO


def test_two_different_passwords_on_a_terminal(cli, api, terminal):
    name = uname()
    t = terminal("register", name)
    t.expect(r"Password for %s: " % name)
    t.type("secret words 1\n")
    t.expect(r"Password again: ")
    t.type("secret words 2\n")
    rc, out, seen = t.finish()
    assert rc == 1, seen
    assert "agora register: the two passwords differ" in seen
    api.get("/api/users/%s" % name, expect=404)


def test_login_on_a_terminal_asks_once(cli, api, terminal):
    account = api.register(uname())
    t = terminal("login", account.name)
    t.expect(r"Password for %s: " % account.name)
    t.type(PASSWORD + "\n")
    rc, out, seen = t.finish()
    assert rc == 0, seen
    assert "again" not in seen and PASSWORD not in seen
    assert cli.account()["name"] == account.name


def test_interrupt_at_the_prompt_restores_echo(cli, terminal):
    t = terminal("login", uname())
    t.expect(r"Password for ")
    assert not termios.tcgetattr(t.slave)[3] & termios.ECHO  # off while asking
    t.proc.send_signal(signal.SIGINT)
    t.proc.wait(10)
    assert t.proc.returncode == -signal.SIGINT
    assert termios.tcgetattr(t.slave)[3] & termios.ECHO
    assert not os.path.exists(cli.creds_path)


# --------------------------------------------------------------------------
# users, status, send, inbox: one data model with the API
# --------------------------------------------------------------------------

def test_users_table_and_json(cli, api):
    a, b = api.register(uname("a")), api.register(uname("b"))
    api.patch("/api/users/%d" % a.id, token=a.token, json={"status": "on the \x1b[31mgo"},
              expect=200)
    r = cli.run("users")
    assert r.rc == 0, r
    lines = r.lines()
    assert re.match(r"^ID\s+NAME\s+UPDATED\s+STATUS$", lines[0]), lines[0]
    row = [l for l in lines if re.search(r"\b%s\b" % a.name, l)]
    assert len(row) == 1
    assert re.match(r"^%d\s+%s\s+\d{4}-\d\d-\d\d \d\d:\d\d\s+on the \\x1b\[31mgo$"
                    % (a.id, a.name), row[0]), row[0]
    assert "\x1b" not in r.out  # the escape is shown, not sent to the terminal
    row = [l for l in lines if re.search(r"\b%s\b" % b.name, l)]
    assert re.match(r"^%d\s+%s\s+-$" % (b.id, b.name), row[0]), row[0]
    # --json: the API's objects, one per line.
    r = cli.run("users", "--json")
    assert r.rc == 0, r
    got = {u["name"]: u for u in r.json_lines()}
    assert got[a.name] == api.get("/api/users/%d" % a.id, expect=200).json()
    assert got[b.name] == api.get("/api/users/%d" % b.id, expect=200).json()


def test_users_lists_every_page(cli, api):
    # More than one page of 100.
    total = api.get("/api/users", params={"limit": 1}, expect=200).json()["total"]
    for _ in range(max(0, 105 - total)):
        api.post("/api/users", json={"name": uname("p"), "password": PASSWORD}, expect=201)
    r = cli.run("users", "--json")
    assert r.rc == 0, r
    listed = r.json_lines()
    total = api.get("/api/users", params={"limit": 1}, expect=200).json()["total"]
    assert total > 100 and len(listed) == total
    assert len({u["id"] for u in listed}) == total
    assert len(cli.run("users").lines()) == total + 1


def test_status_show_set_and_clear(cli, api):
    name = uname()
    cli.register(name)
    acc = cli.account()
    r = cli.run("status")
    assert r.rc == 0 and r.out == "%s: no status\n" % name, r
    r = cli.run("status", "writing", "C", "code")
    assert r.rc == 0, r
    assert re.match(r"^%s: writing C code \(since \d{4}-\d\d-\d\d \d\d:\d\d\)$" % name,
                    r.out.strip()), r
    user = api.get("/api/users/%d" % acc["id"], expect=200).json()
    assert user["status"] == "writing C code"
    # Set through the API, shown by the command.
    api.patch("/api/users/%d" % acc["id"], token=acc["token"], json={"status": "away"},
              expect=200)
    r = cli.run("status", "--json")
    assert r.rc == 0, r
    assert r.json_lines() == [api.get("/api/users/%d" % acc["id"], expect=200).json()]
    assert r.json_lines()[0]["status"] == "away"
    r = cli.run("status", "")
    assert r.rc == 0 and r.out == "%s: no status\n" % name, r
    r = cli.run("status", "x" * 300)
    assert_error(r, "status", 3, "'status' is longer than 256 bytes (422 validation_failed)")


def test_send_by_name_and_by_id_reaches_the_api_inbox(cli, api):
    bob = api.register(uname("b"))
    alice = uname("a")
    cli.register(alice)
    r = cli.run("send", bob.name, "hello", "there")
    assert r.rc == 0, r
    m = re.match(r"^sent to %s \(message #(\d+)\)$" % bob.name, r.out.strip())
    assert m, r
    r = cli.run("send", str(bob.id), "--json", "--", "-5 degrees", "out")
    assert r.rc == 0, r
    sent = r.json_lines()
    assert len(sent) == 1
    inbox = api.inbox(bob)["messages"]
    assert [x["content"] for x in inbox] == ["-5 degrees out", "hello there"]
    assert inbox[1]["id"] == int(m.group(1))
    assert inbox[0] == sent[0]
    assert all(x["from"] == alice and x["to"] == bob.name for x in inbox)


def test_send_refusals(cli, api):
    cli.register(uname())
    r = cli.run("send", "nobody-here", "hi")
    assert_error(r, "send", 3, "no user 'nobody-here' (404 not_found)")
    assert r.out == ""
    r = cli.run("send", "nobody-here", "x" * 5000)
    assert_error(r, "send", 3, "(422 validation_failed)")


def test_inbox_shows_api_messages_oldest_first(cli, api):
    name = uname()
    cli.register(name)
    me = cli.account()
    carol = api.register(uname("c"))
    r = cli.run("inbox")
    assert r.rc == 0 and r.out == "no messages\n", r
    sent = [api.send(carol, name, text) for text in ("one", "two\nlines", "three \x9b\x07")]
    r = cli.run("inbox")
    assert r.rc == 0, r
    lines = r.lines()
    assert len(lines) == 4, r
    pat = r"^\* #%d \d{4}-\d\d-\d\d \d\d:\d\d %s: %s$"
    assert re.match(pat % (sent[0]["id"], carol.name, "one"), lines[0]), lines
    assert re.match(pat % (sent[1]["id"], carol.name, "two"), lines[1]), lines
    assert lines[2] == "    lines"
    assert re.match(pat % (sent[2]["id"], carol.name, re.escape(r"three \u009b\x07")),
                    lines[3]), lines
    # --json: the API's objects, oldest first.
    r = cli.run("inbox", "--json")
    assert r.json_lines() == list(reversed(api.get(
        "/api/messages", token=me["token"], expect=200).json()["messages"]))
    # --limit: the latest ones.
    r = cli.run("inbox", "--json", "--limit", "2")
    assert [m["id"] for m in r.json_lines()] == [sent[1]["id"], sent[2]["id"]]
    # --unread --mark-read, then they are read for the API too.
    api.patch("/api/messages/%d" % sent[0]["id"], token=me["token"], json={"read": True},
              expect=200)
    r = cli.run("inbox", "--unread", "--mark-read", "--json")
    assert r.rc == 0, r
    assert [m["id"] for m in r.json_lines()] == [sent[1]["id"], sent[2]["id"]]
    listed = api.get("/api/messages", token=me["token"], expect=200).json()["messages"]
    assert all(m["read"] for m in listed)
    r = cli.run("inbox", "--unread")
    assert r.rc == 0 and r.out == "no unread messages\n", r
    r = cli.run("inbox")
    assert r.lines()[0].startswith("  #%d " % sent[0]["id"]), r  # read: no '*'


def test_inbox_pages_past_100(cli, api):
    name = uname()
    cli.register(name)
    dave = api.register(uname("d"))
    ids = [api.send(dave, name, "m%d" % i)["id"] for i in range(120)]
    r = cli.run("inbox", "--json", "--limit", "110")
    assert r.rc == 0, r
    assert [m["id"] for m in r.json_lines()] == ids[-110:]


# --------------------------------------------------------------------------
# Choosing the server; servers that fail
# --------------------------------------------------------------------------

def test_server_flag_wins_over_agora_server(cli, api, shared_broker):
    dead = "http://127.0.0.1:%d" % free_port()
    r = cli.run("users", "--json", server=False, env={"AGORA_SERVER": dead})
    assert_error(r, "users", 2, "cannot connect to %s" % dead)
    r = cli.run("users", "--json", "--server", shared_broker.http_url, server=False,
                env={"AGORA_SERVER": dead})
    assert r.rc == 0, r
    # Without a scheme and with a trailing '/', the same server.
    r = cli.run("users", "--json", "--server", "127.0.0.1:%d/" % shared_broker.http_port,
                server=False)
    assert r.rc == 0 and len(r.json_lines()) >= 1, r


def test_default_server_is_serves_default_listener(cli):
    # agora serve's default http_listener is 127.0.0.1:8080.
    r = cli.run("inbox", server=False)
    assert_error(r, "inbox", 4, "not logged in on http://127.0.0.1:8080")


def test_server_not_running(cli):
    dead = "http://127.0.0.1:%d" % free_port()
    for args in (["users"], ["register", "x", "--password-file", cli.password_file()],
                 ["login", "x", "--password-file", cli.password_file()]):
        r = cli.run(*args, "--server", dead, server=False)
        assert_error(r, args[0], 2, "cannot connect to %s: Connection refused" % dead)


class SilentServer:
    """Accepts connections and never answers."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.conns = []
        self.stop = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        self.sock.settimeout(0.2)
        while not self.stop:
            try:
                c, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.conns.append(c)

    def close(self):
        self.stop = True
        self.thread.join(5)
        for c in self.conns:
            c.close()
        self.sock.close()


def test_timeout_when_the_server_does_not_answer(cli):
    s = SilentServer()
    try:
        start = time.monotonic()
        r = cli.run("users", "--timeout", "0.5", "--server", "http://127.0.0.1:%d" % s.port,
                    server=False)
        elapsed = time.monotonic() - start
    finally:
        s.close()
    assert_error(r, "users", 2, "no answer from http://127.0.0.1:%d within 500 ms" % s.port)
    assert elapsed < 5.0


class FakeApi:
    """An HTTP server that answers what a test sets: (status, content type,
    body) for every request."""

    def __init__(self, status, ctype, body, length=True):
        answer = (status, ctype, body)

        class Handler(http.server.BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                st, ct, b = answer
                self.send_response(st)
                self.send_header("Content-Type", ct)
                if length:  # else HTTP/1.0: the body ends at the close
                    self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                try:
                    self.wfile.write(b)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = do_POST = do_PATCH = _answer

            def log_message(self, *a):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def fake_api():
    made = []

    def make(status, ctype, body, length=True):
        f = FakeApi(status, ctype, body, length)
        made.append(f)
        return f

    yield make
    for f in made:
        f.close()


def test_error_without_the_api_body_is_one_line(cli, fake_api):
    f = fake_api(502, "text/html", b"<html><body>{\"bad gateway\"}</body></html>")
    r = cli.run("users", "--server", f.url, server=False)
    line = assert_error(r, "users", 3, "the server answered 502")
    assert "html" not in line
    # An error body of another shape: the same.
    f = fake_api(500, "application/json", b'{"error": "boom"}')
    r = cli.run("users", "--server", f.url, server=False)
    assert_error(r, "users", 3, "the server answered 500")


def test_error_message_is_made_safe(cli, fake_api):
    body = json.dumps({"error": {"code": "nope\x1b", "message": "bad \x1b]0;owned\x07 " + "x" * 1000}})
    f = fake_api(418, "application/json", body.encode())
    r = cli.run("users", "--server", f.url, server=False)
    line = assert_error(r, "users", 3, "bad \\x1b]0;owned\\x07 xxx", "... (418 nope\\x1b)")
    assert "\x1b" not in r.err and len(line) < 400


def test_answer_that_is_not_the_apis(cli, fake_api):
    f = fake_api(200, "text/html", b"<html>hello</html>")
    r = cli.run("users", "--server", f.url, server=False)
    assert_error(r, "users", 2, "is not the API's JSON")


def test_answer_over_the_size_limit(cli, fake_api):
    big = b"[" + b" " * (9 << 20) + b"]"
    for length in (True, False):  # refused from Content-Length, or as it comes
        f = fake_api(200, "application/json", big, length)
        r = cli.run("users", "--server", f.url, server=False)
        assert_error(r, "users", 2, "is over 8388608 bytes")
