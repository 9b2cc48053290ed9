/*
 * store_sqlite.c - the SQLite backend of store.h, and the only file that
 * includes sqlite3.h.
 *
 * One connection, WAL journal, foreign keys on. Every statement is prepared
 * once at open (SQLITE_PREPARE_PERSISTENT) and kept in struct store; a call
 * binds, steps, then resets and clears it before returning, so text is
 * bound SQLITE_STATIC (the caller's string outlives the call). Writes are
 * single statements in autocommit mode: committed when the step that
 * returned SQLITE_DONE returns.
 *
 * The schema is a list of migrations: migrations[i] takes the file from
 * version i to i + 1, recorded in PRAGMA user_version, each in its own
 * transaction. A new table or index is one more entry at the end; entries
 * already released never change.
 */
#include "store.h"

#include "base/alloc.h"
#include "base/array.h"
#include "base/log.h"

#include <sqlite3.h>

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* RETURNING (3.35), sqlite3_prepare_v3 (3.20), sqlite3_system_errno (3.16). */
#if SQLITE_VERSION_NUMBER < 3035000
#error "Agora's store needs SQLite 3.35 or later"
#endif

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* How long a statement waits for a lock held by another connection (a
 * backup, the sqlite3 shell) before failing: short, as the event loop
 * waits with it. */
#define STORE_BUSY_TIMEOUT_MS 1000

static const char *const migrations[] = {
	/* 1: accounts, login tokens, direct messages. Users' ids are never
	 * reused (AUTOINCREMENT), so an id held by a live session or cache
	 * cannot come to name someone else. A message row goes once both
	 * sides deleted it (trigger messages_gone). */
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
	" BEGIN DELETE FROM messages WHERE id = NEW.id; END;",
	/* 2: SCRAM-SHA-256 credentials for MQTT 5 enhanced authentication,
	 * at most one set per user, gone with the user. */
	"CREATE TABLE user_scram ("
	" user_id INTEGER PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,"
	" salt BLOB NOT NULL,"
	" iterations INTEGER NOT NULL,"
	" stored_key BLOB NOT NULL,"
	" server_key BLOB NOT NULL);",
};

#define SCHEMA_LATEST ((int)ARRAY_SIZE(migrations))

enum stmt_id {
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
	STMT_COUNT
};

/* Columns read by read_user() and read_message(), in their order. */
#define USER_COLS "id, name, status, status_updated_at, created_at"
#define MSG_COLS                                                                                   \
	"m.id, m.from_id, m.to_id, f.name, t.name, m.content, m.created_at, m.read_at "            \
	"FROM messages m JOIN users f ON f.id = m.from_id JOIN users t ON t.id = m.to_id "
/* ?1 viewer, ?2 since (exclusive), ?3 unread only, ?4 limit, ?5 offset. */
#define INBOX_WHERE                                                                                \
	"WHERE m.to_id = ?1 AND m.deleted_by_recipient = 0 AND m.created_at > ?2 "                 \
	"AND (?3 = 0 OR m.read_at = 0) "
#define SENT_WHERE "WHERE m.from_id = ?1 AND m.deleted_by_sender = 0 AND m.created_at > ?2 "
#define NEWEST_FIRST "ORDER BY m.created_at DESC, m.id DESC LIMIT ?4 OFFSET ?5"

