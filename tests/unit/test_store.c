/*
 * test_store.c - the SQLite store behind store.h: users (case-insensitive
 * names), SCRAM credentials, tokens, messages and their visibility to each
 * side, listing order, filters and pagination, and the file itself:
 * migrations, reopen, a newer schema, a path that cannot be opened.
 */
#include "helpers.h"

#include "store/store.h"
#include "store_files.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* An in-memory store with three users. */
struct fixture {
	struct store *st;
	struct store_user alice, bob, carol;
};

static struct store *open_memory(void)
{
	struct store *st = NULL;
	char err[256] = "";

	assert_int_equal(store_open(":memory:", STORE_SYNC_NORMAL, &st, err, sizeof(err)),
			 STORE_OK);
	assert_non_null(st);
	return st;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->st = open_memory();
	assert_int_equal(store_user_create(f->st, "alice", "hash-a", 1000, &f->alice), STORE_OK);
	assert_int_equal(store_user_create(f->st, "bob", "hash-b", 1001, &f->bob), STORE_OK);
	assert_int_equal(store_user_create(f->st, "carol", "hash-c", 1002, &f->carol), STORE_OK);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	store_user_release(&f->alice);
	store_user_release(&f->bob);
	store_user_release(&f->carol);
	store_free(f->st);
	free(f);
	return 0;
}

static void make_hash(uint8_t hash[STORE_TOKEN_HASH_LEN], uint8_t seed)
{
	for (size_t i = 0; i < STORE_TOKEN_HASH_LEN; i++)
		hash[i] = (uint8_t)(seed + i * 7);
}

/* Sends a message and gives its id. */
static int64_t send_msg(struct fixture *f, const struct store_user *from,
			const struct store_user *to, const char *content, int64_t now)
{
	struct store_message m;
	int64_t id;

	assert_int_equal(store_message_create(f->st, from->id, to->id, content, now, &m), STORE_OK);
	id = m.id;
	store_message_release(&m);
	return id;
}

static struct store_message_list list_box(struct fixture *f, const struct store_user *u,
					  enum store_box box, int64_t since, bool unread,
					  int64_t limit, int64_t offset)
{
	struct store_message_query q = {
		.user_id = u->id,
		.box = box,
		.since = since,
		.unread_only = unread,
		.limit = limit,
		.offset = offset,
	};
	struct store_message_list l;

	assert_int_equal(store_message_list(f->st, &q, &l), STORE_OK);
	return l;
}

/* ---- basics ---- */

static void test_strerror(void **state)
{
	static const int codes[] = { STORE_OK,	STORE_ENOTFOUND, STORE_ECONFLICT,
				     STORE_EIO, STORE_EVERSION,	 STORE_EOPEN };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(codes); i++) {
		const char *s = store_strerror(codes[i]);

		assert_non_null(s);
		assert_true(strlen(s) > 0);
		for (size_t j = 0; j < i; j++)
			assert_string_not_equal(s, store_strerror(codes[j]));
	}
	assert_non_null(store_strerror(-1000));
}

static void test_open_memory(void **state)
{
	struct store *st = open_memory();

	(void)state;
	assert_true(store_schema_version(st) >= 1);
	store_free(st);
	store_free(NULL);
}

static void test_release_null(void **state)
{
	struct store_user u = { 0 };
	struct store_message m = { 0 };
	struct store_user_list ul = { 0 };
	struct store_message_list ml = { 0 };

	(void)state;
	store_user_release(NULL);
	store_user_release(&u);
	store_message_release(NULL);
	store_message_release(&m);
	store_user_list_free(NULL);
	store_user_list_free(&ul);
	store_message_list_free(NULL);
	store_message_list_free(&ml);
	assert_null(u.name);
	assert_null(m.content);
	assert_int_equal(ul.n, 0);
	assert_int_equal(ml.n, 0);
}

/* ---- users ---- */

static void test_user_create_lookup(void **state)
{
	struct fixture *f = *state;
	struct store_user u;
	static const char *const spellings[] = { "alice", "ALICE", "Alice", "aLiCe" };

	assert_true(f->alice.id > 0);
	assert_true(f->bob.id != f->alice.id);
	assert_string_equal(f->alice.name, "alice");
	assert_string_equal(f->alice.status, "");
	assert_int_equal(f->alice.status_updated_at, 0);
	assert_int_equal(f->alice.created_at, 1000);

	assert_int_equal(store_user_by_id(f->st, f->bob.id, &u), STORE_OK);
	assert_int_equal(u.id, f->bob.id);
	assert_string_equal(u.name, "bob");
	assert_int_equal(u.created_at, 1001);
	store_user_release(&u);

	for (size_t i = 0; i < ARRAY_SIZE(spellings); i++) {
		assert_int_equal(store_user_by_name(f->st, spellings[i], &u), STORE_OK);
		assert_int_equal(u.id, f->alice.id);
		assert_string_equal(u.name, "alice"); /* as created */
		store_user_release(&u);
	}

	/* A miss leaves the output alone. */
	memset(&u, 0x5a, sizeof(u));
	assert_int_equal(store_user_by_name(f->st, "dave", &u), STORE_ENOTFOUND);
	assert_int_equal(store_user_by_id(f->st, 9999, &u), STORE_ENOTFOUND);
	assert_int_equal(u.id, 0x5a5a5a5a5a5a5a5a);
	/* Prefixes and extensions are other names. */
	assert_int_equal(store_user_by_name(f->st, "alic", NULL), STORE_ENOTFOUND);
	assert_int_equal(store_user_by_name(f->st, "alice2", NULL), STORE_ENOTFOUND);
}

