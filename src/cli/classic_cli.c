/* classic_cli.c - see classic_cli.h. */
#include "classic_cli.h"

#include "base/log.h"
#include "classic/tcp.h"
#include "commands.h"

#include <arpa/inet.h>
#include <string.h>

int classic_usage_error(const char *cmd, const char *what, const char *arg)
{
	fprintf(stderr, "agora %s: %s%s%s%s; see 'agora %s --help'\n", cmd, what,
		arg ? " '" : "", arg ? arg : "", arg ? "'" : "", cmd);
	return EXIT_USAGE;
}

int classic_serve_arg(const char *cmd, void (*usage)(FILE *out), int argc, char **argv, int *i,
		      struct classic_serve_args *a)
{
	const char *arg = argv[*i], *v;
	uint64_t u;

	if (strcmp(arg, "-h") == 0 || strcmp(arg, "--help") == 0) {
		usage(stdout);
		return EXIT_OK;
	}
	if (strcmp(arg, "-q") == 0 || strcmp(arg, "--quiet") == 0) {
		log_set_level(LOG_WARN);
		return -1;
	}
	if ((v = classic_option(argc, argv, i, "--max-connections", &a->missing))) {
		if (classic_parse_uint(v, UINT32_MAX, &u) || !u)
			return classic_usage_error(cmd, "--max-connections takes a number from 1, not",
						   v);
		*a->max_conns = (uint32_t)u;
		return -1;
	}
	if ((v = classic_option(argc, argv, i, "--idle-timeout", &a->missing))) {
		if (classic_parse_seconds(v, a->idle_ms))
			return classic_usage_error(cmd, "--idle-timeout takes seconds, not", v);
		return -1;
	}
	if (a->missing)
		return classic_usage_error(cmd, "a value is missing after", arg);
	if (arg[0] == '-' && arg[1])
		return classic_usage_error(cmd, "unknown option", arg);
	if (a->listen)
		return classic_usage_error(cmd, "one [HOST:]PORT only; unexpected", arg);
	a->listen = arg;
	return -1;
}

int classic_exit_status(int result)
{
	switch (result) {
	case CLASSIC_OK:
	case CLASSIC_EINTR:
		return EXIT_OK;
	case CLASSIC_EREFUSED:
		return EXIT_REFUSED;
	case CLASSIC_ELOCAL:
		return EXIT_LOCAL;
	default:
		return EXIT_NET;
	}
}

int classic_serve_cmd(const char *cmd, struct net_service *svc, const char *listen)
{
	char host[CLASSIC_HOST_MAX] = "";
	unsigned char addr[16];
	uint16_t port;

	if (!listen)
		return classic_usage_error(cmd, "serve needs a [HOST:]PORT to listen on", NULL);
	if (classic_parse_listen(listen, host, sizeof(host), &port))
		return classic_usage_error(cmd, "not [HOST:]PORT (an IPv6 address in brackets):",
					   listen);
	if (host[0] && inet_pton(AF_INET, host, addr) != 1 && inet_pton(AF_INET6, host, addr) != 1)
		return classic_usage_error(cmd, "HOST must be a numeric IPv4 or IPv6 address, not",
					   host);
	return classic_serve(svc, cmd, host, port) ? EXIT_NET : EXIT_OK;
}
