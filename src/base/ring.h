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
 * A full ring grows by the rule of array.h (doubling from `first`, never
 * beyond `max`: asking for more aborts, so a caller bounded by a limit
 * checks it before pushing) into a new array, the elements re-linearised
 * from index 0 in their order.
 *
 * Elements are addressed by pointer; elem (their size) must be the same in
 * every call on one ring: callers wrap ring_at in a typed accessor. A
 * zeroed struct ring is empty and holds no memory. ring_release frees the
 * slots; what the elements themselves hold is the caller's to release
 * first.
 */
#ifndef AGORA_BASE_RING_H
#define AGORA_BASE_RING_H

#include <stddef.h>
#include <stdint.h>

#define RING_MAX (UINT32_C(1) << 31)

struct ring {
	void *slots; /* cap elements */
	uint32_t cap, head, len;
};

/* Grows a full ring (see above). Out of line: it runs O(log n) times. */
void ring__grow(struct ring *r, size_t elem, uint32_t first, uint32_t max) __attribute__((cold));

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

/* Appends an element at the tail, growing a full ring towards max, and
 * returns it for the caller to fill (its bytes are left over from before). */
static inline void *ring_push(struct ring *r, size_t elem, uint32_t first, uint32_t max)
{
	if (r->len == r->cap)
		ring__grow(r, elem, first, max);
	return ring_at(r, r->len++, elem);
}

/* Removes the head element (len > 0): read it with ring_at(r, 0, elem)
 * first. */
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
