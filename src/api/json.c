/*
 * json.c - JSON in and out of the API: request bodies, the shapes of users,
 * messages and polls, times, pagination parameters.
 */
#include "api/internal.h"

#include "base/log.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* application/json, with or without parameters (charset=utf-8). */
static bool json_content_type(const char *ct)
{
	size_t n = strlen("application/json");

	if (!ct)
		return false;
	while (*ct == ' ')
		ct++;
	return strncasecmp(ct, "application/json", n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Parse "errors" of jansson's for text that is valid JSON: a number too
 * large, "\u0000" in a string, a member given twice. */
static bool valid_but_refused(enum json_error_code e)
{
	return e == json_error_numeric_overflow || e == json_error_null_character ||
	       e == json_error_duplicate_key;
}

/* The 422 for such a body, naming the member at fault: parsed again with
 * the checks off, a top-level string holding a NUL or a number beyond
 * 64-bit integers is the one. */
static void refused_member(const struct http_request *rq, const json_error_t *first,
			   struct http_response *rs)
{
	json_t *o = json_loadb((const char *)rq->body, rq->body_len,
			       JSON_DECODE_ANY | JSON_ALLOW_NUL | JSON_DECODE_INT_AS_REAL, NULL);
	const char *key;
	json_t *v;

	json_object_foreach(o, key, v) {
		if (json_is_string(v) && strlen(json_string_value(v)) != json_string_length(v)) {
			http_response_error(rs, 422, NULL, "'%s' must not contain NUL characters", key);
			goto out;
		}
		if (json_is_real(v) && fabs(json_real_value(v)) >= 9223372036854775808.0) {
			http_response_error(rs, 422, NULL, "'%s' is out of range (64-bit integers)", key);
			goto out;
		}
	}
	http_response_error(rs, 422, NULL, "%s", first->text); /* names a repeated key */
out:
	json_decref(o);
}

json_t *api_body_object(const struct http_request *rq, struct http_response *rs)
{
	json_error_t err;
	json_t *o;

	if (!rq->has_body || rq->body_len == 0) {
		http_response_error(rs, 422, NULL, "a JSON object body is required");
		return NULL;
	}
	if (!json_content_type(http_header_get(rq, "content-type"))) {
		http_response_error(rs, 415, NULL, "the body must be application/json");
		return NULL;
	}
	/* JSON_REJECT_DUPLICATES: {"to":"a","to":"b"} is ambiguous. */
	o = json_loadb((const char *)rq->body, rq->body_len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY,
		       &err);
	if (!o && valid_but_refused(json_error_code(&err))) {
		/* valid JSON we cannot take: the shape is wrong, not the syntax */
		refused_member(rq, &err, rs);
		return NULL;
	}
	if (!o) {
		http_response_error(rs, 400, "invalid_json", "body is not JSON: %s (line %d)",
				    err.text, err.line);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		http_response_error(rs, 422, NULL, "the body must be a JSON object");
		return NULL;
	}
	return o;
}

const char *api_json_string(json_t *o, const char *key, struct http_response *rs)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_string(v)) {
		http_response_error(rs, 422, NULL, "'%s' must be a string", key);
		return NULL;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		http_response_error(rs, 422, NULL, "'%s' must not contain NUL characters", key);
		return NULL;
	}
	return json_string_value(v);
}

json_t *api_json_time(int64_t ms)
{
	char buf[96]; /* room for any int in each field: gcc checks */
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&secs, &tm))
		return json_null();
	snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
		 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
	return json_string(buf);
}

bool api_parse_time(const char *s, int64_t *ms)
{
	struct tm tm = { 0 };
	const char *rest;
	char *end;
	long long v;
	int frac = 0, digits = 0;

	errno = 0;
	v = strtoll(s, &end, 10);
	if (*s && *end == '\0' && errno == 0 && v >= 0) {
		*ms = v;
		return true;
	}
	rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!rest)
		return false;
	if (*rest == '.') {
		for (rest++; *rest >= '0' && *rest <= '9'; rest++, digits++)
			if (digits < 3)
				frac = frac * 10 + (*rest - '0');
		while (digits > 0 && digits < 3) {
			frac *= 10;
			digits++;
		}
	}
	if (strcmp(rest, "Z") != 0 && strcmp(rest, "+00:00") != 0)
		return false; /* UTC only: say so rather than guess an offset */
	*ms = (int64_t)timegm(&tm) * 1000 + frac;
	return true;
}

