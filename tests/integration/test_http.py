"""HTTP/1.1 behaviour of the API listener over raw sockets (docs/api.md,
"HTTP limits and behaviour"): keep-alive, pipelining, chunked bodies,
100-continue, the size limits, the time limits, the connection limit, and
robustness against malformed input. Every error answer must have the JSON
error shape with the code word docs/api.md gives for its status; after each
abusive case the server must still answer GET /healthz."""

import json
import re
import random
import select
import shutil
import socket
import subprocess
import time

import pytest
import requests

from conftest import is_agora
import mqttraw
import apiclient
from apiclient import (RawHttp, assert_healthy, build_request, check_error_body, chunked,
                       require_agora, spec_for)
import openapi_check

shared_broker = apiclient.shared_broker  # fixture: one server for the module

# The HTTP API is Agora's own: skipped (before any broker starts) against
# Mosquitto.
pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: the HTTP API")

USER = b'{"name": "alice", "password": "wonderland"}'


@pytest.fixture
def http_broker(broker_factory):
    """Starts a broker with extra config lines (HTTP up once started)."""
    require_agora()

    def start(*lines):
        return broker_factory(*lines)
    return start


@pytest.fixture
def server(shared_broker):
    """The module's shared server."""
    return shared_broker


def expect_error(broker, r, status, what=""):
    assert r.status_code == status, "%s: expected %d, got %r" % (what, status, r)
    check_error_body(spec_for(broker), status, r, what)
    return r.json()["error"]


def validate(broker, method, template, r):
    openapi_check.validate_response(spec_for(broker), method, template, r)
    return r


# --------------------------------------------------------------------------
# Connections and framing
# --------------------------------------------------------------------------

def test_keep_alive_two_requests_on_one_connection(server):
    with RawHttp(server) as c:
        r1 = validate(server, "GET", "/healthz", c.request("GET", "/healthz"))
        assert r1.status_code == 200 and r1.json() == {"status": "ok"}
        assert (r1.headers.get("Connection") or "").lower() != "close", r1.headers
        r2 = validate(server, "GET", "/api/integer", c.request("GET", "/api/integer?n=4"))
        assert r2.status_code == 200 and len(r2.json()) == 4
        local = c.sock.getsockname()
        r3 = c.request("GET", "/healthz")
        assert r3.status_code == 200 and c.sock.getsockname() == local


def test_pipelined_requests_answered_in_order(server):
    name = "pipe%d" % random.randrange(10 ** 9)
    body = json.dumps({"name": name, "password": "wonderland"})
    data = (build_request("GET", "/api/users/%s" % name)
            + build_request("GET", "/healthz")
            + build_request("POST", "/api/users", body)
            + build_request("GET", "/api/integer?n=7")
            + build_request("GET", "/api/users/%s" % name))
    with RawHttp(server) as c:
        c.send(data)  # one send: all five requests at once
        got = [c.read_response() for _ in range(5)]
    expect_error(server, got[0], 404, "first pipelined request")
    assert got[1].status_code == 200 and got[1].json() == {"status": "ok"}
    validate(server, "POST", "/api/users", got[2])
    assert got[2].status_code == 201 and got[2].json()["name"] == name
    assert got[3].status_code == 200 and len(got[3].json()) == 7
    validate(server, "GET", "/api/users/{id}", got[4])
    assert got[4].status_code == 200 and got[4].json()["id"] == got[2].json()["id"]


def test_head_answer_has_no_body_on_a_kept_connection(server):
    with RawHttp(server) as c:
        c.send(build_request("HEAD", "/api/openapi.json") + build_request("GET", "/healthz"))
        h = c.read_response(head=True)
        assert h.status_code == 200 and int(h.headers.get("Content-Length")) > 1000
        # Had the HEAD answer carried a body, this would not parse.
        g = c.read_response()
        assert g.status_code == 200 and g.json() == {"status": "ok"}


def test_chunked_request_body(server):
    name = "chunk%d" % random.randrange(10 ** 9)
    body = json.dumps({"name": name, "password": "wonderland"}).encode()
    head = build_request("POST", "/api/users", None,
                         [("Content-Type", "application/json"),
                          ("Transfer-Encoding", "chunked")])
    with RawHttp(server) as c:
        c.send(head)
        encoded = chunked(body, [1, 5, 10])
        # In several sends, split inside the chunk framing too.
        for i in range(0, len(encoded), 7):
            c.send(encoded[i:i + 7])
        r = c.read_response()
        validate(server, "POST", "/api/users", r)
        assert r.status_code == 201, r
        assert r.json()["name"] == name
        # The connection goes on.
        r = c.request("POST", "/api/login", json.dumps({"name": name, "password": "wonderland"}))
        assert r.status_code == 200, r


