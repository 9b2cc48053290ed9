/*
 * http.h - HTTP/1.1 requests in, responses out, with no I/O.
 *
 * A struct http_reader wraps the http-parser library: the I/O layer feeds it
 * whatever bytes arrived, and it answers "need more", "here is a complete
 * request" or "this connection sent something bad: answer this status and
 * close". It enforces the limits a client controls (URI, headers, body) as
 * the bytes arrive, so nothing grows past them. Pipelined requests come out
 * one at a time, in order.
 *
 * A struct http_response is what a handler fills; http_response_write
 * serialises it (status line, headers, body) into a buffer.
 *
 * Ownership: a request's strings belong to the reader and stay valid until
 * http_reader_next or http_reader_release. A response owns its body unless
 * it was set with http_response_static (the body outlives the process's
 * use of it) or http_response_borrow (valid only until control returns to
 * the event loop: a writer that keeps the body longer copies it).
 */
#ifndef AGORA_HTTP_H
#define AGORA_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <http_parser.h>

struct http_limits {
	size_t max_uri;    /* request target, bytes: 414 beyond */
	size_t max_header; /* request line and headers, bytes: 431 beyond */
	size_t max_body;   /* body after de-chunking, bytes: 413 beyond */
	unsigned max_headers; /* header lines: 431 beyond */
};

struct http_header {
	const char *name; /* lower-cased */
	const char *value;
};

struct http_request {
	const char *method; /* "GET", ... (static) */
	const char *target; /* as sent: path and query */
	const char *path;   /* target up to '?', not decoded */
	const char *query;  /* after '?', "" if none, not decoded */
	struct http_header *headers;
	unsigned nheaders;
	uint8_t *body;      /* NUL-terminated for convenience; body_len bytes */
	size_t body_len;
	bool keep_alive;    /* the client wants the connection kept */
	bool has_body;      /* Content-Length or chunked was given */
	unsigned short http_major, http_minor;
};

enum http_read_status {
	HTTP_READ_MORE,    /* everything consumed; feed more bytes */
	HTTP_READ_REQUEST, /* a complete request: handle it, then http_reader_next */
	HTTP_READ_ERROR,   /* answer error_status and close the connection */
};

/* Where a header's name and value are in the reader's arena. */
struct http_header_at {
	uint32_t name, value;
};

struct http_reader {
	http_parser parser;
	struct http_limits lim;
	struct http_request rq;
	/* Building the request. Its strings (target, path, query, header names
	 * and values) are NUL-terminated in one arena, placed by offset while
	 * it may still grow, and the request's pointers set once the head (and
	 * again once trailers) are in. The arena, the header array and a small
	 * body buffer are kept from one request to the next, so a connection's
	 * requests allocate nothing once they have grown. */
	char *arena;
	size_t arena_len;
	uint32_t arena_cap;
	struct http_header_at *at; /* cap_headers entries */
	uint32_t cap_headers;
	enum { PART_URL, PART_NAME, PART_VALUE, PART_DONE } part; /* being appended */
	uint32_t part_start;  /* arena offset where the current name or value began */
	uint32_t name_at;     /* the current header's name */
	uint32_t path_at, query_at;
	size_t head_bytes;    /* request line + headers so far */
	size_t url_len;
	uint32_t body_cap;
	bool complete;        /* on_message_complete seen, request in rq */
	bool started;         /* bytes of a request were seen */
	bool expect_continue; /* "Expect: 100-continue", headers complete */
	int error_status;     /* HTTP_READ_ERROR: 400, 413, 414, 431, ... */
	const char *error_why;
	uint8_t no_body[1];   /* rq.body when there is none: "" */
};

void http_reader_init(struct http_reader *r, const struct http_limits *lim);
void http_reader_release(struct http_reader *r);

/* Parses from buf; *used gets the bytes consumed (the rest belongs to the
 * next request: feed it again after http_reader_next). */
enum http_read_status http_reader_feed(struct http_reader *r, const uint8_t *buf, size_t len,
				       size_t *used);
/* Forgets the request returned, ready for the next one. */
void http_reader_next(struct http_reader *r);
/* True once some bytes of a request arrived and it is not complete (the
 * request timeout runs from then). */
bool http_reader_busy(const struct http_reader *r);

/* The value of a header (name in lower case), or NULL. */
const char *http_header_get(const struct http_request *rq, const char *name);
/* The value of a query parameter, percent-decoded into buf (NUL-terminated),
 * or NULL if absent. Returns buf. Values longer than cap-1 are NULL. */
const char *http_query_get(const struct http_request *rq, const char *name, char *buf,
			   size_t cap);
/* Whether the query has the parameter at all. */
bool http_query_has(const struct http_request *rq, const char *name);
/* Percent-decodes a path segment of len bytes into out (cap bytes, NUL-
 * terminated); false if malformed, too long, or decodes to '/' or NUL. */
bool http_segment_decode(const char *seg, size_t len, char *out, size_t cap);

/* ---- responses ---- */

#define HTTP_MAX_EXTRA_HEADERS 8

struct http_response {
	int status;
	const char *content_type; /* static string */
	char *body;               /* owned (malloc), unless body_static */
	const unsigned char *body_static; /* static or borrowed: not freed */
	size_t body_len;
	bool body_borrowed;       /* body_static is valid until back in the loop */
	bool close;               /* close the connection after it */
	const char *extra[HTTP_MAX_EXTRA_HEADERS]; /* "Name: value" lines, owned */
	unsigned nextra;
};

void http_response_init(struct http_response *rs);
void http_response_release(struct http_response *rs);
/* Sets a JSON body (takes ownership of a malloc'ed NUL-terminated string). */
void http_response_json(struct http_response *rs, int status, char *json);
/* Sets an owned (malloc'ed) body of len bytes. */
void http_response_body(struct http_response *rs, int status, const char *content_type,
			char *body, size_t len);
/* Sets a body that outlives the response (an embedded file). */
void http_response_static(struct http_response *rs, int status, const char *content_type,
			  const unsigned char *data, size_t len);
/* Sets a body the caller keeps (a cache entry) that stays valid only until
 * control returns to the event loop; see Ownership above. */
void http_response_borrow(struct http_response *rs, int status, const char *content_type,
			  const char *data, size_t len);
/* Sets the standard error body {"error": {"code", "message"}}. */
void http_response_error(struct http_response *rs, int status, const char *code,
			 const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Adds a header line ("Name: value", formatted); ignored past the limit. */
void http_response_header(struct http_response *rs, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Statuses as small indexes, for per-status counters: every status this
 * server sends has its slot; anything else shares the last one (status 0). */
#define HTTP_STATUS_SLOTS 24
int http_status_slot(int status);
int http_status_of_slot(int slot);

/* The error code word of a status: 404 -> "not_found". */
const char *http_status_code_word(int status);
const char *http_status_reason(int status);

/* How a response goes out on this connection. */
struct http_write_opts {
	bool head;         /* HEAD: headers only */
	bool keep_alive;   /* else "Connection: close" */
	const char *date;  /* preformatted IMF-fixdate, or NULL */
};

/* Bytes http_response_write needs, then writing them; returns bytes
 * written. The body is not copied when it is large (see body_out): the
 * caller sends *body_out after the head. */
size_t http_response_head_size(const struct http_response *rs);
size_t http_response_write_head(const struct http_response *rs, const struct http_write_opts *o,
				char *out, size_t cap);

#endif
