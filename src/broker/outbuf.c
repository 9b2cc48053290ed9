/* outbuf.c - segmented output buffer for one client. */
#include "outbuf.h"

#include "base/alloc.h"
#include "msg.h"

#include <stdlib.h>
#include <string.h>

void outbuf_init(struct outbuf *o)
{
	memset(o, 0, sizeof(*o));
}

static void drop_refs(struct outbuf *o)
{
	for (uint32_t i = 0; i < o->nsegs; i++)
		msg_unref(o->segs[i].msg);
}

void outbuf_release(struct outbuf *o)
{
	drop_refs(o);
	free(o->arena);
	free(o->segs);
	outbuf_init(o);
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
	struct outbuf tmp = *dst; /* empty but may own storage: hand it to src */

	*dst = *src;
	*src = tmp;
	src->arena_len = 0;
	src->nsegs = 0;
	src->total = 0;
}

static struct out_seg *new_seg(struct outbuf *o)
{
	if (o->nsegs == o->segs_cap) {
		o->segs_cap = o->segs_cap ? o->segs_cap * 2 : 8;
		o->segs = xrealloc(o->segs, o->segs_cap * sizeof(*o->segs));
	}
	return &o->segs[o->nsegs++];
}

uint8_t *outbuf_reserve(struct outbuf *o, size_t len)
{
	size_t need = (size_t)o->arena_len + len;

	if (need > o->arena_cap) {
		size_t cap = o->arena_cap ? o->arena_cap : 256;
		while (cap < need)
			cap *= 2;
		o->arena = xrealloc(o->arena, cap);
		o->arena_cap = (uint32_t)cap;
	}
	return o->arena + o->arena_len;
}

void outbuf_commit(struct outbuf *o, size_t len)
{
	struct out_seg *last = o->nsegs ? &o->segs[o->nsegs - 1] : NULL;

	if (!len)
		return;
	/* Arena bytes directly after the previous arena segment extend it. */
	if (last && !last->msg && last->off + last->len == o->arena_len) {
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
	s->off = 0;
	s->len = m->payload_len;
	s->msg = msg_ref(m);
	o->total += m->payload_len;
}

const uint8_t *outbuf_seg_data(const struct outbuf *o, uint32_t i)
{
	const struct out_seg *s = &o->segs[i];
	return s->msg ? s->msg->payload : o->arena + s->off;
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
