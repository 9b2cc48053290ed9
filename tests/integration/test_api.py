"""The REST API, route by route (docs/api.md): each success case and each
documented error. Every answer is validated against the OpenAPI document the
server serves (apiclient.Api does it on each request)."""

import datetime
import hashlib
import json
import re
import secrets
import time
import urllib.parse

import pytest

from conftest import is_agora
import apiclient
from apiclient import DEFAULT_PASSWORD, TIME_RE, Api

# Fixtures: a fresh server per test, or the module's shared one.
api = apiclient.api
shared_api = apiclient.shared_api
shared_broker = apiclient.shared_broker

# The HTTP API is Agora's own: skipped (before any broker starts) against
# Mosquitto.
pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: the HTTP API")

TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def iso_to_ms(s):
    dt = datetime.datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc)
    return int(round(dt.timestamp() * 1000))


def ms_to_iso(ms):
    dt = datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (ms % 1000)


def error(r):
    return r.json()["error"]


def ensure_user(api, name):
    """For tests on the shared server: the user, registered if new."""
    r = api.get("/api/users/%s" % name)
    if r.status_code == 200:
        return r.json()
    return api.register(name).user


def user_count(api):
    return api.get("/api/users", expect=200).json()["total"]


def bogus_token():
    """Well-formed (43 characters of base64url) but never issued."""
    return secrets.token_urlsafe(32)[:43]


# --------------------------------------------------------------------------
# Accounts: register
# --------------------------------------------------------------------------

def test_register_answers_201_with_location_and_token(api):
    r = api.post("/api/users", json={"name": "alice", "password": "wonderland"}, expect=201)
    body = r.json()
    assert body["name"] == "alice"
    assert TOKEN_RE.match(body["token"]), body["token"]
    assert body["status"] == ""
    assert body["status_updated_at"] is None
    assert TIME_RE.match(body["created_at"])
    assert r.headers.get("Location") == "/api/users/%d" % body["id"]
    # The Location names the user.
    got = api.get(r.headers["Location"], expect=200).json()
    assert got == {k: v for k, v in body.items() if k != "token"}
    # The token works at once.
    api.get("/api/messages", token=body["token"], expect=200)


def test_register_conflict_also_differing_only_in_case(api):
    api.register("alice")
    for name in ("alice", "ALICE", "Alice"):
        r = api.post("/api/users", json={"name": name, "password": "other-password"}, expect=409)
        assert error(r)["code"] == "conflict"
    # The first account is unchanged: its password still works.
    api.login("alice", DEFAULT_PASSWORD)
    assert api.get("/api/users", expect=200).json()["total"] == 1


@pytest.mark.parametrize("name", [
    "a" * 33,            # too long
    "",                  # empty
    "al ice",            # space
    "al/ice",            # slash
    "al@ice",
    "_alice",            # must start with a letter or digit
    "-alice",
    ".alice",
    "\u00e9lise",        # not ASCII
    "12345",             # only digits (would read as an id)
    "0",
])
def test_register_bad_name_is_422(shared_api, name):
    api = shared_api
    before = user_count(api)
    r = api.post("/api/users", json={"name": name, "password": "wonderland"}, expect=422)
    assert error(r)["code"] == "validation_failed"
    assert "name" in error(r)["message"], error(r)
    assert user_count(api) == before


@pytest.mark.parametrize("name", ["a" * 32, "1alice", "a.b-c_d", "Z", "9lives"])
def test_register_good_names(shared_api, name):
    api = shared_api
    acct = api.register(name)
    assert acct.name == name
    assert api.get("/api/users/%s" % name, expect=200).json()["id"] == acct.id


@pytest.mark.parametrize("password,status", [
    ("", 422), ("1234567", 422), ("12345678", 201), ("x" * 256, 201), ("x" * 257, 422),
    # bytes, not characters: 4 characters, 8 bytes
    ("\u00e9\u00e9\u00e9\u00e9", 201),
    # 129 characters, 258 bytes
    ("\u00e9" * 129, 422),
])
def test_register_password_length_in_bytes(shared_api, password, status):
    api = shared_api
    name = "pw-%s" % hashlib.sha256(password.encode()).hexdigest()[:12]
    r = api.post("/api/users", json={"name": name, "password": password}, expect=status)
    if status == 422:
        assert "password" in error(r)["message"], error(r)
        api.get("/api/users/" + name, expect=404)
    else:
        api.login(name, password)


def test_register_wrong_content_type_is_415(api):
    for ctype in ("text/plain", "application/x-www-form-urlencoded", "application/jsonx"):
        r = api.post("/api/users", data=b'{"name": "alice", "password": "wonderland"}',
                     headers={"Content-Type": ctype}, expect=415)
        assert error(r)["code"] == "unsupported_media_type"
    # No Content-Type at all is not JSON either.
    r = api.post("/api/users", data=b'{"name": "alice", "password": "wonderland"}', expect=415)
    assert api.get("/api/users", expect=200).json()["total"] == 0
    # A charset parameter is fine.
    api.post("/api/users", data=b'{"name": "alice", "password": "wonderland"}',
             headers={"Content-Type": "application/json; charset=utf-8"}, expect=201)


@pytest.mark.parametrize("body", [b"{", b"{'name': 'alice'}", b"nope", b'{"name": "alice",}',
                                  b"\xff\xfe{}"])
