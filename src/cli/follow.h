/*
 * follow.h - the live part of the API's commands (follow.c): one MQTT
 * connection on the client layer `agora pub` and `sub` use
 * (src/client/client.h), subscribed at QoS 1 to one topic, handing each
 * message to the command until it ends. `agora inbox --follow` follows the
 * account's inbox (account.c), `agora poll show --follow` a poll's
 * retained results (poll_follow.c).
 *
 * The connection logs in with the account's name and API token (docs/api.md,
 * "Logging in"), or is anonymous when no account is given. Only once the
 * subscription holds is `subscribed` called: what the command lists there
 * through REST cannot miss a change made meanwhile, which arrives over MQTT.
 *
 * It ends on SIGINT or SIGTERM (DISCONNECT, EXIT_OK), when the connection
 * fails or is lost (EXIT_NET), when the server refuses the login or the
 * subscription (EXIT_REFUSED), or when a callback says so. Every error is
 * one line on stderr, "agora CMD: ...".
 *
 * Callbacks return FOLLOW_GO_ON to go on, FOLLOW_DONE to end with EXIT_OK
 * (their reader is gone: `| head`), or an exit status (commands.h) to end
 * with, the error said by them.
 *
 * Ownership: what follow_opts points to stays the caller's and must live
 * until follow_run returns. A payload is valid during its callback only.
 */
#ifndef AGORA_CLI_FOLLOW_H
#define AGORA_CLI_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum { FOLLOW_GO_ON = 0, FOLLOW_DONE = -1 };

/* MQTT over TLS (the API's commands on an https server): the server's
 * certificate checked against cafile (NULL: the system's CAs) for the
 * host's name, unless insecure. */
struct follow_tls {
	bool on;
	const char *cafile;
	bool insecure;
};

struct follow_opts {
	const char *cmd;   /* the command's name, for error lines */
	const char *host;  /* the MQTT server: a name or an address */
	uint16_t port;
	struct follow_tls tls;
	const char *name;  /* the account (MQTT user name), or NULL: anonymous */
	const char *token; /* its API token: the MQTT password */
	const char *topic; /* subscribed to at QoS 1 */
	/* The subscription holds. May be NULL. */
	int (*subscribed)(void *ctx);
	/* A message on the topic (after `subscribed`). */
	int (*message)(void *ctx, const char *payload, size_t len);
	/* The terminal was resized (SIGWINCH; after `subscribed` only). May be
	 * NULL: not watched. */
	int (*resized)(void *ctx);
	void *ctx;
};

/* Connects, subscribes and hands over messages until the end; returns the
 * exit status (commands.h). */
int follow_run(const struct follow_opts *o);

#endif
