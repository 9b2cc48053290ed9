/*
 * conn.c - the client connection layer's I/O (client.h): resolving and
 * connecting, reading, writing once per loop turn, the tick that runs
 * keepalives and deadlines, and the one close path. Framing the bytes
 * read into packets and what the packets mean is flow.c's.
 */
#include "internal.h"

#include "base/alloc.h"
#include "tls/tls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

uint64_t client__now(const struct client_conn *c)
{
	return uv_now(c->loop->uv);
}

/* ---- the loop ---- */

static void on_check(uv_check_t *h)
{
	struct client_loop *l = h->data;

	if (l->turn)
		l->turn(l);
	client_loop_flush(l);
}

static void on_tick(uv_timer_t *h);

int client_loop_init(struct client_loop *l, uv_loop_t *uv)
{
	int rc;

	memset(l, 0, sizeof(*l));
	l->uv = uv;
	rc = uv_check_init(uv, &l->check);
	if (rc)
		return rc;
	l->check.data = l;
	uv_check_start(&l->check, on_check);
	uv_timer_init(uv, &l->tick);
	l->tick.data = l;
	l->readbuf = xmalloc(CLIENT_READ_CHUNK);
	return 0;
}

void client_loop_close(struct client_loop *l)
{
	if (l->closing)
		return;
	l->closing = true;
	uv_close((uv_handle_t *)&l->check, NULL);
	uv_close((uv_handle_t *)&l->tick, NULL);
}

void client_loop_release(struct client_loop *l)
{
	free(l->readbuf);
	l->readbuf = NULL;
}

/* ---- the timed list: connections the tick looks at ---- */

static bool needs_tick(const struct client_conn *c)
{
	if (c->state == CLIENT_CONNECTED)
		return c->deadline_ms || c->server.keepalive;
	return c->state >= CLIENT_RESOLVING && c->state <= CLIENT_DISCONNECTING;
}

void client__update_timed(struct client_conn *c)
{
	struct client_loop *l = c->loop;
	bool need = needs_tick(c);

	if (need == c->timed)
		return;
	c->timed = need;
	if (need) {
		c->timed_prev = NULL;
		c->timed_next = l->timed;
		if (l->timed)
			l->timed->timed_prev = c;
		l->timed = c;
		if (l->ntimed++ == 0 && !l->closing)
			uv_timer_start(&l->tick, on_tick, CLIENT_TICK_MS, CLIENT_TICK_MS);
		return;
	}
	if (c->timed_prev)
		c->timed_prev->timed_next = c->timed_next;
	else
		l->timed = c->timed_next;
	if (c->timed_next)
		c->timed_next->timed_prev = c->timed_prev;
	if (--l->ntimed == 0)
		uv_timer_stop(&l->tick);
}

/* One connection's deadline or keepalive. */
static void tick_one(struct client_conn *c, uint64_t now)
{
	uint64_t ka = (uint64_t)c->server.keepalive * 1000;

	if (c->deadline_ms && now >= c->deadline_ms) {
		client__fail(c, c->state == CLIENT_DISCONNECTING ? CLIENT_ESTALLED : CLIENT_ETIMEOUT);
		return;
	}
	if (c->state == CLIENT_CONNECTED && ka && !c->ping_out && now - c->last_out_ms >= ka) {
		/* Nothing sent for a keepalive: PINGREQ, and the answer is due
		 * within another one [MQTT-3.1.2-24]. */
		client__send_simple(c, MQTT_PINGREQ);
		c->ping_out = true;
		c->deadline_ms = now + ka;
	}
}

static void on_tick(uv_timer_t *h)
{
	struct client_loop *l = h->data;
	uint64_t now = uv_now(l->uv);
	struct client_conn *c = l->timed, *next;

	while (c) {
		next = c->timed_next; /* c may leave the list */
		tick_one(c, now);
		c = next;
	}
	client_loop_flush(l);
}

/* ---- closing ---- */

