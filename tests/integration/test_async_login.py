"""Password work (argon2id) runs on libuv's thread pool, not on the event
loop: while an account registers or logs in, other HTTP and MQTT clients are
served, and a connection's own later input waits its turn (docs/api.md,
src/server/http_server.c, src/server/bridge.c)."""

import json
import select
import time

import requests

import mqttraw
from apiclient import RawHttp, build_request
from mqttraw import CONNACK, SUBACK, RawClient, connect, subscribe
from conftest import require_agora

# A deliberately slow hash (128 MiB, 3 passes: hundreds of milliseconds)
# so that "served meanwhile" is unambiguous.
SLOW_HASH = ("password_hash_memory 131072", "password_hash_passes 3")


def send_request(broker, method, path, body):
    """A connection with one request sent, its answer not read yet."""
    c = RawHttp(broker, timeout=20)
    c.send(build_request(method, path, json.dumps(body)))
    return c


def test_http_served_while_a_password_is_hashed(broker_factory):
    require_agora("password hashing off the event loop")
    b = broker_factory(*SLOW_HASH)
    reg = send_request(b, "POST", "/api/users", {"name": "slow", "password": "password1"})
    # Other requests are answered while the hash runs...
    answered = 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        r = requests.get(b.http_url + "/healthz", timeout=10)
        assert r.status_code == 200
        answered += 1
        ready, _, _ = select.select([reg.sock], [], [], 0)
        if ready:
            break
    # ... several of them before the registration's answer came.
    assert answered >= 3, "only %d requests answered during the hash" % answered
    assert reg.read_response(timeout=20).status_code == 201
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
    send_request(b, "POST", "/api/login",
                 {"name": "dev", "password": "password1"}).close()  # abandoned the same way
    b.wait_log(r"MQTT login as 'dev'", 20)
    mqttraw.assert_broker_serves(b.port)
    assert requests.get(b.http_url + "/healthz", timeout=10).status_code == 200


def test_pipelined_requests_wait_for_a_login(broker_factory):
    # GET, login, then (while the login's hash runs) another GET on the same
    # connection: three answers, in order, the login answered once.
    require_agora("password hashing off the event loop")
    b = broker_factory(*SLOW_HASH)
    r = requests.post(b.http_url + "/api/users", json={"name": "pipe", "password": "password1"},
                      timeout=30)
    assert r.status_code == 201
    get = build_request("GET", "/healthz")
    login = build_request("POST", "/api/login",
                          json.dumps({"name": "pipe", "password": "password1"}))
    with RawHttp(b, timeout=20) as c:
        c.send(get + login)
        assert c.read_response(timeout=20).status_code == 200
        c.send(get)  # arrives while the login is still being checked
        r = c.read_response(timeout=20)
        assert r.status_code == 200 and "token" in r.json()
        r = c.read_response(timeout=20)
        assert r.status_code == 200 and r.json() == {"status": "ok"}
        # nothing more: the login was answered once
        assert not c.buf, "unexpected extra bytes %r" % bytes(c.buf)
        ready, _, _ = select.select([c.sock], [], [], 0.5)
        assert not ready, "more bytes after the third answer"
