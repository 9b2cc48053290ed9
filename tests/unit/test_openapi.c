/*
 * test_openapi.c - the embedded OpenAPI document (src/api/openapi.json,
 * served at /api/openapi.json) against the route table it describes, and
 * the documentation page's assets.
 *
 * The document is hand-written; these checks keep it honest: every route of
 * api_routes() is documented and nothing else is, every $ref resolves,
 * every operation has a success answer, every error answer is the Error
 * schema, path parameters are declared, security schemes exist.
 */
#include "helpers.h"

#include "api/api.h"
#include "api/assets.h"

#include <ctype.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERROR_SCHEMA "#/components/schemas/Error"

/* OpenAPI's operation keys in a path item. */
static const char *const methods[] = {"get",	 "put",	 "post",  "delete",
				      "options", "head", "patch", "trace"};

#define N_METHODS (sizeof(methods) / sizeof(methods[0]))

/* HEAD and OPTIONS are answered for every route and not in the table. */
static bool implicit_method(const char *m)
{
	return strcmp(m, "head") == 0 || strcmp(m, "options") == 0;
}

static json_t *load_doc(void)
{
	const struct api_asset *a = api_asset_find("/api/openapi.json");
	json_error_t err;
	json_t *doc;

	assert_non_null(a);
	assert_non_null(a->content_type);
	assert_non_null(strstr(a->content_type, "application/json"));
	doc = json_loadb((const char *)a->data, a->len, JSON_REJECT_DUPLICATES, &err);
	if (!doc)
		fail_msg("openapi.json line %d: %s", err.line, err.text);
	assert_true(json_is_object(doc));
	return doc;
}

/* The paths object, asserted present. */
static json_t *paths_of(json_t *doc)
{
	json_t *paths = json_object_get(doc, "paths");

	assert_true(json_is_object(paths));
	return paths;
}

static void lower(const char *in, char *out, size_t cap)
{
	size_t i;

	for (i = 0; in[i] && i + 1 < cap; i++)
		out[i] = (char)tolower((unsigned char)in[i]);
	out[i] = '\0';
}

/* The value a local JSON pointer reference ("#/a/b~1c") names, or NULL. */
static json_t *resolve_ref(json_t *doc, const char *ref)
{
	json_t *cur = doc;
	const char *p;
	char tok[256];

	if (strcmp(ref, "#") == 0)
		return doc;
	if (strncmp(ref, "#/", 2) != 0)
		return NULL; /* external references are not used here */
	p = ref + 2;
	for (;;) {
		size_t n = 0;

		while (*p && *p != '/') {
			char c = *p++;

			if (c == '~') {
				if (*p != '0' && *p != '1')
					return NULL;
				c = *p++ == '0' ? '~' : '/';
			}
			if (n + 1 >= sizeof(tok))
				return NULL;
			tok[n++] = c;
		}
		tok[n] = '\0';
		if (json_is_object(cur)) {
			cur = json_object_get(cur, tok);
		} else if (json_is_array(cur)) {
			char *end;
			unsigned long i = strtoul(tok, &end, 10);

			cur = (n && *end == '\0') ? json_array_get(cur, i) : NULL;
		} else {
			cur = NULL;
		}
		if (!cur || *p == '\0')
			return cur;
		p++;
	}
}

/* Follows $ref until a value without one (a bounded chain). */
static json_t *deref(json_t *doc, json_t *v)
{
	for (int hops = 0; hops < 16; hops++) {
		json_t *ref = json_is_object(v) ? json_object_get(v, "$ref") : NULL;

		if (!json_is_string(ref))
			return v;
		v = resolve_ref(doc, json_string_value(ref));
		if (!v)
			fail_msg("$ref %s does not resolve", json_string_value(ref));
	}
	fail_msg("a $ref chain longer than 16");
	return NULL;
}

static bool route_exists(const char *method_lower, const char *path)
{
	size_t n;
	const struct api_route *routes = api_routes(&n);

	for (size_t i = 0; i < n; i++) {
		char m[16];

		lower(routes[i].method, m, sizeof(m));
		if (strcmp(m, method_lower) == 0 && strcmp(routes[i].path, path) == 0)
			return true;
	}
	return false;
}

/* Calls fn for every operation in the document (HEAD/OPTIONS included);
 * item is the operation's path item, ctx is passed through. */
