"""Polls over MQTT (docs/api.md, "Over MQTT" and "Voting over MQTT"): the
results retained on agora/polls/{id}/results and kept exact whichever way
a vote came (coalesced under a burst, republished when a poll expires and
when the server starts again), votes published on agora/polls/{id}/vote
with their reason codes and Reason Strings (MQTT 5) and their notices on
agora/users/{name}/notices, and the access rule of those topics: only the
server writes results and notices, nobody reads votes or another's
notices."""

import datetime
import json
import struct
import uuid

import pytest

import mqttraw
from apiclient import Api, RawHttp, build_request, restart_on_same_data
from conftest import PahoClient, is_agora, stop_paho_clients
from mqttraw import CONNACK, PUBCOMP, PUBLISH, PUBREC, mqtt_str, packet, pubrel
from test_mqtt5 import (REASON_STRING, REQUEST_PROBLEM_INFO, Connack5, Raw5, Reason5,
                        encode_props, publish5)

pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: polls")

REFUSED = 0x80            # SUBACK failure, MQTT 3.1.1
SUCCESS = 0x00
STORE_FAILED = 0x80       # Unspecified error
POLL_CLOSED = 0x83        # Implementation specific error
NOT_AUTHORIZED = 0x87
NO_SUCH_POLL = 0x90       # Topic Name invalid
ALREADY_VOTED = 0x97      # Quota exceeded
BAD_OPTION = 0x99         # Payload format invalid

OPTIONS = ["été", "hiver"]


def uniq():
    return uuid.uuid4().hex[:10]


def results_topic(poll_id):
    return "agora/polls/%s/results" % poll_id


def vote_topic(poll_id):
    return "agora/polls/%s/vote" % poll_id


def notices_topic(name):
    return "agora/users/%s/notices" % name


def iso_in(seconds):
    """A time `seconds` from now as the API writes times."""
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=seconds)
    return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)


def counts(poll):
    return {o["label"]: o["votes"] for o in poll["options"]}


class Mqtt:
    """A raw MQTT 3.1.1 client with a marker topic of its own, to collect
    'everything the server sent before this point' without sleeping."""

    def __init__(self, raw, broker, account=None):
        kw = {}
        if account is not None:
            kw = {"username": account.name, "password": account.password}
        self.c = raw(broker.port, "t-" + uniq(), **kw)
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


def connect5_packet(client_id, account=None, props=()):
    flags = 0x02
    payload = mqtt_str(client_id)
    if account is not None:
        flags |= 0xC0
        payload += mqtt_str(account.name) + mqtt_str(account.password)
    var = mqtt_str(b"MQTT") + bytes([5, flags]) + struct.pack("!H", 60)
    return packet(mqttraw.CONNECT, 0, var + encode_props(props) + payload)


@pytest.fixture
def api(broker):
    a = Api(broker)
    yield a
    a.close()


@pytest.fixture
def mqtt5(broker):
    """mqtt5(account=None, props=()) -> a raw MQTT 5 client (Raw5) logged in
    as the account, anonymous without one; closed at teardown."""
    clients = []

    def make(account=None, props=()):
        c = Raw5(broker.port)
        clients.append(c)
        c.send(connect5_packet("t5-" + uniq(), account, props))
        ack = Connack5(c.expect(CONNACK))
        assert ack.rc == 0, ack
        return c

    yield make
    for c in clients:
        c.close()


def create_poll(api, creator, options=OPTIONS, question="Été ou hiver ?", **extra):
    body = dict({"question": question, "options": options}, **extra)
    return api.post("/api/polls", token=creator.token, json=body, expect=201).json()


def get_poll(api, poll_id):
    return api.get("/api/polls/%d" % poll_id, expect=200).json()


def vote_rest(api, voter, poll_id, option):
    return api.post("/api/polls/%d/votes" % poll_id, token=voter.token,
                    json={"option": option}, expect=201).json()


def results_of(publishes, poll_id):
    return [json.loads(p.payload.decode("utf-8")) for p in publishes
            if p.topic == results_topic(poll_id)]


# --------------------------------------------------------------------------
# Results: retained, exact, published by the server
# --------------------------------------------------------------------------

