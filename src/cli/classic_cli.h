/*
 * classic_cli.h - what the command-line files of the classic TCP programs
 * (echo.c, adder.c) share: the one-line usage error, the exit status of a
 * result of src/classic/, and starting a server from its [HOST:]PORT.
 */
#ifndef AGORA_CLI_CLASSIC_H
#define AGORA_CLI_CLASSIC_H

struct net_service;

/* "agora CMD: WHAT 'ARG'; see 'agora CMD --help'" on stderr (arg may be
 * NULL); returns EXIT_USAGE. */
int classic_usage_error(const char *cmd, const char *what, const char *arg);
/* EXIT_* for a CLASSIC_* result (SIGINT is a clean end: EXIT_OK). */
int classic_exit_status(int result);
/* Checks listen ([HOST:]PORT, HOST numeric, NULL: missing) and serves svc
 * on it until SIGINT or SIGTERM; returns the exit status. */
int classic_serve_cmd(const char *cmd, struct net_service *svc, const char *listen);

#endif
