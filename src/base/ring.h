/*
 * ring.h - a FIFO of fixed-size elements in a circular array: push at the
 * tail, pop at the head, element i counted from the head.
 *
 * The capacity is any number, not only a power of two, so a ring grows
 * exactly to its limit (a queue of at most 1000 costs 1000 slots, not
 * 1024). The wrap costs no division all the same: an index from the head
 * is below the capacity, so one compare and subtract brings it back into
 * the array. The capacity is at most RING_MAX, so head + i never
 * overflows.
 *
 * A full ring is grown explicitly, by ring_grow, before a push: the rule is
 * array.h's (doubling from `first`, never beyond `max`: asking for more
 * aborts, so a caller bounded by a limit checks it before pushing), into a
 * new array, the elements re-linearised from index 0 in their order. Kept
 * apart from ring_push so the limit, which may cost a look-up, is computed
 * only when the ring is full, not on every push.
 *
 * Elements are addressed by pointer; elem (their size) must be the same in
 * every call on one ring: callers wrap ring_at in a typed accessor. A
 * zeroed struct ring is empty and holds no memory. ring_release frees the
 * slots; what the elements themselves hold is the caller's to release
 * first.
 */
#ifndef AGORA_BASE_RING_H
#define AGORA_BASE_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RING_MAX (UINT32_C(1) << 31)

struct ring {
	void *slots; /* cap elements */
	uint32_t cap, head, len;
};

static inline bool ring_full(const struct ring *r)
{
	return r->len == r->cap;
}

/* Makes room for one more element (see above): out of line, it runs
 * O(log max) times in a ring's life. */
void ring_grow(struct ring *r, size_t elem, uint32_t first, uint32_t max) __attribute__((cold));

/* The array index of element i from the head (i < cap). */
static inline uint32_t ring__index(const struct ring *r, uint32_t i)
{
	uint32_t j = r->head + i;

	return j >= r->cap ? j - r->cap : j;
}

/* Element i from the head, i < len. */
static inline void *ring_at(const struct ring *r, uint32_t i, size_t elem)
{
	return (char *)r->slots + (size_t)ring__index(r, i) * elem;
}

/* The head element (len > 0): ring_at(r, 0, elem) without the wrap. */
static inline void *ring_head(const struct ring *r, size_t elem)
{
	return (char *)r->slots + (size_t)r->head * elem;
}

/* The element after p (an element of the ring), wrapping at the end of the
 * array: a walk by pointer, for a hot loop over the elements from the head
 * (ring_at computes the wrap from scratch at each index). */
static inline void *ring_next(const struct ring *r, const void *p, size_t elem)
{
	const char *next = (const char *)p + elem;

	return (void *)(next == (char *)r->slots + (size_t)r->cap * elem ? r->slots : next);
}

/* Appends an element at the tail of a ring that is not full and returns it
 * for the caller to fill (its bytes are left over from before). */
static inline void *ring_push(struct ring *r, size_t elem)
{
	return ring_at(r, r->len++, elem);
}

/* Removes the head element (len > 0): read it with ring_head first. */
static inline void ring_pop(struct ring *r)
{
	r->head = r->head + 1 == r->cap ? 0 : r->head + 1;
	r->len--;
}

/* Keeps the first len elements (len <= r->len), drops the rest. */
static inline void ring_truncate(struct ring *r, uint32_t len)
{
	r->len = len;
}

/* Frees the slots; the ring is empty and usable again. */
void ring_release(struct ring *r);

#endif
