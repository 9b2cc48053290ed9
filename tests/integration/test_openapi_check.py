"""Offline checks of openapi_check.py against the OpenAPI document itself
(no server): the helper accepts what the document describes and refuses
drift; the document is valid JSON Schema and agrees with docs/api.md.
"""

import json
import os
import re

import jsonschema
import pytest

from openapi_check import (REPO, find_operation, load_spec, path_template, validate_json,
                           validate_response)

API_MD = os.path.join(REPO, "docs", "api.md")


class FakeResponse:
    """The parts of requests.Response that validate_response reads."""

    def __init__(self, status, body=None, content_type="application/json", raw=None):
        self.status_code = status
        if raw is not None:
            self.content = raw
        elif body is None:
            self.content = b""
        else:
            self.content = json.dumps(body).encode()
        self.headers = _Headers()
        if self.content and content_type:
            self.headers["content-type"] = content_type

    def json(self):
        return json.loads(self.content.decode("utf-8"))


class _Headers(dict):
    """Case-insensitive get, as requests' headers (keys stored lower-case)."""

    def get(self, name, default=None):
        return super().get(name.lower(), default)


USER = {
    "id": 1,
    "name": "alice",
    "status": "",
    "status_updated_at": None,
    "created_at": "2026-11-23T13:05:00.123Z",
}
TOKEN = "q7mDsbq1lrH8k8PRzyoVf0NjD4t8JIAbZrFIP1Y4zhA"
MESSAGE = {
    "id": 7,
    "from": "alice",
    "from_id": 1,
    "to": "bob",
    "to_id": 2,
    "content": "hello",
    "created_at": "2026-11-23T13:05:00.123Z",
    "read": False,
    "read_at": None,
}


@pytest.fixture(name="spec", scope="module")
def spec_fixture():
    return load_spec()


def ok(spec, method, path, status, body=None, **kw):
    validate_response(spec, method, path, FakeResponse(status, body, **kw))


def refused(spec, method, path, status, body=None, match=None, **kw):
    with pytest.raises(AssertionError, match=match):
        validate_response(spec, method, path, FakeResponse(status, body, **kw))


def test_component_schemas_are_valid_2020_12(spec):
    for name, schema in spec["components"]["schemas"].items():
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            pytest.fail("components/schemas/%s: %s" % (name, e.message))


def test_good_user_passes(spec):
    ok(spec, "GET", "/api/users/{id}", 200, USER)
    ok(spec, "GET", "/api/users/{id}", 200,
       dict(USER, status="coding", status_updated_at="2026-11-23T14:00:00.000Z"))


def test_user_with_extra_field_fails(spec):
    refused(spec, "GET", "/api/users/{id}", 200, dict(USER, password="x"),
            match="Additional properties")


def test_user_with_wrong_type_fails(spec):
    refused(spec, "GET", "/api/users/{id}", 200, dict(USER, id="1"), match="'id'")
    refused(spec, "GET", "/api/users/{id}", 200, dict(USER, status=None))


def test_user_missing_field_fails(spec):
    user = dict(USER)
    del user["created_at"]
    refused(spec, "GET", "/api/users/{id}", 200, user, match="created_at")


def test_times_are_utc_with_milliseconds(spec):
    for bad in ("2026-11-23T13:05:00Z", "2026-11-23 13:05:00.123Z", "2026-11-23T13:05:00.123+01:00",
                "2026-13-23T13:05:00.123Z", "1795439100123"):
        refused(spec, "GET", "/api/users/{id}", 200, dict(USER, created_at=bad))


def test_undocumented_status_fails(spec):
    refused(spec, "GET", "/api/users/{id}", 418, {"error": {"code": "x", "message": "y"}},
            match="not documented")
    refused(spec, "GET", "/api/users/{id}", 201, USER, match="not documented")


def test_undocumented_operation_fails(spec):
    refused(spec, "PUT", "/api/users/{id}", 200, USER, match="no PUT")
    refused(spec, "GET", "/api/nothing", 200, USER, match="no path")


def test_errors(spec):
    ok(spec, "GET", "/api/users/{id}", 404,
       {"error": {"code": "not_found", "message": "no user 'carol'"}})
    # The code must be the one of the status.
    refused(spec, "GET", "/api/users/{id}", 404,
            {"error": {"code": "forbidden", "message": "no user 'carol'"}})
    refused(spec, "GET", "/api/users/{id}", 404,
            {"error": {"code": "not_found", "message": "x"}, "detail": 1})
    refused(spec, "GET", "/api/users/{id}", 404, {"error": "not_found"})
    refused(spec, "GET", "/api/users/{id}", 404,
            {"error": {"code": "no_such_code", "message": "x"}})


def test_no_content(spec):
    ok(spec, "DELETE", "/api/users/{id}", 204)
    refused(spec, "DELETE", "/api/users/{id}", 204, {}, match="no body")


