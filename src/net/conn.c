/*
 * conn.c - one connection: input kept and fed, output written, deadlines,
 * and the one close path (with the lingering close).
 */
#include "internal.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

struct net_conn *net__conn_new(struct net *n, struct net_service *svc)
{
	struct net_conn *c = xcalloc(1, sizeof(*c));

	n->nconns++;
	uv_tcp_init(n->loop, &c->tcp);
	c->tcp.data = c;
	c->svc = svc;
	return c;
}

void net_conn_set_state(struct net_conn *c, void *state)
{
	c->state = state;
}

void *net_conn_state(const struct net_conn *c)
{
	return c->state;
}

void *net_conn_ctx(const struct net_conn *c)
{
	return c->svc->ctx;
}

struct net *net_conn_net(const struct net_conn *c)
{
	return conn_net(c);
}

bool net_conn_closing(const struct net_conn *c)
{
	return c->mode != MODE_OPEN;
}

bool net_conn_paused(const struct net_conn *c)
{
	return c->flags & F_PAUSED;
}

size_t net_conn_queued(const struct net_conn *c)
{
	return conn_transport(c)->queued(c);
}

/* ---- the occasional state ---- */

static struct conn_aux *aux_get(struct net_conn *c)
{
	if (!c->aux)
		c->aux = xcalloc(1, sizeof(*c->aux));
	return c->aux;
}

struct conn_aux *net__aux(struct net_conn *c)
{
	return aux_get(c);
}

/* Frees what nothing uses any more: an idle connection holds no buffer. */
static void aux_trim(struct net_conn *c)
{
	struct conn_aux *a = c->aux;

	if (!a || a->writing || a->pending_len || a->tls || a->ws)
		return;
	free(a->pending);
	free(a);
	c->aux = NULL;
}

static void keep(struct net_conn *c, const uint8_t *data, size_t len)
{
	struct conn_aux *a = aux_get(c);
	size_t need = (size_t)a->pending_len + len;

	ARRAY_GROW(a->pending, a->pending_cap, need, 1024, ARRAY_MAX);
	memmove(a->pending + a->pending_len, data, len);
	a->pending_len = (uint32_t)need;
}

/* ---- input ---- */

/* The protocol switched transports (net_conn_upgrade_ws): what it did not
 * take of data was read as raw bytes, and goes through the new transport.
 * Kept input is taken out of aux first (the transport feeds the layer). */
static void replay(struct net_conn *c, const uint8_t *data, size_t len, bool from_pending)
{
	struct conn_aux *a = c->aux;
	uint8_t *owned = NULL;

	if (from_pending) {
		owned = a->pending;
		a->pending = NULL;
		a->pending_len = a->pending_cap = 0;
	}
	if (len && c->mode == MODE_OPEN)
		conn_transport(c)->replay(c, data, len);
	free(owned);
}

/* Offers data to the protocol; keeps what it did not take. data may be
 * the kept input itself. A protocol that handed the connection over
 * (net_conn_upgrade) leaves the rest to the new one, fed at once. */
static void feed(struct net_conn *c, const uint8_t *data, size_t len)
{
	const struct net_service *svc;
	struct conn_aux *a;
	size_t used;

	for (;;) {
		a = c->aux;
		bool from_pending = a && data == a->pending;
		uint8_t transport = c->transport;

		svc = c->svc;
		c->flags |= F_IN_INPUT;
		used = svc->proto->input(c, data, len);
		c->flags &= (uint8_t)~F_IN_INPUT;
		if (c->mode == MODE_CLOSED)
			return; /* closed by the protocol: the close callback frees */
		if (c->transport != transport) {
			replay(c, data + used, len - used, from_pending);
			return;
		}
		if (from_pending) {
			a = c->aux;
			memmove(a->pending, a->pending + used, len - used);
			a->pending_len = (uint32_t)(len - used);
			if (!a->pending_len) {
				/* a partial unit is rare and short-lived: no buffer kept */
				free(a->pending);
				a->pending = NULL;
				a->pending_cap = 0;
				aux_trim(c);
			}
		} else if (used < len) {
			keep(c, data + used, len - used);
		}
		a = c->aux;
		if (c->svc == svc || c->mode != MODE_OPEN || (c->flags & F_PAUSED) || !a ||
		    !a->pending_len)
			return;
		data = a->pending; /* upgraded: the rest is the new protocol's */
		len = a->pending_len;
	}
}

