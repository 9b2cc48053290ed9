/*
 * api_harness.h - the REST API without sockets, for unit tests: an API
 * over an in-memory store (fast password hashing, a fixed clock), a
 * request built from plain strings and answered by api_handle (deferred
 * password work run inline), the answer's JSON parsed.
 *
 * setup / teardown_fixture are cmocka's; call() answers one request.
 */
#ifndef AGORA_TEST_API_HARNESS_H
#define AGORA_TEST_API_HARNESS_H

#include "helpers.h"

#include "api/api.h"
#include "http/http.h"
#include "store/store.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fixture {
	struct store *st;
	struct api *api;
	struct http_response rs;
	json_t *body; /* the last answer, parsed */
};

static inline int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct api_config cfg;
	char err[256];

	assert_int_equal(store_open(":memory:", STORE_SYNC_NORMAL, &f->st, err, sizeof(err)), 0);
	api_config_defaults(&cfg);
	cfg.pwhash_ops = 1; /* fast hashing in tests */
	cfg.pwhash_mem = 8192;
	cfg.cors_origins = "https://a.example, https://b.example";
	cfg.login_failures_per_minute = 2;
	f->api = api_new(f->st, &cfg);
	f->api->now_ms = 1763900000000; /* 2025-11-23T12:13:20Z */
	f->api->peer = "127.0.0.1";
	http_response_init(&f->rs);
	*state = f;
	return 0;
}

static inline int teardown_fixture(void **state)
{
	struct fixture *f = *state;

	http_response_release(&f->rs);
	json_decref(f->body);
	api_free(f->api);
	store_free(f->st);
	free(f);
	return 0;
}

/* With AGORA_API_DUMP=FILE in the environment, every answer call() gets is
 * appended to FILE as a line of JSON {"method", "target", "template" (the
 * route's, null for none), "status", "content_type", "body"}: what
 * tests/integration/test_rules_api.py checks against the OpenAPI document,
 * so that answers only a stub engine can provoke are checked too. */
static inline void dump_answer(const struct fixture *f, const char *method, const char *target,
			       size_t route)
{
	const char *path = getenv("AGORA_API_DUMP");
	const char *body = f->rs.body ? f->rs.body : (const char *)f->rs.body_static;
	size_t n;
	const struct api_route *routes = api_routes(&n);
	json_t *o;
	FILE *out;

	if (!path || !*path)
		return;
	o = json_pack("{s:s,s:s,s:o,s:i,s:o,s:o}", "method", method, "target", target, "template",
		      route < n ? json_string(routes[route].path) : json_null(), "status",
		      f->rs.status, "content_type",
		      f->rs.content_type ? json_string(f->rs.content_type) : json_null(), "body",
		      body ? json_stringn(body, f->rs.body_len) : json_null());
	out = fopen(path, "a");
	assert_non_null(out);
	assert_non_null(o);
	assert_int_equal(json_dumpf(o, out, JSON_COMPACT), 0);
	fputc('\n', out);
	fclose(out);
	json_decref(o);
}

/* Builds a request, answers it, returns the status; f->body is the JSON
 * answer (NULL if none). headers: "name: value" lines, lower-case names. */
static inline int call(struct fixture *f, const char *method, const char *target,
		       const char *json, const char *const *headers)
{
	struct http_header hs[8];
	char *lines[8];
	char *t = strdup(target), *q = strchr(t, '?');
	size_t route;
	struct http_request rq = {
		.method = method,
		.target = t,
		.path = t,
		.query = q ? q + 1 : "",
		.headers = hs,
		.body = (uint8_t *)(json ? json : ""),
		.body_len = json ? strlen(json) : 0,
		.has_body = json != NULL,
		.keep_alive = true,
	};

	if (q)
		*q = '\0';
	for (unsigned i = 0; headers && headers[i]; i++) {
		char *line = strdup(headers[i]), *colon = strchr(line, ':');

		*colon = '\0';
		lines[i] = line;
		hs[i].name = line;
		hs[i].value = colon + 2;
		rq.nheaders = i + 1;
	}
	http_response_release(&f->rs);
	http_response_init(&f->rs);
	json_decref(f->body);
	route = api_handle(f->api, &rq, &f->rs);
	api_run_deferred(f->api, &f->rs); /* password work, inline here */
	dump_answer(f, method, target, route);
	/* An owned body, or a borrowed one (the user cache's). */
	if (f->rs.body || f->rs.body_borrowed)
		f->body = json_loadb(f->rs.body ? f->rs.body : (const char *)f->rs.body_static,
				     f->rs.body_len, 0, NULL);
	else
		f->body = NULL;
	for (unsigned i = 0; i < rq.nheaders; i++)
		free(lines[i]);
	free(t);
	return f->rs.status;
}

static const char *const json_ct[] = { "content-type: application/json", NULL };

static inline const char *error_code(const struct fixture *f)
{
	return json_string_value(json_object_get(json_object_get(f->body, "error"), "code"));
}

static inline const char *header(const struct fixture *f, const char *prefix)
{
	for (unsigned i = 0; i < f->rs.nextra; i++)
		if (strncmp(f->rs.extra[i], prefix, strlen(prefix)) == 0)
			return f->rs.extra[i] + strlen(prefix);
	return NULL;
}

/* Registers name and returns its token (static buffer per call site). */
static inline void register_user(struct fixture *f, const char *name, char *token,
				 size_t cap)
{
	char body[128];

	snprintf(body, sizeof(body), "{\"name\":\"%s\",\"password\":\"password1\"}", name);
	assert_int_equal(call(f, "POST", "/api/users", body, json_ct), 201);
	snprintf(token, cap, "authorization: Bearer %s",
		 json_string_value(json_object_get(f->body, "token")));
}

#endif
