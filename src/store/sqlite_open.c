/*
 * sqlite_open.c - the SQLite backend's connection: opening the file, its
 * pragmas, the schema's migrations, preparing every statement,
 * checkpoints, closing, and store.h's error names.
 *
 * The schema is a list of migrations: migrations[i] takes the file from
 * version i to i + 1, recorded in PRAGMA user_version, each in its own
 * transaction. A new table or index is one more entry at the end; entries
 * already released never change.
 *
 * Failures while opening are described in the caller's err buffer (the
 * CLI prints it); later failures are logged, as the other files do.
 */
#include "sqlite_internal.h"

#include "base/alloc.h"
#include "base/log.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
	/* 3: polls, their options and votes (sqlite_polls.c). Polls and
	 * votes outlive accounts: creator_id and user_id become NULL when
	 * the user goes (ON DELETE SET NULL; indexed, so a deletion does not
	 * scan them), and UNIQUE (poll_id, user_id) lets any number of those
	 * NULL votes coexist while one account still has one vote per poll.
	 * A vote names its option by (poll_id, number), a foreign key: no
	 * vote for an option that does not exist. Each option keeps its
	 * count, moved by triggers in the statement that writes the vote:
	 * the count and the vote commit together whichever code writes, and
	 * reading results costs one row per option instead of a count over
	 * every vote, as they are read after every vote (the answer, the
	 * MQTT results). Ids are never reused, as topics carry them. The
	 * list shows open polls newest first (polls_open: only polls not
	 * closed by hand, with closes_at to tell the expired ones and to
	 * count them from the index), then the others (polls_newest). */
	"CREATE TABLE polls ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" creator_id INTEGER REFERENCES users(id) ON DELETE SET NULL,"
	" question TEXT NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" closes_at INTEGER NOT NULL DEFAULT 0,"
	" closed_at INTEGER NOT NULL DEFAULT 0);"
	"CREATE INDEX polls_creator ON polls(creator_id);"
	"CREATE INDEX polls_newest ON polls(created_at DESC, id DESC);"
	"CREATE INDEX polls_open ON polls(created_at DESC, id DESC, closes_at)"
	" WHERE closed_at = 0;"
	"CREATE TABLE poll_options ("
	" poll_id INTEGER NOT NULL REFERENCES polls(id) ON DELETE CASCADE,"
	" number INTEGER NOT NULL,"
	" label TEXT NOT NULL,"
	" votes INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (poll_id, number)) WITHOUT ROWID;"
	"CREATE TABLE votes ("
	" poll_id INTEGER NOT NULL REFERENCES polls(id) ON DELETE CASCADE,"
	" user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,"
	" option INTEGER NOT NULL,"
	" voted_at INTEGER NOT NULL,"
	" UNIQUE (poll_id, user_id),"
	" FOREIGN KEY (poll_id, option) REFERENCES poll_options(poll_id, number)"
	" ON DELETE CASCADE);"
	"CREATE INDEX votes_user ON votes(user_id);"
	"CREATE TRIGGER votes_counted AFTER INSERT ON votes BEGIN"
	" UPDATE poll_options SET votes = votes + 1"
	" WHERE poll_id = NEW.poll_id AND number = NEW.option; END;"
	"CREATE TRIGGER votes_moved AFTER UPDATE OF option ON votes"
	" WHEN NEW.option <> OLD.option BEGIN"
	" UPDATE poll_options SET votes = votes - 1"
	" WHERE poll_id = OLD.poll_id AND number = OLD.option;"
	" UPDATE poll_options SET votes = votes + 1"
	" WHERE poll_id = NEW.poll_id AND number = NEW.option; END;"
	"CREATE TRIGGER votes_uncounted AFTER DELETE ON votes BEGIN"
	" UPDATE poll_options SET votes = votes - 1"
	" WHERE poll_id = OLD.poll_id AND number = OLD.option; END;",
	/* 4: rules and the rows their record actions append (sqlite_rules.c,
	 * docs/rules.md). A rule outlives its owner's account, disabled:
	 * owner_id becomes NULL (ON DELETE SET NULL, indexed) and the
	 * trigger rules_orphaned turns it off in the same statement, so a
	 * rule never runs, nor sends messages, in the name of nobody; an
	 * admin reviews it and takes it over by saving it (store.h). Names
	 * are unique without regard to ASCII case, as users' are. Ids are
	 * never reused: a record names its rule by id, and a record outlives
	 * its rule (no foreign key: the collection is the data people
	 * wanted, the rule only its writer). A collection is read newest
	 * first by id (rule_records_collection). */
	"CREATE TABLE rules ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE COLLATE NOCASE,"
	" owner_id INTEGER REFERENCES users(id) ON DELETE SET NULL,"
	" sql TEXT NOT NULL,"
	" actions TEXT NOT NULL,"
	" enabled INTEGER NOT NULL DEFAULT 1,"
	" created_at INTEGER NOT NULL,"
	" updated_at INTEGER NOT NULL);"
	"CREATE INDEX rules_owner ON rules(owner_id);"
	"CREATE TRIGGER rules_orphaned AFTER UPDATE OF owner_id ON rules"
	" WHEN NEW.owner_id IS NULL BEGIN"
	" UPDATE rules SET enabled = 0 WHERE id = NEW.id; END;"
	"CREATE TABLE rule_records ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" collection TEXT NOT NULL,"
	" rule_id INTEGER NOT NULL,"
	" data TEXT NOT NULL,"
	" created_at INTEGER NOT NULL);"
	"CREATE INDEX rule_records_collection ON rule_records(collection, id);",
};

