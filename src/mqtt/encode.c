/*
 * encode.c - encode MQTT 3.1, 3.1.1 and 5.0 control packets into a caller's
 * buffer. The size is computed first (mqtt_encoded_size), so a caller can
 * reserve exactly; the writer still checks every byte against the end.
 */
#include "mqtt.h"

#include <string.h>

struct writer {
	uint8_t *p;
	uint8_t *end;
	bool overflow;
};

static void wr_u8(struct writer *w, uint8_t v)
{
	if (w->end - w->p < 1) {
		w->overflow = true;
		return;
	}
	*w->p++ = v;
}

static void wr_u16(struct writer *w, uint16_t v)
{
	wr_u8(w, (uint8_t)(v >> 8));
	wr_u8(w, (uint8_t)v);
}

static void wr_bytes(struct writer *w, const void *data, size_t len)
{
	if ((size_t)(w->end - w->p) < len) {
		w->overflow = true;
		return;
	}
	if (len)
		memcpy(w->p, data, len);
	w->p += len;
}

static void wr_str(struct writer *w, struct mqtt_str s)
{
	wr_u16(w, s.len);
	wr_bytes(w, s.data, s.len);
}

static void wr_header(struct writer *w, uint8_t first, uint32_t remaining)
{
	uint8_t v[4];
	int n = mqtt_varint_encode(remaining, v);

	wr_u8(w, first);
	wr_bytes(w, v, (size_t)n);
}

static void wr_props_block(struct writer *w, const struct mqtt_props *props)
{
	uint32_t n = mqtt_props_size(props);

	if ((size_t)(w->end - w->p) < n) {
		w->overflow = true;
		return;
	}
	w->p += mqtt_props_encode(props, w->p);
}

/* Inline: the common empty block is its length, one 0 byte. */
static inline void wr_props(struct writer *w, const struct mqtt_props *props)
{
	if (mqtt_props_empty(props))
		wr_u8(w, 0);
	else
		wr_props_block(w, props);
}

/* ---- sizes ---- */

static bool v5(uint8_t level)
{
	return level == MQTT_LEVEL_5;
}

/* MQTT 5 acks, DISCONNECT and AUTH drop a zero reason code and empty
 * properties from the end [MQTT-3.4.2-1, 3.14.2.1, 3.15.2.1]. */
static long reason_tail_size(uint8_t reason, const struct mqtt_props *props)
{
	if (mqtt_props_body_size(props))
		return 1 + (long)mqtt_props_size(props);
	return reason ? 1 : 0;
}

static long connect_size(const struct mqtt_connect *c)
{
	bool five = v5(c->level);
	long n = 2 + (long)c->protocol_name.len + 1 + 1 + 2 + 2 + c->client_id.len;

	if (five)
		n += mqtt_props_size(&c->props);
	if (c->will) {
		n += 2 + c->will_topic.len + 2 + c->will_payload.len;
		if (five)
			n += mqtt_props_size(&c->will_props);
	}
	if (c->has_username)
		n += 2 + c->username.len;
	if (c->has_password)
		n += 2 + c->password.len;
	return n;
}

static long publish_size(const struct mqtt_publish *p, uint8_t level)
{
	return 2 + (long)p->topic.len + (p->qos ? 2 : 0) +
	       (v5(level) ? (long)mqtt_props_size(&p->props) : 0) + (long)p->payload_len;
}

/* Remaining length of a packet (its variable header and payload); -1 for a
 * type the encoder does not know. */
static long remaining_length(const struct mqtt_packet *p, uint8_t level)
{
	bool five = v5(level);

	switch (p->type) {
	case MQTT_CONNECT:
		return connect_size(&p->u.connect);
	case MQTT_CONNACK:
		return 2 + (five ? (long)mqtt_props_size(&p->u.connack.props) : 0);
	case MQTT_PUBLISH:
		return publish_size(&p->u.publish, level);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		return 2 + (five ? reason_tail_size(p->u.ack.reason_code, &p->u.ack.props) : 0);
	case MQTT_UNSUBACK:
		return 2 + (five ? (long)mqtt_props_size(&p->u.ack.props) + p->u.ack.count : 0);
	case MQTT_SUBSCRIBE:
		return 2 + (five ? (long)mqtt_props_size(&p->u.subscribe.props) : 0) +
		       (long)p->u.subscribe.filters.len;
	case MQTT_UNSUBSCRIBE:
		return 2 + (five ? (long)mqtt_props_size(&p->u.unsubscribe.props) : 0) +
		       (long)p->u.unsubscribe.filters.len;
	case MQTT_SUBACK:
		return 2 + (five ? (long)mqtt_props_size(&p->u.suback.props) : 0) +
		       (long)p->u.suback.count;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		return five ? reason_tail_size(p->u.reason.reason_code, &p->u.reason.props) : 0;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
		return 0;
	}
	return -1;
}

