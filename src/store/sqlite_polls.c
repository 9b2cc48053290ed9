/*
 * sqlite_polls.c - polls, their options and votes in the SQLite backend
 * (tables of sqlite_open.c's third migration).
 *
 * An option's count lives in its poll_options row and is moved by the
 * triggers on votes (votes_counted, votes_moved, votes_uncounted): the
 * INSERT or UPDATE of a vote and the count it moves are one statement,
 * so one implicit transaction, committed together when store__run_write
 * returns. Reading a poll's results is then one row per option, whatever
 * the number of votes.
 */
#include "sqlite_internal.h"

#include "base/alloc.h"
#include "base/log.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Columns read by read_poll(), in its order. */
#define POLL_COLS                                                                                  \
	"p.id, p.creator_id, u.name, p.question, p.created_at, p.closes_at, p.closed_at "         \
	"FROM polls p LEFT JOIN users u ON u.id = p.creator_id "
/* Open at ?1 (now): store.h's definition, spelled so that the planner
 * reads polls_open for it. */
#define POLL_OPEN "(p.closed_at = 0 AND (p.closes_at = 0 OR p.closes_at > ?1))"
#define NEWEST_PAGE "ORDER BY p.created_at DESC, p.id DESC LIMIT ?2 OFFSET ?3"

const struct store__sql store__poll_sql[] = {
	{ ST_POLL_INSERT, "INSERT INTO polls (creator_id, question, created_at, closes_at)"
			  " VALUES (?1, ?2, ?3, ?4)" },
	{ ST_POLL_OPTION_INSERT, "INSERT INTO poll_options (poll_id, number, label)"
				 " VALUES (?1, ?2, ?3)" },
	{ ST_POLL_GET, "SELECT " POLL_COLS "WHERE p.id = ?1" },
	{ ST_POLL_OPTIONS, "SELECT label, votes FROM poll_options WHERE poll_id = ?1"
			   " ORDER BY number" },
	/* Touches the row even when it was closed already, so that "no row
	 * changed" means only "no such poll"; the first time stays. */
	{ ST_POLL_CLOSE, "UPDATE polls SET closed_at ="
			 " CASE WHEN closed_at = 0 THEN ?2 ELSE closed_at END WHERE id = ?1" },
	{ ST_POLL_COUNT, "SELECT count(*) FROM polls" },
	{ ST_POLL_COUNT_OPEN, "SELECT count(*) FROM polls p WHERE " POLL_OPEN },
	/* The list is these two pages one after the other: each walks an
	 * index in its order and stops at its page, where one query ordered
	 * by "open" first would sort every poll on each call. */
	{ ST_POLL_LIST_OPEN, "SELECT " POLL_COLS "WHERE " POLL_OPEN NEWEST_PAGE },
	{ ST_POLL_LIST_CLOSED, "SELECT " POLL_COLS "WHERE NOT " POLL_OPEN NEWEST_PAGE },
	/* min() answers a row (NULL) even when no poll matches. */
	{ ST_POLL_NEXT_CLOSING, "SELECT min(closes_at) FROM polls"
				" WHERE closed_at = 0 AND closes_at > ?1" },
	{ ST_VOTE_INSERT, "INSERT INTO votes (poll_id, user_id, option, voted_at)"
			  " VALUES (?1, ?2, ?3, ?4)" },
	{ ST_VOTE_UPDATE, "UPDATE votes SET option = ?3, voted_at = ?4"
			  " WHERE poll_id = ?1 AND user_id = ?2" },
	{ ST_VOTE_GET, "SELECT option, voted_at FROM votes WHERE poll_id = ?1 AND user_id = ?2" },
	{ .sql = NULL },
};

void store_poll_release(struct store_poll *p)
{
	if (!p)
		return;
	free(p->creator_name);
	free(p->question);
	for (size_t i = 0; p->options && i < p->n_options; i++)
		free(p->options[i]);
	free(p->options);
	free(p->counts);
	memset(p, 0, sizeof(*p));
}

