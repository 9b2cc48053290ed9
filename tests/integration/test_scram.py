"""MQTT 5 enhanced authentication with SCRAM-SHA-256 against the REST API's
accounts (docs/api.md "Over MQTT", src/server/scram.c), end to end: an
account registered over HTTP, then a raw MQTT 5 client doing RFC 5802's
exchange (client written here with hashlib/hmac, independent of the C)."""

import base64
import hashlib
import hmac
import os
import struct

import pytest
import requests

import mqttraw
from mqttraw import CONNACK, RawClient, mqtt_str, packet, varint
from conftest import require_agora

AUTH = 15
METHOD = b"SCRAM-SHA-256"


def props(*items):
    """An MQTT 5 property block from (identifier, encoded value) pairs."""
    body = b"".join(bytes([pid]) + value for pid, value in items)
    return varint(len(body)) + body


def connect5(client_id, auth_data):
    var = mqtt_str("MQTT") + bytes([5, 0x02]) + struct.pack("!H", 60)
    var += props((0x15, mqtt_str(METHOD)), (0x16, mqtt_str(auth_data)))
    return packet(mqttraw.CONNECT, 0, var + mqtt_str(client_id))


def auth_packet(reason, auth_data):
    return packet(AUTH, 0, bytes([reason]) + props((0x15, mqtt_str(METHOD)),
                                                    (0x16, mqtt_str(auth_data))))


def read_props(body):
    """{identifier: raw value bytes} of a property block at body's start."""
    length, i, shift = 0, 0, 0
    while True:
        b = body[i]
        length |= (b & 0x7F) << shift
        i += 1
        shift += 7
        if not b & 0x80:
            break
    out, p, end = {}, i, i + length
    while p < end:
        pid = body[p]
        p += 1
        if pid in (0x15, 0x16, 0x1F):  # strings / binary data
            n = struct.unpack("!H", body[p:p + 2])[0]
            out[pid] = body[p + 2:p + 2 + n]
            p += 2 + n
        elif pid in (0x21, 0x22, 0x13):
            p += 2
        elif pid in (0x11, 0x27):
            p += 4
        else:  # one-byte properties
            p += 1
    return out


def register(broker, name, password):
    r = requests.post(broker.http_url + "/api/users",
                      json={"name": name, "password": password}, timeout=10)
    assert r.status_code == 201, r.text


def scram_login(port, user, password, tamper=False):
    """Runs the exchange; returns (CONNACK reason code, server-final or None,
    expected server signature)."""
    c = RawClient(port)
    cnonce = base64.b64encode(os.urandom(18)).decode()
    first_bare = "n=%s,r=%s" % (user, cnonce)
    c.send(connect5("scram-" + user, ("n,," + first_bare).encode()))
    p = c.recv_packet()
    if p.type == CONNACK:  # refused at once
        return p.body[1], None, None
    assert p.type == AUTH and p.body[0] == 0x18, p
    server_first = read_props(p.body[1:])[0x16].decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(cnonce) and len(attrs["r"]) > len(cnonce)
    salt, iterations = base64.b64decode(attrs["s"]), int(attrs["i"])
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    final_wo_proof = "c=biws,r=%s" % attrs["r"]
    auth_msg = ",".join([first_bare, server_first, final_wo_proof]).encode()
    sig = hmac.new(stored_key, auth_msg, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, sig))
    if tamper:
        proof = bytes([proof[0] ^ 1]) + proof[1:]
    c.send(auth_packet(0x18, (final_wo_proof + ",p=" +
                              base64.b64encode(proof).decode()).encode()))
    ack = c.expect(CONNACK)
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    want = "v=" + base64.b64encode(
        hmac.new(server_key, auth_msg, hashlib.sha256).digest()).decode()
    final = read_props(ack.body[2:]).get(0x16) if len(ack.body) > 2 else None
    c.close()
    return ack.body[1], final.decode() if final else None, want


def test_scram_login_with_an_http_account(broker):
    require_agora("SCRAM-SHA-256 against the REST API's accounts")
    register(broker, "sam", "scram-secret")
    rc, final, want = scram_login(broker.port, "sam", "scram-secret")
    assert rc == 0x00
    assert final == want  # the server proves it knows the key too
    broker.wait_log(r"client scram-sam connected .* as sam", 5)


def test_scram_wrong_password_refused(broker):
    require_agora("SCRAM-SHA-256 against the REST API's accounts")
    register(broker, "sam", "scram-secret")
    rc, final, _ = scram_login(broker.port, "sam", "not-the-secret")
    assert rc == 0x87 and final is None
    rc, _, _ = scram_login(broker.port, "sam", "scram-secret", tamper=True)
    assert rc == 0x87


def test_scram_unknown_user_looks_like_a_wrong_password(broker):
    # The first step answers with a salt as for a real account; the refusal
    # comes at the proof, so names cannot be probed.
    require_agora("SCRAM-SHA-256 against the REST API's accounts")
    rc, final, _ = scram_login(broker.port, "nobody", "whatever-pass")
    assert rc == 0x87 and final is None


def test_scram_account_gets_its_access_rules(broker, raw):
    # Logged in through SCRAM, the client acts as its account: it may
    # subscribe to its own inbox (anonymous clients may not).
    require_agora("SCRAM-SHA-256 against the REST API's accounts")
    register(broker, "sam", "scram-secret")
    c = RawClient(broker.port)
    cnonce = "abcdefghijklmnop"
    first_bare = "n=sam,r=" + cnonce
    c.send(connect5("scram-acl", ("n,," + first_bare).encode()))
    p = c.expect(AUTH)
    server_first = read_props(p.body[1:])[0x16].decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    salted = hashlib.pbkdf2_hmac("sha256", b"scram-secret", base64.b64decode(attrs["s"]),
                                 int(attrs["i"]))
    ck = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    fw = "c=biws,r=" + attrs["r"]
    am = ",".join([first_bare, server_first, fw]).encode()
    sig = hmac.new(hashlib.sha256(ck).digest(), am, hashlib.sha256).digest()
    c.send(auth_packet(0x18, (fw + ",p=" + base64.b64encode(
        bytes(a ^ b for a, b in zip(ck, sig))).decode()).encode()))
    assert c.expect(CONNACK).body[1] == 0
    # SUBSCRIBE (MQTT 5: empty property block) to its own inbox: granted.
    body = struct.pack("!H", 1) + varint(0) + mqtt_str("agora/users/sam/inbox") + b"\x01"
    c.send(packet(mqttraw.SUBSCRIBE, 2, body))
    ack = c.expect(mqttraw.SUBACK)
    assert ack.body[-1] == 0x01, ack
    c.close()
