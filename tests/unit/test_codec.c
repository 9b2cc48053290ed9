/*
 * test_codec.c - the MQTT codec: round trips, partial input, malformed
 * packets, limits and the small helpers around them.
 *
 * Every packet the encoder produces is decoded again and re-encoded to the
 * same bytes, and every prefix of it must ask for more input. Malformed
 * packets are decoded from heap copies of exactly their length, so a read
 * past the end is an AddressSanitizer error rather than a silent pass.
 */
#include "helpers.h"

#include "mqtt/mqtt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Prefixes up to this length are decoded from exact-size copies. */
#define EXACT_PREFIX_MAX 1024

/* ---- helpers ---- */

static struct mqtt_str str(const char *s)
{
	struct mqtt_str r = { (const uint8_t *)s, (uint16_t)strlen(s) };
	return r;
}

static struct mqtt_str bin(const void *data, uint16_t len)
{
	struct mqtt_str r = { data, len };
	return r;
}

static uint8_t *copy_of(const uint8_t *buf, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	assert_non_null(c);
	if (len)
		memcpy(c, buf, len);
	return c;
}

/* Decode from an exact-size heap copy. */
static long decode_copy(const uint8_t *buf, size_t len, uint8_t level, uint32_t max_packet,
			struct mqtt_packet *out)
{
	uint8_t *c = copy_of(buf, len);
	long rc = mqtt_decode(c, len, level, max_packet, out);

	free(c);
	return rc;
}

static void assert_str_equal(struct mqtt_str want, struct mqtt_str got)
{
	assert_int_equal(got.len, want.len);
	if (want.len)
		assert_memory_equal(got.data, want.data, want.len);
}

static void assert_list_equal(const struct mqtt_topic_list *want,
			      const struct mqtt_topic_list *got)
{
	assert_int_equal(got->len, want->len);
	assert_int_equal(got->count, want->count);
	assert_int_equal(got->with_options, want->with_options);
	assert_memory_equal(got->data, want->data, want->len);
}

static void assert_packet_equal(const struct mqtt_packet *want, const struct mqtt_packet *got)
{
	assert_int_equal(got->type, want->type);
	switch (want->type) {
	case MQTT_CONNECT: {
		const struct mqtt_connect *w = &want->u.connect, *g = &got->u.connect;

		assert_str_equal(w->protocol_name, g->protocol_name);
		assert_int_equal(g->level, w->level);
		assert_int_equal(g->clean_session, w->clean_session);
		assert_int_equal(g->keepalive, w->keepalive);
		assert_str_equal(w->client_id, g->client_id);
		assert_int_equal(g->will, w->will);
		assert_int_equal(g->will_qos, w->will_qos);
		assert_int_equal(g->will_retain, w->will_retain);
		if (w->will) {
			assert_str_equal(w->will_topic, g->will_topic);
			assert_str_equal(w->will_payload, g->will_payload);
		}
		assert_int_equal(g->has_username, w->has_username);
		if (w->has_username)
			assert_str_equal(w->username, g->username);
		assert_int_equal(g->has_password, w->has_password);
		if (w->has_password)
			assert_str_equal(w->password, g->password);
		break;
	}
	case MQTT_CONNACK:
		assert_int_equal(got->u.connack.session_present, want->u.connack.session_present);
		assert_int_equal(got->u.connack.return_code, want->u.connack.return_code);
		break;
	case MQTT_PUBLISH: {
		const struct mqtt_publish *w = &want->u.publish, *g = &got->u.publish;

		assert_int_equal(g->dup, w->dup);
		assert_int_equal(g->qos, w->qos);
		assert_int_equal(g->retain, w->retain);
		assert_str_equal(w->topic, g->topic);
		assert_int_equal(g->packet_id, w->packet_id);
		assert_int_equal(g->payload_len, w->payload_len);
		if (w->payload_len)
			assert_memory_equal(g->payload, w->payload, w->payload_len);
		break;
	}
	case MQTT_PUBACK:
	case MQTT_PUBREC:
	case MQTT_PUBREL:
	case MQTT_PUBCOMP:
	case MQTT_UNSUBACK:
		assert_int_equal(got->u.ack.packet_id, want->u.ack.packet_id);
		break;
	case MQTT_SUBSCRIBE:
		assert_int_equal(got->u.subscribe.packet_id, want->u.subscribe.packet_id);
		assert_list_equal(&want->u.subscribe.filters, &got->u.subscribe.filters);
		break;
	case MQTT_UNSUBSCRIBE:
		assert_int_equal(got->u.unsubscribe.packet_id, want->u.unsubscribe.packet_id);
		assert_list_equal(&want->u.unsubscribe.filters, &got->u.unsubscribe.filters);
		break;
	case MQTT_SUBACK:
		assert_int_equal(got->u.suback.packet_id, want->u.suback.packet_id);
		assert_int_equal(got->u.suback.count, want->u.suback.count);
		assert_memory_equal(got->u.suback.codes, want->u.suback.codes,
				    want->u.suback.count);
		break;
	default: /* PINGREQ, PINGRESP, DISCONNECT: nothing but the type */
		break;
	}
}

/*
 * Lay filters out as SUBSCRIBE (opts != NULL) or UNSUBSCRIBE carries them:
 * a two-byte length, the filter, then the options byte for SUBSCRIBE.
 */
static struct mqtt_topic_list build_list(uint8_t *buf, size_t cap, const char *const *filters,
					 const uint8_t *opts, uint16_t count)
{
	struct mqtt_topic_list l = { buf, 0, count, opts != NULL };

	for (uint16_t i = 0; i < count; i++) {
		size_t n = strlen(filters[i]);

		assert_true(l.len + 3 + n <= cap);
		buf[l.len++] = (uint8_t)(n >> 8);
		buf[l.len++] = (uint8_t)n;
		memcpy(buf + l.len, filters[i], n);
		l.len += (uint32_t)n;
		if (opts)
			buf[l.len++] = opts[i];
	}
	return l;
}

/* Every proper prefix of a packet asks for more input. */
static void check_prefixes(const uint8_t *pkt, size_t n, uint8_t level)
{
	struct mqtt_header h;
	long total;

	assert_true(mqtt_frame(pkt, n, 0, &h) > 0);
	for (size_t k = 0; k < n; k++) {
		struct mqtt_packet out;
		long rc;

		if (k <= EXACT_PREFIX_MAX)
			rc = decode_copy(pkt, k, level, 0, &out);
		else
			rc = mqtt_decode(pkt, k, level, 0, &out);
		if (rc != MQTT_ERR_NEED_MORE)
			print_error("prefix of %zu/%zu bytes: got %ld\n", k, n, rc);
		assert_int_equal(rc, MQTT_ERR_NEED_MORE);

		/* The header alone frames the packet once it is complete. */
		total = mqtt_frame(pkt, k, 0, &h);
		if (k < h.header_len)
			assert_int_equal(total, MQTT_ERR_NEED_MORE);
		else
			assert_int_equal(total, (long)n);
	}
}

/* Two copies back to back: the first decodes alone, then the second. */
static void check_back_to_back(const uint8_t *pkt, size_t n, uint8_t level,
			       const struct mqtt_packet *want)
{
	uint8_t *two = malloc(2 * n);
	struct mqtt_packet out;

	assert_non_null(two);
	memcpy(two, pkt, n);
	memcpy(two + n, pkt, n);
	memset(&out, 0, sizeof(out));
	assert_int_equal(mqtt_decode(two, 2 * n, level, 0, &out), (long)n);
	if (want)
		assert_packet_equal(want, &out);
	/* One byte of the next packet does not change the answer either. */
	assert_int_equal(mqtt_decode(two, n + 1, level, 0, &out), (long)n);
	assert_int_equal(mqtt_decode(two + n, n, level, 0, &out), (long)n);
	if (want)
		assert_packet_equal(want, &out);
	free(two);
}

/* max_packet: exactly the size passes, one less is refused from the header. */
static void check_limit(const uint8_t *pkt, size_t n, uint8_t level)
{
	struct mqtt_header h;
	struct mqtt_packet out;

	assert_int_equal(mqtt_frame(pkt, n, (uint32_t)n, &h), (long)n);
	assert_int_equal(decode_copy(pkt, n, level, (uint32_t)n, &out), (long)n);
	assert_int_equal(decode_copy(pkt, n, level, (uint32_t)n - 1, &out), MQTT_ERR_TOO_LARGE);
	assert_int_equal(decode_copy(pkt, h.header_len, level, (uint32_t)n - 1, &out),
			 MQTT_ERR_TOO_LARGE);
	assert_int_equal(mqtt_frame(pkt, h.header_len, (uint32_t)n - 1, &h), MQTT_ERR_TOO_LARGE);
}

/* Everything a well-formed encoded packet must satisfy when decoded. */
static void check_decodes(const uint8_t *pkt, size_t n, uint8_t level,
			  const struct mqtt_packet *want)
{
	uint8_t *copy = copy_of(pkt, n);
	struct mqtt_packet out;

	memset(&out, 0, sizeof(out));
	assert_int_equal(mqtt_decode(copy, n, level, 0, &out), (long)n);
	if (want)
		assert_packet_equal(want, &out);
	free(copy);
	/* Before CONNECT (level 0) every type still decodes. */
	assert_int_equal(decode_copy(pkt, n, 0, 0, &out), (long)n);
	check_prefixes(pkt, n, level);
	check_back_to_back(pkt, n, level, want);
	check_limit(pkt, n, level);
}

