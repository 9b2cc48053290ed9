"""Rules over REST and from the shell (docs/api.md, "Rules"; docs/rules.md,
"Managing rules") against a real `agora serve` whose `admins` setting names
two accounts.

Two kinds of tests:
  - access control (401
    without a token, 403 for an account that is not an admin, on every
    route), collections, the CLI's usage errors and refusals, and every
    answer the handlers give a stub engine (tests/unit/test_api_rules.c,
    run here with AGORA_API_DUMP) checked against the OpenAPI document;
  - those of the rules engine at work (src/server/rules_service.c):
    CRUD, 422 with the engine's positions, rules taking effect at once,
    dry runs, records, owner deletion, a restart, the CLI end to end.

Every answer through apiclient.Api is validated against the OpenAPI
document the server serves, and every error against docs/api.md's codes.
"""

import functools
import json
import os
import subprocess
import uuid

import pytest
import requests

import apiclient
import conftest
import openapi_check
from apiclient import TIME_RE, Api, restart_on_same_data
from conftest import AGORA_BIN, is_agora
from test_cli_api import Cli, assert_error

pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: the rules API")

ADMINS = "boss, Chief"
RUN_TIMEOUT = 120.0


@functools.lru_cache(maxsize=1)
def uname(prefix="u"):
    return "%s%s" % (prefix, uuid.uuid4().hex[:10])


@pytest.fixture(scope="module")
def rules_broker(tmp_path_factory):
    """One server for the module, with two admins; tests use names of
    their own."""
    yield from apiclient.module_server(tmp_path_factory, "rules", ["admins %s" % ADMINS])


@pytest.fixture
def api(rules_broker):
    a = Api(rules_broker)
    yield a
    a.close()


@pytest.fixture(scope="module")
def accounts(rules_broker):
    """The two admins (the setting's "Chief" registered as "chief": names
    compare without regard to ASCII case) and an ordinary account."""
    a = Api(rules_broker)
    try:
        yield {"boss": a.register("boss"), "chief": a.register("chief"),
               "user": a.register("someone")}
    finally:
        a.close()


def code(r):
    return r.json()["error"]["code"]


ROUTES = [
    ("GET", "/api/rules", None),
    ("POST", "/api/rules", {"name": "x", "sql": "SELECT 1 FROM \"a\"", "actions": []}),
    ("GET", "/api/rules/1", None),
    ("PUT", "/api/rules/1", {"name": "x", "sql": "SELECT 1 FROM \"a\"", "actions": []}),
    ("DELETE", "/api/rules/1", None),
    ("POST", "/api/rules/1/test", {"topic": "a", "payload": "b"}),
    ("GET", "/api/collections/support", None),
]


# --------------------------------------------------------------------------
# Whatever the engine
# --------------------------------------------------------------------------

@pytest.mark.parametrize("method,path,body", ROUTES)
def test_access_control(api, accounts, method, path, body):
    r = api.request(method, path, json=body, expect=401)
    assert code(r) == "unauthorized"
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    r = api.request(method, path, json=body, token="not-a-token", expect=401)
    r = api.request(method, path, json=body, token=accounts["user"].token, expect=403)
    assert code(r) == "forbidden"
    assert "admins" in r.json()["error"]["message"]
    # An admin gets past the checks: the answer is the route's own.
    r = api.request(method, path, json=body, token=accounts["chief"].token)
    assert r.status_code not in (401, 403, 503), r.text


def test_collections_without_rules(api, accounts):
    boss = accounts["boss"]
    r = api.get("/api/collections/" + uname("c"), token=boss.token, expect=200)
    body = r.json()
    assert body["records"] == [] and body["next_before"] is None and body["limit"] == 50
    api.get("/api/collections/Not.A.Name", token=boss.token, expect=404)
    api.get("/api/collections/ok", token=boss.token, params={"limit": 0}, expect=422)
    api.get("/api/collections/ok", token=boss.token, params={"before": "x"}, expect=422)
    r = api.get("/api/collections/ok", token=boss.token, params={"limit": 100}, expect=200)
    assert r.json()["limit"] == 100


