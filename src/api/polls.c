/*
 * polls.c - polls over REST (docs/api.md, "Polls"): create, list, show,
 * close, vote, change one's vote, show one's vote. Each handler decodes
 * the request, authenticates, then hands the decision to the voting rules
 * (src/polls/polls.h) and answers with what they say.
 */
#include "api/internal.h"

#include "base/alloc.h"
#include "base/text.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The most bytes of a client's option quoted back in a refusal. */
#define QUOTE_MAX 60

/* The {id} of a poll route; false after a 404. */
static bool poll_id(const char *ref, int64_t *id, struct http_response *rs)
{
	char *end;
	long long v;

	errno = 0;
	v = strtoll(ref, &end, 10);
	if (*ref < '0' || *ref > '9' || *end || errno || v <= 0) {
		/* Not quoted: a path segment may be any bytes, not UTF-8. */
		http_response_error(rs, 404, NULL, "no such poll: poll ids are numbers from 1");
		return false;
	}
	*id = v;
	return true;
}

/* What the option of a refused vote was, for the message: "'hiver'" or
 * "7", into buf. */
static const char *option_quoted(const struct polls_ballot *b, char *buf, size_t cap)
{
	int len = (int)text_utf8_cut(b->option, b->option_len, QUOTE_MAX);

	if (b->option)
		snprintf(buf, cap, "'%.*s'", len, b->option);
	else
		snprintf(buf, cap, "%ld", b->number);
	return buf;
}

/* A refusal of the rules as the API answers it: the status of its kind,
 * the code polls_code() gives it, a sentence about this poll. b is the
 * ballot of a vote (NULL otherwise). */
static void polls_failed(struct api *a, int err, int64_t id, const struct polls_ballot *b,
			 struct http_response *rs)
{
	const char *code = polls_code(err);
	long long n = (long long)id;
	char opt[QUOTE_MAX + 8];

	if (err == POLLS_ENOTFOUND)
		http_response_error(rs, 404, code, "no poll %lld", n);
	else if (err == POLLS_EFORBIDDEN && b)
		http_response_error(rs, 403, code, "this account no longer exists");
	else if (err == POLLS_EFORBIDDEN)
		http_response_error(rs, 403, code, "only its creator closes poll %lld", n);
	else if (err == POLLS_ECLOSED)
		http_response_error(rs, 409, code, "poll %lld is closed: it takes no more votes",
				    n);
	else if (err == POLLS_EVOTED)
		http_response_error(rs, 409, code,
				    "you have already voted on poll %lld; "
				    "PUT /api/polls/%lld/votes/me changes a vote",
				    n, n);
	else if (err == POLLS_ENOVOTE)
		http_response_error(rs, 404, code,
				    "you have not voted on poll %lld; "
				    "POST /api/polls/%lld/votes casts a vote",
				    n, n);
	else if (err == POLLS_EOPTION && b)
		http_response_error(rs, 422, code,
				    "poll %lld has no option %s: name one by its label "
				    "or its number (1 for the first)",
				    n, option_quoted(b, opt, sizeof(opt)));
	else
		api_store_failed(a, rs, STORE_EIO);
}

/* ---- create ---- */

/* "closes_at": absent, null or 0 for none, a UTC time, or milliseconds;
 * false after a 422. */
static bool closes_at_of(json_t *body, int64_t *ms, struct http_response *rs)
{
	json_t *v = json_object_get(body, "closes_at");

	*ms = 0;
	if (!v || json_is_null(v))
		return true;
	if (json_is_integer(v)) {
		*ms = json_integer_value(v);
		return true;
	}
	if (json_is_string(v) && api_parse_time(json_string_value(v), ms))
		return true;
	http_response_error(rs, 422, NULL,
			    "closes_at: must be a UTC time (2026-11-23T13:05:00Z), milliseconds "
			    "since 1970, or null");
	return false;
}

/* "options": the labels (pointing into body, xcalloc'ed array); NULL
 * after a 422. */
