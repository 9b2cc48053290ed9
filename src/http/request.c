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

/* Appends n bytes to a growable string, within limit bytes in all. */
static bool append(char **s, size_t *len, const char *at, size_t n, size_t limit)
{
	if (*len + n > limit)
		return false;
	*s = xrealloc(*s, *len + n + 1);
	memcpy(*s + *len, at, n);
	*len += n;
	(*s)[*len] = '\0';
	return true;
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
	if (!append(&r->url, &r->url_len, at, n, r->lim.max_uri))
		return fail(r, 414, "request target too long");
	return 0;
}

static int count_head(struct http_reader *r, size_t n)
{
	r->head_bytes += n;
	if (r->head_bytes > r->lim.max_header)
		return fail(r, 431, "request headers too large");
	return 0;
}

/* A header is complete when its value ended: the next name, or the end of
 * the headers. */
static int finish_header(struct http_reader *r)
{
	struct http_header *h;

	if (!r->hname)
		return 0;
	if (r->rq.nheaders == r->lim.max_headers)
		return fail(r, 431, "too many request headers");
	if (r->rq.nheaders == r->cap_headers) {
		r->cap_headers = r->cap_headers ? r->cap_headers * 2 : 16;
		r->rq.headers = xrealloc(r->rq.headers, r->cap_headers * sizeof(*r->rq.headers));
	}
	for (size_t i = 0; i < r->hname_len; i++)
		r->hname[i] = (char)tolower((unsigned char)r->hname[i]);
	h = &r->rq.headers[r->rq.nheaders++];
	h->name = r->hname;
	h->value = r->hvalue ? r->hvalue : xstrdup("");
	r->hname = r->hvalue = NULL;
	r->hname_len = r->hvalue_len = 0;
	return 0;
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = reader_of(p);

	if (count_head(r, n))
		return -1;
	if (r->in_value && finish_header(r))
		return -1;
	r->in_value = false;
	append(&r->hname, &r->hname_len, at, n, SIZE_MAX);
	return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
	struct http_reader *r = reader_of(p);

	if (count_head(r, n))
		return -1;
	r->in_value = true;
	if (!r->hvalue)
		r->hvalue = xstrdup("");
	append(&r->hvalue, &r->hvalue_len, at, n, SIZE_MAX);
	return 0;
}

static void split_target(struct http_request *rq, char *url, size_t len)
{
	const char *q = memchr(url, '?', len);
	size_t plen = q ? (size_t)(q - url) : len;

	rq->target = url; /* the reader's own copy of it (freed with it) */
	rq->path = xstrndup(url, plen);
	rq->query = q ? xstrndup(q + 1, len - plen - 1) : xstrdup("");
}

static int on_headers_complete(http_parser *p)
{
	struct http_reader *r = reader_of(p);
	const char *expect;

	if (r->in_value && finish_header(r))
		return -1;
	r->in_value = false;
	if (p->http_major != 1)
		return fail(r, 505, "only HTTP/1.0 and HTTP/1.1 are spoken here");
	if (!r->url || r->url[0] != '/')
		return fail(r, 400, "request target must be a path"); /* no proxy forms */
	split_target(&r->rq, r->url, r->url_len);
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
	if (len + n + 1 > r->body_cap) {
		r->body_cap = r->body_cap ? r->body_cap : 256;
		while (r->body_cap < len + n + 1)
			r->body_cap *= 2;
		r->rq.body = xrealloc(r->rq.body, r->body_cap);
	}
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
	if (!r->rq.body)
		r->rq.body = (uint8_t *)xstrdup("");
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
	http_parser_init(&r->parser, HTTP_REQUEST);
	r->parser.data = r;
}

static void request_release(struct http_reader *r)
{
	struct http_request *rq = &r->rq;

	for (unsigned i = 0; i < rq->nheaders; i++) {
		free(rq->headers[i].name);
		free(rq->headers[i].value);
	}
	free(rq->headers);
	free(rq->path);
	free(rq->query);
	free(rq->body);
	free(r->url);
	free(r->hname);
	free(r->hvalue);
	memset(rq, 0, sizeof(*rq));
	r->url = r->hname = r->hvalue = NULL;
	r->url_len = r->hname_len = r->hvalue_len = 0;
	r->body_cap = 0;
	r->cap_headers = 0;
	r->head_bytes = 0;
	r->in_value = false;
	r->complete = false;
	r->started = false;
	r->expect_continue = false;
}

void http_reader_release(struct http_reader *r)
{
	request_release(r);
}

void http_reader_next(struct http_reader *r)
{
	request_release(r);
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