def test_openapi_lists_the_rules_routes(api):
    doc = api.get("/api/openapi.json", expect=200).json()
    for method, path, _ in ROUTES:
        template = path.replace("/1", "/{id}").replace("/support", "/{name}")
        assert method.lower() in doc["paths"][template], (method, template)


class _Answer:
    """What openapi_check needs of a response, from a dumped answer."""

    def __init__(self, a):
        self.status_code = a["status"]
        self.content = (a["body"] or "").encode()
        ctype = a["content_type"]
        self.headers = {"Content-Type": ctype} if ctype else {}

    def json(self):
        return json.loads(self.content)


def unit_binary(name):
    path = os.path.join(os.path.dirname(AGORA_BIN), "unit", name)
    assert os.access(path, os.X_OK), "%s is missing: make build-test" % path
    return path


def test_stub_engine_answers_match_openapi(tmp_path):
    """Every answer of the rules' handlers to a stub engine (refusals with
    positions, dry runs, stats, collections' pages) is what the OpenAPI
    document says, and every error carries its status's code word."""
    dump = tmp_path / "answers.jsonl"
    env = conftest.sanitizer_env()
    env["AGORA_API_DUMP"] = str(dump)
    p = subprocess.run([unit_binary("test_api_rules")], env=env, capture_output=True,
                       timeout=RUN_TIMEOUT)
    assert p.returncode == 0, p.stdout.decode()[-3000:] + p.stderr.decode()[-3000:]
    spec = openapi_check.load_spec()
    seen = set()
    with open(dump) as f:
        answers = [json.loads(line) for line in f]
    for a in answers:
        if not a["template"] or not (a["template"].startswith("/api/rules")
                                     or a["template"].startswith("/api/collections")):
            continue
        resp = _Answer(a)
        openapi_check.validate_response(spec, a["method"], a["template"], resp)
        if a["status"] >= 400:
            apiclient.check_error_body(spec, a["status"], resp, a["method"] + " " + a["target"])
        seen.add((a["method"], a["template"], a["status"]))
    statuses = {s for _, _, s in seen}
    assert {200, 201, 204, 401, 403, 404, 409, 422, 503} <= statuses, sorted(seen)
    assert ("POST", "/api/rules/{id}/test", 200) in seen
    assert ("GET", "/api/collections/{name}", 200) in seen


# -- the CLI, whatever the engine ---------------------------------------------

@pytest.fixture
def cli(tmp_path, rules_broker):
    return Cli(tmp_path, rules_broker.http_url)


@pytest.mark.parametrize("args,fragment", [
    (["rule"], "usage: agora rule add"),
    (["rule", "frob"], "'frob' is not a rule command"),
    (["rule", "add", "n", "SELECT 1 FROM \"a\""], "a rule needs an --action"),
    (["rule", "add", "n", "s", "--action", "[1]"], "--action '[1]': not a JSON object"),
    (["rule", "add", "n", "s", "--action", "{"], "not a JSON object"),
    (["rule", "show", "x"], "'x' is not a rule id"),
    (["rule", "rm", "0"], "'0' is not a rule id"),
    (["rule", "test", "1", "--topic", "a"], "--topic and --payload are needed"),
    (["rule", "test", "1", "--topic", "a", "--payload", "b", "--qos", "3"], "--qos '3'"),
    (["rule", "list", "--topic", "a"], "--topic does not apply"),
    (["rule", "show"], "missing arguments"),
])
def test_cli_usage_errors(cli, args, fragment):
    r = cli.run(*args)
    assert r.rc == 1, r
    assert fragment in r.err, r


def test_cli_help(cli):
    r = cli.run("rule", "--help")
    assert r.rc == 0 and not r.err
    for sub in ("add", "list", "show", "enable", "disable", "rm", "test"):
        assert "agora rule %s" % sub in r.out
    r = cli.run("rule", "test", "--help")
    assert r.rc == 0 and "--payload" in r.out and "--retain" in r.out


