/*
 * test_api_rules.c - rules and collections over REST without sockets
 * (api_harness.h), against a stub engine (struct api_rules) that records
 * its calls and refuses what it is told to: who may call (401, 403, 503
 * without an engine), the body's checks, the engine's refusal (422
 * invalid_rule with its position, nothing stored), the order of install
 * and store (a PUT whose store write fails puts the old rule back), 409
 * on a taken name, delete and uninstall, the dry run, collections' pages,
 * and what an owner's deletion does.
 */
#include "api_harness.h"

#include "api/internal.h"

#include "rules/rules.h"

#include <stdbool.h>

/* The stub engine: every call recorded; install refuses a rule whose sql
 * holds "BAD" (position: where), or every install with an id when
 * refuse_stored is set. */
struct stub {
	int installs, uninstalls, tests;
	int64_t install_id[16];
	bool install_enabled[16];
	int64_t install_owner[16];
	char install_sql[16][128];
	int64_t uninstalled;
	bool refuse_stored;
	char sample[256];
	const char *test_answer; /* NULL: test refuses the sample */
	struct rules_stats stats;
};

static int stub_install(void *ctx, const struct store_rule *r, struct rules_error *err)
{
	struct stub *s = ctx;
	const char *bad = strstr(r->sql, "BAD");
	int i = s->installs++;

	assert_true(i < 16);
	s->install_id[i] = r->id;
	s->install_enabled[i] = r->enabled;
	s->install_owner[i] = r->owner_id;
	snprintf(s->install_sql[i], sizeof(s->install_sql[i]), "%s", r->sql);
	assert_non_null(r->name);
	assert_non_null(r->actions);
	if (bad) {
		err->position = (int)(bad - r->sql);
		snprintf(err->message, sizeof(err->message), "near \"BAD\": syntax error");
		return -1;
	}
	if (r->id && s->refuse_stored) {
		err->position = -1;
		snprintf(err->message, sizeof(err->message), "out of memory");
		return -1;
	}
	return 0;
}

static void stub_uninstall(void *ctx, int64_t id)
{
	struct stub *s = ctx;

	s->uninstalls++;
	s->uninstalled = id;
}

static char *stub_test(void *ctx, const struct store_rule *r, const char *sample,
		       struct rules_error *err)
{
	struct stub *s = ctx;

	(void)r;
	s->tests++;
	snprintf(s->sample, sizeof(s->sample), "%s", sample);
	if (!s->test_answer) {
		err->position = -1;
		snprintf(err->message, sizeof(err->message), "sample: 'topic' must be a string");
		return NULL;
	}
	return strdup(s->test_answer);
}

static void stub_stats(void *ctx, int64_t id, struct rules_stats *out)
{
	struct stub *s = ctx;

	(void)id;
	*out = s->stats;
}

/* Headers of a JSON request as `who`. */
struct as {
	char auth[128];
	const char *hdr[3];
};

static void as_user(struct as *a, struct fixture *f, const char *name)
{
	register_user(f, name, a->auth, sizeof(a->auth));
	a->hdr[0] = json_ct[0];
	a->hdr[1] = a->auth;
	a->hdr[2] = NULL;
}

struct rfix {
	struct fixture base; /* first: the harness's calls take it */
	struct stub stub;
	struct as admin, bob, user;
};

static int setup_rules(void **state)
{
	struct rfix *rf = calloc(1, sizeof(*rf));
	struct fixture *f;

	*state = rf;
	setup(state); /* the harness's fixture, replaced below */
	f = *state;
	rf->base = *f;
	free(f);
	*state = rf;
	f = &rf->base;
	f->api->admins = " Admin ,bob,";
	f->api->rules = (struct api_rules){ .ctx = &rf->stub,
					    .install = stub_install,
					    .uninstall = stub_uninstall,
					    .test = stub_test,
					    .stats = stub_stats };
	as_user(&rf->admin, f, "admin");
	as_user(&rf->bob, f, "bob");
	as_user(&rf->user, f, "carol");
	return 0;
}

