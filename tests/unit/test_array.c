/*
 * test_array.c - the array growth rule (base/array.h): the first capacity,
 * doubling, a need above the double, the limit never passed, contents kept,
 * and the abort past the limit.
 */
#include "helpers.h"

#include "base/array.h"

#include <stdint.h>
#include <stdlib.h>

/* array_next_cap(cap, need, elem, first, max) and what it must answer. */
static const struct next_cap_case {
	uint32_t cap;
	size_t need;
	uint32_t first, max, want;
} next_cap_cases[] = {
	/* Holding need already: unchanged (also an empty array asked for 0). */
	{ 0, 0, 8, ARRAY_MAX, 0 },
	{ 8, 5, 16, ARRAY_MAX, 8 },
	{ 8, 8, 16, ARRAY_MAX, 8 },
	/* Empty: the first capacity, doubled while below need. */
	{ 0, 1, 16, ARRAY_MAX, 16 },
	{ 0, 16, 16, ARRAY_MAX, 16 },
	{ 0, 17, 16, ARRAY_MAX, 32 },
	{ 0, 1000, 16, ARRAY_MAX, 1024 },
	{ 0, 1, 0, ARRAY_MAX, 1 }, /* first 0 counts as 1 */
	{ 0, 3, 0, ARRAY_MAX, 4 },
	/* Full: twice the capacity, whatever first says. */
	{ 8, 9, 64, ARRAY_MAX, 16 },
	{ 3, 4, 16, ARRAY_MAX, 6 },
	{ 1000, 1001, 8, ARRAY_MAX, 2000 },
	/* A need above the double: doubled again until it fits. */
	{ 8, 17, 16, ARRAY_MAX, 32 },
	{ 8, 100, 16, ARRAY_MAX, 128 },
	{ 5, 81, 16, ARRAY_MAX, 160 },
	/* Doubling stops at the limit, exactly. */
	{ 8, 9, 4, 12, 12 },
	{ 8, 12, 4, 12, 12 },
	{ 0, 1, 16, 10, 10 }, /* first above max */
	{ 0, 1, 16, 1, 1 },
	{ 600, 601, 4, 1000, 1000 },
	/* Near the top of uint32_t: no wrap-around on the way. */
	{ UINT32_C(1) << 31, (UINT32_C(1) << 31) + 1, 8, ARRAY_MAX, ARRAY_MAX },
	{ 3000000000u, 3000000001u, 8, ARRAY_MAX, ARRAY_MAX },
	{ UINT32_C(1) << 30, (UINT32_C(1) << 30) + 1, 8, UINT32_C(1) << 31, UINT32_C(1) << 31 },
};

static void test_next_cap(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(next_cap_cases) / sizeof(next_cap_cases[0]); i++) {
		const struct next_cap_case *c = &next_cap_cases[i];
		uint32_t got = array_next_cap(c->cap, c->need, 4, c->first, c->max);

		if (got != c->want)
			fail_msg("case %zu: array_next_cap(%u, %zu, 4, %u, %u) = %u, want %u", i,
				 c->cap, c->need, c->first, c->max, got, c->want);
	}
}

static void test_next_cap_steps(void **state)
{
	(void)state;
	/* Growing one at a time from empty: 4, 8, ..., 512, then 1000, never more. */
	uint32_t cap = 0, steps = 0;
	for (uint32_t n = 1; n <= 1000; n++) {
		uint32_t next = array_next_cap(cap, n, 8, 4, 1000);
		assert_true(next >= n && next <= 1000);
		if (next != cap) {
			assert_int_equal(next, cap == 512 ? 1000 : (cap ? cap * 2 : 4));
			steps++;
		}
		cap = next;
	}
	assert_int_equal(cap, 1000);
	assert_int_equal(steps, 9); /* 4 8 16 32 64 128 256 512 1000 */
}

