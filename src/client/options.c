/*
 * options.c - the command lines of `agora pub` and `agora sub` (shell.h),
 * spelled as mosquitto_pub's and mosquitto_sub's: one table row per
 * option (its short and long names, whether it takes a value, which of
 * the two commands knows it), one function applying each, then one check
 * of the whole.
 */
#include "shell.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { PUB = 1, SUB = 2, BOTH = 3 };

struct opt {
	const char *s, *l; /* short and long names (either may be NULL) */
	bool value;
	uint8_t cmds;
	int (*apply)(struct client_cmdline *o, const char *name, const char *v, char *err,
		     size_t errlen);
};

static int number(const char *name, const char *v, uint64_t lo, uint64_t hi, uint64_t *out,
		  char *err, size_t errlen)
{
	char *end;
	unsigned long long x;

	errno = 0;
	x = strtoull(v, &end, 10);
	if (errno || end == v || *end || *v == '-' || x < lo || x > hi) {
		snprintf(err, errlen, "%s: '%s' is not a number from %llu to %llu", name, v,
			 (unsigned long long)lo, (unsigned long long)hi);
		return -1;
	}
	*out = x;
	return 0;
}

static int add_topic(const char **list, uint32_t *n, const char *name, const char *v, char *err,
		     size_t errlen)
{
	if (*n >= CLIENT_MAX_TOPICS) {
		snprintf(err, errlen, "%s: more than %d given", name, CLIENT_MAX_TOPICS);
		return -1;
	}
	list[(*n)++] = v;
	return 0;
}

static int set_source(struct client_cmdline *o, enum client_source s, char *err, size_t errlen)
{
	if (o->source != CLIENT_SRC_NONE) {
		snprintf(err, errlen, "give only one message: -m, -f, -s, -l or -n");
		return -1;
	}
	o->source = s;
	return 0;
}

/* ---- one function per option ---- */

#define APPLY(fn) \
	static int fn(struct client_cmdline *o, const char *name, const char *v, char *err, \
		      size_t errlen)

APPLY(opt_host)
{
	(void)name, (void)err, (void)errlen;
	o->host = v;
	return 0;
}

APPLY(opt_port)
{
	uint64_t x;

	if (number(name, v, 1, 65535, &x, err, errlen))
		return -1;
	o->port = (uint16_t)x;
	o->port_given = true;
	return 0;
}

APPLY(opt_topic)
{
	return add_topic(o->topics, &o->ntopics, name, v, err, errlen);
}

APPLY(opt_filter_out)
{
	return add_topic(o->filter_out, &o->nfilter_out, name, v, err, errlen);
}

APPLY(opt_unsub)
{
	return add_topic(o->unsub, &o->nunsub, name, v, err, errlen);
}

APPLY(opt_message)
{
	(void)name;
	o->message = v;
	return set_source(o, CLIENT_SRC_MESSAGE, err, errlen);
}

APPLY(opt_file)
{
	(void)name;
	o->file = v;
	return set_source(o, CLIENT_SRC_FILE, err, errlen);
}

APPLY(opt_stdin)
{
	(void)name, (void)v;
	return set_source(o, CLIENT_SRC_STDIN, err, errlen);
}

APPLY(opt_lines)
{
	(void)name, (void)v;
	return set_source(o, CLIENT_SRC_LINES, err, errlen);
}

APPLY(opt_null)
{
	(void)name, (void)v;
	return set_source(o, CLIENT_SRC_NULL, err, errlen);
}

APPLY(opt_qos)
{
	uint64_t x;

	if (number(name, v, 0, 2, &x, err, errlen))
		return -1;
	o->qos = (uint8_t)x;
	return 0;
}

APPLY(opt_will_qos)
{
	uint64_t x;

	if (number(name, v, 0, 2, &x, err, errlen))
		return -1;
	o->will_qos = (uint8_t)x;
	return 0;
}

