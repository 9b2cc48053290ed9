/*
 * decode.c - decode MQTT 3.1, 3.1.1 and 5.0 control packets.
 *
 * Decoding walks a bounded reader over [body, body + remaining); every read
 * checks the bound, so a lying length can never make us read past the packet.
 */
#include "mqtt.h"

#include <string.h>

struct reader {
	const uint8_t *p;
	const uint8_t *end;
	int err;
	unsigned refuse; /* MQTT_UTF8_* classes refused in policy strings */
	uint8_t sender;  /* enum mqtt_sender */
};

static size_t rd_left(const struct reader *r)
{
	return (size_t)(r->end - r->p);
}

static void rd_fail(struct reader *r, int err)
{
	if (!r->err)
		r->err = err;
}

static uint8_t rd_u8(struct reader *r)
{
	if (r->err || rd_left(r) < 1) {
		rd_fail(r, MQTT_ERR_TRUNCATED);
		return 0;
	}
	return *r->p++;
}

static uint16_t rd_u16(struct reader *r)
{
	uint16_t v;

	if (r->err || rd_left(r) < 2) {
		rd_fail(r, MQTT_ERR_TRUNCATED);
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
		rd_fail(r, MQTT_ERR_TRUNCATED);
		return s;
	}
	s.data = r->p;
	s.len = len;
	r->p += len;
	return s;
}

/* The error for a string with the MQTT_UTF8_* classes `found`, 0 if the
 * reader accepts them. */
static int str_error(const struct reader *r, unsigned found)
{
	if (!(found & r->refuse))
		return MQTT_OK;
	return found & MQTT_UTF8_REFUSED ? MQTT_ERR_UTF8 : MQTT_ERR_UTF8_CHARS;
}

/* A UTF-8 string that names something (client identifier, user name,
 * topic, filter): well-formed, no U+0000, and under strict decoding no
 * control characters or non-characters. */
static struct mqtt_str rd_str(struct reader *r)
{
	struct mqtt_str s = rd_bin(r);
	int rc;

	if (!r->err && (rc = str_error(r, mqtt_utf8_scan(s.data, s.len))))
		rd_fail(r, rc);
	return s;
}

/* A non-empty MQTT 5 property block: the full table walk. */
static void rd_props_block(struct reader *r, int where, struct mqtt_props *props)
{
	long n = mqtt_props_decode(r->p, rd_left(r), where, props);

	if (n < 0)
		rd_fail(r, (int)n);
	else
		r->p += n;
}

/* An MQTT 5 property block for a packet of kind `where`. Inline: most
 * messages carry an empty one, a single zero byte. */
static inline void rd_props(struct reader *r, int where, struct mqtt_props *props)
{
	if (r->err)
		return;
	if (rd_left(r) && r->p[0] == 0) {
		mqtt_props_clear(props);
		props->raw = r->p + 1;
		r->p++;
		return;
	}
	rd_props_block(r, where, props);
}

static int rd_finish(const struct reader *r)
{
	if (r->err)
		return r->err;
	return rd_left(r) ? MQTT_ERR_TRAILING : MQTT_OK;
}

/* ---- CONNECT, CONNACK ---- */

static bool name_is(struct mqtt_str s, const char *lit)
{
	size_t n = strlen(lit);
	return s.len == n && memcmp(s.data, lit, n) == 0;
}

int mqtt_connect_peek_level(const uint8_t *body, size_t len, uint8_t *level)
{
	struct reader r = { .p = body, .end = body + len };
	struct mqtt_str name = rd_bin(&r);
	uint8_t lv = rd_u8(&r);

	if (r.err)
		return r.err;
	if (!name_is(name, "MQTT") && !name_is(name, "MQIsdp"))
		return MQTT_ERR_PROTOCOL_NAME;
	*level = lv;
	return MQTT_OK;
}

static int check_protocol(const struct mqtt_connect *c)
{
	bool mqtt = name_is(c->protocol_name, "MQTT");
	bool mqisdp = name_is(c->protocol_name, "MQIsdp");

	if (!mqtt && !mqisdp)
		return MQTT_ERR_PROTOCOL_NAME;
	if ((mqtt && (c->level == MQTT_LEVEL_311 || c->level == MQTT_LEVEL_5)) ||
	    (mqisdp && c->level == MQTT_LEVEL_31))
		return MQTT_OK;
	return MQTT_ERR_UNSUPPORTED;
}

