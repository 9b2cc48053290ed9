/*
 * sqlite_rules.c - rules and the rows their record actions append, in the
 * SQLite backend (tables of sqlite_open.c's fourth migration).
 *
 * A rule is written and then read back in one transaction, so that the
 * answer carries the owner's name (from users) and is exactly what is
 * committed. What happens when the owner's account goes is the schema's
 * (ON DELETE SET NULL and the trigger rules_orphaned): nothing here.
 */
#include "sqlite_internal.h"

#include "base/alloc.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Columns read by read_rule(), in its order. */
#define RULE_COLS                                                                                  \
	"r.id, r.name, r.owner_id, u.name, r.sql, r.actions, r.enabled, r.created_at,"            \
	" r.updated_at FROM rules r LEFT JOIN users u ON u.id = r.owner_id "

/* The first rows of a record list are allocated for this many at most:
 * a page's limit may be large and the collection small. */
#define RECORDS_EXPECT_MAX 100

const struct store__sql store__rule_sql[] = {
	{ ST_RULE_INSERT, "INSERT INTO rules (name, owner_id, sql, actions, enabled, created_at,"
			  " updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)" },
	{ ST_RULE_UPDATE, "UPDATE rules SET name = ?2, owner_id = ?3, sql = ?4, actions = ?5,"
			  " enabled = ?6, updated_at = ?7 WHERE id = ?1" },
	{ ST_RULE_GET, "SELECT " RULE_COLS "WHERE r.id = ?1" },
	{ ST_RULE_DELETE, "DELETE FROM rules WHERE id = ?1" },
	{ ST_RULE_COUNT, "SELECT count(*) FROM rules" },
	{ ST_RULE_LIST, "SELECT " RULE_COLS "ORDER BY r.id" },
	{ ST_RECORD_INSERT, "INSERT INTO rule_records (collection, rule_id, data, created_at)"
			    " VALUES (?1, ?2, ?3, ?4)" },
	{ ST_RECORD_LIST, "SELECT id, rule_id, data, created_at FROM rule_records"
			  " WHERE collection = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3" },
	{ .sql = NULL },
};

void store_rule_release(struct store_rule *r)
{
	if (!r)
		return;
	free(r->name);
	free(r->owner_name);
	free(r->sql);
	free(r->actions);
	memset(r, 0, sizeof(*r));
}

/* A row of RULE_COLS. A deleted owner reads as id 0 and no name. */
static int read_rule(sqlite3_stmt *s, void *item)
{
	struct store_rule *r = item;

	memset(r, 0, sizeof(*r));
	r->id = sqlite3_column_int64(s, 0);
	r->name = store__column_dup(s, 1);
	r->owner_id = sqlite3_column_int64(s, 2); /* NULL reads as 0 */
	if (sqlite3_column_type(s, 3) != SQLITE_NULL)
		r->owner_name = store__column_dup(s, 3);
	r->sql = store__column_dup(s, 4);
	r->actions = store__column_dup(s, 5);
	r->enabled = sqlite3_column_int64(s, 6) != 0;
	r->created_at = sqlite3_column_int64(s, 7);
	r->updated_at = sqlite3_column_int64(s, 8);
	return STORE_OK;
}

int store_rule_get(struct store *st, int64_t id, struct store_rule *out)
{
	sqlite3_stmt *s = st->stmt[ST_RULE_GET];

	if (sqlite3_bind_int64(s, 1, id))
		return store__fail_bind(st, s, __func__);
	return store__one_row(st, s, out ? read_rule : NULL, out, __func__);
}

/* Ends a write of a rule begun with store__begin (ret: how it went so
 * far): reads the rule `id` back into out (may be NULL), commits, or
 * rolls back after any failure. */
static int finish_write(struct store *st, int ret, int64_t id, struct store_rule *out,
			const char *what)
{
	struct store_rule r = { 0 };

	if (!ret && out)
		ret = store_rule_get(st, id, &r);
	if (!ret)
		ret = store__commit(st, what);
	if (ret) {
		store__rollback(st);
		store_rule_release(&r);
		return ret;
	}
	if (out)
		*out = r;
	return STORE_OK;
}

