"""The server process: command line, configuration, listeners, limits,
signals, $SYS, logging and robustness against garbage."""

import os
import random
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

import mqttraw
from mqttraw import (CONNACK, RawClient, assert_broker_serves, connect, publish,
                     subscribe)
from conftest import (AGORA_BIN, is_agora, REPO, free_port, ipv6_loopback_available,
                      is_debug_line, require_agora, sanitizer_env, sanitizer_lines)


def run_agora(*args, timeout=10):
    """Runs the binary to completion; returns (status, stdout+stderr text)."""
    if not os.access(AGORA_BIN, os.X_OK):
        pytest.fail("broker binary %s does not exist" % AGORA_BIN)
    r = subprocess.run([AGORA_BIN] + list(args), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, env=sanitizer_env())
    out = r.stdout.decode("utf-8", "replace") + r.stderr.decode("utf-8", "replace")
    assert not sanitizer_lines(out.splitlines()), out
    return r.returncode, out


# --------------------------------------------------------------------------
# Command line and configuration
# --------------------------------------------------------------------------

def test_version():
    require_agora("--version")
    rc, out = run_agora("--version")
    assert rc == 0, out
    with open(os.path.join(REPO, "VERSION")) as f:
        version = f.read().strip()
    assert version in out, "version %r not in %r" % (version, out)


def test_serve_help():
    require_agora("serve --help")
    rc, out = run_agora("serve", "--help")
    assert rc == 0, out
    assert "usage" in out.lower() or "--listener" in out, out
    assert "listener" in out, "usage does not mention the listener option: %r" % out


BAD_CONFIG = [
    ("bogus_key 1", "bogus_key"),
    ("max_connections abc", "max_connections"),
    ("max_connections -1", "max_connections"),
    ("log_level loud", "log_level"),
    ("listener 127.0.0.1:99999", "listener"),
    ("listener nonsense", "listener"),
    ("max_packet_size 12x", "max_packet_size"),
    ("allow_anonymous maybe", "allow_anonymous"),
    ("keepalive_max 70000", "keepalive_max"),
    ("sys_interval", "sys_interval"),
]


@pytest.mark.parametrize("line,key", BAD_CONFIG, ids=[l for l, _ in BAD_CONFIG])
def test_bad_config_rejected(tmp_path, line, key):
    require_agora("config validation")
    conf = tmp_path / "bad.conf"
    conf.write_text("# test\nlistener 127.0.0.1:%d\ndata_dir %s\n%s\n"
                    % (free_port(), tmp_path, line))
    rc, out = run_agora("serve", "-c", str(conf))
    assert rc != 0, "accepted %r: %s" % (line, out)
    assert key in out, "message does not name %r: %r" % (key, out)


def test_unknown_command_line_option_rejected(tmp_path):
    require_agora("command-line validation")
    conf = tmp_path / "ok.conf"
    conf.write_text("listener 127.0.0.1:%d\ndata_dir %s\n" % (free_port(), tmp_path))
    rc, out = run_agora("serve", "-c", str(conf), "--bogus-option", "1")
    assert rc != 0, out
    assert "bogus" in out, out


def test_missing_config_file_rejected(tmp_path):
    require_agora("config file errors")
    path = str(tmp_path / "does-not-exist.conf")
    rc, out = run_agora("serve", "-c", path)
    assert rc != 0, out
    assert "does-not-exist.conf" in out, out


def test_data_dir_not_a_directory_rejected(tmp_path):
    require_agora("data_dir validation")
    f = tmp_path / "plainfile"
    f.write_text("not a directory\n")
    conf = tmp_path / "dd.conf"
    conf.write_text("listener 127.0.0.1:%d\ndata_dir %s\n" % (free_port(), f))
    rc, out = run_agora("serve", "-c", str(conf))
    assert rc != 0, out
    assert "data_dir" in out or "plainfile" in out, out


def test_listener_address_in_use_rejected(tmp_path):
    require_agora("listen errors")
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        conf = tmp_path / "busy.conf"
        conf.write_text("listener 127.0.0.1:%d\ndata_dir %s\n" % (port, tmp_path))
        rc, out = run_agora("serve", "-c", str(conf))
        assert rc != 0, out
        assert "127.0.0.1:%d" % port in out, out
    finally:
        holder.close()


