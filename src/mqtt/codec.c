/*
 * codec.c - decode and encode the MQTT 3.1/3.1.1 control packets.
 *
 * Decoding walks a bounded reader over [body, body + remaining); every read
 * checks the bound, so a lying length can never make us read past the packet.
 */
#include "mqtt.h"

#include <string.h>

const char *mqtt_strerror(int err)
{
	switch (err) {
	case MQTT_OK: return "success";
	case MQTT_ERR_NEED_MORE: return "incomplete packet";
	case MQTT_ERR_REMAINING_LENGTH: return "malformed remaining length";
	case MQTT_ERR_TOO_LARGE: return "packet larger than the maximum packet size";
	case MQTT_ERR_TYPE: return "reserved packet type";
	case MQTT_ERR_FLAGS: return "invalid fixed header flags";
	case MQTT_ERR_TRUNCATED: return "field runs past the end of the packet";
	case MQTT_ERR_TRAILING: return "unexpected bytes after the last field";
	case MQTT_ERR_UTF8: return "invalid UTF-8 string";
	case MQTT_ERR_QOS: return "invalid QoS";
	case MQTT_ERR_PROTOCOL_NAME: return "unknown protocol name";
	case MQTT_ERR_CONNECT_FLAGS: return "invalid CONNECT flags";
	case MQTT_ERR_PACKET_ID: return "packet identifier must not be 0";
	case MQTT_ERR_EMPTY: return "no topic filter in the packet";
	case MQTT_ERR_SUB_OPTIONS: return "reserved bits set in subscription options";
	case MQTT_ERR_TOPIC: return "invalid topic name";
	case MQTT_ERR_UNSUPPORTED: return "unsupported protocol level";
	case MQTT_ERR_NOSPACE: return "output buffer too small";
	case MQTT_ERR_INVALID: return "field out of range";
	}
	return "unknown error";
}

const char *mqtt_type_name(int type)
{
	static const char *const names[] = {
		"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
		"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK",
		"PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
	};
	return type >= 0 && type < 16 ? names[type] : "INVALID";
}

/* ---- variable byte integer ---- */

int mqtt_varint_decode(const uint8_t *buf, size_t len, uint32_t *value)
{
	uint32_t v = 0;

	for (int i = 0; i < 4; i++) {
		if ((size_t)i >= len)
			return MQTT_ERR_NEED_MORE;
		v |= (uint32_t)(buf[i] & 0x7F) << (7 * i);
		if (!(buf[i] & 0x80)) {
			*value = v;
			return i + 1;
		}
	}
	return MQTT_ERR_REMAINING_LENGTH;
}

int mqtt_varint_size(uint32_t value)
{
	return value < 128 ? 1 : value < 16384 ? 2 : value < 2097152 ? 3 : 4;
}

int mqtt_varint_encode(uint32_t value, uint8_t *out)
{
	int n = 0;

	do {
		uint8_t byte = value & 0x7F;
		value >>= 7;
		out[n++] = byte | (value ? 0x80 : 0);
	} while (value && n < 4);
	return n;
}

long mqtt_frame(const uint8_t *buf, size_t len, uint32_t max_packet, struct mqtt_header *h)
{
	uint32_t remaining;
	int n;
	uint64_t total;

	if (len < 2)
		return MQTT_ERR_NEED_MORE;
	n = mqtt_varint_decode(buf + 1, len - 1, &remaining);
	if (n < 0)
		return n;
	total = 1 + (uint64_t)n + remaining;
	if (max_packet && total > max_packet)
		return MQTT_ERR_TOO_LARGE;
	h->type = buf[0] >> 4;
	h->flags = buf[0] & 0x0F;
	h->remaining = remaining;
	h->header_len = (uint8_t)(1 + n);
	return (long)total;
}

/* ---- bounded reader ---- */

struct reader {
	const uint8_t *p;
	const uint8_t *end;
	int err;
};

static size_t rd_left(const struct reader *r)
{
	return (size_t)(r->end - r->p);
}

static uint8_t rd_u8(struct reader *r)
{
	if (r->err || rd_left(r) < 1) {
		r->err = r->err ? r->err : MQTT_ERR_TRUNCATED;
		return 0;
	}
	return *r->p++;
}

