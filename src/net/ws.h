/*
 * ws.h - WebSocket (RFC 6455) framing for the connection layer: a codec
 * that turns a client's frames into the payload bytes of its binary
 * messages, and the transport (ws.c) that stacks it on TCP after an HTTP
 * upgrade.
 *
 * The codec hands payload out as it arrives, in chunks: MQTT wants a byte
 * stream (a packet may span frames, a frame may hold several packets) and
 * the layer wants to write the protocol's segments as they are, so
 * wslay's event API (whole messages reassembled in its buffers, copies of
 * what is sent) does not fit. Input is parsed by the codec itself: wslay's
 * frame_recv copied every byte into a 4 KiB buffer per connection and
 * unmasked it a byte at a time, a fifth of the broker's CPU with WebSocket
 * publishers; here a masked payload is unmasked eight bytes at a time from
 * the input into a per-thread scratch buffer. Server frame headers are
 * written with wslay's frame_send. Plain TCP connections pay nothing.
 *
 * Ownership: the codec is the caller's (ws_codec_new/ws_codec_free).
 */
#ifndef AGORA_NET_WS_H
#define AGORA_NET_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Close status codes (RFC 6455 section 7.4.1) the codec answers with. */
enum {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_PROTOCOL = 1002,     /* unmasked, reserved bits or opcodes, bad order */
	WS_CLOSE_UNSUPPORTED = 1003,  /* a text frame: MQTT is binary */
	WS_CLOSE_NO_STATUS = 1005,    /* never sent: a close without a code */
	WS_CLOSE_INVALID_DATA = 1007,  /* a close reason that is not UTF-8 */
	WS_CLOSE_TOO_BIG = 1009,      /* a frame or message over the limit */
	WS_CLOSE_INTERNAL = 1011,
};

/* What a client's frames carry, in order. Each callback returns false to
 * stop decoding (the connection closed meanwhile). */
struct ws_events {
	/* Payload bytes of binary messages (continuations included). */
	bool (*data)(void *arg, const uint8_t *p, size_t n);
	/* A whole ping's payload (at most 125 bytes): answer with a pong. */
	bool (*ping)(void *arg, const uint8_t *p, size_t n);
	/* A close frame: its status (WS_CLOSE_NO_STATUS when it had none). */
	bool (*close)(void *arg, uint16_t status);
};

struct ws_codec;

/* max_message: bytes of a frame or a fragmented message, beyond which the
 * connection closes with 1009. NULL if out of memory. ws_codec_new decodes
 * a client's frames (the server's end: they must be masked);
 * ws_codec_new_client a server's (the client's end: they must not be). */
struct ws_codec *ws_codec_new(uint64_t max_message);
struct ws_codec *ws_codec_new_client(uint64_t max_message);
void ws_codec_free(struct ws_codec *w);

/* Decodes in[0..len), all of it (a partial frame is kept in the codec).
 * Returns 0 (go on), -1 (a callback stopped it) or a close status the
 * connection must end with (1002, 1003, 1007, 1009); after a close frame or
 * an error, nothing more is decoded (every later call returns -1). */
int ws_codec_input(struct ws_codec *w, const uint8_t *in, size_t len,
		   const struct ws_events *ev, void *arg);

/* The header of an unmasked final frame of opcode op and len payload bytes
 * (a server's frame), into hdr; returns its size (2, 4 or 10). */
#define WS_HEADER_MAX 10
size_t ws_codec_header(struct ws_codec *w, uint8_t op, uint64_t len, uint8_t hdr[WS_HEADER_MAX]);
/* A whole control frame (close with status, pong with payload): into out,
 * at least WS_HEADER_MAX + 125 bytes; returns its size. */
#define WS_CONTROL_MAX (WS_HEADER_MAX + 125)
size_t ws_codec_close_frame(struct ws_codec *w, uint16_t status, uint8_t *out);
size_t ws_codec_pong_frame(struct ws_codec *w, const uint8_t *p, size_t n, uint8_t *out);

/* A client's frames, without wslay (its frame API masks into a buffer of
 * its own; the client masks its output where it lies): the header of a
 * final frame of opcode op, len payload bytes and mask key, into hdr;
 * returns its size (6, 8 or 14). Then ws_mask the payload in place. */
#define WS_MASKED_HEADER_MAX 14
size_t ws_masked_header(uint8_t op, uint64_t len, const uint8_t key[4],
			uint8_t hdr[WS_MASKED_HEADER_MAX]);
/* XORs p[0..n) with the key (RFC 6455 section 5.3): masks and unmasks. */
void ws_mask(uint8_t *p, size_t n, const uint8_t key[4]);

/* Opcodes (RFC 6455 section 5.2). */
enum {
	WS_OP_CONT = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

#endif