/* A row of POLL_COLS into a struct store_poll, without its options. A
 * deleted creator reads as id 0 and no name. */
static int read_poll(sqlite3_stmt *s, void *item)
{
	struct store_poll *p = item;

	memset(p, 0, sizeof(*p));
	p->id = sqlite3_column_int64(s, 0);
	p->creator_id = sqlite3_column_int64(s, 1); /* NULL reads as 0 */
	if (sqlite3_column_type(s, 2) != SQLITE_NULL)
		p->creator_name = store__column_dup(s, 2);
	p->question = store__column_dup(s, 3);
	p->created_at = sqlite3_column_int64(s, 4);
	p->closes_at = sqlite3_column_int64(s, 5);
	p->closed_at = sqlite3_column_int64(s, 6);
	return STORE_OK;
}

/* Steps ST_POLL_OPTIONS (bound) into p's labels and counts. More options
 * than a poll may have means a broken file: STORE_EIO. */
static int read_options_rows(struct store *st, sqlite3_stmt *s, struct store_poll *p)
{
	int rc;

	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (p->n_options == STORE_POLL_OPTIONS_MAX) {
			log_error("store: poll %lld has more than %d options", (long long)p->id,
				  STORE_POLL_OPTIONS_MAX);
			return STORE_EIO;
		}
		p->options[p->n_options] = store__column_dup(s, 0);
		p->counts[p->n_options] = sqlite3_column_int64(s, 1);
		p->total += p->counts[p->n_options];
		p->n_options++;
	}
	return rc == SQLITE_DONE ? STORE_OK : store__fail_step(st, rc, "reading a poll's options");
}

/* Reads the options and counts of p (its id and other columns read). */
static int read_options(struct store *st, struct store_poll *p)
{
	sqlite3_stmt *s = st->stmt[ST_POLL_OPTIONS];
	int ret;

	p->options = xcalloc(STORE_POLL_OPTIONS_MAX, sizeof(*p->options));
	p->counts = xcalloc(STORE_POLL_OPTIONS_MAX, sizeof(*p->counts));
	p->n_options = 0;
	p->total = 0;
	if (sqlite3_bind_int64(s, 1, p->id))
		return store__fail_bind(st, s, __func__);
	ret = read_options_rows(st, s, p);
	store__stmt_done(s);
	return ret;
}

int store_poll_get(struct store *st, int64_t id, struct store_poll *out)
{
	sqlite3_stmt *s = st->stmt[ST_POLL_GET];
	struct store_poll p;
	int ret;

	if (sqlite3_bind_int64(s, 1, id))
		return store__fail_bind(st, s, __func__);
	if (!out)
		return store__one_row(st, s, NULL, NULL, __func__);
	ret = store__one_row(st, s, read_poll, &p, __func__);
	if (ret)
		return ret;
	ret = read_options(st, &p);
	if (ret)
		store_poll_release(&p);
	else
		*out = p;
	return ret;
}

/* The poll's row (inside create's transaction); its id is the row's. */
static int insert_poll(struct store *st, int64_t creator_id, const char *question,
		       int64_t closes_at, int64_t now, int64_t *id)
{
	sqlite3_stmt *s = st->stmt[ST_POLL_INSERT];
	int ret;

	if (sqlite3_bind_int64(s, 1, creator_id) || store__bind_text(s, 2, question) ||
	    sqlite3_bind_int64(s, 3, now) || sqlite3_bind_int64(s, 4, closes_at))
		return store__fail_bind(st, s, "store_poll_create");
	ret = store__run_write(st, s, "store_poll_create");
	if (!ret)
		*id = sqlite3_last_insert_rowid(st->db);
	return ret;
}

/* Option rows are numbered from 0, the index store.h speaks of. */
static int insert_options(struct store *st, int64_t id, const char *const *options, size_t n)
{
	sqlite3_stmt *s = st->stmt[ST_POLL_OPTION_INSERT];
	int ret = STORE_OK;

	for (size_t i = 0; i < n && !ret; i++) {
		if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, (int64_t)i) ||
		    store__bind_text(s, 3, options[i]))
			return store__fail_bind(st, s, "store_poll_create");
		ret = store__run_write(st, s, "store_poll_create");
	}
	return ret;
}

