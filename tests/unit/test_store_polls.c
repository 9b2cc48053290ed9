/*
 * test_store_polls.c - polls and votes in the SQLite store (store.h):
 * creating and reading them, the list's order (open first, then newest;
 * expiry by the query's clock) and pages, closing, one vote per account,
 * changing it, the counts, what outlives a deleted account, and the
 * schema's migration from a version 2 file.
 */
#include "helpers.h"

#include "store/store.h"
#include "store_memory.h"
#include "store_files.h"

#include <errno.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

struct fixture {
	struct store *st;
	int64_t alice, bob, carol;
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->st = memory_store();
	f->alice = add_user(f->st, "alice");
	f->bob = add_user(f->st, "bob");
	f->carol = add_user(f->st, "carol");
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

static const char *const seasons[] = { "été", "hiver", "printemps" };

/* A poll by creator with the three seasons; its id. */
static int64_t make_poll(struct store *st, int64_t creator, const char *question,
			 int64_t closes_at, int64_t now)
{
	struct store_poll p;
	int64_t id;

	assert_int_equal(store_poll_create(st, creator, question, seasons, ARRAY_SIZE(seasons),
					   closes_at, now, &p),
			 STORE_OK);
	id = p.id;
	store_poll_release(&p);
	return id;
}

/* The poll's counts, asserted equal to want (n_options of them) and
 * their sum to the total. */
static void expect_counts(struct store *st, int64_t id, const int64_t *want, size_t n)
{
	struct store_poll p;
	int64_t sum = 0;

	assert_int_equal(store_poll_get(st, id, &p), STORE_OK);
	assert_int_equal(p.n_options, n);
	for (size_t i = 0; i < n; i++) {
		if (p.counts[i] != want[i])
			fail_msg("poll %lld option %zu: %lld votes, expected %lld", (long long)id,
				 i, (long long)p.counts[i], (long long)want[i]);
		sum += want[i];
	}
	assert_int_equal(p.total, sum);
	store_poll_release(&p);
}

/* ---- create, get ---- */

static void test_create_get(void **state)
{
	struct fixture *f = *state;
	struct store_poll p, q;

	assert_int_equal(store_poll_create(f->st, f->alice, "Été ou hiver ?", seasons, 3, 9000,
					   5000, &p),
			 STORE_OK);
	assert_true(p.id > 0);
	assert_int_equal(p.creator_id, f->alice);
	assert_string_equal(p.creator_name, "alice");
	assert_string_equal(p.question, "Été ou hiver ?");
	assert_int_equal(p.n_options, 3);
	for (size_t i = 0; i < 3; i++) {
		assert_string_equal(p.options[i], seasons[i]);
		assert_int_equal(p.counts[i], 0);
	}
	assert_int_equal(p.total, 0);
	assert_int_equal(p.created_at, 5000);
	assert_int_equal(p.closes_at, 9000);
	assert_int_equal(p.closed_at, 0);

	assert_int_equal(store_poll_get(f->st, p.id, &q), STORE_OK);
	assert_int_equal(q.id, p.id);
	assert_string_equal(q.creator_name, "alice");
	assert_string_equal(q.question, p.question);
	assert_int_equal(q.n_options, 3);
	assert_string_equal(q.options[2], "printemps");
	assert_int_equal(q.closes_at, 9000);
	store_poll_release(&q);
	/* Without a record: whether it exists. */
	assert_int_equal(store_poll_get(f->st, p.id, NULL), STORE_OK);
	assert_int_equal(store_poll_get(f->st, p.id + 1, NULL), STORE_ENOTFOUND);
	assert_int_equal(store_poll_get(f->st, p.id + 1, &q), STORE_ENOTFOUND);
	/* No closing time; ids grow. */
	assert_int_equal(store_poll_create(f->st, f->bob, "Two?", seasons, 2, 0, 6000, &q),
			 STORE_OK);
	assert_true(q.id > p.id);
	assert_int_equal(q.closes_at, 0);
	assert_int_equal(q.n_options, 2);
	assert_string_equal(q.creator_name, "bob");
	store_poll_release(&q);
	store_poll_release(&p);
	store_poll_release(NULL);
}

static void test_create_refused(void **state)
{
	struct fixture *f = *state;
	const char *many[STORE_POLL_OPTIONS_MAX + 1];
	struct store_poll_query q = { .now = 1, .limit = 10 };
	struct store_poll_list l;
	struct store_poll p = { .id = 77 };

	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = "x";
	assert_int_equal(store_poll_create(f->st, f->alice, "q", many, 0, 0, 1, &p), STORE_EIO);
	assert_int_equal(store_poll_create(f->st, f->alice, "q", many, ARRAY_SIZE(many), 0, 1, &p),
			 STORE_EIO);
	/* An account that does not exist creates nothing: the poll row and
	 * its options go back together. */
	assert_int_equal(store_poll_create(f->st, f->carol + 100, "q", seasons, 3, 0, 1, &p),
			 STORE_ENOTFOUND);
	assert_int_equal(p.id, 77); /* untouched */
	assert_int_equal(store_poll_list(f->st, &q, &l), STORE_OK);
	assert_int_equal(l.total, 0);
	assert_int_equal(l.n, 0);
	store_poll_list_free(&l);
	/* The most options a poll may have, and no record wanted. */
	assert_int_equal(store_poll_create(f->st, f->alice, "q", many, STORE_POLL_OPTIONS_MAX, 0, 1,
					   NULL),
			 STORE_OK);
	assert_int_equal(store_poll_list(f->st, &q, &l), STORE_OK);
	assert_int_equal(l.total, 1);
	assert_int_equal(l.items[0].n_options, STORE_POLL_OPTIONS_MAX);
	store_poll_list_free(&l);
	store_poll_list_free(NULL);
}

/* ---- list ---- */

/* The ids of a page, asserted equal to want. */
static void expect_page(struct store *st, int64_t now, int64_t limit, int64_t offset,
			const int64_t *want, size_t n, int64_t total)
{
	struct store_poll_query q = { .now = now, .limit = limit, .offset = offset };
	struct store_poll_list l;

	assert_int_equal(store_poll_list(st, &q, &l), STORE_OK);
	assert_int_equal(l.total, total);
	if (l.n != n)
		fail_msg("page (now %lld, limit %lld, offset %lld): %zu polls, expected %zu",
			 (long long)now, (long long)limit, (long long)offset, l.n, n);
	for (size_t i = 0; i < n; i++) {
		if (l.items[i].id != want[i])
			fail_msg("item %zu (now %lld, offset %lld) is poll %lld, expected %lld", i,
				 (long long)now, (long long)offset, (long long)l.items[i].id,
				 (long long)want[i]);
		assert_int_equal(l.items[i].n_options, 3);
		assert_non_null(l.items[i].question);
	}
	store_poll_list_free(&l);
}

static void test_list_order(void **state)
{
	struct fixture *f = *state;
	/* Created in this order; b and c at the same time (id breaks it). */
	int64_t a = make_poll(f->st, f->alice, "a", 0, 100);
	int64_t b = make_poll(f->st, f->bob, "b", 5000, 200);
	int64_t c = make_poll(f->st, f->alice, "c", 0, 200);
	int64_t d = make_poll(f->st, f->carol, "d", 0, 300);
	int64_t e = make_poll(f->st, f->alice, "e", 400, 350);

	assert_int_equal(store_poll_close(f->st, d, 310), STORE_OK);
	{
		/* At 399: d is closed; all others open, newest first. */
		const int64_t want[] = { e, c, b, a, d };

		expect_page(f->st, 399, 10, 0, want, 5, 5);
	}
	{
		/* At 400, e's closing time: e is closed from then on, and
		 * closed ones come newest first after the open ones. */
		const int64_t want[] = { c, b, a, e, d };

		expect_page(f->st, 400, 10, 0, want, 5, 5);
	}
	{
		/* At 5000 b expires too. */
		const int64_t want[] = { c, a, e, d, b };

		expect_page(f->st, 5000, 10, 0, want, 5, 5);
	}
	{
		/* Pages of two over the same order; total is all of them. */
		const int64_t p1[] = { c, a }, p2[] = { e, d }, p3[] = { b };

		expect_page(f->st, 5000, 2, 0, p1, 2, 5);
		expect_page(f->st, 5000, 2, 2, p2, 2, 5);
		expect_page(f->st, 5000, 2, 4, p3, 1, 5);
		expect_page(f->st, 5000, 2, 6, NULL, 0, 5);
	}
	{
		/* Pages across the border between open and closed. */
		const int64_t p1[] = { a, e }, p2[] = { d, b }, p3[] = { e, d, b };

		expect_page(f->st, 5000, 2, 1, p1, 2, 5);
		expect_page(f->st, 5000, 10, 3, p2, 2, 5);
		expect_page(f->st, 5000, 3, 2, p3, 3, 5);
		expect_page(f->st, 5000, 0, 0, NULL, 0, 5);
	}
	{
		/* A negative limit is no limit (as in SQL). */
		const int64_t want[] = { a, e, d, b };

		expect_page(f->st, 5000, -1, 1, want, 4, 5);
	}
}

static void test_list_counts(void **state)
{
	struct fixture *f = *state;
	int64_t a = make_poll(f->st, f->alice, "a", 0, 100);
	int64_t b = make_poll(f->st, f->alice, "b", 0, 200);
	struct store_poll_query q = { .now = 300, .limit = 10 };
	struct store_poll_list l;

	assert_int_equal(store_vote_cast(f->st, a, f->alice, 2, 300), STORE_OK);
	assert_int_equal(store_vote_cast(f->st, a, f->bob, 2, 300), STORE_OK);
	assert_int_equal(store_vote_cast(f->st, b, f->bob, 0, 300), STORE_OK);
	assert_int_equal(store_poll_list(f->st, &q, &l), STORE_OK);
	assert_int_equal(l.n, 2);
	assert_int_equal(l.items[0].id, b);
	assert_int_equal(l.items[0].counts[0], 1);
	assert_int_equal(l.items[0].total, 1);
	assert_int_equal(l.items[1].id, a);
	assert_int_equal(l.items[1].counts[0], 0);
	assert_int_equal(l.items[1].counts[2], 2);
	assert_int_equal(l.items[1].total, 2);
	assert_string_equal(l.items[1].creator_name, "alice");
	store_poll_list_free(&l);
}

/* ---- close ---- */

static void test_close_twice(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f->st, f->alice, "q", 0, 100);
	struct store_poll p;

