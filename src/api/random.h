/*
 * random.h - the seedable random numbers behind GET /api/integer,
 * GET /api/float and POST /api/seed.
 *
 * A pure module: the generator state is a plain struct the caller owns (the
 * server keeps one, shared by every client, as docs/api.md says), there are
 * no globals and no I/O, and nothing here allocates. The same seed gives the
 * same sequences on every machine, so tests and clients can rely on them.
 *
 * The generator is xoshiro256** (Blackman & Vigna): fast, 256 bits of state,
 * good statistical quality. It is NOT cryptographic: anyone who sees enough
 * outputs can predict the next ones, which is fine for a seedable API whose
 * point is reproducibility. Do not use it for tokens or passwords.
 *
 * Conventions:
 *  - Functions return 0 (API_RANDOM_OK) or a negative API_RANDOM_E* code;
 *    api_random_strerror names it in a sentence a 422 body can carry.
 *  - out is written only on success; on error it is untouched and the
 *    generator has not advanced.
 *  - Arguments are checked in a fixed order: n first (EN), then the bounds
 *    (ENOTFINITE for floats, EORDER), then n against the range (ERANGE).
 *  - Not thread-safe: one struct api_random is used from one thread (the
 *    server's loop), or guarded by the caller.
 */
#ifndef AGORA_API_RANDOM_H
#define AGORA_API_RANDOM_H

#include <stdint.h>

/* The most numbers one call returns (docs/api.md: n is 1 to 1000). It also
 * bounds the stack the integer picker uses for its set. */
#define API_RANDOM_MAX_N 1000

enum api_random_err {
	API_RANDOM_OK = 0,
	API_RANDOM_ERANGE = -1,	    /* n larger than the number of integers in [min, max] */
	API_RANDOM_EN = -2,	    /* n < 1 or n > API_RANDOM_MAX_N */
	API_RANDOM_EORDER = -3,	    /* min > max */
	API_RANDOM_ENOTFINITE = -4, /* a float bound is NaN or infinite */
};

/* xoshiro256** state. Never all zero once seeded (the generator would only
 * ever return 0); the seed functions guarantee it. The caller owns it, and
 * may copy it to fork a sequence. */
struct api_random {
	uint64_t s[4];
};

/* Seeds from one 64-bit value, expanded to 256 bits by splitmix64 (the
 * expansion the xoshiro authors recommend). Same seed => same sequences.
 * A JSON seed that is negative is the caller's to convert (e.g. a cast). */
void api_random_seed(struct api_random *r, uint64_t seed);

/* Seeds from libsodium's randombytes (the OS's entropy) for an unseeded
 * start. Calls sodium_init() itself; aborts the process if libsodium cannot
 * initialise, as there is no sane way to continue without entropy. */
void api_random_seed_entropy(struct api_random *r);

/*
 * n distinct integers in [min, max] (both inclusive), in random order, into
 * out, which has room for n. Every n-subset of the range is equally likely,
 * and so is every order of it. Works for any int64 bounds, including
 * INT64_MIN..INT64_MAX (docs/api.md restricts the API to ±2^53).
 * Returns 0, API_RANDOM_EN if n < 1 or n > API_RANDOM_MAX_N,
 * API_RANDOM_EORDER if min > max, API_RANDOM_ERANGE if n > max - min + 1.
 * Expected O(n) time, O(1) extra memory (a fixed 4 KiB on the stack).
 */
int api_random_integers(struct api_random *r, int64_t min, int64_t max, int n, int64_t *out);

/*
 * n numbers uniform in [min, max) into out, which has room for n; each is
 * min + u * (max - min) with u a multiple of 2^-53 in [0, 1). min == max
 * gives min every time. A result that rounding would carry up to max is
 * replaced by the largest double below max, so max is never returned.
 * Returns 0, API_RANDOM_EN if n < 1 or n > API_RANDOM_MAX_N,
 * API_RANDOM_ENOTFINITE if min or max is NaN or infinite, API_RANDOM_EORDER
 * if min > max. Any finite bounds work, even -DBL_MAX..DBL_MAX.
 */
int api_random_floats(struct api_random *r, double min, double max, int n, double *out);

/* A sentence for err ("n must be between 1 and 1000."); static storage,
 * never NULL, also for unknown codes. */
const char *api_random_strerror(int err);

#endif
