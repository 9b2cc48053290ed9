"""Polls over REST (docs/api.md, "Polls") against a real `agora serve`:
every route with its answers and errors, pagination, how options are named
(labels without regard to ASCII case, numbers, a label "2" before the
number 2), closing by the server's clock, votes that survive kill -9, and
hundreds of accounts voting at once with duplicates thrown in.

Every answer through apiclient.Api is validated against the OpenAPI
document the server serves, and every error against docs/api.md's codes.
"""

import concurrent.futures
import datetime
import random
import threading
import time

import pytest
import requests

import apiclient
from apiclient import TIME_RE, Api, kill9, restart_on_same_data
from conftest import is_agora

api = apiclient.api

pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: the HTTP API")

SEASONS = ["été", "Hiver", "printemps"]


def now_ms():
    return int(time.time() * 1000)


def iso_to_ms(s):
    dt = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return int(round(dt.timestamp() * 1000))


def code(r):
    return r.json()["error"]["code"]


def message(r):
    return r.json()["error"]["message"]


def create(api, who, question="Saison ?", options=SEASONS, expect=201, **extra):
    body = {"question": question, "options": options}
    body.update(extra)
    return api.post("/api/polls", token=who.token, json=body, expect=expect)


def vote(api, who, poll_id, option, expect=None, change=False):
    if change:
        return api.put("/api/polls/%d/votes/me" % poll_id, token=who.token,
                       json={"option": option}, expect=expect)
    return api.post("/api/polls/%d/votes" % poll_id, token=who.token,
                    json={"option": option}, expect=expect)


def counts(api, poll_id):
    p = api.get("/api/polls/%d" % poll_id, expect=200).json()
    assert p["total"] == sum(o["votes"] for o in p["options"])
    return [o["votes"] for o in p["options"]]


# --------------------------------------------------------------------------
# Creating, reading, listing
# --------------------------------------------------------------------------

def test_create_and_get(api):
    alice = api.register("alice")
    before = now_ms()
    r = create(api, alice, question="Été ou hiver ?")
    after = now_ms()
    p = r.json()
    assert r.headers["Location"] == "/api/polls/%d" % p["id"]
    assert p["question"] == "Été ou hiver ?"
    assert p["options"] == [{"number": i + 1, "label": l, "votes": 0}
                            for i, l in enumerate(SEASONS)]
    assert p["total"] == 0 and p["creator"] == "alice" and p["open"] is True
    assert p["closes_at"] is None and p["closed_at"] is None
    assert TIME_RE.match(p["created_at"])
    assert before <= iso_to_ms(p["created_at"]) <= after
    got = api.get("/api/polls/%d" % p["id"], expect=200).json()
    assert got == p
    # HEAD: GET's status, no body; OPTIONS lists the methods.
    r = api.request("HEAD", "/api/polls/%d" % p["id"], expect=200)
    assert r.content == b""
    r = api.request("OPTIONS", "/api/polls/%d/votes/me" % p["id"], expect=204)
    assert r.headers["Allow"] == "GET, HEAD, PUT, OPTIONS"


