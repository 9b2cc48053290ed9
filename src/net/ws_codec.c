/*
 * ws_codec.c - WebSocket frames in and out on wslay's frame API (ws.h):
 * the rules of RFC 6455 a server must apply, on top of the frame parsing
 * wslay does (header, lengths, unmasking, control frames' 125 bytes and
 * fin bit). One codec serves both ends: a server's refuses unmasked
 * frames, a client's refuses masked ones (RFC 6455 section 5.1); the rest
 * of the rules are the same.
 */
#include "ws.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

struct ws_codec {
	wslay_frame_context_ptr fr;
	uint64_t max;          /* bytes of a frame or a message */
	const uint8_t *in;     /* what the recv callback hands wslay next */
	size_t in_len;
	uint64_t msg_len;      /* bytes of the data message so far */
	uint64_t frame_left;   /* payload bytes of the current frame to come */
	bool in_frame;         /* a frame's header was seen, its payload comes */
	bool in_message;       /* a fragmented data message waits for continuations */
	bool done;             /* a close frame or an error: nothing more decoded */
	bool client;           /* the client's end: the server's frames come unmasked */
	uint8_t op;            /* the current frame's opcode */
	uint8_t ctl_len;       /* a control frame's payload so far */
	uint8_t ctl[125];
	uint8_t *out;          /* the send callback's destination for a header */
	size_t out_len;
	bool want_header;      /* the next send callback is the header */
};

/* wslay asks for bytes: what ws_codec_input was given, never more. */
static ssize_t on_recv(uint8_t *buf, size_t len, int flags, void *user)
{
	struct ws_codec *w = user;
	size_t n = len < w->in_len ? len : w->in_len;

	(void)flags;
	if (!n)
		return WSLAY_ERR_WOULDBLOCK;
	memcpy(buf, w->in, n);
	w->in += n;
	w->in_len -= n;
	return (ssize_t)n;
}

/* wslay sends: the header is kept for the caller; payload bytes are the
 * caller's own segments, written by it as they are (nothing is copied). */
static ssize_t on_send(const uint8_t *data, size_t len, int flags, void *user)
{
	struct ws_codec *w = user;

	(void)flags;
	if (w->want_header) {
		memcpy(w->out, data, len);
		w->out_len = len;
		w->want_header = false;
	}
	return (ssize_t)len;
}

static int on_genmask(uint8_t *buf, size_t len, void *user)
{
	(void)user;
	memset(buf, 0, len); /* never called: a server's frames are unmasked */
	return 0;
}

static struct ws_codec *codec_new(uint64_t max_message, bool client)
{
	static const struct wslay_frame_callbacks cb = { on_send, on_recv, on_genmask };
	struct ws_codec *w = xcalloc(1, sizeof(*w));

	w->max = max_message;
	w->client = client;
	if (wslay_frame_context_init(&w->fr, &cb, w) != 0) {
		free(w);
		return NULL;
	}
	return w;
}

struct ws_codec *ws_codec_new(uint64_t max_message)
{
	return codec_new(max_message, false);
}

struct ws_codec *ws_codec_new_client(uint64_t max_message)
{
	return codec_new(max_message, true);
}

void ws_codec_free(struct ws_codec *w)
{
	if (!w)
		return;
	wslay_frame_context_free(w->fr);
	free(w);
}

/* ---- input ---- */

static bool is_control(uint8_t op)
{
	return op & 0x8;
}

/* The first chunk of a frame: its header against the rules wslay leaves to
 * us. 0 or a close status. */
