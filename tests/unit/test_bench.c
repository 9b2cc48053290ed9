/*
 * test_bench.c - the bench's accounting: the latency histogram and the
 * per-stream sequence tracker.
 *
 * A bench that miscounts is worse than none, so these check the arithmetic
 * exactly: every bucket holds the values it claims within the promised
 * precision, percentiles land where a known distribution puts them, and
 * lost, duplicated and reordered messages are counted to the unit.
 */
#include "helpers.h"

#include "bench/hist.h"
#include "bench/seqtrack.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define RANGE_BITS 40 /* the values the tests sweep: [0, 2^40) */

/* ---- helpers ---- */

/* xorshift64*: a fixed seed, so a failure reproduces. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dull;
}

/* The histogram is ~10 KiB: keep it off the stack. */
static struct hist *hist_new(void)
{
	struct hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	hist_init(h);
	return h;
}

/* v's bucket holds v, and is no wider than max(1, v/32). */
static void check_bucket(uint64_t v)
{
	uint32_t b = hist_bucket(v);
	uint64_t lo = hist_bucket_low(b), hi = hist_bucket_high(b);
	uint64_t limit = v / 32 > 1 ? v / 32 : 1;

	if (lo > v || v > hi || hi - lo + 1 > limit || b >= HIST_BUCKETS)
		fail_msg("value %llu: bucket %u is [%llu, %llu], width limit %llu",
			 (unsigned long long)v, b, (unsigned long long)lo, (unsigned long long)hi,
			 (unsigned long long)limit);
}

/* |got - want| <= want * pct / 100 */
static void assert_near(uint64_t got, uint64_t want, double pct)
{
	double d = (double)got - (double)want;

	if (d < 0)
		d = -d;
	if (d > (double)want * pct / 100.0)
		fail_msg("%llu is not within %.1f %% of %llu", (unsigned long long)got, pct,
			 (unsigned long long)want);
}

static void assert_hist_equal(const struct hist *a, const struct hist *b)
{
	assert_int_equal(a->total, b->total);
	assert_int_equal(a->min, b->min);
	assert_int_equal(a->max, b->max);
	assert_true(a->sum == b->sum);
	for (uint32_t i = 0; i < HIST_BUCKETS; i++)
		if (a->counts[i] != b->counts[i])
			fail_msg("bucket %u: %llu != %llu", i, (unsigned long long)a->counts[i],
				 (unsigned long long)b->counts[i]);
}

/* Feeds seq[0..n) to a fresh tracker. */
static void track(struct seqtrack *t, const uint64_t *seq, size_t n)
{
	seqtrack_init(t);
	for (size_t i = 0; i < n; i++)
		seqtrack_add(t, seq[i]);
}

static void assert_counts(const struct seqtrack *t, uint64_t received, uint64_t lost,
			  uint64_t duplicates, uint64_t out_of_order)
{
	if (t->received != received || t->lost != lost || t->duplicates != duplicates ||
	    t->out_of_order != out_of_order)
		fail_msg("received/lost/duplicates/out_of_order %llu/%llu/%llu/%llu, "
			 "expected %llu/%llu/%llu/%llu",
			 (unsigned long long)t->received, (unsigned long long)t->lost,
			 (unsigned long long)t->duplicates, (unsigned long long)t->out_of_order,
			 (unsigned long long)received, (unsigned long long)lost,
			 (unsigned long long)duplicates, (unsigned long long)out_of_order);
}

/* ---- histogram: buckets ---- */

static void test_bucket_small_values_exact(void **state)
{
	(void)state;
	/* Below 2 * HIST_SUB every value has a bucket of its own. */
	for (uint64_t v = 0; v < 2 * HIST_SUB; v++) {
		uint32_t b = hist_bucket(v);

		assert_int_equal(hist_bucket_low(b), v);
		assert_int_equal(hist_bucket_high(b), v);
	}
}

