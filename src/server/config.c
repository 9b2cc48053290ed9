/* config.c - the settings table and its parsers. */
#include "config.h"

#include "base/log.h"
#include "rules/rules.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * Every key is one row of keys[] below; what its value means is its kind.
 * Each kind has one parser (text -> field, or an error naming the key, the
 * value and what is accepted) and one formatter (the field's default as
 * --help shows it), in kinds[]: config_set and config_print_keys are a
 * look-up and one call, and a new kind of value is one row, not a case in
 * two switches.
 */
enum key_kind {
	K_UINT,          /* whole number in [min, max] */
	K_SECONDS_MS,    /* seconds in [min, max], stored as milliseconds */
	K_LISTENER,      /* appends to cfg->listeners (the key may repeat) */
	K_LOG_LEVEL,     /* int: enum log_level */
	K_ANON,          /* enum anon_policy */
	K_PATH,          /* char[width], not empty */
	K_STRING,        /* char[width]; "" clears it */
	K_BOOL,          /* bool: yes, no, true, false */
	K_HTTP_LISTENER, /* char[width]: "address:port [options]" or "off" */
	K_SYNC,          /* bool: store_sync full */
	K_POLL_LISTENER, /* appends to cfg->poll.listeners (may repeat); "off" clears them */
	K_PERSIST,       /* enum persistence */
	K_NKINDS
};

struct key {
	const char *name;
	enum key_kind kind;
	size_t offset;  /* into struct agora_config (unused by K_LISTENER) */
	size_t width;   /* bytes of the field */
	uint64_t min, max; /* K_UINT and K_SECONDS_MS only */
	const char *help;
};

/* offset and width of a field, for the table */
#define BROKER_FIELD(f) \
	offsetof(struct agora_config, broker.f), sizeof(((struct broker_config *)0)->f)
#define HTTP_FIELD(f) offsetof(struct agora_config, http.f), sizeof(((struct http_config *)0)->f)
#define POLL_FIELD(f) offsetof(struct agora_config, poll.f), sizeof(((struct poll_config *)0)->f)
#define NOTIFY_FIELD(f) \
	offsetof(struct agora_config, notify.f), sizeof(((struct notify_config *)0)->f)
#define FIELD(f) offsetof(struct agora_config, f), sizeof(((struct agora_config *)0)->f)

