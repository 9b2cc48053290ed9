/*
 * response.c - HTTP responses: the JSON error body every failure carries,
 * and the status line and headers written in front of a body.
 */
#include "http/http.h"

#include "base/alloc.h"
#include "base/text.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct status_info {
	int status;
	const char *reason;
	const char *word; /* the "code" of an error body */
};

static const struct status_info statuses[] = {
	{ 100, "Continue", "continue" },
	{ 200, "OK", "ok" },
	{ 201, "Created", "created" },
	{ 204, "No Content", "no_content" },
	{ 400, "Bad Request", "bad_request" },
	{ 401, "Unauthorized", "unauthorized" },
	{ 403, "Forbidden", "forbidden" },
	{ 404, "Not Found", "not_found" },
	{ 405, "Method Not Allowed", "method_not_allowed" },
	{ 408, "Request Timeout", "request_timeout" },
	{ 409, "Conflict", "conflict" },
	{ 413, "Content Too Large", "payload_too_large" },
	{ 414, "URI Too Long", "uri_too_long" },
	{ 415, "Unsupported Media Type", "unsupported_media_type" },
	{ 422, "Unprocessable Content", "validation_failed" },
	{ 429, "Too Many Requests", "too_many_requests" },
	{ 431, "Request Header Fields Too Large", "header_too_large" },
	{ 500, "Internal Server Error", "internal" },
	{ 503, "Service Unavailable", "unavailable" },
	{ 505, "HTTP Version Not Supported", "http_version_not_supported" },
};

static const struct status_info *status_find(int status)
{
	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++)
		if (statuses[i].status == status)
			return &statuses[i];
	return NULL;
}

_Static_assert(sizeof(statuses) / sizeof(statuses[0]) < HTTP_STATUS_SLOTS,
	       "HTTP_STATUS_SLOTS must leave a slot for unknown statuses");

int http_status_slot(int status)
{
	const struct status_info *s = status_find(status);
	return s ? (int)(s - statuses) : HTTP_STATUS_SLOTS - 1;
}

int http_status_of_slot(int slot)
{
	if (slot < 0 || (size_t)slot >= sizeof(statuses) / sizeof(statuses[0]))
		return 0;
	return statuses[slot].status;
}

const char *http_status_reason(int status)
{
	const struct status_info *s = status_find(status);
	return s ? s->reason : "Unknown";
}

const char *http_status_code_word(int status)
{
	const struct status_info *s = status_find(status);
	return s ? s->word : "error";
}

void http_response_init(struct http_response *rs)
{
	memset(rs, 0, sizeof(*rs));
	rs->status = 200;
}

void http_response_release(struct http_response *rs)
{
	free(rs->body);
	for (unsigned i = 0; i < rs->nextra; i++)
		free((char *)rs->extra[i]);
	memset(rs, 0, sizeof(*rs));
}

static void drop_body(struct http_response *rs)
{
	free(rs->body);
	rs->body = NULL;
	rs->body_static = NULL;
	rs->body_len = 0;
	rs->body_borrowed = false;
}

void http_response_json(struct http_response *rs, int status, char *json)
{
	drop_body(rs);
	rs->status = status;
	rs->content_type = "application/json";
	rs->body = json;
	rs->body_len = json ? strlen(json) : 0;
}

void http_response_body(struct http_response *rs, int status, const char *content_type,
			char *body, size_t len)
{
	drop_body(rs);
	rs->status = status;
	rs->content_type = content_type;
	rs->body = body;
	rs->body_len = len;
}

void http_response_static(struct http_response *rs, int status, const char *content_type,
			  const unsigned char *data, size_t len)
{
	drop_body(rs);
	rs->status = status;
	rs->content_type = content_type;
	rs->body_static = data;
	rs->body_len = len;
}

void http_response_borrow(struct http_response *rs, int status, const char *content_type,
			  const char *data, size_t len)
{
	http_response_static(rs, status, content_type, (const unsigned char *)data, len);
	rs->body_borrowed = true;
}

void http_response_error(struct http_response *rs, int status, const char *code,
			 const char *fmt, ...)
{
	char msg[512];
	json_t *o;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* jansson escapes the message, whatever the client put in it */
	o = json_pack("{s:{s:s,s:s}}", "error", "code", code ? code : http_status_code_word(status),
		      "message", msg);
	http_response_json(rs, status, o ? json_dumps(o, JSON_COMPACT) : NULL);
	json_decref(o);
	if (!rs->body) { /* a message that is not UTF-8: say less */
		rs->body = xstrdup("{\"error\":{\"code\":\"internal\",\"message\":\"error\"}}");
		rs->body_len = strlen(rs->body);
	}
}

void http_response_header(struct http_response *rs, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (rs->nextra == HTTP_MAX_EXTRA_HEADERS)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	rs->extra[rs->nextra++] = xstrdup(line);
}

/* Status 1xx, 204 and 304 carry no body and no Content-Length. */
static bool bodiless(int status)
{
	return status < 200 || status == 204 || status == 304;
}

size_t http_response_head_size(const struct http_response *rs)
{
	size_t n = 256; /* status line, Date, Content-Type/Length, Connection */

	for (unsigned i = 0; i < rs->nextra; i++)
		n += strlen(rs->extra[i]) + 2;
	return n;
}

/* Appends and no printf: this runs once per answer. */
size_t http_response_write_head(const struct http_response *rs, const struct http_write_opts *o,
				char *out, size_t cap)
{
	struct text_fixed h = { .buf = out, .cap = cap };

	TEXT_PUT_LIT(&h, "HTTP/1.1 ");
	text_put_uint(&h, (size_t)(rs->status >= 100 && rs->status <= 999 ? rs->status : 500));
	TEXT_PUT_LIT(&h, " ");
	text_put_str(&h, http_status_reason(rs->status));
	TEXT_PUT_LIT(&h, "\r\n");
	if (o->date) {
		TEXT_PUT_LIT(&h, "Date: ");
		text_put_str(&h, o->date);
		TEXT_PUT_LIT(&h, "\r\n");
	}
	if (!bodiless(rs->status)) {
		if (rs->content_type) {
			TEXT_PUT_LIT(&h, "Content-Type: ");
			text_put_str(&h, rs->content_type);
			TEXT_PUT_LIT(&h, "\r\n");
		}
		TEXT_PUT_LIT(&h, "Content-Length: ");
		text_put_uint(&h, rs->body_len);
		TEXT_PUT_LIT(&h, "\r\n");
	}
	for (unsigned i = 0; i < rs->nextra; i++) {
		text_put_str(&h, rs->extra[i]);
		TEXT_PUT_LIT(&h, "\r\n");
	}
	if (!o->keep_alive || rs->close)
		TEXT_PUT_LIT(&h, "Connection: close\r\n");
	TEXT_PUT_LIT(&h, "\r\n");
	return h.cut ? 0 : h.len;
}
