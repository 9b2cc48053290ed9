/* outbuf.c - segmented output buffer for one client. */
#include "outbuf.h"

#include "base/alloc.h"
#include "base/array.h"
#include "msg.h"

#include <stdlib.h>
#include <string.h>

/* A first block: a few small packets. It grows (and is pooled grown). It
 * holds the pool's header of a free block. */
#define FIRST_ARENA 512
#define FIRST_SEGS 16

struct outbuf_block {
	struct outbuf_block *next;
	uint8_t *arena;
	struct out_seg *segs;
	uint32_t arena_cap, segs_cap;
};

_Static_assert(FIRST_ARENA >= sizeof(struct outbuf_block), "a free block's header fits its arena");

static size_t storage_bytes(uint32_t arena_cap, uint32_t segs_cap)
{
	return arena_cap + (size_t)segs_cap * sizeof(struct out_seg);
}

void outbuf_pool_init(struct outbuf_pool *p, size_t max_bytes)
{
	p->free = NULL;
	p->bytes = 0;
	p->max_bytes = max_bytes;
}

void outbuf_pool_release(struct outbuf_pool *p)
{
	while (p->free) {
		struct outbuf_block *b = p->free;
		p->free = b->next;
		free(b->segs);
		free(b->arena); /* b itself, last */
	}
	p->bytes = 0;
}

void outbuf_init(struct outbuf *o, struct outbuf_pool *pool)
{
	memset(o, 0, sizeof(*o));
	o->pool = pool;
}

static void drop_refs(struct outbuf *o)
{
	for (uint32_t i = 0; i < o->nsegs; i++)
		if (o->segs[i].off == OUTBUF_SEG_MSG)
			msg_unref(o->segs[i].msg);
}

/* Gives the storage back to the pool while it has room, else frees it. A
 * pooled block's header lives at the start of its own arena (at least
 * FIRST_ARENA bytes), so pooling allocates nothing. */
static void put_storage(struct outbuf *o)
{
	struct outbuf_pool *p = o->pool;
	size_t size = storage_bytes(o->arena_cap, o->segs_cap);

	if (p && o->arena && o->segs && size <= OUTBUF_POOL_BLOCK_MAX &&
	    p->bytes + size <= p->max_bytes) {
		struct outbuf_block *b = (struct outbuf_block *)(void *)o->arena;
		b->arena = o->arena;
		b->segs = o->segs;
		b->arena_cap = o->arena_cap;
		b->segs_cap = o->segs_cap;
		b->next = p->free;
		p->free = b;
		p->bytes += size;
	} else {
		free(o->arena);
		free(o->segs);
	}
	o->arena = NULL;
	o->segs = NULL;
	o->arena_cap = 0;
	o->segs_cap = 0;
}

/* Takes a pooled block (or a new small one) for an outbuf with none. */
static void get_storage(struct outbuf *o)
{
	struct outbuf_pool *p = o->pool;

	if (p && p->free) {
		struct outbuf_block *b = p->free;
		p->free = b->next;
		p->bytes -= storage_bytes(b->arena_cap, b->segs_cap);
		o->arena = b->arena;
		o->segs = b->segs;
		o->arena_cap = b->arena_cap;
		o->segs_cap = b->segs_cap;
		return;
	}
	o->arena = xmalloc(FIRST_ARENA);
	o->segs = xmalloc(FIRST_SEGS * sizeof(*o->segs));
	o->arena_cap = FIRST_ARENA;
	o->segs_cap = FIRST_SEGS;
}

void outbuf_release(struct outbuf *o)
{
	drop_refs(o);
	if (o->arena || o->segs)
		put_storage(o);
	o->arena_len = 0;
	o->nsegs = 0;
	o->total = 0;
}

void outbuf_reset(struct outbuf *o)
{
	drop_refs(o);
	o->arena_len = 0;
	o->nsegs = 0;
	o->total = 0;
}

void outbuf_move(struct outbuf *dst, struct outbuf *src)
{
	struct outbuf_pool *pool = src->pool;

	outbuf_release(dst);
	*dst = *src;
	dst->pool = pool;
	outbuf_init(src, pool);
}

static struct out_seg *new_seg(struct outbuf *o)
{
	if (!o->segs)
		get_storage(o);
	ARRAY_GROW(o->segs, o->segs_cap, o->nsegs + 1, FIRST_SEGS, ARRAY_MAX);
	return &o->segs[o->nsegs++];
}

uint8_t *outbuf_reserve(struct outbuf *o, size_t len)
{
	size_t need = (size_t)o->arena_len + len;

	if (!o->arena)
		get_storage(o);
	ARRAY_GROW(o->arena, o->arena_cap, need, FIRST_ARENA, ARRAY_MAX);
	return o->arena + o->arena_len;
}

void outbuf_commit(struct outbuf *o, size_t len)
{
	struct out_seg *last = o->nsegs ? &o->segs[o->nsegs - 1] : NULL;

	if (!len)
		return;
	/* Arena bytes directly after the previous arena segment extend it. */
	if (last && last->off < OUTBUF_SEG_STATIC && last->off + last->len == o->arena_len) {
		last->len += (uint32_t)len;
	} else {
		struct out_seg *s = new_seg(o);
		s->off = o->arena_len;
		s->len = (uint32_t)len;
		s->msg = NULL;
	}
	o->arena_len += (uint32_t)len;
	o->total += len;
}

void outbuf_append(struct outbuf *o, const void *data, size_t len)
{
	uint8_t *dst = outbuf_reserve(o, len);

	if (len)
		memcpy(dst, data, len);
	outbuf_commit(o, len);
}

void outbuf_append_msg_payload(struct outbuf *o, struct msg *m)
{
	struct out_seg *s;

	if (!m->payload_len)
		return;
	s = new_seg(o);
	s->off = OUTBUF_SEG_MSG;
	s->len = m->payload_len;
	s->msg = msg_ref(m);
	o->total += m->payload_len;
}

void outbuf_append_static(struct outbuf *o, const void *data, size_t len)
{
	struct out_seg *s;

	if (!len)
		return;
	s = new_seg(o);
	s->off = OUTBUF_SEG_STATIC;
	s->len = (uint32_t)len;
	s->ext = data;
	o->total += len;
}

const uint8_t *outbuf_seg_data(const struct outbuf *o, uint32_t i)
{
	const struct out_seg *s = &o->segs[i];

	if (s->off == OUTBUF_SEG_MSG)
		return s->msg->payload;
	return s->off == OUTBUF_SEG_STATIC ? s->ext : o->arena + s->off;
}

size_t outbuf_copy(const struct outbuf *o, uint8_t *dst, size_t cap)
{
	size_t n = 0;

	for (uint32_t i = 0; i < o->nsegs && n < cap; i++) {
		size_t len = o->segs[i].len < cap - n ? o->segs[i].len : cap - n;
		memcpy(dst + n, outbuf_seg_data(o, i), len);
		n += len;
	}
	return n;
}
