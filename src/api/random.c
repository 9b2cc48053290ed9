/*
 * random.c - xoshiro256** seeded by splitmix64, unbiased bounded integers
 * (Lemire), distinct picks (Floyd + a small hash set + Fisher-Yates) and
 * 53-bit floats. See random.h for the contract.
 */
#include "api/random.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

/* The set of picks holds at most API_RANDOM_MAX_N values at a load of at
 * most 1/2, so probes stay short; 2048 is the power of two above 2 * 1000. */
#define PICK_SET_CAP 2048

#define STR_(x) #x
#define STR(x)	STR_(x)
_Static_assert(PICK_SET_CAP >= 2 * API_RANDOM_MAX_N, "pick set too small for API_RANDOM_MAX_N");
_Static_assert(API_RANDOM_MAX_N < UINT16_MAX, "pick set slots are uint16_t indexes");

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

/* xoshiro256** 1.0, as in the authors' reference code (prng.di.unimi.it). */
static uint64_t next_u64(struct api_random *r)
{
	uint64_t *s = r->s;
	uint64_t result = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));

	z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
	return z ^ (z >> 31);
}

void api_random_seed(struct api_random *r, uint64_t seed)
{
	/* splitmix64 is a bijection of its counter, so four consecutive
	 * outputs are distinct and the state can never be all zero. Nearby
	 * seeds (0, 1, 2...) still give unrelated states. */
	for (int i = 0; i < 4; i++)
		r->s[i] = splitmix64(&seed);
}

void api_random_seed_entropy(struct api_random *r)
{
	/* Safe to call repeatedly; it makes randombytes thread-safe. Without
	 * it libsodium makes no promise, and a server that silently serves a
	 * fixed sequence would be worse than one that stops. */
	if (sodium_init() < 0)
		abort();
	/* All 256 bits from the OS rather than one 64-bit seed expanded. The
	 * all-zero state is a fixed point of xoshiro; redraw (p = 2^-256). */
	do {
		randombytes_buf(r->s, sizeof(r->s));
	} while ((r->s[0] | r->s[1] | r->s[2] | r->s[3]) == 0);
}

/* The high and low halves of the 128-bit product a * b, in portable C
 * (no __int128), from four 32x32 -> 64 products. */
static uint64_t mul_128(uint64_t a, uint64_t b, uint64_t *lo)
{
	uint64_t a_lo = a & 0xffffffffu, a_hi = a >> 32;
	uint64_t b_lo = b & 0xffffffffu, b_hi = b >> 32;
	uint64_t p0 = a_lo * b_lo, p1 = a_lo * b_hi, p2 = a_hi * b_lo, p3 = a_hi * b_hi;
	/* Three 32-bit quantities: the sum fits in 64 bits without carry. */
	uint64_t mid = (p0 >> 32) + (p1 & 0xffffffffu) + (p2 & 0xffffffffu);

	*lo = (mid << 32) | (p0 & 0xffffffffu);
	return p3 + (p1 >> 32) + (p2 >> 32) + (mid >> 32);
}

/*
 * Uniform in [0, last] (last inclusive, so the full 2^64 range is
 * expressible). Lemire's "nearly divisionless" method: the high word of
 * x * s is a value in [0, s); the low word tells whether x fell in one of
 * the 2^64 mod s leftover slots that would make some values more likely
 * than others, and those draws are redrawn. Fewer than one draw in two is
 * redrawn in the worst case, and the division runs only on the rare path.
 */
static uint64_t bounded(struct api_random *r, uint64_t last)
{
	if (last == UINT64_MAX)
		return next_u64(r);

	uint64_t s = last + 1;
	uint64_t lo;
	uint64_t hi = mul_128(next_u64(r), s, &lo);

	if (lo < s) {
		uint64_t threshold = (0 - s) % s; /* 2^64 mod s */

		while (lo < threshold)
			hi = mul_128(next_u64(r), s, &lo);
	}
	return hi;
}

/*
 * min + off, for an off known to keep the sum within [min, INT64_MAX].
 * Computed without signed overflow or an out-of-range unsigned-to-signed
 * conversion (implementation-defined in C11), so it holds for INT64_MIN.
 */
static int64_t add_offset(int64_t min, uint64_t off)
{
	if (min >= 0)
		return min + (int64_t)off; /* off <= INT64_MAX - min */

	uint64_t mag = (uint64_t)(-(min + 1)) + 1; /* |min|, even for INT64_MIN */

	if (off >= mag)
		return (int64_t)(off - mag);  /* non-negative, <= max */
	return -(int64_t)(mag - off - 1) - 1; /* -(mag - off), mag - off <= 2^63 */
}

/*
 * The values picked so far, as an open-addressing set with linear probing.
 * A slot holds 1 + an index into the output array (0 = empty), so the set
 * costs 4 KiB of stack whatever the range, and the values live only once.
 */
struct pick_set {
	uint16_t slot[PICK_SET_CAP];
	uint32_t mask;
	const int64_t *vals;
};

