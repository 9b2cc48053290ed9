/*
 * api.h - the REST API (docs/api.md): a route table and the handlers behind
 * it. Handlers take a parsed request and fill a response; they never touch
 * a socket (src/server does), so they are tested with plain structs.
 */
#ifndef AGORA_API_H
#define AGORA_API_H

#include "polls/polls.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct api;
struct http_request;
struct http_response;
struct api_params;

typedef void (*api_handler_fn)(struct api *a, const struct http_request *rq,
			       const struct api_params *p, struct http_response *rs);

/* One route. Templates use OpenAPI's syntax, "/api/users/{id}"; a {name}
 * matches one non-empty path segment. HEAD and OPTIONS are answered for
 * every path from this table and are not listed. */
struct api_route {
	const char *method; /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char *path;
	api_handler_fn handler;
};

/* The table, in match order: *n gets the count. Static. */
const struct api_route *api_routes(size_t *n);

struct store;
struct store_user;
struct store_message;

/* Settings (docs/api.md, docs/configuration.md). */
struct api_config {
	size_t message_max;      /* bytes of a message's content */
	size_t status_max;       /* bytes of a status */
	size_t poll_question_max; /* bytes of a poll's question (polls.h) */
	size_t poll_option_max;  /* bytes of one of its options' labels */
	const char *cors_origins; /* "", "*" or "https://a,https://b" (not copied) */
	unsigned long long pwhash_ops; /* argon2id cost: passes */
	size_t pwhash_mem;       /* argon2id cost: bytes of memory */
	unsigned login_failures_per_minute; /* per address, then 429 */
};

void api_config_defaults(struct api_config *cfg);

/* How the API reaches MQTT (the server wires it to the broker); any
 * callback may be NULL. */
struct api_bridge {
	void *ctx;
	void (*status_changed)(void *ctx, const struct store_user *u);
	void (*message_created)(void *ctx, const struct store_message *m);
	void (*user_deleted)(void *ctx, const char *name);
	/* A password was just set or proven (registration, login): the
	 * bridge derives what other login methods need (SCRAM). */
	void (*password_known)(void *ctx, int64_t user_id, const char *password);
};

/* How the API reaches the rules engine (the server wires it to
 * src/server/rules_service.h); install NULL: /api/rules answers 503. r is
 * the rule as stored (or about to be: install is called before the store
 * write, and a failure stores nothing). The sequences (src/api/rules.c):
 * POST install(id 0) -> store -> install(id) (refused then: the row is
 * deleted); PUT install(id) -> store, and if the store refuses (a taken
 * name) install(the old row) back; DELETE store -> uninstall(id); an
 * account deleted -> install(each ownerless rule, now disabled). */
struct rules_error;
struct rules_stats;
struct store_rule;
struct api_rules {
	void *ctx;
	/* Compiles r and puts it in place of the rule with its id (a new one
	 * with id 0 is checked only: the caller installs it again once stored
	 * and has its id). 0, or -1 with err (message, position) filled. */
	int (*install)(void *ctx, const struct store_rule *r, struct rules_error *err);
	void (*uninstall)(void *ctx, int64_t id);
	/* A dry run of r against sample ({"topic","payload","clientid",
	 * "username","qos","retain"} or {"event":"vote", "payload": {...}}):
	 * the JSON of docs/rules.md ("passed", "fields", "actions" rendered),
	 * malloc'ed; NULL with err filled when r or sample is not valid. */
	char *(*test)(void *ctx, const struct store_rule *r, const char *sample_json,
		      struct rules_error *err);
	/* Its counters now (zero for a rule not installed). */
	void (*stats)(void *ctx, int64_t id, struct rules_stats *out);
};

/*
 * Work too slow for the event loop (password hashing: tens of
 * milliseconds). A handler that needs it leaves a job in api->deferred and
 * no response; the caller runs run() on a worker thread (it touches only
 * the job), then finish() back on the loop fills the response, then
 * free(). api_run_deferred does all three inline (tests, fuzzing).
 */
