/*
 * ws.c - MQTT over WebSocket on the client side (RFC 6455; MQTT 5.0
 * section 6), for connections with opts.ws_path: the opening handshake
 * (GET with a random Sec-WebSocket-Key, subprotocol mqtt; the 101 and its
 * Sec-WebSocket-Accept checked), then the framing both ways.
 *
 * Out: what a loop turn queued is one masked binary frame. The mask is
 * applied where the bytes lie, in the output buffer, and the header is
 * written beside it (conn.c's flush writes both with one writev): no copy.
 * In: the server's frames go through the server's own codec (net/ws.h),
 * in its client role (frames must come unmasked), and their payload is
 * the byte stream flow.c frames into packets.
 *
 * Mask keys are random (libsodium), drawn WS_KEYS at a time: a frame per
 * connection per loop turn would otherwise be a getrandom call each.
 */
#include "internal.h"

#include "base/alloc.h"
#include "http/websocket.h"
#include "net/ws.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WS_ANSWER_MAX 8192 /* the 101's status line and headers */
#define WS_KEYS 64         /* mask keys drawn at once */

enum ws_phase {
	WS_REQUEST, /* the request is queued, not yet written */
	WS_ANSWER,  /* written: output waits for the 101 */
	WS_OPEN,
};

struct client_ws {
	enum ws_phase phase;
	struct ws_codec *codec;
	char *request;                     /* until TCP is up */
	char accept[29];                   /* the Sec-WebSocket-Accept expected */
	char answer[WS_ANSWER_MAX + 1];    /* the 101 so far, NUL-terminated */
	uint32_t alen;
	uint8_t hdr[WS_MASKED_HEADER_MAX]; /* the frame being written */
	uint8_t keys[4 * WS_KEYS];
	uint32_t key_next;                 /* keys used */
};

void client__ws_free(struct client_ws *w)
{
	if (!w)
		return;
	ws_codec_free(w->codec);
	free(w->request);
	free(w);
}

/* ---- the handshake ---- */

void client__ws_new(struct client_conn *c, const char *host, uint16_t port)
{
	struct client_ws *w = xcalloc(1, sizeof(*w));
	unsigned char raw[16];
	char key[25];
	bool v6 = strchr(host, ':') != NULL;
	int n;

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(key, sizeof(key), raw, sizeof(raw), sodium_base64_VARIANT_ORIGINAL);
	http_ws_accept(key, w->accept);
	n = snprintf(NULL, 0, "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\n", c->opts.ws_path,
		     v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)port);
	w->request = xmalloc((size_t)n + 160);
	snprintf(w->request, (size_t)n + 160,
		 "GET %s HTTP/1.1\r\nHost: %s%s%s:%u\r\nUpgrade: websocket\r\n"
		 "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
		 "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n",
		 c->opts.ws_path, v6 ? "[" : "", host, v6 ? "]" : "", (unsigned)port, key);
	w->codec = ws_codec_new_client(UINT64_MAX); /* packets are bounded by flow.c */
	if (!w->codec)
		abort(); /* out of memory, as xmalloc's */
	w->key_next = WS_KEYS; /* drawn at the first frame */
	c->ws = w;
}

void client__ws_connected(struct client_conn *c)
{
	struct client_ws *w = c->ws;
	size_t n = strlen(w->request);

	memcpy(client__reserve(c, n), w->request, n);
	c->wlen += (uint32_t)n;
	free(w->request);
	w->request = NULL;
	w->phase = WS_REQUEST;
	w->alen = 0;
}

/* The value of header name in the answer's header lines (after the status
 * line), its length in *len; NULL if absent. */
