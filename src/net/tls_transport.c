/*
 * tls_transport.c - the TLS transport: TCP underneath, the TLS engine
 * (src/tls/tls.h) between. What the socket reads is fed to the engine and
 * the plaintext it gives goes to the protocol's input; the protocol's
 * output is encrypted and the ciphertext written. The handshake runs inside
 * those calls: the protocol is opened at accept (so its connect timeout
 * covers the handshake) and simply gets no input until there is some.
 *
 * The transport's state (struct tls_link) is in the connection's conn_aux,
 * set at accept on a listener with TLS: plain TCP connections pay nothing.
 *
 * What is above it: the protocol (plaintext to net__input), or, once the
 * connection is upgraded (GET /mqtt on an HTTPS listener), the WebSocket
 * framing (ws.c), which reads its frames from the plaintext
 * (net__tls_deliver_to) and writes them through this transport's
 * operations and net__tls_write_own.
 *
 * Writing: try_write encrypts and writes what the socket takes; the
 * ciphertext it does not take is queued (copied) behind. While anything is
 * queued, try_write takes nothing (UV_EAGAIN) and the layer's write queues
 * the output with a completion: the layer's one write in flight, and with
 * it the protocol's own limits on output (a slow reader over TLS is held
 * back as over TCP).
 */
#include "internal.h"

#include "base/alloc.h"
#include "base/log.h"
#include "tls/tls.h"

#include <stdlib.h>
#include <string.h>

/* The most plaintext a TLS record carries (RFC 8446, 5.1): the output's
 * segments are gathered into writes of this size (on the stack). */
#define TLS_GATHER (16 * 1024)
/* Plaintext encrypted before its ciphertext is written or queued: the
 * engine's buffer stays below TLS_BIO_KEEP (tls.c), so it is kept. */
#define TLS_CHUNK (2 * TLS_GATHER)

struct tls_link {
	struct tls_conn *t;
	/* where plaintext goes: net__input, or the framing stacked above */
	void (*up)(struct net_conn *c, const uint8_t *data, size_t len);
	bool hello_seen; /* the first bytes were a TLS ClientHello */
	char peer[64];   /* for the log: a peer that failed its handshake is often gone */
};

static struct tls_link *link_of(const struct net_conn *c)
{
	return c->aux->tls;
}

/* ---- ciphertext to the socket ---- */

struct tls_write {
	uv_write_t req;
	struct net_conn *conn;
	bool layer;      /* the layer's write: net__write_done when out */
	uint8_t bytes[]; /* copied out of the engine */
};

static void on_written(uv_write_t *req, int status)
{
	struct tls_write *w = req->data;
	struct net_conn *c = w->conn;
	bool layer = w->layer;

	free(w);
	if (layer)
		net__write_done(c, status);
}

/* Queues the engine's pending ciphertext behind what is queued; layer:
 * the completion is the layer's write's. 0 or a libuv error. */
static int queue_pending(struct net_conn *c, bool layer)
{
	struct tls_link *k = link_of(c);
	const uint8_t *p;
	size_t n = tls_conn_pending(k->t, &p);
	struct tls_write *w = xmalloc(sizeof(*w) + n);
	uv_buf_t b;
	int rc;

	memcpy(w->bytes, p, n);
	tls_conn_consume(k->t, n);
	w->conn = c;
	w->layer = layer;
	w->req.data = w;
	b = uv_buf_init((char *)w->bytes, (unsigned)n);
	rc = uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written);
	if (rc < 0)
		free(w);
	return rc;
}

/* The engine's pending ciphertext (handshake messages, records, an alert):
 * written now as far as the socket takes it, the rest queued. */