/*
 * encode -> decode -> same fields -> re-encode -> same bytes, plus sizes,
 * prefixes, back-to-back packets and limits. Returns nothing: asserts.
 */
static void check_roundtrip(const struct mqtt_packet *p, uint8_t level)
{
	long size = mqtt_encoded_size(p, level);
	uint8_t *buf, *again;
	struct mqtt_header h;
	struct mqtt_packet out;

	assert_true(size >= 2);
	buf = malloc((size_t)size);
	again = malloc((size_t)size);
	assert_non_null(buf);
	assert_non_null(again);

	assert_int_equal(mqtt_encode(p, level, buf, (size_t)size - 1), MQTT_ERR_NOSPACE);
	assert_int_equal(mqtt_encode(p, level, buf, (size_t)size), size);
	assert_int_equal(mqtt_frame(buf, (size_t)size, 0, &h), size);
	assert_int_equal(h.type, p->type);
	assert_int_equal(h.header_len + h.remaining, size);

	memset(&out, 0, sizeof(out));
	assert_int_equal(mqtt_decode(buf, (size_t)size, level, 0, &out), size);
	assert_packet_equal(p, &out);
	assert_int_equal(mqtt_encoded_size(&out, level), size);
	assert_int_equal(mqtt_encode(&out, level, again, (size_t)size), size);
	assert_memory_equal(again, buf, (size_t)size);

	check_decodes(buf, (size_t)size, level, p);
	free(again);
	free(buf);
}

static struct mqtt_packet make_connect(const char *proto, uint8_t level, const char *client_id)
{
	struct mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = MQTT_CONNECT;
	p.u.connect.protocol_name = str(proto);
	p.u.connect.level = level;
	p.u.connect.clean_session = true;
	p.u.connect.keepalive = 60;
	p.u.connect.client_id = str(client_id);
	return p;
}

static struct mqtt_packet make_publish(uint8_t qos, bool dup, bool retain, const char *topic,
				       uint16_t id, const void *payload, uint32_t len)
{
	struct mqtt_packet p;

	memset(&p, 0, sizeof(p));
	p.type = MQTT_PUBLISH;
	p.u.publish.qos = qos;
	p.u.publish.dup = dup;
	p.u.publish.retain = retain;
	p.u.publish.topic = str(topic);
	p.u.publish.packet_id = id;
	p.u.publish.payload = payload;
	p.u.publish.payload_len = len;
	return p;
}

/* ---- round trips ---- */

static void test_roundtrip_connect(void **state)
{
	static const uint8_t password[] = { 's', 0x00, 0xFF, 'x' };
	struct mqtt_packet p;

	(void)state;
	/* Level 4, nothing optional. */
	p = make_connect("MQTT", MQTT_LEVEL_311, "client-1");
	check_roundtrip(&p, MQTT_LEVEL_311);

	/* Empty client id, persistent session, keepalive 0. */
	p = make_connect("MQTT", MQTT_LEVEL_311, "");
	p.u.connect.clean_session = false;
	p.u.connect.keepalive = 0;
	check_roundtrip(&p, MQTT_LEVEL_311);

	/* Will, user name and a binary password. */
	p = make_connect("MQTT", MQTT_LEVEL_311, "dev/\xc3\xa9t\xc3\xa9");
	p.u.connect.keepalive = 65535;
	p.u.connect.will = true;
	p.u.connect.will_qos = 1;
	p.u.connect.will_retain = true;
	p.u.connect.will_topic = str("status/dev");
	p.u.connect.will_payload = str("offline");
	p.u.connect.has_username = true;
	p.u.connect.username = str("alice");
	p.u.connect.has_password = true;
	p.u.connect.password = bin(password, sizeof(password));
	check_roundtrip(&p, MQTT_LEVEL_311);

	/* Will at QoS 2 with an empty payload, no retain; user name only. */
	p = make_connect("MQTT", MQTT_LEVEL_311, "c");
	p.u.connect.will = true;
	p.u.connect.will_qos = 2;
	p.u.connect.will_topic = str("w");
	p.u.connect.will_payload = str("");
	p.u.connect.has_username = true;
	p.u.connect.username = str("");
	check_roundtrip(&p, MQTT_LEVEL_311);

	/* Will at QoS 0, user name and empty password. */
	p = make_connect("MQTT", MQTT_LEVEL_311, "c0");
	p.u.connect.will = true;
	p.u.connect.will_topic = str("a/b");
	p.u.connect.will_payload = str("x");
	p.u.connect.has_username = true;
	p.u.connect.username = str("u");
	p.u.connect.has_password = true;
	p.u.connect.password = str("");
	check_roundtrip(&p, MQTT_LEVEL_311);

	/* MQTT 3.1: "MQIsdp" level 3, plain and with everything. */
	p = make_connect("MQIsdp", MQTT_LEVEL_31, "legacy");
	check_roundtrip(&p, MQTT_LEVEL_31);
	p.u.connect.will = true;
	p.u.connect.will_qos = 2;
	p.u.connect.will_retain = true;
	p.u.connect.will_topic = str("legacy/will");
	p.u.connect.will_payload = bin(password, sizeof(password));
	p.u.connect.has_username = true;
	p.u.connect.username = str("bob");
	p.u.connect.has_password = true;
	p.u.connect.password = str("secret");
	check_roundtrip(&p, MQTT_LEVEL_31);
}

static void test_roundtrip_connack(void **state)
{
	struct mqtt_packet p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_CONNACK;
	for (uint8_t rc = 0; rc <= MQTT_CONNACK_NOT_AUTHORIZED; rc++) {
		p.u.connack.return_code = rc;
		p.u.connack.session_present = false;
		check_roundtrip(&p, MQTT_LEVEL_311);
		p.u.connack.session_present = true;
		check_roundtrip(&p, MQTT_LEVEL_311);
	}
}

static void test_roundtrip_publish(void **state)
{
	static const uint8_t payload[] = { 0x00, 0x01, 0xFF, 'h', 'i' };
	struct mqtt_packet p;

	(void)state;
	for (uint8_t qos = 0; qos <= 2; qos++) {
		for (int flags = 0; flags < 4; flags++) {
			bool dup = flags & 1, retain = flags & 2;
			uint16_t id = qos ? (uint16_t)(0x1234 + flags) : 0;

			if (qos == 0 && dup)
				continue; /* not a legal packet */
			p = make_publish(qos, dup, retain, "sensors/temp", id, payload,
					 sizeof(payload));
			check_roundtrip(&p, MQTT_LEVEL_311);
			/* Empty payload. */
			p = make_publish(qos, dup, retain, "a", id, NULL, 0);
			check_roundtrip(&p, MQTT_LEVEL_311);
		}
	}
	/* Multi-byte UTF-8 topic, highest packet id, level 3. */
	p = make_publish(1, false, false, "caf\xc3\xa9/\xf0\x9f\x98\x80", 65535, "x", 1);
	check_roundtrip(&p, MQTT_LEVEL_311);
	check_roundtrip(&p, MQTT_LEVEL_31);
	/* Topics made of empty levels are still valid names. */
	p = make_publish(0, false, true, "/", 0, "y", 1);
	check_roundtrip(&p, MQTT_LEVEL_311);
}

static void test_roundtrip_publish_large(void **state)
{
	const uint32_t len = 200000;
	uint8_t *payload = malloc(len);
	struct mqtt_packet p;
	uint8_t head[32];

	(void)state;
	assert_non_null(payload);
	for (uint32_t i = 0; i < len; i++)
		payload[i] = (uint8_t)(i * 31 + 7);

	p = make_publish(2, true, true, "big/blob", 77, payload, len);
	/* 200000 + 2 + 8 + 2 needs a three-byte remaining length. */
	assert_int_equal(mqtt_encoded_size(&p, MQTT_LEVEL_311), 1 + 3 + 2 + 8 + 2 + len);
	assert_int_equal(mqtt_encode_publish_header(&p.u.publish, MQTT_LEVEL_311, head,
						    sizeof(head)),
			 1 + 3 + 2 + 8 + 2);
	assert_int_equal(head[0], 0x3D);
	assert_true(head[1] & 0x80);
	assert_true(head[2] & 0x80);
	assert_false(head[3] & 0x80);
	check_roundtrip(&p, MQTT_LEVEL_311);

	p = make_publish(0, false, false, "big/blob", 0, payload, len);
	check_roundtrip(&p, MQTT_LEVEL_311);
	free(payload);
}

static void test_roundtrip_acks(void **state)
{
	static const uint8_t types[] = { MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP,
					  MQTT_UNSUBACK };
	static const uint16_t ids[] = { 1, 2, 0x00FF, 0x0100, 0x1234, 65535 };
	struct mqtt_packet p;

	(void)state;
	memset(&p, 0, sizeof(p));
	for (size_t t = 0; t < ARRAY_SIZE(types); t++) {
		for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
			p.type = types[t];
			p.u.ack.packet_id = ids[i];
			check_roundtrip(&p, MQTT_LEVEL_311);
		}
	}
}

