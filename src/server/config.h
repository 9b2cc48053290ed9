/*
 * config.h - `agora serve` settings: defaults, the config file and the
 * command line. Every key, its default and its limits are one row of the
 * table in config.c, which docs/configuration.md mirrors.
 *
 * File format: one `key value` per line; `#` starts a comment; blank lines
 * are ignored; `listener` may repeat. On the command line each key is
 * `--key-name VALUE` or `--key-name=VALUE` (dashes or underscores).
 */
#ifndef AGORA_CONFIG_H
#define AGORA_CONFIG_H

#include "broker/broker.h"
#include "notify/notify.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CONFIG_MAX_LISTENERS 16
#define CONFIG_ERR_LEN 256

enum anon_policy { ANON_LOOPBACK, ANON_YES, ANON_NO };

/* What of the broker's state survives a restart (docs/configuration.md):
 * nothing, a crash of the process, a power loss. */
enum persistence { PERSIST_OFF, PERSIST_NORMAL, PERSIST_FULL };

/* A listener's TLS (issue 15; docs/configuration.md, "TLS"): options after
 * its address. Empty strings are unset. */
#define CONFIG_TLS_PATH 256
struct listener_tls {
	bool on;                       /* tls=yes */
	bool require_certificate;      /* clients must present a valid certificate */
	/* use_identity_as_username=yes (needs require_certificate): the
	 * certificate's identity (tls.h, tls_conn_peer_identity) is the
	 * account; the CONNECT's user name and password are ignored. */
	bool use_identity;
	char certfile[CONFIG_TLS_PATH];
	char keyfile[CONFIG_TLS_PATH];
	char cafile[CONFIG_TLS_PATH];
	char capath[CONFIG_TLS_PATH];
	char crlfile[CONFIG_TLS_PATH];
	char ciphers[256];             /* TLS 1.2 list, OpenSSL syntax */
	char ciphersuites[256];        /* TLS 1.3 suites */
	char groups[128];              /* tls_groups= */
	char alpn[64];                 /* comma-separated protocols */
	char version[4];               /* tls_version= minimum: "1.2" or "1.3" */
};

struct listener_config {
	char host[64]; /* numeric IPv4 or IPv6 address, no brackets */
	uint16_t port;
	int8_t anonymous; /* "anonymous=yes|no" after the address; -1: allow_anonymous decides */
	struct listener_tls tls;
};

/* http_listener's and websocket_listener's text: an address and the
 * options of a listener line (a config file's line is at most 1,022 bytes). */
#define CONFIG_LISTENER_TEXT 1024

/* The HTTP API's settings (docs/api.md). */
struct http_config {
	/* "address:port [tls=yes certfile=...]" (config_parse_listener_opts,
	 * without anonymous=), or "off" */
	char listener[CONFIG_LISTENER_TEXT];
	uint32_t max_connections;
	uint32_t max_header_size;   /* bytes: 431 beyond */
	uint32_t max_headers;       /* header lines: 431 beyond */
	uint32_t max_uri;           /* bytes: 414 beyond */
	uint32_t max_body;          /* bytes: 413 beyond */
	uint32_t request_timeout_ms; /* a started request must be whole by then: 408 */
	uint32_t idle_timeout_ms;   /* idle keep-alive connections close */
	/* The lingering close after a connection's last answer (http_server.c):
	 * what the client still sends is dropped for at most linger_time_ms,
	 * linger_timeout_ms between two reads, linger_bytes in all. */
	uint32_t linger_time_ms;
	uint32_t linger_timeout_ms;
	uint32_t linger_bytes;
	char cors_origins[512];
	/* MQTT over WebSocket (http_server.c): GET /mqtt on the HTTP listener,
	 * and on websocket_listener ("off": none) with nothing else. */
	char websocket_listener[CONFIG_LISTENER_TEXT]; /* as listener */
	char websocket_origins[512]; /* "" = any Origin */
	uint32_t websocket_max_message; /* bytes of a frame or message; 0 = max_packet_size */
	uint32_t message_max;       /* bytes of a message */
	uint32_t status_max;        /* bytes of a user's status */
	uint32_t poll_question_max; /* bytes of a poll's question */
	uint32_t poll_option_max;   /* bytes of a poll option's label */
	bool store_sync_full;       /* fsync every store write */
	uint32_t password_hash_kib; /* argon2id memory */
	uint32_t password_hash_passes;
	uint32_t login_failures_per_minute;
	char admins[512]; /* "alice,bob": the accounts with the admin role ("" none) */
};

