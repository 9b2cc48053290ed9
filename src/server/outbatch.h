/*
 * outbatch.h - a protocol's queued output (a struct outbuf) handed to the
 * connection layer as one struct net_out: the bytes move into a pooled
 * batch, so the protocol queues more while they are written, and an idle
 * connection holds no batch, no write request and no buffer.
 *
 * For services with many mostly idle connections (MQTT). HTTP, whose
 * connections are few and busy, keeps two outbufs per connection instead
 * (http_server.c). Single-threaded, like the loop.
 */
#ifndef AGORA_OUTBATCH_H
#define AGORA_OUTBATCH_H

#include "broker/outbuf.h"
#include "net/net.h"

#include <stdint.h>

struct outbatch;

struct outbatch_pool {
	struct outbuf_pool *bufs;  /* the outbufs' storage (not owned) */
	struct outbatch *free;
	uint32_t nfree;
	uv_buf_t *iov;             /* one scratch array for every write (net_out) */
	uint32_t iov_cap;
};

void outbatch_pool_init(struct outbatch_pool *p, struct outbuf_pool *bufs);
/* Once no batch is out (after the loop ended). */
void outbatch_pool_release(struct outbatch_pool *p);

/* What o holds, moved out as one net_out (o is left empty), or NULL when o
 * is empty. Its release gives the batch back. */
struct net_out *outbatch_take(struct outbatch_pool *p, struct outbuf *o);

#endif