	assert_int_equal(store_poll_close(f->st, id, 150), STORE_OK);
	assert_int_equal(store_poll_close(f->st, id, 250), STORE_OK);
	assert_int_equal(store_poll_get(f->st, id, &p), STORE_OK);
	assert_int_equal(p.closed_at, 150); /* the first time stays */
	store_poll_release(&p);
	assert_int_equal(store_poll_close(f->st, id + 1, 250), STORE_ENOTFOUND);
}

static void test_next_closing(void **state)
{
	struct fixture *f = *state;
	int64_t at = -7;
	int64_t later;

	assert_int_equal(store_poll_next_closing(f->st, 100, &at), STORE_ENOTFOUND);
	assert_int_equal(at, -7);
	make_poll(f->st, f->alice, "never", 0, 100);
	assert_int_equal(store_poll_next_closing(f->st, 100, &at), STORE_ENOTFOUND);
	later = make_poll(f->st, f->alice, "later", 900, 100);
	make_poll(f->st, f->alice, "sooner", 500, 100);
	assert_int_equal(store_poll_next_closing(f->st, 100, &at), STORE_OK);
	assert_int_equal(at, 500);
	/* Strictly later than now: at 500 the next is 900. */
	assert_int_equal(store_poll_next_closing(f->st, 500, &at), STORE_OK);
	assert_int_equal(at, 900);
	/* Closed by hand: no longer due. */
	assert_int_equal(store_poll_close(f->st, later, 600), STORE_OK);
	assert_int_equal(store_poll_next_closing(f->st, 500, &at), STORE_ENOTFOUND);
	assert_int_equal(store_poll_next_closing(f->st, 0, &at), STORE_OK);
	assert_int_equal(at, 500);
}

