"""`agora lookup`: names and addresses, as the course's gethostbyname,
gethostbyaddr and getfqdn show them.

No test asks the network: what is expected is read from /etc/hosts (the
machine's own answer for localhost and 127.0.0.1, whatever it lists), and
the name that does not exist is under the reserved TLD .invalid, which
`agora lookup` answers itself (RFC 6761, 6.4), so the test passes on a
machine without any DNS server.
"""

import ipaddress
import json
import subprocess

import pytest

from conftest import AGORA_BIN, sanitizer_env, sanitizer_lines

TIMEOUT = 15.0


def lookup(*args):
    r = subprocess.run([AGORA_BIN, "lookup", *args], capture_output=True, text=True,
                       timeout=TIMEOUT, env=sanitizer_env())
    assert not sanitizer_lines(r.stderr.splitlines()), r.stderr
    return r


def hosts_entries():
    """[(address, [names])] of /etc/hosts, in order, addresses normalised."""
    entries = []
    try:
        with open("/etc/hosts", encoding="utf-8", errors="replace") as f:
            for line in f:
                fields = line.split("#", 1)[0].split()
                if len(fields) < 2:
                    continue
                try:
                    addr = str(ipaddress.ip_address(fields[0]))
                except ValueError:
                    continue
                entries.append((addr, fields[1:]))
    except OSError:
        pass
    return entries


def addresses_of(name):
    return {a for a, names in hosts_entries() if name.lower() in (n.lower() for n in names)}


def name_of(address):
    """What gethostbyaddr answers from /etc/hosts: the first name of the first line."""
    for a, names in hosts_entries():
        if a == address:
            return names[0]
    return None


def table(stdout):
    """The text output as [(key, rest)] lines."""
    rows = []
    for line in stdout.splitlines():
        key, _, rest = line.partition(" ")
        rows.append((key, rest.strip()))
    return rows


def address_rows(stdout):
    """{address: reverse text} from the IPv4/IPv6 lines."""
    out = {}
    for key, rest in table(stdout):
        if key in ("IPv4", "IPv6"):
            addr, _, rev = rest.partition(" ")
            assert key == ("IPv6" if ":" in addr else "IPv4")
            out[str(ipaddress.ip_address(addr))] = rev.strip()
    return out


def expected_reverse(address):
    name = name_of(address)
    return "reverse " + name if name else None


# --------------------------------------------------------------------------

def test_help():
    for args in (["lookup", "--help"], ["lookup", "-h"], ["help", "lookup"]):
        r = subprocess.run([AGORA_BIN, *args], capture_output=True, text=True,
                           timeout=TIMEOUT, env=sanitizer_env())
        assert r.returncode == 0
        assert r.stdout.startswith("usage: agora lookup")
        assert "exit status" in r.stdout


@pytest.mark.parametrize("args", [
    [], ["a", "b"], ["--timeout", "0", "localhost"], ["--timeout"], ["--frob", "x"],
    ["bad\x1b[2Jname"], [""],
])
def test_usage_errors(args):
    r = lookup(*args)
    assert r.returncode == 1, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("agora lookup: ")
    assert "\x1b" not in r.stderr
    assert r.stdout == ""


def test_localhost():
    expected = addresses_of("localhost")
    if not expected:
        pytest.skip("/etc/hosts does not list localhost")
    r = lookup("localhost")
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout)
    assert rows[0] == ("name", "localhost")
    canonical = dict(rows)["canonical"]
    assert any(canonical in names and "localhost" in names for _, names in hosts_entries())
    got = address_rows(r.stdout)
    # Every address /etc/hosts gives localhost: 127.0.0.1, and ::1 where it says so.
    assert set(got) == expected
    for addr, rev in got.items():
        assert rev == expected_reverse(addr), (addr, rev)


def test_reverse_of_127_0_0_1():
    name = name_of("127.0.0.1")
    if not name:
        pytest.skip("/etc/hosts has no line for 127.0.0.1")
    r = lookup("127.0.0.1")
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout)
    assert rows[0] == ("address", "127.0.0.1")
    assert rows[1] == ("reverse", name)
    # Then that name's addresses, as gethostbyaddr lists them.
    got = address_rows(r.stdout)
    assert "127.0.0.1" in got
    assert set(got) == addresses_of(name)


def test_ipv6_loopback_literal():
    name = name_of("::1")
    if not name:
        pytest.skip("/etc/hosts has no line for ::1 (its reverse would ask DNS)")
    r = lookup("::1")
    assert r.returncode == 0, r.stderr
    rows = table(r.stdout)
    assert rows[0] == ("address", "::1")
    assert rows[1] == ("reverse", name)
    assert "::1" in address_rows(r.stdout)


@pytest.mark.parametrize("name", ["no-such-host.invalid", "Also.Not.INVALID."])
def test_no_such_host(name):
    for args in ([name], ["--json", name]):
        r = lookup(*args)
        assert r.returncode == 3, r.stderr
        assert r.stderr == "agora lookup: %s: no such host\n" % name
        assert r.stdout == ""


def test_json_name():
    expected = addresses_of("localhost")
    if not expected:
        pytest.skip("/etc/hosts does not list localhost")
    r = lookup("--json", "--timeout", "5", "localhost")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 1
    j = json.loads(lines[0])
    assert j["query"] == "localhost" and j["kind"] == "name"
    assert isinstance(j["canonical"], str) and j["truncated"] is False
    assert "reverse" not in j
    got = {str(ipaddress.ip_address(a["address"])): a for a in j["addresses"]}
    assert set(got) == expected
    for addr, a in got.items():
        assert a["family"] == ("ipv6" if ":" in addr else "ipv4")
        assert a["reverse"] == name_of(addr)


def test_json_address():
    name = name_of("127.0.0.1")
    if not name:
        pytest.skip("/etc/hosts has no line for 127.0.0.1")
    r = lookup("--json", "127.0.0.1")
    assert r.returncode == 0, r.stderr
    j = json.loads(r.stdout)
    assert j["kind"] == "address" and j["query"] == "127.0.0.1"
    assert j["reverse"] == name
    assert "127.0.0.1" in [a["address"] for a in j["addresses"]]
    assert "error" not in j