static void test_bucket_dense_low_range(void **state)
{
	(void)state;
	for (uint64_t v = 0; v < (1u << 16); v++)
		check_bucket(v);
}

static void test_bucket_powers_of_two(void **state)
{
	(void)state;
	for (uint32_t e = 0; e < RANGE_BITS; e++) {
		uint64_t p = (uint64_t)1 << e;

		check_bucket(p - 1);
		check_bucket(p);
		check_bucket(p + 1);
		/* A power of two starts a bucket; the value below ends one. */
		assert_int_equal(hist_bucket_low(hist_bucket(p)), p);
		assert_int_equal(hist_bucket_high(hist_bucket(p - 1)), p - 1);
	}
	check_bucket(((uint64_t)1 << RANGE_BITS) - 1);
}

static void test_bucket_random_values(void **state)
{
	(void)state;
	/* Uniform in log space, so every power of two gets its share. */
	for (int i = 0; i < 200000; i++) {
		uint32_t bits = (uint32_t)(rng() % RANGE_BITS) + 1;
		uint64_t v = rng() & (((uint64_t)1 << bits) - 1);

		check_bucket(v);
	}
}

/* Buckets tile [0, 2^40) without gap or overlap, in increasing order. */
static void test_bucket_tiling(void **state)
{
	uint32_t last = hist_bucket(((uint64_t)1 << RANGE_BITS) - 1);

	(void)state;
	assert_int_equal(hist_bucket_low(0), 0);
	assert_true(last < HIST_BUCKETS);
	assert_int_equal(hist_bucket_high(last), ((uint64_t)1 << RANGE_BITS) - 1);
	for (uint32_t b = 0; b <= last; b++) {
		uint64_t lo = hist_bucket_low(b), hi = hist_bucket_high(b);

		assert_true(lo <= hi);
		assert_int_equal(hist_bucket(lo), b);
		assert_int_equal(hist_bucket(hi), b);
		if (b > 0)
			assert_int_equal(lo, hist_bucket_high(b - 1) + 1);
	}
}

/* Values beyond the range land in the last bucket and keep min/max exact. */
static void test_bucket_overflow_clamps(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	assert_int_equal(hist_bucket(UINT64_MAX), HIST_BUCKETS - 1);
	assert_int_equal(hist_bucket((uint64_t)1 << 50), HIST_BUCKETS - 1);
	hist_record(h, (uint64_t)1 << 50);
	hist_record(h, 7);
	assert_int_equal(h->counts[HIST_BUCKETS - 1], 1);
	assert_int_equal(h->counts[7], 1);
	assert_int_equal(h->max, (uint64_t)1 << 50);
	assert_int_equal(hist_percentile(h, 100), (uint64_t)1 << 50);
	assert_int_equal(hist_percentile(h, 50), 7);
	free(h);
}

/* ---- histogram: statistics ---- */

static void test_hist_empty(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	assert_int_equal(h->total, 0);
	assert_int_equal(hist_percentile(h, 0), 0);
	assert_int_equal(hist_percentile(h, 50), 0);
	assert_int_equal(hist_percentile(h, 99.9), 0);
	assert_int_equal(hist_percentile(h, 100), 0);
	assert_true(hist_mean(h) == 0.0);
	free(h);
}

static void test_hist_uniform_percentiles(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	for (uint64_t v = 1; v <= 100000; v++)
		hist_record(h, v);
	assert_int_equal(h->total, 100000);
	assert_int_equal(h->min, 1);
	assert_int_equal(h->max, 100000);
	assert_near(hist_percentile(h, 50), 50000, 3.2);
	assert_near(hist_percentile(h, 90), 90000, 3.2);
	assert_near(hist_percentile(h, 99), 99000, 3.2);
	assert_near(hist_percentile(h, 1), 1000, 3.2);
	/* A bucket's highest value is reported: never below the true one. */
	assert_true(hist_percentile(h, 50) >= 50000);
	assert_true(hist_percentile(h, 99) >= 99000);
	assert_int_equal(hist_percentile(h, 100), 100000);
	assert_int_equal(hist_percentile(h, 0), 1);
	assert_true(hist_mean(h) == 50000.5);
	free(h);
}

