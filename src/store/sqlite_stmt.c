/*
 * sqlite_stmt.c - running one of the store's prepared statements once it
 * is bound: the single row of a lookup, the rows of a list, a write, and
 * what each failure means in store.h's codes. Every function here leaves
 * the statement reset and cleared, whatever happened.
 */
#include "sqlite_internal.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>

int store__fail_io(struct store *st, const char *what)
{
	log_error("store: %s: %s", what, sqlite3_errmsg(st->db));
	return STORE_EIO;
}

int store__fail_step(struct store *st, int rc, const char *what)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY: return STORE_ECONFLICT;
	case SQLITE_CONSTRAINT_FOREIGNKEY: return STORE_ENOTFOUND;
	}
	return store__fail_io(st, what);
}

int store__fail_bind(struct store *st, sqlite3_stmt *s, const char *what)
{
	int ret = store__fail_io(st, what);

	store__stmt_done(s);
	return ret;
}

int store__read_int64(sqlite3_stmt *s, void *item)
{
	*(int64_t *)item = sqlite3_column_int64(s, 0);
	return STORE_OK;
}

/* NOT NULL columns only come back NULL when SQLite ran out of memory,
 * which is fatal here as in base/alloc.h. */
char *store__column_dup(sqlite3_stmt *s, int col)
{
	const unsigned char *text = sqlite3_column_text(s, col);

	if (!text) {
		if (sqlite3_column_type(s, col) != SQLITE_NULL) {
			fprintf(stderr, "agora: out of memory reading the store\n");
			abort();
		}
		return xstrdup("");
	}
	return xstrndup(text, (size_t)sqlite3_column_bytes(s, col));
}

int store__one_row(struct store *st, sqlite3_stmt *s, store__read_fn *read, void *item,
		   const char *what)
{
	int rc = sqlite3_step(s);
	int ret;

	/* The row is read, and a failure mapped, before the reset ends both. */
	if (rc == SQLITE_ROW)
		ret = read ? read(s, item) : STORE_OK;
	else if (rc == SQLITE_DONE)
		ret = STORE_ENOTFOUND;
	else
		ret = store__fail_step(st, rc, what);
	store__stmt_done(s);
	return ret;
}

int store__count(struct store *st, sqlite3_stmt *s, int64_t *count, const char *what)
{
	int ret = store__one_row(st, s, store__read_int64, count, what);

	/* count(*) always answers a row: none means the database is broken,
	 * not that something is missing. */
	return ret == STORE_ENOTFOUND ? store__fail_io(st, what) : ret;
}

int store__run_write(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	int ret;

	if (rc == SQLITE_DONE)
		ret = sqlite3_changes(st->db) > 0 ? STORE_OK : STORE_ENOTFOUND;
	else
		ret = store__fail_step(st, rc, what);
	store__stmt_done(s);
	return ret;
}

size_t store__page_rows(int64_t total, int64_t limit, int64_t offset)
{
	int64_t left = total - (offset > 0 ? offset : 0);

	if (left <= 0)
		return 0;
	if (limit >= 0 && limit < left)
		left = limit;
	return (size_t)left;
}

int store__read_rows(struct store *st, sqlite3_stmt *s, size_t expect, size_t size,
		     store__read_fn *read, void **items, size_t *n, const char *what)
{
	uint32_t cap = 0;
	/* Exactly `expect` rows first (the first capacity is expect). */
	char *a = array_grow(NULL, &cap, expect, size, (uint32_t)expect, ARRAY_MAX);
	int rc, ret = STORE_OK;

	*n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		a = array_grow(a, &cap, *n + 1, size, 8, ARRAY_MAX);
		ret = read(s, a + *n * size);
		if (ret)
			break;
		(*n)++;
	}
	if (!ret && rc != SQLITE_DONE)
		ret = store__fail_step(st, rc, what);
	store__stmt_done(s);
	*items = a;
	return ret;
}

/* ---- transactions ---- */

const struct store__sql store__tx_sql[] = {
	{ ST_BEGIN, "BEGIN IMMEDIATE" },
	{ ST_COMMIT, "COMMIT" },
	{ ST_ROLLBACK, "ROLLBACK" },
	{ .sql = NULL },
};

/* BEGIN and COMMIT touch no row: their only outcome is SQLITE_DONE. */
static int run_tx(struct store *st, enum store__stmt id, const char *what)
{
	sqlite3_stmt *s = st->stmt[id];
	int rc = sqlite3_step(s);
	int ret = rc == SQLITE_DONE ? STORE_OK : store__fail_io(st, what);

	store__stmt_done(s);
	return ret;
}

int store__begin(struct store *st, const char *what)
{
	return run_tx(st, ST_BEGIN, what);
}

int store__commit(struct store *st, const char *what)
{
	return run_tx(st, ST_COMMIT, what);
}

void store__rollback(struct store *st)
{
	/* A failed COMMIT may have ended the transaction already (SQLite
	 * rolls back by itself after some errors): nothing then to undo. */
	if (!sqlite3_get_autocommit(st->db))
		run_tx(st, ST_ROLLBACK, "rolling back");
}
