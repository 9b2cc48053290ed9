"""HTTPS and secure WebSocket (issue 15): http_listener and
websocket_listener with tls=yes, certificates from `agora tls init`, and
clients we did not write: curl --cacert, Python requests (verify=CA) and
ssl, paho-mqtt over secure WebSocket. The REST API over HTTPS (accounts, a
message, the docs page, the OpenAPI document), refusals (a server
certificate from a CA the client does not trust, plain HTTP to the HTTPS
port), keep-alive, pipelining and a large answer over TLS, ALPN, MQTT over
wss:// on both listeners with plain-TCP MQTT clients, an API message to a
wss:// subscriber, and SIGHUP's certificate reload on the HTTPS and
WebSocket listeners."""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess

import paho.mqtt.client as mqtt
import pytest
import requests

from conftest import AGORA_BIN, PahoClient, free_port, require_agora, sanitizer_env, \
    paho_factory
import apiclient
import openapi_check
from tlscerts import two_cas

TIMEOUT = 20.0
CURL = shutil.which("curl") or "/usr/bin/curl"


@pytest.fixture(autouse=True)
def _agora_only():
    require_agora("HTTPS listeners")




@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Our CA and server certificate, and another CA's."""
    require_agora("HTTPS listeners")
    return two_cas(tmp_path_factory, "https")


def tls_opts(d):
    return "tls=yes certfile=%s keyfile=%s" % (d / "server.crt", d / "server.key")


def start_https(broker_factory, d, ws_port=None, cli=False, extra=()):
    """A broker whose HTTP listener is HTTPS (as a config line, or as the
    command-line override with cli), and, with ws_port, a TLS
    websocket_listener; (broker, https port)."""
    port = free_port()
    value = "127.0.0.1:%d %s" % (port, tls_opts(d))
    lines = list(extra)
    args = ()
    if cli:
        lines.append("http_listener 127.0.0.1:%d" % free_port())  # replaced
        args = ("--http_listener", value)
    else:
        lines.append("http_listener " + value)
    if ws_port:
        lines.append("websocket_listener 127.0.0.1:%d %s" % (ws_port, tls_opts(d)))
    b = broker_factory(*lines, args=args)
    b.wait_log(r"HTTP API on https://127\.0\.0\.1:%d/api" % port, TIMEOUT)
    if ws_port:
        b.wait_log(r"MQTT over WebSocket on wss://127\.0\.0\.1:%d/mqtt" % ws_port, TIMEOUT)
    return b, port


@pytest.fixture
def https(broker_factory, certs):
    return start_https(broker_factory, certs[0])


def url(port, path, host="localhost"):
    return "https://%s:%d%s" % (host, port, path)


def curl(*args):
    return subprocess.run([CURL, "-sS", "--max-time", "10"] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=TIMEOUT)


class HttpsApi(apiclient.Api):
    """apiclient.Api (every answer checked against the served OpenAPI
    document) over HTTPS, trusting cafile only."""

    def __init__(self, broker, port, cafile):
        self.broker = broker
        self.base = url(port, "")
        self.session = requests.Session()
        self.session.trust_env = False  # REQUESTS_CA_BUNDLE would replace verify
        self.session.verify = str(cafile)
        r = self.session.get(self.base + "/api/openapi.json", timeout=apiclient.HTTP_TIMEOUT)
        assert r.status_code == 200
        self.spec = r.json()


class TlsHttp(apiclient.RawHttp):
    """apiclient.RawHttp on a TLS connection (Python's ssl)."""

    def __init__(self, port, cafile, timeout=5.0, alpn=None):
        ctx = ssl.create_default_context(cafile=str(cafile))
        if alpn:
            ctx.set_alpn_protocols(alpn)
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.buf = bytearray()
        self.eof = False


# --------------------------------------------------------------------------
# The REST API over HTTPS
# --------------------------------------------------------------------------

