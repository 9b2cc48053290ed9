/*
 * collections.c - what the rules' record actions wrote (docs/api.md,
 * "Rules"): GET /api/collections/{name}, newest first, a page at a time
 * (limit, and before: the id where the previous page stopped). Admins
 * only. Reads the store alone: it works without a rules engine.
 */
#include "api/internal.h"

#include <stdint.h>
#include <string.h>

#define COLLECTION_MAX 64

/* rules.h's record action: [a-z0-9_-]{1,64}. */
static bool collection_valid(const char *name)
{
	size_t len = strlen(name);

	return len >= 1 && len <= COLLECTION_MAX &&
	       strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_-") == len;
}

/* A row as the API shows it; data is the JSON the action wrote (kept as
 * a string should it not parse). */
static json_t *record_json(const struct store_record *r)
{
	json_t *data = json_loads(r->data, JSON_DECODE_ANY, NULL);

	if (!data)
		data = json_string(r->data);
	return json_pack("{s:I,s:I,s:o,s:o}", "id", (json_int_t)r->id, "rule_id",
			 (json_int_t)r->rule_id, "data", data ? data : json_null(), "created_at",
			 api_json_time(r->created_at));
}

void api_get_collection(struct api *a, const struct http_request *rq, const struct api_params *p,
			struct http_response *rs)
{
	struct store_user me = { 0 };
	struct store_record_list l = { 0 };
	int64_t limit, before;
	json_t *items, *next;
	size_t n;
	int rc;

	if (!api_authenticate_admin(a, rq, &me, rs))
		return;
	store_user_release(&me);
	if (!collection_valid(p->v[0])) {
		http_response_error(rs, 404, NULL,
				    "no such collection: names are 1 to %d of a-z 0-9 _ -",
				    COLLECTION_MAX);
		return;
	}
	if (!api_query_int(rq, "limit", API_PAGE_DEFAULT, 1, API_PAGE_MAX, &limit, rs) ||
	    !api_query_int(rq, "before", 0, 1, INT64_MAX, &before, rs))
		return;
	/* One row more than the page tells whether another page follows. */
	if ((rc = store_record_list(a->store, p->v[0], before, limit + 1, &l))) {
		api_store_failed(a, rs, rc);
		return;
	}
	n = l.n > (size_t)limit ? (size_t)limit : l.n;
	items = json_array();
	for (size_t i = 0; i < n; i++)
		json_array_append_new(items, record_json(&l.items[i]));
	next = l.n > n ? json_integer(l.items[n - 1].id) : json_null();
	api_reply(rs, 200, json_pack("{s:s,s:o,s:I,s:o}", "collection", p->v[0], "records", items,
				     "limit", (json_int_t)limit, "next_before", next));
	store_record_list_free(&l);
}
