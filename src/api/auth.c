/*
 * auth.c - who is asking: bearer tokens (random, stored hashed), user
 * references by id or name, account name rules, and the brake on password
 * guessing.
 */
#include "api/internal.h"

#include "base/alloc.h"
#include "base/hmap.h"

#include <ctype.h>
#include <errno.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define TOKEN_BYTES 32

void api_token_hash(const void *token, size_t len, uint8_t hash[STORE_TOKEN_HASH_LEN])
{
	crypto_generichash(hash, STORE_TOKEN_HASH_LEN, token, len, NULL, 0);
}

int api_token_user(struct api *a, const uint8_t *token, size_t len, int64_t *user_id)
{
	uint8_t hash[STORE_TOKEN_HASH_LEN];

	api_token_hash(token, len, hash);
	return store_token_user(a->store, hash, user_id);
}

bool api_issue_token(struct api *a, int64_t user_id, char *out, struct http_response *rs)
{
	unsigned char raw[TOKEN_BYTES];
	uint8_t hash[STORE_TOKEN_HASH_LEN];
	int rc;

	randombytes_buf(raw, sizeof(raw));
	sodium_bin2base64(out, sodium_base64_ENCODED_LEN(TOKEN_BYTES,
							 sodium_base64_VARIANT_URLSAFE_NO_PADDING),
			  raw, sizeof(raw), sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	api_token_hash(out, strlen(out), hash);
	rc = store_token_add(a->store, user_id, hash, a->now_ms);
	if (rc) {
		api_store_failed(a, rs, rc);
		return false;
	}
	return true;
}

/* The token of a request: the Authorization header, else a body member. */
static const char *request_token(const struct http_request *rq, json_t *body)
{
	const char *h = http_header_get(rq, "authorization");

	if (h) {
		while (*h == ' ')
			h++;
		if (strncasecmp(h, "Bearer ", 7) != 0)
			return NULL;
		h += 7;
		while (*h == ' ')
			h++;
		return h;
	}
	if (body && json_is_string(json_object_get(body, "token")))
		return json_string_value(json_object_get(body, "token"));
	return NULL;
}

bool api_authenticate(struct api *a, const struct http_request *rq, json_t *body,
		      struct store_user *out, struct http_response *rs)
{
	const char *token = request_token(rq, body);
	int64_t id;
	int rc;

	if (!token || !*token) {
		http_response_error(rs, 401, NULL, "a token is required: Authorization: Bearer <token>");
		http_response_header(rs, "WWW-Authenticate: Bearer");
		return false;
	}
	rc = api_token_user(a, (const uint8_t *)token, strlen(token), &id);
	if (rc == 0)
		rc = store_user_by_id(a->store, id, out);
	if (rc == STORE_ENOTFOUND) {
		http_response_error(rs, 401, NULL, "unknown or revoked token");
		http_response_header(rs, "WWW-Authenticate: Bearer error=\"invalid_token\"");
		return false;
	}
	if (rc) {
		api_store_failed(a, rs, rc);
		return false;
	}
	return true;
}

bool api_user_id(const char *ref, int64_t *id)
{
	bool digits = *ref != '\0';
	long long v;
	char *end;

	for (const char *p = ref; *p; p++)
		digits &= *p >= '0' && *p <= '9';
	if (!digits)
		return false;
	errno = 0;
	v = strtoll(ref, &end, 10);
	*id = v;
	return errno == 0;
}

bool api_find_user(struct api *a, const char *ref, struct store_user *out,
		   struct http_response *rs)
{
	bool digits = *ref != '\0';
	int64_t id;
	int rc;

	for (const char *p = ref; *p; p++)
		digits &= *p >= '0' && *p <= '9';
	if (digits)
		rc = api_user_id(ref, &id) ? store_user_by_id(a->store, id, out) : STORE_ENOTFOUND;
	else
		rc = store_user_by_name(a->store, ref, out);
	if (rc == STORE_ENOTFOUND) {
		http_response_error(rs, 404, NULL, "no user '%.64s'", ref);
		return false;
	}
	if (rc) {
		api_store_failed(a, rs, rc);
		return false;
	}
	return true;
}

bool api_name_valid(const char *name, const char **why)
{
	size_t len = strlen(name);
	bool digits = true;

	if (len < 1 || len > 32) {
		*why = "'name' must be 1 to 32 characters";
		return false;
	}
	if (!isalnum((unsigned char)name[0])) {
		*why = "'name' must start with a letter or a digit";
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];

		if (!(isalnum(c) || c == '_' || c == '-' || c == '.') || c >= 0x80) {
			*why = "'name' may only contain A-Z a-z 0-9 _ - .";
			return false;
		}
		digits &= c >= '0' && c <= '9';
	}
	if (digits) {
		*why = "'name' must not be only digits (they would read as an id)";
		return false;
	}
	return true;
}

