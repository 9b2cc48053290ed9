/*
 * props.h - MQTT 5 properties (OASIS MQTT 5.0, section 2.2.2), part of the
 * pure codec: no I/O, no allocation.
 *
 * Decoding validates the whole property block against the spec's table
 * (each identifier known, allowed in this packet, at most once unless it is
 * a User Property or a PUBLISH's Subscription Identifier, values in range)
 * and fills struct mqtt_props: single-valued properties as fields, the raw
 * block kept for the repeatable ones (mqtt_props_next walks it).
 *
 * Encoding writes every property whose bit is set in `present`, in
 * identifier order, then the caller's pre-encoded user properties
 * (user_raw) and subscription identifiers (sub_ids).
 */
#ifndef AGORA_MQTT_PROPS_H
#define AGORA_MQTT_PROPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

enum mqtt_prop_id {
	MQTT_PROP_PAYLOAD_FORMAT = 0x01,
	MQTT_PROP_MESSAGE_EXPIRY = 0x02,
	MQTT_PROP_CONTENT_TYPE = 0x03,
	MQTT_PROP_RESPONSE_TOPIC = 0x08,
	MQTT_PROP_CORRELATION_DATA = 0x09,
	MQTT_PROP_SUBSCRIPTION_ID = 0x0B,
	MQTT_PROP_SESSION_EXPIRY = 0x11,
	MQTT_PROP_ASSIGNED_CLIENT_ID = 0x12,
	MQTT_PROP_SERVER_KEEPALIVE = 0x13,
	MQTT_PROP_AUTH_METHOD = 0x15,
	MQTT_PROP_AUTH_DATA = 0x16,
	MQTT_PROP_REQUEST_PROBLEM_INFO = 0x17,
	MQTT_PROP_WILL_DELAY = 0x18,
	MQTT_PROP_REQUEST_RESPONSE_INFO = 0x19,
	MQTT_PROP_RESPONSE_INFO = 0x1A,
	MQTT_PROP_SERVER_REFERENCE = 0x1C,
	MQTT_PROP_REASON_STRING = 0x1F,
	MQTT_PROP_RECEIVE_MAXIMUM = 0x21,
	MQTT_PROP_TOPIC_ALIAS_MAXIMUM = 0x22,
	MQTT_PROP_TOPIC_ALIAS = 0x23,
	MQTT_PROP_MAXIMUM_QOS = 0x24,
	MQTT_PROP_RETAIN_AVAILABLE = 0x25,
	MQTT_PROP_USER_PROPERTY = 0x26,
	MQTT_PROP_MAXIMUM_PACKET_SIZE = 0x27,
	MQTT_PROP_WILDCARD_SUB_AVAILABLE = 0x28,
	MQTT_PROP_SUB_ID_AVAILABLE = 0x29,
	MQTT_PROP_SHARED_SUB_AVAILABLE = 0x2A,
};

/* Where a property block sits: the packet types plus the CONNECT's will. */
#define MQTT_PROPS_WILL 16

#define MQTT_PROP_BIT(id) ((uint64_t)1 << (id))
#define MQTT_SUB_ID_MAX 268435455u

struct mqtt_props_str {
	const uint8_t *data;
	uint16_t len;
};

/*
 * A decoded or to-be-encoded property block. The head is always valid; a
 * value field holds something only when its bit is in `present`, so read it
 * through the bit (decoding does not clear the values it did not find: the
 * common empty block then costs a few stores, not ~250 bytes of clearing).
 * To encode, start from a zeroed struct and set the bits of what you fill.
 */