static void test_roundtrip_subscribe(void **state)
{
	static const char *const filters[] = { "a/b", "sport/+/player1", "#", "$SYS/#",
					       "caf\xc3\xa9/+" };
	static const uint8_t opts[] = { 0, 1, 2, 1, 0 };
	uint8_t buf[128];
	struct mqtt_packet p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_SUBSCRIBE;
	p.u.subscribe.packet_id = 10;
	p.u.subscribe.filters = build_list(buf, sizeof(buf), filters, opts, ARRAY_SIZE(filters));
	check_roundtrip(&p, MQTT_LEVEL_311);

	/* A single filter, level 3. */
	p.u.subscribe.packet_id = 65535;
	p.u.subscribe.filters = build_list(buf, sizeof(buf), filters + 1, opts + 2, 1);
	check_roundtrip(&p, MQTT_LEVEL_31);
}

static void test_roundtrip_unsubscribe(void **state)
{
	static const char *const filters[] = { "a/b", "sport/+/player1", "#", "$SYS/#" };
	uint8_t buf[128];
	struct mqtt_packet p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_UNSUBSCRIBE;
	p.u.unsubscribe.packet_id = 11;
	p.u.unsubscribe.filters = build_list(buf, sizeof(buf), filters, NULL, ARRAY_SIZE(filters));
	check_roundtrip(&p, MQTT_LEVEL_311);

	p.u.unsubscribe.packet_id = 1;
	p.u.unsubscribe.filters = build_list(buf, sizeof(buf), filters + 2, NULL, 1);
	check_roundtrip(&p, MQTT_LEVEL_311);
}

static void test_roundtrip_suback(void **state)
{
	static const uint8_t codes[] = { 0, 1, 2, MQTT_SUBACK_FAILURE, 1 };
	struct mqtt_packet p;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_SUBACK;
	p.u.suback.packet_id = 10;
	p.u.suback.codes = codes;
	p.u.suback.count = ARRAY_SIZE(codes);
	check_roundtrip(&p, MQTT_LEVEL_311);

	p.u.suback.packet_id = 300;
	p.u.suback.codes = codes + 3;
	p.u.suback.count = 1;
	check_roundtrip(&p, MQTT_LEVEL_311);
}

static void test_roundtrip_no_body(void **state)
{
	static const uint8_t types[] = { MQTT_PINGREQ, MQTT_PINGRESP, MQTT_DISCONNECT };
	struct mqtt_packet p;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(types); i++) {
		memset(&p, 0, sizeof(p));
		p.type = types[i];
		assert_int_equal(mqtt_encoded_size(&p, MQTT_LEVEL_311), 2);
		check_roundtrip(&p, MQTT_LEVEL_311);
	}
}

/* ---- known bytes ---- */

struct wire_case {
	const char *name;
	const uint8_t *bytes;
	size_t len;
	uint8_t level;
	long want; /* decode result: the length or an MQTT_ERR_* */
};

#define WIRE(name, level, want, ...)                                                       \
	{ name, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), \
	  level, want }
/* Fixed header byte, a one-byte remaining length computed from the body. */
#define PKT(first, ...) first, sizeof((const uint8_t[]){ __VA_ARGS__ }), __VA_ARGS__
/* A well-formed packet: decodes to its full length. */
#define GOOD(name, level, ...) \
	WIRE(name, level, (long)sizeof((const uint8_t[]){ __VA_ARGS__ }), __VA_ARGS__)
/* CONNECT "MQTT" level 4 with the given flags, keepalive 60, then payload. */
#define CONNECT4(name, want, flags, ...) \
	WIRE(name, 4, want, PKT(0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, flags, 0, 60, __VA_ARGS__))

/* Hand-assembled packets straight from the MQTT 3.1.1 layouts. */
static const struct wire_case golden[] = {
	GOOD("CONNECT minimal", 4, 0x10, 0x14, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 8,
	     'c', 'l', 'i', 'e', 'n', 't', '-', '1'),
	GOOD("CONNECT MQIsdp everything", 3, 0x10, 0x1E, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3,
	     0xEE, 0, 10, 0, 1, 'c', 0, 1, 'w', 0, 3, 'b', 'y', 'e', 0, 1, 'u', 0, 2, 0x00,
	     0xFF),
	GOOD("CONNACK", 4, 0x20, 0x02, 0x01, 0x05),
	GOOD("PUBLISH qos0", 4, 0x30, 0x05, 0, 1, 't', 'o', 'k'),
	GOOD("PUBLISH qos1 dup retain", 4, 0x3B, 0x09, 0, 3, 'a', '/', 'b', 0x12, 0x34, 'h',
	     'i'),
	GOOD("PUBLISH qos2 empty payload", 4, 0x34, 0x05, 0, 1, 'x', 0xFF, 0xFE),
	GOOD("PUBACK", 4, 0x40, 0x02, 0x00, 0x07),
	GOOD("PUBREC", 4, 0x50, 0x02, 0x01, 0x00),
	GOOD("PUBREL", 4, 0x62, 0x02, 0xFF, 0xFF),
	GOOD("PUBCOMP", 4, 0x70, 0x02, 0x00, 0x01),
	GOOD("SUBSCRIBE", 4, 0x82, 0x0C, 0x00, 0x0A, 0, 3, 'a', '/', 'b', 0x01, 0, 1, '#',
	     0x02),
	GOOD("SUBACK", 4, 0x90, 0x04, 0x00, 0x0A, 0x01, 0x80),
	GOOD("UNSUBSCRIBE", 4, 0xA2, 0x07, 0x00, 0x0B, 0, 3, 'a', '/', 'b'),
	GOOD("UNSUBACK", 4, 0xB0, 0x02, 0x00, 0x0B),
	GOOD("PINGREQ", 4, 0xC0, 0x00),
	GOOD("PINGRESP", 4, 0xD0, 0x00),
	GOOD("DISCONNECT", 4, 0xE0, 0x00),
};

static void test_golden_packets(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(golden); i++) {
		const struct wire_case *c = &golden[i];
		struct mqtt_packet out;
		uint8_t again[64];
		long rc;

		memset(&out, 0, sizeof(out));
		rc = mqtt_decode(c->bytes, c->len, c->level, 0, &out);
		if (rc != c->want)
			print_error("%s: got %ld (%s)\n", c->name, rc, mqtt_strerror((int)rc));
		assert_int_equal(rc, c->want);
		assert_int_equal(out.type, c->bytes[0] >> 4);
		assert_int_equal(mqtt_encoded_size(&out, c->level), c->len);
		assert_int_equal(mqtt_encode(&out, c->level, again, sizeof(again)), c->len);
		assert_memory_equal(again, c->bytes, c->len);
		check_decodes(c->bytes, c->len, c->level, &out);
	}
}

static void test_decode_connect_fields(void **state)
{
	const struct wire_case *c = &golden[1];
	struct mqtt_packet out;
	const struct mqtt_connect *k = &out.u.connect;

	(void)state;
	assert_string_equal(c->name, "CONNECT MQIsdp everything");
	assert_int_equal(mqtt_decode(c->bytes, c->len, 0, 0, &out), c->len);
	assert_int_equal(out.type, MQTT_CONNECT);
	assert_str_equal(str("MQIsdp"), k->protocol_name);
	assert_int_equal(k->level, 3);
	assert_true(k->clean_session);
	assert_int_equal(k->keepalive, 10);
	assert_str_equal(str("c"), k->client_id);
	assert_true(k->will);
	assert_int_equal(k->will_qos, 1);
	assert_true(k->will_retain);
	assert_str_equal(str("w"), k->will_topic);
	assert_str_equal(str("bye"), k->will_payload);
	assert_true(k->has_username);
	assert_str_equal(str("u"), k->username);
	assert_true(k->has_password);
	assert_str_equal(bin("\x00\xff", 2), k->password);
	/* Decoded strings point into the input buffer. */
	assert_ptr_equal(k->client_id.data, c->bytes + 16);
	assert_ptr_equal(k->password.data, c->bytes + c->len - 2);

	c = &golden[0];
	assert_string_equal(c->name, "CONNECT minimal");
	assert_int_equal(mqtt_decode(c->bytes, c->len, 0, 0, &out), c->len);
	assert_int_equal(k->level, 4);
	assert_false(k->will);
	assert_int_equal(k->will_qos, 0);
	assert_false(k->will_retain);
	assert_false(k->has_username);
	assert_false(k->has_password);
	assert_str_equal(str("client-1"), k->client_id);
}

static void test_decode_publish_fields(void **state)
{
	const struct wire_case *c = &golden[4];
	struct mqtt_packet out;
	const struct mqtt_publish *p = &out.u.publish;

	(void)state;
	assert_string_equal(c->name, "PUBLISH qos1 dup retain");
	assert_int_equal(mqtt_decode(c->bytes, c->len, 4, 0, &out), c->len);
	assert_int_equal(out.type, MQTT_PUBLISH);
	assert_true(p->dup);
	assert_int_equal(p->qos, 1);
	assert_true(p->retain);
	assert_str_equal(str("a/b"), p->topic);
	assert_int_equal(p->packet_id, 0x1234);
	assert_int_equal(p->payload_len, 2);
	assert_ptr_equal(p->payload, c->bytes + 9);

	c = &golden[5];
	assert_string_equal(c->name, "PUBLISH qos2 empty payload");
	assert_int_equal(mqtt_decode(c->bytes, c->len, 4, 0, &out), c->len);
	assert_false(p->dup);
	assert_int_equal(p->qos, 2);
	assert_false(p->retain);
	assert_int_equal(p->packet_id, 0xFFFE);
	assert_int_equal(p->payload_len, 0);

	c = &golden[3];
	assert_string_equal(c->name, "PUBLISH qos0");
	assert_int_equal(mqtt_decode(c->bytes, c->len, 4, 0, &out), c->len);
	assert_int_equal(p->qos, 0);
	assert_int_equal(p->packet_id, 0);
	assert_int_equal(p->payload_len, 2);
	assert_memory_equal(p->payload, "ok", 2);
}

