/*
 * test_codec5.c - the MQTT 5.0 part of the codec: property blocks
 * (OASIS MQTT 5.0, section 2.2.2) and whole packets at protocol level 5
 * (chapter 3).
 *
 * Expectations come from the standard, not from props.c: the table of where
 * each property may appear is written out again here from section 2.2.2.2.
 * Blocks and packets are decoded from heap copies of exactly their length,
 * so a read past the end is an AddressSanitizer error rather than a pass.
 */
#include "helpers.h"

#include "mqtt/mqtt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

static uint8_t *copy_of(const uint8_t *buf, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	assert_non_null(c);
	if (len)
		memcpy(c, buf, len);
	return c;
}

/* Decode `len` bytes of a whole block (length varint included) from an
 * exact-size copy. The decoded struct must not be used afterwards beyond its
 * integer fields, since it points into the freed copy. */
static long props_copy(const uint8_t *block, size_t len, int where, struct mqtt_props *out)
{
	uint8_t *c = copy_of(block, len);
	long rc = mqtt_props_decode(c, len, where, out);

	free(c);
	return rc;
}

/* Prefix body (the properties) with its length varint into out. */
static size_t make_block(const uint8_t *body, size_t blen, uint8_t *out, size_t cap)
{
	int n;

	assert_true(blen + 4 <= cap);
	n = mqtt_varint_encode((uint32_t)blen, out);
	if (blen)
		memcpy(out + n, body, blen);
	return (size_t)n + blen;
}

/* Decode a property body (without its length) given as bytes. */
static long props_body(const uint8_t *body, size_t blen, int where, struct mqtt_props *out)
{
	uint8_t block[512];
	size_t n = make_block(body, blen, block, sizeof(block));

	return props_copy(block, n, where, out);
}

static long decode_copy(const uint8_t *buf, size_t len, uint8_t level, struct mqtt_packet *out)
{
	uint8_t *c = copy_of(buf, len);
	long rc = mqtt_decode(c, len, level, 0, out);

	free(c);
	return rc;
}

static struct mqtt_str str(const char *s)
{
	struct mqtt_str r = { (const uint8_t *)s, (uint16_t)strlen(s) };
	return r;
}

static struct mqtt_props_str pstr(const char *s)
{
	struct mqtt_props_str r = { (const uint8_t *)s, (uint16_t)strlen(s) };
	return r;
}

static void assert_pstr(struct mqtt_props_str got, const void *want, size_t len)
{
	assert_int_equal(got.len, len);
	if (len)
		assert_memory_equal(got.data, want, len);
}

static void assert_mstr(struct mqtt_str got, const char *want)
{
	assert_int_equal(got.len, strlen(want));
	if (got.len)
		assert_memory_equal(got.data, want, got.len);
}

/* ---- the spec's property table [MQTT 5.0, 2.2.2.2] ---- */

#define WB(t) (1u << (t))
#define SPEC_ACKS (WB(MQTT_PUBACK) | WB(MQTT_PUBREC) | WB(MQTT_PUBREL) | WB(MQTT_PUBCOMP))
#define SPEC_MSG (WB(MQTT_PUBLISH) | WB(MQTT_PROPS_WILL))

enum kind { K_INT, K_STR };

struct prop_case {
	uint8_t id;
	uint32_t allowed;    /* where the standard allows it */
	int where;           /* one allowed place, used for the valid decoding */
	uint8_t len;         /* bytes of enc, identifier included */
	uint8_t enc[12];
	enum kind kind;
	uint32_t ival;       /* K_INT: the value */
	const char *sval;    /* K_STR: the data */
	uint16_t slen;
	bool boolean;        /* a byte that may only be 0 or 1 */
};

static const struct prop_case cases[] = {
	{ 0x01, SPEC_MSG, MQTT_PUBLISH, 2, { 0x01, 0x01 }, K_INT, 1, NULL, 0, true },
	{ 0x02, SPEC_MSG, MQTT_PROPS_WILL, 5, { 0x02, 0x00, 0x00, 0x01, 0x2C }, K_INT, 300, NULL, 0,
	  false },
	{ 0x03, SPEC_MSG, MQTT_PUBLISH, 5, { 0x03, 0x00, 0x02, 't', 'x' }, K_STR, 0, "tx", 2, false },
	{ 0x08, SPEC_MSG, MQTT_PROPS_WILL, 6, { 0x08, 0x00, 0x03, 'r', '/', 'a' }, K_STR, 0, "r/a", 3,
	  false },
	{ 0x09, SPEC_MSG, MQTT_PUBLISH, 6, { 0x09, 0x00, 0x03, 0x00, 0xFF, 0x01 }, K_STR, 0,
	  "\x00\xFF\x01", 3, false },
	{ 0x0B, WB(MQTT_PUBLISH) | WB(MQTT_SUBSCRIBE), MQTT_SUBSCRIBE, 3, { 0x0B, 0x80, 0x01 }, K_INT,
	  128, NULL, 0, false },
	{ 0x11, WB(MQTT_CONNECT) | WB(MQTT_CONNACK) | WB(MQTT_DISCONNECT), MQTT_DISCONNECT, 5,
	  { 0x11, 0xFF, 0xFF, 0xFF, 0xFF }, K_INT, 0xFFFFFFFFu, NULL, 0, false },
	{ 0x12, WB(MQTT_CONNACK), MQTT_CONNACK, 5, { 0x12, 0x00, 0x02, 'i', 'd' }, K_STR, 0, "id", 2,
	  false },
	{ 0x13, WB(MQTT_CONNACK), MQTT_CONNACK, 3, { 0x13, 0x00, 0x3C }, K_INT, 60, NULL, 0, false },
	{ 0x15, WB(MQTT_CONNECT) | WB(MQTT_CONNACK) | WB(MQTT_AUTH), MQTT_AUTH, 7,
	  { 0x15, 0x00, 0x04, 'S', 'C', 'R', 'M' }, K_STR, 0, "SCRM", 4, false },
	{ 0x16, WB(MQTT_CONNECT) | WB(MQTT_CONNACK) | WB(MQTT_AUTH), MQTT_CONNECT, 5,
	  { 0x16, 0x00, 0x02, 0x01, 0x02 }, K_STR, 0, "\x01\x02", 2, false },
	{ 0x17, WB(MQTT_CONNECT), MQTT_CONNECT, 2, { 0x17, 0x00 }, K_INT, 0, NULL, 0, true },
	{ 0x18, WB(MQTT_PROPS_WILL), MQTT_PROPS_WILL, 5, { 0x18, 0x00, 0x00, 0x00, 0x0A }, K_INT, 10,
	  NULL, 0, false },
	{ 0x19, WB(MQTT_CONNECT), MQTT_CONNECT, 2, { 0x19, 0x01 }, K_INT, 1, NULL, 0, true },
	{ 0x1A, WB(MQTT_CONNACK), MQTT_CONNACK, 4, { 0x1A, 0x00, 0x01, 'x' }, K_STR, 0, "x", 1,
	  false },
	{ 0x1C, WB(MQTT_CONNACK) | WB(MQTT_DISCONNECT), MQTT_DISCONNECT, 6,
	  { 0x1C, 0x00, 0x03, 's', 'r', 'v' }, K_STR, 0, "srv", 3, false },
	{ 0x1F,
	  WB(MQTT_CONNACK) | SPEC_ACKS | WB(MQTT_SUBACK) | WB(MQTT_UNSUBACK) | WB(MQTT_DISCONNECT) |
		  WB(MQTT_AUTH),
	  MQTT_PUBACK, 5, { 0x1F, 0x00, 0x02, 'n', 'o' }, K_STR, 0, "no", 2, false },
	{ 0x21, WB(MQTT_CONNECT) | WB(MQTT_CONNACK), MQTT_CONNECT, 3, { 0x21, 0x00, 0x0A }, K_INT, 10,
	  NULL, 0, false },
	{ 0x22, WB(MQTT_CONNECT) | WB(MQTT_CONNACK), MQTT_CONNACK, 3, { 0x22, 0x00, 0x05 }, K_INT, 5,
	  NULL, 0, false },
	{ 0x23, WB(MQTT_PUBLISH), MQTT_PUBLISH, 3, { 0x23, 0x00, 0x07 }, K_INT, 7, NULL, 0, false },
	{ 0x24, WB(MQTT_CONNACK), MQTT_CONNACK, 2, { 0x24, 0x01 }, K_INT, 1, NULL, 0, true },
	{ 0x25, WB(MQTT_CONNACK), MQTT_CONNACK, 2, { 0x25, 0x00 }, K_INT, 0, NULL, 0, true },
	{ 0x26,
	  WB(MQTT_CONNECT) | WB(MQTT_CONNACK) | SPEC_MSG | SPEC_ACKS | WB(MQTT_SUBSCRIBE) |
		  WB(MQTT_SUBACK) | WB(MQTT_UNSUBSCRIBE) | WB(MQTT_UNSUBACK) | WB(MQTT_DISCONNECT) |
		  WB(MQTT_AUTH),
	  MQTT_UNSUBACK, 7, { 0x26, 0x00, 0x01, 'k', 0x00, 0x01, 'v' }, K_INT, 1, NULL, 0, false },
	{ 0x27, WB(MQTT_CONNECT) | WB(MQTT_CONNACK), MQTT_CONNECT, 5,
	  { 0x27, 0x00, 0x01, 0x00, 0x00 }, K_INT, 65536, NULL, 0, false },
	{ 0x28, WB(MQTT_CONNACK), MQTT_CONNACK, 2, { 0x28, 0x00 }, K_INT, 0, NULL, 0, true },
	{ 0x29, WB(MQTT_CONNACK), MQTT_CONNACK, 2, { 0x29, 0x01 }, K_INT, 1, NULL, 0, true },
	{ 0x2A, WB(MQTT_CONNACK), MQTT_CONNACK, 2, { 0x2A, 0x01 }, K_INT, 1, NULL, 0, true },
};

/* The decoded value of property `id`: integers (user_count for 0x26) or a
 * string/binary field. */
static uint32_t int_of(const struct mqtt_props *p, uint8_t id)
{
	switch (id) {
	case 0x01: return p->payload_format;
	case 0x02: return p->message_expiry;
	case 0x0B: return p->subscription_id;
	case 0x11: return p->session_expiry;
	case 0x13: return p->server_keepalive;
	case 0x17: return p->request_problem_info;
	case 0x18: return p->will_delay;
	case 0x19: return p->request_response_info;
	case 0x21: return p->receive_maximum;
	case 0x22: return p->topic_alias_maximum;
	case 0x23: return p->topic_alias;
	case 0x24: return p->maximum_qos;
	case 0x25: return p->retain_available;
	case 0x26: return p->user_count;
	case 0x27: return p->maximum_packet_size;
	case 0x28: return p->wildcard_sub_available;
	case 0x29: return p->sub_id_available;
	case 0x2A: return p->shared_sub_available;
	}
	fail_msg("no integer field for property 0x%02X", id);
	return 0;
}

static struct mqtt_props_str str_of(const struct mqtt_props *p, uint8_t id)
{
	switch (id) {
	case 0x03: return p->content_type;
	case 0x08: return p->response_topic;
	case 0x09: return p->correlation_data;
	case 0x12: return p->assigned_client_id;
	case 0x15: return p->auth_method;
	case 0x16: return p->auth_data;
	case 0x1A: return p->response_info;
	case 0x1C: return p->server_reference;
	case 0x1F: return p->reason_string;
	}
	fail_msg("no string field for property 0x%02X", id);
	return p->reason_string;
}

/* Every place a property block can be checked against: all packet types
 * (PINGREQ and PINGRESP carry no properties at all) and the will. */