static void flush(struct net_conn *c)
{
	struct tls_link *k = link_of(c);
	const uint8_t *p;
	size_t n = tls_conn_pending(k->t, &p);
	uv_buf_t b;
	int r = 0;

	if (!n || uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (!c->tcp.write_queue_size) {
		b = uv_buf_init((char *)p, (unsigned)n);
		r = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
		if (r > 0)
			tls_conn_consume(k->t, (size_t)r);
	}
	if ((r >= 0 || r == UV_EAGAIN) && tls_conn_pending(k->t, &p))
		queue_pending(c, false); /* a failure shows on the next read or write */
}

/* ---- reading ---- */

/* What the first bytes of a connection that is not TLS look like, for the
 * log: a client that forgot TLS. */
static const char *plain_kind(const uint8_t *data, size_t len)
{
	if (len && (data[0] & 0xF0) == 0x10)
		return "plain MQTT (a CONNECT)";
	if (len >= 4 && (memcmp(data, "GET ", 4) == 0 || memcmp(data, "POST", 4) == 0 ||
			 memcmp(data, "PUT ", 4) == 0 || memcmp(data, "HEAD", 4) == 0))
		return "plain HTTP";
	return "bytes that are not TLS";
}

/* The connection ends for a TLS reason (logged): an alert, if the engine
 * has one, goes out first, best effort. */
static void fail(struct net_conn *c, const char *what, const char *why)
{
	log_info("TLS: %s from %s: %s: closed", what, link_of(c)->peer, why);
	flush(c);
	net__eof(c, UV_EPROTO);
	net_conn_close(c, NET_CLOSE_NOW);
}

/* Plaintext the engine has, to what is above (the protocol, or a framing
 * that an upgrade in the middle of this put there: the rest goes to it).
 * The net's read buffer holds it: what the socket read there is already
 * inside the engine. */
static void deliver(struct net_conn *c)
{
	struct net *n = conn_net(c);
	char err[256];
	long got;

	while (c->mode != MODE_CLOSED &&
	       (got = tls_conn_read(link_of(c)->t, n->readbuf, sizeof(n->readbuf), err,
				    sizeof(err))) != 0) {
		if (got == TLS_ECLOSED) {
			net__eof(c, 0); /* close_notify: the peer's end, like a FIN */
			return;
		}
		if (got < 0) {
			fail(c, "bad record", err);
			return;
		}
		link_of(c)->up(c, n->readbuf, (size_t)got);
	}
}

static void tls_in(struct net_conn *c, const uint8_t *data, size_t len)
{
	struct tls_link *k = link_of(c);
	char err[256];

	if (!k->hello_seen) {
		if (!tls_looks_like_hello(data, len)) {
			fail(c, "handshake", plain_kind(data, len));
			return;
		}
		k->hello_seen = len >= 3;
	}
	if (tls_conn_feed(k->t, data, len, err, sizeof(err))) {
		fail(c, "handshake", err);
		return;
	}
	deliver(c);
	if (c->mode != MODE_CLOSED)
		flush(c); /* the handshake's answers, or records the protocol wrote */
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	net__read_with(s, nread, buf, tls_in);
}

static void tls_read_start(struct net_conn *c)
{
	net__read_start(c, on_read);
}

static void tls_read_stop(struct net_conn *c)
{
	net_tcp.read_stop(c);
}

static size_t tls_queued(const struct net_conn *c)
{
	return net_tcp.queued(c);
}

/* ---- the layer's output ---- */

/* One piece of plaintext into the engine. 0 or a libuv error. */
static int encrypt_one(struct net_conn *c, const uint8_t *data, size_t len)
{
	char err[256];

	if (tls_conn_write(link_of(c)->t, data, len, err, sizeof(err))) {
		log_info("TLS: cannot write: %s", err);
		return UV_EPROTO;
	}
	return 0;
}

/* Where encrypting the layer's segments has got to. */
struct cursor {
	uint32_t i;  /* segment */
	size_t off;  /* bytes of it done */
};

/* The next TLS_CHUNK bytes of plaintext (or what is left) into the
 * engine, gathered into full records (TLS_GATHER bytes each, the last one
 * what is left): OpenSSL's cost is per write and per record (the cipher
 * context's parameters looked up by name, the record buffer allocated and
 * freed, the error queue cleared), and a fan-out's output alternates a
 * header and a referenced payload, so one write per segment made two
 * records per message (perf, 1 KiB payloads to 100 subscribers: most of
 * the broker's time). A record's worth or more of one segment, met with
 * nothing gathered, goes as it is. 0 or a libuv error; k advances. */
static int encrypt_chunk(struct net_conn *c, const uv_buf_t *iov, uint32_t n, struct cursor *k)
{
	uint8_t gather[TLS_GATHER];
	size_t used = 0, budget = TLS_CHUNK;
	int rc = 0;

	while (k->i < n && budget && !rc) {
		const uint8_t *p = (const uint8_t *)iov[k->i].base + k->off;
		size_t len = iov[k->i].len - k->off, take;

		if (len > budget)
			len = budget;
		if (!used && len >= TLS_GATHER) {
			take = len;
			rc = encrypt_one(c, p, take);
		} else {
			take = len < TLS_GATHER - used ? len : TLS_GATHER - used;
			memcpy(gather + used, p, take);
			used += take;
			if (used == TLS_GATHER) {
				rc = encrypt_one(c, gather, used);
				used = 0;
			}
		}
		budget -= take;
		k->off += take;
		if (k->off == iov[k->i].len) {
			k->i++;
			k->off = 0;
		}
	}
	if (!rc && used)
		rc = encrypt_one(c, gather, used);
	return rc;
}

static size_t iov_total(const uv_buf_t *iov, uint32_t n)
{
	size_t t = 0;

	for (uint32_t i = 0; i < n; i++)
		t += iov[i].len;
	return t;
}

/* Chunk after chunk: encrypted, then written as far as the socket takes
 * it (the rest queued, and then the rest of the output behind it), so the
 * engine's buffer holds one chunk, not the whole output: a buffer grown to
 * a loop turn's output (megabytes in a fan-out) cost a copy, a cleanse and
 * page faults at each step of its growth. */
static int tls_try_write(struct net_conn *c, const uv_buf_t *iov, uint32_t n)
{
	struct cursor k = { 0 };
	int rc;

	if (c->tcp.write_queue_size)
		return UV_EAGAIN; /* the layer's write waits its turn */
	while (k.i < n) {
		rc = encrypt_chunk(c, iov, n, &k);
		if (rc)
			return rc;
		flush(c);
	}
	return (int)iov_total(iov, n);
}

/* Queued behind what is queued, chunk by chunk, the completion the last
 * chunk's (the layer's). Before the handshake is done the engine keeps
 * the plaintext and there may be no ciphertext yet: the write is then
 * empty, and completes all the same. */
static int tls_write(struct net_conn *c, const uv_buf_t *iov, uint32_t n)
{
	struct cursor k = { 0 };
	const uint8_t *p;
	int rc;

	for (;;) {
		rc = encrypt_chunk(c, iov, n, &k);
		if (rc)
			return rc;
		if (k.i >= n)
			return queue_pending(c, true);
		if (tls_conn_pending(link_of(c)->t, &p) && (rc = queue_pending(c, false)) < 0)
			return rc;
	}
}

/* The lingering close: close_notify, then the write side shut. */
static int tls_shutdown(struct net_conn *c)
{
	tls_conn_shutdown(link_of(c)->t);
	flush(c);
	return net_tcp.shutdown(c);
}

static void on_closed(uv_handle_t *h)
{
	struct net_conn *c = (struct net_conn *)h;
	struct tls_link *k = link_of(c);

	tls_conn_free(k->t);
	free(k);
	c->aux->tls = NULL;
	net__closed(c);
}

/* The connection ends: close_notify when nothing else is queued, best
 * effort (closing cannot wait). */
static void tls_close(struct net_conn *c)
{
	struct tls_link *k = link_of(c);

	if (tls_conn_handshake_done(k->t) && !c->tcp.write_queue_size) {
		const uint8_t *p;
		size_t n;
		uv_buf_t b;

		tls_conn_shutdown(k->t);
		n = tls_conn_pending(k->t, &p);
		b = uv_buf_init((char *)p, (unsigned)n);
		if (n)
			uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
	}
	uv_close((uv_handle_t *)&c->tcp, on_closed);
}

const struct net_transport net_tls = {
	.name = "tls",
	.read_start = tls_read_start,
	.read_stop = tls_read_stop,
	.try_write = tls_try_write,
	.write = tls_write,
	.shutdown = tls_shutdown,
	.queued = tls_queued,
	.close = tls_close,
};

void net__tls_attach(struct net_conn *c, struct tls_config *cfg)
{
	struct tls_link *k = xcalloc(1, sizeof(*k));

	k->t = tls_conn_new(cfg);
	if (!k->t)
		abort(); /* out of memory, as xmalloc's */
	k->up = net__input;
	net_conn_peer(c, k->peer, sizeof(k->peer), true);
	net__aux(c)->tls = k;
	c->transport = NET_T_TLS;
}

bool net_conn_peer_identity(const struct net_conn *c, char *out, size_t cap)
{
	if (cap)
		out[0] = '\0';
	if (c->transport != NET_T_TLS || !c->aux || !c->aux->tls)
		return false;
	return tls_conn_peer_identity(link_of(c)->t, out, cap);
}

void net__tls_deliver_to(struct net_conn *c,
			 void (*up)(struct net_conn *c, const uint8_t *data, size_t len))
{
	link_of(c)->up = up;
}

void net__tls_write_own(struct net_conn *c, const uv_buf_t *iov, uint32_t n)
{
	struct cursor k = { 0 };

	while (k.i < n) {
		if (encrypt_chunk(c, iov, n, &k))
			return; /* a failure shows on the layer's own writes and reads */
		flush(c);
	}
}

void net_listener_set_tls(struct net_listener *l, struct tls_config *cfg)
{
	if (cfg)
		tls_config_ref(cfg);
	tls_config_unref(l->tls);
	l->tls = cfg;
}
