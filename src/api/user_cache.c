/*
 * user_cache.c - the answers of GET /api/users/{id}, kept as the JSON text
 * sent, so that reading a user costs neither SQLite (a read transaction
 * takes and drops the WAL's shared-memory lock: two fcntl calls) nor
 * jansson.
 *
 * Each entry records the store's users version (store_users_version) it
 * was built at, and is only used while that has not moved: any write to
 * any user (registration, status, deletion), from the REST API or the MQTT
 * bridge, goes through the store and so makes every entry stale at once.
 * Coarse, and obviously right: users change rarely next to how often they
 * are read. Direct-mapped on the id, so the memory is bounded
 * (API_USER_CACHE_SLOTS answers of at most a status's length each) and a
 * client asking for many ids only evicts entries.
 */
#include "api/internal.h"

#include "base/alloc.h"

#include <stdlib.h>
#include <string.h>

struct api_user_cache {
	struct api_cached_user slot[API_USER_CACHE_SLOTS];
};

struct api_user_cache *api_user_cache_new(void)
{
	return xcalloc(1, sizeof(struct api_user_cache));
}

void api_user_cache_free(struct api_user_cache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < API_USER_CACHE_SLOTS; i++)
		free(c->slot[i].json);
	free(c);
}

static struct api_cached_user *slot_of(struct api_user_cache *c, int64_t id)
{
	return &c->slot[(uint64_t)id % API_USER_CACHE_SLOTS];
}

const struct api_cached_user *api_user_cache_get(struct api *a, int64_t id)
{
	struct api_cached_user *e = slot_of(a->user_cache, id);

	if (!e->json || e->id != id || e->version != store_users_version(a->store))
		return NULL;
	return e;
}

const struct api_cached_user *api_user_cache_put(struct api *a, int64_t id, char *json)
{
	struct api_cached_user *e = slot_of(a->user_cache, id);

	free(e->json);
	e->id = id;
	e->version = store_users_version(a->store);
	e->json = json;
	e->len = strlen(json);
	return e;
}
