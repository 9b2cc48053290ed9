/*
 * adder.c - the integer adder on the connection layer (adder.h): every
 * complete request in the input is answered in order; a bad one ends the
 * connection (with an error reply when the client speaks Agora's
 * encoding), as does a request that does not arrive whole in time.
 *
 * A request is answered only once all of it is in (the layer keeps a
 * partial one, bounded by --max-length since the length is checked from
 * the first five bytes), so how the client's bytes were split does not
 * matter: the course's client sends the length and the pickle in two
 * sends, a slow one byte by byte. Each reply goes out in one write.
 */
#include "adder.h"

#include "base/alloc.h"
#include "base/log.h"
#include "tcp.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

/* Replies waiting for a client that pipelines requests without reading
 * them: input paused beyond this. */
#define OUT_MAX (64 * 1024)

struct adder_conn {
	struct net_conn *conn;
	struct adder_service *as;
	struct classic_out *out;
	enum adder_kind kind;   /* of the request partly in, once known */
	size_t partial;         /* its bytes in so far */
	uint32_t requests;
	bool timing;            /* the request timeout runs */
	bool backlogged;        /* input paused: OUT_MAX bytes of replies wait */
	char peer[80];
	char why[ADDER_WHY_MAX + 48]; /* how it ended, for the last log line */
};

static struct adder_service *service_of(const struct net_conn *c)
{
	return net_conn_ctx(c);
}

static const char *kind_name(enum adder_kind kind)
{
	return kind == ADDER_PICKLE ? "pickle protocol" : "Agora version";
}

/* A request that failed, or a deadline: Agora's client gets the error
 * reply; the course's reply has no room for one. Then the lingering close:
 * the write side shut after the reply, what the client still sends read
 * and dropped (within bounds), so the reply is not lost to a reset. */
static void fail(struct adder_conn *h, enum adder_kind kind, const struct adder_result *r)
{
	uint8_t reply[ADDER_REPLY_MAX];
	size_t n = adder_encode_reply(kind, r, reply);

	if (n) {
		classic_out_append(h->out, reply, n);
		net_conn_want_write(h->conn);
	}
	log_info("adder %s: refused: %s%s", h->peer, r->why,
		 kind == ADDER_PICKLE ? " (no reply: the course's has no room for an error)" : "");
	snprintf(h->why, sizeof(h->why), "refused");
	net_conn_close(h->conn, NET_CLOSE_LINGER);
}

static void frame_error(struct adder_conn *h, int64_t err, enum adder_kind kind, uint32_t plen,
			const uint8_t *req)
{
	struct adder_result r = { .status = ADDER_EMALFORMED };

	if (err == ADDER_FRAME_TOOLONG) {
		r.status = ADDER_ETOOLONG;
		snprintf(r.why, sizeof(r.why),
			 "a payload of %" PRIu32 " bytes is over the limit (%" PRIu32 ")", plen,
			 h->as->cfg.max_length);
	} else if (err == ADDER_FRAME_EMPTY) {
		snprintf(r.why, sizeof(r.why), "a length of 0");
	} else if (req[4] == '(' || req[4] == ']') {
		snprintf(r.why, sizeof(r.why), "a pickle of protocol 0 or 1? (its first byte is "
			 "0x%02x): protocols 2 to 5 are accepted", req[4]);
	} else {
		snprintf(r.why, sizeof(r.why),
			 "the payload starts with 0x%02x, neither pickle's PROTO (0x80) nor "
			 "Agora's version (0xA1)", req[4]);
	}
	fail(h, kind, &r);
}

/* One complete request: answered, or the connection ends (false). */
static bool answer(struct adder_conn *h, enum adder_kind kind, const uint8_t *payload,
		   uint32_t len)
{
	struct adder_result r;
	uint8_t reply[ADDER_REPLY_MAX];

	adder_compute(kind, payload, len, &r);
	h->requests++;
	if (r.status != ADDER_OK) {
		fail(h, kind, &r);
		return false;
	}
	log_info("adder %s: %s %u, %" PRIu32 " integers: sum %" PRId64, h->peer,
		 kind_name(kind), kind == ADDER_AGORA ? r.version & 0x0f : r.version, r.count,
		 r.sum);
	classic_out_append(h->out, reply, adder_encode_reply(kind, &r, reply));
	net_conn_want_write(h->conn);
	return true;
}

/* A request partly in: its clock runs from its first byte (later bytes do
 * not reset it). Otherwise the connection is idle from now. */
static void arm_deadline(struct adder_conn *h)
{
	const struct adder_config *cfg = &h->as->cfg;

	if (h->backlogged) {
		net_conn_deadline(h->conn, cfg->timeout_ms);
	} else if (h->partial) {
		if (!h->timing)
			net_conn_deadline(h->conn, cfg->timeout_ms);
		h->timing = true;
	} else {
		h->timing = false;
		net_conn_deadline(h->conn, cfg->idle_ms); /* 0 clears it */
	}
}

