/*
 * sqlite_users.c - accounts, their SCRAM credentials and login tokens in
 * the SQLite backend, and the users version that store_users_version
 * reports (the API's user cache is keyed on it).
 */
#include "sqlite_internal.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Columns read by read_user(), in its order. */
#define USER_COLS "id, name, status, status_updated_at, created_at"

const struct store__sql store__user_sql[] = {
	{ ST_USER_INSERT, "INSERT INTO users (name, password_hash, created_at)"
			  " VALUES (?1, ?2, ?3)" },
	{ ST_USER_BY_ID, "SELECT " USER_COLS " FROM users WHERE id = ?1" },
	/* The column's NOCASE collation applies: ASCII case ignored. */
	{ ST_USER_BY_NAME, "SELECT " USER_COLS " FROM users WHERE name = ?1" },
	{ ST_USER_PASSWORD, "SELECT id, password_hash FROM users WHERE name = ?1" },
	{ ST_USER_SET_STATUS, "UPDATE users SET status = ?2, status_updated_at = ?3 WHERE id = ?1" },
	{ ST_USER_DELETE, "DELETE FROM users WHERE id = ?1" },
	{ ST_USER_COUNT, "SELECT count(*) FROM users" },
	{ ST_USER_LIST, "SELECT " USER_COLS " FROM users ORDER BY id LIMIT ?1 OFFSET ?2" },
	{ ST_SCRAM_SET, "INSERT INTO user_scram (user_id, salt, iterations, stored_key, server_key)"
			" VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (user_id) DO UPDATE SET"
			" salt = excluded.salt, iterations = excluded.iterations,"
			" stored_key = excluded.stored_key, server_key = excluded.server_key" },
	{ ST_SCRAM_GET, "SELECT s.salt, s.iterations, s.stored_key, s.server_key"
			" FROM users u JOIN user_scram s ON s.user_id = u.id WHERE u.name = ?1" },
	{ ST_TOKEN_INSERT, "INSERT INTO tokens (hash, user_id, created_at) VALUES (?1, ?2, ?3)" },
	{ ST_TOKEN_USER, "SELECT user_id FROM tokens WHERE hash = ?1" },
	{ ST_TOKEN_DELETE, "DELETE FROM tokens WHERE hash = ?1" },
	{ .sql = NULL },
};

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

/* A row of USER_COLS into a struct store_user. */
static int read_user(sqlite3_stmt *s, void *item)
{
	struct store_user *u = item;

	u->id = sqlite3_column_int64(s, 0);
	u->name = store__column_dup(s, 1);
	u->status = store__column_dup(s, 2);
	u->status_updated_at = sqlite3_column_int64(s, 3);
	u->created_at = sqlite3_column_int64(s, 4);
	return STORE_OK;
}

int store_user_create(struct store *st, const char *name, const char *password_hash,
		      int64_t now, struct store_user *out)
{
	sqlite3_stmt *s = st->stmt[ST_USER_INSERT];
	int ret;

	st->users_version++;
	if (store__bind_text(s, 1, name) || store__bind_text(s, 2, password_hash) ||
	    sqlite3_bind_int64(s, 3, now))
		return store__fail_bind(st, s, __func__);
	/* A plain INSERT that succeeds changes its one row. */
	ret = store__run_write(st, s, __func__);
	if (ret)
		return ret;
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
		return store__fail_bind(st, s, __func__);
	return store__one_row(st, s, out ? read_user : NULL, out, __func__);
}

int store_user_by_name(struct store *st, const char *name, struct store_user *out)
{
	sqlite3_stmt *s = st->stmt[ST_USER_BY_NAME];

	if (store__bind_text(s, 1, name))
		return store__fail_bind(st, s, __func__);
	return store__one_row(st, s, out ? read_user : NULL, out, __func__);
}

/* Where store_user_password's row goes, and the name for the log. */
struct password_dest {
	const char *name;
	int64_t *id; /* may be NULL */
	char *hash;
	size_t cap;
};

static int read_password(sqlite3_stmt *s, void *item)
{
	struct password_dest *d = item;
	const unsigned char *text = sqlite3_column_text(s, 1);
	size_t len = (size_t)sqlite3_column_bytes(s, 1);

	if (!text || len >= d->cap) {
		log_error("store: store_user_password: the hash of '%s' (%zu bytes) does not fit "
			  "in %zu",
			  d->name, len, d->cap);
		return STORE_EIO;
	}
	memcpy(d->hash, text, len + 1);
	if (d->id)
		*d->id = sqlite3_column_int64(s, 0);
	return STORE_OK;
}

int store_user_password(struct store *st, const char *name, int64_t *id, char *hash, size_t cap)
{
	sqlite3_stmt *s = st->stmt[ST_USER_PASSWORD];
	struct password_dest d = { .name = name, .id = id, .hash = hash, .cap = cap };

	if (store__bind_text(s, 1, name))
		return store__fail_bind(st, s, __func__);
	return store__one_row(st, s, read_password, &d, __func__);
}

