"""`agora tls init`: the files it writes, the settings it prints, openssl(1)'s
verdict on the certificates, and a real TLS stack using them: Debian's
Mosquitto broker serving MQTT over TLS with server.crt and server.key,
mosquitto_pub and mosquitto_sub trusting ca.crt (by address and by name),
refused when they trust another CA instead, a listener that requires the
client certificate, and Python's ssl module checking the names.

Agora's own TLS listener is not used here: these tests are about the
certificates, so they hold whichever TLS server reads them."""

import os
import queue
import shutil
import socket
import ssl
import stat
import subprocess
import threading
import time

import pytest

from conftest import (AGORA_BIN, MOSQUITTO_BIN, free_port, ipv6_loopback_available,
                      require_agora, sanitizer_env, sanitizer_lines)

EXIT_OK, EXIT_USAGE, EXIT_LOCAL = 0, 1, 4
TIMEOUT = 30.0
FILES = ["ca.crt", "ca.key", "server.crt", "server.key"]
CLIENT_FILES = ["client.crt", "client.key"]

OPENSSL = shutil.which("openssl") or "/usr/bin/openssl"
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
MOSQUITTO_SUB = shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub"

needs_openssl = pytest.mark.skipif(not os.access(OPENSSL, os.X_OK),
                                   reason="the openssl tool is not installed")
needs_mosquitto = pytest.mark.skipif(
    not all(os.access(p, os.X_OK) for p in (MOSQUITTO_BIN, MOSQUITTO_PUB, MOSQUITTO_SUB)),
    reason="mosquitto, mosquitto_pub or mosquitto_sub not installed")


def agora(*args, cwd=None):
    """`agora ARGS...` run to completion (text)."""
    require_agora("agora tls init")
    r = subprocess.run([AGORA_BIN] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                       capture_output=True, text=True, timeout=TIMEOUT, cwd=cwd,
                       env=sanitizer_env())
    assert not sanitizer_lines((r.stdout + r.stderr).splitlines()), r.stdout + r.stderr
    return r


def tls_init(*args, cwd=None):
    """`agora tls init ARGS...`, which must succeed; its stdout."""
    r = agora("tls", "init", *args, cwd=cwd)
    assert r.returncode == EXIT_OK, r.stdout + r.stderr
    assert r.stderr == ""
    return r.stdout


def contents(d, names):
    return {n: (d / n).read_bytes() for n in names}


def openssl(*args):
    return subprocess.run([OPENSSL] + [str(a) for a in args], capture_output=True, text=True,
                          timeout=TIMEOUT)


# ---------------------------------------------------------------------------
# The command itself
# ---------------------------------------------------------------------------

def test_writes_the_files_and_prints_the_settings(tmp_path):
    d = tmp_path / "certs"
    out = tls_init(d)
    real = os.path.realpath(d)  # printed absolute: the settings go into other files
    assert sorted(os.listdir(d)) == sorted(FILES)
    for name in FILES:
        assert "wrote %s/%s " % (real, name) in out, out
    assert "localhost, 127.0.0.1, ::1" in out
    assert ("listener 127.0.0.1:8883 tls=yes certfile=%s/server.crt keyfile=%s/server.key\n"
            % (real, real)) in out, out
    assert "(TLS listeners: docs/configuration.md)" in out
    assert "agora sub --cafile %s/ca.crt " % real in out, out
    assert "mosquitto_sub --cafile %s/ca.crt " % real in out, out
    assert stat.S_IMODE(os.stat(d).st_mode) == 0o700
    for key in ("ca.key", "server.key"):
        assert stat.S_IMODE(os.stat(d / key).st_mode) == 0o600, key
    for crt in ("ca.crt", "server.crt"):
        assert stat.S_IMODE(os.stat(d / crt).st_mode) & 0o022 == 0, crt


