/*
 * rules.h - the rules engine's pure core (issue 16; docs/rules.md):
 * a rule's text compiled once, evaluated against events, templates
 * rendered from what it selected, its actions' JSON checked. No sockets, no
 * broker, no storage: the server feeds events in and executes what comes
 * out (republish, message, record, webhook, e-mail).
 *
 * The model:
 *   rule text   SELECT <select-list> FROM "src"[, "src"...] [WHERE <condition>]
 *               The FROM part is ours (MQTT topic filters or "$events/..."
 *               names, parsed here); the select list and the condition are
 *               SQL that SQLite evaluates. Dotted paths over an event field
 *               (payload.a.b[2]) become json_extract(payload,'$.a.b[2]').
 *   engine      one private in-memory SQLite connection (struct
 *               rules_engine) on which every rule is one prepared statement:
 *                 SELECT <select-list> FROM (SELECT ?1 AS topic, ?2 AS payload,
 *                   ?3 AS clientid, ?4 AS username, ?5 AS qos, ?6 AS retain,
 *                   ?7 AS timestamp, ?8 AS event) WHERE <condition>
 *               SQLite is used as an expression evaluator over bound values,
 *               never as storage: the connection holds no table. Its
 *               authorizer admits SELECT, functions (not load_extension) and
 *               reads of json_each/json_tree only; limits bound the SQL, its
 *               expressions and its strings; a progress handler stops an
 *               evaluation after RULES_MAX_STEPS virtual-machine steps
 *               or a time limit (a step over a 1 MiB value takes about a
 *               millisecond: 100,000 of them would hold the loop for long).
 *   evaluation  an event (struct rules_event) bound to the statement, one
 *               step: a row is "passed" and its columns are the selected
 *               fields (struct rules_row, reused from one evaluation to the
 *               next); no row is "not passed"; an SQLite error (json_extract
 *               of a payload that is not JSON, a runaway expression) is
 *               "failed" with the error's text.
 *   templates   "${name}" fields in action strings, compiled once, rendered
 *               against a row into a growing buffer (struct rules_buf).
 *   actions     the JSON array of a rule's actions checked and compiled into
 *               struct rules_actions, which the server executes.
 *   loops       an event carries the depth of the rule chain that produced
 *               it (0 for a client's or the API's event); rules_eval refuses
 *               an event at depth >= the engine's max_depth (counted as
 *               loop_stopped), and an action's event gets depth + 1.
 *
 * Conventions:
 *   Errors: 0 is success, a negative RULES_ERR_* is a failure and
 *   rules_strerror names it; a failing compile also fills struct
 *   rules_error: a message and a 0-based byte position in the text as the
 *   user wrote it (-1 when nothing points anywhere).
 *   Ownership: *_new / *_compile / *_parse allocate, *_free frees (NULL
 *   accepted); a compiled rule belongs to its engine and is freed before it.
 *   Nothing keeps a pointer to the caller's input after a call returns,
 *   except as said (a row's names point into its rule).
 *   Allocation never fails (base/alloc.h aborts); sizes are bounded by the
 *   limits below before anything grows.
 *   Threads: an engine, its rules and their rows belong to one thread.
 *   Templates and actions are immutable once compiled and may be rendered
 *   from any thread, each with its own buffer.
 */
#ifndef AGORA_RULES_H
#define AGORA_RULES_H

#include <jansson.h>

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RULES_MAX_TEXT		 16384	 /* bytes of a rule's text */
#define RULES_MAX_SOURCES	 16	 /* sources after FROM */
#define RULES_MAX_COLUMNS	 256	 /* selected columns (SQLite's SQLITE_LIMIT_COLUMN) */
#define RULES_MAX_STEPS		 100000	 /* virtual-machine steps of one evaluation */
#define RULES_MAX_MS_DEFAULT	 50	 /* milliseconds of one evaluation */
#define RULES_MAX_LENGTH	 1048576 /* bytes of a string or blob, a payload included */
#define RULES_MAX_ROW		 (4u * 1024 * 1024) /* bytes of a selected row's texts and blobs */
#define RULES_MAX_DEPTH_DEFAULT	 4		    /* rules_max_depth */
#define RULES_MAX_ACTIONS	 8
#define RULES_RENDER_MAX_DEFAULT (4u * 1024 * 1024) /* a rendered template */
#define RULES_ERROR_MAX		 256		    /* a message, NUL included */