void client__release(struct client_conn *c)
{
	free(c->wbuf);
	free(c->fbuf);
	free(c->rbuf);
	c->wbuf = c->fbuf = c->rbuf = NULL;
	c->wlen = c->wcap = c->fcap = c->rlen = c->rcap = 0;
	ring_release(&c->inflight);
	client__ws_free(c->ws);
	c->ws = NULL;
	tls_conn_free(c->tls);
	c->tls = NULL;
	idset_release(&c->qos2_in);
	if (c->ai)
		uv_freeaddrinfo(c->ai);
	c->ai = c->ai_next = NULL;
}

static void finish(struct client_conn *c)
{
	client__release(c);
	c->state = CLIENT_CLOSED;
	c->cb->closed(c, c->err);
}

static void on_tcp_closed(uv_handle_t *h)
{
	finish(h->data);
}

/* Starts closing: the handle if there is one; otherwise the callback in
 * flight (getaddrinfo, or the close before the next address) finishes. */
static void close_handle(struct client_conn *c, int err)
{
	if (c->state >= CLIENT_CLOSING || c->state == CLIENT_IDLE)
		return;
	c->err = err;
	c->state = CLIENT_CLOSING;
	c->deadline_ms = 0;
	client__update_timed(c);
	if (c->gai)
		uv_cancel((uv_req_t *)c->gai); /* on_resolved finishes */
	if (c->tcp_open) {
		c->tcp_open = false;
		uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
	}
}

void client__fail(struct client_conn *c, int err)
{
	close_handle(c, err);
}

void client_close(struct client_conn *c, int err)
{
	close_handle(c, err);
}

void client_disconnect(struct client_conn *c, uint8_t reason, const struct mqtt_props *props)
{
	if (c->state == CLIENT_DISCONNECTING)
		return;
	if (c->state != CLIENT_CONNECTED) {
		close_handle(c, 0);
		return;
	}
	client__send_disconnect(c, reason, props);
	c->state = CLIENT_DISCONNECTING;
	c->deadline_ms = client__now(c) + CLIENT_CLOSE_STALL_MS;
	client__update_timed(c);
}

/* ---- output ---- */

void client__mark_dirty(struct client_conn *c)
{
	c->dirty = true;
	c->dirty_next = c->loop->dirty;
	c->loop->dirty = c;
}

size_t client_out_pending(const struct client_conn *c)
{
	return (size_t)c->wlen + (c->writing ? c->flen : 0);
}

/* Everything queued is out. */
void client__wrote_all(struct client_conn *c)
{
	c->last_out_ms = client__now(c);
	if (c->state == CLIENT_DISCONNECTING) {
		close_handle(c, 0);
		return;
	}
	if (c->cb->drained)
		c->cb->drained(c);
}

static void on_written(uv_write_t *req, int status)
{
	struct client_conn *c = req->data;

	c->writing = false;
	if (c->state >= CLIENT_CLOSING)
		return;
	if (status < 0) {
		client__fail(c, status);
		return;
	}
	if (c->wlen || (c->tls && client__tls_pending(c)))
		client__mark_dirty(c); /* queued while this write was out: next turn */
	else
		client__wrote_all(c);
}

void client__write_fbuf(struct client_conn *c, const uint8_t *data, size_t len)
{
	uv_buf_t b;
	int rc;

	if (len > c->fcap) {
		free(c->fbuf);
		c->fbuf = xmalloc(len);
		c->fcap = (uint32_t)len;
	}
	memcpy(c->fbuf, data, len);
	c->flen = (uint32_t)len;
	c->wreq.data = c;
	b = uv_buf_init((char *)c->fbuf, (unsigned)len);
	rc = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, &b, 1, on_written);
	if (rc < 0) {
		client__fail(c, rc);
		return;
	}
	c->writing = true;
	c->last_out_ms = client__now(c);
}

/* What of a write of [hdr (hlen bytes), fbuf (len bytes)] is left after
 * its first n bytes went out, into v; returns the count of buffers. */
static unsigned write_rest(const uv_buf_t *hdr, uint32_t hlen, uint8_t *fbuf, uint32_t len,
			   uint32_t n, uv_buf_t v[2])
{
	if (n < hlen) {
		v[0] = uv_buf_init(hdr->base + n, hlen - n);
		v[1] = uv_buf_init((char *)fbuf, len);
		return 2;
	}
	v[0] = uv_buf_init((char *)fbuf + (n - hlen), len - (n - hlen));
	return 1;
}

