/*
 * test_api.c - the REST API without sockets: routing (404, 405 with Allow,
 * HEAD, OPTIONS, CORS), request validation (415, 400, 422), and the
 * handlers' answers over an in-memory store.
 */
#include "api_harness.h"

#include <sqlite3.h>

static void test_routing(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(call(f, "GET", "/nowhere", NULL, NULL), 404);
	assert_string_equal(error_code(f), "not_found");
	assert_int_equal(call(f, "PUT", "/api/users", NULL, NULL), 405);
	assert_string_equal(error_code(f), "method_not_allowed");
	assert_string_equal(header(f, "Allow: "), "POST, GET, HEAD");
	assert_int_equal(call(f, "HEAD", "/api/users", NULL, NULL), 200); /* GET's answer */
	assert_int_equal(call(f, "OPTIONS", "/api/users/7", NULL, NULL), 204);
	assert_string_equal(header(f, "Allow: "), "GET, HEAD, PATCH, DELETE, OPTIONS");
	/* a literal segment before a parameter: /api/messages/sent is a route */
	assert_int_equal(call(f, "GET", "/api/messages/sent", NULL, NULL), 401);
	assert_int_equal(call(f, "GET", "/api/users/a%2Fb", NULL, NULL), 404); /* no '/' in {id} */
	assert_int_equal(call(f, "GET", "/api/users/", NULL, NULL), 404);
}

static void test_cors(void **state)
{
	struct fixture *f = *state;
	const char *const ok[] = { "origin: https://b.example", NULL };
	const char *const other[] = { "origin: https://evil.example", NULL };

	assert_int_equal(call(f, "GET", "/api/users", NULL, ok), 200);
	assert_string_equal(header(f, "Access-Control-Allow-Origin: "), "https://b.example");
	assert_int_equal(call(f, "OPTIONS", "/api/messages", NULL, ok), 204);
	assert_non_null(header(f, "Access-Control-Allow-Methods: "));
	assert_int_equal(call(f, "GET", "/api/users", NULL, other), 200);
	assert_null(header(f, "Access-Control-Allow-Origin: "));
}

static void test_body_validation(void **state)
{
	struct fixture *f = *state;
	const char *const text_ct[] = { "content-type: text/plain", NULL };

	assert_int_equal(call(f, "POST", "/api/users", "{\"name\":\"a\"}", text_ct), 415);
	assert_string_equal(error_code(f), "unsupported_media_type");
	assert_int_equal(call(f, "POST", "/api/users", "{\"name\":", json_ct), 400);
	assert_string_equal(error_code(f), "invalid_json");
	assert_int_equal(call(f, "POST", "/api/users", "[1,2]", json_ct), 422);
	assert_int_equal(call(f, "POST", "/api/users", "{\"name\":\"a\",\"name\":\"b\"}", json_ct), 422);
	assert_int_equal(call(f, "POST", "/api/users", "{\"name\":7,\"password\":\"password1\"}",
			      json_ct),
			 422);
	assert_non_null(strstr(f->rs.body, "'name'"));
	assert_int_equal(call(f, "POST", "/api/users",
			      "{\"name\":\"12345\",\"password\":\"password1\"}", json_ct),
			 422);
	assert_int_equal(call(f, "POST", "/api/users",
			      "{\"name\":\"bad/name\",\"password\":\"password1\"}", json_ct),
			 422);
	assert_int_equal(call(f, "POST", "/api/users", "{\"name\":\"ok\",\"password\":\"short\"}",
			      json_ct),
			 422);
	/* valid JSON with a value no field can take: 422, nothing truncated */
	assert_int_equal(call(f, "POST", "/api/users",
			      "{\"name\":\"nul\",\"password\":\"pass\\u0000word1\"}", json_ct),
			 422);
	assert_int_equal(call(f, "POST", "/api/seed", "{\"seed_value\":18446744073709551616}",
			      json_ct),
			 422);
}

