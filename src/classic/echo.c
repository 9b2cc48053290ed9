/*
 * echo.c - the echo service on the connection layer (echo.h): bytes in,
 * the same bytes queued out, input paused while too many wait.
 */
#include "echo.h"

#include "base/alloc.h"
#include "base/log.h"
#include "tcp.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

struct echo_conn {
	struct net_conn *conn;
	struct echo_service *es;
	struct classic_out *out;
	uint64_t bytes;     /* taken (and queued back) */
	bool stalled;       /* input paused: max_queued bytes wait for the client */
	bool peer_done;     /* the client shut its side */
	char peer[80];
	char why[96];       /* how it ended, for the last log line */
};

static struct echo_service *service_of(const struct net_conn *c)
{
	return net_conn_ctx(c);
}

static void arm_idle(struct echo_conn *e)
{
	net_conn_deadline(e->conn, e->es->cfg.idle_ms); /* 0 clears it */
}

static bool echo_open(struct net_conn *c, const struct net_listener *l)
{
	struct echo_conn *e = xcalloc(1, sizeof(*e));

	(void)l;
	e->conn = c;
	e->es = service_of(c);
	e->out = classic_out_new();
	net_conn_peer(c, e->peer, sizeof(e->peer), true);
	net_conn_set_state(c, e);
	log_info("echo %s connected", e->peer);
	arm_idle(e);
	return true;
}

static void echo_refuse(struct net_conn *c, const struct net_listener *l)
{
	(void)l;
	classic_log_refusal(c, &service_of(c)->last_refusal, "echo");
}

/* Takes what fits under max_queued; the rest waits in the layer, the
 * input paused, until the client has read half of what waits. */
static size_t echo_input(struct net_conn *c, const uint8_t *data, size_t len)
{
	struct echo_conn *e = net_conn_state(c);
	size_t queued = classic_out_len(e->out), max = e->es->cfg.max_queued;
	size_t n = queued >= max ? 0 : max - queued < len ? max - queued : len;

	if (n) {
		classic_out_append(e->out, data, n);
		e->bytes += n;
		net_conn_want_write(c);
	}
	if (n < len) {
		e->stalled = true;
		net_conn_pause(c, true);
		net_conn_deadline(c, e->es->cfg.stall_ms);
	} else {
		arm_idle(e);
	}
	return n;
}

static struct net_out *echo_output(struct net_conn *c)
{
	struct echo_conn *e = net_conn_state(c);

	return classic_out_take(e->out);
}

static void echo_drained(struct net_conn *c)
{
	struct echo_conn *e = net_conn_state(c);

	if (e->stalled && classic_out_len(e->out) <= e->es->cfg.max_queued / 2) {
		e->stalled = false;
		arm_idle(e);
		net_conn_pause(c, false); /* what waited is fed first: may stall again */
	}
	if (e->peer_done && !e->stalled && !net_conn_closing(c))
		net_conn_close(c, NET_CLOSE_AFTER_WRITE);
}

/* The client shut its side: what it sent goes back, then the connection
 * closes (once the input that waited is in, if it was paused). A failed
 * socket: a client that closed without reading its echo, usually. */
static void echo_eof(struct net_conn *c, int status)
{
	struct echo_conn *e = net_conn_state(c);

	if (status < 0) {
		snprintf(e->why, sizeof(e->why), "%s", uv_strerror(status));
		return; /* the layer closes it */
	}
	e->peer_done = true;
	if (!e->stalled)
		net_conn_close(c, NET_CLOSE_AFTER_WRITE);
}

static void echo_deadline(struct net_conn *c)
{
	struct echo_conn *e = net_conn_state(c);
	const struct echo_config *cfg = &e->es->cfg;

	if (e->stalled)
		snprintf(e->why, sizeof(e->why), "not reading (%zu bytes waiting for %" PRIu32
			 " ms)", classic_out_len(e->out), cfg->stall_ms);
	else
		snprintf(e->why, sizeof(e->why), "idle for %" PRIu32 " ms", cfg->idle_ms);
	net_conn_close(c, NET_CLOSE_NOW);
}

/* Stopping: what is queued goes out within the grace. */
static void echo_stop(struct net_conn *c)
{
	struct echo_conn *e = net_conn_state(c);

	snprintf(e->why, sizeof(e->why), "server stopping");
	net_conn_close(c, NET_CLOSE_AFTER_WRITE);
}

static void echo_close(struct net_conn *c)
{
	struct echo_conn *e = net_conn_state(c);

	if (!e)
		return; /* refused */
	log_info("echo %s closed%s%s (%" PRIu64 " bytes received)", e->peer, e->why[0] ? ": " : "",
		 e->why, e->bytes);
	classic_out_free(e->out); /* now, or once the batch still out is released */
	free(e);
}

static const struct net_proto echo_proto = {
	.name = "echo",
	.open = echo_open,
	.refuse = echo_refuse,
	.input = echo_input,
	.output = echo_output,
	.drained = echo_drained,
	.eof = echo_eof,
	.deadline = echo_deadline,
	.stop = echo_stop,
	.close = echo_close,
};

void echo_service_init(struct echo_service *e, const struct echo_config *cfg)
{
	*e = (struct echo_service){ .cfg = *cfg };
	e->svc = (struct net_service){ .proto = &echo_proto, .ctx = e,
				       .max_conns = cfg->max_conns };
}
