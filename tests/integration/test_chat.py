"""`agora chat`: the course's peer-to-peer UDP chat.

Two `agora chat` peers typing to each other through terminals (ptys, in
canonical mode as a user's terminal is, Ctrl-C and Ctrl-D included), and
`agora chat` fed by a pipe or a file against a peer written here as the
course writes its chat: ``socket.socket(AF_INET, SOCK_DGRAM)``,
``sendto(text.encode(), address)``, ``recvfrom(1024)`` then ``.decode()``.

What is checked: lines both ways, non-ASCII text, a line longer than 1,024
bytes arriving as several datagrams each valid UTF-8 and at most 1,024
bytes, hostile datagrams (bytes that are not UTF-8, terminal escape
sequences, C1 controls, bidi overrides, newlines, a 60,000-byte datagram)
shown escaped and cut, --json, /quit, /exit, end of input, SIGINT, usage
errors, IPv6 on ::1. Loopback only; every wait has a deadline.
"""

import errno
import fcntl
import json
import os
import re
import signal
import socket
import subprocess
import termios
import threading
import time

import pytest

from conftest import AGORA_BIN, ipv6_loopback_available, sanitizer_env, sanitizer_lines

TIMEOUT = 5.0
LISTEN_RE = re.compile(r"agora chat: listening on (\S+):(\d+)")


class Output:
    """Bytes read from one stream by a thread, split into lines on demand."""

    def __init__(self, read):
        self.data = b""
        self.cond = threading.Condition()
        self.closed = False
        self.thread = threading.Thread(target=self._pump, args=(read,), daemon=True)
        self.thread.start()

    def _pump(self, read):
        while True:
            try:
                chunk = read()
            except OSError:  # a pty's master reads EIO once the child is gone
                chunk = b""
            with self.cond:
                if not chunk:
                    self.closed = True
                    self.cond.notify_all()
                    return
                self.data += chunk
                self.cond.notify_all()

    def lines(self):
        with self.cond:
            data = self.data
        # a pty turns "\n" into "\r\n"
        return data.decode("utf-8", "replace").replace("\r\n", "\n").split("\n")

    def wait(self, pattern, timeout=TIMEOUT):
        """The first line matching pattern (a regex), waiting for it."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                text = self.data.decode("utf-8", "replace").replace("\r\n", "\n")
                for line in text.split("\n"):
                    m = rx.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0 or self.closed:
                    raise AssertionError("no line matching %r; got:\n%s" % (pattern, text))
                self.cond.wait(left)

    def wait_closed(self, timeout=TIMEOUT):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.closed:
                left = deadline - time.monotonic()
                assert left > 0, "the stream did not end"
                self.cond.wait(left)


class Chat:
    """One `agora chat` process.

    tty=True: standard input, output and error are one pty (its controlling
    terminal, so Ctrl-C is SIGINT), read as one stream: self.out is self.err.
    tty=False: input from a pipe (or the file given as stdin), output and
    errors read apart.
    """

    def __init__(self, bind="127.0.0.1:0", args=(), tty=False, stdin=None):
        cmd = [AGORA_BIN, "chat", *args, bind]
        self.tty = tty
        if tty:
            master, slave = os.openpty()

            def controlling_terminal():
                os.setsid()
                fcntl.ioctl(0, termios.TIOCSCTTY, 0)

            self.proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=slave,
                                         preexec_fn=controlling_terminal,
                                         env=sanitizer_env())
            os.close(slave)
            self.master = master
            self.out = self.err = Output(lambda: os.read(master, 65536))
        else:
            self.proc = subprocess.Popen(cmd, stdin=stdin if stdin else subprocess.PIPE,
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         env=sanitizer_env())
            self.out = Output(lambda: os.read(self.proc.stdout.fileno(), 65536))
            self.err = Output(lambda: os.read(self.proc.stderr.fileno(), 65536))
        self.port = None

    def listening(self):
        """Waits for the "listening on" line; returns the port."""
        m = self.err.wait(LISTEN_RE.pattern)
        self.port = int(m.group(2))
        return self.port

    def type(self, *lines):
        data = "".join(line + "\n" for line in lines).encode()
        if self.tty:
            os.write(self.master, data)
        else:
            self.proc.stdin.write(data)
            self.proc.stdin.flush()

    def key(self, control):
        """A control key on the terminal: b"\\x03" Ctrl-C, b"\\x04" Ctrl-D."""
        os.write(self.master, control)

    def close_input(self):
        self.proc.stdin.close()

    def wait_exit(self, timeout=TIMEOUT):
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("agora chat did not exit; stderr:\n%s"
                                 % "\n".join(self.err.lines()))
        self.err.wait_closed()
        bad = sanitizer_lines(self.err.lines())
        assert not bad, "sanitizer report:\n%s" % "\n".join(self.err.lines())
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.tty:
            os.close(self.master)
        else:
            for f in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
                if f:
                    f.close()


@pytest.fixture
def chats():
    made = []

    def make(*a, **kw):
        c = Chat(*a, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.stop()


class CoursePeer:
    """The socket side of the course's Chat class, as the course writes it."""

    def __init__(self, family=socket.AF_INET, host="127.0.0.1"):
        self.s = socket.socket(family, socket.SOCK_DGRAM)
        self.s.bind((host, 0))
        self.s.settimeout(TIMEOUT)
        self.port = self.s.getsockname()[1]

    def send(self, message, address):
        data = message.encode() if isinstance(message, str) else message
        totalsent = 0
        while totalsent < len(data):
            sent = self.s.sendto(data[totalsent:], address)
            totalsent += sent

    def recv_datagram(self):
        """(bytes, address). The course reads with recvfrom(1024); this reads
        more so that a datagram over 1,024 bytes would show, not be cut."""
        data, address = self.s.recvfrom(65536)
        return data, address

    def recv(self):
        data, address = self.recv_datagram()
        assert len(data) <= 1024, "a datagram of %d bytes: the course reads 1024" % len(data)
        return data.decode(), address  # strict, as the course's print(data.decode())

    def close(self):
        self.s.close()


