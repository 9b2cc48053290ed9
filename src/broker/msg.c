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

struct msg *msg_new(const struct msg_spec *spec)
{
	return msg_build(xmalloc(msg_size(spec)), spec);
}

struct msg *msg_build(void *mem, const struct msg_spec *spec)
{
	struct msg *m = mem;

	m->refs = 1;
	m->payload_len = spec->payload_len;
	m->props_len = spec->props_len;
	m->topic_len = spec->topic_len;
	m->qos = spec->qos;
	m->retain = spec->retain;
	m->expires_ms = spec->expires_ms;
	m->origin = spec->origin;
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
	if (m && --m->refs == 0)
		free(m);
}
