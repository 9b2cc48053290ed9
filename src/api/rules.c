/*
 * rules.c - rules over REST (docs/api.md, "Rules"; docs/rules.md):
 * list, create, show, replace, delete, and a dry run against a sample
 * event. Admins only (api_authenticate_admin). The store keeps a rule's
 * text; the engine behind api->rules (the server's rules service)
 * compiles it, runs it and counts. Without an engine (api->rules.install
 * NULL) every route here answers 503 rules_unavailable.
 *
 * Writing a rule keeps the store and the engine in step:
 *   create   install(id 0: checked only) -> store -> install(its id);
 *   replace  install(its id: the engine swaps it only if it compiles) ->
 *            store, and on a store failure install(the old one) back;
 *   delete   store -> uninstall.
 * A rule the engine refuses is never stored: 422 invalid_rule with the
 * engine's message and position.
 */
#include "api/internal.h"

#include "base/log.h"
#include "rules/rules.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define RULE_NAME_MAX 64
#define RULE_NAME_CHARS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"

/* The {id} of a rule route; false after a 404. */
static bool rule_id(const char *ref, int64_t *id, struct http_response *rs)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(ref, &end, 10);
	if (*ref < '0' || *ref > '9' || *end || errno || v <= 0) {
		http_response_error(rs, 404, NULL, "no such rule: rule ids are numbers from 1");
		return false;
	}
	*id = v;
	return true;
}

/* Who may use these routes, and whether there is an engine to use: false
 * after a 401, 403 or 503. The account is not kept (me released) unless
 * me is not NULL. */
static bool rules_allowed(struct api *a, const struct http_request *rq, struct store_user *me,
			  struct http_response *rs)
{
	struct store_user u = { 0 };

	if (!api_authenticate_admin(a, rq, &u, rs))
		return false;
	if (!a->rules.install) {
		store_user_release(&u);
		http_response_error(rs, 503, "rules_unavailable",
				    "this server runs no rules engine");
		return false;
	}
	if (me)
		*me = u;
	else
		store_user_release(&u);
	return true;
}

/* 422 invalid_rule: the engine's message, and where in the rule's text
 * (null when nothing points anywhere). */
static void invalid_rule(const struct rules_error *err, struct http_response *rs)
{
	json_t *pos = err->position >= 0 ? json_integer(err->position) : json_null();

	api_reply(rs, 422, json_pack("{s:{s:s,s:s,s:o}}", "error", "code", "invalid_rule",
				     "message", err->message[0] ? err->message : "invalid rule",
				     "position", pos));
}

static json_t *stats_json(struct api *a, int64_t id)
{
	struct rules_stats s;

	memset(&s, 0, sizeof(s));
	if (a->rules.stats)
		a->rules.stats(a->rules.ctx, id, &s);
	s.last_error[sizeof(s.last_error) - 1] = '\0';
	return json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "matched", (json_int_t)s.matched, "passed",
			 (json_int_t)s.passed, "failed", (json_int_t)s.failed, "actions_ok",
			 (json_int_t)s.actions_ok, "actions_failed", (json_int_t)s.actions_failed,
			 "loop_stopped", (json_int_t)s.loop_stopped, "last_error",
			 s.last_error[0] ? json_string(s.last_error) : json_null());
}

/* The rule object of docs/api.md, its counters now. */
static json_t *rule_json(struct api *a, const struct store_rule *r)
{
	json_t *actions = json_loads(r->actions, 0, NULL);

	if (!json_is_array(actions)) { /* stored only after the engine took it */
		log_error("api: rule %lld: stored actions are not a JSON array", (long long)r->id);
		json_decref(actions);
		actions = json_array();
	}
	return json_pack("{s:I,s:s,s:o,s:s,s:o,s:b,s:o,s:o,s:o}", "id", (json_int_t)r->id, "name",
			 r->name, "owner", r->owner_name ? json_string(r->owner_name) : json_null(),
			 "sql", r->sql, "actions", actions, "enabled", r->enabled, "created_at",
			 api_json_time(r->created_at), "updated_at", api_json_time(r->updated_at),
			 "stats", stats_json(a, r->id));
}

/* A rule as the store would keep it from a POST or PUT body: name, sql,
 * actions (an array, kept as compact text: r->actions malloc'ed) and
 * enabled (default true). false after a 422. */