@needs_openssl
def test_openssl_verifies_the_server_certificate(tmp_path):
    tls_init(tmp_path)
    ca, crt = tmp_path / "ca.crt", tmp_path / "server.crt"
    r = openssl("verify", "-CAfile", ca, crt)
    assert r.returncode == 0 and r.stdout.strip() == "%s: OK" % crt, r.stdout + r.stderr
    for check in (("-verify_hostname", "localhost"), ("-verify_ip", "127.0.0.1"),
                  ("-verify_ip", "::1")):
        r = openssl("verify", "-purpose", "sslserver", *check, "-CAfile", ca, crt)
        assert r.returncode == 0, (check, r.stdout + r.stderr)
    r = openssl("verify", "-verify_hostname", "example.com", "-CAfile", ca, crt)
    assert r.returncode != 0, r.stdout
    text = openssl("x509", "-in", crt, "-noout", "-text").stdout
    for expected in ("DNS:localhost", "IP Address:127.0.0.1", "IP Address:0:0:0:0:0:0:0:1",
                     "NIST CURVE: P-256", "ecdsa-with-SHA256", "CA:FALSE",
                     "TLS Web Server Authentication"):
        assert expected in text, expected
    assert "CA:TRUE" in openssl("x509", "-in", ca, "-noout", "-text").stdout
    # keys are EC P-256 and match their certificates
    for key, cert in (("server.key", crt), ("ca.key", ca)):
        pub_of_key = openssl("pkey", "-in", tmp_path / key, "-pubout").stdout
        assert pub_of_key and pub_of_key == openssl("x509", "-in", cert, "-noout",
                                                    "-pubkey").stdout, key
        assert "prime256v1" in openssl("pkey", "-in", tmp_path / key, "-noout",
                                       "-text").stdout


@needs_openssl
def test_default_dir_extra_names_client_and_days(tmp_path):
    out = tls_init("--name", "mqtt.test", "--ip", "10.9.8.7", "--days", "10", "--ca-days",
                   "20", "--client", "alice", cwd=tmp_path)
    d = tmp_path / "agora-tls"
    assert sorted(os.listdir(d)) == sorted(FILES + CLIENT_FILES)
    assert "localhost, mqtt.test, 127.0.0.1, ::1, 10.9.8.7" in out
    assert "cafile=%s/ca.crt require_certificate=yes" % os.path.realpath(d) in out
    assert "--cert %s/client.crt --key %s/client.key" % ((os.path.realpath(d),) * 2) in out
    ca, crt, cli = d / "ca.crt", d / "server.crt", d / "client.crt"
    for check in (("-verify_hostname", "mqtt.test"), ("-verify_ip", "10.9.8.7"),
                  ("-verify_hostname", "localhost")):
        r = openssl("verify", "-purpose", "sslserver", *check, "-CAfile", ca, crt)
        assert r.returncode == 0, (check, r.stdout + r.stderr)
    assert openssl("verify", "-purpose", "sslclient", "-CAfile", ca, cli).returncode == 0
    assert openssl("verify", "-purpose", "sslserver", "-CAfile", ca, cli).returncode != 0
    assert "CN = alice" in openssl("x509", "-in", cli, "-noout", "-subject").stdout
    assert stat.S_IMODE(os.stat(d / "client.key").st_mode) == 0o600
    # 10 days (a minute either way), the CA 20
    for cert, days in ((crt, 10), (cli, 10), (ca, 20)):
        assert openssl("x509", "-in", cert, "-noout", "-checkend",
                       days * 86400 - 60).returncode == 0, cert
        assert openssl("x509", "-in", cert, "-noout", "-checkend",
                       days * 86400 + 60).returncode != 0, cert


def test_refuses_to_overwrite_then_force_replaces(tmp_path):
    tls_init(tmp_path)
    before = contents(tmp_path, FILES)
    r = agora("tls", "init", tmp_path)
    assert r.returncode == EXIT_LOCAL, r.stdout + r.stderr
    assert r.stdout == ""
    assert "already exists" in r.stderr and "--force" in r.stderr, r.stderr
    assert r.stderr.count("\n") == 1
    assert contents(tmp_path, FILES) == before
    assert sorted(os.listdir(tmp_path)) == sorted(FILES)
    tls_init(tmp_path, "--force")
    after = contents(tmp_path, FILES)
    assert all(after[n] != before[n] for n in FILES)  # a new CA too
    assert sorted(os.listdir(tmp_path)) == sorted(FILES)