/* ---- votes ---- */

static void test_cast_once(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f->st, f->alice, "q", 0, 100);
	int64_t other = make_poll(f->st, f->alice, "other", 0, 100);
	size_t option = 99;
	int64_t at = 0;

	assert_int_equal(store_vote_cast(f->st, id, f->alice, 1, 200), STORE_OK);
	assert_int_equal(store_vote_cast(f->st, id, f->bob, 1, 201), STORE_OK);
	assert_int_equal(store_vote_cast(f->st, id, f->carol, 0, 202), STORE_OK);
	{
		const int64_t want[] = { 1, 2, 0 };

		expect_counts(f->st, id, want, 3);
	}
	/* A second vote, for the same option or another: refused, no count
	 * moves, the first vote stays. */
	assert_int_equal(store_vote_cast(f->st, id, f->alice, 1, 300), STORE_ECONFLICT);
	assert_int_equal(store_vote_cast(f->st, id, f->alice, 2, 300), STORE_ECONFLICT);
	{
		const int64_t want[] = { 1, 2, 0 };

		expect_counts(f->st, id, want, 3);
	}
	assert_int_equal(store_vote_get(f->st, id, f->alice, &option, &at), STORE_OK);
	assert_int_equal(option, 1);
	assert_int_equal(at, 200);
	/* One vote per poll, not per account: the other poll is free. */
	assert_int_equal(store_vote_cast(f->st, other, f->alice, 2, 301), STORE_OK);
	{
		const int64_t want[] = { 0, 0, 1 };

		expect_counts(f->st, other, want, 3);
	}
	/* No such poll, option or user: nothing stored, nothing counted. */
	assert_int_equal(store_vote_cast(f->st, other + 1, f->bob, 0, 302), STORE_ENOTFOUND);
	assert_int_equal(store_vote_cast(f->st, other, f->bob, 3, 302), STORE_ENOTFOUND);
	assert_int_equal(store_vote_cast(f->st, other, f->carol + 100, 0, 302), STORE_ENOTFOUND);
	assert_int_equal(store_vote_get(f->st, other, f->bob, &option, &at), STORE_ENOTFOUND);
	{
		const int64_t want[] = { 0, 0, 1 };

		expect_counts(f->st, other, want, 3);
	}
	/* Only the time is asked for. */
	assert_int_equal(store_vote_get(f->st, other, f->alice, NULL, &at), STORE_OK);
	assert_int_equal(at, 301);
}

