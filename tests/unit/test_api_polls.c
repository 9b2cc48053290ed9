/*
 * test_api_polls.c - polls over REST without sockets (api_harness.h):
 * every route, its answer's shape and status, every refusal with its
 * code, the poll JSON (api_poll_payload), the server's clock closing a
 * poll, and the observers told of changes made over REST.
 */
#include "api_harness.h"

#include "polls/polls.h"

#include <stdbool.h>

/* A request with a JSON body as `who`: the header lines for call(). */
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

static const char *message(const struct fixture *f)
{
	return json_string_value(json_object_get(json_object_get(f->body, "error"), "message"));
}

static json_int_t int_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	assert_true(json_is_integer(v));
	return json_integer_value(v);
}

static const char *str_of(json_t *o, const char *key)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v))
		fail_msg("'%s' is not a string", key);
	return json_string_value(v);
}

/* Creates a poll with the seasons (body's closes_at member as given, or
 * none); its id. */
static json_int_t create(struct fixture *f, const struct as *who, const char *closes_at)
{
	char body[256];

	snprintf(body, sizeof(body),
		 "{\"question\":\"Été ou hiver ?\",\"options\":[\"été\",\"Hiver\",\"2\"]%s%s}",
		 closes_at ? ",\"closes_at\":" : "", closes_at ? closes_at : "");
	assert_int_equal(call(f, "POST", "/api/polls", body, who->hdr), 201);
	return int_of(f->body, "id");
}

static int vote(struct fixture *f, const struct as *who, const char *method, json_int_t id,
		const char *option_json)
{
	char path[64], body[512];

	snprintf(path, sizeof(path), "/api/polls/%lld/votes%s", (long long)id,
		 strcmp(method, "PUT") == 0 ? "/me" : "");
	snprintf(body, sizeof(body), "{\"option\":%s}", option_json);
	return call(f, method, path, body, who->hdr);
}