def test_results_retained_and_updated_on_rest_votes(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    poll = create_poll(api, alice)
    pid = poll["id"]
    # Anyone who may connect reads them: an anonymous client here.
    watcher = Mqtt(raw, broker)
    assert watcher.subscribe(results_topic(pid)) == [1]
    first = watcher.recv()
    assert first.retain and first.topic == results_topic(pid)
    assert json.loads(first.payload) == get_poll(api, pid)
    assert json.loads(first.payload)["total"] == 0

    answer = vote_rest(api, bob, pid, "hiver")
    p = watcher.recv()
    assert (p.topic, p.qos, p.retain) == (results_topic(pid), 1, False)  # live delivery
    live = json.loads(p.payload.decode("utf-8"))
    assert live == answer["results"] == get_poll(api, pid)
    assert counts(live) == {"été": 0, "hiver": 1} and live["total"] == 1
    vote_rest(api, alice, pid, 1)
    assert counts(json.loads(watcher.recv().payload)) == {"été": 1, "hiver": 1}
    assert watcher.drain() == []  # one publish per vote here, nothing else

    # A subscriber that comes later gets the last one, retained.
    late = Mqtt(raw, broker, bob)
    assert late.subscribe("agora/polls/+/results") == [1]
    got = late.drain()
    assert [(p.topic, p.retain) for p in got] == [(results_topic(pid), True)]
    assert json.loads(got[0].payload) == get_poll(api, pid)


def test_results_follow_create_and_close(api, broker, raw):
    alice = api.register("alice")
    watcher = Mqtt(raw, broker)
    assert watcher.subscribe("agora/polls/+/results") == [1]
    poll = create_poll(api, alice, options=["a", "b", "c"], question="Which?")
    got = results_of(watcher.drain(), poll["id"])
    assert got == [poll] and got[0]["open"] is True
    closed = api.post("/api/polls/%d/close" % poll["id"], token=alice.token,
                      expect=200).json()
    got = results_of(watcher.drain(), poll["id"])
    assert got == [closed] and got[0]["open"] is False and got[0]["closed_at"]


def test_burst_of_votes_is_coalesced(api, broker, raw):
    """Votes that the server handles in one loop turn give one publish:
    here 40 pipelined requests on one connection, which the server reads
    together. Fewer publishes than votes, and the last one exact."""
    n = 40
    alice = api.register("alice")
    voters = [api.register("v%02d" % i) for i in range(n)]
    poll = create_poll(api, alice)
    pid = poll["id"]
    watcher = Mqtt(raw, broker)
    watcher.subscribe(results_topic(pid))
    assert results_of(watcher.drain(), pid) == [poll]  # the retained one

    burst = b"".join(
        build_request("POST", "/api/polls/%d/votes" % pid,
                      json.dumps({"option": OPTIONS[i % 2]}),
                      {"Authorization": "Bearer " + v.token})
        for i, v in enumerate(voters))
    with RawHttp(broker) as h:
        h.send(burst)
        statuses = [h.read_response(timeout=10).status_code for _ in voters]
    assert statuses == [201] * n

    got = results_of(watcher.drain(), pid)
    assert 1 <= len(got) < n, "%d publishes for %d votes" % (len(got), n)
    totals = [r["total"] for r in got]
    assert totals == sorted(totals), totals  # in order, never going back
    assert got[-1] == get_poll(api, pid)
    assert counts(got[-1]) == {"été": n // 2, "hiver": n // 2} and got[-1]["total"] == n


def test_expiry_republishes_results_closed(api, broker, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    poll = create_poll(api, alice, closes_at=iso_in(1.5))
    pid = poll["id"]
    watcher = Mqtt(raw, broker)
    watcher.subscribe(results_topic(pid))
    assert json.loads(watcher.recv().payload)["open"] is True
    vote_rest(api, bob, pid, "été")
    assert json.loads(watcher.recv().payload)["total"] == 1
    # No request moves it: the server's timer does, at closes_at.
    p = watcher.recv(timeout=10)
    closed = json.loads(p.payload)
    assert closed["open"] is False and closed["total"] == 1
    assert closed["closes_at"] == poll["closes_at"] and closed["closed_at"] is None
    assert closed == get_poll(api, pid)
    r = api.post("/api/polls/%d/votes" % pid, token=alice.token, json={"option": "hiver"},
                 expect=409)
    assert api.error_code(r) == "poll_closed"
    assert watcher.drain() == []  # a refusal changes nothing, publishes nothing
    late = Mqtt(raw, broker)
    late.subscribe(results_topic(pid))
    assert results_of(late.drain(), pid) == [closed]


def test_expiry_of_several_polls_in_their_order(api, broker, raw):
    """One timer for the nearest closing time, armed again for the next:
    polls created out of order each close at their own time."""
    alice = api.register("alice")
    later = create_poll(api, alice, closes_at=iso_in(2.5), question="later")
    sooner = create_poll(api, alice, closes_at=iso_in(1.2), question="sooner")
    never = create_poll(api, alice, question="open")
    watcher = Mqtt(raw, broker)
    watcher.subscribe("agora/polls/+/results")
    assert len(watcher.drain()) == 3
    first = watcher.recv(timeout=10)
    second = watcher.recv(timeout=10)
    assert [first.topic, second.topic] == [results_topic(sooner["id"]),
                                           results_topic(later["id"])]
    assert not json.loads(first.payload)["open"] and not json.loads(second.payload)["open"]
    assert get_poll(api, never["id"])["open"] is True
    assert watcher.drain() == []


def test_restart_republishes_results_retained(broker_factory, raw):
    b = broker_factory()
    a = Api(b)
    alice = a.register("alice")
    bob = a.register("bob")
    first = create_poll(a, alice)
    second = create_poll(a, alice, options=["oui", "non"], question="Encore ?")
    vote_rest(a, bob, first["id"], "hiver")
    vote_rest(a, alice, first["id"], "hiver")
    vote_rest(a, bob, second["id"], "non")
    a.post("/api/polls/%d/close" % second["id"], token=alice.token, expect=200)
    want = {p["id"]: get_poll(a, p["id"]) for p in (first, second)}
    a.close()
    assert b.stop() == 0

    b2 = restart_on_same_data(broker_factory, b)
    a2 = Api(b2)
    watcher = Mqtt(raw, b2)
    watcher.subscribe("agora/polls/+/results")
    got = {json.loads(p.payload)["id"]: (p.retain, json.loads(p.payload))
           for p in watcher.drain()}
    assert got == {pid: (True, poll) for pid, poll in want.items()}
    assert got[first["id"]][1]["total"] == 2 and got[second["id"]][1]["open"] is False
    a2.close()


# --------------------------------------------------------------------------
# Voting over MQTT 5: reason codes, Reason Strings, notices
# --------------------------------------------------------------------------

def expect_notice(c, poll_id, code):
    """The one notice c has received since its last acknowledgement."""
    got = c.publishes()
    assert len(got) == 1, got
    n = got[0]
    assert (n.qos, n.retain) == (1, False), n
    body = json.loads(n.payload.decode("utf-8"))
    assert set(body) == {"type", "poll_id", "code", "message"}, body
    assert (body["type"], body["poll_id"], body["code"]) == ("vote_refused", poll_id, code)
    assert body["message"]
    c.send(mqttraw.puback(n.pid))
    return n.topic, body


def vote5(c, poll_id, option, qos, pid):
    """A vote at QoS 1 or 2; returns the PUBACK or PUBREC (Reason5), the
    QoS 2 flow completed when it was accepted."""
    c.send(publish5(vote_topic(poll_id), option, qos=qos, pid=pid))
    ack = Reason5(c.expect(mqttraw.PUBACK if qos == 1 else PUBREC))
    assert ack.pid == pid, ack
    if qos == 2 and ack.rc < 0x80:
        c.send(pubrel(pid))
        done = Reason5(c.expect(PUBCOMP))
        assert (done.pid, done.rc) == (pid, 0), done
    return ack


@pytest.mark.parametrize("qos", [1, 2])
def test_mqtt5_vote_reason_codes(api, broker, mqtt5, qos):
    alice = api.register("alice")
    bob = api.register("bob")
    poll = create_poll(api, alice)
    other = create_poll(api, alice, options=["a", "b"], question="Other")
    closed = create_poll(api, alice, options=["x", "y"], question="Closed")
    api.post("/api/polls/%d/close" % closed["id"], token=alice.token, expect=200)
    c = mqtt5(bob)
    assert c.subscribe5([(notices_topic("bob"), 1)]) == [1]

    ack = vote5(c, poll["id"], "HIVER", qos, pid=1)  # a label, ASCII case ignored
    assert ack.rc == SUCCESS and REASON_STRING not in ack.props, ack
    assert c.publishes() == []  # no notice for a counted vote
    refusals = [  # (poll id in the topic, payload, code, code word, poll_id of the notice)
        (poll["id"], "été", ALREADY_VOTED, "already_voted", poll["id"]),
        (poll["id"], "1", ALREADY_VOTED, "already_voted", poll["id"]),
        (closed["id"], "x", POLL_CLOSED, "poll_closed", closed["id"]),
        (other["id"], "automne", BAD_OPTION, "unknown_option", other["id"]),
        (other["id"], "3", BAD_OPTION, "unknown_option", other["id"]),
        (other["id"], b"\xff\xfe", BAD_OPTION, "unknown_option", other["id"]),
        (other["id"], b"", BAD_OPTION, "unknown_option", other["id"]),
        (999999, "a", NO_SUCH_POLL, "not_found", 999999),
        ("abc", "a", NO_SUCH_POLL, "not_found", None),
        ("0%d" % other["id"], "a", NO_SUCH_POLL, "not_found", None),
    ]
    for i, (topic_id, payload, rc, word, notice_id) in enumerate(refusals, start=2):
        mark = broker.log_mark()
        # The same packet id each time: a refusal holds none, even at QoS 2.
        ack = vote5(c, topic_id, payload, qos, pid=2)
        assert ack.rc == rc, "%r on %r: %r" % (payload, topic_id, ack)
        why = ack.props.get(REASON_STRING)
        assert why and why.startswith(word + ": "), ack
        topic, body = expect_notice(c, notice_id, word)
        assert topic == notices_topic("bob")
        assert why == "%s: %s" % (word, body["message"])
        broker.wait_log(r"MQTT vote from bob on poll '%s' refused \(reason code 0x%02x\)"
                        % (topic_id, rc), since=mark)
    # What was counted: the one vote, as GET shows it.
    got = get_poll(api, poll["id"])
    assert counts(got) == {"été": 0, "hiver": 1}
    me = api.get("/api/polls/%d/votes/me" % poll["id"], token=bob.token, expect=200).json()
    assert me["option"] == {"number": 2, "label": "hiver"}
    assert get_poll(api, other["id"])["total"] == 0
    assert get_poll(api, closed["id"])["total"] == 0
    # A number names an option too, and a trailing newline is ignored.
    assert vote5(c, other["id"], "2\n", qos, pid=3).rc == SUCCESS
    assert counts(get_poll(api, other["id"])) == {"a": 0, "b": 1}


def test_mqtt5_anonymous_vote_0x87(api, broker, mqtt5, raw):
    alice = api.register("alice")
    poll = create_poll(api, alice)
    watcher = Mqtt(raw, broker, alice)
    watcher.subscribe("agora/#")
    assert results_of(watcher.drain(), poll["id"]) == [poll]  # the retained one
    mark = broker.log_mark()
    c = mqtt5()
    for qos in (1, 2):
        ack = vote5(c, poll["id"], "hiver", qos, pid=qos)
        assert ack.rc == NOT_AUTHORIZED, ack
    assert c.publishes() == []
    broker.wait_log(r"PUBLISH on 'agora/polls/%d/vote' dropped: not authorized" % poll["id"],
                    since=mark)
    assert get_poll(api, poll["id"])["total"] == 0
    assert watcher.drain() == []


def test_mqtt5_vote_from_a_deleted_account_0x87(api, broker, mqtt5):
    alice = api.register("alice")
    bob = api.register("bob")
    poll = create_poll(api, alice)
    c = mqtt5(bob)
    assert c.subscribe5([(notices_topic("bob"), 1)]) == [1]
    api.delete("/api/users/bob", token=bob.token, expect=204)
    ack = vote5(c, poll["id"], "hiver", 1, pid=1)
    assert ack.rc == NOT_AUTHORIZED and ack.props.get(REASON_STRING).startswith(
        "unauthorized: "), ack
    expect_notice(c, poll["id"], "unauthorized")
    assert get_poll(api, poll["id"])["total"] == 0


def test_vote_reason_string_suppressed_without_problem_info(api, broker, mqtt5):
    alice = api.register("alice")
    bob = api.register("bob")
    poll = create_poll(api, alice)
    c = mqtt5(bob, props=[(REQUEST_PROBLEM_INFO, 0)])
    assert c.subscribe5([(notices_topic("bob"), 1)]) == [1]
    assert vote5(c, poll["id"], "été", 1, pid=1).rc == SUCCESS
    ack = vote5(c, poll["id"], "hiver", 1, pid=2)
    assert ack.rc == ALREADY_VOTED and REASON_STRING not in ack.props, ack
    expect_notice(c, poll["id"], "already_voted")  # the notice still comes


def test_mqtt5_vote_results_reach_watchers(api, broker, mqtt5, raw):
    alice = api.register("alice")
    bob = api.register("bob")
    poll = create_poll(api, alice)
    watcher = Mqtt(raw, broker)
    watcher.subscribe(results_topic(poll["id"]))
    assert results_of(watcher.drain(), poll["id"]) == [poll]
    assert vote5(mqtt5(bob), poll["id"], "été", 1, pid=1).rc == SUCCESS
    got = results_of(watcher.drain(), poll["id"])
    assert got == [get_poll(api, poll["id"])] and got[0]["total"] == 1


# --------------------------------------------------------------------------
# Voting over MQTT 3.1.1
# --------------------------------------------------------------------------

def test_mqtt311_vote_and_refusal_notice(api, broker):
    alice = api.register("alice")
    bob = api.register("bob")
    poll = create_poll(api, alice)
    other = create_poll(api, alice, options=["a", "b"], question="Other")
    c = PahoClient(broker.port, client_id="p-" + uniq())
    c.client.username_pw_set(bob.name, bob.password)
    try:
        c.connect()
        assert c.subscribe(notices_topic("bob"), qos=1) == [1]
        c.publish(vote_topic(poll["id"]), "hiver", qos=1)
        got = get_poll(api, poll["id"])
        assert counts(got) == {"été": 0, "hiver": 1}
        # Refused: acknowledged as usual (the QoS 2 flow to its end),
        # answered on the notices topic.
        mark = broker.log_mark()
        c.publish(vote_topic(poll["id"]), "été", qos=2)
        m = c.get()
        assert (m.topic, m.qos, m.retain) == (notices_topic("bob"), 1, 0)
        body = json.loads(m.payload)
        assert (body["type"], body["poll_id"], body["code"]) == (
            "vote_refused", poll["id"], "already_voted")
        broker.wait_log(r"MQTT vote from bob on poll '%d' refused \(reason code 0x97\)"
                        % poll["id"], since=mark)
        # QoS 0 has no acknowledgement: the notice all the same.
        c.publish(vote_topic(other["id"]), "c", qos=0)
        body = json.loads(c.get().payload)
        assert (body["poll_id"], body["code"]) == (other["id"], "unknown_option")
        assert get_poll(api, poll["id"]) == got
        assert get_poll(api, other["id"])["total"] == 0
        c.publish(vote_topic(other["id"]), "A", qos=2)
        assert counts(get_poll(api, other["id"])) == {"a": 1, "b": 0}
    finally:
        stop_paho_clients([c])


# --------------------------------------------------------------------------
# The access rule of agora/polls and of notices
# --------------------------------------------------------------------------

def test_clients_cannot_publish_results_or_notices(api, broker, raw, mqtt5):
    alice = api.register("alice")
    bob = api.register("bob")
    poll = create_poll(api, alice)
    watch = Mqtt(raw, broker, bob)
    assert watch.c.subscribe([("agora/polls/#", 1), (notices_topic("bob"), 1)]) == [1, 1]
    assert results_of(watch.drain(), poll["id"]) == [poll]
    forged = json.dumps(dict(poll, total=1000)).encode()
    notice = b'{"type":"vote_refused","poll_id":1,"code":"x","message":"forged"}'
    mark = broker.log_mark()
    for who in (None, alice):  # MQTT 5: 0x87
        c = mqtt5(who)
        for pid, (topic, payload) in enumerate(
                [(results_topic(poll["id"]), forged), (notices_topic("bob"), notice),
                 ("agora/polls/%d/other" % poll["id"], b"x"), ("agora/polls", b"x")],
                start=1):
            ack = c.publish5(topic, payload, pid=pid, retain=True)
            assert ack.rc == NOT_AUTHORIZED, "%s: %r" % (topic, ack)
    for who in (None, alice):  # MQTT 3.1.1: acknowledged, dropped
        c = Mqtt(raw, broker, who)
        c.c.publish(results_topic(poll["id"]), forged, qos=1, retain=True, pid=5)
        c.c.publish(notices_topic("bob"), notice, qos=2, pid=6)
        assert c.c.is_open()
    broker.wait_log(r"PUBLISH on 'agora/polls/%d/results' dropped: not authorized"
                    % poll["id"], since=mark)
    # A will there is ignored at CONNECT.
    w = raw(broker.port)
    w.connect("will-" + uniq(), username="alice", password=alice.password,
              will=(results_topic(poll["id"]), forged, 1, True))
    broker.wait_log(r"will on 'agora/polls/%d/results' ignored: not authorized" % poll["id"],
                    since=mark)
    w.drop()
    assert watch.drain() == []
    fresh = Mqtt(raw, broker)
    fresh.subscribe(results_topic(poll["id"]))
    assert results_of(fresh.drain(), poll["id"]) == [get_poll(api, poll["id"])] == [poll]


def test_votes_are_never_delivered(api, broker, raw, mqtt5):
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    poll = create_poll(api, alice)
    anon, spy, owner = Mqtt(raw, broker), Mqtt(raw, broker, carol), Mqtt(raw, broker, bob)
    for s in (anon, spy):
        # A filter that can match only vote topics is refused, and so is
        # one on another user's notices.
        for pid, f in enumerate(["agora/polls/+/vote", vote_topic(poll["id"]),
                                 vote_topic(poll["id"]) + "/#", notices_topic("bob"),
                                 notices_topic("BOB")], start=2):
            assert s.subscribe(f, pid=pid) == [REFUSED], f
    assert anon.subscribe("agora/users/+/notices", pid=8) == [REFUSED]  # none of its own
    assert spy.subscribe("agora/users/+/notices", pid=8) == [1]  # carol's own among them
    # Broad filters are granted, then filtered message by message.
    wide = ["#", "agora/#", "agora/polls/#", "+/polls/+/+", "agora/users/#"]
    for s in (anon, spy, owner):
        assert s.c.subscribe([(f, 1) for f in wide], pid=9) == [1] * len(wide)
        s.drain()  # the retained results
    s5 = mqtt5(carol)
    assert s5.subscribe5([("agora/polls/+/vote", 1)]) == [NOT_AUTHORIZED]
    assert s5.subscribe5([("agora/polls/#", 1)], pid=2) == [1]
    assert [p.topic for p in s5.publishes()] == [results_topic(poll["id"])]

    voter = mqtt5(bob)
    assert vote5(voter, poll["id"], "hiver", 1, pid=1).rc == SUCCESS
    assert vote5(voter, poll["id"], "été", 2, pid=2).rc == ALREADY_VOTED
    # Everyone sees the results move, nobody the vote, and only bob his notice.
    results = [results_topic(poll["id"])]
    for name, got, want in (("anonymous", anon.drain(), results),
                            ("carol", spy.drain(), results),
                            ("carol 5", s5.publishes(), results),
                            ("bob", owner.drain(), sorted(results + [notices_topic("bob")]))):
        topics = sorted(p.topic for p in got if p.topic.startswith("agora/"))
        assert topics == want, "%s received %r" % (name, topics)
