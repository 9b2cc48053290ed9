/*
 * outbatch.c - pooled write batches over outbufs (outbatch.h).
 */
#include "outbatch.h"

#include "base/alloc.h"
#include "base/array.h"

#include <stdlib.h>

#define MAX_FREE_BATCHES 1024

struct outbatch {
	struct net_out out;   /* first: the layer hands it back to release */
	struct outbuf buf;
	struct outbatch_pool *pool;
	struct outbatch *next_free;
};

void outbatch_pool_init(struct outbatch_pool *p, struct outbuf_pool *bufs)
{
	*p = (struct outbatch_pool){ .bufs = bufs };
}

void outbatch_pool_release(struct outbatch_pool *p)
{
	while (p->free) {
		struct outbatch *w = p->free;

		p->free = w->next_free;
		free(w);
	}
	p->nfree = 0;
	free(p->iov);
	p->iov = NULL;
	p->iov_cap = 0;
}

static void batch_release(struct net_out *out)
{
	struct outbatch *w = (struct outbatch *)out;
	struct outbatch_pool *p = w->pool;

	outbuf_release(&w->buf); /* message references dropped, storage to its pool */
	if (p->nfree >= MAX_FREE_BATCHES) {
		free(w);
		return;
	}
	w->next_free = p->free;
	p->free = w;
	p->nfree++;
}

static uv_buf_t *scratch_iov(struct outbatch_pool *p, uint32_t n)
{
	ARRAY_GROW(p->iov, p->iov_cap, n, 64, ARRAY_MAX);
	return p->iov;
}

struct net_out *outbatch_take(struct outbatch_pool *p, struct outbuf *o)
{
	struct outbatch *w;
	uv_buf_t *iov;

	if (!o->total)
		return NULL;
	w = p->free;
	if (w) {
		p->free = w->next_free;
		p->nfree--;
	} else {
		w = xcalloc(1, sizeof(*w));
		w->pool = p;
		w->out.release = batch_release;
		outbuf_init(&w->buf, p->bufs);
	}
	outbuf_move(&w->buf, o);
	iov = scratch_iov(p, w->buf.nsegs);
	for (uint32_t i = 0; i < w->buf.nsegs; i++)
		iov[i] = uv_buf_init((char *)outbuf_seg_data(&w->buf, i), w->buf.segs[i].len);
	w->out.iov = iov;
	w->out.n = w->buf.nsegs;
	w->out.total = w->buf.total;
	return &w->out;
}
