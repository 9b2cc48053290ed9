"""What the bench scripts share (compare.py, persistence.py,
slow_subscribers.py): signal handling, the open-file limit, a free loopback
port, a log file's last lines, and MQTT 3.1.1 packets encoded by hand for
raw-socket clients."""

import os
import resource
import signal
import socket
import struct


def exit_on_signals():
    """SIGTERM and SIGHUP end the run as SystemExit in the main process
    (its cleanups run: brokers stopped, files removed) and at once in a
    forked child."""
    main_pid = os.getpid()

    def on_term(signum, _frame):
        if os.getpid() != main_pid:
            os._exit(128 + signum)
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGHUP, on_term)


def raise_nofile():
    """The soft open-file limit up to the hard one (10,000 connections), for this
    process and so for every broker and bench it starts (no preexec_fn: Python
    code between fork and exec could run a signal handler in the child)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def tail(path, lines=8):
    """The last lines of a text file, joined by " | " ("" if unreadable)."""
    try:
        with open(path, "r", errors="replace") as f:
            text = f.read().strip().splitlines()
    except OSError:
        return ""
    return " | ".join(text[-lines:])


# ---------------------------------------------------------------- MQTT 3.1.1

def mqtt_str(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack("!H", len(b)) + b


def varint(n):
    out = bytearray()
    while True:
        byte, n = n % 128, n // 128
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def packet(first, body):
    return bytes([first]) + varint(len(body)) + body


def connect(client_id, clean, keepalive=60):
    return packet(0x10, mqtt_str("MQTT") + bytes([4, 0x02 if clean else 0x00])
                  + struct.pack("!H", keepalive) + mqtt_str(client_id))


def subscribe(pid, topic, qos):
    return packet(0x82, struct.pack("!H", pid) + mqtt_str(topic) + bytes([qos]))


def publish(topic, payload, pid, retain=False):
    """A QoS 1 PUBLISH."""
    return packet(0x32 | (1 if retain else 0), mqtt_str(topic) + struct.pack("!H", pid) + payload)


def puback(pid):
    return packet(0x40, struct.pack("!H", pid))