static const int places[] = { MQTT_CONNECT,    MQTT_CONNACK,  MQTT_PUBLISH,     MQTT_PUBACK,
			      MQTT_PUBREC,     MQTT_PUBREL,   MQTT_PUBCOMP,     MQTT_SUBSCRIBE,
			      MQTT_SUBACK,     MQTT_UNSUBSCRIBE, MQTT_UNSUBACK, MQTT_PINGREQ,
			      MQTT_PINGRESP,   MQTT_DISCONNECT, MQTT_AUTH,      MQTT_PROPS_WILL };

/* ---- 1. property blocks ---- */

static void test_props_table_complete(void **state)
{
	(void)state;
	/* 27 properties, each listed once, in identifier order */
	assert_int_equal(ARRAY_SIZE(cases), 27);
	for (size_t i = 1; i < ARRAY_SIZE(cases); i++)
		assert_true(cases[i - 1].id < cases[i].id);
}

static void test_props_each_valid(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct prop_case *c = &cases[i];
		uint8_t block[32];
		size_t n = make_block(c->enc, c->len, block, sizeof(block));
		struct mqtt_props p;
		long rc = mqtt_props_decode(block, n, c->where, &p);

		if (rc != (long)n)
			print_error("property 0x%02X: got %ld\n", c->id, rc);
		assert_int_equal(rc, (long)n);
		assert_true(c->allowed & WB(c->where));
		assert_true(p.present == MQTT_PROP_BIT(c->id));
		assert_ptr_equal(p.raw, block + 1);
		assert_int_equal(p.raw_len, c->len);
		if (c->kind == K_INT)
			assert_int_equal(int_of(&p, c->id), c->ival);
		else
			assert_pstr(str_of(&p, c->id), c->sval, c->slen);
		if (c->id == MQTT_PROP_SUBSCRIPTION_ID)
			assert_int_equal(p.sub_id_count, 1);
		if (c->id == MQTT_PROP_USER_PROPERTY) {
			uint32_t pos = 0;
			struct mqtt_prop pr;

			assert_true(mqtt_props_next(&p, &pos, &pr));
			assert_int_equal(pr.id, MQTT_PROP_USER_PROPERTY);
			assert_pstr(pr.str, "k", 1);
			assert_pstr(pr.str2, "v", 1);
			assert_false(mqtt_props_next(&p, &pos, &pr));
		}
		/* the same from an exact-size copy */
		assert_int_equal(props_copy(block, n, c->where, &p), (long)n);
	}
}

static void test_props_place(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct prop_case *c = &cases[i];

		for (size_t j = 0; j < ARRAY_SIZE(places); j++) {
			int where = places[j];
			bool ok = (c->allowed & WB(where)) != 0;
			struct mqtt_props p;
			long rc = props_body(c->enc, c->len, where, &p);
			long want = ok ? (long)c->len + 1 : MQTT_ERR_PROP_PLACE;

			if (rc != want)
				print_error("property 0x%02X in %d: got %ld, want %ld\n", c->id,
					    where, rc, want);
			assert_int_equal(rc, want);
			assert_int_equal(mqtt_prop_allowed(c->id, where), ok);
		}
	}
}

static void test_props_duplicate(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct prop_case *c = &cases[i];
		uint8_t body[32];
		struct mqtt_props p;
		long rc;

		memcpy(body, c->enc, c->len);
		memcpy(body + c->len, c->enc, c->len);
		rc = props_body(body, 2u * c->len, c->where, &p);
		if (c->id == MQTT_PROP_USER_PROPERTY) {
			assert_int_equal(rc, 2 * c->len + 1);
			assert_int_equal(p.user_count, 2);
		} else {
			if (rc != MQTT_ERR_PROP_DUPLICATE)
				print_error("property 0x%02X twice: got %ld\n", c->id, rc);
			assert_int_equal(rc, MQTT_ERR_PROP_DUPLICATE);
		}
	}
}

static void test_props_subscription_id_repeat(void **state)
{
	static const uint8_t two[] = { 0x0B, 0x01, 0x0B, 0xFF, 0xFF, 0xFF, 0x7F };
	static const uint8_t same[] = { 0x0B, 0x05, 0x0B, 0x05 };
	struct mqtt_props p;

	(void)state;
	/* a PUBLISH carries one per matching subscription [MQTT-3.3.4-3] */
	assert_int_equal(props_body(two, sizeof(two), MQTT_PUBLISH, &p), (long)sizeof(two) + 1);
	assert_int_equal(p.sub_id_count, 2);
	assert_int_equal(p.subscription_id, 1);
	assert_true(p.present & MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID));
	assert_int_equal(props_body(same, sizeof(same), MQTT_PUBLISH, &p), (long)sizeof(same) + 1);
	assert_int_equal(p.sub_id_count, 2);
	/* a SUBSCRIBE carries at most one [MQTT 5.0, 3.8.2.1.2] */
	assert_int_equal(props_body(two, sizeof(two), MQTT_SUBSCRIBE, &p), MQTT_ERR_PROP_DUPLICATE);
	assert_int_equal(props_body(same, sizeof(same), MQTT_SUBSCRIBE, &p),
			 MQTT_ERR_PROP_DUPLICATE);
	/* the largest value is accepted, alone, in a SUBSCRIBE */
	assert_int_equal(props_body(two + 2, 5, MQTT_SUBSCRIBE, &p), 6);
	assert_int_equal(p.subscription_id, MQTT_SUB_ID_MAX);
}

static void test_props_truncated(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct prop_case *c = &cases[i];
		uint8_t block[32];
		size_t n = make_block(c->enc, c->len, block, sizeof(block));
		struct mqtt_props p;

		/* the buffer ends early: length varint or body missing */
		for (size_t k = 0; k < n; k++) {
			long rc = props_copy(block, k, c->where, &p);

			if (rc != MQTT_ERR_TRUNCATED)
				print_error("0x%02X, %zu of %zu bytes: got %ld\n", c->id, k, n, rc);
			assert_int_equal(rc, MQTT_ERR_TRUNCATED);
		}
		/* the block's own length ends inside the property */
		for (size_t k = 1; k < c->len; k++) {
			long rc = props_body(c->enc, k, c->where, &p);

			if (rc != MQTT_ERR_TRUNCATED)
				print_error("0x%02X cut to %zu of %u: got %ld\n", c->id, k, c->len,
					    rc);
			assert_int_equal(rc, MQTT_ERR_TRUNCATED);
		}
	}
}

static void test_props_values(void **state)
{
	struct mqtt_props p;

	(void)state;
	/* boolean bytes: only 0 and 1 [MQTT 5.0, 3.1.2.11.6-7, 3.2.2.3.4-5, -11..-13] */
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		const struct prop_case *c = &cases[i];
		uint8_t body[2];

		if (!c->boolean)
			continue;
		body[0] = c->id;
		for (unsigned v = 0; v < 256; v++) {
			long want = v <= 1 ? 3 : MQTT_ERR_PROP_VALUE;
			long rc;

			body[1] = (uint8_t)v;
			rc = props_body(body, 2, c->where, &p);
			if (rc != want)
				print_error("0x%02X = %u: got %ld\n", c->id, v, rc);
			assert_int_equal(rc, want);
		}
	}
	/* zero is a Protocol Error for these [3.1.2.11.3, 3.1.2.11.4, 3.3.2.3.4, 3.8.2.1.2] */
	{
		static const uint8_t rm0[] = { 0x21, 0x00, 0x00 };
		static const uint8_t mps0[] = { 0x27, 0x00, 0x00, 0x00, 0x00 };
		static const uint8_t ta0[] = { 0x23, 0x00, 0x00 };
		static const uint8_t sid0[] = { 0x0B, 0x00 };

		assert_int_equal(props_body(rm0, sizeof(rm0), MQTT_CONNECT, &p), MQTT_ERR_PROP_VALUE);
		assert_int_equal(props_body(rm0, sizeof(rm0), MQTT_CONNACK, &p), MQTT_ERR_PROP_VALUE);
		assert_int_equal(props_body(mps0, sizeof(mps0), MQTT_CONNECT, &p),
				 MQTT_ERR_PROP_VALUE);
		assert_int_equal(props_body(mps0, sizeof(mps0), MQTT_CONNACK, &p),
				 MQTT_ERR_PROP_VALUE);
		assert_int_equal(props_body(ta0, sizeof(ta0), MQTT_PUBLISH, &p), MQTT_ERR_PROP_VALUE);
		assert_int_equal(props_body(sid0, sizeof(sid0), MQTT_PUBLISH, &p),
				 MQTT_ERR_PROP_VALUE);
		assert_int_equal(props_body(sid0, sizeof(sid0), MQTT_SUBSCRIBE, &p),
				 MQTT_ERR_PROP_VALUE);
	}
	/* ... but 0 is fine where nothing forbids it */
	{
		static const uint8_t tam0[] = { 0x22, 0x00, 0x00 };
		static const uint8_t sk0[] = { 0x13, 0x00, 0x00 };
		static const uint8_t me0[] = { 0x02, 0x00, 0x00, 0x00, 0x00 };
		static const uint8_t rm_max[] = { 0x21, 0xFF, 0xFF };

		assert_int_equal(props_body(tam0, sizeof(tam0), MQTT_CONNECT, &p), 4);
		assert_true(p.present & MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS_MAXIMUM));
		assert_int_equal(props_body(sk0, sizeof(sk0), MQTT_CONNACK, &p), 4);
		assert_int_equal(props_body(me0, sizeof(me0), MQTT_PUBLISH, &p), 6);
		assert_int_equal(props_body(rm_max, sizeof(rm_max), MQTT_CONNECT, &p), 4);
		assert_int_equal(p.receive_maximum, 65535);
	}
	/* a response topic is a topic name, no wildcards [MQTT-3.3.2-14] */
	{
		static const uint8_t plus[] = { 0x08, 0x00, 0x03, 'a', '/', '+' };
		static const uint8_t hash[] = { 0x08, 0x00, 0x03, 'a', '/', '#' };

		assert_int_equal(props_body(plus, sizeof(plus), MQTT_PUBLISH, &p),
				 MQTT_ERR_PROP_VALUE);
		assert_int_equal(props_body(plus, sizeof(plus), MQTT_PROPS_WILL, &p),
				 MQTT_ERR_PROP_VALUE);
		assert_int_equal(props_body(hash, sizeof(hash), MQTT_PUBLISH, &p),
				 MQTT_ERR_PROP_VALUE);
	}
}