def test_expect_100_continue(server):
    name = "cont%d" % random.randrange(10 ** 9)
    body = json.dumps({"name": name, "password": "wonderland"}).encode()
    head = build_request("POST", "/api/users", None,
                         [("Content-Type", "application/json"),
                          ("Content-Length", str(len(body))),
                          ("Expect", "100-continue")])
    with RawHttp(server) as c:
        c.send(head)
        interim = c.read_response(timeout=5)
        assert interim.status_code == 100, interim
        c.send(body)
        r = c.read_response()
        validate(server, "POST", "/api/users", r)
        assert r.status_code == 201, r


# --------------------------------------------------------------------------
# Size limits
# --------------------------------------------------------------------------

def padded_user(name, size):
    """A valid registration body of exactly size bytes (JSON whitespace)."""
    body = json.dumps({"name": name, "password": "wonderland"}).encode()
    assert len(body) <= size
    return body + b" " * (size - len(body))


def test_413_with_content_length(http_broker):
    b = http_broker("http_max_body 1024")
    with RawHttp(b) as c:
        r = c.request("POST", "/api/users", padded_user("exact", 1024))
        validate(b, "POST", "/api/users", r)
        assert r.status_code == 201, r
    with RawHttp(b) as c:
        r = c.request("POST", "/api/users", padded_user("over", 1025))
        expect_error(b, r, 413, "1025-byte body")
    # Announced too large: the answer comes without the body being sent.
    with RawHttp(b) as c:
        c.send(build_request("POST", "/api/users", None,
                             [("Content-Type", "application/json"),
                              ("Content-Length", "100000000")]))
        expect_error(b, c.read_response(), 413, "Content-Length 100000000")
    with RawHttp(b) as c:
        c.send(build_request("POST", "/api/users", None,
                             [("Content-Type", "application/json"),
                              ("Content-Length", "2000"), ("Expect", "100-continue")]))
        r = c.read_response()
        expect_error(b, r, 413, "Expect: 100-continue with Content-Length 2000")
    assert_healthy(b, "after 413s")


def test_413_with_chunked_body(http_broker):
    b = http_broker("http_max_body 1024")
    head = build_request("POST", "/api/users", None,
                         [("Content-Type", "application/json"),
                          ("Transfer-Encoding", "chunked")])
    with RawHttp(b) as c:
        c.send(head + chunked(padded_user("chunkok", 1024), [500, 500]))
        r = c.read_response()
        assert r.status_code == 201, r
    with RawHttp(b) as c:
        c.send(head)
        c.send(b"%x\r\n" % 600 + b" " * 600 + b"\r\n")
        c.try_send(b"%x\r\n" % 600 + b" " * 600 + b"\r\n")
        r = c.read_response()
        expect_error(b, r, 413, "chunked body of 1200 bytes")
    assert_healthy(b, "after a chunked 413")


def test_414_uri_too_long(server):
    # The request target: exactly http_max_uri (2048) bytes is fine.
    prefix = "/api/integer?pad="
    ok = prefix + "a" * (2048 - len(prefix))
    with RawHttp(server) as c:
        r = c.request("GET", ok)
        assert r.status_code == 200, r
    with RawHttp(server) as c:
        r = c.request("GET", ok + "a")
        expect_error(server, r, 414, "2049-byte target")
    with RawHttp(server) as c:
        r = c.request("GET", "/api/users/" + "x" * 100000)
        expect_error(server, r, 414, "100 kB target")
    assert_healthy(server, "after 414s")


def test_431_header_too_large(server):
    with RawHttp(server) as c:
        r = c.request("GET", "/healthz", headers={"X-Filler": "a" * 6000})
        assert r.status_code == 200, r
    with RawHttp(server) as c:
        r = c.request("GET", "/healthz", headers={"X-Filler": "a" * 9000})
        expect_error(server, r, 431, "9000-byte header")
    with RawHttp(server) as c:
        r = c.request("GET", "/healthz",
                      headers=[("X-Filler-%d" % i, "b" * 100) for i in range(90)])
        expect_error(server, r, 431, "90 headers of 100 bytes")
    with RawHttp(server) as c:
        c.try_send(b"GET /healthz HTTP/1.1\r\nX-Huge: " + b"c" * 200000 + b"\r\n\r\n")
        expect_error(server, c.read_response(), 431, "200 kB header")
    assert_healthy(server, "after 431s")


