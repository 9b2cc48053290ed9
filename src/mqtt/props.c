/* props.c - MQTT 5 property blocks: one table drives decoding and encoding. */
#include "mqtt.h"

#include <string.h>

enum prop_type { P_NONE, P_BYTE, P_U16, P_U32, P_VARINT, P_UTF8, P_BIN, P_PAIR };

#define W(t) (1u << (t))
#define ACKS (W(MQTT_PUBACK) | W(MQTT_PUBREC) | W(MQTT_PUBREL) | W(MQTT_PUBCOMP))
#define MSG (W(MQTT_PUBLISH) | W(MQTT_PROPS_WILL))
#define ALL_WITH_PROPS                                                                   \
	(W(MQTT_CONNECT) | W(MQTT_CONNACK) | MSG | ACKS | W(MQTT_SUBSCRIBE) | W(MQTT_SUBACK) | \
	 W(MQTT_UNSUBSCRIBE) | W(MQTT_UNSUBACK) | W(MQTT_DISCONNECT) | W(MQTT_AUTH))

struct prop_rule {
	uint8_t type;
	uint32_t where;  /* W(packet type) bits, W(MQTT_PROPS_WILL) for will properties */
	bool repeat;     /* may appear more than once */
	bool boolean;    /* a byte that must be 0 or 1 */
	bool nonzero;    /* 0 is a Protocol Error */
};

/* [MQTT 5.0, 2.2.2.2] */
static const struct prop_rule rules[64] = {
	[MQTT_PROP_PAYLOAD_FORMAT] = { P_BYTE, MSG, false, true, false },
	[MQTT_PROP_MESSAGE_EXPIRY] = { P_U32, MSG, false, false, false },
	[MQTT_PROP_CONTENT_TYPE] = { P_UTF8, MSG, false, false, false },
	[MQTT_PROP_RESPONSE_TOPIC] = { P_UTF8, MSG, false, false, false },
	[MQTT_PROP_CORRELATION_DATA] = { P_BIN, MSG, false, false, false },
	[MQTT_PROP_SUBSCRIPTION_ID] = { P_VARINT, W(MQTT_PUBLISH) | W(MQTT_SUBSCRIBE), true, false,
					true },
	[MQTT_PROP_SESSION_EXPIRY] = { P_U32, W(MQTT_CONNECT) | W(MQTT_CONNACK) | W(MQTT_DISCONNECT),
				       false, false, false },
	[MQTT_PROP_ASSIGNED_CLIENT_ID] = { P_UTF8, W(MQTT_CONNACK), false, false, false },
	[MQTT_PROP_SERVER_KEEPALIVE] = { P_U16, W(MQTT_CONNACK), false, false, false },
	[MQTT_PROP_AUTH_METHOD] = { P_UTF8, W(MQTT_CONNECT) | W(MQTT_CONNACK) | W(MQTT_AUTH), false,
				    false, false },
	[MQTT_PROP_AUTH_DATA] = { P_BIN, W(MQTT_CONNECT) | W(MQTT_CONNACK) | W(MQTT_AUTH), false,
				  false, false },
	[MQTT_PROP_REQUEST_PROBLEM_INFO] = { P_BYTE, W(MQTT_CONNECT), false, true, false },
	[MQTT_PROP_WILL_DELAY] = { P_U32, W(MQTT_PROPS_WILL), false, false, false },
	[MQTT_PROP_REQUEST_RESPONSE_INFO] = { P_BYTE, W(MQTT_CONNECT), false, true, false },
	[MQTT_PROP_RESPONSE_INFO] = { P_UTF8, W(MQTT_CONNACK), false, false, false },
	[MQTT_PROP_SERVER_REFERENCE] = { P_UTF8, W(MQTT_CONNACK) | W(MQTT_DISCONNECT), false, false,
					 false },
	[MQTT_PROP_REASON_STRING] = { P_UTF8,
				      W(MQTT_CONNACK) | ACKS | W(MQTT_SUBACK) | W(MQTT_UNSUBACK) |
					      W(MQTT_DISCONNECT) | W(MQTT_AUTH),
				      false, false, false },
	[MQTT_PROP_RECEIVE_MAXIMUM] = { P_U16, W(MQTT_CONNECT) | W(MQTT_CONNACK), false, false, true },
	[MQTT_PROP_TOPIC_ALIAS_MAXIMUM] = { P_U16, W(MQTT_CONNECT) | W(MQTT_CONNACK), false, false,
					    false },
	[MQTT_PROP_TOPIC_ALIAS] = { P_U16, W(MQTT_PUBLISH), false, false, true },
	[MQTT_PROP_MAXIMUM_QOS] = { P_BYTE, W(MQTT_CONNACK), false, true, false },
	[MQTT_PROP_RETAIN_AVAILABLE] = { P_BYTE, W(MQTT_CONNACK), false, true, false },
	[MQTT_PROP_USER_PROPERTY] = { P_PAIR, ALL_WITH_PROPS, true, false, false },
	[MQTT_PROP_MAXIMUM_PACKET_SIZE] = { P_U32, W(MQTT_CONNECT) | W(MQTT_CONNACK), false, false,
					    true },
	[MQTT_PROP_WILDCARD_SUB_AVAILABLE] = { P_BYTE, W(MQTT_CONNACK), false, true, false },
	[MQTT_PROP_SUB_ID_AVAILABLE] = { P_BYTE, W(MQTT_CONNACK), false, true, false },
	[MQTT_PROP_SHARED_SUB_AVAILABLE] = { P_BYTE, W(MQTT_CONNACK), false, true, false },
};