int store_user_set_status(struct store *st, int64_t id, const char *status, int64_t now)
{
	sqlite3_stmt *s = st->stmt[ST_USER_SET_STATUS];

	st->users_version++;
	if (sqlite3_bind_int64(s, 1, id) || store__bind_text(s, 2, status) ||
	    sqlite3_bind_int64(s, 3, now))
		return store__fail_bind(st, s, __func__);
	return store__run_write(st, s, __func__);
}

int store_user_delete(struct store *st, int64_t id)
{
	sqlite3_stmt *s = st->stmt[ST_USER_DELETE];

	st->users_version++;
	if (sqlite3_bind_int64(s, 1, id))
		return store__fail_bind(st, s, __func__);
	return store__run_write(st, s, __func__);
}

int store_user_list(struct store *st, int64_t limit, int64_t offset, struct store_user_list *out)
{
	sqlite3_stmt *s = st->stmt[ST_USER_LIST];
	struct store_user_list l = { 0 };
	void *items;
	int ret = store__count(st, st->stmt[ST_USER_COUNT], &l.total, __func__);

	if (ret)
		return ret;
	if (sqlite3_bind_int64(s, 1, limit) || sqlite3_bind_int64(s, 2, offset))
		return store__fail_bind(st, s, __func__);
	ret = store__read_rows(st, s, store__page_rows(l.total, limit, offset), sizeof(*l.items),
			       read_user, &items, &l.n, __func__);
	l.items = items;
	if (ret)
		store_user_list_free(&l);
	else
		*out = l;
	return ret;
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
	    store__bind_blob(s, 2, cred->salt, STORE_SCRAM_SALT_LEN) ||
	    sqlite3_bind_int64(s, 3, cred->iterations) ||
	    store__bind_blob(s, 4, cred->stored_key, STORE_SCRAM_KEY_LEN) ||
	    store__bind_blob(s, 5, cred->server_key, STORE_SCRAM_KEY_LEN))
		return store__fail_bind(st, s, __func__);
	return store__run_write(st, s, __func__);
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

/* Where store_user_scram's row goes, and the name for the log. */
struct scram_dest {
	const char *name;
	struct store_scram *out;
};

/* Checks the row before writing anything out: a malformed one (written by
 * another program) leaves *out as it was. */
static int read_scram(sqlite3_stmt *s, void *item)
{
	struct scram_dest *d = item;
	struct store_scram cred;
	int64_t iterations = sqlite3_column_int64(s, 1);

	if (!column_blob(s, 0, cred.salt, sizeof(cred.salt)) ||
	    !column_blob(s, 2, cred.stored_key, sizeof(cred.stored_key)) ||
	    !column_blob(s, 3, cred.server_key, sizeof(cred.server_key)) || iterations < 1 ||
	    iterations > UINT32_MAX) {
		log_error("store: store_user_scram: malformed SCRAM credentials for '%s'",
			  d->name);
		return STORE_EIO;
	}
	cred.iterations = (uint32_t)iterations;
	*d->out = cred;
	return STORE_OK;
}

int store_user_scram(struct store *st, const char *name, struct store_scram *out)
{
	sqlite3_stmt *s = st->stmt[ST_SCRAM_GET];
	struct scram_dest d = { .name = name, .out = out };

	if (store__bind_text(s, 1, name))
		return store__fail_bind(st, s, __func__);
	return store__one_row(st, s, read_scram, &d, __func__);
}

/* ---- tokens ---- */

static int bind_hash(sqlite3_stmt *s, int i, const uint8_t *hash)
{
	return store__bind_blob(s, i, hash, STORE_TOKEN_HASH_LEN);
}

int store_token_add(struct store *st, int64_t user_id, const uint8_t hash[STORE_TOKEN_HASH_LEN],
		    int64_t now)
{
	sqlite3_stmt *s = st->stmt[ST_TOKEN_INSERT];

	if (bind_hash(s, 1, hash) || sqlite3_bind_int64(s, 2, user_id) ||
	    sqlite3_bind_int64(s, 3, now))
		return store__fail_bind(st, s, __func__);
	return store__run_write(st, s, __func__);
}

int store_token_user(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t *user_id)
{
	sqlite3_stmt *s = st->stmt[ST_TOKEN_USER];

	if (bind_hash(s, 1, hash))
		return store__fail_bind(st, s, __func__);
	return store__one_row(st, s, store__read_int64, user_id, __func__);
}

int store_token_delete(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN])
{
	sqlite3_stmt *s = st->stmt[ST_TOKEN_DELETE];

	if (bind_hash(s, 1, hash))
		return store__fail_bind(st, s, __func__);
	return store__run_write(st, s, __func__);
}