static const char *const stmt_sql[STMT_COUNT] = {
	[ST_USER_INSERT] = "INSERT INTO users (name, password_hash, created_at)"
			   " VALUES (?1, ?2, ?3)",
	[ST_USER_BY_ID] = "SELECT " USER_COLS " FROM users WHERE id = ?1",
	/* The column's NOCASE collation applies: ASCII case ignored. */
	[ST_USER_BY_NAME] = "SELECT " USER_COLS " FROM users WHERE name = ?1",
	[ST_USER_PASSWORD] = "SELECT id, password_hash FROM users WHERE name = ?1",
	[ST_USER_SET_STATUS] = "UPDATE users SET status = ?2, status_updated_at = ?3 WHERE id = ?1",
	[ST_USER_DELETE] = "DELETE FROM users WHERE id = ?1",
	[ST_USER_COUNT] = "SELECT count(*) FROM users",
	[ST_USER_LIST] = "SELECT " USER_COLS " FROM users ORDER BY id LIMIT ?1 OFFSET ?2",
	[ST_SCRAM_SET] = "INSERT INTO user_scram (user_id, salt, iterations, stored_key, server_key)"
			 " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id) DO UPDATE SET"
			 " salt = excluded.salt, iterations = excluded.iterations,"
			 " stored_key = excluded.stored_key, server_key = excluded.server_key",
	[ST_SCRAM_GET] = "SELECT s.salt, s.iterations, s.stored_key, s.server_key"
			 " FROM users u JOIN user_scram s ON s.user_id = u.id WHERE u.name = ?1",
	[ST_TOKEN_INSERT] = "INSERT INTO tokens (hash, user_id, created_at) VALUES (?1, ?2, ?3)",
	[ST_TOKEN_USER] = "SELECT user_id FROM tokens WHERE hash = ?1",
	[ST_TOKEN_DELETE] = "DELETE FROM tokens WHERE hash = ?1",
	[ST_MSG_INSERT] = "INSERT INTO messages (from_id, to_id, content, created_at)"
			  " VALUES (?1, ?2, ?3, ?4) RETURNING id, from_id, to_id,"
			  " (SELECT name FROM users WHERE id = from_id),"
			  " (SELECT name FROM users WHERE id = to_id),"
			  " content, created_at, read_at",
	[ST_MSG_GET] = "SELECT " MSG_COLS "WHERE m.id = ?1 AND"
		       " ((m.from_id = ?2 AND m.deleted_by_sender = 0) OR"
		       " (m.to_id = ?2 AND m.deleted_by_recipient = 0))",
	[ST_MSG_SET_READ] = "UPDATE messages SET read_at = ?3"
			    " WHERE id = ?1 AND to_id = ?2 AND deleted_by_recipient = 0",
	/* Sets the viewer's flag(s); the trigger removes the row once both
	 * are set. Changes no row for anyone else or a second time. */
	[ST_MSG_DELETE] = "UPDATE messages SET"
			  " deleted_by_sender = deleted_by_sender OR from_id = ?2,"
			  " deleted_by_recipient = deleted_by_recipient OR to_id = ?2"
			  " WHERE id = ?1 AND ((from_id = ?2 AND deleted_by_sender = 0) OR"
			  " (to_id = ?2 AND deleted_by_recipient = 0))",
	[ST_INBOX_COUNT] = "SELECT count(*) FROM messages m " INBOX_WHERE,
	[ST_INBOX_LIST] = "SELECT " MSG_COLS INBOX_WHERE NEWEST_FIRST,
	[ST_SENT_COUNT] = "SELECT count(*) FROM messages m " SENT_WHERE,
	[ST_SENT_LIST] = "SELECT " MSG_COLS SENT_WHERE NEWEST_FIRST,
};

struct store {
	sqlite3 *db;
	sqlite3 *ckpt; /* store_checkpoint's own connection, or NULL */
	int version; /* 0 until store_open succeeded */
	uint64_t users_version; /* store_users_version: bumped before each users write */
	sqlite3_stmt *stmt[STMT_COUNT];
};

const char *store_strerror(int err)
{
	switch (err) {
	case STORE_OK: return "success";
	case STORE_ENOTFOUND: return "not found";
	case STORE_ECONFLICT: return "already exists";
	case STORE_EIO: return "database error";
	case STORE_EVERSION: return "database schema is newer than this program";
	case STORE_EOPEN: return "database cannot be opened";
	}
	return "unknown store error";
}

/* ---- helpers for every call ---- */

/* Logs the connection's last error once, naming the caller; STORE_EIO. */
static int fail_io(struct store *st, const char *what)
{
	log_error("store: %s: %s", what, sqlite3_errmsg(st->db));
	return STORE_EIO;
}

/* Maps a failed step: a unique key taken is STORE_ECONFLICT, a missing
 * referenced row (user) STORE_ENOTFOUND, anything else logged STORE_EIO. */
static int fail_step(struct store *st, int rc, const char *what)
{
	switch (rc) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY: return STORE_ECONFLICT;
	case SQLITE_CONSTRAINT_FOREIGNKEY: return STORE_ENOTFOUND;
	}
	return fail_io(st, what);
}

/* Makes a statement ready for its next use; drops the bound pointers. */
static void stmt_done(sqlite3_stmt *s)
{
	sqlite3_reset(s);
	sqlite3_clear_bindings(s);
}

static int bind_text(sqlite3_stmt *s, int i, const char *text)
{
	return sqlite3_bind_text(s, i, text, -1, SQLITE_STATIC);
}

static int bind_hash(sqlite3_stmt *s, int i, const uint8_t *hash)
{
	return sqlite3_bind_blob(s, i, hash, STORE_TOKEN_HASH_LEN, SQLITE_STATIC);
}

/* A binding failed (a string over SQLite's limit, memory): logged. */
static int fail_bind(struct store *st, sqlite3_stmt *s, const char *what)
{
	int ret = fail_io(st, what);

	stmt_done(s);
	return ret;
}

/* Runs a bound write; STORE_ENOTFOUND if it touched no row. sqlite3_changes
 * counts the statement's own rows, not those of cascades or triggers. */