static void test_props_utf8(void **state)
{
	static const uint8_t string_ids[][2] = {
		{ 0x03, MQTT_PUBLISH }, { 0x08, MQTT_PUBLISH }, { 0x12, MQTT_CONNACK },
		{ 0x15, MQTT_CONNECT }, { 0x1A, MQTT_CONNACK }, { 0x1C, MQTT_CONNACK },
		{ 0x1F, MQTT_SUBACK },
	};
	/* ill-formed: 0xFF, overlong NUL, surrogate U+D800, U+0000 */
	static const uint8_t bad[][3] = { { 'a', 0xFF, 'b' },
					  { 0xC0, 0x80, 'a' },
					  { 0xED, 0xA0, 0x80 },
					  { 'a', 0x00, 'b' } };
	struct mqtt_props p;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(string_ids); i++) {
		for (size_t j = 0; j < ARRAY_SIZE(bad); j++) {
			uint8_t body[6] = { string_ids[i][0], 0x00, 0x03 };

			memcpy(body + 3, bad[j], 3);
			assert_int_equal(props_body(body, sizeof(body), string_ids[i][1], &p),
					 MQTT_ERR_UTF8);
		}
	}
	for (size_t j = 0; j < ARRAY_SIZE(bad); j++) {
		uint8_t key[10] = { 0x26, 0x00, 0x03, 0, 0, 0, 0x00, 0x01, 'v' };
		uint8_t val[10] = { 0x26, 0x00, 0x01, 'k', 0x00, 0x03 };

		memcpy(key + 3, bad[j], 3);
		memcpy(val + 6, bad[j], 3);
		assert_int_equal(props_body(key, 9, MQTT_PUBLISH, &p), MQTT_ERR_UTF8);
		assert_int_equal(props_body(val, 9, MQTT_PUBLISH, &p), MQTT_ERR_UTF8);
	}
	/* binary data is not text: correlation data and auth data take any byte */
	{
		static const uint8_t corr[] = { 0x09, 0x00, 0x03, 0xFF, 0x00, 0xC0 };
		static const uint8_t auth[] = { 0x16, 0x00, 0x02, 0xED, 0xA0 };
		static const uint8_t ok[] = { 0x03, 0x00, 0x03, 0xE2, 0x82, 0xAC }; /* U+20AC */

		assert_int_equal(props_body(corr, sizeof(corr), MQTT_PUBLISH, &p), 7);
		assert_int_equal(props_body(auth, sizeof(auth), MQTT_AUTH, &p), 6);
		assert_int_equal(props_body(ok, sizeof(ok), MQTT_PUBLISH, &p), 7);
	}
}

static void test_props_unknown(void **state)
{
	static const uint8_t ids[] = { 0x00, 0x04, 0x05, 0x06, 0x07, 0x0A, 0x0C, 0x10, 0x14,
				       0x1B, 0x1D, 0x1E, 0x20, 0x2B, 0x3F, 0x40, 0x7F };
	static const uint8_t big[] = { 0x80, 0x01, 0x00 }; /* identifier 128 */
	struct mqtt_props p;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ids); i++) {
		uint8_t body[] = { ids[i], 0x00, 0x00, 0x00, 0x00 };

		for (size_t j = 0; j < ARRAY_SIZE(places); j++)
			assert_int_equal(props_body(body, sizeof(body), places[j], &p),
					 MQTT_ERR_PROP_UNKNOWN);
		assert_false(mqtt_prop_allowed(ids[i], MQTT_PUBLISH));
	}
	assert_int_equal(props_body(big, sizeof(big), MQTT_PUBLISH, &p), MQTT_ERR_PROP_UNKNOWN);
	/* after a valid one too */
	{
		static const uint8_t after[] = { 0x01, 0x00, 0x2B, 0x00 };

		assert_int_equal(props_body(after, sizeof(after), MQTT_PUBLISH, &p),
				 MQTT_ERR_PROP_UNKNOWN);
	}
}

static void test_props_empty(void **state)
{
	static const uint8_t zero[] = { 0x00 };
	struct mqtt_props p;

	(void)state;
	for (size_t j = 0; j < ARRAY_SIZE(places); j++) {
		assert_int_equal(props_copy(zero, 1, places[j], &p), 1);
		assert_int_equal(p.present, 0);
		assert_int_equal(p.raw_len, 0);
		assert_int_equal(p.user_count, 0);
	}
	/* a length varint longer than four bytes is not a length */
	{
		static const uint8_t five[] = { 0x80, 0x80, 0x80, 0x80, 0x01 };

		assert_true(props_copy(five, sizeof(five), MQTT_PUBLISH, &p) < 0);
	}
}

static void test_props_next(void **state)
{
	static const uint8_t body[] = {
		0x26, 0x00, 0x01, 'a', 0x00, 0x02, '1', '2',      /* a=12 */
		0x01, 0x01,                                       /* payload format 1 */
		0x26, 0x00, 0x01, 'a', 0x00, 0x00,                /* a= (repeat key) */
		0x0B, 0x80, 0x01,                                 /* sub id 128 */
		0x26, 0x00, 0x02, 'k', 'k', 0x00, 0x01, 'v',      /* kk=v */
		0x03, 0x00, 0x01, 'c',                            /* content type c */
	};
	static const struct {
		uint8_t id;
		uint32_t value;
		const char *k, *v;
		uint32_t size;
	} want[] = {
		{ 0x26, 0, "a", "12", 8 }, { 0x01, 1, NULL, NULL, 2 }, { 0x26, 0, "a", "", 6 },
		{ 0x0B, 128, NULL, NULL, 3 }, { 0x26, 0, "kk", "v", 8 }, { 0x03, 0, "c", NULL, 4 },
	};
	uint8_t block[64];
	size_t n = make_block(body, sizeof(body), block, sizeof(block));
	struct mqtt_props p;
	struct mqtt_prop pr;
	uint32_t pos = 0, off = 0;
	size_t i = 0, users = 0;

	(void)state;
	assert_int_equal(mqtt_props_decode(block, n, MQTT_PUBLISH, &p), (long)n);
	assert_int_equal(p.user_count, 3);
	assert_int_equal(p.sub_id_count, 1);
	while (mqtt_props_next(&p, &pos, &pr)) {
		assert_true(i < ARRAY_SIZE(want));
		assert_int_equal(pr.id, want[i].id);
		assert_ptr_equal(pr.start, p.raw + off);
		assert_int_equal(pr.size, want[i].size);
		off += pr.size;
		if (want[i].k)
			assert_pstr(pr.str, want[i].k, strlen(want[i].k));
		if (want[i].v)
			assert_pstr(pr.str2, want[i].v, strlen(want[i].v));
		if (!want[i].k)
			assert_int_equal(pr.value, want[i].value);
		if (pr.id == MQTT_PROP_USER_PROPERTY)
			users++;
		i++;
	}
	assert_int_equal(i, ARRAY_SIZE(want));
	assert_int_equal(users, 3);
	assert_int_equal(pos, p.raw_len);
	/* an empty block yields nothing */
	{
		static const uint8_t zero[] = { 0x00 };

		pos = 0;
		assert_int_equal(mqtt_props_decode(zero, 1, MQTT_PUBLISH, &p), 1);
		assert_false(mqtt_props_next(&p, &pos, &pr));
	}
}

/* All single-valued fields a PUBLISH block can hold, plus lists. */
static void fill_props_all(struct mqtt_props *p, const uint8_t *user_raw, uint32_t user_len,
			   const uint32_t *sub_ids, uint16_t nsub)
{
	memset(p, 0, sizeof(*p));
	p->payload_format = 1;
	p->message_expiry = 0x01020304;
	p->content_type = pstr("text/plain");
	p->response_topic = pstr("reply/to");
	p->correlation_data.data = (const uint8_t *)"\x00\x01\xFF";
	p->correlation_data.len = 3;
	p->topic_alias = 0x1234;
	p->present = MQTT_PROP_BIT(MQTT_PROP_PAYLOAD_FORMAT) |
		     MQTT_PROP_BIT(MQTT_PROP_MESSAGE_EXPIRY) | MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE) |
		     MQTT_PROP_BIT(MQTT_PROP_RESPONSE_TOPIC) |
		     MQTT_PROP_BIT(MQTT_PROP_CORRELATION_DATA) | MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
	p->user_raw = user_raw;
	p->user_raw_len = user_len;
	p->sub_ids = sub_ids;
	p->sub_id_count = nsub;
	if (nsub)
		p->present |= MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
}

static void assert_props_all(const struct mqtt_props *g, const struct mqtt_props *w)
{
	assert_int_equal(g->payload_format, w->payload_format);
	assert_int_equal(g->message_expiry, w->message_expiry);
	assert_pstr(g->content_type, w->content_type.data, w->content_type.len);
	assert_pstr(g->response_topic, w->response_topic.data, w->response_topic.len);
	assert_pstr(g->correlation_data, w->correlation_data.data, w->correlation_data.len);
	assert_int_equal(g->topic_alias, w->topic_alias);
	assert_int_equal(g->user_count, 2);
	assert_int_equal(g->sub_id_count, w->sub_id_count);
	assert_true(g->present ==
		    (w->present | (w->user_raw_len ? MQTT_PROP_BIT(MQTT_PROP_USER_PROPERTY) : 0)));
}

static const uint8_t user_raw2[] = { 0x26, 0x00, 0x02, 'k', '1', 0x00, 0x02, 'v', '1',
				     0x26, 0x00, 0x02, 'k', '2', 0x00, 0x00 };

static void test_props_encode_roundtrip(void **state)
{
	static const uint32_t sub_ids[] = { 1, 127, 128, 16384, MQTT_SUB_ID_MAX };
	struct mqtt_props w, g;
	uint8_t out[256];
	uint32_t size, written;
	uint32_t pos = 0;
	struct mqtt_prop pr;
	size_t si = 0, ui = 0;

	(void)state;
	fill_props_all(&w, user_raw2, sizeof(user_raw2), sub_ids, ARRAY_SIZE(sub_ids));
	size = mqtt_props_size(&w);
	assert_true(size <= sizeof(out));
	memset(out, 0xAA, sizeof(out));
	written = mqtt_props_encode(&w, out);
	assert_int_equal(written, size);
	assert_int_equal(out[size], 0xAA); /* nothing past the end */
	assert_int_equal(mqtt_props_body_size(&w) + 1, size);
	assert_int_equal(props_copy(out, size, MQTT_PUBLISH, &g), (long)size);
	assert_int_equal(mqtt_props_decode(out, size, MQTT_PUBLISH, &g), (long)size);
	assert_props_all(&g, &w);
	assert_int_equal(g.subscription_id, sub_ids[0]);
	while (mqtt_props_next(&g, &pos, &pr)) {
		if (pr.id == MQTT_PROP_SUBSCRIPTION_ID) {
			assert_true(si < ARRAY_SIZE(sub_ids));
			assert_int_equal(pr.value, sub_ids[si]);
			si++;
		} else if (pr.id == MQTT_PROP_USER_PROPERTY) {
			assert_pstr(pr.str, ui ? "k2" : "k1", 2);
			assert_pstr(pr.str2, ui ? "" : "v1", ui ? 0 : 2);
			ui++;
		}
	}
	assert_int_equal(si, ARRAY_SIZE(sub_ids));
	assert_int_equal(ui, 2);
	/* and as a will block, minus what a will cannot carry */
	assert_int_equal(mqtt_props_decode(out, size, MQTT_PROPS_WILL, &g), MQTT_ERR_PROP_PLACE);
}

