/*
 * request.c - HTTP/1.1 requests from bytes, on top of http-parser.
 *
 * http-parser hands out pieces of the URL, header names and values and body
 * as they arrive, possibly split across reads; they are copied into buffers
 * owned by the reader, each bounded by its limit before it grows.
 * Pipelining: the parser is paused at the end of each message, so one feed
 * returns at most one request and the rest of the bytes wait their turn.
 */
#include "http/http.h"

#include "base/alloc.h"
#include "base/array.h"

#include <ctype.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static struct http_reader *reader_of(http_parser *p)
{
	return p->data;
}

static int fail(struct http_reader *r, int status, const char *why)
{
	r->error_status = status;
	r->error_why = why;
	return -1; /* stops http_parser_execute */
}

/* Room for n more bytes in the arena (it grows by doubling; the limits
 * the callers check bound it). Moves the arena: offsets, not pointers. */
static void arena_reserve(struct http_reader *r, size_t n)
{
	ARRAY_GROW(r->arena, r->arena_cap, r->arena_len + n, 256, ARRAY_MAX);
}

/* Appends n bytes from outside the arena. */
static void arena_put(struct http_reader *r, const char *at, size_t n)
{
	arena_reserve(r, n);
	memcpy(r->arena + r->arena_len, at, n);
	r->arena_len += n;
}

/* Ends the string being appended with its NUL; returns where it began. */
static uint32_t arena_end_part(struct http_reader *r)
{
	arena_put(r, "", 1);
	return r->part_start;
}

static void arena_begin_part(struct http_reader *r, int part)
{
	r->part = part;
	r->part_start = (uint32_t)r->arena_len;
}

static int on_message_begin(http_parser *p)
{
	reader_of(p)->started = true;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = reader_of(p);

	r->head_bytes += n;
	if (r->url_len + n > r->lim.max_uri)
		return fail(r, 414, "request target too long");
	arena_put(r, at, n); /* the URL is the arena's first part, at 0 */
	r->url_len += n;
	return 0;
}

static int count_head(struct http_reader *r, size_t n)
{
	r->head_bytes += n;
	if (r->head_bytes > r->lim.max_header)
		return fail(r, 431, "request headers too large");
	return 0;
}

/* The URL ends where the first header name (or the end of the head) begins. */
static void end_url(struct http_reader *r)
{
	if (r->part == PART_URL) {
		arena_end_part(r);
		r->part = PART_DONE;
	}
}

/* A header is complete when its value ended: the next name, or the end of
 * the headers (or of the trailers). */
static int finish_header(struct http_reader *r)
{
	struct http_header_at *h;
	uint32_t value;

	if (r->part == PART_NAME) {
		r->name_at = arena_end_part(r); /* a name without a value */
		arena_begin_part(r, PART_VALUE);
	}
	if (r->part != PART_VALUE)
		return 0;
	value = arena_end_part(r);
	r->part = PART_DONE;
	if (r->rq.nheaders == r->lim.max_headers)
		return fail(r, 431, "too many request headers");
	if (r->rq.nheaders == r->cap_headers) {
		/* two arrays side by side: one capacity */
		r->cap_headers = array_next_cap(r->cap_headers, r->rq.nheaders + 1, sizeof(*r->at), 16,
						r->lim.max_headers);
		r->at = xrealloc(r->at, r->cap_headers * sizeof(*r->at));
		r->rq.headers = xrealloc(r->rq.headers, r->cap_headers * sizeof(*r->rq.headers));
	}
	for (char *c = r->arena + r->name_at; *c; c++)
		if (*c >= 'A' && *c <= 'Z')
			*c = (char)(*c - 'A' + 'a'); /* ASCII: no locale lookup per byte */
	h = &r->at[r->rq.nheaders++];
	h->name = r->name_at;
	h->value = value;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = reader_of(p);

	if (count_head(r, n))
		return -1;
	end_url(r);
	if (r->part == PART_VALUE && finish_header(r))
		return -1;
	if (r->part != PART_NAME)
		arena_begin_part(r, PART_NAME);
	arena_put(r, at, n);
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = reader_of(p);

	if (count_head(r, n))
		return -1;
	if (r->part == PART_NAME) {
		r->name_at = arena_end_part(r);
		arena_begin_part(r, PART_VALUE);
	}
	arena_put(r, at, n);
	return 0;
}

/* The request's pointers into the arena, (re)set once it stopped growing
 * for now: after the head, and after trailers. */
