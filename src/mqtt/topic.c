/* topic.c - UTF-8, topic name and filter validation, filter matching. */
#include "mqtt.h"

#include <string.h>

/* The class of a multi-byte code point: C1 controls and non-characters. */
static unsigned code_point_class(uint32_t cp)
{
	if (cp <= 0x9F)
		return MQTT_UTF8_CONTROL; /* U+0080..U+009F: the shortest 2-byte forms */
	if ((cp >= 0xFDD0 && cp <= 0xFDEF) || (cp & 0xFFFE) == 0xFFFE)
		return MQTT_UTF8_NONCHAR;
	return 0;
}

/* Bytes of a word that are zero, as their high bit (exact: no false
 * positive when some byte is zero). */
#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull
static inline uint64_t zero_bytes(uint64_t x)
{
	return (x - ONES) & ~x & HIGHS;
}

/* Whether the 8 bytes at s are printable ASCII without '+' or '#': nothing
 * for the scan to report, the case of nearly every topic and identifier. */
static inline bool plain_ascii8(const uint8_t *s)
{
	uint64_t w;

	memcpy(&w, s, 8);
	if (w & HIGHS)
		return false;
	/* below 0x20 (valid now that every byte is below 0x80), 0x7F, '+', '#' */
	return !(((w - ONES * 0x20) & ~w & HIGHS) | zero_bytes(w ^ (ONES * 0x7F)) |
		 zero_bytes(w ^ (ONES * '+')) | zero_bytes(w ^ (ONES * '#')));
}

unsigned mqtt_utf8_scan(const uint8_t *s, size_t len)
{
	unsigned found = 0;
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t n;

		if (len - i >= 8 && plain_ascii8(s + i)) {
			i += 8;
			continue;
		}

		if (c < 0x80) { /* ASCII: the common case */
			if (c < 0x30) { /* controls, space, punctuation: '/', '+', '#' */
				if (c < 0x20)
					found |= c ? MQTT_UTF8_CONTROL : MQTT_UTF8_NUL;
				else if (c == '+' || c == '#')
					found |= MQTT_UTF8_WILDCARD;
			} else if (c == 0x7F) {
				found |= MQTT_UTF8_CONTROL;
			}
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			/* continuation byte, overlong lead (C0, C1) or > U+10FFFF */
			return found | MQTT_UTF8_ILL_FORMED;
		}
		if (len - i <= n)
			return found | MQTT_UTF8_ILL_FORMED; /* truncated */
		for (size_t k = 1; k <= n; k++) {
			uint8_t cc = s[i + k];
			if ((cc & 0xC0) != 0x80)
				return found | MQTT_UTF8_ILL_FORMED;
			cp = (cp << 6) | (cc & 0x3F);
		}
		/* Overlong forms, surrogates [MQTT-1.5.4-1], beyond U+10FFFF. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return found | MQTT_UTF8_ILL_FORMED;
		found |= code_point_class(cp);
		i += n + 1;
	}
	return found;
}

bool mqtt_utf8_valid(const uint8_t *s, size_t len)
{
	return !(mqtt_utf8_scan(s, len) & MQTT_UTF8_REFUSED);
}

bool mqtt_utf8_data_valid(const uint8_t *s, size_t len)
{
	return !(mqtt_utf8_scan(s, len) & MQTT_UTF8_ILL_FORMED);
}

bool mqtt_topic_name_valid(const uint8_t *s, size_t len)
{
	return len > 0 && len <= MQTT_TOPIC_MAX &&
	       !(mqtt_utf8_scan(s, len) & (MQTT_UTF8_REFUSED | MQTT_UTF8_WILDCARD));
}

bool mqtt_topic_filter_valid(const uint8_t *s, size_t len)
{
	if (len == 0 || len > MQTT_TOPIC_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		bool level_start = i == 0 || s[i - 1] == '/';
		bool level_end = i + 1 == len || s[i + 1] == '/';

		if (s[i] == '+' && !(level_start && level_end))
			return false;
		if (s[i] == '#' && !(level_start && i + 1 == len))
			return false;
	}
	return mqtt_utf8_valid(s, len);
}

/* Length of the level starting at s (up to the next '/' or the end). */
static size_t level_len(const uint8_t *s, size_t len)
{
	const uint8_t *slash = memchr(s, '/', len);
	return slash ? (size_t)(slash - s) : len;
}

bool mqtt_topic_match(const uint8_t *f, size_t flen, const uint8_t *t, size_t tlen)
{
	size_t fi = 0, ti = 0;

	/* [MQTT-4.7.2-1]: wildcards at the first level never match "$..." */
	if (tlen > 0 && t[0] == '$' && flen > 0 && (f[0] == '+' || f[0] == '#'))
		return false;

	for (;;) {
		size_t fl = level_len(f + fi, flen - fi);
		size_t tl;

		if (fl == 1 && f[fi] == '#')
			return true; /* matches this level and everything below, or the parent */
		if (ti > tlen)
			return false; /* topic exhausted, filter has more levels */
		tl = level_len(t + ti, tlen - ti);
		if (!(fl == 1 && f[fi] == '+') && (fl != tl || memcmp(f + fi, t + ti, fl) != 0))
			return false;
		fi += fl + 1;
		ti += tl + 1;
		if (fi > flen)
			return ti > tlen; /* both exhausted together */
		if (ti > tlen) {
			/* Topic ended; only a trailing "#" may remain: "a/#" matches "a". */
			return flen - fi == 1 && f[fi] == '#';
		}
	}
}