def test_431_more_header_lines_than_http_max_headers(http_broker):
    b = http_broker("http_max_headers 5")
    with RawHttp(b) as c:  # Host plus 4: five lines
        r = c.request("GET", "/healthz", headers=[("X-%d" % i, "v") for i in range(4)])
        assert r.status_code == 200, r
    with RawHttp(b) as c:
        r = c.request("GET", "/healthz", headers=[("X-%d" % i, "v") for i in range(5)])
        expect_error(b, r, 431, "six header lines")
        c.expect_closed(timeout=3)
    assert_healthy(b, "after too many header lines")


# --------------------------------------------------------------------------
# Closing after an early answer: the lingering close
# --------------------------------------------------------------------------
#
# After an answer the server closes on (413 while the body is still coming,
# 431, 400, 408, ...), it shuts its write side and drops what the client
# still sends, within http_linger_bytes and http_linger_time
# (http_linger_timeout between two reads), so that the client reads the
# answer instead of a reset.

BIG_BODY = 5 * 1024 * 1024  # over the default http_max_body (1 MiB)
TRIES = 30


def test_413_reaches_requests_still_sending_its_body(server):
    # requests sends the whole body before it reads: without the lingering
    # close it sometimes gets "Connection reset by peer" instead.
    body = b"x" * BIG_BODY
    for i in range(TRIES):
        r = requests.post(server.http_url + "/api/users", data=body, timeout=30,
                          headers={"Content-Type": "application/json"})
        expect_error(server, r, 413, "5 MiB body with requests, try %d" % i)
    assert_healthy(server, "after %d refused 5 MiB bodies" % TRIES)


@pytest.mark.skipif(not shutil.which("curl"), reason="curl is not installed")
def test_413_reaches_curl_still_sending_its_body(server, tmp_path):
    path = tmp_path / "big.json"
    path.write_bytes(b"x" * BIG_BODY)
    for i in range(TRIES):
        # Half the tries without "Expect: 100-continue" (curl then sends the
        # body at once), half with it (the 413 comes before any body byte).
        expect = ["-H", "Expect:"] if i % 2 == 0 else []
        p = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}", "-X", "POST",
                            "-H", "Content-Type: application/json"] + expect
                           + ["--data-binary", "@%s" % path, server.http_url + "/api/users"],
                           capture_output=True, timeout=60)
        assert p.returncode == 0, "try %d: curl exit %d: %r" % (i, p.returncode, p.stderr)
        body, _, code = p.stdout.rpartition(b"\n")
        assert code == b"413", "try %d: status %r, body %r" % (i, code, body[:200])
        err = json.loads(body.decode("utf-8"))["error"]
        assert err["code"] == "payload_too_large", err
    assert_healthy(server, "after %d refused 5 MiB bodies from curl" % TRIES)


def refused_upload(c, length=100000000):
    """Starts a POST whose Content-Length is over the limit, with some body
    bytes; reads the 413 and the server's EOF (a clean FIN: a reset raises
    here)."""
    c.send(build_request("POST", "/api/users", None,
                         [("Content-Type", "application/json"),
                          ("Content-Length", str(length))]) + b"x" * 4096)
    r = c.read_response()
    assert r.status_code == 413, r
    assert (r.headers.get("Connection") or "").lower() == "close", r.headers
    assert not c.buf, "bytes after the 413: %r" % bytes(c.buf[:100])
    c.sock.settimeout(5)
    assert c.sock.recv(1) == b"", "expected the server's EOF after its 413"
    return r


def http_connections(poller):
    """agora_http_connections, asked over the keep-alive connection poller
    (which counts itself)."""
    r = poller.request("GET", "/metrics")
    assert r.status_code == 200, r
    m = re.search(r"^agora_http_connections (\d+)$", r.text, re.M)
    assert m, r.text[:300]
    return int(m.group(1))


def wait_connections(poller, n, timeout):
    """Waits (polling, bounded) until the server counts n HTTP connections;
    returns the seconds waited."""
    start = time.monotonic()
    while http_connections(poller) != n:
        assert time.monotonic() - start < timeout, \
            "still %d HTTP connections after %.1fs" % (http_connections(poller), timeout)
        time.sleep(0.02)  # polling, bounded by the deadline
    return time.monotonic() - start