static void test_user_conflict_case(void **state)
{
	struct fixture *f = *state;
	struct store_user u;
	char hash[64];
	int64_t id = 0;

	memset(&u, 0x5a, sizeof(u));
	assert_int_equal(store_user_create(f->st, "ALICE", "other", 2000, &u), STORE_ECONFLICT);
	assert_int_equal(store_user_create(f->st, "Bob", "other", 2000, &u), STORE_ECONFLICT);
	assert_int_equal(u.id, 0x5a5a5a5a5a5a5a5a);
	/* The first account is untouched. */
	assert_int_equal(store_user_password(f->st, "alice", &id, hash, sizeof(hash)), STORE_OK);
	assert_string_equal(hash, "hash-a");
	/* A name that only shares a prefix is fine; so is a NULL out. */
	assert_int_equal(store_user_create(f->st, "alice_2", "h", 2000, NULL), STORE_OK);
	assert_int_equal(store_user_by_name(f->st, "ALICE_2", NULL), STORE_OK);
}

static void test_user_password(void **state)
{
	struct fixture *f = *state;
	char hash[64];
	char exact[7]; /* "hash-c" and its NUL */
	char tiny[6];
	int64_t id = -1;

	assert_int_equal(store_user_password(f->st, "BoB", &id, hash, sizeof(hash)), STORE_OK);
	assert_int_equal(id, f->bob.id);
	assert_string_equal(hash, "hash-b");

	/* Exactly enough room; one byte less is too little. */
	assert_int_equal(store_user_password(f->st, "carol", &id, exact, sizeof(exact)), STORE_OK);
	assert_string_equal(exact, "hash-c");
	assert_int_equal(id, f->carol.id);

	id = -1;
	memset(tiny, 'x', sizeof(tiny));
	assert_int_equal(store_user_password(f->st, "alice", &id, tiny, sizeof(tiny)), STORE_EIO);
	assert_int_equal(id, -1);
	assert_memory_equal(tiny, "xxxxxx", sizeof(tiny));

	assert_int_equal(store_user_password(f->st, "nobody", &id, hash, sizeof(hash)),
			 STORE_ENOTFOUND);
	assert_int_equal(id, -1);
}

static void test_user_status(void **state)
{
	struct fixture *f = *state;
	struct store_user u;

	assert_int_equal(store_user_set_status(f->st, f->alice.id, "coding", 5000), STORE_OK);
	assert_int_equal(store_user_by_id(f->st, f->alice.id, &u), STORE_OK);
	assert_string_equal(u.status, "coding");
	assert_int_equal(u.status_updated_at, 5000);
	store_user_release(&u);

	assert_int_equal(store_user_set_status(f->st, f->alice.id, "", 6000), STORE_OK);
	assert_int_equal(store_user_by_name(f->st, "alice", &u), STORE_OK);
	assert_string_equal(u.status, "");
	assert_int_equal(u.status_updated_at, 6000);
	store_user_release(&u);

	/* Others are untouched; an unknown id is not found. */
	assert_int_equal(store_user_by_id(f->st, f->bob.id, &u), STORE_OK);
	assert_string_equal(u.status, "");
	assert_int_equal(u.status_updated_at, 0);
	store_user_release(&u);
	assert_int_equal(store_user_set_status(f->st, 9999, "x", 7000), STORE_ENOTFOUND);
}

static void test_user_list(void **state)
{
	struct fixture *f = *state;
	struct store_user_list l;
	static const char *const more[] = { "dave", "erin" };
	int64_t ids[5] = { f->alice.id, f->bob.id, f->carol.id };

	for (size_t i = 0; i < ARRAY_SIZE(more); i++) {
		struct store_user u;

		assert_int_equal(store_user_create(f->st, more[i], "h", 3000, &u), STORE_OK);
		ids[3 + i] = u.id;
		store_user_release(&u);
	}

	assert_int_equal(store_user_list(f->st, 2, 0, &l), STORE_OK);
	assert_int_equal(l.total, 5);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[0].id, ids[0]);
	assert_string_equal(l.items[0].name, "alice");
	assert_int_equal(l.items[1].id, ids[1]);
	store_user_list_free(&l);
	assert_null(l.items);

	assert_int_equal(store_user_list(f->st, 2, 4, &l), STORE_OK);
	assert_int_equal(l.total, 5);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].id, ids[4]);
	assert_string_equal(l.items[0].name, "erin");
	store_user_list_free(&l);

	assert_int_equal(store_user_list(f->st, 100, 0, &l), STORE_OK);
	assert_int_equal(l.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_int_equal(l.items[i].id, ids[i]);
	store_user_list_free(&l);

	assert_int_equal(store_user_list(f->st, 10, 5, &l), STORE_OK);
	assert_int_equal(l.total, 5);
	assert_int_equal(l.n, 0);
	store_user_list_free(&l);
}

