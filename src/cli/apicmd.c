/*
 * apicmd.c - what the REST API's commands share (apicmd.h): options,
 * server, credentials, one request, the run. Taken out of account.c when
 * poll.c became the second family on the API, so both parse, ask and fail
 * the same way.
 */
#include "apicmd.h"

#include "commands.h"

#include "client/shell.h"
#include "tls/tls.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TIMEOUT_MAX_S 3600.0
#define OFFSET_MAX 2147483647L

/* getopt_long's values for the long options */
enum { OPT_SERVER = 256, OPT_TIMEOUT, OPT_PASSWORD_FILE, OPT_JSON, OPT_UNREAD, OPT_FOLLOW,
       OPT_LIMIT, OPT_MARK_READ, OPT_LOCAL, OPT_OFFSET, OPT_CLOSES_IN, OPT_CLOSES_AT,
       OPT_CHANGE, OPT_MQTT, OPT_CAFILE, OPT_INSECURE, OPT_ACTION, OPT_DISABLED, OPT_TOPIC,
       OPT_PAYLOAD, OPT_USERNAME, OPT_CLIENTID, OPT_QOS, OPT_RETAIN };

/* ---- options ---- */

const char apicmd_common_help[] =
	"  --server URL           the server's API (default: $AGORA_SERVER, else "
	REST_DEFAULT_SERVER ")\n"
	"  --cafile FILE          https: trust the CA certificates in FILE (PEM) to vouch for\n"
	"                         the server (default: $AGORA_CAFILE, else the system's CAs)\n"
	"  --insecure             https: do not check the server's certificate (development\n"
	"                         only: anyone in between can read the token)\n"
	"  --timeout SECONDS      give up on a request after this long (default 30)\n"
	"  -h, --help             this help\n"
	"\n"
	"The token of `agora login` is kept in $XDG_CONFIG_HOME/agora/credentials\n"
	"(~/.config/agora/credentials). Exit status: 0 done, 1 bad usage, 2 cannot reach the\n"
	"server, 3 refused by the server, 4 local failure (credentials file, terminal, not\n"
	"logged in).\n";

static const char password_help[] =
	"The password is asked on the terminal (not echoed), or read from the first line of\n"
	"FILE, or from the first line of standard input when it is not a terminal.\n"
	"\n"
	"  --password-file FILE   read the password from FILE's first line\n";

void apicmd_usage(const struct apicmd_spec *s)
{
	printf("usage: agora %s %s [--server URL]\n\n%s", s->name, s->synopsis, s->text);
	if (s->flags & APICMD_PASSWORD_FILE)
		printf("\n%s", password_help);
	printf("%s%s", s->flags & APICMD_PASSWORD_FILE ? "" : "\n", apicmd_common_help);
}

/* A number of seconds, > 0 and at most TIMEOUT_MAX_S, in ms. */
static bool parse_timeout(const char *s, long *ms)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v <= 0 || v > TIMEOUT_MAX_S)
		return false;
	*ms = (long)ceil(v * 1000);
	return true;
}

static bool parse_long(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return false;
	*out = v;
	return true;
}

