/* seqtrack.c - per-stream sequence accounting in a sliding bit window. */
#include "seqtrack.h"

#include <string.h>

void seqtrack_init(struct seqtrack *t)
{
	memset(t, 0, sizeof(*t));
}

static bool bit_get(const struct seqtrack *t, uint64_t seq)
{
	uint64_t i = seq % SEQTRACK_WINDOW;
	return t->seen[i / 64] >> (i % 64) & 1;
}

static void bit_set(struct seqtrack *t, uint64_t seq, bool on)
{
	uint64_t i = seq % SEQTRACK_WINDOW;
	uint64_t mask = (uint64_t)1 << (i % 64);

	if (on)
		t->seen[i / 64] |= mask;
	else
		t->seen[i / 64] &= ~mask;
}

/* Moves `next` forward to `to`, counting unseen numbers as lost. A jump
 * past the whole window is counted at once: nothing beyond the window can
 * have been seen, so a wild sequence number cannot make this loop long. */
static void advance(struct seqtrack *t, uint64_t to)
{
	if (to - t->next > SEQTRACK_WINDOW) {
		uint64_t seen = 0;

		for (unsigned i = 0; i < SEQTRACK_WINDOW / 64; i++) {
			seen += (uint64_t)__builtin_popcountll(t->seen[i]);
			t->seen[i] = 0;
		}
		t->lost += (to - t->next) - seen;
		t->next = to;
		return;
	}
	while (t->next < to) {
		if (!bit_get(t, t->next))
			t->lost++;
		bit_set(t, t->next, false);
		t->next++;
	}
}

void seqtrack_add(struct seqtrack *t, uint64_t seq)
{
	t->received++;
	if (seq < t->next || (seq < t->next + SEQTRACK_WINDOW && bit_get(t, seq))) {
		t->duplicates++;
		return;
	}
	if (seq >= t->next + SEQTRACK_WINDOW)
		advance(t, seq - SEQTRACK_WINDOW + 1);
	if (seq + 1 < t->highest)
		t->out_of_order++;
	else
		t->highest = seq + 1;
	bit_set(t, seq, true);
	/* Slide past the contiguous prefix. */
	while (t->next < t->highest && bit_get(t, t->next)) {
		bit_set(t, t->next, false);
		t->next++;
	}
}

void seqtrack_finish(struct seqtrack *t, uint64_t sent)
{
	if (sent > t->next)
		advance(t, sent);
}
