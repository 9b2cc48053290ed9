/*
 * apicmd.h - what the commands on the REST API share (account.c: register,
 * login, logout, users, status, send, inbox; poll.c: poll, vote): one
 * option parser driven by a table of command specs, the server from
 * --server or $AGORA_SERVER, the credentials of `agora login`, one request
 * whose refusal becomes one line on stderr, and the run around a command
 * (libcurl set up and cleaned up, stdout flushed).
 *
 * Conventions:
 * - Errors: a function here that fails says why on stderr ("agora CMD:
 *   ...", one line) and returns the exit status (commands.h); EXIT_OK to go
 *   on. The exit codes: EXIT_USAGE for options and arguments, EXIT_NET when
 *   the server cannot be reached or answers something that is not the API's,
 *   EXIT_REFUSED for a 4xx or 5xx answer, EXIT_LOCAL for the credentials
 *   file, the terminal and "not logged in".
 * - Ownership: the strings of struct apicmd_opts point into argv, but
 *   mqtt_host (malloc'd). struct apicmd owns its curl handle and the
 *   credentials file's JSON; apicmd_run releases them and the options once
 *   the command returns. c->me points into that JSON.
 */
#ifndef AGORA_CLI_APICMD_H
#define AGORA_CLI_APICMD_H

#include "client/creds.h"
#include "client/rest.h"
#include "follow.h"

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>

/* The options a command takes beyond the common ones (--server, --timeout,
 * --help); any other is refused by the parser, naming the command. */
enum apicmd_flag {
	APICMD_PASSWORD_FILE = 1 << 0,
	APICMD_JSON = 1 << 1,
	APICMD_UNREAD = 1 << 2,
	APICMD_FOLLOW = 1 << 3,
	APICMD_LIMIT = 1 << 4,
	APICMD_MARK_READ = 1 << 5,
	APICMD_LOCAL = 1 << 6,
	APICMD_OFFSET = 1 << 7,
	APICMD_CLOSES = 1 << 8, /* --closes-in, --closes-at */
	APICMD_CHANGE = 1 << 9,
	APICMD_MQTT = 1 << 10,
	APICMD_RULE = 1 << 11,   /* --action (repeated), --disabled */
	APICMD_SAMPLE = 1 << 12, /* --topic, --payload, --username, --clientid, --qos, --retain */
};

#define APICMD_LIMIT_DEFAULT 50
#define APICMD_LIMIT_MAX 1000
#define APICMD_MQTT_PORT 1883 /* --follow's MQTT server, when --mqtt gives no port */
#define APICMD_MQTTS_PORT 8883 /* the same when the API is https: MQTT over TLS */
#define APICMD_HOST_MAX 256   /* bytes of its host name, with the NUL */
#define APICMD_ACTIONS_MAX 16 /* --action given this often at most (a rule takes 8) */

struct apicmd_spec {
	const char *name;       /* as usage and errors name it: "inbox", "poll create" */
	unsigned flags;         /* APICMD_* */
	int min_args, max_args; /* operands; max -1: any number */
	const char *synopsis;
	const char *text;       /* what it does and its own options */
};

struct apicmd_opts {
	const struct apicmd_spec *spec;
	const char *server_arg; /* --server, else $AGORA_SERVER, else the default */
	const char *cafile;     /* --cafile (else $AGORA_CAFILE: in rc.cafile) */
	bool insecure;          /* --insecure */
	const char *password_file;
	const char *closes_in, *closes_at; /* as given: the command checks them */
	char *mqtt_host;                   /* --mqtt (malloc'd), else NULL */
	uint16_t mqtt_port;                /* its port, 0: none given */
	long timeout_ms;
	long limit, offset;
	bool json, unread, follow, mark_read, local, change;
	const char *actions[APICMD_ACTIONS_MAX]; /* --action, in their order */
	int nactions;
	bool disabled;
	/* a sample event: NULL (qos -1) when not given */
	const char *topic, *payload, *username, *clientid;
	long qos;
	bool retain;
	int nargs;
	char **args;
};

/* One command's run. */
struct apicmd {
	struct apicmd_opts o;
	const char *cmd; /* the spec's name */
	struct rest_client rc;
	char creds_path[PATH_MAX];
	json_t *creds;           /* the credentials file, once loaded */
	struct creds_account me; /* the account kept for rc.server (apicmd_need_login) */
	long status;             /* of the last answer, 0 when none came */
	/* A refusal whose error code is hint_code gets "; " and hint appended:
	 * what the command offers instead of the API's way out. */
	const char *hint_code, *hint;
	/* The "error" object of the last refused answer (apicmd_call), or
	 * NULL: for a command that shows more of it than its message (a
	 * rule's position). Owned; apicmd_run frees it. */
	json_t *refusal;
};

/* Prints the spec's usage on stdout (what --help shows). */
void apicmd_usage(const struct apicmd_spec *s);
/* The common options' help and the exit statuses, for a usage of one's own. */
extern const char apicmd_common_help[];

/* Parses argv (argv[0]: the command's word) for the spec, sets up libcurl,
 * the server and the timeouts, runs fn and releases it all. Returns the
 * exit status: fn's, or the parser's (--help: EXIT_OK). */
int apicmd_run(const struct apicmd_spec *spec, int (*fn)(struct apicmd *), int argc,
	       char **argv);

int apicmd_load_creds(struct apicmd *c);
int apicmd_save_creds(struct apicmd *c);
/* The account kept for this server; its token goes with every request. */
int apicmd_need_login(struct apicmd *c);
/* An answer that is not what the API sends (another server on that port?). */
int apicmd_not_the_api(struct apicmd *c);
/* Where and how --follow finds the MQTT server: --mqtt, else the API's
 * host; over TLS when the API is https (port 8883 unless --mqtt gives one,
 * the CAs of --cafile, --insecure), else plain (port 1883). host has
 * APICMD_HOST_MAX bytes; tls->cafile points into c. */
int apicmd_mqtt_address(struct apicmd *c, char *host, size_t len, uint16_t *port,
			struct follow_tls *tls);

/*
 * One request. body (may be NULL) is sent as JSON and zeroed after (it
 * may hold a password). The answer must have status `expect`; then, unless
 * it is 204, *out gets its JSON object (the caller decrefs). Returns EXIT_OK
 * or the exit status, the error said, except a refusal with status `quiet`
 * (0: none), left to the caller (c->status).
 */
int apicmd_call(struct apicmd *c, const char *method, const char *path, const json_t *body,
		long expect, json_t **out, long quiet);

/* The API's largest page (docs/api.md, "Conventions"). */
#define APICMD_PAGE 100

/*
 * A paginated list, a page at a time: up to `limit` items from `offset`
 * of the GET `query` (a path ending in "?" or "&", the rest of its query
 * before it), whose answer holds them in member `key`. *out gets a new
 * array (the caller decrefs), *total (may be NULL) the server's count of
 * the whole list. Returns EXIT_OK or the exit status, the error said.
 */
int apicmd_get_pages(struct apicmd *c, const char *query, const char *key, long offset,
		     long limit, json_t **out, long long *total);

#endif