/* A stream of different packets decodes one after another. */
static void test_decode_stream(void **state)
{
	static const uint8_t stream[] = {
		0x10, 0x0D, 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60, 0, 1, 'c', /* CONNECT */
		0x82, 0x06, 0, 1, 0, 1, '#', 1,                                  /* SUBSCRIBE */
		0x32, 0x07, 0, 1, 't', 0, 2, 'h', 'i',                           /* PUBLISH */
		0xC0, 0x00,                                                      /* PINGREQ */
		0x62, 0x02, 0, 2,                                                /* PUBREL */
		0xE0, 0x00,                                                      /* DISCONNECT */
	};
	static const uint8_t types[] = { MQTT_CONNECT, MQTT_SUBSCRIBE, MQTT_PUBLISH,
					 MQTT_PINGREQ, MQTT_PUBREL, MQTT_DISCONNECT };
	size_t pos = 0, i = 0;

	(void)state;
	while (pos < sizeof(stream)) {
		struct mqtt_packet out;
		long n = mqtt_decode(stream + pos, sizeof(stream) - pos, MQTT_LEVEL_311, 0, &out);

		assert_true(n > 0);
		assert_true(i < ARRAY_SIZE(types));
		assert_int_equal(out.type, types[i]);
		pos += (size_t)n;
		i++;
	}
	assert_int_equal(pos, sizeof(stream));
	assert_int_equal(i, ARRAY_SIZE(types));
}

/* ---- malformed input ---- */

