"""MQTT over TLS on `agora serve` (issue 15): a listener with tls=yes,
certificates from `agora tls init`, and clients we did not write:
mosquitto_pub/mosquitto_sub with --cafile (and --cert/--key), paho-mqtt
with tls_set, Python's ssl module. Refusals: a client trusting another CA,
a required client certificate missing or from another CA, plain MQTT sent
to the TLS port, a handshake that never ends, a certificate that cannot be
loaded at start."""

import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time

import paho.mqtt.client as paho
import pytest

from conftest import AGORA_BIN, free_port, require_agora, sanitizer_env
import mqttraw
from tlscerts import two_cas

TIMEOUT = 20.0
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"




@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """Our CA with a server and a client certificate, and another CA."""
    return two_cas(tmp_path_factory, "tls", ("--client", "alice"), ("--client", "mallory"))


def tls_line(port, d, *extra):
    return "listener 127.0.0.1:%d tls=yes certfile=%s keyfile=%s %s" % (
        port, d / "server.crt", d / "server.key", " ".join(extra))


@pytest.fixture
def tls_broker(broker_factory, certs):
    """A broker with a plain listener and a TLS one; (broker, tls port)."""
    ours, _ = certs
    port = free_port()
    b = broker_factory(tls_line(port, ours), "connect_timeout 2")
    b.wait_log(r"listening on 127\.0\.0\.1:%d \(TLS\)" % port, TIMEOUT)
    return b, port


def mosquitto(tool, port, *args):
    return subprocess.run([tool, "-h", "127.0.0.1", "-p", str(port)] + [str(a) for a in args],
                          capture_output=True, text=True, timeout=TIMEOUT)


def retained_roundtrip(port, cafile, topic, extra=()):
    """mosquitto_pub a retained message over TLS, mosquitto_sub it back."""
    pub = mosquitto(MOSQUITTO_PUB, port, "--cafile", cafile, *extra, "-t", topic, "-m",
                    "hello over tls", "-r", "-q", "1")
    if pub.returncode:
        return pub, None
    sub = mosquitto(MOSQUITTO_SUB, port, "--cafile", cafile, *extra, "-t", topic, "-C", "1",
                    "-W", "10")
    return pub, sub


def test_mosquitto_clients_over_tls(tls_broker, certs):
    b, port = tls_broker
    ours, _ = certs
    pub, sub = retained_roundtrip(port, ours / "ca.crt", "tls/mosq")
    assert pub.returncode == 0, pub.stderr
    assert sub.returncode == 0 and sub.stdout.strip() == "hello over tls", sub.stderr
    # The same message on the plain listener: one broker, two transports.
    plain = mosquitto(MOSQUITTO_SUB, b.port, "-t", "tls/mosq", "-C", "1", "-W", "10")
    assert plain.stdout.strip() == "hello over tls"


