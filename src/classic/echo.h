/*
 * echo.h - the echo service (RFC 862) and its client (docs/protocols.md,
 * "Echo").
 *
 * The server sends back every byte it receives, in order, on as many
 * connections as --max-connections allows. What waits to go back to one
 * client is bounded (max_queued): once that much waits, the connection's
 * input is paused (the client's own sends then block in its kernel), and
 * resumed when half of it is out; a client that takes nothing for
 * stall_ms meanwhile is closed. A client that sends and closes without
 * reading: what was still to go back is dropped with the connection, one
 * log line. Each connection and its end are logged with the peer's
 * address.
 */
#ifndef AGORA_ECHO_H
#define AGORA_ECHO_H

#include "net/net.h"

#include <stddef.h>
#include <stdint.h>

struct echo_config {
	uint32_t max_conns;
	uint32_t max_queued; /* bytes waiting for one client, at most */
	uint32_t stall_ms;   /* a client that does not read: closed after this */
	uint32_t idle_ms;    /* a connection silent this long: closed; 0: never */
};

struct echo_service {
	struct net_service svc;
	struct echo_config cfg;
	uint64_t last_refusal;
};

/* Sets up the service (svc ready for classic_serve); allocates nothing. */
void echo_service_init(struct echo_service *e, const struct echo_config *cfg);

struct echo_client_opts {
	const char *prog;       /* "agora echo": the prefix of its error lines */
	const char *host;
	uint16_t port;
	const uint8_t *text;    /* what to send; NULL: stdin, as it comes */
	size_t text_len;
	int timeout_ms;         /* each wait for the server, at most */
};

/* Sends, prints what comes back as it comes, and ends once every byte
 * sent is back: a classic_result (tcp.h). */
int echo_client_run(const struct echo_client_opts *o);

#endif