static int frame_start(struct ws_codec *w, const struct wslay_frame_iocb *f)
{
	/* no extension negotiated; clients MUST mask, servers MUST NOT */
	if (f->rsv || (f->mask != 0) == w->client)
		return WS_CLOSE_PROTOCOL;
	w->op = f->opcode;
	w->frame_left = f->payload_length;
	w->ctl_len = 0;
	if (is_control(f->opcode))
		return f->opcode <= WS_OP_PONG ? 0 : WS_CLOSE_PROTOCOL;
	if (f->opcode > WS_OP_BINARY)
		return WS_CLOSE_PROTOCOL; /* reserved data opcodes 3-7 */
	if ((f->opcode == WS_OP_CONT) != w->in_message)
		return WS_CLOSE_PROTOCOL; /* a continuation out of place, or a new
					   * message inside a fragmented one */
	if (f->opcode == WS_OP_TEXT)
		return WS_CLOSE_UNSUPPORTED;
	if (f->opcode == WS_OP_BINARY)
		w->msg_len = 0;
	if (f->payload_length > w->max - w->msg_len)
		return WS_CLOSE_TOO_BIG;
	w->msg_len += f->payload_length;
	w->in_message = !f->fin;
	return 0;
}

/* Well-formed UTF-8 (RFC 3629: no overlongs, surrogates or code points
 * past U+10FFFF), as a close reason must be. */
static bool utf8_ok(const uint8_t *s, size_t n)
{
	size_t i = 0;

	while (i < n) {
		uint8_t c = s[i];
		size_t k = c < 0x80 ? 0 : c >= 0xC2 && c <= 0xDF ? 1 : c >= 0xE0 && c <= 0xEF ? 2
			 : c >= 0xF0 && c <= 0xF4 ? 3 : 9;
		uint8_t lo = 0x80, hi = 0xBF;

		if (k == 9 || i + k >= n)
			return false; /* not a lead byte, or cut short */
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
		else if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
		for (size_t j = 1; j <= k; j++, lo = 0x80, hi = 0xBF)
			if (s[i + j] < lo || s[i + j] > hi)
				return false;
		i += k + 1;
	}
	return true;
}

/* Status codes a peer may send (RFC 6455 section 7.4). */
static bool close_status_ok(unsigned s)
{
	if (s >= 3000 && s <= 4999)
		return true;
	return s >= 1000 && s <= 1011 && s != 1004 && s != 1005 && s != 1006;
}

/* A whole control frame is in w->ctl. 0, -1 (stopped) or a close status. */
static int control_end(struct ws_codec *w, const struct ws_events *ev, void *arg)
{
	unsigned status;

	if (w->op == WS_OP_PING)
		return ev->ping(arg, w->ctl, w->ctl_len) ? 0 : -1;
	if (w->op == WS_OP_PONG)
		return 0; /* unsolicited pongs are allowed and ignored */
	w->done = true;
	if (w->ctl_len == 0) {
		ev->close(arg, WS_CLOSE_NO_STATUS);
		return -1;
	}
	if (w->ctl_len == 1)
		return WS_CLOSE_PROTOCOL;
	status = (unsigned)w->ctl[0] << 8 | w->ctl[1];
	if (!close_status_ok(status))
		return WS_CLOSE_PROTOCOL;
	if (!utf8_ok(w->ctl + 2, w->ctl_len - 2u))
		return WS_CLOSE_INVALID_DATA;
	ev->close(arg, (uint16_t)status);
	return -1;
}

/* One chunk of the current frame's payload. */
static int frame_chunk(struct ws_codec *w, const struct wslay_frame_iocb *f,
		       const struct ws_events *ev, void *arg)
{
	w->frame_left -= f->data_length;
	if (is_control(w->op)) {
		memcpy(w->ctl + w->ctl_len, f->data, f->data_length); /* <= 125 in all */
		w->ctl_len = (uint8_t)(w->ctl_len + f->data_length);
	} else if (f->data_length && !ev->data(arg, f->data, f->data_length)) {
		return -1;
	}
	if (w->frame_left)
		return 0;
	w->in_frame = false;
	return is_control(w->op) ? control_end(w, ev, arg) : 0;
}

static int fail(struct ws_codec *w, int status)
{
	w->done = true;
	return status;
}