static void check_wire_cases(const struct wire_case *cases, size_t n)
{
	int failed = 0;

	for (size_t i = 0; i < n; i++) {
		const struct wire_case *c = &cases[i];
		struct mqtt_packet out;
		long rc = decode_copy(c->bytes, c->len, c->level, 0, &out);

		if (rc != c->want) {
			print_error("%s: got %ld (%s), want %ld (%s)\n", c->name, rc,
				    mqtt_strerror((int)rc), c->want, mqtt_strerror((int)c->want));
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

static const struct wire_case bad_header[] = {
	WIRE("remaining length 5 bytes", 4, MQTT_ERR_REMAINING_LENGTH, 0x30, 0xFF, 0xFF, 0xFF,
	     0xFF, 0x7F),
	WIRE("remaining length 5 bytes, value 1", 4, MQTT_ERR_REMAINING_LENGTH, 0x30, 0x81,
	     0x80, 0x80, 0x80, 0x00),
	WIRE("4th length byte continues", 4, MQTT_ERR_REMAINING_LENGTH, 0xC0, 0x80, 0x80, 0x80,
	     0x80),
	WIRE("3 continuation bytes so far", 4, MQTT_ERR_NEED_MORE, 0x30, 0x80, 0x80, 0x80),
	WIRE("type 0", 4, MQTT_ERR_TYPE, 0x00, 0x00),
	WIRE("type 0 with body", 4, MQTT_ERR_TYPE, 0x00, 0x02, 0x00, 0x01),
	WIRE("type 0 before CONNECT", 0, MQTT_ERR_TYPE, 0x00, 0x00),
	WIRE("type 15 level 4", 4, MQTT_ERR_TYPE, 0xF0, 0x00),
	WIRE("type 15 level 4 with body", 4, MQTT_ERR_TYPE, 0xF0, 0x02, 0x00, 0x00),
	WIRE("type 15 level 3", 3, MQTT_ERR_TYPE, 0xF0, 0x00),
	WIRE("type 15 before CONNECT", 0, MQTT_ERR_TYPE, 0xF0, 0x00),
	WIRE("PUBREL flags 0", 4, MQTT_ERR_FLAGS, 0x60, 0x02, 0x00, 0x01),
	WIRE("PUBREL flags 3", 4, MQTT_ERR_FLAGS, 0x63, 0x02, 0x00, 0x01),
	WIRE("SUBSCRIBE flags 0", 4, MQTT_ERR_FLAGS, PKT(0x80, 0, 1, 0, 1, 'a', 0)),
	WIRE("SUBSCRIBE flags 3", 4, MQTT_ERR_FLAGS, PKT(0x83, 0, 1, 0, 1, 'a', 0)),
	WIRE("UNSUBSCRIBE flags 0", 4, MQTT_ERR_FLAGS, PKT(0xA0, 0, 1, 0, 1, 'a')),
	WIRE("CONNECT flags 1", 4, MQTT_ERR_FLAGS,
	     PKT(0x11, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 'c')),
	WIRE("CONNECT flags 2 before CONNECT", 0, MQTT_ERR_FLAGS,
	     PKT(0x12, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60, 0, 1, 'c')),
	WIRE("PUBACK flags 2", 4, MQTT_ERR_FLAGS, 0x42, 0x02, 0x00, 0x01),
	WIRE("PINGREQ flags 1", 4, MQTT_ERR_FLAGS, 0xC1, 0x00),
	WIRE("DISCONNECT flags 8", 4, MQTT_ERR_FLAGS, 0xE8, 0x00),
	/* Header problems are reported before the body has arrived. */
	WIRE("PUBREL flags 0, header only", 4, MQTT_ERR_FLAGS, 0x60, 0x02),
	WIRE("type 0, header only", 4, MQTT_ERR_TYPE, 0x00, 0x05),
	/* Level-5 packets that are not well-formed MQTT 5. */
	WIRE("PUBLISH at level 5 without its property length", 5, MQTT_ERR_TRUNCATED,
	     PKT(0x30, 0, 1, 'a')),
	WIRE("PINGREQ at level 5 with a body", 5, MQTT_ERR_TRAILING, 0xC0, 0x01, 0x00),
	WIRE("AUTH at level 5 with a reason code AUTH cannot carry", 5, MQTT_ERR_REASON,
	     0xF0, 0x01, 0x80),
};

static void test_bad_header(void **state)
{
	(void)state;
	check_wire_cases(bad_header, ARRAY_SIZE(bad_header));
}

/* Every wrong flag nibble on every type other than PUBLISH. */
static void test_bad_flags_exhaustive(void **state)
{
	static const uint8_t required[16] = {
		[MQTT_PUBREL] = 2, [MQTT_SUBSCRIBE] = 2, [MQTT_UNSUBSCRIBE] = 2,
	};

	(void)state;
	for (uint8_t type = MQTT_CONNECT; type <= MQTT_DISCONNECT; type++) {
		if (type == MQTT_PUBLISH)
			continue;
		for (uint8_t flags = 0; flags < 16; flags++) {
			/* Remaining length 2 with no body yet, then a body. */
			uint8_t pkt[4] = { (uint8_t)(type << 4 | flags), 2, 0, 1 };
			struct mqtt_packet out;
			long rc;

			if (flags == required[type])
				continue;
			for (size_t len = 2; len <= sizeof(pkt); len += 2) {
				rc = decode_copy(pkt, len, MQTT_LEVEL_311, 0, &out);
				if (rc != MQTT_ERR_FLAGS)
					print_error("%s flags 0x%x: got %ld\n",
						    mqtt_type_name(type), flags, rc);
				assert_int_equal(rc, MQTT_ERR_FLAGS);
			}
		}
	}
}

static const struct wire_case bad_publish[] = {
	WIRE("QoS 3", 4, MQTT_ERR_QOS, PKT(0x36, 0, 1, 'a', 0, 1)),
	WIRE("QoS 3 dup retain", 4, MQTT_ERR_QOS, PKT(0x3F, 0, 1, 'a', 0, 1)),
	WIRE("QoS 0 with DUP", 4, MQTT_ERR_FLAGS, PKT(0x38, 0, 1, 'a')),
	WIRE("QoS 0 with DUP and retain", 4, MQTT_ERR_FLAGS, PKT(0x39, 0, 1, 'a')),
	WIRE("topic +", 4, MQTT_ERR_TOPIC, PKT(0x30, 0, 1, '+')),
	WIRE("topic a/+/b", 4, MQTT_ERR_TOPIC, PKT(0x30, 0, 5, 'a', '/', '+', '/', 'b')),
	WIRE("topic #", 4, MQTT_ERR_TOPIC, PKT(0x30, 0, 1, '#')),
	WIRE("topic a/#", 4, MQTT_ERR_TOPIC, PKT(0x30, 0, 3, 'a', '/', '#')),
	WIRE("topic a+b", 4, MQTT_ERR_TOPIC, PKT(0x30, 0, 3, 'a', '+', 'b')),
	WIRE("topic # at QoS 1", 4, MQTT_ERR_TOPIC, PKT(0x32, 0, 1, '#', 0, 1)),
	WIRE("empty topic", 4, MQTT_ERR_TOPIC, PKT(0x30, 0, 0, 'p')),
	WIRE("empty topic QoS 1", 4, MQTT_ERR_TOPIC, PKT(0x32, 0, 0, 0, 1)),
	WIRE("topic 0xFF", 4, MQTT_ERR_UTF8, PKT(0x30, 0, 1, 0xFF)),
	WIRE("topic with U+0000", 4, MQTT_ERR_UTF8, PKT(0x30, 0, 3, 'a', 0x00, 'b')),
	WIRE("topic with surrogate", 4, MQTT_ERR_UTF8, PKT(0x30, 0, 3, 0xED, 0xA0, 0x80)),
	WIRE("topic overlong /", 4, MQTT_ERR_UTF8, PKT(0x30, 0, 2, 0xC0, 0xAF)),
	WIRE("topic truncated UTF-8", 4, MQTT_ERR_UTF8, PKT(0x30, 0, 2, 'a', 0xE2)),
	WIRE("QoS 1 packet id 0", 4, MQTT_ERR_PACKET_ID, PKT(0x32, 0, 1, 'a', 0, 0)),
	WIRE("QoS 1 dup packet id 0", 4, MQTT_ERR_PACKET_ID, PKT(0x3A, 0, 1, 'a', 0, 0, 'p')),
	WIRE("QoS 2 packet id 0", 4, MQTT_ERR_PACKET_ID, PKT(0x34, 0, 1, 'a', 0, 0)),
	WIRE("QoS 1 no packet id", 4, MQTT_ERR_TRUNCATED, PKT(0x32, 0, 1, 'a')),
	WIRE("QoS 1 half a packet id", 4, MQTT_ERR_TRUNCATED, PKT(0x32, 0, 1, 'a', 0)),
	WIRE("topic past the packet", 4, MQTT_ERR_TRUNCATED, PKT(0x30, 0, 5, 'a', 'b')),
	WIRE("half a topic length", 4, MQTT_ERR_TRUNCATED, PKT(0x30, 0)),
	WIRE("no topic at all", 4, MQTT_ERR_TRUNCATED, 0x30, 0x00),
};

static void test_bad_publish(void **state)
{
	(void)state;
	check_wire_cases(bad_publish, ARRAY_SIZE(bad_publish));
}

static const struct wire_case bad_connect[] = {
	CONNECT4("reserved flag bit 0", MQTT_ERR_CONNECT_FLAGS, 0x03, 0, 1, 'c'),
	CONNECT4("reserved flag bit 0 alone", MQTT_ERR_CONNECT_FLAGS, 0x01, 0, 1, 'c'),
	CONNECT4("will qos 1 without will", MQTT_ERR_CONNECT_FLAGS, 0x0A, 0, 1, 'c'),
	CONNECT4("will qos 2 without will", MQTT_ERR_CONNECT_FLAGS, 0x12, 0, 1, 'c'),
	CONNECT4("will retain without will", MQTT_ERR_CONNECT_FLAGS, 0x22, 0, 1, 'c'),
	CONNECT4("password without username", MQTT_ERR_CONNECT_FLAGS, 0x42, 0, 1, 'c', 0, 1,
		 'p'),
	CONNECT4("will qos 3", MQTT_ERR_QOS, 0x1E, 0, 1, 'c', 0, 1, 't', 0, 1, 'm'),
	CONNECT4("will qos 3 retain", MQTT_ERR_QOS, 0x3E, 0, 1, 'c', 0, 1, 't', 0, 1, 'm'),
	CONNECT4("client id U+0000", MQTT_ERR_UTF8, 0x02, 0, 1, 0x00),
	CONNECT4("client id 0xFF", MQTT_ERR_UTF8, 0x02, 0, 2, 'c', 0xFF),
	CONNECT4("client id surrogate", MQTT_ERR_UTF8, 0x02, 0, 3, 0xED, 0xA0, 0x80),
	CONNECT4("client id overlong NUL", MQTT_ERR_UTF8, 0x02, 0, 2, 0xC0, 0x80),
	CONNECT4("client id past the packet", MQTT_ERR_TRUNCATED, 0x02, 0, 5, 'c'),
	CONNECT4("half a client id length", MQTT_ERR_TRUNCATED, 0x02, 0),
	CONNECT4("no will topic", MQTT_ERR_TRUNCATED, 0x06, 0, 1, 'c'),
	CONNECT4("no will payload", MQTT_ERR_TRUNCATED, 0x06, 0, 1, 'c', 0, 1, 't'),
	CONNECT4("will payload past the packet", MQTT_ERR_TRUNCATED, 0x06, 0, 1, 'c', 0, 1, 't',
		 0, 4, 'm'),
	CONNECT4("will topic a/+", MQTT_ERR_TOPIC, 0x06, 0, 1, 'c', 0, 3, 'a', '/', '+', 0, 0),
	CONNECT4("will topic #", MQTT_ERR_TOPIC, 0x06, 0, 1, 'c', 0, 1, '#', 0, 0),
	CONNECT4("empty will topic", MQTT_ERR_TOPIC, 0x06, 0, 1, 'c', 0, 0, 0, 0),
	CONNECT4("will topic 0xFF", MQTT_ERR_UTF8, 0x06, 0, 1, 'c', 0, 1, 0xFF, 0, 0),
	CONNECT4("no username", MQTT_ERR_TRUNCATED, 0x82, 0, 1, 'c'),
	CONNECT4("username 0xFF", MQTT_ERR_UTF8, 0x82, 0, 1, 'c', 0, 1, 0xFF),
	CONNECT4("no password", MQTT_ERR_TRUNCATED, 0xC2, 0, 1, 'c', 0, 1, 'u'),
	CONNECT4("password past the packet", MQTT_ERR_TRUNCATED, 0xC2, 0, 1, 'c', 0, 1, 'u', 0,
		 2, 'p'),
	CONNECT4("byte after client id", MQTT_ERR_TRAILING, 0x02, 0, 1, 'c', 'x'),
	CONNECT4("byte after password", MQTT_ERR_TRAILING, 0xC2, 0, 1, 'c', 0, 1, 'u', 0, 1,
		 'p', 0),
	WIRE("no client id", 4, MQTT_ERR_TRUNCATED,
	     PKT(0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0, 60)),
	WIRE("half a keepalive", 4, MQTT_ERR_TRUNCATED,
	     PKT(0x10, 0, 4, 'M', 'Q', 'T', 'T', 4, 2, 0)),
	WIRE("no flags", 4, MQTT_ERR_TRUNCATED, PKT(0x10, 0, 4, 'M', 'Q', 'T', 'T', 4)),
	WIRE("no level", 4, MQTT_ERR_TRUNCATED, PKT(0x10, 0, 4, 'M', 'Q', 'T', 'T')),
	WIRE("protocol name past the packet", 4, MQTT_ERR_TRUNCATED, PKT(0x10, 0, 4, 'M')),
	WIRE("empty body", 0, MQTT_ERR_TRUNCATED, 0x10, 0x00),
	WIRE("protocol XYZ", 4, MQTT_ERR_PROTOCOL_NAME,
	     PKT(0x10, 0, 3, 'X', 'Y', 'Z', 4, 2, 0, 60, 0, 1, 'c')),
	WIRE("protocol mqtt", 0, MQTT_ERR_PROTOCOL_NAME,
	     PKT(0x10, 0, 4, 'm', 'q', 't', 't', 4, 2, 0, 60, 0, 1, 'c')),
	WIRE("empty protocol name", 0, MQTT_ERR_PROTOCOL_NAME,
	     PKT(0x10, 0, 0, 4, 2, 0, 60, 0, 1, 'c')),
	WIRE("MQTT level 5 with an unknown property", 0, MQTT_ERR_PROP_UNKNOWN,
	     PKT(0x10, 0, 4, 'M', 'Q', 'T', 'T', 5, 2, 0, 60, 2, 0x7F, 0, 0, 1, 'c')),
	WIRE("MQTT level 6", 0, MQTT_ERR_UNSUPPORTED,
	     PKT(0x10, 0, 4, 'M', 'Q', 'T', 'T', 6, 2, 0, 60, 0, 1, 'c')),
	WIRE("MQTT level 3", 0, MQTT_ERR_UNSUPPORTED,
	     PKT(0x10, 0, 4, 'M', 'Q', 'T', 'T', 3, 2, 0, 60, 0, 1, 'c')),
	WIRE("MQIsdp level 4", 0, MQTT_ERR_UNSUPPORTED,
	     PKT(0x10, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 4, 2, 0, 60, 0, 1, 'c')),
	WIRE("MQIsdp level 5", 0, MQTT_ERR_UNSUPPORTED,
	     PKT(0x10, 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 5, 2, 0, 60, 0, 1, 'c')),
};

static void test_bad_connect(void **state)
{
	(void)state;
	check_wire_cases(bad_connect, ARRAY_SIZE(bad_connect));
}

static const struct wire_case bad_ack[] = {
	WIRE("PUBACK id 0", 4, MQTT_ERR_PACKET_ID, PKT(0x40, 0, 0)),
	WIRE("PUBREC id 0", 4, MQTT_ERR_PACKET_ID, PKT(0x50, 0, 0)),
	WIRE("PUBREL id 0", 4, MQTT_ERR_PACKET_ID, PKT(0x62, 0, 0)),
	WIRE("PUBCOMP id 0", 4, MQTT_ERR_PACKET_ID, PKT(0x70, 0, 0)),
	WIRE("UNSUBACK id 0", 4, MQTT_ERR_PACKET_ID, PKT(0xB0, 0, 0)),
	WIRE("PUBACK empty", 4, MQTT_ERR_TRUNCATED, 0x40, 0x00),
	WIRE("PUBACK half an id", 4, MQTT_ERR_TRUNCATED, PKT(0x40, 1)),
	WIRE("PUBACK trailing byte", 4, MQTT_ERR_TRAILING, PKT(0x40, 0, 1, 0)),
	WIRE("PUBREC trailing byte", 4, MQTT_ERR_TRAILING, PKT(0x50, 0, 1, 0)),
	WIRE("PUBREL trailing byte", 4, MQTT_ERR_TRAILING, PKT(0x62, 0, 1, 0)),
	WIRE("PUBCOMP trailing bytes", 4, MQTT_ERR_TRAILING, PKT(0x70, 0, 1, 0, 2)),
	WIRE("UNSUBACK trailing byte", 4, MQTT_ERR_TRAILING, PKT(0xB0, 0, 1, 0)),
	WIRE("CONNACK trailing byte", 4, MQTT_ERR_TRAILING, PKT(0x20, 0, 0, 0)),
	WIRE("CONNACK one byte", 4, MQTT_ERR_TRUNCATED, PKT(0x20, 0)),
	WIRE("CONNACK empty", 4, MQTT_ERR_TRUNCATED, 0x20, 0x00),
	WIRE("CONNACK reserved ack flag", 4, MQTT_ERR_FLAGS, PKT(0x20, 0x02, 0)),
	WIRE("CONNACK reserved ack flag 7", 4, MQTT_ERR_FLAGS, PKT(0x20, 0x80, 0)),
	WIRE("PINGREQ with a body", 4, MQTT_ERR_TRAILING, PKT(0xC0, 0)),
	WIRE("PINGRESP with a body", 4, MQTT_ERR_TRAILING, PKT(0xD0, 0, 0)),
	WIRE("DISCONNECT with a body", 4, MQTT_ERR_TRAILING, PKT(0xE0, 0)),
	WIRE("SUBACK reserved return code", 4, MQTT_ERR_REASON, PKT(0x90, 0, 1, 0x03)),
};

static void test_bad_ack(void **state)
{
	(void)state;
	check_wire_cases(bad_ack, ARRAY_SIZE(bad_ack));
}

static const struct wire_case bad_subscribe[] = {
	WIRE("SUBSCRIBE id 0", 4, MQTT_ERR_PACKET_ID, PKT(0x82, 0, 0, 0, 1, 'a', 0)),
	WIRE("SUBSCRIBE no filters", 4, MQTT_ERR_EMPTY, PKT(0x82, 0, 1)),
	WIRE("SUBSCRIBE half an id", 4, MQTT_ERR_TRUNCATED, PKT(0x82, 0)),
	WIRE("SUBSCRIBE options 0x04", 4, MQTT_ERR_SUB_OPTIONS, PKT(0x82, 0, 1, 0, 1, 'a', 0x04)),
	WIRE("SUBSCRIBE options 0x80", 4, MQTT_ERR_SUB_OPTIONS, PKT(0x82, 0, 1, 0, 1, 'a', 0x80)),
	WIRE("SUBSCRIBE options 0xFC", 4, MQTT_ERR_SUB_OPTIONS, PKT(0x82, 0, 1, 0, 1, 'a', 0xFC)),
	WIRE("SUBSCRIBE 2nd options 0x41", 4, MQTT_ERR_SUB_OPTIONS,
	     PKT(0x82, 0, 1, 0, 1, 'a', 1, 0, 1, 'b', 0x41)),
	WIRE("SUBSCRIBE qos 3", 4, MQTT_ERR_QOS, PKT(0x82, 0, 1, 0, 1, 'a', 0x03)),
	WIRE("SUBSCRIBE 2nd qos 3", 4, MQTT_ERR_QOS,
	     PKT(0x82, 0, 1, 0, 1, 'a', 2, 0, 1, 'b', 0x03)),
	WIRE("SUBSCRIBE no options byte", 4, MQTT_ERR_TRUNCATED, PKT(0x82, 0, 1, 0, 1, 'a')),
	WIRE("SUBSCRIBE filter past the packet", 4, MQTT_ERR_TRUNCATED,
	     PKT(0x82, 0, 1, 0, 9, 'a', 0)),
	WIRE("SUBSCRIBE half a 2nd length", 4, MQTT_ERR_TRUNCATED,
	     PKT(0x82, 0, 1, 0, 1, 'a', 0, 0)),
	WIRE("SUBSCRIBE filter 0xFF", 4, MQTT_ERR_UTF8, PKT(0x82, 0, 1, 0, 1, 0xFF, 0)),
	WIRE("SUBSCRIBE filter U+0000", 4, MQTT_ERR_UTF8, PKT(0x82, 0, 1, 0, 2, 'a', 0, 0)),
	WIRE("UNSUBSCRIBE id 0", 4, MQTT_ERR_PACKET_ID, PKT(0xA2, 0, 0, 0, 1, 'a')),
	WIRE("UNSUBSCRIBE no filters", 4, MQTT_ERR_EMPTY, PKT(0xA2, 0, 1)),
	WIRE("UNSUBSCRIBE filter 0xFF", 4, MQTT_ERR_UTF8, PKT(0xA2, 0, 1, 0, 1, 0xFF)),
	WIRE("UNSUBSCRIBE surrogate", 4, MQTT_ERR_UTF8, PKT(0xA2, 0, 1, 0, 3, 0xED, 0xB0, 0x80)),
	WIRE("UNSUBSCRIBE filter past the packet", 4, MQTT_ERR_TRUNCATED,
	     PKT(0xA2, 0, 1, 0, 3, 'a')),
	WIRE("UNSUBSCRIBE stray byte", 4, MQTT_ERR_TRUNCATED, PKT(0xA2, 0, 1, 0, 1, 'a', 0)),
};

static void test_bad_subscribe(void **state)
{
	(void)state;
	check_wire_cases(bad_subscribe, ARRAY_SIZE(bad_subscribe));
}

/* ---- framing and limits ---- */

static void test_frame(void **state)
{
	static const uint8_t pkt[] = { 0x3B, 0x80, 0x01 };
	struct mqtt_header h;

	(void)state;
	assert_int_equal(mqtt_frame(pkt, 0, 0, &h), MQTT_ERR_NEED_MORE);
	assert_int_equal(mqtt_frame(pkt, 1, 0, &h), MQTT_ERR_NEED_MORE);
	assert_int_equal(mqtt_frame(pkt, 2, 0, &h), MQTT_ERR_NEED_MORE);
	assert_int_equal(mqtt_frame(pkt, 3, 0, &h), 3 + 128);
	assert_int_equal(h.type, MQTT_PUBLISH);
	assert_int_equal(h.flags, 0x0B);
	assert_int_equal(h.remaining, 128);
	assert_int_equal(h.header_len, 3);
}

struct limit_case {
	const uint8_t *header;
	size_t len;
	uint32_t total; /* header + remaining */
};

#define LIMIT(total, ...) \
	{ (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), total }

static void test_max_packet(void **state)
{
	const struct limit_case cases[] = {
		LIMIT(2 + 127, 0x30, 0x7F),
		LIMIT(3 + 128, 0x30, 0x80, 0x01),
		LIMIT(3 + 16383, 0x82, 0xFF, 0x7F),
		LIMIT(4 + 16384, 0x30, 0x80, 0x80, 0x01),
		LIMIT(5 + 2097152, 0x10, 0x80, 0x80, 0x80, 0x01),
		LIMIT(5 + MQTT_MAX_REMAINING, 0x30, 0xFF, 0xFF, 0xFF, 0x7F),
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct limit_case *c = &cases[i];
		uint8_t *hdr = copy_of(c->header, c->len);
		struct mqtt_header h;
		struct mqtt_packet out;

		/* Only the fixed header is here, and that is enough to refuse. */
		assert_int_equal(mqtt_frame(hdr, c->len, c->total - 1, &h), MQTT_ERR_TOO_LARGE);
		assert_int_equal(mqtt_decode(hdr, c->len, MQTT_LEVEL_311, c->total - 1, &out),
				 MQTT_ERR_TOO_LARGE);
		assert_int_equal(mqtt_decode(hdr, c->len, MQTT_LEVEL_311, 100, &out),
				 MQTT_ERR_TOO_LARGE);
		/* At the limit, or without one, the body is still to come. */
		assert_int_equal(mqtt_frame(hdr, c->len, c->total, &h), (long)c->total);
		assert_int_equal(h.header_len, c->len);
		assert_int_equal(mqtt_frame(hdr, c->len, 0, &h), (long)c->total);
		assert_int_equal(mqtt_decode(hdr, c->len, MQTT_LEVEL_311, c->total, &out),
				 MQTT_ERR_NEED_MORE);
		assert_int_equal(mqtt_decode(hdr, c->len, MQTT_LEVEL_311, 0, &out),
				 MQTT_ERR_NEED_MORE);
		free(hdr);
	}
}

/* ---- helpers around the codec ---- */

static void test_connect_peek_level(void **state)
{
	static const uint8_t v5[] = { 0x10, 0x0E, 0, 4, 'M', 'Q', 'T', 'T', 5, 0x02, 0, 60,
				      0x00, 0, 1, 'c' };
	static const uint8_t v31[] = { 0, 6, 'M', 'Q', 'I', 's', 'd', 'p', 3 };
	static const uint8_t v4[] = { 0, 4, 'M', 'Q', 'T', 'T', 4, 0x02, 0, 60 };
	static const uint8_t xyz[] = { 0, 3, 'X', 'Y', 'Z', 4 };
	static const uint8_t mqisdpx[] = { 0, 7, 'M', 'Q', 'I', 's', 'd', 'p', 'x', 3 };
	struct mqtt_header h;
	struct mqtt_packet out;
	uint8_t level = 0;

	(void)state;
	/* A level-5 CONNECT (empty properties): the full decode accepts it, the
	 * peek reads the level. */
	assert_int_equal(mqtt_frame(v5, sizeof(v5), 0, &h), sizeof(v5));
	assert_int_equal(mqtt_decode(v5, sizeof(v5), 0, 0, &out), sizeof(v5));
	assert_int_equal(out.u.connect.level, 5);
	assert_int_equal(mqtt_connect_peek_level(v5 + h.header_len, h.remaining, &level), 0);
	assert_int_equal(level, 5);

	assert_int_equal(mqtt_connect_peek_level(v31, sizeof(v31), &level), 0);
	assert_int_equal(level, 3);
	assert_int_equal(mqtt_connect_peek_level(v4, sizeof(v4), &level), 0);
	assert_int_equal(level, 4);

	level = 99;
	assert_int_equal(mqtt_connect_peek_level(xyz, sizeof(xyz), &level),
			 MQTT_ERR_PROTOCOL_NAME);
	assert_int_equal(mqtt_connect_peek_level(mqisdpx, sizeof(mqisdpx), &level),
			 MQTT_ERR_PROTOCOL_NAME);
	assert_int_equal(level, 99);

	/* Every truncation of a good body. */
	for (size_t k = 0; k < sizeof(v31); k++) {
		uint8_t *c = copy_of(v31, k);

		assert_int_equal(mqtt_connect_peek_level(c, k, &level), MQTT_ERR_TRUNCATED);
		free(c);
	}
	assert_int_equal(level, 99);
}

static void test_topic_list_next(void **state)
{
	static const uint8_t sub[] = {
		PKT(0x82, 0x00, 0x05, 0, 3, 'a', '/', 'b', 0, 0, 1, '#', 1, 0, 6, '$', 'S', 'Y',
		    'S', '/', '+', 2, 0, 2, 0xC3, 0xA9, 1),
	};
	static const uint8_t unsub[] = {
		PKT(0xA2, 0x00, 0x06, 0, 3, 'a', '/', 'b', 0, 1, '#'),
	};
	static const struct {
		const char *filter;
		uint8_t qos;
	} want[] = { { "a/b", 0 }, { "#", 1 }, { "$SYS/+", 2 }, { "\xc3\xa9", 1 } };
	struct mqtt_packet out;
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	uint8_t qos;
	size_t i;

	(void)state;
	assert_int_equal(mqtt_decode(sub, sizeof(sub), 4, 0, &out), sizeof(sub));
	assert_int_equal(out.u.subscribe.packet_id, 5);
	assert_int_equal(out.u.subscribe.filters.count, ARRAY_SIZE(want));
	assert_true(out.u.subscribe.filters.with_options);
	it.list = &out.u.subscribe.filters;
	it.pos = 0;
	for (i = 0; mqtt_topic_list_next(&it, &f, &qos); i++) {
		assert_true(i < ARRAY_SIZE(want));
		assert_str_equal(str(want[i].filter), f);
		assert_int_equal(qos, want[i].qos);
	}
	assert_int_equal(i, ARRAY_SIZE(want));
	assert_false(mqtt_topic_list_next(&it, &f, &qos));

	assert_int_equal(mqtt_decode(unsub, sizeof(unsub), 4, 0, &out), sizeof(unsub));
	assert_int_equal(out.u.unsubscribe.packet_id, 6);
	assert_int_equal(out.u.unsubscribe.filters.count, 2);
	assert_false(out.u.unsubscribe.filters.with_options);
	it.list = &out.u.unsubscribe.filters;
	it.pos = 0;
	qos = 7;
	assert_true(mqtt_topic_list_next(&it, &f, &qos));
	assert_str_equal(str("a/b"), f);
	assert_int_equal(qos, 0);
	qos = 7;
	assert_true(mqtt_topic_list_next(&it, &f, &qos));
	assert_str_equal(str("#"), f);
	assert_int_equal(qos, 0);
	assert_false(mqtt_topic_list_next(&it, &f, &qos));
	assert_false(mqtt_topic_list_next(&it, &f, &qos));
}

struct varint_case {
	uint32_t value;
	uint8_t bytes[4];
	int len;
};

static void test_varint_boundaries(void **state)
{
	static const struct varint_case cases[] = {
		{ 0, { 0x00 }, 1 },
		{ 1, { 0x01 }, 1 },
		{ 127, { 0x7F }, 1 },
		{ 128, { 0x80, 0x01 }, 2 },
		{ 16383, { 0xFF, 0x7F }, 2 },
		{ 16384, { 0x80, 0x80, 0x01 }, 3 },
		{ 2097151, { 0xFF, 0xFF, 0x7F }, 3 },
		{ 2097152, { 0x80, 0x80, 0x80, 0x01 }, 4 },
		{ 268435455, { 0xFF, 0xFF, 0xFF, 0x7F }, 4 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct varint_case *c = &cases[i];
		uint8_t out[4] = { 0 };
		uint8_t longer[5];
		uint32_t v = 0xDEADBEEF;
		uint8_t *exact;

		assert_int_equal(mqtt_varint_size(c->value), c->len);
		assert_int_equal(mqtt_varint_encode(c->value, out), c->len);
		assert_memory_equal(out, c->bytes, (size_t)c->len);

		exact = copy_of(c->bytes, (size_t)c->len);
		assert_int_equal(mqtt_varint_decode(exact, (size_t)c->len, &v), c->len);
		assert_int_equal(v, c->value);
		for (int k = 0; k < c->len; k++)
			assert_int_equal(mqtt_varint_decode(exact, (size_t)k, &v),
					 MQTT_ERR_NEED_MORE);
		free(exact);

		/* A following byte is not part of the integer. */
		memcpy(longer, c->bytes, (size_t)c->len);
		longer[c->len] = 0xFF;
		assert_int_equal(mqtt_varint_decode(longer, (size_t)c->len + 1, &v), c->len);
		assert_int_equal(v, c->value);
	}
}

static void test_varint_malformed(void **state)
{
	static const uint8_t four[] = { 0x80, 0x80, 0x80, 0x80 };
	static const uint8_t five[] = { 0xFF, 0xFF, 0xFF, 0xFF, 0x7F };
	uint32_t v;

	(void)state;
	assert_int_equal(mqtt_varint_decode(four, sizeof(four), &v), MQTT_ERR_REMAINING_LENGTH);
	assert_int_equal(mqtt_varint_decode(five, sizeof(five), &v), MQTT_ERR_REMAINING_LENGTH);
	assert_int_equal(mqtt_varint_decode(four, 3, &v), MQTT_ERR_NEED_MORE);
}

/* ---- encoder edges ---- */

static void test_encode_nospace(void **state)
{
	uint8_t buf[64];
	struct mqtt_packet p;
	long size;

	(void)state;
	p = make_connect("MQTT", MQTT_LEVEL_311, "client-1");
	size = mqtt_encoded_size(&p, MQTT_LEVEL_311);
	assert_int_equal(size, 22);
	for (size_t cap = 0; cap < (size_t)size; cap++)
		assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, cap), MQTT_ERR_NOSPACE);
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, (size_t)size), size);

	memset(&p, 0, sizeof(p));
	p.type = MQTT_PINGREQ;
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, 1), MQTT_ERR_NOSPACE);
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, 0), MQTT_ERR_NOSPACE);
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, 2), 2);
}

