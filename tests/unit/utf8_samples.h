/*
 * utf8_samples.h - one sample of every class of string the MQTT standards
 * name [MQTT 5.0, 1.5.4], [MQTT 3.1.1, 1.5.3], shared by the codec and
 * broker tests so both check the same inputs. Each sample is embedded in an
 * otherwise valid string by the tests.
 */
#ifndef AGORA_TEST_UTF8_SAMPLES_H
#define AGORA_TEST_UTF8_SAMPLES_H

#include "mqtt/mqtt.h"

#include <stddef.h>
#include <stdint.h>

struct utf8_sample {
	const char *name;
	const uint8_t *s;
	size_t len;
	unsigned cls; /* the MQTT_UTF8_* classes mqtt_utf8_scan must report, 0 = clean */
};

#define SAMPLE(name, cls, ...)                                                                 \
	{ name, (const uint8_t[]){ __VA_ARGS__ }, sizeof((const uint8_t[]){ __VA_ARGS__ }), cls }

#define ILL MQTT_UTF8_ILL_FORMED

static const struct utf8_sample utf8_samples[] __attribute__((unused)) = {
	SAMPLE("NUL", MQTT_UTF8_NUL, 0x00),
	SAMPLE("surrogate D800", ILL, 0xED, 0xA0, 0x80),
	SAMPLE("surrogate DFFF", ILL, 0xED, 0xBF, 0xBF),
	SAMPLE("overlong C0 AF", ILL, 0xC0, 0xAF),
	SAMPLE("overlong C1 BF", ILL, 0xC1, 0xBF),
	SAMPLE("overlong E0 80 AF", ILL, 0xE0, 0x80, 0xAF),
	SAMPLE("overlong F0 80 80 AF", ILL, 0xF0, 0x80, 0x80, 0xAF),
	SAMPLE("above 10FFFF F4 90", ILL, 0xF4, 0x90, 0x80, 0x80),
	SAMPLE("lead F5", ILL, 0xF5, 0x80, 0x80, 0x80),
	SAMPLE("missing continuation", ILL, 0xE2, 0x82, 'a'),
	SAMPLE("stray continuation", ILL, 0x80),
	SAMPLE("byte FE", ILL, 0xFE),
	SAMPLE("byte FF", ILL, 0xFF),
	SAMPLE("U+0001", MQTT_UTF8_CONTROL, 0x01),
	SAMPLE("U+0009 tab", MQTT_UTF8_CONTROL, 0x09),
	SAMPLE("U+000A newline", MQTT_UTF8_CONTROL, 0x0A),
	SAMPLE("U+001B escape", MQTT_UTF8_CONTROL, 0x1B),
	SAMPLE("U+001F", MQTT_UTF8_CONTROL, 0x1F),
	SAMPLE("U+007F", MQTT_UTF8_CONTROL, 0x7F),
	SAMPLE("U+0080", MQTT_UTF8_CONTROL, 0xC2, 0x80),
	SAMPLE("U+009F", MQTT_UTF8_CONTROL, 0xC2, 0x9F),
	SAMPLE("U+FDD0", MQTT_UTF8_NONCHAR, 0xEF, 0xB7, 0x90),
	SAMPLE("U+FDEF", MQTT_UTF8_NONCHAR, 0xEF, 0xB7, 0xAF),
	SAMPLE("U+FFFE", MQTT_UTF8_NONCHAR, 0xEF, 0xBF, 0xBE),
	SAMPLE("U+FFFF", MQTT_UTF8_NONCHAR, 0xEF, 0xBF, 0xBF),
	SAMPLE("U+1FFFE", MQTT_UTF8_NONCHAR, 0xF0, 0x9F, 0xBF, 0xBE),
	SAMPLE("U+10FFFF", MQTT_UTF8_NONCHAR, 0xF4, 0x8F, 0xBF, 0xBF),
	SAMPLE("space", 0, ' '),
	SAMPLE("U+007E", 0, '~'),
	SAMPLE("U+00A0", 0, 0xC2, 0xA0),
	SAMPLE("U+00E9", 0, 0xC3, 0xA9),
	SAMPLE("U+20AC", 0, 0xE2, 0x82, 0xAC),
	SAMPLE("U+FDCF", 0, 0xEF, 0xB7, 0x8F),
	SAMPLE("U+FDF0", 0, 0xEF, 0xB7, 0xB0),
	SAMPLE("U+FFFD", 0, 0xEF, 0xBF, 0xBD),
	SAMPLE("U+10000", 0, 0xF0, 0x90, 0x80, 0x80),
	SAMPLE("U+10FFFD", 0, 0xF4, 0x8F, 0xBF, 0xBD),
};

#undef ILL
#undef SAMPLE

#define UTF8_SAMPLES (sizeof(utf8_samples) / sizeof(utf8_samples[0]))

/* "a/" + the sample + "/z": a level in the middle of a topic, and as good a
 * client identifier or user name. Sets *len; out needs the sample's length
 * + 4 bytes. */
static inline uint8_t *utf8_embed(const struct utf8_sample *x, uint8_t *out, size_t *len)
{
	out[0] = 'a';
	out[1] = '/';
	for (size_t i = 0; i < x->len; i++)
		out[2 + i] = x->s[i];
	out[2 + x->len] = '/';
	out[3 + x->len] = 'z';
	*len = x->len + 4;
	return out;
}

#endif
