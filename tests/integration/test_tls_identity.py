"""Client certificates on a TLS listener (issue 15).

use_identity_as_username=yes: the certificate's identity (its subject's CN,
else its first DNS or e-mail SAN) is the account the client acts as, over
MQTT 3.1.1 and 5; the CONNECT's user name and password are ignored; a
certificate that names nobody, or names no account, is refused with "not
authorized". Then the checks every required client certificate passes:
one expired, one from another CA and one revoked (crlfile) are refused,
with the reason in the broker's log, through mosquitto_pub and paho."""

import queue
import shutil
import ssl
import subprocess

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
import pytest

from apiclient import Api
from conftest import free_port
import tlscerts

TIMEOUT = 20.0
MOSQUITTO_PUB = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
V311, V5 = mqtt.MQTTv311, mqtt.MQTTv5




@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """Our CA (alice's certificate from `agora tls init --client`), another
    CA with its own alice, and certificates signed by ours: name -> (crt,
    key). The CRL revokes "revoked"."""
    ours, other = tlscerts.two_cas(tmp_path_factory, "pki", ("--client", "alice"),
                                   ("--client", "alice"))
    out = ours.parent / "certs"
    out.mkdir()
    certs = {"alice": (ours / "client.crt", ours / "client.key"),
             "other-ca-alice": (other / "client.crt", other / "client.key")}
    for stem, kw in (("bob", {"cn": "bob"}),
                     ("carol", {"cn": "carol"}),            # no account has that name
                     ("bob-upper", {"cn": "BOB"}),          # ASCII case ignored
                     ("dave-san", {"dns": ["dave"]}),       # no CN: its DNS SAN
                     ("nobody", {}),                        # no CN, no SAN
                     ("expired", {"cn": "alice", "days": (-30, -1)}),
                     ("not-yet", {"cn": "alice", "days": (2, 30)}),
                     ("revoked", {"cn": "alice"})):
        crt, key, serial = tlscerts.client_cert(ours, out, stem, **kw)
        certs[stem] = (crt, key)
        if stem == "revoked":
            revoked_serial = serial
    tlscerts.crl(ours, out / "crl.pem", [revoked_serial])
    return {"ours": ours, "other": other, "crl": out / "crl.pem", "certs": certs}


def tls_listener(port, pki, *extra):
    ours = pki["ours"]
    return ("listener 127.0.0.1:%d tls=yes certfile=%s keyfile=%s cafile=%s "
            "require_certificate=yes %s" % (port, ours / "server.crt", ours / "server.key",
                                            ours / "ca.crt", " ".join(extra)))


@pytest.fixture
def id_broker(broker_factory, pki):
    """A listener with use_identity_as_username=yes, and the accounts alice,
    bob and dave (carol has none). (broker, tls port, Api, accounts)."""
    port = free_port()
    b = broker_factory(tls_listener(port, pki, "use_identity_as_username=yes"))
    b.wait_log(r"listening on 127\.0\.0\.1:%d \(TLS\) \(user names from client certificates\)"
               % port, TIMEOUT)
    api = Api(b)
    accounts = {n: api.register(n) for n in ("alice", "bob", "dave")}
    yield b, port, api, accounts
    api.close()


class TlsClient:
    """paho-mqtt 1.6 over TLS with a client certificate, MQTT 3.1.1 or 5;
    every event lands on a queue, every wait is bounded."""

    def __init__(self, port, pki, cert, version, username=None, password=None, props=None):
        self.port = port
        self.version = version
        self.connacks, self.subacks, self.messages = queue.Queue(), queue.Queue(), queue.Queue()
        kw = {"protocol": version}
        if version == V311:
            kw["clean_session"] = True
        c = self.c = mqtt.Client(client_id="", **kw)
        crt, key = pki["certs"][cert]
        c.tls_set(ca_certs=str(pki["ours"] / "ca.crt"), certfile=str(crt), keyfile=str(key),
                  tls_version=ssl.PROTOCOL_TLS_CLIENT)
        if username is not None:
            c.username_pw_set(username, password)
        if version == V5:
            c.on_connect = lambda cl, u, flags, rc, p=None: self.connacks.put(rc.value)
            c.on_subscribe = lambda cl, u, mid, rcs, p=None: self.subacks.put(
                (mid, [r.value for r in rcs]))
        else:
            c.on_connect = lambda cl, u, flags, rc: self.connacks.put(rc)
            c.on_subscribe = lambda cl, u, mid, granted: self.subacks.put((mid, list(granted)))
        c.on_message = lambda cl, u, m: self.messages.put(m)
        # Closed without a CONNACK (a certificate refused after a TLS 1.3
        # handshake the client saw complete): the wait ends too.
        c.on_disconnect = lambda cl, u, rc, p=None: self.connacks.put("closed")
        self.props = props
        self.started = False

    def connect(self):
        """The CONNACK's code (0: accepted), or "closed" when the
        connection ended without one (the handshake failed)."""
        kw = {"properties": self.props} if self.version == V5 and self.props else {}
        try:
            self.c.connect("127.0.0.1", self.port, 30, **kw)
        except (ssl.SSLError, OSError):
            return "closed"
        self.c.loop_start()
        self.started = True
        try:
            return self.connacks.get(timeout=TIMEOUT)
        except queue.Empty:
            raise AssertionError("no CONNACK within %.0f s" % TIMEOUT)

    def subscribe(self, topic):
        """The SUBACK's code for one filter at QoS 1."""
        rc, mid = self.c.subscribe(topic, 1)
        assert rc == mqtt.MQTT_ERR_SUCCESS
        got_mid, codes = self.subacks.get(timeout=TIMEOUT)
        assert got_mid == mid
        return codes[0]

    def message(self, timeout=TIMEOUT):
        try:
            return self.messages.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no message within %.1f s" % timeout)

    def close(self):
        if self.started:
            self.c.disconnect()
            self.c.loop_stop()
            self.started = False