static int run_write(struct store *st, sqlite3_stmt *s, const char *what)
{
	int rc = sqlite3_step(s);
	int ret;

	if (rc == SQLITE_DONE)
		ret = sqlite3_changes(st->db) > 0 ? STORE_OK : STORE_ENOTFOUND;
	else
		ret = fail_step(st, rc, what);
	stmt_done(s);
	return ret;
}

/* A heap copy of a text column. NOT NULL columns only come back NULL when
 * SQLite ran out of memory, which is fatal here as in base/alloc.h. */
static char *column_dup(sqlite3_stmt *s, int col)
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

static void read_user(sqlite3_stmt *s, struct store_user *u)
{
	u->id = sqlite3_column_int64(s, 0);
	u->name = column_dup(s, 1);
	u->status = column_dup(s, 2);
	u->status_updated_at = sqlite3_column_int64(s, 3);
	u->created_at = sqlite3_column_int64(s, 4);
}

static void read_message(sqlite3_stmt *s, struct store_message *m)
{
	m->id = sqlite3_column_int64(s, 0);
	m->from_id = sqlite3_column_int64(s, 1);
	m->to_id = sqlite3_column_int64(s, 2);
	m->from_name = column_dup(s, 3);
	m->to_name = column_dup(s, 4);
	m->content = column_dup(s, 5);
	m->created_at = sqlite3_column_int64(s, 6);
	m->read_at = sqlite3_column_int64(s, 7);
}

/* Steps a bound query for one user row into *out (which may be NULL). */
static int get_user(struct store *st, sqlite3_stmt *s, struct store_user *out, const char *what)
{
	int rc = sqlite3_step(s);
	int ret = STORE_OK;

	if (rc == SQLITE_ROW) {
		if (out)
			read_user(s, out);
	} else if (rc == SQLITE_DONE) {
		ret = STORE_ENOTFOUND;
	} else {
		ret = fail_step(st, rc, what);
	}
	stmt_done(s);
	return ret;
}

/* Reads the one integer a count(*) gives. */
static int get_count(struct store *st, sqlite3_stmt *s, int64_t *count, const char *what)
{
	int rc = sqlite3_step(s);
	int ret = STORE_OK;

	if (rc == SQLITE_ROW)
		*count = sqlite3_column_int64(s, 0);
	else
		ret = fail_io(st, what);
	stmt_done(s);
	return ret;
}

/* How many rows a page of `limit` after `offset` out of `total` holds (a
 * negative limit is no limit, as in SQL). */
static size_t page_rows(int64_t total, int64_t limit, int64_t offset)
{
	int64_t left = total - (offset > 0 ? offset : 0);

	if (left <= 0)
		return 0;
	if (limit >= 0 && limit < left)
		left = limit;
	return (size_t)left;
}

/* The row readers, in the shape read_rows takes. */
static void read_user_row(sqlite3_stmt *s, void *item)
{
	read_user(s, item);
}

static void read_message_row(sqlite3_stmt *s, void *item)
{
	read_message(s, item);
}

/* Steps a bound list query to its end, each row read by `read` into an
 * array of `size`-byte items, allocated for `expect` rows (the count taken
 * before) and grown if another process wrote in between. *items and *n
 * are set even on failure, for the caller's list_free. */
static int read_rows(struct store *st, sqlite3_stmt *s, size_t expect, size_t size,
		     void (*read)(sqlite3_stmt *, void *), void **items, size_t *n, const char *what)
{
	uint32_t cap = 0;
	/* Exactly `expect` rows first (the first capacity is expect). */
	char *a = array_grow(NULL, &cap, expect, size, (uint32_t)expect, ARRAY_MAX);
	int rc, ret = STORE_OK;

	*n = 0;
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		a = array_grow(a, &cap, *n + 1, size, 8, ARRAY_MAX);
		read(s, a + *n * size);
		(*n)++;
	}
	if (rc != SQLITE_DONE)
		ret = fail_step(st, rc, what);
	stmt_done(s);
	*items = a;
	return ret;
}

/* ---- open, migrate, close ---- */

static void set_err(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (!err || !errlen)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

/* What a failure while opening means: the file cannot be used at all
 * (missing directory, permissions, not a database), or something broke. */
static int open_code(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_PERM:
	case SQLITE_AUTH:
	case SQLITE_NOTADB: return STORE_EOPEN;
	}
	return STORE_EIO;
}

/* Why the OS refuses path, found again by hand: SQLite's errno is that of
 * its last attempt (a read-only retry gives ENOENT where the directory
 * refused to create the file). The WAL beside the file needs the directory
 * writable too. 0 if nothing visibly wrong. Cold path only. */
