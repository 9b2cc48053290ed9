"""tls_bench.py - the TLS scenarios of `make bench` (bench/compare.py, issue 15).

What compare.py borrows from here:

  make_certs(agora, dir)     `agora tls init DIR`: a CA and one ECDSA P-256 server
                             certificate for 127.0.0.1, which both brokers use
  agora_listener(port, d)    Agora's `-l` value for a TLS listener with it
  mosquitto_lines(port, d)   Mosquitto's listener with the same files
  negotiated(port, d)        what a handshake agrees on (openssl s_client -brief)
  handshakes(port, ...)      new TLS 1.3 connections per second, from parallel
                             `openssl s_time -new` processes (an independent load
                             generator: OpenSSL's own client), and the broker's CPU
                             per handshake
  ktls_probe()               whether kernel TLS could be used on this machine
  markdown(...)              the report's "TLS" section

Debian python3, standard library only; needs the `openssl` tool.
"""

import gzip
import os
import re
import socket
import subprocess
import time

OPENSSL = "openssl"
TOOL_TIMEOUT = 30.0
HANDSHAKE_CLIENTS = 4      # parallel s_time processes: each does one handshake at a time
STIME_SLACK = 20.0         # s an s_time may take beyond its -time
TCP_ULP = 31               # linux/tcp.h: setsockopt(IPPROTO_TCP, TCP_ULP, "tls") attaches kTLS
OPENSSL_CONFIG_H = "/usr/include/x86_64-linux-gnu/openssl/configuration.h"


class TlsError(Exception):
    pass


# ---------------------------------------------------------------- certificates

def make_certs(agora, d):
    """`agora tls init d` (the certificate both brokers serve); returns d."""
    p = subprocess.run([agora, "tls", "init", d], capture_output=True, text=True,
                       timeout=TOOL_TIMEOUT)
    if p.returncode != 0:
        raise TlsError("agora tls init %s failed: %s" % (d, (p.stderr or p.stdout).strip()))
    return d


def cafile(d):
    return os.path.join(d, "ca.crt")


def agora_listener(port, d):
    return "127.0.0.1:%d tls=yes certfile=%s keyfile=%s" % (
        port, os.path.join(d, "server.crt"), os.path.join(d, "server.key"))


def mosquitto_lines(port, d):
    """A TLS listener in mosquitto.conf: cafile (not needed without client
    certificates, given for symmetry), certfile, keyfile; its TLS versions
    and ciphers are Mosquitto's defaults, as Agora's are."""
    return ["listener %d 127.0.0.1" % port,
            "cafile %s" % cafile(d),
            "certfile %s" % os.path.join(d, "server.crt"),
            "keyfile %s" % os.path.join(d, "server.key")]


# ---------------------------------------------------------------- handshakes