def test_paho_tls_set_publish_subscribe(tls_broker, certs):
    b, port = tls_broker
    ours, _ = certs
    got = threading.Event()
    seen = []

    def on_message(c, u, m):
        seen.append(m.payload)
        got.set()

    sub_done = threading.Event()
    c = paho.Client(client_id="paho-tls")  # Debian 12: paho-mqtt 1.6
    c.tls_set(ca_certs=str(ours / "ca.crt"), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    c.on_message = on_message
    c.on_subscribe = lambda *a: sub_done.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        c.subscribe("tls/paho", qos=1)
        assert sub_done.wait(TIMEOUT)
        c.publish("tls/paho", b"x" * 100000, qos=1).wait_for_publish(TIMEOUT)
        assert got.wait(TIMEOUT)
        assert seen == [b"x" * 100000]
    finally:
        c.loop_stop()
        c.disconnect()


def test_client_trusting_another_ca_refuses(tls_broker, certs):
    b, port = tls_broker
    _, other = certs
    mark = b.log_mark()
    r = mosquitto(MOSQUITTO_PUB, port, "--cafile", other / "ca.crt", "-t", "tls/x", "-m", "no")
    assert r.returncode != 0
    # The broker saw the client give up during the handshake.
    b.wait_log(r"TLS: handshake from 127\.0\.0\.1:\d+: .*closed", TIMEOUT, since=mark)
    # And the message never arrived.
    chk = mosquitto(MOSQUITTO_SUB, b.port, "-t", "tls/x", "-C", "1", "-W", "1")
    assert chk.stdout == ""


def test_plain_mqtt_to_the_tls_port_is_closed(tls_broker):
    b, port = tls_broker
    mark = b.log_mark()
    c = mqttraw.RawClient(port)
    try:
        c.send(mqttraw.connect("plain-on-tls"))
        c.expect_closed(TIMEOUT)
    finally:
        c.close()
    b.wait_log(r"TLS: handshake from 127\.0\.0\.1:\d+: plain MQTT \(a CONNECT\): closed",
               TIMEOUT, since=mark)


def test_handshake_that_never_finishes_is_closed(tls_broker):
    """A ClientHello's first bytes, then nothing: connect_timeout (2 s
    here) ends it, as for a client that never sends CONNECT."""
    b, port = tls_broker
    mark = b.log_mark()
    s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        s.sendall(b"\x16\x03\x01\x00\xc8\x01")  # a record header and 1 byte of a hello
        s.settimeout(TIMEOUT)
        assert s.recv(1024) == b""  # closed by the broker, nothing sent
    finally:
        s.close()
    b.wait_log(r"closed before CONNECT: no CONNECT in time", TIMEOUT, since=mark)


def test_python_ssl_sees_tls13_and_the_names(tls_broker, certs):
    _, port = tls_broker
    ours, _ = certs
    ctx = ssl.create_default_context(cafile=str(ours / "ca.crt"))
    for host in ("localhost", "127.0.0.1"):
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname=host) as s:
                assert s.version() == "TLSv1.3"
                s.sendall(mqttraw.connect("py-ssl-" + host.replace(".", "-")))
                assert s.recv(4) == b"\x20\x02\x00\x00"  # CONNACK accepted


def recv_exact(s, n, deadline):
    """n bytes from the TLS socket s, before the monotonic deadline."""
    out = bytearray()
    while len(out) < n:
        s.settimeout(max(0.05, deadline - time.monotonic()))
        chunk = s.recv(n - len(out))
        assert chunk, "connection closed after %d of %d bytes" % (len(out), n)
        out += chunk
    return bytes(out)


def recv_packet(s, deadline):
    """(first byte, body) of the next MQTT packet on s."""
    first = recv_exact(s, 1, deadline)[0]
    length, shift = 0, 0
    for _ in range(4):
        b = recv_exact(s, 1, deadline)[0]
        length |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            break
    return first, recv_exact(s, length, deadline)