static int os_reason(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t len = !slash ? 1 : slash == path ? 1 : (size_t)(slash - path);
	struct stat sb;

	if (stat(path, &sb) == 0) {
		if (S_ISDIR(sb.st_mode))
			return EISDIR;
		if (access(path, R_OK | W_OK) != 0)
			return errno;
	} else if (errno != ENOENT) {
		return errno;
	}
	if (len >= sizeof(dir))
		return 0;
	memcpy(dir, slash ? path : ".", len);
	dir[len] = '\0';
	return access(dir, W_OK | X_OK) != 0 ? errno : 0;
}

/* Describes db's last error (rc), with the OS's reason when there is one. */
static void db_err(sqlite3 *db, int rc, const char *path, const char *doing, char *err,
		   size_t errlen)
{
	int sys = 0;

	if ((rc & 0xff) == SQLITE_CANTOPEN || (rc & 0xff) == SQLITE_READONLY)
		sys = os_reason(path);
	if (!sys)
		sys = sqlite3_system_errno(db);
	if (sys)
		set_err(err, errlen, "store '%s': %s: %s (%s)", path, doing, sqlite3_errmsg(db),
			strerror(sys));
	else
		set_err(err, errlen, "store '%s': %s: %s", path, doing, sqlite3_errmsg(db));
}

/* Runs SQL without results; on failure describes it in err. */
static int exec_sql(sqlite3 *db, const char *sql, const char *path, const char *doing, char *err,
		    size_t errlen)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	if (rc != SQLITE_OK) {
		db_err(db, rc, path, doing, err, errlen);
		return open_code(rc);
	}
	return STORE_OK;
}

/* Runs a one-row PRAGMA (or query) and copies its first column as text. */
static int pragma_text(sqlite3 *db, const char *sql, char *buf, size_t cap, const char *path,
		       const char *doing, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	int ret = STORE_OK;

	if (rc != SQLITE_OK) {
		db_err(db, rc, path, doing, err, errlen);
		return open_code(rc);
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *text = sqlite3_column_text(s, 0);

		snprintf(buf, cap, "%s", text ? (const char *)text : "");
	} else if (rc == SQLITE_DONE) {
		buf[0] = '\0';
	} else {
		db_err(db, rc, path, doing, err, errlen);
		ret = open_code(rc);
	}
	sqlite3_finalize(s);
	return ret;
}

static int read_version(sqlite3 *db, int *version, const char *path, char *err, size_t errlen)
{
	char buf[24];
	char *end;
	long v;
	int ret = pragma_text(db, "PRAGMA user_version", buf, sizeof(buf), path,
			      "reading the schema version", err, errlen);

	if (ret)
		return ret;
	errno = 0;
	v = strtol(buf, &end, 10);
	if (errno || end == buf || *end || v < 0 || v > INT32_MAX) {
		set_err(err, errlen, "store '%s': unreadable schema version '%s'", path, buf);
		return STORE_EIO;
	}
	*version = (int)v;
	return STORE_OK;
}

static int check_version(int version, const char *path, char *err, size_t errlen)
{
	if (version <= SCHEMA_LATEST)
		return STORE_OK;
	set_err(err, errlen,
		"store '%s' has schema version %d, newer than the %d this program knows: "
		"it was written by a later version of agora",
		path, version, SCHEMA_LATEST);
	return STORE_EVERSION;
}

static int open_db(struct store *st, const char *path, char *err, size_t errlen)
{
	int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX;
	int rc = sqlite3_open_v2(path, &st->db, flags, NULL);

	if (rc != SQLITE_OK) {
		if (st->db)
			db_err(st->db, rc, path, "cannot open", err, errlen);
		else
			set_err(err, errlen, "store '%s': cannot open: %s", path,
				sqlite3_errstr(rc));
		return open_code(rc);
	}
	/* A file the OS lets us read but not write opens read-only. */
	if (sqlite3_db_readonly(st->db, "main") == 1) {
		set_err(err, errlen, "store '%s': cannot open: the file is read-only", path);
		return STORE_EOPEN;
	}
	sqlite3_extended_result_codes(st->db, 1);
	sqlite3_busy_timeout(st->db, STORE_BUSY_TIMEOUT_MS);
	return STORE_OK;
}

/* Journal, durability and foreign keys: per connection, outside any
 * transaction. journal_mode=WAL is stored in the file. */
