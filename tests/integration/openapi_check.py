"""Check REST answers against Agora's OpenAPI document (src/api/openapi.json).

    spec = load_spec()                     # or the JSON from GET /api/openapi.json
    r = requests.get(base + "/api/users/alice")
    validate_response(spec, "GET", "/api/users/{id}", r)

validate_response raises AssertionError, with a message naming the
operation, the status and what is wrong, when:
  - the operation (method and path template) is not in the document;
  - the status is not documented for it (neither exactly, nor as "4XX",
    nor as "default");
  - the Content-Type is not one the document gives for that status, or a
    body came where none is documented (204);
  - the JSON body does not validate against the documented schema (JSON
    Schema 2020-12, "#/components/..." references resolved in the document,
    formats checked: date-time must be a real RFC 3339 time).

Works with python3-jsonschema 4.x as Debian ships it (4.10, RefResolver) and
with newer ones (4.18+, the referencing library). Nothing is fetched over
the network: every reference is local to the document.

The response only needs status_code, headers (case-insensitive .get),
content (bytes) and json(), so requests' Response and the test doubles in
test_openapi_check.py both work. No server is needed to use this module.
"""

import datetime
import json
import os
import re
import urllib.parse

import jsonschema

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SPEC_PATH = os.path.join(REPO, "src", "api", "openapi.json")

# Where the document "lives" for reference resolution. Never fetched: the
# document itself is registered under this URI (.invalid cannot resolve).
SPEC_URI = "https://agora.invalid/api/openapi.json"

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

# How much of a body an error message quotes.
QUOTE = 400


def load_spec(path=SPEC_PATH):
    """The OpenAPI document as a dict (by default the repository's)."""
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def _pointer(*tokens):
    """A URI fragment for the JSON pointer made of tokens (RFC 6901)."""
    escaped = (str(t).replace("~", "~0").replace("/", "~1") for t in tokens)
    return urllib.parse.quote("/" + "/".join(escaped), safe="/~")


def _resolve_local(spec, ref):
    """The value a "#/..." reference names, and its fragment."""
    if not ref.startswith("#/"):
        raise AssertionError("openapi.json: only local references are supported, not %r" % ref)
    node = spec
    for raw in ref[2:].split("/"):
        token = urllib.parse.unquote(raw).replace("~1", "/").replace("~0", "~")
        if isinstance(node, list):
            node = node[int(token)]
        elif isinstance(node, dict) and token in node:
            node = node[token]
        else:
            raise AssertionError("openapi.json: reference %r does not resolve" % ref)
    return node, ref[1:]


def _deref(spec, node, fragment):
    """Follows $ref (response objects may be references); returns the
    object and the fragment it lives at."""
    for _ in range(16):
        if not (isinstance(node, dict) and "$ref" in node):
            return node, fragment
        node, fragment = _resolve_local(spec, node["$ref"])
    raise AssertionError("openapi.json: a $ref chain longer than 16 at %s" % fragment)


def find_operation(spec, method, path_template):
    """The operation object for method and path template, or AssertionError."""
    paths = spec.get("paths", {})
    item = paths.get(path_template)
    if item is None:
        raise AssertionError("openapi.json has no path %s (documented: %s)"
                             % (path_template, ", ".join(sorted(paths))))
    op = item.get(method.lower())
    if op is None:
        have = [m.upper() for m in METHODS if m in item]
        raise AssertionError("openapi.json has no %s %s (documented methods: %s)"
                             % (method.upper(), path_template, ", ".join(have)))
    return op


def path_template(spec, path):
    """The documented template a concrete path matches ("/api/users/alice"
    -> "/api/users/{id}"); literal templates win, as in the server. None if
    nothing matches."""
    path = path.split("?", 1)[0]
    candidates = []
    for template in spec.get("paths", {}):
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, path):
            candidates.append(template)
    # Fewer parameters first: "/api/messages/sent" before "/api/messages/{id}".
    candidates.sort(key=lambda t: t.count("{"))
    return candidates[0] if candidates else None


