/*
 * net.c - the loop side of the connection layer: the writes once per loop
 * turn, the deadline tick, stopping with a grace period.
 */
#include "internal.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"

#include <stdlib.h>
#include <string.h>

uint64_t net_now(const struct net *n)
{
	return uv_now(n->loop);
}

uv_loop_t *net_loop(const struct net *n)
{
	return n->loop;
}

uint32_t net__clock(const struct net *n)
{
	return (uint32_t)(net_now(n) - n->start_ms);
}

void net_on_turn(struct net *n, void (*fn)(void *ctx), void *ctx)
{
	if (n->nhooks == NET_MAX_TURN_HOOKS)
		abort(); /* a programming error: a handful of services at most */
	n->hooks[n->nhooks++] = (struct turn_hook){ fn, ctx };
}

/* ---- the writes, once per loop turn ---- */

void net_conn_want_write(struct net_conn *c)
{
	struct net *n = conn_net(c);

	if ((c->flags & F_DIRTY) || c->mode == MODE_CLOSED)
		return;
	ARRAY_GROW(n->dirty, n->dirty_cap, n->ndirty + 1, 16, ARRAY_MAX);
	n->dirty[n->ndirty++] = c;
	c->flags |= F_DIRTY;
}

void net__dirty_remove(struct net *n, struct net_conn *c)
{
	for (uint32_t i = 0; i < n->ndirty; i++) {
		if (n->dirty[i] == c) {
			n->dirty[i] = n->dirty[--n->ndirty];
			break;
		}
	}
	c->flags &= (uint8_t)~F_DIRTY;
}

/* Services mark what they have (turn hooks), then every marked connection
 * writes its output in one go: after the poll phase, and after a read that
 * filled the read buffer (net__read_with). */
void net__turn_flush(struct net *n)
{
	for (int i = 0; i < n->nhooks; i++)
		n->hooks[i].fn(n->hooks[i].ctx);
	/* net__flush may mark connections again (a close after write): those
	 * are taken in this same pass, the array read to its current end. */
	for (uint32_t i = 0; i < n->ndirty; i++) {
		struct net_conn *c = n->dirty[i];

		c->flags &= (uint8_t)~F_DIRTY;
		net__flush(c);
	}
	n->ndirty = 0;
}

static void on_check(uv_check_t *h)
{
	net__turn_flush(h->data);
}

/* ---- deadlines ---- */

/* Connections are the TCP handles whose data points to themselves
 * (struct net_conn starts with its handle); listeners' do not. */
static bool is_conn(const uv_handle_t *h)
{
	return h->type == UV_TCP && h->data == h;
}

/* uv_walk's visitor: arg is a function to call on each connection. */
static void visit_conn(uv_handle_t *h, void *arg)
{
	void (*fn)(struct net_conn *c) = *(void (**)(struct net_conn *))arg;

	if (is_conn(h) && !uv_is_closing(h))
		fn((struct net_conn *)h);
}

static void check_deadline(uv_handle_t *h, void *arg)
{
	uint32_t now = *(const uint32_t *)arg;

	if (is_conn(h) && !uv_is_closing(h))
		net__deadline_check((struct net_conn *)h, now);
}

static void on_tick(uv_timer_t *t)
{
	struct net *n = t->data;
	uint32_t now = net__clock(n);

	uv_walk(n->loop, check_deadline, &now);
}

/* ---- start, stop ---- */

struct net *net_new(uv_loop_t *loop)
{
	struct net *n = xcalloc(1, sizeof(*n));

	n->loop = loop;
	loop->data = n; /* connections find the net through their loop */
	n->start_ms = uv_now(loop);
	uv_check_init(loop, &n->check);
	n->check.data = n;
	uv_timer_init(loop, &n->tick);
	n->tick.data = n;
	uv_timer_init(loop, &n->grace);
	n->grace.data = n;
	return n;
}

void net_start(struct net *n)
{
	uv_check_start(&n->check, on_check);
	uv_timer_start(&n->tick, on_tick, NET_TICK_MS, NET_TICK_MS);
	uv_unref((uv_handle_t *)&n->tick); /* connections keep the loop alive, not this */
}

/* Every connection, each in turn: the loop's TCP handles that are
 * connections and not closing. */
static void each_conn(struct net *n, void (*fn)(struct net_conn *c))
{
	uv_walk(n->loop, visit_conn, (void *)&fn);
}

static void close_now(struct net_conn *c)
{
	net_conn_close(c, NET_CLOSE_NOW);
}

static void tell_stop(struct net_conn *c)
{
	if (c->mode != MODE_OPEN)
		return; /* already closing: its own way */
	if (c->svc->proto->stop)
		c->svc->proto->stop(c);
	else
		net_conn_close(c, NET_CLOSE_NOW);
}

void net__finish(struct net *n)
{
	if (n->finished)
		return;
	n->finished = true;
	uv_close((uv_handle_t *)&n->tick, NULL);
	uv_close((uv_handle_t *)&n->check, NULL);
	uv_close((uv_handle_t *)&n->grace, NULL);
}

/* The grace is over: whatever is still open goes, through its own close
 * path (the protocol releases what it holds: nothing leaks by design);
 * the last one's close finishes the net. */
static void on_grace(uv_timer_t *t)
{
	each_conn(t->data, close_now);
}

void net_stop(struct net *n, uint32_t grace_ms)
{
	if (n->stopping)
		return;
	n->stopping = true;
	for (int i = 0; i < n->nlisteners; i++)
		net__listener_close(n->listeners[i]);
	n->nlisteners = 0;
	each_conn(n, tell_stop);
	if (!n->nconns) {
		net__finish(n);
		return;
	}
	/* Referenced: a connection that is neither read nor written (paused)
	 * would not keep the loop running until the grace ends. */
	uv_timer_start(&n->grace, on_grace, grace_ms, 0);
}

void net_free(struct net *n)
{
	if (!n)
		return;
	free(n->dirty);
	free(n);
}
