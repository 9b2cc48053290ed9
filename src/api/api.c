/*
 * api.c - one request in, one response out: route matching, HEAD, OPTIONS,
 * CORS, 404 and 405, then the route's handler.
 */
#include "api/internal.h"

#include "api/assets.h"
#include "api/random.h"
#include "base/alloc.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void api_config_defaults(struct api_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->message_max = 4096;
	cfg->status_max = 256;
	cfg->poll_question_max = 500;
	cfg->poll_option_max = 100;
	cfg->cors_origins = "";
	/* OWASP's argon2id floor (19 MiB, 2 passes): ~30 ms here. */
	cfg->pwhash_ops = 2;
	cfg->pwhash_mem = 19u << 20;
	cfg->login_failures_per_minute = 10;
}

struct api *api_new(struct store *st, const struct api_config *cfg)
{
	struct api *a = xcalloc(1, sizeof(*a));
	size_t nroutes;
	struct api_random *r = xmalloc(sizeof(*r));

	if (sodium_init() < 0)
		abort(); /* no entropy source: nothing safe can be done */
	a->store = st;
	a->cfg = *cfg;
	api_random_seed_entropy(r);
	a->random = r;
	api_routes(&nroutes);
	a->route_stats = xcalloc(nroutes + 1, sizeof(*a->route_stats));
	a->user_cache = api_user_cache_new();
	polls_init(&a->polls, st,
		   &(struct polls_limits){ .question_max = cfg->poll_question_max,
					   .option_max = cfg->poll_option_max });
	return a;
}

void api_free(struct api *a)
{
	if (!a)
		return;
	free(a->random);
	free(a->route_stats);
	api_limiter_free(a->limiter);
	api_user_cache_free(a->user_cache);
	free(a);
}

/* Matches path against a template; fills p with the {name} segments. */
static bool path_match(const char *tmpl, const char *path, struct api_params *p)
{
	p->n = 0;
	while (*tmpl && *path) {
		if (*tmpl == '{') {
			const char *end = strchr(path, '/');
			size_t len = end ? (size_t)(end - path) : strlen(path);

			if (len == 0 || p->n == API_MAX_PARAMS ||
			    !http_segment_decode(path, len, p->v[p->n], API_PARAM_MAX))
				return false;
			p->n++;
			tmpl = strchr(tmpl, '}') + 1;
			path += len;
			continue;
		}
		if (*tmpl != *path)
			return false;
		tmpl++;
		path++;
	}
	return *tmpl == '\0' && *path == '\0';
}

static bool method_matches(const struct api_route *r, const char *method, bool head)
{
	return strcmp(r->method, method) == 0 || (head && strcmp(r->method, "GET") == 0);
}

/* The methods of the routes whose template matches path, into allow (for
 * 405 and OPTIONS): "GET, HEAD, PATCH". */
static void allowed_methods(const char *path, char *allow, size_t cap)
{
	size_t n, used = 0;
	const struct api_route *routes = api_routes(&n);

	allow[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		struct api_params tmp;
		int k;

		if (strstr(allow, routes[i].method) || !path_match(routes[i].path, path, &tmp))
			continue;
		k = snprintf(allow + used, cap - used, "%s%s", used ? ", " : "", routes[i].method);
		if (k > 0 && (size_t)k < cap - used)
			used += (size_t)k;
		if (strcmp(routes[i].method, "GET") == 0) {
			k = snprintf(allow + used, cap - used, ", HEAD");
			if (k > 0 && (size_t)k < cap - used)
				used += (size_t)k;
		}
	}
}

/* The route for method and path (p gets its {name} segments), or NULL
 * with *allow listing the methods the path has, if any. Only templates of
 * routes with this method are matched on the way: that is the path every
 * answered request takes. */
static const struct api_route *route_find(const char *method, const char *path,
					  struct api_params *p, char *allow, size_t cap,
					  size_t *index)
{
	size_t n;
	const struct api_route *routes = api_routes(&n);
	bool head = strcmp(method, "HEAD") == 0;

	for (size_t i = 0; i < n; i++) {
		if (method_matches(&routes[i], method, head) && path_match(routes[i].path, path, p)) {
			*index = i;
			allow[0] = '\0';
			return &routes[i];
		}
	}
	*index = n;
	allowed_methods(path, allow, cap);
	return NULL;
}

/* The Origin if cors_origins allows it. */
static const char *cors_origin(const struct api *a, const struct http_request *rq)
{
	const char *origin = http_header_get(rq, "origin");
	const char *list = a->cfg.cors_origins;
	size_t olen;

	if (!origin || !list || !*list)
		return NULL;
	if (strcmp(list, "*") == 0)
		return "*";
	olen = strlen(origin);
	while (*list) {
		const char *end = strchr(list, ',');
		size_t len = end ? (size_t)(end - list) : strlen(list);

		while (len && *list == ' ') {
			list++;
			len--;
		}
		if (len == olen && strncasecmp(list, origin, olen) == 0)
			return origin;
		if (!end)
			break;
		list = end + 1;
	}
	return NULL;
}

