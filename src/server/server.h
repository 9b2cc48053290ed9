/*
 * server.h - the I/O layer: libuv listeners and connections around one
 * broker core.
 *
 * It only moves bytes: reads in 64 KiB chunks and hands them to
 * broker_client_input, and once per loop turn (a uv_check handle) writes
 * every dirty client's output with one vectored uv_write. Signals: SIGINT
 * and SIGTERM stop it cleanly, SIGHUP reloads the config file.
 */
#ifndef AGORA_SERVER_H
#define AGORA_SERVER_H

#include "config.h"

/* Runs `agora serve` until a stop signal. config_path (may be NULL) and the
 * overrides are read again on SIGHUP. Returns the process exit status. */
int server_run(const struct agora_config *cfg, const char *config_path,
	       const struct config_overrides *ov);

#endif