static int teardown_rules(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = malloc(sizeof(*f));

	*f = rf->base;
	free(rf);
	*state = f;
	return teardown_fixture(state);
}

static const char *message(const struct fixture *f)
{
	return json_string_value(json_object_get(json_object_get(f->body, "error"), "message"));
}

static json_int_t int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		fail_msg("'%s' is not an integer", key);
	return json_integer_value(v);
}

static const char *str_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("'%s' is not a string", key);
	return json_string_value(v);
}

#define RULE_SQL "SELECT payload.subject AS subject FROM \\\"support/requests\\\""
#define RULE_ACTIONS "[{\"type\":\"record\",\"collection\":\"support\"}]"

/* POST /api/rules as who; the status. */
static int post_rule(struct fixture *f, const struct as *who, const char *name, const char *sql,
		     const char *extra)
{
	char body[1024];

	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"sql\":\"%s\",\"actions\":%s%s}", name, sql,
		 RULE_ACTIONS, extra ? extra : "");
	return call(f, "POST", "/api/rules", body, who->hdr);
}

static json_int_t make_rule(struct rfix *rf, const char *name)
{
	assert_int_equal(post_rule(&rf->base, &rf->admin, name, RULE_SQL, NULL), 201);
	return int_of(rf->base.body, "id");
}

/* ---- who may call ---- */

static const char *const routes[][2] = {
	{ "GET", "/api/rules" },	   { "POST", "/api/rules" },
	{ "GET", "/api/rules/1" },	   { "PUT", "/api/rules/1" },
	{ "DELETE", "/api/rules/1" },	   { "POST", "/api/rules/1/test" },
	{ "GET", "/api/collections/support" },
};

#define N_ROUTES (sizeof(routes) / sizeof(routes[0]))

static void test_access(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;
	const char *const bad_token[] = { "authorization: Bearer nope", NULL };

	for (size_t i = 0; i < N_ROUTES; i++) {
		const char *m = routes[i][0], *path = routes[i][1];
		const char *body = strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ? "{}" : NULL;

		assert_int_equal(call(f, m, path, body, json_ct), 401);
		assert_string_equal(error_code(f), "unauthorized");
		assert_int_equal(call(f, m, path, body, bad_token), 401);
		assert_int_equal(call(f, m, path, body, rf->user.hdr), 403);
		assert_string_equal(error_code(f), "forbidden");
	}
	/* The admins setting's names: blanks and ASCII case ignored. */
	assert_int_equal(call(f, "GET", "/api/rules", NULL, rf->admin.hdr), 200);
	assert_int_equal(call(f, "GET", "/api/rules", NULL, rf->bob.hdr), 200);
	assert_int_equal(rf->stub.installs + rf->stub.uninstalls + rf->stub.tests, 0);
}

static void test_is_admin(void **state)
{
	(void)state;
	assert_true(api_is_admin("alice", "alice"));
	assert_true(api_is_admin("alice", "ALICE"));
	assert_true(api_is_admin(" x ,\talice\t, y", "Alice"));
	assert_true(api_is_admin("x,alice", "alice"));
	assert_false(api_is_admin("alice", "alic"));
	assert_false(api_is_admin("alice", "alice2"));
	assert_false(api_is_admin("alice2", "alice"));
	assert_false(api_is_admin("", "alice"));
	assert_false(api_is_admin(NULL, "alice"));
	assert_false(api_is_admin(",,", ""));
	assert_false(api_is_admin("a,b", "a,b"));
}

/* Without an engine: 503 rules_unavailable after the access checks; the
 * collections still read. */
