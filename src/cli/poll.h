/*
 * poll.h - inside src/cli: what poll.c (the poll commands on the REST API)
 * hands to poll_follow.c (`agora poll show ID --follow`, live over MQTT).
 */
#ifndef AGORA_CLI_POLL_H
#define AGORA_CLI_POLL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

struct poll_follow_args {
	const char *cmd;  /* "poll show", for error lines */
	int64_t id;
	bool json;        /* one JSON object per update instead of bars */
	const char *host; /* the broker */
	uint16_t port;
};

/*
 * Shows `first` (the poll as GET /api/polls/{id} gave it; taken over, freed
 * here), then each new state of the poll from its retained MQTT topic
 * agora/polls/{id}/results: redrawn in place on a terminal, one block (or
 * JSON line) per change otherwise, until SIGINT or SIGTERM. Returns the exit
 * status: EXIT_OK when interrupted, EXIT_NET when the broker cannot be
 * reached or the connection ends, EXIT_REFUSED when it refuses the
 * connection or the subscription, EXIT_LOCAL when stdout fails.
 */
int poll_follow(const struct poll_follow_args *a, json_t *first);

/* The terminal's width when stdout is one, else 0. */
int poll_stdout_columns(void);

#endif
