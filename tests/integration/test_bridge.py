"""The REST API and MQTT together (docs/api.md, "Over MQTT"): statuses and
messages published by the server, MQTT logins with the API's accounts, the
one visibility rule of agora/users/# seen from both protocols (docs/api.md,
"Who sees what"), an MQTT publish becoming a stored message or refused with
its reason code, and durability of what the API acknowledged across a
SIGKILL."""

import copy
import json
import os
import sqlite3
import struct
import uuid

import paho.mqtt.client as paho_mqtt
import pytest

from conftest import PahoClient, is_agora, stop_paho_clients
from apiclient import Api, kill9, restart_on_same_data
import mqttraw
from mqttraw import CONNACK, PUBACK, PUBCOMP, PUBLISH, PUBREC, mqtt_str, packet, pubrel
import openapi_check
from test_scram import scram_login
from test_mqtt5 import Connack5, Raw5, Reason5, V5Client, encode_props, publish5

# The HTTP API is Agora's own: skipped (before any broker starts) against
# Mosquitto.
pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: the HTTP API")


REFUSED = 0x80            # SUBACK failure, MQTT 3.1.1
NOT_AUTHORIZED = 0x87     # MQTT 5: SUBACK, PUBACK
UNSPECIFIED_ERROR = 0x80  # MQTT 5 PUBACK: the store failed
TOPIC_NAME_INVALID = 0x90  # MQTT 5 PUBACK: no user by that name
PAYLOAD_FORMAT_INVALID = 0x99  # MQTT 5 PUBACK: not 1..message_max_length bytes of UTF-8
MESSAGE_MAX_LENGTH = 4096  # the default of message_max_length


def uniq():
    return uuid.uuid4().hex[:10]


class Mqtt:
    """A raw MQTT 3.1.1 client with a marker topic of its own, to wait for
    'everything the server sent before this point' without sleeping."""

    def __init__(self, raw, broker, account=None, password=None, client_id=None):
        kw = {}
        if account is not None:
            kw["username"] = account.name
            kw["password"] = account.password if password is None else password
        self.c = raw(broker.port, client_id or "t-" + uniq(), **kw)
        self.marker = "test/marker/" + uniq()
        assert self.c.subscribe([(self.marker, 0)], pid=100) == [0]

    def subscribe(self, topic, qos=1, pid=1):
        return self.c.subscribe([(topic, qos)], pid=pid)

    def drain(self, timeout=5.0):
        """Every PUBLISH received before a marker published now (QoS 1
        ones acknowledged)."""
        self.c.send(mqttraw.publish(self.marker, b"m"))
        return self.c.collect_until(self.marker, timeout)

    def recv(self, timeout=5.0):
        return self.c.recv_publish(timeout)


def status_topic(name):
    return "agora/users/%s/status" % name


def inbox_topic(name):
    return "agora/users/%s/inbox" % name


@pytest.fixture
def api(broker):
    a = Api(broker)
    yield a
    a.close()


# --------------------------------------------------------------------------
# HTTP -> MQTT
# --------------------------------------------------------------------------

