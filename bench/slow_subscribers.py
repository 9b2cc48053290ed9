#!/usr/bin/python3
"""slow_subscribers.py - `make bench`'s measure of what the outgoing QoS 1/2
window costs: memory held for subscribers that stop reading, and messages
resent to one when it comes back.

A broker's window (`max_inflight_messages`) is how many QoS 1/2 messages it
sends a client before the client's acknowledgements; the rest wait in the
session's queue (`max_queued_messages`). A large window keeps a fast
subscriber busy (issue 9: QoS 1 at full speed with default settings); its
price is paid by slow ones:

  1. SUBSCRIBERS MQTT 3.1.1 clients (clean session 0) subscribe at QoS 1 and
     then read nothing;
  2. one publisher sends MESSAGES QoS 1 messages of PAYLOAD bytes, each
     acknowledged (so each is routed) before the measure;
  3. the broker's resident memory grows by "held in the broker" (its RSS,
     /proc/PID/status) per subscriber; what it wrote and nobody read sits in
     the kernel's socket buffers, counted as "sent, unread" (the window's
     packets);
  4. one subscriber closes without reading and comes back (clean session 0):
     the PUBLISH packets it gets with DUP 1 are the window resent.

Run by bench/compare.py (scenario name `slow`), or alone:
  /usr/bin/python3 bench/slow_subscribers.py   (prints the Markdown section)
Debian python3, standard library only.
"""

import os
import socket
import statistics
import struct
import sys
import time

import benchlib

SUBSCRIBERS = 100
MESSAGES = 3000
PAYLOAD = 64
TOPIC = "slow/t"
TIMEOUT = 30.0      # s for any one step
WINDOW = 200        # the publisher's own pipelining depth


class SlowError(Exception):
    pass


connect = benchlib.connect
subscribe = benchlib.subscribe
publish = benchlib.publish
puback = benchlib.puback


class Conn:
    """A blocking MQTT 3.1.1 connection with a packet reader."""

    def __init__(self, port, client_id, clean=True):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = bytearray()
        self.s.sendall(connect(client_id, clean))
        first, body = self.packet()
        if first >> 4 != 2 or body[1] != 0:
            raise SlowError("CONNACK refused: %r" % bytes(body))
        self.session_present = body[0] & 1

    def packet(self):
        while True:
            if len(self.buf) >= 2:
                mult, value, i = 1, 0, 1
                while i < len(self.buf) and i <= 4:
                    value += (self.buf[i] & 0x7F) * mult
                    if not self.buf[i] & 0x80:
                        break
                    mult *= 128
                    i += 1
                if i < len(self.buf) and len(self.buf) >= i + 1 + value:
                    first, body = self.buf[0], bytes(self.buf[i + 1:i + 1 + value])
                    del self.buf[:i + 1 + value]
                    return first, body
            data = self.s.recv(65536)
            if not data:
                raise SlowError("connection closed by the broker")
            self.buf += data

    def close(self):
        self.s.close()


def rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise SlowError("no VmRSS for pid %d" % pid)


def measure(port, pid):
    """The figures for one broker listening on port (process pid)."""
    subs = []
    for i in range(SUBSCRIBERS):
        c = Conn(port, "slow-%d" % i, clean=False)
        c.s.sendall(subscribe(1, TOPIC, 1))
        first, body = c.packet()
        if first >> 4 != 9 or body[2] != 1:
            raise SlowError("SUBACK refused: %r" % body)
        subs.append(c)
    time.sleep(0.2)  # the broker's housekeeping settles (RSS is sampled, not an event)
    before = rss_bytes(pid)
    pub = Conn(port, "slow-publisher")
    payload = b"p" * PAYLOAD
    sent = acked = 0
    while acked < MESSAGES:
        while sent < MESSAGES and sent - acked < WINDOW:
            sent += 1
            pub.s.sendall(publish(TOPIC, payload, sent % 65535 + 1))
        first, _ = pub.packet()
        if first >> 4 == 4:
            acked += 1
    time.sleep(0.2)
    after = rss_bytes(pid)
    pub.close()
    # One comes back: what it gets with DUP 1 before the first new message
    # is the window, resent [MQTT-4.4.0-1].
    subs[0].close()
    back = Conn(port, "slow-0", clean=False)
    resent = 0
    while True:
        first, body = back.packet()
        if first >> 4 != 3:
            continue
        n = struct.unpack("!H", body[:2])[0]
        pid_ = struct.unpack("!H", body[2 + n:4 + n])[0]
        back.s.sendall(puback(pid_))
        if not first & 0x08:
            break
        resent += 1
    back.close()
    for c in subs[1:]:
        c.close()
    packet_bytes = 2 + 2 + len(TOPIC) + 2 + PAYLOAD
    return {"held_per_sub": (after - before) / SUBSCRIBERS, "resent": resent,
            "unread_per_sub": resent * packet_bytes}


def markdown(results):
    """results: [(title, config text, figures or an error string)]"""
    L = []
    w = L.append
    w("### The outgoing window: what slow subscribers cost")
    w("")
    w("%d MQTT 3.1.1 subscribers (clean session 0) subscribe at QoS 1 to one topic and then read"
      " nothing; one publisher sends %s QoS 1 messages of %d bytes, each acknowledged."
      " *Held in the broker* is the growth of the broker's resident memory per subscriber"
      " (the unacknowledged and queued messages' bookkeeping and copies; the messages themselves"
      " are shared by all subscribers). *Sent, unread* is what the broker wrote and the"
      " subscriber did not read: its window of packets, in the kernel's socket buffers."
      " *Resent* is how many PUBLISH packets with DUP 1 one subscriber gets when it comes back"
      " (clean session 0) without having acknowledged anything: the window."
      % (SUBSCRIBERS, "{:,}".format(MESSAGES), PAYLOAD))
    w("")
    w("| broker | settings | held in the broker per slow subscriber | sent, unread, per subscriber | resent after a reconnect |")
    w("| --- | --- | --- | --- | --- |")
    for title, conf, fig in results:
        if isinstance(fig, str):
            w("| %s | %s | failed: %s | | |" % (title, conf, fig))
            continue
        w("| %s | %s | %s KiB | %s KiB | %d |" % (
            title, conf, "{:,.1f}".format(fig["held_per_sub"] / 1024),
            "{:,.1f}".format(fig["unread_per_sub"] / 1024), fig["resent"]))
    w("")
    return "\n".join(L)


def main():
    import subprocess
    import tempfile
    repo = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    agora = os.environ.get("AGORA_BIN", os.path.join(repo, "build", "release", "agora"))
    results = []
    for title, extra in (("Agora", []), ("Agora", ["--max-inflight-messages", "64"])):
        with tempfile.TemporaryDirectory() as tmp:
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            s.close()
            p = subprocess.Popen([agora, "serve", "-l", "127.0.0.1:%d" % port, "--data-dir",
                                  os.path.join(tmp, "d"), "--http-listener", "off",
                                  "--log-level", "warn"] + extra,
                                 stderr=subprocess.DEVNULL)
            try:
                for _ in range(200):
                    try:
                        socket.create_connection(("127.0.0.1", port), timeout=1).close()
                        break
                    except OSError:
                        time.sleep(0.02)
                results.append((title, " ".join(extra) or "defaults", measure(port, p.pid)))
            finally:
                p.terminate()
                p.wait(timeout=10)
    print(markdown(results))


if __name__ == "__main__":
    main()