static bool rule_of(json_t *body, struct store_rule *r, struct http_response *rs)
{
	json_t *actions = json_object_get(body, "actions");
	json_t *enabled = json_object_get(body, "enabled");
	const char *name, *sql;
	size_t len;

	if (!(name = api_json_string(body, "name", rs)) || !(sql = api_json_string(body, "sql", rs)))
		return false;
	len = strlen(name);
	if (len < 1 || len > RULE_NAME_MAX || strspn(name, RULE_NAME_CHARS) != len) {
		http_response_error(rs, 422, NULL,
				    "'name' must be 1 to %d characters among A-Z a-z 0-9 _ . -",
				    RULE_NAME_MAX);
		return false;
	}
	if (!json_is_array(actions)) {
		http_response_error(rs, 422, NULL, "'actions' must be an array of action objects");
		return false;
	}
	if (enabled && !json_is_boolean(enabled)) {
		http_response_error(rs, 422, NULL, "'enabled' must be true or false");
		return false;
	}
	r->name = (char *)name;
	r->sql = (char *)sql;
	r->enabled = !enabled || json_is_true(enabled);
	r->actions = json_dumps(actions, JSON_COMPACT);
	if (!r->actions) {
		http_response_error(rs, 422, NULL, "'actions' cannot be encoded");
		return false;
	}
	return true;
}

/* The store's answer to a write of rule `name`: 409 for a taken name,
 * else 500. */
static void write_failed(struct api *a, int err, const char *name, struct http_response *rs)
{
	if (err == STORE_ECONFLICT)
		http_response_error(rs, 409, NULL, "a rule named '%s' exists", name);
	else if (err == STORE_ENOTFOUND)
		http_response_error(rs, 404, NULL, "no such rule, or its owner's account is gone");
	else
		api_store_failed(a, rs, err);
}

/* ---- list, show ---- */

void api_list_rules(struct api *a, const struct http_request *rq, const struct api_params *p,
		    struct http_response *rs)
{
	struct store_rule_list l = { 0 };
	int64_t limit, offset;
	json_t *items;
	int rc;

	(void)p;
	if (!rules_allowed(a, rq, NULL, rs) || !api_page(rq, &limit, &offset, rs))
		return;
	if ((rc = store_rule_list(a->store, &l))) {
		api_store_failed(a, rs, rc);
		return;
	}
	/* Rules are few (admins write them): paged here rather than in SQL. */
	items = json_array();
	for (size_t i = (size_t)offset; i < l.n && i < (size_t)(offset + limit); i++)
		json_array_append_new(items, rule_json(a, &l.items[i]));
	api_reply(rs, 200, json_pack("{s:o,s:I,s:I,s:I}", "rules", items, "total", (json_int_t)l.n,
				     "limit", (json_int_t)limit, "offset", (json_int_t)offset));
	store_rule_list_free(&l);
}

/* Rule {id} from the store into r: false after a 404 or a 500. */
static bool find_rule(struct api *a, const char *ref, struct store_rule *r,
		      struct http_response *rs)
{
	int64_t id;
	int rc;

	if (!rule_id(ref, &id, rs))
		return false;
	rc = store_rule_get(a->store, id, r);
	if (rc == STORE_ENOTFOUND)
		http_response_error(rs, 404, NULL, "no rule %lld", (long long)id);
	else if (rc)
		api_store_failed(a, rs, rc);
	return rc == 0;
}

void api_get_rule(struct api *a, const struct http_request *rq, const struct api_params *p,
		  struct http_response *rs)
{
	struct store_rule r;

	if (!rules_allowed(a, rq, NULL, rs) || !find_rule(a, p->v[0], &r, rs))
		return;
	api_reply(rs, 200, rule_json(a, &r));
	store_rule_release(&r);
}

/* ---- create, replace, delete ---- */

void api_create_rule(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs)
{
	struct store_user me = { 0 };
	struct store_rule r = { 0 }, saved = { 0 };
	struct rules_error err = { .position = -1 };
	json_t *body;
	int rc;

	(void)p;
	if (!rules_allowed(a, rq, &me, rs))
		return;
	if (!(body = api_body_object(rq, rs)))
		goto out_me;
	if (!rule_of(body, &r, rs))
		goto out;
	r.owner_id = me.id;
	r.owner_name = me.name;
	if (a->rules.install(a->rules.ctx, &r, &err)) {
		invalid_rule(&err, rs);
		goto out;
	}
	rc = store_rule_create(a->store, r.name, me.id, r.sql, r.actions, r.enabled, a->now_ms,
			       &saved);
	if (rc) {
		write_failed(a, rc, r.name, rs);
		goto out;
	}
	/* The same text compiled a moment ago: a refusal now is the engine
	 * failing (memory), and the rule must not stay stored unrun. */
	if (a->rules.install(a->rules.ctx, &saved, &err)) {
		store_rule_delete(a->store, saved.id);
		invalid_rule(&err, rs);
		goto out_saved;
	}
	api_reply(rs, 201, rule_json(a, &saved));
	http_response_header(rs, "Location: /api/rules/%lld", (long long)saved.id);
out_saved:
	store_rule_release(&saved);
out:
	free(r.actions);
	json_decref(body);
out_me:
	store_user_release(&me);
}

