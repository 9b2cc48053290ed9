/*
 * sqlite_messages.c - direct messages in the SQLite backend: each side
 * sees a message until it deletes it, and the row goes once both did
 * (trigger messages_gone, sqlite_open.c's first migration).
 */
#include "sqlite_internal.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Columns read by read_message(), in its order. */
#define MSG_COLS                                                                                   \
	"m.id, m.from_id, m.to_id, f.name, t.name, m.content, m.created_at, m.read_at "            \
	"FROM messages m JOIN users f ON f.id = m.from_id JOIN users t ON t.id = m.to_id "
/* ?1 viewer, ?2 since (exclusive), ?3 unread only, ?4 limit, ?5 offset. */
#define INBOX_WHERE                                                                                \
	"WHERE m.to_id = ?1 AND m.deleted_by_recipient = 0 AND m.created_at > ?2 "                 \
	"AND (?3 = 0 OR m.read_at = 0) "
#define SENT_WHERE "WHERE m.from_id = ?1 AND m.deleted_by_sender = 0 AND m.created_at > ?2 "
#define NEWEST_FIRST "ORDER BY m.created_at DESC, m.id DESC LIMIT ?4 OFFSET ?5"

const struct store__sql store__message_sql[] = {
	{ ST_MSG_INSERT, "INSERT INTO messages (from_id, to_id, content, created_at)"
			 " VALUES (?1, ?2, ?3, ?4) RETURNING id, from_id, to_id,"
			 " (SELECT name FROM users WHERE id = from_id),"
			 " (SELECT name FROM users WHERE id = to_id),"
			 " content, created_at, read_at" },
	{ ST_MSG_GET, "SELECT " MSG_COLS "WHERE m.id = ?1 AND"
		      " ((m.from_id = ?2 AND m.deleted_by_sender = 0) OR"
		      " (m.to_id = ?2 AND m.deleted_by_recipient = 0))" },
	{ ST_MSG_SET_READ, "UPDATE messages SET read_at = ?3"
			   " WHERE id = ?1 AND to_id = ?2 AND deleted_by_recipient = 0" },
	/* Sets the viewer's flag(s); the trigger removes the row once both
	 * are set. Changes no row for anyone else or a second time. */
	{ ST_MSG_DELETE, "UPDATE messages SET"
			 " deleted_by_sender = deleted_by_sender OR from_id = ?2,"
			 " deleted_by_recipient = deleted_by_recipient OR to_id = ?2"
			 " WHERE id = ?1 AND ((from_id = ?2 AND deleted_by_sender = 0) OR"
			 " (to_id = ?2 AND deleted_by_recipient = 0))" },
	{ ST_INBOX_COUNT, "SELECT count(*) FROM messages m " INBOX_WHERE },
	{ ST_INBOX_LIST, "SELECT " MSG_COLS INBOX_WHERE NEWEST_FIRST },
	{ ST_SENT_COUNT, "SELECT count(*) FROM messages m " SENT_WHERE },
	{ ST_SENT_LIST, "SELECT " MSG_COLS SENT_WHERE NEWEST_FIRST },
	{ .sql = NULL },
};

void store_message_release(struct store_message *m)
{
	if (!m)
		return;
	free(m->from_name);
	free(m->to_name);
	free(m->content);
	memset(m, 0, sizeof(*m));
}

/* A row of MSG_COLS (or ST_MSG_INSERT's RETURNING) into a struct
 * store_message. */
static int read_message(sqlite3_stmt *s, void *item)
{
	struct store_message *m = item;

	m->id = sqlite3_column_int64(s, 0);
	m->from_id = sqlite3_column_int64(s, 1);
	m->to_id = sqlite3_column_int64(s, 2);
	m->from_name = store__column_dup(s, 3);
	m->to_name = store__column_dup(s, 4);
	m->content = store__column_dup(s, 5);
	m->created_at = sqlite3_column_int64(s, 6);
	m->read_at = sqlite3_column_int64(s, 7);
	return STORE_OK;
}

int store_message_create(struct store *st, int64_t from_id, int64_t to_id, const char *content,
			 int64_t now, struct store_message *out)
{
	sqlite3_stmt *s = st->stmt[ST_MSG_INSERT];
	struct store_message m;
	int ret = STORE_OK;
	int rc;

	if (sqlite3_bind_int64(s, 1, from_id) || sqlite3_bind_int64(s, 2, to_id) ||
	    store__bind_text(s, 3, content) || sqlite3_bind_int64(s, 4, now))
		return store__fail_bind(st, s, __func__);
	/* RETURNING gives the row (with both names) at the first step, but
	 * the statement commits when it ends: step to the end first, so not
	 * store__one_row. */
	rc = sqlite3_step(s);
	if (rc != SQLITE_ROW) {
		ret = store__fail_step(st, rc, __func__);
		goto out_reset;
	}
	read_message(s, &m);
	rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		ret = store__fail_step(st, rc, __func__);
		store_message_release(&m);
		goto out_reset;
	}
	if (out)
		*out = m;
	else
		store_message_release(&m);
out_reset:
	store__stmt_done(s);
	return ret;
}

int store_message_get(struct store *st, int64_t id, int64_t viewer, struct store_message *out)
{
	sqlite3_stmt *s = st->stmt[ST_MSG_GET];

	if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, viewer))
		return store__fail_bind(st, s, __func__);
	return store__one_row(st, s, out ? read_message : NULL, out, __func__);
}

int store_message_set_read(struct store *st, int64_t id, int64_t recipient, bool read, int64_t now)
{
	sqlite3_stmt *s = st->stmt[ST_MSG_SET_READ];

	if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, recipient) ||
	    sqlite3_bind_int64(s, 3, read ? now : 0))
		return store__fail_bind(st, s, __func__);
	return store__run_write(st, s, __func__);
}

int store_message_delete(struct store *st, int64_t id, int64_t viewer)
{
	sqlite3_stmt *s = st->stmt[ST_MSG_DELETE];

	if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, viewer))
		return store__fail_bind(st, s, __func__);
	return store__run_write(st, s, __func__);
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
		return store__fail_bind(st, count, __func__);
	ret = store__count(st, count, &l.total, __func__);
	if (ret)
		return ret;
	if (bind_query(s, q, true))
		return store__fail_bind(st, s, __func__);
	ret = store__read_rows(st, s, store__page_rows(l.total, q->limit, q->offset),
			       sizeof(*l.items), read_message, &items, &l.n, __func__);
	l.items = items;
	if (ret)
		store_message_list_free(&l);
	else
		*out = l;
	return ret;
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