static void test_user_list_empty(void **state)
{
	struct store *st = open_memory();
	struct store_user_list l;

	(void)state;
	memset(&l, 0x5a, sizeof(l));
	assert_int_equal(store_user_list(st, 50, 0, &l), STORE_OK);
	assert_int_equal(l.total, 0);
	assert_int_equal(l.n, 0);
	store_user_list_free(&l);
	store_free(st);
}

/* ---- SCRAM credentials ---- */

static void make_scram(struct store_scram *c, uint8_t seed, uint32_t iterations)
{
	for (size_t i = 0; i < STORE_SCRAM_SALT_LEN; i++)
		c->salt[i] = (uint8_t)(seed + i);
	for (size_t i = 0; i < STORE_SCRAM_KEY_LEN; i++) {
		c->stored_key[i] = (uint8_t)(seed * 3 + i);
		c->server_key[i] = (uint8_t)(seed * 5 + i);
	}
	c->iterations = iterations;
}

static void assert_scram_equal(const struct store_scram *a, const struct store_scram *b)
{
	assert_memory_equal(a->salt, b->salt, STORE_SCRAM_SALT_LEN);
	assert_int_equal(a->iterations, b->iterations);
	assert_memory_equal(a->stored_key, b->stored_key, STORE_SCRAM_KEY_LEN);
	assert_memory_equal(a->server_key, b->server_key, STORE_SCRAM_KEY_LEN);
}

static void test_scram(void **state)
{
	struct fixture *f = *state;
	struct store_scram a, b, got, untouched;

	make_scram(&a, 1, 4096);
	make_scram(&b, 2, 100000);
	memset(&untouched, 0x5a, sizeof(untouched));
	got = untouched;
	/* None yet; no such user. */
	assert_int_equal(store_user_scram(f->st, "alice", &got), STORE_ENOTFOUND);
	assert_int_equal(store_user_scram(f->st, "nobody", &got), STORE_ENOTFOUND);
	assert_int_equal(store_user_set_scram(f->st, 9999, &a), STORE_ENOTFOUND);
	assert_memory_equal(&got, &untouched, sizeof(got));

	assert_int_equal(store_user_set_scram(f->st, f->alice.id, &a), STORE_OK);
	assert_int_equal(store_user_scram(f->st, "ALICE", &got), STORE_OK);
	assert_scram_equal(&got, &a);
	/* Per user. */
	assert_int_equal(store_user_scram(f->st, "bob", &got), STORE_ENOTFOUND);
	/* Setting again replaces. */
	assert_int_equal(store_user_set_scram(f->st, f->alice.id, &b), STORE_OK);
	assert_int_equal(store_user_scram(f->st, "alice", &got), STORE_OK);
	assert_scram_equal(&got, &b);

	/* Gone with the user, not inherited by a new account of that name. */
	assert_int_equal(store_user_delete(f->st, f->alice.id), STORE_OK);
	assert_int_equal(store_user_create(f->st, "alice", "h", 2000, NULL), STORE_OK);
	assert_int_equal(store_user_scram(f->st, "alice", &got), STORE_ENOTFOUND);
}

/* ---- tokens ---- */

static void test_tokens(void **state)
{
	struct fixture *f = *state;
	uint8_t h1[STORE_TOKEN_HASH_LEN], h2[STORE_TOKEN_HASH_LEN], h3[STORE_TOKEN_HASH_LEN];
	int64_t uid = -1;

	make_hash(h1, 1);
	make_hash(h2, 2);
	make_hash(h3, 3);
	assert_int_equal(store_token_add(f->st, f->alice.id, h1, 100), STORE_OK);
	assert_int_equal(store_token_add(f->st, f->alice.id, h2, 101), STORE_OK);
	assert_int_equal(store_token_add(f->st, f->alice.id, h1, 102), STORE_ECONFLICT);
	/* No such user. */
	assert_int_equal(store_token_add(f->st, 9999, h3, 103), STORE_ENOTFOUND);

	assert_int_equal(store_token_user(f->st, h1, &uid), STORE_OK);
	assert_int_equal(uid, f->alice.id);
	uid = -1;
	assert_int_equal(store_token_user(f->st, h3, &uid), STORE_ENOTFOUND);
	assert_int_equal(uid, -1);

	assert_int_equal(store_token_delete(f->st, h1), STORE_OK);
	assert_int_equal(store_token_user(f->st, h1, &uid), STORE_ENOTFOUND);
	assert_int_equal(store_token_delete(f->st, h1), STORE_ENOTFOUND);
	/* The other token still works. */
	assert_int_equal(store_token_user(f->st, h2, &uid), STORE_OK);
	assert_int_equal(uid, f->alice.id);
}

