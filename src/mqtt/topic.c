/* topic.c - UTF-8, topic name and filter validation, filter matching. */
#include "mqtt.h"

#include <string.h>

/* Well-formed UTF-8 (RFC 3629), U+0000 refused unless allow_nul. */
static bool utf8_check(const uint8_t *s, size_t len, bool allow_nul)
{
	size_t i = 0;

	while (i < len) {
		uint8_t c = s[i];
		uint32_t cp;
		size_t n;

		if (c == 0 && !allow_nul)
			return false; /* [MQTT-1.5.3-2] */
		if (c < 0x80) { /* ASCII, and U+0000 where allowed */
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
			return false; /* continuation byte, overlong lead or > U+10FFFF */
		}
		if (len - i <= n)
			return false;
		for (size_t k = 1; k <= n; k++) {
			uint8_t cc = s[i + k];
			if ((cc & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (cc & 0x3F);
		}
		/* Overlong forms, surrogates [MQTT-1.5.3-1], beyond U+10FFFF. */
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n + 1;
	}
	return true;
}

bool mqtt_utf8_valid(const uint8_t *s, size_t len)
{
	return utf8_check(s, len, false);
}

bool mqtt_utf8_data_valid(const uint8_t *s, size_t len)
{
	return utf8_check(s, len, true);
}

bool mqtt_topic_name_valid(const uint8_t *s, size_t len)
{
	if (len == 0 || len > MQTT_TOPIC_MAX)
		return false;
	if (memchr(s, '+', len) || memchr(s, '#', len))
		return false;
	return mqtt_utf8_valid(s, len);
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