/* The flags without a value. */
APPLY(opt_flag)
{
	(void)v, (void)err, (void)errlen;
	if (!strcmp(name, "-r") || !strcmp(name, "--retain"))
		o->retain = true;
	else if (!strcmp(name, "-c") || !strcmp(name, "--disable-clean-session"))
		o->clean = false;
	else if (!strcmp(name, "-v") || !strcmp(name, "--verbose"))
		o->verbose = true;
	else if (!strcmp(name, "-N"))
		o->no_newline = true;
	else if (!strcmp(name, "-R"))
		o->no_retained = true;
	else if (!strcmp(name, "--json"))
		o->json = true;
	else if (!strcmp(name, "-d") || !strcmp(name, "--debug"))
		o->debug = true;
	else if (!strcmp(name, "--will-retain"))
		o->will_retain = true;
	return 0;
}

/* The options whose value is a plain string. */
APPLY(opt_string)
{
	(void)err, (void)errlen;
	if (!strcmp(name, "-i") || !strcmp(name, "--id"))
		o->id = v;
	else if (!strcmp(name, "-u") || !strcmp(name, "--username"))
		o->username = v;
	else if (!strcmp(name, "-P") || !strcmp(name, "--pw"))
		o->password = v;
	else if (!strcmp(name, "-F"))
		o->format = v;
	else if (!strcmp(name, "--will-topic"))
		o->will_topic = v;
	else if (!strcmp(name, "--will-payload"))
		o->will_payload = v;
	return 0;
}

APPLY(opt_keepalive)
{
	uint64_t x;

	if (number(name, v, 0, 65535, &x, err, errlen))
		return -1;
	o->keepalive = (uint16_t)x;
	return 0;
}

APPLY(opt_version)
{
	static const struct {
		const char *name;
		uint8_t level;
	} names[] = { { "mqttv31", MQTT_LEVEL_31 }, { "31", MQTT_LEVEL_31 },
		      { "mqttv311", MQTT_LEVEL_311 }, { "311", MQTT_LEVEL_311 },
		      { "mqttv5", MQTT_LEVEL_5 }, { "5", MQTT_LEVEL_5 } };

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcmp(v, names[i].name)) {
			o->level = names[i].level;
			o->level_given = true;
			return 0;
		}
	snprintf(err, errlen, "%s: '%s' is not mqttv31, mqttv311 or mqttv5 (31, 311, 5)", name, v);
	return -1;
}

APPLY(opt_count)
{
	return number(name, v, 1, UINT64_MAX, &o->count, err, errlen);
}

APPLY(opt_timeout)
{
	uint64_t x;

	if (number(name, v, 1, 86400 * 365, &x, err, errlen))
		return -1;
	o->timeout = (uint32_t)x;
	return 0;
}

APPLY(opt_expiry)
{
	uint64_t x;

	/* mosquitto's -1 (and 4294967295): never expires */
	if (!strcmp(v, "-1")) {
		x = UINT32_MAX;
	} else if (number(name, v, 0, UINT32_MAX, &x, err, errlen)) {
		return -1;
	}
	o->has_session_expiry = true;
	o->session_expiry = (uint32_t)x;
	return 0;
}

APPLY(opt_url)
{
	(void)name;
	if (o->url.host) {
		snprintf(err, errlen, "-L given twice");
		return -1;
	}
	return client_url_parse(&o->url, v, err, errlen);
}