static void test_user_delete_cascades(void **state)
{
	struct fixture *f = *state;
	uint8_t ha[STORE_TOKEN_HASH_LEN], hb[STORE_TOKEN_HASH_LEN];
	int64_t uid;
	struct store_user u;
	struct store_message_list l;
	int64_t to_bob, from_bob, kept, newest;

	make_hash(ha, 10);
	make_hash(hb, 20);
	assert_int_equal(store_token_add(f->st, f->alice.id, ha, 100), STORE_OK);
	assert_int_equal(store_token_add(f->st, f->bob.id, hb, 100), STORE_OK);
	to_bob = send_msg(f, &f->alice, &f->bob, "to bob", 200);
	from_bob = send_msg(f, &f->bob, &f->alice, "from bob", 201);
	kept = send_msg(f, &f->bob, &f->carol, "bob to carol", 202);

	assert_int_equal(store_user_delete(f->st, f->alice.id), STORE_OK);
	assert_int_equal(store_user_by_id(f->st, f->alice.id, NULL), STORE_ENOTFOUND);
	assert_int_equal(store_user_by_name(f->st, "alice", NULL), STORE_ENOTFOUND);
	assert_int_equal(store_token_user(f->st, ha, &uid), STORE_ENOTFOUND);
	assert_int_equal(store_message_get(f->st, to_bob, f->bob.id, NULL), STORE_ENOTFOUND);
	assert_int_equal(store_message_get(f->st, from_bob, f->bob.id, NULL), STORE_ENOTFOUND);
	assert_int_equal(store_user_delete(f->st, f->alice.id), STORE_ENOTFOUND);

	/* Bob keeps his account, his token and his other conversation. */
	assert_int_equal(store_token_user(f->st, hb, &uid), STORE_OK);
	assert_int_equal(uid, f->bob.id);
	assert_int_equal(store_message_get(f->st, kept, f->bob.id, NULL), STORE_OK);
	l = list_box(f, &f->bob, STORE_INBOX, 0, false, 50, 0);
	assert_int_equal(l.total, 0);
	store_message_list_free(&l);
	l = list_box(f, &f->bob, STORE_SENT, 0, false, 50, 0);
	assert_int_equal(l.total, 1);
	assert_int_equal(l.items[0].id, kept);
	store_message_list_free(&l);

	/* The name is free again, and the new account gets a new id. */
	assert_int_equal(store_user_create(f->st, "Alice", "new", 300, &u), STORE_OK);
	assert_true(u.id != f->alice.id);
	assert_int_equal(store_message_get(f->st, to_bob, u.id, NULL), STORE_ENOTFOUND);
	store_user_release(&u);
	/* Not even the newest id is reused: a session or cache still holding
	 * it must not come to mean someone else. */
	assert_int_equal(store_user_create(f->st, "dave", "h", 400, &u), STORE_OK);
	newest = u.id;
	store_user_release(&u);
	assert_int_equal(store_user_delete(f->st, newest), STORE_OK);
	assert_int_equal(store_user_create(f->st, "erin", "h", 401, &u), STORE_OK);
	assert_true(u.id > newest);
	store_user_release(&u);
}

/* ---- messages ---- */

static void test_message_create_get(void **state)
{
	struct fixture *f = *state;
	const struct store_user *sides[] = { &f->alice, &f->bob };
	struct store_message m, g;

	assert_int_equal(store_message_create(f->st, f->alice.id, f->bob.id, "hello", 500, &m),
			 STORE_OK);
	assert_true(m.id > 0);
	assert_int_equal(m.from_id, f->alice.id);
	assert_int_equal(m.to_id, f->bob.id);
	assert_string_equal(m.from_name, "alice");
	assert_string_equal(m.to_name, "bob");
	assert_string_equal(m.content, "hello");
	assert_int_equal(m.created_at, 500);
	assert_int_equal(m.read_at, 0);

	for (size_t i = 0; i < ARRAY_SIZE(sides); i++) {
		assert_int_equal(store_message_get(f->st, m.id, sides[i]->id, &g), STORE_OK);
		assert_int_equal(g.id, m.id);
		assert_int_equal(g.from_id, f->alice.id);
		assert_int_equal(g.to_id, f->bob.id);
		assert_string_equal(g.from_name, "alice");
		assert_string_equal(g.to_name, "bob");
		assert_string_equal(g.content, "hello");
		assert_int_equal(g.created_at, 500);
		store_message_release(&g);
	}

	/* Carol is neither side; a missing id is missing for everyone. */
	memset(&g, 0x5a, sizeof(g));
	assert_int_equal(store_message_get(f->st, m.id, f->carol.id, &g), STORE_ENOTFOUND);
	assert_int_equal(store_message_get(f->st, m.id + 100, f->alice.id, &g), STORE_ENOTFOUND);
	assert_int_equal(g.id, 0x5a5a5a5a5a5a5a5a);

	/* To or from nobody. */
	assert_int_equal(store_message_create(f->st, f->alice.id, 9999, "x", 501, &g),
			 STORE_ENOTFOUND);
	assert_int_equal(store_message_create(f->st, 9999, f->alice.id, "x", 501, &g),
			 STORE_ENOTFOUND);
	assert_int_equal(g.id, 0x5a5a5a5a5a5a5a5a);
	store_message_release(&m);
}

