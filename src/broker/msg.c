/* msg.c - reference-counted application messages. */
#include "msg.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

size_t msg_size(uint16_t topic_len, uint32_t payload_len)
{
	return sizeof(struct msg) + (size_t)topic_len + 1 + payload_len;
}

struct msg *msg_new(const uint8_t *topic, uint16_t topic_len, const uint8_t *payload,
		    uint32_t payload_len, uint8_t qos, bool retain)
{
	return msg_build(xmalloc(msg_size(topic_len, payload_len)), topic, topic_len, payload,
			 payload_len, qos, retain);
}

struct msg *msg_build(void *mem, const uint8_t *topic, uint16_t topic_len,
		      const uint8_t *payload, uint32_t payload_len, uint8_t qos, bool retain)
{
	struct msg *m = mem;

	m->refs = 1;
	m->payload_len = payload_len;
	m->topic_len = topic_len;
	m->qos = qos;
	m->retain = retain;
	memcpy(m->topic, topic, topic_len);
	m->topic[topic_len] = '\0';
	m->payload = (uint8_t *)m->topic + topic_len + 1;
	if (payload_len)
		memcpy(m->payload, payload, payload_len);
	return m;
}

void msg_unref(struct msg *m)
{
	if (m && --m->refs == 0)
		free(m);
}
