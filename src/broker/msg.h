/*
 * msg.h - an application message, shared by reference between every
 * subscriber, queue and retained slot that holds it.
 *
 * One allocation holds the struct, the topic (NUL-terminated for logs) and
 * the payload. Created once per incoming PUBLISH; delivering it to N
 * subscribers takes N references, never N copies.
 */
#ifndef AGORA_MSG_H
#define AGORA_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msg {
	uint32_t refs;
	uint32_t payload_len;
	uint16_t topic_len;
	uint8_t qos;     /* QoS it was published with */
	bool retain;     /* retain flag it was published with */
	uint8_t *payload; /* points inside this allocation */
	char topic[];    /* topic_len bytes + NUL, then the payload */
};

/* Returns a message with one reference. */
struct msg *msg_new(const uint8_t *topic, uint16_t topic_len, const uint8_t *payload,
		    uint32_t payload_len, uint8_t qos, bool retain);

/* Bytes msg_build needs. */
size_t msg_size(uint16_t topic_len, uint32_t payload_len);
/* Builds a message in caller-provided memory of msg_size() bytes, for a
 * message nobody will keep a reference to (the caller checks refs == 1
 * afterwards). */
struct msg *msg_build(void *mem, const uint8_t *topic, uint16_t topic_len,
		      const uint8_t *payload, uint32_t payload_len, uint8_t qos, bool retain);

static inline struct msg *msg_ref(struct msg *m)
{
	m->refs++;
	return m;
}

/* Drops a reference; frees on the last. Accepts NULL. */
void msg_unref(struct msg *m);

#endif
