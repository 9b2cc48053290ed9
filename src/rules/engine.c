/*
 * engine.c - the private SQLite connection every rule is prepared on, and
 * compiling a rule into a statement.
 *
 * SQLite evaluates; it stores nothing here. The connection is in memory and
 * holds no table, so what a rule's SQL can reach is what the authorizer lets
 * it: SELECT, functions (not load_extension) and the json_each/json_tree
 * table-valued functions. The limits keep the SQL, its expressions and its
 * values small, and the progress handler stops a runaway evaluation, so a
 * hostile rule costs at most a bounded step.
 */
#include "rules/internal.h"

#include "base/alloc.h"
#include "base/text.h"
#include "mqtt/mqtt.h"

#include <sqlite3.h>

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* sqlite3_error_offset (3.38), JSON built in (3.38). */
#if SQLITE_VERSION_NUMBER < 3038000
#error "Agora's rules need SQLite 3.38 or later"
#endif

/* Functions no rule may call, whatever the build offers. */
static const char *const DENIED_FUNCTIONS[] = {"load_extension", "fts3_tokenizer", "readfile",
					       "writefile",	 "edit",	   "sqlite_dbpage"};

/* The limits of issue 16's design; SQL_LENGTH allows for the translation (a dotted
 * path grows about fourfold), the rule's own text being checked against
 * RULES_MAX_TEXT first. VARIABLE_NUMBER 8: ?9 or :name is an error, not a
 * silent NULL. */
static const struct {
	int id, value;
} LIMITS[] = {
    {SQLITE_LIMIT_LENGTH, RULES_MAX_LENGTH},
    {SQLITE_LIMIT_SQL_LENGTH, 8 * RULES_MAX_TEXT},
    {SQLITE_LIMIT_COLUMN, RULES_MAX_COLUMNS},
    {SQLITE_LIMIT_EXPR_DEPTH, 100},
    {SQLITE_LIMIT_COMPOUND_SELECT, 10},
    {SQLITE_LIMIT_FUNCTION_ARG, 32},
    {SQLITE_LIMIT_ATTACHED, 0},
    {SQLITE_LIMIT_LIKE_PATTERN_LENGTH, 1024},
    {SQLITE_LIMIT_VARIABLE_NUMBER, 8},
    {SQLITE_LIMIT_TRIGGER_DEPTH, 1},
    {SQLITE_LIMIT_WORKER_THREADS, 0},
};

const char *rules_strerror(int err)
{
	switch (err) {
	case 0: return "success";
	case RULES_ERR_SYNTAX: return "syntax error";
	case RULES_ERR_TOO_LONG: return "rule too long";
	case RULES_ERR_SOURCE: return "invalid source";
	case RULES_ERR_REFUSED: return "not allowed in a rule";
	case RULES_ERR_ACTION: return "invalid action";
	case RULES_ERR_TOO_BIG: return "rendering too big";
	case RULES_ERR_ENGINE: return "SQLite failed";
	default: return "unknown error";
	}
}

/* ---- safety ---- */

/* Keeps the first refusal of a compile: what + name (e.g. "PRAGMA " "x"). */
static void refuse(struct rules_engine *e, const char *what, const char *name)
{
	if (!e->refused[0])
		snprintf(e->refused, sizeof(e->refused), "%s%s", what, name ? name : "");
}

static int authorize(void *ctx, int action, const char *a1, const char *a2, const char *db,
		     const char *trigger)
{
	struct rules_engine *e = ctx;

	(void)db;
	(void)trigger;
	switch (action) {
	case SQLITE_SELECT: return SQLITE_OK;
	case SQLITE_FUNCTION:
		for (size_t i = 0; i < sizeof(DENIED_FUNCTIONS) / sizeof(DENIED_FUNCTIONS[0]);
		     i++) {
			if (a2 && strcasecmp(a2, DENIED_FUNCTIONS[i]) == 0) {
				refuse(e, "the function ", a2);
				return SQLITE_DENY;
			}
		}
		return SQLITE_OK;
	case SQLITE_READ:
		if (a1 && (strcmp(a1, "json_each") == 0 || strcmp(a1, "json_tree") == 0))
			return SQLITE_OK;
		/* also a recursive common table expression reading itself */
		refuse(e, "reading the table ", a1);
		return SQLITE_DENY;
	case SQLITE_RECURSIVE:
		refuse(e, "a recursive common table expression (WITH RECURSIVE)", NULL);
		return SQLITE_DENY;
	case SQLITE_PRAGMA: refuse(e, "PRAGMA ", a1); return SQLITE_DENY;
	case SQLITE_ATTACH:
	case SQLITE_DETACH: refuse(e, "ATTACH and DETACH", NULL); return SQLITE_DENY;
	default: refuse(e, "a statement that is not a SELECT", NULL); return SQLITE_DENY;
	}
}