static const char **options_of(json_t *body, size_t *n, struct http_response *rs)
{
	json_t *arr = json_object_get(body, "options");
	const char **labels;
	json_t *v;
	size_t i;

	if (!json_is_array(arr)) {
		http_response_error(rs, 422, NULL, "options: must be an array of strings");
		return NULL;
	}
	*n = json_array_size(arr);
	labels = xcalloc(*n ? *n : 1, sizeof(*labels));
	json_array_foreach(arr, i, v) {
		if (!json_is_string(v)) {
			http_response_error(rs, 422, NULL, "options: option %zu is not a string",
					    i + 1);
			free(labels);
			return NULL;
		}
		labels[i] = json_string_value(v);
	}
	return labels;
}

void api_create_poll(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs)
{
	struct store_user me = { 0 };
	struct store_poll poll;
	json_t *body = api_body_object(rq, rs);
	const char *question;
	const char **labels = NULL;
	size_t n = 0;
	int64_t closes_at;
	char why[256];
	int err;

	(void)p;
	if (!body)
		return;
	if (!api_authenticate(a, rq, body, &me, rs))
		goto out;
	if (!(question = api_json_string(body, "question", rs)) ||
	    !(labels = options_of(body, &n, rs)) || !closes_at_of(body, &closes_at, rs))
		goto out_me;
	err = polls_create(&a->polls, me.id, question, labels, n, closes_at, a->now_ms, &poll, why,
			   sizeof(why));
	if (err == POLLS_EINVALID) {
		http_response_error(rs, 422, NULL, "%s", why);
	} else if (err == POLLS_EFORBIDDEN) {
		http_response_error(rs, 403, NULL, "this account no longer exists");
	} else if (err) {
		polls_failed(a, err, 0, NULL, rs);
	} else {
		api_reply(rs, 201, api_poll_json(&poll, a->now_ms));
		http_response_header(rs, "Location: /api/polls/%lld", (long long)poll.id);
		store_poll_release(&poll);
	}
out_me:
	free(labels);
	store_user_release(&me);
out:
	json_decref(body);
}

/* ---- read ---- */

void api_list_polls(struct api *a, const struct http_request *rq, const struct api_params *p,
		    struct http_response *rs)
{
	struct store_poll_query q = { .now = a->now_ms };
	struct store_poll_list l = { 0 };
	json_t *items;
	int rc;

	(void)p;
	if (!api_page(rq, &q.limit, &q.offset, rs))
		return;
	if ((rc = store_poll_list(a->store, &q, &l))) {
		api_store_failed(a, rs, rc);
		return;
	}
	items = json_array();
	for (size_t i = 0; i < l.n; i++)
		json_array_append_new(items, api_poll_json(&l.items[i], a->now_ms));
	api_reply(rs, 200, json_pack("{s:o,s:I,s:I,s:I}", "polls", items, "total",
				     (json_int_t)l.total, "limit", (json_int_t)q.limit, "offset",
				     (json_int_t)q.offset));
	store_poll_list_free(&l);
}

void api_get_poll(struct api *a, const struct http_request *rq, const struct api_params *p,
		  struct http_response *rs)
{
	struct store_poll poll;
	int64_t id;
	int err;

	(void)rq;
	if (!poll_id(p->v[0], &id, rs))
		return;
	err = polls_get(&a->polls, id, &poll);
	if (err) {
		polls_failed(a, err, id, NULL, rs);
		return;
	}
	api_reply(rs, 200, api_poll_json(&poll, a->now_ms));
	store_poll_release(&poll);
}

void api_close_poll(struct api *a, const struct http_request *rq, const struct api_params *p,
		    struct http_response *rs)
{
	struct store_user me = { 0 };
	struct store_poll poll;
	int64_t id;
	int err;