@pytest.fixture
def peer():
    p = CoursePeer()
    yield p
    p.close()


def run_once(*args, stdin=subprocess.DEVNULL, timeout=TIMEOUT):
    return subprocess.run([AGORA_BIN, *args], stdin=stdin, capture_output=True, text=True,
                          timeout=timeout, env=sanitizer_env())


# --------------------------------------------------------------------------
# Usage
# --------------------------------------------------------------------------

def test_help():
    for args in (["chat", "--help"], ["chat", "-h"], ["help", "chat"]):
        r = run_once(*args)
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("usage: agora chat")
        assert "/join HOST PORT" in r.stdout and "--max-datagram" in r.stdout


@pytest.mark.parametrize("args", [
    [],
    ["localhost:5000"],          # numeric host only
    ["::1:5000"],                # an IPv6 address needs brackets
    ["70000"],
    ["5000", "5001"],
    ["--max-datagram", "3", "5000"],
    ["--max-datagram"],
    ["--max-show", "lots", "5000"],
    ["--frobnicate", "5000"],
])
def test_usage_errors(args):
    r = run_once("chat", *args)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("agora chat: "), r.stderr
    assert r.stdout == ""


def test_port_in_use_is_exit_2():
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    try:
        port = taken.getsockname()[1]
        r = run_once("chat", "127.0.0.1:%d" % port)
    finally:
        taken.close()
    assert r.returncode == 2, r.stderr
    assert r.stderr.splitlines() == [
        "agora chat: cannot bind 127.0.0.1:%d: address already in use" % port]


# --------------------------------------------------------------------------
# Two agora chats, through terminals
# --------------------------------------------------------------------------

def test_two_peers_through_terminals(chats):
    a = chats(tty=True)
    b = chats(tty=True)
    pa, pb = a.listening(), b.listening()

    a.type("/join 127.0.0.1 %d" % pb)
    a.err.wait(r"agora chat: peer is 127\.0\.0\.1:%d$" % pb)
    a.type("hello from A")
    b.out.wait(r"^127\.0\.0\.1:%d: hello from A$" % pa)

    b.type("/join localhost %d" % pa)  # a name: the resolver, off the loop
    b.err.wait(r"agora chat: peer is 127\.0\.0\.1:%d$" % pa)
    b.type("/send réponse de B ✓ 🙂")
    a.out.wait(r"^127\.0\.0\.1:%d: réponse de B ✓ 🙂$" % pb)

    # /quit forgets the peer: what is typed next goes nowhere, and says so.
    a.type("/quit")
    a.err.wait(r"agora chat: no peer now \(was 127\.0\.0\.1:%d\)" % pb)
    a.type("lost line")
    a.err.wait(r"agora chat: no peer: /join HOST PORT first \(not sent\)")
    a.type("/join 127.0.0.1 %d" % pb, "marker after quit")
    b.out.wait(r"^127\.0\.0\.1:%d: marker after quit$" % pa)
    assert not any("lost line" in l and l.startswith("127.") for l in b.out.lines())

    a.type("/exit")
    assert a.wait_exit() == 0
    b.key(b"\x04")  # Ctrl-D on an empty line: end of input
    assert b.wait_exit() == 0