static const struct key keys[] = {
	{ "listener", K_LISTENER, 0, 0, 0, 0,
	  "address:port to accept MQTT on, [anonymous=yes|no]; repeat for several ([::1]:1883)" },
	{ "max_connections", K_UINT, FIELD(max_connections), 1, 1000000,
	  "simultaneous client connections; more are closed at accept" },
	{ "max_packet_size", K_UINT, BROKER_FIELD(max_packet_size), 16, 268435460,
	  "largest MQTT packet accepted, in bytes (whole packet)" },
	{ "max_inflight_messages", K_UINT, BROKER_FIELD(max_inflight), 1, 65534,
	  "outgoing QoS 1/2 messages awaiting acknowledgement, per client" },
	{ "max_queued_messages", K_UINT, BROKER_FIELD(max_queued), 0, 10000000,
	  "QoS 1/2 messages queued per session beyond the inflight window" },
	{ "keepalive_min", K_UINT, BROKER_FIELD(keepalive_min), 0, 65535,
	  "seconds; shorter client keepalives are enforced as this" },
	{ "keepalive_max", K_UINT, BROKER_FIELD(keepalive_max), 1, 65535,
	  "seconds; a client asking more, or 0, is refused (65535 = no limit)" },
	{ "max_subscriptions", K_UINT, BROKER_FIELD(max_subscriptions), 1, 10000000,
	  "subscriptions per client" },
	{ "max_retained_messages", K_UINT, BROKER_FIELD(max_retained), 0, 100000000,
	  "retained messages held by the broker" },
	{ "max_output_buffer", K_UINT, BROKER_FIELD(max_output_bytes), 4096, 1073741824,
	  "bytes waiting to be written to one client before its QoS 0 messages drop" },
	{ "receive_maximum", K_UINT, BROKER_FIELD(receive_maximum), 1, 65535,
	  "incoming QoS 1/2 messages a client may leave unacknowledged (QoS 2 until PUBREL); "
	  "announced to MQTT 5 clients, one more closes the connection" },
	{ "max_qos2_pending", K_UINT, BROKER_FIELD(receive_maximum), 1, 65535,
	  "deprecated name of receive_maximum" },
	{ "strict_utf8", K_BOOL, BROKER_FIELD(strict_utf8), 0, 0,
	  "refuse control characters and non-characters in client ids, user names and topics" },
	{ "topic_alias_maximum", K_UINT, BROKER_FIELD(topic_alias_maximum), 0, 65535,
	  "MQTT 5 topic aliases a client may set per connection (0 = none)" },
	{ "response_information", K_STRING, BROKER_FIELD(response_information), 0, 0,
	  "MQTT 5: basis of response topics for clients that ask (\"\" = none)" },
	{ "server_reference", K_STRING, BROKER_FIELD(server_reference), 0, 0,
	  "MQTT 5 redirection: refuse CONNECTs, naming this server (\"\" = off)" },
	{ "server_moved", K_BOOL, BROKER_FIELD(server_moved), 0, 0,
	  "with server_reference: moved for good (0x9D) rather than for now (0x9C)" },
	{ "connect_timeout", K_SECONDS_MS, BROKER_FIELD(connect_timeout_ms), 1, 3600,
	  "seconds a new connection has to send CONNECT" },
	{ "sys_interval", K_UINT, BROKER_FIELD(sys_interval), 0, 86400,
	  "seconds between $SYS/broker updates (0 = off)" },
	{ "log_level", K_LOG_LEVEL, FIELD(log_level), 0, 0, "error, warn, info or debug" },
	{ "allow_anonymous", K_ANON, FIELD(allow_anonymous), 0, 0,
	  "loopback (only on loopback listeners), yes or no" },
	{ "data_dir", K_PATH, FIELD(data_dir), 0, 0,
	  "directory for the data (agora.db: users, messages)" },
	{ "http_listener", K_HTTP_LISTENER, HTTP_FIELD(listener), 0, 0,
	  "address:port of the HTTP API [tls=yes certfile= keyfile= ...: HTTPS], or off" },
	{ "http_max_connections", K_UINT, HTTP_FIELD(max_connections), 1, 1000000,
	  "simultaneous HTTP connections; more get 503" },
	{ "http_max_header_size", K_UINT, HTTP_FIELD(max_header_size), 256, 1048576,
	  "bytes of request line and headers; more get 431" },
	{ "http_max_headers", K_UINT, HTTP_FIELD(max_headers), 1, 10000,
	  "header lines in a request; more get 431" },
	{ "http_max_uri", K_UINT, HTTP_FIELD(max_uri), 64, 1048576,
	  "bytes of a request target; more get 414" },
	{ "http_max_body", K_UINT, HTTP_FIELD(max_body), 0, 268435456,
	  "bytes of a request body; more get 413" },
	{ "http_request_timeout", K_SECONDS_MS, HTTP_FIELD(request_timeout_ms), 1, 3600,
	  "seconds for a started request to arrive whole; then 408" },
	{ "http_idle_timeout", K_SECONDS_MS, HTTP_FIELD(idle_timeout_ms), 1, 86400,
	  "seconds an idle keep-alive HTTP connection is kept" },
	{ "http_linger_time", K_SECONDS_MS, HTTP_FIELD(linger_time_ms), 1, 3600,
	  "seconds at most that a closing HTTP connection drops what the client still sends" },
	{ "http_linger_timeout", K_SECONDS_MS, HTTP_FIELD(linger_timeout_ms), 1, 3600,
	  "seconds a closing HTTP connection waits for the client's next bytes (or EOF)" },
	{ "http_linger_bytes", K_UINT, HTTP_FIELD(linger_bytes), 0, 4294967295u,
	  "bytes a closing HTTP connection drops before it closes anyway" },
	{ "cors_origins", K_STRING, HTTP_FIELD(cors_origins), 0, 0,
	  "origins allowed by CORS: comma-separated, or * (\"\" = none)" },
	{ "websocket_listener", K_HTTP_LISTENER, HTTP_FIELD(websocket_listener), 0, 0,
	  "address:port serving only MQTT over WebSocket (GET /mqtt) [tls=yes ...: wss], or off" },
	{ "websocket_origins", K_STRING, HTTP_FIELD(websocket_origins), 0, 0,
	  "Origins allowed to open MQTT over WebSocket: comma-separated (\"\" = any)" },
	{ "websocket_max_message", K_UINT, HTTP_FIELD(websocket_max_message), 0, 268435460,
	  "bytes of a WebSocket frame or message; more close it with 1009 (0 = max_packet_size)" },
	{ "message_max_length", K_UINT, HTTP_FIELD(message_max), 1, 1048576,
	  "bytes of a direct message's content" },
	{ "status_max_length", K_UINT, HTTP_FIELD(status_max), 1, 65536,
	  "bytes of a user's status" },
	{ "poll_question_max_length", K_UINT, HTTP_FIELD(poll_question_max), 1, 65536,
	  "bytes of a poll's question" },
	{ "poll_option_max_length", K_UINT, HTTP_FIELD(poll_option_max), 1, 4096,
	  "bytes of the label of one of a poll's options" },
	{ "store_sync", K_SYNC, HTTP_FIELD(store_sync_full), 0, 0,
	  "normal (survives a crash) or full (fsync per write: survives power loss)" },
	{ "persistence", K_PERSIST, FIELD(persistence), 0, 0,
	  "broker state (sessions, retained, queued messages) in data_dir/broker.log: off, "
	  "normal (survives a crash) or full (also a power loss; implies store_sync full)" },
	{ "persistence_compact_size", K_UINT, FIELD(persistence_compact_size), 65536,
	  68719476736ull, "bytes of broker.log beyond which it is rewritten as a snapshot" },
	{ "persistence_rewrite_timeout", K_SECONDS_MS, FIELD(persistence_rewrite_timeout_ms), 1,
	  86400, "seconds a rewrite of broker.log may take before its process is killed" },
	{ "password_hash_memory", K_UINT, HTTP_FIELD(password_hash_kib), 8, 4194304,
	  "KiB of memory argon2id uses per password hash" },
	{ "password_hash_passes", K_UINT, HTTP_FIELD(password_hash_passes), 1, 100,
	  "argon2id passes per password hash" },
	{ "login_failures_per_minute", K_UINT, HTTP_FIELD(login_failures_per_minute), 0, 1000000,
	  "failed logins per address per minute before 429 (0 = no limit)" },
	{ "admins", K_STRING, HTTP_FIELD(admins), 0, 0,
	  "accounts with the admin role (they alone manage rules): comma-separated names "
	  "(\"\" = none)" },
	{ "poll_listener", K_POLL_LISTENER, 0, 0, 0, 0,
	  "[address:]port of the poll line protocol (a bare port: 0.0.0.0); repeat for several, "
	  "or off" },
	{ "poll_max_connections", K_UINT, POLL_FIELD(max_connections), 1, 1000000,
	  "simultaneous poll line connections; more are told so and closed" },
	{ "poll_max_line", K_UINT, POLL_FIELD(max_line), 16, 65536,
	  "bytes of a poll line; a longer one gets ERR bad_line and the connection closes" },
	{ "poll_idle_timeout", K_SECONDS_MS, POLL_FIELD(idle_timeout_ms), 1, 86400,
	  "seconds a poll line connection may send nothing (one watching a poll: read nothing)" },
	{ "poll_max_watches", K_UINT, POLL_FIELD(max_watches), 1, 1000,
	  "polls one poll line connection may WATCH at once" },
	{ "poll_max_output", K_UINT, POLL_FIELD(max_output), 4096, 1073741824,
	  "bytes waiting to be written to one poll line client before it is closed" },
	{ "rules_max_depth", K_UINT, FIELD(rules_max_depth), 1, 16,
	  "links of a chain of rules (a rule's action triggering a rule) run; deeper is stopped" },
	{ "rules_queue_max", K_UINT, NOTIFY_FIELD(queue_max), 1, 1000000,
	  "webhooks and e-mails waiting or being sent; more are dropped and counted" },
	{ "smtp_url", K_STRING, NOTIFY_FIELD(smtp_url), 0, 0,
	  "mail server for the rules' e-mail: smtp://HOST:PORT or smtps://HOST:PORT "
	  "(\"\" = no e-mail)" },
	{ "smtp_user", K_STRING, NOTIFY_FIELD(smtp_user), 0, 0,
	  "user name to log in to smtp_url with (\"\" = no login)" },
	{ "smtp_password", K_STRING, NOTIFY_FIELD(smtp_password), 0, 0,
	  "password for smtp_user" },
	{ "smtp_from", K_STRING, NOTIFY_FIELD(smtp_from), 0, 0,
	  "sender of the rules' e-mail: ADDRESS or \"NAME <ADDRESS>\"" },
};

