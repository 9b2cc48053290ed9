/*
 * ws.c - the WebSocket transport: the frames of RFC 6455 (ws_codec.c) over
 * the byte stream under them, TCP or TLS. What the client sends is decoded
 * as it is read and the payload of its binary messages goes to the
 * protocol's input, in order, as one byte stream; each output the layer
 * writes becomes one unmasked binary frame: its header, then the
 * protocol's own segments (nothing copied here). Pings are answered, a
 * close frame is answered and the connection ends; a rule broken ends it
 * with a close frame saying which.
 *
 * What is under the frames is a struct ws_lower, chosen at the upgrade:
 * over TCP the frames are read from the socket and written with libuv's
 * calls, as before TLS existed (nothing more per byte); over TLS (GET
 * /mqtt on an HTTPS listener, or a websocket_listener with tls=yes) they
 * are the plaintext TLS delivers (net__tls_deliver_to) and go down through
 * TLS's own operations, which encrypt them.
 *
 * The transport's state (struct ws_conn) is in the connection's conn_aux,
 * allocated at the upgrade: plain TCP connections pay nothing.
 */
#include "internal.h"
#include "ws.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

/* The byte stream under the frames. t's operations carry the layer's
 * writes (try_write, write: net__write_done when out), the half-close,
 * the bytes queued, read_stop and the close; these two are what a framing
 * needs besides. */
struct ws_lower {
	const struct net_transport *t;
	uint8_t index; /* t's in net__transports */
	/* Reading starts; what is read comes to ws_decode. */
	void (*read_start)(struct net_conn *c);
	/* Bytes of the framing's own (the 101 answer, a pong, a close frame),
	 * copied, written behind whatever is queued: libuv writes a stream's
	 * requests in order, TLS encrypts in order, and the layer never leaves
	 * half a frame between two of its calls. No completion. */
	void (*write_own)(struct net_conn *c, const uv_buf_t *iov, uint32_t n);
};

struct ws_conn {
	struct ws_codec *codec;
	const struct ws_lower *lower;
	uint8_t hdr[WS_HEADER_MAX]; /* the frame try_write began */
	uint8_t hdr_len, hdr_off;   /* its size, the bytes of it written */
	bool hdr_pending;           /* write() continues that frame */
	bool close_sent;            /* nothing may follow a close frame */
	uint16_t close_status;      /* to send when the connection ends (0: 1000) */
};

static struct ws_conn *ws_of(const struct net_conn *c)
{
	return c->aux->ws;
}

static const struct ws_lower *lower_of(const struct net_conn *c)
{
	return ws_of(c)->lower;
}

/* ---- over TCP ---- */

struct ws_raw_write {
	uv_write_t req;
	size_t len;
	uint8_t bytes[]; /* copied: the caller's may go */
};

static void on_raw_written(uv_write_t *req, int status)
{
	(void)status; /* a failure shows on the layer's own writes and reads */
	free(req->data);
}

static void tcp_write_own(struct net_conn *c, const uv_buf_t *iov, uint32_t n)
{
	size_t len = 0, at = 0;
	struct ws_raw_write *w;
	uv_buf_t b;

	for (uint32_t i = 0; i < n; i++)
		len += iov[i].len;
	w = xmalloc(sizeof(*w) + len);
	for (uint32_t i = 0; i < n; i++, at += iov[i - 1].len)
		memcpy(w->bytes + at, iov[i].base, iov[i].len);
	w->req.data = w;
	b = uv_buf_init((char *)w->bytes, (unsigned)len);
	if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_raw_written) < 0)
		free(w);
}

static void ws_decode(struct net_conn *c, const uint8_t *data, size_t len);

static void on_tcp_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	net__read_with(s, nread, buf, ws_decode);
}

static void tcp_read_start(struct net_conn *c)
{
	net__read_start(c, on_tcp_read);
}

static const struct ws_lower over_tcp = {
	.t = &net_tcp,
	.index = NET_T_TCP,
	.read_start = tcp_read_start,
	.write_own = tcp_write_own,
};

/* ---- over TLS: its plaintext comes to ws_decode (set at the upgrade) ---- */

static void tls_read_start(struct net_conn *c)
{
	net_tls.read_start(c);
}

