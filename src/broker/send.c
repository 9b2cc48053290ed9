/*
 * send.c - encode outgoing packets into a client's output buffer.
 *
 * Every function appends to c->out and puts the client on the dirty list;
 * the I/O layer writes the whole buffer once per loop turn.
 */
#include "internal.h"

#include <string.h>

static void emit(struct broker *b, struct broker_client *c, const struct mqtt_packet *p)
{
	long size = mqtt_encoded_size(p, c->level);
	uint8_t *dst;
	long n;

	if (size < 0)
		return;
	dst = outbuf_reserve(&c->out, (size_t)size);
	n = mqtt_encode(p, c->level, dst, (size_t)size);
	if (n < 0)
		return;
	outbuf_commit(&c->out, (size_t)n);
	b->stats.bytes_sent += (uint64_t)n;
	broker_mark_dirty(b, c);
}

void send_connack(struct broker *b, struct broker_client *c, bool present, uint8_t rc)
{
	struct mqtt_packet p = { .type = MQTT_CONNACK };

	p.u.connack.session_present = present;
	p.u.connack.return_code = rc;
	emit(b, c, &p);
}

void send_ack(struct broker *b, struct broker_client *c, uint8_t type, uint16_t packet_id)
{
	uint8_t *dst = outbuf_reserve(&c->out, 4);

	/* Four fixed bytes: the hottest reply, encoded inline. */
	dst[0] = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x02 : 0));
	dst[1] = 2;
	dst[2] = (uint8_t)(packet_id >> 8);
	dst[3] = (uint8_t)packet_id;
	outbuf_commit(&c->out, 4);
	b->stats.bytes_sent += 4;
	broker_mark_dirty(b, c);
}

void send_simple(struct broker *b, struct broker_client *c, uint8_t type)
{
	struct mqtt_packet p = { .type = type };
	emit(b, c, &p);
}

void send_suback(struct broker *b, struct broker_client *c, uint16_t packet_id,
		 const uint8_t *codes, uint16_t count)
{
	struct mqtt_packet p = { .type = MQTT_SUBACK };

	p.u.suback.packet_id = packet_id;
	p.u.suback.codes = codes;
	p.u.suback.count = count;
	emit(b, c, &p);
}

void send_publish(struct broker *b, struct broker_client *c, struct msg *m, uint8_t qos,
		  uint16_t packet_id, bool retain, bool dup)
{
	struct mqtt_publish p = {
		.dup = dup,
		.qos = qos,
		.retain = retain,
		.topic = { (const uint8_t *)m->topic, m->topic_len },
		.packet_id = packet_id,
		.payload_len = m->payload_len,
	};
	bool inline_payload = m->payload_len <= BROKER_INLINE_PAYLOAD;
	size_t cap = MQTT_MAX_HEADER + 2 + m->topic_len + 2 + (inline_payload ? m->payload_len : 0);
	uint8_t *dst = outbuf_reserve(&c->out, cap);
	long n = mqtt_encode_publish_header(&p, c->level, dst, cap);

	if (n < 0)
		return;
	if (inline_payload) {
		memcpy(dst + n, m->payload, m->payload_len);
		outbuf_commit(&c->out, (size_t)n + m->payload_len);
	} else {
		outbuf_commit(&c->out, (size_t)n);
		outbuf_append_msg_payload(&c->out, m);
	}
	b->stats.msgs_sent++;
	b->stats.bytes_sent += (uint64_t)n + m->payload_len;
	broker_mark_dirty(b, c);
}
