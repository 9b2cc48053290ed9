/*
 * test_poll_watch.c - the poll line protocol's fan-out (server/poll_watch.h):
 * watching and unwatching, marks coalesced until taken, unwatched polls
 * never marked, watchers leaving while their poll is marked, the copy a
 * push goes through, many polls and watchers at once, and closing times.
 */
#include "helpers.h"

#include "server/poll_watch.h"

#include <stdlib.h>

struct taken {
	int64_t id;
	uint32_t n;
};

/* Takes every marked poll: how many, their ids and watcher counts in t. */
static size_t take_all(struct poll_watch_set *s, struct taken *t, size_t cap, void ***buf,
		       uint32_t *bufcap)
{
	size_t k = 0;
	int64_t id;
	uint32_t n;

	while (poll_watch_next_changed(s, &id, buf, bufcap, &n)) {
		assert_true(k < cap);
		t[k].id = id;
		t[k].n = n;
		k++;
	}
	return k;
}

static void test_watch_and_unwatch(void **state)
{
	struct poll_watch_set s;
	int a, b;

	(void)state;
	poll_watch_init(&s);
	assert_true(poll_watch_add(&s, 3, &a));
	assert_false(poll_watch_add(&s, 3, &a)); /* once */
	assert_true(poll_watch_add(&s, 3, &b));
	assert_true(poll_watch_add(&s, 4, &a));
	assert_true(poll_watch_has(&s, 3, &a));
	assert_true(poll_watch_has(&s, 3, &b));
	assert_false(poll_watch_has(&s, 4, &b));
	assert_false(poll_watch_has(&s, 5, &a));
	assert_true(poll_watch_remove(&s, 3, &a));
	assert_false(poll_watch_remove(&s, 3, &a));
	assert_false(poll_watch_remove(&s, 9, &a));
	assert_false(poll_watch_has(&s, 3, &a));
	assert_true(poll_watch_has(&s, 3, &b));
	assert_int_equal(s.polls.count, 2);
	assert_true(poll_watch_remove(&s, 3, &b));
	assert_int_equal(s.polls.count, 1); /* nobody watches 3: its entry went */
	poll_watch_release(&s);
}

static void test_marks_coalesce(void **state)
{
	struct poll_watch_set s;
	struct taken t[8];
	void **buf = NULL;
	uint32_t cap = 0;
	int a, b;

	(void)state;
	poll_watch_init(&s);
	poll_watch_add(&s, 3, &a);
	poll_watch_add(&s, 3, &b);
	poll_watch_add(&s, 4, &a);
	for (int i = 0; i < 100; i++)
		poll_watch_mark(&s, 3); /* a burst of votes in one turn */
	poll_watch_mark(&s, 7); /* nobody watches 7 */
	assert_int_equal(take_all(&s, t, 8, &buf, &cap), 1);
	assert_true(t[0].id == 3);
	assert_int_equal(t[0].n, 2);
	assert_true((buf[0] == &a && buf[1] == &b) || (buf[0] == &b && buf[1] == &a));
	assert_int_equal(take_all(&s, t, 8, &buf, &cap), 0); /* taken: nothing until marked */
	assert_int_equal(s.polls.count, 2);                   /* 7 was never added */
	/* marked again after the take: pushed again */
	poll_watch_mark(&s, 4);
	poll_watch_mark(&s, 3);
	assert_int_equal(take_all(&s, t, 8, &buf, &cap), 2);
	assert_true((t[0].id == 3 && t[1].id == 4) || (t[0].id == 4 && t[1].id == 3));
	free(buf);
	poll_watch_release(&s);
}

/* A watcher leaving between the mark and the take is not pushed to; a
 * poll all of whose watchers left is dropped. */
static void test_watchers_leave_while_marked(void **state)
{
	struct poll_watch_set s;
	struct taken t[8];
	void **buf = NULL;
	uint32_t cap = 0;
	int a, b;

	(void)state;
	poll_watch_init(&s);
	poll_watch_add(&s, 3, &a);
	poll_watch_add(&s, 3, &b);
	poll_watch_add(&s, 4, &a);
	poll_watch_mark(&s, 3);
	poll_watch_mark(&s, 4);
	poll_watch_remove(&s, 3, &a);
	poll_watch_remove(&s, 4, &a);
	assert_int_equal(s.polls.count, 2); /* 4 stays while marked */
	assert_int_equal(take_all(&s, t, 8, &buf, &cap), 1);
	assert_true(t[0].id == 3);
	assert_int_equal(t[0].n, 1);
	assert_ptr_equal(buf[0], &b);
	assert_int_equal(s.polls.count, 1); /* 4 went with its mark */
	/* watched again after leaving: a fresh entry, marked normally */
	poll_watch_add(&s, 4, &b);
	poll_watch_mark(&s, 4);
	assert_int_equal(take_all(&s, t, 8, &buf, &cap), 1);
	assert_true(t[0].id == 4);
	free(buf);
	poll_watch_release(&s);
}

