/*
 * auth.h - MQTT 5 enhanced authentication: the mechanism interface
 * [MQTT 5.0, 4.12].
 *
 * A mechanism is a named challenge/response exchange. The broker starts it
 * when a CONNECT names it (Authentication Method), feeds it the client's
 * Authentication Data from CONNECT and from each AUTH packet, and sends
 * back what it answers: AUTH 0x18 (continue) with the mechanism's data
 * until it succeeds (CONNACK 0x00, or AUTH 0x00 for a re-authentication)
 * or fails (CONNACK 0x87 / DISCONNECT 0x87). The core knows nothing of any
 * mechanism's content: src/server/scram.c registers SCRAM-SHA-256 against the
 * user accounts, and the tests register a mechanism of their own.
 *
 * Ownership: the mechanism table is the caller's and must outlive the
 * broker; per-connection state is created by start and freed by end.
 */
#ifndef AGORA_AUTH_H
#define AGORA_AUTH_H

#include <stddef.h>
#include <stdint.h>

struct broker;

enum auth_result {
	AUTH_CONTINUE, /* send *out to the client in AUTH 0x18 and wait */
	AUTH_SUCCESS,  /* authenticated; *out (may be empty) goes with the answer */
	AUTH_FAIL,     /* refuse: CONNACK or DISCONNECT 0x87 */
};

#define AUTH_DATA_MAX 1024

struct auth_mechanism {
	const char *name; /* the Authentication Method, e.g. "SCRAM-SHA-256" */
	/* New per-connection state (may return NULL if none is needed). */
	void *(*start)(const struct auth_mechanism *m, const uint8_t *client_id, size_t id_len);
	/* One step: the client's data in; the answer out (at most
	 * AUTH_DATA_MAX bytes, length in *out_len). */
	enum auth_result (*step)(void *state, const uint8_t *in, size_t in_len, uint8_t *out,
				 size_t *out_len);
	void (*end)(void *state);
	/* Optional: after AUTH_SUCCESS at connect, the account the client
	 * proved to be (NULL: it stays anonymous); it then acts as that
	 * account (access rules, logs). */
	const char *(*identity)(void *state);
};

/* Makes a mechanism available (at most 8). Returns 0, or -1 if full. */
int broker_auth_register(struct broker *b, const struct auth_mechanism *m);

#endif