bool mqtt_prop_allowed(uint8_t id, int where)
{
	return id < 64 && rules[id].type != P_NONE && (rules[id].where & W(where));
}

/* ---- reading one property ---- */

static int read_str(const uint8_t *p, size_t left, struct mqtt_props_str *s, size_t *used)
{
	uint16_t n;

	if (left < 2)
		return MQTT_ERR_TRUNCATED;
	n = (uint16_t)(p[0] << 8 | p[1]);
	if (left - 2 < n)
		return MQTT_ERR_TRUNCATED;
	s->data = p + 2;
	s->len = n;
	*used += 2u + n;
	return 0;
}

/* Parses the property at p (identifier first) without rule checks. */
static int read_prop(const uint8_t *p, size_t left, struct mqtt_prop *out)
{
	uint32_t id;
	int n = mqtt_varint_decode(p, left, &id);
	size_t used;
	int rc = 0;

	if (n < 0)
		return n == MQTT_ERR_NEED_MORE ? MQTT_ERR_TRUNCATED : MQTT_ERR_PROP_UNKNOWN;
	/* Every identifier fits one byte; a longer encoding is malformed. */
	if (n > 1 || id >= 64 || rules[id].type == P_NONE)
		return MQTT_ERR_PROP_UNKNOWN;
	memset(out, 0, sizeof(*out));
	out->id = (uint8_t)id;
	out->start = p;
	used = (size_t)n;
	p += n;
	left -= (size_t)n;
	switch (rules[id].type) {
	case P_BYTE:
		if (left < 1)
			return MQTT_ERR_TRUNCATED;
		out->value = p[0];
		used += 1;
		break;
	case P_U16:
		if (left < 2)
			return MQTT_ERR_TRUNCATED;
		out->value = (uint32_t)(p[0] << 8 | p[1]);
		used += 2;
		break;
	case P_U32:
		if (left < 4)
			return MQTT_ERR_TRUNCATED;
		out->value = (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
		used += 4;
		break;
	case P_VARINT:
		n = mqtt_varint_decode(p, left, &out->value);
		if (n < 0) /* a fifth byte makes the packet malformed [MQTT 5.0, 1.5.5] */
			return n == MQTT_ERR_NEED_MORE ? MQTT_ERR_TRUNCATED : MQTT_ERR_REMAINING_LENGTH;
		used += (size_t)n;
		break;
	case P_UTF8:
	case P_BIN:
		rc = read_str(p, left, &out->str, &used);
		break;
	case P_PAIR:
		rc = read_str(p, left, &out->str, &used);
		if (!rc)
			rc = read_str(p + 2 + out->str.len, left - 2 - out->str.len, &out->str2, &used);
		break;
	}
	out->size = (uint32_t)used;
	return rc;
}

/* Spec rules on one property's value. */
static int check_value(const struct prop_rule *r, const struct mqtt_prop *p)
{
	if (r->boolean && p->value > 1)
		return MQTT_ERR_PROP_VALUE;
	if (r->nonzero && p->value == 0)
		return MQTT_ERR_PROP_VALUE;
	if (p->id == MQTT_PROP_SUBSCRIPTION_ID && p->value > MQTT_SUB_ID_MAX)
		return MQTT_ERR_PROP_VALUE;
	if ((r->type == P_UTF8 || r->type == P_PAIR) && !mqtt_utf8_valid(p->str.data, p->str.len))
		return MQTT_ERR_UTF8;
	if (r->type == P_PAIR && !mqtt_utf8_valid(p->str2.data, p->str2.len))
		return MQTT_ERR_UTF8;
	/* [MQTT-3.3.2-14] a response topic is a topic name, not a filter */
	if (p->id == MQTT_PROP_RESPONSE_TOPIC && !mqtt_topic_name_valid(p->str.data, p->str.len))
		return MQTT_ERR_PROP_VALUE;
	return 0;
}

static void store(struct mqtt_props *out, const struct mqtt_prop *p)
{
	switch (p->id) {
	case MQTT_PROP_PAYLOAD_FORMAT: out->payload_format = (uint8_t)p->value; break;
	case MQTT_PROP_MESSAGE_EXPIRY: out->message_expiry = p->value; break;
	case MQTT_PROP_CONTENT_TYPE: out->content_type = p->str; break;
	case MQTT_PROP_RESPONSE_TOPIC: out->response_topic = p->str; break;
	case MQTT_PROP_CORRELATION_DATA: out->correlation_data = p->str; break;
	case MQTT_PROP_SUBSCRIPTION_ID:
		if (!out->sub_id_count++)
			out->subscription_id = p->value;
		break;
	case MQTT_PROP_SESSION_EXPIRY: out->session_expiry = p->value; break;
	case MQTT_PROP_ASSIGNED_CLIENT_ID: out->assigned_client_id = p->str; break;
	case MQTT_PROP_SERVER_KEEPALIVE: out->server_keepalive = (uint16_t)p->value; break;
	case MQTT_PROP_AUTH_METHOD: out->auth_method = p->str; break;
	case MQTT_PROP_AUTH_DATA: out->auth_data = p->str; break;
	case MQTT_PROP_REQUEST_PROBLEM_INFO: out->request_problem_info = (uint8_t)p->value; break;
	case MQTT_PROP_WILL_DELAY: out->will_delay = p->value; break;
	case MQTT_PROP_REQUEST_RESPONSE_INFO: out->request_response_info = (uint8_t)p->value; break;
	case MQTT_PROP_RESPONSE_INFO: out->response_info = p->str; break;
	case MQTT_PROP_SERVER_REFERENCE: out->server_reference = p->str; break;
	case MQTT_PROP_REASON_STRING: out->reason_string = p->str; break;
	case MQTT_PROP_RECEIVE_MAXIMUM: out->receive_maximum = (uint16_t)p->value; break;
	case MQTT_PROP_TOPIC_ALIAS_MAXIMUM: out->topic_alias_maximum = (uint16_t)p->value; break;
	case MQTT_PROP_TOPIC_ALIAS: out->topic_alias = (uint16_t)p->value; break;
	case MQTT_PROP_MAXIMUM_QOS: out->maximum_qos = (uint8_t)p->value; break;
	case MQTT_PROP_RETAIN_AVAILABLE: out->retain_available = (uint8_t)p->value; break;
	case MQTT_PROP_USER_PROPERTY: out->user_count++; break;
	case MQTT_PROP_MAXIMUM_PACKET_SIZE: out->maximum_packet_size = p->value; break;
	case MQTT_PROP_WILDCARD_SUB_AVAILABLE: out->wildcard_sub_available = (uint8_t)p->value; break;
	case MQTT_PROP_SUB_ID_AVAILABLE: out->sub_id_available = (uint8_t)p->value; break;
	case MQTT_PROP_SHARED_SUB_AVAILABLE: out->shared_sub_available = (uint8_t)p->value; break;
	}
	out->present |= MQTT_PROP_BIT(p->id);
}

long mqtt_props_decode(const uint8_t *buf, size_t len, int where, struct mqtt_props *out)
{
	uint32_t body;
	int n = mqtt_varint_decode(buf, len, &body);
	const uint8_t *p, *end;

	mqtt_props_clear(out);
	if (n < 0)
		return n == MQTT_ERR_NEED_MORE ? MQTT_ERR_TRUNCATED : MQTT_ERR_REMAINING_LENGTH;
	if (len - (size_t)n < body)
		return MQTT_ERR_TRUNCATED;
	p = buf + n;
	end = p + body;
	out->raw = p;
	out->raw_len = body;
	while (p < end) {
		struct mqtt_prop prop;
		const struct prop_rule *r;
		int rc = read_prop(p, (size_t)(end - p), &prop);

		if (rc)
			return rc;
		r = &rules[prop.id];
		/* [MQTT-2.2.2-2]: only where the table allows it, once unless repeatable */
		if (!(r->where & W(where)))
			return MQTT_ERR_PROP_PLACE;
		if ((out->present & MQTT_PROP_BIT(prop.id)) &&
		    !(r->repeat && (prop.id != MQTT_PROP_SUBSCRIPTION_ID || where == MQTT_PUBLISH)))
			return MQTT_ERR_PROP_DUPLICATE;
		rc = check_value(r, &prop);
		if (rc)
			return rc;
		store(out, &prop);
		p += prop.size;
	}
	return (long)(n + body);
}

bool mqtt_props_next(const struct mqtt_props *p, uint32_t *pos, struct mqtt_prop *out)
{
	if (*pos >= p->raw_len || read_prop(p->raw + *pos, p->raw_len - *pos, out) != 0)
		return false;
	*pos += out->size;
	return true;
}

/* ---- encoding ---- */

static uint32_t value_size(uint8_t id, const struct mqtt_props *p)
{
	switch (rules[id].type) {
	case P_BYTE: return 1;
	case P_U16: return 2;
	case P_U32: return 4;
	case P_VARINT: return (uint32_t)mqtt_varint_size(p->subscription_id);
	default: break;
	}
	switch (id) {
	case MQTT_PROP_CONTENT_TYPE: return 2u + p->content_type.len;
	case MQTT_PROP_RESPONSE_TOPIC: return 2u + p->response_topic.len;
	case MQTT_PROP_CORRELATION_DATA: return 2u + p->correlation_data.len;
	case MQTT_PROP_ASSIGNED_CLIENT_ID: return 2u + p->assigned_client_id.len;
	case MQTT_PROP_AUTH_METHOD: return 2u + p->auth_method.len;
	case MQTT_PROP_AUTH_DATA: return 2u + p->auth_data.len;
	case MQTT_PROP_RESPONSE_INFO: return 2u + p->response_info.len;
	case MQTT_PROP_SERVER_REFERENCE: return 2u + p->server_reference.len;
	case MQTT_PROP_REASON_STRING: return 2u + p->reason_string.len;
	}
	return 0;
}

/* The single-valued properties written from fields: the present bits but
 * user properties and lists of subscription identifiers (user_raw /
 * sub_ids) and anything the table does not know. */
static uint64_t field_bits(const struct mqtt_props *p)
{
	uint64_t bits = p->present & ~MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY) & ~(uint64_t)1;

	if (p->sub_ids)
		bits &= ~MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
	return bits;
}

