/*
 * test_random.c - the seedable random numbers of /api/integer, /api/float
 * and /api/seed: known answers for the generator and its seeding,
 * reproducibility, bounds, distinctness, errors, and rough uniformity.
 *
 * Every statistical check runs on a fixed seed, so it is deterministic: it
 * cannot flake, and its limits are generous enough to pass any correct
 * generator while still catching the classic mistakes (modulo bias, a
 * missing shuffle, an off-by-one bucket).
 */
#include "helpers.h"

#include "api/random.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define TWO_53	      (INT64_C(1) << 53)

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Asserts out[0..n) lie in [min, max] and are pairwise distinct. */
static void assert_distinct_in(const int64_t *out, int n, int64_t min, int64_t max)
{
	int64_t sorted[API_RANDOM_MAX_N];

	for (int i = 0; i < n; i++) {
		assert_true(out[i] >= min);
		assert_true(out[i] <= max);
	}
	memcpy(sorted, out, (size_t)n * sizeof(out[0]));
	qsort(sorted, (size_t)n, sizeof(sorted[0]), cmp_i64);
	for (int i = 1; i < n; i++)
		assert_true(sorted[i - 1] < sorted[i]);
}

/* Pearson's chi-square statistic against equal expected counts. */
static double chi_square(const long *counts, int buckets, long total)
{
	double expect = (double)total / buckets, sum = 0;

	for (int i = 0; i < buckets; i++) {
		double d = (double)counts[i] - expect;

		sum += d * d / expect;
	}
	return sum;
}

/* 9 degrees of freedom: P(chi2 > 40) is about 7e-6 for a fair generator.
 * Modulo bias or a broken shuffle lands in the hundreds or thousands. */
#define CHI2_LIMIT_9DF 40.0

/* The reference code's outputs from the state {1, 2, 3, 4}: proves this is
 * xoshiro256** (computed with an independent implementation). A full-range
 * single integer is the raw output shifted by INT64_MIN. */
static void test_xoshiro_known_answers(void **state)
{
	static const uint64_t want[] = {
	    UINT64_C(0x2d00),
	    UINT64_C(0x0),
	    UINT64_C(0x5a007080),
	    UINT64_C(0x10e0000000009d80),
	    UINT64_C(0x10e0b61ce1009d80),
	    UINT64_C(0x0870021ce143ad00),
	};
	struct api_random r = {{1, 2, 3, 4}};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(want); i++) {
		int64_t v;

		assert_int_equal(api_random_integers(&r, INT64_MIN, INT64_MAX, 1, &v), 0);
		assert_true((uint64_t)v == (want[i] ^ (UINT64_C(1) << 63)));
	}
}

/* splitmix64's published outputs for seed 0, and for 42. */
static void test_seed_is_splitmix64(void **state)
{
	struct api_random r;

	(void)state;
	api_random_seed(&r, 0);
	assert_true(r.s[0] == UINT64_C(0xe220a8397b1dcdaf));
	assert_true(r.s[1] == UINT64_C(0x6e789e6aa1b965f4));
	assert_true(r.s[2] == UINT64_C(0x06c45d188009454f));
	assert_true(r.s[3] == UINT64_C(0xf88bb8a8724c81ec));
	api_random_seed(&r, 42);
	assert_true(r.s[0] == UINT64_C(0xbdd732262feb6e95));
	assert_true(r.s[3] == UINT64_C(0x581ce1ff0e4ae394));
}

/* Floats are the top 53 bits times 2^-53: exact on [0, 1). */
static void test_float_known_answers(void **state)
{
	struct api_random r = {{1, 2, 3, 4}};
	double out[3];

	(void)state;
	assert_int_equal(api_random_floats(&r, 0.0, 1.0, 3, out), 0);
	assert_true(out[0] == 5.0 * 0x1.0p-53);
	assert_true(out[1] == 0.0);
	assert_true(out[2] == (double)(UINT64_C(0x5a007080) >> 11) * 0x1.0p-53);
}

/*
 * What a client sees after POST /api/seed {"seed_value": 42}, computed by an
 * independent reference (Python, exact big-integer products) of the whole
 * pipeline: Lemire's bounds, Floyd's picks, the shuffle, the float scaling.
 * A change here changes every seeded sequence the API has handed out, so it
 * must be deliberate.
 */