struct mqtt_props {
	/* -- always valid -- */
	const uint8_t *raw;      /* the property bytes, after their length */
	uint32_t raw_len;
	uint16_t user_count, sub_id_count;
	uint64_t present;        /* MQTT_PROP_BIT(id) for each property present */
	/* Encoding only: user properties already encoded as property bytes
	 * (0x26, key, value)..., and subscription identifiers to write. */
	const uint8_t *user_raw;
	uint32_t user_raw_len;
	const uint32_t *sub_ids;
	/* -- valid only under their bit in present -- */
	uint32_t message_expiry, session_expiry, will_delay, maximum_packet_size;
	uint32_t subscription_id; /* SUBSCRIBE's (PUBLISH may carry several: iterate) */
	uint16_t server_keepalive, receive_maximum, topic_alias_maximum, topic_alias;
	uint8_t payload_format, request_problem_info, request_response_info;
	uint8_t maximum_qos, retain_available, wildcard_sub_available;
	uint8_t sub_id_available, shared_sub_available;
	struct mqtt_props_str content_type, response_topic, correlation_data;
	struct mqtt_props_str assigned_client_id, auth_method, auth_data;
	struct mqtt_props_str response_info, server_reference, reason_string;
};

/* An empty block: the head cleared. Test builds (no NDEBUG) fill the values
 * with a pattern, so a consumer that reads one without its bit fails. */
static inline void mqtt_props_clear(struct mqtt_props *p)
{
	p->raw = NULL;
	p->raw_len = 0;
	p->user_count = 0;
	p->sub_id_count = 0;
	p->present = 0;
	p->user_raw = NULL;
	p->user_raw_len = 0;
	p->sub_ids = NULL;
#ifndef NDEBUG
	memset(&p->message_expiry, 0xA5, sizeof(*p) - offsetof(struct mqtt_props, message_expiry));
#endif
}

/* A value if its property is present, else the default the spec gives. */
#define MQTT_PROP_OR(props, id, field, dflt) \
	(((props)->present & MQTT_PROP_BIT(id)) ? (props)->field : (dflt))

/* One property, as mqtt_props_next yields it. */
struct mqtt_prop {
	uint8_t id;
	uint32_t value;                 /* integer properties */
	struct mqtt_props_str str, str2; /* strings, binary data; str2 for pairs */
	const uint8_t *start;           /* the property's bytes, identifier included */
	uint32_t size;
};

/*
 * Decodes and validates a property block (length varint included) at buf for
 * a packet of type `where` (enum mqtt_type, or MQTT_PROPS_WILL). Returns the
 * bytes consumed (> 0) or a negative MQTT_ERR_* (MQTT_ERR_TRUNCATED,
 * MQTT_ERR_PROP_UNKNOWN, MQTT_ERR_PROP_DUPLICATE, MQTT_ERR_PROP_PLACE,
 * MQTT_ERR_PROP_VALUE, MQTT_ERR_UTF8).
 */
long mqtt_props_decode(const uint8_t *buf, size_t len, int where, struct mqtt_props *out);

/* Walks a decoded block: *pos starts at 0; returns false at the end. */
bool mqtt_props_next(const struct mqtt_props *p, uint32_t *pos, struct mqtt_prop *out);

/* Bytes of the property block without / with its length varint. An empty
 * block (the common case on the message path) is answered inline. */
uint32_t mqtt_props_body_size_full(const struct mqtt_props *p);

static inline bool mqtt_props_empty(const struct mqtt_props *p)
{
	/* one test, not three: this runs several times per message */
	return !(p->present | p->user_raw_len | (uintptr_t)p->sub_ids);
}

static inline uint32_t mqtt_props_body_size(const struct mqtt_props *p)
{
	if (mqtt_props_empty(p))
		return 0;
	return mqtt_props_body_size_full(p);
}

static inline uint32_t mqtt_props_size(const struct mqtt_props *p)
{
	uint32_t body;

	if (mqtt_props_empty(p))
		return 1; /* the length byte, 0 */
	body = mqtt_props_body_size_full(p);
	return (body < 128 ? 1 : body < 16384 ? 2 : body < 2097152 ? 3 : 4) + body;
}
/* Writes the block (length varint first) into out, which must hold
 * mqtt_props_size(p) bytes; returns the bytes written. */
uint32_t mqtt_props_encode(const struct mqtt_props *p, uint8_t *out);

/* May property `id` appear in a block of kind `where`? */
bool mqtt_prop_allowed(uint8_t id, int where);

#endif