def test_create_refused(api):
    alice = api.register("alice")
    cases = [
        ({"options": ["a", "b"]}, "'question'"),
        ({"question": "", "options": ["a", "b"]}, "question: "),
        ({"question": "two\nlines", "options": ["a", "b"]}, "question: "),
        ({"question": "q" * 501, "options": ["a", "b"]}, "question: must be 1 to 500 bytes"),
        ({"question": "q"}, "options: "),
        ({"question": "q", "options": ["seul"]}, "options: there must be 2 to 20"),
        ({"question": "q", "options": ["o%d" % i for i in range(21)]},
         "options: there must be 2 to 20 (there are 21)"),
        ({"question": "q", "options": ["a", 7]}, "options: option 2 is not a string"),
        ({"question": "q", "options": ["a", ""]}, "options: option 2: "),
        ({"question": "q", "options": ["a", "b" * 101]}, "options: option 2: must be 1 to 100"),
        ({"question": "q", "options": ["a", "tab\there"]}, "options: option 2: "),
        ({"question": "q", "options": ["Hiver", "été", "HIVER"]},
         "options: 'HIVER' appears twice"),
        ({"question": "q", "options": ["a", "b"], "closes_at": now_ms() - 1000},
         "closes_at: must be in the future"),
        ({"question": "q", "options": ["a", "b"], "closes_at": "2020-01-01T00:00:00Z"},
         "closes_at: must be in the future"),
        ({"question": "q", "options": ["a", "b"], "closes_at": "tomorrow"}, "closes_at: "),
        ({"question": "q", "options": ["a", "b"], "closes_at": True}, "closes_at: "),
    ]
    for body, starts in cases:
        r = api.post("/api/polls", token=alice.token, json=body, expect=422)
        assert code(r) == "validation_failed"
        assert message(r).startswith(starts), (body, message(r))
    # Not JSON, not application/json, no token, a token nobody has.
    r = api.post("/api/polls", token=alice.token, data=b"{", expect=400,
                 headers={"Content-Type": "application/json"})
    assert code(r) == "invalid_json"
    api.post("/api/polls", token=alice.token, data=b"q", expect=415,
             headers={"Content-Type": "text/plain"})
    api.post("/api/polls", json={"question": "q", "options": ["a", "b"]}, expect=401)
    api.post("/api/polls", token="x" * 43, json={"question": "q", "options": ["a", "b"]},
             expect=401)
    # Nothing refused was stored; the most options, the longest texts are fine.
    assert api.get("/api/polls", expect=200).json()["total"] == 0
    create(api, alice, question="q" * 500, options=["o%02d" % i + "x" * 97 for i in range(20)])
    assert api.get("/api/polls", expect=200).json()["total"] == 1


def test_length_settings(broker_factory):
    a = Api(broker_factory("poll_question_max_length 10", "poll_option_max_length 3"))
    alice = a.register("alice")
    r = create(a, alice, question="q" * 11, options=["a", "b"], expect=422)
    assert message(r) == "question: must be 1 to 10 bytes (it has 11)"
    # Bytes, not characters: "été" is 5.
    r = create(a, alice, question="q" * 10, options=["été", "b"], expect=422)
    assert message(r).startswith("options: option 1: must be 1 to 3 bytes (it has 5)")
    create(a, alice, question="q" * 10, options=["abc", "b"])
    a.close()


def test_list_order_and_pages(api):
    alice = api.register("alice")
    ids = [create(api, alice, question="q%d" % i).json()["id"] for i in range(5)]
    api.post("/api/polls/%d/close" % ids[4], token=alice.token, expect=200)
    api.post("/api/polls/%d/close" % ids[1], token=alice.token, expect=200)
    # Open ones newest first, then the closed ones newest first.
    order = [ids[3], ids[2], ids[0], ids[4], ids[1]]
    body = api.get("/api/polls", expect=200).json()
    assert [p["id"] for p in body["polls"]] == order
    assert (body["total"], body["limit"], body["offset"]) == (5, 50, 0)
    assert [p["open"] for p in body["polls"]] == [True, True, True, False, False]
    for limit in (1, 2, 3):
        seen = []
        for offset in range(0, 6, limit):
            page = api.get("/api/polls", params={"limit": limit, "offset": offset},
                           expect=200).json()
            assert page["total"] == 5 and page["limit"] == limit and page["offset"] == offset
            seen += [p["id"] for p in page["polls"]]
        assert seen == order, "pages of %d" % limit
    for bad in ({"limit": 0}, {"limit": 101}, {"offset": -1}, {"limit": "x"}):
        r = api.get("/api/polls", params=bad, expect=422)
        assert code(r) == "validation_failed"


def test_get_unknown(api):
    for path in ("/api/polls/999", "/api/polls/0", "/api/polls/abc", "/api/polls/-3"):
        r = api.get(path, expect=404)
        assert code(r) == "not_found"


# --------------------------------------------------------------------------
# Closing
# --------------------------------------------------------------------------

def test_close(api):
    alice = api.register("alice")
    bob = api.register("bob")
    pid = create(api, alice).json()["id"]
    api.post("/api/polls/%d/close" % pid, expect=401)
    r = api.post("/api/polls/%d/close" % pid, token=bob.token, expect=403)
    assert code(r) == "forbidden"
    api.post("/api/polls/%d/close" % (pid + 1), token=alice.token, expect=404)
    vote(api, bob, pid, "hiver", expect=201)
    first = api.post("/api/polls/%d/close" % pid, token=alice.token, expect=200).json()
    assert first["open"] is False and TIME_RE.match(first["closed_at"])
    # Again: fine, and the first time stays.
    again = api.post("/api/polls/%d/close" % pid, token=alice.token, expect=200).json()
    assert again["closed_at"] == first["closed_at"]
    r = vote(api, alice, pid, "été", expect=409)
    assert code(r) == "poll_closed"
    r = vote(api, bob, pid, "été", expect=409, change=True)
    assert code(r) == "poll_closed"
    # Results stay readable.
    assert counts(api, pid) == [0, 1, 0]