static void test_hist_two_modes(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	/* 90 fast, 10 slow: p90 is still fast, anything above is slow. */
	for (int i = 0; i < 90; i++)
		hist_record(h, 100);
	for (int i = 0; i < 10; i++)
		hist_record(h, 1000000);
	assert_near(hist_percentile(h, 50), 100, 3.2);
	assert_near(hist_percentile(h, 90), 100, 3.2);
	assert_near(hist_percentile(h, 90.5), 1000000, 3.2);
	/* The slow bucket reaches past the max: clamped to it. */
	assert_int_equal(hist_percentile(h, 99), 1000000);
	assert_int_equal(hist_percentile(h, 100), 1000000);
	assert_int_equal(h->min, 100);
	free(h);
}

static void test_hist_single_value(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	for (int i = 0; i < 3; i++)
		hist_record(h, 123457);
	/* Clamping to [min, max] makes every percentile exact. */
	assert_int_equal(hist_percentile(h, 0), 123457);
	assert_int_equal(hist_percentile(h, 50), 123457);
	assert_int_equal(hist_percentile(h, 99.99), 123457);
	assert_int_equal(hist_percentile(h, 100), 123457);
	assert_true(hist_mean(h) == 123457.0);
	free(h);
}

static void test_hist_mean(void **state)
{
	struct hist *h = hist_new();

	(void)state;
	hist_record(h, 10);
	hist_record(h, 20);
	hist_record(h, 30);
	hist_record(h, 40);
	assert_true(hist_mean(h) == 25.0);
	hist_record(h, 0);
	assert_true(hist_mean(h) == 20.0);
	assert_int_equal(h->min, 0);
	assert_int_equal(h->max, 40);
	free(h);
}

static void test_hist_merge(void **state)
{
	struct hist *a = hist_new(), *b = hist_new(), *all = hist_new(), *empty = hist_new();

	(void)state;
	for (int i = 0; i < 5000; i++) {
		uint64_t v = rng() % 5000000;

		hist_record(i % 3 ? a : b, v);
		hist_record(all, v);
	}
	hist_record(b, 3); /* b holds the min, a the max */
	hist_record(all, 3);
	hist_record(a, 9000000);
	hist_record(all, 9000000);
	hist_merge(a, b);
	/* Integer sums below 2^53 are exact in a double, in any order. */
	assert_hist_equal(a, all);
	for (double p = 0; p <= 100; p += 0.5)
		assert_int_equal(hist_percentile(a, p), hist_percentile(all, p));
	assert_true(hist_mean(a) == hist_mean(all));

	/* Merging an empty one changes nothing; merging into one copies. */
	hist_merge(a, empty);
	assert_hist_equal(a, all);
	hist_merge(empty, all);
	assert_hist_equal(empty, all);
	free(a);
	free(b);
	free(all);
	free(empty);
}

/* ---- sequence tracker ---- */

static void test_seq_in_order(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	for (uint64_t s = 0; s < 10000; s++)
		seqtrack_add(&t, s);
	assert_counts(&t, 10000, 0, 0, 0);
	seqtrack_finish(&t, 10000);
	assert_counts(&t, 10000, 0, 0, 0);
}

static void test_seq_nothing_received(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	seqtrack_finish(&t, 500);
	assert_counts(&t, 0, 500, 0, 0);
	seqtrack_finish(&t, 0); /* nothing sent: nothing lost */
	assert_counts(&t, 0, 500, 0, 0);
}

static void test_seq_drops(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	for (uint64_t s = 0; s < 10000; s++)
		if (s % 10 != 9)
			seqtrack_add(&t, s);
	/* Before the end, a missing m counts once m + WINDOW has arrived:
	 * the highest is 9998, so m <= 8974, i.e. 9, 19, ... 8969. */
	assert_counts(&t, 9000, 897, 0, 0);
	seqtrack_finish(&t, 10000);
	assert_counts(&t, 9000, 1000, 0, 0);
	seqtrack_finish(&t, 10000); /* idempotent */
	assert_counts(&t, 9000, 1000, 0, 0);
}

