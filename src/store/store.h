/*
 * store.h - the durable data behind the REST API and the broker: user
 * accounts, their login tokens, the direct messages between them, and
 * polls with their votes.
 *
 * This header is the contract; SQLite is the only backend today
 * (src/store/sqlite_*.c, whose files and sqlite_internal.h are the only ones
 * that include sqlite3.h). PostgreSQL will be one more backend behind the
 * same functions.
 *
 * Conventions:
 *  - Every function returns 0 (STORE_OK) or a negative STORE_E* code;
 *    store_strerror names it. Output parameters are written only on success.
 *  - Times are milliseconds since the Unix epoch (UTC), passed in by the
 *    caller (the store never reads the clock: tests control time).
 *  - Strings in are NUL-terminated UTF-8, already validated by the caller
 *    (lengths, characters); the store checks nothing but uniqueness.
 *  - Records out own their strings: free them with the matching *_release
 *    or *_list_free (all accept NULL / zeroed records).
 *  - A write that returned STORE_OK is committed: it survives the process
 *    being killed right after (WAL journal; see store_open's `sync`).
 *  - Not thread-safe: one store is used from one thread.
 *  - One writer: the process that opened the store is the only one writing
 *    the file while it is open (another may read it: a backup, the sqlite3
 *    shell). store_users_version counts this store's writes only, so a
 *    cache keyed on it would not see another process's.
 */
#ifndef AGORA_STORE_H
#define AGORA_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum store_err {
	STORE_OK = 0,
	STORE_ENOTFOUND = -1, /* no such user, token or message */
	STORE_ECONFLICT = -2, /* a unique key exists (user name) */
	STORE_EIO = -3,       /* the database failed: disk, corruption, ... */
	STORE_EVERSION = -4,  /* the file's schema is newer than this program */
	STORE_EOPEN = -5,     /* the file cannot be opened or created */
};

const char *store_strerror(int err);

struct store;

/* How hard a commit is pushed to disk. NORMAL (the default) survives the
 * process being killed at any moment; FULL also survives a power loss, at
 * the price of an fsync per write. */
enum store_sync { STORE_SYNC_NORMAL, STORE_SYNC_FULL };

/*
 * Opens (creating if needed) the database at path, ":memory:" for a private
 * in-memory one (tests), and brings its schema up to date with the
 * versioned migrations. On failure returns STORE_EOPEN, STORE_EVERSION or
 * STORE_EIO, *out untouched, and a human sentence in err (path included).
 */
int store_open(const char *path, enum store_sync sync, struct store **out, char *err,
	       size_t errlen);
/* Closes it; NULL is fine. */
void store_free(struct store *st);
/* The schema version the file is at after store_open (>= 1). */
int store_schema_version(const struct store *st);

/*
 * Checkpoints (copying the WAL into the database file, with an fsync even
 * under STORE_SYNC_NORMAL) happen by default inside whichever write fills
 * the WAL: that write then takes milliseconds. After
 * store_checkpoint_elsewhere, writes never checkpoint; store_checkpoint
 * must then be called regularly, and may run on another thread (one at a
 * time) on a connection of its own while writes go on. Both return 0 or
 * STORE_EIO; for an in-memory store they do nothing.
 */
int store_checkpoint_elsewhere(struct store *st);
int store_checkpoint(struct store *st);
/* Rows changed since the store opened: a checkpoint is only worth running
 * when this moved. Not thread-safe: the store's own thread. */
uint64_t store_changes(const struct store *st);

/* ---- users ---- */

struct store_user {
	int64_t id;
	char *name;
	char *status;            /* "" until set */
	int64_t status_updated_at; /* 0 until set */
	int64_t created_at;
};

void store_user_release(struct store_user *u);

/* A number that changes with every write to the users (create, status,
 * delete) through this store, failed ones included: what was read at one
 * value is still what the store holds while the value stays. Starts at 1. */
uint64_t store_users_version(const struct store *st);

/* Creates a user; STORE_ECONFLICT if the name exists, compared without
 * regard to ASCII case ("Alice" and "alice" are one user). */
int store_user_create(struct store *st, const char *name, const char *password_hash,
		      int64_t now, struct store_user *out);
int store_user_by_id(struct store *st, int64_t id, struct store_user *out);
/* By name, ASCII case ignored. */
int store_user_by_name(struct store *st, const char *name, struct store_user *out);
/* The password hash of a user found by name (ASCII case ignored), copied
 * into hash (NUL-terminated; STORE_EIO if it does not fit in cap). */
int store_user_password(struct store *st, const char *name, int64_t *id, char *hash,
			size_t cap);
int store_user_set_status(struct store *st, int64_t id, const char *status, int64_t now);
/* Deletes the user, its tokens and every message it sent or received. */
int store_user_delete(struct store *st, int64_t id);