/* The poll's counts, as GET shows them, asserted equal to want. */
static void expect_votes(struct fixture *f, json_int_t id, const json_int_t *want, size_t n)
{
	char path[64];
	json_t *options;

	snprintf(path, sizeof(path), "/api/polls/%lld", (long long)id);
	assert_int_equal(call(f, "GET", path, NULL, NULL), 200);
	options = json_object_get(f->body, "options");
	assert_int_equal(json_array_size(options), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(int_of(json_array_get(options, i), "votes"), want[i]);
}

/* ---- routes ---- */

static void test_routes(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(call(f, "POST", "/api/polls", "{}", json_ct), 401);
	assert_int_equal(call(f, "GET", "/api/polls", NULL, NULL), 200);
	assert_int_equal(int_of(f->body, "total"), 0);
	assert_int_equal(call(f, "OPTIONS", "/api/polls/1/votes/me", NULL, NULL), 204);
	assert_string_equal(header(f, "Allow: "), "GET, HEAD, PUT, OPTIONS");
	assert_int_equal(call(f, "DELETE", "/api/polls/1", NULL, NULL), 405);
	assert_string_equal(header(f, "Allow: "), "GET, HEAD");
	assert_int_equal(call(f, "GET", "/api/polls/1/close", NULL, NULL), 405);
	assert_int_equal(call(f, "GET", "/api/polls/1/votes/you", NULL, NULL), 404);
	/* An id that is not a positive number is no poll. */
	assert_int_equal(call(f, "GET", "/api/polls/abc", NULL, NULL), 404);
	assert_string_equal(error_code(f), "not_found");
	assert_int_equal(call(f, "GET", "/api/polls/0", NULL, NULL), 404);
	assert_int_equal(call(f, "GET", "/api/polls/-1", NULL, NULL), 404);
	assert_int_equal(call(f, "GET", "/api/polls/+1", NULL, NULL), 404);
	assert_int_equal(call(f, "GET", "/api/polls/99999999999999999999", NULL, NULL), 404);
	assert_int_equal(call(f, "GET", "/api/polls/1", NULL, NULL), 404);
	assert_string_equal(message(f), "no poll 1");
}

/* ---- create ---- */

static void test_create(void **state)
{
	struct fixture *f = *state;
	struct as alice;
	json_t *options, *o;
	json_int_t id;

	as_user(&alice, f, "alice");
	id = create(f, &alice, NULL);
	assert_true(id > 0);
	assert_int_equal(json_object_size(f->body), 9);
	assert_string_equal(str_of(f->body, "question"), "Été ou hiver ?");
	assert_string_equal(str_of(f->body, "creator"), "alice");
	assert_string_equal(str_of(f->body, "created_at"), "2025-11-23T12:13:20.000Z");
	assert_true(json_is_null(json_object_get(f->body, "closes_at")));
	assert_true(json_is_null(json_object_get(f->body, "closed_at")));
	assert_true(json_is_true(json_object_get(f->body, "open")));
	assert_int_equal(int_of(f->body, "total"), 0);
	options = json_object_get(f->body, "options");
	assert_int_equal(json_array_size(options), 3);
	o = json_array_get(options, 1);
	assert_int_equal(json_object_size(o), 3);
	assert_int_equal(int_of(o, "number"), 2);
	assert_string_equal(str_of(o, "label"), "Hiver");
	assert_int_equal(int_of(o, "votes"), 0);
	{
		char loc[64];

		snprintf(loc, sizeof(loc), "/api/polls/%lld", (long long)id);
		assert_string_equal(header(f, "Location: "), loc);
	}
	/* closes_at as a time or as milliseconds; null is none. */
	create(f, &alice, "\"2025-11-23T13:00:00Z\"");
	assert_string_equal(str_of(f->body, "closes_at"), "2025-11-23T13:00:00.000Z");
	create(f, &alice, "1763900000001");
	assert_string_equal(str_of(f->body, "closes_at"), "2025-11-23T12:13:20.001Z");
	create(f, &alice, "null");
	assert_true(json_is_null(json_object_get(f->body, "closes_at")));
}

/* POST /api/polls with body: 422 with code and a message starting with
 * `starts`. */
static void expect_422(struct fixture *f, const struct as *who, const char *body,
		       const char *starts)
{
	assert_int_equal(call(f, "POST", "/api/polls", body, who->hdr), 422);
	assert_string_equal(error_code(f), "validation_failed");
	if (strncmp(message(f), starts, strlen(starts)) != 0)
		fail_msg("%s: message '%s' does not start with '%s'", body, message(f), starts);
}

static void test_create_refused(void **state)
{
	struct fixture *f = *state;
	struct as alice;

	as_user(&alice, f, "alice");
	expect_422(f, &alice, "{\"options\":[\"a\",\"b\"]}", "'question'");
	expect_422(f, &alice, "{\"question\":7,\"options\":[\"a\",\"b\"]}", "'question'");
	expect_422(f, &alice, "{\"question\":\"\",\"options\":[\"a\",\"b\"]}", "question: ");
	expect_422(f, &alice, "{\"question\":\"a\\nb\",\"options\":[\"a\",\"b\"]}", "question: ");
	expect_422(f, &alice, "{\"question\":\"q\"}", "options: ");
	expect_422(f, &alice, "{\"question\":\"q\",\"options\":\"a,b\"}", "options: ");
	expect_422(f, &alice, "{\"question\":\"q\",\"options\":[\"a\"]}", "options: ");
	expect_422(f, &alice, "{\"question\":\"q\",\"options\":[]}", "options: ");
	expect_422(f, &alice, "{\"question\":\"q\",\"options\":[\"a\",2]}",
		   "options: option 2 is not a string");
	expect_422(f, &alice, "{\"question\":\"q\",\"options\":[\"a\",\"\\t\"]}",
		   "options: option 2: ");
	expect_422(f, &alice, "{\"question\":\"q\",\"options\":[\"Oui\",\"non\",\"OUI\"]}",
		   "options: 'OUI' appears twice");
	expect_422(f, &alice, "{\"question\":\"q\",\"options\":[\"a\",\"b\"],\"closes_at\":true}",
		   "closes_at: ");
	expect_422(f, &alice,
		   "{\"question\":\"q\",\"options\":[\"a\",\"b\"],\"closes_at\":\"soon\"}",
		   "closes_at: ");
	/* Now is the past already: at closes_at a poll is closed. */
	expect_422(f, &alice,
		   "{\"question\":\"q\",\"options\":[\"a\",\"b\"],\"closes_at\":1763900000000}",
		   "closes_at: must be in the future");
	expect_422(f, &alice,
		   "{\"question\":\"q\",\"options\":[\"a\",\"b\"],"
		   "\"closes_at\":\"2025-11-23T12:00:00Z\"}",
		   "closes_at: must be in the future");
	/* The configured limits. */
	f->api->polls.lim.question_max = 3;
	expect_422(f, &alice, "{\"question\":\"four\",\"options\":[\"a\",\"b\"]}",
		   "question: must be 1 to 3 bytes (it has 4)");
	assert_int_equal(call(f, "POST", "/api/polls",
			      "{\"question\":\"abc\",\"options\":[\"a\",\"b\"]}", alice.hdr),
			 201);
	/* Nothing refused was stored. */
	assert_int_equal(call(f, "GET", "/api/polls", NULL, NULL), 200);
	assert_int_equal(int_of(f->body, "total"), 1);
}

/* ---- read ---- */

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct as alice;
	json_int_t ids[4];
	json_t *polls;

	as_user(&alice, f, "alice");
	for (size_t i = 0; i < 4; i++) {
		ids[i] = create(f, &alice, NULL);
		f->api->now_ms += 10;
	}
	/* The oldest stays open; the newest is closed: it goes last. */
	{
		char path[64];

		snprintf(path, sizeof(path), "/api/polls/%lld/close", (long long)ids[3]);
		assert_int_equal(call(f, "POST", path, NULL, alice.hdr + 1), 200);
	}
	assert_int_equal(call(f, "GET", "/api/polls?limit=2&offset=1", NULL, NULL), 200);
	assert_int_equal(int_of(f->body, "total"), 4);
	assert_int_equal(int_of(f->body, "limit"), 2);
	assert_int_equal(int_of(f->body, "offset"), 1);
	polls = json_object_get(f->body, "polls");
	assert_int_equal(json_array_size(polls), 2);
	assert_int_equal(int_of(json_array_get(polls, 0), "id"), ids[1]);
	assert_int_equal(int_of(json_array_get(polls, 1), "id"), ids[0]);
	assert_int_equal(call(f, "GET", "/api/polls", NULL, NULL), 200);
	polls = json_object_get(f->body, "polls");
	assert_int_equal(json_array_size(polls), 4);
	assert_int_equal(int_of(json_array_get(polls, 0), "id"), ids[2]);
	assert_int_equal(int_of(json_array_get(polls, 3), "id"), ids[3]);
	assert_true(json_is_false(json_object_get(json_array_get(polls, 3), "open")));
	assert_int_equal(int_of(f->body, "limit"), 50);
	assert_int_equal(call(f, "GET", "/api/polls?limit=0", NULL, NULL), 422);
	assert_int_equal(call(f, "GET", "/api/polls?offset=-1", NULL, NULL), 422);
}

