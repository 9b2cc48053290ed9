/*
 * text.h - a growable text buffer for generated documents (the /metrics
 * page), a fixed one for text built per request, and the wall clock in
 * milliseconds.
 *
 * Ownership: text_printf grows t->s with malloc; the caller frees t->s (or
 * hands it on, e.g. as a response body). A zeroed struct text is empty.
 */
#ifndef AGORA_BASE_TEXT_H
#define AGORA_BASE_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct text {
	char *s; /* NUL-terminated once anything was written */
	size_t len;
	uint32_t cap; /* grows by base/array.h, at most ARRAY_MAX bytes */
};

/* Appends formatted text (aborts when out of memory, like xmalloc, or past
 * ARRAY_MAX bytes). */
void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A fixed buffer filled by appends, for text built on every request (an
 * answer's head, an access-log line) without printf's cost. What does not
 * fit is cut off and `cut` is set. The caller owns buf; nothing is
 * NUL-terminated. */
struct text_fixed {
	char *buf;
	size_t len, cap;
	bool cut;
};

static inline void text_put(struct text_fixed *t, const char *s, size_t n)
{
	if (n > t->cap - t->len) {
		n = t->cap - t->len;
		t->cut = true;
	}
	memcpy(t->buf + t->len, s, n);
	t->len += n;
}

static inline void text_put_str(struct text_fixed *t, const char *s)
{
	text_put(t, s, strlen(s));
}

/* Decimal digits of v. */
void text_put_uint(struct text_fixed *t, uint64_t v);

#define TEXT_PUT_LIT(t, lit) text_put((t), (lit), sizeof(lit) - 1)

/* The length of the longest prefix of s (len bytes) of at most max bytes
 * that does not end inside a UTF-8 sequence: how much of a client's text
 * a message may quote and stay valid UTF-8. */
size_t text_utf8_cut(const char *s, size_t len, size_t max);
/* The length (1 to 4) of the well-formed UTF-8 sequence at the start of s
 * (len >= 1 bytes), 0 if it is ill-formed: a stray continuation byte, an
 * overlong form, a surrogate, beyond U+10FFFF, or cut short. U+0000 is
 * well-formed. (The MQTT codec's mqtt_utf8_scan checks whole strings, in
 * one fused pass with its own classes.) */
size_t text_utf8_seq(const unsigned char *s, size_t len);
/* s[0..len) as lowercase hex into out (2 * len bytes, not terminated). */
void text_hex(char *out, const void *s, size_t len);

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): the times users see. */
int64_t wall_clock_ms(void);

#endif
