/*
 * reason.c - words for the client layer's errors and for the reason codes
 * a server sends (MQTT 5.0 section 2.4, and the 3.1.1 CONNACK return
 * codes), so a refusal reaches the user as words, not a number.
 */
#include "client.h"

#include <stddef.h>

const char *client_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case CLIENT_EREFUSED: return "connection refused by the server";
	case CLIENT_EPROTO: return "protocol error: the server sent a malformed or unexpected packet";
	case CLIENT_ETIMEOUT: return "timed out";
	case CLIENT_ECLOSED: return "the server closed the connection";
	case CLIENT_EDISCONNECTED: return "the server disconnected";
	case CLIENT_EFULL: return "too many messages in flight";
	case CLIENT_ETOOBIG: return "packet larger than the server accepts";
	case CLIENT_ESTATE: return "not connected";
	case CLIENT_ESTALLED: return "the server stopped reading";
	case CLIENT_EINVAL: return "invalid packet field";
	case CLIENT_EUPGRADE:
		return "the server did not upgrade to WebSocket (wrong port or path, or refused)";
	case CLIENT_EHANDSHAKE:
		return "the server's WebSocket upgrade answer is invalid";
	case CLIENT_ETLS: return "TLS failed";
	default: return uv_strerror(err);
	}
}

/* The 3.1.1 (and 3.1) CONNACK return codes. */
static const char *const connack_v3[] = {
	"Connection Accepted",
	"Unacceptable protocol version",
	"Identifier rejected",
	"Server unavailable",
	"Bad user name or password",
	"Not authorized",
};

struct reason {
	uint8_t code;
	const char *name;
};

/* MQTT 5.0 section 2.4, table 2-6. */
static const struct reason reasons[] = {
	{ 0x00, "Success" },
	{ 0x01, "Granted QoS 1" },
	{ 0x02, "Granted QoS 2" },
	{ 0x04, "Disconnect with Will Message" },
	{ 0x10, "No matching subscribers" },
	{ 0x11, "No subscription existed" },
	{ 0x18, "Continue authentication" },
	{ 0x19, "Re-authenticate" },
	{ 0x80, "Unspecified error" },
	{ 0x81, "Malformed Packet" },
	{ 0x82, "Protocol Error" },
	{ 0x83, "Implementation specific error" },
	{ 0x84, "Unsupported Protocol Version" },
	{ 0x85, "Client Identifier not valid" },
	{ 0x86, "Bad User Name or Password" },
	{ 0x87, "Not authorized" },
	{ 0x88, "Server unavailable" },
	{ 0x89, "Server busy" },
	{ 0x8A, "Banned" },
	{ 0x8B, "Server shutting down" },
	{ 0x8C, "Bad authentication method" },
	{ 0x8D, "Keep Alive timeout" },
	{ 0x8E, "Session taken over" },
	{ 0x8F, "Topic Filter invalid" },
	{ 0x90, "Topic Name invalid" },
	{ 0x91, "Packet Identifier in use" },
	{ 0x92, "Packet Identifier not found" },
	{ 0x93, "Receive Maximum exceeded" },
	{ 0x94, "Topic Alias invalid" },
	{ 0x95, "Packet too large" },
	{ 0x96, "Message rate too high" },
	{ 0x97, "Quota exceeded" },
	{ 0x98, "Administrative action" },
	{ 0x99, "Payload format invalid" },
	{ 0x9A, "Retain not supported" },
	{ 0x9B, "QoS not supported" },
	{ 0x9C, "Use another server" },
	{ 0x9D, "Server moved" },
	{ 0x9E, "Shared Subscriptions not supported" },
	{ 0x9F, "Connection rate exceeded" },
	{ 0xA0, "Maximum connect time" },
	{ 0xA1, "Subscription Identifiers not supported" },
	{ 0xA2, "Wildcard Subscriptions not supported" },
};

const char *client_reason_name(uint8_t code, int type, uint8_t level)
{
	if (level < MQTT_LEVEL_5) {
		if (type == MQTT_CONNACK)
			return code < sizeof(connack_v3) / sizeof(connack_v3[0]) ? connack_v3[code]
										 : "Unknown return code";
		if (type == MQTT_SUBACK)
			return code == MQTT_SUBACK_FAILURE ? "Failure" : "Success";
	}
	/* 0x00 reads differently in a few packets */
	if (code == 0x00 && type == MQTT_DISCONNECT)
		return "Normal disconnection";
	if (code == 0x00 && type == MQTT_SUBACK)
		return "Granted QoS 0";
	for (size_t i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
		if (reasons[i].code == code)
			return reasons[i].name;
	return "Unknown reason code";
}
