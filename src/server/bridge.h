/*
 * bridge.h - one data model over HTTP and MQTT: what the REST API changes is
 * published to the broker (statuses retained, messages to inboxes), and
 * /metrics gets the broker's and the HTTP server's counters.
 */
#ifndef AGORA_BRIDGE_H
#define AGORA_BRIDGE_H

#include <stddef.h>
#include <uv.h>

struct api;
struct broker;
struct bridge_polls;
struct broker_client;
struct http_server;
struct net_service;

#define BRIDGE_MAX_SERVICES 4

struct bridge {
	struct broker *broker;
	struct http_server *http; /* may be NULL */
	/* The services whose connection counters /metrics shows (NULL: none). */
	const struct net_service *services[BRIDGE_MAX_SERVICES];
	struct api *api;
	uv_loop_t *loop;          /* its thread pool checks MQTT passwords */
	struct net *net;          /* its WebSocket counters (may be NULL) */
	/* Called after broker_login_done, to feed the client's held input. */
	void (*resume)(void *ctx, struct broker_client *c);
	void *resume_ctx;
	/* Takes the votes published over MQTT (NULL: they are refused). */
	struct bridge_polls *polls;
};

/* Wires the API's callbacks and the broker's account hooks to b (which
 * must outlive both): MQTT logins use the API's accounts, and the rule of
 * access.h (docs/api.md, "Who sees what") applies to agora/users/# and
 * agora/polls/#. */
void bridge_attach(struct bridge *b, struct api *api);

#endif