void config_defaults(struct agora_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	broker_config_defaults(&cfg->broker);
	cfg->max_connections = 10000;
	cfg->log_level = LOG_INFO;
	cfg->allow_anonymous = ANON_LOOPBACK;
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "agora-data");
	cfg->persistence = PERSIST_NORMAL;
	cfg->persistence_compact_size = 64ull << 20;
	cfg->persistence_rewrite_timeout_ms = 600 * 1000;
	snprintf(cfg->http.listener, sizeof(cfg->http.listener), "127.0.0.1:8080");
	snprintf(cfg->http.websocket_listener, sizeof(cfg->http.websocket_listener), "off");
	cfg->http.max_connections = 1024;
	cfg->http.max_header_size = 8192;
	cfg->http.max_headers = 100;
	cfg->http.max_uri = 2048;
	cfg->http.max_body = 1048576;
	cfg->http.request_timeout_ms = 10000;
	cfg->http.idle_timeout_ms = 60000;
	cfg->http.linger_time_ms = 30000;  /* nginx's lingering_time */
	cfg->http.linger_timeout_ms = 5000; /* nginx's lingering_timeout */
	cfg->http.linger_bytes = 64u << 20;
	cfg->http.message_max = 4096;
	cfg->http.status_max = 256;
	cfg->http.poll_question_max = 500;
	cfg->http.poll_option_max = 100;
	cfg->http.password_hash_kib = 19456; /* OWASP's argon2id floor: 19 MiB, 2 passes */
	cfg->http.password_hash_passes = 2;
	cfg->http.login_failures_per_minute = 10;
	cfg->poll.max_connections = 1000;
	cfg->poll.max_line = 1024;
	cfg->poll.idle_timeout_ms = 300000;
	cfg->poll.max_watches = 16;
	cfg->poll.max_output = 1048576;
	cfg->rules_max_depth = RULES_MAX_DEPTH_DEFAULT;
	notify_config_defaults(&cfg->notify);
}