static void test_encode_invalid(void **state)
{
	uint8_t buf[64];
	struct mqtt_packet p;

	(void)state;
	p = make_publish(3, false, false, "a", 1, "x", 1);
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf)), MQTT_ERR_INVALID);
	p = make_publish(1, false, false, "a", 0, "x", 1);
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf)), MQTT_ERR_INVALID);
	/* Larger than the remaining length can express. */
	p = make_publish(0, false, false, "a", 0, buf, MQTT_MAX_REMAINING);
	assert_int_equal(mqtt_encoded_size(&p, MQTT_LEVEL_311), MQTT_ERR_INVALID);
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf)), MQTT_ERR_INVALID);
	/* The largest that fits: 2 + 1 + payload = MQTT_MAX_REMAINING. */
	p.u.publish.payload_len = MQTT_MAX_REMAINING - 3;
	assert_int_equal(mqtt_encoded_size(&p, MQTT_LEVEL_311), 5 + (long)MQTT_MAX_REMAINING);

	p = make_connect("MQTT", MQTT_LEVEL_311, "c");
	p.u.connect.will = true;
	p.u.connect.will_qos = 3;
	p.u.connect.will_topic = str("w");
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf)), MQTT_ERR_INVALID);
	p.u.connect.will = false;
	p.u.connect.will_qos = 1;
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf)), MQTT_ERR_INVALID);

	memset(&p, 0, sizeof(p));
	p.type = 0;
	assert_int_equal(mqtt_encoded_size(&p, MQTT_LEVEL_311), MQTT_ERR_INVALID);
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf)), MQTT_ERR_INVALID);
	p.type = MQTT_AUTH;
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf)), MQTT_ERR_INVALID);
}