/* One try-write of everything queued (over WebSocket: behind its frame
 * header); what the socket refuses goes out with one uv_write from the
 * other buffer, and the filling one is free for what comes meanwhile. */
static void flush(struct client_conn *c)
{
	uv_buf_t v[2], hdr = uv_buf_init(NULL, 0);
	uint32_t len = c->wlen, tc;
	uint8_t *t;
	int n, k = 0;

	if (c->writing || c->state < CLIENT_WAIT_CONNACK || c->state > CLIENT_DISCONNECTING)
		return;
	if (c->tls) {
		client__tls_flush(c); /* its handshake may have bytes to send, output or not */
		return;
	}
	if (!c->wlen)
		return;
	if (c->ws && (k = client__ws_frame(c, &hdr)) < 0)
		return; /* the upgrade's answer first */
	v[0] = hdr;
	v[k] = uv_buf_init((char *)c->wbuf, len);
	n = uv_try_write((uv_stream_t *)&c->tcp, v, (unsigned)k + 1);
	if (n == (int)(hdr.len + len)) {
		c->wlen = 0;
		client__wrote_all(c);
		return;
	}
	if (n < 0 && n != UV_EAGAIN) {
		client__fail(c, n);
		return;
	}
	if (n < 0)
		n = 0;
	t = c->fbuf;
	tc = c->fcap;
	c->fbuf = c->wbuf;
	c->fcap = c->wcap;
	c->wbuf = t;
	c->wcap = tc;
	c->flen = (uint32_t)(hdr.len + len) - (uint32_t)n;
	c->wlen = 0;
	c->wreq.data = c;
	k = (int)write_rest(&hdr, (uint32_t)hdr.len, c->fbuf, len, (uint32_t)n, v);
	n = uv_write(&c->wreq, (uv_stream_t *)&c->tcp, v, (unsigned)k, on_written);
	if (n < 0) {
		client__fail(c, n);
		return;
	}
	c->writing = true;
	c->last_out_ms = client__now(c);
}

void client_loop_flush(struct client_loop *l)
{
	struct client_conn *c;

	while ((c = l->dirty)) {
		l->dirty = c->dirty_next;
		c->dirty = false;
		flush(c); /* with a write out, on_written marks it again */
	}
}

/* ---- input ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct client_conn *c = h->data;

	(void)suggested;
	*buf = uv_buf_init((char *)c->loop->readbuf, CLIENT_READ_CHUNK);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct client_conn *c = s->data;

	if (nread == 0 || c->state >= CLIENT_CLOSING)
		return;
	if (nread < 0) {
		client__fail(c, nread == UV_EOF ? CLIENT_ECLOSED : (int)nread);
		return;
	}
	if (c->ws)
		client__ws_input(c, (const uint8_t *)buf->base, (size_t)nread);
	else if (c->tls)
		client__tls_input(c, (const uint8_t *)buf->base, (size_t)nread);
	else
		client__input(c, (const uint8_t *)buf->base, (size_t)nread);
}

/* ---- connecting ---- */

void client_conn_init(struct client_conn *c, struct client_loop *l, const struct client_opts *o,
		      const struct client_cbs *cb)
{
	memset(c, 0, sizeof(*c));
	c->loop = l;
	c->cb = cb;
	c->opts = *o;
	if (!c->opts.max_packet)
		c->opts.max_packet = CLIENT_MAX_PACKET;
	if (!c->opts.max_output)
		c->opts.max_output = CLIENT_MAX_OUTPUT;
	if (!c->opts.max_inflight)
		c->opts.max_inflight = UINT16_MAX;
	if (!c->opts.connect_timeout_ms)
		c->opts.connect_timeout_ms = CLIENT_CONNECT_TIMEOUT_MS;
	if (!c->opts.connect.level)
		c->opts.connect.level = MQTT_LEVEL_311;
	c->level = c->opts.connect.level;
	c->first_id = 1;
}