struct api_job {
	void (*run)(struct api_job *job);
	void (*finish)(struct api *a, struct api_job *job, struct http_response *rs);
	void (*free)(struct api_job *job);
};

/* Counters for /metrics that the API keeps; the server adds its own. */
#define API_LATENCY_BUCKETS 12
struct api_route_stats {
	uint64_t by_status[24]; /* requests by http_status_slot() (HTTP_STATUS_SLOTS) */
};

struct api {
	struct store *store;
	struct api_config cfg;
	struct api_bridge bridge;
	struct api_rules rules;
	/* Accounts with the admin role (the `admins` setting: comma-separated
	 * names, not copied; "" none): they alone use /api/rules. */
	const char *admins;
	void *random; /* struct api_random */
	int64_t now_ms; /* wall clock for this request, set by api_handle's caller */
	const char *peer; /* client address of this request, for rate limits */
	uint64_t store_errors;
	struct api_route_stats *route_stats; /* one per route, + 1 for "other" */
	uint64_t latency_buckets[API_LATENCY_BUCKETS + 1]; /* cumulative later */
	double latency_sum_s;
	uint64_t latency_count;
	/* metrics text appended by the server (connections, MQTT) */
	void (*metrics_extra)(void *ctx, char **buf, size_t *len);
	void *metrics_ctx;
	struct api_limiter *limiter;
	struct api_user_cache *user_cache; /* GET /api/users/{id} answers (user_cache.c) */
	struct api_job *deferred; /* left by a handler; taken by the caller */
	/* The voting rules over the same store, with cfg's limits: the
	 * server adds its observers here (polls_observe) for MQTT and the
	 * line protocol, which vote through it too. */
	struct polls polls;
};

/* A new API over an open store (not owned); cfg copied. */
struct api *api_new(struct store *st, const struct api_config *cfg);
void api_free(struct api *a);

/* Answers one request: routing, HEAD, OPTIONS, CORS, 404/405, the
 * handler. rs must be initialised; the caller writes and releases it.
 * Returns the index of the route in api_routes() (their count: none), for
 * api_observe. */
size_t api_handle(struct api *a, const struct http_request *rq, struct http_response *rs);
/* The JSON the bridge publishes over MQTT (malloc'ed, NUL-terminated): a
 * user's status {"name", "status", "status_updated_at"}, and a message as
 * the API shows it. NULL on failure. */
char *api_status_payload(const struct store_user *u);
char *api_message_payload(const struct store_message *m);
/* A poll as every way in shows it (docs/api.md, "Polls"), `open` at now
 * (ms): {"id", "question", "options": [{"number", "label", "votes"}],
 * "total", "creator", "created_at", "closes_at", "closed_at", "open"},
 * one line of compact JSON (malloc'ed, NUL-terminated; the caller frees
 * it). NULL on failure. */
char *api_poll_payload(const struct store_poll *p, int64_t now);
/* A vote as the API answers it: {"poll_id", "option": {"number",
 * "label"}, "voted_at", "results": poll}, option 0-based (an index of p's),
 * p the poll after the vote. Malloc'ed, one line; NULL on failure. */
char *api_vote_payload(const struct store_poll *p, size_t option, int64_t voted_at, int64_t now);

/* Whether password (len bytes, may hold NULs) matches an argon2id hash. */
bool api_password_verify(const char *hash, const uint8_t *password, size_t len);

/* The user whose token is token (len bytes as a client sent it: an HTTP
 * bearer token, or an MQTT password): 0 and *user_id; STORE_ENOTFOUND when
 * no user has it (unknown, or revoked by logout); another STORE_E* code
 * when the store failed. One BLAKE2b hash and one indexed read: cheap
 * enough for the event loop, unlike api_password_verify. */
int api_token_user(struct api *a, const uint8_t *token, size_t len, int64_t *user_id);

/* Takes api->deferred (if any) and runs it to its response, inline. */
void api_run_deferred(struct api *a, struct http_response *rs);

/* Records a finished request for /metrics. */
void api_observe(struct api *a, size_t route, int status, double seconds);

#endif