def test_curl_register_login_message_docs_openapi(broker_factory, certs):
    ours, _ = certs
    # Given as the command-line override of the file's plain listener.
    b, port = start_https(broker_factory, ours, cli=True)
    ca = ours / "ca.crt"
    r = curl("--cacert", ca, "-w", "\n%{http_code} %{scheme} %{http_version}",
             "-H", "Content-Type: application/json",
             "-d", json.dumps({"name": "alice", "password": "wonderland"}),
             url(port, "/api/users"))
    assert r.returncode == 0, r.stderr
    body, status = r.stdout.rsplit("\n", 1)
    assert status == "201 HTTPS 1.1", status
    assert json.loads(body)["name"] == "alice"
    curl("--cacert", ca, "-H", "Content-Type: application/json",
         "-d", json.dumps({"name": "bob", "password": "wonderland"}), url(port, "/api/users"))
    r = curl("--cacert", ca, "-H", "Content-Type: application/json",
             "-d", json.dumps({"name": "alice", "password": "wonderland"}),
             url(port, "/api/login"))
    assert r.returncode == 0, r.stderr
    token = json.loads(r.stdout)["token"]
    r = curl("--cacert", ca, "-H", "Content-Type: application/json",
             "-H", "Authorization: Bearer " + token, "-d", '{"content":"over https"}',
             "-w", "\n%{http_code}", url(port, "/api/users/bob/messages"))
    assert r.returncode == 0 and r.stdout.endswith("\n201"), r.stdout + r.stderr
    assert json.loads(r.stdout.rsplit("\n", 1)[0])["content"] == "over https"
    # The docs page and the OpenAPI document (127.0.0.1 is in the
    # certificate too).
    r = curl("--cacert", ca, "-w", "\n%{http_code} %{content_type}",
             url(port, "/api/doc", host="127.0.0.1"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.rsplit("\n", 1)[1].startswith("200 text/html"), r.stdout[-200:]
    r = curl("--cacert", ca, url(port, "/api/openapi.json"))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["openapi"].startswith("3.")
    assert b.find_log(r"http 127\.0\.0\.1 POST /api/users/bob/messages 201 ")


def test_requests_accounts_and_a_message(https, certs):
    b, port = https
    api = HttpsApi(b, port, certs[0] / "ca.crt")
    try:
        alice = api.register("alice")
        bob = api.register("bob")
        assert api.login("bob")["token"]
        m = api.send(alice, "bob", "hello over TLS \u00e9")
        assert [x["content"] for x in api.inbox(bob)["messages"]] == ["hello over TLS \u00e9"]
        assert api.sent(alice)["messages"] == [m]
        assert api.get("/api/doc", expect=200).headers["Content-Type"].startswith("text/html")
    finally:
        api.close()


def test_untrusted_server_certificate_refused(https, certs):
    b, port = https
    _, other = certs
    r = curl("--cacert", other / "ca.crt", url(port, "/api/openapi.json"))
    assert r.returncode == 60, (r.returncode, r.stderr)  # peer certificate not verified
    r = curl(url(port, "/api/openapi.json"))  # the system's CAs: ours is not one
    assert r.returncode == 60, (r.returncode, r.stderr)
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url(port, "/api/openapi.json"), verify=str(other / "ca.crt"), timeout=10)
    # The server goes on serving those who trust it.
    assert requests.get(url(port, "/api/openapi.json"), verify=str(certs[0] / "ca.crt"),
                        timeout=10).status_code == 200


def test_plain_http_to_the_https_port_is_closed_and_logged(https):
    b, port = https
    mark = b.log_mark()
    with apiclient.RawHttp(port) as c:
        c.send(apiclient.build_request("GET", "/api/openapi.json"))
        c.expect_closed()  # no HTTP answer at all: bytes would fail it
    b.wait_log(r"TLS: handshake from 127\.0\.0\.1:\d+: plain HTTP: closed", TIMEOUT, since=mark)


# --------------------------------------------------------------------------
# HTTP/1.1 over TLS
# --------------------------------------------------------------------------

def test_keepalive_and_pipelined_requests_over_tls(https, certs):
    b, port = https
    ca = certs[0] / "ca.crt"
    with TlsHttp(port, ca) as c:
        # Three requests in one write; three answers, in order.
        c.send(apiclient.build_request("GET", "/api/openapi.json")
               + apiclient.build_request("GET", "/api/doc")
               + apiclient.build_request("GET", "/api/nowhere"))
        first, second, third = (c.read_response(), c.read_response(), c.read_response())
        assert (first.status_code, second.status_code, third.status_code) == (200, 200, 404)
        assert json.loads(first.content)["openapi"].startswith("3.")
        assert b"<html" in second.content.lower()
        # The same connection serves the next request.
        r = c.request("POST", "/api/users", body=json.dumps({"name": "carol",
                                                             "password": "wonderland"}))
        assert r.status_code == 201, r
        assert r.headers.get("Connection") != "close"
        assert c.request("GET", "/api/users/carol").json()["name"] == "carol"
    b.wait_log(r"http 127\.0\.0\.1 GET /api/users/carol 200 ", TIMEOUT)


def test_large_answers_pipelined_over_tls(https, certs):
    # 40 copies of the OpenAPI document (about 2.3 MB) asked for in one
    # write: more than the socket takes at once, so the encrypted answers
    # queue, the HTTP output is paused (1 MiB unsent) and resumed as the
    # client reads. Every byte arrives, in order.
    b, port = https
    with TlsHttp(port, certs[0] / "ca.crt", timeout=TIMEOUT) as c:
        one = c.request("GET", "/api/openapi.json")
        assert one.status_code == 200 and len(one.content) > 50000
        c.send(apiclient.build_request("GET", "/api/openapi.json") * 40)
        for i in range(40):
            r = c.read_response(timeout=TIMEOUT)
            assert r.status_code == 200, (i, r)
            assert r.content == one.content, "answer %d differs" % i


def test_alpn_offers_http11(https, certs):
    b, port = https
    with TlsHttp(port, certs[0] / "ca.crt", alpn=["h2", "http/1.1"]) as c:
        assert c.sock.selected_alpn_protocol() == "http/1.1"
        assert c.request("GET", "/api/openapi.json").status_code == 200
    with TlsHttp(port, certs[0] / "ca.crt") as c:  # no ALPN: served
        assert c.sock.selected_alpn_protocol() is None
        assert c.request("GET", "/api/doc").status_code == 200
    # Only another protocol: RFC 7301's no_application_protocol alert.
    with pytest.raises(ssl.SSLError, match="no application protocol"):
        TlsHttp(port, certs[0] / "ca.crt", alpn=["mqtt"])


# --------------------------------------------------------------------------
# MQTT over secure WebSocket
# --------------------------------------------------------------------------

class WssPahoClient(PahoClient):
    """PahoClient on paho's websockets transport with TLS, path /mqtt."""

    def __init__(self, port, cafile, client_id="", **kw):
        super().__init__(port, client_id=client_id, **kw)
        old = self.client
        self.client = mqtt.Client(client_id=client_id, transport="websockets")
        for cb in ("on_connect", "on_message", "on_subscribe", "on_unsubscribe",
                   "on_disconnect"):
            setattr(self.client, cb, getattr(old, cb))
        self.client.ws_set_options(path="/mqtt")
        self.client.tls_set(ca_certs=str(cafile), tls_version=ssl.PROTOCOL_TLS_CLIENT)


@pytest.fixture
def wss(certs):
    """wss(port, client_id, connect=True, cafile=ours, **kw)."""
    yield from paho_factory(lambda port, client_id, cafile=None, **kw: WssPahoClient(
        port, cafile or certs[0] / "ca.crt", client_id=client_id, **kw))


@pytest.mark.parametrize("where", ["https", "websocket_listener"])
def test_mqtt_over_wss_with_a_tcp_client(broker_factory, certs, wss, paho, uniq, where):
    ws_port = free_port()
    b, https_port = start_https(broker_factory, certs[0], ws_port=ws_port)
    port = https_port if where == "https" else ws_port
    w = wss(port, "w" + uniq)
    t = paho(b.port, client_id="t" + uniq)
    assert w.subscribe("wss/%s/in" % uniq, 1) == [1]
    assert t.subscribe("wss/%s/out" % uniq, 1) == [1]
    t.publish("wss/%s/in" % uniq, b"to wss", 1)
    m = w.get()
    assert (m.topic, m.payload, m.qos) == ("wss/%s/in" % uniq, b"to wss", 1)
    big = os.urandom(200000)  # many TLS records, frames with 64-bit lengths
    w.publish("wss/%s/out" % uniq, big, 1)
    m = t.get()
    assert (m.payload, m.qos) == (big, 1)
    t.publish("wss/%s/in" % uniq, big, 0)
    assert w.get().payload == big
    assert b.find_log(r"http 127\.0\.0\.1 GET /mqtt 101 ")


def test_wss_client_trusting_another_ca_is_refused(https, certs, wss, uniq):
    b, port = https
    w = wss(port, "x" + uniq, connect=False, cafile=certs[1] / "ca.crt")
    with pytest.raises(ssl.SSLCertVerificationError):
        w.connect()


def test_api_message_reaches_a_wss_subscriber(https, certs, wss, uniq):
    b, port = https
    api = HttpsApi(b, port, certs[0] / "ca.crt")
    try:
        alice = api.register("alice")
        bob = api.register("bob")
        w = wss(port, "bob" + uniq, connect=False)
        w.client.username_pw_set(bob.name, bob.password)
        w.connect()
        assert w.subscribe("agora/users/bob/inbox", 1) == [1]
        m = api.send(alice, "bob", "through https, out over wss")
        p = w.get()
        assert p.topic == "agora/users/bob/inbox" and p.qos == 1
        payload = json.loads(p.payload.decode("utf-8"))
        openapi_check.validate_json(api.spec, "/components/schemas/Message", payload,
                                    what="inbox payload")
        assert payload == m
    finally:
        api.close()


def test_web_client_served_over_https_uses_wss(https, certs, tmp_path):
    # The web client's live.js, as served over HTTPS, run by node with the
    # page's location: its broker URL is wss:// on the same host and port
    # (ws:// for a page loaded over http://).
    node = shutil.which("node")
    if not node:
        pytest.skip("node is not installed")
    b, port = https
    r = requests.get(url(port, "/app/live.js"), verify=str(certs[0] / "ca.crt"), timeout=10)
    assert r.status_code == 200 and "brokerUrl" in r.text
    (tmp_path / "live.mjs").write_text(r.text)
    script = ("const m = await import(%r);"
              "for (const page of process.argv.slice(1)) {"
              " globalThis.location = new URL(page); console.log(m.brokerUrl()); }"
              % (tmp_path / "live.mjs").as_uri())
    out = subprocess.run([node, "--input-type=module", "-e", script,
                          url(port, "/"), "http://127.0.0.1:8080/"],
                         capture_output=True, text=True, timeout=TIMEOUT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["wss://localhost:%d/mqtt" % port,
                                  "ws://127.0.0.1:8080/mqtt"]


# --------------------------------------------------------------------------
# SIGHUP
# --------------------------------------------------------------------------

def served_with(port, cafile):
    """Whether a new HTTPS connection trusting only cafile gets an answer."""
    try:
        with TlsHttp(port, cafile) as c:
            return c.request("GET", "/api/doc").status_code == 200
    except ssl.SSLError:
        return False


def test_sighup_reloads_https_and_wss_certificates(broker_factory, certs, tmp_path, wss, uniq):
    ours, other = certs
    live = tmp_path / "live"
    live.mkdir()
    for f in ("server.crt", "server.key"):
        shutil.copy(ours / f, live / f)
    ws_port = free_port()
    b, port = start_https(broker_factory, live, ws_port=ws_port)
    w = wss(ws_port, "keep" + uniq)
    with TlsHttp(port, ours / "ca.crt") as kept:
        assert kept.request("GET", "/api/doc").status_code == 200
        for f in ("server.crt", "server.key"):
            shutil.copy(other / f, live / f)
        mark = b.log_mark()
        b.send_signal(signal.SIGHUP)
        for p in (port, ws_port):
            b.wait_log(r"SIGHUP: 127\.0\.0\.1:%d: certificates reloaded" % p, TIMEOUT,
                       since=mark)
        # New connections get the new certificate, on both listeners.
        assert served_with(port, other / "ca.crt")
        assert not served_with(port, ours / "ca.crt")
        w2 = wss(ws_port, "new" + uniq, cafile=other / "ca.crt")
        with pytest.raises(ssl.SSLCertVerificationError):
            wss(ws_port, "old" + uniq, cafile=ours / "ca.crt")
        # The keep-alive connection made before goes on with the old one.
        r = kept.request("GET", "/api/openapi.json")
        assert r.status_code == 200 and json.loads(r.content)["openapi"]
        # So does the wss client.
        assert w.subscribe("wss/%s/hup" % uniq, 1) == [1]
        w2.publish("wss/%s/hup" % uniq, b"after the reload", 1)
        assert w.get().payload == b"after the reload"


# --------------------------------------------------------------------------
# Configuration refused at start
# --------------------------------------------------------------------------

@pytest.mark.parametrize("key", ["http_listener", "websocket_listener"])
def test_anonymous_option_refused_on_http_listeners(tmp_path, key):
    r = subprocess.run([AGORA_BIN, "serve", "--data-dir", str(tmp_path / "d"),
                        "--listener", "127.0.0.1:%d" % free_port(),
                        "--" + key, "127.0.0.1:%d anonymous=no" % free_port()],
                       capture_output=True, text=True, timeout=TIMEOUT, env=sanitizer_env())
    assert r.returncode != 0
    assert "anonymous= is for MQTT listeners" in r.stderr, r.stderr


def test_unloadable_https_certificate_stops_the_start(tmp_path, certs):
    ours, other = certs
    r = subprocess.run([AGORA_BIN, "serve", "--data-dir", str(tmp_path / "d"),
                        "--listener", "127.0.0.1:%d" % free_port(),
                        "--http_listener", "127.0.0.1:%d tls=yes certfile=%s keyfile=%s"
                        % (free_port(), ours / "server.crt", other / "server.key")],
                       capture_output=True, text=True, timeout=TIMEOUT, env=sanitizer_env())
    assert r.returncode == 2, r.stderr
    assert "(HTTP)" in r.stderr and "server.key" in r.stderr, r.stderr