@pytest.fixture
def clients():
    made = []

    def make(*a, **kw):
        c = TlsClient(*a, **kw)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


def refused_code(version):
    """Not authorized: MQTT 3.1.1's return code 5, MQTT 5's reason 0x87."""
    return 5 if version == V311 else 0x87


def inbox(name):
    return "agora/users/%s/inbox" % name


@pytest.mark.parametrize("version", [V311, V5], ids=["mqtt311", "mqtt5"])
def test_certificate_is_the_login(id_broker, pki, clients, version):
    """alice's certificate with the user name bob and a wrong password:
    alice, whose inbox it reads, and not bob's."""
    b, port, api, acc = id_broker
    mark = b.log_mark()
    c = clients(port, pki, "alice", version, username="bob", password="not bob's")
    assert c.connect() == 0
    b.wait_log(r"MQTT login as 'alice' by client certificate: accepted", TIMEOUT, since=mark)
    b.wait_log(r"client \S+ connected from 127\.0\.0\.1:\d+ as alice \(client certificate\)",
               TIMEOUT, since=mark)
    assert not b.find_log(r"MQTT login as 'bob'", since=mark)
    # Its own inbox: granted; bob's: refused (0x80 in 3.1.1, 0x87 in 5).
    assert c.subscribe(inbox("alice")) == 1
    assert c.subscribe(inbox("bob")) == (0x80 if version == V311 else 0x87)
    # A wildcard over every inbox is granted, but delivers alice's only:
    # bob's message goes out first, so had it been delivered it would be
    # the first to arrive (one connection keeps the order).
    assert c.subscribe("agora/users/+/inbox") == 1
    api.send(acc["dave"], "bob", "for bob only")
    api.send(acc["bob"], "alice", "for alice")
    m = c.message()
    assert m.topic == inbox("alice") and b"for alice" in m.payload, (m.topic, m.payload)
    # It writes as alice: a publish to bob's inbox is a message from alice.
    info = c.c.publish(inbox("bob"), b"hello from alice's certificate", qos=1)
    info.wait_for_publish(TIMEOUT)
    assert info.is_published()
    msgs = [m for m in api.inbox(acc["bob"])["messages"]
            if m["content"] == "hello from alice's certificate"]
    assert [m["from"] for m in msgs] == ["alice"], msgs


@pytest.mark.parametrize("version", [V311, V5], ids=["mqtt311", "mqtt5"])
def test_certificate_without_identity_is_refused(id_broker, pki, clients, version):
    b, port, _, _ = id_broker
    mark = b.log_mark()
    c = clients(port, pki, "nobody", version, username="alice", password="x")
    assert c.connect() == refused_code(version)
    b.wait_log(r"refused client .*: the client certificate names no user", TIMEOUT, since=mark)
    assert not b.find_log(r"MQTT login as", since=mark)  # the user name was not tried


@pytest.mark.parametrize("version", [V311, V5], ids=["mqtt311", "mqtt5"])
def test_certificate_of_no_account_is_refused(id_broker, pki, clients, version):
    """carol has a valid certificate but no account: refused, not let in as
    a bare name (which would read the inbox of whoever registers carol)."""
    b, port, api, _ = id_broker
    mark = b.log_mark()
    c = clients(port, pki, "carol", version)
    assert c.connect() == refused_code(version)
    b.wait_log(r"MQTT login as 'carol' by client certificate: refused: no account has that "
               r"name", TIMEOUT, since=mark)
    b.wait_log(r"refused client .*: no account has the client certificate's name", TIMEOUT,
               since=mark)
    # Once carol registers, the same certificate logs in as carol.
    api.register("carol")
    c2 = clients(port, pki, "carol", version)
    assert c2.connect() == 0
    assert c2.subscribe(inbox("carol")) == 1