static void test_message_set_read(void **state)
{
	struct fixture *f = *state;
	struct store_message m;
	int64_t id = send_msg(f, &f->alice, &f->bob, "read me", 600);

	/* Only bob, the recipient. */
	assert_int_equal(store_message_set_read(f->st, id, f->alice.id, true, 700),
			 STORE_ENOTFOUND);
	assert_int_equal(store_message_set_read(f->st, id, f->carol.id, true, 700),
			 STORE_ENOTFOUND);
	assert_int_equal(store_message_get(f->st, id, f->bob.id, &m), STORE_OK);
	assert_int_equal(m.read_at, 0);
	store_message_release(&m);

	assert_int_equal(store_message_set_read(f->st, id, f->bob.id, true, 700), STORE_OK);
	assert_int_equal(store_message_get(f->st, id, f->alice.id, &m), STORE_OK);
	assert_int_equal(m.read_at, 700);
	store_message_release(&m);

	assert_int_equal(store_message_set_read(f->st, id, f->bob.id, false, 800), STORE_OK);
	assert_int_equal(store_message_get(f->st, id, f->bob.id, &m), STORE_OK);
	assert_int_equal(m.read_at, 0);
	store_message_release(&m);

	assert_int_equal(store_message_set_read(f->st, id + 100, f->bob.id, true, 900),
			 STORE_ENOTFOUND);
	/* Once bob deleted it, he cannot mark it either. */
	assert_int_equal(store_message_delete(f->st, id, f->bob.id), STORE_OK);
	assert_int_equal(store_message_set_read(f->st, id, f->bob.id, true, 900), STORE_ENOTFOUND);
}

static void test_message_delete_sides(void **state)
{
	struct fixture *f = *state;
	struct store_message m;
	int64_t id = send_msg(f, &f->alice, &f->bob, "delete me", 1000);
	int64_t next;

	assert_int_equal(store_message_delete(f->st, id, f->carol.id), STORE_ENOTFOUND);
	assert_int_equal(store_message_delete(f->st, id, f->alice.id), STORE_OK);
	assert_int_equal(store_message_get(f->st, id, f->alice.id, NULL), STORE_ENOTFOUND);
	assert_int_equal(store_message_delete(f->st, id, f->alice.id), STORE_ENOTFOUND);
	/* Bob still has it. */
	assert_int_equal(store_message_get(f->st, id, f->bob.id, &m), STORE_OK);
	assert_string_equal(m.content, "delete me");
	store_message_release(&m);

	/* The row is kept: the next message gets a new id (SQLite reuses the
	 * largest rowid only once that row is gone). */
	next = send_msg(f, &f->carol, &f->bob, "next", 1001);

	assert_true(next > id);
	assert_int_equal(store_message_delete(f->st, next, f->carol.id), STORE_OK);
	assert_int_equal(store_message_delete(f->st, next, f->bob.id), STORE_OK);
	assert_int_equal(store_message_get(f->st, next, f->bob.id, NULL), STORE_ENOTFOUND);
	assert_int_equal(store_message_get(f->st, next, f->carol.id, NULL), STORE_ENOTFOUND);
	/* Both sides deleted it: the row itself went, so its id is free. */
	assert_int_equal(send_msg(f, &f->carol, &f->bob, "again", 1002), next);

	assert_int_equal(store_message_delete(f->st, id, f->bob.id), STORE_OK);
	assert_int_equal(store_message_get(f->st, id, f->bob.id, NULL), STORE_ENOTFOUND);
	assert_int_equal(store_message_delete(f->st, id, f->bob.id), STORE_ENOTFOUND);
}

