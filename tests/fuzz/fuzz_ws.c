/*
 * fuzz_ws.c - libFuzzer target for the WebSocket codec (net/ws.h), which
 * sees every byte a WebSocket client sends once its upgrade succeeded.
 *
 * The first byte chooses the message limit (small ones reach 1009) and the
 * size of the pieces the rest arrives in, so frames are cut everywhere.
 * Checked: no read outside the input and no leak (ASan); the payload
 * handed out never exceeds the input; a ping is at most 125 bytes; a
 * status returned is one of the codec's; once the codec stopped (a close
 * frame, an error) every later call returns -1 and hands out nothing; the
 * frames the server builds (header, close, pong) have the sizes RFC 6455
 * gives them.
 */
#include "net/ws.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct seen {
	size_t data, events;
	bool closed;
};

static bool on_data(void *arg, const uint8_t *p, size_t n)
{
	struct seen *s = arg;

	if (n && !p)
		abort();
	s->data += n;
	s->events++;
	return true;
}

static bool on_ping(void *arg, const uint8_t *p, size_t n)
{
	struct seen *s = arg;

	if (n > 125 || (n && !p))
		abort();
	s->events++;
	return true;
}

static bool on_close(void *arg, uint16_t status)
{
	struct seen *s = arg;

	(void)status;
	s->closed = true;
	s->events++;
	return true;
}

static const struct ws_events events = { on_data, on_ping, on_close };

static bool known_status(int rc)
{
	return rc == WS_CLOSE_PROTOCOL || rc == WS_CLOSE_UNSUPPORTED ||
	       rc == WS_CLOSE_INVALID_DATA || rc == WS_CLOSE_TOO_BIG || rc == WS_CLOSE_INTERNAL;
}

/* The frames the server sends: sizes as RFC 6455 section 5.2 says. */
static void check_server_frames(struct ws_codec *w, const uint8_t *data, size_t size)
{
	uint8_t hdr[WS_HEADER_MAX], out[WS_CONTROL_MAX];
	uint64_t len = size * 977u;
	size_t n = ws_codec_header(w, WS_OP_BINARY, len, hdr);
	size_t want = len < 126 ? 2 : len < 65536 ? 4 : 10;
	size_t ping = size < 125 ? size : 125;

	if (n != want || hdr[0] != (0x80 | WS_OP_BINARY) || (hdr[1] & 0x80))
		abort();
	if (ws_codec_pong_frame(w, data, ping, out) != 2 + ping || memcmp(out + 2, data, ping))
		abort();
	n = ws_codec_close_frame(w, WS_CLOSE_NORMAL, out);
	if (n != 4 || out[0] != (0x80 | WS_OP_CLOSE) || out[2] != 0x03 || out[3] != 0xE8)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct seen s = { 0 };
	struct ws_codec *w;
	size_t piece, total;
	int rc = 0;

	if (size < 1)
		return 0;
	w = ws_codec_new((uint64_t)(data[0] & 0x0f) * 37 + 1);
	if (!w)
		return 0;
	piece = (size_t)(data[0] >> 4) * 3 + 1;
	data++;
	size--;
	total = size;
	check_server_frames(w, data, size);
	while (size) {
		size_t n = size < piece ? size : piece;
		size_t before = s.events;

		rc = ws_codec_input(w, data, n, &events, &s);
		if (rc == -1 && s.events != before && !s.closed)
			abort(); /* a stop that no callback asked for handed something out */
		if (rc > 0 && !known_status(rc))
			abort();
		data += n;
		size -= n;
		if (rc != 0)
			break;
	}
	if (rc != 0 || s.closed) {
		/* stopped for good: nothing more decoded */
		size_t before = s.events;
		uint8_t more[2] = { 0x82, 0x80 };

		if (ws_codec_input(w, more, sizeof(more), &events, &s) != -1 || s.events != before)
			abort();
	}
	if (s.data > total)
		abort();
	ws_codec_free(w);
	return 0;
}