	if (!poll_id(p->v[0], &id, rs) || !api_authenticate(a, rq, NULL, &me, rs))
		return;
	err = polls_close(&a->polls, me.id, id, a->now_ms, &poll);
	store_user_release(&me);
	if (err) {
		polls_failed(a, err, id, NULL, rs);
		return;
	}
	api_reply(rs, 200, api_poll_json(&poll, a->now_ms));
	store_poll_release(&poll);
}

/* ---- votes ---- */

/* "option": a label or a number as a string, or the number as an
 * integer, into b; false after a 422. */
static bool option_of(json_t *body, struct polls_ballot *b, struct http_response *rs)
{
	json_t *v = json_object_get(body, "option");

	if (json_is_string(v)) {
		b->option = json_string_value(v);
		b->option_len = json_string_length(v);
		return true;
	}
	if (json_is_integer(v)) {
		json_int_t n = json_integer_value(v);

		/* Out of range is "no such option", which the rules say. */
		b->number = n < LONG_MIN ? LONG_MIN : n > LONG_MAX ? LONG_MAX : (long)n;
		return true;
	}
	http_response_error(rs, 422, NULL,
			    "option: must be an option's label (a string) or its number (from 1)");
	return false;
}

/* Casts (mode POLLS_CAST, 201) or changes (200) the token's user's vote
 * on poll {id}; answers the vote with the results after it. */
static void vote(struct api *a, const struct http_request *rq, const char *ref,
		 enum polls_mode mode, struct http_response *rs)
{
	struct polls_ballot b = { .mode = mode, .now = a->now_ms };
	struct store_user me = { 0 };
	struct store_poll poll;
	json_t *body, *o;
	size_t chosen;
	int err;

	if (!poll_id(ref, &b.poll_id, rs) || !(body = api_body_object(rq, rs)))
		return;
	if (!api_authenticate(a, rq, body, &me, rs) || !option_of(body, &b, rs))
		goto out;
	b.user_id = me.id;
	err = polls_vote(&a->polls, &b, &poll, &chosen);
	if (err) {
		polls_failed(a, err, b.poll_id, &b, rs);
		goto out;
	}
	o = api_vote_json(&poll, chosen, b.now, a->now_ms);
	api_reply(rs, mode == POLLS_CAST ? 201 : 200, o);
	if (mode == POLLS_CAST)
		http_response_header(rs, "Location: /api/polls/%lld/votes/me",
				     (long long)b.poll_id);
	store_poll_release(&poll);
out:
	store_user_release(&me);
	json_decref(body);
}

void api_cast_vote(struct api *a, const struct http_request *rq, const struct api_params *p,
		   struct http_response *rs)
{
	vote(a, rq, p->v[0], POLLS_CAST, rs);
}

void api_change_vote(struct api *a, const struct http_request *rq, const struct api_params *p,
		     struct http_response *rs)
{
	vote(a, rq, p->v[0], POLLS_CHANGE, rs);
}

void api_my_vote(struct api *a, const struct http_request *rq, const struct api_params *p,
		 struct http_response *rs)
{
	struct store_user me = { 0 };
	struct store_poll poll;
	size_t option;
	int64_t id, voted_at;
	json_t *o;
	int err;

	if (!poll_id(p->v[0], &id, rs) || !api_authenticate(a, rq, NULL, &me, rs))
		return;
	err = polls_my_vote(&a->polls, id, me.id, &option, &voted_at);
	store_user_release(&me);
	/* The label is the poll's: read it too. */
	if (!err)
		err = polls_get(&a->polls, id, &poll);
	if (!err && option >= poll.n_options) {
		store_poll_release(&poll);
		err = POLLS_ESTORE; /* a vote for an option the poll lacks: broken */
	}
	if (err) {
		polls_failed(a, err, id, NULL, rs);
		return;
	}
	o = api_vote_json(&poll, option, voted_at, a->now_ms);
	json_object_del(o, "results"); /* my vote alone: GET /api/polls/{id} has them */
	api_reply(rs, 200, o);
	store_poll_release(&poll);
}