static const struct key *find_key(const char *name)
{
	char norm[64];
	size_t i;

	for (i = 0; name[i] && i < sizeof(norm) - 1; i++)
		norm[i] = name[i] == '-' ? '_' : name[i];
	norm[i] = '\0';
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++)
		if (strcmp(keys[k].name, norm) == 0)
			return &keys[k];
	return NULL;
}

/* A decimal number: no sign, nothing after it, no overflow. (strtoull
 * skips leading blanks; a file's values arrive trimmed.) */
static int parse_uint(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	/* strtoull would take a sign, and negate "-1" into a huge number */
	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

int config_parse_listener(const char *text, struct listener_config *l)
{
	const char *colon;
	const char *host = text;
	size_t hlen;
	uint64_t port;

	if (text[0] == '[') {
		const char *close = strchr(text, ']');
		if (!close || close[1] != ':')
			return -1;
		host = text + 1;
		hlen = (size_t)(close - host);
		colon = close + 1;
	} else {
		colon = strrchr(text, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - text);
		if (memchr(text, ':', hlen))
			return -1; /* bare IPv6 needs brackets */
	}
	if (hlen == 0 || hlen >= sizeof(l->host) || parse_uint(colon + 1, &port) || port > 65535)
		return -1;
	memcpy(l->host, host, hlen);
	l->host[hlen] = '\0';
	if (strcmp(l->host, "localhost") == 0)
		snprintf(l->host, sizeof(l->host), "127.0.0.1");
	l->port = (uint16_t)port;
	return 0;
}

/* The listener options after the address, one row each: a yes/no flag or
 * a text field of struct listener_config. */
struct listener_opt {
	const char *name; /* with its '=' */
	size_t offset;    /* into struct listener_config */
	size_t width;     /* text: bytes of the field; 0: a yes/no flag (bool) */
	bool tls;         /* only with tls=yes */
};

#define LOPT_TEXT(n, f) { n, offsetof(struct listener_config, tls.f), \
			  sizeof(((struct listener_tls *)0)->f), true }
#define LOPT_FLAG(n, f, t) { n, offsetof(struct listener_config, f), 0, t }

static const struct listener_opt listener_opts[] = {
	{ "anonymous=", offsetof(struct listener_config, anonymous), 0, false },
	LOPT_FLAG("tls=", tls.on, false),
	LOPT_TEXT("certfile=", certfile),
	LOPT_TEXT("keyfile=", keyfile),
	LOPT_TEXT("cafile=", cafile),
	LOPT_TEXT("capath=", capath),
	LOPT_TEXT("crlfile=", crlfile),
	LOPT_FLAG("require_certificate=", tls.require_certificate, true),
	LOPT_TEXT("ciphers=", ciphers),
	LOPT_TEXT("ciphersuites=", ciphersuites),
	LOPT_TEXT("tls_groups=", groups),
	LOPT_TEXT("alpn=", alpn),
	LOPT_TEXT("tls_version=", version),
	LOPT_FLAG("use_identity_as_username=", tls.use_identity, true),
};

#define N_LISTENER_OPTS (sizeof(listener_opts) / sizeof(listener_opts[0]))

/* One "name=value" (len bytes at opt) into l; seen has a bit per option
 * given so far. -1 with the reason in err. */
static int listener_option(struct listener_config *l, const char *opt, size_t len,
			   uint32_t *seen, char *err, size_t errlen)
{
	for (size_t i = 0; i < N_LISTENER_OPTS; i++) {
		const struct listener_opt *o = &listener_opts[i];
		size_t nlen = strlen(o->name);
		const char *v = opt + nlen;
		size_t vlen = len - nlen;
		bool yes;

		if (len < nlen || memcmp(opt, o->name, nlen) != 0)
			continue;
		if (*seen & (1u << i))
			return snprintf(err, errlen, "%.*s given twice", (int)nlen - 1, o->name), -1;
		*seen |= 1u << i;
		if (o->width) {
			if (vlen == 0 || vlen >= o->width)
				return snprintf(err, errlen, "%.*s must be 1 to %zu bytes",
						(int)nlen - 1, o->name, o->width - 1), -1;
			memcpy((char *)l + o->offset, v, vlen);
			((char *)l + o->offset)[vlen] = '\0';
			return 0;
		}
		if ((vlen == 3 && memcmp(v, "yes", 3) == 0) || (vlen == 2 && memcmp(v, "no", 2) == 0))
			yes = vlen == 3;
		else
			return snprintf(err, errlen, "%.*s is yes or no", (int)nlen - 1, o->name), -1;
		if (i == 0)
			l->anonymous = yes;
		else
			*(bool *)((char *)l + o->offset) = yes;
		return 0;
	}
	snprintf(err, errlen, "unknown option '%.*s'", (int)len, opt);
	return -1;
}