static void test_get_and_payload(void **state)
{
	struct fixture *f = *state;
	struct as bob;
	struct store_poll p;
	json_int_t id;
	char path[64], *line;
	json_t *again;

	as_user(&bob, f, "bob");
	id = create(f, &bob, NULL);
	snprintf(path, sizeof(path), "/api/polls/%lld", (long long)id);
	assert_int_equal(call(f, "GET", path, NULL, NULL), 200);
	assert_int_equal(int_of(f->body, "id"), id);
	/* api_poll_payload: the same object, on one line. */
	assert_int_equal(polls_get(&f->api->polls, id, &p), POLLS_OK);
	line = api_poll_payload(&p, f->api->now_ms);
	assert_non_null(line);
	assert_null(strchr(line, '\n'));
	again = json_loads(line, 0, NULL);
	assert_true(json_equal(again, f->body));
	json_decref(again);
	free(line);
	/* open is at the time given. */
	line = api_poll_payload(&p, f->api->now_ms);
	assert_non_null(strstr(line, "\"open\":true"));
	free(line);
	p.closes_at = f->api->now_ms;
	line = api_poll_payload(&p, f->api->now_ms);
	assert_non_null(strstr(line, "\"open\":false"));
	free(line);
	store_poll_release(&p);
	/* The creator's account deleted: null, and the poll stays. */
	assert_int_equal(call(f, "DELETE", "/api/users/bob", NULL, bob.hdr + 1), 204);
	assert_int_equal(call(f, "GET", path, NULL, NULL), 200);
	assert_true(json_is_null(json_object_get(f->body, "creator")));
}