@needs_openssl
def test_keeps_the_ca_when_only_the_server_files_are_missing(tmp_path):
    tls_init(tmp_path)
    ca = (tmp_path / "ca.crt").read_bytes()
    (tmp_path / "server.crt").unlink()
    (tmp_path / "server.key").unlink()
    out = tls_init(tmp_path, "--name", "renewed.test")
    assert "kept  %s/ca.crt" % os.path.realpath(tmp_path) in out, out
    assert (tmp_path / "ca.crt").read_bytes() == ca
    r = openssl("verify", "-verify_hostname", "renewed.test", "-CAfile", tmp_path / "ca.crt",
                tmp_path / "server.crt")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("args", [
    [],
    ["frob"],
    ["init", "--days", "0", "DIR"],
    ["init", "--days", "ten", "DIR"],
    ["init", "--ca-days", "36501", "DIR"],
    ["init", "--days", "5000", "DIR"],          # longer than the CA's default 3650
    ["init", "--name", "a b", "DIR"],
    ["init", "--name", "a,DNS:evil.example", "DIR"],
    ["init", "--name", "127.0.0.1", "DIR"],
    ["init", "--ip", "999.1.1.1", "DIR"],
    ["init", "--ip", "localhost", "DIR"],
    ["init", "--client", "", "DIR"],
    ["init", "--client", "a", "--client", "b", "DIR"],
    ["init", "--no-such-option", "DIR"],
    ["init", "DIR", "other"],
    ["init", "DIR", "--days"],
])
def test_usage_errors_write_nothing(tmp_path, args):
    d = tmp_path / "certs"
    r = agora("tls", *[str(d) if a == "DIR" else a for a in args], cwd=tmp_path)
    assert r.returncode == EXIT_USAGE, r.stdout + r.stderr
    assert r.stdout == "" and r.stderr.count("\n") == 1 and r.stderr.startswith("agora tls"), \
        r.stderr
    assert os.listdir(tmp_path) == []


def test_help():
    for args in (["tls", "--help"], ["tls", "init", "--help"], ["help", "tls"]):
        r = agora(*args)
        assert r.returncode == EXIT_OK and r.stderr == ""
        assert r.stdout.startswith("usage: agora tls init [DIR]"), r.stdout
        for option in ("--days", "--ca-days", "--name", "--ip", "--client", "--force"):
            assert option in r.stdout, option


# ---------------------------------------------------------------------------
# The certificates in a real TLS server: Mosquitto
# ---------------------------------------------------------------------------

class Mosquitto:
    """Debian's mosquitto with the given configuration, its stderr read
    line by line; ready once it logs that it is running."""

    def __init__(self, workdir, conf_lines):
        self.conf = workdir / "mosquitto.conf"
        self.conf.write_text("\n".join(conf_lines) + "\n")
        self.lines = queue.Queue()
        self.log = []
        self.proc = subprocess.Popen([MOSQUITTO_BIN, "-c", str(self.conf)],
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b""):
            self.lines.put(raw.decode("utf-8", "replace").rstrip("\n"))
        self.lines.put(None)

    def wait_running(self, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.001))
            except queue.Empty:
                line = None
            if line is None:
                self.stop()
                pytest.fail("mosquitto did not start within %.0fs: %s"
                            % (timeout, "\n".join(self.log[-20:])))
            self.log.append(line)
            if "running" in line and "mosquitto version" in line:
                return

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def tls_listener(port, host, d, *extra):
    return ["listener %d %s" % (port, host), "certfile %s" % (d / "server.crt"),
            "keyfile %s" % (d / "server.key")] + list(extra)


@pytest.fixture
def tls_broker(tmp_path):
    """Mosquitto on two TLS listeners with `agora tls init`'s files:
    `port` (on 127.0.0.1, and ::1 when there is IPv6) and `cert_port`,
    which requires a client certificate signed by ca.crt."""
    d = tmp_path / "certs"
    tls_init(d, "--client", "alice")
    port, cert_port = free_port(), None
    while cert_port in (None, port):
        cert_port = free_port()
    conf = ["log_dest stderr", "log_type error", "log_type warning", "log_type notice",
            "log_type information", "persistence false", "allow_anonymous true"]
    if os.geteuid() == 0:
        # As root mosquitto would switch to the user mosquitto before it
        # reads the keys (0600, root's, in pytest's 0700 directories).
        conf.append("user root")
    conf += tls_listener(port, "127.0.0.1", d)
    if ipv6_loopback_available():
        conf += tls_listener(port, "::1", d)
    conf += tls_listener(cert_port, "127.0.0.1", d, "cafile %s" % (d / "ca.crt"),
                         "require_certificate true", "use_identity_as_username true")
    broker = Mosquitto(tmp_path, conf)
    try:
        broker.wait_running()
        yield {"dir": d, "port": port, "cert_port": cert_port, "broker": broker}
    finally:
        broker.stop()