static void test_no_engine(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;

	f->api->rules = (struct api_rules){ 0 };
	for (size_t i = 0; i < N_ROUTES - 1; i++) {
		const char *m = routes[i][0];
		const char *body = strcmp(m, "POST") == 0 || strcmp(m, "PUT") == 0 ? "{}" : NULL;

		assert_int_equal(call(f, m, routes[i][1], body, rf->user.hdr), 403);
		assert_int_equal(call(f, m, routes[i][1], body, rf->admin.hdr), 503);
		assert_string_equal(error_code(f), "rules_unavailable");
	}
	assert_int_equal(call(f, "GET", "/api/collections/support", NULL, rf->admin.hdr), 200);
	assert_int_equal(json_array_size(json_object_get(f->body, "records")), 0);
}

/* ---- create ---- */

static void test_create(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;
	json_t *stats, *actions;
	json_int_t id;

	rf->stub.stats.matched = 5;
	rf->stub.stats.passed = 3;
	rf->stub.stats.actions_failed = 1;
	snprintf(rf->stub.stats.last_error, sizeof(rf->stub.stats.last_error), "malformed JSON");
	assert_int_equal(post_rule(f, &rf->bob, "urgent.support-1", RULE_SQL, NULL), 201);
	id = int_of(f->body, "id");
	assert_true(id > 0);
	{
		char want[64];

		snprintf(want, sizeof(want), "/api/rules/%lld", (long long)id);
		assert_string_equal(header(f, "Location: "), want);
	}
	assert_string_equal(str_of(f->body, "name"), "urgent.support-1");
	assert_string_equal(str_of(f->body, "owner"), "bob");
	assert_string_equal(str_of(f->body, "sql"),
			    "SELECT payload.subject AS subject FROM \"support/requests\"");
	actions = json_object_get(f->body, "actions");
	assert_int_equal(json_array_size(actions), 1);
	assert_string_equal(str_of(json_array_get(actions, 0), "collection"), "support");
	assert_true(json_is_true(json_object_get(f->body, "enabled")));
	assert_string_equal(str_of(f->body, "created_at"), "2025-11-23T12:13:20.000Z");
	assert_string_equal(str_of(f->body, "updated_at"), "2025-11-23T12:13:20.000Z");
	stats = json_object_get(f->body, "stats");
	assert_int_equal(int_of(stats, "matched"), 5);
	assert_int_equal(int_of(stats, "passed"), 3);
	assert_int_equal(int_of(stats, "failed"), 0);
	assert_int_equal(int_of(stats, "actions_failed"), 1);
	assert_string_equal(str_of(stats, "last_error"), "malformed JSON");
	/* Checked with id 0, then installed under its id. */
	assert_int_equal(rf->stub.installs, 2);
	assert_int_equal(rf->stub.install_id[0], 0);
	assert_int_equal(rf->stub.install_id[1], id);
	assert_true(rf->stub.install_enabled[1]);
	/* Stored: GET shows it. */
	assert_int_equal(call(f, "GET", "/api/rules/1", NULL, rf->admin.hdr), 200);
	assert_string_equal(str_of(f->body, "name"), "urgent.support-1");
	/* "enabled": false is kept and told to the engine. */
	assert_int_equal(post_rule(f, &rf->admin, "off", RULE_SQL, ",\"enabled\":false"), 201);
	assert_true(json_is_false(json_object_get(f->body, "enabled")));
	assert_false(rf->stub.install_enabled[3]);
	/* No last error: null. */
	rf->stub.stats.last_error[0] = '\0';
	assert_int_equal(call(f, "GET", "/api/rules/1", NULL, rf->admin.hdr), 200);
	assert_true(json_is_null(json_object_get(json_object_get(f->body, "stats"), "last_error")));
}

/* The engine refuses: 422 invalid_rule with its message and position,
 * nothing stored. */
