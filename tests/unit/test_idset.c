/*
 * test_idset.c - the packet-id set (base/idset.h) against a plain bitmap:
 * random churn, every id at once, and removal of what is absent.
 */
#include "helpers.h"

#include "base/idset.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static bool ref[65536];

/* A small deterministic generator: the same run every time. */
static uint32_t next_rand(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void check_all(const struct idset *s, uint32_t count)
{
	assert_int_equal(s->count, count);
	for (uint32_t id = 1; id < 65536; id++)
		assert_int_equal(idset_has(s, (uint16_t)id), ref[id]);
}

static void test_random_churn(void **state)
{
	struct idset s = { 0 };
	uint32_t x = 12345, count = 0;

	(void)state;
	memset(ref, 0, sizeof(ref));
	for (int round = 0; round < 200000; round++) {
		/* Ids from a small range, so adds and removes collide often. */
		uint16_t id = (uint16_t)(1 + next_rand(&x) % 3000);

		if (next_rand(&x) % 3) {
			idset_add(&s, id);
			count += !ref[id];
			ref[id] = true;
		} else {
			assert_int_equal(idset_remove(&s, id), ref[id]);
			count -= ref[id];
			ref[id] = false;
		}
		assert_int_equal(idset_has(&s, id), ref[id]);
		if (round % 50000 == 0)
			check_all(&s, count);
	}
	check_all(&s, count);
	idset_release(&s);
}

static void test_every_id(void **state)
{
	struct idset s = { 0 };

	(void)state;
	memset(ref, 0, sizeof(ref));
	for (uint32_t id = 1; id < 65536; id++) {
		idset_add(&s, (uint16_t)id);
		ref[id] = true;
	}
	check_all(&s, 65535);
	assert_true(s.cap <= 131072); /* at most 4 bytes per id */
	/* Remove in an order unlike the insertion's. */
	for (uint32_t k = 0; k < 65536; k++) {
		uint16_t id = (uint16_t)(k * 40503u);

		if (!id)
			continue;
		assert_true(idset_remove(&s, id));
		ref[id] = false;
	}
	check_all(&s, 0);
	assert_null(s.slots); /* freed once empty */
}

static void test_absent(void **state)
{
	struct idset s = { 0 };

	(void)state;
	assert_false(idset_has(&s, 1));
	assert_false(idset_remove(&s, 1));
	idset_add(&s, 7);
	idset_add(&s, 7); /* twice: counted once */
	assert_int_equal(s.count, 1);
	assert_false(idset_remove(&s, 8));
	assert_true(idset_remove(&s, 7));
	assert_false(idset_remove(&s, 7));
	assert_int_equal(s.count, 0);
	idset_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_random_churn),
		cmocka_unit_test(test_every_id),
		cmocka_unit_test(test_absent),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