static void pick_set_init(struct pick_set *set, int n, const int64_t *vals)
{
	uint32_t cap = 16;

	while (cap < 2 * (uint32_t)n)
		cap *= 2;
	set->mask = cap - 1;
	set->vals = vals;
	memset(set->slot, 0, cap * sizeof(set->slot[0]));
}

/* Fibonacci hashing: the multiply spreads consecutive values (the usual
 * case, a narrow range) over the whole table; the top bits are the best. */
static uint32_t pick_set_home(const struct pick_set *set, int64_t v)
{
	uint64_t h = (uint64_t)v * UINT64_C(0x9e3779b97f4a7c15);

	return (uint32_t)(h >> 32) & set->mask;
}

static bool pick_set_has(const struct pick_set *set, int64_t v)
{
	for (uint32_t i = pick_set_home(set, v);; i = (i + 1) & set->mask) {
		uint16_t s = set->slot[i];

		if (s == 0)
			return false;
		if (set->vals[s - 1] == v)
			return true;
	}
}

/* Adds vals[idx], known to be absent. The load stays <= 1/2, so there is
 * always an empty slot. */
static void pick_set_add(struct pick_set *set, int idx)
{
	uint32_t i = pick_set_home(set, set->vals[idx]);

	while (set->slot[i] != 0)
		i = (i + 1) & set->mask;
	set->slot[i] = (uint16_t)(idx + 1);
}

int api_random_integers(struct api_random *r, int64_t min, int64_t max, int n, int64_t *out)
{
	if (n < 1 || n > API_RANDOM_MAX_N)
		return API_RANDOM_EN;
	if (min > max)
		return API_RANDOM_EORDER;

	/* The count of integers minus one: exact in uint64 (two's-complement
	 * wrap-around is defined for unsigned), even for the full int64 span,
	 * whose count 2^64 itself would not fit. */
	uint64_t last = (uint64_t)max - (uint64_t)min;

	if ((uint64_t)(n - 1) > last)
		return API_RANDOM_ERANGE;

	/*
	 * Floyd's algorithm: for j over the top n offsets of the range, pick t
	 * in [0, j] and take t, or j if t is already taken. Every n-subset comes
	 * out equally likely, with exactly n draws and no memory proportional
	 * to the range (which can be 2^64 wide), unlike shuffling the range.
	 */
	struct pick_set set;

	pick_set_init(&set, n, out);
	for (int i = 0; i < n; i++) {
		uint64_t j = last - (uint64_t)(n - 1 - i);
		int64_t v = add_offset(min, bounded(r, j));

		if (pick_set_has(&set, v))
			v = add_offset(min, j); /* j is above every earlier pick */
		out[i] = v;
		pick_set_add(&set, i);
	}

	/* Floyd's subset comes out in a telling order (with n == the range
	 * size, out[0] is always min), so shuffle it: Fisher-Yates. */
	for (int i = n - 1; i > 0; i--) {
		int k = (int)bounded(r, (uint64_t)i);
		int64_t tmp = out[i];

		out[i] = out[k];
		out[k] = tmp;
	}
	return API_RANDOM_OK;
}

int api_random_floats(struct api_random *r, double min, double max, int n, double *out)
{
	if (n < 1 || n > API_RANDOM_MAX_N)
		return API_RANDOM_EN;
	/* Checked before the order: NaN compares false with everything. */
	if (!isfinite(min) || !isfinite(max))
		return API_RANDOM_ENOTFINITE;
	if (min > max)
		return API_RANDOM_EORDER;

	if (min == max) {
		for (int i = 0; i < n; i++)
			out[i] = min;
		return API_RANDOM_OK;
	}

	double span = max - min;
	/* The largest double below max: where rounding up to max lands. */
	double below = nextafter(max, min); /* min < max here */

	for (int i = 0; i < n; i++) {
		/* The top 53 bits (xoshiro's best), scaled exactly: u is one of
		 * 2^53 evenly spaced doubles in [0, 1). */
		double u = (double)(next_u64(r) >> 11) * 0x1.0p-53;
		double x;

		if (isfinite(span))
			x = min + u * span;
		else /* max - min overflowed (bounds near ±DBL_MAX): interpolate,
		      * each term finite and of opposite sign, and >= min. */
			x = min * (1.0 - u) + max * u;
		/* u < 1, but the rounded sum can still reach max when the span
		 * is large next to max's spacing. Never return max itself. */
		out[i] = x < max ? x : below;
	}
	return API_RANDOM_OK;
}

const char *api_random_strerror(int err)
{
	switch (err) {
	case API_RANDOM_OK: return "Success.";
	case API_RANDOM_ERANGE:
		return "n is larger than the number of integers between min and max.";
	case API_RANDOM_EN: return "n must be between 1 and " STR(API_RANDOM_MAX_N) ".";
	case API_RANDOM_EORDER: return "min must not be greater than max.";
	case API_RANDOM_ENOTFINITE: return "min and max must be finite numbers.";
	default: return "Unknown random number error.";
	}
}