static void test_seed_42_known_answers(void **state)
{
	static const int64_t want_small[] = {8, 37, 100, 67, 92};
	static const int64_t want_wide[] = {INT64_C(3286778702398478), INT64_C(1501487681099758),
					    INT64_C(-3770814216475678)};
	static const int64_t want_big[] = {INT64_C(877767229621348), INT64_C(711149944911853),
					   INT64_C(851390083535280), INT64_C(616761542589859)};
	static const double want_float[] = {0x1.1e6fbe36b0cc8p+4, 0x1.5cf502e910e82p+5,
					    0x1.e19c9b4794948p+5};
	struct api_random r;
	int64_t out[5];
	double fout[3];

	(void)state;
	api_random_seed(&r, 42);
	assert_int_equal(api_random_integers(&r, 0, 100, 5, out), 0);
	assert_memory_equal(out, want_small, sizeof(want_small));
	assert_int_equal(api_random_integers(&r, -TWO_53, TWO_53, 3, out), 0);
	assert_memory_equal(out, want_wide, sizeof(want_wide));
	assert_int_equal(api_random_integers(&r, 0, INT64_C(1000000000000000), 4, out), 0);
	assert_memory_equal(out, want_big, sizeof(want_big));
	assert_int_equal(api_random_floats(&r, 0.0, 100.0, 3, fout), 0);
	assert_memory_equal(fout, want_float, sizeof(want_float));
}

static void test_same_seed_same_sequences(void **state)
{
	struct api_random a, b;
	int64_t ia[50], ib[50];
	double fa[50], fb[50];

	(void)state;
	api_random_seed(&a, 12345);
	api_random_seed(&b, 12345);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(api_random_integers(&a, 0, 100, 50, ia), 0);
		assert_int_equal(api_random_integers(&b, 0, 100, 50, ib), 0);
		assert_memory_equal(ia, ib, sizeof(ia));
		assert_int_equal(api_random_floats(&a, -1.5, 2.5, 50, fa), 0);
		assert_int_equal(api_random_floats(&b, -1.5, 2.5, 50, fb), 0);
		assert_memory_equal(fa, fb, sizeof(fa));
	}

	/* Seeding again restarts the sequence (POST /api/seed). */
	int64_t first[50], again[50];

	api_random_seed(&a, 7);
	assert_int_equal(api_random_integers(&a, -1000, 1000, 50, first), 0);
	assert_int_equal(api_random_integers(&a, -1000, 1000, 50, ia), 0);
	api_random_seed(&a, 7);
	assert_int_equal(api_random_integers(&a, -1000, 1000, 50, again), 0);
	assert_memory_equal(first, again, sizeof(first));
}

static void test_different_seeds_differ(void **state)
{
	int64_t firsts[200];

	(void)state;
	/* Neighbouring seeds must not give neighbouring (or equal) streams:
	 * the first full-range output of 200 consecutive seeds all differ. */
	for (int s = 0; s < 200; s++) {
		struct api_random r;

		api_random_seed(&r, (uint64_t)s);
		assert_int_equal(api_random_integers(&r, INT64_MIN, INT64_MAX, 1, &firsts[s]), 0);
	}
	qsort(firsts, ARRAY_SIZE(firsts), sizeof(firsts[0]), cmp_i64);
	for (size_t i = 1; i < ARRAY_SIZE(firsts); i++)
		assert_true(firsts[i - 1] != firsts[i]);

	/* And a whole API-sized answer differs between seeds 1 and 2. */
	struct api_random a, b;
	int64_t ia[10], ib[10];

	api_random_seed(&a, 1);
	api_random_seed(&b, 2);
	assert_int_equal(api_random_integers(&a, 0, 1000000, 10, ia), 0);
	assert_int_equal(api_random_integers(&b, 0, 1000000, 10, ib), 0);
	assert_true(memcmp(ia, ib, sizeof(ia)) != 0);
}

static void test_entropy_seed(void **state)
{
	struct api_random a, b;
	int64_t v;

	(void)state;
	api_random_seed_entropy(&a);
	api_random_seed_entropy(&b);
	assert_true((a.s[0] | a.s[1] | a.s[2] | a.s[3]) != 0);
	/* Two 256-bit draws from the OS coincide with probability 2^-256. */
	assert_memory_not_equal(a.s, b.s, sizeof(a.s));
	assert_int_equal(api_random_integers(&a, 0, 9, 1, &v), 0);
	assert_true(v >= 0 && v <= 9);
}