int store_rule_create(struct store *st, const char *name, int64_t owner_id, const char *sql,
		      const char *actions, bool enabled, int64_t now, struct store_rule *out)
{
	sqlite3_stmt *s = st->stmt[ST_RULE_INSERT];
	int ret = store__begin(st, __func__);

	if (ret)
		return ret;
	if (store__bind_text(s, 1, name) || sqlite3_bind_int64(s, 2, owner_id) ||
	    store__bind_text(s, 3, sql) || store__bind_text(s, 4, actions) ||
	    sqlite3_bind_int(s, 5, enabled) || sqlite3_bind_int64(s, 6, now))
		ret = store__fail_bind(st, s, __func__);
	else
		ret = store__run_write(st, s, __func__);
	return finish_write(st, ret, sqlite3_last_insert_rowid(st->db), out, __func__);
}

int store_rule_update(struct store *st, int64_t id, const char *name, int64_t owner_id,
		      const char *sql, const char *actions, bool enabled, int64_t now,
		      struct store_rule *out)
{
	sqlite3_stmt *s = st->stmt[ST_RULE_UPDATE];
	int ret = store__begin(st, __func__);

	if (ret)
		return ret;
	if (sqlite3_bind_int64(s, 1, id) || store__bind_text(s, 2, name) ||
	    sqlite3_bind_int64(s, 3, owner_id) || store__bind_text(s, 4, sql) ||
	    store__bind_text(s, 5, actions) || sqlite3_bind_int(s, 6, enabled) ||
	    sqlite3_bind_int64(s, 7, now))
		ret = store__fail_bind(st, s, __func__);
	else
		ret = store__run_write(st, s, __func__);
	return finish_write(st, ret, id, out, __func__);
}

int store_rule_delete(struct store *st, int64_t id)
{
	sqlite3_stmt *s = st->stmt[ST_RULE_DELETE];

	if (sqlite3_bind_int64(s, 1, id))
		return store__fail_bind(st, s, __func__);
	return store__run_write(st, s, __func__);
}

int store_rule_list(struct store *st, struct store_rule_list *out)
{
	struct store_rule_list l = { 0 };
	int64_t total;
	void *items;
	int ret = store__count(st, st->stmt[ST_RULE_COUNT], &total, __func__);

	if (ret)
		return ret;
	ret = store__read_rows(st, st->stmt[ST_RULE_LIST], (size_t)total, sizeof(*l.items),
			       read_rule, &items, &l.n, __func__);
	l.items = items;
	if (ret)
		store_rule_list_free(&l);
	else
		*out = l;
	return ret;
}

void store_rule_list_free(struct store_rule_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		store_rule_release(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* ---- records ---- */

int store_record_add(struct store *st, const char *collection, int64_t rule_id, const char *data,
		     int64_t now, int64_t *id)
{
	sqlite3_stmt *s = st->stmt[ST_RECORD_INSERT];
	int ret;

	if (store__bind_text(s, 1, collection) || sqlite3_bind_int64(s, 2, rule_id) ||
	    store__bind_text(s, 3, data) || sqlite3_bind_int64(s, 4, now))
		return store__fail_bind(st, s, __func__);
	ret = store__run_write(st, s, __func__);
	if (!ret && id)
		*id = sqlite3_last_insert_rowid(st->db);
	return ret;
}

static int read_record(sqlite3_stmt *s, void *item)
{
	struct store_record *r = item;

	r->id = sqlite3_column_int64(s, 0);
	r->rule_id = sqlite3_column_int64(s, 1);
	r->data = store__column_dup(s, 2);
	r->created_at = sqlite3_column_int64(s, 3);
	return STORE_OK;
}

int store_record_list(struct store *st, const char *collection, int64_t before, int64_t limit,
		      struct store_record_list *out)
{
	sqlite3_stmt *s = st->stmt[ST_RECORD_LIST];
	struct store_record_list l = { 0 };
	void *items;
	int ret;

	if (limit < 0)
		limit = 0;
	if (store__bind_text(s, 1, collection) ||
	    sqlite3_bind_int64(s, 2, before > 0 ? before : INT64_MAX) ||
	    sqlite3_bind_int64(s, 3, limit))
		return store__fail_bind(st, s, __func__);
	ret = store__read_rows(st, s, (size_t)(limit < RECORDS_EXPECT_MAX ? limit : RECORDS_EXPECT_MAX),
			       sizeof(*l.items), read_record, &items, &l.n, __func__);
	l.items = items;
	if (ret)
		store_record_list_free(&l);
	else
		*out = l;
	return ret;
}

void store_record_list_free(struct store_record_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		free(l->items[i].data);
	free(l->items);
	memset(l, 0, sizeof(*l));
}