typedef void (*op_fn)(json_t *doc, const char *path, json_t *item, const char *method, json_t *op,
		      void *ctx);

static void each_operation(json_t *doc, op_fn fn, void *ctx)
{
	json_t *paths = paths_of(doc);
	const char *path;
	json_t *item;

	json_object_foreach(paths, path, item)
	{
		assert_true(json_is_object(item));
		for (size_t i = 0; i < N_METHODS; i++) {
			json_t *op = json_object_get(item, methods[i]);

			if (!op)
				continue;
			if (!json_is_object(op))
				fail_msg("%s %s is not an object", methods[i], path);
			fn(doc, path, item, methods[i], op, ctx);
		}
	}
}

static void test_version(void **state)
{
	json_t *doc = load_doc();
	json_t *info = json_object_get(doc, "info");

	(void)state;
	assert_string_equal(json_string_value(json_object_get(doc, "openapi")), "3.1.0");
	assert_true(json_is_object(info));
	assert_non_null(json_string_value(json_object_get(info, "title")));
	assert_non_null(json_string_value(json_object_get(info, "version")));
	json_decref(doc);
}

static void test_every_route_documented(void **state)
{
	json_t *doc = load_doc();
	json_t *paths = paths_of(doc);
	size_t n;
	const struct api_route *routes = api_routes(&n);

	(void)state;
	assert_true(n > 0);
	for (size_t i = 0; i < n; i++) {
		json_t *item = json_object_get(paths, routes[i].path);
		char m[16];

		lower(routes[i].method, m, sizeof(m));
		if (!json_is_object(item) || !json_is_object(json_object_get(item, m)))
			fail_msg("route %s %s is not in openapi.json", routes[i].method,
				 routes[i].path);
	}
	json_decref(doc);
}

static void check_documented_exists(json_t *doc, const char *path, json_t *item, const char *method,
				    json_t *op, void *ctx)
{
	(void)doc;
	(void)item;
	(void)op;
	(void)ctx;
	if (!implicit_method(method) && !route_exists(method, path))
		fail_msg("openapi.json documents %s %s, which api_routes() lacks", method, path);
}

static void test_every_documented_route_exists(void **state)
{
	json_t *doc = load_doc();

	(void)state;
	each_operation(doc, check_documented_exists, NULL);
	json_decref(doc);
}

/* Every "$ref" anywhere in v resolves in doc. */
static void check_refs(json_t *doc, json_t *v, int *count)
{
	size_t i;
	const char *key;
	json_t *child;

	if (json_is_array(v)) {
		json_array_foreach(v, i, child)
		{
			check_refs(doc, child, count);
		}
		return;
	}
	if (!json_is_object(v))
		return;
	json_object_foreach(v, key, child)
	{
		if (strcmp(key, "$ref") == 0) {
			if (!json_is_string(child))
				fail_msg("a $ref that is not a string");
			if (!resolve_ref(doc, json_string_value(child)))
				fail_msg("$ref %s does not resolve", json_string_value(child));
			(*count)++;
		} else {
			check_refs(doc, child, count);
		}
	}
}

static void test_refs_resolve(void **state)
{
	json_t *doc = load_doc();
	int count = 0;

	(void)state;
	check_refs(doc, doc, &count);
	assert_true(count > 0);
	json_decref(doc);
}

/* "200".."599" as a number, or 0 for "default", "2XX" and the like. */
static int status_of(const char *key)
{
	char *end;
	long v = strtol(key, &end, 10);

	if (end == key || *end != '\0' || v < 100 || v > 599)
		return 0;
	return (int)v;
}

static void check_success(json_t *doc, const char *path, json_t *item, const char *method,
			  json_t *op, void *ctx)
{
	json_t *responses = json_object_get(op, "responses");
	const char *code;
	json_t *r;
	bool ok = false;

	(void)doc;
	(void)item;
	(void)ctx;
	if (!json_is_object(responses) || json_object_size(responses) == 0)
		fail_msg("%s %s has no responses", method, path);
	json_object_foreach(responses, code, r)
	{
		int s = status_of(code);

		if ((s >= 200 && s < 300) || strcmp(code, "2XX") == 0)
			ok = true;
	}
	if (!ok)
		fail_msg("%s %s has no 2xx response", method, path);
}