static size_t adder_input(struct net_conn *c, const uint8_t *data, size_t len)
{
	struct adder_conn *h = net_conn_state(c);
	size_t off = 0;

	while (off < len) {
		enum adder_kind kind;
		uint32_t plen = 0;
		int64_t n = adder_frame(data + off, len - off, h->as->cfg.max_length, &kind, &plen);

		if (n == 0) {
			h->kind = kind;
			break;
		}
		if (n < 0) {
			frame_error(h, n, kind, plen, data + off);
			return len;
		}
		if (!answer(h, kind, data + off + ADDER_HEADER, plen))
			return len;
		off += (size_t)n;
		h->timing = false; /* the next request's clock starts with its first byte */
		if (classic_out_len(h->out) >= OUT_MAX) {
			h->backlogged = true;
			net_conn_pause(c, true);
			break;
		}
	}
	h->partial = h->backlogged ? 0 : len - off;
	arm_deadline(h);
	return off;
}

static struct net_out *adder_output(struct net_conn *c)
{
	struct adder_conn *h = net_conn_state(c);

	return classic_out_take(h->out);
}

static void adder_drained(struct net_conn *c)
{
	struct adder_conn *h = net_conn_state(c);

	if (h->backlogged && classic_out_len(h->out) <= OUT_MAX / 2) {
		h->backlogged = false;
		arm_deadline(h);
		net_conn_pause(c, false); /* the requests that waited, first */
	}
}

static void adder_eof(struct net_conn *c, int status)
{
	struct adder_conn *h = net_conn_state(c);

	if (status < 0) {
		snprintf(h->why, sizeof(h->why), "%s", uv_strerror(status));
		return; /* the layer closes it */
	}
	if (h->partial)
		snprintf(h->why, sizeof(h->why), "closed mid-request (%zu bytes in)", h->partial);
	net_conn_close(c, NET_CLOSE_AFTER_WRITE); /* the replies queued go first */
}

static void adder_deadline(struct net_conn *c)
{
	struct adder_conn *h = net_conn_state(c);
	const struct adder_config *cfg = &h->as->cfg;
	struct adder_result r = { .status = ADDER_ETIMEOUT };

	if (h->timing) {
		snprintf(r.why, sizeof(r.why),
			 "the request did not arrive whole within %" PRIu32 " ms (%zu bytes in)",
			 cfg->timeout_ms, h->partial);
		fail(h, h->kind, &r);
		return;
	}
	if (h->backlogged)
		snprintf(h->why, sizeof(h->why), "not reading its replies for %" PRIu32 " ms",
			 cfg->timeout_ms);
	else
		snprintf(h->why, sizeof(h->why), "idle for %" PRIu32 " ms", cfg->idle_ms);
	net_conn_close(c, NET_CLOSE_NOW);
}

static bool adder_open(struct net_conn *c, const struct net_listener *l)
{
	struct adder_conn *h = xcalloc(1, sizeof(*h));

	(void)l;
	h->conn = c;
	h->as = service_of(c);
	h->out = classic_out_new();
	net_conn_peer(c, h->peer, sizeof(h->peer), true);
	net_conn_set_state(c, h);
	log_info("adder %s connected", h->peer);
	arm_deadline(h);
	return true;
}

static void adder_refuse(struct net_conn *c, const struct net_listener *l)
{
	(void)l;
	classic_log_refusal(c, &service_of(c)->last_refusal, "adder");
}

/* Stopping: the replies queued go out within the grace. */
static void adder_stop(struct net_conn *c)
{
	struct adder_conn *h = net_conn_state(c);

	snprintf(h->why, sizeof(h->why), "server stopping");
	net_conn_close(c, NET_CLOSE_AFTER_WRITE);
}

static void adder_close(struct net_conn *c)
{
	struct adder_conn *h = net_conn_state(c);

	if (!h)
		return; /* refused */
	log_info("adder %s closed%s%s (%" PRIu32 " request%s)", h->peer, h->why[0] ? ": " : "",
		 h->why, h->requests, h->requests == 1 ? "" : "s");
	classic_out_free(h->out); /* now, or once the batch still out is released */
	free(h);
}

static const struct net_proto adder_proto = {
	.name = "adder",
	.open = adder_open,
	.refuse = adder_refuse,
	.input = adder_input,
	.output = adder_output,
	.drained = adder_drained,
	.eof = adder_eof,
	.deadline = adder_deadline,
	.stop = adder_stop,
	.close = adder_close,
};

void adder_service_init(struct adder_service *a, const struct adder_config *cfg)
{
	*a = (struct adder_service){ .cfg = *cfg };
	/* The lingering close after a refusal: 2 s for the client to finish,
	 * 1 s at most between its bytes, a request's worth dropped at most. */
	a->svc = (struct net_service){ .proto = &adder_proto, .ctx = a,
				       .max_conns = cfg->max_conns,
				       .linger_time_ms = 2000, .linger_timeout_ms = 1000,
				       .linger_bytes = cfg->max_length };
}
