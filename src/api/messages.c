/*
 * messages.c - direct messages between users: send, inbox, sent, read,
 * mark read, delete.
 */
#include "api/internal.h"

#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Creates the message from `from` to the user `to_ref` names and answers
 * 201 with it. */
static void send_message(struct api *a, const struct store_user *from, const char *to_ref,
			 const char *content, struct http_response *rs)
{
	struct store_user to = { 0 };
	struct store_message m = { 0 };
	size_t len = strlen(content);
	int rc;

	if (len == 0 || len > a->cfg.message_max) {
		http_response_error(rs, 422, NULL, "'content' must be 1 to %zu bytes",
				    a->cfg.message_max);
		return;
	}
	if (!api_find_user(a, to_ref, &to, rs))
		return;
	rc = store_message_create(a->store, from->id, to.id, content, a->now_ms, &m);
	store_user_release(&to);
	if (rc) {
		api_store_failed(a, rs, rc);
		return;
	}
	if (a->bridge.message_created)
		a->bridge.message_created(a->bridge.ctx, &m);
	api_reply(rs, 201, api_message_json(&m));
	http_response_header(rs, "Location: /api/messages/%lld", (long long)m.id);
	store_message_release(&m);
}

void api_send_to_user(struct api *a, const struct http_request *rq, const struct api_params *p,
		      struct http_response *rs)
{
	struct store_user me = { 0 };
	json_t *body = api_body_object(rq, rs);
	const char *content;

	if (!body)
		return;
	if (!api_authenticate(a, rq, body, &me, rs))
		goto out;
	if ((content = api_json_string(body, "content", rs)))
		send_message(a, &me, p->v[0], content, rs);
	store_user_release(&me);
out:
	json_decref(body);
}

void api_send_message(struct api *a, const struct http_request *rq, const struct api_params *p,
		      struct http_response *rs)
{
	struct store_user me = { 0 };
	json_t *body = api_body_object(rq, rs);
	json_t *to;
	const char *content;
	char ref[32];

	(void)p;
	if (!body)
		return;
	if (!api_authenticate(a, rq, body, &me, rs))
		goto out;
	/* "to": a name, or an id as a number or a string of digits */
	to = json_object_get(body, "to");
	if (json_is_integer(to)) {
		snprintf(ref, sizeof(ref), "%lld", (long long)json_integer_value(to));
	} else if (!json_is_string(to) || json_string_length(to) >= API_PARAM_MAX) {
		http_response_error(rs, 422, NULL, "'to' must be a user id or name");
		goto out_me;
	}
	if ((content = api_json_string(body, "content", rs)))
		send_message(a, &me, json_is_integer(to) ? ref : json_string_value(to), content, rs);
out_me:
	store_user_release(&me);
out:
	json_decref(body);
}

static void list_box(struct api *a, const struct http_request *rq, enum store_box box,
		     struct http_response *rs)
{
	struct store_message_query q = { .box = box };
	struct store_message_list l = { 0 };
	struct store_user me = { 0 };
	char buf[64];
	const char *v;
	json_t *items;
	int rc;

	if (!api_authenticate(a, rq, NULL, &me, rs))
		return;
	q.user_id = me.id;
	store_user_release(&me);
	if (!api_page(rq, &q.limit, &q.offset, rs))
		return;
	if ((v = http_query_get(rq, "since", buf, sizeof(buf))) && !api_parse_time(v, &q.since)) {
		http_response_error(rs, 422, NULL,
				    "'since' must be a UTC time (2026-11-23T13:05:00Z) or milliseconds");
		return;
	} else if (!v && http_query_has(rq, "since")) {
		http_response_error(rs, 422, NULL, "'since' is too long");
		return;
	}
	if ((v = http_query_get(rq, "unread", buf, sizeof(buf)))) {
		if (strcmp(v, "true") != 0 && strcmp(v, "false") != 0 && strcmp(v, "1") != 0 &&
		    strcmp(v, "0") != 0) {
			http_response_error(rs, 422, NULL, "'unread' must be true or false");
			return;
		}
		q.unread_only = strcmp(v, "true") == 0 || strcmp(v, "1") == 0;
	}
	if ((rc = store_message_list(a->store, &q, &l))) {
		api_store_failed(a, rs, rc);
		return;
	}
	items = json_array();
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(items, api_message_json(&l.items[i]));
	api_reply(rs, 200, json_pack("{s:o,s:I,s:I,s:I}", "messages", items, "total",
				     (json_int_t)l.total, "limit", (json_int_t)q.limit, "offset",
				     (json_int_t)q.offset));
	store_message_list_free(&l);
}

