/* hmap.c - linear probing hash map: FNV-1a, a per-process seed, a finaliser. */
#include "hmap.h"

#include "alloc.h"
#include "array.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void hmap_init(struct hmap *m)
{
	m->slots = NULL;
	m->cap = 0;
	m->count = 0;
	m->seed = 0; /* chosen with the table, at the first insert */
}

void hmap_release(struct hmap *m)
{
	free(m->slots);
	hmap_init(m);
}

/* Each map's seed, mixed in before the finaliser. With one hash for all
 * maps, a map filled in the iteration order of another (a snapshot of the
 * retained messages read back, a map copied) meets its keys in slot order
 * of a larger table: as it grows, they pack into a few slot ranges and
 * linear probing degrades to runs of thousands (11 s instead of 3 to
 * restore a million retained topics). Seeds differ between maps and between
 * processes; FNV-1a collisions stay collisions whatever the seed. */
static uint32_t seed_base;
static uint32_t seed_count;
static pthread_once_t seed_once = PTHREAD_ONCE_INIT;

static void seed_pick(void)
{
	struct timespec ts;

	if (getrandom(&seed_base, sizeof(seed_base), GRND_NONBLOCK) != sizeof(seed_base)) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		seed_base = (uint32_t)ts.tv_nsec ^ (uint32_t)getpid() << 16;
	}
}

/* A new map's seed (the counter may race between threads: any value will
 * do, a repeat only costs spread). */
static uint32_t next_seed(void)
{
	pthread_once(&seed_once, seed_pick);
	return seed_base + 0x9E3779B9u * ++seed_count;
}

uint32_t hmap_hash(const struct hmap *m, const void *key, size_t len)
{
	const uint8_t *p = key;
	uint32_t h = 2166136261u;

	for (size_t i = 0; i < len; i++) {
		h ^= p[i];
		h *= 16777619u;
	}
	/* FNV-1a's low bits, the ones a slot index takes, are weak for keys
	 * that differ in their last byte; MurmurHash3's finaliser spreads
	 * every bit (and the seed) over all of them. */
	h ^= m->seed;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h | 1; /* 0 marks an empty slot */
}

static struct hmap_entry *find(const struct hmap *m, const void *key, size_t len, uint32_t h)
{
	uint32_t mask = m->cap - 1;

	if (!m->cap)
		return NULL;
	for (uint32_t i = h & mask;; i = (i + 1) & mask) {
		struct hmap_entry *e = &m->slots[i];
		if (!e->hash)
			return NULL;
		if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
			return e;
	}
}

void *hmap_get(const struct hmap *m, const void *key, size_t len)
{
	struct hmap_entry *e;

	if (!m->cap)
		return NULL;
	e = find(m, key, len, hmap_hash(m, key, len));
	return e ? e->value : NULL;
}

static void insert_slot(struct hmap *m, struct hmap_entry in)
{
	uint32_t mask = m->cap - 1;
	uint32_t i = in.hash & mask;

	while (m->slots[i].hash)
		i = (i + 1) & mask;
	m->slots[i] = in;
}

/* A power of two up to which the load check in hmap_put (count * 4 against
 * cap * 3) cannot overflow. */
#define MAX_CAP (UINT32_C(1) << 30)

static void grow(struct hmap *m)
{
	struct hmap_entry *old = m->slots;
	uint32_t old_cap = m->cap;

	m->cap = array_next_cap(old_cap, (size_t)old_cap + 1, sizeof(*m->slots), 8, MAX_CAP);
	m->slots = xcalloc(m->cap, sizeof(*m->slots));
	for (uint32_t i = 0; i < old_cap; i++)
		if (old[i].hash)
			insert_slot(m, old[i]);
	free(old);
}

void *hmap_put(struct hmap *m, const void *key, size_t len, void *value)
{
	uint32_t h;
	struct hmap_entry *e;
	struct hmap_entry in;

	if (!m->cap)
		m->seed = next_seed(); /* an empty map: its table is new */
	h = hmap_hash(m, key, len);
	e = find(m, key, len, h);
	in = (struct hmap_entry){ key, (uint32_t)len, h, value };

	if (e) {
		void *prev = e->value;
		*e = in;
		return prev;
	}
	if ((m->count + 1) * 4 > m->cap * 3)
		grow(m);
	insert_slot(m, in);
	m->count++;
	return NULL;
}

void *hmap_del(struct hmap *m, const void *key, size_t len)
{
	struct hmap_entry *e = m->cap ? find(m, key, len, hmap_hash(m, key, len)) : NULL;
	uint32_t mask = m->cap - 1;
	uint32_t i, j;
	void *value;

	if (!e)
		return NULL;
	value = e->value;
	i = (uint32_t)(e - m->slots);
	/* Backward-shift: pull later entries of the probe run into the hole. */
	for (j = (i + 1) & mask; m->slots[j].hash; j = (j + 1) & mask) {
		uint32_t home = m->slots[j].hash & mask;
		/* Move j to i when i lies cyclically within [home, j). */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			m->slots[i] = m->slots[j];
			i = j;
		}
	}
	memset(&m->slots[i], 0, sizeof(m->slots[i]));
	m->count--;
	if (m->count == 0)
		hmap_release(m);
	return value;
}

int hmap_next(const struct hmap *m, uint32_t *pos, void **value)
{
	while (*pos < m->cap) {
		struct hmap_entry *e = &m->slots[(*pos)++];
		if (e->hash) {
			*value = e->value;
			return 1;
		}
	}
	return 0;
}
