/*
 * test_hmap.c - the open-addressing hash map: insert, replace, lookup,
 * backward-shift deletion under churn, iteration.
 */
#include "helpers.h"

#include "base/hmap.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* A value that carries its own key, as the map's users do. */
struct item {
	char key[24];
	size_t len;
	int id;
	int seen;
};

static struct item *make_items(size_t n)
{
	struct item *items = calloc(n, sizeof(*items));

	assert_non_null(items);
	for (size_t i = 0; i < n; i++) {
		int len = snprintf(items[i].key, sizeof(items[i].key), "key-%zu", i);

		assert_true(len > 0 && (size_t)len < sizeof(items[i].key));
		items[i].len = (size_t)len;
		items[i].id = (int)i;
	}
	return items;
}

static void *get(const struct hmap *m, const struct item *it)
{
	/* Look up through a copy: the map compares bytes, not pointers. */
	char probe[sizeof(it->key)];

	memcpy(probe, it->key, it->len);
	return hmap_get(m, probe, it->len);
}

static void *put(struct hmap *m, struct item *it)
{
	return hmap_put(m, it->key, it->len, it);
}

static void *del(struct hmap *m, const struct item *it)
{
	char probe[sizeof(it->key)];

	memcpy(probe, it->key, it->len);
	return hmap_del(m, probe, it->len);
}

/* Iterate once; each present value must be seen exactly once. */
static uint32_t iterate(const struct hmap *m, struct item *items, size_t n)
{
	uint32_t visits = 0;
	void *v;

	for (size_t i = 0; i < n; i++)
		items[i].seen = 0;
	for (uint32_t pos = 0; hmap_next(m, &pos, &v);) {
		struct item *it = v;

		assert_true(it >= items && it < items + n);
		it->seen++;
		visits++;
	}
	return visits;
}

static void test_empty(void **state)
{
	struct hmap m;
	void *v = NULL;
	uint32_t pos = 0;

	(void)state;
	hmap_init(&m);
	assert_int_equal(m.count, 0);
	assert_null(hmap_get(&m, "a", 1));
	assert_null(hmap_get(&m, "", 0));
	assert_null(hmap_del(&m, "a", 1));
	assert_int_equal(hmap_next(&m, &pos, &v), 0);
	assert_null(v);
	hmap_release(&m);
	hmap_release(&m);
	assert_int_equal(m.count, 0);
}

static void test_put_get_del(void **state)
{
	struct item *items = make_items(3);
	struct hmap m;

	(void)state;
	hmap_init(&m);
	assert_null(put(&m, &items[0]));
	assert_null(put(&m, &items[1]));
	assert_int_equal(m.count, 2);
	assert_ptr_equal(get(&m, &items[0]), &items[0]);
	assert_ptr_equal(get(&m, &items[1]), &items[1]);
	assert_null(get(&m, &items[2]));

	assert_ptr_equal(del(&m, &items[0]), &items[0]);
	assert_int_equal(m.count, 1);
	assert_null(get(&m, &items[0]));
	assert_ptr_equal(get(&m, &items[1]), &items[1]);
	assert_null(del(&m, &items[0]));
	assert_null(del(&m, &items[2]));
	assert_int_equal(m.count, 1);

	/* Removing the last entry leaves a usable, empty map. */
	assert_ptr_equal(del(&m, &items[1]), &items[1]);
	assert_int_equal(m.count, 0);
	assert_null(get(&m, &items[1]));
	assert_null(put(&m, &items[2]));
	assert_ptr_equal(get(&m, &items[2]), &items[2]);
	hmap_release(&m);
	assert_int_equal(m.count, 0);
	assert_null(get(&m, &items[2]));
	free(items);
}

static void test_replace(void **state)
{
	struct item *items = make_items(2);
	struct item other;
	struct hmap m;

	(void)state;
	/* A second value under the same key, stored at another address. */
	other = items[0];
	other.id = 100;

	hmap_init(&m);
	assert_null(put(&m, &items[0]));
	assert_null(put(&m, &items[1]));
	assert_ptr_equal(put(&m, &other), &items[0]);
	assert_int_equal(m.count, 2);
	assert_ptr_equal(get(&m, &items[0]), &other);
	assert_ptr_equal(put(&m, &items[0]), &other);
	assert_ptr_equal(put(&m, &items[0]), &items[0]);
	assert_int_equal(m.count, 2);
	assert_ptr_equal(get(&m, &items[0]), &items[0]);
	assert_ptr_equal(get(&m, &items[1]), &items[1]);

	assert_ptr_equal(del(&m, &items[0]), &items[0]);
	assert_null(get(&m, &other));
	assert_int_equal(m.count, 1);
	hmap_release(&m);
	free(items);
}