static void test_message_to_self(void **state)
{
	struct fixture *f = *state;
	struct store_message_list l;
	int64_t id = send_msg(f, &f->alice, &f->alice, "note to self", 1000);

	l = list_box(f, &f->alice, STORE_INBOX, 0, false, 50, 0);
	assert_int_equal(l.total, 1);
	assert_string_equal(l.items[0].to_name, "alice");
	store_message_list_free(&l);
	l = list_box(f, &f->alice, STORE_SENT, 0, false, 50, 0);
	assert_int_equal(l.total, 1);
	store_message_list_free(&l);
	/* One delete covers both sides. */
	assert_int_equal(store_message_delete(f->st, id, f->alice.id), STORE_OK);
	l = list_box(f, &f->alice, STORE_INBOX, 0, false, 50, 0);
	assert_int_equal(l.total, 0);
	store_message_list_free(&l);
	l = list_box(f, &f->alice, STORE_SENT, 0, false, 50, 0);
	assert_int_equal(l.total, 0);
	store_message_list_free(&l);
}

static void test_message_list_order(void **state)
{
	struct fixture *f = *state;
	struct store_message_list l;
	/* Out of time order, with a tie at 300 broken by id. */
	int64_t a = send_msg(f, &f->alice, &f->bob, "a", 300);
	int64_t b = send_msg(f, &f->carol, &f->bob, "b", 100);
	int64_t c = send_msg(f, &f->alice, &f->bob, "c", 300);
	int64_t d = send_msg(f, &f->carol, &f->bob, "d", 200);
	int64_t e = send_msg(f, &f->bob, &f->alice, "e", 250);
	const int64_t inbox[] = { c, a, d, b };

	l = list_box(f, &f->bob, STORE_INBOX, 0, false, 50, 0);
	assert_int_equal(l.total, 4);
	assert_int_equal(l.n, 4);
	for (size_t i = 0; i < ARRAY_SIZE(inbox); i++) {
		assert_int_equal(l.items[i].id, inbox[i]);
		assert_int_equal(l.items[i].to_id, f->bob.id);
		assert_string_equal(l.items[i].to_name, "bob");
	}
	assert_string_equal(l.items[0].from_name, "alice");
	assert_string_equal(l.items[0].content, "c");
	assert_string_equal(l.items[2].from_name, "carol");
	assert_int_equal(l.items[2].created_at, 200);
	store_message_list_free(&l);

	l = list_box(f, &f->alice, STORE_SENT, 0, false, 50, 0);
	assert_int_equal(l.total, 2);
	assert_int_equal(l.items[0].id, c);
	assert_int_equal(l.items[1].id, a);
	assert_string_equal(l.items[1].from_name, "alice");
	assert_string_equal(l.items[1].to_name, "bob");
	store_message_list_free(&l);

	l = list_box(f, &f->alice, STORE_INBOX, 0, false, 50, 0);
	assert_int_equal(l.total, 1);
	assert_int_equal(l.items[0].id, e);
	assert_string_equal(l.items[0].from_name, "bob");
	store_message_list_free(&l);

	/* Carol received nothing. */
	memset(&l, 0x5a, sizeof(l));
	l = list_box(f, &f->carol, STORE_INBOX, 0, false, 50, 0);
	assert_int_equal(l.total, 0);
	assert_int_equal(l.n, 0);
	store_message_list_free(&l);
}

