/*
 * test_store_rules.c - rules and their records in the SQLite store
 * (store.h): create, read back, update, delete, the list, unique names
 * (ASCII case ignored), what an owner's deletion does (the rule stays,
 * disabled, without an owner; saving it with an owner takes it over),
 * records' pages newest first, and rules surviving a reopen.
 */
#include "helpers.h"

#include "store/store.h"
#include "store_memory.h"
#include "store_files.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SQL "SELECT * FROM \"a/#\""
#define ACTIONS "[{\"type\":\"record\",\"collection\":\"c\"}]"

struct fixture {
	struct store *st;
	int64_t alice, bob;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->st = memory_store();
	f->alice = add_user(f->st, "alice");
	f->bob = add_user(f->st, "bob");
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_free(f->st);
	free(f);
	return 0;
}

/* A rule by owner; its id. */
static int64_t make_rule(struct store *st, const char *name, int64_t owner, int64_t now)
{
	struct store_rule r;
	int64_t id;

	assert_int_equal(store_rule_create(st, name, owner, SQL, ACTIONS, true, now, &r), STORE_OK);
	id = r.id;
	store_rule_release(&r);
	return id;
}

static void test_create_get(void **state)
{
	struct fixture *f = *state;
	struct store_rule r, g;

	assert_int_equal(store_rule_create(f->st, "urgent.mail", f->alice, SQL, ACTIONS, false, 5000,
					   &r),
			 STORE_OK);
	assert_true(r.id > 0);
	assert_string_equal(r.name, "urgent.mail");
	assert_int_equal(r.owner_id, f->alice);
	assert_string_equal(r.owner_name, "alice");
	assert_string_equal(r.sql, SQL);
	assert_string_equal(r.actions, ACTIONS);
	assert_false(r.enabled);
	assert_int_equal(r.created_at, 5000);
	assert_int_equal(r.updated_at, 5000);
	assert_int_equal(store_rule_get(f->st, r.id, &g), STORE_OK);
	assert_int_equal(g.id, r.id);
	assert_string_equal(g.name, r.name);
	assert_string_equal(g.owner_name, "alice");
	assert_false(g.enabled);
	store_rule_release(&g);
	assert_int_equal(store_rule_get(f->st, r.id + 1, &g), STORE_ENOTFOUND);
	assert_int_equal(store_rule_get(f->st, r.id, NULL), STORE_OK);
	store_rule_release(&r);
	store_rule_release(NULL);
	/* out may be NULL */
	assert_int_equal(store_rule_create(f->st, "b", f->bob, SQL, ACTIONS, true, 1, NULL),
			 STORE_OK);
}

static void test_names_unique(void **state)
{
	struct fixture *f = *state;
	struct store_rule_list l;
	int64_t id = make_rule(f->st, "Survey", f->alice, 10);
	int64_t other = make_rule(f->st, "other", f->alice, 10);

	assert_int_equal(store_rule_create(f->st, "survey", f->bob, SQL, ACTIONS, true, 11, NULL),
			 STORE_ECONFLICT);
	assert_int_equal(store_rule_update(f->st, other, "SURVEY", f->alice, SQL, ACTIONS, true, 12,
					   NULL),
			 STORE_ECONFLICT);
	/* A refused write leaves nothing behind, and the transaction ended. */
	assert_int_equal(store_rule_list(f->st, &l), STORE_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[0].id, id);
	assert_string_equal(l.items[1].name, "other");
	assert_int_equal(l.items[1].updated_at, 10);
	store_rule_list_free(&l);
	/* Renaming a rule to its own name in another case is fine. */
	assert_int_equal(store_rule_update(f->st, id, "SURVEY", f->alice, SQL, ACTIONS, true, 13,
					   NULL),
			 STORE_OK);
	/* No such owner. */
	assert_int_equal(store_rule_create(f->st, "x", 999, SQL, ACTIONS, true, 11, NULL),
			 STORE_ENOTFOUND);
}