static void test_accounts_and_status(void **state)
{
	struct fixture *f = *state;
	char alice[128], bob[128];
	const char *hdr[3] = { json_ct[0], alice, NULL };

	register_user(f, "alice", alice, sizeof(alice));
	assert_string_equal(header(f, "Location: "), "/api/users/1");
	register_user(f, "bob", bob, sizeof(bob));
	assert_int_equal(call(f, "POST", "/api/users",
			      "{\"name\":\"ALICE\",\"password\":\"password1\"}", json_ct),
			 409);
	assert_int_equal(call(f, "GET", "/api/users/Alice", NULL, NULL), 200);
	assert_int_equal(json_integer_value(json_object_get(f->body, "id")), 1);

	assert_int_equal(call(f, "PATCH", "/api/users/alice", "{\"status\":\"busy\"}", hdr), 200);
	assert_string_equal(json_string_value(json_object_get(f->body, "status")), "busy");
	assert_string_equal(json_string_value(json_object_get(f->body, "status_updated_at")),
			    "2025-11-23T12:13:20.000Z");
	assert_int_equal(call(f, "PATCH", "/api/users/bob", "{\"status\":\"x\"}", hdr), 403);
	assert_int_equal(call(f, "PATCH", "/api/users/alice", "{\"status\":\"x\"}", json_ct), 401);

	/* wrong passwords: 401, then 429 once the address used its allowance */
	for (int i = 0; i < 2; i++)
		assert_int_equal(call(f, "POST", "/api/login",
				      "{\"name\":\"alice\",\"password\":\"wrong-pass\"}", json_ct),
				 401);
	assert_int_equal(call(f, "POST", "/api/login",
			      "{\"name\":\"alice\",\"password\":\"password1\"}", json_ct),
			 429);
	assert_non_null(header(f, "Retry-After: "));
	f->api->now_ms += 61000; /* a new minute */
	assert_int_equal(call(f, "POST", "/api/login",
			      "{\"name\":\"alice\",\"password\":\"password1\"}", json_ct),
			 200);
}

static void test_messages(void **state)
{
	struct fixture *f = *state;
	char alice[128], bob[128], carol[128];
	const char *as_alice[3] = { json_ct[0], alice, NULL };
	const char *as_bob[3] = { json_ct[0], bob, NULL };
	const char *as_carol[3] = { json_ct[0], carol, NULL };
	char path[64];
	long long id;

	register_user(f, "alice", alice, sizeof(alice));
	register_user(f, "bob", bob, sizeof(bob));
	register_user(f, "carol", carol, sizeof(carol));
	assert_int_equal(call(f, "POST", "/api/messages", "{\"to\":\"bob\",\"content\":\"hi\"}",
			      as_alice),
			 201);
	id = json_integer_value(json_object_get(f->body, "id"));
	assert_string_equal(json_string_value(json_object_get(f->body, "from")), "alice");
	assert_int_equal(call(f, "POST", "/api/messages", "{\"to\":2,\"content\":\"\"}", as_alice),
			 422);
	assert_int_equal(call(f, "POST", "/api/messages", "{\"to\":\"zed\",\"content\":\"x\"}",
			      as_alice),
			 404);
	assert_int_equal(call(f, "GET", "/api/messages?unread=true", NULL, as_bob), 200);
	assert_int_equal(json_integer_value(json_object_get(f->body, "total")), 1);
	snprintf(path, sizeof(path), "/api/messages/%lld", id);
	assert_int_equal(call(f, "GET", path, NULL, as_carol), 404);
	assert_int_equal(call(f, "PATCH", path, "{\"read\":true}", as_alice), 403);
	assert_int_equal(call(f, "PATCH", path, "{\"read\":true}", as_bob), 200);
	assert_true(json_is_true(json_object_get(f->body, "read")));
	assert_int_equal(call(f, "GET", "/api/messages?unread=true", NULL, as_bob), 200);
	assert_int_equal(json_integer_value(json_object_get(f->body, "total")), 0);
	assert_int_equal(call(f, "GET", "/api/messages?since=yesterday", NULL, as_bob), 422);
	assert_int_equal(call(f, "GET", "/api/messages?limit=101", NULL, as_bob), 422);
	assert_int_equal(call(f, "DELETE", path, NULL, as_bob), 204);
	assert_int_equal(call(f, "GET", path, NULL, as_bob), 404);
	assert_int_equal(call(f, "GET", path, NULL, as_alice), 200); /* the sender's copy */
}