def test_after_413_write_side_shut_and_later_bytes_dropped(http_broker):
    b = http_broker("http_max_body 1024")
    with RawHttp(b) as c:
        r = refused_upload(c)
        expect_error(b, r, 413, "Content-Length 100000000")
        # The server still takes (and drops) what the client sends...
        for _ in range(32):
            c.sock.sendall(b"y" * 65536)
        # ... and closes cleanly once the client is done: a server that
        # had closed its socket would have answered these bytes with a
        # reset, which recv raises.
        c.sock.shutdown(socket.SHUT_WR)
        assert c.sock.recv(1) == b""
    assert_healthy(b, "after a lingering close")


def test_lingering_ends_at_the_clients_eof(http_broker):
    b = http_broker("http_max_body 1024", "http_linger_timeout 30", "http_linger_time 60")
    with RawHttp(b) as poller:
        assert http_connections(poller) == 1
        with RawHttp(b) as c:
            refused_upload(c)
            assert http_connections(poller) == 2  # lingering
            c.sock.shutdown(socket.SHUT_WR)
            # Closed at once, not after http_linger_timeout (30 s).
            assert wait_connections(poller, 1, 5) < 5


def exactly_64k_of_healthz_ending_with_close():
    """64 GET /healthz requests of 1,024 bytes each (65,536 in all, padded
    by a header), the last one with Connection: close."""
    def padded(headers):
        bare = build_request("GET", "/healthz", headers=dict(headers, **{"X-Pad": ""}))
        return build_request("GET", "/healthz",
                             headers=dict(headers, **{"X-Pad": "p" * (1024 - len(bare))}))
    out = [padded({})] * 63 + [padded({"Connection": "close"})]
    assert all(len(r) == 1024 for r in out)
    return out


def test_requests_before_a_half_close_are_all_answered(http_broker):
    """A client that sends its requests and shuts its write side (HTTP/1.0
    clients, `nc -N`) gets every answer, a slow one (a registration, hashed
    on a worker thread) included, then the server's EOF."""
    b = http_broker()
    name = "halfclose%d" % random.randrange(1 << 30)
    cases = [
        ([build_request("GET", "/healthz")], [200]),
        ([build_request("GET", "/healthz"), build_request("GET", "/healthz")], [200, 200]),
        ([build_request("GET", "/healthz"),
          build_request("POST", "/api/users",
                        json.dumps({"name": name, "password": "wonderland"})),
          build_request("GET", "/healthz")], [200, 201, 200]),
        # the last answer closes the connection (the lingering close)
        ([b"GET /healthz HTTP/1.0\r\n\r\n"], [200]),
        ([build_request("GET", "/healthz"),
          build_request("GET", "/healthz", headers={"Connection": "close"})], [200, 200]),
        # exactly the server's 64 KiB read buffer: the read that fills it is
        # followed by another in the same loop turn, which sees the EOF
        # before the answers are written
        (exactly_64k_of_healthz_ending_with_close(), None),
    ]
    for requests_sent, statuses in cases:
        with RawHttp(b) as c:
            # Corked: the requests and the FIN leave in one segment, so the
            # server reads the EOF right after them, before it has written.
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            c.send(b"".join(requests_sent))
            c.sock.shutdown(socket.SHUT_WR)
            received = bytearray()
            c.sock.settimeout(10)
            while True:
                chunk = c.sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        answers = parse_answers(received)
        if statuses is None:
            statuses = [200] * len(requests_sent)
        assert [a[0] for a in answers] == statuses, received[:300]
        assert all(a[3] for a in answers), "an answer cut short: %r" % received[-200:]


def test_lingering_ends_after_http_linger_timeout_of_silence(http_broker):
    b = http_broker("http_max_body 1024", "http_linger_timeout 1", "http_linger_time 60")
    with RawHttp(b) as poller:
        with RawHttp(b) as c:
            refused_upload(c)
            start = time.monotonic()
            wait_connections(poller, 1, 5)
            elapsed = time.monotonic() - start
            assert 0.7 <= elapsed <= 4, "closed %.2fs after the 413" % elapsed


def sends_until_closed(c, chunk, pause, deadline_s, max_bytes):
    """Sends chunk every pause seconds until the server's close makes a
    send fail; returns (seconds, bytes sent). Fails the test past the
    deadline or max_bytes."""
    start = time.monotonic()
    sent = 0
    c.sock.settimeout(deadline_s)
    while True:
        assert time.monotonic() - start < deadline_s, \
            "still accepting bytes after %.1fs (%d bytes)" % (deadline_s, sent)
        assert sent <= max_bytes, "still accepting bytes after %d bytes" % sent
        try:
            c.sock.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            return time.monotonic() - start, sent
        sent += len(chunk)
        if pause:
            time.sleep(pause)  # the client's pace, not a synchronisation


