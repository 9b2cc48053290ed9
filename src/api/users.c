/*
 * users.c - accounts (register, login, logout) and users (list, show,
 * status, delete).
 */
#include "api/internal.h"

#include <sodium.h>
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

void api_create_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs)
{
	char hash[crypto_pwhash_STRBYTES];
	char token[64];
	struct store_user u = { 0 };
	const char *name, *pw, *why;
	json_t *body = api_body_object(rq, rs);
	int rc;

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
	if (crypto_pwhash_str(hash, pw, strlen(pw), a->cfg.pwhash_ops, a->cfg.pwhash_mem) != 0) {
		http_response_error(rs, 503, NULL, "out of memory hashing the password");
		goto out;
	}
	rc = store_user_create(a->store, name, hash, a->now_ms, &u);
	if (rc == STORE_ECONFLICT) {
		http_response_error(rs, 409, NULL, "the name '%s' is taken", name);
		goto out;
	}
	if (rc) {
		api_store_failed(a, rs, rc);
		goto out;
	}
	if (a->bridge.password_known)
		a->bridge.password_known(a->bridge.ctx, u.id, pw);
	if (!api_issue_token(a, u.id, token, rs))
		goto out_user;
	api_reply(rs, 201, user_with_token(&u, token));
	http_response_header(rs, "Location: /api/users/%lld", (long long)u.id);
out_user:
	store_user_release(&u);
out:
	json_decref(body);
}

void api_login(struct api *a, const struct http_request *rq, const struct api_params *p,
	       struct http_response *rs)
{
	char hash[crypto_pwhash_STRBYTES];
	char token[64];
	struct store_user u = { 0 };
	const char *name, *pw;
	json_t *body;
	int64_t id;
	int rc;

	(void)p;
	if (api_login_limited(a, rs))
		return;
	if (!(body = api_body_object(rq, rs)))
		return;
	if (!(name = api_json_string(body, "name", rs)) || !(pw = api_json_string(body, "password", rs)))
		goto out;
	rc = store_user_password(a->store, name, &id, hash, sizeof(hash));
	if (rc && rc != STORE_ENOTFOUND) {
		api_store_failed(a, rs, rc);
		goto out;
	}
	/* One answer for an unknown name and a wrong password: no probing
	 * for names through this door. */
	if (rc == STORE_ENOTFOUND || crypto_pwhash_str_verify(hash, pw, strlen(pw)) != 0) {
		api_login_failed(a);
		http_response_error(rs, 401, NULL, "wrong name or password");
		goto out;
	}
	if ((rc = store_user_by_id(a->store, id, &u))) {
		api_store_failed(a, rs, rc);
		goto out;
	}
	if (a->bridge.password_known)
		a->bridge.password_known(a->bridge.ctx, id, pw);
	if (api_issue_token(a, id, token, rs))
		api_reply(rs, 200, json_pack("{s:s,s:o}", "token", token, "user", api_user_json(&u)));
	store_user_release(&u);
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
	crypto_generichash(hash, sizeof(hash), (const unsigned char *)token, strlen(token), NULL, 0);
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

void api_get_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		  struct http_response *rs)
{
	struct store_user u = { 0 };

	(void)rq;
	if (!api_find_user(a, p->v[0], &u, rs))
		return;
	api_reply(rs, 200, api_user_json(&u));
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
		rs->status = 204;
	}
	store_user_release(&me);
out:
	json_decref(body);
}
