/*
 * test_ring.c - the ring buffer (base/ring.h): push, pop and element i with
 * the head at every position of every small capacity, growth across the
 * wrap point keeping the order, the limit respected, and random churn
 * against a plain array.
 */
#include "helpers.h"

#include "base/ring.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Elements of an odd size (24 bytes, like the broker's struct inflight). */
struct item {
	uint64_t seq;
	uint32_t check;
	uint8_t tag;
};

static struct item *item_at(const struct ring *r, uint32_t i)
{
	return ring_at(r, i, sizeof(struct item));
}

/* Pushes seq, growing a full ring as session.c does. */
static void push(struct ring *r, uint64_t seq, uint32_t first, uint32_t max)
{
	struct item *it;

	if (ring_full(r))
		ring_grow(r, sizeof(struct item), first, max);
	assert_false(ring_full(r));
	it = ring_push(r, sizeof(struct item));
	it->seq = seq;
	it->check = (uint32_t)(seq * 2654435761u);
	it->tag = (uint8_t)seq;
}

/* Pops the head, which must be seq. */
static void pop_expect(struct ring *r, uint64_t seq)
{
	struct item *it = ring_head(r, sizeof(struct item));

	assert_ptr_equal(it, item_at(r, 0));
	assert_true(it->seq == seq);
	ring_pop(r);
}

/* The ring holds first, first + 1, ..., first + len - 1, in order. */
static void check_run(const struct ring *r, uint64_t first, uint32_t len)
{
	const struct item *walk = len ? ring_head(r, sizeof(struct item)) : NULL;

	assert_int_equal(r->len, len);
	assert_true(r->len <= r->cap);
	assert_true(r->head < r->cap || r->cap == 0);
	for (uint32_t i = 0; i < len; i++) {
		const struct item *it = item_at(r, i);

		/* The walk by pointer meets the same elements. */
		assert_ptr_equal(walk, it);
		walk = ring_next(r, walk, sizeof(struct item));

		assert_true(it->seq == first + i);
		assert_int_equal(it->check, (uint32_t)((first + i) * 2654435761u));
		assert_int_equal(it->tag, (uint8_t)(first + i));
		/* Element i lives at array index (head + i) mod cap. */
		assert_ptr_equal(it, (struct item *)r->slots + (r->head + i) % r->cap);
	}
}

static void test_empty(void **state)
{
	struct ring r = { 0 };

	(void)state;
	assert_int_equal(r.len, 0);
	assert_null(r.slots);
	ring_release(&r); /* nothing to free */
	push(&r, 7, 4, 100);
	assert_int_equal(r.cap, 4);
	check_run(&r, 7, 1);
	pop_expect(&r, 7);
	check_run(&r, 8, 0);
	ring_release(&r);
	assert_null(r.slots);
	assert_int_equal(r.cap, 0);
	assert_int_equal(r.head, 0);
}

/*
 * For every capacity 1..12 and every head position: fill the ring to full
 * with the head there (so the elements wrap at every possible point), check
 * every element, grow it by one push (re-linearised: head 0, order kept),
 * then drain it.
 */
static void test_every_position(void **state)
{
	(void)state;
	for (uint32_t cap = 1; cap <= 12; cap++) {
		for (uint32_t h = 0; h < cap; h++) {
			struct ring r = { 0 };
			uint64_t next = 0, first;

			/* Reach capacity cap exactly: first = max = cap. */
			push(&r, next++, cap, cap);
			assert_int_equal(r.cap, cap);
			pop_expect(&r, 0);
			/* Move the head on by h: over all h, every position. */
			for (uint32_t i = 0; i < h; i++) {
				push(&r, next++, cap, cap);
				pop_expect(&r, next - 1);
			}
			assert_int_equal(r.head, (h + 1) % cap);
			first = next;
			for (uint32_t i = 0; i < cap; i++) {
				push(&r, next++, cap, cap);
				check_run(&r, first, i + 1);
			}
			assert_int_equal(r.cap, cap);
			/* Full: one more push grows it (double, up to 2 * cap). */
			push(&r, next++, cap, 2 * cap);
			assert_int_equal(r.cap, 2 * cap);
			assert_int_equal(r.head, 0);
			check_run(&r, first, cap + 1);
			/* Drain, across the new array's end too. */
			for (uint32_t i = 0; i <= cap; i++) {
				pop_expect(&r, first + i);
				check_run(&r, first + i + 1, cap - i);
			}
			ring_release(&r);
		}
	}
}