static int configure(struct store *st, const char *path, enum store_sync sync, char *err,
		     size_t errlen)
{
	const char *sync_sql = sync == STORE_SYNC_FULL ? "PRAGMA synchronous=FULL"
						       : "PRAGMA synchronous=NORMAL";
	const char *name;
	char buf[16];
	int ret = pragma_text(st->db, "PRAGMA journal_mode=WAL", buf, sizeof(buf), path,
			      "setting the WAL journal", err, errlen);

	if (ret)
		return ret;
	/* In-memory and temporary databases (no file name) cannot use WAL. */
	name = sqlite3_db_filename(st->db, "main");
	if (strcmp(buf, "wal") != 0 && name && *name)
		log_warn("store '%s': journal mode is %s, not wal: commits are slower", path, buf);
	ret = exec_sql(st->db, sync_sql, path, "setting synchronous", err, errlen);
	if (ret)
		return ret;
	ret = exec_sql(st->db, "PRAGMA foreign_keys=ON", path, "enabling foreign keys", err,
		       errlen);
	if (ret)
		return ret;
	/* Deleting a user relies on the cascades: refuse a library without. */
	ret = pragma_text(st->db, "PRAGMA foreign_keys", buf, sizeof(buf), path,
			  "checking foreign keys", err, errlen);
	if (ret)
		return ret;
	if (strcmp(buf, "1") != 0) {
		set_err(err, errlen, "store '%s': this SQLite has no foreign key support", path);
		return STORE_EIO;
	}
	return STORE_OK;
}

/* One migration step in its own transaction. The version is read again
 * under the write lock: another process may have migrated meanwhile. */
static int migrate_step(struct store *st, const char *path, int *version, char *err, size_t errlen)
{
	char sql[48];
	char doing[48];
	int v;
	int ret = exec_sql(st->db, "BEGIN IMMEDIATE", path, "starting a migration", err, errlen);

	if (ret)
		return ret;
	ret = read_version(st->db, &v, path, err, errlen);
	if (ret)
		goto out_rollback;
	ret = check_version(v, path, err, errlen);
	if (ret || v == SCHEMA_LATEST)
		goto out_rollback;
	snprintf(doing, sizeof(doing), "migrating to schema version %d", v + 1);
	ret = exec_sql(st->db, migrations[v], path, doing, err, errlen);
	if (ret)
		goto out_rollback;
	snprintf(sql, sizeof(sql), "PRAGMA user_version=%d", v + 1);
	ret = exec_sql(st->db, sql, path, "recording the schema version", err, errlen);
	if (ret)
		goto out_rollback;
	ret = exec_sql(st->db, "COMMIT", path, "committing a migration", err, errlen);
	if (ret)
		goto out_rollback;
	*version = v + 1;
	return STORE_OK;
out_rollback:
	sqlite3_exec(st->db, "ROLLBACK", NULL, NULL, NULL);
	if (!ret)
		*version = v;
	return ret;
}

static int migrate(struct store *st, const char *path, int *version, char *err, size_t errlen)
{
	int from = *version;
	int ret = STORE_OK;

	while (!ret && *version < SCHEMA_LATEST)
		ret = migrate_step(st, path, version, err, errlen);
	/* Upgrading existing data is worth a line; creating a file is not. */
	if (!ret && from > 0 && *version > from)
		log_info("store '%s': schema upgraded from version %d to %d", path, from, *version);
	return ret;
}

static int prepare_all(struct store *st, const char *path, char *err, size_t errlen)
{
	for (size_t i = 0; i < STMT_COUNT; i++) {
		int rc = sqlite3_prepare_v3(st->db, stmt_sql[i], -1, SQLITE_PREPARE_PERSISTENT,
					    &st->stmt[i], NULL);

		if (rc != SQLITE_OK) {
			set_err(err, errlen, "store '%s': preparing statement %zu: %s", path, i,
				sqlite3_errmsg(st->db));
			return STORE_EIO;
		}
	}
	return STORE_OK;
}

int store_open(const char *path, enum store_sync sync, struct store **out, char *err, size_t errlen)
{
	struct store *st = xcalloc(1, sizeof(*st));
	int version;
	int ret = open_db(st, path, err, errlen);

	st->users_version = 1;
	if (ret)
		goto out_free;
	/* Before anything writes to it: a newer file is left as it is. */
	ret = read_version(st->db, &version, path, err, errlen);
	if (ret)
		goto out_free;
	ret = check_version(version, path, err, errlen);
	if (ret)
		goto out_free;
	ret = configure(st, path, sync, err, errlen);
	if (ret)
		goto out_free;
	ret = migrate(st, path, &version, err, errlen);
	if (ret)
		goto out_free;
	ret = prepare_all(st, path, err, errlen);
	if (ret)
		goto out_free;
	st->version = version;
	*out = st;
	return STORE_OK;
out_free:
	store_free(st);
	return ret;
}