static void test_random_and_health(void **state)
{
	struct fixture *f = *state;
	json_t *first;

	assert_int_equal(call(f, "GET", "/api/integer", NULL, NULL), 200);
	assert_int_equal(json_array_size(f->body), 3);
	assert_int_equal(call(f, "GET", "/api/integer?n=11&min=0&max=9", NULL, NULL), 422);
	assert_int_equal(call(f, "GET", "/api/integer?min=5&max=1", NULL, NULL), 422);
	assert_int_equal(call(f, "GET", "/api/float?min=abc", NULL, NULL), 422);
	assert_int_equal(call(f, "POST", "/api/seed", "{\"seed_value\":42}", json_ct), 200);
	assert_int_equal(call(f, "GET", "/api/integer?n=5&max=1000000", NULL, NULL), 200);
	first = json_incref(f->body);
	assert_int_equal(call(f, "POST", "/api/seed", "{\"seed_value\":42}", json_ct), 200);
	assert_int_equal(call(f, "GET", "/api/integer?n=5&max=1000000", NULL, NULL), 200);
	assert_true(json_equal(first, f->body));
	json_decref(first);
	assert_int_equal(call(f, "GET", "/healthz", NULL, NULL), 200);
	assert_int_equal(call(f, "GET", "/metrics", NULL, NULL), 200);
	assert_non_null(strstr(f->rs.body, "agora_http_request_duration_seconds_bucket"));
}

/* A store that fails under the API: 500 with the JSON error body, counted
 * in /metrics, and the server goes on answering what still works. The
 * test breaks the database from outside, through SQLite itself. */
static void test_store_failure_is_500(void **state)
{
	struct fixture *f = *state;
	char dir[] = "/tmp/agora-api-XXXXXX", path[64], alice[128], bob[128];
	const char *as_alice[3] = { json_ct[0], alice, NULL };
	struct store *file_store;
	struct api_config cfg;
	struct api *file_api;
	char err[256];
	sqlite3 *db;

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/agora.db", dir);
	assert_int_equal(store_open(path, STORE_SYNC_NORMAL, &file_store, err, sizeof(err)), 0);
	api_config_defaults(&cfg);
	cfg.pwhash_ops = 1;
	cfg.pwhash_mem = 8192;
	file_api = api_new(file_store, &cfg);
	file_api->now_ms = f->api->now_ms;
	/* swap the fixture's API for this one, put back below */
	{
		struct api *mem_api = f->api;

		f->api = file_api;
		register_user(f, "alice", alice, sizeof(alice));
		register_user(f, "bob", bob, sizeof(bob));
		(void)bob;
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "DROP TABLE messages", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(db);
		assert_int_equal(call(f, "POST", "/api/messages", "{\"to\":\"bob\",\"content\":\"x\"}",
				      as_alice),
				 500);
		assert_string_equal(error_code(f), "internal");
		assert_int_equal(call(f, "GET", "/api/users/bob", NULL, NULL), 200);
		assert_int_equal(call(f, "GET", "/metrics", NULL, NULL), 200);
		assert_non_null(strstr(f->rs.body, "agora_store_errors_total 1\n"));
		f->api = mem_api;
	}
	api_free(file_api);
	store_free(file_store);
	snprintf(path, sizeof(path), "rm -rf %s", dir);
	assert_int_equal(system(path), 0);
}

/* GET /api/users/{id} is answered from a cache (src/api/user_cache.c):
 * every write through the store shows in the next answer, whoever made it,
 * and ids sharing a cache slot never answer for each other. */
