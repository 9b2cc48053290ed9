/*
 * sqlite_internal.h - what the files of the SQLite backend share with each
 * other and with nothing else: struct store, the prepared statements and
 * the steps every call is made of. Only src/store/sqlite_*.c and this
 * header include sqlite3.h.
 *
 * The backend by concern:
 *   sqlite_open.c      open, pragmas, migrations, checkpoints, close, errors
 *   sqlite_stmt.c      running a prepared statement: one row, all rows, a
 *                      write, and what a failure means
 *   sqlite_users.c     accounts, SCRAM credentials, tokens, users_version
 *   sqlite_messages.c  direct messages
 *   sqlite_polls.c     polls, their options and votes
 *   sqlite_rules.c     rules and their record actions' rows
 *
 * One connection, WAL journal, foreign keys on. Every statement is prepared
 * once at open (SQLITE_PREPARE_PERSISTENT) and kept in struct store; a call
 * binds, steps, then resets and clears it before returning, so text and
 * blobs are bound SQLITE_STATIC (the caller's bytes outlive the call).
 * Writes are single statements in autocommit mode: committed when the step
 * that returned SQLITE_DONE returns. A write of several statements (a poll
 * and its options) runs between store__begin and store__commit.
 *
 * Internal names start with store__ (libuv's uv__): not part of store.h.
 */
#ifndef AGORA_STORE_SQLITE_INTERNAL_H
#define AGORA_STORE_SQLITE_INTERNAL_H

#include "store.h"

#include <sqlite3.h>

#include <stddef.h>
#include <stdint.h>

/* RETURNING (3.35), sqlite3_prepare_v3 (3.20), sqlite3_system_errno (3.16). */
#if SQLITE_VERSION_NUMBER < 3035000
#error "Agora's store needs SQLite 3.35 or later"
#endif

/* Every prepared statement. Its SQL sits in the file that runs it, in that
 * file's table (store__user_sql, store__message_sql, ...); a new concern adds its
 * ids here and its table to stmt_tables in sqlite_open.c. */
enum store__stmt {
	ST_USER_INSERT,
	ST_USER_BY_ID,
	ST_USER_BY_NAME,
	ST_USER_PASSWORD,
	ST_USER_SET_STATUS,
	ST_USER_DELETE,
	ST_USER_COUNT,
	ST_USER_LIST,
	ST_SCRAM_SET,
	ST_SCRAM_GET,
	ST_TOKEN_INSERT,
	ST_TOKEN_USER,
	ST_TOKEN_DELETE,
	ST_MSG_INSERT,
	ST_MSG_GET,
	ST_MSG_SET_READ,
	ST_MSG_DELETE,
	ST_INBOX_COUNT,
	ST_INBOX_LIST,
	ST_SENT_COUNT,
	ST_SENT_LIST,
	ST_POLL_INSERT,
	ST_POLL_OPTION_INSERT,
	ST_POLL_GET,
	ST_POLL_OPTIONS,
	ST_POLL_CLOSE,
	ST_POLL_COUNT,
	ST_POLL_COUNT_OPEN,
	ST_POLL_LIST_OPEN,
	ST_POLL_LIST_CLOSED,
	ST_POLL_NEXT_CLOSING,
	ST_VOTE_INSERT,
	ST_VOTE_UPDATE,
	ST_VOTE_GET,
	ST_RULE_INSERT,
	ST_RULE_UPDATE,
	ST_RULE_GET,
	ST_RULE_DELETE,
	ST_RULE_COUNT,
	ST_RULE_LIST,
	ST_RECORD_INSERT,
	ST_RECORD_LIST,
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	STMT_COUNT
};

/* One statement's SQL; a table of them ends with { .sql = NULL }. */
struct store__sql {
	enum store__stmt id;
	const char *sql;
};