def _status_key(responses, status):
    for key in (str(status), "%dXX" % (status // 100), "%dxx" % (status // 100), "default"):
        if key in responses:
            return key
    return None


def _check_date_time(value):
    """RFC 3339 date-time (what OpenAPI's "date-time" means)."""
    if not isinstance(value, str):
        return True
    m = re.match(r"^(\d{4}-\d{2}-\d{2})[Tt](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$",
                 value)
    if not m:
        return False
    zone = "+00:00" if m.group(4) in ("Z", "z") else m.group(4)
    try:
        datetime.datetime.fromisoformat("%sT%s%s" % (m.group(1), m.group(2), zone))
    except ValueError:
        return False
    return True


def _format_checker():
    checker = jsonschema.FormatChecker()
    # Debian's jsonschema lacks rfc3339-validator, so "date-time" would
    # pass anything: check it here.
    checker.checks("date-time")(_check_date_time)
    return checker


def _validator(spec, fragment):
    """A Draft 2020-12 validator for the schema at fragment in spec, with
    references resolved against the whole document."""
    schema = {"$ref": SPEC_URI + "#" + fragment}
    try:
        # jsonschema >= 4.18
        from referencing import Registry, Resource
        from referencing.jsonschema import DRAFT202012
    except ImportError:
        Registry = None
    if Registry is not None:
        resource = Resource.from_contents(spec, default_specification=DRAFT202012)
        registry = Registry().with_resource(SPEC_URI, resource)
        return jsonschema.Draft202012Validator(schema, registry=registry,
                                               format_checker=_format_checker())

    def no_fetch(uri):
        raise AssertionError("openapi.json: reference to %s, outside the document" % uri)

    resolver = jsonschema.RefResolver(base_uri=SPEC_URI, referrer=spec,
                                      handlers={"http": no_fetch, "https": no_fetch})
    return jsonschema.Draft202012Validator(schema, resolver=resolver,
                                           format_checker=_format_checker())


def _quote(response):
    body = getattr(response, "content", b"") or b""
    text = body.decode("utf-8", "replace")
    return text if len(text) <= QUOTE else text[:QUOTE] + "..."


def validate_json(spec, fragment, value, what="value"):
    """Validates value against the schema at fragment ("/components/schemas/
    User"); AssertionError listing every mismatch."""
    validator = _validator(spec, fragment)
    errors = sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path))
    if errors:
        lines = []
        for e in errors[:8]:
            where = "".join("[%r]" % p for p in e.absolute_path) or "(top)"
            lines.append("  at %s: %s" % (where, e.message))
        if len(errors) > 8:
            lines.append("  ... and %d more" % (len(errors) - 8))
        raise AssertionError("%s does not match %s:\n%s"
                             % (what, urllib.parse.unquote(fragment), "\n".join(lines)))


def validate_response(spec, method, path_template, response):
    """Checks response (requests-like) against the documented answers of
    method path_template; AssertionError with a clear message if not."""
    op = find_operation(spec, method, path_template)
    what = "%s %s -> %d" % (method.upper(), path_template, response.status_code)
    responses = op.get("responses", {})
    key = _status_key(responses, response.status_code)
    if key is None:
        raise AssertionError("%s: status %d is not documented (documented: %s); body: %s"
                             % (what, response.status_code, ", ".join(sorted(responses)),
                                _quote(response)))
    documented, fragment = _deref(spec, responses[key],
                                  _pointer("paths", path_template, method.lower(),
                                           "responses", key))
    content = documented.get("content")
    body = getattr(response, "content", b"") or b""
    if not content:
        if body:
            raise AssertionError("%s: no body is documented, got %d bytes: %s"
                                 % (what, len(body), _quote(response)))
        return

    ctype = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
    if ctype not in content:
        raise AssertionError("%s: Content-Type %r, documented: %s"
                             % (what, response.headers.get("Content-Type"),
                                ", ".join(sorted(content))))
    media = content[ctype]
    if ctype != "application/json" or "schema" not in media:
        return
    try:
        value = response.json()
    except ValueError as e:
        raise AssertionError("%s: the body is not JSON (%s): %s" % (what, e, _quote(response)))
    schema_fragment = fragment + _pointer("content", ctype, "schema")
    validate_json(spec, schema_fragment, value, what="%s body %s" % (what, _quote(response)))
