"""Helpers for the REST API tests (test_api.py, test_http.py, test_bridge.py).

    api = Api(broker)                      # the HTTP API of a started broker
    r = api.post("/api/users", json={"name": "alice", "password": "wonderland"})
    alice = api.register("alice")          # -> Account(id, name, password, token)

Every answer an Api method returns has been checked against the OpenAPI
document the server itself serves (GET /api/openapi.json, fetched once per
server) with openapi_check.validate_response, the route template found from
the concrete path (or given). Answers to what the document does not list
(404 for an unknown route, 405, HEAD, OPTIONS) are checked against the
shared Error schema when they are errors. Every error answer must also carry
the code word docs/api.md gives for its status (ERROR_CODES).

RawHttp speaks HTTP/1.1 over a plain socket for the protocol tests: it sends
bytes as given and reads answers one at a time (1xx interim answers
included), each bounded by a timeout.

kill9 / restart_on_same_data: SIGKILL a broker and start another one on its
data directory (the fixture's teardown would otherwise report the SIGKILL as
a crash).
"""

import json
import re
import socket
import time

import pytest
import requests

import conftest
import openapi_check

# docs/api.md, "Errors": the code word(s) each status carries.
ERROR_CODES = {
    400: {"bad_request", "invalid_json"},
    401: {"unauthorized"},
    403: {"forbidden"},
    404: {"not_found", "no_vote"},
    405: {"method_not_allowed"},
    408: {"request_timeout"},
    409: {"conflict", "already_voted", "poll_closed"},
    413: {"payload_too_large"},
    414: {"uri_too_long"},
    415: {"unsupported_media_type"},
    422: {"validation_failed", "unknown_option", "invalid_rule"},
    429: {"too_many_requests"},
    431: {"header_too_large"},
    500: {"internal"},
    503: {"unavailable", "rules_unavailable"},
    505: {"http_version_not_supported"},
}

DEFAULT_PASSWORD = "wonderland"
HTTP_TIMEOUT = 10.0
TIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")

_specs = {}


def require_agora():
    conftest.require_agora("the HTTP API")