static uint16_t rd_u16(struct reader *r)
{
	uint16_t v;

	if (r->err || rd_left(r) < 2) {
		r->err = r->err ? r->err : MQTT_ERR_TRUNCATED;
		return 0;
	}
	v = (uint16_t)(r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return v;
}

/* Binary data: two-byte length then bytes. */
static struct mqtt_str rd_bin(struct reader *r)
{
	struct mqtt_str s = { NULL, 0 };
	uint16_t len = rd_u16(r);

	if (r->err)
		return s;
	if (rd_left(r) < len) {
		r->err = MQTT_ERR_TRUNCATED;
		return s;
	}
	s.data = r->p;
	s.len = len;
	r->p += len;
	return s;
}

/* UTF-8 string: binary data that must be well-formed UTF-8 without U+0000. */
static struct mqtt_str rd_str(struct reader *r)
{
	struct mqtt_str s = rd_bin(r);

	if (!r->err && !mqtt_utf8_valid(s.data, s.len))
		r->err = MQTT_ERR_UTF8;
	return s;
}

static int rd_finish(const struct reader *r)
{
	if (r->err)
		return r->err;
	return rd_left(r) ? MQTT_ERR_TRAILING : MQTT_OK;
}

/* ---- decoders, one per packet shape ---- */

static bool name_is(struct mqtt_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.data, lit, n) == 0;
}

int mqtt_connect_peek_level(const uint8_t *body, size_t len, uint8_t *level)
{
	struct reader r = { body, body + len, 0 };
	struct mqtt_str name = rd_bin(&r);
	uint8_t lv = rd_u8(&r);

	if (r.err)
		return r.err;
	if (!name_is(name, "MQTT") && !name_is(name, "MQIsdp"))
		return MQTT_ERR_PROTOCOL_NAME;
	*level = lv;
	return MQTT_OK;
}

static int decode_connect(struct reader *r, struct mqtt_connect *c)
{
	uint8_t flags;

	memset(c, 0, sizeof(*c));
	c->protocol_name = rd_bin(r);
	c->level = rd_u8(r);
	if (r->err)
		return r->err;
	if (!(name_is(c->protocol_name, "MQTT") && c->level >= MQTT_LEVEL_311) &&
	    !(name_is(c->protocol_name, "MQIsdp") && c->level == MQTT_LEVEL_31))
		return name_is(c->protocol_name, "MQTT") || name_is(c->protocol_name, "MQIsdp")
			       ? MQTT_ERR_UNSUPPORTED
			       : MQTT_ERR_PROTOCOL_NAME;
	if (c->level > MQTT_LEVEL_311)
		return MQTT_ERR_UNSUPPORTED;
	flags = rd_u8(r);
	c->keepalive = rd_u16(r);
	if (r->err)
		return r->err;
	/* [MQTT-3.1.2-3] reserved bit; [MQTT-3.1.2-11..15] will flags;
	 * [MQTT-3.1.2-22] password without user name. */
	c->clean_session = flags & 0x02;
	c->will = flags & 0x04;
	c->will_qos = (flags >> 3) & 0x03;
	c->will_retain = flags & 0x20;
	c->has_password = flags & 0x40;
	c->has_username = flags & 0x80;
	if (flags & 0x01)
		return MQTT_ERR_CONNECT_FLAGS;
	if (!c->will && (c->will_qos || c->will_retain))
		return MQTT_ERR_CONNECT_FLAGS;
	if (c->will_qos == 3)
		return MQTT_ERR_QOS;
	if (c->has_password && !c->has_username)
		return MQTT_ERR_CONNECT_FLAGS;

	c->client_id = rd_str(r);
	if (c->will) {
		c->will_topic = rd_str(r);
		c->will_payload = rd_bin(r);
		if (!r->err && !mqtt_topic_name_valid(c->will_topic.data, c->will_topic.len))
			return MQTT_ERR_TOPIC;
	}
	if (c->has_username)
		c->username = rd_str(r);
	if (c->has_password)
		c->password = rd_bin(r);
	return rd_finish(r);
}

static int decode_connack(struct reader *r, struct mqtt_connack *c)
{
	uint8_t ack_flags = rd_u8(r);

	c->return_code = rd_u8(r);
	if (!r->err && (ack_flags & 0xFE))
		return MQTT_ERR_FLAGS;
	c->session_present = ack_flags & 0x01;
	return rd_finish(r);
}

