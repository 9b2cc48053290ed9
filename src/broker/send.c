/*
 * send.c - encode outgoing packets into a client's output buffer.
 *
 * Every function appends to c->out and puts the client on the dirty list;
 * the I/O layer writes the whole buffer once per loop turn.
 */
#include "internal.h"

#include "base/log.h"

#include <string.h>

/* The property block of a packet that may carry a Reason String. */
static struct mqtt_props *reason_props(struct mqtt_packet *p)
{
	switch (p->type) {
	case MQTT_CONNACK: return &p->u.connack.props;
	case MQTT_DISCONNECT:
	case MQTT_AUTH: return &p->u.reason.props;
	case MQTT_PUBACK:
	case MQTT_PUBREC: return &p->u.ack.props;
	default: return NULL;
	}
}

void broker__send_packet(struct broker *b, struct broker_client *c, const struct mqtt_packet *in)
{
	struct mqtt_packet copy = *in;
	const struct mqtt_packet *p = in;
	long size = mqtt_encoded_size(p, c->level);
	struct mqtt_props *props;
	uint8_t *dst;
	long n;

	if (size < 0)
		return;
	/* [MQTT-3.1.2-24], [MQTT-3.2.2-19]: the Reason String is left out
	 * rather than send the client a packet larger than it accepts; a
	 * packet still too large (a SUBACK for a huge SUBSCRIBE) is not sent. */
	if (c->max_packet_out && (uint64_t)size > c->max_packet_out) {
		if ((props = reason_props(&copy))) {
			props->present &= ~MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
			p = &copy;
			size = mqtt_encoded_size(p, c->level);
		}
		if ((uint64_t)size > c->max_packet_out) {
			log_info("client %s: %s of %ld bytes not sent: over its maximum packet "
				 "size (%u)", c->session ? c->session->id : "?",
				 mqtt_type_name(p->type), size, c->max_packet_out);
			return;
		}
	}
	dst = outbuf_reserve(&c->out, (size_t)size);
	n = mqtt_encode(p, c->level, dst, (size_t)size);
	if (n < 0)
		return;
	outbuf_commit(&c->out, (size_t)n);
	b->stats.bytes_sent += (uint64_t)n;
	broker_mark_dirty(b, c);
}

void broker__send_connack(struct broker *b, struct broker_client *c, bool present, uint8_t rc,
			  const struct mqtt_props *props)
{
	struct mqtt_packet p = { .type = MQTT_CONNACK };

	p.u.connack.session_present = present;
	p.u.connack.return_code = rc;
	if (props)
		p.u.connack.props = *props;
	broker__send_packet(b, c, &p);
}

void broker__send_disconnect(struct broker *b, struct broker_client *c, uint8_t reason,
			     const char *why)
{
	struct mqtt_packet p = { .type = MQTT_DISCONNECT };

	p.u.reason.reason_code = reason;
	if (why && c->problem_info) {
		p.u.reason.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
		p.u.reason.props.reason_string.data = (const uint8_t *)why;
		p.u.reason.props.reason_string.len = (uint16_t)strlen(why);
	}
	broker__send_packet(b, c, &p);
}

void broker__send_ack(struct broker *b, struct broker_client *c, uint8_t type, uint16_t packet_id)
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

void broker__send_ack_reason(struct broker *b, struct broker_client *c, uint8_t type,
			     uint16_t packet_id, uint8_t reason)
{
	uint8_t *dst;

	if (!reason || c->level != MQTT_LEVEL_5) {
		broker__send_ack(b, c, type, packet_id);
		return;
	}
	dst = outbuf_reserve(&c->out, 5);
	dst[0] = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x02 : 0));
	dst[1] = 3; /* packet id and reason code, no properties [MQTT-3.4.2-1] */
	dst[2] = (uint8_t)(packet_id >> 8);
	dst[3] = (uint8_t)packet_id;
	dst[4] = reason;
	outbuf_commit(&c->out, 5);
	b->stats.bytes_sent += 5;
	broker_mark_dirty(b, c);
}

void broker__send_ack_why(struct broker *b, struct broker_client *c, uint8_t type,
			  uint16_t packet_id, uint8_t reason, const char *why)
{
	size_t len = why ? strnlen(why, BROKER_WHY_MAX) : 0;
	struct mqtt_packet p;

	/* [MQTT-3.1.2-29]: no Reason String on an acknowledgement to a
	 * client that set Request Problem Information to 0 */
	if (reason < 0x80 || !len || c->level != MQTT_LEVEL_5 || !c->problem_info) {
		broker__send_ack_reason(b, c, type, packet_id, reason);
		return;
	}
	/* zeroed only here: the packet is 600 bytes, and every PUBACK
	 * passes this way (the memset was 6% of a QoS 1 delivery) */
	p = (struct mqtt_packet){ .type = type };
	p.u.ack.packet_id = packet_id;
	p.u.ack.reason_code = reason;
	p.u.ack.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
	p.u.ack.props.reason_string.data = (const uint8_t *)why;
	p.u.ack.props.reason_string.len = (uint16_t)len;
	broker__send_packet(b, c, &p);
}

void broker__send_simple(struct broker *b, struct broker_client *c, uint8_t type)
{
	struct mqtt_packet p = { .type = type };
	broker__send_packet(b, c, &p);
}

void broker__send_suback(struct broker *b, struct broker_client *c, uint16_t packet_id,
			 const uint8_t *codes, uint16_t count)
{
	struct mqtt_packet p = { .type = MQTT_SUBACK };

	p.u.suback.packet_id = packet_id;
	p.u.suback.codes = codes;
	p.u.suback.count = count;
	broker__send_packet(b, c, &p);
}

