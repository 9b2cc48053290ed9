/* rules_deps.c - see rules_deps.h. */
#include "rules_deps.h"

#include "api/api.h"
#include "base/text.h"
#include "bridge.h"
#include "store/store.h"

#include <stdio.h>

/*
 * Weak until the store's rules half (sqlite_rules.c) is merged: every unit
 * test links every object, and this one must link without it. Once merged
 * the store's definition is the one used; the test below is then always
 * true (and the attribute can go).
 */
extern int store_record_add(struct store *st, const char *collection, int64_t rule_id,
			    const char *data, int64_t now, int64_t *id) __attribute__((weak));

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

	if (!store_record_add) {
		snprintf(why, why_cap, "records are not available in this build");
		return -1;
	}
	rc = store_record_add(b->api->store, collection, rule_id, data, wall_clock_ms(), &id);
	if (rc)
		snprintf(why, why_cap, "%s", store_strerror(rc));
	return rc ? -1 : 0;
}

void rules_deps_init(struct rules_deps *d, struct bridge *b)
{
	*d = (struct rules_deps){ .ctx = b, .send_message = send_message, .record = record };
}
