/*
 * poll_watch.h - who watches which poll, and which watched polls changed
 * since they were last pushed: the poll line protocol's fan-out
 * (poll_service.c), kept apart from the sockets so it is tested alone.
 *
 * A watcher is an opaque pointer (a connection's state). A poll's entry
 * exists while someone watches it or while it is marked changed; a change
 * to a poll nobody watches costs one hash look-up and marks nothing.
 * Marking is idempotent until the mark is taken (poll_watch_next_changed):
 * however many votes come in one loop turn, a poll is pushed once. A
 * watched poll's closing time is kept too, so that its closing by the clock
 * is a change like the others (a watched poll is read whenever it is
 * pushed, which keeps the time current).
 *
 * Ownership: the set owns its entries and arrays, not the watchers.
 * Single-threaded.
 */
#ifndef AGORA_POLL_WATCH_H
#define AGORA_POLL_WATCH_H

#include "base/hmap.h"

#include <stdbool.h>
#include <stdint.h>

struct poll_watched;

struct poll_watch_set {
	struct hmap polls;            /* poll id (8 bytes) -> struct poll_watched */
	struct poll_watched *changed; /* marked, not yet taken (a stack) */
};

void poll_watch_init(struct poll_watch_set *s);
/* Frees every entry (the watchers are the caller's). */
void poll_watch_release(struct poll_watch_set *s);

/* w watches poll id from now on; false when it already did. */
bool poll_watch_add(struct poll_watch_set *s, int64_t id, void *w);
/* w stops watching poll id; false when it did not. */
bool poll_watch_remove(struct poll_watch_set *s, int64_t id, void *w);
/* Whether w watches poll id. */
bool poll_watch_has(const struct poll_watch_set *s, int64_t id, const void *w);

/* Poll id changed: marked if anyone watches it (once until taken). */
void poll_watch_mark(struct poll_watch_set *s, int64_t id);

/* A watched poll's closing time by the clock (ms since the epoch), as last
 * read; 0 when it has none or is closed already. Nothing for a poll nobody
 * watches. */
void poll_watch_closing(struct poll_watch_set *s, int64_t id, int64_t closes_at);
/* The nearest closing time of the watched polls, 0 when none. */
int64_t poll_watch_next_closing(const struct poll_watch_set *s);
/* Marks every watched poll whose closing time has come (<= now) and
 * forgets that time: a poll closing is a change its watchers are told. */
void poll_watch_mark_closed(struct poll_watch_set *s, int64_t now);

/* Takes one marked poll: true with *id and its watchers copied into
 * (*out)[0..*n) (an array the caller keeps between calls, grown here as
 * needed, freed with free), so watchers may come and go while the caller
 * goes through the copy. False when none is marked. A marked poll whose
 * watchers all left meanwhile is dropped, not returned. */
bool poll_watch_next_changed(struct poll_watch_set *s, int64_t *id, void ***out, uint32_t *cap,
			     uint32_t *n);

#endif