/* The poll line protocol's settings (docs/protocols.md, "Poll line
 * protocol"); no listener: off. */
struct poll_config {
	struct listener_config listeners[CONFIG_MAX_LISTENERS]; /* anonymous unused */
	int nlisteners;
	uint32_t max_connections;
	uint32_t max_line;          /* bytes of a line's text: ERR bad_line beyond */
	uint32_t idle_timeout_ms;   /* a connection silent this long closes (watchers too
				     * while they do not read their output) */
	uint32_t max_watches;       /* WATCHes per connection */
	uint32_t max_output;        /* bytes waiting for a client: closed beyond */
};

/* The MQTT listener when none is configured. */
#define CONFIG_DEFAULT_LISTENER "127.0.0.1:1883"

struct agora_config {
	struct broker_config broker;
	struct http_config http;
	struct poll_config poll;
	struct listener_config listeners[CONFIG_MAX_LISTENERS];
	int nlisteners;            /* 0: CONFIG_DEFAULT_LISTENER */
	uint32_t max_connections;
	int log_level;             /* enum log_level */
	enum anon_policy allow_anonymous;
	char data_dir[512];
	enum persistence persistence;
	uint64_t persistence_compact_size; /* bytes of log that trigger a rewrite */
	uint32_t persistence_rewrite_timeout_ms; /* a rewrite's child is killed after it */
	/* Rules (docs/rules.md, "Loops"): events at this depth of a chain of
	 * rules are not evaluated. */
	uint32_t rules_max_depth;
	/* The rules' webhooks and e-mail (notify/notify.h): rules_queue_max,
	 * smtp_url, smtp_user, smtp_password, smtp_from. */
	struct notify_config notify;
};

void config_defaults(struct agora_config *cfg);

/* Sets one key from its text value. Returns 0, or -1 with a message in err
 * naming the key, the value and the accepted range. */
int config_set(struct agora_config *cfg, const char *key, const char *value, char *err,
	       size_t errlen);

/* Reads a config file over cfg. Returns 0, or -1 with "file:line: ..." in
 * err. */
int config_load_file(struct agora_config *cfg, const char *path, char *err, size_t errlen);

/* Parses "host:port", "[v6]:port" into l. Returns 0 or -1. */
int config_parse_listener(const char *text, struct listener_config *l);
/* The same followed by options: "host:port anonymous=no tls=yes
 * certfile=PATH ...", each at most once, TLS ones only with tls=yes (which
 * needs certfile= and keyfile=). Returns 0, or -1 with the reason in err
 * (the caller names the key and the value). */
int config_parse_listener_opts(const char *text, struct listener_config *l, char *err,
			       size_t errlen);

/* Settings given on the command line, applied over the file. */
#define CONFIG_MAX_OVERRIDES 64
struct config_overrides {
	const char *key[CONFIG_MAX_OVERRIDES];
	const char *value[CONFIG_MAX_OVERRIDES];
	int n;
};

/* defaults, then the file at path (if not NULL), then the overrides. A
 * listener given as an override replaces the file's listeners. Used at start
 * and again on SIGHUP. Returns 0 or -1 with err filled. */
int config_build(struct agora_config *cfg, const char *path, const struct config_overrides *ov,
		 char *err, size_t errlen);

/* Writes the key table (name, default, limits, meaning) for --help. */
void config_print_keys(void);

#endif