static int check_connect_flags(const struct mqtt_connect *c, uint8_t flags)
{
	/* [MQTT-3.1.2-3] reserved bit; [MQTT-3.1.2-11..15] will flags */
	if (flags & 0x01)
		return MQTT_ERR_CONNECT_FLAGS;
	if (!c->will && (c->will_qos || c->will_retain))
		return MQTT_ERR_CONNECT_FLAGS;
	if (c->will_qos == 3)
		return MQTT_ERR_QOS;
	/* [MQTT-3.1.2-22]; MQTT 5 allows a password without a user name */
	if (c->has_password && !c->has_username && c->level != MQTT_LEVEL_5)
		return MQTT_ERR_CONNECT_FLAGS;
	return MQTT_OK;
}

/* A string field's error, named so that a server can answer with the
 * field's own CONNACK code. A field cut short is malformed, nothing more. */
static int connect_field_error(struct mqtt_connect *c, int err, uint8_t field)
{
	if (err != MQTT_ERR_TRUNCATED)
		c->bad_field = field;
	return err;
}

static int decode_connect(struct reader *r, struct mqtt_connect *c)
{
	uint8_t flags;
	int rc;

	memset(c, 0, sizeof(*c));
	c->protocol_name = rd_bin(r);
	c->level = rd_u8(r);
	if (r->err)
		return r->err;
	rc = check_protocol(c);
	if (rc)
		return rc;
	flags = rd_u8(r);
	c->keepalive = rd_u16(r);
	if (r->err)
		return r->err;
	c->clean_session = flags & 0x02;
	c->will = flags & 0x04;
	c->will_qos = (flags >> 3) & 0x03;
	c->will_retain = flags & 0x20;
	c->has_password = flags & 0x40;
	c->has_username = flags & 0x80;
	rc = check_connect_flags(c, flags);
	if (rc)
		return rc;
	if (c->level == MQTT_LEVEL_5)
		rd_props(r, MQTT_CONNECT, &c->props);
	if (r->err)
		return r->err;
	c->client_id = rd_str(r);
	if (r->err)
		return connect_field_error(c, r->err, MQTT_FIELD_CLIENT_ID);
	if (c->will) {
		if (c->level == MQTT_LEVEL_5)
			rd_props(r, MQTT_PROPS_WILL, &c->will_props);
		if (r->err)
			return r->err;
		c->will_topic = rd_str(r);
		if (r->err)
			return connect_field_error(c, r->err, MQTT_FIELD_WILL_TOPIC);
		if (!mqtt_topic_name_valid(c->will_topic.data, c->will_topic.len))
			return connect_field_error(c, MQTT_ERR_TOPIC, MQTT_FIELD_WILL_TOPIC);
		c->will_payload = rd_bin(r);
	}
	if (c->has_username) {
		c->username = rd_str(r);
		if (r->err)
			return connect_field_error(c, r->err, MQTT_FIELD_USERNAME);
	}
	if (c->has_password)
		c->password = rd_bin(r);
	return rd_finish(r);
}

static int decode_connack(struct reader *r, uint8_t level, struct mqtt_connack *c)
{
	uint8_t ack_flags = rd_u8(r);

	memset(&c->props, 0, sizeof(c->props));
	c->return_code = rd_u8(r);
	if (!r->err && (ack_flags & 0xFE))
		return MQTT_ERR_FLAGS;
	c->session_present = ack_flags & 0x01;
	if (level == MQTT_LEVEL_5) {
		static const uint8_t codes[] = { 0x00, 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86,
						 0x87, 0x88, 0x89, 0x8A, 0x8C, 0x90, 0x95, 0x97,
						 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9F };
		if (!r->err && !memchr(codes, c->return_code, sizeof(codes)))
			return MQTT_ERR_REASON; /* [MQTT 5.0, 3.2.2.2] */
		rd_props(r, MQTT_CONNACK, &c->props);
	}
	return rd_finish(r);
}