def test_closes_at_is_the_servers_clock(api):
    alice = api.register("alice")
    bob = api.register("bob")
    closes_at = now_ms() + 1500
    p = create(api, alice, closes_at=closes_at).json()
    assert p["open"] is True and p["closes_at"] is not None
    vote(api, alice, p["id"], "été", expect=201)
    # Wait for the server to say it closed (bounded), never a fixed sleep.
    deadline = time.monotonic() + 15
    while True:
        got = api.get("/api/polls/%d" % p["id"], expect=200).json()
        if not got["open"]:
            break
        assert time.monotonic() < deadline, "still open 15 s after closes_at"
        time.sleep(0.05)
    # It closed at its time, not before (the client's clock is the server's).
    assert now_ms() >= closes_at
    assert got["closed_at"] is None and got["closes_at"] == p["closes_at"]
    r = vote(api, bob, p["id"], "été", expect=409)
    assert code(r) == "poll_closed"
    r = vote(api, alice, p["id"], "hiver", expect=409, change=True)
    assert code(r) == "poll_closed"
    assert counts(api, p["id"]) == [1, 0, 0]
    # Its creator may still close it by hand; closed_at records when.
    closed = api.post("/api/polls/%d/close" % p["id"], token=alice.token, expect=200).json()
    assert closed["closed_at"] is not None


def test_closes_at_as_a_utc_time(api):
    alice = api.register("alice")
    r = create(api, alice, closes_at="2999-01-02T03:04:05.678Z")
    assert r.json()["closes_at"] == "2999-01-02T03:04:05.678Z"
    assert r.json()["open"] is True


# --------------------------------------------------------------------------
# Votes
# --------------------------------------------------------------------------

def test_vote_cast_and_shape(api):
    alice = api.register("alice")
    bob = api.register("bob")
    pid = create(api, alice).json()["id"]
    r = vote(api, bob, pid, "hiver", expect=201)
    body = r.json()
    assert r.headers["Location"] == "/api/polls/%d/votes/me" % pid
    assert set(body) == {"poll_id", "option", "voted_at", "results"}
    assert body["poll_id"] == pid
    assert body["option"] == {"number": 2, "label": "Hiver"}
    assert TIME_RE.match(body["voted_at"])
    assert body["results"]["total"] == 1
    assert [o["votes"] for o in body["results"]["options"]] == [0, 1, 0]
    mine = api.get("/api/polls/%d/votes/me" % pid, token=bob.token, expect=200).json()
    assert mine == {"poll_id": pid, "option": {"number": 2, "label": "Hiver"},
                    "voted_at": body["voted_at"]}
    # A second vote, for the same option or another, by label or number.
    for option in ("hiver", "été", 1, "3"):
        r = vote(api, bob, pid, option, expect=409)
        assert code(r) == "already_voted"
        assert "PUT /api/polls/%d/votes/me" % pid in message(r)
    assert counts(api, pid) == [0, 1, 0]


def test_options_by_label_and_number(api):
    alice = api.register("alice")
    voters = [api.register("v%d" % i) for i in range(7)]
    # Labels "2" and "1" in that order, then "trois".
    pid = create(api, alice, options=["2", "1", "Trois"]).json()["id"]
    cases = [
        ("2", 1),        # the label "2": the first option
        (2, 2),          # the integer 2: the second option
        ("1", 2),        # the label "1": the second option
        ("TROIS", 3),    # ASCII case ignored
        ("trois", 3),
        (3, 3),          # the integer
        ("3", 3),        # no label "3": the number
    ]
    for v, (option, number) in zip(voters, cases):
        r = vote(api, v, pid, option, expect=201)
        assert r.json()["option"]["number"] == number, option
    assert counts(api, pid) == [1, 2, 4]