static void test_grow_keeps_contents(void **state)
{
	uint64_t *a = NULL;
	uint32_t cap = 0, n;

	(void)state;
	for (n = 0; n < 5000; n++) {
		uint64_t *before = a;
		uint32_t cap_before = cap;

		a = array_grow(a, &cap, n + 1, sizeof(*a), 16, ARRAY_MAX);
		if (n < cap_before) {
			/* It fitted: nothing moved, nothing changed. */
			assert_ptr_equal(a, before);
			assert_int_equal(cap, cap_before);
		} else {
			assert_int_equal(cap, cap_before ? cap_before * 2 : 16);
		}
		a[n] = (uint64_t)n * 2654435761u;
	}
	assert_int_equal(cap, 8192);
	for (n = 0; n < 5000; n++)
		assert_true(a[n] == (uint64_t)n * 2654435761u);
	/* A need far above the double, in one call. */
	a = array_grow(a, &cap, 100000, sizeof(*a), 16, ARRAY_MAX);
	assert_int_equal(cap, 131072);
	for (n = 0; n < 5000; n++)
		assert_true(a[n] == (uint64_t)n * 2654435761u);
	a[99999] = 1; /* ASan checks the whole need is there */
	free(a);
}

static void test_grow_to_limit(void **state)
{
	uint8_t *a = NULL;
	uint32_t cap = 0;

	(void)state;
	a = array_grow(a, &cap, 300, 1, 256, 700);
	assert_int_equal(cap, 512);
	a = array_grow(a, &cap, 513, 1, 256, 700);
	assert_int_equal(cap, 700);
	a = array_grow(a, &cap, 700, 1, 256, 700);
	assert_int_equal(cap, 700);
	a[699] = 1;
	free(a);
}

/* The macro: elem taken from the type, arr left alone while it fits. */
static void test_array_grow_macro(void **state)
{
	struct pair {
		uint32_t a, b, c;
	} *a = NULL;
	uint32_t cap = 0;

	(void)state;
	for (uint32_t n = 0; n < 70; n++) {
		struct pair *before = a;
		uint32_t cap_before = cap;

		ARRAY_GROW(a, cap, n + 1, 8, 70);
		if (n < cap_before) {
			assert_ptr_equal(a, before);
			assert_int_equal(cap, cap_before);
		} else {
			/* 8, 16, 32, 64, then 70 rather than 128 */
			assert_int_equal(cap, !cap_before ? 8 : cap_before == 64 ? 70 : 2 * cap_before);
		}
		a[n] = (struct pair){ n, 2 * n, 3 * n }; /* ASan: sizeof(*a) was used */
	}
	assert_int_equal(cap, 70);
	for (uint32_t i = 0; i < 70; i++)
		assert_true(a[i].a == i && a[i].b == 2 * i && a[i].c == 3 * i);
	free(a);
}

struct grow_args {
	uint32_t cap;
	size_t need;
	uint32_t max;
};

static void grow_past(void *arg)
{
	struct grow_args *g = arg;
	void *a = array_grow(NULL, &g->cap, g->need, 8, 4, g->max);

	free(a);
}

static void next_cap_past(void *arg)
{
	struct grow_args *g = arg;

	(void)array_next_cap(g->cap, g->need, 8, 4, g->max);
}

static void test_past_the_limit_aborts(void **state)
{
	struct grow_args over = { 0, 701, 700 };
	struct grow_args count_wraps = { 0, (size_t)UINT32_MAX + 1, ARRAY_MAX };
	struct grow_args at_max = { 0, 700, 700 };

	(void)state;
	expect_abort(grow_past, &over, "asked for 701, its limit is 700");
	expect_abort(next_cap_past, &over, "asked for 701, its limit is 700");
	expect_abort(grow_past, &count_wraps, "asked for 4294967296");
	/* Exactly max is allowed: the aborts above are the limit's. */
	grow_past(&at_max);
	assert_int_equal(at_max.cap, 700);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_next_cap),
		cmocka_unit_test(test_next_cap_steps),
		cmocka_unit_test(test_grow_keeps_contents),
		cmocka_unit_test(test_grow_to_limit),
		cmocka_unit_test(test_array_grow_macro),
		cmocka_unit_test(test_past_the_limit_aborts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