/* ---- PUBLISH and its acknowledgements ---- */

/* A PUBLISH topic name: its UTF-8 and its wildcards, in one pass. */
static int topic_name_error(const struct reader *r, struct mqtt_str t)
{
	unsigned found = mqtt_utf8_scan(t.data, t.len);
	int rc = str_error(r, found);

	if (rc)
		return rc;
	if (t.len == 0 || (found & MQTT_UTF8_WILDCARD))
		return MQTT_ERR_TOPIC; /* [MQTT-4.7.3-1], [MQTT-3.3.2-2] */
	return MQTT_OK;
}

static int decode_publish(struct reader *r, uint8_t level, uint8_t flags, struct mqtt_publish *p)
{
	if (level != MQTT_LEVEL_5)
		mqtt_props_clear(&p->props); /* rd_props fills it at level 5 */
	p->dup = flags & 0x08;
	p->qos = (flags >> 1) & 0x03;
	p->retain = flags & 0x01;
	if (p->qos == 3)
		return MQTT_ERR_QOS; /* [MQTT-3.3.1-4] */
	if (p->qos == 0 && p->dup)
		return MQTT_ERR_FLAGS; /* [MQTT-3.3.1-2] */
	p->topic = rd_bin(r);
	p->packet_id = 0;
	if (p->qos > 0) {
		p->packet_id = rd_u16(r);
		if (!r->err && p->packet_id == 0)
			return MQTT_ERR_PACKET_ID;
	}
	if (level == MQTT_LEVEL_5)
		rd_props(r, MQTT_PUBLISH, &p->props);
	if (r->err)
		return r->err;
	/* MQTT 5 [MQTT-3.3.2-8]: an empty topic stands for a topic alias. */
	if (!(p->topic.len == 0 && (p->props.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS)))) {
		int rc = topic_name_error(r, p->topic);
		if (rc)
			return rc;
	}
	p->payload = r->p;
	p->payload_len = (uint32_t)rd_left(r);
	r->p = r->end;
	return MQTT_OK;
}

/* Reason codes each acknowledgement may carry [MQTT 5.0, 3.4.2.1 - 3.7.2.1]. */
static bool ack_reason_valid(uint8_t type, uint8_t rc)
{
	static const uint8_t pub[] = { 0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99 };

	if (type == MQTT_PUBREL || type == MQTT_PUBCOMP)
		return rc == 0x00 || rc == 0x92;
	return memchr(pub, rc, sizeof(pub)) != NULL;
}

static int decode_ack(struct reader *r, uint8_t level, uint8_t type, struct mqtt_ack *a)
{
	/* Field by field: clearing the whole struct (its property values are
	 * ~250 bytes) would cost more than the rest of a PUBACK's decoding. */
	a->reason_code = 0;
	a->codes = NULL;
	a->count = 0;
	mqtt_props_clear(&a->props);
	a->packet_id = rd_u16(r);
	if (!r->err && a->packet_id == 0)
		return MQTT_ERR_PACKET_ID;
	if (level == MQTT_LEVEL_5 && !r->err) {
		/* [MQTT-3.4.2-1]: reason code and properties may be left out */
		if (rd_left(r) >= 1) {
			a->reason_code = rd_u8(r);
			if (!ack_reason_valid(type, a->reason_code))
				return MQTT_ERR_REASON;
		}
		if (rd_left(r) >= 1)
			rd_props(r, type, &a->props);
	}
	return rd_finish(r);
}

/* ---- SUBSCRIBE, UNSUBSCRIBE and their acknowledgements ---- */

static int check_sub_options(uint8_t level, uint8_t opts)
{
	if (level == MQTT_LEVEL_5) {
		if (opts & 0xC0)
			return MQTT_ERR_SUB_OPTIONS; /* [MQTT-3.8.3-5] */
		if (MQTT_SUBOPT_RETAIN_HANDLING(opts) == 3)
			return MQTT_ERR_RETAIN_HANDLING; /* [MQTT-3.8.3-6] */
	} else if (opts & 0xFC) {
		return MQTT_ERR_SUB_OPTIONS; /* [MQTT-3.8.3-4] */
	}
	return (opts & 0x03) == 3 ? MQTT_ERR_QOS : MQTT_OK;
}