def test_ctrl_c_on_the_terminal(chats):
    a = chats(tty=True)
    a.listening()
    a.type("/help")
    a.err.wait(r"/send TEXT, goes to it")  # the answer to /help: the loop runs
    a.key(b"\x03")  # the terminal sends SIGINT
    assert a.wait_exit() == 0


def test_sigint_and_sigterm(chats):
    for sig in (signal.SIGINT, signal.SIGTERM):
        c = chats()
        c.listening()
        c.proc.send_signal(sig)
        assert c.wait_exit() == 0


# --------------------------------------------------------------------------
# Against the course's Python peer
# --------------------------------------------------------------------------

def test_pipe_against_course_peer(chats, peer):
    c = chats()
    port = c.listening()
    c.type("/join 127.0.0.1 %d" % peer.port, "bonjour", "/send ça va ? 🙂 日本語")
    assert peer.recv() == ("bonjour", ("127.0.0.1", port))
    assert peer.recv() == ("ça va ? 🙂 日本語", ("127.0.0.1", port))

    peer.send("salut, ça roule ✓", ("127.0.0.1", port))
    c.out.wait(r"^127\.0\.0\.1:%d: salut, ça roule ✓$" % peer.port)
    # Anyone may write to the chat: each line says who.
    other = CoursePeer()
    try:
        other.send("je passe", ("127.0.0.1", port))
        c.out.wait(r"^127\.0\.0\.1:%d: je passe$" % other.port)
    finally:
        other.close()

    c.close_input()  # end of input: the chat leaves
    assert c.wait_exit() == 0


def test_long_line_arrives_as_utf8_datagrams_of_1024_bytes(chats, peer):
    c = chats()
    c.listening()
    # Byte 1,024 falls inside a character, and so do later cuts: 1- to 4-byte characters.
    line = "a" + "é" * 700 + "€" * 300 + "🙂" * 200 + "z"
    data = line.encode()
    assert len(data) == 3102
    c.type("/join 127.0.0.1 %d" % peer.port, line)
    c.close_input()  # at once: what was typed before the end still goes out

    got, parts = b"", []
    while len(got) < len(data):
        d, _ = peer.recv_datagram()
        assert 0 < len(d) <= 1024
        parts.append(d.decode())  # each one decodes alone
        got += d
    assert got == data
    assert len(parts) == 4
    # As long as they can be: the next character did not fit.
    for part, following in zip(parts, parts[1:]):
        assert len(part.encode()) + len(following[0].encode()) > 1024
    assert c.wait_exit() == 0


def test_max_datagram_option(chats, peer):
    c = chats(args=["--max-datagram", "16"])
    c.listening()
    c.type("/join 127.0.0.1 %d" % peer.port, "0123456789abcdef" + "é" * 10)
    assert peer.recv()[0] == "0123456789abcdef"
    assert peer.recv()[0] == "é" * 8
    assert peer.recv()[0] == "é" * 2
    c.close_input()
    assert c.wait_exit() == 0