static void test_props_encode_fields(void **state)
{
	struct mqtt_props w, g;
	uint8_t out[256];
	uint32_t size;

	(void)state;
	/* a CONNACK's worth: every integer and string the server sends */
	memset(&w, 0, sizeof(w));
	w.session_expiry = 0xFFFFFFFF;
	w.assigned_client_id = pstr("auto-1");
	w.server_keepalive = 30;
	w.auth_method = pstr("SCRAM");
	w.auth_data.data = (const uint8_t *)"\x00\x01";
	w.auth_data.len = 2;
	w.response_info = pstr("resp");
	w.server_reference = pstr("other:1883");
	w.reason_string = pstr("why");
	w.receive_maximum = 20;
	w.topic_alias_maximum = 10;
	w.maximum_qos = 1;
	w.retain_available = 0;
	w.maximum_packet_size = 1048576;
	w.wildcard_sub_available = 1;
	w.sub_id_available = 0;
	w.shared_sub_available = 1;
	w.present = MQTT_PROP_BIT(0x11) | MQTT_PROP_BIT(0x12) | MQTT_PROP_BIT(0x13) |
		    MQTT_PROP_BIT(0x15) | MQTT_PROP_BIT(0x16) | MQTT_PROP_BIT(0x1A) |
		    MQTT_PROP_BIT(0x1C) | MQTT_PROP_BIT(0x1F) | MQTT_PROP_BIT(0x21) |
		    MQTT_PROP_BIT(0x22) | MQTT_PROP_BIT(0x24) | MQTT_PROP_BIT(0x25) |
		    MQTT_PROP_BIT(0x27) | MQTT_PROP_BIT(0x28) | MQTT_PROP_BIT(0x29) |
		    MQTT_PROP_BIT(0x2A);
	size = mqtt_props_size(&w);
	assert_int_equal(mqtt_props_encode(&w, out), size);
	assert_int_equal(mqtt_props_decode(out, size, MQTT_CONNACK, &g), (long)size);
	assert_true(g.present == w.present);
	assert_int_equal(g.session_expiry, w.session_expiry);
	assert_pstr(g.assigned_client_id, "auto-1", 6);
	assert_int_equal(g.server_keepalive, 30);
	assert_pstr(g.auth_method, "SCRAM", 5);
	assert_pstr(g.auth_data, "\x00\x01", 2);
	assert_pstr(g.response_info, "resp", 4);
	assert_pstr(g.server_reference, "other:1883", 10);
	assert_pstr(g.reason_string, "why", 3);
	assert_int_equal(g.receive_maximum, 20);
	assert_int_equal(g.topic_alias_maximum, 10);
	assert_int_equal(g.maximum_qos, 1);
	assert_int_equal(g.retain_available, 0);
	assert_int_equal(g.maximum_packet_size, 1048576);
	assert_int_equal(g.wildcard_sub_available, 1);
	assert_int_equal(g.sub_id_available, 0);
	assert_int_equal(g.shared_sub_available, 1);
	assert_int_equal(g.user_count, 0);

	/* CONNECT and will blocks; the single SUBSCRIBE identifier from its field */
	memset(&w, 0, sizeof(w));
	w.request_problem_info = 0;
	w.request_response_info = 1;
	w.will_delay = 5;
	w.present = MQTT_PROP_BIT(0x17) | MQTT_PROP_BIT(0x19);
	size = mqtt_props_size(&w);
	assert_int_equal(size, 5);
	assert_int_equal(mqtt_props_encode(&w, out), size);
	assert_int_equal(mqtt_props_decode(out, size, MQTT_CONNECT, &g), 5);
	assert_int_equal(g.request_problem_info, 0);
	assert_int_equal(g.request_response_info, 1);
	w.present = MQTT_PROP_BIT(0x18);
	size = mqtt_props_encode(&w, out);
	assert_int_equal(mqtt_props_decode(out, size, MQTT_PROPS_WILL, &g), 6);
	assert_int_equal(g.will_delay, 5);
	memset(&w, 0, sizeof(w));
	w.subscription_id = 300;
	w.present = MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
	size = mqtt_props_encode(&w, out);
	assert_int_equal(size, mqtt_props_size(&w));
	assert_int_equal(mqtt_props_decode(out, size, MQTT_SUBSCRIBE, &g), 4);
	assert_int_equal(g.subscription_id, 300);
	assert_int_equal(g.sub_id_count, 1);
	/* nothing present: a single zero length */
	memset(&w, 0, sizeof(w));
	assert_int_equal(mqtt_props_size(&w), 1);
	assert_int_equal(mqtt_props_encode(&w, out), 1);
	assert_int_equal(out[0], 0);
}

/* ---- 2. whole packets at level 5 ---- */

/* Every proper prefix asks for more; the whole decodes to its full size,
 * alone and with the next packet's first bytes behind it. */
static void check_split(const uint8_t *pkt, size_t n, uint8_t level)
{
	struct mqtt_packet out;
	uint8_t *more;
	long rc;

	for (size_t k = 0; k < n; k++) {
		rc = decode_copy(pkt, k, level, &out);
		if (rc != MQTT_ERR_NEED_MORE)
			print_error("prefix of %zu/%zu bytes: got %ld\n", k, n, rc);
		assert_int_equal(rc, MQTT_ERR_NEED_MORE);
	}
	assert_int_equal(decode_copy(pkt, n, level, &out), (long)n);
	more = malloc(n + 2);
	assert_non_null(more);
	memcpy(more, pkt, n);
	more[n] = 0xC0; /* PINGREQ */
	more[n + 1] = 0x00;
	assert_int_equal(mqtt_decode(more, n + 2, level, 0, &out), (long)n);
	free(more);
}

/* Encode at level 5, check size and splits, decode into out (pointing
 * into buf). Returns the size. */
static size_t roundtrip5(const struct mqtt_packet *p, uint8_t *buf, size_t cap,
			 struct mqtt_packet *out)
{
	long n = mqtt_encode(p, MQTT_LEVEL_5, buf, cap);

	if (n <= 0)
		print_error("encode type %d: got %ld\n", p->type, n);
	assert_true(n > 0);
	assert_int_equal(mqtt_encoded_size(p, MQTT_LEVEL_5), n);
	check_split(buf, (size_t)n, MQTT_LEVEL_5);
	memset(out, 0, sizeof(*out));
	assert_int_equal(mqtt_decode(buf, (size_t)n, MQTT_LEVEL_5, 0, out), n);
	assert_int_equal(out->type, p->type);
	return (size_t)n;
}

/* Decode hand-written bytes at level 5 from an exact copy. */
static long dec5(const uint8_t *pkt, size_t n, struct mqtt_packet *out)
{
	return decode_copy(pkt, n, MQTT_LEVEL_5, out);
}

static void test_connect_v5(void **state)
{
	static const uint8_t connect_user[] = { 0x26, 0x00, 0x01, 'u', 0x00, 0x01, '1' };
	static const uint8_t will_user[] = { 0x26, 0x00, 0x01, 'w', 0x00, 0x00 };
	struct mqtt_packet p, g;
	struct mqtt_connect *c = &p.u.connect;
	const struct mqtt_connect *d = &g.u.connect;
	uint8_t buf[512];

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_CONNECT;
	c->protocol_name = str("MQTT");
	c->level = MQTT_LEVEL_5;
	c->clean_session = true;
	c->keepalive = 60;
	c->client_id = str("cid");
	c->props.session_expiry = 120;
	c->props.receive_maximum = 10;
	c->props.maximum_packet_size = 4096;
	c->props.topic_alias_maximum = 5;
	c->props.request_response_info = 1;
	c->props.request_problem_info = 0;
	c->props.auth_method = pstr("PLAIN");
	c->props.auth_data = pstr("tok");
	c->props.present = MQTT_PROP_BIT(0x11) | MQTT_PROP_BIT(0x21) | MQTT_PROP_BIT(0x27) |
			   MQTT_PROP_BIT(0x22) | MQTT_PROP_BIT(0x19) | MQTT_PROP_BIT(0x17) |
			   MQTT_PROP_BIT(0x15) | MQTT_PROP_BIT(0x16);
	c->props.user_raw = connect_user;
	c->props.user_raw_len = sizeof(connect_user);
	c->will = true;
	c->will_qos = 1;
	c->will_retain = true;
	c->will_topic = str("will/t");
	c->will_payload = str("bye");
	c->will_props.will_delay = 30;
	c->will_props.payload_format = 1;
	c->will_props.message_expiry = 60;
	c->will_props.content_type = pstr("text");
	c->will_props.response_topic = pstr("r/t");
	c->will_props.correlation_data = pstr("c1");
	c->will_props.present = MQTT_PROP_BIT(0x18) | MQTT_PROP_BIT(0x01) | MQTT_PROP_BIT(0x02) |
				MQTT_PROP_BIT(0x03) | MQTT_PROP_BIT(0x08) | MQTT_PROP_BIT(0x09);
	c->will_props.user_raw = will_user;
	c->will_props.user_raw_len = sizeof(will_user);
	/* MQTT 5 allows a password without a user name [MQTT 5.0, 3.1.2.9] */
	c->has_password = true;
	c->password = str("pw");

	roundtrip5(&p, buf, sizeof(buf), &g);
	assert_mstr(d->protocol_name, "MQTT");
	assert_int_equal(d->level, 5);
	assert_true(d->clean_session);
	assert_int_equal(d->keepalive, 60);
	assert_mstr(d->client_id, "cid");
	assert_true(d->props.present == (c->props.present | MQTT_PROP_BIT(0x26)));
	assert_int_equal(d->props.session_expiry, 120);
	assert_int_equal(d->props.receive_maximum, 10);
	assert_int_equal(d->props.maximum_packet_size, 4096);
	assert_int_equal(d->props.topic_alias_maximum, 5);
	assert_int_equal(d->props.request_response_info, 1);
	assert_int_equal(d->props.request_problem_info, 0);
	assert_pstr(d->props.auth_method, "PLAIN", 5);
	assert_pstr(d->props.auth_data, "tok", 3);
	assert_int_equal(d->props.user_count, 1);
	assert_true(d->will);
	assert_int_equal(d->will_qos, 1);
	assert_true(d->will_retain);
	assert_mstr(d->will_topic, "will/t");
	assert_mstr(d->will_payload, "bye");
	assert_true(d->will_props.present == (c->will_props.present | MQTT_PROP_BIT(0x26)));
	assert_int_equal(d->will_props.will_delay, 30);
	assert_int_equal(d->will_props.payload_format, 1);
	assert_int_equal(d->will_props.message_expiry, 60);
	assert_pstr(d->will_props.content_type, "text", 4);
	assert_pstr(d->will_props.response_topic, "r/t", 3);
	assert_pstr(d->will_props.correlation_data, "c1", 2);
	assert_int_equal(d->will_props.user_count, 1);
	{
		uint32_t pos = 0;
		struct mqtt_prop pr;

		assert_true(mqtt_props_next(&d->will_props, &pos, &pr));
		while (pr.id != MQTT_PROP_USER_PROPERTY)
			assert_true(mqtt_props_next(&d->will_props, &pos, &pr));
		assert_pstr(pr.str, "w", 1);
		assert_pstr(pr.str2, "", 0);
	}
	assert_false(d->has_username);
	assert_true(d->has_password);
	assert_mstr(d->password, "pw");

	/* a will property among the CONNECT's, and the reverse: not allowed */
	c->props.present |= MQTT_PROP_BIT(MQTT_PROP_WILL_DELAY);
	c->props.will_delay = 1;
	assert_true(mqtt_encode(&p, MQTT_LEVEL_5, buf, sizeof(buf)) > 0);
	assert_int_equal(mqtt_decode(buf, sizeof(buf), MQTT_LEVEL_5, 0, &g), MQTT_ERR_PROP_PLACE);
	c->props.present &= ~MQTT_PROP_BIT(MQTT_PROP_WILL_DELAY);
	c->will_props.present |= MQTT_PROP_BIT(MQTT_PROP_SESSION_EXPIRY);
	assert_true(mqtt_encode(&p, MQTT_LEVEL_5, buf, sizeof(buf)) > 0);
	assert_int_equal(mqtt_decode(buf, sizeof(buf), MQTT_LEVEL_5, 0, &g), MQTT_ERR_PROP_PLACE);

	/* the minimal v5 CONNECT: empty property blocks, no will */
	{
		static const uint8_t min5[] = { 0x10, 0x0E, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05,
						0x02, 0x00, 0x3C, 0x00, 0x00, 0x01, 'c' };
		long rc = dec5(min5, sizeof(min5), &g);

		assert_int_equal(rc, (long)sizeof(min5));
		check_split(min5, sizeof(min5), MQTT_LEVEL_5);
		/* the property length missing makes the client id's length the block's */
		assert_int_equal(dec5((const uint8_t[]){ 0x10, 0x0D, 0x00, 0x04, 'M', 'Q', 'T', 'T',
							 0x05, 0x02, 0x00, 0x3C, 0x00, 0x01, 'c' },
				      15, &g),
				 MQTT_ERR_TRUNCATED);
	}
	/* password without user name: fine at 5, not at 4 [MQTT-3.1.2-22] */
	{
		static const uint8_t pw5[] = { 0x10, 0x11, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x42,
					       0x00, 0x3C, 0x00, 0x00, 0x00, 0x00, 0x02, 'p', 'w' };
		static const uint8_t pw4[] = { 0x10, 0x10, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0x42,
					       0x00, 0x3C, 0x00, 0x00, 0x00, 0x02, 'p', 'w' };

		assert_int_equal(dec5(pw5, sizeof(pw5), &g), (long)sizeof(pw5));
		assert_true(g.u.connect.has_password);
		assert_false(g.u.connect.has_username);
		assert_int_equal(decode_copy(pw4, sizeof(pw4), MQTT_LEVEL_311, &g),
				 MQTT_ERR_CONNECT_FLAGS);
		c->level = MQTT_LEVEL_311;
		assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf)), MQTT_ERR_INVALID);
	}
}