static int decode_publish(struct reader *r, uint8_t flags, struct mqtt_publish *p)
{
	p->dup = flags & 0x08;
	p->qos = (flags >> 1) & 0x03;
	p->retain = flags & 0x01;
	if (p->qos == 3)
		return MQTT_ERR_QOS; /* [MQTT-3.3.1-4] */
	if (p->qos == 0 && p->dup)
		return MQTT_ERR_FLAGS; /* [MQTT-3.3.1-2] */
	p->topic = rd_bin(r);
	if (r->err)
		return r->err;
	if (!mqtt_topic_name_valid(p->topic.data, p->topic.len))
		return p->topic.len && !mqtt_utf8_valid(p->topic.data, p->topic.len)
			       ? MQTT_ERR_UTF8
			       : MQTT_ERR_TOPIC;
	p->packet_id = 0;
	if (p->qos > 0) {
		p->packet_id = rd_u16(r);
		if (!r->err && p->packet_id == 0)
			return MQTT_ERR_PACKET_ID;
	}
	if (r->err)
		return r->err;
	p->payload = r->p;
	p->payload_len = (uint32_t)rd_left(r);
	r->p = r->end;
	return MQTT_OK;
}

static int decode_ack(struct reader *r, struct mqtt_ack *a)
{
	a->packet_id = rd_u16(r);
	if (!r->err && a->packet_id == 0)
		return MQTT_ERR_PACKET_ID;
	return rd_finish(r);
}

/* SUBSCRIBE (with_options) and UNSUBSCRIBE share the list walk. */
static int decode_topic_list(struct reader *r, bool with_options, uint16_t *packet_id,
			     struct mqtt_topic_list *list)
{
	*packet_id = rd_u16(r);
	if (r->err)
		return r->err;
	if (*packet_id == 0)
		return MQTT_ERR_PACKET_ID;
	list->data = r->p;
	list->len = (uint32_t)rd_left(r);
	list->count = 0;
	list->with_options = with_options;
	if (rd_left(r) == 0)
		return MQTT_ERR_EMPTY; /* [MQTT-3.8.3-3], [MQTT-3.10.3-2] */
	while (rd_left(r) > 0) {
		rd_str(r);
		if (with_options) {
			uint8_t opts = rd_u8(r);
			if (!r->err && (opts & 0xFC))
				return MQTT_ERR_SUB_OPTIONS; /* [MQTT-3.8.3-4] */
			if (!r->err && (opts & 0x03) == 3)
				return MQTT_ERR_QOS;
		}
		if (r->err)
			return r->err;
		if (list->count == UINT16_MAX)
			return MQTT_ERR_INVALID;
		list->count++;
	}
	return MQTT_OK;
}

static int decode_suback(struct reader *r, struct mqtt_suback *s)
{
	s->packet_id = rd_u16(r);
	if (r->err)
		return r->err;
	if (s->packet_id == 0)
		return MQTT_ERR_PACKET_ID; /* [MQTT-3.8.4-2] echoes a non-zero id */
	if (rd_left(r) == 0)
		return MQTT_ERR_EMPTY; /* one return code per filter, at least one */
	s->codes = r->p;
	s->count = (uint16_t)(rd_left(r) > UINT16_MAX ? UINT16_MAX : rd_left(r));
	for (size_t i = 0; i < s->count; i++) {
		uint8_t c = s->codes[i];
		if (c > 2 && c != MQTT_SUBACK_FAILURE)
			return MQTT_ERR_INVALID;
	}
	r->p += s->count;
	return rd_finish(r);
}

/* Required fixed-header flags per type [MQTT-2.2.2-1]; 0xFF = any (PUBLISH). */
static const uint8_t required_flags[16] = {
	[MQTT_CONNECT] = 0,    [MQTT_CONNACK] = 0,  [MQTT_PUBLISH] = 0xFF,
	[MQTT_PUBACK] = 0,     [MQTT_PUBREC] = 0,   [MQTT_PUBREL] = 2,
	[MQTT_PUBCOMP] = 0,    [MQTT_SUBSCRIBE] = 2, [MQTT_SUBACK] = 0,
	[MQTT_UNSUBSCRIBE] = 2, [MQTT_UNSUBACK] = 0, [MQTT_PINGREQ] = 0,
	[MQTT_PINGRESP] = 0,   [MQTT_DISCONNECT] = 0, [MQTT_AUTH] = 0,
};

long mqtt_decode(const uint8_t *buf, size_t len, uint8_t level, uint32_t max_packet,
		 struct mqtt_packet *out)
{
	struct mqtt_header h;
	struct reader r;
	long total = mqtt_frame(buf, len, max_packet, &h);
	int rc;