static void test_message_list_filters(void **state)
{
	struct fixture *f = *state;
	struct store_message_list l;
	int64_t ids[6];

	for (size_t i = 0; i < ARRAY_SIZE(ids); i++)
		ids[i] = send_msg(f, &f->alice, &f->bob, "m", 100 * (int64_t)(i + 1));
	/* Bob reads 100 and 400; he deletes 300; alice deletes 600. */
	assert_int_equal(store_message_set_read(f->st, ids[0], f->bob.id, true, 1000), STORE_OK);
	assert_int_equal(store_message_set_read(f->st, ids[3], f->bob.id, true, 1000), STORE_OK);
	assert_int_equal(store_message_delete(f->st, ids[2], f->bob.id), STORE_OK);
	assert_int_equal(store_message_delete(f->st, ids[5], f->alice.id), STORE_OK);

	/* Bob's inbox: 600 500 400 200 100. */
	l = list_box(f, &f->bob, STORE_INBOX, 0, false, 50, 0);
	assert_int_equal(l.total, 5);
	assert_int_equal(l.items[0].id, ids[5]);
	assert_int_equal(l.items[2].id, ids[3]);
	assert_int_equal(l.items[2].read_at, 1000);
	assert_int_equal(l.items[3].id, ids[1]);
	store_message_list_free(&l);

	/* since is exclusive. */
	l = list_box(f, &f->bob, STORE_INBOX, 400, false, 50, 0);
	assert_int_equal(l.total, 2);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[0].id, ids[5]);
	assert_int_equal(l.items[1].id, ids[4]);
	store_message_list_free(&l);

	/* Unread: 600 500 200. */
	l = list_box(f, &f->bob, STORE_INBOX, 0, true, 50, 0);
	assert_int_equal(l.total, 3);
	assert_int_equal(l.items[0].id, ids[5]);
	assert_int_equal(l.items[1].id, ids[4]);
	assert_int_equal(l.items[2].id, ids[1]);
	for (size_t i = 0; i < l.n; i++)
		assert_int_equal(l.items[i].read_at, 0);
	store_message_list_free(&l);

	/* Both: unread after 150: 600 500 200. After 500: 600. */
	l = list_box(f, &f->bob, STORE_INBOX, 150, true, 50, 0);
	assert_int_equal(l.total, 3);
	store_message_list_free(&l);
	l = list_box(f, &f->bob, STORE_INBOX, 500, true, 50, 0);
	assert_int_equal(l.total, 1);
	assert_int_equal(l.items[0].id, ids[5]);
	store_message_list_free(&l);

	/* Pages of two: total is the whole match. */
	l = list_box(f, &f->bob, STORE_INBOX, 0, false, 2, 2);
	assert_int_equal(l.total, 5);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[0].id, ids[3]);
	assert_int_equal(l.items[1].id, ids[1]);
	store_message_list_free(&l);
	l = list_box(f, &f->bob, STORE_INBOX, 0, false, 2, 4);
	assert_int_equal(l.total, 5);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].id, ids[0]);
	store_message_list_free(&l);
	l = list_box(f, &f->bob, STORE_INBOX, 0, true, 2, 2);
	assert_int_equal(l.total, 3);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].id, ids[1]);
	store_message_list_free(&l);
	l = list_box(f, &f->bob, STORE_INBOX, 0, false, 2, 5);
	assert_int_equal(l.total, 5);
	assert_int_equal(l.n, 0);
	store_message_list_free(&l);

	/* Alice's sent box: 500 400 300 200 100 (she deleted 600; bob's
	 * deletion of 300 does not touch hers). unread_only is inbox only. */
	l = list_box(f, &f->alice, STORE_SENT, 0, true, 3, 1);
	assert_int_equal(l.total, 5);
	assert_int_equal(l.n, 3);
	assert_int_equal(l.items[0].id, ids[3]);
	assert_int_equal(l.items[1].id, ids[2]);
	assert_int_equal(l.items[2].id, ids[1]);
	store_message_list_free(&l);
	l = list_box(f, &f->alice, STORE_SENT, 250, false, 50, 0);
	assert_int_equal(l.total, 3);
	assert_int_equal(l.items[2].id, ids[2]);
	store_message_list_free(&l);
}

/* ---- the file ---- */

static void tmp_path(const struct tmp *t, const char *name, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "%s/%s", t->dir, name);

	assert_true(n > 0 && (size_t)n < cap);
}

static bool tmp_exists(const struct tmp *t, const char *name)
{
	char path[160];

	tmp_path(t, name, path, sizeof(path));
	return access(path, F_OK) == 0;
}


/* Writes the schema version into the file's header, as PRAGMA
 * user_version would: 4 bytes big-endian at offset 60. */
static void poke_user_version(const char *path, uint32_t v)
{
	uint8_t be[4] = { (uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v };
	int fd = open(path, O_WRONLY);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, be, sizeof(be), 60), (ssize_t)sizeof(be));
	assert_int_equal(close(fd), 0);
}

static void test_file_reopen(void **state)
{
	struct tmp *t = *state;
	struct store *st;
	struct store_user u;
	struct store_message_list l;
	struct store_message_query q = { .box = STORE_INBOX, .limit = 10 };
	uint8_t h[STORE_TOKEN_HASH_LEN];
	struct store_scram cred, got;
	int64_t uid = 0, alice, bob;
	int version;

	make_hash(h, 42);
	make_scram(&cred, 7, 4096);
	st = open_file(t->db, STORE_SYNC_NORMAL);
	version = store_schema_version(st);
	assert_true(version >= 1);
	assert_true(tmp_exists(t, "agora.db"));
	assert_int_equal(store_user_create(st, "Alice", "ha", 10, &u), STORE_OK);
	alice = u.id;
	store_user_release(&u);
	assert_int_equal(store_user_create(st, "bob", "hb", 11, &u), STORE_OK);
	bob = u.id;
	store_user_release(&u);
	assert_int_equal(store_token_add(st, alice, h, 12), STORE_OK);
	assert_int_equal(store_user_set_scram(st, alice, &cred), STORE_OK);
	assert_int_equal(store_message_create(st, alice, bob, "kept", 13, NULL), STORE_OK);
	/* WAL journal: the log sits beside the database while it is open. */
	assert_true(tmp_exists(t, "agora.db-wal"));
	store_free(st);

	/* Reopened: same version (migrating again would fail: the tables
	 * exist), same data, same rules. */
	st = open_file(t->db, STORE_SYNC_FULL);
	assert_int_equal(store_schema_version(st), version);
	assert_int_equal(store_user_by_name(st, "alice", &u), STORE_OK);
	assert_int_equal(u.id, alice);
	assert_string_equal(u.name, "Alice");
	store_user_release(&u);
	assert_int_equal(store_user_create(st, "ALICE", "x", 20, NULL), STORE_ECONFLICT);
	assert_int_equal(store_token_user(st, h, &uid), STORE_OK);
	assert_int_equal(uid, alice);
	assert_int_equal(store_user_scram(st, "alice", &got), STORE_OK);
	assert_scram_equal(&got, &cred);
	q.user_id = bob;
	assert_int_equal(store_message_list(st, &q, &l), STORE_OK);
	assert_int_equal(l.total, 1);
	assert_string_equal(l.items[0].content, "kept");
	assert_string_equal(l.items[0].from_name, "Alice");
	store_message_list_free(&l);
	/* Foreign keys are on in a reopened connection too. */
	assert_int_equal(store_user_delete(st, alice), STORE_OK);
	assert_int_equal(store_token_user(st, h, &uid), STORE_ENOTFOUND);
	assert_int_equal(store_user_scram(st, "alice", &got), STORE_ENOTFOUND);
	assert_int_equal(store_message_list(st, &q, &l), STORE_OK);
	assert_int_equal(l.total, 0);
	store_message_list_free(&l);
	store_free(st);

	/* A third time, after the deletion. */
	st = open_file(t->db, STORE_SYNC_NORMAL);
	assert_int_equal(store_user_by_id(st, alice, NULL), STORE_ENOTFOUND);
	assert_int_equal(store_user_by_id(st, bob, NULL), STORE_OK);
	store_free(st);
}