extern const struct store__sql store__user_sql[];
extern const struct store__sql store__message_sql[];
extern const struct store__sql store__poll_sql[];
extern const struct store__sql store__rule_sql[];
extern const struct store__sql store__tx_sql[];

struct store {
	sqlite3 *db;
	sqlite3 *ckpt; /* store_checkpoint's own connection, or NULL */
	int version; /* 0 until store_open succeeded */
	uint64_t users_version; /* store_users_version: bumped before each users write */
	sqlite3_stmt *stmt[STMT_COUNT];
};

/* ---- binding (sqlite_stmt.c runs what is bound) ---- */

/* The caller's bytes outlive the call: the statement is cleared before the
 * store function returns. */
static inline int store__bind_text(sqlite3_stmt *s, int i, const char *text)
{
	return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

static inline int store__bind_blob(sqlite3_stmt *s, int i, const void *blob, size_t len)
{
	return sqlite3_bind_blob(s, i, blob, (int)len, SQLITE_STATIC);
}

/* Makes a statement ready for its next use; drops the bound pointers. */
static inline void store__stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

/* ---- sqlite_stmt.c ---- */

/* Logs the connection's last error once, naming the caller; STORE_EIO. */
int store__fail_io(struct store *st, const char *what);
/* Maps a failed step: a unique key taken is STORE_ECONFLICT, a missing
 * referenced row (user) STORE_ENOTFOUND, anything else logged STORE_EIO. */
int store__fail_step(struct store *st, int rc, const char *what);
/* A binding failed (a string over SQLite's limit, memory): logged, the
 * statement reset; STORE_EIO. */
int store__fail_bind(struct store *st, sqlite3_stmt *s, const char *what);

/*
 * Reads the current row into item: 0, or a STORE_E* code when the row is
 * unusable (logged by the reader, nothing left allocated in item).
 */
typedef int store__read_fn(sqlite3_stmt *s, void *item);

/* Column 0 as an int64_t (item is an int64_t *): a count, an id. */
int store__read_int64(sqlite3_stmt *s, void *item);
/* A heap copy of a text column (NULL reads as ""). */
char *store__column_dup(sqlite3_stmt *s, int col);

/*
 * Steps a bound statement that answers at most one row. Found: `read`
 * reads it into item and its code is returned (read NULL: only whether the
 * row exists, 0). Not found: STORE_ENOTFOUND. Failed: store__fail_step's
 * code. The statement is reset and cleared in every case.
 */
int store__one_row(struct store *st, sqlite3_stmt *s, store__read_fn *read, void *item,
		   const char *what);
/* The one integer a bound count(*) answers; no row at all is STORE_EIO. */
int store__count(struct store *st, sqlite3_stmt *s, int64_t *count, const char *what);
/* Runs a bound write; STORE_ENOTFOUND if it touched no row. sqlite3_changes
 * counts the statement's own rows, not those of cascades or triggers. */
int store__run_write(struct store *st, sqlite3_stmt *s, const char *what);

/* A transaction for a write of several statements: BEGIN IMMEDIATE (the
 * write lock at once, so no later statement fails on a lock), COMMIT (the
 * whole write is durable when it returns), ROLLBACK (after a failure,
 * whatever it was; never fails the caller). */
int store__begin(struct store *st, const char *what);
int store__commit(struct store *st, const char *what);
void store__rollback(struct store *st);

/* How many rows a page of `limit` after `offset` out of `total` holds (a
 * negative limit is no limit, as in SQL). */
size_t store__page_rows(int64_t total, int64_t limit, int64_t offset);
/*
 * Steps a bound list query to its end, each row read by `read` into an
 * array of `size`-byte items, allocated for `expect` rows (the count taken
 * before) and grown if another process wrote in between. *items and *n
 * are set even on failure, for the caller's list_free.
 */
int store__read_rows(struct store *st, sqlite3_stmt *s, size_t expect, size_t size,
		     store__read_fn *read, void **items, size_t *n, const char *what);

#endif