int64_t rules__monotonic_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Non-zero stops the statement (SQLITE_INTERRUPT). */
static int progress(void *ctx)
{
	struct rules_engine *e = ctx;

	if (++e->ticks >= RULES_MAX_STEPS / RULES__TICK)
		return 1;
	if (rules__monotonic_ns() > e->deadline_ns) {
		e->timed_out = true;
		return 1;
	}
	return 0;
}

/* ---- level(topic, n) and now_ms() ---- */

static void fn_level(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	const char *t, *end, *slash;
	sqlite3_int64 n;
	int len;

	(void)argc;
	if (sqlite3_value_type(argv[0]) == SQLITE_NULL ||
	    sqlite3_value_type(argv[1]) == SQLITE_NULL)
		return; /* NULL */
	t = (const char *)sqlite3_value_text(argv[0]);
	len = sqlite3_value_bytes(argv[0]);
	n = sqlite3_value_int64(argv[1]);
	if (!t || n < 1)
		return;
	end = t + len;
	for (; n > 1; n--) {
		slash = memchr(t, '/', (size_t)(end - t));
		if (!slash)
			return; /* beyond the last level */
		t = slash + 1;
	}
	slash = memchr(t, '/', (size_t)(end - t));
	sqlite3_result_text(cx, t, (int)((slash ? slash : end) - t), SQLITE_TRANSIENT);
}

static void fn_now_ms(sqlite3_context *cx, int argc, sqlite3_value **argv)
{
	struct rules_engine *e = sqlite3_user_data(cx);

	(void)argc;
	(void)argv;
	sqlite3_result_int64(cx, e->clock());
}

/* ---- the engine ---- */

