/*
 * internal.h - what the files of src/rules/ share with each other and with
 * nothing else.
 *
 * The folder by concern:
 *   parse.c     the rule's text: SELECT / FROM / WHERE found, sources
 *               checked, dotted paths translated, the SQL built with a map
 *               from its bytes back to the text (pure: no SQLite)
 *   engine.c    the private connection: authorizer, limits, level() and
 *               now_ms(); compiling a rule into a statement
 *   eval.c      an event bound, one step, the row copied out
 *   template.c  ${...} templates: compile, render
 *   json.c      the growing buffer, JSON strings and numbers, ${*}
 *   actions.c   the actions' JSON checked and compiled
 *
 * Internal names start with rules__ (libuv's uv__).
 */
#ifndef AGORA_RULES_INTERNAL_H
#define AGORA_RULES_INTERNAL_H

#include "rules.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A run of the generated SQL and where it came from: a copy of the text at
 * `in` (an SQL offset inside maps to the same offset inside the text), or
 * text we wrote for the construct at `in` (any offset inside maps to in). */
struct rules__span {
	uint32_t out, in, len;
	bool copy;
};

/* One item of the select list (between top-level commas): its bytes in the
 * text and in the SQL, and whether a dotted path was translated in it. */
struct rules__item {
	uint32_t in_start, in_end, out_start, out_end;
	bool translated;
};

/* A rule's text taken apart (rules__parse). */
struct rules__parsed {
	char *sql; /* NUL-terminated */
	uint32_t sql_len, sql_cap;
	struct rules__span *spans;
	uint32_t nspans, spans_cap;
	struct rules__item *items;
	uint32_t nitems, items_cap;
	struct rules_source *sources; /* each text xmalloc'ed */
	uint32_t nsources;
	uint32_t text_len;
};

/* Parses text (len <= RULES_MAX_TEXT) into p (zeroed by the caller): 0, or
 * RULES_ERR_SYNTAX / RULES_ERR_SOURCE with err filled. The caller releases
 * p either way. */
int rules__parse(const char *text, size_t len, struct rules__parsed *p, struct rules_error *err);
void rules__parsed_release(struct rules__parsed *p);
/* The text's position of an SQL offset (sqlite3_error_offset); -1 stays -1. */
int rules__map_offset(const struct rules__parsed *p, int offset);

void rules__error(struct rules_error *err, int position, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));


/* ---- the engine and its rules (engine.c, eval.c) ---- */

/* The progress handler runs every RULES__TICK steps; an evaluation is
 * stopped at its RULES_MAX_STEPS / RULES__TICK-th call, or at the first
 * past its time limit. A step can take up to a millisecond (a function of
 * a 1 MiB value), so the tick is small: the limit is overrun by at most
 * RULES__TICK such steps. */
#define RULES__TICK 100

struct rules_engine {
	struct sqlite3 *db;
	unsigned max_depth;
	int64_t (*clock)(void);
	uint32_t ticks;	     /* progress handler calls since the step began */
	uint32_t max_ms;     /* an evaluation's time limit */
	int64_t deadline_ns; /* this evaluation's, on CLOCK_MONOTONIC */
	bool timed_out;	     /* stopped by the deadline, not the steps */
	char refused[128];   /* the authorizer's first refusal while compiling */
	uint32_t nrules;     /* compiled and not yet freed */
};

/* A compiled rule: the public part first, so a struct rules_rule * is one. */
struct rules__rule {
	struct rules_rule pub;
	struct sqlite3_stmt *stmt;
	struct rules_source *sources;
	char **columns;
};

int64_t rules__monotonic_ns(void);

/* ---- the growing buffer (json.c) ---- */

/* Appends n bytes: 0 or RULES_ERR_TOO_BIG (nothing appended). */
int rules__put(struct rules_buf *b, const void *p, size_t n);
/* s as a JSON string, quotes included. */
int rules__put_json_string(struct rules_buf *b, const char *s, size_t n);
/* A real as SQLite writes it: %.15g, with ".0" when it would read as an
 * integer; json: infinities as +-9e999, else as Inf/-Inf. */
int rules__put_real(struct rules_buf *b, double d, bool json);
int rules__put_int(struct rules_buf *b, int64_t i);

#endif