int ws_codec_input(struct ws_codec *w, const uint8_t *in, size_t len,
		   const struct ws_events *ev, void *arg)
{
	struct wslay_frame_iocb f;
	ssize_t r;
	int rc;

	if (w->done)
		return -1;
	w->in = in;
	w->in_len = len;
	for (;;) {
		memset(&f, 0, sizeof(f));
		r = wslay_frame_recv(w->fr, &f);
		if (r == WSLAY_ERR_WANT_READ && !w->in_len)
			return 0; /* all taken: the rest of a frame comes later */
		if (r == WSLAY_ERR_WANT_READ)
			continue; /* wslay's buffer was full: it has room now */
		if (r < 0) /* WSLAY_ERR_PROTO: a bad length or control frame */
			return fail(w, WS_CLOSE_PROTOCOL);
		if (!w->in_frame) {
			w->in_frame = true;
			if ((rc = frame_start(w, &f)) != 0)
				return fail(w, rc);
		}
		if ((rc = frame_chunk(w, &f, ev, arg)) != 0)
			return rc > 0 ? fail(w, rc) : -1;
	}
}

/* ---- output ---- */

/* wslay writes the header through on_send (into hdr); the payload is the
 * caller's: wslay is told it was sent, so its state is ready for the next
 * frame. */
size_t ws_codec_header(struct ws_codec *w, uint8_t op, uint64_t len, uint8_t hdr[WS_HEADER_MAX])
{
	struct wslay_frame_iocb f = { .fin = 1, .opcode = op, .payload_length = len };
	static const uint8_t any[1];

	w->out = hdr;
	w->out_len = 0;
	w->want_header = true;
	wslay_frame_send(w->fr, &f);
	if (len) {
		/* The payload, told as sent: on_send ignores it (the caller writes
		 * its own segments). An unmasked frame's data is only passed to
		 * on_send, never read, so one byte stands for all of it. */
		f.data = any;
		f.data_length = len;
		wslay_frame_send(w->fr, &f);
	}
	return w->out_len;
}

static size_t control_frame(struct ws_codec *w, uint8_t op, const uint8_t *p, size_t n,
			    uint8_t *out)
{
	size_t h = ws_codec_header(w, op, n, out);

	memcpy(out + h, p, n);
	return h + n;
}

size_t ws_codec_close_frame(struct ws_codec *w, uint16_t status, uint8_t *out)
{
	uint8_t p[2] = { (uint8_t)(status >> 8), (uint8_t)status };

	return control_frame(w, WS_OP_CLOSE, p, sizeof(p), out);
}

size_t ws_codec_pong_frame(struct ws_codec *w, const uint8_t *p, size_t n, uint8_t *out)
{
	return control_frame(w, WS_OP_PONG, p, n > 125 ? 125 : n, out);
}

/* ---- a client's frames ---- */

size_t ws_masked_header(uint8_t op, uint64_t len, const uint8_t key[4],
			uint8_t hdr[WS_MASKED_HEADER_MAX])
{
	size_t n = 2;

	hdr[0] = (uint8_t)(0x80 | op); /* fin: one frame per message */
	if (len < 126) {
		hdr[1] = (uint8_t)(0x80 | len);
	} else if (len <= 0xFFFF) {
		hdr[1] = 0x80 | 126;
		hdr[2] = (uint8_t)(len >> 8);
		hdr[3] = (uint8_t)len;
		n = 4;
	} else {
		hdr[1] = 0x80 | 127;
		for (int i = 0; i < 8; i++)
			hdr[2 + i] = (uint8_t)(len >> (56 - 8 * i));
		n = 10;
	}
	memcpy(hdr + n, key, 4);
	return n + 4;
}

/* Eight bytes at a time: the client masks every byte it sends. */
void ws_mask(uint8_t *p, size_t n, const uint8_t key[4])
{
	uint8_t k8[8];
	uint64_t k;
	size_t i = 0;

	memcpy(k8, key, 4);
	memcpy(k8 + 4, key, 4);
	memcpy(&k, k8, 8);
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, p + i, 8);
		v ^= k;
		memcpy(p + i, &v, 8);
	}
	for (; i < n; i++)
		p[i] ^= key[i & 3];
}
