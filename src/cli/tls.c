/*
 * tls.c - `agora tls init [DIR]`: the options, then src/tls/certgen.h,
 * then what was written and the settings to use them with (issue 15).
 */
#include "classic_cli.h"
#include "commands.h"

#include "base/alloc.h"
#include "classic/tcp.h"
#include "tls/certgen.h"

#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define DEFAULT_DIR "agora-tls"
#define DEFAULT_DAYS 825     /* the longest server certificate Apple's clients accept */
#define DEFAULT_CA_DAYS 3650
#define TLS_PORT 8883        /* MQTT over TLS, by convention */

static void usage(FILE *out)
{
	fprintf(out,
		"usage: agora tls init [DIR] [--days N] [--ca-days N] [--name NAME]...\n"
		"                      [--ip ADDR]... [--client CN] [--force]\n"
		"\n"
		"Creates a local certificate authority and a server certificate signed by it,\n"
		"for development and tests (ECDSA P-256, SHA-256), in DIR (default ./%s,\n"
		"created 0700): ca.crt, ca.key, server.crt, server.key, keys mode 0600. The\n"
		"server certificate is for localhost, 127.0.0.1 and ::1, and the names and\n"
		"addresses given. When DIR already holds ca.crt and ca.key but no server files,\n"
		"that CA signs the new certificate: clients that trust it keep working.\n"
		"Prints the files written and the settings to use them with.\n"
		"\n"
		"options:\n"
		"  --days N        validity of the server (and client) certificate, in days\n"
		"                  (1 to the CA's; default %d)\n"
		"  --ca-days N     validity of a new CA, in days (1 to %u, default %d)\n"
		"  --name NAME     another DNS name for the server (repeatable; *.NAME for a\n"
		"                  wildcard)\n"
		"  --ip ADDR       another IPv4 or IPv6 address for the server (repeatable)\n"
		"  --client CN     also client.crt and client.key: a client certificate whose\n"
		"                  CN is CN (require_certificate, use_identity_as_username)\n"
		"  --force         replace the files that exist, the CA included\n"
		"\n"
		"exit status: 0 written; 1 usage; 4 a local failure: a file exists (nothing\n"
		"written), a file or the directory cannot be written.\n",
		DEFAULT_DIR, DEFAULT_DAYS, CERTGEN_DAYS_MAX, DEFAULT_CA_DAYS);
}

static int usage_error(const char *what, const char *arg)
{
	return classic_usage_error("tls init", what, arg);
}

/* The request being built: the defaults, then what the options add. */
struct init_args {
	struct certgen_request req;
	const char **dns, **ips; /* NULL-terminated, room for every argument */
	size_t ndns, nips;
};

static int parse_days(const char *opt, const char *v, unsigned *days)
{
	uint64_t u;

	if (classic_parse_uint(v, CERTGEN_DAYS_MAX, &u) || u == 0) {
		char what[64];
		snprintf(what, sizeof(what), "%s takes 1 to %u days, not", opt, CERTGEN_DAYS_MAX);
		return usage_error(what, v);
	}
	*days = (unsigned)u;
	return -1;
}

/* Appends v unless the list has it (a --name localhost repeats a default). */
static void add_name(const char **list, size_t *n, const char *v)
{
	for (size_t i = 0; i < *n; i++)
		if (strcasecmp(list[i], v) == 0)
			return;
	list[(*n)++] = v;
}

/* argv[*i], an option: -1 when taken (go on), else the exit status. */
static int parse_option(int argc, char **argv, int *i, struct init_args *a)
{
	bool missing = false;
	const char *v;

	if ((v = classic_option(argc, argv, i, "--days", &missing)))
		return parse_days("--days", v, &a->req.days);
	if ((v = classic_option(argc, argv, i, "--ca-days", &missing)))
		return parse_days("--ca-days", v, &a->req.ca_days);
	if ((v = classic_option(argc, argv, i, "--name", &missing))) {
		add_name(a->dns, &a->ndns, v);
		return -1;
	}
	if ((v = classic_option(argc, argv, i, "--ip", &missing))) {
		add_name(a->ips, &a->nips, v);
		return -1;
	}
	if ((v = classic_option(argc, argv, i, "--client", &missing))) {
		if (a->req.client_cn)
			return usage_error("one --client only; unexpected", v);
		a->req.client_cn = v;
		return -1;
	}
	if (strcmp(argv[*i], "--force") == 0) {
		a->req.force = 1;
		return -1;
	}
	return usage_error(missing ? "a value is missing after" : "unknown option", argv[*i]);
}

/* argv[0] is "init". -1 when the request is complete, else the exit status. */
static int parse(int argc, char **argv, struct init_args *a)
{
	bool operands_only = false;
	int rc;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];
		if (!operands_only && strcmp(arg, "--") == 0) {
			operands_only = true;
		} else if (!operands_only && arg[0] == '-' && arg[1]) {
			if ((rc = parse_option(argc, argv, &i, a)) >= 0)
				return rc;
		} else if (a->req.dir) {
			return usage_error("one DIR only; unexpected", arg);
		} else {
			a->req.dir = arg;
		}
	}
	if (!a->req.dir)
		a->req.dir = DEFAULT_DIR;
	return -1;
}

/* ---- what was done ---- */