def test_status_change_is_published_retained(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    u = api.patch("/api/users/alice", token=alice.token, json={"status": "coding"},
                  expect=200).json()
    # A subscriber that comes after the change gets it, retained.
    sub = Mqtt(raw, broker, bob)
    granted = sub.subscribe(status_topic("alice"), qos=1)
    assert granted != [REFUSED] and granted[0] in (0, 1), granted
    p = sub.recv()
    assert p.topic == status_topic("alice")
    assert p.retain, "the status is not retained: %r" % p
    assert json.loads(p.payload) == {"name": "alice", "status": "coding",
                                     "status_updated_at": u["status_updated_at"]}
    # A later change reaches the live subscriber.
    u = api.patch("/api/users/alice", token=alice.token, json={"status": "lunch \u2615"},
                  expect=200).json()
    p = sub.recv()
    assert p.topic == status_topic("alice")
    assert json.loads(p.payload.decode("utf-8")) == {
        "name": "alice", "status": "lunch \u2615", "status_updated_at": u["status_updated_at"]}
    # Nothing else came (no duplicate, no message for bob's own status).
    assert sub.drain() == []


def test_status_not_published_when_the_change_is_refused(api, broker, raw):
    api.register("alice")
    bob = api.register("bob")
    sub = Mqtt(raw, broker, bob)
    sub.subscribe(status_topic("alice"))
    api.patch("/api/users/alice", token=bob.token, json={"status": "pwned"}, expect=403)
    api.patch("/api/users/alice", token=bob.token, json={"status": "x" * 300}, expect=403)
    assert sub.drain() == []


def test_message_reaches_the_inbox_topic_at_qos1(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    sub = Mqtt(raw, broker, bob)
    assert sub.subscribe(inbox_topic("bob"), qos=1) == [1]
    m = api.send(alice, "bob", "hello bob \u00e9")
    p = sub.recv()
    assert p.topic == inbox_topic("bob")
    assert p.qos == 1, p
    assert not p.retain
    payload = json.loads(p.payload.decode("utf-8"))
    openapi_check.validate_json(api.spec, "/components/schemas/Message", payload,
                                what="inbox payload")
    assert payload == m
    # Through the other route too, and only once each.
    m2 = api.post("/api/messages", token=alice.token, json={"to": bob.id, "content": "again"},
                  expect=201).json()
    got = sub.drain()
    assert [json.loads(x.payload) for x in got] == [m2]


def test_deleting_the_user_clears_its_retained_status(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    api.patch("/api/users/alice", token=alice.token, json={"status": "leaving"}, expect=200)
    before = Mqtt(raw, broker, bob)
    before.subscribe(status_topic("alice"))
    got = before.drain()
    assert len(got) == 1 and got[0].retain and json.loads(got[0].payload)["status"] == "leaving"
    api.delete("/api/users/alice", token=alice.token, expect=204)
    after = Mqtt(raw, broker, bob)
    after.subscribe(status_topic("alice"))
    leftover = after.drain()
    assert leftover == [], "a retained status survived the user: %r" % leftover


# --------------------------------------------------------------------------
# Durability
# --------------------------------------------------------------------------

def test_acknowledged_writes_survive_kill9(broker_factory):
    b = broker_factory()
    a = Api(b)
    alice = a.register("alice")
    bob = a.register("bob")
    m = a.send(alice, "bob", "written before the crash")
    a.patch("/api/users/bob", token=bob.token, json={"status": "durable"}, expect=200)
    a.close()
    kill9(b)  # right after the answers

    b2 = restart_on_same_data(broker_factory, b)
    a2 = Api(b2)
    login = a2.login("bob")
    assert login["user"]["id"] == bob.id and login["user"]["status"] == "durable"
    assert a2.inbox(_as(bob, login["token"]))["messages"] == [m]
    # Tokens issued before the crash are still valid.
    assert a2.inbox(bob)["messages"] == [m]
    assert a2.sent(alice)["messages"] == [m]
    users = a2.get("/api/users", expect=200).json()
    assert [u["name"] for u in users["users"]] == ["alice", "bob"]
    # Ids keep counting: a new user is not given a used id.
    carol = a2.register("carol")
    assert carol.id not in (alice.id, bob.id)
    a2.close()


def _as(account, token):
    """The account with another token."""
    other = copy.copy(account)
    other.token = token
    return other


# --------------------------------------------------------------------------
# MQTT -> HTTP, accounts and access rules (being implemented)
# --------------------------------------------------------------------------

def test_mqtt_login_with_an_account(api, broker, raw):
    alice = api.register("alice")
    c = raw(broker.port)
    p = c.connect("t-" + uniq(), username="alice", password=alice.password, expect_rc=None)
    assert p.rc == 0, "CONNACK %r for the right password" % p
    assert c.is_open()
    # Names compare without regard to case, as over HTTP.
    c = raw(broker.port)
    p = c.connect("t-" + uniq(), username="ALICE", password=alice.password, expect_rc=None)
    assert p.rc == 0, p
    for user, password in (("alice", "not-the-password"), ("nobody", alice.password),
                           ("alice", "")):
        c = raw(broker.port)
        p = c.connect("t-" + uniq(), username=user, password=password, expect_rc=None)
        assert p.rc in (0x04, 0x05), "CONNACK %r for %r/%r" % (p, user, password)
        c.expect_closed()
    c = raw(broker.port)  # a username without a password
    p = c.connect("t-" + uniq(), username="alice", expect_rc=None)
    assert p.rc in (0x04, 0x05), p


def _token_connack(raw, broker, name, token):
    """The CONNACK return code of a 3.1.1 login with token as the password;
    a refused connection is closed after it."""
    c = raw(broker.port)
    p = c.connect("t-" + uniq(), username=name, password=token, expect_rc=None)
    if p.rc != 0:
        c.expect_closed()
    return p.rc, c


def test_mqtt_login_with_an_api_token(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    mark = broker.log_mark()
    rc, c = _token_connack(raw, broker, "alice", alice.token)
    assert rc == 0, "CONNACK %r for alice's own token" % rc
    broker.wait_log(r"MQTT login as 'alice': accepted \(API token\)", since=mark)
    # The login is the account's: its inbox is readable, as with the password.
    assert c.subscribe([(inbox_topic("alice"), 1)]) == [1]
    api.send(bob, "alice", "to the token's session")
    got = c.recv_publish()
    assert json.loads(got.payload.decode("utf-8"))["content"] == "to the token's session"
    # Case does not matter in the name, as with passwords.
    assert _token_connack(raw, broker, "ALICE", alice.token)[0] == 0
    # A second token (another login) works too.
    second = api.login("alice")["token"]
    assert _token_connack(raw, broker, "alice", second)[0] == 0


def test_mqtt_token_of_another_user_is_refused(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    for name, token in (("bob", alice.token), ("alice", bob.token),
                        ("nobody", alice.token), ("alice", alice.token[:-1]),
                        ("alice", alice.token + "x")):
        mark = broker.log_mark()
        rc, _ = _token_connack(raw, broker, name, token)
        assert rc in (0x04, 0x05), "CONNACK %r for %r with %r" % (rc, name, token)
        broker.wait_log(r"MQTT login as '%s': refused" % name, since=mark)


def test_mqtt_token_refused_after_logout(api, broker, raw):
    alice = api.register("alice")
    other = api.login("alice")["token"]
    assert _token_connack(raw, broker, "alice", alice.token)[0] == 0
    api.post("/api/logout", token=alice.token, expect=204)
    rc, _ = _token_connack(raw, broker, "alice", alice.token)
    assert rc in (0x04, 0x05), "CONNACK %r for a revoked token" % rc
    # Only that token was revoked; the password still logs in.
    assert _token_connack(raw, broker, "alice", other)[0] == 0
    assert _token_connack(raw, broker, "alice", alice.password)[0] == 0


def test_mqtt_token_refused_once_its_user_is_deleted(api, broker, raw):
    alice = api.register("alice")
    api.delete("/api/users/%d" % alice.id, token=alice.token, expect=204)
    rc, _ = _token_connack(raw, broker, "alice", alice.token)
    assert rc in (0x04, 0x05), "CONNACK %r for a deleted user's token" % rc


def _scram_rows(broker, user_id):
    db = sqlite3.connect(os.path.join(broker.data_dir, "agora.db"), timeout=5)
    try:
        return db.execute("SELECT COUNT(*) FROM user_scram WHERE user_id = ?",
                          (user_id,)).fetchone()[0]
    finally:
        db.close()


def test_mqtt_token_login_derives_no_scram_credentials(api, broker, raw):
    """SCRAM credentials come from passwords: a token login must not derive
    them from the token (SCRAM with the token would then work)."""
    alice = api.register("alice")
    # An account without credentials yet (registered before SCRAM existed),
    # made from outside as the store-failure test below does.
    db = sqlite3.connect(os.path.join(broker.data_dir, "agora.db"), timeout=5)
    try:
        db.execute("DELETE FROM user_scram WHERE user_id = ?", (alice.id,))
        db.commit()
    finally:
        db.close()
    assert _token_connack(raw, broker, "alice", alice.token)[0] == 0
    assert _scram_rows(broker, alice.id) == 0
    assert scram_login(broker.port, "alice", alice.token)[0] != 0
    # A password login derives them, as before.
    c = raw(broker.port)
    assert c.connect("t-" + uniq(), username="alice", password=alice.password).rc == 0
    assert _scram_rows(broker, alice.id) == 1
    assert scram_login(broker.port, "alice", alice.password)[0] == 0


def test_mqtt_publish_to_an_inbox_creates_a_message(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    sub = Mqtt(raw, broker, bob)
    assert sub.subscribe(inbox_topic("bob"), qos=1) == [1]
    pub = Mqtt(raw, broker, alice)
    text = "hello over MQTT \u2713"
    pub.c.publish(inbox_topic("bob"), text.encode("utf-8"), qos=1, pid=7)
    inbox = api.inbox(bob)
    assert inbox["total"] == 1, inbox
    m = inbox["messages"][0]
    assert (m["from"], m["from_id"], m["to"], m["content"]) == ("alice", alice.id, "bob", text)
    assert api.sent(alice)["messages"] == [m]
    # bob's subscriber gets it once, as the JSON message, not as raw text.
    got = sub.drain()
    assert len(got) == 1, got
    assert got[0].qos == 1
    assert json.loads(got[0].payload.decode("utf-8")) == m



# --------------------------------------------------------------------------
# One visibility rule (docs/api.md, "Who sees what"), from both protocols
# --------------------------------------------------------------------------

def connect5_packet(client_id, name=None, password=None):
    """An MQTT 5 CONNECT, with a username and password when name is given."""
    flags = 0x02
    payload = mqtt_str(client_id)
    if name is not None:
        flags |= 0xC0
        payload += mqtt_str(name) + mqtt_str(password)
    var = mqtt_str(b"MQTT") + bytes([5, flags]) + struct.pack("!H", 60)
    return packet(mqttraw.CONNECT, 0, var + encode_props(()) + payload)


@pytest.fixture
def mqtt5(broker):
    """mqtt5(account=None) -> a raw MQTT 5 client (test_mqtt5.Raw5) logged in
    as the account, anonymous without one; closed at teardown. Its
    publishes() is the barrier: a PINGREQ round trip returns every PUBLISH
    the server queued for it before."""
    clients = []

    def make(account=None):
        c = Raw5(broker.port)
        clients.append(c)
        login = (account.name, account.password) if account else ()
        c.send(connect5_packet("t5-" + uniq(), *login))
        ack = Connack5(c.expect(CONNACK))
        assert ack.rc == 0, ack
        return c

    yield make
    for c in clients:
        c.close()


@pytest.fixture
def paho_any(broker):
    """paho_any(version) -> an anonymous paho-mqtt client speaking MQTT
    "3.1.1" or "5", connected; stopped at teardown."""
    clients = []

    def make(version):
        c = PahoClient(broker.port) if version == "3.1.1" else V5Client(broker.port)
        clients.append(c)
        c.connect()
        return c

    yield make
    stop_paho_clients(clients)


def test_statuses_are_public_over_http_messages_are_not(api):
    alice = api.register("alice")
    bob = api.register("bob")
    api.patch("/api/users/alice", token=alice.token, json={"status": "coding"}, expect=200)
    # No token: every user with its status.
    users = api.get("/api/users", expect=200).json()["users"]
    assert {u["name"]: u["status"] for u in users} == {"alice": "coding", "bob": ""}
    assert api.get("/api/users/alice", expect=200).json()["status"] == "coding"
    assert api.get("/api/users/%d" % alice.id, expect=200).json()["status"] == "coding"
    # Messages need the token, and only their owner's.
    api.send(alice, "bob", "private")
    api.get("/api/messages", expect=401)
    api.get("/api/messages/sent", expect=401)
    api.post("/api/users/bob/messages", json={"content": "anonymous"}, expect=401)
    assert api.inbox(bob)["total"] == 1
    assert api.inbox(alice)["total"] == 0


def test_anonymous_raw_client_gets_statuses_retained_and_live(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    api.patch("/api/users/alice", token=alice.token, json={"status": "coding"}, expect=200)
    api.patch("/api/users/bob", token=bob.token, json={"status": "away"}, expect=200)
    anon = Mqtt(raw, broker)
    assert anon.subscribe("agora/users/+/status", qos=1) == [1]
    got = anon.drain()
    assert sorted((p.topic, p.retain, json.loads(p.payload)["status"]) for p in got) == [
        (status_topic("alice"), True, "coding"), (status_topic("bob"), True, "away")]
    # A change made over HTTP arrives live (retain 0 on a live delivery).
    api.patch("/api/users/alice", token=alice.token, json={"status": "lunch"}, expect=200)
    got = anon.drain()
    assert [(p.topic, p.retain, json.loads(p.payload)["status"]) for p in got] == [
        (status_topic("alice"), False, "lunch")]
    # One user's status, directly.
    other = Mqtt(raw, broker)
    assert other.subscribe(status_topic("bob"), qos=0) == [0]
    assert [json.loads(p.payload)["status"] for p in other.drain()] == ["away"]


@pytest.mark.parametrize("version", ["3.1.1", "5"])
def test_anonymous_paho_client_gets_statuses(api, paho_any, version):
    alice = api.register("alice")
    api.patch("/api/users/alice", token=alice.token, json={"status": "coding"}, expect=200)
    c = paho_any(version)
    marker = "test/marker/" + uniq()
    assert c.subscribe("agora/users/+/status", qos=1) == [1]
    assert c.subscribe(marker, qos=0) == [0]
    m = c.get()
    assert (m.topic, m.retain, json.loads(m.payload)["status"]) == (
        status_topic("alice"), 1, "coding")
    u = api.patch("/api/users/alice", token=alice.token, json={"status": "home"},
                  expect=200).json()
    m = c.get()
    assert (m.topic, m.retain) == (status_topic("alice"), 0)
    assert json.loads(m.payload) == {"name": "alice", "status": "home",
                                     "status_updated_at": u["status_updated_at"]}
    c.publish(marker, b"m", qos=0)
    assert c.get_until(marker) == []


def test_reads_after_mqtt_writes_and_status_changes(api, broker, raw):
    # What the bridge stores (an MQTT publish to an inbox) and a status
    # change both show in the next GETs, which the user cache answers.
    alice = api.register("alice")
    bob = api.register("bob")
    watcher = Mqtt(raw, broker, alice)
    assert watcher.subscribe(status_topic("bob"), qos=1) == [1]
    bob_url = "/api/users/%d" % bob.id
    u = bob.user
    assert api.get(bob_url, expect=200).json() == u
    pub = Mqtt(raw, broker, alice)
    for i in range(3):
        pub.c.publish(inbox_topic("bob"), b"note %d" % i, qos=1, pid=10 + i)
        inbox = api.inbox(bob)
        assert inbox["total"] == i + 1 and inbox["messages"][0]["content"] == "note %d" % i
        assert api.get(bob_url, expect=200).json() == u  # messages leave users be
        u = api.patch(bob_url, token=bob.token, json={"status": "read %d" % i},
                      expect=200).json()
        got = api.get(bob_url, expect=200).json()
        assert got == u and got["status"] == "read %d" % i
        # The status published over MQTT is the one the API answers.
        published = [p for p in watcher.drain() if p.topic == status_topic("bob")]
        assert published, "no status published"
        doc = json.loads(published[-1].payload.decode("utf-8"))
        assert (doc["status"], doc["status_updated_at"]) == (got["status"],
                                                             got["status_updated_at"])


def test_inbox_stays_with_its_owner(api, broker, raw, mqtt5):
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    owner = Mqtt(raw, broker, bob)
    assert owner.subscribe(inbox_topic("bob"), qos=1) == [1]
    anon, spy = Mqtt(raw, broker), Mqtt(raw, broker, carol)
    anon5, spy5 = mqtt5(), mqtt5(carol)
    # A filter that can match only bob's inbox is refused to anyone else,
    # however the name is spelled.
    for c in (anon, spy):
        assert c.subscribe(inbox_topic("bob"), pid=2) == [REFUSED]
        assert c.subscribe(inbox_topic("BOB"), pid=3) == [REFUSED]
        assert c.subscribe(inbox_topic("bob") + "/#", pid=4) == [REFUSED]
    for c in (anon5, spy5):
        assert c.subscribe5([(inbox_topic("bob"), 1)], pid=2) == [NOT_AUTHORIZED]
    assert anon.subscribe("agora/users/+/inbox", pid=5) == [REFUSED]  # no inbox of its own
    # Broad filters are granted, then filtered message by message.
    wide = ["#", "agora/#", "agora/users/#", "+/users/+/+"]
    for c in (anon, spy):
        assert c.c.subscribe([(f, 1) for f in wide], pid=6) == [1, 1, 1, 1]
    assert spy.subscribe("agora/users/+/inbox", pid=7) == [1]  # carol's own is among them
    for c in (anon5, spy5):
        assert c.subscribe5([(f, 1) for f in wide], pid=3) == [1, 1, 1, 1]
    # bob gets a message sent over HTTP and one sent over MQTT.
    m1 = api.send(alice, "bob", "for bob only")
    Mqtt(raw, broker, alice).c.publish(inbox_topic("bob"), b"also for bob", qos=1, pid=9)
    api.patch("/api/users/alice", token=alice.token, json={"status": "seen"}, expect=200)
    got = owner.drain()
    assert [json.loads(p.payload)["content"] for p in got] == ["for bob only", "also for bob"]
    assert json.loads(got[0].payload) == m1
    # The others got the status through their wildcards, and nothing of bob's
    # ('#' also brings the other test clients' markers: not counted).
    for name, got in (("anonymous 3.1.1", anon.drain()), ("carol 3.1.1", spy.drain()),
                      ("anonymous 5", anon5.publishes()), ("carol 5", spy5.publishes())):
        topics = [p.topic for p in got if p.topic.startswith("agora/")]
        assert topics == [status_topic("alice")], "%s received %r" % (name, topics)


def test_shared_subscription_does_not_leak_an_inbox(api, broker, raw):
    """A shared subscription's copy goes to one member that may read it:
    bob's inbox reaches bob through his group, never the anonymous member
    of the same group, nor carol's group of her own."""
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    anon, spy, owner = Mqtt(raw, broker), Mqtt(raw, broker, carol), Mqtt(raw, broker, bob)
    assert anon.subscribe("$share/g/#", qos=1) == [1]
    assert owner.subscribe("$share/g/#", qos=1) == [1]
    assert spy.subscribe("$share/h/agora/users/#", qos=1) == [1]
    for n in range(3):  # round robin would give the anonymous member a turn
        api.send(alice, "bob", "for bob only %d" % n)
    got = [json.loads(p.payload)["content"] for p in owner.drain()
           if p.topic == inbox_topic("bob")]
    assert got == ["for bob only 0", "for bob only 1", "for bob only 2"]
    leaked = [(who, p.topic) for who, c in (("anonymous", anon), ("carol", spy))
              for p in c.drain() if p.topic == inbox_topic("bob")]
    assert leaked == []


def test_a_session_stays_with_its_account(api, broker, raw):
    """A persistent session holds what its account may read (bob's inbox
    queued while he is away): another account, or an anonymous client,
    using the same client identifier is refused (CONNACK 0x05; MQTT 5
    0x87) whether it would resume the session, take over its connection or
    wipe it with a clean start, and bob gets his message."""
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    cid = "bobdev-" + uniq()
    c = raw(broker.port, cid, clean=False, username="bob", password=bob.password)
    assert c.subscribe([(inbox_topic("bob"), 1)]) == [1]
    c.disconnect()
    api.send(alice, "bob", "for bob only")
    attempts = [dict(), dict(username="carol", password=carol.password)]
    for kw in attempts:
        for clean in (False, True):
            c = mqttraw.RawClient(broker.port)
            try:
                ack = c.connect(cid, clean=clean, expect_rc=None, **kw)
                assert ack.rc == 0x05, (kw.get("username", "anonymous"), clean, ack.rc)
                c.expect_closed()
            finally:
                c.close()
    c5 = Raw5(broker.port)
    try:
        assert c5.connect5(cid, clean_start=False, expect_rc=None).rc == NOT_AUTHORIZED
    finally:
        c5.close()
    owner = raw(broker.port, cid, clean=False, username="bob", password=bob.password)
    p = owner.recv_publish()
    assert (p.topic, json.loads(p.payload)["content"]) == (inbox_topic("bob"), "for bob only")
    # Online now: carol's CONNECT with his id does not take the connection over.
    c = mqttraw.RawClient(broker.port)
    try:
        assert c.connect(cid, username="carol", password=carol.password,
                         expect_rc=None).rc == 0x05
    finally:
        c.close()
    api.send(alice, "bob", "still here")
    p = owner.recv_publish()
    assert json.loads(p.payload)["content"] == "still here"


def test_nobody_publishes_a_status_or_a_raw_inbox_message(api, broker, raw, mqtt5):
    alice = api.register("alice")
    bob = api.register("bob")
    check = Mqtt(raw, broker, bob)
    check.subscribe("agora/users/#", qos=1, pid=2)
    forged = b'{"name":"alice","status":"forged"}'
    mark = broker.log_mark()
    # MQTT 3.1.1: acknowledged (there is no code to refuse with), dropped.
    for who in (None, alice):
        c = Mqtt(raw, broker, who)
        c.c.publish(status_topic("alice"), forged, qos=1, retain=True, pid=20)
        c.c.publish(status_topic("x"), b"forged", qos=0, retain=True)
        assert c.c.is_open()
    Mqtt(raw, broker).c.publish(inbox_topic("bob"), b"anonymous spam", qos=1, pid=21)
    # MQTT 5: PUBACK 0x87.
    for who in (None, alice):
        c = mqtt5(who)
        assert c.publish5(status_topic("alice"), forged, pid=1, retain=True).rc == \
            NOT_AUTHORIZED
    assert mqtt5().publish5(inbox_topic("bob"), b"anonymous spam", pid=2).rc == \
        NOT_AUTHORIZED
    broker.wait_log(r"PUBLISH on 'agora/users/alice/status' dropped: not authorized",
                    since=mark)
    # A will cannot write there either: a forged message "from carol" to
    # bob's inbox would otherwise reach him raw when alice's connection drops.
    will = (inbox_topic("bob"), b'{"from":"carol","content":"forged"}', 1, False)
    c = raw(broker.port)
    c.connect("will-" + uniq(), username="alice", password=alice.password, will=will)
    broker.wait_log(r"will on 'agora/users/bob/inbox' ignored: not authorized", since=mark)
    c.drop()
    assert check.drain() == []
    assert api.inbox(bob)["total"] == 0
    assert api.get("/api/users/alice", expect=200).json()["status"] == ""
    fresh = Mqtt(raw, broker, bob)  # nothing was retained either
    fresh.subscribe("agora/users/#", qos=1, pid=2)
    assert fresh.drain() == []


# --------------------------------------------------------------------------
# An MQTT write to an inbox refused: its reason code (MQTT 5), the log (3.1.1)
# --------------------------------------------------------------------------

REFUSED_WRITES = [  # (to, payload, MQTT 5 reason code, what the log says)
    ("bob", b"\xff\xfe not UTF-8", PAYLOAD_FORMAT_INVALID, "UTF-8 text"),
    ("bob", b"", PAYLOAD_FORMAT_INVALID, "UTF-8 text"),
    ("bob", b"nul \x00 inside", PAYLOAD_FORMAT_INVALID, "UTF-8 text"),
    ("bob", b"x" * (MESSAGE_MAX_LENGTH + 1), PAYLOAD_FORMAT_INVALID, "UTF-8 text"),
    ("nobody", b"hello", TOPIC_NAME_INVALID, "no such user"),
    ("n" * 80, b"hello", TOPIC_NAME_INVALID, "no such user"),
]


def test_mqtt5_inbox_publish_reason_codes_qos1(api, broker, raw, mqtt5):
    alice = api.register("alice")
    bob = api.register("bob")
    owner = Mqtt(raw, broker, bob)
    owner.subscribe(inbox_topic("bob"), qos=1)
    c = mqtt5(alice)
    for pid, (to, payload, rc, _) in enumerate(REFUSED_WRITES, start=1):
        ack = c.publish5(inbox_topic(to), payload, qos=1, pid=pid)
        assert ack.rc == rc, "%r to %s: %r" % (payload[:20], to[:20], ack)
    assert owner.drain() == []
    assert api.inbox(bob)["total"] == 0
    # What is accepted is 0x00 (not 0x10: it was stored, subscribers or not),
    # the longest content included, and to a name spelled otherwise.
    longest = "é" * (MESSAGE_MAX_LENGTH // 2)
    assert c.publish5(inbox_topic("bob"), longest.encode("utf-8"), pid=50).rc == 0x00
    assert c.publish5(inbox_topic("BOB"), b"hi", pid=51).rc == 0x00
    assert c.publish5(inbox_topic("alice"), b"note to self", pid=52).rc == 0x00
    assert [m["content"] for m in api.inbox(bob)["messages"]] == ["hi", longest]
    assert [json.loads(p.payload)["content"] for p in owner.drain()] == [longest, "hi"]
    assert api.inbox(alice)["total"] == 1


@pytest.mark.parametrize("to,payload,rc", [
    ("bob", b"\xff\xfe not UTF-8", PAYLOAD_FORMAT_INVALID),
    ("nobody", b"hello", TOPIC_NAME_INVALID),
], ids=["bad-content-0x99", "unknown-user-0x90"])
def test_mqtt5_refused_qos2_inbox_publish_ends_the_flow(api, broker, mqtt5, to, payload, rc):
    alice = api.register("alice")
    bob = api.register("bob")
    c = mqtt5(alice)
    c.send(publish5(inbox_topic(to), payload, qos=2, pid=5))
    ack = Reason5(c.expect(PUBREC))
    assert (ack.pid, ack.rc) == (5, rc), ack
    # The flow ended there: no PUBREL, and the same id at once is a new
    # message (not a resend of the refused one), stored exactly once.
    c.send(publish5(inbox_topic("bob"), b"second try", qos=2, pid=5))
    ack = Reason5(c.expect(PUBREC))
    assert (ack.pid, ack.rc) == (5, 0x00), ack
    c.send(publish5(inbox_topic("bob"), b"second try", qos=2, pid=5))  # a resend
    ack = Reason5(c.expect(PUBREC))
    assert (ack.pid, ack.rc) == (5, 0x00), ack
    c.send(pubrel(5))
    done = Reason5(c.expect(PUBCOMP))
    assert (done.pid, done.rc) == (5, 0x00), done
    assert c.sync() == []
    assert [m["content"] for m in api.inbox(bob)["messages"]] == ["second try"]


def test_mqtt5_inbox_publish_from_a_deleted_account_0x87(api, broker, mqtt5):
    alice = api.register("alice")
    bob = api.register("bob")
    c = mqtt5(alice)
    api.delete("/api/users/alice", token=alice.token, expect=204)
    mark = broker.log_mark()
    assert c.publish5(inbox_topic("bob"), b"from beyond", pid=1).rc == NOT_AUTHORIZED
    broker.wait_log(r"MQTT message from alice to 'bob' refused \(reason code 0x87\)",
                    since=mark)
    assert api.inbox(bob)["total"] == 0


def test_mqtt5_inbox_publish_store_failure_0x80(api, broker, mqtt5):
    alice = api.register("alice")
    api.register("bob")
    c = mqtt5(alice)
    # Break the database from outside, as tests/unit/test_api.c does.
    db = sqlite3.connect(os.path.join(broker.data_dir, "agora.db"), timeout=5)
    try:
        db.execute("DROP TABLE messages")
        db.commit()
    finally:
        db.close()
    mark = broker.log_mark()
    assert c.publish5(inbox_topic("bob"), b"lost", pid=1).rc == UNSPECIFIED_ERROR
    broker.wait_log(r"MQTT message from alice to 'bob' refused \(reason code 0x80\)",
                    since=mark)
    assert c.publish5("some/topic", b"still served", pid=2).rc == 0x10


def test_mqtt311_refused_inbox_publishes_acknowledged_and_logged(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    owner = Mqtt(raw, broker, bob)
    owner.subscribe(inbox_topic("bob"), qos=1)
    c = Mqtt(raw, broker, alice)
    for i, (to, payload, rc, why) in enumerate(REFUSED_WRITES):
        qos = i % 3  # each QoS in turn; QoS 1 and 2 complete their flows
        mark = broker.log_mark()
        c.c.publish(inbox_topic(to), payload, qos=qos, pid=30 + i if qos else None)
        line = broker.wait_log(r"MQTT message from alice to '%s' refused \(reason code "
                               r"0x%02x\): .*%s" % (to[:64], rc, why), since=mark)
        assert "alice" in line
    assert c.c.is_open()
    assert owner.drain() == []
    assert api.inbox(bob)["total"] == 0