static void test_file_newer_version(void **state)
{
	struct tmp *t = *state;
	struct store *st = open_memory();
	struct store *sentinel = (struct store *)t; /* must stay as it is */
	struct store *out = sentinel;
	int latest = store_schema_version(st);
	char err[512] = "";
	char newer[16], known[16];

	store_free(st);
	st = open_file(t->db, STORE_SYNC_NORMAL);
	assert_int_equal(store_user_create(st, "alice", "h", 1, NULL), STORE_OK);
	store_free(st);
	/* Closed cleanly: everything is in the main file. */
	assert_false(tmp_exists(t, "agora.db-wal"));
	poke_user_version(t->db, (uint32_t)latest + 7);

	assert_int_equal(store_open(t->db, STORE_SYNC_NORMAL, &out, err, sizeof(err)),
			 STORE_EVERSION);
	assert_ptr_equal(out, sentinel);
	snprintf(newer, sizeof(newer), "%d", latest + 7);
	snprintf(known, sizeof(known), "%d", latest);
	assert_non_null(strstr(err, t->db));
	assert_non_null(strstr(err, newer));
	assert_non_null(strstr(err, known));

	/* Refusing it left it alone: put the version back and it opens. */
	poke_user_version(t->db, (uint32_t)latest);
	st = open_file(t->db, STORE_SYNC_NORMAL);
	assert_int_equal(store_user_by_name(st, "ALICE", NULL), STORE_OK);
	store_free(st);
}

static void expect_eopen(const char *path)
{
	struct store *sentinel = (struct store *)&sentinel;
	struct store *out = sentinel;
	char err[512] = "";

	assert_int_equal(store_open(path, STORE_SYNC_NORMAL, &out, err, sizeof(err)), STORE_EOPEN);
	assert_ptr_equal(out, sentinel);
	assert_true(strlen(err) > 0);
	assert_non_null(strstr(err, path));
}

static void test_file_unopenable(void **state)
{
	static const char junk[] = "this is certainly not an SQLite database file, no sir";
	struct tmp *t = *state;
	struct store *out = NULL;
	struct stat sb;
	char path[160];
	int fd;

	/* Under a directory that does not exist (and is not created). */
	tmp_path(t, "subdir/agora.db", path, sizeof(path));
	expect_eopen(path);
	assert_false(tmp_exists(t, "subdir"));
	/* A directory. */
	expect_eopen(t->dir);
	/* A file that is not a database, left as it was. */
	tmp_path(t, "garbage.db", path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, junk, sizeof(junk)), (ssize_t)sizeof(junk));
	assert_int_equal(close(fd), 0);
	expect_eopen(path);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_size, (off_t)sizeof(junk));
	/* A NULL or zero-length err buffer is fine. */
	assert_int_equal(store_open(t->dir, STORE_SYNC_NORMAL, &out, NULL, 0), STORE_EOPEN);
	assert_null(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_open_memory),
		cmocka_unit_test(test_release_null),
		cmocka_unit_test_setup_teardown(test_user_create_lookup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_conflict_case, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_password, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_status, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_list, setup, teardown),
		cmocka_unit_test(test_user_list_empty),
		cmocka_unit_test_setup_teardown(test_scram, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tokens, setup, teardown),
		cmocka_unit_test_setup_teardown(test_user_delete_cascades, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_create_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_set_read, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_delete_sides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_to_self, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_list_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_list_filters, setup, teardown),
		cmocka_unit_test_setup_teardown(test_file_reopen, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_file_newer_version, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_file_unopenable, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests_name("store", tests, NULL, NULL);
}