struct store_user_list {
	struct store_user *items;
	size_t n;
	int64_t total; /* users in all, for pagination */
};

/* Users ordered by id, after the first `offset`, at most `limit`. */
int store_user_list(struct store *st, int64_t limit, int64_t offset, struct store_user_list *out);
void store_user_list_free(struct store_user_list *l);

/* SCRAM-SHA-256 credentials of a user (RFC 7677): what MQTT 5 enhanced
 * authentication checks a proof against, never the password itself. */
#define STORE_SCRAM_SALT_LEN 16
#define STORE_SCRAM_KEY_LEN 32
struct store_scram {
	uint8_t salt[STORE_SCRAM_SALT_LEN];
	uint32_t iterations;
	uint8_t stored_key[STORE_SCRAM_KEY_LEN];
	uint8_t server_key[STORE_SCRAM_KEY_LEN];
};

int store_user_set_scram(struct store *st, int64_t id, const struct store_scram *s);
/* By name (ASCII case ignored); STORE_ENOTFOUND if no such user or it has
 * no SCRAM credentials yet. */
int store_user_scram(struct store *st, const char *name, struct store_scram *out);

/* ---- tokens (the caller stores a hash of the token, never the token) ---- */

#define STORE_TOKEN_HASH_LEN 32

int store_token_add(struct store *st, int64_t user_id, const uint8_t hash[STORE_TOKEN_HASH_LEN],
		    int64_t now);
/* The user a token hash belongs to; STORE_ENOTFOUND if none. */
int store_token_user(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN], int64_t *user_id);
int store_token_delete(struct store *st, const uint8_t hash[STORE_TOKEN_HASH_LEN]);

/* ---- messages ---- */

struct store_message {
	int64_t id;
	int64_t from_id, to_id;
	char *from_name, *to_name;
	char *content;
	int64_t created_at;
	int64_t read_at; /* 0 = unread */
};

void store_message_release(struct store_message *m);

int store_message_create(struct store *st, int64_t from_id, int64_t to_id, const char *content,
			 int64_t now, struct store_message *out);
/* A message as `viewer` sees it: STORE_ENOTFOUND unless viewer is its
 * sender or recipient and has not deleted it. */
int store_message_get(struct store *st, int64_t id, int64_t viewer, struct store_message *out);
/* Marks read (read_at = now) or unread (0); only the recipient may:
 * STORE_ENOTFOUND for anyone else. */
int store_message_set_read(struct store *st, int64_t id, int64_t recipient, bool read,
			   int64_t now);
/* Deletes it for `viewer` (sender or recipient; STORE_ENOTFOUND for anyone
 * else); the other side keeps it until they delete it too. */
int store_message_delete(struct store *st, int64_t id, int64_t viewer);

enum store_box { STORE_INBOX, STORE_SENT };

struct store_message_query {
	int64_t user_id;
	enum store_box box;
	int64_t since;     /* only created_at > since; 0 = all */
	bool unread_only;  /* inbox only */
	int64_t limit, offset;
};

struct store_message_list {
	struct store_message *items;
	size_t n;
	int64_t total; /* matching the query, before limit/offset */
};

/* Newest first (created_at, then id, descending), deleted ones left out. */
int store_message_list(struct store *st, const struct store_message_query *q,
		       struct store_message_list *out);
void store_message_list_free(struct store_message_list *l);

/* ---- polls and votes ----
 *
 * The store keeps polls and enforces what a unique key can: one vote per
 * account per poll. Every other rule (who may close, closing times, how
 * an option is named, lengths) is src/polls/'s, which calls these.
 * Polls and votes outlive their accounts: deleting a user keeps the
 * votes it cast (results never move when an account goes) and the polls
 * it created (creator_id 0, creator_name NULL: nobody can close them, a
 * closing time still applies). */

#define STORE_POLL_OPTIONS_MAX 20

struct store_poll {
	int64_t id;
	int64_t creator_id;  /* 0 once the account is deleted */
	char *creator_name;  /* NULL then */
	char *question;
	size_t n_options;
	char **options;    /* n_options labels, in their order */
	int64_t *counts;   /* n_options vote counts, same order */
	int64_t total;     /* sum of counts */
	int64_t created_at;
	int64_t closes_at; /* 0: no closing time */
	int64_t closed_at; /* 0: not closed by its creator */
};

void store_poll_release(struct store_poll *p);

/* Creates a poll with n (1..STORE_POLL_OPTIONS_MAX) options; out gets it
 * with zero counts. */
int store_poll_create(struct store *st, int64_t creator_id, const char *question,
		      const char *const *options, size_t n, int64_t closes_at, int64_t now,
		      struct store_poll *out);
