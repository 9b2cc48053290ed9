/*
 * hist.h - latency histogram with logarithmic buckets (HdrHistogram's
 * layout, simplified): 32 linear sub-buckets per power of two, so any
 * recorded value is reported within 1/32 (about 3 %) of itself, in constant
 * memory, whatever the number of samples. No per-sample storage.
 */
#ifndef AGORA_HIST_H
#define AGORA_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS 5
#define HIST_SUB (1u << HIST_SUB_BITS)
#define HIST_MAX_BITS 44 /* values up to 2^44 ns (about 4.9 hours) */
#define HIST_BUCKETS ((HIST_MAX_BITS - HIST_SUB_BITS + 1) * HIST_SUB)

struct hist {
	uint64_t counts[HIST_BUCKETS];
	uint64_t total;
	uint64_t min, max;
	double sum;
};

void hist_init(struct hist *h);
void hist_record(struct hist *h, uint64_t value);
void hist_merge(struct hist *into, const struct hist *from);
/* The value at percentile p (0..100): the highest value of the bucket that
 * holds it, clamped to [min, max]. 0 for an empty histogram. */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

/* Bucket arithmetic, exposed for tests. */
uint32_t hist_bucket(uint64_t value);
uint64_t hist_bucket_low(uint32_t bucket);
uint64_t hist_bucket_high(uint32_t bucket);

#endif