enum rules_err {
	RULES_ERR_SYNTAX = -1,	 /* the rule's or a template's text: see the message and position */
	RULES_ERR_TOO_LONG = -2, /* a rule's text over RULES_MAX_TEXT */
	RULES_ERR_SOURCE = -3,	 /* a source: not a valid filter, $share/, an unknown event */
	RULES_ERR_REFUSED = -4,	 /* the authorizer refused a construct (PRAGMA, ATTACH, ...) */
	RULES_ERR_ACTION = -5,	 /* the actions' JSON: the message names action and field */
	RULES_ERR_TOO_BIG = -6,	 /* a rendering past its buffer's maximum */
	RULES_ERR_ENGINE = -7,	 /* SQLite failed otherwise (could not open, out of memory) */
};

const char *rules_strerror(int err);

/* Where and why a compile failed. position: a byte offset into the text
 * given to the failing call (the rule's text; a template's string for
 * templates and actions), -1 when the error has no place. */
struct rules_error {
	int position;
	char message[RULES_ERROR_MAX];
};

/* ---- the engine ---- */

struct rules_engine;

/* Opens the private connection, sets its authorizer, limits and functions.
 * NULL when SQLite cannot open an in-memory database. max_depth starts at
 * RULES_MAX_DEPTH_DEFAULT, the clock of now_ms() at base/text.h's
 * wall_clock_ms. */
struct rules_engine *rules_engine_new(void);
/* Frees the engine; every rule compiled on it must have been freed. */
void rules_engine_free(struct rules_engine *e);
/* Events at depth >= max_depth are not evaluated (rules_max_depth, >= 1). */
void rules_engine_set_max_depth(struct rules_engine *e, unsigned max_depth);
/* An evaluation's time limit in ms (>= 1; RULES_MAX_MS_DEFAULT): past it,
 * it fails as too long, like past RULES_MAX_STEPS. */
void rules_engine_set_max_ms(struct rules_engine *e, uint32_t max_ms);
/* The clock now_ms() reads (tests fix it). NULL restores wall_clock_ms. */
void rules_engine_set_clock(struct rules_engine *e, int64_t (*clock)(void));

/* ---- a compiled rule ---- */

enum rules_source_kind {
	RULES_SOURCE_FILTER, /* an MQTT topic filter */
	RULES_SOURCE_EVENT,  /* one of Agora's events */
};

/* Agora's events, by the name after "$events/". */
enum rules_event_kind {
	RULES_EVENT_MESSAGE,
	RULES_EVENT_STATUS,
	RULES_EVENT_VOTE,
	RULES_EVENT_CLIENT_CONNECTED,
	RULES_EVENT_CLIENT_DISCONNECTED,
	RULES_EVENT_SUBSCRIBED,
	RULES_EVENT_COUNT,
};

/* "message", "status", ... (without "$events/"): the `event` field. */
const char *rules_event_name(enum rules_event_kind kind);

struct rules_source {
	enum rules_source_kind kind;
	enum rules_event_kind event; /* RULES_SOURCE_EVENT */
	const char *text;	     /* the filter or "$events/<name>", unquoted, NUL-terminated */
	size_t len;
	int position; /* of its opening quote in the rule's text */
};

/* What rules_eval counts; actions_* are the executor's to count. last_error
 * is the last failed evaluation's text (empty before any). */
struct rules_stats {
	uint64_t matched, passed, failed, loop_stopped, actions_ok, actions_failed;
	char last_error[RULES_ERROR_MAX];
};

struct rules_rule {
	struct rules_engine *engine;
	const struct rules_source *sources; /* in the order written */
	uint32_t nsources;
	const char *const *columns; /* the selected columns' names */
	uint32_t ncolumns;
	struct rules_stats stats;
	/* the rest is the engine's (rules/internal.h) */
};

/*
 * Compiles text[0..len) (not NUL-terminated necessarily) on e: 0 and *out,
 * or an error (RULES_ERR_SYNTAX, _TOO_LONG, _SOURCE, _REFUSED, _ENGINE) with
 * err filled and *out untouched. Keywords are case-insensitive; a trailing
 * ";" is allowed, another statement is not. Sources are double-quoted: a
 * topic filter ("sensors/#", checked as a SUBSCRIBE's filter would be, no
 * "$share/") or "$events/<name>" with a name of enum rules_event_kind; each
 * at most once.
 * Dotted paths: a bare event field (topic, payload, clientid, username,
 * qos, retain, timestamp, event; any case) followed without blanks by
 * .key, ."quoted key" or [n] segments is json_extract of that path; not
 * inside string literals, quoted identifiers or comments, and not after
 * "AS". A selected column's name is its AS name, else its text as
 * written (payload.a, not the json_extract it became).
 * SQL errors carry SQLite's message and its position mapped back to the
 * text (what our translation added points at the construct it came from;
 * SQLite's "incomplete input", which has no offset, at the text's end;
 * other errors without an offset at -1); a refusal by the authorizer
 * names what was refused, at position -1. The authorizer allows reading
 * json_each and json_tree only, so a recursive common table expression is
 * refused as reading itself.
 */