def test_identity_case_is_the_accounts(id_broker, pki, clients):
    """CN=BOB logs in as the account bob, spelled as the account is."""
    b, port, _, _ = id_broker
    mark = b.log_mark()
    c = clients(port, pki, "bob-upper", V5)
    assert c.connect() == 0
    b.wait_log(r"client \S+ connected from 127\.0\.0\.1:\d+ as bob \(client certificate\)",
               TIMEOUT, since=mark)
    assert c.subscribe(inbox("bob")) == 1


def test_dns_san_when_there_is_no_cn(id_broker, pki, clients):
    b, port, _, _ = id_broker
    c = clients(port, pki, "dave-san", V311)
    assert c.connect() == 0
    assert c.subscribe(inbox("dave")) == 1
    assert c.subscribe(inbox("alice")) == 0x80


def test_authentication_method_with_a_certificate_is_refused(id_broker, pki, clients):
    """The certificate is the login: an MQTT 5 enhanced authentication on
    top of it is refused rather than let to name another account."""
    b, port, _, _ = id_broker
    props = Properties(PacketTypes.CONNECT)
    props.AuthenticationMethod = "SCRAM-SHA-256"
    props.AuthenticationData = b"n,,n=bob,r=abcdefghijkl"
    mark = b.log_mark()
    c = clients(port, pki, "alice", V5, props=props)
    assert c.connect() == 0x87
    b.wait_log(r"refused client .*: the client certificate is the login here", TIMEOUT,
               since=mark)


def test_mosquitto_pub_with_the_certificate_writes_as_alice(id_broker, pki):
    b, port, api, acc = id_broker
    crt, key = pki["certs"]["alice"]
    r = subprocess.run([MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port), "--cafile",
                        str(pki["ours"] / "ca.crt"), "--cert", str(crt), "--key", str(key),
                        "-u", "bob", "-t", inbox("bob"), "-m", "via mosquitto_pub", "-q", "1"],
                       capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, r.stderr
    msgs = [m for m in api.inbox(acc["bob"])["messages"] if m["content"] == "via mosquitto_pub"]
    assert [m["from"] for m in msgs] == ["alice"], msgs


# --------------------------------------------------------------------------
# Required client certificates: expired, another CA's, revoked
# --------------------------------------------------------------------------

@pytest.fixture
def crl_broker(broker_factory, pki):
    port = free_port()
    b = broker_factory(tls_listener(port, pki, "crlfile=%s" % pki["crl"]))
    b.wait_log(r"listening on 127\.0\.0\.1:%d \(TLS\)" % port, TIMEOUT)
    return b, port


def mosquitto_pub_with(port, pki, cert, topic):
    crt, key = pki["certs"][cert]
    return subprocess.run([MOSQUITTO_PUB, "-h", "127.0.0.1", "-p", str(port), "--cafile",
                           str(pki["ours"] / "ca.crt"), "--cert", str(crt), "--key", str(key),
                           "-i", "pub-" + cert, "-t", topic, "-m", cert, "-q", "1"],
                          capture_output=True, text=True, timeout=TIMEOUT)


@pytest.mark.parametrize("cert,reason", [
    ("expired", "certificate has expired"),
    ("not-yet", "certificate is not yet valid"),
    ("other-ca-alice", "unable to get local issuer certificate"),
    ("revoked", "certificate revoked"),
])
def test_bad_client_certificate_is_refused(crl_broker, pki, cert, reason):
    b, port = crl_broker
    # The good one first: the listener, its CA and its CRL let alice in.
    ok = mosquitto_pub_with(port, pki, "alice", "tls/ok")
    assert ok.returncode == 0, ok.stderr
    mark = b.log_mark()
    r = mosquitto_pub_with(port, pki, cert, "tls/refused")
    assert r.returncode != 0, r.stdout
    b.wait_log(r"TLS: handshake from 127\.0\.0\.1:\d+: .*%s.*: closed" % reason, TIMEOUT,
               since=mark)
    assert not b.find_log(r"client pub-%s connected" % cert)


@pytest.mark.parametrize("cert", ["expired", "revoked"])
def test_bad_client_certificate_is_refused_to_paho(crl_broker, pki, clients, cert):
    """The same through paho, driven by hand (its network thread would only
    print the error): the broker's alert ends the connection with the
    reason, before any CONNACK."""
    b, port = crl_broker
    mark = b.log_mark()
    c = clients(port, pki, cert, V311)
    with pytest.raises(ssl.SSLError, match="ALERT_CERTIFICATE_(EXPIRED|REVOKED)"):
        c.c.connect("127.0.0.1", port, 30)  # TLS 1.3: the client's side completes
        for _ in range(int(TIMEOUT)):  # bounded: one second a round
            assert c.c.loop(1.0) == mqtt.MQTT_ERR_SUCCESS
    assert c.connacks.empty()
    b.wait_log(r"TLS: handshake from 127\.0\.0\.1:\d+: .*certificate.*: closed", TIMEOUT,
               since=mark)
