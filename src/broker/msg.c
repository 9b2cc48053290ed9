/* msg.c - reference-counted application messages. */
#include "msg.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

size_t msg_size(const struct msg_spec *spec)
{
	return sizeof(struct msg) + (size_t)spec->topic_len + 1 + spec->payload_len +
	       spec->props_len;
}

/* The pool class of a block of size bytes, or -1 when too large. */
static int pool_class(size_t size)
{
	return size <= MSG_POOL_LARGEST ? (int)((size - 1) / MSG_POOL_GRAIN) : -1;
}

struct msg *msg_new(struct msg_pool *pool, const struct msg_spec *spec)
{
	size_t size = msg_size(spec);
	int k = pool ? pool_class(size) : -1;
	struct msg *m;
	void *mem;

	if (k >= 0 && (mem = pool->free[k])) {
		pool->free[k] = *(void **)mem;
		pool->bytes -= (size_t)(k + 1) * MSG_POOL_GRAIN;
	} else {
		mem = xmalloc(k >= 0 ? (size_t)(k + 1) * MSG_POOL_GRAIN : size);
	}
	m = msg_build(mem, spec);
	m->pool = k >= 0 ? pool : NULL;
	return m;
}

static size_t msg_bytes(const struct msg *m)
{
	return sizeof(struct msg) + (size_t)m->topic_len + 1 + m->payload_len + m->props_len;
}

void msg_pool_release(struct msg_pool *p)
{
	for (size_t k = 0; k < sizeof(p->free) / sizeof(p->free[0]); k++) {
		while (p->free[k]) {
			void *next = *(void **)p->free[k];
			free(p->free[k]);
			p->free[k] = next;
		}
	}
	p->bytes = 0;
}

struct msg *msg_build(void *mem, const struct msg_spec *spec)
{
	struct msg *m = mem;

	m->pool = NULL;
	m->refs = 1;
	m->payload_len = spec->payload_len;
	m->props_len = spec->props_len;
	m->topic_len = spec->topic_len;
	m->qos = spec->qos;
	m->retain = spec->retain;
	m->expires_ms = spec->expires_ms;
	m->origin = spec->origin;
	m->jid = 0;
	memcpy(m->topic, spec->topic, spec->topic_len);
	m->topic[spec->topic_len] = '\0';
	m->payload = (uint8_t *)m->topic + spec->topic_len + 1;
	if (spec->payload_len)
		memcpy(m->payload, spec->payload, spec->payload_len);
	m->props = m->payload + spec->payload_len;
	if (spec->props_len)
		memcpy(m->props, spec->props, spec->props_len);
	return m;
}

void msg_unref(struct msg *m)
{
	struct msg_pool *p;
	int k;

	if (!m || --m->refs)
		return;
	p = m->pool;
	k = p ? pool_class(msg_bytes(m)) : -1;
	if (k < 0 || p->bytes + MSG_POOL_GRAIN * (size_t)(k + 1) > MSG_POOL_MAX_BYTES) {
		free(m);
		return;
	}
	*(void **)m = p->free[k];
	p->free[k] = m;
	p->bytes += (size_t)(k + 1) * MSG_POOL_GRAIN;
}