json_t *api_user_json(const struct store_user *u)
{
	return json_pack("{s:I,s:s,s:s,s:o,s:o}", "id", (json_int_t)u->id, "name", u->name,
			 "status", u->status ? u->status : "", "status_updated_at",
			 api_json_time(u->status_updated_at), "created_at",
			 api_json_time(u->created_at));
}

json_t *api_message_json(const struct store_message *m)
{
	return json_pack("{s:I,s:s,s:I,s:s,s:I,s:s,s:o,s:b,s:o}", "id", (json_int_t)m->id, "from",
			 m->from_name, "from_id", (json_int_t)m->from_id, "to", m->to_name,
			 "to_id", (json_int_t)m->to_id, "content", m->content, "created_at",
			 api_json_time(m->created_at), "read", m->read_at != 0, "read_at",
			 api_json_time(m->read_at));
}

/* The options with their numbers (from 1) and counts. */
static json_t *poll_options_json(const struct store_poll *p)
{
	json_t *a = json_array();

	for (size_t i = 0; a && i < p->n_options; i++)
		json_array_append_new(a, json_pack("{s:I,s:s,s:I}", "number", (json_int_t)(i + 1),
						   "label", p->options[i], "votes",
						   (json_int_t)p->counts[i]));
	return a;
}

json_t *api_poll_json(const struct store_poll *p, int64_t now)
{
	json_t *creator = p->creator_name ? json_string(p->creator_name) : json_null();

	return json_pack("{s:I,s:s,s:o,s:I,s:o,s:o,s:o,s:o,s:b}", "id", (json_int_t)p->id,
			 "question", p->question, "options", poll_options_json(p), "total",
			 (json_int_t)p->total, "creator", creator, "created_at",
			 api_json_time(p->created_at), "closes_at", api_json_time(p->closes_at),
			 "closed_at", api_json_time(p->closed_at), "open", polls_is_open(p, now));
}

char *api_poll_payload(const struct store_poll *p, int64_t now)
{
	json_t *o = api_poll_json(p, now);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

json_t *api_vote_json(const struct store_poll *p, size_t option, int64_t voted_at, int64_t now)
{
	return json_pack("{s:I,s:{s:I,s:s},s:o,s:o}", "poll_id", (json_int_t)p->id, "option",
			 "number", (json_int_t)(option + 1), "label", p->options[option],
			 "voted_at", api_json_time(voted_at), "results", api_poll_json(p, now));
}

char *api_vote_payload(const struct store_poll *p, size_t option, int64_t voted_at, int64_t now)
{
	json_t *o = api_vote_json(p, option, voted_at, now);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

char *api_status_payload(const struct store_user *u)
{
	json_t *o = json_pack("{s:s,s:s,s:o}", "name", u->name, "status", u->status ? u->status : "",
			      "status_updated_at", api_json_time(u->status_updated_at));
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

char *api_message_payload(const struct store_message *m)
{
	json_t *o = api_message_json(m);
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	return s;
}

void api_reply(struct http_response *rs, int status, json_t *o)
{
	char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;

	json_decref(o);
	if (!s) {
		http_response_error(rs, 500, NULL, "could not encode the answer");
		return;
	}
	http_response_json(rs, status, s);
}

void api_store_failed(struct api *a, struct http_response *rs, int err)
{
	a->store_errors++;
	log_error("store: %s", store_strerror(err));
	http_response_error(rs, 500, NULL, "storage failed; the error is logged");
}

bool api_query_int(const struct http_request *rq, const char *name, int64_t dflt, int64_t min,
		   int64_t max, int64_t *out, struct http_response *rs)
{
	char buf[32];
	const char *v = http_query_get(rq, name, buf, sizeof(buf));
	char *end;
	long long n;

	if (!v && !http_query_has(rq, name)) {
		*out = dflt;
		return true;
	}
	errno = 0;
	n = v ? strtoll(v, &end, 10) : 0;
	if (!v || !*v || *end || errno || n < min || n > max) {
		http_response_error(rs, 422, NULL, "'%s' must be an integer from %lld to %lld", name,
				    (long long)min, (long long)max);
		return false;
	}
	*out = n;
	return true;
}

bool api_page(const struct http_request *rq, int64_t *limit, int64_t *offset,
	      struct http_response *rs)
{
	return api_query_int(rq, "limit", API_PAGE_DEFAULT, 1, API_PAGE_MAX, limit, rs) &&
	       api_query_int(rq, "offset", 0, 0, INT64_MAX / 2, offset, rs);
}