static void test_integers_bounds_and_distinct(void **state)
{
	static const struct {
		int64_t min, max;
	} ranges[] = {
	    {0, 100},
	    {0, 1000},
	    {1, 2000},
	    {-50, 50},
	    {0, 999},
	    {5, 5},
	    {0, 1},
	    {-1000000, 1000000},
	    {0, INT64_C(1) << 40},
	};
	int64_t out[API_RANDOM_MAX_N];

	(void)state;
	for (uint64_t seed = 0; seed < 40; seed++) {
		struct api_random r;

		api_random_seed(&r, seed);
		for (size_t k = 0; k < ARRAY_SIZE(ranges); k++) {
			int64_t min = ranges[k].min, max = ranges[k].max;
			int64_t size = max - min + 1;
			/* A spread of n up to the range size or the cap. */
			int cap = size < API_RANDOM_MAX_N ? (int)size : API_RANDOM_MAX_N;
			int ns[] = {1, cap < 3 ? cap : 3, cap / 2 > 0 ? cap / 2 : 1, cap};

			for (size_t j = 0; j < ARRAY_SIZE(ns); j++) {
				assert_int_equal(api_random_integers(&r, min, max, ns[j], out), 0);
				assert_distinct_in(out, ns[j], min, max);
			}
		}
	}
}

/* n == the range size: a permutation of the whole range. */
static void test_integers_whole_range_permutation(void **state)
{
	int64_t out[API_RANDOM_MAX_N];
	struct api_random r;
	bool shuffled = false;

	(void)state;
	api_random_seed(&r, 99);
	for (int round = 0; round < 20; round++) {
		assert_int_equal(api_random_integers(&r, -5, 994, 1000, out), 0);
		assert_distinct_in(out, 1000, -5, 994); /* 1000 distinct of 1000 */
		for (int i = 0; i < 1000; i++)
			shuffled |= out[i] != -5 + i;
	}
	assert_true(shuffled);

	int64_t small[5];

	assert_int_equal(api_random_integers(&r, 3, 7, 5, small), 0);
	qsort(small, 5, sizeof(small[0]), cmp_i64);
	for (int i = 0; i < 5; i++)
		assert_int_equal(small[i], 3 + i);

	int64_t one;

	assert_int_equal(api_random_integers(&r, 42, 42, 1, &one), 0);
	assert_int_equal(one, 42);
}

static void test_integers_errors(void **state)
{
	struct api_random r, before;
	int64_t out[4] = {11, 22, 33, 44};
	int64_t *big = malloc((API_RANDOM_MAX_N + 1) * sizeof(*big));

	(void)state;
	assert_non_null(big);
	api_random_seed(&r, 5);
	before = r;

	/* n larger than the range. */
	assert_int_equal(api_random_integers(&r, 0, 2, 4, out), API_RANDOM_ERANGE);
	assert_int_equal(api_random_integers(&r, 7, 7, 2, out), API_RANDOM_ERANGE);
	assert_int_equal(api_random_integers(&r, -TWO_53, -TWO_53 + 998, 1000, big),
			 API_RANDOM_ERANGE);
	assert_int_equal(api_random_integers(&r, INT64_MIN, INT64_MIN + 998, 1000, big),
			 API_RANDOM_ERANGE);
	assert_int_equal(api_random_integers(&r, INT64_MAX - 2, INT64_MAX, 4, out),
			 API_RANDOM_ERANGE);
	/* min > max, including the extremes (no overflow in the check). */
	assert_int_equal(api_random_integers(&r, 1, 0, 1, out), API_RANDOM_EORDER);
	assert_int_equal(api_random_integers(&r, INT64_MAX, INT64_MIN, 1, out), API_RANDOM_EORDER);
	/* n outside 1..1000, checked first. */
	assert_int_equal(api_random_integers(&r, 0, 100, 0, out), API_RANDOM_EN);
	assert_int_equal(api_random_integers(&r, 0, 100, -1, out), API_RANDOM_EN);
	assert_int_equal(api_random_integers(&r, 0, 100000, 1001, big), API_RANDOM_EN);
	assert_int_equal(api_random_integers(&r, 100, 0, 0, out), API_RANDOM_EN);
	assert_int_equal(api_random_integers(&r, 0, 0, 1001, big), API_RANDOM_EN);

	/* A failed call writes nothing and does not advance the generator. */
	assert_int_equal(out[0], 11);
	assert_int_equal(out[3], 44);
	assert_memory_equal(&r, &before, sizeof(r));

	/* Exactly at the limits is fine. */
	assert_int_equal(api_random_integers(&r, INT64_MIN, INT64_MIN + 999, 1000, big), 0);
	assert_distinct_in(big, 1000, INT64_MIN, INT64_MIN + 999);
	assert_int_equal(api_random_integers(&r, INT64_MAX - 3, INT64_MAX, 4, out), 0);
	assert_distinct_in(out, 4, INT64_MAX - 3, INT64_MAX);
	free(big);
}

