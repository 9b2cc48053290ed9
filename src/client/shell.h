/*
 * shell.h - the pure parts of `agora pub` and `agora sub` (src/cli/pubsub.c):
 * their options as mosquitto_pub and mosquitto_sub spell them, MQTT 5
 * properties from -D, mqtt:// URLs from -L, the -F output format, and the
 * TLS options (which `agora bench` takes too).
 * No I/O: each takes strings and fills structs, so each is unit-tested
 * (tests/unit/test_cli_pubsub.c).
 *
 * Errors: a function that refuses its input returns -1 and writes one
 * line (no newline, no program name) into the caller's err buffer.
 * Ownership: strings in the structs point into argv (valid for the
 * process's life) or are owned by the struct, as each says; the
 * *_release functions free what a struct owns.
 */
#ifndef AGORA_CLIENT_SHELL_H
#define AGORA_CLIENT_SHELL_H

#include "mqtt/mqtt.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

/* ---- a growable byte buffer ---- */

struct client_buf {
	uint8_t *b;
	uint32_t len, cap; /* grows by base/array.h */
};

void client_buf_put(struct client_buf *o, const void *data, size_t len);
void client_buf_release(struct client_buf *o);

/* ---- MQTT 5 properties from -D COMMAND PROPERTY VALUE ---- */

/* The packets a -D names (mosquitto's words: connect, publish, ...). */
enum client_prop_cmd {
	CLIENT_PROPS_CONNECT,
	CLIENT_PROPS_PUBLISH,
	CLIENT_PROPS_SUBSCRIBE,
	CLIENT_PROPS_UNSUBSCRIBE,
	CLIENT_PROPS_DISCONNECT,
	CLIENT_PROPS_WILL,
	CLIENT_PROPS_N,
};

/* One property block being built. Strings point into argv; user
 * properties are encoded into `user` (owned), which props.user_raw points
 * to once client_propset_finish has run. */
struct client_propset {
	struct mqtt_props props;
	struct client_buf user;
};

void client_propsets_init(struct client_propset sets[CLIENT_PROPS_N]);
/* Parses one -D: argv[0] is the command, argv[1] the property, then one
 * value (two for user-property: name and value). argc counts what is left
 * of the command line. Returns the arguments used (3 or 4) or -1. */
int client_prop_arg(struct client_propset sets[CLIENT_PROPS_N], int argc, char **argv, char *err,
		    size_t errlen);
/* Points every block's user_raw at its user properties. */
void client_propsets_finish(struct client_propset sets[CLIENT_PROPS_N]);
/* True when any -D was given. */
bool client_propsets_any(const struct client_propset sets[CLIENT_PROPS_N]);
void client_propsets_release(struct client_propset sets[CLIENT_PROPS_N]);

/* ---- -L mqtt://[user[:password]@]host[:port]/topic ---- */

struct client_url {
	char *user, *password, *host, *topic; /* owned; user, password NULL if absent */
	uint16_t port;                        /* 1883 when absent */
};

/* An address, -L's and `agora inbox --mqtt`'s: "HOST", "HOST:PORT" or
 * "[IPV6]" with an optional ":PORT", in s[0..len) (not NUL-terminated). *host gets a malloc'd copy of the host
 * (without the brackets), *port the port (1 to 65535) or default_port. */
int client_address_parse(const char *s, size_t len, uint16_t default_port, char **host,
			 uint16_t *port, char *err, size_t errlen);

/* Parses url into u (zeroed first). The host may be a name, an IPv4
 * address or [an IPv6 one]. */
int client_url_parse(struct client_url *u, const char *url, char *err, size_t errlen);
void client_url_release(struct client_url *u);

/* ---- TLS: --cafile, --capath, --cert, --key, --insecure ---- */

/* The TLS options of pub, sub and bench, spelled as mosquitto_pub's: any
 * of them turns TLS on. Paths point into argv. */
struct client_tls_args {
	const char *cafile, *capath, *certfile, *keyfile;
	bool insecure;
};

/* Their lines of --help, the same for every command that takes them. */
#define CLIENT_TLS_HELP \
	"  --cafile FILE      TLS: trust these CAs; --capath DIR: a directory of them;\n" \
	"                     any TLS option makes the default port 8883\n" \
	"  --cert FILE --key FILE  TLS: a client certificate and its key\n" \
	"  --insecure         TLS without checking the server (development only)\n"