def test_register_invalid_json_is_400(shared_api, body):
    api = shared_api
    r = api.post("/api/users", data=body, headers={"Content-Type": "application/json"},
                 expect=400)
    assert error(r)["code"] == "invalid_json"


@pytest.mark.parametrize("body,field", [
    ([1, 2], None), ("alice", None), (42, None), (None, None),
    ({"name": "alice"}, "password"),
    ({"password": "wonderland"}, "name"),
    ({"name": 5, "password": "wonderland"}, "name"),
    ({"name": "alice", "password": ["wonderland"]}, "password"),
])
def test_register_wrong_shape_is_422(shared_api, body, field):
    api = shared_api
    r = api.post("/api/users", data=json.dumps(body).encode(),
                 headers={"Content-Type": "application/json"}, expect=422)
    assert error(r)["code"] == "validation_failed"
    if field:
        assert field in error(r)["message"], error(r)


# --------------------------------------------------------------------------
# Accounts: login, logout, token in the body
# --------------------------------------------------------------------------

def test_login_gives_a_new_working_token(api):
    alice = api.register("alice")
    body = api.login("alice")
    assert TOKEN_RE.match(body["token"])
    assert body["token"] != alice.token
    assert body["user"] == alice.user
    api.get("/api/messages", token=body["token"], expect=200)
    api.get("/api/messages", token=alice.token, expect=200)
    # Names compare without regard to case.
    assert api.login("ALICE")["user"]["id"] == alice.id


def test_login_wrong_password_and_unknown_name_say_the_same(api):
    api.register("alice")
    wrong = api.post("/api/login", json={"name": "alice", "password": "not-the-one"},
                     expect=401)
    unknown = api.post("/api/login", json={"name": "nobody", "password": "not-the-one"},
                       expect=401)
    assert error(wrong)["code"] == error(unknown)["code"] == "unauthorized"
    assert error(wrong)["message"] == error(unknown)["message"]


def test_login_bad_bodies(api):
    api.post("/api/login", data=b"name=alice", headers={"Content-Type": "text/plain"},
             expect=415)
    api.post("/api/login", data=b"{", headers={"Content-Type": "application/json"}, expect=400)
    r = api.post("/api/login", json={"name": "alice"}, expect=422)
    assert "password" in error(r)["message"]


def test_login_rate_limited_after_failures_with_retry_after(broker_factory):
    b = broker_factory("login_failures_per_minute 3")
    a = Api(b)
    a.register("alice")
    for _ in range(3):
        a.post("/api/login", json={"name": "alice", "password": "guess-guess"}, expect=401)
    r = a.post("/api/login", json={"name": "alice", "password": "guess-guess"}, expect=429)
    assert error(r)["code"] == "too_many_requests"
    retry = r.headers.get("Retry-After")
    assert retry is not None and retry.isdigit(), r.headers
    assert 1 <= int(retry) <= 60, retry
    # Also the right password waits: otherwise guessing would go on.
    a.post("/api/login", json={"name": "alice", "password": DEFAULT_PASSWORD}, expect=429)
    # Only logins are limited.
    a.get("/api/users", expect=200)
    a.close()


def test_logout_revokes_only_the_token_used(api):
    alice = api.register("alice")
    other = api.login("alice")["token"]
    r = api.post("/api/logout", token=alice.token, expect=204)
    assert r.content == b""
    r = api.get("/api/messages", token=alice.token, expect=401)
    assert error(r)["code"] == "unauthorized"
    api.post("/api/logout", token=alice.token, expect=401)
    api.get("/api/messages", token=other, expect=200)


def test_logout_without_token_is_401(api):
    api.post("/api/logout", expect=401)
    api.post("/api/logout", token=bogus_token(), expect=401)


def test_token_in_json_body_is_accepted(api):
    alice = api.register("alice")
    r = api.patch("/api/users/alice", json={"status": "old client", "token": alice.token},
                  expect=200)
    assert r.json()["status"] == "old client"
    bob = api.register("bob")
    m = api.post("/api/messages", json={"to": "alice", "content": "hi", "token": bob.token},
                 expect=201).json()
    assert m["from"] == "bob"
    api.post("/api/logout", json={"token": alice.token}, expect=204)
    api.get("/api/messages", token=alice.token, expect=401)
    # A bogus body token is still 401.
    api.patch("/api/users/bob", json={"status": "x", "token": bogus_token()}, expect=401)


# --------------------------------------------------------------------------
# Users
# --------------------------------------------------------------------------

def test_users_list_and_pagination(api):
    accounts = [api.register("user%d" % i) for i in range(5)]
    ids = [a.id for a in accounts]
    body = api.get("/api/users", expect=200).json()
    assert (body["total"], body["limit"], body["offset"]) == (5, 50, 0)
    assert [u["id"] for u in body["users"]] == sorted(ids)
    assert body["users"][0] == accounts[0].user

    body = api.get("/api/users", params={"limit": 2, "offset": 1}, expect=200).json()
    assert (body["total"], body["limit"], body["offset"]) == (5, 2, 1)
    assert [u["id"] for u in body["users"]] == sorted(ids)[1:3]

    body = api.get("/api/users", params={"limit": 100, "offset": 4}, expect=200).json()
    assert [u["id"] for u in body["users"]] == sorted(ids)[4:]

    body = api.get("/api/users", params={"offset": 10}, expect=200).json()
    assert body["users"] == [] and body["total"] == 5


