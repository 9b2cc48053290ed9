/*
 * test_topic.c - topic filter matching, topic name and filter validation and
 * the UTF-8 check behind them (MQTT 3.1.1 sections 1.5.3 and 4.7).
 */
#include "helpers.h"
#include "utf8_samples.h"

#include "mqtt/mqtt.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* The functions take lengths; copy to exact-size buffers so ASan sees any
 * read past the end (and so no NUL terminator is there to lean on). */
static uint8_t *copy_of(const void *s, size_t len)
{
	uint8_t *c = malloc(len ? len : 1);

	assert_non_null(c);
	if (len)
		memcpy(c, s, len);
	return c;
}

static bool match(const char *filter, const char *topic)
{
	size_t flen = strlen(filter), tlen = strlen(topic);
	uint8_t *f = copy_of(filter, flen), *t = copy_of(topic, tlen);
	bool r = mqtt_topic_match(f, flen, t, tlen);

	free(f);
	free(t);
	return r;
}

static bool name_valid(const void *s, size_t len)
{
	uint8_t *c = copy_of(s, len);
	bool r = mqtt_topic_name_valid(c, len);

	free(c);
	return r;
}

static bool filter_valid(const void *s, size_t len)
{
	uint8_t *c = copy_of(s, len);
	bool r = mqtt_topic_filter_valid(c, len);

	free(c);
	return r;
}

static bool utf8_valid(const void *s, size_t len)
{
	uint8_t *c = copy_of(s, len);
	bool r = mqtt_utf8_valid(c, len);

	free(c);
	return r;
}

/* ---- matching ---- */

struct match_case {
	const char *filter;
	const char *topic;
	bool match;
};

static const struct match_case match_cases[] = {
	/* Exact. */
	{ "a", "a", true },
	{ "a", "b", false },
	{ "a", "ab", false },
	{ "ab", "a", false },
	{ "a/b/c", "a/b/c", true },
	{ "a/b/c", "a/b/d", false },
	{ "a/b/c", "a/b", false },
	{ "a/b", "a/b/c", false },
	{ "A/b", "a/b", false },
	{ "sport/tennis", "sport/tennis ", false },
	{ "caf\xc3\xa9", "caf\xc3\xa9", true },
	{ "caf\xc3\xa9", "cafe", false },

	/* '+' at every position of a three-level topic. */
	{ "+/b/c", "a/b/c", true },
	{ "a/+/c", "a/b/c", true },
	{ "a/b/+", "a/b/c", true },
	{ "+/+/c", "a/b/c", true },
	{ "+/b/+", "a/b/c", true },
	{ "a/+/+", "a/b/c", true },
	{ "+/+/+", "a/b/c", true },
	{ "+/b/c", "a/x/c", false },
	{ "a/+/c", "a/b/x", false },
	{ "a/b/+", "x/b/c", false },
	{ "+/+/+", "a/b", false },
	{ "+/+/+", "a/b/c/d", false },
	{ "+", "a", true },
	{ "+", "a/b", false },
	{ "+/+", "a", false },
	{ "a/+", "a", false },
	{ "a/+", "a/b/c", false },
	{ "sport/tennis/+", "sport/tennis/player1", true },
	{ "sport/tennis/+", "sport/tennis/player1/ranking", false },
	{ "sport/+", "sport", false },

	/* '#': the level itself, everything below and the parent. */
	{ "#", "a", true },
	{ "#", "a/b/c", true },
	{ "#", "/", true },
	{ "#", "/a", true },
	{ "#", "a/", true },
	{ "sport/#", "sport", true },
	{ "sport/#", "sport/", true },
	{ "sport/#", "sport/tennis", true },
	{ "sport/#", "sport/tennis/player1/ranking", true },
	{ "sport/#", "sports", false },
	{ "sport/#", "spor", false },
	{ "sport/#", "other/tennis", false },
	{ "sport/tennis/#", "sport/tennis", true },
	{ "sport/tennis/#", "sport", false },
	{ "a/b/#", "a", false },
	{ "+/#", "a", true },
	{ "+/#", "a/b/c", true },
	{ "+/b/#", "a/b", true },
	{ "+/b/#", "a/c", false },
	{ "a/+/#", "a", false },
	{ "a/+/#", "a/b", true },
	{ "/#", "/a", true },
	{ "/#", "a", false },

	/* Empty levels are levels like any other. */
	{ "a//b", "a//b", true },
	{ "a//b", "a/b", false },
	{ "a/b", "a//b", false },
	{ "a/+/b", "a//b", true },
	{ "a/+", "a/", true },
	{ "a/+", "a", false },
	{ "a/", "a/", true },
	{ "a/", "a", false },
	{ "a", "a/", false },
	{ "/a", "/a", true },
	{ "/a", "a", false },
	{ "a", "/a", false },
	{ "+", "/a", false },
	{ "+/+", "/a", true },
	{ "/+", "/a", true },
	{ "+/a", "/a", true },
	{ "/", "/", true },
	{ "+", "/", false },
	{ "+/+", "/", true },
	{ "//", "//", true },
	{ "+/+/+", "//", true },
	{ "/#", "/", true },
	{ "a//#", "a/", true },
	{ "a//#", "a", false },
	{ "a//#", "a//", true },

	/* '$' topics: no wildcard in the first level reaches them. */
	{ "#", "$SYS", false },
	{ "#", "$SYS/broker/uptime", false },
	{ "+/broker/uptime", "$SYS/broker/uptime", false },
	{ "+", "$SYS", false },
	{ "+/#", "$SYS/broker", false },
	{ "$SYS/#", "$SYS", true },
	{ "$SYS/#", "$SYS/broker/uptime", true },
	{ "$SYS/+", "$SYS/uptime", true },
	{ "$SYS/+", "$SYS/broker/uptime", false },
	{ "$SYS/+/uptime", "$SYS/broker/uptime", true },
	{ "$SYS/broker/uptime", "$SYS/broker/uptime", true },
	{ "$SYS/#", "$SYSTEM/x", false },
	{ "#", "$", false },
	{ "$", "$", true },
	{ "#", "a/$SYS", true },
	{ "a/+", "a/$SYS", true },
	{ "+/$x", "a/$x", true },
	{ "$x/#", "$x/y", true },
};