static void test_seq_lost_tail(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	for (uint64_t s = 0; s < 100; s++)
		seqtrack_add(&t, s);
	seqtrack_finish(&t, 150); /* the last 50 never came */
	assert_counts(&t, 100, 50, 0, 0);
}

static void test_seq_last_one_lost(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	for (uint64_t s = 0; s < 99; s++)
		seqtrack_add(&t, s);
	seqtrack_finish(&t, 100); /* only the very last is missing */
	assert_counts(&t, 99, 1, 0, 0);
}

static void test_seq_duplicates(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	for (uint64_t s = 0; s < 1000; s++) {
		seqtrack_add(&t, s);
		if (s % 100 == 50)
			seqtrack_add(&t, s); /* right away */
	}
	assert_counts(&t, 1010, 0, 10, 0);
	seqtrack_add(&t, 500); /* late, still inside the window */
	seqtrack_add(&t, 0);
	assert_counts(&t, 1012, 0, 12, 0);
	seqtrack_finish(&t, 1000);
	assert_counts(&t, 1012, 0, 12, 0);
}

/* A repeat of a number seen above a hole (not yet slid past). */
static void test_seq_duplicate_above_gap(void **state)
{
	static const uint64_t seq[] = { 0, 2, 3, 3, 2, 1, 4 };
	struct seqtrack t;

	(void)state;
	track(&t, seq, sizeof(seq) / sizeof(seq[0]));
	/* 3 and 2 again are duplicates; 1 after 3 is out of order. */
	assert_counts(&t, 7, 0, 2, 1);
	seqtrack_finish(&t, 5);
	assert_counts(&t, 7, 0, 2, 1);
}

static void test_seq_swapped_pairs(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	for (uint64_t s = 0; s < 1000; s += 2) {
		seqtrack_add(&t, s + 1);
		seqtrack_add(&t, s);
	}
	assert_counts(&t, 1000, 0, 0, 500);
	seqtrack_finish(&t, 1000);
	assert_counts(&t, 1000, 0, 0, 500);
}

static void test_seq_late_arrival(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	for (uint64_t s = 0; s < 100; s++)
		if (s != 50)
			seqtrack_add(&t, s);
	seqtrack_add(&t, 50); /* 49 places late, within the window */
	assert_counts(&t, 100, 0, 0, 1);
	seqtrack_finish(&t, 100);
	assert_counts(&t, 100, 0, 0, 1);
}

static void test_seq_gap_beyond_window(void **state)
{
	struct seqtrack t;
	uint64_t far = 5000;

	(void)state;
	seqtrack_init(&t);
	seqtrack_add(&t, 0);
	seqtrack_add(&t, far);
	/* far moved the window: 1 .. far - WINDOW are counted already. */
	assert_counts(&t, 2, far - SEQTRACK_WINDOW, 0, 0);
	seqtrack_finish(&t, far + 1);
	assert_counts(&t, 2, far - 1, 0, 0);
	/* One older than the window comes late: already counted lost, so it
	 * is reported as a duplicate (seqtrack.h), not as a second arrival. */
	seqtrack_add(&t, 100);
	assert_counts(&t, 3, far - 1, 1, 0);
}

/* The window jumps over numbers seen above a hole: their ring slots must
 * come back clean for the numbers that reuse them. */
static void test_seq_jump_over_seen(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	seqtrack_add(&t, 0);
	for (uint64_t s = 2; s <= 500; s++)
		seqtrack_add(&t, s); /* 1 is missing */
	seqtrack_add(&t, 2000);
	/* next moves to 2000 - WINDOW + 1 = 977: 1 and 501 .. 976 are lost. */
	assert_counts(&t, 501, 1 + 476, 0, 0);
	for (uint64_t s = 977; s < 2000; s++)
		seqtrack_add(&t, s); /* late, but none of them seen before */
	assert_counts(&t, 1524, 477, 0, 1023);
	seqtrack_finish(&t, 2001);
	assert_counts(&t, 1524, 477, 0, 1023);
}

