/* array.c - see array.h. */
#include "array.h"

#include "alloc.h"
#include "log.h"

#include <stdio.h>
#include <stdlib.h>

static void limit_reached(size_t need, size_t elem, uint32_t max)
{
	log_flush(); /* the lines logged before, in their order */
	fprintf(stderr, "agora: an array of %zu-byte elements asked for %zu, its limit is %u\n",
		elem, need, max);
	abort();
}

uint32_t array_next_cap(uint32_t cap, size_t need, size_t elem, uint32_t first, uint32_t max)
{
	uint64_t next;

	if (need <= cap)
		return cap;
	if (need > max)
		limit_reached(need, elem, max);
	next = cap ? cap : (first ? first : 1);
	while (next < need) /* at least once when cap > 0: need > cap */
		next *= 2;  /* 64 bits: a uint32_t doubled cannot overflow */
	if (next > max)
		next = max;
	if (elem && next > SIZE_MAX / elem)
		limit_reached(need, elem, (uint32_t)(SIZE_MAX / elem));
	return (uint32_t)next;
}

void *array_grow(void *arr, uint32_t *cap, size_t need, size_t elem, uint32_t first,
		 uint32_t max)
{
	uint32_t next = array_next_cap(*cap, need, elem, first, max);

	if (next == *cap)
		return arr;
	arr = xrealloc(arr, (size_t)next * elem);
	*cap = next;
	return arr;
}