void net_conn_upgrade(struct net_conn *c, struct net_service *to, void *state)
{
	if (c->flags & F_COUNTED) {
		c->svc->nconns--;
		to->nconns++;
		to->accepted++;
	}
	c->svc = to;
	c->state = state;
}

/* Lingering: the next of linger_timeout (from now) and the end of
 * linger_time; closed at once when that has passed. */
static void linger_deadline(struct net_conn *c, const struct conn_linger *l)
{
	uint64_t now = net_now(conn_net(c));
	uint64_t left = l->until_ms > now ? l->until_ms - now : 0;

	if (!left) {
		net_conn_close(c, NET_CLOSE_NOW);
		return;
	}
	net_conn_deadline(c, left < c->svc->linger_timeout_ms || !c->svc->linger_timeout_ms
				     ? left
				     : c->svc->linger_timeout_ms);
}

/* Lingering: what comes is dropped, within the service's bounds. */
static void discard(struct net_conn *c, size_t len)
{
	struct conn_linger *l = (c->flags & F_LINGERING) ? c->state : NULL;

	if (!l)
		return; /* the last output is still going out: dropped, not counted */
	l->dropped += len;
	if (l->dropped > c->svc->linger_bytes) {
		net_conn_close(c, NET_CLOSE_NOW);
		return;
	}
	if (c->flags & F_SHUT) /* the timeout counts from the last byte */
		linger_deadline(c, l);
}

void net__input(struct net_conn *c, const uint8_t *data, size_t len)
{
	struct conn_aux *a;

	if (c->mode == MODE_LINGER) {
		discard(c, len);
		return;
	}
	if (c->mode != MODE_OPEN)
		return; /* closing: input ignored */
	if (c->flags & F_PAUSED) {
		keep(c, data, len);
		conn_transport(c)->read_stop(c);
		return;
	}
	a = c->aux;
	if (a && a->pending_len) {
		/* complete the unit kept from the previous read */
		keep(c, data, len);
		feed(c, a->pending, a->pending_len);
	} else {
		feed(c, data, len);
	}
	if (c->mode == MODE_OPEN && (c->flags & F_PAUSED))
		conn_transport(c)->read_stop(c);
}

void net_conn_pause(struct net_conn *c, bool paused)
{
	struct conn_aux *a;

	if (paused) {
		c->flags |= F_PAUSED;
		if (!(c->flags & F_IN_INPUT) && c->mode == MODE_OPEN)
			conn_transport(c)->read_stop(c);
		return;
	}
	if (!(c->flags & F_PAUSED))
		return;
	c->flags &= (uint8_t)~F_PAUSED;
	if (c->flags & F_IN_INPUT)
		return; /* the input running now goes on */
	a = c->aux;
	if (c->mode == MODE_OPEN && a && a->pending_len)
		feed(c, a->pending, a->pending_len); /* what waited, first */
	if (c->mode == MODE_OPEN && !(c->flags & F_PAUSED))
		conn_transport(c)->read_start(c);
}

void net__eof(struct net_conn *c, int status)
{
	const struct net_proto *p = c->svc->proto;

	if (c->mode == MODE_CLOSED)
		return;
	if (c->mode == MODE_LINGER && !(c->flags & F_LINGERING) && status == 0) {
		/* The last output is not out yet and the peer has finished: no
		 * byte can come to be refused, so it is written, then closed. */
		net_conn_close(c, NET_CLOSE_AFTER_WRITE);
		return;
	}
	if (c->mode == MODE_OPEN && p->eof)
		p->eof(c, status);
	/* The peer only shut its side: a protocol with an eof callback may
	 * still answer (the request that came before the FIN). */
	if (status == 0 && p->eof && c->mode != MODE_LINGER)
		return;
	net_conn_close(c, NET_CLOSE_NOW);
}