static void test_create_refused(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;
	json_t *err;

	assert_int_equal(post_rule(f, &rf->admin, "r", "SELECT BAD FROM \\\"a\\\"", NULL), 422);
	err = json_object_get(f->body, "error");
	assert_string_equal(str_of(err, "code"), "invalid_rule");
	assert_string_equal(str_of(err, "message"), "near \"BAD\": syntax error");
	assert_int_equal(int_of(err, "position"), 7);
	assert_int_equal(rf->stub.installs, 1);
	assert_int_equal(call(f, "GET", "/api/rules", NULL, rf->admin.hdr), 200);
	assert_int_equal(int_of(f->body, "total"), 0);
	/* The second install (with the id) refused: not kept either. */
	rf->stub.refuse_stored = true;
	assert_int_equal(post_rule(f, &rf->admin, "r", RULE_SQL, NULL), 422);
	assert_string_equal(error_code(f), "invalid_rule");
	assert_true(json_is_null(json_object_get(json_object_get(f->body, "error"), "position")));
	assert_int_equal(call(f, "GET", "/api/rules", NULL, rf->admin.hdr), 200);
	assert_int_equal(int_of(f->body, "total"), 0);
}

/* The body's shape: 422 validation_failed before the engine hears of it. */
static void test_create_invalid(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;
	static const char *const bodies[] = {
		"{\"sql\":\"x\",\"actions\":[]}",
		"{\"name\":\"\",\"sql\":\"x\",\"actions\":[]}",
		"{\"name\":\"a b\",\"sql\":\"x\",\"actions\":[]}",
		"{\"name\":\"a/b\",\"sql\":\"x\",\"actions\":[]}",
		"{\"name\":\"\xc3\xa9t\xc3\xa9\",\"sql\":\"x\",\"actions\":[]}",
		"{\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\","
		"\"sql\":\"x\",\"actions\":[]}",
		"{\"name\":7,\"sql\":\"x\",\"actions\":[]}",
		"{\"name\":\"a\",\"actions\":[]}",
		"{\"name\":\"a\",\"sql\":null,\"actions\":[]}",
		"{\"name\":\"a\",\"sql\":\"x\"}",
		"{\"name\":\"a\",\"sql\":\"x\",\"actions\":{}}",
		"{\"name\":\"a\",\"sql\":\"x\",\"actions\":[],\"enabled\":\"yes\"}",
		"{\"name\":\"a\",\"sql\":\"x\",\"actions\":[],\"enabled\":1}",
		"[]",
	};

	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (call(f, "POST", "/api/rules", bodies[i], rf->admin.hdr) != 422)
			fail_msg("%s: %d", bodies[i], f->rs.status);
		assert_string_equal(error_code(f), "validation_failed");
	}
	assert_int_equal(call(f, "POST", "/api/rules", "{", rf->admin.hdr), 400);
	/* 64 characters are fine. */
	assert_int_equal(post_rule(f, &rf->admin,
				   "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
				   RULE_SQL, NULL),
			 201);
	assert_int_equal(rf->stub.installs, 2);
}

static void test_create_conflict(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;

	make_rule(rf, "Survey");
	assert_int_equal(post_rule(f, &rf->bob, "survey", RULE_SQL, NULL), 409);
	assert_string_equal(error_code(f), "conflict");
	assert_string_equal(message(f), "a rule named 'survey' exists");
	assert_int_equal(call(f, "GET", "/api/rules", NULL, rf->admin.hdr), 200);
	assert_int_equal(int_of(f->body, "total"), 1);
}

/* ---- read ---- */

static void test_get_list(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;
	json_t *rules;

	assert_int_equal(call(f, "GET", "/api/rules/1", NULL, rf->admin.hdr), 404);
	assert_string_equal(message(f), "no rule 1");
	assert_int_equal(call(f, "GET", "/api/rules/abc", NULL, rf->admin.hdr), 404);
	assert_int_equal(call(f, "GET", "/api/rules/0", NULL, rf->admin.hdr), 404);
	assert_int_equal(call(f, "GET", "/api/rules/-1", NULL, rf->admin.hdr), 404);
	for (int i = 0; i < 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "r%d", i);
		make_rule(rf, name);
	}
	assert_int_equal(call(f, "GET", "/api/rules?limit=2&offset=3", NULL, rf->admin.hdr), 200);
	assert_int_equal(int_of(f->body, "total"), 5);
	assert_int_equal(int_of(f->body, "limit"), 2);
	assert_int_equal(int_of(f->body, "offset"), 3);
	rules = json_object_get(f->body, "rules");
	assert_int_equal(json_array_size(rules), 2);
	assert_string_equal(str_of(json_array_get(rules, 0), "name"), "r3");
	assert_string_equal(str_of(json_array_get(rules, 1), "name"), "r4");
	assert_non_null(json_object_get(json_array_get(rules, 0), "stats"));
	assert_int_equal(call(f, "GET", "/api/rules?offset=9", NULL, rf->admin.hdr), 200);
	assert_int_equal(json_array_size(json_object_get(f->body, "rules")), 0);
	assert_int_equal(call(f, "GET", "/api/rules?limit=0", NULL, rf->admin.hdr), 422);
}