def test_cli_not_admin(cli, accounts):
    cli.login("someone")
    r = cli.run("rule", "list")
    assert_error(r, "rule list", 3, "403 forbidden")
    r = cli.run("rule", "show", "1")
    assert_error(r, "rule show", 3, "403 forbidden")


def test_cli_not_logged_in(cli):
    r = cli.run("rule", "list")
    assert r.rc == 4 and "not logged in" in r.err, r


# --------------------------------------------------------------------------
# With the rules engine (src/server/rules_service.c wired into the server)
# --------------------------------------------------------------------------

def rule_body(name, sql, actions, **more):
    body = {"name": name, "sql": sql, "actions": actions}
    body.update(more)
    return body


def create(api, who, name, sql, actions, expect=201, **more):
    return api.post("/api/rules", token=who.token, json=rule_body(name, sql, actions, **more),
                    expect=expect)


def test_crud(api, accounts):
    boss, chief = accounts["boss"], accounts["chief"]
    name = uname("r")
    sql = 'SELECT payload.subject AS subject FROM "support/requests"'
    actions = [{"type": "record", "collection": "support"}]
    r = create(api, boss, name, sql, actions)
    rule = r.json()
    assert r.headers["Location"] == "/api/rules/%d" % rule["id"]
    assert rule["name"] == name and rule["owner"] == "boss" and rule["sql"] == sql
    assert rule["actions"][0]["collection"] == "support"
    assert rule["enabled"] is True
    assert TIME_RE.match(rule["created_at"]) and rule["updated_at"] == rule["created_at"]
    assert rule["stats"]["matched"] == 0 and rule["stats"]["last_error"] is None
    path = "/api/rules/%d" % rule["id"]
    assert api.get(path, token=chief.token, expect=200).json()["name"] == name
    listed = api.get("/api/rules", token=chief.token, params={"limit": 100}, expect=200).json()
    assert rule["id"] in [x["id"] for x in listed["rules"]]
    # a name is unique, ASCII case ignored
    r = create(api, chief, name.upper(), sql, actions, expect=409)
    assert code(r) == "conflict"
    # replaced: same owner, the new text
    r = api.put(path, token=chief.token, json=rule_body(name, sql + " WHERE qos > 0", actions,
                                                          enabled=False), expect=200)
    assert r.json()["sql"].endswith("WHERE qos > 0") and r.json()["enabled"] is False
    assert r.json()["owner"] == "boss"
    api.delete(path, token=chief.token, expect=204)
    api.get(path, token=chief.token, expect=404)
    api.delete(path, token=chief.token, expect=404)


@pytest.mark.parametrize("sql,position,fragment", [  # what src/rules/ says
    ('SELECT tempp FROM "sensors/#"', 7, "tempp"),
    ('SELECT * FROM "sensors/#" WHERE', 31, "condition"),
    ('SELECT * FROM "a/#/b"', 14, "not a valid MQTT topic filter"),
    ('SELECT * FROM "$events/nope"', 14, "unknown event"),
])
def test_invalid_rule_points_at_the_position(api, accounts, sql, position, fragment):
    boss = accounts["boss"]
    name = uname("bad")
    r = create(api, boss, name, sql, [{"type": "record", "collection": "c"}], expect=422)
    err = r.json()["error"]
    assert err["code"] == "invalid_rule"
    assert err["position"] == position, err
    assert fragment in err["message"], err
    # nothing stored
    names = [x["name"] for x in api.get("/api/rules", token=boss.token,
                                        params={"limit": 100}, expect=200).json()["rules"]]
    assert name not in names


def test_invalid_action(api, accounts):
    r = create(api, accounts["boss"], uname("bad"), 'SELECT * FROM "a"',
               [{"type": "republish", "topic": "x", "qos": 7}], expect=422)
    err = r.json()["error"]
    assert err["code"] == "invalid_rule" and "actions[0]" in err["message"], err


