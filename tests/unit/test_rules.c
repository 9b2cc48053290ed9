/*
 * test_rules.c - the rules engine's pure core (rules/rules.h): parsing
 * (good rules, every syntax error at its position, sources and events,
 * refused filters), dotted paths translated (select list, WHERE, not in
 * strings or after AS, arrays, nesting), evaluation (LIKE, IN, AND/OR/NOT,
 * arithmetic, string and JSON functions, level(), now_ms(), a payload that
 * is not JSON, a binary payload, the row's types), the authorizer's
 * refusals, the limits (a 17 KiB rule, a runaway evaluation, huge values),
 * loop depth, templates (every form, escapes, missing fields, ${*}) and
 * the actions' JSON. A rate of evaluations per second is printed (not
 * asserted: this is the ASan build; bench/rules_bench.c measures).
 */
#include "helpers.h"

#include "rules/internal.h"
#include "rules/rules.h"

#include <sqlite3.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define AT_END	      (-2) /* an expected position: the text's length */

/* ---- helpers ---- */

static struct rules_engine *engine(void)
{
	struct rules_engine *e = rules_engine_new();

	assert_non_null(e);
	return e;
}

static struct rules_rule *compile(struct rules_engine *e, const char *text)
{
	struct rules_rule *r = NULL;
	struct rules_error err = {0};
	int rc = rules_compile(e, text, strlen(text), &r, &err);

	if (rc)
		fail_msg("%s at %d (%s): %.300s", err.message, err.position, rules_strerror(rc),
			 text);
	return r;
}

/* Expects text refused with rc, at the first occurrence of `at` in text
 * (NULL: position -1; "" : the end), with `msg` in the message. */
static void refused(struct rules_engine *e, const char *text, int rc, const char *at,
		    const char *msg)
{
	struct rules_rule *r = NULL;
	struct rules_error err = {0};
	int got = rules_compile(e, text, strlen(text), &r, &err);
	int want_pos = !at ? -1 : !*at ? (int)strlen(text) : (int)(strstr(text, at) - text);

	if (!at || *at)
		assert_true(!at || strstr(text, at));
	if (got != rc)
		fail_msg("%s: rc %d (%s: %s), want %d", text, got, rules_strerror(got), err.message,
			 rc);
	if (err.position != want_pos)
		fail_msg("%s: position %d, want %d (%s)", text, err.position, want_pos,
			 err.message);
	if (!strstr(err.message, msg))
		fail_msg("%s: message \"%s\" lacks \"%s\"", text, err.message, msg);
	assert_null(r);
}

static struct rules_event mqtt_event(const char *topic, const char *payload)
{
	return (struct rules_event){.topic = topic,
				    .topic_len = strlen(topic),
				    .payload = payload,
				    .payload_len = payload ? strlen(payload) : 0,
				    .clientid = "dev1",
				    .clientid_len = 4,
				    .username = "alice",
				    .username_len = 5,
				    .qos = 1,
				    .timestamp = 1700000000123,
				    .event = "message.publish",
				    .event_len = 15};
}

/* The rule run() compiled last: kept, since a row's names point into it. */
static struct rules_engine *run_engine;
static struct rules_rule *run_rule;

static void run_done(void)
{
	rules_rule_free(run_rule);
	rules_engine_free(run_engine);
	run_rule = NULL;
	run_engine = NULL;
}

/* Compiles text, evaluates it against (topic, payload). */
static enum rules_outcome run(const char *text, const char *topic, const char *payload,
			      struct rules_row *row)
{
	struct rules_event ev = mqtt_event(topic, payload);

	run_done();
	run_engine = engine();
	run_rule = compile(run_engine, text);
	return rules_eval(run_rule, &ev, row);
}

static bool passes(const char *text, const char *topic, const char *payload)
{
	struct rules_row row = {0};
	enum rules_outcome out = run(text, topic, payload, &row);

	if (out == RULES_FAILED)
		fail_msg("%s failed: %s", text, row.error);
	rules_row_release(&row);
	run_done();
	return out == RULES_PASSED;
}