static const struct opt opts[] = {
	{ "-h", "--host", true, BOTH, opt_host },
	{ "-p", "--port", true, BOTH, opt_port },
	{ "-t", "--topic", true, BOTH, opt_topic },
	{ "-T", NULL, true, SUB, opt_filter_out },
	{ "-U", "--unsubscribe", true, SUB, opt_unsub },
	{ "-m", "--message", true, PUB, opt_message },
	{ "-f", "--file", true, PUB, opt_file },
	{ "-s", "--stdin-file", false, PUB, opt_stdin },
	{ "-l", "--stdin-line", false, PUB, opt_lines },
	{ "-n", "--null-message", false, PUB, opt_null },
	{ "-q", "--qos", true, BOTH, opt_qos },
	{ "-r", "--retain", false, PUB, opt_flag },
	{ "-c", "--disable-clean-session", false, BOTH, opt_flag },
	{ "-i", "--id", true, BOTH, opt_string },
	{ "-u", "--username", true, BOTH, opt_string },
	{ "-P", "--pw", true, BOTH, opt_string },
	{ "-k", "--keepalive", true, BOTH, opt_keepalive },
	{ "-V", "--protocol-version", true, BOTH, opt_version },
	{ "-d", "--debug", false, BOTH, opt_flag },
	{ "-x", NULL, true, BOTH, opt_expiry },
	{ "-L", "--url", true, BOTH, opt_url },
	{ NULL, "--will-topic", true, BOTH, opt_string },
	{ NULL, "--will-payload", true, BOTH, opt_string },
	{ NULL, "--will-qos", true, BOTH, opt_will_qos },
	{ NULL, "--will-retain", false, BOTH, opt_flag },
	{ "-v", "--verbose", false, SUB, opt_flag },
	{ "-C", NULL, true, SUB, opt_count },
	{ "-W", NULL, true, SUB, opt_timeout },
	{ "-N", NULL, false, SUB, opt_flag },
	{ "-R", NULL, false, SUB, opt_flag },
	{ "-F", NULL, true, SUB, opt_string },
	{ NULL, "--json", false, SUB, opt_flag },
};

void client_print_long_names(FILE *out, bool sub)
{
	size_t col = 0;

	fputs("  The long names of mosquitto's options work too:", out);
	col = 50;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++) {
		const struct opt *o = &opts[i];

		if (!o->s || !o->l || !(o->cmds & (sub ? SUB : PUB)))
			continue;
		if (col + 1 + strlen(o->l) > 78) {
			fputs("\n   ", out);
			col = 3;
		}
		fprintf(out, " %s", o->l);
		col += 1 + strlen(o->l);
	}
	fputs(col + 12 > 78 ? "\n    --property\n" : " --property\n", out);
}

static const struct opt *find_opt(const char *name, bool sub)
{
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if ((opts[i].s && !strcmp(name, opts[i].s)) ||
		    (opts[i].l && !strcmp(name, opts[i].l)))
			return opts[i].cmds & (sub ? SUB : PUB) ? &opts[i] : NULL;
	return NULL;
}

/* ---- the whole ---- */

static int check_topics(const struct client_cmdline *o, char *err, size_t errlen)
{
	const char *const *lists[] = { o->topics, o->filter_out, o->unsub };
	const uint32_t counts[] = { o->ntopics, o->nfilter_out, o->nunsub };
	const char *names[] = { "-t", "-T", "-U" };

	for (int l = 0; l < 3; l++)
		for (uint32_t i = 0; i < counts[l]; i++) {
			const uint8_t *t = (const uint8_t *)lists[l][i];
			size_t len = strlen(lists[l][i]);
			bool ok = len <= UINT16_MAX &&
				  (o->sub ? mqtt_topic_filter_valid(t, len)
					  : mqtt_topic_name_valid(t, len));
			if (!ok) {
				snprintf(err, errlen, "%s: '%s' is not a valid topic %s", names[l],
					 lists[l][i], o->sub ? "filter" : "name (no + or #)");
				return -1;
			}
		}
	if (o->will_topic &&
	    !mqtt_topic_name_valid((const uint8_t *)o->will_topic, strlen(o->will_topic))) {
		snprintf(err, errlen, "--will-topic: '%s' is not a valid topic name",
			 o->will_topic);
		return -1;
	}
	return 0;
}

/* The protocol level: -V, or MQTT 5 when -D asked for properties, or 3.1.1. */
static int settle_level(struct client_cmdline *o, char *err, size_t errlen)
{
	bool props = client_propsets_any(o->props);

	if (!o->level_given)
		o->level = props ? MQTT_LEVEL_5 : MQTT_LEVEL_311;
	if (o->level != MQTT_LEVEL_5 && props) {
		snprintf(err, errlen, "-D: properties need MQTT 5 (-V mqttv5)");
		return -1;
	}
	if (o->level != MQTT_LEVEL_5 && o->has_session_expiry) {
		snprintf(err, errlen, "-x: a session expiry needs MQTT 5 (-V mqttv5)");
		return -1;
	}
	if (o->level != MQTT_LEVEL_5 && o->password && !o->username) {
		snprintf(err, errlen, "-P: a password needs a user name (-u) before MQTT 5");
		return -1;
	}
	return 0;
}