/* tls= and its options agree: TLS options only with tls=yes, which needs
 * a certificate and its key; a known minimum version. */
static int listener_tls_check(const struct listener_config *l, uint32_t seen, char *err,
			      size_t errlen)
{
	const struct listener_tls *t = &l->tls;

	for (size_t i = 0; i < N_LISTENER_OPTS; i++)
		if (listener_opts[i].tls && (seen & (1u << i)) && !t->on)
			return snprintf(err, errlen, "%s needs tls=yes", listener_opts[i].name), -1;
	if (t->on && (!t->certfile[0] || !t->keyfile[0]))
		return snprintf(err, errlen, "tls=yes needs certfile= and keyfile="), -1;
	if (t->version[0] && strcmp(t->version, "1.2") != 0 && strcmp(t->version, "1.3") != 0)
		return snprintf(err, errlen, "tls_version= is 1.2 or 1.3"), -1;
	if (t->require_certificate && !t->cafile[0] && !t->capath[0])
		return snprintf(err, errlen, "require_certificate=yes needs cafile= or capath="), -1;
	/* Without a required certificate a client could connect with none
	 * and have no name at all: refused here rather than at every CONNECT. */
	if (t->use_identity && !t->require_certificate)
		return snprintf(err, errlen,
				"use_identity_as_username=yes needs require_certificate=yes"), -1;
	return 0;
}

int config_parse_listener_opts(const char *text, struct listener_config *l, char *err,
			       size_t errlen)
{
	char addr[128];
	size_t n = strcspn(text, " \t");
	const char *opt = text + n;
	uint32_t seen = 0;

	memset(l, 0, sizeof(*l));
	snprintf(err, errlen, "not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT)");
	if (n >= sizeof(addr))
		return -1;
	memcpy(addr, text, n);
	addr[n] = '\0';
	if (config_parse_listener(addr, l))
		return -1;
	l->anonymous = -1;
	for (;;) {
		while (*opt == ' ' || *opt == '\t')
			opt++;
		if (!*opt)
			break;
		n = strcspn(opt, " \t");
		if (listener_option(l, opt, n, &seen, err, errlen))
			return -1;
		opt += n;
	}
	return listener_tls_check(l, seen, err, errlen);
}

/* Where a key's value lives inside cfg. */
static void *key_field(struct agora_config *cfg, const struct key *k)
{
	return (char *)cfg + k->offset;
}

static const void *key_field_const(const struct agora_config *cfg, const struct key *k)
{
	return (const char *)cfg + k->offset;
}

/* Numeric fields are 16 or 32 bits wide (64 would do too): the table's
 * width says which, so one parser serves them all. */
static void store_uint(void *field, size_t width, uint64_t v)
{
	if (width == 2)
		*(uint16_t *)field = (uint16_t)v;
	else if (width == 4)
		*(uint32_t *)field = (uint32_t)v;
	else
		*(uint64_t *)field = v;
}

static uint64_t load_uint(const void *field, size_t width)
{
	if (width == 2)
		return *(const uint16_t *)field;
	if (width == 4)
		return *(const uint32_t *)field;
	return *(const uint64_t *)field;
}

/* The words yes/true and no/false, for every on/off setting. */
static int parse_yes_no(const char *value, bool *out)
{
	if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
		*out = true;
	else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
		*out = false;
	else
		return -1;
	return 0;
}

/* allow_anonymous's words; the first for each policy is the one --help shows. */
static const struct {
	const char *word;
	enum anon_policy policy;
} anon_words[] = {
	{ "loopback", ANON_LOOPBACK },
	{ "yes", ANON_YES },
	{ "true", ANON_YES },
	{ "no", ANON_NO },
	{ "false", ANON_NO },
};

#define N_ANON_WORDS (sizeof(anon_words) / sizeof(anon_words[0]))

static const char *const persist_words[] = { "off", "normal", "full" };

/*
 * The parsers, one per kind: value -> the key's field. On error each writes
 * "key: ..." to err, naming the value and what is accepted, and leaves the
 * field as it was. The texts are part of the interface (users read them,
 * tests/integration/test_server.py and tests/unit/test_config.c check them).
 */

/* A whole number within the key's range, with the message every numeric
 * key shares. */
static int parse_in_range(const struct key *k, const char *value, uint64_t *v, char *err,
			  size_t errlen)
{
	if (parse_uint(value, v) == 0 && *v >= k->min && *v <= k->max)
		return 0;
	snprintf(err, errlen, "%s: '%s' is not a whole number from %llu to %llu", k->name, value,
		 (unsigned long long)k->min, (unsigned long long)k->max);
	return -1;
}

static int set_uint(struct agora_config *cfg, const struct key *k, const char *value, char *err,
		    size_t errlen)
{
	uint64_t v;

	if (parse_in_range(k, value, &v, err, errlen))
		return -1;
	store_uint(key_field(cfg, k), k->width, v);
	return 0;
}

