/*
 * internal.h - what the API's handler files share: path parameters, the
 * JSON helpers, authentication, and the handlers themselves.
 */
#ifndef AGORA_API_INTERNAL_H
#define AGORA_API_INTERNAL_H

#include "api/api.h"
#include "http/http.h"
#include "store/store.h"

#include <jansson.h>
#include <stdbool.h>

#define API_MAX_PARAMS 2
#define API_PARAM_MAX 256

struct api_params {
	char v[API_MAX_PARAMS][API_PARAM_MAX]; /* decoded {name} segments, in order */
	int n;
};

#define API_PAGE_DEFAULT 50
#define API_PAGE_MAX 100

/* Upper bounds of the latency histogram's buckets (seconds). */
double api_bucket_le(int i);

/* ---- json.c ---- */

/* The JSON object of a request body: checks Content-Type (415), parses
 * (400 invalid_json), requires an object (422). NULL after setting rs. */
json_t *api_body_object(const struct http_request *rq, struct http_response *rs);
/* A required string member: NULL after a 422 naming it. */
const char *api_json_string(json_t *o, const char *key, struct http_response *rs);
/* "2026-11-23T13:05:00.123Z" into buf (32 bytes); ms 0 gives null. */
json_t *api_json_time(int64_t ms);
/* Parses an ISO 8601 UTC time or milliseconds since 1970; false if not. */
bool api_parse_time(const char *s, int64_t *ms);
json_t *api_user_json(const struct store_user *u);
json_t *api_message_json(const struct store_message *m);
/* The poll object (api_poll_payload's), `open` at now. */
json_t *api_poll_json(const struct store_poll *p, int64_t now);
/* api_vote_payload's object (api.h). */
json_t *api_vote_json(const struct store_poll *p, size_t option, int64_t voted_at, int64_t now);
/* Sends o (decref'ed) as the body with status. */
void api_reply(struct http_response *rs, int status, json_t *o);
/* 500 after a store failure (counted, logged). */
void api_store_failed(struct api *a, struct http_response *rs, int err);
/* Reads limit and offset from the query: false after a 422. */
bool api_page(const struct http_request *rq, int64_t *limit, int64_t *offset,
	      struct http_response *rs);
/* A query integer: absent -> dflt; false after a 422. */
bool api_query_int(const struct http_request *rq, const char *name, int64_t dflt, int64_t min,
		   int64_t max, int64_t *out, struct http_response *rs);

/* ---- auth.c ---- */

/* The user the request's token belongs to (Authorization: Bearer, or a
 * "token" member of body when body is not NULL); false after a 401. */
bool api_authenticate(struct api *a, const struct http_request *rq, json_t *body,
		      struct store_user *out, struct http_response *rs);
/* A user by "{id}": digits are an id, anything else a name; false after
 * a 404 (or 500). */
bool api_find_user(struct api *a, const char *ref, struct store_user *out,
		   struct http_response *rs);
/* The hash a token is stored under (BLAKE2b, libsodium's
 * crypto_generichash), of its len bytes as a client sent them. */
void api_token_hash(const void *token, size_t len, uint8_t hash[STORE_TOKEN_HASH_LEN]);
/* A new token for user id into out (44 bytes, NUL-terminated). */
bool api_issue_token(struct api *a, int64_t user_id, char *out, struct http_response *rs);
bool api_name_valid(const char *name, const char **why);
/* Whether name is one of admins' comma-separated names (blanks around a
 * name ignored, ASCII case too, as logins compare names). */
bool api_is_admin(const char *admins, const char *name);
/* api_authenticate (header only), then the admin role: false after a 401
 * or a 403 (out released then). */
bool api_authenticate_admin(struct api *a, const struct http_request *rq, struct store_user *out,
			    struct http_response *rs);
/* Failed logins per address: true if this address must wait (429 set). */
bool api_login_limited(struct api *a, struct http_response *rs);
void api_login_failed(struct api *a);
void api_limiter_free(struct api_limiter *l);

/* ---- user_cache.c ---- */

#define API_USER_CACHE_SLOTS 1024