static const struct ws_lower over_tls = {
	.t = &net_tls,
	.index = NET_T_TLS,
	.read_start = tls_read_start,
	.write_own = net__tls_write_own,
};

static void send_control(struct net_conn *c, const uint8_t *frame, size_t len)
{
	uv_buf_t b = uv_buf_init((char *)frame, (unsigned)len);

	lower_of(c)->write_own(c, &b, 1);
}

/* ---- reading ---- */

static bool ev_data(void *arg, const uint8_t *p, size_t n)
{
	struct net_conn *c = arg;

	net__input(c, p, n);
	return c->mode != MODE_CLOSED;
}

static bool ev_ping(void *arg, const uint8_t *p, size_t n)
{
	struct net_conn *c = arg;
	struct ws_conn *w = ws_of(c);
	uint8_t frame[WS_CONTROL_MAX];

	if (!w->close_sent && c->mode == MODE_OPEN)
		send_control(c, frame, ws_codec_pong_frame(w->codec, p, n, frame));
	return true;
}

/* The client closes: its status is echoed as the connection ends (the
 * protocol hears of it as the peer's end, like a FIN on TCP). */
static bool ev_close(void *arg, uint16_t status)
{
	struct net_conn *c = arg;

	ws_of(c)->close_status = status == WS_CLOSE_NO_STATUS ? WS_CLOSE_NORMAL : status;
	net__eof(c, 0);
	return false;
}

static const struct ws_events ws_events = {
	.data = ev_data,
	.ping = ev_ping,
	.close = ev_close,
};

/* Bytes from below (the socket, or TLS's plaintext): decoded; a rule
 * broken ends the connection with the close status saying which (sent as
 * it closes). */
static void ws_decode(struct net_conn *c, const uint8_t *data, size_t len)
{
	int rc = ws_codec_input(ws_of(c)->codec, data, len, &ws_events, c);

	if (rc <= 0 || c->mode == MODE_CLOSED)
		return;
	ws_of(c)->close_status = (uint16_t)rc;
	log_debug("websocket: closing with status %d", rc);
	net__eof(c, UV_EPROTO);
	net_conn_close(c, NET_CLOSE_NOW);
}

static void ws_read_start(struct net_conn *c)
{
	lower_of(c)->read_start(c);
}

static void ws_read_stop(struct net_conn *c)
{
	lower_of(c)->t->read_stop(c);
}

static size_t ws_queued(const struct net_conn *c)
{
	return lower_of(c)->t->queued(c);
}

/* ---- the layer's output: one binary frame each ---- */

static size_t iov_total(const uv_buf_t *iov, uint32_t n)
{
	size_t t = 0;

	for (uint32_t i = 0; i < n; i++)
		t += iov[i].len;
	return t;
}

/* [what is left of the header, iov...] into v (n + 1 entries). */
static uint32_t with_header(struct ws_conn *w, const uv_buf_t *iov, uint32_t n, uv_buf_t *v)
{
	uint32_t k = 0;

	if (w->hdr_off < w->hdr_len)
		v[k++] = uv_buf_init((char *)w->hdr + w->hdr_off, w->hdr_len - w->hdr_off);
	memcpy(v + k, iov, n * sizeof(*iov));
	return k + n;
}

static int ws_try_write(struct net_conn *c, const uv_buf_t *iov, uint32_t n)
{
	struct ws_conn *w = ws_of(c);
	size_t total = iov_total(iov, n);
	uv_buf_t small[17], *v;
	int r;

	if (w->close_sent)
		return (int)total; /* after a close frame: dropped */
	w->hdr_len = (uint8_t)ws_codec_header(w->codec, WS_OP_BINARY, total, w->hdr);
	w->hdr_off = 0;
	w->hdr_pending = true;
	v = n < 17 ? small : xmalloc((n + 1) * sizeof(*v));
	r = w->lower->t->try_write(c, v, with_header(w, iov, n, v));
	if (v != small)
		free(v);
	if (r < 0)
		return r;
	if ((size_t)r < w->hdr_len) {
		w->hdr_off = (uint8_t)r;
		return 0;
	}
	w->hdr_off = w->hdr_len;
	w->hdr_pending = (size_t)r - w->hdr_len < total;
	return r - w->hdr_len;
}