/* Users give seconds; the timers want milliseconds. */
static int set_seconds_ms(struct agora_config *cfg, const struct key *k, const char *value,
			  char *err, size_t errlen)
{
	uint64_t v;

	if (parse_in_range(k, value, &v, err, errlen))
		return -1;
	store_uint(key_field(cfg, k), k->width, v * 1000);
	return 0;
}

/* The key may repeat: each value adds a listener. */
static int set_listener(struct agora_config *cfg, const struct key *k, const char *value,
			char *err, size_t errlen)
{
	char why[160];

	if (cfg->nlisteners == CONFIG_MAX_LISTENERS) {
		snprintf(err, errlen, "%s: at most %d listeners", k->name, CONFIG_MAX_LISTENERS);
		return -1;
	}
	if (config_parse_listener_opts(value, &cfg->listeners[cfg->nlisteners], why, sizeof(why))) {
		snprintf(err, errlen, "%s: '%s': %s", k->name, value, why);
		return -1;
	}
	cfg->nlisteners++;
	return 0;
}

static int set_log_level(struct agora_config *cfg, const struct key *k, const char *value,
			 char *err, size_t errlen)
{
	int lvl = log_level_parse(value);

	if (lvl < 0) {
		snprintf(err, errlen, "%s: '%s' is not error, warn, info or debug", k->name, value);
		return -1;
	}
	*(int *)key_field(cfg, k) = lvl;
	return 0;
}

static int set_anon(struct agora_config *cfg, const struct key *k, const char *value, char *err,
		    size_t errlen)
{
	for (size_t i = 0; i < N_ANON_WORDS; i++) {
		if (strcmp(value, anon_words[i].word) == 0) {
			*(enum anon_policy *)key_field(cfg, k) = anon_words[i].policy;
			return 0;
		}
	}
	snprintf(err, errlen, "%s: '%s' is not loopback, yes or no", k->name, value);
	return -1;
}

static int set_persist(struct agora_config *cfg, const struct key *k, const char *value,
		       char *err, size_t errlen)
{
	for (size_t i = 0; i < 3; i++) {
		if (strcmp(value, persist_words[i]) == 0) {
			*(enum persistence *)key_field(cfg, k) = (enum persistence)i;
			return 0;
		}
	}
	snprintf(err, errlen, "%s: '%s' is not off, normal or full", k->name, value);
	return -1;
}

static int set_path(struct agora_config *cfg, const struct key *k, const char *value, char *err,
		    size_t errlen)
{
	if (!*value || strlen(value) >= k->width) {
		snprintf(err, errlen, "%s: path empty or longer than %zu bytes", k->name,
			 k->width - 1);
		return -1;
	}
	snprintf(key_field(cfg, k), k->width, "%s", value);
	return 0;
}

static int set_string(struct agora_config *cfg, const struct key *k, const char *value, char *err,
		      size_t errlen)
{
	if (strlen(value) >= k->width) {
		snprintf(err, errlen, "%s: longer than %zu bytes", k->name, k->width - 1);
		return -1;
	}
	/* A quoted "" clears the setting (a file line needs a value). */
	snprintf(key_field(cfg, k), k->width, "%s", strcmp(value, "\"\"") == 0 ? "" : value);
	return 0;
}

static int set_bool(struct agora_config *cfg, const struct key *k, const char *value, char *err,
		    size_t errlen)
{
	if (parse_yes_no(value, key_field(cfg, k))) {
		snprintf(err, errlen, "%s: '%s' is not yes or no", k->name, value);
		return -1;
	}
	return 0;
}

/* The address before a listener line's options (their own errors are
 * config_parse_listener_opts's). */
static bool listener_address_ok(const char *text)
{
	struct listener_config l;
	char addr[128];
	size_t n = strcspn(text, " \t");

	if (n >= sizeof(addr))
		return false;
	memcpy(addr, text, n);
	addr[n] = '\0';
	return config_parse_listener(addr, &l) == 0;
}

/* "off", or an address and a listener line's options (tls=yes and the
 * rest: HTTPS, or MQTT over secure WebSocket), but not anonymous= (MQTT
 * over WebSocket follows allow_anonymous). Kept as text: http_server.c
 * parses it again when it binds. */
static int set_http_listener(struct agora_config *cfg, const struct key *k, const char *value,
			     char *err, size_t errlen)
{
	struct listener_config l;
	char why[160];

	if (strcmp(value, "off") == 0)
		goto keep;
	if (!listener_address_ok(value)) {
		snprintf(err, errlen,
			 "%s: '%s' is not ADDRESS:PORT ([ADDRESS]:PORT for IPv6) or off", k->name,
			 value);
		return -1;
	}
	if (strlen(value) >= k->width) {
		snprintf(err, errlen, "%s: at most %zu bytes", k->name, k->width - 1);
		return -1;
	}
	if (config_parse_listener_opts(value, &l, why, sizeof(why))) {
		snprintf(err, errlen, "%s: '%s': %s", k->name, value, why);
		return -1;
	}
	if (l.anonymous >= 0) {
		snprintf(err, errlen,
			 "%s: '%s': anonymous= is for MQTT listeners (MQTT over WebSocket follows "
			 "allow_anonymous)", k->name, value);
		return -1;
	}
	if (l.tls.use_identity) {
		snprintf(err, errlen,
			 "%s: '%s': use_identity_as_username= is for MQTT listeners (an HTTP "
			 "request logs in with a token; MQTT over WebSocket with a password)",
			 k->name, value);
		return -1;
	}
keep:
	snprintf(key_field(cfg, k), k->width, "%s", value);
	return 0;
}

