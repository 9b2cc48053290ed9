/* lookup.c - `agora lookup NAME|ADDRESS`: parse the options, run the look-up (classic/lookup.h). */
#include "commands.h"

#include "base/text.h"
#include "classic/lookup.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: agora lookup [--json] [--timeout SECONDS] NAME|ADDRESS\n"
		"\n"
		"Looks a host up with this machine's resolver (/etc/hosts, DNS), as the\n"
		"course's gethostbyname, gethostbyaddr and getfqdn do: for a NAME, its\n"
		"canonical name and every IPv4 and IPv6 address with its reverse name;\n"
		"for an ADDRESS, its reverse name, then the same for that name.\n"
		"(getfqdn(NAME) is the reverse name of NAME's first IPv4 address.)\n"
		"\n"
		"options:\n"
		"  --json             one JSON object: {\"query\", \"kind\", \"reverse\",\n"
		"                     \"canonical\", \"addresses\": [{\"family\", \"address\",\n"
		"                     \"reverse\"}], \"truncated\"}\n"
		"  --timeout SECONDS  give up after SECONDS (0.1 to 600, default %d)\n"
		"\n"
		"exit status: 0 found; 1 usage; 2 the resolver could not answer (no DNS\n"
		"server, timeout, interrupted); 3 no such host, no address for the name,\n"
		"or no name for the address; 4 a local failure.\n",
		LOOKUP_TIMEOUT_DEFAULT_MS / 1000);
}

static int exit_code(enum lookup_status st)
{
	switch (st) {
	case LOOKUP_OK: return EXIT_OK;
	case LOOKUP_NO_HOST:
	case LOOKUP_NO_ADDRESS:
	case LOOKUP_NO_NAME: return EXIT_REFUSED; /* the resolver's answer is "no" */
	case LOOKUP_AGAIN:
	case LOOKUP_FAIL:
	case LOOKUP_TIMEOUT:
	case LOOKUP_INTERRUPTED: return EXIT_NET; /* no answer */
	case LOOKUP_BAD_QUERY: return EXIT_USAGE;
	case LOOKUP_LOCAL: return EXIT_LOCAL;
	}
	return EXIT_LOCAL;
}

static int print_result(const struct lookup_result *r, bool json)
{
	struct text t = { 0 };
	char *s;

	if (json) {
		s = lookup_format_json(r);
		if (!s) {
			fprintf(stderr, "agora lookup: cannot format the result as JSON\n");
			return EXIT_LOCAL;
		}
		printf("%s\n", s);
		free(s);
	} else {
		lookup_format_text(r, &t);
		fputs(t.s ? t.s : "", stdout);
		free(t.s);
	}
	if (fflush(stdout)) {
		fprintf(stderr, "agora lookup: cannot write the output: %s\n", strerror(errno));
		return EXIT_LOCAL;
	}
	return EXIT_OK;
}

int cmd_lookup(int argc, char **argv)
{
	const char *query = NULL;
	double timeout = LOOKUP_TIMEOUT_DEFAULT_MS / 1000.0;
	struct lookup_result *r;
	enum lookup_status st;
	bool json = false;
	int rc;

	if (wants_help(argc, argv)) {
		usage(stdout);
		return EXIT_OK;
	}
	for (int i = 1; i < argc; i++) {
		char *end;
		if (strcmp(argv[i], "--json") == 0) {
			json = true;
		} else if (strcmp(argv[i], "--timeout") == 0) {
			if (i + 1 >= argc) {
				fprintf(stderr, "agora lookup: --timeout needs a value\n");
				return EXIT_USAGE;
			}
			errno = 0;
			timeout = strtod(argv[++i], &end);
			if (errno || *end || end == argv[i] ||
			    !(timeout >= 0.1 && timeout <= 600)) {
				fprintf(stderr, "agora lookup: --timeout: '%s' is not a number of "
						"seconds from 0.1 to 600\n", argv[i]);
				return EXIT_USAGE;
			}
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr,
				"agora lookup: unknown option '%s' (see agora lookup --help)\n",
				argv[i]);
			return EXIT_USAGE;
		} else if (query) {
			fprintf(stderr, "agora lookup: one NAME or ADDRESS only\n");
			return EXIT_USAGE;
		} else {
			query = argv[i];
		}
	}
	if (!query) {
		fprintf(stderr, "agora lookup: what? usage: agora lookup [--json] NAME|ADDRESS\n");
		return EXIT_USAGE;
	}
	if (lookup_check_query(query) != LOOKUP_OK) {
		fprintf(stderr, "agora lookup: not a host name or address (empty, too long, or "
				"with control characters)\n");
		return EXIT_USAGE;
	}
	r = malloc(sizeof(*r)); /* about 80 KiB: off the stack */
	if (!r) {
		fprintf(stderr, "agora lookup: out of memory\n");
		return EXIT_LOCAL;
	}
	st = lookup_run(query, (int)(timeout * 1000), lookup_resolve, r);
	if (st == LOOKUP_OK) {
		rc = print_result(r, json);
	} else {
		rc = exit_code(st);
		if (st == LOOKUP_TIMEOUT)
			fprintf(stderr, "agora lookup: %s: no answer in %g s\n", query, timeout);
		else
			fprintf(stderr, "agora lookup: %s: %s\n", query, lookup_strerror(st));
	}
	free(r);
	return rc;
}