int store_poll_create(struct store *st, int64_t creator_id, const char *question,
		      const char *const *options, size_t n, int64_t closes_at, int64_t now,
		      struct store_poll *out)
{
	struct store_poll p = { 0 };
	int64_t id = 0;
	int ret;

	if (n < 1 || n > STORE_POLL_OPTIONS_MAX) {
		log_error("store: store_poll_create: %zu options (1 to %d)", n,
			  STORE_POLL_OPTIONS_MAX);
		return STORE_EIO;
	}
	ret = store__begin(st, __func__);
	if (ret)
		return ret;
	ret = insert_poll(st, creator_id, question, closes_at, now, &id);
	if (!ret)
		ret = insert_options(st, id, options, n);
	/* Read back inside the transaction: the creator's name comes from
	 * users, and the answer is exactly what is committed. */
	if (!ret && out)
		ret = store_poll_get(st, id, &p);
	if (!ret)
		ret = store__commit(st, __func__);
	if (ret)
		goto out_rollback;
	if (out)
		*out = p;
	return STORE_OK;
out_rollback:
	store__rollback(st);
	store_poll_release(&p);
	return ret;
}

int store_poll_close(struct store *st, int64_t id, int64_t now)
{
	sqlite3_stmt *s = st->stmt[ST_POLL_CLOSE];

	if (sqlite3_bind_int64(s, 1, id) || sqlite3_bind_int64(s, 2, now))
		return store__fail_bind(st, s, __func__);
	return store__run_write(st, s, __func__);
}

/* Reads the options of every poll of l. */
static int read_list_options(struct store *st, struct store_poll_list *l)
{
	int ret = STORE_OK;

	for (size_t i = 0; i < l->n && !ret; i++)
		ret = read_options(st, &l->items[i]);
	return ret;
}

/* Runs one part of the list (ST_POLL_LIST_OPEN or _CLOSED) for `limit`
 * polls after `offset` of the `total` it holds, appending them to l (the
 * ones read even on failure, for store_poll_list_free). */
static int read_part(struct store *st, enum store__stmt id, int64_t now, int64_t limit,
		     int64_t offset, int64_t total, struct store_poll_list *l)
{
	sqlite3_stmt *s = st->stmt[id];
	void *items;
	size_t n;
	int ret;

	if (sqlite3_bind_int64(s, 1, now) || sqlite3_bind_int64(s, 2, limit) ||
	    sqlite3_bind_int64(s, 3, offset))
		return store__fail_bind(st, s, "store_poll_list");
	ret = store__read_rows(st, s, store__page_rows(total, limit, offset), sizeof(*l->items),
			       read_poll, &items, &n, "store_poll_list");
	if (n) {
		l->items = xrealloc(l->items, (l->n + n) * sizeof(*l->items));
		memcpy(l->items + l->n, items, n * sizeof(*l->items));
		l->n += n;
	}
	free(items);
	return ret;
}

/* The page: the open polls' part of it, then the rest from the closed
 * ones (their offset is what the open ones did not use up). */
static int read_page(struct store *st, const struct store_poll_query *q, int64_t open,
		     struct store_poll_list *l)
{
	int64_t offset = q->offset > 0 ? q->offset : 0;
	int64_t left;
	int ret = read_part(st, ST_POLL_LIST_OPEN, q->now, q->limit, offset, open, l);

	if (ret)
		return ret;
	left = q->limit < 0 ? -1 : q->limit - (int64_t)l->n;
	if (left == 0)
		return STORE_OK;
	offset = offset > open ? offset - open : 0;
	return read_part(st, ST_POLL_LIST_CLOSED, q->now, left, offset, l->total - open, l);
}

