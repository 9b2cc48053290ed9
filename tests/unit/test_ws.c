/*
 * test_ws.c - the WebSocket codec (net/ws.h) against byte strings: masked
 * binary frames to a byte stream (several MQTT packets in one frame, one
 * packet across three, every split point of the input), the rules a server
 * applies (masking, reserved bits and opcodes, text frames, continuation
 * order, control frames' size and fin bit, size limits, close statuses and
 * reasons), ping to pong, and the server's own frames.
 */
#include "helpers.h"

#include "base/sha1.h"
#include "http/websocket.h"
#include "net/ws.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* What the callbacks saw. */
struct seen {
	uint8_t data[4096];
	size_t len;
	uint8_t ping[126];
	size_t ping_len;
	int pings;
	int closes;
	uint16_t close_status;
};

static bool on_data(void *arg, const uint8_t *p, size_t n)
{
	struct seen *s = arg;

	assert_true(s->len + n <= sizeof(s->data));
	memcpy(s->data + s->len, p, n);
	s->len += n;
	return true;
}

static bool on_ping(void *arg, const uint8_t *p, size_t n)
{
	struct seen *s = arg;

	memcpy(s->ping, p, n);
	s->ping_len = n;
	s->pings++;
	return true;
}

static bool on_close(void *arg, uint16_t status)
{
	struct seen *s = arg;

	s->closes++;
	s->close_status = status;
	return false;
}

static const struct ws_events events = { on_data, on_ping, on_close };

static const uint8_t key[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* A client's frame (masked unless told not) into out; returns its size. */
static size_t frame(uint8_t *out, uint8_t first, const void *payload, size_t n, bool masked)
{
	const uint8_t *p = payload;
	size_t h = 0;

	out[h++] = first;
	if (n < 126) {
		out[h++] = (uint8_t)((masked ? 0x80 : 0) | n);
	} else {
		out[h++] = (uint8_t)((masked ? 0x80 : 0) | 126);
		out[h++] = (uint8_t)(n >> 8);
		out[h++] = (uint8_t)n;
	}
	if (masked) {
		memcpy(out + h, key, 4);
		h += 4;
	}
	for (size_t i = 0; i < n; i++)
		out[h + i] = masked ? p[i] ^ key[i % 4] : p[i];
	return h + n;
}

#define FIN 0x80

/* Feeds in (whole) to a new codec; returns what ws_codec_input did. */
static int run(const uint8_t *in, size_t len, uint64_t max, struct seen *s)
{
	struct ws_codec *w = ws_codec_new(max);
	int rc;

	memset(s, 0, sizeof(*s));
	rc = ws_codec_input(w, in, len, &events, s);
	ws_codec_free(w);
	return rc;
}

/* Two MQTT packets (PINGREQ, a small PUBLISH) in one binary frame. */
static const uint8_t two_packets[] = { 0xC0, 0x00, 0x30, 0x05, 0x00, 0x01, 't', 'h', 'i' };

static void test_several_packets_in_one_frame(void **state)
{
	uint8_t buf[64];
	struct seen s;
	size_t n = frame(buf, FIN | WS_OP_BINARY, two_packets, sizeof(two_packets), true);

	(void)state;
	assert_int_equal(run(buf, n, 1024, &s), 0);
	assert_int_equal(s.len, sizeof(two_packets));
	assert_memory_equal(s.data, two_packets, sizeof(two_packets));
}

/* One packet across three frames (binary, continuation, final
 * continuation), the input split at every pair of points. */
static void test_one_packet_across_three_frames_every_split(void **state)
{
	uint8_t buf[64];
	size_t n = 0;
	struct seen s;

	(void)state;
	n += frame(buf + n, WS_OP_BINARY, two_packets, 3, true);
	n += frame(buf + n, WS_OP_CONT, two_packets + 3, 4, true);
	n += frame(buf + n, FIN | WS_OP_CONT, two_packets + 7, 2, true);
	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b++) {
			struct ws_codec *w = ws_codec_new(1024);

			memset(&s, 0, sizeof(s));
			assert_int_equal(ws_codec_input(w, buf, a, &events, &s), 0);
			assert_int_equal(ws_codec_input(w, buf + a, b - a, &events, &s), 0);
			assert_int_equal(ws_codec_input(w, buf + b, n - b, &events, &s), 0);
			assert_int_equal(s.len, sizeof(two_packets));
			assert_memory_equal(s.data, two_packets, sizeof(two_packets));
			ws_codec_free(w);
		}
	}
}

