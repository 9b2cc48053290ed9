/*
 * poll_service.h - the poll line protocol (docs/protocols.md, "Poll line
 * protocol") on the connection layer: each connection's lines are framed
 * and parsed by polls/line.h, each command answered from the API's polls
 * (polls/polls.h) and accounts, and the results of the polls a connection
 * WATCHes pushed to it when they change, at most once per poll per loop
 * turn. LOGIN checks the password with argon2 on libuv's thread pool while
 * that connection's input waits.
 *
 * Limits (struct poll_config): connections, line length, idle time,
 * watches per connection, bytes waiting for a client. A bad line (too long,
 * NUL, not UTF-8) is answered, then the connection closes; so does a client
 * after three failed LOGINs, and one whose output passes the bound.
 */
#ifndef AGORA_POLL_SERVICE_H
#define AGORA_POLL_SERVICE_H

#include "config.h"
#include "net/net.h"

struct api;
struct outbuf_pool;
struct poll_service;

/* Registers the service on n (its per-turn push of changed results) and
 * on the API's polls (an observer); NULL (logged) if the polls have no
 * room for one more observer. api and bufs (the answers' storage) are not
 * owned and must outlive the service. */
struct poll_service *poll_service_new(struct net *n, const struct poll_config *cfg,
				      struct api *api, struct outbuf_pool *bufs);
/* Listens on every cfg->listeners, logging "listening on ADDRESS (poll
 * line protocol)" for each; -1 (logged) if one cannot be opened. */
int poll_service_listen(struct poll_service *ps);
/* After the loop has ended (every connection closed); NULL is fine. */
void poll_service_free(struct poll_service *ps);
/* Its connection counters, for /metrics. */
const struct net_service *poll_service_service(const struct poll_service *ps);

#endif
