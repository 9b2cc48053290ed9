"""`agora echo serve` and `agora echo` (RFC 862), black-box: many clients at
once, a client that never reads, one that sends and closes without reading
(the course's EchoClient), IPv4 and IPv6, the connection limit, the
client's errors and SIGINT."""

import os
import re
import select
import signal
import socket
import subprocess
import threading
import time

import pytest

from classic_tcp import classic_server, one_error_line, run_agora  # noqa: F401 (fixture)
from conftest import AGORA_BIN, ipv6_loopback_available, sanitizer_env


def recv_exactly(s, n, timeout=10.0):
    s.settimeout(timeout)
    chunks, got = [], 0
    while got < n:
        d = s.recv(min(65536, n - got))
        if not d:
            break
        chunks.append(d)
        got += len(d)
    return b"".join(chunks)


def echo_once(port, data, host="127.0.0.1", family=socket.AF_INET):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(10)
        s.connect((host, port))
        s.sendall(data)
        return recv_exactly(s, len(data))


# --------------------------------------------------------------------------
# The command line
# --------------------------------------------------------------------------

def test_help_and_usage_errors():
    for args in (["echo", "--help"], ["echo", "-h"], ["echo", "serve", "--help"],
                 ["help", "echo"]):
        p = run_agora(*args)
        assert p.returncode == 0, args
        assert b"usage: agora echo serve" in p.stdout
    for args in (["echo"], ["echo", "serve"], ["echo", "localhost"], ["echo", "host:70000"],
                 ["echo", "serve", "1.2.3:7"], ["echo", "serve", "localhost:7"],
                 ["echo", "serve", "--max-queued", "x", "0"], ["echo", "--bogus", "h:1"],
                 ["echo", "serve", "7", "8"], ["echo", "-t"]):
        p = run_agora(*args)
        assert p.returncode == 1, (args, p.stderr)
        one_error_line(p, "echo")


def test_client_text_and_newline(classic_server):
    srv = classic_server("echo")
    p = run_agora("echo", "127.0.0.1:%d" % srv.port, "hello", "world")
    assert (p.returncode, p.stdout, p.stderr) == (0, b"hello world\n", b"")
    p = run_agora("echo", "-n", "127.0.0.1:%d" % srv.port, "été", "-5")
    assert (p.returncode, p.stdout) == (0, "été -5".encode())
    # each connection and its end logged with the peer's address
    srv.wait_log(r"echo 127\.0\.0\.1:\d+ connected")
    srv.wait_log(r"echo 127\.0\.0\.1:\d+ closed \(12 bytes received\)")


def test_client_stdin_binary(classic_server):
    """3 MiB of every byte value through stdin: more than --max-queued, so
    the server pauses and resumes a client that does read."""
    srv = classic_server("echo", "--max-queued", "262144")
    data = os.urandom(3 << 20)
    p = run_agora("echo", "127.0.0.1:%d" % srv.port, "-", stdin=data, timeout=30)
    assert p.returncode == 0, p.stderr
    assert p.stdout == data
    srv.wait_log(r"closed \(%d bytes received\)" % len(data))


# --------------------------------------------------------------------------
# Many clients, hostile clients
# --------------------------------------------------------------------------

