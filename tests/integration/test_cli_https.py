"""The REST API's commands over https:// (issue 15): `agora register, login,
users, status, send, inbox` with --server https://..., --cafile FILE (or
AGORA_CAFILE), --insecure, and the one error line when the server's
certificate is not trusted; `agora inbox --follow` then follows over MQTT
over TLS with the same CAs, never in clear.

The HTTPS side here is a stand-in: a small TLS-terminating proxy (Python's
ssl, in this file) in front of `agora serve`'s plain HTTP port, with the
server certificate of `agora tls init`. Once agora serves https itself
(http_listener with tls=yes) these tests can point at it directly; the
proxy is the only thing to drop."""

import os
import select
import socket
import ssl
import subprocess
import threading

import pytest

from apiclient import Api
from conftest import AGORA_BIN, free_port, is_agora, require_agora, sanitizer_env
from test_cli_api import Cli, assert_error, uname
from test_cli_follow import Follow, text_line

pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: the HTTP API and its CLI")

TIMEOUT = 20.0
MAX_PROXY_CONNECTIONS = 200  # the proxy's bound: no test makes nearly as many


def tls_init(d, *args):
    require_agora("agora tls init")
    r = subprocess.run([AGORA_BIN, "tls", "init", str(d)] + list(args), capture_output=True,
                       text=True, timeout=TIMEOUT, env=sanitizer_env())
    assert r.returncode == 0, r.stdout + r.stderr
    return d


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    base = tmp_path_factory.mktemp("https")
    return tls_init(base / "ours"), tls_init(base / "other")


class TlsProxy:
    """TLS on 127.0.0.1:port, plain TCP to target_port: accepts at most
    MAX_PROXY_CONNECTIONS connections, each pumped by one thread until
    either side closes or TIMEOUT passes without a byte."""

    def __init__(self, certdir, target_port):
        self.target_port = target_port
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(certdir / "server.crt"), str(certdir / "server.key"))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.handshake_failures = []
        self.accepted = 0
        self.stopping = False
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while not self.stopping and self.accepted < MAX_PROXY_CONNECTIONS:
            try:
                raw, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._serve, args=(raw,), daemon=True).start()

    def _serve(self, raw):
        raw.settimeout(TIMEOUT)
        try:
            tls = self.ctx.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            self.handshake_failures.append(str(e))
            raw.close()
            return
        try:
            plain = socket.create_connection(("127.0.0.1", self.target_port), timeout=TIMEOUT)
        except OSError:
            tls.close()
            return
        try:
            self._pump(tls, plain)
        except (ssl.SSLError, OSError):
            pass
        finally:
            plain.close()
            tls.close()

    @staticmethod
    def _pump(tls, plain):
        while True:
            ready = [tls] if tls.pending() else \
                select.select([tls, plain], [], [], TIMEOUT)[0]
            if not ready:
                return  # idle for TIMEOUT: bounded
            for s in ready:
                data = s.recv(65536)
                if not data:
                    return
                (plain if s is tls else tls).sendall(data)

    def close(self):
        self.stopping = True
        self.sock.close()


@pytest.fixture
def https(broker_factory, pki, tmp_path):
    """agora serve with an MQTT TLS listener, the proxy in front of its
    HTTP API: (broker, proxy, MQTT TLS port, Cli using https)."""
    ours, other = pki
    mqtts, foreign = free_port(), free_port()
    line = "listener 127.0.0.1:%d tls=yes certfile=%s keyfile=%s"
    b = broker_factory(line % (mqtts, ours / "server.crt", ours / "server.key"),
                       line % (foreign, other / "server.crt", other / "server.key"))
    b.wait_log(r"listening on 127\.0\.0\.1:%d \(TLS\)" % mqtts, TIMEOUT)
    b.wait_log(r"listening on 127\.0\.0\.1:%d \(TLS\)" % foreign, TIMEOUT)
    b.foreign_tls_port = foreign  # a TLS listener whose certificate is the other CA's
    proxy = TlsProxy(ours, b.http_port)
    cli = Cli(tmp_path, "https://127.0.0.1:%d" % proxy.port)
    yield b, proxy, mqtts, cli
    proxy.close()


def test_commands_over_https_with_cafile(https, pki):
    b, proxy, _, cli = https
    ours, _ = pki
    ca = ("--cafile", str(ours / "ca.crt"))
    name, other = uname("h"), uname("o")
    cli.register(name, "wonderland", *ca)
    r = cli.run("status", "on the https side", *ca)
    assert r.rc == 0, r
    r = cli.run("users", *ca)
    assert r.rc == 0 and name in r.out, r
    api = Api(b)  # the same data, read over plain HTTP behind the proxy
    try:
        o = api.register(other)
        r = cli.run("send", other, "over https", *ca)
        assert r.rc == 0, r
        assert [m["content"] for m in api.inbox(o)["messages"]] == ["over https"]
        assert api.get("/api/users/%s" % name, expect=200).json()["status"] == \
            "on the https side"
        api.send(o, name, "back to you")
    finally:
        api.close()
    r = cli.run("inbox", *ca)
    assert r.rc == 0 and "back to you" in r.out, r
    # The credentials are kept under the https URL, as given.
    assert cli.account("https://127.0.0.1:%d" % proxy.port)["name"] == name
    # By name too: the certificate of `agora tls init` is for localhost.
    r = cli.run("users", *ca, "--server", "https://localhost:%d" % proxy.port)
    assert r.rc == 0 and name in r.out, r


