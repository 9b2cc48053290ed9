"""The REST API and MQTT together (docs/api.md, "Over MQTT"): statuses and
messages published by the server, MQTT logins with the API's accounts, the
access rules on agora/users/#, an MQTT publish becoming a stored message,
and durability of what the API acknowledged across a SIGKILL."""

import copy
import json
import uuid

import pytest

from conftest import is_agora
from apiclient import Api, kill9, restart_on_same_data
import mqttraw
import openapi_check

# The HTTP API is Agora's own: skipped (before any broker starts) against
# Mosquitto.
pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: the HTTP API")


REFUSED = 0x80


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


def test_only_the_owner_subscribes_to_an_inbox(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    spy = Mqtt(raw, broker, carol)
    assert spy.subscribe(inbox_topic("bob"), qos=1) == [REFUSED]
    assert spy.subscribe(inbox_topic("BOB"), qos=1, pid=2) == [REFUSED]
    assert Mqtt(raw, broker, bob).subscribe(inbox_topic("bob"), qos=1) == [1]
    # A wildcard may be granted, but must not carry bob's messages to carol.
    spy.subscribe("agora/users/+/inbox", qos=1, pid=3)
    spy.subscribe("#", qos=1, pid=4)
    api.send(alice, "bob", "for bob only")
    leaked = [p for p in spy.drain() if p.topic == inbox_topic("bob")]
    assert leaked == [], "carol received bob's inbox: %r" % leaked


def test_anonymous_clients_cannot_touch_agora_users(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    anon = Mqtt(raw, broker)
    for i, f in enumerate(["agora/users/#", status_topic("alice"), inbox_topic("bob"),
                           "agora/users/+/status"]):
        assert anon.subscribe(f, qos=1, pid=10 + i) == [REFUSED], f
    # Publishes are dropped: no retained status, no message.
    anon.c.publish(status_topic("alice"), b'{"name":"alice","status":"pwned"}', qos=1,
                   retain=True, pid=20)
    anon.c.publish(status_topic("x"), b"pwned", qos=0, retain=True)
    anon.c.publish(inbox_topic("bob"), b"anonymous spam", qos=1, pid=21)
    assert anon.c.is_open()
    check = Mqtt(raw, broker, bob)
    check.subscribe(status_topic("alice"), pid=2)
    check.subscribe(status_topic("x"), pid=3)
    assert check.drain() == []
    assert api.inbox(bob)["total"] == 0
    # Only the server writes statuses: an account cannot either.
    own = Mqtt(raw, broker, alice)
    own.c.publish(status_topic("alice"), b'{"name":"alice","status":"forged"}', qos=1,
                  retain=True, pid=30)
    assert check.drain() == []
    assert api.get("/api/users/alice", expect=200).json()["status"] == ""