int rules_compile(struct rules_engine *e, const char *text, size_t len, struct rules_rule **out,
		  struct rules_error *err);
void rules_rule_free(struct rules_rule *r);

/* Does one of r's topic filters match this topic name (MQTT's rule: a
 * filter starting with a wildcard does not match "$..." topics)? The
 * server routes through its subscription trie; this is for a sample
 * event (the test endpoint) and for checks. */
bool rules_rule_matches_topic(const struct rules_rule *r, const char *topic, size_t len);
/* Is this event one of r's sources? */
bool rules_rule_matches_event(const struct rules_rule *r, enum rules_event_kind kind);

/* ---- evaluation ---- */

/* An event as the rule sees it. Strings are not NUL-terminated; a NULL
 * clientid or username is SQL NULL. topic and event must be valid UTF-8
 * (the broker checked them). The payload is bound as TEXT when it is valid
 * UTF-8 without U+0000, else as a BLOB (json_extract of a BLOB fails). */
struct rules_event {
	const char *topic;
	size_t topic_len;
	const void *payload;
	size_t payload_len;
	const char *clientid;
	size_t clientid_len;
	const char *username;
	size_t username_len;
	int qos;
	bool retain;
	int64_t timestamp; /* ms since the epoch */
	const char *event; /* "message.publish" for MQTT, else the event's name */
	size_t event_len;
	unsigned depth; /* 0: from a client or the API; an action's event: its cause's + 1 */
};

enum rules_value_type { RULES_NULL, RULES_INT, RULES_REAL, RULES_TEXT, RULES_BLOB };

/* One selected column. s is NUL-terminated (text and blob). json: a TEXT
 * that SQLite produced as JSON (json_extract of an object or array,
 * json(), json_object(), ...; SQLite's 'J' subtype): ${*} embeds it as
 * JSON rather than as a string. */
struct rules_value {
	const char *name; /* the rule's column name (valid while the rule lives) */
	enum rules_value_type type;
	bool json;
	int64_t i;
	double d;
	const char *s;
	size_t len;
};

/* The row a passed evaluation selected. Zero it before first use; it is
 * reused (its arrays grow to the largest row seen, so a steady stream of
 * evaluations allocates nothing); rules_row_release frees what it holds. A
 * row is valid until the next evaluation into it. */
struct rules_row {
	struct rules_value *values;
	uint32_t ncolumns;
	uint32_t values_cap;
	char *bytes; /* the texts' and blobs' bytes */
	uint32_t bytes_len, bytes_cap;
	char error[RULES_ERROR_MAX]; /* RULES_FAILED: why */
};

void rules_row_release(struct rules_row *row);

enum rules_outcome {
	RULES_PASSED,	    /* a row: row holds the selected fields */
	RULES_NOT_PASSED,   /* the condition was false */
	RULES_FAILED,	    /* an SQLite error at step: row->error says which */
	RULES_LOOP_STOPPED, /* ev->depth >= max_depth: not evaluated */
};

/* Evaluates r against ev into row and counts the outcome in r->stats
 * (matched: every call but a loop stop). A rule that selects several rows
 * passes with its first. A row whose texts and blobs pass RULES_MAX_ROW
 * bytes is not copied: failed. */
enum rules_outcome rules_eval(struct rules_rule *r, const struct rules_event *ev,
			      struct rules_row *row);

/* ---- rendering ---- */

/* A growing output buffer: s[0..len), NUL-terminated after a rendering.
 * Zero it and set max (0: RULES_RENDER_MAX_DEFAULT); reset len to reuse it;
 * free(s) when done. */
struct rules_buf {
	char *s;
	size_t len;
	uint32_t cap;
	size_t max;
};