def test_unicode_labels_and_case(api):
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    # "É" and "é" are two labels: case is folded for ASCII only.
    pid = create(api, alice, options=["É", "é", "Ski"]).json()["id"]
    assert vote(api, alice, pid, "é", expect=201).json()["option"]["number"] == 2
    assert vote(api, bob, pid, "É", expect=201).json()["option"]["number"] == 1
    assert vote(api, carol, pid, "sKI", expect=201).json()["option"]["number"] == 3


def test_vote_refused(api):
    alice = api.register("alice")
    bob = api.register("bob")
    pid = create(api, alice).json()["id"]
    for option in ("automne", "0", "4", 0, 4, -1, "", " 1", "1.0", 10 ** 15):
        r = vote(api, bob, pid, option, expect=422)
        assert code(r) == "unknown_option", option
    assert "'automne'" in message(vote(api, bob, pid, "automne", expect=422))
    for option in (True, None, 1.5, [1], {"n": 1}):
        r = vote(api, bob, pid, option, expect=422)
        assert code(r) == "validation_failed", option
    r = api.post("/api/polls/%d/votes" % pid, token=bob.token, json={}, expect=422)
    assert code(r) == "validation_failed"
    r = vote(api, bob, pid + 1, "été", expect=404)
    assert code(r) == "not_found"
    api.post("/api/polls/%d/votes" % pid, json={"option": 1}, expect=401)
    api.post("/api/polls/%d/votes" % pid, token=bob.token, data=b"{\"option\":", expect=400,
             headers={"Content-Type": "application/json"})
    api.post("/api/polls/%d/votes" % pid, token=bob.token, data=b"1", expect=415,
             headers={"Content-Type": "text/plain"})
    # Nothing of that was stored: bob's first vote is still to come.
    assert counts(api, pid) == [0, 0, 0]
    vote(api, bob, pid, 1, expect=201)


def test_change_and_my_vote(api):
    alice = api.register("alice")
    bob = api.register("bob")
    pid = create(api, alice).json()["id"]
    r = api.get("/api/polls/%d/votes/me" % pid, token=bob.token, expect=404)
    assert code(r) == "no_vote"
    r = api.get("/api/polls/%d/votes/me" % (pid + 1), token=bob.token, expect=404)
    assert code(r) == "not_found"
    api.get("/api/polls/%d/votes/me" % pid, expect=401)
    r = vote(api, bob, pid, "hiver", expect=404, change=True)
    assert code(r) == "no_vote"
    r = vote(api, bob, pid + 1, "hiver", expect=404, change=True)
    assert code(r) == "not_found"
    vote(api, bob, pid, "été", expect=201)
    r = vote(api, bob, pid, "PRINTEMPS", expect=200, change=True)
    assert r.json()["option"] == {"number": 3, "label": "printemps"}
    assert "Location" not in r.headers
    assert [o["votes"] for o in r.json()["results"]["options"]] == [0, 0, 1]
    r = vote(api, bob, pid, "automne", expect=422, change=True)
    assert code(r) == "unknown_option"
    api.put("/api/polls/%d/votes/me" % pid, json={"option": 1}, expect=401)
    mine = api.get("/api/polls/%d/votes/me" % pid, token=bob.token, expect=200).json()
    assert mine["option"] == {"number": 3, "label": "printemps"}
    assert counts(api, pid) == [0, 0, 1]


def test_accounts_deleted(api):
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    pid = create(api, alice).json()["id"]
    vote(api, bob, pid, "été", expect=201)
    vote(api, carol, pid, "été", expect=201)
    api.delete("/api/users/bob", token=bob.token, expect=204)
    api.delete("/api/users/alice", token=alice.token, expect=204)
    p = api.get("/api/polls/%d" % pid, expect=200).json()
    # The votes stay counted; the creator is gone, the poll stays.
    assert p["creator"] is None and p["total"] == 2 and p["open"] is True
    # A new "alice" is someone else: she votes, but cannot close it.
    alice2 = api.register("alice")
    api.post("/api/polls/%d/close" % pid, token=alice2.token, expect=403)
    vote(api, alice2, pid, "hiver", expect=201)
    assert counts(api, pid) == [2, 1, 0]


# --------------------------------------------------------------------------
# Durability: an acknowledged vote survives kill -9
# --------------------------------------------------------------------------