static const char *header(const char *a, const char *name, size_t *len)
{
	size_t nl = strlen(name);
	const char *line = strstr(a, "\r\n");

	while (line && line[2] != '\r') {
		const char *v = line + 2, *end = strstr(v, "\r\n");
		if (!end)
			return NULL;
		if (strncasecmp(v, name, nl) == 0 && v[nl] == ':') {
			for (v += nl + 1; *v == ' ' || *v == '\t'; v++)
				;
			*len = (size_t)(end - v);
			while (*len && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
				(*len)--;
			return v;
		}
		line = end;
	}
	return NULL;
}

static bool header_is(const char *a, const char *name, const char *want)
{
	size_t n = 0;
	const char *v = header(a, name, &n);

	return v && n == strlen(want) && strncasecmp(v, want, n) == 0;
}

/* Connection: a list of tokens, one of them "upgrade". */
static bool connection_upgrade(const char *a)
{
	char list[128];
	size_t n = 0;
	const char *v = header(a, "connection", &n);

	if (!v || n >= sizeof(list))
		return false;
	memcpy(list, v, n);
	list[n] = 0;
	return http_list_has(list, "upgrade", 7);
}

/* The whole answer (headers ended by an empty line): 0 or why it fails. */
static int check_answer(const struct client_ws *w)
{
	const char *a = w->answer;

	if (strncmp(a, "HTTP/1.1 101", 12) != 0 || (a[12] != ' ' && a[12] != '\r'))
		return CLIENT_EUPGRADE;
	if (!header_is(a, "upgrade", "websocket") || !connection_upgrade(a) ||
	    !header_is(a, "sec-websocket-accept", w->accept) ||
	    !header_is(a, "sec-websocket-protocol", "mqtt"))
		return CLIENT_EHANDSHAKE;
	return 0;
}

/* Bytes of the answer; returns how many were its own (the rest are
 * frames), or -1 when it is not complete yet or c failed. */
static long take_answer(struct client_conn *c, const uint8_t *data, size_t len)
{
	struct client_ws *w = c->ws;
	size_t room = WS_ANSWER_MAX - w->alen, n = len < room ? len : room;
	uint32_t before = w->alen;
	char *end;
	int rc;

	memcpy(w->answer + w->alen, data, n);
	w->alen += (uint32_t)n;
	w->answer[w->alen] = 0;
	end = strstr(w->answer, "\r\n\r\n"); /* no NUL in a valid answer */
	if (!end) {
		if (w->alen == WS_ANSWER_MAX || strlen(w->answer) < w->alen)
			client__fail(c, CLIENT_EHANDSHAKE);
		return -1;
	}
	end[2] = 0; /* the headers end with the last line's CRLF */
	rc = check_answer(w);
	if (rc) {
		client__fail(c, rc);
		return -1;
	}
	w->phase = WS_OPEN;
	client__send_connect(c);
	return (long)(end + 4 - w->answer) - before;
}

/* ---- output ---- */

static const uint8_t *next_key(struct client_ws *w)
{
	if (w->key_next == WS_KEYS) {
		randombytes_buf(w->keys, sizeof(w->keys));
		w->key_next = 0;
	}
	return w->keys + 4 * w->key_next++;
}

int client__ws_frame(struct client_conn *c, uv_buf_t *hdr)
{
	struct client_ws *w = c->ws;
	const uint8_t *key;

	if (w->phase == WS_REQUEST) {
		w->phase = WS_ANSWER;
		return 0;
	}
	if (w->phase == WS_ANSWER)
		return -1;
	key = next_key(w);
	ws_mask(c->wbuf, c->wlen, key);
	*hdr = uv_buf_init((char *)w->hdr,
			   (unsigned)ws_masked_header(WS_OP_BINARY, c->wlen, key, w->hdr));
	return 1;
}

struct ws_pong {
	uv_write_t req;
	uint8_t frame[WS_MASKED_HEADER_MAX + 125];
};

static void on_pong_written(uv_write_t *req, int status)
{
	(void)status; /* a failure shows on the connection's own writes and reads */
	free(req->data);
}

/* A pong of its own, queued behind the write in flight if any (libuv
 * keeps a stream's writes in order), before the next frame: frames are
 * never interleaved. */
static void send_pong(struct client_conn *c, const uint8_t *p, size_t n)
{
	struct ws_pong *pg = xmalloc(sizeof(*pg));
	const uint8_t *key = next_key(c->ws);
	size_t h = ws_masked_header(WS_OP_PONG, n, key, pg->frame);
	uv_buf_t b;

	memcpy(pg->frame + h, p, n);
	ws_mask(pg->frame + h, n, key);
	b = uv_buf_init((char *)pg->frame, (unsigned)(h + n));
	pg->req.data = pg;
	if (uv_write(&pg->req, (uv_stream_t *)&c->tcp, &b, 1, on_pong_written) < 0)
		free(pg);
}

/* ---- input ---- */

static bool ev_data(void *arg, const uint8_t *p, size_t n)
{
	struct client_conn *c = arg;

	client__input(c, p, n);
	return c->state < CLIENT_CLOSING;
}

static bool ev_ping(void *arg, const uint8_t *p, size_t n)
{
	send_pong(arg, p, n);
	return true;
}

static bool ev_close(void *arg, uint16_t status)
{
	(void)status;
	client__fail(arg, CLIENT_ECLOSED);
	return false;
}

static const struct ws_events ws_events = {
	.data = ev_data,
	.ping = ev_ping,
	.close = ev_close,
};

void client__ws_input(struct client_conn *c, const uint8_t *data, size_t len)
{
	struct client_ws *w = c->ws;
	int rc;

	if (w->phase != WS_OPEN) {
		long used = take_answer(c, data, len);
		if (used < 0)
			return;
		data += used;
		len -= (size_t)used;
	}
	if (!len)
		return;
	rc = ws_codec_input(w->codec, data, len, &ws_events, c);
	if (rc > 0) /* the server broke a framing rule */
		client__fail(c, CLIENT_EPROTO);
}