int store_checkpoint_elsewhere(struct store *st)
{
	const char *path = sqlite3_db_filename(st->db, "main");
	int rc;

	if (!path || !*path || st->ckpt)
		return STORE_OK; /* in memory: no WAL */
	rc = sqlite3_open_v2(path, &st->ckpt, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, NULL);
	if (rc != SQLITE_OK) {
		log_error("store '%s': checkpoint connection: %s", path, sqlite3_errstr(rc));
		sqlite3_close(st->ckpt);
		st->ckpt = NULL;
		return STORE_EIO;
	}
	sqlite3_busy_timeout(st->ckpt, STORE_BUSY_TIMEOUT_MS);
	/* From now on no write of ours checkpoints. */
	if (sqlite3_exec(st->db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL) != SQLITE_OK) {
		log_error("store '%s': %s", path, sqlite3_errmsg(st->db));
		sqlite3_close(st->ckpt);
		st->ckpt = NULL;
		return STORE_EIO;
	}
	return STORE_OK;
}

uint64_t store_changes(const struct store *st)
{
	return (uint64_t)sqlite3_total_changes64(st->db);
}

int store_checkpoint(struct store *st)
{
	int rc;

	if (!st->ckpt)
		return STORE_OK;
	/* PASSIVE: copies what it can without waiting for the writer. */
	rc = sqlite3_wal_checkpoint_v2(st->ckpt, NULL, SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	if (rc != SQLITE_OK && rc != SQLITE_BUSY) {
		log_error("store: checkpoint: %s", sqlite3_errmsg(st->ckpt));
		return STORE_EIO;
	}
	return STORE_OK;
}

void store_free(struct store *st)
{
	if (!st)
		return;
	/* The checkpoint connection first: the last one to close checkpoints
	 * the whole WAL and removes it. */
	if (st->ckpt && sqlite3_close(st->ckpt) != SQLITE_OK)
		log_error("store: closing the checkpoint connection: %s", sqlite3_errmsg(st->ckpt));
	for (size_t i = 0; i < STMT_COUNT; i++)
		sqlite3_finalize(st->stmt[i]);
	if (st->db) {
		/* Keeps the planner's statistics current (cheap; SQLite's advice
		 * for long-lived connections). Not on a file we refused. */
		if (st->version)
			sqlite3_exec(st->db, "PRAGMA optimize", NULL, NULL, NULL);
		if (sqlite3_close(st->db) != SQLITE_OK)
			log_error("store: closing: %s", sqlite3_errmsg(st->db));
	}
	free(st);
}

int store_schema_version(const struct store *st)
{
	return st->version;
}

/* ---- users ---- */

uint64_t store_users_version(const struct store *st)
{
	return st->users_version;
}

void store_user_release(struct store_user *u)
{
	if (!u)
		return;
	free(u->name);
	free(u->status);
	memset(u, 0, sizeof(*u));
}

int store_user_create(struct store *st, const char *name, const char *password_hash,
		      int64_t now, struct store_user *out)
{
	sqlite3_stmt *s = st->stmt[ST_USER_INSERT];
	int rc;

	st->users_version++;
	if (bind_text(s, 1, name) || bind_text(s, 2, password_hash) ||
	    sqlite3_bind_int64(s, 3, now))
		return fail_bind(st, s, __func__);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		int ret = fail_step(st, rc, __func__);

		stmt_done(s);
		return ret;
	}
	stmt_done(s);
	/* The new row is what was given, and the defaults. */
	if (out) {
		*out = (struct store_user){
			.id = sqlite3_last_insert_rowid(st->db),
			.name = xstrdup(name),
			.status = xstrdup(""),
			.created_at = now,
		};
	}
	return STORE_OK;
}

int store_user_by_id(struct store *st, int64_t id, struct store_user *out)
{
	sqlite3_stmt *s = st->stmt[ST_USER_BY_ID];

	if (sqlite3_bind_int64(s, 1, id))
		return fail_bind(st, s, __func__);
	return get_user(st, s, out, __func__);
}

int store_user_by_name(struct store *st, const char *name, struct store_user *out)
{
	sqlite3_stmt *s = st->stmt[ST_USER_BY_NAME];

	if (bind_text(s, 1, name))
		return fail_bind(st, s, __func__);
	return get_user(st, s, out, __func__);
}

int store_user_password(struct store *st, const char *name, int64_t *id, char *hash, size_t cap)
{
	sqlite3_stmt *s = st->stmt[ST_USER_PASSWORD];
	int ret = STORE_OK;
	int rc;

	if (bind_text(s, 1, name))
		return fail_bind(st, s, __func__);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *text = sqlite3_column_text(s, 1);
		size_t len = (size_t)sqlite3_column_bytes(s, 1);

		if (!text || len >= cap) {
			log_error("store: %s: the hash of '%s' (%zu bytes) does not fit in %zu",
				  __func__, name, len, cap);
			ret = STORE_EIO;
		} else {
			memcpy(hash, text, len + 1);
			if (id)
				*id = sqlite3_column_int64(s, 0);
		}
	} else if (rc == SQLITE_DONE) {
		ret = STORE_ENOTFOUND;
	} else {
		ret = fail_step(st, rc, __func__);
	}
	stmt_done(s);
	return ret;
}