static void resolve(struct http_reader *r)
{
	struct http_request *rq = &r->rq;

	rq->target = r->arena;
	rq->path = r->arena + r->path_at;
	rq->query = r->arena + r->query_at;
	for (unsigned i = 0; i < rq->nheaders; i++) {
		rq->headers[i].name = r->arena + r->at[i].name;
		rq->headers[i].value = r->arena + r->at[i].value;
	}
}

/* Path and query: copies of the target's two sides, NUL-terminated. */
static void split_target(struct http_reader *r)
{
	const char *q = memchr(r->arena, '?', r->url_len);
	size_t plen = q ? (size_t)(q - r->arena) : r->url_len;
	size_t qlen = q ? r->url_len - plen - 1 : 0;
	char *out;

	arena_reserve(r, r->url_len + 2); /* before taking pointers into it */
	out = r->arena + r->arena_len;
	r->path_at = (uint32_t)r->arena_len;
	memcpy(out, r->arena, plen);
	out[plen] = '\0';
	r->query_at = (uint32_t)(r->arena_len + plen + 1);
	memcpy(out + plen + 1, r->arena + plen + 1, qlen);
	out[plen + 1 + qlen] = '\0';
	r->arena_len += plen + qlen + 2;
}

static int on_headers_complete(http_parser *p)
{
	struct http_reader *r = reader_of(p);
	const char *expect;

	end_url(r);
	if (finish_header(r))
		return -1;
	if (p->http_major != 1)
		return fail(r, 505, "only HTTP/1.0 and HTTP/1.1 are spoken here");
	if (!r->url_len || r->arena[0] != '/')
		return fail(r, 400, "request target must be a path"); /* no proxy forms */
	split_target(r);
	resolve(r);
	r->rq.method = http_method_str(p->method);
	r->rq.http_major = p->http_major;
	r->rq.http_minor = p->http_minor;
	r->rq.has_body = (p->flags & F_CHUNKED) || (p->content_length > 0 &&
						    p->content_length != ULLONG_MAX);
	if (p->content_length != ULLONG_MAX && p->content_length > r->lim.max_body)
		return fail(r, 413, "request body too large");
	expect = http_header_get(&r->rq, "expect");
	if (expect && strcasecmp(expect, "100-continue") == 0)
		r->expect_continue = true;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = reader_of(p);
	size_t len = r->rq.body_len;

	if (len + n > r->lim.max_body)
		return fail(r, 413, "request body too large");
	if (r->rq.body == r->no_body) {
		r->rq.body = NULL; /* the shared "" is not grown */
		r->body_cap = 0;
	}
	ARRAY_GROW(r->rq.body, r->body_cap, len + n + 1, 256, ARRAY_MAX);
	memcpy(r->rq.body + len, at, n);
	r->rq.body_len = len + n;
	r->rq.body[r->rq.body_len] = 0;
	r->rq.has_body = true;
	return 0;
}

static int on_message_complete(http_parser *p)
{
	struct http_reader *r = reader_of(p);

	/* An Upgrade (WebSocket) is not offered here: the request is
	 * answered as any other, and the connection closed after it, since
	 * the parser takes what follows for another protocol. */
	r->rq.keep_alive = http_should_keep_alive(p) && !p->upgrade;
	if (finish_header(r)) /* a trailer */
		return -1;
	resolve(r);
	r->complete = true;
	http_parser_pause(p, 1); /* one request per feed: pipelining in order */
	return 0;
}

static const http_parser_settings settings = {
	.on_message_begin = on_message_begin,
	.on_url = on_url,
	.on_header_field = on_header_field,
	.on_header_value = on_header_value,
	.on_headers_complete = on_headers_complete,
	.on_body = on_body,
	.on_message_complete = on_message_complete,
};

void http_reader_init(struct http_reader *r, const struct http_limits *lim)
{
	memset(r, 0, sizeof(*r));
	r->lim = *lim;
	r->rq.body = r->no_body;
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
}

/* What a connection keeps between requests: enough for ordinary ones. A
 * request that needed more gives the excess back once answered. */
#define KEEP_ARENA 4096
#define KEEP_HEADERS 32
#define KEEP_BODY 4096