/* ---- close ---- */

static void test_close(void **state)
{
	struct fixture *f = *state;
	struct as alice, bob;
	json_int_t id;
	char path[64];

	as_user(&alice, f, "alice");
	as_user(&bob, f, "bob");
	id = create(f, &alice, NULL);
	snprintf(path, sizeof(path), "/api/polls/%lld/close", (long long)id);
	assert_int_equal(call(f, "POST", path, NULL, NULL), 401);
	assert_int_equal(call(f, "POST", path, NULL, bob.hdr + 1), 403);
	assert_string_equal(error_code(f), "forbidden");
	assert_non_null(strstr(message(f), "creator"));
	assert_int_equal(call(f, "POST", "/api/polls/999/close", NULL, alice.hdr + 1), 404);
	f->api->now_ms += 5;
	assert_int_equal(call(f, "POST", path, NULL, alice.hdr + 1), 200);
	assert_string_equal(str_of(f->body, "closed_at"), "2025-11-23T12:13:20.005Z");
	assert_true(json_is_false(json_object_get(f->body, "open")));
	/* Again: fine, the first time stays. */
	f->api->now_ms += 5;
	assert_int_equal(call(f, "POST", path, NULL, alice.hdr + 1), 200);
	assert_string_equal(str_of(f->body, "closed_at"), "2025-11-23T12:13:20.005Z");
	assert_int_equal(vote(f, &bob, "POST", id, "\"été\""), 409);
	assert_string_equal(error_code(f), "poll_closed");
}

/* ---- votes ---- */

static void test_vote(void **state)
{
	struct fixture *f = *state;
	struct as alice, bob, carol;
	json_int_t id;
	json_t *opt, *results;
	char loc[64];

	as_user(&alice, f, "alice");
	as_user(&bob, f, "bob");
	as_user(&carol, f, "carol");
	id = create(f, &alice, NULL);
	f->api->now_ms += 7;
	assert_int_equal(vote(f, &bob, "POST", id, "\"HIVER\""), 201);
	assert_int_equal(json_object_size(f->body), 4);
	assert_int_equal(int_of(f->body, "poll_id"), id);
	opt = json_object_get(f->body, "option");
	assert_int_equal(int_of(opt, "number"), 2);
	assert_string_equal(str_of(opt, "label"), "Hiver");
	assert_string_equal(str_of(f->body, "voted_at"), "2025-11-23T12:13:20.007Z");
	results = json_object_get(f->body, "results");
	assert_int_equal(int_of(results, "id"), id);
	assert_int_equal(int_of(results, "total"), 1);
	opt = json_array_get(json_object_get(results, "options"), 1);
	assert_int_equal(int_of(opt, "votes"), 1);
	snprintf(loc, sizeof(loc), "/api/polls/%lld/votes/me", (long long)id);
	assert_string_equal(header(f, "Location: "), loc);
	/* A second vote, whatever the option. */
	assert_int_equal(vote(f, &bob, "POST", id, "\"hiver\""), 409);
	assert_string_equal(error_code(f), "already_voted");
	snprintf(loc, sizeof(loc), "PUT /api/polls/%lld/votes/me", (long long)id);
	assert_non_null(strstr(message(f), loc));
	assert_int_equal(vote(f, &bob, "POST", id, "1"), 409);
	/* By integer: the number. By string "2": the label "2" (third). */
	assert_int_equal(vote(f, &carol, "POST", id, "2"), 201);
	assert_int_equal(int_of(json_object_get(f->body, "option"), "number"), 2);
	assert_int_equal(vote(f, &alice, "POST", id, "\"2\""), 201);
	assert_int_equal(int_of(json_object_get(f->body, "option"), "number"), 3);
	{
		const json_int_t want[] = { 0, 2, 1 };

		expect_votes(f, id, want, 3);
	}
}