@pytest.mark.parametrize("query", ["limit=0", "limit=101", "offset=-1", "limit=abc",
                                   "offset=x", "limit=", "limit=1.5", "limit=-5"])
def test_users_list_bad_pagination_is_422(shared_api, query):
    api = shared_api
    r = api.get("/api/users?" + query, expect=422)
    assert error(r)["code"] == "validation_failed"
    assert query.split("=")[0] in error(r)["message"], error(r)


def test_get_user_by_id_and_name_in_any_case(api):
    api.register("zed")
    alice = api.register("Alice")
    for ref in (str(alice.id), "Alice", "alice", "ALICE"):
        got = api.get("/api/users/%s" % ref, expect=200).json()
        assert got == alice.user


@pytest.mark.parametrize("ref", ["carol", "999", "0", "carol%2Fx"])
def test_get_unknown_user_is_404(shared_api, ref):
    api = shared_api
    ensure_user(api, "alice")
    r = api.get("/api/users/%s" % ref, expect=404)
    assert error(r)["code"] == "not_found"


def test_patch_status(api):
    alice = api.register("alice")
    r = api.patch("/api/users/alice", token=alice.token, json={"status": "coding"}, expect=200)
    u = r.json()
    assert u["status"] == "coding" and u["id"] == alice.id
    assert TIME_RE.match(u["status_updated_at"])
    assert api.get("/api/users/%d" % alice.id, expect=200).json() == u
    # By id and by another case of the name; "" clears it.
    api.patch("/api/users/%d" % alice.id, token=alice.token, json={"status": "lunch"},
              expect=200)
    u = api.patch("/api/users/ALICE", token=alice.token, json={"status": ""}, expect=200).json()
    assert u["status"] == ""
    # Exactly 256 bytes (128 two-byte characters) is fine.
    u = api.patch("/api/users/alice", token=alice.token, json={"status": "\u00e9" * 128},
                  expect=200).json()
    assert u["status"] == "\u00e9" * 128


def test_patch_status_errors(api):
    alice = api.register("alice")
    bob = api.register("bob")
    r = api.patch("/api/users/alice", json={"status": "x"}, expect=401)
    assert error(r)["code"] == "unauthorized"
    api.patch("/api/users/alice", token=bogus_token(), json={"status": "x"}, expect=401)
    r = api.patch("/api/users/alice", token=bob.token, json={"status": "pwned"}, expect=403)
    assert error(r)["code"] == "forbidden"
    api.patch("/api/users/%d" % alice.id, token=bob.token, json={"status": "pwned"},
              expect=403)
    # Over 256 bytes: 129 two-byte characters (258 bytes), and 257 ASCII.
    for status in ("\u00e9" * 129, "x" * 257):
        r = api.patch("/api/users/alice", token=alice.token, json={"status": status},
                      expect=422)
        assert "status" in error(r)["message"], error(r)
    r = api.patch("/api/users/alice", token=alice.token, json={"status": 5}, expect=422)
    assert "status" in error(r)["message"], error(r)
    r = api.patch("/api/users/carol", token=alice.token, json={"status": "x"}, expect=404)
    assert error(r)["code"] == "not_found"
    api.patch("/api/users/alice", token=alice.token, data=b"status=x",
              headers={"Content-Type": "text/plain"}, expect=415)
    api.patch("/api/users/alice", token=alice.token, data=b"{]",
              headers={"Content-Type": "application/json"}, expect=400)
    # Nothing changed.
    assert api.get("/api/users/alice", expect=200).json()["status"] == ""


def test_delete_user(api):
    alice = api.register("alice")
    bob = api.register("bob")
    second = api.login("alice")["token"]
    to_bob = api.send(alice, "bob", "from alice")
    to_alice = api.send(bob, "alice", "from bob")
    bob_to_bob = api.send(bob, "bob", "note to self")

    r = api.delete("/api/users/alice", token=alice.token, expect=204)
    assert r.content == b""
    api.get("/api/users/alice", expect=404)
    api.get("/api/users/%d" % alice.id, expect=404)
    # Its tokens go with it.
    api.get("/api/messages", token=alice.token, expect=401)
    api.get("/api/messages", token=second, expect=401)
    # Its messages go with it, also from the other side's boxes.
    inbox = api.inbox(bob)
    assert [m["id"] for m in inbox["messages"]] == [bob_to_bob["id"]]
    assert inbox["total"] == 1
    sent = api.sent(bob)
    assert [m["id"] for m in sent["messages"]] == [bob_to_bob["id"]]
    api.get("/api/messages/%d" % to_bob["id"], token=bob.token, expect=404)
    api.get("/api/messages/%d" % to_alice["id"], token=bob.token, expect=404)
    users = api.get("/api/users", expect=200).json()
    assert [u["name"] for u in users["users"]] == ["bob"] and users["total"] == 1
    # Login no longer works.
    api.post("/api/login", json={"name": "alice", "password": DEFAULT_PASSWORD}, expect=401)


