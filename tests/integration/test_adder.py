"""`agora adder serve` and `agora adder`, black-box: the course's Python
client (struct + pickle, protocols 2 to 5) against our server, our client
against a Python server written as the course's, Agora's own encoding,
hostile pickles, sums that do not fit, partial writes, deadlines."""

import io
import os
import pickle
import re
import socket
import struct
import threading

import pytest

from classic_tcp import classic_server, one_error_line, run_agora  # noqa: F401 (fixture)
from conftest import ipv6_loopback_available


def recv_exactly(s, n):
    chunks, got = [], 0
    while got < n:
        d = s.recv(n - got)
        if not d:
            break
        chunks.append(d)
        got += len(d)
    return b"".join(chunks)


class AdderClient():
    """The course's client (Séance 2, "Format des messages"), with the
    pickle protocol as a parameter: the length with struct.pack('I'), the
    list with pickle, the sum read with one recv(4)."""

    def __init__(self, address, data, protocol):
        self.__s = socket.socket(socket.AF_INET6 if ":" in address[0] else socket.AF_INET)
        self.__s.settimeout(10)
        self.__s.connect(address)
        self.__data = data
        self.__protocol = protocol

    def _compute(self):
        totalsent = 0
        msg = pickle.dumps(self.__data, self.__protocol)
        self.__s.send(struct.pack('I', len(msg)))
        while totalsent < len(msg):
            sent = self.__s.send(msg[totalsent:])
            totalsent += sent
        return struct.unpack('I', self.__s.recv(4))[0]

    def close(self):
        self.__s.close()


def course_sum(port, data, protocol, host="127.0.0.1"):
    c = AdderClient((host, port), data, protocol)
    try:
        return c._compute()
    finally:
        c.close()


def raw_exchange(port, request, shut=False):
    """Sends request; returns everything the server sends until it closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        if shut:
            s.shutdown(socket.SHUT_WR)
        out = b""
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    return out
                out += d
        except ConnectionResetError:
            return out


def agora_request(ints, version=0xA1, count=None):
    payload = struct.pack(">BI", version, len(ints) if count is None else count)
    payload += b"".join(struct.pack(">q", v) for v in ints)
    return struct.pack(">I", len(payload)) + payload


def agora_reply(s):
    n = struct.unpack(">I", recv_exactly(s, 4))[0]
    body = recv_exactly(s, n)
    assert body[0] == 0xA1
    if body[1] == 0:
        return 0, struct.unpack(">q", body[2:])[0]
    return body[1], body[2:].decode()


LISTS = [[1, 2, 3], [], [5], list(range(2001)), [2**40, -2**40, 7], [-5, 10],
         [2**32 - 1], [2**63 - 1, -(2**63 - 1), 9]]


# --------------------------------------------------------------------------
# The course's client against agora adder serve
# --------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [2, 3, 4, 5])
def test_course_client(classic_server, protocol):
    srv = classic_server("adder")
    for data in LISTS:
        assert course_sum(srv.port, data, protocol) == sum(data), data
    srv.wait_log(r"adder 127\.0\.0\.1:\d+: pickle protocol %d, 2001 integers: sum 2001000"
                 % protocol)


def test_pure_python_pickler(classic_server):
    """pickle's Python implementation ends a batch of one with APPEND."""
    srv = classic_server("adder")
    for data in ([4, 5, 6], list(range(1001)), list(range(30000))):
        for protocol in (2, 4):
            f = io.BytesIO()
            pickle._Pickler(f, protocol).dump(data)
            msg = f.getvalue()
            reply = raw_exchange(srv.port, struct.pack("I", len(msg)) + msg, shut=True)
            assert reply == struct.pack("I", sum(data))


def test_partial_writes_and_pipelining(classic_server):
    srv = classic_server("adder")
    msg = pickle.dumps(list(range(300)), 4)
    request = struct.pack("I", len(msg)) + msg
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for b in request:  # one byte per send
            s.send(bytes([b]))
        assert recv_exactly(s, 4) == struct.pack("I", 44850)
        for b in agora_request([7, -2]):
            s.send(bytes([b]))
        assert agora_reply(s) == (0, 5)
        # three requests in one write, both encodings: three replies, in order
        s.sendall(request + agora_request([2**40]) + request)
        assert recv_exactly(s, 4) == struct.pack("I", 44850)
        assert agora_reply(s) == (0, 2**40)
        assert recv_exactly(s, 4) == struct.pack("I", 44850)
    srv.wait_log(r"closed \(5 requests\)")