/* Parses the TLS option at argv[0], its value (if it takes one) at
 * argv[1]; argc counts what is left of the command line. Returns the
 * arguments used (1 or 2), 0 when argv[0] is no TLS option, or -1 (a
 * missing value, a path given twice). */
int client_tls_arg(struct client_tls_args *t, int argc, char **argv, char *err, size_t errlen);
/* Checks the whole once parsed: --cert and --key go together. */
int client_tls_args_check(const struct client_tls_args *t, char *err, size_t errlen);

/* Whether any TLS option was given. */
static inline bool client_tls_wanted(const struct client_tls_args *t)
{
	return t->cafile || t->capath || t->certfile || t->keyfile || t->insecure;
}

/* ---- the output of `agora sub` ---- */

/* A message as sub prints it. */
struct client_msg {
	const struct mqtt_publish *p;
	struct timespec when; /* received, CLOCK_REALTIME */
};

/* Checks a -F format (every %, @ and \ sequence known). */
int client_format_check(const char *fmt, char *err, size_t errlen);
/* Appends m rendered by fmt (checked) to out. Returns 0, or -1 when %J
 * meets a payload that is not JSON (err says so; nothing appended). */
int client_format(struct client_buf *out, const char *fmt, const struct client_msg *m, char *err,
		  size_t errlen);
/* Appends the JSON object of a message (%j, --json): tst, topic, qos,
 * retain, payloadlen, mid, properties, and payload, or payload_base64
 * when the payload is not UTF-8. raw_payload: the payload as it is (it is
 * JSON: %J). */
void client_format_json(struct client_buf *out, const struct client_msg *m, bool raw_payload);

/* ---- the command line ---- */

enum client_source {
	CLIENT_SRC_NONE,
	CLIENT_SRC_MESSAGE, /* -m */
	CLIENT_SRC_FILE,    /* -f */
	CLIENT_SRC_STDIN,   /* -s */
	CLIENT_SRC_LINES,   /* -l */
	CLIENT_SRC_NULL,    /* -n */
};

#define CLIENT_MAX_TOPICS 1024 /* -t, -T, -U: each at most this many times */

/* The line of --help naming the long options (--host, --topic, ...) of
 * pub (sub = false) or sub, from the table that parses them. */
void client_print_long_names(FILE *out, bool sub);

/* The options of pub (sub = false) or sub, as given. Strings point into
 * argv, except what the -L URL brought (owned by url). */
struct client_cmdline {
	bool sub;
	const char *host;
	uint16_t port;
	const char *topics[CLIENT_MAX_TOPICS];   /* -t */
	uint32_t ntopics;
	const char *filter_out[CLIENT_MAX_TOPICS]; /* -T */
	uint32_t nfilter_out;
	const char *unsub[CLIENT_MAX_TOPICS];    /* -U */
	uint32_t nunsub;
	enum client_source source;
	const char *message; /* -m */
	const char *file;    /* -f */
	uint8_t qos;
	bool retain, clean, verbose, no_newline, no_retained, json, debug;
	const char *id;
	const char *username, *password;
	uint16_t keepalive;
	uint8_t level;       /* 0 until -V or -D chose */
	bool level_given;
	bool has_session_expiry;
	uint32_t session_expiry; /* -x */
	uint64_t count;      /* -C, 0 = no limit */
	uint32_t timeout;    /* -W seconds, 0 = none */
	const char *format;  /* -F */
	const char *will_topic, *will_payload;
	uint8_t will_qos;
	bool will_retain;
	struct client_propset props[CLIENT_PROPS_N];
	struct client_url url;
	struct client_tls_args tls; /* any of them moves the default port to 8883 */
	bool port_given;
};

/* Parses argv (argv[0] is the command name) and checks the whole: a
 * topic, one message source (pub), -c with -i, -D and -x with MQTT 5
 * (-D alone selects it), topics and filters valid. -h is the host, as in
 * mosquitto; --help, or -h with no value, asks for the usage. Returns 0,
 * 1 for the usage, or -1 with err set. o is usable by
 * client_cmdline_release whatever the result. */
int client_cmdline_parse(struct client_cmdline *o, bool sub, int argc, char **argv, char *err,
			 size_t errlen);
void client_cmdline_release(struct client_cmdline *o);

#endif
