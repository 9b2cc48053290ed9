/*
 * hmap.h - open-addressing hash map from byte strings to pointers.
 *
 * The map does not copy keys: each entry's key must stay valid (usually it
 * lives inside the value) until the entry is removed. Linear probing with
 * backward-shift deletion, so there are no tombstones and lookups stay short
 * under churn. hmap_init allocates nothing; the table is created on first
 * insert and freed by hmap_release (values are the caller's to free).
 */
#ifndef AGORA_HMAP_H
#define AGORA_HMAP_H

#include <stddef.h>
#include <stdint.h>

struct hmap_entry {
	const uint8_t *key;
	uint32_t len;
	uint32_t hash;
	void *value;
};

struct hmap {
	struct hmap_entry *slots;
	uint32_t cap;   /* power of two, or 0 */
	uint32_t count;
	uint32_t seed;  /* the map's own hash seed, chosen when its table is made */
};

void hmap_init(struct hmap *m);
void hmap_release(struct hmap *m);
/* The hash m gives key (its seed in it). */
uint32_t hmap_hash(const struct hmap *m, const void *key, size_t len);
void *hmap_get(const struct hmap *m, const void *key, size_t len);
/* Inserts or replaces; returns the previous value or NULL. */
void *hmap_put(struct hmap *m, const void *key, size_t len, void *value);
/* Removes; returns the removed value or NULL. */
void *hmap_del(struct hmap *m, const void *key, size_t len);

/* Iteration: for (uint32_t i = 0; hmap_next(m, &i, &v);) ... Must not
 * insert or delete while iterating. */
int hmap_next(const struct hmap *m, uint32_t *pos, void **value);

#endif