static void test_integers_negative_ranges(void **state)
{
	int64_t out[51];
	struct api_random r;
	bool seen_low = false, seen_high = false;

	(void)state;
	api_random_seed(&r, 3);
	for (int round = 0; round < 100; round++) {
		assert_int_equal(api_random_integers(&r, -100, -50, 10, out), 0);
		assert_distinct_in(out, 10, -100, -50);
		for (int i = 0; i < 10; i++) {
			seen_low |= out[i] == -100;
			seen_high |= out[i] == -50;
		}
	}
	/* Both ends are reachable: no off-by-one at either bound. */
	assert_true(seen_low);
	assert_true(seen_high);

	assert_int_equal(api_random_integers(&r, -100, -50, 51, out), 0);
	assert_distinct_in(out, 51, -100, -50);
}

/* The API's widest range, ±2^53, and ranges hugging its ends. */
static void test_integers_large_ranges(void **state)
{
	int64_t out[API_RANDOM_MAX_N];
	struct api_random r;
	int negative = 0, beyond_2_52 = 0;

	(void)state;
	api_random_seed(&r, 2024);
	for (int round = 0; round < 5; round++) {
		assert_int_equal(api_random_integers(&r, -TWO_53, TWO_53, 1000, out), 0);
		assert_distinct_in(out, 1000, -TWO_53, TWO_53);
		for (int i = 0; i < 1000; i++) {
			negative += out[i] < 0;
			beyond_2_52 += out[i] > (TWO_53 >> 1) || out[i] < -(TWO_53 >> 1);
		}
	}
	/* Spread over the whole width, not stuck in a corner: about half
	 * negative, about half beyond ±2^52 (5000 draws; sd about 35). */
	assert_in_range(negative, 2200, 2800);
	assert_in_range(beyond_2_52, 2200, 2800);

	assert_int_equal(api_random_integers(&r, TWO_53 - 10, TWO_53, 11, out), 0);
	assert_distinct_in(out, 11, TWO_53 - 10, TWO_53);
	assert_int_equal(api_random_integers(&r, -TWO_53, -TWO_53 + 10, 11, out), 0);
	assert_distinct_in(out, 11, -TWO_53, -TWO_53 + 10);
	assert_int_equal(api_random_integers(&r, -TWO_53, -TWO_53 + 1999, 1000, out), 0);
	assert_distinct_in(out, 1000, -TWO_53, -TWO_53 + 1999);

	/* Beyond the API: the full int64 span, whose size overflows uint64. */
	assert_int_equal(api_random_integers(&r, INT64_MIN, INT64_MAX, 1000, out), 0);
	assert_distinct_in(out, 1000, INT64_MIN, INT64_MAX);
}

/* Single integers in [0, 9]: each digit about 1/10 of the time. */
static void test_integers_uniform(void **state)
{
	long counts[10] = {0};
	struct api_random r;
	const long draws = 20000;

	(void)state;
	api_random_seed(&r, 1);
	for (long i = 0; i < draws; i++) {
		int64_t v;

		assert_int_equal(api_random_integers(&r, 0, 9, 1, &v), 0);
		counts[v]++;
	}
	assert_true(chi_square(counts, 10, draws) < CHI2_LIMIT_9DF);
}

/*
 * A range of 3 * 2^62 values, where the two classic shortcuts are badly
 * biased. x % size puts values in the first third twice as often as the
 * rest (probability 1/2 instead of 1/3). Lemire's multiply-shift without
 * its rejection step maps 4 raw values onto 3, so offsets that are
 * multiples of 3 come out half the time. 3000 draws: about 1000 of each
 * kind, sd about 26; either bias gives about 1500.
 */