	if (total < 0)
		return total;
	if (h.type == 0 || (h.type == MQTT_AUTH && level != MQTT_LEVEL_5))
		return MQTT_ERR_TYPE;
	if (required_flags[h.type] != 0xFF && h.flags != required_flags[h.type])
		return MQTT_ERR_FLAGS;
	if ((size_t)total > len)
		return MQTT_ERR_NEED_MORE;
	if (level == MQTT_LEVEL_5 && h.type != MQTT_CONNECT)
		return MQTT_ERR_UNSUPPORTED;

	r.p = buf + h.header_len;
	r.end = buf + total;
	r.err = 0;
	out->type = h.type;
	switch (h.type) {
	case MQTT_CONNECT:
		rc = decode_connect(&r, &out->u.connect);
		break;
	case MQTT_CONNACK:
		rc = decode_connack(&r, &out->u.connack);
		break;
	case MQTT_PUBLISH:
		rc = decode_publish(&r, h.flags, &out->u.publish);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		rc = decode_ack(&r, &out->u.ack);
		break;
	case MQTT_SUBSCRIBE:
		rc = decode_topic_list(&r, true, &out->u.subscribe.packet_id,
				       &out->u.subscribe.filters);
		break;
	case MQTT_UNSUBSCRIBE:
		rc = decode_topic_list(&r, false, &out->u.unsubscribe.packet_id,
				       &out->u.unsubscribe.filters);
		break;
	case MQTT_SUBACK:
		rc = decode_suback(&r, &out->u.suback);
		break;
	default: /* PINGREQ, PINGRESP, DISCONNECT: no variable header */
		rc = rd_finish(&r);
		break;
	}
	return rc < 0 ? rc : total;
}

bool mqtt_topic_list_next(struct mqtt_topic_iter *it, struct mqtt_str *filter, uint8_t *qos)
{
	const struct mqtt_topic_list *l = it->list;
	const uint8_t *p = l->data + it->pos;

	if (it->pos >= l->len)
		return false;
	filter->len = (uint16_t)(p[0] << 8 | p[1]);
	filter->data = p + 2;
	it->pos += 2u + filter->len;
	*qos = 0;
	if (l->with_options)
		*qos = l->data[it->pos++] & 0x03;
	return true;
}

/* ---- encoders ---- */

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

static uint32_t topic_list_body_len(const struct mqtt_topic_list *l)
{
	return l->len;
}

/* Remaining length of a packet (its variable header and payload). Returns
 * -1 for a packet the encoder does not produce. */
static long remaining_length(const struct mqtt_packet *p)
{
	switch (p->type) {
	case MQTT_CONNECT: {
		const struct mqtt_connect *c = &p->u.connect;
		long n = 2 + (long)c->protocol_name.len + 1 + 1 + 2 + 2 + c->client_id.len;
		if (c->will)
			n += 2 + c->will_topic.len + 2 + c->will_payload.len;
		if (c->has_username)
			n += 2 + c->username.len;
		if (c->has_password)
			n += 2 + c->password.len;
		return n;
	}
	case MQTT_CONNACK:
		return 2;
	case MQTT_PUBLISH:
		return 2 + (long)p->u.publish.topic.len + (p->u.publish.qos ? 2 : 0) +
		       (long)p->u.publish.payload_len;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		return 2;
	case MQTT_SUBSCRIBE:
		return 2 + (long)topic_list_body_len(&p->u.subscribe.filters);
	case MQTT_UNSUBSCRIBE:
		return 2 + (long)topic_list_body_len(&p->u.unsubscribe.filters);
	case MQTT_SUBACK:
		return 2 + (long)p->u.suback.count;
	case MQTT_PINGREQ:
	case MQTT_PINGRESP:
	case MQTT_DISCONNECT:
		return 0;
	}
	return -1;
}

long mqtt_encoded_size(const struct mqtt_packet *p, uint8_t level)
{
	long rem = remaining_length(p);

	(void)level;
	if (rem < 0 || rem > (long)MQTT_MAX_REMAINING)
		return MQTT_ERR_INVALID;
	return 1 + mqtt_varint_size((uint32_t)rem) + rem;
}

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
	wr_str(w, c->client_id);
	if (c->will) {
		wr_str(w, c->will_topic);
		wr_str(w, c->will_payload);
	}
	if (c->has_username)
		wr_str(w, c->username);
	if (c->has_password)
		wr_str(w, c->password);
}

/* The encoder refuses what the decoder would refuse, so Agora never sends a
 * packet its own codec (or any conforming peer) calls malformed. */
