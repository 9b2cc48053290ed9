"""Password work (argon2id) runs on libuv's thread pool, not on the event
loop: while an account registers or logs in, other HTTP and MQTT clients are
served, and a connection's own later input waits its turn (docs/api.md,
src/server/http_server.c, src/server/bridge.c)."""

import json
import select
import socket
import time

import requests

import mqttraw
from mqttraw import CONNACK, SUBACK, RawClient, connect, subscribe
from conftest import require_agora

# A deliberately slow hash (128 MiB, 3 passes: hundreds of milliseconds)
# so that "served meanwhile" is unambiguous.
SLOW_HASH = ("password_hash_memory 131072", "password_hash_passes 3")


def raw_http(port, method, path, body):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    data = json.dumps(body).encode()
    s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
               "Content-Length: %d\r\n\r\n" % (method, path, len(data))).encode() + data)
    return s


def read_status(s, timeout=20):
    s.settimeout(timeout)
    buf = b""
    while b"\r\n" not in buf:
        chunk = s.recv(4096)
        assert chunk, "connection closed before an answer"
        buf += chunk
    return int(buf.split(b" ", 2)[1])


def test_http_served_while_a_password_is_hashed(broker_factory):
    require_agora("password hashing off the event loop")
    b = broker_factory(*SLOW_HASH)
    port = int(b.http_url.rsplit(":", 1)[1])
    reg = raw_http(port, "POST", "/api/users", {"name": "slow", "password": "password1"})
    # Other requests are answered while the hash runs...
    answered = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = requests.get(b.http_url + "/healthz", timeout=10)
        assert r.status_code == 200
        answered += 1
        ready, _, _ = select.select([reg], [], [], 0)
        if ready:
            break
    # ... several of them before the registration's answer came.
    assert answered >= 3, "only %d requests answered during the hash" % answered
    assert read_status(reg) == 201
    reg.close()


def test_mqtt_served_while_a_login_is_checked(broker_factory):
    require_agora("password hashing off the event loop")
    b = broker_factory(*SLOW_HASH)
    r = requests.post(b.http_url + "/api/users", json={"name": "dev", "password": "password1"},
                      timeout=30)
    assert r.status_code == 201, r.text
    slow = RawClient(b.port)
    # CONNECT and a SUBSCRIBE in one write: the SUBSCRIBE waits for the
    # login, then is answered in order.
    slow.send(connect("dev-1", username="dev", password=b"password1") +
              subscribe(1, [("agora/users/dev/inbox", 1)]))
    pings = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with mqttraw.connected(b.port, "other-%d" % pings) as other:
            other.sync()
        pings += 1
        ready, _, _ = select.select([slow.sock], [], [], 0)
        if ready:
            break
    assert pings >= 3, "only %d other clients served during the login" % pings
    assert slow.expect(CONNACK).rc == 0
    assert slow.expect(SUBACK).codes == [1]
    slow.close()


def test_client_leaving_during_its_login(broker_factory):
    # The check finishes after the client is gone: nothing is answered,
    # nothing leaks (the fixture checks the sanitizers), others go on.
    require_agora("password hashing off the event loop")
    b = broker_factory(*SLOW_HASH)
    r = requests.post(b.http_url + "/api/users", json={"name": "dev", "password": "password1"},
                      timeout=30)
    assert r.status_code == 201
    for i in range(3):
        c = RawClient(b.port)
        c.send(connect("gone-%d" % i, username="dev", password=b"password1"))
        c.abort()
    s = raw_http(int(b.http_url.rsplit(":", 1)[1]), "POST", "/api/login",
                 {"name": "dev", "password": "password1"})
    s.close()  # an HTTP login abandoned the same way
    b.wait_log(r"MQTT login as 'dev'", 20)
    mqttraw.assert_broker_serves(b.port)
    assert requests.get(b.http_url + "/healthz", timeout=10).status_code == 200


def read_responses(s, n, timeout=20):
    """The first n (status, body) answers on s, parsed with Content-Length."""
    s.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        head_end = buf.find(b"\r\n\r\n")
        if head_end >= 0:
            head = buf[:head_end].decode("latin-1")
            length = int([l.split(":", 1)[1] for l in head.split("\r\n")
                          if l.lower().startswith("content-length:")][0])
            if len(buf) >= head_end + 4 + length:
                out.append((int(head.split(" ", 2)[1]),
                            buf[head_end + 4:head_end + 4 + length]))
                buf = buf[head_end + 4 + length:]
                continue
        chunk = s.recv(65536)
        assert chunk, "closed after %d answers" % len(out)
        buf += chunk
    return out, buf


def test_pipelined_requests_wait_for_a_login(broker_factory):
    # GET, login, then (while the login's hash runs) another GET on the same
    # connection: three answers, in order, the login answered once.
    require_agora("password hashing off the event loop")
    b = broker_factory(*SLOW_HASH)
    r = requests.post(b.http_url + "/api/users", json={"name": "pipe", "password": "password1"},
                      timeout=30)
    assert r.status_code == 201
    body = json.dumps({"name": "pipe", "password": "password1"}).encode()
    get = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    login = (b"POST /api/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
             b"Content-Length: %d\r\n\r\n" % len(body)) + body
    s = socket.create_connection(("127.0.0.1", int(b.http_url.rsplit(":", 1)[1])), timeout=20)
    s.sendall(get + login)
    first, rest = read_responses(s, 1)
    assert first[0][0] == 200
    s.sendall(get)  # arrives while the login is still being checked
    more, rest = read_responses_with(s, rest, 2)
    assert more[0][0] == 200 and "token" in json.loads(more[0][1])
    assert more[1][0] == 200 and json.loads(more[1][1]) == {"status": "ok"}
    s.settimeout(0.5)
    try:
        extra = s.recv(4096)
    except socket.timeout:
        extra = b""
    assert rest == b"" and extra == b"", "unexpected extra bytes %r" % (rest + extra)
    s.close()


def read_responses_with(s, buf, n):
    """read_responses, starting with bytes already received."""
    class Prefixed:
        def __init__(self, sock, data):
            self.sock, self.data = sock, data

        def settimeout(self, t):
            self.sock.settimeout(t)

        def recv(self, k):
            if self.data:
                d, self.data = self.data, b""
                return d
            return self.sock.recv(k)
    return read_responses(Prefixed(s, buf), n)