static void test_change(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f->st, f->alice, "q", 0, 100);
	size_t option = 99;
	int64_t at = 0;

	/* Nothing to change yet. */
	assert_int_equal(store_vote_change(f->st, id, f->bob, 1, 150), STORE_ENOTFOUND);
	assert_int_equal(store_vote_get(f->st, id, f->bob, &option, &at), STORE_ENOTFOUND);
	assert_int_equal(store_vote_cast(f->st, id, f->bob, 0, 200), STORE_OK);
	assert_int_equal(store_vote_cast(f->st, id, f->carol, 0, 200), STORE_OK);
	assert_int_equal(store_vote_change(f->st, id, f->bob, 2, 300), STORE_OK);
	{
		const int64_t want[] = { 1, 0, 1 };

		expect_counts(f->st, id, want, 3);
	}
	assert_int_equal(store_vote_get(f->st, id, f->bob, &option, &at), STORE_OK);
	assert_int_equal(option, 2);
	assert_int_equal(at, 300);
	/* To the same option: fine, the time moves, no count does. */
	assert_int_equal(store_vote_change(f->st, id, f->bob, 2, 400), STORE_OK);
	{
		const int64_t want[] = { 1, 0, 1 };

		expect_counts(f->st, id, want, 3);
	}
	assert_int_equal(store_vote_get(f->st, id, f->bob, &option, &at), STORE_OK);
	assert_int_equal(at, 400);
	/* To an option the poll lacks: refused, the vote stays. */
	assert_int_equal(store_vote_change(f->st, id, f->bob, 3, 500), STORE_ENOTFOUND);
	assert_int_equal(store_vote_get(f->st, id, f->bob, &option, &at), STORE_OK);
	assert_int_equal(option, 2);
	assert_int_equal(at, 400);
	{
		const int64_t want[] = { 1, 0, 1 };

		expect_counts(f->st, id, want, 3);
	}
	/* Another poll's vote is not this one. */
	assert_int_equal(store_vote_change(f->st, id + 1, f->bob, 0, 500), STORE_ENOTFOUND);
}

/* ---- accounts deleted ---- */