int store_user_set_status(struct store *st, int64_t id, const char *status, int64_t now)
{
	sqlite3_stmt *s = st->stmt[ST_USER_SET_STATUS];

	st->users_version++;
	if (sqlite3_bind_int64(s, 1, id) || bind_text(s, 2, status) ||
	    sqlite3_bind_int64(s, 3, now))
		return fail_bind(st, s, __func__);
	return run_write(st, s, __func__);
}

int store_user_delete(struct store *st, int64_t id)
{
	sqlite3_stmt *s = st->stmt[ST_USER_DELETE];

	st->users_version++;
	if (sqlite3_bind_int64(s, 1, id))
		return fail_bind(st, s, __func__);
	return run_write(st, s, __func__);
}

int store_user_list(struct store *st, int64_t limit, int64_t offset, struct store_user_list *out)
{
	sqlite3_stmt *s = st->stmt[ST_USER_LIST];
	struct store_user_list l = { 0 };
	void *items;
	int ret = get_count(st, st->stmt[ST_USER_COUNT], &l.total, __func__);

	if (ret)
		return ret;
	if (sqlite3_bind_int64(s, 1, limit) || sqlite3_bind_int64(s, 2, offset))
		return fail_bind(st, s, __func__);
	ret = read_rows(st, s, page_rows(l.total, limit, offset), sizeof(*l.items), read_user_row,
			&items, &l.n, __func__);
	l.items = items;
	if (ret) {
		store_user_list_free(&l);
		return ret;
	}
	*out = l;
	return STORE_OK;
}

void store_user_list_free(struct store_user_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		store_user_release(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* ---- SCRAM credentials ---- */

int store_user_set_scram(struct store *st, int64_t id, const struct store_scram *cred)
{
	sqlite3_stmt *s = st->stmt[ST_SCRAM_SET];

	if (sqlite3_bind_int64(s, 1, id) ||
	    sqlite3_bind_blob(s, 2, cred->salt, STORE_SCRAM_SALT_LEN, SQLITE_STATIC) ||
	    sqlite3_bind_int64(s, 3, cred->iterations) ||
	    sqlite3_bind_blob(s, 4, cred->stored_key, STORE_SCRAM_KEY_LEN, SQLITE_STATIC) ||
	    sqlite3_bind_blob(s, 5, cred->server_key, STORE_SCRAM_KEY_LEN, SQLITE_STATIC))
		return fail_bind(st, s, __func__);
	return run_write(st, s, __func__);
}

/* Copies a blob column of exactly len bytes; false if it has another size. */
static bool column_blob(sqlite3_stmt *s, int col, uint8_t *out, size_t len)
{
	const void *blob = sqlite3_column_blob(s, col);

	if (!blob || (size_t)sqlite3_column_bytes(s, col) != len)
		return false;
	memcpy(out, blob, len);
	return true;
}

int store_user_scram(struct store *st, const char *name, struct store_scram *out)
{
	sqlite3_stmt *s = st->stmt[ST_SCRAM_GET];
	struct store_scram cred;
	int ret = STORE_OK;
	int rc;

	if (bind_text(s, 1, name))
		return fail_bind(st, s, __func__);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		int64_t iterations = sqlite3_column_int64(s, 1);

		if (!column_blob(s, 0, cred.salt, sizeof(cred.salt)) ||
		    !column_blob(s, 2, cred.stored_key, sizeof(cred.stored_key)) ||
		    !column_blob(s, 3, cred.server_key, sizeof(cred.server_key)) ||
		    iterations < 1 || iterations > UINT32_MAX) {
			log_error("store: %s: malformed SCRAM credentials for '%s'", __func__,
				  name);
			ret = STORE_EIO;
		} else {
			cred.iterations = (uint32_t)iterations;
			*out = cred;
		}
	} else if (rc == SQLITE_DONE) {
		ret = STORE_ENOTFOUND;
	} else {
		ret = fail_step(st, rc, __func__);
	}
	stmt_done(s);
	return ret;
}

/* ---- tokens ---- */

int store_token_add(struct store *st, int64_t user_id, const uint8_t hash[STORE_TOKEN_HASH_LEN],
		    int64_t now)
{
	sqlite3_stmt *s = st->stmt[ST_TOKEN_INSERT];

	if (bind_hash(s, 1, hash) || sqlite3_bind_int64(s, 2, user_id) ||
	    sqlite3_bind_int64(s, 3, now))
		return fail_bind(st, s, __func__);
	return run_write(st, s, __func__);
}

int store_token_user(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t *user_id)
{
	sqlite3_stmt *s = st->stmt[ST_TOKEN_USER];
	int ret = STORE_OK;
	int rc;

	if (bind_hash(s, 1, hash))
		return fail_bind(st, s, __func__);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW)
		*user_id = sqlite3_column_int64(s, 0);
	else if (rc == SQLITE_DONE)
		ret = STORE_ENOTFOUND;
	else
		ret = fail_step(st, rc, __func__);
	stmt_done(s);
	return ret;
}