/* ---- output ---- */

/* The buffers from `done` bytes on, into scratch (at most n); returns how
 * many. */
static uint32_t iov_rest(const uv_buf_t *iov, uint32_t n, size_t done, uv_buf_t *scratch)
{
	uint32_t i = 0, k = 0;

	while (i < n && done >= iov[i].len)
		done -= iov[i++].len;
	for (; i < n; i++, k++) {
		scratch[k] = iov[i];
		if (k == 0) {
			scratch[k].base += done;
			scratch[k].len -= done;
		}
	}
	return k;
}

static void begin_linger(struct net_conn *c);

/* Writes out; false when the connection failed. */
static bool write_out(struct net_conn *c, struct net_out *out)
{
	const struct net_transport *t = conn_transport(c);
	int rc = t->try_write(c, out->iov, out->n);
	uv_buf_t small[16], *rest;
	uint32_t k;

	if (rc == (int)out->total) {
		out->release(out); /* all in the kernel (nearly always) */
		return true;
	}
	if (rc < 0 && rc != UV_EAGAIN) {
		out->release(out);
		return false;
	}
	rest = out->n <= 16 ? small : xmalloc(out->n * sizeof(*rest));
	k = iov_rest(out->iov, out->n, rc > 0 ? (size_t)rc : 0, rest);
	rc = t->write(c, rest, k); /* copies the array */
	if (rest != small)
		free(rest);
	if (rc < 0) {
		out->release(out);
		return false;
	}
	aux_get(c)->writing = out;
	return true;
}

/* Writes what the protocol has, if no write is in flight; then carries out
 * a close that waited for the output. */
void net__flush(struct net_conn *c)
{
	struct net_out *out;

	if (c->mode == MODE_CLOSED || (c->aux && c->aux->writing))
		return;
	for (;;) {
		out = (c->flags & F_PROTO_DONE) ? NULL : c->svc->proto->output(c);
		if (out && !write_out(c, out)) {
			if (c->mode == MODE_OPEN && c->svc->proto->eof)
				c->svc->proto->eof(c, UV_EPIPE);
			net_conn_close(c, NET_CLOSE_NOW);
			return;
		}
		if (c->aux && c->aux->writing)
			return; /* the rest when the transport says it is out */
		/* Closing: everything the protocol has goes before the close. */
		if (!out || c->mode == MODE_OPEN)
			break;
	}
	if (c->mode == MODE_AFTER_WRITE)
		net_conn_close(c, NET_CLOSE_NOW);
	else if (c->mode == MODE_LINGER && !(c->flags & F_PROTO_DONE))
		begin_linger(c);
	else if (out && c->mode == MODE_OPEN && c->svc->proto->drained)
		c->svc->proto->drained(c);
}

void net__write_done(struct net_conn *c, int status)
{
	struct net_out *out = c->aux->writing;

	c->aux->writing = NULL;
	out->release(out);
	aux_trim(c);
	if (c->mode == MODE_CLOSED)
		return; /* cancelled by the close: the close callback follows */
	if (status < 0) {
		if (c->mode == MODE_OPEN && c->svc->proto->eof)
			c->svc->proto->eof(c, status);
		net_conn_close(c, NET_CLOSE_NOW);
		return;
	}
	/* Write callbacks run before the poll phase: waiting for the check
	 * handle would leave what queued meanwhile (or a close) until the next
	 * I/O event, so the next output goes out, or the close happens, now. */
	net__flush(c);
	if (c->mode == MODE_OPEN && !(c->aux && c->aux->writing) && c->svc->proto->drained)
		c->svc->proto->drained(c);
}

/* ---- deadlines ---- */