static void on_connected(uv_connect_t *req, int status);

/* Starts a TCP connect to addr; a failure goes through on_connected's
 * path (the next address, or the end). */
static void start_tcp(struct client_conn *c, const struct sockaddr *addr)
{
	int rc;

	uv_tcp_init(c->loop->uv, &c->tcp);
	c->tcp.data = c;
	c->tcp_open = true;
	c->state = CLIENT_CONNECTING;
	c->creq.data = c;
	rc = uv_tcp_connect(&c->creq, &c->tcp, addr, on_connected);
	if (rc < 0)
		close_handle(c, rc); /* e.g. too many open files */
}

static void on_retry_closed(uv_handle_t *h)
{
	struct client_conn *c = h->data;
	struct addrinfo *a = c->ai_next;

	if (c->state == CLIENT_CLOSING) {
		finish(c);
		return;
	}
	c->ai_next = a->ai_next;
	start_tcp(c, a->ai_addr);
}

static void on_connected(uv_connect_t *req, int status)
{
	struct client_conn *c = req->data;

	if (c->state != CLIENT_CONNECTING)
		return; /* closed meanwhile: the handle's close finishes */
	if (status < 0) {
		if (c->ai_next) {
			/* the next address, on a fresh handle */
			c->err = status;
			c->tcp_open = false;
			uv_close((uv_handle_t *)&c->tcp, on_retry_closed);
			return;
		}
		close_handle(c, status);
		return;
	}
	uv_tcp_nodelay(&c->tcp, 1);
	uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
	c->state = CLIENT_WAIT_CONNACK;
	if (c->opts.tls)
		client__tls_connected(c); /* CONNECT waits in the engine for the handshake */
	if (c->ws)
		client__ws_connected(c); /* CONNECT follows the 101 */
	else
		client__send_connect(c);
}

static void begin(struct client_conn *c, enum client_state state)
{
	c->state = state;
	c->err = 0;
	c->deadline_ms = client__now(c) + c->opts.connect_timeout_ms;
	client__update_timed(c);
}

/* The address as the Host header names it. */
static uint16_t addr_name(const struct sockaddr *addr, char *name, size_t size)
{
	uv_ip_name(addr, name, size);
	if (addr->sa_family == AF_INET6)
		return ntohs(((const struct sockaddr_in6 *)addr)->sin6_port);
	return ntohs(((const struct sockaddr_in *)addr)->sin_port);
}

int client_connect_addr(struct client_conn *c, const struct sockaddr *addr)
{
	char name[64] = "";
	uint16_t port;

	if (c->state != CLIENT_IDLE)
		return CLIENT_ESTATE;
	if (c->opts.ws_path) {
		port = addr_name(addr, name, sizeof(name));
		client__ws_new(c, name, port);
	}
	begin(c, CLIENT_CONNECTING);
	start_tcp(c, addr);
	return 0;
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct client_conn *c = req->data;

	free(req);
	c->gai = NULL;
	c->ai = res;
	if (c->state == CLIENT_CLOSING) {
		finish(c);
		return;
	}
	if (status < 0) {
		close_handle(c, status);
		if (!c->tcp_open)
			finish(c); /* no handle to wait for */
		return;
	}
	c->ai_next = res->ai_next;
	start_tcp(c, res->ai_addr);
}

int client_connect(struct client_conn *c, const char *host, uint16_t port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
				  .ai_protocol = IPPROTO_TCP };
	int rc;

	if (c->state != CLIENT_IDLE)
		return CLIENT_ESTATE;
	snprintf(c->port, sizeof(c->port), "%u", (unsigned)port);
	c->gai = xmalloc(sizeof(*c->gai));
	c->gai->data = c;
	rc = uv_getaddrinfo(c->loop->uv, c->gai, on_resolved, host, c->port, &hints);
	if (rc < 0) {
		free(c->gai);
		c->gai = NULL;
		return rc;
	}
	if (c->opts.ws_path)
		client__ws_new(c, host, port);
	begin(c, CLIENT_RESOLVING);
	return 0;
}