/* "off" (none), or one more address: ADDRESS:PORT as for listener, or a
 * bare PORT for every IPv4 interface (a classroom's students reach it). */
static int set_poll_listener(struct agora_config *cfg, const struct key *k, const char *value,
			     char *err, size_t errlen)
{
	struct poll_config *pc = &cfg->poll;
	struct listener_config l = { 0 };
	char addr[80];
	uint64_t port;

	if (strcmp(value, "off") == 0) {
		pc->nlisteners = 0;
		return 0;
	}
	if (pc->nlisteners == CONFIG_MAX_LISTENERS) {
		snprintf(err, errlen, "%s: at most %d listeners", k->name, CONFIG_MAX_LISTENERS);
		return -1;
	}
	if (parse_uint(value, &port) == 0 && port <= 65535) {
		snprintf(addr, sizeof(addr), "0.0.0.0:%llu", (unsigned long long)port);
		value = addr;
	}
	if (config_parse_listener(value, &l)) {
		snprintf(err, errlen,
			 "%s: '%s' is not [ADDRESS:]PORT ([ADDRESS]:PORT for IPv6) or off", k->name,
			 value);
		return -1;
	}
	l.anonymous = -1;
	pc->listeners[pc->nlisteners++] = l;
	return 0;
}

static int set_sync(struct agora_config *cfg, const struct key *k, const char *value, char *err,
		    size_t errlen)
{
	if (strcmp(value, "normal") != 0 && strcmp(value, "full") != 0) {
		snprintf(err, errlen, "%s: '%s' is not normal or full", k->name, value);
		return -1;
	}
	*(bool *)key_field(cfg, k) = strcmp(value, "full") == 0;
	return 0;
}

/*
 * The formatters, one per kind: the key's value in d (the defaults) as
 * --help shows it, in the words its parser accepts.
 */

static void show_uint(const struct agora_config *d, const struct key *k, char *out, size_t outlen)
{
	snprintf(out, outlen, "%llu",
		 (unsigned long long)load_uint(key_field_const(d, k), k->width));
}

static void show_seconds_ms(const struct agora_config *d, const struct key *k, char *out,
			    size_t outlen)
{
	snprintf(out, outlen, "%llu",
		 (unsigned long long)load_uint(key_field_const(d, k), k->width) / 1000);
}

/* No listener in the defaults: server.c then listens on this one. */
static void show_listener(const struct agora_config *d, const struct key *k, char *out,
			  size_t outlen)
{
	(void)d;
	(void)k;
	snprintf(out, outlen, "%s", CONFIG_DEFAULT_LISTENER);
}

static void show_log_level(const struct agora_config *d, const struct key *k, char *out,
			   size_t outlen)
{
	snprintf(out, outlen, "%s", log_level_name(*(const int *)key_field_const(d, k)));
}

static void show_anon(const struct agora_config *d, const struct key *k, char *out, size_t outlen)
{
	enum anon_policy p = *(const enum anon_policy *)key_field_const(d, k);

	for (size_t i = 0; i < N_ANON_WORDS; i++) {
		if (anon_words[i].policy == p) {
			snprintf(out, outlen, "%s", anon_words[i].word);
			return;
		}
	}
}

/* Text as it is; an empty one as the "" that sets it. */
static void show_text(const struct agora_config *d, const struct key *k, char *out, size_t outlen)
{
	const char *text = key_field_const(d, k);

	snprintf(out, outlen, "%s", *text ? text : "\"\"");
}

static void show_bool(const struct agora_config *d, const struct key *k, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", *(const bool *)key_field_const(d, k) ? "yes" : "no");
}

static void show_sync(const struct agora_config *d, const struct key *k, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s", *(const bool *)key_field_const(d, k) ? "full" : "normal");
}

static void show_persist(const struct agora_config *d, const struct key *k, char *out,
			 size_t outlen)
{
	snprintf(out, outlen, "%s", persist_words[*(const enum persistence *)key_field_const(d, k)]);
}

/* Every address configured, as the key is written, or off. */
static void show_poll_listener(const struct agora_config *d, const struct key *k, char *out,
			       size_t outlen)
{
	size_t at = 0;

	(void)k;
	snprintf(out, outlen, "off");
	for (int i = 0; i < d->poll.nlisteners && at < outlen; i++) {
		const struct listener_config *l = &d->poll.listeners[i];
		bool v6 = strchr(l->host, ':') != NULL;

		at += (size_t)snprintf(out + at, outlen - at, "%s%s%s%s:%u", i ? " " : "",
				       v6 ? "[" : "", l->host, v6 ? "]" : "", l->port);
	}
}