def test_get_user_shows_every_change_at_once(api):
    # GET /api/users/{id} is answered from a cache of its JSON
    # (src/api/user_cache.c): no change may be missed by the next GET.
    alice = api.register("alice")
    by_id = "/api/users/%d" % alice.id
    for _ in range(3):
        assert api.get(by_id, expect=200).json() == alice.user
    for status in ("coding", "lunch", "", "\u00e9" * 128, "coding"):
        u = api.patch(by_id, token=alice.token, json={"status": status}, expect=200).json()
        for _ in range(2):
            assert api.get(by_id, expect=200).json() == u
        assert api.get("/api/users/alice", expect=200).json() == u
        assert api.request("HEAD", by_id, expect=200).headers["Content-Length"] == \
            str(len(json.dumps(u, separators=(",", ":"), ensure_ascii=False).encode()))
    # Another user registering does not disturb alice's answer.
    bob = api.register("bob")
    assert api.get("/api/users/%d" % bob.id, expect=200).json() == bob.user
    assert api.get(by_id, expect=200).json() == u
    api.delete(by_id, token=alice.token, expect=204)
    api.get(by_id, expect=404)
    api.get("/api/users/alice", expect=404)
    assert api.get("/api/users/%d" % bob.id, expect=200).json() == bob.user


def test_delete_user_errors(api):
    alice = api.register("alice")
    bob = api.register("bob")
    r = api.delete("/api/users/alice", token=bob.token, expect=403)
    assert error(r)["code"] == "forbidden"
    api.delete("/api/users/%d" % alice.id, token=bob.token, expect=403)
    api.delete("/api/users/alice", expect=401)
    api.delete("/api/users/alice", token=bogus_token(), expect=401)
    api.delete("/api/users/carol", token=alice.token, expect=404)
    # alice is still there and can log in.
    api.get("/api/users/alice", expect=200)
    api.login("alice")


# --------------------------------------------------------------------------
# Messages
# --------------------------------------------------------------------------

def check_message(m, sender, recipient, content):
    assert m["from"] == sender.name and m["from_id"] == sender.id, m
    assert m["to"] == recipient.name and m["to_id"] == recipient.id, m
    assert m["content"] == content
    assert m["read"] is False and m["read_at"] is None
    assert TIME_RE.match(m["created_at"])


def test_send_message_to_user_by_id_and_name(api):
    alice = api.register("alice")
    bob = api.register("Bob")
    for ref in ("Bob", "bob", "BOB", str(bob.id)):
        m = api.send(alice, ref, "hello via %s" % ref)
        check_message(m, alice, bob, "hello via %s" % ref)
    got = api.inbox(bob)
    assert got["total"] == 4


def test_send_message_with_to_as_number_string_and_name(api):
    alice = api.register("alice")
    bob = api.register("bob")
    ids = []
    for to in (bob.id, str(bob.id), "bob", "BOB"):
        r = api.post("/api/messages", token=alice.token, json={"to": to, "content": "hi %r" % (to,)},
                     expect=201)
        check_message(r.json(), alice, bob, "hi %r" % (to,))
        ids.append(r.json()["id"])
    assert len(set(ids)) == 4
    assert sorted(m["id"] for m in api.inbox(bob)["messages"]) == sorted(ids)


def test_send_message_errors(api):
    alice = api.register("alice")
    api.register("bob")
    r = api.post("/api/users/carol/messages", token=alice.token, json={"content": "x"},
                 expect=404)
    assert error(r)["code"] == "not_found"
    api.post("/api/users/999/messages", token=alice.token, json={"content": "x"}, expect=404)
    api.post("/api/messages", token=alice.token, json={"to": "carol", "content": "x"},
             expect=404)
    api.post("/api/messages", token=alice.token, json={"to": 999, "content": "x"}, expect=404)
    api.post("/api/messages", token=alice.token, json={"to": "999", "content": "x"}, expect=404)
    api.post("/api/users/bob/messages", json={"content": "x"}, expect=401)
    api.post("/api/messages", json={"to": "bob", "content": "x"}, expect=401)
    api.post("/api/messages", token=bogus_token(), json={"to": "bob", "content": "x"},
             expect=401)
    r = api.post("/api/users/bob/messages", token=alice.token, json={"content": ""}, expect=422)
    assert "content" in error(r)["message"]
    api.post("/api/messages", token=alice.token, json={"to": "bob", "content": ""}, expect=422)
    r = api.post("/api/messages", token=alice.token, json={"content": "x"}, expect=422)
    assert "to" in error(r)["message"]
    api.post("/api/messages", token=alice.token, json={"to": ["bob"], "content": "x"},
             expect=422)
    r = api.post("/api/messages", token=alice.token, json={"to": "bob"}, expect=422)
    assert "content" in error(r)["message"]
    api.post("/api/messages", token=alice.token, json={"to": "bob", "content": 5}, expect=422)
    api.post("/api/messages", token=alice.token, data=b"to=bob",
             headers={"Content-Type": "text/plain"}, expect=415)
    api.post("/api/users/bob/messages", token=alice.token, data=b"{nope",
             headers={"Content-Type": "application/json"}, expect=400)
    assert api.sent(alice)["total"] == 0


def test_status_max_length_setting(broker_factory):
    a = Api(broker_factory("status_max_length 4"))
    alice = a.register("alice")
    a.patch("/api/users/alice", token=alice.token, json={"status": "\u00e9\u00e9"},
            expect=200)  # 4 bytes
    r = a.patch("/api/users/alice", token=alice.token, json={"status": "abcde"}, expect=422)
    assert "status" in error(r)["message"]
    a.close()


