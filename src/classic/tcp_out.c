/*
 * tcp_out.c - one connection's output for the classic servers (tcp.h):
 * two byte buffers that swap between being filled and being written.
 */
#include "tcp.h"

#include "base/alloc.h"
#include "base/array.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define KEEP_CAP (64 * 1024) /* a written buffer larger than this is freed */

struct classic_out {
	uint8_t *fill, *send;
	uint32_t fill_len, fill_cap, send_len, send_cap;
	struct net_out out; /* the batch handed to the layer: send[0..send_len) */
	uv_buf_t iov;
	bool sending;       /* out is the layer's until released */
	bool orphan;        /* its connection is gone: freed at the release */
};

struct classic_out *classic_out_new(void)
{
	return xcalloc(1, sizeof(struct classic_out));
}

static void out_destroy(struct classic_out *q)
{
	free(q->fill);
	free(q->send);
	free(q);
}

void classic_out_free(struct classic_out *q)
{
	if (!q)
		return;
	if (q->sending)
		q->orphan = true;
	else
		out_destroy(q);
}

void classic_out_append(struct classic_out *q, const void *data, size_t len)
{
	ARRAY_GROW(q->fill, q->fill_cap, (size_t)q->fill_len + len, 4096, ARRAY_MAX);
	memcpy(q->fill + q->fill_len, data, len);
	q->fill_len += (uint32_t)len;
}

size_t classic_out_len(const struct classic_out *q)
{
	return (size_t)q->fill_len + (q->sending ? q->send_len : 0);
}

static void released(struct net_out *out)
{
	struct classic_out *q =
		(struct classic_out *)(void *)((char *)out - offsetof(struct classic_out, out));

	q->sending = false;
	q->send_len = 0;
	if (q->orphan) {
		out_destroy(q);
		return;
	}
	if (q->send_cap > KEEP_CAP) { /* a burst: not kept for an idle connection */
		free(q->send);
		q->send = NULL;
		q->send_cap = 0;
	}
}

struct net_out *classic_out_take(struct classic_out *q)
{
	uint8_t *b = q->send;
	uint32_t cap = q->send_cap;

	if (q->sending || !q->fill_len)
		return NULL;
	q->send = q->fill;
	q->send_cap = q->fill_cap;
	q->send_len = q->fill_len;
	q->fill = b;
	q->fill_cap = cap;
	q->fill_len = 0;
	q->sending = true;
	q->iov = uv_buf_init((char *)q->send, q->send_len);
	q->out = (struct net_out){ .iov = &q->iov, .n = 1, .total = q->send_len,
				   .release = released };
	return &q->out;
}