static void test_connack_v5(void **state)
{
	struct mqtt_packet p, g;
	uint8_t buf[256];
	size_t n;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_CONNACK;
	p.u.connack.session_present = true;
	p.u.connack.return_code = 0x00;
	p.u.connack.props.assigned_client_id = pstr("auto-7");
	p.u.connack.props.server_keepalive = 20;
	p.u.connack.props.maximum_qos = 1;
	p.u.connack.props.retain_available = 0;
	p.u.connack.props.topic_alias_maximum = 8;
	p.u.connack.props.receive_maximum = 100;
	p.u.connack.props.shared_sub_available = 0;
	p.u.connack.props.reason_string = pstr("ok");
	p.u.connack.props.present = MQTT_PROP_BIT(0x12) | MQTT_PROP_BIT(0x13) |
				    MQTT_PROP_BIT(0x24) | MQTT_PROP_BIT(0x25) |
				    MQTT_PROP_BIT(0x22) | MQTT_PROP_BIT(0x21) |
				    MQTT_PROP_BIT(0x2A) | MQTT_PROP_BIT(0x1F);
	p.u.connack.props.user_raw = user_raw2;
	p.u.connack.props.user_raw_len = sizeof(user_raw2);
	roundtrip5(&p, buf, sizeof(buf), &g);
	assert_true(g.u.connack.session_present);
	assert_int_equal(g.u.connack.return_code, 0);
	assert_true(g.u.connack.props.present ==
		    (p.u.connack.props.present | MQTT_PROP_BIT(0x26)));
	assert_pstr(g.u.connack.props.assigned_client_id, "auto-7", 6);
	assert_int_equal(g.u.connack.props.server_keepalive, 20);
	assert_int_equal(g.u.connack.props.maximum_qos, 1);
	assert_int_equal(g.u.connack.props.retain_available, 0);
	assert_int_equal(g.u.connack.props.topic_alias_maximum, 8);
	assert_int_equal(g.u.connack.props.receive_maximum, 100);
	assert_int_equal(g.u.connack.props.shared_sub_available, 0);
	assert_pstr(g.u.connack.props.reason_string, "ok", 2);
	assert_int_equal(g.u.connack.props.user_count, 2);

	/* refusal without properties: the block is still there, empty */
	memset(&p, 0, sizeof(p));
	p.type = MQTT_CONNACK;
	p.u.connack.return_code = 0x87;
	n = roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(n, 5);
	assert_memory_equal(buf, ((const uint8_t[]){ 0x20, 0x03, 0x00, 0x87, 0x00 }), 5);
	assert_int_equal(g.u.connack.return_code, 0x87);
	assert_int_equal(g.u.connack.props.present, 0);
	/* a level-5 CONNACK without its property length is truncated */
	assert_int_equal(dec5((const uint8_t[]){ 0x20, 0x02, 0x00, 0x00 }, 4, &g),
			 MQTT_ERR_TRUNCATED);
	/* a PUBLISH-only property in a CONNACK */
	assert_int_equal(dec5((const uint8_t[]){ 0x20, 0x06, 0x00, 0x00, 0x03, 0x23, 0x00, 0x01 },
			      8, &g),
			 MQTT_ERR_PROP_PLACE);
}

static void test_publish_v5(void **state)
{
	static const uint32_t sub_ids[] = { 3, 200 };
	struct mqtt_packet p, g;
	uint8_t buf[512];
	size_t n;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_PUBLISH;
	p.u.publish.qos = 1;
	p.u.publish.retain = true;
	p.u.publish.dup = true;
	p.u.publish.packet_id = 7;
	p.u.publish.topic = str("a/b");
	p.u.publish.payload = (const uint8_t *)"hello";
	p.u.publish.payload_len = 5;
	fill_props_all(&p.u.publish.props, user_raw2, sizeof(user_raw2), sub_ids,
		       ARRAY_SIZE(sub_ids));
	roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(g.u.publish.qos, 1);
	assert_true(g.u.publish.retain);
	assert_true(g.u.publish.dup);
	assert_int_equal(g.u.publish.packet_id, 7);
	assert_mstr(g.u.publish.topic, "a/b");
	assert_int_equal(g.u.publish.payload_len, 5);
	assert_memory_equal(g.u.publish.payload, "hello", 5);
	assert_props_all(&g.u.publish.props, &p.u.publish.props);

	/* empty topic with a Topic Alias [MQTT 5.0, 3.3.2.3.4] */
	memset(&p, 0, sizeof(p));
	p.type = MQTT_PUBLISH;
	p.u.publish.topic = str("");
	p.u.publish.props.topic_alias = 3;
	p.u.publish.props.present = MQTT_PROP_BIT(MQTT_PROP_TOPIC_ALIAS);
	p.u.publish.payload = (const uint8_t *)"x";
	p.u.publish.payload_len = 1;
	n = roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(n, 9);
	assert_memory_equal(buf, ((const uint8_t[]){ 0x30, 0x07, 0x00, 0x00, 0x03, 0x23, 0x00,
						     0x03, 'x' }),
			    n);
	assert_int_equal(g.u.publish.topic.len, 0);
	assert_int_equal(g.u.publish.props.topic_alias, 3);
	assert_int_equal(g.u.publish.payload_len, 1);
	/* ... and without one: a Protocol Error [MQTT 5.0, 3.3.2.1] */
	assert_int_equal(dec5((const uint8_t[]){ 0x30, 0x04, 0x00, 0x00, 0x00, 'x' }, 6, &g),
			 MQTT_ERR_TOPIC);
	assert_int_equal(dec5((const uint8_t[]){ 0x30, 0x03, 0x00, 0x00, 0x00 }, 5, &g),
			 MQTT_ERR_TOPIC);
	/* empty topic with another property but no alias */
	assert_int_equal(dec5((const uint8_t[]){ 0x30, 0x05, 0x00, 0x00, 0x02, 0x01, 0x01 }, 7, &g),
			 MQTT_ERR_TOPIC);
	/* a topic with a wildcard stays refused even with an alias */
	assert_int_equal(dec5((const uint8_t[]){ 0x30, 0x08, 0x00, 0x01, '#', 0x03, 0x23, 0x00,
						 0x03, 'x' },
			      10, &g),
			 MQTT_ERR_TOPIC);
	/* level 4: no properties, so an empty topic is always wrong */
	assert_int_equal(decode_copy((const uint8_t[]){ 0x30, 0x03, 0x00, 0x00, 'x' }, 5,
				     MQTT_LEVEL_311, &g),
			 MQTT_ERR_TOPIC);
	/* empty properties, empty payload */
	assert_int_equal(dec5((const uint8_t[]){ 0x30, 0x04, 0x00, 0x01, 't', 0x00 }, 6, &g), 6);
	assert_int_equal(g.u.publish.payload_len, 0);
	assert_int_equal(g.u.publish.props.present, 0);
	/* property length running past the packet */
	assert_int_equal(dec5((const uint8_t[]){ 0x30, 0x05, 0x00, 0x01, 't', 0x05, 0x01 }, 7, &g),
			 MQTT_ERR_TRUNCATED);
	/* a CONNACK-only property in a PUBLISH, a duplicate Topic Alias */
	assert_int_equal(dec5((const uint8_t[]){ 0x30, 0x06, 0x00, 0x01, 't', 0x02, 0x24, 0x00 },
			      8, &g),
			 MQTT_ERR_PROP_PLACE);
	assert_int_equal(dec5((const uint8_t[]){ 0x30, 0x0B, 0x00, 0x01, 't', 0x06, 0x23, 0x00,
						 0x01, 0x23, 0x00, 0x02, 'x' },
			      13, &g),
			 MQTT_ERR_PROP_DUPLICATE);
}

/* Reason codes the spec lists per acknowledgement [3.4.2.1, 3.5.2.1, 3.6.2.1, 3.7.2.1]. */
static bool spec_ack_reason(uint8_t type, unsigned rc)
{
	static const uint8_t pub[] = { 0x00, 0x10, 0x80, 0x83, 0x87, 0x90, 0x91, 0x97, 0x99 };

	if (type == MQTT_PUBREL || type == MQTT_PUBCOMP)
		return rc == 0x00 || rc == 0x92;
	for (size_t i = 0; i < sizeof(pub); i++)
		if (pub[i] == rc)
			return true;
	return false;
}