static const struct option long_options[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "server", required_argument, NULL, OPT_SERVER },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "password-file", required_argument, NULL, OPT_PASSWORD_FILE },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "unread", no_argument, NULL, OPT_UNREAD },
	{ "follow", no_argument, NULL, OPT_FOLLOW },
	{ "limit", required_argument, NULL, OPT_LIMIT },
	{ "mark-read", no_argument, NULL, OPT_MARK_READ },
	{ "local", no_argument, NULL, OPT_LOCAL },
	{ "offset", required_argument, NULL, OPT_OFFSET },
	{ "closes-in", required_argument, NULL, OPT_CLOSES_IN },
	{ "closes-at", required_argument, NULL, OPT_CLOSES_AT },
	{ "change", no_argument, NULL, OPT_CHANGE },
	{ "mqtt", required_argument, NULL, OPT_MQTT },
	{ "cafile", required_argument, NULL, OPT_CAFILE },
	{ "insecure", no_argument, NULL, OPT_INSECURE },
	{ "action", required_argument, NULL, OPT_ACTION },
	{ "disabled", no_argument, NULL, OPT_DISABLED },
	{ "topic", required_argument, NULL, OPT_TOPIC },
	{ "payload", required_argument, NULL, OPT_PAYLOAD },
	{ "username", required_argument, NULL, OPT_USERNAME },
	{ "clientid", required_argument, NULL, OPT_CLIENTID },
	{ "qos", required_argument, NULL, OPT_QOS },
	{ "retain", no_argument, NULL, OPT_RETAIN },
	{ NULL, 0, NULL, 0 },
};

/* The APICMD_* flag an option needs, 0 for the common ones. */
static unsigned option_flag(int opt)
{
	switch (opt) {
	case OPT_PASSWORD_FILE: return APICMD_PASSWORD_FILE;
	case OPT_JSON: return APICMD_JSON;
	case OPT_UNREAD: return APICMD_UNREAD;
	case OPT_FOLLOW: return APICMD_FOLLOW;
	case OPT_LIMIT: return APICMD_LIMIT;
	case OPT_MARK_READ: return APICMD_MARK_READ;
	case OPT_LOCAL: return APICMD_LOCAL;
	case OPT_OFFSET: return APICMD_OFFSET;
	case OPT_CLOSES_IN:
	case OPT_CLOSES_AT: return APICMD_CLOSES;
	case OPT_CHANGE: return APICMD_CHANGE;
	case OPT_MQTT: return APICMD_MQTT;
	case OPT_ACTION:
	case OPT_DISABLED: return APICMD_RULE;
	case OPT_TOPIC:
	case OPT_PAYLOAD:
	case OPT_USERNAME:
	case OPT_CLIENTID:
	case OPT_QOS:
	case OPT_RETAIN: return APICMD_SAMPLE;
	default: return 0;
	}
}

static const char *option_name(int opt)
{
	for (const struct option *o = long_options; o->name; o++)
		if (o->val == opt)
			return o->name;
	return "?";
}

/* --mqtt HOST[:PORT] (an IPv6 address in brackets). */
static bool parse_mqtt(struct apicmd_opts *o, const char *arg)
{
	char err[160];

	free(o->mqtt_host); /* given again: the last one counts */
	o->mqtt_host = NULL;
	/* No port: 0, chosen once the server is known (1883, or 8883 under https). */
	if (client_address_parse(arg, strlen(arg), 0, &o->mqtt_host, &o->mqtt_port, err,
				 sizeof(err)) == 0 &&
	    strlen(o->mqtt_host) < APICMD_HOST_MAX)
		return true;
	fprintf(stderr, "agora %s: --mqtt '%s': %s\n", o->spec->name, arg,
		o->mqtt_host ? "the host name is too long" : err);
	return false;
}

/* The options with a number: false (with the error said) when it is bad. */
static bool apply_number(struct apicmd_opts *o, int opt, const char *arg)
{
	const char *cmd = o->spec->name;

	switch (opt) {
	case OPT_TIMEOUT:
		if (parse_timeout(arg, &o->timeout_ms))
			return true;
		fprintf(stderr, "agora %s: --timeout '%s': a number of seconds above 0, "
				"at most %.0f\n",
			cmd, arg, TIMEOUT_MAX_S);
		return false;
	case OPT_QOS:
		if (parse_long(arg, 0, 2, &o->qos))
			return true;
		fprintf(stderr, "agora %s: --qos '%s': 0, 1 or 2\n", cmd, arg);
		return false;
	case OPT_LIMIT:
		if (parse_long(arg, 1, APICMD_LIMIT_MAX, &o->limit))
			return true;
		fprintf(stderr, "agora %s: --limit '%s': a number from 1 to %d\n", cmd, arg,
			APICMD_LIMIT_MAX);
		return false;
	default: /* OPT_OFFSET */
		if (parse_long(arg, 0, OFFSET_MAX, &o->offset))
			return true;
		fprintf(stderr, "agora %s: --offset '%s': a number from 0 to %ld\n", cmd, arg,
			OFFSET_MAX);
		return false;
	}
}