#define SCHEMA_LATEST ((int)ARRAY_SIZE(migrations))

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

/* Describes db's last error (rc) in err, with the OS's reason when there
 * is one; returns what it means (open_code). */
static int db_err(sqlite3 *db, int rc, const char *path, const char *doing, char *err,
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
	return open_code(rc);
}

/* Runs SQL without results; on failure describes it in err. */
static int exec_sql(sqlite3 *db, const char *sql, const char *path, const char *doing, char *err,
		    size_t errlen)
{
	int rc = sqlite3_exec(db, sql, NULL, NULL, NULL);

	return rc == SQLITE_OK ? STORE_OK : db_err(db, rc, path, doing, err, errlen);
}

/* Runs a one-row PRAGMA (or query) and copies its first column as text. */
static int pragma_text(sqlite3 *db, const char *sql, char *buf, size_t cap, const char *path,
		       const char *doing, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
	int ret = STORE_OK;

	if (rc != SQLITE_OK)
		return db_err(db, rc, path, doing, err, errlen);
	rc = sqlite3_step(s);
	if (rc == SQLITE_ROW) {
		const unsigned char *text = sqlite3_column_text(s, 0);

		snprintf(buf, cap, "%s", text ? (const char *)text : "");
	} else if (rc == SQLITE_DONE) {
		buf[0] = '\0';
	} else {
		ret = db_err(db, rc, path, doing, err, errlen);
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
			return db_err(st->db, rc, path, "cannot open", err, errlen);
		set_err(err, errlen, "store '%s': cannot open: %s", path, sqlite3_errstr(rc));
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

/* Each concern's statements, kept by the file that runs them. */
static const struct store__sql *const stmt_tables[] = {
	store__user_sql,
	store__message_sql,
	store__poll_sql,
	store__rule_sql,
	store__tx_sql,
};

static int prepare_all(struct store *st, const char *path, char *err, size_t errlen)
{
	for (size_t t = 0; t < ARRAY_SIZE(stmt_tables); t++) {
		for (const struct store__sql *q = stmt_tables[t]; q->sql; q++) {
			int rc = sqlite3_prepare_v3(st->db, q->sql, -1, SQLITE_PREPARE_PERSISTENT,
						    &st->stmt[q->id], NULL);

			if (rc != SQLITE_OK) {
				set_err(err, errlen, "store '%s': preparing statement %zu: %s",
					path, (size_t)q->id, sqlite3_errmsg(st->db));
				return STORE_EIO;
			}
		}
	}
	/* A statement id no table gives SQL to is this program's mistake. */
	for (size_t i = 0; i < STMT_COUNT; i++) {
		if (!st->stmt[i]) {
			set_err(err, errlen, "store '%s': statement %zu has no SQL", path, i);
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
		goto out_close_ckpt;
	}
	sqlite3_busy_timeout(st->ckpt, STORE_BUSY_TIMEOUT_MS);
	/* From now on no write of ours checkpoints. */
	if (sqlite3_exec(st->db, "PRAGMA wal_autocheckpoint=0", NULL, NULL, NULL) != SQLITE_OK) {
		log_error("store '%s': %s", path, sqlite3_errmsg(st->db));
		goto out_close_ckpt;
	}
	return STORE_OK;
out_close_ckpt:
	/* Writes keep checkpointing themselves, as before the call. */
	sqlite3_close(st->ckpt);
	st->ckpt = NULL;
	return STORE_EIO;
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
