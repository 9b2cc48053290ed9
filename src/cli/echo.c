/*
 * echo.c - `agora echo serve [HOST:]PORT` and `agora echo HOST:PORT
 * [TEXT...]`: options parsed here, the rest is src/classic/ (echo.h).
 */
#include "classic_cli.h"
#include "commands.h"

#include "base/alloc.h"
#include "classic/echo.h"
#include "classic/tcp.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "agora echo"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: agora echo serve [options] [HOST:]PORT\n"
		"       agora echo [options] HOST:PORT [TEXT...|-]\n"
		"\n"
		"The echo protocol (RFC 862): the server sends back every byte it receives and\n"
		"logs each connection on stderr; with no HOST it listens on every IPv4 and IPv6\n"
		"address. SIGINT or SIGTERM stops it.\n"
		"The client sends TEXT (the words joined by spaces, then a newline) or, with -\n"
		"or no TEXT, stdin as it comes; prints what comes back; exits once every byte\n"
		"sent is back.\n"
		"\n"
		"server options:\n"
		"  --max-connections N       clients at once (default 1024)\n"
		"  --max-queued BYTES        bytes waiting for one client before its input\n"
		"                            pauses (default 1048576)\n"
		"  --stall-timeout SECONDS   a client that reads nothing meanwhile is closed\n"
		"                            after this (default 10)\n"
		"  --idle-timeout SECONDS    a silent connection is closed after this; 0: never\n"
		"                            (default 300)\n"
		"  -q, --quiet               log warnings and errors only\n"
		"client options:\n"
		"  -n                        no newline after TEXT\n"
		"  -t, --timeout SECONDS     each wait for the server, at most (default 10)\n"
		"  -h, --help                this help\n"
		"\n"
		"Exit status: 0 every byte came back (or SIGINT), 1 usage, 2 cannot connect or\n"
		"listen, the connection failed or closed early, a timeout; 4 stdin or stdout.\n");
}

static int usage_error(const char *what, const char *arg)
{
	return classic_usage_error("echo", what, arg);
}

static int serve(int argc, char **argv)
{
	struct echo_config cfg = { .max_conns = 1024, .max_queued = 1024 * 1024,
				   .stall_ms = 10000, .idle_ms = 300000 };
	struct classic_serve_args sa = { .max_conns = &cfg.max_conns, .idle_ms = &cfg.idle_ms };
	struct echo_service es;
	const char *v;
	uint64_t u;
	int rc;

	for (int i = 1; i < argc; i++) {
		if ((v = classic_option(argc, argv, &i, "--max-queued", &sa.missing))) {
			if (classic_parse_uint(v, 1u << 30, &u) || u < 1024)
				return usage_error("--max-queued takes 1024 to 1073741824 bytes, not", v);
			cfg.max_queued = (uint32_t)u;
		} else if ((v = classic_option(argc, argv, &i, "--stall-timeout", &sa.missing))) {
			if (classic_parse_seconds(v, &cfg.stall_ms) || !cfg.stall_ms)
				return usage_error("--stall-timeout takes seconds above 0, not", v);
		} else if ((rc = classic_serve_arg("echo", usage, argc, argv, &i, &sa)) >= 0) {
			return rc;
		}
	}
	echo_service_init(&es, &cfg);
	return classic_serve_cmd("echo", &es.svc, sa.listen);
}

/* TEXT... joined by spaces, then a newline unless -n. */
static uint8_t *join(int n, char **words, bool newline, size_t *len)
{
	size_t total = newline ? 1 : 0, at = 0;
	uint8_t *s;

	for (int i = 0; i < n; i++)
		total += strlen(words[i]) + (i ? 1 : 0);
	s = xmalloc(total + 1);
	for (int i = 0; i < n; i++) {
		size_t k = strlen(words[i]);

		if (i)
			s[at++] = ' ';
		memcpy(s + at, words[i], k);
		at += k;
	}
	if (newline)
		s[at++] = '\n';
	*len = at;
	return s;
}

static int client(int argc, char **argv)
{
	struct echo_client_opts o = { .prog = PROG, .timeout_ms = 10000 };
	char host[CLASSIC_HOST_MAX];
	bool newline = true, missing = false;
	uint8_t *text = NULL;
	const char *v;
	int i, rc;

	for (i = 1; i < argc && argv[i][0] == '-' && argv[i][1]; i++) {
		const char *a = argv[i];

		if (strcmp(a, "--") == 0) {
			i++;
			break;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		} else if (strcmp(a, "-n") == 0) {
			newline = false;
		} else if ((v = classic_option(argc, argv, &i, "--timeout", &missing)) ||
			   (v = classic_option(argc, argv, &i, "-t", &missing))) {
			uint32_t ms;

			if (classic_parse_seconds(v, &ms) || !ms || ms > INT32_MAX)
				return usage_error("--timeout takes seconds above 0, not", v);
			o.timeout_ms = (int)ms;
		} else {
			return usage_error(missing ? "a value is missing after" : "unknown option", a);
		}
	}
	if (i >= argc)
		return usage_error("HOST:PORT is missing (or 'serve' for the server)", NULL);
	if (classic_parse_hostport(argv[i], host, sizeof(host), &o.port))
		return usage_error("not HOST:PORT (an IPv6 address in brackets, port 1 to 65535):",
				   argv[i]);
	o.host = host;
	i++;
	if (i < argc && !(argc - i == 1 && strcmp(argv[i], "-") == 0)) {
		text = join(argc - i, argv + i, newline, &o.text_len);
		o.text = text;
	}
	classic_client_signals();
	rc = echo_client_run(&o);
	free(text);
	return classic_exit_status(rc);
}

int cmd_echo(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		return serve(argc - 1, argv + 1);
	return client(argc, argv);
}