def negotiated(port, d):
    """{'protocol', 'cipher', 'signature', 'key_exchange'} of one verified handshake."""
    try:
        p = subprocess.run([OPENSSL, "s_client", "-connect", "127.0.0.1:%d" % port,
                            "-CAfile", cafile(d), "-brief"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except subprocess.TimeoutExpired:
        return {"error": "openssl s_client did not finish"}
    fields = {"Protocol version": "protocol", "Ciphersuite": "cipher",
              "Signature type": "signature", "Server Temp Key": "key_exchange",
              "Verification": "verification"}
    out = {}
    for line in (p.stderr + p.stdout).splitlines():
        key, _, value = line.partition(":")
        if key.strip() in fields:
            out[fields[key.strip()]] = value.strip()
    return out


def cpu_seconds(pid):
    """utime + stime of a process, from /proc (None if it is gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def handshakes(port, d, pid, pin, seconds, clients=HANDSHAKE_CLIENTS):
    """Runs `clients` `openssl s_time -new -tls1_3` for `seconds` against the
    port: each connects, completes a full handshake (no resumption), closes,
    and again. The client does not verify the server (-CAfile without
    -verify), so that its own work per handshake is as small as it can be.
    Returns (doc, problem): doc has handshakes, elapsed_s, handshakes_per_s
    and, with a pid, the broker's CPU seconds over the run."""
    cmd = pin + [OPENSSL, "s_time", "-connect", "127.0.0.1:%d" % port, "-new", "-tls1_3",
                 "-CAfile", cafile(d), "-time", "%d" % max(1, round(seconds))]
    cpu0 = cpu_seconds(pid) if pid else None
    t0 = time.monotonic()
    procs = [subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True) for _ in range(clients)]
    outs, problem = [], ""
    for p in procs:
        try:
            outs.append(p.communicate(timeout=seconds + STIME_SLACK)[0])
        except subprocess.TimeoutExpired:
            p.kill()
            outs.append(p.communicate()[0])
            problem = "openssl s_time did not finish within %.0f s (killed)" % (
                seconds + STIME_SLACK)
    elapsed = time.monotonic() - t0
    cpu1 = cpu_seconds(pid) if pid else None
    total = 0
    for text in outs:
        m = re.search(r"^(\d+) connections in [\d.]+ real seconds", text, re.M)
        if not m:
            tail = " | ".join(text.strip().splitlines()[-3:])
            return None, problem or "no count from openssl s_time: %s" % tail[-300:]
        total += int(m.group(1))
    if problem:
        return None, problem
    if not total:
        return None, "openssl s_time made no connection"
    doc = {"handshakes": total, "elapsed_s": elapsed, "handshakes_per_s": total / elapsed,
           "clients": clients}
    if cpu0 is not None and cpu1 is not None:
        doc["broker_cpu_s"] = cpu1 - cpu0
        doc["broker_cpu_pct"] = (cpu1 - cpu0) / elapsed * 100
    return doc, ""


# ---------------------------------------------------------------- profiles

# Where Agora's time goes over TLS: `perf record -e cpu-clock -g` on the
# broker (release build, pinned, the machine shared: load 1.5-3 on its 2
# cores), by hand, not by make bench. Dated: rerun them after changing
# src/tls/ or src/net/tls_transport.c.
PROFILE_NOTES = [
    "### Where the time and memory go (perf, massif, 2026-12-06)",
    "",
    "`perf record -e cpu-clock -g -p BROKER_PID` during one `agora bench` run (or the"
    " `openssl s_time` clients), share of the broker's samples by library (memory: valgrind"
    " massif); by hand, not regenerated by `make bench`.",
    "",
    "- **QoS 0 1→1 over TLS** (2,000,000 messages): kernel 33% (loopback TCP, epoll), Agora's"
    " own code 25% (decode, route, encode: as over TCP), libcrypto 20% (AES-256-GCM), libc 18%"
    " (memcpy, memchr, memcmp), libssl 2%, libuv 1%. The broker spent 0.55 s of CPU on the 2"
    " million messages, 0.27 µs each (over plain TCP about 0.1 µs).",
    "- **Fan-out 1→100 over TLS** (64-byte payloads): kernel 39%, libc 34% (mostly the output"
    " arena's growth in `outbuf_reserve`, as over TCP), Agora 18%, libcrypto 8.5%, libssl 1%:"
    " encrypting is not what limits it.",
    "- **Handshakes** (`openssl s_time`): libcrypto 52% (X25519, the ECDSA P-256 signature,"
    " HKDF, and OpenSSL 3.0's lookups on every handshake: `OPENSSL_LH_doall_arg`, read-write"
    " locks, `strcmp`), kernel 22% (accept, close, loopback), libc 16% (malloc, free, strcmp),"
    " libssl 7%, libuv 1.7%, Agora's own code 0.8%. The handshake's cost is OpenSSL's; Agora"
    " adds nothing measurable to it.",
    "- **Memory per idle TLS connection**: a harness on Agora's engine (src/tls/tls.c, the"
    " same certificate, 100 server connections after the handshake and a CONNECT/CONNACK"
    " exchange, glibc `mallinfo2`) holds 15.3 KB of live heap per server connection:"
    " OpenSSL's state (the SSL object alone is about 7.6 KB, per valgrind massif), the"
    " engine's few hundred bytes, no BIO buffer. The rest of the RSS per connection that"
    " `tls_conns_idle` measures is what its storm of handshakes (256 under way at once) leaves"
    " in the heap: each allocates and frees a 21.8 KB handshake message buffer (`BUF_MEM_grow`"
    " in libssl) and its record buffers (massif: up to 32 KB per connection at the peak of"
    " the connect phase). Opened at 150 per second instead (600 connections,"
    " `--connect-rate 150`), the RSS per idle TLS connection was 16.0 KB for Agora and 15.4 KB"
    " for Mosquitto; as fast as possible, 26.1 KB and 29.6 KB. Both are OpenSSL's state; the"
    " difference between the brokers is within the run-to-run spread.",
    "",
    "Fixed on the way (commits 498eb9a, 23c1348, f3a31d0), each found by these profiles:",
    "",
    "- The engine (src/tls/tls.c) gave back a memory BIO's buffer whenever it drained past"
    " 64 KiB; at QoS 0 a loop turn's output often is more, so every turn freed the buffer at"
    " the heap's top (`free` → `systrim` → `brk` → TLB flush: 27% of the broker's time) and"
    " regrew it (a copy and a cleanse per growth step). Now a buffer is given back only after"
    " 4 bursts in a row that used at most half of it, and the handshake's buffers at once:"
    " broker CPU per 2M messages 1.4-1.9 s → 0.4-0.55 s, and memory per idle TLS connection"
    " 23.4-24.2 KB → 20.9-21.6 KB.",
    "- The transport (src/net/tls_transport.c) wrote one segment at a time into OpenSSL, so a"
    " payload over 256 bytes (referenced, not copied, by the output) made two records per"
    " message, each paying OpenSSL's per-record costs (cipher parameters looked up by name,"
    " the record buffer allocated and freed, the error queue cleared); and it encrypted a"
    " whole loop turn's output before writing any of it, growing the BIO to megabytes. Now the"
    " segments are gathered into 16 KiB records and written 32 KiB at a time: 1 KiB payloads"
    " to 100 subscribers over TLS, 160-190k → 580-650k deliveries/s, broker CPU per million"
    " deliveries about 3.1 s → 1.15 s.",
    "",
]


# ---------------------------------------------------------------- kTLS

def ktls_probe():
    """What this machine offers for kernel TLS: the kernel's upper layer
    protocols, the answer to TCP_ULP "tls" on a connected socket, whether
    the kernel has module loading and CONFIG_TLS, whether Debian's OpenSSL
    was built with it."""
    out = {}
    try:
        with open("/proc/sys/net/ipv4/tcp_available_ulp") as f:
            out["available_ulp"] = f.read().strip() or "(none)"
    except OSError as e:
        out["available_ulp"] = "unreadable (%s)" % e.strerror
    out["tcp_ulp_tls"] = _try_ulp()
    out["kernel_config"] = _kernel_config(("CONFIG_TLS", "CONFIG_MODULES"))
    out["modules"] = os.path.exists("/proc/modules")
    try:
        with open(OPENSSL_CONFIG_H) as f:
            out["openssl_ktls"] = "OPENSSL_NO_KTLS" not in f.read()
    except OSError:
        out["openssl_ktls"] = None   # libssl-dev missing: unknown
    return out


def _try_ulp():
    srv = socket.socket()
    try:
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        with socket.create_connection(srv.getsockname(), timeout=5) as c:
            try:
                c.setsockopt(socket.IPPROTO_TCP, TCP_ULP, b"tls")
                return "accepted"
            except OSError as e:
                return "refused: %s (errno %d)" % (e.strerror, e.errno)
    finally:
        srv.close()


def _kernel_config(names):
    """{name: 'y', 'm' or 'not set'} from /proc/config.gz ({} if absent)."""
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            text = f.read()
    except OSError:
        return {}
    out = {}
    for n in names:
        m = re.search(r"^%s=(\w+)$" % n, text, re.M)
        out[n] = m.group(1) if m else "not set"
    return out


def ktls_text(k):
    """The kTLS finding, in sentences."""
    cfg = k.get("kernel_config", {})
    kernel_ok = k["tcp_ulp_tls"] == "accepted"
    parts = ["`/proc/sys/net/ipv4/tcp_available_ulp` lists `%s`; `setsockopt(IPPROTO_TCP,"
             " TCP_ULP, \"tls\")` on a connected loopback socket was %s." % (
                 k["available_ulp"], k["tcp_ulp_tls"])]
    if cfg:
        parts.append("The kernel's configuration (`/proc/config.gz`) has CONFIG_TLS %s and"
                     " CONFIG_MODULES %s%s." % (
                         cfg.get("CONFIG_TLS"), cfg.get("CONFIG_MODULES"),
                         "" if k["modules"] else " (no `/proc/modules`)"))
    if not kernel_ok:
        why = ("the kernel is built without the `tls` module and cannot load modules, so"
               " `modprobe tls` has nothing to load (root or not)"
               if cfg.get("CONFIG_TLS") == "not set" and cfg.get("CONFIG_MODULES") == "not set"
               else "the kernel does not offer the `tls` upper layer protocol")
        parts.append("**kTLS is not available on this machine**: %s." % why)
    if k["openssl_ktls"] is True:
        parts.append("Debian's OpenSSL is built with kTLS support (`OPENSSL_NO_KTLS` is not"
                     " defined in its `configuration.h`; `SSL_OP_ENABLE_KTLS` exists),"
                     " so it would use it on a socket BIO%s." % (
                         "" if kernel_ok else " if the kernel had it"))
    elif k["openssl_ktls"] is False:
        parts.append("Debian's OpenSSL is built without kTLS (`OPENSSL_NO_KTLS`).")
    parts.append("Agora's engine (src/tls/tls.c) drives OpenSSL over memory BIOs and writes the"
                 " ciphertext itself through libuv, so OpenSSL's kTLS path, which needs a socket"
                 " BIO, does not apply to it; using kTLS would mean handing the session keys to"
                 " the socket after the handshake (not done in this session). Mosquitto 2.0 gives"
                 " OpenSSL the socket (a socket BIO, in `net__socket_accept`) but its"
                 " `net__tls_server_ctx` sets no `SSL_OP_ENABLE_KTLS` and it has no option for"
                 " it (kTLS is off by default in OpenSSL 3.0), so it would not use kTLS either"
                 " without a patch: with neither broker able to use it here, there was no"
                 " with/without comparison to make.")
    return " ".join(parts)