static bool packet_fields_valid(const struct mqtt_packet *p)
{
	switch (p->type) {
	case MQTT_CONNECT: {
		const struct mqtt_connect *c = &p->u.connect;
		if (c->will_qos > 2 || (!c->will && (c->will_qos || c->will_retain)))
			return false; /* [MQTT-3.1.2-13..15] */
		return !c->has_password || c->has_username; /* [MQTT-3.1.2-22] */
	}
	case MQTT_PUBLISH:
		return p->u.publish.qos < 3 && (p->u.publish.qos ? p->u.publish.packet_id != 0
								 : !p->u.publish.dup);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		return p->u.ack.packet_id != 0;
	case MQTT_SUBSCRIBE:
		return p->u.subscribe.packet_id && p->u.subscribe.filters.count;
	case MQTT_UNSUBSCRIBE:
		return p->u.unsubscribe.packet_id && p->u.unsubscribe.filters.count;
	case MQTT_SUBACK:
		return p->u.suback.packet_id && p->u.suback.count;
	default:
		return true;
	}
}

long mqtt_encode(const struct mqtt_packet *p, uint8_t level, uint8_t *out, size_t cap)
{
	struct writer w = { out, out + cap, false };
	long size = mqtt_encoded_size(p, level);
	uint32_t rem;

	if (size < 0 || !packet_fields_valid(p))
		return MQTT_ERR_INVALID;
	if ((size_t)size > cap)
		return MQTT_ERR_NOSPACE;
	rem = (uint32_t)remaining_length(p);

	switch (p->type) {
	case MQTT_CONNECT:
		wr_header(&w, MQTT_CONNECT << 4, rem);
		encode_connect(&w, &p->u.connect);
		break;
	case MQTT_CONNACK:
		wr_header(&w, MQTT_CONNACK << 4, rem);
		wr_u8(&w, p->u.connack.session_present ? 1 : 0);
		wr_u8(&w, p->u.connack.return_code);
		break;
	case MQTT_PUBLISH:
		wr_header(&w, publish_first_byte(&p->u.publish), rem);
		wr_str(&w, p->u.publish.topic);
		if (p->u.publish.qos)
			wr_u16(&w, p->u.publish.packet_id);
		wr_bytes(&w, p->u.publish.payload, p->u.publish.payload_len);
		break;
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		wr_header(&w, (uint8_t)(p->type << 4 | (p->type == MQTT_PUBREL ? 2 : 0)), rem);
		wr_u16(&w, p->u.ack.packet_id);
		break;
	case MQTT_SUBSCRIBE:
		wr_header(&w, MQTT_SUBSCRIBE << 4 | 2, rem);
		wr_u16(&w, p->u.subscribe.packet_id);
		wr_bytes(&w, p->u.subscribe.filters.data, p->u.subscribe.filters.len);
		break;
	case MQTT_UNSUBSCRIBE:
		wr_header(&w, MQTT_UNSUBSCRIBE << 4 | 2, rem);
		wr_u16(&w, p->u.unsubscribe.packet_id);
		wr_bytes(&w, p->u.unsubscribe.filters.data, p->u.unsubscribe.filters.len);
		break;
	case MQTT_SUBACK:
		wr_header(&w, MQTT_SUBACK << 4, rem);
		wr_u16(&w, p->u.suback.packet_id);
		wr_bytes(&w, p->u.suback.codes, p->u.suback.count);
		break;
	default:
		wr_header(&w, (uint8_t)(p->type << 4), 0);
		break;
	}
	return w.overflow ? MQTT_ERR_NOSPACE : (long)(w.p - out);
}

long mqtt_encode_publish_header(const struct mqtt_publish *p, uint8_t level, uint8_t *out,
				size_t cap)
{
	struct writer w = { out, out + cap, false };
	uint64_t rem = 2 + (uint64_t)p->topic.len + (p->qos ? 2 : 0) + p->payload_len;

	(void)level;
	if (rem > MQTT_MAX_REMAINING || p->qos > 2 || (p->qos && !p->packet_id) ||
	    (!p->qos && p->dup))
		return MQTT_ERR_INVALID;
	wr_header(&w, publish_first_byte(p), (uint32_t)rem);
	wr_str(&w, p->topic);
	if (p->qos)
		wr_u16(&w, p->packet_id);
	return w.overflow ? MQTT_ERR_NOSPACE : (long)(w.p - out);
}
