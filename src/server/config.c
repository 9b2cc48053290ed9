/* config.c - the settings table and its parsers. */
#include "config.h"

#include "base/log.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum key_kind {
	K_UINT, K_SECONDS_MS, K_LISTENER, K_LOG_LEVEL, K_ANON, K_PATH, K_STRING, K_BOOL,
	K_HTTP_LISTENER, K_SYNC,
};

struct key {
	const char *name;
	enum key_kind kind;
	size_t offset;  /* into struct agora_config */
	int width;      /* bytes of the field */
	uint64_t min, max;
	const char *help;
};

#define BROKER_FIELD(f) offsetof(struct agora_config, broker.f), sizeof(((struct broker_config *)0)->f)
#define HTTP_FIELD(f) offsetof(struct agora_config, http.f), sizeof(((struct http_config *)0)->f)
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
	{ "log_level", K_LOG_LEVEL, 0, 0, 0, 0, "error, warn, info or debug" },
	{ "allow_anonymous", K_ANON, 0, 0, 0, 0,
	  "loopback (only on loopback listeners), yes or no" },
	{ "data_dir", K_PATH, 0, 0, 0, 0, "directory for the data (agora.db: users, messages)" },
	{ "http_listener", K_HTTP_LISTENER, HTTP_FIELD(listener), 0, 0,
	  "address:port of the HTTP API, or off" },
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
	{ "message_max_length", K_UINT, HTTP_FIELD(message_max), 1, 1048576,
	  "bytes of a direct message's content" },
	{ "status_max_length", K_UINT, HTTP_FIELD(status_max), 1, 65536,
	  "bytes of a user's status" },
	{ "store_sync", K_SYNC, 0, 0, 0, 0,
	  "normal (survives a crash) or full (fsync per write: survives power loss)" },
	{ "password_hash_memory", K_UINT, HTTP_FIELD(password_hash_kib), 8, 4194304,
	  "KiB of memory argon2id uses per password hash" },
	{ "password_hash_passes", K_UINT, HTTP_FIELD(password_hash_passes), 1, 100,
	  "argon2id passes per password hash" },
	{ "login_failures_per_minute", K_UINT, HTTP_FIELD(login_failures_per_minute), 0, 1000000,
	  "failed logins per address per minute before 429 (0 = no limit)" },
};

void config_defaults(struct agora_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	broker_config_defaults(&cfg->broker);
	cfg->max_connections = 10000;
	cfg->log_level = LOG_INFO;
	cfg->allow_anonymous = ANON_LOOPBACK;
	snprintf(cfg->data_dir, sizeof(cfg->data_dir), "agora-data");
	snprintf(cfg->http.listener, sizeof(cfg->http.listener), "127.0.0.1:8080");
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
	cfg->http.password_hash_kib = 19456; /* OWASP's argon2id floor: 19 MiB, 2 passes */
	cfg->http.password_hash_passes = 2;
	cfg->http.login_failures_per_minute = 10;
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

static int parse_uint(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end)
		return -1;
	*out = v;
	return 0;
}

