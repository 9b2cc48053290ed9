/*
 * server.h - `agora serve`: one libuv loop running the connection layer
 * (src/net/) with the MQTT and HTTP services, the broker core, the store
 * and the API. Signals: SIGINT and SIGTERM stop it cleanly, SIGHUP reloads
 * the config file. Process-wide settings (SIGPIPE, the open-file limit,
 * the log) are the caller's (src/cli/serve.c).
 */
#ifndef AGORA_SERVER_H
#define AGORA_SERVER_H

#include "config.h"

struct server;

/* The broker, the store (data_dir made if need be) and the API, and the
 * services, not yet listening; NULL (logged) if the store cannot be
 * opened. config_path (may be NULL) and the overrides are read again on
 * SIGHUP: they must outlive the server. */
struct server *server_new(const struct agora_config *cfg, const char *config_path,
			  const struct config_overrides *ov);
/* Signals, listeners and timers; logs "ready". 0, or -1 (logged) if a
 * listener cannot be opened: then server_free. */
int server_start(struct server *srv);
/* Runs the loop until the server has stopped (a stop signal). */
void server_run(struct server *srv);
/* Stops accepting, says goodbye to every connection and closes what is
 * left after a short grace; server_run then returns. */
void server_stop(struct server *srv, const char *why);
/* After server_run returned, or after a failed start; NULL is fine. */
void server_free(struct server *srv);

#endif