def test_lingering_ends_after_http_linger_bytes(http_broker):
    b = http_broker("http_max_body 1024", "http_linger_bytes 65536", "http_linger_timeout 30",
                    "http_linger_time 60")
    with RawHttp(b) as c:
        refused_upload(c)
        # A client that never stops: closed once 64 KiB were dropped (plus
        # what the two sockets' buffers hold), well before the timers.
        elapsed, sent = sends_until_closed(c, b"z" * 65536, 0, 20, 64 * 1024 * 1024)
        assert elapsed < 20 and sent >= 65536 - 4096, (elapsed, sent)
    assert_healthy(b, "after a client cut off at http_linger_bytes")


def test_lingering_ends_after_http_linger_time(http_broker):
    b = http_broker("http_max_body 1024", "http_linger_time 2", "http_linger_timeout 1")
    with RawHttp(b) as c:
        refused_upload(c)
        # A byte every 0.25 s keeps http_linger_timeout (1 s) from firing:
        # http_linger_time (2 s) ends it.
        elapsed, _sent = sends_until_closed(c, b"t", 0.25, 10, 1000)
        assert 1.5 <= elapsed <= 6, "closed %.2fs after the 413" % elapsed
    assert_healthy(b, "after a client cut off at http_linger_time")


def test_last_answer_read_late_is_not_cut_by_lingering(http_broker):
    # The linger timers run once the last answer is all out: a client that
    # reads a large "Connection: close" answer only after longer than
    # http_linger_time still gets all of it. About 6.5 MB: more than the
    # kernel's socket buffers take, so most of it waits in the server.
    b = http_broker("http_linger_timeout 1", "http_linger_time 1", "status_max_length 65536")
    api = apiclient.Api(b)
    try:
        for i in range(100):
            u = api.register("late%d" % i)
            # (beyond the document's default maxLength: not validated)
            api.patch("/api/users/%d" % u.id, token=u.token, json={"status": "s" * 65536},
                      expect=200, validate=False)
        expected = api.get("/api/users?limit=100", expect=200, validate=False).content
    finally:
        api.close()
    assert len(expected) > 6000000
    with RawHttp(b, timeout=30) as c:
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
        c.send(build_request("GET", "/api/users?limit=100", None, [("Connection", "close")]))
        time.sleep(2.5)  # the client reading late is the case under test
        r = c.read_response(timeout=30)
        assert r.status_code == 200, r
        assert r.content == expected, "got %d of %d bytes" % (len(r.content), len(expected))
        c.expect_closed(timeout=5)


# --------------------------------------------------------------------------
# Malformed requests
# --------------------------------------------------------------------------

MALFORMED = [
    pytest.param(b"HELLO WORLD\r\n\r\n", id="not-http"),
    pytest.param(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(64)), id="tls-hello"),
    pytest.param(b"\x00\x01\x02\x03\xff\xfe\r\n\r\n", id="binary"),
    pytest.param(b"GET healthz HTTP/1.1\r\nHost: x\r\n\r\n", id="target-not-a-path"),
    pytest.param(b"GET http://example.com/healthz HTTP/1.1\r\nHost: x\r\n\r\n", id="absolute-form"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nHost x\r\n\r\n", id="header-without-colon"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nContent-Length: -1\r\n\r\n", id="negative-length"),
    pytest.param(b"GET /healthz HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
                 id="two-lengths"),
    pytest.param(b"POST /api/users HTTP/1.1\r\nContent-Type: application/json\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\nzz\r\n", id="bad-chunk-size"),
]


@pytest.mark.parametrize("data", MALFORMED)
def test_malformed_request_is_400_and_closed(server, data):
    with RawHttp(server) as c:
        c.send(data)
        r = c.read_response()
        expect_error(server, r, 400, "malformed request %r" % data[:40])
        assert r.json()["error"]["code"] == "bad_request"
        c.expect_closed(timeout=3)
    assert_healthy(server, "after %r" % data[:40])