def test_message_max_length_in_bytes(broker_factory):
    a = Api(broker_factory("message_max_length 10"))
    alice = a.register("alice")
    a.register("bob")
    a.send(alice, "bob", "x" * 10)
    a.send(alice, "bob", "\u00e9" * 5)          # 10 bytes
    for content in ("x" * 11, "\u00e9" * 6):   # 11, 12 bytes
        r = a.post("/api/users/bob/messages", token=alice.token, json={"content": content},
                   expect=422)
        assert "content" in error(r)["message"]
        a.post("/api/messages", token=alice.token, json={"to": "bob", "content": content},
               expect=422)
    assert a.sent(alice)["total"] == 2
    a.close()


def wait_clock_past(ms_iso):
    """The wall clock (the server's: same machine) past a time string by a
    few milliseconds, so the next message's created_at is later."""
    target = iso_to_ms(ms_iso) / 1000.0 + 0.003
    for _ in range(100):
        now = time.time()
        if now >= target:
            return
        time.sleep(min(0.01, target - now))
    raise AssertionError("clock did not reach %s" % ms_iso)


def three_messages(api):
    """alice sends bob three messages, each in a later millisecond."""
    alice = api.register("alice")
    bob = api.register("bob")
    msgs = []
    for i in range(3):
        if msgs:
            wait_clock_past(msgs[-1]["created_at"])
        msgs.append(api.send(alice, "bob", "message %d" % i))
    assert msgs[0]["created_at"] < msgs[1]["created_at"] < msgs[2]["created_at"], msgs
    return alice, bob, msgs


def test_inbox_and_sent_newest_first(api):
    alice, bob, msgs = three_messages(api)
    newest_first = [m["id"] for m in reversed(msgs)]
    inbox = api.inbox(bob)
    assert [m["id"] for m in inbox["messages"]] == newest_first
    assert (inbox["total"], inbox["limit"], inbox["offset"]) == (3, 50, 0)
    assert inbox["messages"][0] == msgs[2]
    sent = api.sent(alice)
    assert [m["id"] for m in sent["messages"]] == newest_first
    assert sent["total"] == 3
    # Each side sees only its own box.
    assert api.inbox(alice)["total"] == 0
    assert api.sent(bob)["total"] == 0
    api.get("/api/messages", expect=401)
    api.get("/api/messages/sent", expect=401)


def test_inbox_pagination(api):
    alice, bob, msgs = three_messages(api)
    page = api.inbox(bob, limit=2)
    assert [m["id"] for m in page["messages"]] == [msgs[2]["id"], msgs[1]["id"]]
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 0)
    page = api.inbox(bob, limit=2, offset=2)
    assert [m["id"] for m in page["messages"]] == [msgs[0]["id"]]
    page = api.sent(alice, limit=1, offset=1)
    assert [m["id"] for m in page["messages"]] == [msgs[1]["id"]] and page["total"] == 3
    for query in ("limit=0", "limit=101", "offset=-1", "limit=abc"):
        for path in ("/api/messages", "/api/messages/sent"):
            r = api.get(path + "?" + query, token=bob.token, expect=422)
            assert error(r)["code"] == "validation_failed"


