"""The classic TCP servers (`agora echo serve`, `agora adder serve`) as
processes for the integration tests, and running the clients.

Fixture:
  classic_server(program, *options, listen="127.0.0.1:0") -> ClassicServer,
      started (every "listening on" line seen; .port is the one bound);
      stopped at teardown with SIGTERM, which must end it with status 0 and
      no ASan/UBSan report.
Functions:
  run_agora(*args, stdin=b"", timeout=15) -> CompletedProcess (bytes)
"""

import os
import re
import signal
import subprocess
import threading
import time

import pytest

from conftest import AGORA_BIN, sanitizer_env, sanitizer_lines

START_TIMEOUT = 10.0
STOP_TIMEOUT = 5.0


class ClassicServer:
    """One `agora PROGRAM serve` process, its stderr collected by a thread."""

    def __init__(self, program, options, listen):
        self.program = program
        self.args = [AGORA_BIN, program, "serve"] + list(options) + [listen]
        self.listeners = 2 if re.fullmatch(r"\d+", listen) else 1
        self.lines = []
        self._cond = threading.Condition()
        self.proc = None
        self.port = None
        self.returncode = None

    def start(self):
        if not os.access(AGORA_BIN, os.X_OK):
            pytest.fail("%s does not exist (make build/test/agora)" % AGORA_BIN)
        self.proc = subprocess.Popen(self.args, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                     env=sanitizer_env())
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        for i in range(self.listeners):
            line = self.wait_log(r"listening on \S+ \(%s\)" % self.program, START_TIMEOUT,
                                 skip=i)
            self.port = int(re.search(r":(\d+) \(", line).group(1))
        return self

    def _read(self):
        for raw in iter(self.proc.stderr.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace").rstrip("\n"))
                self._cond.notify_all()
        with self._cond:
            self._cond.notify_all()

    def mark(self):
        with self._cond:
            return len(self.lines)

    def log(self, since=0):
        with self._cond:
            return list(self.lines[since:])

    def wait_log(self, pattern, timeout=5.0, since=0, skip=0):
        """The (skip+1)-th stderr line matching pattern from line `since`,
        within timeout; fails the test with the log's tail otherwise."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            i, seen = since, 0
            while True:
                while i < len(self.lines):
                    if rx.search(self.lines[i]):
                        if seen == skip:
                            return self.lines[i]
                        seen += 1
                    i += 1
                left = deadline - time.monotonic()
                if left <= 0 or (self.proc.poll() is not None and not self._thread.is_alive()):
                    break
                self._cond.wait(min(left, 0.2))
        pytest.fail("no stderr line matching %r within %.1fs; %s; stderr tail:\n%s" % (
            pattern, timeout, "exited %r" % self.proc.poll()
            if self.proc.poll() is not None else "running", "\n".join(self.log()[-30:])))

    def wait_count(self, pattern, count, timeout=10.0, since=0):
        """Waits until `count` lines from `since` match pattern."""
        self.wait_log(pattern, timeout, since, skip=count - 1)

    def count(self, pattern, since=0):
        rx = re.compile(pattern)
        return sum(1 for l in self.log(since) if rx.search(l))

    def rss_kib(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def stop(self, sig=signal.SIGTERM, timeout=STOP_TIMEOUT):
        if self.returncode is not None or self.proc is None:
            return self.returncode
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
            self.returncode = "killed"
        self._thread.join(2.0)
        return self.returncode

    def check_clean_exit(self):
        rc = self.stop()
        problems = []
        if rc != 0:
            problems.append("exit status %r after SIGTERM" % rc)
        san = sanitizer_lines(self.log())
        if san:
            problems.append("sanitizer reports: %s" % san[:5])
        if problems:
            pytest.fail("agora %s serve: %s\nstderr tail:\n%s" % (
                self.program, "; ".join(problems), "\n".join(self.log()[-40:])),
                pytrace=False)


@pytest.fixture
def classic_server():
    started = []

    def start(program, *options, listen="127.0.0.1:0"):
        s = ClassicServer(program, options, listen)
        started.append(s)
        return s.start()

    yield start
    failures = []
    for s in started:
        try:
            s.check_clean_exit()
        except BaseException as e:  # collect, report all
            failures.append(str(e))
        finally:
            if s.proc.poll() is None:
                s.proc.kill()
    if failures:
        pytest.fail("\n\n".join(failures), pytrace=False)


def run_agora(*args, stdin=b"", timeout=15):
    """Runs `agora ARGS...` to its end: a CompletedProcess with bytes."""
    return subprocess.run([AGORA_BIN] + [str(a) for a in args], input=stdin,
                          capture_output=True, timeout=timeout, env=sanitizer_env())


def one_error_line(proc, prog):
    """The command failed with exactly one clear line on stderr."""
    lines = proc.stderr.decode("utf-8", "replace").strip().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("agora %s: " % prog), lines
    assert not sanitizer_lines(lines)
    return lines[0]