/* --action JSON, kept as given (the server checks it); false when given
 * too often. */
static bool add_action(struct apicmd_opts *o, const char *arg)
{
	if (o->nactions == APICMD_ACTIONS_MAX) {
		fprintf(stderr, "agora %s: more than %d --action\n", o->spec->name,
			APICMD_ACTIONS_MAX);
		return false;
	}
	o->actions[o->nactions++] = arg;
	return true;
}

/* Applies one option; false (with the error said) when its value is bad. */
static bool apply_option(struct apicmd_opts *o, int opt, const char *arg)
{
	switch (opt) {
	case OPT_SERVER: o->server_arg = arg; break;
	case OPT_CAFILE: o->cafile = arg; break;
	case OPT_INSECURE: o->insecure = true; break;
	case OPT_PASSWORD_FILE: o->password_file = arg; break;
	case OPT_JSON: o->json = true; break;
	case OPT_UNREAD: o->unread = true; break;
	case OPT_FOLLOW: o->follow = true; break;
	case OPT_MARK_READ: o->mark_read = true; break;
	case OPT_LOCAL: o->local = true; break;
	case OPT_CLOSES_IN: o->closes_in = arg; break;
	case OPT_CLOSES_AT: o->closes_at = arg; break;
	case OPT_CHANGE: o->change = true; break;
	case OPT_MQTT: return parse_mqtt(o, arg);
	case OPT_ACTION: return add_action(o, arg);
	case OPT_DISABLED: o->disabled = true; break;
	case OPT_TOPIC: o->topic = arg; break;
	case OPT_PAYLOAD: o->payload = arg; break;
	case OPT_USERNAME: o->username = arg; break;
	case OPT_CLIENTID: o->clientid = arg; break;
	case OPT_RETAIN: o->retain = true; break;
	case OPT_QOS:
	case OPT_TIMEOUT:
	case OPT_LIMIT:
	case OPT_OFFSET: return apply_number(o, opt, arg);
	}
	return true;
}

/* getopt's '?' or ':': the option named as the user wrote it. */
static void say_bad_option(const struct apicmd_spec *s, int opt, char **argv)
{
	const char *prev = argv[optind - 1];
	char shortopt[3] = { '-', (char)optopt, '\0' };
	/* a long option is argv's word; a short one may be in a group */
	const char *bad = strncmp(prev, "--", 2) == 0 ? prev : shortopt;

	if (opt == ':')
		fprintf(stderr, "agora %s: %s needs a value\n", s->name, bad);
	else
		fprintf(stderr, "agora %s: unknown option '%s'; see agora %s --help\n", s->name,
			bad, s->name);
}