def test_inbox_since_iso_and_ms(api):
    alice, bob, msgs = three_messages(api)
    later = [msgs[2]["id"], msgs[1]["id"]]
    first = msgs[0]["created_at"]
    for since in (first, str(iso_to_ms(first))):
        page = api.inbox(bob, since=since)
        assert [m["id"] for m in page["messages"]] == later, since
        assert page["total"] == 2
        assert [m["id"] for m in api.sent(alice, since=since)["messages"]] == later
    assert api.inbox(bob, since="1970-01-01T00:00:00.000Z")["total"] == 3
    assert api.inbox(bob, since="0")["total"] == 3
    # Without milliseconds: whole seconds.
    secs = ms_to_iso(iso_to_ms(first) // 1000 * 1000 - 1000)[:19] + "Z"
    assert api.inbox(bob, since=secs)["total"] == 3
    assert api.inbox(bob, since=msgs[2]["created_at"])["total"] == 0
    assert api.inbox(bob, since=ms_to_iso(iso_to_ms(msgs[2]["created_at"]) - 1))["total"] == 1
    for bad in ("yesterday", "2026-13-45T99:00:00.000Z", "12abc"):
        r = api.get("/api/messages", token=bob.token, params={"since": bad}, expect=422)
        assert "since" in error(r)["message"]


def test_inbox_unread_only(api):
    alice, bob, msgs = three_messages(api)
    api.patch("/api/messages/%d" % msgs[0]["id"], token=bob.token, json={"read": True},
              expect=200)
    page = api.inbox(bob, unread="true")
    assert [m["id"] for m in page["messages"]] == [msgs[2]["id"], msgs[1]["id"]]
    assert page["total"] == 2
    assert api.inbox(bob, unread="false")["total"] == 3
    assert api.inbox(bob)["total"] == 3
    r = api.get("/api/messages", token=bob.token, params={"unread": "maybe"}, expect=422)
    assert "unread" in error(r)["message"]


def test_get_message_only_for_its_two_sides(api):
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    m = api.send(alice, "bob", "private")
    path = "/api/messages/%d" % m["id"]
    assert api.get(path, token=alice.token, expect=200).json() == m
    assert api.get(path, token=bob.token, expect=200).json() == m
    r = api.get(path, token=carol.token, expect=404)
    assert error(r)["code"] == "not_found"
    api.get(path, expect=401)
    api.get("/api/messages/%d" % (m["id"] + 1000), token=bob.token, expect=404)
    for ref in ("abc", "0", "-1"):
        api.get("/api/messages/%s" % ref, token=bob.token, expect=404)


def test_patch_message_read_only_by_recipient(api):
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    m = api.send(alice, "bob", "read me")
    path = "/api/messages/%d" % m["id"]
    r = api.patch(path, token=alice.token, json={"read": True}, expect=403)
    assert error(r)["code"] == "forbidden"
    api.patch(path, token=carol.token, json={"read": True}, expect=404)
    api.patch(path, json={"read": True}, expect=401)
    r = api.patch(path, token=bob.token, json={"read": "yes"}, expect=422)
    assert "read" in error(r)["message"]
    api.patch(path, token=bob.token, json={}, expect=422)
    assert api.get(path, token=bob.token, expect=200).json()["read"] is False

    got = api.patch(path, token=bob.token, json={"read": True}, expect=200).json()
    assert got["read"] is True and TIME_RE.match(got["read_at"])
    assert got["id"] == m["id"] and got["content"] == "read me"
    # The sender sees it read too.
    assert api.get(path, token=alice.token, expect=200).json()["read"] is True
    got = api.patch(path, token=bob.token, json={"read": False}, expect=200).json()
    assert got["read"] is False and got["read_at"] is None


def test_delete_message_keeps_the_other_copy(api):
    alice = api.register("alice")
    bob = api.register("bob")
    carol = api.register("carol")
    m = api.send(alice, "bob", "delete me")
    keep = api.send(alice, "bob", "keep me")
    path = "/api/messages/%d" % m["id"]
    api.delete(path, token=carol.token, expect=404)
    api.delete(path, expect=401)
    r = api.delete(path, token=bob.token, expect=204)
    assert r.content == b""
    api.get(path, token=bob.token, expect=404)
    assert [x["id"] for x in api.inbox(bob)["messages"]] == [keep["id"]]
    api.delete(path, token=bob.token, expect=404)
    # alice still has her copy.
    assert api.get(path, token=alice.token, expect=200).json()["content"] == "delete me"
    assert api.sent(alice)["total"] == 2
    api.delete(path, token=alice.token, expect=204)
    api.get(path, token=alice.token, expect=404)
    assert [x["id"] for x in api.sent(alice)["messages"]] == [keep["id"]]


# --------------------------------------------------------------------------
# Random numbers
# --------------------------------------------------------------------------

def test_integer_defaults(api):
    for _ in range(20):
        got = api.get("/api/integer", expect=200).json()
        assert len(got) == 3 and len(set(got)) == 3, got
        assert all(isinstance(x, int) and 0 <= x <= 100 for x in got), got


def test_integer_parameters(api):
    got = api.get("/api/integer", params={"n": 10, "min": 5, "max": 14}, expect=200).json()
    assert sorted(got) == list(range(5, 15))
    got = api.get("/api/integer", params={"n": 1000, "min": -500, "max": 499}, expect=200).json()
    assert sorted(got) == list(range(-500, 500))
    got = api.get("/api/integer", params={"n": 1, "min": 7, "max": 7}, expect=200).json()
    assert got == [7]
    big = 2 ** 53
    got = api.get("/api/integer", params={"n": 5, "min": -big, "max": big}, expect=200).json()
    assert len(set(got)) == 5 and all(-big <= x <= big for x in got)


@pytest.mark.parametrize("query", [
    "n=5&min=1&max=3",      # n larger than the range
    "min=10&max=5",         # min > max
    "n=abc", "min=x", "max=1.5", "n=", "min=1e3",
    "n=0", "n=1001", "n=-1",
    "max=%d" % (2 ** 53 + 1), "min=-%d" % (2 ** 53 + 1),
])
def test_integer_bad_parameters_are_422(shared_api, query):
    api = shared_api
    r = api.get("/api/integer?" + query, expect=422)
    assert error(r)["code"] == "validation_failed"


def test_float_within_bounds(api):
    got = api.get("/api/float", expect=200).json()
    assert len(got) == 3 and all(0 <= x < 100 for x in got), got
    got = api.get("/api/float", params={"n": 200, "min": -1.5, "max": 2.5}, expect=200).json()
    assert len(got) == 200 and all(-1.5 <= x < 2.5 for x in got), got
    assert len(set(got)) > 100, "200 draws with very few distinct values: %r" % got[:20]


@pytest.mark.parametrize("query", ["min=5&max=1", "min=abc", "max=", "n=0", "n=1001",
                                   "n=x", "min=nan", "max=inf"])
def test_float_bad_parameters_are_422(shared_api, query):
    api = shared_api
    api.get("/api/float?" + query, expect=422)


def test_seed_makes_sequences_repeat(api):
    def draw():
        ints = api.get("/api/integer", params={"n": 20, "min": 0, "max": 10 ** 9},
                       expect=200).json()
        floats = api.get("/api/float", params={"n": 5}, expect=200).json()
        return ints, floats

    r = api.post("/api/seed", json={"seed_value": 42}, expect=200)
    assert r.json() == {"seed_value": 42}
    first = draw()
    api.post("/api/seed", json={"seed_value": 42}, expect=200)
    second = draw()
    assert first == second
    api.post("/api/seed", json={"seed_value": -7}, expect=200)
    other = draw()
    assert other != first
    api.post("/api/seed", json={"seed_value": -7}, expect=200)
    assert draw() == other


def test_seed_accepts_any_int64(shared_api):
    for v in (2 ** 63 - 1, -2 ** 63, 0):
        r = shared_api.post("/api/seed", json={"seed_value": v}, expect=200)
        assert r.json() == {"seed_value": v}


def test_int64_overflow_is_422_not_400(shared_api):
    """docs/api.md: only a body that is not JSON is 400; an integer outside
    int64 is valid JSON, just out of range."""
    r = shared_api.post("/api/seed", data=b'{"seed_value": 18446744073709551616}',
                        headers={"Content-Type": "application/json"}, expect=422)
    assert "seed_value" in error(r)["message"]


def test_escaped_nul_in_content_is_422_not_400(shared_api):
    """A NUL character (escaped) is valid JSON: the content is what is wrong."""
    api = shared_api
    alice = ensure_user(api, "nul-sender")
    token = api.login("nul-sender")["token"]
    r = api.post("/api/messages", token=token,
                 json={"to": alice["id"], "content": "a\u0000b"}, expect=422)
    assert "content" in error(r)["message"]


def test_seed_errors(api):
    for body in ({"seed_value": "42"}, {"seed_value": 1.5}, {}, {"seed": 42}):
        r = api.post("/api/seed", json=body, expect=422)
        assert "seed_value" in error(r)["message"], error(r)
    api.post("/api/seed", data=b"42", headers={"Content-Type": "text/plain"}, expect=415)
    api.post("/api/seed", data=b"{seed", headers={"Content-Type": "application/json"},
             expect=400)


# --------------------------------------------------------------------------
# Operations
# --------------------------------------------------------------------------

def test_healthz(api):
    assert api.get("/healthz", expect=200).json() == {"status": "ok"}


PROM_SAMPLE = re.compile(r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? ([-+]?[0-9.eE+-]+|[-+]?Inf|NaN)$')


def test_metrics_prometheus_text(api, raw):
    api.register("alice")
    api.get("/api/users", expect=200)
    api.get("/api/nope", expect=404)
    mqtt = raw(api.broker.port, "metrics-check")
    mqtt.publish("metrics/check", b"x", qos=1, pid=5)  # PUBACK: it was received
    r = api.get("/metrics", expect=200)
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    text = r.text
    samples = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        assert PROM_SAMPLE.match(line), "not a Prometheus sample line: %r" % line
        name_labels, _, value = line.rpartition(" ")
        samples[name_labels] = float(value)
    assert "# TYPE agora_http_requests_total counter" in text
    users_2xx = [k for k in samples
                 if k.startswith("agora_http_requests_total{") and 'route="/api/users"' in k
                 and re.search(r'status="2\d\d"', k)]
    assert users_2xx and sum(samples[k] for k in users_2xx) >= 2, users_2xx
    assert samples.get("agora_mqtt_connections", 0) >= 1, text
    assert samples.get('agora_mqtt_messages_received_total{qos="1"}', 0) >= 1, text
    assert 'agora_mqtt_messages_sent_total{qos="1"}' in samples, text
    assert "agora_store_errors_total" in samples, text
    assert "# TYPE agora_http_request_duration_seconds histogram" in text
    inf = samples.get('agora_http_request_duration_seconds_bucket{le="+Inf"}')
    count = samples.get("agora_http_request_duration_seconds_count")
    assert inf is not None and count is not None and inf == count >= 3, (inf, count)
    assert "agora_http_request_duration_seconds_sum" in samples
    buckets = [v for k, v in samples.items()
               if k.startswith("agora_http_request_duration_seconds_bucket{")]
    assert len(buckets) >= 2
    mqtt.disconnect()


ROUTES = [
    ("get", "/healthz"), ("get", "/metrics"), ("get", "/api/openapi.json"), ("get", "/api/doc"),
    ("post", "/api/users"), ("get", "/api/users"), ("get", "/api/users/{id}"),
    ("patch", "/api/users/{id}"), ("delete", "/api/users/{id}"),
    ("post", "/api/users/{id}/messages"), ("post", "/api/login"), ("post", "/api/logout"),
    ("post", "/api/messages"), ("get", "/api/messages"), ("get", "/api/messages/sent"),
    ("get", "/api/messages/{id}"), ("patch", "/api/messages/{id}"),
    ("delete", "/api/messages/{id}"), ("get", "/api/integer"), ("get", "/api/float"),
    ("post", "/api/seed"),
]


def test_openapi_document(api):
    r = api.get("/api/openapi.json", expect=200)
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    doc = r.json()
    assert doc["openapi"] == "3.1.0"
    missing = [(m, p) for m, p in ROUTES if m not in doc["paths"].get(p, {})]
    assert not missing, "docs/api.md routes missing from the document: %r" % missing


def test_doc_page_and_its_script(api):
    r = api.get("/api/doc", expect=200)
    assert r.headers["Content-Type"].split(";")[0] == "text/html"
    m = re.search(r'<script[^>]+src="([^"]*swagger-ui-bundle\.js)"', r.text)
    assert m, "no swagger-ui-bundle.js script in /api/doc: %r" % r.text[:500]
    src = urllib.parse.urlsplit(urllib.parse.urljoin(api.base + "/api/doc", m.group(1))).path
    assert src == "/api/doc/swagger-ui-bundle.js", src
    js = api.get(src, expect=200)
    assert "javascript" in js.headers["Content-Type"], js.headers
    assert len(js.content) > 10000
    # Nothing is loaded from elsewhere.
    assert not re.search(r'(src|href)="(https?:)?//', r.text), r.text[:1000]
    css = api.get("/api/doc/swagger-ui.css", expect=200)
    assert "css" in css.headers["Content-Type"]


@pytest.mark.parametrize("path", ["/api/users", "/healthz", "/api/openapi.json", "/api/doc",
                                  "/api/users/alice", "/api/doc/swagger-ui-bundle.js"])
def test_head_like_get_without_body(shared_api, path):
    api = shared_api
    ensure_user(api, "alice")
    g = api.get(path, expect=200)
    h = api.request("HEAD", path, expect=200)
    assert h.content == b""
    assert h.headers.get("Content-Length") == str(len(g.content)), (h.headers, len(g.content))
    assert h.headers.get("Content-Type") == g.headers.get("Content-Type")


def test_head_of_missing_thing_is_404_without_body(shared_api):
    api = shared_api
    h = api.request("HEAD", "/api/users/carol", expect=404)
    assert h.content == b""


@pytest.mark.parametrize("path,methods", [
    ("/api/users", {"GET", "HEAD", "POST", "OPTIONS"}),
    ("/api/users/alice", {"GET", "HEAD", "PATCH", "DELETE", "OPTIONS"}),
    ("/api/messages/7", {"GET", "HEAD", "PATCH", "DELETE", "OPTIONS"}),
    ("/api/login", {"POST", "OPTIONS"}),
    ("/healthz", {"GET", "HEAD", "OPTIONS"}),
])
def test_options_lists_allow(shared_api, path, methods):
    api = shared_api
    r = api.request("OPTIONS", path)
    assert r.status_code in (200, 204), r
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",") if m.strip()}
    assert allow == methods, r.headers