/* ---- replace ---- */

static void test_put(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;
	json_int_t id = make_rule(rf, "one");
	char path[64];
	int before;

	make_rule(rf, "two");
	snprintf(path, sizeof(path), "/api/rules/%lld", (long long)id);
	f->api->now_ms += 1000;
	assert_int_equal(call(f, "PUT", path,
			      "{\"name\":\"uno\",\"sql\":\"SELECT 1 FROM \\\"b\\\"\","
			      "\"actions\":" RULE_ACTIONS ",\"enabled\":false}",
			      rf->bob.hdr),
			 200);
	assert_string_equal(str_of(f->body, "name"), "uno");
	assert_string_equal(str_of(f->body, "sql"), "SELECT 1 FROM \"b\"");
	assert_string_equal(str_of(f->body, "owner"), "admin"); /* the owner stays */
	assert_true(json_is_false(json_object_get(f->body, "enabled")));
	assert_string_equal(str_of(f->body, "updated_at"), "2025-11-23T12:13:21.000Z");
	assert_string_equal(str_of(f->body, "created_at"), "2025-11-23T12:13:20.000Z");
	before = rf->stub.installs;
	assert_int_equal(rf->stub.install_id[before - 1], id);
	assert_false(rf->stub.install_enabled[before - 1]);
	/* Refused by the engine: 422, the store keeps the old one. */
	assert_int_equal(call(f, "PUT", path,
			      "{\"name\":\"uno\",\"sql\":\"BAD\",\"actions\":" RULE_ACTIONS "}",
			      rf->admin.hdr),
			 422);
	assert_string_equal(error_code(f), "invalid_rule");
	assert_int_equal(int_of(json_object_get(f->body, "error"), "position"), 0);
	assert_int_equal(call(f, "GET", path, NULL, rf->admin.hdr), 200);
	assert_string_equal(str_of(f->body, "sql"), "SELECT 1 FROM \"b\"");
	/* A taken name: 409 after the engine took the new text, so the old
	 * one is installed again. */
	before = rf->stub.installs;
	assert_int_equal(call(f, "PUT", path,
			      "{\"name\":\"TWO\",\"sql\":\"SELECT 2 FROM \\\"c\\\"\",\"actions\":"
			      RULE_ACTIONS "}",
			      rf->admin.hdr),
			 409);
	assert_int_equal(rf->stub.installs, before + 2);
	assert_string_equal(rf->stub.install_sql[before], "SELECT 2 FROM \"c\"");
	assert_string_equal(rf->stub.install_sql[before + 1], "SELECT 1 FROM \"b\"");
	assert_int_equal(rf->stub.install_id[before + 1], id);
	assert_false(rf->stub.install_enabled[before + 1]);
	/* No such rule; a bad body. */
	assert_int_equal(call(f, "PUT", "/api/rules/99",
			      "{\"name\":\"x\",\"sql\":\"x\",\"actions\":[]}", rf->admin.hdr),
			 404);
	assert_int_equal(call(f, "PUT", path, "{\"name\":\"x\"}", rf->admin.hdr), 422);
	assert_string_equal(error_code(f), "validation_failed");
}

/* ---- delete ---- */