def test_votes_survive_kill9(broker_factory):
    b = broker_factory()
    a = Api(b)
    alice = a.register("alice")
    bob = a.register("bob")
    pid = create(a, alice).json()["id"]
    other = create(a, alice, question="closed").json()["id"]
    voted = vote(a, bob, pid, "hiver", expect=201).json()
    vote(a, alice, pid, "été", expect=201)
    changed = vote(a, alice, pid, "printemps", expect=200, change=True).json()
    a.post("/api/polls/%d/close" % other, token=alice.token, expect=200)
    a.close()
    kill9(b)  # right after the answers

    b2 = restart_on_same_data(broker_factory, b)
    a2 = Api(b2)
    assert counts(a2, pid) == [0, 1, 1]
    mine = a2.get("/api/polls/%d/votes/me" % pid, token=bob.token, expect=200).json()
    assert mine["option"] == voted["option"] and mine["voted_at"] == voted["voted_at"]
    mine = a2.get("/api/polls/%d/votes/me" % pid, token=alice.token, expect=200).json()
    assert mine["option"] == changed["option"]
    assert a2.get("/api/polls/%d" % other, expect=200).json()["open"] is False
    # Still one vote each.
    assert code(vote(a2, bob, pid, "été", expect=409)) == "already_voted"
    a2.close()


# --------------------------------------------------------------------------
# Concurrency: exact counts, one 201 per account
# --------------------------------------------------------------------------

ACCOUNTS = 320
THREADS = 32


def _register_all(base, names):
    """Registers names in parallel; their tokens, by name."""
    local = threading.local()

    def register(name):
        if not hasattr(local, "s"):
            local.s = requests.Session()
        r = local.s.post(base + "/api/users", json={"name": name, "password": "wonderland"},
                         timeout=30)
        assert r.status_code == 201, r.text
        return name, r.json()["token"]

    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        return dict(pool.map(register, names))


def test_concurrent_votes_are_exact(broker):
    a = Api(broker)
    owner = a.register("owner")
    labels = ["un", "deux", "trois", "quatre"]
    pid = create(a, owner, options=labels).json()["id"]
    names = ["voter%03d" % i for i in range(ACCOUNTS)]
    tokens = _register_all(a.base, names)
    # Each account votes once; every third sends two more at once, for
    # other options, named by label (any case), number text or integer.
    rng = random.Random(12)
    attempts = []
    for i, name in enumerate(names):
        n = 3 if i % 3 == 0 else 1
        for k in range(n):
            option = (i + k) % 4
            spelled = rng.choice([labels[option], labels[option].upper(), str(option + 1),
                                  option + 1])
            attempts.append((name, option, spelled))
    rng.shuffle(attempts)
    barrier = threading.Barrier(THREADS)
    local = threading.local()
    url = a.base + "/api/polls/%d/votes" % pid

    def cast(attempt):
        name, option, spelled = attempt
        r = local.s.post(url, json={"option": spelled}, timeout=60,
                         headers={"Authorization": "Bearer " + tokens[name]})
        return name, option, r.status_code, r.json()

    def worker(chunk):
        local.s = requests.Session()
        barrier.wait(timeout=30)  # all start together
        return [cast(x) for x in chunk]

    chunks = [attempts[i::THREADS] for i in range(THREADS)]
    with concurrent.futures.ThreadPoolExecutor(THREADS) as pool:
        results = [r for part in pool.map(worker, chunks) for r in part]
    assert len(results) == len(attempts)

    won = {}
    for name, option, status, body in results:
        if status == 201:
            assert name not in won, "%s got two 201s" % name
            assert body["option"]["number"] == option + 1
            assert 1 <= body["results"]["total"] <= ACCOUNTS
            won[name] = option
        else:
            assert status == 409 and body["error"]["code"] == "already_voted", (status, body)
    assert set(won) == set(names), "accounts without a 201: %s" % sorted(set(names) - set(won))
    expected = [0] * 4
    for option in won.values():
        expected[option] += 1
    p = a.get("/api/polls/%d" % pid, expect=200).json()
    assert [o["votes"] for o in p["options"]] == expected
    assert p["total"] == ACCOUNTS
    # Each account's stored vote is the one its 201 announced.
    s = requests.Session()
    for name in names:
        r = s.get(a.base + "/api/polls/%d/votes/me" % pid, timeout=10,
                  headers={"Authorization": "Bearer " + tokens[name]})
        assert r.status_code == 200 and r.json()["option"]["number"] == won[name] + 1, name
    a.close()