/* SUBSCRIBE (with_options) and UNSUBSCRIBE share the list walk. */
static int decode_topic_list(struct reader *r, uint8_t level, uint8_t type, uint16_t *packet_id,
			     struct mqtt_topic_list *list, struct mqtt_props *props)
{
	bool with_options = type == MQTT_SUBSCRIBE;

	memset(props, 0, sizeof(*props));
	*packet_id = rd_u16(r);
	if (r->err)
		return r->err;
	if (*packet_id == 0)
		return MQTT_ERR_PACKET_ID;
	if (level == MQTT_LEVEL_5)
		rd_props(r, type, props);
	if (r->err)
		return r->err;
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
			int rc = r->err ? r->err : check_sub_options(level, opts);
			if (rc)
				return rc;
		}
		if (r->err)
			return r->err;
		if (list->count == UINT16_MAX)
			return MQTT_ERR_INVALID;
		list->count++;
	}
	return MQTT_OK;
}

static bool suback_code_valid(uint8_t level, uint8_t type, uint8_t c)
{
	static const uint8_t v5_sub[] = { 0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
					  0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2 };
	static const uint8_t v5_unsub[] = { 0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91 };

	if (level != MQTT_LEVEL_5)
		return c <= 2 || c == MQTT_SUBACK_FAILURE;
	if (type == MQTT_SUBACK)
		return memchr(v5_sub, c, sizeof(v5_sub)) != NULL;
	return memchr(v5_unsub, c, sizeof(v5_unsub)) != NULL;
}

/* SUBACK, and MQTT 5's UNSUBACK, which also lists one code per filter. */
static int decode_code_list(struct reader *r, uint8_t level, uint8_t type, uint16_t *packet_id,
			    const uint8_t **codes, uint16_t *count, struct mqtt_props *props)
{
	memset(props, 0, sizeof(*props));
	*packet_id = rd_u16(r);
	if (r->err)
		return r->err;
	if (*packet_id == 0)
		return MQTT_ERR_PACKET_ID; /* [MQTT-3.8.4-2] echoes a non-zero id */
	if (level == MQTT_LEVEL_5)
		rd_props(r, type, props);
	if (r->err)
		return r->err;
	if (rd_left(r) == 0)
		return MQTT_ERR_EMPTY; /* one code per filter, at least one */
	*codes = r->p;
	*count = (uint16_t)(rd_left(r) > UINT16_MAX ? UINT16_MAX : rd_left(r));
	for (size_t i = 0; i < *count; i++)
		if (!suback_code_valid(level, type, (*codes)[i]))
			return MQTT_ERR_REASON;
	r->p += *count;
	return rd_finish(r);
}

/* ---- DISCONNECT and AUTH ---- */

/* [MQTT 5.0, 3.14.2.1 and 3.15.2.1]: the codes each side may send. */
static bool reason_valid(uint8_t type, uint8_t sender, uint8_t rc)
{
	static const uint8_t by_either[] = { 0x00, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93,
					     0x94, 0x95, 0x96, 0x97, 0x98, 0x99 };
	static const uint8_t by_server[] = { 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x9A, 0x9B,
					     0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2 };
	bool client = sender != MQTT_SENDER_SERVER, server = sender != MQTT_SENDER_CLIENT;

	if (type == MQTT_AUTH) /* 0x00 Success: server; 0x19 Re-authenticate: client */
		return rc == 0x18 || (rc == 0x00 && server) || (rc == 0x19 && client);
	if (memchr(by_either, rc, sizeof(by_either)))
		return true;
	if (rc == 0x04) /* Disconnect with Will Message */
		return client;
	return server && memchr(by_server, rc, sizeof(by_server)) != NULL;
}

