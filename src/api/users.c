/*
 * users.c - accounts (register, login, logout) and users (list, show,
 * status, delete).
 */
#include "api/internal.h"

#include "base/alloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PASSWORD_MIN 8
#define PASSWORD_MAX 256

static bool password_valid(const char *pw, struct http_response *rs)
{
	size_t len = strlen(pw);

	if (len < PASSWORD_MIN || len > PASSWORD_MAX) {
		http_response_error(rs, 422, NULL, "'password' must be %d to %d bytes", PASSWORD_MIN,
				    PASSWORD_MAX);
		return false;
	}
	return true;
}

bool api_password_verify(const char *hash, const uint8_t *password, size_t len)
{
	return password && crypto_pwhash_str_verify(hash, (const char *)password, len) == 0;
}

/* The user, plus a "token" member when token is not NULL. */
static json_t *user_with_token(const struct store_user *u, const char *token)
{
	json_t *o = api_user_json(u);

	if (o && token)
		json_object_set_new(o, "token", json_string(token));
	return o;
}

/* ---- password work, off the event loop (struct api_job) ---- */

struct password_job {
	struct api_job job;
	char name[64];
	char *password;
	unsigned long long ops;
	size_t mem;
	int64_t id;            /* login: the account whose hash is checked */
	char hash[crypto_pwhash_STRBYTES];
	bool ok;               /* run's result */
};

static void password_job_free(struct api_job *job)
{
	struct password_job *j = (struct password_job *)job;

	if (j->password) {
		sodium_memzero(j->password, strlen(j->password));
		free(j->password);
	}
	sodium_memzero(j, sizeof(*j));
	free(j);
}

static struct password_job *password_job_new(struct api *a, const char *name, const char *pw)
{
	struct password_job *j = xcalloc(1, sizeof(*j));

	snprintf(j->name, sizeof(j->name), "%s", name);
	j->password = xstrdup(pw);
	j->ops = a->cfg.pwhash_ops;
	j->mem = a->cfg.pwhash_mem;
	j->job.free = password_job_free;
	return j;
}

/* Registration: hash the password (worker), then create the account. */
static void register_run(struct api_job *job)
{
	struct password_job *j = (struct password_job *)job;

	j->ok = crypto_pwhash_str(j->hash, j->password, strlen(j->password), j->ops, j->mem) == 0;
}

static void register_finish(struct api *a, struct api_job *job, struct http_response *rs)
{
	struct password_job *j = (struct password_job *)job;
	struct store_user u = { 0 };
	char token[64];
	int rc;

	if (!j->ok) {
		http_response_error(rs, 503, NULL, "out of memory hashing the password");
		return;
	}
	rc = store_user_create(a->store, j->name, j->hash, a->now_ms, &u);
	if (rc == STORE_ECONFLICT) {
		http_response_error(rs, 409, NULL, "the name '%s' is taken", j->name);
		return;
	}
	if (rc) {
		api_store_failed(a, rs, rc);
		return;
	}
	if (a->bridge.password_known)
		a->bridge.password_known(a->bridge.ctx, u.id, j->password);
	if (api_issue_token(a, u.id, token, rs)) {
		api_reply(rs, 201, user_with_token(&u, token));
		http_response_header(rs, "Location: /api/users/%lld", (long long)u.id);
	}
	store_user_release(&u);
}

void api_create_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs)
{
	struct store_user existing = { 0 };
	struct password_job *j;
	const char *name, *pw, *why;
	json_t *body = api_body_object(rq, rs);

	(void)p;
	if (!body)
		return;
	if (!(name = api_json_string(body, "name", rs)) || !(pw = api_json_string(body, "password", rs)))
		goto out;
	if (!api_name_valid(name, &why)) {
		http_response_error(rs, 422, NULL, "%s", why);
		goto out;
	}
	if (!password_valid(pw, rs))
		goto out;
	/* A taken name is told at once, without hashing (the insert checks
	 * again: another registration may win the race meanwhile). */
	if (store_user_by_name(a->store, name, &existing) == 0) {
		store_user_release(&existing);
		http_response_error(rs, 409, NULL, "the name '%s' is taken", name);
		goto out;
	}
	j = password_job_new(a, name, pw);
	j->job.run = register_run;
	j->job.finish = register_finish;
	a->deferred = &j->job;
out:
	json_decref(body);
}