static void test_integers_no_modulo_bias(void **state)
{
	const uint64_t third = UINT64_C(1) << 62;
	const int64_t min = INT64_MIN;
	const int64_t max = (int64_t)(third - 1); /* min + 3 * 2^62 - 1 */
	struct api_random r;
	long first_third = 0, multiple_of_3 = 0;

	(void)state;
	api_random_seed(&r, 77);
	for (int i = 0; i < 3000; i++) {
		int64_t v;

		assert_int_equal(api_random_integers(&r, min, max, 1, &v), 0);
		first_third += v < min + (int64_t)third;
		multiple_of_3 += ((uint64_t)v - (uint64_t)min) % 3 == 0;
	}
	assert_in_range(first_third, 850, 1150);
	assert_in_range(multiple_of_3, 850, 1150);
}

/* Each value in every position equally often: the subset is fair and the
 * order is shuffled. Floyd's algorithm alone would put 0 first every time
 * for a whole-range request. */
static void test_integers_positions_uniform(void **state)
{
	long at_first[10] = {0}, at_last[10] = {0}, picked[10] = {0};
	struct api_random r;
	const long rounds = 10000;

	(void)state;
	api_random_seed(&r, 31337);
	for (long i = 0; i < rounds; i++) {
		int64_t out[10];

		assert_int_equal(api_random_integers(&r, 0, 9, 10, out), 0);
		at_first[out[0]]++;
		at_last[out[9]]++;
		assert_int_equal(api_random_integers(&r, 0, 9, 3, out), 0);
		for (int j = 0; j < 3; j++)
			picked[out[j]]++;
	}
	assert_true(chi_square(at_first, 10, rounds) < CHI2_LIMIT_9DF);
	assert_true(chi_square(at_last, 10, rounds) < CHI2_LIMIT_9DF);
	assert_true(chi_square(picked, 10, 3 * rounds) < CHI2_LIMIT_9DF);
}

static void test_floats_bounds(void **state)
{
	static const struct {
		double min, max;
	} ranges[] = {
	    {0, 100},
	    {0, 1},
	    {-1, 1},
	    {-100, -50},
	    {1e-300, 2e-300},
	    {-1e15, 1e15},
	    {-9007199254740992.0, 9007199254740992.0},
	    {-DBL_MAX, DBL_MAX}, /* max - min overflows */
	    {0, DBL_MAX},
	    {-DBL_MAX, 0},
	    {1e308, DBL_MAX},
	};
	double out[API_RANDOM_MAX_N];
	struct api_random r;

	(void)state;
	api_random_seed(&r, 8);
	for (size_t k = 0; k < ARRAY_SIZE(ranges); k++) {
		double min = ranges[k].min, max = ranges[k].max;
		double lo = max, hi = min;

		for (int round = 0; round < 5; round++) {
			assert_int_equal(api_random_floats(&r, min, max, 1000, out), 0);
			for (int i = 0; i < 1000; i++) {
				assert_true(isfinite(out[i]));
				assert_true(out[i] >= min);
				assert_true(out[i] < max);
				lo = fmin(lo, out[i]);
				hi = fmax(hi, out[i]);
			}
		}
		/* 5000 draws cover the range: within 1% of each end. */
		assert_true(lo < min + (max / 100 - min / 100));
		assert_true(hi > max - (max / 100 - min / 100));
	}
}

/* Ranges so narrow that rounding would return max: it never does. */
static void test_floats_narrow_ranges(void **state)
{
	double out[200];
	struct api_random r;

	(void)state;
	api_random_seed(&r, 9);

	double min = nextafter(2.0, 0.0); /* one step below 2, the spacing doubles at 2 */

	assert_int_equal(api_random_floats(&r, min, 2.0, 200, out), 0);
	for (int i = 0; i < 200; i++)
		assert_true(out[i] == min);

	min = 1.0;
	double max = nextafter(nextafter(1.0, 2.0), 2.0); /* two steps: two values */
	bool seen[2] = {false, false};

	assert_int_equal(api_random_floats(&r, min, max, 200, out), 0);
	for (int i = 0; i < 200; i++) {
		assert_true(out[i] >= min && out[i] < max);
		seen[out[i] != min] = true;
	}
	assert_true(seen[0] && seen[1]);

	/* min == max gives min. */
	assert_int_equal(api_random_floats(&r, 3.25, 3.25, 3, out), 0);
	assert_true(out[0] == 3.25 && out[1] == 3.25 && out[2] == 3.25);
	assert_int_equal(api_random_floats(&r, -0.0, 0.0, 1, out), 0);
	assert_true(out[0] == 0.0);
}