static void test_seq_gap_exactly_window(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	seqtrack_add(&t, 0);
	seqtrack_add(&t, SEQTRACK_WINDOW); /* 1 .. WINDOW-1 still pending */
	assert_counts(&t, 2, 0, 0, 0);
	seqtrack_add(&t, SEQTRACK_WINDOW + 1); /* pushes 1 out */
	assert_counts(&t, 3, 1, 0, 0);
	for (uint64_t s = 2; s < SEQTRACK_WINDOW; s++)
		seqtrack_add(&t, s); /* the rest, late */
	assert_counts(&t, SEQTRACK_WINDOW + 1, 1, 0, SEQTRACK_WINDOW - 2);
	seqtrack_finish(&t, SEQTRACK_WINDOW + 2);
	assert_counts(&t, SEQTRACK_WINDOW + 1, 1, 0, SEQTRACK_WINDOW - 2);
}

/* Drops, duplicates and swaps in one stream, each counted on its own. */
static void test_seq_combined(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	for (uint64_t s = 0; s < 2000; s++) {
		switch (s % 10) {
		case 3: /* lost */
			break;
		case 5: /* duplicated */
			seqtrack_add(&t, s);
			seqtrack_add(&t, s);
			break;
		case 6: /* swapped with 7 */
			seqtrack_add(&t, s + 1);
			seqtrack_add(&t, s);
			break;
		case 7:
			break;
		default:
			seqtrack_add(&t, s);
		}
	}
	seqtrack_finish(&t, 2000);
	assert_counts(&t, 2000, 200, 200, 200);
}

/* A burst of loss longer than the window, then a normal stream again. */
static void test_seq_combined_long_outage(void **state)
{
	struct seqtrack t;

	(void)state;
	seqtrack_init(&t);
	for (uint64_t s = 0; s < 10000; s++) {
		if (s >= 3000 && s < 6000)
			continue; /* 3000 lost in a row */
		seqtrack_add(&t, s);
		if (s == 7000)
			seqtrack_add(&t, 6999); /* a repeat after the outage */
	}
	seqtrack_finish(&t, 10000);
	assert_counts(&t, 7001, 3000, 1, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bucket_small_values_exact),
		cmocka_unit_test(test_bucket_dense_low_range),
		cmocka_unit_test(test_bucket_powers_of_two),
		cmocka_unit_test(test_bucket_random_values),
		cmocka_unit_test(test_bucket_tiling),
		cmocka_unit_test(test_bucket_overflow_clamps),
		cmocka_unit_test(test_hist_empty),
		cmocka_unit_test(test_hist_uniform_percentiles),
		cmocka_unit_test(test_hist_two_modes),
		cmocka_unit_test(test_hist_single_value),
		cmocka_unit_test(test_hist_mean),
		cmocka_unit_test(test_hist_merge),
		cmocka_unit_test(test_seq_in_order),
		cmocka_unit_test(test_seq_nothing_received),
		cmocka_unit_test(test_seq_drops),
		cmocka_unit_test(test_seq_lost_tail),
		cmocka_unit_test(test_seq_last_one_lost),
		cmocka_unit_test(test_seq_duplicates),
		cmocka_unit_test(test_seq_duplicate_above_gap),
		cmocka_unit_test(test_seq_swapped_pairs),
		cmocka_unit_test(test_seq_late_arrival),
		cmocka_unit_test(test_seq_gap_beyond_window),
		cmocka_unit_test(test_seq_jump_over_seen),
		cmocka_unit_test(test_seq_gap_exactly_window),
		cmocka_unit_test(test_seq_combined),
		cmocka_unit_test(test_seq_combined_long_outage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
