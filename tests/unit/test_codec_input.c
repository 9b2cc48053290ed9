/*
 * test_codec_input.c - what the decoder refuses, by class of input, in
 * every field and protocol level where the class applies:
 *
 * - UTF-8 strings that name things (client identifier, user name, will
 *   topic, topic names, topic filters): ill-formed or U+0000 always
 *   [MQTT-1.5.4-1], [MQTT-1.5.4-2]; control characters and non-characters
 *   under strict decoding (the standard lets a receiver refuse them,
 *   [MQTT 5.0, 1.5.4]), and which CONNECT field was at fault;
 * - UTF-8 property strings: the standard's rules only, never strictness;
 * - DISCONNECT and AUTH reason codes by who may send them
 *   [MQTT 5.0, 3.14.2.1, 3.15.2.1];
 * - bytes where the packet has no room for any: PINGREQ, PINGRESP and a
 *   CONNECT carrying a field its flags say is absent [MQTT-3.1.2-16 .. 19].
 *
 * Every input is decoded from a heap copy of exactly its length, so an
 * over-read is an AddressSanitizer error rather than a pass.
 */
#include "helpers.h"
#include "utf8_samples.h"

#include "mqtt/mqtt.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const uint8_t levels[] = { MQTT_LEVEL_31, MQTT_LEVEL_311, MQTT_LEVEL_5 };

static long decode_opts(const uint8_t *buf, size_t len, uint8_t level, bool strict,
			uint8_t sender, struct mqtt_packet *out)
{
	struct mqtt_decode_opts o = { .level = level, .sender = sender, .strict_utf8 = strict };
	uint8_t *c = malloc(len);
	long rc;

	assert_non_null(c);
	memcpy(c, buf, len);
	rc = mqtt_decode_with(c, len, &o, out);
	free(c);
	return rc;
}

static size_t encode(const struct mqtt_packet *p, uint8_t level, uint8_t *buf, size_t cap)
{
	long n = mqtt_encode(p, level, buf, cap);

	assert_true(n > 0);
	return (size_t)n;
}

/* The error a string of class `cls` must give, 0 if accepted. */
static long want_error(unsigned cls, bool strict)
{
	if (cls & MQTT_UTF8_REFUSED)
		return MQTT_ERR_UTF8;
	if (strict && (cls & MQTT_UTF8_DISCOURAGED))
		return MQTT_ERR_UTF8_CHARS;
	return 0;
}

/* Decoding result r against the wanted error (0: the packet's size). */
static bool result_is(long r, long want, size_t size)
{
	return want ? r == want : r == (long)size;
}

/* ---- CONNECT: client identifier, user name, will topic ---- */

static struct mqtt_packet connect_with(uint8_t level, uint8_t field, struct mqtt_str s)
{
	struct mqtt_packet p = { .type = MQTT_CONNECT };
	struct mqtt_connect *c = &p.u.connect;

	c->protocol_name = level == MQTT_LEVEL_31 ? (struct mqtt_str){ (const uint8_t *)"MQIsdp", 6 }
						  : (struct mqtt_str){ (const uint8_t *)"MQTT", 4 };
	c->level = level;
	c->clean_session = true;
	c->client_id = field == MQTT_FIELD_CLIENT_ID ? s : (struct mqtt_str){ (const uint8_t *)"id", 2 };
	c->will = true;
	c->will_topic = field == MQTT_FIELD_WILL_TOPIC ? s : (struct mqtt_str){ (const uint8_t *)"w", 1 };
	c->will_payload = (struct mqtt_str){ (const uint8_t *)"\x00\xff\x01", 3 }; /* binary */
	c->has_username = true;
	c->username = field == MQTT_FIELD_USERNAME ? s : (struct mqtt_str){ (const uint8_t *)"u", 1 };
	c->has_password = true;
	c->password = (struct mqtt_str){ (const uint8_t *)"\x00\xed\xa0\x80", 4 }; /* binary */
	return p;
}