/* A frame over 125 bytes (16-bit length) and a ping between fragments. */
static void test_ping_between_fragments_and_long_frame(void **state)
{
	uint8_t buf[1024], big[300];
	size_t n = 0;
	struct seen s;

	(void)state;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)i;
	n += frame(buf + n, WS_OP_BINARY, big, 200, true);
	n += frame(buf + n, FIN | WS_OP_PING, "hi", 2, true);
	n += frame(buf + n, FIN | WS_OP_CONT, big + 200, 100, true);
	n += frame(buf + n, FIN | WS_OP_PONG, "", 0, true); /* unsolicited: ignored */
	assert_int_equal(run(buf, n, 1024, &s), 0);
	assert_int_equal(s.len, sizeof(big));
	assert_memory_equal(s.data, big, sizeof(big));
	assert_int_equal(s.pings, 1);
	assert_int_equal(s.ping_len, 2);
	assert_memory_equal(s.ping, "hi", 2);
}

static void test_unmasked_frame_is_refused(void **state)
{
	uint8_t buf[64];
	struct seen s;
	size_t n = frame(buf, FIN | WS_OP_BINARY, two_packets, sizeof(two_packets), false);

	(void)state;
	assert_int_equal(run(buf, n, 1024, &s), WS_CLOSE_PROTOCOL);
	assert_int_equal(s.len, 0);
}

static void test_reserved_bits_and_opcodes(void **state)
{
	static const uint8_t firsts[] = { FIN | 0x40 | WS_OP_BINARY, FIN | 0x10 | WS_OP_BINARY,
					  FIN | 0x3, FIN | 0x7, FIN | 0xB, FIN | 0xF };
	uint8_t buf[64];
	struct seen s;

	(void)state;
	for (size_t i = 0; i < sizeof(firsts); i++) {
		size_t n = frame(buf, firsts[i], "x", 1, true);

		assert_int_equal(run(buf, n, 1024, &s), WS_CLOSE_PROTOCOL);
	}
}

static void test_text_frame_is_refused(void **state)
{
	uint8_t buf[64];
	struct seen s;
	size_t n = frame(buf, FIN | WS_OP_TEXT, "hello", 5, true);

	(void)state;
	assert_int_equal(run(buf, n, 1024, &s), WS_CLOSE_UNSUPPORTED);
	assert_int_equal(s.len, 0);
}

static void test_continuation_out_of_order(void **state)
{
	uint8_t buf[64];
	size_t n;
	struct seen s;

	(void)state;
	/* a continuation with no message open */
	n = frame(buf, FIN | WS_OP_CONT, "x", 1, true);
	assert_int_equal(run(buf, n, 1024, &s), WS_CLOSE_PROTOCOL);
	/* a new binary message inside a fragmented one */
	n = frame(buf, WS_OP_BINARY, "x", 1, true);
	n += frame(buf + n, FIN | WS_OP_BINARY, "y", 1, true);
	assert_int_equal(run(buf, n, 1024, &s), WS_CLOSE_PROTOCOL);
}

static void test_control_frame_rules(void **state)
{
	uint8_t buf[256], big[126] = { 0 };
	size_t n;
	struct seen s;

	(void)state;
	n = frame(buf, WS_OP_PING, "x", 1, true); /* fragmented control frame */
	assert_int_equal(run(buf, n, 1024, &s), WS_CLOSE_PROTOCOL);
	n = frame(buf, FIN | WS_OP_PING, big, sizeof(big), true); /* over 125 bytes */
	assert_int_equal(run(buf, n, 1024, &s), WS_CLOSE_PROTOCOL);
	assert_int_equal(s.pings, 0);
}

/* RFC 6455 5.2: a length in its minimal form, the 64-bit one's top bit
 * clear; anything else is a protocol error, nothing handed out. */
static void test_length_in_minimal_form(void **state)
{
	static const uint8_t len16_small[] = { 0x82, 0x80 | 126, 0x00, 0x05, 1, 2, 3, 4,
					       0, 0, 0, 0, 0 };
	static const uint8_t len64_small[] = { 0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF,
					       1, 2, 3, 4 };
	static const uint8_t len64_top[] = { 0x82, 0x80 | 127, 0x80, 0, 0, 0, 0, 1, 0, 0,
					     1, 2, 3, 4 };
	struct seen s;

	(void)state;
	assert_int_equal(run(len16_small, sizeof(len16_small), 1 << 20, &s), WS_CLOSE_PROTOCOL);
	assert_int_equal(s.len, 0);
	assert_int_equal(run(len64_small, sizeof(len64_small), 1 << 20, &s), WS_CLOSE_PROTOCOL);
	assert_int_equal(run(len64_top, sizeof(len64_top), 1 << 20, &s), WS_CLOSE_PROTOCOL);
}

