/*
 * msg.h - an application message, shared by reference between every
 * subscriber, queue and retained slot that holds it.
 *
 * One allocation holds the struct, the topic (NUL-terminated for logs), the
 * payload and the MQTT 5 properties that travel with the message (payload
 * format, content type, response topic, correlation data, user properties:
 * copied once, as encoded, and written as they are to MQTT 5 subscribers).
 * Created once per incoming PUBLISH; delivering it to N subscribers takes N
 * references, never N copies.
 */
#ifndef AGORA_MSG_H
#define AGORA_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct msg_pool;

struct msg {
	struct msg_pool *pool; /* where the memory goes back, NULL: free() */
	uint32_t refs;
	uint32_t payload_len;
	uint32_t props_len;
	uint16_t topic_len;
	uint8_t qos;       /* QoS it was published with */
	bool retain;       /* retain flag it was published with */
	uint64_t expires_ms; /* MQTT 5 message expiry, broker clock; 0 = never */
	uint32_t origin;   /* serial of the publishing session (No Local); 0 = none */
	uint64_t jid;      /* journal id once written to the durable log, 0 = not */
	uint8_t *payload;  /* points inside this allocation */
	uint8_t *props;    /* idem: encoded properties, props_len bytes */
	char topic[];      /* topic_len bytes + NUL, then payload, then props */
};

/* What a message is made of; the bytes are copied. */
struct msg_spec {
	const uint8_t *topic;
	uint16_t topic_len;
	const uint8_t *payload;
	uint32_t payload_len;
	uint8_t qos;
	bool retain;
	const uint8_t *props;
	uint32_t props_len;
	uint64_t expires_ms;
	uint32_t origin;
};

/*
 * Freed small messages kept for reuse, per broker: a QoS 1/2 message lives
 * only until its last subscriber acknowledges it, so a steady stream would
 * otherwise malloc and free one block per message, past what malloc's own
 * per-thread cache holds when a window of them is in flight. Blocks come in
 * classes of MSG_POOL_GRAIN bytes up to MSG_POOL_LARGEST; at most
 * MSG_POOL_MAX_BYTES are kept free. Not thread-safe (one broker, one loop).
 */
#define MSG_POOL_GRAIN 64
#define MSG_POOL_LARGEST 512
#define MSG_POOL_MAX_BYTES (1024 * 1024)
struct msg_pool {
	void *free[MSG_POOL_LARGEST / MSG_POOL_GRAIN]; /* linked through their first word */
	size_t bytes;
};

/* Frees the kept blocks. Messages from the pool still alive may come back
 * later: they are then kept again, so release once none is. */
void msg_pool_release(struct msg_pool *p);

/* Returns a message with one reference, from pool when it is small enough
 * (pool may be NULL). */
struct msg *msg_new(struct msg_pool *pool, const struct msg_spec *spec);

/* Bytes msg_build needs. */
size_t msg_size(const struct msg_spec *spec);
/* Builds a message in caller-provided memory of msg_size() bytes, for a
 * message nobody will keep a reference to (the caller checks refs == 1
 * afterwards). */
struct msg *msg_build(void *mem, const struct msg_spec *spec);

static inline struct msg *msg_ref(struct msg *m)
{
	m->refs++;
	return m;
}

/* Drops a reference; frees on the last. Accepts NULL. */
void msg_unref(struct msg *m);

#endif