def test_takes_effect_at_once_and_disable(api, accounts, rules_broker, paho):
    boss = accounts["boss"]
    tag = uname("t")
    sub = paho(rules_broker.port)
    sub.subscribe("out-%s/#" % tag, qos=1)
    a = create(api, boss, uname("a"), 'SELECT payload FROM "in-%s/a"' % tag,
               [{"type": "republish", "topic": "out-%s/a" % tag, "payload": "${payload}"}]).json()
    create(api, boss, uname("b"), 'SELECT payload FROM "in-%s/b"' % tag,
           [{"type": "republish", "topic": "out-%s/b" % tag, "payload": "${payload}"}])
    pub = paho(rules_broker.port)
    pub.publish("in-%s/a" % tag, b"one", qos=1)
    m = sub.get()
    assert m.topic == "out-%s/a" % tag and m.payload == b"one"
    r = api.get("/api/rules/%d" % a["id"], token=boss.token, expect=200).json()
    assert r["stats"]["matched"] >= 1 and r["stats"]["passed"] >= 1
    # disabled: rule a no longer runs; rule b's message marks the end
    api.put("/api/rules/%d" % a["id"], token=boss.token,
            json=rule_body(a["name"], a["sql"], a["actions"], enabled=False), expect=200)
    pub.publish("in-%s/a" % tag, b"two", qos=1)
    pub.publish("in-%s/b" % tag, b"marker", qos=1)
    before = sub.get_until("out-%s/b" % tag)
    assert before == [], [(x.topic, x.payload) for x in before]


def test_dry_run(api, accounts):
    boss = accounts["boss"]
    rule = create(api, boss, uname("dry"),
                  "SELECT payload.subject AS subject FROM \"support/requests\" "
                  "WHERE payload.subject LIKE '%urgent%'",
                  [{"type": "record", "collection": "support"}]).json()
    path = "/api/rules/%d/test" % rule["id"]
    r = api.post(path, token=boss.token, expect=200,
                 json={"topic": "support/requests", "payload": '{"subject":"urgent: printer"}'})
    t = r.json()
    assert t["passed"] is True and t["fields"]["subject"] == "urgent: printer"
    assert t["actions"][0]["type"] == "record"
    r = api.post(path, token=boss.token, expect=200,
                 json={"topic": "support/requests", "payload": '{"subject":"hello"}'})
    assert r.json()["passed"] is False
    # a dry run records nothing
    recs = api.get("/api/collections/support", token=boss.token, expect=200).json()["records"]
    assert all(x["rule_id"] != rule["id"] for x in recs)


def test_record_reaches_the_collection(api, accounts, rules_broker, paho):
    boss = accounts["boss"]
    tag = uname("rec")
    coll = tag.lower()
    rule = create(api, boss, uname("r"), 'SELECT payload.n AS n FROM "%s"' % tag,
                  [{"type": "record", "collection": coll},
                   {"type": "republish", "topic": "done-%s" % tag, "payload": "${n}"}]).json()
    sub = paho(rules_broker.port)
    sub.subscribe("done-%s" % tag, qos=1)
    pub = paho(rules_broker.port)
    for n in range(3):
        pub.publish(tag, json.dumps({"n": n}).encode(), qos=1)
    # the record comes before the republish (actions in order): three
    # republished messages mean three records
    for n in range(3):
        assert sub.get().payload == str(n).encode()
    page = api.get("/api/collections/" + coll, token=boss.token, params={"limit": 2},
                   expect=200).json()
    assert [x["data"]["n"] for x in page["records"]] == [2, 1]
    assert all(x["rule_id"] == rule["id"] for x in page["records"])
    rest = api.get("/api/collections/" + coll, token=boss.token,
                   params={"limit": 2, "before": page["next_before"]}, expect=200).json()
    assert [x["data"]["n"] for x in rest["records"]] == [0] and rest["next_before"] is None