static void test_floats_errors(void **state)
{
	struct api_random r, before;
	double out[2] = {1.5, 2.5};

	(void)state;
	api_random_seed(&r, 10);
	before = r;
	assert_int_equal(api_random_floats(&r, 1.0, 0.0, 1, out), API_RANDOM_EORDER);
	assert_int_equal(api_random_floats(&r, DBL_MAX, -DBL_MAX, 1, out), API_RANDOM_EORDER);
	assert_int_equal(api_random_floats(&r, 0, 1, 0, out), API_RANDOM_EN);
	assert_int_equal(api_random_floats(&r, 0, 1, 1001, out), API_RANDOM_EN);
	assert_int_equal(api_random_floats(&r, 0, 1, -5, out), API_RANDOM_EN);
	assert_int_equal(api_random_floats(&r, NAN, 1, 1, out), API_RANDOM_ENOTFINITE);
	assert_int_equal(api_random_floats(&r, 0, NAN, 1, out), API_RANDOM_ENOTFINITE);
	assert_int_equal(api_random_floats(&r, -INFINITY, 0, 1, out), API_RANDOM_ENOTFINITE);
	assert_int_equal(api_random_floats(&r, 0, INFINITY, 1, out), API_RANDOM_ENOTFINITE);
	assert_int_equal(api_random_floats(&r, INFINITY, 0, 1, out), API_RANDOM_ENOTFINITE);
	assert_true(out[0] == 1.5 && out[1] == 2.5);
	assert_memory_equal(&r, &before, sizeof(r));
}

/* 20 000 floats in [-5, 5) into 10 unit buckets: fair to chi-square. */
static void test_floats_uniform(void **state)
{
	long counts[10] = {0};
	double out[1000];
	struct api_random r;

	(void)state;
	api_random_seed(&r, 2);
	for (int round = 0; round < 20; round++) {
		assert_int_equal(api_random_floats(&r, -5.0, 5.0, 1000, out), 0);
		for (int i = 0; i < 1000; i++) {
			int b = (int)floor(out[i] + 5.0);

			assert_in_range(b, 0, 9);
			counts[b]++;
		}
	}
	assert_true(chi_square(counts, 10, 20000) < CHI2_LIMIT_9DF);
}

static void test_strerror(void **state)
{
	static const int codes[] = {API_RANDOM_ERANGE, API_RANDOM_EN, API_RANDOM_EORDER,
				    API_RANDOM_ENOTFINITE};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		const char *msg = api_random_strerror(codes[i]);

		assert_non_null(msg);
		assert_true(strlen(msg) > 10);
		/* Distinct sentences, so a 422 body says which rule broke. */
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(msg, api_random_strerror(codes[j]));
	}
	assert_non_null(strstr(api_random_strerror(API_RANDOM_EN), "1000"));
	assert_non_null(api_random_strerror(-999));
	assert_non_null(api_random_strerror(0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_xoshiro_known_answers),
	    cmocka_unit_test(test_seed_is_splitmix64),
	    cmocka_unit_test(test_float_known_answers),
	    cmocka_unit_test(test_seed_42_known_answers),
	    cmocka_unit_test(test_same_seed_same_sequences),
	    cmocka_unit_test(test_different_seeds_differ),
	    cmocka_unit_test(test_entropy_seed),
	    cmocka_unit_test(test_integers_bounds_and_distinct),
	    cmocka_unit_test(test_integers_whole_range_permutation),
	    cmocka_unit_test(test_integers_errors),
	    cmocka_unit_test(test_integers_negative_ranges),
	    cmocka_unit_test(test_integers_large_ranges),
	    cmocka_unit_test(test_integers_uniform),
	    cmocka_unit_test(test_integers_no_modulo_bias),
	    cmocka_unit_test(test_integers_positions_uniform),
	    cmocka_unit_test(test_floats_bounds),
	    cmocka_unit_test(test_floats_narrow_ranges),
	    cmocka_unit_test(test_floats_errors),
	    cmocka_unit_test(test_floats_uniform),
	    cmocka_unit_test(test_strerror),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