static void test_oversized_frame_and_message(void **state)
{
	uint8_t buf[512], big[200] = { 0 };
	size_t n;
	struct seen s;

	(void)state;
	n = frame(buf, FIN | WS_OP_BINARY, big, 101, true);
	assert_int_equal(run(buf, n, 100, &s), WS_CLOSE_TOO_BIG);
	assert_int_equal(s.len, 0); /* refused on its header: nothing delivered */
	n = frame(buf, FIN | WS_OP_BINARY, big, 100, true); /* at the limit: fine */
	assert_int_equal(run(buf, n, 100, &s), 0);
	/* two fragments of 60: the message is over */
	n = frame(buf, WS_OP_BINARY, big, 60, true);
	n += frame(buf + n, FIN | WS_OP_CONT, big, 60, true);
	assert_int_equal(run(buf, n, 100, &s), WS_CLOSE_TOO_BIG);
	assert_int_equal(s.len, 60);
}

static void test_close_handshake(void **state)
{
	uint8_t buf[256];
	static const uint8_t going_away[] = { 0x03, 0xE9, 'b', 'y', 'e' };
	static const uint8_t bad_utf8[] = { 0x03, 0xE8, 0xC3, 0x28 };
	static const uint8_t bad_status[] = { 0x03, 0xED }; /* 1005: never sent */
	size_t n;
	struct seen s;
	struct ws_codec *w;

	(void)state;
	n = frame(buf, FIN | WS_OP_CLOSE, going_away, sizeof(going_away), true);
	n += frame(buf + n, FIN | WS_OP_BINARY, "x", 1, true); /* after close: ignored */
	assert_int_equal(run(buf, n, 1024, &s), -1);
	assert_int_equal(s.closes, 1);
	assert_int_equal(s.close_status, 1001);
	assert_int_equal(s.len, 0);
	n = frame(buf, FIN | WS_OP_CLOSE, "", 0, true);
	assert_int_equal(run(buf, n, 1024, &s), -1);
	assert_int_equal(s.close_status, WS_CLOSE_NO_STATUS);
	n = frame(buf, FIN | WS_OP_CLOSE, bad_utf8, sizeof(bad_utf8), true);
	assert_int_equal(run(buf, n, 1024, &s), WS_CLOSE_INVALID_DATA);
	assert_int_equal(s.closes, 0);
	n = frame(buf, FIN | WS_OP_CLOSE, bad_status, sizeof(bad_status), true);
	assert_int_equal(run(buf, n, 1024, &s), WS_CLOSE_PROTOCOL);
	n = frame(buf, FIN | WS_OP_CLOSE, "x", 1, true); /* a 1-byte status */
	assert_int_equal(run(buf, n, 1024, &s), WS_CLOSE_PROTOCOL);
	/* after a close, nothing more is decoded */
	w = ws_codec_new(1024);
	n = frame(buf, FIN | WS_OP_CLOSE, going_away, sizeof(going_away), true);
	memset(&s, 0, sizeof(s));
	assert_int_equal(ws_codec_input(w, buf, n, &events, &s), -1);
	n = frame(buf, FIN | WS_OP_BINARY, "x", 1, true);
	assert_int_equal(ws_codec_input(w, buf, n, &events, &s), -1);
	assert_int_equal(s.len, 0);
	ws_codec_free(w);
}

/* The server's frames: unmasked, the shortest length encoding. */
static void test_server_frames(void **state)
{
	struct ws_codec *w = ws_codec_new(1024);
	uint8_t out[WS_CONTROL_MAX];
	static const uint8_t h2[] = { 0x82, 0x05 }, h4[] = { 0x82, 126, 0x01, 0x00 };
	static const uint8_t h10[] = { 0x82, 127, 0, 0, 0, 0, 0, 1, 0, 0 };
	static const uint8_t close[] = { 0x88, 0x02, 0x03, 0xEA };
	static const uint8_t pong[] = { 0x8A, 0x02, 'h', 'i' };

	(void)state;
	assert_int_equal(ws_codec_header(w, WS_OP_BINARY, 5, out), 2);
	assert_memory_equal(out, h2, 2);
	assert_int_equal(ws_codec_header(w, WS_OP_BINARY, 256, out), 4);
	assert_memory_equal(out, h4, 4);
	assert_int_equal(ws_codec_header(w, WS_OP_BINARY, 65536, out), 10);
	assert_memory_equal(out, h10, 10);
	assert_int_equal(ws_codec_close_frame(w, 1002, out), sizeof(close));
	assert_memory_equal(out, close, sizeof(close));
	assert_int_equal(ws_codec_pong_frame(w, (const uint8_t *)"hi", 2, out), sizeof(pong));
	assert_memory_equal(out, pong, sizeof(pong));
	ws_codec_free(w);
}