static void test_voter_deleted(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f->st, f->alice, "q", 0, 100);
	int64_t dave = add_user(f->st, "dave");
	int64_t dave2;

	assert_int_equal(store_vote_cast(f->st, id, f->bob, 1, 200), STORE_OK);
	assert_int_equal(store_vote_cast(f->st, id, f->carol, 1, 200), STORE_OK);
	assert_int_equal(store_vote_cast(f->st, id, dave, 2, 200), STORE_OK);
	/* Two voters go: their votes stay counted, side by side (both now
	 * without an account: the unique key lets them). */
	assert_int_equal(store_user_delete(f->st, f->bob), STORE_OK);
	assert_int_equal(store_user_delete(f->st, dave), STORE_OK);
	{
		const int64_t want[] = { 0, 2, 1 };

		expect_counts(f->st, id, want, 3);
	}
	assert_int_equal(store_vote_get(f->st, id, f->bob, NULL, NULL), STORE_ENOTFOUND);
	assert_int_equal(store_vote_get(f->st, id, dave, NULL, NULL), STORE_ENOTFOUND);
	/* A new account of the same name is someone else: it votes anew. */
	dave2 = add_user(f->st, "dave");
	assert_true(dave2 != dave);
	assert_int_equal(store_vote_get(f->st, id, dave2, NULL, NULL), STORE_ENOTFOUND);
	assert_int_equal(store_vote_cast(f->st, id, dave2, 0, 300), STORE_OK);
	/* The remaining voter still votes once; a deleted id no more. */
	assert_int_equal(store_vote_cast(f->st, id, f->carol, 0, 300), STORE_ECONFLICT);
	assert_int_equal(store_vote_cast(f->st, id, f->bob, 0, 300), STORE_ENOTFOUND);
	{
		const int64_t want[] = { 1, 2, 1 };

		expect_counts(f->st, id, want, 3);
	}
}

static void test_creator_deleted(void **state)
{
	struct fixture *f = *state;
	int64_t id = make_poll(f->st, f->bob, "bob's", 700, 100);
	struct store_poll_query q = { .now = 200, .limit = 10 };
	struct store_poll_list l;
	struct store_poll p;

	assert_int_equal(store_vote_cast(f->st, id, f->alice, 0, 150), STORE_OK);
	assert_int_equal(store_user_delete(f->st, f->bob), STORE_OK);
	assert_int_equal(store_poll_get(f->st, id, &p), STORE_OK);
	assert_int_equal(p.creator_id, 0);
	assert_null(p.creator_name);
	assert_string_equal(p.question, "bob's");
	assert_int_equal(p.closes_at, 700);
	assert_int_equal(p.counts[0], 1);
	store_poll_release(&p);
	assert_int_equal(store_poll_list(f->st, &q, &l), STORE_OK);
	assert_int_equal(l.n, 1);
	assert_int_equal(l.items[0].creator_id, 0);
	assert_null(l.items[0].creator_name);
	store_poll_list_free(&l);
	/* A new "bob" did not create it; votes go on. */
	add_user(f->st, "bob");
	assert_int_equal(store_poll_get(f->st, id, &p), STORE_OK);
	assert_null(p.creator_name);
	store_poll_release(&p);
	assert_int_equal(store_vote_cast(f->st, id, f->carol, 1, 250), STORE_OK);
	{
		const int64_t want[] = { 1, 1, 0 };

		expect_counts(f->st, id, want, 3);
	}
}

/* ---- the file ---- */


/* The schema of versions 1 and 2 as released (sqlite_open.c's first two
 * migrations), with one user and one message in it. */
static const char v2_file[] =
	"PRAGMA journal_mode=WAL;"
	"CREATE TABLE users ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	" password_hash TEXT NOT NULL,"
	" status TEXT NOT NULL DEFAULT '',"
	" status_updated_at INTEGER NOT NULL DEFAULT 0,"
	" created_at INTEGER NOT NULL);"
	"CREATE TABLE tokens ("
	" hash BLOB PRIMARY KEY,"
	" user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" created_at INTEGER NOT NULL) WITHOUT ROWID;"
	"CREATE INDEX tokens_user ON tokens(user_id);"
	"CREATE TABLE messages ("
	" id INTEGER PRIMARY KEY,"
	" from_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" to_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,"
	" content TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" read_at INTEGER NOT NULL DEFAULT 0,"
	" deleted_by_sender INTEGER NOT NULL DEFAULT 0,"
	" deleted_by_recipient INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX messages_inbox ON messages(to_id, created_at DESC, id DESC);"
	"CREATE INDEX messages_sent ON messages(from_id, created_at DESC, id DESC);"
	"CREATE TRIGGER messages_gone AFTER UPDATE OF deleted_by_sender, deleted_by_recipient"
	" ON messages WHEN NEW.deleted_by_sender AND NEW.deleted_by_recipient"
	" BEGIN DELETE FROM messages WHERE id = NEW.id; END;"
	"CREATE TABLE user_scram ("
	" user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
	" salt BLOB NOT NULL,"
	" iterations INTEGER NOT NULL,"
	" stored_key BLOB NOT NULL,"
	" server_key BLOB NOT NULL);"
	"INSERT INTO users (name, password_hash, created_at) VALUES ('Old', 'h', 10);"
	"INSERT INTO messages (from_id, to_id, content, created_at) VALUES (1, 1, 'kept', 11);"
	"PRAGMA user_version=2;";