static void test_vote_refused(void **state)
{
	struct fixture *f = *state;
	struct as bob;
	json_int_t id;
	static const char *const unknown[] = { "\"automne\"", "0", "4", "-1", "\"4\"",
					       "\"\"",	       "99999999999999999" };
	static const char *const shapes[] = { "true", "null", "2.0", "[1]", "{}" };
	char long_label[300];
	size_t len = 0;

	as_user(&bob, f, "bob");
	id = create(f, &bob, NULL);
	for (size_t i = 0; i < sizeof(unknown) / sizeof(unknown[0]); i++) {
		assert_int_equal(vote(f, &bob, "POST", id, unknown[i]), 422);
		assert_string_equal(error_code(f), "unknown_option");
	}
	assert_non_null(strstr(message(f), "no option 99999999999999999"));
	assert_int_equal(vote(f, &bob, "POST", id, "\"automne\""), 422);
	assert_non_null(strstr(message(f), "'automne'"));
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		assert_int_equal(vote(f, &bob, "POST", id, shapes[i]), 422);
		assert_string_equal(error_code(f), "validation_failed");
	}
	assert_int_equal(call(f, "POST", "/api/polls/1/votes", "{}", bob.hdr), 422);
	/* A long multibyte option quoted back: cut, and still valid JSON. */
	long_label[len++] = '"';
	for (size_t i = 0; i < 100; i++) {
		memcpy(long_label + len, "é", 2);
		len += 2;
	}
	memcpy(long_label + len, "\"", 2);
	assert_int_equal(vote(f, &bob, "POST", id, long_label), 422);
	assert_non_null(f->body);
	assert_string_equal(error_code(f), "unknown_option");
	assert_true(strlen(message(f)) < 200);
	/* Nothing stored: bob still votes once. */
	assert_int_equal(vote(f, &bob, "POST", id, "1"), 201);
	/* No such poll; no token; not JSON. */
	assert_int_equal(vote(f, &bob, "POST", id + 1, "1"), 404);
	assert_string_equal(error_code(f), "not_found");
	assert_int_equal(call(f, "POST", "/api/polls/1/votes", "{\"option\":1}", json_ct), 401);
	assert_int_equal(call(f, "POST", "/api/polls/1/votes", "{\"option\":", bob.hdr), 400);
}

