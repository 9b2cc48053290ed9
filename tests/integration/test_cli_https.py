"""The REST API's commands over https:// (issue 15): `agora register, login,
users, status, send, inbox` with --server https://..., --cafile FILE (or
AGORA_CAFILE), --insecure, and the one error line when the server's
certificate is not trusted; `agora inbox --follow` then follows over MQTT
over TLS with the same CAs, never in clear. The server is `agora serve`
with an HTTPS http_listener (the certificate of `agora tls init`)."""

import re
import subprocess

import pytest

from conftest import AGORA_BIN, free_port, is_agora, require_agora, sanitizer_env
from test_cli_api import Cli, assert_error, uname
from test_cli_follow import Follow, text_line
from test_https import CURL, HttpsApi, start_https
from tlscerts import two_cas

pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: the HTTP API and its CLI")

TIMEOUT = 20.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    require_agora("agora tls init")
    return two_cas(tmp_path_factory, "https")


@pytest.fixture
def https(broker_factory, pki, tmp_path):
    """agora serve with HTTPS and an MQTT TLS listener (and one whose
    certificate is the other CA's): (broker, HTTPS port, MQTT TLS port, Cli
    using https)."""
    ours, other = pki
    mqtts, foreign = free_port(), free_port()
    line = "listener 127.0.0.1:%d tls=yes certfile=%s keyfile=%s"
    b, port = start_https(broker_factory, ours, extra=(
        line % (mqtts, ours / "server.crt", ours / "server.key"),
        line % (foreign, other / "server.crt", other / "server.key")))
    b.wait_log(r"listening on 127\.0\.0\.1:%d \(TLS\)" % mqtts, TIMEOUT)
    b.wait_log(r"listening on 127\.0\.0\.1:%d \(TLS\)" % foreign, TIMEOUT)
    b.foreign_tls_port = foreign  # a TLS listener whose certificate is the other CA's
    b.ca = ours / "ca.crt"
    b.https_port = port
    yield b, port, mqtts, Cli(tmp_path, "https://127.0.0.1:%d" % port)


def https_api(b):
    return HttpsApi(b, b.https_port, b.ca)


def http_accepted(b):
    """HTTP connections the server accepted so far, read from /metrics by
    a new curl connection (counted: itself included)."""
    r = subprocess.run([CURL, "-sS", "--max-time", "10", "--cacert", str(b.ca),
                        "https://localhost:%d/metrics" % b.https_port],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    m = re.search(r'agora_connections_accepted_total\{protocol="http"\} (\d+)', r.stdout)
    assert m, r.stdout[:500]
    return int(m.group(1))


def test_commands_over_https_with_cafile(https, pki):
    b, port, _, cli = https
    ours, _ = pki
    ca = ("--cafile", str(ours / "ca.crt"))
    name, other = uname("h"), uname("o")
    cli.register(name, "wonderland", *ca)
    r = cli.run("status", "on the https side", *ca)
    assert r.rc == 0, r
    r = cli.run("users", *ca)
    assert r.rc == 0 and name in r.out, r
    api = https_api(b)  # the same data, read by another client
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
    assert cli.account("https://127.0.0.1:%d" % port)["name"] == name
    # By name too: the certificate of `agora tls init` is for localhost.
    r = cli.run("users", *ca, "--server", "https://localhost:%d" % port)
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
    b, port, _, cli = https
    _, other = pki
    url = "https://127.0.0.1:%d" % port
    # The system's CAs (no --cafile), and another CA's file: exit 2 (the
    # server cannot be reached as asked), one line naming the way out.
    for extra in ((), ("--cafile", str(other / "ca.crt"))):
        r = cli.run("users", *extra)
        line = assert_error(r, "users", 2, "the certificate of %s is not trusted" % url,
                            "give the CA that signed it with --cafile FILE")
        assert "\n" not in line
    mark = b.log_mark()
    r = cli.run("users", "--cafile", str(other / "ca.crt"))
    assert r.rc == 2
    # the client gave up in the handshake: the server saw it end there
    b.wait_log(r"TLS: handshake from 127\.0\.0\.1:\d+: .*: closed", TIMEOUT, since=mark)


def test_unusable_cafile_is_a_usage_error(https, pki, tmp_path):
    """A CA file that is missing or holds no certificate: exit 1 before any
    request (as `agora pub --cafile`), naming the file."""
    b, _, _, cli = https
    ours, _ = pki
    missing = str(tmp_path / "no-such-ca.crt")
    before = http_accepted(b)
    for bad in (missing, str(ours / "server.key")):
        r = cli.run("users", "--cafile", bad)
        assert_error(r, "users", 1, "cafile %s" % bad)
        r = cli.run("inbox", "--follow", env={"AGORA_CAFILE": bad})
        assert_error(r, "inbox", 1, "AGORA_CAFILE: cafile %s" % bad)
    assert http_accepted(b) == before + 1  # nothing was asked (+1: the count's own request)


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
        api = https_api(b)
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