static void test_acks_v5(void **state)
{
	static const uint8_t types[] = { MQTT_PUBACK, MQTT_PUBREC, MQTT_PUBREL, MQTT_PUBCOMP };

	(void)state;
	for (size_t t = 0; t < ARRAY_SIZE(types); t++) {
		uint8_t type = types[t];
		uint8_t first = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 0x02 : 0x00));
		uint8_t reason = (type == MQTT_PUBREL || type == MQTT_PUBCOMP) ? 0x92 : 0x10;
		struct mqtt_packet p, g;
		uint8_t buf[64];
		size_t n;

		memset(&p, 0, sizeof(p));
		p.type = type;
		p.u.ack.packet_id = 0x0107;

		/* reason 0, no properties: the two-byte form */
		n = roundtrip5(&p, buf, sizeof(buf), &g);
		assert_int_equal(n, 4);
		assert_memory_equal(buf, ((const uint8_t[]){ first, 0x02, 0x01, 0x07 }), 4);
		assert_int_equal(g.u.ack.packet_id, 0x0107);
		assert_int_equal(g.u.ack.reason_code, 0);
		assert_int_equal(g.u.ack.props.present, 0);

		/* a reason only: three bytes, no property length */
		p.u.ack.reason_code = reason;
		n = roundtrip5(&p, buf, sizeof(buf), &g);
		assert_int_equal(n, 5);
		assert_memory_equal(buf, ((const uint8_t[]){ first, 0x03, 0x01, 0x07, reason }), 5);
		assert_int_equal(g.u.ack.reason_code, reason);

		/* reason and properties */
		p.u.ack.props.reason_string = pstr("why");
		p.u.ack.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
		p.u.ack.props.user_raw = user_raw2;
		p.u.ack.props.user_raw_len = sizeof(user_raw2);
		n = roundtrip5(&p, buf, sizeof(buf), &g);
		assert_int_equal(n, 2 + 2 + 1 + 1 + 6 + sizeof(user_raw2));
		assert_int_equal(buf[4], reason);
		assert_int_equal(g.u.ack.reason_code, reason);
		assert_pstr(g.u.ack.props.reason_string, "why", 3);
		assert_int_equal(g.u.ack.props.user_count, 2);

		/* reason 0 with properties keeps the reason byte */
		p.u.ack.reason_code = 0;
		n = roundtrip5(&p, buf, sizeof(buf), &g);
		assert_int_equal(buf[4], 0x00);
		assert_int_equal(g.u.ack.reason_code, 0);
		assert_int_equal(g.u.ack.props.user_count, 2);

		/* the decoder: reason with an empty property block */
		{
			const uint8_t four[] = { first, 0x04, 0x00, 0x09, reason, 0x00 };

			assert_int_equal(dec5(four, sizeof(four), &g), 6);
			assert_int_equal(g.u.ack.packet_id, 9);
			assert_int_equal(g.u.ack.reason_code, reason);
			check_split(four, sizeof(four), MQTT_LEVEL_5);
		}
		/* a property not allowed here; a block that runs past; trailing */
		{
			const uint8_t place[] = { first, 0x06, 0x00, 0x09, 0x00, 0x02, 0x01, 0x01 };
			const uint8_t past[] = { first, 0x05, 0x00, 0x09, 0x00, 0x05, 0x1F };
			const uint8_t trail[] = { first, 0x05, 0x00, 0x09, 0x00, 0x00, 0x00 };
			const uint8_t pid0[] = { first, 0x02, 0x00, 0x00 };

			assert_int_equal(dec5(place, sizeof(place), &g), MQTT_ERR_PROP_PLACE);
			assert_int_equal(dec5(past, sizeof(past), &g), MQTT_ERR_TRUNCATED);
			assert_int_equal(dec5(trail, sizeof(trail), &g), MQTT_ERR_TRAILING);
			assert_int_equal(dec5(pid0, sizeof(pid0), &g), MQTT_ERR_PACKET_ID);
		}
		/* every reason code, as the three-byte form */
		for (unsigned rc = 0; rc < 256; rc++) {
			const uint8_t three[] = { first, 0x03, 0x00, 0x09, (uint8_t)rc };
			long want = spec_ack_reason(type, rc) ? 5 : MQTT_ERR_REASON;
			long got = dec5(three, sizeof(three), &g);

			if (got != want)
				print_error("type %d reason 0x%02X: got %ld\n", type, rc, got);
			assert_int_equal(got, want);
		}
	}
	/* the named ones */
	{
		struct mqtt_packet g;

		assert_int_equal(dec5((const uint8_t[]){ 0x62, 0x03, 0x00, 0x01, 0x80 }, 5, &g),
				 MQTT_ERR_REASON);
		assert_int_equal(dec5((const uint8_t[]){ 0x40, 0x03, 0x00, 0x01, 0x01 }, 5, &g),
				 MQTT_ERR_REASON);
		assert_int_equal(dec5((const uint8_t[]){ 0x40, 0x03, 0x00, 0x01, 0x10 }, 5, &g), 5);
		assert_int_equal(dec5((const uint8_t[]){ 0x70, 0x03, 0x00, 0x01, 0x92 }, 5, &g), 5);
	}
}

/* Lay filters out as SUBSCRIBE (opts != NULL) or UNSUBSCRIBE carries them. */
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

static void test_subscribe_v5(void **state)
{
	static const char *const filters[] = { "a/b", "c/#", "+/d", "e", "$share/g/f" };
	/* QoS 1 + No Local; QoS 2 + Retain As Published; RH 1; RH 2 + all; 0 */
	static const uint8_t opts[] = { 0x01 | MQTT_SUBOPT_NO_LOCAL,
					0x02 | MQTT_SUBOPT_RETAIN_AS_PUBLISHED, 0x10,
					0x20 | 0x0C | 0x01, 0x00 };
	uint8_t list[128], buf[256];
	struct mqtt_packet p, g;
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	uint8_t o;
	size_t i = 0;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_SUBSCRIBE;
	p.u.subscribe.packet_id = 42;
	p.u.subscribe.filters = build_list(list, sizeof(list), filters, opts, ARRAY_SIZE(filters));
	p.u.subscribe.props.subscription_id = 1000;
	p.u.subscribe.props.present = MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
	p.u.subscribe.props.user_raw = user_raw2;
	p.u.subscribe.props.user_raw_len = sizeof(user_raw2);
	roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(g.u.subscribe.packet_id, 42);
	assert_int_equal(g.u.subscribe.filters.count, ARRAY_SIZE(filters));
	assert_true(g.u.subscribe.filters.with_options);
	assert_int_equal(g.u.subscribe.props.subscription_id, 1000);
	assert_int_equal(g.u.subscribe.props.sub_id_count, 1);
	assert_int_equal(g.u.subscribe.props.user_count, 2);
	it.list = &g.u.subscribe.filters;
	it.pos = 0;
	while (mqtt_topic_list_next_opts(&it, &f, &o)) {
		assert_true(i < ARRAY_SIZE(filters));
		assert_mstr(f, filters[i]);
		assert_int_equal(o, opts[i]);
		i++;
	}
	assert_int_equal(i, ARRAY_SIZE(filters));
	/* the options, field by field */
	assert_int_equal(MQTT_SUBOPT_QOS(opts[0]), 1);
	assert_true(opts[0] & MQTT_SUBOPT_NO_LOCAL);
	assert_true(opts[1] & MQTT_SUBOPT_RETAIN_AS_PUBLISHED);
	assert_int_equal(MQTT_SUBOPT_RETAIN_HANDLING(opts[2]), 1);
	assert_int_equal(MQTT_SUBOPT_RETAIN_HANDLING(opts[3]), 2);
	/* mqtt_topic_list_next keeps only the QoS */
	it.pos = 0;
	assert_true(mqtt_topic_list_next(&it, &f, &o));
	assert_int_equal(o, 1);
	assert_true(mqtt_topic_list_next(&it, &f, &o));
	assert_int_equal(o, 2);

	/* every options byte [MQTT 5.0, 3.8.3.1] */
	for (unsigned v = 0; v < 256; v++) {
		const uint8_t pkt[] = { 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't', (uint8_t)v };
		/* Reserved bits make it malformed; retain handling 3 is a
		 * protocol error [MQTT-3.8.3-6], reported apart. */
		bool bad_reserved = v & 0xC0;
		bool bad_rh = MQTT_SUBOPT_RETAIN_HANDLING(v) == 3;
		bool bad_opts = bad_reserved || bad_rh;
		bool bad_qos = (v & 3) == 3;
		long got = dec5(pkt, sizeof(pkt), &g);
		bool ok;

		if (bad_opts && bad_qos) /* breaking two rules may report either */
			ok = got == MQTT_ERR_SUB_OPTIONS || got == MQTT_ERR_RETAIN_HANDLING ||
			     got == MQTT_ERR_QOS;
		else if (bad_reserved)
			ok = got == MQTT_ERR_SUB_OPTIONS;
		else if (bad_rh)
			ok = got == MQTT_ERR_RETAIN_HANDLING &&
			     mqtt_err_is_protocol_error((int)got);
		else if (bad_qos)
			ok = got == MQTT_ERR_QOS;
		else
			ok = got == (long)sizeof(pkt);
		if (!ok)
			print_error("options 0x%02X: got %ld\n", v, got);
		assert_true(ok);
	}
	assert_int_equal(dec5((const uint8_t[]){ 0x82, 0x07, 0x00, 0x01, 0x00, 0x00, 0x01, 't',
						 0x30 },
			      9, &g),
			 MQTT_ERR_RETAIN_HANDLING);
	/* the v5 bits are reserved at level 4 [MQTT-3.8.3-4] */
	assert_int_equal(decode_copy((const uint8_t[]){ 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't',
							0x04 },
				     8, MQTT_LEVEL_311, &g),
			 MQTT_ERR_SUB_OPTIONS);
	/* no filter; two subscription identifiers; an identifier of 0 */
	assert_int_equal(dec5((const uint8_t[]){ 0x82, 0x03, 0x00, 0x01, 0x00 }, 5, &g),
			 MQTT_ERR_EMPTY);
	assert_int_equal(dec5((const uint8_t[]){ 0x82, 0x0B, 0x00, 0x01, 0x04, 0x0B, 0x01, 0x0B,
						 0x02, 0x00, 0x01, 't', 0x00 },
			      13, &g),
			 MQTT_ERR_PROP_DUPLICATE);
	assert_int_equal(dec5((const uint8_t[]){ 0x82, 0x09, 0x00, 0x01, 0x02, 0x0B, 0x00, 0x00,
						 0x01, 't', 0x00 },
			      11, &g),
			 MQTT_ERR_PROP_VALUE);
	/* a property block missing altogether: the filter length is read as one */
	assert_int_equal(dec5((const uint8_t[]){ 0x82, 0x06, 0x00, 0x01, 0x00, 0x01, 't', 0x00 }, 8,
			      &g),
			 MQTT_ERR_TRUNCATED);
}

static void test_suback_v5(void **state)
{
	static const uint8_t spec[] = { 0x00, 0x01, 0x02, 0x80, 0x83, 0x87,
					0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2 };
	struct mqtt_packet p, g;
	uint8_t buf[128];

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_SUBACK;
	p.u.suback.packet_id = 5;
	p.u.suback.codes = spec;
	p.u.suback.count = sizeof(spec);
	p.u.suback.props.reason_string = pstr("r");
	p.u.suback.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
	roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(g.u.suback.packet_id, 5);
	assert_int_equal(g.u.suback.count, sizeof(spec));
	assert_memory_equal(g.u.suback.codes, spec, sizeof(spec));
	assert_pstr(g.u.suback.props.reason_string, "r", 1);

	for (unsigned c = 0; c < 256; c++) {
		const uint8_t pkt[] = { 0x90, 0x05, 0x00, 0x05, 0x00, 0x00, (uint8_t)c };
		long want = memchr(spec, (int)c, sizeof(spec)) ? 7 : MQTT_ERR_REASON;
		long got = dec5(pkt, sizeof(pkt), &g);

		if (got != want)
			print_error("SUBACK code 0x%02X: got %ld\n", c, got);
		assert_int_equal(got, want);
	}
	assert_int_equal(dec5((const uint8_t[]){ 0x90, 0x04, 0x00, 0x05, 0x00, 0x8F }, 6, &g), 6);
	assert_int_equal(dec5((const uint8_t[]){ 0x90, 0x04, 0x00, 0x05, 0x00, 0xA2 }, 6, &g), 6);
	assert_int_equal(dec5((const uint8_t[]){ 0x90, 0x04, 0x00, 0x05, 0x00, 0x03 }, 6, &g),
			 MQTT_ERR_REASON);
	/* v5 codes are not 3.1.1 return codes */
	assert_int_equal(decode_copy((const uint8_t[]){ 0x90, 0x03, 0x00, 0x05, 0x8F }, 5,
				     MQTT_LEVEL_311, &g),
			 MQTT_ERR_REASON);
	/* no code at all */
	assert_int_equal(dec5((const uint8_t[]){ 0x90, 0x03, 0x00, 0x05, 0x00 }, 5, &g),
			 MQTT_ERR_EMPTY);
	/* a subscription identifier is no SUBACK property */
	assert_int_equal(dec5((const uint8_t[]){ 0x90, 0x06, 0x00, 0x05, 0x02, 0x0B, 0x01, 0x00 },
			      8, &g),
			 MQTT_ERR_PROP_PLACE);
}