/* Whether sub is one of the subscriptions a delivery of m to its session
 * comes from: via a shared group, that group's; else the session's own
 * subscriptions, less the No Local ones for its own message. */
static bool sub_caused(const struct sub *sub, const struct msg *m,
		       const struct share_group *via)
{
	if (sub->group != via)
		return false;
	return via || !(sub->options & MQTT_SUBOPT_NO_LOCAL) || m->origin != sub->session->serial;
}

/* Subscription identifiers of the subscriptions a delivery comes from, for
 * an MQTT 5 delivery [MQTT-3.3.4-3, -4]; at most cap. */
static uint16_t matching_sub_ids(struct broker *b, const struct session *s, const struct msg *m,
				 const struct share_group *via, uint32_t *ids, uint16_t cap)
{
	uint16_t n = 0;

	for (uint32_t i = 0; i < s->nsubs && n < cap; i++) {
		const struct sub *sub = s->subs[i];
		uint8_t *filter;
		size_t flen;

		if (!sub->sub_id || !sub_caused(sub, m, via))
			continue;
		filter = broker_props_scratch(b, tree_filter_len(sub->node) + 1);
		flen = tree_filter_write(sub->node, filter);
		if (mqtt_topic_match(filter, flen, (const uint8_t *)m->topic, m->topic_len))
			ids[n++] = sub->sub_id;
	}
	return n;
}

/* The properties an MQTT 5 subscriber gets with m, into a zeroed props. */
static void publish_props_full(struct broker *b, const struct broker_client *c,
			       const struct msg *m, const struct share_group *via,
			       struct mqtt_props *props, uint32_t *ids, uint16_t cap)
{
	if (m->expires_ms) {
		/* [MQTT-3.3.2-6]: the interval sent on is the time left */
		props->present |= MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY);
		props->message_expiry = msg_expiry_left(b, m);
	}
	if (c->session && c->session->has_sub_ids) {
		props->sub_id_count = matching_sub_ids(b, c->session, m, via, ids, cap);
		props->sub_ids = props->sub_id_count ? ids : NULL;
	}
	props->user_raw = m->props; /* forwarded as received, user properties in order */
	props->user_raw_len = m->props_len;
}

/* Most messages carry no property at all: that case stays inline. */
static inline void publish_props(struct broker *b, const struct broker_client *c,
				 const struct msg *m, const struct share_group *via,
				 struct mqtt_props *props, uint32_t *ids, uint16_t cap)
{
	if (c->level == MQTT_LEVEL_5 &&
	    (m->expires_ms || m->props_len || (c->session && c->session->has_sub_ids)))
		publish_props_full(b, c, m, via, props, ids, cap);
}

#define MAX_SUB_IDS 32

size_t broker__publish_packet_size(struct broker *b, const struct broker_client *c,
				   const struct msg *m, uint8_t qos, const struct share_group *via)
{
	struct mqtt_props props = { 0 };
	uint32_t ids[MAX_SUB_IDS];
	size_t body = 2 + (size_t)m->topic_len + (qos ? 2 : 0) + m->payload_len;

	publish_props(b, c, m, via, &props, ids, MAX_SUB_IDS);
	if (c->level == MQTT_LEVEL_5)
		body += mqtt_props_size(&props) + (c->alias_out_max ? 3 : 0); /* a Topic Alias */
	return 1 + (size_t)mqtt_varint_size((uint32_t)body) + body;
}

void broker__send_publish(struct broker *b, struct broker_client *c, struct msg *m, uint8_t qos,
			  uint16_t packet_id, bool retain, bool dup, const struct share_group *via)
{
	/* Field by field: a designated initializer would clear the whole
	 * property struct, ~250 bytes per delivery; mqtt_props_clear sets only
	 * what is read without a present bit. */
	struct mqtt_publish p;
	uint32_t ids[MAX_SUB_IDS];
	bool inline_payload = m->payload_len <= BROKER_INLINE_PAYLOAD;
	size_t cap;
	uint8_t *dst;
	long n;

	p.dup = dup;
	p.qos = qos;
	p.retain = retain;
	p.topic = (struct mqtt_str){ (const uint8_t *)m->topic, m->topic_len };
	p.packet_id = packet_id;
	p.payload = NULL;
	p.payload_len = m->payload_len;
	mqtt_props_clear(&p.props);
	publish_props(b, c, m, via, &p.props, ids, MAX_SUB_IDS);
	if (c->alias_out_max) {
		bool bound;
		uint16_t alias = alias_out(c, m->topic, m->topic_len, &bound);

		p.props.present |= MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
		p.props.topic_alias = alias;
		if (bound)
			p.topic.len = 0; /* [MQTT-3.3.2-12]: the alias stands for it */
	}
	cap = MQTT_MAX_HEADER + 2 + m->topic_len + 2 + (inline_payload ? m->payload_len : 0) +
	      (c->level == MQTT_LEVEL_5 ? mqtt_props_size(&p.props) : 0);
	dst = outbuf_reserve(&c->out, cap);
	n = mqtt_encode_publish_header(&p, c->level, dst, cap);
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
	b->stats.msgs_sent_qos[qos]++;
	b->stats.bytes_sent += (uint64_t)n + m->payload_len;
	broker_mark_dirty(b, c);
}

void broker__send_unsuback(struct broker *b, struct broker_client *c, uint16_t packet_id,
			   const uint8_t *codes, uint16_t count)
{
	struct mqtt_packet p = { .type = MQTT_UNSUBACK };

	p.u.ack.packet_id = packet_id;
	p.u.ack.codes = codes; /* MQTT 5 only; the 3.1.1 encoder ignores them */
	p.u.ack.count = count;
	broker__send_packet(b, c, &p);
}