static void test_many_keys(void **state)
{
	const size_t n = 10000;
	struct item *items = make_items(n);
	struct hmap m;

	(void)state;
	hmap_init(&m);
	for (size_t i = 0; i < n; i++) {
		assert_null(put(&m, &items[i]));
		assert_int_equal(m.count, i + 1);
	}
	assert_true(m.cap >= n);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(get(&m, &items[i]), &items[i]);

	/* Delete every other key; the rest must survive the backward shifts. */
	for (size_t i = 0; i < n; i += 2)
		assert_ptr_equal(del(&m, &items[i]), &items[i]);
	assert_int_equal(m.count, n / 2);
	for (size_t i = 0; i < n; i++) {
		if (i % 2)
			assert_ptr_equal(get(&m, &items[i]), &items[i]);
		else
			assert_null(get(&m, &items[i]));
	}
	for (size_t i = 0; i < n; i += 2)
		assert_null(del(&m, &items[i]));
	assert_int_equal(m.count, n / 2);

	/* Put them back, then remove everything in reverse order. */
	for (size_t i = 0; i < n; i += 2)
		assert_null(put(&m, &items[i]));
	assert_int_equal(m.count, n);
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(get(&m, &items[i]), &items[i]);
	for (size_t i = n; i-- > 0;) {
		assert_ptr_equal(del(&m, &items[i]), &items[i]);
		if (i % 1000 == 0)
			for (size_t k = 0; k < n; k++)
				assert_true(get(&m, &items[k]) == (k < i ? &items[k] : NULL));
	}
	assert_int_equal(m.count, 0);
	hmap_release(&m);
	free(items);
}

static void test_iteration(void **state)
{
	const size_t n = 1000;
	/* One spare item at the end: a second value for items[1]'s key. */
	struct item *items = make_items(n + 1);
	struct item *other = &items[n];
	struct hmap m;

	(void)state;
	memcpy(other->key, items[1].key, sizeof(other->key));
	other->len = items[1].len;

	hmap_init(&m);
	for (size_t i = 0; i < n; i++)
		put(&m, &items[i]);
	assert_int_equal(iterate(&m, items, n + 1), n);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(items[i].seen, 1);

	/* After removing every third key, only the others are visited. */
	for (size_t i = 0; i < n; i += 3)
		del(&m, &items[i]);
	assert_int_equal(iterate(&m, items, n + 1), m.count);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(items[i].seen, i % 3 ? 1 : 0);

	/* A replaced value is visited in place of the old one. */
	assert_ptr_equal(put(&m, other), &items[1]);
	assert_int_equal(iterate(&m, items, n + 1), m.count);
	assert_int_equal(items[1].seen, 0);
	assert_int_equal(other->seen, 1);

	hmap_release(&m);
	assert_int_equal(iterate(&m, items, n + 1), 0);
	free(items);
}

/* Keys that are prefixes of each other, or differ only after a NUL. */
static void test_prefix_keys(void **state)
{
	static const char bytes[] = "abcdefgh\0\0x";
	static const size_t lens[] = { 0, 1, 2, 3, 4, 8, 9, 10, 11 };
	int values[ARRAY_SIZE(lens)];
	struct hmap m;

	(void)state;
	hmap_init(&m);
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++)
		assert_null(hmap_put(&m, bytes, lens[i], &values[i]));
	assert_int_equal(m.count, ARRAY_SIZE(lens));
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++)
		assert_ptr_equal(hmap_get(&m, bytes, lens[i]), &values[i]);
	assert_null(hmap_get(&m, bytes, 5));
	assert_null(hmap_get(&m, "abd", 3));
	assert_null(hmap_get(&m, "abcdefgh\0y", 10));

	/* Same bytes at another address find the same entry. */
	{
		char copy[sizeof(bytes)];

		memcpy(copy, bytes, sizeof(bytes));
		for (size_t i = 0; i < ARRAY_SIZE(lens); i++)
			assert_ptr_equal(hmap_get(&m, copy, lens[i]), &values[i]);
	}

	/* Removing one length leaves its neighbours alone. */
	assert_ptr_equal(hmap_del(&m, bytes, 2), &values[2]);
	assert_ptr_equal(hmap_del(&m, bytes, 0), &values[0]);
	assert_ptr_equal(hmap_del(&m, bytes, 9), &values[6]);
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		void *want = (i == 0 || i == 2 || i == 6) ? NULL : &values[i];

		assert_ptr_equal(hmap_get(&m, bytes, lens[i]), want);
	}
	hmap_release(&m);
}

