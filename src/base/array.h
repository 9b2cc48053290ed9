/*
 * array.h - the one rule for growing an array: double from a first
 * capacity, never beyond a maximum.
 *
 * Every growable array in Agora is a pointer, a count and a capacity (in
 * elements, uint32_t). It grows through ARRAY_GROW (or array_grow), so the
 * doubling, the overflow checks and the limit are written once (curl's
 * rule: every growable buffer has a size limit).
 *
 * The limit: array_grow never makes an array larger than `max` elements.
 * It is a backstop, not a policy: anything a client controls is refused
 * against its configured limit before it gets here (a full queue drops, a
 * full window waits, an oversized packet is refused). Asking for more than
 * `max` is a bug, so, like running out of memory (alloc.h), it stops the
 * process with a message naming the numbers, rather than wrapping an
 * index. ARRAY_MAX is the limit of an array bounded only by its uint32_t
 * count: one below UINT32_MAX, so `count + 1`, the usual need, never wraps
 * to 0.
 *
 * Ownership: the array is the caller's, allocated with malloc (or NULL
 * with a capacity of 0), freed with free.
 */
#ifndef AGORA_BASE_ARRAY_H
#define AGORA_BASE_ARRAY_H

#include <stddef.h>
#include <stdint.h>

#define ARRAY_MAX (UINT32_MAX - 1)

/* The capacity an array of elem-byte elements grows to, to hold `need`:
 * `cap` itself when it already does; else `first` for an empty array
 * (cap 0) or twice cap, doubled again while below need; at most `max`.
 * Aborts with a message when need > max (or the bytes would not fit a
 * size_t). The rule array_grow, ring.h and the hash tables (hmap.c,
 * idset.c) grow by. */
uint32_t array_next_cap(uint32_t cap, size_t need, size_t elem, uint32_t first, uint32_t max);

/* Makes arr (*cap elements of elem bytes) hold at least need elements:
 * returns arr untouched when it already does, else reallocates it to
 * array_next_cap's capacity, sets *cap and returns the new pointer (the
 * elements kept, the new ones uninitialised). Never returns NULL: aborts
 * with a message when need > max or memory runs out. For an array whose
 * element size is known only at run time; typed arrays use ARRAY_GROW. */
void *array_grow(void *arr, uint32_t *cap, size_t need, size_t elem, uint32_t first,
		 uint32_t max);

/*
 * ARRAY_GROW(arr, cap, need, first, max): array_grow for a typed array
 * (elem is sizeof(*arr)), after git's ALLOC_GROW. The compare is inline and
 * arr is assigned only when it grows, so an append on a per-message path
 * costs one compare and one branch. The arguments are evaluated more than
 * once: pass plain expressions (b->matches, b->matches_cap, b->nmatches + 1).
 */
#define ARRAY_GROW(arr, cap, need, first, max)                                                 \
	do {                                                                                   \
		if (__builtin_expect((need) > (cap), 0))                                       \
			(arr) = array_grow((arr), &(cap), (need), sizeof(*(arr)), (first), (max)); \
	} while (0)

#endif