/* Count a failure unless the encoder refuses p. */
static int expect_refused(const char *name, const struct mqtt_packet *p)
{
	uint8_t buf[64];
	struct mqtt_packet out;
	long rc = mqtt_encode(p, MQTT_LEVEL_311, buf, sizeof(buf));

	if (rc == MQTT_ERR_INVALID)
		return 0;
	print_error("%s: mqtt_encode gave %ld, want MQTT_ERR_INVALID (mqtt_decode of it: %ld)\n",
		    name, rc, rc > 0 ? mqtt_decode(buf, (size_t)rc, MQTT_LEVEL_311, 0, &out) : 0);
	return 1;
}

/*
 * Packets the spec forbids a sender to produce, and which mqtt_decode itself
 * refuses, must not come out of the encoder either: MQTT_ERR_INVALID, as
 * for a will QoS without a will or QoS 1 without a packet id.
 */
static void test_encode_refuses_illegal(void **state)
{
	static const uint8_t sub_list[] = { 0, 1, 'a', 0 };
	static const uint8_t unsub_list[] = { 0, 1, 'a' };
	struct mqtt_packet p;
	uint8_t buf[64];
	int failed = 0;

	(void)state;
	p = make_connect("MQTT", MQTT_LEVEL_311, "c");
	p.u.connect.will_retain = true;
	failed += expect_refused("CONNECT will retain without will [MQTT-3.1.2-15]", &p);

	p = make_connect("MQTT", MQTT_LEVEL_311, "c");
	p.u.connect.has_password = true;
	p.u.connect.password = str("p");
	failed += expect_refused("CONNECT password without user name [MQTT-3.1.2-22]", &p);

	p = make_publish(0, true, false, "a", 0, "x", 1);
	failed += expect_refused("PUBLISH QoS 0 with DUP [MQTT-3.3.1-2]", &p);
	if (mqtt_encode_publish_header(&p.u.publish, MQTT_LEVEL_311, buf, sizeof(buf)) !=
	    MQTT_ERR_INVALID) {
		print_error("mqtt_encode_publish_header QoS 0 with DUP: not refused\n");
		failed++;
	}

	memset(&p, 0, sizeof(p));
	p.type = MQTT_SUBSCRIBE;
	p.u.subscribe.filters = (struct mqtt_topic_list){ sub_list, sizeof(sub_list), 1, true };
	failed += expect_refused("SUBSCRIBE packet id 0 [MQTT-2.3.1-1]", &p);
	p.u.subscribe.packet_id = 1;
	p.u.subscribe.filters = (struct mqtt_topic_list){ sub_list, 0, 0, true };
	failed += expect_refused("SUBSCRIBE without filters [MQTT-3.8.3-3]", &p);

	memset(&p, 0, sizeof(p));
	p.type = MQTT_UNSUBSCRIBE;
	p.u.unsubscribe.filters =
		(struct mqtt_topic_list){ unsub_list, sizeof(unsub_list), 1, false };
	failed += expect_refused("UNSUBSCRIBE packet id 0 [MQTT-2.3.1-1]", &p);
	p.u.unsubscribe.packet_id = 1;
	p.u.unsubscribe.filters = (struct mqtt_topic_list){ unsub_list, 0, 0, false };
	failed += expect_refused("UNSUBSCRIBE without filters [MQTT-3.10.3-2]", &p);

	memset(&p, 0, sizeof(p));
	p.type = MQTT_PUBACK;
	failed += expect_refused("PUBACK packet id 0", &p);

	assert_int_equal(failed, 0);
}