/* Next identifier in bits, in ascending order; clears it. The hot path
 * (an empty block) costs one test. */
static uint8_t next_id(uint64_t *bits)
{
	uint8_t id = (uint8_t)__builtin_ctzll(*bits);

	*bits &= *bits - 1;
	return id;
}

uint32_t mqtt_props_body_size_full(const struct mqtt_props *p)
{
	uint32_t n = p->user_raw_len;
	uint64_t bits = field_bits(p);

	while (bits) {
		uint8_t id = next_id(&bits);
		if (rules[id].type != P_NONE)
			n += 1 + value_size(id, p);
	}
	if (p->sub_ids)
		for (uint16_t i = 0; i < p->sub_id_count; i++)
			n += 1u + (uint32_t)mqtt_varint_size(p->sub_ids[i]);
	return n;
}

static uint8_t *put_u16(uint8_t *o, uint32_t v)
{
	o[0] = (uint8_t)(v >> 8);
	o[1] = (uint8_t)v;
	return o + 2;
}

static uint8_t *put_str(uint8_t *o, struct mqtt_props_str s)
{
	o = put_u16(o, s.len);
	if (s.len)
		memcpy(o, s.data, s.len);
	return o + s.len;
}

static uint32_t int_field(uint8_t id, const struct mqtt_props *p)
{
	switch (id) {
	case MQTT_PROP_PAYLOAD_FORMAT: return p->payload_format;
	case MQTT_PROP_MESSAGE_EXPIRY: return p->message_expiry;
	case MQTT_PROP_SUBSCRIPTION_ID: return p->subscription_id;
	case MQTT_PROP_SESSION_EXPIRY: return p->session_expiry;
	case MQTT_PROP_SERVER_KEEPALIVE: return p->server_keepalive;
	case MQTT_PROP_REQUEST_PROBLEM_INFO: return p->request_problem_info;
	case MQTT_PROP_WILL_DELAY: return p->will_delay;
	case MQTT_PROP_REQUEST_RESPONSE_INFO: return p->request_response_info;
	case MQTT_PROP_RECEIVE_MAXIMUM: return p->receive_maximum;
	case MQTT_PROP_TOPIC_ALIAS_MAXIMUM: return p->topic_alias_maximum;
	case MQTT_PROP_TOPIC_ALIAS: return p->topic_alias;
	case MQTT_PROP_MAXIMUM_QOS: return p->maximum_qos;
	case MQTT_PROP_RETAIN_AVAILABLE: return p->retain_available;
	case MQTT_PROP_MAXIMUM_PACKET_SIZE: return p->maximum_packet_size;
	case MQTT_PROP_WILDCARD_SUB_AVAILABLE: return p->wildcard_sub_available;
	case MQTT_PROP_SUB_ID_AVAILABLE: return p->sub_id_available;
	case MQTT_PROP_SHARED_SUB_AVAILABLE: return p->shared_sub_available;
	}
	return 0;
}