static void test_unsubscribe_v5(void **state)
{
	static const char *const filters[] = { "a/+", "#", "x/y/z" };
	uint8_t list[64], buf[128];
	struct mqtt_packet p, g;
	struct mqtt_topic_iter it;
	struct mqtt_str f;
	uint8_t o;
	size_t i = 0;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_UNSUBSCRIBE;
	p.u.unsubscribe.packet_id = 77;
	p.u.unsubscribe.filters = build_list(list, sizeof(list), filters, NULL, ARRAY_SIZE(filters));
	p.u.unsubscribe.props.user_raw = user_raw2;
	p.u.unsubscribe.props.user_raw_len = sizeof(user_raw2);
	roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(g.u.unsubscribe.packet_id, 77);
	assert_int_equal(g.u.unsubscribe.filters.count, 3);
	assert_false(g.u.unsubscribe.filters.with_options);
	assert_int_equal(g.u.unsubscribe.props.user_count, 2);
	it.list = &g.u.unsubscribe.filters;
	it.pos = 0;
	while (mqtt_topic_list_next_opts(&it, &f, &o)) {
		assert_mstr(f, filters[i]);
		assert_int_equal(o, 0);
		i++;
	}
	assert_int_equal(i, 3);
	/* empty list; a Subscription Identifier is SUBSCRIBE-only */
	assert_int_equal(dec5((const uint8_t[]){ 0xA2, 0x03, 0x00, 0x01, 0x00 }, 5, &g),
			 MQTT_ERR_EMPTY);
	assert_int_equal(dec5((const uint8_t[]){ 0xA2, 0x08, 0x00, 0x01, 0x02, 0x0B, 0x01, 0x00,
						 0x01, 't' },
			      10, &g),
			 MQTT_ERR_PROP_PLACE);
}

static void test_unsuback_v5(void **state)
{
	static const uint8_t spec[] = { 0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91 };
	struct mqtt_packet p, g;
	uint8_t buf[128];
	size_t n;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_UNSUBACK;
	p.u.ack.packet_id = 9;
	p.u.ack.codes = spec;
	p.u.ack.count = sizeof(spec);
	p.u.ack.props.reason_string = pstr("gone");
	p.u.ack.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
	roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(g.u.ack.packet_id, 9);
	assert_int_equal(g.u.ack.count, sizeof(spec));
	assert_memory_equal(g.u.ack.codes, spec, sizeof(spec));
	assert_pstr(g.u.ack.props.reason_string, "gone", 4);

	/* one code, no properties: the block is still there */
	p.u.ack.codes = spec + 1;
	p.u.ack.count = 1;
	memset(&p.u.ack.props, 0, sizeof(p.u.ack.props));
	n = roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(n, 6);
	assert_memory_equal(buf, ((const uint8_t[]){ 0xB0, 0x04, 0x00, 0x09, 0x00, 0x11 }), 6);
	assert_int_equal(g.u.ack.count, 1);
	assert_int_equal(g.u.ack.codes[0], 0x11);

	/* no codes: the encoder refuses, the decoder calls it empty */
	p.u.ack.count = 0;
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_5, buf, sizeof(buf)), MQTT_ERR_INVALID);
	assert_int_equal(dec5((const uint8_t[]){ 0xB0, 0x03, 0x00, 0x09, 0x00 }, 5, &g),
			 MQTT_ERR_EMPTY);
	for (unsigned c = 0; c < 256; c++) {
		const uint8_t pkt[] = { 0xB0, 0x04, 0x00, 0x09, 0x00, (uint8_t)c };
		long want = memchr(spec, (int)c, sizeof(spec)) ? 6 : MQTT_ERR_REASON;
		long got = dec5(pkt, sizeof(pkt), &g);

		if (got != want)
			print_error("UNSUBACK code 0x%02X: got %ld\n", c, got);
		assert_int_equal(got, want);
	}
	/* the SUBACK-only codes */
	assert_int_equal(dec5((const uint8_t[]){ 0xB0, 0x04, 0x00, 0x09, 0x00, 0x01 }, 6, &g),
			 MQTT_ERR_REASON);
	assert_int_equal(dec5((const uint8_t[]){ 0xB0, 0x04, 0x00, 0x09, 0x00, 0xA2 }, 6, &g),
			 MQTT_ERR_REASON);
}

static void test_disconnect_v5(void **state)
{
	struct mqtt_packet p, g;
	uint8_t buf[128];
	size_t n;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_DISCONNECT;
	/* reason 0, no properties: an empty body [MQTT 5.0, 3.14.2.1] */
	n = roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(n, 2);
	assert_memory_equal(buf, ((const uint8_t[]){ 0xE0, 0x00 }), 2);
	assert_int_equal(g.u.reason.reason_code, 0);
	assert_int_equal(g.u.reason.props.present, 0);
	/* a reason only */
	p.u.reason.reason_code = 0x04;
	n = roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(n, 3);
	assert_memory_equal(buf, ((const uint8_t[]){ 0xE0, 0x01, 0x04 }), 3);
	assert_int_equal(g.u.reason.reason_code, 0x04);
	/* reason and properties */
	p.u.reason.reason_code = 0x9C; /* Use another server */
	p.u.reason.props.server_reference = pstr("b:1883");
	p.u.reason.props.reason_string = pstr("moved");
	p.u.reason.props.session_expiry = 0;
	p.u.reason.props.present = MQTT_PROP_BIT(0x1C) | MQTT_PROP_BIT(0x1F) | MQTT_PROP_BIT(0x11);
	p.u.reason.props.user_raw = user_raw2;
	p.u.reason.props.user_raw_len = sizeof(user_raw2);
	roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(g.u.reason.reason_code, 0x9C);
	assert_true(g.u.reason.props.present == (p.u.reason.props.present | MQTT_PROP_BIT(0x26)));
	assert_pstr(g.u.reason.props.server_reference, "b:1883", 6);
	assert_pstr(g.u.reason.props.reason_string, "moved", 5);
	assert_int_equal(g.u.reason.props.session_expiry, 0);
	assert_int_equal(g.u.reason.props.user_count, 2);
	/* reason 0 with properties keeps the reason byte */
	p.u.reason.reason_code = 0;
	roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(buf[2], 0x00);
	assert_int_equal(g.u.reason.reason_code, 0);
	/* hand-written: reason + empty block; wrong property; past the end */
	assert_int_equal(dec5((const uint8_t[]){ 0xE0, 0x02, 0x8E, 0x00 }, 4, &g), 4);
	assert_int_equal(g.u.reason.reason_code, 0x8E);
	assert_int_equal(dec5((const uint8_t[]){ 0xE0, 0x04, 0x00, 0x02, 0x17, 0x01 }, 6, &g),
			 MQTT_ERR_PROP_PLACE);
	assert_int_equal(dec5((const uint8_t[]){ 0xE0, 0x03, 0x00, 0x05, 0x11 }, 5, &g),
			 MQTT_ERR_TRUNCATED);
	assert_int_equal(dec5((const uint8_t[]){ 0xE0, 0x03, 0x00, 0x00, 0x00 }, 5, &g),
			 MQTT_ERR_TRAILING);
	/* before 5 a DISCONNECT has no body */
	assert_int_equal(decode_copy((const uint8_t[]){ 0xE0, 0x01, 0x00 }, 3, MQTT_LEVEL_311, &g),
			 MQTT_ERR_TRAILING);
}

static void test_auth_v5(void **state)
{
	struct mqtt_packet p, g;
	uint8_t buf[128];
	size_t n;

	(void)state;
	memset(&p, 0, sizeof(p));
	p.type = MQTT_AUTH;
	/* success, nothing else: remaining length 0 [MQTT 5.0, 3.15.2.1] */
	n = roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(n, 2);
	assert_memory_equal(buf, ((const uint8_t[]){ 0xF0, 0x00 }), 2);
	assert_int_equal(g.u.reason.reason_code, 0);
	/* continue authentication with method and data */
	p.u.reason.reason_code = 0x18;
	p.u.reason.props.auth_method = pstr("SCRAM-SHA-1");
	p.u.reason.props.auth_data.data = (const uint8_t *)"\x00\x01\x02\xFF";
	p.u.reason.props.auth_data.len = 4;
	p.u.reason.props.present = MQTT_PROP_BIT(0x15) | MQTT_PROP_BIT(0x16);
	roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(g.u.reason.reason_code, 0x18);
	assert_true(g.u.reason.props.present == p.u.reason.props.present);
	assert_pstr(g.u.reason.props.auth_method, "SCRAM-SHA-1", 11);
	assert_pstr(g.u.reason.props.auth_data, "\x00\x01\x02\xFF", 4);
	/* re-authenticate, reason only */
	memset(&p.u.reason.props, 0, sizeof(p.u.reason.props));
	p.u.reason.reason_code = 0x19;
	n = roundtrip5(&p, buf, sizeof(buf), &g);
	assert_int_equal(n, 3);
	assert_int_equal(g.u.reason.reason_code, 0x19);
	/* every other reason code is refused */
	for (unsigned rc = 0; rc < 256; rc++) {
		const uint8_t pkt[] = { 0xF0, 0x02, (uint8_t)rc, 0x00 };
		long want = rc == 0x00 || rc == 0x18 || rc == 0x19 ? 4 : MQTT_ERR_REASON;

		assert_int_equal(dec5(pkt, sizeof(pkt), &g), want);
	}
	assert_int_equal(dec5((const uint8_t[]){ 0xF0, 0x01, 0x80 }, 3, &g), MQTT_ERR_REASON);
	/* a property AUTH cannot carry */
	assert_int_equal(dec5((const uint8_t[]){ 0xF0, 0x04, 0x18, 0x02, 0x17, 0x01 }, 6, &g),
			 MQTT_ERR_PROP_PLACE);
	/* AUTH does not exist before 5, and its flags are reserved */
	assert_int_equal(decode_copy((const uint8_t[]){ 0xF0, 0x00 }, 2, MQTT_LEVEL_311, &g),
			 MQTT_ERR_TYPE);
	assert_int_equal(mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf)), MQTT_ERR_INVALID);
	assert_int_equal(dec5((const uint8_t[]){ 0xF1, 0x00 }, 2, &g), MQTT_ERR_FLAGS);
}

/* ---- 3. classification, publish header, level 4 ---- */

static void test_protocol_error_class(void **state)
{
	static const int protocol[] = { MQTT_ERR_PROP_DUPLICATE, MQTT_ERR_PROP_PLACE,
					MQTT_ERR_PROP_VALUE, MQTT_ERR_PACKET_ID, MQTT_ERR_TOPIC };
	/* Malformed Packets (or not errors at all) */
	static const int other[] = { MQTT_OK,
				     MQTT_ERR_NEED_MORE,
				     MQTT_ERR_REMAINING_LENGTH,
				     MQTT_ERR_TYPE,
				     MQTT_ERR_FLAGS,
				     MQTT_ERR_TRUNCATED,
				     MQTT_ERR_TRAILING,
				     MQTT_ERR_UTF8,
				     MQTT_ERR_QOS,
				     MQTT_ERR_PROP_UNKNOWN };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(protocol); i++)
		assert_true(mqtt_err_is_protocol_error(protocol[i]));
	for (size_t i = 0; i < ARRAY_SIZE(other); i++)
		assert_false(mqtt_err_is_protocol_error(other[i]));
	/* what the decoder returns for the spec's examples */
	{
		static const uint8_t dup[] = { 0x01, 0x00, 0x01, 0x01 };
		static const uint8_t rm0[] = { 0x21, 0x00, 0x00 };
		static const uint8_t unk[] = { 0x2B, 0x00 };
		static const uint8_t cut[] = { 0x03, 0x00, 0x05, 'a' };
		struct mqtt_props p;

		assert_true(mqtt_err_is_protocol_error(
			(int)props_body(dup, sizeof(dup), MQTT_PUBLISH, &p)));
		assert_true(mqtt_err_is_protocol_error(
			(int)props_body(rm0, sizeof(rm0), MQTT_CONNECT, &p)));
		assert_true(mqtt_err_is_protocol_error(
			(int)props_body(rm0, sizeof(rm0), MQTT_PUBLISH, &p)));
		assert_false(mqtt_err_is_protocol_error(
			(int)props_body(unk, sizeof(unk), MQTT_CONNACK, &p)));
		assert_false(mqtt_err_is_protocol_error(
			(int)props_body(cut, sizeof(cut), MQTT_PUBLISH, &p)));
	}
	/* every error has a message */
	for (int e = MQTT_ERR_REASON; e <= MQTT_OK; e++) {
		assert_non_null(mqtt_strerror(e));
		assert_true(strlen(mqtt_strerror(e)) > 0);
	}
}