def test_content_type(spec):
    refused(spec, "GET", "/api/users/{id}", 200, USER, content_type="text/plain",
            match="Content-Type")
    ok(spec, "GET", "/api/users/{id}", 200, USER, content_type="application/json; charset=utf-8")
    ok(spec, "GET", "/metrics", 200, raw=b"agora_up 1\n", content_type="text/plain; version=0.0.4")
    ok(spec, "GET", "/api/doc", 200, raw=b"<!DOCTYPE html>",
       content_type="text/html; charset=utf-8")


def test_not_json_fails(spec):
    refused(spec, "GET", "/api/users/{id}", 200, raw=b"{nope", match="not JSON")


def test_accounts(spec):
    ok(spec, "POST", "/api/users", 201, dict(USER, token=TOKEN))
    refused(spec, "POST", "/api/users", 201, USER, match="token")
    refused(spec, "POST", "/api/users", 201, dict(USER, token="short"))
    ok(spec, "POST", "/api/login", 200, {"token": TOKEN, "user": USER})
    refused(spec, "POST", "/api/login", 200, {"token": TOKEN, "user": dict(USER, token=TOKEN)})
    ok(spec, "POST", "/api/login", 429, {"error": {"code": "too_many_requests", "message": "wait"}})
    ok(spec, "POST", "/api/logout", 204)


def test_lists(spec):
    ok(spec, "GET", "/api/users", 200, {"users": [USER], "total": 1, "limit": 50, "offset": 0})
    refused(spec, "GET", "/api/users", 200, {"users": [USER], "total": 1, "limit": 50})
    refused(spec, "GET", "/api/users", 200, [USER])
    ok(spec, "GET", "/api/messages", 200,
       {"messages": [MESSAGE, dict(MESSAGE, id=8, read=True, read_at="2026-11-23T13:06:00.000Z")],
        "total": 2, "limit": 2, "offset": 0})
    message = dict(MESSAGE)
    del message["read_at"]
    refused(spec, "GET", "/api/messages/sent", 200,
            {"messages": [message], "total": 1, "limit": 50, "offset": 0}, match="read_at")


def test_messages(spec):
    ok(spec, "POST", "/api/users/{id}/messages", 201, MESSAGE)
    ok(spec, "POST", "/api/messages", 201, MESSAGE)
    ok(spec, "PATCH", "/api/messages/{id}", 200, dict(MESSAGE, read=True,
                                                     read_at="2026-11-23T13:06:00.000Z"))
    refused(spec, "GET", "/api/messages/{id}", 200, dict(MESSAGE, read="no"))


def test_random(spec):
    ok(spec, "GET", "/api/integer", 200, [3, 99, 0])
    refused(spec, "GET", "/api/integer", 200, [3, 3, 0], match="unique")
    refused(spec, "GET", "/api/integer", 200, [1.5])
    refused(spec, "GET", "/api/integer", 200, [])
    ok(spec, "GET", "/api/float", 200, [0.5, 99.25, 3])
    ok(spec, "POST", "/api/seed", 200, {"seed_value": 42})
    ok(spec, "POST", "/api/seed", 200, {"seed_value": -42})
    refused(spec, "POST", "/api/seed", 200, {"seed_value": "42"})


def test_operations(spec):
    ok(spec, "GET", "/healthz", 200, {"status": "ok"})
    refused(spec, "GET", "/healthz", 200, {"status": "bad"})
    ok(spec, "GET", "/healthz", 503, {"error": {"code": "unavailable", "message": "store down"}})
    ok(spec, "GET", "/api/openapi.json", 200, spec)


def test_validate_json_names_the_schema(spec):
    with pytest.raises(AssertionError, match="components/schemas/User"):
        validate_json(spec, "/components/schemas/User", {})


def test_path_template(spec):
    assert path_template(spec, "/api/messages/sent") == "/api/messages/sent"
    assert path_template(spec, "/api/messages/12") == "/api/messages/{id}"
    assert path_template(spec, "/api/users/alice/messages") == "/api/users/{id}/messages"
    assert path_template(spec, "/api/users?limit=3") == "/api/users"
    assert path_template(spec, "/api/nothing") is None


def test_every_error_code_of_api_md_and_only_those(spec):
    """The ErrorCode enum is the error table of docs/api.md."""
    with open(API_MD, encoding="utf-8") as f:
        text = f.read()
    codes = set()
    for line in text.splitlines():
        m = re.match(r"^\|\s*(\d{3})\s*\|(.*?)\|", line)
        if m and 400 <= int(m.group(1)) <= 599:
            codes.update(re.findall(r"`([a-z_]+)`", m.group(2)))
    assert codes, "no error table found in docs/api.md"
    assert set(spec["components"]["schemas"]["ErrorCode"]["enum"]) == codes


def test_every_route_of_api_md_and_only_those(spec):
    """The operations documented are the requests docs/api.md names."""
    with open(API_MD, encoding="utf-8") as f:
        text = f.read()
    named = {(m, p) for m, p in re.findall(r"`(GET|POST|PATCH|DELETE|PUT) (/[^`?\s]*)", text)}
    documented = set()
    for path, item in spec["paths"].items():
        for method in ("get", "post", "patch", "delete", "put"):
            if method in item:
                documented.add((method.upper(), path))
                find_operation(spec, method, path)
    assert documented == named