/* Returns -1 on success (go on), else the exit status (--help: EXIT_OK). */
static int parse(const struct apicmd_spec *s, int argc, char **argv, struct apicmd_opts *o)
{
	int opt;

	memset(o, 0, sizeof(*o));
	o->spec = s;
	o->timeout_ms = REST_TIMEOUT_MS;
	o->limit = APICMD_LIMIT_DEFAULT;
	o->qos = -1;
	opterr = 0; /* our own messages */
	optind = 1;
	while ((opt = getopt_long(argc, argv, ":h", long_options, NULL)) != -1) {
		if (opt == 'h') {
			apicmd_usage(s);
			return EXIT_OK;
		}
		if (opt == '?' || opt == ':') {
			say_bad_option(s, opt, argv);
			return EXIT_USAGE;
		}
		if (option_flag(opt) && !(s->flags & option_flag(opt))) {
			fprintf(stderr, "agora %s: --%s does not apply to this command; "
					"see agora %s --help\n",
				s->name, option_name(opt), s->name);
			return EXIT_USAGE;
		}
		if (!apply_option(o, opt, optarg))
			return EXIT_USAGE;
	}
	if (o->mqtt_host && !o->follow) {
		fprintf(stderr, "agora %s: --mqtt goes with --follow\n", s->name);
		return EXIT_USAGE;
	}
	o->nargs = argc - optind;
	o->args = argv + optind;
	if (o->nargs < s->min_args || (s->max_args >= 0 && o->nargs > s->max_args)) {
		fprintf(stderr, "agora %s: %s; usage: agora %s %s\n", s->name,
			o->nargs < s->min_args ? "missing arguments" : "too many arguments",
			s->name, s->synopsis);
		return EXIT_USAGE;
	}
	return -1;
}

/* ---- one command's run ---- */