static void test_match_table(void **state)
{
	int failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(match_cases); i++) {
		const struct match_case *c = &match_cases[i];

		/* The contract: both sides valid. Check the table keeps it. */
		assert_true(filter_valid(c->filter, strlen(c->filter)));
		assert_true(name_valid(c->topic, strlen(c->topic)));
		if (match(c->filter, c->topic) != c->match) {
			print_error("filter \"%s\" topic \"%s\": want %s\n", c->filter, c->topic,
				    c->match ? "match" : "no match");
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* Every topic matches itself used as a filter, and "#" matches it unless it
 * starts with '$'. */
static void test_match_self_and_hash(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(match_cases); i++) {
		const char *t = match_cases[i].topic;

		assert_true(match(t, t));
		assert_int_equal(match("#", t), t[0] != '$');
	}
}

/* ---- validation ---- */

struct valid_case {
	const char *s;
	bool name;   /* valid topic name */
	bool filter; /* valid topic filter */
};

static const struct valid_case valid_cases[] = {
	{ "a", true, true },
	{ "a/b/c", true, true },
	{ "/", true, true },
	{ "//", true, true },
	{ "/a", true, true },
	{ "a/", true, true },
	{ "a//b", true, true },
	{ " ", true, true },
	{ "$SYS/broker", true, true },
	{ "caf\xc3\xa9/\xf0\x9f\x98\x80", true, true },
	{ "#", false, true },
	{ "+", false, true },
	{ "+/+", false, true },
	{ "+/#", false, true },
	{ "/#", false, true },
	{ "/+", false, true },
	{ "+/", false, true },
	{ "a/+/b", false, true },
	{ "a/#", false, true },
	{ "sport/+/player1/#", false, true },
	{ "$SYS/#", false, true },
	{ "a+", false, false },
	{ "+a", false, false },
	{ "a/b+", false, false },
	{ "a/+b/c", false, false },
	{ "++", false, false },
	{ "a#", false, false },
	{ "#a", false, false },
	{ "a/#/b", false, false },
	{ "#/", false, false },
	{ "#/a", false, false },
	{ "##", false, false },
	{ "a/b#", false, false },
	{ "+#", false, false },
	{ "a/#/#", false, false },
	{ "", false, false },
};

static void test_valid_table(void **state)
{
	int failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(valid_cases); i++) {
		const struct valid_case *c = &valid_cases[i];
		size_t len = strlen(c->s);

		if (name_valid(c->s, len) != c->name) {
			print_error("name \"%s\": want %s\n", c->s, c->name ? "valid" : "invalid");
			failed++;
		}
		if (filter_valid(c->s, len) != c->filter) {
			print_error("filter \"%s\": want %s\n", c->s,
				    c->filter ? "valid" : "invalid");
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* Names and filters are UTF-8 strings: the same encoding rules apply. */
static void test_valid_utf8(void **state)
{
	static const uint8_t nul[] = { 'a', 0x00, 'b' };
	static const uint8_t ff[] = { 'a', '/', 0xFF };
	static const uint8_t surrogate[] = { 0xED, 0xA0, 0x80 };
	static const uint8_t overlong_slash[] = { 'a', 0xC0, 0xAF, 'b' };
	static const uint8_t cut[] = { 'a', '/', 0xE2, 0x82 };

	(void)state;
	assert_false(name_valid(nul, sizeof(nul)));
	assert_false(filter_valid(nul, sizeof(nul)));
	assert_false(name_valid(ff, sizeof(ff)));
	assert_false(filter_valid(ff, sizeof(ff)));
	assert_false(name_valid(surrogate, sizeof(surrogate)));
	assert_false(filter_valid(surrogate, sizeof(surrogate)));
	assert_false(name_valid(overlong_slash, sizeof(overlong_slash)));
	assert_false(filter_valid(overlong_slash, sizeof(overlong_slash)));
	assert_false(name_valid(cut, sizeof(cut)));
	assert_false(filter_valid(cut, sizeof(cut)));
}

/* The 65535-byte limit of a UTF-8 string. */
static void test_valid_length(void **state)
{
	uint8_t *s = malloc(MQTT_TOPIC_MAX + 1);

	(void)state;
	assert_non_null(s);
	memset(s, 'a', MQTT_TOPIC_MAX + 1);
	assert_true(name_valid(s, MQTT_TOPIC_MAX));
	assert_true(filter_valid(s, MQTT_TOPIC_MAX));
	assert_false(name_valid(s, MQTT_TOPIC_MAX + 1));
	assert_false(filter_valid(s, MQTT_TOPIC_MAX + 1));

	/* A filter of maximum length ending in a wildcard level. */
	s[MQTT_TOPIC_MAX - 2] = '/';
	s[MQTT_TOPIC_MAX - 1] = '#';
	assert_true(filter_valid(s, MQTT_TOPIC_MAX));
	assert_false(name_valid(s, MQTT_TOPIC_MAX));
	s[MQTT_TOPIC_MAX - 1] = '+';
	assert_true(filter_valid(s, MQTT_TOPIC_MAX));
	assert_false(filter_valid(s, MQTT_TOPIC_MAX + 1));
	free(s);
}

/* ---- UTF-8 ---- */

struct utf8_case {
	const char *name;
	const uint8_t *s;
	size_t len;
	bool valid;
};

#define U8(name, valid, ...)                                                               \
	{ name, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), \
	  valid }

static const struct utf8_case utf8_cases[] = {
	{ "empty", (const uint8_t *)"", 0, true },
	U8("ASCII", true, 'h', 'e', 'l', 'l', 'o'),
	U8("U+0001", true, 0x01),
	U8("U+007F", true, 0x7F),
	U8("U+0080", true, 0xC2, 0x80),
	U8("U+00E9", true, 0xC3, 0xA9),
	U8("U+07FF", true, 0xDF, 0xBF),
	U8("U+0800", true, 0xE0, 0xA0, 0x80),
	U8("U+20AC", true, 0xE2, 0x82, 0xAC),
	U8("U+D7FF", true, 0xED, 0x9F, 0xBF),
	U8("U+E000", true, 0xEE, 0x80, 0x80),
	U8("U+FFFD", true, 0xEF, 0xBF, 0xBD),
	U8("U+10000", true, 0xF0, 0x90, 0x80, 0x80),
	U8("U+1F600", true, 0xF0, 0x9F, 0x98, 0x80),
	U8("U+10FFFF", true, 0xF4, 0x8F, 0xBF, 0xBF),
	U8("mixed", true, 'a', 0xC3, 0xA9, '/', 0xE2, 0x82, 0xAC, 0xF0, 0x9F, 0x98, 0x80, 'z'),

	U8("U+0000", false, 0x00),
	U8("U+0000 inside", false, 'a', 0x00, 'b'),
	U8("U+0000 at the end", false, 'a', 'b', 0x00),

	U8("overlong NUL C0 80", false, 0xC0, 0x80),
	U8("overlong C1 BF", false, 0xC1, 0xBF),
	U8("overlong E0 80 80", false, 0xE0, 0x80, 0x80),
	U8("overlong E0 9F BF", false, 0xE0, 0x9F, 0xBF),
	U8("overlong F0 80 80 80", false, 0xF0, 0x80, 0x80, 0x80),
	U8("overlong F0 8F BF BF", false, 0xF0, 0x8F, 0xBF, 0xBF),

	U8("surrogate U+D800", false, 0xED, 0xA0, 0x80),
	U8("surrogate U+DBFF", false, 0xED, 0xAF, 0xBF),
	U8("surrogate U+DC00", false, 0xED, 0xB0, 0x80),
	U8("surrogate U+DFFF", false, 0xED, 0xBF, 0xBF),
	U8("surrogate pair", false, 0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80),
	U8("surrogate after ASCII", false, 'a', 0xED, 0xA0, 0x80),

	U8("U+110000 F4 90 80 80", false, 0xF4, 0x90, 0x80, 0x80),
	U8("lead F5", false, 0xF5, 0x80, 0x80, 0x80),
	U8("lead F7", false, 0xF7, 0xBF, 0xBF, 0xBF),
	U8("5-byte form", false, 0xF8, 0x88, 0x80, 0x80, 0x80),
	U8("6-byte form", false, 0xFC, 0x84, 0x80, 0x80, 0x80, 0x80),
	U8("byte FE", false, 0xFE),
	U8("byte FF", false, 0xFF),

	U8("truncated 2-byte", false, 0xC3),
	U8("truncated 3-byte, 1 of 2", false, 0xE2),
	U8("truncated 3-byte, 2 of 3", false, 0xE2, 0x82),
	U8("truncated 4-byte, 3 of 4", false, 0xF0, 0x9F, 0x98),
	U8("truncated at the end", false, 'a', 'b', 0xE2, 0x82),
	U8("truncated then ASCII", false, 0xE2, 0x82, 'a'),

	U8("lone continuation 80", false, 0x80),
	U8("lone continuation BF", false, 0xBF),
	U8("continuation inside", false, 'a', 0x80, 'b'),
	U8("extra continuation", false, 0xC3, 0xA9, 0xA9),
	U8("bad 2nd byte", false, 0xC3, 0x28),
	U8("bad 3rd byte", false, 0xE2, 0x82, 0x28),
	U8("bad 4th byte", false, 0xF0, 0x9F, 0x98, 0x28),
	U8("ASCII instead of continuation", false, 0xE2, 'a', 'b'),
};

static void test_utf8_table(void **state)
{
	int failed = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(utf8_cases); i++) {
		const struct utf8_case *c = &utf8_cases[i];

		if (utf8_valid(c->s, c->len) != c->valid) {
			print_error("%s: want %s\n", c->name, c->valid ? "valid" : "invalid");
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* Every 2- and 3-byte sequence against the definition: lead byte range,
 * continuation bytes, no overlong form, no surrogate. */
static void test_utf8_exhaustive_short(void **state)
{
	(void)state;
	for (uint32_t v = 0; v < 0x10000; v++) {
		uint8_t s[2] = { (uint8_t)(v >> 8), (uint8_t)v };
		bool want;

		if (s[0] < 0x80)
			want = s[0] != 0 && (s[1] != 0 && s[1] < 0x80);
		else
			want = s[0] >= 0xC2 && s[0] <= 0xDF && (s[1] & 0xC0) == 0x80;
		if (mqtt_utf8_valid(s, 2) != want)
			print_error("%02x %02x: want %d\n", s[0], s[1], want);
		assert_int_equal(mqtt_utf8_valid(s, 2), want);
	}
	for (uint32_t v = 0xE00000; v < 0xF00000; v++) {
		uint8_t s[3] = { (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
		uint32_t cp = (uint32_t)(s[0] & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 |
			      (s[2] & 0x3F);
		bool want = (s[1] & 0xC0) == 0x80 && (s[2] & 0xC0) == 0x80 && cp >= 0x800 &&
			    !(cp >= 0xD800 && cp <= 0xDFFF);

		if (mqtt_utf8_valid(s, 3) != want)
			print_error("%02x %02x %02x: want %d\n", s[0], s[1], s[2], want);
		assert_int_equal(mqtt_utf8_valid(s, 3), want);
	}
}

/* mqtt_utf8_scan's classes for the shared samples (utf8_samples.h). */
static void test_utf8_scan_classes(void **state)
{
	int failed = 0;

	(void)state;
	for (size_t i = 0; i < UTF8_SAMPLES; i++) {
		const struct utf8_sample *x = &utf8_samples[i];
		uint8_t *c = copy_of(x->s, x->len);
		unsigned got = mqtt_utf8_scan(c, x->len);

		free(c);
		if (got != x->cls) {
			print_error("%s: got 0x%x, want 0x%x\n", x->name, got, x->cls);
			failed++;
		}
	}
	assert_int_equal(failed, 0);
}

/* Every code point, encoded as RFC 3629 says, against the definitions of
 * the classes [MQTT 5.0, 1.5.4]. */
static size_t encode_utf8(uint32_t cp, uint8_t *out)
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

static unsigned class_of(uint32_t cp)
{
	if (cp == 0)
		return MQTT_UTF8_NUL;
	if (cp == '+' || cp == '#')
		return MQTT_UTF8_WILDCARD;
	if (cp >= 0xD800 && cp <= 0xDFFF)
		return MQTT_UTF8_ILL_FORMED;
	if (cp <= 0x1F || (cp >= 0x7F && cp <= 0x9F))
		return MQTT_UTF8_CONTROL;
	if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFF) == 0xFFFE || (cp & 0xFFFF) == 0xFFFF)
		return MQTT_UTF8_NONCHAR;
	return 0;
}

static void test_utf8_scan_every_code_point(void **state)
{
	(void)state;
	for (uint32_t cp = 0; cp <= 0x10FFFF; cp++) {
		uint8_t s[4];
		size_t n = encode_utf8(cp, s);
		unsigned got = mqtt_utf8_scan(s, n);

		if (got != class_of(cp))
			fail_msg("U+%04X: got 0x%x, want 0x%x", cp, got, class_of(cp));
	}
	/* Classes add up along a string, and the scan stops at the first
	 * ill-formed sequence. */
	assert_int_equal(mqtt_utf8_scan((const uint8_t *)"a\x01\xef\xbf\xbf", 5),
			 MQTT_UTF8_CONTROL | MQTT_UTF8_NONCHAR);
	assert_int_equal(mqtt_utf8_scan((const uint8_t *)"\x01\xc0\x80\x00", 4),
			 MQTT_UTF8_CONTROL | MQTT_UTF8_ILL_FORMED);
}

/* The word-at-a-time path of the scan: every ASCII byte, and every sample,
 * at every position of strings long enough to take it. */
static void test_utf8_scan_long_strings(void **state)
{
	(void)state;
	for (int c = 0; c < 128; c++) {
		for (size_t pos = 0; pos < 24; pos++) {
			uint8_t s[24];
			unsigned want = class_of((uint32_t)c);

			memset(s, 'a', sizeof(s));
			s[pos] = (uint8_t)c;
			if (mqtt_utf8_scan(s, sizeof(s)) != want)
				fail_msg("byte 0x%02x at %zu: got 0x%x, want 0x%x", c, pos,
					 mqtt_utf8_scan(s, sizeof(s)), want);
		}
	}
	for (size_t i = 0; i < UTF8_SAMPLES; i++) {
		const struct utf8_sample *x = &utf8_samples[i];

		for (size_t pos = 0; pos < 17; pos++) {
			uint8_t s[32];
			size_t len = pos + x->len + 7;

			memset(s, 'z', sizeof(s));
			memcpy(s + pos, x->s, x->len);
			/* an ill-formed sample may swallow the bytes after it;
			 * the class reported is the same */
			if (mqtt_utf8_scan(s, len) != x->cls)
				fail_msg("%s at %zu: got 0x%x, want 0x%x", x->name, pos,
					 mqtt_utf8_scan(s, len), x->cls);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_match_table),
		cmocka_unit_test(test_match_self_and_hash),
		cmocka_unit_test(test_valid_table),
		cmocka_unit_test(test_valid_utf8),
		cmocka_unit_test(test_valid_length),
		cmocka_unit_test(test_utf8_table),
		cmocka_unit_test(test_utf8_exhaustive_short),
		cmocka_unit_test(test_utf8_scan_classes),
		cmocka_unit_test(test_utf8_scan_every_code_point),
		cmocka_unit_test(test_utf8_scan_long_strings),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
