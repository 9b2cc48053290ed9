/* ring.c - see ring.h. */
#include "ring.h"

#include "alloc.h"
#include "array.h"

#include <stdlib.h>
#include <string.h>

void ring_grow(struct ring *r, size_t elem, uint32_t first, uint32_t max)
{
	uint32_t cap = array_next_cap(r->cap, (size_t)r->len + 1, elem, first,
				      max < RING_MAX ? max : RING_MAX);
	char *slots = xmalloc((size_t)cap * elem);
	/* The elements from the head to the end of the old array, then the
	 * ones that wrapped to its start. */
	uint32_t upper = r->cap - r->head < r->len ? r->cap - r->head : r->len;

	if (r->len) {
		memcpy(slots, (char *)r->slots + (size_t)r->head * elem, (size_t)upper * elem);
		memcpy(slots + (size_t)upper * elem, r->slots, (size_t)(r->len - upper) * elem);
	}
	free(r->slots);
	r->slots = slots;
	r->cap = cap;
	r->head = 0;
}

void ring_release(struct ring *r)
{
	free(r->slots);
	r->slots = NULL;
	r->cap = 0;
	r->head = 0;
	r->len = 0;
}
