/*
 * seqtrack.h - loss, duplicate and order accounting for one stream (one
 * publisher as seen by one subscriber). Publishers number their messages
 * 0, 1, 2, ...; the tracker remembers which of the last SEQTRACK_WINDOW
 * numbers it has seen, in constant memory.
 *
 * - duplicate: a number seen before (or one older than the window);
 * - out of order: a number arriving after a higher one;
 * - lost: a number never seen, once the window has moved past it or at
 *   seqtrack_finish (given how many the publisher sent).
 */
#ifndef AGORA_SEQTRACK_H
#define AGORA_SEQTRACK_H

#include <stdbool.h>
#include <stdint.h>

#define SEQTRACK_WINDOW 1024

struct seqtrack {
	uint64_t next;     /* every number below it is seen or counted lost */
	uint64_t highest;  /* highest number seen + 1 (0 = none yet) */
	uint64_t received, duplicates, out_of_order, lost;
	uint64_t seen[SEQTRACK_WINDOW / 64]; /* ring of flags for [next, next + WINDOW) */
};

void seqtrack_init(struct seqtrack *t);
void seqtrack_add(struct seqtrack *t, uint64_t seq);
/* The publisher sent `sent` messages in all: count the missing ones lost. */
void seqtrack_finish(struct seqtrack *t, uint64_t sent);

#endif