/*
 * Templates: text with "${key}" fields; "$${" writes "${". key (blanks
 * around it ignored) is:
 *   *                    the whole row as a JSON object (rules_row_json)
 *   name                 the column called name
 *   name.k[1]."k 2"...   a path into the JSON text of column name, unless
 *                        a column is called the whole key (payload.a as
 *                        selected): that column then
 * A field renders a NULL, a missing column, a path that is not there or a
 * column that is not JSON as nothing; an integer as decimal; a real as
 * SQLite writes it (%.15g, ".0" added to a whole number); a text as it is;
 * a blob as its bytes; a JSON string as its text, true/false/null as
 * true/false/nothing, numbers as above, objects and arrays as compact JSON.
 * The path into a column is walked with jansson (parsed at rendering, the
 * path itself at compile): rendering needs no SQLite connection, so it can
 * run on any thread.
 */
struct rules_template;

int rules_template_compile(const char *text, size_t len, struct rules_template **out,
			   struct rules_error *err);
void rules_template_free(struct rules_template *t);
/* The template's text when it holds no field ("$${" unescaped; *len
 * bytes, NUL-terminated, and it may hold a NUL of its own), else NULL. */
const char *rules_template_literal(const struct rules_template *t, size_t *len);
/* Its literal beginning, up to the first field (for a URL's scheme). */
const char *rules_template_prefix(const struct rules_template *t, size_t *len);
/* Appends t rendered against row to out: 0 or RULES_ERR_TOO_BIG (out->len
 * back where it was). row may be NULL (every field renders empty). */
int rules_template_render(const struct rules_template *t, const struct rules_row *row,
			  struct rules_buf *out);

/* Appends the row as one JSON object (${*}), columns in order (a name
 * selected twice appears twice): integers and reals as JSON numbers (an
 * infinite real as 9e999 as SQLite's JSON does), NULL as null, a JSON text
 * (value.json) embedded as it is, other texts as JSON strings (an invalid
 * UTF-8 sequence becomes U+FFFD), blobs as strings of lowercase hex. */
int rules_row_json(const struct rules_row *row, struct rules_buf *out);

/* ---- actions ---- */

enum rules_action_type {
	RULES_ACTION_REPUBLISH,
	RULES_ACTION_MESSAGE,
	RULES_ACTION_RECORD,
	RULES_ACTION_WEBHOOK,
	RULES_ACTION_EMAIL,
};

/* A string key with a template value (user properties, headers). */
struct rules_pair {
	char *key;
	struct rules_template *value;
};

/*
 * One action, its template fields compiled. What is checked here is what
 * the text alone can tell; the executor checks the rendered values (a
 * rendered topic is a valid topic name, a header value holds no CR or LF, a
 * rendered URL still starts with http:// or https://).
 */
struct rules_action {
	enum rules_action_type type;
	union {
		struct {
			struct rules_template *topic, *payload,
			    *content_type; /* content_type may be NULL */
			uint8_t qos;
			bool retain;
			struct rules_pair *props;
			uint32_t nprops;
		} republish;
		struct {
			struct rules_template *to, *content;
		} message;
		struct {
			char collection[65];
		} record;
		struct {
			struct rules_template *url, *body;
			bool put; /* PUT, else POST */
			struct rules_pair *headers;
			uint32_t nheaders;
			uint32_t timeout_ms;
		} webhook;
		struct {
			struct rules_template *to, *subject, *body;
		} email;
	};
};

struct rules_actions {
	struct rules_action *items;
	uint32_t count;
};

#define RULES_WEBHOOK_TIMEOUT_DEFAULT 10000 /* notify.h's NOTIFY_TIMEOUT_DEFAULT_MS */
#define RULES_WEBHOOK_TIMEOUT_MAX     60000

/*
 * Checks and compiles a rule's actions: a JSON array of 1..RULES_MAX_ACTIONS
 * objects, each with a known "type" and only the fields of its type
 * (issue 16's design): templates are strings; republish's qos
 * 0..2 (default 0), retain a boolean (false), payload default "${*}", a
 * topic without fields a valid topic name; a record's collection
 * [a-z0-9_-]{1,64}; a webhook's url starting with http:// or https://,
 * method "POST" (default) or "PUT", headers' names HTTP tokens, body
 * default "${*}", timeout_ms 1..60000 (default 10000); e-mail's to, subject
 * and body. Errors (RULES_ERR_ACTION, or RULES_ERR_SYNTAX for a template)
 * name the action and field ("actions[1].qos: ..."); a template's error
 * has its position in that string. The caller frees *out with
 * rules_actions_free.
 */
int rules_actions_parse(const json_t *actions, struct rules_actions **out, struct rules_error *err);
void rules_actions_free(struct rules_actions *a);

#endif
