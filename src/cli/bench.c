/* bench.c - `agora bench SCENARIO [options]`: parse options, run, report. */
#include "commands.h"

#include "bench/bench.h"
#include "client/client.h"
#include "client/shell.h"
#include "tls/tls.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void usage(FILE *out)
{
	fprintf(out,
		"usage: agora bench SCENARIO [options]\n"
		"\n"
		"scenarios:\n"
		"  pubsub     P publishers -> S subscribers on T topics\n"
		"  fanout     1 publisher -> N subscribers (-S, default 100)\n"
		"  fanin      N publishers (-P, default 100) -> 1 subscriber\n"
		"  retained   publish M retained topics, then S subscribers subscribe to them all\n"
		"  conns      open N idle connections at a given rate and hold them\n"
		"\n"
		"options:\n"
		"  -h HOST          broker address (default 127.0.0.1; loopback only in tests)\n"
		"  -p PORT          broker port (default 1883, 8883 with TLS; with --ws, the HTTP port)\n"
		"  --ws [PATH]      every client over WebSocket, upgrading at PATH (default /mqtt)\n"
		CLIENT_TLS_HELP
		"                   (every client over TLS, verifying -h unless --insecure)\n"
		"  -P N             publishers            -S N   subscribers\n"
		"  -t N             topics (pubsub)       -q QOS quality of service 0, 1 or 2\n"
		"  -s BYTES         payload size (>= %d, default 64)\n"
		"  -n N             messages in all (default 100000; 0 = until --duration)\n"
		"  -d SECONDS       time bound of the measured phase (default 10)\n"
		"  --rate R         publish R messages/s in all (latency runs)\n"
		"  --window W       keep at most W messages in flight end to end (default 1000)\n"
		"  --connections N  conns: connections (default 1000)\n"
		"  --connect-rate R conns: connections opened per second (default: as fast as possible)\n"
		"  --hold SECONDS   conns: how long to hold them (default 1)\n"
		"  --retained M     retained: topics (default 1000)\n"
		"  -V 4|5           MQTT 3.1.1 (default) or 5.0 for every client\n"
		"  --persistent     subscribers keep their session (clean session 0; MQTT 5:\n"
		"                   Session Expiry Interval 3600), a new one each run\n"
		"  --pid PID        sample this broker process's CPU and memory\n"
		"  --json           one JSON object instead of the table\n",
		BENCH_PAYLOAD_MIN);
}

static int num(const char *flag, const char *v, double lo, double hi, double *out)
{
	char *end;

	errno = 0;
	*out = strtod(v, &end);
	if (errno || *end || end == v || *out < lo || *out > hi) {
		fprintf(stderr, "agora bench: %s: '%s' is not a number from %g to %g\n", flag, v,
			lo, hi);
		return -1;
	}
	return 0;
}

/* Applies one option with its value; returns 0 or -1. */
static int set_option(struct bench_opts *o, const char *f, const char *v)
{
	double x;

	if (strcmp(f, "-h") == 0 || strcmp(f, "--host") == 0) {
		if (strlen(v) >= sizeof(o->host)) {
			fprintf(stderr, "agora bench: %s: '%s' is longer than a host name can be\n",
				f, v);
			return -1;
		}
		snprintf(o->host, sizeof(o->host), "%s", v);
		return 0;
	}
	if (strcmp(f, "-p") == 0 || strcmp(f, "--port") == 0)
		return num(f, v, 1, 65535, &x) ? -1 : (o->port = (uint16_t)x, 0);
	if (strcmp(f, "-P") == 0 || strcmp(f, "--publishers") == 0)
		return num(f, v, 1, 100000, &x) ? -1 : (o->publishers = (uint32_t)x, 0);
	if (strcmp(f, "-S") == 0 || strcmp(f, "--subscribers") == 0)
		return num(f, v, 1, 100000, &x) ? -1 : (o->subscribers = (uint32_t)x, 0);
	if (strcmp(f, "-t") == 0 || strcmp(f, "--topics") == 0)
		return num(f, v, 1, 100000, &x) ? -1 : (o->topics = (uint32_t)x, 0);
	if (strcmp(f, "-q") == 0 || strcmp(f, "--qos") == 0)
		return num(f, v, 0, 2, &x) ? -1 : (o->qos = (uint8_t)x, 0);
	if (strcmp(f, "-s") == 0 || strcmp(f, "--size") == 0)
		return num(f, v, BENCH_PAYLOAD_MIN, 1 << 20, &x) ? -1 : (o->payload = (uint32_t)x, 0);
	if (strcmp(f, "-n") == 0 || strcmp(f, "--count") == 0)
		return num(f, v, 0, 1e12, &x) ? -1 : (o->count = (uint64_t)x, 0);
	if (strcmp(f, "-d") == 0 || strcmp(f, "--duration") == 0)
		return num(f, v, 0.01, 3600, &o->duration);
	if (strcmp(f, "--rate") == 0)
		return num(f, v, 1, 1e8, &o->rate);
	if (strcmp(f, "--window") == 0)
		return num(f, v, 1, 1e7, &x) ? -1 : (o->window = (uint32_t)x, 0);
	if (strcmp(f, "--connections") == 0)
		return num(f, v, 1, 1e6, &x) ? -1 : (o->connections = (uint32_t)x, 0);
	if (strcmp(f, "--connect-rate") == 0)
		return num(f, v, 1, 1e7, &o->connect_rate);
	if (strcmp(f, "--hold") == 0)
		return num(f, v, 0, 3600, &o->hold);
	if (strcmp(f, "--retained") == 0)
		return num(f, v, 1, 1e7, &x) ? -1 : (o->retained = (uint32_t)x, 0);
	if (strcmp(f, "-V") == 0 || strcmp(f, "--protocol") == 0) {
		if (num(f, v, 4, 5, &x))
			return -1;
		o->protocol = (uint8_t)x;
		return 0;
	}
	if (strcmp(f, "--pid") == 0)
		return num(f, v, 1, 1e9, &x) ? -1 : (o->broker_pid = (int)x, 0);
	fprintf(stderr, "agora bench: unknown option '%s' (see agora bench --help)\n", f);
	return -1;
}

