/*
 * idset.h - a set of non-zero 16-bit identifiers (MQTT packet ids) with
 * constant-time add, lookup and removal, whatever the client does.
 *
 * Linear probing with backward-shift deletion (as hmap.c) over a table of
 * uint16_t, 0 marking an empty slot. The table is allocated on the first
 * add, grows to keep the load under a half, and is freed when the set
 * empties, so a set costs nothing while empty and 4 bytes per id at most.
 */
#ifndef AGORA_IDSET_H
#define AGORA_IDSET_H

#include <stdbool.h>
#include <stdint.h>

struct idset {
	uint16_t *slots;
	uint32_t cap;   /* power of two, or 0 */
	uint32_t count;
};

/* id must not be 0. Adding an id already present does nothing. */
void idset_add(struct idset *s, uint16_t id);
bool idset_has(const struct idset *s, uint16_t id);
/* False if id was not in the set. */
bool idset_remove(struct idset *s, uint16_t id);
/* Frees the table; the set is empty and usable again. */
void idset_release(struct idset *s);

#endif