struct api_cached_user {
	int64_t id;
	uint64_t version; /* store_users_version when built */
	char *json;       /* the answer's body (owned by the cache) */
	size_t len;
};

struct api_user_cache *api_user_cache_new(void);
void api_user_cache_free(struct api_user_cache *c);
/* The answer for user id if the cache holds one built at the store's
 * current users version; valid until the next call into the API. */
const struct api_cached_user *api_user_cache_get(struct api *a, int64_t id);
/* Keeps json (malloc'ed, NUL-terminated; taken over) as user id's answer,
 * at the current version, in place of the slot's entry; returns it. */
const struct api_cached_user *api_user_cache_put(struct api *a, int64_t id, char *json);
/* A "{id}" made of digits only: its number (false for a name or too big). */
bool api_user_id(const char *ref, int64_t *id);

/* ---- handlers ---- */

void api_create_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs);
void api_login(struct api *a, const struct http_request *rq, const struct api_params *p,
	       struct http_response *rs);
void api_logout(struct api *a, const struct http_request *rq, const struct api_params *p,
		struct http_response *rs);
void api_list_users(struct api *a, const struct http_request *rq, const struct api_params *p,
		    struct http_response *rs);
void api_get_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		  struct http_response *rs);
void api_patch_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		    struct http_response *rs);
void api_delete_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs);
void api_send_to_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		      struct http_response *rs);
void api_send_message(struct api *a, const struct http_request *rq, const struct api_params *p,
		      struct http_response *rs);
void api_inbox(struct api *a, const struct http_request *rq, const struct api_params *p,
	       struct http_response *rs);
void api_sent(struct api *a, const struct http_request *rq, const struct api_params *p,
	      struct http_response *rs);
void api_get_message(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs);
void api_patch_message(struct api *a, const struct http_request *rq, const struct api_params *p,
		       struct http_response *rs);
void api_delete_message(struct api *a, const struct http_request *rq, const struct api_params *p,
			struct http_response *rs);
void api_integer(struct api *a, const struct http_request *rq, const struct api_params *p,
		 struct http_response *rs);
void api_float(struct api *a, const struct http_request *rq, const struct api_params *p,
	       struct http_response *rs);
void api_seed(struct api *a, const struct http_request *rq, const struct api_params *p,
	      struct http_response *rs);
void api_healthz(struct api *a, const struct http_request *rq, const struct api_params *p,
		 struct http_response *rs);
void api_metrics(struct api *a, const struct http_request *rq, const struct api_params *p,
		 struct http_response *rs);
void api_create_poll(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs);
void api_list_polls(struct api *a, const struct http_request *rq, const struct api_params *p,
		    struct http_response *rs);
void api_get_poll(struct api *a, const struct http_request *rq, const struct api_params *p,
		  struct http_response *rs);
void api_close_poll(struct api *a, const struct http_request *rq, const struct api_params *p,
		    struct http_response *rs);
void api_cast_vote(struct api *a, const struct http_request *rq, const struct api_params *p,
		   struct http_response *rs);
void api_change_vote(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs);
void api_my_vote(struct api *a, const struct http_request *rq, const struct api_params *p,
		 struct http_response *rs);
void api_list_rules(struct api *a, const struct http_request *rq, const struct api_params *p,
		    struct http_response *rs);
void api_create_rule(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs);
void api_get_rule(struct api *a, const struct http_request *rq, const struct api_params *p,
		  struct http_response *rs);
void api_put_rule(struct api *a, const struct http_request *rq, const struct api_params *p,
		  struct http_response *rs);
void api_delete_rule(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs);
void api_test_rule(struct api *a, const struct http_request *rq, const struct api_params *p,
		   struct http_response *rs);
void api_get_collection(struct api *a, const struct http_request *rq, const struct api_params *p,
			struct http_response *rs);
/* After an account's deletion: its rules are disabled and ownerless in
 * the store (store.h); the engine is told so (each reinstalled). */
void api_rules_owner_gone(struct api *a);
void api_openapi(struct api *a, const struct http_request *rq, const struct api_params *p,
		 struct http_response *rs);
void api_doc(struct api *a, const struct http_request *rq, const struct api_params *p,
	     struct http_response *rs);

#endif