static void request_reset(struct http_reader *r)
{
	struct http_request *rq = &r->rq;
	struct http_header *headers = rq->headers;
	uint8_t *body = rq->body;

	if (r->arena_cap > KEEP_ARENA) {
		free(r->arena);
		r->arena = NULL;
		r->arena_cap = 0;
	}
	if (r->cap_headers > KEEP_HEADERS) {
		free(headers);
		free(r->at);
		headers = NULL;
		r->at = NULL;
		r->cap_headers = 0;
	}
	if (body != r->no_body && r->body_cap > KEEP_BODY) {
		free(body);
		body = r->no_body;
		r->body_cap = 0;
	}
	memset(rq, 0, sizeof(*rq));
	rq->headers = headers;
	rq->body = body;
	body[0] = 0;
	r->arena_len = 0;
	r->part = PART_URL;
	r->url_len = 0;
	r->head_bytes = 0;
	r->complete = false;
	r->started = false;
	r->expect_continue = false;
}

void http_reader_release(struct http_reader *r)
{
	free(r->arena);
	free(r->at);
	free(r->rq.headers);
	if (r->rq.body != r->no_body)
		free(r->rq.body);
	r->arena = NULL;
	r->at = NULL;
	r->rq.headers = NULL;
	r->rq.body = r->no_body;
	r->arena_cap = r->body_cap = 0;
	r->cap_headers = 0;
}

void http_reader_next(struct http_reader *r)
{
	request_reset(r);
	http_parser_pause(&r->parser, 0);
}

bool http_reader_busy(const struct http_reader *r)
{
	return r->started && !r->complete;
}

static int status_of_parser_error(enum http_errno e)
{
	switch (e) {
	case HPE_HEADER_OVERFLOW: return 431;
	default: return 400; /* garbage too: http-parser calls it an invalid method */
	}
}

enum http_read_status http_reader_feed(struct http_reader *r, const uint8_t *buf, size_t len,
				       size_t *used)
{
	enum http_errno e;

	*used = 0;
	if (r->error_status)
		return HTTP_READ_ERROR;
	if (r->complete)
		return HTTP_READ_REQUEST;
	*used = http_parser_execute(&r->parser, &settings, (const char *)buf, len);
	e = HTTP_PARSER_ERRNO(&r->parser);
	if (r->complete)
		return HTTP_READ_REQUEST; /* e is HPE_PAUSED */
	if (e != HPE_OK) {
		if (!r->error_status) {
			r->error_status = status_of_parser_error(e);
			r->error_why = http_errno_description(e);
		}
		return HTTP_READ_ERROR;
	}
	return HTTP_READ_MORE;
}

const char *http_header_get(const struct http_request *rq, const char *name)
{
	for (unsigned i = 0; i < rq->nheaders; i++)
		if (strcmp(rq->headers[i].name, name) == 0)
			return rq->headers[i].value;
	return NULL;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = (char)tolower((unsigned char)c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* Percent-decodes (and '+' as space in queries) into out; false if
 * malformed or too long. */
static bool decode(const char *s, size_t len, bool plus_space, char *out, size_t cap)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (c == '%') {
			int hi, lo;
			if (i + 2 >= len)
				return false;
			hi = hex_value(s[i + 1]);
			lo = hex_value(s[i + 2]);
			if (hi < 0 || lo < 0)
				return false;
			c = (char)(hi << 4 | lo);
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c == '\0' || n + 1 >= cap)
			return false; /* a NUL would cut the string short */
		out[n++] = c;
	}
	out[n] = '\0';
	return true;
}

/* The raw value of a query parameter: true if present. */
static bool query_find(const struct http_request *rq, const char *name, const char **v,
		       size_t *vlen)
{
	size_t nlen = strlen(name);
	const char *p = rq->query;

	while (p && *p) {
		const char *end = strchr(p, '&');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		const char *eq = memchr(p, '=', len);
		size_t klen = eq ? (size_t)(eq - p) : len;

		if (klen == nlen && memcmp(p, name, nlen) == 0) {
			*v = eq ? eq + 1 : p + len;
			*vlen = eq ? len - klen - 1 : 0;
			return true;
		}
		p = end ? end + 1 : NULL;
	}
	return false;
}

bool http_query_has(const struct http_request *rq, const char *name)
{
	const char *v;
	size_t vlen;

	return query_find(rq, name, &v, &vlen);
}

const char *http_query_get(const struct http_request *rq, const char *name, char *buf,
			   size_t cap)
{
	const char *v;
	size_t vlen;

	if (!query_find(rq, name, &v, &vlen))
		return NULL;
	return decode(v, vlen, true, buf, cap) ? buf : NULL;
}

bool http_segment_decode(const char *seg, size_t len, char *out, size_t cap)
{
	return decode(seg, len, false, out, cap) && !strchr(out, '/');
}
