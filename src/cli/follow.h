/*
 * follow.h - the live part of `agora inbox --follow` (follow.c): one MQTT
 * connection, on the client layer `agora pub` and `sub` use
 * (src/client/client.h), logged in with the account's name and its API
 * token (docs/api.md, "Logging in"), subscribed at QoS 1 to the account's
 * inbox topic. Only once the subscription holds is the inbox listed
 * (through REST, by the caller): a message sent meanwhile arrives over
 * MQTT and is not lost; one both listed and received is printed once.
 *
 * It ends on SIGINT or SIGTERM (DISCONNECT, EXIT_OK), when the connection
 * fails or is lost (EXIT_NET), when the server refuses the login or the
 * subscription (EXIT_REFUSED), or when a callback fails (its status).
 * Every error is one line on stderr, "agora inbox: ...".
 *
 * Ownership: what follow_opts points to stays the caller's and must live
 * until follow_run returns.
 */
#ifndef AGORA_CLI_FOLLOW_H
#define AGORA_CLI_FOLLOW_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct follow_opts {
	const char *cmd;   /* the command's name, for error lines */
	const char *host;  /* the MQTT server: a name or an address */
	uint16_t port;
	const char *name;  /* the account: MQTT user name, and agora/users/{name}/inbox */
	const char *token; /* its API token: the MQTT password */
	bool json;         /* print as --json does */
	/* Once subscribed: lists and prints the stored messages. Returns
	 * EXIT_OK with *listed an array of the messages printed (a reference
	 * handed over: their ids are not printed again), or the exit status
	 * with the error said. */
	int (*list)(void *ctx, json_t **listed);
	/* A live message was printed (--mark-read marks it read); EXIT_OK or
	 * the exit status with the error said. May be NULL. */
	int (*printed)(void *ctx, const json_t *m);
	void *ctx;
};

/* Connects, subscribes, lists and prints until the end; returns the exit
 * status (commands.h). */
int follow_run(const struct follow_opts *o);

#endif
