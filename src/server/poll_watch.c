/*
 * poll_watch.c - who watches which poll, and which changed (poll_watch.h).
 */
#include "poll_watch.h"

#include "base/alloc.h"
#include "base/array.h"

#include <stdlib.h>
#include <string.h>

struct poll_watched {
	int64_t id;                 /* the map's key points here */
	void **watchers;
	uint32_t n, cap;
	bool marked;
	int64_t closes_at;          /* 0: none, or closed already */
	struct poll_watched *next_changed;
};

void poll_watch_init(struct poll_watch_set *s)
{
	hmap_init(&s->polls);
	s->changed = NULL;
}

static void entry_free(struct poll_watched *e)
{
	free(e->watchers);
	free(e);
}

void poll_watch_release(struct poll_watch_set *s)
{
	void *v;

	for (uint32_t i = 0; hmap_next(&s->polls, &i, &v);)
		entry_free(v);
	hmap_release(&s->polls);
	s->changed = NULL;
}

static struct poll_watched *entry_get(const struct poll_watch_set *s, int64_t id)
{
	return hmap_get(&s->polls, &id, sizeof(id));
}

/* An entry nobody watches and nothing marked goes. */
static void entry_maybe_drop(struct poll_watch_set *s, struct poll_watched *e)
{
	if (e->n || e->marked)
		return;
	hmap_del(&s->polls, &e->id, sizeof(e->id));
	entry_free(e);
}

static long find(const struct poll_watched *e, const void *w)
{
	for (uint32_t i = 0; i < e->n; i++)
		if (e->watchers[i] == w)
			return i;
	return -1;
}

bool poll_watch_add(struct poll_watch_set *s, int64_t id, void *w)
{
	struct poll_watched *e = entry_get(s, id);

	if (!e) {
		e = xcalloc(1, sizeof(*e));
		e->id = id;
		hmap_put(&s->polls, &e->id, sizeof(e->id), e);
	} else if (find(e, w) >= 0) {
		return false;
	}
	/* Bounded by the service: connections times their watches. */
	ARRAY_GROW(e->watchers, e->cap, e->n + 1, 4, ARRAY_MAX);
	e->watchers[e->n++] = w;
	return true;
}

bool poll_watch_remove(struct poll_watch_set *s, int64_t id, void *w)
{
	struct poll_watched *e = entry_get(s, id);
	long i = e ? find(e, w) : -1;

	if (i < 0)
		return false;
	e->watchers[i] = e->watchers[--e->n]; /* order does not matter */
	entry_maybe_drop(s, e);
	return true;
}

bool poll_watch_has(const struct poll_watch_set *s, int64_t id, const void *w)
{
	const struct poll_watched *e = entry_get(s, id);

	return e && find(e, w) >= 0;
}

void poll_watch_mark(struct poll_watch_set *s, int64_t id)
{
	struct poll_watched *e = entry_get(s, id);

	if (!e || e->marked)
		return;
	e->marked = true;
	e->next_changed = s->changed;
	s->changed = e;
}

void poll_watch_closing(struct poll_watch_set *s, int64_t id, int64_t closes_at)
{
	struct poll_watched *e = entry_get(s, id);

	if (e)
		e->closes_at = closes_at;
}

/* A look at every watched poll: a handful in a classroom, and only when a
 * watched poll is read or closes. */
int64_t poll_watch_next_closing(const struct poll_watch_set *s)
{
	int64_t next = 0;
	void *v;

	for (uint32_t i = 0; hmap_next(&s->polls, &i, &v);) {
		const struct poll_watched *e = v;

		if (e->n && e->closes_at && (!next || e->closes_at < next))
			next = e->closes_at;
	}
	return next;
}

void poll_watch_mark_closed(struct poll_watch_set *s, int64_t now)
{
	void *v;

	for (uint32_t i = 0; hmap_next(&s->polls, &i, &v);) {
		struct poll_watched *e = v;

		if (!e->n || !e->closes_at || e->closes_at > now)
			continue;
		e->closes_at = 0;
		poll_watch_mark(s, e->id); /* no entry is added or removed: iterating is safe */
	}
}

bool poll_watch_next_changed(struct poll_watch_set *s, int64_t *id, void ***out, uint32_t *cap,
			     uint32_t *n)
{
	struct poll_watched *e;

	while ((e = s->changed)) {
		s->changed = e->next_changed;
		e->marked = false;
		e->next_changed = NULL;
		if (!e->n) {
			entry_maybe_drop(s, e); /* its watchers left before the push */
			continue;
		}
		ARRAY_GROW(*out, *cap, e->n, 16, ARRAY_MAX);
		memcpy(*out, e->watchers, e->n * sizeof(**out));
		*n = e->n;
		*id = e->id;
		return true;
	}
	return false;
}