static void test_update(void **state)
{
	struct fixture *f = *state;
	struct store_rule r;
	int64_t id = make_rule(f->st, "r1", f->alice, 100);

	assert_int_equal(store_rule_update(f->st, id, "r2", f->bob, "SELECT 1 FROM \"b\"", "[]",
					   false, 200, &r),
			 STORE_OK);
	assert_int_equal(r.id, id);
	assert_string_equal(r.name, "r2");
	assert_int_equal(r.owner_id, f->bob);
	assert_string_equal(r.owner_name, "bob");
	assert_string_equal(r.sql, "SELECT 1 FROM \"b\"");
	assert_string_equal(r.actions, "[]");
	assert_false(r.enabled);
	assert_int_equal(r.created_at, 100);
	assert_int_equal(r.updated_at, 200);
	store_rule_release(&r);
	assert_int_equal(store_rule_update(f->st, id + 7, "r3", f->bob, SQL, ACTIONS, true, 300, &r),
			 STORE_ENOTFOUND);
	assert_int_equal(store_rule_update(f->st, id, "r3", 999, SQL, ACTIONS, true, 300, &r),
			 STORE_ENOTFOUND);
	assert_int_equal(store_rule_get(f->st, id, &r), STORE_OK);
	assert_string_equal(r.name, "r2");
	store_rule_release(&r);
}

static void test_delete(void **state)
{
	struct fixture *f = *state;
	struct store_record_list l;
	int64_t id = make_rule(f->st, "r", f->alice, 100);

	assert_int_equal(store_record_add(f->st, "c", id, "{\"a\":1}", 150, NULL), STORE_OK);
	assert_int_equal(store_rule_delete(f->st, id), STORE_OK);
	assert_int_equal(store_rule_get(f->st, id, NULL), STORE_ENOTFOUND);
	assert_int_equal(store_rule_delete(f->st, id), STORE_ENOTFOUND);
	/* Its records stay; the name is free again, under a new id. */
	assert_int_equal(store_record_list(f->st, "c", 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].rule_id, id);
	store_record_list_free(&l);
	assert_true(make_rule(f->st, "r", f->alice, 200) > id);
}

/* The owner's account goes: the rule stays, disabled, owner 0 and no
 * name; another admin saving it takes it over. */
static void test_owner_deleted(void **state)
{
	struct fixture *f = *state;
	struct store_rule r;
	int64_t mine = make_rule(f->st, "mine", f->alice, 100);
	int64_t bobs = make_rule(f->st, "bobs", f->bob, 100);

	assert_int_equal(store_user_delete(f->st, f->alice), STORE_OK);
	assert_int_equal(store_rule_get(f->st, mine, &r), STORE_OK);
	assert_int_equal(r.owner_id, 0);
	assert_null(r.owner_name);
	assert_false(r.enabled);
	assert_string_equal(r.sql, SQL);
	assert_int_equal(r.updated_at, 100);
	store_rule_release(&r);
	/* Bob's rule is untouched. */
	assert_int_equal(store_rule_get(f->st, bobs, &r), STORE_OK);
	assert_true(r.enabled);
	assert_string_equal(r.owner_name, "bob");
	store_rule_release(&r);
	assert_int_equal(store_rule_update(f->st, mine, "mine", f->bob, SQL, ACTIONS, true, 300, &r),
			 STORE_OK);
	assert_true(r.enabled);
	assert_string_equal(r.owner_name, "bob");
	store_rule_release(&r);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct store_rule_list l;

	assert_int_equal(store_rule_list(f->st, &l), STORE_OK);
	assert_int_equal(l.n, 0);
	store_rule_list_free(&l);
	for (int i = 0; i < 30; i++) {
		char name[16];

		snprintf(name, sizeof(name), "r%d", i);
		make_rule(f->st, name, i % 2 ? f->alice : f->bob, 100 + i);
	}
	assert_int_equal(store_rule_list(f->st, &l), STORE_OK);
	assert_int_equal(l.n, 30);
	for (size_t i = 0; i < l.n; i++) {
		char name[32];

		snprintf(name, sizeof(name), "r%zu", i);
		assert_string_equal(l.items[i].name, name);
		assert_string_equal(l.items[i].owner_name, i % 2 ? "alice" : "bob");
		if (i)
			assert_true(l.items[i].id > l.items[i - 1].id);
	}
	store_rule_list_free(&l);
	store_rule_list_free(NULL);
}