static void test_change_and_mine(void **state)
{
	struct fixture *f = *state;
	struct as alice, bob;
	json_int_t id;
	char path[64];

	as_user(&alice, f, "alice");
	as_user(&bob, f, "bob");
	id = create(f, &alice, NULL);
	snprintf(path, sizeof(path), "/api/polls/%lld/votes/me", (long long)id);
	assert_int_equal(call(f, "GET", path, NULL, bob.hdr + 1), 404);
	assert_string_equal(error_code(f), "no_vote");
	assert_int_equal(call(f, "GET", path, NULL, NULL), 401);
	assert_int_equal(call(f, "GET", "/api/polls/77/votes/me", NULL, bob.hdr + 1), 404);
	assert_string_equal(error_code(f), "not_found");
	assert_int_equal(vote(f, &bob, "PUT", id, "\"été\""), 404);
	assert_string_equal(error_code(f), "no_vote");
	assert_int_equal(vote(f, &bob, "POST", id, "\"été\""), 201);
	f->api->now_ms += 3;
	assert_int_equal(vote(f, &bob, "PUT", id, "\"hiver\""), 200);
	assert_int_equal(int_of(json_object_get(f->body, "option"), "number"), 2);
	assert_int_equal(int_of(json_object_get(f->body, "results"), "total"), 1);
	assert_null(header(f, "Location: "));
	assert_int_equal(vote(f, &bob, "PUT", id, "\"automne\""), 422);
	assert_string_equal(error_code(f), "unknown_option");
	assert_int_equal(call(f, "GET", path, NULL, bob.hdr + 1), 200);
	assert_int_equal(json_object_size(f->body), 3);
	assert_int_equal(int_of(f->body, "poll_id"), id);
	assert_string_equal(str_of(json_object_get(f->body, "option"), "label"), "Hiver");
	assert_string_equal(str_of(f->body, "voted_at"), "2025-11-23T12:13:20.003Z");
	{
		const json_int_t want[] = { 0, 1, 0 };

		expect_votes(f, id, want, 3);
	}
}

static void test_expiry_by_clock(void **state)
{
	struct fixture *f = *state;
	struct as alice, bob;
	json_int_t id;
	char path[64];

	as_user(&alice, f, "alice");
	as_user(&bob, f, "bob");
	id = create(f, &alice, "1763900001000"); /* a second after now */
	f->api->now_ms += 999;
	assert_int_equal(vote(f, &alice, "POST", id, "1"), 201);
	f->api->now_ms += 1; /* closes_at itself: closed */
	assert_int_equal(vote(f, &bob, "POST", id, "1"), 409);
	assert_string_equal(error_code(f), "poll_closed");
	assert_int_equal(vote(f, &alice, "PUT", id, "2"), 409);
	assert_string_equal(error_code(f), "poll_closed");
	snprintf(path, sizeof(path), "/api/polls/%lld", (long long)id);
	assert_int_equal(call(f, "GET", path, NULL, NULL), 200);
	assert_true(json_is_false(json_object_get(f->body, "open")));
	assert_true(json_is_null(json_object_get(f->body, "closed_at")));
	assert_int_equal(int_of(f->body, "total"), 1);
}

/* ---- observers ---- */

static void count_change(void *ctx, int64_t poll_id)
{
	(void)poll_id;
	(*(int *)ctx)++;
}

static void test_observers_hear_rest(void **state)
{
	struct fixture *f = *state;
	struct as alice;
	json_int_t id;
	int changes = 0;
	char path[64];

	as_user(&alice, f, "alice");
	assert_int_equal(polls_observe(&f->api->polls, count_change, &changes), 0);
	id = create(f, &alice, NULL);
	assert_int_equal(changes, 1);
	assert_int_equal(vote(f, &alice, "POST", id, "1"), 201);
	assert_int_equal(vote(f, &alice, "POST", id, "1"), 409);
	assert_int_equal(changes, 2);
	assert_int_equal(vote(f, &alice, "PUT", id, "2"), 200);
	assert_int_equal(changes, 3);
	snprintf(path, sizeof(path), "/api/polls/%lld/close", (long long)id);
	assert_int_equal(call(f, "POST", path, NULL, alice.hdr + 1), 200);
	assert_int_equal(call(f, "POST", path, NULL, alice.hdr + 1), 200);
	assert_int_equal(changes, 4);
	/* Reads tell nobody. */
	assert_int_equal(call(f, "GET", "/api/polls", NULL, NULL), 200);
	assert_int_equal(changes, 4);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown_fixture)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_routes),		 T(test_create),	  T(test_create_refused),
		T(test_list),		 T(test_get_and_payload), T(test_close),
		T(test_vote),		 T(test_vote_refused),	  T(test_change_and_mine),
		T(test_expiry_by_clock), T(test_observers_hear_rest),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