static void store_uint(void *field, int width, uint64_t v)
{
	if (width == 2)
		*(uint16_t *)field = (uint16_t)v;
	else if (width == 4)
		*(uint32_t *)field = (uint32_t)v;
	else
		*(uint64_t *)field = v;
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

int config_parse_listener_opts(const char *text, struct listener_config *l)
{
	char addr[128];
	size_t n = strcspn(text, " \t");
	const char *opt = text + n;

	if (n >= sizeof(addr))
		return -1;
	memcpy(addr, text, n);
	addr[n] = '\0';
	if (config_parse_listener(addr, l))
		return -1;
	l->anonymous = -1;
	while (*opt == ' ' || *opt == '\t')
		opt++;
	if (!*opt)
		return 0;
	if (strcmp(opt, "anonymous=yes") == 0)
		l->anonymous = 1;
	else if (strcmp(opt, "anonymous=no") == 0)
		l->anonymous = 0;
	else
		return -1;
	return 0;
}

int config_set(struct agora_config *cfg, const char *key, const char *value, char *err,
	       size_t errlen)
{
	const struct key *k = find_key(key);
	uint64_t v;
	int lvl;

	if (!k) {
		snprintf(err, errlen, "unknown setting '%s' (see agora serve --help)", key);
		return -1;
	}
	switch (k->kind) {
	case K_UINT:
	case K_SECONDS_MS:
		if (parse_uint(value, &v) || v < k->min || v > k->max) {
			snprintf(err, errlen, "%s: '%s' is not a whole number from %llu to %llu",
				 k->name, value, (unsigned long long)k->min,
				 (unsigned long long)k->max);
			return -1;
		}
		if (k->kind == K_SECONDS_MS)
			v *= 1000;
		store_uint((char *)cfg + k->offset, k->width, v);
		return 0;
	case K_LISTENER:
		if (cfg->nlisteners == CONFIG_MAX_LISTENERS) {
			snprintf(err, errlen, "listener: at most %d listeners", CONFIG_MAX_LISTENERS);
			return -1;
		}
		if (config_parse_listener_opts(value, &cfg->listeners[cfg->nlisteners])) {
			snprintf(err, errlen,
				 "listener: '%s' is not ADDRESS:PORT (IPv6 as [ADDRESS]:PORT), "
				 "optionally followed by anonymous=yes or anonymous=no", value);
			return -1;
		}
		cfg->nlisteners++;
		return 0;
	case K_LOG_LEVEL:
		lvl = log_level_parse(value);
		if (lvl < 0) {
			snprintf(err, errlen, "log_level: '%s' is not error, warn, info or debug",
				 value);
			return -1;
		}
		cfg->log_level = lvl;
		return 0;
	case K_ANON:
		if (strcmp(value, "loopback") == 0)
			cfg->allow_anonymous = ANON_LOOPBACK;
		else if (strcmp(value, "yes") == 0 || strcmp(value, "true") == 0)
			cfg->allow_anonymous = ANON_YES;
		else if (strcmp(value, "no") == 0 || strcmp(value, "false") == 0)
			cfg->allow_anonymous = ANON_NO;
		else {
			snprintf(err, errlen, "allow_anonymous: '%s' is not loopback, yes or no",
				 value);
			return -1;
		}
		return 0;
	case K_STRING:
		if (strlen(value) >= (size_t)k->width) {
			snprintf(err, errlen, "%s: longer than %d bytes", k->name, k->width - 1);
			return -1;
		}
		/* A quoted "" clears the setting (a file line needs a value). */
		snprintf((char *)cfg + k->offset, (size_t)k->width, "%s",
			 strcmp(value, "\"\"") == 0 ? "" : value);
		return 0;
	case K_BOOL:
		if (strcmp(value, "yes") && strcmp(value, "no") && strcmp(value, "true") &&
		    strcmp(value, "false")) {
			snprintf(err, errlen, "%s: '%s' is not yes or no", k->name, value);
			return -1;
		}
		*((bool *)((char *)cfg + k->offset)) = value[0] == 'y' || value[0] == 't';
		return 0;
	case K_HTTP_LISTENER: {
		struct listener_config l;

		if (strcmp(value, "off") != 0 && config_parse_listener(value, &l)) {
			snprintf(err, errlen,
				 "http_listener: '%s' is not ADDRESS:PORT ([ADDRESS]:PORT for IPv6) "
				 "or off", value);
			return -1;
		}
		snprintf(cfg->http.listener, sizeof(cfg->http.listener), "%s", value);
		return 0;
	}
	case K_SYNC:
		if (strcmp(value, "normal") && strcmp(value, "full")) {
			snprintf(err, errlen, "store_sync: '%s' is not normal or full", value);
			return -1;
		}
		cfg->http.store_sync_full = strcmp(value, "full") == 0;
		return 0;
	case K_PATH:
		if (!*value || strlen(value) >= sizeof(cfg->data_dir)) {
			snprintf(err, errlen, "data_dir: path empty or longer than %zu bytes",
				 sizeof(cfg->data_dir) - 1);
			return -1;
		}
		snprintf(cfg->data_dir, sizeof(cfg->data_dir), "%s", value);
		return 0;
	}
	return -1;
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

int config_load_file(struct agora_config *cfg, const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	char msg[CONFIG_ERR_LEN];
	int lineno = 0;
	int rc = 0;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (fgets(line, sizeof(line), f)) {
		char *p, *key, *value;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			snprintf(err, errlen, "%s:%d: line longer than %zu bytes", path, lineno,
				 sizeof(line) - 2);
			rc = -1;
			break;
		}
		p = strchr(line, '#');
		if (p)
			*p = '\0';
		key = trim(line);
		if (!*key)
			continue;
		value = key + strcspn(key, " \t");
		if (*value)
			*value++ = '\0';
		value = trim(value);
		if (!*value) {
			snprintf(err, errlen, "%s:%d: '%s' needs a value", path, lineno, key);
			rc = -1;
			break;
		}
		if (config_set(cfg, key, value, msg, sizeof(msg))) {
			snprintf(err, errlen, "%s:%d: %s", path, lineno, msg);
			rc = -1;
			break;
		}
	}
	fclose(f);
	return rc;
}

void config_print_keys(void)
{
	struct agora_config d;

	config_defaults(&d);
	for (size_t k = 0; k < sizeof(keys) / sizeof(keys[0]); k++) {
		const struct key *key = &keys[k];
		char def[sizeof(d.data_dir) + 8] = "";
		char flag[64];
		size_t i;

		if (key->kind == K_UINT || key->kind == K_SECONDS_MS) {
			const char *field = (const char *)&d + key->offset;
			uint64_t v = key->width == 2 ? *(const uint16_t *)field
							: *(const uint32_t *)field;
			if (key->kind == K_SECONDS_MS)
				v /= 1000;
			snprintf(def, sizeof(def), "%llu", (unsigned long long)v);
		} else if (key->kind == K_LISTENER) {
			snprintf(def, sizeof(def), "127.0.0.1:1883");
		} else if (key->kind == K_LOG_LEVEL) {
			snprintf(def, sizeof(def), "info");
		} else if (key->kind == K_ANON) {
			snprintf(def, sizeof(def), "loopback");
		} else if (key->kind == K_STRING) {
			snprintf(def, sizeof(def), "\"\"");
		} else if (key->kind == K_HTTP_LISTENER) {
			snprintf(def, sizeof(def), "%s", d.http.listener);
		} else if (key->kind == K_SYNC) {
			snprintf(def, sizeof(def), "normal");
		} else if (key->kind == K_BOOL) {
			snprintf(def, sizeof(def), "%s",
				 *(const bool *)((const char *)&d + key->offset) ? "yes" : "no");
		} else {
			snprintf(def, sizeof(def), "%s", d.data_dir);
		}
		for (i = 0; key->name[i] && i < sizeof(flag) - 1; i++)
			flag[i] = key->name[i] == '_' ? '-' : key->name[i];
		flag[i] = '\0';
		printf("  --%-23s %s (default %s)\n", flag, key->help, def);
	}
}

int config_build(struct agora_config *cfg, const char *path, const struct config_overrides *ov,
		 char *err, size_t errlen)
{
	char msg[CONFIG_ERR_LEN];

	config_defaults(cfg);
	if (path && config_load_file(cfg, path, err, errlen))
		return -1;
	for (int i = 0, first_listener = 1; i < ov->n; i++) {
		if (find_key(ov->key[i]) == &keys[0] && first_listener) {
			cfg->nlisteners = 0; /* command-line listeners replace the file's */
			first_listener = 0;
		}
		if (config_set(cfg, ov->key[i], ov->value[i], msg, sizeof(msg))) {
			snprintf(err, errlen, "--%s: %s", ov->key[i], msg);
			return -1;
		}
	}
	return 0;
}
