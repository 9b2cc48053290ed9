/*
 * ws_codec.c - WebSocket frames in and out (ws.h): frames are parsed here
 * (header, lengths, unmasking) with the rules of RFC 6455 a server must
 * apply; server frame headers are written with wslay's frame API. One
 * codec serves both ends: a server's refuses unmasked frames, a client's
 * refuses masked ones (RFC 6455 section 5.1); the rest of the rules are
 * the same.
 *
 * Why input is not wslay_frame_recv: it copies every byte into its own
 * 4 KiB buffer and unmasks it a byte at a time, which was a fifth of the
 * broker's CPU with WebSocket publishers (perf, QoS 0 1 -> 1). Here a
 * masked payload is unmasked eight bytes at a time straight from the
 * input into a scratch buffer, and an unmasked one (a client's view of a
 * server) is handed out where it lies, with no copy.
 */
#include "ws.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

struct ws_codec {
	wslay_frame_context_ptr fr;
	uint64_t max;          /* bytes of a frame or a message */
	uint8_t hdr[14];       /* a frame header being read (2 to 14 bytes) */
	uint8_t hdr_len;
	uint8_t mask[4];       /* the current frame's masking key */
	bool masked;
	uint64_t mask_off;     /* payload bytes of the current frame unmasked so far */
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

static ssize_t on_recv_unused(uint8_t *buf, size_t len, int flags, void *user)
{
	(void)buf, (void)len, (void)flags, (void)user;
	return WSLAY_ERR_WOULDBLOCK; /* never called: input is parsed here */
}

static int on_genmask(uint8_t *buf, size_t len, void *user)
{
	(void)user;
	memset(buf, 0, len); /* never called: a server's frames are unmasked */
	return 0;
}

static struct ws_codec *codec_new(uint64_t max_message, bool client)
{
	static const struct wslay_frame_callbacks cb = { on_send, on_recv_unused, on_genmask };
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

/* A frame's header, parsed. */
struct frame_head {
	bool fin, mask;
	uint8_t rsv, opcode;
	uint64_t payload_length;
};

/* A frame's header against the rules of RFC 6455 section 5. 0 or a close
 * status. */
static int frame_start(struct ws_codec *w, const struct frame_head *f)
{
	/* no extension negotiated; clients MUST mask, servers MUST NOT */
	if (f->rsv || (f->mask != 0) == w->client)
		return WS_CLOSE_PROTOCOL;
	w->op = f->opcode;
	w->frame_left = f->payload_length;
	w->ctl_len = 0;
	if (is_control(f->opcode)) /* 5.5: at most 125 bytes, never fragmented */
		return f->opcode <= WS_OP_PONG && f->fin && f->payload_length <= 125
			       ? 0 : WS_CLOSE_PROTOCOL;
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

/* One chunk of the current frame's payload (n may be 0: an empty frame). */
static int frame_chunk(struct ws_codec *w, const uint8_t *data, size_t n,
		       const struct ws_events *ev, void *arg)
{
	w->frame_left -= n;
	if (is_control(w->op)) {
		if (n) /* data may be NULL for an empty frame */
			memcpy(w->ctl + w->ctl_len, data, n); /* <= 125 in all */
		w->ctl_len = (uint8_t)(w->ctl_len + n);
	} else if (n && !ev->data(arg, data, n)) {
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

/* The header's size once its first two bytes are known. */
static size_t header_size(const uint8_t h[2])
{
	uint8_t len7 = h[1] & 0x7F;

	return 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + (h[1] & 0x80 ? 4 : 0);
}

/* A whole header in w->hdr: parsed into f, or a close status (5.2: the
 * length in its minimal form, the 64-bit one's top bit clear). */
static int parse_header(struct ws_codec *w, struct frame_head *f)
{
	const uint8_t *h = w->hdr;
	uint8_t len7 = h[1] & 0x7F;
	size_t at = 2;

	f->fin = h[0] & 0x80;
	f->rsv = (h[0] >> 4) & 0x7;
	f->opcode = h[0] & 0x0F;
	f->mask = h[1] & 0x80;
	f->payload_length = len7;
	if (len7 == 126) {
		f->payload_length = (uint64_t)h[2] << 8 | h[3];
		if (f->payload_length < 126)
			return WS_CLOSE_PROTOCOL;
		at = 4;
	} else if (len7 == 127) {
		f->payload_length = 0;
		for (int i = 0; i < 8; i++)
			f->payload_length = f->payload_length << 8 | h[2 + i];
		if (f->payload_length >> 63 || f->payload_length <= 0xFFFF)
			return WS_CLOSE_PROTOCOL;
		at = 10;
	}
	w->masked = f->mask;
	w->mask_off = 0;
	if (f->mask)
		memcpy(w->mask, h + at, 4);
	return 0;
}

/* Reads header bytes from *in; returns 1 once a frame's payload begins
 * (its header checked), 0 when more bytes are needed, or a close status. */
static int take_header(struct ws_codec *w, const uint8_t **in, size_t *len)
{
	struct frame_head f;
	size_t need = w->hdr_len < 2 ? 2 : header_size(w->hdr);
	int rc;

	while (w->hdr_len < need && *len) {
		w->hdr[w->hdr_len++] = *(*in)++;
		(*len)--;
		if (w->hdr_len == 2)
			need = header_size(w->hdr);
	}
	if (w->hdr_len < need)
		return 0;
	w->hdr_len = 0;
	if ((rc = parse_header(w, &f)) != 0 || (rc = frame_start(w, &f)) != 0)
		return rc;
	w->in_frame = true;
	return 1;
}

/* Unmasks n bytes of the current frame from src into dst, eight at a time. */
static void unmask(struct ws_codec *w, uint8_t *dst, const uint8_t *src, size_t n)
{
	uint8_t k8[8];
	uint64_t k;
	size_t i = 0;

	for (int j = 0; j < 8; j++)
		k8[j] = w->mask[(w->mask_off + (uint64_t)j) & 3];
	memcpy(&k, k8, 8);
	for (; i + 8 <= n; i += 8) {
		uint64_t v;
		memcpy(&v, src + i, 8);
		v ^= k;
		memcpy(dst + i, &v, 8);
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ k8[i & 7];
	w->mask_off += n;
}

/* Where unmasked payload is put before it is handed out: one per thread
 * (the codec is used from the event loop's), as large as a typical read,
 * so a connection holds no buffer of its own. */
static _Thread_local uint8_t scratch[16384];

/* Hands out up to len bytes of the current frame's payload from *in. */
static int take_payload(struct ws_codec *w, const uint8_t **in, size_t *len,
			const struct ws_events *ev, void *arg)
{
	size_t n = *len < w->frame_left ? *len : (size_t)w->frame_left;
	int rc;

	if (!w->masked || n == 0) {
		rc = frame_chunk(w, *in, n, ev, arg);
		*in += n;
		*len -= n;
		return rc;
	}
	do {
		size_t k = n < sizeof(scratch) ? n : sizeof(scratch);

		unmask(w, scratch, *in, k);
		*in += k;
		*len -= k;
		n -= k;
		if ((rc = frame_chunk(w, scratch, k, ev, arg)) != 0)
			return rc;
	} while (n);
	return 0;
}

int ws_codec_input(struct ws_codec *w, const uint8_t *in, size_t len,
		   const struct ws_events *ev, void *arg)
{
	int rc;

	if (w->done)
		return -1;
	while (len || w->in_frame) {
		if (!w->in_frame) {
			rc = take_header(w, &in, &len);
			if (rc == 0)
				return 0; /* all taken: the rest of a header comes later */
			if (rc != 1)
				return fail(w, rc);
		}
		if (w->frame_left && !len)
			return 0; /* the rest of a frame comes later */
		rc = take_payload(w, &in, &len, ev, arg);
		if (rc != 0)
			return rc > 0 ? fail(w, rc) : -1;
	}
	return 0;
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