/* ---- the admin role (the `admins` setting) ---- */

bool api_is_admin(const char *admins, const char *name)
{
	size_t len = strlen(name);
	const char *p = admins ? admins : "";

	while (*p) {
		const char *end = strchr(p, ',');
		const char *stop = end ? end : p + strlen(p);

		while (p < stop && (*p == ' ' || *p == '\t'))
			p++;
		while (stop > p && (stop[-1] == ' ' || stop[-1] == '\t'))
			stop--;
		/* as logins compare names: ASCII case ignored */
		if ((size_t)(stop - p) == len && len && strncasecmp(p, name, len) == 0)
			return true;
		if (!end)
			break;
		p = end + 1;
	}
	return false;
}

bool api_authenticate_admin(struct api *a, const struct http_request *rq, struct store_user *out,
			    struct http_response *rs)
{
	if (!api_authenticate(a, rq, NULL, out, rs))
		return false;
	if (api_is_admin(a->admins, out->name))
		return true;
	http_response_error(rs, 403, NULL,
			    "only the accounts named by the admins setting manage rules and "
			    "read collections");
	store_user_release(out);
	return false;
}

/* ---- failed logins, per address, in one-minute windows ---- */

struct api_limiter {
	struct hmap by_peer; /* address -> struct attempts */
	int64_t window_start;
};

struct attempts {
	unsigned failures;
	char peer[];
};

static void limiter_reset(struct api_limiter *l)
{
	uint32_t pos = 0;
	void *v;

	while (hmap_next(&l->by_peer, &pos, &v))
		free(v);
	hmap_release(&l->by_peer);
	hmap_init(&l->by_peer);
}

void api_limiter_free(struct api_limiter *l)
{
	if (!l)
		return;
	limiter_reset(l);
	hmap_release(&l->by_peer);
	free(l);
}

static struct api_limiter *limiter(struct api *a)
{
	if (!a->limiter) {
		a->limiter = xcalloc(1, sizeof(*a->limiter));
		hmap_init(&a->limiter->by_peer);
		a->limiter->window_start = a->now_ms;
	}
	/* A fresh window every minute: memory stays bounded by the
	 * addresses that failed within one minute. */
	if (a->now_ms - a->limiter->window_start >= 60000) {
		limiter_reset(a->limiter);
		a->limiter->window_start = a->now_ms;
	}
	return a->limiter;
}

bool api_login_limited(struct api *a, struct http_response *rs)
{
	struct api_limiter *l;
	struct attempts *at;
	const char *peer = a->peer ? a->peer : "";

	if (!a->cfg.login_failures_per_minute)
		return false;
	l = limiter(a);
	at = hmap_get(&l->by_peer, peer, strlen(peer));
	if (!at || at->failures < a->cfg.login_failures_per_minute)
		return false;
	http_response_error(rs, 429, NULL, "too many failed logins from this address; retry later");
	http_response_header(rs, "Retry-After: %lld",
			     (long long)((60000 - (a->now_ms - l->window_start)) / 1000 + 1));
	return true;
}

void api_login_failed(struct api *a)
{
	struct api_limiter *l;
	struct attempts *at;
	const char *peer = a->peer ? a->peer : "";
	size_t len = strlen(peer);

	if (!a->cfg.login_failures_per_minute)
		return;
	l = limiter(a);
	at = hmap_get(&l->by_peer, peer, len);
	if (!at) {
		at = xcalloc(1, sizeof(*at) + len + 1);
		memcpy(at->peer, peer, len);
		hmap_put(&l->by_peer, at->peer, len, at);
	}
	at->failures++;
}