/* The capacity doubles from first and stops at max, never past it. */
static void test_grow_to_the_limit(void **state)
{
	static const uint32_t caps[] = { 4, 4, 4, 4, 8, 8, 8, 8, 16 };
	struct ring r = { 0 };
	uint64_t next = 0;

	(void)state;
	for (uint32_t i = 0; i < 9; i++) {
		push(&r, next++, 4, 1000);
		assert_int_equal(r.cap, caps[i]);
	}
	/* Pop some so the contents wrap before each later growth. */
	for (uint32_t i = 0; i < 5; i++)
		pop_expect(&r, i);
	while (r.len < 1000) {
		push(&r, next++, 4, 1000);
		assert_true(r.cap <= 1000);
	}
	assert_int_equal(r.cap, 1000);
	check_run(&r, 5, 1000);
	/* At the limit: push after pop reuses the slots, the capacity stays. */
	for (uint32_t i = 0; i < 2500; i++) {
		pop_expect(&r, 5 + i);
		push(&r, next++, 4, 1000);
		assert_int_equal(r.cap, 1000);
	}
	check_run(&r, 2505, 1000);
	ring_release(&r);
}

static void test_truncate(void **state)
{
	struct ring r = { 0 };
	uint64_t next = 0;

	(void)state;
	for (uint32_t i = 0; i < 6; i++)
		push(&r, next++, 8, 8);
	for (uint32_t i = 0; i < 6; i++)
		pop_expect(&r, i);
	for (uint32_t i = 0; i < 7; i++)
		push(&r, next++, 8, 8); /* 6..12, wrapping after 7 */
	/* Keep the even ones, compacted in place as session.c does. */
	uint32_t kept = 0;
	for (uint32_t i = 0; i < r.len; i++) {
		struct item it = *item_at(&r, i);

		if (it.seq % 2 == 0)
			*item_at(&r, kept++) = it;
	}
	ring_truncate(&r, kept);
	assert_int_equal(r.len, 4);
	for (uint32_t i = 0; i < 4; i++)
		assert_true(item_at(&r, i)->seq == 6 + 2 * i);
	ring_release(&r);
}

/* Random pushes and pops against a plain array holding the same run. */
static void test_random_churn(void **state)
{
	struct ring r = { 0 };
	uint64_t head_seq = 0, next = 0;
	uint32_t x = 2463534242u, max = 777;

	(void)state;
	for (int round = 0; round < 200000; round++) {
		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		/* Pushes slightly more likely, so the ring fills, empties and
		 * sits at its limit in turn. */
		bool do_push = r.len == 0 || (r.len < max && x % 100 < (round / 20000 % 2 ? 60 : 40));

		if (do_push)
			push(&r, next++, 2, max);
		else
			pop_expect(&r, head_seq++);
		assert_int_equal(r.len, next - head_seq);
		assert_true(r.cap <= max);
		if (round % 997 == 0)
			check_run(&r, head_seq, r.len);
	}
	check_run(&r, head_seq, r.len);
	ring_release(&r);
}

static void push_past(void *arg)
{
	struct ring *r = arg;

	push(r, 99, 2, r->cap); /* full, and max is its capacity */
}

static void test_push_past_the_limit_aborts(void **state)
{
	struct ring r = { 0 };

	(void)state;
	for (uint64_t i = 0; i < 6; i++)
		push(&r, i, 2, 6);
	assert_int_equal(r.cap, 6);
	expect_abort(push_past, &r, "asked for 7, its limit is 6");
	ring_release(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_empty),
		cmocka_unit_test(test_every_position),
		cmocka_unit_test(test_grow_to_the_limit),
		cmocka_unit_test(test_truncate),
		cmocka_unit_test(test_random_churn),
		cmocka_unit_test(test_push_past_the_limit_aborts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