@pytest.mark.parametrize("method,path,allowed", [
    ("PUT", "/api/users", {"GET", "POST"}),
    ("DELETE", "/api/users", {"GET", "POST"}),
    ("POST", "/api/users/alice", {"GET", "PATCH", "DELETE"}),
    ("GET", "/api/login", {"POST"}),
    ("PUT", "/healthz", {"GET"}),
    ("POST", "/api/integer", {"GET"}),
])
def test_405_lists_allowed_methods(shared_api, method, path, allowed):
    api = shared_api
    r = api.request(method, path, expect=405)
    assert error(r)["code"] == "method_not_allowed"
    allow = {m.strip() for m in r.headers.get("Allow", "").split(",")}
    assert allowed <= allow, r.headers
    assert not ({method} & allow), r.headers


@pytest.mark.parametrize("path", ["/api/nope", "/api/users/alice/nope", "/api", "/app/nope.js",
                                  "/api/users/alice/messages/1"])
def test_unknown_route_is_404(shared_api, path):
    api = shared_api
    r = api.get(path, expect=404)
    assert error(r)["code"] == "not_found"
    api.request("OPTIONS", path, expect=404)
    api.post(path, json={}, expect=404)


def test_cors_listed_origin(broker_factory):
    a = Api(broker_factory("cors_origins https://a.example, https://c.example"))
    alice = a.register("alice")
    for origin in ("https://a.example", "https://c.example"):
        r = a.get("/api/users", headers={"Origin": origin}, expect=200)
        assert r.headers.get("Access-Control-Allow-Origin") == origin, r.headers
    # Errors too (a browser could not read them otherwise).
    r = a.get("/api/messages", headers={"Origin": "https://a.example"}, expect=401)
    assert r.headers.get("Access-Control-Allow-Origin") == "https://a.example"
    pre = a.request("OPTIONS", "/api/users/alice",
                    headers={"Origin": "https://a.example",
                             "Access-Control-Request-Method": "PATCH",
                             "Access-Control-Request-Headers": "authorization, content-type"})
    assert pre.status_code in (200, 204), pre
    assert pre.headers.get("Access-Control-Allow-Origin") == "https://a.example"
    methods = {m.strip() for m in pre.headers.get("Access-Control-Allow-Methods", "").split(",")}
    assert "PATCH" in methods, pre.headers
    hdrs = pre.headers.get("Access-Control-Allow-Headers", "").lower()
    assert "authorization" in hdrs and "content-type" in hdrs, pre.headers
    # Another origin, or none: no CORS headers at all.
    for headers in ({"Origin": "https://b.example"}, {"Origin": "https://a.example.evil"}, {}):
        r = a.get("/api/users", headers=headers, expect=200)
        assert "Access-Control-Allow-Origin" not in r.headers, r.headers
        pre = a.request("OPTIONS", "/api/users",
                        headers=dict(headers, **{"Access-Control-Request-Method": "POST"}))
        assert "Access-Control-Allow-Origin" not in pre.headers, pre.headers
        assert "Access-Control-Allow-Methods" not in pre.headers, pre.headers
    a.patch("/api/users/alice", token=alice.token, json={"status": "x"},
            headers={"Origin": "https://b.example"}, expect=200)
    a.close()


def test_cors_any_origin(broker_factory):
    a = Api(broker_factory("cors_origins *"))
    r = a.get("/healthz", headers={"Origin": "https://anything.example"}, expect=200)
    assert r.headers.get("Access-Control-Allow-Origin") == "*"
    r = a.get("/healthz", expect=200)
    assert "Access-Control-Allow-Origin" not in r.headers
    a.close()


def test_no_cors_by_default(api):
    r = api.get("/api/users", headers={"Origin": "https://a.example"}, expect=200)
    assert "Access-Control-Allow-Origin" not in r.headers
