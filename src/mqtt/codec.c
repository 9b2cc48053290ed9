/*
 * codec.c - what the decoder and encoder share: error strings, packet type
 * names, the variable byte integer and the fixed header.
 */
#include "mqtt.h"

#include <string.h>

const char *mqtt_strerror(int err)
{
	switch (err) {
	case MQTT_OK: return "success";
	case MQTT_ERR_NEED_MORE: return "incomplete packet";
	case MQTT_ERR_REMAINING_LENGTH: return "malformed variable byte integer";
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
	case MQTT_ERR_PROP_UNKNOWN: return "unknown property identifier";
	case MQTT_ERR_PROP_DUPLICATE: return "property included more than once";
	case MQTT_ERR_PROP_PLACE: return "property not allowed in this packet";
	case MQTT_ERR_PROP_VALUE: return "invalid property value";
	case MQTT_ERR_REASON: return "reason code not allowed in this packet";
	case MQTT_ERR_RETAIN_HANDLING: return "retain handling 3 is reserved";
	case MQTT_ERR_UTF8_CHARS: return "control character or non-character in a string";
	}
	return "unknown error";
}

bool mqtt_err_is_protocol_error(int err)
{
	/* MQTT 5.0 section 4.13: what the spec calls a Protocol Error rather
	 * than a Malformed Packet. */
	switch (err) {
	case MQTT_ERR_PROP_DUPLICATE:
	case MQTT_ERR_PROP_PLACE:
	case MQTT_ERR_RETAIN_HANDLING:
	case MQTT_ERR_PROP_VALUE:
	case MQTT_ERR_PACKET_ID:
	case MQTT_ERR_TOPIC:
	case MQTT_ERR_EMPTY: /* [MQTT 5.0, 3.8.3, 3.10.3] */
		return true;
	default:
		return false;
	}
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
