/*
 * internal.h - what the files of src/client/ share: output reservation
 * (inline: it is on the bench's per-message path), failing a connection,
 * and the packet handlers' entry point.
 */
#ifndef AGORA_CLIENT_INTERNAL_H
#define AGORA_CLIENT_INTERNAL_H

#include "client.h"

#include "base/array.h"

/* States of an outgoing packet id (one byte each in c->inflight). */
enum client_slot {
	SLOT_FREE = 0, /* acknowledged: a hole until the head passes it */
	SLOT_PUBACK,   /* QoS 1 PUBLISH sent */
	SLOT_PUBREC,   /* QoS 2 PUBLISH sent */
	SLOT_PUBCOMP,  /* PUBREL sent */
	SLOT_SUBACK,
	SLOT_UNSUBACK,
};

/* The most packet ids in flight at once: every non-zero 16-bit id. */
#define CLIENT_IDS 65535u

void client__mark_dirty(struct client_conn *c);

/* Room for len more bytes of output; the caller writes them and adds len
 * to c->wlen. The connection is marked for this turn's write. */
static inline uint8_t *client__reserve(struct client_conn *c, size_t len)
{
	ARRAY_GROW(c->wbuf, c->wcap, (size_t)c->wlen + len, 4096, ARRAY_MAX);
	if (!c->dirty)
		client__mark_dirty(c);
	return c->wbuf + c->wlen;
}

/* Ends the connection with err (the first error given is the one kept). */
void client__fail(struct client_conn *c, int err);
/* Keeps c on the loop's timed list while it needs the tick. */
void client__update_timed(struct client_conn *c);
uint64_t client__now(const struct client_conn *c);

/* flow.c: bytes from the server, every complete packet handled, the rest
 * kept (on_read's work; apart, the fuzz target calls it). */
void client__input(struct client_conn *c, const uint8_t *data, size_t len);
/* Frees what the connection holds (its end, before `closed`). */
void client__release(struct client_conn *c);

/* conn.c -> flow.c: the CONNECT once TCP is up. */
void client__send_connect(struct client_conn *c);
/* flow.c: PINGREQ (from the tick), DISCONNECT. */
void client__send_simple(struct client_conn *c, uint8_t type);
void client__send_disconnect(struct client_conn *c, uint8_t reason, const struct mqtt_props *props);

/* ws.c: MQTT over WebSocket (opts.ws_path). */
struct client_ws;
/* The framing's state for a connection about to start; host and port
 * make the request's Host header. */
void client__ws_new(struct client_conn *c, const char *host, uint16_t port);
/* TCP is up: the upgrade request is queued (raw); CONNECT waits for the 101. */
void client__ws_connected(struct client_conn *c);
/* Before a write: -1 to hold the output (the 101 has not come), 0 to
 * write it as it is (the request), 1 with *hdr set: the output (masked
 * in place) is one frame behind that header, valid until the next call. */
int client__ws_frame(struct client_conn *c, uv_buf_t *hdr);
/* Bytes read: the 101, then frames; their payload goes to client__input. */
void client__ws_input(struct client_conn *c, const uint8_t *data, size_t len);
void client__ws_free(struct client_ws *w);

/* tls.c: MQTT over TLS (opts.tls). */
/* TCP is up: the engine starts (its ClientHello goes with the first flush). */
void client__tls_connected(struct client_conn *c);
/* Bytes read: ciphertext; the plaintext goes to client__input. */
void client__tls_input(struct client_conn *c, const uint8_t *data, size_t len);
/* The output (wbuf) encrypted and the ciphertext written: flush's TLS
 * path (one uv_write at a time, from fbuf, as over TCP). */
void client__tls_flush(struct client_conn *c);
/* Ciphertext the engine still has for the socket. */
bool client__tls_pending(const struct client_conn *c);
/* conn.c: for tls.c. */
void client__wrote_all(struct client_conn *c);
void client__write_fbuf(struct client_conn *c, const uint8_t *data, size_t len);

#endif