def mosquitto(tool, port, *args, host="127.0.0.1"):
    r = subprocess.run([tool, "-h", host, "-p", str(port)] + [str(a) for a in args],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True,
                       timeout=TIMEOUT)
    return r


def retained(port, cafile, topic, host="127.0.0.1", extra=()):
    """The retained message of topic, as mosquitto_sub gets it (10 s at most)."""
    return mosquitto(MOSQUITTO_SUB, port, "--cafile", cafile, "-t", topic, "-C", "1",
                     "-W", "10", *extra, host=host)


@needs_mosquitto
def test_mosquitto_serves_mqtt_over_tls_with_them(tls_broker, tmp_path):
    d, port = tls_broker["dir"], tls_broker["port"]
    topic = "agora/tls-init/test"
    # a retained message: the subscribers below need no sync with the publisher
    r = mosquitto(MOSQUITTO_PUB, port, "--cafile", d / "ca.crt", "-t", topic, "-m", "hello",
                  "-r", "-q", "1")
    assert r.returncode == 0, r.stderr
    hosts = ["127.0.0.1", "localhost"] + (["::1"] if ipv6_loopback_available() else [])
    for host in hosts:  # the IP entries and the DNS name of the certificate
        r = retained(port, d / "ca.crt", topic, host=host)
        assert r.returncode == 0 and r.stdout == "hello\n", (host, r.stdout, r.stderr)

    # a client that trusts another CA (no --insecure) refuses the server
    other = tmp_path / "other"
    tls_init(other)
    r = mosquitto(MOSQUITTO_PUB, port, "--cafile", other / "ca.crt", "-t", topic,
                  "-m", "intruder", "-r", "-q", "1")
    assert r.returncode != 0 and "TLS" in r.stderr, (r.returncode, r.stderr)
    r = retained(port, other / "ca.crt", topic)
    assert r.returncode != 0 and r.stdout == "", (r.stdout, r.stderr)
    r = retained(port, d / "ca.crt", topic)
    assert r.stdout == "hello\n", r.stdout  # the refused publish did not land


@needs_mosquitto
def test_client_certificate_accepted_where_required(tls_broker):
    d, port = tls_broker["dir"], tls_broker["cert_port"]
    topic = "agora/tls-init/client"
    with_cert = ["--cert", d / "client.crt", "--key", d / "client.key"]
    r = mosquitto(MOSQUITTO_PUB, port, "--cafile", d / "ca.crt", *with_cert, "-t", topic,
                  "-m", "from alice", "-r", "-q", "1")
    assert r.returncode == 0, r.stderr
    r = retained(port, d / "ca.crt", topic, extra=with_cert)
    assert r.returncode == 0 and r.stdout == "from alice\n", (r.stdout, r.stderr)
    # no certificate, or the server's (serverAuth only): refused
    r = retained(port, d / "ca.crt", topic)
    assert r.returncode != 0 and r.stdout == "", (r.stdout, r.stderr)
    r = retained(port, d / "ca.crt", topic,
                 extra=["--cert", d / "server.crt", "--key", d / "server.key"])
    assert r.returncode != 0 and r.stdout == "", (r.stdout, r.stderr)


@needs_mosquitto
def test_python_ssl_checks_the_names(tls_broker, tmp_path):
    d, port = tls_broker["dir"], tls_broker["port"]
    ctx = ssl.create_default_context(cafile=str(d / "ca.crt"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            san = s.getpeercert()["subjectAltName"]
            assert ("DNS", "localhost") in san and ("IP Address", "127.0.0.1") in san, san
            assert s.version() in ("TLSv1.2", "TLSv1.3")
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            ctx.wrap_socket(raw, server_hostname="example.com")
    other = tmp_path / "other"
    tls_init(other)
    other_ctx = ssl.create_default_context(cafile=str(other / "ca.crt"))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with pytest.raises(ssl.SSLCertVerificationError):
            other_ctx.wrap_socket(raw, server_hostname="localhost")
