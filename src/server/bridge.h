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
struct rules_service;

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
	/* Told of the API's events ($events/message, $events/status) when set
	 * (rules_service.h); NULL: no rules. */
	struct rules_service *rules;
	/* The depth of the rule chain the write under way belongs to: 0, but
	 * while bridge_rule_message runs, its action's (what it publishes and
	 * the event it causes carry it: docs/rules.md, "Loops"). */
	unsigned depth;
};

/* Wires the API's callbacks and the broker's account hooks to b (which
 * must outlive both): MQTT logins use the API's accounts, and the rule of
 * access.h (docs/api.md, "Who sees what") applies to agora/users/# and
 * agora/polls/#. */
void bridge_attach(struct bridge *b, struct api *api);

/* A rule's message action (rules_service.h's send_message): a direct
 * message from the account `from` to the user called `to`, with the
 * checks of POST /api/messages (content 1 to message_max bytes of UTF-8
 * text, both accounts existing), stored, published to to's inbox topic
 * and told to the rules as $events/message, at depth. 0, or -1 with why. */
int bridge_rule_message(struct bridge *b, const char *from, const char *to, const char *content,
			unsigned depth, char *why, size_t why_cap);

#endif
