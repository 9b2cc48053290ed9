/*
 * adder.c - `agora adder serve [HOST:]PORT` and `agora adder [--pickle]
 * HOST:PORT N...`: options parsed here, the rest is src/classic/ (adder.h).
 */
#include "classic_cli.h"
#include "commands.h"

#include "base/alloc.h"
#include "classic/adder.h"
#include "classic/pickle.h"
#include "classic/tcp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PROG "agora adder"

static void usage(FILE *out)
{
	fprintf(out,
		"usage: agora adder serve [options] [HOST:]PORT\n"
		"       agora adder [options] HOST:PORT [INTEGER...]\n"
		"\n"
		"The integer adder: the client sends a 4-byte length and a list of integers,\n"
		"the server answers their sum. Two encodings (docs/protocols.md): Agora's own\n"
		"(big-endian, 64-bit integers, errors reported) and the course's Python client\n"
		"(struct.pack('I', len) + pickle.dumps(list), protocols 2 to 5, the sum as\n"
		"struct.pack('I', total)); the server tells them apart and speaks both. With no\n"
		"HOST it listens on every IPv4 and IPv6 address. SIGINT or SIGTERM stops it.\n"
		"\n"
		"server options:\n"
		"  --max-connections N       clients at once (default 1024)\n"
		"  --max-length BYTES        a request's payload at most (default 1048576)\n"
		"  --timeout SECONDS         a request must arrive whole within this of its\n"
		"                            first byte (default 10)\n"
		"  --idle-timeout SECONDS    a connection between requests is closed after\n"
		"                            this; 0: never (default 60)\n"
		"  -q, --quiet               log warnings and errors only\n"
		"client options:\n"
		"  --pickle                  the course's format, to talk to its Python server\n"
		"  --protocol N              the pickle protocol, 2 to 5 (default 3, what the\n"
		"                            course shows)\n"
		"  --json                    {\"sum\":N,\"count\":N,\"encoding\":\"...\"}\n"
		"  -t, --timeout SECONDS     each wait for the server, at most (default 10)\n"
		"  -h, --help                this help\n"
		"\n"
		"Exit status: 0 the sum printed (or SIGINT), 1 usage, 2 cannot connect or\n"
		"listen, the connection failed, a timeout, no answer; 3 the server refused\n"
		"(its message on stderr).\n");
}

static int usage_error(const char *what, const char *arg)
{
	return classic_usage_error("adder", what, arg);
}

static int serve(int argc, char **argv)
{
	struct adder_config cfg = { .max_conns = 1024, .max_length = 1024 * 1024,
				    .timeout_ms = 10000, .idle_ms = 60000 };
	struct classic_serve_args sa = { .max_conns = &cfg.max_conns, .idle_ms = &cfg.idle_ms };
	struct adder_service as;
	const char *v;
	uint64_t u;
	int rc;

	for (int i = 1; i < argc; i++) {
		if ((v = classic_option(argc, argv, &i, "--max-length", &sa.missing))) {
			if (classic_parse_uint(v, 1u << 30, &u) || u < 16)
				return usage_error("--max-length takes 16 to 1073741824 bytes, not", v);
			cfg.max_length = (uint32_t)u;
		} else if ((v = classic_option(argc, argv, &i, "--timeout", &sa.missing))) {
			if (classic_parse_seconds(v, &cfg.timeout_ms) || !cfg.timeout_ms)
				return usage_error("--timeout takes seconds above 0, not", v);
		} else if ((rc = classic_serve_arg("adder", usage, argc, argv, &i, &sa)) >= 0) {
			return rc;
		}
	}
	adder_service_init(&as, &cfg);
	return classic_serve_cmd("adder", &as.svc, sa.listen);
}

/* A 64-bit integer, the whole argument: 0, or -1. */
static int parse_int(const char *s, int64_t *v)
{
	char *end;
	long long x;

	if (!((*s >= '0' && *s <= '9') || ((*s == '-' || *s == '+') && s[1] >= '0' && s[1] <= '9')))
		return -1;
	errno = 0;
	x = strtoll(s, &end, 10);
	if (*end || errno)
		return -1;
	*v = x;
	return 0;
}

/* One client option at argv[*i]: 0 to go on, -1 for --help, or an exit
 * status (the error said). */
static int client_option(int argc, char **argv, int *i, struct adder_client_opts *o)
{
	const char *a = argv[*i], *v;
	bool missing = false;
	uint64_t u;
	uint32_t ms;

	if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
		return -1;
	if (strcmp(a, "--pickle") == 0) {
		o->pickle = true;
	} else if (strcmp(a, "--json") == 0) {
		o->json = true;
	} else if ((v = classic_option(argc, argv, i, "--protocol", &missing))) {
		if (classic_parse_uint(v, PICKLE_PROTO_MAX, &u) || u < PICKLE_PROTO_MIN)
			return usage_error("--protocol takes a pickle protocol from 2 to 5, not", v);
		o->proto = (int)u;
	} else if ((v = classic_option(argc, argv, i, "--timeout", &missing)) ||
		   (v = classic_option(argc, argv, i, "-t", &missing))) {
		if (classic_parse_seconds(v, &ms) || !ms || ms > INT32_MAX)
			return usage_error("--timeout takes seconds above 0, not", v);
		o->timeout_ms = (int)ms;
	} else {
		return usage_error(missing ? "a value is missing after" : "unknown option", a);
	}
	return 0;
}

/* Options anywhere; after HOST:PORT an argument that is an integer is one
 * (so -5 is a number, not an option). */
static int client(int argc, char **argv)
{
	struct adder_client_opts o = { .prog = PROG, .proto = 3, .timeout_ms = 10000 };
	char host[CLASSIC_HOST_MAX];
	int64_t *v = xmalloc(sizeof(*v) * (size_t)argc);
	bool have_host = false, only_ints = false;
	int rc = EXIT_OK;

	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];

		if (have_host && parse_int(a, &v[o.n]) == 0) {
			o.n++;
		} else if (!only_ints && strcmp(a, "--") == 0) {
			only_ints = true;
		} else if (!only_ints && a[0] == '-' && a[1]) {
			rc = client_option(argc, argv, &i, &o);
			if (rc < 0)
				usage(stdout);
			if (rc) {
				rc = rc < 0 ? EXIT_OK : rc;
				goto out;
			}
		} else if (!have_host) {
			if (classic_parse_hostport(a, host, sizeof(host), &o.port)) {
				rc = usage_error("not HOST:PORT (an IPv6 address in brackets, port 1 to "
						 "65535):", a);
				goto out;
			}
			have_host = true;
		} else {
			rc = usage_error("not a 64-bit integer:", a);
			goto out;
		}
	}
	if (!have_host) {
		rc = usage_error("HOST:PORT is missing (or 'serve' for the server)", NULL);
		goto out;
	}
	o.host = host;
	o.v = v;
	classic_client_signals();
	rc = classic_exit_status(adder_client_run(&o));
out:
	free(v);
	return rc;
}

int cmd_adder(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "serve") == 0)
		return serve(argc - 1, argv + 1);
	return client(argc, argv);
}
