"""The two cases the course opens with, end to end, as docs/rules.md ("Two
cases from the course") writes them, against a real `agora serve` with
its rules engine, a local SMTP sink (tests/unit/smtp_sink.py, Debian's
python3-aiosmtpd) and a local HTTP sink (here, a thread):

  1. a satisfaction survey that answers back: an answer published on
     surveys/<id>/answers (or a poll vote) gets a direct message whose text
     depends on the answer, in the voter's inbox over the API and live
     over MQTT;
  2. support requests: every one recorded in the `requests` collection,
     the urgent ones also mailed and sent to a webhook.

Plus a rule that triggers itself stopping at rules_max_depth.
Every wait is on an event (a message, a request, a file) under a
deadline.
"""

import glob
import http.server
import json
import os
import queue
import subprocess
import threading
import time

import pytest

import apiclient
from apiclient import Api
from conftest import is_agora

pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: rules")

SINK = os.path.join(os.path.dirname(__file__), "..", "unit", "smtp_sink.py")
WAIT = 10.0


class HttpSink:
    """Answers 200 to every POST/PUT, queueing (method, path, headers, body)."""

    def __init__(self):
        self.requests = queue.Queue()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                sink.requests.put((self.command, self.path, dict(self.headers),
                                   self.rfile.read(n)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_PUT = do_POST

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def get(self, timeout=WAIT):
        try:
            return self.requests.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no webhook request within %.1fs" % timeout)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def sinks(tmp_path_factory):
    mail_dir = str(tmp_path_factory.mktemp("mail"))
    smtp = subprocess.Popen(["/usr/bin/python3", SINK, mail_dir], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    port = int(smtp.stdout.readline())
    http_sink = HttpSink()
    try:
        yield {"smtp_port": port, "mail_dir": mail_dir, "http": http_sink}
    finally:
        http_sink.close()
        smtp.stdin.close()
        smtp.wait(timeout=10)


@pytest.fixture(scope="module")
def server(tmp_path_factory, sinks):
    yield from apiclient.module_server(tmp_path_factory, "cases", [
        "admins desk",
        "smtp_url smtp://127.0.0.1:%d" % sinks["smtp_port"],
        "smtp_from agora@example.org",
    ])


@pytest.fixture(scope="module")
def api(server):
    a = Api(server)
    yield a
    a.close()


@pytest.fixture(scope="module")
def desk(api):
    return api.register("desk")


def add_rule(api, desk, name, sql, actions):
    return api.post("/api/rules", token=desk.token, expect=201,
                    json={"name": name, "sql": sql, "actions": actions}).json()


def mqtt_user(paho, server, account):
    c = paho(server.port, connect=False)
    c.client.username_pw_set(account.name, account.password)
    c.connect()
    return c


def wait_for(predicate, what):
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(0.05)  # polling a file or the API: no event to wait on
    raise AssertionError("%s: not within %.1fs" % (what, WAIT))


SURVEY_SQL = """
  SELECT username,
         CASE WHEN payload.satisfaction >= 4 THEN 'Thank you ' || username || ', glad it helped!'
              ELSE 'Thank you ' || username || '. What should we change? You said: '
                   || coalesce(payload.comment, '(nothing)')
         END AS reply
  FROM "surveys/+/answers"
  WHERE username IS NOT NULL AND payload.satisfaction BETWEEN 1 AND 5"""


def test_survey_answers_back(api, desk, server, paho):
    add_rule(api, desk, "survey-reply", SURVEY_SQL,
             [{"type": "message", "to": "${username}", "content": "${reply}"}])
    ana = api.register("ana")
    c = mqtt_user(paho, server, ana)
    c.subscribe("agora/users/ana/inbox", qos=1)
    c.publish("surveys/s1/answers", json.dumps({"satisfaction": 5}), qos=1)
    m = json.loads(c.get().payload)
    assert m["content"] == "Thank you ana, glad it helped!" and m["from"] == "desk"
    c.publish("surveys/s1/answers", json.dumps({"satisfaction": 2, "comment": "too long"}),
              qos=1)
    m = json.loads(c.get().payload)
    assert m["content"] == "Thank you ana. What should we change? You said: too long"
    # over the API too, newest first
    inbox = api.get("/api/messages", token=ana.token, expect=200).json()["messages"]
    assert [x["content"] for x in inbox[:2]] == [
        "Thank you ana. What should we change? You said: too long",
        "Thank you ana, glad it helped!"]
    # an anonymous answer (no username) is evaluated and answers nobody
    rid = [r for r in api.get("/api/rules", token=desk.token, expect=200).json()["rules"]
           if r["name"] == "survey-reply"][0]["id"]
    anon = paho(server.port)
    anon.publish("surveys/s1/answers", json.dumps({"satisfaction": 5}), qos=1)
    stats = wait_for(lambda: (lambda s: s if s["matched"] >= 3 else None)(
        api.get("/api/rules/%d" % rid, token=desk.token, expect=200).json()["stats"]),
        "the anonymous answer evaluated")
    assert stats["passed"] == 2 and stats["actions_ok"] == 2 and stats["actions_failed"] == 0


def test_vote_answers_back(api, desk, server, paho):
    poll = api.post("/api/polls", token=desk.token, expect=201,
                    json={"question": "Was the course useful?", "options": ["yes", "no"]}).json()
    add_rule(api, desk, "vote-reply",
             'SELECT payload.voter AS voter, payload.option AS option FROM "$events/vote" '
             'WHERE payload.poll_id = %d' % poll["id"],
             [{"type": "message", "to": "${voter}",
               "content": "You voted ${option}: thank you!"}])
    bea = api.register("bea")
    c = mqtt_user(paho, server, bea)
    c.subscribe("agora/users/bea/inbox", qos=1)
    # a vote over MQTT, as the course's clients cast them
    c.publish("agora/polls/%d/vote" % poll["id"], "no", qos=1)
    m = json.loads(c.get().payload)
    assert m["content"] == "You voted no: thank you!"


def test_support_requests(api, desk, server, paho, sinks):
    fields = ('SELECT username AS "from", payload.subject AS subject, payload.body AS body '
              'FROM "support/requests"')
    add_rule(api, desk, "support-record", fields,
             [{"type": "record", "collection": "requests"}])
    add_rule(api, desk, "support-urgent",
             fields + " WHERE lower(payload.subject) LIKE '%urgent%'",
             [{"type": "email", "to": "support@example.org",
               "subject": "[urgent] ${subject}", "body": "${from} wrote:\n${body}"},
              {"type": "webhook", "url": "http://127.0.0.1:%d/new" % sinks["http"].port}])
    carl = api.register("carl")
    c = mqtt_user(paho, server, carl)
    c.publish("support/requests", json.dumps({"subject": "question", "body": "how?"}), qos=1)
    c.publish("support/requests",
              json.dumps({"subject": "URGENT: printer on fire", "body": "help"}), qos=1)
    method, path, headers, body = sinks["http"].get()
    assert (method, path) == ("POST", "/new")
    assert json.loads(body) == {"from": "carl", "subject": "URGENT: printer on fire",
                                "body": "help"}
    mail = wait_for(lambda: glob.glob(os.path.join(sinks["mail_dir"], "*.json")), "the e-mail")
    with open(mail[0]) as f:
        m = json.load(f)
    assert m["rcpt_tos"] == ["support@example.org"]
    assert m["headers"]["Subject"] == "[urgent] URGENT: printer on fire"
    assert m["body"].strip() == "carl wrote:\nhelp"
    recs = wait_for(lambda: (lambda r: r if len(r) >= 2 else None)(
        api.get("/api/collections/requests", token=desk.token, expect=200).json()["records"]),
        "two records")
    assert [r["data"]["subject"] for r in recs] == ["URGENT: printer on fire", "question"]
    assert all(r["data"]["from"] == "carl" for r in recs)
    # the non-urgent request called no webhook (it was evaluated first)
    assert sinks["http"].requests.empty()


def test_self_triggering_rule_stops(api, desk, server, paho):
    rule = add_rule(api, desk, "echo-loop", 'SELECT payload FROM "loop/#"',
                    [{"type": "republish", "topic": "loop/again", "payload": "${payload}+"}])
    sub = paho(server.port)
    sub.subscribe("loop/#", qos=0)
    pub = paho(server.port)
    pub.publish("loop/start", "x", qos=0)
    got = [sub.get().payload for _ in range(5)]
    assert got == [b"x", b"x+", b"x++", b"x+++", b"x++++"]  # rules_max_depth 4
    stats = wait_for(lambda: (lambda s: s if s["loop_stopped"] else None)(
        api.get("/api/rules/%d" % rule["id"], token=desk.token, expect=200).json()["stats"]),
        "the loop stopped")
    # depths 0 to 3 evaluated, the 4th republish's event stopped: the end
    assert stats["loop_stopped"] == 1 and stats["matched"] == 4