int store_token_delete(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN])
{
	sqlite3_stmt *s = st->stmt[ST_TOKEN_DELETE];

	if (bind_hash(s, 1, hash))
		return fail_bind(st, s, __func__);
	return run_write(st, s, __func__);
}

/* ---- messages ---- */

void store_message_release(struct store_message *m)
{
	if (!m)
		return;
	free(m->from_name);
	free(m->to_name);
	free(m->content);
	memset(m, 0, sizeof(*m));
}

int store_message_create(struct store *st, int64_t from_id, int64_t to_id, const char *content,
			 int64_t now, struct store_message *out)
{
	sqlite3_stmt *s = st->stmt[ST_MSG_INSERT];
	struct store_message m;
	int ret = STORE_OK;
	int rc;

	if (sqlite3_bind_int64(s, 1, from_id) || sqlite3_bind_int64(s, 2, to_id) ||
	    bind_text(s, 3, content) || sqlite3_bind_int64(s, 4, now))
		return fail_bind(st, s, __func__);
	/* RETURNING gives the row (with both names) at the first step, but
	 * the statement commits when it ends: step to the end first. */
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		ret = fail_step(st, rc, __func__);
		goto out_reset;
	}
	read_message(s, &m);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = fail_step(st, rc, __func__);
		store_message_release(&m);
		goto out_reset;
	}
	if (out)
		*out = m;
	else
		store_message_release(&m);
out_reset:
	stmt_done(s);
	return ret;
}

int store_message_get(struct store *st, int64_t id, int64_t viewer, struct store_message *out)
{
	sqlite3_stmt *s = st->stmt[ST_MSG_GET];
	int ret = STORE_OK;
	int rc;

	if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, viewer))
		return fail_bind(st, s, __func__);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		if (out)
			read_message(s, out);
	} else if (rc == SQLITE_DONE) {
		ret = STORE_ENOTFOUND;
	} else {
		ret = fail_step(st, rc, __func__);
	}
	stmt_done(s);
	return ret;
}

int store_message_set_read(struct store *st, int64_t id, int64_t recipient, bool read, int64_t now)
{
	sqlite3_stmt *s = st->stmt[ST_MSG_SET_READ];

	if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, recipient) ||
	    sqlite3_bind_int64(s, 3, read ? now : 0))
		return fail_bind(st, s, __func__);
	return run_write(st, s, __func__);
}

int store_message_delete(struct store *st, int64_t id, int64_t viewer)
{
	sqlite3_stmt *s = st->stmt[ST_MSG_DELETE];

	if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, viewer))
		return fail_bind(st, s, __func__);
	return run_write(st, s, __func__);
}

/* Binds a query's ?1..?3 (?4, ?5 too when paging). since 0 means all:
 * every time is after INT64_MIN. */
static int bind_query(sqlite3_stmt *s, const struct store_message_query *q, bool page)
{
	int rc = sqlite3_bind_int64(s, 1, q->user_id);

	if (!rc)
		rc = sqlite3_bind_int64(s, 2, q->since ? q->since : INT64_MIN);
	/* The sent query has no ?3; binding it is SQLITE_RANGE. */
	if (!rc && q->box == STORE_INBOX)
		rc = sqlite3_bind_int(s, 3, q->unread_only);
	if (!rc && page)
		rc = sqlite3_bind_int64(s, 4, q->limit);
	if (!rc && page)
		rc = sqlite3_bind_int64(s, 5, q->offset);
	return rc;
}

int store_message_list(struct store *st, const struct store_message_query *q,
		       struct store_message_list *out)
{
	bool inbox = q->box == STORE_INBOX;
	sqlite3_stmt *count = st->stmt[inbox ? ST_INBOX_COUNT : ST_SENT_COUNT];
	sqlite3_stmt *s = st->stmt[inbox ? ST_INBOX_LIST : ST_SENT_LIST];
	struct store_message_list l = { 0 };
	void *items;
	int ret;

	if (bind_query(count, q, false))
		return fail_bind(st, count, __func__);
	ret = get_count(st, count, &l.total, __func__);
	if (ret)
		return ret;
	if (bind_query(s, q, true))
		return fail_bind(st, s, __func__);
	ret = read_rows(st, s, page_rows(l.total, q->limit, q->offset), sizeof(*l.items),
			read_message_row, &items, &l.n, __func__);
	l.items = items;
	if (ret) {
		store_message_list_free(&l);
		return ret;
	}
	*out = l;
	return STORE_OK;
}

void store_message_list_free(struct store_message_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		store_message_release(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}