/* A rule whose owner's account is gone is taken over by whoever saves it
 * (store.h): it acts in someone's name again. */
void api_put_rule(struct api *a, const struct http_request *rq, const struct api_params *p,
		  struct http_response *rs)
{
	struct store_user me = { 0 };
	struct store_rule old = { 0 }, r = { 0 }, saved = { 0 };
	struct rules_error err = { .position = -1 };
	json_t *body = NULL;
	int rc;

	if (!rules_allowed(a, rq, &me, rs))
		return;
	if (!find_rule(a, p->v[0], &old, rs) || !(body = api_body_object(rq, rs)))
		goto out;
	if (!rule_of(body, &r, rs))
		goto out;
	r.id = old.id;
	r.owner_id = old.owner_id ? old.owner_id : me.id;
	r.owner_name = old.owner_id ? old.owner_name : me.name;
	if (a->rules.install(a->rules.ctx, &r, &err)) {
		invalid_rule(&err, rs);
		goto out;
	}
	rc = store_rule_update(a->store, r.id, r.name, r.owner_id, r.sql, r.actions, r.enabled,
			       a->now_ms, &saved);
	if (rc) {
		/* The engine runs what the store keeps: the old rule again. */
		if (a->rules.install(a->rules.ctx, &old, &err))
			log_error("api: rule %lld: the old version no longer compiles: %s",
				  (long long)old.id, err.message);
		write_failed(a, rc, r.name, rs);
		goto out;
	}
	api_reply(rs, 200, rule_json(a, &saved));
	store_rule_release(&saved);
out:
	free(r.actions);
	json_decref(body);
	store_rule_release(&old);
	store_user_release(&me);
}

void api_delete_rule(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs)
{
	int64_t id;
	int rc;

	if (!rules_allowed(a, rq, NULL, rs) || !rule_id(p->v[0], &id, rs))
		return;
	rc = store_rule_delete(a->store, id);
	if (rc == STORE_ENOTFOUND) {
		http_response_error(rs, 404, NULL, "no rule %lld", (long long)id);
		return;
	}
	if (rc) {
		api_store_failed(a, rs, rc);
		return;
	}
	if (a->rules.uninstall)
		a->rules.uninstall(a->rules.ctx, id);
	rs->status = 204;
}

/* ---- dry run ---- */

/* The stored rule (enabled or not) against the body as a sample event:
 * the engine's answer as it is. The rule compiled when it was saved, so
 * a refusal here is about the sample: 422 validation_failed. */
void api_test_rule(struct api *a, const struct http_request *rq, const struct api_params *p,
		   struct http_response *rs)
{
	struct store_rule r = { 0 };
	struct rules_error err = { .position = -1 };
	json_t *body = NULL, *o;
	char *sample = NULL, *answer = NULL;

	if (!rules_allowed(a, rq, NULL, rs) || !find_rule(a, p->v[0], &r, rs))
		return;
	if (!(body = api_body_object(rq, rs)))
		goto out;
	if (!a->rules.test) {
		http_response_error(rs, 503, "rules_unavailable", "this engine runs no dry runs");
		goto out;
	}
	sample = json_dumps(body, JSON_COMPACT);
	answer = sample ? a->rules.test(a->rules.ctx, &r, sample, &err) : NULL;
	if (!answer) {
		http_response_error(rs, 422, NULL, "%s",
				    err.message[0] ? err.message : "the sample event is not valid");
		goto out;
	}
	o = json_loads(answer, 0, NULL);
	if (!json_is_object(o)) {
		json_decref(o);
		log_error("api: rule %lld: the engine's dry run is not a JSON object", (long long)r.id);
		http_response_error(rs, 500, NULL, "the engine's answer is not JSON");
		goto out;
	}
	api_reply(rs, 200, o);
out:
	free(answer);
	free(sample);
	json_decref(body);
	store_rule_release(&r);
}

/* ---- an account deleted ---- */

void api_rules_owner_gone(struct api *a)
{
	struct store_rule_list l = { 0 };
	struct rules_error err;

	if (!a->rules.install)
		return;
	if (store_rule_list(a->store, &l)) {
		a->store_errors++;
		return;
	}
	/* Reinstalled disabled: the engine stops running them now, not at
	 * the next restart. */
	for (size_t i = 0; i < l.n; i++)
		if (!l.items[i].owner_id && a->rules.install(a->rules.ctx, &l.items[i], &err))
			log_error("api: rule %lld: %s", (long long)l.items[i].id, err.message);
	store_rule_list_free(&l);
}
