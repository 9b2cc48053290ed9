/*
 * store_memory.h - a store in memory with accounts in it, for the tests of
 * what sits on the store (test_store_polls.c, test_store_rules.c,
 * test_polls.c). Include after cmocka.h and store/store.h.
 */
#ifndef AGORA_TEST_STORE_MEMORY_H
#define AGORA_TEST_STORE_MEMORY_H

#include <stdint.h>

/* A fresh store in memory (fails the test if it cannot open). */
static inline struct store *memory_store(void)
{
	struct store *st = NULL;
	char err[256] = "";

	assert_int_equal(store_open(":memory:", STORE_SYNC_NORMAL, &st, err, sizeof(err)),
			 STORE_OK);
	return st;
}

/* An account called name; its id. */
static inline int64_t add_user(struct store *st, const char *name)
{
	struct store_user u;
	int64_t id;

	assert_int_equal(store_user_create(st, name, "hash", 1000, &u), STORE_OK);
	id = u.id;
	store_user_release(&u);
	return id;
}

#endif
