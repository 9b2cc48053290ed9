/*
 * polls.h - the voting rules (docs/api.md, "Polls"), one implementation for every
 * way in: the REST API (src/api/polls.c), MQTT (src/server/bridge.c) and
 * the line protocol of poll_listener. Callers authenticate; this module
 * decides what a create, vote or close may do and stores it (store.h).
 *
 * The rules:
 *  - A poll has a question (1 to question_max bytes) and 2 to
 *    STORE_POLL_OPTIONS_MAX options (1 to option_max bytes each, unique
 *    without regard to ASCII case); both UTF-8 text without control
 *    characters (line breaks and tabs included) or Unicode
 *    non-characters. closes_at, when set, is in the future (> now).
 *  - A poll is open until its creator closes it or closes_at comes: it is
 *    closed when now >= closes_at (the server's clock, `now` of each
 *    call). A closed poll's results stay readable; votes on it are
 *    refused. A poll whose creator was deleted can no longer be closed
 *    by hand; its closing time still applies.
 *  - One vote per account per poll. Changing it is an explicit act
 *    (POLLS_CHANGE), refused when there is no vote to change.
 *  - An option is named by its label (ASCII case ignored) or by its number,
 *    1 for the first: a label wins over a number ("2" is the option
 *    labelled "2" if there is one). A number is digits only ("02" is 2;
 *    "+2", " 2" and "2.0" are not numbers).
 *  - Creating and voting need an existing account: an id the store does
 *    not know (0, a deleted account) gets POLLS_EFORBIDDEN.
 *  - Checks come in this order: the poll exists, it is open, the option
 *    exists, then the vote (already cast, or none to change).
 *
 * No I/O but the store; no clock (callers pass now, in ms since the epoch).
 */
#ifndef AGORA_POLLS_H
#define AGORA_POLLS_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum polls_err {
	POLLS_OK = 0,
	POLLS_EINVALID = -1,   /* a question, option or closing time refused (why says) */
	POLLS_ENOTFOUND = -2,  /* no such poll */
	POLLS_EFORBIDDEN = -3, /* closing a poll one did not create; creating or
				* voting from an account that does not exist */
	POLLS_ECLOSED = -4,    /* voting on a closed or expired poll */
	POLLS_EVOTED = -5,     /* a second vote by the same account */
	POLLS_ENOVOTE = -6,    /* no vote to change or to show */
	POLLS_EOPTION = -7,    /* no option of that label or number */
	POLLS_ESTORE = -8,     /* the store failed (logged by the caller) */
};

/* The error's code as the API and the line protocol name it:
 * "validation_failed", "not_found", "forbidden", "poll_closed",
 * "already_voted", "no_vote", "unknown_option", "internal". */
const char *polls_code(int err);
/* One clear sentence for err (without the poll's details). */
const char *polls_message(int err);

struct polls_limits {
	size_t question_max; /* bytes; default 500 */
	size_t option_max;   /* bytes of one label; default 100 */
};

void polls_limits_defaults(struct polls_limits *lim);

/* Told after every change that moves a poll's results or state (create,
 * vote, change of vote, close), with the poll's id: the MQTT bridge
 * publishes the results, the line protocol pushes them to its watchers
 * (each at most once per poll per loop turn, their business). */
typedef void (*polls_changed_fn)(void *ctx, int64_t poll_id);

#define POLLS_OBSERVERS_MAX 4

/* A vote just stored (cast or changed), for the rules' $events/vote:
 * valid during the call only. */
struct polls_vote_info {
	int64_t poll_id, user_id;
	size_t option;	   /* 0-based */
	const char *label; /* the option's */
	bool changed;	   /* a change of vote (PUT), not a first one */
};
typedef void (*polls_voted_fn)(void *ctx, const struct polls_vote_info *v);

struct polls {
	struct store *store; /* not owned */
	struct polls_limits lim;
	struct {
		polls_changed_fn fn;
		void *ctx;
	} observers[POLLS_OBSERVERS_MAX];
	size_t n_observers;
	polls_voted_fn voted; /* polls_on_vote */
	void *voted_ctx;
};

void polls_init(struct polls *ps, struct store *st, const struct polls_limits *lim);
/* Adds an observer; returns -1 when POLLS_OBSERVERS_MAX are there. */
int polls_observe(struct polls *ps, polls_changed_fn fn, void *ctx);
/* Removes it (the same fn and ctx); nothing if absent. */
void polls_unobserve(struct polls *ps, polls_changed_fn fn, void *ctx);

/* The one function told of each vote stored, after the observers (NULL:
 * none). */
void polls_on_vote(struct polls *ps, polls_voted_fn fn, void *ctx);

/* Whether p takes votes at `now`. */
bool polls_is_open(const struct store_poll *p, int64_t now);

/* The 0-based index of the option named by `option` (len bytes, a label
 * or a number from 1), or -1. */
long polls_find_option(const struct store_poll *p, const char *option, size_t len);

/* Creates a poll; on POLLS_EINVALID, why gets a sentence naming the field
 * ("options: 'hiver' appears twice"). */
int polls_create(struct polls *ps, int64_t creator_id, const char *question,
		 const char *const *options, size_t n, int64_t closes_at, int64_t now,
		 struct store_poll *out, char *why, size_t whylen);

enum polls_mode { POLLS_CAST, POLLS_CHANGE };

struct polls_ballot {
	int64_t poll_id;
	int64_t user_id;
	const char *option; /* a label or a number as text, option_len bytes; */
	size_t option_len;
	long number;        /* or, when option is NULL, the option's number (from 1) */
	enum polls_mode mode;
	int64_t now;
};

/* Casts or changes a vote. On POLLS_OK, out (may be NULL) gets the poll
 * with its counts after the vote and *chosen (may be NULL) the 0-based
 * option voted for. Refusals change nothing. The vote is stored and the
 * observers told before out is read: POLLS_ESTORE after that (reading
 * back failed) leaves the vote stored. */
int polls_vote(struct polls *ps, const struct polls_ballot *b, struct store_poll *out,
	       size_t *chosen);

/* The poll's creator closes it (again: no error, the first time stays,
 * the observers are not told again). out (may be NULL) gets the poll. */
int polls_close(struct polls *ps, int64_t user_id, int64_t poll_id, int64_t now,
		struct store_poll *out);

/* Reads a poll with its counts. */
int polls_get(struct polls *ps, int64_t poll_id, struct store_poll *out);

/* The user's vote on a poll (option 0-based; either pointer may be NULL):
 * POLLS_ENOVOTE if none, POLLS_ENOTFOUND if no such poll. */
int polls_my_vote(struct polls *ps, int64_t poll_id, int64_t user_id, size_t *option,
		  int64_t *voted_at);

#endif