long mqtt_encoded_size(const struct mqtt_packet *p, uint8_t level)
{
	long rem = remaining_length(p, level);

	if (rem < 0 || rem > (long)MQTT_MAX_REMAINING)
		return MQTT_ERR_INVALID;
	return 1 + mqtt_varint_size((uint32_t)rem) + rem;
}

/* ---- validity ---- */

/* The encoder refuses what the decoder would refuse, so Agora never sends a
 * packet its own codec (or any conforming peer) calls malformed. */
static bool packet_fields_valid(const struct mqtt_packet *p, uint8_t level)
{
	switch (p->type) {
	case MQTT_CONNECT: {
		const struct mqtt_connect *c = &p->u.connect;
		if (c->will_qos > 2 || (!c->will && (c->will_qos || c->will_retain)))
			return false; /* [MQTT-3.1.2-13..15] */
		/* [MQTT-3.1.2-22]; MQTT 5 lifts it */
		return !c->has_password || c->has_username || v5(c->level);
	}
	case MQTT_PUBLISH:
		return p->u.publish.qos < 3 && (p->u.publish.qos ? p->u.publish.packet_id != 0
								 : !p->u.publish.dup);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		return p->u.ack.packet_id != 0;
	case MQTT_UNSUBACK:
		return p->u.ack.packet_id != 0 && (!v5(level) || p->u.ack.count);
	case MQTT_SUBSCRIBE:
		return p->u.subscribe.packet_id && p->u.subscribe.filters.count;
	case MQTT_UNSUBSCRIBE:
		return p->u.unsubscribe.packet_id && p->u.unsubscribe.filters.count;
	case MQTT_SUBACK:
		return p->u.suback.packet_id && p->u.suback.count;
	case MQTT_AUTH:
		return v5(level);
	default:
		return true;
	}
}

/* ---- writers per packet shape ---- */

static uint8_t publish_first_byte(const struct mqtt_publish *p)
{
	return (uint8_t)(MQTT_PUBLISH << 4 | (p->dup ? 0x08 : 0) | (p->qos << 1) |
			 (p->retain ? 0x01 : 0));
}

static void encode_connect(struct writer *w, const struct mqtt_connect *c)
{
	uint8_t flags = (uint8_t)((c->clean_session ? 0x02 : 0) | (c->will ? 0x04 : 0) |
				  (c->will_qos << 3) | (c->will_retain ? 0x20 : 0) |
				  (c->has_password ? 0x40 : 0) | (c->has_username ? 0x80 : 0));

	wr_str(w, c->protocol_name);
	wr_u8(w, c->level);
	wr_u8(w, flags);
	wr_u16(w, c->keepalive);
	if (v5(c->level))
		wr_props(w, &c->props);
	wr_str(w, c->client_id);
	if (c->will) {
		if (v5(c->level))
			wr_props(w, &c->will_props);
		wr_str(w, c->will_topic);
		wr_str(w, c->will_payload);
	}
	if (c->has_username)
		wr_str(w, c->username);
	if (c->has_password)
		wr_str(w, c->password);
}

static void encode_reason_tail(struct writer *w, uint8_t reason, const struct mqtt_props *props)
{
	if (!reason && !mqtt_props_body_size(props))
		return;
	wr_u8(w, reason);
	if (mqtt_props_body_size(props))
		wr_props(w, props);
}