static void test_connect_string_fields(void **state)
{
	static const uint8_t fields[] = { MQTT_FIELD_CLIENT_ID, MQTT_FIELD_USERNAME,
					  MQTT_FIELD_WILL_TOPIC };
	int failed = 0;

	(void)state;
	for (size_t l = 0; l < sizeof(levels); l++)
		for (size_t f = 0; f < sizeof(fields); f++)
			for (size_t i = 0; i < UTF8_SAMPLES; i++)
				for (int strict = 0; strict < 2; strict++) {
					const struct utf8_sample *x = &utf8_samples[i];
					uint8_t text[16], buf[256];
					struct mqtt_str s = { text, 0 };
					size_t len, n;
					struct mqtt_packet p, out;
					long want = want_error(x->cls, strict), r;

					utf8_embed(x, text, &len);
					s.len = (uint16_t)len;
					p = connect_with(levels[l], fields[f], s);
					n = encode(&p, levels[l], buf, sizeof(buf));
					r = decode_opts(buf, n, levels[l], strict, MQTT_SENDER_CLIENT, &out);
					if (result_is(r, want, n) &&
					    (!want || out.u.connect.bad_field == fields[f]))
						continue;
					print_error("level %u field %u %s strict %d: got %ld (%s), field "
						    "%u; want %ld\n", levels[l], fields[f], x->name, strict,
						    r, mqtt_strerror((int)r), out.u.connect.bad_field, want);
					failed++;
				}
	assert_int_equal(failed, 0);
}

/* The will topic's other rules name the field too; a field cut short is
 * only malformed (no field-specific answer). */
static void test_connect_bad_field_other_errors(void **state)
{
	static const char *const bad_topics[] = { "", "a/+", "a/#", "#" };
	uint8_t buf[256];
	struct mqtt_packet p, out;
	size_t n;

	(void)state;
	for (size_t l = 0; l < sizeof(levels); l++) {
		for (size_t i = 0; i < 4; i++) {
			struct mqtt_str t = { (const uint8_t *)bad_topics[i],
					      (uint16_t)strlen(bad_topics[i]) };

			p = connect_with(levels[l], MQTT_FIELD_WILL_TOPIC, t);
			n = encode(&p, levels[l], buf, sizeof(buf));
			assert_int_equal(decode_opts(buf, n, levels[l], true, MQTT_SENDER_CLIENT, &out),
					 MQTT_ERR_TOPIC);
			assert_int_equal(out.u.connect.bad_field, MQTT_FIELD_WILL_TOPIC);
		}
		/* A client identifier whose length runs past the packet. */
		p = connect_with(levels[l], 0, (struct mqtt_str){ (const uint8_t *)"x", 1 });
		p.u.connect.will = false;
		p.u.connect.has_username = p.u.connect.has_password = false;
		n = encode(&p, levels[l], buf, sizeof(buf));
		buf[n - 3] = 9; /* the length of "id", the last field, becomes 9 */
		assert_int_equal(decode_opts(buf, n, levels[l], true, MQTT_SENDER_CLIENT, &out),
				 MQTT_ERR_TRUNCATED);
		assert_int_equal(out.u.connect.bad_field, 0);
	}
}

/* ---- PUBLISH topic, SUBSCRIBE and UNSUBSCRIBE filters ---- */

static size_t publish_with(uint8_t level, struct mqtt_str topic, uint8_t qos, uint8_t *buf,
			   size_t cap)
{
	struct mqtt_packet p = { .type = MQTT_PUBLISH };

	p.u.publish.topic = topic;
	p.u.publish.qos = qos;
	p.u.publish.packet_id = qos ? 7 : 0;
	p.u.publish.payload = (const uint8_t *)"\x00\xff";
	p.u.publish.payload_len = 2;
	return encode(&p, level, buf, cap);
}

/* A SUBSCRIBE (or UNSUBSCRIBE) of a valid filter, then this one. */
static size_t list_with(uint8_t level, uint8_t type, struct mqtt_str filter, uint8_t *buf,
			size_t cap)
{
	uint8_t list[64];
	size_t pos = 0;
	struct mqtt_packet p = { .type = type };
	struct mqtt_topic_list *l = type == MQTT_SUBSCRIBE ? &p.u.subscribe.filters
							  : &p.u.unsubscribe.filters;
	const struct mqtt_str first = { (const uint8_t *)"ok/#", 4 };
	const struct mqtt_str *f[2] = { &first, &filter };

	for (int i = 0; i < 2; i++) {
		list[pos++] = 0;
		list[pos++] = (uint8_t)f[i]->len;
		memcpy(list + pos, f[i]->data, f[i]->len);
		pos += f[i]->len;
		if (type == MQTT_SUBSCRIBE)
			list[pos++] = 1;
	}
	l->data = list;
	l->len = (uint32_t)pos;
	l->count = 2;
	l->with_options = type == MQTT_SUBSCRIBE;
	if (type == MQTT_SUBSCRIBE)
		p.u.subscribe.packet_id = 3;
	else
		p.u.unsubscribe.packet_id = 3;
	return encode(&p, level, buf, cap);
}