static void test_every_operation_succeeds(void **state)
{
	json_t *doc = load_doc();

	(void)state;
	each_operation(doc, check_success, NULL);
	json_decref(doc);
}

/* The schema is Error, or an allOf that includes it (narrowing the code). */
static bool is_error_schema(json_t *schema)
{
	json_t *ref = json_object_get(schema, "$ref");
	json_t *all = json_object_get(schema, "allOf");
	size_t i;
	json_t *part;

	if (json_is_string(ref))
		return strcmp(json_string_value(ref), ERROR_SCHEMA) == 0;
	if (!json_is_array(all))
		return false;
	json_array_foreach(all, i, part)
	{
		json_t *pref = json_object_get(part, "$ref");

		if (json_is_string(pref) && strcmp(json_string_value(pref), ERROR_SCHEMA) == 0)
			return true;
	}
	return false;
}

static void check_errors(json_t *doc, const char *path, json_t *item, const char *method,
			 json_t *op, void *ctx)
{
	json_t *responses = json_object_get(op, "responses");
	const char *code;
	json_t *r;

	(void)item;
	(void)ctx;
	json_object_foreach(responses, code, r)
	{
		int s = status_of(code);
		json_t *schema;

		if (!(s >= 400 || code[0] == '4' || code[0] == '5' || strcmp(code, "default") == 0))
			continue;
		r = deref(doc, r);
		schema = json_object_get(
		    json_object_get(json_object_get(r, "content"), "application/json"), "schema");
		if (!json_is_object(schema) || !is_error_schema(schema))
			fail_msg("%s %s: response %s is not the Error schema", method, path, code);
	}
}

static void test_errors_use_error_schema(void **state)
{
	json_t *doc = load_doc();
	json_t *err = resolve_ref(doc, ERROR_SCHEMA);

	(void)state;
	assert_non_null(err);
	each_operation(doc, check_errors, NULL);
	json_decref(doc);
}

/* Whether params (an array, possibly of $refs) declares path parameter name. */
static bool declares(json_t *doc, json_t *params, const char *name)
{
	size_t i;
	json_t *p;

	if (!json_is_array(params))
		return false;
	json_array_foreach(params, i, p)
	{
		p = deref(doc, p);
		if (json_is_string(json_object_get(p, "in")) &&
		    strcmp(json_string_value(json_object_get(p, "in")), "path") == 0 &&
		    json_is_string(json_object_get(p, "name")) &&
		    strcmp(json_string_value(json_object_get(p, "name")), name) == 0)
			return true;
	}
	return false;
}

static void check_path_params(json_t *doc, const char *path, json_t *item, const char *method,
			      json_t *op, void *ctx)
{
	const char *p = path;

	(void)ctx;
	while ((p = strchr(p, '{')) != NULL) {
		const char *end = strchr(p, '}');
		char name[64];
		size_t len;

		if (!end)
			fail_msg("unbalanced braces in %s", path);
		len = (size_t)(end - p - 1);
		assert_true(len > 0 && len < sizeof(name));
		memcpy(name, p + 1, len);
		name[len] = '\0';
		if (!declares(doc, json_object_get(item, "parameters"), name) &&
		    !declares(doc, json_object_get(op, "parameters"), name))
			fail_msg("%s %s does not declare path parameter %s", method, path, name);
		p = end + 1;
	}
}

static void test_path_parameters_declared(void **state)
{
	json_t *doc = load_doc();

	(void)state;
	each_operation(doc, check_path_params, NULL);
	json_decref(doc);
}

static void check_op_meta(json_t *doc, const char *path, json_t *item, const char *method,
			  json_t *op, void *ctx)
{
	json_t *ids = ctx; /* operationId -> true, the ones seen so far */
	json_t *schemes = json_object_get(json_object_get(doc, "components"), "securitySchemes");
	const char *id = json_string_value(json_object_get(op, "operationId"));
	json_t *security = json_object_get(op, "security");
	size_t i;
	json_t *req;

	(void)item;
	if (!id)
		fail_msg("%s %s has no operationId", method, path);
	if (json_object_get(ids, id))
		fail_msg("operationId %s is used twice", id);
	json_object_set_new(ids, id, json_true());
	if (!security)
		return;
	assert_true(json_is_array(security));
	json_array_foreach(security, i, req)
	{
		const char *name;
		json_t *scopes;

		json_object_foreach(req, name, scopes)
		{
			if (!json_object_get(schemes, name))
				fail_msg("%s %s: security scheme %s is not defined", method, path,
					 name);
		}
	}
}