/* The copy handed out stays as it was while the set changes under it. */
static void test_copy_is_stable(void **state)
{
	struct poll_watch_set s;
	void **buf = NULL;
	uint32_t cap = 0, n;
	int64_t id;
	int w[5];

	(void)state;
	poll_watch_init(&s);
	for (int i = 0; i < 5; i++)
		poll_watch_add(&s, 1, &w[i]);
	poll_watch_mark(&s, 1);
	assert_true(poll_watch_next_changed(&s, &id, &buf, &cap, &n));
	assert_int_equal(n, 5);
	for (uint32_t i = 0; i < n; i++)
		assert_true(poll_watch_remove(&s, 1, buf[i])); /* each leaves as it is pushed */
	for (int i = 0; i < 5; i++) {
		bool found = false;

		for (uint32_t k = 0; k < n; k++)
			found = found || buf[k] == &w[i];
		assert_true(found);
	}
	assert_int_equal(s.polls.count, 0);
	free(buf);
	poll_watch_release(&s);
}

/* Many polls, many watchers: each marked poll comes once with all of its
 * watchers; release frees what is left (ASan checks). */
static void test_many(void **state)
{
	enum { POLLS = 300, WATCHERS = 40 };
	static int w[WATCHERS];
	static struct taken t[POLLS];
	struct poll_watch_set s;
	void **buf = NULL;
	uint32_t cap = 0;
	size_t k;
	bool seen[POLLS + 1] = { false };

	(void)state;
	poll_watch_init(&s);
	for (int64_t id = 1; id <= POLLS; id++)
		for (int i = 0; i < WATCHERS; i++)
			if ((id + i) % 3 == 0)
				poll_watch_add(&s, id, &w[i]);
	for (int64_t id = 1; id <= POLLS; id++)
		for (int r = 0; r < 3; r++)
			poll_watch_mark(&s, id);
	k = take_all(&s, t, POLLS, &buf, &cap);
	assert_int_equal(k, POLLS);
	for (size_t i = 0; i < k; i++) {
		uint32_t want = 0;

		assert_true(t[i].id >= 1 && t[i].id <= POLLS && !seen[t[i].id]);
		seen[t[i].id] = true;
		for (int j = 0; j < WATCHERS; j++)
			want += (t[i].id + j) % 3 == 0;
		assert_int_equal(t[i].n, want);
	}
	poll_watch_mark(&s, 5);
	free(buf);
	poll_watch_release(&s); /* with a mark outstanding */
}

/* Closing times: the nearest of the watched polls; those come are marked
 * once and forgotten; a poll nobody watches is not considered. */
static void test_closing_times(void **state)
{
	struct poll_watch_set s;
	struct taken t[8];
	void **buf = NULL;
	uint32_t cap = 0;
	int a, b;

	(void)state;
	poll_watch_init(&s);
	assert_true(poll_watch_next_closing(&s) == 0);
	poll_watch_closing(&s, 9, 500); /* not watched: nothing kept */
	assert_true(poll_watch_next_closing(&s) == 0);
	poll_watch_add(&s, 1, &a);
	poll_watch_add(&s, 2, &a);
	poll_watch_add(&s, 3, &b);
	poll_watch_closing(&s, 1, 3000);
	poll_watch_closing(&s, 2, 1000);
	poll_watch_closing(&s, 3, 2000);
	assert_true(poll_watch_next_closing(&s) == 1000);
	poll_watch_mark_closed(&s, 999); /* nothing due */
	assert_int_equal(take_all(&s, t, 8, &buf, &cap), 0);
	poll_watch_mark_closed(&s, 2000); /* 2 and 3 */
	assert_int_equal(take_all(&s, t, 8, &buf, &cap), 2);
	assert_true(t[0].id + t[1].id == 5);
	assert_true(poll_watch_next_closing(&s) == 3000);
	poll_watch_mark_closed(&s, 2500); /* marked once: 2 and 3 are forgotten */
	assert_int_equal(take_all(&s, t, 8, &buf, &cap), 0);
	poll_watch_closing(&s, 1, 0); /* closed by its creator meanwhile */
	assert_true(poll_watch_next_closing(&s) == 0);
	poll_watch_closing(&s, 3, 4000);
	poll_watch_remove(&s, 3, &b); /* its last watcher leaves */
	assert_true(poll_watch_next_closing(&s) == 0);
	poll_watch_mark_closed(&s, 5000);
	assert_int_equal(take_all(&s, t, 8, &buf, &cap), 0);
	free(buf);
	poll_watch_release(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_watch_and_unwatch),
		cmocka_unit_test(test_marks_coalesce),
		cmocka_unit_test(test_watchers_leave_while_marked),
		cmocka_unit_test(test_copy_is_stable),
		cmocka_unit_test(test_many),
		cmocka_unit_test(test_closing_times),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
