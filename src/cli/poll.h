/*
 * poll.h - inside src/cli: what poll.c (the poll commands on the REST API)
 * hands to poll_follow.c (`agora poll show ID --follow`, live over MQTT).
 */
#ifndef AGORA_CLI_POLL_H
#define AGORA_CLI_POLL_H

#include "follow.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct poll_follow_args {
	const char *cmd;   /* "poll show", for error lines */
	int64_t id;
	bool json;         /* one JSON object per change instead of bars */
	const char *host;  /* the MQTT server */
	uint16_t port;
	struct follow_tls tls;
	const char *name;  /* the account kept for the API's server, or NULL: anonymous */
	const char *token;
};

/*
 * Once subscribed to the poll's retained topic agora/polls/{id}/results
 * (follow.h), shows `first` (the poll as GET /api/polls/{id} gave it;
 * taken over, freed here), then each new state of the poll that arrives:
 * redrawn in place on a terminal, one block (or JSON line) per change
 * otherwise, until SIGINT or SIGTERM. Returns the exit status of
 * follow_run; EXIT_LOCAL when stdout fails.
 */
int poll_follow(const struct poll_follow_args *a, json_t *first);

/* The terminal's width when stdout is one, else 0. */
int poll_stdout_columns(void);

#endif