static void add_cors(struct api *a, const struct http_request *rq, struct http_response *rs,
		     bool preflight, const char *allow)
{
	const char *origin = cors_origin(a, rq);

	if (!origin)
		return;
	http_response_header(rs, "Access-Control-Allow-Origin: %s", origin);
	if (strcmp(origin, "*") != 0)
		http_response_header(rs, "Vary: Origin");
	if (preflight) {
		http_response_header(rs, "Access-Control-Allow-Methods: %s", allow);
		http_response_header(rs, "Access-Control-Allow-Headers: Authorization, Content-Type");
		http_response_header(rs, "Access-Control-Max-Age: 600");
	}
}

static void options_reply(struct api *a, const struct http_request *rq, struct http_response *rs,
			  const char *allow)
{
	char all[160];

	snprintf(all, sizeof(all), "%s, OPTIONS", allow);
	http_response_init(rs);
	rs->status = 204;
	http_response_header(rs, "Allow: %s", all);
	add_cors(a, rq, rs, true, all);
}

/* The web client and the documentation page's files (embedded files that are not
 * API routes), for GET and HEAD. */
static const struct api_asset *static_file(const struct http_request *rq)
{
	if (strcmp(rq->method, "GET") != 0 && strcmp(rq->method, "HEAD") != 0)
		return NULL;
	return api_asset_find(rq->path);
}

/* The web client (/ and /app/...) may load and connect to its own server
 * only: no inline script or style, no other origin, not framed. connect-src
 * 'self' covers ws: and wss: to the same host (CSP Level 3) for MQTT over
 * WebSocket at /mqtt. worker-src blob: is for MQTT.js, which runs its
 * keepalive timers in a worker made from its own code (timers in a
 * background tab are throttled, the worker's are not). The /api/doc page
 * keeps none: Swagger UI starts from an inline script. */
static void page_headers(const char *path, struct http_response *rs)
{
	if (strcmp(path, "/") != 0 && strncmp(path, "/app/", 5) != 0)
		return;
	http_response_header(rs, "Content-Security-Policy: default-src 'self'; "
				 "connect-src 'self'; img-src 'self' data:; worker-src 'self' blob:; "
				 "object-src 'none'; "
				 "base-uri 'none'; form-action 'self'; frame-ancestors 'none'");
	http_response_header(rs, "X-Content-Type-Options: nosniff");
	http_response_header(rs, "Referrer-Policy: no-referrer");
}

size_t api_handle(struct api *a, const struct http_request *rq, struct http_response *rs)
{
	struct api_params p;
	char allow[128];
	size_t index;
	const struct api_route *r;
	const struct api_asset *f;

	/* No route has OPTIONS: for it, allow lists every method of the path. */
	r = route_find(rq->method, rq->path, &p, allow, sizeof(allow), &index);
	if (!r && strcmp(rq->method, "OPTIONS") == 0 && allow[0]) {
		options_reply(a, rq, rs, allow);
		return index;
	}
	if (!r && allow[0]) {
		http_response_error(rs, 405, NULL, "%s is not allowed on %s (allowed: %s)",
				    rq->method, rq->path, allow);
		http_response_header(rs, "Allow: %s", allow);
	} else if (!r && (f = static_file(rq))) {
		http_response_static(rs, 200, f->content_type, f->data, f->len);
		page_headers(rq->path, rs);
	} else if (!r) {
		http_response_error(rs, 404, NULL, "no route %s %s", rq->method, rq->path);
	} else {
		r->handler(a, rq, &p, rs);
	}
	add_cors(a, rq, rs, false, NULL);
	return index;
}

void api_run_deferred(struct api *a, struct http_response *rs)
{
	struct api_job *job = a->deferred;

	if (!job)
		return;
	a->deferred = NULL;
	job->run(job);
	job->finish(a, job, rs);
	job->free(job);
}

/* Latency buckets, seconds: Prometheus' defaults, finer at the low end. */
static const double bucket_le[API_LATENCY_BUCKETS] = { 0.0001, 0.00025, 0.0005, 0.001,
						       0.0025, 0.005,  0.01,   0.025,
						       0.05,   0.1,    0.5,    1.0 };

double api_bucket_le(int i)
{
	return bucket_le[i];
}

void api_observe(struct api *a, size_t route, int status, double seconds)
{
	size_t n;
	int i;

	api_routes(&n);
	if (route > n)
		route = n; /* "other" */
	a->route_stats[route].by_status[http_status_slot(status)]++;
	for (i = 0; i < API_LATENCY_BUCKETS && seconds > bucket_le[i]; i++)
		;
	a->latency_buckets[i]++;
	a->latency_sum_s += seconds;
	a->latency_count++;
}
