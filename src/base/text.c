/* text.c - see text.h. */
#include "base/text.h"

#include "base/array.h"

#include <stdarg.h>
#include <stdio.h>
#include <time.h>

void text_printf(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(t->s ? t->s + t->len : NULL, t->s ? t->cap - t->len : 0, fmt, ap);
		va_end(ap);
		if (n < 0)
			return;
		if (t->s && (size_t)n < t->cap - t->len)
			break;
		ARRAY_GROW(t->s, t->cap, t->len + (size_t)n + 1, 256, ARRAY_MAX);
	}
	t->len += (size_t)n;
}

void text_put_uint(struct text_fixed *t, uint64_t v)
{
	char digits[20];
	size_t i = sizeof(digits);

	do {
		digits[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	text_put(t, digits + i, sizeof(digits) - i);
}

int64_t wall_clock_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

size_t text_utf8_cut(const char *s, size_t len, size_t max)
{
	size_t n = len < max ? len : max;

	/* Cut before s[n]: back off while it continues a sequence begun
	 * before it (10xxxxxx), so that sequence is left out whole. */
	while (n < len && n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	return n;
}