static void test_user_cache(void **state)
{
	struct fixture *f = *state;
	struct store_user u;
	char path[64];
	const char *first_body;

	/* Users 1 .. 1 + API_USER_CACHE_SLOTS (1024): 1 and 1025 share a slot. */
	for (int i = 0; i <= 1024; i++) {
		char name[32];

		snprintf(name, sizeof(name), "user%d", i + 1);
		assert_int_equal(store_user_create(f->st, name, "hash", f->api->now_ms, &u), 0);
		assert_int_equal(u.id, i + 1);
		store_user_release(&u);
	}
	assert_int_equal(call(f, "GET", "/api/users/1", NULL, NULL), 200);
	first_body = (const char *)f->rs.body_static;
	assert_true(f->rs.body_borrowed); /* the cache's copy */
	assert_int_equal(call(f, "GET", "/api/users/1", NULL, NULL), 200);
	assert_ptr_equal(f->rs.body_static, first_body); /* the same entry: a hit */
	for (int round = 0; round < 3; round++) {
		for (int id = 1; id <= 1025; id += 1024) {
			char want[32];

			snprintf(path, sizeof(path), "/api/users/%d", id);
			snprintf(want, sizeof(want), "user%d", id);
			assert_int_equal(call(f, "GET", path, NULL, NULL), 200);
			assert_int_equal(json_integer_value(json_object_get(f->body, "id")), id);
			assert_string_equal(json_string_value(json_object_get(f->body, "name")), want);
		}
	}
	/* A status set straight in the store (as any writer would): seen. */
	assert_int_equal(store_user_set_status(f->st, 1, "away", f->api->now_ms + 1000), 0);
	assert_int_equal(call(f, "GET", "/api/users/1", NULL, NULL), 200);
	assert_string_equal(json_string_value(json_object_get(f->body, "status")), "away");
	assert_string_equal(json_string_value(json_object_get(f->body, "status_updated_at")),
			    "2025-11-23T12:13:21.000Z");
	/* A failed write counts as a change too (nothing is assumed). */
	assert_int_equal(store_user_set_status(f->st, 9999, "x", f->api->now_ms), STORE_ENOTFOUND);
	assert_int_equal(call(f, "GET", "/api/users/1", NULL, NULL), 200);
	assert_string_equal(json_string_value(json_object_get(f->body, "status")), "away");
	/* Deleted: 404, not the cached answer. */
	assert_int_equal(store_user_delete(f->st, 1), 0);
	assert_int_equal(call(f, "GET", "/api/users/1", NULL, NULL), 404);
	assert_int_equal(call(f, "GET", "/api/users/1025", NULL, NULL), 200);
	/* HEAD from the cache: the length, no body. */
	assert_int_equal(call(f, "HEAD", "/api/users/1025", NULL, NULL), 200);
	assert_true(f->rs.body_len > 0);
}

/* The token of a bearer header line register_user made. */
static const uint8_t *token_of(const char *header_line)
{
	return (const uint8_t *)strrchr(header_line, ' ') + 1;
}

/* api_token_user, which MQTT logins use (src/server/bridge.c): the user of
 * a token given as bytes, none for a revoked or altered one. */
static void test_token_user(void **state)
{
	struct fixture *f = *state;
	char alice[128], bob[128];
	const char *hdr[2] = { alice, NULL };
	const uint8_t *t;
	int64_t id = 0;

	register_user(f, "alice", alice, sizeof(alice));
	register_user(f, "bob", bob, sizeof(bob));
	t = token_of(alice);
	assert_int_equal(strlen((const char *)t), 43);
	assert_int_equal(api_token_user(f->api, t, 43, &id), 0);
	assert_int_equal(id, 1);
	assert_int_equal(api_token_user(f->api, token_of(bob), 43, &id), 0);
	assert_int_equal(id, 2);
	/* A prefix, one more byte, or nothing: no user. */
	assert_int_equal(api_token_user(f->api, t, 42, &id), STORE_ENOTFOUND);
	assert_int_equal(api_token_user(f->api, (const uint8_t *)"", 0, &id), STORE_ENOTFOUND);
	/* Revoked by logout: no user any more; bob's stays. */
	assert_int_equal(call(f, "POST", "/api/logout", NULL, hdr), 204);
	assert_int_equal(api_token_user(f->api, t, 43, &id), STORE_ENOTFOUND);
	assert_int_equal(api_token_user(f->api, token_of(bob), 43, &id), 0);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown_fixture)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_routing),	   T(test_cors),     T(test_body_validation),
		T(test_accounts_and_status), T(test_messages), T(test_random_and_health),
		T(test_store_failure_is_500), T(test_user_cache), T(test_token_user),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
