/*
 * misc.c - the routes that are not about users: random numbers, health,
 * metrics, and the API's own description.
 */
#include "api/internal.h"

#include "api/assets.h"
#include "api/random.h"
#include "base/alloc.h"
#include "base/text.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INT_BOUND 9007199254740992LL /* 2^53: integers JSON readers keep exact */

/* A float query parameter: absent -> dflt; false after a 422. */
static bool query_double(const struct http_request *rq, const char *name, double dflt,
			 double *out, struct http_response *rs)
{
	char buf[64];
	const char *v = http_query_get(rq, name, buf, sizeof(buf));
	char *end;

	if (!v && !http_query_has(rq, name)) {
		*out = dflt;
		return true;
	}
	errno = 0;
	*out = v ? strtod(v, &end) : 0;
	if (!v || !*v || *end || errno || !isfinite(*out)) {
		http_response_error(rs, 422, NULL, "'%s' must be a finite number", name);
		return false;
	}
	return true;
}

static void random_failed(struct http_response *rs, int err)
{
	http_response_error(rs, 422, NULL, "%s", api_random_strerror(err));
}

void api_integer(struct api *a, const struct http_request *rq, const struct api_params *p,
		 struct http_response *rs)
{
	int64_t n, min, max, out[API_RANDOM_MAX_N];
	json_t *list;
	int rc;

	(void)p;
	if (!api_query_int(rq, "n", 3, 1, API_RANDOM_MAX_N, &n, rs) ||
	    !api_query_int(rq, "min", 0, -INT_BOUND, INT_BOUND, &min, rs) ||
	    !api_query_int(rq, "max", 100, -INT_BOUND, INT_BOUND, &max, rs))
		return;
	rc = api_random_integers(a->random, min, max, (int)n, out);
	if (rc) {
		random_failed(rs, rc);
		return;
	}
	list = json_array();
	for (int64_t i = 0; i < n; i++)
		json_array_append_new(list, json_integer(out[i]));
	api_reply(rs, 200, list);
}

void api_float(struct api *a, const struct http_request *rq, const struct api_params *p,
	       struct http_response *rs)
{
	double min, max, out[API_RANDOM_MAX_N];
	int64_t n;
	json_t *list;
	int rc;

	(void)p;
	if (!api_query_int(rq, "n", 3, 1, API_RANDOM_MAX_N, &n, rs) ||
	    !query_double(rq, "min", 0, &min, rs) || !query_double(rq, "max", 100, &max, rs))
		return;
	rc = api_random_floats(a->random, min, max, (int)n, out);
	if (rc) {
		random_failed(rs, rc);
		return;
	}
	list = json_array();
	for (int64_t i = 0; i < n; i++)
		json_array_append_new(list, json_real(out[i]));
	api_reply(rs, 200, list);
}

void api_seed(struct api *a, const struct http_request *rq, const struct api_params *p,
	      struct http_response *rs)
{
	json_t *body = api_body_object(rq, rs);
	json_t *v;

	(void)p;
	if (!body)
		return;
	v = json_object_get(body, "seed_value");
	if (!json_is_integer(v)) {
		http_response_error(rs, 422, NULL, "'seed_value' must be an integer");
	} else {
		api_random_seed(a->random, (uint64_t)json_integer_value(v));
		api_reply(rs, 200, json_pack("{s:I}", "seed_value", json_integer_value(v)));
	}
	json_decref(body);
}

void api_healthz(struct api *a, const struct http_request *rq, const struct api_params *p,
		 struct http_response *rs)
{
	struct store_user_list l = { 0 };
	int rc;

	(void)rq;
	(void)p;
	/* A real read: a store that cannot answer makes the node unhealthy. */
	rc = store_user_list(a->store, 1, 0, &l);
	store_user_list_free(&l);
	if (rc) {
		a->store_errors++;
		http_response_error(rs, 503, NULL, "the store does not answer: %s", store_strerror(rc));
		return;
	}
	api_reply(rs, 200, json_pack("{s:s}", "status", "ok"));
}