def test_slow_reader_gets_a_large_burst_intact(tls_broker, certs):
    # Output far beyond one write and the socket's buffers, to a subscriber
    # that does not read for a while: the broker encrypts it chunk by chunk,
    # writes what the socket takes and queues the rest behind; every message
    # must come, in order and intact (4 MB, under max_output_buffer).
    _, port = tls_broker
    ours, _ = certs
    ctx = ssl.create_default_context(cafile=str(ours / "ca.crt"))
    count, size = 200, 20000
    deadline = time.monotonic() + TIMEOUT
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as r1, \
            socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as r2:
        sub = ctx.wrap_socket(r1, server_hostname="127.0.0.1")
        pub = ctx.wrap_socket(r2, server_hostname="127.0.0.1")
        sub.sendall(mqttraw.connect("tls-slow-sub"))
        assert recv_packet(sub, deadline) == (0x20, b"\x00\x00")
        sub.sendall(mqttraw.subscribe(1, [("tls/slow", 0)]))
        assert recv_packet(sub, deadline)[0] == 0x90
        pub.sendall(mqttraw.connect("tls-slow-pub"))
        assert recv_packet(pub, deadline) == (0x20, b"\x00\x00")
        for i in range(count):
            pub.sendall(mqttraw.publish("tls/slow", i.to_bytes(4, "big") * (size // 4)))
        # The PINGRESP comes after every PUBLISH was routed: the subscriber's
        # 4 MB were written or queued while it read nothing.
        pub.sendall(mqttraw.pingreq())
        assert recv_packet(pub, deadline)[0] == 0xD0
        for i in range(count):
            first, body = recv_packet(sub, deadline)
            assert first == 0x30, hex(first)
            assert body == mqttraw.mqtt_str("tls/slow") + i.to_bytes(4, "big") * (size // 4), i
        sub.close()
        pub.close()


@pytest.fixture
def mtls_broker(broker_factory, certs):
    """A TLS listener that requires a client certificate from our CA."""
    ours, _ = certs
    port = free_port()
    b = broker_factory(tls_line(port, ours, "cafile=%s" % (ours / "ca.crt"),
                                "require_certificate=yes"))
    b.wait_log(r"listening on 127\.0\.0\.1:%d \(TLS\)" % port, TIMEOUT)
    return b, port


def test_required_client_certificate(mtls_broker, certs):
    b, port = mtls_broker
    ours, other = certs
    ok = ("--cert", ours / "client.crt", "--key", ours / "client.key")
    pub, sub = retained_roundtrip(port, ours / "ca.crt", "tls/mtls", ok)
    assert pub.returncode == 0, pub.stderr
    assert sub.stdout.strip() == "hello over tls", sub.stderr
    # Missing, or from another CA: refused by the broker.
    for extra in ((), ("--cert", other / "client.crt", "--key", other / "client.key")):
        mark = b.log_mark()
        r = mosquitto(MOSQUITTO_PUB, port, "--cafile", ours / "ca.crt", *extra, "-t",
                      "tls/mtls", "-m", "refused", "-r")
        assert r.returncode != 0, extra
        b.wait_log(r"TLS: .* from 127\.0\.0\.1:\d+: .*closed", TIMEOUT, since=mark)
    chk = mosquitto(MOSQUITTO_SUB, b.port, "-t", "tls/mtls", "-C", "1", "-W", "5")
    assert chk.stdout.strip() == "hello over tls"  # not replaced by a refused client


def test_unloadable_certificate_stops_the_start(tmp_path, certs):
    """A key that is not the certificate's: the start fails, naming the
    file, with the status of a listener that cannot be opened (2)."""
    require_agora("TLS listeners")
    ours, other = certs
    conf = tmp_path / "agora.conf"
    conf.write_text("listener 127.0.0.1:%d tls=yes certfile=%s keyfile=%s\n"
                    "http_listener off\ndata_dir %s\n"
                    % (free_port(), ours / "server.crt", other / "server.key", tmp_path / "d"))
    r = subprocess.run([AGORA_BIN, "serve", "-c", str(conf)], capture_output=True, text=True,
                       timeout=TIMEOUT, env=sanitizer_env())
    assert r.returncode == 2, r.stderr
    assert str(ours / "server.crt") in r.stderr or str(other / "server.key") in r.stderr, \
        r.stderr


# --------------------------------------------------------------------------
# agora pub / agora sub over TLS (mosquitto_pub's options)
# --------------------------------------------------------------------------

def agora_cli(*args):
    return subprocess.run([AGORA_BIN] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=TIMEOUT, env=sanitizer_env())


def test_agora_pub_sub_over_tls(tls_broker, certs):
    b, port = tls_broker
    ours, other = certs
    pub = agora_cli("pub", "-h", "127.0.0.1", "-p", port, "--cafile", ours / "ca.crt",
                    "-t", "tls/agora", "-m", "from agora pub", "-r", "-q", "1")
    assert pub.returncode == 0, pub.stderr
    for host in ("127.0.0.1", "localhost"):  # the certificate names both
        sub = agora_cli("sub", "-h", host, "-p", port, "--cafile", ours / "ca.crt",
                        "-t", "tls/agora", "-C", "1", "-W", "10")
        assert sub.returncode == 0 and sub.stdout.strip() == "from agora pub", sub.stderr
    # Another CA: the server is not trusted; the reason is OpenSSL's.
    bad = agora_cli("pub", "-h", "127.0.0.1", "-p", port, "--cafile", other / "ca.crt",
                    "-t", "tls/agora", "-m", "untrusted")
    assert bad.returncode == 2
    assert "TLS" in bad.stderr and "certificate verify failed" in bad.stderr, bad.stderr
    # --insecure: no verification at all (development only).
    ins = agora_cli("pub", "-h", "127.0.0.1", "-p", port, "--insecure", "-t", "tls/agora/i",
                    "-m", "insecure", "-q", "1")
    assert ins.returncode == 0, ins.stderr
    # A file that holds no certificate: refused before connecting (usage).
    junk = agora_cli("pub", "-h", "127.0.0.1", "-p", port, "--cafile", ours / "server.key",
                     "-t", "tls/agora", "-m", "x")
    assert junk.returncode == 1 and "cafile" in junk.stderr, junk.stderr


def test_agora_pub_with_a_client_certificate(mtls_broker, certs):
    b, port = mtls_broker
    ours, _ = certs
    ok = agora_cli("pub", "-h", "127.0.0.1", "-p", port, "--cafile", ours / "ca.crt",
                   "--cert", ours / "client.crt", "--key", ours / "client.key",
                   "-t", "tls/agora/mtls", "-m", "with my certificate", "-r", "-q", "1")
    assert ok.returncode == 0, ok.stderr
    without = agora_cli("pub", "-h", "127.0.0.1", "-p", port, "--cafile", ours / "ca.crt",
                        "-t", "tls/agora/mtls", "-m", "without", "-q", "1")
    assert without.returncode == 2, without.stderr
    chk = mosquitto(MOSQUITTO_SUB, b.port, "-t", "tls/agora/mtls", "-C", "1", "-W", "5")
    assert chk.stdout.strip() == "with my certificate"


# --------------------------------------------------------------------------
# SIGHUP: certificates read again, no connection dropped
# --------------------------------------------------------------------------

def ca_trusted_by_server(port, cafile, name):
    """Whether a new TLS connection trusting cafile gets through (CONNACK)."""
    ctx = ssl.create_default_context(cafile=str(cafile))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(mqttraw.connect(name))
                return s.recv(4) == b"\x20\x02\x00\x00"
    except ssl.SSLError:
        return False


def test_sighup_reloads_certificates_and_keeps_connections(broker_factory, certs, tmp_path):
    ours, other = certs
    live = tmp_path / "live"
    live.mkdir()
    for f in ("server.crt", "server.key"):
        shutil.copy(ours / f, live / f)
    port = free_port()
    b = broker_factory(tls_line(port, live))
    b.wait_log(r"listening on 127\.0\.0\.1:%d \(TLS\)" % port, TIMEOUT)
    # A subscriber that stays connected across the reloads.
    got = threading.Event()
    seen = []
    subscribed = threading.Event()
    c = paho.Client(client_id="reload-keeper")
    c.tls_set(ca_certs=str(ours / "ca.crt"), tls_version=ssl.PROTOCOL_TLS_CLIENT)
    c.on_message = lambda cl, u, m: (seen.append(m.payload), got.set())
    c.on_subscribe = lambda *a: subscribed.set()
    c.connect("127.0.0.1", port)
    c.loop_start()
    try:
        c.subscribe("tls/reload", qos=1)
        assert subscribed.wait(TIMEOUT)
        # The renewed certificate (another CA's) replaces the files: SIGHUP.
        for f in ("server.crt", "server.key"):
            shutil.copy(other / f, live / f)
        mark = b.log_mark()
        b.proc.send_signal(signal.SIGHUP)
        b.wait_log(r"SIGHUP: 127\.0\.0\.1:%d: certificates reloaded" % port, TIMEOUT, since=mark)
        assert ca_trusted_by_server(port, other / "ca.crt", "reload-new")
        assert not ca_trusted_by_server(port, ours / "ca.crt", "reload-old")
        # A key that does not load: refused, the loaded certificate stays.
        (live / "server.key").write_text("not a key\n")
        mark = b.log_mark()
        b.proc.send_signal(signal.SIGHUP)
        b.wait_log(r"SIGHUP: 127\.0\.0\.1:%d: certificates not reloaded, the loaded ones stay: "
                   r".*server\.key" % port, TIMEOUT, since=mark)
        assert ca_trusted_by_server(port, other / "ca.crt", "reload-kept")
        # The connection made before both reloads is still served.
        pub = mosquitto(MOSQUITTO_PUB, b.port, "-t", "tls/reload", "-m", "still here", "-q", "1")
        assert pub.returncode == 0, pub.stderr
        assert got.wait(TIMEOUT) and seen == [b"still here"]
    finally:
        c.loop_stop()
        c.disconnect()