/* The rest of the frame try_write began (its header's rest first). */
static int ws_write(struct net_conn *c, const uv_buf_t *iov, uint32_t n)
{
	struct ws_conn *w = ws_of(c);
	uv_buf_t small[17], *v = n < 17 ? small : xmalloc((n + 1) * sizeof(*v));
	uint32_t k;
	int rc;

	if (!w->hdr_pending) { /* not begun by try_write: a frame of its own */
		w->hdr_len = (uint8_t)ws_codec_header(w->codec, WS_OP_BINARY,
						      iov_total(iov, n), w->hdr);
		w->hdr_off = 0;
	}
	w->hdr_pending = false;
	k = with_header(w, iov, n, v);
	rc = w->lower->t->write(c, v, k); /* copies v */
	if (v != small)
		free(v);
	return rc;
}

static uint16_t status_to_send(const struct ws_conn *w)
{
	return w->close_status ? w->close_status : WS_CLOSE_NORMAL;
}

/* The lingering close: a close frame, then the write side shut. */
static int ws_shutdown(struct net_conn *c)
{
	struct ws_conn *w = ws_of(c);
	uint8_t frame[WS_CONTROL_MAX];

	if (!w->close_sent)
		send_control(c, frame, ws_codec_close_frame(w->codec, status_to_send(w), frame));
	w->close_sent = true;
	return w->lower->t->shutdown(c);
}

/* The connection ends: its close frame goes first when nothing else is
 * queued (what is queued is dropped, and a frame cut short cannot be
 * followed by another); best effort, as closing cannot wait. The framing
 * is then gone (nothing of it runs after the close) and the connection is
 * the stream under it again, which closes the socket: what the layer still
 * asks of a closed connection (the bytes queued) is the lower's. */
static void ws_close(struct net_conn *c)
{
	struct ws_conn *w = ws_of(c);
	const struct ws_lower *lower = w->lower;
	uint8_t frame[WS_CONTROL_MAX];
	uv_buf_t b;

	if (!w->close_sent && !lower->t->queued(c)) {
		b = uv_buf_init((char *)frame,
				(unsigned)ws_codec_close_frame(w->codec, status_to_send(w), frame));
		lower->t->try_write(c, &b, 1);
	}
	ws_codec_free(w->codec);
	free(w);
	c->aux->ws = NULL;
	conn_net(c)->ws_open--;
	c->transport = lower->index;
	lower->t->close(c);
}

const struct net_transport net_ws = {
	.name = "websocket",
	.read_start = ws_read_start,
	.read_stop = ws_read_stop,
	.try_write = ws_try_write,
	.write = ws_write,
	.shutdown = ws_shutdown,
	.queued = ws_queued,
	.close = ws_close,
	.replay = ws_decode,
};

/* ---- the upgrade ---- */

void net_conn_upgrade_ws(struct net_conn *c, struct net_service *to, void *state,
			 const uv_buf_t *raw, uint32_t nraw, uint64_t max_message)
{
	struct net *n = conn_net(c);
	struct ws_conn *w;
	struct conn_aux *a;

	if (c->transport != NET_T_TCP && c->transport != NET_T_TLS)
		abort(); /* a programming error: frames go over TCP or TLS only */
	w = xcalloc(1, sizeof(*w));
	w->codec = ws_codec_new(max_message);
	if (!w->codec)
		abort(); /* out of memory, as xmalloc's */
	w->lower = c->transport == NET_T_TLS ? &over_tls : &over_tcp;
	w->lower->write_own(c, raw, nraw); /* the answer, before any frame */
	a = net__aux(c);
	a->ws = w;
	w->lower->t->read_stop(c);
	if (w->lower == &over_tls) /* the rest of this read's plaintext too */
		net__tls_deliver_to(c, ws_decode);
	c->transport = NET_T_WS;
	if (!(c->flags & F_PAUSED))
		ws_read_start(c);
	net_conn_deadline(c, 0); /* the old protocol's timers are not the new one's */
	net_conn_upgrade(c, to, state);
	n->ws_open++;
	n->ws_accepted++;
}

void net_ws_counts(const struct net *n, uint32_t *open, uint64_t *accepted)
{
	*open = n->ws_open;
	*accepted = n->ws_accepted;
}