static void encode_body(struct writer *w, const struct mqtt_packet *p, uint8_t level)
{
	bool five = v5(level);

	switch (p->type) {
	case MQTT_CONNECT:
		encode_connect(w, &p->u.connect);
		break;
	case MQTT_CONNACK:
		wr_u8(w, p->u.connack.session_present ? 1 : 0);
		wr_u8(w, p->u.connack.return_code);
		if (five)
			wr_props(w, &p->u.connack.props);
		break;
	case MQTT_PUBLISH:
		wr_str(w, p->u.publish.topic);
		if (p->u.publish.qos)
			wr_u16(w, p->u.publish.packet_id);
		if (five)
			wr_props(w, &p->u.publish.props);
		wr_bytes(w, p->u.publish.payload, p->u.publish.payload_len);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		wr_u16(w, p->u.ack.packet_id);
		if (five)
			encode_reason_tail(w, p->u.ack.reason_code, &p->u.ack.props);
		break;
	case MQTT_UNSUBACK:
		wr_u16(w, p->u.ack.packet_id);
		if (five) {
			wr_props(w, &p->u.ack.props);
			wr_bytes(w, p->u.ack.codes, p->u.ack.count);
		}
		break;
	case MQTT_SUBSCRIBE:
		wr_u16(w, p->u.subscribe.packet_id);
		if (five)
			wr_props(w, &p->u.subscribe.props);
		wr_bytes(w, p->u.subscribe.filters.data, p->u.subscribe.filters.len);
		break;
	case MQTT_UNSUBSCRIBE:
		wr_u16(w, p->u.unsubscribe.packet_id);
		if (five)
			wr_props(w, &p->u.unsubscribe.props);
		wr_bytes(w, p->u.unsubscribe.filters.data, p->u.unsubscribe.filters.len);
		break;
	case MQTT_SUBACK:
		wr_u16(w, p->u.suback.packet_id);
		if (five)
			wr_props(w, &p->u.suback.props);
		wr_bytes(w, p->u.suback.codes, p->u.suback.count);
		break;
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		if (five)
			encode_reason_tail(w, p->u.reason.reason_code, &p->u.reason.props);
		break;
	default: /* PINGREQ, PINGRESP */
		break;
	}
}

static uint8_t first_byte(const struct mqtt_packet *p)
{
	switch (p->type) {
	case MQTT_PUBLISH:
		return publish_first_byte(&p->u.publish);
	case MQTT_PUBREL:
	case MQTT_SUBSCRIBE:
	case MQTT_UNSUBSCRIBE:
		return (uint8_t)(p->type << 4 | 0x02); /* [MQTT-2.2.2-1] */
	default:
		return (uint8_t)(p->type << 4);
	}
}

long mqtt_encode(const struct mqtt_packet *p, uint8_t level, uint8_t *out, size_t cap)
{
	struct writer w = { out, out + cap, false };
	long size = mqtt_encoded_size(p, level);

	if (size < 0 || !packet_fields_valid(p, level))
		return MQTT_ERR_INVALID;
	if ((size_t)size > cap)
		return MQTT_ERR_NOSPACE;
	wr_header(&w, first_byte(p), (uint32_t)remaining_length(p, level));
	encode_body(&w, p, level);
	return w.overflow ? MQTT_ERR_NOSPACE : (long)(w.p - out);
}

long mqtt_encode_publish_header(const struct mqtt_publish *p, uint8_t level, uint8_t *out,
				size_t cap)
{
	struct writer w = { out, out + cap, false };
	/* The property block's size once: it is needed twice, per delivery. */
	uint32_t props = v5(level) ? mqtt_props_size(&p->props) : 0;
	uint64_t rem = 2 + (uint64_t)p->topic.len + (p->qos ? 2 : 0) + props + p->payload_len;

	if (rem > MQTT_MAX_REMAINING || p->qos > 2 || (p->qos && !p->packet_id) ||
	    (!p->qos && p->dup))
		return MQTT_ERR_INVALID;
	wr_header(&w, publish_first_byte(p), (uint32_t)rem);
	wr_str(&w, p->topic);
	if (p->qos)
		wr_u16(&w, p->packet_id);
	if (props == 1)
		wr_u8(&w, 0); /* empty block: its length */
	else if (props)
		wr_props_block(&w, &p->props);
	return w.overflow ? MQTT_ERR_NOSPACE : (long)(w.p - out);
}