def test_agora_cafile_environment(https, pki):
    _, _, _, cli = https
    ours, _ = pki
    r = cli.run("users", env={"AGORA_CAFILE": str(ours / "ca.crt")})
    assert r.rc == 0, r
    # --cafile wins over the environment.
    _, other = pki
    r = cli.run("users", "--cafile", str(other / "ca.crt"),
                env={"AGORA_CAFILE": str(ours / "ca.crt")})
    assert_error(r, "users", 2, "is not trusted", "--cafile FILE")


def test_untrusted_certificate_is_one_line(https, pki):
    _, proxy, _, cli = https
    _, other = pki
    url = "https://127.0.0.1:%d" % proxy.port
    # The system's CAs (no --cafile), and another CA's file: exit 2 (the
    # server cannot be reached as asked), one line naming the way out.
    for extra in ((), ("--cafile", str(other / "ca.crt"))):
        r = cli.run("users", *extra)
        line = assert_error(r, "users", 2, "the certificate of %s is not trusted" % url,
                            "give the CA that signed it with --cafile FILE")
        assert "\n" not in line
    before = len(proxy.handshake_failures)
    r = cli.run("users", "--cafile", str(other / "ca.crt"))
    assert r.rc == 2
    assert len(proxy.handshake_failures) > before  # the client gave up in the handshake


def test_unusable_cafile_is_a_usage_error(https, pki, tmp_path):
    """A CA file that is missing or holds no certificate: exit 1 before any
    request (as `agora pub --cafile`), naming the file."""
    _, proxy, _, cli = https
    ours, _ = pki
    missing = str(tmp_path / "no-such-ca.crt")
    before = proxy.accepted
    for bad in (missing, str(ours / "server.key")):
        r = cli.run("users", "--cafile", bad)
        assert_error(r, "users", 1, "cafile %s" % bad)
        r = cli.run("inbox", "--follow", env={"AGORA_CAFILE": bad})
        assert_error(r, "inbox", 1, "AGORA_CAFILE: cafile %s" % bad)
    assert proxy.accepted == before  # nothing was asked


def test_insecure(https):
    _, _, _, cli = https
    r = cli.run("users", "--insecure")
    assert r.rc == 0, r


def test_cafile_and_insecure_in_help():
    require_agora("agora users --help")
    r = subprocess.run([AGORA_BIN, "users", "--help"], capture_output=True, text=True,
                       timeout=TIMEOUT, env=sanitizer_env())
    assert r.returncode == 0
    assert "--cafile FILE" in r.stdout and "$AGORA_CAFILE" in r.stdout, r.stdout
    assert "--insecure" in r.stdout


# --------------------------------------------------------------------------
# inbox --follow: MQTT over TLS with the same trust
# --------------------------------------------------------------------------

def follower(cli, pki):
    ours, _ = pki
    name = uname("f")
    cli.register(name, "wonderland", "--cafile", str(ours / "ca.crt"))
    return name


def test_follow_over_https_uses_mqtt_over_tls(https, pki):
    b, _, mqtts, cli = https
    ours, _ = pki
    name = follower(cli, pki)
    mark = b.log_mark()
    f = Follow(cli, "--cafile", str(ours / "ca.crt"), "--mqtt", "127.0.0.1:%d" % mqtts)
    try:
        assert f.line() == "no messages"
        b.wait_log(r"MQTT login as '%s': accepted \(API token\)" % name, TIMEOUT, since=mark)
        api = Api(b)
        try:
            m = api.send(api.register(uname("s")), name, "live over TLS")
        finally:
            api.close()
        assert f.line() == text_line(m)
        assert f.stop() == 0
    finally:
        f.kill()


def test_follow_over_https_never_speaks_plain_mqtt(https, pki):
    """--mqtt at the plain listener: the TLS handshake fails there, the
    token is never sent; exit 2 with the reason."""
    b, _, _, cli = https
    ours, _ = pki
    name = follower(cli, pki)
    mark = b.log_mark()
    f = Follow(cli, "--cafile", str(ours / "ca.crt"), "--mqtt", "127.0.0.1:%d" % b.port)
    try:
        assert f.wait() == 2
        err = f.stderr()
        assert len(err) == 1 and err[0].startswith("agora inbox: "), err
        assert "port %d" % b.port in err[0] and "TLS" in err[0], err
        assert not b.find_log(r"MQTT login as '%s'" % name, since=mark)
    finally:
        f.kill()


def test_follow_over_https_defaults_to_port_8883(https, pki):
    _, _, _, cli = https
    ours, _ = pki
    follower(cli, pki)
    f = Follow(cli, "--cafile", str(ours / "ca.crt"), "--mqtt", "127.0.0.1")
    try:
        assert f.wait() == 2
        assert any("127.0.0.1 port 8883" in l for l in f.stderr()), f.stderr()
    finally:
        f.kill()


def test_follow_over_https_checks_the_mqtt_certificate(https, pki):
    """The MQTT server's certificate is checked against the same CAs: a
    listener whose certificate is another CA's is refused; --insecure
    checks neither side."""
    b, _, mqtts, cli = https
    ours, other = pki
    follower(cli, pki)
    f = Follow(cli, "--cafile", str(ours / "ca.crt"), "--mqtt",
               "127.0.0.1:%d" % b.foreign_tls_port)
    try:
        assert f.wait() == 2
        assert any("TLS" in l and "certificate verify failed" in l for l in f.stderr()), \
            f.stderr()
    finally:
        f.kill()
    f = Follow(cli, "--insecure", "--mqtt", "127.0.0.1:%d" % mqtts)
    try:
        assert f.line() == "no messages"
        assert f.stop() == 0
    finally:
        f.kill()
