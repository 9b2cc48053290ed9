/* serve.c - `agora serve`: parse options, build the configuration, run. */
#include "commands.h"

#include "base/fdlimit.h"
#include "base/log.h"
#include "server/config.h"
#include "server/server.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: agora serve [-c FILE] [-l ADDRESS:PORT]... [--SETTING VALUE]...\n"
		"\n"
		"Runs the MQTT broker (5.0, 3.1.1 and 3.1) in the foreground until SIGINT or SIGTERM.\n"
		"SIGHUP re-reads the configuration file (log level and limits).\n"
		"\n"
		"  -c, --config FILE        read settings from FILE ('key value' lines)\n"
		"  -l ADDRESS:PORT          same as --listener\n"
		"  -v, --verbose            same as --log-level debug\n"
		"  -h, --help               this help\n"
		"\n"
		"settings (in FILE as 'key value', here as --key-name VALUE):\n");
	if (out == stdout)
		config_print_keys();
	fprintf(out, "\nSee docs/configuration.md for limits and details.\n");
}

/* Splits argv into the config path and --key value overrides. */
static int parse_args(int argc, char **argv, const char **path, struct config_overrides *ov)
{
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *eq;

		if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			usage(stdout);
			return 1;
		}
		if (ov->n == CONFIG_MAX_OVERRIDES) {
			fprintf(stderr, "agora serve: too many options\n");
			return -1;
		}
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			ov->key[ov->n] = "log_level";
			ov->value[ov->n++] = "debug";
			continue;
		}
		if (strncmp(a, "--", 2) != 0 && strcmp(a, "-c") != 0 && strcmp(a, "-l") != 0) {
			fprintf(stderr, "agora serve: unexpected argument '%s'\n", a);
			return -1;
		}
		eq = strchr(a, '=');
		if (eq) {
			/* --key=value: point into argv, the NUL goes where '=' was */
			argv[i][eq - a] = '\0';
			ov->key[ov->n] = a + 2;
			ov->value[ov->n++] = eq + 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "agora serve: %s needs a value\n", a);
			return -1;
		}
		if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			*path = argv[++i];
			continue;
		}
		ov->key[ov->n] = strcmp(a, "-l") == 0 ? "listener" : a + 2;
		ov->value[ov->n++] = argv[++i];
	}
	return 0;
}

/* What the whole process needs before a server starts. */
static void prepare_process(const struct agora_config *cfg)
{
	uint64_t fds = (uint64_t)cfg->max_connections + cfg->http.max_connections +
		       (cfg->poll.nlisteners ? cfg->poll.max_connections : 0) + 64;

	log_set_level((enum log_level)cfg->log_level);
	/* A peer gone mid-write is an error code on that connection, not the
	 * end of the process. */
	signal(SIGPIPE, SIG_IGN);
	/* A file-size limit reached by broker.log is a failed write (EFBIG):
	 * acknowledgements wait, the broker goes on. */
	signal(SIGXFSZ, SIG_IGN);
	/* One descriptor per connection, plus listeners and a margin. */
	if (fdlimit_raise(fds) < fds)
		log_warn("the open-file limit is below max_connections (%u) + http_max_connections "
			 "(%u)%s: connections beyond it will fail to be accepted",
			 cfg->max_connections, cfg->http.max_connections,
			 cfg->poll.nlisteners ? " + poll_max_connections" : "");
}

static int serve(const struct agora_config *cfg, const char *path,
		 const struct config_overrides *ov)
{
	struct server *srv;
	int status;

	prepare_process(cfg);
	srv = server_new(cfg, path, ov);
	if (!srv)
		return EXIT_LOCAL; /* the data directory or the store (logged) */
	status = server_start(srv);
	if (status == 0) {
		log_flush_on_crash();
		log_buffering(true); /* written once per loop turn */
		server_run(srv);
		log_buffering(false);
	}
	server_free(srv);
	if (status != 0)
		return EXIT_NET; /* a listener could not be opened (logged) */
	log_info("stopped");
	return EXIT_OK;
}

int cmd_serve(int argc, char **argv)
{
	static struct config_overrides ov; /* outlives the run: SIGHUP re-reads it */
	struct agora_config cfg;
	const char *path = NULL;
	char err[CONFIG_ERR_LEN];
	int rc = parse_args(argc, argv, &path, &ov);

	if (rc)
		return rc > 0 ? EXIT_OK : EXIT_USAGE;
	if (config_build(&cfg, path, &ov, err, sizeof(err))) {
		fprintf(stderr, "agora serve: %s\n", err);
		return EXIT_USAGE;
	}
	return serve(&cfg, path, &ov);
}