/* The server from --server, $AGORA_SERVER or the default, made canonical. */
static int choose_server(struct apicmd *c)
{
	const char *env = getenv("AGORA_SERVER");
	const char *url = c->o.server_arg ? c->o.server_arg
			  : env && env[0]     ? env
					      : REST_DEFAULT_SERVER;
	const char *why;

	if (rest_url_canonical(url, c->rc.server, sizeof(c->rc.server), &why)) {
		fprintf(stderr, "agora %s: %s '%s': %s\n", c->cmd,
			c->o.server_arg ? "--server" : "AGORA_SERVER", url, why);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

/* The CAs for https from --cafile or $AGORA_CAFILE; --insecure. Under
 * https the file is loaded once now, as `agora pub --cafile` loads it, so
 * a file that is missing or holds no certificate is a usage error (1)
 * before any request, not a network one later. */
static int choose_trust(struct apicmd *c)
{
	const char *env = getenv("AGORA_CAFILE");
	char host[APICMD_HOST_MAX], err[512];
	struct tls_settings s = { .role = TLS_CLIENT, .server_name = host };
	struct tls_config *cfg;

	c->rc.cafile = c->o.cafile ? c->o.cafile : env && env[0] ? env : NULL;
	c->rc.insecure = c->o.insecure;
	if (!c->rc.cafile || strncmp(c->rc.server, "https://", 8) != 0 ||
	    rest_url_host(c->rc.server, host, sizeof(host)))
		return EXIT_OK;
	s.cafile = c->rc.cafile;
	cfg = tls_config_new(&s, err, sizeof(err));
	if (!cfg) {
		fprintf(stderr, "agora %s: %s%s\n", c->cmd, c->o.cafile ? "" : "AGORA_CAFILE: ", err);
		return EXIT_USAGE;
	}
	tls_config_unref(cfg);
	return EXIT_OK;
}

int apicmd_load_creds(struct apicmd *c)
{
	char err[PATH_MAX + 256];

	if (c->creds)
		return EXIT_OK;
	if (creds_path(c->creds_path, sizeof(c->creds_path), err, sizeof(err)) ||
	    creds_load(c->creds_path, &c->creds, err, sizeof(err))) {
		fprintf(stderr, "agora %s: %s\n", c->cmd, err);
		return EXIT_LOCAL;
	}
	return EXIT_OK;
}

int apicmd_save_creds(struct apicmd *c)
{
	char err[PATH_MAX + 256];
	sigset_t block, old;
	int rc;

	/* Not killed by ^C between the temporary file and its rename. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
	rc = creds_save(c->creds_path, c->creds, err, sizeof(err));
	sigprocmask(SIG_SETMASK, &old, NULL);
	if (rc) {
		fprintf(stderr, "agora %s: %s\n", c->cmd, err);
		return EXIT_LOCAL;
	}
	return EXIT_OK;
}

int apicmd_need_login(struct apicmd *c)
{
	int rc = apicmd_load_creds(c);

	if (rc)
		return rc;
	if (!creds_get(c->creds, c->rc.server, &c->me)) {
		fprintf(stderr, "agora %s: not logged in on %s (run: agora login NAME)\n", c->cmd,
			c->rc.server);
		return EXIT_LOCAL;
	}
	c->rc.token = c->me.token;
	return EXIT_OK;
}

/* Whether an error answer's code (its JSON body's error.code) is `code`. */
static bool error_code_is(const struct rest_answer *a, const char *code)
{
	json_t *root = a->body ? json_loadb(a->body, a->len, 0, NULL) : NULL;
	const char *got = json_string_value(json_object_get(json_object_get(root, "error"),
							    "code"));
	bool is = got && strcmp(got, code) == 0;

	json_decref(root);
	return is;
}

/* The one line for a refusal; a refused token says how to get another. */
static void say_refused(struct apicmd *c, const struct rest_answer *a)
{
	char line[REST_MESSAGE_MAX + 128];

	rest_error_line(a->status, a->body, a->len, line, sizeof(line));
	if (a->status == 401 && c->rc.token)
		fprintf(stderr, "agora %s: %s; log in again: agora login %s\n", c->cmd, line,
			c->me.name ? c->me.name : "NAME");
	else if (c->hint_code && error_code_is(a, c->hint_code))
		fprintf(stderr, "agora %s: %s; %s\n", c->cmd, line, c->hint);
	else
		fprintf(stderr, "agora %s: %s\n", c->cmd, line);
}

/* c->refusal: the answer's "error" object, if it has one. */
static void keep_refusal(struct apicmd *c, const struct rest_answer *a)
{
	json_t *root = a->body ? json_loadb(a->body, a->len, 0, NULL) : NULL;
	json_t *err = json_object_get(root, "error");

	json_decref(c->refusal);
	c->refusal = json_is_object(err) ? json_incref(err) : NULL;
	json_decref(root);
}

int apicmd_not_the_api(struct apicmd *c)
{
	fprintf(stderr, "agora %s: the answer of %s is not the API's JSON\n", c->cmd,
		c->rc.server);
	return EXIT_NET;
}

int apicmd_call(struct apicmd *c, const char *method, const char *path, const json_t *body,
		long expect, json_t **out, long quiet)
{
	char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
	struct rest_answer a;
	char err[REST_URL_MAX + 256];
	int rc;

	c->status = 0;
	if (out)
		*out = NULL;
	if (body && !text) {
		fprintf(stderr, "agora %s: out of memory\n", c->cmd);
		return EXIT_LOCAL;
	}
	rc = rest_request(&c->rc, method, path, text, &a, err, sizeof(err));
	if (text) {
		memset(text, 0, strlen(text));
		free(text);
	}
	if (rc) {
		fprintf(stderr, "agora %s: %s\n", c->cmd, err);
		return EXIT_NET;
	}
	c->status = a.status;
	if (a.status != expect) {
		keep_refusal(c, &a);
		if (a.status != quiet)
			say_refused(c, &a);
		rc = a.status >= 400 ? EXIT_REFUSED : EXIT_NET;
		goto out;
	}
	if (out && expect != 204) {
		*out = json_loadb(a.body ? a.body : "", a.len, 0, NULL);
		if (!json_is_object(*out)) {
			json_decref(*out);
			*out = NULL;
			rc = apicmd_not_the_api(c);
		}
	}
out:
	if (a.body)
		memset(a.body, 0, a.len); /* may hold a token */
	rest_answer_release(&a);
	return rc;
}

int apicmd_mqtt_address(struct apicmd *c, char *host, size_t len, uint16_t *port,
			struct follow_tls *tls)
{
	/* The token is the MQTT password: under https it never goes in clear
	 * over MQTT either. */
	tls->on = strncmp(c->rc.server, "https://", 8) == 0;
	tls->cafile = c->rc.cafile;
	tls->insecure = c->rc.insecure;
	*port = c->o.mqtt_port ? c->o.mqtt_port : tls->on ? APICMD_MQTTS_PORT : APICMD_MQTT_PORT;
	if (c->o.mqtt_host) {
		snprintf(host, len, "%s", c->o.mqtt_host); /* it fits: parse_mqtt */
		return EXIT_OK;
	}
	if (rest_url_host(c->rc.server, host, len)) {
		fprintf(stderr, "agora %s: no host in %s; give --mqtt HOST:PORT\n", c->cmd,
			c->rc.server);
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

int apicmd_run(const struct apicmd_spec *spec, int (*fn)(struct apicmd *), int argc,
	       char **argv)
{
	struct apicmd c = { .cmd = spec->name };
	int rc = parse(spec, argc, argv, &c.o);

	if (rc >= 0)
		goto out_opts;
	rest_client_init(&c.rc);
	c.rc.timeout_ms = c.o.timeout_ms;
	if (c.rc.connect_timeout_ms > c.o.timeout_ms)
		c.rc.connect_timeout_ms = c.o.timeout_ms;
	if ((rc = choose_server(&c)))
		goto out_opts;
	if ((rc = choose_trust(&c)))
		goto out_opts;
	/* A server gone mid-request is an error code, not the end of agora. */
	signal(SIGPIPE, SIG_IGN);
	if (rest_global_init()) {
		fprintf(stderr, "agora %s: cannot initialise libcurl\n", c.cmd);
		rc = EXIT_LOCAL;
		goto out_opts;
	}
	rc = fn(&c);
	rest_client_release(&c.rc);
	rest_global_cleanup();
	json_decref(c.creds);
	json_decref(c.refusal);
	/* `agora users | head -1` is not an error; a full disk is. */
	if (fflush(stdout) != 0 && errno != EPIPE && rc == EXIT_OK) {
		fprintf(stderr, "agora %s: cannot write the output: %s\n", c.cmd, strerror(errno));
		rc = EXIT_LOCAL;
	}
out_opts:
	free(c.o.mqtt_host);
	return rc;
}

/* One page of a list into all; *got its size, *total the server's count
 * (-1 if it gave none). */
static int get_page(struct apicmd *c, const char *path, const char *key, json_t *all,
		    size_t *got, long long *total)
{
	json_t *page = NULL, *items, *t;
	int rc = apicmd_call(c, "GET", path, NULL, 200, &page, 0);

	if (rc)
		return rc;
	items = json_object_get(page, key);
	t = json_object_get(page, "total");
	*total = json_is_integer(t) ? json_integer_value(t) : -1;
	if (!json_is_array(items)) {
		json_decref(page);
		return apicmd_not_the_api(c);
	}
	*got = json_array_size(items);
	json_array_extend(all, items);
	json_decref(page); /* items with it */
	return EXIT_OK;
}

int apicmd_get_pages(struct apicmd *c, const char *query, const char *key, long offset,
		     long limit, json_t **out, long long *total)
{
	json_t *all = json_array();
	long long count = -1;
	char path[256];
	int rc = EXIT_OK;

	while ((long)json_array_size(all) < limit) {
		long have = (long)json_array_size(all);
		long want = limit - have < APICMD_PAGE ? limit - have : APICMD_PAGE;
		size_t got = 0;

		snprintf(path, sizeof(path), "%slimit=%ld&offset=%ld", query, want, offset + have);
		if ((rc = get_page(c, path, key, all, &got, &count)))
			break;
		/* a short page is the last; so is one that reaches the total */
		if ((long)got < want || (count >= 0 && offset + have + (long)got >= count))
			break;
	}
	if (rc) {
		json_decref(all);
		return rc;
	}
	*out = all;
	if (total)
		*total = count < 0 ? 0 : count;
	return EXIT_OK;
}
