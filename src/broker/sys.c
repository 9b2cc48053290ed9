/* sys.c - the $SYS/broker/... topics, published retained. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

static void publish_text(struct broker *b, const char *topic, const char *text)
{
	struct msg_spec spec = {
		.topic = (const uint8_t *)topic,
		.topic_len = (uint16_t)strlen(topic),
		.payload = (const uint8_t *)text,
		.payload_len = (uint32_t)strlen(text),
		.retain = true,
	};
	struct msg *m = msg_new(&b->msg_pool, &spec);

	broker_publish_msg(b, m);
	msg_unref(m);
}

static void publish_u64(struct broker *b, const char *topic, uint64_t value)
{
	char text[24];

	snprintf(text, sizeof(text), "%llu", (unsigned long long)value);
	publish_text(b, topic, text);
}

void broker_publish_sys(struct broker *b)
{
	const struct broker_stats *st = &b->stats;
	char uptime[40];

	snprintf(uptime, sizeof(uptime), "%llu seconds",
		 (unsigned long long)((b->now_ms - b->start_ms) / 1000));
	publish_text(b, "$SYS/broker/version", b->version);
	publish_text(b, "$SYS/broker/uptime", uptime);
	publish_u64(b, "$SYS/broker/clients/connected", st->clients_connected);
	/* Mosquitto's meaning: connected clients plus offline persistent sessions. */
	publish_u64(b, "$SYS/broker/clients/total", st->sessions);
	publish_u64(b, "$SYS/broker/clients/disconnected", st->sessions - st->clients_connected);
	publish_u64(b, "$SYS/broker/clients/maximum", st->clients_maximum);
	publish_u64(b, "$SYS/broker/messages/received", st->msgs_received);
	publish_u64(b, "$SYS/broker/messages/sent", st->msgs_sent);
	publish_u64(b, "$SYS/broker/bytes/received", st->bytes_received);
	publish_u64(b, "$SYS/broker/bytes/sent", st->bytes_sent);
	publish_u64(b, "$SYS/broker/subscriptions/count", st->subscriptions);
	publish_u64(b, "$SYS/broker/retained messages/count", st->retained);
	publish_u64(b, "$SYS/broker/publish/messages/dropped", st->msgs_dropped);
}