def test_config_comments_and_blank_lines(broker_factory):
    b = broker_factory("", "# a comment line", "   ", "max_inflight_messages 10  ")
    assert_broker_serves(b.port)


def test_command_line_options(broker_factory, raw, uniq):
    require_agora("--key-name command-line options")
    b = broker_factory(args=["--sys-interval", "1", "--max-packet-size", "1024"],
                       cli_listeners=True)
    c = raw(b.port, "cli-" + uniq)
    assert c.subscribe([("$SYS/broker/uptime", 0)]) == [0]
    # --sys-interval 1 (default 10): two updates arrive within 2.5 s.
    start = time.monotonic()
    c.recv_publish(2.5)
    c.recv_publish(max(0.1, 2.5 - (time.monotonic() - start)))
    # --max-packet-size 1024 applies.
    big = raw(b.port, "cli-big-" + uniq)
    big.try_send(publish("cli/big", b"z" * 2000))
    big.expect_closed(2.0)
    assert_broker_serves(b.port)


# --------------------------------------------------------------------------
# Listeners and connection limits
# --------------------------------------------------------------------------

def test_two_ipv4_listeners(broker_factory, raw, uniq):
    p1 = free_port()
    p2 = free_port(exclude=(p1,))
    b = broker_factory(listeners=["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2])
    sub = raw(p2, "l2-sub-" + uniq)
    assert sub.subscribe([("l/" + uniq, 1)]) == [1]
    pub = raw(p1, "l1-pub-" + uniq)
    pub.publish("l/" + uniq, b"across listeners", qos=1, pid=1)
    assert sub.recv_publish().payload == b"across listeners"
    assert b.alive()


def test_ipv4_and_ipv6_listeners(broker_factory, raw, uniq):
    if not ipv6_loopback_available():
        pytest.skip("::1 is not available on this machine")
    p4 = free_port()
    p6 = free_port(socket.AF_INET6, "::1", exclude=(p4,))
    broker_factory(listeners=["127.0.0.1:%d" % p4, "[::1]:%d" % p6])
    sub = raw(p6, "v6-sub-" + uniq, host="::1")
    assert sub.subscribe([("v6/" + uniq, 2)]) == [2]
    pub = raw(p4, "v4-pub-" + uniq)
    pub.publish("v6/" + uniq, b"v4 to v6", qos=2, pid=1)
    assert sub.recv_publish().payload == b"v4 to v6"
    # And the other way round.
    assert pub.subscribe([("v4/" + uniq, 1)]) == [1]
    sub.publish("v4/" + uniq, b"v6 to v4", qos=1, pid=2)
    assert pub.recv_publish().payload == b"v6 to v4"
    assert_broker_serves(p6, host="::1")


def test_max_connections(broker_factory, raw, uniq):
    b = broker_factory("max_connections 3")
    clients = [raw(b.port, "mc-%d-%s" % (i, uniq)) for i in range(3)]
    extra = RawClient(b.port)
    try:
        extra.try_send(connect("mc-extra-" + uniq))
        # Refused: closed, at most after a CONNACK with a failure code.
        extra.expect_closed(3.0, allow=lambda p: p.type == CONNACK and p.rc != 0)
    except ConnectionRefusedError:
        pass
    finally:
        extra.close()
    for c in clients:
        assert c.is_open()
    if is_agora():
        m = re.search(r'^agora_connections_refused_total\{protocol="mqtt"\} (\d+)$',
                      requests.get(b.http_url + "/metrics", timeout=5).text, re.M)
        assert m and int(m.group(1)) == 1, "the refused MQTT connection is counted once"
    # Freeing a slot lets a new client in (bounded retries: the count is
    # decremented asynchronously after the close).
    clients[0].disconnect()
    ok = False
    deadline = time.monotonic() + 3.0
    for _ in range(30):
        if time.monotonic() > deadline:
            break
        c = raw(b.port)
        try:
            c.send(connect("mc-new-" + uniq))
            p = c.recv_packet(1.0)
            if p.type == CONNACK and p.rc == 0:
                ok = True
                break
        except (mqttraw.ConnectionClosed, mqttraw.NoPacket, OSError):
            pass
        c.close()
    assert ok, "no connection accepted after one of the 3 left"


def test_many_concurrent_clients(broker, raw, uniq):
    n = 300
    t = "many/" + uniq
    subs = []
    for i in range(n):
        c = RawClient(broker.port)
        subs.append(c)
        c.send(connect("many-%d-%s" % (i, uniq)) + subscribe(1, [(t, 1)]))
    try:
        for c in subs:
            assert c.expect(CONNACK).rc == 0
            assert c.expect(mqttraw.SUBACK).codes == [1]
        pub = raw(broker.port, "many-pub-" + uniq)
        pub.publish(t, b"to %d" % n, qos=1, pid=1)
        for c in subs:
            p = c.recv_publish()
            assert p.payload == b"to %d" % n
    finally:
        for c in subs:
            c.abort()
    assert_broker_serves(broker.port)


def test_allow_anonymous_no(broker_factory):
    b = broker_factory("allow_anonymous no")
    c = RawClient(b.port)
    try:
        c.send(connect("anon"))
        _, got = c.expect_closed(3.0, allow=lambda p: p.type == CONNACK)
        assert len(got) == 1 and got[0].rc in (0x04, 0x05), got
    finally:
        c.close()


# --------------------------------------------------------------------------
# Signals
# --------------------------------------------------------------------------

@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["TERM", "INT"])
def test_signal_with_clients_exits_zero_within_1s(broker_factory, raw, uniq, sig):
    b = broker_factory()
    subs = [raw(b.port, "sig-%d-%s" % (i, uniq), clean=bool(i % 2)) for i in range(5)]
    for i, s in enumerate(subs):
        assert s.subscribe([("sig/#", i % 3)]) == [i % 3]
    # A client in the middle of a packet, one that never sent CONNECT, and a
    # subscriber with unacknowledged messages.
    partial = raw(b.port, "sig-partial-" + uniq)
    partial.send(publish("sig/p", b"x" * 100)[:20])
    silent = raw(b.port)
    pub = raw(b.port, "sig-pub-" + uniq)
    for i in range(10):
        pub.publish("sig/t", b"m%d" % i, qos=1, pid=i + 1)
    start = time.monotonic()
    rc = b.stop(sig, timeout=5.0)
    elapsed = time.monotonic() - start
    assert rc == 0, "exit status %r after %s" % (rc, sig.name)
    assert elapsed <= 1.2, "took %.2fs to exit after %s" % (elapsed, sig.name)
    for c in subs + [partial, silent, pub]:
        c.expect_closed(2.0, allow=lambda p: p.type == mqttraw.PUBLISH)


def test_sighup_reloads_log_level(broker_factory, raw, uniq):
    b = broker_factory("log_level info")

    def activity(tag):
        c = raw(b.port, "hup-%s-%s" % (tag, uniq))
        assert c.subscribe([("hup/" + uniq, 1)]) == [1]
        c.send(publish("hup/" + uniq, b"x", qos=1, pid=2))
        c.recv_packet()
        c.recv_packet()
        c.send(mqttraw.pingreq())
        c.recv_packet()
        c.disconnect()

    mark = b.log_mark()
    activity("before")
    dbg = [l for l in b.log_since(mark) if is_debug_line(l)]
    assert dbg == [], "debug lines at log_level info: %r" % dbg[:5]

    b.write_config(["log_level debug"])
    mark = b.log_mark()
    b.send_signal(signal.SIGHUP)
    found = []
    deadline = time.monotonic() + 4.0
    for i in range(40):
        if time.monotonic() > deadline:
            break
        activity("after%d" % i)
        found = [l for l in b.log_since(mark) if is_debug_line(l)]
        if found:
            break
    assert found, "no debug line after SIGHUP with log_level debug; log since: %r" % (
        b.log_since(mark)[-20:])
    assert b.alive()
    assert_broker_serves(b.port)


def test_sighup_reloads_limits(broker_factory, raw, uniq):
    require_agora("SIGHUP reload of limits")
    b = broker_factory()
    c = raw(b.port, "hupl-" + uniq)
    c.publish("hupl/" + uniq, b"z" * 2000, qos=1, pid=1)  # allowed by default
    b.write_config(["max_packet_size 1024"])
    mark = b.log_mark()
    b.send_signal(signal.SIGHUP)
    b.wait_log(r"reloaded", 3.0, since=mark)
    big = raw(b.port, "hupl-big-" + uniq)
    big.try_send(publish("hupl/" + uniq, b"z" * 2000))
    big.expect_closed(2.0)
    assert_broker_serves(b.port)


def test_sighup_with_bad_config_keeps_running(broker_factory, raw, uniq):
    require_agora("SIGHUP with a bad configuration")
    b = broker_factory()
    c = raw(b.port, "hupb-" + uniq)
    b.write_config(["bogus_key 1"])
    mark = b.log_mark()
    b.send_signal(signal.SIGHUP)
    line = b.wait_log(r"bogus_key", 3.0, since=mark)
    assert "reloaded" not in line or "not reloaded" in line, line
    assert b.alive()
    assert c.is_open()
    assert_broker_serves(b.port)


# --------------------------------------------------------------------------
# $SYS
# --------------------------------------------------------------------------

SYS_TOPICS = [
    "$SYS/broker/version",
    "$SYS/broker/uptime",
    "$SYS/broker/clients/connected",
    "$SYS/broker/clients/total",
    "$SYS/broker/clients/maximum",
    "$SYS/broker/messages/received",
    "$SYS/broker/messages/sent",
    "$SYS/broker/bytes/received",
    "$SYS/broker/bytes/sent",
    "$SYS/broker/subscriptions/count",
    "$SYS/broker/retained messages/count",
    "$SYS/broker/publish/messages/dropped",
]


def collect_sys(client, wanted, timeout):
    """Latest payload per $SYS topic until every wanted topic was seen."""
    seen = {}
    deadline = time.monotonic() + timeout
    for _ in range(10000):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or all(t in seen for t in wanted):
            break
        try:
            p = client.recv_publish(remaining)
        except mqttraw.NoPacket:
            break
        seen[p.topic] = p
    return seen


def test_sys_topics_published(broker_factory, raw, uniq):
    b = broker_factory("sys_interval 1")
    c = raw(b.port, "sys-" + uniq)
    assert c.subscribe([("$SYS/#", 0)]) == [0]
    seen = collect_sys(c, SYS_TOPICS, 3.5)
    missing = [t for t in SYS_TOPICS if t not in seen]
    assert not missing, "missing $SYS topics: %r (seen %r)" % (missing, sorted(seen))
    assert seen["$SYS/broker/version"].payload.strip(), "empty version"
    # Uptime keeps Mosquitto's "N seconds" so existing dashboards parse it;
    # every counter is a decimal number.
    assert re.fullmatch(rb"\d+ seconds", seen["$SYS/broker/uptime"].payload), \
        seen["$SYS/broker/uptime"].payload
    for t in SYS_TOPICS[2:]:
        v = seen[t].payload
        assert re.fullmatch(rb"\d+", v), "%s payload %r is not a decimal number" % (t, v)
    assert int(seen["$SYS/broker/clients/connected"].payload) >= 1
    assert int(seen["$SYS/broker/subscriptions/count"].payload) >= 1
    # Retained: a new subscriber gets them at once with the retain flag.
    late = raw(b.port, "sys-late-" + uniq)
    assert late.subscribe([("$SYS/broker/version", 0)]) == [0]
    p = late.recv_publish(1.0)
    assert p.topic == "$SYS/broker/version" and p.retain


def wait_sys_value(client, topic, pred, timeout):
    deadline = time.monotonic() + timeout
    values = []
    for _ in range(1000):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        try:
            p = client.recv_publish(remaining)
        except mqttraw.NoPacket:
            break
        if p.topic == topic:
            values.append(int(p.payload))
            if pred(values[-1]):
                return values
    pytest.fail("%s never satisfied the condition within %.1fs; values: %r"
                % (topic, timeout, values))


def test_sys_connected_count_reflects_clients(broker_factory, raw, uniq):
    b = broker_factory("sys_interval 1")
    t = "$SYS/broker/clients/connected"
    c = raw(b.port, "sysc-" + uniq)
    assert c.subscribe([(t, 0)]) == [0]
    others = [raw(b.port, "sysc-%d-%s" % (i, uniq)) for i in range(3)]
    wait_sys_value(c, t, lambda v: v == 4, 3.5)
    for o in others[:2]:
        o.disconnect()
    wait_sys_value(c, t, lambda v: v == 2, 3.5)
    # maximum: most clients connected at once (4). total counts at least the
    # 3 connected now (whether it means sessions or connections ever made).
    late = raw(b.port, "sysc-late-" + uniq)
    assert late.subscribe([("$SYS/broker/clients/maximum", 0)]) == [0]
    wait_sys_value(late, "$SYS/broker/clients/maximum", lambda v: v == 4, 3.5)
    assert late.subscribe([("$SYS/broker/clients/total", 0)], pid=2) == [0]
    wait_sys_value(late, "$SYS/broker/clients/total", lambda v: v >= 3, 3.5)


def test_sys_message_counters_increase(broker_factory, raw, uniq):
    b = broker_factory("sys_interval 1")
    t = "$SYS/broker/messages/received"
    c = raw(b.port, "sysm-" + uniq)
    assert c.subscribe([(t, 0)]) == [0]
    base = wait_sys_value(c, t, lambda v: True, 3.0)[-1]
    pub = raw(b.port, "sysm-pub-" + uniq)
    for i in range(20):
        pub.publish("cnt/" + uniq, b"x", qos=1, pid=i + 1)
    wait_sys_value(c, t, lambda v: v >= base + 20, 3.5)


# --------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------

def test_listening_line_per_listener(broker_factory):
    require_agora("log format")
    p1 = free_port()
    p2 = free_port(exclude=(p1,))
    b = broker_factory(listeners=["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2])
    assert b.find_log(r"listening on 127\.0\.0\.1:%d\b" % p1)
    assert b.find_log(r"listening on 127\.0\.0\.1:%d\b" % p2)


def test_connect_and_disconnect_log_lines(broker_factory, raw, uniq):
    require_agora("log format")
    b = broker_factory()

    def peer(c):
        return re.escape("127.0.0.1:%d" % c.local_port)

    def line_with(*parts, since):
        rx = "".join("(?=.*%s)" % p for p in parts)
        return b.wait_log(rx, 3.0, since=since)

    # Normal connect + DISCONNECT
    mark = b.log_mark()
    cid = "logc-" + uniq
    c = raw(b.port, cid)
    line_with(re.escape(cid), peer(c), since=mark)
    p = peer(c)
    c.disconnect()
    line_with(re.escape(cid), p, r"\bdisconnected\b", since=mark)

    # Keepalive timeout
    mark = b.log_mark()
    cid = "logk-" + uniq
    c = raw(b.port, cid, keepalive=1)
    p = peer(c)
    c.expect_closed(4.0)
    line_with(re.escape(cid), p, "keepalive timeout", since=mark)

    # Protocol error
    mark = b.log_mark()
    cid = "logp-" + uniq
    c = raw(b.port, cid)
    p = peer(c)
    c.send(mqttraw.packet(0, 0))
    c.expect_closed(3.0)
    line_with(re.escape(cid), p, "protocol error", since=mark)

    # Takeover
    mark = b.log_mark()
    cid = "logt-" + uniq
    c1 = raw(b.port, cid)
    p1 = peer(c1)
    raw(b.port, cid)
    c1.expect_closed(3.0)
    line_with(re.escape(cid), p1, "session taken over", since=mark)


# --------------------------------------------------------------------------
# Robustness
# --------------------------------------------------------------------------

def send_and_finish(port, data, timeout=3.0):
    """Sends data, half-closes, and waits (bounded) for the broker to close.
    Whatever the broker answers is ignored; it must close on EOF."""
    c = RawClient(port)
    try:
        c.try_send(data)
        try:
            c.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        c.expect_closed(timeout, allow=lambda p: True)
    finally:
        c.close()


def send_batch_and_finish(port, datas, timeout=3.0):
    conns = [RawClient(port) for _ in datas]
    try:
        for c, d in zip(conns, datas):
            c.try_send(d)
            try:
                c.sock.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        for c, d in zip(conns, datas):
            try:
                c.expect_closed(max(0.01, deadline - time.monotonic()),
                                allow=lambda p: True)
            except mqttraw.NoPacket:
                raise AssertionError("broker did not close after input %r" % d[:60])
    finally:
        for c in conns:
            c.close()


def valid_stream(rng):
    cid = "fz%d" % rng.randrange(10 ** 6)
    return (connect(cid, clean=rng.random() < 0.5, keepalive=rng.randrange(0, 100),
                    will=("fz/will", b"w", rng.randrange(3), False) if rng.random() < 0.3 else None)
            + subscribe(1, [("fz/#", rng.randrange(3)), ("fz/+/x", 1)])
            + publish("fz/a", b"p" * rng.randrange(50), qos=1, pid=2)
            + publish("fz/b/x", b"q", qos=2, pid=3)
            + mqttraw.pubrel(3)
            + mqttraw.unsubscribe(4, ["fz/#"])
            + mqttraw.pingreq())


def test_garbage_inputs_do_not_break_broker(broker, raw, uniq):
    b = broker
    watcher = raw(b.port, "fz-watch-" + uniq)
    assert watcher.subscribe([("fz-ok/" + uniq, 1)]) == [1]
    rng = random.Random(0xA60A)
    inputs = []
    for i in range(120):
        kind = i % 4
        if kind == 0:  # pure noise
            data = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        elif kind == 1:  # valid CONNECT, then noise
            data = connect("fzn%d" % i) + bytes(
                rng.randrange(256) for _ in range(rng.randrange(1, 300)))
        elif kind == 2:  # valid session cut anywhere
            s = valid_stream(rng)
            data = s[:rng.randrange(1, len(s))]
        else:  # valid session with a few bytes flipped
            s = bytearray(valid_stream(rng))
            for _ in range(rng.randrange(1, 4)):
                s[rng.randrange(len(s))] ^= 1 << rng.randrange(8)
            data = bytes(s)
        inputs.append(data)
    # Batches of 20 concurrent connections; each must be closed by the
    # broker once it has sent its bytes and half-closed.
    for i in range(0, len(inputs), 20):
        send_batch_and_finish(b.port, inputs[i:i + 20])
    assert b.alive()
    # Many at once, left open, then dropped abruptly.
    conns = []
    for i in range(20):
        c = RawClient(b.port)
        conns.append(c)
        c.try_send(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64))))
    for c in conns:
        c.abort()
    # Everyone else unaffected.
    pub = raw(b.port, "fz-pub-" + uniq)
    pub.publish("fz-ok/" + uniq, b"survived", qos=1, pid=1)
    assert watcher.recv_publish().payload == b"survived"
    assert_broker_serves(b.port)
    assert b.alive()