def test_owner_deleted(api, accounts, rules_broker):
    # an admin named in the setting, registered for this test only
    temp = Api(rules_broker)
    try:
        chief2 = accounts["chief"]
        rule = create(api, chief2, uname("own"), 'SELECT * FROM "x"',
                      [{"type": "record", "collection": "c"}]).json()
        path = "/api/rules/%d" % rule["id"]
        api.delete("/api/users/chief", token=chief2.token, expect=204)
        r = api.get(path, token=accounts["boss"].token, expect=200).json()
        assert r["owner"] is None and r["enabled"] is False
        r = api.put(path, token=accounts["boss"].token, expect=200,
                    json=rule_body(rule["name"], rule["sql"], rule["actions"])).json()
        assert r["owner"] == "boss" and r["enabled"] is True
    finally:
        # chief again, for the other tests of the module
        accounts["chief"] = temp.register("chief")
        temp.close()


def test_rules_survive_a_restart(broker_factory, paho):
    b = broker_factory("admins boss")
    a = Api(b)
    boss = a.register("boss")
    rule = create(a, boss, "kept", 'SELECT payload FROM "in/kept"',
                  [{"type": "republish", "topic": "out/kept", "payload": "${payload}"}]).json()
    a.close()
    b.stop()
    b2 = restart_on_same_data(broker_factory, b, "admins boss")
    a2 = Api(b2)
    token = a2.login("boss")["token"]
    got = a2.get("/api/rules/%d" % rule["id"], token=token, expect=200).json()
    assert got["name"] == "kept" and got["sql"] == rule["sql"]
    sub = paho(b2.port)
    sub.subscribe("out/kept", qos=1)
    paho(b2.port).publish("in/kept", b"again", qos=1)
    assert sub.get().payload == b"again"
    a2.close()


def test_cli_end_to_end(cli, api, accounts):
    cli.login("boss")
    name = uname("cli")
    r = cli.run("rule", "add", name,
                "SELECT payload.subject AS subject FROM \"support/requests\" "
                "WHERE payload.subject LIKE '%urgent%'",
                "--action", '{"type":"record","collection":"support"}')
    assert r.rc == 0, r
    assert r.out.startswith("created rule #")
    rid = int(r.out.split("#")[1].split()[0])
    assert "(enabled), owner boss" in r.out and '"collection":"support"' in r.out
    r = cli.run("rule", "list")
    assert r.rc == 0 and name in r.out, r
    r = cli.run("rule", "list", "--json")
    assert name in [x["name"] for x in r.json_lines()]
    r = cli.run("rule", "disable", str(rid))
    assert r.rc == 0 and "disabled rule #%d" % rid in r.out and "(disabled)" in r.out, r
    assert api.get("/api/rules/%d" % rid, token=accounts["boss"].token,
                   expect=200).json()["enabled"] is False
    r = cli.run("rule", "enable", str(rid), "--json")
    assert r.rc == 0 and r.json_lines()[0]["enabled"] is True, r
    r = cli.run("rule", "test", str(rid), "--topic", "support/requests",
                "--payload", '{"subject":"urgent: printer"}')
    assert r.rc == 0 and "passed: yes" in r.out and "urgent: printer" in r.out, r
    r = cli.run("rule", "test", str(rid), "--topic", "support/requests",
                "--payload", '{"subject":"hello"}', "--json")
    assert r.rc == 0 and r.json_lines()[0]["passed"] is False, r
    r = cli.run("rule", "show", str(rid))
    assert r.rc == 0 and "stats:" in r.out, r
    # a refused rule: the message, then the text with a caret
    r = cli.run("rule", "add", uname("bad"), 'SELECT tempp FROM "a/#"',
                "--action", '{"type":"record","collection":"c"}')
    assert r.rc == 3, r
    lines = r.err.splitlines()
    assert "422 invalid_rule" in lines[0] and "tempp" in lines[0], r
    assert lines[1] == '  SELECT tempp FROM "a/#"' and lines[2] == "         ^", r
    r = cli.run("rule", "rm", str(rid))
    assert r.rc == 0 and r.out == "deleted rule #%d\n" % rid, r
    r = cli.run("rule", "show", str(rid))
    assert_error(r, "rule show", 3, "404 not_found")