/* Distinct keys with the same full hash (FNV-1a): told apart by the bytes. */
static void test_hash_collision(void **state)
{
	/* Pairs with the same FNV-1a hash (found by search), so the same hash
	 * whatever the process's seed: one of equal lengths, one of different
	 * lengths. */
	static const char *const keys[] = { "k2232789", "k2429192", "k32728", "k261234" };
	int values[ARRAY_SIZE(keys)];
	struct hmap m;

	(void)state;
	hmap_init(&m);
	assert_int_equal(hmap_hash(&m, keys[0], 8), hmap_hash(&m, keys[1], 8));
	assert_int_equal(hmap_hash(&m, keys[2], 6), hmap_hash(&m, keys[3], 7));

	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		assert_null(hmap_put(&m, keys[i], strlen(keys[i]), &values[i]));
	assert_int_equal(m.count, ARRAY_SIZE(keys));
	for (size_t i = 0; i < ARRAY_SIZE(keys); i++)
		assert_ptr_equal(hmap_get(&m, keys[i], strlen(keys[i])), &values[i]);

	assert_ptr_equal(hmap_del(&m, keys[0], 8), &values[0]);
	assert_null(hmap_get(&m, keys[0], 8));
	assert_ptr_equal(hmap_get(&m, keys[1], 8), &values[1]);
	assert_ptr_equal(hmap_del(&m, keys[3], 7), &values[3]);
	assert_ptr_equal(hmap_get(&m, keys[2], 6), &values[2]);
	assert_null(hmap_get(&m, keys[3], 7));
	hmap_release(&m);
}

/* A map filled in the iteration order of a full one (a snapshot read back)
 * is as well spread as one filled in key order: no long probe runs. */
static uint32_t longest_run(const struct hmap *m)
{
	uint32_t longest = 0, run = 0;

	for (uint32_t i = 0; i < m->cap; i++) {
		run = m->slots[i].hash ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	return longest;
}

static void test_refill_in_iteration_order(void **state)
{
	enum { N = 500000 };
	char (*keys)[16] = malloc(N * sizeof(*keys));
	uint32_t pos = 0, worst = 0, n = 0;
	struct hmap a, b;
	void *v;

	(void)state;
	assert_non_null(keys);
	hmap_init(&a);
	hmap_init(&b);
	for (int i = 0; i < N; i++) {
		snprintf(keys[i], sizeof(keys[i]), "%d", i);
		hmap_put(&a, keys[i], strlen(keys[i]), keys[i]);
	}
	/* b filled in a's slot order; looked at each time it is as full as it
	 * gets before it grows, where clustering shows. One hash for both
	 * maps made runs of about 10,000 slots here; a random hash's are
	 * some hundreds at most. */
	while (hmap_next(&a, &pos, &v)) {
		hmap_put(&b, v, strlen(v), v);
		n++;
		if ((n + 1) * 4 > b.cap * 3) {
			uint32_t run = longest_run(&b);
			if (run > worst)
				worst = run;
		}
	}
	assert_int_equal(b.count, N);
	assert_true(worst < 1000);
	hmap_release(&a);
	hmap_release(&b);
	free(keys);
}

/* Random inserts, replaces and deletes checked against a plain array. */
static void test_churn(void **state)
{
	const size_t n = 2000;
	struct item *items = make_items(n);
	struct item *alt = make_items(n);
	void **want = calloc(n, sizeof(*want));
	uint32_t count = 0, rng = 12345;
	struct hmap m;

	(void)state;
	assert_non_null(want);
	hmap_init(&m);
	for (int step = 0; step < 200000; step++) {
		size_t k;
		void *prev;

		rng = rng * 1103515245u + 12345u;
		k = (rng >> 8) % n;
		switch ((rng >> 4) % 3) {
		case 0:
		case 1: {
			struct item *v = (rng >> 20) & 1 ? &alt[k] : &items[k];

			prev = put(&m, v);
			assert_ptr_equal(prev, want[k]);
			count += !want[k];
			want[k] = v;
			break;
		}
		default:
			prev = del(&m, &items[k]);
			assert_ptr_equal(prev, want[k]);
			count -= !!want[k];
			want[k] = NULL;
			break;
		}
		assert_int_equal(m.count, count);
		assert_ptr_equal(get(&m, &items[k]), want[k]);
		if (step % 10000 == 0)
			for (size_t i = 0; i < n; i++)
				assert_ptr_equal(get(&m, &items[i]), want[i]);
	}
	for (size_t i = 0; i < n; i++)
		assert_ptr_equal(get(&m, &items[i]), want[i]);
	hmap_release(&m);
	free(want);
	free(alt);
	free(items);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_put_get_del),
		cmocka_unit_test(test_replace),
		cmocka_unit_test(test_many_keys),
		cmocka_unit_test(test_iteration),
		cmocka_unit_test(test_prefix_keys),
		cmocka_unit_test(test_hash_collision),
		cmocka_unit_test(test_refill_in_iteration_order),
		cmocka_unit_test(test_churn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