def spec_for(broker_or_url):
    """The OpenAPI document the server serves (fetched once per server)."""
    url = broker_or_url if isinstance(broker_or_url, str) else broker_or_url.http_url
    if url not in _specs:
        r = requests.get(url + "/api/openapi.json", timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, "GET /api/openapi.json -> %d" % r.status_code
        _specs[url] = r.json()
    return _specs[url]


def check_error_body(spec, status, response, what=""):
    """An error answer: the Error shape, and the code word of its status."""
    ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    assert ctype == "application/json", "%s: error %d with Content-Type %r: %r" % (
        what, status, response.headers.get("Content-Type"), response.content[:200])
    try:
        body = response.json()
    except ValueError:
        raise AssertionError("%s: error %d body is not JSON: %r" % (
            what, status, response.content[:200]))
    openapi_check.validate_json(spec, "/components/schemas/Error", body,
                                what="%s error %d body %r" % (what, status, response.content[:200]))
    code = body["error"]["code"]
    expected = ERROR_CODES.get(status)
    assert expected is not None, "%s: status %d is not one docs/api.md lists" % (what, status)
    assert code in expected, "%s: status %d with code %r, docs/api.md says %s" % (
        what, status, code, sorted(expected))
    return body


def check_response(spec, method, path, response, template=None):
    """Validates one answer against the document (see the module doc)."""
    method = method.upper()
    if template is None:
        template = openapi_check.path_template(spec, path)
    item = spec.get("paths", {}).get(template) if template else None
    what = "%s %s" % (method, path)
    if item is not None and method.lower() in item:
        openapi_check.validate_response(spec, method, template, response)
    if method == "HEAD":
        assert not response.content, "%s: HEAD answered with a body" % what
    elif response.status_code >= 400:
        check_error_body(spec, response.status_code, response, what)
    return response


class Account:
    """A registered user and a token for it."""

    def __init__(self, user, password, token):
        self.user = user
        self.id = user["id"]
        self.name = user["name"]
        self.password = password
        self.token = token

    @property
    def auth(self):
        return {"Authorization": "Bearer " + self.token}

    def __repr__(self):
        return "<Account %s #%d>" % (self.name, self.id)


class Api:
    """requests.Session against one server; validates every answer."""

    def __init__(self, broker):
        # The fixture's start waits for "ready", which the HTTP listener
        # precedes: nothing more to wait for here.
        require_agora()
        self.broker = broker
        self.base = broker.http_url
        self.session = requests.Session()
        self.spec = spec_for(self.base)

    def close(self):
        self.session.close()

    def request(self, method, path, template=None, token=None, json=None, data=None,
                headers=None, params=None, validate=True, expect=None):
        """One request. token: sent as Authorization: Bearer. json: a body
        sent as application/json (data: raw bytes, headers as given).
        expect: the status the test requires (asserted with the body in
        the message)."""
        h = dict(headers or {})
        if token is not None:
            h["Authorization"] = "Bearer " + token
        kw = {}
        if json is not None:
            kw["json"] = json
        if data is not None:
            kw["data"] = data
        r = self.session.request(method, self.base + path, headers=h, params=params,
                                 timeout=HTTP_TIMEOUT, allow_redirects=False, **kw)
        if validate:
            check_response(self.spec, method, path, r, template)
        if expect is not None:
            assert r.status_code == expect, "%s %s -> %d, expected %d: %s" % (
                method, path, r.status_code, expect, r.text[:400])
        return r

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def put(self, path, **kw):
        return self.request("PUT", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # -- conveniences ---------------------------------------------------------

    def register(self, name, password=DEFAULT_PASSWORD):
        r = self.post("/api/users", json={"name": name, "password": password}, expect=201)
        body = r.json()
        token = body.pop("token")
        return Account(body, password, token)

    def login(self, name, password=DEFAULT_PASSWORD):
        r = self.post("/api/login", json={"name": name, "password": password}, expect=200)
        return r.json()

    def send(self, sender, to, content):
        """A message from sender (Account) to `to` (name or id): 201."""
        r = self.post("/api/users/%s/messages" % to, token=sender.token,
                      json={"content": content}, expect=201)
        return r.json()

    def inbox(self, account, **params):
        return self.get("/api/messages", token=account.token, params=params or None,
                        expect=200).json()

    def sent(self, account, **params):
        return self.get("/api/messages/sent", token=account.token, params=params or None,
                        expect=200).json()

    def error_code(self, r):
        return r.json()["error"]["code"]


# --------------------------------------------------------------------------
# Raw HTTP over a socket
# --------------------------------------------------------------------------

class Headers:
    """Case-insensitive header lookup (what openapi_check needs)."""

    def __init__(self, pairs):
        self.pairs = list(pairs)

    def get(self, name, default=None):
        name = name.lower()
        for k, v in self.pairs:
            if k.lower() == name:
                return v
        return default

    def __contains__(self, name):
        return self.get(name) is not None

    def __repr__(self):
        return repr(self.pairs)


class RawResponse:
    def __init__(self, status, reason, headers, content):
        self.status_code = status
        self.reason = reason
        self.headers = headers
        self.content = content

    def json(self):
        return json.loads(self.content.decode("utf-8"))

    @property
    def text(self):
        return self.content.decode("utf-8", "replace")

    def __repr__(self):
        return "<RawResponse %d %s %r>" % (self.status_code, self.reason, self.content[:120])


class RawHttp:
    """One TCP connection to the HTTP listener, bytes in, answers out."""

    def __init__(self, broker_or_port, timeout=5.0):
        port = broker_or_port if isinstance(broker_or_port, int) else broker_or_port.http_port
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.eof = False

    def send(self, data):
        if isinstance(data, str):
            data = data.encode("latin-1")
        self.sock.sendall(data)

    def try_send(self, data):
        """send() that tolerates the server having closed already."""
        try:
            self.send(data)
            return True
        except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError):
            return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _fill(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError("timed out waiting for the server (have %r)"
                                 % bytes(self.buf[:200]))
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            raise AssertionError("timed out waiting for the server (have %r)"
                                 % bytes(self.buf[:200]))
        except (ConnectionResetError, ConnectionAbortedError):
            data = b""
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def read_response(self, timeout=5.0, head=False):
        """The next answer (a 1xx interim one too). head: the answer to a
        HEAD request (no body whatever Content-Length says)."""
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            if self.eof or not self._fill(deadline):
                raise AssertionError("connection closed before a complete answer; got %r"
                                     % bytes(self.buf[:300]))
        end = self.buf.index(b"\r\n\r\n")
        head_text = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[:end + 4]
        lines = head_text.split("\r\n")
        m = re.match(r"^HTTP/1\.[01] (\d{3}) ?(.*)$", lines[0])
        assert m, "bad status line %r" % lines[0]
        status = int(m.group(1))
        pairs = []
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            assert sep, "bad header line %r" % line
            pairs.append((k.strip(), v.strip()))
        headers = Headers(pairs)
        length = 0
        if not head and status >= 200 and status not in (204, 304):
            assert headers.get("Transfer-Encoding") is None, "chunked answers are not expected"
            cl = headers.get("Content-Length")
            assert cl is not None, "answer %d without Content-Length: %r" % (status, pairs)
            length = int(cl)
        while len(self.buf) < length:
            if self.eof or not self._fill(deadline):
                raise AssertionError("connection closed within a body (%d of %d bytes)"
                                     % (len(self.buf), length))
        content = bytes(self.buf[:length])
        del self.buf[:length]
        return RawResponse(status, m.group(2), headers, content)

    def request(self, method, path, body=None, headers=None, timeout=5.0):
        """Sends one simple request and reads its (final) answer."""
        self.send(build_request(method, path, body, headers))
        return self.read_response(timeout, head=method == "HEAD")

    def expect_closed(self, timeout=5.0):
        """Waits (bounded) for the server to close; returns the seconds
        waited. Bytes that arrive first make the test fail."""
        start = time.monotonic()
        deadline = start + timeout
        while not self.eof:
            if self.buf:
                raise AssertionError("expected the connection to close, got %r"
                                     % bytes(self.buf[:300]))
            try:
                self._fill(deadline)
            except AssertionError:
                raise AssertionError("connection still open after %.1fs" % timeout)
        assert not self.buf, "bytes before the close: %r" % bytes(self.buf[:300])
        return time.monotonic() - start

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def build_request(method, path, body=None, headers=None, host="127.0.0.1"):
    """The bytes of a request; a body gets Content-Length (unless headers
    say Transfer-Encoding) and Content-Type application/json by default."""
    h = [("Host", host)]
    extra = list((headers or {}).items()) if isinstance(headers, dict) else list(headers or [])
    names = {k.lower() for k, _ in extra}
    if body is not None:
        if isinstance(body, str):
            body = body.encode("utf-8")
        if "content-type" not in names:
            h.append(("Content-Type", "application/json"))
        if "transfer-encoding" not in names and "content-length" not in names:
            h.append(("Content-Length", str(len(body))))
    h += extra
    out = "%s %s HTTP/1.1\r\n" % (method, path)
    out += "".join("%s: %s\r\n" % kv for kv in h) + "\r\n"
    return out.encode("latin-1") + (body or b"")


def chunked(body, sizes):
    """body in chunks of the given sizes (the rest in one), with the end."""
    out = b""
    pos = 0
    for n in sizes:
        part = body[pos:pos + n]
        if not part:
            break
        out += b"%x\r\n" % len(part) + part + b"\r\n"
        pos += n
    if pos < len(body):
        out += b"%x\r\n" % (len(body) - pos) + body[pos:] + b"\r\n"
    return out + b"0\r\n\r\n"


def assert_healthy(broker, what="after the previous requests"):
    """A fresh connection gets 200 {"status": "ok"} from /healthz."""
    assert broker.alive(), "the server is not running %s" % what
    with RawHttp(broker) as c:
        r = c.request("GET", "/healthz")
    assert r.status_code == 200, "GET /healthz %s -> %r" % (what, r)
    openapi_check.validate_response(spec_for(broker), "GET", "/healthz", r)
    assert r.json() == {"status": "ok"}


# --------------------------------------------------------------------------
# Crash and restart
# --------------------------------------------------------------------------

def kill9(broker):
    """SIGKILL, no shutdown at all. Checks the sanitizers said nothing up to
    then, then detaches the process from the fixture (whose teardown would
    otherwise report the SIGKILL as a crash)."""
    broker.proc.kill()
    broker.proc.wait(5)
    for t in broker._threads:
        t.join(2.0)
    san = broker.sanitizer_errors()
    assert not san, "sanitizer reports before the SIGKILL: %s" % san[:5]
    broker.stopped = True
    broker.proc = None


def restart_on_same_data(broker_factory, old, *lines):
    """A new server on old's data directory (fresh ports)."""
    return broker_factory("data_dir %s" % old.data_dir, *lines)


@pytest.fixture
def api(broker):
    """An Api on a fresh server (default configuration)."""
    a = Api(broker)
    yield a
    a.close()


def module_server(tmp_path_factory, name, lines=()):
    """The body of a module-scoped server fixture (`yield from` it): one
    server with config lines for a whole module's tests that need no fresh
    state (they use names of their own), checked like the fixture's at
    the end."""
    require_agora()
    b = conftest.Broker(str(tmp_path_factory.mktemp(name)), list(lines))
    b.start()
    try:
        yield b
        b.check_clean_exit()
    finally:
        b.kill()


@pytest.fixture(scope="module")
def shared_broker(tmp_path_factory):
    """One server for a whole module (module_server)."""
    yield from module_server(tmp_path_factory, "shared")


@pytest.fixture
def shared_api(shared_broker):
    """An Api on the module's shared server."""
    a = Api(shared_broker)
    yield a
    a.close()
