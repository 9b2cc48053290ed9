/*
 * classic_cli.h - what the command-line files of the classic TCP programs
 * (echo.c, adder.c) share: the server options both take, the one-line
 * usage error, the exit status of a result of src/classic/, and starting a
 * server from its [HOST:]PORT.
 */
#ifndef AGORA_CLI_CLASSIC_H
#define AGORA_CLI_CLASSIC_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct net_service;

/* What every classic server's command line has besides its own options. */
struct classic_serve_args {
	uint32_t *max_conns; /* --max-connections N */
	uint32_t *idle_ms;   /* --idle-timeout SECONDS */
	const char *listen;  /* [HOST:]PORT */
	bool missing;        /* an option's value is missing (classic_option) */
};

/* argv[*i], once the server's own options did not take it: -h/--help,
 * -q/--quiet, --max-connections, --idle-timeout, or the [HOST:]PORT.
 * Returns -1 when taken (go on), else the exit status to end with (the
 * help printed by usage, or a usage error said). */
int classic_serve_arg(const char *cmd, void (*usage)(FILE *out), int argc, char **argv, int *i,
		      struct classic_serve_args *a);

/* "agora CMD: WHAT 'ARG'; see 'agora CMD --help'" on stderr (arg may be
 * NULL); returns EXIT_USAGE. */
int classic_usage_error(const char *cmd, const char *what, const char *arg);
/* EXIT_* for a CLASSIC_* result (SIGINT is a clean end: EXIT_OK). */
int classic_exit_status(int result);
/* Checks listen ([HOST:]PORT, HOST numeric, NULL: missing) and serves svc
 * on it until SIGINT or SIGTERM; returns the exit status. */
int classic_serve_cmd(const char *cmd, struct net_service *svc, const char *listen);

#endif
