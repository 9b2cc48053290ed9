/* idset.c - see idset.h. */
#include "idset.h"

#include "alloc.h"
#include "array.h"

#include <stdlib.h>

/* Fibonacci hashing: consecutive ids (what clients send) spread out. */
static uint32_t home_of(const struct idset *s, uint16_t id)
{
	return (uint32_t)(id * 2654435769u) & (s->cap - 1);
}

static uint32_t slot_of(const struct idset *s, uint16_t id)
{
	uint32_t i = home_of(s, id);

	while (s->slots[i] && s->slots[i] != id)
		i = (i + 1) & (s->cap - 1);
	return i;
}

/* Every id (65,535) at a load of one half. */
#define MAX_CAP (UINT32_C(1) << 17)

static void grow(struct idset *s)
{
	uint16_t *old = s->slots;
	uint32_t old_cap = s->cap;

	s->cap = array_next_cap(old_cap, (size_t)old_cap + 1, sizeof(*s->slots), 8, MAX_CAP);
	s->slots = xcalloc(s->cap, sizeof(*s->slots));
	for (uint32_t i = 0; i < old_cap; i++)
		if (old[i])
			s->slots[slot_of(s, old[i])] = old[i];
	free(old);
}

void idset_add(struct idset *s, uint16_t id)
{
	if (idset_has(s, id))
		return;
	if ((s->count + 1) * 2 > s->cap)
		grow(s);
	s->slots[slot_of(s, id)] = id;
	s->count++;
}

bool idset_has(const struct idset *s, uint16_t id)
{
	return s->count && s->slots[slot_of(s, id)] == id;
}

bool idset_remove(struct idset *s, uint16_t id)
{
	uint32_t mask = s->cap - 1, i, j;

	if (!idset_has(s, id))
		return false;
	i = slot_of(s, id);
	/* Backward-shift: pull later entries of the probe run into the hole. */
	for (j = (i + 1) & mask; s->slots[j]; j = (j + 1) & mask) {
		uint32_t home = home_of(s, s->slots[j]);
		/* Move j to i when i lies cyclically within [home, j). */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			s->slots[i] = s->slots[j];
			i = j;
		}
	}
	s->slots[i] = 0;
	if (--s->count == 0)
		idset_release(s);
	return true;
}

void idset_release(struct idset *s)
{
	free(s->slots);
	s->slots = NULL;
	s->cap = 0;
	s->count = 0;
}