/* RFC 3174's test vectors (the million 'a's too: several blocks, and the
 * padding in a block of its own for 56..63-byte tails). */
static void test_sha1_vectors(void **state)
{
	static const struct {
		const char *in;
		const char *hex;
	} v[] = {
		{ "abc", "a9993e364706816aba3e25717850c26c9cd0d89d" },
		{ "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
		  "84983e441c3bd26ebaae4aa1f95129e5e54670f1" },
		{ "", "da39a3ee5e6b4b0d3255bfef95601890afd80709" },
	};
	uint8_t h[SHA1_LEN];
	char hex[41];
	char *million = malloc(1000000);

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		sha1(v[i].in, strlen(v[i].in), h);
		for (int j = 0; j < SHA1_LEN; j++)
			snprintf(hex + 2 * j, 3, "%02x", h[j]);
		assert_string_equal(hex, v[i].hex);
	}
	memset(million, 'a', 1000000);
	sha1(million, 1000000, h);
	for (int j = 0; j < SHA1_LEN; j++)
		snprintf(hex + 2 * j, 3, "%02x", h[j]);
	assert_string_equal(hex, "34aa973cd4c4daa4f61eeb2bdbad27316534016f");
	free(million);
}

/* A request with the given headers (name, value pairs; NULL ends). */
static void request(struct http_request *rq, struct http_header *h, const char *method,
		    const char *const *kv)
{
	unsigned n = 0;

	memset(rq, 0, sizeof(*rq));
	for (; kv[2 * n]; n++)
		h[n] = (struct http_header){ kv[2 * n], kv[2 * n + 1] };
	rq->method = method;
	rq->path = "/mqtt";
	rq->headers = h;
	rq->nheaders = n;
}

#define GOOD_KEY "dGhlIHNhbXBsZSBub25jZQ=="

/* RFC 6455 section 1.3's example key and answer; each refusal. */
static void test_handshake(void **state)
{
	struct http_header h[8];
	struct http_request rq;
	struct http_ws_handshake hs;
	const char *ok[] = { "upgrade", "websocket", "connection", "keep-alive, Upgrade",
			     "sec-websocket-version", "13", "sec-websocket-key", GOOD_KEY,
			     "sec-websocket-protocol", "mqttv3.1, mqtt", "origin",
			     "http://a.example", NULL };

	(void)state;
	request(&rq, h, "GET", ok);
	http_ws_handshake(&rq, "", &hs);
	assert_int_equal(hs.status, 101);
	assert_string_equal(hs.accept, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	assert_string_equal(hs.protocol, "mqttv3.1");
	http_ws_handshake(&rq, "http://b.example, http://A.example", &hs);
	assert_int_equal(hs.status, 101);
	http_ws_handshake(&rq, "http://b.example", &hs);
	assert_int_equal(hs.status, 403);
	request(&rq, h, "POST", ok);
	http_ws_handshake(&rq, "", &hs);
	assert_int_equal(hs.status, 400);
	request(&rq, h, "GET", ok);
	h[0].value = "h2c";
	http_ws_handshake(&rq, "", &hs);
	assert_int_equal(hs.status, 400);
	request(&rq, h, "GET", ok);
	h[2].value = "8";
	http_ws_handshake(&rq, "", &hs);
	assert_int_equal(hs.status, 426);
	request(&rq, h, "GET", ok);
	h[3].value = "dGhlIHNhbXBsZSBub25j"; /* 12 bytes */
	http_ws_handshake(&rq, "", &hs);
	assert_int_equal(hs.status, 400);
	request(&rq, h, "GET", ok);
	h[4].value = "chat, mqtt5";
	http_ws_handshake(&rq, "", &hs);
	assert_int_equal(hs.status, 400);
}

/* ---- the client's end ---- */

/* A client's frames (ws_masked_header, ws_mask in place) are what the
 * server's codec takes, at each length form (7-bit, 16-bit, 64-bit). */
static void test_client_frames_masked(void **state)
{
	static const size_t lens[] = { 0, 1, 7, 125, 126, 65535, 65536, 70001 };
	uint8_t *buf = malloc(70001 + WS_MASKED_HEADER_MAX);

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct ws_codec *w = ws_codec_new(1 << 20);
		struct seen s;
		size_t h = ws_masked_header(WS_OP_BINARY, lens[i], key, buf), ok = 0;

		assert_int_equal(h, lens[i] < 126 ? 6 : lens[i] < 65536 ? 8 : 14);
		for (size_t j = 0; j < lens[i]; j++)
			buf[h + j] = (uint8_t)(j * 7);
		ws_mask(buf + h, lens[i], key);
		if (lens[i])
			assert_int_not_equal(buf[h], 0); /* 0 ^ 0x37: masked */
		memset(&s, 0, sizeof(s));
		/* seen keeps 4 KiB: count the long ones without keeping them */
		if (lens[i] <= sizeof(s.data)) {
			assert_int_equal(ws_codec_input(w, buf, h + lens[i], &events, &s), 0);
			assert_int_equal(s.len, lens[i]);
			for (size_t j = 0; j < lens[i]; j++)
				ok += s.data[j] == (uint8_t)(j * 7);
			assert_int_equal(ok, lens[i]);
		}
		ws_codec_free(w);
	}
	free(buf);
}

