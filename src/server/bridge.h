/*
 * bridge.h - one data model over HTTP and MQTT: what the REST API changes is
 * published to the broker (statuses retained, messages to inboxes), and
 * /metrics gets the broker's and the HTTP server's counters.
 */
#ifndef AGORA_BRIDGE_H
#define AGORA_BRIDGE_H

#include <stddef.h>

struct api;
struct broker;
struct http_server;

struct bridge {
	struct broker *broker;
	struct http_server *http; /* may be NULL */
	struct api *api;
};

/* Wires the API's callbacks and the broker's account hooks to b (which
 * must outlive both): MQTT logins use the API's accounts, and the access
 * rules of docs/api.md ("Over MQTT") apply to agora/users/#. */
void bridge_attach(struct bridge *b, struct api *api);

#endif