def test_ipv6(classic_server):
    if not ipv6_loopback_available():
        pytest.skip("no IPv6 loopback here")
    srv = classic_server("adder", listen="0")
    assert course_sum(srv.port, [1, 2], 3, host="::1") == 3
    assert course_sum(srv.port, [3, 4], 3) == 7
    p = run_agora("adder", "[::1]:%d" % srv.port, "1", "-2")
    assert (p.returncode, p.stdout) == (0, b"-1\n")


# --------------------------------------------------------------------------
# What the server refuses
# --------------------------------------------------------------------------

class Evil:
    """Unpickling this runs os.system: the server must never do it."""

    def __init__(self, path):
        self.path = path

    def __reduce__(self):
        return (os.system, ("touch " + self.path,))


def course_frame(msg):
    return struct.pack("I", len(msg)) + msg


def test_hostile_pickles_refused(classic_server, tmp_path):
    srv = classic_server("adder")
    path = str(tmp_path / "pwned")
    cases = []
    for protocol in (2, 3, 4, 5):
        cases += [
            # protocols 2, 3: GLOBAL; 4, 5: the name pushed for STACK_GLOBAL
            ("os.system", course_frame(pickle.dumps(Evil(path), protocol)),
             r"opcode (GLOBAL|SHORT_BINUNICODE)"),
            ("os.system in a list", course_frame(pickle.dumps([1, Evil(path)], protocol)),
             r"opcode (GLOBAL|SHORT_BINUNICODE)"),
            ("nested list", course_frame(pickle.dumps([1, [2]], protocol)), r"EMPTY_LIST"),
            ("dict", course_frame(pickle.dumps({1: 2}, protocol)), r"EMPTY_DICT"),
            ("string", course_frame(pickle.dumps(["a"], protocol)), r"UNICODE"),
            ("float", course_frame(pickle.dumps([1.5], protocol)), r"BINFLOAT"),
            ("beyond 64 bits", course_frame(pickle.dumps([2**64, -2**64], protocol)),
             r"does not fit 64 bits"),
            ("truncated", course_frame(pickle.dumps([1, 2, 3], protocol)[:-3]),
             r"ends at byte|cut short"),
        ]
    cases += [
        ("protocol 0", course_frame(pickle.dumps([1], 0)), r"protocol 0 or 1"),
        ("length over the limit", struct.pack("I", 2**31) + b"\x80\x04", r"over the limit"),
        ("length 0", b"\x00\x00\x00\x00", r"a length of 0"),
        ("text", b"GET / HTTP/1.0\r\n\r\n", r"neither pickle"),
    ]
    for what, request, says in cases:
        mark = srv.mark()
        # the course's reply has no room for an error: no reply, closed
        assert raw_exchange(srv.port, request) == b"", what
        line = srv.wait_log(r"refused: ", since=mark)
        assert re.search(says, line), (what, line)
        # and the server still serves
        assert course_sum(srv.port, [1, 2], 4) == 3
    assert not os.path.exists(path)


def test_stopped_mid_payload(classic_server):
    """A request that does not arrive whole within --timeout: the course's
    client is closed, Agora's gets the error first."""
    srv = classic_server("adder", "--timeout", "0.5")
    msg = pickle.dumps([1, 2, 3], 4)
    assert raw_exchange(srv.port, course_frame(msg)[:7]) == b""
    srv.wait_log(r"refused: the request did not arrive whole within 500 ms \(7 bytes in\)")
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(agora_request([1, 2])[:9])
        assert agora_reply(s) == (4, "the request did not arrive whole within 500 ms "
                                     "(9 bytes in)")
        assert s.recv(1) == b""


def test_client_that_stops_mid_payload_and_leaves(classic_server):
    srv = classic_server("adder")
    assert raw_exchange(srv.port, course_frame(pickle.dumps([1], 3))[:6], shut=True) == b""
    srv.wait_log(r"closed: closed mid-request \(6 bytes in\)")


def test_course_sum_that_does_not_fit(classic_server):
    srv = classic_server("adder")
    for data in ([2**32], [-1], [2**63 - 1, 2**63 - 1]):
        with pytest.raises(struct.error):  # the course's recv(4) gets b""
            course_sum(srv.port, data, 4)
    srv.wait_log(r"refused: the sum 4294967296 does not fit the course's reply")
    srv.wait_log(r"refused: the sum -1 does not fit")


def test_agora_encoding_errors(classic_server):
    srv = classic_server("adder", "--max-length", "64")
    cases = [
        (agora_request([2**63 - 1, 1]), 3, "the sum does not fit 64 bits"),
        (agora_request([1, 2], version=0xA2), 5, "version 2"),
        (agora_request([1, 2], count=3), 1, "the count says 3"),
        (agora_request(list(range(10))), 2, "a payload of 85 bytes is over the limit (64)"),
    ]
    for request, status, says in cases:
        with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
            s.sendall(request)
            got = agora_reply(s)
            assert got[0] == status and says in got[1], got
            assert s.recv(1) == b""  # then closed
    # the same limit for the course's format: closed before the payload is read
    assert raw_exchange(srv.port, course_frame(pickle.dumps(list(range(100)), 4))) == b""