def test_every_truncation_of_a_valid_session(broker):
    stream = valid_stream(random.Random(7))
    # Every prefix of the stream (step keeps the test short).
    cuts = [stream[:cut] for cut in range(1, len(stream))]
    for i in range(0, len(cuts), 20):
        send_batch_and_finish(broker.port, cuts[i:i + 20])
    assert broker.alive()
    assert_broker_serves(broker.port)


def test_client_vanishing_mid_write(broker, raw, uniq):
    t = "vanish/" + uniq
    sub = RawClient(broker.port)
    sub.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sub.connect("vanish-" + uniq)
    assert sub.subscribe([(t, 0)]) == [0]
    pub = raw(broker.port, "vanish-pub-" + uniq)
    chunk = b"v" * 60000
    for i in range(40):
        pub.send(publish(t, chunk))
    sub.abort()  # RST while the broker has lots to write
    for i in range(40):
        pub.send(publish(t, chunk))
    assert pub.is_open()
    assert_broker_serves(broker.port)


def test_slow_consumer_does_not_stall_others(broker, raw, uniq):
    t = "slow/" + uniq
    slow = RawClient(broker.port)
    slow.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        slow.connect("slow-" + uniq)
        assert slow.subscribe([(t, 0)]) == [0]  # and never reads again
        fast = raw(broker.port, "fast-" + uniq)
        assert fast.subscribe([(t, 0)]) == [0]
        pub = raw(broker.port, "slowpub-" + uniq)
        n = 300
        chunk = b"s" * 10000
        start = time.monotonic()
        got = []
        for i in range(0, n, 10):
            for j in range(i, i + 10):
                pub.send(publish(t, b"%04d" % j + chunk))
            for _ in range(10):
                p = fast.recv_publish(5.0)
                got.append(int(p.payload[:4]))
        assert got == list(range(n))
        assert time.monotonic() - start < 5.0
        assert pub.is_open()
    finally:
        slow.close()