/* Login: check the password against its hash (worker), then a token. */
static void login_run(struct api_job *job)
{
	struct password_job *j = (struct password_job *)job;

	j->ok = crypto_pwhash_str_verify(j->hash, j->password, strlen(j->password)) == 0;
}

static void login_finish(struct api *a, struct api_job *job, struct http_response *rs)
{
	struct password_job *j = (struct password_job *)job;
	struct store_user u = { 0 };
	char token[64];
	int rc;

	if (!j->ok) {
		api_login_failed(a);
		http_response_error(rs, 401, NULL, "wrong name or password");
		return;
	}
	if ((rc = store_user_by_id(a->store, j->id, &u))) {
		/* deleted while its password was being checked */
		if (rc == STORE_ENOTFOUND)
			http_response_error(rs, 401, NULL, "wrong name or password");
		else
			api_store_failed(a, rs, rc);
		return;
	}
	if (a->bridge.password_known)
		a->bridge.password_known(a->bridge.ctx, j->id, j->password);
	if (api_issue_token(a, j->id, token, rs))
		api_reply(rs, 200, json_pack("{s:s,s:o}", "token", token, "user", api_user_json(&u)));
	store_user_release(&u);
}

void api_login(struct api *a, const struct http_request *rq, const struct api_params *p,
	       struct http_response *rs)
{
	struct password_job *j;
	const char *name, *pw;
	json_t *body;
	int rc;

	(void)p;
	if (api_login_limited(a, rs))
		return;
	if (!(body = api_body_object(rq, rs)))
		return;
	if (!(name = api_json_string(body, "name", rs)) || !(pw = api_json_string(body, "password", rs)))
		goto out;
	j = password_job_new(a, name, pw);
	rc = store_user_password(a->store, name, &j->id, j->hash, sizeof(j->hash));
	if (rc) {
		j->job.free(&j->job);
		if (rc != STORE_ENOTFOUND) {
			api_store_failed(a, rs, rc);
			goto out;
		}
		/* One answer for an unknown name and a wrong password. */
		api_login_failed(a);
		http_response_error(rs, 401, NULL, "wrong name or password");
		goto out;
	}
	j->job.run = login_run;
	j->job.finish = login_finish;
	a->deferred = &j->job;
out:
	json_decref(body);
}

void api_logout(struct api *a, const struct http_request *rq, const struct api_params *p,
		struct http_response *rs)
{
	struct store_user u = { 0 };
	const char *h = http_header_get(rq, "authorization");
	json_t *body = NULL;
	uint8_t hash[STORE_TOKEN_HASH_LEN];
	const char *token;
	int rc;

	(void)p;
	/* The token comes in the header, or (older clients) in a body. */
	if (!h && rq->has_body && !(body = api_body_object(rq, rs)))
		return;
	if (!api_authenticate(a, rq, body, &u, rs))
		goto out;
	token = h ? strchr(h, ' ') : json_string_value(json_object_get(body, "token"));
	while (token && *token == ' ')
		token++;
	api_token_hash(token, strlen(token), hash);
	rc = store_token_delete(a->store, hash);
	if (rc && rc != STORE_ENOTFOUND)
		api_store_failed(a, rs, rc);
	else
		rs->status = 204;
	store_user_release(&u);
out:
	json_decref(body);
}

void api_list_users(struct api *a, const struct http_request *rq, const struct api_params *p,
		    struct http_response *rs)
{
	struct store_user_list l = { 0 };
	int64_t limit, offset;
	json_t *items;
	int rc;

