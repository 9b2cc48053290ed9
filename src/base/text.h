/*
 * text.h - a growable text buffer for generated documents (the /metrics
 * page), and the wall clock in milliseconds.
 *
 * Ownership: text_printf grows t->s with malloc; the caller frees t->s (or
 * hands it on, e.g. as a response body). A zeroed struct text is empty.
 */
#ifndef AGORA_BASE_TEXT_H
#define AGORA_BASE_TEXT_H

#include <stddef.h>
#include <stdint.h>

struct text {
	char *s; /* NUL-terminated once anything was written */
	size_t len, cap;
};

/* Appends formatted text (aborts when out of memory, like xmalloc). */
void text_printf(struct text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Milliseconds since the Unix epoch (CLOCK_REALTIME): the times users see. */
int64_t wall_clock_ms(void);

#endif