static void test_topic_and_filter_strings(void **state)
{
	int failed = 0;

	(void)state;
	for (size_t l = 0; l < sizeof(levels); l++)
		for (size_t i = 0; i < UTF8_SAMPLES; i++)
			for (int strict = 0; strict < 2; strict++)
				for (int what = 0; what < 4; what++) {
					const struct utf8_sample *x = &utf8_samples[i];
					uint8_t text[16], buf[256];
					struct mqtt_str s = { text, 0 };
					struct mqtt_packet out;
					long want = want_error(x->cls, strict), r;
					size_t len, n;

					utf8_embed(x, text, &len);
					s.len = (uint16_t)len;
					if (what < 2) /* PUBLISH at QoS 0 and 1 */
						n = publish_with(levels[l], s, (uint8_t)what, buf,
								 sizeof(buf));
					else
						n = list_with(levels[l],
							      what == 2 ? MQTT_SUBSCRIBE : MQTT_UNSUBSCRIBE,
							      s, buf, sizeof(buf));
					r = decode_opts(buf, n, levels[l], strict, MQTT_SENDER_CLIENT,
							&out);
					if (result_is(r, want, n))
						continue;
					print_error("level %u packet %d %s strict %d: got %ld, want %ld\n",
						    levels[l], what, x->name, strict, r, want);
					failed++;
				}
	assert_int_equal(failed, 0);
}

/* ---- property strings: the standard's rule, not strictness ---- */

static void test_property_strings_not_strict(void **state)
{
	uint8_t buf[256], text[16];
	struct mqtt_packet p = { .type = MQTT_PUBLISH }, out;
	size_t n;

	(void)state;
	for (size_t i = 0; i < UTF8_SAMPLES; i++) {
		const struct utf8_sample *x = &utf8_samples[i];
		size_t len;

		utf8_embed(x, text, &len);
		p.u.publish.topic = (struct mqtt_str){ (const uint8_t *)"t", 1 };
		p.u.publish.props.present = MQTT_PROP_BIT(MQTT_PROP_CONTENT_TYPE);
		p.u.publish.props.content_type.data = text;
		p.u.publish.props.content_type.len = (uint16_t)len;
		n = encode(&p, MQTT_LEVEL_5, buf, sizeof(buf));
		if (x->cls & MQTT_UTF8_REFUSED)
			assert_int_equal(decode_opts(buf, n, MQTT_LEVEL_5, true, MQTT_SENDER_CLIENT, &out),
					 MQTT_ERR_UTF8);
		else
			assert_int_equal(decode_opts(buf, n, MQTT_LEVEL_5, true, MQTT_SENDER_CLIENT, &out),
					 (long)n);
	}
}

/* ---- DISCONNECT and AUTH reason codes, by sender ---- */

/* Written out again from the standard's tables, not from decode.c. */
static bool disconnect_code_ok(uint8_t sender, uint8_t rc)
{
	static const uint8_t either[] = { 0x00, 0x80, 0x81, 0x82, 0x83, 0x90, 0x93,
					  0x94, 0x95, 0x96, 0x97, 0x98, 0x99 };
	static const uint8_t server[] = { 0x87, 0x89, 0x8B, 0x8D, 0x8E, 0x8F, 0x9A, 0x9B,
					  0x9C, 0x9D, 0x9E, 0x9F, 0xA0, 0xA1, 0xA2 };

	if (memchr(either, rc, sizeof(either)))
		return true;
	if (rc == 0x04) /* Disconnect with Will Message: "Client" */
		return sender != MQTT_SENDER_SERVER;
	return memchr(server, rc, sizeof(server)) && sender != MQTT_SENDER_CLIENT;
}

static bool auth_code_ok(uint8_t sender, uint8_t rc)
{
	switch (rc) {
	case 0x00: return sender != MQTT_SENDER_CLIENT; /* Success: "Server" */
	case 0x18: return true;                         /* Continue authentication */
	case 0x19: return sender != MQTT_SENDER_SERVER; /* Re-authenticate: "Client" */
	default: return false;
	}
}

static void test_reason_codes_by_sender(void **state)
{
	static const uint8_t senders[] = { MQTT_SENDER_ANY, MQTT_SENDER_CLIENT, MQTT_SENDER_SERVER };
	int failed = 0;

	(void)state;
	for (size_t s = 0; s < sizeof(senders); s++)
		for (int type = MQTT_DISCONNECT; type <= MQTT_AUTH; type++)
			for (int rc = 0; rc < 256; rc++) {
				/* reason code then an empty property block */
				uint8_t pkt[4] = { (uint8_t)(type << 4), 2, (uint8_t)rc, 0 };
				bool ok = type == MQTT_DISCONNECT ? disconnect_code_ok(senders[s], (uint8_t)rc)
								  : auth_code_ok(senders[s], (uint8_t)rc);
				struct mqtt_packet out;
				long r = decode_opts(pkt, 4, MQTT_LEVEL_5, false, senders[s], &out);

				if (r == (ok ? 4 : MQTT_ERR_REASON))
					continue;
				print_error("%s 0x%02x from sender %u: got %ld\n", mqtt_type_name(type),
					    rc, senders[s], r);
				failed++;
			}
	assert_int_equal(failed, 0);
}

