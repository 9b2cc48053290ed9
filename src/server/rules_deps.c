/* rules_deps.c - see rules_deps.h. */
#include "rules_deps.h"

#include "api/api.h"
#include "base/text.h"
#include "bridge.h"
#include "store/store.h"

#include <stdio.h>

static int send_message(void *ctx, const char *from, const char *to, const char *content,
			unsigned depth, char *why, size_t why_cap)
{
	return bridge_rule_message(ctx, from, to, content, depth, why, why_cap);
}

static int record(void *ctx, const char *collection, int64_t rule_id, const char *data,
		  char *why, size_t why_cap)
{
	struct bridge *b = ctx;
	int64_t id;
	int rc;

	rc = store_record_add(b->api->store, collection, rule_id, data, wall_clock_ms(), &id);
	if (rc)
		snprintf(why, why_cap, "%s", store_strerror(rc));
	return rc ? -1 : 0;
}

void rules_deps_init(struct rules_deps *d, struct bridge *b)
{
	*d = (struct rules_deps){ .ctx = b, .send_message = send_message, .record = record };
}