int store_poll_list(struct store *st, const struct store_poll_query *q,
		    struct store_poll_list *out)
{
	sqlite3_stmt *count_open = st->stmt[ST_POLL_COUNT_OPEN];
	struct store_poll_list l = { 0 };
	int64_t open = 0;
	int ret = store__count(st, st->stmt[ST_POLL_COUNT], &l.total, __func__);

	if (ret)
		return ret;
	if (sqlite3_bind_int64(count_open, 1, q->now))
		return store__fail_bind(st, count_open, __func__);
	ret = store__count(st, count_open, &open, __func__);
	if (!ret)
		ret = read_page(st, q, open, &l);
	if (!ret)
		ret = read_list_options(st, &l);
	if (ret)
		store_poll_list_free(&l);
	else
		*out = l;
	return ret;
}

void store_poll_list_free(struct store_poll_list *l)
{
	if (!l)
		return;
	for (size_t i = 0; i < l->n; i++)
		store_poll_release(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof(*l));
}

/* The one value of ST_POLL_NEXT_CLOSING: NULL when no poll matched. */
static int read_next_closing(sqlite3_stmt *s, void *item)
{
	if (sqlite3_column_type(s, 0) == SQLITE_NULL)
		return STORE_ENOTFOUND;
	*(int64_t *)item = sqlite3_column_int64(s, 0);
	return STORE_OK;
}

int store_poll_next_closing(struct store *st, int64_t now, int64_t *at)
{
	sqlite3_stmt *s = st->stmt[ST_POLL_NEXT_CLOSING];

	if (sqlite3_bind_int64(s, 1, now))
		return store__fail_bind(st, s, __func__);
	return store__one_row(st, s, read_next_closing, at, __func__);
}

/* Binds a vote statement's ?1..?4. */
static int bind_vote(sqlite3_stmt *s, int64_t poll_id, int64_t user_id, size_t option,
		     int64_t now)
{
	return sqlite3_bind_int64(s, 1, poll_id) || sqlite3_bind_int64(s, 2, user_id) ||
	       sqlite3_bind_int64(s, 3, (int64_t)option) || sqlite3_bind_int64(s, 4, now);
}

/* UNIQUE (poll_id, user_id) makes a second vote STORE_ECONFLICT; the
 * foreign keys make a missing poll, option or user STORE_ENOTFOUND. */
int store_vote_cast(struct store *st, int64_t poll_id, int64_t user_id, size_t option,
		    int64_t now)
{
	sqlite3_stmt *s = st->stmt[ST_VOTE_INSERT];

	if (bind_vote(s, poll_id, user_id, option, now))
		return store__fail_bind(st, s, __func__);
	return store__run_write(st, s, __func__);
}

int store_vote_change(struct store *st, int64_t poll_id, int64_t user_id, size_t option,
		      int64_t now)
{
	sqlite3_stmt *s = st->stmt[ST_VOTE_UPDATE];

	if (bind_vote(s, poll_id, user_id, option, now))
		return store__fail_bind(st, s, __func__);
	return store__run_write(st, s, __func__);
}

/* Where store_vote_get's row goes. */
struct vote_dest {
	size_t *option;
	int64_t *voted_at;
};

static int read_vote(sqlite3_stmt *s, void *item)
{
	struct vote_dest *d = item;

	if (d->option)
		*d->option = (size_t)sqlite3_column_int64(s, 0);
	if (d->voted_at)
		*d->voted_at = sqlite3_column_int64(s, 1);
	return STORE_OK;
}

int store_vote_get(struct store *st, int64_t poll_id, int64_t user_id, size_t *option,
		   int64_t *voted_at)
{
	sqlite3_stmt *s = st->stmt[ST_VOTE_GET];
	struct vote_dest d = { option, voted_at };

	if (sqlite3_bind_int64(s, 1, poll_id) || sqlite3_bind_int64(s, 2, user_id))
		return store__fail_bind(st, s, __func__);
	return store__one_row(st, s, read_vote, &d, __func__);
}