static void test_publish_header_v5(void **state)
{
	static const uint32_t sub_ids[] = { 9, 100000 };
	static const uint8_t payload[] = "payload bytes";
	struct mqtt_packet p;
	uint8_t whole[512], head[512];
	long n, h;

	(void)state;
	for (uint8_t qos = 0; qos < 3; qos++) {
		memset(&p, 0, sizeof(p));
		p.type = MQTT_PUBLISH;
		p.u.publish.qos = qos;
		p.u.publish.packet_id = qos ? 0x1234 : 0;
		p.u.publish.retain = qos == 1;
		p.u.publish.topic = str("t/opic");
		p.u.publish.payload = payload;
		p.u.publish.payload_len = sizeof(payload) - 1;
		fill_props_all(&p.u.publish.props, user_raw2, sizeof(user_raw2), sub_ids,
			       ARRAY_SIZE(sub_ids));
		n = mqtt_encode(&p, MQTT_LEVEL_5, whole, sizeof(whole));
		assert_true(n > 0);
		h = mqtt_encode_publish_header(&p.u.publish, MQTT_LEVEL_5, head, sizeof(head));
		assert_true(h > 0);
		assert_int_equal(h + (long)p.u.publish.payload_len, n);
		memcpy(head + h, payload, p.u.publish.payload_len);
		assert_memory_equal(head, whole, (size_t)n);
		/* too small a buffer for the header */
		assert_int_equal(mqtt_encode_publish_header(&p.u.publish, MQTT_LEVEL_5, head,
							    (size_t)h - 1),
				 MQTT_ERR_NOSPACE);
		/* the same at level 4: no properties in either */
		n = mqtt_encode(&p, MQTT_LEVEL_311, whole, sizeof(whole));
		h = mqtt_encode_publish_header(&p.u.publish, MQTT_LEVEL_311, head, sizeof(head));
		assert_int_equal(h + (long)p.u.publish.payload_len, n);
		memcpy(head + h, payload, p.u.publish.payload_len);
		assert_memory_equal(head, whole, (size_t)n);
	}
}

/* The packets level 4 knows, encoded from structs that carry v5 fields. */
static void test_level4_ignores_v5_fields(void **state)
{
	static const uint8_t codes[] = { 0x11, 0x80 };
	struct mqtt_packet p, g;
	uint8_t buf[256];
	long n;

	(void)state;
	/* PUBLISH: properties dropped */
	memset(&p, 0, sizeof(p));
	p.type = MQTT_PUBLISH;
	p.u.publish.qos = 1;
	p.u.publish.packet_id = 3;
	p.u.publish.topic = str("a");
	p.u.publish.payload = (const uint8_t *)"z";
	p.u.publish.payload_len = 1;
	fill_props_all(&p.u.publish.props, user_raw2, sizeof(user_raw2), NULL, 0);
	n = mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf));
	assert_int_equal(n, 8);
	assert_memory_equal(buf, ((const uint8_t[]){ 0x32, 0x06, 0x00, 0x01, 'a', 0x00, 0x03, 'z' }),
			    8);
	assert_int_equal(mqtt_encoded_size(&p, MQTT_LEVEL_311), 8);
	assert_int_equal(decode_copy(buf, 8, MQTT_LEVEL_311, &g), 8);
	assert_int_equal(g.u.publish.props.present, 0);
	assert_int_equal(g.u.publish.payload_len, 1);

	/* PUBACK..PUBCOMP: reason and properties dropped */
	for (uint8_t type = MQTT_PUBACK; type <= MQTT_PUBCOMP; type++) {
		uint8_t first = (uint8_t)(type << 4 | (type == MQTT_PUBREL ? 2 : 0));

		memset(&p, 0, sizeof(p));
		p.type = type;
		p.u.ack.packet_id = 3;
		p.u.ack.reason_code = type == MQTT_PUBACK ? 0x10 : 0x92;
		p.u.ack.props.reason_string = pstr("r");
		p.u.ack.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
		n = mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf));
		assert_int_equal(n, 4);
		assert_memory_equal(buf, ((const uint8_t[]){ first, 0x02, 0x00, 0x03 }), 4);
		/* and a 3.1.1 decoder does not take a reason */
		assert_int_equal(decode_copy((const uint8_t[]){ first, 0x03, 0x00, 0x03, 0x10 }, 5,
					     MQTT_LEVEL_311, &g),
				 MQTT_ERR_TRAILING);
		assert_int_equal(decode_copy(buf, 4, MQTT_LEVEL_311, &g), 4);
		assert_int_equal(g.u.ack.reason_code, 0);
	}

	/* UNSUBACK: codes and properties dropped */
	memset(&p, 0, sizeof(p));
	p.type = MQTT_UNSUBACK;
	p.u.ack.packet_id = 4;
	p.u.ack.codes = codes;
	p.u.ack.count = 2;
	p.u.ack.props.reason_string = pstr("r");
	p.u.ack.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
	n = mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, ((const uint8_t[]){ 0xB0, 0x02, 0x00, 0x04 }), 4);

	/* CONNACK, DISCONNECT: properties and reason dropped */
	memset(&p, 0, sizeof(p));
	p.type = MQTT_CONNACK;
	p.u.connack.props.server_keepalive = 5;
	p.u.connack.props.present = MQTT_PROP_BIT(MQTT_PROP_SERVER_KEEPALIVE);
	n = mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf));
	assert_int_equal(n, 4);
	assert_memory_equal(buf, ((const uint8_t[]){ 0x20, 0x02, 0x00, 0x00 }), 4);
	memset(&p, 0, sizeof(p));
	p.type = MQTT_DISCONNECT;
	p.u.reason.reason_code = 0x8E;
	p.u.reason.props.reason_string = pstr("r");
	p.u.reason.props.present = MQTT_PROP_BIT(MQTT_PROP_REASON_STRING);
	n = mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf));
	assert_int_equal(n, 2);
	assert_memory_equal(buf, ((const uint8_t[]){ 0xE0, 0x00 }), 2);

	/* SUBSCRIBE: properties dropped */
	{
		static const char *const f[] = { "s" };
		static const uint8_t o[] = { 0x01 };
		uint8_t list[16];

		memset(&p, 0, sizeof(p));
		p.type = MQTT_SUBSCRIBE;
		p.u.subscribe.packet_id = 2;
		p.u.subscribe.filters = build_list(list, sizeof(list), f, o, 1);
		p.u.subscribe.props.subscription_id = 7;
		p.u.subscribe.props.present = MQTT_PROP_BIT(MQTT_PROP_SUBSCRIPTION_ID);
		n = mqtt_encode(&p, MQTT_LEVEL_311, buf, sizeof(buf));
		assert_int_equal(n, 8);
		assert_memory_equal(buf,
				    ((const uint8_t[]){ 0x82, 0x06, 0x00, 0x02, 0x00, 0x01, 's',
							0x01 }),
				    8);
		assert_int_equal(decode_copy(buf, 8, MQTT_LEVEL_311, &g), 8);
		assert_int_equal(g.u.subscribe.props.present, 0);
	}
}

/*
 * A Variable Byte Integer has at most four bytes [MQTT 5.0, 1.5.5]; a fifth
 * makes the packet unparseable, a Malformed Packet (4.13.1, reason 0x81),
 * like a fifth remaining-length byte (MQTT_ERR_REMAINING_LENGTH). It is not
 * a Protocol Error (0x82) such as an out-of-range property value.
 */
static void test_props_varint_too_long(void **state)
{
	static const uint8_t len5[] = { 0x80, 0x80, 0x80, 0x80, 0x01 };
	static const uint8_t sid5[] = { 0x06, 0x0B, 0x80, 0x80, 0x80, 0x80, 0x01 };
	static const uint8_t id5[] = { 0x05, 0x80, 0x80, 0x80, 0x80, 0x01 };
	static const uint8_t pub[] = { 0x30, 0x0A, 0x00, 0x01, 't', 0x80, 0x80,
				       0x80, 0x80, 0x01, 0x00, 0x00 };
	struct mqtt_props p;
	struct mqtt_packet g;
	long rc;

	(void)state;
	/* the property identifier: already a malformed-class error */
	rc = props_copy(id5, sizeof(id5), MQTT_PUBLISH, &p);
	assert_true(rc < 0);
	assert_false(mqtt_err_is_protocol_error((int)rc));
	/* the property length */
	rc = props_copy(len5, sizeof(len5), MQTT_PUBLISH, &p);
	if (rc >= 0 || mqtt_err_is_protocol_error((int)rc))
		print_error("5-byte property length: got %ld (%s)\n", rc, mqtt_strerror((int)rc));
	assert_true(rc < 0);
	assert_false(mqtt_err_is_protocol_error((int)rc));
	/* ... inside a PUBLISH */
	rc = dec5(pub, sizeof(pub), &g);
	if (rc >= 0 || mqtt_err_is_protocol_error((int)rc))
		print_error("PUBLISH, 5-byte property length: got %ld (%s)\n", rc,
			    mqtt_strerror((int)rc));
	assert_true(rc < 0);
	assert_false(mqtt_err_is_protocol_error((int)rc));
	/* a Subscription Identifier's value */
	rc = props_copy(sid5, sizeof(sid5), MQTT_SUBSCRIBE, &p);
	if (rc >= 0 || mqtt_err_is_protocol_error((int)rc))
		print_error("5-byte subscription identifier: got %ld (%s)\n", rc,
			    mqtt_strerror((int)rc));
	assert_true(rc < 0);
	assert_false(mqtt_err_is_protocol_error((int)rc));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_props_table_complete),
		cmocka_unit_test(test_props_each_valid),
		cmocka_unit_test(test_props_place),
		cmocka_unit_test(test_props_duplicate),
		cmocka_unit_test(test_props_subscription_id_repeat),
		cmocka_unit_test(test_props_truncated),
		cmocka_unit_test(test_props_values),
		cmocka_unit_test(test_props_utf8),
		cmocka_unit_test(test_props_unknown),
		cmocka_unit_test(test_props_empty),
		cmocka_unit_test(test_props_next),
		cmocka_unit_test(test_props_encode_roundtrip),
		cmocka_unit_test(test_props_encode_fields),
		cmocka_unit_test(test_connect_v5),
		cmocka_unit_test(test_connack_v5),
		cmocka_unit_test(test_publish_v5),
		cmocka_unit_test(test_acks_v5),
		cmocka_unit_test(test_subscribe_v5),
		cmocka_unit_test(test_suback_v5),
		cmocka_unit_test(test_unsubscribe_v5),
		cmocka_unit_test(test_unsuback_v5),
		cmocka_unit_test(test_disconnect_v5),
		cmocka_unit_test(test_auth_v5),
		cmocka_unit_test(test_protocol_error_class),
		cmocka_unit_test(test_publish_header_v5),
		cmocka_unit_test(test_level4_ignores_v5_fields),
		cmocka_unit_test(test_props_varint_too_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