static void test_operation_ids_and_security(void **state)
{
	json_t *doc = load_doc();
	json_t *ids = json_object();

	(void)state;
	each_operation(doc, check_op_meta, ids);
	assert_true(json_object_size(ids) > 0);
	json_decref(ids);
	json_decref(doc);
}

static bool contains(const struct api_asset *a, const char *needle)
{
	size_t n = strlen(needle);

	for (size_t i = 0; i + n <= a->len; i++) {
		if (memcmp(a->data + i, needle, n) == 0)
			return true;
	}
	return false;
}

static const struct api_asset *asset(const char *path, const char *type_prefix)
{
	const struct api_asset *a = api_asset_find(path);

	if (!a)
		fail_msg("no embedded asset %s", path);
	assert_string_equal(a->path, path);
	assert_non_null(a->data);
	assert_true(a->len > 0);
	assert_non_null(a->content_type);
	if (strncmp(a->content_type, type_prefix, strlen(type_prefix)) != 0)
		fail_msg("%s is %s, not %s", path, a->content_type, type_prefix);
	return a;
}

static void test_doc_assets(void **state)
{
	const struct api_asset *page = asset("/api/doc", "text/html");
	const struct api_asset *js = asset("/api/doc/swagger-ui-bundle.js", "text/javascript");
	const struct api_asset *css = asset("/api/doc/swagger-ui.css", "text/css");

	(void)state;
	/* The page loads exactly these, from this server. */
	assert_true(contains(page, "/api/doc/swagger-ui-bundle.js"));
	assert_true(contains(page, "/api/doc/swagger-ui.css"));
	assert_true(contains(page, "/api/openapi.json"));
	assert_false(contains(page, "http://"));
	assert_false(contains(page, "https://"));
	assert_true(contains(js, "SwaggerUIBundle"));
	assert_true(contains(css, ".swagger-ui"));
}

/* The web client at /: its page, styles, MQTT.js and the modules main.js
 * imports are all embedded, and the page names no other server. */
static void test_web_client_assets(void **state)
{
	static const char *const modules[] = { "main", "api", "dom", "live", "people",
					       "messages", "polls", "topics", "broker" };
	const struct api_asset *page = asset("/", "text/html");
	const struct api_asset *mqtt = asset("/app/mqtt.min.js", "text/javascript");
	char path[64];

	(void)state;
	asset("/app/app.css", "text/css");
	assert_true(contains(page, "/app/main.js"));
	assert_true(contains(page, "/app/mqtt.min.js"));
	assert_false(contains(page, "http://"));
	assert_false(contains(page, "https://"));
	assert_true(contains(mqtt, "connect"));
	for (size_t i = 0; i < sizeof(modules) / sizeof(modules[0]); i++) {
		snprintf(path, sizeof(path), "/app/%s.js", modules[i]);
		asset(path, "text/javascript");
	}
}

static void test_asset_table(void **state)
{
	size_t n;
	const struct api_asset *all = api_assets(&n);

	(void)state;
	assert_true(n >= 4);
	for (size_t i = 0; i < n; i++) {
		assert_non_null(all[i].path);
		assert_int_equal(all[i].path[0], '/');
		assert_ptr_equal(api_asset_find(all[i].path), &all[i]);
		for (size_t j = i + 1; j < n; j++)
			assert_string_not_equal(all[i].path, all[j].path);
	}
	assert_null(api_asset_find("/api/do"));
	assert_null(api_asset_find("/api/doc/"));
	assert_null(api_asset_find(""));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version),
	    cmocka_unit_test(test_every_route_documented),
	    cmocka_unit_test(test_every_documented_route_exists),
	    cmocka_unit_test(test_refs_resolve),
	    cmocka_unit_test(test_every_operation_succeeds),
	    cmocka_unit_test(test_errors_use_error_schema),
	    cmocka_unit_test(test_path_parameters_declared),
	    cmocka_unit_test(test_operation_ids_and_security),
	    cmocka_unit_test(test_doc_assets),
	    cmocka_unit_test(test_web_client_assets),
	    cmocka_unit_test(test_asset_table),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