static void test_delete(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;
	json_int_t id = make_rule(rf, "gone");
	char path[64];

	snprintf(path, sizeof(path), "/api/rules/%lld", (long long)id);
	assert_int_equal(call(f, "DELETE", path, NULL, rf->admin.hdr), 204);
	assert_int_equal(rf->stub.uninstalls, 1);
	assert_int_equal(rf->stub.uninstalled, id);
	assert_int_equal(call(f, "GET", path, NULL, rf->admin.hdr), 404);
	assert_int_equal(call(f, "DELETE", path, NULL, rf->admin.hdr), 404);
	assert_int_equal(rf->stub.uninstalls, 1);
	/* The name is free again. */
	make_rule(rf, "gone");
}

/* ---- dry run ---- */

static void test_dry_run(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;
	json_int_t id = make_rule(rf, "t");
	char path[64];

	snprintf(path, sizeof(path), "/api/rules/%lld/test", (long long)id);
	rf->stub.test_answer = "{\"passed\":true,\"fields\":{\"subject\":\"urgent\"},"
			       "\"actions\":[{\"type\":\"record\",\"collection\":\"support\"}]}";
	assert_int_equal(call(f, "POST", path,
			      "{\"topic\":\"support/requests\",\"payload\":\"{}\",\"qos\":1}",
			      rf->admin.hdr),
			 200);
	assert_true(json_is_true(json_object_get(f->body, "passed")));
	assert_string_equal(str_of(json_object_get(f->body, "fields"), "subject"), "urgent");
	assert_int_equal(rf->stub.tests, 1);
	assert_string_equal(rf->stub.sample,
			    "{\"topic\":\"support/requests\",\"payload\":\"{}\",\"qos\":1}");
	/* The engine refuses the sample: 422 with its message. */
	rf->stub.test_answer = NULL;
	assert_int_equal(call(f, "POST", path, "{\"topic\":3}", rf->admin.hdr), 422);
	assert_string_equal(error_code(f), "validation_failed");
	assert_string_equal(message(f), "sample: 'topic' must be a string");
	/* An answer that is not a JSON object is the engine's fault. */
	rf->stub.test_answer = "[1]";
	assert_int_equal(call(f, "POST", path, "{}", rf->admin.hdr), 500);
	assert_int_equal(call(f, "POST", "/api/rules/99/test", "{}", rf->admin.hdr), 404);
	assert_int_equal(call(f, "POST", path, "[]", rf->admin.hdr), 422);
	assert_int_equal(rf->stub.tests, 3);
}

/* ---- collections ---- */

static void test_collections(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;
	int64_t ids[3];
	json_t *records;
	char path[96];

	for (int i = 0; i < 3; i++) {
		char data[32];

		snprintf(data, sizeof(data), "{\"n\":%d}", i);
		assert_int_equal(store_record_add(f->st, "support", 4, data, f->api->now_ms + i,
						  &ids[i]),
				 0);
	}
	assert_int_equal(store_record_add(f->st, "other", 4, "{}", 1, NULL), 0);
	assert_int_equal(call(f, "GET", "/api/collections/support?limit=2", NULL, rf->admin.hdr),
			 200);
	assert_string_equal(str_of(f->body, "collection"), "support");
	assert_int_equal(int_of(f->body, "limit"), 2);
	records = json_object_get(f->body, "records");
	assert_int_equal(json_array_size(records), 2);
	assert_int_equal(int_of(json_array_get(records, 0), "id"), ids[2]);
	assert_int_equal(int_of(json_array_get(records, 0), "rule_id"), 4);
	assert_int_equal(int_of(json_object_get(json_array_get(records, 0), "data"), "n"), 2);
	assert_string_equal(str_of(json_array_get(records, 0), "created_at"),
			    "2025-11-23T12:13:20.002Z");
	assert_int_equal(int_of(json_array_get(records, 1), "id"), ids[1]);
	assert_int_equal(int_of(f->body, "next_before"), ids[1]);
	snprintf(path, sizeof(path), "/api/collections/support?limit=2&before=%lld",
		 (long long)ids[1]);
	assert_int_equal(call(f, "GET", path, NULL, rf->admin.hdr), 200);
	records = json_object_get(f->body, "records");
	assert_int_equal(json_array_size(records), 1);
	assert_int_equal(int_of(json_array_get(records, 0), "id"), ids[0]);
	assert_true(json_is_null(json_object_get(f->body, "next_before")));
	/* Exactly a page left: no next page either. */
	assert_int_equal(call(f, "GET", "/api/collections/support?limit=3", NULL, rf->admin.hdr),
			 200);
	assert_int_equal(json_array_size(json_object_get(f->body, "records")), 3);
	assert_true(json_is_null(json_object_get(f->body, "next_before")));
	assert_int_equal(call(f, "GET", "/api/collections/empty", NULL, rf->admin.hdr), 200);
	assert_int_equal(json_array_size(json_object_get(f->body, "records")), 0);
	assert_int_equal(call(f, "GET", "/api/collections/Support", NULL, rf->admin.hdr), 404);
	assert_int_equal(call(f, "GET", "/api/collections/a.b", NULL, rf->admin.hdr), 404);
	assert_int_equal(call(f, "GET", "/api/collections/support?limit=101", NULL,
			      rf->admin.hdr),
			 422);
	assert_int_equal(call(f, "GET", "/api/collections/support?before=0", NULL, rf->admin.hdr),
			 422);
	assert_int_equal(call(f, "GET", "/api/collections/support?before=x", NULL, rf->admin.hdr),
			 422);
}