static int decode_reason(struct reader *r, uint8_t level, uint8_t type, struct mqtt_reason *x)
{
	memset(x, 0, sizeof(*x));
	if (level == MQTT_LEVEL_5) {
		/* [MQTT-3.14.2-1], [MQTT-3.15.2-1]: both may be left out */
		if (rd_left(r) >= 1)
			x->reason_code = rd_u8(r);
		if (!reason_valid(type, r->sender, x->reason_code))
			return MQTT_ERR_REASON;
		if (rd_left(r) >= 1)
			rd_props(r, type, &x->props);
	}
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

static int decode_body(struct reader *r, uint8_t level, const struct mqtt_header *h,
		       struct mqtt_packet *out)
{
	switch (h->type) {
	case MQTT_CONNECT:
		return decode_connect(r, &out->u.connect);
	case MQTT_CONNACK:
		return decode_connack(r, level, &out->u.connack);
	case MQTT_PUBLISH:
		return decode_publish(r, level, h->flags, &out->u.publish);
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
		return decode_ack(r, level, h->type, &out->u.ack);
	case MQTT_UNSUBACK:
		if (level != MQTT_LEVEL_5)
			return decode_ack(r, level, h->type, &out->u.ack);
		memset(&out->u.ack, 0, sizeof(out->u.ack));
		return decode_code_list(r, level, h->type, &out->u.ack.packet_id,
					&out->u.ack.codes, &out->u.ack.count, &out->u.ack.props);
	case MQTT_SUBSCRIBE:
		return decode_topic_list(r, level, h->type, &out->u.subscribe.packet_id,
					 &out->u.subscribe.filters, &out->u.subscribe.props);
	case MQTT_UNSUBSCRIBE:
		return decode_topic_list(r, level, h->type, &out->u.unsubscribe.packet_id,
					 &out->u.unsubscribe.filters, &out->u.unsubscribe.props);
	case MQTT_SUBACK:
		return decode_code_list(r, level, h->type, &out->u.suback.packet_id,
					&out->u.suback.codes, &out->u.suback.count,
					&out->u.suback.props);
	case MQTT_DISCONNECT:
	case MQTT_AUTH:
		return decode_reason(r, level, h->type, &out->u.reason);
	default: /* PINGREQ, PINGRESP: no variable header */
		return rd_finish(r);
	}
}

long mqtt_decode_with(const uint8_t *buf, size_t len, const struct mqtt_decode_opts *o,
		      struct mqtt_packet *out)
{
	struct mqtt_header h;
	struct reader r;
	long total = mqtt_frame(buf, len, o->max_packet, &h);
	int rc;

	if (total < 0)
		return total;
	if (h.type == 0 || (h.type == MQTT_AUTH && o->level != MQTT_LEVEL_5))
		return MQTT_ERR_TYPE;
	if (required_flags[h.type] != 0xFF && h.flags != required_flags[h.type])
		return MQTT_ERR_FLAGS;
	if ((size_t)total > len)
		return MQTT_ERR_NEED_MORE;
	r.p = buf + h.header_len;
	r.end = buf + total;
	r.err = 0;
	r.refuse = MQTT_UTF8_REFUSED | (o->strict_utf8 ? MQTT_UTF8_DISCOURAGED : 0);
	r.sender = o->sender;
	out->type = h.type;
	rc = decode_body(&r, o->level, &h, out);
	return rc < 0 ? rc : total;
}

long mqtt_decode(const uint8_t *buf, size_t len, uint8_t level, uint32_t max_packet,
		 struct mqtt_packet *out)
{
	struct mqtt_decode_opts o = { .level = level, .max_packet = max_packet };

	return mqtt_decode_with(buf, len, &o, out);
}

bool mqtt_topic_list_next_opts(struct mqtt_topic_iter *it, struct mqtt_str *filter,
			       uint8_t *options)
{
	const struct mqtt_topic_list *l = it->list;
	const uint8_t *p = l->data + it->pos;

	if (it->pos >= l->len)
		return false;
	filter->len = (uint16_t)(p[0] << 8 | p[1]);
	filter->data = p + 2;
	it->pos += 2u + filter->len;
	*options = l->with_options ? l->data[it->pos++] : 0;
	return true;
}

bool mqtt_topic_list_next(struct mqtt_topic_iter *it, struct mqtt_str *filter, uint8_t *qos)
{
	bool more = mqtt_topic_list_next_opts(it, filter, qos);

	if (more)
		*qos = MQTT_SUBOPT_QOS(*qos);
	return more;
}