/* --ws [PATH]: the value is optional, so taken only when it is a path.
 * Returns the arguments it used beyond the flag (0 or 1). */
static int ws_option(struct bench_opts *o, const char *next)
{
	bool path = next && next[0] == '/' && strlen(next) < sizeof(o->ws_path);

	snprintf(o->ws_path, sizeof(o->ws_path), "%s", path ? next : "/mqtt");
	return path ? 1 : 0;
}

/* The TLS options, once all are parsed: the config every client uses,
 * verifying the server by -h. Returns 0 (o->tls NULL without TLS) or -1
 * (said). */
static int tls_setup(struct bench_opts *o, const struct client_tls_args *t, bool port_given)
{
	char err[512];

	if (!client_tls_wanted(t))
		return 0;
	if (o->ws_path[0]) {
		fprintf(stderr, "agora bench: --ws cannot go with TLS (yet)\n");
		return -1;
	}
	if (client_tls_args_check(t, err, sizeof(err)) == 0)
		o->tls = client_tls_config(t, o->host, err, sizeof(err));
	if (!o->tls) {
		fprintf(stderr, "agora bench: %s\n", err);
		return -1;
	}
	if (!port_given)
		o->port = 8883; /* as pub and sub: MQTT's TLS port */
	return 0;
}

int cmd_bench(int argc, char **argv)
{
	struct bench_opts o;
	struct client_tls_args tls = { 0 };
	struct bench_result *r;
	bool port_given = false;
	int scenario, rc, used;
	char err[300];

	if (argc < 2 || wants_help(2, argv)) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? EXIT_USAGE : EXIT_OK;
	}
	scenario = bench_scenario_parse(argv[1]);
	if (scenario < 0) {
		fprintf(stderr, "agora bench: unknown scenario '%s' (see agora bench --help)\n",
			argv[1]);
		return EXIT_USAGE;
	}
	bench_opts_defaults(&o, (enum bench_scenario)scenario);
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			o.json = true;
			continue;
		}
		if (strcmp(argv[i], "--persistent") == 0) {
			o.persistent = true;
			continue;
		}
		if (strcmp(argv[i], "--ws") == 0) {
			i += ws_option(&o, i + 1 < argc ? argv[i + 1] : NULL);
			continue;
		}
		if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return EXIT_OK;
		}
		/* the TLS options: pub's and sub's (client/tls_args.c) */
		used = client_tls_arg(&tls, argc - i, argv + i, err, sizeof(err));
		if (used < 0) {
			fprintf(stderr, "agora bench: %s\n", err);
			return EXIT_USAGE;
		}
		if (used) {
			i += used - 1;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "agora bench: %s needs a value\n", argv[i]);
			return EXIT_USAGE;
		}
		if (set_option(&o, argv[i], argv[i + 1]))
			return EXIT_USAGE;
		port_given |= !strcmp(argv[i], "-p") || !strcmp(argv[i], "--port");
		i++;
	}
	if (tls_setup(&o, &tls, port_given))
		return EXIT_USAGE;
	if (o.scenario == BENCH_FANOUT)
		o.publishers = 1;
	if (o.scenario == BENCH_FANIN)
		o.subscribers = 1;
	r = malloc(sizeof(*r)); /* the histogram is ~10 KiB: keep it off the stack */
	if (!r) {
		fprintf(stderr, "agora bench: out of memory\n");
		tls_config_unref(o.tls);
		return EXIT_LOCAL;
	}
	rc = bench_run(&o, r) ? EXIT_NET : EXIT_OK;
	bench_print(&o, r);
	if (rc == EXIT_OK && o.qos > 0 && o.scenario != BENCH_CONNS &&
	    (r->lost || r->duplicates || r->out_of_order))
		rc = EXIT_CHECK; /* a QoS 1/2 run that lost, duplicated or reordered */
	free(r);
	tls_config_unref(o.tls);
	return rc;
}