void net_conn_deadline(struct net_conn *c, uint64_t ms)
{
	if (!ms) {
		c->flags &= (uint8_t)~F_DEADLINE;
		return;
	}
	if (ms > NET_DEADLINE_MAX_MS)
		ms = NET_DEADLINE_MAX_MS;
	c->deadline = net__clock(conn_net(c)) + (uint32_t)ms;
	c->flags |= F_DEADLINE;
}

void net__deadline_check(struct net_conn *c, uint32_t now)
{
	if (!(c->flags & F_DEADLINE) || (int32_t)(now - c->deadline) < 0)
		return;
	c->flags &= (uint8_t)~F_DEADLINE;
	/* Closing (the last bytes not taken in time, or the lingering close's
	 * bounds): the layer's own deadlines. */
	if (c->mode != MODE_OPEN || !c->svc->proto->deadline)
		net_conn_close(c, NET_CLOSE_NOW);
	else
		c->svc->proto->deadline(c);
}

/* ---- closing ---- */

void net__closed(struct net_conn *c)
{
	struct net *n = conn_net(c);

	if (c->aux) {
		if (c->aux->writing) /* not seen cancelled: released here */
			c->aux->writing->release(c->aux->writing);
		free(c->aux->pending);
		free(c->aux);
	}
	if (c->flags & F_LINGERING)
		free(c->state); /* struct conn_linger */
	if (c->flags & F_DIRTY)
		net__dirty_remove(n, c);
	if (c->flags & F_COUNTED)
		c->svc->nconns--;
	free(c);
	n->nconns--;
	if (n->stopping && !n->nconns)
		net__finish(n); /* the last one: the net's own handles close */
}

static void on_shutdown_any(struct net_conn *c)
{
	struct conn_linger *l = c->state;
	uint64_t now = net_now(conn_net(c));

	c->flags |= F_SHUT;
	l->until_ms = now + c->svc->linger_time_ms;
	linger_deadline(c, l);
}

void net__shutdown_done(struct net_conn *c, int status)
{
	if (c->mode != MODE_LINGER)
		return; /* closed meanwhile (UV_ECANCELED) */
	if (status < 0) {
		net_conn_close(c, NET_CLOSE_NOW);
		return;
	}
	on_shutdown_any(c);
}

/* The last output is out: the protocol is done with the connection; the
 * write side is shut and what the peer still sends is dropped until it
 * closes, or the bounds are reached. */
static void begin_linger(struct net_conn *c)
{
	if (c->svc->proto->close)
		c->svc->proto->close(c);
	c->flags |= F_PROTO_DONE | F_LINGERING;
	c->state = xcalloc(1, sizeof(struct conn_linger));
	if (conn_transport(c)->shutdown(c) < 0)
		net_conn_close(c, NET_CLOSE_NOW);
}

void net_conn_close(struct net_conn *c, enum net_close how)
{
	const struct net_transport *t = conn_transport(c);

	if (c->mode == MODE_CLOSED)
		return;
	switch (how) {
	case NET_CLOSE_NOW:
		break;
	case NET_CLOSE_AFTER_WRITE:
		if (c->mode >= MODE_AFTER_WRITE)
			return;
		c->mode = MODE_AFTER_WRITE;
		t->read_stop(c); /* input is ignored now */
		net_conn_deadline(c, NET_WRITE_STALL_MS);
		net_conn_want_write(c);
		return;
	case NET_CLOSE_LINGER:
		if (c->mode >= MODE_LINGER)
			return;
		c->mode = MODE_LINGER;
		if (!(c->flags & F_DEADLINE))
			net_conn_deadline(c, NET_WRITE_STALL_MS);
		t->read_start(c); /* into the discard, whatever paused it */
		net_conn_want_write(c);
		return;
	}
	c->mode = MODE_CLOSED;
	if (!(c->flags & F_PROTO_DONE)) {
		c->flags |= F_PROTO_DONE;
		if (c->svc->proto->close)
			c->svc->proto->close(c);
	}
	t->close(c);
}
