/*
 * poll_text.h - the pure side of `agora poll` and `agora vote`
 * (src/cli/poll.c, poll_follow.c): what they read from the command line
 * (poll ids, closing durations and times) and the text
 * they print (a poll's results as bars, the list of polls, a new poll, a
 * vote). Unit tests: tests/unit/test_cli_poll.c.
 *
 * Conventions:
 * - No I/O, no globals. The one outside state is the local time zone (TZ):
 *   times are shown in local time, and a --closes-at without a zone is one.
 * - Parsers return 0, or -1 with a short reason in *why (static text, to
 *   follow "agora poll create: --closes-in '9x': ").
 * - Printing appends to a struct text (base/text.h); the caller frees
 *   t->s. The json_t arguments are the API's objects (the poll of
 *   docs/api.md, "Polls"), left the caller's; a member missing or of
 *   another type prints as 0 or "-", never fails. Text that users wrote
 *   (questions, labels, names) goes through rest_safe_dup first, so no
 *   control sequence of theirs reaches the terminal.
 */
#ifndef AGORA_CLIENT_POLL_TEXT_H
#define AGORA_CLIENT_POLL_TEXT_H

#include "base/text.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POLL_TEXT_BAR_PLAIN 40 /* cells of a bar when stdout is not a terminal */
#define POLL_TEXT_BAR_MIN 10   /* on a terminal: at least this, however narrow */
#define POLL_TEXT_BAR_MAX 200  /* ... and at most this, however wide */
#define POLL_TEXT_LABEL_MAX 30 /* columns a label gets beside its bar; longer ones are cut */
#define POLL_TEXT_LABEL_MIN 8  /* what a narrow terminal leaves it at least */
/* The longest --closes-in: a year and a day. */
#define POLL_TEXT_DURATION_MAX_MS ((int64_t)366 * 24 * 3600 * 1000)
#define POLL_TEXT_ISO_MAX 32   /* "2026-12-06T08:00:00.000Z" and its NUL, with room */

/* ---- the command line ---- */

/* A poll id: decimal digits only, 1 to INT64_MAX. */
int poll_text_id(const char *s, int64_t *id);

/* A duration: one or more NUMBER UNIT, units d, h, m, s in that order, each
 * at most once ("90s", "10m", "2h", "1h30m"); above 0, at most
 * POLL_TEXT_DURATION_MAX_MS. */
int poll_text_duration(const char *s, int64_t *ms, const char **why);

/*
 * A point in time, in ms since the epoch:
 * - "YYYY-MM-DDTHH:MM[:SS[.fff]]" (a space may stand for the T) followed by
 *   "Z" or an offset "+HH:MM" / "-HHMM", or by nothing: local time;
 * - "HH:MM[:SS]": the next such local time after now_ms (today, or
 *   tomorrow when it has passed).
 * Whether it is in the future is the server's to say (its clock rules).
 */
int poll_text_time(const char *s, int64_t now_ms, int64_t *ms, const char **why);

/* ms as the API writes times: "2026-12-06T08:00:00.000Z" (UTC). */
void poll_text_iso(int64_t ms, char *out, size_t outlen);

/* ---- what is printed ---- */

/* Columns a terminal gives len bytes of UTF-8: combining marks 0, East
 * Asian wide characters and emoji 2, others 1 (a small wcwidth that needs
 * no locale). */
size_t poll_text_columns(const char *s, size_t len);

/* Rows that text (lines ended by '\n') takes on a terminal of `columns`,
 * counting the lines a long one wraps into: how far a redraw goes up. */
int poll_text_rows(const char *s, int columns);

/* One bar of `cells` columns: votes / total of it in full blocks and an
 * eighth block (U+2588, U+2589 to U+258F), padded with spaces. Any vote
 * shows at least an eighth; total 0 (or less) is an empty bar. */
void poll_text_bar(struct text *t, int64_t votes, int64_t total, int cells);

/*
 * A poll's results:
 *   #3 Été ou hiver ?
 *     1  été    ██████████████████████████▋               2   66.7%
 *     2  hiver  █████████████▍                            1   33.3%
 *   total 3 votes, open until 2026-12-06 09:00, by alice
 * columns: the terminal's width, the bars filling what the rest leaves
 * (POLL_TEXT_BAR_MIN to _MAX cells); 0 when not a terminal: bars of
 * POLL_TEXT_BAR_PLAIN cells.
 */
void poll_text_results(struct text *t, const json_t *poll, int columns);

/* The polls of `agora poll list` (a JSON array): a table ID, STATE,
 * VOTES, CLOSES (local time: when it closes, or closed), QUESTION, with
 * a header line; "no polls" when empty. */
void poll_text_list(struct text *t, const json_t *polls);

/* A poll just created: "created poll #3: QUESTION", its options numbered,
 * and when it closes if it does. */
void poll_text_created(struct text *t, const json_t *poll);

/* The answer to a vote ({"poll_id", "option": {"number", "label"}}):
 * "voted for hiver (option 2) on poll #3", or with changed, "changed your
 * vote on poll #3 to hiver (option 2)". */
void poll_text_voted(struct text *t, const json_t *vote, bool changed);

#endif
