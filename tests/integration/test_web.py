"""The web client at / in a real browser (issue 13): tests/web/web_test.mjs
drives Debian's chromium with playwright-core against a server started here,
and each of its cases becomes one test below.

Needs node, chromium and web/node_modules/playwright-core (`npm ci --prefix
web`, which the build runs): without them every case is skipped, with the
reason. The live cases need MQTT over WebSocket at GET /mqtt; a server
without it gets them reported as skipped (never passed), with the answer it
gave. Screenshots of every panel at desktop and phone width are left in
build/web-screenshots/.
"""

import json
import os
import shutil
import subprocess

import pytest

import conftest
from conftest import REPO, is_agora

pytestmark = pytest.mark.skipif(not is_agora(), reason="Agora-only: the web client")

SCRIPT = os.path.join(REPO, "tests", "web", "web_test.mjs")
SHOTS = os.path.join(REPO, "build", "web-screenshots")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PLAYWRIGHT = os.path.join(REPO, "web", "node_modules", "playwright-core", "package.json")
RUN_TIMEOUT = 120.0

# Every case the script reports, in its order; one it does not report fails.
CASES = [
    "page_served",
    "signup_login_logout",
    "message_unread_rest",
    "poll_create_vote_rest",
    "status_rest",
    "live_message",
    "live_status",
    "live_vote",
    "live_topic_explorer",
    "live_broker",
    "screenshots",
]


def missing_tools():
    if shutil.which("node") is None:
        return "node is not installed (apt-get install nodejs)"
    if not os.access(CHROMIUM, os.X_OK):
        return "%s is not installed (apt-get install chromium)" % CHROMIUM
    if not os.path.exists(PLAYWRIGHT):
        return "web/node_modules/playwright-core is missing (npm ci --prefix web)"
    if shutil.which("mosquitto_pub") is None:
        return "mosquitto_pub is not installed (apt-get install mosquitto-clients)"
    return None


@pytest.fixture(scope="module")
def web_results(tmp_path_factory):
    """Runs the browser script once against one server: {case: (result, detail)}."""
    why = missing_tools()
    if why:
        pytest.skip(why)
    # $SYS every second, for the broker panel's case.
    b = conftest.Broker(str(tmp_path_factory.mktemp("web")), ["sys_interval 1"])
    b.start()
    try:
        p = subprocess.run(
            ["node", SCRIPT, "--http", b.http_url, "--mqtt-port", str(b.port),
             "--shots", SHOTS, "--chromium", CHROMIUM],
            cwd=REPO, capture_output=True, text=True, timeout=RUN_TIMEOUT)
        results = {}
        for line in p.stdout.splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                results[r["case"]] = (r["result"], r["detail"])
        if p.returncode != 0:
            results["_script"] = ("fail", "web_test.mjs exited with %d: %s"
                                  % (p.returncode, p.stderr[-2000:]))
        yield results
        b.check_clean_exit()
    finally:
        b.kill()


@pytest.mark.parametrize("case", CASES)
def test_web(web_results, case):
    if case not in web_results:
        pytest.fail("web_test.mjs did not report %s. %s"
                    % (case, web_results.get("_script", ("", ""))[1]), pytrace=False)
    result, detail = web_results[case]
    if result == "skip":
        pytest.skip(detail)
    assert result == "pass", detail