/* ---- the owner's account deleted ---- */

static void test_owner_deleted(void **state)
{
	struct rfix *rf = *state;
	struct fixture *f = &rf->base;
	json_int_t mine = make_rule(rf, "mine");
	json_int_t bobs;
	char path[64];
	int n;

	assert_int_equal(post_rule(f, &rf->bob, "bobs", RULE_SQL, NULL), 201);
	bobs = int_of(f->body, "id");
	n = rf->stub.installs;
	assert_int_equal(call(f, "DELETE", "/api/users/admin", NULL, rf->admin.hdr), 204);
	/* The engine is told at once: the rule again, disabled, no owner. */
	assert_int_equal(rf->stub.installs, n + 1);
	assert_int_equal(rf->stub.install_id[n], mine);
	assert_false(rf->stub.install_enabled[n]);
	assert_int_equal(rf->stub.install_owner[n], 0);
	snprintf(path, sizeof(path), "/api/rules/%lld", (long long)mine);
	assert_int_equal(call(f, "GET", path, NULL, rf->bob.hdr), 200);
	assert_true(json_is_null(json_object_get(f->body, "owner")));
	assert_true(json_is_false(json_object_get(f->body, "enabled")));
	snprintf(path, sizeof(path), "/api/rules/%lld", (long long)bobs);
	assert_int_equal(call(f, "GET", path, NULL, rf->bob.hdr), 200);
	assert_string_equal(str_of(f->body, "owner"), "bob");
	assert_true(json_is_true(json_object_get(f->body, "enabled")));
	/* Bob saves it: his now, running again. */
	snprintf(path, sizeof(path), "/api/rules/%lld", (long long)mine);
	assert_int_equal(call(f, "PUT", path,
			      "{\"name\":\"mine\",\"sql\":\"" RULE_SQL "\",\"actions\":" RULE_ACTIONS
			      "}",
			      rf->bob.hdr),
			 200);
	assert_string_equal(str_of(f->body, "owner"), "bob");
	assert_true(json_is_true(json_object_get(f->body, "enabled")));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_access, setup_rules, teardown_rules),
		cmocka_unit_test(test_is_admin),
		cmocka_unit_test_setup_teardown(test_no_engine, setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_create, setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_create_refused, setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_create_invalid, setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_create_conflict, setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_get_list, setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_put, setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_delete, setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_dry_run, setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_collections, setup_rules, teardown_rules),
		cmocka_unit_test_setup_teardown(test_owner_deleted, setup_rules, teardown_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
