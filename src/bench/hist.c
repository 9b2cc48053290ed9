/* hist.c - log-linear latency histogram. */
#include "hist.h"

#include <string.h>

void hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

uint32_t hist_bucket(uint64_t v)
{
	uint32_t e, shift, b;

	if (v < HIST_SUB)
		return (uint32_t)v;
	e = 63u - (uint32_t)__builtin_clzll(v);
	shift = e - HIST_SUB_BITS;
	b = (shift + 1) * HIST_SUB + (uint32_t)((v >> shift) - HIST_SUB);
	return b < HIST_BUCKETS ? b : HIST_BUCKETS - 1;
}

uint64_t hist_bucket_low(uint32_t b)
{
	uint32_t shift;

	if (b < HIST_SUB)
		return b;
	shift = b / HIST_SUB - 1;
	return (uint64_t)(b % HIST_SUB + HIST_SUB) << shift;
}

uint64_t hist_bucket_high(uint32_t b)
{
	uint32_t shift;

	if (b < HIST_SUB)
		return b;
	shift = b / HIST_SUB - 1;
	return ((uint64_t)(b % HIST_SUB + HIST_SUB + 1) << shift) - 1;
}

void hist_record(struct hist *h, uint64_t v)
{
	h->counts[hist_bucket(v)]++;
	h->total++;
	h->sum += (double)v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void hist_merge(struct hist *into, const struct hist *from)
{
	for (uint32_t i = 0; i < HIST_BUCKETS; i++)
		into->counts[i] += from->counts[i];
	into->total += from->total;
	into->sum += from->sum;
	if (from->min < into->min)
		into->min = from->min;
	if (from->max > into->max)
		into->max = from->max;
}

uint64_t hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0;

	if (!h->total)
		return 0;
	if (p >= 100.0)
		return h->max;
	/* Smallest rank such that at least p% of samples are <= the value. */
	rank = (uint64_t)(p / 100.0 * (double)h->total + 0.999999);
	if (rank == 0)
		rank = 1;
	for (uint32_t i = 0; i < HIST_BUCKETS; i++) {
		seen += h->counts[i];
		if (seen >= rank) {
			uint64_t v = hist_bucket_high(i);
			return v < h->min ? h->min : v > h->max ? h->max : v;
		}
	}
	return h->max;
}

double hist_mean(const struct hist *h)
{
	return h->total ? h->sum / (double)h->total : 0.0;
}