# The course's chat program, as its notes write it (class Chat: __init__,
# run, _exit, _quit, _join, _send, _receive), with a main that takes the
# host and port to bind.
COURSE_CHAT = """\
import socket
import sys
import threading


class Chat():
    def __init__(self, host=socket.gethostname(), port=5000):
        s = socket.socket(type=socket.SOCK_DGRAM)
        s.settimeout(0.5)
        s.bind((host, port))
        self.__s = s

    def run(self):
        handlers = {
            '/exit': self._exit,
            '/quit': self._quit,
            '/join': self._join,
            '/send': self._send
        }
        self.__running = True
        self.__address = None
        threading.Thread(target=self._receive).start()
        while self.__running:
            line = sys.stdin.readline().rstrip() + ' '
            command = line[:line.index(' ')]
            param = line[line.index(' ') + 1:].rstrip()
            if command in handlers:
                handlers[command]() if param == '' else handlers[command](param)
            else:
                print('Unknown command:', command)

    def _exit(self):
        self.__running = False
        self.__address = None
        self.__s.close()

    def _quit(self):
        self.__address = None

    def _join(self, param):
        tokens = param.split(' ')
        if len(tokens) == 2:
            self.__address = (socket.gethostbyaddr(tokens[0])[0], int(tokens[1]))

    def _send(self, param):
        if self.__address is not None:
            message = param.encode()
            totalsent = 0
            while totalsent < len(message):
                sent = self.__s.sendto(message[totalsent:], self.__address)
                totalsent += sent

    def _receive(self):
        while self.__running:
            try:
                data, address = self.__s.recvfrom(1024)
                print(data.decode())
            except socket.timeout:
                pass


if __name__ == '__main__':
    Chat(sys.argv[1], int(sys.argv[2])).run()
"""