static bool count_data(void *arg, const uint8_t *p, size_t n)
{
	size_t *total = arg;

	(void)p;
	*total += n;
	return true;
}

/* The long frames' payload arrives whole and unmasked. */
static void test_client_long_frame(void **state)
{
	static const struct ws_events count = { count_data, NULL, NULL };
	size_t n = 70001, total = 0;
	uint8_t *buf = calloc(1, n + WS_MASKED_HEADER_MAX);
	struct ws_codec *w = ws_codec_new(1 << 20);
	size_t h;

	(void)state;
	assert_non_null(buf);
	h = ws_masked_header(WS_OP_BINARY, n, key, buf);
	ws_mask(buf + h, n, key);
	assert_int_equal(ws_codec_input(w, buf, h + n, &count, &total), 0);
	assert_int_equal(total, n);
	ws_codec_free(w);
	free(buf);
}

/* The client's codec: the server's unmasked frames, split at every pair of
 * points; a masked one is refused (RFC 6455 section 5.1). */
static void test_client_codec(void **state)
{
	uint8_t buf[64];
	size_t n = 0;
	struct seen s;

	(void)state;
	n += frame(buf + n, WS_OP_BINARY, two_packets, 3, false);
	n += frame(buf + n, FIN | WS_OP_PING, (const uint8_t *)"p", 1, false);
	n += frame(buf + n, FIN | WS_OP_CONT, two_packets + 3, 6, false);
	for (size_t a = 0; a <= n; a++) {
		for (size_t b = a; b <= n; b++) {
			struct ws_codec *w = ws_codec_new_client(1024);

			memset(&s, 0, sizeof(s));
			assert_int_equal(ws_codec_input(w, buf, a, &events, &s), 0);
			assert_int_equal(ws_codec_input(w, buf + a, b - a, &events, &s), 0);
			assert_int_equal(ws_codec_input(w, buf + b, n - b, &events, &s), 0);
			assert_int_equal(s.len, sizeof(two_packets));
			assert_memory_equal(s.data, two_packets, sizeof(two_packets));
			assert_int_equal(s.pings, 1);
			ws_codec_free(w);
		}
	}
	n = frame(buf, FIN | WS_OP_BINARY, two_packets, sizeof(two_packets), true);
	{
		struct ws_codec *w = ws_codec_new_client(1024);

		memset(&s, 0, sizeof(s));
		assert_int_equal(ws_codec_input(w, buf, n, &events, &s), WS_CLOSE_PROTOCOL);
		assert_int_equal(s.len, 0);
		ws_codec_free(w);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_several_packets_in_one_frame),
		cmocka_unit_test(test_one_packet_across_three_frames_every_split),
		cmocka_unit_test(test_ping_between_fragments_and_long_frame),
		cmocka_unit_test(test_unmasked_frame_is_refused),
		cmocka_unit_test(test_reserved_bits_and_opcodes),
		cmocka_unit_test(test_text_frame_is_refused),
		cmocka_unit_test(test_continuation_out_of_order),
		cmocka_unit_test(test_control_frame_rules),
		cmocka_unit_test(test_length_in_minimal_form),
		cmocka_unit_test(test_oversized_frame_and_message),
		cmocka_unit_test(test_close_handshake),
		cmocka_unit_test(test_server_frames),
		cmocka_unit_test(test_sha1_vectors),
		cmocka_unit_test(test_handshake),
		cmocka_unit_test(test_client_frames_masked),
		cmocka_unit_test(test_client_long_frame),
		cmocka_unit_test(test_client_codec),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