typedef int (*key_parse_fn)(struct agora_config *cfg, const struct key *k, const char *value,
			    char *err, size_t errlen);
typedef void (*key_show_fn)(const struct agora_config *d, const struct key *k, char *out,
			    size_t outlen);

static const struct {
	key_parse_fn parse;
	key_show_fn show;
} kinds[K_NKINDS] = {
	[K_UINT] = { set_uint, show_uint },
	[K_SECONDS_MS] = { set_seconds_ms, show_seconds_ms },
	[K_LISTENER] = { set_listener, show_listener },
	[K_LOG_LEVEL] = { set_log_level, show_log_level },
	[K_ANON] = { set_anon, show_anon },
	[K_PATH] = { set_path, show_text },
	[K_STRING] = { set_string, show_text },
	[K_BOOL] = { set_bool, show_bool },
	[K_HTTP_LISTENER] = { set_http_listener, show_text },
	[K_SYNC] = { set_sync, show_sync },
	[K_POLL_LISTENER] = { set_poll_listener, show_poll_listener },
	[K_PERSIST] = { set_persist, show_persist },
};

int config_set(struct agora_config *cfg, const char *key, const char *value, char *err,
	       size_t errlen)
{
	const struct key *k = find_key(key);

	if (!k) {
		snprintf(err, errlen, "unknown setting '%s' (see agora serve --help)", key);
		return -1;
	}
	return kinds[k->kind].parse(cfg, k, value, err, errlen);
}

static char *trim(char *s)
{
	char *end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
		*--end = '\0';
	return s;
}

/* One line of a config file, as fgets gave it: blank, a comment, or
 * "key value" (a comment may follow the value). */
static int load_line(struct agora_config *cfg, char *line, const char *path, int lineno,
		     char *err, size_t errlen)
{
	char msg[CONFIG_ERR_LEN];
	char *p = strchr(line, '#');
	char *key, *value;

	if (p)
		*p = '\0';
	key = trim(line);
	if (!*key)
		return 0;
	value = key + strcspn(key, " \t");
	if (*value)
		*value++ = '\0';
	value = trim(value);
	if (!*value) {
		snprintf(err, errlen, "%s:%d: '%s' needs a value", path, lineno, key);
		return -1;
	}
	if (config_set(cfg, key, value, msg, sizeof(msg))) {
		snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
		return -1;
	}
	return 0;
}

int config_load_file(struct agora_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	int lineno = 0;
	int rc = 0;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, lineno,
				 sizeof(line) - 2);
			rc = -1;
		} else {
			rc = load_line(cfg, line, path, lineno, err, errlen);
		}
	}
	fclose(f);
	return rc;
}

/* "max_connections" -> "max-connections", as the command line spells it. */
static void flag_name(const char *name, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; name[i] && i < outlen - 1; i++)
		out[i] = name[i] == '_' ? '-' : name[i];
	out[i] = '\0';
}

void config_print_keys(void)
{
	struct agora_config d;

	config_defaults(&d);
	for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		const struct key *k = &keys[i];
		char def[sizeof(d.data_dir) + 8] = "";
		char flag[64];

		kinds[k->kind].show(&d, k, def, sizeof(def));
		flag_name(k->name, flag, sizeof(flag));
		printf("  --%-23s %s (default %s)\n", flag, k->help, def);
	}
}

/* The command line's values of a repeating key (listener, poll_listener)
 * replace the file's rather than add to them: the first of each forgets
 * the file's. */
static void forget_file_listeners(struct agora_config *cfg, const char *name, bool *seen_mqtt,
				  bool *seen_poll)
{
	const struct key *k = find_key(name);

	if (k && k->kind == K_LISTENER && !*seen_mqtt) {
		cfg->nlisteners = 0;
		*seen_mqtt = true;
	} else if (k && k->kind == K_POLL_LISTENER && !*seen_poll) {
		cfg->poll.nlisteners = 0;
		*seen_poll = true;
	}
}

int config_build(struct agora_config *cfg, const char *path, const struct config_overrides *ov,
		 char *err, size_t errlen)
{
	char msg[CONFIG_ERR_LEN];
	bool seen_mqtt = false, seen_poll = false;

	config_defaults(cfg);
	if (path && config_load_file(cfg, path, err, errlen))
		return -1;
	for (int i = 0; i < ov->n; i++) {
		forget_file_listeners(cfg, ov->key[i], &seen_mqtt, &seen_poll);
		if (config_set(cfg, ov->key[i], ov->value[i], msg, sizeof(msg))) {
			snprintf(err, errlen, "--%s: %s", ov->key[i], msg);
			return -1;
		}
	}
	return 0;
}
