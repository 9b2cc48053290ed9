/*
 * props.c - MQTT 5 properties as the broker core uses them: which ones
 * travel with a message to its subscribers, and message expiry.
 */
#include "internal.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

/* [MQTT-3.3.2-...]: what the server forwards unaltered to subscribers. The
 * message expiry is rewritten (time left), topic alias and subscription
 * identifiers are per connection and per subscription. */
static bool travels_with_message(uint8_t id)
{
	switch (id) {
	case MQTT_PROP_PAYLOAD_FORMAT:
	case MQTT_PROP_CONTENT_TYPE:
	case MQTT_PROP_RESPONSE_TOPIC:
	case MQTT_PROP_CORRELATION_DATA:
	case MQTT_PROP_USER_PROPERTY: /* in order [MQTT-3.3.2-18] */
		return true;
	default:
		return false;
	}
}

uint32_t props_forwardable(const struct mqtt_props *in, uint8_t *out)
{
	struct mqtt_prop p;
	uint32_t pos = 0, n = 0;

	while (mqtt_props_next(in, &pos, &p)) {
		if (!travels_with_message(p.id))
			continue;
		memcpy(out + n, p.start, p.size);
		n += p.size;
	}
	return n;
}

uint64_t msg_deadline(const struct broker *b, uint32_t seconds)
{
	uint64_t at = b->now_ms + (uint64_t)seconds * 1000;
	return at ? at : 1; /* 0 means "never expires" */
}

uint64_t props_expiry_deadline(const struct broker *b, const struct mqtt_props *in)
{
	uint32_t seconds = MQTT_PROP_OR(in, MQTT_PROP_MESSAGE_EXPIRY, message_expiry, 0);

	/* An interval of 0 taken literally would expire before reaching
	 * anyone; like Mosquitto, it means no expiry. */
	if (!seconds)
		return 0;
	return msg_deadline(b, seconds);
}

bool msg_expired(const struct broker *b, const struct msg *m)
{
	return m->expires_ms && b->now_ms >= m->expires_ms;
}

uint32_t msg_expiry_left(const struct broker *b, const struct msg *m)
{
	uint64_t left_ms = m->expires_ms > b->now_ms ? m->expires_ms - b->now_ms : 0;

	return (uint32_t)((left_ms + 999) / 1000); /* round up: never send 0 early */
}

uint8_t *broker_props_scratch(struct broker *b, size_t need)
{
	if (need > b->props_cap) {
		free(b->props_buf);
		b->props_buf = xmalloc(need);
		b->props_cap = need;
	}
	return b->props_buf;
}