def udp_port_free():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def test_against_the_course_program(chats, tmp_path):
    """The course's own program and agora chat talk to each other."""
    prog = tmp_path / "chat.py"
    prog.write_text(COURSE_CHAT)
    cport = udp_port_free()
    course = subprocess.Popen(["/usr/bin/python3", "-u", str(prog), "127.0.0.1", str(cport)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE)
    out = Output(lambda: os.read(course.stdout.fileno(), 65536))
    try:
        c = chats()
        aport = c.listening()
        # The course first: once its line arrives, it is bound and reading.
        course.stdin.write(("/join 127.0.0.1 %d\n/send salut de Python ✓\n" % aport).encode())
        course.stdin.flush()
        c.out.wait(r"^127\.0\.0\.1:%d: salut de Python ✓$" % cport)

        long_line = "é" * 1500  # 3,000 bytes: three datagrams, each printed as a line
        c.type("/join 127.0.0.1 %d" % cport, "bonjour du C ✓", long_line)
        out.wait(r"^bonjour du C ✓$")
        out.wait(r"^é{476}$")  # 512 + 512 + 476 characters: the last piece
        pieces = [l for l in out.lines() if l.startswith("é")]
        assert "".join(pieces) == long_line
        assert all(len(p.encode()) <= 1024 for p in pieces)

        course.stdin.write(b"/exit\n")
        course.stdin.flush()
        course.wait(TIMEOUT)
        c.close_input()
        assert c.wait_exit() == 0
    finally:
        if course.poll() is None:
            course.kill()
            course.wait()
        for f in (course.stdin, course.stdout, course.stderr):
            f.close()


HOSTILE = [
    (b"\xff\xfe not utf-8", r"\xff\xfe not utf-8"),
    (b"\x1b[2J\x1b[31mred", r"\x1b[2J\x1b[31mred"),
    (b"\x1b]0;new title\x07", r"\x1b]0;new title\x07"),
    (b"\xc2\x9b31m C1 CSI", r"\u{009b}31m C1 CSI"),
    ("\u202eevil\u202c".encode(), r"\u{202e}evil\u{202c}"),
    (b"one\nfake 6.6.6.6:1: spoof\r", r"one\nfake 6.6.6.6:1: spoof\r"),
    (b"back\\slash", r"back\\slash"),
    (b"nul\x00byte\x7f", r"nul\x00byte\x7f"),
]


def test_hostile_datagrams_are_escaped(chats, peer):
    c = chats()
    port = c.listening()
    for data, _ in HOSTILE:
        peer.send(data, ("127.0.0.1", port))
    peer.send(b"x" * 60000, ("127.0.0.1", port))
    peer.send("end", ("127.0.0.1", port))
    c.out.wait(r"^127\.0\.0\.1:%d: end$" % peer.port)

    raw = c.out.data
    for bad in (b"\x1b", b"\x07", b"\x00", b"\x7f", b"\xc2\x9b", "\u202e".encode(), b"\r"):
        assert bad not in raw, bad
    prefix = "127.0.0.1:%d: " % peer.port
    lines = raw.decode().split("\n")
    assert lines[-1] == ""
    # One line per datagram: a newline inside one makes no line of its own.
    assert len(lines) - 1 == len(HOSTILE) + 2
    for (data, shown), line in zip(HOSTILE, lines):
        assert line == prefix + shown
    big = lines[len(HOSTILE)]
    assert big == prefix + "x" * 4096 + " [... %d more bytes]" % (60000 - 4096)
    c.close_input()
    assert c.wait_exit() == 0


def test_json_output(chats, peer):
    c = chats(args=["--json", "--max-show", "64"])
    port = c.listening()
    peer.send("héllo ✓", ("127.0.0.1", port))
    peer.send(b"\xff\x00\x1b", ("127.0.0.1", port))
    peer.send("é" * 40, ("127.0.0.1", port))
    c.out.wait(r'"bytes":80')
    raw = c.out.data
    assert max(raw) < 0x80 and b"\x1b" not in raw  # ASCII only
    objs = [json.loads(l) for l in raw.decode().splitlines()]
    frm = "127.0.0.1:%d" % peer.port
    assert objs[0] == {"from": frm, "bytes": 10, "utf8": True, "text": "héllo ✓",
                       "truncated": False}
    assert objs[1] == {"from": frm, "bytes": 3, "utf8": False, "text": r"\xff\x00\x1b",
                       "truncated": False}
    assert objs[2] == {"from": frm, "bytes": 80, "utf8": True, "text": "é" * 32,
                       "truncated": True}
    c.close_input()
    assert c.wait_exit() == 0


# --------------------------------------------------------------------------
# Commands and their errors; inputs of every kind
# --------------------------------------------------------------------------

def test_command_errors_keep_the_chat_running(chats, peer):
    c = chats()
    c.listening()
    c.type("before join")
    c.err.wait(r"agora chat: no peer: /join HOST PORT first \(not sent\)$")
    c.type("/frobnicate now")
    c.err.wait(r"agora chat: /frobnicate: unknown command")
    c.type("/join nowhere")
    c.err.wait(r"agora chat: /join: usage: /join HOST PORT$")
    c.type("/join 127.0.0.1 0")
    c.err.wait(r"agora chat: /join: the port is a number from 1 to 65535$")
    c.type("/join ::1 5000")  # this socket is IPv4 only
    c.err.wait(r"agora chat: /join: ::1 has no IPv4 address this socket can reach$")
    c.type("/quit")
    c.err.wait(r"agora chat: no peer to forget$")
    c.type("/join 127.0.0.1 %d" % peer.port)
    c.proc.stdin.write(b"caf\xe9 in latin-1\n")
    c.proc.stdin.flush()
    c.err.wait(r"agora chat: the line is not valid UTF-8 \(not sent\)$")
    c.type("x" * 70000, "after the long one")
    c.err.wait(r"agora chat: a line of more than 65536 bytes \(not sent\)$")
    assert peer.recv()[0] == "after the long one"  # nothing of the two bad lines went
    c.type("/exit", "typed after exit")
    assert c.wait_exit() == 0
    assert c.out.lines() == [""]


def test_input_from_a_file(chats, peer, tmp_path):
    # All the lines are there at once: those after a /join of a name wait
    # for the resolver's answer, then go to that peer.
    f = tmp_path / "script.txt"
    f.write_text("/join localhost %d\nfrom a file\nlast line without newline" % peer.port)
    with open(f, "rb") as stdin:
        c = chats(stdin=stdin)
        c.listening()
        assert peer.recv()[0] == "from a file"
        assert peer.recv()[0] == "last line without newline"
        assert c.wait_exit() == 0


def test_empty_input_exits_at_once():
    r = run_once("chat", "127.0.0.1:0", stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r.stderr
    assert LISTEN_RE.search(r.stderr)
    assert not sanitizer_lines(r.stderr.splitlines())


@pytest.mark.skipif(not ipv6_loopback_available(), reason="no IPv6 loopback")
def test_ipv6_loopback(chats):
    c = chats(bind="[::1]:0")
    port = c.listening()
    p6 = CoursePeer(socket.AF_INET6, "::1")
    try:
        c.type("/join ::1 %d" % p6.port, "over IPv6 ✓")
        text, address = p6.recv()
        assert text == "over IPv6 ✓"
        assert address[:2] == ("::1", port)
        p6.send("retour", ("::1", port))
        c.out.wait(r"^\[::1\]:%d: retour$" % p6.port)
    finally:
        p6.close()
    c.close_input()
    assert c.wait_exit() == 0