/* A zero-length AUTH means Success, which a client may not send; a
 * zero-length DISCONNECT means Normal disconnection, which it may. */
static void test_empty_reason_from_client(void **state)
{
	static const uint8_t auth[] = { 0xF0, 0x00 }, disc[] = { 0xE0, 0x00 };
	struct mqtt_packet out;

	(void)state;
	assert_int_equal(decode_opts(auth, 2, MQTT_LEVEL_5, false, MQTT_SENDER_CLIENT, &out),
			 MQTT_ERR_REASON);
	assert_int_equal(decode_opts(auth, 2, MQTT_LEVEL_5, false, MQTT_SENDER_SERVER, &out), 2);
	assert_int_equal(decode_opts(disc, 2, MQTT_LEVEL_5, false, MQTT_SENDER_CLIENT, &out), 2);
	assert_int_equal(out.u.reason.reason_code, 0);
}

/* ---- bytes where the packet has room for none ---- */

static void test_ping_with_body(void **state)
{
	static const uint8_t req1[] = { 0xC0, 0x01, 0x00 }, req2[] = { 0xC0, 0x02, 0x00, 0x00 },
			     resp1[] = { 0xD0, 0x01, 0x00 }, flags[] = { 0xC1, 0x00 };
	struct mqtt_packet out;

	(void)state;
	for (size_t l = 0; l < sizeof(levels); l++) {
		assert_int_equal(decode_opts(req1, 3, levels[l], true, 0, &out), MQTT_ERR_TRAILING);
		assert_int_equal(decode_opts(req2, 4, levels[l], true, 0, &out), MQTT_ERR_TRAILING);
		assert_int_equal(decode_opts(resp1, 3, levels[l], true, 0, &out), MQTT_ERR_TRAILING);
		assert_int_equal(decode_opts(flags, 2, levels[l], true, 0, &out), MQTT_ERR_FLAGS);
	}
}

/* [MQTT-3.1.2-16 .. 19]: no user name or password without its flag; and
 * nothing after the last field. */
static void test_connect_fields_without_flags(void **state)
{
	uint8_t buf[256];
	struct mqtt_packet p, out;
	size_t n;

	(void)state;
	for (size_t l = 0; l < sizeof(levels); l++) {
		for (int extra = 0; extra < 3; extra++) {
			p = connect_with(levels[l], 0, (struct mqtt_str){ NULL, 0 });
			p.u.connect.will = false;
			if (extra == 0) { /* a user name, flag 0 */
				p.u.connect.has_password = false;
			} else if (extra == 1 && levels[l] == MQTT_LEVEL_5) {
				/* a password, flag 0 (a user name without a
				 * password is valid at every level) */
				p.u.connect.has_username = false;
				p.u.connect.has_password = true;
			} else {
				p.u.connect.has_username = p.u.connect.has_password = false;
			}
			n = encode(&p, levels[l], buf, sizeof(buf));
			assert_int_equal(decode_opts(buf, n, levels[l], true, 0, &out), (long)n);
			/* Clear the flag of the last field: its bytes remain. */
			if (p.u.connect.has_password)
				buf[levels[l] == MQTT_LEVEL_31 ? 11 : 9] &= (uint8_t)~0x40;
			else if (p.u.connect.has_username)
				buf[levels[l] == MQTT_LEVEL_31 ? 11 : 9] &= (uint8_t)~0x80;
			else
				buf[n++] = 0; /* one byte more */
			buf[1] = (uint8_t)(n - 2);
			assert_int_equal(decode_opts(buf, n, levels[l], true, 0, &out),
					 MQTT_ERR_TRAILING);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connect_string_fields),
		cmocka_unit_test(test_connect_bad_field_other_errors),
		cmocka_unit_test(test_topic_and_filter_strings),
		cmocka_unit_test(test_property_strings_not_strict),
		cmocka_unit_test(test_reason_codes_by_sender),
		cmocka_unit_test(test_empty_reason_from_client),
		cmocka_unit_test(test_ping_with_body),
		cmocka_unit_test(test_connect_fields_without_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
