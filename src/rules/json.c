/*
 * json.c - the growing output buffer (struct rules_buf), numbers written
 * the way SQLite writes them, JSON strings, and a row as a JSON object
 * (${*}). Hand-written rather than through jansson objects: a row is
 * written straight into the buffer, with no allocation per column.
 */
#include "rules/internal.h"

#include "base/array.h"
#include "base/text.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

int rules__put(struct rules_buf *b, const void *p, size_t n)
{
	size_t max = b->max ? b->max : RULES_RENDER_MAX_DEFAULT;

	if (b->len > max || n > max - b->len)
		return RULES_ERR_TOO_BIG;
	ARRAY_GROW(b->s, b->cap, b->len + n + 1, 256, ARRAY_MAX);
	if (n)
		memcpy(b->s + b->len, p, n);
	b->len += n;
	b->s[b->len] = '\0';
	return 0;
}

int rules__put_int(struct rules_buf *b, int64_t i)
{
	char s[24];
	int n = snprintf(s, sizeof(s), "%" PRId64, i);

	return rules__put(b, s, (size_t)n);
}

int rules__put_real(struct rules_buf *b, double d, bool json)
{
	char s[40];
	int n;

	if (isinf(d))
		return json ? rules__put(b, d < 0 ? "-9e999" : "9e999", d < 0 ? 6 : 5)
			    : rules__put(b, d < 0 ? "-Inf" : "Inf", d < 0 ? 4 : 3);
	if (isnan(d))
		return json ? rules__put(b, "null", 4) : 0;
	n = snprintf(s, sizeof(s) - 2, "%.15g", d);
	/* SQLite's "%!.15g": a real always shows a decimal point (1.0, 1.0e+20) */
	if (!memchr(s, '.', (size_t)n)) {
		char *e = memchr(s, 'e', (size_t)n);
		size_t at = e ? (size_t)(e - s) : (size_t)n;
		memmove(s + at + 2, s + at, (size_t)n - at);
		memcpy(s + at, ".0", 2);
		n += 2;
	}
	return rules__put(b, s, (size_t)n);
}

int rules__put_json_string(struct rules_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t start = b->len, i = 0, run = 0;
	int rc = rules__put(b, "\"", 1);

	while (!rc && i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t seq = c >= 0x20 && c != '"' && c != '\\'
				 ? text_utf8_seq((const unsigned char *)s + i, n - i)
				 : 0;
		char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};

		if (seq) { /* as it is: gathered into runs */
			i += seq;
			run += seq;
			continue;
		}
		rc = rules__put(b, s + i - run, run);
		run = 0;
		if (rc)
			break;
		if (c == '"' || c == '\\')
			rc = rules__put(b, (char[]){'\\', (char)c}, 2);
		else if (c < 0x20)
			rc = c == '\n'	 ? rules__put(b, "\\n", 2)
			     : c == '\t' ? rules__put(b, "\\t", 2)
			     : c == '\r' ? rules__put(b, "\\r", 2)
					 : rules__put(b, esc, 6);
		else
			rc = rules__put(b, "\\ufffd", 6); /* not UTF-8: one byte replaced */
		i++;
	}
	if (!rc)
		rc = rules__put(b, s + i - run, run);
	if (!rc)
		rc = rules__put(b, "\"", 1);
	if (rc)
		b->len = start;
	return rc;
}

/* A blob as a JSON string of hex, a chunk at a time. */
static int put_hex_string(struct rules_buf *b, const unsigned char *p, size_t n)
{
	char chunk[256];
	int rc = rules__put(b, "\"", 1);

	for (size_t i = 0; !rc && i < n; i += sizeof(chunk) / 2) {
		size_t k = n - i < sizeof(chunk) / 2 ? n - i : sizeof(chunk) / 2;

		text_hex(chunk, p + i, k);
		rc = rules__put(b, chunk, 2 * k);
	}
	return rc ? rc : rules__put(b, "\"", 1);
}

static int put_json_value(struct rules_buf *b, const struct rules_value *v)
{
	switch (v->type) {
	case RULES_INT: return rules__put_int(b, v->i);
	case RULES_REAL: return rules__put_real(b, v->d, true);
	case RULES_TEXT:
		return v->json ? rules__put(b, v->s, v->len)
			       : rules__put_json_string(b, v->s, v->len);
	case RULES_BLOB: return put_hex_string(b, (const unsigned char *)v->s, v->len);
	default: return rules__put(b, "null", 4);
	}
}

int rules_row_json(const struct rules_row *row, struct rules_buf *out)
{
	size_t start = out->len;
	uint32_t n = row ? row->ncolumns : 0;
	int rc = rules__put(out, "{", 1);

	for (uint32_t i = 0; !rc && i < n; i++) {
		const struct rules_value *v = &row->values[i];

		if (i)
			rc = rules__put(out, ",", 1);
		rc = rc ? rc : rules__put_json_string(out, v->name, strlen(v->name));
		rc = rc ? rc : rules__put(out, ":", 1);
		rc = rc ? rc : put_json_value(out, v);
	}
	rc = rc ? rc : rules__put(out, "}", 1);
	if (rc)
		out->len = start;
	return rc;
}
