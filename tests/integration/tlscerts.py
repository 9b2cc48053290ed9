"""Client certificates for the TLS tests, signed by a CA that `agora tls
init` made (its ca.crt and ca.key), with what `agora tls init --client`
cannot give: any subject (no CN at all, an e-mail SAN), validity in the
past (an expired certificate), and a CRL revoking some of them.

Python's `cryptography` (Debian's python3-cryptography) does the signing:
`openssl x509 -req` cannot date a certificate in the past, and `openssl
ca` needs a database of its own. Keys are ECDSA P-256, like agora's."""

import datetime
import subprocess

# A test dependency (scripts/install-deps.sh test): missing, the tests fail
# rather than skip.
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from conftest import AGORA_BIN, require_agora, sanitizer_env

UTC = datetime.timezone.utc
TLS_INIT_TIMEOUT = 20.0


def tls_init(d, *args):
    """`agora tls init D ARGS...` (must succeed): a CA and a server
    certificate for localhost in d; returns d."""
    require_agora("agora tls init")
    r = subprocess.run([AGORA_BIN, "tls", "init", str(d)] + [str(a) for a in args],
                       capture_output=True, text=True, timeout=TLS_INIT_TIMEOUT,
                       env=sanitizer_env())
    assert r.returncode == 0, r.stdout + r.stderr
    return d


def two_cas(tmp_path_factory, name, ours=(), other=()):
    """(ours, other): in a fresh temporary folder, the CA and server
    certificate the broker uses, and another CA it does not trust; ours and
    other are extra `agora tls init` arguments (a --client, say)."""
    base = tmp_path_factory.mktemp(name)
    return tls_init(base / "ours", *ours), tls_init(base / "other", *other)


def _load_ca(ca_dir):
    cert = x509.load_pem_x509_certificate((ca_dir / "ca.crt").read_bytes())
    key = serialization.load_pem_private_key((ca_dir / "ca.key").read_bytes(), None)
    return cert, key


def client_cert(ca_dir, out_dir, stem, cn=None, emails=(), dns=(), days=(-1, 30)):
    """A client certificate signed by ca_dir's CA, written to
    out_dir/STEM.crt and STEM.key; its subject has CN=cn (none when cn is
    None; O=agora tests then, so the subject is not empty), its SAN the
    e-mail addresses and DNS names given. days: (not before, not after)
    relative to now. Returns (crt path, key path, serial)."""
    ca_cert, ca_key = _load_ca(ca_dir)
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(UTC)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)] if cn is not None else \
        [x509.NameAttribute(NameOID.ORGANIZATION_NAME, "agora tests")]
    serial = x509.random_serial_number()
    b = (x509.CertificateBuilder()
         .subject_name(x509.Name(attrs))
         .issuer_name(ca_cert.subject)
         .public_key(key.public_key())
         .serial_number(serial)
         .not_valid_before(now + datetime.timedelta(days=days[0]))
         .not_valid_after(now + datetime.timedelta(days=days[1]))
         .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
         .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]),
                        critical=False))
    sans = [x509.RFC822Name(e) for e in emails] + [x509.DNSName(d) for d in dns]
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    cert = b.sign(ca_key, hashes.SHA256())
    crt, kp = out_dir / (stem + ".crt"), out_dir / (stem + ".key")
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    kp.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                     serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()))
    kp.chmod(0o600)
    return crt, kp, serial


def crl(ca_dir, path, revoked_serials):
    """A CRL of ca_dir's CA revoking the serials, valid from an hour ago
    for 30 days, written to path."""
    ca_cert, ca_key = _load_ca(ca_dir)
    now = datetime.datetime.now(UTC)
    b = (x509.CertificateRevocationListBuilder()
         .issuer_name(ca_cert.subject)
         .last_update(now - datetime.timedelta(hours=1))
         .next_update(now + datetime.timedelta(days=30)))
    for s in revoked_serials:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(s)
            .revocation_date(now - datetime.timedelta(minutes=30)).build())
    path.write_bytes(b.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM))
    return path