@pytest.mark.parametrize("data", [
    pytest.param(b"GET /healthz HTTP/9.9\r\nHost: x\r\n\r\n", id="http-9.9"),
    pytest.param(b"GET /healthz HTTP/2.0\r\nHost: x\r\n\r\n", id="http-2.0"),
])
def test_other_http_versions_are_505_and_closed(server, data):
    with RawHttp(server) as c:
        c.send(data)
        r = c.read_response()
        expect_error(server, r, 505, "version %r" % data[:30])
        assert r.json()["error"]["code"] == "http_version_not_supported"
        c.expect_closed(timeout=3)
    assert_healthy(server, "after %r" % data[:30])


# --------------------------------------------------------------------------
# Time limits and the connection limit
# --------------------------------------------------------------------------

def test_408_for_a_trickling_request(http_broker):
    b = http_broker("http_request_timeout 1")
    with RawHttp(b) as c:
        start = time.monotonic()
        c.send(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        # One byte every 0.3 s: the clock must run from the first byte.
        answered = False
        for _ in range(20):  # at most ~6 s
            readable, _, _ = select.select([c.sock], [], [], 0.3)
            if readable:
                answered = True
                break
            if not c.try_send(b"a"):
                break
        assert answered, "no answer within %.1fs" % (time.monotonic() - start)
        r = c.read_response(timeout=2)
        elapsed = time.monotonic() - start
        expect_error(b, r, 408, "trickled request")
        assert 0.8 <= elapsed <= 2.5, "408 after %.2fs with http_request_timeout 1" % elapsed
        c.expect_closed(timeout=2)
    assert_healthy(b, "after a 408")


def test_408_for_a_partial_body(http_broker):
    b = http_broker("http_request_timeout 1")
    with RawHttp(b) as c:
        start = time.monotonic()
        c.send(build_request("POST", "/api/users", None,
                             [("Content-Type", "application/json"), ("Content-Length", "50")])
               + b'{"name"')
        r = c.read_response(timeout=4)
        elapsed = time.monotonic() - start
        expect_error(b, r, 408, "partial body")
        assert 0.8 <= elapsed <= 2.5, elapsed
        c.expect_closed(timeout=2)
    assert_healthy(b, "after a 408")


def test_idle_keep_alive_connection_closed(http_broker):
    b = http_broker("http_idle_timeout 1")
    with RawHttp(b) as c:
        r = c.request("GET", "/healthz")
        assert r.status_code == 200
        elapsed = c.expect_closed(timeout=4)
        assert 0.7 <= elapsed <= 3, "closed after %.2fs with http_idle_timeout 1" % elapsed
    with RawHttp(b) as c:  # a connection that never says anything
        elapsed = c.expect_closed(timeout=4)
        assert elapsed <= 3, elapsed
    assert_healthy(b, "after idle closes")


def healthz_on(c):
    r = c.request("GET", "/healthz")
    assert r.status_code == 200, r


def connection_counters(poller, protocol):
    """(accepted, refused) of the connection layer for protocol, from
    /metrics asked over the keep-alive connection poller."""
    r = poller.request("GET", "/metrics")
    assert r.status_code == 200, r
    got = []
    for kind in ("accepted", "refused"):
        m = re.search(r'^agora_connections_%s_total\{protocol="%s"\} (\d+)$' % (kind, protocol),
                      r.text, re.M)
        assert m, "no agora_connections_%s_total for %s in /metrics" % (kind, protocol)
        got.append(int(m.group(1)))
    return tuple(got)


def test_metrics_count_accepted_and_refused_connections(http_broker):
    b = http_broker("http_max_connections 2")
    spec_for(b)  # fetched (and cached) while a connection is free
    with RawHttp(b) as poller:
        wait_connections(poller, 1, 5)  # the spec's connection seen closed
        accepted, refused = connection_counters(poller, "http")
        with RawHttp(b) as second:
            healthz_on(second)
            with RawHttp(b) as third:
                expect_error(b, third.read_response(), 503, "third connection")
            assert connection_counters(poller, "http") == (accepted + 1, refused + 1)
        mqtt_accepted, mqtt_refused = connection_counters(poller, "mqtt")
        c = mqttraw.RawClient(b.port)
        try:
            c.send(mqttraw.connect("counted-" + str(random.randrange(1 << 30))))
            assert c.recv_packet(5.0).type == mqttraw.CONNACK
        finally:
            c.close()
        assert connection_counters(poller, "mqtt") == (mqtt_accepted + 1, mqtt_refused)


def test_503_beyond_max_connections(http_broker):
    b = http_broker("http_max_connections 2")
    spec_for(b)  # fetched (and cached) while a connection is free
    c1 = RawHttp(b)
    c2 = None
    try:
        # The server counts a connection until it has seen it close: wait
        # until the earlier ones (the spec's, the start-up probe) are gone.
        wait_connections(c1, 1, 5)
        c2 = RawHttp(b)
        healthz_on(c1)
        healthz_on(c2)
        with RawHttp(b) as c3:
            r = c3.read_response()
            expect_error(b, r, 503, "third connection")
            c3.expect_closed(timeout=3)
        # The two first are still served.
        healthz_on(c1)
        healthz_on(c2)
        c1.close()
        # Once the server has seen the close, a slot is free again.
        deadline = time.monotonic() + 5
        for _ in range(200):
            with RawHttp(b) as c4:
                c4.try_send(build_request("GET", "/healthz"))
                r = c4.read_response()
            if r.status_code == 200:
                break
            expect_error(b, r, 503, "while the slot frees")
            assert time.monotonic() < deadline, "no free slot 5 s after a close"
            time.sleep(0.02)  # polling, bounded by the deadline
        assert r.status_code == 200
    finally:
        c1.close()
        if c2:
            c2.close()


# --------------------------------------------------------------------------
# Robustness
# --------------------------------------------------------------------------

TEMPLATES = [
    ("GET", "/healthz", None),
    ("GET", "/api/users?limit=5&offset=0", None),
    ("GET", "/api/users/alice", None),
    ("POST", "/api/users", b'{"name": "fuzz", "password": "wonderland"}'),
    ("POST", "/api/login", b'{"name": "fuzz", "password": "wonderland"}'),
    ("PATCH", "/api/users/fuzz", b'{"status": "x"}'),
    ("POST", "/api/messages", b'{"to": "fuzz", "content": "hi"}'),
    ("GET", "/api/messages?since=0&unread=true", None),
    ("GET", "/api/integer?n=5&min=-3&max=9", None),
    ("GET", "/api/float?n=2", None),
    ("POST", "/api/seed", b'{"seed_value": 1}'),
    ("DELETE", "/api/messages/1", None),
    ("OPTIONS", "/api/users", None),
    ("HEAD", "/api/openapi.json", None),
]

JUNK_VALUES = ["", "0", "-1", "18446744073709551616", "\u0000", "%00", "%zz", "%", "?&=",
               "a" * 700, "\u00e9", "..", "/", "null", "[]", "{}", "1e309"]


def fuzz_case(rng):
    """One request's bytes: random, truncated, mutated, oversized."""
    method, path, body = rng.choice(TEMPLATES)
    headers = [("Authorization", "Bearer " + rng.choice(["", "x" * 43, "\u00e9", "a b"]))]
    valid = build_request(method, path, body, headers)
    kind = rng.randrange(9)
    if kind == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 400)))
    if kind == 1:
        return valid[:rng.randrange(1, len(valid))]
    if kind == 2:
        data = bytearray(valid)
        for _ in range(rng.randrange(1, 6)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if kind == 3:
        which = rng.randrange(3)
        if which == 0:
            return build_request(method, path + "?x=" + "y" * rng.randrange(400, 3000))
        if which == 1:
            return build_request(method, path, None, [("X-Big", "z" * rng.randrange(1500, 6000))])
        return build_request("POST", "/api/users", b" " * rng.randrange(3000, 9000))
    if kind == 4:
        junk = rng.choice(JUNK_VALUES)
        target = rng.choice(["/api/users/%s", "/api/messages/%s", "/api/integer?n=%s",
                             "/api/users?limit=%s", "/api/messages?since=%s", "/%s"]) % junk
        return build_request(rng.choice(["GET", "POST", "PATCH", "DELETE", "PUT", "HEAD",
                                         "OPTIONS", "TRACE", "CONNECT"]),
                             target.replace(" ", "%20").encode("utf-8").decode("latin-1"))
    if kind == 5:
        size = rng.choice(["0", "ffffffffffffffff", "-5", "zz", "10", "1;ext=1", ""])
        return (build_request("POST", "/api/users", None,
                              [("Content-Type", "application/json"),
                               ("Transfer-Encoding", "chunked")])
                + size.encode() + b"\r\n" + b"{" * rng.randrange(0, 20) + b"\r\n0\r\n\r\n")
    if kind == 6:
        value = rng.choice([
            [[[[[]]]]] * 3, {"name": "\u00e9" * 40, "password": 1}, "\ud800",
            {"to": 2 ** 70, "content": "x"}, {"content": "x" * 5000}, {"seed_value": -2 ** 63},
            {"status": None}, {"read": 1}, 1e308, "",
        ])
        raw = json.dumps(value).encode("utf-8", "surrogatepass")
        return build_request(rng.choice(["POST", "PATCH"]),
                             rng.choice(["/api/users", "/api/login", "/api/messages",
                                         "/api/users/fuzz", "/api/seed", "/api/messages/1"]),
                             raw, headers)
    if kind == 7:
        cl = rng.choice(["abc", "99999999999999999999", "5", "0", " 3", "3 3"])
        return (("POST /api/users HTTP/1.1\r\nContent-Type: application/json\r\n"
                 "Content-Length: %s\r\n\r\n" % cl).encode() + b'{"a":1}')
    # several valid requests, then junk
    return valid * rng.randrange(2, 5) + bytes(rng.randrange(256) for _ in range(20))


def parse_answers(data):
    """Whole answers in data: (status, headers, body). Checks framing."""
    out = []
    buf = bytes(data)
    for _ in range(100):
        if b"\r\n\r\n" not in buf:
            break
        head, _, rest = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        assert lines[0].startswith("HTTP/1.1 ") and lines[0][9:12].isdigit(), lines[0]
        status = int(lines[0][9:12])
        headers = {}
        for line in lines[1:]:
            k, sep, v = line.partition(":")
            assert sep, "bad header line %r" % line
            headers[k.strip().lower()] = v.strip()
        length = int(headers.get("content-length", "0"))
        if status == 100:
            length = 0
        body, buf = rest[:length], rest[length:]
        complete = len(body) == length
        out.append((status, headers, body, complete))
        if not complete:
            break
    return out


def test_fuzzish_requests_do_not_hurt_the_server(http_broker):
    b = http_broker("http_request_timeout 2", "http_max_uri 1024", "http_max_header_size 4096",
                    "http_max_body 4096")
    rng = random.Random(20261123)
    statuses = {}
    deadline = time.monotonic() + 60
    for i in range(200):
        assert time.monotonic() < deadline, "fuzz loop over 60 s at case %d" % i
        data = fuzz_case(rng)
        head = data.startswith(b"HEAD ")
        with RawHttp(b) as c:
            c.try_send(data)
            try:
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
            received = bytearray()
            case_deadline = time.monotonic() + 3
            while time.monotonic() < case_deadline:
                c.sock.settimeout(max(0.01, case_deadline - time.monotonic()))
                try:
                    chunk = c.sock.recv(65536)
                except socket.timeout:
                    break
                except (ConnectionResetError, ConnectionAbortedError):
                    break
                if not chunk:
                    break
                received += chunk
            else:
                raise AssertionError("case %d: connection neither answered nor closed in 3 s: %r"
                                     % (i, data[:80]))
        if head:
            continue  # HEAD answers carry a length but no body: framing differs
        for status, headers, body, complete in parse_answers(received):
            statuses[status] = statuses.get(status, 0) + 1
            assert status != 500, "case %d %r: 500 %r" % (i, data[:80], body)
            if complete and status >= 400:
                err = json.loads(body.decode("utf-8"))["error"]
                assert isinstance(err["code"], str) and isinstance(err["message"], str), body
        if i % 50 == 49:
            assert_healthy(b, "after fuzz case %d (%r)" % (i, data[:60]))
    assert len(statuses) >= 3, statuses
    assert_healthy(b, "after the fuzz loop")
    mqttraw.assert_broker_serves(b.port)
    assert b.alive()


def test_access_log_line_per_request(server):
    # One line per request: peer, method, target, status, bytes, microseconds.
    r = requests.get(server.http_url + "/api/users/nobody-here?probe=1", timeout=10)
    assert r.status_code == 404
    line = server.wait_log(r"http 127\.0\.0\.1 GET /api/users/nobody-here\?probe=1 404 "
                           r"(\d+) (\d+)us", 5)
    size = int(re.search(r" 404 (\d+) ", line).group(1))
    assert size == len(r.content), line


def test_stop_with_a_request_half_received(http_broker):
    # SIGTERM while a request is half in: the server still exits 0 within
    # its grace, and frees that connection (LeakSanitizer would fail the
    # exit status otherwise).
    b = http_broker()
    with RawHttp(b) as c:
        c.send(b"POST /api/users HTTP/1.1\r\nContent-Type: application/json\r\n"
               b"Content-Length: 100\r\n\r\n{\"na")
        assert_healthy(b, "with a request half in")  # a later request is served
        assert b.stop() == 0