/* What the -L URL brings: host, port, credentials, a topic. */
static int take_url(struct client_cmdline *o, char *err, size_t errlen)
{
	if (!o->url.host)
		return 0;
	o->host = o->url.host;
	o->port = o->url.port;
	if (o->url.user)
		o->username = o->url.user;
	if (o->url.password)
		o->password = o->url.password;
	return add_topic(o->topics, &o->ntopics, "-L", o->url.topic, err, errlen);
}

static int check(struct client_cmdline *o, char *err, size_t errlen)
{
	if (take_url(o, err, errlen) || check_topics(o, err, errlen) ||
	    settle_level(o, err, errlen))
		return -1;
	if (!o->sub && o->ntopics != 1) {
		snprintf(err, errlen, o->ntopics ? "give one topic (-t), not %u"
						 : "no topic: give -t TOPIC",
			 o->ntopics);
		return -1;
	}
	if (!o->sub && o->source == CLIENT_SRC_NONE) {
		snprintf(err, errlen, "no message: give -m, -f, -s, -l or -n");
		return -1;
	}
	if (o->sub && !o->ntopics && !o->nunsub) {
		snprintf(err, errlen, "no topic: give -t FILTER (or -U FILTER)");
		return -1;
	}
	if (!o->clean && !o->id) {
		snprintf(err, errlen, "-c: a persistent session needs a client id (-i)");
		return -1;
	}
	if ((o->will_payload || o->will_qos || o->will_retain) && !o->will_topic) {
		snprintf(err, errlen, "--will-payload, --will-qos and --will-retain need --will-topic");
		return -1;
	}
	if (o->json && (o->format || o->verbose)) {
		snprintf(err, errlen, "--json cannot go with -F or -v");
		return -1;
	}
	if (o->format && client_format_check(o->format, err, errlen))
		return -1;
	if (client_tls_args_check(&o->tls, err, errlen))
		return -1;
	/* mosquitto_pub's: TLS on MQTT's TLS port unless one is given */
	if (client_tls_wanted(&o->tls) && !o->port_given && !o->url.host)
		o->port = 8883;
	return 0;
}

int client_cmdline_parse(struct client_cmdline *o, bool sub, int argc, char **argv, char *err,
			 size_t errlen)
{
	memset(o, 0, sizeof(*o));
	o->sub = sub;
	o->host = "localhost";
	o->port = 1883;
	o->keepalive = 60;
	o->clean = true;
	client_propsets_init(o->props);
	for (int i = 1; i < argc; i++) {
		const char *name = argv[i];
		const struct opt *op;
		int used;

		if (!strcmp(name, "--help") || (!strcmp(name, "-h") && i + 1 == argc))
			return 1;
		if (!strcmp(name, "-D") || !strcmp(name, "--property")) {
			used = client_prop_arg(o->props, argc - i - 1, argv + i + 1, err, errlen);
			if (used < 0)
				return -1;
			i += used;
			continue;
		}
		/* the TLS options: shared with agora bench (tls_args.c) */
		used = client_tls_arg(&o->tls, argc - i, argv + i, err, errlen);
		if (used < 0)
			return -1;
		if (used) {
			i += used - 1;
			continue;
		}
		op = find_opt(name, sub);
		if (!op) {
			snprintf(err, errlen, "unknown option '%s' (see agora %s --help)", name,
				 sub ? "sub" : "pub");
			return -1;
		}
		if (op->value && i + 1 >= argc) {
			snprintf(err, errlen, "%s needs a value", name);
			return -1;
		}
		if (op->apply(o, name, op->value ? argv[i + 1] : NULL, err, errlen))
			return -1;
		i += op->value;
	}
	client_propsets_finish(o->props);
	return check(o, err, errlen) ? -1 : 0;
}

void client_cmdline_release(struct client_cmdline *o)
{
	client_propsets_release(o->props);
	client_url_release(&o->url);
}