static int configure(struct rules_engine *e)
{
	sqlite3 *db = e->db;
	static const int off[] = {SQLITE_DBCONFIG_ENABLE_LOAD_EXTENSION,
				  SQLITE_DBCONFIG_TRUSTED_SCHEMA,
				  SQLITE_DBCONFIG_DQS_DML,
				  SQLITE_DBCONFIG_DQS_DDL,
				  SQLITE_DBCONFIG_ENABLE_TRIGGER,
				  SQLITE_DBCONFIG_ENABLE_VIEW};
	int rc = SQLITE_OK;

	/* "double-quoted" is an identifier, never a string; no extensions,
	 * triggers or views; defensive mode. */
	for (size_t i = 0; i < sizeof(off) / sizeof(off[0]) && rc == SQLITE_OK; i++)
		rc = sqlite3_db_config(db, off[i], 0, (int *)NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_db_config(db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	for (size_t i = 0; i < sizeof(LIMITS) / sizeof(LIMITS[0]); i++)
		sqlite3_limit(db, LIMITS[i].id, LIMITS[i].value);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(
		    db, "level", 2, SQLITE_UTF8 | SQLITE_DETERMINISTIC | SQLITE_INNOCUOUS, NULL,
		    fn_level, NULL, NULL, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_create_function_v2(db, "now_ms", 0, SQLITE_UTF8 | SQLITE_INNOCUOUS, e,
						fn_now_ms, NULL, NULL, NULL);
	/* The first use of a table-valued function on a connection sets up its
	 * table, which the authorizer sees as writes to sqlite_master: done
	 * here, before the authorizer, for the two a rule may use. */
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "SELECT * FROM json_each('[]'), json_tree('[]')", NULL, NULL,
				  NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_set_authorizer(db, authorize, e);
	sqlite3_progress_handler(db, RULES__TICK, progress, e);
	return rc;
}

struct rules_engine *rules_engine_new(void)
{
	struct rules_engine *e = xcalloc(1, sizeof(*e));
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_MEMORY |
		    SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_PRIVATECACHE;

	e->max_depth = RULES_MAX_DEPTH_DEFAULT;
	e->max_ms = RULES_MAX_MS_DEFAULT;
	e->clock = wall_clock_ms;
	if (sqlite3_open_v2(":memory:", &e->db, flags, NULL) != SQLITE_OK ||
	    configure(e) != SQLITE_OK)
		goto out_close;
	return e;
out_close:
	sqlite3_close(e->db);
	free(e);
	return NULL;
}

void rules_engine_free(struct rules_engine *e)
{
	if (!e)
		return;
	if (e->nrules)
		abort(); /* a rule still points at the connection: a bug */
	sqlite3_close(e->db);
	free(e);
}

void rules_engine_set_max_depth(struct rules_engine *e, unsigned max_depth)
{
	e->max_depth = max_depth ? max_depth : 1;
}

void rules_engine_set_max_ms(struct rules_engine *e, uint32_t max_ms)
{
	e->max_ms = max_ms ? max_ms : 1;
}

void rules_engine_set_clock(struct rules_engine *e, int64_t (*clock)(void))
{
	e->clock = clock ? clock : wall_clock_ms;
}

/* ---- compiling ---- */

static void trim(const char **s, size_t *n)
{
	while (*n && isspace((unsigned char)**s))
		(*s)++, (*n)--;
	while (*n && isspace((unsigned char)(*s)[*n - 1]))
		(*n)--;
}

/* A column's name: SQLite's (its AS name, or the expression's text), but
 * for an item whose dotted paths were translated, the text as written. */
static char *column_name(const struct rules__parsed *p, const char *text, const char *name)
{
	for (uint32_t i = 0; i < p->nitems; i++) {
		const struct rules__item *it = &p->items[i];
		const char *out = p->sql + it->out_start, *in = text + it->in_start;
		size_t out_len = it->out_end - it->out_start, in_len = it->in_end - it->in_start;

		if (!it->translated)
			continue;
		trim(&out, &out_len);
		if (strlen(name) == out_len && memcmp(name, out, out_len) == 0) {
			trim(&in, &in_len);
			return xstrndup(in, in_len);
		}
	}
	return xstrdup(name);
}

static int prepare_error(struct rules_engine *e, const struct rules__parsed *p,
			 struct rules_error *err)
{
	if (e->refused[0]) {
		rules__error(err, -1, "not allowed in a rule: %s", e->refused);
		return RULES_ERR_REFUSED;
	}
	int pos = rules__map_offset(p, sqlite3_error_offset(e->db));
	int code = sqlite3_errcode(e->db);

	/* SQLite gives no offset for a text that stops short: its end */
	if (pos < 0 && strcmp(sqlite3_errmsg(e->db), "incomplete input") == 0)
		pos = (int)p->text_len;
	rules__error(err, pos, "%s", sqlite3_errmsg(e->db));
	return code == SQLITE_NOMEM ? RULES_ERR_ENGINE : RULES_ERR_SYNTAX;
}

static struct rules__rule *rule_new(struct rules_engine *e, struct rules__parsed *p,
				    const char *text, sqlite3_stmt *stmt)
{
	struct rules__rule *r = xcalloc(1, sizeof(*r));
	int n = sqlite3_column_count(stmt);

	r->stmt = stmt;
	r->sources = p->sources;
	p->sources = NULL;
	r->columns = xcalloc((size_t)n + 1, sizeof(*r->columns));
	for (int i = 0; i < n; i++)
		r->columns[i] = column_name(p, text, sqlite3_column_name(stmt, i));
	r->pub.engine = e;
	r->pub.sources = r->sources;
	r->pub.nsources = p->nsources;
	r->pub.columns = (const char *const *)r->columns;
	r->pub.ncolumns = (uint32_t)n;
	p->nsources = 0;
	e->nrules++;
	return r;
}

int rules_compile(struct rules_engine *e, const char *text, size_t len, struct rules_rule **out,
		  struct rules_error *err)
{
	struct rules__parsed p = {0};
	sqlite3_stmt *stmt = NULL;
	const char *tail = NULL;
	int rc;

	rc = rules__parse(text, len, &p, err);
	if (rc)
		goto out_release;
	e->refused[0] = '\0';
	e->ticks = 0;
	e->deadline_ns = INT64_MAX; /* compiling runs no step */
	if (sqlite3_prepare_v3(e->db, p.sql, (int)p.sql_len, SQLITE_PREPARE_PERSISTENT, &stmt,
			       &tail) != SQLITE_OK) {
		rc = prepare_error(e, &p, err);
		goto out_release;
	}
	/* parse.c lets no second statement through; checked all the same */
	if (!stmt || (tail && *tail) || !sqlite3_stmt_readonly(stmt)) {
		rules__error(err, -1, "a rule is one SELECT statement");
		rc = RULES_ERR_SYNTAX;
		goto out_finalize;
	}
	*out = &rule_new(e, &p, text, stmt)->pub;
	goto out_release;
out_finalize:
	sqlite3_finalize(stmt);
out_release:
	rules__parsed_release(&p);
	return rc;
}

bool rules_rule_matches_topic(const struct rules_rule *r, const char *topic, size_t len)
{
	if (!mqtt_topic_name_valid((const uint8_t *)topic, len))
		return false;
	for (uint32_t i = 0; i < r->nsources; i++) {
		const struct rules_source *s = &r->sources[i];
		if (s->kind == RULES_SOURCE_FILTER &&
		    mqtt_topic_match((const uint8_t *)s->text, s->len, (const uint8_t *)topic, len))
			return true;
	}
	return false;
}

bool rules_rule_matches_event(const struct rules_rule *r, enum rules_event_kind kind)
{
	for (uint32_t i = 0; i < r->nsources; i++)
		if (r->sources[i].kind == RULES_SOURCE_EVENT && r->sources[i].event == kind)
			return true;
	return false;
}

void rules_rule_free(struct rules_rule *rule)
{
	struct rules__rule *r = (struct rules__rule *)rule;

	if (!r)
		return;
	sqlite3_finalize(r->stmt);
	for (uint32_t i = 0; i < rule->nsources; i++)
		free((char *)r->sources[i].text);
	free(r->sources);
	for (uint32_t i = 0; i < rule->ncolumns; i++)
		free(r->columns[i]);
	free(r->columns);
	rule->engine->nrules--;
	free(r);
}