/* The poll with its current counts; STORE_ENOTFOUND if none. out may be
 * NULL: only whether the poll exists. */
int store_poll_get(struct store *st, int64_t id, struct store_poll *out);
/* Sets closed_at = now if it is 0 (closing twice keeps the first time);
 * STORE_ENOTFOUND if no such poll. */
int store_poll_close(struct store *st, int64_t id, int64_t now);

struct store_poll_query {
	int64_t now;        /* open means closed_at = 0 and (closes_at = 0 or > now) */
	int64_t limit, offset;
};

struct store_poll_list {
	struct store_poll *items;
	size_t n;
	int64_t total; /* every poll, before limit/offset */
};

/* Open polls first, each group newest first (created_at, then id,
 * descending), with their counts. */
int store_poll_list(struct store *st, const struct store_poll_query *q,
		    struct store_poll_list *out);
void store_poll_list_free(struct store_poll_list *l);
/* The earliest closes_at later than now among the polls not closed by
 * hand: when the next poll closes by the clock (a timer that announces
 * it). STORE_ENOTFOUND if no poll is due to close. */
int store_poll_next_closing(struct store *st, int64_t now, int64_t *at);

/* Records user's vote for option (0-based index < the poll's n_options,
 * checked by the caller): STORE_ECONFLICT if the user has voted on that
 * poll, STORE_ENOTFOUND if the poll or the user is gone. */
int store_vote_cast(struct store *st, int64_t poll_id, int64_t user_id, size_t option,
		    int64_t now);
/* Changes an existing vote (voted_at = now); STORE_ENOTFOUND if none. */
int store_vote_change(struct store *st, int64_t poll_id, int64_t user_id, size_t option,
		      int64_t now);
/* The user's vote on the poll; STORE_ENOTFOUND if none. */
int store_vote_get(struct store *st, int64_t poll_id, int64_t user_id, size_t *option,
		   int64_t *voted_at);

/* ---- rules (issue 16, docs/rules.md) ----
 *
 * The store keeps rules as written (the SQL text and the actions' JSON
 * text) and the rows their record actions append; compiling and running
 * them is src/rules/ and the server's. Names are unique without regard to
 * ASCII case (STORE_ECONFLICT). Implemented in sqlite_rules.c.
 *
 * A rule outlives its owner's account, disabled: deleting the user sets
 * owner_id 0 and owner_name NULL and enabled false in the same write, so
 * that no rule acts (sends messages) in the name of an account that is
 * gone. Saving it again (store_rule_update) with an owner takes it over. */

struct store_rule {
	int64_t id;
	char *name;
	int64_t owner_id;   /* the admin who wrote it; 0 once that account is deleted */
	char *owner_name;   /* NULL then */
	char *sql;
	char *actions;      /* a JSON array, as stored */
	bool enabled;
	int64_t created_at, updated_at;
};

void store_rule_release(struct store_rule *r);

/* STORE_ECONFLICT if the name is taken, STORE_ENOTFOUND if owner_id is
 * no user. out may be NULL. */
int store_rule_create(struct store *st, const char *name, int64_t owner_id, const char *sql,
		      const char *actions, bool enabled, int64_t now, struct store_rule *out);
/* Replaces name, owner, sql, actions and enabled (updated_at = now):
 * STORE_ENOTFOUND if no rule id (or no user owner_id), STORE_ECONFLICT if
 * another rule has the name. out may be NULL. */
int store_rule_update(struct store *st, int64_t id, const char *name, int64_t owner_id,
		      const char *sql, const char *actions, bool enabled, int64_t now,
		      struct store_rule *out);
int store_rule_get(struct store *st, int64_t id, struct store_rule *out);
/* The rule's records stay (store_record_list still reads them). */
int store_rule_delete(struct store *st, int64_t id);

struct store_rule_list {
	struct store_rule *items;
	size_t n;
};

/* Every rule, by id (the server installs them all at start). */
int store_rule_list(struct store *st, struct store_rule_list *out);
void store_rule_list_free(struct store_rule_list *l);

/* A record action's row: data is a JSON object's text (not checked);
 * *id (may be NULL) its id, increasing with every row of every
 * collection. */
int store_record_add(struct store *st, const char *collection, int64_t rule_id, const char *data,
		     int64_t now, int64_t *id);

struct store_record {
	int64_t id;
	int64_t rule_id;
	char *data;
	int64_t created_at;
};

struct store_record_list {
	struct store_record *items;
	size_t n;
};

/* Newest first: rows of collection with id < before (0: from the newest),
 * at most limit (>= 0). */
int store_record_list(struct store *st, const char *collection, int64_t before, int64_t limit,
		      struct store_record_list *out);
void store_record_list_free(struct store_record_list *l);

#endif
