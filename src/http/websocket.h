/*
 * websocket.h - the server side of the WebSocket opening handshake
 * (RFC 6455 section 4.2) for MQTT over WebSocket (MQTT 5.0 section 6):
 * whether a request may be upgraded, and the headers of the 101 answer.
 * Pure: no I/O, nothing allocated.
 */
#ifndef AGORA_HTTP_WEBSOCKET_H
#define AGORA_HTTP_WEBSOCKET_H

#include "http.h"

struct http_ws_handshake {
	int status;            /* 101, or the refusal: 400, 403, 426 */
	const char *why;       /* a refusal's reason, for the error body and the log */
	const char *protocol;  /* the subprotocol chosen: "mqtt" or "mqttv3.1" */
	char accept[29];       /* Sec-WebSocket-Accept, NUL-terminated */
};

/* Checks rq (a GET with Upgrade: websocket, Connection: Upgrade, version
 * 13, a 16-byte key, the subprotocol mqtt or mqttv3.1, an Origin in
 * origins) and fills hs. origins: comma-separated, "" = any origin (a
 * request without Origin, from a program rather than a browser, is always
 * accepted). */
void http_ws_handshake(const struct http_request *rq, const char *origins,
		       struct http_ws_handshake *hs);

/* Sec-WebSocket-Accept for a Sec-WebSocket-Key of 24 characters (the
 * server answers it, the client checks it): base64 of SHA-1 of the key and
 * RFC 6455's GUID, NUL-terminated. */
void http_ws_accept(const char *key, char out[29]);

/* Whether the comma-separated list has item (case-insensitive; spaces
 * around items ignored). */
bool http_list_has(const char *list, const char *item, size_t len);

#endif