static void sql_file(const char *path, const char *sql)
{
	sqlite3 *db = NULL;
	char *msg = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK)
		fail_msg("%s: %s", path, msg);
	assert_int_equal(sqlite3_close(db), SQLITE_OK);
}

static void test_migrate_from_v2(void **state)
{
	struct tmp *t = *state;
	struct store *st;
	struct store_user u;
	struct store_message_list ml;
	struct store_message_query mq = { .box = STORE_INBOX, .limit = 10 };
	int64_t id;

	sql_file(t->db, v2_file);
	st = open_file(t->db, STORE_SYNC_NORMAL);
	assert_int_equal(store_schema_version(st), 4);
	/* What version 2 held is still there... */
	assert_int_equal(store_user_by_name(st, "old", &u), STORE_OK);
	mq.user_id = u.id;
	assert_int_equal(store_message_list(st, &mq, &ml), STORE_OK);
	assert_int_equal(ml.total, 1);
	assert_string_equal(ml.items[0].content, "kept");
	store_message_list_free(&ml);
	/* ...and polls work beside it, and after a reopen. */
	id = make_poll(st, u.id, "after the upgrade?", 0, 20);
	assert_int_equal(store_vote_cast(st, id, u.id, 1, 21), STORE_OK);
	store_user_release(&u);
	store_free(st);
	st = open_file(t->db, STORE_SYNC_NORMAL);
	assert_int_equal(store_schema_version(st), 4);
	{
		const int64_t want[] = { 0, 1, 0 };

		expect_counts(st, id, want, 3);
	}
	store_free(st);
}

/* The counts the triggers keep are the votes there are: read with a
 * grouped count over the votes themselves, on the file. */
static int64_t votes_for(sqlite3 *db, int64_t poll, int option)
{
	sqlite3_stmt *s;
	int64_t n;

	assert_int_equal(sqlite3_prepare_v2(db,
					    "SELECT count(*) FROM votes WHERE poll_id = ?1"
					    " AND option = ?2",
					    -1, &s, NULL),
			 SQLITE_OK);
	sqlite3_bind_int64(s, 1, poll);
	sqlite3_bind_int(s, 2, option);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	n = sqlite3_column_int64(s, 0);
	sqlite3_finalize(s);
	return n;
}

static void test_counts_match_votes(void **state)
{
	struct tmp *t = *state;
	struct store *st = open_file(t->db, STORE_SYNC_NORMAL);
	int64_t users[12], id;
	struct store_poll p;
	sqlite3 *db;
	char name[16];

	id = make_poll(st, add_user(st, "owner"), "q", 0, 1);
	for (size_t i = 0; i < ARRAY_SIZE(users); i++) {
		snprintf(name, sizeof(name), "u%zu", i);
		users[i] = add_user(st, name);
		assert_int_equal(store_vote_cast(st, id, users[i], i % 3, 2), STORE_OK);
		assert_int_equal(store_vote_cast(st, id, users[i], 0, 3), STORE_ECONFLICT);
	}
	for (size_t i = 0; i < ARRAY_SIZE(users); i += 2)
		assert_int_equal(store_vote_change(st, id, users[i], (i + 1) % 3, 4), STORE_OK);
	assert_int_equal(store_user_delete(st, users[1]), STORE_OK);
	assert_int_equal(store_poll_get(st, id, &p), STORE_OK);
	store_free(st);

	/* Closed, then read by another connection: what is on disk. */
	assert_int_equal(sqlite3_open(t->db, &db), SQLITE_OK);
	for (int o = 0; o < 3; o++)
		assert_int_equal(p.counts[o], votes_for(db, id, o));
	assert_int_equal(p.total, (int64_t)ARRAY_SIZE(users));
	sqlite3_close(db);
	store_poll_release(&p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_create_get, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_counts, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_next_closing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cast_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_change, setup, teardown),
		cmocka_unit_test_setup_teardown(test_voter_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_creator_deleted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v2, setup_tmp, teardown_tmp),
		cmocka_unit_test_setup_teardown(test_counts_match_votes, setup_tmp, teardown_tmp),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