	(void)p;
	if (!api_page(rq, &limit, &offset, rs))
		return;
	if ((rc = store_user_list(a->store, limit, offset, &l))) {
		api_store_failed(a, rs, rc);
		return;
	}
	items = json_array();
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(items, api_user_json(&l.items[i]));
	api_reply(rs, 200, json_pack("{s:o,s:I,s:I,s:I}", "users", items, "total",
				     (json_int_t)l.total, "limit", (json_int_t)limit, "offset",
				     (json_int_t)offset));
	store_user_list_free(&l);
}

/* From the cache when it holds the user at the store's current version;
 * else read, and the answer kept for the next time (user_cache.c). */
void api_get_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		  struct http_response *rs)
{
	struct store_user u = { 0 };
	const struct api_cached_user *e;
	json_t *o;
	char *json;
	int64_t id;

	(void)rq;
	if (api_user_id(p->v[0], &id) && (e = api_user_cache_get(a, id))) {
		http_response_borrow(rs, 200, "application/json", e->json, e->len);
		return;
	}
	if (!api_find_user(a, p->v[0], &u, rs))
		return;
	o = api_user_json(&u);
	json = o ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	if (json) {
		e = api_user_cache_put(a, u.id, json);
		http_response_borrow(rs, 200, "application/json", e->json, e->len);
	} else {
		http_response_error(rs, 500, NULL, "could not encode the answer");
	}
	store_user_release(&u);
}

/* The target user of PATCH/DELETE, who must be the caller: false after
 * 401, 403 or 404. */
static bool own_account(struct api *a, const struct http_request *rq, json_t *body,
			const char *ref, struct store_user *me, struct http_response *rs)
{
	struct store_user target = { 0 };
	bool same;

	if (!api_authenticate(a, rq, body, me, rs))
		return false;
	if (!api_find_user(a, ref, &target, rs)) {
		store_user_release(me);
		return false;
	}
	same = target.id == me->id;
	store_user_release(&target);
	if (!same) {
		http_response_error(rs, 403, NULL, "only %s may change this account", ref);
		store_user_release(me);
	}
	return same;
}

void api_patch_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		    struct http_response *rs)
{
	struct store_user me = { 0 };
	json_t *body = api_body_object(rq, rs);
	const char *status;
	int64_t id;
	int rc;

	if (!body)
		return;
	if (!own_account(a, rq, body, p->v[0], &me, rs))
		goto out;
	if (!(status = api_json_string(body, "status", rs)))
		goto out_me;
	if (strlen(status) > a->cfg.status_max) {
		http_response_error(rs, 422, NULL, "'status' is longer than %zu bytes",
				    a->cfg.status_max);
		goto out_me;
	}
	id = me.id;
	rc = store_user_set_status(a->store, id, status, a->now_ms);
	store_user_release(&me);
	if (!rc)
		rc = store_user_by_id(a->store, id, &me);
	if (rc) {
		api_store_failed(a, rs, rc);
		goto out;
	}
	if (a->bridge.status_changed)
		a->bridge.status_changed(a->bridge.ctx, &me);
	api_reply(rs, 200, api_user_json(&me));
out_me:
	store_user_release(&me);
out:
	json_decref(body);
}

void api_delete_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs)
{
	struct store_user me = { 0 };
	json_t *body = NULL;
	int rc;

	if (rq->has_body && !http_header_get(rq, "authorization") &&
	    !(body = api_body_object(rq, rs)))
		return;
	if (!own_account(a, rq, body, p->v[0], &me, rs))
		goto out;
	rc = store_user_delete(a->store, me.id);
	if (rc) {
		api_store_failed(a, rs, rc);
	} else {
		if (a->bridge.user_deleted)
			a->bridge.user_deleted(a->bridge.ctx, me.name);
		api_rules_owner_gone(a);
		rs->status = 204;
	}
	store_user_release(&me);
out:
	json_decref(body);
}