/* A SUBACK echoes its SUBSCRIBE's non-zero id [MQTT-2.3.1-1, MQTT-3.8.4-2]:
 * refused like a PUBACK or UNSUBACK with id 0. */
static void test_decode_suback_packet_id_zero(void **state)
{
	static const uint8_t suback[] = { 0x90, 0x03, 0x00, 0x00, 0x01 };
	struct mqtt_packet out;

	(void)state;
	assert_int_equal(decode_copy(suback, sizeof(suback), MQTT_LEVEL_311, 0, &out),
			 MQTT_ERR_PACKET_ID);
}

/* Header + payload written separately equals the packet written whole. */
static void test_publish_header(void **state)
{
	static const uint32_t lens[] = { 0, 1, 5, 300, 200000 };
	uint8_t *payload = malloc(200000);
	uint8_t *full = malloc(200100);
	uint8_t head[32];

	(void)state;
	assert_non_null(payload);
	assert_non_null(full);
	for (uint32_t i = 0; i < 200000; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));

	for (uint8_t qos = 0; qos <= 2; qos++) {
		for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
			struct mqtt_packet p = make_publish(qos, qos > 0, true, "x/y/z",
							    qos ? 4242 : 0, payload, lens[i]);
			long n = mqtt_encode(&p, MQTT_LEVEL_311, full, 200100);
			long hn;

			assert_true(n > 0);
			/* The payload pointer is not read. */
			p.u.publish.payload = NULL;
			hn = mqtt_encode_publish_header(&p.u.publish, MQTT_LEVEL_311, head,
							sizeof(head));
			assert_int_equal(hn + (long)lens[i], n);
			assert_memory_equal(head, full, (size_t)hn);
			if (lens[i])
				assert_memory_equal(full + hn, payload, lens[i]);
			assert_int_equal(mqtt_encode_publish_header(&p.u.publish, MQTT_LEVEL_311,
								    head, (size_t)hn - 1),
					 MQTT_ERR_NOSPACE);
		}
	}

	{
		struct mqtt_packet p = make_publish(3, false, false, "a", 1, NULL, 0);

		assert_int_equal(mqtt_encode_publish_header(&p.u.publish, 4, head, sizeof(head)),
				 MQTT_ERR_INVALID);
		p.u.publish.qos = 1;
		p.u.publish.packet_id = 0;
		assert_int_equal(mqtt_encode_publish_header(&p.u.publish, 4, head, sizeof(head)),
				 MQTT_ERR_INVALID);
		p.u.publish.qos = 0;
		p.u.publish.payload_len = MQTT_MAX_REMAINING;
		assert_int_equal(mqtt_encode_publish_header(&p.u.publish, 4, head, sizeof(head)),
				 MQTT_ERR_INVALID);
	}
	free(full);
	free(payload);
}

/* ---- names ---- */

static void test_strerror(void **state)
{
	const char *seen[-MQTT_ERR_UTF8_CHARS + 1];

	(void)state;
	for (int err = MQTT_OK; err >= MQTT_ERR_UTF8_CHARS; err--) {
		const char *s = mqtt_strerror(err);

		assert_non_null(s);
		assert_true(s[0] != '\0');
		assert_string_not_equal(s, "unknown error");
		for (int k = 0; k < -err; k++)
			assert_string_not_equal(s, seen[k]);
		seen[-err] = s;
	}
	assert_string_equal(mqtt_strerror(1), "unknown error");
	assert_string_equal(mqtt_strerror(MQTT_ERR_UTF8_CHARS - 1), "unknown error");
	assert_string_equal(mqtt_strerror(-1000), "unknown error");
}

static void test_type_name(void **state)
{
	static const char *const names[] = {
		"RESERVED", "CONNECT", "CONNACK", "PUBLISH", "PUBACK", "PUBREC",
		"PUBREL", "PUBCOMP", "SUBSCRIBE", "SUBACK", "UNSUBSCRIBE", "UNSUBACK",
		"PINGREQ", "PINGRESP", "DISCONNECT", "AUTH",
	};

	(void)state;
	for (int t = 0; t < 16; t++)
		assert_string_equal(mqtt_type_name(t), names[t]);
	assert_string_equal(mqtt_type_name(MQTT_CONNECT), "CONNECT");
	assert_string_equal(mqtt_type_name(MQTT_DISCONNECT), "DISCONNECT");
	assert_string_equal(mqtt_type_name(-1), "INVALID");
	assert_string_equal(mqtt_type_name(16), "INVALID");
	assert_string_equal(mqtt_type_name(255), "INVALID");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_connect),
		cmocka_unit_test(test_roundtrip_connack),
		cmocka_unit_test(test_roundtrip_publish),
		cmocka_unit_test(test_roundtrip_publish_large),
		cmocka_unit_test(test_roundtrip_acks),
		cmocka_unit_test(test_roundtrip_subscribe),
		cmocka_unit_test(test_roundtrip_unsubscribe),
		cmocka_unit_test(test_roundtrip_suback),
		cmocka_unit_test(test_roundtrip_no_body),
		cmocka_unit_test(test_golden_packets),
		cmocka_unit_test(test_decode_connect_fields),
		cmocka_unit_test(test_decode_publish_fields),
		cmocka_unit_test(test_decode_stream),
		cmocka_unit_test(test_bad_header),
		cmocka_unit_test(test_bad_flags_exhaustive),
		cmocka_unit_test(test_bad_publish),
		cmocka_unit_test(test_bad_connect),
		cmocka_unit_test(test_bad_ack),
		cmocka_unit_test(test_bad_subscribe),
		cmocka_unit_test(test_frame),
		cmocka_unit_test(test_max_packet),
		cmocka_unit_test(test_connect_peek_level),
		cmocka_unit_test(test_topic_list_next),
		cmocka_unit_test(test_varint_boundaries),
		cmocka_unit_test(test_varint_malformed),
		cmocka_unit_test(test_encode_nospace),
		cmocka_unit_test(test_encode_invalid),
		cmocka_unit_test(test_encode_refuses_illegal),
		cmocka_unit_test(test_decode_suback_packet_id_zero),
		cmocka_unit_test(test_publish_header),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_type_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