/* The single column `text` selects from (topic, payload), as text. */
static void assert_selects(const char *text, const char *payload, const char *want)
{
	struct rules_row row = {0};
	struct rules_buf b = {0};
	struct rules_template *t;
	struct rules_error err;
	char tpl[256];

	if (run(text, "a/b", payload, &row) != RULES_PASSED)
		fail_msg("%s did not pass: %s", text, row.error);
	assert_int_equal(row.ncolumns, 1);
	snprintf(tpl, sizeof(tpl), "${%s}", row.values[0].name);
	assert_int_equal(rules_template_compile(tpl, strlen(tpl), &t, &err), 0);
	assert_int_equal(rules_template_render(t, &row, &b), 0);
	if (strcmp(b.s, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", text, b.s, want);
	rules_template_free(t);
	free(b.s);
	rules_row_release(&row);
	run_done();
}

/* The translated SQL's select list and condition, from rules__parse. */
static void assert_sql(const char *text, const char *want_select, const char *want_where)
{
	struct rules__parsed p = {0};
	struct rules_error err = {0};
	const char *from, *where;

	if (rules__parse(text, strlen(text), &p, &err))
		fail_msg("%s: %s at %d", text, err.message, err.position);
	from = strstr(p.sql, "\nFROM (SELECT ?1");
	assert_non_null(from);
	/* the select list as copied: the blanks around it included */
	if ((size_t)(from - p.sql) != 9 + strlen(want_select) ||
	    memcmp(p.sql + 8, want_select, strlen(want_select)) != 0)
		fail_msg("%s: SQL %s, want select list %s", text, p.sql, want_select);
	where = strstr(from, " WHERE ");
	if (want_where) {
		assert_non_null(where);
		assert_string_equal(where + 7, want_where);
	} else {
		assert_null(where);
	}
	rules__parsed_release(&p);
}

/* ---- parsing ---- */

static void test_parse_good(void **state)
{
	struct rules_engine *e = engine();
	struct rules_rule *r;

	(void)state;
	r = compile(e, "SELECT * FROM \"sensors/#\"");
	assert_int_equal(r->nsources, 1);
	assert_int_equal(r->sources[0].kind, RULES_SOURCE_FILTER);
	assert_string_equal(r->sources[0].text, "sensors/#");
	assert_int_equal(r->sources[0].position, 14);
	assert_int_equal(r->ncolumns, 8);
	assert_string_equal(r->columns[0], "topic");
	assert_string_equal(r->columns[7], "event");
	rules_rule_free(r);

	r = compile(e, "  select payload.a, upper(payload.b) AS up, qos q, 1+1\n"
		       "  from \"a/+/c\" , \"$events/vote\",\"$events/client_disconnected\" "
		       "where qos > 0 ;  -- done");
	assert_int_equal(r->nsources, 3);
	assert_int_equal(r->sources[1].kind, RULES_SOURCE_EVENT);
	assert_int_equal(r->sources[1].event, RULES_EVENT_VOTE);
	assert_string_equal(r->sources[1].text, "$events/vote");
	assert_int_equal(r->sources[2].event, RULES_EVENT_CLIENT_DISCONNECTED);
	assert_int_equal(r->ncolumns, 4);
	assert_string_equal(r->columns[0], "payload.a"); /* as written */
	assert_string_equal(r->columns[1], "up");
	assert_string_equal(r->columns[2], "q");
	assert_string_equal(r->columns[3], "1+1");
	rules_rule_free(r);

	/* FROM and WHERE inside strings, quoted names, comments and
	 * parentheses are not the rule's */
	r = compile(
	    e,
	    "SELECT 'FROM \"x\"' AS \"FROM y\", qos AS [WHERE] , /* FROM \"z\" */ (SELECT 1 FROM "
	    "json_each('[1]')) AS `from` FROM \"a\" WHERE topic <> 'WHERE' AND 1");
	assert_int_equal(r->nsources, 1);
	assert_string_equal(r->sources[0].text, "a");
	assert_int_equal(r->ncolumns, 3);
	assert_string_equal(r->columns[0], "FROM y");
	assert_string_equal(r->columns[1], "WHERE");
	assert_string_equal(r->columns[2], "from");
	rules_rule_free(r);
	/* docs/rules.md's examples */
	rules_rule_free(compile(e, "SELECT payload.answers[0] AS score, username FROM "
				   "\"surveys/+/answers\"\nWHERE payload.answers[0] <= 2"));
	rules_rule_free(
	    compile(e, "SELECT payload.subject AS subject, payload AS request FROM "
		       "\"support/requests\"\nWHERE lower(payload.subject) LIKE '%urgent%'"));
	rules_rule_free(compile(e, "SELECT payload.voter AS voter, payload.option AS option FROM "
				   "\"$events/vote\"\nWHERE payload.poll_id = 3"));
	/* which topics and events reach a rule */
	r = compile(e, "SELECT 1 FROM \"a/+/c\", \"$events/vote\", \"#\"");
	assert_true(rules_rule_matches_topic(r, "a/b/c", 5));
	assert_true(rules_rule_matches_topic(r, "x", 1));
	assert_false(rules_rule_matches_topic(r, "$SYS/x", 6)); /* not for "#" */
	assert_false(rules_rule_matches_topic(r, "a/#", 3));	/* not a topic name */
	assert_true(rules_rule_matches_event(r, RULES_EVENT_VOTE));
	assert_false(rules_rule_matches_event(r, RULES_EVENT_MESSAGE));
	rules_rule_free(r);
	r = compile(e, "SELECT 1 FROM \"a/+/c\"");
	assert_false(rules_rule_matches_topic(r, "a/b", 3));
	assert_false(rules_rule_matches_topic(r, "$events/vote", 12));
	rules_rule_free(r);

	/* every event name */
	for (int i = 0; i < RULES_EVENT_COUNT; i++) {
		char text[128];
		snprintf(text, sizeof(text), "SELECT 1 FROM \"$events/%s\"", rules_event_name(i));
		r = compile(e, text);
		assert_int_equal(r->sources[0].event, i);
		rules_rule_free(r);
	}
	/* a source holding a doubled quote, IS DISTINCT FROM, a subquery's FROM */
	r = compile(e, "SELECT qos IS NOT DISTINCT FROM 1 AS d, (SELECT count(*) FROM "
		       "json_each(payload)) AS n FROM \"a\"\"b\" WHERE qos IS DISTINCT FROM 2");
	assert_string_equal(r->sources[0].text, "a\"b");
	assert_string_equal(r->columns[0], "d");
	rules_rule_free(r);
	rules_engine_free(e);
}

static void test_parse_errors(void **state)
{
	struct rules_engine *e = engine();
	static const char nul[] = "SELECT 1 FROM \"a\"\0 WHERE 1";
	struct rules_error err;
	struct rules_rule *r = NULL;

	(void)state;
	refused(e, "", RULES_ERR_SYNTAX, "", "empty rule");
	refused(e, "  -- nothing\n", RULES_ERR_SYNTAX, "", "empty rule");
	refused(e, "SELEC * FROM \"a\"", RULES_ERR_SYNTAX, "SELEC", "starts with SELECT");
	refused(e, "DELETE FROM x", RULES_ERR_SYNTAX, "DELETE", "starts with SELECT");
	refused(e, "SELECT * \"a\"", RULES_ERR_SYNTAX, "", "expected FROM");
	refused(e, "SELECT  FROM \"a\"", RULES_ERR_SYNTAX, "FROM", "nothing selected");
	refused(e, "SELECT * FROM", RULES_ERR_SYNTAX, "FROM", "expected a source");
	refused(e, "SELECT * FROM 'a'", RULES_ERR_SYNTAX, "'a'", "double quotes");
	refused(e, "SELECT * FROM a", RULES_ERR_SYNTAX, "a", "double quotes");
	refused(e, "SELECT * FROM \"a\" \"b\"", RULES_ERR_SYNTAX, "\"b\"", "expected ','");
	refused(e, "SELECT * FROM \"a\", WHERE 1", RULES_ERR_SYNTAX, "WHERE", "double quotes");
	refused(e, "SELECT * FROM \"a\" WHERE", RULES_ERR_SYNTAX, "", "needs a condition");
	refused(e, "SELECT * FROM \"a\" WHERE ;", RULES_ERR_SYNTAX, ";", "needs a condition");
	refused(e, "SELECT 'abc FROM \"a\"", RULES_ERR_SYNTAX, "'abc", "unterminated string");
	refused(e, "SELECT * FROM \"a", RULES_ERR_SYNTAX, "\"a", "unterminated quoted");
	refused(e, "SELECT [x FROM \"a\"", RULES_ERR_SYNTAX, "[x", "unterminated quoted");
	refused(e, "SELECT /* x FROM \"a\"", RULES_ERR_SYNTAX, "/*", "unterminated comment");
	refused(e, "SELECT (1 FROM \"a\"", RULES_ERR_SYNTAX, "(", "unclosed '('");
	refused(e, "SELECT 1 FROM \"a\" WHERE (qos = (1)", RULES_ERR_SYNTAX, "(qos", "unclosed");
	refused(e, "SELECT 1) FROM \"a\"", RULES_ERR_SYNTAX, ")", "unbalanced ')'");
	refused(e, "SELECT 1; FROM \"a\"", RULES_ERR_SYNTAX, ";", "one statement");
	refused(e, "SELECT 1 FROM \"a\" WHERE 1; DROP TABLE x", RULES_ERR_SYNTAX, "DROP",
		"one statement");
	refused(e, "SELECT 1 FROM \"a\"; ATTACH 'x' AS y", RULES_ERR_SYNTAX, "ATTACH",
		"one statement");
	refused(e, "SELECT 1 UNION SELECT 2 FROM \"a\"", RULES_ERR_SYNTAX, "UNION", "not allowed");
	refused(e, "SELECT 1 FROM \"a\" WHERE 1 ORDER BY 1", RULES_ERR_SYNTAX, "ORDER",
		"not allowed");
	refused(e, "SELECT 1 FROM \"a\" WHERE 1 LIMIT 1", RULES_ERR_SYNTAX, "LIMIT", "not allowed");
	refused(e, "SELECT 1 FROM \"a\" WHERE 1 GROUP BY qos", RULES_ERR_SYNTAX, "GROUP",
		"not allowed");
	refused(e, "SELECT 1 FROM \"a\" WHERE 1 FROM \"b\"", RULES_ERR_SYNTAX, "FROM \"b",
		"not allowed");
	refused(e, "SELECT payload. FROM \"a\"", RULES_ERR_SYNTAX, ". ", "a key after '.'");
	refused(e, "SELECT payload.a.\"\" FROM \"a\"", RULES_ERR_SYNTAX, ".\"\"", "a key after");
	refused(e, "SELECT payload[x] FROM \"a\"", RULES_ERR_SYNTAX, "[x", "array index");
	refused(e, "SELECT payload.a[1 FROM \"a\"", RULES_ERR_SYNTAX, "[1", "array index");
	refused(e, "SELECT \xff FROM \"a\"", RULES_ERR_SYNTAX, "\xff", "UTF-8");
	assert_int_equal(rules_compile(e, nul, sizeof(nul) - 1, &r, &err), RULES_ERR_SYNTAX);
	assert_int_equal(err.position, 17);
	assert_non_null(strstr(err.message, "NUL"));

	/* SQLite's errors, mapped back through the translation */
	refused(e, "SELECT nosuch FROM \"a\"", RULES_ERR_SYNTAX, "nosuch",
		"no such column: nosuch");
	refused(e, "SELECT payload.a, nosuch FROM \"a\"", RULES_ERR_SYNTAX, "nosuch",
		"no such column");
	refused(e, "SELECT 1 FROM \"a\" WHERE payload.x.y[2] = 1 AND nosuch > 2", RULES_ERR_SYNTAX,
		"nosuch", "no such column");
	refused(e, "SELECT nosuchfn(payload.x) FROM \"a\"", RULES_ERR_SYNTAX, "nosuchfn",
		"no such function: nosuchfn");
	refused(e, "SELECT 1 + FROM \"a\"", RULES_ERR_SYNTAX, "FROM", "syntax error");
	refused(e, "SELECT 1 FROM \"a\" WHERE payload.x = = 2", RULES_ERR_SYNTAX, "= 2",
		"syntax error");
	refused(e, "SELECT 1 FROM \"a\" WHERE payload.x =", RULES_ERR_SYNTAX, "", "incomplete");
	/* a name after AS is no path: SQLite stops at the dot */
	refused(e, "SELECT 1 AS payload.x FROM \"a\"", RULES_ERR_SYNTAX, ".x", "syntax error");
	/* "double quotes" are identifiers, never strings */
	refused(e, "SELECT 1 FROM \"a\" WHERE topic = \"a/b\"", RULES_ERR_SYNTAX, "\"a/b\"",
		"no such column: a/b");
	/* parameters other than ours */
	refused(e, "SELECT ?9 FROM \"a\"", RULES_ERR_SYNTAX, "?9", "variable number");
	rules_engine_free(e);
}

static void test_sources(void **state)
{
	struct rules_engine *e = engine();
	struct rules_rule *r = NULL;
	struct rules_error err;
	char many[512];
	size_t n;

	(void)state;
	refused(e, "SELECT 1 FROM \"a/#/b\"", RULES_ERR_SOURCE, "\"a/#",
		"not a valid MQTT topic filter");
	refused(e, "SELECT 1 FROM \"a/b#\"", RULES_ERR_SOURCE, "\"a/b#", "not a valid");
	refused(e, "SELECT 1 FROM \"a+/b\"", RULES_ERR_SOURCE, "\"a+", "not a valid");
	refused(e, "SELECT 1 FROM \"x\", \"a/++\"", RULES_ERR_SOURCE, "\"a/++", "not a valid");
	refused(e, "SELECT 1 FROM \"\"", RULES_ERR_SOURCE, "\"\"", "empty source");
	refused(e, "SELECT 1 FROM \"$share/g/a/#\"", RULES_ERR_SOURCE, "\"$share", "shared");
	refused(e, "SELECT 1 FROM \"$events/nope\"", RULES_ERR_SOURCE, "\"$events",
		"unknown event");
	refused(e, "SELECT 1 FROM \"$events/#\"", RULES_ERR_SOURCE, "\"$events", "unknown event");
	refused(e, "SELECT 1 FROM \"$events/Vote\"", RULES_ERR_SOURCE, "\"$events",
		"unknown event");
	assert_int_equal(rules_compile(e, "SELECT 1 FROM \"a/b\", \"c\", \"a/b\"", 31, &r, &err),
			 RULES_ERR_SOURCE);
	assert_int_equal(err.position, 26);
	assert_non_null(strstr(err.message, "listed twice"));
	n = (size_t)snprintf(many, sizeof(many), "SELECT 1 FROM \"s0\"");
	for (int i = 1; i <= RULES_MAX_SOURCES; i++)
		n += (size_t)snprintf(many + n, sizeof(many) - n, ", \"s%d\"", i);
	refused(e, many, RULES_ERR_SOURCE, "\"s16\"", "at most 16 sources");
	rules_rule_free(compile(e, "SELECT 1 FROM \"#\", \"+\", \"+/x/#\", \"$SYS/#\", \"a//b\""));
	rules_engine_free(e);
}

/* ---- dotted paths ---- */

static void test_paths_translated(void **state)
{
	(void)state;
	assert_sql("SELECT payload.a FROM \"t\"", "json_extract(payload,'$.a')", NULL);
	assert_sql("SELECT payload.a.b[2].c, Payload[0] FROM \"t\" WHERE payload.x = 'payload.y'",
		   "json_extract(payload,'$.a.b[2].c'), json_extract(Payload,'$[0]')",
		   "json_extract(payload,'$.x') = 'payload.y'");
	/* any event field; quoted keys; a quote in a key doubled for SQL */
	assert_sql("SELECT topic.a, event.\"x y\", clientid.\"it's\" FROM \"t\"",
		   "json_extract(topic,'$.a'), json_extract(event,'$.\"x y\"'), "
		   "json_extract(clientid,'$.\"it''s\"')",
		   NULL);
	/* untouched: strings, quoted identifiers, comments, other names, after
	 * AS, a qualified name's second part, blanks before the dot */
	assert_sql("SELECT 'payload.a', \"payload.a\", x.payload.a, payload /* payload.a */ "
		   "FROM \"t\" WHERE payload . a -- payload.b",
		   "'payload.a', \"payload.a\", x.payload.a, payload /* payload.a */",
		   "payload . a -- payload.b");
	assert_sql("SELECT qos AS payload, payloads.a FROM \"t\"", "qos AS payload, payloads.a",
		   NULL);
	/* keys that are keywords stay keys; nested in calls and parentheses */
	assert_sql(
	    "SELECT upper(payload.from) FROM \"t\" WHERE (payload.order[1] IN (1, payload.limit))",
	    "upper(json_extract(payload,'$.from'))",
	    "(json_extract(payload,'$.order[1]') IN (1, json_extract(payload,'$.limit')))");
}

/* ---- evaluation ---- */

static void test_eval_conditions(void **state)
{
	const char *p =
	    "{\"temp\": 21.5, \"n\": 3, \"tags\": [\"a\", \"b\"], \"s\": \"urgent: help\"}";

	(void)state;
	assert_true(passes("SELECT 1 FROM \"#\" WHERE topic LIKE 'sensors/%'", "sensors/x", p));
	assert_false(passes("SELECT 1 FROM \"#\" WHERE topic LIKE 'sensors/%'", "other/x", p));
	assert_true(passes("SELECT 1 FROM \"#\" WHERE payload.n IN (1, 3, 5)", "t", p));
	assert_false(passes("SELECT 1 FROM \"#\" WHERE payload.n NOT IN (1, 3, 5)", "t", p));
	assert_true(passes("SELECT 1 FROM \"#\" WHERE payload.temp > 20 AND NOT qos = 0", "t", p));
	assert_false(passes("SELECT 1 FROM \"#\" WHERE payload.temp > 30 OR qos = 2", "t", p));
	assert_true(passes("SELECT 1 FROM \"#\" WHERE payload.temp > 30 OR qos = 1", "t", p));
	assert_true(
	    passes("SELECT 1 FROM \"#\" WHERE payload.n * 2 + 1 = 7 AND 7 % 4 = 3", "t", p));
	assert_true(passes("SELECT 1 FROM \"#\" WHERE lower(payload.s) LIKE '%urgent%' AND "
			   "instr(payload.s, 'help') > 0",
			   "t", p));
	assert_true(passes("SELECT 1 FROM \"#\" WHERE json_array_length(payload, '$.tags') = 2 "
			   "AND payload.tags[1] = 'b'",
			   "t", p));
	assert_true(passes("SELECT 1 FROM \"#\" WHERE payload.missing IS NULL", "t", p));
	assert_true(
	    passes("SELECT 1 FROM \"#\" WHERE clientid = 'dev1' AND username = 'alice' "
		   "AND retain = 0 AND timestamp = 1700000000123 AND event = 'message.publish'",
		   "t", p));
	assert_true(
	    passes("SELECT 1 FROM \"#\" WHERE level(topic, 2) = 'b' AND level(topic, 1) = 'a' "
		   "AND level(topic, 4) IS NULL AND level(topic, 0) IS NULL "
		   "AND level(topic, 3) = ''",
		   "a/b/", p));
	assert_true(
	    passes("SELECT 1 FROM \"#\" WHERE EXISTS (SELECT 1 FROM json_each(payload, '$.tags') "
		   "WHERE value = 'b')",
		   "t", p));
	/* string, JSON and arithmetic results */
	assert_selects("SELECT upper(substr(payload.s, 1, 6)) || '!' FROM \"#\"", p, "URGENT!");
	assert_selects("SELECT replace(payload.s, 'help', 'aid') AS s FROM \"#\"", p,
		       "urgent: aid");
	assert_selects("SELECT json_object('t', payload.temp, 'tags', json(payload.tags)) AS o "
		       "FROM \"#\"",
		       p, "{\"t\":21.5,\"tags\":[\"a\",\"b\"]}");
	assert_selects("SELECT payload.n / 2.0 AS half FROM \"#\"", p, "1.5");
	assert_selects("SELECT payload.n / 2 AS half FROM \"#\"", p, "1");
	assert_selects("SELECT level(topic, 2) AS l FROM \"#\"", p, "b");
	assert_selects("SELECT CASE WHEN payload.temp > 20 THEN 'warm' ELSE 'cold' END AS c "
		       "FROM \"#\"",
		       p, "warm");
}

static void test_eval_row(void **state)
{
	struct rules_row row = {0};
	const char *p = "{\"o\": {\"k\": [1, 2]}, \"r\": 2.5, \"s\": \"x\"}";
	const struct rules_value *v;

	(void)state;
	assert_int_equal(run("SELECT payload.o, payload.r AS r, payload.s, qos, NULL AS n, "
			     "payload.o.k[1] + 0.5 AS sum, topic || '!' AS t FROM \"#\"",
			     "a/b", p, &row),
			 RULES_PASSED);
	assert_int_equal(row.ncolumns, 7);
	v = row.values;
	assert_string_equal(v[0].name, "payload.o");
	assert_int_equal(v[0].type, RULES_TEXT);
	assert_true(v[0].json); /* an object out of json_extract */
	assert_string_equal(v[0].s, "{\"k\":[1,2]}");
	assert_int_equal(v[1].type, RULES_REAL);
	assert_true(v[1].d == 2.5);
	assert_int_equal(v[2].type, RULES_TEXT);
	assert_false(v[2].json); /* a string out of json_extract is plain text */
	assert_string_equal(v[2].s, "x");
	assert_int_equal(v[3].type, RULES_INT);
	assert_int_equal(v[3].i, 1);
	assert_int_equal(v[4].type, RULES_NULL);
	assert_true(v[5].type == RULES_REAL && v[5].d == 2.5);
	assert_string_equal(v[6].s, "a/b!");

	/* the same row, reused for a smaller and a larger one */
	assert_int_equal(run("SELECT topic FROM \"#\"", "x", NULL, &row), RULES_PASSED);
	assert_int_equal(row.ncolumns, 1);
	assert_string_equal(row.values[0].s, "x");
	assert_int_equal(run("SELECT *, printf('%.5000c', 'y') AS big FROM \"#\"", "a/b", p, &row),
			 RULES_PASSED);
	assert_int_equal(row.ncolumns, 9);
	assert_string_equal(row.values[0].s, "a/b");
	assert_string_equal(row.values[1].s, p);
	assert_string_equal(row.values[2].s, "dev1");
	assert_int_equal(row.values[4].i, 1);
	assert_int_equal(row.values[6].i, 1700000000123);
	assert_string_equal(row.values[7].s, "message.publish");
	assert_int_equal(row.values[8].len, 5000);
	rules_row_release(&row);
	run_done();
}

static void test_eval_payloads(void **state)
{
	struct rules_engine *e = engine();
	struct rules_rule *r =
	    compile(e, "SELECT payload, typeof(payload) AS t, length(payload) AS n "
		       "FROM \"#\"");
	struct rules_rule *j = compile(e, "SELECT 1 FROM \"#\" WHERE payload.a = 1");
	struct rules_row row = {0};
	static const uint8_t bin[] = {0x00, 0xff, 0x41, 0x80};
	struct rules_event ev = mqtt_event("t", "not json");

	(void)state;
	/* json_extract of a payload that is not JSON: failed, counted, kept */
	assert_int_equal(rules_eval(j, &ev, &row), RULES_FAILED);
	assert_non_null(strstr(row.error, "malformed JSON"));
	assert_int_equal(j->stats.failed, 1);
	assert_string_equal(j->stats.last_error, row.error);
	/* a binary payload is a BLOB, bytes intact */
	ev.payload = bin;
	ev.payload_len = sizeof(bin);
	assert_int_equal(rules_eval(r, &ev, &row), RULES_PASSED);
	assert_int_equal(row.values[0].type, RULES_BLOB);
	assert_int_equal(row.values[0].len, 4);
	assert_memory_equal(row.values[0].s, bin, 4);
	assert_string_equal(row.values[1].s, "blob");
	assert_int_equal(row.values[2].i, 4);
	assert_int_equal(rules_eval(j, &ev, &row), RULES_FAILED);
	/* UTF-8 is TEXT; an empty payload is an empty TEXT; U+0000 makes a BLOB */
	ev.payload = "h\xc3\xa9";
	ev.payload_len = 3;
	assert_int_equal(rules_eval(r, &ev, &row), RULES_PASSED);
	assert_string_equal(row.values[1].s, "text");
	assert_int_equal(row.values[2].i, 2); /* characters */
	ev.payload = NULL;
	ev.payload_len = 0;
	assert_int_equal(rules_eval(r, &ev, &row), RULES_PASSED);
	assert_string_equal(row.values[1].s, "text");
	ev.payload = "a\0b";
	ev.payload_len = 3;
	assert_int_equal(rules_eval(r, &ev, &row), RULES_PASSED);
	assert_string_equal(row.values[1].s, "blob");
	/* NULL client id and user name */
	ev.clientid = ev.username = NULL;
	assert_int_equal(j->stats.matched, 2);
	assert_int_equal(j->stats.failed, 2);
	assert_int_equal(j->stats.passed, 0);
	rules_rule_free(j);
	j = compile(e, "SELECT 1 FROM \"#\" WHERE clientid IS NULL AND username IS NULL");
	assert_int_equal(rules_eval(j, &ev, &row), RULES_PASSED);
	assert_int_equal(j->stats.matched, 1);
	assert_int_equal(j->stats.passed, 1);
	rules_rule_free(j);
	rules_rule_free(r);
	rules_row_release(&row);
	rules_engine_free(e);
}

static int64_t fixed_clock(void)
{
	return 42000;
}

static void test_now_ms(void **state)
{
	struct rules_engine *e = engine();
	struct rules_rule *r = compile(e, "SELECT now_ms() AS t FROM \"#\"");
	struct rules_row row = {0};
	struct rules_event ev = mqtt_event("t", "");
	int64_t before = (int64_t)time(NULL) * 1000 - 1000;

	(void)state;
	assert_int_equal(rules_eval(r, &ev, &row), RULES_PASSED);
	assert_true(row.values[0].i >= before); /* the wall clock by default */
	rules_engine_set_clock(e, fixed_clock);
	assert_int_equal(rules_eval(r, &ev, &row), RULES_PASSED);
	assert_int_equal(row.values[0].i, 42000);
	rules_rule_free(r);
	rules_row_release(&row);
	rules_engine_free(e);
}

/* ---- safety ---- */

static void test_authorizer(void **state)
{
	struct rules_engine *e = engine();
	static const char *const statements[] = {
	    "ATTACH ':memory:' AS x",
	    "PRAGMA user_version",
	    "CREATE TABLE t(x)",
	    "CREATE TEMP VIEW v AS SELECT 1",
	    "BEGIN",
	    "SELECT * FROM sqlite_master",
	};
	sqlite3_stmt *st;

	(void)state;
	refused(e, "SELECT load_extension('/tmp/x.so') FROM \"a\"", RULES_ERR_REFUSED, NULL,
		"load_extension");
	refused(e, "SELECT 1 FROM \"a\" WHERE (SELECT count(*) FROM sqlite_master) > 0",
		RULES_ERR_REFUSED, NULL, "sqlite_master");
	refused(e,
		"SELECT 1 FROM \"a\" WHERE (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL "
		"SELECT x + 1 FROM c) SELECT count(*) FROM c) > 0",
		RULES_ERR_REFUSED, NULL, "reading the table c");
	refused(e, "SELECT 1 FROM \"a\" WHERE (SELECT count(*) FROM pragma_function_list) > 0",
		RULES_ERR_REFUSED, NULL, "not allowed in a rule");
	refused(e, "SELECT 1 FROM \"a\" WHERE EXISTS (SELECT 1 FROM sqlite_temp_master)",
		RULES_ERR_REFUSED, NULL, "reading the table");
	/* the authorizer is the backstop for what the parser already stops */
	for (size_t i = 0; i < ARRAY_SIZE(statements); i++) {
		st = NULL;
		e->refused[0] = '\0';
		if (sqlite3_prepare_v2(e->db, statements[i], -1, &st, NULL) == SQLITE_OK) {
			sqlite3_finalize(st);
			fail_msg("%s was prepared", statements[i]);
		}
		assert_true(e->refused[0] != '\0');
	}
	/* a non-recursive common table expression is a SELECT */
	rules_rule_free(compile(e, "SELECT 1 FROM \"a\" WHERE (WITH c(x) AS (SELECT 2) "
				   "SELECT x FROM c) = 2"));
	rules_engine_free(e);
}

static void test_limits(void **state)
{
	struct rules_engine *e = engine();
	size_t big = RULES_MAX_TEXT + 1024;
	char *text = malloc(big + 1);
	struct rules_rule *r = NULL;
	struct rules_error err;
	struct rules_row row = {0};
	struct rules_event ev = mqtt_event("t", "{}");
	size_t n;

	(void)state;
	/* a 17 KiB rule is refused before any parsing; 16 KiB of it compile,
	 * even when its dotted paths make the SQL longer */
	n = (size_t)snprintf(text, big, "SELECT 1 FROM \"t\" WHERE qos.a IS NULL");
	while (n < big - 40)
		n += (size_t)snprintf(text + n, big - n, " AND qos.a IS NULL");
	assert_int_equal(rules_compile(e, text, n, &r, &err), RULES_ERR_TOO_LONG);
	assert_int_equal(err.position, RULES_MAX_TEXT);
	n = (size_t)snprintf(text, big, "SELECT 1 FROM \"t\" WHERE qos.a IN (NULL");
	while (n < RULES_MAX_TEXT - 40)
		n += (size_t)snprintf(text + n, big - n, ",qos.b");
	n += (size_t)snprintf(text + n, big - n, ") IS NULL");
	assert_true(n <= RULES_MAX_TEXT);
	r = compile(e, text);
	rules_rule_free(r);

	/* expressions nested too deep (1+1+...: one level per term); deep
	 * parentheses overflow the parser's stack first */
	n = (size_t)snprintf(text, big, "SELECT 1");
	for (int i = 0; i < 150; i++)
		n += (size_t)snprintf(text + n, big - n, "+qos");
	snprintf(text + n, big - n, " FROM \"t\"");
	refused(e, text, RULES_ERR_SYNTAX, NULL, "too large (maximum depth 100)");
	n = (size_t)snprintf(text, big, "SELECT ");
	for (int i = 0; i < 150; i++)
		text[n++] = '(';
	text[n++] = '1';
	for (int i = 0; i < 150; i++)
		text[n++] = ')';
	snprintf(text + n, big - n, " FROM \"t\"");
	refused(e, text, RULES_ERR_SYNTAX, NULL, "parser stack overflow");
	free(text);

	/* a runaway evaluation is stopped by the progress handler after its
	 * steps (the time limit out of the way: this is a loaded ASan build) */
	rules_engine_set_max_ms(e, 60000);
	r = compile(e, "SELECT 1 FROM \"t\" WHERE (SELECT count(*) FROM json_each('[' || "
		       "replace(hex(zeroblob(200000)), '00', '0,') || '0]')) > 0");
	assert_int_equal(rules_eval(r, &ev, &row), RULES_FAILED);
	assert_non_null(strstr(row.error, "stopped after 100000 steps"));
	rules_rule_free(r);
	/* a small one of the same kind is not */
	r = compile(e, "SELECT 1 FROM \"t\" WHERE (SELECT count(*) FROM json_each('[' || "
		       "replace(hex(zeroblob(200)), '00', '0,') || '0]')) = 201");
	assert_int_equal(rules_eval(r, &ev, &row), RULES_PASSED);
	assert_int_equal(rules_eval(r, &ev, &row), RULES_PASSED); /* steps counted per evaluation */
	rules_rule_free(r);
	/* few steps, each over a big value: stopped by the time limit */
	rules_engine_set_max_ms(e, 5);
	r = compile(e, "SELECT 1 FROM \"t\" WHERE (SELECT count(*) FROM json_each('[' || "
		       "replace(hex(zeroblob(9000)), '00', '0,') || '0]') "
		       "WHERE instr(payload || value, 'b') > 0) > 0");
	ev.payload_len = 1000000;
	ev.payload = memset(malloc(ev.payload_len), 'a', ev.payload_len);
	assert_int_equal(rules_eval(r, &ev, &row), RULES_FAILED);
	assert_non_null(strstr(row.error, "stopped after 5 ms"));
	free((void *)ev.payload);
	ev = mqtt_event("t", "{}");
	rules_rule_free(r);
	rules_engine_set_max_ms(e, RULES_MAX_MS_DEFAULT);
	/* values over 1 MiB */
	r = compile(e, "SELECT zeroblob(2000000) FROM \"t\"");
	assert_int_equal(rules_eval(r, &ev, &row), RULES_FAILED);
	assert_non_null(strstr(row.error, "too big"));
	rules_rule_free(r);
	r = compile(e, "SELECT replace(hex(zeroblob(600000)), '0', '00') FROM \"t\"");
	assert_int_equal(rules_eval(r, &ev, &row), RULES_FAILED);
	assert_non_null(strstr(row.error, "too big"));
	rules_rule_free(r);
	/* SQLite's printf() gives NULL rather than more than the limit */
	r = compile(e, "SELECT printf('%.*c', 2000000, 'x') AS p FROM \"t\"");
	assert_int_equal(rules_eval(r, &ev, &row), RULES_PASSED);
	assert_int_equal(row.values[0].type, RULES_NULL);
	rules_rule_free(r);
	/* a row over 4 MiB is not copied */
	r = compile(e, "SELECT zeroblob(1000000) AS a, zeroblob(1000000) AS b, zeroblob(1000000) "
		       "AS c, zeroblob(1000000) AS d, zeroblob(1000000) AS e FROM \"t\"");
	assert_int_equal(rules_eval(r, &ev, &row), RULES_FAILED);
	assert_non_null(strstr(row.error, "row too big"));
	assert_int_equal(row.ncolumns, 0);
	rules_rule_free(r);
	/* a payload over 1 MiB is not bound */
	r = compile(e, "SELECT 1 FROM \"t\"");
	ev.payload_len = RULES_MAX_LENGTH + 1;
	ev.payload = calloc(1, ev.payload_len);
	assert_int_equal(rules_eval(r, &ev, &row), RULES_FAILED);
	assert_non_null(strstr(row.error, "event too big"));
	free((void *)ev.payload);
	ev = mqtt_event("t", "{}");
	rules_rule_free(r);
	/* a LIKE pattern over 1 KiB */
	r = compile(e, "SELECT 1 FROM \"t\" WHERE topic LIKE printf('%.2000c', '%')");
	assert_int_equal(rules_eval(r, &ev, &row), RULES_FAILED);
	assert_non_null(strstr(row.error, "LIKE"));
	rules_rule_free(r);
	rules_row_release(&row);
	rules_engine_free(e);
}

static void test_depth(void **state)
{
	struct rules_engine *e = engine();
	struct rules_rule *r = compile(e, "SELECT 1 FROM \"#\"");
	struct rules_row row = {0};
	struct rules_event ev = mqtt_event("t", "");

	(void)state;
	ev.depth = RULES_MAX_DEPTH_DEFAULT - 1;
	assert_int_equal(rules_eval(r, &ev, &row), RULES_PASSED);
	ev.depth = RULES_MAX_DEPTH_DEFAULT;
	assert_int_equal(rules_eval(r, &ev, &row), RULES_LOOP_STOPPED);
	assert_int_equal(r->stats.loop_stopped, 1);
	assert_int_equal(r->stats.matched, 1);
	rules_engine_set_max_depth(e, 1);
	ev.depth = 1;
	assert_int_equal(rules_eval(r, &ev, &row), RULES_LOOP_STOPPED);
	ev.depth = 0;
	assert_int_equal(rules_eval(r, &ev, &row), RULES_PASSED);
	assert_int_equal(r->stats.loop_stopped, 2);
	assert_int_equal(r->stats.passed, 2);
	rules_rule_free(r);
	rules_row_release(&row);
	rules_engine_free(e);
}

/* ---- templates ---- */

/* Renders tpl against the row `rule` selects from payload. */
static void assert_render(const char *rule, const char *payload, const char *tpl, const char *want)
{
	struct rules_row row = {0};
	struct rules_buf b = {0};
	struct rules_template *t;
	struct rules_error err;

	if (run(rule, "a/b", payload, &row) != RULES_PASSED)
		fail_msg("%s did not pass: %s", rule, row.error);
	if (rules_template_compile(tpl, strlen(tpl), &t, &err))
		fail_msg("%s: %s at %d", tpl, err.message, err.position);
	assert_int_equal(rules_template_render(t, &row, &b), 0);
	if (strcmp(b.s, want) != 0)
		fail_msg("%s: got \"%s\", want \"%s\"", tpl, b.s, want);
	rules_template_free(t);
	free(b.s);
	rules_row_release(&row);
	run_done();
}

static void template_refused(const char *tpl, int position, const char *msg)
{
	struct rules_template *t = NULL;
	struct rules_error err = {0};

	assert_int_equal(rules_template_compile(tpl, strlen(tpl), &t, &err), RULES_ERR_SYNTAX);
	if (err.position != position || !strstr(err.message, msg))
		fail_msg("%s: \"%s\" at %d, want \"%s\" at %d", tpl, err.message, err.position, msg,
			 position);
	assert_null(t);
}

static void test_templates(void **state)
{
	const char *p = "{\"name\": \"Ana\", \"answers\": [3, {\"x\": true}], \"t\": 21.5, "
			"\"o\": {\"a\": [1, null]}, \"a b\": 7, \"n\": null}";
	const char *all = "SELECT * FROM \"#\"";

	(void)state;
	assert_render(all, p, "plain text $ { } $x", "plain text $ { } $x");
	assert_render(all, p, "$${topic} is ${topic}", "${topic} is a/b");
	assert_render(all, p, "$$${topic}", "$${topic}");
	assert_render(all, p, "[${ clientid }/${username}/${qos}/${retain}]", "[dev1/alice/1/0]");
	assert_render(all, p, "Hi ${payload.name}, ${payload.answers[0]} ${payload.answers[1].x}",
		      "Hi Ana, 3 true");
	assert_render(all, p, "${payload.o}|${payload.o.a}|${payload.o.a[1]}|${payload.\"a b\"}",
		      "{\"a\":[1,null]}|[1,null]||7");
	assert_render(all, p,
		      "${payload.t}|${payload.n}|${payload.none}|${nosuch}|${nosuch.a}|"
		      "${topic.a}|${payload.answers[9]}",
		      "21.5||||||");
	/* a column selected as payload.name is found by its whole name */
	assert_render("SELECT upper(payload.name) AS \"payload.name\", payload.t FROM \"#\"", p,
		      "${payload.name} ${payload.t}", "ANA 21.5");
	/* numbers as SQLite writes them */
	assert_render("SELECT 2.0 AS a, 1e20 AS b, 7 AS c, -0.5 AS d, 1e999 AS e FROM \"#\"", p,
		      "${a} ${b} ${c} ${d} ${e}", "2.0 1.0e+20 7 -0.5 Inf");
	/* the whole row */
	assert_render(
	    "SELECT qos, payload.o AS o, payload.name AS name, payload.t AS t, NULL AS z, "
	    "'q\"\\\n\x01' AS s, x'00ff' AS b FROM \"#\"",
	    p, "${*}",
	    "{\"qos\":1,\"o\":{\"a\":[1,null]},\"name\":\"Ana\",\"t\":21.5,\"z\":null,"
	    "\"s\":\"q\\\"\\\\\\n\\u0001\",\"b\":\"00ff\"}");
	assert_render("SELECT json(payload) AS p, payload AS raw FROM \"#\"", "{\"a\": 1}", "${*}",
		      "{\"p\":{\"a\":1},\"raw\":\"{\\\"a\\\": 1}\"}");
	assert_render("SELECT CAST(x'41ff42' AS TEXT) AS s FROM \"#\"", p, "${*}",
		      "{\"s\":\"A\\ufffdB\"}");

	template_refused("abc ${topic", 4, "unterminated");
	template_refused("${}", 0, "empty");
	template_refused("x${  }", 1, "empty");
	template_refused("${payload[x]}", 9, "array index");
	template_refused("${payload.a.}", 11, "a key after");
	template_refused("${.a}", 2, "column's name");
	template_refused("${payload[1}", 9, "array index");
}

static void test_template_misc(void **state)
{
	struct rules_template *t;
	struct rules_error err;
	struct rules_buf b = {.max = 16};
	size_t n;

	(void)state;
	assert_int_equal(rules_template_compile("a$${b", 5, &t, &err), 0);
	assert_string_equal(rules_template_literal(t, &n), "a${b");
	assert_int_equal(n, 4);
	rules_template_free(t);
	assert_int_equal(rules_template_compile("http://h/${x}/y", 15, &t, &err), 0);
	assert_null(rules_template_literal(t, &n));
	assert_memory_equal(rules_template_prefix(t, &n), "http://h/", 9);
	assert_int_equal(n, 9);
	/* no row: fields render empty */
	assert_int_equal(rules_template_render(t, NULL, &b), 0);
	assert_string_equal(b.s, "http://h//y");
	/* past the buffer's maximum: refused, nothing kept */
	b.len = 0;
	assert_int_equal(rules_template_render(t, NULL, &b), 0);
	assert_int_equal(rules_template_render(t, NULL, &b), RULES_ERR_TOO_BIG);
	assert_int_equal(b.len, 11); /* the first rendering stays */
	assert_string_equal(b.s, "http://h//y");
	rules_template_free(t);
	free(b.s);
}

/* ---- actions ---- */

static int parse_actions(const char *json, struct rules_actions **out, struct rules_error *err)
{
	json_error_t jerr;
	json_t *j = json_loads(json, JSON_ALLOW_NUL, &jerr);
	int rc;

	if (!j)
		fail_msg("bad test JSON %s: %s", json, jerr.text);
	rc = rules_actions_parse(j, out, err);
	json_decref(j);
	return rc;
}

static void actions_refused(const char *json, int rc, int position, const char *msg)
{
	struct rules_actions *a = NULL;
	struct rules_error err = {0};
	int got = parse_actions(json, &a, &err);

	if (got != rc || err.position != position || !strstr(err.message, msg))
		fail_msg("%s: %d \"%s\" at %d, want %d \"%s\" at %d", json, got, err.message,
			 err.position, rc, msg, position);
	assert_null(a);
}

static void test_actions_good(void **state)
{
	struct rules_actions *a = NULL;
	struct rules_error err = {0};
	struct rules_row row = {0};
	struct rules_buf b = {0};

	(void)state;
	if (parse_actions(
		"[{\"type\": \"republish\", \"topic\": \"out/${clientid}\", \"qos\": 2,"
		" \"retain\": true, \"user_properties\": {\"k\": \"${qos}\"},"
		" \"content_type\": \"application/json\"},"
		" {\"type\": \"message\", \"to\": \"${username}\", \"content\": \"Thanks "
		"${payload.name}\"},"
		" {\"type\": \"record\", \"collection\": \"support_requests-1\"},"
		" {\"type\": \"webhook\", \"url\": \"https://h/x\", \"method\": \"PUT\","
		" \"headers\": {\"X-Token\": \"t\"}, \"timeout_ms\": 60000},"
		" {\"type\": \"email\", \"to\": \"ops@example.org\", \"subject\": \"[${topic}]\","
		" \"body\": \"b\"}, {\"type\": \"republish\", \"topic\": \"x\"},"
		" {\"type\": \"webhook\", \"url\": \"http://h\"}]",
		&a, &err))
		fail_msg("%s", err.message);
	assert_int_equal(a->count, 7);
	assert_int_equal(a->items[0].type, RULES_ACTION_REPUBLISH);
	assert_int_equal(a->items[0].republish.qos, 2);
	assert_true(a->items[0].republish.retain);
	assert_int_equal(a->items[0].republish.nprops, 1);
	assert_string_equal(a->items[0].republish.props[0].key, "k");
	assert_non_null(a->items[0].republish.content_type);
	assert_int_equal(a->items[2].type, RULES_ACTION_RECORD);
	assert_string_equal(a->items[2].record.collection, "support_requests-1");
	assert_true(a->items[3].webhook.put);
	assert_int_equal(a->items[3].webhook.timeout_ms, 60000);
	assert_string_equal(a->items[3].webhook.headers[0].key, "X-Token");
	assert_int_equal(a->items[4].type, RULES_ACTION_EMAIL);
	/* defaults: qos 0, no retain, payload and body ${*}, POST, 10 s */
	assert_int_equal(a->items[5].republish.qos, 0);
	assert_false(a->items[5].republish.retain);
	assert_null(a->items[5].republish.content_type);
	assert_false(a->items[6].webhook.put);
	assert_int_equal(a->items[6].webhook.timeout_ms, 10000);

	/* rendered against a row */
	assert_int_equal(
	    run("SELECT clientid, username, payload FROM \"#\"", "t", "{\"name\":\"Ana\"}", &row),
	    RULES_PASSED);
	assert_int_equal(rules_template_render(a->items[0].republish.topic, &row, &b), 0);
	assert_string_equal(b.s, "out/dev1");
	b.len = 0;
	assert_int_equal(rules_template_render(a->items[1].message.content, &row, &b), 0);
	assert_string_equal(b.s, "Thanks Ana");
	b.len = 0;
	assert_int_equal(rules_template_render(a->items[5].republish.payload, &row, &b), 0);
	assert_string_equal(b.s, "{\"clientid\":\"dev1\",\"username\":\"alice\","
				 "\"payload\":\"{\\\"name\\\":\\\"Ana\\\"}\"}");
	free(b.s);
	rules_row_release(&row);
	run_done();
	rules_actions_free(a);
}

static void test_actions_refused(void **state)
{
	(void)state;
	actions_refused("[]", RULES_ERR_ACTION, -1, "1 to 8");
	actions_refused("{}", RULES_ERR_ACTION, -1, "1 to 8");
	actions_refused(
	    "[{\"type\":\"record\",\"collection\":\"a\"},{\"type\":\"record\",\"collection\":\"a\"}"
	    ","
	    "{\"type\":\"record\",\"collection\":\"a\"},{\"type\":\"record\",\"collection\":\"a\"},"
	    "{\"type\":\"record\",\"collection\":\"a\"},{\"type\":\"record\",\"collection\":\"a\"},"
	    "{\"type\":\"record\",\"collection\":\"a\"},{\"type\":\"record\",\"collection\":\"a\"},"
	    "{\"type\":\"record\",\"collection\":\"a\"}]",
	    RULES_ERR_ACTION, -1, "1 to 8");
	actions_refused("[3]", RULES_ERR_ACTION, -1, "actions[0].type: an action is an object");
	actions_refused("[{}]", RULES_ERR_ACTION, -1, "actions[0].type: required");
	actions_refused("[{\"type\":\"exec\"}]", RULES_ERR_ACTION, -1,
			"actions[0].type: unknown type");
	actions_refused("[{\"type\":\"record\",\"collection\":\"a\"},{\"type\":\"republish\"}]",
			RULES_ERR_ACTION, -1, "actions[1].topic: required");
	actions_refused("[{\"type\":\"republish\",\"topic\":\"a\",\"retian\":true}]",
			RULES_ERR_ACTION, -1,
			"actions[0].retian: unknown field for a republish action");
	actions_refused("[{\"type\":\"republish\",\"topic\":\"a\",\"qos\":3}]", RULES_ERR_ACTION,
			-1, "actions[0].qos: must be 0, 1 or 2");
	actions_refused("[{\"type\":\"republish\",\"topic\":\"a\",\"qos\":\"1\"}]",
			RULES_ERR_ACTION, -1, "actions[0].qos");
	actions_refused("[{\"type\":\"republish\",\"topic\":\"a\",\"retain\":1}]", RULES_ERR_ACTION,
			-1, "actions[0].retain: must be true or false");
	actions_refused("[{\"type\":\"republish\",\"topic\":\"a/#\"}]", RULES_ERR_ACTION, -1,
			"actions[0].topic: not a valid topic name");
	actions_refused("[{\"type\":\"republish\",\"topic\":\"a\\u0000b\"}]", RULES_ERR_ACTION, -1,
			"actions[0].topic: not a valid topic name");
	actions_refused("[{\"type\":\"republish\",\"topic\":7}]", RULES_ERR_ACTION, -1,
			"actions[0].topic: must be a string");
	actions_refused("[{\"type\":\"republish\",\"topic\":\"a\",\"user_properties\":[1]}]",
			RULES_ERR_ACTION, -1, "actions[0].user_properties: must be an object");
	actions_refused("[{\"type\":\"message\",\"to\":\"bob\"}]", RULES_ERR_ACTION, -1,
			"actions[0].content: required");
	actions_refused("[{\"type\":\"message\",\"to\":\"bob\",\"content\":\"hi ${payload.x\"}]",
			RULES_ERR_SYNTAX, 3, "actions[0].content: unterminated ${");
	actions_refused("[{\"type\":\"record\",\"collection\":\"Bad!\"}]", RULES_ERR_ACTION, -1,
			"actions[0].collection: 1 to 64");
	actions_refused("[{\"type\":\"record\",\"collection\":\""
			"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}]",
			RULES_ERR_ACTION, -1, "actions[0].collection");
	actions_refused("[{\"type\":\"record\"}]", RULES_ERR_ACTION, -1,
			"actions[0].collection: required");
	actions_refused("[{\"type\":\"webhook\",\"url\":\"ftp://h/x\"}]", RULES_ERR_ACTION, 0,
			"actions[0].url: must start with http:// or https://");
	actions_refused("[{\"type\":\"webhook\",\"url\":\"${payload.url}\"}]", RULES_ERR_ACTION, 0,
			"actions[0].url");
	actions_refused("[{\"type\":\"webhook\",\"url\":\"http://h\",\"method\":\"GET\"}]",
			RULES_ERR_ACTION, -1, "actions[0].method");
	actions_refused("[{\"type\":\"webhook\",\"url\":\"http://h\",\"timeout_ms\":0}]",
			RULES_ERR_ACTION, -1, "actions[0].timeout_ms");
	actions_refused("[{\"type\":\"webhook\",\"url\":\"http://h\",\"timeout_ms\":60001}]",
			RULES_ERR_ACTION, -1, "actions[0].timeout_ms");
	actions_refused(
	    "[{\"type\":\"webhook\",\"url\":\"http://h\",\"headers\":{\"Bad Name\":\"x\"}}]",
	    RULES_ERR_ACTION, -1, "actions[0].headers");
	actions_refused("[{\"type\":\"webhook\",\"url\":\"http://h\",\"headers\":{\"X\":\"${}\"}}]",
			RULES_ERR_SYNTAX, 0, "actions[0].headers: X: empty");
	actions_refused("[{\"type\":\"email\",\"to\":\"a@b\"}]", RULES_ERR_ACTION, -1,
			"actions[0].subject: required");
}

/* ---- speed (printed, not asserted) ---- */

static void test_rate(void **state)
{
	struct rules_engine *e = engine();
	struct rules_rule *r = compile(e, "SELECT * FROM \"#\" WHERE topic LIKE 'sensors/%'");
	struct rules_event ev = mqtt_event("sensors/kitchen/temp", "{\"t\": 21.5}");
	struct rules_row row = {0};
	struct timespec t0, t1;
	int n = 20000;
	double s;

	(void)state;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (int i = 0; i < n; i++)
		if (rules_eval(r, &ev, &row) != RULES_PASSED)
			fail();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	s = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	print_message("rules_eval (ASan build): %.0f evaluations/s\n", n / s);
	rules_rule_free(r);
	rules_row_release(&row);
	rules_engine_free(e);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_parse_good),	    cmocka_unit_test(test_parse_errors),
	    cmocka_unit_test(test_sources),	    cmocka_unit_test(test_paths_translated),
	    cmocka_unit_test(test_eval_conditions), cmocka_unit_test(test_eval_row),
	    cmocka_unit_test(test_eval_payloads),   cmocka_unit_test(test_now_ms),
	    cmocka_unit_test(test_authorizer),	    cmocka_unit_test(test_limits),
	    cmocka_unit_test(test_depth),	    cmocka_unit_test(test_templates),
	    cmocka_unit_test(test_template_misc),   cmocka_unit_test(test_actions_good),
	    cmocka_unit_test(test_actions_refused), cmocka_unit_test(test_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
