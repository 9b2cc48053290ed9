/*
 * websocket.c - the WebSocket opening handshake (websocket.h).
 */
#include "websocket.h"

#include "base/sha1.h"

#include <sodium.h>
#include <string.h>
#include <strings.h>

/* RFC 6455 section 1.3: appended to the key before hashing. */
static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

bool http_list_has(const char *list, const char *item, size_t len)
{
	while (list && *list) {
		const char *end = strchr(list, ',');
		size_t n = end ? (size_t)(end - list) : strlen(list);

		while (n && (*list == ' ' || *list == '\t')) {
			list++;
			n--;
		}
		while (n && (list[n - 1] == ' ' || list[n - 1] == '\t'))
			n--;
		if (n == len && strncasecmp(list, item, len) == 0)
			return true;
		list = end ? end + 1 : NULL;
	}
	return false;
}

static bool header_has(const struct http_request *rq, const char *name, const char *token)
{
	return http_list_has(http_header_get(rq, name), token, strlen(token));
}

/* The first subprotocol of the client's list we speak, in its order. */
static const char *choose_protocol(const char *offered)
{
	while (offered && *offered) {
		const char *end = strchr(offered, ',');
		size_t n = end ? (size_t)(end - offered) : strlen(offered);

		while (n && *offered == ' ') {
			offered++;
			n--;
		}
		while (n && offered[n - 1] == ' ')
			n--;
		if (n == 4 && strncmp(offered, "mqtt", 4) == 0)
			return "mqtt";
		if (n == 8 && strncmp(offered, "mqttv3.1", 8) == 0)
			return "mqttv3.1";
		offered = end ? end + 1 : NULL;
	}
	return NULL;
}

/* A key is 16 random bytes in base64 (24 characters). */
static bool key_ok(const char *key)
{
	unsigned char raw[18];
	size_t n = 0;

	return key && strlen(key) == 24 &&
	       sodium_base642bin(raw, sizeof(raw), key, 24, NULL, &n, NULL,
				 sodium_base64_VARIANT_ORIGINAL) == 0 &&
	       n == 16;
}

void http_ws_accept(const char *key, char out[29])
{
	char buf[24 + sizeof(ws_guid)];
	uint8_t h[SHA1_LEN];

	memcpy(buf, key, 24);
	memcpy(buf + 24, ws_guid, sizeof(ws_guid) - 1);
	sha1(buf, 24 + sizeof(ws_guid) - 1, h);
	sodium_bin2base64(out, 29, h, sizeof(h), sodium_base64_VARIANT_ORIGINAL);
}

static void refuse(struct http_ws_handshake *hs, int status, const char *why)
{
	hs->status = status;
	hs->why = why;
}

void http_ws_handshake(const struct http_request *rq, const char *origins,
		       struct http_ws_handshake *hs)
{
	const char *key = http_header_get(rq, "sec-websocket-key");
	const char *version = http_header_get(rq, "sec-websocket-version");
	const char *origin = http_header_get(rq, "origin");

	memset(hs, 0, sizeof(*hs));
	if (strcmp(rq->method, "GET") != 0)
		return refuse(hs, 400, "a WebSocket upgrade is a GET");
	if (!header_has(rq, "upgrade", "websocket") || !header_has(rq, "connection", "upgrade"))
		return refuse(hs, 400, "expected Upgrade: websocket and Connection: Upgrade");
	if (!version || strcmp(version, "13") != 0)
		return refuse(hs, 426, "Sec-WebSocket-Version must be 13");
	if (!key_ok(key))
		return refuse(hs, 400, "Sec-WebSocket-Key must be 16 bytes in base64");
	if (origin && *origins && !http_list_has(origins, origin, strlen(origin)))
		return refuse(hs, 403, "this Origin is not in websocket_origins");
	hs->protocol = choose_protocol(http_header_get(rq, "sec-websocket-protocol"));
	if (!hs->protocol) /* MQTT 5.0 section 6.0: the server MUST select mqtt */
		return refuse(hs, 400, "Sec-WebSocket-Protocol must offer mqtt");
	http_ws_accept(key, hs->accept);
	hs->status = 101;
}