def test_200_concurrent_clients(classic_server):
    srv = classic_server("echo")
    n = 200
    barrier = threading.Barrier(n, timeout=20)
    results = [None] * n

    def client(i):
        data = (b"%03d:" % i) * 5000 + os.urandom(1000)  # its own 21 KB
        try:
            with socket.create_connection(("127.0.0.1", srv.port), timeout=20) as s:
                barrier.wait()  # all connected before any sends
                s.sendall(data)
                results[i] = recv_exactly(s, len(data), timeout=20) == data
        except Exception as e:  # reported below
            results[i] = e

    threads = [threading.Thread(target=client, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(40)
    assert results == [True] * n, [r for r in results if r is not True][:5]
    srv.wait_count(r"closed \(21000 bytes received\)", n, timeout=10)


def test_client_that_never_reads(classic_server):
    """It sends and sends and never reads: the server stops reading it once
    --max-queued waits (its sends then block), stays responsive to others
    with bounded memory, and closes it after --stall-timeout."""
    srv = classic_server("echo", "--stall-timeout", "1.5")
    rss0 = srv.rss_kib()
    hog = socket.create_connection(("127.0.0.1", srv.port))
    hog.setblocking(False)
    chunk = b"x" * 65536
    sent, limit = 0, 256 << 20
    while sent < limit:  # until the kernel takes nothing for 0.5 s
        if not select.select([], [hog], [], 0.5)[1]:
            break
        try:
            sent += hog.send(chunk)
        except BlockingIOError:
            pass
    # a server reading without bound would have taken all 256 MiB
    assert sent < 64 << 20, "the server kept reading a client that reads nothing"
    assert srv.rss_kib() - rss0 < 64 << 10, "memory grew with what the client sent"
    # others are served meanwhile
    t0 = time.monotonic()
    assert echo_once(srv.port, b"ping") == b"ping"
    assert time.monotonic() - t0 < 2
    line = srv.wait_log(r"closed: not reading \(1048576 bytes waiting", timeout=6)
    assert "bytes received" in line
    # the hog's connection is over: what it gets ends (EOF or reset)
    hog.setblocking(True)
    hog.settimeout(10)
    try:
        while hog.recv(1 << 20):
            pass
    except ConnectionResetError:
        pass
    hog.close()


class EchoClient():
    """The course's echo client (Séance 2, "Client echo"): it connects,
    sends its message with a send loop, and closes without reading."""

    def __init__(self, address, message):
        self.__s = socket.socket()
        self.__address = address
        self.__message = message

    def run(self):
        self.__s.connect(self.__address)
        self._send()
        self.__s.close()

    def _send(self):
        totalsent = 0
        msg = self.__message.encode()
        while totalsent < len(msg):
            sent = self.__s.send(msg[totalsent:])
            totalsent += sent


def test_clients_that_send_and_close(classic_server):
    """The course's client, and a bigger one: what was to go back is dropped
    with the connection, one line each, no warning, no error."""
    srv = classic_server("echo")
    mark = srv.mark()
    for i in range(10):
        EchoClient(("127.0.0.1", srv.port), "Hello World! %d" % i).run()
    for i in range(10):
        with socket.create_connection(("127.0.0.1", srv.port)) as s:
            s.sendall(os.urandom(200000))
    srv.wait_count(r"echo \S+ closed", 20, since=mark)
    assert echo_once(srv.port, b"still here") == b"still here"
    noisy = [l for l in srv.log(mark) if re.search(r"\s(warn|error)\s", l)]
    assert noisy == []


def test_ipv4_and_ipv6(classic_server):
    srv = classic_server("echo", listen="0")  # no host: 0.0.0.0 and [::]
    srv.wait_log(r"listening on 0\.0\.0\.0:%d " % srv.port)
    assert echo_once(srv.port, b"v4") == b"v4"
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback here")
    srv.wait_log(r"listening on \[::\]:%d " % srv.port)
    assert echo_once(srv.port, b"v6", "::1", socket.AF_INET6) == b"v6"
    p = run_agora("echo", "[::1]:%d" % srv.port, "over", "IPv6")
    assert (p.returncode, p.stdout) == (0, b"over IPv6\n")
    srv.wait_log(r"echo \[::1\]:\d+ connected")


def test_ipv6_numeric_host(classic_server):
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback here")
    srv = classic_server("echo", listen="[::1]:0")
    assert echo_once(srv.port, b"x", "::1", socket.AF_INET6) == b"x"


def test_connection_limit(classic_server):
    srv = classic_server("echo", "--max-connections", "2")
    a = socket.create_connection(("127.0.0.1", srv.port))
    b = socket.create_connection(("127.0.0.1", srv.port))
    srv.wait_count(r"connected", 2)
    c = socket.create_connection(("127.0.0.1", srv.port))
    c.settimeout(5)
    try:
        assert c.recv(10) == b""  # closed at once
    except ConnectionResetError:
        pass
    srv.wait_log(r"warn .*echo: refusing 127\.0\.0\.1:\d+: too many connections")
    a.close()
    srv.wait_log(r"closed")
    assert echo_once(srv.port, b"room again") == b"room again"
    b.close()
    c.close()


def test_idle_timeout(classic_server):
    srv = classic_server("echo", "--idle-timeout", "0.5")
    with socket.create_connection(("127.0.0.1", srv.port)) as s:
        s.settimeout(5)
        assert recv_exactly(s, 0) == b""
        srv.wait_log(r"closed: idle for 500 ms", timeout=5)
        assert s.recv(1) == b""


# --------------------------------------------------------------------------
# The client's errors, SIGINT
# --------------------------------------------------------------------------

def test_client_cannot_connect(free_port):
    p = run_agora("echo", "127.0.0.1:%d" % free_port(), "x")
    assert p.returncode == 2
    assert "cannot connect to 127.0.0.1:" in one_error_line(p, "echo")
    p = run_agora("echo", "no-such-host.invalid:7", "x")
    assert p.returncode == 2
    assert "cannot resolve no-such-host.invalid" in one_error_line(p, "echo")


def _serve_once(behaviour):
    """A one-connection Python server on a thread: behaviour(conn)."""
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)

    def run():
        conn, _ = ls.accept()
        with conn:
            behaviour(conn)
        ls.close()

    threading.Thread(target=run, daemon=True).start()
    return ls.getsockname()[1]


def test_client_server_closes_early():
    def short(conn):
        conn.sendall(recv_exactly(conn, 7)[:3])  # three bytes back, then closed

    port = _serve_once(short)
    p = run_agora("echo", "127.0.0.1:%d" % port, "abcdef")
    assert p.returncode == 2
    assert p.stdout == b"abc"
    assert "closed the connection with 3 of 7 bytes back" in one_error_line(p, "echo")


def test_client_timeout():
    done = threading.Event()
    port = _serve_once(lambda conn: done.wait(10))  # takes it, says nothing
    p = run_agora("echo", "-t", "0.5", "127.0.0.1:%d" % port, "hello")
    done.set()
    assert p.returncode == 2
    assert "sent nothing back within 500 ms (0 of 6 bytes back)" in one_error_line(p, "echo")


def test_sigint_ends_a_stdin_session(classic_server):
    srv = classic_server("echo")
    p = subprocess.Popen([AGORA_BIN, "echo", "127.0.0.1:%d" % srv.port], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=sanitizer_env())
    p.stdin.write(b"line\n")
    p.stdin.flush()
    assert recv_line(p.stdout) == b"line\n"  # echoed: the session is up
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=5)
    p.stdin.close()
    assert p.returncode == 0, err
    assert err == b""


def recv_line(f, timeout=5.0):
    r, _, _ = select.select([f], [], [], timeout)
    assert r, "nothing within %.1fs" % timeout
    return f.readline()


def test_server_stops_with_clients_connected(classic_server):
    srv = classic_server("echo")
    s = socket.create_connection(("127.0.0.1", srv.port))
    s.sendall(b"hi")
    assert recv_exactly(s, 2) == b"hi"
    assert srv.stop(signal.SIGINT) == 0
    s.settimeout(5)
    assert s.recv(10) == b""
    s.close()
    srv.wait_log(r"echo: SIGINT: stopping \(1 connections\)")
    srv.wait_log(r"closed: server stopping")