void api_inbox(struct api *a, const struct http_request *rq, const struct api_params *p,
	       struct http_response *rs)
{
	(void)p;
	list_box(a, rq, STORE_INBOX, rs);
}

void api_sent(struct api *a, const struct http_request *rq, const struct api_params *p,
	      struct http_response *rs)
{
	(void)p;
	list_box(a, rq, STORE_SENT, rs);
}

/* The {id} of a message route; false after a 404. */
static bool message_id(const char *ref, int64_t *id, struct http_response *rs)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(ref, &end, 10);
	if (!*ref || *end || errno || v <= 0) {
		http_response_error(rs, 404, NULL, "no message '%.64s'", ref);
		return false;
	}
	*id = v;
	return true;
}

/* The message as the caller sees it: false after 401/404/500. */
static bool my_message(struct api *a, const struct http_request *rq, json_t *body,
		       const char *ref, struct store_user *me, struct store_message *m,
		       struct http_response *rs)
{
	int64_t id;
	int rc;

	if (!message_id(ref, &id, rs) || !api_authenticate(a, rq, body, me, rs))
		return false;
	rc = store_message_get(a->store, id, me->id, m);
	if (rc == STORE_ENOTFOUND)
		http_response_error(rs, 404, NULL, "no message %lld of yours", (long long)id);
	else if (rc)
		api_store_failed(a, rs, rc);
	if (rc)
		store_user_release(me);
	return rc == 0;
}

void api_get_message(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs)
{
	struct store_user me = { 0 };
	struct store_message m = { 0 };

	if (!my_message(a, rq, NULL, p->v[0], &me, &m, rs))
		return;
	api_reply(rs, 200, api_message_json(&m));
	store_message_release(&m);
	store_user_release(&me);
}

void api_patch_message(struct api *a, const struct http_request *rq, const struct api_params *p,
		       struct http_response *rs)
{
	struct store_user me = { 0 };
	struct store_message m = { 0 };
	json_t *body = api_body_object(rq, rs);
	json_t *read;
	int64_t id;
	int rc;

	if (!body)
		return;
	if (!my_message(a, rq, body, p->v[0], &me, &m, rs))
		goto out;
	read = json_object_get(body, "read");
	if (!json_is_boolean(read)) {
		http_response_error(rs, 422, NULL, "'read' must be true or false");
		goto out_msg;
	}
	if (m.to_id != me.id) {
		http_response_error(rs, 403, NULL, "only the recipient marks a message read");
		goto out_msg;
	}
	id = m.id;
	store_message_release(&m);
	rc = store_message_set_read(a->store, id, me.id, json_is_true(read), a->now_ms);
	if (!rc)
		rc = store_message_get(a->store, id, me.id, &m);
	if (rc)
		api_store_failed(a, rs, rc);
	else
		api_reply(rs, 200, api_message_json(&m));
out_msg:
	store_message_release(&m);
	store_user_release(&me);
out:
	json_decref(body);
}

void api_delete_message(struct api *a, const struct http_request *rq, const struct api_params *p,
			struct http_response *rs)
{
	struct store_user me = { 0 };
	struct store_message m = { 0 };
	int rc;

	if (!my_message(a, rq, NULL, p->v[0], &me, &m, rs))
		return;
	rc = store_message_delete(a->store, m.id, me.id);
	if (rc)
		api_store_failed(a, rs, rc);
	else
		rs->status = 204;
	store_message_release(&m);
	store_user_release(&me);
}