# --------------------------------------------------------------------------
# agora adder, the client
# --------------------------------------------------------------------------

def test_agora_client(classic_server):
    srv = classic_server("adder")
    addr = "127.0.0.1:%d" % srv.port
    p = run_agora("adder", addr, "1", "2", "3")
    assert (p.returncode, p.stdout, p.stderr) == (0, b"6\n", b"")
    p = run_agora("adder", addr, "-5", "--json", str(2**40))
    assert (p.returncode, p.stdout) == (0, b'{"sum":1099511627771,"count":2,"encoding":"agora"}\n')
    p = run_agora("adder", addr)
    assert (p.returncode, p.stdout) == (0, b"0\n")
    p = run_agora("adder", addr, str(2**63 - 1), "1")
    assert p.returncode == 3
    assert one_error_line(p, "adder") == \
        "agora adder: the server refused: the sum does not fit 64 bits"
    # --pickle against our own server too
    p = run_agora("adder", "--pickle", addr, "40", "2")
    assert (p.returncode, p.stdout) == (0, b"42\n")


class CourseServer:
    """An adder server as the course would write it: accept, read the length
    with struct, the list with pickle, answer struct.pack('I', sum). It
    keeps the bytes it got, to compare with what Python writes."""

    def __init__(self):
        self.s = socket.socket()
        self.s.bind(("127.0.0.1", 0))
        self.s.listen()
        self.port = self.s.getsockname()[1]
        self.received = []
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while True:
            try:
                client, addr = self.s.accept()
            except OSError:
                return
            with client:
                head = recv_exactly(client, 4)
                size = struct.unpack('I', head)[0]
                msg = recv_exactly(client, size)
                self.received.append(head + msg)
                data = pickle.loads(msg)  # trusted here: our client's bytes
                try:
                    client.send(struct.pack('I', sum(data)))
                except struct.error:
                    pass  # the course's server dies here; its client sees the close

    def close(self):
        self.s.close()


@pytest.fixture
def course_server():
    srv = CourseServer()
    yield srv
    srv.close()


@pytest.mark.parametrize("protocol", [None, 2, 3, 4, 5])
def test_pickle_client_against_course_server(course_server, protocol):
    data = [1, 2, 3, -4, 300, 70000, 2**40, -2**40]
    args = ["adder", "--pickle", "127.0.0.1:%d" % course_server.port] + [str(v) for v in data]
    if protocol:
        args += ["--protocol", str(protocol)]
    p = run_agora(*args)
    assert (p.returncode, p.stdout, p.stderr) == (0, b"70302\n", b"")
    msg = pickle.dumps(data, protocol or 3)  # the course shows protocol 3
    assert course_server.received == [struct.pack('I', len(msg)) + msg]


def test_pickle_client_long_list_byte_for_byte(course_server):
    """30000 integers: APPENDS batches of 1000, and at protocol 4 frames of
    64 KiB, cut where CPython cuts them."""
    data = list(range(-1000, 29000))
    for protocol in (3, 4):
        p = run_agora("adder", "--pickle", "--protocol", protocol,
                      "127.0.0.1:%d" % course_server.port, *data)
        assert (p.returncode, p.stdout) == (0, b"%d\n" % sum(data))
        msg = pickle.dumps(data, protocol)
        assert course_server.received[-1] == struct.pack('I', len(msg)) + msg


def test_pickle_client_no_answer(course_server):
    p = run_agora("adder", "--pickle", "127.0.0.1:%d" % course_server.port, "-3")
    assert p.returncode == 2
    assert "closed the connection without a sum" in one_error_line(p, "adder")


def test_client_errors(free_port):
    p = run_agora("adder", "127.0.0.1:%d" % free_port(), "1")
    assert p.returncode == 2
    assert "cannot connect" in one_error_line(p, "adder")
    for args in (["127.0.0.1:1", "x"], ["127.0.0.1:1", "1", str(2**63)], ["--protocol", "6"],
                 ["--pickle"], ["serve"], ["serve", "--max-length", "1", "0"],
                 ["serve", "host:1"]):
        p = run_agora("adder", *args)
        assert p.returncode == 1, args
        one_error_line(p, "adder")
    for args in (["--help"], ["serve", "-h"], ["127.0.0.1:1", "-h"]):
        p = run_agora("adder", *args)
        assert p.returncode == 0 and b"usage: agora adder serve" in p.stdout