/* path as one shell word: as it is when it holds no special character,
 * else in single quotes. */
static void put_word(const char *path)
{
	const char *safe = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
			   "_@%+=:,./-";

	if (path[0] && strspn(path, safe) == strlen(path)) {
		fputs(path, stdout);
		return;
	}
	putchar('\'');
	for (const char *p = path; *p; p++) {
		if (*p == '\'')
			fputs("'\\''", stdout); /* close, an escaped quote, reopen */
		else
			putchar(*p);
	}
	putchar('\'');
}

static void put_names(const struct init_args *a)
{
	const char *sep = "";

	for (size_t i = 0; i < a->ndns; i++, sep = ", ")
		printf("%s%s", sep, a->dns[i]);
	for (size_t i = 0; i < a->nips; i++, sep = ", ")
		printf("%s%s", sep, a->ips[i]);
}

static void report_files(const struct init_args *a, const char *dir, bool kept_ca)
{
	unsigned days = a->req.days;

	if (kept_ca)
		printf("kept  %s/ca.crt and ca.key: that CA signed the new certificates\n", dir);
	else
		printf("wrote %s/ca.crt      the CA's certificate (%u days): clients trust it\n"
		       "wrote %s/ca.key      the CA's private key (0600): keep it, give it to no "
		       "one\n",
		       dir, a->req.ca_days, dir);
	printf("wrote %s/server.crt  the server's certificate (%u days) for ", dir, days);
	put_names(a);
	printf("\nwrote %s/server.key  its private key (0600)\n", dir);
	if (a->req.client_cn)
		printf("wrote %s/client.crt  a client certificate (%u days), CN %s\n"
		       "wrote %s/client.key  its private key (0600)\n",
		       dir, days, a->req.client_cn, dir);
}

/* One client command line: PROG --cafile DIR/ca.crt [--cert ... --key ...]
 * -h HOST -p TLS_PORT and a subscription to everything. */
static void report_client(const char *prog, const char *host, const char *dir, bool client)
{
	char path[PATH_MAX + 16];

	printf("  %s --cafile ", prog);
	snprintf(path, sizeof(path), "%s/ca.crt", dir);
	put_word(path);
	if (client) {
		snprintf(path, sizeof(path), "%s/client.crt", dir);
		fputs(" --cert ", stdout);
		put_word(path);
		snprintf(path, sizeof(path), "%s/client.key", dir);
		fputs(" --key ", stdout);
		put_word(path);
	}
	printf(" -h %s -p %d -t '#' -v\n", host, TLS_PORT);
}

static void report_settings(const char *dir, bool client)
{
	printf("\nServer (TLS listeners: docs/configuration.md):\n"
	       "  listener 127.0.0.1:%d tls=yes certfile=%s/server.crt keyfile=%s/server.key",
	       TLS_PORT, dir, dir);
	if (client)
		printf(" cafile=%s/ca.crt require_certificate=yes", dir);
	printf("\n\nClients:\n");
	report_client("agora sub", "127.0.0.1", dir, client);
	/* by name: the certificate's DNS entry is checked too */
	report_client("mosquitto_sub", "localhost", dir, client);
}

static int report(const struct init_args *a, bool kept_ca)
{
	char abs[PATH_MAX];
	/* absolute: the settings are copied into files read from elsewhere */
	const char *dir = realpath(a->req.dir, abs) ? abs : a->req.dir;

	report_files(a, dir, kept_ca);
	report_settings(dir, a->req.client_cn != NULL);
	if (fflush(stdout)) {
		fprintf(stderr, "agora tls init: cannot write the output: %s\n", strerror(errno));
		return EXIT_LOCAL;
	}
	return EXIT_OK;
}

static int init(int argc, char **argv)
{
	struct init_args a = { .req = { .days = DEFAULT_DAYS, .ca_days = DEFAULT_CA_DAYS } };
	char err[512];
	int rc;

	/* the defaults, then every argument at most once each */
	a.dns = xcalloc((size_t)argc + 2, sizeof(*a.dns));
	a.ips = xcalloc((size_t)argc + 3, sizeof(*a.ips));
	a.dns[a.ndns++] = "localhost";
	a.ips[a.nips++] = "127.0.0.1";
	a.ips[a.nips++] = "::1";
	if ((rc = parse(argc, argv, &a)) >= 0)
		goto out_free;
	a.req.dns = a.dns;
	a.req.ips = a.ips;
	if (certgen_check_request(&a.req, err, sizeof(err))) {
		rc = usage_error(err, NULL);
		goto out_free;
	}
	rc = certgen_init(&a.req, err, sizeof(err));
	if (rc < 0) {
		fprintf(stderr, "agora tls init: %s\n", err);
		rc = EXIT_LOCAL;
		goto out_free;
	}
	rc = report(&a, rc == 1);
out_free:
	free(a.dns);
	free(a.ips);
	return rc;
}

int cmd_tls(int argc, char **argv)
{
	if (wants_help(argc, argv)) {
		usage(stdout);
		return EXIT_OK;
	}
	if (argc < 2) {
		fprintf(stderr, "agora tls: what? usage: agora tls init [DIR] [options]\n");
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "init") != 0)
		return classic_usage_error("tls", "the subcommand is init, not", argv[1]);
	return init(argc - 1, argv + 1);
}