static struct mqtt_props_str str_field(uint8_t id, const struct mqtt_props *p)
{
	switch (id) {
	case MQTT_PROP_CONTENT_TYPE: return p->content_type;
	case MQTT_PROP_RESPONSE_TOPIC: return p->response_topic;
	case MQTT_PROP_CORRELATION_DATA: return p->correlation_data;
	case MQTT_PROP_ASSIGNED_CLIENT_ID: return p->assigned_client_id;
	case MQTT_PROP_AUTH_METHOD: return p->auth_method;
	case MQTT_PROP_AUTH_DATA: return p->auth_data;
	case MQTT_PROP_RESPONSE_INFO: return p->response_info;
	case MQTT_PROP_SERVER_REFERENCE: return p->server_reference;
	default: return p->reason_string;
	}
}

uint32_t mqtt_props_encode(const struct mqtt_props *p, uint8_t *out)
{
	uint8_t *o = out;
	uint32_t v;
	uint64_t bits = field_bits(p);

	o += mqtt_varint_encode(mqtt_props_body_size(p), o);
	while (bits) {
		uint8_t id = next_id(&bits);
		if (rules[id].type == P_NONE)
			continue;
		*o++ = id;
		v = int_field(id, p);
		switch (rules[id].type) {
		case P_BYTE: *o++ = (uint8_t)v; break;
		case P_U16: o = put_u16(o, v); break;
		case P_U32:
			o = put_u16(o, v >> 16);
			o = put_u16(o, v & 0xFFFF);
			break;
		case P_VARINT: o += mqtt_varint_encode(v, o); break;
		default: o = put_str(o, str_field(id, p)); break;
		}
	}
	if (p->sub_ids) {
		for (uint16_t i = 0; i < p->sub_id_count; i++) {
			*o++ = MQTT_PROP_SUBSCRIPTION_ID;
			o += mqtt_varint_encode(p->sub_ids[i], o);
		}
	}
	if (p->user_raw_len) {
		memcpy(o, p->user_raw, p->user_raw_len);
		o += p->user_raw_len;
	}
	return (uint32_t)(o - out);
}