/* ---- /metrics, Prometheus text format 0.0.4 ---- */

static void route_metrics(struct api *a, struct text *t)
{
	size_t n;
	const struct api_route *routes = api_routes(&n);

	text_printf(t, "# HELP agora_http_requests_total HTTP requests answered, by route and status.\n"
	       "# TYPE agora_http_requests_total counter\n");
	for (size_t i = 0; i <= n; i++) {
		for (int slot = 0; slot < HTTP_STATUS_SLOTS; slot++) {
			uint64_t v = a->route_stats[i].by_status[slot];
			int status = http_status_of_slot(slot);

			if (!v)
				continue;
			if (status)
				text_printf(t, "agora_http_requests_total{method=\"%s\",route=\"%s\",status=\"%d\"} %llu\n",
				    i < n ? routes[i].method : "", i < n ? routes[i].path : "other",
				    status, (unsigned long long)v);
			else
				text_printf(t, "agora_http_requests_total{method=\"%s\",route=\"%s\",status=\"other\"} %llu\n",
				    i < n ? routes[i].method : "", i < n ? routes[i].path : "other",
				    (unsigned long long)v);
		}
	}
}

static void latency_metrics(struct api *a, struct text *t)
{
	uint64_t cum = 0;

	text_printf(t, "# HELP agora_http_request_duration_seconds Time from a complete request to its answer.\n"
	       "# TYPE agora_http_request_duration_seconds histogram\n");
	for (int i = 0; i < API_LATENCY_BUCKETS; i++) {
		cum += a->latency_buckets[i];
		text_printf(t, "agora_http_request_duration_seconds_bucket{le=\"%g\"} %llu\n", api_bucket_le(i),
		    (unsigned long long)cum);
	}
	cum += a->latency_buckets[API_LATENCY_BUCKETS];
	text_printf(t, "agora_http_request_duration_seconds_bucket{le=\"+Inf\"} %llu\n",
	    (unsigned long long)cum);
	text_printf(t, "agora_http_request_duration_seconds_sum %.6f\n", a->latency_sum_s);
	text_printf(t, "agora_http_request_duration_seconds_count %llu\n",
	    (unsigned long long)a->latency_count);
}

void api_metrics(struct api *a, const struct http_request *rq, const struct api_params *p,
		 struct http_response *rs)
{
	struct text t = { 0 };

	(void)rq;
	(void)p;
	route_metrics(a, &t);
	latency_metrics(a, &t);
	text_printf(&t, "# HELP agora_store_errors_total Store operations that failed.\n"
		"# TYPE agora_store_errors_total counter\nagora_store_errors_total %llu\n",
	    (unsigned long long)a->store_errors);
	if (a->metrics_extra) {
		char *extra = NULL;
		size_t len = 0;

		a->metrics_extra(a->metrics_ctx, &extra, &len);
		if (extra)
			text_printf(&t, "%.*s", (int)len, extra);
		free(extra);
	}
	http_response_body(rs, 200, "text/plain; version=0.0.4; charset=utf-8", t.s, t.len);
}

/* An embedded file, or 500 if the build did not embed it. */
static void asset_reply(const char *path, struct http_response *rs)
{
	const struct api_asset *f = api_asset_find(path);

	if (!f) {
		http_response_error(rs, 500, NULL, "%s was not built into this binary", path);
		return;
	}
	http_response_static(rs, 200, f->content_type, f->data, f->len);
}

void api_openapi(struct api *a, const struct http_request *rq, const struct api_params *p,
		 struct http_response *rs)
{
	(void)a;
	(void)rq;
	(void)p;
	asset_reply("/api/openapi.json", rs);
}

void api_doc(struct api *a, const struct http_request *rq, const struct api_params *p,
	     struct http_response *rs)
{
	(void)a;
	(void)rq;
	(void)p;
	asset_reply("/api/doc", rs);
}