/* Pages newest first, each collection on its own, `before` excluded. */
static void test_records(void **state)
{
	struct fixture *f = *state;
	struct store_record_list l;
	int64_t ids[5], other;

	for (int i = 0; i < 5; i++) {
		char data[32];

		snprintf(data, sizeof(data), "{\"n\":%d}", i);
		assert_int_equal(store_record_add(f->st, "tickets", 7, data, 1000 + i, &ids[i]),
				 STORE_OK);
		if (i)
			assert_true(ids[i] > ids[i - 1]);
		if (i == 2)
			assert_int_equal(store_record_add(f->st, "other", 8, "{}", 1, &other),
					 STORE_OK);
	}
	assert_int_equal(store_record_list(f->st, "tickets", 0, 2, &l), STORE_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[0].id, ids[4]);
	assert_string_equal(l.items[0].data, "{\"n\":4}");
	assert_int_equal(l.items[0].rule_id, 7);
	assert_int_equal(l.items[0].created_at, 1004);
	assert_int_equal(l.items[1].id, ids[3]);
	store_record_list_free(&l);
	/* the next page: before the last one seen */
	assert_int_equal(store_record_list(f->st, "tickets", ids[3], 10, &l), STORE_OK);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.items[0].id, ids[2]);
	assert_int_equal(l.items[2].id, ids[0]);
	store_record_list_free(&l);
	assert_int_equal(store_record_list(f->st, "tickets", ids[0], 10, &l), STORE_OK);
	assert_int_equal(l.n, 0);
	store_record_list_free(&l);
	assert_int_equal(store_record_list(f->st, "other", 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].id, other);
	store_record_list_free(&l);
	assert_int_equal(store_record_list(f->st, "none", 0, 10, &l), STORE_OK);
	assert_int_equal(l.n, 0);
	store_record_list_free(&l);
	assert_int_equal(store_record_list(f->st, "tickets", 0, 0, &l), STORE_OK);
	assert_int_equal(l.n, 0);
	store_record_list_free(&l);
	store_record_list_free(NULL);
}

/* Rules and records are committed: a reopened file has them. */
static void test_reopen(void **state)
{
	struct tmp *t = *state;
	struct store *st = open_file(t->db, STORE_SYNC_NORMAL);
	struct store_rule_list l;
	struct store_record_list rl;
	int64_t owner = add_user(st, "alice");

	assert_int_equal(store_schema_version(st), 4);
	make_rule(st, "kept", owner, 10);
	assert_int_equal(store_record_add(st, "c", 1, "{\"x\":true}", 11, NULL), STORE_OK);
	store_free(st);
	st = open_file(t->db, STORE_SYNC_NORMAL);
	assert_int_equal(store_rule_list(st, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_string_equal(l.items[0].name, "kept");
	assert_true(l.items[0].enabled);
	store_rule_list_free(&l);
	assert_int_equal(store_record_list(st, "c", 0, 10, &rl), STORE_OK);
	assert_int_equal(rl.n, 1);
	assert_string_equal(rl.items[0].data, "{\"x\":true}");
	store_record_list_free(&rl);
	store_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_names_unique, setup, teardown),
		cmocka_unit_test_setup_teardown(test_update, setup, teardown),
		cmocka_unit_test_setup_teardown(test_delete, setup, teardown),
		cmocka_unit_test_setup_teardown(test_owner_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_records, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
